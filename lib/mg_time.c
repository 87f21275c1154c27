/* mg_time.c — durations, RFC 3339 instants, epoch seconds, "HH:MM" times
 * of day, calendar dates, and the proleptic-Gregorian day arithmetic that
 * mg_tz.c shares.
 *
 * Hand-written on purpose: apr_date_parse_rfc() accepts many loose formats
 * and ignores fractional seconds; strptime()/timegm() are locale- and
 * TZ-dependent or non-standard. Policy input must be parsed exactly, with
 * every field range-checked, and refused otherwise.
 */
#include <stdio.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_time.h"

#define USEC_PER_SEC INT64_C(1000000)

/* Days since 1970-01-01 of a proleptic Gregorian date (era arithmetic:
 * 400-year cycles of 146097 days, March-based years so that the leap day
 * is the last day of the year). Valid for any int year. */
int64_t mg_days_from_civil(int y, int m, int d)
{
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;                                           /* [0, 399] */
    int64_t doy = (153 * (int64_t)(m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;                    /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void mg_civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t dd = doy - (153 * mp + 2) / 5 + 1;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *m = (int)mm;
    *d = (int)dd;
}

int mg_weekday_from_days(int64_t z)
{
    /* 1970-01-01 was a Thursday (4). */
    return (int)(((z + 4) % 7 + 7) % 7);
}

int mg_is_leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int mg_days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12) {
        return 0;
    }
    return m == 2 && mg_is_leap_year(y) ? 29 : dim[m - 1];
}

/* Exactly n decimal digits at s; -1 otherwise. */
static int fixed_digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DD" at s (exactly 10 characters, not checked for what follows). */
static int parse_ymd(const char *s, int *y, int *m, int *d)
{
    if (strnlen(s, 10) < 10 || s[4] != '-' || s[7] != '-') {
        return -1;
    }
    *y = fixed_digits(s, 4);
    *m = fixed_digits(s + 5, 2);
    *d = fixed_digits(s + 8, 2);
    if (*y < 0 || *m < 1 || *m > 12 || *d < 1 || *d > mg_days_in_month(*y, *m)) {
        return -1;
    }
    return 0;
}

int mg_date_parse(const char *s, int *ymd)
{
    int y, m, d;
    if (s == NULL || strlen(s) != 10 || parse_ymd(s, &y, &m, &d) != 0) {
        return -1;
    }
    *ymd = y * 10000 + m * 100 + d;
    return 0;
}

int mg_hhmm_parse(const char *s, int *minutes)
{
    int h, m;
    if (s == NULL || strlen(s) != 5 || s[2] != ':') {
        return -1;
    }
    h = fixed_digits(s, 2);
    m = fixed_digits(s + 3, 2);
    if (h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0)) {
        return -1;
    }
    *minutes = h * 60 + m;
    return 0;
}

int mg_hhmm_range_parse(const char *s, int *start, int *end)
{
    char a[6], b[6];
    if (s == NULL || strlen(s) != 11 || s[5] != '-') {
        return -1;
    }
    memcpy(a, s, 5);
    a[5] = '\0';
    memcpy(b, s + 6, 5);
    b[5] = '\0';
    if (mg_hhmm_parse(a, start) != 0 || mg_hhmm_parse(b, end) != 0) {
        return -1;
    }
    /* 24:00 is the end of a day, never a start; an empty range is a typo. */
    if (*start == 24 * 60 || *start == *end) {
        return -1;
    }
    return 0;
}

int mg_duration_parse(const char *s, apr_interval_time_t *out)
{
    /* Units in the only order allowed, each at most once. */
    static const char units[] = "wdhms";
    static const int64_t secs[] = {7 * 86400, 86400, 3600, 60, 1};
    int64_t total = 0;
    int next_unit = 0;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    if (strcmp(s, "0") == 0) {
        *out = 0;
        return 0;
    }
    while (*s != '\0') {
        int64_t v = 0;
        int ndig = 0;
        const char *u;
        while (*s >= '0' && *s <= '9') {
            if (++ndig > 18) {
                return -1;
            }
            v = v * 10 + (*s++ - '0');
        }
        if (ndig == 0 || *s == '\0') {
            return -1;
        }
        u = strchr(units, *s);
        if (u == NULL || (int)(u - units) < next_unit) {
            return -1;
        }
        next_unit = (int)(u - units) + 1;
        /* Overflow check on the final microsecond value. */
        int64_t unit_us = secs[u - units] * USEC_PER_SEC;
        if (v > (INT64_MAX - total) / unit_us) {
            return -1;
        }
        total += v * unit_us;
        s++;
    }
    *out = (apr_interval_time_t)total;
    return 0;
}

int mg_time_parse(const char *s, apr_time_t *out)
{
    int y, mo, d, h, mi, sec;
    int64_t frac_us = 0, off = 0, days, t;
    const char *p;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    /* Epoch seconds: digits only; 12 digits reach year 33658. */
    if (strspn(s, "0123456789") == strlen(s)) {
        int64_t v = 0;
        if (strlen(s) > 12) {
            return -1;
        }
        for (p = s; *p; p++) {
            v = v * 10 + (*p - '0');
        }
        *out = (apr_time_t)(v * USEC_PER_SEC);
        return 0;
    }
    if (parse_ymd(s, &y, &mo, &d) != 0) {
        return -1;
    }
    /* RFC 3339 5.6 allows lowercase 't' and 'z'. */
    if (s[10] != 'T' && s[10] != 't') {
        return -1;
    }
    p = s + 11;
    if (strnlen(p, 8) < 8 || p[2] != ':' || p[5] != ':') {
        return -1;
    }
    h = fixed_digits(p, 2);
    mi = fixed_digits(p + 3, 2);
    sec = fixed_digits(p + 6, 2);
    /* Leap second 60 refused: the instant cannot be represented. */
    if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59) {
        return -1;
    }
    p += 8;
    if (*p == '.') {
        int n = 0;
        int64_t scale = 100000;
        p++;
        while (*p >= '0' && *p <= '9') {
            if (++n > 9) {
                return -1;
            }
            frac_us += (*p - '0') * scale; /* digits beyond microseconds truncate */
            scale /= 10;
            p++;
        }
        if (n == 0) {
            return -1;
        }
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        off = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
        int oh = fixed_digits(p + 1, 2), om = fixed_digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) {
            return -1;
        }
        off = (*p == '-' ? -1 : 1) * (int64_t)(oh * 3600 + om * 60);
    } else {
        return -1;
    }
    days = mg_days_from_civil(y, mo, d);
    t = days * 86400 + h * 3600 + mi * 60 + sec - off;
    *out = (apr_time_t)(t * USEC_PER_SEC + frac_us);
    return 0;
}

const char *mg_time_format(apr_time_t t, char *buf, size_t len)
{
    int64_t secs = t / USEC_PER_SEC;
    int64_t days, rem;
    int y, m, d;

    if (t % USEC_PER_SEC < 0) {
        secs--; /* floor, so that instants before 1970 round down too */
    }
    days = secs / 86400;
    rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    mg_civil_from_days(days, &y, &m, &d);
    apr_snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
                 (int)(rem / 60 % 60), (int)(rem % 60));
    return buf;
}
