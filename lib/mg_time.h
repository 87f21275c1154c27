/* mg_time.h — parsing of times and durations used by policies, tests and
 * mgctl (mg_time.c). */
#ifndef MG_TIME_H
#define MG_TIME_H

#include <stdint.h>

#include <apr_time.h>

/* "90s", "15m", "1h30m", "2d", "1w", "0" -> microseconds. 0 ok, -1 invalid. */
int mg_duration_parse(const char *s, apr_interval_time_t *out);
/* RFC 3339 / ISO 8601: "2026-12-31T23:59:59Z", "2026-12-31T23:59:59+01:00",
 * "2026-12-31T23:59:59.5Z"; or plain epoch seconds "1767225599".
 * 0 ok, -1 invalid. Result in microseconds since the epoch (apr_time_t). */
int mg_time_parse(const char *s, apr_time_t *out);
/* "2026-12-31T23:59:59Z" into buf (>= 32 bytes). */
const char *mg_time_format(apr_time_t t, char *buf, size_t len);
/* "09:00" -> 540. 0 ok, -1 invalid. "24:00" allowed as an end. */
int mg_hhmm_parse(const char *s, int *minutes);
/* "2026-01-31" -> 20260131 with calendar validation. 0 ok, -1 invalid. */
int mg_date_parse(const char *s, int *ymd);

#endif
