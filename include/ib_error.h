/* Errors: a stable numbered code with a symbolic name, and a message. */
#ifndef IB_ERROR_H
#define IB_ERROR_H

#include <stddef.h>

/* Numbers are stable: never renumber, only append. The symbolic name
 * (ib_code_name) appears in logs as ERROR_CODE=, in --json output as
 * "error_code", and in documentation. */
typedef enum ib_code {
    IB_OK = 0,
    IB_E_INTERNAL = 1,           /* E_INTERNAL: a bug or an impossible state */
    IB_E_NOMEM = 2,              /* E_NOMEM */
    IB_E_IO = 3,                 /* E_IO: local file system error */
    IB_E_USAGE = 4,              /* E_USAGE: bad command line */
    IB_E_TASK_SYNTAX = 10,       /* E_TASK_SYNTAX: task file is not valid JSON */
    IB_E_TASK_FIELD = 11,        /* E_TASK_FIELD: a field is missing, unknown, of the wrong type or value */
    IB_E_TASK_NAME = 12,         /* E_TASK_NAME: file name is not a valid task name */
    IB_E_TASK_FILE = 13,         /* E_TASK_FILE: task file cannot be read */
    IB_E_CONFIG = 14,            /* E_CONFIG: daemon config file is invalid */
    IB_E_STORE = 20,             /* E_STORE: the SQLite state store failed */
    IB_E_TASK_UNKNOWN = 21,      /* E_TASK_UNKNOWN: no such (enabled) task */
    IB_E_TASK_RUNNING = 22,      /* E_TASK_RUNNING: the task is already running */
    IB_E_CONTROL = 23,           /* E_CONTROL: control socket protocol error */
    IB_E_DAEMON_DOWN = 24,       /* E_DAEMON_DOWN: cannot reach the daemon */
    IB_E_INTERRUPTED = 25,       /* E_INTERRUPTED: the run was stopped before it finished */
    IB_E_SOURCE_MISSING = 30,    /* E_SOURCE_MISSING: data dir or selected database does not exist */
    IB_E_SOURCE_READ = 31,       /* E_SOURCE_READ: a source file cannot be read */
    IB_E_SOURCE_BUSY = 32,       /* E_SOURCE_BUSY: partition kept changing (compaction) */
    IB_E_REST = 33,              /* E_REST: IoTDB REST API failed or answered an error */
    IB_E_STAGING = 34,           /* E_STAGING: staging area cannot be prepared */
    IB_E_TARGET_UNREACHABLE = 40,/* E_TARGET_UNREACHABLE: target cannot be reached */
    IB_E_TARGET_IO = 41,         /* E_TARGET_IO: a target operation failed */
    IB_E_TARGET_SPACE = 42,      /* E_TARGET_SPACE: target out of space or quota */
    IB_E_TARGET_AUTH = 43,       /* E_TARGET_AUTH: permission or authentication refused */
    IB_E_TARGET_SNAPSHOT = 44,   /* E_TARGET_SNAPSHOT: snapshots cannot be made on the target */
    IB_E_TARGET_NOT_FOUND = 45,  /* E_TARGET_NOT_FOUND: path missing on the target */
    IB_E_CHECKSUM = 50,          /* E_CHECKSUM: data does not match its checksum */
    IB_E_MANIFEST = 51,          /* E_MANIFEST: manifest missing or invalid */
    IB_E_COPY_NOT_FOUND = 52,    /* E_COPY_NOT_FOUND: no such backup copy */
    IB_E_RESTORE = 53,           /* E_RESTORE: restore refused or failed */
} ib_code;

#define IB_ERR_MSG_MAX 1024

/* An error slot filled by a failing call. Fixed size so that callers own it
 * on the stack and nothing needs freeing on error paths. */
typedef struct ib_err {
    ib_code code;
    char msg[IB_ERR_MSG_MAX];
} ib_err;

/* "E_TASK_FIELD" for IB_E_TASK_FIELD; "E_UNKNOWN" for anything else. */
const char *ib_code_name(ib_code code);

/* Clear an error slot (code IB_OK, empty message). */
void ib_err_clear(ib_err *err);

/* Fill err (if not NULL) and return -1, so callers can `return ib_err_set(...)`.
 * Messages are lowercase, name the object (file, path, field) and the cause,
 * and may end with "HINT: ..." telling the operator what to do. */
int ib_err_set(ib_err *err, ib_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like ib_err_set, appending ": <strerror(errnum)>". */
int ib_err_errno(ib_err *err, ib_code code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix context to an existing message ("while X: <old message>"); keeps the code.
 * Returns -1. */
int ib_err_prefix(ib_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
