#include "metrics.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ibd_metrics {
    ibd *d;
    char *path;          /* NULL: off */
    char *stale_path;    /* a former path, removed once its write in flight is done */
    const char *writing; /* the path of the write in flight (owned by the job) */
    uv_timer_t timer;    /* coalesces changes; armed only while dirty */
    uint64_t last_ms;    /* uv_now of the latest write's start */
    bool dirty, in_flight, stopping, stopped;
    char last_error[IB_ERR_MSG_MAX]; /* logged once until the writes work again */
};

/* What the file shows of one task, copied on the loop thread: the text is
 * made in the thread pool, where the daemon's state must not be read. */
typedef struct snap_task {
    char name[IB_TASK_NAME_MAX + 1];
    bool has_last_run, scheduled, running;
    ib_result result;
    int64_t last_end, bytes_sent, files_sent, last_success, copies_kept, next_due;
    double duration_s;
} snap_task;

typedef struct snapshot {
    bool up;
    int64_t started_at;
    size_t n_tasks, n_config_errors;
    int n_running, n_queued;
    snap_task *tasks;
} snapshot;

/* One write in the thread pool; owns everything it touches. */
typedef struct write_job {
    uv_work_t req;
    ibd_metrics *m;
    char *path;
    snapshot snap;
    int rc;
    ib_err err;
} write_job;

/* ---- the snapshot ---- */

static void snap_one(const ibd_task *t, snap_task *s)
{
    const ibd_history *h = &t->hist;
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", t->def->name);
    s->has_last_run = h->has_last_run;
    s->result = h->last_run.result;
    s->last_end = h->last_run.end ? h->last_run.end : h->last_run.start;
    s->bytes_sent = h->last_run.bytes_sent;
    s->files_sent = h->last_run.files_sent;
    s->duration_s = h->last_duration_s;
    s->last_success = h->last_success;
    s->copies_kept = h->copies_kept;
    s->scheduled = ibd_heap_contains(&t->node);
    s->next_due = s->scheduled ? (int64_t)t->node.due : 0;
    s->running = t->run && t->run->state == IBD_RUN_RUNNING;
}

/* 0, or -1 without memory. */
static int snap_take(const ibd *d, bool up, snapshot *s)
{
    *s = (snapshot){.up = up,
                    .started_at = d->started_at,
                    .n_tasks = d->n_tasks,
                    .n_config_errors = d->n_config_errors,
                    .n_running = d->n_running,
                    .n_queued = d->n_queued};
    s->tasks = calloc(d->n_tasks ? d->n_tasks : 1, sizeof *s->tasks);
    if (!s->tasks)
        return -1;
    for (size_t i = 0; i < d->n_tasks; i++)
        snap_one(d->tasks[i], &s->tasks[i]);
    return 0;
}

static void snap_free(snapshot *s)
{
    free(s->tasks);
    s->tasks = NULL;
}

/* ---- the text ---- */

/* The file is tens of MB with many thousand tasks: the FILE is ours alone,
 * so its lock is skipped. */
static void put(FILE *out, const char *s)
{
    fputs_unlocked(s, out);
}

void ibd_metrics_put_label_value(FILE *out, const char *s)
{
    if (!strpbrk(s, "\\\"\n")) {
        put(out, s);
        return;
    }
    for (; *s; s++) {
        if (*s == '\\')
            put(out, "\\\\");
        else if (*s == '"')
            put(out, "\\\"");
        else if (*s == '\n')
            put(out, "\\n");
        else
            fputc_unlocked(*s, out);
    }
}

static void family(FILE *out, const char *name, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

static void task_sample(FILE *out, const char *name, const snap_task *t, const char *value)
{
    put(out, name);
    put(out, "{task=\"");
    ibd_metrics_put_label_value(out, t->name);
    put(out, "\"} ");
    put(out, value);
    fputc_unlocked('\n', out);
}

static void render_daemon(const snapshot *s, FILE *out)
{
    family(out, "iotdb_backupd_up", "1 while iotdb-backupd runs; 0 when it stopped.");
    fprintf(out, "iotdb_backupd_up %d\n", s->up ? 1 : 0);
    family(out, "iotdb_backupd_build_info", "Version of iotdb-backupd (value always 1).");
    put(out, "iotdb_backupd_build_info{version=\"");
    ibd_metrics_put_label_value(out, IB_VERSION);
    put(out, "\"} 1\n");
    family(out, "iotdb_backupd_start_time_seconds",
           "When the daemon started, in seconds since the Unix epoch.");
    fprintf(out, "iotdb_backupd_start_time_seconds %" PRId64 "\n", s->started_at);
    family(out, "iotdb_backupd_tasks", "Enabled tasks (valid task files).");
    fprintf(out, "iotdb_backupd_tasks %zu\n", s->n_tasks);
    family(out, "iotdb_backupd_config_errors",
           "Errors the latest load or reload found in the configuration files.");
    fprintf(out, "iotdb_backupd_config_errors %zu\n", s->n_config_errors);
    family(out, "iotdb_backupd_runs", "Runs by state: running, or queued for a free slot.");
    fprintf(out, "iotdb_backupd_runs{state=\"running\"} %d\n", s->n_running);
    fprintf(out, "iotdb_backupd_runs{state=\"queued\"} %d\n", s->n_queued);
}

/* The results a run that ran can have: one series each, 1 for the last. */
static const ib_result RESULTS[] = {IB_RESULT_SUCCEEDED, IB_RESULT_FAILED, IB_RESULT_INTERRUPTED};

static void render_last_result(const snapshot *s, FILE *out)
{
    family(out, "iotdb_backupd_last_run_result",
           "Result of the task's last run: 1 for its result, 0 for the others.");
    for (size_t i = 0; i < s->n_tasks; i++) {
        const snap_task *t = &s->tasks[i];
        if (!t->has_last_run)
            continue;
        for (size_t k = 0; k < sizeof RESULTS / sizeof RESULTS[0]; k++) {
            put(out, "iotdb_backupd_last_run_result{task=\"");
            ibd_metrics_put_label_value(out, t->name);
            put(out, "\",result=\"");
            put(out, ib_result_name(RESULTS[k]));
            put(out, t->result == RESULTS[k] ? "\"} 1\n" : "\"} 0\n");
        }
    }
}

/* A per-task value into buf; false: the task has no such series. */
typedef bool (*value_fn)(const snap_task *t, char *buf, size_t n);

static bool v_int(int64_t v, bool present, char *buf, size_t n)
{
    if (present)
        snprintf(buf, n, "%" PRId64, v);
    return present;
}

static bool v_last_success(const snap_task *t, char *b, size_t n)
{
    return v_int(t->last_success, t->last_success > 0, b, n);
}

static bool v_last_end(const snap_task *t, char *b, size_t n)
{
    return v_int(t->last_end, t->has_last_run, b, n);
}

static bool v_duration(const snap_task *t, char *b, size_t n)
{
    if (t->has_last_run)
        snprintf(b, n, "%.3f", t->duration_s);
    return t->has_last_run;
}

static bool v_bytes_sent(const snap_task *t, char *b, size_t n)
{
    return v_int(t->bytes_sent, t->has_last_run, b, n);
}

static bool v_files_sent(const snap_task *t, char *b, size_t n)
{
    return v_int(t->files_sent, t->has_last_run, b, n);
}

static bool v_copies_kept(const snap_task *t, char *b, size_t n)
{
    return v_int(t->copies_kept, t->copies_kept >= 0, b, n);
}

static bool v_next_run(const snap_task *t, char *b, size_t n)
{
    return v_int(t->next_due, t->scheduled, b, n);
}

static bool v_running(const snap_task *t, char *b, size_t n)
{
    return v_int(t->running ? 1 : 0, true, b, n);
}

static void render_task_family(const snapshot *s, FILE *out, const char *name, const char *help,
                               value_fn value)
{
    family(out, name, help);
    char v[48];
    for (size_t i = 0; i < s->n_tasks; i++)
        if (value(&s->tasks[i], v, sizeof v))
            task_sample(out, name, &s->tasks[i], v);
}

static void render(const snapshot *s, FILE *out)
{
    render_daemon(s, out);
    render_task_family(
        s, out, "iotdb_backupd_last_success_timestamp_seconds",
        "When the task's last successful run ended, in seconds since the Unix epoch.",
        v_last_success);
    render_last_result(s, out);
    render_task_family(s, out, "iotdb_backupd_last_run_timestamp_seconds",
                       "When the task's last run ended, in seconds since the Unix epoch.",
                       v_last_end);
    render_task_family(s, out, "iotdb_backupd_last_run_duration_seconds",
                       "How long the task's last run took.", v_duration);
    render_task_family(s, out, "iotdb_backupd_last_run_bytes_sent",
                       "Bytes the task's last run sent to the target.", v_bytes_sent);
    render_task_family(s, out, "iotdb_backupd_last_run_files_sent",
                       "Files the task's last run sent to the target.", v_files_sent);
    render_task_family(s, out, "iotdb_backupd_copies_kept",
                       "Valid copies on the target after the task's last successful run.",
                       v_copies_kept);
    render_task_family(
        s, out, "iotdb_backupd_next_run_timestamp_seconds",
        "When the task's next scheduled run is due, in seconds since the Unix epoch.", v_next_run);
    render_task_family(s, out, "iotdb_backupd_running",
                       "1 while a run of the task is running, else 0.", v_running);
}

/* The text of s, malloc'd; NULL without memory. */
static char *render_text(const snapshot *s, size_t *len)
{
    char *text = NULL;
    FILE *out = open_memstream(&text, len);
    if (!out)
        return NULL;
    render(s, out);
    if (fclose(out) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

void ibd_metrics_render(const ibd *d, bool up, FILE *out)
{
    snapshot s;
    if (snap_take(d, up, &s) == 0)
        render(&s, out);
    snap_free(&s);
}

/* ---- writing ---- */

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsync the directory holding path, so the rename survives a crash. */
static int sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (!dir)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

int ibd_metrics_write_file(const char *path, const char *data, size_t len, ib_err *err)
{
    char *tmp = NULL;
    if (asprintf(&tmp, "%s.tmp", path) < 0)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? ib_err_errno(err, IB_E_IO, errno, "metrics file: cannot create %s", tmp) : 0;
    /* Readable by the node exporter's user despite the service's UMask=0027. */
    if (rc == 0 && fchmod(fd, 0644) != 0)
        rc = ib_err_errno(err, IB_E_IO, errno, "metrics file: cannot chmod %s", tmp);
    if (rc == 0 && (write_all(fd, data, len) != 0 || fsync(fd) != 0))
        rc = ib_err_errno(err, IB_E_IO, errno, "metrics file: cannot write %s", tmp);
    if (fd >= 0 && close(fd) != 0 && rc == 0)
        rc = ib_err_errno(err, IB_E_IO, errno, "metrics file: cannot write %s", tmp);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ib_err_errno(err, IB_E_IO, errno, "metrics file: cannot rename %s to %s", tmp, path);
    if (rc == 0 && sync_parent(path) != 0)
        rc = ib_err_errno(err, IB_E_IO, errno, "metrics file: cannot sync the directory of %s",
                          path);
    if (rc != 0 && fd >= 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* A file metrics_file no longer names: removed, so that the collector does
 * not serve it forever. Takes ownership of old. */
static void retire_path(ibd_metrics *m, char *old)
{
    if (m->in_flight && !m->stale_path && strcmp(old, m->writing) == 0) {
        m->stale_path = old; /* after its write */
        return;
    }
    if ((!m->path || strcmp(old, m->path) != 0) && unlink(old) != 0 && errno != ENOENT)
        ibd_log_warning("metrics file: cannot remove the former %s: %s", old, strerror(errno));
    free(old);
}

static void remove_stale(ibd_metrics *m)
{
    char *old = m->stale_path;
    m->stale_path = NULL;
    if (old)
        retire_path(m, old);
}

/* Errors are logged once, and their end too: a full disk must not flood. */
static void note_result(ibd_metrics *m, int rc, const ib_err *err)
{
    if (rc == 0) {
        if (m->last_error[0])
            ibd_log_notice("metrics file %s is written again", m->path ? m->path : "");
        m->last_error[0] = '\0';
        return;
    }
    if (strcmp(m->last_error, err->msg) == 0)
        return;
    snprintf(m->last_error, sizeof m->last_error, "%s", err->msg);
    ibd_log_fields f = {.error_code = ib_code_name(err->code)};
    ibd_log(LOG_ERR, &f, "%s; HINT: check the directory of metrics_file and its permissions",
            err->msg);
}

/* Render s and write it to path (in the thread pool, or at shutdown). */
static int render_and_write(const char *path, const snapshot *s, ib_err *err)
{
    size_t len = 0;
    char *text = render_text(s, &len);
    if (!text)
        return ib_err_set(err, IB_E_NOMEM, "metrics file: out of memory");
    int rc = ibd_metrics_write_file(path, text, len, err);
    free(text);
    return rc;
}

/* The last write at shutdown, on the loop thread: nothing else is left. */
static void write_final(ibd_metrics *m)
{
    m->stopped = true;
    remove_stale(m);
    if (!m->path)
        return;
    ib_err err;
    ib_err_clear(&err);
    snapshot s;
    int rc = snap_take(m->d, false, &s) == 0
                 ? render_and_write(m->path, &s, &err)
                 : ib_err_set(&err, IB_E_NOMEM, "metrics file: out of memory");
    snap_free(&s);
    note_result(m, rc, &err);
}

static void schedule(ibd_metrics *m);

static void do_write(uv_work_t *req)
{
    write_job *j = (write_job *)req;
    ib_err_clear(&j->err);
    j->rc = render_and_write(j->path, &j->snap, &j->err);
}

static void after_write(uv_work_t *req, int status)
{
    write_job *j = (write_job *)req;
    ibd_metrics *m = j->m;
    m->in_flight = false;
    m->writing = NULL;
    if (status == 0)
        note_result(m, j->rc, &j->err);
    free(j->path);
    snap_free(&j->snap);
    free(j);
    if (m->stopping) {
        write_final(m);
        return;
    }
    remove_stale(m);
    if (m->dirty)
        schedule(m);
}

static void start_write(ibd_metrics *m)
{
    m->dirty = false;
    if (!m->path)
        return;
    write_job *j = calloc(1, sizeof *j);
    if (j)
        j->path = strdup(m->path);
    if (!j || !j->path || snap_take(m->d, true, &j->snap) != 0) {
        if (j) {
            free(j->path);
            snap_free(&j->snap);
            free(j);
        }
        ib_err err;
        ib_err_set(&err, IB_E_NOMEM, "metrics file: out of memory");
        note_result(m, -1, &err);
        return;
    }
    j->m = m;
    m->last_ms = uv_now(m->d->loop);
    m->in_flight = true;
    m->writing = j->path;
    int rc = uv_queue_work(m->d->loop, &j->req, do_write, after_write);
    if (rc != 0) {
        m->in_flight = false;
        m->writing = NULL;
        free(j->path);
        snap_free(&j->snap);
        free(j);
        ibd_log_err("metrics file: cannot queue the write: %s", uv_strerror(rc));
    }
}

static void on_timer(uv_timer_t *t)
{
    ibd_metrics *m = t->data;
    if (m->in_flight || m->stopping)
        return; /* after_write schedules again */
    start_write(m);
}

static void schedule(ibd_metrics *m)
{
    if (m->in_flight || uv_is_active((uv_handle_t *)&m->timer))
        return;
    uint64_t now = uv_now(m->d->loop);
    uint64_t next = m->last_ms ? m->last_ms + IBD_METRICS_MIN_INTERVAL_MS : 0;
    uv_timer_start(&m->timer, on_timer, next > now ? next - now : 0, 0);
}

/* ---- life cycle ---- */

int ibd_metrics_open(ibd *d, ib_err *err)
{
    ibd_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    m->d = d;
    uv_timer_init(d->loop, &m->timer);
    m->timer.data = m;
    d->metrics = m;
    ibd_metrics_configure(d);
    return 0;
}

void ibd_metrics_configure(ibd *d)
{
    ibd_metrics *m = d->metrics;
    if (!m || m->stopping)
        return;
    const char *want = d->cfg.metrics_file;
    if (m->path && want && strcmp(m->path, want) == 0)
        return;
    char *old = m->path;
    m->path = NULL;
    if (want && !(m->path = strdup(want)))
        ibd_log_err("metrics file: out of memory");
    if (old)
        retire_path(m, old);
    if (m->path)
        ibd_log_info("writing metrics to %s", m->path);
    ibd_metrics_changed(d);
}

void ibd_metrics_changed(ibd *d)
{
    ibd_metrics *m = d->metrics;
    if (!m || m->stopping || !m->path)
        return;
    m->dirty = true;
    schedule(m);
}

void ibd_metrics_stop(ibd *d)
{
    ibd_metrics *m = d->metrics;
    if (!m || m->stopping)
        return;
    m->stopping = true;
    uv_close((uv_handle_t *)&m->timer, NULL);
    if (!m->in_flight)
        write_final(m);
}

void ibd_metrics_free(ibd *d)
{
    ibd_metrics *m = d->metrics;
    if (!m)
        return;
    free(m->path);
    free(m->stale_path);
    free(m);
    d->metrics = NULL;
}
