/* run TASK [--full|--incremental] [--wait] [--json]: Back Up Now. */
#include "client.h"
#include "ctl.h"
#include "fmt.h"

#include <getopt.h>
#include <string.h>
#include <unistd.h>

typedef struct run_args {
    const char *task;
    const char *type; /* "full", "incremental" or NULL (the policy decides) */
    int wait;
    int json;
    int tty; /* stdout is a terminal: draw live progress */
} run_args;

static const char *str_field(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static double num_field(const cJSON *o, const char *key, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* Returns -1 to go on, else an exit code. */
static int parse_args(run_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"full", no_argument, NULL, 'f'}, {"incremental", no_argument, NULL, 'i'},
        {"wait", no_argument, NULL, 'w'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
        case 'i':
            if (a->type)
                return ctl_usage_error("run", "--full and --incremental exclude each other");
            a->type = c == 'f' ? "full" : "incremental";
            break;
        case 'w':
            a->wait = 1;
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            ctl_print_usage(stdout, "run");
            return CTL_EXIT_OK;
        default:
            return ctl_usage_error("run", NULL);
        }
    }
    if (optind >= argc)
        return ctl_usage_error("run", "missing TASK");
    if (optind + 1 < argc)
        return ctl_usage_error("run", "unexpected argument '%s'", argv[optind + 1]);
    a->task = argv[optind];
    a->tty = isatty(STDOUT_FILENO) && !a->json;
    return -1;
}

static cJSON *build_request(const run_args *a)
{
    cJSON *req = ctl_new_request("run");
    if (!req)
        return NULL;
    int ok = cJSON_AddStringToObject(req, "task", a->task) != NULL;
    ok = ok && (a->type ? cJSON_AddStringToObject(req, "type", a->type)
                        : cJSON_AddNullToObject(req, "type")) != NULL;
    ok = ok && cJSON_AddBoolToObject(req, "wait", a->wait) != NULL;
    if (!ok) {
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

static int print_json_line(const cJSON *obj)
{
    char *text = cJSON_PrintUnformatted(obj);
    if (!text) {
        ctl_error("out of memory formatting the result");
        return -1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

/* The answer without --wait: the run was started or queued. */
static int report_accepted(const run_args *a, const cJSON *answer)
{
    double run_id = num_field(answer, "run_id", 0);
    const char *state = str_field(answer, "state");
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        int ok = o && cJSON_AddStringToObject(o, "task", a->task) &&
                 cJSON_AddNumberToObject(o, "run_id", run_id) &&
                 cJSON_AddStringToObject(o, "state", state ? state : "running");
        int rc = ok ? print_json_line(o) : -1;
        cJSON_Delete(o);
        return rc < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
    }
    if (state && strcmp(state, "queued") == 0)
        printf("queued run %.0f of %s (max_parallel_runs reached; it starts when another run "
               "ends)\n",
               run_id, a->task);
    else
        printf("started run %.0f of %s\n", run_id, a->task);
    return CTL_EXIT_OK;
}

/* One line redrawn in place: "run 12 of nightly: upload 10/20 files, 1.0 MiB/2.0 MiB, 50%". */
static void draw_progress(const run_args *a, double run_id, const cJSON *ev)
{
    char done[32], total[32];
    double fd = num_field(ev, "files_done", 0), ft = num_field(ev, "files_total", 0);
    double bd = num_field(ev, "bytes_done", 0), bt = num_field(ev, "bytes_total", 0);
    double pct = bt > 0 ? 100.0 * bd / bt : ft > 0 ? 100.0 * fd / ft : 0;
    fmt_bytes((int64_t)bd, done, sizeof done);
    fmt_bytes((int64_t)bt, total, sizeof total);
    const char *phase = str_field(ev, "phase");
    if (ft <= 0 && bt <= 0) { /* totals not known yet */
        printf("\r\033[Krun %.0f of %s: %s...", run_id, a->task, phase ? phase : "working");
        fflush(stdout);
        return;
    }
    char bar[48], extra[64];
    fmt_bar(pct / 100.0, 20, bar, sizeof bar);
    fmt_rate_eta(num_field(ev, "rate_bytes_per_s", -1), num_field(ev, "eta_s", -1), extra,
                 sizeof extra);
    printf("\r\033[Krun %.0f of %s: %s %.0f/%.0f files, %s/%s, %.0f%% %s%s", run_id, a->task,
           phase ? phase : "working", fd, ft, done, total, pct, bar, extra);
    fflush(stdout);
}

/* The finished run, with the documented keys in their documented order. */
static cJSON *result_object(const run_args *a, double run_id, const cJSON *run)
{
    static const char *const keys[] = {"task",          "run_id",      "copy",       "type",
                                       "result",        "files_total", "files_sent", "bytes_sent",
                                       "files_deleted", "duration_s",  "error",      "error_code"};
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < sizeof keys / sizeof keys[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(run, keys[i]);
        cJSON *copy = v        ? cJSON_Duplicate(v, 1)
                      : i == 0 ? cJSON_CreateString(a->task)
                      : i == 1 ? cJSON_CreateNumber(run_id)
                               : cJSON_CreateNull();
        if (!copy || !cJSON_AddItemToObject(o, keys[i], copy)) {
            cJSON_Delete(copy);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

static void print_summary(const run_args *a, double run_id, const cJSON *r)
{
    const char *result = str_field(r, "result");
    char dur[32], sent[32];
    fmt_duration(num_field(r, "duration_s", 0), dur, sizeof dur);
    fmt_bytes((int64_t)num_field(r, "bytes_sent", 0), sent, sizeof sent);
    if (result && strcmp(result, "succeeded") == 0) {
        const char *type = str_field(r, "type"), *copy = str_field(r, "copy");
        printf("run %.0f of %s succeeded in %s: %s copy %s, %.0f files, %.0f sent (%s), "
               "%.0f deleted\n",
               run_id, a->task, dur, type ? type : "?", copy ? copy : "-",
               num_field(r, "files_total", 0), num_field(r, "files_sent", 0), sent,
               num_field(r, "files_deleted", 0));
        return;
    }
    const char *error = str_field(r, "error"), *code = str_field(r, "error_code");
    fprintf(stderr, "run %.0f of %s %s after %s: %s%s%s%s\n", run_id, a->task,
            result ? result : "ended", dur, error ? error : "no error message", code ? " (" : "",
            code ? code : "", code ? ")" : "");
}

/* Read events until "finished"; returns the exit code. */
static int follow_run(const run_args *a, ctl_conn *conn, double run_id)
{
    for (;;) {
        cJSON *ev = NULL;
        ib_err err;
        /* A run takes as long as it takes: no timeout while waiting. */
        if (ctl_recv(conn, -1, &ev, &err) < 0) {
            if (a->tty)
                printf("\r\033[K");
            ctl_error("%s (while waiting for run %.0f of %s; it may still be going: "
                      "iotdb-backupctl status)",
                      err.msg, run_id, a->task);
            return CTL_EXIT_FAIL;
        }
        const char *event = str_field(ev, "event");
        if (!ctl_answer_ok(ev)) {
            ctl_print_answer_error(ev);
            cJSON_Delete(ev);
            return CTL_EXIT_FAIL;
        }
        if (event && strcmp(event, "progress") == 0 && a->tty)
            draw_progress(a, run_id, ev);
        if (event && strcmp(event, "finished") == 0) {
            const cJSON *run = cJSON_GetObjectItemCaseSensitive(ev, "run");
            const char *result = str_field(run, "result");
            int rc = result && strcmp(result, "succeeded") == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
            if (a->tty)
                printf("\r\033[K");
            if (a->json) {
                cJSON *o = result_object(a, run_id, run);
                if (!o || print_json_line(o) < 0)
                    rc = CTL_EXIT_FAIL;
                cJSON_Delete(o);
            } else {
                print_summary(a, run_id, run);
            }
            cJSON_Delete(ev);
            return rc;
        }
        cJSON_Delete(ev);
    }
}

int ctl_cmd_run(const ctl_opts *o, int argc, char **argv)
{
    run_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc >= 0)
        return rc;
    cJSON *req = build_request(&a), *answer = NULL;
    ctl_conn conn;
    ib_err err;
    ib_err_clear(&err);
    if (!req) {
        ctl_error("out of memory");
        return CTL_EXIT_FAIL;
    }
    rc = ctl_connect(&conn, o->socket_path, CTL_TIMEOUT_MS, &err);
    if (rc == 0) {
        rc = ctl_send(&conn, req, &err);
        if (rc == 0)
            rc = ctl_recv(&conn, CTL_TIMEOUT_MS, &answer, &err);
        if (rc < 0)
            ctl_close(&conn);
    }
    cJSON_Delete(req);
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return CTL_EXIT_FAIL;
    }
    if (!ctl_answer_ok(answer)) {
        ctl_print_answer_error(answer);
        rc = CTL_EXIT_FAIL;
    } else if (!a.wait) {
        rc = report_accepted(&a, answer);
    } else {
        double run_id = num_field(answer, "run_id", 0);
        const char *state = str_field(answer, "state");
        if (a.tty)
            printf("run %.0f of %s %s (Ctrl-C stops waiting, not the run)\n", run_id, a.task,
                   state && strcmp(state, "queued") == 0 ? "queued" : "started");
        rc = follow_run(&a, &conn, run_id);
    }
    cJSON_Delete(answer);
    ctl_close(&conn);
    return rc;
}
