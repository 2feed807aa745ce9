/* The backup engine: one run of a task.
 *
 *   databases -> flush -> staging snapshot -> target task dir -> previous copy
 *   -> clean the live dir -> send -> verify -> MANIFEST.json -> freeze -> prune
 *
 * Never lose data: files are written under a temporary name and renamed by
 * the storage driver; the copy is frozen as a snapshot only after every file
 * has been checked on the target and MANIFEST.json written last. A failed or
 * interrupted run leaves the existing snapshots alone; the next run repairs
 * the live task directory. */
#include "ib_crc32c.h"
#include "ib_engine.h"
#include "ib_iotdb_rest.h"
#include "ib_manifest.h"
#include "ib_source.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One per sending thread: small, so memory stays flat with parallel sends. */
#define CHUNK_SIZE ((size_t)256 << 10)
#define PROGRESS_INTERVAL_S 1.0
#define DEFAULT_PARALLEL_UPLOADS 4
/* What one sender takes at a time from one directory (see take_batch). */
#define BATCH_FILES 64
#define BATCH_BYTES ((int64_t)32 << 20)

void ib_engine_logf(const ib_engine_events *ev, int priority, const char *fmt, ...)
{
    if (!ev || !ev->log)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ev->log(ev->ctx, priority, msg);
}

void ib_engine_task_dir_name(const char *task, int64_t created_at, char *buf, size_t n)
{
    time_t t = (time_t)created_at;
    struct tm tm;
    char stamp[32] = "00000000000000";
    if (localtime_r(&t, &tm))
        strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    snprintf(buf, n, "%s_IoTDB_%s", task, stamp);
}

/* State of one run; owned resources are released by run_cleanup.
 *
 * Files are sent by several threads (see send_files). What they share, the
 * counters of prog and res, the new manifest, the directory ranges and the
 * first failure, is under lock; so is every call of an event callback, which the
 * callers wrote for one caller at a time. The lock is never held while
 * calling the storage driver, which calls back into the run (read,
 * notice). */
typedef struct run {
    const ib_backup_request *req;
    const ib_task *task;
    const ib_engine_events *ev;
    ib_backup_result *res;
    time_t start;
    char **selected;
    size_t n_selected;
    ib_snapshot *snap;
    ib_storage_info *live; /* per snapshot file: it in the live dir, as cleaning found it */
    ib_storage *st;
    char *task_dir;
    bool have_prev;
    char prev_name[96];
    ib_manifest prev;
    ib_manifest next;
    bool explicit_full; /* full asked for, not a fallback */
    int layout_version; /* the snapshot's, kept when it is released */
    pthread_mutex_t lock;
    ib_progress prog;
    double last_progress;
    struct dir_range *dirs; /* the snapshot's files, in runs of one directory */
    size_t n_dirs;
    size_t first_dir;    /* every range before it is taken */
    pthread_t discarder; /* removes the staging tree */
    bool discarding;     /* discarder started, to be joined */
    bool send_failed;    /* a sender failed: the others stop */
    ib_err send_err;     /* its error, the one reported */
} run;

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Caller holds r->lock. */
static void progress_locked(run *r, const char *phase, bool force)
{
    if (!r->ev || !r->ev->progress)
        return;
    double t = now_monotonic();
    bool changed = !r->prog.phase || strcmp(phase, r->prog.phase) != 0;
    if (!force && !changed && t - r->last_progress < PROGRESS_INTERVAL_S)
        return;
    r->prog.phase = phase;
    r->last_progress = t;
    r->ev->progress(r->ev->ctx, &r->prog);
}

static void progress(run *r, const char *phase, bool force)
{
    pthread_mutex_lock(&r->lock);
    progress_locked(r, phase, force);
    pthread_mutex_unlock(&r->lock);
}

/* Count bytes (negative: take them back) and files done, and report. */
static void progress_add(run *r, int64_t bytes, int64_t files)
{
    pthread_mutex_lock(&r->lock);
    r->prog.bytes_done += bytes;
    r->prog.files_done += files;
    progress_locked(r, "upload", false);
    pthread_mutex_unlock(&r->lock);
}

/* Asked to stop, or (while sending) another sender failed. */
static bool stop_requested(run *r)
{
    pthread_mutex_lock(&r->lock);
    bool stop = r->send_failed || (r->ev && r->ev->should_stop && r->ev->should_stop(r->ev->ctx));
    pthread_mutex_unlock(&r->lock);
    return stop;
}

static int interrupted(ib_err *err)
{
    return ib_err_set(err, IB_E_INTERRUPTED,
                      "run stopped before it finished: no new copy was made and the earlier "
                      "copies are intact; the next run completes the task directory");
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char *task_path(const run *r, const char *rel)
{
    return ib_path_join(r->task_dir, rel);
}

/* ---- databases, flush, staging snapshot ---- */

static ib_source_events source_events(const run *r)
{
    ib_source_events sev = {0};
    if (r->ev) {
        sev.ctx = r->ev->ctx;
        sev.log = r->ev->log;
        sev.should_stop = r->ev->should_stop;
    }
    return sev;
}

/* With REST: SHOW DATABASES resolves the patterns and FLUSH seals working
 * files. A failing flush fails the run: the operator configured REST to get
 * recent data into the copy, and a copy silently missing it is worse than a
 * failed run that is reported. */
static int select_with_rest(run *r, ib_err *err)
{
    ib_rest *rest = NULL;
    if (ib_rest_new(r->task->source.rest, &rest, err) != 0)
        return -1;
    char **avail = NULL;
    size_t n_avail = 0;
    ib_source_events sev = source_events(r);
    int rc = ib_rest_show_databases(rest, &avail, &n_avail, err);
    if (rc == 0)
        rc = ib_source_select(&r->task->source, (const char *const *)avail, n_avail, &sev,
                              &r->selected, &r->n_selected, err);
    if (rc == 0 && r->n_selected > 0) {
        progress(r, "flush", true);
        rc = ib_rest_flush(rest, (const char *const *)r->selected, r->n_selected, err);
        if (rc != 0)
            ib_err_prefix(err, "flush before the snapshot failed, so working files would be "
                               "missing from the copy");
    }
    if (avail)
        ib_strv_free(avail, n_avail);
    ib_rest_free(rest);
    return rc;
}

static int select_local(run *r, ib_err *err)
{
    ib_engine_logf(r->ev, 6,
                   "no REST API configured: only sealed TsFiles are backed up; working files "
                   "are not flushed");
    char **avail = NULL;
    size_t n_avail = 0;
    ib_source_events sev = source_events(r);
    if (ib_source_list_databases(&r->task->source, &avail, &n_avail, err) != 0)
        return -1;
    int rc = ib_source_select(&r->task->source, (const char *const *)avail, n_avail, &sev,
                              &r->selected, &r->n_selected, err);
    free_strv(avail, n_avail);
    return rc;
}

static int take_snapshot(run *r, ib_err *err)
{
    int rc = r->task->source.rest ? select_with_rest(r, err) : select_local(r, err);
    if (rc != 0)
        return -1;
    progress(r, "snapshot", true);
    char name[64];
    snprintf(name, sizeof name, "run-%lld", (long long)r->req->run_id);
    ib_source_events sev = source_events(r);
    if (ib_snapshot_take(&r->task->source, (const char *const *)r->selected, r->n_selected,
                         r->req->staging_root, name, &sev, &r->snap, err) != 0)
        return -1;
    size_t n = r->snap->n_files;
    for (size_t i = 0; i < n; i++)
        r->prog.bytes_total += r->snap->files[i].size;
    r->prog.files_total = (int64_t)n;
    r->res->files_total = (int64_t)n;
    return 0;
}

static int rel_cmp(const void *key, const void *file)
{
    return strcmp(key, ((const ib_source_file *)file)->rel);
}

/* Position of rel in the snapshot's files (sorted by rel), or -1 when the
 * snapshot does not hold it. */
static ptrdiff_t snapshot_index(const run *r, const char *rel)
{
    if (r->snap->n_files == 0)
        return -1;
    const ib_source_file *hit =
        bsearch(rel, r->snap->files, r->snap->n_files, sizeof *r->snap->files, rel_cmp);
    return hit ? hit - r->snap->files : -1;
}

/* ---- target and previous copy ---- */

static void engine_notice(const ib_engine_events *ev, const char *kind, int priority,
                          const char *msg)
{
    if (ev && ev->notice)
        ev->notice(ev->ctx, kind, priority, msg);
    else if (ev && ev->log)
        ev->log(ev->ctx, priority, msg);
}

/* The driver's retries and failovers, as "retrying" notices of the run;
 * they come from whichever thread is sending. */
static void storage_notice(void *ctx, const char *kind, const char *msg)
{
    run *r = ctx;
    char line[IB_ERR_MSG_MAX + IB_TASK_NAME_MAX + 16];
    snprintf(line, sizeof line, "task %s: %s", r->task->name, msg);
    pthread_mutex_lock(&r->lock);
    engine_notice(r->ev, kind, 4, line);
    pthread_mutex_unlock(&r->lock);
}

static int open_target(run *r, ib_err *err)
{
    double bw =
        r->req->bandwidth_mbps > 0 ? r->req->bandwidth_mbps : r->task->target.max_bandwidth_mbps;
    if (ib_storage_open(&r->task->target, bw, &r->st, err) != 0)
        return -1;
    r->st->notice = storage_notice;
    r->st->notice_ctx = r;
    char name[IB_TASK_NAME_MAX + 64];
    ib_engine_task_dir_name(r->task->name, r->req->created_at, name, sizeof name);
    r->task_dir = ib_path_join(r->task->target.target_path, name);
    if (!r->task_dir)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    if (r->st->drv->mkdirs(r->st, r->task_dir, err) != 0)
        return ib_err_prefix(err, "creating the task directory");
    if (r->st->drv->snapshot_prepare(r->st, r->task_dir, err) != 0) {
        if (strstr(err->msg, "HINT:")) { /* the driver named the command already */
            err->code = IB_E_TARGET_SNAPSHOT;
            return ib_err_prefix(err, "making the task directory snapshottable");
        }
        char cause[IB_ERR_MSG_MAX];
        snprintf(cause, sizeof cause, "%s", err->msg);
        return ib_err_set(err, IB_E_TARGET_SNAPSHOT,
                          "%s: snapshots cannot be made: %s; HINT: on HDFS an administrator "
                          "runs 'hdfs dfsadmin -allowSnapshot %s'",
                          r->task_dir, cause, r->task_dir);
    }
    return 0;
}

/* The previous copy: the newest snapshot whose manifest parses. */
static int load_previous(run *r, ib_err *err)
{
    ib_copy_info *copies = NULL;
    size_t n = 0;
    if (ib_copies_read(r->st, r->task_dir, &copies, &n, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = n; i-- > 0;) {
        if (!copies[i].valid) {
            ib_engine_logf(r->ev, 4, "copy %s has no valid %s: not used as the previous copy",
                           copies[i].name, IB_MANIFEST_NAME);
            continue;
        }
        ib_manifest_free(&r->prev);
        if (ib_copy_read_manifest(r->st, r->task_dir, copies[i].name, &r->prev, err) != 0) {
            /* It parsed a moment ago; only a failing target gets here. */
            rc = -1;
            break;
        }
        snprintf(r->prev_name, sizeof r->prev_name, "%s", copies[i].name);
        r->have_prev = true;
        break;
    }
    ib_copies_free(copies, n);
    return rc;
}

static void decide_type(run *r)
{
    ib_backup_type want = r->req->type;
    r->explicit_full = want == IB_BACKUP_FULL;
    if (want == IB_BACKUP_INCREMENTAL && !r->have_prev) {
        r->res->type = IB_BACKUP_FULL;
        ib_engine_logf(r->ev, 6,
                       "task %s: starting a full backup (run %lld): incremental requested but "
                       "there is no valid previous copy in %s",
                       r->task->name, (long long)r->req->run_id, r->task_dir);
        return;
    }
    r->res->type = want;
    if (want == IB_BACKUP_FULL)
        ib_engine_logf(r->ev, 6, "task %s: starting a full backup (run %lld), %zu files",
                       r->task->name, (long long)r->req->run_id, r->snap->n_files);
    else
        ib_engine_logf(r->ev, 6,
                       "task %s: starting an incremental backup (run %lld) against copy %s, "
                       "%zu files",
                       r->task->name, (long long)r->req->run_id, r->prev_name, r->snap->n_files);
}

/* ---- cleaning the live directory ---- */

static bool has_suffix(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* Data subtrees of the live dir: sequence/, unsequence/ (one data dir) and
 * <k>/ (several). MANIFEST.json and .snapshot are never touched here. */
static bool is_data_root(const char *name)
{
    if (strcmp(name, "sequence") == 0 || strcmp(name, "unsequence") == 0)
        return true;
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

static int clean_dir(run *r, const char *rel, bool *emptied, ib_err *err);

static int clean_entry(run *r, const char *rel, const ib_storage_entry *e, bool *kept, ib_err *err)
{
    char *path = task_path(r, rel);
    if (!path)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    int rc = 0;
    /* A file the snapshot holds stays, for its sender to check. */
    ptrdiff_t at =
        e->is_dir || has_suffix(rel, IB_STORAGE_TEMP_SUFFIX) ? -1 : snapshot_index(r, rel);
    *kept = true;
    if (e->is_dir) {
        bool emptied = false;
        rc = clean_dir(r, rel, &emptied, err);
        if (rc == 0 && emptied) {
            rc = r->st->drv->remove(r->st, path, false, err);
            *kept = false;
        }
    } else if (at >= 0) {
        r->live[at] = (ib_storage_info){
            .exists = true, .is_dir = false, .size = e->size, .mtime_ms = e->mtime_ms};
    } else {
        bool temp = has_suffix(rel, IB_STORAGE_TEMP_SUFFIX);
        rc = r->st->drv->remove(r->st, path, false, err);
        if (rc == 0) {
            *kept = false;
            if (!temp)
                r->res->files_deleted++;
            ib_engine_logf(r->ev, 7, "removed %s from the task directory (%s)", rel,
                           temp ? "leftover of an interrupted write" : "gone from the source");
        }
    }
    free(path);
    return rc;
}

/* Remove what the new snapshot does not hold; *emptied when nothing is left. */
static int clean_dir(run *r, const char *rel, bool *emptied, ib_err *err)
{
    char *path = task_path(r, rel);
    if (!path)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    ib_storage_entry *ents = NULL;
    size_t n = 0;
    int rc = r->st->drv->list(r->st, path, &ents, &n, err);
    free(path);
    if (rc != 0)
        return -1;
    size_t kept_count = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (stop_requested(r)) {
            rc = interrupted(err);
            break;
        }
        char *child = ib_path_join(rel, ents[i].name);
        if (!child) {
            rc = ib_err_set(err, IB_E_NOMEM, "out of memory");
            break;
        }
        bool kept = true;
        rc = clean_entry(r, child, &ents[i], &kept, err);
        kept_count += kept;
        free(child);
    }
    ib_storage_entries_free(ents, n);
    *emptied = rc == 0 && kept_count == 0;
    return rc;
}

/* Empty the live dir of what the new snapshot does not hold, and note in
 * r->live what it keeps, so that planning needs no stat per file (on a
 * remote target, a round trip each). */
static int clean_live(run *r, ib_err *err)
{
    r->live = calloc(r->snap->n_files ? r->snap->n_files : 1, sizeof *r->live);
    if (!r->live)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    ib_storage_entry *ents = NULL;
    size_t n = 0;
    if (r->st->drv->list(r->st, r->task_dir, &ents, &n, err) != 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ib_storage_entry *e = &ents[i];
        bool kept;
        if (is_data_root(e->name))
            rc = clean_entry(r, e->name, e, &kept, err);
        else if (!e->is_dir && strcmp(e->name, IB_MANIFEST_NAME IB_STORAGE_TEMP_SUFFIX) == 0)
            rc = clean_entry(r, e->name, e, &kept, err);
    }
    ib_storage_entries_free(ents, n);
    return rc;
}

/* ---- reading and checksumming ---- */

static int open_staged(const ib_source_file *f, ib_err *err)
{
    /* O_NONBLOCK: a FIFO in the data dir must fail here, not hang the run. */
    int fd = open(f->staged, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return ib_err_errno(err, IB_E_SOURCE_READ, errno, "%s (staged as %s): cannot open", f->rel,
                            f->staged);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ib_err_set(err, IB_E_SOURCE_READ,
                          "%s (staged as %s): not a regular file; HINT: remove what is not a "
                          "data file from the IoTDB data directory",
                          f->rel, f->staged);
    }
    return fd;
}

/* One sending thread's own state. */
typedef struct sender {
    run *r;
    pthread_t thread;
    char *buf;           /* CHUNK_SIZE, for checksumming staged files */
    char made_dir[4096]; /* the last parent directory made on the target */
} sender;

/* Streams a staged file into an upload, computing CRC32C on the way. */
typedef struct staged_reader {
    run *r;
    const ib_source_file *f;
    int fd;
    uint32_t crc;
    int64_t done;
} staged_reader;

static ssize_t staged_read(void *ctx, void *buf, size_t cap, ib_err *err)
{
    staged_reader *sr = ctx;
    if (stop_requested(sr->r)) {
        interrupted(err);
        return -1;
    }
    ssize_t got;
    do
        got = read(sr->fd, buf, cap);
    while (got < 0 && errno == EINTR);
    if (got < 0) {
        ib_err_errno(err, IB_E_SOURCE_READ, errno, "%s (staged as %s): read failed", sr->f->rel,
                     sr->f->staged);
        return -1;
    }
    sr->crc = ib_crc32c(sr->crc, buf, (size_t)got);
    sr->done += got;
    progress_add(sr->r, got, 0);
    return got;
}

/* Back to the first byte for a driver that restarts the transfer; the bytes
 * counted so far are taken back from the progress. */
static int staged_rewind(void *ctx, ib_err *err)
{
    staged_reader *sr = ctx;
    if (lseek(sr->fd, 0, SEEK_SET) < 0)
        return ib_err_errno(err, IB_E_SOURCE_READ, errno, "%s (staged as %s): cannot rewind",
                            sr->f->rel, sr->f->staged);
    progress_add(sr->r, -sr->done, 0);
    sr->crc = 0;
    sr->done = 0;
    return 0;
}

static int crc_staged(sender *s, const ib_source_file *f, uint32_t *crc, ib_err *err)
{
    int fd = open_staged(f, err);
    if (fd < 0)
        return -1;
    uint32_t c = 0;
    int rc = 0;
    for (;;) {
        if (stop_requested(s->r)) {
            rc = interrupted(err);
            break;
        }
        ssize_t got = read(fd, s->buf, CHUNK_SIZE);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = ib_err_errno(err, IB_E_SOURCE_READ, errno, "%s (staged as %s): read failed",
                              f->rel, f->staged);
            break;
        }
        if (got == 0)
            break;
        c = ib_crc32c(c, s->buf, (size_t)got);
    }
    close(fd);
    *crc = c;
    return rc;
}

/* Reads a target file back to compute its CRC32C. */
typedef struct crc_writer {
    run *r;
    uint32_t crc;
    int64_t size;
} crc_writer;

static int crc_write(void *ctx, const void *buf, size_t len, ib_err *err)
{
    crc_writer *cw = ctx;
    if (stop_requested(cw->r))
        return interrupted(err);
    cw->crc = ib_crc32c(cw->crc, buf, len);
    cw->size += (int64_t)len;
    return 0;
}

static int crc_target(run *r, const char *path, uint32_t *crc, int64_t *size, ib_err *err)
{
    crc_writer cw = {.r = r};
    ib_writer w = {.ctx = &cw, .write = crc_write};
    if (r->st->drv->get(r->st, path, &w, err) != 0)
        return -1;
    *crc = cw.crc;
    *size = cw.size;
    return 0;
}

/* ---- sending ---- */

typedef struct file_plan {
    const ib_source_file *f;
    const ib_manifest_file *pe; /* the previous manifest's entry, or NULL */
    char *path;                 /* on the target */
    bool have_crc;
    uint32_t crc; /* of the staged file, when have_crc */
} file_plan;

static int ensure_parent(sender *s, const char *path, ib_err *err)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (len == 0 || len >= sizeof s->made_dir)
        return 0;
    if (strncmp(s->made_dir, path, len) == 0 && s->made_dir[len] == '\0')
        return 0;
    char dir[sizeof s->made_dir];
    memcpy(dir, path, len);
    dir[len] = '\0';
    if (s->r->st->drv->mkdirs(s->r->st, dir, err) != 0)
        return -1;
    memcpy(s->made_dir, dir, len + 1);
    return 0;
}

static int upload(sender *s, file_plan *p, ib_err *err)
{
    run *r = s->r;
    if (ensure_parent(s, p->path, err) != 0)
        return -1;
    staged_reader sr = {.r = r, .f = p->f};
    sr.fd = open_staged(p->f, err);
    if (sr.fd < 0)
        return -1;
    ib_reader rd = {.ctx = &sr, .read = staged_read, .rewind = staged_rewind};
    int rc = r->st->drv->put(r->st, p->path, p->f->size, &rd, err);
    close(sr.fd);
    if (rc != 0) {
        if (err->code != IB_E_INTERRUPTED)
            ib_err_prefix(err, "sending %s", p->f->rel);
        return -1;
    }
    if (sr.done != p->f->size)
        return ib_err_set(err, IB_E_SOURCE_READ,
                          "%s (staged as %s): read %lld bytes, expected %lld: the staged file "
                          "changed during the run",
                          p->f->rel, p->f->staged, (long long)sr.done, (long long)p->f->size);
    if (p->have_crc && sr.crc != p->crc)
        return ib_err_set(err, IB_E_SOURCE_READ,
                          "%s (staged as %s): checksum changed while sending: the staged file "
                          "changed during the run",
                          p->f->rel, p->f->staged);
    p->crc = sr.crc;
    p->have_crc = true;
    pthread_mutex_lock(&r->lock);
    r->res->files_sent++;
    r->res->bytes_sent += p->f->size;
    pthread_mutex_unlock(&r->lock);
    return 0;
}

static int staged_crc(sender *s, file_plan *p, ib_err *err)
{
    if (p->have_crc)
        return 0;
    if (crc_staged(s, p->f, &p->crc, err) != 0)
        return -1;
    p->have_crc = true;
    return 0;
}

/* A file already on the target with the right size and checksum, left by an
 * interrupted run, need not be sent again. LocalDir reads it back; that is
 * cheaper than writing it. */
static int target_matches(sender *s, file_plan *p, bool *match, ib_err *err)
{
    *match = false;
    if (staged_crc(s, p, err) != 0)
        return -1;
    uint32_t tcrc;
    int64_t tsize;
    if (crc_target(s->r, p->path, &tcrc, &tsize, err) != 0)
        return ib_err_prefix(err, "reading back %s", p->path);
    *match = tsize == p->f->size && tcrc == p->crc;
    return 0;
}

/* Unchanged since the previous copy: sealed tsfiles and resources are
 * immutable (path and size suffice); mods also compare the checksum. */
static int unchanged_since_prev(sender *s, file_plan *p, bool *same, ib_err *err)
{
    *same = false;
    if (!s->r->have_prev || !p->pe || p->pe->size != p->f->size)
        return 0;
    if (p->f->kind == IB_FILE_MODS) {
        if (staged_crc(s, p, err) != 0)
            return -1;
        *same = p->crc == p->pe->crc32c;
        return 0;
    }
    *same = true;
    return 0;
}

/* Written after the previous copy was completed: a leftover of an
 * interrupted run (the previous copy's files are older than its manifest's
 * end; one second of slack for coarse target clocks). */
static bool is_leftover(const run *r, const ib_storage_info *live)
{
    return !r->have_prev || live->mtime_ms > (r->prev.end + 1) * 1000;
}

/* Decide whether p must be sent: *send, and p->crc set when not. What the
 * live dir holds is what cleaning listed: only this sender writes p. */
static int plan_file(sender *s, file_plan *p, bool *send, ib_err *err)
{
    run *r = s->r;
    *send = true;
    ib_storage_info live = r->live[p->f - r->snap->files];
    bool live_ok = live.exists && !live.is_dir && live.size == p->f->size;
    if (!live_ok)
        return 0; /* missing or wrong size: send (this also repairs) */
    if (r->res->type == IB_BACKUP_INCREMENTAL && !is_leftover(r, &live)) {
        /* A leftover of an interrupted run may not have been made durable
         * before a crash: it is checked below, not trusted by its size. */
        bool same;
        if (unchanged_since_prev(s, p, &same, err) != 0)
            return -1;
        if (same) {
            *send = false;
            p->crc = p->pe->crc32c;
            p->have_crc = true;
            return 0;
        }
    } else if (r->explicit_full && !is_leftover(r, &live)) {
        return 0; /* full: rewrite every file of the previous copy */
    }
    bool match;
    if (target_matches(s, p, &match, err) != 0)
        return -1;
    *send = !match;
    return 0;
}

static int send_one(sender *s, const ib_source_file *f, ib_err *err)
{
    run *r = s->r;
    file_plan p = {.f = f, .pe = r->have_prev ? ib_manifest_find(&r->prev, f->rel) : NULL};
    p.path = task_path(r, f->rel);
    if (!p.path)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    bool send = true;
    int rc = plan_file(s, &p, &send, err);
    if (rc == 0 && send)
        rc = upload(s, &p, err);
    pthread_mutex_lock(&r->lock);
    if (rc == 0)
        rc = ib_manifest_add(&r->next, f->rel, f->size, f->mtime_ms, p.crc, err);
    if (rc == 0) {
        r->prog.bytes_done += send ? 0 : f->size; /* a sent file counted as it was read */
        r->prog.files_done++;
        progress_locked(r, "upload", false);
    }
    pthread_mutex_unlock(&r->lock);
    free(p.path);
    return rc;
}

/* A run of the snapshot's files (sorted by path) in one directory. */
typedef struct dir_range {
    size_t next, end; /* files[next..end) are still to send */
    int senders;      /* working in it now */
} dir_range;

static bool same_dir(const char *a, const char *b)
{
    const char *sa = strrchr(a, '/'), *sb = strrchr(b, '/');
    size_t la = sa ? (size_t)(sa - a) : 0, lb = sb ? (size_t)(sb - b) : 0;
    return la == lb && strncmp(a, b, la) == 0;
}

static int make_dir_ranges(run *r, ib_err *err)
{
    const ib_source_file *f = r->snap->files;
    size_t n = r->snap->n_files, k = 0;
    r->dirs = calloc(n ? n : 1, sizeof *r->dirs);
    if (!r->dirs)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || !same_dir(f[i - 1].rel, f[i].rel))
            r->dirs[k++] = (dir_range){.next = i, .end = i};
        r->dirs[k - 1].end = i + 1;
    }
    dir_range *fit = realloc(r->dirs, (k ? k : 1) * sizeof *r->dirs);
    if (fit)
        r->dirs = fit;
    r->n_dirs = k;
    r->first_dir = 0;
    return 0;
}

/* The range to take from: the first with files left that no sender works
 * in, else the first with files left; -1 when none is. */
static ptrdiff_t pick_dir(run *r)
{
    ptrdiff_t shared = -1;
    for (size_t k = r->first_dir; k < r->n_dirs; k++) {
        dir_range *d = &r->dirs[k];
        if (d->next == d->end) {
            if (k == r->first_dir)
                r->first_dir++;
            continue;
        }
        if (d->senders == 0)
            return (ptrdiff_t)k;
        if (shared < 0)
            shared = (ptrdiff_t)k;
    }
    return shared;
}

/* The next files of one directory, up to BATCH_FILES or BATCH_BYTES, in a
 * directory no other sender works in when there is one: file systems
 * serialise creating and renaming within a directory, so senders in the
 * same one mostly wait for each other. done_batch gives the range back. */
static bool take_batch(run *r, size_t *dir, size_t *from, size_t *to)
{
    pthread_mutex_lock(&r->lock);
    ptrdiff_t k = r->send_failed ? -1 : pick_dir(r);
    if (k >= 0) {
        dir_range *d = &r->dirs[k];
        const ib_source_file *f = r->snap->files;
        size_t i = d->next, j = i + 1;
        int64_t bytes = f[i].size;
        while (j < d->end && j - i < BATCH_FILES && bytes < BATCH_BYTES)
            bytes += f[j++].size;
        d->next = j;
        d->senders++;
        *dir = (size_t)k;
        *from = i;
        *to = j;
    }
    pthread_mutex_unlock(&r->lock);
    return k >= 0;
}

static void done_batch(run *r, size_t dir)
{
    pthread_mutex_lock(&r->lock);
    r->dirs[dir].senders--;
    pthread_mutex_unlock(&r->lock);
}

static bool send_failed(run *r)
{
    pthread_mutex_lock(&r->lock);
    bool failed = r->send_failed;
    pthread_mutex_unlock(&r->lock);
    return failed;
}

/* The first failure is the run's; it stops the other senders. */
static void record_failure(run *r, const ib_err *err)
{
    pthread_mutex_lock(&r->lock);
    if (!r->send_failed) {
        r->send_failed = true;
        r->send_err = *err;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Send files[from..to); false when this or another sender failed. */
static bool send_batch(sender *s, size_t from, size_t to)
{
    ib_err err;
    for (size_t i = from; i < to; i++) {
        ib_err_clear(&err);
        int rc =
            stop_requested(s->r) ? interrupted(&err) : send_one(s, &s->r->snap->files[i], &err);
        if (rc != 0) {
            record_failure(s->r, &err);
            return false;
        }
        if (i + 1 < to && send_failed(s->r))
            return false;
    }
    return true;
}

static void *send_loop(void *arg)
{
    sender *s = arg;
    size_t dir, from, to;
    while (take_batch(s->r, &dir, &from, &to)) {
        bool ok = send_batch(s, from, to);
        done_batch(s->r, dir);
        if (!ok)
            break;
    }
    return NULL;
}

static int senders_wanted(const run *r)
{
    int n = r->task->target.parallel_uploads > 0 ? r->task->target.parallel_uploads
                                                 : DEFAULT_PARALLEL_UPLOADS;
    size_t files = r->snap->n_files;
    return files < (size_t)n ? (files > 0 ? (int)files : 1) : n;
}

static sender *senders_new(run *r, int n, ib_err *err)
{
    sender *v = calloc((size_t)n, sizeof *v);
    for (int i = 0; v && i < n; i++) {
        v[i].r = r;
        if (!(v[i].buf = malloc(CHUNK_SIZE))) {
            for (int j = 0; j < i; j++)
                free(v[j].buf);
            free(v);
            v = NULL;
        }
    }
    if (!v)
        ib_err_set(err, IB_E_NOMEM, "out of memory for %d senders", n);
    return v;
}

/* Send every file, n at a time: each sender takes a batch of one
 * directory (take_batch), plans each file and uploads it. The calling
 * thread is sender 0; if a thread cannot be started, fewer send. */
static int send_files(run *r, ib_err *err)
{
    progress(r, "upload", true);
    if (make_dir_ranges(r, err) != 0)
        return -1;
    int n = senders_wanted(r);
    sender *v = senders_new(r, n, err);
    if (!v)
        return -1;
    int started = 1;
    for (; started < n; started++)
        if (pthread_create(&v[started].thread, NULL, send_loop, &v[started]) != 0)
            break;
    if (started < n) {
        pthread_mutex_lock(&r->lock);
        ib_engine_logf(r->ev, 4, "task %s: could only start %d of %d upload threads", r->task->name,
                       started, n);
        pthread_mutex_unlock(&r->lock);
    }
    send_loop(&v[0]);
    for (int i = 1; i < started; i++)
        pthread_join(v[i].thread, NULL);
    for (int i = 0; i < n; i++)
        free(v[i].buf);
    free(v);
    if (r->send_failed) {
        *err = r->send_err;
        return -1;
    }
    return ib_manifest_sort(&r->next, err);
}

/* One directory of the live dir, as listed. */
typedef struct dir_listing {
    char *rel; /* relative to the task dir; NULL before the first listing */
    ib_storage_entry *ents;
    size_t n;
} dir_listing;

static void listing_reset(dir_listing *l)
{
    free(l->rel);
    ib_storage_entries_free(l->ents, l->n);
    *l = (dir_listing){0};
}

/* List the directory rel[0..len) of the live dir, unless l holds it
 * already; a directory that does not exist lists as empty. */
static int listing_load(run *r, dir_listing *l, const char *rel, size_t len, ib_err *err)
{
    if (l->rel && strlen(l->rel) == len && strncmp(l->rel, rel, len) == 0)
        return 0;
    listing_reset(l);
    l->rel = strndup(rel, len);
    char *path = l->rel ? (len ? task_path(r, l->rel) : strdup(r->task_dir)) : NULL;
    if (!path)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    int rc = r->st->drv->list(r->st, path, &l->ents, &l->n, err);
    if (rc != 0) {
        ib_err keep = *err;
        ib_storage_info info;
        if (r->st->drv->stat(r->st, path, &info, err) == 0 && !info.exists)
            rc = 0; /* missing: empty */
        else
            *err = keep;
    }
    free(path);
    return rc;
}

static int entry_name_cmp(const void *key, const void *entry)
{
    return strcmp(key, ((const ib_storage_entry *)entry)->name);
}

static const ib_storage_entry *listing_find(const dir_listing *l, const char *name)
{
    if (l->n == 0) /* ents may be NULL, which bsearch must not be given */
        return NULL;
    return bsearch(name, l->ents, l->n, sizeof *l->ents, entry_name_cmp);
}

/* Every file of the new manifest is in the live dir with its size: one
 * listing per directory, not a stat per file (on a remote target, a round
 * trip each). The manifest is sorted, so a directory's files come
 * together. */
static int verify_live(run *r, ib_err *err)
{
    progress(r, "check", true);
    dir_listing l = {0};
    int rc = 0;
    for (size_t i = 0; i < r->next.n_files && rc == 0; i++) {
        const ib_manifest_file *mf = &r->next.files[i];
        const char *slash = strrchr(mf->path, '/');
        size_t dir_len = slash ? (size_t)(slash - mf->path) : 0;
        if (listing_load(r, &l, mf->path, dir_len, err) != 0) {
            rc = -1;
            break;
        }
        const ib_storage_entry *e = listing_find(&l, slash ? slash + 1 : mf->path);
        if (!e || e->is_dir || e->size != mf->size) {
            char *path = task_path(r, mf->path);
            rc = ib_err_set(err, IB_E_TARGET_IO,
                            "%s: %s after sending (expected %lld bytes): the copy is not "
                            "frozen; HINT: check the target for other writers, then run again",
                            path ? path : mf->path, e ? "wrong size" : "missing",
                            (long long)mf->size);
            free(path);
        }
    }
    listing_reset(&l);
    return rc;
}

/* ---- manifest, freeze, prune ---- */

static void *remove_staging(void *dir)
{
    ib_staging_remove(dir);
    free(dir);
    return NULL;
}

/* The staging snapshot and the previous manifest are not needed once the
 * files are sent: freed before the new manifest is serialised, the run's
 * memory peak (both grow with the number of files). Removing the staging
 * links (one unlink per file) runs on a thread of its own, beside the
 * manifest and the snapshot; run_cleanup waits for it. */
static void release_inputs(run *r)
{
    r->layout_version = r->snap->layout_version;
    free(r->live);
    r->live = NULL;
    free(r->dirs);
    r->dirs = NULL;
    char *staging = ib_snapshot_take_staging(r->snap);
    ib_snapshot_free(r->snap);
    r->snap = NULL;
    r->discarding = pthread_create(&r->discarder, NULL, remove_staging, staging) == 0;
    if (!r->discarding)
        remove_staging(staging);
    ib_manifest_free(&r->prev);
    ib_manifest_init(&r->prev);
}

static int fill_manifest_meta(run *r, ib_err *err)
{
    ib_manifest *m = &r->next;
    char host[256] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "unknown");
    m->format = IB_MANIFEST_FORMAT;
    m->task = strdup(r->task->name);
    m->backup_type = strdup(ib_backup_type_name(r->res->type));
    m->source_host = strdup(host);
    m->program_version = strdup(IB_VERSION);
    m->start = (int64_t)r->start;
    m->end = (int64_t)time(NULL);
    m->layout_version = r->layout_version;
    m->run_id = r->req->run_id;
    m->databases = calloc(r->n_selected ? r->n_selected : 1, sizeof *m->databases);
    if (!m->task || !m->backup_type || !m->source_host || !m->program_version || !m->databases)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n_selected; i++) {
        m->databases[i] = strdup(r->selected[i]);
        if (!m->databases[i])
            return ib_err_set(err, IB_E_NOMEM, "out of memory");
        m->n_databases++;
    }
    return 0;
}

static int write_manifest(run *r, ib_err *err)
{
    progress(r, "manifest", true);
    if (fill_manifest_meta(r, err) != 0)
        return -1;
    char *json = ib_manifest_to_json(&r->next, err);
    if (!json)
        return -1;
    char *path = task_path(r, IB_MANIFEST_NAME);
    int rc = path ? ib_storage_put_buffer(r->st, path, json, strlen(json), err)
                  : ib_err_set(err, IB_E_NOMEM, "out of memory");
    free(path);
    free(json);
    return rc;
}

/* Drivers may batch their flushes: the manifest names only durable files,
 * and the snapshot holds only a durable manifest. */
static int sync_target(run *r, const char *what, ib_err *err)
{
    if (ib_storage_sync(r->st, err) != 0)
        return ib_err_prefix(err, "making %s durable", what);
    return 0;
}

/* Named after every valid copy (see ib_copy_name_next). */
static int copy_name(run *r, char *buf, size_t n, ib_err *err)
{
    ib_copy_info *c = NULL;
    size_t nc = 0;
    if (ib_copies_read(r->st, r->task_dir, &c, &nc, err) != 0)
        return -1;
    const char *type = ib_backup_type_name(r->res->type);
    if (ib_copy_name_next(c, nc, time(NULL), type, buf, n))
        ib_engine_logf(r->ev, 4,
                       "the clock is behind the newest copy (stepped back?): naming this copy %s "
                       "so that it stays the newest",
                       buf);
    ib_copies_free(c, nc);
    return 0;
}

static int freeze(run *r, ib_err *err)
{
    progress(r, "freeze", true);
    if (copy_name(r, r->res->copy, sizeof r->res->copy, err) != 0)
        return -1;
    if (r->st->drv->snapshot_create(r->st, r->task_dir, r->res->copy, err) != 0)
        return ib_err_prefix(err, "freezing copy %s", r->res->copy);
    return 0;
}

/* Keep the newest max_copies valid copies; copies without a valid manifest
 * do not count, and are removed only when older than the newest valid one. */
static int prune(run *r, ib_err *err)
{
    progress(r, "prune", true);
    ib_copy_info *c = NULL;
    size_t n = 0;
    if (ib_copies_read(r->st, r->task_dir, &c, &n, err) != 0)
        return -1;
    size_t newest_valid = n;
    size_t valid_seen = 0;
    bool *drop = calloc(n ? n : 1, sizeof *drop);
    if (!drop) {
        ib_copies_free(c, n);
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    }
    for (size_t i = n; i-- > 0;) {
        if (c[i].valid) {
            if (newest_valid == n)
                newest_valid = i;
            drop[i] = ++valid_seen > (size_t)r->task->target.max_copies;
        } else {
            drop[i] = newest_valid != n;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (c[i].valid && (!drop[i] || i == newest_valid || strcmp(c[i].name, r->res->copy) == 0))
            r->res->copies_kept++;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* Never the copy this run made, even if a clock stepped back made
         * its name sort older than the others. */
        if (!drop[i] || i == newest_valid || strcmp(c[i].name, r->res->copy) == 0)
            continue;
        rc = r->st->drv->snapshot_delete(r->st, r->task_dir, c[i].name, err);
        if (rc == 0) {
            r->res->copies_pruned++;
            char line[512];
            snprintf(line, sizeof line, "task %s: pruned copy %s%s", r->task->name, c[i].name,
                     c[i].valid ? "" : " (no valid manifest)");
            engine_notice(r->ev, "pruned", 6, line);
        }
    }
    free(drop);
    ib_copies_free(c, n);
    return rc;
}

/* ---- the run ---- */

static void run_cleanup(run *r)
{
    ib_manifest_free(&r->prev);
    ib_manifest_free(&r->next);
    free(r->task_dir);
    ib_storage_free(r->st);
    free(r->live);
    free(r->dirs);
    if (r->snap)
        ib_snapshot_free(r->snap);
    if (r->discarding)
        pthread_join(r->discarder, NULL);
    free_strv(r->selected, r->n_selected);
}

static int run_steps(run *r, ib_err *err)
{
    if (take_snapshot(r, err) != 0 || open_target(r, err) != 0 || load_previous(r, err) != 0)
        return -1;
    decide_type(r);
    if (stop_requested(r))
        return interrupted(err);
    if (clean_live(r, err) != 0 || send_files(r, err) != 0)
        return -1;
    if (stop_requested(r))
        return interrupted(err);
    if (verify_live(r, err) != 0 || sync_target(r, "the files sent", err) != 0)
        return -1;
    release_inputs(r);
    if (write_manifest(r, err) != 0 || sync_target(r, IB_MANIFEST_NAME, err) != 0 ||
        freeze(r, err) != 0)
        return -1;
    ib_engine_logf(
        r->ev, 6, "task %s: copy %s made: %lld files, %lld sent (%lld bytes), %lld deleted",
        r->task->name, r->res->copy, (long long)r->res->files_total, (long long)r->res->files_sent,
        (long long)r->res->bytes_sent, (long long)r->res->files_deleted);
    if (prune(r, err) != 0)
        return ib_err_prefix(err, "copy %s was made, but pruning old copies failed", r->res->copy);
    if (r->res->copies_pruned > 0)
        ib_engine_logf(r->ev, 6, "task %s: %lld old copies pruned (keeping %d)", r->task->name,
                       (long long)r->res->copies_pruned, r->task->target.max_copies);
    return 0;
}

int ib_backup_run(const ib_backup_request *req, const ib_engine_events *ev, ib_backup_result *res,
                  ib_err *err)
{
    memset(res, 0, sizeof *res);
    res->type = req->type;
    run r = {.req = req, .task = req->task, .ev = ev, .res = res, .start = time(NULL)};
    ib_manifest_init(&r.prev);
    ib_manifest_init(&r.next);
    pthread_mutex_init(&r.lock, NULL);
    ib_engine_logf(ev, 7, "task %s: run %lld started (%s requested)", req->task->name,
                   (long long)req->run_id, ib_backup_type_name(req->type));
    int rc = run_steps(&r, err);
    run_cleanup(&r);
    pthread_mutex_destroy(&r.lock);
    return rc;
}
