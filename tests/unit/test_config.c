/* Daemon settings and the whole configuration check (check-config). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_config.h"
#include "ib_task.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static ib_diags D;
static char ROOT[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", ROOT, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    ib_diags_init(&D);
    snprintf(ROOT, sizeof ROOT, "/tmp/ib-test-config-XXXXXX");
    return mkdtemp(ROOT) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    ib_diags_free(&D);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", ROOT);
    return system(cmd) == 0 ? 0 : -1;
}

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
    return NULL;
}

static void assert_defaults(const ib_config *c)
{
    assert_int_equal(c->max_parallel_runs, 2);
    assert_int_equal(c->log_level, 6);
    assert_null(c->staging_dir);
    assert_true(c->max_bandwidth_mbps == 0);
    assert_int_equal(c->shutdown_timeout_s, 30);
}

/* Load text as iotdb-backupd.conf: exactly one error, as described. */
static void expect_one(const char *text, const char *pointer, const char *part)
{
    write_file("iotdb-backupd.conf", text);
    ib_config c;
    assert_int_equal(ib_config_load(ROOT, &c, &D), -1);
    assert_defaults(&c);
    const ib_diag *d = find(pointer, part);
    assert_non_null(d);
    assert_int_equal(d->code, IB_E_CONFIG);
    assert_string_equal(d->file, "iotdb-backupd.conf");
    assert_int_equal(ib_diags_errors(&D), 1);
    ib_config_free(&c);
    ib_diags_free(&D);
}

static void test_missing_file_gives_defaults(void **state)
{
    (void)state;
    ib_config c;
    assert_int_equal(ib_config_load(ROOT, &c, &D), 0);
    assert_defaults(&c);
    assert_int_equal(D.len, 0);
    ib_config_free(&c);
}

static void test_valid_settings(void **state)
{
    (void)state;
    write_file("iotdb-backupd.conf",
               "{\"max_parallel_runs\": 64, \"log_level\": \"debug\", \"staging_dir\": "
               "\"/srv/staging\", \"max_bandwidth_mbps\": 2.5, \"shutdown_timeout_s\": 3600}");
    ib_config c;
    assert_int_equal(ib_config_load(ROOT, &c, &D), 0);
    assert_int_equal(c.max_parallel_runs, 64);
    assert_int_equal(c.log_level, 7);
    assert_string_equal(c.staging_dir, "/srv/staging");
    assert_true(c.max_bandwidth_mbps == 2.5);
    assert_int_equal(c.shutdown_timeout_s, 3600);
    ib_config_free(&c);
    assert_null(c.staging_dir);

    const char *const names[] = {"emerg",   "alert",  "crit", "err",
                                 "warning", "notice", "info", "debug"};
    for (int i = 0; i < 8; i++) {
        char text[128];
        snprintf(text, sizeof text, "{\"log_level\": \"%s\"}", names[i]);
        write_file("iotdb-backupd.conf", text);
        assert_int_equal(ib_config_load(ROOT, &c, &D), 0);
        assert_int_equal(c.log_level, i);
        ib_config_free(&c);
        snprintf(text, sizeof text, "{\"log_level\": %d}", i);
        write_file("iotdb-backupd.conf", text);
        assert_int_equal(ib_config_load(ROOT, &c, &D), 0);
        assert_int_equal(c.log_level, i);
        ib_config_free(&c);
    }
    write_file("iotdb-backupd.conf", "{}");
    assert_int_equal(ib_config_load(ROOT, &c, &D), 0);
    assert_defaults(&c);
    assert_int_equal(D.len, 0);
}

static void test_setting_errors(void **state)
{
    (void)state;
    expect_one("{\"max_parallel_run\": 3}", "/max_parallel_run",
               "unknown key \"max_parallel_run\"; did you mean \"max_parallel_runs\"?");
    expect_one("{\"max_parallel_runs\": 0}", "/max_parallel_runs", "must be >= 1, got 0");
    expect_one("{\"max_parallel_runs\": 65}", "/max_parallel_runs", "must be <= 64, got 65");
    expect_one("{\"max_parallel_runs\": 2.5}", "/max_parallel_runs", "must be an integer, got 2.5");
    expect_one("{\"max_parallel_runs\": \"2\"}", "/max_parallel_runs",
               "must be an integer, got string");
    expect_one("{\"log_level\": \"verbose\"}", "/log_level",
               "must be one of \"emerg\", \"alert\", \"crit\", \"err\", \"warning\", \"notice\", "
               "\"info\", \"debug\", got \"verbose\"");
    expect_one("{\"log_level\": \"debgu\"}", "/log_level", "did you mean \"debug\"?");
    expect_one("{\"log_level\": 8}", "/log_level", "must be <= 7, got 8");
    expect_one("{\"log_level\": true}", "/log_level", "must be a level name");
    expect_one("{\"staging_dir\": \"staging\"}", "/staging_dir", "must be an absolute path");
    expect_one("{\"staging_dir\": 5}", "/staging_dir", "must be a string, got number");
    expect_one("{\"max_bandwidth_mbps\": -0.5}", "/max_bandwidth_mbps", "must be >= 0, got -0.5");
    expect_one("{\"shutdown_timeout_s\": 0}", "/shutdown_timeout_s", "must be >= 1, got 0");
    expect_one("{\"shutdown_timeout_s\": 3601}", "/shutdown_timeout_s", "must be <= 3600");
    expect_one("[]", NULL, "must hold a JSON object, got array");
    expect_one("{\"log_level\": 1, \"log_level\": 2}", "/log_level", "duplicate key");
}

/* metrics_file: an absolute file path; no directory, no relative path (the
 * settings are read before the state dir is known, docs/metrics.md). */
static void test_metrics_file(void **state)
{
    (void)state;
    write_file("iotdb-backupd.conf",
               "{\"metrics_file\": \"/var/lib/iotdb-backupd/metrics/iotdb-backupd.prom\"}");
    ib_config c;
    assert_int_equal(ib_config_load(ROOT, &c, &D), 0);
    assert_string_equal(c.metrics_file, "/var/lib/iotdb-backupd/metrics/iotdb-backupd.prom");
    ib_config_free(&c);
    assert_null(c.metrics_file);
    expect_one("{\"metrics_file\": \"/var/lib/node_exporter/textfile/\"}", "/metrics_file",
               "must name a file, not a directory: \"/var/lib/node_exporter/textfile/\"");
    expect_one("{\"metrics_file\": \"/\"}", "/metrics_file",
               "must name a file, not a directory: \"/\"");
    expect_one("{\"metrics_file\": \"metrics/iotdb-backupd.prom\"}", "/metrics_file",
               "must be an absolute path");
    expect_one("{\"metrics_file\": 1}", "/metrics_file", "must be a string, got number");
}

static void test_all_errors_and_syntax(void **state)
{
    (void)state;
    write_file("iotdb-backupd.conf",
               "{\"max_parallel_runs\": 0, \"log_level\": \"loud\", \"staging_dir\": \"x\"}");
    ib_config c;
    assert_int_equal(ib_config_load(ROOT, &c, &D), -1);
    assert_int_equal(ib_diags_errors(&D), 3);
    assert_non_null(find("/max_parallel_runs", "must be >= 1"));
    assert_non_null(find("/log_level", "must be one of"));
    assert_non_null(find("/staging_dir", "absolute"));
    assert_defaults(&c);
    ib_diags_free(&D);

    write_file("iotdb-backupd.conf", "{\n  \"log_level\": \"info\",\n}\n");
    assert_int_equal(ib_config_load(ROOT, &c, &D), -1);
    assert_int_equal(D.len, 1);
    assert_int_equal(D.items[0].code, IB_E_CONFIG);
    assert_int_equal(D.items[0].line, 3);
    assert_int_equal(D.items[0].column, 1);
    char line[1024];
    ib_diag_format(&D.items[0], line, sizeof line);
    assert_non_null(strstr(line, "iotdb-backupd.conf:3:1: unexpected '}'"));
    assert_non_null(strstr(line, "(E_CONFIG)"));
    ib_diags_free(&D);

    /* a directory where the file should be */
    char path[256];
    snprintf(path, sizeof path, "%s/iotdb-backupd.conf", ROOT);
    remove(path);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(ib_config_load(ROOT, &c, &D), -1);
    assert_int_equal(D.len, 1);
    assert_int_equal(D.items[0].code, IB_E_CONFIG);
    assert_non_null(strstr(D.items[0].message, "not a regular file"));
    assert_defaults(&c);
}

/* Every file shipped in conf/ passes the same check as check-config. */
static void test_shipped_examples_are_valid(void **state)
{
    (void)state;
    const char *conf = IB_TEST_SOURCE_DIR "/conf";
    size_t n_tasks = 99;
    int errors = ib_check_config(conf, &D, &n_tasks);
    for (size_t i = 0; i < D.len; i++) {
        char line[2048];
        ib_diag_format(&D.items[i], line, sizeof line);
        fprintf(stderr, "%s\n", line);
    }
    assert_int_equal(errors, 0);
    assert_int_equal(D.len, 0); /* not even warnings */

    /* every task file there was loaded, and there is one per path type */
    size_t counted = 0;
    DIR *d = opendir(IB_TEST_SOURCE_DIR "/conf/tasks.d");
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        counted += ib_task_file_counts(e->d_name);
    closedir(d);
    assert_true(counted >= 2);
    assert_int_equal(n_tasks, counted);
    ib_taskset set;
    assert_int_equal(ib_taskset_load(conf, &set, &D), 0);
    bool local = false, hdfs = false;
    for (size_t i = 0; i < set.len; i++) {
        local |= set.items[i]->target.type == IB_TARGET_LOCALDIR;
        hdfs |= set.items[i]->target.type == IB_TARGET_REMOTEHDFS;
    }
    assert_true(local && hdfs);
    ib_taskset_free(&set);

    /* the daemon settings example sets every key */
    ib_config c;
    assert_int_equal(ib_config_load(conf, &c, &D), 0);
    char *text = NULL;
    size_t len = 0;
    ib_err err;
    assert_int_equal(ib_read_small_file(IB_TEST_SOURCE_DIR "/conf/iotdb-backupd.conf", 65536, &text,
                                        &len, NULL, &err),
                     0);
    const char *const keys[] = {"max_parallel_runs", "log_level", "staging_dir",
                                "max_bandwidth_mbps", "shutdown_timeout_s"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        assert_non_null(strstr(text, keys[i]));
    free(text);
    ib_config_free(&c);
}

static char *print_to_string(size_t n_tasks)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    assert_non_null(f);
    ib_check_config_print(&D, n_tasks, f);
    fclose(f);
    return buf;
}

static void test_check_config(void **state)
{
    (void)state;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/tasks.d", ROOT);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file("tasks.d/good.json",
               "{\"mode\": \"manual\", \"source\": {\"data_dirs\": [\"/d\"], \"databases\": "
               "[\"root.a\"]}, \"target\": {\"path_type\": \"LocalDir\", \"target_path\": "
               "\"/b\", \"max_copies\": 2}}");
    size_t n = 99;
    assert_int_equal(ib_check_config(ROOT, &D, &n), 0);
    assert_int_equal(n, 1);
    char *out = print_to_string(n);
    assert_string_equal(out, "configuration OK: 1 task(s)\n");
    free(out);

    write_file("iotdb-backupd.conf", "{\"max_parallel_runs\": 0}");
    write_file("tasks.d/bad.json", "{\"mode\": \"manual\", \"x\": 1}");
    assert_int_equal(ib_check_config(ROOT, &D, &n), 4);
    assert_int_equal(n, 1);
    out = print_to_string(n);
    assert_non_null(strstr(out, "iotdb-backupd.conf: /max_parallel_runs: must be >= 1, got 0 "
                                "(E_CONFIG)\n"));
    assert_non_null(strstr(out, "tasks.d/bad.json: /x: unknown key \"x\" (E_TASK_FIELD)\n"));
    assert_non_null(strstr(out, "tasks.d/bad.json: /source: required key is missing"));
    assert_non_null(strstr(out, "tasks.d/bad.json: /target: required key is missing"));
    /* ends with the summary */
    const char *summary = "configuration has 4 error(s)\n";
    assert_string_equal(out + strlen(out) - strlen(summary), summary);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_file_gives_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setting_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_errors_and_syntax, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipped_examples_are_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_config, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
