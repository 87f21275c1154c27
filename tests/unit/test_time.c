/* test_time.c — durations, RFC 3339 / epoch instants, HH:MM, dates, and the
 * civil-day arithmetic. Expected values are literal epoch seconds checked
 * against an independent implementation (Python's calendar.timegm). */
#include <string.h>

#include "mg_test.h"
#include "mg_time.h"

#define S(x) ((apr_interval_time_t)(x)*APR_USEC_PER_SEC)

/* ---- durations ---- */
static const struct {
    const char *in;
    apr_interval_time_t us;
} good_durations[] = {
    {"0", 0},
    {"0s", 0},
    {"90s", S(90)},
    {"15m", S(900)},
    {"1h30m", S(5400)},
    {"2d", S(172800)},
    {"1w", S(604800)},
    {"1w2d3h4m5s", S(604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5)},
    {"400d", S(400 * 86400)},
    {"36h", S(36 * 3600)},
};

START_TEST(test_duration_parses_units_in_order)
{
    apr_interval_time_t v = -1;
    ck_assert_msg(mg_duration_parse(good_durations[_i].in, &v) == 0, "'%s' should parse",
                  good_durations[_i].in);
    ck_assert_int_eq(v, good_durations[_i].us);
}
END_TEST

static const char *const bad_durations[] = {
    "",
    "-5m",
    "+5m",
    "1.5h",
    "90",
    "5",
    "1y",
    "1ms",
    "5M",
    "1h 30m",
    " 1h",
    "1h ",
    "30m1h",
    "1h1h",
    "h",
    "1hm",
    "0x10s",
    "1e3s",
    "99999999999999999999s",
    "9223372036854775807s",
    "20000000w",
};

START_TEST(test_duration_refuses_bad_input)
{
    apr_interval_time_t v = 12345;
    ck_assert_msg(mg_duration_parse(bad_durations[_i], &v) == -1, "'%s' must be refused",
                  bad_durations[_i]);
    ck_assert_int_eq(v, 12345); /* untouched on error */
}
END_TEST

START_TEST(test_duration_refuses_null)
{
    apr_interval_time_t v;
    ck_assert_int_eq(mg_duration_parse(NULL, &v), -1);
}
END_TEST

/* ---- instants ---- */
static const struct {
    const char *in;
    apr_time_t us;
} good_times[] = {
    {"2026-12-31T23:59:59Z", S(1798761599)},
    {"1970-01-01T00:00:00Z", 0},
    {"2026-12-31T23:59:59+01:00", S(1798761599 - 3600)},
    {"2026-12-31T23:59:59-05:30", S(1798761599 + 5 * 3600 + 1800)},
    {"2026-12-31T23:59:59-00:00", S(1798761599)},
    {"2026-12-31t23:59:59z", S(1798761599)},
    {"2026-12-31T23:59:59.5Z", S(1798761599) + 500000},
    {"2026-12-31T23:59:59.000001Z", S(1798761599) + 1},
    {"2026-12-31T23:59:59.123456789Z", S(1798761599) + 123456},
    {"2000-02-29T12:00:00Z", S(951825600)},
    {"2024-02-29T00:00:00Z", S(1709164800)},
    {"2038-01-19T03:14:08Z", S(INT64_C(2147483648))},
    {"9999-12-31T23:59:59Z", S(INT64_C(253402300799))},
    {"1969-12-31T23:59:59Z", S(-1)},
    {"2100-03-01T00:00:00Z", S(INT64_C(4107542400))},
    {"1798761599", S(1798761599)},
    {"0", 0},
};

START_TEST(test_time_parses_rfc3339_and_epoch)
{
    apr_time_t v = -1;
    ck_assert_msg(mg_time_parse(good_times[_i].in, &v) == 0, "'%s' should parse",
                  good_times[_i].in);
    ck_assert_int_eq(v, good_times[_i].us);
}
END_TEST

static const char *const bad_times[] = {
    "",
    "2026-12-31",
    "2026-12-31T23:59:59",
    "2026-12-31 23:59:59Z",
    "2026-12-31T23:59Z",
    "2026-12-31T24:00:00Z",
    "2026-12-31T23:60:00Z",
    "2026-12-31T23:59:60Z",
    "2026-02-29T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-10T00:00:00Z",
    "2026-12-32T00:00:00Z",
    "26-12-31T23:59:59Z",
    "2026-12-31T23:59:59.Z",
    "2026-12-31T23:59:59.1234567890Z",
    "2026-12-31T23:59:59+0100",
    "2026-12-31T23:59:59+01",
    "2026-12-31T23:59:59+24:00",
    "2026-12-31T23:59:59+01:60",
    "2026-12-31T23:59:59ZZ",
    "2026-12-31T23:59:59Z ",
    " 2026-12-31T23:59:59Z",
    "-1",
    "+5",
    "1.5",
    "1798761599s",
    "9999999999999",
};

START_TEST(test_time_refuses_bad_input)
{
    apr_time_t v = 777;
    ck_assert_msg(mg_time_parse(bad_times[_i], &v) == -1, "'%s' must be refused", bad_times[_i]);
    ck_assert_int_eq(v, 777);
}
END_TEST

START_TEST(test_time_format_is_utc_z_and_round_trips)
{
    char buf[32];
    apr_time_t t;
    ck_assert_str_eq(mg_time_format(S(1798761599), buf, sizeof(buf)), "2026-12-31T23:59:59Z");
    ck_assert_str_eq(mg_time_format(0, buf, sizeof(buf)), "1970-01-01T00:00:00Z");
    ck_assert_str_eq(mg_time_format(S(951825600) + 999999, buf, sizeof(buf)),
                     "2000-02-29T12:00:00Z");
    /* before 1970 the sub-second part rounds down, not towards zero */
    ck_assert_str_eq(mg_time_format(-1, buf, sizeof(buf)), "1969-12-31T23:59:59Z");
    ck_assert_str_eq(mg_time_format(S(INT64_C(-62135596800)), buf, sizeof(buf)),
                     "0001-01-01T00:00:00Z");
    ck_assert_int_eq(mg_time_parse("2031-07-04T05:06:07+02:00", &t), 0);
    ck_assert_str_eq(mg_time_format(t, buf, sizeof(buf)), "2031-07-04T03:06:07Z");
}
END_TEST

/* ---- HH:MM ---- */
START_TEST(test_hhmm_accepts_two_digit_times_and_24_00)
{
    int m = -1;
    ck_assert_int_eq(mg_hhmm_parse("09:00", &m), 0);
    ck_assert_int_eq(m, 540);
    ck_assert_int_eq(mg_hhmm_parse("00:00", &m), 0);
    ck_assert_int_eq(m, 0);
    ck_assert_int_eq(mg_hhmm_parse("23:59", &m), 0);
    ck_assert_int_eq(m, 1439);
    ck_assert_int_eq(mg_hhmm_parse("24:00", &m), 0);
    ck_assert_int_eq(m, 1440);
}
END_TEST

static const char *const bad_hhmm[] = {
    "9:00", "09:0",   "25:00", "24:01", "12:60",    "-1:00", "09.00",
    "0900", "09:00 ", "",      "0a:00", "09:00:00", "+9:00",
};

START_TEST(test_hhmm_refuses_bad_input)
{
    int m = 42;
    ck_assert_msg(mg_hhmm_parse(bad_hhmm[_i], &m) == -1, "'%s' must be refused", bad_hhmm[_i]);
    ck_assert_int_eq(m, 42);
}
END_TEST

START_TEST(test_hhmm_range_allows_24_00_only_as_end)
{
    int a, b;
    ck_assert_int_eq(mg_hhmm_range_parse("09:00-17:30", &a, &b), 0);
    ck_assert_int_eq(a, 540);
    ck_assert_int_eq(b, 1050);
    ck_assert_int_eq(mg_hhmm_range_parse("00:00-24:00", &a, &b), 0);
    ck_assert_int_eq(b, 1440);
    ck_assert_int_eq(mg_hhmm_range_parse("22:00-06:00", &a, &b), 0);
    ck_assert_int_gt(a, b);
    ck_assert_int_eq(mg_hhmm_range_parse("24:00-06:00", &a, &b), -1);
    ck_assert_int_eq(mg_hhmm_range_parse("09:00-09:00", &a, &b), -1);
    ck_assert_int_eq(mg_hhmm_range_parse("09:00 - 17:00", &a, &b), -1);
    ck_assert_int_eq(mg_hhmm_range_parse("9:00-17:00", &a, &b), -1);
    ck_assert_int_eq(mg_hhmm_range_parse("09:00-17:00x", &a, &b), -1);
}
END_TEST

/* ---- dates ---- */
static const struct {
    const char *in;
    int ymd; /* 0 = must be refused */
} dates[] = {
    {"2026-01-31", 20260131}, {"2024-02-29", 20240229}, {"2000-02-29", 20000229},
    {"2026-12-31", 20261231}, {"2026-02-28", 20260228}, {"2026-02-29", 0},
    {"2100-02-29", 0},        {"1900-02-29", 0},        {"2026-04-31", 0},
    {"2026-06-31", 0},        {"2026-13-01", 0},        {"2026-00-01", 0},
    {"2026-01-00", 0},        {"2026-1-31", 0},         {"26-01-31", 0},
    {"2026/01/31", 0},        {"2026-01-31T", 0},       {"", 0},
    {"20260131", 0},          {"2026-01-3a", 0},
};

START_TEST(test_date_parse_validates_calendar)
{
    int ymd = -7;
    int rc = mg_date_parse(dates[_i].in, &ymd);
    if (dates[_i].ymd == 0) {
        ck_assert_msg(rc == -1, "'%s' must be refused", dates[_i].in);
        ck_assert_int_eq(ymd, -7);
    } else {
        ck_assert_msg(rc == 0, "'%s' should parse", dates[_i].in);
        ck_assert_int_eq(ymd, dates[_i].ymd);
    }
}
END_TEST

/* ---- civil arithmetic ---- */
START_TEST(test_civil_days_round_trip_and_weekdays)
{
    int y, m, d;
    ck_assert_int_eq(mg_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(mg_days_from_civil(2000, 3, 1), 11017);
    ck_assert_int_eq(mg_days_from_civil(1969, 12, 31), -1);
    ck_assert_int_eq(mg_weekday_from_days(0), 4);                                /* Thursday */
    ck_assert_int_eq(mg_weekday_from_days(-1), 3);                               /* Wednesday */
    ck_assert_int_eq(mg_weekday_from_days(mg_days_from_civil(2026, 11, 23)), 1); /* Monday */
    ck_assert_int_eq(mg_weekday_from_days(mg_days_from_civil(1, 1, 1)), 1);
    /* every day from 1600 to 2500 converts back to itself */
    for (int64_t z = mg_days_from_civil(1600, 1, 1); z <= mg_days_from_civil(2500, 12, 31); z++) {
        mg_civil_from_days(z, &y, &m, &d);
        if (mg_days_from_civil(y, m, d) != z || d < 1 || d > mg_days_in_month(y, m)) {
            ck_abort_msg("day %lld does not round-trip", (long long)z);
        }
    }
    mg_civil_from_days(-719162, &y, &m, &d);
    ck_assert_int_eq(y * 10000 + m * 100 + d, 10101);
    ck_assert_int_eq(mg_days_in_month(2024, 2), 29);
    ck_assert_int_eq(mg_days_in_month(2100, 2), 28);
    ck_assert_int_eq(mg_days_in_month(2026, 13), 0);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *time_suite(void)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_add_loop_test(tc, test_duration_parses_units_in_order, 0, N(good_durations));
    tcase_add_loop_test(tc, test_duration_refuses_bad_input, 0, N(bad_durations));
    tcase_add_test(tc, test_duration_refuses_null);
    tcase_add_loop_test(tc, test_time_parses_rfc3339_and_epoch, 0, N(good_times));
    tcase_add_loop_test(tc, test_time_refuses_bad_input, 0, N(bad_times));
    tcase_add_test(tc, test_time_format_is_utc_z_and_round_trips);
    tcase_add_test(tc, test_hhmm_accepts_two_digit_times_and_24_00);
    tcase_add_loop_test(tc, test_hhmm_refuses_bad_input, 0, N(bad_hhmm));
    tcase_add_test(tc, test_hhmm_range_allows_24_00_only_as_end);
    tcase_add_loop_test(tc, test_date_parse_validates_calendar, 0, N(dates));
    tcase_add_test(tc, test_civil_days_round_trip_and_weekdays);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(time_suite)
