/* mg_mod_roles.c — roles from other Apache authz providers: the policy's
 * `identity.roles_from: [{apache: {ROLE: "PROVIDER ARGS"}}]` entries.
 *
 * A role is held when `Require PROVIDER ARGS` would pass, so the module does
 * for each entry what mod_authz_core does for a Require line: look the
 * provider up in the "authz" provider group and let it parse its arguments
 * once, at configuration time (where a missing module or a bad argument
 * refuses `apache2 -t` with the policy line), then call its
 * check_authorization at request time with that parsed data. The provider
 * reads its own per-directory configuration (AuthGroupFile, AuthLDAPURL,
 * AuthzDBDQuery, ...) from the request, so those directives belong in the
 * same <Location>/<Directory> as `Require media-guard`.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_provider.h"

#include <apr_strings.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

struct mg_mod_grant {
    const authz_provider *provider;
    const void *parsed; /* what parse_require_line made of the arguments */
};

/* Where an in-tree provider comes from, for the configtest message. */
static const char *module_of(const char *provider)
{
    static const char *const map[][2] = {
        {"group", "mod_authz_groupfile"},
        {"user", "mod_authz_user"},
        {"valid-user", "mod_authz_user"},
        {"ldap-group", "mod_authnz_ldap"},
        {"ldap-user", "mod_authnz_ldap"},
        {"ldap-dn", "mod_authnz_ldap"},
        {"ldap-attribute", "mod_authnz_ldap"},
        {"ldap-filter", "mod_authnz_ldap"},
        {"ldap-search", "mod_authnz_ldap"},
        {"dbd-group", "mod_authz_dbd"},
        {"dbm-group", "mod_authz_dbm"},
        {"file-group", "mod_authz_owner"},
        {"file-owner", "mod_authz_owner"},
        {"ip", "mod_authz_host"},
        {"host", "mod_authz_host"},
        {"forward-dns", "mod_authz_host"},
        {"local", "mod_authz_host"},
        {"env", "mod_authz_core"},
        {"all", "mod_authz_core"},
        {"method", "mod_authz_core"},
        {"expr", "mod_authz_core"},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(map[i][0], provider) == 0)
            return map[i][1];
    return NULL;
}

int mg_mod_bind_grants(cmd_parms *cmd, const mg_policy_t *policy, mg_mod_grant_t **out,
                       mg_diags_t *diags)
{
    int n = mg_policy_grant_count(policy);
    int bad = 0;
    mg_mod_grant_t *b;

    *out = NULL;
    if (n == 0)
        return 0;
    b = apr_pcalloc(cmd->pool, sizeof(*b) * (apr_size_t)n);
    for (int i = 0; i < n; i++) {
        mg_grant_view_t gv, *g = &gv;
        (void)mg_policy_grant(policy, i, g); /* i < n */
        const char *role = g->role;
        const authz_provider *prov =
            ap_lookup_provider(AUTHZ_PROVIDER_GROUP, g->provider, AUTHZ_PROVIDER_VERSION);
        if (prov == NULL || prov->check_authorization == NULL) {
            const char *mod = module_of(g->provider);
            mg_diag_add(diags, MG_SEV_ERROR, mg_policy_file(policy), g->line_no, g->col,
                        "unknown-provider",
                        "role %s: Apache has no authorization provider '%s' (Require %s); %s%s%s",
                        role, g->provider, g->line,
                        mod ? "load "
                            : "is the module that provides "
                              "it loaded",
                        mod ? mod : "", mod ? " (LoadModule before MediaGuardPolicy)" : "?");
            bad = 1;
            continue;
        }
        b[i].provider = prov;
        if (prov->parse_require_line != NULL) {
            const char *err;
            /* as mod_authz_core does: providers shared by several names
             * (mod_lua, mod_authnz_fcgi, <AuthzProviderAlias>) find theirs here */
            apr_pool_userdata_setn(g->provider, AUTHZ_PROVIDER_NAME_NOTE, apr_pool_cleanup_null,
                                   cmd->temp_pool);
            err = prov->parse_require_line(cmd, g->args, &b[i].parsed);
            apr_pool_userdata_setn(NULL, AUTHZ_PROVIDER_NAME_NOTE, apr_pool_cleanup_null,
                                   cmd->temp_pool);
            if (err != NULL) {
                mg_diag_add(diags, MG_SEV_ERROR, mg_policy_file(policy), g->line_no, g->col,
                            "bad-require", "role %s: 'Require %s' is refused by its provider: %s",
                            role, g->line, err);
                bad = 1;
            }
        }
    }
    if (!bad)
        *out = b;
    return bad ? -1 : 0;
}

typedef struct grant_ctx {
    request_rec *r;
    const mg_mod_policy_t *mp;
} grant_ctx_t;

static mg_grant_t grant_check(void *ctx, int index, const struct mg_role_grant *grant)
{
    grant_ctx_t *gc = ctx;
    request_rec *r = gc->r;
    const mg_mod_policy_t *mp = gc->mp;
    const mg_mod_grant_t *b;
    mg_grant_view_t gv, *g = &gv;
    char *user;
    authz_status st;

    if (mp->grants == NULL || index < 0 || index >= mp->ngrants ||
        mg_policy_grant(mp->policy, index, g) != 0) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            MG_LOGNO(00301) "media-guard %s: role source 'Require %s' is not bound to a provider",
            mp->name, mg_role_grant_line(grant));
        return MG_GRANT_ERROR;
    }
    b = &mp->grants[index];
    /* A user named "" is nobody (mg_request.c: not signed in), but not to
     * every provider: mod_auth_openidc's OIDCUnAuthAction pass lets a
     * visitor without a session through as "", and then `Require
     * valid-user` and its own `Require claim` grant that user. The
     * provider is asked as before authentication (no user), so such a role
     * is held by nobody-at-all never; a provider that needs no user (ip,
     * env, expr on the request) answers as before. */
    user = r->user;
    if (user != NULL && *user == '\0')
        r->user = NULL;
    apr_table_setn(r->notes, AUTHZ_PROVIDER_NAME_NOTE, g->provider);
    st = b->provider->check_authorization(r, g->args, b->parsed);
    apr_table_unset(r->notes, AUTHZ_PROVIDER_NAME_NOTE);
    r->user = user;
    switch (st) {
    case AUTHZ_GRANTED:
        return MG_GRANT_YES;
    case AUTHZ_DENIED:
    case AUTHZ_DENIED_NO_USER: /* no user yet: Apache authenticates if the rule needs one */
    case AUTHZ_NEUTRAL:
        return MG_GRANT_NO;
    case AUTHZ_GENERAL_ERROR:
    default:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      MG_LOGNO(00302) "media-guard %s: role %s: 'Require %s' failed "
                                      "(the provider reported an error); the request is denied",
                      mp->name, g->role, ap_escape_logitem(r->pool, g->line));
        return MG_GRANT_ERROR;
    }
}

void mg_mod_grants_attach(request_rec *r, const mg_mod_policy_t *mp, mg_request_t *req)
{
    grant_ctx_t *gc;
    if (mp->ngrants == 0)
        return;
    gc = apr_palloc(r->pool, sizeof(*gc));
    gc->r = r;
    gc->mp = mp;
    req->grant_check = grant_check;
    req->grant_ctx = gc;
}
