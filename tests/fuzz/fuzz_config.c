/* Fuzz target: the daemon settings file (ib_config_load). It reads
 * <config-dir>/iotdb-backupd.conf, so each input is written to that file in
 * a private directory made once per process (libFuzzer's interface leaves
 * no other place for it) and removed at exit. Checks: diagnostics are one
 * printable line each; a valid file gives values within their documented
 * ranges; an invalid one leaves the defaults. */
#include "fuzz_util.h"

#include "ib_config.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <unistd.h>

static char dir_path[256];
static char file_path[300];

static void remove_dir(void)
{
    unlink(file_path);
    rmdir(dir_path);
}

static const char *config_dir(void)
{
    if (dir_path[0])
        return dir_path;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir_path, sizeof dir_path, "%s/ib-fuzz-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir_path))
        fuzz_fail(__FILE__, __LINE__, "mkdtemp");
    snprintf(file_path, sizeof file_path, "%s/iotdb-backupd.conf", dir_path);
    atexit(remove_dir);
    return dir_path;
}

static void write_input(const uint8_t *data, size_t size)
{
    int fd = open(file_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        fuzz_fail(__FILE__, __LINE__, "open");
    for (size_t off = 0; off < size;) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0)
            fuzz_fail(__FILE__, __LINE__, "write");
        off += (size_t)n;
    }
    close(fd);
}

static void check_valid(const ib_config *c)
{
    FUZZ_CHECK(c->max_parallel_runs >= 1 && c->max_parallel_runs <= 64);
    FUZZ_CHECK(c->log_level >= 0 && c->log_level <= 7);
    FUZZ_CHECK(isfinite(c->max_bandwidth_mbps) && c->max_bandwidth_mbps >= 0);
    FUZZ_CHECK(c->shutdown_timeout_s >= 1 && c->shutdown_timeout_s <= 3600);
    FUZZ_CHECK(!c->staging_dir || (c->staging_dir[0] == '/' && strlen(c->staging_dir) < PATH_MAX));
}

static void check_defaults(const ib_config *c)
{
    FUZZ_CHECK(c->max_parallel_runs == 2);
    FUZZ_CHECK(c->log_level == 6);
    FUZZ_CHECK(c->staging_dir == NULL);
    FUZZ_CHECK(c->max_bandwidth_mbps == 0);
    FUZZ_CHECK(c->shutdown_timeout_s == 30);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir = config_dir();
    write_input(data, size);
    ib_diags diags;
    ib_diags_init(&diags);
    ib_config cfg;
    int rc = ib_config_load(dir, &cfg, &diags);
    fuzz_check_diags(&diags);
    FUZZ_CHECK((rc == 0) == (ib_diags_errors(&diags) == 0));
    if (rc == 0)
        check_valid(&cfg);
    else
        check_defaults(&cfg);
    ib_config_free(&cfg);
    ib_diags_free(&diags);
    return 0;
}
