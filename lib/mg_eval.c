/* mg_eval.c — mg_evaluate(): the decision for one prepared request,
 * exactly as docs/policy.md ("Which rule applies", "How the owning rule
 * decides", hotlink algorithm, transformations, time windows, outcomes)
 * describes it.
 *
 * Fail closed: the decision starts as DENY/internal-error and only an
 * explicit allow path changes that. With trace == 0 the allow path
 * allocates nothing (details are static strings); deny paths may allocate a
 * sentence. With trace != 0 every step appends a readable line.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_geo.h"
#include "mg_request.h"
#include "mg_fmt.h"
#include "mg_token.h"

typedef struct ev {
    apr_pool_t *pool;
    const mg_policy_t *policy;
    const mg_request_t *req;
    const mg_request_derived_t *rd;
    const mg_rule_t *rule;
    mg_decision_t *d;
    int trace;
    mg_roleset_t roles; /* rd->roles, plus roles_from `apache:` roles asked for (decide_access) */
    char cc[3];         /* country.from mmdb: the looked-up code */
} ev_t;

static void trace_add(ev_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace_add(ev_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    APR_ARRAY_PUSH(e->d->trace, const char *) = apr_pvsprintf(e->pool, fmt, ap);
    va_end(ap);
}
/* A macro so that the arguments are not even computed without tracing. */
#define TRACE(e, ...)                                                                              \
    do {                                                                                           \
        if ((e)->trace)                                                                            \
            trace_add((e), __VA_ARGS__);                                                           \
    } while (0)

/* Deny with the owning rule's deny spec (if any). Returns 1 so checks can
 * `return deny(...)`. */
static int deny(ev_t *e, mg_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int deny(ev_t *e, mg_reason_t reason, const char *fmt, ...)
{
    mg_decision_t *d = e->d;
    va_list ap;
    d->outcome = MG_OUTCOME_DENY;
    d->access = MG_ACCESS_NONE;
    d->reason = reason;
    d->status = 403;
    d->message = NULL;
    d->page = NULL;
    if (e->rule != NULL) {
        if (e->rule->deny.status >= 400 && e->rule->deny.status <= 599)
            d->status = e->rule->deny.status;
        d->message = e->rule->deny.message;
        d->page = e->rule->deny.page;
    }
    va_start(ap, fmt);
    d->detail = apr_pvsprintf(e->pool, fmt, ap);
    va_end(ap);
    TRACE(e, "%s → deny [%s]", d->detail, mg_reason_name(reason));
    return 1;
}

static void allow(ev_t *e, mg_access_t level, mg_reason_t reason)
{
    static const char *const details[3][2] = {
        {"allowed", "allowed"},
        {"allowed: the rule grants view", "allowed: a valid token grants view"},
        {"allowed: the rule grants download", "allowed: a valid token grants download"}};
    mg_decision_t *d = e->d;
    const mg_request_derived_t *rd = e->rd;
    d->outcome = MG_OUTCOME_ALLOW;
    d->access = level;
    d->reason = reason;
    d->status = 200;
    d->message = NULL;
    d->page = NULL;
    d->download = rd->download && level == MG_ACCESS_DOWNLOAD;
    d->filename = d->download ? rd->canon.basename : NULL;
    if (reason == MG_R_DEFAULT_ALLOW)
        d->detail = "allowed: no rule owns the path and the policy's default is allow";
    else
        d->detail = details[level <= MG_ACCESS_DOWNLOAD ? level : 0]
                           [reason == MG_R_ALLOWED_BY_TOKEN ? 1 : 0];
    TRACE(e, "→ allow (%s%s) [%s]", mg_access_name(level), d->download ? ", download" : "",
          mg_reason_name(reason));
}

/* Request headers in a detail or trace line: these end up in logs, so keep
 * them short and printable, and never let a quote close a log field. */
static const char *shown(apr_pool_t *pool, const char *s)
{
    enum { MAX = 120 };
    size_t n = strlen(s), k = n > MAX ? MAX : n;
    char *o = apr_palloc(pool, k + 4);
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        o[i] = (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
    }
    memcpy(o + k, n > MAX ? "..." : "", n > MAX ? 4 : 1);
    return o;
}

/* ------------------------------------------------------------------ */
/* 1. IP                                                               */
/* ------------------------------------------------------------------ */

static const mg_cidr_t *ipset_find(const mg_ipset_t *set, const mg_ip_t *ip)
{
    for (int i = 0; set->cidrs && i < set->cidrs->nelts; i++) {
        const mg_cidr_t *c = &APR_ARRAY_IDX(set->cidrs, i, mg_cidr_t);
        if (mg_cidr_match(c, ip))
            return c;
    }
    return NULL;
}

/* Whether the client address is a trusted proxy's own while the request
 * carries a forwarded client address (X-Forwarded-For, Forwarded): mod_remoteip
 * is not set up for that proxy, or could not read the header — a port after
 * the address (198.51.100.7:41234, [2001:db8::7]:443), a zone
 * (2002:c000:20a::1%eth0), `unknown`, an empty element — and left the proxy
 * as the client. The client's own address is then unknown: an ip.deny list
 * or the database (the proxy's country) let every client through, and an
 * ip.allow list that holds the proxy let every client in. */
static int proxy_as_client(const ev_t *e)
{
    const mg_request_derived_t *rd = e->rd;
    const mg_request_t *req = e->req;
    if (!rd->peer_trusted || rd->client.family != rd->peer.family ||
        memcmp(rd->client.addr, rd->peer.addr, sizeof(rd->client.addr)) != 0 || req->lookup == NULL)
        return 0;
    return req->lookup(req->lookup_ctx, MG_LOOKUP_HEADER, "X-Forwarded-For") != NULL ||
           req->lookup(req->lookup_ctx, MG_LOOKUP_HEADER, "Forwarded") != NULL;
}

static int check_ip(ev_t *e)
{
    const mg_rule_t *r = e->rule;
    const mg_ip_t *ip = &e->rd->client;
    char ipb[64], cb[64];
    if (r->ip_deny == NULL && r->ip_allow == NULL)
        return 0;
    if (ip->family == 0 || proxy_as_client(e)) {
        /* An address we cannot read, or that is not the client's, is on no
         * allow list, and may be on a deny list: either way it does not
         * pass (red team 24b: the proxy's address passed both). */
        const char *why = ip->family == 0
                              ? "the client address is not a valid IP address"
                              : "the client's address is unknown: its address is a trusted "
                                "proxy's own, and the forwarded client address was not taken "
                                "(mod_remoteip)";
        if (r->ip_deny && r->ip_deny->cidrs && r->ip_deny->cidrs->nelts > 0)
            return deny(e, MG_R_IP_DENIED, "%s", why);
        if (r->ip_allow)
            return deny(e, MG_R_IP_NOT_ALLOWED, "%s", why);
        return 0;
    }
    if (r->ip_deny) {
        const mg_cidr_t *c = ipset_find(r->ip_deny, ip);
        mg_ip_t v4;
        char vb[64];
        if (c != NULL)
            return deny(e, MG_R_IP_DENIED, "ip %s is in the deny list (%s)",
                        mg_ip_format(ip, ipb, sizeof(ipb)), mg_cidr_format(c, cb, sizeof(cb)));
        /* The IPv4 client an IPv6 address carries (6to4, Teredo, ...) is
         * denied under either address; allow lists see only the address
         * as connected (docs/policy.md, "IPv6 addresses that carry an IPv4
         * address"). */
        if (mg_ip_embedded_v4(ip, &v4) && (c = ipset_find(r->ip_deny, &v4)) != NULL)
            return deny(e, MG_R_IP_DENIED, "ip %s (%s) carries %s, which is in the deny list (%s)",
                        mg_ip_format(ip, ipb, sizeof(ipb)), mg_ip_embedded_kind(ip),
                        mg_ip_format(&v4, vb, sizeof(vb)), mg_cidr_format(c, cb, sizeof(cb)));
        TRACE(e, "ip %s: not in deny list", mg_ip_format(ip, ipb, sizeof(ipb)));
    }
    if (r->ip_allow) {
        const mg_cidr_t *c = ipset_find(r->ip_allow, ip);
        if (c == NULL)
            return deny(e, MG_R_IP_NOT_ALLOWED, "ip %s is not in the allow list",
                        mg_ip_format(ip, ipb, sizeof(ipb)));
        TRACE(e, "ip %s: in allow list (%s)", mg_ip_format(ip, ipb, sizeof(ipb)),
              mg_cidr_format(c, cb, sizeof(cb)));
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* 2. Country                                                          */
/* ------------------------------------------------------------------ */

static int country_in(const apr_array_header_t *list, const char *cc)
{
    for (int i = 0; list && i < list->nelts; i++) {
        const char *x = APR_ARRAY_IDX(list, i, const char *);
        if (x && apr_cstr_casecmp(x, cc) == 0)
            return 1;
    }
    return 0;
}

/* country.from: {mmdb: FILE} is looked up here, only for a rule that
 * checks the country: the address is the client's after mod_remoteip (the
 * trusted-proxy logic), the same one check_ip uses. */
static int mmdb_country(ev_t *e, const char **cc)
{
    const char *why = NULL;
    char ipb[64];
    switch (mg_geo_country(e->policy->geo, &e->rd->client, e->cc, &why)) {
    case MG_GEO_FOUND:
        *cc = e->cc;
        TRACE(e, "country: %s for %s (MaxMind DB)", e->cc,
              mg_ip_format(&e->rd->client, ipb, sizeof(ipb)));
        return 0;
    case MG_GEO_UNKNOWN:
        TRACE(e, "country: %s is not in the MaxMind DB",
              mg_ip_format(&e->rd->client, ipb, sizeof(ipb)));
        return 0;
    default:
        return deny(e, MG_R_INTERNAL, "the country lookup of %s failed: %s",
                    mg_ip_format(&e->rd->client, ipb, sizeof(ipb)), why ? why : "unknown error");
    }
}

/* An IPv6 client that carries an IPv4 address (6to4, Teredo, ...): the
 * database's answer for the address as connected decided above (MaxMind
 * aliases 6to4 and Teredo to IPv4 space, Teredo to the server's address,
 * which the client chooses); the carried address must pass the lists as
 * a second client address (an unknown country fails an allow list, passes
 * a deny list). It can only deny. */
static int check_embedded_country(ev_t *e)
{
    const mg_rule_t *r = e->rule;
    mg_ip_t v4;
    char cc[3], ipb[64], vb[64];
    const char *why = NULL;
    if (!mg_ip_embedded_v4(&e->rd->client, &v4))
        return 0;
    mg_ip_format(&e->rd->client, ipb, sizeof(ipb));
    mg_ip_format(&v4, vb, sizeof(vb));
    switch (mg_geo_country(e->policy->geo, &v4, cc, &why)) {
    case MG_GEO_FOUND:
        break;
    case MG_GEO_UNKNOWN:
        if (r->country_allow != NULL)
            return deny(e, MG_R_COUNTRY_UNKNOWN,
                        "ip %s (%s) carries %s, whose country is unknown, and the rule allows only "
                        "some countries",
                        ipb, mg_ip_embedded_kind(&e->rd->client), vb);
        TRACE(e, "country: %s, which %s carries, is not in the MaxMind DB", vb, ipb);
        return 0;
    default:
        return deny(e, MG_R_INTERNAL, "the country lookup of %s (which %s carries) failed: %s", vb,
                    ipb, why ? why : "unknown error");
    }
    if ((r->country_deny && country_in(r->country_deny, cc)) ||
        (r->country_allow && !country_in(r->country_allow, cc)))
        return deny(e, MG_R_COUNTRY_DENIED,
                    "ip %s (%s) carries %s, of country %s, which the rule does not allow", ipb,
                    mg_ip_embedded_kind(&e->rd->client), vb, cc);
    TRACE(e, "country: %s, which %s carries, is %s: allowed", vb, ipb, cc);
    return 0;
}

static int check_country(ev_t *e)
{
    const mg_rule_t *r = e->rule;
    const char *cc = e->rd->country;
    int looked_up = 0;
    if (r->country_deny == NULL && r->country_allow == NULL)
        return 0;
    if (cc == NULL && e->req->country == NULL && e->policy->country_kind == MG_SRC_MMDB) {
        looked_up = 1;
        if (proxy_as_client(e))
            return deny(e, MG_R_COUNTRY_UNKNOWN,
                        "the client's country is unknown: its address is a trusted proxy's own, "
                        "and the forwarded client address was not taken (mod_remoteip)");
        if (mmdb_country(e, &cc))
            return 1;
    }
    if (cc != NULL && r->country_deny && country_in(r->country_deny, cc))
        return deny(e, MG_R_COUNTRY_DENIED, "country %s is in the deny list", cc);
    if (r->country_allow != NULL) {
        if (cc == NULL)
            return deny(e, MG_R_COUNTRY_UNKNOWN,
                        "the rule allows only some countries and the client's country is unknown");
        if (!country_in(r->country_allow, cc))
            return deny(e, MG_R_COUNTRY_DENIED, "country %s is not in the allow list", cc);
    }
    if (looked_up && check_embedded_country(e))
        return 1;
    TRACE(e, "country %s: allowed", cc ? cc : "unknown");
    return 0;
}

/* ------------------------------------------------------------------ */
/* 3. Time windows                                                     */
/* ------------------------------------------------------------------ */

static int window_holds(const mg_timewin_t *w, const mg_civil_t *c)
{
    int ymd = c->year * 10000 + c->month * 100 + c->day;
    int minute = c->hour * 60 + c->min;
    if (w->dates && w->dates->nelts > 0) {
        int ok = 0;
        for (int i = 0; i < w->dates->nelts && !ok; i++) {
            const mg_daterange_t *dr = &APR_ARRAY_IDX(w->dates, i, mg_daterange_t);
            ok = ymd >= dr->from_ymd && ymd <= dr->to_ymd;
        }
        if (!ok)
            return 0;
    }
    if (c->wday < 0 || c->wday > 6 || (w->days & (1u << c->wday)) == 0)
        return 0;
    if (w->hours == NULL || w->hours->nelts == 0)
        return 1;
    for (int i = 0; i < w->hours->nelts; i++) {
        const mg_hours_t *h = &APR_ARRAY_IDX(w->hours, i, mg_hours_t);
        if (h->from_min < h->to_min) {
            if (minute >= h->from_min && minute < h->to_min)
                return 1;
        } else if (h->from_min > h->to_min) {
            /* wraps midnight: evening part and morning part of the same local day */
            if (minute >= h->from_min || minute < h->to_min)
                return 1;
        }
    }
    return 0;
}

static int check_time(ev_t *e)
{
    static const char *const wd[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    const apr_array_header_t *ws = e->rule->time;
    if (ws == NULL || ws->nelts == 0)
        return 0;
    int64_t t = (int64_t)apr_time_sec(e->req->now);
    for (int i = 0; i < ws->nelts; i++) {
        const mg_timewin_t *w = APR_ARRAY_IDX(ws, i, const mg_timewin_t *);
        if (w == NULL)
            continue;
        const mg_tz_t *tz = w->tz ? w->tz : (e->policy->tz ? e->policy->tz : mg_tz_utc());
        mg_civil_t c;
        mg_tz_to_local(tz, t, &c);
        if (window_holds(w, &c)) {
            TRACE(e, "time: window '%s' holds (%s %04d-%02d-%02d %02d:%02d %s)",
                  w->name ? w->name : "(inline)", wd[c.wday % 7], c.year, c.month, c.day, c.hour,
                  c.min, mg_tz_name(tz));
            return 0;
        }
        TRACE(e, "time: window '%s' does not hold (%s %04d-%02d-%02d %02d:%02d %s)",
              w->name ? w->name : "(inline)", wd[c.wday % 7], c.year, c.month, c.day, c.hour, c.min,
              mg_tz_name(tz));
    }
    return deny(e, MG_R_OUTSIDE_TIME, "none of the rule's time windows holds now");
}

/* ------------------------------------------------------------------ */
/* 4. Hotlink                                                          */
/* ------------------------------------------------------------------ */

/* An origin reduced to slices of the header value. */
typedef struct origin {
    const char *scheme, *host;
    size_t scheme_len, host_len;
    int port; /* explicit or the scheme's default; 0 if unknown */
} origin_t;

static int slice_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
    return alen == blen && apr_cstr_casecmpn(a, b, alen) == 0;
}

static int default_port(const char *scheme, size_t len)
{
    if (slice_ieq(scheme, len, "https", 5))
        return 443;
    if (slice_ieq(scheme, len, "http", 4))
        return 80;
    return 0;
}

/* host[:port] or [v6][:port] up to `end`. Hand-written because apr_uri_parse
 * allocates and accepts far more than an Origin needs; this is bounded and
 * refuses userinfo, empty hosts and bad ports. */
static int parse_hostport(const char *p, const char *end, origin_t *o, int *has_port)
{
    const char *h = p, *he;
    *has_port = 0;
    if (p < end && *p == '[') {
        he = memchr(p, ']', (size_t)(end - p));
        if (he == NULL)
            return -1;
        he++;
    } else {
        he = p;
        while (he < end && *he != ':')
            he++;
    }
    if (he == h || (size_t)(he - h) > 255 || memchr(h, '@', (size_t)(he - h)) != NULL)
        return -1;
    o->host = h;
    o->host_len = (size_t)(he - h);
    if (he < end) {
        if (*he != ':' || he + 1 == end || end - (he + 1) > 5)
            return -1;
        long port = 0;
        for (const char *q = he + 1; q < end; q++) {
            if (*q < '0' || *q > '9')
                return -1;
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return -1;
        o->port = (int)port;
        *has_port = 1;
    }
    return 0;
}

/* "scheme://host[:port][/...]" from an Origin or Referer value. */
static int parse_origin(const char *v, origin_t *o)
{
    const char *p = v, *sep = strstr(v, "://");
    int has_port;
    if (sep == NULL || sep == v)
        return -1;
    for (p = v; p < sep; p++) {
        char ch = *p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (p > v && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'))))
            return -1;
    }
    o->scheme = v;
    o->scheme_len = (size_t)(sep - v);
    const char *a = sep + 3, *end = a;
    while (*end && *end != '/' && *end != '?' && *end != '#')
        end++;
    if (parse_hostport(a, end, o, &has_port) != 0)
        return -1;
    if (!has_port)
        o->port = default_port(o->scheme, o->scheme_len);
    return 0;
}

/* docs/policy.md: "https://example.com" means that scheme and host (and the
 * default port unless one is written); a host "*.example.com" means any
 * sub-domain but not the apex; without "scheme://" any scheme (and any port
 * unless one is written). */
static int origin_allowed(const char *entry, const origin_t *o)
{
    const char *sep = strstr(entry, "://"), *hp = entry;
    origin_t want;
    int has_port;
    memset(&want, 0, sizeof(want));
    if (sep != NULL) {
        if (!slice_ieq(entry, (size_t)(sep - entry), o->scheme, o->scheme_len))
            return 0;
        hp = sep + 3;
    }
    const char *end = hp + strlen(hp);
    while (end > hp && end[-1] == '/')
        end--;
    if (parse_hostport(hp, end, &want, &has_port) != 0)
        return 0;
    if (has_port) {
        if (want.port != o->port)
            return 0;
    } else if (sep != NULL) {
        if (o->port != default_port(entry, (size_t)(sep - entry)))
            return 0;
    }
    if (want.host_len > 2 && want.host[0] == '*' && want.host[1] == '.') {
        size_t sl = want.host_len - 1; /* ".example.com" */
        return o->host_len > sl && slice_ieq(o->host + o->host_len - sl, sl, want.host + 1, sl);
    }
    return slice_ieq(want.host, want.host_len, o->host, o->host_len);
}

/* same_origin: the Origin/Referer is this server's own origin, as the
 * browser sees it — scheme (the request's), host and port (from Host, else
 * the scheme's default). Another port on the same host is another site. */
static int is_request_origin(const ev_t *e, const origin_t *o)
{
    const char *h = e->req->host;
    const char *scheme = e->req->scheme ? e->req->scheme : "http";
    origin_t self;
    int has_port;
    if (h == NULL || *h == '\0')
        return 0;
    memset(&self, 0, sizeof(self));
    if (parse_hostport(h, h + strlen(h), &self, &has_port) != 0)
        return 0;
    if (!has_port)
        self.port = default_port(scheme, strlen(scheme));
    return slice_ieq(scheme, strlen(scheme), o->scheme, o->scheme_len) && self.port != 0 &&
           self.port == o->port && slice_ieq(self.host, self.host_len, o->host, o->host_len);
}

/* The user opens the URL itself (a link, a typed address, a bookmark)
 * rather than a page embedding it. Fetch Metadata when the browser sends
 * it, else an Accept that asks for HTML (older browsers, and plain-http
 * sites, to which Chromium sends no Sec-Fetch-*). */
static int top_level_navigation(const ev_t *e, const mg_hotlink_t *h, const char **how)
{
    if (h->fetch_metadata && e->rd->fm_document >= 0) {
        *how = "Sec-Fetch-Dest/Mode";
        return e->rd->fm_document;
    }
    *how = "Accept";
    return e->rd->accepts_html;
}

static int check_hotlink(ev_t *e)
{
    const mg_hotlink_t *h = e->rule->hotlink;
    const mg_request_t *req = e->req;
    if (h == NULL)
        return 0;
    const char *how = NULL;
    if (h->navigation == MG_NAV_ALLOW && top_level_navigation(e, h, &how)) {
        TRACE(e, "hotlink: a top-level navigation (%s), navigation: allow → pass", how);
        return 0;
    }
    const char *sfs = (h->fetch_metadata && req->sec_fetch_site && *req->sec_fetch_site)
                          ? req->sec_fetch_site
                          : NULL;
    if (sfs && (apr_cstr_casecmp(sfs, "same-origin") == 0 || apr_cstr_casecmp(sfs, "none") == 0)) {
        TRACE(e, "hotlink: Sec-Fetch-Site %s → pass", shown(e->pool, sfs));
        return 0;
    }
    const char *origin = (req->origin && *req->origin) ? req->origin : NULL;
    const char *referer = (req->referer && *req->referer) ? req->referer : NULL;
    const char *hdr = NULL, *val = NULL;
    if (origin && strcmp(origin, "null") != 0) {
        hdr = "Origin";
        val = origin;
    } else if (referer) {
        hdr = "Referer";
        val = referer;
    }
    if (val != NULL) {
        origin_t o;
        memset(&o, 0, sizeof(o));
        if (parse_origin(val, &o) != 0)
            return deny(e, MG_R_HOTLINK, "hotlink: %s '%s' is not a URL", hdr, shown(e->pool, val));
        if (h->same_origin && is_request_origin(e, &o)) {
            TRACE(e, "hotlink: %s %s is this site's origin → pass", hdr, shown(e->pool, val));
            return 0;
        }
        for (int i = 0; h->allowed_origins && i < h->allowed_origins->nelts; i++) {
            const char *entry = APR_ARRAY_IDX(h->allowed_origins, i, const char *);
            if (entry && origin_allowed(entry, &o)) {
                TRACE(e, "hotlink: %s %s matches allowed origin %s → pass", hdr,
                      shown(e->pool, val), entry);
                return 0;
            }
        }
        return deny(e, MG_R_HOTLINK, "hotlink: %s %s not allowed%s", hdr, shown(e->pool, val),
                    h->navigation == MG_NAV_ALLOW ? " (an embed, not a navigation)" : "");
    }
    if (origin != NULL) /* "Origin: null" and no Referer: an opaque, cross-origin context */
        return deny(e, MG_R_HOTLINK, "hotlink: Origin null without a Referer");
    if (sfs != NULL)
        /* cross-site, same-site, or a value we do not know: not our own page */
        return deny(e, MG_R_HOTLINK, "hotlink: Sec-Fetch-Site %s without Origin or Referer",
                    shown(e->pool, sfs));
    if (h->empty_referer == MG_EMPTY_REF_DENY)
        return deny(e, MG_R_HOTLINK, "hotlink: no Referer or Origin, and empty_referer is deny");
    TRACE(e, "hotlink: no Referer or Origin, empty_referer allow → pass");
    return 0;
}

/* ------------------------------------------------------------------ */
/* 5. Transformations                                                  */
/* ------------------------------------------------------------------ */

/* A whole decimal integer (optional '-'), no spaces, no overflow. */
static int parse_long(const char *s, long *out)
{
    const char *p = s;
    long v = 0;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (*p == '\0')
        return -1;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        if (v > (__LONG_MAX__ - (*p - '0')) / 10)
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

static const mg_tr_constraint_t *constraint_of(const mg_transform_policy_t *tp, const char *key)
{
    for (int i = 0; tp->params && i < tp->params->nelts; i++) {
        const mg_tr_constraint_t *c = &APR_ARRAY_IDX(tp->params, i, mg_tr_constraint_t);
        if (c->param && strcmp(c->param, key) == 0)
            return c;
    }
    return NULL;
}

static int check_param(ev_t *e, const mg_transform_policy_t *tp, const mg_tr_param_t *p)
{
    const mg_tr_constraint_t *c = constraint_of(tp, p->key);
    if (c == NULL)
        return deny(e, MG_R_TRANSFORM_DENIED, "transformation parameter '%s' is not allowed",
                    p->key);
    if (c->values && c->values->nelts > 0) {
        int ok = 0;
        for (int i = 0; i < c->values->nelts && !ok; i++) {
            const char *v = APR_ARRAY_IDX(c->values, i, const char *);
            ok = v && strcmp(v, p->value) == 0;
        }
        if (!ok)
            return deny(e, MG_R_TRANSFORM_DENIED, "transformation %s-%s: value not allowed", p->key,
                        p->value);
    }
    if (c->has_min || c->has_max) {
        long v;
        if (parse_long(p->value, &v) != 0)
            return deny(e, MG_R_TRANSFORM_DENIED, "transformation %s-%s: not an integer", p->key,
                        p->value);
        if (c->has_min && v < c->min)
            return deny(e, MG_R_TRANSFORM_DENIED, "transformation %s-%s: below the minimum %ld",
                        p->key, p->value, c->min);
        /* a max-only bound means sizes and counts: "w--1" is not one (an
         * image server may read it as "no limit"); a policy that wants
         * negatives says so with min */
        if (!c->has_min && c->has_max && c->max >= 0 && v < 0)
            return deny(e, MG_R_TRANSFORM_DENIED,
                        "transformation %s-%s: negative (give a min to allow it)", p->key,
                        p->value);
        if (c->has_max && v > c->max)
            return deny(e, MG_R_TRANSFORM_DENIED, "transformation %s-%s: above the maximum %ld",
                        p->key, p->value, c->max);
    }
    return 0;
}

static int check_transforms(ev_t *e)
{
    const mg_rule_t *r = e->rule;
    const mg_request_derived_t *rd = e->rd;
    const char *trs = rd->canon.tr ? rd->canon.tr : "";
    if (r->transforms_none) {
        if (rd->has_tr)
            return deny(e, MG_R_TRANSFORM_DENIED, "transformations are not allowed here ('%s')",
                        trs);
        return 0;
    }
    const mg_transform_policy_t *tp = r->transforms;
    if (tp == NULL)
        return 0;
    const char *pname = tp->name ? tp->name : "(inline)";
    int has_require = tp->require && tp->require->nelts > 0;
    if (!rd->has_tr) {
        if (has_require || !tp->allow_none)
            return deny(e, MG_R_TRANSFORM_MISSING,
                        "profile '%s' requires a transformation and the URL has none", pname);
        TRACE(e, "transforms: none requested, profile '%s' allows that", pname);
        return 0;
    }
    /* the loader always sets forms (default both); 0 accepts no form: fail closed */
    if ((tp->forms & rd->canon.tr_form) == 0)
        return deny(e, MG_R_TRANSFORM_DENIED, "profile '%s' does not accept the %s form", pname,
                    rd->canon.tr_form == MG_TR_FORM_PATH ? "path (tr:)" : "query (?tr=)");
    if (tp->sets && tp->sets->nelts > 0) {
        if (!mg_policy_tr_in_sets(e->policy, tp, &rd->tr))
            return deny(e, MG_R_TRANSFORM_DENIED,
                        "transformation '%s' is not one of the sets of profile '%s'", trs, pname);
    } else {
        for (int s = 0; s < rd->tr.nsteps; s++)
            for (int k = 0; k < rd->tr.steps[s].nparams; k++)
                if (check_param(e, tp, &rd->tr.steps[s].params[k]))
                    return 1;
    }
    const char *missing = NULL;
    if (!mg_policy_tr_has_required(e->policy, tp, &rd->tr, &missing))
        return deny(e, MG_R_TRANSFORM_MISSING,
                    "transformation '%s' lacks the required '%s' (profile '%s')", trs,
                    missing ? missing : "?", pname);
    TRACE(e, "transforms: '%s' allowed by profile '%s'", trs, pname);
    return 0;
}

/* ------------------------------------------------------------------ */
/* 6-7. Token and roles                                                */
/* ------------------------------------------------------------------ */

static int is_token_reason(mg_reason_t r)
{
    return r >= MG_R_TOKEN_MISSING && r <= MG_R_TOKEN_REVOKED;
}

static int signed_in(const ev_t *e)
{
    return (e->req->user != NULL && *e->req->user != '\0') || e->roles != 0;
}

static mg_access_t rule_level(const ev_t *e)
{
    const mg_rule_t *r = e->rule;
    int in = signed_in(e);
    mg_access_t lvl = MG_ACCESS_NONE;
    for (int i = 0; r->access && i < r->access->nelts; i++) {
        const mg_role_access_t *a = &APR_ARRAY_IDX(r->access, i, mg_role_access_t);
        int applies = a->role == MG_ROLE_ANONYMOUS || (a->role == MG_ROLE_AUTHENTICATED && in) ||
                      (a->role >= 0 && a->role < MG_MAX_ROLES &&
                       (e->roles & ((mg_roleset_t)1 << a->role)) != 0);
        if (applies && a->access > lvl)
            lvl = a->access;
    }
    return lvl;
}

/* Would signing in help? Some entry other than `anonymous` grants `lvl`. */
static int would_grant(const mg_rule_t *r, mg_access_t lvl)
{
    for (int i = 0; r->access && i < r->access->nelts; i++) {
        const mg_role_access_t *a = &APR_ARRAY_IDX(r->access, i, mg_role_access_t);
        if (a->role != MG_ROLE_ANONYMOUS && a->access >= lvl)
            return 1;
    }
    return 0;
}

static const char *role_names(const ev_t *e)
{
    const apr_array_header_t *roles = e->policy->roles;
    const char *s = NULL;
    for (int i = 0; roles && i < roles->nelts && i < MG_MAX_ROLES; i++)
        if (e->roles & ((mg_roleset_t)1 << i))
            s = s ? apr_pstrcat(e->pool, s, ", ", APR_ARRAY_IDX(roles, i, const char *), NULL)
                  : APR_ARRAY_IDX(roles, i, const char *);
    return s ? s : "none";
}

/* A token parameter: native (mg_*) or of a foreign format the policy has
 * keys for (lib/mg_fmt.h). */
static int is_token_param(const mg_policy_t *policy, const char *name)
{
    return strncmp(name, "mg_", 3) == 0 || mg_fmt_is_reserved_param(policy, name);
}

/* The query to carry into the return URL: the original one, or, when it
 * holds token parameters (mg_*, docs/token-spec.md, or a foreign format's,
 * docs/token-formats.md), the other parameters re-encoded without them. A
 * link is a bearer credential and login.url may be another site, whose logs
 * must not receive it; after signing in, the user's roles decide anyway.
 * NULL when nothing is left. */
static const char *return_query(ev_t *e)
{
    const apr_array_header_t *q = e->rd->query;
    int has_token = 0;

    for (int i = 0; q && i < q->nelts; i++)
        if (is_token_param(e->policy, APR_ARRAY_IDX(q, i, mg_qparam_t).name))
            has_token = 1;
    if (!has_token)
        return e->req->query != NULL && *e->req->query != '\0' ? e->req->query : NULL;
    const char *out = NULL;
    for (int i = 0; i < q->nelts; i++) {
        const mg_qparam_t *qp = &APR_ARRAY_IDX(q, i, mg_qparam_t);
        if (is_token_param(e->policy, qp->name))
            continue;
        const char *pair = apr_pstrcat(e->pool, mg_pct_encode_query(e->pool, qp->name), "=",
                                       mg_pct_encode_query(e->pool, qp->value), NULL);
        out = out ? apr_pstrcat(e->pool, out, "&", pair, NULL) : pair;
    }
    return out;
}

/* Relative return URL: canonical signed path + the query without token
 * parameters (return_query), exactly one leading '/', then percent-encoded
 * as one query value so that the login page can never be steered to
 * another site. */
static const char *login_location(ev_t *e)
{
    const mg_policy_t *p = e->policy;
    const char *path = e->rd->canon.signed_path ? e->rd->canon.signed_path : e->rd->canon.path;
    if (path == NULL)
        return NULL;
    while (path[0] == '/' && path[1] == '/')
        path++;
    const char *ret =
        mg_pct_encode_path(e->pool, path[0] == '/' ? path : apr_pstrcat(e->pool, "/", path, NULL));
    if (ret == NULL)
        return NULL;
    const char *query = return_query(e);
    if (query != NULL)
        ret = apr_pstrcat(e->pool, ret, "?", query, NULL);
    const char *enc = mg_pct_encode_query(e->pool, ret);
    if (enc == NULL)
        return NULL;
    const char *param = p->login_return_param ? p->login_return_param : "return_to";
    return apr_pstrcat(e->pool, p->login_url, strchr(p->login_url, '?') ? "&" : "?",
                       mg_pct_encode_query(e->pool, param), "=", enc, NULL);
}

static void need_login(ev_t *e, const char *what)
{
    mg_decision_t *d = e->d;
    const mg_policy_t *p = e->policy;
    d->access = MG_ACCESS_NONE;
    d->reason = MG_R_LOGIN_REQUIRED;
    if (e->rd->navigation && e->rule->login && p->login_url != NULL) {
        const char *loc = login_location(e);
        if (loc == NULL) {
            deny(e, MG_R_INTERNAL, "could not build the login redirect");
            return;
        }
        d->outcome = MG_OUTCOME_LOGIN;
        d->status = 302;
        d->location = loc;
        d->detail = apr_psprintf(e->pool, "login required: signing in would grant %s", what);
        TRACE(e, "→ login [login-required]: redirect to %s", loc);
    } else {
        d->outcome = MG_OUTCOME_AUTH;
        d->status = 401;
        d->detail =
            apr_psprintf(e->pool, "authentication required: signing in would grant %s", what);
        TRACE(e, "→ auth [login-required]: %s",
              e->rd->navigation ? "no login URL for this rule" : "not a browser navigation");
    }
}

/* A grant by a token: what it is (for the HLS rewrite) and, with an id,
 * the claims the caller needs to count a use or to look the id up in a
 * revocation list that changes faster than the policy (both live outside
 * the policy, in the module). */
static void token_uses(ev_t *e, const mg_token_claims_t *c)
{
    e->d->token_kid = c->kid;
    e->d->token_format = c->format ? c->format : "mg-v1";
    e->d->token_from = c->from;
    e->d->token_scope = c->scope;
    if (c->id == NULL)
        return;
    e->d->token_id = c->id;
    e->d->token_uses = c->uses;
    e->d->token_until = c->expires + e->policy->tokens.grace + e->policy->tokens.skew;
    /* verification refuses it while expiry − now > max_ttl + skew, and
     * before not-before − skew: no server granted it earlier than this */
    e->d->token_used_from = 0;
    e->d->token_revocable_from = 0;
    if (e->policy->tokens.max_ttl > 0) {
        e->d->token_used_from = c->expires - e->policy->tokens.max_ttl;
        e->d->token_revocable_from = e->d->token_used_from - e->policy->tokens.skew;
    }
    if (c->not_before > e->d->token_used_from)
        e->d->token_used_from = c->not_before;
    if (e->d->token_used_from != 0)
        e->d->token_used_from -= e->policy->tokens.skew;
    if (c->uses > 0)
        TRACE(e, "token: id %s may be used by %d client address(es)", c->id, c->uses);
}

/* roles_from `apache:` — ask the embedding program (mod_media_guard: the
 * named authz provider) only for roles that could raise this rule's level
 * above what the user already has, in file order, and never twice for one
 * role. Each question may cost a directory lookup (LDAP, a database), so a
 * rule that anonymous users may already see asks nothing. An error is a
 * deny: whether the user holds the role is unknown. Returns 1 after a deny. */
static int p_has_grants(const ev_t *e)
{
    return e->policy->grant_roles != 0;
}

static mg_access_t rule_level(const ev_t *e);

/* Roles that some roles_from `apache:` entry could grant and that would
 * raise this rule's level above `have`. */
static mg_roleset_t wanted_grants(const ev_t *e, mg_access_t have)
{
    const mg_rule_t *r = e->rule;
    mg_roleset_t want = 0;
    for (int i = 0; r->access && i < r->access->nelts; i++) {
        const mg_role_access_t *a = &APR_ARRAY_IDX(r->access, i, mg_role_access_t);
        if (a->role >= 0 && a->role < MG_MAX_ROLES && a->access > have)
            want |= (mg_roleset_t)1 << a->role;
    }
    return want & e->policy->grant_roles & ~e->roles;
}

static int ask_grants(ev_t *e, mg_access_t have)
{
    const mg_policy_t *p = e->policy;
    if (p->grant_roles == 0 || p->role_grants == NULL)
        return 0;
    mg_roleset_t want = wanted_grants(e, have);
    for (int i = 0; want && i < p->role_grants->nelts; i++) {
        const mg_role_grant_t *g = &APR_ARRAY_IDX(p->role_grants, i, mg_role_grant_t);
        mg_roleset_t bit = (mg_roleset_t)1 << g->role;
        if (!(want & bit))
            continue;
        if (e->req->grant_check == NULL) {
            TRACE(e, "role %s: 'Require %s' not asked (no Apache here: give --require or --role)",
                  APR_ARRAY_IDX(p->roles, g->role, const char *), shown(e->pool, g->line));
            continue;
        }
        mg_grant_t res = e->req->grant_check(e->req->grant_ctx, i, g);
        if (res == MG_GRANT_ERROR)
            return deny(e, MG_R_INTERNAL,
                        "role %s: 'Require %s' could not be decided (policy line %d)",
                        APR_ARRAY_IDX(p->roles, g->role, const char *), shown(e->pool, g->line),
                        g->pos.line);
        TRACE(e, "role %s: 'Require %s' %s", APR_ARRAY_IDX(p->roles, g->role, const char *),
              shown(e->pool, g->line), res == MG_GRANT_YES ? "passes" : "does not pass");
        if (res == MG_GRANT_YES) {
            e->roles |= bit;
            want = wanted_grants(e, rule_level(e));
        }
    }
    return 0;
}

static void decide_access(ev_t *e)
{
    const mg_rule_t *r = e->rule;
    const mg_request_derived_t *rd = e->rd;
    mg_access_t need = rd->download ? MG_ACCESS_DOWNLOAD : MG_ACCESS_VIEW;
    mg_token_claims_t claims;
    mg_reason_t tr;

    if (r->token == MG_TOKEN_REQUIRED) {
        /* mg_token_check clears the claims first */
        tr = mg_token_check(e->pool, e->policy, e->req, &claims);
        if (tr != MG_R_ALLOWED) {
            if (!is_token_reason(tr))
                tr = MG_R_INTERNAL;
            deny(e, tr, "a valid token is required (%s)",
                 claims.detail ? claims.detail : mg_reason_name(tr));
            return;
        }
        mg_access_t lvl = claims.access == MG_ACCESS_DOWNLOAD ? MG_ACCESS_DOWNLOAD : MG_ACCESS_VIEW;
        TRACE(e, "token: valid (%s, key %s), grants %s", claims.format ? claims.format : "mg-v1",
              claims.kid ? claims.kid : "-", mg_access_name(lvl));
        if (need > lvl) {
            deny(e, MG_R_DOWNLOAD, "download requested and the token grants view only");
            return;
        }
        allow(e, lvl, MG_R_ALLOWED_BY_TOKEN);
        token_uses(e, &claims);
        return;
    }

    mg_access_t lvl = rule_level(e);
    if (p_has_grants(e)) {
        if (ask_grants(e, lvl))
            return;
        lvl = rule_level(e);
    }
    int by_token = 0;
    TRACE(e, "access: user %s, roles [%s] → %s",
          e->req->user && *e->req->user ? shown(e->pool, e->req->user) : "(none)", role_names(e),
          mg_access_name(lvl));
    if (r->token == MG_TOKEN_ALTERNATIVE && lvl < need) {
        tr = mg_token_check(e->pool, e->policy, e->req, &claims);
        if (tr == MG_R_ALLOWED) {
            mg_access_t tl =
                claims.access == MG_ACCESS_DOWNLOAD ? MG_ACCESS_DOWNLOAD : MG_ACCESS_VIEW;
            TRACE(e, "token: valid (%s, key %s), grants %s",
                  claims.format ? claims.format : "mg-v1", claims.kid ? claims.kid : "-",
                  mg_access_name(tl));
            if (tl > lvl) {
                lvl = tl;
                by_token = 1;
            }
        } else if (tr == MG_R_TOKEN_MISSING) {
            TRACE(e, "token: none presented");
        } else {
            if (!is_token_reason(tr))
                tr = MG_R_INTERNAL;
            deny(e, tr, "the token presented is not valid (%s)",
                 claims.detail ? claims.detail : mg_reason_name(tr));
            /* docs/policy.md: a broken token never spoils a request that
             * access allows — and access may allow the user once known */
            e->d->user_may_allow = !signed_in(e) && would_grant(r, need);
            return;
        }
    }

    if (lvl == MG_ACCESS_NONE) {
        if (!signed_in(e) && would_grant(r, MG_ACCESS_VIEW))
            need_login(e, "access");
        else
            deny(e, MG_R_ROLE, "rule '%s' grants no access to roles [%s]", r->id, role_names(e));
        return;
    }
    if (need == MG_ACCESS_DOWNLOAD && lvl < MG_ACCESS_DOWNLOAD) {
        if (!signed_in(e) && would_grant(r, MG_ACCESS_DOWNLOAD))
            need_login(e, "download");
        else
            deny(e, MG_R_DOWNLOAD, "download requested and rule '%s' grants view only", r->id);
        return;
    }
    allow(e, lvl, by_token ? MG_R_ALLOWED_BY_TOKEN : MG_R_ALLOWED);
    if (by_token)
        token_uses(e, &claims);
}

/* ------------------------------------------------------------------ */
/* Entry point                                                         */
/* ------------------------------------------------------------------ */

static int literal_depth(const char *t)
{
    int d = 0;
    while (t && *t) {
        while (*t == '/')
            t++;
        if (*t == '\0')
            break;
        const char *s = t;
        while (*t && *t != '/')
            t++;
        if (memchr(s, '*', (size_t)(t - s)) || memchr(s, '?', (size_t)(t - s)))
            break;
        d++;
    }
    return d;
}

static const char *methods_text(apr_pool_t *pool, unsigned m)
{
    static const char *const names[] = {"GET",    "HEAD",    "POST",  "PUT",
                                        "DELETE", "OPTIONS", "PATCH", "other"};
    const char *s = NULL;
    for (int i = 0; i < 8; i++)
        if (m & (1u << i))
            s = s ? apr_pstrcat(pool, s, ", ", names[i], NULL) : names[i];
    return s ? s : "none";
}

void mg_evaluate(apr_pool_t *pool, const mg_policy_t *policy, const mg_request_t *req, int trace,
                 mg_decision_t *d)
{
    if (d == NULL)
        return;
    memset(d, 0, sizeof(*d));
    d->outcome = MG_OUTCOME_DENY;
    d->reason = MG_R_INTERNAL;
    d->status = 403;
    d->detail = "internal error: the request could not be evaluated";
    if (pool == NULL)
        return;
    ev_t ev = {pool, policy, req, NULL, NULL, d, trace != 0 && pool != NULL, 0, {0}};
    ev_t *e = &ev;
    if (e->trace)
        d->trace = apr_array_make(pool, 16, sizeof(const char *));
    if (policy == NULL || policy->compiled == NULL || req == NULL || req->d == NULL) {
        TRACE(e, "internal error: policy not compiled or request not prepared → deny");
        return;
    }
    const mg_request_derived_t *rd = req->d;
    e->rd = rd;
    e->roles = rd->roles;
    if (!rd->ok) {
        deny(e, MG_R_BAD_URL, "the URL was refused: %s", rd->why ? rd->why : "malformed");
        return;
    }

    /* A method no rule can name (WebDAV's PROPFIND, COPY, MOVE, LOCK, ...)
     * is refused by every policy, `default: allow` included: such methods
     * act on other URLs than the one judged — COPY of a collection reads
     * every file below it and writes it under the Destination, PROPFIND
     * lists their names — so the collection's own (unowned) URL cannot
     * answer for files that rules protect. No method at all (bit 0: an
     * empty or missing one) is no better: it matches no rule, and would
     * fall to `default: allow`. */
    if (rd->method_bit == MG_M_OTHER || rd->method_bit == 0) {
        deny(e, MG_R_METHOD,
             "%s is not a method a policy can allow (rules name GET, HEAD, POST, PUT, DELETE, "
             "OPTIONS and PATCH; WebDAV's COPY, MOVE and PROPFIND reach other URLs than %s)",
             req->method != NULL && req->method[0] != '\0' ? shown(pool, req->method)
                                                           : "(no method)",
             shown(pool, rd->canon.path));
        return;
    }

    const mg_pathpat_t *pat = NULL;
    const mg_rule_t *mrule = NULL;
    const mg_rule_t *r =
        mg_policy_match_ex(policy, rd->canon.path, rd->classes, rd->method_bit, &pat, &mrule);
    if (r == NULL) {
        if (mrule != NULL) {
            /* Denied even with `default: allow`: the path is protected, only
             * not for this method. */
            deny(e, MG_R_METHOD, "%s is not allowed on %s (rule '%s' allows %s)",
                 req->method ? shown(pool, req->method) : "(no method)",
                 shown(pool, rd->canon.path), mrule->id, methods_text(pool, mrule->methods));
            return;
        }
        TRACE(e, "no rule owns %s", shown(pool, rd->canon.path));
        if (policy->deflt == MG_DEFAULT_ALLOW) {
            allow(e, MG_ACCESS_DOWNLOAD, MG_R_DEFAULT_ALLOW);
            return;
        }
        deny(e, MG_R_NO_RULE, "no rule owns %s and the policy's default is deny",
             shown(pool, rd->canon.path));
        return;
    }

    e->rule = r;
    d->rule_id = r->id;
    d->corp = r->corp ? r->corp : (r->hotlink ? r->hotlink->corp : NULL);
    TRACE(e, "rule '%s' owns %s (%s %s, depth %d)", r->id, shown(pool, rd->canon.path),
          pat && pat->text && strpbrk(pat->text, "*?") ? "glob" : "prefix", pat ? pat->text : "?",
          pat ? literal_depth(pat->text) : 0);

    if (check_ip(e) || check_country(e) || check_time(e) || check_hotlink(e) || check_transforms(e))
        return;
    decide_access(e);
}
