/* The LocalDir storage driver end to end in a temporary directory, plus the
 * driver-neutral helpers of storage.c. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "ib_storage.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHILD_SKIP 77

typedef struct fixture {
    char dir[64];
    ib_storage *s;
} fixture;

/* ---- helpers ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ib-storage-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    ib_err err;
    assert_int_equal(ib_storage_local_new(f->dir, 0, &f->s, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ib_storage_free(f->s);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A path under the fixture directory (static buffers, rotating). */
static const char *at(const fixture *f, const char *rel)
{
    static char bufs[8][512];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", f->dir, rel);
    return b;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        buf = realloc(buf, len + n + 1);
        assert_non_null(buf);
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(fp);
    if (!buf)
        buf = calloc(1, 1);
    buf[len] = '\0';
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static ino_t inode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

static unsigned char pattern_byte(uint64_t i)
{
    return (unsigned char)((i * 131u + (i >> 13)) & 0xff);
}

/* A reader producing `produce` pattern bytes in pieces of at most `piece`,
 * failing with `fail_code` once `fail_after` bytes were given (if >= 0). */
typedef struct pattern_src {
    uint64_t produce;
    uint64_t pos;
    size_t piece;
    int64_t fail_after;
    ib_code fail_code;
} pattern_src;

static ssize_t pattern_read(void *ctx, void *buf, size_t cap, ib_err *err)
{
    pattern_src *p = ctx;
    if (p->fail_after >= 0 && p->pos >= (uint64_t)p->fail_after)
        return ib_err_set(err, p->fail_code, "read /src/file: Input/output error");
    size_t n = cap < p->piece ? cap : p->piece;
    if (n > p->produce - p->pos)
        n = (size_t)(p->produce - p->pos);
    unsigned char *out = buf;
    for (size_t i = 0; i < n; i++)
        out[i] = pattern_byte(p->pos + i);
    p->pos += n;
    return (ssize_t)n;
}

static int put_pattern(ib_storage *s, const char *path, int64_t size, uint64_t produce,
                       int64_t fail_after, ib_err *err)
{
    pattern_src p = {.produce = produce,
                     .piece = 300000,
                     .fail_after = fail_after,
                     .fail_code = IB_E_SOURCE_READ};
    ib_reader r = {.ctx = &p, .read = pattern_read};
    return s->drv->put(s, path, size, &r, err);
}

static void assert_pattern_file(const char *path, uint64_t size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    uint64_t i = 0;
    int c;
    while ((c = fgetc(fp)) != EOF) {
        if ((unsigned char)c != pattern_byte(i))
            fail_msg("%s: byte %llu differs", path, (unsigned long long)i);
        i++;
    }
    fclose(fp);
    assert_int_equal(i, size);
}

static void assert_no_temporaries(const char *dir)
{
    ib_storage *s;
    ib_err err;
    ib_storage_entry *e;
    size_t n;
    assert_int_equal(ib_storage_local_new(dir, 0, &s, &err), 0);
    assert_int_equal(s->drv->list(s, dir, &e, &n, &err), 0);
    for (size_t i = 0; i < n; i++)
        if (strstr(e[i].name, IB_STORAGE_TEMP_SUFFIX))
            fail_msg("temporary %s left in %s", e[i].name, dir);
    ib_storage_entries_free(e, n);
    ib_storage_free(s);
}

static void expect_error(int rc, const ib_err *err, ib_code code, const char *needle)
{
    if (rc != -1 || err->code != code || !strstr(err->msg, needle))
        fail_msg("rc=%d code=%s msg=\"%s\"; expected %s with \"%s\"", rc, ib_code_name(err->code),
                 err->msg, ib_code_name(code), needle);
}

/* Run fn(dir) in a child process; its exit status is the verdict
 * (0 ok, CHILD_SKIP skip, else the failing check's number). */
static void run_in_child(int (*fn)(const char *dir), const char *dir)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn(dir));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == CHILD_SKIP)
        skip();
    if (WEXITSTATUS(status) != 0)
        fail_msg("child check %d failed", WEXITSTATUS(status));
}

/* A private mount namespace with a tmpfs at path; false if not allowed. */
static bool private_tmpfs(const char *path, const char *options)
{
    if (unshare(CLONE_NEWNS) < 0)
        return false;
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return false;
    return mount("tmpfs", path, "tmpfs", 0, options) == 0;
}

#define CHECK(n, cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "child check %d failed: %s (%s)\n", n, #cond, err.msg);                \
            return n;                                                                              \
        }                                                                                          \
    } while (0)

/* ---- put ---- */

static void test_put_exact_size(void **state)
{
    fixture *f = *state;
    ib_err err;
    const uint64_t size = 3 * 1024 * 1024 + 12345; /* several chunks */
    assert_int_equal(put_pattern(f->s, at(f, "big"), (int64_t)size, size, -1, &err), 0);
    assert_pattern_file(at(f, "big"), size);
    struct stat st;
    assert_int_equal(stat(at(f, "big"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640 & ~0022 & 0777);
    /* Unknown size streams just the same. */
    assert_int_equal(put_pattern(f->s, at(f, "unknown"), -1, 777, -1, &err), 0);
    assert_pattern_file(at(f, "unknown"), 777);
    assert_int_equal(put_pattern(f->s, at(f, "empty"), 0, 0, -1, &err), 0);
    assert_pattern_file(at(f, "empty"), 0);
    assert_no_temporaries(f->dir);
}

static void test_put_short_and_long_source(void **state)
{
    fixture *f = *state;
    ib_err err;
    int rc = put_pattern(f->s, at(f, "short"), 100, 50, -1, &err);
    expect_error(rc, &err, IB_E_SOURCE_READ, "source ended after 50 of 100 bytes");
    assert_non_null(strstr(err.msg, at(f, "short")));
    assert_false(exists(at(f, "short")));
    rc = put_pattern(f->s, at(f, "long"), 10, 2 * 1024 * 1024, -1, &err);
    expect_error(rc, &err, IB_E_SOURCE_READ, "longer than the expected 10 bytes");
    assert_false(exists(at(f, "long")));
    /* A failed put over an existing file leaves the old bytes. */
    write_file(at(f, "keep"), "old bytes");
    rc = put_pattern(f->s, at(f, "keep"), 2000000, 1500000, -1, &err);
    assert_int_equal(rc, -1);
    char *text = slurp(at(f, "keep"));
    assert_string_equal(text, "old bytes");
    free(text);
    assert_no_temporaries(f->dir);
}

static void test_put_reader_error(void **state)
{
    fixture *f = *state;
    ib_err err;
    write_file(at(f, "keep"), "old bytes");
    int rc = put_pattern(f->s, at(f, "keep"), 5000000, 5000000, 1500000, &err);
    expect_error(rc, &err, IB_E_SOURCE_READ, "read /src/file: Input/output error");
    char prefix[600];
    snprintf(prefix, sizeof prefix, "put %s: ", at(f, "keep"));
    assert_memory_equal(err.msg, prefix, strlen(prefix));
    char *text = slurp(at(f, "keep"));
    assert_string_equal(text, "old bytes");
    free(text);
    assert_no_temporaries(f->dir);
}

static void test_put_replaces_with_new_inode(void **state)
{
    fixture *f = *state;
    ib_err err;
    const char *p = at(f, "data.tsfile");
    assert_int_equal(ib_storage_put_buffer(f->s, p, "old", 3, &err), 0);
    /* A hard link taken before (as a snapshot does) keeps the old bytes. */
    assert_int_equal(link(p, at(f, "snap-link")), 0);
    ino_t before = inode_of(p);
    assert_int_equal(ib_storage_put_buffer(f->s, p, "new content", 11, &err), 0);
    char *now = slurp(p), *old = slurp(at(f, "snap-link"));
    assert_string_equal(now, "new content");
    assert_string_equal(old, "old");
    assert_int_not_equal(inode_of(p), before);
    free(now);
    free(old);
    /* A stale temporary from a crash is simply overwritten. */
    write_file(at(f, "x" IB_STORAGE_TEMP_SUFFIX), "stale stale stale");
    assert_int_equal(ib_storage_put_buffer(f->s, at(f, "x"), "fresh", 5, &err), 0);
    char *x = slurp(at(f, "x"));
    assert_string_equal(x, "fresh");
    free(x);
    assert_no_temporaries(f->dir);
}

static void test_put_missing_parent(void **state)
{
    fixture *f = *state;
    ib_err err;
    int rc = ib_storage_put_buffer(f->s, at(f, "missing/x"), "a", 1, &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "No such file or directory");
    char expect[600];
    snprintf(expect, sizeof expect, "put %s: No such file or directory", at(f, "missing/x"));
    assert_string_equal(err.msg, expect);
    write_file(at(f, "plain"), "");
    rc = ib_storage_put_buffer(f->s, at(f, "plain/x"), "a", 1, &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "Not a directory");
}

static int child_put_as_nobody(const char *dir)
{
    ib_err err = {0};
    ib_storage *s;
    if (setgid(65534) < 0 || setuid(65534) < 0)
        return CHILD_SKIP;
    if (getuid() == 0)
        return CHILD_SKIP;
    char path[512];
    snprintf(path, sizeof path, "%s/denied", dir);
    CHECK(1, ib_storage_local_new(dir, 0, &s, &err) == 0);
    int rc = ib_storage_put_buffer(s, path, "x", 1, &err);
    CHECK(2, rc == -1 && err.code == IB_E_TARGET_AUTH);
    CHECK(3, strstr(err.msg, "Permission denied") != NULL);
    CHECK(4, strstr(err.msg, "HINT:") != NULL);
    ib_storage_free(s);
    return 0;
}

static void test_put_permission_denied(void **state)
{
    fixture *f = *state;
    if (getuid() != 0 && access(f->dir, W_OK) == 0) {
        /* Not root: make the directory read-only instead. */
        ib_err err;
        assert_int_equal(chmod(f->dir, 0500), 0);
        int rc = ib_storage_put_buffer(f->s, at(f, "denied"), "x", 1, &err);
        chmod(f->dir, 0700);
        expect_error(rc, &err, IB_E_TARGET_AUTH, "Permission denied");
        return;
    }
    /* Root ignores modes: drop to nobody in a child (mkdtemp gave 0700). */
    run_in_child(child_put_as_nobody, f->dir);
}

static int child_put_no_space(const char *dir)
{
    ib_err err = {0};
    char small[512], path[600];
    snprintf(small, sizeof small, "%s/small", dir);
    snprintf(path, sizeof path, "%s/small/big", dir);
    if (mkdir(small, 0700) < 0 || !private_tmpfs(small, "size=256k"))
        return CHILD_SKIP;
    ib_storage *s;
    CHECK(1, ib_storage_local_new(small, 0, &s, &err) == 0);
    int rc = put_pattern(s, path, 4 * 1024 * 1024, 4 * 1024 * 1024, -1, &err);
    CHECK(2, rc == -1 && err.code == IB_E_TARGET_SPACE);
    char expect[700];
    snprintf(expect, sizeof expect, "put %s: No space left on device", path);
    CHECK(3, strncmp(err.msg, expect, strlen(expect)) == 0);
    CHECK(4, strstr(err.msg, "HINT:") != NULL);
    struct stat st;
    CHECK(5, lstat(path, &st) < 0);
    char tmp[700];
    snprintf(tmp, sizeof tmp, "%s%s", path, IB_STORAGE_TEMP_SUFFIX);
    CHECK(6, lstat(tmp, &st) < 0);
    ib_storage_free(s);
    return 0;
}

static void test_put_no_space(void **state)
{
    fixture *f = *state;
    run_in_child(child_put_no_space, f->dir);
}

/* ---- get / stat / list ---- */

typedef struct count_sink {
    uint64_t bytes;
    bool mismatch;
    int64_t fail_after;
} count_sink;

static int count_write(void *ctx, const void *buf, size_t len, ib_err *err)
{
    count_sink *c = ctx;
    if (c->fail_after >= 0 && c->bytes >= (uint64_t)c->fail_after)
        return ib_err_set(err, IB_E_RESTORE, "write /restore/x: Disk quota exceeded");
    const unsigned char *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i] != pattern_byte(c->bytes + i))
            c->mismatch = true;
    c->bytes += len;
    return 0;
}

static void test_get(void **state)
{
    fixture *f = *state;
    ib_err err;
    const uint64_t size = 2 * 1024 * 1024 + 3;
    assert_int_equal(put_pattern(f->s, at(f, "big"), (int64_t)size, size, -1, &err), 0);
    count_sink c = {.fail_after = -1};
    ib_writer w = {.ctx = &c, .write = count_write};
    assert_int_equal(f->s->drv->get(f->s, at(f, "big"), &w, &err), 0);
    assert_int_equal(c.bytes, size);
    assert_false(c.mismatch);
    /* A writer error comes back unchanged. */
    count_sink failing = {.fail_after = 1};
    ib_writer fw = {.ctx = &failing, .write = count_write};
    int rc = f->s->drv->get(f->s, at(f, "big"), &fw, &err);
    expect_error(rc, &err, IB_E_RESTORE, "Disk quota exceeded");
    rc = f->s->drv->get(f->s, at(f, "nope"), &w, &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "get ");
}

static void test_buffers(void **state)
{
    fixture *f = *state;
    ib_err err;
    char *text;
    size_t len;
    assert_int_equal(ib_storage_put_buffer(f->s, at(f, "m.json"), "{\"a\":1}", 7, &err), 0);
    assert_int_equal(ib_storage_get_buffer(f->s, at(f, "m.json"), 100, &text, &len, &err), 0);
    assert_int_equal(len, 7);
    assert_string_equal(text, "{\"a\":1}");
    free(text);
    int rc = ib_storage_get_buffer(f->s, at(f, "m.json"), 6, &text, &len, &err);
    expect_error(rc, &err, IB_E_TARGET_IO, "larger than 6 bytes");
    assert_null(text);
    assert_int_equal(ib_storage_put_buffer(f->s, at(f, "e"), "", 0, &err), 0);
    assert_int_equal(ib_storage_get_buffer(f->s, at(f, "e"), 10, &text, &len, &err), 0);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
    rc = ib_storage_get_buffer(f->s, at(f, "none"), 10, &text, &len, &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "No such file");
}

static void test_stat(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage_info info;
    time_t before = time(NULL);
    assert_int_equal(ib_storage_put_buffer(f->s, at(f, "f"), "12345", 5, &err), 0);
    assert_int_equal(f->s->drv->stat(f->s, at(f, "f"), &info, &err), 0);
    assert_true(info.exists);
    assert_false(info.is_dir);
    assert_int_equal(info.size, 5);
    assert_true(info.mtime_ms >= (int64_t)(before - 2) * 1000);
    assert_true(info.mtime_ms <= (int64_t)(time(NULL) + 2) * 1000);
    assert_int_equal(f->s->drv->stat(f->s, f->dir, &info, &err), 0);
    assert_true(info.exists && info.is_dir);
    assert_int_equal(f->s->drv->stat(f->s, at(f, "missing"), &info, &err), 0);
    assert_false(info.exists);
    assert_int_equal(f->s->drv->stat(f->s, at(f, "f/under-a-file"), &info, &err), 0);
    assert_false(info.exists);
}

static void test_list_sorted(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage_entry *e;
    size_t n;
    assert_int_equal(f->s->drv->list(f->s, f->dir, &e, &n, &err), 0);
    assert_int_equal(n, 0);
    ib_storage_entries_free(e, n);
    write_file(at(f, "b"), "bb");
    write_file(at(f, "a"), "a");
    write_file(at(f, "c" IB_STORAGE_TEMP_SUFFIX), "");
    assert_int_equal(mkdir(at(f, "B-dir"), 0700), 0);
    assert_int_equal(mkdir(at(f, ".snapshot"), 0700), 0);
    assert_int_equal(symlink("nowhere", at(f, "dangling")), 0);
    assert_int_equal(f->s->drv->list(f->s, f->dir, &e, &n, &err), 0);
    const char *want[] = {".snapshot", "B-dir", "a", "b", "c" IB_STORAGE_TEMP_SUFFIX, "dangling"};
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(e[i].name, want[i]);
    assert_true(e[1].is_dir);
    assert_false(e[3].is_dir);
    assert_int_equal(e[3].size, 2);
    ib_storage_entries_free(e, n);
    int rc = f->s->drv->list(f->s, at(f, "nope"), &e, &n, &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "list ");
    assert_null(e);
}

/* ---- remove / rename / mkdirs ---- */

static void test_remove(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *s = f->s;
    assert_int_equal(s->drv->mkdirs(s, at(f, "t/a/b/c"), &err), 0);
    write_file(at(f, "t/a/b/c/f1"), "1");
    write_file(at(f, "t/a/f2"), "2");
    /* A symlink inside the tree must not be followed. */
    assert_int_equal(mkdir(at(f, "outside"), 0700), 0);
    write_file(at(f, "outside/precious"), "keep me");
    assert_int_equal(symlink(at(f, "outside"), at(f, "t/a/link")), 0);
    int rc = s->drv->remove(s, at(f, "t"), false, &err);
    expect_error(rc, &err, IB_E_TARGET_IO, "Directory not empty");
    assert_true(exists(at(f, "t/a/f2")));
    assert_int_equal(s->drv->remove(s, at(f, "t"), true, &err), 0);
    assert_false(exists(at(f, "t")));
    assert_true(exists(at(f, "outside/precious")));
    /* Missing is success; files and empty directories go without recursive. */
    assert_int_equal(s->drv->remove(s, at(f, "t"), true, &err), 0);
    assert_int_equal(s->drv->remove(s, at(f, "outside/precious"), false, &err), 0);
    assert_false(exists(at(f, "outside/precious")));
    assert_int_equal(s->drv->remove(s, at(f, "outside"), false, &err), 0);
    assert_false(exists(at(f, "outside")));
}

static void test_rename_no_replace(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *s = f->s;
    write_file(at(f, "from"), "from");
    write_file(at(f, "to"), "to");
    int rc = s->drv->rename(s, at(f, "from"), at(f, "to"), &err);
    expect_error(rc, &err, IB_E_TARGET_IO, "File exists");
    assert_non_null(strstr(err.msg, "rename "));
    char *a = slurp(at(f, "from")), *b = slurp(at(f, "to"));
    assert_string_equal(a, "from");
    assert_string_equal(b, "to");
    free(a);
    free(b);
    assert_int_equal(s->drv->rename(s, at(f, "from"), at(f, "new"), &err), 0);
    assert_false(exists(at(f, "from")));
    a = slurp(at(f, "new"));
    assert_string_equal(a, "from");
    free(a);
    assert_int_equal(mkdir(at(f, "d1"), 0700), 0);
    assert_int_equal(mkdir(at(f, "d2"), 0700), 0);
    rc = s->drv->rename(s, at(f, "d1"), at(f, "d2"), &err);
    expect_error(rc, &err, IB_E_TARGET_IO, "File exists");
    assert_int_equal(s->drv->rename(s, at(f, "d1"), at(f, "d3"), &err), 0);
    assert_true(exists(at(f, "d3")));
    rc = s->drv->rename(s, at(f, "nothing"), at(f, "d4"), &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "No such file");
}

static void test_mkdirs(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *s = f->s;
    assert_int_equal(s->drv->mkdirs(s, at(f, "x/y//z/"), &err), 0);
    struct stat st;
    assert_int_equal(stat(at(f, "x/y/z"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0750 & ~0022);
    assert_int_equal(s->drv->mkdirs(s, at(f, "x/y/z"), &err), 0); /* idempotent */
    write_file(at(f, "x/file"), "");
    int rc = s->drv->mkdirs(s, at(f, "x/file/sub"), &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "Not a directory");
    rc = s->drv->mkdirs(s, at(f, "x/file"), &err);
    expect_error(rc, &err, IB_E_TARGET_NOT_FOUND, "mkdirs ");
}

/* ---- snapshots ---- */

static void make_live_tree(fixture *f)
{
    ib_err err;
    ib_storage *s = f->s;
    assert_int_equal(s->drv->mkdirs(s, at(f, "task/sequence/root.a/1/0"), &err), 0);
    assert_int_equal(s->drv->mkdirs(s, at(f, "task/empty-dir"), &err), 0);
    assert_int_equal(
        ib_storage_put_buffer(s, at(f, "task/sequence/root.a/1/0/1.tsfile"), "tsfile-v1", 9, &err),
        0);
    assert_int_equal(ib_storage_put_buffer(s, at(f, "task/MANIFEST.json"), "{}", 2, &err), 0);
    write_file(at(f, "task/sequence/root.a/1/0/2.tsfile" IB_STORAGE_TEMP_SUFFIX), "partial");
}

static char **snapshots(fixture *f, size_t *n)
{
    ib_err err;
    char **names;
    assert_int_equal(f->s->drv->snapshot_list(f->s, at(f, "task"), &names, n, &err), 0);
    return names;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static void test_snapshot_cycle(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *s = f->s;
    assert_true(s->drv->features & IB_STORAGE_FEAT_SNAPSHOT);
    make_live_tree(f);
    size_t n;
    char **names = snapshots(f, &n); /* no .snapshot yet */
    assert_int_equal(n, 0);
    free_names(names, n);
    assert_int_equal(s->drv->snapshot_prepare(s, at(f, "task"), &err), 0);
    assert_int_equal(s->drv->snapshot_create(s, at(f, "task"), "20260101T000000Z-full", &err), 0);
    const char *snap_ts =
        at(f, "task/.snapshot/20260101T000000Z-full/sequence/root.a/1/0/1.tsfile");
    char *text = slurp(snap_ts);
    assert_string_equal(text, "tsfile-v1");
    free(text);
    assert_int_equal(inode_of(snap_ts), inode_of(at(f, "task/sequence/root.a/1/0/1.tsfile")));
    assert_true(exists(at(f, "task/.snapshot/20260101T000000Z-full/MANIFEST.json")));
    assert_true(exists(at(f, "task/.snapshot/20260101T000000Z-full/empty-dir")));
    assert_false(exists(at(f, "task/.snapshot/20260101T000000Z-full/.snapshot")));
    assert_false(exists(at(f, "task/.snapshot/20260101T000000Z-full/sequence/root.a/1/0/"
                              "2.tsfile" IB_STORAGE_TEMP_SUFFIX)));

    /* Changing the live tree through the driver leaves the snapshot alone. */
    assert_int_equal(ib_storage_put_buffer(s, at(f, "task/sequence/root.a/1/0/1.tsfile"),
                                           "tsfile-v2!", 10, &err),
                     0);
    assert_int_equal(s->drv->remove(s, at(f, "task/MANIFEST.json"), false, &err), 0);
    text = slurp(snap_ts);
    assert_string_equal(text, "tsfile-v1");
    free(text);
    assert_true(exists(at(f, "task/.snapshot/20260101T000000Z-full/MANIFEST.json")));

    assert_int_equal(
        s->drv->snapshot_create(s, at(f, "task"), "20260102T000000Z-incremental", &err), 0);
    assert_false(exists(at(f, "task/.snapshot/20260102T000000Z-incremental/.snapshot")));
    text = slurp(at(f, "task/.snapshot/20260102T000000Z-incremental/sequence/root.a/1/0/1.tsfile"));
    assert_string_equal(text, "tsfile-v2!");
    free(text);

    names = snapshots(f, &n);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "20260101T000000Z-full");
    assert_string_equal(names[1], "20260102T000000Z-incremental");
    free_names(names, n);

    int rc = s->drv->snapshot_create(s, at(f, "task"), "20260101T000000Z-full", &err);
    expect_error(rc, &err, IB_E_TARGET_SNAPSHOT, "already exists");
    const char *bad[] = {"", ".hidden", "a/b", ".snapshot"};
    for (size_t i = 0; i < 4; i++) {
        rc = s->drv->snapshot_create(s, at(f, "task"), bad[i], &err);
        expect_error(rc, &err, IB_E_TARGET_SNAPSHOT, "invalid name");
    }

    assert_int_equal(s->drv->snapshot_delete(s, at(f, "task"), "20260101T000000Z-full", &err), 0);
    assert_false(exists(at(f, "task/.snapshot/20260101T000000Z-full")));
    assert_int_equal(s->drv->snapshot_delete(s, at(f, "task"), "20260101T000000Z-full", &err), 0);
    names = snapshots(f, &n);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "20260102T000000Z-incremental");
    free_names(names, n);
    /* The live file is still there after its snapshot copies go. */
    text = slurp(at(f, "task/sequence/root.a/1/0/1.tsfile"));
    assert_string_equal(text, "tsfile-v2!");
    free(text);
}

static void test_snapshot_leftovers_cleaned(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *s = f->s;
    make_live_tree(f);
    assert_int_equal(s->drv->snapshot_prepare(s, at(f, "task"), &err), 0);
    /* A crash mid-create leaves .<name>.tmp; it is never listed, and listing
     * leaves it alone: it may be a freeze in progress in another process. */
    assert_int_equal(s->drv->mkdirs(s, at(f, "task/.snapshot/.s1.tmp/sequence"), &err), 0);
    write_file(at(f, "task/.snapshot/.s1.tmp/sequence/half"), "x");
    size_t n;
    char **names = snapshots(f, &n);
    assert_int_equal(n, 0);
    free_names(names, n);
    assert_true(exists(at(f, "task/.snapshot/.s1.tmp/sequence/half")));
    /* And create cleans too, then succeeds under the same name. */
    assert_int_equal(s->drv->mkdirs(s, at(f, "task/.snapshot/.s1.tmp/x"), &err), 0);
    assert_int_equal(s->drv->snapshot_create(s, at(f, "task"), "s1", &err), 0);
    assert_false(exists(at(f, "task/.snapshot/.s1.tmp")));
    assert_true(exists(at(f, "task/.snapshot/s1/MANIFEST.json")));
    assert_false(exists(at(f, "task/.snapshot/s1/x")));
}

static int g_files;
static int count_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)ftw;
    g_files += flag == FTW_F;
    return 0;
}

/* Many directories, linked by several threads: every file is in the
 * snapshot as a link of the live inode, and nothing else is. */
static void test_snapshot_many_directories(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *s = f->s;
    char rel[160], dir[128], live[200], snap[200];
    for (int d = 0; d < 24; d++) {
        snprintf(dir, sizeof dir, "task/sequence/root.db%d/%d/%d", d % 3, d % 2, d);
        assert_int_equal(s->drv->mkdirs(s, at(f, dir), &err), 0);
        for (int i = 0; i < 20; i++) {
            snprintf(rel, sizeof rel, "%s/%d.tsfile", dir, i);
            assert_int_equal(ib_storage_put_buffer(s, at(f, rel), rel, strlen(rel), &err), 0);
        }
    }
    write_file(at(f, "task/sequence/root.db0/0/0/x" IB_STORAGE_TEMP_SUFFIX), "partial");
    assert_int_equal(s->drv->snapshot_prepare(s, at(f, "task"), &err), 0);
    assert_int_equal(s->drv->snapshot_create(s, at(f, "task"), "s", &err), 0);
    for (int d = 0; d < 24; d++)
        for (int i = 0; i < 20; i++) {
            snprintf(rel, sizeof rel, "sequence/root.db%d/%d/%d/%d.tsfile", d % 3, d % 2, d, i);
            snprintf(live, sizeof live, "task/%s", rel);
            snprintf(snap, sizeof snap, "task/.snapshot/s/%s", rel);
            assert_int_equal(inode_of(at(f, snap)), inode_of(at(f, live)));
        }
    g_files = 0;
    assert_int_equal(nftw(at(f, "task/.snapshot/s"), count_file, 16, FTW_PHYS), 0);
    assert_int_equal(g_files, 24 * 20);
}

static int child_snapshot_copy_fallback(const char *dir)
{
    ib_err err = {0};
    char live[512], mnt[600], file[700], copy[800];
    snprintf(live, sizeof live, "%s/live", dir);
    snprintf(mnt, sizeof mnt, "%s/other-fs", live);
    snprintf(file, sizeof file, "%s/data", mnt);
    snprintf(copy, sizeof copy, "%s/.snapshot/s/other-fs/data", live);
    if (mkdir(live, 0700) < 0 || mkdir(mnt, 0700) < 0 || !private_tmpfs(mnt, "size=1m"))
        return CHILD_SKIP;
    ib_storage *s;
    CHECK(1, ib_storage_local_new(live, 0, &s, &err) == 0);
    CHECK(2, ib_storage_put_buffer(s, file, "across file systems", 19, &err) == 0);
    struct timespec old[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    CHECK(3, utimensat(AT_FDCWD, file, old, 0) == 0);
    /* link() across file systems fails with EXDEV: the file is copied. */
    CHECK(4, s->drv->snapshot_create(s, live, "s", &err) == 0);
    struct stat a, b;
    CHECK(5, stat(file, &a) == 0 && stat(copy, &b) == 0);
    CHECK(6, a.st_ino != b.st_ino || a.st_dev != b.st_dev);
    CHECK(7, b.st_size == 19 && b.st_mtim.tv_sec == 1000000000);
    char buf[32] = {0};
    int fd = open(copy, O_RDONLY);
    CHECK(8, fd >= 0 && read(fd, buf, sizeof buf) == 19 && strcmp(buf, "across file systems") == 0);
    close(fd);
    ib_storage_free(s);
    return 0;
}

static void test_snapshot_copy_fallback(void **state)
{
    fixture *f = *state;
    run_in_child(child_snapshot_copy_fallback, f->dir);
}

/* ---- bandwidth, open, helpers ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_bandwidth_cap(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *slow;
    /* 40 Mbit/s = 5,000,000 bytes/s: 2.5 MB take about 0.5 s. */
    assert_int_equal(ib_storage_local_new(f->dir, 40, &slow, &err), 0);
    const uint64_t size = 2500000;
    double t0 = now_s();
    assert_int_equal(put_pattern(slow, at(f, "slow"), (int64_t)size, size, -1, &err), 0);
    double elapsed = now_s() - t0;
    ib_storage_free(slow);
    print_message("2.5 MB at 40 Mbit/s took %.2f s (expected ~0.5)\n", elapsed);
    assert_true(elapsed >= 0.25);
    assert_true(elapsed < 30);
    assert_pattern_file(at(f, "slow"), size);
}

typedef struct capped_put {
    ib_storage *s;
    char path[512];
    uint64_t size;
    int rc;
    ib_err err;
} capped_put;

static void *capped_put_run(void *arg)
{
    capped_put *c = arg;
    c->rc = put_pattern(c->s, c->path, (int64_t)c->size, c->size, -1, &c->err);
    return NULL;
}

/* The cap holds for all puts of a handle together: 4 threads with 1.25 MB
 * each at 40 Mbit/s take about 1 s (0.75 s after the quarter second of
 * burst), not the 0.25 s each would take alone. */
static void test_bandwidth_cap_shared(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_storage *slow;
    assert_int_equal(ib_storage_local_new(f->dir, 40, &slow, &err), 0);
    capped_put c[4];
    pthread_t t[4];
    double t0 = now_s();
    for (int i = 0; i < 4; i++) {
        char name[16];
        snprintf(name, sizeof name, "par%d", i);
        c[i] = (capped_put){.s = slow, .size = 1250000};
        snprintf(c[i].path, sizeof c[i].path, "%s", at(f, name));
        assert_int_equal(pthread_create(&t[i], NULL, capped_put_run, &c[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    double elapsed = now_s() - t0;
    ib_storage_free(slow);
    print_message("4 x 1.25 MB at 40 Mbit/s took %.2f s (expected ~1)\n", elapsed);
    for (int i = 0; i < 4; i++) {
        if (c[i].rc != 0)
            fail_msg("put %d: %s", i, c[i].err.msg);
        assert_pattern_file(c[i].path, c[i].size);
    }
    assert_true(elapsed >= 0.6);
    assert_true(elapsed < 30);
}

static void test_open_and_features(void **state)
{
    fixture *f = *state;
    ib_err err;
    ib_target t = {.type = IB_TARGET_LOCALDIR, .target_path = f->dir};
    ib_storage *s;
    assert_int_equal(ib_storage_open(&t, 0, &s, &err), 0);
    assert_string_equal(s->drv->name, "LocalDir");
    assert_int_equal(s->drv->features, IB_STORAGE_FEAT_SNAPSHOT);
    assert_null(s->drv->checksum);
    ib_storage_free(s);
    t.type = IB_TARGET_REMOTEHDFS;
    t.target_path = "/backup";
    s = (ib_storage *)&t; /* must be reset */
    int rc = ib_storage_open(&t, 0, &s, &err);
    expect_error(rc, &err, IB_E_TASK_FIELD, "RemoteHDFS needs active_namenode");
    assert_null(s);
    t.active_namenode = "127.0.0.1"; /* opening sends nothing */
    assert_int_equal(ib_storage_open(&t, 0, &s, &err), 0);
    assert_string_equal(s->drv->name, "RemoteHDFS");
    ib_storage_free(s);
    ib_storage_free(NULL);
}

static void test_path_join(void **state)
{
    (void)state;
    const char *cases[][3] = {
        {"/backup", "x", "/backup/x"},
        {"/backup/", "x", "/backup/x"},
        {"/backup//", "/x/y", "/backup/x/y"},
        {"/", "x", "/x"},
        {"", "x", "x"},
        {"a", "", "a"},
        {"a/", "", "a"},
        {"/", "", "/"},
        {"a", "b/", "a/b/"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *j = ib_path_join(cases[i][0], cases[i][1]);
        assert_non_null(j);
        if (strcmp(j, cases[i][2]) != 0)
            fail_msg("join(\"%s\", \"%s\") = \"%s\", want \"%s\"", cases[i][0], cases[i][1], j,
                     cases[i][2]);
        free(j);
    }
}

int main(void)
{
    umask(022);
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_put_exact_size),
        T(test_put_short_and_long_source),
        T(test_put_reader_error),
        T(test_put_replaces_with_new_inode),
        T(test_put_missing_parent),
        T(test_put_permission_denied),
        T(test_put_no_space),
        T(test_get),
        T(test_buffers),
        T(test_stat),
        T(test_list_sorted),
        T(test_remove),
        T(test_rename_no_replace),
        T(test_mkdirs),
        T(test_snapshot_cycle),
        T(test_snapshot_leftovers_cleaned),
        T(test_snapshot_many_directories),
        T(test_snapshot_copy_fallback),
        T(test_bandwidth_cap),
        T(test_bandwidth_cap_shared),
        T(test_open_and_features),
        cmocka_unit_test(test_path_join),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
