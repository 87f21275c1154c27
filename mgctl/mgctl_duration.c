/* mgctl_duration.c — durations as mgctl prints them ("1d2h30m"). */
#include "mgctl_util.h"

#include <apr_strings.h>

const char *mgctl_duration_text(apr_pool_t *pool, apr_interval_time_t d)
{
    static const struct {
        char unit;
        apr_int64_t secs;
    } units[] = {{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
    apr_int64_t left = (apr_int64_t)apr_time_sec(d);
    const char *out = "";
    if (left <= 0)
        return "0s";
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (left >= units[i].secs) {
            out = apr_psprintf(pool, "%s%" APR_INT64_T_FMT "%c", out, left / units[i].secs,
                               units[i].unit);
            left %= units[i].secs;
        }
    }
    return out;
}
