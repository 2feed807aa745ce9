/* Schedule math in real zones: Europe/Berlin (both 2026 DST changes), UTC,
 * America/New_York; month ends, leap days, far past and future starts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ib_sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void use_zone(const char *tz)
{
    setenv("TZ", tz, 1);
    tzset();
}

static int setup_berlin(void **state)
{
    (void)state;
    use_zone("Europe/Berlin");
    return 0;
}

static ib_civil_time civil(int y, int mo, int d, int h, int mi, int s)
{
    return (ib_civil_time){.year = y, .month = mo, .day = d, .hour = h, .minute = mi, .second = s};
}

static ib_schedule sched(ib_civil_time started, int64_t every, ib_unit unit)
{
    return (ib_schedule){.started = started, .every = every, .unit = unit};
}

/* The instant of a local time string "YYYY-MM-DDTHH:MM:SS+HH:MM". */
static time_t at(const char *iso)
{
    int y, mo, d, h, mi, s, oh, om;
    char sign;
    assert_int_equal(
        sscanf(iso, "%d-%d-%dT%d:%d:%d%c%d:%d", &y, &mo, &d, &h, &mi, &s, &sign, &oh, &om), 9);
    ib_civil_time c = civil(y, mo, d, h, mi, s);
    c.has_offset = true;
    c.offset_seconds = (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return ib_civil_to_time(&c);
}

static void assert_local(time_t t, const char *expected)
{
    char buf[64];
    ib_format_local_time(t, buf, sizeof buf);
    assert_string_equal(buf, expected);
}

static void assert_slot(const ib_schedule *s, int64_t k, const char *expected)
{
    assert_local(ib_sched_slot_time(s, k), expected);
}

/* next_index must be the first slot strictly after t. */
static void assert_next_consistent(const ib_schedule *s, time_t t)
{
    int64_t k = ib_sched_next_index(s, t);
    assert_true(k >= 0);
    assert_true(ib_sched_slot_time(s, k) > t);
    if (k > 0)
        assert_true(ib_sched_slot_time(s, k - 1) <= t);
    assert_int_equal(ib_sched_next_after(s, t), ib_sched_slot_time(s, k));
}

static void test_format(void **state)
{
    (void)state;
    char buf[64];
    ib_format_utc_time(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    ib_format_utc_time(1795482000, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-24T01:00:00Z");
    assert_local(1795482000, "2026-11-24T02:00:00+01:00");
    assert_local(1784163600, "2026-07-16T03:00:00+02:00");
    char small[8];
    ib_format_local_time(1795482000, small, sizeof small);
    assert_string_equal(small, "2026-11");
    use_zone("Asia/Kolkata");
    assert_local(1795482000, "2026-11-24T06:30:00+05:30");
    use_zone("America/St_Johns");
    assert_local(1795482000, "2026-11-23T21:30:00-03:30");
}

static void test_civil_to_time(void **state)
{
    (void)state;
    ib_civil_time c = civil(2026, 11, 24, 2, 0, 0);
    assert_int_equal(ib_civil_to_time(&c), 1795482000);
    c.has_offset = true;
    c.offset_seconds = 0;
    assert_int_equal(ib_civil_to_time(&c), 1795482000 + 3600);
    c.offset_seconds = 5 * 3600 + 1800;
    assert_int_equal(ib_civil_to_time(&c), 1795482000 + 3600 - 19800);
    /* Gap: 02:30 does not exist on 2026-03-29; the clock jumps at 03:00 CEST. */
    c = civil(2026, 3, 29, 2, 30, 0);
    assert_local(ib_civil_to_time(&c), "2026-03-29T03:00:00+02:00");
    c = civil(2026, 3, 29, 2, 0, 0);
    assert_local(ib_civil_to_time(&c), "2026-03-29T03:00:00+02:00");
    c = civil(2026, 3, 29, 3, 0, 0);
    assert_local(ib_civil_to_time(&c), "2026-03-29T03:00:00+02:00");
    c = civil(2026, 3, 29, 1, 59, 59);
    assert_local(ib_civil_to_time(&c), "2026-03-29T01:59:59+01:00");
    /* Overlap: 02:30 happens twice on 2026-10-25; the first is CEST. */
    c = civil(2026, 10, 25, 2, 30, 0);
    assert_local(ib_civil_to_time(&c), "2026-10-25T02:30:00+02:00");
    c = civil(2026, 10, 25, 2, 0, 0);
    assert_local(ib_civil_to_time(&c), "2026-10-25T02:00:00+02:00");
    c = civil(2026, 10, 25, 3, 0, 0);
    assert_local(ib_civil_to_time(&c), "2026-10-25T03:00:00+01:00");
}

static void test_hourly_basic(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 11, 24, 2, 0, 0), 1, IB_UNIT_HOURS);
    assert_slot(&s, 0, "2026-11-24T02:00:00+01:00");
    assert_slot(&s, 1, "2026-11-24T03:00:00+01:00");
    assert_slot(&s, 22, "2026-11-25T00:00:00+01:00");
    ib_schedule s6 = sched(civil(2026, 11, 24, 2, 0, 0), 6, IB_UNIT_HOURS);
    assert_slot(&s6, 4, "2026-11-25T02:00:00+01:00");
    time_t t = at("2026-11-24T09:15:00+01:00");
    assert_int_equal(ib_sched_next_index(&s6, t), 2);
    assert_local(ib_sched_next_after(&s6, t), "2026-11-24T14:00:00+01:00");
}

static void test_daily_basic(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 11, 24, 2, 0, 0), 1, IB_UNIT_DAYS);
    assert_slot(&s, 0, "2026-11-24T02:00:00+01:00");
    assert_slot(&s, 1, "2026-11-25T02:00:00+01:00");
    assert_slot(&s, 7, "2026-12-01T02:00:00+01:00");
    assert_slot(&s, 38, "2027-01-01T02:00:00+01:00");
    ib_schedule weekly = sched(civil(2026, 11, 24, 2, 0, 0), 7, IB_UNIT_DAYS);
    time_t t = at("2026-12-03T12:00:00+01:00");
    assert_int_equal(ib_sched_next_index(&weekly, t), 2);
    assert_local(ib_sched_next_after(&weekly, t), "2026-12-08T02:00:00+01:00");
}

static void test_minutes(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 5, 1, 0, 0, 0), 15, IB_UNIT_MINUTES);
    assert_slot(&s, 4, "2026-05-01T01:00:00+02:00");
    time_t t = at("2026-05-01T01:07:00+02:00");
    assert_int_equal(ib_sched_next_index(&s, t), 5);
    assert_local(ib_sched_next_after(&s, t), "2026-05-01T01:15:00+02:00");
    assert_int_equal(ib_sched_slot_time(&s, 96) - ib_sched_slot_time(&s, 0), 86400);
}

static void test_started_in_future(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2030, 1, 1, 4, 0, 0), 1, IB_UNIT_DAYS);
    time_t slot0 = ib_sched_slot_time(&s, 0);
    time_t now = at("2026-06-01T12:00:00+02:00");
    assert_int_equal(ib_sched_next_index(&s, now), 0);
    assert_int_equal(ib_sched_next_after(&s, now), slot0);
    assert_int_equal(ib_sched_next_after(&s, slot0 - 1), slot0);
    assert_int_equal(ib_sched_count_between(&s, now, slot0 - 1), 0);
    assert_int_equal(ib_sched_count_between(&s, now, slot0), 1);
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_started_far_past(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2001, 1, 1, 3, 0, 0), 1, IB_UNIT_DAYS);
    time_t t = at("2026-07-15T12:00:00+02:00");
    assert_local(ib_sched_next_after(&s, t), "2026-07-16T03:00:00+02:00");
    /* 2001-01-01 to 2026-07-16 is 9327 days. */
    assert_int_equal(ib_sched_next_index(&s, t), 9327);
    /* Direct computation: iterating from 2001 would need ~10^4 steps per
     * call, 10^8 in all; this loop finishes in well under a second. */
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2000; i++)
        assert_next_consistent(&s, t + i * 4567);
    assert_true(seconds_since(&t0) < 5.0);
    ib_schedule hourly = sched(civil(1990, 1, 1, 0, 0, 0), 1, IB_UNIT_HOURS);
    assert_local(ib_sched_next_after(&hourly, t), "2026-07-15T13:00:00+02:00");
}

static void test_dst_spring_days(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 3, 27, 2, 30, 0), 1, IB_UNIT_DAYS);
    assert_slot(&s, 0, "2026-03-27T02:30:00+01:00");
    assert_slot(&s, 1, "2026-03-28T02:30:00+01:00");
    assert_slot(&s, 2, "2026-03-29T03:00:00+02:00");
    assert_slot(&s, 3, "2026-03-30T02:30:00+02:00");
    time_t before_jump = at("2026-03-29T01:59:59+01:00");
    assert_local(ib_sched_next_after(&s, before_jump), "2026-03-29T03:00:00+02:00");
    assert_local(ib_sched_next_after(&s, ib_sched_slot_time(&s, 2)), "2026-03-30T02:30:00+02:00");
    assert_int_equal(ib_sched_count_between(&s, at("2026-03-29T00:00:00+01:00"),
                                            at("2026-03-30T00:00:00+02:00")),
                     1);
}

static void test_dst_autumn_days(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 10, 23, 2, 30, 0), 1, IB_UNIT_DAYS);
    assert_slot(&s, 1, "2026-10-24T02:30:00+02:00");
    assert_slot(&s, 2, "2026-10-25T02:30:00+02:00");
    assert_slot(&s, 3, "2026-10-26T02:30:00+01:00");
    /* Only one slot on the day 02:30 happens twice. */
    time_t first = ib_sched_slot_time(&s, 2);
    assert_local(ib_sched_next_after(&s, first), "2026-10-26T02:30:00+01:00");
    assert_local(ib_sched_next_after(&s, first + 3600), "2026-10-26T02:30:00+01:00");
    assert_int_equal(ib_sched_count_between(&s, at("2026-10-25T00:00:00+02:00"),
                                            at("2026-10-26T00:00:00+01:00")),
                     1);
    /* A start inside the repeated hour keeps its first occurrence. */
    ib_schedule in_overlap = sched(civil(2026, 10, 25, 2, 30, 0), 1, IB_UNIT_DAYS);
    assert_slot(&in_overlap, 0, "2026-10-25T02:30:00+02:00");
    assert_slot(&in_overlap, 1, "2026-10-26T02:30:00+01:00");
}

static void test_dst_hours_elapsed(void **state)
{
    (void)state;
    ib_schedule spring = sched(civil(2026, 3, 28, 12, 0, 0), 1, IB_UNIT_HOURS);
    for (int64_t k = 1; k < 24; k++)
        assert_int_equal(ib_sched_slot_time(&spring, k) - ib_sched_slot_time(&spring, k - 1), 3600);
    assert_slot(&spring, 13, "2026-03-29T01:00:00+01:00");
    assert_slot(&spring, 14, "2026-03-29T03:00:00+02:00");
    ib_schedule autumn = sched(civil(2026, 10, 24, 12, 0, 0), 1, IB_UNIT_HOURS);
    for (int64_t k = 1; k < 24; k++)
        assert_int_equal(ib_sched_slot_time(&autumn, k) - ib_sched_slot_time(&autumn, k - 1), 3600);
    assert_slot(&autumn, 14, "2026-10-25T02:00:00+02:00");
    assert_slot(&autumn, 15, "2026-10-25T02:00:00+01:00");
    assert_slot(&autumn, 16, "2026-10-25T03:00:00+01:00");
    /* 25 slots in the 25-hour day. */
    assert_int_equal(ib_sched_count_between(&autumn, at("2026-10-25T00:00:00+02:00") - 1,
                                            at("2026-10-26T00:00:00+01:00") - 1),
                     25);
}

static void test_month_ends(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 1, 31, 10, 0, 0), 1, IB_UNIT_DAYS);
    assert_slot(&s, 1, "2026-02-01T10:00:00+01:00");
    assert_slot(&s, 28, "2026-02-28T10:00:00+01:00");
    assert_slot(&s, 29, "2026-03-01T10:00:00+01:00");
    assert_slot(&s, 59, "2026-03-31T10:00:00+02:00");
    assert_slot(&s, 334, "2026-12-31T10:00:00+01:00");
    assert_slot(&s, 335, "2027-01-01T10:00:00+01:00");
    ib_schedule every30 = sched(civil(2026, 1, 31, 10, 0, 0), 30, IB_UNIT_DAYS);
    assert_slot(&every30, 1, "2026-03-02T10:00:00+01:00");
}

static void test_leap_day(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2028, 2, 28, 0, 0, 0), 1, IB_UNIT_DAYS);
    assert_slot(&s, 1, "2028-02-29T00:00:00+01:00");
    assert_slot(&s, 2, "2028-03-01T00:00:00+01:00");
    ib_schedule yearly = sched(civil(2028, 2, 29, 0, 0, 0), 365, IB_UNIT_DAYS);
    assert_slot(&yearly, 0, "2028-02-29T00:00:00+01:00");
    assert_slot(&yearly, 1, "2029-02-28T00:00:00+01:00");
    assert_slot(&yearly, 4, "2032-02-28T00:00:00+01:00");
    time_t t = at("2029-01-01T00:00:00+01:00");
    assert_int_equal(ib_sched_next_index(&yearly, t), 1);
}

static void test_started_with_offset(void **state)
{
    (void)state;
    ib_civil_time c = civil(2026, 6, 1, 8, 0, 0);
    c.has_offset = true;
    c.offset_seconds = 5 * 3600 + 30 * 60;
    ib_schedule daily = sched(c, 1, IB_UNIT_DAYS);
    assert_slot(&daily, 0, "2026-06-01T04:30:00+02:00");
    /* Days keep the system zone's wall clock of that instant. */
    assert_slot(&daily, 200, "2026-12-18T04:30:00+01:00");
    ib_schedule hourly = sched(c, 2, IB_UNIT_HOURS);
    assert_int_equal(ib_sched_slot_time(&hourly, 0), at("2026-06-01T02:30:00+00:00"));
    assert_int_equal(ib_sched_slot_time(&hourly, 12), at("2026-06-02T02:30:00+00:00"));
    c.offset_seconds = -5 * 3600;
    ib_schedule west = sched(c, 1, IB_UNIT_DAYS);
    assert_slot(&west, 0, "2026-06-01T15:00:00+02:00");
}

static void test_count_between_downtime(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 11, 1, 2, 0, 0), 1, IB_UNIT_DAYS);
    time_t slot5 = ib_sched_slot_time(&s, 5), slot8 = ib_sched_slot_time(&s, 8);
    assert_int_equal(ib_sched_count_between(&s, slot5 + 600, slot8 + 600), 3);
    assert_int_equal(ib_sched_count_between(&s, slot5, slot8), 3);
    assert_int_equal(ib_sched_count_between(&s, slot5 - 1, slot8), 4);
    assert_int_equal(ib_sched_count_between(&s, slot5, slot8 - 1), 2);
    assert_int_equal(ib_sched_count_between(&s, slot8, slot5), 0);
    assert_int_equal(ib_sched_count_between(&s, slot8, slot8), 0);
    /* Before slot 0 nothing was missed. */
    assert_int_equal(ib_sched_count_between(&s, slot5 - 86400 * 30, ib_sched_slot_time(&s, 0) - 1),
                     0);
}

static void test_next_after_at_slot(void **state)
{
    (void)state;
    ib_schedule d = sched(civil(2026, 11, 24, 2, 0, 0), 1, IB_UNIT_DAYS);
    assert_int_equal(ib_sched_next_after(&d, ib_sched_slot_time(&d, 3)), ib_sched_slot_time(&d, 4));
    assert_int_equal(ib_sched_next_index(&d, ib_sched_slot_time(&d, 3)), 4);
    assert_int_equal(ib_sched_next_index(&d, ib_sched_slot_time(&d, 3) - 1), 3);
    ib_schedule h = sched(civil(2026, 11, 24, 2, 0, 0), 1, IB_UNIT_HOURS);
    assert_int_equal(ib_sched_next_after(&h, ib_sched_slot_time(&h, 0)), ib_sched_slot_time(&h, 1));
}

/* next_index and count_between agree with slot_time over a year of
 * instants, through both DST changes. */
static void test_consistency_year(void **state)
{
    (void)state;
    ib_schedule daily = sched(civil(2025, 12, 30, 2, 30, 0), 1, IB_UNIT_DAYS);
    ib_schedule every3 = sched(civil(2025, 12, 30, 2, 15, 0), 3, IB_UNIT_DAYS);
    ib_schedule hours5 = sched(civil(2025, 12, 30, 2, 15, 0), 5, IB_UNIT_HOURS);
    const ib_schedule *all[] = {&daily, &every3, &hours5};
    time_t from = at("2026-01-01T00:00:00+01:00");
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
        int64_t brute = 0;
        time_t prev = from;
        for (time_t t = from; t < from + 366 * 86400; t += 7919) {
            assert_next_consistent(all[i], t);
            brute = 0;
            for (int64_t k = ib_sched_next_index(all[i], prev); ib_sched_slot_time(all[i], k) <= t;
                 k++)
                brute++;
            assert_int_equal(ib_sched_count_between(all[i], prev, t), brute);
            prev = t;
        }
    }
}

static void test_overflow(void **state)
{
    (void)state;
    ib_schedule s = sched(civil(2026, 1, 1, 0, 0, 0), 1, IB_UNIT_DAYS);
    assert_int_equal(ib_sched_slot_time(&s, INT64_MAX), (time_t)-1);
    assert_int_equal(ib_sched_slot_time(&s, -1), (time_t)-1);
    ib_schedule h = sched(civil(2026, 1, 1, 0, 0, 0), INT64_MAX / 2, IB_UNIT_HOURS);
    assert_int_equal(ib_sched_slot_time(&h, 1), (time_t)-1);
    assert_int_equal(ib_sched_next_after(&h, ib_sched_slot_time(&h, 0)), (time_t)-1);
    ib_schedule bad = sched(civil(2026, 1, 1, 0, 0, 0), 0, IB_UNIT_DAYS);
    assert_int_equal(ib_sched_slot_time(&bad, 0), (time_t)-1);
}

static void test_utc_zone(void **state)
{
    (void)state;
    use_zone("UTC");
    ib_schedule s = sched(civil(2026, 3, 28, 2, 30, 0), 1, IB_UNIT_DAYS);
    for (int64_t k = 1; k < 10; k++)
        assert_int_equal(ib_sched_slot_time(&s, k) - ib_sched_slot_time(&s, k - 1), 86400);
    assert_slot(&s, 1, "2026-03-29T02:30:00+00:00");
    char buf[64];
    ib_format_utc_time(ib_sched_slot_time(&s, 1), buf, sizeof buf);
    assert_string_equal(buf, "2026-03-29T02:30:00Z");
}

static void test_new_york(void **state)
{
    (void)state;
    use_zone("America/New_York");
    ib_schedule spring = sched(civil(2026, 3, 7, 2, 15, 0), 1, IB_UNIT_DAYS);
    assert_slot(&spring, 0, "2026-03-07T02:15:00-05:00");
    assert_slot(&spring, 1, "2026-03-08T03:00:00-04:00");
    assert_slot(&spring, 2, "2026-03-09T02:15:00-04:00");
    ib_schedule autumn = sched(civil(2026, 10, 31, 1, 30, 0), 1, IB_UNIT_DAYS);
    assert_slot(&autumn, 1, "2026-11-01T01:30:00-04:00");
    assert_slot(&autumn, 2, "2026-11-02T01:30:00-05:00");
    assert_local(ib_sched_next_after(&autumn, ib_sched_slot_time(&autumn, 1)),
                 "2026-11-02T01:30:00-05:00");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_format, setup_berlin),
        cmocka_unit_test_setup(test_civil_to_time, setup_berlin),
        cmocka_unit_test_setup(test_hourly_basic, setup_berlin),
        cmocka_unit_test_setup(test_daily_basic, setup_berlin),
        cmocka_unit_test_setup(test_minutes, setup_berlin),
        cmocka_unit_test_setup(test_started_in_future, setup_berlin),
        cmocka_unit_test_setup(test_started_far_past, setup_berlin),
        cmocka_unit_test_setup(test_dst_spring_days, setup_berlin),
        cmocka_unit_test_setup(test_dst_autumn_days, setup_berlin),
        cmocka_unit_test_setup(test_dst_hours_elapsed, setup_berlin),
        cmocka_unit_test_setup(test_month_ends, setup_berlin),
        cmocka_unit_test_setup(test_leap_day, setup_berlin),
        cmocka_unit_test_setup(test_started_with_offset, setup_berlin),
        cmocka_unit_test_setup(test_count_between_downtime, setup_berlin),
        cmocka_unit_test_setup(test_next_after_at_slot, setup_berlin),
        cmocka_unit_test_setup(test_consistency_year, setup_berlin),
        cmocka_unit_test_setup(test_overflow, setup_berlin),
        cmocka_unit_test_setup(test_utc_zone, setup_berlin),
        cmocka_unit_test_setup(test_new_york, setup_berlin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
