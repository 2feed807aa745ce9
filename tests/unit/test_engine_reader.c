/* The engine's staged-file reader, seen from a storage driver: a driver that
 * restarts an upload part way (a DataNode that died mid-body) rewinds it
 * and gets the same bytes again, with the checksum and the progress counted
 * once. White-box: the reader is internal to lib/engine.c, which is
 * compiled into this program (the library's copy is then not linked). */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "../../lib/engine.c"

typedef struct fx {
    char dir[64];
    char staged[128];
    ib_source_file f;
    ib_task task;
    ib_backup_result res;
    run r;
    int64_t max_bytes_done; /* the most progress ever reported */
    int64_t last_bytes_done;
} fx;

#define FILE_SIZE ((size_t)(3 << 20) + 777) /* several chunks */

static void on_progress(void *ctx, const ib_progress *p)
{
    fx *f = ctx;
    if (p->bytes_done > f->max_bytes_done)
        f->max_bytes_done = p->bytes_done;
    f->last_bytes_done = p->bytes_done;
}

static const ib_engine_events EVENTS_TEMPLATE = {.progress = on_progress};
static ib_engine_events g_ev;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ib-test-reader-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->staged, sizeof f->staged, "%s/1-1-0-0.tsfile", f->dir);
    FILE *fp = fopen(f->staged, "wb");
    assert_non_null(fp);
    unsigned seed = 7;
    for (size_t i = 0; i < FILE_SIZE; i++) {
        seed = seed * 1103515245u + 12345u;
        fputc((int)(seed >> 16) & 0xff, fp);
    }
    assert_int_equal(fclose(fp), 0);
    f->f = (ib_source_file){.rel = "sequence/root.a/1/0/1-1-0-0.tsfile",
                            .staged = f->staged,
                            .kind = IB_FILE_TSFILE,
                            .size = (int64_t)FILE_SIZE};
    snprintf(f->task.name, sizeof f->task.name, "t");
    g_ev = EVENTS_TEMPLATE;
    g_ev.ctx = f;
    f->r = (run){.task = &f->task, .ev = &g_ev, .res = &f->res};
    pthread_mutex_init(&f->r.lock, NULL);
    ib_manifest_init(&f->r.next);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    ib_manifest_free(&f->r.next);
    pthread_mutex_destroy(&f->r.lock);
    unlink(f->staged);
    rmdir(f->dir);
    free(f);
    return 0;
}

static uint32_t whole_file_crc(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char buf[65536];
    uint32_t crc = 0;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0)
        crc = ib_crc32c(crc, buf, got);
    fclose(fp);
    return crc;
}

/* A driver whose first attempt dies after `fail_after` bytes and whose
 * second sends everything; it keeps what the second attempt read. */
typedef struct restarting {
    ib_storage base;
    int64_t fail_after;
    int attempts;
    uint32_t crc_sent;
    int64_t sent;
    bool use_rewind;
} restarting;

static int restarting_put(ib_storage *s, const char *path, int64_t size, ib_reader *src,
                          ib_err *err)
{
    (void)path;
    restarting *d = (restarting *)s;
    char *buf = malloc(CHUNK_SIZE);
    assert_non_null(buf);
    int rc = 0;
    for (d->attempts = 1;; d->attempts++) {
        d->sent = 0;
        d->crc_sent = 0;
        ssize_t n;
        bool died = false;
        while ((n = src->read(src->ctx, buf, CHUNK_SIZE - 4321, err)) > 0) {
            d->sent += n;
            d->crc_sent = ib_crc32c(d->crc_sent, buf, (size_t)n);
            if (d->attempts == 1 && d->sent >= d->fail_after) {
                died = true;
                break;
            }
        }
        if (n < 0) {
            rc = -1;
            break;
        }
        if (!died)
            break;
        if (!d->use_rewind || !src->rewind) {
            rc = ib_err_set(err, IB_E_TARGET_IO, "datanode died after %lld bytes",
                            (long long)d->sent);
            break;
        }
        if (src->rewind(src->ctx, err) != 0) {
            rc = -1;
            break;
        }
    }
    free(buf);
    if (rc == 0 && d->sent != size)
        rc = ib_err_set(err, IB_E_TARGET_IO, "size mismatch");
    return rc;
}

static int restarting_mkdirs(ib_storage *s, const char *path, ib_err *err)
{
    (void)s, (void)path, (void)err;
    return 0;
}

static const ib_storage_driver restarting_driver = {
    .name = "restarting", .put = restarting_put, .mkdirs = restarting_mkdirs};

static void test_upload_restarts_from_first_byte(void **state)
{
    fx *f = *state;
    restarting d = {.base.drv = &restarting_driver, .fail_after = 2000000, .use_rewind = true};
    f->r.st = &d.base;
    f->r.prog.bytes_total = f->f.size;
    sender s = {.r = &f->r};
    file_plan p = {.f = &f->f, .path = "/t/sequence/root.a/1/0/1-1-0-0.tsfile"};
    ib_err err;
    ib_err_clear(&err);
    if (upload(&s, &p, &err) != 0)
        fail_msg("upload: %s", err.msg);
    assert_int_equal(d.attempts, 2);
    assert_int_equal(d.sent, f->f.size);
    uint32_t want = whole_file_crc(f->staged);
    assert_int_equal(d.crc_sent, want);
    /* the checksum the manifest gets is of the file, not of both attempts */
    assert_true(p.have_crc);
    assert_int_equal(p.crc, want);
    /* progress: the first attempt's bytes were taken back */
    assert_int_equal(f->r.prog.bytes_done, f->f.size);
    assert_true(f->max_bytes_done <= f->f.size);
    assert_int_equal(f->res.files_sent, 1);
    assert_int_equal(f->res.bytes_sent, f->f.size);
}

/* Without a rewind the driver fails the put, and the error names the file. */
static void test_no_rewind_fails(void **state)
{
    fx *f = *state;
    restarting d = {.base.drv = &restarting_driver, .fail_after = 1000, .use_rewind = false};
    f->r.st = &d.base;
    sender s = {.r = &f->r};
    file_plan p = {.f = &f->f, .path = "/t/x.tsfile"};
    ib_err err;
    assert_int_equal(upload(&s, &p, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_IO);
    assert_non_null(strstr(err.msg, "sending sequence/root.a/1/0/1-1-0-0.tsfile"));
    assert_int_equal(f->res.files_sent, 0);
}

/* The reader on its own: rewind in the middle, then read to the end. */
static void test_rewind_resets_crc_and_progress(void **state)
{
    fx *f = *state;
    staged_reader sr = {.r = &f->r, .f = &f->f};
    ib_err err;
    sr.fd = open_staged(&f->f, &err);
    assert_true(sr.fd >= 0);
    char *buf = malloc(CHUNK_SIZE);
    assert_non_null(buf);
    assert_int_equal(staged_read(&sr, buf, 1000, &err), 1000);
    assert_int_equal(staged_read(&sr, buf, 5000, &err), 5000);
    assert_int_equal(f->r.prog.bytes_done, 6000);
    assert_int_equal(staged_rewind(&sr, &err), 0);
    assert_int_equal(sr.done, 0);
    assert_int_equal(sr.crc, 0);
    assert_int_equal(f->r.prog.bytes_done, 0);
    ssize_t n;
    while ((n = staged_read(&sr, buf, CHUNK_SIZE, &err)) > 0)
        ;
    assert_int_equal(n, 0);
    assert_int_equal(sr.done, f->f.size);
    assert_int_equal(sr.crc, whole_file_crc(f->staged));
    assert_int_equal(f->r.prog.bytes_done, f->f.size);
    /* a closed descriptor cannot be rewound: a clear error */
    close(sr.fd);
    assert_int_equal(staged_rewind(&sr, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_READ);
    assert_non_null(strstr(err.msg, "cannot rewind"));
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upload_restarts_from_first_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_rewind_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewind_resets_crc_and_progress, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
