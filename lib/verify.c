/* Verify a task (the feature description's Verify): the source data dirs and
 * databases, the REST API, the target and its snapshots. Every problem is
 * one log line at priority 3 ending with a HINT; what is fine is an info
 * line.
 *
 * Decisions: verify creates nothing lasting. A missing target path is a
 * problem (on LocalDir it is often an NFS share that is not mounted; writing
 * into the mount point would fill the local disk). The task directory is not
 * created: when it does not exist yet, the probe file is written in the target
 * path and snapshots are tried on a scratch directory that is removed again.
 * On RemoteHDFS both NameNodes are asked (which is active, clock skew) and the
 * space quota is compared with the last copy's size. */
#include "ib_engine.h"
#include "ib_iotdb_rest.h"
#include "ib_source.h"
#include "ib_webhdfs.h"

#include <limits.h>
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
        /* Authentication and IoTDB status errors carry their own hint. */
        problem(v, "REST API at %s: SHOW DATABASES failed: %s%s", cfg->url, err.msg,
                strstr(err.msg, "HINT:") ? ""
                                         : ". HINT: IoTDB's log (log_datanode_error.log) "
                                           "tells why it answered so");
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
    if (src->n_database_patterns == 0)
        return;
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
        /* Patterns matching nothing beside named databases: the warning
         * select logged. A selection that is empty altogether: a problem. */
        if (err.code != IB_E_SOURCE_MISSING)
            problem(v, "%s. HINT: fix source.database_patterns", err.msg);
        else if (src->n_databases == 0)
            problem(v, "%s", err.msg);
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

/* The cause of a failed snapshot step without the driver's own
 * allowSnapshot HINT: verify gives one naming the task directory, and a
 * scratch directory's name would only mislead. */
static const char *snapshot_cause(const ib_err *err, char *buf, size_t n)
{
    snprintf(buf, n, "%s", err->msg);
    char *allow = strstr(buf, "-allowSnapshot");
    char *hint = NULL;
    for (char *h = strstr(buf, "HINT:"); h && allow && h < allow; h = strstr(h + 1, "HINT:"))
        hint = h;
    if (hint) {
        while (hint > buf && (hint[-1] == ' ' || hint[-1] == '.' || hint[-1] == ';'))
            hint--;
        *hint = '\0';
    }
    return buf;
}

/* The HINT for a directory that cannot hold snapshots: on HDFS only the
 * superuser allows snapshots, on the directory itself (they cannot be
 * nested, so allowing them on target_path would not do). */
static const char *snapshot_hint(const verify *v, const char *dir, bool exists, char *buf, size_t n)
{
    if (v->task->target.type != IB_TARGET_REMOTEHDFS)
        snprintf(buf, n, "HINT: check that the daemon can write to %s", dir);
    else if (exists)
        snprintf(buf, n, "HINT: an HDFS administrator runs 'hdfs dfsadmin -allowSnapshot %s'", dir);
    else
        snprintf(buf, n,
                 "HINT: an HDFS administrator creates the task directory and allows snapshots "
                 "on it: 'hdfs dfs -mkdir -p %s && hdfs dfsadmin -allowSnapshot %s'%s",
                 dir, dir,
                 strstr(dir, "<") ? " (the daemon names it when it first loads the task)" : "");
    return buf;
}

/* Sets *last_bytes to the size of the newest valid copy (-1 none). */
static void check_snapshots_existing(verify *v, ib_storage *s, const char *task_dir,
                                     int64_t *last_bytes)
{
    *last_bytes = -1;
    ib_err err;
    ib_err_clear(&err);
    ib_copy_info *c = NULL;
    size_t n = 0;
    if (s->drv->snapshot_prepare(s, task_dir, &err) != 0 ||
        ib_copies_read(s, task_dir, &c, &n, &err) != 0) {
        char cause[IB_ERR_MSG_MAX], hint[2 * PATH_MAX + 200];
        problem(v, "task directory %s cannot hold snapshots: %s. %s", task_dir,
                snapshot_cause(&err, cause, sizeof cause),
                snapshot_hint(v, task_dir, true, hint, sizeof hint));
        note_nomem(v, &err);
        return;
    }
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        valid += c[i].valid;
        if (c[i].valid)
            *last_bytes = c[i].bytes;
    }
    ok(v, "task directory %s: snapshots ok, %zu copies (%zu valid)", task_dir, n, valid);
    if (valid < n)
        ib_engine_logf(v->ev, 4, "task directory %s: %zu copies without a valid manifest", task_dir,
                       n - valid);
    ib_copies_free(c, n);
}

/* No task directory yet: try snapshots on a scratch directory. A problem
 * names the directory the first run will make (task_dir_name from the
 * daemon's state; NULL: its pattern). */
static void check_snapshots_scratch(verify *v, ib_storage *s, const char *task_dir_name)
{
    char name[64], pattern[IB_TASK_NAME_MAX + 64];
    snprintf(name, sizeof name, ".iotdb-backupd-verify-%ld.d", (long)getpid());
    snprintf(pattern, sizeof pattern, "%s_IoTDB_<YYYYmmddHHMMSS>", v->task->name);
    const char *target = v->task->target.target_path;
    char *dir = ib_path_join(target, name);
    char *task_dir = ib_path_join(target, task_dir_name ? task_dir_name : pattern);
    if (!dir || !task_dir) {
        v->nomem = true;
        free(dir);
        free(task_dir);
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
        char cause[IB_ERR_MSG_MAX], hint[2 * PATH_MAX + 200];
        problem(v, "snapshots cannot be made under %s: %s. %s", target,
                snapshot_cause(&err, cause, sizeof cause),
                snapshot_hint(v, task_dir, false, hint, sizeof hint));
        note_nomem(v, &err);
    } else {
        ok(v, "snapshots under %s: ok", target);
    }
    ib_err_clear(&err);
    if (s->drv->remove(s, dir, true, &err) != 0)
        problem(v, "scratch directory %s could not be removed: %s. HINT: remove it by hand", dir,
                err.msg);
    free(dir);
    free(task_dir);
}

/* ---- RemoteHDFS cluster ---- */

/* The feature description requires consistent time on both ends: copy names
 * and schedules use the local clock, HDFS records the NameNode's. */
#define MAX_CLOCK_SKEW_MS 30000

static void check_namenodes(verify *v, ib_storage *s)
{
    const ib_target *t = &v->task->target;
    ib_engine_logf(v->ev, 5, "cluster %s: namenode rpc port %d, WebHDFS port %d",
                   t->nameservice ? t->nameservice : "(no nameservice)", t->namenode_rpc_port,
                   t->namenode_http_port);
    ib_webhdfs_namenode nn[2];
    ib_err err;
    ib_err_clear(&err);
    int n = ib_webhdfs_probe(s, nn, &err);
    if (n < 0) {
        v->nomem = true;
        return;
    }
    int active = 0;
    for (int i = 0; i < n; i++) {
        const char *role = i == 0 ? "active_namenode" : "standby_namenode";
        if (!nn[i].reachable || (nn[i].active && nn[i].error[0])) {
            /* One NameNode down is survivable (HA), both is not: warn here. */
            ib_engine_logf(v->ev, 4, "namenode %s (%s) cannot be used: %s", nn[i].name, role,
                           nn[i].error);
            continue;
        }
        active += nn[i].active;
        if (nn[i].has_clock)
            ib_engine_logf(v->ev, 5, "namenode %s (%s): %s, clock skew %+.1f s", nn[i].name, role,
                           nn[i].active ? "active" : "standby", (double)nn[i].clock_skew_ms / 1000);
        else
            ib_engine_logf(v->ev, 5, "namenode %s (%s): %s, no Date header", nn[i].name, role,
                           nn[i].active ? "active" : "standby");
        int64_t skew = nn[i].clock_skew_ms < 0 ? -nn[i].clock_skew_ms : nn[i].clock_skew_ms;
        if (nn[i].has_clock && skew > MAX_CLOCK_SKEW_MS)
            problem(v,
                    "namenode %s: clock differs from this host's by %+.0f s (more than %d s). "
                    "HINT: synchronise both clocks with NTP (chrony or systemd-timesyncd)",
                    nn[i].name, (double)nn[i].clock_skew_ms / 1000, MAX_CLOCK_SKEW_MS / 1000);
    }
    if (active == 0)
        problem(v,
                "no active namenode among %s%s%s. HINT: check target.active_namenode, "
                "standby_namenode and namenode_http_port, and 'hdfs haadmin -getAllServiceState'",
                nn[0].name, n > 1 ? " and " : "", n > 1 ? nn[1].name : "");
    else
        ok(v, "cluster %s: active namenode found", t->nameservice ? t->nameservice : "");
}

/* Free space quota of dir against need bytes of files (with the replication
 * the directory shows so far). */
static void check_quota(verify *v, ib_storage *s, const char *dir, int64_t need)
{
    ib_webhdfs_space sp;
    ib_err err;
    ib_err_clear(&err);
    if (ib_webhdfs_content_summary(s, dir, &sp, &err) != 0) {
        problem(v, "%s. HINT: check permissions on %s", err.msg, dir);
        note_nomem(v, &err);
        return;
    }
    if (sp.ns_quota >= 0 && sp.ns_count >= sp.ns_quota)
        problem(v,
                "%s: name quota reached (%lld of %lld files and directories). HINT: raise it "
                "with 'hdfs dfsadmin -setQuota', or lower target.max_copies",
                dir, (long long)sp.ns_count, (long long)sp.ns_quota);
    if (sp.space_quota < 0 || need <= 0)
        return;
    double replication = sp.length > 0 ? (double)sp.space_consumed / (double)sp.length : 3.0;
    int64_t free_bytes = sp.space_quota - sp.space_consumed;
    int64_t need_raw = (int64_t)((double)need * (replication < 1 ? 1 : replication));
    if (free_bytes < need_raw)
        problem(v,
                "%s: space quota has %lld bytes free, the last copy needs %lld (%lld bytes "
                "replicated). HINT: raise the quota with 'hdfs dfsadmin -setSpaceQuota', or "
                "lower target.max_copies",
                dir, (long long)(free_bytes > 0 ? free_bytes : 0), (long long)need,
                (long long)need_raw);
    else
        ok(v, "%s: space quota has room for a copy like the last", dir);
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
        check_snapshots_scratch(v, s, task_dir_name);
        return;
    }
    check_probe_file(v, s, task_dir);
    int64_t last_bytes;
    check_snapshots_existing(v, s, task_dir, &last_bytes);
    if (v->task->target.type == IB_TARGET_REMOTEHDFS) {
        check_quota(v, s, v->task->target.target_path, last_bytes);
        check_quota(v, s, task_dir, last_bytes);
    }
    free(task_dir);
}

static void check_target(verify *v, const char *task_dir_name)
{
    const ib_target *t = &v->task->target;
    ib_storage *s = NULL;
    ib_err err;
    ib_err_clear(&err);
    ib_storage_info info = {0};
    if (ib_storage_open(t, 0, &s, &err) == 0 && t->type == IB_TARGET_REMOTEHDFS)
        check_namenodes(v, s);
    if (!s || s->drv->stat(s, t->target_path, &info, &err) != 0) {
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
