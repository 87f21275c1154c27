/* fuzz_http.c — the HTTP edges of a decision on arbitrary bytes:
 * mg_target_split() and mg_request_from_header_table() (lib/mg_http.c),
 * mg_message_html() and mg_content_disposition() (lib/mg_response.c).
 *
 * The input reads like the head of a request: its first line is the request
 * target, each further line a header ("Name: value"); the whole input (up to
 * a NUL) is also a policy's deny message and a download's file name. Beyond
 * "no crash", each function is checked against an oracle written here, not
 * against libmg's own helpers:
 *  - mg_target_split accepts exactly what mg_http.h documents (a path, or an
 *    http(s) URL with a non-empty authority free of spaces, control bytes
 *    and '@'); an accepted target's path starts with '/' and holds no '?'
 *    or '#', its query no '#', and scheme "://" authority path "?" query
 *    gives the target back, up to the fragment, the scheme's case and the
 *    "/" of an absolute URL without a path; a refused one has path "",
 *    no query, scheme or authority, and a reason, the same as *why;
 *  - mg_request_from_header_table (one pass over an apr_table) sets
 *    raw_path, query, target_refused and scheme from the target, each
 *    header field from the header of that name (any case, the first), host
 *    from the authority when there is no Host, url_header from the headers
 *    that name the URL (every line, '_' or '.' for '-') and url_header_name
 *    from the first line that names another URL (spelt as mg_http.h writes
 *    it), and nothing else: the whole struct equals the one built here;
 *  - mg_message_html's output is valid UTF-8, has no raw < > " ' and no '&'
 *    outside the entities it uses (a numeric one only as the first
 *    character), neither starts with '/' nor reads as a URL to httpd's
 *    ap_custom_response(), and un-escaping it gives the input back with
 *    each byte of an invalid UTF-8 sequence as U+FFFD;
 *  - mg_content_disposition's value is exactly
 *    TYPE; filename="Q"; filename*=UTF-8''E (RFC 6266, RFC 8187): printable
 *    ASCII only (no CTL, so no CR or LF), Q plain qdtext (no quote, no
 *    backslash, no '%'), E only attr-chars and %XX; E decodes to valid UTF-8:
 *    the input's longest prefix of whole sequences within
 *    MG_DISPOSITION_MAX_NAME bytes, each invalid byte as U+FFFD, and Q has
 *    one character for each byte of that prefix.
 */
#include <string.h>
#include <strings.h>

#include <apr_general.h>
#include <apr_lib.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "mg_canon.h"
#include "mg_fuzz.h"
#include "mg_http.h"
#include "mg_response.h"

#define MAX_HEADERS 64
#define FFFD "\xEF\xBF\xBD"

static apr_pool_t *root;

/* ------------------------------------------------------------ UTF-8 */

/* Length of the well-formed UTF-8 sequence at s[0..n) (Unicode 15, table
 * 3-7, written out by ranges), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t len;

    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF)
        len = 2;
    else if (b >= 0xE0 && b <= 0xEF)
        len = 3;
    else if (b >= 0xF0 && b <= 0xF4)
        len = 4;
    else
        return 0;
    if (b == 0xE0)
        lo = 0xA0;
    else if (b == 0xED)
        hi = 0x9F;
    else if (b == 0xF0)
        lo = 0x90;
    else if (b == 0xF4)
        hi = 0x8F;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

static int valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(u + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}

/* s[0..n) with each byte that starts no well-formed sequence as U+FFFD. */
static const char *utf8_repair(apr_pool_t *p, const char *s, size_t n, size_t *out_n)
{
    const unsigned char *u = (const unsigned char *)s;
    char *out = apr_palloc(p, 3 * n + 1), *o = out;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(u + i, n - i);
        if (l == 0) {
            memcpy(o, FFFD, 3);
            o += 3;
            i++;
        } else {
            memcpy(o, s + i, l);
            o += l;
            i += l;
        }
    }
    *o = '\0';
    *out_n = (size_t)(o - out);
    return out;
}

/* ------------------------------------------------------------ target */

static int ci_prefix(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static void check_target(apr_pool_t *p, const char *s, const mg_target_t *t, mg_status_t st,
                         const char *why)
{
    /* the oracle: what mg_http.h says is accepted */
    size_t sl = s[0] == '/'                ? 0
                : ci_prefix(s, "http://")  ? 7
                : ci_prefix(s, "https://") ? 8
                                           : (size_t)-1;
    int accept = s[0] == '/';
    size_t alen = 0;
    if (sl == 7 || sl == 8) {
        alen = strcspn(s + sl, "/?#");
        accept = alen > 0;
        for (size_t i = 0; i < alen; i++) {
            unsigned char c = (unsigned char)s[sl + i];
            if (c <= 0x20 || c == 0x7f || c == '@')
                accept = 0;
        }
    }
    MG_FUZZ_ASSERT((st == MG_OK) == accept, "'%s' %s", s, accept ? "refused" : "accepted");
    MG_FUZZ_ASSERT(why == t->refused, "*why is not out->refused");
    if (!accept) {
        MG_FUZZ_ASSERT(st == MG_EINVAL, "refused with status %d", (int)st);
        MG_FUZZ_ASSERT(t->refused != NULL && *t->refused != '\0', "refused without a reason");
        MG_FUZZ_ASSERT(strcmp(t->path, "") == 0 && t->query == NULL && t->scheme == NULL &&
                           t->authority == NULL,
                       "a refused target left a path, query, scheme or authority");
        for (const char *r = t->refused; *r; r++)
            MG_FUZZ_ASSERT(*r >= 0x20 && *r < 0x7f, "reason with byte 0x%02x", (unsigned char)*r);
        return;
    }
    MG_FUZZ_ASSERT(t->refused == NULL, "accepted with a reason: %s", t->refused);
    MG_FUZZ_ASSERT(t->path[0] == '/', "path '%s' does not start with '/'", t->path);
    MG_FUZZ_ASSERT(strpbrk(t->path, "?#") == NULL, "'?' or '#' in the path '%s'", t->path);
    MG_FUZZ_ASSERT(t->query == NULL || strchr(t->query, '#') == NULL, "'#' in the query");

    /* reassemble: the target up to the fragment, scheme in lower case */
    size_t keep = strcspn(s, "#");
    char *want = apr_pstrmemdup(p, s, keep);
    const char *rest = want + sl + alen; /* after the authority */
    const char *got;
    if (sl == 0) {
        MG_FUZZ_ASSERT(t->scheme == NULL && t->authority == NULL, "origin-form with a scheme");
        got = apr_pstrcat(p, t->path, t->query ? "?" : "", t->query ? t->query : "", NULL);
    } else {
        for (size_t i = 0; i < sl - 3; i++)
            want[i] = (char)apr_tolower(want[i]);
        MG_FUZZ_ASSERT(t->scheme != NULL && strlen(t->scheme) == sl - 3 &&
                           strncmp(t->scheme, want, sl - 3) == 0,
                       "scheme '%s' of '%s'", t->scheme ? t->scheme : "(null)", s);
        MG_FUZZ_ASSERT(t->authority != NULL && strlen(t->authority) == alen &&
                           memcmp(t->authority, want + sl, alen) == 0,
                       "authority '%s' of '%s'", t->authority ? t->authority : "(null)", s);
        /* an absolute URL without a path has the path "/" */
        MG_FUZZ_ASSERT(rest[0] == '/' || strcmp(t->path, "/") == 0,
                       "URL without a path gave the path '%s'", t->path);
        got = apr_pstrcat(p, t->scheme, "://", t->authority, rest[0] == '/' ? t->path : "",
                          t->query ? "?" : "", t->query ? t->query : "", NULL);
    }
    MG_FUZZ_ASSERT(strcmp(got, want) == 0, "'%s' split and joined is '%s'", want, got);
}

/* ------------------------------------------------------------ headers */

typedef struct {
    const char *name[MAX_HEADERS], *value[MAX_HEADERS];
    int n;
} headers_t;

/* The headers some origins read as the request URL (mg_http.h), compared
 * with a name here: without case, and, when `dashed`, with '_' or '.' for '-'. */
static const char *const url_names[] = {"X-Original-URL",   "X-Rewrite-URL",
                                        "X-Original-URI",   "X-Forwarded-Uri",
                                        "X-Forwarded-Path", "X-Envoy-Original-Path"};

/* Which of url_names name is (an index), or -1. */
static int url_header_name(const char *name)
{
    static const char *const urls[] = {"x-original-url",   "x-rewrite-url",
                                       "x-original-uri",   "x-forwarded-uri",
                                       "x-forwarded-path", "x-envoy-original-path"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        size_t k = 0;
        for (; name[k] != '\0' && urls[i][k] != '\0'; k++) {
            char c = (char)apr_tolower((unsigned char)name[k]);
            if (c == '_' || c == '.')
                c = '-';
            if (c != urls[i][k])
                break;
        }
        if (name[k] == '\0' && urls[i][k] == '\0')
            return (int)i;
    }
    return -1;
}

/* What url_header says: the worst of all the lines (every spelling), each
 * the target's path and "?" query exactly, or not; *named the first line
 * that names another URL, as url_names spells it. */
static int want_url_header(apr_pool_t *p, const mg_target_t *t, const headers_t *h,
                           const char **named)
{
    const char *target = apr_pstrcat(p, t->path, t->query ? "?" : "", t->query, NULL);
    int worst = MG_URL_HEADER_NONE;
    *named = NULL;
    for (int k = 0; k < h->n; k++) {
        int which = url_header_name(h->name[k]);
        if (which < 0)
            continue;
        int v = strcmp(h->value[k], target) == 0 ? MG_URL_HEADER_SAME : MG_URL_HEADER_OTHER;
        if (v == MG_URL_HEADER_OTHER && *named == NULL)
            *named = url_names[which];
        if (v > worst)
            worst = v;
    }
    return worst;
}

/* The request view from a table (one pass, what the module and mgctl use)
 * against the oracle. */
static void check_request(apr_pool_t *p, const mg_target_t *t, headers_t *h, int with_headers)
{
    /* Sec-Fetch-User is none of them: the policy never reads it (a header
     * the seeds send must leave every field alone, like any other) */
    static const char *const names[] = {
        "Host",           "Referer", "Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode",
        "Sec-Fetch-Dest", "Accept",  "Cookie", "Content-Length", "Transfer-Encoding"};
    enum { NV = sizeof(names) / sizeof(names[0]) };
    const char *v[NV];
    mg_request_t req, want;

    for (size_t i = 0; i < NV; i++) {
        v[i] = NULL;
        if (with_headers)
            for (int k = h->n - 1; k >= 0; k--) /* the first wins: scan from the end */
                if (strcasecmp(h->name[k], names[i]) == 0)
                    v[i] = h->value[k];
    }
    {
        apr_table_t *tab = NULL;
        if (with_headers) {
            tab = apr_table_make(p, h->n);
            for (int k = 0; k < h->n; k++)
                apr_table_addn(tab, h->name[k], h->value[k]);
        }
        memset(&req, 0xa5, sizeof(req)); /* every byte is written */
        mg_request_from_header_table(&req, t, tab);
    }

    memset(&want, 0, sizeof(want));
    want.raw_path = t->path;
    want.query = t->query;
    want.target_refused = t->refused;
    want.scheme = t->scheme ? t->scheme : "http";
    want.host = v[0] ? v[0] : t->authority;
    want.referer = v[1];
    want.origin = v[2];
    want.sec_fetch_site = v[3];
    want.sec_fetch_mode = v[4];
    want.sec_fetch_dest = v[5];
    want.accept = v[6];
    want.cookie = v[7];
    want.content_length = v[8];
    want.transfer_encoding = v[9];
    want.url_header =
        with_headers ? want_url_header(p, t, h, &want.url_header_name) : MG_URL_HEADER_NONE;
    /* field by field first, for a readable message */
    MG_FUZZ_ASSERT(req.raw_path == want.raw_path && req.query == want.query &&
                       req.target_refused == want.target_refused,
                   "target fields not taken from the split target");
    MG_FUZZ_ASSERT(strcmp(req.scheme, want.scheme) == 0, "scheme '%s'", req.scheme);
    req.scheme = want.scheme; /* a string constant: equal text, maybe another copy */
    MG_FUZZ_ASSERT(req.host == want.host, "host '%s'", req.host ? req.host : "(null)");
    MG_FUZZ_ASSERT(req.url_header == want.url_header, "url_header %d", req.url_header);
    MG_FUZZ_ASSERT(req.url_header_name == want.url_header_name ||
                       (req.url_header_name != NULL && want.url_header_name != NULL &&
                        strcmp(req.url_header_name, want.url_header_name) == 0),
                   "url_header_name '%s'", req.url_header_name ? req.url_header_name : "(null)");
    req.url_header_name = want.url_header_name; /* equal text, another copy */
    MG_FUZZ_ASSERT(memcmp(&req, &want, sizeof(req)) == 0,
                   "a request field other than the target's and the headers' is set");
}

/* ------------------------------------------------------------ cookies */

/* mg_cookie_reserved_check over the input as a Cookie header: -1 only with
 * its sentence; a cookie added after the others never takes a refusal back,
 * and "tr=1" added always refuses. The check with its names prepared
 * (mg_cookie_reserved_check_table, what mg_request_prepare runs) answers
 * exactly as it, for the default download parameter and for "t" and "d"
 * (names a fuzzer's bytes reach more often). */
static void check_cookie(apr_pool_t *p, const char *all)
{
    static const char *const dps[] = {"download", "t", "d"};
    for (size_t i = 0; i < sizeof(dps) / sizeof(dps[0]); i++) {
        mg_cookie_table_t t;
        const char *w1 = NULL, *w2 = NULL;
        mg_cookie_table_build(&t, dps[i]);
        int a = mg_cookie_reserved_check(all, dps[i], &w1);
        int b = mg_cookie_reserved_check_table(all, &t, &w2);
        MG_FUZZ_ASSERT(a == b && (a == 0 || strcmp(w1, w2) == 0),
                       "download '%s': reference %d, table %d", dps[i], a, b);
    }
    const char *why = NULL, *why2 = NULL;
    int rc = mg_cookie_reserved_check(all, "download", &why);
    MG_FUZZ_ASSERT(rc == 0 || rc == -1, "rc %d", rc);
    MG_FUZZ_ASSERT(rc == 0 || (why != NULL && strncmp(why, "cookie named", 12) == 0),
                   "refused without its sentence");
    if (rc != 0)
        MG_FUZZ_ASSERT(
            mg_cookie_reserved_check(apr_pstrcat(p, all, "; a=1", NULL), "download", &why2) == -1,
            "a cookie added after took a refusal back");
    MG_FUZZ_ASSERT(
        mg_cookie_reserved_check(apr_pstrcat(p, all, "; tr=1", NULL), "download", &why2) == -1,
        "a cookie named tr added after is not refused");
}

/* ------------------------------------------------------------ message */

/* ap_is_url(): letters, digits, '+', '-', '.' (at least one), then ':' */
static int httpd_reads_as_url(const char *s)
{
    size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    return n > 0 && s[n] == ':';
}

/* Append the UTF-8 of code point cp. */
static char *put_utf8(char *o, unsigned long cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

static void check_message(apr_pool_t *p, const char *msg, size_t n)
{
    static const struct {
        const char *ent;
        char c;
    } named[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&#x27;", '\''}};
    const char *out = mg_message_html(p, msg);
    size_t on = strlen(out), wn;
    const char *want = utf8_repair(p, msg, n, &wn);
    char *back = apr_palloc(p, on + 1), *b = back;

    MG_FUZZ_ASSERT(on <= 6 * n, "output of %zu bytes for %zu", on, n);
    MG_FUZZ_ASSERT(valid_utf8(out, on), "output is not valid UTF-8");
    MG_FUZZ_ASSERT(out[0] != '/' && !httpd_reads_as_url(out),
                   "httpd would take the body '%.40s' for a URL or path", out);
    MG_FUZZ_ASSERT(strpbrk(out, "<>\"'") == NULL, "raw < > \" or ' in '%s'", out);
    for (size_t i = 0; i < on;) {
        if (out[i] != '&') {
            *b++ = out[i++];
            continue;
        }
        size_t k;
        for (k = 0; k < sizeof(named) / sizeof(named[0]); k++)
            if (strncmp(out + i, named[k].ent, strlen(named[k].ent)) == 0)
                break;
        if (k < sizeof(named) / sizeof(named[0])) {
            *b++ = named[k].c;
            i += strlen(named[k].ent);
            continue;
        }
        /* a numeric reference: only the first character, against httpd */
        MG_FUZZ_ASSERT(i == 0 && strncmp(out, "&#x", 3) == 0, "'&' outside an entity at %zu: %.20s",
                       i, out + i);
        size_t h = strspn(out + 3, "0123456789ABCDEFabcdef");
        MG_FUZZ_ASSERT(h > 0 && h <= 6 && out[3 + h] == ';', "bad numeric reference %.12s", out);
        unsigned long cp = strtoul(apr_pstrmemdup(p, out + 3, h), NULL, 16);
        MG_FUZZ_ASSERT(cp > 0 && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF),
                       "numeric reference to U+%lX", cp);
        b = put_utf8(b, cp);
        i = 3 + h + 1;
    }
    *b = '\0';
    MG_FUZZ_ASSERT((size_t)(b - back) == wn && memcmp(back, want, wn) == 0,
                   "un-escaped message '%s' is not the input '%s'", back, want);
}

/* ------------------------------------------------------------ disposition */

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static void check_disposition(apr_pool_t *p, const char *type, const char *name, size_t n)
{
    static const char attr_extra[] = "!#$&+-.^_`|~"; /* RFC 8187 attr-char besides ALPHA DIGIT */
    const char *v = mg_content_disposition(p, type, name);
    const unsigned char *u = (const unsigned char *)name;

    MG_FUZZ_ASSERT(v != NULL, "no value");
    if (n == 0) {
        MG_FUZZ_ASSERT(strcmp(v, type) == 0, "value '%s' for no name", v);
        return;
    }
    for (const char *c = v; *c; c++)
        MG_FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f, "byte 0x%02x in the header value",
                       (unsigned char)*c);

    /* the prefix the value may carry: whole sequences (an invalid byte is
     * one) within the bound */
    size_t cut = 0;
    while (cut < n) {
        size_t l = utf8_len(u + cut, n - cut);
        if (l == 0)
            l = 1;
        if (cut + l > MG_DISPOSITION_MAX_NAME)
            break;
        cut += l;
    }

    /* TYPE; filename="Q" */
    const char *head = apr_pstrcat(p, type, "; filename=\"", NULL);
    MG_FUZZ_ASSERT(strncmp(v, head, strlen(head)) == 0, "value '%.60s'", v);
    const char *q = v + strlen(head), *qe = strchr(q, '"');
    MG_FUZZ_ASSERT(qe != NULL, "unterminated quoted-string");
    MG_FUZZ_ASSERT((size_t)(qe - q) == cut, "quoted name of %zu characters for %zu bytes",
                   (size_t)(qe - q), cut);
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = u[i];
        char w = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\' && c != '%') ? (char)c : '_';
        MG_FUZZ_ASSERT(q[i] == w, "quoted name byte %zu is '%c', not '%c'", i, q[i], w);
    }
    MG_FUZZ_ASSERT(memchr(q, '\\', cut) == NULL, "backslash in the quoted-string");

    /* ; filename*=UTF-8''E */
    const char *ext = qe + 1;
    MG_FUZZ_ASSERT(strncmp(ext, "; filename*=UTF-8''", 19) == 0, "after the quoted name: '%.40s'",
                   ext);
    ext += 19;
    char *dec = apr_palloc(p, strlen(ext) + 1), *d = dec;
    for (const char *e = ext; *e;) {
        if (*e == '%') {
            int hi = hexval(e[1]), lo = hi < 0 ? -1 : hexval(e[2]);
            MG_FUZZ_ASSERT(hi >= 0 && lo >= 0, "bad pct-encoding '%.3s'", e);
            *d++ = (char)(hi * 16 + lo);
            e += 3;
        } else {
            MG_FUZZ_ASSERT(apr_isalnum(*e) || strchr(attr_extra, *e) != NULL,
                           "'%c' is no attr-char", *e);
            *d++ = *e++;
        }
    }
    size_t dn = (size_t)(d - dec), wn;
    const char *want = utf8_repair(p, name, cut, &wn);
    MG_FUZZ_ASSERT(valid_utf8(dec, dn), "filename* is not UTF-8");
    MG_FUZZ_ASSERT(dn == wn && memcmp(dec, want, wn) == 0, "filename* decodes to '%.*s', not '%s'",
                   (int)dn, dec, want);
}

/* ------------------------------------------------------------ entry */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    apr_initialize();
    apr_pool_create(&root, NULL);
    /* what no input line can spell: no target, no message, no name */
    mg_target_t t;
    const char *why = NULL;
    MG_FUZZ_ASSERT(mg_target_split(root, NULL, &t, &why) == MG_EINVAL && why != NULL,
                   "a NULL target is not refused");
    MG_FUZZ_ASSERT(strcmp(mg_message_html(root, NULL), "") == 0, "NULL message");
    MG_FUZZ_ASSERT(strcmp(mg_content_disposition(root, "attachment", NULL), "attachment") == 0,
                   "NULL file name");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    const char *in = (const char *)data;
    apr_pool_create(&p, root);

    /* the target: the first line (as a C string: up to a NUL) */
    const char *nl = memchr(in, '\n', size);
    size_t tl = nl ? (size_t)(nl - in) : size;
    const char *target = apr_pstrmemdup(p, in, tl);
    mg_target_t t, t2;
    const char *why = "unset";
    mg_status_t st = mg_target_split(p, target, &t, &why);
    check_target(p, target, &t, st, why);
    /* without *why: the same split */
    MG_FUZZ_ASSERT(mg_target_split(p, target, &t2, NULL) == st, "status depends on why");
    MG_FUZZ_ASSERT(strcmp(t2.path, t.path) == 0 && (t2.query == NULL) == (t.query == NULL),
                   "split depends on why");

    /* the headers: the other lines, "Name: value" (OWS after ':' dropped) */
    headers_t h;
    h.n = 0;
    for (size_t i = tl + 1; nl != NULL && i <= size && h.n < MAX_HEADERS;) {
        const char *ls = in + i, *le = memchr(ls, '\n', size - i);
        size_t ll = le ? (size_t)(le - ls) : size - i;
        const char *colon = memchr(ls, ':', ll);
        if (colon != NULL) {
            const char *val = colon + 1;
            while (val < ls + ll && (*val == ' ' || *val == '\t'))
                val++;
            h.name[h.n] = apr_pstrmemdup(p, ls, (apr_size_t)(colon - ls));
            h.value[h.n] = apr_pstrmemdup(p, val, (apr_size_t)(ls + ll - val));
            h.n++;
        }
        if (le == NULL)
            break;
        i += ll + 1;
    }
    check_request(p, &t, &h, 1);
    check_request(p, &t, &h, 0);

    /* the whole input up to a NUL: a deny message and a file name */
    const char *all = apr_pstrmemdup(p, in, size);
    size_t an = strlen(all);
    check_message(p, all, an);
    check_cookie(p, all);
    check_disposition(p, "attachment", all, an);
    check_disposition(p, "inline", all, an);

    apr_pool_destroy(p);
    return 0;
}
