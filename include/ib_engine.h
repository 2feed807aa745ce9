/* The backup engine: one run of a task (snapshot, send, manifest, freeze,
 * prune), plus listing copies, restore and verify. It knows targets only
 * through ib_storage.h and the source only through ib_source.h. */
#ifndef IB_ENGINE_H
#define IB_ENGINE_H

#include "ib_error.h"
#include "ib_storage.h"
#include "ib_store.h"
#include "ib_task.h"
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Progress of a run, reported at a modest interval. */
typedef struct ib_progress {
    const char *phase; /* "flush", "snapshot", "upload", "check", "manifest", "freeze", "prune" */
    int64_t files_done, files_total;
    int64_t bytes_done, bytes_total;
} ib_progress;

typedef struct ib_engine_events {
    void *ctx;
    /* priority as syslog (3 err, 4 warning, 6 info, 7 debug) */
    void (*log)(void *ctx, int priority, const char *msg);
    void (*progress)(void *ctx, const ib_progress *p);
    /* Polled between files and chunks: true asks the run to stop at a safe point. */
    bool (*should_stop)(void *ctx);
    /* Optional: notable events with their own journal MESSAGE_ID, kind
     * "pruned" (a copy was deleted) or "retrying" (the target is being
     * retried); when NULL they go to log at priority 6 / 4. */
    void (*notice)(void *ctx, const char *kind, int priority, const char *msg);
} ib_engine_events;

/* "<task>_IoTDB_<created_at local YYYYmmddHHMMSS>" into buf. */
void ib_engine_task_dir_name(const char *task, int64_t created_at, char *buf, size_t n);

typedef struct ib_backup_request {
    const ib_task *task;
    int64_t created_at; /* the task's creation time (store) */
    int64_t run_id;
    ib_backup_type type;      /* requested; becomes full if no valid previous copy */
    const char *staging_root; /* <state-dir>/staging */
    double bandwidth_mbps;    /* 0 = unlimited */
} ib_backup_request;

typedef struct ib_backup_result {
    ib_backup_type type; /* what was done */
    char copy[96];       /* snapshot name "<YYYYmmddTHHMMSSZ>-<type>" */
    int64_t files_total, files_sent, bytes_sent, files_deleted;
    int64_t copies_pruned;
    int64_t copies_kept; /* valid copies on the target after pruning */
} ib_backup_result;

/* Run one backup. On failure nothing is pruned and no snapshot of an
 * incomplete copy exists. Stopping via should_stop yields IB_E_INTERRUPTED. */
int ib_backup_run(const ib_backup_request *req, const ib_engine_events *ev, ib_backup_result *res,
                  ib_err *err);

typedef struct ib_copy_info {
    char *name;        /* snapshot name */
    char *backup_type; /* from the manifest */
    int64_t start, end;
    int64_t files, bytes;
    bool valid;           /* manifest present and parsed */
    char *invalid_reason; /* why not valid (the manifest's error), or NULL */
} ib_copy_info;

/* The task's copies on its target, oldest first, read from the snapshots'
 * manifests (works without the state store). task_dir_name NULL: find the
 * single "<task>_IoTDB_*" directory under target_path. */
int ib_copies_list(const ib_task *task, const char *task_dir_name, ib_copy_info **out, size_t *n,
                   ib_err *err);
void ib_copies_free(ib_copy_info *c, size_t n);

typedef struct ib_restore_request {
    const ib_task *task;
    const char *task_dir_name; /* NULL: find it */
    const char *copy;          /* NULL: newest valid copy */
    const char *to_dir;
    const char *const *databases; /* NULL/0: all */
    size_t n_databases;
    bool force; /* allow a non-empty to_dir */
    bool load;  /* issue IoTDB LOAD over REST afterwards */
} ib_restore_request;

typedef struct ib_restore_result {
    char copy[96];
    int64_t files, bytes;
} ib_restore_result;

int ib_restore_run(const ib_restore_request *req, const ib_engine_events *ev,
                   ib_restore_result *res, ib_err *err);

/* Verify a task (the feature description's Verify): every problem is
 * reported through ev->log at priority 3 with a HINT; returns the number of
 * problems (0 = all good), or -1 on an internal error. */
int ib_verify_task(const ib_task *task, const char *task_dir_name, const ib_engine_events *ev,
                   ib_err *err);

/* Helpers shared by the engine's modules (engine.c, copies.c, restore.c,
 * verify.c). */

struct ib_manifest;

/* Log a formatted line through ev->log (nothing when ev or ev->log is NULL). */
void ib_engine_logf(const ib_engine_events *ev, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Order of snapshot names "<YYYYmmddTHHMMSSZ>-<type>[-<k>]": by time, then by
 * the suffix k (none = 1); names of another shape sort before, by strcmp. */
int ib_copy_name_cmp(const char *a, const char *b);

/* The task directory on the target: <target_path>/<task_dir_name>, or (NULL)
 * the single "<task>_IoTDB_<14 digits>" directory there (several: the newest
 * by name, with a warning). None: IB_E_COPY_NOT_FOUND. *out is malloc'd. */
int ib_engine_find_task_dir(ib_storage *s, const ib_task *task, const char *task_dir_name,
                            const ib_engine_events *ev, char **out, ib_err *err);

/* Read and parse <task_dir>/.snapshot/<name>/MANIFEST.json into out
 * (initialised here; free with ib_manifest_free even on error). */
int ib_copy_read_manifest(ib_storage *s, const char *task_dir, const char *name,
                          struct ib_manifest *out, ib_err *err);

/* The snapshots of task_dir with what their manifests say, oldest first. */
int ib_copies_read(ib_storage *s, const char *task_dir, ib_copy_info **out, size_t *n, ib_err *err);

/* The name of a new copy made at `now` given the task's copies:
 * "<UTC stamp>-<type>", with "-<k>" to stay unique among all snapshots. It
 * sorts after every valid copy: when the clock is behind the newest one
 * (stepped back), that copy's stamp is reused with the next suffix and true
 * is returned, so pruning follows the order of the runs, not the clock. */
bool ib_copy_name_next(const ib_copy_info *copies, size_t n, time_t now, const char *type,
                       char *buf, size_t size);

#endif
