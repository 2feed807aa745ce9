/* The source: which databases a task backs up, and a point-in-time snapshot
 * of their sealed TsFiles in a staging area (hard links for immutable files,
 * copies for the append-only .mods files). */
#include "ib_source.h"

#include "ib_iotdb_rest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* A partition is scanned at most this often before it is reported busy. */
#define SCAN_TRIES 5
#define BACKOFF_FIRST_MS 50
#define BACKOFF_MAX_MS 200
#define COPY_BUF 65536

static const char *const KINDS[] = {"sequence", "unsequence"};

/* ---- small helpers ---- */

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static int sv_push(strvec *s, const char *str)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return -1;
        s->v = v;
        s->cap = cap;
    }
    char *copy = strdup(str);
    if (!copy)
        return -1;
    s->v[s->n++] = copy;
    return 0;
}

static void sv_free(strvec *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void sv_sort_unique(strvec *s)
{
    if (s->n == 0)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_str);
    size_t w = 1;
    for (size_t r = 1; r < s->n; r++) {
        if (strcmp(s->v[r], s->v[w - 1]) == 0)
            free(s->v[r]);
        else
            s->v[w++] = s->v[r];
    }
    s->n = w;
}

static bool sv_contains(const char *const *v, size_t n, const char *str)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], str) == 0)
            return true;
    return false;
}

static bool sv_equal(const strvec *a, const strvec *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0)
            return false;
    return true;
}

static char *path_join(const char *a, const char *b)
{
    char *out = NULL;
    if (asprintf(&out, "%s/%s", a, b) < 0)
        return NULL;
    return out;
}

static void log_msg(const ib_source_events *ev, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The caller's log callback, under lock when one is given (staging lanes). */
static void log_va(const ib_source_events *ev, pthread_mutex_t *lock, int prio, const char *fmt,
                   va_list ap)
{
    if (!ev || !ev->log)
        return;
    char buf[1024];
    vsnprintf(buf, sizeof buf, fmt, ap);
    if (lock)
        pthread_mutex_lock(lock);
    ev->log(ev->ctx, prio, buf);
    if (lock)
        pthread_mutex_unlock(lock);
}

static void log_msg(const ib_source_events *ev, int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(ev, NULL, prio, fmt, ap);
    va_end(ap);
}

static bool should_stop(const ib_source_events *ev)
{
    return ev && ev->should_stop && ev->should_stop(ev->ctx);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int nomem(ib_err *err)
{
    return ib_err_set(err, IB_E_NOMEM, "out of memory");
}

/* A database name becomes one directory name: refuse anything that could
 * leave the data dir. */
static bool database_name_ok(const char *db)
{
    return db[0] != '\0' && strchr(db, '/') == NULL && strcmp(db, ".") != 0 &&
           strcmp(db, "..") != 0;
}

/* "/a, /b" for messages. */
static void join_dirs(const ib_source *src, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < src->n_data_dirs && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", src->data_dirs[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* ---- directories ---- */

/* 0 when dir is a directory; IB_E_SOURCE_MISSING / IB_E_SOURCE_READ else. */
static int check_data_dir(const char *dir, ib_err *err)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return ib_err_set(err, IB_E_SOURCE_MISSING,
                              "data dir %s does not exist; HINT: check source.data_dirs "
                              "(IoTDB's dn_data_dirs)",
                              dir);
        return ib_err_errno(err, IB_E_SOURCE_READ, errno, "cannot access data dir %s", dir);
    }
    if (!S_ISDIR(st.st_mode))
        return ib_err_set(err, IB_E_SOURCE_MISSING, "data dir %s is not a directory", dir);
    return 0;
}

/* Names in dir (without "." and ".."), sorted. With dirs_only, only
 * subdirectories. A missing dir is an empty list when missing_ok. */
static int list_dir(const char *dir, bool dirs_only, bool missing_ok, strvec *out, ib_err *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (missing_ok && errno == ENOENT)
            return 0;
        return ib_err_errno(err, IB_E_SOURCE_READ, errno, "cannot list %s", dir);
    }
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (dirs_only) {
            struct stat st;
            bool is_dir = e->d_type == DT_DIR;
            if (e->d_type == DT_UNKNOWN || e->d_type == DT_LNK)
                is_dir = fstatat(dirfd(d), e->d_name, &st, 0) == 0 && S_ISDIR(st.st_mode);
            if (!is_dir)
                continue;
        }
        if (sv_push(out, e->d_name) != 0) {
            rc = nomem(err);
            break;
        }
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = ib_err_errno(err, IB_E_SOURCE_READ, errno, "cannot list %s", dir);
    closedir(d);
    if (rc == 0)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return rc;
}

static int mkdir_p(const char *path, ib_err *err)
{
    if (path[0] == '\0')
        return ib_err_set(err, IB_E_STAGING, "empty staging dir path");
    char *p = strdup(path);
    if (!p)
        return nomem(err);
    int rc = 0;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            rc = ib_err_errno(err, IB_E_STAGING, errno, "cannot create staging dir %s", p);
            break;
        }
        *s = saved;
        if (saved == '\0')
            break;
    }
    free(p);
    return rc;
}

/* Remove name (file or tree) inside the directory parent, without leaving
 * the file system dev: a file system mounted inside is not ours to empty
 * (its mount point stays, EBUSY). Errors other than ENOENT are returned as
 * errno values; removal goes on as far as it can. */
static int remove_at(int parent, const char *name, dev_t dev)
{
    if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR && errno != EPERM)
        return errno;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return e;
    }
    if (st.st_dev != dev) { /* a mount point: left, EBUSY */
        close(fd);
        return unlinkat(parent, name, AT_REMOVEDIR) == 0 ? 0 : errno;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return e;
    }
    int first_err = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int r = remove_at(dirfd(d), e->d_name, dev);
        if (r && !first_err)
            first_err = r;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT && !first_err)
        first_err = errno;
    return first_err;
}

static int remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : errno;
    return remove_at(AT_FDCWD, path, st.st_dev);
}

/* ---- databases ---- */

int ib_source_list_databases(const ib_source *src, char ***names, size_t *n, ib_err *err)
{
    *names = NULL;
    *n = 0;
    strvec all = {0};
    for (size_t i = 0; i < src->n_data_dirs; i++) {
        if (check_data_dir(src->data_dirs[i], err) != 0)
            goto fail;
        for (size_t k = 0; k < 2; k++) {
            char *dir = path_join(src->data_dirs[i], KINDS[k]);
            if (!dir) {
                nomem(err);
                goto fail;
            }
            int rc = list_dir(dir, true, true, &all, err);
            free(dir);
            if (rc != 0)
                goto fail;
        }
    }
    sv_sort_unique(&all);
    *names = all.v;
    *n = all.n;
    return 0;
fail:
    sv_free(&all);
    return -1;
}

static int select_named(const ib_source *src, const char *const *available, size_t n_available,
                        strvec *out, ib_err *err)
{
    char missing[512] = "";
    size_t n_missing = 0, used = 0;
    for (size_t i = 0; i < src->n_databases; i++) {
        const char *db = src->databases[i];
        if (sv_contains(available, n_available, db)) {
            if (sv_push(out, db) != 0)
                return nomem(err);
            continue;
        }
        int w =
            snprintf(missing + used, sizeof missing - used, "%s\"%s\"", n_missing ? ", " : "", db);
        if (w > 0 && (size_t)w < sizeof missing - used)
            used += (size_t)w;
        n_missing++;
    }
    if (n_missing == 0)
        return 0;
    char dirs[512];
    join_dirs(src, dirs, sizeof dirs);
    return ib_err_set(err, IB_E_SOURCE_MISSING,
                      "data to be backed up does not exist: database%s %s %s no data in %s; "
                      "HINT: check source.databases against SHOW DATABASES",
                      n_missing > 1 ? "s" : "", missing, n_missing > 1 ? "have" : "has", dirs);
}

/* Patterns are matched unanchored, as regexec does: "^" and "$" are the
 * user's to write when they want the whole name matched. */
static int select_patterns(const ib_source *src, const char *const *available, size_t n_available,
                           const ib_source_events *ev, strvec *out, ib_err *err)
{
    for (size_t i = 0; i < src->n_database_patterns; i++) {
        const char *pat = src->database_patterns[i];
        regex_t re;
        int rc = regcomp(&re, pat, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[256];
            regerror(rc, &re, why, sizeof why);
            return ib_err_set(err, IB_E_TASK_FIELD, "database pattern \"%s\" is invalid: %s", pat,
                              why);
        }
        size_t matched = 0;
        for (size_t j = 0; j < n_available; j++) {
            if (regexec(&re, available[j], 0, NULL, 0) != 0)
                continue;
            matched++;
            if (sv_push(out, available[j]) != 0) {
                regfree(&re);
                return nomem(err);
            }
        }
        regfree(&re);
        if (matched == 0)
            log_msg(ev, LOG_WARNING, "database pattern \"%s\" matches no database (%zu known)", pat,
                    n_available);
    }
    return 0;
}

int ib_source_select(const ib_source *src, const char *const *available, size_t n_available,
                     const ib_source_events *ev, char ***selected, size_t *n_selected, ib_err *err)
{
    *selected = NULL;
    *n_selected = 0;
    char **listed = NULL;
    size_t n_listed = 0;
    if (!available) {
        /* No list from IoTDB: the databases are what the data dirs hold. */
        if (ib_source_list_databases(src, &listed, &n_listed, err) != 0)
            return -1;
        available = (const char *const *)listed;
        n_available = n_listed;
    }
    strvec out = {0};
    int rc = select_named(src, available, n_available, &out, err);
    if (rc == 0)
        rc = select_patterns(src, available, n_available, ev, &out, err);
    ib_strv_free(listed, n_listed);
    if (rc != 0) {
        sv_free(&out);
        return -1;
    }
    /* An empty selection would freeze an empty copy and, run after run, prune
     * every real one (IoTDB restarting, a data dir not mounted yet). */
    if (out.n == 0) {
        sv_free(&out);
        return ib_err_set(err, IB_E_SOURCE_MISSING,
                          "data to be backed up does not exist: no database matches the task's "
                          "database_patterns (%zu database(s) known). HINT: check that IoTDB is "
                          "up and the data dirs are mounted",
                          n_available);
    }
    sv_sort_unique(&out);
    *selected = out.v;
    *n_selected = out.n;
    return 0;
}

/* ---- file names ---- */

static const char *skip_digits(const char *s)
{
    const char *p = s;
    while (*p >= '0' && *p <= '9')
        p++;
    return p == s ? NULL : p;
}

/* "<time>-<version>-<inner>-<cross>.tsfile" */
static bool is_tsfile_name(const char *name)
{
    const char *p = name;
    for (int i = 0; i < 4; i++) {
        p = skip_digits(p);
        if (!p)
            return false;
        if (i < 3 && *p++ != '-')
            return false;
    }
    return strcmp(p, ".tsfile") == 0;
}

/* IoTDB's compaction logs: ".inner-compaction.log", ".cross-compaction.log",
 * ".insertion-compaction.log", ".settle-compaction.log", and the older
 * ".compaction.log" and "merge.log". */
static bool is_compaction_log(const char *name)
{
    size_t len = strlen(name);
    const char *suffix = "compaction.log";
    size_t sl = strlen(suffix);
    return (len >= sl && strcmp(name + len - sl, suffix) == 0) || strcmp(name, "merge.log") == 0;
}

static bool listed(const strvec *names, const char *name)
{
    return bsearch(&name, names->v, names->n, sizeof *names->v, cmp_str) != NULL;
}

/* True when name is the resource or mods of a tsfile in the listing. */
static bool is_companion(const strvec *names, const char *name)
{
    static const char *const SUFFIXES[] = {".resource", ".mods", ".mods2"};
    size_t len = strlen(name);
    for (size_t k = 0; k < 3; k++) {
        size_t sl = strlen(SUFFIXES[k]);
        if (len <= sl || len - sl > NAME_MAX || strcmp(name + len - sl, SUFFIXES[k]) != 0)
            continue;
        char base[NAME_MAX + 1];
        memcpy(base, name, len - sl);
        base[len - sl] = '\0';
        if (is_tsfile_name(base) && listed(names, base))
            return true;
    }
    return false;
}

/* ---- the snapshot under construction ---- */

/* One space of a partition: its sequence/ or its unsequence/ directory. */
typedef struct part_loc {
    const char *src_dir;    /* <data dir>/<kind>/<db>/<region>/<partition> */
    const char *rel_dir;    /* [<k>/]<kind>/<db>/<region>/<partition> */
    const char *staged_dir; /* <staging>/<rel_dir> */
    const char *db;
} part_loc;

/* A partition of one data dir: both spaces, taken as one unit. Insertion
 * compaction hard-links an unsequence file into sequence/ under a new name,
 * then deletes it; cross-space compaction writes into sequence/ and deletes
 * from both. Each space checked on its own could look stable while a file
 * moved from the space not listed yet into the one already accepted, and the
 * copy would miss it. */
typedef struct part_unit {
    part_loc sp[2];       /* indexed like KINDS */
    const char *name;     /* <db>/<region>/<partition>, for messages */
    const char *data_dir; /* for messages */
    size_t dir;           /* the data dir's index */
} part_unit;

/* A partition found by the walk, owning the strings its unit points to. */
typedef struct unit_job {
    part_unit u;
    char *src[2], *rel[2], *staged[2], *name;
} unit_job;

/* Partitions are staged by up to STAGE_LANES threads at once, each taking
 * whole partitions: with many small files the links, stats and head reads
 * of one thread were a third of a run. */
#define STAGE_LANES 4

/* What the lanes share. The lock also serialises the caller's callbacks. */
typedef struct stage_shared {
    pthread_mutex_t lock;
    const ib_source_events *ev;
    ib_snapshot *snap;
    atomic_bool *can_link; /* per data dir: false once link() was refused */
    unit_job *jobs;
    size_t n_jobs, cap_jobs, next;
    bool failed;
    ib_err err; /* the first failure */
} stage_shared;

/* One lane: stages whole partitions into a file list of its own. */
typedef struct snap_ctx {
    stage_shared *sh;
    const part_unit *unit; /* the partition being staged */
    size_t job;            /* its index: the walk's order */
    ib_source_file *files;
    size_t n_files, cap;
    size_t version_job; /* job of the first valid TsFile head seen, SIZE_MAX: none */
    int version;
} snap_ctx;

static void lane_log(snap_ctx *c, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void lane_log(snap_ctx *c, int prio, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(c->sh->ev, &c->sh->lock, prio, fmt, ap);
    va_end(ap);
}

static void file_clear(ib_source_file *f)
{
    free(f->rel);
    free(f->staged);
    free(f->database);
}

static int add_file(snap_ctx *c, const char *rel, const char *staged, ib_file_kind kind,
                    const char *db, const struct stat *st, ib_err *err)
{
    if (c->n_files == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        ib_source_file *v = realloc(c->files, cap * sizeof *v);
        if (!v)
            return nomem(err);
        c->files = v;
        c->cap = cap;
    }
    ib_source_file *f = &c->files[c->n_files];
    f->rel = strdup(rel);
    f->staged = strdup(staged);
    f->database = strdup(db);
    f->kind = kind;
    f->size = (int64_t)st->st_size;
    f->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
    if (!f->rel || !f->staged || !f->database) {
        file_clear(f);
        return nomem(err);
    }
    c->n_files++;
    return 0;
}

/* Drop the files staged since mark (a partition being rescanned). */
static void rollback_files(snap_ctx *c, size_t mark)
{
    while (c->n_files > mark) {
        ib_source_file *f = &c->files[--c->n_files];
        unlink(f->staged);
        file_clear(f);
    }
}

/* Check the TsFile head magic, and take the format version from the first
 * valid file in the walk's order. A bad head is backed up anyway (skipping
 * it would lose data) but reported. */
static void check_tsfile_head(snap_ctx *c, int fd, const char *path)
{
    unsigned char head[7];
    ssize_t got = pread(fd, head, sizeof head, 0);
    if (got != (ssize_t)sizeof head || memcmp(head, "TsFile", 6) != 0) {
        lane_log(c, LOG_WARNING,
                 "%s does not start with the TsFile magic: backing it up as it is (it may be "
                 "damaged)",
                 path);
        return;
    }
    if (c->job < c->version_job) {
        c->version_job = c->job;
        c->version = head[6];
    }
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Staging holds copies only when hard links fail, so a full disk there has
 * a cure besides freeing space. */
static int staging_write_error(int errnum, const char *dst, ib_err *err)
{
    if (errnum != ENOSPC && errnum != EDQUOT)
        return ib_err_errno(err, IB_E_STAGING, errnum, "cannot write %s", dst);
    return ib_err_set(err, IB_E_STAGING,
                      "cannot write %s: %s. HINT: free space there, or put staging_dir on the "
                      "file system of the data dirs (files are then hard-linked, not copied)",
                      dst, strerror(errnum));
}

/* Stream in (src_path) into a new file dst. With text_mods, a trailing line
 * without '\n' (a deletion being appended right now) is left out. The copy
 * keeps the source's mtime. */
static int copy_fd(snap_ctx *c, int in, const char *src_path, const char *dst, bool text_mods,
                   ib_err *err)
{
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return ib_err_errno(err, IB_E_STAGING, errno, "cannot create %s", dst);
    char *buf = malloc(COPY_BUF);
    if (!buf) {
        close(out);
        return nomem(err);
    }
    int rc = 0;
    off_t total = 0, keep = 0;
    for (;;) {
        ssize_t r = read(in, buf, COPY_BUF);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ib_err_errno(err, IB_E_SOURCE_READ, errno, "cannot read %s", src_path);
            break;
        }
        if (r == 0)
            break;
        if (write_all(out, buf, (size_t)r) != 0) {
            rc = staging_write_error(errno, dst, err);
            break;
        }
        for (ssize_t i = r; i > 0; i--)
            if (buf[i - 1] == '\n') {
                keep = total + i;
                break;
            }
        total += r;
    }
    free(buf);
    if (rc == 0 && text_mods && keep != total) {
        lane_log(c, LOG_DEBUG, "%s: leaving out a partial last line (%lld bytes)", src_path,
                 (long long)(total - keep));
        if (ftruncate(out, keep) != 0)
            rc = ib_err_errno(err, IB_E_STAGING, errno, "cannot truncate %s", dst);
    }
    struct stat st;
    if (rc == 0 && fstat(in, &st) == 0) {
        struct timespec times[2] = {st.st_atim, st.st_mtim};
        futimens(out, times);
    }
    if (close(out) != 0 && rc == 0)
        rc = staging_write_error(errno, dst, err);
    if (rc != 0)
        unlink(dst);
    return rc;
}

/* A failed link() that copying can replace: other file system, or a
 * kernel refusing links to files of another user (protected_hardlinks). */
static void note_link_fallback(snap_ctx *c, int errnum)
{
    stage_shared *sh = c->sh;
    if (!atomic_exchange(&sh->can_link[c->unit->dir], false))
        return; /* another lane saw it first and said so */
    pthread_mutex_lock(&sh->lock);
    sh->snap->linked = false;
    pthread_mutex_unlock(&sh->lock);
    const char *staging_dir = sh->snap->staging_dir, *data_dir = c->unit->data_dir;
    if (errnum == EXDEV)
        lane_log(c, LOG_WARNING,
                 "staging dir %s is on another file system than data dir %s: copying instead of "
                 "hard-linking; HINT: set staging_dir on the same file system",
                 staging_dir, data_dir);
    else
        lane_log(c, LOG_WARNING,
                 "cannot hard-link files of data dir %s into staging dir %s (%s): copying "
                 "instead; HINT: run the daemon as the user owning the IoTDB data",
                 data_dir, staging_dir, strerror(errnum));
}

/* Stage one file. Returns 0, 1 when the source vanished (compaction won:
 * rescan the partition), or -1. */
static int stage_file(snap_ctx *c, const char *src_path, const char *dst, ib_file_kind kind,
                      ib_err *err)
{
    /* O_NONBLOCK: a FIFO or device planted in a data dir must not hang the run. */
    int in = open(src_path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (in < 0) {
        if (errno == ENOENT)
            return 1;
        return ib_err_errno(err, IB_E_SOURCE_READ, errno, "cannot read %s", src_path);
    }
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return ib_err_set(err, IB_E_SOURCE_READ, "cannot read %s: not a regular file", src_path);
    }
    if (kind == IB_FILE_TSFILE)
        check_tsfile_head(c, in, src_path);
    int rc = 0;
    bool linked = false;
    if (kind != IB_FILE_MODS && atomic_load(&c->sh->can_link[c->unit->dir])) {
        if (link(src_path, dst) == 0)
            linked = true;
        else if (errno == ENOENT)
            rc = 1;
        else if (errno == EXDEV || errno == EPERM)
            note_link_fallback(c, errno);
        else
            rc = ib_err_errno(err, IB_E_STAGING, errno, "cannot hard-link %s to %s", src_path, dst);
    }
    if (rc == 0 && !linked) {
        size_t len = strlen(src_path);
        bool text_mods =
            kind == IB_FILE_MODS && len > 5 && strcmp(src_path + len - 5, ".mods") == 0;
        rc = copy_fd(c, in, src_path, dst, text_mods, err);
    }
    close(in);
    return rc;
}

static int stage_named(snap_ctx *c, const part_loc *p, const char *name, ib_file_kind kind,
                       ib_err *err)
{
    char *src = path_join(p->src_dir, name);
    char *rel = path_join(p->rel_dir, name);
    char *dst = path_join(p->staged_dir, name);
    int rc = (!src || !rel || !dst) ? nomem(err) : stage_file(c, src, dst, kind, err);
    if (rc == 0) {
        struct stat st;
        if (lstat(dst, &st) != 0)
            rc = ib_err_errno(err, IB_E_STAGING, errno, "cannot stat %s", dst);
        else if (add_file(c, rel, dst, kind, p->db, &st, err) != 0) {
            unlink(dst);
            rc = -1;
        }
    }
    free(src);
    free(rel);
    free(dst);
    return rc;
}

/* Stage a sealed tsfile with its resource and mods. 0, 1 (vanished), -1. */
static int stage_sealed(snap_ctx *c, const part_loc *p, const strvec *names, const char *ts,
                        ib_err *err)
{
    static const char *const MODS[] = {".mods", ".mods2"};
    char companion[NAME_MAX + 16];
    int rc = stage_named(c, p, ts, IB_FILE_TSFILE, err);
    snprintf(companion, sizeof companion, "%s.resource", ts);
    if (rc == 0)
        rc = stage_named(c, p, companion, IB_FILE_RESOURCE, err);
    for (size_t k = 0; k < 2 && rc == 0; k++) {
        snprintf(companion, sizeof companion, "%s%s", ts, MODS[k]);
        if (listed(names, companion))
            rc = stage_named(c, p, companion, IB_FILE_MODS, err);
    }
    return rc;
}

/* Stage what one listing of a partition holds. 0, 1 (vanished), -1. */
static int stage_listing(snap_ctx *c, const part_loc *p, const strvec *names, ib_err *err)
{
    for (size_t i = 0; i < names->n; i++) {
        const char *name = names->v[i];
        char res[NAME_MAX + 16];
        snprintf(res, sizeof res, "%s.resource", name);
        if (is_tsfile_name(name) && listed(names, res)) {
            int rc = stage_sealed(c, p, names, name, err);
            if (rc != 0)
                return rc;
        } else if (is_tsfile_name(name)) {
            lane_log(c, LOG_DEBUG, "skipping %s/%s: working file (not sealed yet)", p->src_dir,
                     name);
        } else if (!is_companion(names, name)) {
            lane_log(c, LOG_DEBUG, "skipping %s/%s: temporary or unknown file", p->src_dir, name);
        }
    }
    return 0;
}

/* The space's entries, sorted (a missing dir: none, the partition may live
 * in the other space only); *busy_log names a compaction log. */
static int scan_partition(const char *dir, strvec *names, char *busy_log, size_t n, ib_err *err)
{
    busy_log[0] = '\0';
    if (list_dir(dir, false, true, names, err) != 0)
        return -1;
    for (size_t i = 0; i < names->n; i++)
        if (is_compaction_log(names->v[i])) {
            snprintf(busy_log, n, "%s", names->v[i]);
            break;
        }
    return 0;
}

/* One listing of both spaces of a partition. */
typedef struct unit_scan {
    strvec names[2];
    int busy; /* index of a space holding a compaction log, -1: none */
    char busy_log[NAME_MAX + 1];
} unit_scan;

static void scan_free(unit_scan *s)
{
    sv_free(&s->names[0]);
    sv_free(&s->names[1]);
}

static int scan_unit(const part_unit *u, unit_scan *s, ib_err *err)
{
    s->busy = -1;
    for (int k = 0; k < 2; k++) {
        char log[NAME_MAX + 1];
        if (scan_partition(u->sp[k].src_dir, &s->names[k], log, sizeof log, err) != 0)
            return -1;
        if (log[0] && s->busy < 0) {
            s->busy = k;
            snprintf(s->busy_log, sizeof s->busy_log, "%s", log);
        }
    }
    return 0;
}

/* Stage one space's listing. 0, 1 (vanished), -1. */
static int stage_space(snap_ctx *c, const part_loc *p, const strvec *names, int attempt,
                       ib_err *err)
{
    if (names->n == 0)
        return 0;
    if (mkdir_p(p->staged_dir, err) != 0)
        return -1;
    int rc = stage_listing(c, p, names, err);
    if (rc == 1)
        lane_log(c, LOG_DEBUG,
                 "partition %s: a file vanished while staging (compaction), rescanning (%d/%d)",
                 p->src_dir, attempt, SCAN_TRIES);
    return rc;
}

/* 1 (logged) when the second listing differs from the first in either space
 * or shows a compaction log, else 0. */
static int unit_changed(snap_ctx *c, const part_unit *u, const unit_scan *before,
                        const unit_scan *after, int attempt)
{
    for (int k = 0; k < 2; k++)
        if (after->busy == k || !sv_equal(&before->names[k], &after->names[k])) {
            lane_log(c, LOG_DEBUG, "partition %s changed while staging, rescanning (%d/%d)",
                     u->sp[k].src_dir, attempt, SCAN_TRIES);
            return 1;
        }
    return 0;
}

/* One attempt: list both spaces, stage both, list both again. Accepted only
 * when neither listing changed: every file present at any moment between
 * the two listings is then in one of them. 0 accepted, 1 changed/busy
 * (retry), -1 error. */
static int try_unit(snap_ctx *c, const part_unit *u, int attempt, ib_err *err)
{
    unit_scan before = {0}, after = {0};
    size_t mark = c->n_files;
    int rc = scan_unit(u, &before, err);
    if (rc == 0 && before.busy >= 0) {
        lane_log(c, LOG_DEBUG, "partition %s: compaction in progress (%s), rescanning (%d/%d)",
                 u->sp[before.busy].src_dir, before.busy_log, attempt, SCAN_TRIES);
        rc = 1;
    }
    for (int k = 0; k < 2 && rc == 0; k++)
        rc = stage_space(c, &u->sp[k], &before.names[k], attempt, err);
    if (rc == 0)
        rc = scan_unit(u, &after, err);
    if (rc == 0)
        rc = unit_changed(c, u, &before, &after, attempt);
    if (rc != 0)
        rollback_files(c, mark);
    scan_free(&before);
    scan_free(&after);
    return rc;
}

static int stage_unit(snap_ctx *c, const part_unit *u, ib_err *err)
{
    long backoff = BACKOFF_FIRST_MS;
    for (int attempt = 1; attempt <= SCAN_TRIES; attempt++) {
        int rc = try_unit(c, u, attempt, err);
        if (rc <= 0)
            return rc;
        if (attempt < SCAN_TRIES) {
            sleep_ms(backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
        }
    }
    return ib_err_set(err, IB_E_SOURCE_BUSY,
                      "partition %s of data dir %s kept changing (compaction in progress) after "
                      "%d scans of %s and %s; HINT: the next run will retry; frequent failures "
                      "mean compaction is constantly busy there",
                      u->name, u->data_dir, SCAN_TRIES, u->sp[0].src_dir, u->sp[1].src_dir);
}

/* ---- the walk ---- */

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *str_printf(const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : out;
}

typedef struct walk_pos {
    size_t k;     /* data dir index */
    bool several; /* several data dirs: rel paths start with "<k>/" */
    const char *db;
} walk_pos;

/* Subdirectories of <data dir>/sequence/<sub> and <data dir>/unsequence/<sub>:
 * the union, sorted; a region or partition may exist in one space only. */
static int list_both(const char *data_dir, const char *sub, strvec *out, ib_err *err)
{
    for (size_t k = 0; k < 2; k++) {
        char *dir = str_printf("%s/%s/%s", data_dir, KINDS[k], sub);
        if (!dir)
            return nomem(err);
        int rc = list_dir(dir, true, true, out, err);
        free(dir);
        if (rc != 0)
            return -1;
    }
    sv_sort_unique(out);
    return 0;
}

static void job_free(unit_job *j)
{
    for (size_t k = 0; k < 2; k++) {
        free(j->src[k]);
        free(j->rel[k]);
        free(j->staged[k]);
    }
    free(j->name);
}

/* Queue the partition name (<db>/<region>/<partition>, taken) for a lane. */
static int walk_partition(stage_shared *sh, const walk_pos *w, const char *data_dir, char *name,
                          ib_err *err)
{
    if (sh->n_jobs == sh->cap_jobs) {
        size_t cap = sh->cap_jobs ? sh->cap_jobs * 2 : 64;
        unit_job *v = realloc(sh->jobs, cap * sizeof *v);
        if (!v) {
            free(name);
            return nomem(err);
        }
        sh->jobs = v;
        sh->cap_jobs = cap;
    }
    unit_job *j = &sh->jobs[sh->n_jobs++];
    *j = (unit_job){.name = name};
    j->u = (part_unit){.name = name, .data_dir = data_dir, .dir = w->k};
    bool ok = true;
    for (size_t k = 0; k < 2; k++) {
        j->src[k] = str_printf("%s/%s/%s", data_dir, KINDS[k], name);
        j->rel[k] = w->several ? str_printf("%zu/%s/%s", w->k, KINDS[k], name)
                               : str_printf("%s/%s", KINDS[k], name);
        j->staged[k] = j->rel[k] ? path_join(sh->snap->staging_dir, j->rel[k]) : NULL;
        ok = ok && j->src[k] && j->rel[k] && j->staged[k];
        j->u.sp[k] = (part_loc){j->src[k], j->rel[k], j->staged[k], w->db};
    }
    return ok ? 0 : nomem(err);
}

static int walk_region(stage_shared *sh, const walk_pos *w, const char *data_dir,
                       const char *region, ib_err *err)
{
    char *sub = str_printf("%s/%s", w->db, region);
    if (!sub)
        return nomem(err);
    strvec parts = {0};
    int rc = list_both(data_dir, sub, &parts, err);
    for (size_t i = 0; i < parts.n && rc == 0; i++) {
        char *name = path_join(sub, parts.v[i]);
        rc = name ? walk_partition(sh, w, data_dir, name, err) : nomem(err);
    }
    sv_free(&parts);
    free(sub);
    return rc;
}

static int walk_database(stage_shared *sh, const walk_pos *w, const char *data_dir, ib_err *err)
{
    strvec regions = {0};
    int rc = list_both(data_dir, w->db, &regions, err);
    for (size_t i = 0; i < regions.n && rc == 0; i++)
        rc = walk_region(sh, w, data_dir, regions.v[i], err);
    sv_free(&regions);
    return rc;
}

static int walk_data_dir(stage_shared *sh, const ib_source *src, size_t k, ib_err *err)
{
    const char *data_dir = src->data_dirs[k];
    if (check_data_dir(data_dir, err) != 0)
        return -1;
    const ib_snapshot *s = sh->snap;
    for (size_t i = 0; i < s->n_databases; i++) {
        walk_pos w = {k, src->n_data_dirs > 1, s->databases[i]};
        if (walk_database(sh, &w, data_dir, err) != 0)
            return -1;
    }
    return 0;
}

/* ---- the lanes ---- */

static void lane_fail(stage_shared *sh, const ib_err *err)
{
    pthread_mutex_lock(&sh->lock);
    if (!sh->failed) {
        sh->failed = true;
        sh->err = *err;
    }
    pthread_mutex_unlock(&sh->lock);
}

/* The next partition, in the walk's order; false when none is left, a lane
 * failed or the caller asks to stop. */
static bool take_job(stage_shared *sh, size_t *job)
{
    pthread_mutex_lock(&sh->lock);
    bool ok = !sh->failed && sh->next < sh->n_jobs;
    if (ok && should_stop(sh->ev)) {
        ib_err_set(&sh->err, IB_E_INTERRUPTED, "snapshot stopped before it finished");
        sh->failed = true;
        ok = false;
    }
    if (ok)
        *job = sh->next++;
    pthread_mutex_unlock(&sh->lock);
    return ok;
}

static void *lane_main(void *arg)
{
    snap_ctx *c = arg;
    size_t job;
    while (take_job(c->sh, &job)) {
        c->job = job;
        c->unit = &c->sh->jobs[job].u;
        ib_err err;
        if (stage_unit(c, c->unit, &err) != 0)
            lane_fail(c->sh, &err);
    }
    return NULL;
}

/* Every queued partition, by up to STAGE_LANES lanes (the caller's thread
 * is one of them). */
static int run_lanes(stage_shared *sh, snap_ctx *lanes, size_t n_lanes, ib_err *err)
{
    pthread_t tids[STAGE_LANES];
    bool started[STAGE_LANES] = {false};
    for (size_t i = 1; i < n_lanes; i++) /* too few threads only means fewer lanes */
        started[i] = pthread_create(&tids[i], NULL, lane_main, &lanes[i]) == 0;
    lane_main(&lanes[0]);
    for (size_t i = 1; i < n_lanes; i++)
        if (started[i])
            pthread_join(tids[i], NULL);
    if (sh->failed) {
        *err = sh->err;
        return -1;
    }
    return 0;
}

/* The lanes' files into the snapshot (also after a failure, which frees
 * them with it), and the format version of the first valid head. */
static int merge_lanes(ib_snapshot *s, snap_ctx *lanes, size_t n_lanes, ib_err *err)
{
    size_t total = 0, version_job = SIZE_MAX;
    for (size_t i = 0; i < n_lanes; i++)
        total += lanes[i].n_files;
    ib_source_file *all = total ? malloc(total * sizeof *all) : NULL;
    for (size_t i = 0; i < n_lanes; i++) {
        snap_ctx *c = &lanes[i];
        if (!all)
            rollback_files(c, 0);
        else if (c->n_files) /* a lane without files has no array */
            memcpy(all + s->n_files, c->files, c->n_files * sizeof *all);
        s->n_files += all ? c->n_files : 0;
        free(c->files);
        if (c->version_job < version_job) {
            version_job = c->version_job;
            s->layout_version = c->version;
        }
    }
    s->files = all;
    return total && !all ? nomem(err) : 0;
}

/* Walk every data dir for its partitions, then stage them on the lanes. */
static int stage_all(const ib_source *src, ib_snapshot *s, const ib_source_events *ev, ib_err *err)
{
    stage_shared sh = {.ev = ev, .snap = s};
    sh.can_link = malloc((src->n_data_dirs ? src->n_data_dirs : 1) * sizeof *sh.can_link);
    if (!sh.can_link)
        return nomem(err);
    for (size_t k = 0; k < src->n_data_dirs; k++)
        atomic_init(&sh.can_link[k], true);
    pthread_mutex_init(&sh.lock, NULL);
    int rc = 0;
    for (size_t k = 0; k < src->n_data_dirs && rc == 0; k++)
        rc = walk_data_dir(&sh, src, k, err);
    snap_ctx lanes[STAGE_LANES];
    size_t n_lanes = sh.n_jobs < STAGE_LANES ? (sh.n_jobs ? sh.n_jobs : 1) : STAGE_LANES;
    for (size_t i = 0; i < n_lanes; i++)
        lanes[i] = (snap_ctx){.sh = &sh, .version_job = SIZE_MAX};
    if (rc == 0)
        rc = run_lanes(&sh, lanes, n_lanes, err);
    ib_err merr;
    if (merge_lanes(s, lanes, n_lanes, &merr) != 0 && rc == 0) {
        *err = merr;
        rc = -1;
    }
    for (size_t i = 0; i < sh.n_jobs; i++)
        job_free(&sh.jobs[i]);
    free(sh.jobs);
    free(sh.can_link);
    pthread_mutex_destroy(&sh.lock);
    return rc;
}

static int cmp_file(const void *a, const void *b)
{
    return strcmp(((const ib_source_file *)a)->rel, ((const ib_source_file *)b)->rel);
}

/* <staging_root>/<name>, fresh: a leftover of a crashed run is removed. */
int ib_staging_clean(const char *staging_root, int *removed, ib_err *err)
{
    *removed = 0;
    DIR *d = opendir(staging_root);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return ib_err_errno(err, IB_E_STAGING, errno, "cannot open staging dir %s", staging_root);
    }
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && rc == 0) {
        if (strncmp(e->d_name, "run-", 4) != 0)
            continue;
        char *dir = path_join(staging_root, e->d_name);
        if (!dir) {
            rc = nomem(err);
            break;
        }
        int why = remove_tree(dir);
        if (why != 0)
            rc = ib_err_errno(err, IB_E_STAGING, why, "cannot remove old staging dir %s", dir);
        else
            (*removed)++;
        free(dir);
    }
    closedir(d);
    return rc;
}

static int prepare_staging(const char *staging_root, const char *name, const ib_source_events *ev,
                           char **out, ib_err *err)
{
    *out = NULL;
    if (!database_name_ok(name))
        return ib_err_set(err, IB_E_STAGING, "invalid staging name \"%s\"", name);
    if (mkdir_p(staging_root, err) != 0)
        return -1;
    char *dir = path_join(staging_root, name);
    if (!dir)
        return nomem(err);
    struct stat st;
    if (lstat(dir, &st) == 0) {
        log_msg(ev, LOG_INFO, "removing staging dir %s left by an earlier run", dir);
        int e = remove_tree(dir);
        if (e != 0) {
            ib_err_errno(err, IB_E_STAGING, e, "cannot remove old staging dir %s", dir);
            free(dir);
            return -1;
        }
    }
    if (mkdir(dir, 0700) != 0) {
        ib_err_errno(err, IB_E_STAGING, errno, "cannot create staging dir %s", dir);
        free(dir);
        return -1;
    }
    *out = dir;
    return 0;
}

static int copy_databases(ib_snapshot *s, const char *const *dbs, size_t n, ib_err *err)
{
    strvec v = {0};
    for (size_t i = 0; i < n; i++) {
        if (!database_name_ok(dbs[i])) {
            sv_free(&v);
            return ib_err_set(err, IB_E_SOURCE_MISSING,
                              "database name \"%s\" cannot be a directory of a data dir", dbs[i]);
        }
        if (sv_push(&v, dbs[i]) != 0) {
            sv_free(&v);
            return nomem(err);
        }
    }
    sv_sort_unique(&v);
    s->databases = v.v;
    s->n_databases = v.n;
    return 0;
}

static size_t files_of(const ib_snapshot *s, const char *db)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_files; i++)
        if (strcmp(s->files[i].database, db) == 0)
            n++;
    return n;
}

/* A database named in source.databases without one sealed file is "data to
 * be backed up does not exist", even when SHOW DATABASES lists it or its
 * directory exists: a copy without it is no backup of it. A database only
 * matched by a pattern is a warning: patterns select what happens to be
 * there. */
static int check_content(const ib_source *src, const ib_snapshot *s, const ib_source_events *ev,
                         ib_err *err)
{
    char dirs[512], missing[512] = "";
    join_dirs(src, dirs, sizeof dirs);
    size_t n_missing = 0, used = 0;
    for (size_t i = 0; i < s->n_databases; i++) {
        const char *db = s->databases[i];
        if (files_of(s, db) > 0)
            continue;
        if (!sv_contains((const char *const *)src->databases, src->n_databases, db)) {
            log_msg(ev, LOG_WARNING,
                    "database %s has no sealed TsFiles in %s: the copy holds nothing of it", db,
                    dirs);
            continue;
        }
        int w =
            snprintf(missing + used, sizeof missing - used, "%s\"%s\"", n_missing ? ", " : "", db);
        if (w > 0 && (size_t)w < sizeof missing - used)
            used += (size_t)w;
        n_missing++;
    }
    /* Nothing at all (a data dir not mounted, patterns only): an empty copy
     * would count as a copy, and pruning would remove real ones for it. */
    if (n_missing == 0 && s->n_files == 0)
        return ib_err_set(err, IB_E_SOURCE_MISSING,
                          "data to be backed up does not exist: none of the %zu selected "
                          "database(s) has sealed TsFiles in %s; HINT: check that "
                          "source.data_dirs name IoTDB's data dirs (mounted) and that data was "
                          "flushed",
                          s->n_databases, dirs);
    if (n_missing == 0)
        return 0;
    return ib_err_set(err, IB_E_SOURCE_MISSING,
                      "data to be backed up does not exist: database%s %s %s no sealed TsFiles "
                      "in %s; HINT: a database that exists but has no sealed data yet needs data "
                      "written and flushed (FLUSH, or source.rest so that each run flushes), or "
                      "remove it from source.databases",
                      n_missing > 1 ? "s" : "", missing, n_missing > 1 ? "have" : "has", dirs);
}

int ib_snapshot_take(const ib_source *src, const char *const *databases, size_t n_databases,
                     const char *staging_root, const char *name, const ib_source_events *ev,
                     ib_snapshot **out, ib_err *err)
{
    *out = NULL;
    ib_snapshot *s = calloc(1, sizeof *s);
    if (!s)
        return nomem(err);
    s->linked = true;
    int rc = copy_databases(s, databases, n_databases, err);
    if (rc == 0)
        rc = prepare_staging(staging_root, name, ev, &s->staging_dir, err);
    if (rc == 0)
        rc = stage_all(src, s, ev, err);
    if (rc == 0)
        rc = check_content(src, s, ev, err);
    if (rc != 0) {
        ib_snapshot_free(s);
        return -1;
    }
    if (s->n_files > 0)
        qsort(s->files, s->n_files, sizeof *s->files, cmp_file);
    log_msg(ev, LOG_DEBUG, "snapshot %s: %zu files of %zu databases%s", s->staging_dir, s->n_files,
            s->n_databases, s->linked ? "" : " (copied, not linked)");
    *out = s;
    return 0;
}

char *ib_snapshot_take_staging(ib_snapshot *snap)
{
    char *dir = snap->staging_dir;
    snap->staging_dir = NULL;
    return dir;
}

int ib_staging_remove(const char *dir)
{
    return dir ? remove_tree(dir) : 0;
}

void ib_snapshot_free(ib_snapshot *snap)
{
    if (!snap)
        return;
    if (snap->staging_dir)
        remove_tree(snap->staging_dir);
    for (size_t i = 0; i < snap->n_files; i++)
        file_clear(&snap->files[i]);
    free(snap->files);
    ib_strv_free(snap->databases, snap->n_databases);
    free(snap->staging_dir);
    free(snap);
}
