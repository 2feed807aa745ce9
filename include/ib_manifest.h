/* MANIFEST.json: the list of files of one backup copy, written last. */
#ifndef IB_MANIFEST_H
#define IB_MANIFEST_H

#include "ib_error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IB_MANIFEST_NAME "MANIFEST.json"
#define IB_MANIFEST_FORMAT 1

typedef struct ib_manifest_file {
    char *path; /* relative, no "..", no leading '/' */
    int64_t size;
    int64_t mtime_ms;
    uint32_t crc32c;
} ib_manifest_file;

typedef struct ib_manifest {
    int format;       /* IB_MANIFEST_FORMAT */
    char *task;
    char *backup_type; /* "full" | "incremental" */
    int64_t start;     /* unix seconds */
    int64_t end;
    char **databases;
    size_t n_databases;
    char *source_host;
    int layout_version;
    char *program_version;
    int64_t run_id;
    ib_manifest_file *files; /* sorted by path */
    size_t n_files;
    size_t cap_files;
} ib_manifest;

void ib_manifest_init(ib_manifest *m);
void ib_manifest_free(ib_manifest *m);

/* Append a file entry (path copied). */
int ib_manifest_add(ib_manifest *m, const char *path, int64_t size, int64_t mtime_ms,
                    uint32_t crc32c, ib_err *err);

/* Sort by path; fail on duplicates. */
int ib_manifest_sort(ib_manifest *m, ib_err *err);

/* Binary search by path; NULL if absent (the manifest must be sorted). */
const ib_manifest_file *ib_manifest_find(const ib_manifest *m, const char *path);

/* Serialise to JSON (malloc'd). */
char *ib_manifest_to_json(const ib_manifest *m, ib_err *err);

/* Parse and validate: every path relative and safe (no "..", no absolute,
 * no empty segment, no NUL), no duplicates, CRCs as 8 hex digits. */
int ib_manifest_parse(const char *text, size_t len, ib_manifest *out, ib_err *err);

/* True if rel is a safe relative path (no "..", ".", empty segments, leading
 * '/', backslash-free is not required). */
bool ib_path_is_safe_relative(const char *rel);

#endif
