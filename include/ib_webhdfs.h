/* RemoteHDFS: the storage driver over WebHDFS (lib/storage_webhdfs.c). */
#ifndef IB_WEBHDFS_H
#define IB_WEBHDFS_H

#include "ib_error.h"
#include "ib_storage.h"
#include "ib_task.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Open the driver for a RemoteHDFS target: NameNode URLs from
 * active_namenode / standby_namenode ("host", "1.2.3.4", "::1", "[::1]:9870",
 * "https://nn1.example:9871"), namenode_http_port, tls, ca_file, ipv6,
 * auth (simple user.name, or kerberos SPNEGO), parallel_uploads, and the
 * retry budget retry_attempts / retry_max_wait_s (0: the defaults below).
 * bandwidth_mbps caps upload speed (0 = unlimited). state_dir holds private
 * state (the Kerberos credential cache); may be NULL for simple auth. No
 * network traffic happens here. */
int ib_storage_webhdfs_new(const ib_target *target, double bandwidth_mbps, const char *state_dir,
                           ib_storage **out, ib_err *err);

/* Retry and timeout settings (defaults as Hadoop's client: 10 attempts,
 * backoff 500 ms doubling up to 15 s with jitter, 20 s connect timeout,
 * 60 s without progress ends a transfer). A target's retry_attempts sets
 * max_attempts, its retry_max_wait_s backoff_cap_ms. Tests shorten them.
 * Every retry, wait and failover is told through ib_storage_notice (kind
 * "retrying"). */
typedef struct ib_webhdfs_tuning {
    int max_attempts;       /* per operation, >= 1 */
    int backoff_base_ms;    /* first wait; doubles per retry */
    int backoff_cap_ms;     /* longest wait */
    int connect_timeout_ms; /* per connection attempt */
    int stall_timeout_s;    /* a transfer without progress this long fails */
    bool verify_checksum;   /* compare GETFILECHECKSUM after each upload */
} ib_webhdfs_tuning;

void ib_webhdfs_default_tuning(ib_webhdfs_tuning *t);
/* s must come from ib_storage_webhdfs_new. Call before the handle is
 * shared between threads: operations read the tuning without a lock. */
void ib_webhdfs_set_tuning(ib_storage *s, const ib_webhdfs_tuning *t);
/* The tuning in effect (defaults, the target's retry keys, set_tuning). */
void ib_webhdfs_get_tuning(ib_storage *s, ib_webhdfs_tuning *out);

/* Index (0 active_namenode, 1 standby_namenode) of the NameNode that last
 * answered as active. */
int ib_webhdfs_active_namenode(ib_storage *s);

/* ---- checks for verify ---- */

typedef struct ib_webhdfs_namenode {
    char name[300];             /* "host:port" */
    bool reachable;             /* it answered HTTP */
    bool active;                /* it did not answer StandbyException */
    bool has_clock;             /* it sent a Date header */
    int64_t clock_skew_ms;      /* its clock minus ours (Date has whole seconds) */
    char error[IB_ERR_MSG_MAX]; /* why it cannot be used, "" when fine */
} ib_webhdfs_namenode;

/* Ask each configured NameNode once (no failover, no retry) whether it is
 * active, and for its clock. Fills out[0..n-1] and returns n (1 or 2), -1
 * on out of memory. An active one becomes the one the driver uses first. */
int ib_webhdfs_probe(ib_storage *s, ib_webhdfs_namenode out[2], ib_err *err);

typedef struct ib_webhdfs_space {
    int64_t length;         /* bytes of the files */
    int64_t space_consumed; /* with replication */
    int64_t space_quota;    /* bytes, -1 none */
    int64_t ns_quota;       /* files + directories, -1 none */
    int64_t ns_count;       /* files + directories */
} ib_webhdfs_space;

/* GETCONTENTSUMMARY of path: usage and quotas, for "will the next copy fit". */
int ib_webhdfs_content_summary(ib_storage *s, const char *path, ib_webhdfs_space *out, ib_err *err);

/* ---- parsers, exported for tests and fuzzing ---- */

/* Percent-encode an absolute HDFS path per segment: everything but
 * A-Za-z0-9-._~ and the separating '/'. malloc'd; NULL when out of memory. */
char *ib_webhdfs_encode_path(const char *path);

/* Parse {"RemoteException": {"exception", "javaClassName", "message"}}.
 * Returns 0 and fills exception and message (truncated to their sizes),
 * -1 when body is not such a document. */
int ib_webhdfs_parse_remote_exception(const char *body, size_t len, char *exception,
                                      size_t exception_size, char *message, size_t message_size);

/* Parse {"FileStatus": {...}} into info (exists = true). */
int ib_webhdfs_parse_file_status(const char *body, size_t len, ib_storage_info *info, ib_err *err);

/* Parse a LISTSTATUS answer ({"FileStatuses": {"FileStatus": [...]}}) or a
 * LISTSTATUS_BATCH page ({"DirectoryListing": {"partialListing": ...,
 * "remainingEntries": N}}), appending to *entries (of *n, capacity *cap;
 * grown with realloc). *remaining is set to remainingEntries (0 for
 * LISTSTATUS). *is_file is set when the answer is the status of a file
 * (pathSuffix ""). path names the directory in messages. */
int ib_webhdfs_parse_listing(const char *body, size_t len, const char *path,
                             ib_storage_entry **entries, size_t *n, size_t *cap, int64_t *remaining,
                             bool *is_file, ib_err *err);

/* Parse {"FileChecksum": {"algorithm", "bytes", "length"}} into
 * "<algorithm>:<hex of the first length bytes>". */
int ib_webhdfs_parse_checksum(const char *body, size_t len, char *out, size_t n, ib_err *err);

#endif
