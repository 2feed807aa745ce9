/* status [--json]: what the daemon is doing, at a glance. */
#include "client.h"
#include "ctl.h"
#include "fmt.h"
#include "ib_diag_json.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

static const char *str_field(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static double num_field(const cJSON *o, const char *key, double fallback)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : fallback;
}

/* "succeeded 2h ago", "failed 5m ago (E_SOURCE_MISSING)", or "-". */
static void last_result_cell(const cJSON *last, time_t now, char *buf, size_t n)
{
    const char *result = str_field(last, "result");
    if (!result) {
        snprintf(buf, n, "-");
        return;
    }
    time_t when;
    char age[32] = "";
    if (fmt_parse_iso(str_field(last, "end"), &when) == 0 ||
        fmt_parse_iso(str_field(last, "start"), &when) == 0) {
        char span[16];
        fmt_span((int64_t)(now - when), span, sizeof span);
        snprintf(age, sizeof age, " %s ago", span);
    }
    const char *code = str_field(last, "error_code");
    if (code && strcmp(result, "succeeded") != 0)
        snprintf(buf, n, "%s%s (%s)", result, age, code);
    else
        snprintf(buf, n, "%s%s", result, age);
}

/* "2026-11-24 02:00 (in 5h)", "manual" or "-". */
static void next_run_cell(const cJSON *task, time_t now, char *buf, size_t n)
{
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(task, "next_run_unix");
    if (!cJSON_IsNumber(next)) {
        const char *mode = str_field(task, "mode");
        snprintf(buf, n, "%s", mode && strcmp(mode, "manual") == 0 ? "manual" : "-");
        return;
    }
    time_t t = (time_t)next->valuedouble;
    char when[32], span[16];
    fmt_local_minute(t, when, sizeof when);
    if (t <= now) {
        snprintf(buf, n, "%s (due)", when);
        return;
    }
    fmt_span((int64_t)(t - now), span, sizeof span);
    snprintf(buf, n, "%s (in %s)", when, span);
}

/* Valid copies after the newest success: "3", or "-" while unknown. */
static void copies_cell(const cJSON *task, char *buf, size_t n)
{
    const cJSON *kept = cJSON_GetObjectItemCaseSensitive(task, "copies_kept");
    if (cJSON_IsNumber(kept) && kept->valuedouble >= 0 && kept->valuedouble < 1e15)
        snprintf(buf, n, "%.0f", kept->valuedouble);
    else
        snprintf(buf, n, "-");
}

/* "idle", "queued", "running [####------] 45% (upload), ETA 3m". */
static void state_cell(const cJSON *task, char *buf, size_t n)
{
    const char *state = str_field(task, "state");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(task, "running");
    if (!state || strcmp(state, "running") != 0 || !cJSON_IsObject(run)) {
        snprintf(buf, n, "%s", state ? state : "-");
        return;
    }
    double done = num_field(run, "bytes_done", 0), total = num_field(run, "bytes_total", 0);
    if (total <= 0) {
        done = num_field(run, "files_done", 0);
        total = num_field(run, "files_total", 0);
    }
    const char *phase = str_field(run, "phase");
    char extra[64];
    fmt_rate_eta(-1, num_field(run, "eta_s", -1), extra, sizeof extra);
    if (total > 0) {
        char bar[32];
        fmt_bar(done / total, 10, bar, sizeof bar);
        int w = snprintf(buf, n, "running %s %d%%%s%s%s%s", bar, (int)(100.0 * done / total),
                         phase ? " (" : "", phase ? phase : "", phase ? ")" : "", extra);
        if (w < 0 || (size_t)w >= n) /* an odd, long phase name: the cell is cut */
            buf[n - 1] = '\0';
    } else
        snprintf(buf, n, "running%s%s%s", phase ? " (" : "", phase ? phase : "", phase ? ")" : "");
}

static void print_daemon_line(const cJSON *d)
{
    if (!cJSON_IsObject(d))
        return;
    time_t started, now = time(NULL);
    char up[32] = "";
    if (fmt_parse_iso(str_field(d, "started"), &started) == 0) {
        char span[16];
        fmt_span((int64_t)(now - started), span, sizeof span);
        snprintf(up, sizeof up, ", up %s", span);
    }
    printf("iotdb-backupd %s (pid %.0f)%s: %.0f running, %.0f queued, at most %.0f at once\n",
           str_field(d, "version") ? str_field(d, "version") : "?", num_field(d, "pid", 0), up,
           num_field(d, "running", 0), num_field(d, "queued", 0),
           num_field(d, "max_parallel_runs", 0));
}

static int print_tasks(const cJSON *tasks)
{
    static const char *const head[] = {"TASK",     "MODE",   "POLICY", "LAST RESULT",
                                       "NEXT RUN", "COPIES", "STATE"};
    fmt_table t;
    fmt_table_init(&t, sizeof head / sizeof head[0]);
    int rc = fmt_table_add(&t, head);
    time_t now = time(NULL);
    const cJSON *task;
    cJSON_ArrayForEach(task, tasks)
    {
        char last[160], next[64], copies[24], state[128];
        last_result_cell(cJSON_GetObjectItemCaseSensitive(task, "last_run"), now, last,
                         sizeof last);
        next_run_cell(task, now, next, sizeof next);
        copies_cell(task, copies, sizeof copies);
        state_cell(task, state, sizeof state);
        const char *row[] = {str_field(task, "name"),
                             str_field(task, "mode"),
                             str_field(task, "policy"),
                             last,
                             next,
                             copies,
                             state};
        rc |= fmt_table_add(&t, row);
    }
    fmt_table_print(&t, stdout);
    fmt_table_free(&t);
    if (rc < 0)
        ctl_error("out of memory formatting the status");
    return rc < 0 ? -1 : 0;
}

static int print_human(const cJSON *a)
{
    const cJSON *daemon = cJSON_GetObjectItemCaseSensitive(a, "daemon");
    const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(a, "tasks");
    print_daemon_line(daemon);
    int rc = 0;
    if (cJSON_GetArraySize(tasks) == 0) {
        const char *dir = str_field(daemon, "config_dir");
        printf("no tasks configured. HINT: add task files to %s/tasks.d and run "
               "'iotdb-backupctl reload'\n",
               dir ? dir : "the configuration directory");
    } else {
        rc = print_tasks(tasks);
    }
    const cJSON *e;
    char line[4096];
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(a, "config_errors"))
    {
        if (ib_diag_json_format(e, line, sizeof line) >= 0)
            printf("config error: %s\n", line);
    }
    return rc;
}

/* {"tasks":[...], "daemon":{...}, "config_errors":[...]} from the answer. */
static int print_json(cJSON *a)
{
    static const char *const keys[] = {"tasks", "daemon", "config_errors"};
    cJSON *out = cJSON_CreateObject();
    int ok = out != NULL;
    for (size_t i = 0; ok && i < 3; i++) {
        cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(a, keys[i]);
        if (!v)
            v = i == 1 ? cJSON_CreateObject() : cJSON_CreateArray();
        ok = v && cJSON_AddItemToObject(out, keys[i], v);
    }
    char *text = ok ? cJSON_PrintUnformatted(out) : NULL;
    cJSON_Delete(out);
    if (!text) {
        ctl_error("out of memory formatting the status");
        return -1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

int ctl_cmd_status(const ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'h') {
            ctl_print_usage(stdout, "status");
            return CTL_EXIT_OK;
        } else {
            return ctl_usage_error("status", NULL);
        }
    }
    if (optind < argc)
        return ctl_usage_error("status", "unexpected argument '%s'", argv[optind]);

    cJSON *req = ctl_new_request("status"), *answer = NULL;
    ib_err err;
    ib_err_clear(&err);
    int rc = req ? ctl_request(o->socket_path, req, CTL_TIMEOUT_MS, &answer, &err)
                 : ib_err_set(&err, IB_E_NOMEM, "out of memory");
    cJSON_Delete(req);
    if (rc < 0) {
        ctl_error("%s", err.msg);
        return CTL_EXIT_FAIL;
    }
    if (!ctl_answer_ok(answer)) {
        ctl_print_answer_error(answer);
        cJSON_Delete(answer);
        return CTL_EXIT_FAIL;
    }
    rc = json ? print_json(answer) : print_human(answer);
    cJSON_Delete(answer);
    return rc < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}
