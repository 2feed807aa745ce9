/* A task's copies on its target: the task directory, its snapshots and what
 * their manifests say. Read from the target only, so the listing survives
 * the loss of the state store. */
#include "ib_engine.h"
#include "ib_manifest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A manifest lists every file of a copy: generous, but bounded. */
#define COPY_MANIFEST_MAX ((size_t)512 << 20)

/* "<YYYYmmddTHHMMSSZ>-<type>[-<k>]": the time part and the suffix k. */
static bool parse_copy_name(const char *name, char stamp[17], long *k)
{
    static const char shape[] = "ddddddddTddddddZ-";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        char c = name[i];
        bool ok = shape[i] == 'd' ? isdigit((unsigned char)c) != 0 : c == shape[i];
        if (!ok)
            return false;
    }
    memcpy(stamp, name, 16);
    stamp[16] = '\0';
    const char *type = name + 17;
    const char *rest;
    if (strncmp(type, "full", 4) == 0)
        rest = type + 4;
    else if (strncmp(type, "incremental", 11) == 0)
        rest = type + 11;
    else
        return false;
    *k = 1;
    if (*rest == '\0')
        return true;
    if (rest[0] != '-' || !isdigit((unsigned char)rest[1]))
        return false;
    char *end;
    *k = strtol(rest + 1, &end, 10);
    return *end == '\0';
}

int ib_copy_name_cmp(const char *a, const char *b)
{
    char sa[17], sb[17];
    long ka, kb;
    bool pa = parse_copy_name(a, sa, &ka);
    bool pb = parse_copy_name(b, sb, &kb);
    if (pa != pb)
        return pa ? 1 : -1;
    if (!pa)
        return strcmp(a, b);
    int c = strcmp(sa, sb);
    if (c != 0)
        return c;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    return strcmp(a, b);
}

bool ib_copy_name_next(const ib_copy_info *copies, size_t n, time_t now, const char *type,
                       char *buf, size_t size)
{
    char best[17];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(best, sizeof best, "%Y%m%dT%H%M%SZ", &tm);
    bool behind = false;
    /* Only valid copies order the new one: a stray snapshot with a future
     * name must not pull every later copy after it. */
    for (size_t i = 0; i < n; i++) {
        char s[17];
        long ki;
        if (copies[i].valid && parse_copy_name(copies[i].name, s, &ki) && strcmp(s, best) > 0) {
            memcpy(best, s, sizeof best);
            behind = true;
        }
    }
    long k = 0; /* highest suffix at stamp `best`; 0: no snapshot there yet */
    for (size_t i = 0; i < n; i++) {
        char s[17];
        long ki;
        if (parse_copy_name(copies[i].name, s, &ki) && strcmp(s, best) == 0 && ki > k)
            k = ki;
    }
    if (k == 0)
        snprintf(buf, size, "%s-%s", best, type);
    else
        snprintf(buf, size, "%s-%s-%ld", best, type, k + 1);
    return behind;
}

/* "<task>_IoTDB_<14 digits>" */
static bool is_task_dir_name(const char *task, const char *name)
{
    size_t tl = strlen(task);
    if (strncmp(name, task, tl) != 0 || strncmp(name + tl, "_IoTDB_", 7) != 0)
        return false;
    const char *d = name + tl + 7;
    for (int i = 0; i < 14; i++)
        if (!isdigit((unsigned char)d[i]))
            return false;
    return d[14] == '\0';
}

static int find_by_pattern(ib_storage *s, const ib_task *task, const ib_engine_events *ev,
                           char **out, ib_err *err)
{
    const char *root = task->target.target_path;
    ib_storage_entry *ents = NULL;
    size_t n = 0;
    if (s->drv->list(s, root, &ents, &n, err) != 0)
        return ib_err_prefix(err, "looking for the task directory of task %s", task->name);
    const char *best = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ents[i].is_dir || !is_task_dir_name(task->name, ents[i].name))
            continue;
        matches++;
        /* The 14 digits are the creation time, so the newest sorts last. */
        if (!best || strcmp(ents[i].name, best) > 0)
            best = ents[i].name;
    }
    int rc = 0;
    if (!best) {
        rc = ib_err_set(err, IB_E_COPY_NOT_FOUND,
                        "no copies of task %s: no directory %s_IoTDB_<creation time> under %s; "
                        "HINT: run the task once, or check target.target_path",
                        task->name, task->name, root);
    } else {
        if (matches > 1)
            ib_engine_logf(ev, 4, "%zu task directories of task %s under %s: using the newest, %s",
                           matches, task->name, root, best);
        *out = ib_path_join(root, best);
        if (!*out)
            rc = ib_err_set(err, IB_E_NOMEM, "out of memory");
    }
    ib_storage_entries_free(ents, n);
    return rc;
}

/* The task's directory when there is exactly one. */
static int find_single(ib_storage *s, const ib_task *task, char **out, ib_err *err)
{
    ib_storage_entry *ents = NULL;
    size_t n = 0;
    if (s->drv->list(s, task->target.target_path, &ents, &n, err) != 0)
        return -1;
    const char *one = NULL;
    size_t matches = 0;
    for (size_t i = 0; i < n; i++)
        if (ents[i].is_dir && is_task_dir_name(task->name, ents[i].name) && ++matches == 1)
            one = ents[i].name;
    int rc = -1;
    if (matches == 1) {
        *out = ib_path_join(task->target.target_path, one);
        rc = *out ? 0 : ib_err_set(err, IB_E_NOMEM, "out of memory");
    } else {
        ib_err_set(err, IB_E_COPY_NOT_FOUND, "%zu task directories", matches);
    }
    ib_storage_entries_free(ents, n);
    return rc;
}

int ib_engine_find_task_dir(ib_storage *s, const ib_task *task, const char *task_dir_name,
                            const ib_engine_events *ev, char **out, ib_err *err)
{
    *out = NULL;
    if (!task_dir_name)
        return find_by_pattern(s, task, ev, out, err);
    char *dir = ib_path_join(task->target.target_path, task_dir_name);
    if (!dir)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    ib_storage_info info;
    if (s->drv->stat(s, dir, &info, err) != 0) {
        free(dir);
        return -1;
    }
    if (!info.exists || !info.is_dir) {
        /* The name holds the creation time in local time: a program run with
         * another TZ than the daemon computes another name. A single
         * directory of the task is then unambiguous. */
        char *found = NULL;
        ib_err perr;
        if (find_single(s, task, &found, &perr) == 0) {
            ib_engine_logf(ev, 6, "task directory %s not found; using %s, the task's only one", dir,
                           found);
            free(dir);
            *out = found;
            return 0;
        }
        ib_err_set(err, IB_E_COPY_NOT_FOUND,
                   "no copies of task %s: task directory %s does not exist; HINT: run the task "
                   "once, or check target.target_path",
                   task->name, dir);
        free(dir);
        return -1;
    }
    *out = dir;
    return 0;
}

static char *manifest_path(const char *task_dir, const char *name)
{
    char *snapdir = ib_path_join(task_dir, ".snapshot");
    char *copy = snapdir ? ib_path_join(snapdir, name) : NULL;
    char *path = copy ? ib_path_join(copy, IB_MANIFEST_NAME) : NULL;
    free(snapdir);
    free(copy);
    return path;
}

int ib_copy_read_manifest(ib_storage *s, const char *task_dir, const char *name, ib_manifest *out,
                          ib_err *err)
{
    ib_manifest_init(out);
    char *path = manifest_path(task_dir, name);
    if (!path)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    char *text = NULL;
    size_t len = 0;
    int rc = ib_storage_get_buffer(s, path, COPY_MANIFEST_MAX, &text, &len, err);
    if (rc == 0 && ib_manifest_parse(text, len, out, err) != 0)
        rc = ib_err_prefix(err, "%s", path);
    free(text);
    free(path);
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int cmp_info(const void *a, const void *b)
{
    const ib_copy_info *x = a, *y = b;
    return ib_copy_name_cmp(x->name, y->name);
}

static int fill_info(ib_storage *s, const char *task_dir, const char *name, ib_copy_info *ci,
                     ib_err *err)
{
    memset(ci, 0, sizeof *ci);
    ci->name = strdup(name);
    if (!ci->name)
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    ib_manifest m;
    ib_err merr;
    ib_err_clear(&merr);
    if (ib_copy_read_manifest(s, task_dir, name, &m, &merr) == 0) {
        ci->valid = true;
        ci->backup_type = m.backup_type ? strdup(m.backup_type) : NULL;
        ci->start = m.start;
        ci->end = m.end;
        ci->files = (int64_t)m.n_files;
        for (size_t i = 0; i < m.n_files; i++)
            ci->bytes += m.files[i].size;
    }
    ib_manifest_free(&m);
    if (!ci->valid && !(ci->invalid_reason = strdup(merr.msg)))
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    /* A missing or unparsable manifest makes the copy invalid (and prunable).
     * Any other failure (target unreachable, permission) says nothing about
     * the copy: fail the listing, so a passing outage never prunes good copies. */
    if (!ci->valid && merr.code != IB_E_MANIFEST && merr.code != IB_E_TARGET_NOT_FOUND) {
        if (err)
            *err = merr;
        return ib_err_prefix(err, "reading the manifest of copy %s", name);
    }
    return 0;
}

int ib_copies_read(ib_storage *s, const char *task_dir, ib_copy_info **out, size_t *n, ib_err *err)
{
    *out = NULL;
    *n = 0;
    char **names = NULL;
    size_t nn = 0;
    if (s->drv->snapshot_list(s, task_dir, &names, &nn, err) != 0)
        return ib_err_prefix(err, "listing the copies in %s", task_dir);
    ib_copy_info *infos = nn ? calloc(nn, sizeof *infos) : NULL;
    if (nn && !infos) {
        free_names(names, nn);
        return ib_err_set(err, IB_E_NOMEM, "out of memory");
    }
    int rc = 0;
    size_t filled = 0;
    for (; filled < nn && rc == 0; filled++)
        rc = fill_info(s, task_dir, names[filled], &infos[filled], err);
    free_names(names, nn);
    if (rc != 0) {
        ib_copies_free(infos, filled);
        return -1;
    }
    if (nn)
        qsort(infos, nn, sizeof *infos, cmp_info);
    *out = infos;
    *n = nn;
    return 0;
}

int ib_copies_list(const ib_task *task, const char *task_dir_name, ib_copy_info **out, size_t *n,
                   ib_err *err)
{
    *out = NULL;
    *n = 0;
    ib_storage *s = NULL;
    if (ib_storage_open(&task->target, 0, &s, err) != 0)
        return -1;
    char *dir = NULL;
    int rc = ib_engine_find_task_dir(s, task, task_dir_name, NULL, &dir, err);
    if (rc == 0)
        rc = ib_copies_read(s, dir, out, n, err);
    free(dir);
    ib_storage_free(s);
    return rc;
}

void ib_copies_free(ib_copy_info *c, size_t n)
{
    if (!c)
        return;
    for (size_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].backup_type);
        free(c[i].invalid_reason);
    }
    free(c);
}
