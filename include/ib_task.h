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
    char *target_path;         /* absolute */
    int max_copies;            /* 1..65536 */
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
    int parallel_uploads; /* files sent at once, any path type; default 4 (1..64) */
    int retry_attempts;   /* per request, default 10 (IB_RETRY_ATTEMPTS_DEFAULT) */
    int retry_max_wait_s; /* longest wait between attempts, default 15 */
    int stall_timeout_s;  /* a transfer without progress this long fails, default 60 */
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
int ib_task_load_file(const char *path, const char *display_path, ib_task **out, ib_diags *diags);

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

/* ---- Decisions for optional keys (lib/task.c) ----
 * policy defaults to "full-then-incremental", cluster_mode to "normal",
 * catch_up to "once" (periodic tasks only); "started", "period" and
 * "catch_up" are errors on manual tasks. RemoteHDFS: ip_mode defaults to
 * "IPv4", namenode_rpc_port to 8020, namenode_http_port to 9870,
 * retry_attempts to 10 (1..100), retry_max_wait_s
 * to 15 (1..3600), stall_timeout_s to 60 (1..3600), tls to false (true
 * with an https:// NameNode URL); addresses are stored without IPv6
 * brackets (URLs "http(s)://HOST[:PORT]" keep them). target.parallel_uploads defaults to 4 for
 * every path type; target.max_bandwidth_mbps 0 (or absent) means "the daemon's setting".
 * target_path is stored without repeated or trailing '/'. source.rest needs url and password_file;
 * user defaults to "root". */

#define IB_RETRY_ATTEMPTS_DEFAULT 10
#define IB_RETRY_MAX_WAIT_S_DEFAULT 15
#define IB_STALL_TIMEOUT_S_DEFAULT 60

/* Largest task or settings file that is read (bigger files are an error). */
#define IB_TASK_FILE_MAX (1024 * 1024)

/* Read a whole small file (at most limit bytes) into a malloc'd
 * NUL-terminated buffer. On failure err names the path and cause and, if
 * missing is not NULL, *missing tells whether the file does not exist. */
int ib_read_small_file(const char *path, size_t limit, char **text, size_t *len, bool *missing,
                       ib_err *err);

/* Quote a value for a one-line message: C-style escapes for '"', '\' and
 * every byte outside printable ASCII, cut after 80 bytes with "..." after
 * the closing quote. Returns buf. */
#define IB_QUOTE_MAX 400
const char *ib_quote(const char *s, char *buf, size_t n);

/* JSON pointer (RFC 6901) of member key under parent; hostile keys are
 * escaped like ib_quote and cut so the pointer stays one short line. */
#define IB_POINTER_MAX 256
void ib_json_pointer(char *buf, size_t n, const char *parent, const char *key);

/* Checking of a JSON configuration file, shared by task files and
 * iotdb-backupd.conf: every problem becomes a diagnostic, up to
 * IB_JCHECK_MAX_ERRORS per file (then one "too many errors" line). */
#define IB_JCHECK_MAX_ERRORS 100
struct cJSON;
typedef struct ib_jcheck {
    ib_diags *diags;
    const char *file;    /* as shown to the user */
    ib_code syntax_code; /* code of JSON syntax errors */
    ib_code field_code;  /* code of field errors */
    size_t errors;       /* errors added through this checker */
} ib_jcheck;

void ib_jcheck_init(ib_jcheck *c, ib_diags *diags, const char *file, ib_code syntax_code,
                    ib_code field_code);
/* ptr NULL: about the whole file. */
void ib_jcheck_error(ib_jcheck *c, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ib_jcheck_warning(ib_jcheck *c, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse text (len bytes, NUL bytes refused) into a tree the caller frees
 * with cJSON_Delete. Syntax errors are reported at line:column; duplicate
 * keys are reported too, but the tree is still returned. NULL when there is
 * nothing to check further (syntax error, root not an object). */
struct cJSON *ib_jcheck_parse(ib_jcheck *c, const char *text, size_t len);

/* Report every member of obj whose key is not in known, suggesting the
 * closest known key when it is at most two edits away. */
void ib_jcheck_keys(ib_jcheck *c, const struct cJSON *obj, const char *ptr,
                    const char *const *known, size_t n_known);

/* Typed members of obj (ptr is obj's pointer). Each returns 1 when the key
 * is present and valid (*out set), 0 when absent and not required (*out
 * untouched), -1 when a problem was reported. Strings must be non-empty and
 * free of control characters; *out points into the tree. */
int ib_jcheck_string(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                     bool required, const char **out);
int ib_jcheck_int(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                  bool required, int64_t min, int64_t max, int64_t *out);
/* A finite number >= min. */
int ib_jcheck_number(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                     bool required, double min, double *out);
int ib_jcheck_bool(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                   bool required, bool *out);
/* One of names; *out is its index. */
int ib_jcheck_enum(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                   bool required, const char *const *names, size_t n_names, int *out);
/* An absolute local path. */
int ib_jcheck_abs_path(ib_jcheck *c, const struct cJSON *obj, const char *ptr, const char *key,
                       bool required, const char **out);

#endif
