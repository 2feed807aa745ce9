/* copies, restore, verify: local commands that work without the daemon,
 * from the task file and the target alone (the state store only helps to
 * name the task directory). */
#include "ctl.h"
#include "fmt.h"
#include "ib_engine.h"
#include "ib_sched.h"
#include "ib_store.h"
#include "ib_task.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A task file with the name of its directory on the target, if known. */
typedef struct local_task {
    ib_task *task;
    char dir_name_buf[IB_TASK_NAME_MAX + 64];
    const char *dir_name; /* NULL: the engine finds "<task>_IoTDB_*" */
} local_task;

static void print_err(const ib_err *err)
{
    ctl_error("%s (%s)", err->msg, ib_code_name(err->code));
}

static void print_diags(const ib_diags *diags)
{
    char line[2048];
    for (size_t i = 0; i < diags->len; i++) {
        ib_diag_format(&diags->items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
}

/* The creation time in the store names the task directory; without a store
 * (another machine, lost state dir) the engine looks for the directory. */
static void find_dir_name(const ctl_opts *o, local_task *lt)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->state_dir, IB_STORE_FILE);
    if (access(path, F_OK) != 0)
        return;
    ib_store *st = NULL;
    ib_task_record rec;
    bool found = false;
    ib_err err;
    memset(&rec, 0, sizeof rec);
    if (ib_store_open(path, true, &st, &err) < 0 ||
        ib_store_get_task(st, lt->task->name, &rec, &found, &err) < 0) {
        fprintf(stderr, "warning: %s; looking for the task directory on the target instead\n",
                err.msg);
    } else if (found) {
        ib_engine_task_dir_name(lt->task->name, rec.created_at, lt->dir_name_buf,
                                sizeof lt->dir_name_buf);
        lt->dir_name = lt->dir_name_buf;
    }
    ib_task_record_clear(&rec);
    ib_store_close(st);
}

static int load_task(const ctl_opts *o, const char *name, local_task *lt)
{
    memset(lt, 0, sizeof *lt);
    if (!ib_task_name_valid(name)) {
        ctl_error("invalid task name '%s': use 1-64 of A-Z a-z 0-9 _ -", name);
        return -1;
    }
    char path[4096], display[128];
    snprintf(path, sizeof path, "%s/tasks.d/%s.json", o->config_dir, name);
    snprintf(display, sizeof display, "tasks.d/%s.json", name);
    if (access(path, F_OK) != 0) {
        ctl_error("no task '%s': %s does not exist. HINT: see iotdb-backupctl status, or pass "
                  "--config-dir",
                  name, path);
        return -1;
    }
    ib_diags diags;
    ib_diags_init(&diags);
    int rc = ib_task_load_file(path, display, &lt->task, &diags);
    if (rc < 0) {
        print_diags(&diags);
        ctl_error("task file %s is invalid", path);
    }
    ib_diags_free(&diags);
    if (rc < 0)
        return -1;
    ib_err err;
    if (ib_storage_kerberos_env(&lt->task->target, o->state_dir, lt->task->name, &err) != 0) {
        print_err(&err);
        ib_task_free(lt->task);
        return -1;
    }
    find_dir_name(o, lt);
    return 0;
}

/* Engine events for local commands: log lines up to max_priority on out. */
typedef struct local_events {
    FILE *out;
    int max_priority;
    int tty; /* draw progress on stderr */
} local_events;

static void on_log(void *ctx, int priority, const char *msg)
{
    local_events *le = ctx;
    if (priority > le->max_priority)
        return;
    if (le->tty)
        fputs("\r\033[K", stderr);
    const char *prefix = priority == 4 ? "warning: " : "";
    fprintf(le->out, "%s%s\n", prefix, msg);
    fflush(le->out);
}

static void on_progress(void *ctx, const ib_progress *p)
{
    local_events *le = ctx;
    if (!le->tty)
        return;
    char done[32], total[32];
    fmt_bytes(p->bytes_done, done, sizeof done);
    fmt_bytes(p->bytes_total, total, sizeof total);
    fprintf(stderr, "\r\033[K%s: %lld/%lld files, %s/%s", p->phase ? p->phase : "working",
            (long long)p->files_done, (long long)p->files_total, done, total);
    fflush(stderr);
}

static bool never_stop(void *ctx)
{
    (void)ctx;
    return false;
}

static ib_engine_events make_events(local_events *le)
{
    ib_engine_events ev = {
        .ctx = le, .log = on_log, .progress = on_progress, .should_stop = never_stop};
    return ev;
}

static void end_progress(const local_events *le)
{
    if (le->tty)
        fputs("\r\033[K", stderr);
}

/* ---- copies ------------------------------------------------------------ */

static void iso_or_null(cJSON *o, const char *key, bool have, int64_t t)
{
    char buf[64];
    if (!have) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    ib_format_local_time((time_t)t, buf, sizeof buf);
    cJSON_AddStringToObject(o, key, buf);
}

static int print_copies_json(const char *task, const ib_copy_info *c, size_t n)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(root, "copies");
    cJSON_AddStringToObject(root, "task", task);
    for (size_t i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o))
            break;
        cJSON_AddStringToObject(o, "name", c[i].name);
        if (c[i].backup_type)
            cJSON_AddStringToObject(o, "type", c[i].backup_type);
        else
            cJSON_AddNullToObject(o, "type");
        iso_or_null(o, "start", c[i].valid, c[i].start);
        iso_or_null(o, "end", c[i].valid, c[i].end);
        cJSON_AddNumberToObject(o, "files", (double)c[i].files);
        cJSON_AddNumberToObject(o, "bytes", (double)c[i].bytes);
        cJSON_AddBoolToObject(o, "valid", c[i].valid);
        if (c[i].invalid_reason)
            cJSON_AddStringToObject(o, "invalid_reason", c[i].invalid_reason);
        else
            cJSON_AddNullToObject(o, "invalid_reason");
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!text) {
        ctl_error("out of memory formatting the copies");
        return -1;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return 0;
}

static int print_copies_table(const ib_task *task, const ib_copy_info *c, size_t n)
{
    if (n == 0) {
        printf("no copies of %s on %s yet\n", task->name, task->target.target_path);
        return 0;
    }
    static const char *const head[] = {"NAME", "TYPE", "TIME", "FILES", "BYTES"};
    fmt_table t;
    fmt_table_init(&t, 5);
    int rc = fmt_table_add(&t, head);
    for (size_t i = 0; i < n; i++) {
        char when[32] = "-", files[32] = "-", bytes[32] = "-";
        struct tm tm;
        time_t start = (time_t)c[i].start;
        if (c[i].valid) {
            if (localtime_r(&start, &tm))
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
            snprintf(files, sizeof files, "%lld", (long long)c[i].files);
            fmt_bytes(c[i].bytes, bytes, sizeof bytes);
        }
        const char *type = c[i].valid ? c[i].backup_type : "invalid (no readable manifest)";
        const char *row[] = {c[i].name, type, when, files, bytes};
        rc |= fmt_table_add(&t, row);
    }
    fmt_table_print(&t, stdout);
    fmt_table_free(&t);
    return rc < 0 ? -1 : 0;
}

int ctl_cmd_copies(const ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c == 'j') {
            json = 1;
        } else if (c == 'h') {
            ctl_print_usage(stdout, "copies");
            return CTL_EXIT_OK;
        } else {
            return ctl_usage_error("copies", NULL);
        }
    }
    if (optind + 1 != argc)
        return ctl_usage_error("copies", optind >= argc ? "missing TASK" : "too many arguments");

    local_task lt;
    if (load_task(o, argv[optind], &lt) < 0)
        return CTL_EXIT_FAIL;
    ib_copy_info *copies = NULL;
    size_t n = 0;
    ib_err err;
    int rc = ib_copies_list(lt.task, lt.dir_name, &copies, &n, &err);
    if (rc < 0 && err.code == IB_E_COPY_NOT_FOUND)
        rc = 0; /* no task directory yet: simply no copies */
    if (rc < 0)
        print_err(&err);
    else
        rc = json ? print_copies_json(lt.task->name, copies, n)
                  : print_copies_table(lt.task, copies, n);
    ib_copies_free(copies, n);
    ib_task_free(lt.task);
    return rc < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

/* ---- restore ----------------------------------------------------------- */

typedef struct restore_args {
    const char *task, *copy, *to;
    const char **databases;
    size_t n_databases;
    bool force, load;
} restore_args;

static int add_database(restore_args *a, const char *db)
{
    const char **d = realloc(a->databases, (a->n_databases + 1) * sizeof *d);
    if (!d)
        return -1;
    d[a->n_databases++] = db;
    a->databases = d;
    return 0;
}

/* Returns -1 to go on, else an exit code. */
static int parse_restore(restore_args *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"copy", required_argument, NULL, 'c'},
        {"to", required_argument, NULL, 't'},
        {"database", required_argument, NULL, 'd'},
        {"force", no_argument, NULL, 'f'},
        {"load", no_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->copy = optarg;
            break;
        case 't':
            a->to = optarg;
            break;
        case 'f':
            a->force = true;
            break;
        case 'l':
            a->load = true;
            break;
        case 'd':
            if (add_database(a, optarg) < 0) {
                ctl_error("out of memory");
                return CTL_EXIT_FAIL;
            }
            break;
        case 'h':
            ctl_print_usage(stdout, "restore");
            return CTL_EXIT_OK;
        default:
            return ctl_usage_error("restore", NULL);
        }
    }
    if (optind >= argc)
        return ctl_usage_error("restore", "missing TASK");
    if (optind + 1 < argc)
        return ctl_usage_error("restore", "unexpected argument '%s'", argv[optind + 1]);
    if (!a->to)
        return ctl_usage_error("restore", "missing --to DIR");
    a->task = argv[optind];
    return -1;
}

int ctl_cmd_restore(const ctl_opts *o, int argc, char **argv)
{
    restore_args a;
    memset(&a, 0, sizeof a);
    int rc = parse_restore(&a, argc, argv);
    local_task lt;
    if (rc < 0 && load_task(o, a.task, &lt) < 0)
        rc = CTL_EXIT_FAIL;
    if (rc >= 0) {
        free(a.databases);
        return rc;
    }
    ib_restore_request req = {.task = lt.task,
                              .task_dir_name = lt.dir_name,
                              .copy = a.copy,
                              .to_dir = a.to,
                              .databases = a.databases,
                              .n_databases = a.n_databases,
                              .force = a.force,
                              .load = a.load};
    local_events le = {.out = stderr, .max_priority = 6, .tty = isatty(STDERR_FILENO)};
    ib_engine_events ev = make_events(&le);
    ib_restore_result res;
    ib_err err;
    memset(&res, 0, sizeof res);
    rc = ib_restore_run(&req, &ev, &res, &err);
    end_progress(&le);
    if (rc < 0) {
        print_err(&err);
    } else {
        char bytes[32];
        fmt_bytes(res.bytes, bytes, sizeof bytes);
        printf("restored copy %s of %s into %s: %lld files, %s, every checksum verified%s\n",
               res.copy, lt.task->name, a.to, (long long)res.files, bytes,
               a.load ? ", loaded into IoTDB" : "");
    }
    ib_task_free(lt.task);
    free(a.databases);
    return rc < 0 ? CTL_EXIT_FAIL : CTL_EXIT_OK;
}

/* ---- verify ------------------------------------------------------------ */

int ctl_cmd_verify(const ctl_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (c != 'h')
            return ctl_usage_error("verify", NULL);
        ctl_print_usage(stdout, "verify");
        return CTL_EXIT_OK;
    }
    if (optind + 1 != argc)
        return ctl_usage_error("verify", optind >= argc ? "missing TASK" : "too many arguments");

    local_task lt;
    if (load_task(o, argv[optind], &lt) < 0)
        return CTL_EXIT_FAIL;
    /* Problems (priority 3) are the result: stdout, one per line; notices
     * (5) say what was checked (the HDFS cluster's identity and NameNodes). */
    local_events le = {.out = stdout, .max_priority = 5, .tty = 0};
    ib_engine_events ev = make_events(&le);
    ib_err err;
    ib_err_clear(&err);
    int problems = ib_verify_task(lt.task, lt.dir_name, &ev, &err);
    if (problems < 0)
        print_err(&err);
    else if (problems == 0)
        printf("verify OK: %s can back up to %s\n", lt.task->name, lt.task->target.target_path);
    else
        printf("%d problem(s)\n", problems);
    ib_task_free(lt.task);
    return problems == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
