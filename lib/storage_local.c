/* LocalDir driver: a target directory on a local or NFS-mounted file system.
 * Paths handed to the driver are absolute local paths.
 *
 * Snapshots are hard-link trees (<dir>/.snapshot/<name>/), so a live file and
 * its snapshot copies share one inode. The driver therefore NEVER modifies a
 * live file in place: put always writes a new inode (temp name + rename),
 * which is what keeps every snapshot immutable. Keep it that way.
 *
 * Durability is batched: put writes the file, starts its writeback and
 * renames it into place; sync (called before anything names the files, and
 * by snapshot_create) runs syncfs once on the file system, which makes the
 * data and the renames durable with one journal commit instead of two
 * fsyncs per file. New directories are made durable the same way.
 *
 * A handle may be shared by threads: its mutable state, the bandwidth
 * bucket and the file systems waiting for their sync, is under a mutex.
 * A put registers its file system for the next sync and then renames; the
 * publish lock keeps a sync from taking the list between the two, which
 * would leave that rename to no sync at all. */
#include "ib_storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Per put: several puts run at once (parallel_uploads), and larger buffers
 * cost resident memory without making read/write measurably faster. */
#define CHUNK ((size_t)256 << 10)
#define SNAPSHOT_DIR ".snapshot"
/* File systems with writes waiting for sync, at most (a target tree rarely
 * spans more than one). */
#define MAX_SYNC_FS 4
/* Files at least this large start their writeback when written. */
#define KICK_MIN ((int64_t)256 << 10)
/* Smaller ones are synced in groups of about this many bytes. */
#define SMALL_SYNC_BYTES ((int64_t)64 << 20)

typedef struct local_storage {
    ib_storage base;
    char *root;  /* the target path, named in hints */
    double rate; /* bytes per second, 0 = unlimited */
    pthread_mutex_t lock;
    double tokens; /* bytes that may be written now; negative = debt */
    double last;   /* monotonic time of the last refill */
    /* File systems written to since the last sync: a descriptor on each. */
    int sync_fd[MAX_SYNC_FS];
    dev_t sync_dev[MAX_SYNC_FS];
    size_t n_sync;
    int64_t small_unsynced;    /* bytes of small files put since the last sync */
    int sync_error;            /* errno of a failed syncfs: every later sync fails too */
    pthread_mutex_t sync_lock; /* one sync at a time */
    /* Read-held by a put from registering its file system to its rename,
     * write-held by a sync while it takes the list. */
    pthread_rwlock_t publish;
} local_storage;

/* ---- errors ---- */

static ib_code code_for_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return IB_E_TARGET_SPACE;
    case EACCES:
    case EPERM:
        return IB_E_TARGET_AUTH;
    case ENOENT:
    case ENOTDIR:
        return IB_E_TARGET_NOT_FOUND;
    default:
        return IB_E_TARGET_IO;
    }
}

/* Fill err with "<what>: <strerror(e)>" and a hint for space and permission
 * problems; returns -1. */
__attribute__((format(printf, 4, 5))) static int local_fail(const local_storage *ls, ib_err *err,
                                                            int e, const char *fmt, ...)
{
    char what[IB_ERR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    ib_code code = code_for_errno(e);
    ib_err_errno(err, code, e, "%s", what);
    const char *hint = code == IB_E_TARGET_SPACE  ? "free space on the file system of"
                       : code == IB_E_TARGET_AUTH ? "give the daemon's user write access to"
                                                  : NULL;
    if (err && hint) {
        size_t used = strlen(err->msg);
        snprintf(err->msg + used, sizeof err->msg - used, ". HINT: %s %s", hint, ls->root);
    }
    return -1;
}

static int no_memory(ib_err *err, const char *op, const char *path)
{
    return ib_err_set(err, IB_E_NOMEM, "%s %s: out of memory", op, path);
}

/* ---- small helpers ---- */

static char *concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb);
        memcpy(s + la + lb, c, lc + 1);
    }
    return s;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

static bool is_dot_or_dotdot(const char *name)
{
    return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static double monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int64_t mtime_ms_of(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

static int write_all(int fd, const char *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static ssize_t read_retry(int fd, void *buf, size_t n)
{
    ssize_t r;
    do
        r = read(fd, buf, n);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Make a directory's entries durable. File systems that cannot fsync a
 * directory (EINVAL) have nothing more to offer. */
static int fsync_dir(const local_storage *ls, const char *dir, ib_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return local_fail(ls, err, errno, "fsync %s", dir);
    int rc = 0;
    if (fsync(fd) < 0 && errno != EINVAL)
        rc = local_fail(ls, err, errno, "fsync %s", dir);
    close(fd);
    return rc;
}

static int fsync_parent(const local_storage *ls, const char *path, ib_err *err)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return fsync_dir(ls, ".", err);
    if (slash == path)
        return fsync_dir(ls, "/", err);
    char *dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return no_memory(err, "fsync", path);
    int rc = fsync_dir(ls, dir, err);
    free(dir);
    return rc;
}

/* ---- bandwidth cap ---- */

/* Token bucket: take n bytes, sleeping off any debt outside the lock so
 * several writers share the rate. At most a quarter second of burst. */
static void throttle(local_storage *ls, size_t n)
{
    if (ls->rate <= 0)
        return;
    pthread_mutex_lock(&ls->lock);
    double now = monotonic_now();
    ls->tokens += (now - ls->last) * ls->rate;
    if (ls->tokens > ls->rate / 4)
        ls->tokens = ls->rate / 4;
    ls->last = now;
    ls->tokens -= (double)n;
    double wait = ls->tokens < 0 ? -ls->tokens / ls->rate : 0;
    pthread_mutex_unlock(&ls->lock);
    if (wait > 0)
        sleep_seconds(wait);
}

/* ---- put / get ---- */

static int local_sync(ib_storage *s, ib_err *err);

/* Small files written since the last sync: past SMALL_SYNC_BYTES they are
 * synced together, which bounds what waits in the page cache. */
static int count_small(local_storage *ls, int64_t n, ib_err *err)
{
    pthread_mutex_lock(&ls->lock);
    ls->small_unsynced += n;
    bool due = ls->small_unsynced >= SMALL_SYNC_BYTES;
    pthread_mutex_unlock(&ls->lock);
    return due ? local_sync(&ls->base, err) : 0;
}

/* Buffer size for a file of known size: the whole file plus one byte (to see
 * a source that is too long), at most one chunk. */
static size_t buffer_size_for(int64_t size)
{
    return size >= 0 && (uint64_t)size < CHUNK ? (size_t)size + 1 : CHUNK;
}

static int stream_to_fd(local_storage *ls, int fd, const char *path, int64_t size, ib_reader *src,
                        int64_t *written, ib_err *err)
{
    size_t cap = buffer_size_for(size);
    char *buf = malloc(cap);
    if (!buf)
        return no_memory(err, "put", path);
    int64_t total = 0;
    int rc = 0;
    for (;;) {
        ssize_t n = src->read(src->ctx, buf, cap, err);
        if (n < 0) {
            rc = ib_err_prefix(err, "put %s", path);
            break;
        }
        if (n == 0)
            break;
        total += n;
        if (size >= 0 && total > size) {
            rc = ib_err_set(err, IB_E_SOURCE_READ,
                            "put %s: source is longer than the expected %lld bytes", path,
                            (long long)size);
            break;
        }
        throttle(ls, (size_t)n);
        int e = write_all(fd, buf, (size_t)n);
        if (e) {
            rc = local_fail(ls, err, e, "put %s", path);
            break;
        }
    }
    free(buf);
    if (rc == 0 && size >= 0 && total != size)
        rc = ib_err_set(err, IB_E_SOURCE_READ, "put %s: source ended after %lld of %lld bytes",
                        path, (long long)total, (long long)size);
    /* A large file's writeback starts now, so the disk works while the next
     * file is read and sync finds little left to do (only a hint). Small
     * files are left to a sync that takes many at once: starting each one
     * costs more than it saves. */
    if (rc == 0 && total >= KICK_MIN)
        sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
    *written = total;
    return rc;
}

/* ---- batched durability ---- */

/* Remember that a file system holds writes not yet durable; a descriptor
 * on it is kept for syncfs. 1 when the list is full (sync first). */
static int track_fs_once(local_storage *ls, dev_t dev, const char *path, ib_err *err)
{
    pthread_mutex_lock(&ls->lock);
    int rc = 1;
    for (size_t i = 0; i < ls->n_sync && rc == 1; i++)
        if (ls->sync_dev[i] == dev)
            rc = 0;
    if (rc == 1 && ls->n_sync < MAX_SYNC_FS) {
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            rc = local_fail(ls, err, errno, "sync %s", path);
        } else {
            ls->sync_dev[ls->n_sync] = dev;
            ls->sync_fd[ls->n_sync++] = fd;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&ls->lock);
    return rc;
}

/* track_fs_once, syncing while the list is full. */
static int track_fs(local_storage *ls, dev_t dev, const char *path, ib_err *err)
{
    int rc;
    while ((rc = track_fs_once(ls, dev, path, err)) == 1)
        if (ls->base.drv->sync(&ls->base, err) < 0)
            return -1;
    return rc;
}

/* Register tmp's file system for the next sync and rename tmp onto path,
 * with no sync taking the list in between. */
static int track_and_rename(local_storage *ls, dev_t dev, const char *tmp, const char *path,
                            ib_err *err)
{
    for (;;) {
        pthread_rwlock_rdlock(&ls->publish);
        int rc = track_fs_once(ls, dev, tmp, err);
        if (rc == 0 && rename(tmp, path) < 0)
            rc = local_fail(ls, err, errno, "put %s", path);
        pthread_rwlock_unlock(&ls->publish);
        if (rc != 1)
            return rc;
        if (ls->base.drv->sync(&ls->base, err) < 0)
            return -1;
    }
}

/* track_fs for the file system of an existing path. */
static int track_path(local_storage *ls, const char *path, ib_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return local_fail(ls, err, errno, "sync %s", path);
    return track_fs(ls, st.st_dev, path, err);
}

/* Put back file systems whose syncfs failed, so that the list still names
 * them (another thread may have registered one again meanwhile). */
static void untake_failed(local_storage *ls, const int *fds, const dev_t *devs, size_t n)
{
    pthread_mutex_lock(&ls->lock);
    for (size_t i = 0; i < n; i++) {
        bool listed = false;
        for (size_t j = 0; j < ls->n_sync && !listed; j++)
            listed = ls->sync_dev[j] == devs[i];
        if (listed || ls->n_sync == MAX_SYNC_FS) {
            close(fds[i]);
            continue;
        }
        ls->sync_dev[ls->n_sync] = devs[i];
        ls->sync_fd[ls->n_sync++] = fds[i];
    }
    pthread_mutex_unlock(&ls->lock);
}

/* syncfs on every file system written to since the last sync: one journal
 * commit and one cache flush for all the files and renames, instead of an
 * fsync of each file and each directory.
 *
 * A failed syncfs is sticky: Linux reports a writeback error once per
 * descriptor, so a later syncfs could succeed although the data is lost.
 * The file system stays in the list and every later sync of this handle
 * fails with the same error. */
static int local_sync(ib_storage *s, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    int fds[MAX_SYNC_FS], failed_fds[MAX_SYNC_FS];
    dev_t devs[MAX_SYNC_FS], failed_devs[MAX_SYNC_FS];
    /* Held throughout: a sync returns only when every earlier put is
     * durable, also those another thread is syncing. */
    pthread_mutex_lock(&ls->sync_lock);
    pthread_rwlock_wrlock(&ls->publish);
    pthread_mutex_lock(&ls->lock);
    size_t n = ls->n_sync;
    memcpy(fds, ls->sync_fd, n * sizeof *fds);
    memcpy(devs, ls->sync_dev, n * sizeof *devs);
    ls->n_sync = 0;
    ls->small_unsynced = 0;
    int sticky = ls->sync_error;
    pthread_mutex_unlock(&ls->lock);
    pthread_rwlock_unlock(&ls->publish);
    size_t n_failed = 0;
    int e = 0;
    for (size_t i = 0; i < n; i++) {
        if (syncfs(fds[i]) == 0) {
            close(fds[i]);
            continue;
        }
        e = e ? e : errno;
        failed_fds[n_failed] = fds[i];
        failed_devs[n_failed++] = devs[i];
    }
    if (n_failed) {
        untake_failed(ls, failed_fds, failed_devs, n_failed);
        pthread_mutex_lock(&ls->lock);
        ls->sync_error = ls->sync_error ? ls->sync_error : e;
        pthread_mutex_unlock(&ls->lock);
    }
    pthread_mutex_unlock(&ls->sync_lock);
    if (n_failed)
        return local_fail(ls, err, e, "sync %s", ls->root);
    if (sticky)
        return local_fail(ls, err, sticky, "sync %s: an earlier sync failed", ls->root);
    return 0;
}

static int local_put(ib_storage *s, const char *path, int64_t size, ib_reader *src, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    char *tmp = concat3(path, IB_STORAGE_TEMP_SUFFIX, "");
    if (!tmp)
        return no_memory(err, "put", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        free(tmp);
        return local_fail(ls, err, errno, "put %s", path);
    }
    int64_t written = 0;
    int rc = stream_to_fd(ls, fd, path, size, src, &written, err);
    struct stat st;
    if (rc == 0 && fstat(fd, &st) < 0)
        rc = local_fail(ls, err, errno, "put %s", path);
    /* NFS reports some write errors only at close. */
    if (close(fd) < 0 && rc == 0)
        rc = local_fail(ls, err, errno, "put %s", path);
    if (rc == 0)
        rc = track_and_rename(ls, st.st_dev, tmp, path, err);
    if (rc < 0)
        unlink(tmp);
    else if (written < KICK_MIN)
        rc = count_small(ls, written, err);
    free(tmp);
    return rc;
}

static int local_get(ib_storage *s, const char *path, ib_writer *dst, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return local_fail(ls, err, errno, "get %s", path);
    struct stat st;
    size_t cap = fstat(fd, &st) == 0 ? buffer_size_for(st.st_size) : CHUNK;
    char *buf = malloc(cap);
    int rc = buf ? 0 : no_memory(err, "get", path);
    while (rc == 0) {
        ssize_t n = read_retry(fd, buf, cap);
        if (n < 0)
            rc = local_fail(ls, err, errno, "get %s", path);
        if (n <= 0)
            break;
        rc = dst->write(dst->ctx, buf, (size_t)n, err);
    }
    free(buf);
    close(fd);
    return rc < 0 ? -1 : 0;
}

/* ---- stat / list ---- */

static int local_stat(ib_storage *s, const char *path, ib_storage_info *info, ib_err *err)
{
    struct stat st;
    *info = (ib_storage_info){0};
    if (stat(path, &st) < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return local_fail((local_storage *)s, err, errno, "stat %s", path);
    }
    info->exists = true;
    info->is_dir = S_ISDIR(st.st_mode);
    info->size = st.st_size;
    info->mtime_ms = mtime_ms_of(&st);
    return 0;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const ib_storage_entry *)a)->name, ((const ib_storage_entry *)b)->name);
}

/* Append one entry; 1 when it vanished meanwhile, -1 on error. */
static int add_entry(const local_storage *ls, DIR *d, const char *path, const char *name,
                     ib_storage_entry **v, size_t *n, size_t *cap, ib_err *err)
{
    struct stat st;
    /* Follow symlinks like stat does; a dangling one is still listed. */
    if (fstatat(dirfd(d), name, &st, 0) < 0 &&
        fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 1;
        return local_fail(ls, err, errno, "list %s: %s", path, name);
    }
    if (*n == *cap) {
        size_t grown_cap = *cap ? *cap * 2 : 16;
        ib_storage_entry *grown = realloc(*v, grown_cap * sizeof *grown);
        if (!grown)
            return no_memory(err, "list", path);
        *v = grown;
        *cap = grown_cap;
    }
    char *copy = strdup(name);
    if (!copy)
        return no_memory(err, "list", path);
    (*v)[(*n)++] = (ib_storage_entry){.name = copy,
                                      .is_dir = S_ISDIR(st.st_mode),
                                      .size = st.st_size,
                                      .mtime_ms = mtime_ms_of(&st)};
    return 0;
}

static int local_list(ib_storage *s, const char *path, ib_storage_entry **entries, size_t *n,
                      ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    *entries = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return local_fail(ls, err, errno, "list %s", path);
    ib_storage_entry *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno)
                rc = local_fail(ls, err, errno, "list %s", path);
            break;
        }
        if (!is_dot_or_dotdot(de->d_name) &&
            add_entry(ls, d, path, de->d_name, &v, &len, &cap, err) < 0) {
            rc = -1;
            break;
        }
    }
    closedir(d);
    if (rc < 0) {
        ib_storage_entries_free(v, len);
        return -1;
    }
    if (len > 1)
        qsort(v, len, sizeof *v, entry_cmp);
    *entries = v;
    *n = len;
    return 0;
}

/* ---- remove / rename / mkdirs ---- */

static int remove_contents(const local_storage *ls, int dfd, const char *path, ib_err *err);

static int remove_subdir(const local_storage *ls, DIR *d, const char *path, const char *name,
                         ib_err *err)
{
    char *sub = ib_path_join(path, name);
    if (!sub)
        return no_memory(err, "remove", path);
    int rc = 0;
    int sfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sfd < 0) {
        if (errno != ENOENT)
            rc = local_fail(ls, err, errno, "remove %s", sub);
    } else if (remove_contents(ls, sfd, sub, err) < 0) {
        rc = -1;
    } else if (unlinkat(dirfd(d), name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
        rc = local_fail(ls, err, errno, "remove %s", sub);
    }
    free(sub);
    return rc;
}

/* Empty the directory open as dfd (taken over and closed), never following
 * symlinks: a link inside the tree is removed, not what it points to. */
static int remove_contents(const local_storage *ls, int dfd, const char *path, ib_err *err)
{
    DIR *d = fdopendir(dfd);
    if (!d) {
        int e = errno;
        close(dfd);
        return local_fail(ls, err, e, "remove %s", path);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d))) {
        const char *name = de->d_name;
        if (is_dot_or_dotdot(name))
            continue;
        struct stat st;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN && fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            is_dir = S_ISDIR(st.st_mode);
        if (is_dir)
            rc = remove_subdir(ls, d, path, name, err);
        else if (unlinkat(dirfd(d), name, 0) < 0 && errno != ENOENT)
            rc = local_fail(ls, err, errno, "remove %s/%s", path, name);
    }
    if (rc == 0 && errno)
        rc = local_fail(ls, err, errno, "remove %s", path);
    closedir(d);
    return rc;
}

static int local_remove(ib_storage *s, const char *path, bool recursive, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : local_fail(ls, err, errno, "remove %s", path);
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) < 0 && errno != ENOENT)
            return local_fail(ls, err, errno, "remove %s", path);
        return 0;
    }
    if (recursive) {
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            return local_fail(ls, err, errno, "remove %s", path);
        if (remove_contents(ls, dfd, path, err) < 0)
            return -1;
    }
    if (rmdir(path) < 0 && errno != ENOENT)
        return local_fail(ls, err, errno, "remove %s", path);
    return 0;
}

/* For file systems without RENAME_NOREPLACE (EINVAL on NFS): a hard link
 * refuses an existing target atomically; directories (and file systems that
 * refuse hard links) get a check before the rename, racy but the best the
 * file system offers. */
static int rename_noreplace_fallback(const local_storage *ls, const char *from, const char *to,
                                     ib_err *err)
{
    struct stat st;
    if (lstat(from, &st) < 0)
        return local_fail(ls, err, errno, "rename %s to %s", from, to);
    if (!S_ISDIR(st.st_mode)) {
        if (link(from, to) == 0) {
            if (unlink(from) < 0)
                return local_fail(ls, err, errno, "rename %s to %s", from, to);
            return 0;
        }
        if (errno != EPERM && errno != ENOTSUP)
            return local_fail(ls, err, errno, "rename %s to %s", from, to);
    }
    if (lstat(to, &st) == 0)
        return local_fail(ls, err, EEXIST, "rename %s to %s", from, to);
    if (rename(from, to) < 0)
        return local_fail(ls, err, errno, "rename %s to %s", from, to);
    return 0;
}

static int local_rename(ib_storage *s, const char *from, const char *to, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
        if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
            return local_fail(ls, err, errno, "rename %s to %s", from, to);
        if (rename_noreplace_fallback(ls, from, to, err) < 0)
            return -1;
    }
    return fsync_parent(ls, to, err);
}

/* mkdir one level; an existing directory is fine. */
static int mkdir_one(local_storage *ls, const char *path, ib_err *err)
{
    if (mkdir(path, 0750) == 0)
        return track_path(ls, path, err); /* durable at the next sync */
    int e = errno;
    struct stat st;
    if (e == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return local_fail(ls, err, e == EEXIST ? ENOTDIR : e, "mkdirs %s", path);
}

static int local_mkdirs(ib_storage *s, const char *path, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    if (path[0] == '\0')
        return ib_err_set(err, IB_E_INTERNAL, "mkdirs: empty path");
    char *p = strdup(path);
    if (!p)
        return no_memory(err, "mkdirs", path);
    int rc = 0;
    /* Each prefix ending before a '/' (the root excluded), then the path. */
    for (char *q = p + 1; rc == 0 && q[-1] != '\0'; q++) {
        if (*q != '/' && *q != '\0')
            continue;
        char c = *q;
        *q = '\0';
        if (q[-1] != '/')
            rc = mkdir_one(ls, p, err);
        *q = c;
    }
    free(p);
    return rc;
}

/* ---- snapshots: hard-link trees under <dir>/.snapshot ---- */

static bool snapshot_name_ok(const char *name)
{
    return name[0] != '\0' && name[0] != '.' && !strchr(name, '/') && strlen(name) < 200;
}

static int check_snapshot_name(const char *dir, const char *name, ib_err *err)
{
    if (snapshot_name_ok(name))
        return 0;
    return ib_err_set(err, IB_E_TARGET_SNAPSHOT,
                      "snapshot \"%s\" of %s: invalid name (empty, leading '.' or '/')", name, dir);
}

/* The snapshot directory, the snapshot's path, and the temporary name it is
 * built (or torn down) under. */
typedef struct snap_paths {
    char *root;
    char *final;
    char *tmp;
} snap_paths;

static void snap_paths_free(snap_paths *p)
{
    free(p->root);
    free(p->final);
    free(p->tmp);
}

static int snap_paths_make(const char *dir, const char *name, snap_paths *p, ib_err *err)
{
    *p = (snap_paths){0};
    p->root = ib_path_join(dir, SNAPSHOT_DIR);
    if (p->root) {
        p->final = ib_path_join(p->root, name);
        p->tmp = concat3(p->root, "/.", name);
    }
    char *tmp = p->tmp ? concat3(p->tmp, ".tmp", "") : NULL;
    free(p->tmp);
    p->tmp = tmp;
    if (!p->root || !p->final || !p->tmp) {
        snap_paths_free(p);
        return no_memory(err, "snapshot", dir);
    }
    return 0;
}

/* Remove every ".<name>.tmp" left in the snapshot directory by a crash. */
static int remove_leftovers(ib_storage *s, const char *root, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : local_fail(ls, err, errno, "snapshot list %s", root);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] != '.' || is_dot_or_dotdot(de->d_name) || !ends_with(de->d_name, ".tmp"))
            continue;
        char *path = ib_path_join(root, de->d_name);
        rc = path ? local_remove(s, path, true, err) : no_memory(err, "snapshot", root);
        free(path);
    }
    closedir(d);
    return rc;
}

static int copy_fd(const local_storage *ls, int in, int out, const char *path, ib_err *err)
{
    char *buf = malloc(CHUNK);
    if (!buf)
        return no_memory(err, "snapshot copy", path);
    int rc = 0;
    for (;;) {
        ssize_t n = read_retry(in, buf, CHUNK);
        if (n < 0)
            rc = local_fail(ls, err, errno, "snapshot copy %s", path);
        if (n <= 0)
            break;
        int e = write_all(out, buf, (size_t)n);
        if (e) {
            rc = local_fail(ls, err, e, "snapshot copy %s", path);
            break;
        }
    }
    free(buf);
    return rc;
}

/* Copy a regular file (for file systems that refuse hard links), keeping
 * its mode and mtime. */
static int copy_file(const local_storage *ls, const char *src, const char *dst,
                     const struct stat *st, ib_err *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return local_fail(ls, err, errno, "snapshot copy %s", src);
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, st->st_mode & 0777);
    if (out < 0) {
        int e = errno;
        close(in);
        return local_fail(ls, err, e, "snapshot copy %s", dst);
    }
    int rc = copy_fd(ls, in, out, src, err);
    struct timespec times[2] = {st->st_atim, st->st_mtim};
    if (rc == 0 && (futimens(out, times) < 0 || fsync(out) < 0))
        rc = local_fail(ls, err, errno, "snapshot copy %s", dst);
    if (close(out) < 0 && rc == 0)
        rc = local_fail(ls, err, errno, "snapshot copy %s", dst);
    close(in);
    return rc;
}

static int link_or_copy(const local_storage *ls, const char *src, const char *dst,
                        const struct stat *st, ib_err *err)
{
    if (link(src, dst) == 0)
        return 0;
    int e = errno;
    if (e != EXDEV && e != EPERM && e != ENOTSUP && e != EMLINK)
        return local_fail(ls, err, e, "snapshot link %s", src);
    if (S_ISREG(st->st_mode))
        return copy_file(ls, src, dst, st, err);
    return local_fail(ls, err, e, "snapshot link %s", src);
}

/* Building a snapshot's hard-link tree in two passes: the directories
 * first, on one thread (a directory must exist before anything is linked
 * into it), then the files of each directory, several directories at once:
 * a file system serialises linking within one directory, not across them,
 * and one thread would leave the other cores idle for a pass over every
 * file of the copy. */
#define LINK_THREADS 4

typedef struct link_job {
    char *src, *dst;
    bool top; /* the task dir itself: .snapshot is left out */
} link_job;

typedef struct link_queue {
    const local_storage *ls;
    link_job *jobs;
    size_t n, cap;
    pthread_mutex_t lock; /* next, failed, err */
    size_t next;
    bool failed;
    ib_err err; /* the first failure */
} link_queue;

/* Left out of a snapshot: . and .., .snapshot at the top, and unfinished
 * temporaries. */
static bool skip_in_snapshot(const char *name, bool top)
{
    return is_dot_or_dotdot(name) || (top && strcmp(name, SNAPSHOT_DIR) == 0) ||
           ends_with(name, IB_STORAGE_TEMP_SUFFIX);
}

static int queue_job(link_queue *q, const char *src, const char *dst, bool top, ib_err *err)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        link_job *v = realloc(q->jobs, cap * sizeof *v);
        if (!v)
            return no_memory(err, "snapshot", src);
        q->jobs = v;
        q->cap = cap;
    }
    link_job j = {.src = strdup(src), .dst = strdup(dst), .top = top};
    if (!j.src || !j.dst) {
        free(j.src);
        free(j.dst);
        return no_memory(err, "snapshot", src);
    }
    q->jobs[q->n++] = j;
    return 0;
}

/* Whether the entry is a directory (d_type, or lstat where it is unknown);
 * -1 when it vanished. */
static int entry_is_dir(DIR *d, const struct dirent *de)
{
    if (de->d_type != DT_UNKNOWN)
        return de->d_type == DT_DIR;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    return S_ISDIR(st.st_mode) ? 1 : 0;
}

/* Pass 1: make every directory of src under the existing dst, and queue
 * each for its files. */
static int mirror_dirs(link_queue *q, const char *src, const char *dst, bool top, ib_err *err)
{
    if (queue_job(q, src, dst, top, err) < 0)
        return -1;
    DIR *d = opendir(src);
    if (!d)
        return local_fail(q->ls, err, errno, "snapshot %s", src);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d))) {
        if (skip_in_snapshot(de->d_name, top) || entry_is_dir(d, de) != 1)
            continue;
        char *from = ib_path_join(src, de->d_name), *to = ib_path_join(dst, de->d_name);
        if (!from || !to)
            rc = no_memory(err, "snapshot", src);
        else if (mkdir(to, 0750) < 0)
            rc = local_fail(q->ls, err, errno, "snapshot mkdir %s", to);
        else
            rc = mirror_dirs(q, from, to, false, err);
        free(from);
        free(to);
    }
    if (rc == 0 && errno)
        rc = local_fail(q->ls, err, errno, "snapshot %s", src);
    closedir(d);
    return rc;
}

/* Pass 2, one directory: link (or copy) every entry that is not a
 * directory. */
static int link_files(const local_storage *ls, const link_job *j, ib_err *err)
{
    DIR *d = opendir(j->src);
    if (!d)
        return local_fail(ls, err, errno, "snapshot %s", j->src);
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d))) {
        struct stat st;
        if (skip_in_snapshot(de->d_name, j->top) || de->d_type == DT_DIR)
            continue;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT)
                rc = local_fail(ls, err, errno, "snapshot %s/%s", j->src, de->d_name);
            continue; /* vanished meanwhile */
        }
        if (S_ISDIR(st.st_mode))
            continue;
        char *from = ib_path_join(j->src, de->d_name), *to = ib_path_join(j->dst, de->d_name);
        rc = from && to ? link_or_copy(ls, from, to, &st, err) : no_memory(err, "snapshot", j->src);
        free(from);
        free(to);
    }
    if (rc == 0 && errno)
        rc = local_fail(ls, err, errno, "snapshot %s", j->src);
    closedir(d);
    return rc;
}

static void *link_worker(void *arg)
{
    link_queue *q = arg;
    for (;;) {
        pthread_mutex_lock(&q->lock);
        bool go = !q->failed && q->next < q->n;
        const link_job *j = go ? &q->jobs[q->next++] : NULL;
        pthread_mutex_unlock(&q->lock);
        if (!go)
            return NULL;
        ib_err err;
        ib_err_clear(&err);
        if (link_files(q->ls, j, &err) < 0) {
            pthread_mutex_lock(&q->lock);
            if (!q->failed) {
                q->failed = true;
                q->err = err;
            }
            pthread_mutex_unlock(&q->lock);
            return NULL;
        }
    }
}

/* Mirror src into the existing directory dst: directories created, files
 * hard-linked; .snapshot (at the top) and unfinished temporaries left out.
 * The caller syncs the tree before renaming it into place. */
static int link_tree(const local_storage *ls, const char *src, const char *dst, ib_err *err)
{
    link_queue q = {.ls = ls};
    pthread_mutex_init(&q.lock, NULL);
    int rc = mirror_dirs(&q, src, dst, true, err);
    if (rc == 0) {
        pthread_t t[LINK_THREADS - 1];
        size_t started = 0;
        while (started < LINK_THREADS - 1 && started + 1 < q.n &&
               pthread_create(&t[started], NULL, link_worker, &q) == 0)
            started++;
        link_worker(&q); /* this thread too; alone if none could start */
        for (size_t i = 0; i < started; i++)
            pthread_join(t[i], NULL);
        if (q.failed) {
            *err = q.err;
            rc = -1;
        }
    }
    for (size_t i = 0; i < q.n; i++) {
        free(q.jobs[i].src);
        free(q.jobs[i].dst);
    }
    free(q.jobs);
    pthread_mutex_destroy(&q.lock);
    return rc;
}

static int local_snapshot_prepare(ib_storage *s, const char *dir, ib_err *err)
{
    char *root = ib_path_join(dir, SNAPSHOT_DIR);
    if (!root)
        return no_memory(err, "snapshot prepare", dir);
    int rc = local_mkdirs(s, root, err);
    free(root);
    return rc;
}

static int build_snapshot(ib_storage *s, const char *dir, const snap_paths *p, ib_err *err)
{
    local_storage *ls = (local_storage *)s;
    struct stat st;
    if (lstat(p->final, &st) == 0)
        return ib_err_set(err, IB_E_TARGET_SNAPSHOT, "snapshot %s already exists", p->final);
    if (mkdir(p->tmp, 0750) < 0)
        return local_fail(ls, err, errno, "snapshot mkdir %s", p->tmp);
    /* The tree is made durable before it appears under its name. */
    if (link_tree(ls, dir, p->tmp, err) < 0 || track_path(ls, p->tmp, err) < 0 ||
        local_sync(s, err) < 0 || local_rename(s, p->tmp, p->final, err) < 0) {
        ib_err ignored; /* best effort: the next snapshot removes leftovers */
        local_remove(s, p->tmp, true, &ignored);
        return -1;
    }
    return 0;
}

static int local_snapshot_create(ib_storage *s, const char *dir, const char *name, ib_err *err)
{
    snap_paths p;
    /* A snapshot only ever holds durable files. */
    if (local_sync(s, err) < 0)
        return -1;
    if (check_snapshot_name(dir, name, err) < 0 || snap_paths_make(dir, name, &p, err) < 0)
        return -1;
    int rc = local_snapshot_prepare(s, dir, err);
    if (rc == 0)
        rc = remove_leftovers(s, p.root, err);
    if (rc == 0)
        rc = build_snapshot(s, dir, &p, err);
    snap_paths_free(&p);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int local_snapshot_list(ib_storage *s, const char *dir, char ***names, size_t *n,
                               ib_err *err)
{
    *names = NULL;
    *n = 0;
    ib_storage_entry *entries = NULL;
    size_t len = 0;
    char *root = ib_path_join(dir, SNAPSHOT_DIR);
    if (!root)
        return no_memory(err, "snapshot list", dir);
    struct stat st;
    int rc = 0;
    /* Listing only reads: a ".<name>.tmp" may be a freeze in progress in
     * another process (the worker while the CLI lists copies). Leftovers are
     * removed by snapshot_create, which has one writer per task. */
    if (stat(root, &st) == 0)
        rc = local_list(s, root, &entries, &len, err);
    free(root);
    if (rc < 0)
        return -1;
    char **v = calloc(len ? len : 1, sizeof *v);
    if (!v) {
        ib_storage_entries_free(entries, len);
        return no_memory(err, "snapshot list", dir);
    }
    size_t count = 0;
    for (size_t i = 0; i < len; i++) {
        if (entries[i].name[0] == '.' || !entries[i].is_dir)
            continue;
        v[count++] = entries[i].name; /* moved */
        entries[i].name = NULL;
    }
    ib_storage_entries_free(entries, len);
    qsort(v, count, sizeof *v, name_cmp);
    *names = v;
    *n = count;
    return 0;
}

/* Renamed to its temporary name first, so a crash mid-delete never leaves a
 * half snapshot under its real name; a missing snapshot is already deleted. */
static int local_snapshot_delete(ib_storage *s, const char *dir, const char *name, ib_err *err)
{
    snap_paths p;
    if (check_snapshot_name(dir, name, err) < 0 || snap_paths_make(dir, name, &p, err) < 0)
        return -1;
    struct stat st;
    int rc = 0;
    if (lstat(p.final, &st) < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            rc = local_fail((local_storage *)s, err, errno, "snapshot delete %s", p.final);
    } else if ((rc = local_remove(s, p.tmp, true, err)) == 0 &&
               (rc = local_rename(s, p.final, p.tmp, err)) == 0) {
        rc = local_remove(s, p.tmp, true, err);
    }
    snap_paths_free(&p);
    return rc;
}

/* ---- handle ---- */

static void local_free(ib_storage *s)
{
    local_storage *ls = (local_storage *)s;
    ib_err ignored; /* best effort: callers that need to know call sync */
    local_sync(s, &ignored);
    pthread_rwlock_destroy(&ls->publish);
    pthread_mutex_destroy(&ls->sync_lock);
    pthread_mutex_destroy(&ls->lock);
    free(ls->root);
    free(ls);
}

static const ib_storage_driver local_driver = {
    .name = "LocalDir",
    .features = IB_STORAGE_FEAT_SNAPSHOT,
    .mkdirs = local_mkdirs,
    .put = local_put,
    .get = local_get,
    .stat = local_stat,
    .list = local_list,
    .remove = local_remove,
    .rename = local_rename,
    .snapshot_prepare = local_snapshot_prepare,
    .snapshot_create = local_snapshot_create,
    .snapshot_list = local_snapshot_list,
    .snapshot_delete = local_snapshot_delete,
    .checksum = NULL,
    .sync = local_sync,
    .free = local_free,
};

int ib_storage_local_new(const char *root_hint, double bandwidth_mbps, ib_storage **out,
                         ib_err *err)
{
    *out = NULL;
    local_storage *ls = calloc(1, sizeof *ls);
    if (!ls || !(ls->root = strdup(root_hint ? root_hint : "the target"))) {
        free(ls);
        return ib_err_set(err, IB_E_NOMEM, "storage: out of memory");
    }
    ls->base.drv = &local_driver;
    /* Mbit/s to bytes/s (1 Mbit = 1e6 bits). */
    ls->rate = bandwidth_mbps > 0 ? bandwidth_mbps * 1e6 / 8 : 0;
    ls->last = monotonic_now();
    pthread_mutex_init(&ls->lock, NULL);
    pthread_mutex_init(&ls->sync_lock, NULL);
    /* Writers first: a stream of puts must not hold a sync off. */
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ls->publish, &attr);
    pthread_rwlockattr_destroy(&attr);
    *out = &ls->base;
    return 0;
}
