/* fuzz_tz.c — lib/mg_tz.c on arbitrary TZif images, and the expiry buckets
 * (lib/mg_token.c) in the zones it accepts.
 *
 * The input is a TZif file (the seeds are real ones from tzdata, public
 * domain). mg_tz_load_buffer either refuses it with a reason or accepts it;
 * an accepted zone is then asked about fixed instants (1970, 2026's
 * transitions in Europe, 2038, the far future, the far past) and 24 more
 * derived from the input's hash, and each answer is checked, not against
 * libmg's own helpers:
 *  - mg_tz_to_local: every field in range, the offset within +-26 h, and
 *    the civil time is exactly the instant plus the offset;
 *  - mg_tz_from_local of that civil time is an instant at or before it
 *    that shows the same civil time (the earliest), and
 *    mg_tz_from_local_after from the instant itself gives the instant;
 *  - each bucket (end-of-day/-week/-month) ends at or after the instant, on
 *    or before the period's last local date, and its next second is past it.
 */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "mg_fuzz.h"
#include "mg_time.h"
#include "mg_token.h"
#include "mg_tz.h"

#define MAX_OFF (26 * 3600)

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static int ymd(const mg_civil_t *c)
{
    return c->year * 10000 + c->month * 100 + c->day;
}

static void check_instant(const mg_tz_t *tz, int64_t t)
{
    mg_civil_t c, c2;
    mg_tz_to_local(tz, t, &c);
    MG_FUZZ_ASSERT(c.month >= 1 && c.month <= 12 && c.day >= 1 &&
                       c.day <= mg_days_in_month(c.year, c.month) && c.hour >= 0 && c.hour < 24 &&
                       c.min >= 0 && c.min < 60 && c.sec >= 0 && c.sec < 60 && c.wday >= 0 &&
                       c.wday < 7,
                   "t=%lld: %04d-%02d-%02d %02d:%02d:%02d wday %d", (long long)t, c.year, c.month,
                   c.day, c.hour, c.min, c.sec, c.wday);
    MG_FUZZ_ASSERT(c.utc_offset >= -MAX_OFF && c.utc_offset <= MAX_OFF, "t=%lld: offset %d",
                   (long long)t, (int)c.utc_offset);
    int64_t days = mg_days_from_civil(c.year, c.month, c.day);
    MG_FUZZ_ASSERT(days * 86400 + c.hour * 3600 + c.min * 60 + c.sec == t + c.utc_offset,
                   "t=%lld: civil time is not t + offset %d", (long long)t, (int)c.utc_offset);
    MG_FUZZ_ASSERT((int)(((days + 4) % 7 + 7) % 7) == c.wday, "t=%lld: weekday %d", (long long)t,
                   c.wday);

    int64_t first = mg_tz_from_local(tz, c.year, c.month, c.day, c.hour, c.min, c.sec);
    MG_FUZZ_ASSERT(first <= t, "t=%lld: from_local gives %lld, after it", (long long)t,
                   (long long)first);
    mg_tz_to_local(tz, first, &c2);
    MG_FUZZ_ASSERT(ymd(&c2) == ymd(&c) && c2.hour == c.hour && c2.min == c.min && c2.sec == c.sec,
                   "t=%lld: from_local gives %lld, which shows another time", (long long)t,
                   (long long)first);
    int64_t again = mg_tz_from_local_after(tz, t, c.year, c.month, c.day, c.hour, c.min, c.sec);
    MG_FUZZ_ASSERT(again == t, "t=%lld: from_local_after(t) gives %lld", (long long)t,
                   (long long)again);

    static const char *const buckets[] = {"end-of-day", "end-of-week", "end-of-month"};
    for (int b = 0; b < 3; b++) {
        apr_time_t out;
        int last;
        if (b == 0) {
            last = ymd(&c);
        } else if (b == 1) {
            int y, m, d;
            mg_civil_from_days(days + (7 - c.wday) % 7, &y, &m, &d);
            last = y * 10000 + m * 100 + d;
        } else {
            last = c.year * 10000 + c.month * 100 + mg_days_in_month(c.year, c.month);
        }
        MG_FUZZ_ASSERT(mg_token_bucket_expiry(buckets[b], tz, apr_time_from_sec(t), &out) == 0,
                       "%s refused", buckets[b]);
        int64_t e = apr_time_sec(out);
        MG_FUZZ_ASSERT(e >= t, "t=%lld: %s ends at %lld, before it", (long long)t, buckets[b],
                       (long long)e);
        mg_tz_to_local(tz, e, &c2);
        MG_FUZZ_ASSERT(ymd(&c2) <= last, "t=%lld: %s ends at %lld, on %d, past %d", (long long)t,
                       buckets[b], (long long)e, ymd(&c2), last);
        mg_tz_to_local(tz, e + 1, &c2);
        MG_FUZZ_ASSERT(ymd(&c2) > last, "t=%lld: %s ends at %lld, but %d is not past %d",
                       (long long)t, buckets[b], (long long)e, ymd(&c2), last);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int64_t fixed[] = {0,          -1,          1774745999,  1774746000,
                                    1792889999, 1792890000,  2147483647,  2147483648,
                                    4102444800, 32503680000, -2208988800, -62135596800};
    apr_pool_t *pool;
    const mg_tz_t *tz = NULL;
    const char *why = NULL;
    uint64_t h = UINT64_C(1469598103934665603);

    if (root == NULL)
        LLVMFuzzerInitialize(NULL, NULL);
    apr_pool_create(&pool, root);
    if (mg_tz_load_buffer(pool, "Fuzz/Zone", data, size, &tz, &why) != MG_OK) {
        MG_FUZZ_ASSERT(why != NULL && *why != '\0', "refused without a reason");
        apr_pool_destroy(pool);
        return 0;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        check_instant(tz, fixed[i]);
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * UINT64_C(1099511628211);
    for (int i = 0; i < 24; i++) {
        h = h * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        /* 1900..2100 mostly, some anywhere within +-2^40 s */
        int64_t t = i < 16 ? (int64_t)(h >> 33) % INT64_C(6311390400) - INT64_C(2208988800)
                           : (int64_t)(h >> 23) - (INT64_C(1) << 40);
        check_instant(tz, t);
    }
    apr_pool_destroy(pool);
    return 0;
}
