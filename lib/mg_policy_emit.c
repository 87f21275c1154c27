/* mg_policy_emit.c — the canonical text of a loaded policy (mgctl compile,
 * and the input of the policy digest).
 *
 * The output is itself a valid policy: every default is written out, keys
 * come in one fixed order (docs/policy.md's), names replace the loader's
 * pointers and indexes, strings are quoted by one rule, file paths inside
 * the policy's directory are relative to it, and each key carries the
 * fingerprint of its material. So loading the
 * output and emitting again gives the same bytes, and two files that mean
 * the same thing in the same order have the same digest.
 *
 * Written by hand rather than with libyaml's emitter: its output layout
 * (line breaks, flow/block choice, quoting) is not promised to stay the same
 * across versions, and the digest must.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <openssl/evp.h>

#include "mg_ascii.h"
#include "mg_fmt.h"
#include "mg_policy.h"

typedef struct sb {
    char *p;
    size_t len, cap;
    int failed;
    /* The digest's way: the text is hashed a buffer at a time instead of
     * kept (100,000 rules are ~10 MB of text the loader never reads). */
    EVP_MD_CTX *md;
} sb_t;

/* Digest mode: hash what is buffered and start the buffer again. */
static void sb_flush(sb_t *b)
{
    if (!b->failed && b->len && !EVP_DigestUpdate(b->md, b->p, b->len))
        b->failed = 1;
    b->len = 0;
}

static void sb_put(sb_t *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->md && b->len + n + 1 > b->cap) {
        sb_flush(b);
        if (n + 1 > b->cap) { /* longer than the buffer: straight to the digest */
            if (!b->failed && !EVP_DigestUpdate(b->md, s, n))
                b->failed = 1;
            return;
        }
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sb_s(sb_t *b, const char *s)
{
    sb_put(b, s, strlen(s));
}

static void sb_f(sb_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_f(sb_t *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        b->failed = 1;
    else
        sb_put(b, tmp, (size_t)n);
}

/* Plain when unambiguous in YAML and to our loader; double-quoted otherwise.
 * Called for every string of the policy, hence the table. */
static int plain_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || ch == '/' || ch == '-';
}

static int needs_quotes(const char *s)
{
    static const char *const special[] = {"true", "false", "yes", "no", "on",
                                          "off",  "null",  "y",   "n",  NULL};
    int digits_only = 1;
    size_t n = 0;
    if (!*s || *s == '.' || *s == '-')
        return 1;
    for (const unsigned char *q = (const unsigned char *)s; *q; q++, n++) {
        if (!plain_char(*q))
            return 1;
        if (!((*q >= '0' && *q <= '9') || *q == '.'))
            digits_only = 0;
    }
    if (digits_only)
        return 1;
    if (n > 5 || !strchr("tTfFyYnNoO", *s)) /* cannot be a special word */
        return 0;
    for (int i = 0; special[i]; i++)
        if (apr_cstr_casecmp(s, special[i]) == 0)
            return 1;
    return 0;
}

static void sb_str(sb_t *b, const char *s)
{
    if (!needs_quotes(s)) {
        sb_s(b, s);
        return;
    }
    sb_put(b, "\"", 1);
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q == '"' || *q == '\\') {
            char e[2] = {'\\', (char)*q};
            sb_put(b, e, 2);
        } else if (*q < 0x20 || *q == 0x7f) {
            sb_f(b, "\\x%02x", *q);
        } else {
            sb_put(b, (const char *)q, 1);
        }
    }
    sb_put(b, "\"", 1);
}

/* Flow list of strings: [a, "b c"] */
static void sb_strs(sb_t *b, const apr_array_header_t *a)
{
    sb_s(b, "[");
    for (int i = 0; a && i < a->nelts; i++) {
        if (i)
            sb_s(b, ", ");
        sb_str(b, APR_ARRAY_IDX(a, i, const char *));
    }
    sb_s(b, "]");
}

/* IPv4 by hand: a large policy has thousands of CIDRs and inet_ntop's
 * printf machinery was a tenth of the load time. IPv6 keeps mg_cidr_format
 * (its zero compression rules are not worth repeating here). */
static void sb_cidr(sb_t *b, const mg_cidr_t *c)
{
    char buf[80];
    if (c->net.family != 4) {
        sb_str(b, mg_cidr_format(c, buf, sizeof(buf)));
        return;
    }
    char *p = buf;
    for (int i = 0; i < 5; i++) {
        unsigned v = i < 4 ? c->net.addr[i] : c->bits;
        if (v >= 100)
            *p++ = (char)('0' + v / 100);
        if (v >= 10)
            *p++ = (char)('0' + v / 10 % 10);
        *p++ = (char)('0' + v % 10);
        *p++ = i < 3 ? '.' : '/';
    }
    sb_put(b, buf, (size_t)(p - buf - 1));
}

static void sb_cidrs(sb_t *b, const apr_array_header_t *a)
{
    sb_s(b, "[");
    for (int i = 0; a && i < a->nelts; i++) {
        if (i)
            sb_s(b, ", ");
        sb_cidr(b, &APR_ARRAY_IDX(a, i, mg_cidr_t));
    }
    sb_s(b, "]");
}

static void sb_bool(sb_t *b, int v)
{
    sb_s(b, v ? "true" : "false");
}

/* The largest unit that divides exactly, so "90m" stays "90m" and 86400s is "1d". */
static void sb_duration(sb_t *b, apr_interval_time_t us)
{
    apr_int64_t s = (apr_int64_t)(us / APR_USEC_PER_SEC);
    if (s == 0)
        sb_s(b, "\"0s\"");
    else if (s % 86400 == 0)
        sb_f(b, "\"%" APR_INT64_T_FMT "d\"", s / 86400);
    else if (s % 3600 == 0)
        sb_f(b, "\"%" APR_INT64_T_FMT "h\"", s / 3600);
    else if (s % 60 == 0)
        sb_f(b, "\"%" APR_INT64_T_FMT "m\"", s / 60);
    else
        sb_f(b, "\"%" APR_INT64_T_FMT "s\"", s);
}

static const char *src_kind(mg_src_kind_t k)
{
    switch (k) {
    case MG_SRC_ENV:
        return "env";
    case MG_SRC_NOTE:
        return "note";
    case MG_SRC_HEADER:
        return "header";
    case MG_SRC_APACHE:
        return "apache";
    case MG_SRC_MMDB:
        return "mmdb";
    default:
        return "users";
    }
}

static const char *role_name(const mg_policy_t *p, int r)
{
    if (r == MG_ROLE_ANONYMOUS)
        return "anonymous";
    if (r == MG_ROLE_AUTHENTICATED)
        return "authenticated";
    return APR_ARRAY_IDX(p->roles, r, const char *);
}

static void sb_roleset(sb_t *b, const mg_policy_t *p, mg_roleset_t set)
{
    int first = 1;
    sb_s(b, "[");
    for (int i = 0; i < p->roles->nelts; i++) {
        if (!(set & ((mg_roleset_t)1 << i)))
            continue;
        if (!first)
            sb_s(b, ", ");
        first = 0;
        sb_str(b, role_name(p, i));
    }
    sb_s(b, "]");
}

static void emit_identity(sb_t *b, const mg_policy_t *p)
{
    sb_s(b, "roles: ");
    sb_strs(b, p->roles);
    sb_s(b, "\nidentity:\n  users:");
    if (p->users->nelts == 0)
        sb_s(b, " {}");
    for (int i = 0; i < p->users->nelts; i++) {
        const mg_user_roles_t *u = &APR_ARRAY_IDX(p->users, i, mg_user_roles_t);
        sb_s(b, "\n    ");
        sb_str(b, u->user);
        sb_s(b, ": ");
        sb_roleset(b, p, u->roles);
    }
    sb_s(b, "\n  roles_from:");
    for (int i = 0; i < p->role_sources->nelts; i++) {
        const mg_role_source_t *s = &APR_ARRAY_IDX(p->role_sources, i, mg_role_source_t);
        sb_s(b, "\n    - ");
        if (s->kind == MG_SRC_USERS) {
            sb_s(b, "users");
            continue;
        }
        if (s->kind == MG_SRC_APACHE) {
            sb_s(b, "apache:");
            for (int j = s->grant_first; j < s->grant_first + s->grant_count; j++) {
                const mg_role_grant_t *g = &APR_ARRAY_IDX(p->role_grants, j, mg_role_grant_t);
                sb_s(b, "\n        ");
                sb_str(b, role_name(p, g->role));
                sb_s(b, ": ");
                sb_str(b, g->line);
            }
            continue;
        }
        sb_f(b, "%s: ", src_kind(s->kind));
        sb_str(b, s->name);
        sb_s(b, "\n      separator: ");
        sb_str(b, s->separator ? s->separator : ",");
        if (s->prefix) {
            sb_s(b, "\n      prefix: ");
            sb_str(b, s->prefix);
        }
    }
    if (p->authenticated_role >= 0) {
        sb_s(b, "\n  authenticated_role: ");
        sb_str(b, role_name(p, p->authenticated_role));
    }
    sb_s(b, "\n");
    if (p->country_kind) {
        sb_f(b, "country:\n  from: {%s: ", src_kind(p->country_kind));
        sb_str(b, p->country_name);
        sb_s(b, "}\n");
    }
}

static void emit_named_sets(sb_t *b, const mg_policy_t *p)
{
    int user_classes = 0;
    sb_s(b, "classes:");
    for (int i = 0; i < p->classes->nelts; i++) {
        const mg_class_t *c = &APR_ARRAY_IDX(p->classes, i, mg_class_t);
        if (c->builtin)
            continue;
        user_classes++;
        sb_s(b, "\n  ");
        sb_str(b, c->name);
        sb_s(b, ": ");
        sb_strs(b, c->exts);
    }
    sb_s(b, user_classes ? "\n" : " {}\n");

    sb_s(b, "ip_sets:");
    for (int i = 0; i < p->ipsets->nelts; i++) {
        const mg_ipset_t *s = &APR_ARRAY_IDX(p->ipsets, i, mg_ipset_t);
        sb_s(b, "\n  ");
        sb_str(b, s->name);
        sb_s(b, ": ");
        sb_cidrs(b, s->cidrs);
    }
    sb_s(b, p->ipsets->nelts ? "\n" : " {}\n");

    static const char *const wd[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
    sb_s(b, "time_windows:");
    for (int i = 0; i < p->timewins->nelts; i++) {
        const mg_timewin_t *w = &APR_ARRAY_IDX(p->timewins, i, mg_timewin_t);
        sb_s(b, "\n  ");
        sb_str(b, w->name);
        sb_s(b, ":\n    timezone: ");
        sb_str(b, w->tz_name);
        sb_s(b, "\n    days: [");
        int first = 1;
        for (int d = 1; d <= 7; d++) { /* Monday first, as people write weeks */
            if (!(w->days & (1u << (d % 7))))
                continue;
            sb_s(b, first ? "" : ", ");
            sb_s(b, wd[d % 7]);
            first = 0;
        }
        sb_s(b, "]");
        /* all day and any date are the keys left out: an empty list is
         * refused (it would read as "never" to a person) */
        if (w->hours->nelts)
            sb_s(b, "\n    hours: [");
        for (int j = 0; j < w->hours->nelts; j++) {
            const mg_hours_t *h = &APR_ARRAY_IDX(w->hours, j, mg_hours_t);
            sb_f(b, "%s\"%02d:%02d-%02d:%02d\"", j ? ", " : "", h->from_min / 60, h->from_min % 60,
                 h->to_min / 60, h->to_min % 60);
        }
        if (w->hours->nelts)
            sb_s(b, "]");
        if (w->dates->nelts)
            sb_s(b, "\n    dates: [");
        for (int j = 0; j < w->dates->nelts; j++) {
            const mg_daterange_t *d = &APR_ARRAY_IDX(w->dates, j, mg_daterange_t);
            sb_f(b, "%s\"%04d-%02d-%02d..%04d-%02d-%02d\"", j ? ", " : "", d->from_ymd / 10000,
                 d->from_ymd / 100 % 100, d->from_ymd % 100, d->to_ymd / 10000,
                 d->to_ymd / 100 % 100, d->to_ymd % 100);
        }
        if (w->dates->nelts)
            sb_s(b, "]");
    }
    sb_s(b, p->timewins->nelts ? "\n" : " {}\n");
}

/* Flow mapping, for a profile written inline in a rule. */
static void emit_hotlink_body(sb_t *b, const mg_hotlink_t *h)
{
    sb_s(b, "{allowed_origins: ");
    sb_strs(b, h->allowed_origins);
    sb_s(b, ", same_origin: ");
    sb_bool(b, h->same_origin);
    sb_s(b, ", fetch_metadata: ");
    sb_bool(b, h->fetch_metadata);
    sb_s(b, h->empty_referer == MG_EMPTY_REF_DENY ? ", empty_referer: deny"
                                                  : ", empty_referer: allow");
    sb_s(b, h->navigation == MG_NAV_ALLOW ? ", navigation: allow" : ", navigation: check");
    if (h->corp) {
        sb_s(b, ", corp: ");
        sb_str(b, h->corp);
    }
    sb_s(b, "}");
}

/* A file path as the canonical form writes it: relative to the policy's
 * directory when the file is inside it, so that the digest does not depend
 * on where the policy directory sits (a checkout in CI, /etc/apache2 on
 * the server); absolute otherwise. Loading the output from another
 * directory resolves a relative path there. */
static const char *policy_relative(const mg_policy_t *p, const char *path)
{
    size_t n = p->base_dir ? strlen(p->base_dir) : 0;
    if (n == 0 || path == NULL || path[0] != '/')
        return path;
    if (p->base_dir[n - 1] == '/') /* "/" itself */
        return strncmp(path, p->base_dir, n) == 0 && path[n] != '\0' ? path + n : path;
    if (strncmp(path, p->base_dir, n) == 0 && path[n] == '/' && path[n + 1] != '\0')
        return path + n + 1;
    return path;
}

static void emit_profiles(sb_t *b, const mg_policy_t *p)
{
    sb_s(b, "hotlink:");
    for (int i = 0; i < p->hotlinks->nelts; i++) {
        const mg_hotlink_t *h = &APR_ARRAY_IDX(p->hotlinks, i, mg_hotlink_t);
        sb_s(b, "\n  ");
        sb_str(b, h->name);
        sb_s(b, ":\n    allowed_origins: ");
        sb_strs(b, h->allowed_origins);
        sb_s(b, "\n    same_origin: ");
        sb_bool(b, h->same_origin);
        sb_s(b, "\n    fetch_metadata: ");
        sb_bool(b, h->fetch_metadata);
        sb_s(b, h->empty_referer == MG_EMPTY_REF_DENY ? "\n    empty_referer: deny"
                                                      : "\n    empty_referer: allow");
        sb_s(b,
             h->navigation == MG_NAV_ALLOW ? "\n    navigation: allow" : "\n    navigation: check");
        if (h->corp) {
            sb_s(b, "\n    corp: ");
            sb_str(b, h->corp);
        }
    }
    sb_s(b, p->hotlinks->nelts ? "\n" : " {}\n");

    sb_s(b, "transforms:");
    for (int i = 0; i < p->transforms->nelts; i++) {
        const mg_transform_policy_t *t = &APR_ARRAY_IDX(p->transforms, i, mg_transform_policy_t);
        sb_s(b, "\n  ");
        sb_str(b, t->name);
        sb_s(b, ":\n    forms: [");
        sb_s(b, (t->forms & MG_TR_FORM_PATH) ? "path" : "");
        sb_s(b, (t->forms & MG_TR_FORM_PATH) && (t->forms & MG_TR_FORM_QUERY) ? ", " : "");
        sb_s(b, (t->forms & MG_TR_FORM_QUERY) ? "query" : "");
        sb_s(b, "]\n    params:");
        for (int j = 0; j < t->params->nelts; j++) {
            const mg_tr_constraint_t *tc = &APR_ARRAY_IDX(t->params, j, mg_tr_constraint_t);
            const char *sep = "";
            sb_s(b, "\n      ");
            sb_str(b, tc->param);
            sb_s(b, ": {");
            if (tc->has_min) {
                sb_f(b, "min: %ld", tc->min);
                sep = ", ";
            }
            if (tc->has_max) {
                sb_f(b, "%smax: %ld", sep, tc->max);
                sep = ", ";
            }
            if (tc->values) {
                sb_f(b, "%svalues: ", sep);
                sb_strs(b, tc->values);
            }
            sb_s(b, "}");
        }
        sb_s(b, t->params->nelts ? "\n    sets: " : " {}\n    sets: ");
        sb_strs(b, t->sets);
        sb_s(b, "\n    require: ");
        sb_strs(b, t->require);
    }
    sb_s(b, p->transforms->nelts ? "\n" : " {}\n");

    sb_s(b, "keys:");
    for (int i = 0; i < p->keys->nelts; i++) {
        const mg_keyref_t *k = &APR_ARRAY_IDX(p->keys, i, mg_keyref_t);
        sb_s(b, "\n  - id: ");
        sb_str(b, k->id);
        sb_s(b, "\n    alg: ");
        sb_str(b, k->alg);
        sb_s(b, "\n    file: ");
        sb_str(b, policy_relative(p, k->file));
        sb_s(b, "\n    sign: ");
        sb_bool(b, k->sign);
        if (k->revoked) /* only when set: older compiled forms stay the same */
            sb_s(b, "\n    revoked: true");
        if (k->format) { /* foreign formats only: native keys emit as before */
            sb_s(b, "\n    format: ");
            sb_str(b, k->format);
            sb_s(b, "\n    options:");
            for (int j = 0; k->options && j < k->options->nelts; j++) {
                const mg_fmt_opt_t *o = &APR_ARRAY_IDX(k->options, j, mg_fmt_opt_t);
                sb_s(b, "\n      ");
                sb_str(b, o->name);
                sb_s(b, ": ");
                sb_str(b, o->value);
            }
            if (!k->options || k->options->nelts == 0)
                sb_s(b, " {}");
        }
        if (k->fingerprint) { /* the material: a new key changes the digest */
            sb_s(b, "\n    fingerprint: ");
            sb_str(b, k->fingerprint);
        }
    }
    sb_s(b, p->keys->nelts ? "\n" : " []\n");

    sb_s(b, "tokens:\n  grace: ");
    sb_duration(b, p->tokens.grace);
    sb_s(b, "\n  clock_skew: ");
    sb_duration(b, p->tokens.skew);
    sb_s(b, "\n  cookie: ");
    sb_str(b, p->tokens.cookie_name);
    sb_s(b, "\n  max_ttl: ");
    sb_duration(b, p->tokens.max_ttl);
    if (p->tokens.revoked_ids != NULL && p->tokens.revoked_ids->nelts > 0) {
        sb_s(b, "\n  revoked_ids: ");
        sb_strs(b, p->tokens.revoked_ids);
    }
    if (p->tokens.revocation_file != NULL) {
        sb_s(b, "\n  revocation_file: ");
        sb_str(b, policy_relative(p, p->tokens.revocation_file));
        sb_s(b, "\n  revocation_refresh: ");
        sb_duration(b, p->tokens.revocation_refresh);
    }
    sb_s(b, "\n");
}

static void emit_iplist(sb_t *b, const mg_ipset_t *s)
{
    if (s->name) {
        sb_s(b, "[");
        sb_str(b, s->name);
        sb_s(b, "]");
    } else {
        sb_cidrs(b, s->cidrs);
    }
}

static void emit_rule(sb_t *b, const mg_policy_t *p, const mg_rule_t *r)
{
    static const char *const methods[] = {"GET",    "HEAD",    "POST", "PUT",
                                          "DELETE", "OPTIONS", "PATCH"};
    static const char *const tokens[] = {"none", "required", "alternative"};
    static const char *const access[] = {"none", "view", "download"};

    sb_s(b, "  - id: ");
    sb_str(b, r->id);
    sb_s(b, "\n    path: [");
    for (int i = 0; i < r->paths->nelts; i++) {
        sb_s(b, i ? ", " : "");
        sb_str(b, APR_ARRAY_IDX(r->paths, i, mg_pathpat_t).text);
    }
    sb_s(b, "]\n");
    if (r->classes) {
        int first = 1;
        sb_s(b, "    classes: [");
        for (int i = 0; i < p->classes->nelts && i < MG_MAX_CLASSES; i++) {
            if (!(r->classes & ((mg_classset_t)1 << i)))
                continue;
            sb_s(b, first ? "" : ", ");
            sb_str(b, APR_ARRAY_IDX(p->classes, i, mg_class_t).name);
            first = 0;
        }
        sb_s(b, "]\n");
    }
    sb_s(b, "    methods: [");
    for (int i = 0, first = 1; i < 7; i++) {
        if (!(r->methods & (1u << i)))
            continue;
        sb_s(b, first ? "" : ", ");
        sb_s(b, methods[i]);
        first = 0;
    }
    sb_s(b, "]\n");
    if (r->ip_allow || r->ip_deny) {
        sb_s(b, "    ip: {");
        if (r->ip_allow) {
            sb_s(b, "allow: ");
            emit_iplist(b, r->ip_allow);
        }
        if (r->ip_deny) {
            sb_s(b, r->ip_allow ? ", deny: " : "deny: ");
            emit_iplist(b, r->ip_deny);
        }
        sb_s(b, "}\n");
    }
    if (r->country_allow || r->country_deny) {
        sb_s(b, "    country: {");
        if (r->country_allow) {
            sb_s(b, "allow: ");
            sb_strs(b, r->country_allow);
        }
        if (r->country_deny) {
            sb_s(b, r->country_allow ? ", deny: " : "deny: ");
            sb_strs(b, r->country_deny);
        }
        sb_s(b, "}\n");
    }
    if (r->time && r->time->nelts) {
        sb_s(b, "    time: [");
        for (int i = 0; i < r->time->nelts; i++) {
            sb_s(b, i ? ", " : "");
            sb_str(b, APR_ARRAY_IDX(r->time, i, const mg_timewin_t *)->name);
        }
        sb_s(b, "]\n");
    }
    if (r->hotlink) {
        sb_s(b, "    hotlink: ");
        if (r->hotlink->name)
            sb_str(b, r->hotlink->name);
        else
            emit_hotlink_body(b, r->hotlink);
        sb_s(b, "\n");
    }
    if (r->transforms_none) {
        sb_s(b, "    transforms: none\n");
    } else if (r->transforms) {
        sb_s(b, "    transforms: ");
        sb_str(b, r->transforms->name);
        sb_s(b, "\n");
    }
    sb_s(b, "    token: ");
    sb_s(b, tokens[r->token]);
    sb_s(b, "\n");
    if (r->token != MG_TOKEN_REQUIRED || (r->access && r->access->nelts)) {
        sb_s(b, "    access: {");
        for (int i = 0; r->access && i < r->access->nelts; i++) {
            const mg_role_access_t *ra = &APR_ARRAY_IDX(r->access, i, mg_role_access_t);
            sb_s(b, i ? ", " : "");
            sb_str(b, role_name(p, ra->role));
            sb_s(b, ": ");
            sb_s(b, access[ra->access]);
        }
        sb_s(b, "}\n");
    }
    /* the loader keeps status within 400-599: always three digits */
    char st[3] = {(char)('0' + r->deny.status / 100 % 10), (char)('0' + r->deny.status / 10 % 10),
                  (char)('0' + r->deny.status % 10)};
    sb_s(b, "    deny: {status: ");
    sb_put(b, st, 3);
    if (r->deny.message) {
        sb_s(b, ", message: ");
        sb_str(b, r->deny.message);
    }
    if (r->deny.page) {
        sb_s(b, ", page: ");
        sb_str(b, r->deny.page);
    }
    sb_s(b, "}\n    login: ");
    sb_bool(b, r->login);
    sb_s(b, "\n");
    if (r->corp) {
        sb_s(b, "    corp: ");
        sb_str(b, r->corp);
        sb_s(b, "\n");
    }
}

static void emit_policy(sb_t *b, const mg_policy_t *p)
{
    sb_s(b, "version: 1\nname: ");
    sb_str(b, p->name);
    sb_s(b, p->deflt == MG_DEFAULT_ALLOW ? "\ndefault: allow\ntimezone: "
                                         : "\ndefault: deny\ntimezone: ");
    sb_str(b, p->tz_name);
    sb_s(b, "\ndownload_param: ");
    sb_str(b, p->download_param);
    sb_s(b, "\n");
    if (p->login_url) {
        sb_s(b, "login:\n  url: ");
        sb_str(b, p->login_url);
        sb_s(b, "\n  return_param: ");
        sb_str(b, p->login_return_param);
        sb_s(b, "\n");
    }
    sb_s(b, "trusted_proxies: ");
    sb_cidrs(b, p->trusted_proxies);
    sb_s(b, "\n");
    emit_identity(b, p);
    emit_named_sets(b, p);
    emit_profiles(b, p);
    sb_s(b, "rules:");
    sb_s(b, p->rules->nelts ? "\n" : " []\n");
    for (int i = 0; i < p->rules->nelts; i++)
        emit_rule(b, p, &APR_ARRAY_IDX(p->rules, i, mg_rule_t));
}

const char *mg_policy_emit(apr_pool_t *pool, const mg_policy_t *p)
{
    sb_t b = {0};
    /* one allocation for typical policies instead of a dozen doublings */
    b.cap = 8192 + (size_t)p->rules->nelts * 320;
    b.p = malloc(b.cap);
    if (!b.p)
        return NULL;
    b.p[0] = 0;
    emit_policy(&b, p);
    const char *out = b.failed ? NULL : apr_pstrmemdup(pool, b.p ? b.p : "", b.len);
    free(b.p);
    return out;
}

/* The SHA-256 of exactly the bytes mg_policy_emit returns, without
 * holding them: the loader needs the digest of every policy, the text only
 * `mgctl compile` (and tests/policies.sh checks that the two agree). */
const char *mg_policy_emit_digest(apr_pool_t *pool, const mg_policy_t *p)
{
    static const char hexd[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    sb_t b = {0};
    b.cap = 64 * 1024;
    b.p = malloc(b.cap);
    b.md = EVP_MD_CTX_new();
    if (b.p == NULL || b.md == NULL) {
        free(b.p);
        EVP_MD_CTX_free(b.md);
        return NULL;
    }
    b.p[0] = 0;
    if (!EVP_DigestInit_ex2(b.md, EVP_sha256(), NULL))
        b.failed = 1;
    emit_policy(&b, p);
    sb_flush(&b);
    if (!b.failed && !EVP_DigestFinal_ex(b.md, md, &mdlen))
        b.failed = 1;
    EVP_MD_CTX_free(b.md);
    free(b.p);
    if (b.failed)
        return NULL;
    char *hex = apr_palloc(pool, mdlen * 2 + 1);
    for (unsigned int i = 0; i < mdlen; i++) {
        hex[2 * i] = hexd[md[i] >> 4];
        hex[2 * i + 1] = hexd[md[i] & 15];
    }
    hex[mdlen * 2] = 0;
    return hex;
}
