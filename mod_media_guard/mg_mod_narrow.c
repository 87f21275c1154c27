/* mg_mod_narrow.c — the configtest check of narrow <Location> sections.
 *
 * httpd matches <Location> against r->uri, which keeps ';' parameters and
 * 'tr:' segments, while the policy judges the canonical path without them:
 * a `Require media-guard` in a <Location> narrower than its policy's rules
 * can be skipped by another spelling of the same URL. parse_require (in
 * mg_mod_authz.c) notes every such Require with mg_mod_note_location while
 * `apache2 -t` reads the configuration; mg_mod_warn_narrow_locations (the
 * test_config hook) judges them once all sections are known, since whether
 * one is too narrow depends on the others, in any order. Only `apache2 -t`
 * does this work; a running server never does.
 */
#include <string.h>

#include "mg_ascii.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"

#include <apr_strings.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

/* The <Location> or <LocationMatch> section around a Require line, or NULL.
 * *path is its path (a regular expression when *regex). */
static const ap_directive_t *location_section(const ap_directive_t *d, apr_pool_t *p,
                                              const char **path, int *regex)
{
    for (d = d ? d->parent : NULL; d != NULL; d = d->parent) {
        const char *args, *end;
        int match = apr_cstr_casecmp(d->directive, "<LocationMatch") == 0;
        if (!match && apr_cstr_casecmp(d->directive, "<Location") != 0)
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

void mg_mod_note_location(cmd_parms *cmd, const mg_mod_policy_t *mp, int negated)
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
        const char *where = NULL, *rule_id = NULL;

        if (reach->base == NULL || (reach->whole && strcmp(reach->base, "/") == 0) ||
            apr_hash_get(warned, &site->sec, sizeof(site->sec)) != NULL)
            continue;
        /* a rule of the policy judges URLs above the section's directory */
        if (!mg_policy_rule_above(pconf, site->mp->policy, reach->base, !reach->whole, &rule_id,
                                  &where) ||
            covered_elsewhere(pconf, site, sites))
            continue;
        apr_hash_set(warned, &site->sec, sizeof(site->sec), site);
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, site->server,
                     MG_LOGNO(00251) "Require media-guard %s on line %d of %s guards only <%s "
                                     "\"%s\">, but the policy's rule '%s' (%s) judges URLs "
                                     "outside it. httpd matches the section against the URL as "
                                     "sent, while the policy removes ';' parameters and 'tr:' "
                                     "segments first, so %s; where such URLs reach a proxied "
                                     "origin, an image server or an application, it may serve "
                                     "the media. Put Require media-guard on the whole URL space "
                                     "that reaches the media (<Location \"/\"> or the parent "
                                     "prefix) and let the policy's rules decide what is public "
                                     "(docs/directives.md, \"What the policy judges\")",
                     site->mp->name, site->line, site->file, site->sec_name, site->path,
                     ap_escape_logitem(pconf, rule_id), ap_escape_logitem(pconf, where),
                     skipping_spellings(pconf, reach));
    }
    (void)s;
}

/* `Require media-guard` inside <Limit METHODS> or <LimitExcept METHODS>
 * applies to some methods only, and the others are not asked: httpd's
 * default handler serves a static file to POST as to GET, and a proxy
 * forwards any method. (httpd's own documentation advises against <Limit>
 * for access control.) Said once per line at `apache2 -t`. */
void mg_mod_warn_limit(cmd_parms *cmd, const mg_mod_policy_t *mp)
{
    const ap_directive_t *d;

    if (ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_CONFIG_TEST || cmd->directive == NULL)
        return;
    for (d = cmd->directive->parent; d != NULL; d = d->parent) {
        const char *args, *end;
        if (apr_cstr_casecmp(d->directive, "<Limit") != 0 &&
            apr_cstr_casecmp(d->directive, "<LimitExcept") != 0)
            continue;
        args = d->args ? d->args : "";
        end = strrchr(args, '>');
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server,
                     MG_LOGNO(00252) "Require media-guard %s on line %d of %s is inside %s %.*s>: "
                                     "requests with other methods never ask the policy, and "
                                     "httpd serves a static file to POST as to GET (a proxy "
                                     "forwards any method). Put Require media-guard outside "
                                     "<Limit>/<LimitExcept>; the policy's rules may restrict "
                                     "methods themselves",
                     mp->name, cmd->directive->line_num, cmd->directive->filename, d->directive,
                     (int)(end ? end - args : (long)strlen(args)), args);
        return;
    }
}
