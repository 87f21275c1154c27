/* mgctl_request.c — the one function that turns a request description (a
 * test file's request, explain's options) into an mg_request_t the way the
 * module does, with the request-description defaults, the lookup and grant
 * callbacks it installs, and the checks and messages about a request that
 * mgctl adds (undeclared roles, the byte of a URL that the canonicaliser
 * refuses).
 */
#include "mg_ascii.h"
#include "mgctl_util.h"

#include <string.h>

#include <apr_strings.h>

#include "mg_http.h"

mgctl_reqspec_t *mgctl_reqspec_make(apr_pool_t *pool)
{
    mgctl_reqspec_t *s = apr_pcalloc(pool, sizeof(*s));
    s->method = "GET";
    s->url = "/";
    s->roles = apr_array_make(pool, 4, sizeof(const char *));
    s->requires = apr_array_make(pool, 2, sizeof(const char *));
    s->now = apr_time_now();
    s->headers = apr_table_make(pool, 8);
    s->env = apr_table_make(pool, 4);
    s->notes = apr_table_make(pool, 2);
    return s;
}

typedef struct lookup_ctx {
    apr_table_t *env, *notes, *headers;
} lookup_ctx_t;

/* The module serves these from r->subprocess_env, r->notes and
 * r->headers_in: all apr_tables, so names compare case-insensitively. */
static const char *spec_lookup(void *ctx, mg_lookup_kind_t kind, const char *name)
{
    lookup_ctx_t *lc = ctx;
    switch (kind) {
    case MG_LOOKUP_ENV:
        /* as the module asks mod_ssl: a client certificate's field counts
         * only when SSL_CLIENT_VERIFY says mod_ssl verified it */
        if (mg_ssl_client_cert_field(name) &&
            !mg_ssl_verified(apr_table_get(lc->env, "SSL_CLIENT_VERIFY")))
            return NULL;
        return apr_table_get(lc->env, name);
    case MG_LOOKUP_NOTE:
        return apr_table_get(lc->notes, name);
    case MG_LOOKUP_HEADER:
        return apr_table_get(lc->headers, name);
    }
    return NULL;
}

/* The module asks Apache's authz providers; mgctl answers from --require /
 * `require:`: a line passes when it is the entry's `PROVIDER ARGS` (the
 * provider name as written, the arguments compared after trimming
 * whitespace at both ends, as the policy loader trims them). */
static int same_require(const char *given, const char *line)
{
    const char *a = given, *e;
    size_t plen, alen;
    while (*a == ' ' || *a == '\t')
        a++;
    e = a + strcspn(a, " \t");
    plen = (size_t)(e - a);
    while (*e == ' ' || *e == '\t')
        e++;
    alen = strlen(e);
    while (alen > 0 && (e[alen - 1] == ' ' || e[alen - 1] == '\t'))
        alen--;
    if (strncmp(line, a, plen) != 0)
        return 0;
    if (alen == 0)
        return line[plen] == '\0';
    return line[plen] == ' ' && strncmp(line + plen + 1, e, alen) == 0 &&
           line[plen + 1 + alen] == '\0';
}

static mg_grant_t spec_grant(void *ctx, int index, const struct mg_role_grant *g)
{
    const apr_array_header_t *req = ctx;
    (void)index;
    for (int i = 0; req && i < req->nelts; i++)
        if (same_require(APR_ARRAY_IDX(req, i, const char *), mg_role_grant_line(g)))
            return MG_GRANT_YES;
    return MG_GRANT_NO;
}

mg_status_t mgctl_request_build(apr_pool_t *pool, const mg_policy_t *policy,
                                const mgctl_reqspec_t *spec, mg_request_t *req, const char **why)
{
    mg_target_t t;

    /* The target as the module splits it (mg_target_split: a path, or an
     * http(s) URL without userinfo; anything else is decided bad-url). */
    (void)mg_target_split(pool, spec->url ? spec->url : "/", &t, NULL);
    return mgctl_request_build_at(pool, policy, spec, &t, req, why);
}

mg_status_t mgctl_request_build_at(apr_pool_t *pool, const mg_policy_t *policy,
                                   const mgctl_reqspec_t *spec, const struct mg_target *t,
                                   mg_request_t *req, const char **why)
{
    apr_table_t *headers = spec->headers ? spec->headers : apr_table_make(pool, 1);

    /* An absolute URL contributes its host as the Host header a browser
     * sends, for the lookup callback too, unless one is given. */
    if (t->authority != NULL && apr_table_get(headers, "Host") == NULL) {
        headers = apr_table_copy(pool, headers);
        apr_table_setn(headers, "Host", t->authority);
    }
    mg_request_from_header_table(req, t, headers);

    req->method = spec->method ? spec->method : "GET";
    if (spec->scheme != NULL)
        req->scheme = spec->scheme;
    req->client_ip = spec->ip ? spec->ip : "127.0.0.1";
    req->peer_ip = spec->peer ? spec->peer : req->client_ip;
    req->user = spec->user;
    if (spec->roles && spec->roles->nelts > 0) {
        req->extra_roles = (const char **)spec->roles->elts;
        req->n_extra_roles = spec->roles->nelts;
    }
    req->country = spec->country;
    req->now = spec->now;

    lookup_ctx_t *lc = apr_pcalloc(pool, sizeof(*lc));
    lc->env = spec->env ? spec->env : apr_table_make(pool, 1);
    lc->notes = spec->notes ? spec->notes : apr_table_make(pool, 1);
    lc->headers = headers;
    req->lookup = spec_lookup;
    req->lookup_ctx = lc;
    if (spec->requires != NULL && spec->requires->nelts > 0) {
        req->grant_check = spec_grant;
        req->grant_ctx = spec->requires;
    }

    *why = NULL;
    return mg_request_prepare(pool, policy, req, why);
}

const char *mgctl_undeclared_role(const mg_policy_t *policy, const apr_array_header_t *roles)
{
    for (int i = 0; roles && i < roles->nelts; i++) {
        const char *r = APR_ARRAY_IDX(roles, i, const char *);
        int found = 0;
        for (int j = 0; j < mg_policy_role_count(policy) && !found; j++)
            found = strcmp(mg_policy_role_name(policy, j), r) == 0;
        if (!found)
            return r;
    }
    return NULL;
}

const char *mgctl_unverified_cert_field(const apr_table_t *env)
{
    const apr_array_header_t *a = env ? apr_table_elts(env) : NULL;
    if (a == NULL || mg_ssl_verified(apr_table_get(env, "SSL_CLIENT_VERIFY")))
        return NULL;
    for (int i = 0; i < a->nelts; i++) {
        const apr_table_entry_t *e = &APR_ARRAY_IDX(a, i, apr_table_entry_t);
        if (e->key != NULL && mg_ssl_client_cert_field(e->key))
            return e->key;
    }
    return NULL;
}

const char *mgctl_path_byte_why(apr_pool_t *pool, const char *url)
{
    size_t start = 0;
    if (apr_cstr_casecmpn(url, "http://", 7) == 0 || apr_cstr_casecmpn(url, "https://", 8) == 0) {
        const char *a = strstr(url, "://") + 3;
        start = (size_t)(a - url) + strcspn(a, "/?");
    }
    /* the bytes lib/mg_canon.c refuses in a raw path, up to the query */
    for (size_t i = start; url[i] != '\0' && url[i] != '?'; i++) {
        unsigned char c = (unsigned char)url[i];
        if (c == ' ')
            return apr_psprintf(pool, "space in the path at byte offset %lu: write it as %%20",
                                (unsigned long)i);
        if (c == '\\')
            return apr_psprintf(pool,
                                "backslash in the path at byte offset %lu: not allowed, "
                                "raw or encoded (%%5C); paths use '/'",
                                (unsigned long)i);
        if (c < 0x20 || c == 0x7f || c == '#')
            return apr_psprintf(pool,
                                "%s (0x%02X) in the path at byte offset %lu: not allowed, "
                                "raw or percent-encoded",
                                c == '#'    ? "'#'"
                                : c == '\t' ? "tab"
                                            : "control byte",
                                c, (unsigned long)i);
    }
    return NULL;
}
