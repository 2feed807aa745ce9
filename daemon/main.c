/* iotdb-backupd: flags, start-up, signals and shutdown. The loop-thread
 * modules do the rest: scheduler.c, runs.c, control.c, reload.c. */
#include "control.h"
#include "daemon.h"
#include "ib_config.h"
#include "ib_source.h"
#include "ib_storage.h"
#include "log.h"
#include "metrics.h"
#include "msgid.h"
#include "notify.h"
#include "reload.h"
#include "runs.h"
#include "scheduler.h"
#include "status.h"
#include "worker.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The daemon's own binary, also after a package upgrade replaced the file. */
#define SELF_EXE "/proc/self/exe"

typedef struct options {
    const char *config_dir, *state_dir, *runtime_dir;
    bool check_config;
} options;

static void usage(FILE *out)
{
    fprintf(out, "Usage: iotdb-backupd [OPTION]...\n"
                 "Backup scheduler daemon for Apache IoTDB (runs in the foreground).\n\n"
                 "  --config-dir DIR   configuration (default $CONFIGURATION_DIRECTORY or "
                 "/etc/iotdb-backupd)\n"
                 "  --state-dir DIR    state store and staging (default $STATE_DIRECTORY or "
                 "/var/lib/iotdb-backupd)\n"
                 "  --runtime-dir DIR  control socket (default $RUNTIME_DIRECTORY or "
                 "/run/iotdb-backupd)\n"
                 "  --check-config     validate the configuration, print every problem, exit\n"
                 "  --foreground       accepted for compatibility (never daemonizes)\n"
                 "  --version          print the version and exit\n"
                 "  --help             print this help and exit\n");
}

/* systemd may pass several directories separated by ':'; the first is ours. */
static char *default_dir(const char *env, const char *fallback)
{
    const char *v = getenv(env);
    if (!v || !*v)
        return strdup(fallback);
    size_t n = strcspn(v, ":");
    return strndup(v, n);
}

/* 0 to go on, otherwise 1 + the exit status. */
static int parse_options(int argc, char **argv, options *o)
{
    static const struct option longopts[] = {
        {"config-dir", required_argument, NULL, 'c'},
        {"state-dir", required_argument, NULL, 's'},
        {"runtime-dir", required_argument, NULL, 'r'},
        {"check-config", no_argument, NULL, 'k'},
        {"foreground", no_argument, NULL, 'f'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            o->config_dir = optarg;
            break;
        case 's':
            o->state_dir = optarg;
            break;
        case 'r':
            o->runtime_dir = optarg;
            break;
        case 'k':
            o->check_config = true;
            break;
        case 'f':
            break;
        case 'V':
            printf("iotdb-backupd %s\n", IB_VERSION);
            return 1 + 0;
        case 'h':
            usage(stdout);
            return 1 + 0;
        default:
            fprintf(stderr, "iotdb-backupd: unknown option or missing value: %s\n",
                    argv[optind - 1]);
            usage(stderr);
            return 1 + 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "iotdb-backupd: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return 1 + 2;
    }
    return 0;
}

static int check_config(const char *config_dir)
{
    ib_diags diags;
    ib_diags_init(&diags);
    size_t n_tasks = 0;
    int rc = ib_check_config(config_dir, &diags, &n_tasks);
    ib_check_config_print(&diags, n_tasks, stdout);
    bool bad = rc != 0 || ib_diags_errors(&diags) > 0;
    ib_diags_free(&diags);
    return bad ? 1 : 0;
}

static int mkdir_p(const char *path, mode_t mode, ib_err *err)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0; /* usual under systemd, where parents may be read-only */
    char *p = strdup(path);
    if (!p)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            int e = errno;
            ib_err_errno(err, IB_E_IO, e, "cannot create directory %s", p);
            free(p);
            return -1;
        }
        *s = saved;
        if (saved == '\0')
            break;
    }
    free(p);
    return 0;
}

/* ---- shutdown ---- */

static void finish(ibd *d)
{
    if (d->closed)
        return;
    d->closed = true;
    ibd_control_close(d);
    ibd_sched_stop(d);
    ibd_watchdog_stop(d);
    ibd_metrics_stop(d);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_hup, NULL);
    uv_close((uv_handle_t *)&d->shutdown_timer, NULL);
    /* Closing the handles restored the default actions: a late SIGTERM must
     * not turn the clean exit into a death by signal. */
    signal(SIGTERM, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    ibd_log_info("stopped");
}

void ibd_on_runs_changed(ibd *d)
{
    if (d->stopping) {
        if (!d->runs)
            finish(d);
        return;
    }
    ibd_status_notify(d);
    ibd_metrics_changed(d);
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    ibd *d = t->data;
    ibd_log_warning("workers still running after %d s; killing them", d->cfg.shutdown_timeout_s);
    ibd_runs_stop(d, SIGKILL);
}

static void begin_shutdown(ibd *d, int signum)
{
    d->stopping = true;
    ibd_notify_stopping();
    ibd_log_notice("received %s; stopping (%d run(s) active, %d queued)", strsignal(signum),
                   d->n_running, d->n_queued);
    ibd_sched_stop(d);
    ibd_control_stop_listening(d);
    ibd_runs_stop(d, SIGTERM); /* queued runs are recorded as interrupted right away */
    if (d->runs) {
        uint64_t ms =
            (uint64_t)(d->cfg.shutdown_timeout_s > 0 ? d->cfg.shutdown_timeout_s : 0) * 1000u;
        uv_timer_start(&d->shutdown_timer, on_shutdown_timeout, ms, 0);
    }
    ibd_on_runs_changed(d);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
    ibd *d = h->data;
    if (++d->stop_signals == 1) {
        begin_shutdown(d, signum);
        return;
    }
    ibd_log_warning("received %s again; killing %d worker(s) now", strsignal(signum), d->n_running);
    ibd_runs_stop(d, SIGKILL);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    ibd *d = h->data;
    if (d->stopping)
        return;
    cJSON_Delete(ibd_reload(d));
}

static void start_signals(ibd *d)
{
    uv_signal_t *sigs[] = {&d->sig_term, &d->sig_int, &d->sig_hup};
    int nums[] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(d->loop, sigs[i]);
        sigs[i]->data = d;
        uv_signal_start(sigs[i], nums[i] == SIGHUP ? on_sighup : on_stop_signal, nums[i]);
    }
    uv_timer_init(d->loop, &d->shutdown_timer);
    d->shutdown_timer.data = d;
}

/* ---- start-up ---- */

static int load_configuration(ibd *d, ib_taskset *set, ib_err *err)
{
    ib_config cfg;
    memset(&cfg, 0, sizeof cfg);
    ib_diags diags;
    ib_diags_init(&diags);
    bool settings_ok = false;
    int bad = ibd_config_read(d->config_dir, &cfg, set, &diags, &settings_ok);
    ibd_log_diags(&diags);
    ibd_set_config_errors(d, &diags);
    int rc = 0;
    if (!settings_ok)
        rc = ib_err_set(err, IB_E_CONFIG, "%s/iotdb-backupd.conf is invalid; not starting",
                        d->config_dir);
    else if (bad < 0)
        rc = ib_err_set(err, IB_E_CONFIG, "cannot read %s/tasks.d; not starting", d->config_dir);
    else if (bad > 0)
        ibd_log_warning("%d task file(s) are invalid; their tasks are disabled", bad);
    if (rc == 0)
        rc = ibd_apply_settings(d, &cfg, err);
    ib_config_free(&cfg);
    ib_diags_free(&diags);
    return rc;
}

static int open_store(ibd *d, ib_err *err)
{
    char *path = ib_path_join(d->state_dir, IB_STORE_FILE);
    if (!path)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    int rc = ib_store_open(path, false, &d->store, err);
    free(path);
    if (rc != 0)
        return -1;
    int count = 0;
    if (ib_store_mark_running_interrupted(d->store, time(NULL), &count, err) != 0)
        return -1;
    if (count > 0)
        ibd_log_warning("%d run(s) were still running when the daemon last stopped; recorded "
                        "as interrupted",
                        count);
    return 0;
}

/* No run is active yet (the control socket proved no other daemon runs):
 * staging dirs are leftovers of killed workers. */
static void clean_staging(ibd *d)
{
    int removed = 0;
    ib_err err;
    ib_err_clear(&err);
    if (ib_staging_clean(d->staging_root, &removed, &err) != 0)
        ibd_log_warning("%s", err.msg);
    if (removed > 0)
        ibd_log_info("removed %d staging dir(s) left by interrupted runs", removed);
}

static int start(ibd *d, ib_err *err)
{
    ib_taskset set = {NULL, 0};
    int rc = load_configuration(d, &set, err);
    if (rc == 0 &&
        (mkdir_p(d->state_dir, 0750, err) != 0 || mkdir_p(d->runtime_dir, 0750, err) != 0 ||
         mkdir_p(d->staging_root, 0700, err) != 0))
        rc = -1;
    /* The socket first: a daemon already running must keep its runs. */
    if (rc == 0)
        rc = ibd_control_open(d, err);
    if (rc == 0)
        rc = open_store(d, err);
    if (rc == 0)
        clean_staging(d);
    if (rc == 0)
        rc = ibd_sched_start(d, &set, err);
    ib_taskset_free(&set);
    if (rc != 0)
        return -1;
    start_signals(d);
    ibd_watchdog_start(d);
    d->started_at = time(NULL);
    if (ibd_metrics_open(d, err) != 0)
        return -1;
    ibd_runs_pump(d);
    ibd_log_fields f = {.msgid = IBD_MSGID_DAEMON_STARTED};
    ibd_log(LOG_INFO, &f, "iotdb-backupd %s started: %zu task(s), config %s, state %s", IB_VERSION,
            d->n_tasks, d->config_dir, d->state_dir);
    ibd_status_line(d, d->last_status, sizeof d->last_status);
    ibd_notify_ready(d->last_status);
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void cleanup(ibd *d)
{
    if (!d->closed) { /* start-up failed half-way */
        ibd_control_close(d);
        ibd_sched_stop(d);
        uv_walk(d->loop, close_any, NULL);
    }
    uv_run(d->loop, UV_RUN_DEFAULT); /* close callbacks */
    uv_loop_close(d->loop);
    ibd_control_free(d);
    ibd_metrics_free(d);
    ibd_heap_free(&d->heap);
    for (size_t i = 0; i < d->n_tasks; i++)
        ibd_task_free(d->tasks[i]);
    free(d->tasks);
    ibd_free_config_errors(d);
    ib_store_close(d->store);
    ib_config_free(&d->cfg);
    free(d->staging_root);
    free(d->config_dir);
    free(d->state_dir);
    free(d->runtime_dir);
}

static int run_daemon(const options *o)
{
    static uv_loop_t loop;
    static ibd d; /* the daemon; global state is confined to daemon/ */
    d.loop = &loop;
    d.clock.fd = -1;
    d.exe_path = SELF_EXE;
    ibd_heap_init(&d.heap);
    d.config_dir = o->config_dir ? strdup(o->config_dir)
                                 : default_dir("CONFIGURATION_DIRECTORY", "/etc/iotdb-backupd");
    d.state_dir = o->state_dir ? strdup(o->state_dir)
                               : default_dir("STATE_DIRECTORY", "/var/lib/iotdb-backupd");
    d.runtime_dir = o->runtime_dir ? strdup(o->runtime_dir)
                                   : default_dir("RUNTIME_DIRECTORY", "/run/iotdb-backupd");
    ib_err err;
    ib_err_clear(&err);
    int status = 0;
    if (uv_loop_init(&loop) != 0) {
        ibd_log_err("cannot initialise the event loop");
        return 1;
    }
    if (!d.config_dir || !d.state_dir || !d.runtime_dir) {
        ib_err_set(&err, IB_E_NOMEM, "out of memory");
        status = 1;
    } else if (start(&d, &err) != 0) {
        status = 1;
    } else {
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    if (status != 0) {
        ibd_log_fields f = {.error_code = ib_code_name(err.code)};
        ibd_log(LOG_ERR, &f, "cannot start: %s", err.msg);
    }
    cleanup(&d);
    return status;
}

static int daemon_main(int argc, char **argv)
{
    options o = {NULL, NULL, NULL, false};
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc - 1;
    if (o.check_config) {
        char *dir = o.config_dir ? strdup(o.config_dir)
                                 : default_dir("CONFIGURATION_DIRECTORY", "/etc/iotdb-backupd");
        int status = dir ? check_config(dir) : 1;
        free(dir);
        return status;
    }
    ibd_log_init();
    signal(SIGPIPE, SIG_IGN); /* peers that vanish show up as write errors */
    /* Loading thousands of tasks allocates and frees in waves; by default
     * glibc shrinks the heap after each and grows it again, and every brk
     * costs page faults and TLB flushes: half the start-up CPU with 10,000
     * tasks. Keeping 4 MiB of slack at the top stops that. */
    mallopt(M_TOP_PAD, 4 << 20);
    return run_daemon(&o);
}

int main(int argc, char **argv)
{
    /* Before any thread exists (libuv's pool, libcurl's resolver): libcurl
     * requires it, in the daemon and in its workers. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "iotdb-backupd: cannot initialise libcurl\n");
        return 1;
    }
    int status = argc > 1 && strcmp(argv[1], IBD_WORKER_FLAG) == 0 ? ibd_worker_main(argc, argv)
                                                                   : daemon_main(argc, argv);
    curl_global_cleanup();
    return status;
}
