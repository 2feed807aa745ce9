/* The backup engine on a LocalDir target with a data dir built here: full and
 * incremental runs with exact counts, self-contained snapshots that restore
 * byte-identical, pruning, interrupted runs and their repair, damaged copies,
 * hostile manifests, source and target failures, copies and verify, and
 * parallel sends (same copy with 1 and 8 senders, a failing file, a stop). */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
// clang-format on

#include "ib_crc32c.h"
#include "ib_engine.h"
#include "ib_manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define CREATED_AT 1700000000 /* 2023-11-14 23:13:20 in Europe/Berlin */

/* ---- fixture: a temporary tree with data dirs, staging and a target ---- */

typedef struct fx {
    char root[128];
    char data[2][256];
    char staging[256];
    char target[256];
    char task_dir[512];
    char *dirs[2];
    char *dbs[1];
    char *patterns[1];
    ib_task task;
    int64_t run_id;
    bool mounted;
} fx;

/* Events: captured log, and a stop after N new files on the target. */
typedef struct events {
    fx *f;
    char log[16384];
    size_t log_len;
    int stop_after; /* stop when this many new files are in the live dir; 0: never */
    int progress_calls;
    const char *truncate_staged; /* name of a staged file cut short when sending starts */
    const char *remove_live;     /* path in the task dir removed when the check starts */
    const char *replace_live;    /* path in the task dir replaced by 10 bytes then */
    const char *remove_live_dir; /* directory in the task dir removed then */
} events;

static void ev_log(void *ctx, int priority, const char *msg)
{
    events *e = ctx;
    int n = snprintf(e->log + e->log_len, sizeof e->log - e->log_len, "<%d>%s\n", priority, msg);
    if (n > 0 && (size_t)n < sizeof e->log - e->log_len)
        e->log_len += (size_t)n;
}

static const char *g_cut_name;
static int cut_staged(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    if (type == FTW_F && strcmp(path + ftw->base, g_cut_name) == 0)
        assert_int_equal(truncate(path, 10), 0);
    return 0;
}

static void ev_progress(void *ctx, const ib_progress *p)
{
    events *e = ctx;
    assert_non_null(p->phase);
    assert_true(p->files_done <= p->files_total || p->files_total == 0);
    e->progress_calls++;
    if (e->truncate_staged && strcmp(p->phase, "upload") == 0) {
        g_cut_name = e->truncate_staged;
        nftw(e->f->staging, cut_staged, 16, FTW_PHYS);
        e->truncate_staged = NULL;
    }
    if (strcmp(p->phase, "check") == 0 && e->remove_live_dir) {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "rm -rf '%s/%s'", e->f->task_dir, e->remove_live_dir);
        assert_int_equal(system(cmd), 0);
        e->remove_live_dir = NULL;
    }
    if (strcmp(p->phase, "check") == 0 && (e->remove_live || e->replace_live)) {
        /* Another writer, between the upload and the check. Replaced, not
         * written in place: the snapshots share the live files' inodes. */
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        snprintf(path, sizeof path, "%s/%s", e->f->task_dir,
                 e->remove_live ? e->remove_live : e->replace_live);
        if (e->remove_live) {
            assert_int_equal(unlink(path), 0);
        } else {
            snprintf(tmp, sizeof tmp, "%s.other", path);
            FILE *fp = fopen(tmp, "wb");
            assert_non_null(fp);
            assert_int_equal(fwrite("0123456789", 1, 10, fp), 10);
            assert_int_equal(fclose(fp), 0);
            assert_int_equal(rename(tmp, path), 0);
        }
        e->remove_live = e->replace_live = NULL;
    }
}

static int g_new_files;

/* Files written by this run have one link: the previous copies' files are
 * hard-linked into their snapshots. */
static int count_new(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)ftw;
    if (strstr(path, "/.snapshot/") || strstr(path, IB_STORAGE_TEMP_SUFFIX) ||
        strstr(path, IB_MANIFEST_NAME))
        return 0;
    if (type == FTW_F && sb->st_nlink == 1)
        g_new_files++;
    return 0;
}

static bool ev_should_stop(void *ctx)
{
    events *e = ctx;
    if (e->stop_after <= 0)
        return false;
    g_new_files = 0;
    nftw(e->f->task_dir, count_new, 16, FTW_PHYS);
    return g_new_files >= e->stop_after;
}

static ib_engine_events make_events(events *e, fx *f)
{
    memset(e, 0, sizeof *e);
    e->f = f;
    return (ib_engine_events){
        .ctx = e, .log = ev_log, .progress = ev_progress, .should_stop = ev_should_stop};
}

static void mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

static void write_file(const char *path, const void *buf, size_t n, const char *mode)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    mkdirs(dir);
    FILE *fp = fopen(path, mode);
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

static void data_path(const fx *f, int dd, const char *rel, char *out)
{
    snprintf(out, PATH_MAX, "%s/%s", f->data[dd], rel);
}

/* A TsFile: "TsFile" + version 3 + pseudo-random body + "TsFile". */
static void make_tsfile(fx *f, int dd, const char *rel, size_t size, unsigned seed)
{
    char path[PATH_MAX];
    data_path(f, dd, rel, path);
    unsigned char *buf = malloc(size);
    assert_non_null(buf);
    for (size_t i = 0; i < size; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (unsigned char)(seed >> 16);
    }
    memcpy(buf, "TsFile\x03", 7);
    memcpy(buf + size - 6, "TsFile", 6);
    write_file(path, buf, size, "wb");
    free(buf);
}

/* A sealed TsFile: the file, its .resource, optionally a text .mods. */
static void make_sealed(fx *f, int dd, const char *rel, size_t size, unsigned seed, bool mods)
{
    make_tsfile(f, dd, rel, size, seed);
    char path[PATH_MAX + 16];
    char res[64];
    snprintf(res, sizeof res, "resource of seed %u\n", seed);
    snprintf(path, sizeof path, "%s/%s.resource", f->data[dd], rel);
    write_file(path, res, strlen(res), "wb");
    if (mods) {
        static const char line[] = "Deletion,root.x.d1.s1,0,100\n";
        snprintf(path, sizeof path, "%s/%s.mods", f->data[dd], rel);
        write_file(path, line, strlen(line), "wb");
    }
}

static void remove_data(fx *f, int dd, const char *rel)
{
    char path[PATH_MAX];
    data_path(f, dd, rel, path);
    assert_int_equal(unlink(path), 0);
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4 * PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* State 0: 14 files of root.a and root.b (6 tsfiles, 6 resources, 2 mods),
 * plus a working file and a database that is not selected. */
#define STATE0_FILES 14
static void fill_state0(fx *f, int dd, size_t big)
{
    make_sealed(f, dd, "sequence/root.a/1/0/1-1-0-0.tsfile", 3000, 1, false);
    make_sealed(f, dd, "sequence/root.a/1/0/2-2-0-0.tsfile", 5000, 2, true);
    make_sealed(f, dd, "sequence/root.a/1/0/3-3-0-0.tsfile", 7000, 3, false);
    make_sealed(f, dd, "sequence/root.a/1/1/10-10-0-0.tsfile", 4000, 4, false);
    make_sealed(f, dd, "unsequence/root.a/1/0/5-5-0-0.tsfile", 2000, 5, false);
    make_sealed(f, dd, "sequence/root.b/2/0/1-1-0-0.tsfile", big ? big : 6000, 6, true);
    make_tsfile(f, dd, "sequence/root.a/1/0/4-4-0-0.tsfile", 900, 7); /* working: no .resource */
    make_sealed(f, dd, "sequence/root.c/3/0/1-1-0-0.tsfile", 1000, 8, false);
}

/* Grow: 2 new sealed files (4 files), a compaction of 1-1 and 2-2 (5 files
 * gone, 2 new), a deletion appended to a mods file (1 changed). */
#define GROW_SENT 7
#define GROW_DELETED 5
#define STATE1_FILES (STATE0_FILES + 4 + 2 - 5)
static void grow(fx *f, int dd)
{
    make_sealed(f, dd, "sequence/root.a/1/1/11-11-0-0.tsfile", 3500, 11, false);
    make_sealed(f, dd, "sequence/root.b/2/0/2-2-0-0.tsfile", 2500, 12, false);
    make_sealed(f, dd, "sequence/root.a/1/0/1-2-1-0.tsfile", 7900, 13, false);
    remove_data(f, dd, "sequence/root.a/1/0/1-1-0-0.tsfile");
    remove_data(f, dd, "sequence/root.a/1/0/1-1-0-0.tsfile.resource");
    remove_data(f, dd, "sequence/root.a/1/0/2-2-0-0.tsfile");
    remove_data(f, dd, "sequence/root.a/1/0/2-2-0-0.tsfile.resource");
    remove_data(f, dd, "sequence/root.a/1/0/2-2-0-0.tsfile.mods");
    char path[PATH_MAX];
    data_path(f, dd, "sequence/root.b/2/0/1-1-0-0.tsfile.mods", path);
    static const char line[] = "Deletion,root.x.d1.s2,0,200\n";
    write_file(path, line, strlen(line), "ab");
}

/* What a copy of data dir dd should hold now: the data dir without the
 * working file and the unselected database. */
static void save_expected(fx *f, int dd, int state)
{
    assert_int_equal(sh("rm -rf %s/expected-%d-%d && cp -a %s %s/expected-%d-%d", f->root, dd,
                        state, f->data[dd], f->root, dd, state),
                     0);
    assert_int_equal(sh("rm -rf %s/expected-%d-%d/sequence/root.c "
                        "%s/expected-%d-%d/sequence/root.a/1/0/4-4-0-0.tsfile",
                        f->root, dd, state, f->root, dd, state),
                     0);
}

static void fx_task(fx *f, int n_dirs)
{
    memset(&f->task, 0, sizeof f->task);
    snprintf(f->task.name, sizeof f->task.name, "nightly");
    f->task.file = "tasks.d/nightly.json";
    f->task.mode = IB_MODE_MANUAL;
    f->task.policy = IB_POLICY_FULL_THEN_INCREMENTAL;
    f->dirs[0] = f->data[0];
    f->dirs[1] = f->data[1];
    f->dbs[0] = "root.a";
    f->patterns[0] = "^root\\.b$";
    f->task.source.data_dirs = f->dirs;
    f->task.source.n_data_dirs = (size_t)n_dirs;
    f->task.source.databases = f->dbs;
    f->task.source.n_databases = 1;
    f->task.source.database_patterns = f->patterns;
    f->task.source.n_database_patterns = 1;
    f->task.target.type = IB_TARGET_LOCALDIR;
    f->task.target.target_path = f->target;
    f->task.target.max_copies = 3;
    f->task.target.parallel_uploads = 4; /* the default of a parsed task */
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->root, sizeof f->root, "/tmp/ib-test-engine-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    snprintf(f->data[0], sizeof f->data[0], "%s/data0", f->root);
    snprintf(f->data[1], sizeof f->data[1], "%s/data1", f->root);
    snprintf(f->staging, sizeof f->staging, "%s/state/staging", f->root);
    snprintf(f->target, sizeof f->target, "%s/target", f->root);
    mkdirs(f->data[0]);
    mkdirs(f->data[1]);
    mkdirs(f->target);
    char name[128];
    ib_engine_task_dir_name("nightly", CREATED_AT, name, sizeof name);
    snprintf(f->task_dir, sizeof f->task_dir, "%s/%s", f->target, name);
    fx_task(f, 1);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    if (f->mounted)
        umount2(f->target, MNT_DETACH);
    sh("rm -rf %s", f->root);
    free(f);
    return 0;
}

/* ---- helpers around the engine ---- */

/* A run with the events ev of e, as the caller set them up (make_events). */
static int backup_with(fx *f, ib_backup_type type, const ib_engine_events *ev, events *e,
                       ib_backup_result *res, ib_err *err)
{
    ib_backup_request req = {.task = &f->task,
                             .created_at = CREATED_AT,
                             .run_id = ++f->run_id,
                             .type = type,
                             .staging_root = f->staging};
    ib_err_clear(err);
    int rc = ib_backup_run(&req, ev, res, err);
    if (getenv("IB_TEST_VERBOSE"))
        print_message("run %lld: rc %d %s %s\n%s", (long long)req.run_id, rc,
                      rc ? ib_code_name(err->code) : "", rc ? err->msg : "", e->log);
    return rc;
}

static int backup(fx *f, ib_backup_type type, int stop_after, events *e, ib_backup_result *res,
                  ib_err *err)
{
    ib_engine_events ev = make_events(e, f);
    e->stop_after = stop_after;
    return backup_with(f, type, &ev, e, res, err);
}

static void backup_ok(fx *f, ib_backup_type type, ib_backup_result *res)
{
    events e;
    ib_err err;
    int rc = backup(f, type, 0, &e, res, &err);
    if (rc != 0)
        fail_msg("backup failed: %s (%s)\nlog:\n%s", err.msg, ib_code_name(err.code), e.log);
}

/* A full copy of state 0 (*full), then the data grown to state 1; the
 * expected trees of both saved. */
static void full_then_grow(fx *f, ib_backup_result *full)
{
    fill_state0(f, 0, 0);
    save_expected(f, 0, 0);
    backup_ok(f, IB_BACKUP_FULL, full);
    grow(f, 0);
    save_expected(f, 0, 1);
}

static int restore(fx *f, const char *copy, const char *to, bool force, const char *const *dbs,
                   size_t n_dbs, ib_restore_result *res, ib_err *err)
{
    events e;
    ib_engine_events ev = make_events(&e, f);
    ib_restore_request req = {.task = &f->task,
                              .copy = copy,
                              .to_dir = to,
                              .databases = dbs,
                              .n_databases = n_dbs,
                              .force = force};
    ib_err_clear(err);
    return ib_restore_run(&req, &ev, res, err);
}

/* Restore copy into <root>/<label> and compare with expected-<dd>-<state>. */
static void assert_restores_to(fx *f, const char *copy, const char *label, int state)
{
    char to[PATH_MAX + 64];
    snprintf(to, sizeof to, "%s/%s", f->root, label);
    ib_restore_result rr;
    ib_err err;
    if (restore(f, copy, to, false, NULL, 0, &rr, &err) != 0)
        fail_msg("restore of %s failed: %s", copy ? copy : "(newest)", err.msg);
    if (copy)
        assert_string_equal(rr.copy, copy);
    assert_int_equal(sh("diff -r %s %s/expected-0-%d", to, f->root, state), 0);
}

static size_t count_copies(fx *f)
{
    ib_copy_info *c = NULL;
    size_t n = 0;
    ib_err err;
    if (ib_copies_list(&f->task, NULL, &c, &n, &err) != 0)
        fail_msg("copies: %s", err.msg);
    ib_copies_free(c, n);
    return n;
}

static void read_manifest_file(const char *path, ib_manifest *m)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char text[1 << 16];
    size_t len = fread(text, 1, sizeof text, fp);
    fclose(fp);
    ib_err err;
    ib_manifest_init(m);
    if (ib_manifest_parse(text, len, m, &err) != 0)
        fail_msg("%s: %s", path, err.msg);
}

static uint32_t file_crc(const char *path, int64_t *size)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char buf[8192];
    uint32_t crc = 0;
    size_t got;
    *size = 0;
    while ((got = fread(buf, 1, sizeof buf, fp)) > 0) {
        crc = ib_crc32c(crc, buf, got);
        *size += (int64_t)got;
    }
    fclose(fp);
    return crc;
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (int64_t)sb.st_size;
}

static bool exists(const char *path)
{
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static int g_found;
static const char *g_needle;
static int find_name(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    if (strstr(path, g_needle))
        g_found++;
    return 0;
}

/* Number of paths under dir containing needle. */
static int count_paths(const char *dir, const char *needle)
{
    g_found = 0;
    g_needle = needle;
    nftw(dir, find_name, 16, FTW_PHYS);
    return g_found;
}

/* ---- tests ---- */

static void test_task_dir_name(void **state)
{
    (void)state;
    char buf[128];
    ib_engine_task_dir_name("nightly", CREATED_AT, buf, sizeof buf);
    assert_string_equal(buf, "nightly_IoTDB_20231114231320"); /* local time, TZ=Europe/Berlin */
}

static void test_copy_name_order(void **state)
{
    (void)state;
    assert_true(ib_copy_name_cmp("20260101T000000Z-full", "20260101T000001Z-full") < 0);
    assert_true(ib_copy_name_cmp("20260101T000000Z-incremental", "20260101T000000Z-full-2") < 0);
    assert_true(ib_copy_name_cmp("20260101T000000Z-full-10", "20260101T000000Z-full-9") > 0);
    assert_true(ib_copy_name_cmp("junk", "20000101T000000Z-full") < 0);
    assert_int_equal(ib_copy_name_cmp("20260101T000000Z-full", "20260101T000000Z-full"), 0);
}

/* 2026-01-01T00:00:00Z */
#define NEW_YEAR_2026 ((time_t)1767225600)

static void test_copy_name_next(void **state)
{
    (void)state;
    char buf[64];
    ib_copy_info none[] = {{.name = "junk", .valid = true}};
    assert_false(ib_copy_name_next(none, 1, NEW_YEAR_2026, "full", buf, sizeof buf));
    assert_string_equal(buf, "20260101T000000Z-full");

    ib_copy_info same_second[] = {{.name = "20260101T000000Z-full", .valid = true},
                                  {.name = "20260101T000000Z-incremental-3", .valid = false}};
    assert_false(ib_copy_name_next(same_second, 2, NEW_YEAR_2026, "incremental", buf, sizeof buf));
    assert_string_equal(buf, "20260101T000000Z-incremental-4");

    /* The clock stepped back two hours: the new copy still sorts last. */
    ib_copy_info ahead[] = {{.name = "20251231T230000Z-full", .valid = true},
                            {.name = "20260101T020000Z-incremental", .valid = true}};
    assert_true(ib_copy_name_next(ahead, 2, NEW_YEAR_2026, "incremental", buf, sizeof buf));
    assert_string_equal(buf, "20260101T020000Z-incremental-2");
    assert_true(ib_copy_name_cmp(ahead[1].name, buf) < 0);

    /* A stray snapshot without a valid manifest does not order copies. */
    ib_copy_info stray[] = {{.name = "20251231T230000Z-full-7", .valid = true},
                            {.name = "29990101T000000Z-full", .valid = false}};
    assert_false(ib_copy_name_next(stray, 2, NEW_YEAR_2026, "full", buf, sizeof buf));
    assert_string_equal(buf, "20260101T000000Z-full");
}

static void test_full_run(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    save_expected(f, 0, 0);
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_FULL, 0, &e, &res, &err), 0);
    assert_int_equal(res.type, IB_BACKUP_FULL);
    assert_int_equal(res.files_total, STATE0_FILES);
    assert_int_equal(res.files_sent, STATE0_FILES);
    assert_int_equal(res.files_deleted, 0);
    assert_int_equal(res.copies_pruned, 0);
    assert_int_equal(strlen(res.copy), strlen("20260101T000000Z-full"));
    assert_string_equal(res.copy + 16, "-full");
    assert_non_null(strstr(e.log, "no REST API configured"));
    assert_true(e.progress_calls > 0);

    /* The live manifest lists every file with its size and CRC. */
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", f->task_dir, IB_MANIFEST_NAME);
    ib_manifest m;
    read_manifest_file(path, &m);
    assert_int_equal(m.n_files, STATE0_FILES);
    assert_string_equal(m.backup_type, "full");
    assert_string_equal(m.task, "nightly");
    assert_int_equal(m.n_databases, 2);
    assert_string_equal(m.databases[0], "root.a");
    assert_string_equal(m.databases[1], "root.b");
    assert_int_equal(m.layout_version, 3);
    int64_t sum = 0;
    for (size_t i = 0; i < m.n_files; i++) {
        char src[2 * PATH_MAX];
        snprintf(src, sizeof src, "%s/%s", f->data[0], m.files[i].path);
        int64_t size;
        assert_int_equal(file_crc(src, &size), m.files[i].crc32c);
        assert_int_equal(size, m.files[i].size);
        sum += size;
    }
    assert_int_equal(res.bytes_sent, sum);
    assert_null(ib_manifest_find(&m, "sequence/root.a/1/0/4-4-0-0.tsfile")); /* working file */
    assert_null(ib_manifest_find(&m, "sequence/root.c/3/0/1-1-0-0.tsfile")); /* not selected */
    ib_manifest_free(&m);

    /* Frozen as a snapshot holding the manifest; staging is gone. */
    snprintf(path, sizeof path, "%s/.snapshot/%s/%s", f->task_dir, res.copy, IB_MANIFEST_NAME);
    assert_true(exists(path));
    assert_int_equal(count_copies(f), 1);
    assert_int_equal(count_paths(f->task_dir, IB_STORAGE_TEMP_SUFFIX), 0);
    snprintf(path, sizeof path, "%s/run-%lld", f->staging, (long long)f->run_id);
    assert_false(exists(path));
    assert_restores_to(f, res.copy, "restore-full", 0);
}

static void test_incremental_without_previous_is_full(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_INCREMENTAL, 0, &e, &res, &err), 0);
    assert_int_equal(res.type, IB_BACKUP_FULL);
    assert_int_equal(res.files_sent, STATE0_FILES);
    assert_non_null(strstr(e.log, "no valid previous copy"));
}

static int64_t state1_sent_bytes(fx *f)
{
    static const char *sent[] = {
        "sequence/root.a/1/1/11-11-0-0.tsfile",   "sequence/root.a/1/1/11-11-0-0.tsfile.resource",
        "sequence/root.b/2/0/2-2-0-0.tsfile",     "sequence/root.b/2/0/2-2-0-0.tsfile.resource",
        "sequence/root.a/1/0/1-2-1-0.tsfile",     "sequence/root.a/1/0/1-2-1-0.tsfile.resource",
        "sequence/root.b/2/0/1-1-0-0.tsfile.mods"};
    int64_t sum = 0;
    for (size_t i = 0; i < sizeof sent / sizeof *sent; i++) {
        char path[PATH_MAX];
        data_path(f, 0, sent[i], path);
        sum += file_size(path);
    }
    return sum;
}

static void test_incremental_after_grow(void **state)
{
    fx *f = *state;
    ib_backup_result full, inc, same;
    full_then_grow(f, &full);
    backup_ok(f, IB_BACKUP_INCREMENTAL, &inc);
    assert_int_equal(inc.type, IB_BACKUP_INCREMENTAL);
    assert_int_equal(inc.files_total, STATE1_FILES);
    assert_int_equal(inc.files_sent, GROW_SENT);
    assert_int_equal(inc.files_deleted, GROW_DELETED);
    assert_int_equal(inc.bytes_sent, state1_sent_bytes(f));
    /* "-incremental", or "-incremental-2" when the full run was in the same second */
    assert_memory_equal(inc.copy + 16, "-incremental", 12);

    /* Nothing changed: nothing sent. */
    backup_ok(f, IB_BACKUP_INCREMENTAL, &same);
    assert_int_equal(same.files_sent, 0);
    assert_int_equal(same.files_deleted, 0);
    assert_int_equal(same.files_total, STATE1_FILES);

    /* Every copy is complete on its own. */
    assert_int_equal(count_copies(f), 3);
    assert_restores_to(f, full.copy, "r-full", 0);
    assert_restores_to(f, inc.copy, "r-inc", 1);
    assert_restores_to(f, same.copy, "r-same", 1);
    assert_restores_to(f, NULL, "r-newest", 1);
}

static void test_explicit_full_rewrites(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    save_expected(f, 0, 0);
    ib_backup_result a, b;
    backup_ok(f, IB_BACKUP_FULL, &a);
    backup_ok(f, IB_BACKUP_FULL, &b);
    assert_int_equal(b.files_sent, STATE0_FILES);
    assert_string_not_equal(a.copy, b.copy);
    assert_true(ib_copy_name_cmp(a.copy, b.copy) < 0);
    assert_restores_to(f, a.copy, "r-a", 0);
    assert_restores_to(f, b.copy, "r-b", 0);
}

static void test_prune(void **state)
{
    fx *f = *state;
    f->task.target.max_copies = 2;
    fill_state0(f, 0, 0);
    ib_backup_result r1, r2, r3, r4;
    backup_ok(f, IB_BACKUP_FULL, &r1);
    /* A snapshot without a manifest, older than every valid one. */
    char junk[2 * PATH_MAX];
    snprintf(junk, sizeof junk, "%s/.snapshot/20000101T000000Z-full", f->task_dir);
    mkdirs(junk);
    grow(f, 0);
    backup_ok(f, IB_BACKUP_INCREMENTAL, &r2);
    /* Two valid copies kept; the junk one, older than the newest valid, goes. */
    assert_int_equal(r2.copies_pruned, 1);
    assert_false(exists(junk));
    make_sealed(f, 0, "sequence/root.a/1/1/12-12-0-0.tsfile", 1234, 21, false);
    save_expected(f, 0, 2);
    backup_ok(f, IB_BACKUP_INCREMENTAL, &r3);
    assert_int_equal(r3.copies_pruned, 1);
    assert_int_equal(r3.files_sent, 2);
    backup_ok(f, IB_BACKUP_INCREMENTAL, &r4);
    assert_int_equal(r4.copies_pruned, 1);

    ib_copy_info *c = NULL;
    size_t n = 0;
    ib_err err;
    assert_int_equal(ib_copies_list(&f->task, NULL, &c, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].name, r3.copy);
    assert_string_equal(c[1].name, r4.copy);
    ib_copies_free(c, n);
    /* r3's copy was sent as an increment on r2's, which is gone: still whole. */
    assert_restores_to(f, r3.copy, "r3", 2);
    assert_restores_to(f, r4.copy, "r4", 2);
}

static void test_prune_keeps_newest_valid(void **state)
{
    fx *f = *state;
    f->task.target.max_copies = 1;
    fill_state0(f, 0, 0);
    save_expected(f, 0, 0);
    ib_backup_result r1, r2;
    backup_ok(f, IB_BACKUP_FULL, &r1);
    assert_int_equal(r1.copies_pruned, 0);
    /* An invalid snapshot newer than every valid copy is not counted and not
     * removed: it may be a copy being inspected by hand. */
    char junk[2 * PATH_MAX];
    snprintf(junk, sizeof junk, "%s/.snapshot/29990101T000000Z-full", f->task_dir);
    mkdirs(junk);
    backup_ok(f, IB_BACKUP_INCREMENTAL, &r2);
    assert_int_equal(r2.copies_pruned, 1); /* r1 */
    assert_true(exists(junk));
    ib_copy_info *c = NULL;
    size_t n = 0;
    ib_err err;
    assert_int_equal(ib_copies_list(&f->task, NULL, &c, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].name, r2.copy);
    assert_true(c[0].valid);
    assert_false(c[1].valid);
    ib_copies_free(c, n);
    assert_restores_to(f, NULL, "r-newest-valid", 0);
}

/* Exact counts of an interrupted run need one sender: with several, the
 * files in flight when the stop comes may still complete. */
static void test_interrupted_first_run_then_repair(void **state)
{
    fx *f = *state;
    f->task.target.parallel_uploads = 1;
    fill_state0(f, 0, 0);
    save_expected(f, 0, 0);
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_INCREMENTAL, 5, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_INTERRUPTED);
    assert_int_equal(res.files_sent, 5);
    assert_int_equal(count_copies(f), 0);
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", f->task_dir, IB_MANIFEST_NAME);
    assert_false(exists(path));

    ib_backup_result again;
    backup_ok(f, IB_BACKUP_INCREMENTAL, &again);
    assert_int_equal(again.type, IB_BACKUP_FULL);
    assert_int_equal(again.files_sent, STATE0_FILES - 5);
    assert_int_equal(count_paths(f->task_dir, IB_STORAGE_TEMP_SUFFIX), 0);
    assert_restores_to(f, again.copy, "r-repaired", 0);
}

static void test_interrupted_incremental_keeps_copies(void **state)
{
    fx *f = *state;
    f->task.target.parallel_uploads = 1;
    ib_backup_result full;
    full_then_grow(f, &full);
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_INCREMENTAL, 3, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_INTERRUPTED);
    assert_int_equal(res.files_sent, 3);
    assert_int_equal(count_copies(f), 1);
    assert_restores_to(f, full.copy, "r-full-intact", 0);

    /* The interrupted run already removed the compacted files. */
    ib_backup_result again;
    backup_ok(f, IB_BACKUP_INCREMENTAL, &again);
    assert_int_equal(again.files_sent, GROW_SENT - 3);
    assert_int_equal(again.files_deleted, 0);
    assert_int_equal(count_copies(f), 2);
    assert_restores_to(f, again.copy, "r-again", 1);
    assert_restores_to(f, full.copy, "r-full-still", 0);
}

/* The live dir is checked before the copy is frozen: a file sent this run
 * and gone, or a kept file changed by another writer, fails the run and
 * freezes nothing; the next run repairs both. */
static void test_check_before_freeze(void **state)
{
    fx *f = *state;
    ib_backup_result full;
    full_then_grow(f, &full);
    events e;
    ib_backup_result res;
    ib_err err;
    ib_engine_events ev = make_events(&e, f);
    e.remove_live = "sequence/root.a/1/1/11-11-0-0.tsfile"; /* new in this run */
    assert_int_equal(backup_with(f, IB_BACKUP_INCREMENTAL, &ev, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_IO);
    assert_non_null(
        strstr(err.msg, "/sequence/root.a/1/1/11-11-0-0.tsfile: missing after sending"));
    assert_non_null(strstr(err.msg, "not frozen"));
    assert_int_equal(count_copies(f), 1);

    ev = make_events(&e, f);
    e.replace_live = "sequence/root.a/1/0/3-3-0-0.tsfile"; /* kept from the full copy */
    assert_int_equal(backup_with(f, IB_BACKUP_INCREMENTAL, &ev, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_IO);
    assert_non_null(
        strstr(err.msg, "/sequence/root.a/1/0/3-3-0-0.tsfile: wrong size after sending"));
    assert_int_equal(count_copies(f), 1);

    ev = make_events(&e, f);
    e.remove_live_dir = "sequence/root.b"; /* a whole directory gone */
    assert_int_equal(backup_with(f, IB_BACKUP_INCREMENTAL, &ev, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_IO);
    assert_non_null(strstr(err.msg, "/sequence/root.b/"));
    assert_non_null(strstr(err.msg, "missing after sending"));
    assert_int_equal(count_copies(f), 1);
    assert_restores_to(f, full.copy, "r-full-intact", 0);

    ib_backup_result again;
    backup_ok(f, IB_BACKUP_INCREMENTAL, &again);
    assert_int_equal(count_copies(f), 2);
    assert_restores_to(f, again.copy, "r-repaired", 1);
    assert_restores_to(f, full.copy, "r-full-still", 0);
}

static void test_restore_detects_damage(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    ib_backup_result res;
    backup_ok(f, IB_BACKUP_FULL, &res);
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/.snapshot/%s/sequence/root.a/1/0/3-3-0-0.tsfile", f->task_dir,
             res.copy);
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    fseek(fp, 100, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, 100, SEEK_SET);
    fputc(c ^ 0x5a, fp);
    fclose(fp);

    char to[PATH_MAX + 16];
    snprintf(to, sizeof to, "%s/damaged", f->root);
    ib_restore_result rr;
    ib_err err;
    assert_int_equal(restore(f, NULL, to, false, NULL, 0, &rr, &err), -1);
    assert_int_equal(err.code, IB_E_CHECKSUM);
    assert_non_null(strstr(err.msg, "sequence/root.a/1/0/3-3-0-0.tsfile"));
    assert_int_equal(count_paths(to, "3-3-0-0.tsfile"), 0);
    assert_int_equal(count_paths(to, ".restore-tmp"), 0);
}

static void test_restore_refuses_non_empty(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    ib_backup_result res;
    backup_ok(f, IB_BACKUP_FULL, &res);
    char to[PATH_MAX + 16], keep[PATH_MAX + 32];
    snprintf(to, sizeof to, "%s/busy", f->root);
    snprintf(keep, sizeof keep, "%s/keep.txt", to);
    write_file(keep, "x", 1, "wb");
    ib_restore_result rr;
    ib_err err;
    assert_int_equal(restore(f, NULL, to, false, NULL, 0, &rr, &err), -1);
    assert_int_equal(err.code, IB_E_RESTORE);
    assert_non_null(strstr(err.msg, "is not empty"));
    assert_non_null(strstr(err.msg, "HINT: use --force"));
    assert_int_equal(count_paths(to, ".tsfile"), 0);

    assert_int_equal(restore(f, NULL, to, true, NULL, 0, &rr, &err), 0);
    assert_int_equal(rr.files, STATE0_FILES);
    assert_true(exists(keep));
}

/* Replace a snapshot's manifest by one whose path leaves the restore dir. */
static void test_restore_rejects_escaping_paths(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    ib_backup_result res;
    backup_ok(f, IB_BACKUP_FULL, &res);
    char path[2 * PATH_MAX], tmp[2 * PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/.snapshot/%s/%s", f->task_dir, res.copy, IB_MANIFEST_NAME);
    snprintf(tmp, sizeof tmp, "%s.new", path);
    /* sed writes a new file and renames it: the hard-linked live manifest
     * keeps its content. */
    assert_int_equal(sh("sed 's#\"sequence/root.a/1/0/3-3-0-0.tsfile\"#\"../../escape.tsfile\"#' "
                        "%s > %s && mv %s %s && grep -q escape %s",
                        path, tmp, tmp, path, path),
                     0);
    char to[PATH_MAX + 16];
    snprintf(to, sizeof to, "%s/r/x", f->root);
    ib_restore_result rr;
    ib_err err;
    assert_int_equal(restore(f, res.copy, to, false, NULL, 0, &rr, &err), -1);
    assert_int_equal(err.code, IB_E_MANIFEST);
    char escaped[PATH_MAX + 32];
    snprintf(escaped, sizeof escaped, "%s/escape.tsfile", f->root);
    assert_false(exists(escaped));
    assert_int_equal(count_paths(f->root, "escape.tsfile"), 0);
}

static void test_restore_one_database(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    ib_backup_result res;
    backup_ok(f, IB_BACKUP_FULL, &res);
    char to[PATH_MAX + 16];
    snprintf(to, sizeof to, "%s/only-b", f->root);
    const char *dbs[] = {"root.b"};
    ib_restore_result rr;
    ib_err err;
    assert_int_equal(restore(f, NULL, to, false, dbs, 1, &rr, &err), 0);
    assert_int_equal(rr.files, 3);
    assert_int_equal(count_paths(to, "root.a"), 0);
    assert_int_equal(sh("diff -r %s/sequence/root.b %s/sequence/root.b", to, f->data[0]), 0);

    const char *none[] = {"root.zzz"};
    snprintf(to, sizeof to, "%s/none", f->root);
    assert_int_equal(restore(f, NULL, to, false, none, 1, &rr, &err), -1);
    assert_int_equal(err.code, IB_E_RESTORE);
    assert_non_null(strstr(err.msg, "root.zzz"));
}

static void test_load_needs_rest(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    ib_backup_result res;
    backup_ok(f, IB_BACKUP_FULL, &res);
    char to[PATH_MAX + 16];
    snprintf(to, sizeof to, "%s/load", f->root);
    ib_restore_request req = {.task = &f->task, .to_dir = to, .load = true};
    ib_restore_result rr;
    ib_err err;
    assert_int_equal(ib_restore_run(&req, NULL, &rr, &err), -1);
    assert_int_equal(err.code, IB_E_RESTORE);
    assert_non_null(strstr(err.msg, "--load needs source.rest"));
    assert_false(exists(to));
}

static void test_missing_data_dir(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    assert_int_equal(sh("rm -rf %s", f->data[0]), 0);
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_FULL, 0, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_MISSING);
    assert_non_null(strstr(err.msg, f->data[0]));
}

static void test_missing_database(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    f->dbs[0] = "root.nope";
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_FULL, 0, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_MISSING);
    assert_non_null(strstr(err.msg, "root.nope"));
}

/* A named database whose directory holds no sealed TsFile (no REST, so no
 * flush) fails the run before the target is touched; one only a pattern
 * matched is a warning. */
static void test_named_database_without_files(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    make_tsfile(f, 0, "sequence/root.e/4/0/1-1-0-0.tsfile", 900, 9);    /* working */
    make_tsfile(f, 0, "unsequence/root.p/5/0/1-1-0-0.tsfile", 900, 10); /* working */
    char *dbs[] = {"root.a", "root.e"};
    f->task.source.databases = dbs;
    f->task.source.n_databases = 2;
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_FULL, 0, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_MISSING);
    assert_non_null(strstr(err.msg, "database \"root.e\" has no sealed TsFiles"));
    assert_non_null(strstr(err.msg, f->data[0]));
    assert_non_null(strstr(err.msg, "HINT"));
    assert_false(exists(f->task_dir));

    f->task.source.n_databases = 1;
    f->patterns[0] = "^root\\.(b|p)$";
    assert_int_equal(backup(f, IB_BACKUP_FULL, 0, &e, &res, &err), 0);
    assert_int_equal(res.files_total, STATE0_FILES);
    assert_non_null(strstr(e.log, "database root.p has no sealed TsFiles"));
}

/* A directory where a sealed TsFile should be: the run must fail clearly and
 * leave the earlier copy alone. */
static void test_unreadable_source_file(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    save_expected(f, 0, 0);
    ib_backup_result full;
    backup_ok(f, IB_BACKUP_FULL, &full);
    char path[PATH_MAX], res_path[PATH_MAX + 16];
    data_path(f, 0, "sequence/root.a/1/1/20-20-0-0.tsfile", path);
    mkdirs(path);
    snprintf(res_path, sizeof res_path, "%s.resource", path);
    write_file(res_path, "r\n", 2, "wb");
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_INCREMENTAL, 0, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_SOURCE_READ);
    assert_non_null(strstr(err.msg, "20-20-0-0.tsfile"));
    assert_int_equal(count_copies(f), 1);
    assert_restores_to(f, full.copy, "r-intact", 0);
}

static void test_target_out_of_space(void **state)
{
    fx *f = *state;
    /* In a private mount namespace the tmpfs goes away with this process,
     * even if it is killed; without one, teardown unmounts it. */
    if (unshare(CLONE_NEWNS) == 0)
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
    if (mount("tmpfs", f->target, "tmpfs", 0, "size=1m") != 0) {
        print_message("skipped: cannot mount a tmpfs (%s)\n", strerror(errno));
        skip();
    }
    f->mounted = true;
    fill_state0(f, 0, 0);
    save_expected(f, 0, 0);
    ib_backup_result full;
    backup_ok(f, IB_BACKUP_FULL, &full);
    make_sealed(f, 0, "sequence/root.a/1/1/30-30-0-0.tsfile", 1500000, 31, false);
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_INCREMENTAL, 0, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_TARGET_SPACE);
    assert_non_null(strstr(err.msg, "30-30-0-0.tsfile"));
    assert_int_equal(count_copies(f), 1);
    assert_int_equal(count_paths(f->task_dir, IB_STORAGE_TEMP_SUFFIX), 0);
    assert_restores_to(f, full.copy, "r-before-full", 0);
}

static void test_several_data_dirs(void **state)
{
    fx *f = *state;
    fx_task(f, 2);
    fill_state0(f, 0, 0);
    fill_state0(f, 1, 0);
    make_sealed(f, 1, "sequence/root.a/1/0/77-77-0-0.tsfile", 1000, 77, false);
    save_expected(f, 0, 0);
    save_expected(f, 1, 0);
    ib_backup_result res;
    backup_ok(f, IB_BACKUP_FULL, &res);
    assert_int_equal(res.files_total, 2 * STATE0_FILES + 2);
    char path[2 * PATH_MAX];
    snprintf(path, sizeof path, "%s/1/sequence/root.a/1/0/77-77-0-0.tsfile", f->task_dir);
    assert_true(exists(path));
    char to[PATH_MAX + 16];
    snprintf(to, sizeof to, "%s/multi", f->root);
    ib_restore_result rr;
    ib_err err;
    assert_int_equal(restore(f, NULL, to, false, NULL, 0, &rr, &err), 0);
    assert_int_equal(sh("diff -r %s/0 %s/expected-0-0", to, f->root), 0);
    assert_int_equal(sh("diff -r %s/1 %s/expected-1-0", to, f->root), 0);
}

static void test_copies_list(void **state)
{
    fx *f = *state;
    ib_copy_info *c = NULL;
    size_t n = 0;
    ib_err err;
    assert_int_equal(ib_copies_list(&f->task, NULL, &c, &n, &err), -1);
    assert_int_equal(err.code, IB_E_COPY_NOT_FOUND);

    fill_state0(f, 0, 0);
    ib_backup_result a, b;
    backup_ok(f, IB_BACKUP_FULL, &a);
    grow(f, 0);
    backup_ok(f, IB_BACKUP_INCREMENTAL, &b);
    /* An older task directory of the same name is ignored: newest wins. */
    char old[PATH_MAX + 64];
    snprintf(old, sizeof old, "%s/nightly_IoTDB_20200101000000", f->target);
    mkdirs(old);
    assert_int_equal(ib_copies_list(&f->task, NULL, &c, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(c[0].name, a.copy);
    assert_string_equal(c[0].backup_type, "full");
    assert_int_equal(c[0].files, STATE0_FILES);
    assert_true(c[0].valid);
    assert_string_equal(c[1].name, b.copy);
    assert_string_equal(c[1].backup_type, "incremental");
    assert_int_equal(c[1].files, STATE1_FILES);
    assert_true(c[1].bytes > 0);
    assert_true(c[1].start <= c[1].end);
    ib_copies_free(c, n);

    assert_int_equal(ib_copies_list(&f->task, "nightly_IoTDB_19990101000000", &c, &n, &err), -1);
    assert_int_equal(err.code, IB_E_COPY_NOT_FOUND);
}

static int verify(fx *f, events *e, ib_err *err)
{
    ib_engine_events ev = make_events(e, f);
    ib_err_clear(err);
    return ib_verify_task(&f->task, NULL, &ev, err);
}

static void test_verify(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    events e;
    ib_err err;
    int problems = verify(f, &e, &err);
    if (problems != 0)
        fail_msg("verify found %d problems:\n%s", problems, e.log);
    assert_null(strstr(e.log, "<3>"));
    /* Nothing left behind, no task directory created. */
    assert_int_equal(count_paths(f->target, "verify"), 0);
    assert_false(exists(f->task_dir));

    ib_backup_result res;
    backup_ok(f, IB_BACKUP_FULL, &res);
    assert_int_equal(verify(f, &e, &err), 0);
    assert_non_null(strstr(e.log, "1 copies"));
    assert_int_equal(count_paths(f->target, "verify"), 0);

    /* Three problems, each on its own line with a hint. */
    f->dbs[0] = "root.nope";
    f->patterns[0] = "^nothing$";
    char missing_target[PATH_MAX + 16];
    snprintf(missing_target, sizeof missing_target, "%s/not-mounted", f->root);
    f->task.target.target_path = missing_target;
    char bad_dir[PATH_MAX + 16];
    snprintf(bad_dir, sizeof bad_dir, "%s/no-such-data", f->root);
    f->dirs[1] = bad_dir;
    f->task.source.n_data_dirs = 2;
    problems = verify(f, &e, &err);
    if (problems != 3)
        fail_msg("verify found %d problems, expected 3:\n%s", problems, e.log);
    int lines = 0;
    for (const char *p = e.log; (p = strstr(p, "<3>")) != NULL; p++) {
        const char *nl = strchr(p, '\n');
        const char *hint = strstr(p, "HINT:");
        assert_non_null(hint);
        assert_true(hint < nl);
        lines++;
    }
    assert_int_equal(lines, 3);
    assert_non_null(strstr(e.log, "root.nope"));
    assert_non_null(strstr(e.log, "<4>database pattern"));
    assert_non_null(strstr(e.log, bad_dir));
    assert_non_null(strstr(e.log, missing_target));
    assert_false(exists(missing_target));
}

static void test_copy_names_unique(void **state)
{
    fx *f = *state;
    fill_state0(f, 0, 0);
    f->task.target.max_copies = 10;
    ib_backup_result r[4];
    for (int i = 0; i < 4; i++)
        backup_ok(f, IB_BACKUP_INCREMENTAL, &r[i]);
    for (int i = 1; i < 4; i++)
        assert_true(ib_copy_name_cmp(r[i - 1].copy, r[i].copy) < 0);
    assert_int_equal(count_copies(f), 4);
}

/* ---- parallel sends ---- */

/* MANY_SEALED sealed TsFiles (with resources, every fifth with mods) over
 * several partitions of root.a and root.b; a few span several chunks. */
#define MANY_SEALED 60
static int fill_many(fx *f)
{
    int files = 0;
    for (int i = 0; i < MANY_SEALED; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "sequence/%s/1/%d/%d-%d-0-0.tsfile", i % 3 ? "root.a" : "root.b",
                 i % 4, 100 + i, 100 + i);
        size_t size = i % 20 == 7 ? ((size_t)2 << 20) + 12345 : 1000 + (size_t)i * 997;
        make_sealed(f, 0, rel, size, 1000u + (unsigned)i, i % 5 == 0);
        files += i % 5 == 0 ? 3 : 2;
    }
    return files;
}

/* Point the task at another target directory. */
static void use_target(fx *f, const char *name)
{
    snprintf(f->target, sizeof f->target, "%s/%s", f->root, name);
    mkdirs(f->target);
    char dir[128];
    ib_engine_task_dir_name("nightly", CREATED_AT, dir, sizeof dir);
    snprintf(f->task_dir, sizeof f->task_dir, "%s/%s", f->target, dir);
}

static void test_parallel_same_copy(void **state)
{
    fx *f = *state;
    int n = fill_many(f);
    save_expected(f, 0, 0);
    ib_manifest m[2];
    char trees[2][PATH_MAX];
    const int senders[2] = {1, 8};
    for (int k = 0; k < 2; k++) {
        use_target(f, k ? "target-8" : "target-1");
        f->task.target.parallel_uploads = senders[k];
        ib_backup_result res;
        backup_ok(f, IB_BACKUP_FULL, &res);
        assert_int_equal(res.files_total, n);
        assert_int_equal(res.files_sent, n);
        char path[2 * PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", f->task_dir, IB_MANIFEST_NAME);
        read_manifest_file(path, &m[k]);
        snprintf(trees[k], sizeof trees[k], "%s", f->task_dir);
        assert_int_equal(count_paths(f->task_dir, IB_STORAGE_TEMP_SUFFIX), 0);
        assert_restores_to(f, res.copy, k ? "r-8" : "r-1", 0);
    }
    /* The same entries in the same (sorted) order, whatever the senders. */
    assert_int_equal(m[0].n_files, (size_t)n);
    assert_int_equal(m[1].n_files, m[0].n_files);
    for (size_t i = 0; i < m[0].n_files; i++) {
        assert_string_equal(m[1].files[i].path, m[0].files[i].path);
        assert_int_equal(m[1].files[i].size, m[0].files[i].size);
        assert_int_equal(m[1].files[i].crc32c, m[0].files[i].crc32c);
        assert_int_equal(m[1].files[i].mtime_ms, m[0].files[i].mtime_ms);
        if (i > 0)
            assert_true(strcmp(m[0].files[i - 1].path, m[0].files[i].path) < 0);
    }
    ib_manifest_free(&m[0]);
    ib_manifest_free(&m[1]);
    assert_int_equal(sh("diff -r -x .snapshot -x %s %s %s", IB_MANIFEST_NAME, trees[0], trees[1]),
                     0);
}

/* A staged file cut short once sending has started, among many good files
 * sent by 8 senders: the run fails with that file's error and makes no
 * copy. */
static void test_parallel_failing_file(void **state)
{
    fx *f = *state;
    fill_many(f);
    f->task.target.parallel_uploads = 8;
    events e;
    ib_engine_events ev = make_events(&e, f);
    e.truncate_staged = "130-130-0-0.tsfile";
    ib_backup_request req = {.task = &f->task,
                             .created_at = CREATED_AT,
                             .run_id = ++f->run_id,
                             .type = IB_BACKUP_FULL,
                             .staging_root = f->staging};
    ib_backup_result res;
    ib_err err;
    assert_int_equal(ib_backup_run(&req, &ev, &res, &err), -1);
    assert_null(e.truncate_staged); /* it was cut */
    assert_int_equal(err.code, IB_E_SOURCE_READ);
    assert_non_null(strstr(err.msg, "130-130-0-0.tsfile"));
    assert_non_null(strstr(err.msg, "source ended after 10 of"));
    assert_true(res.files_sent < res.files_total);
    assert_int_equal(count_copies(f), 0);
    char manifest[2 * PATH_MAX];
    snprintf(manifest, sizeof manifest, "%s/%s", f->task_dir, IB_MANIFEST_NAME);
    assert_false(exists(manifest));
    assert_int_equal(count_paths(f->task_dir, IB_STORAGE_TEMP_SUFFIX), 0);
    char live[2 * PATH_MAX];
    snprintf(live, sizeof live, "%s/sequence/root.b/1/2/130-130-0-0.tsfile", f->task_dir);
    assert_false(exists(live));
}

/* A stop while 8 senders are busy: E_INTERRUPTED, no copy, no temporary
 * files; the next run completes the copy. */
static void test_parallel_interrupt(void **state)
{
    fx *f = *state;
    int n = fill_many(f);
    save_expected(f, 0, 0);
    f->task.target.parallel_uploads = 8;
    events e;
    ib_backup_result res;
    ib_err err;
    assert_int_equal(backup(f, IB_BACKUP_FULL, 10, &e, &res, &err), -1);
    assert_int_equal(err.code, IB_E_INTERRUPTED);
    assert_true(res.files_sent >= 10);
    assert_true(res.files_sent < n);
    assert_int_equal(count_copies(f), 0);
    assert_int_equal(count_paths(f->task_dir, IB_STORAGE_TEMP_SUFFIX), 0);

    ib_backup_result again;
    backup_ok(f, IB_BACKUP_INCREMENTAL, &again);
    assert_int_equal(again.files_sent, n - res.files_sent);
    assert_restores_to(f, again.copy, "r-after-stop", 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_dir_name),
        cmocka_unit_test(test_copy_name_order),
        cmocka_unit_test(test_copy_name_next),
        cmocka_unit_test_setup_teardown(test_full_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_without_previous_is_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_incremental_after_grow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explicit_full_rewrites, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_newest_valid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_first_run_then_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_incremental_keeps_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_before_freeze, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_detects_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_refuses_non_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_rejects_escaping_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_one_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_needs_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_data_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_named_database_without_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreadable_source_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_out_of_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_data_dirs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copies_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_names_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_same_copy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_failing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_interrupt, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
