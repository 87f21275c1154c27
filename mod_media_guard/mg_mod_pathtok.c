/* mg_mod_pathtok.c — foreign signed links whose token lives in the URL
 * path (lighttpd mod_secdownload, nginx secure_link_secret, Bunny's path
 * form; lib/mg_fmt.h, mg_fmt_path_t).
 *
 * translate_name, before every other module: when the request path has a
 * path token of a key of a policy this server declares, r->uri becomes the
 * canonical effective path libmg decides on — the path without the token
 * segments ("/dl/<mac>/<ts>/a/x.jpg" -> "/dl/a/x.jpg"). Alias, the
 * document root, <Location> and <Directory> then see the very path the
 * token covers, so what httpd serves is the covered file by construction,
 * not by an admin's regular expression that must agree with libmg's
 * parser. r->unparsed_uri is left alone: authorization reads the token
 * from it, strips it with the same function, and evaluate()'s served-path
 * check (mg_mod_authz.c) refuses a request whose r->uri another module
 * changed afterwards. A path libmg refuses (a token whose path leaves its
 * prefix, bad encodings) is not rewritten: authorization denies it
 * (bad-url). docs/token-formats.md, "Tokens in the path", says why this
 * and not an AliasMatch.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"

#include <apr_hash.h>
#include <apr_strings.h>

#include "mg_http.h"
#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

/* post_config: which servers declare a policy with path tokens. Every other
 * request leaves translate_name at once (splitting the target and walking
 * the policies cost ~740 instructions a request, open URLs included). A
 * flag left at 0 by mistake could only leave a token in r->uri, which
 * authorization then refuses; it cannot let a request through. */
static void note_path_tokens(void *ctx, server_rec *s, mg_mod_policy_t *mp)
{
    mg_mod_srv_conf_t *sc = ap_get_module_config(s->module_config, &media_guard_module);
    (void)ctx;
    if (mp->policy != NULL && mg_policy_has_path_tokens(mp->policy))
        sc->path_tokens = 1;
}

int mg_mod_path_token_scan(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    mg_mod_each_policy(s, ptemp, note_path_tokens, NULL);
    return OK;
}

int mg_mod_path_token_translate(request_rec *r)
{
    mg_mod_srv_conf_t *sc;
    apr_hash_index_t *hi;
    const char *raw, *found = NULL, *by = NULL;
    mg_target_t t;

    /* a forward proxy's target is not ours; sub-requests and internal
     * redirects to a URL with a token in it are mapped like the client's
     * own request, since authorization judges them on that URL too */
    if (r->proxyreq != PROXYREQ_NONE || r->unparsed_uri == NULL)
        return DECLINED;
    sc = ap_get_module_config(r->server->module_config, &media_guard_module);
    if (sc == NULL || sc->policies == NULL || !sc->path_tokens)
        return DECLINED;
    /* the target as authorization reads it (absolute-form too) */
    if (mg_target_split(r->pool, r->unparsed_uri, &t, NULL) != MG_OK || t.path[0] != '/')
        return DECLINED;
    raw = t.path;
    for (hi = apr_hash_first(r->pool, sc->policies); hi != NULL; hi = apr_hash_next(hi)) {
        const mg_mod_policy_t *mp = apr_hash_this_val(hi);
        const char *eff = mp->policy ? mg_path_token_effective(r->pool, mp->policy, raw) : NULL;

        if (eff == NULL)
            continue;
        if (found != NULL && strcmp(found, eff) != 0) {
            /* two policies read the path differently: serve neither
             * reading; authorization judges the path as sent */
            ap_log_rerror(
                APLOG_MARK, APLOG_WARNING, 0, r,
                MG_LOGNO(00901) "media-guard: policies %s and %s both read a token in this path, "
                                "with different paths; the path is left as sent",
                by, mp->name);
            return DECLINED;
        }
        found = eff;
        by = mp->name;
    }
    if (found != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      MG_LOGNO(00902) "media-guard %s: token in the path, serving %s", by,
                      ap_escape_logitem(r->pool, found));
        r->uri = apr_pstrdup(r->pool, found);
        /* /server-status shows the path without its token too */
        mg_mod_status_hide(r, r->uri);
    }
    return DECLINED;
}
