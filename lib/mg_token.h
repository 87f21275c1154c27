/* mg_token.h — signed links, token format v1 (mg_token.c).
 * The format is specified in docs/token-spec.md. */
#ifndef MG_TOKEN_H
#define MG_TOKEN_H

#include "mg.h"
#include "mg_policy.h"

typedef struct mg_token_claims {
    const char *kid;          /* key id */
    apr_time_t expires;       /* 0 = none (refused unless policy allows) */
    apr_time_t not_before;    /* 0 = none */
    mg_access_t access;       /* claimed access level (default view) */
    const char *scope;        /* prefix scope ("/videos/lesson1/"), or NULL = exact path */
    const char *ip;           /* bound IP/CIDR text, or NULL */
    const char *from;         /* "query" or "cookie" */
} mg_token_claims_t;

/* Verify the token carried by the request (query parameters or the signed
 * cookie) against the policy's keys at req->now, applying the policy's grace
 * and clock skew. Returns MG_R_ALLOWED when valid (claims filled) or the
 * specific MG_R_TOKEN_* reason. Never allocates proportional to the policy;
 * OpenSSL state is prepared per thread. */
mg_reason_t mg_token_check(apr_pool_t *pool, const mg_policy_t *policy,
                           const mg_request_t *req, mg_token_claims_t *claims);

/* Query-parameter names of format v1 (everything starting "mg_" is reserved). */
int mg_token_is_reserved_param(const char *name);

#endif
