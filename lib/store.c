/* The state store on SQLite. Enums are stored as their names so operators
 * can read the database with sqlite3; every statement binds its values. */
#include "ib_store.h"

#include <sqlite3.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 5000

/* Statements run once per task at start-up, kept prepared: parsing the SQL
 * each time cost more than running it. */
enum { STMT_TASK_UNCHANGED, STMT_UPSERT_TASK, STMT_SET_LAST_SLOT, STMT_COUNT };

struct ib_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *cached[STMT_COUNT];
    int depth; /* open transactions: the outermost is BEGIN, inner ones are savepoints */
};

/* Migration i takes the schema from version i to i + 1. Append only. */
static const char *const migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE tasks ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " definition TEXT NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
    " runs_since_full INTEGER NOT NULL DEFAULT -1,"
    " last_slot INTEGER);"
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " task TEXT NOT NULL REFERENCES tasks(name),"
    " \"trigger\" TEXT NOT NULL CHECK (\"trigger\" IN ('schedule', 'manual', 'catch-up')),"
    " type TEXT CHECK (type IN ('full', 'incremental')),"
    " result TEXT NOT NULL"
    "  CHECK (result IN ('running', 'succeeded', 'failed', 'interrupted', 'skipped')),"
    " start INTEGER NOT NULL,"
    " \"end\" INTEGER,"
    " files_total INTEGER NOT NULL DEFAULT 0,"
    " files_sent INTEGER NOT NULL DEFAULT 0,"
    " bytes_sent INTEGER NOT NULL DEFAULT 0,"
    " files_deleted INTEGER NOT NULL DEFAULT 0,"
    " copy TEXT,"
    " error_code TEXT,"
    " error TEXT);"
    "CREATE INDEX runs_task_id ON runs(task, id);",
    /* 1 -> 2: valid copies on the target after a successful run (NULL:
     * unknown, for runs recorded before) */
    "ALTER TABLE runs ADD COLUMN copies_kept INTEGER CHECK (copies_kept >= 0);",
};

_Static_assert(sizeof migrations / sizeof *migrations == IB_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static const char *const trigger_names[] = {"schedule", "manual", "catch-up"};
static const char *const type_names[] = {"full", "incremental"};
static const char *const result_names[] = {"running", "succeeded", "failed", "interrupted",
                                           "skipped"};

#define COUNT(a) (sizeof(a) / sizeof *(a))

const char *ib_trigger_name(ib_trigger t)
{
    return (size_t)t < COUNT(trigger_names) ? trigger_names[t] : "unknown";
}

const char *ib_backup_type_name(ib_backup_type t)
{
    return (size_t)t < COUNT(type_names) ? type_names[t] : "unknown";
}

const char *ib_result_name(ib_result r)
{
    return (size_t)r < COUNT(result_names) ? result_names[r] : "unknown";
}

/* The index of s in names, or -1. */
static int name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

int ib_backup_type_parse(const char *s, ib_backup_type *out)
{
    int i = name_index(type_names, COUNT(type_names), s);
    if (i < 0)
        return -1;
    *out = (ib_backup_type)i;
    return 0;
}

/* ---- errors and small helpers ---- */

static int db_error(ib_store *st, ib_err *err, const char *doing)
{
    return ib_err_set(err, IB_E_STORE, "state store %s: %s: %s", st->path, doing,
                      sqlite3_errmsg(st->db));
}

static int prepare(ib_store *st, const char *sql, sqlite3_stmt **stmt, ib_err *err,
                   const char *doing)
{
    if (sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) != SQLITE_OK)
        return db_error(st, err, doing);
    return 0;
}

/* The cached statement of slot, prepared on first use; give it back with
 * release_cached. */
static int prepare_cached(ib_store *st, int slot, const char *sql, sqlite3_stmt **stmt, ib_err *err,
                          const char *doing)
{
    if (!st->cached[slot] && sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                                &st->cached[slot], NULL) != SQLITE_OK)
        return db_error(st, err, doing);
    *stmt = st->cached[slot];
    return 0;
}

static void release_cached(sqlite3_stmt *stmt)
{
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
}

/* Step a statement that returns no rows, then finalize it. */
static int step_done(ib_store *st, sqlite3_stmt *stmt, ib_err *err, const char *doing)
{
    int rc = sqlite3_step(stmt);
    int ret = rc == SQLITE_DONE ? 0 : db_error(st, err, doing);
    sqlite3_finalize(stmt);
    return ret;
}

static int exec(ib_store *st, const char *sql, ib_err *err, const char *doing)
{
    if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(st, err, doing);
    return 0;
}

/* Writers take the lock up front so a transaction never fails half-way on
 * a lock upgrade. Inside a batch (ib_store_batch_begin) a transaction is a
 * savepoint, so that it can fail alone. */
static int begin(ib_store *st, ib_err *err)
{
    if (sqlite3_get_autocommit(st->db))
        st->depth = 0; /* SQLite may have rolled back on its own */
    const char *sql = st->depth == 0 ? "BEGIN IMMEDIATE" : "SAVEPOINT nested";
    if (exec(st, sql, err, "cannot begin a transaction") < 0)
        return -1;
    st->depth++;
    return 0;
}

static int commit(ib_store *st, ib_err *err)
{
    const char *sql = st->depth > 1 ? "RELEASE nested" : "COMMIT";
    if (exec(st, sql, err, "cannot commit") < 0)
        return -1;
    st->depth = st->depth > 0 ? st->depth - 1 : 0;
    return 0;
}

static int rollback(ib_store *st)
{
    if (sqlite3_get_autocommit(st->db) == 0) {
        if (st->depth > 1)
            sqlite3_exec(st->db, "ROLLBACK TO nested; RELEASE nested", NULL, NULL, NULL);
        else
            sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    st->depth = st->depth > 0 && sqlite3_get_autocommit(st->db) == 0 ? st->depth - 1 : 0;
    return -1;
}

int ib_store_batch_begin(ib_store *st, ib_err *err)
{
    return begin(st, err);
}

int ib_store_batch_commit(ib_store *st, ib_err *err)
{
    if (commit(st, err) < 0)
        return rollback(st);
    return 0;
}

void ib_store_batch_rollback(ib_store *st)
{
    rollback(st);
}

static void bind_text_or_null(sqlite3_stmt *stmt, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(stmt, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(stmt, i);
}

/* A copy of a text column, NULL for SQL NULL. Returns -1 when out of memory. */
static int column_dup(sqlite3_stmt *stmt, int i, char **out)
{
    const unsigned char *s = sqlite3_column_text(stmt, i);
    *out = NULL;
    if (!s)
        return sqlite3_column_type(stmt, i) == SQLITE_NULL ? 0 : -1;
    *out = strdup((const char *)s);
    return *out ? 0 : -1;
}

/* ---- open, migrate, close ---- */

static int query_int(ib_store *st, const char *sql, int *out, ib_err *err, const char *doing)
{
    sqlite3_stmt *stmt;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    return rc == SQLITE_ROW ? 0 : db_error(st, err, doing);
}

static int set_wal(ib_store *st, ib_err *err)
{
    sqlite3_stmt *stmt;
    if (prepare(st, "PRAGMA journal_mode=WAL", &stmt, err, "cannot enable WAL") < 0)
        return -1;
    int rc = sqlite3_step(stmt);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(stmt, 0) : NULL;
    int ok = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(stmt);
    if (!ok)
        return rc == SQLITE_ROW
                   ? ib_err_set(err, IB_E_STORE, "state store %s: cannot enable WAL journal mode",
                                st->path)
                   : db_error(st, err, "cannot enable WAL");
    return 0;
}

static int check_not_newer(ib_store *st, int version, ib_err *err)
{
    if (version <= IB_STORE_SCHEMA_VERSION)
        return 0;
    return ib_err_set(err, IB_E_STORE,
                      "state store %s has schema version %d but this program knows only up to "
                      "%d: it was written by a newer iotdb-backupd; HINT: upgrade "
                      "iotdb-backupd or move the state store away",
                      st->path, version, IB_STORE_SCHEMA_VERSION);
}

static int apply_migration(ib_store *st, int from, ib_err *err)
{
    char doing[64], set_version[64];
    snprintf(doing, sizeof doing, "cannot migrate the schema from version %d", from);
    /* PRAGMA takes no bound parameters; the value is our own integer. */
    snprintf(set_version, sizeof set_version, "PRAGMA user_version = %d", from + 1);
    if (begin(st, err) < 0)
        return -1;
    int version;
    /* Re-read under the lock: another writer may have migrated meanwhile. */
    if (query_int(st, "PRAGMA user_version", &version, err, doing) < 0)
        return rollback(st);
    if (version != from) {
        rollback(st);
        return check_not_newer(st, version, err);
    }
    if (exec(st, migrations[from], err, doing) < 0 || exec(st, set_version, err, doing) < 0 ||
        commit(st, err) < 0)
        return rollback(st);
    return 0;
}

static int migrate(ib_store *st, ib_err *err)
{
    for (;;) {
        int version;
        if (query_int(st, "PRAGMA user_version", &version, err, "cannot read the schema version") <
                0 ||
            check_not_newer(st, version, err) < 0)
            return -1;
        if (version == IB_STORE_SCHEMA_VERSION)
            return 0;
        if (apply_migration(st, version, err) < 0)
            return -1;
    }
}

static int check_current(ib_store *st, ib_err *err)
{
    int version;
    if (query_int(st, "PRAGMA user_version", &version, err, "cannot read the schema version") < 0 ||
        check_not_newer(st, version, err) < 0)
        return -1;
    if (version < IB_STORE_SCHEMA_VERSION)
        return ib_err_set(err, IB_E_STORE,
                          "state store %s has schema version %d, expected %d; HINT: start "
                          "iotdb-backupd once to migrate it",
                          st->path, version, IB_STORE_SCHEMA_VERSION);
    return 0;
}

static int configure_writer(ib_store *st, ib_err *err)
{
    int version;
    /* Refuse a newer store before changing anything in it. */
    if (query_int(st, "PRAGMA user_version", &version, err, "cannot read the schema version") < 0 ||
        check_not_newer(st, version, err) < 0)
        return -1;
    if (set_wal(st, err) < 0 ||
        exec(st, "PRAGMA foreign_keys=ON", err, "cannot enable foreign keys") < 0 ||
        exec(st, "PRAGMA synchronous=NORMAL", err, "cannot set synchronous mode") < 0)
        return -1;
    return migrate(st, err);
}

static int configure_reader(ib_store *st, ib_err *err)
{
    if (exec(st, "PRAGMA query_only=ON", err, "cannot set query-only mode") < 0)
        return -1;
    return check_current(st, err);
}

int ib_store_open(const char *path, bool read_only, ib_store **out, ib_err *err)
{
    *out = NULL;
    ib_store *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(path))) {
        free(st);
        return ib_err_set(err, IB_E_NOMEM, "state store %s: out of memory", path);
    }
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path, &st->db, flags, NULL);
    if (rc != SQLITE_OK) {
        ib_err_set(err, IB_E_STORE, "state store %s: cannot open: %s; HINT: %s", path,
                   st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc),
                   read_only ? "check --state-dir; the daemon creates the store when it "
                               "first starts"
                             : "check that the state directory exists and is writable");
        ib_store_close(st);
        return -1;
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if ((read_only ? configure_reader(st, err) : configure_writer(st, err)) < 0) {
        ib_store_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

void ib_store_close(ib_store *st)
{
    if (!st)
        return;
    for (int i = 0; i < STMT_COUNT; i++)
        sqlite3_finalize(st->cached[i]);
    sqlite3_close_v2(st->db);
    free(st->path);
    free(st);
}

int ib_store_schema_version(ib_store *st)
{
    int version = -1;
    if (query_int(st, "PRAGMA user_version", &version, NULL, "cannot read the schema version") < 0)
        return -1;
    return version;
}

int ib_store_ping(ib_store *st, ib_err *err)
{
    int one = 0;
    if (query_int(st, "SELECT 1", &one, err, "ping failed") < 0)
        return -1;
    return one == 1
               ? 0
               : ib_err_set(err, IB_E_STORE, "state store %s: ping answered %d", st->path, one);
}

/* ---- tasks ---- */

void ib_task_record_clear(ib_task_record *r)
{
    free(r->name);
    free(r->definition);
    memset(r, 0, sizeof *r);
}

/* The upsert of ib_store_upsert_task, filling the record's numbers. */
/* created_at, runs_since_full, last_slot of the current row into rec. */
static void read_task_numbers(sqlite3_stmt *stmt, ib_task_record *rec)
{
    rec->created_at = sqlite3_column_int64(stmt, 0);
    rec->enabled = true;
    rec->runs_since_full = sqlite3_column_int64(stmt, 1);
    rec->has_last_slot = sqlite3_column_type(stmt, 2) != SQLITE_NULL;
    rec->last_slot = sqlite3_column_int64(stmt, 2);
}

/* 1 when the task is stored, enabled, with this definition (rec filled),
 * 0 when not, -1 on error. A restart then writes nothing. */
static int task_unchanged(ib_store *st, const char *name, const char *definition,
                          ib_task_record *rec, ib_err *err, const char *doing)
{
    static const char sql[] = "SELECT created_at, runs_since_full, last_slot FROM tasks"
                              " WHERE name = ?1 AND definition = ?2 AND enabled = 1";
    sqlite3_stmt *stmt = NULL;
    if (prepare_cached(st, STMT_TASK_UNCHANGED, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, definition, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW)
        read_task_numbers(stmt, rec);
    int ret = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_error(st, err, doing);
    release_cached(stmt);
    return ret;
}

static int upsert_task(ib_store *st, const char *name, const char *definition, int64_t now,
                       ib_task_record *rec, ib_err *err)
{
    static const char sql[] =
        "INSERT INTO tasks (name, definition, created_at, enabled, runs_since_full)"
        " VALUES (?1, ?2, ?3, 1, -1)"
        " ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, enabled = 1"
        " RETURNING created_at, runs_since_full, last_slot";
    char doing[128];
    snprintf(doing, sizeof doing, "cannot store task %s", name);
    int same = task_unchanged(st, name, definition, rec, err, doing);
    if (same != 0)
        return same < 0 ? -1 : 0;
    sqlite3_stmt *stmt = NULL;
    if (prepare_cached(st, STMT_UPSERT_TASK, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, definition, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, now);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        read_task_numbers(stmt, rec);
        rc = sqlite3_step(stmt);
    }
    int ret = rc == SQLITE_DONE ? 0 : db_error(st, err, doing);
    release_cached(stmt);
    return ret;
}

int ib_store_upsert_task(ib_store *st, const char *name, const char *definition, int64_t now,
                         int64_t *created_at, ib_err *err)
{
    ib_task_record rec;
    memset(&rec, 0, sizeof rec);
    if (upsert_task(st, name, definition, now, &rec, err) < 0)
        return -1;
    if (created_at)
        *created_at = rec.created_at;
    return 0;
}

int ib_store_sync_task(ib_store *st, const char *name, const char *definition, int64_t now,
                       ib_task_record *out, ib_err *err)
{
    memset(out, 0, sizeof *out);
    return upsert_task(st, name, definition, now, out, err);
}

int ib_store_disable_tasks_except(ib_store *st, const char *const *names, size_t n, ib_err *err)
{
    /* The keep-list goes in as one bound JSON array, read with json_each. */
    static const char sql[] = "UPDATE tasks SET enabled = 0 WHERE enabled = 1"
                              " AND name NOT IN (SELECT value FROM json_each(?1))";
    if (n > (size_t)INT32_MAX)
        return ib_err_set(err, IB_E_INTERNAL, "too many task names (%zu)", n);
    /* cJSON_CreateStringArray refuses NULL even for zero names. */
    cJSON *array = n ? cJSON_CreateStringArray(names, (int)n) : cJSON_CreateArray();
    char *json = array ? cJSON_PrintUnformatted(array) : NULL;
    cJSON_Delete(array);
    if (!json)
        return ib_err_set(err, IB_E_NOMEM, "state store %s: out of memory", st->path);
    sqlite3_stmt *stmt;
    int ret = prepare(st, sql, &stmt, err, "cannot disable removed tasks");
    if (ret == 0) {
        sqlite3_bind_text(stmt, 1, json, -1, SQLITE_TRANSIENT);
        ret = step_done(st, stmt, err, "cannot disable removed tasks");
    }
    cJSON_free(json);
    return ret;
}

int ib_store_get_task(ib_store *st, const char *name, ib_task_record *out, bool *found, ib_err *err)
{
    static const char sql[] = "SELECT name, definition, created_at, enabled, runs_since_full,"
                              " last_slot FROM tasks WHERE name = ?1";
    char doing[128];
    snprintf(doing, sizeof doing, "cannot read task %s", name);
    memset(out, 0, sizeof *out);
    *found = false;
    sqlite3_stmt *stmt;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        if (column_dup(stmt, 0, &out->name) < 0 || column_dup(stmt, 1, &out->definition) < 0)
            ret = ib_err_set(err, IB_E_NOMEM, "state store %s: %s: out of memory", st->path, doing);
        out->created_at = sqlite3_column_int64(stmt, 2);
        out->enabled = sqlite3_column_int(stmt, 3) != 0;
        out->runs_since_full = sqlite3_column_int64(stmt, 4);
        out->has_last_slot = sqlite3_column_type(stmt, 5) != SQLITE_NULL;
        out->last_slot = sqlite3_column_int64(stmt, 5);
        *found = ret == 0;
    } else if (rc != SQLITE_DONE) {
        ret = db_error(st, err, doing);
    }
    sqlite3_finalize(stmt);
    if (ret < 0)
        ib_task_record_clear(out);
    return ret;
}

int ib_store_set_last_slot(ib_store *st, const char *name, int64_t slot, ib_err *err)
{
    char doing[128];
    snprintf(doing, sizeof doing, "cannot record the last slot of task %s", name);
    sqlite3_stmt *stmt = NULL;
    if (prepare_cached(st, STMT_SET_LAST_SLOT, "UPDATE tasks SET last_slot = ?1 WHERE name = ?2",
                       &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_int64(stmt, 1, slot);
    sqlite3_bind_text(stmt, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(stmt);
    int ret = rc == SQLITE_DONE ? 0 : db_error(st, err, doing);
    int changed = sqlite3_changes(st->db);
    release_cached(stmt);
    if (ret < 0)
        return -1;
    if (changed == 0)
        return ib_err_set(err, IB_E_TASK_UNKNOWN, "state store %s: %s: no such task", st->path,
                          doing);
    return 0;
}

/* ---- runs ---- */

void ib_run_record_clear(ib_run_record *r)
{
    free(r->task);
    free(r->copy);
    free(r->error_code);
    free(r->error);
    memset(r, 0, sizeof *r);
}

void ib_run_records_free(ib_run_record *recs, size_t n)
{
    for (size_t i = 0; recs && i < n; i++)
        ib_run_record_clear(&recs[i]);
    free(recs);
}

#define RUN_COLUMNS                                                                                \
    "id, task, \"trigger\", type, result, start, \"end\", files_total, files_sent, bytes_sent,"    \
    " files_deleted, copy, error_code, error, copies_kept"

/* Fill rec from a row selected with RUN_COLUMNS. */
static int read_run_row(ib_store *st, sqlite3_stmt *stmt, ib_run_record *rec, ib_err *err)
{
    memset(rec, 0, sizeof *rec);
    rec->id = sqlite3_column_int64(stmt, 0);
    const char *trigger = (const char *)sqlite3_column_text(stmt, 2);
    const char *type = (const char *)sqlite3_column_text(stmt, 3);
    const char *result = (const char *)sqlite3_column_text(stmt, 4);
    int ti = name_index(trigger_names, COUNT(trigger_names), trigger);
    int yi = type ? name_index(type_names, COUNT(type_names), type) : IB_BACKUP_FULL;
    int ri = name_index(result_names, COUNT(result_names), result);
    if (ti < 0 || yi < 0 || ri < 0)
        return ib_err_set(err, IB_E_STORE,
                          "state store %s: run %lld has an unknown trigger, type or result "
                          "('%s', '%s', '%s')",
                          st->path, (long long)rec->id, trigger ? trigger : "NULL",
                          type ? type : "NULL", result ? result : "NULL");
    /* Skipped runs have no type (NULL); they read as full. */
    rec->trigger = (ib_trigger)ti;
    rec->type = (ib_backup_type)yi;
    rec->result = (ib_result)ri;
    rec->start = sqlite3_column_int64(stmt, 5);
    rec->end = sqlite3_column_int64(stmt, 6);
    rec->files_total = sqlite3_column_int64(stmt, 7);
    rec->files_sent = sqlite3_column_int64(stmt, 8);
    rec->bytes_sent = sqlite3_column_int64(stmt, 9);
    rec->files_deleted = sqlite3_column_int64(stmt, 10);
    rec->has_copies_kept = sqlite3_column_type(stmt, 14) != SQLITE_NULL;
    rec->copies_kept = sqlite3_column_int64(stmt, 14);
    if (column_dup(stmt, 1, &rec->task) < 0 || column_dup(stmt, 11, &rec->copy) < 0 ||
        column_dup(stmt, 12, &rec->error_code) < 0 || column_dup(stmt, 13, &rec->error) < 0) {
        ib_run_record_clear(rec);
        return ib_err_set(err, IB_E_NOMEM, "state store %s: out of memory reading run %lld",
                          st->path, (long long)rec->id);
    }
    return 0;
}

/* Run a prepared query for at most one run; finalizes stmt. */
static int query_one_run(ib_store *st, sqlite3_stmt *stmt, ib_run_record *out, bool *found,
                         ib_err *err, const char *doing)
{
    *found = false;
    memset(out, 0, sizeof *out);
    int rc = sqlite3_step(stmt);
    int ret = 0;
    if (rc == SQLITE_ROW)
        ret = read_run_row(st, stmt, out, err);
    else if (rc != SQLITE_DONE)
        ret = db_error(st, err, doing);
    *found = rc == SQLITE_ROW && ret == 0;
    sqlite3_finalize(stmt);
    return ret;
}

static int insert_run(ib_store *st, const char *task, ib_trigger trigger, const char *type,
                      ib_result result, int64_t start, const int64_t *end, const char *error,
                      int64_t *run_id, ib_err *err)
{
    static const char sql[] = "INSERT INTO runs (task, \"trigger\", type, result, start, \"end\","
                              " error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id";
    char doing[128];
    snprintf(doing, sizeof doing, "cannot record a %s run of task %s", ib_result_name(result),
             task);
    sqlite3_stmt *stmt;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, task, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, ib_trigger_name(trigger), -1, SQLITE_STATIC);
    bind_text_or_null(stmt, 3, type);
    sqlite3_bind_text(stmt, 4, ib_result_name(result), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 5, start);
    if (end)
        sqlite3_bind_int64(stmt, 6, *end);
    else
        sqlite3_bind_null(stmt, 6);
    bind_text_or_null(stmt, 7, error);
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW && run_id)
        *run_id = sqlite3_column_int64(stmt, 0);
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(stmt);
    sqlite3_finalize(stmt);
    if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return ib_err_set(err, IB_E_TASK_UNKNOWN, "state store %s: %s: no such task", st->path,
                          doing);
    return rc == SQLITE_DONE ? 0 : db_error(st, err, doing);
}

int ib_store_run_begin(ib_store *st, const char *task, ib_trigger trigger, ib_backup_type type,
                       int64_t start, int64_t *run_id, ib_err *err)
{
    return insert_run(st, task, trigger, ib_backup_type_name(type), IB_RESULT_RUNNING, start, NULL,
                      NULL, run_id, err);
}

int ib_store_run_skipped(ib_store *st, const char *task, ib_trigger trigger, int64_t when,
                         const char *reason, int64_t *run_id, ib_err *err)
{
    return insert_run(st, task, trigger, NULL, IB_RESULT_SKIPPED, when, &when, reason, run_id, err);
}

static int update_finished_run(ib_store *st, int64_t run_id, const ib_run_record *rec, ib_err *err,
                               const char *doing)
{
    static const char sql[] =
        "UPDATE runs SET type = ?1, result = ?2, \"end\" = ?3, files_total = ?4,"
        " files_sent = ?5, bytes_sent = ?6, files_deleted = ?7, copy = ?8, error_code = ?9,"
        " error = ?10, copies_kept = ?12 WHERE id = ?11 AND result = 'running'";
    sqlite3_stmt *stmt;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, ib_backup_type_name(rec->type), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, ib_result_name(rec->result), -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, rec->end);
    sqlite3_bind_int64(stmt, 4, rec->files_total);
    sqlite3_bind_int64(stmt, 5, rec->files_sent);
    sqlite3_bind_int64(stmt, 6, rec->bytes_sent);
    sqlite3_bind_int64(stmt, 7, rec->files_deleted);
    bind_text_or_null(stmt, 8, rec->copy);
    bind_text_or_null(stmt, 9, rec->error_code);
    bind_text_or_null(stmt, 10, rec->error);
    sqlite3_bind_int64(stmt, 11, run_id);
    if (rec->has_copies_kept)
        sqlite3_bind_int64(stmt, 12, rec->copies_kept);
    else
        sqlite3_bind_null(stmt, 12);
    if (step_done(st, stmt, err, doing) < 0)
        return -1;
    if (sqlite3_changes(st->db) != 1)
        return ib_err_set(err, IB_E_INTERNAL, "state store %s: %s: no running run with id %lld",
                          st->path, doing, (long long)run_id);
    return 0;
}

/* The policy counter of the run's task after a successful run. */
static int update_runs_since_full(ib_store *st, int64_t run_id, ib_backup_type type, ib_err *err,
                                  const char *doing)
{
    static const char full_sql[] = "UPDATE tasks SET runs_since_full = 0"
                                   " WHERE name = (SELECT task FROM runs WHERE id = ?1)";
    static const char incr_sql[] = "UPDATE tasks SET runs_since_full = runs_since_full + 1"
                                   " WHERE name = (SELECT task FROM runs WHERE id = ?1)"
                                   " AND runs_since_full >= 0";
    sqlite3_stmt *stmt;
    if (prepare(st, type == IB_BACKUP_FULL ? full_sql : incr_sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_int64(stmt, 1, run_id);
    return step_done(st, stmt, err, doing);
}

int ib_store_run_finish(ib_store *st, int64_t run_id, const ib_run_record *rec, ib_err *err)
{
    char doing[96];
    snprintf(doing, sizeof doing, "cannot record the end of run %lld", (long long)run_id);
    if (rec->result == IB_RESULT_RUNNING || (size_t)rec->result >= COUNT(result_names) ||
        (size_t)rec->type >= COUNT(type_names) || (rec->has_copies_kept && rec->copies_kept < 0))
        return ib_err_set(err, IB_E_INTERNAL,
                          "state store %s: %s: invalid result, type or copies kept", st->path,
                          doing);
    if (begin(st, err) < 0)
        return -1;
    if (update_finished_run(st, run_id, rec, err, doing) < 0)
        return rollback(st);
    if (rec->result == IB_RESULT_SUCCEEDED &&
        update_runs_since_full(st, run_id, rec->type, err, doing) < 0)
        return rollback(st);
    if (commit(st, err) < 0)
        return rollback(st);
    return 0;
}

int ib_store_mark_running_interrupted(ib_store *st, int64_t now, int *count, ib_err *err)
{
    static const char sql[] = "UPDATE runs SET result = 'interrupted', \"end\" = ?1,"
                              " error_code = ?2, error = ?3 WHERE result = 'running'";
    const char *doing = "cannot mark unfinished runs as interrupted";
    sqlite3_stmt *stmt;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_int64(stmt, 1, now);
    sqlite3_bind_text(stmt, 2, ib_code_name(IB_E_INTERRUPTED), -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 3, "the daemon stopped before the run finished", -1, SQLITE_STATIC);
    if (step_done(st, stmt, err, doing) < 0)
        return -1;
    if (count)
        *count = sqlite3_changes(st->db);
    return 0;
}

int ib_store_last_run(ib_store *st, const char *task, ib_run_record *out, bool *found, ib_err *err)
{
    static const char sql[] =
        "SELECT " RUN_COLUMNS " FROM runs WHERE task = ?1 ORDER BY id DESC LIMIT 1";
    const char *doing = "cannot read the last run";
    sqlite3_stmt *stmt;
    *found = false;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, task, -1, SQLITE_TRANSIENT);
    return query_one_run(st, stmt, out, found, err, doing);
}

int ib_store_last_run_with_result(ib_store *st, const char *task, ib_result result,
                                  ib_run_record *out, bool *found, ib_err *err)
{
    static const char sql[] =
        "SELECT " RUN_COLUMNS " FROM runs WHERE task = ?1 AND result = ?2 ORDER BY id DESC LIMIT 1";
    const char *doing = "cannot read the last run";
    sqlite3_stmt *stmt;
    *found = false;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, task, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(stmt, 2, ib_result_name(result), -1, SQLITE_STATIC);
    return query_one_run(st, stmt, out, found, err, doing);
}

int ib_store_get_run(ib_store *st, int64_t run_id, ib_run_record *out, bool *found, ib_err *err)
{
    static const char sql[] = "SELECT " RUN_COLUMNS " FROM runs WHERE id = ?1";
    const char *doing = "cannot read a run";
    sqlite3_stmt *stmt;
    *found = false;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    sqlite3_bind_int64(stmt, 1, run_id);
    return query_one_run(st, stmt, out, found, err, doing);
}

/* Append a zeroed slot to *recs, growing it. NULL when out of memory. */
static ib_run_record *grow_runs(ib_run_record **recs, size_t n, size_t *cap)
{
    if (n == *cap) {
        size_t new_cap = *cap ? *cap * 2 : 16;
        ib_run_record *grown = realloc(*recs, new_cap * sizeof *grown);
        if (!grown)
            return NULL;
        *recs = grown;
        *cap = new_cap;
    }
    return &(*recs)[n];
}

/* limit <= 0 lists every run. */
int ib_store_list_runs(ib_store *st, const char *task, int limit, ib_run_record **out, size_t *n,
                       ib_err *err)
{
    static const char sql[] = "SELECT " RUN_COLUMNS " FROM runs WHERE ?1 IS NULL OR task = ?1"
                              " ORDER BY id DESC LIMIT ?2";
    const char *doing = "cannot list runs";
    ib_run_record *recs = NULL;
    size_t len = 0, cap = 0;
    sqlite3_stmt *stmt;
    *out = NULL;
    *n = 0;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    bind_text_or_null(stmt, 1, task);
    sqlite3_bind_int(stmt, 2, limit > 0 ? limit : -1);
    int rc = SQLITE_DONE, ret = 0;
    while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        ib_run_record *slot = grow_runs(&recs, len, &cap);
        if (!slot)
            ret = ib_err_set(err, IB_E_NOMEM, "state store %s: %s: out of memory", st->path, doing);
        else if ((ret = read_run_row(st, stmt, slot, err)) == 0)
            len++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_error(st, err, doing);
    sqlite3_finalize(stmt);
    if (ret < 0) {
        ib_run_records_free(recs, len);
        return -1;
    }
    *out = recs;
    *n = len;
    return 0;
}

void ib_task_histories_free(ib_task_history *h, size_t n)
{
    for (size_t i = 0; h && i < n; i++)
        ib_run_record_clear(&h[i].last_run);
    free(h);
}

/* One statement for every task: the index on (task, id) finds each task's
 * newest run that ran and its newest success (its time and copies kept)
 * without reading the rest. */
int ib_store_last_runs_per_task(ib_store *st, const char *task, ib_task_history **out, size_t *n,
                                ib_err *err)
{
    static const char sql[] =
        "SELECT " RUN_COLUMNS ","
        " (SELECT coalesce(nullif(s.\"end\", 0), s.start) FROM runs s"
        "   WHERE s.task = runs.task AND s.result = 'succeeded' ORDER BY s.id DESC LIMIT 1),"
        " (SELECT s.copies_kept FROM runs s"
        "   WHERE s.task = runs.task AND s.result = 'succeeded' ORDER BY s.id DESC LIMIT 1)"
        " FROM runs WHERE id IN"
        " (SELECT (SELECT r.id FROM runs r WHERE r.task = t.name"
        "          AND r.result NOT IN ('running', 'skipped') ORDER BY r.id DESC LIMIT 1)"
        "  FROM tasks t WHERE ?1 IS NULL OR t.name = ?1)"
        " ORDER BY task";
    const char *doing = "cannot read the last runs of the tasks";
    ib_task_history *h = NULL;
    size_t len = 0, cap = 0;
    sqlite3_stmt *stmt;
    *out = NULL;
    *n = 0;
    if (prepare(st, sql, &stmt, err, doing) < 0)
        return -1;
    bind_text_or_null(stmt, 1, task);
    int rc = SQLITE_DONE, ret = 0;
    while (ret == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (len == cap) {
            size_t new_cap = cap ? cap * 2 : 64;
            ib_task_history *grown = realloc(h, new_cap * sizeof *grown);
            if (!grown) {
                ret = ib_err_set(err, IB_E_NOMEM, "state store %s: %s: out of memory", st->path,
                                 doing);
                break;
            }
            h = grown;
            cap = new_cap;
        }
        if ((ret = read_run_row(st, stmt, &h[len].last_run, err)) == 0) {
            h[len].last_success = sqlite3_column_int64(stmt, 15);
            h[len].has_copies_kept = sqlite3_column_type(stmt, 16) != SQLITE_NULL;
            h[len].copies_kept = sqlite3_column_int64(stmt, 16);
            len++;
        }
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = db_error(st, err, doing);
    sqlite3_finalize(stmt);
    if (ret < 0) {
        ib_task_histories_free(h, len);
        return -1;
    }
    *out = h;
    *n = len;
    return 0;
}
