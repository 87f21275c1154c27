/* mg_mod_authz.c — the `Require media-guard NAME` authorization provider.
 *
 * parse_require_line resolves NAME once, at configuration time (also for
 * .htaccess, which never opens a policy file). check_authorization builds
 * the request view libmg needs, evaluates, memoises the decision for the
 * request (mod_authz_core calls providers before and after authentication)
 * and maps it to what httpd understands:
 *
 *   allow -> AUTHZ_GRANTED (headers follow in mg_mod_headers.c)
 *   deny  -> AUTHZ_DENIED + ap_custom_response() for the message or page;
 *            a status other than 403 goes through an internal redirect to
 *            MG_MOD_DENY_URI that mg_mod_deny_handler() answers
 *   login -> AUTHZ_DENIED + ap_custom_response(403, absolute URL) = a 302,
 *            or AUTHZ_DENIED_NO_USER when an AuthType should authenticate
 *            first (credentials present, or a cookie-session AuthType)
 *   auth  -> AUTHZ_DENIED_NO_USER when an AuthType can authenticate, else 403
 *
 * An internal error (a policy that never loaded) is AUTHZ_GENERAL_ERROR, a
 * 500 whatever the composition: `Require not` must not make it a grant.
 *
 * What httpd serves is judged too, not only what the client named: the
 * served path (r->uri after translate_name, minus path_info after a file)
 * when it is another resource; the stricter decision counts. Sub-requests
 * and internal redirects that inherit a grant without passing authz
 * (DirectoryIndex, ErrorDocument) are judged by mg_mod_recheck.c through
 * mg_mod_evaluate and mg_mod_record, and the configtest warning about a
 * narrow <Location> is mg_mod_narrow.c's (parse_require notes the sites).
 *
 * Every refusal carries Cache-Control: private, no-store and the owning
 * rule's Cross-Origin-Resource-Policy (refusal_headers), taken out again if
 * the request is granted after all.
 *
 * Every path that is not a clean allow denies (fail closed).
 */
#include <string.h>

#include "mg_ascii.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "scoreboard.h"

#include <apr_atomic.h>
#include <apr_lib.h>
#include <apr_shm.h>
#include <apr_strings.h>

#include "mg_http.h"
#include "mg_mod.h"
#include "mg_request.h"
#include "mg_response.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

APLOG_USE_MODULE(media_guard);

#define MG_MOD_REASON_HEADER "X-Media-Guard-Reason"
#define MG_MOD_STALE_NOTE "last good version of the policy: its file was refused on reload"

mg_mod_req_t *mg_mod_req_make(request_rec *r)
{
    mg_mod_req_t *rq = mg_mod_req_peek(r);
    if (rq == NULL) {
        rq = apr_pcalloc(r->pool, sizeof(*rq));
        ap_set_module_config(r->request_config, &media_guard_module, rq);
    }
    return rq;
}

/* ------------------------------------------------------------------ */
/* configuration time                                                   */
/* ------------------------------------------------------------------ */

/* Whether this Require line sits under a negation: mod_authz_core turns a
 * negated refusal into "neutral", so our refusal there can never be what the
 * client gets, and must not set a login redirect or a deny page for a 403
 * that another provider causes. The line is negated by its own "not" and by
 * each enclosing <RequireNone>: MG_MOD_NEG_ODD under an odd number of them,
 * MG_MOD_NEG_EVEN under an even one (httpd accepts `Require not` in a
 * <RequireAll> inside <RequireNone>), where the policy's refusal is what
 * refuses and its grant is only neutral. */
static int negated_require(const ap_directive_t *d, apr_pool_t *p)
{
    const char *args, *first;
    int n = 0;

    if (d == NULL)
        return 0;
    args = d->args ? d->args : "";
    first = ap_getword_conf(p, &args);
    if (apr_cstr_casecmp(d->directive, "Require") == 0 && apr_cstr_casecmp(first, "not") == 0)
        n++;
    for (d = d->parent; d != NULL; d = d->parent) {
        if (apr_cstr_casecmp(d->directive, "<RequireNone") == 0)
            n++;
    }
    return n == 0 ? 0 : n % 2 ? MG_MOD_NEG_ODD : MG_MOD_NEG_EVEN;
}

static const char *parse_require(cmd_parms *cmd, const char *line, const void **parsed)
{
    const char *t = line;
    const char *name = ap_getword_conf(cmd->pool, &t);
    const mg_mod_policy_t *mp;
    mg_mod_require_t *req;

    if (name == NULL || *name == '\0')
        return "Require media-guard needs a policy name declared with MediaGuardPolicy";
    while (mg_ascii_isspace(*t))
        t++;
    if (*t != '\0')
        return "Require media-guard takes exactly one policy name";
    mp = mg_mod_find_policy(cmd->server, name);
    if (mp == NULL) {
        const char *near = mg_mod_suggest_policy(cmd->server, name, cmd->temp_pool);
        return apr_psprintf(cmd->pool,
                            "Require media-guard %s: no policy of that name; %s%s%sdeclare it "
                            "with 'MediaGuardPolicy %s FILE' earlier in the server configuration "
                            "or in this virtual host",
                            name, near ? "did you mean '" : "", near ? near : "",
                            near ? "'? Otherwise " : "", name);
    }
    req = apr_pcalloc(cmd->pool, sizeof(*req));
    req->mp = mp;
    req->negated = negated_require(cmd->directive, cmd->temp_pool);
    mg_mod_note_location(cmd, mp, req->negated);
    mg_mod_mark_guarded(cmd);
    mg_mod_warn_limit(cmd, mp);
    *parsed = req;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* request view                                                         */
/* ------------------------------------------------------------------ */

static const char *lookup(void *ctx, mg_lookup_kind_t kind, const char *name)
{
    request_rec *r = ctx;
    switch (kind) {
    case MG_LOOKUP_ENV:
        return mg_mod_ssl_env(r, name);
    case MG_LOOKUP_NOTE:
        return apr_table_get(r->notes, name);
    case MG_LOOKUP_HEADER:
        return apr_table_get(r->headers_in, name);
    }
    return NULL;
}

/* Set by the first refusal for a URL header in this child (MG00205). */
static volatile apr_uint32_t url_header_said;

/* A header that some origins read as the request URL naming another one is
 * refused (bad-url, logged at info with the rest). Behind a front that
 * rewrites the URL and records the original there (IIS ARR, Envoy's
 * prefix_rewrite) that is every request, and at the default LogLevel the
 * admin would see 403s and nothing in the log: the first such refusal of
 * each child is a warning naming the header and the fix. Only when it is
 * the reason of the refusal (an earlier one, a malformed path, wins). */
static void warn_url_header(request_rec *r, const mg_request_t *req)
{
    const char *name = req->url_header_name;
    const char *why = req->d != NULL && !req->d->ok ? req->d->why : NULL;
    if (name == NULL || why == NULL || strncmp(why, name, strlen(name)) != 0 ||
        apr_atomic_cas32(&url_header_said, 1, 0) != 0)
        return;
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  MG_LOGNO(00205) "media-guard: refused (bad-url): %s names another URL than the "
                                  "request target; a front that rewrites the URL and records the "
                                  "original there is refused on every request: remove it before "
                                  "authorization (RequestHeader unset %s early; "
                                  "docs/canonical-urls.md). Said once per child process; each "
                                  "refusal is logged at info",
                  name, name);
}

/* One evaluation of `mp` for this request, on the target `t` (the client's,
 * split by mg_target_split, or a path the module derived), into `d`, which
 * the caller zeroed (a memo from apr_pcalloc: not zeroed twice). The target and
 * the headers become the request view exactly as in mgctl
 * (mg_request_from_header_table); the connection adds the rest. *canon is the
 * canonical path (NULL when canonicalisation refused the URL). */
static void decide(request_rec *r, const mg_mod_policy_t *mp, const mg_target_t *t,
                   mg_decision_t *d, const char **canon)
{
    mg_request_t req;
    const char *why = NULL;
    int trace = APLOGrtrace1(r);

    /* one pass over the request's headers, not a lookup per name */
    mg_request_from_header_table(&req, t, r->headers_in);
    req.method = r->method;
    req.scheme = ap_http_scheme(r);
    req.client_ip = r->useragent_ip;
    req.peer_ip = r->connection->client_ip;
    req.user = r->user;
    req.now = r->request_time;
    req.lookup = lookup;
    req.lookup_ctx = r;
    mg_mod_grants_attach(r, mp, &req);

    /* A refused URL is not an error here: mg_evaluate denies it (bad-url). */
    (void)mg_request_prepare(r->pool, mp->policy, &req, &why);
    if (req.url_header == MG_URL_HEADER_OTHER)
        warn_url_header(r, &req);
    mg_evaluate(r->pool, mp->policy, &req, trace, d);
    *canon = (req.d != NULL && req.d->ok) ? req.d->canon.path : NULL;

    if (trace && d->trace != NULL) {
        int i;
        for (i = 0; i < d->trace->nelts; i++)
            ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                          MG_LOGNO(00201) "media-guard %s trace: %s", mp->name,
                          ap_escape_logitem(r->pool, APR_ARRAY_IDX(d->trace, i, const char *)));
    }
}

/* The canonical path of a raw path, without evaluating (NULL if refused). */
static const char *canonical(request_rec *r, const mg_mod_policy_t *mp, const char *raw_path,
                             const char *query)
{
    mg_request_t req;
    const char *why = NULL;

    memset(&req, 0, sizeof(req));
    req.method = r->method;
    req.raw_path = raw_path;
    req.query = query;
    req.scheme = ap_http_scheme(r);
    req.client_ip = r->useragent_ip;
    req.peer_ip = r->connection->client_ip;
    req.now = r->request_time;
    if (mg_request_prepare(r->pool, mp->policy, &req, &why) != MG_OK || req.d == NULL || !req.d->ok)
        return NULL;
    return req.d->canon.path;
}

/* What httpd will actually serve, as a URL path: r->uri (decoded and
 * normalised by httpd, after translate_name: a server-context RewriteRule
 * [PT] has already changed it), minus the path_info that follows a regular
 * file (AcceptPathInfo On: /secret.jpg/x.txt serves secret.jpg, while the
 * target names a .txt). Path info after a directory is left alone: the
 * default handler answers 404 there, and a handler mapped to a directory
 * serves what the target names. NULL when there is no such path ("*"). */
static apr_ssize_t served_len(const request_rec *r)
{
    const char *uri = r->uri;
    size_t n;

    if (uri == NULL || uri[0] != '/')
        return -1;
    n = strlen(uri);
    if (r->finfo.filetype == APR_REG && r->path_info != NULL && r->path_info[0] != '\0') {
        size_t pi = strlen(r->path_info);
        if (pi < n && strcmp(uri + n - pi, r->path_info) == 0)
            n -= pi;
    }
    return (apr_ssize_t)n;
}

static const char *served_path(request_rec *r)
{
    apr_ssize_t n = served_len(r);
    return n < 0 ? NULL : apr_pstrmemdup(r->pool, r->uri, (apr_size_t)n);
}

/* Bytes that ap_os_escape_path(p, s, 1) copies as they are: ASCII letters
 * and digits and "-._~/" — RFC 3986's unreserved set and the slash, a
 * subset of what httpd's T_OS_ESCAPE_PATH keeps (server/gen_test_char.c:
 * alphanumerics and "$-_.+!*'(),:;@&=/~"; kept small on purpose, so that it
 * holds for every httpd version). */
static const unsigned char path_kept[256] = {
    ['-'] = 1, ['.'] = 1, ['/'] = 1, ['_'] = 1, ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1,
    ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1,
    ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1,
    ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1,
    ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1,
    ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1,
    ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1,
    ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

/* Whether ap_os_escape_path(served, 1) would be exactly `raw`, decided
 * without escaping or copying: raw is the n served bytes (none of which is
 * NUL, so strncmp reads raw no further than its end) and each of them is
 * kept as it is. 0 says nothing (another path, or a byte httpd escapes): the
 * caller escapes and compares as before. */
static int served_is_raw_verbatim(const char *served, apr_size_t n, const char *raw)
{
    apr_size_t i;
    unsigned char kept = 1;

    if (strncmp(served, raw, n) != 0 || raw[n] != '\0')
        return 0;
    /* four bytes a round: one branch per four lookups */
    for (i = 0; i + 4 <= n; i += 4)
        kept &= path_kept[(unsigned char)served[i]] & path_kept[(unsigned char)served[i + 1]] &
                path_kept[(unsigned char)served[i + 2]] & path_kept[(unsigned char)served[i + 3]];
    for (; i < n; i++)
        kept &= path_kept[(unsigned char)served[i]];
    return kept;
}

/* A file sub-request (ap_sub_req_lookup_file: mod_include `include file`,
 * `fsize`/`flastmod file`, type-map variants) names a file, not a URL:
 * unless the file is in the including document's own directory, httpd sets
 * r->uri to "" and r->unparsed_uri to the relative file name, and builds its
 * per-dir config from <Directory> sections only. Its URL is taken to be the
 * parent's URL directory plus the file's name below the parent's file
 * directory — the mapping httpd itself uses in the same-directory case.
 * 0: r is not such a sub-request; 1: t->path is that URL (escaped, no
 * query); -1: it is one, but no URL can be derived (t->path is "":
 * bad-url). */
int mg_mod_file_subreq_target(request_rec *r, mg_target_t *t)
{
    const char *fdir, *udir, *rel, *segs;
    size_t n;

    memset(t, 0, sizeof(*t));
    t->path = "";
    if (r->main == NULL || (r->uri != NULL && r->uri[0] == '/'))
        return 0;
    udir = served_path(r->main);
    if (r->filename == NULL || r->main->filename == NULL || udir == NULL)
        return -1;
    udir = ap_make_dirstr_parent(r->pool, udir);
    fdir = ap_make_dirstr_parent(r->pool, r->main->filename);
    n = strlen(fdir);
    if (n == 0 || fdir[n - 1] != '/' || strncmp(r->filename, fdir, n) != 0)
        return -1; /* not below the parent's directory */
    rel = r->filename + n;
    /* httpd merged the name already; anything odd left is refused */
    segs = apr_pstrcat(r->pool, "/", rel, "/", NULL);
    if (*rel == '\0' || strstr(segs, "//") || strstr(segs, "/./") || strstr(segs, "/../"))
        return -1;
    t->path = ap_os_escape_path(r->pool, apr_pstrcat(r->pool, udir, rel, NULL), 1);
    return 1;
}

/* Whether decision b is stricter than a (a refusal, or a lower level). */
static int stricter(const mg_decision_t *a, const mg_decision_t *b)
{
    if (b->outcome != MG_OUTCOME_ALLOW)
        return a->outcome == MG_OUTCOME_ALLOW;
    return a->outcome == MG_OUTCOME_ALLOW && b->access < a->access;
}

/* Decide the request: on its target (as the client or the sub-request
 * named it), and — when httpd serves another path than that target names
 * (RewriteRule [PT], path_info after a file, an index file) — on the served
 * path as well; the stricter decision counts. */
/* Whether a graceful reload has replaced the configuration this process
 * serves. httpd lets the children of the old generation finish the
 * connections they accepted, with the old configuration — also a request
 * that arrives on such a connection after the new generation serves, at
 * the client's pace (mod_reqtimeout's header limit, or Timeout between
 * any two bytes without it). A key removed or revoked and an id revoked by
 * the reload would still grant there. The parent sets running_generation
 * to the new generation before it tells the old children to stop. */
static int generation_replaced(int *running)
{
    int mine;

    if (ap_scoreboard_image == NULL || ap_mpm_query(AP_MPMQ_GENERATION, &mine) != APR_SUCCESS)
        return 0;
    *running = ap_get_scoreboard_global()->running_generation;
    return *running != mine;
}

/* ------------------------------------------------------------------ */
/* what a graceful reload changed, per policy NAME                      */
/* ------------------------------------------------------------------ */

/* At every post_config the parent publishes, per declared policy NAME, a
 * fingerprint of what a token's grant depends on: SHA-256 over the NAME,
 * the FILE and the policy digest — the canonical compiled form, which
 * carries every rule, every key's id, its revoked flag and the fingerprint
 * of its material (a key file replaced at the same path changes it),
 * tokens.revoked_ids and the revocation file's path and refresh. The
 * revocation file's ids are not in it: every process, of either
 * generation, reads that same file again at run time. The table is an
 * anonymous shared segment the parent makes once, before its first fork,
 * and keeps across reloads (ap_retained_data): every child, of every
 * generation, sees the parent's latest writing. A replaced child lets a
 * token's grant stand only when the table describes the running generation
 * and holds its NAME with its own fingerprint; anything else (no table, a
 * writing in progress or torn, a table of an older generation, the NAME
 * missing or declared twice with different policies, a policy that failed
 * to load) refuses. Only hashes are in it; the digest is logged anyway. */
#define RELOAD_FP_KEY "mod_media_guard: reload fingerprints"
#define RELOAD_FP_SLOTS 256
#define RELOAD_FP_DOMAIN "mg-reload-fingerprint-v1"

typedef struct reload_fp_slot {
    unsigned char name[32]; /* SHA-256 of the NAME */
    unsigned char fp[32];   /* its fingerprint; all zero: refuse (see above) */
} reload_fp_slot_t;

typedef struct reload_fp_table {
    volatile apr_uint32_t seq; /* odd while the parent writes (a seqlock) */
    int generation;            /* the generation whose configuration this is */
    int nslots;
    reload_fp_slot_t slots[RELOAD_FP_SLOTS];
} reload_fp_table_t;

typedef struct reload_fp_retained {
    apr_shm_t *shm;
    reload_fp_table_t *table; /* NULL: it could not be made */
} reload_fp_retained_t;

/* In every process: the parent's retained table (NULL before the first
 * post_config of this module load, or when it could not be made). */
static reload_fp_table_t *reload_fp_table;

static int reload_fp_hash(const char *name, unsigned char out[32])
{
    unsigned int n = 0;
    return EVP_Digest(name, strlen(name), out, &n, EVP_sha256(), NULL) && n == 32;
}

/* 1 and *out; 0 when there is nothing to trust (no policy, a hash error). */
static int reload_fp_of(const mg_mod_policy_t *mp, unsigned char out[32])
{
    const char *digest = mp->policy ? mg_policy_digest(mp->policy) : NULL;
    EVP_MD_CTX *md;
    unsigned int n = 0;
    int ok;

    if (digest == NULL || (md = EVP_MD_CTX_new()) == NULL)
        return 0;
    ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
         EVP_DigestUpdate(md, RELOAD_FP_DOMAIN, sizeof(RELOAD_FP_DOMAIN)) &&
         EVP_DigestUpdate(md, mp->name, strlen(mp->name) + 1) &&
         EVP_DigestUpdate(md, mp->file, strlen(mp->file) + 1) &&
         EVP_DigestUpdate(md, digest, strlen(digest) + 1) && EVP_DigestFinal_ex(md, out, &n) &&
         n == 32;
    EVP_MD_CTX_free(md);
    return ok;
}

typedef struct reload_fp_build {
    reload_fp_slot_t *slots;
    int n, dropped;
} reload_fp_build_t;

static void reload_fp_add(void *ctx, server_rec *s, mg_mod_policy_t *mp)
{
    reload_fp_build_t *b = ctx;
    reload_fp_slot_t slot;
    int i;

    (void)s;
    if (!reload_fp_hash(mp->name, slot.name)) {
        b->dropped++;
        return;
    }
    if (!reload_fp_of(mp, slot.fp))
        memset(slot.fp, 0, sizeof(slot.fp));
    for (i = 0; i < b->n; i++) {
        if (memcmp(b->slots[i].name, slot.name, sizeof(slot.name)) != 0)
            continue;
        /* one NAME, two policies (virtual hosts): which one a request
         * meant is not known here */
        if (memcmp(b->slots[i].fp, slot.fp, sizeof(slot.fp)) != 0)
            memset(b->slots[i].fp, 0, sizeof(slot.fp));
        return;
    }
    if (b->n == RELOAD_FP_SLOTS) {
        b->dropped++;
        return;
    }
    b->slots[b->n++] = slot;
}

static int reload_fp_publish(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp, server_rec *s)
{
    reload_fp_retained_t *rt;
    reload_fp_build_t b;
    reload_fp_table_t *t;
    apr_status_t rv;
    int gen;

    (void)pconf;
    (void)plog;
    reload_fp_table = NULL;
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG)
        return OK;
    rt = ap_retained_data_get(RELOAD_FP_KEY);
    if (rt == NULL) {
        rt = ap_retained_data_create(RELOAD_FP_KEY, sizeof(*rt));
        /* made once, in the process pool: it outlives every generation */
        rv = apr_shm_create(&rt->shm, sizeof(reload_fp_table_t), NULL, s->process->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         MG_LOGNO(00206) "media-guard: cannot create the shared table of policy "
                                         "fingerprints (%" APR_SIZE_T_FMT " bytes): after a "
                                         "graceful reload, every grant by a token in a child of "
                                         "an older generation fails (500)",
                         sizeof(reload_fp_table_t));
            rt->shm = NULL;
            return OK;
        }
        rt->table = apr_shm_baseaddr_get(rt->shm);
        memset(rt->table, 0, sizeof(reload_fp_table_t));
    }
    t = rt->table;
    if (t == NULL || ap_mpm_query(AP_MPMQ_GENERATION, &gen) != APR_SUCCESS)
        return OK;
    b.slots = apr_pcalloc(ptemp, sizeof(reload_fp_slot_t) * RELOAD_FP_SLOTS);
    b.n = b.dropped = 0;
    mg_mod_each_policy(s, ptemp, reload_fp_add, &b);
    if (b.dropped)
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     MG_LOGNO(00207) "media-guard: %d policy names (beyond %d, or whose "
                                     "fingerprint failed) are not in the table of policy "
                                     "fingerprints: after a graceful reload, a grant by a token "
                                     "under them in a child of an older generation fails (500)",
                     b.dropped, RELOAD_FP_SLOTS);
    /* the only writer; a reader that sees seq odd or changed doubts */
    apr_atomic_inc32(&t->seq);
    t->generation = gen;
    t->nslots = b.n;
    memcpy(t->slots, b.slots, sizeof(reload_fp_slot_t) * (apr_size_t)b.n);
    apr_atomic_inc32(&t->seq);
    reload_fp_table = t;
    return OK;
}

/* Whether the running generation serves policy mp's NAME with the same
 * fingerprint; 0 on any doubt, with *why. */
static int reload_kept_policy(const mg_mod_policy_t *mp, int running, const char **why)
{
    const volatile reload_fp_table_t *t = reload_fp_table;
    unsigned char name[32], mine[32];
    reload_fp_slot_t slot;
    apr_uint32_t s1, s2;
    int i, n, gen, found = 0;

    *why = "the table of policy fingerprints is not there";
    if (t == NULL)
        return 0;
    *why = "the policy did not load";
    if (!reload_fp_of(mp, mine) || !reload_fp_hash(mp->name, name))
        return 0;
    /* a full barrier each: the reads in between happen between them */
    s1 = apr_atomic_add32((volatile apr_uint32_t *)&t->seq, 0);
    gen = t->generation;
    n = t->nslots;
    for (i = 0; i < n && i < RELOAD_FP_SLOTS && !found; i++) {
        memcpy(&slot, (const void *)&t->slots[i], sizeof(slot));
        found = memcmp(slot.name, name, sizeof(name)) == 0;
    }
    s2 = apr_atomic_add32((volatile apr_uint32_t *)&t->seq, 0);
    *why = "the new configuration is still being read";
    if ((s1 & 1) || s1 != s2 || gen != running)
        return 0;
    *why = "the new configuration declares no policy of this name";
    if (!found)
        return 0;
    *why = "the new configuration changed the policy (its rules, keys, key material or revoked "
           "ids), or declares it twice differently";
    return CRYPTO_memcmp(slot.fp, mine, sizeof(mine)) == 0;
}

static void evaluate(request_rec *r, const mg_mod_policy_t *mp, mg_mod_memo_t *m,
                     const mg_target_t *t);

/* How long after its request line a request counts as in flight at a
 * reload (decided with the configuration it arrived under). */
#define RELOAD_IN_FLIGHT apr_time_from_sec(1)

void mg_mod_evaluate(request_rec *r, const mg_mod_policy_t *mp, mg_mod_memo_t *m,
                     const mg_target_t *t)
{
    const char *why;
    int running;

    evaluate(r, mp, m, t);
    /* a grant by a token is what a reload takes back (a key, a revocation):
     * in a replaced process it stands when the request was decided within
     * a second of its request line (a request in flight at the reload, as
     * it would have been granted a moment earlier) or when the reload left
     * the policy as it was; else — a request kept arriving slowly past the
     * reload — it is refused, as an error (500), which the client may ask
     * again for: the new generation decides then */
    if (m->d.outcome == MG_OUTCOME_ALLOW && m->d.token_kid != NULL &&
        apr_time_now() - r->request_time >= RELOAD_IN_FLIGHT && generation_replaced(&running) &&
        !reload_kept_policy(mp, running, &why)) {
        memset(&m->d, 0, sizeof(m->d));
        m->d.outcome = MG_OUTCOME_DENY;
        m->d.reason = MG_R_INTERNAL;
        m->d.status = HTTP_FORBIDDEN;
        m->d.detail = apr_pstrcat(r->pool,
                                  "a token's grant in a process whose configuration a graceful "
                                  "reload has replaced, and ",
                                  why, ": ask again, the new configuration decides", NULL);
    }
}

/* The URL path httpd is about to serve, as a target with the query it
 * serves, when it is another resource than target t (canonical path canon)
 * names: RewriteRule [PT], path info after a file, a token in the path. */
static int served_target(request_rec *r, const mg_mod_policy_t *mp, const mg_target_t *t,
                         const char *canon, mg_target_t *st, const char **served)
{
    const char *served_raw, *served_canon;
    apr_ssize_t n = served_len(r);
    int same_query;

    if (n < 0)
        return 0;
    same_query = r->args == t->query || (r->args && t->query && strcmp(r->args, t->query) == 0);
    /* the usual case: the same resource, decided already — the served path
     * is the target's byte for byte; when no served byte needs escaping
     * that is known without escaping it (ap_os_escape_path would return it
     * unchanged), else as below */
    if (same_query && served_is_raw_verbatim(r->uri, (apr_size_t)n, t->path))
        return 0;
    *served = apr_pstrmemdup(r->pool, r->uri, (apr_size_t)n);
    served_raw = ap_os_escape_path(r->pool, *served, 1);
    /* the same resource after escaping (byte for byte: no second
     * canonicalisation), else after canonicalising both */
    if (same_query && (strcmp(served_raw, t->path) == 0 ||
                       ((served_canon = canonical(r, mp, served_raw, r->args)) != NULL &&
                        strcmp(served_canon, canon) == 0)))
        return 0;
    *st = *t; /* the same scheme and authority */
    st->path = served_raw;
    st->query = r->args;
    return 1;
}

static void evaluate(request_rec *r, const mg_mod_policy_t *mp, mg_mod_memo_t *m,
                     const mg_target_t *t)
{
    const char *served = NULL, *served_canon;
    mg_target_t st;
    mg_decision_t d2;

    if (mp->policy == NULL) {
        memset(&m->d, 0, sizeof(m->d));
        m->d.outcome = MG_OUTCOME_DENY;
        m->d.reason = MG_R_INTERNAL;
        m->d.status = HTTP_FORBIDDEN;
        m->d.detail = "the policy failed to load on a graceful reload";
        return;
    }
    decide(r, mp, t, &m->d, &m->canon);
    if (m->canon == NULL || !served_target(r, mp, t, m->canon, &st, &served))
        return;
    memset(&d2, 0, sizeof(d2));
    decide(r, mp, &st, &d2, &served_canon);
    /* under a negation the served path counts too (check_authorization):
     * an unlisted URL rewritten to a listed file is the listed file */
    m->served_allowed = mg_decision_counts_under_negation(&d2);
    if (m->d.outcome != MG_OUTCOME_ALLOW || !stricter(&m->d, &d2))
        return;
    m->d = d2;
    m->served = served_canon ? served_canon : served;
    m->d.detail = apr_psprintf(
        r->pool,
        "served URI %s differs from the request target %s and is decided more strictly%s%s; put "
        "Require media-guard on the public URL or give the served path its own rule",
        m->served, m->canon, d2.detail ? ": " : "", d2.detail ? d2.detail : "");
}

/* ------------------------------------------------------------------ */
/* decision -> HTTP                                                     */
/* ------------------------------------------------------------------ */

static void deny_response(request_rec *r, mg_mod_req_t *rq, const mg_mod_memo_t *m)
{
    /* the status mgctl explain shows for this decision (mg_http.h) */
    int status = mg_decision_http_status(&m->d);
    const char *page = (m->d.page && m->d.page[0] == '/') ? m->d.page : NULL;

    if (m->d.status != 0 && status != m->d.status)
        ap_log_rerror(
            APLOG_MARK, APLOG_WARNING, 0, r,
            MG_LOGNO(00202) "media-guard %s: deny status %d is not supported, sending 403",
            m->mp->name, m->d.status);
    if (status == HTTP_FORBIDDEN) {
        if (page)
            ap_custom_response(r, HTTP_FORBIDDEN, page);
        else if (m->d.message)
            mg_mod_message_response(r, HTTP_FORBIDDEN, mg_message_html(r->pool, m->d.message));
        return;
    }
    /* Any other status: authz can only refuse with 403/401, so the 403 is
     * redirected internally to a request that mg_mod_deny_handler turns
     * into the configured status with the message or page. */
    rq->deny = m;
    rq->deny_uri = page ? page : MG_MOD_DENY_URI;
    rq->deny_is_page = page != NULL;
    ap_custom_response(r, HTTP_FORBIDDEN, rq->deny_uri);
}

/* An absolute URL for a local path, built from the virtual host's own
 * ServerName (and its scheme and port), never from the client's Host header
 * or an absolute-form target (ap_construct_url uses those under the default
 * UseCanonicalName Off): a shared cache that does not key on Host must not
 * be able to store a redirect to another site. Without a port in ServerName,
 * the port the connection arrived on. */
static const char *canonical_url(request_rec *r, const char *path)
{
    const char *host = r->server->server_hostname;
    apr_port_t port = r->server->port;
    const char *lb = "", *rb = "";

    if (host == NULL || *host == '\0')
        host = r->connection->local_ip;
    if (port == 0 && r->connection->local_addr != NULL)
        port = r->connection->local_addr->port;
    if (strchr(host, ':') != NULL && host[0] != '[') {
        lb = "["; /* an IPv6 literal */
        rb = "]";
    }
    if (port == 0 || ap_is_default_port(port, r))
        return apr_pstrcat(r->pool, ap_http_scheme(r), "://", lb, host, rb, path, NULL);
    return apr_psprintf(r->pool, "%s://%s%s%s:%u%s", ap_http_scheme(r), lb, host, rb,
                        (unsigned)port, path);
}

static authz_status map_decision(request_rec *r, mg_mod_req_t *rq, mg_mod_memo_t *m,
                                 const char **why)
{
    const char *url, *auth_type;

    switch (m->d.outcome) {
    case MG_OUTCOME_ALLOW:
        return AUTHZ_GRANTED;
    case MG_OUTCOME_LOGIN:
        auth_type = r->user == NULL ? ap_auth_type(r) : NULL;
        if (auth_type != NULL) {
            /* Basic and Digest are challenges the browser answers itself:
             * redirect to the login page unless credentials are on the way.
             * Any other AuthType (form, openid-connect, ...) may find a
             * session cookie, or runs its own login flow: let it
             * authenticate first, then we decide again with the user. */
            int challenge = apr_cstr_casecmp(auth_type, "Basic") == 0 ||
                            apr_cstr_casecmp(auth_type, "Digest") == 0;
            if (!challenge) {
                *why = "authenticating first (AuthType is not Basic or Digest)";
                return AUTHZ_DENIED_NO_USER;
            }
            if (apr_table_get(r->headers_in, "Authorization") != NULL) {
                *why = "credentials present, authenticating first";
                return AUTHZ_DENIED_NO_USER;
            }
        }
        url = m->d.location;
        if (url == NULL || *url == '\0') {
            *why = "no login location in the decision";
            return AUTHZ_DENIED;
        }
        /* ap_custom_response only redirects (302) for an absolute URL; a
         * local login path becomes one on this server. */
        if (url[0] == '/')
            url = canonical_url(r, url);
        if (!ap_is_url(url)) {
            *why = "login location is not a URL";
            return AUTHZ_DENIED;
        }
        ap_custom_response(r, HTTP_FORBIDDEN, url);
        return AUTHZ_DENIED;
    case MG_OUTCOME_AUTH:
        if (r->user == NULL && ap_auth_type(r) != NULL)
            return AUTHZ_DENIED_NO_USER;
        *why = r->user ? "authentication needed but a user is already set"
                       : "authentication needed but no AuthType is configured here";
        return AUTHZ_DENIED;
    case MG_OUTCOME_DENY:
    default:
        /* a broken token where access may allow the user (token:
         * alternative): authenticate when credentials are on the way (or
         * the AuthType finds its own), then decide again with the user, as
         * `mgctl explain --user` does. Without credentials the refusal
         * stands: no password prompt for a bad link. */
        if (m->d.user_may_allow && r->user == NULL && (auth_type = ap_auth_type(r)) != NULL &&
            ((apr_cstr_casecmp(auth_type, "Basic") != 0 &&
              apr_cstr_casecmp(auth_type, "Digest") != 0) ||
             apr_table_get(r->headers_in, "Authorization") != NULL)) {
            *why = "token not valid, but access may allow the user: authenticating first";
            return AUTHZ_DENIED_NO_USER;
        }
        if (m->d.reason == MG_R_INTERNAL) {
            /* an error, not a refusal: httpd answers 500 whatever the
             * composition, and `Require not` cannot make it a grant */
            *why = "internal error";
            return AUTHZ_GENERAL_ERROR;
        }
        deny_response(r, rq, m);
        return AUTHZ_DENIED;
    }
}

#define MG_MOD_REFUSAL_CACHE_CONTROL "private, no-store"
#define MG_MOD_REFUSAL_CC 1     /* rq->refusal_headers: Cache-Control set */
#define MG_MOD_REFUSAL_CORP 2   /* Cross-Origin-Resource-Policy set */
#define MG_MOD_REFUSAL_REASON 4 /* X-Media-Guard-Reason set (MediaGuardReasonHeader) */

/* Headers of every refusal (deny with any status or page, login redirect,
 * authentication, internal error), in err_headers_out: the only table an
 * error response keeps, and shared with the internal redirect to the deny
 * handler or page. Cache-Control because a refusal depends on who asks, and
 * a shared cache may keep a 404 or 410 without being told (RFC 9111
 * 4.2.2); the owning rule's Cross-Origin-Resource-Policy because it belongs
 * to every decision of the rule (docs/policy.md), as on allowed responses
 * (mg_mod_headers.c). A grant of the same request takes them out again:
 * the allowed response gets its own headers from the output filter. */
static void refusal_headers(request_rec *r, const mg_mod_memo_t *m)
{
    mg_mod_req_t *rq;

    if (m->d.outcome == MG_OUTCOME_ALLOW) {
        mg_mod_drop_refusal_headers(r);
        return;
    }
    rq = mg_mod_req_make(r);
    apr_table_setn(r->err_headers_out, "Cache-Control", MG_MOD_REFUSAL_CACHE_CONTROL);
    rq->refusal_headers |= MG_MOD_REFUSAL_CC;
    if (m->d.corp) {
        apr_table_setn(r->err_headers_out, "Cross-Origin-Resource-Policy", m->d.corp);
        rq->refusal_headers |= MG_MOD_REFUSAL_CORP;
    }
}

void mg_mod_drop_refusal_headers(request_rec *r)
{
    mg_mod_req_t *rq = mg_mod_req_peek(r);

    if (rq == NULL || !rq->refusal_headers)
        return;
    /* only what a refusal put there */
    if (rq->refusal_headers & MG_MOD_REFUSAL_CC)
        apr_table_unset(r->err_headers_out, "Cache-Control");
    if (rq->refusal_headers & MG_MOD_REFUSAL_CORP)
        apr_table_unset(r->err_headers_out, "Cross-Origin-Resource-Policy");
    /* the refusal's reason is not the answer the user gets */
    if (rq->refusal_headers & MG_MOD_REFUSAL_REASON)
        apr_table_unset(r->err_headers_out, MG_MOD_REASON_HEADER);
    rq->refusal_headers = 0;
}

void mg_mod_record(request_rec *r, const mg_mod_memo_t *m, const char *why, int negated)
{
    const char *outcome = mg_outcome_name(m->d.outcome);
    const char *reason = mg_reason_name(m->d.reason);
    const char *rule = m->d.rule_id ? m->d.rule_id : "-";
    mg_mod_dir_conf_t *dc = ap_get_module_config(r->per_dir_config, &media_guard_module);
    /* an internal error (a provider or the country database failing) is
     * not a refusal to count but a fault to fix: visible at the default level */
    int level = m->d.outcome == MG_OUTCOME_ALLOW ? APLOG_DEBUG
                : m->d.reason == MG_R_INTERNAL   ? APLOG_ERR
                                                 : APLOG_INFO;
    int export_to;

    /* tell operators when decisions come from a policy whose file was
     * refused on the last reload */
    if (m->mp->stale)
        why = why ? apr_pstrcat(r->pool, why, "; ", MG_MOD_STALE_NOTE, NULL) : MG_MOD_STALE_NOTE;
    outcome = outcome ? outcome : "deny";
    reason = reason ? reason : "internal-error";
    export_to = dc && dc->export_to != -1 ? dc->export_to : MG_MOD_EXPORT_DEFAULT;
    if (export_to & MG_MOD_EXPORT_NOTES) {
        apr_table_setn(r->notes, "MG_DECISION", outcome);
        apr_table_setn(r->notes, "MG_REASON", reason);
        apr_table_setn(r->notes, "MG_RULE", rule);
        apr_table_setn(r->notes, "MG_POLICY", m->mp->name);
    }
    if (export_to & MG_MOD_EXPORT_ENV) {
        apr_table_setn(r->subprocess_env, "MG_DECISION", outcome);
        apr_table_setn(r->subprocess_env, "MG_REASON", reason);
        apr_table_setn(r->subprocess_env, "MG_RULE", rule);
        apr_table_setn(r->subprocess_env, "MG_POLICY", m->mp->name);
    } else {
        /* A sub-request starts with a copy of its parent's environment:
         * without this, a reader here would take the parent's decision
         * for this request's. Cheap when absent (the table's index). */
        apr_table_unset(r->subprocess_env, "MG_DECISION");
        apr_table_unset(r->subprocess_env, "MG_REASON");
        apr_table_unset(r->subprocess_env, "MG_RULE");
        apr_table_unset(r->subprocess_env, "MG_POLICY");
    }
    mg_mod_metrics_count(m->mp, m->d.outcome, m->d.reason);

    if (!negated)
        refusal_headers(r, m);
    if (dc && dc->reason_header == 1 && !negated) {
        if (m->d.outcome == MG_OUTCOME_ALLOW)
            apr_table_unset(r->err_headers_out, MG_MOD_REASON_HEADER);
        else {
            apr_table_setn(r->err_headers_out, MG_MOD_REASON_HEADER, reason);
            mg_mod_req_make(r)->refusal_headers |= MG_MOD_REFUSAL_REASON;
        }
    }

    /* The canonical path and the evaluator's sentence only: never the
     * query, which may carry a token. */
    if (APLOG_R_IS_LEVEL(r, level))
        ap_log_rerror(APLOG_MARK, level, 0, r,
                      MG_LOGNO(00203) "media-guard policy=%s decision=%s reason=%s rule=%s user=%s "
                                      "path=%s%s%s%s%s",
                      m->mp->name, outcome, reason, ap_escape_logitem(r->pool, rule),
                      r->user ? ap_escape_logitem(r->pool, r->user) : "-",
                      m->canon ? ap_escape_logitem(r->pool, m->canon) : "(refused)",
                      m->d.detail ? " detail=\"" : "",
                      m->d.detail ? ap_escape_logitem(r->pool, m->d.detail) : "",
                      m->d.detail ? "\"" : "",
                      why ? apr_pstrcat(r->pool, " (", why, ")", NULL) : "");
}

/* authz_core logs every refusal as "AH01630: client denied by server
 * configuration: <r->filename>" at level error, and for a proxied request
 * (ProxyPass ... nocanon, a forward proxy, RewriteRule [P]) r->filename is
 * "proxy:" + the origin URL with the query — a signed link's mg_sig in the
 * error log. Hold it without the query while authorization runs: nothing
 * in authn/authz needs a proxy URL's query (mod_proxy reads r->filename in
 * its fixup and handler, after mg_mod_restore_filename), an ErrorDocument
 * or our login redirect is a new request or a Location header, and the
 * access log's %f then shows the name without the token. */
static void hide_proxy_query(request_rec *r, mg_mod_req_t *rq)
{
    const char *q;
    if (rq->proxy_filename != NULL || r->filename == NULL || r->filename[0] != 'p' ||
        strncmp(r->filename, "proxy:", 6) != 0 || (q = strchr(r->filename, '?')) == NULL)
        return;
    rq->proxy_filename = r->filename;
    rq->proxy_shown = apr_pstrmemdup(r->pool, r->filename, (apr_size_t)(q - r->filename));
    r->filename = (char *)rq->proxy_shown;
}

/* httpd gives a CGI script (mod_cgi, mod_cgid, mod_proxy_fcgi, mod_proxy_scgi,
 * ...) PATH_TRANSLATED by mapping its PATH_INFO as a URL with a lookup
 * sub-request (ap_add_cgi_vars), and takes that sub-request's r->filename
 * whatever its status: /cgi-bin/thumb.cgi/members/a.jpg handed the script
 * the path of a file the policy had just refused for that very URL, and a
 * script that reads PATH_TRANSLATED (RFC 3875's way to the file its path
 * names, mod_actions' `Action` handlers) served it. So such a sub-request
 * that this policy refuses loses its file name (ap_add_cgi_vars then sets
 * no PATH_TRANSLATED) until it is granted after all: by another provider of
 * a <RequireAny> (the next hook, mg_mod_restore_filename, puts it back) or
 * after authentication (the provider, asked again, puts it back first).
 * Only the lookup of the parent's own PATH_INFO: other callers check the
 * status (mod_dir, mod_include, mod_negotiation), and mod_autoindex's
 * ShowForbidden reads a refused entry's file name. While authentication
 * runs, the name is "" with no path info (authn modules such as
 * mod_authnz_fcgi copy it into an environment: never NULL there), which
 * names no file either if authentication then fails. authz_core's AH01630
 * line names the URI instead of the file.
 *
 * The lookup is known by the target httpd gave it, the escaped PATH_INFO
 * (r->unparsed_uri), not only by r->uri: a translate_name hook may change
 * r->uri before authorization — a RewriteRule with [PT], a token in the
 * path (mg_mod_pathtok.c) — and /cgi-bin/x.cgi/photo/a (rewritten to
 * /members/a.jpg) kept the refused file's name (red team 24b). */
int mg_mod_is_path_info_lookup(const request_rec *r)
{
    const char *pi;
    if (r->main == NULL || (pi = r->main->path_info) == NULL || pi[0] == '\0')
        return 0;
    return (r->uri != NULL && strcmp(r->uri, pi) == 0) ||
           (r->unparsed_uri != NULL && strcmp(r->unparsed_uri, ap_escape_uri(r->pool, pi)) == 0);
}

static void hold_refused_filename(request_rec *r, mg_mod_req_t *rq)
{
    if (r->filename == NULL || rq->refused_filename != NULL || !mg_mod_is_path_info_lookup(r))
        return;
    rq->refused_filename = r->filename;
    rq->refused_path_info = r->path_info;
    r->filename = NULL;
}

static void put_back_refused_filename(request_rec *r, mg_mod_req_t *rq)
{
    if (rq->refused_filename != NULL) {
        if (r->filename == NULL || r->filename == rq->refused_blank) {
            r->filename = rq->refused_filename;
            r->path_info = rq->refused_path_info;
        }
        rq->refused_filename = rq->refused_path_info = rq->refused_blank = NULL;
    }
}

/* check_user_id, really first: authentication of a refused PATH_INFO lookup
 * (above) sees a file name that names nothing, never NULL */
static int blank_refused_filename(request_rec *r)
{
    mg_mod_req_t *rq = r->main != NULL ? mg_mod_req_peek(r) : NULL;

    if (rq != NULL && rq->refused_filename != NULL && r->filename == NULL) {
        rq->refused_blank = apr_pstrdup(r->pool, "");
        r->filename = rq->refused_blank;
        r->path_info = rq->refused_blank;
    }
    return DECLINED;
}

void mg_mod_authz_register(apr_pool_t *p)
{
    (void)p;
    /* per conf, as every authz provider here: a per-URI hook would make
     * httpd authenticate every internal redirect and sub-request again */
    ap_hook_check_authn(blank_refused_filename, NULL, NULL, APR_HOOK_REALLY_FIRST,
                        AP_AUTH_INTERNAL_PER_CONF);
    /* after MediaGuardReloadFailure deny took failed policies away */
    ap_hook_post_config(reload_fp_publish, NULL, NULL, APR_HOOK_LAST);
}

/* The first hook after authorization that the request reaches when it was
 * granted (type_checker; fixups as well, in case a module answered the
 * type first): the proxy URL back, unless someone else changed it since. */
int mg_mod_restore_filename(request_rec *r)
{
    mg_mod_req_t *rq = mg_mod_req_peek(r);
    if (rq != NULL)
        put_back_refused_filename(r, rq);
    if (rq != NULL && rq->proxy_filename != NULL) {
        if (r->filename == rq->proxy_shown)
            r->filename = (char *)rq->proxy_filename;
        rq->proxy_filename = rq->proxy_shown = NULL;
    }
    return DECLINED;
}

static authz_status check_authorization(request_rec *r, const char *line, const void *parsed)
{
    const mg_mod_require_t *req = parsed;
    const mg_mod_policy_t *mp = req ? req->mp : NULL;
    mg_mod_req_t *rq;
    mg_mod_memo_t *m;
    const char *why = NULL;
    mg_target_t t;
    int fresh = 0;

    if (mp == NULL) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            MG_LOGNO(00204) "media-guard: Require media-guard %s has no policy; internal error",
            line);
        return AUTHZ_GENERAL_ERROR;
    }
    if (mp->shadowed) {
        /* a Require read in a main-server section names the main server's
         * policy; inside a virtual host that declares its own of that NAME,
         * the host's own decides (docs/directives.md, MediaGuardPolicy) */
        const mg_mod_srv_conf_t *sc =
            ap_get_module_config(r->server->module_config, &media_guard_module);
        const mg_mod_policy_t *own = sc != NULL && sc->shadows
                                         ? apr_hash_get(sc->policies, mp->name, APR_HASH_KEY_STRING)
                                         : NULL;
        if (own != NULL)
            mp = own;
    }
    rq = mg_mod_req_make(r);
    /* asked again (after authentication): the request as it came */
    put_back_refused_filename(r, rq);
    hide_proxy_query(r, rq);
    for (m = rq->memos; m != NULL; m = m->next) {
        if (m->mp == mp &&
            (m->user == r->user || (m->user && r->user && strcmp(m->user, r->user) == 0)))
            break;
    }
    if (m == NULL) {
        m = apr_pcalloc(r->pool, sizeof(*m));
        m->mp = mp;
        m->user = r->user;
        /* a file has no query (path "" when no URL: bad-url); a target
         * mg_target_split refuses is decided too: denied (bad-url) */
        if (mg_mod_file_subreq_target(r, &t) == 0)
            (void)mg_target_split(r->pool, r->unparsed_uri, &t, NULL);
        mg_mod_evaluate(r, mp, m, &t);
        m->next = rq->memos;
        rq->memos = m;
        fresh = 1;
    }
    if (req->negated) {
        /* No side effects: a grant counts against, a refusal is neutral —
         * except a refusal about the request's form rather than about who
         * asks, where or when, which counts as listed (fail closed): a URL
         * the policy could not judge (bad-url: `?a;b` appended to a listed
         * file, a cookie named tr, X-Original-URL), a method the rules do
         * not allow (httpd's default handler serves a static file to POST
         * as to GET; WebDAV's COPY reads other URLs), `?download=1` on a
         * file the rule lets the client view, a transformation the rule
         * refuses. As neutral, each let `Require not` pass the listed file. */
        int listed = req->negated == MG_MOD_NEG_ODD
                         ? mg_decision_counts_under_negation(&m->d) || m->served_allowed
                         : m->d.outcome == MG_OUTCOME_ALLOW;

        m->negated |= req->negated;
        if (fresh)
            mg_mod_record(r, m,
                          listed && m->d.outcome != MG_OUTCOME_ALLOW
                              ? (m->served_allowed
                                     ? "under a negation, counted as allowed: httpd serves "
                                       "another URL path, which the policy allows"
                                     : "under a negation, counted as allowed: a refusal of the "
                                       "request's form, not of the client")
                              : "under a negation",
                          1);
        if (listed)
            return AUTHZ_GRANTED;
        /* an error must stay an error: negated, a refusal becomes neutral */
        return m->d.reason == MG_R_INTERNAL ? AUTHZ_GENERAL_ERROR : AUTHZ_DENIED;
    }
    if (!m->mapped) {
        /* a use of a one-time link is spent only where a grant can count
         * (not under a negation), once per request */
        mg_mod_once_apply(r, m);
        m->result = map_decision(r, rq, m, &why);
        m->mapped = 1;
        mg_mod_record(r, m, why, 0);
    }
    if (m->result != AUTHZ_GRANTED)
        hold_refused_filename(r, rq);
    return m->result;
}

const authz_provider mg_mod_authz_provider = {
    &check_authorization,
    &parse_require,
};

/* ------------------------------------------------------------------ */
/* deny with a status other than 403                                    */
/* ------------------------------------------------------------------ */

/* quick_handler: runs first for every request, declines at once unless
 * this is the internal redirect our own deny asked for. */
int mg_mod_deny_handler(request_rec *r, int lookup_uri)
{
    mg_mod_req_t *prq;
    const mg_mod_memo_t *m;
    int status;

    if (lookup_uri || r->prev == NULL || r->main != NULL)
        return DECLINED;
    prq = mg_mod_req_peek(r->prev);
    if (prq == NULL || prq->deny == NULL || r->prev->status != HTTP_FORBIDDEN ||
        r->unparsed_uri == NULL || strcmp(r->unparsed_uri, prq->deny_uri) != 0)
        return DECLINED;
    m = prq->deny;
    status = mg_decision_http_status(&m->d);

    if (prq->deny_is_page) {
        /* deny.page: serve the page normally, with the configured status */
        r->status = status;
        return DECLINED;
    }
    r->status = status;
    r->status_line = NULL;
    if (m->d.message)
        mg_mod_message_response(r, status, mg_message_html(r->pool, m->d.message));
    ap_send_error_response(r, 0);
    return DONE;
}
