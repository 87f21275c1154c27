/* mg_fmt_akamai.c — Akamai EdgeAuth tokens ("Auth Token 2.0",
 * keys[].format: akamai-edgeauth), from Akamai's EdgeAuth SDKs
 * (akamai/EdgeAuth-Token-Python 0.3.2 akamai/edgeauth/edgeauth.py,
 * EdgeAuth-Token-Node 0.2.0 lib/edgeAuth.js), which define the token:
 *
 *   [ip=I~][st=S~]exp=E[~acl=A][~id=D][~data=P]~hmac=H
 *
 * fields joined by the field delimiter ('~'), H the lower-case hex
 * HMAC-SHA256 (or -SHA1, -MD5) under the hex-decoded key of the fields
 * before it, joined the same way — plus, for a URL token (no acl),
 * "~url=<path>", which is hashed but never sent, and "~salt=<salt>" when the
 * key has a salt. A is one or more ACLs joined by the ACL delimiter ('!'),
 * each a path with '*' wildcards. The token travels as `__token__=<token>`
 * in the query or as a cookie of that name.
 *
 * What is ours (docs/token-formats.md):
 *  - the hashed bytes are the token's bytes as received, up to "~hmac=":
 *    fields in any order the signer chose, each name at most once, no field
 *    unknown to the SDKs, hmac last;
 *  - an ACL is matched against our canonical path (decoded, dot segments
 *    resolved) with its 'tr:' segment where it stands (signed_path: an ACL
 *    names renditions as Akamai sees them), never against the raw one: '*'
 *    matches any run of bytes of the canonical path, '/' included, and
 *    "/v/../secret" is "/secret", which "/v/ *" does not match. A
 *    transformation in the query (?tr=) is matched in its path form, the
 *    'tr:' segment right before the file ("/v/a.jpg?tr=w-300" as
 *    "/v/tr:w-300/a.jpg"), so an ACL grants both forms or neither. A URL
 *    token signs the raw path as the client sends it (the query is not
 *    signed: Akamai's "ignore query string" default);
 *  - escape_early (the SDKs' option) escapes ip, id, data and the URL as
 *    Python's quote_plus does (A-Z a-z 0-9 _ . - ~ kept, space '+', other
 *    bytes %xx in lower case); the URL is the percent-decoded raw path.
 */
#include <string.h>

#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_fmt.h"

#define AK_TOKEN_MAX 4096 /* bytes of one token */
#define AK_ACL_MAX 16     /* ACLs in one token */
#define AK_ACL_BYTES 1024 /* bytes of the acl field: bounds the wildcard match */
#define AK_NAME_MAX 64    /* token_name */

typedef struct ak_opts {
    const char *names[2]; /* token_name, NULL */
    char fd, ad;          /* field and ACL delimiters */
    int escape_early;
    const char *salt;
} ak_opts_t;

static const char *const ak_options[] = {
    "token_name", "field_delimiter", "acl_delimiter", "escape_early", "salt", NULL};

enum { AK_IP, AK_ST, AK_EXP, AK_ACL, AK_ID, AK_DATA, AK_HMAC, AK_NFIELDS };
static const char *const ak_fields[AK_NFIELDS] = {"ip", "st", "exp", "acl", "id", "data", "hmac"};

/* A delimiter may not be a byte a field name, a value we read (epoch, hex,
 * path, address) or the query and cookie syntax could hold. */
static int delim_ok(const char *v)
{
    return v != NULL && strlen(v) == 1 && strchr("~!|,:@^$", v[0]) != NULL;
}

static mg_status_t ak_key_init(apr_pool_t *pool, mg_fkey_t *k, const char **why, int *bad)
{
    ak_opts_t *o = apr_pcalloc(pool, sizeof(*o));
    int i;
    const char *v = mg_fmt_opt(k, "token_name", &i);
    o->names[0] = v ? v : "__token__";
    size_t n = strlen(o->names[0]);
    int ok = n > 0 && n <= AK_NAME_MAX;
    for (size_t j = 0; ok && j < n; j++) {
        char c = o->names[0][j];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '-';
    }
    if (!ok || apr_cstr_casecmpn(o->names[0], "mg_", 3) == 0) {
        *bad = i;
        *why = "token_name must be 1 to 64 of A-Z a-z 0-9 '_' '-' (a query parameter and a "
               "cookie name), outside the mg_ names of native tokens";
        return MG_EINVAL;
    }
    o->fd = '~';
    o->ad = '!';
    if ((v = mg_fmt_opt(k, "field_delimiter", &i)) != NULL) {
        if (!delim_ok(v)) {
            *bad = i;
            *why = "field_delimiter is one of ~ ! | , : @ ^ $ (default ~)";
            return MG_EINVAL;
        }
        o->fd = v[0];
    }
    if ((v = mg_fmt_opt(k, "acl_delimiter", &i)) != NULL) {
        if (!delim_ok(v)) {
            *bad = i;
            *why = "acl_delimiter is one of ~ ! | , : @ ^ $ (default !)";
            return MG_EINVAL;
        }
        o->ad = v[0];
    }
    if (o->fd == o->ad) {
        *bad = i;
        *why = "field_delimiter and acl_delimiter must differ";
        return MG_EINVAL;
    }
    if ((v = mg_fmt_opt(k, "escape_early", &i)) != NULL) {
        if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0) {
            *bad = i;
            *why = "escape_early is true or false (as the SDK's option)";
            return MG_EINVAL;
        }
        o->escape_early = strcmp(v, "true") == 0;
    }
    if ((v = mg_fmt_opt(k, "salt", &i)) != NULL) {
        for (const char *c = v; *c; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                *bad = i;
                *why = "salt must be one line of printable text";
                return MG_EINVAL;
            }
        }
        o->salt = *v ? v : NULL; /* the SDKs skip an empty salt */
    }
    k->priv = o;
    return MG_OK;
}

static const char *const *ak_params(const mg_fkey_t *k)
{
    return ((const ak_opts_t *)k->priv)->names;
}

static mg_reason_t refuse(mg_fmt_result_t *out, mg_reason_t r, const char *detail)
{
    out->detail = detail;
    return r;
}

static int hexv(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s[0,n) into a pool string; NULL on a bad escape or %00. */
static char *pct_decode(apr_pool_t *pool, const char *s, size_t n)
{
    char *out = apr_palloc(pool, n + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *w++ = s[i];
            continue;
        }
        int hi = i + 2 < n ? hexv((unsigned char)s[i + 1]) : -1;
        int lo = i + 2 < n ? hexv((unsigned char)s[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return NULL;
        *w++ = (char)(hi << 4 | lo);
        i += 2;
    }
    *w = '\0';
    return out;
}

/* Python's quote_plus(s) with the escapes in lower case (the SDK's
 * _escape_early): A-Z a-z 0-9 _ . - ~ kept, ' ' as '+'. */
static char *escape_early(apr_pool_t *pool, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *out = apr_palloc(pool, 3 * n + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '.' || c == '-' || c == '~') {
            *w++ = (char)c;
        } else if (c == ' ') {
            *w++ = '+';
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w = '\0';
    return out;
}

/* '*' glob of pattern p[0,pn) (literal bytes between the stars already
 * decoded) over s: the classic one-backtrack-point match, O(pn * strlen(s))
 * at worst, which AK_ACL_BYTES and MG_MAX_PATH bound. */
static int glob_match(const char *p, size_t pn, const char *s)
{
    size_t pi = 0, star = (size_t)-1, mark = 0;
    const char *si = s;
    while (*si) {
        if (pi < pn && p[pi] == '*') {
            star = pi++;
            mark = (size_t)(si - s);
        } else if (pi < pn && p[pi] == *si) {
            pi++;
            si++;
        } else if (star != (size_t)-1) {
            pi = star + 1;
            si = s + ++mark;
        } else {
            return 0;
        }
    }
    while (pi < pn && p[pi] == '*')
        pi++;
    return pi == pn;
}

/* One ACL entry a[0,n) against the canonical path: the literal runs between
 * '*' are percent-decoded as the path was (an encoded star, "%2A", is
 * refused: neither a wildcard nor a literal is what the signer surely
 * meant), then matched. 1 match, 0 not, -1 malformed. *dir: the entry is
 * "<directory>/" then one star, and no other star. */
static int acl_match(apr_pool_t *pool, const char *a, size_t n, const char *path, int *dir)
{
    *dir = 0;
    if (n == 0 || a[0] != '/')
        return -1;
    /* decode each literal run; a decoded '*' would become a wildcard, so
     * refuse it rather than guess */
    char *pat = apr_palloc(pool, n + 1);
    size_t pn = 0, stars = 0;
    const char *p = a, *end = a + n;
    while (p < end) {
        const char *st = memchr(p, '*', (size_t)(end - p));
        const char *re = st ? st : end;
        char *lit = pct_decode(pool, p, (size_t)(re - p));
        if (lit == NULL || strchr(lit, '*') != NULL)
            return -1;
        size_t ln = strlen(lit);
        memcpy(pat + pn, lit, ln);
        pn += ln;
        if (st) {
            pat[pn++] = '*';
            stars++;
        }
        p = st ? st + 1 : end;
    }
    pat[pn] = '\0';
    *dir = stars == 1 && pn >= 2 && pat[pn - 1] == '*' && pat[pn - 2] == '/';
    return glob_match(pat, pn, path);
}

/* The path form of a transformation given in the query (?tr=): the
 * canonical path with "tr:" and the normalised transformation as a segment
 * right before the file, as the path form would be matched
 * ("/v/a.jpg?tr=w-300" -> "/v/tr:w-300/a.jpg"). A transformed path names a
 * file (mg_canon.c refuses a transformed directory), so there is a last
 * segment. */
static const char *query_tr_path(apr_pool_t *pool, const mg_canon_t *cn)
{
    const char *last = strrchr(cn->path, '/');
    return apr_pstrcat(pool, apr_pstrmemdup(pool, cn->path, (size_t)(last - cn->path)),
                       "/tr:", cn->tr, last, NULL);
}

typedef struct ak_tok {
    const char *v[AK_NFIELDS];
    size_t n[AK_NFIELDS];
    const char *hmac_field; /* where "hmac=" starts */
} ak_tok_t;

static mg_reason_t parse_token(const ak_opts_t *o, const char *tok, size_t tn, ak_tok_t *t,
                               mg_fmt_result_t *out)
{
    memset(t, 0, sizeof(*t));
    if (tn == 0 || tn > AK_TOKEN_MAX)
        return refuse(out, MG_R_TOKEN_MALFORMED, "the EdgeAuth token is empty or too long");
    const char *p = tok, *end = tok + tn;
    while (p < end) {
        const char *fe = memchr(p, o->fd, (size_t)(end - p));
        if (fe == NULL)
            fe = end;
        const char *eq = memchr(p, '=', (size_t)(fe - p));
        if (eq == NULL)
            return refuse(out, MG_R_TOKEN_MALFORMED, "an EdgeAuth field is not name=value");
        int f = -1;
        for (int i = 0; i < AK_NFIELDS && f < 0; i++)
            if (strlen(ak_fields[i]) == (size_t)(eq - p) && memcmp(ak_fields[i], p, eq - p) == 0)
                f = i;
        if (f < 0)
            return refuse(out, MG_R_TOKEN_MALFORMED,
                          "the EdgeAuth token has a field the SDKs never write");
        if (t->v[f] != NULL)
            return refuse(out, MG_R_TOKEN_MALFORMED, "an EdgeAuth field is repeated");
        if (t->v[AK_HMAC] != NULL)
            return refuse(out, MG_R_TOKEN_MALFORMED, "hmac must be the token's last field");
        t->v[f] = eq + 1;
        t->n[f] = (size_t)(fe - eq - 1);
        if (f == AK_HMAC)
            t->hmac_field = p;
        p = fe < end ? fe + 1 : end;
        if (fe < end && p == end)
            return refuse(out, MG_R_TOKEN_MALFORMED, "the EdgeAuth token ends in a delimiter");
    }
    if (t->v[AK_HMAC] == NULL || t->v[AK_EXP] == NULL || t->hmac_field == tok)
        return refuse(out, MG_R_TOKEN_MALFORMED, "an EdgeAuth token needs exp and hmac");
    return MG_R_ALLOWED;
}

/* Verify one token string (the value of __token__, from the query or a
 * cookie) against the key. */
static mg_reason_t verify_token(const mg_fmt_req_t *rq, const mg_fkey_t *k, const char *tok,
                                size_t tn, mg_fmt_result_t *out)
{
    const ak_opts_t *o = k->priv;
    ak_tok_t t;
    mg_reason_t r = parse_token(o, tok, tn, &t, out);
    if (r != MG_R_ALLOWED)
        return r;
    unsigned char want[MG_FMT_SIG_MAX], mac[MG_FMT_SIG_MAX];
    size_t mac_n = 0;
    size_t hn = t.n[AK_HMAC] / 2;
    if (t.n[AK_HMAC] % 2 != 0 || hn > sizeof(want) ||
        mg_fmt_hex_decode(t.v[AK_HMAC], t.n[AK_HMAC], want, hn) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, "hmac is not lower-case hex");
    int64_t exp = 0, st = 0;
    if (mg_fmt_parse_epoch(t.v[AK_EXP], t.n[AK_EXP], &exp) != 0 ||
        (t.v[AK_ST] != NULL && mg_fmt_parse_epoch(t.v[AK_ST], t.n[AK_ST], &st) != 0))
        return refuse(out, MG_R_TOKEN_MALFORMED, "st or exp is not epoch seconds");
    /* the string hashed: the token up to its hmac field's delimiter, then
     * what the SDK hashes but never sends */
    char fd[1] = {o->fd};
    const char *url = NULL;
    if (t.v[AK_ACL] == NULL) {
        /* a URL token signs the path, not the query: a transformation
         * given there (?tr=) would be a rendition nobody signed */
        if (rq->cn->tr != NULL && rq->cn->tr_form == MG_TR_FORM_QUERY)
            return refuse(out, MG_R_TOKEN_SCOPE,
                          "an EdgeAuth URL token does not sign the query's transformation");
        url = rq->raw_path;
        if (o->escape_early) {
            const char *dec = pct_decode(rq->pool, url, strlen(url));
            if (dec == NULL)
                return refuse(out, MG_R_TOKEN_MALFORMED, "the path has a bad percent-escape");
            url = escape_early(rq->pool, dec, strlen(dec));
        }
    }
    size_t saltn = o->salt ? strlen(o->salt) : 0;
    mg_fmt_piece_t pc[7] = {
        {tok, (size_t)(t.hmac_field - 1 - tok)}, {fd, url ? 1 : 0},   {"url=", url ? 4 : 0},
        {url ? url : "", url ? strlen(url) : 0}, {fd, saltn ? 1 : 0}, {"salt=", saltn ? 5 : 0},
        {o->salt ? o->salt : "", saltn},
    };
    if (mg_fmt_mac(k, pc, 7, mac, &mac_n) != 0 || mac_n != hn || !mg_fmt_equal(mac, want, hn))
        return refuse(out, MG_R_TOKEN_BAD_SIG, "the hmac does not match");
    if (st != 0 && st >= exp)
        return refuse(out, MG_R_TOKEN_MALFORMED, "st is not before exp");
    /* signed: the claims are the signer's word from here on */
    if (t.v[AK_IP] != NULL) {
        const char *ip = o->escape_early ? pct_decode(rq->pool, t.v[AK_IP], t.n[AK_IP])
                                         : apr_pstrmemdup(rq->pool, t.v[AK_IP], t.n[AK_IP]);
        /* EdgeAuth binds one address, never a network */
        if (ip == NULL || *ip == '\0' || strchr(ip, '/') != NULL)
            return refuse(out, MG_R_TOKEN_MALFORMED, "ip is not one address");
        out->ip = ip;
    }
    if (t.v[AK_ID] != NULL && t.n[AK_ID] > 0)
        out->id = apr_pstrmemdup(rq->pool, t.v[AK_ID], t.n[AK_ID]);
    if (t.v[AK_ACL] != NULL) {
        const char *a = t.v[AK_ACL], *aend = a + t.n[AK_ACL];
        int matched = 0, count = 0, dir = 0;
        /* a transformation in the query (?tr=), which nobody signs, is
         * the rendition its path form names with the 'tr:' segment right
         * before the file: match that, so that an entry grants both forms
         * of a rendition or neither (an entry with a star granted every
         * ?tr= of the files it names, /v/a.jpg then a star among them) */
        const char *mpath = rq->cn->signed_path;
        int qtr = rq->cn->tr != NULL && rq->cn->tr_form == MG_TR_FORM_QUERY;
        if (qtr)
            mpath = query_tr_path(rq->pool, rq->cn);
        if (t.n[AK_ACL] > AK_ACL_BYTES)
            return refuse(out, MG_R_TOKEN_MALFORMED, "acl is too long");
        while (a <= aend && !matched) {
            const char *ae = memchr(a, o->ad, (size_t)(aend - a));
            if (ae == NULL)
                ae = aend;
            if (++count > AK_ACL_MAX)
                return refuse(out, MG_R_TOKEN_MALFORMED, "acl has too many entries");
            /* the path with its 'tr:' segment where it was: Akamai matches
             * the URL path as sent, in which an ACL for /v/a.jpg names no
             * rendition /v/tr:w-2000/a.jpg */
            int m = acl_match(rq->pool, a, (size_t)(ae - a), mpath, &dir);
            if (m < 0)
                return refuse(out, MG_R_TOKEN_MALFORMED,
                              "an acl entry is not a path (with '*' wildcards)");
            if (m == 1) {
                matched = 1;
                /* "/dir/ *" alone is a prefix: say so in our terms, and let
                 * mg_token.c check it once more as a canonical scope */
                if (dir && count == 1 && ae == aend)
                    out->scope = apr_pstrmemdup(rq->pool, a, (size_t)(ae - a - 1));
            }
            a = ae + 1;
        }
        if (!matched)
            return refuse(out, MG_R_TOKEN_SCOPE,
                          qtr ? "the path form of the query's transformation (?tr=) matches "
                                "none of the acl"
                              : "the canonical path matches none of the acl");
        /* a prefix holding a 'tr:' segment is no prefix of the canonical
         * path (from which the segment is taken out): matched above */
        if (out->scope != NULL && strstr(out->scope, "/tr:") != NULL)
            out->scope = NULL;
        if (out->scope != NULL && strchr(out->scope, '%') != NULL)
            out->scope = NULL; /* an encoded prefix: matched decoded above, not a scope */
    }
    out->exp = exp;
    out->nbf = st;
    return MG_R_ALLOWED;
}

static mg_reason_t ak_verify(const mg_fmt_req_t *rq, const mg_fkey_t *k, mg_fmt_result_t *out)
{
    const ak_opts_t *o = k->priv;
    const char *v[1], *rest, *why;
    size_t n[1];
    if (mg_fmt_split_query(rq->pool, rq->cn, rq->raw_query, o->names, v, n, &rest, &why) != 0)
        return refuse(out, MG_R_TOKEN_MALFORMED, why);
    if (v[0] == NULL)
        return MG_R_TOKEN_MISSING;
    return verify_token(rq, k, v[0], n[0], out);
}

static const char *const *ak_cookies(const mg_fkey_t *k)
{
    return ((const ak_opts_t *)k->priv)->names;
}

static mg_reason_t ak_verify_cookie(const mg_fmt_req_t *rq, const mg_fkey_t *k,
                                    mg_fmt_result_t *out)
{
    /* several cookies of the name (set for nested paths) */
    return mg_fmt_cookie_each(rq, k, ((const ak_opts_t *)k->priv)->names[0], verify_token, out);
}

/* ---- signing (mgctl sign --token-format akamai-edgeauth) ------------------- */

static mg_status_t sign_any(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                            const mg_fmt_claims_t *c, int cookie, const char **out,
                            const char **why)
{
    const ak_opts_t *o = k->priv;
    const char *origin = "", *path = NULL, *query = NULL;
    mg_canon_t cn;
    char fd[2] = {o->fd, '\0'};
    if (cookie) {
        if (c->scope == NULL) {
            *why = "an EdgeAuth cookie covers a prefix (--prefix /DIR/)";
            return MG_EINVAL;
        }
    } else if (mg_fmt_split_url(pool, url, &origin, &path, &query, &cn, why) != MG_OK) {
        return MG_EINVAL;
    }
    if (!cookie && c->scope == NULL && cn.tr != NULL && cn.tr_form == MG_TR_FORM_QUERY) {
        /* the verifier refuses it: a URL token does not sign the query */
        *why = "an EdgeAuth URL token does not sign the query, so it cannot carry a "
               "transformation there (?tr=): put it in the path (/tr:...) or sign a prefix";
        return MG_EINVAL;
    }
    if (c->exp == 0) {
        *why = "EdgeAuth tokens always expire";
        return MG_EINVAL;
    }
    if (c->scope != NULL && path != NULL && strncmp(cn.path, c->scope, strlen(c->scope)) != 0) {
        *why = "the path is not under the prefix";
        return MG_EINVAL;
    }
    const char *ip = NULL;
    if (c->ip != NULL) {
        if (strchr(c->ip, '/') != NULL) {
            *why = "EdgeAuth binds one address, not a network";
            return MG_EINVAL;
        }
        ip = o->escape_early ? escape_early(pool, c->ip, strlen(c->ip)) : c->ip;
    }
    const char *acl = NULL;
    if (c->scope != NULL) {
        /* the ACL "<dir>*": the directory's bytes outside A-Z a-z 0-9 - . _ /
         * percent-encoded (the verifier decodes them as it decodes the path),
         * so that no delimiter, query or cookie syntax can end it early; a
         * '*' of the directory would be a wildcard nobody meant */
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(c->scope);
        char *a = apr_palloc(pool, 3 * n + 2), *w = a;
        for (const unsigned char *p = (const unsigned char *)c->scope; *p; p++) {
            if (*p == '*') {
                *why = "an EdgeAuth prefix cannot hold '*' (it would be a wildcard)";
                return MG_EINVAL;
            }
            if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                *p == '-' || *p == '.' || *p == '_' || *p == '/') {
                *w++ = (char)*p;
            } else {
                *w++ = '%';
                *w++ = hex[*p >> 4];
                *w++ = hex[*p & 15];
            }
        }
        *w++ = '*';
        *w = '\0';
        if ((size_t)(w - a) > AK_ACL_BYTES) {
            /* the verifier refuses it: never mint a link that cannot verify */
            *why = "the prefix is too long for an EdgeAuth ACL (over 1024 bytes once encoded)";
            return MG_EINVAL;
        }
        acl = a;
    }
    const char *tok = "";
    if (ip)
        tok = apr_pstrcat(pool, "ip=", ip, fd, NULL);
    tok = apr_psprintf(pool, "%sexp=%" APR_INT64_T_FMT, tok, c->exp);
    if (acl != NULL)
        tok = apr_pstrcat(pool, tok, fd, "acl=", acl, NULL);
    const char *hashed = tok;
    if (c->scope == NULL) {
        const char *u = path;
        if (o->escape_early) {
            const char *dec = pct_decode(pool, path, strlen(path));
            if (dec == NULL) {
                *why = "the path has a bad percent-escape";
                return MG_EINVAL;
            }
            u = escape_early(pool, dec, strlen(dec));
        }
        hashed = apr_pstrcat(pool, hashed, fd, "url=", u, NULL);
    }
    if (o->salt)
        hashed = apr_pstrcat(pool, hashed, fd, "salt=", o->salt, NULL);
    unsigned char mac[MG_FMT_SIG_MAX];
    size_t mac_n = 0;
    mg_fmt_piece_t pc[1] = {{hashed, strlen(hashed)}};
    if (mg_fmt_mac(k, pc, 1, mac, &mac_n) != 0) {
        *why = "signing failed (OpenSSL)";
        return MG_ECRYPTO;
    }
    char hex[2 * MG_FMT_SIG_MAX + 1];
    mg_fmt_hex_encode(mac, mac_n, hex);
    tok = apr_pstrcat(pool, tok, fd, "hmac=", hex, NULL);
    if (strlen(tok) > AK_TOKEN_MAX) {
        *why = "the EdgeAuth token would be longer than verifiers accept (4096 bytes)";
        return MG_EINVAL;
    }
    if (cookie)
        *out = apr_pstrcat(pool, o->names[0], "=", tok, NULL);
    else
        *out = apr_pstrcat(pool, origin, path, "?", query ? query : "", query && *query ? "&" : "",
                           o->names[0], "=", tok, NULL);
    return MG_OK;
}

static mg_status_t ak_sign(apr_pool_t *pool, const mg_fkey_t *k, const char *url,
                           const mg_fmt_claims_t *c, const char **out, const char **why)
{
    return sign_any(pool, k, url, c, 0, out, why);
}

static mg_status_t ak_sign_cookie(apr_pool_t *pool, const mg_fkey_t *k, const mg_fmt_claims_t *c,
                                  const char **out, const char **why)
{
    return sign_any(pool, k, NULL, c, 1, out, why);
}

const mg_fmt_t mg_fmt_akamai = {
    .name = "akamai-edgeauth",
    .caps = MG_FMT_CAP_IP | MG_FMT_CAP_SCOPE | MG_FMT_CAP_COOKIE,
    .algs = MG_FALG_HMAC_SHA256 | MG_FALG_HMAC_SHA1 | MG_FALG_HMAC_MD5,
    .default_alg = MG_FALG_HMAC_SHA256,
    .secret = MG_SECRET_HEX,
    .options = ak_options,
    .key_init = ak_key_init,
    .params = ak_params,
    .verify = ak_verify,
    .sign = ak_sign,
    .cookies = ak_cookies,
    .verify_cookie = ak_verify_cookie,
    .sign_cookie = ak_sign_cookie,
};
