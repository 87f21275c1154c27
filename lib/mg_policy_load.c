/* mg_policy_load.c — policy YAML → struct mg_policy: the entry points
 * (mg_policy_load_file/_buffer) and every policy-level section except
 * `rules` (mg_rules_load.c). Every problem of a file is reported with its
 * position; nothing is compiled unless the whole file is valid.
 * docs/policy.md is the reference for every key handled here. */
#include <ctype.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>
#include <openssl/evp.h>

#include "mg_keys.h"
#include "mg_load.h"
#include "mg_time.h"
#include "mg_transform.h"

#define HKEY(s) (s), APR_HASH_KEY_STRING
#define IDX(i) ((void *)(intptr_t)((i) + 1))

static int printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* HTTP header / cookie / variable names: RFC 7230 token characters. */
static int token_ok(const char *s)
{
    if (!*s || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

/* ------------------------------------------------------------ scalars */

static void load_version(mg_lctx_t *c, const mg_ynode_t *root, const mg_ynode_t *v)
{
    long ver;
    if (!v) {
        mg_lerr(c, root, "missing-key", "the policy has no 'version' (write 'version: 1')");
        return;
    }
    if (v->kind == MG_Y_SCALAR && v->plain && strcmp(v->str, "1") == 0) {
        c->p->version = 1;
        return;
    }
    if (mg_lint(c, v, "version", &ver) == 0)
        mg_lerr(c, v, "bad-version", "unsupported policy version %ld: this release reads version 1",
                ver);
}

static void load_name(mg_lctx_t *c, const mg_ynode_t *v)
{
    const char *s = mg_lstr(c, v, "name");
    if (!s)
        return;
    if (!mg_lname_ok(s)) {
        mg_lerr(c, v, "bad-value", "policy name '%s' must be 1-64 letters, digits, '.', '_' or '-'",
                s);
        return;
    }
    c->p->name = s;
}

static void load_timezone(mg_lctx_t *c, const mg_ynode_t *v, const mg_tz_t **tz,
                          const char **tz_name)
{
    const char *s = mg_lstr(c, v, "timezone");
    const char *why = NULL;
    if (!s)
        return;
    if (mg_tz_load(c->pool, s, tz, &why) != 0) {
        mg_lerr(c, v, "unknown-timezone", "%s",
                why ? why : apr_psprintf(c->tmp, "unknown time zone '%s'", s));
        return;
    }
    *tz_name = s;
}

static int login_url_ok(const char *u)
{
    const char *rest;
    if (!printable(u) || strchr(u, ' ') || strchr(u, '\\'))
        return 0;
    if (u[0] == '/')
        return u[1] != '/'; /* "//host" is another site */
    if (strncasecmp(u, "https://", 8) == 0)
        rest = u + 8;
    else if (strncasecmp(u, "http://", 7) == 0)
        rest = u + 7;
    else
        return 0;
    return *rest && !strchr("/?#:@", *rest);
}

static void load_login(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {"url", "return_param", NULL};
    mg_ynode_t *v[2];
    const char *s;
    if (mg_lmap(c, n, "login", names, v, NULL) != 0)
        return;
    if (!v[0]) {
        mg_lerr(c, n, "missing-key", "login needs 'url'");
    } else if ((s = mg_lstr(c, v[0], "url")) != NULL) {
        if (login_url_ok(s))
            c->p->login_url = s;
        else
            mg_lerr(c, v[0], "bad-login-url",
                    "login.url '%s' must be an absolute http(s) URL or a local path starting "
                    "with a single '/'",
                    s);
    }
    if (v[1] && (s = mg_lstr(c, v[1], "return_param")) != NULL) {
        if (token_ok(s))
            c->p->login_return_param = s;
        else
            mg_lerr(c, v[1], "bad-value", "login.return_param '%s' is not a valid parameter name",
                    s);
    }
}

static void load_cidr_list(mg_lctx_t *c, const mg_ynode_t *n, const char *key,
                           apr_array_header_t *out)
{
    apr_array_header_t *items = mg_llist(c, n, key, 0);
    if (!items)
        return;
    for (int i = 0; i < items->nelts; i++) {
        mg_cidr_t cidr;
        if (mg_lcidr(c, APR_ARRAY_IDX(items, i, const mg_ynode_t *), &cidr) == 0)
            *(mg_cidr_t *)apr_array_push(out) = cidr;
    }
}

/* ------------------------------------------------------------ roles, identity */

static void load_roles(mg_lctx_t *c, const mg_ynode_t *n)
{
    apr_array_header_t *items = mg_llist(c, n, "roles", 0);
    if (!items)
        return;
    for (int i = 0; i < items->nelts; i++) {
        const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
        const char *s = it->str;
        if (strcmp(s, "anonymous") == 0 || strcmp(s, "authenticated") == 0) {
            mg_lerr(c, it, "bad-value",
                    "'%s' is a reserved access name and cannot be declared as a role", s);
            continue;
        }
        if (!printable(s) || strpbrk(s, " \t,") || strlen(s) > 128) {
            mg_lerr(c, it, "bad-value",
                    "role name '%s' must not contain spaces, commas or control characters", s);
            continue;
        }
        if (apr_hash_get(c->roles, HKEY(s))) {
            mg_lerr(c, it, "duplicate-name", "role '%s' is declared twice", s);
            continue;
        }
        if (c->p->roles->nelts >= MG_MAX_ROLES) {
            mg_lerr(c, it, "too-many-roles", "a policy may declare at most %d roles", MG_MAX_ROLES);
            return;
        }
        const char *name = apr_pstrdup(c->pool, s);
        apr_hash_set(c->roles, HKEY(name), IDX(c->p->roles->nelts));
        *(const char **)apr_array_push(c->p->roles) = name;
    }
}

static const char *const source_kinds[] = {"users", "env", "note", "header", NULL};

/* {env: X} / {note: X} / {header: X}, plus separator/prefix for roles. */
static int load_source(mg_lctx_t *c, const mg_ynode_t *n, int with_split, mg_role_source_t *out)
{
    static const char *const names[] = {"env", "note", "header", "separator", "prefix", NULL};
    static const char *const names_nosplit[] = {"env", "note", "header", NULL};
    const char *where = with_split ? "a roles_from entry" : "country.from";
    mg_ynode_t *v[5], *k[5];
    int found = -1, bad = 0;
    if (mg_lmap(c, n, where, with_split ? names : names_nosplit, v, k) != 0)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (!v[i])
            continue;
        if (found >= 0) {
            mg_lerr(c, k[i], "bad-value", "%s names exactly one of env, note or header", where);
            bad = 1;
            continue;
        }
        found = i;
    }
    if (found < 0) {
        mg_lerr(c, n, "missing-key", "%s needs one of env, note or header", where);
        return -1;
    }
    out->kind = (mg_src_kind_t)(MG_SRC_ENV + found);
    out->name = mg_lstr(c, v[found], source_kinds[found + 1]);
    out->pos.line = n->line;
    out->pos.col = n->col;
    if (!out->name)
        return -1;
    if (!token_ok(out->name)) {
        mg_lerr(c, v[found], "bad-value", "'%s' is not a valid %s name", out->name,
                source_kinds[found + 1]);
        bad = 1;
    }
    if (with_split) {
        out->separator = ",";
        if (v[3]) {
            const char *s = mg_lstr(c, v[3], "separator");
            if (s && !*s) {
                mg_lerr(c, v[3], "bad-value", "separator must not be empty");
                bad = 1;
            } else if (s) {
                out->separator = s;
            } else {
                bad = 1;
            }
        }
        if (v[4] && !(out->prefix = mg_lstr(c, v[4], "prefix")))
            bad = 1;
    }
    if (out->kind == MG_SRC_HEADER && c->p->trusted_proxies->nelts == 0)
        mg_lwarn(c, v[found], "untrusted-header",
                 "header '%s' is honoured only from trusted_proxies, and none are listed",
                 out->name);
    return bad ? -1 : 0;
}

static void load_roles_from(mg_lctx_t *c, const mg_ynode_t *n)
{
    if (n->kind != MG_Y_SEQ) {
        mg_lerr(c, n, "wrong-type", "expected a list for 'roles_from', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    for (int i = 0; i < n->n; i++) {
        const mg_ynode_t *it = n->items[i];
        mg_role_source_t src;
        memset(&src, 0, sizeof(src));
        if (it->kind == MG_Y_SCALAR) {
            static const char *const only_users[] = {"users", NULL};
            if (mg_lenum(c, it, "roles_from", only_users) == 0) {
                src.kind = MG_SRC_USERS;
                src.pos.line = it->line;
                src.pos.col = it->col;
                *(mg_role_source_t *)apr_array_push(c->p->role_sources) = src;
            }
            continue;
        }
        if (load_source(c, it, 1, &src) == 0)
            *(mg_role_source_t *)apr_array_push(c->p->role_sources) = src;
    }
}

static int role_set(mg_lctx_t *c, const mg_ynode_t *n, const char *key, mg_roleset_t *out)
{
    apr_array_header_t *items = mg_llist(c, n, key, 0);
    int bad = 0;
    *out = 0;
    if (!items)
        return -1;
    for (int i = 0; i < items->nelts; i++) {
        int r = mg_llookup(c, c->roles, APR_ARRAY_IDX(items, i, const mg_ynode_t *),
                           "undefined-role", "role");
        if (r < 0)
            bad = 1;
        else
            *out |= (mg_roleset_t)1 << r;
    }
    return bad ? -1 : 0;
}

static void load_identity(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {"users", "roles_from", "authenticated_role", NULL};
    mg_ynode_t *v[3];
    if (mg_lmap(c, n, "identity", names, v, NULL) != 0)
        return;
    if (v[0]) {
        if (v[0]->kind != MG_Y_MAP) {
            mg_lerr(c, v[0], "wrong-type", "expected a mapping of user names for 'users', got %s",
                    mg_ynode_describe(c->tmp, v[0]));
        } else {
            for (int i = 0; i < v[0]->n; i++) {
                const mg_ypair_t *pr = &v[0]->pairs[i];
                mg_user_roles_t ur;
                if (pr->key->len == 0 || !printable(pr->key->str)) {
                    mg_lerr(c, pr->key, "bad-value", "user name must be non-empty text");
                    continue;
                }
                if (role_set(c, pr->value, pr->key->str, &ur.roles) != 0)
                    continue;
                ur.user = apr_pstrmemdup(c->pool, pr->key->str, pr->key->len);
                *(mg_user_roles_t *)apr_array_push(c->p->users) = ur;
            }
        }
    }
    if (v[1])
        load_roles_from(c, v[1]);
    if (v[2] && v[2]->kind == MG_Y_SCALAR && !mg_ynode_is_null(v[2]))
        c->p->authenticated_role = mg_llookup(c, c->roles, v[2], "undefined-role", "role");
    else if (v[2])
        mg_lstr(c, v[2], "authenticated_role"); /* reports the type error */
}

static void load_country(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {"from", NULL};
    mg_ynode_t *v[1];
    mg_role_source_t src;
    if (mg_lmap(c, n, "country", names, v, NULL) != 0)
        return;
    if (!v[0]) {
        mg_lerr(c, n, "missing-key", "country needs 'from'");
        return;
    }
    memset(&src, 0, sizeof(src));
    if (load_source(c, v[0], 0, &src) == 0) {
        c->p->country_kind = src.kind;
        c->p->country_name = src.name;
    }
}

/* ------------------------------------------------------------ classes, ip sets */

static void load_classes(mg_lctx_t *c, const mg_ynode_t *n)
{
    if (n->kind != MG_Y_MAP) {
        mg_lerr(c, n, "wrong-type", "expected a mapping of class names for 'classes', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    for (int i = 0; i < n->n; i++) {
        const mg_ynode_t *k = n->pairs[i].key;
        if (mg_class_builtin_index(k->str) >= 0) {
            mg_lerr(c, k, "builtin-class", "'%s' is a built-in class and cannot be redefined",
                    k->str);
            continue;
        }
        if (!mg_lname_ok(k->str)) {
            mg_lerr(c, k, "bad-value",
                    "class name '%s' must be 1-64 letters, digits, '.', '_' or '-'", k->str);
            continue;
        }
        if (c->p->classes->nelts >= MG_MAX_CLASSES) {
            mg_lerr(c, k, "too-many-classes",
                    "a policy may have at most %d classes, the %d built-ins included",
                    MG_MAX_CLASSES, MG_N_BUILTIN_CLASSES);
            return;
        }
        apr_array_header_t *items = mg_llist(c, n->pairs[i].value, k->str, 0);
        if (!items)
            continue;
        if (items->nelts == 0) {
            mg_lerr(c, n->pairs[i].value, "bad-value", "class '%s' needs at least one extension",
                    k->str);
            continue;
        }
        mg_class_t cl;
        memset(&cl, 0, sizeof(cl));
        cl.name = apr_pstrdup(c->pool, k->str);
        cl.exts = apr_array_make(c->pool, items->nelts, sizeof(const char *));
        cl.pos.line = k->line;
        cl.pos.col = k->col;
        int bad = 0;
        for (int j = 0; j < items->nelts; j++) {
            const mg_ynode_t *e = APR_ARRAY_IDX(items, j, const mg_ynode_t *);
            const char *s = e->str;
            int ok = *s && strlen(s) <= 16;
            for (const char *q = s; ok && *q; q++)
                ok = islower((unsigned char)*q) || isdigit((unsigned char)*q);
            if (!ok) {
                mg_diag_t *d = mg_lerr(c, e, "bad-extension",
                                       "extension '%s' must be lower-case letters and digits "
                                       "only, without the dot",
                                       s);
                const char *fix = apr_pstrdup(c->tmp, s[0] == '.' ? s + 1 : s);
                for (char *q = (char *)fix; *q; q++)
                    *q = (char)tolower((unsigned char)*q);
                if (strcmp(fix, s) != 0 && *fix)
                    d->hint = apr_psprintf(c->diags->pool, "write '%s'", fix);
                bad = 1;
                continue;
            }
            *(const char **)apr_array_push(cl.exts) = apr_pstrdup(c->pool, s);
        }
        if (bad)
            continue;
        apr_hash_set(c->classes, HKEY(cl.name), IDX(c->p->classes->nelts));
        *(mg_class_t *)apr_array_push(c->p->classes) = cl;
    }
}

static void load_ipsets(mg_lctx_t *c, const mg_ynode_t *n)
{
    if (n->kind != MG_Y_MAP) {
        mg_lerr(c, n, "wrong-type", "expected a mapping of set names for 'ip_sets', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    for (int i = 0; i < n->n; i++) {
        const mg_ynode_t *k = n->pairs[i].key;
        int before = c->diags->errors;
        if (!mg_lname_ok(k->str)) {
            mg_lerr(c, k, "bad-value",
                    "ip set name '%s' must be 1-64 letters, digits, '.', '_' or '-'", k->str);
            continue;
        }
        mg_ipset_t set;
        set.name = apr_pstrdup(c->pool, k->str);
        set.cidrs = apr_array_make(c->pool, 4, sizeof(mg_cidr_t));
        set.pos.line = k->line;
        set.pos.col = k->col;
        load_cidr_list(c, n->pairs[i].value, k->str, set.cidrs);
        if (c->diags->errors != before)
            continue;
        apr_hash_set(c->ipsets, HKEY(set.name), IDX(c->p->ipsets->nelts));
        *(mg_ipset_t *)apr_array_push(c->p->ipsets) = set;
    }
}

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
        low[i] = (char)tolower((unsigned char)s[i]);
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

static void load_timewin(mg_lctx_t *c, const mg_ynode_t *k, const mg_ynode_t *n)
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
        load_timezone(c, v[0], &w.tz, &w.tz_name);
    apr_array_header_t *items;
    if (v[1] && (items = mg_llist(c, v[1], "days", 0)) != NULL) {
        w.days = 0;
        for (int i = 0; i < items->nelts; i++) {
            const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
            int d = parse_wday(it->str);
            if (d < 0) {
                mg_diag_t *dg = mg_lerr(c, it, "unknown-weekday",
                                        "unknown weekday '%s' (use mon, tue, wed, thu, fri, sat, "
                                        "sun)",
                                        it->str);
                mg_lhint(c, dg, apr_pstrndup(c->tmp, it->str, 3), wday3);
                continue;
            }
            w.days |= 1u << d;
        }
        if (items->nelts == 0)
            mg_lerr(c, v[1], "bad-value", "days must list at least one weekday");
    }
    if (v[2] && (items = mg_llist(c, v[2], "hours", 0)) != NULL) {
        for (int i = 0; i < items->nelts; i++) {
            mg_hours_t h;
            if (parse_hours(c, APR_ARRAY_IDX(items, i, const mg_ynode_t *), &h) == 0)
                *(mg_hours_t *)apr_array_push(w.hours) = h;
        }
    }
    if (v[3] && (items = mg_llist(c, v[3], "dates", 0)) != NULL) {
        for (int i = 0; i < items->nelts; i++) {
            mg_daterange_t d;
            if (parse_daterange(c, APR_ARRAY_IDX(items, i, const mg_ynode_t *), &d) == 0)
                *(mg_daterange_t *)apr_array_push(w.dates) = d;
        }
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
    if (strncasecmp(s, "https://", 8) == 0)
        h = s + 8;
    else if (strncasecmp(s, "http://", 7) == 0)
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
        while (*end && (isalnum((unsigned char)*end) || *end == '-' || *end == '.'))
            end++;
        if (end == h || *h == '.' || end[-1] == '.' || strstr(h, ".."))
            return NULL;
    }
    if (*end == ':') {
        const char *p = end + 1;
        long port = 0;
        while (isdigit((unsigned char)*p) && port <= 65535)
            port = port * 10 + (*p++ - '0');
        if (p == end + 1 || *p || port < 1 || port > 65535)
            return NULL;
    } else if (*end) {
        return NULL;
    }
    char *out = apr_pstrdup(pool, s);
    for (char *q = out; *q; q++)
        *q = (char)tolower((unsigned char)*q);
    return out;
}

int mg_load_hotlink(mg_lctx_t *c, const mg_ynode_t *n, mg_hotlink_t *h)
{
    static const char *const names[] = {"allowed_origins", "same_origin", "fetch_metadata",
                                        "empty_referer",   "corp",        NULL};
    static const char *const empty_values[] = {"allow", "deny", NULL};
    mg_ynode_t *v[5];
    int before = c->diags->errors;
    h->allowed_origins = apr_array_make(c->pool, 2, sizeof(const char *));
    h->same_origin = 1;
    h->fetch_metadata = 1;
    h->empty_referer = MG_EMPTY_REF_ALLOW;
    h->corp = NULL;
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
    if (v[4]) {
        int e = mg_lenum(c, v[4], "corp", corp_values);
        if (e >= 0)
            h->corp = corp_values[e];
    }
    return c->diags->errors == before ? 0 : -1;
}

static void load_hotlinks(mg_lctx_t *c, const mg_ynode_t *n)
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
        if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s)))
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
            if (!*it->str || strpbrk(it->str, ",:") || !printable(it->str)) {
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

static void load_transform(mg_lctx_t *c, const mg_ynode_t *k, const mg_ynode_t *n)
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

/* ------------------------------------------------------------ keys, tokens */

static void load_keys(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {"id", "alg", "file", "sign", NULL};
    static const char *const algs[] = {"hmac-sha256", "hmac-sha1", "ed25519", NULL};
    apr_hash_t *ids = apr_hash_make(c->tmp);
    const mg_ynode_t *signer = NULL;
    if (n->kind != MG_Y_SEQ) {
        mg_lerr(c, n, "wrong-type", "expected a list of keys for 'keys', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    for (int i = 0; i < n->n; i++) {
        mg_ynode_t *v[4];
        const mg_ynode_t *it = n->items[i];
        int before = c->diags->errors;
        mg_keyref_t kr;
        memset(&kr, 0, sizeof(kr));
        kr.alg = algs[0];
        kr.pos.line = it->line;
        kr.pos.col = it->col;
        if (mg_lmap(c, it, "a key", names, v, NULL) != 0)
            continue;
        if (!v[0]) {
            mg_lerr(c, it, "missing-key", "a key needs an 'id'");
        } else if ((kr.id = mg_lstr(c, v[0], "id")) != NULL) {
            const mg_ynode_t *first = apr_hash_get(ids, HKEY(kr.id));
            if (!mg_lname_ok(kr.id) || kr.id[0] == '.')
                mg_lerr(c, v[0], "bad-value",
                        "key id '%s' must be 1-64 letters, digits, '.', '_' or '-', not starting "
                        "with '.'",
                        kr.id);
            else if (first)
                mg_lerr(c, v[0], "duplicate-id", "key id '%s' is already used at line %d", kr.id,
                        first->line);
            else
                apr_hash_set(ids, HKEY(kr.id), v[0]);
        }
        if (v[1]) {
            int a = mg_lenum(c, v[1], "alg", algs);
            if (a >= 0)
                kr.alg = algs[a];
        }
        if (!v[2]) {
            mg_lerr(c, it, "missing-key", "a key needs a 'file'");
        } else {
            const char *f = mg_lstr(c, v[2], "file");
            if (f &&
                apr_filepath_merge((char **)&kr.file, c->base_dir, f, 0, c->pool) != APR_SUCCESS)
                mg_lerr(c, v[2], "bad-value", "key file path '%s' cannot be resolved", f);
        }
        if (v[3] && mg_lbool(c, v[3], "sign", &kr.sign) == 0 && kr.sign) {
            if (signer)
                mg_lerr(c, v[3], "multiple-signing-keys",
                        "only one key may have 'sign: true' (the key at line %d already has it)",
                        signer->line);
            else
                signer = it;
        }
        if (c->diags->errors == before)
            *(mg_keyref_t *)apr_array_push(c->p->keys) = kr;
    }
    c->have_keys = n->n > 0;
}

static void load_tokens(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {"grace", "clock_skew", "cookie", "max_ttl", NULL};
    mg_ynode_t *v[4];
    mg_token_settings_t *t = &c->p->tokens;
    if (mg_lmap(c, n, "tokens", names, v, NULL) != 0)
        return;
    if (v[0])
        mg_lduration(c, v[0], "grace", &t->grace);
    if (v[1])
        mg_lduration(c, v[1], "clock_skew", &t->skew);
    if (v[2]) {
        const char *s = mg_lstr(c, v[2], "cookie");
        if (s && token_ok(s))
            t->cookie_name = s;
        else if (s)
            mg_lerr(c, v[2], "bad-value", "'%s' is not a valid cookie name", s);
    }
    if (v[3])
        mg_lduration(c, v[3], "max_ttl", &t->max_ttl);
}

/* ------------------------------------------------------------ the whole file */

enum {
    K_VERSION,
    K_NAME,
    K_DEFAULT,
    K_TIMEZONE,
    K_DOWNLOAD_PARAM,
    K_LOGIN,
    K_TRUSTED_PROXIES,
    K_ROLES,
    K_IDENTITY,
    K_COUNTRY,
    K_CLASSES,
    K_IP_SETS,
    K_TIME_WINDOWS,
    K_HOTLINK,
    K_TRANSFORMS,
    K_KEYS,
    K_TOKENS,
    K_RULES,
    K__COUNT
};
static const char *const top_names[K__COUNT + 1] = {"version",
                                                    "name",
                                                    "default",
                                                    "timezone",
                                                    "download_param",
                                                    "login",
                                                    "trusted_proxies",
                                                    "roles",
                                                    "identity",
                                                    "country",
                                                    "classes",
                                                    "ip_sets",
                                                    "time_windows",
                                                    "hotlink",
                                                    "transforms",
                                                    "keys",
                                                    "tokens",
                                                    "rules",
                                                    NULL};

static void defaults(mg_lctx_t *c)
{
    mg_policy_t *p = c->p;
    apr_pool_t *pool = c->pool;
    p->version = 0;
    p->deflt = MG_DEFAULT_DENY;
    p->tz = mg_tz_utc();
    p->tz_name = "UTC";
    p->download_param = "download";
    p->login_return_param = "return_to";
    p->trusted_proxies = apr_array_make(pool, 2, sizeof(mg_cidr_t));
    p->roles = apr_array_make(pool, 8, sizeof(const char *));
    p->role_sources = apr_array_make(pool, 2, sizeof(mg_role_source_t));
    p->users = apr_array_make(pool, 8, sizeof(mg_user_roles_t));
    p->authenticated_role = -1;
    p->classes = apr_array_make(pool, 8, sizeof(mg_class_t));
    p->ipsets = apr_array_make(pool, 2, sizeof(mg_ipset_t));
    p->timewins = apr_array_make(pool, 2, sizeof(mg_timewin_t));
    p->hotlinks = apr_array_make(pool, 2, sizeof(mg_hotlink_t));
    p->transforms = apr_array_make(pool, 2, sizeof(mg_transform_policy_t));
    p->keys = apr_array_make(pool, 2, sizeof(mg_keyref_t));
    p->tokens.grace = 0;
    p->tokens.skew = apr_time_from_sec(30);
    p->tokens.cookie_name = "mg_token";
    p->tokens.max_ttl = 0;
    p->rules = apr_array_make(pool, 16, sizeof(mg_rule_t));
    mg_classes_add_builtin(pool, p->classes);
    for (int i = 0; i < MG_N_BUILTIN_CLASSES; i++)
        apr_hash_set(c->classes, HKEY(APR_ARRAY_IDX(p->classes, i, mg_class_t).name), IDX(i));
}

static void load_root(mg_lctx_t *c, const mg_ynode_t *root)
{
    static const char *const deflt_values[] = {"deny", "allow", NULL};
    mg_ynode_t *v[K__COUNT];
    if (mg_lmap(c, root, "the policy", top_names, v, NULL) != 0)
        return;
    /* Fixed order, not file order: a section may refer to names that an
     * earlier section defines (roles before identity and rules, ...). */
    load_version(c, root, v[K_VERSION]);
    if (v[K_NAME])
        load_name(c, v[K_NAME]);
    if (v[K_DEFAULT]) {
        int d = mg_lenum(c, v[K_DEFAULT], "default", deflt_values);
        if (d >= 0)
            c->p->deflt = d == 0 ? MG_DEFAULT_DENY : MG_DEFAULT_ALLOW;
    }
    if (v[K_TIMEZONE])
        load_timezone(c, v[K_TIMEZONE], &c->p->tz, &c->p->tz_name);
    if (v[K_DOWNLOAD_PARAM]) {
        const char *s = mg_lstr(c, v[K_DOWNLOAD_PARAM], "download_param");
        if (s && token_ok(s))
            c->p->download_param = s;
        else if (s)
            mg_lerr(c, v[K_DOWNLOAD_PARAM], "bad-value",
                    "download_param '%s' is not a valid parameter name", s);
    }
    if (v[K_LOGIN])
        load_login(c, v[K_LOGIN]);
    if (v[K_TRUSTED_PROXIES])
        load_cidr_list(c, v[K_TRUSTED_PROXIES], "trusted_proxies", c->p->trusted_proxies);
    if (v[K_ROLES])
        load_roles(c, v[K_ROLES]);
    if (v[K_IDENTITY])
        load_identity(c, v[K_IDENTITY]);
    if (c->p->role_sources->nelts == 0) {
        mg_role_source_t *s = apr_array_push(c->p->role_sources);
        memset(s, 0, sizeof(*s));
        s->kind = MG_SRC_USERS;
    }
    if (v[K_COUNTRY])
        load_country(c, v[K_COUNTRY]);
    if (v[K_CLASSES])
        load_classes(c, v[K_CLASSES]);
    if (v[K_IP_SETS])
        load_ipsets(c, v[K_IP_SETS]);
    if (v[K_TIME_WINDOWS]) {
        const mg_ynode_t *tw = v[K_TIME_WINDOWS];
        if (tw->kind != MG_Y_MAP)
            mg_lerr(c, tw, "wrong-type",
                    "expected a mapping of window names for 'time_windows', got %s",
                    mg_ynode_describe(c->tmp, tw));
        else
            for (int i = 0; i < tw->n; i++)
                load_timewin(c, tw->pairs[i].key, tw->pairs[i].value);
    }
    if (v[K_HOTLINK])
        load_hotlinks(c, v[K_HOTLINK]);
    if (v[K_TRANSFORMS]) {
        const mg_ynode_t *tr = v[K_TRANSFORMS];
        if (tr->kind != MG_Y_MAP)
            mg_lerr(c, tr, "wrong-type",
                    "expected a mapping of profile names for 'transforms', got %s",
                    mg_ynode_describe(c->tmp, tr));
        else
            for (int i = 0; i < tr->n; i++)
                load_transform(c, tr->pairs[i].key, tr->pairs[i].value);
    }
    if (v[K_KEYS])
        load_keys(c, v[K_KEYS]);
    if (v[K_TOKENS])
        load_tokens(c, v[K_TOKENS]);
    if (!v[K_RULES])
        mg_lerr(c, root, "missing-key", "the policy has no 'rules'");
    else
        mg_load_rules(c, v[K_RULES]);
}

static const char *sha256_hex(apr_pool_t *pool, const char *s)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL))
        return NULL;
    char *hex = apr_palloc(pool, mdlen * 2 + 1);
    for (unsigned int i = 0; i < mdlen; i++) {
        hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
        hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
    }
    hex[mdlen * 2] = 0;
    return hex;
}

/* "dir/photo-site.yaml" -> "photo-site" */
static const char *default_name(apr_pool_t *pool, const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
        n -= 5;
    else if (n > 4 && strcmp(base + n - 4, ".yml") == 0)
        n -= 4;
    const char *name = apr_pstrmemdup(pool, base, n);
    /* the name must itself be a valid `name:` for the canonical form to load */
    return mg_lname_ok(name) ? name : "policy";
}

mg_status_t mg_policy_load_buffer(apr_pool_t *pool, const char *name, const char *base_dir,
                                  const char *buf, size_t len, mg_policy_t **out, mg_diags_t *diags)
{
    mg_lctx_t c;
    mg_ynode_t *root = NULL;
    int errors_before = diags->errors;
    mg_status_t st;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    if (apr_pool_create(&c.tmp, pool) != APR_SUCCESS)
        return MG_ENOMEM;
    c.pool = pool;
    c.file = name ? name : "<policy>";
    c.diags = diags;
    if (apr_filepath_merge((char **)&c.base_dir, NULL, base_dir ? base_dir : ".", 0, pool) !=
        APR_SUCCESS)
        c.base_dir = base_dir ? base_dir : ".";
    st = mg_yaml_parse(c.tmp, c.file, buf, len, &root, diags);
    if (st != MG_OK)
        goto done;
    if (!root) {
        mg_diag_add(diags, MG_SEV_ERROR, c.file, 0, 0, "file-empty",
                    "the policy is empty (it needs at least 'version: 1' and 'rules')");
        goto done;
    }
    c.p = apr_pcalloc(pool, sizeof(*c.p));
    c.p->pool = pool;
    c.p->file = apr_pstrdup(pool, c.file);
    c.p->name = default_name(pool, c.file);
    c.roles = apr_hash_make(c.tmp);
    c.classes = apr_hash_make(c.tmp);
    c.ipsets = apr_hash_make(c.tmp);
    c.timewins = apr_hash_make(c.tmp);
    c.hotlinks = apr_hash_make(c.tmp);
    c.transforms = apr_hash_make(c.tmp);
    defaults(&c);
    load_root(&c, root);
    if (diags->errors != errors_before)
        goto done;
    /* Only a valid file gets its key files read and its rules compiled:
     * their errors would be noise on top of the file's own. */
    if (c.p->keys->nelts > 0 && mg_keys_load(c.p, diags) != MG_OK && diags->errors == errors_before)
        mg_diag_add(diags, MG_SEV_ERROR, c.file, 0, 0, "key-error",
                    "key files could not be loaded");
    if (diags->errors != errors_before)
        goto done;
    if (mg_policy_compile(c.p, diags) != MG_OK && diags->errors == errors_before)
        mg_diag_add(diags, MG_SEV_ERROR, c.file, 0, 0, "internal-error",
                    "the policy could not be compiled");
    if (diags->errors != errors_before)
        goto done;
    const char *canon = mg_policy_emit(c.tmp, c.p);
    c.p->digest = canon ? sha256_hex(pool, canon) : NULL;
    if (!c.p->digest) {
        mg_diag_add(diags, MG_SEV_ERROR, c.file, 0, 0, "internal-error",
                    "the policy digest could not be computed");
        goto done;
    }
    *out = c.p;
done:
    apr_pool_destroy(c.tmp);
    if (*out)
        return MG_OK;
    return diags->errors != errors_before ? MG_EINVAL : (st != MG_OK ? st : MG_EINVAL);
}

mg_status_t mg_policy_load_file(apr_pool_t *pool, const char *path, mg_policy_t **out,
                                mg_diags_t *diags)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    char err[128];
    *out = NULL;
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, APR_OS_DEFAULT, pool);
    if (rv != APR_SUCCESS) {
        mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "io", "cannot open the policy: %s",
                    apr_strerror(rv, err, sizeof(err)));
        return MG_EIO;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f);
    if (rv == APR_SUCCESS && fi.filetype != APR_REG) {
        apr_file_close(f);
        mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "io", "the policy is not a regular file");
        return MG_EIO;
    }
    if (rv == APR_SUCCESS && fi.size > MG_YAML_MAX_SIZE) {
        apr_file_close(f);
        mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "file-too-large",
                    "the policy is larger than %d MiB", MG_YAML_MAX_SIZE / (1024 * 1024));
        return MG_EINVAL;
    }
    if (rv != APR_SUCCESS) {
        apr_file_close(f);
        mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "io", "cannot read the policy: %s",
                    apr_strerror(rv, err, sizeof(err)));
        return MG_EIO;
    }
    /* the raw text is not kept: the loader copies what the policy needs */
    apr_pool_t *rp;
    if (apr_pool_create(&rp, pool) != APR_SUCCESS) {
        apr_file_close(f);
        return MG_ENOMEM;
    }
    apr_size_t len = (apr_size_t)fi.size, got = 0;
    char *buf = apr_palloc(rp, len + 1);
    rv = len ? apr_file_read_full(f, buf, len, &got) : APR_SUCCESS;
    apr_file_close(f);
    if (rv != APR_SUCCESS || got != len) {
        mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "io", "cannot read the policy: %s",
                    apr_strerror(rv, err, sizeof(err)));
        apr_pool_destroy(rp);
        return MG_EIO;
    }
    buf[len] = 0;
    const char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash)
        dir = slash == path ? "/" : apr_pstrmemdup(rp, path, (apr_size_t)(slash - path));
    mg_status_t st = mg_policy_load_buffer(pool, path, dir, buf, len, out, diags);
    apr_pool_destroy(rp);
    return st;
}

const char *mg_policy_name(const mg_policy_t *policy)
{
    return policy ? policy->name : NULL;
}

const char *mg_policy_digest(const mg_policy_t *policy)
{
    return policy ? policy->digest : NULL;
}
