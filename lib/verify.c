/* Verify a task (the feature description's Verify): the source data dirs and
 * databases, the REST API, the target and its snapshots. Every problem is
 * one log line at priority 3 ending with a HINT; what is fine is an info
 * line.
 *
 * Decisions: verify creates nothing lasting. A missing target path is a
 * problem (on LocalDir it is often an NFS share that is not mounted; writing
 * into the mount point would fill the local disk). The task directory is not
 * created: when it does not exist yet, the probe file is written in the target
 * path and snapshots are tried on a scratch directory that is removed again. */
#include "ib_engine.h"
#include "ib_iotdb_rest.h"
#include "ib_source.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct verify {
    const ib_task *task;
    const ib_engine_events *ev;
    int problems;
    bool nomem;
} verify;

static void vreport(verify *v, int priority, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (v->ev && v->ev->log)
        v->ev->log(v->ev->ctx, priority, msg);
}

__attribute__((format(printf, 2, 3))) static void problem(verify *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(v, 3, fmt, ap);
    va_end(ap);
    v->problems++;
}

__attribute__((format(printf, 2, 3))) static void ok(verify *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(v, 6, fmt, ap);
    va_end(ap);
}

static void note_nomem(verify *v, const ib_err *err)
{
    if (err->code == IB_E_NOMEM)
        v->nomem = true;
}

/* ---- source ---- */

/* Each data dir; ok[i] tells which can be read. */
static size_t check_data_dirs(verify *v, bool *ok_dirs)
{
    size_t n_ok = 0;
    for (size_t i = 0; i < v->task->source.n_data_dirs; i++) {
        const char *dir = v->task->source.data_dirs[i];
        struct stat sb;
        ok_dirs[i] = false;
        if (stat(dir, &sb) != 0) {
            problem(v,
                    "data dir %s does not exist. HINT: set source.data_dirs in %s to IoTDB's "
                    "dn_data_dirs",
                    dir, v->task->file ? v->task->file : v->task->name);
        } else if (!S_ISDIR(sb.st_mode)) {
            problem(v,
                    "data dir %s is not a directory. HINT: set source.data_dirs to IoTDB's "
                    "dn_data_dirs",
                    dir);
        } else if (access(dir, R_OK | X_OK) != 0) {
            problem(v,
                    "data dir %s is not readable. HINT: run the daemon as a user that can "
                    "read IoTDB's data (usually the iotdb user or root)",
                    dir);
        } else {
            ok(v, "data dir %s: ok", dir);
            ok_dirs[i] = true;
            n_ok++;
        }
    }
    return n_ok;
}

/* The databases in the data dirs that can be read. */
static int local_databases(verify *v, const bool *ok_dirs, char ***dbs, size_t *n)
{
    const ib_source *src = &v->task->source;
    char **dirs = calloc(src->n_data_dirs ? src->n_data_dirs : 1, sizeof *dirs);
    if (!dirs) {
        v->nomem = true;
        return -1;
    }
    ib_source readable = *src;
    readable.data_dirs = dirs;
    readable.n_data_dirs = 0;
    for (size_t i = 0; i < src->n_data_dirs; i++)
        if (ok_dirs[i])
            dirs[readable.n_data_dirs++] = src->data_dirs[i];
    ib_err err;
    ib_err_clear(&err);
    int rc = ib_source_list_databases(&readable, dbs, n, &err);
    if (rc != 0) {
        problem(v, "%s. HINT: check source.data_dirs", err.msg);
        note_nomem(v, &err);
    }
    free(dirs);
    return rc;
}

/* The database list the run would use: SHOW DATABASES over REST. */
static bool check_rest(verify *v, char ***dbs, size_t *n)
{
    const ib_rest_source *cfg = v->task->source.rest;
    ib_rest *rest = NULL;
    ib_err err;
    ib_err_clear(&err);
    if (ib_rest_new(cfg, &rest, &err) != 0) {
        problem(v, "REST API: %s. HINT: check source.rest (url, user, password_file)", err.msg);
        note_nomem(v, &err);
        return false;
    }
    bool listed = false;
    if (ib_rest_ping(rest, &err) != 0)
        problem(v,
                "REST API at %s does not answer: %s. HINT: set enable_rest_service=true in "
                "IoTDB's configuration and check source.rest.url",
                cfg->url, err.msg);
    else if (ib_rest_show_databases(rest, dbs, n, &err) != 0)
        problem(v,
                "REST API at %s: SHOW DATABASES failed: %s. HINT: check source.rest.user "
                "and the password file",
                cfg->url, err.msg);
    else {
        ok(v, "REST API at %s: ok, %zu databases", cfg->url, *n);
        listed = true;
    }
    note_nomem(v, &err);
    ib_rest_free(rest);
    return listed;
}

static bool contains(char *const *v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* Named databases must exist (one line each); patterns that match nothing
 * are warnings, logged by ib_source_select. */
static void check_databases(verify *v, char **avail, size_t n_avail, const char *from)
{
    const ib_source *src = &v->task->source;
    for (size_t i = 0; i < src->n_databases; i++) {
        if (contains(avail, n_avail, src->databases[i]))
            ok(v, "database %s: ok", src->databases[i]);
        else
            problem(v,
                    "database %s: data to be backed up does not exist (not in %s). HINT: check "
                    "source.databases against SHOW DATABASES",
                    src->databases[i], from);
    }
    ib_source patterns_only = *src;
    patterns_only.n_databases = 0;
    ib_source_events sev = {0};
    if (v->ev) {
        sev.ctx = v->ev->ctx;
        sev.log = v->ev->log;
    }
    char **sel = NULL;
    size_t n_sel = 0;
    ib_err err;
    ib_err_clear(&err);
    if (ib_source_select(&patterns_only, (const char *const *)avail, n_avail, &sev, &sel, &n_sel,
                         &err) != 0) {
        problem(v, "%s. HINT: fix source.database_patterns", err.msg);
        note_nomem(v, &err);
        return;
    }
    if (src->n_database_patterns > 0)
        ok(v, "database patterns select %zu databases", n_sel);
    ib_strv_free(sel, n_sel);
}

static void check_source(verify *v)
{
    bool *ok_dirs = calloc(v->task->source.n_data_dirs + 1, sizeof *ok_dirs);
    if (!ok_dirs) {
        v->nomem = true;
        return;
    }
    size_t n_ok = check_data_dirs(v, ok_dirs);
    char **avail = NULL;
    size_t n_avail = 0;
    bool listed = false;
    const char *from = "SHOW DATABASES";
    if (v->task->source.rest)
        listed = check_rest(v, &avail, &n_avail);
    if (!listed && n_ok > 0) {
        from = "the data dirs";
        listed = local_databases(v, ok_dirs, &avail, &n_avail) == 0;
    }
    if (listed)
        check_databases(v, avail, n_avail, from);
    ib_strv_free(avail, n_avail);
    free(ok_dirs);
}

/* ---- target ---- */

static void check_probe_file(verify *v, ib_storage *s, const char *dir)
{
    char name[64];
    snprintf(name, sizeof name, ".iotdb-backupd-verify-%ld", (long)getpid());
    char *path = ib_path_join(dir, name);
    if (!path) {
        v->nomem = true;
        return;
    }
    static const char probe[] = "iotdb-backupd verify probe\n";
    ib_err err;
    ib_err_clear(&err);
    if (ib_storage_put_buffer(s, path, probe, sizeof probe - 1, &err) != 0)
        problem(v,
                "target %s is not writable: %s. HINT: check permissions, free space and quota "
                "of the target",
                dir, err.msg);
    else if (s->drv->remove(s, path, false, &err) != 0)
        problem(v, "probe file %s could not be removed: %s. HINT: check permissions on %s", path,
                err.msg, dir);
    else
        ok(v, "target %s: writable", dir);
    note_nomem(v, &err);
    free(path);
}

static const char SNAPSHOT_HINT[] = "HINT: on HDFS an administrator allows snapshots with "
                                    "'hdfs dfsadmin -allowSnapshot <dir>'";

static void check_snapshots_existing(verify *v, ib_storage *s, const char *task_dir)
{
    ib_err err;
    ib_err_clear(&err);
    ib_copy_info *c = NULL;
    size_t n = 0;
    if (s->drv->snapshot_prepare(s, task_dir, &err) != 0 ||
        ib_copies_read(s, task_dir, &c, &n, &err) != 0) {
        problem(v, "task directory %s cannot hold snapshots: %s. %s", task_dir, err.msg,
                SNAPSHOT_HINT);
        note_nomem(v, &err);
        return;
    }
    size_t valid = 0;
    for (size_t i = 0; i < n; i++)
        valid += c[i].valid;
    ok(v, "task directory %s: snapshots ok, %zu copies (%zu valid)", task_dir, n, valid);
    if (valid < n)
        ib_engine_logf(v->ev, 4, "task directory %s: %zu copies without a valid manifest", task_dir,
                       n - valid);
    ib_copies_free(c, n);
}

/* No task directory yet: try snapshots on a scratch directory. */
static void check_snapshots_scratch(verify *v, ib_storage *s)
{
    char name[64];
    snprintf(name, sizeof name, ".iotdb-backupd-verify-%ld.d", (long)getpid());
    char *dir = ib_path_join(v->task->target.target_path, name);
    if (!dir) {
        v->nomem = true;
        return;
    }
    ib_err err;
    ib_err_clear(&err);
    int rc = s->drv->mkdirs(s, dir, &err);
    if (rc == 0)
        rc = s->drv->snapshot_prepare(s, dir, &err);
    if (rc == 0)
        rc = s->drv->snapshot_create(s, dir, "verify", &err);
    if (rc == 0)
        rc = s->drv->snapshot_delete(s, dir, "verify", &err);
    if (rc != 0) {
        problem(v, "snapshots cannot be made under %s: %s. %s", v->task->target.target_path,
                err.msg, SNAPSHOT_HINT);
        note_nomem(v, &err);
    } else {
        ok(v, "snapshots under %s: ok", v->task->target.target_path);
    }
    ib_err_clear(&err);
    if (s->drv->remove(s, dir, true, &err) != 0)
        problem(v, "scratch directory %s could not be removed: %s. HINT: remove it by hand", dir,
                err.msg);
    free(dir);
}

static void check_target_dirs(verify *v, ib_storage *s, const char *task_dir_name)
{
    char *task_dir = NULL;
    ib_err err;
    ib_err_clear(&err);
    if (ib_engine_find_task_dir(s, v->task, task_dir_name, v->ev, &task_dir, &err) != 0) {
        if (err.code != IB_E_COPY_NOT_FOUND) {
            problem(v, "%s. HINT: check the target", err.msg);
            note_nomem(v, &err);
            return;
        }
        ok(v, "no task directory under %s yet: the first run creates it",
           v->task->target.target_path);
        check_probe_file(v, s, v->task->target.target_path);
        check_snapshots_scratch(v, s);
        return;
    }
    check_probe_file(v, s, task_dir);
    check_snapshots_existing(v, s, task_dir);
    free(task_dir);
}

static void check_target(verify *v, const char *task_dir_name)
{
    const ib_target *t = &v->task->target;
    ib_storage *s = NULL;
    ib_err err;
    ib_err_clear(&err);
    ib_storage_info info = {0};
    if (ib_storage_open(t, 0, &s, &err) != 0 || s->drv->stat(s, t->target_path, &info, &err) != 0) {
        problem(v, "target %s (%s) cannot be reached: %s. HINT: check the target settings in %s",
                t->target_path, ib_target_type_name(t->type), err.msg,
                v->task->file ? v->task->file : v->task->name);
        note_nomem(v, &err);
    } else if (!info.exists) {
        problem(v,
                "target path %s does not exist. HINT: create it, or mount the share it "
                "belongs on",
                t->target_path);
    } else if (!info.is_dir) {
        problem(v, "target path %s is not a directory. HINT: check target.target_path",
                t->target_path);
    } else {
        ok(v, "target %s (%s): reachable", t->target_path, ib_target_type_name(t->type));
        check_target_dirs(v, s, task_dir_name);
    }
    ib_storage_free(s);
}

int ib_verify_task(const ib_task *task, const char *task_dir_name, const ib_engine_events *ev,
                   ib_err *err)
{
    verify v = {.task = task, .ev = ev};
    check_source(&v);
    check_target(&v, task_dir_name);
    if (v.nomem)
        return ib_err_set(err, IB_E_NOMEM, "verify: out of memory");
    return v.problems;
}
