/* fuzz_fmt.c — the foreign signed-link formats (lib/mg_fmt*.c): their
 * parameter parsers and verifiers through mg_token_check(), and their
 * signers, against a fixed policy with an ImageKit, an nginx secure_link
 * and a Bunny key, and one with a Google Cloud CDN, an Akamai EdgeAuth
 * and an ImageKit key (test secrets in tests/fuzz/keys/), one with a
 * CloudFront key and one with the formats whose token lives in the path;
 * verify mode tries them all.
 *
 * Input: one selector byte, then text.
 *  - selector bit 0 clear, "verify": the text is "PATH?QUERY[\nCOOKIE]",
 *    verified as a request (COOKIE: its Cookie header, for the signed-cookie
 *    forms). Oracle: a request that verifies names a loaded foreign key of
 *    the format it reports, and a scope it reports holds its canonical path.
 *  - selector bit 0 set, "sign then move": the text is "URL\nOTHER". URL is
 *    signed in the format chosen by bits 1-2 (bit 3: bind the client
 *    address, bit 4: a prefix (Bunny token_path, Cloud CDN URLPrefix) = the
 *    URL's directory). The link must
 *    verify (signer and verifier agree). Its token parameters are then
 *    appended to OTHER ("PATH?QUERY"): if that verifies, OTHER must be the
 *    same resource — the same canonical signed path for an exact token, a
 *    path under the prefix for a prefix token. Anything else is a forgery.
 *    Bit 5 set: the format is akamai-edgeauth instead; bit 6 set (with bit
 *    4): the signed-cookie form of gcp-cdn or akamai-edgeauth for the
 *    prefix, sent as a Cookie with the URL's path and then with OTHER's.
 *    Bit 7 set: the format is cloudfront (an ECDSA P-256 key, the
 *    private half in tests/fuzz/keys/ too; bit 4: a custom policy whose
 *    Resource is the URL's directory and '*'; bit 5 means nothing to it).
 *  - selector bits 0, 5 and 7 set (the CloudFront value bit 5 left spare),
 *    "sign then move" for the formats whose token lives in the path (a
 *    policy of their own: lighttpd md5 and hmac-sha256 with path_segments,
 *    nginx secure_link_secret, Bunny's path form), chosen by bits 1-2. The
 *    text is "URL\nOTHER"; the link must verify, from the path, under its
 *    key (lighttpd's path_segments key signs a path deeper than its 2
 *    segments as the directory of the first 2, asked for as the scope, and
 *    the link must verify with exactly that scope; a path of exactly 2
 *    segments has no link: the signer refuses it). Its token segments are
 *    then put in front of OTHER (what follows the token: "a/x.jpg?q"): if
 *    that verifies, it is the same canonical signed path, or one under the
 *    scope the first verification reported.
 *  - verify mode also offers the request (and its Cookie line) to a policy
 *    with a CloudFront key and to the path-form policy. Oracle, besides
 *    the above: the path the policy judges is a path token's effective
 *    path (mg_fmt_canon); a path token that verifies has its canonical path
 *    under its prefix and claims it came from the path, and no token from
 *    the path verifies without one.
 *  - selector bit 0 clear and text starting with '{': the CloudFront
 *    policy parser (mg_cf_policy_parse). Oracle: a policy it accepts has a
 *    Resource, a DateLessThan after its DateGreaterThan and a SourceIp that
 *    parses; the Resource matches itself as a URL when it has no wildcard;
 *    CloudFront's base64 of the text decodes back to it.
 */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "mg.h"
#include "mg_canon.h"
#include "mg_fmt.h"
#include "mg_fmt_cloudfront.h"
#include "mg_fuzz.h"
#include "mg_ip.h"
#include "mg_policy.h"
#include "mg_token.h"

static apr_pool_t *root;
static mg_policy_t *policy_main;
static const int64_t NOW = 1781524800; /* 2026-06-15T12:00Z */
static const char *const CLIENT = "192.0.2.7";

static const char POLICY[] =
    "version: 1\n"
    "name: fuzz-fmt\n"
    "keys:\n"
    "  - id: ik\n"
    "    format: imagekit\n"
    "    file: keys/fuzz-imagekit.secret\n"
    "    options: {endpoint: /, no_expiry: allow}\n"
    "  - id: ng\n"
    "    format: nginx-secure-link\n"
    "    file: keys/fuzz-nginx.secret\n"
    "    options: {expression: '$secure_link_expires$uri?$args $remote_addr $secret', "
    "hash_param: st, expires_param: e}\n"
    "  - id: bn\n"
    "    format: bunny\n"
    "    file: keys/fuzz-bunny.secret\n"
    "tokens: {grace: 5m, clock_skew: 30s}\n"
    "rules:\n"
    "  - id: all\n"
    "    path: /\n"
    "    token: required\n";

/* Cloud CDN's Expires and Bunny's expires differ in case only: one policy
 * may not hold both (issue 14), so gcp-cdn has a policy of its own, with an
 * ImageKit key to keep two formats at once in play. */
static mg_policy_t *policy_gcp;
static const char POLICY_GCP[] = "version: 1\n"
                                 "name: fuzz-fmt-gcp\n"
                                 "keys:\n"
                                 "  - id: gc\n"
                                 "    format: gcp-cdn\n"
                                 "    file: keys/fuzz-gcp.secret\n"
                                 "    options: {origin: 'https://media.fuzz.example'}\n"
                                 "  - id: ak\n"
                                 "    format: akamai-edgeauth\n"
                                 "    file: keys/fuzz-akamai.secret\n"
                                 "    alg: hmac-sha1\n"
                                 "  - id: ik\n"
                                 "    format: imagekit\n"
                                 "    file: keys/fuzz-imagekit.secret\n"
                                 "tokens: {grace: 5m, clock_skew: 30s}\n"
                                 "rules:\n"
                                 "  - id: all\n"
                                 "    path: /\n"
                                 "    token: required\n";

/* CloudFront's Expires and Signature are Cloud CDN's names too: a policy of
 * its own, with an ImageKit key */
static mg_policy_t *policy_cf;
static const char *cf_private;
static const char POLICY_CF[] = "version: 1\n"
                                "name: fuzz-fmt-cf\n"
                                "keys:\n"
                                "  - id: cf\n"
                                "    format: cloudfront\n"
                                "    alg: ecdsa-sha1\n"
                                "    file: keys/fuzz-cloudfront.pub\n"
                                "    options: {origin: 'https://d1.fuzz.example', key_pair_id: "
                                "KFUZZ}\n"
                                "  - id: ik\n"
                                "    format: imagekit\n"
                                "    file: keys/fuzz-imagekit.secret\n"
                                "tokens: {grace: 5m, clock_skew: 30s}\n"
                                "rules:\n"
                                "  - id: all\n"
                                "    path: /\n"
                                "    token: required\n";

static const char *const FORMATS[] = {"imagekit", "nginx-secure-link", "bunny", "gcp-cdn"};

/* tokens in the path (lib/mg_fmt.h, mg_fmt_path_t) */
static mg_policy_t *policy_path;
static const char POLICY_PATH[] =
    "version: 1\n"
    "name: fuzz-fmt-path\n"
    "keys:\n"
    "  - id: lt\n"
    "    format: lighttpd-secdownload\n"
    "    file: keys/fuzz-lighttpd.secret\n"
    "    options: {uri_prefix: /dl/, timeout: '3600'}\n"
    "  - id: lts\n"
    "    format: lighttpd-secdownload\n"
    "    alg: hmac-sha256\n"
    "    file: keys/fuzz-lighttpd.secret\n"
    "    options: {uri_prefix: /s/, timeout: '3600', path_segments: '2', "
    "hash_querystr: 'true'}\n"
    "  - id: ngs\n"
    "    format: nginx-secure-link\n"
    "    file: keys/fuzz-nginx.secret\n"
    "    options: {secret_prefix: /p/, no_expiry: allow}\n"
    "  - id: bnp\n"
    "    format: bunny\n"
    "    file: keys/fuzz-bunny.secret\n"
    "    options: {sign_form: path}\n"
    "tokens: {grace: 5m, clock_skew: 30s}\n"
    "rules:\n"
    "  - id: all\n"
    "    path: /\n"
    "    token: required\n";
static const char *const PATH_KEYS[] = {"lt", "lts", "ngs", "bnp"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    mg_diags_t *ds = mg_diags_make(root);
    if (mg_policy_load_buffer(root, "fuzz-fmt.yaml", MG_SRCDIR "/tests/fuzz", POLICY,
                              sizeof(POLICY) - 1, &policy_main, ds) != MG_OK ||
        mg_policy_load_buffer(root, "fuzz-fmt-gcp.yaml", MG_SRCDIR "/tests/fuzz", POLICY_GCP,
                              sizeof(POLICY_GCP) - 1, &policy_gcp, ds) != MG_OK ||
        mg_policy_load_buffer(root, "fuzz-fmt-path.yaml", MG_SRCDIR "/tests/fuzz", POLICY_PATH,
                              sizeof(POLICY_PATH) - 1, &policy_path, ds) != MG_OK) {
        for (int i = 0; i < ds->items->nelts; i++)
            fprintf(stderr, "%s\n", mg_diag_format(root, &APR_ARRAY_IDX(ds->items, i, mg_diag_t)));
        fprintf(stderr, "fuzz_fmt: the fixed policy does not load\n");
        abort();
    }
    FILE *f = fopen(MG_SRCDIR "/tests/fuzz/keys/fuzz-cloudfront.pem", "r");
    char buf[1024];
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    cf_private = apr_pstrdup(root, buf);
    if (n == 0 ||
        mg_policy_load_buffer(root, "fuzz-fmt-cf.yaml", MG_SRCDIR "/tests/fuzz", POLICY_CF,
                              sizeof(POLICY_CF) - 1, &policy_cf, ds) != MG_OK) {
        fprintf(stderr, "fuzz_fmt: the CloudFront policy or key does not load\n");
        abort();
    }
    return 0;
}

static mg_reason_t verify_c(apr_pool_t *pool, const mg_policy_t *policy, const char *target,
                            const char *cookie, mg_token_claims_t *claims, mg_canon_t *cn,
                            int *canon_ok)
{
    mg_request_t req;
    const char *q = strchr(target, '?'), *why;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.raw_path = q ? apr_pstrmemdup(pool, target, (apr_size_t)(q - target)) : target;
    req.query = q ? q + 1 : NULL;
    req.client_ip = req.peer_ip = CLIENT;
    req.now = apr_time_from_sec(NOW);
    req.cookie = cookie;
    const mg_fmt_path_t *pt = NULL;
    /* the path the policy judges: a path token's effective path */
    *canon_ok = mg_fmt_canon(pool, policy, req.raw_path, req.query, cn, &pt, &why) == 0;
    if (*canon_ok && pt == NULL)
        MG_FUZZ_ASSERT(mg_fmt_path_find(pool, policy, req.raw_path) == NULL,
                       "a path token mg_fmt_canon did not see");
    mg_reason_t r = mg_token_check(pool, policy, &req, claims);
    MG_FUZZ_ASSERT(r == MG_R_ALLOWED || r == MG_R_BAD_URL ||
                       (r >= MG_R_TOKEN_MISSING && r < MG_R__COUNT),
                   "mg_token_check returned %s", mg_reason_name(r));
    /* bad-url exactly when canonicalisation refuses, as the module answers */
    MG_FUZZ_ASSERT((r == MG_R_BAD_URL) == !*canon_ok, "mg_token_check returned %s, canonical %d",
                   mg_reason_name(r), *canon_ok);
    if (r == MG_R_ALLOWED) {
        MG_FUZZ_ASSERT(*canon_ok, "a URL our canonicaliser refuses verified");
        MG_FUZZ_ASSERT(claims->format != NULL && claims->kid != NULL, "no format or key");
        if (strcmp(claims->format, MG_FMT_NATIVE) != 0) {
            const mg_keyref_t *ref = NULL;
            for (int i = 0; i < policy->keys->nelts; i++)
                if (strcmp(APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).id, claims->kid) == 0)
                    ref = &APR_ARRAY_IDX(policy->keys, i, mg_keyref_t);
            MG_FUZZ_ASSERT(ref && ref->fkey && strcmp(ref->fkey->fmt->name, claims->format) == 0,
                           "format %s reported under key %s", claims->format, claims->kid);
        }
        if (claims->scope != NULL)
            MG_FUZZ_ASSERT(strncmp(cn->path, claims->scope, strlen(claims->scope)) == 0,
                           "path %s outside scope %s", cn->path, claims->scope);
        /* a foreign prefix holds the 'tr:' segment too: the vendor compares
         * it with the path as sent (red team 22) */
        if (claims->scope != NULL && strcmp(claims->format, MG_FMT_NATIVE) != 0)
            MG_FUZZ_ASSERT(strncmp(cn->signed_path, claims->scope, strlen(claims->scope)) == 0,
                           "signed path %s outside the %s scope %s", cn->signed_path,
                           claims->format, claims->scope);
        MG_FUZZ_ASSERT((pt != NULL) == (strcmp(claims->from, "path") == 0),
                       "a token from the %s with%s a path token", claims->from, pt ? "" : "out");
        if (pt != NULL)
            MG_FUZZ_ASSERT(strncmp(cn->path, pt->prefix, strlen(pt->prefix)) == 0 &&
                               cn->tr_form != MG_TR_FORM_PATH,
                           "path token for %s verified outside %s", cn->path, pt->prefix);
    }
    return r;
}

static mg_reason_t verify(apr_pool_t *pool, const mg_policy_t *policy, const char *target,
                          mg_token_claims_t *claims, mg_canon_t *cn, int *canon_ok)
{
    return verify_c(pool, policy, target, NULL, claims, cn, canon_ok);
}

/* The query parameters a format's link added: what follows the URL's own. */
static const char *token_part(const char *signed_url, const char *url)
{
    size_t n = strlen(url);
    const char *t = signed_url + strlen(signed_url);
    if (strncmp(signed_url, url, n) == 0)
        t = signed_url + n + 1; /* after '?' or '&' */
    return t;
}

/* A signed cookie for c->scope: it verifies with the URL's path and, sent
 * with OTHER, only for a path under the scope. */
static void cookie_mode(apr_pool_t *pool, const mg_policy_t *policy, const mg_fkey_t *k,
                        const mg_fmt_claims_t *c, const char *url, const char *other)
{
    const char *pair = NULL, *why;
    if (k->fmt->sign_cookie(pool, k, c, &pair, &why) != MG_OK)
        return; /* a prefix the format cannot carry (a '*', bytes browsers encode) */
    /* a format that sets several cookies (CloudFront) gives one per line; a
     * browser sends them in one Cookie header, "; " apart */
    size_t lines = 0, pn = strlen(pair);
    for (const char *p = pair; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    char *hdr = apr_palloc(pool, pn + lines + 1), *h = hdr;
    for (const char *p = pair; *p != '\0'; p++) {
        if (*p == '\n') {
            *h++ = ';';
            *h++ = ' ';
        } else {
            *h++ = *p;
        }
    }
    *h = '\0';
    pair = hdr;
    const char *q = strchr(url, '?');
    const char *path = q ? apr_pstrmemdup(pool, url, (size_t)(q - url)) : url;
    /* as for a prefix link, the path sent must lie under the prefix as written
     * (Cloud CDN compares the raw bytes) */
    if (strncmp(path, c->scope, strlen(c->scope)) != 0)
        return;
    mg_token_claims_t cl;
    mg_canon_t cn;
    int ok;
    mg_reason_t r = verify_c(pool, policy, path, pair, &cl, &cn, &ok);
    if (!ok)
        return;
    MG_FUZZ_ASSERT(r == MG_R_ALLOWED, "a %s cookie for %s does not verify %s: %s (%s)",
                   k->fmt->name, c->scope, path, mg_reason_name(r), cl.detail ? cl.detail : "");
    if (strchr(other, '\n') != NULL || other[0] != '/')
        return;
    if (verify_c(pool, policy, other, pair, &cl, &cn, &ok) == MG_R_ALLOWED)
        MG_FUZZ_ASSERT(strncmp(cn.path, c->scope, strlen(c->scope)) == 0,
                       "%s cookie for %s verified outside it: %s", k->fmt->name, c->scope, other);
}

static void sign_mode(apr_pool_t *pool, unsigned sel, const char *text)
{
    int cf = (sel & 128) != 0;
    const mg_policy_t *policy = cf                                    ? policy_cf
                                : ((sel >> 1) & 3) == 3 || (sel & 32) ? policy_gcp
                                                                      : policy_main;
    const char *nl = strchr(text, '\n');
    const char *url = nl ? apr_pstrmemdup(pool, text, (size_t)(nl - text)) : text;
    const char *other = nl ? nl + 1 : "/x";
    const char *fname = cf           ? "cloudfront"
                        : (sel & 32) ? "akamai-edgeauth"
                                     : FORMATS[(sel >> 1) & 3];
    const mg_fkey_t *k = NULL;
    for (int i = 0; i < policy->keys->nelts; i++) {
        const mg_fkey_t *f = APR_ARRAY_IDX(policy->keys, i, mg_keyref_t).fkey;
        if (f && strcmp(f->fmt->name, fname) == 0)
            k = f;
    }
    MG_FUZZ_ASSERT(k != NULL, "no key of format %s", fname);
    mg_fmt_claims_t c = {.exp = NOW + 3600, .ip = NULL, .scope = NULL};
    if ((sel & 8) && (k->fmt->caps & MG_FMT_CAP_IP))
        c.ip = CLIENT;
    if (strcmp(fname, "nginx-secure-link") == 0)
        c.ip = CLIENT; /* its expression has $remote_addr */
    if (cf)
        c.private_key = cf_private;
    mg_canon_t cn;
    int ok;
    const char *why;
    if ((sel & 16) && (k->fmt->caps & MG_FMT_CAP_SCOPE)) {
        const char *q = strchr(url, '?');
        const char *p = q ? apr_pstrmemdup(pool, url, (size_t)(q - url)) : url;
        if (url[0] == '/' && mg_canon_path(pool, p, NULL, &cn, &why) == 0 && cn.tr == NULL) {
            char *dir = apr_pstrdup(pool, cn.path);
            char *slash = strrchr(dir, '/');
            slash[1] = '\0';
            c.scope = dir;
        }
    }
    const char *out = NULL;
    if ((sel & 64) && c.scope != NULL && k->fmt->sign_cookie != NULL) {
        cookie_mode(pool, policy, k, &c, url, other);
        return;
    }
    if (k->fmt->sign(pool, k, url, &c, &out, &why) != MG_OK)
        return;
    /* a parameter another key of this policy reads (nginx's configurable
     * names): mgctl sign refuses such URLs with the policy at hand; the
     * format's signer alone cannot know them */
    const char *uq = strchr(url, '?');
    apr_array_header_t *ups;
    if (uq != NULL && mg_query_parse(pool, uq + 1, &ups, &why) == 0)
        for (int i = 0; i < ups->nelts; i++)
            if (mg_fmt_is_reserved_param(policy, APR_ARRAY_IDX(ups, i, mg_qparam_t).name))
                return;
    /* a path that already carries a path token of the policy: mgctl sign
     * refuses it with the policy at hand (the verifier sees two tokens);
     * in an absolute URL, the path after the authority, as mgctl reads it */
    const char *upath = url, *sep = strstr(url, "://");
    if (url[0] != '/' && sep != NULL)
        upath = sep + 3 + strcspn(sep + 3, "/?#");
    if (upath[0] == '/' &&
        mg_fmt_path_find(pool, policy, apr_pstrmemdup(pool, upath, strcspn(upath, "?#"))) != NULL)
        return;
    mg_token_claims_t cl;
    mg_canon_t signed_cn;
    /* the request target of the link: after "scheme://authority" */
    const char *target = out;
    if (out[0] != '/') {
        const char *a = strstr(out, "://");
        target = a ? strchr(a + 3, '/') : NULL;
        MG_FUZZ_ASSERT(target != NULL, "a signed link without a path: %s", out);
    }
    mg_reason_t r = verify(pool, policy, target, &cl, &signed_cn, &ok);
    /* the signer may write a link the verifier's limits refuse (bad-url)
     * only when it is longer than they allow */
    if (!ok)
        return;
    /* a CloudFront Resource is the URL as sent: a raw path whose canonical
     * form encodes differently (%41 for A) is signed but never matches as
     * a custom policy's Resource, which must match both (documented) */
    if (cf && r == MG_R_TOKEN_SCOPE && c.scope == NULL)
        return;
    MG_FUZZ_ASSERT(r == MG_R_ALLOWED, "a %s link does not verify: %s (%s)", fname,
                   mg_reason_name(r), cl.detail ? cl.detail : "");
    /* move the token onto another request */
    /* Cloud CDN links are absolute on the key's origin whatever the URL */
    const char *tok = token_part(url[0] == '/' ? target : out, url);
    if (strchr(other, '\n') != NULL || other[0] != '/')
        return;
    const char *moved = apr_pstrcat(pool, other, strchr(other, '?') ? "&" : "?", tok, NULL);
    mg_canon_t ocn;
    if (verify(pool, policy, moved, &cl, &ocn, &ok) != MG_R_ALLOWED)
        return;
    if (c.scope != NULL)
        MG_FUZZ_ASSERT(strncmp(ocn.path, c.scope, strlen(c.scope)) == 0,
                       "%s prefix token for %s verified outside it: %s", fname, c.scope, moved);
    else
        MG_FUZZ_ASSERT(strcmp(ocn.signed_path, signed_cn.signed_path) == 0,
                       "%s token for %s verified for another path: %s", fname,
                       signed_cn.signed_path, moved);
}

/* lighttpd's path_segments N, as its documentation states it: a link for a
 * path of more than N segments after the prefix covers the directory of
 * the first N (what mgctl sign asks for as --prefix); NULL for a path of
 * N segments or fewer. Written here independently of the format's file. */
static const char *lt_directory(apr_pool_t *pool, const char *url, const char *prefix, int n)
{
    const char *origin, *path, *query, *why;
    mg_canon_t cn;
    if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, &why) != MG_OK ||
        strncmp(cn.path, prefix, strlen(prefix)) != 0)
        return NULL;
    const char *e = cn.path + strlen(prefix);
    for (int i = 0; i < n; i++) {
        e = strchr(e, '/');
        if (e == NULL)
            return NULL;
        e++;
    }
    return apr_pstrmemdup(pool, cn.path, (apr_size_t)(e - cn.path));
}

/* Sign URL with a path-form key, then put its token segments in front of
 * OTHER (the part after the token: "a/x.jpg?q"). */
static void sign_path_mode(apr_pool_t *pool, unsigned sel, const char *text)
{
    const char *nl = strchr(text, '\n');
    const char *url = nl ? apr_pstrmemdup(pool, text, (size_t)(nl - text)) : text;
    const char *other = nl ? nl + 1 : "x";
    const char *kid = PATH_KEYS[(sel >> 1) & 3], *why, *out = NULL;
    const mg_fkey_t *k = NULL;
    for (int i = 0; i < policy_path->keys->nelts; i++)
        if (strcmp(APR_ARRAY_IDX(policy_path->keys, i, mg_keyref_t).id, kid) == 0)
            k = APR_ARRAY_IDX(policy_path->keys, i, mg_keyref_t).fkey;
    MG_FUZZ_ASSERT(k != NULL, "no key %s", kid);
    /* nginx's links never expire; the others expire in an hour */
    mg_fmt_claims_t c = {
        .exp = strcmp(kid, "ngs") == 0 ? 0 : NOW + 3600, .ip = NULL, .scope = NULL};
    if (strcmp(kid, "lts") == 0) /* path_segments: '2' */
        c.scope = lt_directory(pool, url, "/s/", 2);
    if (k->fmt->sign(pool, k, url, &c, &out, &why) != MG_OK)
        return;
    mg_token_claims_t cl;
    mg_canon_t signed_cn, ocn;
    int ok;
    mg_reason_t r = verify(pool, policy_path, out, &cl, &signed_cn, &ok);
    if (!ok)
        return; /* longer than the verifier's limits */
    MG_FUZZ_ASSERT(r == MG_R_ALLOWED, "a %s link does not verify: %s (%s): %s", kid,
                   mg_reason_name(r), cl.detail ? cl.detail : "", out);
    MG_FUZZ_ASSERT(strcmp(cl.from, "path") == 0 && strcmp(cl.kid, kid) == 0,
                   "%s link verified as %s from the %s", kid, cl.kid, cl.from);
    /* the scope the signer was asked for is the one the verifier reports */
    MG_FUZZ_ASSERT(c.scope == NULL ? cl.scope == NULL
                                   : cl.scope != NULL && strcmp(cl.scope, c.scope) == 0,
                   "%s link for %s signed for scope %s verified with scope %s", kid, out,
                   c.scope ? c.scope : "(none)", cl.scope ? cl.scope : "(none)");
    const char *scope = cl.scope ? apr_pstrdup(pool, cl.scope) : NULL;
    const char *q = strchr(out, '?');
    const char *opath = q ? apr_pstrmemdup(pool, out, (size_t)(q - out)) : out;
    const mg_fmt_path_t *pt = mg_fmt_path_find(pool, policy_path, opath);
    MG_FUZZ_ASSERT(pt != NULL, "the signed link has no path token: %s", out);
    if (strchr(other, '\n') != NULL)
        return;
    const char *head = apr_pstrmemdup(pool, opath, strlen(opath) - strlen(pt->rest));
    const char *moved = apr_pstrcat(pool, head, other, NULL);
    if (verify(pool, policy_path, moved, &cl, &ocn, &ok) != MG_R_ALLOWED)
        return;
    if (scope != NULL)
        MG_FUZZ_ASSERT(strncmp(ocn.path, scope, strlen(scope)) == 0,
                       "%s token for %s verified outside it: %s", kid, scope, moved);
    else
        MG_FUZZ_ASSERT(strcmp(ocn.signed_path, signed_cn.signed_path) == 0,
                       "%s token for %s verified for another path: %s", kid, signed_cn.signed_path,
                       moved);
}

/* The CloudFront policy parser, wildcards and base64 on their own: the
 * verifier parses a policy only after its signature verified, which no
 * fuzzer input reaches. */
static void policy_mode(apr_pool_t *pool, const char *text)
{
    size_t n = strlen(text);
    mg_cf_policy_t pol;
    const char *why = NULL;
    if (mg_cf_policy_parse(pool, text, n, &pol, &why) == 0) {
        MG_FUZZ_ASSERT(pol.resource != NULL && pol.date_less_than > 0, "an incomplete policy");
        MG_FUZZ_ASSERT(pol.date_greater_than == 0 || pol.date_greater_than < pol.date_less_than,
                       "DateGreaterThan not before DateLessThan");
        MG_FUZZ_ASSERT(strlen(pol.resource) <= MG_CF_RESOURCE_MAX, "an unbounded Resource");
        mg_cidr_t cidr;
        MG_FUZZ_ASSERT(pol.source_ip == NULL || mg_cidr_parse(pol.source_ip, &cidr, &why) == 0,
                       "a SourceIp that does not parse");
        size_t rn = strlen(pol.resource);
        if (strpbrk(pol.resource, "*?") == NULL)
            MG_FUZZ_ASSERT(mg_cf_glob(pol.resource, rn, pol.resource, rn),
                           "a Resource without wildcards does not match itself");
        (void)mg_cf_glob(pol.resource, rn, "https://d1.fuzz.example/v/l1/a.ts?x=1", 37);
    } else {
        MG_FUZZ_ASSERT(why != NULL, "a refusal without a reason");
    }
    if (n <= MG_CF_POLICY_MAX) {
        char *enc = apr_palloc(pool, (n + 2) / 3 * 4 + 1);
        unsigned char *dec = apr_palloc(pool, n + 3);
        size_t en = mg_cf_b64_encode((const unsigned char *)text, n, enc);
        long dn = mg_cf_b64_decode(enc, en, dec, n + 2);
        MG_FUZZ_ASSERT(n == 0 ? dn == -1 : (dn == (long)n && memcmp(dec, text, n) == 0),
                       "CloudFront base64 does not round-trip");
        (void)mg_cf_b64_decode(text, n, dec, n + 2);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 12300)
        return 0;
    apr_pool_t *pool;
    apr_pool_create(&pool, root);
    unsigned sel = data[0];
    char *text = apr_pstrmemdup(pool, (const char *)data + 1, size - 1);
    if (strlen(text) == size - 1) { /* no NUL inside */
        if ((sel & 1) && (sel & 128) && (sel & 32)) {
            sign_path_mode(pool, sel, text);
        } else if (sel & 1) {
            sign_mode(pool, sel, text);
        } else if (text[0] == '/') {
            mg_token_claims_t cl;
            mg_canon_t cn;
            int ok;
            char *nl = strchr(text, '\n');
            const char *cookie = NULL;
            if (nl != NULL) {
                *nl = '\0';
                cookie = nl + 1;
            }
            (void)verify_c(pool, policy_main, text, cookie, &cl, &cn, &ok);
            (void)verify_c(pool, policy_gcp, text, cookie, &cl, &cn, &ok);
            (void)verify_c(pool, policy_cf, text, cookie, &cl, &cn, &ok);
            (void)verify_c(pool, policy_path, text, cookie, &cl, &cn, &ok);
        } else if (text[0] == '{') {
            policy_mode(pool, text);
        }
    }
    apr_pool_destroy(pool);
    return 0;
}
