/* mod_media_guard.c — module record: directives and hooks.
 *
 * The work is done elsewhere: mg_mod_config.c (policies, reloads),
 * mg_mod_authz.c (`Require media-guard`), mg_mod_headers.c (response
 * headers), mg_mod_hls.c (HLS playlists), mg_mod_cache.c (what mod_cache
 * must not store) and libmg (every decision).
 * Directives are documented in docs/directives.md.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"
#include "mod_auth.h"

#include <apr_hash.h>

#include "mg_keys.h"
#include "mg_mod.h"

static const command_rec media_guard_cmds[] = {
    AP_INIT_TAKE2("MediaGuardPolicy", mg_mod_cmd_policy, NULL, RSRC_CONF,
                  "MediaGuardPolicy NAME FILE: load and compile a media-guard policy for "
                  "'Require media-guard NAME'"),
    AP_INIT_FLAG("MediaGuardReasonHeader", mg_mod_cmd_reason_header, NULL,
                 RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                 "On: send the decision's reason in an X-Media-Guard-Reason header when "
                 "media-guard does not allow (default Off)"),
    AP_INIT_TAKE12("MediaGuardExport", mg_mod_cmd_export, NULL,
                   RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                   "notes env|notes|env|none: where a decision's MG_DECISION, MG_REASON, "
                   "MG_RULE and MG_POLICY are set (default both: the request notes and the "
                   "environment)"),
    AP_INIT_TAKE1("MediaGuardReloadFailure", mg_mod_cmd_reload_failure, NULL, RSRC_CONF,
                  "keep|deny: on a graceful reload whose policy file is refused, keep serving "
                  "the last good version (default) or fail every request under it"),
    AP_INIT_FLAG("MediaGuardHLSRewrite", mg_mod_cmd_hls_rewrite, NULL,
                 RSRC_CONF | ACCESS_CONF | OR_AUTHCFG,
                 "On: append the viewer's prefix token to the URIs of HLS playlists it "
                 "covers (default Off)"),
    /* ACCESS_CONF and no override: never in .htaccess, where a user with
     * AllowOverride FileInfo could otherwise serve the server's metrics */
    AP_INIT_FLAG("MediaGuardMetrics", mg_mod_cmd_metrics, NULL, ACCESS_CONF,
                 "On: the media-guard-metrics handler may answer in this <Location> "
                 "(default Off: it refuses, wherever SetHandler puts it)"),
    AP_INIT_TAKE12("MediaGuardOnceCache", mg_mod_cmd_once_cache, NULL, RSRC_CONF,
                   "shmcb:PATH(SIZE) [lost_records=refuse|warn]: where uses of one-time and "
                   "N-use links (mg_uses) are counted on one server (several servers: "
                   "MediaGuardStore)"),
    AP_INIT_TAKE1("MediaGuardStore", mg_mod_cmd_store, NULL, RSRC_CONF,
                  "redis://HOST[:PORT][/DB][?OPTIONS] | memcache://HOST[:PORT][,...][?OPTIONS]: "
                  "the claim and revocation store shared by several servers"),
    {.name = NULL}}; /* designated: clang -Wextra accepts it as the terminator */

/* The first HMAC in a process costs millions of instructions (OpenSSL
 * fetches and initialises the algorithm): pay it here, once per child, for
 * every policy the configuration declares, not in the first request. */
static void warm_up(void *ctx, server_rec *s, mg_mod_policy_t *mp)
{
    apr_hash_t *seen = ctx;
    (void)s;
    if (mp->policy == NULL || apr_hash_get(seen, &mp->policy, sizeof(mp->policy)))
        return;
    apr_hash_set(seen, &mp->policy, sizeof(mp->policy), mp);
    mg_keys_warm_up(mp->policy);
}

static void child_init(apr_pool_t *p, server_rec *s)
{
    mg_mod_each_policy(s, p, warm_up, apr_hash_make(p));
}

#ifndef MG_VERSION
#error "MG_VERSION (configure.ac's version) is set by Makefile.am"
#endif

/* "mod_media_guard/1.0.0" in the Server header (ServerTokens Full) and in
 * the "... configured -- resuming normal operations" line httpd logs at
 * every start and reload: the version admins see, configure.ac's. */
static int add_version(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    ap_add_version_component(pconf, "mod_media_guard/" MG_VERSION);
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(add_version, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "media-guard", AUTHZ_PROVIDER_VERSION,
                              &mg_mod_authz_provider, AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_post_config(mg_mod_store_prune, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(mg_mod_log_load_warnings, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(mg_mod_apply_reload_failure, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(mg_mod_path_token_scan, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_test_config(mg_mod_warn_narrow_locations, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_test_config(mg_mod_warn_export_readers, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(mg_mod_deny_handler, NULL, NULL, APR_HOOK_FIRST);
    /* before mod_rewrite, mod_proxy and mod_alias map the path */
    ap_hook_translate_name(mg_mod_path_token_translate, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_type_checker(mg_mod_restore_filename, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(mg_mod_restore_filename, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_fixups(mg_mod_recheck_fixup, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_insert_filter(mg_mod_insert_filter, NULL, NULL, APR_HOOK_MIDDLE);
    mg_mod_register_filters();
    mg_mod_hls_register(p);
    mg_mod_metrics_register(p);
    mg_mod_once_register(p);
    mg_mod_skipped_register(p);
    mg_mod_cache_register(p);
    mg_mod_status_register(p);
    mg_mod_authz_register(p);
    mg_mod_ssl_register(p);
}

/* STANDARD20_MODULE_STUFF is several fields in one macro: keep one per line */
/* clang-format off */
AP_DECLARE_MODULE(media_guard) = {
    STANDARD20_MODULE_STUFF,
    mg_mod_create_dir_conf, /* per-directory config */
    mg_mod_merge_dir_conf,  /* merge per-directory */
    mg_mod_create_srv_conf, /* per-server config */
    mg_mod_merge_srv_conf,  /* merge per-server */
    media_guard_cmds,
    register_hooks,
    0                       /* flags */
};
/* clang-format on */
