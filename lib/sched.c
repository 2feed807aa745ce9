/* Schedule math. Local wall-clock times are resolved explicitly against the
 * zone's UTC offsets instead of trusting mktime(tm_isdst=-1), whose choice in
 * DST gaps and overlaps is unspecified. */
#include "ib_sched.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SECONDS_PER_DAY 86400

/* A wall-clock date and time, fields as written (month 1..12). */
typedef struct wall_time {
    int64_t year;
    int month, day, hour, minute, second;
} wall_time;

/* The wall time read as if it were UTC: "local seconds". */
static bool wall_to_local_seconds(const wall_time *w, time_t *out)
{
    if (w->year - 1900 < -2147483647 || w->year - 1900 > 2147483647)
        return false;
    struct tm tm = {
        .tm_year = (int)(w->year - 1900),
        .tm_mon = w->month - 1,
        .tm_mday = w->day,
        .tm_hour = w->hour,
        .tm_min = w->minute,
        .tm_sec = w->second,
    };
    time_t t = timegm(&tm);
    /* -1 is also 1969-12-31T23:59:59Z, which timegm normalises to itself. */
    if (t == (time_t)-1 && !(tm.tm_year == 69 && tm.tm_yday == 364 && tm.tm_hour == 23 &&
                             tm.tm_min == 59 && tm.tm_sec == 59))
        return false;
    *out = t;
    return true;
}

/* The UTC offset of the system zone at instant t. */
static bool offset_at(time_t t, long *off)
{
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return false;
    *off = tm.tm_gmtoff;
    return true;
}

/* True when instant t shows local seconds ls on the wall clock. */
static bool shows(time_t t, time_t ls)
{
    long off;
    return offset_at(t, &off) && t + off == ls;
}

/* The first instant at or after lo (and at most hi) whose offset is off:
 * the moment the clock jumps over a gap. Offsets in [lo, hi] change once. */
static time_t first_instant_with_offset(time_t lo, time_t hi, long off)
{
    while (lo < hi) {
        time_t mid = lo + (hi - lo) / 2;
        long o;
        if (offset_at(mid, &o) && o == off)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Resolve local seconds to an instant: the earliest instant showing it
 * (overlap: first occurrence), or for a gap the instant the clock jumps.
 * The offsets a day either side bracket any real transition. */
static time_t resolve_local_seconds(time_t ls)
{
    long before, after;
    time_t day_before, day_after;
    if (__builtin_sub_overflow(ls, (time_t)SECONDS_PER_DAY, &day_before) ||
        __builtin_add_overflow(ls, (time_t)SECONDS_PER_DAY, &day_after) ||
        !offset_at(day_before, &before) || !offset_at(day_after, &after))
        return (time_t)-1;
    time_t a = ls - before, b = ls - after;
    bool a_ok = shows(a, ls), b_ok = shows(b, ls);
    if (a_ok && b_ok)
        return a < b ? a : b;
    if (a_ok)
        return a;
    if (b_ok)
        return b;
    /* Spring forward: the later offset is larger, the gap lies between. */
    if (after > before)
        return first_instant_with_offset(b, a, after);
    return (time_t)-1;
}

time_t ib_civil_to_time(const ib_civil_time *c)
{
    wall_time w = {c->year, c->month, c->day, c->hour, c->minute, c->second};
    time_t ls;
    if (!wall_to_local_seconds(&w, &ls))
        return (time_t)-1;
    if (c->has_offset)
        return ls - c->offset_seconds;
    return resolve_local_seconds(ls);
}

/* The local wall time days are anchored to: as written, or for a started
 * with an offset the system zone's wall clock at that instant. */
static bool day_anchor(const ib_civil_time *c, wall_time *out)
{
    *out = (wall_time){c->year, c->month, c->day, c->hour, c->minute, c->second};
    if (!c->has_offset)
        return true;
    time_t t = ib_civil_to_time(c);
    struct tm tm;
    if (!localtime_r(&t, &tm))
        return false;
    *out = (wall_time){
        (int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    return true;
}

/* The anchor's wall time moved by days calendar days. */
static bool add_days(const wall_time *w, int64_t days, wall_time *out)
{
    wall_time midnight = {w->year, w->month, w->day, 0, 0, 0};
    time_t t;
    int64_t secs;
    if (!wall_to_local_seconds(&midnight, &t) ||
        __builtin_mul_overflow(days, (int64_t)SECONDS_PER_DAY, &secs) ||
        __builtin_add_overflow(t, secs, &t))
        return false;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return false;
    *out = (wall_time){
        (int64_t)tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, w->hour, w->minute, w->second};
    return true;
}

static int64_t unit_seconds(ib_unit u)
{
    switch (u) {
    case IB_UNIT_MINUTES:
        return 60;
    case IB_UNIT_HOURS:
        return 3600;
    case IB_UNIT_DAYS:
        return SECONDS_PER_DAY;
    }
    return 0;
}

/* Seconds between slots for elapsed units; for days the nominal length. */
static bool step_seconds(const ib_schedule *s, int64_t *out)
{
    int64_t unit = unit_seconds(s->unit);
    return s->every >= 1 && unit > 0 && !__builtin_mul_overflow(s->every, unit, out);
}

static time_t day_slot_time(const ib_schedule *s, int64_t k)
{
    wall_time anchor, w;
    int64_t days;
    time_t ls;
    if (__builtin_mul_overflow(k, s->every, &days) || !day_anchor(&s->started, &anchor) ||
        !add_days(&anchor, days, &w) || !wall_to_local_seconds(&w, &ls))
        return (time_t)-1;
    return resolve_local_seconds(ls);
}

time_t ib_sched_slot_time(const ib_schedule *s, int64_t k)
{
    int64_t step, offset;
    time_t t0, t;
    if (k < 0 || !step_seconds(s, &step))
        return (time_t)-1;
    if (s->unit == IB_UNIT_DAYS)
        return day_slot_time(s, k);
    t0 = ib_civil_to_time(&s->started);
    if (t0 == (time_t)-1 || __builtin_mul_overflow(k, step, &offset) ||
        __builtin_add_overflow(t0, offset, &t))
        return (time_t)-1;
    return t;
}

/* Returns -1 when slot 0 or the slot after t cannot be represented. */
int64_t ib_sched_next_index(const ib_schedule *s, time_t t)
{
    int64_t step;
    time_t t0 = ib_sched_slot_time(s, 0);
    if (t0 == (time_t)-1 || !step_seconds(s, &step))
        return -1;
    if (t < t0)
        return 0;
    /* Exact for elapsed units; for days off by at most a step or two
     * (offset changes), corrected below. */
    time_t elapsed;
    if (__builtin_sub_overflow(t, t0, &elapsed))
        return -1;
    int64_t k = (int64_t)(elapsed / step);
    for (;;) {
        time_t at = ib_sched_slot_time(s, k);
        if (at == (time_t)-1)
            return -1;
        if (at <= t) {
            k++;
        } else if (k > 0 && ib_sched_slot_time(s, k - 1) > t) {
            k--;
        } else {
            return k;
        }
    }
}

time_t ib_sched_next_after(const ib_schedule *s, time_t t)
{
    int64_t k = ib_sched_next_index(s, t);
    return k < 0 ? (time_t)-1 : ib_sched_slot_time(s, k);
}

int64_t ib_sched_count_between(const ib_schedule *s, time_t from, time_t to)
{
    if (to <= from)
        return 0;
    /* next_index(t) is the number of slots at or before t. */
    int64_t upto_to = ib_sched_next_index(s, to), upto_from = ib_sched_next_index(s, from);
    if (upto_to < 0 || upto_from < 0)
        return 0;
    return upto_to - upto_from;
}

void ib_format_local_time(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (n == 0)
        return;
    buf[0] = '\0';
    if (!localtime_r(&t, &tm))
        return;
    char date[64];
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return;
    long off = tm.tm_gmtoff;
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    snprintf(buf, n, "%s%c%02ld:%02ld", date, sign, off / 3600, off % 3600 / 60);
}

void ib_format_utc_time(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (n == 0)
        return;
    buf[0] = '\0';
    if (!gmtime_r(&t, &tm))
        return;
    char date[64];
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return;
    snprintf(buf, n, "%s", date);
}
