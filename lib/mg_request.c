/* mg_request.c — mg_request_prepare(): everything the evaluator needs that
 * can be derived from the request once — canonical path, query,
 * transformation, classes, method bit, addresses, roles, country, download
 * and navigation flags.
 *
 * Allocations are a handful of small objects from the request pool (the
 * derived struct and what canonicalisation returns); nothing here grows
 * with the policy: roles and users are O(1) lookups in the compiled policy.
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_canon.h"
#include "mg_fmt.h"
#include "mg_request.h"

/* ASCII only, locale-independent: header values are not text in a locale. */
static int ascii_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Case-insensitive substring test for a lower-case needle; Accept values
 * are short, so the naive scan is fine and avoids relying on the
 * non-standard strcasestr. The first byte is compared on its own: most
 * bytes of an Accept value ("*" "/" "*") are not it. The inner loop stops
 * at hay's NUL, which is no byte of the needle. */
static int contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        if (ascii_lower((unsigned char)*hay) != needle[0])
            continue;
        size_t i = 1;
        while (i < n && ascii_lower((unsigned char)hay[i]) == needle[i])
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

/* A Content-Length that says "no body": one or more '0' digits. Anything
 * else (another number, a list, a blank) counts as a body. */
static int all_zeros(const char *v)
{
    if (*v == '\0')
        return 0;
    while (*v == '0')
        v++;
    return *v == '\0';
}

static int truthy(const char *v)
{
    return v && (strcmp(v, "1") == 0 || apr_cstr_casecmp(v, "true") == 0 ||
                 apr_cstr_casecmp(v, "yes") == 0);
}

static void add_role(const mg_policy_t *policy, const char *name, size_t len, mg_roleset_t *set)
{
    int idx = mg_policy_role_index(policy, name, len);
    if (idx >= 0 && idx < MG_MAX_ROLES)
        *set |= (mg_roleset_t)1 << idx;
}

/* One item of a role list: whitespace around it trimmed, the prefix (if
 * any) required and stripped, then looked up. */
static void add_role_item(const mg_policy_t *policy, const mg_role_source_t *src, size_t plen,
                          const char *a, const char *b, mg_roleset_t *set)
{
    while (a < b && is_space((unsigned char)*a))
        a++;
    while (b > a && is_space((unsigned char)b[-1]))
        b--;
    if (plen == 0)
        add_role(policy, a, (size_t)(b - a), set);
    else if ((size_t)(b - a) > plen && memcmp(a, src->prefix, plen) == 0)
        add_role(policy, a + plen, (size_t)(b - a) - plen, set);
}

/* Role names are at most 128 bytes (mg_policy_load.c), a prefix adds its
 * own: an unescaped item longer than this names no role. */
#define MG_ROLE_ITEM_MAX 512

/* An item with backslash escapes, [a, b): a backslash escapes the
 * separator or a backslash, and is taken out; any other backslash (one
 * mod_auth_openidc never writes) makes the item no role. */
static void add_escaped_item(const mg_policy_t *policy, const mg_role_source_t *src, size_t plen,
                             const char *sep, size_t seplen, const char *a, const char *b,
                             mg_roleset_t *set)
{
    char buf[MG_ROLE_ITEM_MAX];
    size_t n = 0;

    while (a < b) {
        size_t k = 1;
        if (*a == '\\') {
            a++;
            if (a < b && *a == '\\')
                k = 1;
            else if ((size_t)(b - a) >= seplen && memcmp(a, sep, seplen) == 0)
                k = seplen;
            else
                return; /* not an escape anyone wrote */
        }
        if (n + k > sizeof(buf))
            return;
        memcpy(buf + n, a, k);
        n += k;
        a += k;
    }
    add_role_item(policy, src, plen, buf, buf + n, set);
}

/* Split a role list such as "media-staff, media-subscriber" without copying:
 * items are slices; undeclared roles are ignored (never an error, since the
 * source belongs to another system). A backslash escapes the separator or a
 * backslash inside an item: mod_auth_openidc (2.4.20 and later) joins a list
 * claim so, and a group named "x,media-admins" arrives as
 * "x\,media-admins" — one item, no role, where splitting at every comma
 * made it the role admins (with prefix "media-"). */
static void add_role_list(const mg_policy_t *policy, const mg_role_source_t *src, const char *v,
                          mg_roleset_t *set)
{
    const char *sep = (src->separator && *src->separator) ? src->separator : ",";
    size_t seplen = strlen(sep);
    size_t plen = src->prefix ? strlen(src->prefix) : 0;
    const char *p = v, *q = v;
    int escaped = 0;

    for (;;) {
        if (*q == '\\') {
            escaped = 1;
            q++;
            if (*q == '\\')
                q++;
            else if (strncmp(q, sep, seplen) == 0)
                q += seplen;
            continue; /* any other byte: add_escaped_item refuses the item */
        }
        if (*q != '\0' && (*q != sep[0] || strncmp(q, sep, seplen) != 0)) {
            q++;
            continue;
        }
        if (escaped)
            add_escaped_item(policy, src, plen, sep, seplen, p, q, set);
        else
            add_role_item(policy, src, plen, p, q, set);
        if (*q == '\0')
            break;
        p = q = q + seplen;
        escaped = 0;
    }
}

static const char *lookup(const mg_request_t *req, mg_lookup_kind_t kind, const char *name)
{
    if (req->lookup == NULL || name == NULL)
        return NULL;
    return req->lookup(req->lookup_ctx, kind, name);
}

static mg_roleset_t resolve_roles(const mg_policy_t *policy, const mg_request_t *req,
                                  int peer_trusted)
{
    mg_roleset_t set = 0;
    int signed_in = req->user != NULL && *req->user != '\0';
    int nsrc = policy->role_sources ? policy->role_sources->nelts : 0;
    const mg_role_source_t *srcs =
        nsrc ? (const mg_role_source_t *)policy->role_sources->elts : NULL;

    /* identity.roles_from defaults to [users] */
    if (nsrc == 0 && signed_in)
        set |= mg_policy_user_roles(policy, req->user);
    for (int i = 0; i < nsrc; i++) {
        const char *v = NULL;
        switch (srcs[i].kind) {
        case MG_SRC_USERS:
            if (signed_in)
                set |= mg_policy_user_roles(policy, req->user);
            continue;
        case MG_SRC_ENV:
            v = lookup(req, MG_LOOKUP_ENV, srcs[i].name);
            break;
        case MG_SRC_NOTE:
            v = lookup(req, MG_LOOKUP_NOTE, srcs[i].name);
            break;
        case MG_SRC_HEADER:
            /* anyone can send a header; only a trusted proxy may speak for the user */
            if (peer_trusted)
                v = lookup(req, MG_LOOKUP_HEADER, srcs[i].name);
            break;
        case MG_SRC_APACHE: /* asked by the evaluator, only when the rule needs it */
        case MG_SRC_MMDB:
            continue;
        }
        if (v != NULL)
            add_role_list(policy, &srcs[i], v, &set);
    }
    if (signed_in && policy->authenticated_role >= 0 && policy->authenticated_role < MG_MAX_ROLES)
        set |= (mg_roleset_t)1 << policy->authenticated_role;
    for (int i = 0; req->extra_roles && i < req->n_extra_roles; i++)
        if (req->extra_roles[i])
            add_role(policy, req->extra_roles[i], strlen(req->extra_roles[i]), &set);
    return set;
}

int mg_ssl_client_cert_field(const char *name)
{
    return apr_cstr_casecmpn(name, "SSL_CLIENT_", 11) == 0 &&
           apr_cstr_casecmp(name, "SSL_CLIENT_VERIFY") != 0;
}

int mg_ssl_verified(const char *verify)
{
    return verify != NULL && strcmp(verify, "SUCCESS") == 0;
}

/* ISO 3166 alpha-2 after upper-casing, or T1 (CF-IPCountry's Tor), else
 * unknown (NULL). Sources use placeholders such as "--" or "" for unknown;
 * they fall out here. */
const char *mg_country_norm(apr_pool_t *pool, const char *c)
{
    if (c == NULL || strlen(c) != 2)
        return NULL;
    if ((c[0] == 'T' || c[0] == 't') && c[1] == '1')
        return "T1";
    char *u = apr_palloc(pool, 3);
    for (int i = 0; i < 2; i++) {
        int ch = (unsigned char)c[i];
        if (ch >= 'a' && ch <= 'z')
            ch -= 'a' - 'A';
        if (ch < 'A' || ch > 'Z')
            return NULL;
        u[i] = (char)ch;
    }
    u[2] = '\0';
    return u;
}

static const char *resolve_country(apr_pool_t *pool, const mg_policy_t *policy,
                                   const mg_request_t *req, int peer_trusted)
{
    if (req->country != NULL)
        return mg_country_norm(pool, req->country);
    switch (policy->country_kind) {
    case MG_SRC_ENV:
        return mg_country_norm(pool, lookup(req, MG_LOOKUP_ENV, policy->country_name));
    case MG_SRC_NOTE:
        return mg_country_norm(pool, lookup(req, MG_LOOKUP_NOTE, policy->country_name));
    case MG_SRC_HEADER:
        return peer_trusted
                   ? mg_country_norm(pool, lookup(req, MG_LOOKUP_HEADER, policy->country_name))
                   : NULL;
    default: /* none, or mmdb: looked up by the evaluator when a rule checks the country */
        return NULL;
    }
}

static int is_navigation(const mg_request_t *req, int accepts_html)
{
    if (req->sec_fetch_mode != NULL && *req->sec_fetch_mode != '\0')
        return apr_cstr_casecmp(req->sec_fetch_mode, "navigate") == 0;
    return accepts_html;
}

/* Fetch Metadata's answer to "does the user open this URL as a page?". A
 * frame (Sec-Fetch-Dest: iframe) navigates too, but it is an embed; with a
 * Mode and no Dest (Chrome 76-79) a frame cannot be told from a page, so
 * that is no. */
static int fm_document(const mg_request_t *req)
{
    const char *dest = req->sec_fetch_dest, *mode = req->sec_fetch_mode;
    int has_dest = dest != NULL && *dest != '\0', has_mode = mode != NULL && *mode != '\0';
    if (!has_dest)
        return has_mode ? 0 : -1;
    return apr_cstr_casecmp(dest, "document") == 0 &&
           (!has_mode || apr_cstr_casecmp(mode, "navigate") == 0);
}

static mg_status_t refuse(mg_request_derived_t *d, const char *why, const char **out)
{
    d->ok = 0;
    d->why = why ? why : "malformed URL";
    if (out)
        *out = d->why;
    return MG_EINVAL;
}

/* The policy's reserved query names as lists, without a copy: its
 * download parameter (in *dl), then reserved_params. */
static void policy_names(const mg_policy_t *policy, mg_qreserved_t *dl,
                         mg_qreserved_list_t lists[2])
{
    const apr_array_header_t *rp = policy->reserved_params;
    dl->name = policy->download_param ? policy->download_param : "download";
    dl->flags = MG_QR_REPEAT;
    dl->why_spelling = dl->why_case = dl->why_repeated = NULL;
    lists[0].names = dl;
    lists[0].n = 1;
    lists[1].names = rp != NULL ? (const mg_qreserved_t *)rp->elts : NULL;
    lists[1].n = rp != NULL ? rp->nelts : 0;
}

mg_status_t mg_request_tables_build(mg_policy_t *policy)
{
    if (policy == NULL || policy->pool == NULL)
        return MG_EINTERNAL;
    mg_request_tables_t *t = apr_pcalloc(policy->pool, sizeof(*t));
    mg_qreserved_list_t lists[2];
    policy_names(policy, &t->dl, lists);
    mg_canon_names_table(&t->names, lists, 2);
    t->dl_len = strlen(t->dl.name);
    /* a name of these bytes is plain under any spelling that is exactly
     * it, so the table check sees every parameter that is the download
     * parameter (mg_canon_path_table_hit) */
    t->dl_g = -1;
    for (int g = 0; mg_query_reserved_name_ok(t->dl.name) && g < t->names.total; g++)
        if (t->names.e[g] == &t->dl) {
            t->dl_g = g;
            break;
        }
    t->has_foreign = mg_fmt_policy_keys_foreign(policy);
    mg_cookie_table_build(&t->cookie, t->dl.name);
    policy->req_tables = t;
    return MG_OK;
}

/* The policy's reserved query names, under any spelling some server stack
 * reads as them (mg_canon_path did "tr" and "mg_*"). A repeated download
 * parameter counts when any value asks: asking is the stricter request, so
 * ambiguity never grants more. */
int mg_policy_query_check(apr_pool_t *pool, const mg_policy_t *policy,
                          const apr_array_header_t *params, const char **why)
{
    mg_qreserved_t dl;
    mg_qreserved_list_t lists[2];
    (void)pool;
    policy_names(policy, &dl, lists);
    return mg_query_reserved_check_lists(params, lists, 2, NULL, 0, why, NULL);
}

mg_status_t mg_request_prepare(apr_pool_t *pool, const mg_policy_t *policy, mg_request_t *req,
                               const char **why)
{
    const char *w = NULL;
    if (why)
        *why = NULL;
    if (pool == NULL || req == NULL)
        return MG_EINTERNAL;
    mg_request_derived_t *d = apr_pcalloc(pool, sizeof(*d));
    req->d = d;
    if (policy == NULL)
        return refuse(d, "no policy", why);
    if (req->target_refused != NULL)
        return refuse(d, req->target_refused, why);
    if (req->raw_path == NULL || req->raw_path[0] != '/')
        return refuse(d, "the path must start with '/'", why);

    /* a foreign token in the path: the request is its effective path. The
     * policy's reserved query names are checked in the same pass over the
     * query as the built-in ones; their refusal (names_why) comes below,
     * where a second pass (mg_policy_query_check) would give it. */
    const mg_request_tables_t *rt = policy->req_tables;
    const char *names_why = NULL, *dp;
    size_t dplen;
    int rc, dl_maybe = 1;
    if (rt != NULL) { /* names indexed when the policy loaded */
        unsigned long long hit[2] = {0, 0};
        /* no foreign key, no token in the path to look for: what
         * mg_fmt_canon_table does then, without the call (d->ptok stays
         * NULL) */
        rc = rt->has_foreign
                 ? mg_fmt_canon_table(pool, policy, req->raw_path, req->query, &d->canon, &d->ptok,
                                      &w, &rt->names, &names_why, hit)
                 : mg_canon_path_table_hit(pool, req->raw_path, req->query, &d->canon, &w,
                                           &rt->names, &names_why, hit);
        /* complete when rc is 0 and names_why NULL, the only case that
         * reads it */
        if (rt->dl_g >= 0)
            dl_maybe = (int)(hit[rt->dl_g >> 6] >> (rt->dl_g & 63) & 1);
        dp = rt->dl.name;
        dplen = rt->dl_len;
    } else { /* a policy built by hand: the same names, as lists */
        mg_qreserved_t dl;
        mg_qreserved_list_t names[2];
        policy_names(policy, &dl, names);
        rc = mg_fmt_canon_names(pool, policy, req->raw_path, req->query, &d->canon, &d->ptok, &w,
                                names, 2, &names_why);
        dp = dl.name;
        dplen = strlen(dp);
    }
    if (rc != 0)
        return refuse(d, w, why);
    d->query = d->canon.params; /* mg_canon_path parsed the query once */
    if (d->canon.tr != NULL) {
        if (mg_transform_parse(pool, d->canon.tr, &d->tr, &w) != 0)
            return refuse(d, w, why);
        d->has_tr = d->tr.nsteps > 0;
    }

    d->classes = mg_class_of_ext(policy, d->canon.ext);
    d->method_bit = mg_method_bit(req->method);

    if (names_why != NULL)
        return refuse(d, names_why, why);
    /* last in the order of docs/canonical-urls.md: a cookie that an origin
     * could read as "tr" or the download parameter (PHP's $_REQUEST) */
    if (req->cookie != NULL &&
        (rt != NULL ? mg_cookie_reserved_check_table(req->cookie, &rt->cookie, &w)
                    : mg_cookie_reserved_check(req->cookie, dp, &w)) != 0)
        return refuse(d, w, why);
    /* a body on a GET or HEAD: Rack's params (Sinatra) and ASP.NET Core's
     * model binding read a form body before or over the query, and
     * ProxyPass forwards it — a `tr` or `download` the policy never saw.
     * No media request has one; a Content-Length other than zero counts,
     * and so does any Transfer-Encoding. */
    if ((d->method_bit & (MG_M_GET | MG_M_HEAD)) != 0 &&
        (req->transfer_encoding != NULL ||
         (req->content_length != NULL && !all_zeros(req->content_length))))
        return refuse(d, "GET or HEAD request with a body", why);
    /* a header that some origins read as the request URL (X-Original-URL,
     * ...; mg_http.h) naming another one: behind ProxyPass such an origin
     * serves what it names, which the policy never judged */
    if (req->url_header == MG_URL_HEADER_OTHER)
        return refuse(d,
                      req->url_header_name != NULL
                          ? apr_pstrcat(pool, req->url_header_name,
                                        " names another URL than the request target", NULL)
                          : "header that some origins read as the request URL",
                      why);
    /* the array in locals: d->query could alias what the loop writes */
    const mg_qparam_t *qv = d->query ? (const mg_qparam_t *)d->query->elts : NULL;
    int nq = d->query ? d->query->nelts : 0;
    for (int i = 0; dl_maybe && i < nq; i++) {
        const mg_qparam_t *q = &qv[i];
        /* lengths first: most parameters (the token's) differ in length */
        if (q->name && q->name_len == dplen && memcmp(q->name, dp, dplen) == 0 && truthy(q->value))
            d->download = 1;
    }

    if (req->client_ip == NULL || mg_ip_parse(req->client_ip, &d->client) != 0)
        d->client.family = 0;
    /* Without a proxy in front both are the same string (httpd hands over
     * the same pointer): parse once. */
    if (req->peer_ip != NULL && req->client_ip != NULL &&
        (req->peer_ip == req->client_ip || strcmp(req->peer_ip, req->client_ip) == 0))
        d->peer = d->client;
    else if (req->peer_ip == NULL || mg_ip_parse(req->peer_ip, &d->peer) != 0)
        d->peer.family = 0;
    for (int i = 0; d->peer.family && policy->trusted_proxies &&
                    i < policy->trusted_proxies->nelts && !d->peer_trusted;
         i++)
        d->peer_trusted =
            mg_cidr_match(&APR_ARRAY_IDX(policy->trusted_proxies, i, mg_cidr_t), &d->peer);

    d->roles = resolve_roles(policy, req, d->peer_trusted);
    d->country = resolve_country(pool, policy, req, d->peer_trusted);
    d->accepts_html = req->accept != NULL && contains_ci(req->accept, "text/html");
    d->navigation = is_navigation(req, d->accepts_html);
    d->fm_document = fm_document(req);
    d->ok = 1;
    return MG_OK;
}
