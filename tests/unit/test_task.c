/* Task files: parsing, every validation error, canonical JSON, task sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_task.h"

#include <cjson/cJSON.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const LOCAL_BASE =
    "{\"mode\": \"periodic\", \"started\": \"2026-11-24T02:00:00\","
    " \"period\": {\"every\": 1, \"unit\": \"days\"},"
    " \"source\": {\"data_dirs\": [\"/opt/iotdb/data\"], \"databases\": [\"root.ln\"]},"
    " \"target\": {\"path_type\": \"LocalDir\", \"target_path\": \"/var/backups/iotdb\","
    " \"max_copies\": 7}}";

static const char *const HDFS_BASE =
    "{\"mode\": \"periodic\", \"started\": \"2026-11-24T02:00:00\","
    " \"period\": {\"every\": 1, \"unit\": \"days\"},"
    " \"source\": {\"data_dirs\": [\"/opt/iotdb/data\"], \"databases\": [\"root.ln\"]},"
    " \"target\": {\"path_type\": \"RemoteHDFS\", \"nameservice\": \"hacluster\","
    " \"active_namenode\": \"192.0.2.10\", \"target_path\": \"/backup/iotdb\","
    " \"max_copies\": 7, \"auth\": {\"mode\": \"simple\", \"user\": \"hdfs\"}}}";

/* Every field set, Kerberos from a security-mode cluster. */
static const char *const FULL =
    "{\n"
    "  \"mode\": \"periodic\",\n"
    "  \"started\": \"2028-02-29T23:59:58+05:30\",\n"
    "  \"period\": {\"every\": 6, \"unit\": \"hours\"},\n"
    "  \"policy\": \"full-every-n\",\n"
    "  \"full_every\": 5,\n"
    "  \"catch_up\": \"skip\",\n"
    "  \"cluster_mode\": \"security\",\n"
    "  \"source\": {\n"
    "    \"data_dirs\": [\"/data/a\", \"/data/b\"],\n"
    "    \"databases\": [\"root.ln\", \"root.sgcc\"],\n"
    "    \"database_patterns\": [\"^root\\\\.factory_[0-9]+$\"],\n"
    "    \"rest\": {\"url\": \"https://iotdb.example:18080\", \"user\": \"backup\",\n"
    "             \"password_file\": \"/etc/iotdb-backupd/iotdb.pass\"}\n"
    "  },\n"
    "  \"target\": {\n"
    "    \"path_type\": \"RemoteHDFS\",\n"
    "    \"nameservice\": \"hacluster\",\n"
    "    \"ip_mode\": \"IPv6\",\n"
    "    \"active_namenode\": \"[2001:db8::10]\",\n"
    "    \"standby_namenode\": \"nn2.example.com\",\n"
    "    \"namenode_rpc_port\": 25000,\n"
    "    \"namenode_http_port\": 9871,\n"
    "    \"tls\": true,\n"
    "    \"ca_file\": \"/etc/ssl/hdfs-ca.pem\",\n"
    "    \"parallel_uploads\": 8,\n"
    "    \"target_path\": \"/backup//iotdb/\",\n"
    "    \"max_copies\": 65536,\n"
    "    \"max_bandwidth_mbps\": 12.5,\n"
    "    \"auth\": {\"mode\": \"kerberos\", \"principal\": \"backup@EXAMPLE.COM\",\n"
    "             \"keytab\": \"/etc/iotdb-backupd/backup.keytab\"}\n"
    "  }\n"
    "}\n";

static ib_diags D;

static int setup(void **state)
{
    (void)state;
    ib_diags_init(&D);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ib_diags_free(&D);
    return 0;
}

static ib_task *parse_ok(const char *text)
{
    ib_task *t = NULL;
    int r = ib_task_parse("t", "tasks.d/t.json", text, strlen(text), &t, &D);
    if (r != 0)
        for (size_t i = 0; i < D.len; i++) {
            char line[2048];
            ib_diag_format(&D.items[i], line, sizeof line);
            fprintf(stderr, "unexpected: %s\n", line);
        }
    assert_int_equal(r, 0);
    assert_non_null(t);
    assert_int_equal(ib_diags_errors(&D), 0);
    return t;
}

static int parse_fails(const char *text)
{
    ib_task *t = (ib_task *)1;
    int r = ib_task_parse("t", "tasks.d/t.json", text, strlen(text), &t, &D);
    assert_int_equal(r, -1);
    assert_null(t);
    return (int)ib_diags_errors(&D);
}

/* The diagnostic with this pointer (NULL: none) whose message contains part. */
static const ib_diag *find(const char *pointer, const char *part)
{
    for (size_t i = 0; i < D.len; i++) {
        const ib_diag *d = &D.items[i];
        bool same = pointer ? d->pointer && strcmp(d->pointer, pointer) == 0 : !d->pointer;
        if (same && strstr(d->message, part))
            return d;
    }
    for (size_t i = 0; i < D.len; i++) {
        char line[2048];
        ib_diag_format(&D.items[i], line, sizeof line);
        fprintf(stderr, "have: %s\n", line);
    }
    fprintf(stderr, "wanted: %s: ...%s...\n", pointer ? pointer : "(none)", part);
    return NULL;
}

static void expect(const char *pointer, const char *part, ib_code code)
{
    const ib_diag *d = find(pointer, part);
    assert_non_null(d);
    assert_int_equal(d->code, code);
    assert_int_equal(d->severity, IB_SEV_ERROR);
}

/* base with members replaced: pairs of pointer and JSON value (NULL
 * value: delete), ended by a NULL pointer. */
static char *edit(const char *base, ...)
{
    cJSON *root = cJSON_Parse(base);
    assert_non_null(root);
    va_list ap;
    va_start(ap, base);
    const char *ptr;
    while ((ptr = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        char buf[256];
        snprintf(buf, sizeof buf, "%s", ptr + 1);
        cJSON *parent = root;
        char *seg = buf, *slash;
        while ((slash = strchr(seg, '/')) != NULL) {
            *slash = '\0';
            parent = cJSON_GetObjectItemCaseSensitive(parent, seg);
            assert_non_null(parent);
            seg = slash + 1;
        }
        cJSON_DeleteItemFromObjectCaseSensitive(parent, seg);
        if (value) {
            cJSON *v = cJSON_Parse(value);
            assert_non_null(v);
            cJSON_AddItemToObject(parent, seg, v);
        }
    }
    va_end(ap);
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

/* base with the first from replaced by to (malloc'd). */
static char *replace_once(const char *base, const char *from, const char *to)
{
    const char *at = strstr(base, from);
    assert_non_null(at);
    size_t n = strlen(base) - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    return out;
}

/* Parse base edited by one change; exactly one error, as described. */
static void expect_one(const char *base, const char *set_ptr, const char *value,
                       const char *pointer, const char *part, ib_code code)
{
    char *text = edit(base, set_ptr, value, NULL);
    int n = parse_fails(text);
    expect(pointer, part, code);
    if (n != 1)
        find(NULL, "\x01 dump all");
    assert_int_equal(n, 1);
    free(text);
    ib_diags_free(&D);
}

/* Parse base edited by one change; it must be valid. */
static ib_task *edited_ok(const char *base, const char *set_ptr, const char *value)
{
    char *text = edit(base, set_ptr, value, NULL);
    ib_task *t = parse_ok(text);
    free(text);
    return t;
}

/* ---- valid tasks ---- */

static void test_full_example(void **state)
{
    (void)state;
    ib_task *t = parse_ok(FULL);
    assert_string_equal(t->name, "t");
    assert_string_equal(t->file, "tasks.d/t.json");
    assert_int_equal(t->mode, IB_MODE_PERIODIC);
    assert_true(t->has_schedule);
    const ib_civil_time *s = &t->schedule.started;
    assert_int_equal(s->year, 2028);
    assert_int_equal(s->month, 2);
    assert_int_equal(s->day, 29);
    assert_int_equal(s->hour, 23);
    assert_int_equal(s->minute, 59);
    assert_int_equal(s->second, 58);
    assert_true(s->has_offset);
    assert_int_equal(s->offset_seconds, 5 * 3600 + 30 * 60);
    assert_int_equal(t->schedule.every, 6);
    assert_int_equal(t->schedule.unit, IB_UNIT_HOURS);
    assert_int_equal(t->policy, IB_POLICY_FULL_EVERY_N);
    assert_int_equal(t->full_every, 5);
    assert_int_equal(t->catch_up, IB_CATCH_UP_SKIP);
    assert_true(t->cluster_security);
    const ib_source *src = &t->source;
    assert_int_equal(src->n_data_dirs, 2);
    assert_string_equal(src->data_dirs[0], "/data/a");
    assert_string_equal(src->data_dirs[1], "/data/b");
    assert_int_equal(src->n_databases, 2);
    assert_string_equal(src->databases[0], "root.ln");
    assert_string_equal(src->databases[1], "root.sgcc");
    assert_int_equal(src->n_database_patterns, 1);
    assert_string_equal(src->database_patterns[0], "^root\\.factory_[0-9]+$");
    assert_non_null(src->rest);
    assert_string_equal(src->rest->url, "https://iotdb.example:18080");
    assert_string_equal(src->rest->user, "backup");
    assert_string_equal(src->rest->password_file, "/etc/iotdb-backupd/iotdb.pass");
    const ib_target *tg = &t->target;
    assert_int_equal(tg->type, IB_TARGET_REMOTEHDFS);
    assert_string_equal(tg->target_path, "/backup/iotdb");
    assert_int_equal(tg->max_copies, 65536);
    assert_true(tg->max_bandwidth_mbps == 12.5);
    assert_string_equal(tg->nameservice, "hacluster");
    assert_true(tg->ipv6);
    assert_string_equal(tg->active_namenode, "2001:db8::10");
    assert_string_equal(tg->standby_namenode, "nn2.example.com");
    assert_int_equal(tg->namenode_rpc_port, 25000);
    assert_int_equal(tg->namenode_http_port, 9871);
    assert_true(tg->tls);
    assert_string_equal(tg->ca_file, "/etc/ssl/hdfs-ca.pem");
    assert_int_equal(tg->parallel_uploads, 8);
    assert_int_equal(tg->auth_mode, IB_AUTH_KERBEROS);
    assert_null(tg->auth_user);
    assert_string_equal(tg->auth_principal, "backup@EXAMPLE.COM");
    assert_string_equal(tg->auth_keytab, "/etc/iotdb-backupd/backup.keytab");
    assert_non_null(t->canonical_json);
    assert_int_equal(D.len, 0);
    ib_task_free(t);
}

static void test_defaults(void **state)
{
    (void)state;
    ib_task *t = parse_ok(LOCAL_BASE);
    assert_int_equal(t->policy, IB_POLICY_FULL_THEN_INCREMENTAL);
    assert_int_equal(t->catch_up, IB_CATCH_UP_ONCE);
    assert_false(t->cluster_security);
    assert_false(t->schedule.started.has_offset);
    assert_null(t->source.rest);
    assert_int_equal(t->source.n_database_patterns, 0);
    assert_int_equal(t->target.type, IB_TARGET_LOCALDIR);
    assert_true(t->target.max_bandwidth_mbps == 0);
    assert_null(t->target.nameservice);
    assert_int_equal(t->target.parallel_uploads, 4);
    ib_task_free(t);

    t = parse_ok(HDFS_BASE);
    assert_false(t->target.ipv6);
    assert_int_equal(t->target.namenode_rpc_port, 8020);
    assert_int_equal(t->target.namenode_http_port, 9870);
    assert_int_equal(t->target.parallel_uploads, 4);
    assert_int_equal(t->target.stall_timeout_s, 60);
    assert_false(t->target.tls);
    assert_null(t->target.standby_namenode);
    assert_int_equal(t->target.auth_mode, IB_AUTH_SIMPLE);
    assert_string_equal(t->target.auth_user, "hdfs");
    ib_task_free(t);

    t = edited_ok(LOCAL_BASE, "/source/rest",
                  "{\"url\": \"http://127.0.0.1:18080\", \"password_file\": \"/etc/p\"}");
    assert_string_equal(t->source.rest->user, "root");
    ib_task_free(t);

    /* manual tasks have no schedule */
    char *text = edit(LOCAL_BASE, "/mode", "\"manual\"", "/started", NULL, "/period", NULL, NULL);
    t = parse_ok(text);
    assert_int_equal(t->mode, IB_MODE_MANUAL);
    assert_false(t->has_schedule);
    ib_task_free(t);
    free(text);
}

/* ---- syntax ---- */

static void expect_syntax(const char *text, int line, int column, const char *part)
{
    ib_task *t = NULL;
    assert_int_equal(ib_task_parse("t", "tasks.d/t.json", text, strlen(text), &t, &D), -1);
    assert_null(t);
    assert_int_equal(D.len, 1);
    const ib_diag *d = &D.items[0];
    if (d->line != line || d->column != column || !strstr(d->message, part))
        fprintf(stderr, "got %d:%d %s\n", d->line, d->column, d->message);
    assert_int_equal(d->code, IB_E_TASK_SYNTAX);
    assert_int_equal(d->line, line);
    assert_int_equal(d->column, column);
    assert_non_null(strstr(d->message, part));
    ib_diags_free(&D);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    expect_syntax("{\n  \"mode\": \"periodic\"\n  \"policy\": \"x\"\n}", 3, 3,
                  "a ',' is probably missing");
    expect_syntax("{\"a\": 1,\n}", 2, 1, "trailing comma");
    expect_syntax("{\"a\": [1, 2,]}", 1, 13, "trailing comma");
    expect_syntax("{\"a\": 1,, \"b\": 2}", 1, 9, "unexpected character ','");
    expect_syntax("{\n  // comment\n  \"a\": 1}", 2, 3, "no comments");
    expect_syntax("{'a': 1}", 1, 2, "double quotes");
    expect_syntax("{\"a\": [1, 2", 1, 12, "unexpected end of file");
    expect_syntax("{\"a\": 1} x", 1, 10, "unexpected character 'x'");
    expect_syntax("{\"a\": tru}", 1, 7, "unexpected character 't'");
    expect_syntax("{\"a\": 1}}", 1, 9, "unexpected character '}'");
    expect_syntax("{\"a\": 1,\n  \"b\" 2}", 2, 7, "expected ':' after the key, got '2'");
    expect_syntax("{\"a\\\"\" 2}", 1, 8, "expected ':' after the key");
    expect_syntax("{\"a\": [\"x\" \"y\"]}", 1, 12, "a ',' is probably missing");
    expect_syntax("{\"a\": {\"b\": [1],\n    }}", 2, 5, "trailing comma");
    expect_syntax("{\"a\": [{\"b\": 1}, {\"c\": 2,}]}", 1, 26, "trailing comma");
    expect_syntax("{\"a\": [\"x\", 1", 1, 14, "unexpected end of file");
    expect_syntax("{\"a\": [\"x\", {\"b\": true\n", 2, 1, "unexpected end of file");
    expect_syntax("{\"a\": tru", 1, 7, "unexpected character 't'");
    expect_syntax("{\"a\": \"\\q\"}", 1, 8, "invalid escape sequence");
    expect_syntax("{\"a\": \"x}", 1, 7, "string is not closed");
    /* a byte that is not printable is named by its value, not printed (cJSON skips
     * the control characters as white space) */
    expect_syntax("{\"a\": \x7f}", 1, 7, "unexpected byte 0x7f");
    expect_syntax("{\"a\": 1}\xfe", 1, 9, "unexpected byte 0xfe");
    expect_syntax("  \n\t ", 2, 3, "file is empty");
    expect_syntax("", 1, 1, "file is empty");
    /* columns count characters, not bytes */
    expect_syntax("{\"\xc3\xa4\xc3\xb6\": 1 2}", 1, 10, "unexpected character '2'");

    /* NUL bytes, raw or escaped */
    const char raw[] = "{\"a\":\n \"x\0y\"}";
    ib_task *t = NULL;
    assert_int_equal(ib_task_parse("t", "tasks.d/t.json", raw, sizeof raw - 1, &t, &D), -1);
    assert_int_equal(D.len, 1);
    assert_int_equal(D.items[0].code, IB_E_TASK_SYNTAX);
    assert_int_equal(D.items[0].line, 2);
    assert_int_equal(D.items[0].column, 4);
    assert_non_null(strstr(D.items[0].message, "NUL byte"));
    ib_diags_free(&D);
    expect_syntax("{\"a\": \"x\\\\u0000\", \"b\": \"\\u0000\"}", 1, 25, "\\u0000 (NUL)");

    /* the root must be an object */
    assert_int_equal(parse_fails("[1, 2]"), 1);
    expect(NULL, "must hold a JSON object, got array", IB_E_TASK_FIELD);

    char line[512];
    ib_diag d = {IB_SEV_ERROR, IB_E_TASK_SYNTAX, "tasks.d/t.json", NULL, 3, 5, "x"};
    ib_diag_format(&d, line, sizeof line);
    assert_string_equal(line, "tasks.d/t.json:3:5: x (E_TASK_SYNTAX)");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    /* duplicates written by hand: cJSON keeps both */
    const char *dup = "{\"mode\": \"periodic\", \"mode\": \"manual\", \"started\": "
                      "\"2026-11-24T02:00:00\", \"period\": {\"every\": 1, \"unit\": \"days\", "
                      "\"every\": 2}, \"source\": {\"data_dirs\": [\"/d\"], \"databases\": "
                      "[\"root.a\"]}, \"target\": {\"path_type\": \"LocalDir\", \"target_path\": "
                      "\"/b\", \"max_copies\": 1, \"max_copies\": 2, \"max_copies\": 3}}";
    assert_int_equal(parse_fails(dup), 4);
    expect("/mode", "duplicate key \"mode\"", IB_E_TASK_FIELD);
    expect("/period/every", "duplicate key \"every\"", IB_E_TASK_FIELD);
    expect("/target/max_copies", "duplicate key \"max_copies\"", IB_E_TASK_FIELD);
}

/* ---- every field error ---- */

static void test_unknown_keys(void **state)
{
    (void)state;
    expect_one(LOCAL_BASE, "/target/max_copy", "3", "/target/max_copy",
               "unknown key \"max_copy\"; did you mean \"max_copies\"?", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/Mode", "\"x\"", "/Mode", "did you mean \"mode\"?", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period/units", "\"x\"", "/period/units", "did you mean \"unit\"?",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/databse", "[]", "/source/databse",
               "did you mean \"databases\"?", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/zzzzzz", "1", "/zzzzzz", "unknown key \"zzzzzz\"", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/enabled", "false", "/enabled", "to disable a task", IB_E_TASK_FIELD);
    char *text = edit(LOCAL_BASE, "/zzzzzz", "1", NULL);
    parse_fails(text);
    assert_null(strstr(D.items[0].message, "did you mean"));
    ib_diags_free(&D);
    free(text);
}

static void test_missing_keys(void **state)
{
    (void)state;
    const char *miss = "required key is missing";
    expect_one(LOCAL_BASE, "/mode", NULL, "/mode", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", NULL, "/started", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period", NULL, "/period", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period/every", NULL, "/period/every", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period/unit", NULL, "/period/unit", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source", NULL, "/source", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/data_dirs", NULL, "/source/data_dirs", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target", NULL, "/target", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/path_type", NULL, "/target/path_type", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/target_path", NULL, "/target/target_path", miss,
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/max_copies", NULL, "/target/max_copies", miss, IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/nameservice", NULL, "/target/nameservice", miss,
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/active_namenode", NULL, "/target/active_namenode", miss,
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/auth", NULL, "/target/auth", miss, IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/auth/mode", NULL, "/target/auth/mode", miss, IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/auth/user", NULL, "/target/auth/user", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/policy", "\"full-every-n\"", "/full_every", miss, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest", "{\"password_file\": \"/p\"}", "/source/rest/url", miss,
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest", "{\"url\": \"http://h:1\"}",
               "/source/rest/password_file", miss, IB_E_TASK_FIELD);
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_one(HDFS_BASE, "/target/nameservice", "7", "/target/nameservice",
               "must be a string, got number", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/mode", "1", "/mode",
               "must be a string (one of \"periodic\", \"manual\"), got number", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period/every", "\"1\"", "/period/every",
               "must be an integer, got string", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period", "[1]", "/period", "must be an object, got array",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source", "null", "/source", "must be an object, got null",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/databases", "\"root.ln\"", "/source/databases",
               "must be an array of strings, got string", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/data_dirs", "[\"/a\", 5]", "/source/data_dirs/1",
               "must be a string, got number", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/tls", "\"yes\"", "/target/tls",
               "must be true or false, got string", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/max_bandwidth_mbps", "true", "/target/max_bandwidth_mbps",
               "must be a number, got boolean", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "{}", "/started", "must be a string, got object",
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/auth", "\"simple\"", "/target/auth",
               "must be an object, got string", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/target_path", "\"\"", "/target/target_path",
               "must not be empty", IB_E_TASK_FIELD);
}

static void test_ranges(void **state)
{
    (void)state;
    expect_one(HDFS_BASE, "/target/stall_timeout_s", "0", "/target/stall_timeout_s",
               "must be >= 1, got 0", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/stall_timeout_s", "3601", "/target/stall_timeout_s",
               "must be <= 3600, got 3601", IB_E_TASK_FIELD);
    ib_task *stall = edited_ok(HDFS_BASE, "/target/stall_timeout_s", "5");
    assert_int_equal(stall->target.stall_timeout_s, 5);
    assert_non_null(strstr(stall->canonical_json, "\"stall_timeout_s\":5"));
    ib_task_free(stall);
    expect_one(LOCAL_BASE, "/period/every", "0", "/period/every", "must be >= 1, got 0",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period/every", "1.5", "/period/every", "must be an integer, got 1.5",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period/every", "1e12", "/period/every",
               "must be <= 1000000, got 1000000000000", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/max_copies", "0", "/target/max_copies", "must be >= 1, got 0",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/max_copies", "65537", "/target/max_copies",
               "must be <= 65536, got 65537", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/namenode_rpc_port", "0", "/target/namenode_rpc_port",
               "must be >= 1, got 0", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/namenode_http_port", "65536", "/target/namenode_http_port",
               "must be <= 65535, got 65536", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/parallel_uploads", "0", "/target/parallel_uploads",
               "must be >= 1, got 0", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/parallel_uploads", "65", "/target/parallel_uploads",
               "must be <= 64, got 65", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/parallel_uploads", "0", "/target/parallel_uploads",
               "must be >= 1, got 0", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/parallel_uploads", "2.5", "/target/parallel_uploads",
               "must be an integer, got 2.5", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/max_bandwidth_mbps", "-1", "/target/max_bandwidth_mbps",
               "must be >= 0, got -1", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/max_bandwidth_mbps", "1000000000.5",
               "/target/max_bandwidth_mbps", "must be <= 1000000000, got 1000000000.5",
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/max_bandwidth_mbps", "2e12", "/target/max_bandwidth_mbps",
               "must be <= 1000000000, got 2000000000000", IB_E_TASK_FIELD);
    ib_task *big = edited_ok(LOCAL_BASE, "/target/max_bandwidth_mbps", "1e9");
    assert_true(big->target.max_bandwidth_mbps == 1e9);
    ib_task_free(big);
    /* infinities only exist in the text (cJSON prints them as null) */
    char *inf = replace_once(LOCAL_BASE, "\"every\": 1", "\"every\": 1e999");
    assert_int_equal(parse_fails(inf), 1);
    expect("/period/every", "must be an integer, got inf", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(inf);
    inf = replace_once(LOCAL_BASE, "\"max_copies\": 7",
                       "\"max_copies\": 7, \"max_bandwidth_mbps\": -1e999");
    assert_int_equal(parse_fails(inf), 1);
    expect("/target/max_bandwidth_mbps", "must be a finite number, got -inf", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(inf);

    char *text = edit(LOCAL_BASE, "/policy", "\"full-every-n\"", "/full_every", "1", NULL);
    parse_fails(text);
    expect("/full_every", "must be >= 2, got 1", IB_E_TASK_FIELD);
    assert_int_equal(ib_diags_errors(&D), 1);
    ib_diags_free(&D);
    free(text);
    expect_one(LOCAL_BASE, "/full_every", "3", "/full_every", "only with policy \"full-every-n\"",
               IB_E_TASK_FIELD);
    char *text2 = edit(LOCAL_BASE, "/policy", "\"full-every-time\"", "/full_every", "3", NULL);
    parse_fails(text2);
    expect("/full_every", "only with policy \"full-every-n\"", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text2);
}

static void test_enums(void **state)
{
    (void)state;
    expect_one(LOCAL_BASE, "/mode", "\"weekly\"", "/mode",
               "must be one of \"periodic\", \"manual\", got \"weekly\"", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/policy", "\"full-every-N\"", "/policy",
               "got \"full-every-N\"; did you mean \"full-every-n\"?", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/period/unit", "\"weeks\"", "/period/unit",
               "must be one of \"minutes\", \"hours\", \"days\"", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/catch_up", "\"always\"", "/catch_up",
               "must be one of \"once\", \"skip\"", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/cluster_mode", "\"securty\"", "/cluster_mode",
               "did you mean \"security\"?", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/target/path_type", "\"HDFS\"", "/target/path_type",
               "must be one of \"LocalDir\", \"RemoteHDFS\"", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/ip_mode", "\"ipv4\"", "/target/ip_mode",
               "did you mean \"IPv4\"?", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/auth/mode", "\"ldap\"", "/target/auth/mode",
               "must be one of \"simple\", \"kerberos\"", IB_E_TASK_FIELD);
}

static void test_started(void **state)
{
    (void)state;
    const char *fmt = "must be \"YYYY-MM-DDTHH:MM:SS\"";
    expect_one(LOCAL_BASE, "/started", "\"2026-11-24 02:00:00\"", "/started", fmt, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-11-24\"", "/started", fmt, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-1a-24T02:00:00\"", "/started", "digits only",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2027-02-29T02:00:00\"", "/started",
               "\"2027-02-29T02:00:00\": day does not exist in that month", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2100-02-29T02:00:00\"", "/started", "day does not exist",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-04-31T02:00:00\"", "/started", "day does not exist",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-13-01T02:00:00\"", "/started", "month",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-00-01T02:00:00\"", "/started", "month",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-00T02:00:00\"", "/started", "day",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-01T24:00:00\"", "/started", "time must be",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-01T23:60:00\"", "/started", "time must be",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-01T23:00:60\"", "/started", "time must be",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"1969-12-31T23:00:00\"", "/started", "1970",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-01T00:00:00+15:00\"", "/started",
               "offset must be between", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-01T00:00:00+01:60\"", "/started",
               "offset must be between", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-01T00:00:00+0100\"", "/started",
               "may only be followed by", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/started", "\"2026-01-01T00:00:00z\"", "/started",
               "may only be followed by", IB_E_TASK_FIELD);

    ib_task *t = edited_ok(LOCAL_BASE, "/started", "\"2000-02-29T00:00:00Z\"");
    assert_int_equal(t->schedule.started.day, 29);
    assert_true(t->schedule.started.has_offset);
    assert_int_equal(t->schedule.started.offset_seconds, 0);
    ib_task_free(t);
    t = edited_ok(LOCAL_BASE, "/started", "\"2026-03-29T02:30:00-03:30\"");
    assert_int_equal(t->schedule.started.offset_seconds, -(3 * 3600 + 30 * 60));
    assert_int_equal(t->schedule.started.hour, 2);
    assert_int_equal(t->schedule.started.minute, 30);
    ib_task_free(t);
    t = edited_ok(LOCAL_BASE, "/started", "\"2024-02-29T00:00:00+14:00\"");
    assert_int_equal(t->schedule.started.offset_seconds, 14 * 3600);
    ib_task_free(t);
}

static void test_mode_rules(void **state)
{
    (void)state;
    char *text = edit(LOCAL_BASE, "/mode", "\"manual\"", "/catch_up", "\"skip\"", NULL);
    assert_int_equal(parse_fails(text), 3);
    expect("/started", "only with mode \"periodic\"", IB_E_TASK_FIELD);
    expect("/period", "only with mode \"periodic\"", IB_E_TASK_FIELD);
    expect("/catch_up", "only with mode \"periodic\"", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);
    /* with an unknown mode, what is there is still checked */
    text = edit(LOCAL_BASE, "/mode", "\"x\"", "/period/every", "0", NULL);
    assert_int_equal(parse_fails(text), 2);
    expect("/mode", "must be one of", IB_E_TASK_FIELD);
    expect("/period/every", "must be >= 1", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);
}

static void test_source_rules(void **state)
{
    (void)state;
    const char *empty = "Backup Content is empty";
    expect_one(LOCAL_BASE, "/source/databases", NULL, "/source", empty, IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/databases", "[]", "/source", empty, IB_E_TASK_FIELD);
    char *text =
        edit(LOCAL_BASE, "/source/databases", "[]", "/source/database_patterns", "[]", NULL);
    assert_int_equal(parse_fails(text), 1);
    expect("/source", empty, IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);
}

static void test_source_values(void **state)
{
    (void)state;
    ib_task *t = NULL;
    char *text = edit(LOCAL_BASE, "/source/databases", NULL, "/source/database_patterns",
                      "[\"^root\\\\..*\"]", NULL);
    t = parse_ok(text);
    assert_int_equal(t->source.n_databases, 0);
    assert_int_equal(t->source.n_database_patterns, 1);
    ib_task_free(t);
    free(text);

    expect_one(LOCAL_BASE, "/source/database_patterns", "[\"root.(a\"]",
               "/source/database_patterns/0",
               "\"root.(a\" is not a valid POSIX extended regular expression: Unmatched (",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/database_patterns", "[\"[a-\"]", "/source/database_patterns/0",
               "not a valid POSIX extended regular expression", IB_E_TASK_FIELD);
    /* Found by fuzzing: nested bounds that take seconds and 100s of MB to
     * compile are refused before regcomp sees them. */
    expect_one(LOCAL_BASE, "/source/database_patterns", "[\"((a{0,20}){0,20}){1,20}\"]",
               "/source/database_patterns/0",
               "\"((a{0,20}){0,20}){1,20}\" repeats too much: its repetition counts multiply "
               "to more than 1000",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/database_patterns", "[\"a{1001}\"]",
               "/source/database_patterns/0", "repeats too much", IB_E_TASK_FIELD);
    /* Bounds inside a bracket expression or escaped are not counts. */
    text = edit(LOCAL_BASE, "/source/databases", NULL, "/source/database_patterns",
                "[\"^root\\\\.f_[0-9]{1,4}(_[a-z]{2,8})?[{]999}\\\\{999}$\"]", NULL);
    t = parse_ok(text);
    ib_task_free(t);
    free(text);
    expect_one(LOCAL_BASE, "/source/databases", "[\"root/ln\"]", "/source/databases/0",
               "\"root/ln\" is not an IoTDB database name: it must not contain '/'",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/databases", "[\"\"]", "/source/databases/0",
               "must not be empty", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/databases", "[\"root.\\u0001x\"]", "/source/databases/0",
               "must not contain control characters, got \"root.\\x01x\"", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/databases", "[\"root.a\", \"root.b\", \"root.a\"]",
               "/source/databases/2", "duplicate of /source/databases/0", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/data_dirs", "[]", "/source/data_dirs",
               "must list at least one directory", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/data_dirs", "[\"data/datanode\"]", "/source/data_dirs/0",
               "must be an absolute path (starting with '/'), got \"data/datanode\"",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest", "{\"url\": \"ftp://h\", \"password_file\": \"/p\"}",
               "/source/rest/url", "\"ftp://h\" is not an http:// or https:// URL",
               IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest",
               "{\"url\": \"127.0.0.1:18080\", \"password_file\": \"/p\"}", "/source/rest/url",
               "is not an http:// or https:// URL", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest",
               "{\"url\": \"http://root:pw@h:18080\", \"password_file\": \"/p\"}",
               "/source/rest/url", "must not contain credentials", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest", "{\"url\": \"http://h\", \"password_file\": \"p\"}",
               "/source/rest/password_file", "must be an absolute path", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest",
               "{\"url\": \"http://h\", \"password_file\": \"/p\", \"user\": \"a:b\"}",
               "/source/rest/user", "must not contain spaces or ':'", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, "/source/rest",
               "{\"url\": \"http://h\", \"password_file\": \"/p\", \"pasword_file\": \"/p\"}",
               "/source/rest/pasword_file", "did you mean \"password_file\"?", IB_E_TASK_FIELD);
}

static void test_addresses(void **state)
{
    (void)state;
    expect_one(HDFS_BASE, "/target/active_namenode", "\"2001:db8::1\"", "/target/active_namenode",
               "\"2001:db8::1\" is an IPv6 address but ip_mode is \"IPv4\"", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/active_namenode", "\"[2001:db8::1]\"", "/target/active_namenode",
               "is an IPv6 address but ip_mode is \"IPv4\"", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/ip_mode", "\"IPv6\"", "/target/active_namenode",
               "\"192.0.2.10\" is an IPv4 address but ip_mode is \"IPv6\"", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/active_namenode", "\"300.1.2.3\"", "/target/active_namenode",
               "is not a valid IPv4 address or host name", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/active_namenode", "\"192.0.2.10:8020\"",
               "/target/active_namenode",
               "HINT: give the WebHDFS port in namenode_http_port, or write the address as "
               "http://HOST:PORT",
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/active_namenode", "\"bad_host!\"", "/target/active_namenode",
               "is not a valid IPv4 address or host name", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/active_namenode", "\"-nn.example\"", "/target/active_namenode",
               "is not a valid IPv4 address or host name", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/standby_namenode", "\"192.0.2.10\"", "/target/standby_namenode",
               "must differ from active_namenode", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/standby_namenode", "\"::1\"", "/target/standby_namenode",
               "is an IPv6 address but ip_mode is \"IPv4\"", IB_E_TASK_FIELD);
    char *text = edit(HDFS_BASE, "/target/ip_mode", "\"IPv6\"", "/target/active_namenode",
                      "\"2001:db8::zz\"", NULL);
    parse_fails(text);
    expect("/target/active_namenode", "\"2001:db8::zz\" is not a valid IPv6 address",
           IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);

    text = edit(HDFS_BASE, "/target/ip_mode", "\"IPv6\"", "/target/active_namenode",
                "\"nn1.example.com\"", "/target/standby_namenode", "\"2001:db8::11\"", NULL);
    ib_task *t = parse_ok(text);
    assert_string_equal(t->target.active_namenode, "nn1.example.com");
    assert_string_equal(t->target.standby_namenode, "2001:db8::11");
    ib_task_free(t);
    free(text);
    t = edited_ok(HDFS_BASE, "/target/active_namenode", "\"namenode-1.cluster.local\"");
    assert_string_equal(t->target.active_namenode, "namenode-1.cluster.local");
    ib_task_free(t);
    expect_one(HDFS_BASE, "/target/nameservice", "\"ha cluster\"", "/target/nameservice",
               "is not a nameservice name", IB_E_TASK_FIELD);
}

/* "http(s)://HOST[:PORT]" NameNode URLs: https implies tls, http contradicts it. */
static void test_namenode_urls(void **state)
{
    (void)state;
    ib_task *t =
        edited_ok(HDFS_BASE, "/target/active_namenode", "\"https://nn1.example.com:9871\"");
    assert_string_equal(t->target.active_namenode, "https://nn1.example.com:9871");
    assert_true(t->target.tls);
    ib_task_free(t);
    t = edited_ok(HDFS_BASE, "/target/active_namenode", "\"http://192.0.2.10/\"");
    assert_string_equal(t->target.active_namenode, "http://192.0.2.10");
    assert_false(t->target.tls);
    ib_task_free(t);

    /* https:// on one NameNode is TLS for both: a bare standby is fine, ca_file allowed */
    char *text = edit(HDFS_BASE, "/target/active_namenode", "\"https://nn1.example.com\"",
                      "/target/standby_namenode", "\"nn2.example.com\"", "/target/ca_file",
                      "\"/etc/ca.pem\"", NULL);
    t = parse_ok(text);
    assert_true(t->target.tls);
    assert_string_equal(t->target.ca_file, "/etc/ca.pem");
    ib_task_free(t);
    free(text);

    text = edit(HDFS_BASE, "/target/ip_mode", "\"IPv6\"", "/target/active_namenode",
                "\"https://[2001:db8::10]:9871\"", NULL);
    t = parse_ok(text);
    assert_string_equal(t->target.active_namenode, "https://[2001:db8::10]:9871");
    ib_task_free(t);
    free(text);

    text = edit(HDFS_BASE, "/target/tls", "true", "/target/active_namenode",
                "\"http://nn1.example.com:9870\"", NULL);
    assert_int_equal(parse_fails(text), 1);
    expect("/target/active_namenode", "starts with http:// but the target uses TLS (\"tls\": true)",
           IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);
    text = edit(HDFS_BASE, "/target/tls", "false", "/target/active_namenode",
                "\"https://nn1.example.com\"", NULL);
    assert_int_equal(parse_fails(text), 1);
    expect("/target/tls", "is false but a NameNode address starts with https://", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);
    text = edit(HDFS_BASE, "/target/active_namenode", "\"https://nn1.example.com\"",
                "/target/standby_namenode", "\"http://nn2.example.com\"", NULL);
    assert_int_equal(parse_fails(text), 1);
    expect("/target/standby_namenode", "the other NameNode is https://", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);

    const char *const bad[][2] = {
        {"\"https://nn1.example.com:0\"", "has an invalid port (must be 1..65535)"},
        {"\"https://nn1.example.com:70000\"", "has an invalid port"},
        {"\"https://nn1.example.com:98x\"", "has an invalid port"},
        {"\"https://nn1.example.com:\"", "has an invalid port"},
        {"\"https://nn1.example.com/webhdfs/v1\"", "without a path or query"},
        {"\"https://\"", "has no host after the scheme"},
        {"\"https://:9871\"", "has no host after the scheme"},
        {"\"https://2001:db8::1\"", "IPv6 address without brackets"},
        {"\"https://[2001:db8::1\"", "has '[' without ']'"},
        {"\"https://[2001:db8::1]x\"", "is not \":PORT\""},
        {"\"https://[2001:db8::1]:9871\"", "is an IPv6 address but ip_mode is \"IPv4\""},
        {"\"https://bad_host!\"", "is not a valid IPv4 address or host name"},
        {"\"ftp://nn1.example.com\"", "is not a valid IPv4 address or host name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        expect_one(HDFS_BASE, "/target/active_namenode", bad[i][0], "/target/active_namenode",
                   bad[i][1], IB_E_TASK_FIELD);
    char longhost[400] = "\"https://";
    memset(longhost + strlen(longhost), 'a', 300);
    strcat(longhost, "\"");
    expect_one(HDFS_BASE, "/target/active_namenode", longhost, "/target/active_namenode",
               "has a host longer than 253 bytes", IB_E_TASK_FIELD);
}

/* A path no system call would take is refused when the task is loaded. */
static void test_path_too_long(void **state)
{
    (void)state;
    size_t n = PATH_MAX; /* "/" + PATH_MAX - 1 letters: one byte too many */
    char *value = malloc(n + 3);
    assert_non_null(value);
    value[0] = '"';
    value[1] = '/';
    memset(value + 2, 'a', n - 1);
    strcpy(value + n + 1, "\"");
    char expected[96];
    snprintf(expected, sizeof expected, "must be at most %d bytes long, got %zu bytes: \"/aaa",
             PATH_MAX - 1, n);
    expect_one(LOCAL_BASE, "/target/target_path", value, "/target/target_path", expected,
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/target_path", value, "/target/target_path", expected,
               IB_E_TASK_FIELD);
    char *list = malloc(n + 5);
    assert_non_null(list);
    snprintf(list, n + 5, "[%s]", value);
    expect_one(LOCAL_BASE, "/source/data_dirs", list, "/source/data_dirs/0", expected,
               IB_E_TASK_FIELD);
    free(list);
    /* one byte less is a valid path */
    strcpy(value + n, "\"");
    ib_task *t = edited_ok(LOCAL_BASE, "/target/target_path", value);
    assert_int_equal(strlen(t->target.target_path), PATH_MAX - 1);
    ib_task_free(t);
    free(value);
}

static void test_hdfs_target_paths(void **state)
{
    (void)state;
    const char *p = "/target/target_path";
    expect_one(HDFS_BASE, p, "\"backup/iotdb\"", p, "must be an absolute path", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, p, "\"/backup/.hidden/x\"", p,
               "\"/backup/.hidden/x\" is hidden: component \".hidden\" starts with '.'",
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, p, "\"/backup/../etc\"", p, "component \"..\"", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, p, "\"/backup/.snapshot/s1\"", p, "contains \".snapshot\"",
               IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, p, "\"/backup/.Trash\"", p, "contains \".Trash\"", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, p, "\"/user/joe/.Trash/Current\"", p, "\".Trash\"", IB_E_TASK_FIELD);
    const char *sys = "is a default HDFS system directory";
    const char *const reserved[] = {"\"/\"",
                                    "\"/hbase\"",
                                    "\"/hbase/data\"",
                                    "\"/tmp\"",
                                    "\"/tmp/iotdb\"",
                                    "\"/user\"",
                                    "\"/user/\"",
                                    "\"/mr-history\"",
                                    "\"/.reserved/raw\"",
                                    "\"/system/x\"",
                                    "\"/user/hbase/backup\"",
                                    "\"/user/hbase/backup/iotdb\"",
                                    "\"//hbase//x/\""};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        expect_one(HDFS_BASE, p, reserved[i], p, sys, IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, p, "\"/backup/a:b\"", p, "contains ':'", IB_E_TASK_FIELD);
    /* near misses are fine */
    const char *const fine[] = {"\"/hbase2\"", "\"/user/iotdb/backup\"", "\"/user/hbase\"",
                                "\"/tmpx/b\"", "\"/backup/snapshot\""};
    for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
        ib_task *t = edited_ok(HDFS_BASE, p, fine[i]);
        ib_task_free(t);
    }
    ib_task *t = edited_ok(HDFS_BASE, p, "\"//backup///iotdb//\"");
    assert_string_equal(t->target.target_path, "/backup/iotdb");
    ib_task_free(t);
}

static void test_local_target(void **state)
{
    (void)state;
    const char *p = "/target/target_path";
    expect_one(LOCAL_BASE, p, "\"backups\"", p, "must be an absolute path", IB_E_TASK_FIELD);
    expect_one(LOCAL_BASE, p, "\"/srv/.backups\"", p, "is hidden", IB_E_TASK_FIELD);
    /* HDFS system directories mean nothing locally */
    ib_task *t = edited_ok(LOCAL_BASE, p, "\"/tmp/iotdb-backups/\"");
    assert_string_equal(t->target.target_path, "/tmp/iotdb-backups");
    ib_task_free(t);
    /* several files at once, as for HDFS */
    t = edited_ok(LOCAL_BASE, "/target/parallel_uploads", "8");
    assert_int_equal(t->target.parallel_uploads, 8);
    assert_non_null(strstr(t->canonical_json, "\"parallel_uploads\":8"));
    ib_task_free(t);
    const char *const remote_only[][2] = {
        {"/target/nameservice", "\"hacluster\""},
        {"/target/ip_mode", "\"IPv4\""},
        {"/target/active_namenode", "\"192.0.2.10\""},
        {"/target/standby_namenode", "\"192.0.2.11\""},
        {"/target/namenode_rpc_port", "8020"},
        {"/target/namenode_http_port", "9870"},
        {"/target/tls", "true"},
        {"/target/ca_file", "\"/ca\""},
        {"/target/stall_timeout_s", "30"},
        {"/target/auth", "{\"mode\": \"simple\", \"user\": \"hdfs\"}"}};
    for (size_t i = 0; i < sizeof remote_only / sizeof *remote_only; i++)
        expect_one(LOCAL_BASE, remote_only[i][0], remote_only[i][1], remote_only[i][0],
                   "only with path_type \"RemoteHDFS\"", IB_E_TASK_FIELD);
}

static void test_tls_and_auth(void **state)
{
    (void)state;
    expect_one(HDFS_BASE, "/target/ca_file", "\"/etc/ca.pem\"", "/target/ca_file",
               "only with \"tls\": true", IB_E_TASK_FIELD);
    char *text = edit(HDFS_BASE, "/target/tls", "true", "/target/ca_file", "\"ca.pem\"", NULL);
    parse_fails(text);
    expect("/target/ca_file", "must be an absolute path", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);

    const char *krb = "{\"mode\": \"kerberos\", \"principal\": \"b@R\", \"keytab\": \"/k\"}";
    expect_one(HDFS_BASE, "/target/auth", krb, "/target/auth/mode",
               "a cluster in normal mode (cluster_mode \"normal\") cannot be backed up to a "
               "security-mode (Kerberos) cluster",
               IB_E_TASK_FIELD);
    text = edit(HDFS_BASE, "/cluster_mode", "\"security\"", "/target/auth", krb, NULL);
    ib_task *t = parse_ok(text);
    assert_int_equal(t->target.auth_mode, IB_AUTH_KERBEROS);
    assert_string_equal(t->target.auth_keytab, "/k");
    ib_task_free(t);
    free(text);

    text = edit(HDFS_BASE, "/cluster_mode", "\"security\"", "/target/auth",
                "{\"mode\": \"kerberos\", \"user\": \"hdfs\", \"keytab\": \"k\"}", NULL);
    assert_int_equal(parse_fails(text), 3);
    expect("/target/auth/principal", "required key is missing", IB_E_TASK_FIELD);
    expect("/target/auth/keytab", "must be an absolute path", IB_E_TASK_FIELD);
    expect("/target/auth/user", "only with auth mode \"simple\"", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);

    expect_one(HDFS_BASE, "/target/auth",
               "{\"mode\": \"simple\", \"user\": \"hdfs\", \"principal\": \"x@Y\"}",
               "/target/auth/principal", "only with auth mode \"kerberos\"", IB_E_TASK_FIELD);
    expect_one(HDFS_BASE, "/target/auth",
               "{\"mode\": \"simple\", \"user\": \"hdfs\", \"keytab\": \"/k\"}",
               "/target/auth/keytab", "only with auth mode \"kerberos\"", IB_E_TASK_FIELD);

    /* a security-mode source with a simple target is allowed, with a warning */
    t = edited_ok(HDFS_BASE, "/cluster_mode", "\"security\"");
    assert_int_equal(ib_diags_warnings(&D), 1);
    assert_int_equal(D.items[0].severity, IB_SEV_WARNING);
    assert_string_equal(D.items[0].pointer, "/target/auth/mode");
    char line[2048];
    ib_diag_format(&D.items[0], line, sizeof line);
    assert_true(strncmp(line, "warning: tasks.d/t.json: /target/auth/mode: ", 44) == 0);
    ib_task_free(t);
    ib_diags_free(&D);
}

static void test_task_name(void **state)
{
    (void)state;
    assert_true(ib_task_name_valid("nightly"));
    assert_true(ib_task_name_valid("A-z_09"));
    char name[80];
    memset(name, 'a', 64);
    name[64] = '\0';
    assert_true(ib_task_name_valid(name));
    name[64] = 'a';
    name[65] = '\0';
    assert_false(ib_task_name_valid(name));
    assert_false(ib_task_name_valid(""));
    assert_false(ib_task_name_valid("a.b"));
    assert_false(ib_task_name_valid("a b"));
    assert_false(ib_task_name_valid("\xc3\xa4"));

    ib_task *t = NULL;
    assert_int_equal(
        ib_task_parse("bad name", "tasks.d/bad name.json", LOCAL_BASE, strlen(LOCAL_BASE), &t, &D),
        -1);
    assert_null(t);
    assert_int_equal(D.len, 1);
    assert_int_equal(D.items[0].code, IB_E_TASK_NAME);
    assert_null(D.items[0].pointer);
    assert_non_null(strstr(D.items[0].message, "task name \"bad name\""));
}

static void test_many_errors_reported(void **state)
{
    (void)state;
    char *text =
        edit(HDFS_BASE, "/period/every", "0", "/policy", "\"sometimes\"", "/source/data_dirs",
             "[\"rel\"]", "/target/max_copies", "0", "/target/namenode_rpc_port", "70000",
             "/target/target_path", "\"/tmp\"", "/target/active_namenode", "\"::1\"",
             "/target/typo_key", "1", "/started", "\"2026-02-30T00:00:00\"", NULL);
    assert_int_equal(parse_fails(text), 9);
    expect("/period/every", "must be >= 1, got 0", IB_E_TASK_FIELD);
    expect("/policy", "must be one of", IB_E_TASK_FIELD);
    expect("/source/data_dirs/0", "absolute", IB_E_TASK_FIELD);
    expect("/target/max_copies", "must be >= 1", IB_E_TASK_FIELD);
    expect("/target/namenode_rpc_port", "must be <= 65535", IB_E_TASK_FIELD);
    expect("/target/target_path", "system directory", IB_E_TASK_FIELD);
    expect("/target/active_namenode", "IPv6", IB_E_TASK_FIELD);
    expect("/target/typo_key", "unknown key", IB_E_TASK_FIELD);
    expect("/started", "day does not exist", IB_E_TASK_FIELD);
    /* formatted as the operator sees it */
    const ib_diag *d = find("/period/every", "must be");
    char line[2048];
    ib_diag_format(d, line, sizeof line);
    assert_string_equal(line, "tasks.d/t.json: /period/every: must be >= 1, got 0 (E_TASK_FIELD)");
    free(text);
}

static void assert_one_line(const ib_diag *d, size_t max)
{
    char line[4096];
    int n = ib_diag_format(d, line, sizeof line);
    assert_true(n > 0 && (size_t)n < max);
    for (const char *s = line; *s; s++)
        assert_true((unsigned char)*s >= 0x20 && *s != 0x7f);
}

static void test_hostile_strings(void **state)
{
    (void)state;
    /* a long value with a newline, a terminal escape and quotes */
    size_t n = 10000;
    const char *head = "\"x\\n\\u001b[31mred\\\"q";
    char *value = malloc(n + strlen(head) + 2);
    strcpy(value, head);
    memset(value + strlen(head), 'a', n);
    strcpy(value + strlen(head) + n, "\"");
    expect_one(HDFS_BASE, "/target/active_namenode", value, "/target/active_namenode",
               "\"x\\n\\x1b[31mred\\\"qaaa", IB_E_TASK_FIELD);
    char *text = edit(HDFS_BASE, "/target/active_namenode", value, NULL);
    parse_fails(text);
    assert_one_line(&D.items[0], 400);
    assert_non_null(strstr(D.items[0].message, "aaa\"..."));
    ib_diags_free(&D);
    free(text);
    free(value);

    /* hostile keys: pointer escapes, no raw control characters */
    text = edit(LOCAL_BASE, "/source/a~b", "1", NULL);
    parse_fails(text);
    expect("/source/a~0b", "unknown key \"a~b\"", IB_E_TASK_FIELD);
    ib_diags_free(&D);
    free(text);
    const char *slash_key = "{\"mode\": \"manual\", \"x/y\\nz\": 1}";
    parse_fails(slash_key);
    expect("/x~1y\\nz", "unknown key \"x/y\\nz\"", IB_E_TASK_FIELD);
    for (size_t i = 0; i < D.len; i++)
        assert_one_line(&D.items[i], 400);
    ib_diags_free(&D);

    char longkey[3000];
    memset(longkey, 'k', sizeof longkey);
    memcpy(longkey, "{\"", 2);
    memcpy(longkey + sizeof longkey - 8, "\": 1}", 6);
    parse_fails(longkey);
    for (size_t i = 0; i < D.len; i++)
        assert_one_line(&D.items[i], 600);
}

/* A hostile file: thousands of bad keys and a huge array stay cheap and
 * give a bounded number of lines. */
static void test_flood(void **state)
{
    (void)state;
    size_t n = 5000, size = n * 16 + 64;
    char *text = malloc(size);
    size_t used = (size_t)snprintf(text, size, "{");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, size - used, "\"bad%zu\": 1,", i);
    snprintf(text + used, size - used, "\"mode\": \"manual\"}");
    assert_true(parse_fails(text) == IB_JCHECK_MAX_ERRORS + 1);
    assert_int_equal(D.len, IB_JCHECK_MAX_ERRORS + 1);
    assert_non_null(find(NULL, "too many errors"));
    ib_diags_free(&D);
    free(text);

    /* 100000 database names, every one a duplicate of the first: sorted, not quadratic */
    n = 100000;
    size = n * 12 + 64;
    text = malloc(size);
    used = (size_t)snprintf(text, size, "[");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, size - used, "%s\"root.a\"", i ? "," : "");
    snprintf(text + used, size - used, "]");
    char *task = edit(LOCAL_BASE, "/source/databases", text, NULL);
    parse_fails(task);
    expect("/source/databases/1", "duplicate of /source/databases/0", IB_E_TASK_FIELD);
    assert_int_equal(D.len, IB_JCHECK_MAX_ERRORS + 1);
    free(task);
    free(text);
}

static void test_quote_and_pointer(void **state)
{
    (void)state;
    char q[IB_QUOTE_MAX], p[IB_POINTER_MAX];
    assert_string_equal(ib_quote("a\"b\\c\n\t\x01\xc3\xa4", q, sizeof q),
                        "\"a\\\"b\\\\c\\n\\t\\x01\\xc3\\xa4\"");
    char big[200];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ib_quote(big, q, sizeof q);
    assert_int_equal(strlen(q), 80 + 2 + 3);
    assert_string_equal(q + 82, "...");
    char tiny[8];
    ib_quote("abcdefghij", tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 7);
    ib_json_pointer(p, sizeof p, "/target", "a/b~c");
    assert_string_equal(p, "/target/a~1b~0c");
    ib_json_pointer(p, sizeof p, "", "mode");
    assert_string_equal(p, "/mode");
}

/* ---- canonical JSON ---- */

static void test_canonical_json(void **state)
{
    (void)state;
    ib_task *a = parse_ok(FULL);
    const char *canon = a->canonical_json;
    assert_null(strchr(canon, '\n'));
    assert_null(strstr(canon, ": "));
    /* sorted keys at every level */
    assert_true(strstr(canon, "\"catch_up\"") < strstr(canon, "\"cluster_mode\""));
    assert_true(strstr(canon, "\"cluster_mode\"") < strstr(canon, "\"full_every\""));
    assert_true(strstr(canon, "\"source\"") < strstr(canon, "\"started\""));
    assert_true(strstr(canon, "\"active_namenode\"") < strstr(canon, "\"auth\""));
    assert_true(strstr(canon, "\"keytab\"") < strstr(canon, "\"principal\""));
    assert_non_null(strstr(canon, "\"started\":\"2028-02-29T23:59:58+05:30\""));
    assert_non_null(strstr(canon, "\"target_path\":\"/backup/iotdb\""));

    /* round trip: parsing the canonical text gives an equal task */
    ib_task *b = NULL;
    assert_int_equal(ib_task_parse("t", "t", canon, strlen(canon), &b, &D), 0);
    assert_string_equal(b->canonical_json, canon);
    assert_int_equal(b->full_every, a->full_every);
    assert_int_equal(b->schedule.started.offset_seconds, a->schedule.started.offset_seconds);
    assert_string_equal(b->target.active_namenode, a->target.active_namenode);
    assert_true(b->target.max_bandwidth_mbps == a->target.max_bandwidth_mbps);
    assert_string_equal(b->source.database_patterns[0], a->source.database_patterns[0]);
    ib_task_free(b);
    ib_task_free(a);

    /* layout, key order and spelled-out defaults do not matter */
    a = parse_ok(HDFS_BASE);
    char *text =
        edit(HDFS_BASE, "/policy", "\"full-then-incremental\"", "/cluster_mode", "\"normal\"",
             "/catch_up", "\"once\"", "/target/namenode_rpc_port", "8020", "/target/ip_mode",
             "\"IPv4\"", "/target/target_path", "\"/backup/iotdb/\"", NULL);
    b = parse_ok(text);
    assert_string_equal(a->canonical_json, b->canonical_json);
    ib_task_free(b);
    free(text);
    /* a real change does */
    b = edited_ok(HDFS_BASE, "/target/max_copies", "8");
    assert_string_not_equal(a->canonical_json, b->canonical_json);
    ib_task_free(b);
    ib_task_free(a);

    /* local "started" stays local; +00:00 is written Z */
    a = parse_ok(LOCAL_BASE);
    assert_non_null(strstr(a->canonical_json, "\"started\":\"2026-11-24T02:00:00\""));
    b = NULL;
    assert_int_equal(ib_task_parse("t", "t", a->canonical_json, strlen(a->canonical_json), &b, &D),
                     0);
    assert_false(b->schedule.started.has_offset);
    assert_string_equal(a->canonical_json, b->canonical_json);
    ib_task_free(b);
    ib_task_free(a);
    a = edited_ok(LOCAL_BASE, "/started", "\"2026-11-24T02:00:00+00:00\"");
    assert_non_null(strstr(a->canonical_json, "\"started\":\"2026-11-24T02:00:00Z\""));
    ib_task_free(a);
    char *manual = edit(LOCAL_BASE, "/mode", "\"manual\"", "/started", NULL, "/period", NULL, NULL);
    a = parse_ok(manual);
    assert_null(strstr(a->canonical_json, "started"));
    assert_null(strstr(a->canonical_json, "catch_up"));
    b = NULL;
    assert_int_equal(ib_task_parse("t", "t", a->canonical_json, strlen(a->canonical_json), &b, &D),
                     0);
    assert_string_equal(a->canonical_json, b->canonical_json);
    ib_task_free(b);
    ib_task_free(a);
    free(manual);
}

static void test_policy_type(void **state)
{
    (void)state;
    ib_task t = {0};
    t.policy = IB_POLICY_FULL_THEN_INCREMENTAL;
    assert_int_equal(ib_task_policy_type(&t, -1), 0);
    assert_int_equal(ib_task_policy_type(&t, 0), 1);
    assert_int_equal(ib_task_policy_type(&t, 100), 1);
    t.policy = IB_POLICY_FULL_EVERY_TIME;
    assert_int_equal(ib_task_policy_type(&t, -1), 0);
    assert_int_equal(ib_task_policy_type(&t, 0), 0);
    assert_int_equal(ib_task_policy_type(&t, 5), 0);
    t.policy = IB_POLICY_FULL_EVERY_N;
    t.full_every = 3; /* full, incr, incr, full, ... */
    assert_int_equal(ib_task_policy_type(&t, -1), 0);
    assert_int_equal(ib_task_policy_type(&t, 0), 1);
    assert_int_equal(ib_task_policy_type(&t, 1), 1);
    assert_int_equal(ib_task_policy_type(&t, 2), 0);
    assert_int_equal(ib_task_policy_type(&t, 7), 0);
    t.full_every = 2;
    assert_int_equal(ib_task_policy_type(&t, 0), 1);
    assert_int_equal(ib_task_policy_type(&t, 1), 0);
    assert_string_equal(ib_policy_name(IB_POLICY_FULL_EVERY_N), "full-every-n");
    assert_string_equal(ib_mode_name(IB_MODE_MANUAL), "manual");
    assert_string_equal(ib_unit_name(IB_UNIT_MINUTES), "minutes");
    assert_string_equal(ib_target_type_name(IB_TARGET_REMOTEHDFS), "RemoteHDFS");
}

/* ---- files and task sets ---- */

static void test_file_counts(void **state)
{
    (void)state;
    assert_true(ib_task_file_counts("nightly.json"));
    assert_true(ib_task_file_counts("bad name.json")); /* counts, then fails as a name */
    assert_false(ib_task_file_counts(".nightly.json"));
    assert_false(ib_task_file_counts(".json"));
    assert_false(ib_task_file_counts("nightly.json~"));
    assert_false(ib_task_file_counts("nightly.json.swp"));
    assert_false(ib_task_file_counts(".nightly.json.swp"));
    assert_false(ib_task_file_counts("nightly.json.dpkg-new"));
    assert_false(ib_task_file_counts("nightly.json.dpkg-old"));
    assert_false(ib_task_file_counts("nightly.dpkg-dist"));
    assert_false(ib_task_file_counts("nightly.dpkg-new.json"));
    assert_false(ib_task_file_counts("nightly.conf"));
    assert_false(ib_task_file_counts("nightly.JSON"));
    assert_false(ib_task_file_counts("nightly.json.disabled"));
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_tree(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_taskset(void **state)
{
    (void)state;
    char root[] = "/tmp/ib-test-task-XXXXXX";
    assert_non_null(mkdtemp(root));
    ib_taskset set;
    /* no tasks.d: an empty set */
    assert_int_equal(ib_taskset_load(root, &set, &D), 0);
    assert_int_equal(set.len, 0);
    assert_null(ib_taskset_find(&set, "x"));
    ib_taskset_free(&set);

    char dir[200];
    snprintf(dir, sizeof dir, "%s/tasks.d", root);
    assert_int_equal(mkdir(dir, 0700), 0);
    char *manual = edit(LOCAL_BASE, "/mode", "\"manual\"", "/started", NULL, "/period", NULL, NULL);
    write_file(dir, "nightly.json", LOCAL_BASE);
    write_file(dir, "a.json", HDFS_BASE);
    write_file(dir, "a-b.json", manual);
    write_file(dir, "broken.json", "{\"mode\": \"periodic\",\n  \"x\" 1}");
    write_file(dir, "bad name.json", LOCAL_BASE);
    write_file(dir, ".hidden.json", "junk");
    write_file(dir, "nightly.json~", "junk");
    write_file(dir, "nightly.json.swp", "junk");
    write_file(dir, "nightly.json.dpkg-new", "junk");
    write_file(dir, "nightly.dpkg-dist", "junk");
    write_file(dir, "README", "junk");
    free(manual);
    /* too large: refused without reading it all */
    char big[300];
    snprintf(big, sizeof big, "%s/big.json", dir);
    int fd = open(big, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, IB_TASK_FILE_MAX + 1), 0);
    close(fd);
    char sub[300];
    snprintf(sub, sizeof sub, "%s/dir.json", dir);
    assert_int_equal(mkdir(sub, 0700), 0);

    assert_int_equal(ib_taskset_load(root, &set, &D), 4);
    assert_int_equal(set.len, 3);
    /* sorted by task name: "a" < "a-b" < "nightly" */
    assert_string_equal(set.items[0]->name, "a");
    assert_string_equal(set.items[1]->name, "a-b");
    assert_string_equal(set.items[2]->name, "nightly");
    assert_string_equal(set.items[2]->file, "tasks.d/nightly.json");
    assert_ptr_equal(ib_taskset_find(&set, "a-b"), set.items[1]);
    assert_ptr_equal(ib_taskset_find(&set, "nightly"), set.items[2]);
    assert_null(ib_taskset_find(&set, "broken"));
    assert_null(ib_taskset_find(&set, "nightl"));

    assert_int_equal(ib_diags_errors(&D), 4);
    const ib_diag *d = NULL;
    for (size_t i = 0; i < D.len; i++)
        if (strcmp(D.items[i].file, "tasks.d/broken.json") == 0)
            d = &D.items[i];
    assert_non_null(d);
    assert_int_equal(d->code, IB_E_TASK_SYNTAX);
    assert_int_equal(d->line, 2);
    assert_int_equal(d->column, 7);
    assert_non_null(strstr(d->message, "expected ':'"));
    bool name_err = false, big_err = false, dir_err = false;
    for (size_t i = 0; i < D.len; i++) {
        name_err |= strcmp(D.items[i].file, "tasks.d/bad name.json") == 0 &&
                    D.items[i].code == IB_E_TASK_NAME;
        big_err |= strcmp(D.items[i].file, "tasks.d/big.json") == 0 &&
                   D.items[i].code == IB_E_TASK_FILE && strstr(D.items[i].message, "too large");
        dir_err |= strcmp(D.items[i].file, "tasks.d/dir.json") == 0 &&
                   D.items[i].code == IB_E_TASK_FILE &&
                   strstr(D.items[i].message, "not a regular file");
    }
    assert_true(name_err);
    assert_true(big_err);
    assert_true(dir_err);
    ib_taskset_free(&set);
    ib_diags_free(&D);

    /* an unreadable tasks.d is an error (root reads everything: use a file) */
    remove_tree(dir);
    write_file(root, "tasks.d", "not a directory");
    assert_int_equal(ib_taskset_load(root, &set, &D), -1);
    assert_int_equal(set.len, 0);
    assert_int_equal(D.len, 1);
    assert_int_equal(D.items[0].code, IB_E_TASK_FILE);
    remove_tree(root);
}

static void test_load_file(void **state)
{
    (void)state;
    ib_task *t = (ib_task *)1;
    assert_int_equal(ib_task_load_file("/nonexistent/x.json", "tasks.d/x.json", &t, &D), -1);
    assert_null(t);
    assert_int_equal(D.len, 1);
    assert_int_equal(D.items[0].code, IB_E_TASK_FILE);
    assert_string_equal(D.items[0].file, "tasks.d/x.json");
    assert_non_null(strstr(D.items[0].message, "No such file"));
    ib_diags_free(&D);

    char root[] = "/tmp/ib-test-load-XXXXXX";
    assert_non_null(mkdtemp(root));
    write_file(root, "weekly_2.json", LOCAL_BASE);
    char path[200];
    snprintf(path, sizeof path, "%s/weekly_2.json", root);
    assert_int_equal(ib_task_load_file(path, "tasks.d/weekly_2.json", &t, &D), 0);
    assert_string_equal(t->name, "weekly_2");
    assert_string_equal(t->file, "tasks.d/weekly_2.json");
    ib_task_free(t);
    remove_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_full_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syntax_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enums, setup, teardown),
        cmocka_unit_test_setup_teardown(test_started, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_addresses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_namenode_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_too_long, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hdfs_target_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_local_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_and_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_task_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_errors_reported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_strings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flood, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quote_and_pointer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_canonical_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_policy_type, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_taskset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
