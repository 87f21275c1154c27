/* mg_mod_cache.c — what mod_cache must never store.
 *
 * mod_cache stores a response when its headers allow it, and serves it to
 * the next request with the same key. The module marks answers that depend
 * on who asks `Cache-Control: private` (mg_mod_headers.c), but an admin may
 * tell mod_cache to store them anyway (CacheStorePrivate, CacheStoreNoStore)
 * and to leave the query, where tokens live, out of the key
 * (CacheIgnoreQueryString). Two kinds of answer must still never be stored:
 *
 * - with CacheQuickHandler On (mod_cache's default) a stored answer is
 *   served before authorization runs, so an answer that depends on who asks
 *   would reach clients the policy refuses;
 * - a playlist under MediaGuardHLSRewrite: rewritten, it carries the token
 *   of the viewer it was rewritten for; stored as it came, it would be
 *   served without the rewrite (a cache hit skips the filters before the
 *   cache's own). A playlist is small; the origin is asked each time.
 *
 * The environment variable no-cache is mod_cache's documented "do not store
 * this" (httpd's env.html), read by its CACHE_SAVE filter on the response's
 * first brigade, which comes after ours. Not r->no_cache: with it httpd's
 * header filter also sends `Expires: <now>` to every client and cache.
 * (Refusals are never stored: an error response is sent without the
 * content filters, CACHE_SAVE among them.)
 */
#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "util_filter.h"

#include <apr_tables.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

/* mod_cache's save filters, found once per configuration (NULL without
 * mod_cache): compared by address on the request's filter chain. */
static ap_filter_rec_t *cache_save, *cache_save_subreq;

static int find_cache_filters(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    (void)pconf;
    (void)plog;
    (void)ptemp;
    (void)s;
    /* every module registered its filters in register_hooks; a reload
     * without mod_cache finds none */
    cache_save = ap_get_output_filter_handle("CACHE_SAVE");
    cache_save_subreq = ap_get_output_filter_handle("CACHE_SAVE_SUBREQ");
    return OK;
}

int mg_mod_cache_loaded(void)
{
    return cache_save != NULL || cache_save_subreq != NULL;
}

int mg_mod_cache_stores_before_authz(const request_rec *r)
{
    const ap_filter_t *f;

    if (!mg_mod_cache_loaded())
        return 0;
    /* The quick handler adds its save filter before authorization, and
     * serves the stored answer from there next time. With CacheQuickHandler
     * Off the save filter is added by mod_cache's handler, after
     * insert_filter, and a stored answer is served only to requests the
     * policy has allowed. */
    for (f = r->output_filters; f != NULL; f = f->next)
        if (f->frec == cache_save || f->frec == cache_save_subreq)
            return 1;
    return 0;
}

void mg_mod_cache_keep_out(request_rec *r, const char *why)
{
    /* without mod_cache there is no one to tell (and no line to log) */
    if (!mg_mod_cache_loaded() || apr_table_get(r->subprocess_env, "no-cache") != NULL)
        return;
    apr_table_setn(r->subprocess_env, "no-cache", "1");
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  MG_LOGNO(01201) "media-guard: not to be stored by mod_cache: %s", why);
}

void mg_mod_cache_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_post_config(find_cache_filters, NULL, NULL, APR_HOOK_MIDDLE);
}
