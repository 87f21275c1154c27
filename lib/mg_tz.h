/* mg_tz.h — IANA time zones from the system tz database, thread-safe.
 *
 * localtime_r() depends on the process-global TZ variable, and setenv("TZ")
 * in a threaded server is a data race; APR has no zone support. So we read
 * TZif files (RFC 8536, v1-v3) from /usr/share/zoneinfo ourselves, once at
 * load time, into an immutable table that any number of threads may query.
 */
#ifndef MG_TZ_H
#define MG_TZ_H

#include <stddef.h>
#include <stdint.h>

#include <apr_pools.h>

#include "mg_diag.h"

typedef struct mg_tz mg_tz_t;

/* Broken-down local time. */
typedef struct mg_civil {
    int year, month, day; /* month 1-12, day 1-31 */
    int hour, min, sec;
    int wday;           /* 0 = Sunday */
    int32_t utc_offset; /* seconds east of UTC */
    int is_dst;
} mg_civil_t;

/* Load zone `name` ("Europe/Berlin", "UTC"). Names are validated (no "..",
 * no leading '/'). The directory is $MG_ZONEINFO if set, else
 * /usr/share/zoneinfo. MG_OK; MG_EINVAL with *why ("unknown time zone
 * 'Mars/Base'"), or MG_EIO when the zone's file could not be read. */
mg_status_t mg_tz_load(apr_pool_t *pool, const char *name, const mg_tz_t **out, const char **why);
/* The file mg_tz_load reads for zone `name` ($MG_ZONEINFO or
 * /usr/share/zoneinfo, then the name), for the policy loader's warning
 * about a zone file others may write; NULL for "UTC" (built in) and for a
 * name mg_tz_load refuses. */
const char *mg_tz_file(apr_pool_t *pool, const char *name);
/* The same from a TZif image in memory (tests, embedded data); `name` is
 * only recorded. MG_OK; MG_EINVAL with *why. */
mg_status_t mg_tz_load_buffer(apr_pool_t *pool, const char *name, const void *buf, size_t len,
                              const mg_tz_t **out, const char **why);
/* A zone that follows one POSIX TZ rule for all time, e.g.
 * "CET-1CEST,M3.5.0,M10.5.0/3" (the form of a TZif footer). MG_OK;
 * MG_EINVAL with *why. */
mg_status_t mg_tz_from_posix(apr_pool_t *pool, const char *tzstring, const mg_tz_t **out,
                             const char **why);
/* Built-in UTC; also what mg_tz_load gives for "UTC", file or not. */
const mg_tz_t *mg_tz_utc(void);
const char *mg_tz_name(const mg_tz_t *tz);

/* UTC seconds -> local civil time. Allocation-free, lock-free. */
void mg_tz_to_local(const mg_tz_t *tz, int64_t t, mg_civil_t *out);
/* Local civil time -> UTC seconds. For ambiguous (fall-back) times the
 * earlier instant; for non-existent (spring-forward gap) times the instant
 * after the gap. */
int64_t mg_tz_from_local(const mg_tz_t *tz, int year, int month, int day, int hour, int min,
                         int sec);
/* The same, counting only instants at or after `after`: the first instant
 * from `after` on that shows the local time, or the end of the first gap
 * from `after` on that skips it. Where the local date went back past
 * midnight (America/Goose_Bay left DST at 00:01 until 2010, back to 23:01),
 * the next day begins again after `after`, not at its first midnight. */
int64_t mg_tz_from_local_after(const mg_tz_t *tz, int64_t after, int year, int month, int day,
                               int hour, int min, int sec);

#endif
