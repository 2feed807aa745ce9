/* Storage: one interface for backup targets, one driver per file
 * (lib/storage_local.c for LocalDir, lib/storage_webhdfs.c for RemoteHDFS).
 * Paths are absolute within the store ("/backup/iotdb/t_IoTDB_2026.../x"). */
#ifndef IB_STORAGE_H
#define IB_STORAGE_H

#include "ib_error.h"
#include "ib_task.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a driver can do beyond the basics. */
enum {
    IB_STORAGE_FEAT_SNAPSHOT = 1u << 0, /* snapshot_create/list/delete */
    IB_STORAGE_FEAT_CHECKSUM = 1u << 1, /* checksum */
};

/* Suffix of a file being written; renamed away when complete. */
#define IB_STORAGE_TEMP_SUFFIX "._COPYING_"

typedef struct ib_storage_info {
    bool exists;
    bool is_dir;
    int64_t size;
    int64_t mtime_ms;
} ib_storage_info;

typedef struct ib_storage_entry {
    char *name; /* last path component */
    bool is_dir;
    int64_t size;
    int64_t mtime_ms;
} ib_storage_entry;

void ib_storage_entries_free(ib_storage_entry *entries, size_t n);

/* A pull source for uploads: read fills buf with up to cap bytes and returns
 * the count, 0 at end, -1 on error (with err filled). rewind (optional)
 * starts the source again at its first byte, so that a driver can restart a
 * transfer that failed part way (a DataNode that died mid-body); without it
 * such a failure fails the put. */
typedef struct ib_reader {
    void *ctx;
    ssize_t (*read)(void *ctx, void *buf, size_t cap, ib_err *err);
    int (*rewind)(void *ctx, ib_err *err);
} ib_reader;

/* A push sink for downloads: returns 0, or -1 on error (with err filled). */
typedef struct ib_writer {
    void *ctx;
    int (*write)(void *ctx, const void *buf, size_t len, ib_err *err);
} ib_writer;

typedef struct ib_storage ib_storage;

/* The driver table; drivers fill every non-optional member. All return 0 on
 * success, -1 with err filled (code, operation, path and cause). */
typedef struct ib_storage_driver {
    const char *name; /* "LocalDir", "RemoteHDFS" */
    unsigned features;
    int (*mkdirs)(ib_storage *s, const char *path, ib_err *err);
    /* Stream src to path + IB_STORAGE_TEMP_SUFFIX, then rename onto path
     * (replacing a file there). size is the expected length (-1 unknown);
     * a short or long source is an error. On error nothing is left at path
     * that was not there before. The file is durable when put returns, or,
     * for a driver with sync, once sync has returned. */
    int (*put)(ib_storage *s, const char *path, int64_t size, ib_reader *src, ib_err *err);
    /* Stream path's bytes into dst. */
    int (*get)(ib_storage *s, const char *path, ib_writer *dst, ib_err *err);
    /* info->exists=false (and 0 returned) when path does not exist. */
    int (*stat)(ib_storage *s, const char *path, ib_storage_info *info, ib_err *err);
    /* Entries of a directory, sorted by name. */
    int (*list)(ib_storage *s, const char *path, ib_storage_entry **entries, size_t *n,
                ib_err *err);
    /* Remove a file, or a directory (recursive required if not empty).
     * Removing what does not exist succeeds. */
    int (*remove)(ib_storage *s, const char *path, bool recursive, ib_err *err);
    /* Rename a file or directory; fails if to exists. */
    int (*rename)(ib_storage *s, const char *from, const char *to, ib_err *err);
    /* Snapshots of dir, visible read-only at <dir>/.snapshot/<name>/. */
    int (*snapshot_prepare)(ib_storage *s, const char *dir, ib_err *err); /* allow snapshots */
    int (*snapshot_create)(ib_storage *s, const char *dir, const char *name, ib_err *err);
    int (*snapshot_list)(ib_storage *s, const char *dir, char ***names, size_t *n, ib_err *err);
    int (*snapshot_delete)(ib_storage *s, const char *dir, const char *name, ib_err *err);
    /* Optional (IB_STORAGE_FEAT_CHECKSUM): the store's own checksum of a file,
     * as "algorithm:hex". */
    int (*checksum)(ib_storage *s, const char *path, char *buf, size_t n, ib_err *err);
    /* Optional: make every file put so far durable (data and name), so
     * that puts can batch their flushes. Call it before publishing what was
     * put (a manifest naming the files, a snapshot). NULL: puts are durable
     * on return. */
    int (*sync)(ib_storage *s, ib_err *err);
    void (*free)(ib_storage *s);
} ib_storage_driver;

/* Told of notable events a driver handles by itself, so that they reach the
 * operator: kind "retrying" (a retry, a wait or a NameNode failover) with a
 * one-line message. Called from whichever thread runs the operation. */
typedef void (*ib_storage_notice_fn)(void *ctx, const char *kind, const char *msg);

/* The storage handle: a driver table followed by the driver's state. Every
 * driver's struct starts with an ib_storage member (zeroed on creation). */
struct ib_storage {
    const ib_storage_driver *drv;
    ib_storage_notice_fn notice; /* optional, set by the handle's user */
    void *notice_ctx;
};

/* Report a notable event through s->notice, if set. */
void ib_storage_notice(ib_storage *s, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Open the driver for a task's target. bandwidth_mbps caps write speed
 * (0 = unlimited). */
int ib_storage_open(const ib_target *target, double bandwidth_mbps, ib_storage **out, ib_err *err);

/* Kerberos for a RemoteHDFS target with auth mode kerberos: point MIT krb5
 * at a private credential cache <state_dir>/krb5cc_<task_name> and at the
 * task's keytab as the client keytab (KRB5CCNAME, KRB5_CLIENT_KTNAME), and
 * put initial tickets for target.auth.principal from the keytab into that
 * cache (as kinit -k -t does) unless it already holds that principal's TGT
 * for more than a few minutes. GSSAPI, asked by libcurl's SPNEGO, then
 * uses the cache's principal and refreshes its tickets from the keytab.
 * Refuses a keytab that is missing, that other users may read or write,
 * that this user cannot read or that lacks the principal, and tickets the
 * KDC refuses (IB_E_TARGET_AUTH naming principal, keytab and krb5's reason,
 * with a HINT). Changes this process's environment: call from a program's
 * main thread before other threads start. Does nothing for other targets. */
int ib_storage_kerberos_env(const ib_target *target, const char *state_dir, const char *task_name,
                            ib_err *err);

/* Driver constructors. */
int ib_storage_local_new(const char *root_hint, double bandwidth_mbps, ib_storage **out,
                         ib_err *err);

static inline void ib_storage_free(ib_storage *s)
{
    if (s)
        s->drv->free(s);
}

/* Make every put so far durable (drv->sync when the driver has one). */
static inline int ib_storage_sync(ib_storage *s, ib_err *err)
{
    return s->drv->sync ? s->drv->sync(s, err) : 0;
}

/* Write a small buffer to path through put (temp name + rename). */
int ib_storage_put_buffer(ib_storage *s, const char *path, const void *buf, size_t len,
                          ib_err *err);

/* Read a whole small file (at most max bytes) into a malloc'd NUL-terminated
 * buffer. */
int ib_storage_get_buffer(ib_storage *s, const char *path, size_t max, char **out, size_t *len,
                          ib_err *err);

/* Join path components with exactly one '/' between them; malloc'd. */
char *ib_path_join(const char *a, const char *b);

#endif
