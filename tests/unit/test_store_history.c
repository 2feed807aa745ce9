/* The store's start-up helpers: batches (one transaction, inner ones as
 * savepoints), sync_task, and the per-task history in one query. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fixture {
    char dir[64];
    char path[128];
    ib_store *st;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/ib-test-history-XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, IB_STORE_FILE);
    ib_err err;
    ib_err_clear(&err);
    if (ib_store_open(f->path, false, &f->st, &err) != 0) {
        fprintf(stderr, "open: %s\n", err.msg);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ib_store_close(f->st);
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

/* One number from a query on another connection. */
static long long raw_count(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    long long n = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    sqlite3_close(db);
    return n;
}

static long long data_version(sqlite3 *db)
{
    sqlite3_stmt *stmt;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    long long v = sqlite3_column_int64(stmt, 0);
    sqlite3_finalize(stmt);
    return v;
}

static bool task_exists(ib_store *st, const char *name)
{
    ib_task_record rec;
    bool found = false;
    ib_err err;
    assert_int_equal(ib_store_get_task(st, name, &rec, &found, &err), 0);
    ib_task_record_clear(&rec);
    return found;
}

static int64_t run(ib_store *st, const char *task, ib_result result, int64_t start, int64_t end)
{
    ib_err err;
    ib_err_clear(&err);
    int64_t id = 0;
    if (result == IB_RESULT_SKIPPED) {
        assert_int_equal(
            ib_store_run_skipped(st, task, IB_TRIGGER_SCHEDULE, start, "busy", &id, &err), 0);
        return id;
    }
    assert_int_equal(
        ib_store_run_begin(st, task, IB_TRIGGER_SCHEDULE, IB_BACKUP_FULL, start, &id, &err), 0);
    if (result == IB_RESULT_RUNNING)
        return id;
    ib_run_record rec = {.type = IB_BACKUP_FULL,
                         .result = result,
                         .end = end,
                         .files_total = 5,
                         .files_sent = 4,
                         .bytes_sent = 1000 + id,
                         .copy = result == IB_RESULT_SUCCEEDED ? "20250101T000000Z-full" : NULL,
                         .error_code = result == IB_RESULT_FAILED ? "E_SOURCE_MISSING" : NULL,
                         .error = result == IB_RESULT_FAILED ? "gone" : NULL,
                         .has_copies_kept = result == IB_RESULT_SUCCEEDED,
                         .copies_kept = 10 + id};
    assert_int_equal(ib_store_run_finish(st, id, &rec, &err), 0);
    return id;
}

static void test_sync_task_inserts_then_reads_without_writing(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_err_clear(&err);
    ib_task_record rec;
    assert_int_equal(ib_store_sync_task(f->st, "a", "{\"x\":1}", 1000, &rec, &err), 0);
    assert_int_equal(rec.created_at, 1000);
    assert_true(rec.enabled);
    assert_int_equal(rec.runs_since_full, -1);
    assert_false(rec.has_last_slot);
    assert_null(rec.name);
    assert_int_equal(ib_store_set_last_slot(f->st, "a", 777, &err), 0);
    run(f->st, "a", IB_RESULT_SUCCEEDED, 1100, 1200);

    /* Unchanged: the numbers come back and nothing is written, which
     * another connection sees as an unchanged data_version. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    long long v0 = data_version(db);
    assert_int_equal(ib_store_sync_task(f->st, "a", "{\"x\":1}", 5000, &rec, &err), 0);
    assert_int_equal(data_version(db), v0);
    assert_int_equal(rec.created_at, 1000);
    assert_int_equal(rec.runs_since_full, 0);
    assert_true(rec.has_last_slot);
    assert_int_equal(rec.last_slot, 777);

    /* Changed, and disabled then back: updated, creation time kept. */
    assert_int_equal(ib_store_sync_task(f->st, "a", "{\"x\":2}", 6000, &rec, &err), 0);
    assert_int_not_equal(data_version(db), v0);
    sqlite3_close(db);
    assert_int_equal(rec.created_at, 1000);
    assert_int_equal(rec.last_slot, 777);
    const char *none[] = {"zzz"};
    assert_int_equal(ib_store_disable_tasks_except(f->st, none, 1, &err), 0);
    assert_int_equal(raw_count(f->path, "SELECT enabled FROM tasks WHERE name = 'a'"), 0);
    assert_int_equal(ib_store_sync_task(f->st, "a", "{\"x\":2}", 7000, &rec, &err), 0);
    assert_int_equal(raw_count(f->path, "SELECT enabled FROM tasks WHERE name = 'a'"), 1);
    assert_int_equal(rec.created_at, 1000);
}

static void test_batch_commit_and_rollback(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_err_clear(&err);
    ib_task_record rec;
    assert_int_equal(ib_store_batch_begin(f->st, &err), 0);
    for (int i = 0; i < 50; i++) {
        char name[16];
        snprintf(name, sizeof name, "t%02d", i);
        assert_int_equal(ib_store_sync_task(f->st, name, "{}", 1, &rec, &err), 0);
    }
    /* Not visible to another connection before the commit. */
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM tasks"), 0);
    assert_int_equal(ib_store_batch_commit(f->st, &err), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM tasks"), 50);

    assert_int_equal(ib_store_batch_begin(f->st, &err), 0);
    assert_int_equal(ib_store_sync_task(f->st, "gone", "{}", 1, &rec, &err), 0);
    assert_true(task_exists(f->st, "gone"));
    ib_store_batch_rollback(f->st);
    assert_false(task_exists(f->st, "gone"));
    /* Outside a batch every write commits on its own again. */
    assert_int_equal(ib_store_sync_task(f->st, "single", "{}", 1, &rec, &err), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM tasks WHERE name = 'single'"), 1);
}

static void test_failed_transaction_inside_a_batch_fails_alone(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_err_clear(&err);
    ib_task_record rec;
    assert_int_equal(ib_store_sync_task(f->st, "a", "{}", 1, &rec, &err), 0);
    int64_t id = run(f->st, "a", IB_RESULT_RUNNING, 10, 0);
    assert_int_equal(ib_store_batch_begin(f->st, &err), 0);
    assert_int_equal(ib_store_sync_task(f->st, "b", "{}", 1, &rec, &err), 0);
    /* run_finish is a transaction of its own: its failure (no such running
     * run) rolls back only its savepoint. */
    ib_run_record bad = {.type = IB_BACKUP_FULL, .result = IB_RESULT_SUCCEEDED, .end = 20};
    assert_int_equal(ib_store_run_finish(f->st, id + 100, &bad, &err), -1);
    ib_run_record good = {.type = IB_BACKUP_FULL, .result = IB_RESULT_SUCCEEDED, .end = 20};
    assert_int_equal(ib_store_run_finish(f->st, id, &good, &err), 0);
    assert_int_equal(ib_store_batch_commit(f->st, &err), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM tasks WHERE name = 'b'"), 1);
    assert_int_equal(raw_count(f->path, "SELECT runs_since_full FROM tasks WHERE name = 'a'"), 0);
    assert_int_equal(raw_count(f->path, "SELECT count(*) FROM runs WHERE result = 'succeeded'"), 1);
}

static void test_last_runs_per_task(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_err_clear(&err);
    ib_task_record rec;
    const char *names[] = {"a", "b", "c", "d"};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(ib_store_sync_task(f->st, names[i], "{}", 1, &rec, &err), 0);
    int64_t a_ok = run(f->st, "a", IB_RESULT_SUCCEEDED, 100, 150);
    int64_t c_ok =
        run(f->st, "c", IB_RESULT_SUCCEEDED, 105, 0); /* an end of 0 reads as the start */
    int64_t a_failed = run(f->st, "a", IB_RESULT_FAILED, 200, 230);
    run(f->st, "a", IB_RESULT_SKIPPED, 300, 300);
    run(f->st, "a", IB_RESULT_RUNNING, 400, 0);
    int64_t c_int = run(f->st, "c", IB_RESULT_INTERRUPTED, 500, 520);
    run(f->st, "d", IB_RESULT_SKIPPED, 600, 600); /* skipped only: no history */
    /* b: no runs at all */

    ib_task_history *h = NULL;
    size_t n = 0;
    assert_int_equal(ib_store_last_runs_per_task(f->st, NULL, &h, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].last_run.task, "a");
    assert_int_equal(h[0].last_run.id, a_failed);
    assert_int_equal(h[0].last_run.result, IB_RESULT_FAILED);
    assert_int_equal(h[0].last_run.start, 200);
    assert_int_equal(h[0].last_run.end, 230);
    assert_string_equal(h[0].last_run.error_code, "E_SOURCE_MISSING");
    assert_int_equal(h[0].last_run.bytes_sent, 1000 + a_failed);
    assert_int_equal(h[0].last_success, 150);
    /* Copies kept: of the newest success, not of the failed last run. */
    assert_false(h[0].last_run.has_copies_kept);
    assert_true(h[0].has_copies_kept);
    assert_int_equal(h[0].copies_kept, 10 + a_ok);
    assert_string_equal(h[1].last_run.task, "c");
    assert_int_equal(h[1].last_run.id, c_int);
    assert_int_equal(h[1].last_run.result, IB_RESULT_INTERRUPTED);
    assert_int_equal(h[1].last_success, 105);
    assert_true(h[1].has_copies_kept);
    assert_int_equal(h[1].copies_kept, 10 + c_ok);
    ib_task_histories_free(h, n);

    assert_int_equal(ib_store_last_runs_per_task(f->st, "c", &h, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(h[0].last_run.task, "c");
    ib_task_histories_free(h, n);
    assert_int_equal(ib_store_last_runs_per_task(f->st, "b", &h, &n, &err), 0);
    assert_int_equal(n, 0);
    ib_task_histories_free(h, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_task_inserts_then_reads_without_writing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_batch_commit_and_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_transaction_inside_a_batch_fails_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_last_runs_per_task, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
