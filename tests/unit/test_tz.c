/* test_tz.c — TZif loading, transitions, POSIX footer rules, local->UTC in
 * gaps and overlaps, zone name validation.
 *
 * Expected values are literals taken from zdump(8) (glibc's independent
 * implementation) on Debian 12 tzdata 2026f, except the permanent-DST rule,
 * which glibc mishandles at the year boundary and whose values follow
 * RFC 8536 section 3.3.1 by hand. No test calls localtime(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include <apr_file_io.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "mg_test.h"
#include "mg_time.h"
#include "mg_tz.h"

/* A "slim" TZif v2 file made with `zic -b slim` from:
 *   Rule T 1981 max - Mar lastSun 1:00u 1:00 S
 *   Rule T 1981 max - Oct lastSun 1:00u 0 -
 *   Zone Test/Slim 0:53:28 - LMT 1893 Apr
 *      1:00 - CET 1980
 *      1:00 T CE%sT
 * Its table ends with the 1981-03-29 transition; everything after it,
 * starting with 1981-10-25, comes from the footer "CET-1CEST,M3.5.0,M10.5.0/3". */
static const unsigned char slim_tzif[] = {
    0x54, 0x5a, 0x69, 0x66, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x54, 0x5a, 0x69, 0x66, 0x32, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x0d, 0xff,
    0xff, 0xff, 0xff, 0x6f, 0xa2, 0x61, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x15, 0x23, 0xeb, 0x90, 0x01,
    0x02, 0x00, 0x00, 0x0c, 0x88, 0x00, 0x00, 0x00, 0x00, 0x0e, 0x10, 0x00, 0x04, 0x00, 0x00, 0x1c,
    0x20, 0x01, 0x08, 0x4c, 0x4d, 0x54, 0x00, 0x43, 0x45, 0x54, 0x00, 0x43, 0x45, 0x53, 0x54, 0x00,
    0x0a, 0x43, 0x45, 0x54, 0x2d, 0x31, 0x43, 0x45, 0x53, 0x54, 0x2c, 0x4d, 0x33, 0x2e, 0x35, 0x2e,
    0x30, 0x2c, 0x4d, 0x31, 0x30, 0x2e, 0x35, 0x2e, 0x30, 0x2f, 0x33, 0x0a};

#define SLIM "@slim"
#define POSIX_J "XXX-1YYY-3,J60/-3,300/30:30"
#define POSIX_PERMANENT "EST5EDT,0/0,J365/25"

/* Load by name; "@slim" is the embedded file, a name with a ',' a POSIX
 * rule string, anything else the system database. */
static const mg_tz_t *zone(const char *name)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    mg_status_t rc;
    if (strcmp(name, SLIM) == 0) {
        rc = mg_tz_load_buffer(mg_test_pool, "Test/Slim", slim_tzif, sizeof(slim_tzif), &tz, &why);
    } else if (strchr(name, ',') != NULL) {
        rc = mg_tz_from_posix(mg_test_pool, name, &tz, &why);
    } else {
        rc = mg_tz_load(mg_test_pool, name, &tz, &why);
    }
    ck_assert_msg(rc == MG_OK, "zone %s: %s", name, why ? why : "?");
    ck_assert_ptr_nonnull(tz);
    return tz;
}

static const char *civil_str(const mg_civil_t *c)
{
    return apr_psprintf(mg_test_pool, "%04d-%02d-%02d %02d:%02d:%02d", c->year, c->month, c->day,
                        c->hour, c->min, c->sec);
}

/* ---- transitions: one second before and at each ---- */
static const struct {
    const char *zone;
    int64_t t; /* first second of the new offset */
    const char *before;
    int32_t off_before;
    int dst_before;
    const char *after;
    int32_t off_after;
    int dst_after;
} transitions[] = {
    {"Europe/Berlin", 1774746000, "2026-03-29 01:59:59", 3600, 0, "2026-03-29 03:00:00", 7200, 1},
    {"Europe/Berlin", 1792890000, "2026-10-25 02:59:59", 7200, 1, "2026-10-25 02:00:00", 3600, 0},
    {"Europe/Berlin", 2216250000, "2040-03-25 01:59:59", 3600, 0, "2040-03-25 03:00:00", 7200, 1},
    {"Europe/Berlin", 2234998800, "2040-10-28 02:59:59", 7200, 1, "2040-10-28 02:00:00", 3600, 0},
    {"Europe/Berlin", INT64_C(4109878800), "2100-03-28 01:59:59", 3600, 0, "2100-03-28 03:00:00",
     7200, 1},
    {"America/New_York", 1772953200, "2026-03-08 01:59:59", -18000, 0, "2026-03-08 03:00:00",
     -14400, 1},
    {"America/New_York", 1793512800, "2026-11-01 01:59:59", -14400, 1, "2026-11-01 01:00:00",
     -18000, 0},
    {"America/New_York", 2215062000, "2040-03-11 01:59:59", -18000, 0, "2040-03-11 03:00:00",
     -14400, 1},
    {"America/New_York", 2235621600, "2040-11-04 01:59:59", -14400, 1, "2040-11-04 01:00:00",
     -18000, 0},
    {"Australia/Sydney", 1775318400, "2026-04-05 02:59:59", 39600, 1, "2026-04-05 02:00:00", 36000,
     0},
    {"Australia/Sydney", 1791043200, "2026-10-04 01:59:59", 36000, 0, "2026-10-04 03:00:00", 39600,
     1},
    {"Australia/Sydney", 2216822400, "2040-04-01 02:59:59", 39600, 1, "2040-04-01 02:00:00", 36000,
     0},
    {"Australia/Sydney", 2233152000, "2040-10-07 01:59:59", 36000, 0, "2040-10-07 03:00:00", 39600,
     1},
    {"Australia/Sydney", INT64_C(13577385600), "2400-04-02 02:59:59", 39600, 1,
     "2400-04-02 02:00:00", 36000, 0},
    {"Australia/Sydney", INT64_C(13593110400), "2400-10-01 01:59:59", 36000, 0,
     "2400-10-01 03:00:00", 39600, 1},
    /* +5:30, and its wartime +6:30 */
    {"Asia/Kolkata", -891581400, "1941-09-30 23:59:59", 19800, 0, "1941-10-01 01:00:00", 23400, 1},
    {"Asia/Kolkata", -764145000, "1945-10-14 23:59:59", 23400, 1, "1945-10-14 23:00:00", 19800, 0},
    /* historical changes of standard time */
    {"Europe/Moscow", 1301180400, "2011-03-27 01:59:59", 10800, 0, "2011-03-27 03:00:00", 14400, 0},
    {"Europe/Moscow", 1414274400, "2014-10-26 01:59:59", 14400, 0, "2014-10-26 01:00:00", 10800, 0},
    /* Samoa skipped 2011-12-30 entirely */
    {"Pacific/Apia", 1325239200, "2011-12-29 23:59:59", -36000, 1, "2011-12-31 00:00:00", 50400, 1},
    /* footer with a negative transition hour (M3.5.0/-1) */
    {"America/Nuuk", 2216250000, "2040-03-24 22:59:59", -7200, 0, "2040-03-25 00:00:00", -3600, 1},
    {"America/Nuuk", 2234998800, "2040-10-27 23:59:59", -3600, 1, "2040-10-27 23:00:00", -7200, 0},
    /* footer with an hour beyond 24 (M3.4.4/26) */
    {"Asia/Jerusalem", 2216073600, "2040-03-23 01:59:59", 7200, 0, "2040-03-23 03:00:00", 10800, 1},
    {"Asia/Jerusalem", 2234991600, "2040-10-28 01:59:59", 10800, 1, "2040-10-28 01:00:00", 7200, 0},
    /* slim file: last table transition, then the footer */
    {SLIM, INT64_C(-2422054408), "1893-03-31 23:59:59", 3208, 0, "1893-04-01 00:06:32", 3600, 0},
    {SLIM, 354675600, "1981-03-29 01:59:59", 3600, 0, "1981-03-29 03:00:00", 7200, 1},
    {SLIM, 372819600, "1981-10-25 02:59:59", 7200, 1, "1981-10-25 02:00:00", 3600, 0},
    {SLIM, 1774746000, "2026-03-29 01:59:59", 3600, 0, "2026-03-29 03:00:00", 7200, 1},
    {SLIM, 2234998800, "2040-10-28 02:59:59", 7200, 1, "2040-10-28 02:00:00", 3600, 0},
    /* Jn (Feb 29 not counted) with a negative time, n (counted) with 30:30 */
    {POSIX_J, 1898539200, "2030-02-28 20:59:59", 3600, 0, "2030-02-28 23:00:00", 10800, 1},
    {POSIX_J, 1919475000, "2030-10-29 06:29:59", 10800, 1, "2030-10-29 04:30:00", 3600, 0},
    {POSIX_J, 1961697600, "2032-02-29 20:59:59", 3600, 0, "2032-02-29 23:00:00", 10800, 1},
    {POSIX_J, 1982547000, "2032-10-28 06:29:59", 10800, 1, "2032-10-28 04:30:00", 3600, 0},
    /* permanent DST: EDT on both sides of the year boundary */
    {POSIX_PERMANENT, 1924992000, "2030-12-31 19:59:59", -14400, 1, "2030-12-31 20:00:00", -14400,
     1},
    {POSIX_PERMANENT, 1893474000, "2030-01-01 00:59:59", -14400, 1, "2030-01-01 01:00:00", -14400,
     1},
};

START_TEST(test_offsets_exact_one_second_before_and_at_transition)
{
    const mg_tz_t *tz = zone(transitions[_i].zone);
    mg_civil_t c;

    mg_tz_to_local(tz, transitions[_i].t - 1, &c);
    ck_assert_str_eq(civil_str(&c), transitions[_i].before);
    ck_assert_int_eq(c.utc_offset, transitions[_i].off_before);
    ck_assert_int_eq(c.is_dst, transitions[_i].dst_before);

    mg_tz_to_local(tz, transitions[_i].t, &c);
    ck_assert_str_eq(civil_str(&c), transitions[_i].after);
    ck_assert_int_eq(c.utc_offset, transitions[_i].off_after);
    ck_assert_int_eq(c.is_dst, transitions[_i].dst_after);
}
END_TEST

/* ---- local -> UTC ---- */
static const struct {
    const char *zone;
    int y, mo, d, h, mi, s;
    int64_t t;
} from_local[] = {
    /* ordinary times */
    {"UTC", 2026, 12, 31, 23, 59, 59, 1798761599},
    {"Asia/Kolkata", 2026, 11, 23, 17, 30, 0, 1795435200},
    {"Europe/Berlin", 2026, 3, 29, 1, 59, 59, 1774746000 - 1},
    {"Europe/Berlin", 2026, 3, 29, 3, 0, 0, 1774746000},
    {"Europe/Berlin", 2026, 10, 25, 1, 59, 59, 1792890000 - 3601},
    {"Europe/Berlin", 2026, 10, 25, 3, 0, 0, 1792890000 + 3600},
    /* gaps: the instant after the gap */
    {"Europe/Berlin", 2026, 3, 29, 2, 0, 0, 1774746000},
    {"Europe/Berlin", 2026, 3, 29, 2, 30, 0, 1774746000},
    {"Europe/Berlin", 2026, 3, 29, 2, 59, 59, 1774746000},
    {"America/New_York", 2026, 3, 8, 2, 30, 0, 1772953200},
    {"Australia/Sydney", 2026, 10, 4, 2, 30, 0, 1791043200},
    {"America/Nuuk", 2040, 3, 24, 23, 30, 0, 2216250000},
    {"Pacific/Apia", 2011, 12, 30, 12, 0, 0, 1325239200},
    {SLIM, 2040, 3, 25, 2, 15, 0, 2216250000},
    /* overlaps: the earlier instant */
    {"Europe/Berlin", 2026, 10, 25, 2, 0, 0, 1792890000 - 3600},
    {"Europe/Berlin", 2026, 10, 25, 2, 30, 0, 1792890000 - 1800},
    {"Europe/Berlin", 2026, 10, 25, 2, 59, 59, 1792890000 - 1},
    {"Europe/Berlin", 2040, 10, 28, 2, 30, 0, 2234998800 - 1800},
    {"America/New_York", 2026, 11, 1, 1, 30, 0, 1793512800 - 1800},
    {"Australia/Sydney", 2026, 4, 5, 2, 30, 0, 1775318400 - 1800},
    {"Europe/Moscow", 2014, 10, 26, 1, 30, 0, 1414274400 - 1800},
};

START_TEST(test_from_local_resolves_gaps_forward_and_overlaps_earlier)
{
    const mg_tz_t *tz = zone(from_local[_i].zone);
    int64_t t = mg_tz_from_local(tz, from_local[_i].y, from_local[_i].mo, from_local[_i].d,
                                 from_local[_i].h, from_local[_i].mi, from_local[_i].s);
    ck_assert_msg(t == from_local[_i].t, "%s %04d-%02d-%02d %02d:%02d:%02d: got %lld, want %lld",
                  from_local[_i].zone, from_local[_i].y, from_local[_i].mo, from_local[_i].d,
                  from_local[_i].h, from_local[_i].mi, from_local[_i].s, (long long)t,
                  (long long)from_local[_i].t);
}
END_TEST

/* Every quarter hour of 2026 in several zones: local time of t maps back to
 * t, or, in a repeated hour, to the earlier instant with the same local time. */
START_TEST(test_from_local_inverts_to_local_for_every_quarter_hour)
{
    static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Sydney",
                                        "Asia/Kolkata",  "America/Nuuk",     SLIM};
    for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
        const mg_tz_t *tz = zone(zones[z]);
        for (int64_t t = 1767225600; t < 1798761600; t += 900) {
            mg_civil_t c, c2;
            mg_tz_to_local(tz, t, &c);
            int64_t back = mg_tz_from_local(tz, c.year, c.month, c.day, c.hour, c.min, c.sec);
            if (back != t) {
                mg_tz_to_local(tz, back, &c2);
                if (!(back < t && c2.year == c.year && c2.month == c.month && c2.day == c.day &&
                      c2.hour == c.hour && c2.min == c.min)) {
                    ck_abort_msg("%s: t=%lld local %s maps back to %lld", zones[z], (long long)t,
                                 civil_str(&c), (long long)back);
                }
            }
        }
    }
}
END_TEST

START_TEST(test_weekday_and_half_hour_offset)
{
    mg_civil_t c;
    mg_tz_to_local(zone("Asia/Kolkata"), 1795435200, &c); /* 2026-11-23 12:00 UTC */
    ck_assert_str_eq(civil_str(&c), "2026-11-23 17:30:00");
    ck_assert_int_eq(c.wday, 1);
    ck_assert_int_eq(c.utc_offset, 19800);
    ck_assert_int_eq(c.is_dst, 0);
    mg_tz_to_local(zone("Australia/Sydney"), 1795435200, &c);
    ck_assert_str_eq(civil_str(&c), "2026-11-23 23:00:00");
    mg_tz_to_local(zone("America/New_York"), 1795435200 - 12 * 3600 - 1, &c);
    ck_assert_str_eq(civil_str(&c), "2026-11-22 18:59:59");
    ck_assert_int_eq(c.wday, 0);
}
END_TEST

START_TEST(test_utc_works_without_zone_files)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    mg_civil_t c;

    setenv("MG_ZONEINFO", "/nonexistent-zoneinfo", 1);
    ck_assert_int_eq(mg_tz_load(mg_test_pool, "UTC", &tz, &why), 0);
    ck_assert_ptr_eq(tz, mg_tz_utc());
    ck_assert_str_eq(mg_tz_name(tz), "UTC");
    mg_tz_to_local(tz, 1798761599, &c);
    ck_assert_str_eq(civil_str(&c), "2026-12-31 23:59:59");
    ck_assert_int_eq(c.utc_offset, 0);
    ck_assert_int_eq(mg_tz_from_local(tz, 1969, 12, 31, 23, 59, 59), -1);
    ck_assert_int_eq(mg_tz_load(mg_test_pool, "Europe/Berlin", &tz, &why), MG_EINVAL);
    ck_assert_str_eq(why, "unknown time zone 'Europe/Berlin': there is no time zone database at "
                          "/nonexistent-zoneinfo ($MG_ZONEINFO)");
    unsetenv("MG_ZONEINFO");
}
END_TEST

START_TEST(test_zoneinfo_directory_comes_from_environment)
{
    char *dir = apr_pstrdup(mg_test_pool, "/tmp/mg_tz_test_XXXXXX");
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    apr_file_t *f;
    apr_size_t n = sizeof(slim_tzif);
    mg_civil_t c;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(apr_dir_make_recursive(apr_pstrcat(mg_test_pool, dir, "/Test", NULL),
                                            APR_FPROT_OS_DEFAULT, mg_test_pool),
                     APR_SUCCESS);
    const char *path = apr_pstrcat(mg_test_pool, dir, "/Test/Slim", NULL);
    ck_assert_int_eq(apr_file_open(&f, path, APR_FOPEN_WRITE | APR_FOPEN_CREATE | APR_FOPEN_BINARY,
                                   APR_FPROT_OS_DEFAULT, mg_test_pool),
                     APR_SUCCESS);
    ck_assert_int_eq(apr_file_write_full(f, slim_tzif, n, NULL), APR_SUCCESS);
    apr_file_close(f);

    setenv("MG_ZONEINFO", dir, 1);
    ck_assert_int_eq(mg_tz_load(mg_test_pool, "Test/Slim", &tz, &why), 0);
    ck_assert_str_eq(mg_tz_name(tz), "Test/Slim");
    mg_tz_to_local(tz, 2216250000, &c);
    ck_assert_str_eq(civil_str(&c), "2040-03-25 03:00:00");
    /* a directory is not a zone */
    ck_assert_int_eq(mg_tz_load(mg_test_pool, "Test", &tz, &why), MG_EINVAL);
    ck_assert_str_eq(why, "unknown time zone 'Test'");
    /* neither is a FIFO, and loading it must not block (test timeout) */
    const char *fifo = apr_pstrcat(mg_test_pool, dir, "/Test/Fifo", NULL);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mg_tz_load(mg_test_pool, "Test/Fifo", &tz, &why), MG_EINVAL);
    ck_assert_str_eq(why, "unknown time zone 'Test/Fifo'");
    unsetenv("MG_ZONEINFO");

    apr_file_remove(fifo, mg_test_pool);
    apr_file_remove(path, mg_test_pool);
    apr_dir_remove(apr_pstrcat(mg_test_pool, dir, "/Test", NULL), mg_test_pool);
    apr_dir_remove(dir, mg_test_pool);
}
END_TEST

START_TEST(test_unknown_zone_is_named_in_error)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    ck_assert_int_eq(mg_tz_load(mg_test_pool, "Mars/Base", &tz, &why), MG_EINVAL);
    ck_assert_str_eq(why, "unknown time zone 'Mars/Base'");
}
END_TEST

static const char *const bad_names[] = {
    "",
    "/etc/localtime",
    "../../etc/passwd",
    "Europe/../../etc/passwd",
    "..",
    "Europe/Berlin/",
    "Europe//Berlin",
    "Europe/Berlin\n",
    "Europe/Ber lin",
    "Europe\\Berlin",
    "zone.tab",
    "Europe/Berlin%00",
    "Europe/Berlin~",
};

START_TEST(test_invalid_zone_names_are_refused)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    ck_assert_msg(mg_tz_load(mg_test_pool, bad_names[_i], &tz, &why) == MG_EINVAL,
                  "'%s' must be refused", bad_names[_i]);
    ck_assert_ptr_null(tz);
    ck_assert_ptr_nonnull(strstr(why, "unknown time zone"));
    ck_assert_ptr_null(strchr(why, '\n'));
}
END_TEST

START_TEST(test_zone_name_length_limit_is_255)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    char name[300];
    memset(name, 'A', sizeof(name));
    name[256] = '\0';
    ck_assert_int_eq(mg_tz_load(mg_test_pool, name, &tz, &why), MG_EINVAL);
    ck_assert_str_eq(why, "unknown time zone (not a valid zone name)");
    name[255] = '\0'; /* valid, merely absent */
    ck_assert_int_eq(mg_tz_load(mg_test_pool, name, &tz, &why), MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "unknown time zone 'AAAA"));
    ck_assert_ptr_null(strstr(why, "not a valid"));
}
END_TEST

START_TEST(test_truncated_or_corrupt_tzif_is_refused)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    unsigned char copy[sizeof(slim_tzif)];

    for (size_t n = 0; n < sizeof(slim_tzif); n++) {
        ck_assert_msg(mg_tz_load_buffer(mg_test_pool, "T", slim_tzif, n, &tz, &why) == MG_EINVAL,
                      "a file cut to %zu bytes must be refused", n);
    }
    /* bad magic */
    memcpy(copy, slim_tzif, sizeof(copy));
    copy[0] = 'X';
    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "T", copy, sizeof(copy), &tz, &why),
                     MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "not a TZif file"));
    /* footer "CET-1CEST,M3.5.0,..." with the M replaced */
    memcpy(copy, slim_tzif, sizeof(copy));
    copy[sizeof(copy) - 17] = 'X';
    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "T", copy, sizeof(copy), &tz, &why),
                     MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "POSIX TZ string"));
    /* footer "CET-2CEST,...": at the last transition (CEST, +2) it says +3 (fuzz_tz found the
     * mismatch: the offset then changed a second later, unseen by local->UTC and buckets) */
    memcpy(copy, slim_tzif, sizeof(copy));
    copy[sizeof(copy) - 23] = '2';
    ck_assert_int_eq(copy[sizeof(copy) - 24], '-');
    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "T", copy, sizeof(copy), &tz, &why),
                     MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "disagrees with the last transition"));
    /* second transition's type index 2 -> 9 (only 3 types) */
    memcpy(copy, slim_tzif, sizeof(copy));
    copy[112] = 9;
    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "T", copy, sizeof(copy), &tz, &why),
                     MG_EINVAL);
    /* transitions out of order */
    memcpy(copy, slim_tzif, sizeof(copy));
    copy[103] = 0x80; /* second transition far before the first */
    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "T", copy, sizeof(copy), &tz, &why),
                     MG_EINVAL);
    /* the unmodified copy still loads: the edits above were what broke it */
    memcpy(copy, slim_tzif, sizeof(copy));
    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "T", copy, sizeof(copy), &tz, &why), 0);
}
END_TEST

/* A version 1 file (32-bit data, no footer): type 0 = +1h before 0 and
 * from 1e9 on, type 1 = +2h DST in between; with `leap`, one leap-second
 * record (1972-07-01, correction 1) as a right/ zone has. */
static size_t v1_file(unsigned char *b, int leap)
{
    size_t n = 0;
#define PUT32(v)                                                                                   \
    do {                                                                                           \
        uint32_t v_ = (uint32_t)(v);                                                               \
        b[n++] = (unsigned char)(v_ >> 24);                                                        \
        b[n++] = (unsigned char)(v_ >> 16);                                                        \
        b[n++] = (unsigned char)(v_ >> 8);                                                         \
        b[n++] = (unsigned char)v_;                                                                \
    } while (0)
    memset(b, 0, 128);
    memcpy(b, "TZif", 4);
    n = 20;
    PUT32(0);    /* isutcnt */
    PUT32(0);    /* isstdcnt */
    PUT32(leap); /* leapcnt */
    PUT32(2);    /* timecnt */
    PUT32(2);    /* typecnt */
    PUT32(8);    /* charcnt */
    PUT32(0);    /* transition times */
    PUT32(1000000000);
    b[n++] = 1; /* transition types */
    b[n++] = 0;
    PUT32(3600); /* ttinfo 0 */
    b[n++] = 0;
    b[n++] = 0;
    PUT32(7200); /* ttinfo 1 */
    b[n++] = 1;
    b[n++] = 4;
    memcpy(b + n, "AAA\0BBB\0", 8);
    n += 8;
    if (leap) {
        PUT32(78796800);
        PUT32(1);
    }
#undef PUT32
    return n;
}

START_TEST(test_version1_file_is_read)
{
    unsigned char b[128];
    size_t n = v1_file(b, 0);
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    mg_civil_t c;

    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "V1", b, n, &tz, &why), 0);
    mg_tz_to_local(tz, -1, &c);
    ck_assert_str_eq(civil_str(&c), "1970-01-01 00:59:59");
    mg_tz_to_local(tz, 0, &c);
    ck_assert_str_eq(civil_str(&c), "1970-01-01 02:00:00");
    ck_assert_int_eq(c.is_dst, 1);
    mg_tz_to_local(tz, 999999999, &c);
    ck_assert_int_eq(c.utc_offset, 7200);
    mg_tz_to_local(tz, 1000000000, &c);
    ck_assert_int_eq(c.utc_offset, 3600);
    mg_tz_to_local(tz, INT64_C(4000000000), &c); /* no footer: the last type stays */
    ck_assert_int_eq(c.utc_offset, 3600);
    ck_assert_int_eq(c.is_dst, 0);
    /* one byte short is refused */
    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "V1", b, n - 1, &tz, &why), MG_EINVAL);
}
END_TEST

/* A file with leap-second records counts them in its transition times: read
 * as POSIX time, every change of offset comes up to 27 s late (a window
 * holds, a bucket's link lives, that much longer). Refused, v1 and v2+. */
START_TEST(test_leap_second_zone_is_refused)
{
    unsigned char b[128];
    size_t n = v1_file(b, 1);
    const mg_tz_t *tz = NULL;
    const char *why = NULL;

    ck_assert_int_eq(mg_tz_load_buffer(mg_test_pool, "right/V1", b, n, &tz, &why), MG_EINVAL);
    ck_assert_ptr_nonnull(strstr(why, "counts leap seconds"));
    ck_assert_ptr_nonnull(strstr(why, "'right/V1'"));
    /* the system's right/ zones (v2+ files), when installed */
    if (access("/usr/share/zoneinfo/right/Europe/Berlin", R_OK) == 0 &&
        getenv("MG_ZONEINFO") == NULL) {
        why = NULL;
        ck_assert_int_eq(mg_tz_load(mg_test_pool, "right/Europe/Berlin", &tz, &why), MG_EINVAL);
        ck_assert_ptr_nonnull(strstr(why, "counts leap seconds"));
        ck_assert_int_eq(mg_tz_load(mg_test_pool, "right/UTC", &tz, &why), MG_EINVAL);
        ck_assert_int_eq(mg_tz_load(mg_test_pool, "posix/Europe/Berlin", &tz, &why), 0);
    }
}
END_TEST

/* A v2 file whose last transition is at INT64_MAX, with a footer east of
 * UTC: the check that the footer agrees with the last transition must not
 * add the offset to that time_t (signed overflow; the sanitizer build of
 * make check aborts on it). Loaded or refused, the queries stay sane. */
START_TEST(test_last_transition_at_int64_max_does_not_overflow)
{
    static const char footer[] = "\nCET-1CEST,M3.5.0,M10.5.0/3\n";
    unsigned char b[256];
    size_t n = 0;
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    mg_civil_t c;

    memset(b, 0, sizeof(b));
    memcpy(b, "TZif2", 5); /* v1 block: one type (UT), nothing else */
    b[39] = 1;
    b[43] = 1;
    n = 44 + 6 + 1;
    memcpy(b + n, "TZif2", 5); /* v2 block: one transition, two types */
    b[n + 20 + 15] = 1;        /* timecnt */
    b[n + 20 + 19] = 2;        /* typecnt */
    b[n + 20 + 23] = 9;        /* charcnt */
    n += 44;
    b[n++] = 0x7f; /* transition time INT64_MAX */
    memset(b + n, 0xff, 7);
    n += 7;
    b[n++] = 0;                           /* its type */
    memcpy(b + n, "\0\0\x0e\x10\0\0", 6); /* +1h, std, "CET" */
    n += 6;
    memcpy(b + n, "\0\0\x1c\x20\1\4", 6); /* +2h, DST, "CEST" */
    n += 6;
    memcpy(b + n, "CET\0CEST\0", 9);
    n += 9;
    memcpy(b + n, footer, sizeof(footer) - 1);
    n += sizeof(footer) - 1;
    if (mg_tz_load_buffer(mg_test_pool, "T", b, n, &tz, &why) == MG_OK) {
        mg_tz_to_local(tz, INT64_MAX, &c);
        ck_assert_int_eq(c.utc_offset, 3600);
    }
}
END_TEST

static const char *const bad_posix[] = {
    "",
    "CET",
    "CE-1",
    "CET-1CEST",
    "CET-25",
    "CET-1CEST,M3.5.0",
    "CET-1CEST,M13.5.0,M10.5.0/3",
    "CET-1CEST,M3.6.0,M10.5.0",
    "CET-1CEST,M3.5.7,M10.5.0",
    "CET-1CEST,J0,J365",
    "CET-1CEST,366,J365",
    "CET-1CEST,M3.5.0/168,M10.5.0",
    "CET-1CEST,M3.5.0,M10.5.0/3x",
    "<+03-3",
    "<+0>-3",
    "CET-1:60",
    /* transitions across New Year, or in an order that changes with the year: refused, not
     * answered wrongly around them */
    "CET-1CEST,J365/48,M10.5.0",
    "CET-1CEST,M3.5.0,M12.5.0/167",
    "CET-1CEST,J1/-3,M10.5.0",
    "CET-1CEST,M3.5.0,J85",
};

START_TEST(test_invalid_posix_rules_are_refused)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    ck_assert_msg(mg_tz_from_posix(mg_test_pool, bad_posix[_i], &tz, &why) == MG_EINVAL,
                  "'%s' must be refused", bad_posix[_i]);
}
END_TEST

START_TEST(test_posix_rule_without_dst_and_quoted_names)
{
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    mg_civil_t c;

    ck_assert_int_eq(mg_tz_from_posix(mg_test_pool, "<+0330>-3:30", &tz, &why), 0);
    mg_tz_to_local(tz, 1798761599, &c);
    ck_assert_str_eq(civil_str(&c), "2027-01-01 03:29:59");
    ck_assert_int_eq(c.utc_offset, 12600);
    ck_assert_int_eq(mg_tz_from_local(tz, 2027, 1, 1, 3, 29, 59), 1798761599);
    ck_assert_int_eq(mg_tz_from_posix(mg_test_pool, "<-03>3", &tz, &why), 0);
    mg_tz_to_local(tz, 0, &c);
    ck_assert_str_eq(civil_str(&c), "1969-12-31 21:00:00");
    ck_assert_int_eq(c.wday, 3);
    ck_assert_int_eq(c.is_dst, 0);
    /* explicit DST offset that is not std + 1h (Lord Howe style, +30 min) */
    ck_assert_int_eq(
        mg_tz_from_posix(mg_test_pool, "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", &tz, &why), 0);
    mg_tz_to_local(tz, 1795435200, &c); /* 2026-11-23 12:00 UTC, southern summer */
    ck_assert_int_eq(c.utc_offset, 39600);
    ck_assert_int_eq(c.is_dst, 1);
}
END_TEST

/* Many threads query the same zones at once and must all get the answers a
 * single thread got: the loaded zone is never written after loading. */
#define THREADS 8
#define SAMPLES 4000
typedef struct {
    const mg_tz_t *tz[2];
    const int32_t (*expect)[2];
    int mismatches;
} thread_job_t;

static void *APR_THREAD_FUNC query_thread(apr_thread_t *th, void *data)
{
    thread_job_t *job = data;
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < SAMPLES; i++) {
            for (int z = 0; z < 2; z++) {
                mg_civil_t c;
                int64_t t = 1767225600 + (int64_t)i * 7919 * 60;
                mg_tz_to_local(job->tz[z], t, &c);
                if (c.utc_offset != job->expect[i][z] ||
                    mg_tz_from_local(job->tz[z], c.year, c.month, c.day, c.hour, c.min, c.sec) >
                        t) {
                    job->mismatches++;
                }
            }
        }
    }
    /* plain return, not apr_thread_exit(): pthread_exit() trips a false
     * positive of AddressSanitizer (sigaltstack at thread teardown) */
    return NULL;
}

START_TEST(test_concurrent_queries_agree_with_single_thread)
{
    static int32_t expect[SAMPLES][2];
    thread_job_t jobs[THREADS];
    apr_thread_t *th[THREADS];
    const mg_tz_t *tz[2] = {zone("Europe/Berlin"), zone("Australia/Sydney")};
    int berlin_dst = 0;

    for (int i = 0; i < SAMPLES; i++) {
        for (int z = 0; z < 2; z++) {
            mg_civil_t c;
            mg_tz_to_local(tz[z], 1767225600 + (int64_t)i * 7919 * 60, &c);
            expect[i][z] = c.utc_offset;
            berlin_dst += z == 0 && c.is_dst;
        }
    }
    ck_assert_int_gt(berlin_dst, 0); /* the samples span both offsets */
    for (int k = 0; k < THREADS; k++) {
        jobs[k] = (thread_job_t){{tz[0], tz[1]}, (const int32_t(*)[2])expect, 0};
        ck_assert_int_eq(apr_thread_create(&th[k], NULL, query_thread, &jobs[k], mg_test_pool),
                         APR_SUCCESS);
    }
    for (int k = 0; k < THREADS; k++) {
        apr_status_t rv;
        apr_thread_join(&rv, th[k]);
        ck_assert_int_eq(jobs[k].mismatches, 0);
    }
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *tz_suite(void)
{
    Suite *s = suite_create("tz");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, mg_test_setup, mg_test_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_offsets_exact_one_second_before_and_at_transition, 0,
                        N(transitions));
    tcase_add_loop_test(tc, test_from_local_resolves_gaps_forward_and_overlaps_earlier, 0,
                        N(from_local));
    tcase_add_test(tc, test_from_local_inverts_to_local_for_every_quarter_hour);
    tcase_add_test(tc, test_weekday_and_half_hour_offset);
    tcase_add_test(tc, test_utc_works_without_zone_files);
    tcase_add_test(tc, test_zoneinfo_directory_comes_from_environment);
    tcase_add_test(tc, test_unknown_zone_is_named_in_error);
    tcase_add_loop_test(tc, test_invalid_zone_names_are_refused, 0, N(bad_names));
    tcase_add_test(tc, test_zone_name_length_limit_is_255);
    tcase_add_test(tc, test_truncated_or_corrupt_tzif_is_refused);
    tcase_add_test(tc, test_version1_file_is_read);
    tcase_add_test(tc, test_leap_second_zone_is_refused);
    tcase_add_test(tc, test_last_transition_at_int64_max_does_not_overflow);
    tcase_add_loop_test(tc, test_invalid_posix_rules_are_refused, 0, N(bad_posix));
    tcase_add_test(tc, test_posix_rule_without_dst_and_quoted_names);
    tcase_add_test(tc, test_concurrent_queries_agree_with_single_thread);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(tz_suite)
