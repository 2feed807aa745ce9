/* The state store: SQLite (WAL) at <state-dir>/iotdb-backupd.db holding
 * tasks, their run history and the per-task state the policies need.
 * One writer: the daemon's loop thread. Others open it read-only. */
#ifndef IB_STORE_H
#define IB_STORE_H

#include "ib_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IB_STORE_FILE "iotdb-backupd.db"
#define IB_STORE_SCHEMA_VERSION 2

typedef struct ib_store ib_store;

typedef enum ib_trigger { IB_TRIGGER_SCHEDULE, IB_TRIGGER_MANUAL, IB_TRIGGER_CATCH_UP } ib_trigger;
typedef enum ib_backup_type { IB_BACKUP_FULL, IB_BACKUP_INCREMENTAL } ib_backup_type;
typedef enum ib_result {
    IB_RESULT_RUNNING,
    IB_RESULT_SUCCEEDED,
    IB_RESULT_FAILED,
    IB_RESULT_INTERRUPTED,
    IB_RESULT_SKIPPED,
} ib_result;

const char *ib_trigger_name(ib_trigger t);         /* "schedule" | "manual" | "catch-up" */
const char *ib_backup_type_name(ib_backup_type t); /* "full" | "incremental" */
const char *ib_result_name(ib_result r);           /* "running" | "succeeded" | ... */
int ib_backup_type_parse(const char *s, ib_backup_type *out); /* 0 or -1 */

/* Open (creating and migrating) the store at path. read_only opens an
 * existing store without migrating. */
int ib_store_open(const char *path, bool read_only, ib_store **out, ib_err *err);
void ib_store_close(ib_store *st);
int ib_store_schema_version(ib_store *st);

typedef struct ib_task_record {
    char *name;
    char *definition;   /* canonical JSON */
    int64_t created_at; /* unix seconds; names the task's target directory */
    bool enabled;
    /* policy and scheduler state */
    int64_t runs_since_full; /* successful incremental runs since the last successful
                                full one; -1 when no full run succeeded yet */
    bool has_last_slot;
    int64_t last_slot; /* unix seconds of the last slot that was handled */
} ib_task_record;

void ib_task_record_clear(ib_task_record *r);

/* Insert the task (created_at = now) or update its definition and enable it.
 * *created_at receives the stored creation time. */
int ib_store_upsert_task(ib_store *st, const char *name, const char *definition, int64_t now,
                         int64_t *created_at, ib_err *err);

/* ib_store_upsert_task that also fills out's created_at, runs_since_full
 * and last slot (name and definition stay NULL): one statement instead of
 * an upsert and a read per task at start-up. */
int ib_store_sync_task(ib_store *st, const char *name, const char *definition, int64_t now,
                       ib_task_record *out, ib_err *err);

/* Disable every task whose name is not in names; history is kept. */
int ib_store_disable_tasks_except(ib_store *st, const char *const *names, size_t n, ib_err *err);

/* found=false when there is no such task. */
int ib_store_get_task(ib_store *st, const char *name, ib_task_record *out, bool *found,
                      ib_err *err);

int ib_store_set_last_slot(ib_store *st, const char *name, int64_t slot, ib_err *err);

typedef struct ib_run_record {
    int64_t id;
    char *task;
    ib_trigger trigger;
    ib_backup_type type;
    ib_result result;
    int64_t start; /* unix seconds */
    int64_t end;   /* 0 while running */
    int64_t files_total, files_sent, bytes_sent, files_deleted;
    char *copy;           /* snapshot name, or NULL */
    char *error_code;     /* "E_...", or NULL */
    char *error;          /* message, or NULL; for skipped runs the reason */
    bool has_copies_kept; /* false: unknown (not a success, or recorded before schema 2) */
    int64_t copies_kept;  /* valid copies on the target after the run's pruning */
} ib_run_record;

void ib_run_record_clear(ib_run_record *r);

/* Record a run that starts now in state running. */
int ib_store_run_begin(ib_store *st, const char *task, ib_trigger trigger, ib_backup_type type,
                       int64_t start, int64_t *run_id, ib_err *err);

/* Finish a running run: every field of rec but id/task/trigger/start is
 * written (copies_kept as NULL unless has_copies_kept). A succeeded full run
 * sets the task's runs_since_full to 0; a succeeded incremental one
 * increments it (if it is >= 0). */
int ib_store_run_finish(ib_store *st, int64_t run_id, const ib_run_record *rec, ib_err *err);

/* Record a run that did not happen (result skipped) with its reason. */
int ib_store_run_skipped(ib_store *st, const char *task, ib_trigger trigger, int64_t when,
                         const char *reason, int64_t *run_id, ib_err *err);

/* Mark every run still in state running as interrupted (the daemon died);
 * *count receives how many. */
int ib_store_mark_running_interrupted(ib_store *st, int64_t now, int *count, ib_err *err);

/* The newest run of task (any result); found=false when none. */
int ib_store_last_run(ib_store *st, const char *task, ib_run_record *out, bool *found, ib_err *err);

/* The newest run of task with the given result. */
int ib_store_last_run_with_result(ib_store *st, const char *task, ib_result result,
                                  ib_run_record *out, bool *found, ib_err *err);

int ib_store_get_run(ib_store *st, int64_t run_id, ib_run_record *out, bool *found, ib_err *err);

/* Up to limit newest runs of task (all tasks when task is NULL), newest first.
 * *out is an array of *n records; free with ib_run_records_free. */
int ib_store_list_runs(ib_store *st, const char *task, int limit, ib_run_record **out, size_t *n,
                       ib_err *err);
void ib_run_records_free(ib_run_record *recs, size_t n);

/* What the daemon keeps in memory about a task's history. */
typedef struct ib_task_history {
    ib_run_record last_run; /* the newest run that ran: neither running nor skipped */
    int64_t last_success;   /* end (or start) of the newest succeeded run; 0: none */
    bool has_copies_kept;   /* the newest succeeded run recorded its copies kept */
    int64_t copies_kept;
} ib_task_history;

/* The history of every task (task NULL) or of one, sorted by task name, in
 * one query; tasks without a run that ran are left out. Free *out with
 * ib_task_histories_free. */
int ib_store_last_runs_per_task(ib_store *st, const char *task, ib_task_history **out, size_t *n,
                                ib_err *err);
void ib_task_histories_free(ib_task_history *h, size_t n);

/* Group many writes (thousands of tasks at start-up) into one transaction;
 * the store's own transactions inside it become savepoints. Rollback undoes
 * everything since batch_begin. */
int ib_store_batch_begin(ib_store *st, ib_err *err);
int ib_store_batch_commit(ib_store *st, ib_err *err);
void ib_store_batch_rollback(ib_store *st);

/* Cheap liveness check for the watchdog: a trivial query answers. */
int ib_store_ping(ib_store *st, ib_err *err);

#endif
