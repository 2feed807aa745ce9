/* Daemon settings: <config-dir>/iotdb-backupd.conf (JSON, optional). */
#ifndef IB_CONFIG_H
#define IB_CONFIG_H

#include "ib_diag.h"
#include <stdio.h>

typedef struct ib_config {
    int max_parallel_runs;       /* default 2, 1..64 */
    int log_level;               /* syslog priority, default 6 (info); "debug".."err" in the file */
    char *staging_dir;           /* NULL: <state-dir>/staging */
    double max_bandwidth_mbps;   /* default for tasks; 0 = unlimited */
    int shutdown_timeout_s;      /* how long SIGTERM waits for workers, default 30 */
    int progress_log_interval_s; /* journal progress line of a running run; 0 = off; default 30 */
    char *metrics_file;          /* Prometheus text-format file (absolute); NULL = off */
} ib_config;

/* Defaults, then <config_dir>/iotdb-backupd.conf if it exists. Problems go
 * into diags ("iotdb-backupd.conf: /max_parallel_runs: ..."). Returns 0 when
 * valid, -1 otherwise (out then holds defaults). */
int ib_config_load(const char *config_dir, ib_config *out, ib_diags *diags);
void ib_config_free(ib_config *cfg);

/* The whole configuration check behind `iotdb-backupd --check-config` and
 * `iotdb-backupctl check-config`: the daemon settings and every task file.
 * Every problem goes into diags; *n_tasks receives the number of valid
 * tasks. Returns the number of errors (0: the configuration is valid). */
int ib_check_config(const char *config_dir, ib_diags *diags, size_t *n_tasks);

/* Print every diagnostic, one per line, then "configuration OK: N task(s)"
 * or "configuration has N error(s)". */
void ib_check_config_print(const ib_diags *diags, size_t n_tasks, FILE *out);

#endif
