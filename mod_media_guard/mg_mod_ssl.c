/* mg_mod_ssl.c — mod_ssl's variables at authorization time.
 *
 * A policy may take roles (or a country) from an environment variable such
 * as SSL_CLIENT_S_DN_OU, the organisational unit of a client certificate.
 * mod_ssl puts its SSL_* variables in r->subprocess_env only in its fixups
 * hook (SSLOptions +StdEnvVars), after authorization: read from there, the
 * variable is missing when the module decides, and present only in a
 * sub-request made after the parent's fixups (a copy of its table). So on
 * a connection that mod_ssl serves, the module asks mod_ssl itself
 * (ssl_var_lookup, the optional function mod_rewrite and ap_expr use) for
 * every SSL_* name, and never believes the table for them.
 *
 * A client certificate's fields count only when mod_ssl verified the
 * certificate (SSL_CLIENT_VERIFY is SUCCESS): under `SSLVerifyClient
 * optional_no_ca` a certificate anyone made themselves, with any subject,
 * gets through the handshake (FAILED:...), and mod_ssl says GENEROUS of one
 * checked against another virtual host's CA (`optional` on a name-based
 * host reached without SNI); it still gives their fields. Such a request
 * gets no value (no role, no country), logged once per child as MG00208.
 * On a connection without mod_ssl (a TLS front that sets the variables
 * from its own headers, SetEnvIf) the table is read as before.
 */
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_ssl.h"

#include <apr_atomic.h>
#include <apr_cstr.h>
#include <apr_optional.h>
#include <apr_strings.h>

#include "mg_mod.h"

APLOG_USE_MODULE(media_guard);

typedef APR_OPTIONAL_FN_TYPE(ssl_var_lookup) var_lookup_fn;
typedef APR_OPTIONAL_FN_TYPE(ssl_is_https) is_https_fn;
static var_lookup_fn *var_lookup;
static is_https_fn *is_https;

/* Set by the first refusal of an unverified certificate in this child. */
static volatile apr_uint32_t unverified_said;

static void retrieve(void)
{
    var_lookup = APR_RETRIEVE_OPTIONAL_FN(ssl_var_lookup);
    is_https = APR_RETRIEVE_OPTIONAL_FN(ssl_is_https);
}

static const char *ask(request_rec *r, const char *name)
{
    /* mod_ssl's prototype takes a char *; it does not write to it */
    return var_lookup(r->pool, r->server, r->connection, r, apr_pstrdup(r->pool, name));
}

const char *mg_mod_ssl_env(request_rec *r, const char *name)
{
    const char *v;

    /* mod_ssl and the table compare names without regard to case: so do we,
     * or ssl_Client_S_DN_OU would be a client certificate's field that no
     * verification guards */
    if (apr_cstr_casecmpn(name, "SSL_", 4) != 0 || var_lookup == NULL || is_https == NULL ||
        !is_https(r->connection))
        return apr_table_get(r->subprocess_env, name);
    if (mg_ssl_client_cert_field(name)) {
        const char *verify = ask(r, "SSL_CLIENT_VERIFY");
        if (!mg_ssl_verified(verify)) {
            v = ask(r, name);
            if (v != NULL && *v != '\0' && apr_atomic_cas32(&unverified_said, 1, 0) == 0)
                ap_log_rerror(
                    APLOG_MARK, APLOG_WARNING, 0, r,
                    MG_LOGNO(00208) "media-guard: %s of a client certificate that mod_ssl did "
                                    "not verify (SSL_CLIENT_VERIFY %s) is not used: only a "
                                    "verified certificate's fields count (SSLVerifyClient "
                                    "optional_no_ca lets anyone's self-made one through). Said "
                                    "once per child process",
                    name, verify != NULL && *verify != '\0' ? verify : "empty");
            return NULL;
        }
    }
    v = ask(r, name);
    return v != NULL && *v != '\0' ? v : NULL;
}

void mg_mod_ssl_register(apr_pool_t *p)
{
    (void)p;
    ap_hook_optional_fn_retrieve(retrieve, NULL, NULL, APR_HOOK_MIDDLE);
}
