/* Diagnostics: a list of every problem found in configuration files, so
 * validation reports all errors, not only the first. */
#ifndef IB_DIAG_H
#define IB_DIAG_H

#include "ib_error.h"
#include <stdbool.h>
#include <stddef.h>

typedef enum ib_severity { IB_SEV_ERROR, IB_SEV_WARNING } ib_severity;

typedef struct ib_diag {
    ib_severity severity;
    ib_code code;
    char *file;    /* as shown to the user, e.g. "tasks.d/nightly.json" */
    char *pointer; /* JSON pointer "/period/every", or NULL */
    int line;      /* 1-based line for syntax errors, else 0 */
    int column;    /* 1-based column for syntax errors, else 0 */
    char *message; /* "must be >= 1, got 0" */
} ib_diag;

typedef struct ib_diags {
    ib_diag *items;
    size_t len;
    size_t cap;
} ib_diags;

void ib_diags_init(ib_diags *d);
void ib_diags_free(ib_diags *d);

/* Append one diagnostic; strings are copied. Allocation failure is fatal to
 * nothing: the entry is dropped and ib_diags_errors still counts it. */
void ib_diags_add(ib_diags *d, ib_severity sev, ib_code code, const char *file, const char *pointer,
                  int line, int column, const char *fmt, ...) __attribute__((format(printf, 8, 9)));

size_t ib_diags_errors(const ib_diags *d);
size_t ib_diags_warnings(const ib_diags *d);

/* Move every entry of src to the end of dst; src is left empty. */
void ib_diags_move(ib_diags *dst, ib_diags *src);

/* One line, no newline, the code last in parentheses:
 *   "tasks.d/x.json:3:5: expected ',' or '}' (E_TASK_SYNTAX)"
 *   "tasks.d/x.json: /period/every: must be >= 1, got 0 (E_TASK_FIELD)"
 * Warnings start with "warning: ". Returns what snprintf returns. */
int ib_diag_format(const ib_diag *d, char *buf, size_t n);

/* The same line from its parts, the code given by its name: for
 * diagnostics that arrive as JSON (ib_diag_json_format). NULL file is "",
 * NULL message "out of memory". */
int ib_diag_format_parts(char *buf, size_t n, ib_severity sev, const char *file,
                         const char *pointer, int line, int column, const char *message,
                         const char *code_name);

#endif
