/* Batched durability of the LocalDir driver: puts are renamed into place at
 * once and made durable by sync (syncfs per file system written to), which
 * holds one descriptor per file system and none per file. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "ib_storage.h"

#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_SKIP 77

typedef struct fixture {
    char dir[64];
} fixture;

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
    snprintf(f->dir, sizeof f->dir, "/tmp/ib-sync-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Open descriptors of this process. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += de->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory stream itself */
}

static void file_path(const char *dir, int i, char *out, size_t n)
{
    snprintf(out, n, "%s/d%02d/f%04d", dir, i % 7, i);
}

/* Put n files (content: their index) under dir in 7 subdirectories. */
static int put_files(ib_storage *s, const char *dir, int n, ib_err *err)
{
    for (int i = 0; i < n; i++) {
        char path[256], text[32];
        file_path(dir, i, path, sizeof path);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        if (s->drv->mkdirs(s, path, err) != 0)
            return -1;
        *slash = '/';
        int len = snprintf(text, sizeof text, "file %d", i);
        if (ib_storage_put_buffer(s, path, text, (size_t)len, err) != 0)
            return -1;
    }
    return 0;
}

static bool file_has(const char *path, const char *want)
{
    char buf[64] = "";
    FILE *fp = fopen(path, "r");
    if (!fp)
        return false;
    size_t got = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[got] = '\0';
    return strcmp(buf, want) == 0;
}

static void assert_files(const char *dir, int n)
{
    for (int i = 0; i < n; i++) {
        char path[256], text[32], tmp[300];
        file_path(dir, i, path, sizeof path);
        snprintf(text, sizeof text, "file %d", i);
        if (!file_has(path, text))
            fail_msg("%s does not hold \"%s\"", path, text);
        snprintf(tmp, sizeof tmp, "%s%s", path, IB_STORAGE_TEMP_SUFFIX);
        struct stat st;
        assert_int_equal(lstat(tmp, &st), -1);
    }
}

static void test_puts_visible_at_once_durable_after_sync(void **state)
{
    fixture *f = *state;
    ib_err err = {0};
    int before = open_fds();
    ib_storage *s;
    assert_int_equal(ib_storage_local_new(f->dir, 0, &s, &err), 0);
    assert_non_null(s->drv->sync);
    assert_int_equal(put_files(s, f->dir, 300, &err), 0);
    /* Every file is in place before sync; one descriptor waits for it. */
    assert_files(f->dir, 300);
    assert_int_equal(open_fds(), before + 1);
    assert_int_equal(ib_storage_sync(s, &err), 0);
    assert_int_equal(open_fds(), before);
    /* Nothing pending: sync again is a no-op. */
    assert_int_equal(ib_storage_sync(s, &err), 0);
    ib_storage_free(s);
    assert_int_equal(open_fds(), before);
}

static void test_free_syncs_and_releases(void **state)
{
    fixture *f = *state;
    ib_err err = {0};
    int before = open_fds();
    ib_storage *s;
    assert_int_equal(ib_storage_local_new(f->dir, 0, &s, &err), 0);
    assert_int_equal(put_files(s, f->dir, 5, &err), 0);
    ib_storage_free(s);
    assert_int_equal(open_fds(), before);
    assert_files(f->dir, 5);
}

static void test_snapshot_syncs_first(void **state)
{
    fixture *f = *state;
    ib_err err = {0};
    int before = open_fds();
    ib_storage *s;
    assert_int_equal(ib_storage_local_new(f->dir, 0, &s, &err), 0);
    assert_int_equal(put_files(s, f->dir, 20, &err), 0);
    assert_int_equal(s->drv->snapshot_create(s, f->dir, "s1", &err), 0);
    assert_int_equal(open_fds(), before);
    char snap[128];
    snprintf(snap, sizeof snap, "%s/.snapshot/s1", f->dir);
    assert_files(snap, 20);
    ib_storage_free(s);
}

/* A failed put leaves nothing behind and does not disturb earlier puts. */
static ssize_t failing_read(void *ctx, void *buf, size_t cap, ib_err *err)
{
    (void)ctx;
    (void)buf;
    (void)cap;
    ib_err_set(err, IB_E_SOURCE_READ, "source broke");
    return -1;
}

static void test_failed_put_between_good_ones(void **state)
{
    fixture *f = *state;
    ib_err err = {0};
    ib_storage *s;
    assert_int_equal(ib_storage_local_new(f->dir, 0, &s, &err), 0);
    assert_int_equal(put_files(s, f->dir, 3, &err), 0);
    char path[256];
    snprintf(path, sizeof path, "%s/d00/broken", f->dir);
    ib_reader rd = {.ctx = NULL, .read = failing_read};
    assert_int_equal(s->drv->put(s, path, 10, &rd, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_READ);
    struct stat st;
    assert_int_equal(lstat(path, &st), -1);
    assert_int_equal(ib_storage_sync(s, &err), 0);
    assert_files(f->dir, 3);
    ib_storage_free(s);
}

/* Small files are synced in groups: once about 64 MiB of them wait, the
 * put that crosses the mark syncs (the descriptor kept for sync is gone). */
static void test_small_files_synced_in_groups(void **state)
{
    fixture *f = *state;
    ib_err err = {0};
    size_t size = 200 << 10; /* below the size whose writeback starts at once */
    char *buf = malloc(size);
    assert_non_null(buf);
    memset(buf, 'z', size);
    int before = open_fds();
    ib_storage *s;
    assert_int_equal(ib_storage_local_new(f->dir, 0, &s, &err), 0);
    int synced_at = -1;
    for (int i = 0; i < 400 && synced_at < 0; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/s%03d", f->dir, i);
        assert_int_equal(ib_storage_put_buffer(s, path, buf, size, &err), 0);
        if (open_fds() == before)
            synced_at = i;
        else
            assert_int_equal(open_fds(), before + 1);
    }
    /* 64 MiB / 200 KiB = 327.68: the 328th put crosses the mark. */
    assert_int_equal(synced_at, 327);
    ib_storage_free(s);
    free(buf);
}

/* Many puts need no descriptor each: they work under a limit far below
 * their number. */
static int child_many_puts_few_fds(const char *dir)
{
    struct rlimit rl = {.rlim_cur = 32, .rlim_max = 32};
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return CHILD_SKIP;
    ib_err err = {0};
    ib_storage *s;
    if (ib_storage_local_new(dir, 0, &s, &err) != 0)
        return 1;
    if (put_files(s, dir, 500, &err) != 0) {
        fprintf(stderr, "put: %s\n", err.msg);
        return 2;
    }
    if (ib_storage_sync(s, &err) != 0)
        return 3;
    ib_storage_free(s);
    return 0;
}

/* Puts on more file systems than the driver keeps descriptors for: it
 * syncs the earlier ones to make room, and holds at most a few. */
static int child_many_file_systems(const char *dir)
{
    if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return CHILD_SKIP;
    char mnt[8][128];
    for (int i = 0; i < 8; i++) {
        snprintf(mnt[i], sizeof mnt[i], "%s/m%d", dir, i);
        if (mkdir(mnt[i], 0700) < 0)
            return 1;
        if (mount("tmpfs", mnt[i], "tmpfs", 0, "size=1m") < 0)
            return CHILD_SKIP;
    }
    int before = open_fds();
    ib_err err = {0};
    ib_storage *s;
    if (ib_storage_local_new(dir, 0, &s, &err) != 0)
        return 2;
    for (int i = 0; i < 8; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/x", mnt[i]);
        if (ib_storage_put_buffer(s, path, "x", 1, &err) != 0)
            return 3;
        if (open_fds() > before + 4)
            return 4;
    }
    if (ib_storage_sync(s, &err) != 0 || open_fds() != before)
        return 5;
    ib_storage_free(s);
    for (int i = 0; i < 8; i++) {
        char path[1100];
        snprintf(path, sizeof path, "%s/x", mnt[i]);
        if (!file_has(path, "x"))
            return 6;
        umount(mnt[i]);
    }
    return 0;
}

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

static void test_many_puts_few_fds(void **state)
{
    fixture *f = *state;
    run_in_child(child_many_puts_few_fds, f->dir);
    assert_files(f->dir, 500);
}

static void test_many_file_systems(void **state)
{
    fixture *f = *state;
    run_in_child(child_many_file_systems, f->dir);
}

/* ---- one handle shared by threads ---- */

#define PUT_THREADS 8
#define PUTS_EACH 60

typedef struct putter {
    ib_storage *s;
    const char *dir;
    int first;
    int rc;
    ib_err err;
} putter;

/* Files first, first + PUT_THREADS, ... with mkdirs of shared directories. */
static void *put_stride(void *arg)
{
    putter *p = arg;
    for (int k = 0; k < PUTS_EACH && p->rc == 0; k++) {
        int i = p->first + k * PUT_THREADS;
        char path[256], text[32];
        file_path(p->dir, i, path, sizeof path);
        char *slash = strrchr(path, '/');
        *slash = '\0';
        p->rc = p->s->drv->mkdirs(p->s, path, &p->err);
        *slash = '/';
        int len = snprintf(text, sizeof text, "file %d", i);
        if (p->rc == 0)
            p->rc = ib_storage_put_buffer(p->s, path, text, (size_t)len, &p->err);
    }
    return NULL;
}

typedef struct syncer {
    ib_storage *s;
    volatile int stop; /* read only after join by the others; set before join */
    pthread_mutex_t lock;
    int syncs, failures;
} syncer;

static void *sync_loop(void *arg)
{
    syncer *y = arg;
    for (;;) {
        pthread_mutex_lock(&y->lock);
        bool stop = y->stop;
        pthread_mutex_unlock(&y->lock);
        if (stop)
            return NULL;
        ib_err err;
        y->failures += ib_storage_sync(y->s, &err) != 0;
        y->syncs++;
    }
}

/* Puts from 8 threads while another syncs all the time: every file is in
 * place, no temporary is left, and no descriptor stays open. */
static void test_parallel_puts_and_syncs(void **state)
{
    fixture *f = *state;
    ib_err err = {0};
    int before = open_fds();
    ib_storage *s;
    assert_int_equal(ib_storage_local_new(f->dir, 0, &s, &err), 0);
    putter p[PUT_THREADS];
    pthread_t t[PUT_THREADS], ts;
    syncer y = {.s = s};
    pthread_mutex_init(&y.lock, NULL);
    assert_int_equal(pthread_create(&ts, NULL, sync_loop, &y), 0);
    for (int i = 0; i < PUT_THREADS; i++) {
        p[i] = (putter){.s = s, .dir = f->dir, .first = i};
        assert_int_equal(pthread_create(&t[i], NULL, put_stride, &p[i]), 0);
    }
    for (int i = 0; i < PUT_THREADS; i++) {
        pthread_join(t[i], NULL);
        if (p[i].rc != 0)
            fail_msg("put thread %d: %s", i, p[i].err.msg);
    }
    pthread_mutex_lock(&y.lock);
    y.stop = 1;
    pthread_mutex_unlock(&y.lock);
    pthread_join(ts, NULL);
    pthread_mutex_destroy(&y.lock);
    assert_int_equal(y.failures, 0);
    assert_true(y.syncs > 0);
    assert_int_equal(ib_storage_sync(s, &err), 0);
    assert_files(f->dir, PUT_THREADS * PUTS_EACH);
    assert_int_equal(open_fds(), before);
    ib_storage_free(s);
    assert_int_equal(open_fds(), before);
}

/* A driver without sync: puts are durable on return, sync is a no-op. */
static int never_called(ib_storage *s, ib_err *err)
{
    (void)s;
    return ib_err_set(err, IB_E_INTERNAL, "must not be called");
}

static void test_sync_is_optional(void **state)
{
    (void)state;
    ib_storage_driver drv = {.name = "plain", .sync = NULL};
    ib_storage s = {.drv = &drv};
    ib_err err = {0};
    assert_int_equal(ib_storage_sync(&s, &err), 0);
    drv.sync = never_called;
    assert_int_equal(ib_storage_sync(&s, &err), -1);
    assert_int_equal(err.code, IB_E_INTERNAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_puts_visible_at_once_durable_after_sync, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_free_syncs_and_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_syncs_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_put_between_good_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_small_files_synced_in_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_puts_few_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_file_systems, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_puts_and_syncs, setup, teardown),
        cmocka_unit_test(test_sync_is_optional),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
