/* mg_time.h — parsing of times and durations used by policies, tests and
 * mgctl (mg_time.c). */
#ifndef MG_TIME_H
#define MG_TIME_H

#include <stddef.h>
#include <stdint.h>

#include <apr_time.h>

/* "90s", "15m", "1h30m", "2d", "1w", "0" -> microseconds. 0 ok, -1 invalid.
 * Units w d h m s, each at most once and in that order ("1h30m", not
 * "30m1h"); no sign, no fractions, no spaces; a bare number other than "0"
 * is refused (is "90" seconds or minutes?); overflow is refused. */
int mg_duration_parse(const char *s, apr_interval_time_t *out);
/* RFC 3339 / ISO 8601: "2026-12-31T23:59:59Z", "2026-12-31T23:59:59+01:00",
 * "2026-12-31T23:59:59.5Z"; or plain epoch seconds "1798761599" (the same instant).
 * 0 ok, -1 invalid. Result in microseconds since the epoch (apr_time_t).
 * Lowercase 't'/'z' are accepted (RFC 3339 5.6); a space for 'T', a missing
 * offset, a leap second (:60) and more than 9 fraction digits are refused;
 * fractions below a microsecond are truncated. Epoch seconds: 1-12 digits. */
int mg_time_parse(const char *s, apr_time_t *out);
/* "2026-12-31T23:59:59Z" into buf (>= 32 bytes); sub-second part dropped
 * (rounded down). Returns buf. */
const char *mg_time_format(apr_time_t t, char *buf, size_t len);
/* "09:00" -> 540. 0 ok, -1 invalid. Exactly two digits each ("9:00" is
 * refused), 00:00..23:59, plus "24:00" -> 1440, which callers must accept
 * only as the END of a range (mg_hhmm_range_parse does). */
int mg_hhmm_parse(const char *s, int *minutes);
/* "HH:MM-HH:MM" -> start, end minutes. start < end is a same-day range;
 * start > end wraps past midnight ("22:00-06:00"). A start of 24:00 or an
 * empty range (start == end) is refused. 0 ok, -1 invalid. */
int mg_hhmm_range_parse(const char *s, int *start, int *end);
/* "2026-01-31" -> 20260131 with calendar validation (Gregorian leap
 * years: 2024-02-29 ok, 2100-02-29 refused). Exactly YYYY-MM-DD. 0 ok, -1
 * invalid. */
int mg_date_parse(const char *s, int *ymd);

/* Proleptic Gregorian calendar arithmetic (also used by mg_tz.c). */
/* Days since 1970-01-01 (negative before). No range checks. */
int64_t mg_days_from_civil(int y, int m, int d);
void mg_civil_from_days(int64_t days, int *y, int *m, int *d);
int mg_weekday_from_days(int64_t days); /* 0 = Sunday */
int mg_is_leap_year(int y);
int mg_days_in_month(int y, int m); /* 0 for a month outside 1..12 */

#endif
