#include "ib_diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ib_diags_init(ib_diags *d)
{
    memset(d, 0, sizeof *d);
}

static void diag_clear(ib_diag *x)
{
    free(x->file);
    free(x->pointer);
    free(x->message);
}

void ib_diags_free(ib_diags *d)
{
    for (size_t i = 0; i < d->len; i++)
        diag_clear(&d->items[i]);
    free(d->items);
    ib_diags_init(d);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

void ib_diags_add(ib_diags *d, ib_severity sev, ib_code code, const char *file, const char *pointer,
                  int line, int column, const char *fmt, ...)
{
    if (d->len == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        ib_diag *items = realloc(d->items, cap * sizeof *items);
        if (!items)
            return;
        d->items = items;
        d->cap = cap;
    }
    char msg[IB_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ib_diag *x = &d->items[d->len++];
    x->severity = sev;
    x->code = code;
    x->file = dup_or_null(file);
    x->pointer = dup_or_null(pointer);
    x->line = line;
    x->column = column;
    x->message = strdup(msg);
}

static size_t count_severity(const ib_diags *d, ib_severity sev)
{
    size_t n = 0;
    for (size_t i = 0; i < d->len; i++)
        n += d->items[i].severity == sev;
    return n;
}

size_t ib_diags_errors(const ib_diags *d)
{
    return count_severity(d, IB_SEV_ERROR);
}

size_t ib_diags_warnings(const ib_diags *d)
{
    return count_severity(d, IB_SEV_WARNING);
}

void ib_diags_move(ib_diags *dst, ib_diags *src)
{
    for (size_t i = 0; i < src->len; i++) {
        if (dst->len == dst->cap) {
            size_t cap = dst->cap ? dst->cap * 2 : 8;
            ib_diag *items = realloc(dst->items, cap * sizeof *items);
            if (!items) {
                diag_clear(&src->items[i]);
                continue;
            }
            dst->items = items;
            dst->cap = cap;
        }
        dst->items[dst->len++] = src->items[i];
    }
    free(src->items);
    ib_diags_init(src);
}

int ib_diag_format_parts(char *buf, size_t n, ib_severity sev, const char *file,
                         const char *pointer, int line, int column, const char *message,
                         const char *code_name)
{
    const char *prefix = sev == IB_SEV_WARNING ? "warning: " : "";
    file = file ? file : "";
    message = message ? message : "out of memory";
    if (line > 0)
        return snprintf(buf, n, "%s%s:%d:%d: %s (%s)", prefix, file, line, column, message,
                        code_name);
    if (pointer)
        return snprintf(buf, n, "%s%s: %s: %s (%s)", prefix, file, pointer, message, code_name);
    return snprintf(buf, n, "%s%s: %s (%s)", prefix, file, message, code_name);
}

int ib_diag_format(const ib_diag *d, char *buf, size_t n)
{
    return ib_diag_format_parts(buf, n, d->severity, d->file, d->pointer, d->line, d->column,
                                d->message, ib_code_name(d->code));
}
