/* mg_tz.c — IANA time zones read from TZif files, queried without locks.
 *
 * Why by hand: libc offers no thread-safe API for an arbitrary zone —
 * localtime_r()/mktime() always use the process-wide TZ, and switching it
 * with setenv("TZ") + tzset() races with every other thread of a threaded
 * MPM (worker/event) that formats a date or reads the environment. APR's
 * time functions only know UTC and the process zone. So we parse the TZif
 * file (RFC 8536) once at configuration time into an immutable table and
 * answer every query from that table with pure arithmetic.
 *
 * What is implemented: v1 files (32-bit data) and v2+ files (the 64-bit
 * block is used, the v1 block skipped), ttinfo records, and the POSIX
 * TZ footer for instants after the last transition — Debian's "slim" files
 * stop their table early and rely on it, so future dates depend on the
 * footer rules (Jn, n and Mm.w.d dates, explicit offsets, transition times
 * with negative or large hours as allowed by RFC 8536 section 3.3.1).
 * A file with leap-second records (the right/ zones) is refused: its
 * transition times count leap seconds, the server's clock (POSIX time)
 * does not, so every change of offset would come up to 27 s late — a
 * window would hold, a bucket's link would live, longer than written.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_file.h"
#include "mg_time.h"
#include "mg_tz.h"

#define TZ_MAX_FILE (1024 * 1024) /* the largest real TZif file is ~4 KiB */
#define TZ_MAX_NAME 255
#define TZ_MAX_OFFSET (26 * 3600) /* beyond any real UT offset */
/* Keep arithmetic far from int64 overflow: +-2^50 s is ~35 million years. */
#define TZ_T_LIMIT (INT64_C(1) << 50)

typedef struct {
    int32_t off; /* seconds east of UTC */
    uint8_t isdst;
} tz_type_t;

/* One POSIX rule date: Jn (1-365, Feb 29 never counted), n (0-365, counted)
 * or Mm.w.d (weekday d of week w, 5 = last, of month m), at local `time`. */
typedef struct {
    char kind; /* 'J', 'N' or 'M' */
    int n, m, w, d;
    int32_t time;
} tz_rdate_t;

typedef struct {
    int present; /* a footer was given */
    int has_dst;
    int32_t std_off, dst_off; /* seconds east of UTC */
    tz_rdate_t start, end;    /* std->dst, dst->std */
} tz_rule_t;

struct mg_tz {
    const char *name;
    size_t ntrans;
    const int64_t *trans; /* strictly ascending */
    const uint8_t *idx;   /* type index per transition */
    size_t ntypes;
    const tz_type_t *types;
    tz_rule_t rule;
};

static const tz_type_t utc_type = {0, 0};
static const mg_tz_t utc_zone = {
    .name = "UTC", .ntrans = 0, .trans = NULL, .idx = NULL, .ntypes = 1, .types = &utc_type};

const mg_tz_t *mg_tz_utc(void)
{
    return &utc_zone;
}

const char *mg_tz_name(const mg_tz_t *tz)
{
    return tz ? tz->name : utc_zone.name;
}

/* ------------------------------------------------------------------ */
/* POSIX TZ strings                                                    */
/* ------------------------------------------------------------------ */

static int is_alpha(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Zone abbreviation: 3+ letters, or <...> with letters, digits, + and -. */
static int tzs_name(const char **pp)
{
    const char *p = *pp;
    int n = 0;
    if (*p == '<') {
        p++;
        while (is_alpha(*p) || is_digit(*p) || *p == '+' || *p == '-') {
            p++, n++;
        }
        if (*p != '>') {
            return -1;
        }
        p++;
    } else {
        while (is_alpha(*p)) {
            p++, n++;
        }
    }
    if (n < 3) {
        return -1;
    }
    *pp = p;
    return 0;
}

static int tzs_num(const char **pp, int max, int *out)
{
    const char *p = *pp;
    int v = 0, n = 0;
    while (is_digit(*p)) {
        v = v * 10 + (*p++ - '0');
        if (++n > 3 || v > max) {
            return -1;
        }
    }
    if (n == 0) {
        return -1;
    }
    *pp = p;
    *out = v;
    return 0;
}

/* [+-]hh[:mm[:ss]] with hh <= maxh; result in seconds. */
static int tzs_hms(const char **pp, int maxh, int32_t *out)
{
    const char *p = *pp;
    int sign = 1, h, m = 0, s = 0;
    if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
    }
    if (tzs_num(&p, maxh, &h) != 0) {
        return -1;
    }
    if (*p == ':') {
        p++;
        if (tzs_num(&p, 59, &m) != 0) {
            return -1;
        }
        if (*p == ':') {
            p++;
            if (tzs_num(&p, 59, &s) != 0) {
                return -1;
            }
        }
    }
    *pp = p;
    *out = sign * (h * 3600 + m * 60 + s);
    return 0;
}

static int tzs_rdate(const char **pp, tz_rdate_t *r)
{
    const char *p = *pp;
    memset(r, 0, sizeof(*r));
    if (*p == 'J') {
        p++;
        r->kind = 'J';
        if (tzs_num(&p, 365, &r->n) != 0 || r->n < 1) {
            return -1;
        }
    } else if (*p == 'M') {
        p++;
        r->kind = 'M';
        if (tzs_num(&p, 12, &r->m) != 0 || r->m < 1 || *p++ != '.' || tzs_num(&p, 5, &r->w) != 0 ||
            r->w < 1 || *p++ != '.' || tzs_num(&p, 6, &r->d) != 0) {
            return -1;
        }
    } else {
        r->kind = 'N';
        if (tzs_num(&p, 365, &r->n) != 0) {
            return -1;
        }
    }
    r->time = 2 * 3600;
    if (*p == '/') {
        p++;
        /* RFC 8536 3.3.1: hours may be negative and up to 167. */
        if (tzs_hms(&p, 167, &r->time) != 0) {
            return -1;
        }
    }
    *pp = p;
    return 0;
}

static int rule_exact(const tz_rule_t *r);

/* "CET-1CEST,M3.5.0,M10.5.0/3", "IST-5:30", "<+0330>-3:30", ... */
static int tzs_parse(const char *s, tz_rule_t *rule)
{
    const char *p = s;
    int32_t off;

    memset(rule, 0, sizeof(*rule));
    if (tzs_name(&p) != 0 || tzs_hms(&p, 24, &off) != 0) {
        return -1;
    }
    rule->std_off = -off; /* POSIX offsets count west */
    rule->present = 1;
    if (*p == '\0') {
        return 0;
    }
    if (tzs_name(&p) != 0) {
        return -1;
    }
    rule->has_dst = 1;
    rule->dst_off = rule->std_off + 3600;
    if (*p != ',' && *p != '\0') {
        if (tzs_hms(&p, 24, &off) != 0) {
            return -1;
        }
        rule->dst_off = -off;
    }
    /* A DST name without rules leaves the dates to the implementation;
     * TZif footers always carry them, so anything else is refused. */
    if (*p++ != ',' || tzs_rdate(&p, &rule->start) != 0 || *p++ != ',' ||
        tzs_rdate(&p, &rule->end) != 0 || *p != '\0') {
        return -1;
    }
    return rule_exact(rule) ? 0 : -1;
}

/* Day number (since 1970-01-01) of a rule date in year y. */
static int64_t rdate_day(const tz_rdate_t *r, int y)
{
    int64_t jan1 = mg_days_from_civil(y, 1, 1);
    if (r->kind == 'J') {
        return jan1 + r->n - 1 + (mg_is_leap_year(y) && r->n >= 60);
    }
    if (r->kind == 'N') {
        return jan1 + r->n;
    }
    int64_t first = mg_days_from_civil(y, r->m, 1);
    int64_t day = first + (r->d - mg_weekday_from_days(first) + 7) % 7 + (int64_t)(r->w - 1) * 7;
    while (day >= first + mg_days_in_month(y, r->m)) {
        day -= 7; /* week 5 means the last such weekday */
    }
    return day;
}

/* UTC instants of the DST start and end in year y. Each transition time is
 * local time as it was before the transition. */
static void rule_year(const tz_rule_t *r, int y, int64_t *start, int64_t *end)
{
    *start = rdate_day(&r->start, y) * 86400 + r->start.time - r->std_off;
    *end = rdate_day(&r->end, y) * 86400 + r->end.time - r->dst_off;
}

static int year_of(int64_t t)
{
    int64_t days = t / 86400 - (t % 86400 < 0);
    int y, m, d;
    mg_civil_from_days(days, &y, &m, &d);
    return y;
}

static void rule_info(const tz_rule_t *r, int64_t t, int32_t *off, int *isdst)
{
    int64_t s, e;
    int dst;
    if (!r->has_dst) {
        *off = r->std_off;
        *isdst = 0;
        return;
    }
    rule_year(r, year_of(t + r->std_off), &s, &e);
    /* Northern rules have start < end within a year; southern ones wrap. */
    dst = s < e ? (t >= s && t < e) : (t >= s || t < e);
    *off = dst ? r->dst_off : r->std_off;
    *isdst = dst;
}

/* rule_info answers from the transitions of one year: exact when each
 * year's two transitions fall in that year (local standard time), in the
 * same order every year, or when DST lasts all year (zic writes
 * "EST5EDT,0/0,J365/25": each year's end is the next year's start). Real
 * footers move clocks between February and November; a rule that puts a
 * transition across New Year (J365/48, M12.5.0/167) would be answered
 * wrongly around it, so it is refused. 400 years hold every pattern of the
 * Gregorian calendar, weekdays included. */
static int rule_exact(const tz_rule_t *r)
{
    int order = 0;
    if (!r->has_dst) {
        return 1;
    }
    for (int y = 2000; y < 2400; y++) {
        int64_t s, e, s1, e1;
        int o;
        rule_year(r, y, &s, &e);
        rule_year(r, y + 1, &s1, &e1);
        if (s == e || year_of(s + r->std_off) != y) {
            return 0;
        }
        if (year_of(e + r->std_off) != y && !(e == s1 && s < e)) {
            return 0;
        }
        o = s < e ? 1 : -1;
        if (order != 0 && o != order) {
            return 0;
        }
        order = o;
    }
    return 1;
}

/* First rule transition strictly after t, or 0 if the rule has none. */
static int rule_next(const tz_rule_t *r, int64_t t, int64_t *next)
{
    int64_t best = INT64_MAX;
    int y0 = year_of(t);
    if (!r->has_dst) {
        return 0;
    }
    for (int y = y0 - 1; y <= y0 + 1; y++) {
        int64_t c[2];
        rule_year(r, y, &c[0], &c[1]);
        for (int i = 0; i < 2; i++) {
            if (c[i] > t && c[i] < best) {
                best = c[i];
            }
        }
    }
    *next = best;
    return best != INT64_MAX;
}

/* ------------------------------------------------------------------ */
/* Queries                                                             */
/* ------------------------------------------------------------------ */

static int64_t clamp_t(int64_t t)
{
    return t < -TZ_T_LIMIT ? -TZ_T_LIMIT : t > TZ_T_LIMIT ? TZ_T_LIMIT : t;
}

static void offset_at(const mg_tz_t *tz, int64_t t, int32_t *off, int *isdst)
{
    const tz_type_t *ty;
    if (tz->ntrans == 0 || t < tz->trans[0]) {
        if (tz->ntrans == 0 && tz->rule.present) {
            rule_info(&tz->rule, t, off, isdst);
            return;
        }
        ty = &tz->types[0];
    } else if (t > tz->trans[tz->ntrans - 1] && tz->rule.present) {
        rule_info(&tz->rule, t, off, isdst);
        return;
    } else {
        /* largest i with trans[i] <= t */
        size_t lo = 0, hi = tz->ntrans;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->trans[mid] <= t) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        ty = &tz->types[tz->idx[lo]];
    }
    *off = ty->off;
    *isdst = ty->isdst;
}

/* First transition strictly after t (table or footer); 0 if none. */
static int next_transition(const mg_tz_t *tz, int64_t t, int64_t *next)
{
    if (tz->ntrans > 0 && t < tz->trans[tz->ntrans - 1]) {
        size_t lo = 0, hi = tz->ntrans - 1; /* first trans > t is in [lo, hi] */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (tz->trans[mid] > t) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        *next = tz->trans[lo];
        return 1;
    }
    return tz->rule.present ? rule_next(&tz->rule, t, next) : 0;
}

void mg_tz_to_local(const mg_tz_t *tz, int64_t t, mg_civil_t *out)
{
    int32_t off;
    int isdst;
    int64_t local, days, rem;

    if (tz == NULL) {
        tz = &utc_zone;
    }
    t = clamp_t(t);
    offset_at(tz, t, &off, &isdst);
    local = t + off;
    days = local / 86400;
    rem = local % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    mg_civil_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(rem / 3600);
    out->min = (int)(rem / 60 % 60);
    out->sec = (int)(rem % 60);
    out->wday = mg_weekday_from_days(days);
    out->utc_offset = off;
    out->is_dst = isdst;
}

int64_t mg_tz_from_local(const mg_tz_t *tz, int year, int month, int day, int hour, int min,
                         int sec)
{
    return mg_tz_from_local_after(tz, -TZ_T_LIMIT, year, month, day, hour, min, sec);
}

int64_t mg_tz_from_local_after(const mg_tz_t *tz, int64_t after, int year, int month, int day,
                               int hour, int min, int sec)
{
    int64_t local, a, b, prev_end = 0;
    int32_t off, prev_off = 0;
    int isdst, have_prev = 0;

    if (tz == NULL) {
        tz = &utc_zone;
    }
    local = mg_days_from_civil(year, month, day) * 86400 + (int64_t)hour * 3600 +
            (int64_t)min * 60 + sec;
    local = clamp_t(local);
    /* Every instant whose local time can be `local` lies within the real
     * offset range of it. Walk the constant-offset segments of that window
     * in order; the first that contains local - offset is the earliest
     * (for a repeated hour: the first pass). */
    a = local - 2 * TZ_MAX_OFFSET;
    /* Instants before `after` do not count: start the walk with the segment
     * that holds after - 1, so that a gap opening at `after` is seen. */
    after = clamp_t(after);
    if (a < after - 1) {
        a = after - 1;
    }
    while (a <= local + 2 * TZ_MAX_OFFSET) {
        offset_at(tz, a, &off, &isdst);
        if (!next_transition(tz, a, &b)) {
            b = INT64_MAX;
        }
        if (have_prev && local >= prev_end + prev_off && local < prev_end + off) {
            /* local falls into the gap that opened at prev_end */
            return prev_end;
        }
        if (local - off >= a && local - off >= after && local - off < b) {
            return local - off;
        }
        prev_end = b;
        prev_off = off;
        have_prev = 1;
        if (b == INT64_MAX) {
            break;
        }
        a = b;
    }
    /* Not reached for sane data; answer with the offset at local as UTC. */
    offset_at(tz, local, &off, &isdst);
    return local - off;
}

/* ------------------------------------------------------------------ */
/* TZif                                                                */
/* ------------------------------------------------------------------ */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
    return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

typedef struct {
    uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
} tzif_counts_t;

static int tzif_header(const unsigned char *p, size_t len, tzif_counts_t *c, int *version)
{
    if (len < 44 || memcmp(p, "TZif", 4) != 0) {
        return -1;
    }
    *version = p[4] == 0 ? 1 : p[4] - '0';
    if (*version != 1 && (*version < 2 || *version > 9)) {
        return -1;
    }
    c->isutcnt = be32(p + 20);
    c->isstdcnt = be32(p + 24);
    c->leapcnt = be32(p + 28);
    c->timecnt = be32(p + 32);
    c->typecnt = be32(p + 36);
    c->charcnt = be32(p + 40);
    /* RFC 8536 3.1 */
    if (c->typecnt == 0 || c->typecnt > 256 || c->charcnt == 0 ||
        (c->isutcnt != 0 && c->isutcnt != c->typecnt) ||
        (c->isstdcnt != 0 && c->isstdcnt != c->typecnt)) {
        return -1;
    }
    return 0;
}

static uint64_t tzif_block_size(const tzif_counts_t *c, unsigned tsize)
{
    return (uint64_t)c->timecnt * tsize + c->timecnt + (uint64_t)c->typecnt * 6 + c->charcnt +
           (uint64_t)c->leapcnt * (tsize + 4) + c->isstdcnt + c->isutcnt;
}

static int tzif_parse(apr_pool_t *pool, const unsigned char *buf, size_t len, mg_tz_t *tz,
                      const char **why)
{
    tzif_counts_t c;
    int version;
    unsigned tsize = 4;
    const unsigned char *p = buf;
    uint64_t need;
    uint32_t leapcnt;

    *why = "not a TZif file";
    if (tzif_header(p, len, &c, &version) != 0) {
        return -1;
    }
    need = 44 + tzif_block_size(&c, 4);
    if (need > len) {
        return -1;
    }
    leapcnt = c.leapcnt;
    if (version >= 2) {
        /* Skip the 32-bit block; the 64-bit one follows with its own header. */
        p += need;
        len -= (size_t)need;
        if (tzif_header(p, len, &c, &version) != 0 || version < 2) {
            return -1;
        }
        tsize = 8;
        need = 44 + tzif_block_size(&c, 8);
        if (need > len) {
            return -1;
        }
        leapcnt |= c.leapcnt;
    }
    if (leapcnt != 0) {
        *why = "it counts leap seconds (a right/ zone) and the server's clock does not, so its "
               "changes of offset would come up to 27 s late; name the zone without right/";
        return -1;
    }
    const unsigned char *tp = p + 44;
    const unsigned char *ip = tp + (size_t)c.timecnt * tsize;
    const unsigned char *typ = ip + c.timecnt;

    int64_t *trans = apr_palloc(pool, sizeof(int64_t) * (c.timecnt ? c.timecnt : 1));
    uint8_t *idx = apr_palloc(pool, c.timecnt ? c.timecnt : 1);
    tz_type_t *types = apr_palloc(pool, sizeof(tz_type_t) * c.typecnt);

    for (uint32_t i = 0; i < c.timecnt; i++) {
        trans[i] = tsize == 8 ? be64(tp + (size_t)i * 8) : (int32_t)be32(tp + (size_t)i * 4);
        if (i > 0 && trans[i] <= trans[i - 1]) {
            *why = "TZif transitions are not in ascending order";
            return -1;
        }
        if (ip[i] >= c.typecnt) {
            return -1;
        }
        idx[i] = ip[i];
    }
    for (uint32_t i = 0; i < c.typecnt; i++) {
        const unsigned char *r = typ + (size_t)i * 6;
        int32_t off = (int32_t)be32(r);
        if (off < -TZ_MAX_OFFSET || off > TZ_MAX_OFFSET || r[4] > 1 || r[5] >= c.charcnt) {
            *why = "TZif local time type out of range";
            return -1;
        }
        types[i].off = off;
        types[i].isdst = r[4];
    }
    /* Abbreviations and the std/wall and UT/local indicators are not needed to map instants to
     * local time. */
    tz->ntrans = c.timecnt;
    tz->trans = trans;
    tz->idx = idx;
    tz->ntypes = c.typecnt;
    tz->types = types;
    memset(&tz->rule, 0, sizeof(tz->rule));

    if (version >= 2) {
        const char *f = (const char *)p + need;
        size_t flen = len - (size_t)need;
        const char *nl;
        if (flen < 2 || f[0] != '\n' || (nl = memchr(f + 1, '\n', flen - 1)) == NULL) {
            *why = "TZif footer missing";
            return -1;
        }
        if (nl > f + 1) { /* an empty footer means: no rule */
            char *s = apr_pstrmemdup(pool, f + 1, (apr_size_t)(nl - f - 1));
            if (tzs_parse(s, &tz->rule) != 0) {
                *why = "TZif footer is not a valid POSIX TZ string";
                return -1;
            }
            /* RFC 8536 3.3: the footer must agree with the last transition.
             * One that does not changes the offset a second after it with no
             * transition said, which local->UTC and the buckets cannot see. */
            if (c.timecnt > 0) {
                const tz_type_t *last = &types[idx[c.timecnt - 1]];
                int32_t off;
                int isdst;
                /* clamped as every query is: a time_t near INT64_MAX (a
                 * hostile file) would overflow in rule_info */
                rule_info(&tz->rule, clamp_t(trans[c.timecnt - 1]), &off, &isdst);
                if (off != last->off || isdst != last->isdst) {
                    *why = "TZif footer disagrees with the last transition";
                    return -1;
                }
            }
        }
    }
    *why = NULL;
    return 0;
}

static int name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > TZ_MAX_NAME || name[0] == '/' || name[n - 1] == '/') {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!(is_alpha(ch) || is_digit(ch) || ch == '/' || ch == '_' || ch == '+' || ch == '-')) {
            return 0; /* also excludes '.', so ".." can never appear */
        }
        if (ch == '/' && name[i + 1] == '/') {
            return 0;
        }
    }
    return 1;
}

/* Safe to quote in a message: short printable ASCII, no quote character. */
static int printable_short(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 64) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\'') {
            return 0;
        }
    }
    return 1;
}

mg_status_t mg_tz_load_buffer(apr_pool_t *pool, const char *name, const void *buf, size_t len,
                              const mg_tz_t **out, const char **why)
{
    mg_tz_t *tz = apr_pcalloc(pool, sizeof(*tz));
    const char *reason;
    if (tzif_parse(pool, buf, len, tz, &reason) != 0) {
        *why = apr_psprintf(pool, "time zone file for '%s' is invalid: %s", name, reason);
        return MG_EINVAL;
    }
    tz->name = apr_pstrdup(pool, name);
    *out = tz;
    return MG_OK;
}

mg_status_t mg_tz_from_posix(apr_pool_t *pool, const char *tzstring, const mg_tz_t **out,
                             const char **why)
{
    mg_tz_t *tz = apr_pcalloc(pool, sizeof(*tz));
    tz_type_t *ty = apr_pcalloc(pool, sizeof(*ty));
    if (tzstring == NULL || tzs_parse(tzstring, &tz->rule) != 0) {
        *why = "not a valid POSIX TZ string";
        return MG_EINVAL;
    }
    ty->off = tz->rule.std_off;
    tz->types = ty;
    tz->ntypes = 1;
    tz->name = apr_pstrdup(pool, tzstring);
    *out = tz;
    return MG_OK;
}

const char *mg_tz_file(apr_pool_t *pool, const char *name)
{
    const char *dir = getenv("MG_ZONEINFO");

    if (!name_ok(name) || strcmp(name, "UTC") == 0)
        return NULL;
    if (dir == NULL || *dir == '\0')
        dir = "/usr/share/zoneinfo";
    return apr_pstrcat(pool, dir, "/", name, NULL);
}

mg_status_t mg_tz_load(apr_pool_t *pool, const char *name, const mg_tz_t **out, const char **why)
{
    const char *path;

    if (!name_ok(name)) {
        *why = printable_short(name)
                   ? apr_psprintf(pool, "unknown time zone '%s' (not a valid zone name)", name)
                   : "unknown time zone (not a valid zone name)";
        return MG_EINVAL;
    }
    if (strcmp(name, "UTC") == 0) {
        *out = &utc_zone; /* works on systems without tzdata */
        return MG_OK;
    }
    path = mg_tz_file(pool, name);
    /* mg_file_read refuses a FIFO or a device: opening one could block. */
    mg_file_t f;
    if (mg_file_read(pool, path, TZ_MAX_FILE, &f, NULL) != MG_OK || f.len == 0) {
        /* No directory at all (tzdata purged, a chroot, $MG_ZONEINFO set
         * for one program and not the other) is not an unknown zone: say
         * which directory, and where its name came from. */
        const char *dir = apr_pstrndup(pool, path, strlen(path) - strlen(name) - 1);
        apr_finfo_t fi;
        if (f.error != MG_FILE_READ_ERROR &&
            (apr_stat(&fi, dir, APR_FINFO_TYPE, pool) != APR_SUCCESS || fi.filetype != APR_DIR)) {
            const char *env = getenv("MG_ZONEINFO");
            *why = apr_psprintf(
                pool, "unknown time zone '%s': there is no time zone database at %s (%s)", name,
                dir, env && *env ? "$MG_ZONEINFO" : "install tzdata, or set MG_ZONEINFO");
            return MG_EINVAL;
        }
        *why = f.error == MG_FILE_READ_ERROR
                   ? apr_psprintf(pool, "cannot read time zone file %s", path)
                   : apr_psprintf(pool, "unknown time zone '%s'", name);
        return f.error == MG_FILE_READ_ERROR ? MG_EIO : MG_EINVAL;
    }
    return mg_tz_load_buffer(pool, name, f.data, f.len, out, why);
}
