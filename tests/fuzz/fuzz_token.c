/* fuzz_token.c — the signed-link parser and verifier (mg_token_check) and
 * the signer (mg_token_sign_url), against a small fixed policy whose keys
 * are the public test keys in tests/fuzz/keys/.
 *
 * Input: one selector byte, then text.
 *  - selector bit 0 clear, "verify": the text is "PATH?QUERY\nCOOKIE" (the
 *    cookie part optional), verified as a request. Random bytes never carry
 *    a valid MAC, but the seeds do, and mutations keep most of them. Oracle:
 *    a query token that verifies is byte-for-byte the token the signer makes
 *    for that request's canonical form and claims.
 *  - selector bit 0 set, "sign then tamper": the text is "URL\nOTHER". URL is
 *    signed with claims chosen by the other selector bits (scope = the URL's
 *    directory, download, IP binding, not-before, which key). The link must
 *    verify (signer and verifier agree). Then the link's token parameters
 *    are moved onto OTHER ("PATH?QUERY"): if that verifies, OTHER must be the
 *    same resource — the same signed path, transformation and other query
 *    parameters and transformation (string and form) for an exact token, a
 *    path under the scope with the same transformation string for a prefix
 *    token. Anything else is a forgery.
 */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "mg.h"
#include "mg_canon.h"
#include "mg_fuzz.h"
#include "mg_keys.h"
#include "mg_policy.h"
#include "mg_request.h"
#include "mg_token.h"

static apr_pool_t *root;
static mg_policy_t *policy;
static const apr_time_t NOW = APR_TIME_C(1781524800) * APR_USEC_PER_SEC; /* 2026-06-15T12:00Z */
static const char *const KIDS[] = {"fz256", "fz1", "fzed", "fz256"};

static const char POLICY[] =
    "version: 1\n"
    "name: fuzz-token\n"
    "keys:\n"
    "  - {id: fz256, alg: hmac-sha256, file: keys/fuzz-sha256.key, sign: true}\n"
    "  - {id: fz1, alg: hmac-sha1, file: keys/fuzz-sha1.key}\n"
    "  - {id: fzed, alg: ed25519, file: keys/fuzz-ed25519.key}\n"
    "tokens: {grace: 5m, clock_skew: 30s, max_ttl: 400d}\n"
    "rules:\n"
    "  - id: all\n"
    "    path: /\n"
    "    token: required\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    mg_diags_t *ds = mg_diags_make(root);
    if (mg_policy_load_buffer(root, "fuzz-token.yaml", MG_SRCDIR "/tests/fuzz", POLICY,
                              sizeof(POLICY) - 1, &policy, ds) != MG_OK) {
        for (int i = 0; i < ds->items->nelts; i++)
            fprintf(stderr, "%s\n", mg_diag_format(root, &APR_ARRAY_IDX(ds->items, i, mg_diag_t)));
        fprintf(stderr, "fuzz_token: the fixed policy does not load\n");
        abort();
    }
    return 0;
}

static mg_reason_t verify(apr_pool_t *pool, const char *path, const char *query, const char *cookie,
                          mg_request_t *req, mg_token_claims_t *claims)
{
    memset(req, 0, sizeof(*req));
    req->method = "GET";
    req->raw_path = path;
    req->query = query;
    req->cookie = cookie;
    req->scheme = "https";
    req->host = "media.example";
    req->client_ip = req->peer_ip = "192.0.2.7";
    req->now = NOW;
    const char *why = NULL;
    /* mg_token_check copes either way */
    const mg_status_t prepared = mg_request_prepare(pool, policy, req, &why);
    memset(claims, 0, sizeof(*claims));
    mg_reason_t r = mg_token_check(pool, policy, req, claims);
    MG_FUZZ_ASSERT(r == MG_R_ALLOWED || r == MG_R_BAD_URL ||
                       (r >= MG_R_TOKEN_MISSING && r < MG_R__COUNT),
                   "mg_token_check returned %s", mg_reason_name(r));
    /* bad-url (its own canonicalisation refused) only for a request the
     * module refuses before it reads a token */
    MG_FUZZ_ASSERT(r != MG_R_BAD_URL || prepared != MG_OK,
                   "mg_token_check returned bad-url for a prepared request");
    return r;
}

/* The token parameters ("mg_...") of a raw query, in order, and the rest. */
static void split_token(apr_pool_t *pool, const char *query, const char **tok, const char **rest)
{
    *tok = *rest = "";
    if (query == NULL)
        return;
    char *q = apr_pstrdup(pool, query), *state = NULL;
    for (char *p = apr_strtok(q, "&", &state); p; p = apr_strtok(NULL, "&", &state)) {
        const char **dst = strncmp(p, "mg_", 3) == 0 ? tok : rest;
        *dst = **dst ? apr_pstrcat(pool, *dst, "&", p, NULL) : apr_pstrdup(pool, p);
    }
}

/* The decoded query without tr and mg_* parameters, sorted: what an exact
 * token covers besides path and transformation. */
static const char *covered_query(apr_pool_t *pool, const apr_array_header_t *params)
{
    int n = 0;
    const char **items = apr_pcalloc(pool, sizeof(char *) * (size_t)(params->nelts + 1));
    for (int i = 0; i < params->nelts; i++) {
        const mg_qparam_t *p = &APR_ARRAY_IDX(params, i, mg_qparam_t);
        if (strcmp(p->name, "tr") == 0 || strncmp(p->name, "mg_", 3) == 0)
            continue;
        /* NUL-free by construction (canonicalisation refuses %00). */
        items[n++] = apr_pstrcat(pool, p->name, "\x01", p->value, NULL);
    }
    for (int i = 1; i < n; i++) { /* insertion sort: at most MG_MAX_QPARAMS */
        const char *x = items[i];
        int j = i;
        for (; j > 0 && strcmp(items[j - 1], x) > 0; j--)
            items[j] = items[j - 1];
        items[j] = x;
    }
    const char *res = "";
    for (int i = 0; i < n; i++)
        res = apr_pstrcat(pool, res, "\x02", items[i], NULL);
    return res;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static void verify_mode(apr_pool_t *pool, const char *text)
{
    const char *nl = strchr(text, '\n');
    const char *target = nl ? apr_pstrmemdup(pool, text, (size_t)(nl - text)) : text;
    const char *cookie = nl ? nl + 1 : NULL;
    const char *q = strchr(target, '?');
    const char *path = q ? apr_pstrmemdup(pool, target, (size_t)(q - target)) : target;
    const char *query = q ? q + 1 : NULL;

    mg_request_t req;
    mg_token_claims_t cl;
    if (verify(pool, path, query, cookie, &req, &cl) != MG_R_ALLOWED)
        return;
    MG_FUZZ_ASSERT(cl.kid != NULL && cl.expires != 0, "valid token without kid or expiry");
    if (cl.from == NULL || strcmp(cl.from, "query") != 0)
        return;
    /* Re-sign the request's own URL with the accepted claims. */
    const char *tok, *rest;
    split_token(pool, query, &tok, &rest);
    const mg_key_t *key = mg_keys_find(policy, cl.kid, strlen(cl.kid));
    MG_FUZZ_ASSERT(key != NULL, "accepted kid %s has no key", cl.kid);
    /* The verifier collapses duplicate slashes, so "//a/b.png" verifies as
     * "/a/b.png"; the signer refuses a leading "//" as a protocol-relative
     * URL (ambiguous). Re-sign the unambiguous spelling of the same path. */
    const char *spath = path;
    while (spath[0] == '/' && spath[1] == '/')
        spath++;
    const char *url = *rest ? apr_pstrcat(pool, spath, "?", rest, NULL) : spath, *link, *why;
    mg_token_claims_t c = cl;
    if (mg_token_sign_url(pool, key, url, &c, &link, &why) != MG_OK)
        MG_FUZZ_ASSERT(0, "a verified request cannot be re-signed: %s (%s)", url, why);
    const char *sig = strstr(link, "mg_sig="), *got = strstr(tok, "mg_sig=");
    MG_FUZZ_ASSERT(sig && got, "no mg_sig");
    size_t sl = strcspn(sig, "&"), gl = strcspn(got, "&");
    MG_FUZZ_ASSERT(sl == gl && memcmp(sig, got, sl) == 0,
                   "accepted signature differs from the signer's: %s vs %s", target, link);
}

static void sign_tamper_mode(apr_pool_t *pool, unsigned sel, const char *text)
{
    const char *nl = strchr(text, '\n');
    const char *url = nl ? apr_pstrmemdup(pool, text, (size_t)(nl - text)) : text;
    const char *other = nl ? nl + 1 : "";
    const mg_key_t *key = mg_keys_find(policy, KIDS[(sel >> 5) & 3], strlen(KIDS[(sel >> 5) & 3]));
    MG_FUZZ_ASSERT(key != NULL, "test key missing");

    mg_token_claims_t c;
    memset(&c, 0, sizeof(c));
    c.expires = NOW + apr_time_from_sec(3600);
    c.access = (sel & 4) ? MG_ACCESS_DOWNLOAD : MG_ACCESS_VIEW;
    if (sel & 8)
        c.ip = "192.0.2.0/24";
    if (sel & 16)
        c.not_before = NOW - apr_time_from_sec(60);
    if (sel & 2) {
        /* scope: the canonical directory of the URL's path */
        const char *q = strchr(url, '?');
        const char *p = q ? apr_pstrmemdup(pool, url, (size_t)(q - url)) : url, *why;
        mg_canon_t cc;
        if (mg_canon_path(pool, p, NULL, &cc, &why) != 0)
            return;
        char *dir = apr_pstrdup(pool, cc.path);
        *(strrchr(dir, '/') + 1) = '\0';
        c.scope = dir;
    }
    const char *link, *why;
    if (mg_token_sign_url(pool, key, url, &c, &link, &why) != MG_OK)
        return; /* the signer refuses what the verifier would refuse */
    /* ... and a signer that knows the policy (mgctl sign) what only the
     * policy reserves: its download parameter's other spellings */
    {
        const char *uq = strchr(url, '?');
        apr_array_header_t *params;
        if (uq != NULL && mg_query_parse(pool, uq + 1, &params, &why) == 0 &&
            mg_policy_query_check(pool, policy, params, &why) != 0)
            return;
    }

    /* 1. The link verifies. An absolute URL keeps its scheme and authority,
     * which the token does not cover: verify its origin-form. */
    const char *sep = strstr(link, "://");
    if (link[0] != '/' && sep != NULL)
        link = sep + 3 + strcspn(sep + 3, "/");
    const char *q = strchr(link, '?');
    MG_FUZZ_ASSERT(link[0] == '/' && q != NULL, "link '%s' is not /path?query", link);
    const char *lpath = apr_pstrmemdup(pool, link, (size_t)(q - link)), *lquery = q + 1;
    mg_request_t lreq;
    mg_token_claims_t lcl;
    mg_reason_t r = verify(pool, lpath, lquery, NULL, &lreq, &lcl);
    MG_FUZZ_ASSERT(r == MG_R_ALLOWED, "fresh link %s (signed from %s) refused: %s", link, url,
                   mg_reason_name(r));
    MG_FUZZ_ASSERT(lreq.d && lreq.d->ok, "the verifier refused the signer's canonical URL");

    /* 2. The same token parameters on another request. */
    const char *tok, *rest;
    split_token(pool, lquery, &tok, &rest);
    const char *oq = strchr(other, '?');
    const char *opath = oq ? apr_pstrmemdup(pool, other, (size_t)(oq - other)) : other;
    const char *oquery = oq && oq[1] ? apr_pstrcat(pool, oq + 1, "&", tok, NULL) : tok;
    mg_request_t oreq;
    mg_token_claims_t ocl;
    if (verify(pool, opath, oquery, NULL, &oreq, &ocl) != MG_R_ALLOWED)
        return;
    if (oreq.d == NULL || !oreq.d->ok) {
        /* refused by request preparation for a policy reason (a spelling
         * of its download parameter): the decision must deny all the same */
        mg_decision_t dd;
        mg_evaluate(pool, policy, &oreq, 0, &dd);
        MG_FUZZ_ASSERT(dd.outcome != MG_OUTCOME_ALLOW,
                       "token accepted on a URL canonicalisation refuses");
        return;
    }
    const mg_canon_t *lc = &lreq.d->canon, *oc = &oreq.d->canon;
    MG_FUZZ_ASSERT(same_str(lc->tr, oc->tr),
                   "token for %s accepted with another transformation: %s?%s", link, opath, oquery);
    if (c.scope == NULL) {
        /* An exact token also covers the form (a tr: segment is part of the
         * signed path); a prefix token covers the transformation only
         * (docs/token-spec.md, "Prefix tokens"). */
        MG_FUZZ_ASSERT(lc->tr_form == oc->tr_form,
                       "exact token for %s accepted with the transformation moved: %s?%s", link,
                       opath, oquery);
        MG_FUZZ_ASSERT(strcmp(lc->signed_path, oc->signed_path) == 0,
                       "exact token for %s accepted on another path: %s", link, opath);
        MG_FUZZ_ASSERT(strcmp(covered_query(pool, lc->params), covered_query(pool, oc->params)) ==
                           0,
                       "exact token for %s accepted with other query parameters: %s", link, oquery);
    } else {
        size_t sl = strlen(c.scope);
        MG_FUZZ_ASSERT(strncmp(oc->path, c.scope, sl) == 0 ||
                           (strncmp(oc->path, c.scope, sl - 1) == 0 && oc->path[sl - 1] == '\0'),
                       "prefix token for %s accepted outside it: %s", c.scope, oc->path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    apr_pool_t *pool;
    apr_pool_create(&pool, root);
    const char *text = apr_pstrmemdup(pool, (const char *)data + 1, size - 1);
    if (data[0] & 1)
        sign_tamper_mode(pool, data[0], text);
    else
        verify_mode(pool, text);
    apr_pool_destroy(pool);
    return 0;
}
