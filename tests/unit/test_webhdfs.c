/* The RemoteHDFS driver against tests/tools/webhdfs_server.py, started per
 * test on free ports: every operation, error mapping, HA failover, retries
 * and injected faults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_hdfs_checksum.h"
#include "ib_storage.h"
#include "ib_webhdfs.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SERVER IB_TEST_SOURCE_DIR "/tests/tools/webhdfs_server.py"

typedef struct fixture {
    pid_t pid;
    int to_server; /* its stdin: closing it stops the server */
    int nn[2], dn, admin;
    const char *admin_host; /* NULL: 127.0.0.1 */
    ib_target target;
    ib_storage *st; /* as the superuser "hdfs" */
} fixture;

/* ---- the server process ---- */

/* extra: more arguments for the server, NULL-terminated (or NULL). */
static int start_server(fixture *f, const char *const *extra)
{
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        const char *argv[32] = {"python3", SERVER, "--ls-limit", "3", "--superuser", "hdfs"};
        size_t n = 6;
        for (size_t i = 0; extra && extra[i] && n + 1 < sizeof argv / sizeof argv[0]; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char line[512];
    size_t len = 0;
    while (len + 1 < sizeof line) {
        ssize_t n = read(out[0], line + len, 1);
        if (n <= 0 || line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close(out[0]);
    cJSON *doc = cJSON_Parse(line);
    cJSON *nns = cJSON_GetObjectItem(doc, "namenodes");
    if (!cJSON_IsArray(nns) || cJSON_GetArraySize(nns) != 2) {
        cJSON_Delete(doc);
        return -1;
    }
    f->pid = pid;
    f->to_server = in[1];
    f->nn[0] = cJSON_GetArrayItem(nns, 0)->valueint;
    f->nn[1] = cJSON_GetArrayItem(nns, 1)->valueint;
    f->dn = cJSON_GetObjectItem(doc, "datanode")->valueint;
    f->admin = cJSON_GetObjectItem(doc, "admin")->valueint;
    cJSON_Delete(doc);
    return 0;
}

static void stop_server(fixture *f)
{
    close(f->to_server);
    int status;
    waitpid(f->pid, &status, 0);
}

static size_t collect(char *data, size_t size, size_t n, void *ud)
{
    char *buf = ud;
    size_t used = strlen(buf), len = size * n;
    if (used + len < 8192) {
        memcpy(buf + used, data, len);
        buf[used + len] = '\0';
    }
    return len;
}

/* POST json to the admin port (GET when json is NULL); the answer in out. */
static void admin(fixture *f, const char *path, const char *json, char *out)
{
    char url[256], scratch[8192] = "";
    snprintf(url, sizeof url, "http://%s:%d%s", f->admin_host ? f->admin_host : "127.0.0.1",
             f->admin, path);
    char *buf = out ? out : scratch;
    buf[0] = '\0';
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (json)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    assert_int_equal(status, 200);
}

static int64_t stat_number(fixture *f, const char *key, const char *sub)
{
    char out[8192];
    admin(f, "/admin/stats", NULL, out);
    cJSON *doc = cJSON_Parse(out);
    cJSON *v = cJSON_GetObjectItem(doc, key);
    if (sub)
        v = cJSON_GetObjectItem(v, sub);
    int64_t n = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
    cJSON_Delete(doc);
    return n;
}

/* ---- storage handles ---- */

static char nn_spec[2][64];

static ib_target target_for(fixture *f, const char *user)
{
    snprintf(nn_spec[0], sizeof nn_spec[0], "127.0.0.1:%d", f->nn[0]);
    snprintf(nn_spec[1], sizeof nn_spec[1], "127.0.0.1:%d", f->nn[1]);
    ib_target t = {.type = IB_TARGET_REMOTEHDFS,
                   .target_path = "/backup",
                   .active_namenode = nn_spec[0],
                   .standby_namenode = nn_spec[1],
                   .namenode_http_port = 9870,
                   .parallel_uploads = 2,
                   .auth_mode = IB_AUTH_SIMPLE,
                   .auth_user = (char *)user};
    return t;
}

static void tune_for_tests(ib_storage *s)
{
    ib_webhdfs_tuning tune;
    ib_webhdfs_default_tuning(&tune);
    tune.max_attempts = 6;
    tune.backoff_base_ms = 10;
    tune.backoff_cap_ms = 80;
    tune.connect_timeout_ms = 2000;
    tune.stall_timeout_s = 10;
    ib_webhdfs_set_tuning(s, &tune);
}

static ib_storage *open_target(const ib_target *t, double mbps)
{
    ib_storage *s = NULL;
    ib_err err;
    if (ib_storage_webhdfs_new(t, mbps, NULL, &s, &err) != 0)
        fail_msg("open: %s", err.msg);
    tune_for_tests(s);
    return s;
}

static ib_storage *open_as(fixture *f, const char *user, double mbps)
{
    ib_target t = target_for(f, user);
    return open_target(&t, mbps);
}

/* One server for the group (starting Python is the slow part); each test
 * gets it reset to a fresh cluster. */
static int group_setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    if (!f || start_server(f, NULL) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    stop_server(f);
    free(f);
    return 0;
}

static int setup(void **state)
{
    fixture *f = *state;
    admin(f, "/admin/reset", "{}", NULL);
    f->st = open_as(f, "hdfs", 0);
    ib_err err;
    if (f->st->drv->mkdirs(f->st, "/backup", &err) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ib_storage_free(f->st);
    f->st = NULL;
    return 0;
}

/* ---- sources and sinks ---- */

typedef struct pattern_reader {
    int64_t len, pos;
    size_t max_piece;
} pattern_reader;

static uint8_t pattern_byte(int64_t i)
{
    return (uint8_t)((i * 7 + (i >> 11)) & 0xff);
}

static ssize_t pattern_read(void *ctx, void *buf, size_t cap, ib_err *err)
{
    (void)err;
    pattern_reader *r = ctx;
    if (r->max_piece && cap > r->max_piece)
        cap = r->max_piece;
    int64_t n = r->len - r->pos < (int64_t)cap ? r->len - r->pos : (int64_t)cap;
    for (int64_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = pattern_byte(r->pos + i);
    r->pos += n;
    return (ssize_t)n;
}

static int put_pattern(ib_storage *s, const char *path, int64_t len, int64_t declared, ib_err *err)
{
    pattern_reader r = {.len = len};
    ib_reader rd = {.ctx = &r, .read = pattern_read};
    return s->drv->put(s, path, declared, &rd, err);
}

typedef struct check_writer {
    int64_t pos;
    bool ok;
} check_writer;

static int check_write(void *ctx, const void *buf, size_t len, ib_err *err)
{
    (void)err;
    check_writer *w = ctx;
    for (size_t i = 0; i < len; i++)
        if (((const uint8_t *)buf)[i] != pattern_byte(w->pos + (int64_t)i))
            w->ok = false;
    w->pos += (int64_t)len;
    return 0;
}

static void assert_pattern(ib_storage *s, const char *path, int64_t len)
{
    check_writer cw = {.ok = true};
    ib_writer w = {.ctx = &cw, .write = check_write};
    ib_err err;
    if (s->drv->get(s, path, &w, &err) != 0)
        fail_msg("get %s: %s", path, err.msg);
    assert_true(cw.ok);
    assert_int_equal(cw.pos, len);
}

static void assert_missing(ib_storage *s, const char *path)
{
    ib_storage_info info;
    ib_err err;
    if (s->drv->stat(s, path, &info, &err) != 0)
        fail_msg("stat %s: %s", path, err.msg);
    if (info.exists)
        fail_msg("%s exists", path);
}

/* ---- tests ---- */

static void test_put_get_stat_list_remove(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    if (put_pattern(s, "/backup/d/big", 300000, 300000, &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, "/backup/d/big", 300000);
    ib_storage_info info;
    assert_int_equal(s->drv->stat(s, "/backup/d/big", &info, &err), 0);
    assert_true(info.exists);
    assert_false(info.is_dir);
    assert_int_equal(info.size, 300000);
    assert_true(info.mtime_ms > 0);
    assert_missing(s, "/backup/d/big" IB_STORAGE_TEMP_SUFFIX);

    /* Replacing an existing file, unknown size (chunked). */
    assert_int_equal(put_pattern(s, "/backup/d/big", 1000, -1, &err), 0);
    assert_pattern(s, "/backup/d/big", 1000);
    assert_int_equal(put_pattern(s, "/backup/d/empty", 0, 0, &err), 0);
    assert_pattern(s, "/backup/d/empty", 0);

    ib_storage_entry *e;
    size_t n;
    assert_int_equal(s->drv->mkdirs(s, "/backup/d/sub", &err), 0);
    assert_int_equal(s->drv->list(s, "/backup/d", &e, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_string_equal(e[0].name, "big");
    assert_int_equal(e[0].size, 1000);
    assert_string_equal(e[1].name, "empty");
    assert_string_equal(e[2].name, "sub");
    assert_true(e[2].is_dir);
    ib_storage_entries_free(e, n);

    assert_int_equal(s->drv->remove(s, "/backup/d", false, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_IO);
    assert_non_null(strstr(err.msg, "PathIsNotEmptyDirectoryException"));
    assert_int_equal(s->drv->remove(s, "/backup/d", true, &err), 0);
    assert_missing(s, "/backup/d");
    assert_int_equal(s->drv->remove(s, "/backup/d", true, &err), 0); /* already gone */
}

static void test_size_mismatch_leaves_nothing(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    /* The temporary file is deleted at once, but the DataNode may create
     * it only after that (the aborted request is still in its queue), as
     * with real HDFS: only the destination is asserted. */
    assert_int_equal(put_pattern(s, "/backup/short", 1000, 2000, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_READ);
    assert_missing(s, "/backup/short");
    assert_int_equal(put_pattern(s, "/backup/long", 3000, 2000, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_READ);
    assert_missing(s, "/backup/long");
    assert_int_equal(s->drv->mkdirs(s, "/backup/dir", &err), 0);
    assert_int_equal(put_pattern(s, "/backup/dir", 10, 10, &err), -1);
    assert_non_null(strstr(err.msg, "directory is in the way"));
}

static void test_put_on_a_server_without_rename_options(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    admin(f, "/admin/config", "{\"rename_options\": false}", NULL);
    assert_int_equal(put_pattern(s, "/backup/f", 100, 100, &err), 0);
    assert_int_equal(put_pattern(s, "/backup/f", 200, 200, &err), 0); /* delete, rename */
    assert_pattern(s, "/backup/f", 200);
    assert_int_equal(s->drv->mkdirs(s, "/backup/dir", &err), 0);
    assert_int_equal(put_pattern(s, "/backup/dir", 10, 10, &err), -1);
    assert_non_null(strstr(err.msg, "directory is in the way"));
    ib_storage_info info;
    assert_int_equal(s->drv->stat(s, "/backup/dir", &info, &err), 0);
    assert_true(info.exists && info.is_dir);
    /* One refused, remembered, then plain ones. */
    assert_int_equal(stat_number(f, "ops", "nn0 RENAME"), 3);
}

static void test_special_characters(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    const char *dir = "/backup/a b+c%d;e\xc3\xa9";
    char path[128];
    snprintf(path, sizeof path, "%s/x y+z%%41", dir);
    if (put_pattern(s, path, 5000, 5000, &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, path, 5000);
    ib_storage_entry *e;
    size_t n;
    assert_int_equal(s->drv->list(s, dir, &e, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(e[0].name, "x y+z%41");
    ib_storage_entries_free(e, n);
    char to[128];
    snprintf(to, sizeof to, "%s/p+q r", dir);
    assert_int_equal(s->drv->rename(s, path, to, &err), 0);
    assert_pattern(s, to, 5000);

    char *enc = ib_webhdfs_encode_path("/a b/+%/\xc3\xa9~");
    assert_string_equal(enc, "/a%20b/%2B%25/%C3%A9~");
    free(enc);
}

static void test_rename(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    assert_int_equal(put_pattern(s, "/backup/a", 10, 10, &err), 0);
    assert_int_equal(put_pattern(s, "/backup/b", 20, 20, &err), 0);
    assert_int_equal(s->drv->mkdirs(s, "/backup/dir", &err), 0);
    assert_int_equal(s->drv->rename(s, "/backup/a", "/backup/b", &err), -1);
    assert_non_null(strstr(err.msg, "already exists"));
    /* Never into an existing directory. */
    assert_int_equal(s->drv->rename(s, "/backup/a", "/backup/dir", &err), -1);
    assert_missing(s, "/backup/dir/a");
    assert_int_equal(s->drv->rename(s, "/backup/missing", "/backup/c", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_NOT_FOUND);
    assert_int_equal(s->drv->rename(s, "/backup/a", "/nope/c", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_NOT_FOUND);
    assert_int_equal(s->drv->rename(s, "/backup/a", "/backup/dir/a2", &err), 0);
    assert_pattern(s, "/backup/dir/a2", 10);
}

static void test_list_paging_and_fallback(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    char path[64];
    for (int i = 6; i >= 0; i--) {
        snprintf(path, sizeof path, "/backup/l/f%d", i);
        assert_int_equal(put_pattern(s, path, i, i, &err), 0);
    }
    ib_storage_entry *e;
    size_t n;
    int64_t before = stat_number(f, "ops", "nn0 LISTSTATUS_BATCH");
    assert_int_equal(s->drv->list(s, "/backup/l", &e, &n, &err), 0);
    assert_int_equal(n, 7);
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "f%zu", i);
        assert_string_equal(e[i].name, path);
        assert_int_equal(e[i].size, (int64_t)i);
    }
    ib_storage_entries_free(e, n);
    assert_int_equal(stat_number(f, "ops", "nn0 LISTSTATUS_BATCH") - before, 3); /* 3+3+1 */

    admin(f, "/admin/config", "{\"liststatus_batch\": false}", NULL);
    ib_storage *old = open_as(f, "hdfs", 0);
    assert_int_equal(old->drv->list(old, "/backup/l", &e, &n, &err), 0);
    assert_int_equal(n, 7);
    ib_storage_entries_free(e, n);
    assert_int_equal(stat_number(f, "ops", "nn0 LISTSTATUS"), 1);
    ib_storage_free(old);

    assert_int_equal(s->drv->list(s, "/backup/l/f1", &e, &n, &err), -1);
    assert_non_null(strstr(err.msg, "not a directory"));
    assert_int_equal(s->drv->list(s, "/backup/none", &e, &n, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_NOT_FOUND);
}

static void test_errors_are_mapped(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    ib_storage *bob = open_as(f, "bob", 0);
    assert_int_equal(bob->drv->mkdirs(bob, "/backup/x", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_AUTH);
    assert_non_null(strstr(err.msg, "AccessControlException"));
    assert_non_null(strstr(err.msg, "/backup/x"));
    assert_non_null(strstr(err.msg, "mkdirs"));
    assert_int_equal(put_pattern(bob, "/backup/y", 10, 10, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_AUTH);
    ib_storage_free(bob);

    check_writer cw = {.ok = true};
    ib_writer w = {.ctx = &cw, .write = check_write};
    assert_int_equal(s->drv->get(s, "/backup/none", &w, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_NOT_FOUND);
    assert_non_null(strstr(err.msg, "FileNotFoundException"));

    /* Quota: HDFS charges a whole block (128 MiB x 3) when allocating it. */
    assert_int_equal(s->drv->mkdirs(s, "/backup/q", &err), 0);
    admin(f, "/admin/quota", "{\"path\": \"/backup/q\", \"ds_quota\": 1048576}", NULL);
    assert_int_equal(put_pattern(s, "/backup/q/f", 100, 100, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_SPACE);
    assert_non_null(strstr(err.msg, "DSQuotaExceededException"));
    assert_missing(s, "/backup/q/f");
    assert_missing(s, "/backup/q/f" IB_STORAGE_TEMP_SUFFIX);
    admin(f, "/admin/quota", "{\"path\": \"/backup/q\", \"ns_quota\": 1, \"ds_quota\": -1}", NULL);
    assert_int_equal(s->drv->mkdirs(s, "/backup/q/sub", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_SPACE);
    assert_non_null(strstr(err.msg, "NSQuotaExceededException"));

    /* A Kerberos cluster's filter answers 401 with a page, not JSON. */
    admin(f, "/admin/fault", "{\"kind\": \"status\", \"code\": 401}", NULL);
    assert_int_equal(s->drv->mkdirs(s, "/backup/k", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_AUTH);
    assert_non_null(strstr(err.msg, "http 401"));
    assert_non_null(strstr(err.msg, "kerberos"));

    /* A proxy page that never goes away: status and first line. */
    admin(f, "/admin/fault", "{\"kind\": \"status\", \"code\": 502, \"count\": 50}", NULL);
    assert_int_equal(s->drv->mkdirs(s, "/backup/p", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_UNREACHABLE);
    assert_non_null(strstr(err.msg, "http 502"));
    assert_non_null(strstr(err.msg, "attempts. HINT"));
    assert_non_null(strstr(err.msg, "502 Bad Gateway"));
}

static void test_failover_to_the_other_namenode(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    assert_int_equal(ib_webhdfs_active_namenode(s), 0);
    admin(f, "/admin/state", "{\"active\": 1}", NULL);
    if (put_pattern(s, "/backup/after", 70000, 70000, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(ib_webhdfs_active_namenode(s), 1);
    int64_t standby_hits = stat_number(f, "requests", "nn0");
    assert_pattern(s, "/backup/after", 70000);
    /* Remembered: no more requests go to the standby first. */
    assert_int_equal(stat_number(f, "requests", "nn0"), standby_hits);

    admin(f, "/admin/state", "{\"active\": -1}", NULL);
    assert_int_equal(s->drv->mkdirs(s, "/backup/none", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_UNREACHABLE);
    assert_non_null(strstr(err.msg, "standby"));
    admin(f, "/admin/state", "{\"active\": 0}", NULL);
    assert_int_equal(s->drv->mkdirs(s, "/backup/again", &err), 0);
    assert_int_equal(ib_webhdfs_active_namenode(s), 0);
}

/* A redirect is followed but not taken as proof that its NameNode is
 * active (a standby one redirects CREATE and OPEN too). */
static void test_redirect_is_no_proof_of_active(void **state)
{
    fixture *f = *state;
    ib_err err;
    assert_int_equal(put_pattern(f->st, "/backup/r", 5000, 5000, &err), 0);
    admin(f, "/admin/state", "{\"active\": 1}", NULL);
    ib_storage *s = open_as(f, "hdfs", 0);
    assert_pattern(s, "/backup/r", 5000); /* OPEN: standby nn0, then a 307 from nn1 */
    assert_int_equal(ib_webhdfs_active_namenode(s), 0);
    ib_storage_info info;
    assert_int_equal(s->drv->stat(s, "/backup/r", &info, &err), 0);
    assert_int_equal(ib_webhdfs_active_namenode(s), 1);
    ib_storage_free(s);
}

static void test_failover_when_namenode_is_down(void **state)
{
    fixture g = *(fixture *)*state;
    ib_err err;
    /* The configured active NameNode is down: port 1 refuses connections. */
    g.nn[1] = g.nn[0];
    g.nn[0] = 1;
    ib_storage *s = open_as(&g, "hdfs", 0);
    assert_int_equal(s->drv->mkdirs(s, "/backup/x", &err), 0);
    assert_int_equal(ib_webhdfs_active_namenode(s), 1);
    ib_storage_free(s);
}

static void test_transient_failures_are_retried(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    admin(f, "/admin/fault", "{\"kind\": \"status\", \"code\": 503, \"count\": 3}", NULL);
    if (s->drv->mkdirs(s, "/backup/storm", &err) != 0)
        fail_msg("%s", err.msg);
    admin(f, "/admin/fault", "{\"kind\": \"safemode\", \"count\": 2}", NULL);
    if (s->drv->mkdirs(s, "/backup/safe", &err) != 0)
        fail_msg("%s", err.msg);
    admin(f, "/admin/fault", "{\"kind\": \"safemode\", \"count\": 1, \"wrap\": false}", NULL);
    if (put_pattern(s, "/backup/safe/f", 100, 100, &err) != 0)
        fail_msg("%s", err.msg);
    admin(f, "/admin/fault", "{\"kind\": \"slow\", \"delay\": 0.2, \"count\": 2}", NULL);
    assert_int_equal(put_pattern(s, "/backup/slow", 100, 100, &err), 0);
    assert_int_equal(stat_number(f, "faults", NULL), 0);
}

static void test_ambiguous_failures_resolved_by_state(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    assert_int_equal(put_pattern(s, "/backup/a", 10, 10, &err), 0);
    /* The rename happens, its answer is lost; the replay answers false. */
    admin(f, "/admin/fault", "{\"kind\": \"drop_after\", \"op\": \"RENAME\"}", NULL);
    if (s->drv->rename(s, "/backup/a", "/backup/b", &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, "/backup/b", 10);
    /* Same for the rename at the end of a put over an existing file. */
    admin(f, "/admin/fault", "{\"kind\": \"drop_after\", \"op\": \"RENAME\"}", NULL);
    if (put_pattern(s, "/backup/b", 30, 30, &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, "/backup/b", 30);

    assert_int_equal(s->drv->snapshot_prepare(s, "/backup", &err), 0);
    admin(f, "/admin/fault", "{\"kind\": \"drop_after\", \"op\": \"CREATESNAPSHOT\"}", NULL);
    if (s->drv->snapshot_create(s, "/backup", "s1", &err) != 0)
        fail_msg("%s", err.msg);
    admin(f, "/admin/fault", "{\"kind\": \"drop_after\", \"op\": \"DELETESNAPSHOT\"}", NULL);
    if (s->drv->snapshot_delete(s, "/backup", "s1", &err) != 0)
        fail_msg("%s", err.msg);
    admin(f, "/admin/fault", "{\"kind\": \"drop_after\", \"op\": \"DELETE\"}", NULL);
    assert_int_equal(s->drv->remove(s, "/backup/b", false, &err), 0);
    assert_missing(s, "/backup/b");
}

static void test_datanode_failures(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    /* Reset early in the body: both steps restart with the bytes kept. */
    admin(f, "/admin/fault", "{\"kind\": \"reset\", \"after_bytes\": 100000}", NULL);
    if (put_pattern(s, "/backup/r", 3000000, 3000000, &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, "/backup/r", 3000000);
    assert_int_equal(stat_number(f, "ops", "dn CREATE"), 2);

    /* Reset after more than can be replayed: the put fails cleanly and
     * the old file stays. */
    admin(f, "/admin/fault", "{\"kind\": \"reset\", \"after_bytes\": 2000000}", NULL);
    assert_int_equal(put_pattern(s, "/backup/r", 2500000, 2500000, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_UNREACHABLE);
    assert_non_null(strstr(err.msg, "datanode"));
    assert_pattern(s, "/backup/r", 3000000);
    assert_missing(s, "/backup/r" IB_STORAGE_TEMP_SUFFIX);
    assert_int_equal(put_pattern(s, "/backup/r", 2500000, 2500000, &err), 0);
    assert_pattern(s, "/backup/r", 2500000);

    /* A dead DataNode: every attempt is refused before the body starts. */
    admin(f, "/admin/datanode", "{\"up\": false}", NULL);
    assert_int_equal(put_pattern(s, "/backup/d", 10, 10, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_UNREACHABLE);
    assert_non_null(strstr(err.msg, "datanode"));
    admin(f, "/admin/datanode", "{\"up\": true}", NULL);
    assert_int_equal(put_pattern(s, "/backup/d", 10, 10, &err), 0);
}

/* ---- retry notices ---- */

typedef struct notices {
    pthread_mutex_t lock; /* the hook may be called from several threads */
    char lines[32][IB_ERR_MSG_MAX];
    int n;
    bool other_kind;
} notices;

static void collect_notice(void *ctx, const char *kind, const char *msg)
{
    notices *nt = ctx;
    pthread_mutex_lock(&nt->lock);
    if (strcmp(kind, "retrying") != 0)
        nt->other_kind = true;
    if (nt->n < 32)
        snprintf(nt->lines[nt->n++], sizeof nt->lines[0], "%s", msg);
    pthread_mutex_unlock(&nt->lock);
}

static void listen_notices(ib_storage *s, notices *nt)
{
    memset(nt->lines, 0, sizeof nt->lines);
    nt->n = 0;
    nt->other_kind = false;
    pthread_mutex_init(&nt->lock, NULL);
    s->notice = collect_notice;
    s->notice_ctx = nt;
}

/* The first notice holding every one of the NULL-terminated needles. */
static const char *find_notice(notices *nt, ...)
{
    for (int i = 0; i < nt->n; i++) {
        va_list ap;
        va_start(ap, nt);
        bool all = true;
        for (const char *needle; (needle = va_arg(ap, const char *));)
            all = all && strstr(nt->lines[i], needle) != NULL;
        va_end(ap);
        if (all)
            return nt->lines[i];
    }
    return NULL;
}

static void dump_notices(const notices *nt)
{
    for (int i = 0; i < nt->n; i++)
        print_message("notice: %s\n", nt->lines[i]);
}

/* A pattern source that can start again (as the engine's staged files). */
typedef struct rewind_reader {
    pattern_reader p;
    int rewinds;
    bool refuse; /* rewind fails */
} rewind_reader;

static ssize_t rewind_read(void *ctx, void *buf, size_t cap, ib_err *err)
{
    return pattern_read(&((rewind_reader *)ctx)->p, buf, cap, err);
}

static int rewind_start(void *ctx, ib_err *err)
{
    rewind_reader *r = ctx;
    r->rewinds++;
    if (r->refuse)
        return ib_err_set(err, IB_E_SOURCE_READ, "test source: rewind refused");
    r->p.pos = 0;
    return 0;
}

static int put_rewindable(ib_storage *s, const char *path, rewind_reader *r, ib_err *err)
{
    ib_reader rd = {.ctx = r, .read = rewind_read, .rewind = rewind_start};
    return s->drv->put(s, path, r->p.len, &rd, err);
}

static void test_datanode_death_restarts_a_long_body(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    notices nt;
    listen_notices(s, &nt);
    ib_err err;
    /* Reset after 3 MB of a 5 MB body, far past what could be kept: the
     * source rewinds and both steps of CREATE start again. Smaller bodies
     * pass the armed fault by. */
    admin(f, "/admin/fault",
          "{\"kind\": \"reset\", \"after_bytes\": 3000000, \"min_length\": 4000000}", NULL);
    assert_int_equal(put_pattern(s, "/backup/small", 1000, 1000, &err), 0);
    rewind_reader r = {.p = {.len = 5000000}};
    if (put_rewindable(s, "/backup/long", &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.rewinds, 1);
    assert_pattern(s, "/backup/long", 5000000);
    assert_missing(s, "/backup/long" IB_STORAGE_TEMP_SUFFIX);
    assert_int_equal(stat_number(f, "faults", NULL), 0);
    assert_int_equal(stat_number(f, "ops", "nn0 CREATE"), 3);
    assert_int_equal(stat_number(f, "ops", "dn CREATE"), 3);
    if (!find_notice(&nt, "CREATE /backup/long" IB_STORAGE_TEMP_SUFFIX ": ", "datanode 127.0.0.1:",
                     "after ", "(attempt 1/6), restarting the upload at the namenode in ", NULL)) {
        dump_notices(&nt);
        fail_msg("no notice of the restart");
    }
    assert_false(nt.other_kind);

    /* The DataNode dies after the reset and comes back: refused attempts
     * are retried, the file completes (with a budget that outlasts it). */
    ib_webhdfs_tuning tune;
    ib_webhdfs_get_tuning(s, &tune);
    tune.max_attempts = 30;
    tune.backoff_base_ms = 100;
    tune.backoff_cap_ms = 200;
    ib_webhdfs_set_tuning(s, &tune);
    nt.n = 0;
    admin(f, "/admin/fault", "{\"kind\": \"reset\", \"after_bytes\": 2000000, \"down_s\": 0.3}",
          NULL);
    r = (rewind_reader){.p = {.len = 2500000, .max_piece = 100000}};
    if (put_rewindable(s, "/backup/long", &r, &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, "/backup/long", 2500000);
    assert_true(r.rewinds >= 1);
    if (!find_notice(&nt, "connection refused by datanode 127.0.0.1:", NULL)) {
        dump_notices(&nt);
        fail_msg("no notice of the refused datanode");
    }

    /* A source whose rewind fails: its error, the old file kept. */
    admin(f, "/admin/fault", "{\"kind\": \"reset\", \"after_bytes\": 1500000}", NULL);
    r = (rewind_reader){.p = {.len = 2000000}, .refuse = true};
    assert_int_equal(put_rewindable(s, "/backup/long", &r, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_READ);
    assert_non_null(strstr(err.msg, "rewind refused"));
    assert_pattern(s, "/backup/long", 2500000);
    assert_missing(s, "/backup/long" IB_STORAGE_TEMP_SUFFIX);
    s->notice = NULL;
    pthread_mutex_destroy(&nt.lock);
}

static void test_retries_are_told(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    notices nt;
    listen_notices(s, &nt);
    ib_err err;
    char nn0[64], nn1[64];
    snprintf(nn0, sizeof nn0, "127.0.0.1:%d", f->nn[0]);
    snprintf(nn1, sizeof nn1, "127.0.0.1:%d", f->nn[1]);
    admin(f, "/admin/fault", "{\"kind\": \"status\", \"code\": 503, \"count\": 2}", NULL);
    assert_int_equal(s->drv->mkdirs(s, "/backup/n", &err), 0);
    const char *line = find_notice(&nt, "MKDIRS /backup/n: http 503 from ", nn0,
                                   "(attempt 1/6), retrying in ", " s", NULL);
    if (!line || !find_notice(&nt, "(attempt 2/6), retrying in ", NULL) || nt.n != 2) {
        dump_notices(&nt);
        fail_msg("expected two notices of the 503 answers");
    }
    assert_null(strchr(line, '\n'));

    /* The active NameNode turns standby: a failover at once, told. */
    nt.n = 0;
    admin(f, "/admin/state", "{\"active\": 1}", NULL);
    ib_storage_info info;
    assert_int_equal(s->drv->stat(s, "/backup/n", &info, &err), 0);
    char want[128];
    snprintf(want, sizeof want, "failing over to namenode %s", nn1);
    if (!find_notice(&nt, "GETFILESTATUS /backup/n: StandbyException (http 403) from ", nn0,
                     "(attempt 1/6), ", want, NULL)) {
        dump_notices(&nt);
        fail_msg("no failover notice");
    }
    assert_int_equal(nt.n, 1);

    /* A NameNode that refuses connections. */
    nt.n = 0;
    admin(f, "/admin/state", "{\"active\": 0}", NULL);
    fixture g = *f;
    g.nn[1] = g.nn[0];
    g.nn[0] = 1; /* nothing listens on port 1 */
    ib_storage *down = open_as(&g, "hdfs", 0);
    listen_notices(down, &nt);
    assert_int_equal(down->drv->mkdirs(down, "/backup/m", &err), 0);
    if (!find_notice(&nt,
                     "MKDIRS /backup/m: connection refused by 127.0.0.1:1 (attempt 1/6), "
                     "failing over to namenode ",
                     NULL)) {
        dump_notices(&nt);
        fail_msg("no notice of the refused connection");
    }
    ib_storage_free(down);
    s->notice = NULL;
    pthread_mutex_destroy(&nt.lock);
}

/* A NameNode that accepts the request and then says nothing for longer
 * than the stall timeout: the request is given up and the other NameNode
 * asked, told as a failover. */
static void test_stall_timeout_fails_over(void **state)
{
    fixture *f = *state;
    ib_storage *s = open_as(f, "hdfs", 0);
    ib_webhdfs_tuning tune;
    ib_webhdfs_get_tuning(s, &tune);
    tune.stall_timeout_s = 1;
    ib_webhdfs_set_tuning(s, &tune);
    notices nt;
    listen_notices(s, &nt);
    char nn0[64], want[128];
    snprintf(nn0, sizeof nn0, "127.0.0.1:%d", f->nn[0]);
    snprintf(want, sizeof want, "failing over to namenode 127.0.0.1:%d", f->nn[1]);
    admin(f, "/admin/state", "{\"active\": 1}", NULL);
    admin(f, "/admin/fault", "{\"kind\": \"slow\", \"node\": \"nn0\", \"delay\": 5}", NULL);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ib_storage_info info;
    ib_err err;
    if (s->drv->stat(s, "/backup", &info, &err) != 0)
        fail_msg("stat: %s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(info.exists && info.is_dir);
    assert_int_equal(ib_webhdfs_active_namenode(s), 1);
    if (!find_notice(&nt, "GETFILESTATUS /backup: timed out talking to ", nn0, "(attempt 1/6), ",
                     want, NULL)) {
        dump_notices(&nt);
        fail_msg("no failover notice of the stalled namenode");
    }
    assert_true(secs < 4.5); /* not the slow answer's 5 s */
    s->notice = NULL;
    pthread_mutex_destroy(&nt.lock);
    ib_storage_free(s);
}

static void test_retry_budget_from_the_target(void **state)
{
    fixture *f = *state;
    ib_target t = target_for(f, "hdfs");
    t.retry_attempts = 2;
    t.retry_max_wait_s = 1;
    t.stall_timeout_s = 7;
    ib_storage *s = NULL;
    ib_err err;
    assert_int_equal(ib_storage_open(&t, 0, &s, &err), 0);
    ib_webhdfs_tuning tune;
    ib_webhdfs_get_tuning(s, &tune);
    assert_int_equal(tune.max_attempts, 2);
    assert_int_equal(tune.stall_timeout_s, 7);
    assert_int_equal(tune.backoff_cap_ms, 1000);
    assert_true(tune.backoff_base_ms <= 1000);
    notices nt;
    listen_notices(s, &nt);
    /* Three 503s outlast two attempts: one wait, then the error. */
    admin(f, "/admin/fault", "{\"kind\": \"status\", \"code\": 503, \"count\": 3}", NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(s->drv->mkdirs(s, "/backup/b", &err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_non_null(strstr(err.msg, "http 503"));
    assert_int_equal(nt.n, 1);
    assert_non_null(find_notice(&nt, "(attempt 1/2), retrying in ", NULL));
    double took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(took < 1.5);
    ib_storage_free(s);
    pthread_mutex_destroy(&nt.lock);

    /* Unset keys keep the defaults. */
    t.retry_attempts = 0;
    t.retry_max_wait_s = 0;
    t.stall_timeout_s = 0;
    assert_int_equal(ib_storage_open(&t, 0, &s, &err), 0);
    ib_webhdfs_get_tuning(s, &tune);
    assert_int_equal(tune.max_attempts, 10);
    assert_int_equal(tune.stall_timeout_s, 60);
    assert_int_equal(tune.backoff_cap_ms, 15000);
    assert_int_equal(tune.backoff_base_ms, 500);
    ib_storage_free(s);
}

static void test_snapshots(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    assert_int_equal(s->drv->mkdirs(s, "/backup/t", &err), 0);
    assert_int_equal(put_pattern(s, "/backup/t/keep", 5000, 5000, &err), 0);
    assert_int_equal(put_pattern(s, "/backup/t/gone", 700, 700, &err), 0);

    /* A non-superuser cannot allow snapshots: the hint names the command. */
    ib_storage *bob = open_as(f, "bob", 0);
    assert_int_equal(bob->drv->snapshot_prepare(bob, "/backup/t", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_SNAPSHOT);
    assert_non_null(strstr(err.msg, "hdfs dfsadmin -allowSnapshot /backup/t"));
    assert_int_equal(s->drv->snapshot_create(s, "/backup/t", "s0", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_SNAPSHOT);
    assert_non_null(strstr(err.msg, "-allowSnapshot"));

    assert_int_equal(s->drv->snapshot_prepare(s, "/backup/t", &err), 0);
    /* Once allowed by an admin, a non-superuser's prepare passes. */
    assert_int_equal(bob->drv->snapshot_prepare(bob, "/backup/t", &err), 0);
    ib_storage_free(bob);

    assert_int_equal(s->drv->snapshot_create(s, "/backup/t", "s1", &err), 0);
    assert_int_equal(s->drv->snapshot_create(s, "/backup/t", "s1", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_SNAPSHOT);
    assert_int_equal(s->drv->remove(s, "/backup/t/gone", false, &err), 0);
    assert_int_equal(put_pattern(s, "/backup/t/keep", 10, 10, &err), 0);
    assert_int_equal(s->drv->snapshot_create(s, "/backup/t", "s2", &err), 0);
    assert_pattern(s, "/backup/t/.snapshot/s1/gone", 700);
    assert_pattern(s, "/backup/t/.snapshot/s1/keep", 5000);
    assert_pattern(s, "/backup/t/.snapshot/s2/keep", 10);
    assert_missing(s, "/backup/t/.snapshot/s2/gone");

    char **names;
    size_t n;
    assert_int_equal(s->drv->snapshot_list(s, "/backup/t", &names, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "s1");
    assert_string_equal(names[1], "s2");
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    assert_int_equal(s->drv->snapshot_delete(s, "/backup/t", "s1", &err), 0);
    assert_int_equal(s->drv->snapshot_delete(s, "/backup/t", "s1", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_SNAPSHOT);
    assert_int_equal(s->drv->snapshot_list(s, "/backup/t", &names, &n, &err), 0);
    assert_int_equal(n, 1);
    free(names[0]);
    free(names);
}

typedef struct swap_job {
    fixture *f;
    int64_t sums_before; /* nn0 GETFILECHECKSUM requests before the upload */
    int rc;
} swap_job;

/* Once the uploader's GETFILECHECKSUM is held at the NameNode (a slow
 * fault), after its length check, put other bytes in its temporary file. */
static void *swap_temporary(void *arg)
{
    swap_job *j = arg;
    for (int i = 0; i < 1000; i++) {
        if (stat_number(j->f, "ops", "nn0 GETFILECHECKSUM") > j->sums_before)
            break;
        usleep(10000);
    }
    ib_storage *s = open_as(j->f, "hdfs", 0);
    ib_err err;
    j->rc = put_pattern(s, "/backup/v._COPYING_", 20000, 20000, &err);
    ib_storage_free(s);
    return NULL;
}

/* The first uploads of a handle assume 128 MiB blocks; a file within one
 * block of either size has the same checksum whatever the block size, so
 * it is compared before the cluster's block size is known. */
static void checksum_of_first_small_upload(fixture *f)
{
    ib_err err;
    ib_storage *fresh = open_as(f, "hdfs", 0);
    assert_int_equal(put_pattern(fresh, "/backup/s", 65536, 65536, &err), 0);
    ib_storage_free(fresh);

    fresh = open_as(f, "hdfs", 0);
    swap_job j = {.f = f, .sums_before = stat_number(f, "ops", "nn0 GETFILECHECKSUM")};
    admin(f, "/admin/fault",
          "{\"kind\": \"slow\", \"node\": \"nn0\", \"op\": \"GETFILECHECKSUM\", \"delay\": 3}",
          NULL);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, swap_temporary, &j), 0);
    int rc = put_pattern(fresh, "/backup/v", 30000, 30000, &err);
    pthread_join(th, NULL);
    ib_storage_free(fresh);
    assert_int_equal(j.rc, 0);
    if (rc == 0)
        fail_msg("a changed file of one block passed the checksum check");
    assert_int_equal(err.code, IB_E_CHECKSUM);
    assert_non_null(strstr(err.msg, "differs from the sent data's"));
    admin(f, "/admin/clear", "{}", NULL);
}

static void test_checksum(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    assert_int_equal(put_pattern(s, "/backup/c", 200000, 200000, &err), 0);
    char remote[160], local[160];
    assert_int_equal(s->drv->checksum(s, "/backup/c", remote, sizeof remote, &err), 0);
    ib_hdfs_checksum *c = ib_hdfs_checksum_new((int64_t)128 << 20);
    uint8_t buf[4096];
    for (int64_t off = 0; off < 200000; off += (int64_t)sizeof buf) {
        size_t len = 200000 - off < (int64_t)sizeof buf ? (size_t)(200000 - off) : sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = pattern_byte(off + (int64_t)i);
        ib_hdfs_checksum_update(c, buf, len);
    }
    assert_int_equal(ib_hdfs_checksum_final(c, local, sizeof local), 0);
    ib_hdfs_checksum_free(c);
    assert_string_equal(remote, local);
    assert_non_null(strstr(remote, "MD5-of-0MD5-of-512CRC32C:"));

    /* A cluster with 64 KiB blocks: learnt from the first upload, then
     * several-block files are compared too. */
    admin(f, "/admin/config", "{\"default_blocksize\": 65536}", NULL);
    checksum_of_first_small_upload(f);
    assert_int_equal(put_pattern(s, "/backup/m1", 200000, 200000, &err), 0);
    int64_t sums = stat_number(f, "ops", "dn GETFILECHECKSUM");
    assert_int_equal(put_pattern(s, "/backup/m2", 200000, 200000, &err), 0);
    assert_int_equal(stat_number(f, "ops", "dn GETFILECHECKSUM"), sums + 1);
    assert_int_equal(s->drv->checksum(s, "/backup/m2", remote, sizeof remote, &err), 0);
    assert_non_null(strstr(remote, "MD5-of-128MD5-of-512CRC32C:"));
    assert_int_equal(s->drv->checksum(s, "/backup/none", remote, sizeof remote, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_NOT_FOUND);
}

static void test_no_body_to_namenode_and_connection_reuse(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    char path[64];
    for (int i = 0; i < 8; i++) {
        snprintf(path, sizeof path, "/backup/k/f%d", i);
        assert_int_equal(put_pattern(s, path, 2 << 20, 2 << 20, &err), 0);
    }
    assert_int_equal(stat_number(f, "nn_body_bytes", NULL), 0);
    assert_int_equal(stat_number(f, "dn_put_bytes", NULL), 8 * (2 << 20));
    assert_true(stat_number(f, "connections", "nn0") <= 2);
    assert_true(stat_number(f, "connections", "dn") <= 2);
}

typedef struct upload_job {
    ib_storage *s;
    int id;
    int failures;
} upload_job;

static void *upload_files(void *arg)
{
    upload_job *j = arg;
    char path[64];
    ib_err err;
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/backup/par/t%d-f%d", j->id, i);
        if (put_pattern(j->s, path, 150000 + j->id * 1000 + i, 150000 + j->id * 1000 + i, &err) !=
            0)
            j->failures++;
    }
    return NULL;
}

static void test_bandwidth_cap(void **state)
{
    fixture *f = *state;
    ib_storage *s = open_as(f, "hdfs", 2.0); /* 250 kB/s */
    ib_err err;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(put_pattern(s, "/backup/bw", 500000, 500000, &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(secs >= 1.5);

    /* Parallel streams share the cap: 4 x 3 x ~150 kB at 1 MB/s. */
    ib_storage_free(s);
    s = open_as(f, "hdfs", 8.0);
    pthread_t th[4];
    upload_job jobs[4];
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (upload_job){.s = s, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, upload_files, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    secs = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(secs >= 1.6);
    ib_storage_free(s);
}

/* A server of its own for tests that need special options. */
static fixture *own_server(const char *const *extra)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_int_equal(start_server(f, extra), 0);
    return f;
}

static void own_server_stop(fixture *f)
{
    stop_server(f);
    free(f);
}

static void test_tls_verifies_certificates(void **state)
{
    (void)state;
    char dir[] = "/tmp/webhdfs-tls-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[1024], cert[256], key[256];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost "
             "-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout %s -out %s "
             ">/dev/null 2>&1",
             key, cert);
    if (system(cmd) != 0) {
        rmdir(dir);
        skip(); /* no openssl command */
    }
    const char *extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    fixture *f = own_server(extra);
    ib_target t = target_for(f, "hdfs");
    t.tls = true;
    t.ca_file = cert;
    ib_storage *s = open_target(&t, 0);
    ib_err err;
    if (put_pattern(s, "/tls/f", 100000, 100000, &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, "/tls/f", 100000);
    ib_storage_free(s);

    t.ca_file = NULL; /* the system's CAs do not know this one */
    s = open_target(&t, 0);
    assert_int_equal(s->drv->mkdirs(s, "/tls/x", &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_UNREACHABLE);
    assert_non_null(strstr(err.msg, "ca_file"));
    ib_storage_free(s);
    own_server_stop(f);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}

static void test_ipv6(void **state)
{
    (void)state;
    const char *extra[] = {"--host", "::1", NULL};
    fixture *f = own_server(extra);
    f->admin_host = "[::1]";
    char active[64], standby[64];
    snprintf(active, sizeof active, "[::1]:%d", f->nn[0]);
    snprintf(standby, sizeof standby, "http://[::1]:%d", f->nn[1]);
    ib_target t = target_for(f, "hdfs");
    t.active_namenode = active;
    t.standby_namenode = standby;
    t.ipv6 = true;
    ib_storage *s = open_target(&t, 0);
    ib_err err;
    if (put_pattern(s, "/v6/f", 5000, 5000, &err) != 0)
        fail_msg("%s", err.msg);
    assert_pattern(s, "/v6/f", 5000);
    admin(f, "/admin/state", "{\"active\": 1}", NULL);
    assert_int_equal(s->drv->mkdirs(s, "/v6/d", &err), 0);
    assert_int_equal(ib_webhdfs_active_namenode(s), 1);
    ib_storage_free(s);

    /* A bare IPv6 literal with the port from namenode_http_port. */
    t.active_namenode = "::1";
    t.standby_namenode = NULL;
    t.namenode_http_port = f->nn[1];
    s = open_target(&t, 0);
    assert_int_equal(s->drv->mkdirs(s, "/v6/e", &err), 0);
    ib_storage_free(s);
    own_server_stop(f);
}

static void test_unresolvable_datanode_is_named(void **state)
{
    (void)state;
    const char *extra[] = {"--datanode-host", "dn1.invalid", NULL};
    fixture *f = own_server(extra);
    ib_storage *s = open_as(f, "hdfs", 0);
    ib_err err;
    assert_int_equal(put_pattern(s, "/x/f", 10, 10, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_UNREACHABLE);
    assert_non_null(strstr(err.msg, "\"dn1.invalid\""));
    assert_non_null(strstr(err.msg, "HINT"));
    ib_storage_free(s);
    own_server_stop(f);
}

static void test_parallel_uploads_share_a_handle(void **state)
{
    fixture *f = *state;
    pthread_t th[4];
    upload_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (upload_job){.s = f->st, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, upload_files, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    char path[64];
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "/backup/par/t%d-f%d", t, i);
            assert_pattern(f->st, path, 150000 + t * 1000 + i);
        }
}

/* Threads uploading through one handle while requests fail, DataNode
 * bodies reset and the active NameNode changes: every file completes and
 * the notices (from several threads at once) are all whole lines. */
static void test_parallel_uploads_through_faults(void **state)
{
    fixture *f = *state;
    notices nt;
    listen_notices(f->st, &nt);
    ib_webhdfs_tuning tune;
    ib_webhdfs_get_tuning(f->st, &tune);
    tune.max_attempts = 12;
    ib_webhdfs_set_tuning(f->st, &tune);
    admin(f, "/admin/fault", "{\"kind\": \"status\", \"code\": 503, \"count\": 6}", NULL);
    admin(f, "/admin/fault", "{\"kind\": \"reset\", \"after_bytes\": 50000, \"count\": 3}", NULL);
    pthread_t th[4];
    upload_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (upload_job){.s = f->st, .id = i};
        assert_int_equal(pthread_create(&th[i], NULL, upload_files, &jobs[i]), 0);
    }
    admin(f, "/admin/state", "{\"active\": 1}", NULL);
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    char path[64];
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "/backup/par/t%d-f%d", t, i);
            assert_pattern(f->st, path, 150000 + t * 1000 + i);
        }
    assert_int_equal(stat_number(f, "faults", NULL), 0);
    assert_true(nt.n >= 9); /* 6 answers of 503 and 3 resets at least */
    for (int i = 0; i < nt.n && i < 32; i++) {
        assert_non_null(strstr(nt.lines[i], "(attempt "));
        assert_null(strchr(nt.lines[i], '\n'));
    }
    f->st->notice = NULL;
    pthread_mutex_destroy(&nt.lock);
}

static void test_probe_and_space(void **state)
{
    fixture *f = *state;
    ib_storage *s = f->st;
    ib_err err;
    ib_webhdfs_namenode nn[2];
    assert_int_equal(ib_webhdfs_probe(s, nn, &err), 2);
    assert_true(nn[0].reachable && nn[0].active && nn[0].has_clock);
    assert_string_equal(nn[0].error, "");
    assert_true(nn[1].reachable && !nn[1].active);
    assert_true(nn[0].clock_skew_ms > -2000 && nn[0].clock_skew_ms < 2000);
    admin(f, "/admin/state", "{\"active\": 1}", NULL);
    assert_int_equal(ib_webhdfs_probe(s, nn, &err), 2);
    assert_true(!nn[0].active && nn[1].active);
    assert_int_equal(ib_webhdfs_active_namenode(s), 1);

    assert_int_equal(put_pattern(s, "/backup/sp/f", 1000, 1000, &err), 0);
    admin(f, "/admin/quota", "{\"path\": \"/backup/sp\", \"ds_quota\": 999999999}", NULL);
    ib_webhdfs_space sp;
    assert_int_equal(ib_webhdfs_content_summary(s, "/backup/sp", &sp, &err), 0);
    assert_int_equal(sp.length, 1000);
    assert_int_equal(sp.space_consumed, 3000);
    assert_int_equal(sp.space_quota, 999999999);
    assert_int_equal(sp.ns_quota, -1);
    assert_int_equal(sp.ns_count, 2);
}

static void test_parsers(void **state)
{
    (void)state;
    char ex[64], msg[128];
    const char *re = "{\"RemoteException\":{\"exception\":\"SnapshotException\","
                     "\"javaClassName\":\"org.apache.hadoop.hdfs.protocol.SnapshotException\","
                     "\"message\":\"Directory is not a snapshottable directory: /x\"}}";
    assert_int_equal(
        ib_webhdfs_parse_remote_exception(re, strlen(re), ex, sizeof ex, msg, sizeof msg), 0);
    assert_string_equal(ex, "SnapshotException");
    assert_string_equal(msg, "Directory is not a snapshottable directory: /x");
    const char *html = "<html><title>502</title></html>";
    assert_int_equal(
        ib_webhdfs_parse_remote_exception(html, strlen(html), ex, sizeof ex, msg, sizeof msg), -1);

    const char *page =
        "{\"DirectoryListing\":{\"partialListing\":{\"FileStatuses\":{\"FileStatus\":["
        "{\"pathSuffix\":\"b\",\"type\":\"FILE\",\"length\":5,\"modificationTime\":7},"
        "{\"pathSuffix\":\".Trash\",\"type\":\"DIRECTORY\",\"length\":0},"
        "{\"pathSuffix\":\"a\",\"type\":\"DIRECTORY\",\"length\":0}]}},\"remainingEntries\":4}}";
    ib_storage_entry *e = NULL;
    size_t n = 0, cap = 0;
    int64_t remaining;
    bool is_file;
    ib_err err;
    assert_int_equal(ib_webhdfs_parse_listing(page, strlen(page), "/d", &e, &n, &cap, &remaining,
                                              &is_file, &err),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(remaining, 4);
    assert_false(is_file);
    assert_string_equal(e[0].name, "b");
    assert_int_equal(e[0].size, 5);
    assert_int_equal(e[0].mtime_ms, 7);
    assert_true(e[1].is_dir);
    ib_storage_entries_free(e, n);
    e = NULL, n = 0, cap = 0;
    assert_int_equal(
        ib_webhdfs_parse_listing("{\"x\":1}", 7, "/d", &e, &n, &cap, &remaining, &is_file, &err),
        -1);
    free(e);
    /* Names that would escape the listed directory are refused. */
    const char *bad_names[] = {"..", ".", "../../x", "a/b"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        char bad[256];
        snprintf(bad, sizeof bad,
                 "{\"FileStatuses\":{\"FileStatus\":[{\"pathSuffix\":\"%s\",\"type\":\"FILE\"}]}}",
                 bad_names[i]);
        e = NULL, n = 0, cap = 0;
        assert_int_equal(ib_webhdfs_parse_listing(bad, strlen(bad), "/d", &e, &n, &cap, &remaining,
                                                  &is_file, &err),
                         -1);
        assert_non_null(strstr(err.msg, "unsafe entry name"));
        ib_storage_entries_free(e, n);
    }
    /* Lengths beyond int64_t are treated as absent, not cast (undefined). */
    const char *huge = "{\"FileStatus\":{\"type\":\"FILE\",\"length\":1e400,"
                       "\"modificationTime\":1e19}}";
    ib_storage_info big;
    assert_int_equal(ib_webhdfs_parse_file_status(huge, strlen(huge), &big, &err), 0);
    assert_int_equal(big.size, 0);
    assert_int_equal(big.mtime_ms, 0);

    const char *ck = "{\"FileChecksum\":{\"algorithm\":\"MD5-of-0MD5-of-512CRC32C\","
                     "\"bytes\":\"0000020000000000000000001122334455667788990011223344556600000000"
                     "\",\"length\":28}}";
    char out[160];
    assert_int_equal(ib_webhdfs_parse_checksum(ck, strlen(ck), out, sizeof out, &err), 0);
    assert_string_equal(out, "MD5-of-0MD5-of-512CRC32C:"
                             "00000200000000000000000011223344556677889900112233445566");
    ib_storage_info info;
    const char *st = "{\"FileStatus\":{\"type\":\"DIRECTORY\",\"length\":0,"
                     "\"modificationTime\":123}}";
    assert_int_equal(ib_webhdfs_parse_file_status(st, strlen(st), &info, &err), 0);
    assert_true(info.exists && info.is_dir);
    assert_int_equal(info.mtime_ms, 123);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_get_stat_list_remove),
        T(test_size_mismatch_leaves_nothing),
        T(test_put_on_a_server_without_rename_options),
        T(test_special_characters),
        T(test_rename),
        T(test_list_paging_and_fallback),
        T(test_errors_are_mapped),
        T(test_failover_to_the_other_namenode),
        T(test_redirect_is_no_proof_of_active),
        T(test_stall_timeout_fails_over),
        T(test_failover_when_namenode_is_down),
        T(test_transient_failures_are_retried),
        T(test_ambiguous_failures_resolved_by_state),
        T(test_datanode_failures),
        T(test_datanode_death_restarts_a_long_body),
        T(test_retries_are_told),
        T(test_retry_budget_from_the_target),
        T(test_snapshots),
        T(test_checksum),
        T(test_no_body_to_namenode_and_connection_reuse),
        T(test_bandwidth_cap),
        T(test_parallel_uploads_share_a_handle),
        T(test_parallel_uploads_through_faults),
        T(test_probe_and_space),
        cmocka_unit_test(test_tls_verifies_certificates),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_unresolvable_datanode_is_named),
        cmocka_unit_test(test_parsers),
    };
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
