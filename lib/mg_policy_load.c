/* mg_policy_load.c — policy YAML → struct mg_policy: the entry points
 * (mg_policy_load_file/_buffer, mg_policy_read_file/_stream), the order
 * of sections, the policy-level settings, identity, classes, ip sets, keys
 * and tokens. Named profiles are
 * in mg_profiles_load.c, rules in mg_rules_load.c. Every problem of a file
 * is reported with its position; nothing is compiled unless the whole file
 * is valid. docs/policy.md is the reference for every key handled here. */
#include <string.h>

#include <apr_file_info.h>
#include <apr_file_io.h>
#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_canon.h"
#include "mg_dirs.h"
#include "mg_file.h"
#include "mg_fmt.h"
#include "mg_geo.h"
#include "mg_keys.h"
#include "mg_token.h"
#include "mg_load.h"
#include "mg_time.h"

#define HKEY(s) (s), APR_HASH_KEY_STRING
#define IDX(i) ((void *)(intptr_t)((i) + 1))

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

static int login_url_ok(const char *u)
{
    const char *rest;
    if (!mg_lprintable(u) || strchr(u, ' ') || strchr(u, '\\'))
        return 0;
    if (u[0] == '/')
        return u[1] != '/'; /* "//host" is another site */
    if (apr_cstr_casecmpn(u, "https://", 8) == 0)
        rest = u + 8;
    else if (apr_cstr_casecmpn(u, "http://", 7) == 0)
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
        if (mg_ltoken_ok(s))
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
        if (!mg_lprintable(s) || strpbrk(s, " \t,") || strlen(s) > 128) {
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
        const char *what = mg_lconfusable(c->tmp, s);
        if (what)
            mg_lwarn(c, it, "confusable",
                     "role name '%s' holds %s: a source must send exactly these bytes for the "
                     "role to be held",
                     s, what);
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
        mg_lerr(c, n, "missing-key", "%s needs one of env, note, header or %s", where,
                with_split ? "apache" : "mmdb");
        return -1;
    }
    out->kind = (mg_src_kind_t)(MG_SRC_ENV + found);
    out->name = mg_lstr(c, v[found], source_kinds[found + 1]);
    out->pos.line = n->line;
    out->pos.col = n->col;
    if (!out->name)
        return -1;
    if (!mg_ltoken_ok(out->name)) {
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

/* Longest `PROVIDER ARGS` text of an `apache:` entry: a Require line. */
#define MG_REQUIRE_MAX 1024

static int provider_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!mg_ascii_isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
            return 0;
    return 1;
}

/* roles_from: {apache: {ROLE: "PROVIDER ARGS", ...}} — each ROLE is held when
 * `Require PROVIDER ARGS` would pass. The text is split here the way
 * mod_authz_core splits a Require line (the first word names the provider,
 * the rest goes to it as written); whether the provider exists and accepts
 * the arguments only Apache can tell (mod_media_guard, at configuration
 * time). */
/* mod_auth_openidc before 2.4.13.2 (Debian 12 ships 2.4.12) compares
 * `Require claim NAME:VALUE` loosely: apr_strnatcmp skips white space, and a
 * claim (or list element) that is a number is compared with atoi(VALUE) —
 * 0 for any VALUE that is not a number, so the number 0 passes
 * `claim groups:media-admins`. Its `NAME~REGEX` form is exact when
 * anchored. A warning for each `:` word of a `claim` entry. */
static void warn_loose_claim(mg_lctx_t *c, const mg_ynode_t *at, const char *role, const char *args)
{
    const char *w = args;
    while (*w) {
        size_t n = strcspn(w, " \t");
        /* a quoted word ("groups:x", as httpd's ap_getword_conf reads it):
         * the claim and value inside the quotes */
        const char *q = w;
        size_t m = n;
        if (m >= 2 && (q[0] == '"' || q[0] == '\'') && q[m - 1] == q[0]) {
            q++;
            m -= 2;
        }
        size_t k = strcspn(q, ":~");
        if (m > 0 && k < m && q[k] == ':') {
            const char *value = apr_pstrmemdup(c->tmp, q + k + 1, m - k - 1);
            int plain = *value != '\0';
            for (const char *v = value; *v; v++)
                plain &= mg_ascii_isalnum((unsigned char)*v) || *v == '-' || *v == '_';
            mg_lwarn(c, at, "claim-loose-match",
                     "role %s: mod_auth_openidc before 2.4.13.2 (Debian 12: 2.4.12) passes "
                     "'Require claim %.*s' for a claim or element that is the number 0 and "
                     "ignores white space; write %s%.*s~(?s)^%s(?!.)%s for an exact match",
                     role, (int)m, q, plain ? "'claim \"" : "an anchored regular expression (",
                     (int)k, q, plain ? value : "...", plain ? "\"'" : ")");
        }
        w += n;
        while (*w == ' ' || *w == '\t')
            w++;
    }
}

static void load_apache_source(mg_lctx_t *c, const mg_ynode_t *it)
{
    static const char *const names[] = {"apache", NULL};
    mg_ynode_t *v[1];
    mg_role_source_t src;
    if (mg_lmap(c, it, "a roles_from entry", names, v, NULL) != 0)
        return;
    const mg_ynode_t *m = v[0];
    if (m->kind != MG_Y_MAP || m->n == 0) {
        mg_lerr(c, m, "wrong-type",
                "expected a mapping of role: \"PROVIDER ARGS\" for 'apache' (e.g. editors: "
                "\"group editors\"), got %s",
                mg_ynode_describe(c->tmp, m));
        return;
    }
    memset(&src, 0, sizeof(src));
    src.kind = MG_SRC_APACHE;
    src.pos.line = it->line;
    src.pos.col = it->col;
    src.grant_first = c->p->role_grants->nelts;
    for (int i = 0; i < m->n; i++) {
        const mg_ypair_t *pr = &m->pairs[i];
        int role = mg_llookup(c, c->roles, pr->key, "undefined-role", "role");
        const char *text = mg_lstr(c, pr->value, pr->key->str);
        if (role < 0 || text == NULL)
            continue;
        const char *a = text, *e;
        while (*a == ' ' || *a == '\t')
            a++;
        e = a + strcspn(a, " \t");
        size_t plen = (size_t)(e - a);
        if (strlen(text) > MG_REQUIRE_MAX || !mg_lprintable(text)) {
            mg_lerr(c, pr->value, "bad-value",
                    "'%s' must be a Require line of at most %d characters without control "
                    "characters",
                    pr->key->str, MG_REQUIRE_MAX);
            continue;
        }
        if (!provider_name_ok(a, plen)) {
            mg_lerr(c, pr->value, "bad-value",
                    "'%s' must start with an authorization provider name as written after "
                    "Require (group, ldap-group, dbd-group, ...), got '%s'",
                    pr->key->str, text);
            continue;
        }
        const char *prov = apr_pstrmemdup(c->pool, a, plen);
        if (strcmp(prov, "media-guard") == 0 || strcmp(prov, "not") == 0) {
            mg_lerr(c, pr->value, "bad-value",
                    strcmp(prov, "not") == 0
                        ? "'not' is Require syntax, not a provider: a role is held when a "
                          "provider passes"
                        : "a role cannot come from media-guard itself (it would ask itself)");
            continue;
        }
        while (*e == ' ' || *e == '\t')
            e++;
        size_t alen = strlen(e);
        while (alen > 0 && (e[alen - 1] == ' ' || e[alen - 1] == '\t'))
            alen--;
        mg_role_grant_t *g = apr_array_push(c->p->role_grants);
        g->role = role;
        g->provider = prov;
        g->args = apr_pstrmemdup(c->pool, e, alen);
        g->line = alen ? apr_pstrcat(c->pool, prov, " ", g->args, NULL) : prov;
        if (strcmp(prov, "claim") == 0)
            warn_loose_claim(c, pr->value, pr->key->str, g->args);
        g->pos.line = pr->value->line;
        g->pos.col = pr->value->col;
        if (role < MG_MAX_ROLES)
            c->p->grant_roles |= (mg_roleset_t)1 << role;
    }
    src.grant_count = c->p->role_grants->nelts - src.grant_first;
    if (src.grant_count > 0)
        *(mg_role_source_t *)apr_array_push(c->p->role_sources) = src;
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
        if (it->kind == MG_Y_MAP && mg_ynode_get(it, "apache") != NULL) {
            load_apache_source(c, it);
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
                if (pr->key->len == 0 || !mg_lprintable(pr->key->str)) {
                    mg_lerr(c, pr->key, "bad-value", "user name must be non-empty text");
                    continue;
                }
                const char *what = mg_lconfusable(c->tmp, pr->key->str);
                if (what)
                    mg_lwarn(c, pr->key, "confusable",
                             "user name '%s' holds %s: REMOTE_USER must be exactly these bytes "
                             "for the user to get these roles",
                             pr->key->str, what);
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

/* A country database older than this gets a warning (mmdb-stale): MaxMind
 * publishes twice a week, and GeoLite2's licence asks for updates within
 * 30 days. */
#define MG_MMDB_STALE_DAYS 30

/* country.from: {mmdb: FILE} — opened now, so that a missing or unreadable
 * database refuses the policy (apache2 -t, mgctl validate) rather than
 * every request. */
static void load_country_mmdb(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {"mmdb", NULL};
    mg_ynode_t *v[1];
    char *path = NULL;
    const char *why = NULL;
    if (mg_lmap(c, n, "country.from", names, v, NULL) != 0)
        return;
    const char *f = mg_lstr(c, v[0], "mmdb");
    if (f == NULL)
        return;
    if (*f == '\0' || !mg_lprintable(f) ||
        apr_filepath_merge(&path, c->base_dir, f, 0, c->pool) != APR_SUCCESS) {
        mg_lerr(c, v[0], "bad-value", "country database path '%s' cannot be resolved", f);
        return;
    }
    /* set even when the file fails: the rules do have a source, only a
     * broken one (no "no-country-source" warning on top of the error) */
    c->p->country_kind = MG_SRC_MMDB;
    c->p->country_name = path;
    if (mg_geo_open(c->pool, path, &c->p->geo, &why) != MG_OK) {
        mg_lerr(c, v[0], "bad-mmdb", "country.from.mmdb: %s", why);
        return;
    }
    mg_lrefuse_world_writable(c, v[0], "mmdb-file-permissions", "country database", path,
                              "decides which country a client is in");
    if (mg_geo_ip_version(c->p->geo) == 4)
        mg_lwarn(c, v[0], "mmdb-ipv4-only",
                 "country database '%s' is IPv4-only: every IPv6 client is of unknown "
                 "country (a country.deny list lets it through, country.allow refuses it)",
                 path);
    apr_int64_t built = mg_geo_built(c->p->geo), age = apr_time_sec(apr_time_now()) - built;
    if (built > 0 && age > MG_MMDB_STALE_DAYS * 86400)
        mg_lwarn(c, v[0], "mmdb-stale",
                 "country database '%s' was built %" APR_INT64_T_FMT
                 " days ago: countries change hands; update it (geoipupdate) and reload",
                 path, age / 86400);
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
    if (v[0]->kind == MG_Y_MAP && mg_ynode_get(v[0], "mmdb") != NULL) {
        load_country_mmdb(c, v[0]);
        return;
    }
    if (load_source(c, v[0], 0, &src) == 0) {
        c->p->country_kind = src.kind;
        c->p->country_name = src.name;
    }
}

/* A trusted_proxies entry of prefix length 0 (0.0.0.0/0, ::/0, and
 * ::ffff:0:0/96, which is 0.0.0.0/0) trusts every client: whatever header
 * the policy reads roles or the country from, a client sets for itself.
 * Refused where such a header is read, at the entry; so are entries that
 * hold every address of a family together (0.0.0.0/1 and 128.0.0.0/1),
 * at the list. */
static void refuse_trust_in_everyone(mg_lctx_t *c, const mg_ynode_t *list)
{
    const char *header = NULL, *what;
    int reported = 0; /* bit 0: IPv4, bit 1: IPv6 */
    for (int i = 0; i < c->p->role_sources->nelts && !header; i++) {
        const mg_role_source_t *s = &APR_ARRAY_IDX(c->p->role_sources, i, mg_role_source_t);
        if (s->kind == MG_SRC_HEADER)
            header = s->name;
    }
    if (!header && c->p->country_kind == MG_SRC_HEADER)
        header = c->p->country_name;
    if (!header || list == NULL || list->kind != MG_Y_SEQ)
        return;
    what = c->p->country_kind == MG_SRC_HEADER && strcmp(header, c->p->country_name) == 0
               ? "country"
               : "roles";
    for (int i = 0; i < list->n; i++) {
        const mg_ynode_t *it = list->items[i];
        mg_cidr_t cidr;
        const char *why = NULL;
        if (it->kind != MG_Y_SCALAR || mg_cidr_parse_pool(c->tmp, it->str, &cidr, &why) != 0 ||
            cidr.bits != 0)
            continue;
        mg_diag_t *d = mg_lerr(c, it, "trusted-everyone",
                               "trusted_proxies entry '%s' trusts every %s client, so any of "
                               "them can send header '%s' and choose its own %s",
                               it->str, cidr.net.family == 4 ? "IPv4" : "IPv6", header, what);
        d->hint = "list only your proxies' addresses, e.g. 10.0.0.5/32";
        reported |= cidr.net.family == 4 ? 1 : 2;
    }
    for (int fam = 4; fam <= 6; fam += 2) {
        const apr_array_header_t *t = c->p->trusted_proxies;
        if ((reported & (fam == 4 ? 1 : 2)) ||
            !mg_cidrs_cover_family(c->tmp, (const mg_cidr_t *)t->elts, t->nelts, fam))
            continue;
        mg_diag_t *d =
            mg_lerr(c, list, "trusted-everyone",
                    "trusted_proxies entries together hold every %s address, so any "
                    "%s client can send header '%s' and choose its own %s",
                    fam == 4 ? "IPv4" : "IPv6", fam == 4 ? "IPv4" : "IPv6", header, what);
        d->hint = "list only your proxies' addresses, e.g. 10.0.0.5/32";
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
                ok = mg_ascii_islower((unsigned char)*q) || mg_ascii_isdigit((unsigned char)*q);
            if (!ok) {
                mg_diag_t *d = mg_lerr(c, e, "bad-extension",
                                       "extension '%s' must be lower-case letters and digits "
                                       "only, without the dot",
                                       s);
                const char *fix = apr_pstrdup(c->tmp, s[0] == '.' ? s + 1 : s);
                for (char *q = (char *)fix; *q; q++)
                    *q = (char)mg_ascii_tolower((unsigned char)*q);
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

/* ------------------------------------------------------------ keys, tokens */

/* keys[].fingerprint: "sha256:" and 64 lower-case hex digits. */
static int fingerprint_ok(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64)
        return 0;
    for (s += 7; *s; s++)
        if (!mg_ascii_isdigit((unsigned char)*s) && !(*s >= 'a' && *s <= 'f'))
            return 0;
    return 1;
}

/* keys[].options: a mapping of scalars, the format's own settings (which
 * names a format takes and what they mean: lib/mg_fmt_<name>.c; checked
 * when the key is loaded). */
static void load_key_options(mg_lctx_t *c, const mg_ynode_t *n, mg_keyref_t *kr)
{
    if (n->kind != MG_Y_MAP) {
        mg_lerr(c, n, "wrong-type", "expected a mapping for 'options', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    if (kr->format == NULL) {
        mg_lerr(c, n, "bad-value", "'options' belong to keys of a foreign format ('format:')");
        return;
    }
    kr->options = apr_array_make(c->pool, n->n, sizeof(mg_fmt_opt_t));
    for (int i = 0; i < n->n; i++) {
        mg_fmt_opt_t o;
        o.name = apr_pstrdup(c->pool, n->pairs[i].key->str);
        o.value = mg_lstr(c, n->pairs[i].value, o.name);
        o.pos.line = n->pairs[i].key->line;
        o.pos.col = n->pairs[i].key->col;
        if (o.value != NULL)
            APR_ARRAY_PUSH(kr->options, mg_fmt_opt_t) = o;
    }
}

static void load_keys(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {"id",          "alg",    "file",    "sign", "revoked",
                                        "fingerprint", "format", "options", NULL};
    /* every algorithm some format defines; mg_keys_load() refuses one that
     * the key's own format does not (no algorithm confusion) */
    static const char *const algs[] = {"hmac-sha256", "hmac-sha1", "ed25519",    "md5",
                                       "hmac-md5",    "rsa-sha1",  "ecdsa-sha1", NULL};
    apr_hash_t *ids = apr_hash_make(c->tmp);
    const mg_ynode_t *signer = NULL;
    if (n->kind != MG_Y_SEQ) {
        mg_lerr(c, n, "wrong-type", "expected a list of keys for 'keys', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    for (int i = 0; i < n->n; i++) {
        mg_ynode_t *v[8];
        const mg_ynode_t *it = n->items[i];
        int before = c->diags->errors;
        mg_keyref_t kr;
        memset(&kr, 0, sizeof(kr));
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
        if (v[4] && mg_lbool(c, v[4], "revoked", &kr.revoked) == 0 && kr.revoked && kr.sign)
            mg_lerr(c, v[4], "bad-value",
                    "key '%s' is revoked and cannot be the signing key ('sign: true')",
                    kr.id ? kr.id : "?");
        if (v[5] && mg_lstr(c, v[5], "fingerprint") && !fingerprint_ok(v[5]->str))
            mg_lerr(c, v[5], "bad-value",
                    "key fingerprint '%s' must be 'sha256:' and 64 lower-case hex digits, as "
                    "mgctl compile writes it",
                    v[5]->str);
        if (v[6] && (kr.format = mg_lstr(c, v[6], "format")) != NULL &&
            strcmp(kr.format, MG_FMT_NATIVE) != 0 && mg_fmt_find(kr.format) == NULL)
            mg_lerr(c, v[6], "bad-value", "unknown key format '%s' (%s)", kr.format,
                    mg_fmt_names(c->tmp));
        if (kr.format != NULL && strcmp(kr.format, MG_FMT_NATIVE) == 0)
            kr.format = NULL; /* the default, written out or not */
        if (v[7])
            load_key_options(c, v[7], &kr);
        if (kr.alg == NULL && kr.format == NULL)
            kr.alg = algs[0];
        if (c->diags->errors == before) {
            *(mg_keyref_t *)apr_array_push(c->p->keys) = kr;
            APR_ARRAY_PUSH(c->key_pins, const mg_ynode_t *) = v[5];
        }
    }
    c->have_keys = n->n > 0;
}

/* tokens.revoked_ids: token ids (mg_id, docs/token-spec.md) refused with
 * token-revoked; a graceful reload makes a new list take effect. */
static void load_revoked_ids(mg_lctx_t *c, const mg_ynode_t *n, mg_token_settings_t *t)
{
    apr_array_header_t *items = mg_llist(c, n, "revoked_ids", 0);
    if (items == NULL)
        return;
    t->revoked_ids = apr_array_make(c->pool, items->nelts, sizeof(const char *));
    t->revoked_set = apr_hash_make(c->pool);
    for (int i = 0; i < items->nelts; i++) {
        const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
        const char *id = mg_lstr(c, it, "revoked_ids");
        if (id == NULL)
            continue;
        size_t len = strlen(id);
        if (!mg_token_id_valid(id)) {
            mg_lerr(c, it, "bad-value",
                    "revoked token id '%s' must be 1-32 base64url characters (A-Z a-z 0-9 - _), "
                    "as in mg_id",
                    id);
            continue;
        }
        if (apr_hash_get(t->revoked_set, id, (apr_ssize_t)len) != NULL)
            continue; /* listed twice: harmless */
        apr_hash_set(t->revoked_set, id, (apr_ssize_t)len, id);
        *(const char **)apr_array_push(t->revoked_ids) = id;
    }
}

/* tokens.revocation_file: read now (configtest reports a bad line) and
 * re-read by the module when it changes (mg_mod_once.c). */
static void load_revocation_file(mg_lctx_t *c, const mg_ynode_t *n, mg_token_settings_t *t)
{
    const char *f = mg_lstr(c, n, "revocation_file"), *why = NULL;
    char *path;
    if (f == NULL)
        return;
    if (apr_filepath_merge(&path, c->base_dir, f, 0, c->pool) != APR_SUCCESS) {
        mg_lerr(c, n, "bad-value", "revocation file path '%s' cannot be resolved", f);
        return;
    }
    if (t->revoked_set == NULL)
        t->revoked_set = apr_hash_make(c->pool);
    if (mg_token_revocations_load(c->pool, path, t->revoked_set, NULL, &why) != MG_OK) {
        mg_lerr(c, n, "revocation-file", "revocation file '%s': %s", path, why);
        return;
    }
    mg_lrefuse_world_writable(c, n, "revocation-file-permissions", "revocation file", path,
                              "can take a revoked link off the list");
    t->revocation_file = path;
}

/* The longest tokens.grace and tokens.clock_skew taken without a warning. */
#define MG_GRACE_LONG apr_time_from_sec(7 * 86400)
#define MG_SKEW_LONG apr_time_from_sec(3600)

static void load_tokens(mg_lctx_t *c, const mg_ynode_t *n)
{
    static const char *const names[] = {
        "grace",           "clock_skew",         "cookie", "max_ttl", "revoked_ids",
        "revocation_file", "revocation_refresh", NULL};
    mg_ynode_t *v[7];
    mg_token_settings_t *t = &c->p->tokens;
    if (mg_lmap(c, n, "tokens", names, v, NULL) != 0)
        return;
    /* Beyond these, expiry means little: a warning at the value, not a
     * refusal (docs/policy.md says why: a long window is the admin's
     * choice about their own links, not a hole for anyone else) */
    if (v[0] && mg_lduration(c, v[0], "grace", &t->grace) == 0 && t->grace > MG_GRACE_LONG)
        mg_lwarn(c, v[0], "long-token-window",
                 "tokens.grace of %s accepts every link for %s after it expired, so expiry means "
                 "little: grace is for links in flight (minutes, hours; at most 7d without this "
                 "warning); to keep links longer, sign them for longer",
                 v[0]->str, v[0]->str);
    if (v[1] && mg_lduration(c, v[1], "clock_skew", &t->skew) == 0 && t->skew > MG_SKEW_LONG)
        mg_lwarn(c, v[1], "long-token-window",
                 "tokens.clock_skew of %s accepts every link %s before its not-before and %s "
                 "after its expiry (on top of grace): clocks kept by NTP differ by far less than "
                 "a second (default 30s, at most 1h without this warning); fix the clock",
                 v[1]->str, v[1]->str, v[1]->str);
    if (v[2]) {
        const char *s = mg_lstr(c, v[2], "cookie");
        const char *why = NULL;
        if (s && !mg_ltoken_ok(s))
            mg_lerr(c, v[2], "bad-value", "'%s' is not a valid cookie name", s);
        else if (s && mg_cookie_reserved_check(s, c->p->download_param, &why) != 0)
            /* every request that carried it would be refused
             * (mg_request_prepare: an origin could read it as a query
             * parameter); download_param is loaded before tokens */
            mg_lerr(c, v[2], "bad-value",
                    "cookie name '%s' reads as 'tr' or the download parameter ('%s'), which a "
                    "request's cookie may not (docs/canonical-urls.md)",
                    s, c->p->download_param);
        else if (s)
            t->cookie_name = s;
    }
    if (v[3])
        mg_lduration(c, v[3], "max_ttl", &t->max_ttl);
    if (v[4])
        load_revoked_ids(c, v[4], t);
    if (v[6] && mg_lduration(c, v[6], "revocation_refresh", &t->revocation_refresh) == 0 &&
        t->revocation_refresh < apr_time_from_sec(1))
        mg_lerr(c, v[6], "bad-value", "revocation_refresh must be at least 1s");
    if (v[5])
        load_revocation_file(c, v[5], t);
}

/* ------------------------------------------------------------ key fingerprints */

/* The policy digest must change when a key's material changes (a key file
 * replaced in place changes every token decision), so the canonical form
 * carries a fingerprint of each key (mg_key_fingerprint,
 * mg_fmt_key_fingerprint). After mg_keys_load(): every key's fingerprint,
 * from the loaded key, checked against the one the policy pins
 * (`fingerprint:`, written by mgctl compile). */
static void fingerprint_keys(mg_lctx_t *c)
{
    for (int i = 0; i < c->p->keys->nelts; i++) {
        mg_keyref_t *kr = &APR_ARRAY_IDX(c->p->keys, i, mg_keyref_t);
        const mg_ynode_t *pin = APR_ARRAY_IDX(c->key_pins, i, const mg_ynode_t *);
        const char *why = NULL, *fp = NULL;
        if (kr->key != NULL)
            (void)mg_key_fingerprint(c->pool, kr->key, &fp, &why);
        else if (kr->fkey != NULL)
            fp = mg_fmt_key_fingerprint(c->pool, kr->fkey);
        if (fp == NULL) {
            mg_diag_add(c->diags, MG_SEV_ERROR, c->file, kr->pos.line, kr->pos.col, "key-file",
                        "key '%s': %s", kr->id, why ? why : "no key material");
            continue;
        }
        if (pin != NULL && strcmp(pin->str, fp) != 0) {
            mg_diag_t *d = mg_lerr(c, pin, "key-fingerprint",
                                   "key '%s': the key file '%s' holds another key than the policy "
                                   "pins (its fingerprint is %s)",
                                   kr->id, kr->file, fp);
            d->hint = "compile the policy again with the new key, or restore the old key file";
            continue;
        }
        kr->fingerprint = fp;
    }
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

/* What a policy file that says nothing else means: the loader starts from
 * these, and so does mg_policy_from_key. */
static void policy_defaults(apr_pool_t *pool, mg_policy_t *p)
{
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
    p->role_grants = apr_array_make(pool, 2, sizeof(mg_role_grant_t));
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
    p->tokens.revocation_refresh = apr_time_from_sec(10);
    p->rules = apr_array_make(pool, 16, sizeof(mg_rule_t));
    mg_classes_add_builtin(pool, p->classes);
}

static void defaults(mg_lctx_t *c)
{
    mg_policy_t *p = c->p;
    policy_defaults(c->pool, p);
    for (int i = 0; i < MG_N_BUILTIN_CLASSES; i++)
        apr_hash_set(c->classes, HKEY(APR_ARRAY_IDX(p->classes, i, mg_class_t).name), IDX(i));
}

mg_status_t mg_policy_from_key(apr_pool_t *pool, mg_key_t *key, const char *key_file,
                               apr_interval_time_t grace, apr_interval_time_t skew,
                               mg_policy_t **out)
{
    *out = NULL;
    if (pool == NULL || key == NULL)
        return MG_EINVAL;
    mg_policy_t *p = apr_pcalloc(pool, sizeof(*p));
    policy_defaults(pool, p);
    p->pool = pool;
    p->file = key_file;
    p->name = "command-line key";
    p->version = 1;
    if (grace >= 0)
        p->tokens.grace = grace;
    if (skew >= 0)
        p->tokens.skew = skew;
    mg_keyref_t *r = apr_array_push(p->keys);
    memset(r, 0, sizeof(*r));
    r->id = mg_key_id(key);
    r->alg = mg_alg_name(mg_key_alg(key));
    r->file = key_file;
    r->sign = mg_key_can_sign(key);
    r->key = key;
    *out = p;
    return MG_OK;
}

/* Every section but the rules, in the fixed order; v gets each top-level
 * value. 0, or -1 when the root is not a mapping (reported). */
static int load_sections(mg_lctx_t *c, const mg_ynode_t *root, mg_ynode_t **v)
{
    static const char *const deflt_values[] = {"deny", "allow", NULL};
    if (root != NULL && root->kind == MG_Y_SCALAR) {
        /* never quoted: mg_ynode_describe_root says why */
        mg_lerr(c, root, "wrong-type", "expected a mapping for the policy, got %s",
                mg_ynode_describe_root(c->tmp, root));
        return -1;
    }
    if (mg_lmap(c, root, "the policy", top_names, v, NULL) != 0)
        return -1;
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
        mg_ltimezone(c, v[K_TIMEZONE], &c->p->tz, &c->p->tz_name);
    if (v[K_DOWNLOAD_PARAM]) {
        const char *s = mg_lstr(c, v[K_DOWNLOAD_PARAM], "download_param");
        /* letters, digits, '_' and '-' only: every server stack reads
         * those as they are (docs/canonical-urls.md) */
        if (s && mg_query_reserved_name_ok(s) && apr_cstr_casecmp(s, "tr") != 0 &&
            apr_cstr_casecmpn(s, "mg_", 3) != 0)
            c->p->download_param = s;
        else if (s)
            mg_lerr(c, v[K_DOWNLOAD_PARAM], "bad-value",
                    "download_param '%s' is not a valid parameter name (letters, digits, '_' "
                    "and '-'; not 'tr' or mg_*)",
                    s);
    }
    if (v[K_LOGIN])
        load_login(c, v[K_LOGIN]);
    if (v[K_TRUSTED_PROXIES])
        load_cidr_list(c, v[K_TRUSTED_PROXIES], "trusted_proxies", c->p->trusted_proxies);
    if (v[K_ROLES]) {
        c->roles_failed = v[K_ROLES]->kind != MG_Y_SEQ;
        load_roles(c, v[K_ROLES]);
        mg_lmark_broken(c->roles, v[K_ROLES]);
    } else {
        /* `rols: [...]` was reported as an unknown key with "did you mean
         * 'roles'?": the roles it meant to declare are not undefined */
        for (int i = 0; i < root->n && !c->roles_failed; i++) {
            const char *s = mg_suggest(root->pairs[i].key->str, top_names);
            c->roles_failed = s != NULL && strcmp(s, "roles") == 0 &&
                              strcmp(root->pairs[i].key->str, "roles") != 0;
        }
    }
    if (v[K_IDENTITY])
        load_identity(c, v[K_IDENTITY]);
    if (c->p->role_sources->nelts == 0) {
        mg_role_source_t *s = apr_array_push(c->p->role_sources);
        memset(s, 0, sizeof(*s));
        s->kind = MG_SRC_USERS;
    }
    if (v[K_COUNTRY])
        load_country(c, v[K_COUNTRY]);
    refuse_trust_in_everyone(c, v[K_TRUSTED_PROXIES]);
    if (v[K_CLASSES]) {
        load_classes(c, v[K_CLASSES]);
        mg_lmark_broken(c->classes, v[K_CLASSES]);
    }
    if (v[K_IP_SETS]) {
        load_ipsets(c, v[K_IP_SETS]);
        mg_lmark_broken(c->ipsets, v[K_IP_SETS]);
    }
    if (v[K_TIME_WINDOWS]) {
        const mg_ynode_t *tw = v[K_TIME_WINDOWS];
        if (tw->kind != MG_Y_MAP)
            mg_lerr(c, tw, "wrong-type",
                    "expected a mapping of window names for 'time_windows', got %s",
                    mg_ynode_describe(c->tmp, tw));
        else
            for (int i = 0; i < tw->n; i++)
                mg_load_timewin(c, tw->pairs[i].key, tw->pairs[i].value);
        mg_lmark_broken(c->timewins, tw);
    }
    if (v[K_HOTLINK]) {
        mg_load_hotlinks(c, v[K_HOTLINK]);
        mg_lmark_broken(c->hotlinks, v[K_HOTLINK]);
    }
    if (v[K_TRANSFORMS]) {
        const mg_ynode_t *tr = v[K_TRANSFORMS];
        if (tr->kind != MG_Y_MAP)
            mg_lerr(c, tr, "wrong-type",
                    "expected a mapping of profile names for 'transforms', got %s",
                    mg_ynode_describe(c->tmp, tr));
        else
            for (int i = 0; i < tr->n; i++)
                mg_load_transform(c, tr->pairs[i].key, tr->pairs[i].value);
        mg_lmark_broken(c->transforms, tr);
    }
    if (v[K_KEYS])
        load_keys(c, v[K_KEYS]);
    if (v[K_TOKENS])
        load_tokens(c, v[K_TOKENS]);
    return 0;
}

static void load_root(mg_lctx_t *c, const mg_ynode_t *root)
{
    mg_ynode_t *v[K__COUNT];
    if (load_sections(c, root, v) != 0)
        return;
    if (!v[K_RULES])
        mg_lerr(c, root, "missing-key", "the policy has no 'rules'");
    else
        mg_load_rules(c, v[K_RULES]);
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

/* Streaming the rules (mg_yaml_parse_stream): when the parser reaches
 * the root's `rules:` list, every section before it is loaded, and then
 * each rule as soon as it is parsed, so that the YAML tree of a
 * 100,000-rule file never exists (it was most of the memory and time of
 * loading one). The diagnostics go to a list of their own until the whole
 * file has parsed: a YAML error anywhere reports only itself, as it does
 * without streaming. A section after `rules:` would have been loaded too
 * late, so such a file is loaded again the ordinary way. */
typedef struct rules_stream {
    mg_lctx_t *c;
    int began;
} rules_stream_t;

static int stream_begin(void *arg, const mg_ynode_t *root, const mg_ynode_t *list)
{
    rules_stream_t *rs = arg;
    mg_ynode_t *v[K__COUNT];
    (void)list;
    rs->began = 1;
    (void)load_sections(rs->c, root, v); /* root is a mapping here */
    return mg_load_rules_begin(rs->c, 1) == 0 ? 0 : -1;
}

static void stream_item(void *arg, const mg_ynode_t *item, int index)
{
    rules_stream_t *rs = arg;
    mg_load_rule(rs->c, item, index);
}

/* Append the diagnostics of `from` to `to`, in order. */
static void diags_append(mg_diags_t *to, const mg_diags_t *from)
{
    for (int i = 0; i < from->items->nelts; i++)
        *(mg_diag_t *)apr_array_push(to->items) = APR_ARRAY_IDX(from->items, i, mg_diag_t);
    to->errors += from->errors;
    to->warnings += from->warnings;
}

/* One load of the file into c->pool. With stream, the rules are streamed
 * when the file allows it; *again is set when it did not (a section after
 * `rules:`): nothing was reported, and c->pool holds a partial policy. */
static mg_status_t load_buffer(mg_lctx_t *c, const char *buf, size_t len, int stream, int *again)
{
    mg_diags_t *diags = c->diags;
    mg_ynode_t *root = NULL;
    int errors_before = diags->errors;
    rules_stream_t rs = {c, 0};
    mg_ystream_t ys = {"rules", stream_begin, stream_item, &rs};
    mg_status_t st;

    *again = 0;
    c->p = apr_pcalloc(c->pool, sizeof(*c->p));
    c->p->pool = c->pool;
    c->p->file = apr_pstrdup(c->pool, c->file);
    c->p->name = default_name(c->pool, c->file);
    c->p->base_dir = c->base_dir;
    c->key_pins = apr_array_make(c->tmp, 2, sizeof(const mg_ynode_t *));
    c->roles = apr_hash_make(c->tmp);
    c->classes = apr_hash_make(c->tmp);
    c->ipsets = apr_hash_make(c->tmp);
    c->timewins = apr_hash_make(c->tmp);
    c->hotlinks = apr_hash_make(c->tmp);
    c->transforms = apr_hash_make(c->tmp);
    defaults(c);
    /* the loader reports to its own list while the parse may still fail */
    mg_diags_t *own = stream ? mg_diags_make(diags->pool) : diags;
    c->diags = own;
    st = mg_yaml_parse_stream(c->tmp, c->file, buf, len, stream ? &ys : NULL, &root, diags);
    c->diags = diags;
    if (st != MG_OK || diags->errors != errors_before)
        return st != MG_OK ? st : MG_EINVAL;
    if (!root) {
        mg_diag_add(diags, MG_SEV_ERROR, c->file, 0, 0, "file-empty",
                    "the policy is empty (it needs at least 'version: 1' and 'rules')");
        return MG_EINVAL;
    }
    if (!rs.began) { /* nothing was loaded while parsing: `own` is empty */
        load_root(c, root);
        return MG_OK;
    }
    if (!root->pairs[root->n - 1].value->streamed) {
        *again = 1;
        return MG_EINVAL;
    }
    diags_append(diags, own);
    return MG_OK;
}

mg_status_t mg_policy_load_buffer(apr_pool_t *pool, const char *name, const char *base_dir,
                                  const char *buf, size_t len, mg_policy_t **out, mg_diags_t *diags)
{
    return mg_policy_load_buffer_ex(pool, name, base_dir, buf, len, 0, out, diags);
}

mg_status_t mg_policy_load_buffer_ex(apr_pool_t *pool, const char *name, const char *base_dir,
                                     const char *buf, size_t len, unsigned flags, mg_policy_t **out,
                                     mg_diags_t *diags)
{
    mg_lctx_t c;
    int errors_before = diags->errors, again = 0;
    mg_status_t st;
    apr_pool_t *ppool;

    *out = NULL;
    memset(&c, 0, sizeof(c));
    /* the policy lives in a pool of its own inside `pool`: a streamed load
     * that has to start again throws its first try away */
    if (apr_pool_create(&c.tmp, pool) != APR_SUCCESS ||
        apr_pool_create(&ppool, pool) != APR_SUCCESS)
        return MG_ENOMEM;
    c.pool = ppool;
    c.file = name ? name : "<policy>";
    c.diags = diags;
    if (apr_filepath_merge((char **)&c.base_dir, NULL, base_dir ? base_dir : ".", 0, pool) !=
        APR_SUCCESS)
        c.base_dir = base_dir ? base_dir : ".";
    st = load_buffer(&c, buf, len, !(flags & MG_LOAD_NO_STREAM), &again);
    if (again) {
        const char *file = c.file, *dir = c.base_dir;
        apr_pool_destroy(c.tmp);
        apr_pool_destroy(ppool);
        memset(&c, 0, sizeof(c));
        c.file = file;
        c.base_dir = dir;
        c.diags = diags;
        if (apr_pool_create(&c.tmp, pool) != APR_SUCCESS ||
            apr_pool_create(&ppool, pool) != APR_SUCCESS)
            return MG_ENOMEM;
        c.pool = ppool;
        st = load_buffer(&c, buf, len, 0, &again);
    }
    if (st != MG_OK || diags->errors != errors_before)
        goto done;
    /* Only a valid file gets its key files read and its rules compiled:
     * their errors would be noise on top of the file's own. */
    if (c.p->keys->nelts > 0 && mg_keys_load(c.p, diags) != MG_OK && diags->errors == errors_before)
        mg_diag_add(diags, MG_SEV_ERROR, c.file, 0, 0, "key-error",
                    "key files could not be loaded");
    if (diags->errors != errors_before)
        goto done;
    fingerprint_keys(&c);
    if (diags->errors != errors_before)
        goto done;
    if (mg_policy_compile(c.p, diags) != MG_OK && diags->errors == errors_before)
        mg_diag_add(diags, MG_SEV_ERROR, c.file, 0, 0, "internal-error",
                    "the policy could not be compiled");
    if (diags->errors != errors_before)
        goto done;
    c.p->digest = mg_policy_emit_digest(ppool, c.p);
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

/* The one wording of the size bound, for files and streams alike. */
static mg_status_t too_large(mg_diags_t *diags, const char *name)
{
    mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "file-too-large",
                "the policy is larger than %d MiB", MG_YAML_MAX_SIZE / (1024 * 1024));
    return MG_EINVAL;
}

mg_status_t mg_policy_read_file(apr_pool_t *pool, const char *path, char **buf, apr_size_t *len,
                                mg_diags_t *diags)
{
    mg_file_t f;
    char err[128];

    *buf = NULL;
    *len = 0;
    /* mg_file_read refuses a FIFO: open(2) on one blocks until a writer
     * comes, which would hang mgctl or httpd's configuration pass. */
    if (mg_file_read(pool, path, MG_YAML_MAX_SIZE, &f, NULL) != MG_OK) {
        switch (f.error) {
        case MG_FILE_TOO_LARGE:
            return too_large(diags, path);
        case MG_FILE_NOT_REGULAR:
            mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "io", "the policy is not a regular file");
            break;
        case MG_FILE_CANNOT_OPEN:
            mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "io", "cannot open the policy: %s",
                        apr_strerror(f.rv, err, sizeof(err)));
            break;
        default:
            mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "io", "cannot read the policy: %s",
                        apr_strerror(f.rv, err, sizeof(err)));
            break;
        }
        return MG_EIO;
    }
    /* whoever can write the policy decides who sees the media: anyone on
     * the machine is refused (group write is left alone: editors in a
     * deploy group are a usual setup) */
    int errors = diags->errors;
    if (f.protection & APR_FPROT_WWRITE)
        mg_diag_add(diags, MG_SEV_ERROR, path, 0, 0, "policy-file-permissions",
                    "the policy is writable by everyone: whoever can write it decides who sees the "
                    "media (chmod o-w it)");
    /* nor may everyone write a directory above it: a file renamed over
     * the policy replaces it whatever its own mode (mg_dirs.h) */
    mg_dirs_check(pool, path, "the policy", MG_DIRS_OTHERS, MG_SEV_ERROR, diags, path, 0, 0,
                  "policy-file-permissions");
    if (diags->errors != errors)
        return MG_EINVAL;
    *buf = f.data;
    *len = f.len;
    return MG_OK;
}

/* A stream is read in pieces of this size: the bound is checked after
 * each, so at most one piece more than the bound is ever held. */
#define MG_STREAM_CHUNK (64 * 1024)

typedef struct stream_piece {
    char *data;
    apr_size_t len;
} stream_piece_t;

mg_status_t mg_policy_read_stream(apr_pool_t *pool, apr_file_t *f, const char *name, char **buf,
                                  apr_size_t *len, mg_diags_t *diags)
{
    apr_pool_t *tmp;
    apr_size_t total = 0;
    mg_status_t st = MG_OK;
    char err[128];

    *buf = NULL;
    *len = 0;
    if (apr_pool_create(&tmp, pool) != APR_SUCCESS)
        return MG_ENOMEM;
    /* Pieces are joined once at the end: doubling one buffer would hold
     * up to twice the bound while copying. */
    apr_array_header_t *pieces = apr_array_make(tmp, 16, sizeof(stream_piece_t));
    for (;;) {
        stream_piece_t *pc = apr_array_push(pieces);
        pc->data = apr_palloc(tmp, MG_STREAM_CHUNK);
        apr_status_t rv = apr_file_read_full(f, pc->data, MG_STREAM_CHUNK, &pc->len);
        total += pc->len;
        if (total > MG_YAML_MAX_SIZE) {
            st = too_large(diags, name);
            break;
        }
        if (APR_STATUS_IS_EOF(rv))
            break;
        if (rv != APR_SUCCESS) {
            mg_diag_add(diags, MG_SEV_ERROR, name, 0, 0, "io", "cannot read the policy: %s",
                        apr_strerror(rv, err, sizeof(err)));
            st = MG_EIO;
            break;
        }
    }
    if (st == MG_OK) {
        char *b = apr_palloc(pool, total + 1), *o = b;
        for (int i = 0; i < pieces->nelts; i++) {
            const stream_piece_t *pc = &APR_ARRAY_IDX(pieces, i, stream_piece_t);
            memcpy(o, pc->data, pc->len);
            o += pc->len;
        }
        *o = '\0';
        *buf = b;
        *len = total;
    }
    apr_pool_destroy(tmp);
    return st;
}

mg_status_t mg_policy_load_file(apr_pool_t *pool, const char *path, mg_policy_t **out,
                                mg_diags_t *diags)
{
    apr_pool_t *rp;
    char *buf;
    apr_size_t len;

    *out = NULL;
    /* the raw text is not kept: the loader copies what the policy needs */
    if (apr_pool_create(&rp, pool) != APR_SUCCESS)
        return MG_ENOMEM;
    mg_status_t st = mg_policy_read_file(rp, path, &buf, &len, diags);
    if (st != MG_OK) {
        apr_pool_destroy(rp);
        return st;
    }
    const char *slash = strrchr(path, '/');
    const char *dir = ".";
    if (slash)
        dir = slash == path ? "/" : apr_pstrmemdup(rp, path, (apr_size_t)(slash - path));
    st = mg_policy_load_buffer(pool, path, dir, buf, len, out, diags);
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
