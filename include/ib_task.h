/* Task files: parsing and validation of <config-dir>/tasks.d/<name>.json. */
#ifndef IB_TASK_H
#define IB_TASK_H

#include "ib_diag.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IB_TASK_NAME_MAX 64

typedef enum ib_mode { IB_MODE_PERIODIC, IB_MODE_MANUAL } ib_mode;
typedef enum ib_unit { IB_UNIT_MINUTES, IB_UNIT_HOURS, IB_UNIT_DAYS } ib_unit;
typedef enum ib_policy {
    IB_POLICY_FULL_THEN_INCREMENTAL, /* "full-then-incremental" */
    IB_POLICY_FULL_EVERY_TIME,       /* "full-every-time" */
    IB_POLICY_FULL_EVERY_N,          /* "full-every-n" with full_every */
} ib_policy;
typedef enum ib_catch_up { IB_CATCH_UP_ONCE, IB_CATCH_UP_SKIP } ib_catch_up;
typedef enum ib_target_type { IB_TARGET_LOCALDIR, IB_TARGET_REMOTEHDFS } ib_target_type;
typedef enum ib_auth_mode { IB_AUTH_SIMPLE, IB_AUTH_KERBEROS } ib_auth_mode;

/* A civil time as written in "started". When has_offset is false it is a
 * local time in the system zone (TZ honoured), resolved by the scheduler. */
typedef struct ib_civil_time {
    int year, month, day; /* month 1..12, day 1..31 */
    int hour, minute, second;
    bool has_offset;
    int offset_seconds; /* east of UTC, with has_offset */
} ib_civil_time;

typedef struct ib_schedule {
    ib_civil_time started;
    int64_t every; /* >= 1 */
    ib_unit unit;
} ib_schedule;

typedef struct ib_rest_source {
    char *url;           /* "http://127.0.0.1:18080" */
    char *user;          /* default "root" */
    char *password_file; /* file holding the password (first line) */
} ib_rest_source;

typedef struct ib_source {
    char **data_dirs;
    size_t n_data_dirs;
    char **databases;
    size_t n_databases;
    char **database_patterns; /* POSIX extended regexes, validated to compile */
    size_t n_database_patterns;
    ib_rest_source *rest; /* NULL when absent */
} ib_source;

typedef struct ib_target {
    ib_target_type type;
    char *target_path; /* absolute */
    int max_copies;    /* 1..65536 */
    double max_bandwidth_mbps; /* 0 = unlimited */
    /* RemoteHDFS only (NULL / 0 for LocalDir): */
    char *nameservice;
    bool ipv6; /* ip_mode "IPv6" */
    char *active_namenode;
    char *standby_namenode; /* optional */
    int namenode_rpc_port;  /* default 8020 */
    int namenode_http_port; /* default 9870 */
    bool tls;
    char *ca_file;
    int parallel_uploads; /* default 4 */
    ib_auth_mode auth_mode;
    char *auth_user;      /* simple */
    char *auth_principal; /* kerberos */
    char *auth_keytab;    /* kerberos */
} ib_target;

typedef struct ib_task {
    char name[IB_TASK_NAME_MAX + 1];
    char *file; /* path as shown to the user */
    ib_mode mode;
    bool has_schedule; /* periodic tasks */
    ib_schedule schedule;
    ib_policy policy;
    int full_every; /* with IB_POLICY_FULL_EVERY_N, >= 2 */
    ib_catch_up catch_up;
    bool cluster_security; /* cluster_mode "security" */
    ib_source source;
    ib_target target;
    /* The definition re-serialised with sorted keys and no whitespace: equal
     * strings mean equal tasks. Stored in the state store and handed to
     * workers, which parse it with ib_task_parse. */
    char *canonical_json;
} ib_task;

/* True for a valid task name: [A-Za-z0-9_-]{1,64}. */
bool ib_task_name_valid(const char *name);

/* True for a file name in tasks.d that is a task file: "*.json", not a
 * dotfile, not "*~", "*.swp", "*.dpkg-*". */
bool ib_task_file_counts(const char *filename);

/* Parse and validate one task from text. display_path names the file in
 * diagnostics; name is the task name (file stem). Every problem is added to
 * diags. Returns 0 and sets *out (caller frees with ib_task_free) when there
 * is no error (warnings may still be added); -1 otherwise with *out NULL. */
int ib_task_parse(const char *name, const char *display_path, const char *text, size_t len,
                  ib_task **out, ib_diags *diags);

/* Read path and parse it; the task name is the file stem of path. */
int ib_task_load_file(const char *path, const char *display_path, ib_task **out,
                      ib_diags *diags);

void ib_task_free(ib_task *task);

typedef struct ib_taskset {
    ib_task **items; /* sorted by name */
    size_t len;
} ib_taskset;

/* Load every task file of <config_dir>/tasks.d. Valid tasks go into out,
 * every problem into diags (file names shown as "tasks.d/<file>"). A missing
 * tasks.d is an empty set, not an error. Returns the number of invalid files
 * (0 when all are valid), or -1 when the directory cannot be read. */
int ib_taskset_load(const char *config_dir, ib_taskset *out, ib_diags *diags);
void ib_taskset_free(ib_taskset *set);
const ib_task *ib_taskset_find(const ib_taskset *set, const char *name);

/* The backup type the policy asks for, given the successful incremental runs
 * since the last successful full one (-1: none yet). full-every-n: a full
 * every n-th run counted from the last full. Returns 0 full, 1 incremental
 * (the values of ib_backup_type in ib_store.h). */
int ib_task_policy_type(const ib_task *task, int64_t runs_since_full);

/* Names for enums as written in task files ("periodic", "full-every-n", ...). */
const char *ib_mode_name(ib_mode m);
const char *ib_policy_name(ib_policy p);
const char *ib_unit_name(ib_unit u);
const char *ib_target_type_name(ib_target_type t);

#endif
