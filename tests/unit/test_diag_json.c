/* Diagnostics as JSON objects (ib_diag_json.h): the shape scripts read from
 * status --json, reload and check-config --json, and the text a client
 * prints from an object, which must be the daemon's own line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_diag_json.h"

#include <string.h>

static ib_diags sample(void)
{
    ib_diags d;
    ib_diags_init(&d);
    ib_diags_add(&d, IB_SEV_ERROR, IB_E_TASK_SYNTAX, "tasks.d/typo.json", NULL, 3, 13,
                 "unexpected '\"'");
    ib_diags_add(&d, IB_SEV_ERROR, IB_E_TASK_FIELD, "tasks.d/nightly.json", "/period/every", 0, 0,
                 "must be >= 1, got %d", 0);
    ib_diags_add(&d, IB_SEV_WARNING, IB_E_TASK_FIELD, "tasks.d/p.json", "/source", 0, 0,
                 "pattern matches nothing");
    ib_diags_add(&d, IB_SEV_ERROR, IB_E_TASK_FILE, "tasks.d", NULL, 0, 0, "cannot read");
    return d;
}

static const char *str(const cJSON *o, const char *key)
{
    return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void test_object_shape(void **state)
{
    (void)state;
    ib_diags d = sample();
    cJSON *syntax = ib_diag_to_json(&d.items[0]);
    assert_non_null(syntax);
    assert_string_equal(str(syntax, "file"), "tasks.d/typo.json");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(syntax, "pointer")));
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(syntax, "line")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(syntax, "column")->valueint, 13);
    assert_string_equal(str(syntax, "code"), "E_TASK_SYNTAX");
    assert_string_equal(str(syntax, "message"), "unexpected '\"'");
    assert_int_equal(cJSON_GetArraySize(syntax), 6);
    cJSON *field = ib_diag_to_json(&d.items[1]);
    assert_string_equal(str(field, "pointer"), "/period/every");
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(field, "line")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(field, "column")));
    assert_string_equal(str(field, "code"), "E_TASK_FIELD");
    cJSON_Delete(syntax);
    cJSON_Delete(field);
    ib_diags_free(&d);
}

static void test_array_of_one_severity(void **state)
{
    (void)state;
    ib_diags d = sample();
    cJSON *errors = ib_diags_to_json(&d, IB_SEV_ERROR);
    cJSON *warnings = ib_diags_to_json(&d, IB_SEV_WARNING);
    assert_int_equal(cJSON_GetArraySize(errors), 3);
    assert_int_equal(cJSON_GetArraySize(warnings), 1);
    assert_string_equal(str(cJSON_GetArrayItem(warnings, 0), "file"), "tasks.d/p.json");
    cJSON_Delete(errors);
    cJSON_Delete(warnings);
    ib_diags empty;
    ib_diags_init(&empty);
    cJSON *none = ib_diags_to_json(&empty, IB_SEV_ERROR);
    assert_true(cJSON_IsArray(none));
    assert_int_equal(cJSON_GetArraySize(none), 0);
    cJSON_Delete(none);
    ib_diags_free(&d);
}

/* Through the text of the protocol, as a client receives it. */
static void test_client_prints_the_daemon_line(void **state)
{
    (void)state;
    ib_diags d = sample();
    for (size_t i = 0; i < d.len; i++) {
        if (d.items[i].severity != IB_SEV_ERROR)
            continue;
        cJSON *o = ib_diag_to_json(&d.items[i]);
        char *text = cJSON_PrintUnformatted(o);
        cJSON *received = cJSON_Parse(text);
        char want[512], got[512];
        ib_diag_format(&d.items[i], want, sizeof want);
        assert_true(ib_diag_json_format(received, got, sizeof got) > 0);
        assert_string_equal(got, want);
        cJSON_Delete(received);
        cJSON_free(text);
        cJSON_Delete(o);
    }
    ib_diags_free(&d);
}

static void test_client_takes_strings_and_refuses_other_values(void **state)
{
    (void)state;
    char buf[128];
    cJSON *s = cJSON_CreateString("tasks.d/x.json: bad (E_TASK_FIELD)");
    assert_true(ib_diag_json_format(s, buf, sizeof buf) > 0);
    assert_string_equal(buf, "tasks.d/x.json: bad (E_TASK_FIELD)");
    cJSON *n = cJSON_CreateNumber(1);
    assert_int_equal(ib_diag_json_format(n, buf, sizeof buf), -1);
    /* A broken object still prints one line, never crashes. */
    cJSON *o = cJSON_Parse("{\"line\":1e300,\"code\":7}");
    assert_true(ib_diag_json_format(o, buf, sizeof buf) > 0);
    assert_string_equal(buf, ":  (E_INTERNAL)");
    cJSON_Delete(s);
    cJSON_Delete(n);
    cJSON_Delete(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_shape),
        cmocka_unit_test(test_array_of_one_severity),
        cmocka_unit_test(test_client_prints_the_daemon_line),
        cmocka_unit_test(test_client_takes_strings_and_refuses_other_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
