/* Restore: stream one copy back from the target into a local directory,
 * checking every file's size and CRC32C against the manifest. Each file is
 * written as "<name>.restore-tmp" and renamed into place once complete and
 * checked, so a failed restore never leaves a damaged file under its real
 * name; the file system is synced once at the end, before success. */
#include "ib_crc32c.h"
#include "ib_engine.h"
#include "ib_iotdb_rest.h"
#include "ib_manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RESTORE_TMP_SUFFIX ".restore-tmp"

typedef struct restore {
    const ib_restore_request *req;
    const ib_engine_events *ev;
    ib_restore_result *res;
    ib_storage *st;
    char *task_dir;
    char *copy_dir; /* <task_dir>/.snapshot/<copy> */
    ib_manifest m;
    ib_progress prog;
} restore;

static bool stop_requested(const restore *x)
{
    return x->ev && x->ev->should_stop && x->ev->should_stop(x->ev->ctx);
}

/* ---- the destination directory ---- */

static int check_empty(const char *dir, bool *exists, ib_err *err)
{
    *exists = false;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return ib_err_errno(err, IB_E_RESTORE, errno, "restore directory %s cannot be read", dir);
    }
    *exists = true;
    struct dirent *e;
    bool empty = true;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            empty = false;
    closedir(d);
    if (!empty)
        return ib_err_set(err, IB_E_RESTORE,
                          "restore directory %s is not empty; HINT: use --force to restore into "
                          "it anyway (files of the copy replace files of the same name)",
                          dir);
    return 0;
}

/* mkdir -p for the destination itself (the user's path: symlinks allowed). */
static int make_root(const char *dir, ib_err *err)
{
    char *p = strdup(dir);
    if (!p)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        bool end = *s == '\0';
        if (*s != '/' && !end)
            continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            rc = ib_err_errno(err, IB_E_RESTORE, errno, "cannot create restore directory %s", p);
        if (end)
            break;
        *s = '/';
    }
    free(p);
    return rc;
}

/* Create the directories of rel under root, refusing anything that is not a
 * plain directory (a symlink there could lead the restore outside root). */
static int make_parents(const char *root, const char *rel, ib_err *err)
{
    char *p = ib_path_join(root, rel);
    if (!p)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    int rc = 0;
    char *last = strrchr(p, '/');
    for (char *s = p + strlen(p) - strlen(rel); s <= last && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        struct stat sb;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            rc = ib_err_errno(err, IB_E_RESTORE, errno, "cannot create directory %s", p);
        else if (lstat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
            rc = ib_err_set(err, IB_E_RESTORE,
                            "%s exists and is not a directory; HINT: restore into an empty "
                            "directory",
                            p);
        *s = '/';
    }
    free(p);
    return rc;
}

/* ---- choosing the copy ---- */

static int choose_copy(restore *x, ib_err *err)
{
    ib_copy_info *c = NULL;
    size_t n = 0;
    if (ib_copies_read(x->st, x->task_dir, &c, &n, err) != 0)
        return -1;
    const char *want = x->req->copy;
    const ib_copy_info *pick = NULL;
    for (size_t i = n; i-- > 0 && !pick;) {
        if (want ? strcmp(c[i].name, want) == 0 : c[i].valid)
            pick = &c[i];
    }
    int rc = 0;
    if (!pick)
        rc = want ? ib_err_set(err, IB_E_COPY_NOT_FOUND,
                               "no copy named %s in %s; HINT: 'iotdb-backupctl copies %s' lists "
                               "them",
                               want, x->task_dir, x->req->task->name)
                  : ib_err_set(err, IB_E_COPY_NOT_FOUND,
                               "no valid copy in %s; HINT: run the task first", x->task_dir);
    else if (!pick->valid)
        rc = ib_err_set(err, IB_E_MANIFEST,
                        "copy %s in %s has no valid %s (%s); HINT: restore another copy with "
                        "--copy",
                        pick->name, x->task_dir, IB_MANIFEST_NAME,
                        pick->invalid_reason ? pick->invalid_reason : "unknown reason");
    else
        snprintf(x->res->copy, sizeof x->res->copy, "%s", pick->name);
    ib_copies_free(c, n);
    return rc;
}

/* ---- selecting files ---- */

static bool is_seq_dir(const char *s, size_t len)
{
    return (len == 8 && strncmp(s, "sequence", 8) == 0) ||
           (len == 10 && strncmp(s, "unsequence", 10) == 0);
}

/* The database component of "[<k>/]{sequence,unsequence}/<db>/...". */
static bool path_database(const char *rel, const char **db, size_t *len)
{
    const char *p = rel;
    const char *slash = strchr(p, '/');
    if (!slash)
        return false;
    if (!is_seq_dir(p, (size_t)(slash - p))) {
        p = slash + 1; /* "<k>/" of several data dirs */
        slash = strchr(p, '/');
        if (!slash || !is_seq_dir(p, (size_t)(slash - p)))
            return false;
    }
    *db = slash + 1;
    const char *end = strchr(*db, '/');
    *len = end ? (size_t)(end - *db) : strlen(*db);
    return true;
}

static bool path_in_database(const char *rel, const char *want)
{
    const char *db;
    size_t len;
    return path_database(rel, &db, &len) && strlen(want) == len && strncmp(db, want, len) == 0;
}

static bool wanted(const restore *x, const char *rel)
{
    if (x->req->n_databases == 0)
        return true;
    for (size_t i = 0; i < x->req->n_databases; i++)
        if (path_in_database(rel, x->req->databases[i]))
            return true;
    return false;
}

/* Every requested database must have files in the copy. */
static int check_databases(restore *x, ib_err *err)
{
    for (size_t d = 0; d < x->req->n_databases; d++) {
        bool any = false;
        for (size_t i = 0; i < x->m.n_files && !any; i++)
            any = path_in_database(x->m.files[i].path, x->req->databases[d]);
        if (!any)
            return ib_err_set(err, IB_E_RESTORE,
                              "copy %s holds no files of database %s; HINT: 'iotdb-backupctl "
                              "copies %s' shows the copies, check the database name",
                              x->res->copy, x->req->databases[d], x->req->task->name);
    }
    return 0;
}

/* ---- streaming one file ---- */

typedef struct file_sink {
    const restore *x;
    int fd;
    const char *path;
    uint32_t crc;
    int64_t size;
} file_sink;

static int sink_write(void *ctx, const void *buf, size_t len, ib_err *err)
{
    file_sink *fs = ctx;
    if (stop_requested(fs->x))
        return ib_err_set(err, IB_E_INTERRUPTED, "restore stopped before it finished");
    fs->crc = ib_crc32c(fs->crc, buf, len);
    fs->size += (int64_t)len;
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fs->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return ib_err_errno(err, IB_E_RESTORE, errno, "writing %s", fs->path);
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static int check_file(const restore *x, const ib_manifest_file *mf, const file_sink *fs,
                      ib_err *err)
{
    if (fs->size != mf->size)
        return ib_err_set(err, IB_E_CHECKSUM,
                          "%s in copy %s: %lld bytes on the target, the manifest says %lld: the "
                          "copy is damaged; HINT: restore another copy with --copy",
                          mf->path, x->res->copy, (long long)fs->size, (long long)mf->size);
    if (fs->crc != mf->crc32c)
        return ib_err_set(err, IB_E_CHECKSUM,
                          "%s in copy %s: checksum crc32c %08x, the manifest says %08x: the copy "
                          "is damaged; HINT: restore another copy with --copy",
                          mf->path, x->res->copy, (unsigned)fs->crc, (unsigned)mf->crc32c);
    return 0;
}

static int finish_file(const ib_manifest_file *mf, file_sink *fs, const char *final, ib_err *err)
{
    struct timespec times[2] = {
        {.tv_nsec = UTIME_OMIT},
        {.tv_sec = mf->mtime_ms / 1000, .tv_nsec = (mf->mtime_ms % 1000) * 1000000},
    };
    if (mf->mtime_ms > 0)
        futimens(fs->fd, times); /* cosmetic: a failure does not fail the restore */
    /* No fsync per file: restore_files syncs the whole file system once at
     * the end, and the restore only reports success after that. */
    if (rename(fs->path, final) != 0)
        return ib_err_errno(err, IB_E_RESTORE, errno, "renaming %s to %s", fs->path, final);
    return 0;
}

static int restore_one(restore *x, const ib_manifest_file *mf, ib_err *err)
{
    if (!ib_path_is_safe_relative(mf->path))
        return ib_err_set(err, IB_E_MANIFEST,
                          "copy %s: manifest path \"%s\" escapes the restore dir; HINT: the "
                          "manifest was tampered with, restore another copy",
                          x->res->copy, mf->path);
    if (make_parents(x->req->to_dir, mf->path, err) != 0)
        return -1;
    char *final = ib_path_join(x->req->to_dir, mf->path);
    char *src = ib_path_join(x->copy_dir, mf->path);
    size_t tl = final ? strlen(final) + sizeof RESTORE_TMP_SUFFIX : 0;
    char *tmp = final ? malloc(tl) : NULL;
    if (!final || !src || !tmp) {
        free(final);
        free(src);
        free(tmp);
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    }
    snprintf(tmp, tl, "%s%s", final, RESTORE_TMP_SUFFIX);
    file_sink fs = {.x = x, .path = tmp};
    fs.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    int rc = fs.fd < 0 ? ib_err_errno(err, IB_E_RESTORE, errno, "cannot create %s", tmp) : 0;
    if (rc == 0) {
        ib_writer w = {.ctx = &fs, .write = sink_write};
        rc = x->st->drv->get(x->st, src, &w, err);
        if (rc == 0)
            rc = check_file(x, mf, &fs, err);
        if (rc == 0)
            rc = finish_file(mf, &fs, final, err);
        close(fs.fd);
        if (rc != 0)
            unlink(tmp);
    }
    free(final);
    free(src);
    free(tmp);
    return rc;
}

/* One syncfs makes every restored file, and every directory entry naming
 * it, durable; much cheaper than an fsync per file and per directory. */
static int sync_restored(const char *dir, ib_err *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ib_err_errno(err, IB_E_RESTORE, errno, "opening %s to sync it", dir);
    int rc = syncfs(fd);
    int e = errno;
    close(fd);
    if (rc != 0)
        return ib_err_errno(err, IB_E_RESTORE, e,
                            "syncing the restored files in %s: they may not be on disk; HINT: "
                            "check the file system, then restore again with --force",
                            dir);
    return 0;
}

static int restore_files(restore *x, ib_err *err)
{
    x->prog.phase = "restore";
    for (size_t i = 0; i < x->m.n_files; i++) {
        if (wanted(x, x->m.files[i].path)) {
            x->prog.files_total++;
            x->prog.bytes_total += x->m.files[i].size;
        }
    }
    for (size_t i = 0; i < x->m.n_files; i++) {
        const ib_manifest_file *mf = &x->m.files[i];
        if (!wanted(x, mf->path))
            continue;
        if (stop_requested(x))
            return ib_err_set(err, IB_E_INTERRUPTED, "restore stopped before it finished");
        if (restore_one(x, mf, err) != 0)
            return -1;
        x->res->files++;
        x->res->bytes += mf->size;
        x->prog.files_done++;
        x->prog.bytes_done += mf->size;
        if (x->ev && x->ev->progress)
            x->ev->progress(x->ev->ctx, &x->prog);
    }
    return sync_restored(x->req->to_dir, err);
}

/* ---- the restore ---- */

static int load_into_iotdb(restore *x, ib_err *err)
{
    ib_rest *rest = NULL;
    if (ib_rest_new(x->req->task->source.rest, &rest, err) != 0)
        return -1;
    ib_engine_logf(x->ev, 6, "loading %s into IoTDB", x->req->to_dir);
    int rc = ib_rest_load(rest, x->req->to_dir, err);
    ib_rest_free(rest);
    if (rc != 0)
        return ib_err_prefix(err, "files restored to %s, but LOAD failed", x->req->to_dir);
    return 0;
}

static int restore_steps(restore *x, ib_err *err)
{
    const ib_restore_request *req = x->req;
    if (!req->to_dir || !*req->to_dir)
        return ib_err_set(err, IB_E_USAGE, "restore needs a destination directory (--to DIR)");
    if (req->load && !req->task->source.rest)
        return ib_err_set(err, IB_E_RESTORE,
                          "--load needs source.rest in task %s; HINT: add source.rest, or "
                          "restore without --load and load the files with IoTDB's LOAD",
                          req->task->name);
    bool exists = false;
    if (check_empty(req->to_dir, &exists, err) != 0 && !(req->force && exists))
        return -1;
    if (ib_storage_open(&req->task->target, 0, &x->st, err) != 0 ||
        ib_engine_find_task_dir(x->st, req->task, req->task_dir_name, x->ev, &x->task_dir, err) !=
            0 ||
        choose_copy(x, err) != 0)
        return -1;
    if (ib_copy_read_manifest(x->st, x->task_dir, x->res->copy, &x->m, err) != 0 ||
        check_databases(x, err) != 0)
        return -1;
    char *snapdir = ib_path_join(x->task_dir, ".snapshot");
    x->copy_dir = snapdir ? ib_path_join(snapdir, x->res->copy) : NULL;
    free(snapdir);
    if (!x->copy_dir)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    ib_engine_logf(x->ev, 6, "restoring copy %s of task %s into %s", x->res->copy, req->task->name,
                   req->to_dir);
    if (make_root(req->to_dir, err) != 0 || restore_files(x, err) != 0)
        return -1;
    ib_engine_logf(x->ev, 7, "restored copy %s: %lld files, %lld bytes, checksums verified",
                   x->res->copy, (long long)x->res->files, (long long)x->res->bytes);
    return req->load ? load_into_iotdb(x, err) : 0;
}

int ib_restore_run(const ib_restore_request *req, const ib_engine_events *ev,
                   ib_restore_result *res, ib_err *err)
{
    memset(res, 0, sizeof *res);
    restore x = {.req = req, .ev = ev, .res = res};
    ib_manifest_init(&x.m);
    int rc = restore_steps(&x, err);
    ib_manifest_free(&x.m);
    free(x.copy_dir);
    free(x.task_dir);
    ib_storage_free(x.st);
    return rc;
}
