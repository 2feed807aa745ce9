/* Run progress (rate and ETA over a sliding window), the Prometheus metrics
 * text, its atomic write, and the daemon settings behind them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon.h"
#include "ib_config.h"
#include "metrics.h"
#include "rate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S 1000000000ull /* one second in ns */

/* ---- rate ---- */

static void test_rate_unknown_until_a_second_is_covered(void **state)
{
    (void)state;
    ibd_rate r;
    ibd_rate_reset(&r);
    double rate = -1, eta = -1;
    assert_false(ibd_rate_get(&r, 10 * S, &rate));
    ibd_rate_add(&r, 10 * S, 0);
    ibd_rate_add(&r, 10 * S + S / 2, 500);
    assert_false(ibd_rate_get(&r, 10 * S + S / 2, &rate));
    assert_false(ibd_rate_eta(&r, 10 * S + S / 2, 500, 1000, &eta));
    ibd_rate_add(&r, 11 * S, 1000);
    assert_true(ibd_rate_get(&r, 11 * S, &rate));
    assert_true(fabs(rate - 1000) < 1e-6);
}

static void test_rate_follows_a_steady_transfer_and_gives_the_eta(void **state)
{
    (void)state;
    ibd_rate r;
    ibd_rate_reset(&r);
    /* 5 MB/s, reported every 200 ms for a minute: far more reports than
     * samples, the ring must still span the window. */
    uint64_t t = 0;
    int64_t bytes = 0;
    for (int i = 0; i <= 300; i++, t += S / 5, bytes += 1000000)
        ibd_rate_add(&r, t, bytes);
    t -= S / 5;
    bytes -= 1000000;
    double rate = 0, eta = 0;
    assert_true(ibd_rate_get(&r, t, &rate));
    assert_true(fabs(rate - 5e6) < 1e3);
    assert_true(ibd_rate_eta(&r, t, bytes, bytes + 50000000, &eta));
    assert_true(fabs(eta - 10.0) < 0.01);
    /* No total, or done beyond it: no ETA. */
    assert_false(ibd_rate_eta(&r, t, bytes, 0, &eta));
    assert_false(ibd_rate_eta(&r, t, bytes, bytes - 1, &eta));
}

static void test_rate_forgets_old_speed_and_falls_while_stalled(void **state)
{
    (void)state;
    ibd_rate r;
    ibd_rate_reset(&r);
    uint64_t t = 0;
    int64_t bytes = 0;
    /* A minute at 10 MB/s, then 40 s at 1 MB/s: the window shows 1 MB/s. */
    for (int i = 0; i < 60; i++, t += S, bytes += 10000000)
        ibd_rate_add(&r, t, bytes);
    for (int i = 0; i < 40; i++, t += S, bytes += 1000000)
        ibd_rate_add(&r, t, bytes);
    t -= S;
    bytes -= 1000000;
    double rate = 0;
    assert_true(ibd_rate_get(&r, t, &rate));
    assert_true(fabs(rate - 1e6) < 1e3);
    /* Nothing reported for 10 s: the rate halves, as the bytes did not move. */
    double stalled = 0;
    assert_true(ibd_rate_get(&r, t + 10 * S, &stalled));
    assert_true(stalled < rate * 0.7);
    /* A long stall: 0, and no ETA. */
    double eta = 0;
    assert_true(ibd_rate_get(&r, t + 100 * S, &stalled));
    assert_true(stalled == 0);
    assert_false(ibd_rate_eta(&r, t + 100 * S, bytes, bytes * 2, &eta));
}

static void test_rate_restarts_when_bytes_go_back(void **state)
{
    (void)state;
    ibd_rate r;
    ibd_rate_reset(&r);
    for (int i = 0; i < 10; i++)
        ibd_rate_add(&r, (uint64_t)i * S, (int64_t)i * 1000);
    double rate = 0;
    ibd_rate_add(&r, 10 * S, 0); /* a phase that counts anew */
    assert_false(ibd_rate_get(&r, 10 * S, &rate));
    ibd_rate_add(&r, 12 * S, 4000);
    assert_true(ibd_rate_get(&r, 12 * S, &rate));
    assert_true(fabs(rate - 2000) < 1e-6);
}

/* ---- metrics text ---- */

typedef struct world {
    ibd d;
    ibd_task tasks[3];
    ib_task defs[3];
    ibd_task *ptrs[3];
    ibd_run run;
} world;

static void world_init(world *w)
{
    memset(w, 0, sizeof *w);
    const char *names[] = {"alpha", "beta", "gamma"};
    for (int i = 0; i < 3; i++) {
        snprintf(w->defs[i].name, sizeof w->defs[i].name, "%s", names[i]);
        w->tasks[i].def = &w->defs[i];
        w->tasks[i].node.pos = IBD_HEAP_NONE;
        w->tasks[i].hist.copies_kept = -1;
        w->ptrs[i] = &w->tasks[i];
    }
    w->d.tasks = w->ptrs;
    w->d.n_tasks = 3;
    w->d.started_at = 1764000000;
    w->d.n_config_errors = 2;
    w->d.n_running = 1;
    /* alpha: failed last, succeeded before, 3 copies kept, scheduled */
    ibd_history *h = &w->tasks[0].hist;
    h->has_last_run = true;
    h->last_run.result = IB_RESULT_FAILED;
    h->last_run.start = 1764000100;
    h->last_run.end = 1764000160;
    h->last_run.bytes_sent = 123456789012;
    h->last_run.files_sent = 42;
    h->last_duration_s = 60.25;
    h->last_success = 1763990000;
    h->copies_kept = 3;
    w->tasks[0].node.pos = 0;
    w->tasks[0].node.due = 1764086400;
    /* beta: never ran, running now */
    w->run.state = IBD_RUN_RUNNING;
    w->tasks[1].run = &w->run;
    /* gamma: interrupted, no success known */
    h = &w->tasks[2].hist;
    h->has_last_run = true;
    h->last_run.result = IB_RESULT_INTERRUPTED;
    h->last_run.start = 1764000200;
    h->last_run.end = 0;
}

static char *render(const world *w, bool up)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    ibd_metrics_render(&w->d, up, out);
    assert_int_equal(fclose(out), 0);
    return text;
}

static void assert_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return;
    fail_msg("line not found: %s\n--- in ---\n%s", line, text);
}

static void assert_no_line_starting(const char *text, const char *prefix)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, prefix, strlen(prefix)) == 0)
            fail_msg("unexpected line starting with %s", prefix);
}

static void test_metrics_values(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    char *t = render(&w, true);
    assert_line(t, "iotdb_backupd_up 1");
    assert_line(t, "iotdb_backupd_build_info{version=\"" IB_VERSION "\"} 1");
    assert_line(t, "iotdb_backupd_start_time_seconds 1764000000");
    assert_line(t, "iotdb_backupd_tasks 3");
    assert_line(t, "iotdb_backupd_config_errors 2");
    assert_line(t, "iotdb_backupd_runs{state=\"running\"} 1");
    assert_line(t, "iotdb_backupd_runs{state=\"queued\"} 0");
    assert_line(t, "iotdb_backupd_last_success_timestamp_seconds{task=\"alpha\"} 1763990000");
    assert_no_line_starting(t, "iotdb_backupd_last_success_timestamp_seconds{task=\"gamma\"}");
    assert_line(t, "iotdb_backupd_last_run_result{task=\"alpha\",result=\"succeeded\"} 0");
    assert_line(t, "iotdb_backupd_last_run_result{task=\"alpha\",result=\"failed\"} 1");
    assert_line(t, "iotdb_backupd_last_run_result{task=\"alpha\",result=\"interrupted\"} 0");
    assert_line(t, "iotdb_backupd_last_run_result{task=\"gamma\",result=\"interrupted\"} 1");
    assert_no_line_starting(t, "iotdb_backupd_last_run_result{task=\"beta\"");
    assert_line(t, "iotdb_backupd_last_run_timestamp_seconds{task=\"alpha\"} 1764000160");
    assert_line(t, "iotdb_backupd_last_run_timestamp_seconds{task=\"gamma\"} 1764000200");
    assert_line(t, "iotdb_backupd_last_run_duration_seconds{task=\"alpha\"} 60.250");
    assert_line(t, "iotdb_backupd_last_run_bytes_sent{task=\"alpha\"} 123456789012");
    assert_line(t, "iotdb_backupd_last_run_files_sent{task=\"alpha\"} 42");
    assert_line(t, "iotdb_backupd_copies_kept{task=\"alpha\"} 3");
    assert_no_line_starting(t, "iotdb_backupd_copies_kept{task=\"gamma\"}");
    assert_line(t, "iotdb_backupd_next_run_timestamp_seconds{task=\"alpha\"} 1764086400");
    assert_no_line_starting(t, "iotdb_backupd_next_run_timestamp_seconds{task=\"beta\"}");
    assert_line(t, "iotdb_backupd_running{task=\"alpha\"} 0");
    assert_line(t, "iotdb_backupd_running{task=\"beta\"} 1");
    free(t);
    t = render(&w, false);
    assert_line(t, "iotdb_backupd_up 0");
    free(t);
}

/* The exposition format: every family has HELP and TYPE before its
 * samples, and its samples are together. */
static void test_metrics_families_are_well_formed(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    char *t = render(&w, true);
    char done[64][80];
    int n_done = 0;
    char current[80] = "";
    char *save = NULL;
    for (char *line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[80];
        if (strncmp(line, "# HELP ", 7) == 0) {
            sscanf(line + 7, "%79s", name);
            for (int i = 0; i < n_done; i++)
                assert_string_not_equal(done[i], name);
            assert_true(n_done < 64);
            snprintf(done[n_done++], sizeof done[0], "%s", name);
            snprintf(current, sizeof current, "%s", name);
            assert_true(strlen(line) > 8 + strlen(name)); /* a text follows */
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            char type[16];
            assert_int_equal(sscanf(line + 7, "%79s %15s", name, type), 2);
            assert_string_equal(name, current);
            assert_string_equal(type, "gauge");
            continue;
        }
        size_t len = strcspn(line, "{ ");
        assert_true(len < sizeof name);
        memcpy(name, line, len);
        name[len] = '\0';
        assert_string_equal(name, current);
        assert_non_null(strchr(line, ' '));
    }
    assert_true(n_done >= 15);
    free(t);
}

static void test_label_values_are_escaped(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ibd_metrics_put_label_value(out, "a\\b\"c\nd");
    fclose(out);
    assert_string_equal(text, "a\\\\b\\\"c\\nd");
    free(text);
}

/* ---- the file ---- */

static void test_write_file_replaces_atomically_with_mode_0644(void **state)
{
    (void)state;
    char dir[] = "/tmp/ib-test-metrics-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128], tmp[160];
    snprintf(path, sizeof path, "%s/x.prom", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    mode_t old = umask(0077);
    ib_err err;
    ib_err_clear(&err);
    assert_int_equal(ibd_metrics_write_file(path, "a 1\n", 4, &err), 0);
    assert_int_equal(ibd_metrics_write_file(path, "b 2\n", 4, &err), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(st.st_size, 4);
    assert_int_not_equal(access(tmp, F_OK), 0); /* no temporary left */
    FILE *f = fopen(path, "r");
    char buf[16] = "";
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "b 2\n");
    /* A missing directory: an error naming the file, nothing left behind. */
    char missing[160];
    snprintf(missing, sizeof missing, "%s/nope/x.prom", dir);
    assert_int_equal(ibd_metrics_write_file(missing, "a", 1, &err), -1);
    assert_int_equal(err.code, IB_E_IO);
    assert_non_null(strstr(err.msg, "nope/x.prom.tmp"));
    assert_non_null(strstr(err.msg, "No such file"));
    unlink(path);
    rmdir(dir);
}

/* ---- settings ---- */

static int load_settings(const char *json, ib_config *cfg, ib_diags *diags)
{
    char dir[] = "/tmp/ib-test-conf-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/iotdb-backupd.conf", dir);
    FILE *f = fopen(path, "w");
    fputs(json, f);
    fclose(f);
    ib_diags_init(diags);
    int rc = ib_config_load(dir, cfg, diags);
    unlink(path);
    rmdir(dir);
    return rc;
}

static void test_settings_defaults_and_values(void **state)
{
    (void)state;
    ib_config cfg;
    ib_diags diags;
    assert_int_equal(load_settings("{}", &cfg, &diags), 0);
    assert_int_equal(cfg.progress_log_interval_s, 30);
    assert_null(cfg.metrics_file);
    ib_config_free(&cfg);
    ib_diags_free(&diags);
    assert_int_equal(load_settings("{\"progress_log_interval_s\": 0, \"metrics_file\": "
                                   "\"/var/lib/prometheus/node-exporter/iotdb-backupd.prom\"}",
                                   &cfg, &diags),
                     0);
    assert_int_equal(cfg.progress_log_interval_s, 0);
    assert_string_equal(cfg.metrics_file, "/var/lib/prometheus/node-exporter/iotdb-backupd.prom");
    ib_config_free(&cfg);
    ib_diags_free(&diags);
}

static void assert_setting_error(const char *json, const char *expect)
{
    ib_config cfg;
    ib_diags diags;
    assert_int_equal(load_settings(json, &cfg, &diags), -1);
    assert_true(diags.len >= 1);
    char line[1024];
    ib_diag_format(&diags.items[0], line, sizeof line);
    if (!strstr(line, expect))
        fail_msg("%s: expected \"%s\" in: %s", json, expect, line);
    assert_null(cfg.metrics_file);
    ib_config_free(&cfg);
    ib_diags_free(&diags);
}

static void test_settings_errors(void **state)
{
    (void)state;
    assert_setting_error("{\"metrics_file\": \"metrics.prom\"}", "/metrics_file");
    assert_setting_error("{\"metrics_file\": \"metrics.prom\"}", "absolute path");
    assert_setting_error("{\"metrics_file\": \"/var/lib/\"}", "must name a file");
    assert_setting_error("{\"metrics_file\": 3}", "/metrics_file");
    assert_setting_error("{\"progress_log_interval_s\": -1}", "/progress_log_interval_s");
    assert_setting_error("{\"progress_log_interval_s\": 86401}", "/progress_log_interval_s");
    assert_setting_error("{\"progress_log_interval_s\": \"30\"}", "/progress_log_interval_s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_unknown_until_a_second_is_covered),
        cmocka_unit_test(test_rate_follows_a_steady_transfer_and_gives_the_eta),
        cmocka_unit_test(test_rate_forgets_old_speed_and_falls_while_stalled),
        cmocka_unit_test(test_rate_restarts_when_bytes_go_back),
        cmocka_unit_test(test_metrics_values),
        cmocka_unit_test(test_metrics_families_are_well_formed),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_write_file_replaces_atomically_with_mode_0644),
        cmocka_unit_test(test_settings_defaults_and_values),
        cmocka_unit_test(test_settings_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
