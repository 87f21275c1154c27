/* tz_probe.c — lib/mg_tz.c and the expiry buckets answering line by line,
 * for tests/tz-differential.py, which holds every answer against Python's
 * zoneinfo reading the same /usr/share/zoneinfo files.
 *
 * Input, one command a line (seconds are UTC epoch seconds):
 *   Z NAME             load zone NAME (mg_tz_load)  -> "ok" | "err WHY"
 *   L T                local time of T              -> "OFFSET Y-M-D H:M:S WDAY"
 *   F Y M D H MI S     local time -> UTC            -> "T"
 *   B BUCKET T         mg_token_bucket_expiry       -> "T" | "err"
 * Output is flushed after every line, so that a caller may converse. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "mg_time.h"
#include "mg_token.h"
#include "mg_tz.h"

int main(void)
{
    apr_pool_t *pool, *zpool = NULL;
    const mg_tz_t *tz = NULL;
    char line[512], arg[300];

    apr_initialize();
    apr_pool_create(&pool, NULL);
    while (fgets(line, sizeof(line), stdin) != NULL) {
        int64_t t;
        int y, mo, d, h, mi, s;
        if (sscanf(line, "Z %299s", arg) == 1) {
            const char *why = NULL;
            if (zpool != NULL)
                apr_pool_destroy(zpool);
            apr_pool_create(&zpool, pool);
            tz = NULL;
            if (mg_tz_load(zpool, arg, &tz, &why) == MG_OK)
                printf("ok\n");
            else
                printf("err %s\n", why ? why : "?");
        } else if (tz != NULL && sscanf(line, "L %" SCNd64, &t) == 1) {
            mg_civil_t c;
            mg_tz_to_local(tz, t, &c);
            printf("%" PRId32 " %04d-%02d-%02d %02d:%02d:%02d %d\n", c.utc_offset, c.year, c.month,
                   c.day, c.hour, c.min, c.sec, c.wday);
        } else if (tz != NULL &&
                   sscanf(line, "F %d %d %d %d %d %d", &y, &mo, &d, &h, &mi, &s) == 6) {
            printf("%" PRId64 "\n", mg_tz_from_local(tz, y, mo, d, h, mi, s));
        } else if (tz != NULL && sscanf(line, "B %40s %" SCNd64, arg, &t) == 2) {
            apr_time_t out;
            if (mg_token_bucket_expiry(arg, tz, apr_time_from_sec(t), &out) == 0)
                printf("%" PRId64 "\n", (int64_t)apr_time_sec(out));
            else
                printf("err\n");
        } else {
            printf("err bad command\n");
        }
        fflush(stdout);
    }
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
