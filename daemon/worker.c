#include "worker.h"

#include "ib_engine.h"
#include "ib_task.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#define DEFINITION_MAX (16 * 1024 * 1024)
#define LOG_MESSAGE_MAX (16 * 1024)
#define PROGRESS_INTERVAL_NS 200000000LL

/* Set from the signal handler: stop at the engine's next safe point. */
static volatile sig_atomic_t g_stop;

typedef struct worker_args {
    const char *task;
    int64_t run_id;
    ib_backup_type type;
    int64_t created_at;
    const char *staging_root;
    const char *state_dir; /* NULL: no Kerberos credential cache */
    double bandwidth_mbps;
} worker_args;

typedef struct worker_ctx {
    bool output_broken;
    int64_t last_progress_ns;
    char last_phase[32];
} worker_ctx;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* One event line; a daemon that is gone means nobody records the result.
 * Storage notices may come from a driver's threads: the stream lock keeps
 * each line whole. */
static void emit(worker_ctx *w, cJSON *ev)
{
    char *s = ev ? cJSON_PrintUnformatted(ev) : NULL;
    cJSON_Delete(ev);
    if (!s)
        return;
    flockfile(stdout);
    if (fputs(s, stdout) == EOF || fputc('\n', stdout) == EOF || fflush(stdout) == EOF) {
        w->output_broken = true;
        g_stop = 1;
    }
    funlockfile(stdout);
    free(s);
}

/* A message cut to LOG_MESSAGE_MAX bytes: a runaway driver text must not
 * make an event line the daemon refuses. */
static void add_message(cJSON *ev, const char *msg)
{
    if (strlen(msg) > LOG_MESSAGE_MAX) {
        char *cut = strndup(msg, LOG_MESSAGE_MAX);
        cJSON_AddStringToObject(ev, "message", cut ? cut : "(message too long)");
        free(cut);
    } else {
        cJSON_AddStringToObject(ev, "message", msg);
    }
}

static void ev_log(void *ctx, int priority, const char *msg)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", "log");
    cJSON_AddNumberToObject(ev, "priority", priority);
    add_message(ev, msg);
    emit(ctx, ev);
}

/* A notable event ("pruned", "retrying") the daemon logs with its own
 * journal MESSAGE_ID. */
static void ev_notice(void *ctx, const char *kind, int priority, const char *msg)
{
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", "notice");
    cJSON_AddStringToObject(ev, "kind", kind);
    cJSON_AddNumberToObject(ev, "priority", priority);
    add_message(ev, msg);
    emit(ctx, ev);
}

static void ev_progress(void *ctx, const ib_progress *p)
{
    worker_ctx *w = ctx;
    const char *phase = p->phase ? p->phase : "";
    int64_t now = mono_ns();
    bool phase_changed = strcmp(phase, w->last_phase) != 0;
    bool done = p->files_done == p->files_total && p->bytes_done == p->bytes_total;
    if (!phase_changed && !done && now - w->last_progress_ns < PROGRESS_INTERVAL_NS)
        return; /* the engine may report often; the daemon needs a few per second */
    w->last_progress_ns = now;
    snprintf(w->last_phase, sizeof w->last_phase, "%s", phase);
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", "progress");
    cJSON_AddStringToObject(ev, "phase", phase);
    cJSON_AddNumberToObject(ev, "files_done", (double)p->files_done);
    cJSON_AddNumberToObject(ev, "files_total", (double)p->files_total);
    cJSON_AddNumberToObject(ev, "bytes_done", (double)p->bytes_done);
    cJSON_AddNumberToObject(ev, "bytes_total", (double)p->bytes_total);
    emit(w, ev);
}

static bool ev_should_stop(void *ctx)
{
    (void)ctx;
    return g_stop != 0;
}

static void emit_result(worker_ctx *w, const ib_backup_result *res, ib_backup_type type,
                        const ib_err *err)
{
    const char *result = err->code == IB_OK              ? "succeeded"
                         : err->code == IB_E_INTERRUPTED ? "interrupted"
                                                         : "failed";
    cJSON *ev = cJSON_CreateObject();
    cJSON_AddStringToObject(ev, "event", "result");
    cJSON_AddStringToObject(ev, "result", result);
    cJSON_AddStringToObject(ev, "type", ib_backup_type_name(type));
    if (res->copy[0])
        cJSON_AddStringToObject(ev, "copy", res->copy);
    else
        cJSON_AddNullToObject(ev, "copy");
    cJSON_AddNumberToObject(ev, "files_total", (double)res->files_total);
    cJSON_AddNumberToObject(ev, "files_sent", (double)res->files_sent);
    cJSON_AddNumberToObject(ev, "bytes_sent", (double)res->bytes_sent);
    cJSON_AddNumberToObject(ev, "files_deleted", (double)res->files_deleted);
    cJSON_AddNumberToObject(ev, "copies_pruned", (double)res->copies_pruned);
    cJSON_AddNumberToObject(ev, "copies_kept", (double)res->copies_kept);
    if (err->code == IB_OK) {
        cJSON_AddNullToObject(ev, "error_code");
        cJSON_AddNullToObject(ev, "error");
    } else {
        cJSON_AddStringToObject(ev, "error_code", ib_code_name(err->code));
        cJSON_AddStringToObject(ev, "error", err->msg);
    }
    emit(w, ev);
}

static int parse_int64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, worker_args *a)
{
    memset(a, 0, sizeof *a);
    a->run_id = -1;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        char *end;
        int bad = 0;
        if (strcmp(k, "--task") == 0)
            a->task = v;
        else if (strcmp(k, "--run-id") == 0)
            bad = parse_int64(v, &a->run_id);
        else if (strcmp(k, "--type") == 0)
            bad = ib_backup_type_parse(v, &a->type);
        else if (strcmp(k, "--created-at") == 0)
            bad = parse_int64(v, &a->created_at);
        else if (strcmp(k, "--staging-root") == 0)
            a->staging_root = v;
        else if (strcmp(k, "--state-dir") == 0)
            a->state_dir = v;
        else if (strcmp(k, "--bandwidth") == 0)
            a->bandwidth_mbps = strtod(v, &end), bad = (end == v || *end || a->bandwidth_mbps < 0);
        else
            bad = -1;
        if (bad) {
            fprintf(stderr, "iotdb-backupd --worker: bad argument %s %s\n", k, v);
            return -1;
        }
    }
    if (argc % 2 != 0 || !a->task || a->run_id < 0 || !a->staging_root) {
        fprintf(stderr, "iotdb-backupd --worker: usage: --worker --task NAME --run-id N "
                        "--type full|incremental --created-at UNIX --staging-root DIR "
                        "[--bandwidth MBPS] [--state-dir DIR]\n");
        return -1;
    }
    return 0;
}

/* The definition, up to DEFINITION_MAX bytes, from stdin. */
static char *read_definition(size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= DEFINITION_MAX)
                break;
            char *nb = realloc(buf, cap * 2);
            if (!nb)
                break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, stdin);
        n += got;
        if (got == 0) {
            if (ferror(stdin))
                break;
            *len = n;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a vanished daemon shows as a write error */
    signal(SIGHUP, SIG_IGN);
    /* Exec'd as /proc/self/exe: name it for ps and top. */
    prctl(PR_SET_NAME, "iotdb-backupd-w");
    /* The daemon gone (even SIGKILLed) means stop: nobody would record the run. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        g_stop = 1;
}

static ib_task *load_task(const worker_args *a, ib_err *err)
{
    size_t len = 0;
    char *text = read_definition(&len);
    if (!text) {
        ib_err_set(err, IB_E_INTERNAL, "worker: cannot read the task definition from stdin");
        return NULL;
    }
    ib_diags diags;
    ib_diags_init(&diags);
    ib_task *task = NULL;
    char display[IB_TASK_NAME_MAX + 32];
    snprintf(display, sizeof display, "tasks.d/%s.json", a->task);
    if (ib_task_parse(a->task, display, text, len, &task, &diags) != 0) {
        char line[1024] = "";
        if (diags.len > 0)
            ib_diag_format(&diags.items[0], line, sizeof line);
        ib_err_set(err, IB_E_INTERNAL, "worker: the task definition does not parse: %s", line);
        task = NULL;
    }
    ib_diags_free(&diags);
    free(text);
    return task;
}

int ibd_worker_main(int argc, char **argv)
{
    worker_args a;
    if (parse_args(argc, argv, &a) != 0)
        return 2;
    install_signals();
    worker_ctx w = {.output_broken = false};
    ib_err err;
    ib_err_clear(&err);
    ib_backup_result res;
    memset(&res, 0, sizeof res);
    res.type = a.type;
    ib_task *task = load_task(&a, &err);
    if (task && a.state_dir &&
        ib_storage_kerberos_env(&task->target, a.state_dir, task->name, &err) != 0) {
        ib_task_free(task);
        task = NULL;
    }
    if (task) {
        ib_backup_request req = {.task = task,
                                 .created_at = a.created_at,
                                 .run_id = a.run_id,
                                 .type = a.type,
                                 .staging_root = a.staging_root,
                                 .bandwidth_mbps = a.bandwidth_mbps};
        ib_engine_events ev = {.ctx = &w,
                               .log = ev_log,
                               .progress = ev_progress,
                               .should_stop = ev_should_stop,
                               .notice = ev_notice};
        if (ib_backup_run(&req, &ev, &res, &err) == 0)
            ib_err_clear(&err);
        else if (err.code == IB_OK)
            ib_err_set(&err, IB_E_INTERNAL, "the backup engine failed without a reason");
        ib_task_free(task);
    }
    emit_result(&w, &res, res.type, &err);
    return w.output_broken ? 1 : 0;
}
