/* Shared by the fuzz targets: checks that abort (so libFuzzer and the
 * replay driver report the input that broke them) and input helpers. */
#ifndef IB_FUZZ_UTIL_H
#define IB_FUZZ_UTIL_H

#include "ib_diag.h"
#include "ib_task.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The entry point every fuzz_<name>.c defines (libFuzzer's interface). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(__FILE__, __LINE__, #cond);                                                  \
    } while (0)

static inline void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
    abort();
}

/* A NUL-terminated copy of the input, sized exactly (size + 1 bytes) so
 * that AddressSanitizer sees any read past its end. Aborts when out of
 * memory: a harness failure, not a finding. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        fuzz_fail(__FILE__, __LINE__, "out of memory");
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* True when s holds printable ASCII only: a message that stays on one
 * line and cannot carry terminal escapes, whatever the input was. */
static inline bool fuzz_printable_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

/* True when s has no control characters (UTF-8 text from a server is
 * allowed, newlines and escapes are not). */
static inline bool fuzz_no_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return false;
    return true;
}

/* Every diagnostic formats as one printable line; errors are capped per
 * file (IB_JCHECK_MAX_ERRORS plus the "too many errors" line and at most a
 * few reported before the checker, e.g. the task name). */
static inline void fuzz_check_diags(const ib_diags *d)
{
    char line[4096];
    for (size_t i = 0; i < d->len; i++) {
        int n = ib_diag_format(&d->items[i], line, sizeof line);
        FUZZ_CHECK(n > 0);
        FUZZ_CHECK(fuzz_printable_ascii(line));
    }
    FUZZ_CHECK(d->len <= IB_JCHECK_MAX_ERRORS + 8);
}

#endif
