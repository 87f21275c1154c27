/* test_qnames.c — the reserved query names indexed when the policy loads
 * (mg_qreserved_table_t, policy->req_tables) give exactly the verdicts of
 * the per-request walk over the name lists that they replace
 * (mg_query_reserved_check_lists, kept in lib/ as the reference): the same
 * return value, the same sentence for the same parameter, the same
 * "later" refusal. A differential test: every reserved name of the built-in
 * set, of the shipped policies and of policies with foreign keys (present
 * and absent), in every case variant, truncated, extended and changed by
 * one byte, and under the spellings PHP, Rack, qs and ASP.NET read as it
 * (docs/canonical-urls.md, "Reserved parameter names"); then the whole of
 * mg_request_prepare with the policy's tables and without them. Counted,
 * asserted once per policy (a ck_assert per case would be a pipe write
 * each). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "fmt_fixture.h"
#include "mg_canon.h"
#include "mg_fmt.h"
#include "mg_request.h"
#include "mg_test.h"

static void setup(void)
{
    mg_fx_setup("qnames");
    mg_fx_write_file("ik.key", "a-longer-shared-secret-for-tests\n");
    mg_fx_write_file("ng.key", "a-longer-shared-secret-for-tests\n");
    mg_fx_write_file("bn.key", "a-longer-shared-secret-for-tests\n");
    mg_fx_write_file("gc.key", "nZtRohdNF9m3cKM24IcK4w==\n");
    mg_fx_write_file("k1.hex", "aabbccddeeff00112233445566778899\n");
    mg_fx_write_file("lt.key", "a-longer-shared-secret-for-tests\n");
}

/* ---- what is compared ---------------------------------------------------- */

typedef struct {
    long cases, parsed, refused, later, disagree, download, tr;
    char first[512]; /* the first disagreement, for the failure message */
} tally_t;

static int same_str(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void disagree(tally_t *t, const char *what, const char *q, const char *a, const char *b)
{
    if (t->disagree++ == 0)
        snprintf(t->first, sizeof(t->first), "%s on query '%s': '%s' against '%s'", what, q,
                 a ? a : "(none)", b ? b : "(none)");
}

/* The policy's names as mg_request.c hands them to the walk: the download
 * parameter (it may repeat), then reserved_params. */
static void policy_lists(const mg_policy_t *p, mg_qreserved_t *dl, mg_qreserved_list_t lists[2])
{
    memset(dl, 0, sizeof(*dl));
    dl->name = p->download_param ? p->download_param : "download";
    dl->flags = MG_QR_REPEAT;
    lists[0].names = dl;
    lists[0].n = 1;
    lists[1].names = p->reserved_params ? (const mg_qreserved_t *)p->reserved_params->elts : NULL;
    lists[1].n = p->reserved_params ? p->reserved_params->nelts : 0;
}

typedef struct {
    const mg_policy_t *p; /* with req_tables */
    mg_policy_t bare;     /* the same policy without them: the per-request way */
    mg_qreserved_t dl;
    mg_qreserved_list_t lists[2];
    mg_qreserved_table_t own; /* the policy's names alone, as now names */
    apr_pool_t *scratch;      /* cleared per query */
} subject_t;

static void subject_init(subject_t *s, const mg_policy_t *p)
{
    ck_assert_ptr_nonnull(p->req_tables);
    s->p = p;
    s->bare = *p;
    s->bare.req_tables = NULL;
    policy_lists(p, &s->dl, s->lists);
    mg_qreserved_table_build(&s->own, s->lists, 2, NULL, 0);
    apr_pool_create(&s->scratch, mg_test_pool);
}

static int same_params(const apr_array_header_t *a, const apr_array_header_t *b)
{
    if (a == NULL || b == NULL || a->nelts != b->nelts)
        return 0;
    const mg_qparam_t *x = (const mg_qparam_t *)a->elts, *y = (const mg_qparam_t *)b->elts;
    for (int i = 0; i < a->nelts; i++) {
        if (x[i].name_len != y[i].name_len || x[i].value_len != y[i].value_len ||
            x[i].name_plain != y[i].name_plain ||
            memcmp(x[i].name, y[i].name, x[i].name_len + 1) != 0 ||
            memcmp(x[i].value, y[i].value, x[i].value_len + 1) != 0)
            return 0;
    }
    return 1;
}

/* One raw query through every pair of old and new ways. */
static void compare_query(subject_t *s, tally_t *t, const char *q)
{
    apr_pool_t *pool = s->scratch;
    apr_pool_clear(pool);
    t->cases++;

    /* 1. the canonicaliser: built-in names now, the policy's later */
    mg_canon_t ca, cb;
    const char *wa = NULL, *wb = NULL, *la = NULL, *lb = NULL;
    int ra = mg_canon_path_names(pool, "/a/b.jpg", q, &ca, &wa, 0, s->lists, 2, &la);
    int rb = mg_canon_path_table(pool, "/a/b.jpg", q, &cb, &wb, 0, &s->p->req_tables->names, &lb);
    if (ra != rb)
        disagree(t, "canon status", q, ra ? wa : "0", rb ? wb : "0");
    else if (ra != 0 && !same_str(wa, wb))
        disagree(t, "canon refusal", q, wa, wb);
    else if (ra == 0 && !same_str(la, lb))
        disagree(t, "canon later refusal", q, la, lb);
    else if (ra == 0 && (!same_str(ca.tr, cb.tr) || ca.tr_form != cb.tr_form ||
                         !same_str(ca.path, cb.path) || ca.params->nelts != cb.params->nelts))
        disagree(t, "canon result (tr)", q, ca.tr, cb.tr);
    t->refused += ra != 0;
    t->later += ra == 0 && la != NULL;
    /* the canonicaliser's parameters (parsed in the block it shares with
     * the path's buffer) are mg_query_parse's (a block of their own),
     * and the path is intact after them */
    if (rb == 0) {
        apr_array_header_t *own = NULL;
        const char *ow = NULL;
        if (mg_query_parse(pool, q, &own, &ow) != 0)
            disagree(t, "canon parsed what mg_query_parse refuses", q, "0", ow);
        else if (!same_params(own, cb.params))
            disagree(t, "canon parameters", q, "mg_query_parse's", "other");
        else if (strcmp(cb.path, "/a/b.jpg") != 0 || strcmp(cb.ext, "jpg") != 0)
            disagree(t, "canon path after the query", q, "/a/b.jpg", cb.path);
    }

    /* 2. the policy's names alone as now names (mg_policy_query_check's
     * lists), on the parameters the parser gives */
    apr_array_header_t *params = NULL;
    const char *pw = NULL;
    if (mg_query_parse(pool, q, &params, &pw) == 0) {
        t->parsed++;
        const char *xa = NULL, *xb = NULL;
        int na = mg_query_reserved_check_lists(params, s->lists, 2, NULL, 0, &xa, NULL);
        int nb = mg_query_reserved_check_table(params, &s->own, &xb, NULL);
        if (na != nb || (na != 0 && !same_str(xa, xb)))
            disagree(t, "policy names", q, na ? xa : "0", nb ? xb : "0");
        /* and with a NULL `later`: the later names are not looked at */
        xa = xb = NULL;
        na = mg_query_reserved_check_lists(params, s->lists, 1, s->lists + 1, 1, &xa, NULL);
        mg_qreserved_table_t split;
        mg_qreserved_table_build(&split, s->lists, 1, s->lists + 1, 1);
        nb = mg_query_reserved_check_table(params, &split, &xb, NULL);
        if (na != nb || (na != 0 && !same_str(xa, xb)))
            disagree(t, "download now, reserved later (no later)", q, na ? xa : "0", nb ? xb : "0");
        const char *ya = NULL, *yb = NULL;
        xa = xb = NULL;
        na = mg_query_reserved_check_lists(params, s->lists, 1, s->lists + 1, 1, &xa, &ya);
        nb = mg_query_reserved_check_table(params, &split, &xb, &yb);
        if (na != nb || (na != 0 && !same_str(xa, xb)) || (na == 0 && !same_str(ya, yb)))
            disagree(t, "download now, reserved later", q, na ? xa : ya, nb ? xb : yb);
    }

    /* 3. the whole request preparation, with the tables and without */
    mg_request_t ra_req, rb_req;
    memset(&ra_req, 0, sizeof(ra_req));
    ra_req.method = "GET";
    ra_req.scheme = "http";
    ra_req.raw_path = "/a/b.jpg";
    ra_req.query = q;
    ra_req.client_ip = ra_req.peer_ip = "127.0.0.1";
    rb_req = ra_req;
    const char *pa = NULL, *pb = NULL;
    mg_status_t sa = mg_request_prepare(pool, &s->bare, &ra_req, &pa);
    mg_status_t sb = mg_request_prepare(pool, s->p, &rb_req, &pb);
    if (sa != sb || !same_str(pa, pb))
        disagree(t, "mg_request_prepare", q, pa ? pa : "ok", pb ? pb : "ok");
    else if (sa == MG_OK && ra_req.d->download != rb_req.d->download)
        disagree(t, "download flag", q, ra_req.d->download ? "1" : "0",
                 rb_req.d->download ? "1" : "0");
    else if (sa == MG_OK && (ra_req.d->has_tr != rb_req.d->has_tr ||
                             !same_str(ra_req.d->canon.tr, rb_req.d->canon.tr)))
        disagree(t, "transformation", q, ra_req.d->canon.tr, rb_req.d->canon.tr);
    t->download += sb == MG_OK && rb_req.d->download;
    t->tr += sb == MG_OK && rb_req.d->has_tr;
}

/* The download parameter and "tr" with values that ask and that do not,
 * exact and in other spellings, alone, repeated and among other
 * parameters: the table's "some parameter is exactly this name" (hit)
 * stands in for mg_request_prepare's and canon_query's loops over the
 * parameters, so the download flag and the transformation must come out
 * as the loops give them. */
static const char *enc(const char *name, size_t n);
static void value_queries(subject_t *s, tally_t *t)
{
    static const char *const vals[] = {"1", "0", "true", "TRUE", "yes", "Yes", "no",
                                       "",  "2", "on",   "y",    "tru", "1 ",  "%31"};
    static const char *const others[] = {"",         "w=1&",         "mg_exp=1&",
                                         "x=1&y=2&", "download2=1&", "Download=1&"};
    const char *dl = enc(s->dl.name, strlen(s->dl.name));
    char dlq[256], q[1024];
    snprintf(dlq, sizeof(dlq), "%s", dl);
    const char *dl_up = NULL;
    char up[128];
    snprintf(up, sizeof(up), "%s", s->dl.name);
    for (char *c = up; *c; c++)
        *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
    dl_up = up;
    for (size_t o = 0; o < sizeof(others) / sizeof(*others); o++) {
        for (size_t v = 0; v < sizeof(vals) / sizeof(*vals); v++) {
            const char *val = vals[v];
            snprintf(q, sizeof(q), "%s%s=%s", others[o], dlq, val);
            compare_query(s, t, q);
            snprintf(q, sizeof(q), "%s%s", others[o], dlq); /* no '=' */
            compare_query(s, t, q);
            snprintf(q, sizeof(q), "%s=%s&%s%s=1", dlq, val, others[o], dlq);
            compare_query(s, t, q);
            snprintf(q, sizeof(q), "%s%s=0&%s=%s", others[o], dlq, dlq, val);
            compare_query(s, t, q);
            snprintf(q, sizeof(q), "%s%s=%s", others[o], dl_up, val);
            compare_query(s, t, q);
            snprintf(q, sizeof(q), "%s%s=%s&tr=w-100", others[o], dlq, val);
            compare_query(s, t, q);
            snprintf(q, sizeof(q), "tr=w-100&%s%s=%s", others[o], dlq, val);
            compare_query(s, t, q);
        }
        static const char *const trs[] = {
            "tr=w-100",          "tr=w-100,h-50", "tr=",          "tr",        "tr=w-100&tr=w-100",
            "tr=bogus",          "tr=w-100&x=tr", "x=tr&tr=h-20", "trx=w-100", "t=w-100&r=1",
            "tr=w-100&mg_exp=1", "%74r=w-100"};
        for (size_t i = 0; i < sizeof(trs) / sizeof(*trs); i++) {
            snprintf(q, sizeof(q), "%s%s", others[o], trs[i]);
            compare_query(s, t, q);
        }
    }
}

/* ---- the names and their spellings -------------------------------------- */

/* A decoded name as query text: every byte other than [A-Za-z0-9_-] as
 * %XX, so that the parser hands back exactly these bytes. */
static char enc_buf[3 * 200 + 1];
static const char *enc(const char *name, size_t n)
{
    char *o = enc_buf, *w = o;
    if (n > 200)
        n = 200;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '-') {
            *w++ = (char)c;
        } else {
            snprintf(w, 4, "%%%02X", c);
            w += 3;
        }
    }
    *w = '\0';
    return o;
}

/* Every query made of one spelling `v` (already query text): alone, twice,
 * after an ordinary parameter; with `full`, also before and after each
 * partner (exact names and refused spellings of the now and the later
 * lists: which refusal wins depends on the order). */
typedef struct {
    const char *p[12];
    int n;
} partners_t;

static void queries_of(subject_t *s, tally_t *t, const char *v, const partners_t *pt, int full)
{
    char q[2048];
    snprintf(q, sizeof(q), "%s=1", v);
    compare_query(s, t, q);
    snprintf(q, sizeof(q), "%s=1&%s=2", v, v);
    compare_query(s, t, q);
    snprintf(q, sizeof(q), "w=1&%s", v);
    compare_query(s, t, q);
    for (int i = 0; full && i < pt->n; i++) {
        snprintf(q, sizeof(q), "%s=1&%s=2", v, pt->p[i]);
        compare_query(s, t, q);
        snprintf(q, sizeof(q), "%s=2&%s=1", pt->p[i], v);
        compare_query(s, t, q);
    }
}

/* The spellings of one name (decoded bytes, then encoded). */
static void spellings(subject_t *s, tally_t *t, const char *name, const partners_t *pt)
{
    size_t n = strlen(name);
    char buf[160];
    ck_assert_uint_lt(n, 100);
#define ONE(str, len) queries_of(s, t, enc((str), (len)), pt, 0)
#define FULL(str, len) queries_of(s, t, enc((str), (len)), pt, 1)
    FULL(name, n);
    /* case: every combination up to 10 letters, each single flip beyond */
    if (n <= 10) {
        for (unsigned m = 0; m < (1u << n); m++) {
            for (size_t i = 0; i < n; i++) {
                char c = name[i];
                if ((m >> i & 1) && c >= 'a' && c <= 'z')
                    c = (char)(c - 32);
                else if ((m >> i & 1) && c >= 'A' && c <= 'Z')
                    c = (char)(c + 32);
                buf[i] = c;
            }
            FULL(buf, n);
        }
    } else {
        for (size_t i = 0; i <= n; i++) {
            memcpy(buf, name, n);
            for (size_t j = 0; j < n; j++)
                if (j == i || i == n)
                    buf[j] = (char)(buf[j] >= 'a' && buf[j] <= 'z' ? buf[j] - 32 : buf[j]);
            FULL(buf, n);
        }
    }
    /* truncated, extended by every byte, every byte changed to every byte */
    for (size_t k = 1; k < n; k++)
        ONE(name, k);
    for (int c = 1; c < 256; c++) {
        memcpy(buf, name, n);
        buf[n] = (char)c;
        ONE(buf, n + 1);
        buf[0] = (char)c;
        memcpy(buf + 1, name, n);
        ONE(buf, n + 1);
        for (size_t i = 0; i < n; i++) {
            memcpy(buf, name, n);
            buf[i] = (char)c;
            ONE(buf, n);
        }
    }
    /* PHP, Rack, qs, ASP.NET: what they cut at, drop or turn into '_' */
    static const char *const around[][2] = {
        {" ", ""},
        {"  ", ""},
        {"[", "]"},
        {"", "[]"},
        {"", "[x]"},
        {"", "["},
        {"", "]"},
        {"", ".x"},
        {".", ""},
        {"]", ""},
        {"[", ""},
        {"+", ""},
        {"%", ""},
        {"", "%"},
        {"", " "},
        {"", "[0]"},
        {"[]", ""},
        {". ", "[]"},
        {"\xc2\xad", ""},
        {"\xe2\x80\x8b", ""},
        {"", "\xe2\x80\x8b"},
        {"\xef\xbb\xbf", ""},
    };
    for (size_t a = 0; a < sizeof(around) / sizeof(*around); a++) {
        int len = snprintf(buf, sizeof(buf), "%s%s%s", around[a][0], name, around[a][1]);
        FULL(buf, (size_t)len);
    }
    /* '_' and '-' as ' ', '.', '[' (PHP's mangling read backwards) */
    for (size_t i = 0; i < n; i++) {
        if (name[i] != '_' && name[i] != '-')
            continue;
        static const char rep[] = {' ', '.', '[', ']', '+'};
        for (size_t r = 0; r < sizeof(rep); r++) {
            memcpy(buf, name, n);
            buf[i] = rep[r];
            FULL(buf, n);
        }
    }
    /* a byte encoded twice ("%2574r"), and look-alike characters (U+017F
     * for 's', U+212A for 'k', U+0130/U+0131 for 'i', fullwidth) in place of
     * each letter */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        int len = snprintf(buf, sizeof(buf), "%.*s%%%02X%s", (int)i, name, c, name + i + 1);
        ONE(buf, (size_t)len);
        const char *look = c == 's' || c == 'S'   ? "\xc5\xbf"
                           : c == 'k' || c == 'K' ? "\xe2\x84\xaa"
                           : c == 'i' || c == 'I' ? "\xc4\xb1"
                                                  : NULL;
        if (look != NULL) {
            len = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)i, name, look, name + i + 1);
            ONE(buf, (size_t)len);
        }
        if (c >= 'a' && c <= 'z') {
            char fw[4] = {(char)0xef, (char)0xbd, (char)(0x81 + (c - 'a')), 0}; /* U+FF41.. */
            len = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)i, name, fw, name + i + 1);
            ONE(buf, (size_t)len);
        }
        if (c == 'i') {
            len = snprintf(buf, sizeof(buf), "%.*s\xc4\xb0%s", (int)i, name, name + i + 1);
            ONE(buf, (size_t)len);
        }
    }
#undef ONE
#undef FULL
}

/* Every name the policy reserves or reads, and names near them. */
static void run_policy(const mg_policy_t *p, const char *label)
{
    subject_t s;
    tally_t t;
    memset(&t, 0, sizeof(t));
    subject_init(&s, p);
    ck_assert_int_eq(p->req_tables->has_foreign, mg_fmt_policy_keys_foreign(p));

    const char *names[160];
    int nn = 0;
    static const char *const fixed[] = {
        "tr",       "mg_",   "mg_sig",  "mg_exp", "mg_kid", "mg_nbf", "mg_acc",   "mg_ip",
        "mg_scope", "mg_id", "mg_uses", "mg",     "m",      "w",      "download", "dl"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
        names[nn++] = fixed[i];
    names[nn++] = s.dl.name;
    for (int i = 0; i < s.lists[1].n; i++)
        names[nn++] = s.lists[1].names[i].name;
    /* the parameters of every foreign format, whether this policy has its
     * keys or not */
    for (const char *const *a = mg_fmt_all_params(); *a != NULL && nn < 150; a++)
        names[nn++] = *a;

    /* partners: exact and refused spellings of a now name ("tr"), of the
     * download parameter and of the first reserved name */
    partners_t pt = {.n = 0};
    const char *first = s.lists[1].n > 0 ? s.lists[1].names[0].name : "mg_sig";
    const char *const base[] = {"tr", s.dl.name, first};
    for (size_t i = 0; i < 3; i++) {
        pt.p[pt.n++] = apr_pstrdup(mg_test_pool, enc(base[i], strlen(base[i])));
        const char *exact = pt.p[pt.n - 1];
        pt.p[pt.n++] = apr_pstrcat(mg_test_pool, "%20", exact, NULL);
        char *up = apr_pstrdup(mg_test_pool, base[i]);
        for (char *c = up; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
        pt.p[pt.n++] = apr_pstrdup(mg_test_pool, enc(up, strlen(up)));
    }
    for (int i = 0; i < nn; i++)
        spellings(&s, &t, names[i], &pt);
    value_queries(&s, &t);
    apr_pool_destroy(s.scratch);

    fprintf(stderr,
            "%s: %ld queries (%ld parsed, %ld refused, %ld with a later refusal, %ld download, "
            "%ld tr), %d names\n",
            label, t.cases, t.parsed, t.refused, t.later, t.download, t.tr, nn);
    ck_assert_msg(t.disagree == 0, "%s: %ld disagreements; first: %s", label, t.disagree, t.first);
    /* the corpus reaches every outcome */
    ck_assert_int_gt(t.refused, 0);
    ck_assert_int_gt(t.cases - t.refused, 0);
    ck_assert_int_gt(t.download, 0);
    ck_assert_int_gt(t.tr, 0);
}

/* ---- the policies ------------------------------------------------------- */

START_TEST(test_shipped_policies_table_agrees_with_the_walk)
{
    static const char *const files[] = {"photo-site.yaml", "intranet-media.yaml",
                                        "video-course.yaml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
        mg_policy_t *p = NULL;
        mg_diags_t *d = mg_diags_make(mg_test_pool);
        const char *path = apr_pstrcat(mg_test_pool, MG_SRCDIR "/policies/", files[i], NULL);
        ck_assert_msg(mg_policy_load_file(mg_test_pool, path, &p, d) == MG_OK, "%s", path);
        ck_assert_int_eq(p->req_tables->has_foreign, 0);
        run_policy(p, files[i]);
    }
}
END_TEST

/* Keys of five foreign formats (query and path forms) and a download
 * parameter of its own, in mixed case. */
static const char P_FOREIGN[] =
    "version: 1\n"
    "download_param: Save-As\n"
    "keys:\n"
    "  - {id: ik1, format: imagekit, file: ik.key, options: {endpoint: /ik/}}\n"
    "  - id: ng1\n"
    "    format: nginx-secure-link\n"
    "    file: ng.key\n"
    "    options: {expression: '$secure_link_expires$uri$secret', hash_param: St,\n"
    "              expires_param: e}\n"
    "  - {id: g1, format: gcp-cdn, file: gc.key,\n"
    "     options: {origin: 'https://media.example.com', key_name: my-key}}\n"
    "  - {id: ak, format: akamai-edgeauth, file: k1.hex, options: {}}\n"
    "  - {id: lt, format: lighttpd-secdownload, file: lt.key,\n"
    "     options: {uri_prefix: /sec/, timeout: \"3600\"}}\n"
    "rules:\n"
    "  - {id: all, path: /, token: required}\n";

START_TEST(test_foreign_key_policies_table_agrees_with_the_walk)
{
    mg_policy_t *p = mg_fx_load_ok(P_FOREIGN);
    ck_assert_int_eq(p->req_tables->has_foreign, 1);
    ck_assert_int_gt(p->reserved_params->nelts, 5);
    run_policy(p, "five formats");
    /* one format's names only (Bunny's "expires" would clash with Google's
     * "Expires" above): the others' are ordinary parameters */
    mg_policy_t *bn = mg_fx_load_ok("version: 1\n"
                                    "keys:\n"
                                    "  - {id: bn1, format: bunny, file: bn.key}\n"
                                    "rules:\n"
                                    "  - {id: all, path: /, token: required}\n");
    ck_assert_int_eq(bn->req_tables->has_foreign, 1);
    run_policy(bn, "bunny");
    /* no keys at all, the default download parameter */
    mg_policy_t *none =
        mg_fx_load_ok("version: 1\nrules:\n  - {id: all, path: /, access: {anonymous: view}}\n");
    ck_assert_int_eq(none->req_tables->has_foreign, 0);
    run_policy(none, "no keys");
}
END_TEST

/* More than 64 names on either side: the walk's refusals ("too many"),
 * now and later, come from the table too. */
/* canon_path takes the path's buffer and the query's block in one
 * allocation: for paths of every length 1-70 (every alignment of the
 * query's block), on the fast and the general way, with queries on the
 * fast and the general way, the path and the parameters come out as
 * alone (the parameters as mg_query_parse's); the query's bound and the
 * order of refusals (the path's first) are unchanged. */
START_TEST(test_path_and_query_share_one_block)
{
    apr_pool_t *pool;
    apr_pool_create(&pool, mg_test_pool);
    static const char *const queries[] = {"a=1&b=2", "mg_exp=1&mg_sig=abc_-",   "x=%41%42&y=+",
                                          "a",       "q=" /* an empty value */, "k=v&k=w&&z"};
    long cases = 0;
    for (size_t plen = 1; plen <= 70; plen++) {
        for (int form = 0; form < 2; form++) {
            char path[128], want[128];
            /* "/aaa...": fast; "/./aaa...": the general way, the same result */
            snprintf(path, sizeof(path), "%s%.*s", form ? "/./" : "/", (int)plen - 1,
                     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
            snprintf(want, sizeof(want), "/%.*s", (int)plen - 1,
                     "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
            for (size_t i = 0; i < sizeof(queries) / sizeof(*queries); i++) {
                mg_canon_t c;
                const char *w = NULL;
                apr_array_header_t *own = NULL;
                ck_assert_int_eq(mg_canon_path(pool, path, queries[i], &c, &w), 0);
                ck_assert_str_eq(c.path, want);
                ck_assert_int_eq(mg_query_parse(pool, queries[i], &own, &w), 0);
                ck_assert_msg(same_params(own, c.params), "%s?%s", path, queries[i]);
                cases++;
            }
        }
    }
    /* the query's bound, exactly */
    char *q = apr_palloc(pool, MG_MAX_QUERY + 2);
    memset(q, 'a', MG_MAX_QUERY + 1);
    q[0] = 'x';
    q[1] = '=';
    q[MG_MAX_QUERY] = '\0';
    mg_canon_t c;
    const char *w = NULL;
    ck_assert_int_eq(mg_canon_path(pool, "/a/b.jpg", q, &c, &w), 0);
    ck_assert_int_eq(c.params->nelts, 1);
    ck_assert_uint_eq(((const mg_qparam_t *)c.params->elts)[0].value_len, MG_MAX_QUERY - 2);
    q[MG_MAX_QUERY] = 'a';
    q[MG_MAX_QUERY + 1] = '\0';
    ck_assert_int_eq(mg_canon_path(pool, "/a/b.jpg", q, &c, &w), -1);
    ck_assert_str_eq(w, "query string too long");
    /* the path's refusal comes first, whatever the query */
    const char *pw = NULL;
    ck_assert_int_eq(mg_canon_path(pool, "/a/%zz.jpg", "x=1", &c, &pw), -1);
    ck_assert_int_eq(mg_canon_path(pool, "/a/%zz.jpg", q, &c, &w), -1);
    ck_assert_str_eq(w, pw);
    ck_assert_int_eq(mg_canon_path(pool, "/a/%zz.jpg", NULL, &c, &w), -1);
    ck_assert_str_eq(w, pw);
    ck_assert_int_eq(mg_canon_path(pool, "/a/b.jpg", "", &c, &w), 0);
    ck_assert_int_eq(c.params->nelts, 0);
    ck_assert_int_eq(cases, 70 * 2 * 6);
    apr_pool_destroy(pool);
}
END_TEST

START_TEST(test_too_many_names_agree)
{
    static mg_qreserved_t many[70];
    char *nm = apr_palloc(mg_test_pool, 70 * 8);
    for (int i = 0; i < 70; i++) {
        snprintf(nm + 8 * i, 8, "n%02d", i);
        many[i].name = nm + 8 * i;
        many[i].flags = 0;
    }
    mg_qreserved_list_t big = {many, 70}, small = {many, 3}, upto = {many, 64};
    apr_array_header_t *params = NULL;
    const char *pw = NULL;
    ck_assert_int_eq(mg_query_parse(mg_test_pool, "n01=1&n65=2&N02=3", &params, &pw), 0);
    struct {
        const mg_qreserved_list_t *now, *later;
    } cases[] = {{&big, NULL}, {&small, &big}, {&upto, &upto}, {&big, &big}, {&upto, &small}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++) {
        for (int with_later = 0; with_later < 2; with_later++) {
            mg_qreserved_table_t t;
            int nl = cases[c].later ? 1 : 0;
            mg_qreserved_table_build(&t, cases[c].now, 1, cases[c].later, nl);
            const char *wa = NULL, *wb = NULL, *la = NULL, *lb = NULL;
            int ra = mg_query_reserved_check_lists(params, cases[c].now, 1, cases[c].later, nl, &wa,
                                                   with_later ? &la : NULL);
            int rb = mg_query_reserved_check_table(params, &t, &wb, with_later ? &lb : NULL);
            ck_assert_int_eq(ra, rb);
            ck_assert_msg(same_str(wa, wb) || ra == 0, "case %zu: %s / %s", c, wa, wb);
            ck_assert_msg(same_str(la, lb), "case %zu: %s / %s", c, la, lb);
            /* no parameters at all */
            ra =
                mg_query_reserved_check_lists(NULL, cases[c].now, 1, cases[c].later, nl, &wa, NULL);
            rb = mg_query_reserved_check_table(NULL, &t, &wb, NULL);
            ck_assert_int_eq(ra, rb);
        }
    }
}
END_TEST

static Suite *qnames_suite(void)
{
    Suite *s = suite_create("qnames");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, mg_fx_teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_shipped_policies_table_agrees_with_the_walk);
    tcase_add_test(tc, test_foreign_key_policies_table_agrees_with_the_walk);
    tcase_add_test(tc, test_too_many_names_agree);
    tcase_add_test(tc, test_path_and_query_share_one_block);
    suite_add_tcase(s, tc);
    return s;
}

MG_TEST_MAIN(qnames_suite)
