/* The daemon's data structures: the due-time heap and the bounded line splitter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "linebuf.h"
#include "taskheap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heap_orders_by_due_time),
        cmocka_unit_test(test_linebuf_splits_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
