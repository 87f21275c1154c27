/* mg_profiles_load.c — the named definitions that rules refer to:
 * time_windows, hotlink profiles (also inline in a rule) and transforms
 * profiles. Each is validated completely and registered under its name only
 * when it has no error, so a rule's reference never points at half a
 * definition. */
#include <string.h>

#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_load.h"
#include "mg_time.h"
#include "mg_transform.h"

#define HKEY(s) (s), APR_HASH_KEY_STRING
#define IDX(i) ((void *)(intptr_t)((i) + 1))

/* ------------------------------------------------------------ time windows */

static const char *const wday3[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
static const char *const wday_full[] = {"sunday",   "monday", "tuesday",  "wednesday",
                                        "thursday", "friday", "saturday", NULL};

static int parse_wday(const char *s)
{
    char low[16];
    size_t n = strlen(s);
    if (n >= sizeof(low))
        return -1;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)mg_ascii_tolower((unsigned char)s[i]);
    for (int i = 0; i < 7; i++)
        if (!strcmp(low, wday3[i]) || !strcmp(low, wday_full[i]))
            return i;
    return -1;
}

static int parse_hours(mg_lctx_t *c, const mg_ynode_t *n, mg_hours_t *out)
{
    const char *dash = strchr(n->str, '-');
    if (dash) {
        const char *a = apr_pstrmemdup(c->tmp, n->str, (apr_size_t)(dash - n->str));
        if (mg_hhmm_parse(a, &out->from_min) == 0 && mg_hhmm_parse(dash + 1, &out->to_min) == 0 &&
            out->from_min < 24 * 60 && out->to_min <= 24 * 60) {
            if (out->from_min == out->to_min) {
                mg_lerr(c, n, "bad-time", "hours range '%s' is empty (start equals end)", n->str);
                return -1;
            }
            return 0;
        }
    }
    mg_lerr(c, n, "bad-time",
            "'%s' is not an hours range: write HH:MM-HH:MM, e.g. 09:00-17:00 (24:00 may end a "
            "range)",
            n->str);
    return -1;
}

static int parse_daterange(mg_lctx_t *c, const mg_ynode_t *n, mg_daterange_t *out)
{
    const char *dots = strstr(n->str, "..");
    const char *a = dots ? apr_pstrmemdup(c->tmp, n->str, (apr_size_t)(dots - n->str)) : n->str;
    const char *b = dots ? dots + 2 : n->str;
    if (mg_date_parse(a, &out->from_ymd) != 0 || mg_date_parse(b, &out->to_ymd) != 0) {
        mg_lerr(c, n, "bad-date",
                "'%s' is not a date or date range: write YYYY-MM-DD or YYYY-MM-DD..YYYY-MM-DD "
                "(a real calendar date)",
                n->str);
        return -1;
    }
    if (out->from_ymd > out->to_ymd) {
        mg_lerr(c, n, "reversed-range", "date range '%s' ends before it starts", n->str);
        return -1;
    }
    return 0;
}

/* days, hours and dates: an empty list would read as the default, which
 * holds always; the opposite of what an empty list says. */
static void empty_list(mg_lctx_t *c, const mg_ynode_t *n, const char *key, const char *deflt,
                       const char *example)
{
    mg_diag_t *d = mg_lerr(c, n, "bad-value",
                           "%s must list at least one entry: an empty list would mean %s, as "
                           "when '%s' is left out",
                           key, deflt, key);
    d->hint =
        apr_psprintf(c->diags->pool, "leave '%s' out for %s, or list %s", key, deflt, example);
}

void mg_load_timewin(mg_lctx_t *c, const mg_ynode_t *k, const mg_ynode_t *n)
{
    static const char *const names[] = {"timezone", "days", "hours", "dates", NULL};
    mg_ynode_t *v[4];
    int before = c->diags->errors;
    mg_timewin_t w;
    memset(&w, 0, sizeof(w));
    w.name = apr_pstrdup(c->pool, k->str);
    w.tz = c->p->tz;
    w.tz_name = c->p->tz_name;
    w.days = 0x7f;
    w.hours = apr_array_make(c->pool, 1, sizeof(mg_hours_t));
    w.dates = apr_array_make(c->pool, 1, sizeof(mg_daterange_t));
    w.pos.line = k->line;
    w.pos.col = k->col;
    if (!mg_lname_ok(k->str))
        mg_lerr(c, k, "bad-value",
                "time window name '%s' must be 1-64 letters, digits, '.', '_' or '-'", k->str);
    if (mg_lmap(c, n, apr_psprintf(c->tmp, "time window '%s'", k->str), names, v, NULL) != 0)
        return;
    if (v[0])
        mg_ltimezone(c, v[0], &w.tz, &w.tz_name);
    apr_array_header_t *items;
    if (v[1] && (items = mg_llist(c, v[1], "days", 0)) != NULL) {
        w.days = 0;
        for (int i = 0; i < items->nelts; i++) {
            const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
            int d = parse_wday(it->str);
            if (d < 0) {
                /* one parenthesised tail: the suggestion, else the list */
                mg_diag_t *dg = mg_lerr(c, it, "unknown-weekday", "unknown weekday '%s'", it->str);
                mg_lhint(c, dg, apr_pstrndup(c->tmp, it->str, 3), wday3);
                if (dg->hint == NULL)
                    dg->hint = "use mon, tue, wed, thu, fri, sat, sun or the full English names";
                continue;
            }
            w.days |= 1u << d;
        }
        if (items->nelts == 0)
            empty_list(c, v[1], "days", "every day", "weekdays, e.g. [mon, tue]");
    }
    if (v[2] && (items = mg_llist(c, v[2], "hours", 0)) != NULL) {
        for (int i = 0; i < items->nelts; i++) {
            mg_hours_t h;
            if (parse_hours(c, APR_ARRAY_IDX(items, i, const mg_ynode_t *), &h) == 0)
                *(mg_hours_t *)apr_array_push(w.hours) = h;
        }
        /* an empty list is what "all day" is stored as: `hours: []` would
         * hold around the clock, where its author meant no hours at all */
        if (items->nelts == 0)
            empty_list(c, v[2], "hours", "all day", "ranges, e.g. [\"09:00-17:00\"]");
    }
    if (v[3] && (items = mg_llist(c, v[3], "dates", 0)) != NULL) {
        for (int i = 0; i < items->nelts; i++) {
            mg_daterange_t d;
            if (parse_daterange(c, APR_ARRAY_IDX(items, i, const mg_ynode_t *), &d) == 0)
                *(mg_daterange_t *)apr_array_push(w.dates) = d;
        }
        if (items->nelts == 0)
            empty_list(c, v[3], "dates", "any date", "dates, e.g. [\"2026-12-24\"]");
    }
    if (c->diags->errors != before)
        return;
    apr_hash_set(c->timewins, HKEY(w.name), IDX(c->p->timewins->nelts));
    *(mg_timewin_t *)apr_array_push(c->p->timewins) = w;
}

/* ------------------------------------------------------------ hotlink */

static const char *const corp_values[] = {"same-site", "same-origin", "cross-origin", NULL};

/* Origin patterns: "https://example.com", "https://" "*.example.com:8443",
 * "*.example.com", "example.com", "http://[2001:db8::1]:8080" — scheme
 * optional, host with an optional "*." prefix (or an IPv6 literal), optional
 * port, nothing else. Returns the lower-cased form or NULL. */
static const char *origin_pattern(apr_pool_t *pool, const char *s)
{
    const char *h = s, *end;
    if (apr_cstr_casecmpn(s, "https://", 8) == 0)
        h = s + 8;
    else if (apr_cstr_casecmpn(s, "http://", 7) == 0)
        h = s + 7;
    else if (strstr(s, "://"))
        return NULL;
    if (*h == '[') { /* an IPv6 literal, as in a URL */
        const char *rb = strchr(h, ']');
        mg_ip_t ip;
        if (!rb || rb - h > 64)
            return NULL;
        char lit[72];
        memcpy(lit, h + 1, (size_t)(rb - h - 1));
        lit[rb - h - 1] = 0;
        if (mg_ip_parse(lit, &ip) != 0 || ip.family != 6)
            return NULL;
        end = rb + 1;
    } else {
        if (strncmp(h, "*.", 2) == 0)
            h += 2;
        end = h;
        while (*end && (mg_ascii_isalnum((unsigned char)*end) || *end == '-' || *end == '.'))
            end++;
        if (end == h || *h == '.' || end[-1] == '.' || strstr(h, ".."))
            return NULL;
    }
    if (*end == ':') {
        const char *p = end + 1;
        long port = 0;
        while (mg_ascii_isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (*p++ - '0');
        if (p == end + 1 || *p || port < 1 || port > 65535)
            return NULL;
    } else if (*end) {
        return NULL;
    }
    char *out = apr_pstrdup(pool, s);
    for (char *q = out; *q; q++)
        *q = (char)mg_ascii_tolower((unsigned char)*q);
    return out;
}

/* The host of an origin pattern (lower-cased by origin_pattern) without
 * scheme, "*." and port, and its "site" as far as the policy can tell: the
 * last two DNS labels, or the whole host for an IP literal. Two patterns
 * whose sites differ can never both be same-site with this server. */
static const char *pattern_site(apr_pool_t *pool, const char *pat, const char **scheme)
{
    const char *h = strstr(pat, "://");
    *scheme = h ? apr_pstrmemdup(pool, pat, (apr_size_t)(h - pat)) : NULL;
    h = h ? h + 3 : pat;
    if (strncmp(h, "*.", 2) == 0)
        h += 2;
    if (*h == '[')
        return apr_pstrmemdup(pool, h, (apr_size_t)(strchr(h, ']') + 1 - h));
    const char *colon = strchr(h, ':');
    const char *host = colon ? apr_pstrmemdup(pool, h, (apr_size_t)(colon - h)) : h;
    int dots = 0, digits_only = 1;
    for (const char *q = host; *q; q++) {
        dots += *q == '.';
        digits_only &= (*q == '.' || mg_ascii_isdigit((unsigned char)*q));
    }
    if (digits_only || dots < 2)
        return host;
    const char *last = strrchr(host, '.'), *q = last - 1;
    while (q > host && *q != '.')
        q--;
    return q + 1;
}

void mg_lcheck_corp(mg_lctx_t *c, const mg_ynode_t *at, const char *corp, const mg_hotlink_t *h)
{
    const apr_array_header_t *o = h ? h->allowed_origins : NULL;
    if (corp == NULL || o == NULL || o->nelts == 0 || strcmp(corp, "cross-origin") == 0)
        return;
    const char *first = APR_ARRAY_IDX(o, 0, const char *);
    if (strcmp(corp, "same-site") == 0) {
        /* mgctl cannot know this server's own host: warn only when the
         * partners are on different sites from each other */
        const char *s0, *sc0, *si, *sci;
        s0 = pattern_site(c->tmp, first, &sc0);
        for (int i = 1; i < o->nelts; i++) {
            const char *pi = APR_ARRAY_IDX(o, i, const char *);
            si = pattern_site(c->tmp, pi, &sci);
            if (strcmp(si, s0) != 0 || (sc0 && sci && strcmp(sc0, sci) != 0)) {
                mg_diag_t *d = mg_lwarn(
                    c, at, "corp-blocks-partners",
                    "corp: same-site makes browsers refuse embeds from partners on another site "
                    "than this server, and '%s' and '%s' cannot both be on its site: the server "
                    "answers 200 and the page shows nothing",
                    first, pi);
                d->hint = "remove corp: a profile with allowed_origins then sends cross-origin";
                return;
            }
        }
        return;
    }
    mg_diag_t *d = mg_lwarn(c, at, "corp-blocks-partners",
                            "corp: %s makes browsers refuse every embed from another origin, so "
                            "the allowed origins ('%s'%s) are blocked by the browser: the server "
                            "answers 200 and the page shows nothing",
                            corp, first, o->nelts > 1 ? ", ..." : "");
    d->hint = "remove corp: a profile with allowed_origins then sends cross-origin";
}

int mg_load_hotlink(mg_lctx_t *c, const mg_ynode_t *n, mg_hotlink_t *h)
{
    static const char *const names[] = {
        "allowed_origins", "same_origin", "fetch_metadata", "empty_referer", "corp",
        "navigation",      NULL};
    static const char *const empty_values[] = {"allow", "deny", NULL};
    static const char *const nav_values[] = {"check", "allow", NULL};
    mg_ynode_t *v[6];
    int before = c->diags->errors;
    h->allowed_origins = apr_array_make(c->pool, 2, sizeof(const char *));
    h->same_origin = 1;
    h->fetch_metadata = 1;
    h->empty_referer = MG_EMPTY_REF_ALLOW;
    h->navigation = MG_NAV_CHECK;
    h->corp = NULL;
    h->corp_set = 0;
    h->pos.line = n->line;
    h->pos.col = n->col;
    if (mg_lmap(c, n, "a hotlink profile", names, v, NULL) != 0)
        return -1;
    apr_array_header_t *items;
    if (v[0] && (items = mg_llist(c, v[0], "allowed_origins", 0)) != NULL) {
        for (int i = 0; i < items->nelts; i++) {
            const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
            const char *o = origin_pattern(c->pool, it->str);
            if (!o) {
                mg_diag_t *d = mg_lerr(c, it, "bad-origin",
                                       "'%s' is not an origin pattern (scheme://host[:port], "
                                       "host names may start with '*.')",
                                       it->str);
                size_t len = strlen(it->str);
                if (len > 1 && it->str[len - 1] == '/')
                    d->hint = apr_psprintf(c->diags->pool, "write '%.*s' without the path",
                                           (int)(len - 1), it->str);
                continue;
            }
            *(const char **)apr_array_push(h->allowed_origins) = o;
        }
    }
    if (v[1])
        mg_lbool(c, v[1], "same_origin", &h->same_origin);
    if (v[2])
        mg_lbool(c, v[2], "fetch_metadata", &h->fetch_metadata);
    if (v[3]) {
        int e = mg_lenum(c, v[3], "empty_referer", empty_values);
        if (e >= 0)
            h->empty_referer = e == 0 ? MG_EMPTY_REF_ALLOW : MG_EMPTY_REF_DENY;
    }
    if (v[5]) {
        int e = mg_lenum(c, v[5], "navigation", nav_values);
        if (e >= 0)
            h->navigation = e == 1 ? MG_NAV_ALLOW : MG_NAV_CHECK;
    }
    if (v[4]) {
        int e = mg_lenum(c, v[4], "corp", corp_values);
        if (e >= 0) {
            h->corp = corp_values[e];
            h->corp_set = 1;
            mg_lcheck_corp(c, v[4], h->corp, h);
        }
    }
    /* The browser's half of the profile: partners may embed (cross-origin),
     * nobody else may (same-origin). Navigations are not subject to it. */
    if (h->corp == NULL)
        h->corp = h->allowed_origins->nelts > 0 ? "cross-origin" : "same-origin";
    return c->diags->errors == before ? 0 : -1;
}

void mg_load_hotlinks(mg_lctx_t *c, const mg_ynode_t *n)
{
    if (n->kind != MG_Y_MAP) {
        mg_lerr(c, n, "wrong-type", "expected a mapping of profile names for 'hotlink', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    for (int i = 0; i < n->n; i++) {
        const mg_ynode_t *k = n->pairs[i].key;
        mg_hotlink_t h;
        memset(&h, 0, sizeof(h));
        if (!mg_lname_ok(k->str)) {
            mg_lerr(c, k, "bad-value",
                    "hotlink profile name '%s' must be 1-64 letters, digits, '.', '_' or '-'",
                    k->str);
            continue;
        }
        if (mg_load_hotlink(c, n->pairs[i].value, &h) != 0)
            continue;
        h.name = apr_pstrdup(c->pool, k->str);
        h.pos.line = k->line;
        h.pos.col = k->col;
        apr_hash_set(c->hotlinks, HKEY(h.name), IDX(c->p->hotlinks->nelts));
        *(mg_hotlink_t *)apr_array_push(c->p->hotlinks) = h;
    }
}

/* ------------------------------------------------------------ transforms */

static int tr_key_ok(const char *s)
{
    if (!*s || strlen(s) > 32)
        return 0;
    for (; *s; s++)
        if (!(mg_ascii_islower((unsigned char)*s) || mg_ascii_isdigit((unsigned char)*s)))
            return 0;
    return 1;
}

static int load_constraint(mg_lctx_t *c, const mg_ynode_t *k, const mg_ynode_t *n,
                           mg_tr_constraint_t *out)
{
    static const char *const names[] = {"min", "max", "values", NULL};
    mg_ynode_t *v[3];
    int before = c->diags->errors;
    memset(out, 0, sizeof(*out));
    out->param = apr_pstrdup(c->pool, k->str);
    out->pos.line = k->line;
    out->pos.col = k->col;
    if (!tr_key_ok(k->str))
        mg_lerr(c, k, "bad-value",
                "transformation parameter '%s' must be lower-case letters and digits", k->str);
    if (mg_ynode_is_null(n))
        return c->diags->errors == before ? 0 : -1; /* `w:` alone: any value */
    if (mg_lmap(c, n, apr_psprintf(c->tmp, "parameter '%s'", k->str), names, v, NULL) != 0)
        return -1;
    if (v[0] && mg_lint(c, v[0], "min", &out->min) == 0)
        out->has_min = 1;
    if (v[1] && mg_lint(c, v[1], "max", &out->max) == 0)
        out->has_max = 1;
    if (out->has_min && out->has_max && out->min > out->max)
        mg_lerr(c, v[1], "reversed-range", "max %ld of parameter '%s' is below its min %ld",
                out->max, k->str, out->min);
    apr_array_header_t *items;
    if (v[2] && (items = mg_llist(c, v[2], "values", 0)) != NULL) {
        out->values = apr_array_make(c->pool, items->nelts, sizeof(const char *));
        for (int i = 0; i < items->nelts; i++) {
            const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
            if (!*it->str || strpbrk(it->str, ",:") || !mg_lprintable(it->str)) {
                mg_lerr(c, it, "bad-value",
                        "value '%s' cannot appear in a transformation (empty, ',' or ':')",
                        it->str);
                continue;
            }
            *(const char **)apr_array_push(out->values) = apr_pstrdup(c->pool, it->str);
        }
    }
    return c->diags->errors == before ? 0 : -1;
}

void mg_load_transform(mg_lctx_t *c, const mg_ynode_t *k, const mg_ynode_t *n)
{
    static const char *const names[] = {"forms", "params", "sets", "require", NULL};
    static const char *const forms[] = {"path", "query", NULL};
    mg_ynode_t *v[4];
    int before = c->diags->errors;
    mg_transform_policy_t t;
    apr_array_header_t *items;
    memset(&t, 0, sizeof(t));
    t.name = apr_pstrdup(c->pool, k->str);
    t.forms = MG_TR_FORM_PATH | MG_TR_FORM_QUERY;
    t.params = apr_array_make(c->pool, 4, sizeof(mg_tr_constraint_t));
    t.sets = apr_array_make(c->pool, 1, sizeof(const char *));
    t.require = apr_array_make(c->pool, 1, sizeof(const char *));
    t.pos.line = k->line;
    t.pos.col = k->col;
    if (!mg_lname_ok(k->str) || strcmp(k->str, "none") == 0)
        mg_lerr(c, k, "bad-value",
                "transforms profile name '%s' must be 1-64 letters, digits, '.', '_' or '-' and "
                "not 'none'",
                k->str);
    if (mg_lmap(c, n, apr_psprintf(c->tmp, "transforms profile '%s'", k->str), names, v, NULL) != 0)
        return;
    if (v[0] && (items = mg_llist(c, v[0], "forms", 0)) != NULL) {
        t.forms = 0;
        for (int i = 0; i < items->nelts; i++) {
            int f = mg_lenum(c, APR_ARRAY_IDX(items, i, const mg_ynode_t *), "forms", forms);
            if (f >= 0)
                t.forms |= f == 0 ? MG_TR_FORM_PATH : MG_TR_FORM_QUERY;
        }
        if (items->nelts == 0)
            mg_lerr(c, v[0], "bad-value", "forms must list path, query or both");
    }
    if (v[1]) {
        if (v[1]->kind != MG_Y_MAP) {
            mg_lerr(c, v[1], "wrong-type", "expected a mapping of parameters for 'params', got %s",
                    mg_ynode_describe(c->tmp, v[1]));
        } else {
            for (int i = 0; i < v[1]->n; i++) {
                mg_tr_constraint_t tc;
                if (load_constraint(c, v[1]->pairs[i].key, v[1]->pairs[i].value, &tc) == 0)
                    *(mg_tr_constraint_t *)apr_array_push(t.params) = tc;
            }
        }
    }
    if (v[2] && (items = mg_llist(c, v[2], "sets", 0)) != NULL) {
        for (int i = 0; i < items->nelts; i++) {
            const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
            mg_tr_t tr;
            const char *why = NULL;
            if (mg_transform_parse(c->tmp, it->str, &tr, &why) != 0 || tr.nsteps == 0) {
                mg_lerr(c, it, "bad-transform", "bad transformation '%s': %s", it->str,
                        why ? why : "empty");
                continue;
            }
            *(const char **)apr_array_push(t.sets) = mg_transform_normalize(c->pool, &tr);
        }
    }
    if (v[3] && (items = mg_llist(c, v[3], "require", 0)) != NULL) {
        for (int i = 0; i < items->nelts; i++) {
            const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
            mg_tr_t tr;
            const char *why = NULL;
            if (mg_transform_parse(c->tmp, it->str, &tr, &why) != 0 || tr.nsteps == 0) {
                mg_lerr(c, it, "bad-transform",
                        "require entry '%s' is not key-value parameters such as oi-logo.png: %s",
                        it->str, why ? why : "empty");
                continue;
            }
            *(const char **)apr_array_push(t.require) = mg_transform_normalize(c->pool, &tr);
            /* a required parameter that `params` refuses makes every URL fail */
            for (int s = 0; s < tr.nsteps && t.params->nelts && t.sets->nelts == 0; s++) {
                for (int q = 0; q < tr.steps[s].nparams; q++) {
                    const char *key = tr.steps[s].params[q].key;
                    int listed = 0;
                    for (int j = 0; j < t.params->nelts && !listed; j++)
                        listed = !strcmp(APR_ARRAY_IDX(t.params, j, mg_tr_constraint_t).param, key);
                    if (!listed)
                        mg_lwarn(c, it, "unsatisfiable",
                                 "required parameter '%s' is not listed in params, so no "
                                 "transformation can pass",
                                 key);
                }
            }
        }
    }
    t.allow_none = t.require->nelts == 0;
    if (c->diags->errors != before)
        return;
    apr_hash_set(c->transforms, HKEY(t.name), IDX(c->p->transforms->nelts));
    *(mg_transform_policy_t *)apr_array_push(c->p->transforms) = t;
}
