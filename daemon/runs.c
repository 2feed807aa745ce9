#include "runs.h"

#include "history.h"
#include "ib_sched.h"
#include "ib_source.h"
#include "log.h"
#include "msgid.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Worker event lines are small JSON objects; a longer line is a bug. */
#define WORKER_LINE_MAX (1024 * 1024)

ibd_run *ibd_runs_find_active(const ibd *d, const char *name)
{
    for (ibd_run *r = d->runs; r; r = r->next)
        if (strcmp(r->task, name) == 0)
            return r;
    return NULL;
}

int ibd_result_parse(const char *s, ib_result *out)
{
    static const ib_result results[] = {IB_RESULT_SUCCEEDED, IB_RESULT_FAILED,
                                        IB_RESULT_INTERRUPTED};
    for (size_t i = 0; s && i < sizeof results / sizeof results[0]; i++) {
        if (strcmp(s, ib_result_name(results[i])) == 0) {
            *out = results[i];
            return 0;
        }
    }
    return -1;
}

static ibd_log_fields run_fields(const ibd_run *run)
{
    ibd_log_fields f = {.task = run->task,
                        .run_id = run->id,
                        .backup_type = ib_backup_type_name(run->type),
                        .trigger = ib_trigger_name(run->trigger)};
    return f;
}

static void refuse_running(const ibd_run *active, ib_err *err)
{
    char when[64];
    ib_format_local_time(active->accepted, when, sizeof when);
    ib_err_set(err, IB_E_TASK_RUNNING, "task \"%s\" is already %s (run %" PRId64 ", %s %s)",
               active->task, active->state == IBD_RUN_RUNNING ? "running" : "queued", active->id,
               active->state == IBD_RUN_RUNNING ? "started" : "accepted", when);
}

/* The backup type the task's policy asks for now. */
static int policy_type(ibd *d, const ibd_task *t, ib_backup_type *type, ib_err *err)
{
    ib_task_record rec;
    bool found = false;
    memset(&rec, 0, sizeof rec);
    if (ib_store_get_task(d->store, t->def->name, &rec, &found, err) != 0)
        return -1;
    int64_t since_full = found ? rec.runs_since_full : -1;
    ib_task_record_clear(&rec);
    *type = ib_task_policy_type(t->def, since_full) == 0 ? IB_BACKUP_FULL : IB_BACKUP_INCREMENTAL;
    return 0;
}

static ibd_run *run_new(ibd *d, const ibd_task *t, ib_trigger trigger, ib_backup_type type)
{
    ibd_run *run = calloc(1, sizeof *run);
    if (!run)
        return NULL;
    run->task_json = strdup(t->def->canonical_json);
    if (!run->task_json) {
        free(run);
        return NULL;
    }
    run->d = d;
    snprintf(run->task, sizeof run->task, "%s", t->def->name);
    run->created_at = t->created_at;
    run->bandwidth_mbps = t->def->target.max_bandwidth_mbps > 0 ? t->def->target.max_bandwidth_mbps
                                                                : d->cfg.max_bandwidth_mbps;
    run->trigger = trigger;
    run->type = type;
    run->done_type = type;
    run->state = IBD_RUN_QUEUED;
    run->accepted = time(NULL);
    run->accepted_ns = uv_hrtime();
    snprintf(run->phase, sizeof run->phase, "queued");
    ibd_linebuf_init(&run->lines, WORKER_LINE_MAX);
    return run;
}

static void runs_append(ibd *d, ibd_run *run)
{
    ibd_run **p = &d->runs;
    while (*p)
        p = &(*p)->next;
    *p = run;
}

int ibd_run_submit(ibd *d, ibd_task *t, ib_trigger trigger, int type_override, ibd_run **out,
                   ib_err *err)
{
    if (t->run) {
        refuse_running(t->run, err);
        return -1;
    }
    ib_backup_type type = IB_BACKUP_FULL;
    if (type_override >= 0)
        type = (ib_backup_type)type_override;
    else if (policy_type(d, t, &type, err) != 0)
        return -1;
    ibd_run *run = run_new(d, t, trigger, type);
    if (!run)
        return ib_err_set(err, IB_E_NOMEM, "out of memory accepting a run of task \"%s\"",
                          t->def->name);
    if (ib_store_run_begin(d->store, run->task, trigger, type, run->accepted, &run->id, err) != 0) {
        ibd_linebuf_free(&run->lines);
        free(run->task_json);
        free(run);
        return -1;
    }
    runs_append(d, run);
    t->run = run;
    d->n_queued++;
    ibd_log_fields f = run_fields(run);
    ibd_log(LOG_DEBUG, &f, "run %" PRId64 " of task %s accepted", run->id, run->task);
    if (out)
        *out = run;
    return 0;
}

void ibd_run_add_waiter(ibd_run *run, ibd_run_waiter *w)
{
    w->next = run->waiters;
    run->waiters = w;
}

void ibd_run_remove_waiter(ibd_run *run, ibd_run_waiter *w)
{
    for (ibd_run_waiter **p = &run->waiters; *p; p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            w->next = NULL;
            return;
        }
    }
}

static void run_free(ibd_run *run)
{
    ibd_linebuf_free(&run->lines);
    free(run->task_json);
    free(run->error_code);
    free(run->error);
    free(run);
}

static void set_outcome(ibd_run *run, ib_result result, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_outcome(ibd_run *run, ib_result result, const char *code, const char *fmt, ...)
{
    run->has_result = true;
    run->result = result;
    free(run->error_code);
    free(run->error);
    run->error_code = code ? strdup(code) : NULL;
    run->error = NULL;
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&run->error, fmt, ap) < 0)
            run->error = NULL;
        va_end(ap);
    }
}

/* A worker that ended without reporting a result. */
static void outcome_without_result(ibd_run *run)
{
    char how[64];
    if (run->term_signal)
        snprintf(how, sizeof how, "signal %d", run->term_signal);
    else
        snprintf(how, sizeof how, "status %" PRId64, run->exit_status);
    if (run->killed || run->d->stopping)
        set_outcome(run, IB_RESULT_INTERRUPTED, ib_code_name(IB_E_INTERRUPTED),
                    "the run was stopped at daemon shutdown (worker exited with %s)", how);
    else
        set_outcome(run, IB_RESULT_FAILED, ib_code_name(IB_E_INTERNAL),
                    "worker exited with %s without reporting a result", how);
}

static void record_outcome(ibd_run *run)
{
    ibd *d = run->d;
    ib_run_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = run->done_type;
    rec.result = run->result;
    rec.end = run->ended;
    rec.files_total = run->files_total_r;
    rec.files_sent = run->files_sent;
    rec.bytes_sent = run->bytes_sent;
    rec.files_deleted = run->files_deleted;
    rec.copy = run->copy[0] ? run->copy : NULL;
    rec.error_code = run->error_code;
    rec.error = run->error;
    /* Only a success pruned and counted the copies. */
    rec.has_copies_kept = run->result == IB_RESULT_SUCCEEDED && run->copies_kept >= 0;
    rec.copies_kept = run->copies_kept;
    ib_err err;
    ib_err_clear(&err);
    if (ib_store_run_finish(d->store, run->id, &rec, &err) != 0)
        ibd_log_err("cannot record the result of run %" PRId64 " of task %s: %s", run->id,
                    run->task, err.msg);
}

static void log_outcome(const ibd_run *run)
{
    ibd_log_fields f = run_fields(run);
    f.backup_type = ib_backup_type_name(run->done_type);
    f.result = ib_result_name(run->result);
    f.error_code = run->error_code;
    f.copy = run->copy[0] ? run->copy : NULL;
    f.has_counts = true;
    f.files_total = run->files_total_r;
    f.files_sent = run->files_sent;
    f.bytes_sent = run->bytes_sent;
    f.files_deleted = run->files_deleted;
    f.has_duration = true;
    f.duration_s = run->duration_s;
    if (run->result == IB_RESULT_SUCCEEDED) {
        f.msgid = IBD_MSGID_BACKUP_SUCCEEDED;
        ibd_log(LOG_INFO, &f,
                "backup of task %s succeeded: %s copy %s, %" PRId64 " file(s) sent, %" PRId64
                " byte(s), %.1f s",
                run->task, ib_backup_type_name(run->done_type), run->copy[0] ? run->copy : "-",
                run->files_sent, run->bytes_sent, run->duration_s);
        return;
    }
    f.msgid = IBD_MSGID_BACKUP_FAILED;
    ibd_log(run->result == IB_RESULT_INTERRUPTED ? LOG_WARNING : LOG_ERR, &f,
            "backup of task %s %s: %s", run->task, ib_result_name(run->result),
            run->error ? run->error : "no reason given");
}

static void runs_unlink(ibd *d, ibd_run *run)
{
    for (ibd_run **p = &d->runs; *p; p = &(*p)->next) {
        if (*p == run) {
            *p = run->next;
            break;
        }
    }
    run->next = NULL;
    ibd_task *t = ibd_find_task(d, run->task);
    if (t && t->run == run)
        t->run = NULL;
    if (run->state == IBD_RUN_RUNNING)
        d->n_running--;
    else
        d->n_queued--;
}

static void on_handle_closed(uv_handle_t *h)
{
    ibd_run *run = h->data;
    run->open_handles--;
    if (run->completed && run->open_handles == 0)
        run_free(run);
}

static void close_handle(ibd_run *run, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_handle_closed);
    (void)run;
}

static void close_handles(ibd_run *run)
{
    close_handle(run, (uv_handle_t *)&run->in);
    close_handle(run, (uv_handle_t *)&run->out);
    close_handle(run, (uv_handle_t *)&run->proc);
    close_handle(run, (uv_handle_t *)&run->progress_timer);
}

/* Remove <staging_root>/run-<id>. The worker removes its staging itself, but
 * not when it is killed or crashes, and the hard links in it keep the disk
 * space of TsFiles that IoTDB has since compacted away. Idempotent: usually
 * the worker has cleaned up and there is nothing to do. */
static void remove_staging(const ibd_run *run)
{
    char dir[4096];
    int n = snprintf(dir, sizeof dir, "%s/run-%" PRId64, run->d->staging_root, run->id);
    struct stat st;
    if (n < 0 || (size_t)n >= sizeof dir || lstat(dir, &st) != 0)
        return;
    int e = ib_staging_remove(dir);
    ibd_log_fields f = run_fields(run);
    if (e != 0)
        ibd_log(LOG_WARNING, &f, "cannot remove the staging dir %s of run %" PRId64 ": %s", dir,
                run->id, strerror(e));
    else
        ibd_log(LOG_INFO, &f, "removed the staging dir %s left by run %" PRId64, dir, run->id);
}

/* The outcome is known: record, log, tell waiters, forget the run. The run is
 * freed here or when its last handle has closed. */
static void run_complete(ibd_run *run)
{
    ibd *d = run->d;
    if (!run->has_result)
        outcome_without_result(run);
    /* The worker has exited (or never started): nobody uses the staging now. */
    remove_staging(run);
    run->duration_s = (double)(uv_hrtime() - run->accepted_ns) / 1e9;
    run->ended = time(NULL);
    record_outcome(run);
    log_outcome(run);
    ibd_task *t = ibd_find_task(d, run->task);
    if (t)
        ibd_history_record_run(t, run);
    ibd_run_waiter *w = run->waiters;
    run->waiters = NULL;
    while (w) {
        ibd_run_waiter *next = w->next;
        w->next = NULL;
        w->on_finished(w, run);
        w = next;
    }
    runs_unlink(d, run);
    run->completed = true;
    if (run->handles_inited)
        close_handles(run);
    if (run->open_handles == 0)
        run_free(run);
}

void ibd_run_cancel_queued(ibd_run *run, const char *reason)
{
    set_outcome(run, IB_RESULT_INTERRUPTED, ib_code_name(IB_E_INTERRUPTED), "%s", reason);
    run_complete(run);
}

static void maybe_complete(ibd_run *run)
{
    if (run->completed || !run->exited || !run->out_done)
        return;
    ibd *d = run->d;
    run_complete(run);
    ibd_runs_pump(d);
    ibd_on_runs_changed(d);
}

static void notify_progress(ibd_run *run)
{
    ibd_run_waiter *w = run->waiters;
    while (w) {
        ibd_run_waiter *next = w->next;
        w->on_progress(w, run);
        w = next;
    }
}

/* A whole number of a worker event; 0 when absent or outside int64_t (a
 * broken worker could send 1e300: casting that is undefined behaviour). */
static int64_t json_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -0x1p63 && v->valuedouble < 0x1p63))
        return 0; /* the negated test also refuses NaN */
    return (int64_t)v->valuedouble;
}

static const char *json_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The syslog priority of a log or notice event; info when it is none. */
static int event_priority(const cJSON *ev)
{
    int64_t prio = json_int(ev, "priority");
    return prio < LOG_EMERG || prio > LOG_DEBUG ? LOG_INFO : (int)prio;
}

static void on_worker_log(ibd_run *run, const cJSON *ev)
{
    const char *msg = json_str(ev, "message");
    ibd_log_fields f = run_fields(run);
    ibd_log(event_priority(ev), &f, "%s", msg ? msg : "");
}

/* The engine's notable events get their journal MESSAGE_ID (catalog); an
 * unknown kind is still logged, without one. */
static void on_worker_notice(ibd_run *run, const cJSON *ev)
{
    const char *kind = json_str(ev, "kind");
    const char *msg = json_str(ev, "message");
    ibd_log_fields f = run_fields(run);
    if (kind && strcmp(kind, "pruned") == 0)
        f.msgid = IBD_MSGID_PRUNED;
    else if (kind && strcmp(kind, "retrying") == 0)
        f.msgid = IBD_MSGID_RETRYING;
    ibd_log(event_priority(ev), &f, "%s", msg ? msg : "");
}

static void on_worker_progress(ibd_run *run, const cJSON *ev)
{
    const char *phase = json_str(ev, "phase");
    if (phase)
        snprintf(run->phase, sizeof run->phase, "%s", phase);
    run->files_done = json_int(ev, "files_done");
    run->files_total = json_int(ev, "files_total");
    run->bytes_done = json_int(ev, "bytes_done");
    run->bytes_total = json_int(ev, "bytes_total");
    ibd_rate_add(&run->rate, uv_hrtime(), run->bytes_done);
    notify_progress(run);
}

static void on_worker_result(ibd_run *run, const cJSON *ev)
{
    ib_result result;
    if (ibd_result_parse(json_str(ev, "result"), &result) != 0) {
        ibd_log_fields f = run_fields(run);
        ibd_log(LOG_WARNING, &f, "worker of run %" PRId64 " reported an unknown result", run->id);
        return;
    }
    ib_backup_type type;
    if (ib_backup_type_parse(json_str(ev, "type") ? json_str(ev, "type") : "", &type) == 0)
        run->done_type = type;
    const char *copy = json_str(ev, "copy");
    snprintf(run->copy, sizeof run->copy, "%s", copy ? copy : "");
    run->files_total_r = json_int(ev, "files_total");
    run->files_sent = json_int(ev, "files_sent");
    run->bytes_sent = json_int(ev, "bytes_sent");
    run->files_deleted = json_int(ev, "files_deleted");
    run->copies_kept = json_int(ev, "copies_kept");
    const char *code = json_str(ev, "error_code");
    const char *error = json_str(ev, "error");
    if (error)
        set_outcome(run, result, code, "%s", error);
    else
        set_outcome(run, result, code, NULL);
}

static bool on_worker_line(void *ctx, char *line, size_t len, bool too_long)
{
    ibd_run *run = ctx;
    ibd_log_fields f = run_fields(run);
    if (too_long) {
        ibd_log(LOG_WARNING, &f, "worker of run %" PRId64 " wrote a line over %d bytes; ignored",
                run->id, WORKER_LINE_MAX);
        return true;
    }
    cJSON *ev = cJSON_ParseWithLength(line, len);
    const char *event = ev ? json_str(ev, "event") : NULL;
    if (!event)
        ibd_log(LOG_WARNING, &f, "worker of run %" PRId64 " wrote an unexpected line: %.200s",
                run->id, line);
    else if (strcmp(event, "log") == 0)
        on_worker_log(run, ev);
    else if (strcmp(event, "notice") == 0)
        on_worker_notice(run, ev);
    else if (strcmp(event, "progress") == 0)
        on_worker_progress(run, ev);
    else if (strcmp(event, "result") == 0)
        on_worker_result(run, ev);
    else
        ibd_log(LOG_DEBUG, &f, "worker of run %" PRId64 " sent unknown event %s", run->id, event);
    cJSON_Delete(ev);
    return true;
}

static void on_worker_output(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    ibd_run *run = s->data;
    ibd_linebuf_read(&run->lines, n, buf, false, on_worker_line, run);
    if (n < 0) {
        uv_read_stop(s);
        close_handle(run, (uv_handle_t *)s);
        run->out_done = true;
        maybe_complete(run);
    }
}

static void on_worker_exit(uv_process_t *p, int64_t status, int term_signal)
{
    ibd_run *run = p->data;
    run->exited = true;
    run->exit_status = status;
    run->term_signal = term_signal;
    close_handle(run, (uv_handle_t *)p);
    maybe_complete(run);
}

typedef struct stdin_write {
    uv_write_t req;
    ibd_run *run;
} stdin_write;

static void on_stdin_written(uv_write_t *req, int status)
{
    stdin_write *w = (stdin_write *)req;
    (void)status; /* a worker that died early is reported by its exit */
    close_handle(w->run, (uv_handle_t *)&w->run->in); /* EOF ends the definition */
    free(w);
}

static int feed_definition(ibd_run *run)
{
    stdin_write *w = calloc(1, sizeof *w);
    if (!w)
        return UV_ENOMEM;
    w->run = run;
    uv_buf_t buf = uv_buf_init(run->task_json, (unsigned)strlen(run->task_json));
    int rc = uv_write(&w->req, (uv_stream_t *)&run->in, &buf, 1, on_stdin_written);
    if (rc != 0)
        free(w);
    return rc;
}

/* Tests run the daemon under valgrind, which cannot exec /proc/self/exe:
 * IB_WORKER_EXE names the binary instead (tests/integration/ibtest.py). */
static const char *worker_exe(const ibd *d)
{
    const char *exe = getenv("IB_WORKER_EXE");
    return exe && *exe ? exe : d->exe_path;
}

static int spawn_worker(ibd_run *run)
{
    ibd *d = run->d;
    char run_id[32], created[32], bandwidth[64];
    snprintf(run_id, sizeof run_id, "%" PRId64, run->id);
    snprintf(created, sizeof created, "%" PRId64, run->created_at);
    snprintf(bandwidth, sizeof bandwidth, "%.6g", run->bandwidth_mbps);
    char *args[] = {"iotdb-backupd",
                    "--worker",
                    "--task",
                    run->task,
                    "--run-id",
                    run_id,
                    "--type",
                    (char *)ib_backup_type_name(run->type),
                    "--created-at",
                    created,
                    "--staging-root",
                    d->staging_root,
                    "--bandwidth",
                    bandwidth,
                    "--state-dir",
                    d->state_dir,
                    NULL};
    uv_pipe_init(d->loop, &run->in, 0);
    uv_pipe_init(d->loop, &run->out, 0);
    uv_timer_init(d->loop, &run->progress_timer);
    run->in.data = run->out.data = run->proc.data = run->progress_timer.data = run;
    run->handles_inited = true;
    run->open_handles = 4;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_CREATE_PIPE | UV_READABLE_PIPE, .data.stream = (uv_stream_t *)&run->in},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&run->out},
        {.flags = UV_INHERIT_FD, .data.fd = 2},
    };
    uv_process_options_t opts = {.file = worker_exe(d),
                                 .args = args,
                                 .exit_cb = on_worker_exit,
                                 .stdio_count = 3,
                                 .stdio = stdio};
    int rc = uv_spawn(d->loop, &run->proc, &opts);
    run->proc.data = run;
    if (rc != 0)
        return rc;
    rc = uv_read_start((uv_stream_t *)&run->out, ibd_linebuf_alloc, on_worker_output);
    if (rc == 0)
        rc = feed_definition(run);
    if (rc != 0)
        uv_process_kill(&run->proc, SIGKILL); /* reported through its exit */
    return 0;
}

/* "1.5 GiB" */
static void human_bytes(double v, char *buf, size_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    snprintf(buf, n, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

/* The journal's progress line of a running run (progress_log_interval_s). */
static void on_progress_timer(uv_timer_t *timer)
{
    ibd_run *run = timer->data;
    if (run->state != IBD_RUN_RUNNING || run->exited)
        return;
    char done[32], total[32], rate_text[48] = "", eta_text[48] = "";
    human_bytes((double)run->bytes_done, done, sizeof done);
    human_bytes((double)run->bytes_total, total, sizeof total);
    double rate, eta;
    uint64_t now = uv_hrtime();
    if (ibd_rate_get(&run->rate, now, &rate)) {
        char r[32];
        human_bytes(rate, r, sizeof r);
        snprintf(rate_text, sizeof rate_text, ", %s/s", r);
    }
    if (ibd_rate_eta(&run->rate, now, run->bytes_done, run->bytes_total, &eta))
        snprintf(eta_text, sizeof eta_text, ", about %.0f s left", eta);
    ibd_log_fields f = run_fields(run);
    f.has_progress = true;
    f.files_done = run->files_done;
    f.files_total = run->files_total;
    f.bytes_done = run->bytes_done;
    f.bytes_total = run->bytes_total;
    ibd_log(LOG_INFO, &f,
            "backup of task %s (run %" PRId64 ") %s: %" PRId64 " of %" PRId64
            " file(s), %s of %s%s%s",
            run->task, run->id, run->phase, run->files_done, run->files_total, done, total,
            rate_text, eta_text);
}

static void run_start(ibd *d, ibd_run *run)
{
    run->state = IBD_RUN_RUNNING;
    d->n_queued--;
    d->n_running++;
    snprintf(run->phase, sizeof run->phase, "starting");
    int rc = spawn_worker(run);
    ibd_log_fields f = run_fields(run);
    if (rc != 0) {
        set_outcome(run, IB_RESULT_FAILED, ib_code_name(IB_E_INTERNAL),
                    "cannot start the worker process %s: %s", worker_exe(d), uv_strerror(rc));
        run_complete(run);
        return;
    }
    f.msgid = IBD_MSGID_BACKUP_STARTED;
    ibd_log(LOG_INFO, &f, "backup of task %s started (run %" PRId64 ", %s, trigger %s)", run->task,
            run->id, ib_backup_type_name(run->type), ib_trigger_name(run->trigger));
    int every_s = d->cfg.progress_log_interval_s;
    if (every_s > 0)
        uv_timer_start(&run->progress_timer, on_progress_timer, (uint64_t)every_s * 1000u,
                       (uint64_t)every_s * 1000u);
}

void ibd_runs_pump(ibd *d)
{
    if (d->stopping)
        return;
    ibd_run *next;
    for (ibd_run *run = d->runs; run && d->n_running < d->cfg.max_parallel_runs; run = next) {
        next = run->next;
        if (run->state == IBD_RUN_QUEUED)
            run_start(d, run);
    }
}

void ibd_runs_stop(ibd *d, int sig)
{
    ibd_run *next;
    for (ibd_run *run = d->runs; run; run = next) {
        next = run->next;
        if (run->state == IBD_RUN_QUEUED) {
            ibd_run_cancel_queued(run, "the daemon stopped before the run started");
            continue;
        }
        if (run->exited)
            continue;
        if (sig == SIGKILL)
            run->killed = true;
        uv_process_kill(&run->proc, sig);
    }
}
