/* mg_mod_skipped.c — `Satisfy Any` must not skip `Require media-guard`.
 *
 * With mod_access_compat (enabled by Debian's default configuration), a
 * `Satisfy Any` anywhere in a request's merged configuration makes httpd
 * skip authentication and authorization altogether once the host-based
 * check passes — and with no `Order`/`Allow`/`Deny` it passes for every
 * client (ap_process_request_internal, SATISFY_ANY). No authz provider is
 * asked, so a `Require media-guard` in a <Location> over the media was
 * silently void: the protected file was a 200, and `apache2 -t` said
 * Syntax OK.
 *
 * parse_require (mg_mod_authz.c) marks the section of every `Require [not]
 * media-guard` as guarded (mg_mod_mark_guarded); the mark is inherited by
 * the sections merged below it. A check_access_ex hook that runs first notes
 * that the authorization phase started; in the fixups, a guarded request for
 * which it never started (and that does not inherit a decision: those are
 * mg_mod_recheck.c's) gets the phases httpd skipped, run now exactly as
 * httpd runs them without `Satisfy Any`: access_checker_ex, then, when that
 * declines, check_user_id and auth_checker. So the configured Require lines
 * decide — ours with the rest, in their <RequireAny>/<RequireAll> — and a
 * refusal is the same 401, 403, login redirect or deny page as always.
 * `Satisfy Any` still lets a host-based `Allow` open a section that has no
 * `Require media-guard` above it.
 */
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

void mg_mod_mark_guarded(cmd_parms *cmd)
{
    mg_mod_dir_conf_t *dc;

    if (cmd->context == NULL)
        return;
    /* this section's (or .htaccess file's) config of ours, made if absent */
    dc =
        ap_set_config_vectors(cmd->server, cmd->context, cmd->path, &media_guard_module, cmd->pool);
    if (dc != NULL)
        dc->guarded = 1;
}

static int guarded(request_rec *r)
{
    const mg_mod_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &media_guard_module);
    return dc != NULL && dc->guarded == 1;
}

/* check_access_ex, first: httpd runs it for every request whose
 * authorization is not skipped (Satisfy All, or Satisfy Any with a failing
 * host check). Declines always. */
static int note_authz_ran(request_rec *r)
{
    if (guarded(r))
        mg_mod_req_make(r)->authz_ran = 1;
    return DECLINED;
}

/* fixups, first: the phases httpd skipped, for a guarded request */
static int run_skipped_authz(request_rec *r)
{
    const mg_mod_req_t *rq;
    int st;

    if (!guarded(r))
        return DECLINED;
    /* an internal redirect or sub-request under its predecessor's config
     * inherits that decision: mg_mod_recheck_fixup judges it */
    if ((r->prev != NULL && r->prev->per_dir_config == r->per_dir_config) ||
        (r->main != NULL && r->main->per_dir_config == r->per_dir_config))
        return DECLINED;
    rq = mg_mod_req_peek(r);
    if (rq != NULL && (rq->authz_ran || rq->memos != NULL))
        return DECLINED;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  MG_LOGNO(01101) "media-guard: authorization was skipped for %s ('Satisfy Any' "
                                  "with a passing host-based check): Require media-guard was never "
                                  "asked; running authorization now (remove the Satisfy Any)",
                  ap_escape_logitem(r->pool, r->uri ? r->uri : "-"));
    st = ap_run_access_checker_ex(r);
    if (st == OK)
        return DECLINED;
    if (st != DECLINED)
        return st;
    /* as ap_process_request_internal: a phase that declines is a
     * configuration error (decl_die), and so is an authn module that
     * succeeds without a user */
    st = ap_run_check_user_id(r);
    if (st == OK && r->user == NULL)
        st = HTTP_INTERNAL_SERVER_ERROR;
    if (st == OK)
        st = ap_run_auth_checker(r);
    if (st == OK)
        return DECLINED;
    return st == DECLINED ? HTTP_INTERNAL_SERVER_ERROR : st;
}

void mg_mod_skipped_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_check_access_ex(note_authz_ran, NULL, NULL, APR_HOOK_REALLY_FIRST,
                            AP_AUTH_INTERNAL_PER_CONF);
    /* before mg_mod_recheck_fixup and every other fixup (mod_rewrite's
     * per-directory rules, mod_negotiation, mod_dir) acts on the request */
    ap_hook_fixups(run_skipped_authz, NULL, NULL, APR_HOOK_REALLY_FIRST - 1);
}
