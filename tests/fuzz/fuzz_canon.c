/* fuzz_canon.c — mg_canon_path() and mg_query_parse() on arbitrary bytes.
 *
 * The input is split like a request target: the raw path up to the first
 * '?', the raw query after it. Beyond "no crash" this target checks what
 * every rule match and every signature relies on:
 *  - an accepted canonical path is in canonical form (starts with '/', no
 *    empty, "." or ".." segment, no ';', '\\' or control byte, trailing '/'
 *    exactly for directories, lower-case extension of the basename);
 *  - it is a fixed point: percent-encoding it (minimally, or every byte but
 *    '/') and canonicalising again gives the same path — one resource, one
 *    canonical name, however the URL is spelt;
 *  - a transformation is reported in normal form, signed_path differs from
 *    path exactly by the "tr:" segment;
 *  - a parsed query survives encode-and-parse unchanged;
 *  - differential: the fast paths for already-canonical paths and for
 *    queries with nothing to decode and the general way (mg_canon_path_ex
 *    and mg_query_parse_ex with MG_CANON_NO_FAST) give the same status and
 *    reason, or the same bytes in every output field;
 *  - differential: the reserved query names indexed once
 *    (mg_query_reserved_check_table, what a loaded policy uses) and the
 *    walk over the name lists (mg_query_reserved_check_lists) give the same
 *    verdict, sentence and later refusal, for the built-in names with a
 *    policy's (a download parameter and foreign formats' names) after them.
 */
#include <string.h>
#include <strings.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "mg_canon.h"
#include "mg_fuzz.h"
#include "mg_transform.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_canonical_form(const mg_canon_t *c)
{
    const char *p = c->path;
    size_t n = strlen(p);
    MG_FUZZ_ASSERT(p[0] == '/', "path '%s' does not start with '/'", p);
    MG_FUZZ_ASSERT(n <= MG_MAX_PATH + 1, "path longer than the input bound");
    MG_FUZZ_ASSERT(strstr(p, "//") == NULL, "empty segment in '%s'", p);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        /* '?' and '#' may arrive encoded (a file "C%23.pdf"); ';' and '\\'
         * may not, they mean something to some server behind us. */
        MG_FUZZ_ASSERT(ch >= 0x20 && ch != 0x7f && ch != ';' && ch != '\\',
                       "byte 0x%02x in canonical path", ch);
    }
    /* No dot segment anywhere: look at each segment. */
    for (const char *s = p + 1; *s;) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        MG_FUZZ_ASSERT(!(len == 1 && s[0] == '.') && !(len == 2 && s[0] == '.' && s[1] == '.'),
                       "dot segment in '%s'", p);
        MG_FUZZ_ASSERT(!(len >= 3 && strncmp(s, "tr:", 3) == 0),
                       "transformation segment left in path '%s'", p);
        s += len + (e != NULL);
    }
    MG_FUZZ_ASSERT(c->trailing_slash == (p[n - 1] == '/'), "trailing_slash %d for '%s'",
                   c->trailing_slash, p);
    if (c->trailing_slash) {
        MG_FUZZ_ASSERT(*c->basename == '\0' && *c->ext == '\0', "directory with a basename");
    } else {
        const char *b = strrchr(p, '/') + 1;
        MG_FUZZ_ASSERT(strcmp(c->basename, b) == 0, "basename '%s' of '%s'", c->basename, p);
        const char *dot = strrchr(b, '.');
        const char *want = (dot == NULL || dot == b) ? "" : dot + 1;
        MG_FUZZ_ASSERT(strcasecmp(c->ext, want) == 0, "ext '%s' of '%s'", c->ext, p);
        for (const char *e = c->ext; *e; e++)
            MG_FUZZ_ASSERT(!(*e >= 'A' && *e <= 'Z'), "upper-case ext '%s'", c->ext);
    }
    MG_FUZZ_ASSERT(c->params != NULL, "params NULL on success");
}

static void check_transformation(apr_pool_t *pool, const mg_canon_t *c)
{
    /* the string to sign takes this length instead of a strlen */
    MG_FUZZ_ASSERT(c->signed_path_len == strlen(c->signed_path), "signed_path_len %zu for '%s'",
                   c->signed_path_len, c->signed_path);
    if (c->tr == NULL) {
        MG_FUZZ_ASSERT(c->tr_form == 0, "tr_form without tr");
        MG_FUZZ_ASSERT(strcmp(c->signed_path, c->path) == 0, "signed_path '%s' != path '%s'",
                       c->signed_path, c->path);
        return;
    }
    MG_FUZZ_ASSERT(c->tr_form == MG_TR_FORM_PATH || c->tr_form == MG_TR_FORM_QUERY, "tr_form %d",
                   c->tr_form);
    mg_tr_t tr;
    const char *why = NULL;
    MG_FUZZ_ASSERT(mg_transform_parse(pool, c->tr, &tr, &why) == 0, "tr '%s' does not parse",
                   c->tr);
    const char *norm = mg_transform_normalize(pool, &tr);
    MG_FUZZ_ASSERT(norm && strcmp(norm, c->tr) == 0, "tr '%s' not normalised", c->tr);
    if (c->tr_form == MG_TR_FORM_QUERY) {
        MG_FUZZ_ASSERT(strcmp(c->signed_path, c->path) == 0, "query tr changed signed_path");
        return;
    }
    /* signed_path = path with "/tr:<norm>" inserted at a segment boundary. */
    size_t sl = strlen(c->signed_path), pl = strlen(c->path), tl = strlen(c->tr);
    MG_FUZZ_ASSERT(sl == pl + 4 + tl, "signed_path '%s' vs path '%s'", c->signed_path, c->path);
    const char *seg = strstr(c->signed_path, "/tr:");
    MG_FUZZ_ASSERT(seg != NULL, "no tr segment in signed_path '%s'", c->signed_path);
    size_t at = (size_t)(seg - c->signed_path);
    MG_FUZZ_ASSERT(strncmp(c->signed_path, c->path, at) == 0 && strncmp(seg + 4, c->tr, tl) == 0 &&
                       strcmp(seg + 4 + tl, c->path + at) == 0,
                   "signed_path '%s' is not path '%s' plus the tr segment", c->signed_path,
                   c->path);
}

/* Encode every byte but '/' as %XX: the most verbose spelling. */
static const char *encode_all(apr_pool_t *pool, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *res = apr_palloc(pool, 3 * strlen(s) + 1), *w = res;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '/') {
            *w++ = '/';
        } else {
            *w++ = '%';
            *w++ = hex[*p >> 4];
            *w++ = hex[*p & 15];
        }
    }
    *w = '\0';
    return res;
}

static void check_fixed_point(apr_pool_t *pool, const mg_canon_t *c)
{
    const char *spellings[2] = {mg_pct_encode_path(pool, c->path), encode_all(pool, c->path)};
    for (int k = 0; k < 2; k++) {
        mg_canon_t again;
        const char *why = NULL;
        if (strlen(spellings[k]) > MG_MAX_PATH)
            continue; /* the encoded form may exceed the raw-length bound */
        MG_FUZZ_ASSERT(mg_canon_path(pool, spellings[k], NULL, &again, &why) == 0,
                       "re-encoded path '%s' of '%s' refused: %s", spellings[k], c->path,
                       why ? why : "(no reason)");
        MG_FUZZ_ASSERT(strcmp(again.path, c->path) == 0, "'%s' -> '%s' -> '%s'", c->path,
                       spellings[k], again.path);
    }
    if (c->tr_form == MG_TR_FORM_PATH) {
        const char *sp = mg_pct_encode_path(pool, c->signed_path);
        mg_canon_t again;
        const char *why = NULL;
        if (strlen(sp) <= MG_MAX_PATH) {
            MG_FUZZ_ASSERT(mg_canon_path(pool, sp, NULL, &again, &why) == 0,
                           "re-encoded signed_path '%s' refused: %s", sp, why ? why : "?");
            MG_FUZZ_ASSERT(strcmp(again.signed_path, c->signed_path) == 0 &&
                               strcmp(again.path, c->path) == 0,
                           "signed_path '%s' -> '%s'", c->signed_path, again.signed_path);
        }
    }
}

/* An independent oracle for the reserved-name check (issue 14), written
 * from the stacks' documented rules rather than from mg_canon.c's readings:
 * PHP's top-level key (leading spaces dropped, ' ' and '.' to '_', cut at a
 * '[' that a ']' follows, else that '[' to '_') and Rack 2's (leading '['
 * and ']' dropped, cut at the next one), ASCII only. A name either reads as
 * "tr" must be exactly "tr" if mg_query_reserved_check accepted it. */
static const char *oracle_php(apr_pool_t *pool, const char *n)
{
    char *o = apr_pstrdup(pool, n), *w = o;
    const char *p = n;
    while (*p == ' ')
        p++;
    for (; *p; p++) {
        if (*p == '[') {
            if (strchr(p, ']') != NULL)
                break;
            *w++ = '_';
            for (p++; *p; p++)
                *w++ = (*p == ' ' || *p == '.' || *p == '[') ? '_' : *p;
            break;
        }
        *w++ = (*p == ' ' || *p == '.') ? '_' : *p;
    }
    *w = '\0';
    return o;
}

static const char *oracle_rack2(apr_pool_t *pool, const char *n)
{
    while (*n == '[' || *n == ']')
        n++;
    return apr_pstrndup(pool, n, strcspn(n, "[]"));
}

static void check_reserved(apr_pool_t *pool, const apr_array_header_t *params)
{
    static const mg_qreserved_t tr[] = {{"tr", 0, NULL, NULL, NULL}};
    const char *why = NULL;
    if (mg_query_reserved_check(params, tr, 1, &why) != 0) {
        MG_FUZZ_ASSERT(why != NULL && strlen(why) <= 64, "reserved-name refusal without a reason");
        return;
    }
    const mg_qparam_t *v = (const mg_qparam_t *)params->elts;
    for (int i = 0; i < params->nelts; i++) {
        const char *n = v[i].name;
        if (strcmp(n, "tr") == 0)
            continue;
        MG_FUZZ_ASSERT(strcmp(oracle_php(pool, n), "tr") != 0, "'%s' is 'tr' to PHP", n);
        MG_FUZZ_ASSERT(strcmp(oracle_rack2(pool, n), "tr") != 0, "'%s' is 'tr' to Rack 2", n);
        MG_FUZZ_ASSERT(strcasecmp(n, "tr") != 0, "'%s' is 'tr' to ASP.NET", n);
    }
}

static void check_query(apr_pool_t *pool, const char *query)
{
    apr_array_header_t *params = NULL;
    const char *why = NULL;
    if (mg_query_parse(pool, query, &params, &why) != 0) {
        MG_FUZZ_ASSERT(why != NULL && *why != '\0', "query refused without a reason");
        MG_FUZZ_ASSERT(params == NULL, "params set on failure");
        return;
    }
    MG_FUZZ_ASSERT(params != NULL && params->nelts <= MG_MAX_QPARAMS, "bad params");
    check_reserved(pool, params);
    const mg_qparam_t *v = (const mg_qparam_t *)params->elts;
    const char *rebuilt = "";
    for (int i = 0; i < params->nelts; i++) {
        int count = 0;
        MG_FUZZ_ASSERT(v[i].name[0] != '\0' && v[i].value != NULL, "empty name");
        MG_FUZZ_ASSERT(mg_query_get(params, v[i].name, &count) != NULL && count >= 1,
                       "mg_query_get misses '%s'", v[i].name);
        rebuilt = apr_pstrcat(pool, rebuilt, i ? "&" : "", mg_pct_encode_query(pool, v[i].name),
                              "=", mg_pct_encode_query(pool, v[i].value), NULL);
    }
    if (strlen(rebuilt) > MG_MAX_QUERY)
        return;
    apr_array_header_t *again = NULL;
    MG_FUZZ_ASSERT(mg_query_parse(pool, rebuilt, &again, &why) == 0, "rebuilt query '%s' refused",
                   rebuilt);
    MG_FUZZ_ASSERT(again->nelts == params->nelts, "param count changed");
    const mg_qparam_t *a = (const mg_qparam_t *)again->elts;
    for (int i = 0; i < params->nelts; i++)
        MG_FUZZ_ASSERT(strcmp(a[i].name, v[i].name) == 0 && strcmp(a[i].value, v[i].value) == 0,
                       "param %d changed", i);
}

static int str_same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The fast path is an optimisation only: byte-identical to the general way. */
static void check_fast_path(apr_pool_t *pool, const char *path, const char *query,
                            const mg_canon_t *a, int ra, const char *wa)
{
    mg_canon_t b;
    const char *wb = NULL;
    int rb = mg_canon_path_ex(pool, path, query, &b, &wb, MG_CANON_NO_FAST);
    MG_FUZZ_ASSERT(ra == rb, "fast path %d, general way %d for '%s'", ra, rb, path);
    if (ra != 0) {
        MG_FUZZ_ASSERT(str_same(wa, wb), "reasons '%s' / '%s'", wa, wb);
        return;
    }
    MG_FUZZ_ASSERT(str_same(a->path, b.path) && str_same(a->signed_path, b.signed_path) &&
                       str_same(a->basename, b.basename) && str_same(a->ext, b.ext) &&
                       str_same(a->tr, b.tr) && a->tr_form == b.tr_form &&
                       a->trailing_slash == b.trailing_slash,
                   "fast path '%s' / general way '%s' for '%s'", a->path, b.path, path);
    MG_FUZZ_ASSERT(a->params->nelts == b.params->nelts, "params differ");
    for (int i = 0; i < a->params->nelts; i++) {
        const mg_qparam_t *x = &APR_ARRAY_IDX(a->params, i, mg_qparam_t);
        const mg_qparam_t *y = &APR_ARRAY_IDX(b.params, i, mg_qparam_t);
        MG_FUZZ_ASSERT(strcmp(x->name, y->name) == 0 && strcmp(x->value, y->value) == 0 &&
                           x->name_len == y->name_len && x->value_len == y->value_len &&
                           x->name_plain == y->name_plain,
                       "param %d differs", i);
    }
}

/* The query's fast path against its general way, on the query alone. */
static void check_query_fast_path(apr_pool_t *pool, const char *query, const apr_array_header_t *a,
                                  int ra, const char *wa)
{
    apr_array_header_t *b = NULL;
    const char *wb = NULL;
    int rb = mg_query_parse_ex(pool, query, &b, &wb, MG_CANON_NO_FAST);
    MG_FUZZ_ASSERT(ra == rb, "query: fast path %d, general way %d", ra, rb);
    if (ra != 0) {
        MG_FUZZ_ASSERT(str_same(wa, wb), "query reasons '%s' / '%s'", wa, wb);
        return;
    }
    MG_FUZZ_ASSERT(a->nelts == b->nelts, "query: %d / %d params", a->nelts, b->nelts);
    for (int i = 0; i < a->nelts; i++) {
        const mg_qparam_t *x = &APR_ARRAY_IDX(a, i, mg_qparam_t);
        const mg_qparam_t *y = &APR_ARRAY_IDX(b, i, mg_qparam_t);
        MG_FUZZ_ASSERT(x->name_len == y->name_len && x->value_len == y->value_len &&
                           memcmp(x->name, y->name, x->name_len + 1) == 0 &&
                           memcmp(x->value, y->value, x->value_len + 1) == 0 &&
                           x->name_plain == y->name_plain,
                       "query param %d differs", i);
    }
}

/* A policy's names: its download parameter, then foreign formats' (mixed
 * case, a prefix of another, one starting like "tr" and "mg_"). */
static const mg_qreserved_t dl_name[] = {{"Save-As", MG_QR_REPEAT, NULL, NULL, NULL}};
static const mg_qreserved_t foreign_names[] = {
    {"ik-s", MG_QR_REPEAT, NULL, NULL, NULL},        {"ik-t", MG_QR_REPEAT, NULL, NULL, NULL},
    {"Expires", MG_QR_REPEAT, NULL, NULL, NULL},     {"token", MG_QR_REPEAT, NULL, NULL, NULL},
    {"trk", MG_QR_REPEAT, NULL, NULL, NULL},         {"mgx", 0, NULL, NULL, NULL},
    {"St", 0, "a spelling of St", NULL, "St twice"}, {"S", MG_QR_PREFIX, NULL, NULL, NULL},
};
static const mg_qreserved_list_t policy_lists[] = {{dl_name, 1}, {foreign_names, 8}};

static void check_reserved_table(apr_pool_t *pool, const char *path, const char *query)
{
    static mg_qreserved_table_t t, own;
    static int built;
    if (!built) {
        mg_canon_names_table(&t, policy_lists, 2);
        mg_qreserved_table_build(&own, policy_lists, 2, NULL, 0);
        built = 1;
    }
    mg_canon_t a, b;
    const char *wa = NULL, *wb = NULL, *la = NULL, *lb = NULL;
    int ra = mg_canon_path_names(pool, path, query, &a, &wa, 0, policy_lists, 2, &la);
    int rb = mg_canon_path_table(pool, path, query, &b, &wb, 0, &t, &lb);
    MG_FUZZ_ASSERT(ra == rb && str_same(wa, wb) && str_same(la, lb),
                   "reserved names: walk %d '%s' '%s', table %d '%s' '%s'", ra, wa, la, rb, wb, lb);
    if (ra == 0) {
        wa = wb = NULL;
        ra = mg_query_reserved_check_lists(a.params, policy_lists, 2, NULL, 0, &wa, NULL);
        rb = mg_query_reserved_check_table(a.params, &own, &wb, NULL);
        MG_FUZZ_ASSERT(ra == rb && (ra == 0 || str_same(wa, wb)),
                       "policy names: walk %d '%s', table %d '%s'", ra, wa, rb, wb);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    apr_pool_create(&pool, root);
    const char *q = memchr(data, '?', size);
    size_t plen = q ? (size_t)(q - (const char *)data) : size;
    const char *path = apr_pstrmemdup(pool, (const char *)data, plen);
    const char *query = q ? apr_pstrmemdup(pool, q + 1, size - plen - 1) : NULL;

    mg_canon_t c;
    const char *why = NULL;
    int rc = mg_canon_path(pool, path, query, &c, &why);
    check_fast_path(pool, path, query, &c, rc, why);
    if (rc == 0) {
        check_canonical_form(&c);
        check_transformation(pool, &c);
        check_fixed_point(pool, &c);
    } else {
        MG_FUZZ_ASSERT(why != NULL && *why != '\0', "path refused without a reason");
        MG_FUZZ_ASSERT(c.path == NULL && c.params == NULL, "output not zeroed on failure");
    }
    check_query(pool, query);
    apr_array_header_t *params = NULL;
    const char *qwhy = NULL;
    int qrc = mg_query_parse(pool, query, &params, &qwhy);
    check_query_fast_path(pool, query, params, qrc, qwhy);
    check_reserved_table(pool, path, query);
    apr_pool_destroy(pool);
    return 0;
}
