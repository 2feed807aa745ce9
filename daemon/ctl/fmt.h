/* Human-readable output for iotdb-backupctl: sizes, durations, times and
 * aligned tables. */
#ifndef IB_CTL_FMT_H
#define IB_CTL_FMT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* "512 B", "1.5 KiB", "20.0 MiB", ... (IEC units). */
void fmt_bytes(int64_t n, char *buf, size_t size);

/* A compact span: "45s", "5m", "2h", "3d" (rounded down, never negative). */
void fmt_span(int64_t seconds, char *buf, size_t size);

/* A run duration: "0.3s", "45s", "3m20s", "2h05m". */
void fmt_duration(double seconds, char *buf, size_t size);

/* "[#####-----]" for fraction 0..1, width cells inside the brackets. */
void fmt_bar(double fraction, int width, char *buf, size_t size);

/* ", 12.0 MiB/s, ETA 4m 10s" from a run's rate (bytes/s) and ETA (seconds);
 * a negative value is unknown and left out; "" when both are. */
void fmt_rate_eta(double rate, double eta, char *buf, size_t size);

/* Local time as "2026-11-24 02:00". */
void fmt_local_minute(time_t t, char *buf, size_t size);

/* Parse ISO 8601 "YYYY-mm-ddTHH:MM:SS" followed by "Z" or "+hh:mm" (as the
 * daemon writes them). Returns 0, or -1 when s is not such a time. */
int fmt_parse_iso(const char *s, time_t *out);

/* A table of text cells printed with aligned columns. */
typedef struct fmt_table {
    size_t ncols;
    size_t nrows;
    char **cells; /* nrows * ncols, owned */
    size_t cap_rows;
} fmt_table;

void fmt_table_init(fmt_table *t, size_t ncols);
/* Append a row of ncols cells (copied; NULL prints as "-"). Returns 0 or -1
 * when out of memory. */
int fmt_table_add(fmt_table *t, const char *const *cells);
/* Print with two spaces between columns; the last column is not padded. */
void fmt_table_print(const fmt_table *t, FILE *out);
void fmt_table_free(fmt_table *t);

#endif
