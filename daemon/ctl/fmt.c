#include "fmt.h"

#include <stdlib.h>
#include <string.h>

void fmt_bytes(int64_t n, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (n < 1024) {
        snprintf(buf, size, "%lld B", (long long)n);
        return;
    }
    double v = (double)n / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
}

void fmt_span(int64_t seconds, char *buf, size_t size)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds < 60)
        snprintf(buf, size, "%llds", (long long)seconds);
    else if (seconds < 3600)
        snprintf(buf, size, "%lldm", (long long)(seconds / 60));
    else if (seconds < 86400)
        snprintf(buf, size, "%lldh", (long long)(seconds / 3600));
    else
        snprintf(buf, size, "%lldd", (long long)(seconds / 86400));
}

void fmt_duration(double seconds, char *buf, size_t size)
{
    if (seconds < 0)
        seconds = 0;
    if (seconds < 10)
        snprintf(buf, size, "%.1fs", seconds);
    else if (seconds < 60)
        snprintf(buf, size, "%.0fs", seconds);
    else if (seconds < 3600)
        snprintf(buf, size, "%lldm%02llds", (long long)seconds / 60, (long long)seconds % 60);
    else
        snprintf(buf, size, "%lldh%02lldm", (long long)seconds / 3600,
                 (long long)seconds % 3600 / 60);
}

void fmt_local_minute(time_t t, char *buf, size_t size)
{
    struct tm tm;
    if (!localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(buf, size, "@%lld", (long long)t);
}

int fmt_parse_iso(const char *s, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s)
        return -1;
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end)
        return -1;
    if (*end == '.') /* fractional seconds: ignored */
        end += 1 + strspn(end + 1, "0123456789");
    /* glibc's %z takes "Z", "+hh", "+hhmm" and "+hh:mm". */
    struct tm zone;
    memset(&zone, 0, sizeof zone);
    const char *rest = strptime(end, "%z", &zone);
    if (!rest || *rest)
        return -1;
    tm.tm_isdst = 0;
    time_t utc = timegm(&tm);
    if (utc == (time_t)-1)
        return -1;
    *out = utc - zone.tm_gmtoff;
    return 0;
}

void fmt_table_init(fmt_table *t, size_t ncols)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
}

int fmt_table_add(fmt_table *t, const char *const *cells)
{
    if (t->nrows == t->cap_rows) {
        size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof *c);
        if (!c)
            return -1;
        t->cells = c;
        t->cap_rows = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] ? cells[i] : "-");
        if (!row[i]) {
            while (i-- > 0)
                free(row[i]);
            return -1;
        }
    }
    t->nrows++;
    return 0;
}

void fmt_table_print(const fmt_table *t, FILE *out)
{
    size_t width[16] = {0};
    size_t ncols = t->ncols < 16 ? t->ncols : 16;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            size_t w = strlen(t->cells[r * t->ncols + c]);
            if (w > width[c])
                width[c] = w;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            if (c + 1 == ncols)
                fprintf(out, "%s\n", cell);
            else
                fprintf(out, "%-*s  ", (int)width[c], cell);
        }
    }
}

void fmt_table_free(fmt_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}

void fmt_bar(double fraction, int width, char *buf, size_t size)
{
    if (fraction < 0)
        fraction = 0;
    if (fraction > 1)
        fraction = 1;
    char cells[64];
    if (width > (int)sizeof cells - 1)
        width = (int)sizeof cells - 1;
    int full = (int)(fraction * width + 0.5);
    for (int i = 0; i < width; i++)
        cells[i] = i < full ? '#' : '-';
    cells[width] = '\0';
    snprintf(buf, size, "[%s]", cells);
}

void fmt_rate_eta(double rate, double eta, char *buf, size_t size)
{
    char r[32] = "", e[32] = "";
    if (rate >= 0) {
        char b[24];
        fmt_bytes((int64_t)rate, b, sizeof b);
        snprintf(r, sizeof r, ", %s/s", b);
    }
    if (eta >= 0) {
        char span[24];
        fmt_span((int64_t)eta, span, sizeof span);
        snprintf(e, sizeof e, ", ETA %s", span);
    }
    snprintf(buf, size, "%s%s", r, e);
}
