/* mg_mod_authz.c — the `Require media-guard NAME` authorization provider.
 *
 * parse_require_line resolves NAME once, at configuration time (also for
 * .htaccess, which never opens a policy file). check_authorization builds
 * the request view libmg needs, evaluates, memoises the decision for the
 * request (mod_authz_core calls providers before and after authentication)
 * and maps it to what httpd understands:
 *
 *   allow -> AUTHZ_GRANTED (headers follow in mg_mod_headers.c)
 *   deny  -> AUTHZ_DENIED + ap_custom_response() for the message or page;
 *            a status other than 403 goes through an internal redirect to
 *            MG_MOD_DENY_URI that mg_mod_deny_handler() answers
 *   login -> AUTHZ_DENIED + ap_custom_response(403, absolute URL) = a 302,
 *            or AUTHZ_DENIED_NO_USER when an AuthType should authenticate
 *            first (credentials present, or a cookie-session AuthType)
 *   auth  -> AUTHZ_DENIED_NO_USER when an AuthType can authenticate, else 403
 *
 * An internal error (a policy that never loaded) is AUTHZ_GENERAL_ERROR, a
 * 500 whatever the composition: `Require not` must not make it a grant.
 *
 * What httpd serves is judged too, not only what the client named: the
 * served path (r->uri after translate_name, minus path_info after a file)
 * when it is another resource, and — in a fixups hook — sub-requests and
 * internal redirects that inherit a grant without passing authz
 * (DirectoryIndex, ErrorDocument). The stricter decision counts.
 *
 * Every refusal carries Cache-Control: private, no-store and the owning
 * rule's Cross-Origin-Resource-Policy (refusal_headers), taken out again if
 * the request is granted after all. At configtest, a Require in a
 * <Location> narrower than its policy's rules (and not inside a wider one
 * judging the same policy) is warned about (mg_mod_warn_narrow_locations):
 * other spellings of its URLs skip the section.
 *
 * Every path that is not a clean allow denies (fail closed).
 */
#include <string.h>
#include <strings.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"

#include <apr_lib.h>
#include <apr_strings.h>

#include "mg_mod.h"
#include "mg_policy.h"
#include "mg_request.h"

APLOG_USE_MODULE(media_guard);

#define MG_MOD_REASON_HEADER "X-Media-Guard-Reason"
#define MG_MOD_STALE_NOTE "last good version of the policy: its file was refused on reload"

mg_mod_req_t *mg_mod_req_get(request_rec *r, int create)
{
    mg_mod_req_t *rq = ap_get_module_config(r->request_config, &media_guard_module);
    if (rq == NULL && create) {
        rq = apr_pcalloc(r->pool, sizeof(*rq));
        ap_set_module_config(r->request_config, &media_guard_module, rq);
    }
    return rq;
}

/* ------------------------------------------------------------------ */
/* configuration time                                                   */
/* ------------------------------------------------------------------ */

/* Whether this Require line sits under a negation: mod_authz_core turns a
 * negated refusal into "neutral", so our refusal there can never be what the
 * client gets, and must not set a login redirect or a deny page for a 403
 * that another provider causes. The line is negated by its own "not" or by
 * any enclosing <RequireNone>. */
static int negated_require(const ap_directive_t *d, apr_pool_t *p)
{
    const char *args, *first;

    if (d == NULL)
        return 0;
    args = d->args ? d->args : "";
    first = ap_getword_conf(p, &args);
    if (strcasecmp(d->directive, "Require") == 0 && strcasecmp(first, "not") == 0)
        return 1;
    for (d = d->parent; d != NULL; d = d->parent) {
        if (strcasecmp(d->directive, "<RequireNone") == 0)
            return 1;
    }
    return 0;
}

/* The <Location> or <LocationMatch> section around a Require line, or NULL.
 * *path is its path (a regular expression when *regex). */
static const ap_directive_t *location_section(const ap_directive_t *d, apr_pool_t *p,
                                              const char **path, int *regex)
{
    for (d = d ? d->parent : NULL; d != NULL; d = d->parent) {
        const char *args, *end;
        int match = strcasecmp(d->directive, "<LocationMatch") == 0;
        if (!match && strcasecmp(d->directive, "<Location") != 0)
            continue;
        /* a section's args end with its '>' (core.c's urlsection) */
        args = d->args ? d->args : "";
        end = strrchr(args, '>');
        args = end ? apr_pstrmemdup(p, args, (apr_size_t)(end - args)) : args;
        *path = ap_getword_conf(p, &args);
        *regex = match;
        if (!match && strcmp(*path, "~") == 0) {
            *path = ap_getword_conf(p, &args);
            *regex = 1;
        }
        return d;
    }
    return NULL;
}

/* How far a <Location> or <LocationMatch> reaches, as far as the literal
 * text it starts with tells. */
typedef struct section_reach {
    const char *base; /* the literal directory it starts with, ending in '/';
                         NULL for an expression not anchored at "^/" */
    int whole;        /* it covers everything under base */
    int open;         /* a plain string prefix of the URL ("^/clips"): it also
                         covers /clips;x/..., only a 'tr:' segment before its
                         last segment skips it */
} section_reach_t;

/* The reach of a section: "/photos/" (whole) for <Location "/photos/">,
 * <Location "/photos"> (httpd matches a path without a final '/' only when
 * the URL continues with '/' or ends there), <LocationMatch "^/photos/">
 * and "^/photos" (open); "/photos/" (part) for "/photos/a*.jpg", "/photos/?"
 * and "^/photos/(a|b)/". */
static void section_reach(apr_pool_t *p, const char *path, int regex, section_reach_t *out)
{
    const char *end, *slash;

    memset(out, 0, sizeof(*out));
    if (regex) {
        if (strncmp(path, "^/", 2) != 0)
            return;
        path++;
        end = path + strcspn(path, ".[]()*+?{}|\\$^");
        out->whole = *end == '\0' || strcmp(end, ".*") == 0;
        out->open = out->whole && end[-1] != '/';
    } else {
        if (path[0] != '/')
            return;
        end = path + strcspn(path, "*?[");
        /* a wildcard path is matched with APR_FNM_PATHNAME: a final "*"
         * after a slash is one level of that directory, not all of it */
        out->whole = *end == '\0';
    }
    if (out->whole && end[-1] != '/') {
        out->base = apr_pstrcat(p, apr_pstrmemdup(p, path, (apr_size_t)(end - path)), "/", NULL);
        return;
    }
    for (slash = end; slash > path && slash[-1] != '/'; slash--)
        ;
    out->base = apr_pstrmemdup(p, path, (apr_size_t)(slash - path));
}

/* The literal directory a rule's pattern judges, normalised as the policy
 * compiler does (docs/policy.md, "Paths"): its leading literal segments
 * (literal_depth), so "/photos" and "/photos/" are both "/photos/", and
 * a glob such as "/thumbs/x-?.jpg" is "/thumbs/". */
static const char *pattern_dir(apr_pool_t *p, const mg_pathpat_t *pat)
{
    const char *t = pat->text ? pat->text : "/", *q = t;
    int i;

    for (i = 0; i < pat->literal_depth && *q != '\0'; i++) {
        q += strspn(q, "/");
        q += strcspn(q, "/");
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, t, (apr_size_t)(q - t)), "/", NULL);
}

/* A rule of the policy whose paths reach beyond `base` towards the root:
 * its literal directory is a proper ancestor of base (or base itself, when
 * the section covers only part of base). NULL if none. */
static const mg_rule_t *rule_above(apr_pool_t *p, const mg_policy_t *pol, const char *base,
                                   int whole, const char **where)
{
    int i, j;

    for (i = 0; pol != NULL && pol->rules != NULL && i < pol->rules->nelts; i++) {
        const mg_rule_t *rule = &APR_ARRAY_IDX(pol->rules, i, mg_rule_t);
        for (j = 0; rule->paths != NULL && j < rule->paths->nelts; j++) {
            const mg_pathpat_t *pat = &APR_ARRAY_IDX(rule->paths, j, mg_pathpat_t);
            const char *dir = pattern_dir(p, pat);
            size_t n = strlen(dir);
            if (strncmp(base, dir, n) != 0 || (whole && base[n] == '\0'))
                continue;
            *where = pat->text ? pat->text : "/";
            return rule;
        }
    }
    return NULL;
}

/* One `Require media-guard` in a <Location>/<LocationMatch>, noted during
 * `apache2 -t` and judged once the whole configuration has been read
 * (mg_mod_warn_narrow_locations): whether a section is too narrow depends
 * on the other sections, in any order. Lives in pconf. */
typedef struct narrow_site {
    const mg_mod_policy_t *mp;
    server_rec *server;
    const void *sec;      /* the section (identity only) */
    const char *sec_name; /* "Location" or "LocationMatch" */
    const char *path;     /* the section's path as written */
    const char *file;     /* the Require line */
    int line;
    int negated;
    section_reach_t reach;
} narrow_site_t;

#define MG_MOD_NARROW_KEY "media_guard:narrow-location-sites"

static void note_location(cmd_parms *cmd, const mg_mod_policy_t *mp, int negated)
{
    const ap_directive_t *sec;
    apr_array_header_t *sites = NULL;
    narrow_site_t *site;
    const char *path = NULL;
    int regex = 0;

    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST || mp->policy == NULL)
        return;
    sec = location_section(cmd->directive, cmd->pool, &path, &regex);
    if (sec == NULL)
        return;
    apr_pool_userdata_get((void **)&sites, MG_MOD_NARROW_KEY, cmd->pool);
    if (sites == NULL) {
        sites = apr_array_make(cmd->pool, 8, sizeof(narrow_site_t));
        apr_pool_userdata_set(sites, MG_MOD_NARROW_KEY, apr_pool_cleanup_null, cmd->pool);
    }
    site = apr_array_push(sites);
    site->mp = mp;
    site->server = cmd->server;
    site->sec = sec;
    site->sec_name = apr_pstrdup(cmd->pool, sec->directive + 1);
    site->path = path;
    site->file = apr_pstrdup(cmd->pool, cmd->directive->filename);
    site->line = cmd->directive->line_num;
    site->negated = negated;
    section_reach(cmd->pool, path, regex, &site->reach);
}

static int same_policy(const mg_mod_policy_t *a, const mg_mod_policy_t *b)
{
    return a == b || (a->policy != NULL && b->policy != NULL &&
                      strcmp(mg_policy_digest(a->policy), mg_policy_digest(b->policy)) == 0);
}

/* The URLs that skip `site` through a ';' parameter or a 'tr:' segment
 * still lie in its parent directory (its base when it covers only part of
 * it): another section judging the same policy for all of that directory
 * judges them. A section in the main server applies to every virtual host;
 * one in a virtual host only to it. */
static int covered_elsewhere(apr_pool_t *p, const narrow_site_t *site,
                             const apr_array_header_t *sites)
{
    const char *parent = site->reach.base;
    int i;

    if (site->reach.whole) {
        size_t n = strlen(parent) - 1; /* the final '/' */
        while (n > 0 && parent[n - 1] != '/')
            n--;
        parent = apr_pstrmemdup(p, parent, n);
    }
    for (i = 0; i < sites->nelts; i++) {
        const narrow_site_t *o = &APR_ARRAY_IDX(sites, i, narrow_site_t);
        if (o->sec == site->sec || o->negated || o->reach.base == NULL || !o->reach.whole ||
            !same_policy(o->mp, site->mp))
            continue;
        if (o->server != site->server && o->server->is_virtual)
            continue;
        if (strncmp(parent, o->reach.base, strlen(o->reach.base)) == 0)
            return 1;
    }
    return 0;
}

/* The spellings of the section's URLs that skip it, for the warning. For
 * <Location "/origin/private/"> behind ProxyPass "/origin/" the leaking
 * 'tr:' spelling keeps the parent path: /origin/tr:w-1/private/... */
static const char *skipping_spellings(apr_pool_t *p, const section_reach_t *reach)
{
    const char *base = reach->base, *own;
    size_t n = strlen(base) - 1, k = n;

    if (!reach->whole)
        return "a URL with a ';' parameter or a 'tr:' segment can skip this Require although "
               "the policy judges it as inside";
    while (k > 0 && base[k - 1] != '/')
        k--;
    own = apr_pstrmemdup(p, base + k, n - k);
    if (reach->open) /* "^/clips" matches /clips;x/... too */
        return apr_psprintf(p,
                            "%.*str:w-1/%s/... skips this Require although the policy judges "
                            "it as %s...",
                            (int)k, base, own, base);
    return apr_psprintf(p,
                        "%.*s;x/... and %.*str:w-1/%s/... skip this Require although the policy "
                        "judges them as %s...",
                        (int)n, base, (int)k, base, own, base);
}

/* test_config: a Require media-guard in a <Location> that guards less than
 * its policy describes. httpd matches <Location> against r->uri, which keeps
 * ';' parameters and 'tr:' segments, while the policy judges the canonical
 * path without them: /origin/private;x/a.jpg and /origin/tr:w-1/private/a.jpg
 * skip <Location "/origin/private/">, and a proxied origin, image server or
 * application may serve /origin/private/a.jpg for them. A rule for a parent
 * of the section's path (rule '/origin/' next to <Location
 * "/origin/private/">) says that the URL space reaching the media is larger
 * than the section; a policy whose rules all lie inside it gets no warning
 * (its URLs may well reach nothing else, as with files Apache serves itself),
 * nor does a section inside a wider one that judges the same policy for its
 * parent directory. Only `apache2 -t` says so, once per section, in the
 * order of the configuration. */
void mg_mod_warn_narrow_locations(apr_pool_t *pconf, server_rec *s)
{
    apr_array_header_t *sites = NULL;
    apr_hash_t *warned;
    int i;

    apr_pool_userdata_get((void **)&sites, MG_MOD_NARROW_KEY, pconf);
    if (sites == NULL || ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST)
        return;
    warned = apr_hash_make(pconf);
    for (i = 0; i < sites->nelts; i++) {
        const narrow_site_t *site = &APR_ARRAY_IDX(sites, i, narrow_site_t);
        const section_reach_t *reach = &site->reach;
        const char *where = NULL;
        const mg_rule_t *rule;

        if (reach->base == NULL || (reach->whole && strcmp(reach->base, "/") == 0) ||
            apr_hash_get(warned, &site->sec, sizeof(site->sec)) != NULL)
            continue;
        rule = rule_above(pconf, site->mp->policy, reach->base, reach->whole, &where);
        if (rule == NULL || covered_elsewhere(pconf, site, sites))
            continue;
        apr_hash_set(warned, &site->sec, sizeof(site->sec), site);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, site->server,
                     "Require media-guard %s on line %d of %s guards only <%s \"%s\">, but the "
                     "policy's rule '%s' (%s) judges URLs outside it. httpd matches the section "
                     "against the URL as sent, while the policy removes ';' parameters and "
                     "'tr:' segments first, so %s; where such URLs reach a proxied origin, an "
                     "image server or an application, it may serve the media. Put Require "
                     "media-guard on the whole URL space that reaches the media (<Location "
                     "\"/\"> or the parent prefix) and let the policy's rules decide what is "
                     "public (docs/directives.md, \"What the policy judges\")",
                     site->mp->name, site->line, site->file, site->sec_name, site->path,
                     ap_escape_logitem(pconf, rule->id), ap_escape_logitem(pconf, where),
                     skipping_spellings(pconf, reach));
    }
    (void)s;
}

static const char *parse_require(cmd_parms *cmd, const char *line, const void **parsed)
{
    const char *t = line;
    const char *name = ap_getword_conf(cmd->pool, &t);
    const mg_mod_policy_t *mp;
    mg_mod_require_t *req;

    if (name == NULL || *name == '\0')
        return "Require media-guard needs a policy name declared with MediaGuardPolicy";
    while (apr_isspace(*t))
        t++;
    if (*t != '\0')
        return "Require media-guard takes exactly one policy name";
    mp = mg_mod_find_policy(cmd->server, name);
    if (mp == NULL) {
        const char *near = mg_mod_suggest_policy(cmd->server, name, cmd->temp_pool);
        return apr_psprintf(cmd->pool,
                            "Require media-guard %s: no policy of that name; %s%s%sdeclare it "
                            "with 'MediaGuardPolicy %s FILE' earlier in the server configuration "
                            "or in this virtual host",
                            name, near ? "did you mean '" : "", near ? near : "",
                            near ? "'? Otherwise " : "", name);
    }
    req = apr_pcalloc(cmd->pool, sizeof(*req));
    req->mp = mp;
    req->negated = negated_require(cmd->directive, cmd->temp_pool);
    note_location(cmd, mp, req->negated);
    *parsed = req;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* request view                                                         */
/* ------------------------------------------------------------------ */

static const char *lookup(void *ctx, mg_lookup_kind_t kind, const char *name)
{
    request_rec *r = ctx;
    switch (kind) {
    case MG_LOOKUP_ENV:
        return apr_table_get(r->subprocess_env, name);
    case MG_LOOKUP_NOTE:
        return apr_table_get(r->notes, name);
    case MG_LOOKUP_HEADER:
        return apr_table_get(r->headers_in, name);
    }
    return NULL;
}

/* The end of an absolute-form target's scheme ("http://..."): the scheme
 * must stand at the very start, RFC 3986 syntax, followed at once by "://".
 * Searching the whole target for "://" would let a query such as
 * "?x=://h/public.jpg" choose the path that is judged. NULL otherwise. */
static const char *scheme_end(const char *s)
{
    const char *q = s;

    if (!apr_isalpha(*q))
        return NULL;
    while (apr_isalnum(*q) || *q == '+' || *q == '-' || *q == '.')
        q++;
    return strncmp(q, "://", 3) == 0 ? q : NULL;
}

/* Path and query of the request target exactly as the client sent them.
 * r->uri is already decoded and normalised by httpd, and r->parsed_uri.path
 * is normalised in place; libmg must see the raw bytes to canonicalise (and
 * refuse) them itself. apr_uri_parse is not used: it reads an origin-form
 * target starting with "//" as an authority, which HTTP does not. */
static void split_target(apr_pool_t *p, const char *t, const char **path, const char **query)
{
    const char *s = t ? t : "";
    size_t n;

    if (*s != '/') {
        /* absolute-form (proxy requests): skip scheme and authority. Anything
         * else ("*", authority-form) is handed over as is: libmg refuses a
         * path that does not start with '/' (bad-url), which denies. */
        const char *sep = scheme_end(s);
        if (sep) {
            s = sep + 3 + strcspn(sep + 3, "/?#");
            if (*s != '/') {
                *path = "/";
                *query = *s == '?' ? apr_pstrmemdup(p, s + 1, strcspn(s + 1, "#")) : NULL;
                return;
            }
        }
    }
    n = strcspn(s, "?#");
    *path = apr_pstrmemdup(p, s, n);
    if (s[n] == '?') {
        /* the query ends the target unless a fragment follows: then it is
         * r->unparsed_uri's own tail, no copy needed */
        const char *q = s + n + 1;
        size_t k = strcspn(q, "#");
        *query = q[k] == '\0' ? q : apr_pstrmemdup(p, q, k);
    } else {
        *query = NULL;
    }
}

/* One evaluation of `mp` for this request, with the path and query given
 * (raw, percent-encoded) instead of the client's target. *canon is the
 * canonical path (NULL when canonicalisation refused the URL). */
static void decide(request_rec *r, const mg_mod_policy_t *mp, const char *raw_path,
                   const char *query, mg_decision_t *d, const char **canon)
{
    mg_request_t req;
    const char *why = NULL;
    int trace = APLOGrtrace1(r);

    memset(&req, 0, sizeof(req));
    req.method = r->method;
    req.raw_path = raw_path;
    req.query = query;
    req.host = apr_table_get(r->headers_in, "Host");
    if (req.host == NULL)
        req.host = r->hostname;
    req.scheme = ap_http_scheme(r);
    req.client_ip = r->useragent_ip;
    req.peer_ip = r->connection->client_ip;
    req.user = r->user;
    req.now = r->request_time;
    req.referer = apr_table_get(r->headers_in, "Referer");
    req.origin = apr_table_get(r->headers_in, "Origin");
    req.sec_fetch_site = apr_table_get(r->headers_in, "Sec-Fetch-Site");
    req.sec_fetch_mode = apr_table_get(r->headers_in, "Sec-Fetch-Mode");
    req.sec_fetch_dest = apr_table_get(r->headers_in, "Sec-Fetch-Dest");
    req.sec_fetch_user = apr_table_get(r->headers_in, "Sec-Fetch-User");
    req.accept = apr_table_get(r->headers_in, "Accept");
    req.cookie = apr_table_get(r->headers_in, "Cookie");
    req.lookup = lookup;
    req.lookup_ctx = r;
    mg_mod_grants_attach(r, mp, &req);

    /* A refused URL is not an error here: mg_evaluate denies it (bad-url). */
    (void)mg_request_prepare(r->pool, mp->policy, &req, &why);
    memset(d, 0, sizeof(*d));
    mg_evaluate(r->pool, mp->policy, &req, trace, d);
    *canon = (req.d != NULL && req.d->ok) ? req.d->canon.path : NULL;

    if (trace && d->trace != NULL) {
        int i;
        for (i = 0; i < d->trace->nelts; i++)
            ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "media-guard %s trace: %s", mp->name,
                          ap_escape_logitem(r->pool, APR_ARRAY_IDX(d->trace, i, const char *)));
    }
}

/* The canonical path of a raw path, without evaluating (NULL if refused). */
static const char *canonical(request_rec *r, const mg_mod_policy_t *mp, const char *raw_path,
                             const char *query)
{
    mg_request_t req;
    const char *why = NULL;

    memset(&req, 0, sizeof(req));
    req.method = r->method;
    req.raw_path = raw_path;
    req.query = query;
    req.scheme = ap_http_scheme(r);
    req.client_ip = r->useragent_ip;
    req.peer_ip = r->connection->client_ip;
    req.now = r->request_time;
    if (mg_request_prepare(r->pool, mp->policy, &req, &why) != MG_OK || req.d == NULL || !req.d->ok)
        return NULL;
    return req.d->canon.path;
}

/* What httpd will actually serve, as a URL path: r->uri (decoded and
 * normalised by httpd, after translate_name: a server-context RewriteRule
 * [PT] has already changed it), minus the path_info that follows a regular
 * file (AcceptPathInfo On: /secret.jpg/x.txt serves secret.jpg, while the
 * target names a .txt). Path info after a directory is left alone: the
 * default handler answers 404 there, and a handler mapped to a directory
 * serves what the target names. NULL when there is no such path ("*"). */
static const char *served_path(request_rec *r)
{
    const char *uri = r->uri;
    size_t n;

    if (uri == NULL || uri[0] != '/')
        return NULL;
    n = strlen(uri);
    if (r->finfo.filetype == APR_REG && r->path_info != NULL && r->path_info[0] != '\0') {
        size_t pi = strlen(r->path_info);
        if (pi < n && strcmp(uri + n - pi, r->path_info) == 0)
            n -= pi;
    }
    return apr_pstrmemdup(r->pool, uri, n);
}

/* A file sub-request (ap_sub_req_lookup_file: mod_include `include file`,
 * `fsize`/`flastmod file`, type-map variants) names a file, not a URL:
 * unless the file is in the including document's own directory, httpd sets
 * r->uri to "" and r->unparsed_uri to the relative file name, and builds its
 * per-dir config from <Directory> sections only. Its URL is taken to be the
 * parent's URL directory plus the file's name below the parent's file
 * directory — the mapping httpd itself uses in the same-directory case.
 * 0: r is not such a sub-request; 1: *raw_path is that URL (escaped);
 * -1: it is one, but no URL can be derived (*raw_path is "": bad-url). */
static int file_subreq_path(request_rec *r, const char **raw_path)
{
    const char *fdir, *udir, *rel, *segs;
    size_t n;

    *raw_path = "";
    if (r->main == NULL || (r->uri != NULL && r->uri[0] == '/'))
        return 0;
    udir = served_path(r->main);
    if (r->filename == NULL || r->main->filename == NULL || udir == NULL)
        return -1;
    udir = ap_make_dirstr_parent(r->pool, udir);
    fdir = ap_make_dirstr_parent(r->pool, r->main->filename);
    n = strlen(fdir);
    if (n == 0 || fdir[n - 1] != '/' || strncmp(r->filename, fdir, n) != 0)
        return -1; /* not below the parent's directory */
    rel = r->filename + n;
    /* httpd merged the name already; anything odd left is refused */
    segs = apr_pstrcat(r->pool, "/", rel, "/", NULL);
    if (*rel == '\0' || strstr(segs, "//") || strstr(segs, "/./") || strstr(segs, "/../"))
        return -1;
    *raw_path = ap_os_escape_path(r->pool, apr_pstrcat(r->pool, udir, rel, NULL), 1);
    return 1;
}

/* Whether decision b is stricter than a (a refusal, or a lower level). */
static int stricter(const mg_decision_t *a, const mg_decision_t *b)
{
    if (b->outcome != MG_OUTCOME_ALLOW)
        return a->outcome == MG_OUTCOME_ALLOW;
    return a->outcome == MG_OUTCOME_ALLOW && b->access < a->access;
}

/* Decide the request: on its target (raw_path/query as the client or the
 * sub-request named it), and — when httpd serves another path than that
 * target names (RewriteRule [PT], path_info after a file, an index file) —
 * on the served path as well; the stricter decision counts. */
static void evaluate(request_rec *r, const mg_mod_policy_t *mp, mg_mod_memo_t *m,
                     const char *raw_path, const char *query)
{
    const char *served, *served_raw, *served_canon;
    mg_decision_t d2;

    if (mp->policy == NULL) {
        memset(&m->d, 0, sizeof(m->d));
        m->d.outcome = MG_OUTCOME_DENY;
        m->d.reason = MG_R_INTERNAL;
        m->d.status = HTTP_FORBIDDEN;
        m->d.detail = "the policy failed to load on a graceful reload";
        return;
    }
    decide(r, mp, raw_path, query, &m->d, &m->canon);
    if (m->d.outcome != MG_OUTCOME_ALLOW || m->canon == NULL)
        return;
    served = served_path(r);
    if (served == NULL)
        return;
    served_raw = ap_os_escape_path(r->pool, served, 1);
    /* the usual case: the same resource, decided already — byte for byte
     * (no second canonicalisation), else after canonicalising both */
    if ((r->args == query || (r->args && query && strcmp(r->args, query) == 0)) &&
        (strcmp(served_raw, raw_path) == 0 ||
         ((served_canon = canonical(r, mp, served_raw, r->args)) != NULL &&
          strcmp(served_canon, m->canon) == 0)))
        return;
    decide(r, mp, served_raw, r->args, &d2, &served_canon);
    if (!stricter(&m->d, &d2))
        return;
    m->d = d2;
    m->served = served_canon ? served_canon : served;
    m->d.detail = apr_psprintf(
        r->pool,
        "served URI %s differs from the request target %s and is decided more strictly%s%s; put "
        "Require media-guard on the public URL or give the served path its own rule",
        m->served, m->canon, d2.detail ? ": " : "", d2.detail ? d2.detail : "");
}

/* ------------------------------------------------------------------ */
/* decision -> HTTP                                                     */
/* ------------------------------------------------------------------ */

/* The custom message as the body of an error response: the text
 * HTML-escaped and sent as UTF-8 (policies are UTF-8), labelled
 * `text/html; charset=utf-8` by mg_mod_message_response() where httpd
 * would say ISO-8859-1. Bytes that are not valid UTF-8 become U+FFFD.
 * (ap_escape_html2's toasc works byte by byte, which would garble UTF-8.)
 *
 * ap_custom_response() stores a string that is a URL (ap_is_url: letters,
 * digits, '+', '-', '.' up to a ':', as in "Note: members only") or starts
 * with '/' as a redirect target, and prefixes anything else with the '"'
 * that marks text (ap_send_error_response skips it). So the body has no
 * '"' of its own (httpd would send it), and a body that would read as a URL
 * or a path gets its first character as a numeric reference: a browser
 * shows the same text, httpd sees no redirect. */
static const char *message_body(apr_pool_t *p, const char *msg)
{
    const unsigned char *s = (const unsigned char *)msg;
    size_t n = strlen(msg);
    char *out = apr_palloc(p, n * 10 + 1), *o = out;

    while (*s) {
        unsigned long cp;
        int len, i;
        if (*s < 0x80) {
            const char *e = *s == '<'   ? "&lt;"
                            : *s == '>' ? "&gt;"
                            : *s == '&' ? "&amp;"
                            : *s == '"' ? "&quot;"
                                        : NULL;
            if (e) {
                o = stpcpy(o, e);
            } else if (o == out && (*s == '/' || ap_is_url(msg))) {
                o += sprintf(o, "&#x%X;", (unsigned)*s);
            } else {
                *o++ = (char)*s;
            }
            s++;
            continue;
        }
        len = (*s & 0xE0) == 0xC0 ? 2 : (*s & 0xF0) == 0xE0 ? 3 : (*s & 0xF8) == 0xF0 ? 4 : 0;
        cp = len == 2 ? (*s & 0x1Fu) : len == 3 ? (*s & 0x0Fu) : (*s & 0x07u);
        for (i = 1; i < len; i++) {
            if ((s[i] & 0xC0) != 0x80)
                break;
            cp = (cp << 6) | (s[i] & 0x3Fu);
        }
        if (len == 0 || i < len || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
            (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) {
            o = stpcpy(o, "\xEF\xBF\xBD"); /* U+FFFD */
            s++;
            continue;
        }
        memcpy(o, s, (size_t)len);
        o += len;
        s += len;
    }
    *o = '\0';
    return out;
}

static int valid_deny_status(int s)
{
    return s >= 400 && s <= 599 && s != HTTP_UNAUTHORIZED &&
           s != HTTP_PROXY_AUTHENTICATION_REQUIRED;
}

static void deny_response(request_rec *r, mg_mod_req_t *rq, const mg_mod_memo_t *m)
{
    int status = m->d.status ? m->d.status : HTTP_FORBIDDEN;
    const char *page = (m->d.page && m->d.page[0] == '/') ? m->d.page : NULL;

    if (!valid_deny_status(status)) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "media-guard %s: deny status %d is not supported, sending 403", m->mp->name,
                      status);
        status = HTTP_FORBIDDEN;
    }
    if (status == HTTP_FORBIDDEN) {
        if (page)
            ap_custom_response(r, HTTP_FORBIDDEN, page);
        else if (m->d.message)
            mg_mod_message_response(r, HTTP_FORBIDDEN, message_body(r->pool, m->d.message));
        return;
    }
    /* Any other status: authz can only refuse with 403/401, so the 403 is
     * redirected internally to a request that mg_mod_deny_handler turns
     * into the configured status with the message or page. */
    rq->deny = m;
    rq->deny_uri = page ? page : MG_MOD_DENY_URI;
    rq->deny_is_page = page != NULL;
    ap_custom_response(r, HTTP_FORBIDDEN, rq->deny_uri);
}

/* An absolute URL for a local path, built from the virtual host's own
 * ServerName (and its scheme and port), never from the client's Host header
 * or an absolute-form target (ap_construct_url uses those under the default
 * UseCanonicalName Off): a shared cache that does not key on Host must not
 * be able to store a redirect to another site. Without a port in ServerName,
 * the port the connection arrived on. */
static const char *canonical_url(request_rec *r, const char *path)
{
    const char *host = r->server->server_hostname;
    apr_port_t port = r->server->port;
    const char *lb = "", *rb = "";

    if (host == NULL || *host == '\0')
        host = r->connection->local_ip;
    if (port == 0 && r->connection->local_addr != NULL)
        port = r->connection->local_addr->port;
    if (strchr(host, ':') != NULL && host[0] != '[') {
        lb = "["; /* an IPv6 literal */
        rb = "]";
    }
    if (port == 0 || ap_is_default_port(port, r))
        return apr_pstrcat(r->pool, ap_http_scheme(r), "://", lb, host, rb, path, NULL);
    return apr_psprintf(r->pool, "%s://%s%s%s:%u%s", ap_http_scheme(r), lb, host, rb,
                        (unsigned)port, path);
}

static authz_status map_decision(request_rec *r, mg_mod_req_t *rq, mg_mod_memo_t *m,
                                 const char **why)
{
    const char *url, *auth_type;

    switch (m->d.outcome) {
    case MG_OUTCOME_ALLOW:
        return AUTHZ_GRANTED;
    case MG_OUTCOME_LOGIN:
        auth_type = r->user == NULL ? ap_auth_type(r) : NULL;
        if (auth_type != NULL) {
            /* Basic and Digest are challenges the browser answers itself:
             * redirect to the login page unless credentials are on the way.
             * Any other AuthType (form, openid-connect, ...) may find a
             * session cookie, or runs its own login flow: let it
             * authenticate first, then we decide again with the user. */
            int challenge =
                strcasecmp(auth_type, "Basic") == 0 || strcasecmp(auth_type, "Digest") == 0;
            if (!challenge) {
                *why = "authenticating first (AuthType is not Basic or Digest)";
                return AUTHZ_DENIED_NO_USER;
            }
            if (apr_table_get(r->headers_in, "Authorization") != NULL) {
                *why = "credentials present, authenticating first";
                return AUTHZ_DENIED_NO_USER;
            }
        }
        url = m->d.location;
        if (url == NULL || *url == '\0') {
            *why = "no login location in the decision";
            return AUTHZ_DENIED;
        }
        /* ap_custom_response only redirects (302) for an absolute URL; a
         * local login path becomes one on this server. */
        if (url[0] == '/')
            url = canonical_url(r, url);
        if (!ap_is_url(url)) {
            *why = "login location is not a URL";
            return AUTHZ_DENIED;
        }
        ap_custom_response(r, HTTP_FORBIDDEN, url);
        return AUTHZ_DENIED;
    case MG_OUTCOME_AUTH:
        if (r->user == NULL && ap_auth_type(r) != NULL)
            return AUTHZ_DENIED_NO_USER;
        *why = r->user ? "authentication needed but a user is already set"
                       : "authentication needed but no AuthType is configured here";
        return AUTHZ_DENIED;
    case MG_OUTCOME_DENY:
    default:
        /* a broken token where access may allow the user (token:
         * alternative): authenticate when credentials are on the way (or
         * the AuthType finds its own), then decide again with the user, as
         * `mgctl explain --user` does. Without credentials the refusal
         * stands: no password prompt for a bad link. */
        if (m->d.user_may_allow && r->user == NULL && (auth_type = ap_auth_type(r)) != NULL &&
            ((strcasecmp(auth_type, "Basic") != 0 && strcasecmp(auth_type, "Digest") != 0) ||
             apr_table_get(r->headers_in, "Authorization") != NULL)) {
            *why = "token not valid, but access may allow the user: authenticating first";
            return AUTHZ_DENIED_NO_USER;
        }
        if (m->d.reason == MG_R_INTERNAL) {
            /* an error, not a refusal: httpd answers 500 whatever the
             * composition, and `Require not` cannot make it a grant */
            *why = "internal error";
            return AUTHZ_GENERAL_ERROR;
        }
        deny_response(r, rq, m);
        return AUTHZ_DENIED;
    }
}

#define MG_MOD_REFUSAL_CACHE_CONTROL "private, no-store"
#define MG_MOD_REFUSAL_CC 1     /* rq->refusal_headers: Cache-Control set */
#define MG_MOD_REFUSAL_CORP 2   /* Cross-Origin-Resource-Policy set */
#define MG_MOD_REFUSAL_REASON 4 /* X-Media-Guard-Reason set (MediaGuardReasonHeader) */

/* Headers of every refusal (deny with any status or page, login redirect,
 * authentication, internal error), in err_headers_out: the only table an
 * error response keeps, and shared with the internal redirect to the deny
 * handler or page. Cache-Control because a refusal depends on who asks, and
 * a shared cache may keep a 404 or 410 without being told (RFC 9111
 * 4.2.2); the owning rule's Cross-Origin-Resource-Policy because it belongs
 * to every decision of the rule (docs/policy.md), as on allowed responses
 * (mg_mod_headers.c). A grant of the same request takes them out again:
 * the allowed response gets its own headers from the output filter. */
static void refusal_headers(request_rec *r, const mg_mod_memo_t *m)
{
    mg_mod_req_t *rq = mg_mod_req_get(r, 1);

    if (m->d.outcome == MG_OUTCOME_ALLOW) {
        mg_mod_drop_refusal_headers(r);
        return;
    }
    apr_table_setn(r->err_headers_out, "Cache-Control", MG_MOD_REFUSAL_CACHE_CONTROL);
    rq->refusal_headers |= MG_MOD_REFUSAL_CC;
    if (m->d.corp) {
        apr_table_setn(r->err_headers_out, "Cross-Origin-Resource-Policy", m->d.corp);
        rq->refusal_headers |= MG_MOD_REFUSAL_CORP;
    }
}

void mg_mod_drop_refusal_headers(request_rec *r)
{
    mg_mod_req_t *rq = mg_mod_req_get(r, 0);

    if (rq == NULL || !rq->refusal_headers)
        return;
    /* only what a refusal put there */
    if (rq->refusal_headers & MG_MOD_REFUSAL_CC)
        apr_table_unset(r->err_headers_out, "Cache-Control");
    if (rq->refusal_headers & MG_MOD_REFUSAL_CORP)
        apr_table_unset(r->err_headers_out, "Cross-Origin-Resource-Policy");
    /* the refusal's reason is not the answer the user gets */
    if (rq->refusal_headers & MG_MOD_REFUSAL_REASON)
        apr_table_unset(r->err_headers_out, MG_MOD_REASON_HEADER);
    rq->refusal_headers = 0;
}

static void record(request_rec *r, const mg_mod_memo_t *m, const char *why, int negated)
{
    const char *outcome = mg_outcome_name(m->d.outcome);
    const char *reason = mg_reason_name(m->d.reason);
    const char *rule = m->d.rule_id ? m->d.rule_id : "-";
    mg_mod_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &media_guard_module);
    /* an internal error (a provider or the country database failing) is
     * not a refusal to count but a fault to fix: visible at the default level */
    int level = m->d.outcome == MG_OUTCOME_ALLOW ? APLOG_DEBUG
                : m->d.reason == MG_R_INTERNAL   ? APLOG_ERR
                                                 : APLOG_INFO;

    /* tell operators when decisions come from a policy whose file was
     * refused on the last reload */
    if (m->mp->stale)
        why = why ? apr_pstrcat(r->pool, why, "; ", MG_MOD_STALE_NOTE, NULL) : MG_MOD_STALE_NOTE;
    outcome = outcome ? outcome : "deny";
    reason = reason ? reason : "internal-error";
    apr_table_setn(r->notes, "MG_DECISION", outcome);
    apr_table_setn(r->notes, "MG_REASON", reason);
    apr_table_setn(r->notes, "MG_RULE", rule);
    apr_table_setn(r->notes, "MG_POLICY", m->mp->name);
    apr_table_setn(r->subprocess_env, "MG_DECISION", outcome);
    apr_table_setn(r->subprocess_env, "MG_REASON", reason);
    apr_table_setn(r->subprocess_env, "MG_RULE", rule);
    apr_table_setn(r->subprocess_env, "MG_POLICY", m->mp->name);
    mg_mod_metrics_count(m->mp, m->d.outcome, m->d.reason);

    if (!negated)
        refusal_headers(r, m);
    if (dc && dc->reason_header == 1 && !negated) {
        if (m->d.outcome == MG_OUTCOME_ALLOW)
            apr_table_unset(r->err_headers_out, MG_MOD_REASON_HEADER);
        else {
            apr_table_setn(r->err_headers_out, MG_MOD_REASON_HEADER, reason);
            mg_mod_req_get(r, 1)->refusal_headers |= MG_MOD_REFUSAL_REASON;
        }
    }

    /* The canonical path and the evaluator's sentence only: never the
     * query, which may carry a token. */
    if (APLOG_R_IS_LEVEL(r, level))
        ap_log_rerror(APLOG_MARK, level, 0, r,
                      "media-guard policy=%s decision=%s reason=%s rule=%s user=%s path=%s%s%s%s%s",
                      m->mp->name, outcome, reason, ap_escape_logitem(r->pool, rule),
                      r->user ? ap_escape_logitem(r->pool, r->user) : "-",
                      m->canon ? ap_escape_logitem(r->pool, m->canon) : "(refused)",
                      m->d.detail ? " detail=\"" : "",
                      m->d.detail ? ap_escape_logitem(r->pool, m->d.detail) : "",
                      m->d.detail ? "\"" : "",
                      why ? apr_pstrcat(r->pool, " (", why, ")", NULL) : "");
}

/* authz_core logs every refusal as "AH01630: client denied by server
 * configuration: <r->filename>" at level error, and for a proxied request
 * (ProxyPass ... nocanon, a forward proxy, RewriteRule [P]) r->filename is
 * "proxy:" + the origin URL with the query — a signed link's mg_sig in the
 * error log. Hold it without the query while authorization runs: nothing
 * in authn/authz needs a proxy URL's query (mod_proxy reads r->filename in
 * its fixup and handler, after mg_mod_restore_filename), an ErrorDocument
 * or our login redirect is a new request or a Location header, and the
 * access log's %f then shows the name without the token. */
static void hide_proxy_query(request_rec *r, mg_mod_req_t *rq)
{
    const char *q;
    if (rq->proxy_filename != NULL || r->filename == NULL ||
        strncmp(r->filename, "proxy:", 6) != 0 || (q = strchr(r->filename, '?')) == NULL)
        return;
    rq->proxy_filename = r->filename;
    rq->proxy_shown = apr_pstrmemdup(r->pool, r->filename, (apr_size_t)(q - r->filename));
    r->filename = (char *)rq->proxy_shown;
}

/* The first hook after authorization that the request reaches when it was
 * granted (type_checker; fixups as well, in case a module answered the
 * type first): the proxy URL back, unless someone else changed it since. */
int mg_mod_restore_filename(request_rec *r)
{
    mg_mod_req_t *rq = mg_mod_req_get(r, 0);
    if (rq != NULL && rq->proxy_filename != NULL) {
        if (r->filename == rq->proxy_shown)
            r->filename = (char *)rq->proxy_filename;
        rq->proxy_filename = rq->proxy_shown = NULL;
    }
    return DECLINED;
}

static authz_status check_authorization(request_rec *r, const char *line, const void *parsed)
{
    const mg_mod_require_t *req = parsed;
    const mg_mod_policy_t *mp = req ? req->mp : NULL;
    mg_mod_req_t *rq;
    mg_mod_memo_t *m;
    const char *why = NULL, *raw_path, *query;
    int fresh = 0;

    if (mp == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "media-guard: Require media-guard %s has no policy; internal error", line);
        return AUTHZ_GENERAL_ERROR;
    }
    rq = mg_mod_req_get(r, 1);
    hide_proxy_query(r, rq);
    for (m = rq->memos; m != NULL; m = m->next) {
        if (m->mp == mp &&
            (m->user == r->user || (m->user && r->user && strcmp(m->user, r->user) == 0)))
            break;
    }
    if (m == NULL) {
        m = apr_pcalloc(r->pool, sizeof(*m));
        m->mp = mp;
        m->user = r->user;
        if (file_subreq_path(r, &raw_path) != 0)
            query = NULL; /* a file has no query ("" when no URL: bad-url) */
        else
            split_target(r->pool, r->unparsed_uri, &raw_path, &query);
        evaluate(r, mp, m, raw_path, query);
        m->next = rq->memos;
        rq->memos = m;
        fresh = 1;
    }
    if (req->negated) {
        /* no side effects: a grant counts against, a refusal is neutral */
        if (fresh)
            record(r, m, "under a negation", 1);
        if (m->d.outcome == MG_OUTCOME_ALLOW)
            return AUTHZ_GRANTED;
        /* an error must stay an error: negated, a refusal becomes neutral */
        return m->d.reason == MG_R_INTERNAL ? AUTHZ_GENERAL_ERROR : AUTHZ_DENIED;
    }
    if (!m->mapped) {
        /* a use of a one-time link is spent only where a grant can count
         * (not under a negation), once per request */
        mg_mod_once_apply(r, m);
        m->result = map_decision(r, rq, m, &why);
        m->mapped = 1;
        record(r, m, why, 0);
    }
    return m->result;
}

const authz_provider mg_mod_authz_provider = {
    &check_authorization,
    &parse_require,
};

/* ------------------------------------------------------------------ */
/* internal requests that inherit a decision                            */
/* ------------------------------------------------------------------ */

/* The request whose authorization r inherits: httpd runs no authn/authz
 * for an internal redirect or a sub-request whose per-dir config is its
 * predecessor's (request.c, AP_AUTH_INTERNAL_PER_CONF), and copies r->user
 * from it. NULL when authorization ran for r itself. */
static request_rec *inherited_from(request_rec *r)
{
    if (r->prev != NULL && r->prev->per_dir_config == r->per_dir_config)
        return r->prev;
    if (r->main != NULL && r->main->per_dir_config == r->per_dir_config)
        return r->main;
    return NULL;
}

/* The inherited decision was taken before authentication (an anonymous
 * grant makes mod_authz_core skip it), but this URL needs a user: run the
 * configured authentication for it when the client sent credentials. */
static int authenticate(request_rec *r)
{
    if (r->user != NULL || ap_auth_type(r) == NULL ||
        apr_table_get(r->headers_in, "Authorization") == NULL)
        return 0;
    return ap_run_check_user_id(r) == OK && r->user != NULL;
}

static int same_user(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* For a file sub-request, whose per-dir config need not be its parent's:
 * the nearest request up the r->main chain (or an internal redirect's
 * predecessor on the way) that media-guard judged. */
static request_rec *judged_ancestor(request_rec *r, mg_mod_req_t **qrq)
{
    request_rec *m, *q;

    for (m = r->main; m != NULL; m = m->main)
        for (q = m; q != NULL; q = q->prev) {
            *qrq = mg_mod_req_get(q, 0);
            if (*qrq != NULL && (*qrq)->memos != NULL)
                return q;
        }
    return NULL;
}

/* fixups (first): a sub-request or internal redirect to another URL under
 * the same configuration — mod_dir's DirectoryIndex lookup, an
 * ErrorDocument, a MultiViews variant, an SSI include — would be served on
 * the strength of a decision taken for a different URL. Judge its own URL
 * with every policy that granted the request it inherits from, and refuse
 * it unless each allows at least the same level (the response headers of a
 * sub-request served through ap_internal_fast_redirect are the parent's).
 * A refused index makes mod_dir try the next one. */
int mg_mod_recheck_fixup(request_rec *r)
{
    request_rec *q = r;
    mg_mod_req_t *rq, *qrq = NULL, *prq;
    const mg_mod_memo_t *m;
    const char *raw_path, *query, *why;
    int file_sub;

    if (r->main == NULL && r->prev == NULL)
        return DECLINED;
    rq = mg_mod_req_get(r, 0);
    if (rq != NULL && rq->memos != NULL)
        return DECLINED; /* authorization ran for this very URL */
    file_sub = file_subreq_path(r, &raw_path);
    if (file_sub != 0) {
        q = judged_ancestor(r, &qrq);
    } else {
        while ((q = inherited_from(q)) != NULL) {
            qrq = mg_mod_req_get(q, 0);
            if (qrq != NULL && qrq->memos != NULL)
                break;
        }
    }
    if (q == NULL)
        return DECLINED; /* no media-guard decision is inherited */
    /* the body of our own refusal (deny status, deny.page) */
    prq = r->prev ? mg_mod_req_get(r->prev, 0) : NULL;
    if (prq != NULL && prq->deny != NULL && r->unparsed_uri != NULL &&
        strcmp(r->unparsed_uri, prq->deny_uri) == 0)
        return DECLINED;

    if (file_sub != 0) {
        query = NULL; /* raw_path: the file's URL, or "" (bad-url) */
    } else if (r->unparsed_uri != NULL &&
               (q->unparsed_uri == NULL || strcmp(r->unparsed_uri, q->unparsed_uri) != 0)) {
        split_target(r->pool, r->unparsed_uri, &raw_path, &query);
    } else if (r->uri != NULL && r->uri[0] == '/') {
        raw_path = ap_os_escape_path(r->pool, r->uri, 1);
        query = r->args;
    } else {
        raw_path = "";
        query = NULL; /* refused by libmg: bad-url */
    }
    why = apr_psprintf(r->pool, "%s of %s, judged on its own URL",
                       file_sub  ? "file sub-request"
                       : r->main ? "sub-request"
                                 : "internal redirect",
                       ap_escape_logitem(r->pool, q->uri ? q->uri : "-"));

    for (m = qrq->memos; m != NULL; m = m->next) {
        mg_mod_memo_t *nm;
        if (m->d.outcome != MG_OUTCOME_ALLOW || !m->mapped || !same_user(m->user, r->user))
            continue; /* only grants that counted, for this user */
        if (rq == NULL)
            rq = mg_mod_req_get(r, 1);
        nm = apr_pcalloc(r->pool, sizeof(*nm));
        nm->mp = m->mp;
        nm->user = r->user;
        evaluate(r, m->mp, nm, raw_path, query);
        if ((nm->d.outcome == MG_OUTCOME_AUTH || nm->d.outcome == MG_OUTCOME_LOGIN) &&
            authenticate(r)) {
            nm->user = r->user;
            evaluate(r, m->mp, nm, raw_path, query);
        }
        mg_mod_once_apply(r, nm);
        nm->next = rq->memos;
        rq->memos = nm;
        nm->mapped = 1;
        if (nm->d.outcome == MG_OUTCOME_ALLOW && r->main != NULL && nm->d.access < m->d.access) {
            nm->d.outcome = MG_OUTCOME_DENY;
            nm->d.reason = MG_R_DOWNLOAD;
            nm->d.detail = "allowed at a lower access level than the URL it is served for";
        }
        if (nm->d.outcome != MG_OUTCOME_ALLOW) {
            nm->result = nm->d.reason == MG_R_INTERNAL ? AUTHZ_GENERAL_ERROR : AUTHZ_DENIED;
            record(r, nm, why, 0);
            return nm->d.reason == MG_R_INTERNAL ? HTTP_INTERNAL_SERVER_ERROR : HTTP_FORBIDDEN;
        }
        nm->result = AUTHZ_GRANTED;
        record(r, nm, why, 0);
    }
    return DECLINED;
}

/* ------------------------------------------------------------------ */
/* deny with a status other than 403                                    */
/* ------------------------------------------------------------------ */

/* quick_handler: runs first for every request, declines at once unless
 * this is the internal redirect our own deny asked for. */
int mg_mod_deny_handler(request_rec *r, int lookup_uri)
{
    mg_mod_req_t *prq;
    const mg_mod_memo_t *m;
    int status;

    if (lookup_uri || r->prev == NULL || r->main != NULL)
        return DECLINED;
    prq = mg_mod_req_get(r->prev, 0);
    if (prq == NULL || prq->deny == NULL || r->prev->status != HTTP_FORBIDDEN ||
        r->unparsed_uri == NULL || strcmp(r->unparsed_uri, prq->deny_uri) != 0)
        return DECLINED;
    m = prq->deny;
    status = m->d.status;

    if (prq->deny_is_page) {
        /* deny.page: serve the page normally, with the configured status */
        r->status = status;
        return DECLINED;
    }
    r->status = status;
    r->status_line = NULL;
    if (m->d.message)
        mg_mod_message_response(r, status, message_body(r->pool, m->d.message));
    ap_send_error_response(r, 0);
    return DONE;
}
