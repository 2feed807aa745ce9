/* The IoTDB REST client against tests/tools/iotdb_rest_server.py, started
 * as a child on a free port for each test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_iotdb_rest.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define PASSWORD "s3cret-Pa55"

typedef struct server {
    char dir[64];     /* temp dir: password file, request log, data */
    char log[128];    /* the server's request log */
    char pwfile[128]; /* password file, mode 0600 */
    char url[64];
    pid_t pid;
} server;

static void write_text(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

/* Start the server with extra arguments (NULL-terminated); waits for its
 * "listening on PORT" / "down on PORT" line. */
static void start(server *s, const char *const *extra)
{
    const char *argv[32];
    size_t n = 0;
    static char script[1024];
    snprintf(script, sizeof script, "%s/tests/tools/iotdb_rest_server.py", IB_TEST_SOURCE_DIR);
    argv[n++] = "python3";
    argv[n++] = script;
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--password";
    argv[n++] = PASSWORD;
    argv[n++] = "--log";
    argv[n++] = s->log;
    for (size_t i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;

    int fds[2];
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    int rc = posix_spawnp(&s->pid, "python3", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    assert_int_equal(rc, 0);
    FILE *out = fdopen(fds[0], "r");
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, out));
    fclose(out);
    const char *on = strstr(line, " on ");
    assert_non_null(on);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", atoi(on + 4));
}

static int setup(void **state)
{
    server *s = calloc(1, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/ib_test_rest.XXXXXX");
    if (!mkdtemp(s->dir))
        return -1;
    snprintf(s->log, sizeof s->log, "%s/requests.log", s->dir);
    snprintf(s->pwfile, sizeof s->pwfile, "%s/password", s->dir);
    write_text(s->pwfile, PASSWORD "\n", 0600);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    server *s = *state;
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", s->dir);
    free(s);
    return 0;
}

static ib_rest *client(server *s, const char *user)
{
    ib_rest_source cfg = {.url = s->url, .user = (char *)user, .password_file = s->pwfile};
    ib_rest *r = NULL;
    ib_err err;
    if (ib_rest_new(&cfg, &r, &err) != 0)
        fail_msg("ib_rest_new: %s", err.msg);
    return r;
}

static char *read_log(server *s)
{
    FILE *fp = fopen(s->log, "r");
    if (!fp)
        return strdup("");
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static void assert_log_has(server *s, const char *needle)
{
    char *log = read_log(s);
    if (!strstr(log, needle))
        fail_msg("request log lacks %s:\n%s", needle, log);
    free(log);
}

/* ---- tests ---- */

static void test_ping_and_show_databases(void **state)
{
    server *s = *state;
    const char *args[] = {"--databases", "root.ln,root.factory_1", NULL};
    start(s, args);
    ib_rest *r = client(s, "root");
    ib_err err;
    assert_int_equal(ib_rest_ping(r, &err), 0);
    char **names = NULL;
    size_t n = 0;
    if (ib_rest_show_databases(r, &names, &n, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "root.factory_1");
    assert_string_equal(names[1], "root.ln");
    ib_strv_free(names, n);
    assert_log_has(s, "\"sql\": \"SHOW DATABASES\", \"user\": \"root\"");
    ib_rest_free(r);
}

static void test_show_databases_empty_and_variants(void **state)
{
    server *s = *state;
    const char *args[] = {"--column-case", "lower", NULL};
    start(s, args);
    ib_rest *r = client(s, NULL); /* user defaults to root */
    char **names = NULL;
    size_t n = 99;
    ib_err err;
    if (ib_rest_show_databases(r, &names, &n, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 0); /* IoTDB answers "values": [] */
    ib_strv_free(names, n);
    assert_int_equal(ib_rest_nonquery(r, "CREATE DATABASE root.`my-db`", 0, &err), 0);
    assert_int_equal(ib_rest_show_databases(r, &names, &n, &err), 0);
    assert_int_equal(n, 1); /* the "database" column, lower case as 2.x spells it */
    assert_string_equal(names[0], "root.my-db");
    ib_strv_free(names, n);
    ib_rest_free(r);
}

static void test_show_storage_group_fallback(void **state)
{
    server *s = *state;
    const char *args[] = {"--legacy", "--databases", "root.sg1", NULL};
    start(s, args);
    ib_rest *r = client(s, "root");
    char **names = NULL;
    size_t n = 0;
    ib_err err;
    if (ib_rest_show_databases(r, &names, &n, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "root.sg1");
    ib_strv_free(names, n);
    assert_log_has(s, "\"code\": 700");
    assert_log_has(s, "\"sql\": \"SHOW STORAGE GROUP\"");
    ib_rest_free(r);
}

/* A tsfile still being written: head magic, no tail, no .resource. */
static void put_working_file(const char *path)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    write_text(path, "TsFile\003data", 0644);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

static void test_flush_seals_named_databases(void **state)
{
    server *s = *state;
    char data[128], ln[256], other[256], res[300];
    snprintf(data, sizeof data, "%s/data", s->dir);
    snprintf(ln, sizeof ln, "%s/sequence/root.ln/1/2790/100-1-0-0.tsfile", data);
    snprintf(other, sizeof other, "%s/sequence/root.other/2/2790/100-1-0-0.tsfile", data);
    put_working_file(ln);
    put_working_file(other);
    const char *args[] = {"--data-dir", data, NULL};
    start(s, args);
    ib_rest *r = client(s, "root");
    ib_err err;
    const char *dbs[] = {"root.ln", "root.my-db"};
    if (ib_rest_flush(r, dbs, 2, &err) != 0)
        fail_msg("%s", err.msg);
    assert_log_has(s, "\"sql\": \"FLUSH root.ln,root.`my-db` ON LOCAL\"");
    snprintf(res, sizeof res, "%s.resource", ln);
    assert_true(exists(res)); /* sealed by the FLUSH */
    snprintf(res, sizeof res, "%s.resource", other);
    assert_false(exists(res)); /* not named */

    /* Nothing selected: no request at all (never a FLUSH of everything). */
    assert_int_equal(ib_rest_flush(r, dbs, 0, &err), 0);
    char *log = read_log(s);
    assert_null(strstr(log, "\"FLUSH ON LOCAL\""));
    free(log);
    ib_rest_free(r);
}

static void test_flush_error_code(void **state)
{
    server *s = *state;
    const char *args[] = {"--fail-flush", "600", NULL};
    start(s, args);
    ib_rest *r = client(s, "root");
    ib_err err;
    const char *dbs[] = {"root.ln"};
    assert_int_equal(ib_rest_flush(r, dbs, 1, &err), -1);
    assert_int_equal(err.code, IB_E_REST);
    assert_non_null(strstr(err.msg, "FLUSH root.ln ON LOCAL"));
    assert_non_null(strstr(err.msg, "code 600"));
    assert_non_null(strstr(err.msg, "read-only"));
    ib_rest_free(r);
}

static void test_statement_errors(void **state)
{
    server *s = *state;
    start(s, NULL);
    ib_rest *r = client(s, "root");
    ib_err err;
    assert_int_equal(ib_rest_nonquery(r, "SHOW DATABASES", 0, &err), -1); /* a query */
    assert_non_null(strstr(err.msg, "code 301"));
    assert_int_equal(ib_rest_nonquery(r, "FLUSHH root.ln", 0, &err), -1);
    assert_non_null(strstr(err.msg, "code 700"));
    assert_non_null(strstr(err.msg, "FLUSHH"));
    ib_rest_free(r);
}

static void test_load(void **state)
{
    server *s = *state;
    start(s, NULL);
    ib_rest *r = client(s, "root");
    ib_err err;
    char dir[128], sql[300];
    snprintf(dir, sizeof dir, "%s/it's restored", s->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    if (ib_rest_load(r, dir, &err) != 0)
        fail_msg("%s", err.msg);
    snprintf(sql, sizeof sql, "LOAD '%s/it''s restored' verify=true onSuccess=none", s->dir);
    assert_log_has(s, sql);
    assert_int_equal(ib_rest_load_level(r, dir, 2, &err), 0);
    assert_log_has(s, "' sglevel=2 verify=true onSuccess=none");
    assert_int_equal(ib_rest_load(r, "/nonexistent/dir", &err), -1);
    assert_non_null(strstr(err.msg, "code 701"));
    ib_rest_free(r);
}

static void test_wrong_password(void **state)
{
    server *s = *state;
    start(s, NULL);
    write_text(s->pwfile, "wrong-password\n", 0600);
    ib_rest *r = client(s, "root");
    ib_err err;
    char **names = NULL;
    size_t n = 0;
    assert_int_equal(ib_rest_show_databases(r, &names, &n, &err), -1);
    assert_int_equal(err.code, IB_E_REST);
    assert_non_null(strstr(err.msg, "authentication failed for user \"root\""));
    assert_non_null(strstr(err.msg, "WRONG_LOGIN_PASSWORD"));
    assert_null(strstr(err.msg, "wrong-password"));
    assert_null(strstr(err.msg, PASSWORD));
    assert_null(names);
    assert_int_equal(ib_rest_ping(r, &err), 0); /* /ping needs no auth */
    ib_rest_free(r);
}

static void test_connection_refused(void **state)
{
    server *s = *state;
    const char *args[] = {"--down", NULL};
    start(s, args);
    ib_rest *r = client(s, "root");
    ib_err err;
    const char *dbs[] = {"root.ln"};
    assert_int_equal(ib_rest_flush(r, dbs, 1, &err), -1);
    assert_int_equal(err.code, IB_E_REST);
    assert_non_null(strstr(err.msg, s->url));
    assert_non_null(strstr(err.msg, "HINT"));
    assert_null(strstr(err.msg, PASSWORD));
    assert_int_equal(ib_rest_ping(r, &err), -1);
    ib_rest_free(r);
}

static void test_password_file_checks(void **state)
{
    server *s = *state;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:1");
    ib_rest_source cfg = {.url = s->url, .user = "root", .password_file = s->pwfile};
    ib_rest *r = NULL;
    ib_err err;
    assert_int_equal(chmod(s->pwfile, 0644), 0);
    assert_int_equal(ib_rest_new(&cfg, &r, &err), -1);
    assert_null(r);
    assert_int_equal(err.code, IB_E_REST);
    assert_non_null(strstr(err.msg, s->pwfile));
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_null(strstr(err.msg, PASSWORD));

    char missing[200];
    snprintf(missing, sizeof missing, "%s/none", s->dir);
    cfg.password_file = missing;
    assert_int_equal(ib_rest_new(&cfg, &r, &err), -1);
    assert_non_null(strstr(err.msg, missing));

    cfg.url = NULL;
    assert_int_equal(ib_rest_new(&cfg, &r, &err), -1);
}

static void test_password_line_endings(void **state)
{
    server *s = *state;
    start(s, NULL);
    write_text(s->pwfile, PASSWORD "\r\nsecond line is not the password\n", 0640);
    ib_rest *r = client(s, "root");
    ib_err err;
    const char *dbs[] = {"root.ln"};
    if (ib_rest_flush(r, dbs, 1, &err) != 0)
        fail_msg("%s", err.msg);
    ib_rest_free(r);
}

/* ---- pure functions ---- */

static void test_check_status(void **state)
{
    (void)state;
    ib_err err;
    assert_int_equal(ib_rest_check_status("{\"code\":200,\"message\":\"SUCCESS_STATUS\"}", &err),
                     0);
    assert_int_equal(ib_rest_check_status("{\"column_names\":[],\"values\":[]}", &err), 0);
    assert_int_equal(ib_rest_check_status("{\"code\":803,\"message\":\"No permissions\"}", &err),
                     -1);
    assert_int_equal(err.code, IB_E_REST);
    assert_non_null(strstr(err.msg, "code 803: No permissions"));
    assert_non_null(strstr(err.msg, "HINT"));
    assert_int_equal(ib_rest_check_status("<html>502</html>", &err), -1);
    assert_non_null(strstr(err.msg, "not a JSON object"));
    assert_int_equal(ib_rest_check_status("[1]", &err), -1);
    assert_int_equal(ib_rest_check_status("{\"code\":\"200\"}", &err), -1);
    assert_int_equal(ib_rest_check_status("", &err), -1);
    assert_int_equal(ib_rest_check_status(NULL, &err), -1);
}

/* Parse body as a SHOW DATABASES answer: -1 with an E_REST message holding
 * part. */
static void expect_databases_error(const char *body, const char *part)
{
    char **names = NULL;
    size_t n = 7;
    ib_err err;
    ib_err_clear(&err);
    assert_int_equal(ib_rest_parse_databases(body, &names, &n, &err), -1);
    assert_null(names);
    assert_int_equal(n, 0);
    assert_int_equal(err.code, IB_E_REST);
    if (!strstr(err.msg, part))
        fail_msg("for %s: got \"%s\", want \"%s\"", body, err.msg, part);
}

static void test_parse_databases(void **state)
{
    (void)state;
    char **names = NULL;
    size_t n = 0;
    ib_err err;
    /* IoTDB 1.x: column-major values, a null cell left out. */
    const char *good =
        "{\"expressions\":null,\"column_names\":[\"Database\",\"SchemaReplicationFactor\","
        "\"DataReplicationFactor\",\"TimePartitionInterval\"],\"timestamps\":null,"
        "\"values\":[[\"root.ln\",null,\"root.sgcc\"],[1,1,1],[1,1,1],[604800000,604800000,"
        "604800000]]}";
    assert_int_equal(ib_rest_parse_databases(good, &names, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "root.ln");
    assert_string_equal(names[1], "root.sgcc");
    ib_strv_free(names, n);
    /* 2.x lower case, 0.13 "storage group" not first; no rows. */
    assert_int_equal(ib_rest_parse_databases("{\"column_names\":[\"ttl\",\"storage group\"],"
                                             "\"values\":[[0],[\"root.old\"]]}",
                                             &names, &n, &err),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "root.old");
    ib_strv_free(names, n);
    assert_int_equal(ib_rest_parse_databases("{\"column_names\":[\"database\"],\"values\":[]}",
                                             &names, &n, &err),
                     0);
    assert_int_equal(n, 0);
    ib_strv_free(names, n);

    /* Missing or unrecognised columns. */
    expect_databases_error("{\"values\":[[\"root.ln\"]]}", "answer has no column_names");
    expect_databases_error("{\"column_names\":[\"Version\",\"BuildInfo\"],\"values\":[]}",
                           "answer has no Database column");
    /* Wrong types. */
    expect_databases_error("{\"column_names\":\"Database\",\"values\":[]}",
                           "answer has no column_names");
    expect_databases_error("{\"column_names\":[\"Database\"],\"values\":{\"a\":1}}",
                           "SHOW DATABASES answer: values is an object, not a list");
    expect_databases_error("{\"column_names\":[\"Database\"],\"values\":[\"root.ln\"]}",
                           "SHOW DATABASES answer: values[0] is not a list");
    expect_databases_error("{\"column_names\":[\"TTL\",\"Database\"],"
                           "\"values\":[[0,0],[\"root.ln\",42]]}",
                           "SHOW DATABASES answer: values[1][1] is a number, not a database name");
    /* Not an answer at all, or a refusal. */
    expect_databases_error("<html>502 Bad Gateway</html>", "not a JSON object");
    expect_databases_error(NULL, "not a JSON object");
    expect_databases_error("{\"code\":803,\"message\":\"No permissions\"}",
                           "code 803: No permissions");
}

static void check_quote(const char *in, const char *want)
{
    char *q = ib_rest_quote_path(in);
    assert_non_null(q);
    assert_string_equal(q, want);
    free(q);
}

static void test_quote_path(void **state)
{
    (void)state;
    check_quote("root.ln", "root.ln");
    check_quote("root.factory_1.wf01", "root.factory_1.wf01");
    check_quote("root.my-db", "root.`my-db`");
    check_quote("root.123", "root.`123`");
    check_quote("root.a`b", "root.`a``b`");
    check_quote("root.`a.b`.c", "root.`a.b`.c"); /* already quoted: kept */
    check_quote("root.x y", "root.`x y`");
    check_quote("root.a,b", "root.`a,b`");
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping_and_show_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_show_databases_empty_and_variants, setup, teardown),
        cmocka_unit_test_setup_teardown(test_show_storage_group_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_seals_named_databases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_error_code, setup, teardown),
        cmocka_unit_test_setup_teardown(test_statement_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_file_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_password_line_endings, setup, teardown),
        cmocka_unit_test(test_check_status),
        cmocka_unit_test(test_parse_databases),
        cmocka_unit_test(test_quote_path),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
