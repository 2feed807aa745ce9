/* Schedule math: pure functions of a schedule and a time, in the system
 * time zone (TZ honoured). No clock is read here. */
#ifndef IB_SCHED_H
#define IB_SCHED_H

#include "ib_task.h"
#include <stdint.h>
#include <time.h>

/* The instant of slot k (k >= 0) of s: started + k*every*unit.
 * Minutes and hours are elapsed time. Days keep the local wall-clock time of
 * "started" across DST: a wall time that does not exist that day (spring
 * forward gap) maps to the first valid instant after it; a repeated wall time
 * (fall back) maps to its first occurrence. Returns (time_t)-1 on overflow. */
time_t ib_sched_slot_time(const ib_schedule *s, int64_t k);

/* The index of the first slot strictly after t (0 if t is before slot 0). */
int64_t ib_sched_next_index(const ib_schedule *s, time_t t);

/* The instant of the first slot strictly after t. */
time_t ib_sched_next_after(const ib_schedule *s, time_t t);

/* Number of slots in (from, to]; 0 if to <= from. */
int64_t ib_sched_count_between(const ib_schedule *s, time_t from, time_t to);

/* Resolve a civil time to an instant: with an offset exactly; otherwise as a
 * local time (gap: first valid instant after; overlap: first occurrence). */
time_t ib_civil_to_time(const ib_civil_time *c);

/* Format t as local ISO 8601 with offset, "2026-11-24T02:00:00+01:00". */
void ib_format_local_time(time_t t, char *buf, size_t n);

/* Format t as UTC "2026-11-24T01:00:00Z". */
void ib_format_utc_time(time_t t, char *buf, size_t n);

#endif
