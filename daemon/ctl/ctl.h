/* iotdb-backupctl: the control CLI. Shared options and the commands. */
#ifndef IB_CTL_H
#define IB_CTL_H

#include <stdio.h>

/* Exit codes (docs/control-protocol.md). */
enum { CTL_EXIT_OK = 0, CTL_EXIT_FAIL = 1, CTL_EXIT_USAGE = 2 };

/* Timeout for connecting and for each answer of a non-waiting command. */
#define CTL_TIMEOUT_MS 30000

typedef struct ctl_opts {
    const char *runtime_dir; /* --runtime-dir, $RUNTIME_DIRECTORY, /run/iotdb-backupd */
    const char *config_dir;  /* --config-dir, $CONFIGURATION_DIRECTORY, /etc/iotdb-backupd */
    const char *state_dir;   /* --state-dir, $STATE_DIRECTORY, /var/lib/iotdb-backupd */
    char socket_path[4096];  /* <runtime_dir>/control.sock */
} ctl_opts;

/* Each command gets its own argv (argv[0] is the command name) and returns
 * an exit code. */
int ctl_cmd_status(const ctl_opts *o, int argc, char **argv);
int ctl_cmd_run(const ctl_opts *o, int argc, char **argv);
int ctl_cmd_reload(const ctl_opts *o, int argc, char **argv);
int ctl_cmd_check_config(const ctl_opts *o, int argc, char **argv);
int ctl_cmd_copies(const ctl_opts *o, int argc, char **argv);
int ctl_cmd_restore(const ctl_opts *o, int argc, char **argv);
int ctl_cmd_verify(const ctl_opts *o, int argc, char **argv);

/* Print "iotdb-backupctl: <msg>" and a pointer to --help on stderr; returns
 * CTL_EXIT_USAGE. */
int ctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "iotdb-backupctl: <msg>" on stderr. */
void ctl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print the usage of one command (or all when cmd is NULL) on out. */
void ctl_print_usage(FILE *out, const char *cmd);

#endif
