/* The source: selected IoTDB data in the data dirs, and a point-in-time
 * snapshot of it in a staging area. */
#ifndef IB_SOURCE_H
#define IB_SOURCE_H

#include "ib_error.h"
#include "ib_task.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ib_file_kind { IB_FILE_TSFILE, IB_FILE_RESOURCE, IB_FILE_MODS } ib_file_kind;

/* One file of the snapshot. rel is the path in the copy:
 * "sequence/<db>/<region>/<partition>/<file>", prefixed by "<k>/" (k the
 * index of the data dir, "0/", "1/", ...) when the task has several. */
typedef struct ib_source_file {
    char *rel;
    char *staged; /* absolute path of the staged hard link or copy */
    ib_file_kind kind;
    char *database;
    int64_t size;
    int64_t mtime_ms;
} ib_source_file;

typedef struct ib_snapshot {
    char *staging_dir;     /* <staging_root>/<run id> */
    ib_source_file *files; /* sorted by rel */
    size_t n_files;
    char **databases; /* the selected databases, sorted */
    size_t n_databases;
    int layout_version; /* TsFile format version byte seen (3 or 4), 0 if none */
    bool linked;        /* false when staging is on another file system (copies) */
} ib_snapshot;

/* Hooks the caller gives for logging (priority as syslog) and stopping. */
typedef struct ib_source_events {
    void *ctx;
    void (*log)(void *ctx, int priority, const char *msg);
    bool (*should_stop)(void *ctx);
} ib_source_events;

/* Databases present in the data dirs (directory names under sequence/ and
 * unsequence/ of every data dir), sorted, unique. */
int ib_source_list_databases(const ib_source *src, char ***names, size_t *n, ib_err *err);

/* Resolve Backup Content: databases named, plus those matching the patterns
 * among `available`. A named database not available is IB_E_SOURCE_MISSING
 * ("data to be backed up does not exist"); a pattern matching nothing is
 * logged as a warning. */
int ib_source_select(const ib_source *src, const char *const *available, size_t n_available,
                     const ib_source_events *ev, char ***selected, size_t *n_selected, ib_err *err);

/* Take the snapshot of the selected databases into <staging_root>/<name>:
 * hard links for sealed tsfiles and resources, copies for mods, skipping
 * working files and temporaries. A partition's sequence/ and unsequence/
 * directories (of one data dir) are one unit, since compaction moves files
 * between them: a unit with a compaction log, or whose listing of either
 * space changes between two scans, is rescanned (bounded), then reported as
 * IB_E_SOURCE_BUSY. A database of src->databases (named) with no staged file
 * in any data dir is IB_E_SOURCE_MISSING; any other selected database
 * without files is logged as a warning. */
int ib_snapshot_take(const ib_source *src, const char *const *databases, size_t n_databases,
                     const char *staging_root, const char *name, const ib_source_events *ev,
                     ib_snapshot **out, ib_err *err);

/* Remove every "run-*" staging dir under staging_root: left by workers that
 * were killed, they pin TsFiles that compaction deleted. Only for a caller
 * that knows no run is active (the daemon at start-up). */
int ib_staging_clean(const char *staging_root, int *removed, ib_err *err);

/* Remove the staging dir and free. */
void ib_snapshot_free(ib_snapshot *snap);

/* Take the staging dir's path out of snap (malloc'd; NULL if it has none):
 * ib_snapshot_free then frees without removing it, and the caller removes
 * it with ib_staging_remove, for instance on a thread of its own. */
char *ib_snapshot_take_staging(ib_snapshot *snap);

/* Remove a staging dir and everything in it, as far as possible, without
 * entering another file system mounted inside. Returns 0, or the errno
 * of the first failure (what is left goes with ib_staging_clean). */
int ib_staging_remove(const char *dir);

#endif
