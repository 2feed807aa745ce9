/* MANIFEST.json: round trip, lookup, and every rejection of a bad manifest. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "ib_manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HEADER                                                                                     \
    "\"task\":\"nightly\",\"backup_type\":\"full\",\"start\":1700000000,\"end\":1700000060,"       \
    "\"databases\":[\"root.a\"]"
#define GOOD_FILE                                                                                  \
    "{\"path\":\"sequence/root.a/1/0/"                                                             \
    "x.tsfile\",\"size\":5,\"mtime_ms\":1,\"crc32c\":\"0000abcd\"}"

/* A manifest text: {"format":1, <header>, "files":[<files>]}. */
static char *doc(const char *header, const char *files)
{
    size_t n = strlen(header) + strlen(files) + 64;
    char *text = malloc(n);
    assert_non_null(text);
    snprintf(text, n, "{\"format\":1,%s,\"files\":[%s]}", header, files);
    return text;
}

static void expect_reject_text(const char *text, size_t len, const char *needle)
{
    ib_manifest m;
    ib_err err;
    ib_err_clear(&err);
    int rc = ib_manifest_parse(text, len, &m, &err);
    if (rc == 0 || err.code != IB_E_MANIFEST || !strstr(err.msg, needle))
        fail_msg("text %.*s\n rc=%d code=%d msg=\"%s\", expected \"%s\"", (int)len, text, rc,
                 err.code, err.msg, needle);
    /* A failed parse leaves an empty manifest that is safe to free. */
    assert_int_equal(m.n_files, 0);
    assert_null(m.task);
    ib_manifest_free(&m);
}

static void expect_reject(const char *header, const char *files, const char *needle)
{
    char *text = doc(header, files);
    expect_reject_text(text, strlen(text), needle);
    free(text);
}

static void fill_sample(ib_manifest *m)
{
    ib_err err;
    ib_manifest_init(m);
    m->task = strdup("nightly");
    m->backup_type = strdup("incremental");
    m->start = 1767225600; /* 2026-01-01T00:00:00Z */
    m->end = 1767225661;
    m->databases = calloc(2, sizeof *m->databases);
    m->databases[0] = strdup("root.sg1");
    m->databases[1] = strdup("root.sg2");
    m->n_databases = 2;
    m->source_host = strdup("iotdb-1");
    m->layout_version = 3;
    m->program_version = strdup("0.1.0");
    m->run_id = 42;
    assert_int_equal(ib_manifest_add(m, "sequence/root.sg2/1/2/b.tsfile", 5000000000000LL,
                                     1767225600123LL, 0x0000abcdu, &err),
                     0);
    assert_int_equal(
        ib_manifest_add(m, "sequence/root.sg1/1/2/a.tsfile.resource", 0, -5, 0xffffffffu, &err), 0);
    assert_int_equal(ib_manifest_add(m, "unsequence/root.sg1/1/2/a b\\c.mods", 17, 0, 1, &err), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    ib_manifest m, back;
    ib_err err;
    fill_sample(&m);
    assert_int_equal(ib_manifest_sort(&m, &err), 0);
    char *text = ib_manifest_to_json(&m, &err);
    assert_non_null(text);
    assert_non_null(strstr(text, "\"start_time\":\t\"2026-01-01T00:00:00Z\""));
    assert_non_null(strstr(text, "\"end_time\":\t\"2026-01-01T00:01:01Z\""));
    assert_non_null(strstr(text, "\"crc32c\":\t\"0000abcd\""));
    assert_int_equal(ib_manifest_parse(text, strlen(text), &back, &err), 0);
    assert_int_equal(back.format, IB_MANIFEST_FORMAT);
    assert_string_equal(back.task, "nightly");
    assert_string_equal(back.backup_type, "incremental");
    assert_int_equal(back.start, 1767225600);
    assert_int_equal(back.end, 1767225661);
    assert_int_equal(back.n_databases, 2);
    assert_string_equal(back.databases[0], "root.sg1");
    assert_string_equal(back.databases[1], "root.sg2");
    assert_string_equal(back.source_host, "iotdb-1");
    assert_int_equal(back.layout_version, 3);
    assert_string_equal(back.program_version, "0.1.0");
    assert_int_equal(back.run_id, 42);
    assert_int_equal(back.n_files, m.n_files);
    for (size_t i = 0; i < m.n_files; i++) {
        assert_string_equal(back.files[i].path, m.files[i].path);
        assert_int_equal(back.files[i].size, m.files[i].size);
        assert_int_equal(back.files[i].mtime_ms, m.files[i].mtime_ms);
        assert_int_equal(back.files[i].crc32c, m.files[i].crc32c);
    }
    free(text);
    ib_manifest_free(&m);
    ib_manifest_free(&back);
}

static void test_sort_and_find(void **state)
{
    (void)state;
    ib_manifest m;
    ib_err err;
    fill_sample(&m);
    assert_int_equal(ib_manifest_sort(&m, &err), 0);
    assert_string_equal(m.files[0].path, "sequence/root.sg1/1/2/a.tsfile.resource");
    assert_string_equal(m.files[2].path, "unsequence/root.sg1/1/2/a b\\c.mods");
    const ib_manifest_file *f = ib_manifest_find(&m, "sequence/root.sg2/1/2/b.tsfile");
    assert_non_null(f);
    assert_int_equal(f->size, 5000000000000LL);
    assert_null(ib_manifest_find(&m, "sequence/root.sg2/1/2/c.tsfile"));
    assert_null(ib_manifest_find(&m, ""));
    /* A duplicate path makes sort fail. */
    assert_int_equal(ib_manifest_add(&m, "sequence/root.sg2/1/2/b.tsfile", 1, 1, 1, &err), 0);
    assert_int_equal(ib_manifest_sort(&m, &err), -1);
    assert_int_equal(err.code, IB_E_MANIFEST);
    assert_non_null(strstr(err.msg, "duplicate"));
    ib_manifest_free(&m);
    ib_manifest_init(&m);
    assert_null(ib_manifest_find(&m, "x"));
}

static void test_add_rejects_unsafe(void **state)
{
    (void)state;
    ib_manifest m;
    ib_err err;
    ib_manifest_init(&m);
    assert_int_equal(ib_manifest_add(&m, "../x", 1, 1, 1, &err), -1);
    assert_int_equal(err.code, IB_E_MANIFEST);
    assert_int_equal(ib_manifest_add(&m, "a", -1, 1, 1, &err), -1);
    assert_int_equal(m.n_files, 0);
    ib_manifest_free(&m);
}

static void test_path_safety(void **state)
{
    (void)state;
    const char *good[] = {"a",           "a/b",       "sequence/root.sg/1/2/x.tsfile",
                          "a..b",        ".hidden/x", "a/...",
                          "back\\slash", "x/..y"};
    const char *bad[] = {"",     "/abs", "a//b",   "a/", "./a", "a/./b", "..",
                         "../x", "a/..", "a/../b", ".",  "/",   "a/b/"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        if (!ib_path_is_safe_relative(good[i]))
            fail_msg("\"%s\" should be safe", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (ib_path_is_safe_relative(bad[i]))
            fail_msg("\"%s\" should be unsafe", bad[i]);
    assert_false(ib_path_is_safe_relative(NULL));
}

static void test_unknown_keys_ignored(void **state)
{
    (void)state;
    const char *text = "{\"format\":1,\"future\":{\"x\":[1,2]}," HEADER ",\"files\":["
                       "{\"path\":\"a\",\"size\":1,\"mtime_ms\":2,\"crc32c\":\"ABCDEF01\","
                       "\"sha256\":\"zz\"}]}";
    ib_manifest m;
    ib_err err;
    assert_int_equal(ib_manifest_parse(text, strlen(text), &m, &err), 0);
    assert_int_equal(m.n_files, 1);
    assert_int_equal(m.files[0].crc32c, 0xabcdef01u);
    /* Optional header fields absent: defaults. */
    assert_null(m.source_host);
    assert_int_equal(m.run_id, 0);
    ib_manifest_free(&m);
}

static void test_reject_paths(void **state)
{
    (void)state;
    const char *paths[] = {"../x", "/abs", "a//b", "a/./b", "", "a/..", "a/"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char file[256];
        snprintf(file, sizeof file,
                 "{\"path\":\"%s\",\"size\":1,\"mtime_ms\":1,\"crc32c\":\"00000000\"}", paths[i]);
        expect_reject(HEADER, file, "not a safe relative path");
    }
    /* An escaped NUL would truncate "a\u0000/../../x" to "a" inside cJSON. */
    expect_reject(HEADER,
                  "{\"path\":\"a\\u0000/../x\",\"size\":1,\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "NUL");
    const char raw[] = "{\"format\":1}\0";
    expect_reject_text(raw, sizeof raw - 1, "NUL byte");
}

static void test_reject_duplicate(void **state)
{
    (void)state;
    expect_reject(HEADER, GOOD_FILE "," GOOD_FILE, "duplicate file path");
}

static void test_reject_bad_crc(void **state)
{
    (void)state;
    const char *crcs[] = {"\"1234567\"",  "\"123456789\"", "\"1234567g\"", "\"0x123456\"",
                          "\" 1234567\"", "\"\"",          "305419896",    "null"};
    for (size_t i = 0; i < sizeof crcs / sizeof *crcs; i++) {
        char file[256];
        snprintf(file, sizeof file, "{\"path\":\"a\",\"size\":1,\"mtime_ms\":1,\"crc32c\":%s}",
                 crcs[i]);
        expect_reject(HEADER, file, "8 hex digits");
    }
}

static void test_reject_file_fields(void **state)
{
    (void)state;
    expect_reject(HEADER, "{\"path\":\"a\",\"size\":-1,\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "\"files[0].size\" must be an integer");
    expect_reject(HEADER, "{\"path\":\"a\",\"size\":1.5,\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "\"files[0].size\" must be an integer");
    expect_reject(HEADER, "{\"path\":\"a\",\"size\":\"1\",\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "\"files[0].size\" must be an integer");
    expect_reject(HEADER, "{\"path\":\"a\",\"size\":1e400,\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "\"files[0].size\" must be an integer");
    expect_reject(HEADER, "{\"path\":\"a\",\"size\":1,\"mtime_ms\":true,\"crc32c\":\"00000000\"}",
                  "\"files[0].mtime_ms\" must be an integer");
    expect_reject(HEADER, "{\"path\":7,\"size\":1,\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "\"files[0].path\" must be a string");
    expect_reject(HEADER, "{\"size\":1,\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "\"files[0].path\" is missing");
    expect_reject(HEADER, "{\"path\":\"a\",\"mtime_ms\":1,\"crc32c\":\"00000000\"}",
                  "\"files[0].size\" is missing");
    expect_reject(HEADER, "{\"path\":\"a\",\"size\":1,\"mtime_ms\":1}",
                  "\"files[0].crc32c\" is missing");
    expect_reject(HEADER, GOOD_FILE ",[]", "files[1] must be an object");
}

static void test_reject_header_fields(void **state)
{
    (void)state;
    const char *dbs = "\"databases\":[]";
    expect_reject("\"task\":1,\"backup_type\":\"full\",\"start\":1,\"end\":2,\"databases\":[]", "",
                  "\"task\" must be a string");
    expect_reject("\"backup_type\":\"full\",\"start\":1,\"end\":2,\"databases\":[]", "",
                  "\"task\" is missing");
    expect_reject("\"task\":\"t\",\"backup_type\":\"diff\",\"start\":1,\"end\":2,\"databases\":[]",
                  "", "\"backup_type\" must be \"full\" or \"incremental\"");
    expect_reject(
        "\"task\":\"t\",\"backup_type\":\"full\",\"start\":\"1\",\"end\":2,\"databases\":[]", "",
        "\"start\" must be an integer");
    expect_reject("\"task\":\"t\",\"backup_type\":\"full\",\"start\":1,\"databases\":[]", "",
                  "\"end\" is missing");
    expect_reject("\"task\":\"t\",\"backup_type\":\"full\",\"start\":1,\"end\":2", "",
                  "\"databases\" is missing");
    expect_reject("\"task\":\"t\",\"backup_type\":\"full\",\"start\":1,\"end\":2,\"databases\":[1]",
                  "", "\"databases\" must be an array of strings");
    expect_reject("\"task\":\"t\",\"backup_type\":\"full\",\"start\":1,\"end\":2,\"databases\":{}",
                  "", "\"databases\" must be an array of strings");
    char header[512];
    snprintf(header, sizeof header,
             "\"task\":\"t\",\"backup_type\":\"full\",\"start\":1,\"end\":2,%s,%s", dbs,
             "\"source_host\":false");
    expect_reject(header, "", "\"source_host\" must be a string");
    snprintf(header, sizeof header,
             "\"task\":\"t\",\"backup_type\":\"full\",\"start\":1,\"end\":2,%s,%s", dbs,
             "\"run_id\":\"9\"");
    expect_reject(header, "", "\"run_id\" must be an integer");
    snprintf(header, sizeof header,
             "\"task\":\"t\",\"backup_type\":\"full\",\"start\":1,\"end\":2,%s,%s", dbs,
             "\"start_time\":17");
    expect_reject(header, "", "\"start_time\" must be a string");

    const char *bad_docs[][2] = {
        {"{\"format\":2," HEADER ",\"files\":[]}", "format 2 is newer"},
        {"{\"format\":\"1\"," HEADER ",\"files\":[]}", "\"format\" must be an integer"},
        {"{" HEADER ",\"files\":[]}", "\"format\" is missing"},
        {"{\"format\":1," HEADER "}", "\"files\" is missing"},
        {"{\"format\":1," HEADER ",\"files\":{}}", "\"files\" must be an array"},
        {"[]", "top level must be a JSON object"},
        {"{\"format\":1," HEADER ",\"files\":[]} x", "unexpected data after the JSON"},
        {"", "invalid JSON"},
    };
    for (size_t i = 0; i < sizeof bad_docs / sizeof *bad_docs; i++)
        expect_reject_text(bad_docs[i][0], strlen(bad_docs[i][0]), bad_docs[i][1]);
}

static void test_reject_every_truncation(void **state)
{
    (void)state;
    ib_manifest m;
    ib_err err;
    fill_sample(&m);
    char *text = ib_manifest_to_json(&m, &err);
    assert_non_null(text);
    size_t len = strlen(text);
    while (len && (text[len - 1] == '\n' || text[len - 1] == ' '))
        len--;
    /* Every proper prefix of the text is rejected, none crashes. */
    for (size_t cut = 0; cut < len; cut++) {
        ib_manifest back;
        ib_err_clear(&err);
        if (ib_manifest_parse(text, cut, &back, &err) == 0)
            fail_msg("prefix of %zu bytes accepted", cut);
        assert_int_equal(err.code, IB_E_MANIFEST);
        ib_manifest_free(&back);
    }
    /* Corrupt a key separator in the middle: no longer JSON. */
    char *sep = strstr(text + len / 2, "\":");
    assert_non_null(sep);
    sep[1] = ',';
    ib_manifest back;
    assert_int_equal(ib_manifest_parse(text, strlen(text), &back, &err), -1);
    assert_int_equal(err.code, IB_E_MANIFEST);
    free(text);
    ib_manifest_free(&m);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_hundred_thousand_files(void **state)
{
    (void)state;
    enum { N = 100000 };
    ib_manifest m, back;
    ib_err err;
    ib_manifest_init(&m);
    m.task = strdup("big");
    m.backup_type = strdup("full");
    double t0 = now_s();
    /* Added in reverse order so sort has work to do. */
    for (int i = N - 1; i >= 0; i--) {
        char path[96];
        snprintf(path, sizeof path, "sequence/root.db%d/%d/2832/%07d-1-0-0.tsfile", i % 7, i % 13,
                 i);
        assert_int_equal(
            ib_manifest_add(&m, path, i, 1700000000000LL + i, (uint32_t)i * 7919u, &err), 0);
    }
    assert_int_equal(ib_manifest_sort(&m, &err), 0);
    char *text = ib_manifest_to_json(&m, &err);
    assert_non_null(text);
    assert_int_equal(ib_manifest_parse(text, strlen(text), &back, &err), 0);
    double elapsed = now_s() - t0;
    assert_int_equal(back.n_files, N);
    char probe[96];
    snprintf(probe, sizeof probe, "sequence/root.db%d/%d/2832/%07d-1-0-0.tsfile", 12345 % 7,
             12345 % 13, 12345);
    const ib_manifest_file *f = ib_manifest_find(&back, probe);
    assert_non_null(f);
    assert_int_equal(f->size, 12345);
    assert_int_equal(f->crc32c, 12345u * 7919u);
    print_message("100000 files: add+sort+serialise+parse %.2f s, %zu bytes\n", elapsed,
                  strlen(text));
    assert_true(elapsed < 20.0); /* O(n^2) would take minutes */
    free(text);
    ib_manifest_free(&m);
    ib_manifest_free(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_sort_and_find),
        cmocka_unit_test(test_add_rejects_unsafe),
        cmocka_unit_test(test_path_safety),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_reject_paths),
        cmocka_unit_test(test_reject_duplicate),
        cmocka_unit_test(test_reject_bad_crc),
        cmocka_unit_test(test_reject_file_fields),
        cmocka_unit_test(test_reject_header_fields),
        cmocka_unit_test(test_reject_every_truncation),
        cmocka_unit_test(test_hundred_thousand_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
