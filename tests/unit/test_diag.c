/* Errors and diagnostics: the one-line formats every tool prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_diag.h"
#include "ib_error.h"

#include <errno.h>
#include <string.h>

static void test_code_names_are_stable(void **state)
{
    (void)state;
    assert_string_equal(ib_code_name(IB_E_TASK_FIELD), "E_TASK_FIELD");
    assert_string_equal(ib_code_name(IB_E_TARGET_UNREACHABLE), "E_TARGET_UNREACHABLE");
    assert_int_equal(IB_E_TASK_FIELD, 11);
    assert_int_equal(IB_E_TARGET_UNREACHABLE, 40);
    assert_string_equal(ib_code_name((ib_code)9999), "E_UNKNOWN");
}

static void test_err_set_errno_prefix(void **state)
{
    (void)state;
    ib_err err;
    ib_err_clear(&err);
    assert_int_equal(err.code, IB_OK);
    assert_int_equal(ib_err_errno(&err, IB_E_IO, ENOENT, "open %s", "/x"), -1);
    assert_int_equal(err.code, IB_E_IO);
    assert_string_equal(err.msg, "open /x: No such file or directory");
    ib_err_prefix(&err, "task %s", "nightly");
    assert_string_equal(err.msg, "task nightly: open /x: No such file or directory");
    assert_int_equal(err.code, IB_E_IO);
    assert_int_equal(ib_err_set(NULL, IB_E_IO, "ignored"), -1);
}

static void test_diag_formats(void **state)
{
    (void)state;
    ib_diags d;
    ib_diags_init(&d);
    ib_diags_add(&d, IB_SEV_ERROR, IB_E_TASK_FIELD, "tasks.d/nightly.json", "/period/every", 0, 0,
                 "must be >= %d, got %d", 1, 0);
    ib_diags_add(&d, IB_SEV_ERROR, IB_E_TASK_SYNTAX, "tasks.d/x.json", NULL, 3, 5, "expected ','");
    ib_diags_add(&d, IB_SEV_WARNING, IB_E_TASK_FIELD, "tasks.d/y.json", "/source", 0, 0,
                 "pattern matches nothing");
    assert_int_equal(ib_diags_errors(&d), 2);
    assert_int_equal(ib_diags_warnings(&d), 1);
    char buf[256];
    ib_diag_format(&d.items[0], buf, sizeof buf);
    assert_string_equal(buf,
                        "tasks.d/nightly.json: /period/every: must be >= 1, got 0 (E_TASK_FIELD)");
    ib_diag_format(&d.items[1], buf, sizeof buf);
    assert_string_equal(buf, "tasks.d/x.json:3:5: expected ',' (E_TASK_SYNTAX)");
    ib_diag_format(&d.items[2], buf, sizeof buf);
    assert_string_equal(buf,
                        "warning: tasks.d/y.json: /source: pattern matches nothing (E_TASK_FIELD)");

    ib_diags other;
    ib_diags_init(&other);
    ib_diags_add(&other, IB_SEV_ERROR, IB_E_CONFIG, "iotdb-backupd.conf", NULL, 0, 0, "bad");
    ib_diags_move(&d, &other);
    assert_int_equal(other.len, 0);
    assert_int_equal(d.len, 4);
    ib_diag_format(&d.items[3], buf, sizeof buf);
    assert_string_equal(buf, "iotdb-backupd.conf: bad (E_CONFIG)");
    ib_diags_free(&d);
    ib_diags_free(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_code_names_are_stable),
        cmocka_unit_test(test_err_set_errno_prefix),
        cmocka_unit_test(test_diag_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
