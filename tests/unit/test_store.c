/* The state store on real SQLite files in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    char path[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ib-test-store-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, IB_STORE_FILE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        char p[160];
        snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

static ib_store *open_rw(const fixture *f)
{
    ib_store *st = NULL;
    ib_err err;
    ib_err_clear(&err);
    if (ib_store_open(f->path, false, &st, &err) < 0)
        fail_msg("open: %s", err.msg);
    return st;
}

/* Run SQL directly with sqlite3, as an operator would. */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static char *raw_text(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    char *out = NULL;
    if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
        out = strdup((const char *)sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return out;
}

static void assert_raw(const char *path, const char *sql, const char *expected)
{
    char *got = raw_text(path, sql);
    assert_non_null(got);
    assert_string_equal(got, expected);
    free(got);
}

static void add_task(ib_store *st, const char *name, int64_t now)
{
    ib_err err;
    int64_t created = 0;
    if (ib_store_upsert_task(st, name, "{\"mode\":\"manual\"}", now, &created, &err) < 0)
        fail_msg("upsert %s: %s", name, err.msg);
    assert_int_equal(created, now);
}

static int64_t begin_run(ib_store *st, const char *task, ib_backup_type type, int64_t start)
{
    ib_err err;
    int64_t id = 0;
    if (ib_store_run_begin(st, task, IB_TRIGGER_SCHEDULE, type, start, &id, &err) < 0)
        fail_msg("run_begin: %s", err.msg);
    assert_true(id > 0);
    return id;
}

static void finish_run(ib_store *st, int64_t id, ib_backup_type type, ib_result result, int64_t end)
{
    ib_err err;
    ib_run_record rec = {.type = type, .result = result, .end = end};
    if (ib_store_run_finish(st, id, &rec, &err) < 0)
        fail_msg("run_finish: %s", err.msg);
}

static int64_t runs_since_full(ib_store *st, const char *task)
{
    ib_err err;
    ib_task_record rec;
    bool found = false;
    assert_int_equal(ib_store_get_task(st, task, &rec, &found, &err), 0);
    assert_true(found);
    int64_t n = rec.runs_since_full;
    ib_task_record_clear(&rec);
    return n;
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(ib_trigger_name(IB_TRIGGER_CATCH_UP), "catch-up");
    assert_string_equal(ib_trigger_name(IB_TRIGGER_MANUAL), "manual");
    assert_string_equal(ib_backup_type_name(IB_BACKUP_INCREMENTAL), "incremental");
    assert_string_equal(ib_result_name(IB_RESULT_INTERRUPTED), "interrupted");
    assert_string_equal(ib_result_name(IB_RESULT_SKIPPED), "skipped");
    ib_backup_type t = IB_BACKUP_FULL;
    assert_int_equal(ib_backup_type_parse("incremental", &t), 0);
    assert_int_equal(t, IB_BACKUP_INCREMENTAL);
    assert_int_equal(ib_backup_type_parse("full", &t), 0);
    assert_int_equal(t, IB_BACKUP_FULL);
    assert_int_equal(ib_backup_type_parse("Full", &t), -1);
    assert_int_equal(ib_backup_type_parse(NULL, &t), -1);
}

static void test_create_and_reopen(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    assert_int_equal(ib_store_schema_version(st), IB_STORE_SCHEMA_VERSION);
    ib_err err;
    assert_int_equal(ib_store_ping(st, &err), 0);
    add_task(st, "nightly", 1000);
    ib_store_close(st);

    assert_raw(f->path, "PRAGMA journal_mode", "wal");
    assert_raw(f->path, "PRAGMA user_version", "2");
    st = open_rw(f);
    ib_task_record rec;
    bool found = false;
    assert_int_equal(ib_store_get_task(st, "nightly", &rec, &found, &err), 0);
    assert_true(found);
    assert_string_equal(rec.name, "nightly");
    assert_string_equal(rec.definition, "{\"mode\":\"manual\"}");
    assert_int_equal(rec.created_at, 1000);
    assert_true(rec.enabled);
    assert_int_equal(rec.runs_since_full, -1);
    assert_false(rec.has_last_slot);
    ib_task_record_clear(&rec);
    assert_int_equal(ib_store_get_task(st, "other", &rec, &found, &err), 0);
    assert_false(found);
    ib_store_close(st);
}

static void test_migrate_from_v0(void **state)
{
    fixture *f = *state;
    /* A database as sqlite3 leaves it: no tables, user_version 0. */
    raw_exec(f->path, "PRAGMA user_version = 0; VACUUM;");
    assert_raw(f->path, "PRAGMA user_version", "0");
    ib_store *st = open_rw(f);
    assert_int_equal(ib_store_schema_version(st), 2);
    ib_store_close(st);
    assert_raw(f->path,
               "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master"
               " WHERE type IN ('table', 'index') AND name NOT LIKE 'sqlite_%'"
               " ORDER BY name)",
               "runs,runs_task_id,tasks");
    assert_raw(f->path, "PRAGMA user_version", "2");
}

/* The schema of version 1 as released, with a task and a succeeded run. */
static const char v1_store[] =
    "CREATE TABLE tasks ("
    " name TEXT PRIMARY KEY NOT NULL, definition TEXT NOT NULL, created_at INTEGER NOT NULL,"
    " enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
    " runs_since_full INTEGER NOT NULL DEFAULT -1, last_slot INTEGER);"
    "CREATE TABLE runs ("
    " id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL REFERENCES tasks(name),"
    " \"trigger\" TEXT NOT NULL, type TEXT, result TEXT NOT NULL, start INTEGER NOT NULL,"
    " \"end\" INTEGER, files_total INTEGER NOT NULL DEFAULT 0,"
    " files_sent INTEGER NOT NULL DEFAULT 0, bytes_sent INTEGER NOT NULL DEFAULT 0,"
    " files_deleted INTEGER NOT NULL DEFAULT 0, copy TEXT, error_code TEXT, error TEXT);"
    "CREATE INDEX runs_task_id ON runs(task, id);"
    "INSERT INTO tasks (name, definition, created_at, runs_since_full) VALUES ('t', '{}', 1, 0);"
    "INSERT INTO runs (task, \"trigger\", type, result, start, \"end\", copy)"
    " VALUES ('t', 'manual', 'full', 'succeeded', 10, 20, '19700101T000020Z-full');"
    "PRAGMA user_version = 1;";

static void test_migrate_from_v1_copies_kept(void **state)
{
    fixture *f = *state;
    raw_exec(f->path, v1_store);
    ib_err err;
    ib_err_clear(&err);
    /* A reader does not migrate: it asks for the daemon to do it. */
    ib_store *st = NULL;
    assert_int_equal(ib_store_open(f->path, true, &st, &err), -1);
    assert_int_equal(err.code, IB_E_STORE);
    assert_non_null(strstr(err.msg, "schema version 1, expected 2"));

    st = open_rw(f);
    assert_int_equal(ib_store_schema_version(st), 2);
    /* The run of version 1 kept its fields; its copies kept is unknown. */
    ib_task_history *h = NULL;
    size_t n = 0;
    assert_int_equal(ib_store_last_runs_per_task(st, NULL, &h, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].last_run.copy, "19700101T000020Z-full");
    assert_false(h[0].last_run.has_copies_kept);
    assert_false(h[0].has_copies_kept);
    assert_int_equal(h[0].last_success, 20);
    ib_task_histories_free(h, n);

    /* A run of version 2 records it. */
    int64_t id = begin_run(st, "t", IB_BACKUP_INCREMENTAL, 30);
    ib_run_record rec = {.type = IB_BACKUP_INCREMENTAL,
                         .result = IB_RESULT_SUCCEEDED,
                         .end = 40,
                         .has_copies_kept = true,
                         .copies_kept = 2};
    assert_int_equal(ib_store_run_finish(st, id, &rec, &err), 0);
    ib_store_close(st);
    assert_raw(f->path, "SELECT copies_kept FROM runs WHERE id = 2", "2");
    assert_raw(f->path, "SELECT count(*) FROM runs WHERE copies_kept IS NULL", "1");

    st = open_rw(f);
    ib_run_record got;
    bool found = false;
    assert_int_equal(ib_store_get_run(st, id, &got, &found, &err), 0);
    assert_true(found);
    assert_true(got.has_copies_kept);
    assert_int_equal(got.copies_kept, 2);
    ib_run_record_clear(&got);
    /* A negative count is a caller's bug, refused. */
    id = begin_run(st, "t", IB_BACKUP_INCREMENTAL, 50);
    rec.copies_kept = -1;
    assert_int_equal(ib_store_run_finish(st, id, &rec, &err), -1);
    assert_int_equal(err.code, IB_E_INTERNAL);
    ib_store_close(st);
}

static void test_refuses_newer_schema(void **state)
{
    fixture *f = *state;
    ib_store_close(open_rw(f));
    raw_exec(f->path, "PRAGMA user_version = 99");
    for (int ro = 0; ro <= 1; ro++) {
        ib_store *st = NULL;
        ib_err err;
        ib_err_clear(&err);
        assert_int_equal(ib_store_open(f->path, ro, &st, &err), -1);
        assert_null(st);
        assert_int_equal(err.code, IB_E_STORE);
        assert_non_null(strstr(err.msg, "was written by a newer iotdb-backupd"));
        assert_non_null(strstr(err.msg, f->path));
        assert_non_null(strstr(err.msg, "99"));
    }
    /* Refusal leaves the file untouched. */
    assert_raw(f->path, "PRAGMA user_version", "99");
}

static void test_upsert_keeps_created_at(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    int64_t created = 0;
    assert_int_equal(ib_store_upsert_task(st, "t", "{\"v\":1}", 1000, &created, &err), 0);
    assert_int_equal(created, 1000);
    assert_int_equal(ib_store_disable_tasks_except(st, NULL, 0, &err), 0);
    assert_int_equal(ib_store_set_last_slot(st, "t", 5555, &err), 0);
    assert_int_equal(ib_store_upsert_task(st, "t", "{\"v\":2}", 2000, &created, &err), 0);
    assert_int_equal(created, 1000);
    ib_task_record rec;
    bool found;
    assert_int_equal(ib_store_get_task(st, "t", &rec, &found, &err), 0);
    assert_string_equal(rec.definition, "{\"v\":2}");
    assert_int_equal(rec.created_at, 1000);
    assert_true(rec.enabled);
    assert_true(rec.has_last_slot);
    assert_int_equal(rec.last_slot, 5555);
    ib_task_record_clear(&rec);
    ib_store_close(st);
}

static bool task_enabled(ib_store *st, const char *name)
{
    ib_err err;
    ib_task_record rec;
    bool found = false;
    assert_int_equal(ib_store_get_task(st, name, &rec, &found, &err), 0);
    assert_true(found);
    bool enabled = rec.enabled;
    ib_task_record_clear(&rec);
    return enabled;
}

static void test_disable_except(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    add_task(st, "a", 1);
    add_task(st, "b", 2);
    add_task(st, "c\"quoted", 3);
    int64_t id = begin_run(st, "b", IB_BACKUP_FULL, 10);
    finish_run(st, id, IB_BACKUP_FULL, IB_RESULT_SUCCEEDED, 20);
    const char *keep[] = {"a", "c\"quoted", "not-in-store"};
    assert_int_equal(ib_store_disable_tasks_except(st, keep, 3, &err), 0);
    assert_true(task_enabled(st, "a"));
    assert_false(task_enabled(st, "b"));
    assert_true(task_enabled(st, "c\"quoted"));
    /* History of the disabled task is kept. */
    ib_run_record run;
    bool found = false;
    assert_int_equal(ib_store_last_run(st, "b", &run, &found, &err), 0);
    assert_true(found);
    assert_int_equal(run.id, id);
    ib_run_record_clear(&run);
    assert_int_equal(ib_store_disable_tasks_except(st, NULL, 0, &err), 0);
    assert_false(task_enabled(st, "a"));
    assert_false(task_enabled(st, "c\"quoted"));
    ib_store_close(st);
}

static void test_run_lifecycle(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    add_task(st, "t", 1);
    int64_t id = 0;
    assert_int_equal(
        ib_store_run_begin(st, "t", IB_TRIGGER_MANUAL, IB_BACKUP_INCREMENTAL, 100, &id, &err), 0);
    ib_run_record run;
    bool found = false;
    assert_int_equal(ib_store_get_run(st, id, &run, &found, &err), 0);
    assert_true(found);
    assert_string_equal(run.task, "t");
    assert_int_equal(run.trigger, IB_TRIGGER_MANUAL);
    assert_int_equal(run.type, IB_BACKUP_INCREMENTAL);
    assert_int_equal(run.result, IB_RESULT_RUNNING);
    assert_int_equal(run.start, 100);
    assert_int_equal(run.end, 0);
    assert_null(run.copy);
    assert_null(run.error);
    ib_run_record_clear(&run);

    ib_run_record done = {.type = IB_BACKUP_FULL,
                          .result = IB_RESULT_FAILED,
                          .end = 160,
                          .files_total = 10,
                          .files_sent = 7,
                          .bytes_sent = 5000000000LL,
                          .files_deleted = 2,
                          .copy = "t-20260101",
                          .error_code = "E_TARGET_UNREACHABLE",
                          .error = "namenode 192.0.2.10:9870: connection refused"};
    assert_int_equal(ib_store_run_finish(st, id, &done, &err), 0);
    assert_int_equal(ib_store_get_run(st, id, &run, &found, &err), 0);
    assert_true(found);
    assert_int_equal(run.type, IB_BACKUP_FULL);
    assert_int_equal(run.result, IB_RESULT_FAILED);
    assert_int_equal(run.start, 100);
    assert_int_equal(run.end, 160);
    assert_int_equal(run.files_total, 10);
    assert_int_equal(run.files_sent, 7);
    assert_int_equal(run.bytes_sent, 5000000000LL);
    assert_int_equal(run.files_deleted, 2);
    assert_string_equal(run.copy, "t-20260101");
    assert_string_equal(run.error_code, "E_TARGET_UNREACHABLE");
    assert_string_equal(run.error, "namenode 192.0.2.10:9870: connection refused");
    ib_run_record_clear(&run);
    assert_raw(f->path, "SELECT \"trigger\" || ',' || type || ',' || result FROM runs",
               "manual,full,failed");

    /* A run finishes once; unknown runs and tasks are refused. */
    ib_err_clear(&err);
    assert_int_equal(ib_store_run_finish(st, id, &done, &err), -1);
    assert_non_null(strstr(err.msg, "no running run"));
    assert_int_equal(ib_store_run_finish(st, 9999, &done, &err), -1);
    ib_run_record still_running = {.result = IB_RESULT_RUNNING};
    assert_int_equal(ib_store_run_finish(st, id, &still_running, &err), -1);
    ib_err_clear(&err);
    assert_int_equal(
        ib_store_run_begin(st, "ghost", IB_TRIGGER_MANUAL, IB_BACKUP_FULL, 1, &id, &err), -1);
    assert_int_equal(err.code, IB_E_TASK_UNKNOWN);
    assert_non_null(strstr(err.msg, "ghost"));
    assert_int_equal(ib_store_run_skipped(st, "ghost", IB_TRIGGER_SCHEDULE, 1, "busy", &id, &err),
                     -1);
    assert_int_equal(err.code, IB_E_TASK_UNKNOWN);
    assert_int_equal(ib_store_get_run(st, 9999, &run, &found, &err), 0);
    assert_false(found);
    ib_store_close(st);
}

static void test_run_skipped(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    add_task(st, "t", 1);
    int64_t id = 0;
    assert_int_equal(ib_store_run_skipped(st, "t", IB_TRIGGER_SCHEDULE, 500,
                                          "the previous run is still going", &id, &err),
                     0);
    ib_run_record run;
    bool found;
    assert_int_equal(ib_store_get_run(st, id, &run, &found, &err), 0);
    assert_true(found);
    assert_int_equal(run.result, IB_RESULT_SKIPPED);
    assert_int_equal(run.trigger, IB_TRIGGER_SCHEDULE);
    assert_int_equal(run.start, 500);
    assert_int_equal(run.end, 500);
    assert_string_equal(run.error, "the previous run is still going");
    ib_run_record_clear(&run);
    assert_raw(f->path, "SELECT result || ',' || coalesce(type, 'NULL') FROM runs", "skipped,NULL");
    /* A skipped run does not count for the policy. */
    assert_int_equal(runs_since_full(st, "t"), -1);
    ib_store_close(st);
}

static void test_mark_interrupted(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    add_task(st, "a", 1);
    add_task(st, "b", 1);
    int64_t r1 = begin_run(st, "a", IB_BACKUP_FULL, 10);
    int64_t r2 = begin_run(st, "b", IB_BACKUP_FULL, 11);
    int64_t r3 = begin_run(st, "a", IB_BACKUP_FULL, 12);
    finish_run(st, r2, IB_BACKUP_FULL, IB_RESULT_SUCCEEDED, 20);
    ib_store_close(st);

    st = open_rw(f);
    int count = -1;
    assert_int_equal(ib_store_mark_running_interrupted(st, 99, &count, &err), 0);
    assert_int_equal(count, 2);
    const int64_t ids[] = {r1, r3};
    for (size_t i = 0; i < 2; i++) {
        ib_run_record run;
        bool found;
        assert_int_equal(ib_store_get_run(st, ids[i], &run, &found, &err), 0);
        assert_int_equal(run.result, IB_RESULT_INTERRUPTED);
        assert_int_equal(run.end, 99);
        assert_string_equal(run.error_code, "E_INTERRUPTED");
        assert_non_null(run.error);
        ib_run_record_clear(&run);
    }
    ib_run_record run;
    bool found;
    assert_int_equal(ib_store_get_run(st, r2, &run, &found, &err), 0);
    assert_int_equal(run.result, IB_RESULT_SUCCEEDED);
    assert_int_equal(run.end, 20);
    ib_run_record_clear(&run);
    assert_int_equal(ib_store_mark_running_interrupted(st, 100, &count, &err), 0);
    assert_int_equal(count, 0);
    ib_store_close(st);
}

static void test_last_run_queries(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    add_task(st, "a", 1);
    add_task(st, "b", 1);
    ib_run_record run;
    bool found = true;
    assert_int_equal(ib_store_last_run(st, "a", &run, &found, &err), 0);
    assert_false(found);
    int64_t ok = begin_run(st, "a", IB_BACKUP_FULL, 10);
    finish_run(st, ok, IB_BACKUP_FULL, IB_RESULT_SUCCEEDED, 11);
    int64_t bad = begin_run(st, "a", IB_BACKUP_INCREMENTAL, 20);
    finish_run(st, bad, IB_BACKUP_INCREMENTAL, IB_RESULT_FAILED, 21);
    int64_t other = begin_run(st, "b", IB_BACKUP_FULL, 30);

    assert_int_equal(ib_store_last_run(st, "a", &run, &found, &err), 0);
    assert_true(found);
    assert_int_equal(run.id, bad);
    ib_run_record_clear(&run);
    assert_int_equal(
        ib_store_last_run_with_result(st, "a", IB_RESULT_SUCCEEDED, &run, &found, &err), 0);
    assert_true(found);
    assert_int_equal(run.id, ok);
    ib_run_record_clear(&run);
    assert_int_equal(
        ib_store_last_run_with_result(st, "a", IB_RESULT_INTERRUPTED, &run, &found, &err), 0);
    assert_false(found);
    assert_int_equal(ib_store_last_run(st, "b", &run, &found, &err), 0);
    assert_int_equal(run.id, other);
    assert_int_equal(run.result, IB_RESULT_RUNNING);
    ib_run_record_clear(&run);
    ib_store_close(st);
}

static void test_list_runs(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    ib_run_record *runs = NULL;
    size_t n = 99;
    assert_int_equal(ib_store_list_runs(st, NULL, 10, &runs, &n, &err), 0);
    assert_int_equal(n, 0);
    ib_run_records_free(runs, n);
    add_task(st, "a", 1);
    add_task(st, "b", 1);
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = begin_run(st, i % 2 ? "b" : "a", IB_BACKUP_FULL, 100 + i);

    assert_int_equal(ib_store_list_runs(st, NULL, 3, &runs, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].id, ids[4]);
    assert_int_equal(runs[1].id, ids[3]);
    assert_int_equal(runs[2].id, ids[2]);
    assert_string_equal(runs[1].task, "b");
    ib_run_records_free(runs, n);

    assert_int_equal(ib_store_list_runs(st, "a", 10, &runs, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_int_equal(runs[0].id, ids[4]);
    assert_int_equal(runs[2].id, ids[0]);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(runs[i].task, "a");
    ib_run_records_free(runs, n);

    assert_int_equal(ib_store_list_runs(st, NULL, 0, &runs, &n, &err), 0);
    assert_int_equal(n, 5);
    ib_run_records_free(runs, n);
    /* More rows than the first allocation. */
    for (int i = 0; i < 40; i++)
        begin_run(st, "b", IB_BACKUP_FULL, 200 + i);
    assert_int_equal(ib_store_list_runs(st, "b", 0, &runs, &n, &err), 0);
    assert_int_equal(n, 42);
    assert_int_equal(runs[41].id, ids[1]);
    ib_run_records_free(runs, n);
    ib_store_close(st);
}

static void test_runs_since_full(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    add_task(st, "t", 1);
    add_task(st, "u", 1);
    assert_int_equal(runs_since_full(st, "t"), -1);
    /* Without a successful full there is nothing to count from. */
    finish_run(st, begin_run(st, "t", IB_BACKUP_INCREMENTAL, 1), IB_BACKUP_INCREMENTAL,
               IB_RESULT_SUCCEEDED, 2);
    assert_int_equal(runs_since_full(st, "t"), -1);
    finish_run(st, begin_run(st, "t", IB_BACKUP_FULL, 3), IB_BACKUP_FULL, IB_RESULT_FAILED, 4);
    assert_int_equal(runs_since_full(st, "t"), -1);
    finish_run(st, begin_run(st, "t", IB_BACKUP_FULL, 5), IB_BACKUP_FULL, IB_RESULT_SUCCEEDED, 6);
    assert_int_equal(runs_since_full(st, "t"), 0);
    finish_run(st, begin_run(st, "t", IB_BACKUP_INCREMENTAL, 7), IB_BACKUP_INCREMENTAL,
               IB_RESULT_SUCCEEDED, 8);
    finish_run(st, begin_run(st, "t", IB_BACKUP_INCREMENTAL, 9), IB_BACKUP_INCREMENTAL,
               IB_RESULT_SUCCEEDED, 10);
    assert_int_equal(runs_since_full(st, "t"), 2);
    finish_run(st, begin_run(st, "t", IB_BACKUP_INCREMENTAL, 11), IB_BACKUP_INCREMENTAL,
               IB_RESULT_FAILED, 12);
    finish_run(st, begin_run(st, "t", IB_BACKUP_INCREMENTAL, 13), IB_BACKUP_INCREMENTAL,
               IB_RESULT_INTERRUPTED, 14);
    assert_int_equal(runs_since_full(st, "t"), 2);
    /* Other tasks are not touched. */
    assert_int_equal(runs_since_full(st, "u"), -1);
    /* Re-syncing the task file keeps the policy state. */
    ib_err err;
    assert_int_equal(ib_store_upsert_task(st, "t", "{}", 50, NULL, &err), 0);
    assert_int_equal(runs_since_full(st, "t"), 2);
    finish_run(st, begin_run(st, "t", IB_BACKUP_FULL, 15), IB_BACKUP_FULL, IB_RESULT_SUCCEEDED, 16);
    assert_int_equal(runs_since_full(st, "t"), 0);
    ib_store_close(st);
}

static void test_last_slot(void **state)
{
    fixture *f = *state;
    ib_store *st = open_rw(f);
    ib_err err;
    add_task(st, "t", 1);
    assert_int_equal(ib_store_set_last_slot(st, "t", 1795482000, &err), 0);
    ib_task_record rec;
    bool found;
    assert_int_equal(ib_store_get_task(st, "t", &rec, &found, &err), 0);
    assert_true(rec.has_last_slot);
    assert_int_equal(rec.last_slot, 1795482000);
    ib_task_record_clear(&rec);
    ib_err_clear(&err);
    assert_int_equal(ib_store_set_last_slot(st, "ghost", 1, &err), -1);
    assert_int_equal(err.code, IB_E_TASK_UNKNOWN);
    assert_non_null(strstr(err.msg, "ghost"));
    ib_store_close(st);
}

static void test_readonly_missing_file(void **state)
{
    fixture *f = *state;
    ib_store *st = NULL;
    ib_err err;
    ib_err_clear(&err);
    assert_int_equal(ib_store_open(f->path, true, &st, &err), -1);
    assert_null(st);
    assert_int_equal(err.code, IB_E_STORE);
    assert_non_null(strstr(err.msg, f->path));
    struct stat sb;
    assert_int_equal(stat(f->path, &sb), -1);
    assert_int_equal(errno, ENOENT);
}

static void test_open_in_missing_dir(void **state)
{
    fixture *f = *state;
    char path[200];
    snprintf(path, sizeof path, "%s/no-such-dir/%s", f->dir, IB_STORE_FILE);
    ib_store *st = NULL;
    ib_err err;
    ib_err_clear(&err);
    assert_int_equal(ib_store_open(path, false, &st, &err), -1);
    assert_int_equal(err.code, IB_E_STORE);
    assert_non_null(strstr(err.msg, path));
    assert_non_null(strstr(err.msg, "HINT:"));
}

static void test_readonly_sees_writer(void **state)
{
    fixture *f = *state;
    ib_store *w = open_rw(f);
    ib_err err;
    add_task(w, "t", 1);
    int64_t first = begin_run(w, "t", IB_BACKUP_FULL, 10);

    ib_store *r = NULL;
    if (ib_store_open(f->path, true, &r, &err) < 0)
        fail_msg("read-only open: %s", err.msg);
    assert_int_equal(ib_store_schema_version(r), IB_STORE_SCHEMA_VERSION);
    ib_run_record run;
    bool found = false;
    assert_int_equal(ib_store_last_run(r, "t", &run, &found, &err), 0);
    assert_true(found);
    assert_int_equal(run.id, first);
    ib_run_record_clear(&run);

    /* The writer keeps writing while the reader is open and sees it. */
    finish_run(w, first, IB_BACKUP_FULL, IB_RESULT_SUCCEEDED, 20);
    int64_t second = begin_run(w, "t", IB_BACKUP_INCREMENTAL, 30);
    assert_int_equal(ib_store_last_run(r, "t", &run, &found, &err), 0);
    assert_int_equal(run.id, second);
    ib_run_record_clear(&run);
    assert_int_equal(ib_store_get_run(r, first, &run, &found, &err), 0);
    assert_int_equal(run.result, IB_RESULT_SUCCEEDED);
    ib_run_record_clear(&run);
    assert_int_equal(runs_since_full(r, "t"), 0);

    /* The reader cannot write. */
    ib_err_clear(&err);
    assert_int_equal(ib_store_upsert_task(r, "x", "{}", 1, NULL, &err), -1);
    assert_int_equal(err.code, IB_E_STORE);
    ib_store_close(r);
    ib_store_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test_setup_teardown(test_create_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1_copies_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_keeps_created_at, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disable_except, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mark_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_run_queries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_runs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runs_since_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_slot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_in_missing_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_readonly_sees_writer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
