/* The daemon's data structures: the due-time heap and the bounded line
 * splitter; the scheduler against a real store with injected wall times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_diag.h"
#include "linebuf.h"
#include "runs.h"
#include "scheduler.h"
#include "taskheap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void test_heap_orders_by_due_time(void **state)
{
    (void)state;
    enum { N = 1000 };
    ibd_heap h;
    ibd_heap_init(&h);
    ibd_heap_node *nodes = calloc(N, sizeof *nodes);
    assert_non_null(nodes);
    srand(7);
    for (int i = 0; i < N; i++) {
        nodes[i].pos = IBD_HEAP_NONE;
        nodes[i].due = rand() % 5000;
        assert_int_equal(ibd_heap_push(&h, &nodes[i]), 0);
        assert_true(ibd_heap_contains(&nodes[i]));
    }
    /* Remove every third from the middle, as a reload that drops tasks does. */
    for (int i = 0; i < N; i += 3) {
        ibd_heap_remove(&h, &nodes[i]);
        assert_false(ibd_heap_contains(&nodes[i]));
    }
    ibd_heap_remove(&h, &nodes[0]); /* not in the heap: harmless */
    time_t last = -1;
    size_t popped = 0;
    for (ibd_heap_node *top; (top = ibd_heap_top(&h)) != NULL; popped++) {
        assert_true(top->due >= last);
        last = top->due;
        ibd_heap_remove(&h, top);
    }
    assert_int_equal(popped, N - (N + 2) / 3);
    ibd_heap_free(&h);
    free(nodes);
}

typedef struct lines {
    char got[8][64];
    int n;
    int too_long;
} lines;

static bool collect(void *ctx, char *line, size_t len, bool too_long)
{
    lines *l = ctx;
    if (too_long) {
        l->too_long++;
        return true;
    }
    assert_int_equal(strlen(line), len);
    snprintf(l->got[l->n++], sizeof l->got[0], "%s", line);
    return true;
}

static void test_linebuf_splits_and_bounds(void **state)
{
    (void)state;
    ibd_linebuf lb;
    ibd_linebuf_init(&lb, 8);
    lines l = {0};
    assert_true(ibd_linebuf_feed(&lb, "ab", 2, collect, &l));
    assert_int_equal(l.n, 0);
    assert_true(ibd_linebuf_feed(&lb, "c\nde\n", 5, collect, &l));
    assert_int_equal(l.n, 2);
    assert_string_equal(l.got[0], "abc");
    assert_string_equal(l.got[1], "de");
    /* A line over the bound is reported once and discarded up to its '\n'. */
    assert_true(ibd_linebuf_feed(&lb, "0123456789", 10, collect, &l));
    assert_true(ibd_linebuf_feed(&lb, "abcdef\nok\n", 10, collect, &l));
    assert_int_equal(l.too_long, 1);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.got[2], "ok");
    ibd_linebuf_free(&lb);
}

/* main.c's hook (not in the library): nothing to tell in these tests. */
void ibd_on_runs_changed(ibd *d)
{
    (void)d;
}

/* Every minute; NOW is 30 s past a minute boundary. */
#define MINUTE_TASK                                                                                \
    "{\"mode\": \"periodic\", \"started\": \"2024-01-01T00:00:00Z\","                              \
    " \"period\": {\"every\": 1, \"unit\": \"minutes\"},"                                          \
    " \"source\": {\"data_dirs\": [\"/opt/iotdb/data\"], \"databases\": [\"root.ln\"]},"           \
    " \"target\": {\"path_type\": \"LocalDir\", \"target_path\": \"/var/backups/iotdb\","          \
    " \"max_copies\": 3}}"
#define SLOT ((time_t)1800000000)
#define NOW (SLOT + 30)
#define TEN_DAYS ((time_t)10 * 24 * 3600)

typedef struct sched_fixture {
    char dir[64];
    char db[96];
    ibd d;
    ibd_task *t;
    ibd_task *tasks[1];
} sched_fixture;

static int sched_setup(void **state)
{
    sched_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ib-test-sched-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof f->db, "%s/state.db", f->dir);
    ib_err err;
    ib_err_clear(&err);
    assert_int_equal(ib_store_open(f->db, false, &f->d.store, &err), 0);
    f->d.clock.fd = -1; /* no timer: ibd_sched_rearm does nothing */
    ibd_heap_init(&f->d.heap);
    ib_diags diags;
    ib_diags_init(&diags);
    ib_task *def = NULL;
    assert_int_equal(ib_task_parse("p", "p.json", MINUTE_TASK, strlen(MINUTE_TASK), &def, &diags),
                     0);
    ib_diags_free(&diags);
    ib_task_record rec;
    memset(&rec, 0, sizeof rec);
    assert_int_equal(ib_store_sync_task(f->d.store, "p", def->canonical_json, NOW, &rec, &err), 0);
    f->t = ibd_task_new(def, rec.created_at);
    assert_non_null(f->t);
    ib_task_record_clear(&rec);
    f->tasks[0] = f->t;
    f->d.tasks = f->tasks;
    f->d.n_tasks = 1;
    *state = f;
    return 0;
}

static int sched_teardown(void **state)
{
    sched_fixture *f = *state;
    ibd_sched_task_removed(&f->d, f->t);
    ibd_task_free(f->t);
    ibd_heap_free(&f->d.heap);
    ib_store_close(f->d.store);
    unlink(f->db);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int64_t stored_last_slot(sched_fixture *f)
{
    ib_task_record rec;
    memset(&rec, 0, sizeof rec);
    bool found = false;
    ib_err err;
    ib_err_clear(&err);
    assert_int_equal(ib_store_get_task(f->d.store, "p", &rec, &found, &err), 0);
    assert_true(found && rec.has_last_slot);
    int64_t slot = rec.last_slot;
    ib_task_record_clear(&rec);
    return slot;
}

/* Start-up with a stored last slot 10 days ahead (the auditor's case): the
 * next run is the first slot after now, with no catch-up run. */
static void test_sched_start_with_future_slot(void **state)
{
    sched_fixture *f = *state;
    ib_task_record rec = {.has_last_slot = true, .last_slot = NOW + TEN_DAYS};
    ibd_sched_task_added(&f->d, f->t, &rec, NOW);
    assert_int_equal(f->t->last_slot, SLOT);
    assert_int_equal(stored_last_slot(f), SLOT);
    assert_ptr_equal(ibd_sched_next(&f->d), f->t);
    assert_int_equal(f->t->node.due, SLOT + 60);
    assert_null(f->d.runs);
}

/* The clock ran 10 days ahead while slots were handled, then was stepped
 * back: the clock-change wake-up reschedules from now, running nothing. */
static void test_sched_clock_stepped_back(void **state)
{
    sched_fixture *f = *state;
    ibd_sched_task_added(&f->d, f->t, NULL, NOW + TEN_DAYS);
    assert_int_equal(f->t->node.due, SLOT + TEN_DAYS + 60);
    /* A wake-up that is not a clock change leaves it alone (nothing due). */
    ibd_sched_wake(&f->d, NOW, false);
    assert_int_equal(f->t->node.due, SLOT + TEN_DAYS + 60);
    ibd_sched_wake(&f->d, NOW, true);
    assert_int_equal(f->t->last_slot, SLOT);
    assert_int_equal(stored_last_slot(f), SLOT);
    assert_int_equal(f->t->node.due, SLOT + 60);
    assert_null(f->d.runs);
    assert_int_equal(f->d.n_queued + f->d.n_running, 0);
}

/* A step back of less than a period: the last slot is the next one after
 * now and has run already, so it is kept (no second run of that slot). */
static void test_sched_small_step_back_keeps_slot(void **state)
{
    sched_fixture *f = *state;
    ib_task_record rec = {.has_last_slot = true, .last_slot = SLOT + 60};
    ibd_sched_task_added(&f->d, f->t, &rec, NOW);
    assert_int_equal(f->t->last_slot, SLOT + 60);
    assert_int_equal(f->t->node.due, SLOT + 120);
    ibd_sched_wake(&f->d, NOW, true);
    assert_int_equal(f->t->node.due, SLOT + 120);
    assert_null(f->d.runs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_orders_by_due_time),
        cmocka_unit_test(test_linebuf_splits_and_bounds),
        cmocka_unit_test_setup_teardown(test_sched_start_with_future_slot, sched_setup,
                                        sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_clock_stepped_back, sched_setup, sched_teardown),
        cmocka_unit_test_setup_teardown(test_sched_small_step_back_keeps_slot, sched_setup,
                                        sched_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
