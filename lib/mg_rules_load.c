/* mg_rules_load.c — the `rules:` section of a policy: one mg_rule_t per
 * entry, every name resolved to an index or pointer (the sections it refers
 * to are loaded first, so their arrays no longer move). */
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_canon.h"
#include "mg_load.h"

#define HKEY(s) (s), APR_HASH_KEY_STRING

static const char *const method_names[] = {"GET",    "HEAD",    "POST",  "PUT",
                                           "DELETE", "OPTIONS", "PATCH", NULL};
static const unsigned method_bits[] = {MG_M_GET,    MG_M_HEAD,    MG_M_POST, MG_M_PUT,
                                       MG_M_DELETE, MG_M_OPTIONS, MG_M_PATCH};
static const char *const access_values[] = {"none", "view", "download", NULL};
static const char *const token_values[] = {"none", "required", "alternative", NULL};
static const char *const corp_values[] = {"same-site", "same-origin", "cross-origin", NULL};

/* ---- path patterns a canonical path can never match ---------------- */

/* Does the text s[0..n) survive canonicalisation as one path segment?
 * Asked of the canonicaliser itself (docs/canonical-urls.md, "Path
 * rules"), so the loader never keeps a second copy of its rules: the text
 * is percent-encoded the way signers and redirects encode a canonical path
 * (mg_pct_encode_path) and must come back from mg_canon_path() unchanged.
 * It does not when it holds a "%XX" triple (a decoded path never does:
 * double encoding is refused), ';' (parameters are dropped, an encoded ';'
 * is refused), '\\', a control character, ends in '.' or a space, is only
 * dots, or is a "tr:" transformation segment (taken out of the path, and
 * "TR:" refused). On 0, *why is the canonicaliser's sentence. */
static int segment_canonical_uncached(apr_pool_t *pool, const char *seg, const char **why)
{
    mg_canon_t cn;
    /* a file below the segment: "tr:x" and dot rules are judged as they
     * are in the middle of a path, where a pattern's segments are */
    const char *probe = apr_pstrcat(pool, "/", seg, "/f", NULL);
    *why = NULL;
    if (mg_canon_path(pool, mg_pct_encode_path(pool, probe), NULL, &cn, why) != 0)
        return 0;
    if (strcmp(cn.path, probe) != 0) {
        *why = "it is not part of the canonical path";
        return 0;
    }
    return 1;
}

/* Segments that passed are remembered for the rest of the load (memo, in
 * the loader's scratch pool): a large policy repeats its directory names in
 * thousands of rules, and each answer is one canonicalisation. Only passes
 * are kept, so a refusal always comes with the canonicaliser's own
 * sentence. `pool` is for the probe only. */
static int segment_canonical(apr_pool_t *pool, apr_hash_t *memo, const char *s, size_t n,
                             const char **why)
{
    const char *seg;

    if (apr_hash_get(memo, s, (apr_ssize_t)n) != NULL) {
        *why = NULL;
        return 1;
    }
    seg = apr_pstrmemdup(pool, s, n);
    if (!segment_canonical_uncached(pool, seg, why))
        return 0;
    seg = apr_pstrmemdup(apr_hash_pool_get(memo), s, n);
    apr_hash_set(memo, seg, (apr_ssize_t)n, seg);
    return 1;
}

/* A segment of a glob: the literal runs between '*' and '?' are checked
 * one by one. A run is padded with 'x' on each side that a wildcard
 * continues (so "tr:" matters only at the segment's start and a final '.'
 * only at its end); 'x' is no hex digit, so padding never completes a
 * "%XX" triple that the pattern does not already spell. */
static int glob_segment_canonical(apr_pool_t *pool, apr_hash_t *memo, const char *s, size_t n,
                                  const char **why)
{
    size_t i = 0;
    while (i <= n) {
        size_t j = i;
        while (j < n && s[j] != '*' && s[j] != '?')
            j++;
        if (j > i) {
            const char *run = apr_pstrcat(
                pool, i > 0 ? "x" : "", apr_pstrmemdup(pool, s + i, j - i), j < n ? "x" : "", NULL);
            if (!segment_canonical(pool, memo, run, strlen(run), why))
                return 0;
        }
        i = j + 1;
    }
    return 1;
}

/* A "%XX" triple (two hex digits) in s[0..n). */
static int has_pct_triple(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == '%' && mg_ascii_isxdigit((unsigned char)s[i + 1]) &&
            mg_ascii_isxdigit((unsigned char)s[i + 2]))
            return 1;
    return 0;
}

static int pattern_ok(apr_pool_t *pool, apr_hash_t *memo, const char *pat);

/* "/my%20photos/" -> "/my photos/" when that is itself a usable pattern. */
static const char *decoded_pattern(apr_pool_t *pool, apr_hash_t *memo, const char *pat)
{
    char *out = apr_pstrdup(pool, pat), *w = out;
    for (const char *p = pat; *p; p++) {
        if (p[0] == '%' && mg_ascii_isxdigit((unsigned char)p[1]) &&
            mg_ascii_isxdigit((unsigned char)p[2])) {
            char hex[3] = {p[1], p[2], 0};
            long ch = strtol(hex, NULL, 16);
            if (ch == '/' || ch == ';' || ch == '\\')
                return NULL; /* no spelling of one segment: the URL is refused */
            *w++ = (char)ch;
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return pattern_ok(pool, memo, out) ? out : NULL;
}

/* The pattern without segment s[0..n) (a "tr:" segment), or without the
 * ';' parameters of that segment. */
static const char *pattern_without(apr_pool_t *pool, apr_hash_t *memo, const char *pat,
                                   const char *s, size_t n, int params_only)
{
    const char *semi = params_only ? memchr(s, ';', n) : NULL;
    const char *cut = semi ? semi : s - 1; /* a whole segment goes with its '/' */
    const char *res =
        apr_pstrcat(pool, apr_pstrmemdup(pool, pat, (size_t)(cut - pat)), s + n, NULL);
    return pattern_ok(pool, memo, res) ? res : NULL;
}

/* Why the segment s[0..n) of `pat` never matches, and what to write. */
static void explain_segment(mg_lctx_t *c, const mg_ynode_t *n, const char *pat, const char *s,
                            size_t len, const char *why)
{
    apr_pool_t *dp = c->diags->pool;
    const char *seg = apr_pstrmemdup(c->tmp, s, len), *fix;
    mg_diag_t *d;
    if (has_pct_triple(s, len)) {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: segment '%s' has a %%XX escape, but "
                    "patterns are matched against the decoded path",
                    pat, seg);
        fix = decoded_pattern(c->tmp, c->seg_memo, pat);
        d->hint = fix ? apr_psprintf(dp, "patterns match the decoded path: write '%s'", fix)
                      : "patterns match the decoded path: write the characters themselves "
                        "(a literal '%' is fine)";
    } else if (memchr(s, ';', len)) {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: in segment '%s', ';' starts path "
                    "parameters, which canonicalisation removes",
                    pat, seg);
        fix = pattern_without(c->tmp, c->seg_memo, pat, s, len, 1);
        d->hint = fix ? apr_psprintf(dp, "write '%s'", fix) : "leave the ';' parameters out";
    } else if (len >= 3 && s[0] == 't' && s[1] == 'r' && s[2] == ':') {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: '%s' is a transformation segment, "
                    "which is taken out of the path before matching",
                    pat, seg);
        fix = pattern_without(c->tmp, c->seg_memo, pat, s, len, 0);
        d->hint = fix && strcmp(fix, "/") != 0
                      ? apr_psprintf(dp, "write '%s'; limit transformations with 'transforms'", fix)
                      : "limit transformations with a rule's 'transforms'";
    } else if (len >= 3 && (s[0] | 0x20) == 't' && (s[1] | 0x20) == 'r' && s[2] == ':') {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: URLs with a segment starting '%.3s' are "
                    "refused (a transformation segment is written 'tr:' in lower case)",
                    pat, s);
    } else if (strspn(seg, ".") == len) {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: URLs with a segment made only of dots "
                    "are refused (bad-url)",
                    pat);
    } else if (memchr(s, '\\', len)) {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: segment '%s' has a '\\', which URLs "
                    "may not contain (bad-url)",
                    pat, seg);
    } else if (len > 0 && (s[len - 1] == '.' || s[len - 1] == ' ')) {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: segment '%s' ends in %s, and URLs with "
                    "such a segment are refused (bad-url)",
                    pat, seg, s[len - 1] == '.' ? "'.'" : "a space");
    } else {
        d = mg_lerr(c, n, "bad-path",
                    "path pattern '%s' can never match: segment '%s' is never part of a "
                    "canonical path (%s)",
                    pat, seg, why ? why : "refused");
    }
    if (d->hint == NULL)
        d->hint = "see docs/canonical-urls.md, \"Path rules\"";
}

/* The first segment of pat (a pattern that starts with '/') that no
 * canonical path can contain, or NULL. */
static const char *bad_segment(apr_pool_t *pool, apr_hash_t *memo, const char *pat, size_t *len,
                               const char **why)
{
    const char *seg = pat + 1;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        int glob = memchr(seg, '*', n) || memchr(seg, '?', n);
        if (n > 0 && !(n == 2 && seg[0] == '*' && seg[1] == '*') &&
            !(glob ? glob_segment_canonical(pool, memo, seg, n, why)
                   : segment_canonical(pool, memo, seg, n, why))) {
            *len = n;
            return seg;
        }
        if (!end)
            return NULL;
        seg = end + 1;
    }
}

static int pattern_ok(apr_pool_t *pool, apr_hash_t *memo, const char *pat)
{
    size_t len;
    const char *why;
    return pat[0] == '/' && strstr(pat, "//") == NULL &&
           bad_segment(pool, memo, pat, &len, &why) == NULL;
}

/* Validate one path pattern and measure it (docs/policy.md, "Paths"). A
 * pattern that can never equal a canonical path (dot segments, "//",
 * a "%XX" escape, a ";" parameter, a "tr:" segment, ...) is an
 * error rather than a rule that silently never applies. */
/* Patterns that load and match, but not what their author reads: a
 * character that looks like '/' or is invisible (the rule owns a path no
 * one types, and the directory it was meant for falls to another rule), and
 * shell-glob syntax that is literal here. Warnings: such a file name can
 * exist. */
/* The first '[' closed by a ']' in its segment (a bracket expression), or
 * '{' with a ',' before its '}' (an alternation), in s; or NULL. */
static const char *shell_glob_syntax(const char *s)
{
    for (const char *q = s; (q = strpbrk(q, "[{")) != NULL; q++) {
        if (*q == '[') {
            size_t seg = strcspn(q, "/");
            if (memchr(q, ']', seg) != NULL)
                return q;
            continue;
        }
        const char *close = strchr(q, '}');
        if (close != NULL && memchr(q, ',', (size_t)(close - q)) != NULL)
            return q;
    }
    return NULL;
}

static void warn_misread_pattern(mg_lctx_t *c, const mg_ynode_t *n, const char *s)
{
    const char *what = mg_lconfusable(c->tmp, s), *br;
    if (what) {
        mg_diag_t *d = mg_lwarn(c, n, "confusable",
                                "path pattern '%s' holds %s: it matches only paths with that "
                                "very character, so the rule does not own what it seems to",
                                s, what);
        d->hint = "retype the pattern; write '/' and spaces as plain ASCII";
        return;
    }
    if ((br = shell_glob_syntax(s)) != NULL) {
        mg_diag_t *d = mg_lwarn(c, n, "literal-glob",
                                "in path pattern '%s', '%c' is an ordinary character: only '*', "
                                "'?' and a '**' segment are wildcards, so %s matches only "
                                "those very characters",
                                s, *br, *br == '[' ? "[...]" : "{a,b}");
        d->hint = *br == '[' ? "write '?' or '*' for the varying characters"
                             : "write one pattern per alternative: path: [/a/*.mp4, /a/*.mov]";
    }
}

static int load_path(mg_lctx_t *c, const mg_ynode_t *n, mg_pathpat_t *out)
{
    const char *s = n->str;
    int depth = 0, glob = 0;
    memset(out, 0, sizeof(*out));
    if (s[0] != '/') {
        mg_diag_t *d = mg_lerr(c, n, "bad-path", "path pattern '%s' must start with '/'", s);
        d->hint = apr_psprintf(c->diags->pool, "write '/%s'", s);
        return -1;
    }
    if (strlen(s) > 1024) {
        mg_lerr(c, n, "bad-path", "path pattern is longer than 1024 characters");
        return -1;
    }
    for (const char *q = s; *q; q++) {
        if ((unsigned char)*q < 0x20 || *q == 0x7f) {
            mg_lerr(c, n, "bad-path", "path pattern '%s' contains a control character", s);
            return -1;
        }
    }
    const char *seg = s + 1;
    while (1) {
        const char *end = strchr(seg, '/');
        size_t len = end ? (size_t)(end - seg) : strlen(seg);
        if (len == 0 && end) {
            mg_lerr(c, n, "bad-path",
                    "path pattern '%s' has an empty segment ('//'), which a canonical path "
                    "never has",
                    s);
            return -1;
        }
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.')) {
            mg_lerr(c, n, "bad-path",
                    "path pattern '%s' has a '.' or '..' segment, which a canonical path never "
                    "has",
                    s);
            return -1;
        }
        const char *dstar = NULL;
        for (size_t i = 0; i + 1 < len && !dstar; i++)
            if (seg[i] == '*' && seg[i + 1] == '*')
                dstar = seg + i;
        if (dstar && len != 2) {
            mg_lerr(c, n, "bad-path", "in path pattern '%s', '**' must be a whole segment (/**/)",
                    s);
            return -1;
        }
        int has_glob = memchr(seg, '*', len) || memchr(seg, '?', len);
        if (has_glob)
            glob = 1;
        else if (!glob && len > 0)
            depth++;
        if (!end)
            break;
        seg = end + 1;
    }
    size_t blen;
    const char *why, *bad = bad_segment(c->tmp, c->seg_memo, s, &blen, &why);
    if (bad != NULL) {
        explain_segment(c, n, s, bad, blen, why);
        return -1;
    }
    size_t slen = strlen(s);
    if (glob && s[slen - 1] == '/') {
        /* A glob is matched against the whole path, so one ending in '/'
         * owns the directory URL and nothing in it: the files would fall to
         * a parent rule or `default`, where a prefix pattern ending in '/'
         * (the same look) owns everything below it. */
        int dstar_end = slen >= 4 && strcmp(s + slen - 4, "/**/") == 0;
        mg_diag_t *d = mg_lerr(c, n, "bad-path",
                               "glob pattern '%s' ends in '/', so it matches only the directory "
                               "itself, not the files in it (a glob matches the whole path)",
                               s);
        d->hint = apr_psprintf(c->diags->pool, "write '%.*s%s' for everything below it",
                               (int)(slen - (dstar_end ? 1 : 0)), s, dstar_end ? "" : "**");
        return -1;
    }
    warn_misread_pattern(c, n, s);
    out->text = apr_pstrdup(c->pool, s);
    out->is_glob = glob;
    out->literal_depth = depth;
    out->pos.line = n->line;
    out->pos.col = n->col;
    return 0;
}

static int looks_like_ip(const char *s)
{
    if (!(mg_ascii_isxdigit((unsigned char)s[0]) || s[0] == ':'))
        return 0;
    if (!strpbrk(s, ".:/"))
        return 0;
    for (; *s; s++)
        if (!(mg_ascii_isxdigit((unsigned char)*s) || strchr(".:/", *s)))
            return 0;
    return 1;
}

/* ip.allow / ip.deny: ip_sets names and inline CIDRs. A list that is just
 * one named set points at it (the canonical form keeps the name); anything
 * else is merged into one anonymous set so the evaluator scans one list. */
static const mg_ipset_t *load_iplist(mg_lctx_t *c, const mg_ynode_t *n, const char *key)
{
    apr_array_header_t *items = mg_llist(c, n, key, 0);
    int bad = 0;
    if (!items)
        return NULL;
    if (items->nelts == 1) {
        const mg_ynode_t *it = APR_ARRAY_IDX(items, 0, const mg_ynode_t *);
        void *v = apr_hash_get(c->ipsets, HKEY(it->str));
        if (v == MG_LBROKEN)
            return NULL; /* its definition was reported */
        if (v)
            return &APR_ARRAY_IDX(c->p->ipsets, (intptr_t)v - 1, mg_ipset_t);
    }
    mg_ipset_t *set = apr_pcalloc(c->pool, sizeof(*set));
    set->cidrs = apr_array_make(c->pool, items->nelts ? items->nelts : 1, sizeof(mg_cidr_t));
    set->pos.line = n->line;
    set->pos.col = n->col;
    for (int i = 0; i < items->nelts; i++) {
        const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
        void *v = apr_hash_get(c->ipsets, HKEY(it->str));
        if (v == MG_LBROKEN) {
            bad = 1;
        } else if (v) {
            apr_array_cat(set->cidrs,
                          APR_ARRAY_IDX(c->p->ipsets, (intptr_t)v - 1, mg_ipset_t).cidrs);
        } else if (looks_like_ip(it->str)) {
            mg_cidr_t cidr;
            if (mg_lcidr(c, it, &cidr) == 0)
                *(mg_cidr_t *)apr_array_push(set->cidrs) = cidr;
            else
                bad = 1;
        } else {
            mg_llookup(c, c->ipsets, it, "undefined-ip-set", "ip set");
            bad = 1;
        }
    }
    if (!bad && items->nelts == 0 && strcmp(key, "allow") == 0)
        mg_lwarn(c, n, "empty-allow", "an empty ip.allow list refuses every client");
    return bad ? NULL : set;
}

/* ip.deny with 0.0.0.0/0 (or ::/0, or networks that together hold every
 * address of the family) and nothing of the other family reads as "deny
 * everyone", and lets every client of the other family through. */
static void warn_deny_one_family(mg_lctx_t *c, const mg_ynode_t *n, const mg_ipset_t *deny)
{
    int all = 0, seen = 0; /* bit 0: IPv4, bit 1: IPv6 */
    const mg_cidr_t *cidrs = (const mg_cidr_t *)deny->cidrs->elts;
    for (int i = 0; i < deny->cidrs->nelts; i++)
        seen |= cidrs[i].net.family == 4 ? 1 : 2;
    if (seen == 3 || seen == 0)
        return;
    if (mg_cidrs_cover_family(c->tmp, cidrs, deny->cidrs->nelts, seen == 1 ? 4 : 6))
        all = seen;
    if (all == 0)
        return;
    mg_diag_t *d = mg_lwarn(c, n, "deny-one-family",
                            "ip.deny holds %s, every %s client, and no %s network: every %s "
                            "client passes this deny list",
                            all == 1 ? "0.0.0.0/0" : "::/0", all == 1 ? "IPv4" : "IPv6",
                            all == 1 ? "IPv6" : "IPv4", all == 1 ? "IPv6" : "IPv4");
    d->hint = all == 1 ? "add \"::/0\" to deny IPv6 clients too"
                       : "add 0.0.0.0/0 to deny IPv4 clients too";
}

static void load_ip(mg_lctx_t *c, const mg_ynode_t *n, mg_rule_t *r)
{
    static const char *const names[] = {"allow", "deny", NULL};
    mg_ynode_t *v[2];
    if (mg_lmap(c, n, "ip", names, v, NULL) != 0)
        return;
    if (v[0])
        r->ip_allow = load_iplist(c, v[0], "allow");
    if (v[1] && (r->ip_deny = load_iplist(c, v[1], "deny")) != NULL)
        warn_deny_one_family(c, v[1], r->ip_deny);
}

/* ISO 3166-1 alpha-2: the 249 assigned codes (checked against Debian's
 * iso-codes, /usr/share/iso-codes/json/iso_3166-1.json), in order. */
static const char iso3166_assigned[] =
    "ADAEAFAGAIALAMAOAQARASATAUAWAXAZBABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZCACCCDCFCGCHCICK"
    "CLCMCNCOCRCUCVCWCXCYCZDEDJDKDMDODZECEEEGEHERESETFIFJFKFMFOFRGAGBGDGEGFGGGHGIGLGMGNGPGQGRGS"
    "GTGUGWGYHKHMHNHRHTHUIDIEILIMINIOIQIRISITJEJMJOJPKEKGKHKIKMKNKPKRKWKYKZLALBLCLILKLRLSLTLULV"
    "LYMAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZNANCNENFNGNINLNONPNRNUNZOMPAPEPFPGPHPKPLPM"
    "PNPRPSPTPWPYQARERORSRURWSASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZTCTDTFTGTHTJTKTLTMTNTOTR"
    "TTTVTWTZUAUGUMUSUYUZVAVCVEVGVIVNVUWFWSYEYTZAZMZW";

/* A country code a source can send: an assigned one, or one of the codes
 * ISO 3166-1 leaves to its users (AA, QM-QZ, XA-XZ, ZZ), which vendors
 * do use (XK for Kosovo at MaxMind and Cloudflare, XX for "unknown" in
 * CF-IPCountry), and T1, which CF-IPCountry sends for the Tor network (a
 * deny list of it is how Cloudflare sites keep Tor out). Every other pair
 * (UK, EL, EU, SU, ...) is one no database or header answers: in a deny
 * list it would deny nobody. cc is upper case. */
static int country_code_usable(const char *cc)
{
    if (strcmp(cc, "AA") == 0 || strcmp(cc, "ZZ") == 0 || strcmp(cc, "T1") == 0 || cc[0] == 'X' ||
        (cc[0] == 'Q' && cc[1] >= 'M'))
        return 1;
    for (size_t i = 0; i + 1 < sizeof(iso3166_assigned); i += 2)
        if (iso3166_assigned[i] == cc[0] && iso3166_assigned[i + 1] == cc[1])
            return 1;
    return 0;
}

/* The code meant by a reserved one that admins write for a country. */
static const char *country_code_hint(apr_pool_t *pool, const char *cc)
{
    if (strcmp(cc, "UK") == 0)
        return "the United Kingdom is GB";
    if (strcmp(cc, "EL") == 0)
        return "Greece is GR; EL is the European Union's abbreviation";
    if (strcmp(cc, "EU") == 0)
        return "EU is no country: list the member states, AT, BE, ... SE";
    if (strcmp(cc, "SU") == 0)
        return "the Soviet Union's code is no longer assigned: list today's countries (RU, ...)";
    return apr_psprintf(pool,
                        "ISO 3166-1 reserves '%s' or leaves it unassigned: write the country's "
                        "assigned code",
                        cc);
}

static apr_array_header_t *load_countries(mg_lctx_t *c, const mg_ynode_t *n, const char *key)
{
    apr_array_header_t *items = mg_llist(c, n, key, 0);
    if (!items)
        return NULL;
    apr_array_header_t *out =
        apr_array_make(c->pool, items->nelts ? items->nelts : 1, sizeof(const char *));
    for (int i = 0; i < items->nelts; i++) {
        const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
        const char *cc = it->len == 2 ? mg_country_norm(c->pool, it->str) : NULL;
        if (cc == NULL) {
            mg_lerr(c, it, "bad-country",
                    "'%s' is not an ISO 3166 alpha-2 country code (two letters, e.g. DE; "
                    "or T1, Cloudflare's code for Tor)",
                    it->str);
            continue;
        }
        if (!country_code_usable(cc)) {
            mg_diag_t *d = mg_lerr(c, it, "bad-country",
                                   "'%s' is not an assigned ISO 3166-1 country code: no country "
                                   "source sends it, so country.%s would never match it",
                                   it->str, key);
            d->hint = country_code_hint(c->diags->pool, cc);
            continue;
        }
        *(const char **)apr_array_push(out) = cc;
    }
    return out;
}

static void load_country(mg_lctx_t *c, const mg_ynode_t *n, mg_rule_t *r)
{
    static const char *const names[] = {"allow", "deny", NULL};
    mg_ynode_t *v[2];
    if (mg_lmap(c, n, "country", names, v, NULL) != 0)
        return;
    if (v[0]) {
        r->country_allow = load_countries(c, v[0], "allow");
        if (r->country_allow && r->country_allow->nelts == 0)
            mg_lwarn(c, v[0], "empty-allow", "an empty country.allow list refuses every client");
    }
    if (v[1])
        r->country_deny = load_countries(c, v[1], "deny");
    if (c->p->country_kind == 0)
        mg_lwarn(c, n, "no-country-source",
                 "this rule checks the country but the policy has no 'country.from' source; "
                 "only mgctl --country can supply one");
}

static void load_access(mg_lctx_t *c, const mg_ynode_t *n, mg_rule_t *r)
{
    /* offered as hints too: `anonymus` is a typo, not a missing role */
    static const char *const reserved_access[] = {"anonymous", "authenticated", NULL};
    if (n->kind != MG_Y_MAP) {
        mg_lerr(c, n, "wrong-type",
                "expected a mapping of roles to none|view|download for 'access', got %s",
                mg_ynode_describe(c->tmp, n));
        return;
    }
    r->access = apr_array_make(c->pool, n->n ? n->n : 1, sizeof(mg_role_access_t));
    for (int i = 0; i < n->n; i++) {
        const mg_ynode_t *k = n->pairs[i].key;
        mg_role_access_t ra;
        if (strcmp(k->str, "anonymous") == 0)
            ra.role = MG_ROLE_ANONYMOUS;
        else if (strcmp(k->str, "authenticated") == 0)
            ra.role = MG_ROLE_AUTHENTICATED;
        else if ((ra.role =
                      mg_llookup_ex(c, c->roles, k, "undefined-role", "role", reserved_access)) < 0)
            continue;
        int a = mg_lenum_code(c, n->pairs[i].value, "access", access_values, "bad-access");
        if (a < 0)
            continue;
        ra.access = (mg_access_t)a;
        *(mg_role_access_t *)apr_array_push(r->access) = ra;
    }
}

static void load_deny(mg_lctx_t *c, const mg_ynode_t *n, mg_rule_t *r)
{
    static const char *const names[] = {"status", "message", "page", NULL};
    mg_ynode_t *v[3], *k[3];
    long status;
    if (mg_lmap(c, n, "deny", names, v, k) != 0)
        return;
    if (v[0] && mg_lint(c, v[0], "status", &status) == 0) {
        if (status < 400 || status > 599)
            mg_lerr(c, v[0], "bad-status", "deny status %ld is not an HTTP error status (400-599)",
                    status);
        else if (status == 401 || status == 407) {
            /* The module cannot send them: they need an authentication
             * challenge header, which a denial does not have (it answers
             * 403 instead, docs/directives.md). Refuse what would not be
             * sent, so that mgctl explain/test and Apache agree. */
            mg_diag_t *d = mg_lerr(c, v[0], "bad-status",
                                   "deny status %ld needs an authentication challenge, which a "
                                   "denial does not send",
                                   status);
            d->hint = "use 403, or let the rule's access require a role so that a login is asked "
                      "for";
        } else
            r->deny.status = (int)status;
    }
    if (v[1])
        r->deny.message = mg_lstr(c, v[1], "message");
    if (v[2]) {
        const char *p = mg_lstr(c, v[2], "page");
        if (p && (p[0] != '/' || p[1] == '/' || strpbrk(p, " \t\r\n\\")))
            mg_lerr(c, v[2], "bad-value",
                    "deny.page '%s' must be a local URL path starting with a single '/'", p);
        else
            r->deny.page = p;
    }
    if (v[1] && v[2])
        mg_lerr(c, k[2], "deny-conflict", "deny has both 'message' and 'page'; give one of them");
}

enum {
    R_ID,
    R_PATH,
    R_CLASSES,
    R_METHODS,
    R_IP,
    R_COUNTRY,
    R_TIME,
    R_HOTLINK,
    R_TRANSFORMS,
    R_TOKEN,
    R_ACCESS,
    R_DENY,
    R_LOGIN,
    R_CORP,
    R__COUNT
};
static const char *const rule_names[R__COUNT + 1] = {
    "id",         "path",  "classes", "methods", "ip",    "country", "time", "hotlink",
    "transforms", "token", "access",  "deny",    "login", "corp",    NULL};

static int is_rule_key(const char *key)
{
    for (int i = 0; i < R__COUNT; i++) /* first byte first: this runs for every key of every rule */
        if (key[0] == rule_names[i][0] && strcmp(key, rule_names[i]) == 0)
            return 1;
    return 0;
}

/* The steps of load_rule, one per key of a rule in the order of
 * docs/policy.md ("Reference", `rules`). Each reads its value (already
 * checked to be a key of the rule by mg_lmap), reports what is wrong in
 * c->diags and fills its part of r; load_rule keeps the rule only when no
 * step reported an error. */

/* How "unknown key" messages name the rule: by its id when that is
 * readable; the string is built only for a rule that has such an error. */
static const char *rule_where(mg_lctx_t *c, const mg_ynode_t *n)
{
    const mg_ynode_t *idn;

    if (n->kind != MG_Y_MAP)
        return "a rule";
    idn = mg_ynode_get(n, "id");
    for (int i = 0; i < n->n; i++) {
        if (idn && idn->kind == MG_Y_SCALAR && mg_lname_ok(idn->str) &&
            !is_rule_key(n->pairs[i].key->str))
            return apr_psprintf(c->tmp, "rule '%s'", idn->str);
    }
    return "a rule";
}

/* The rule's number for messages about a rule without a usable id. */
static const char *rule_label(mg_lctx_t *c, const mg_rule_t *r)
{
    return r->id ? r->id : apr_itoa(c->tmp, r->index + 1);
}

/* id: required, a name, unique in the policy. */
static void rule_id(mg_lctx_t *c, const mg_ynode_t *n, const mg_ynode_t *v, mg_rule_t *r)
{
    const void *first;

    if (!v) {
        mg_lerr(c, n, "missing-key", "rule %d has no 'id'", r->index + 1);
        return;
    }
    if ((r->id = mg_lstr(c, v, "id")) == NULL)
        return;
    first = apr_hash_get(c->rule_ids, HKEY(r->id));
    if (!mg_lname_ok(r->id))
        mg_lerr(c, v, "bad-value", "rule id '%s' must be 1-64 letters, digits, '.', '_' or '-'",
                r->id);
    else if (first)
        mg_lerr(c, v, "duplicate-id", "rule id '%s' is already used at line %d", r->id,
                (int)((intptr_t)first - 1));
    else /* the line, not the node: the node may not outlive this rule */
        apr_hash_set(c->rule_ids, HKEY(r->id), (void *)(intptr_t)(v->line + 1));
}

/* path: required, one pattern or a non-empty list ("Paths"). */
static void rule_paths(mg_lctx_t *c, const mg_ynode_t *n, const mg_ynode_t *v, mg_rule_t *r)
{
    apr_array_header_t *items;

    if (!v) {
        mg_lerr(c, n, "missing-key", "rule %s has no 'path'", rule_label(c, r));
        return;
    }
    if ((items = mg_llist(c, v, "path", 1)) == NULL)
        return;
    r->paths = apr_array_make(c->pool, items->nelts ? items->nelts : 1, sizeof(mg_pathpat_t));
    for (int i = 0; i < items->nelts; i++) {
        mg_pathpat_t pp;
        if (load_path(c, APR_ARRAY_IDX(items, i, const mg_ynode_t *), &pp) == 0)
            *(mg_pathpat_t *)apr_array_push(r->paths) = pp;
    }
    if (items->nelts == 0)
        mg_lerr(c, v, "bad-path", "a rule needs at least one path pattern");
}

/* classes: a non-empty list of defined class names (absent: any file). */
static void rule_classes(mg_lctx_t *c, const mg_ynode_t *v, mg_rule_t *r)
{
    apr_array_header_t *items;

    if (!v || (items = mg_llist(c, v, "classes", 0)) == NULL)
        return;
    for (int i = 0; i < items->nelts; i++) {
        int k = mg_llookup(c, c->classes, APR_ARRAY_IDX(items, i, const mg_ynode_t *),
                           "undefined-class", "class");
        if (k >= 0)
            r->classes |= (mg_classset_t)1 << k;
    }
    if (items->nelts == 0)
        mg_lerr(c, v, "bad-value", "classes must not be empty (leave it out to match any file)");
}

/* methods: a non-empty list of upper-case HTTP methods (absent: GET, HEAD). */
static void rule_methods(mg_lctx_t *c, const mg_ynode_t *v, mg_rule_t *r)
{
    apr_array_header_t *items;

    if (!v || (items = mg_llist(c, v, "methods", 0)) == NULL)
        return;
    r->methods = 0;
    for (int i = 0; i < items->nelts; i++) {
        const mg_ynode_t *it = APR_ARRAY_IDX(items, i, const mg_ynode_t *);
        int m;
        for (m = 0; method_names[m]; m++)
            if (strcmp(it->str, method_names[m]) == 0)
                break;
        if (!method_names[m]) {
            mg_diag_t *d = mg_lerr(c, it, "bad-method", "unknown HTTP method '%s'", it->str);
            char *up = apr_pstrdup(c->tmp, it->str);
            for (char *q = up; *q; q++)
                *q = (char)mg_ascii_toupper((unsigned char)*q);
            mg_lhint(c, d, up, method_names);
            continue;
        }
        r->methods |= method_bits[m];
    }
    if (items->nelts == 0)
        mg_lerr(c, v, "bad-value", "methods must list at least one method");
}

/* time: one or more defined time windows. */
static void rule_time(mg_lctx_t *c, const mg_ynode_t *v, mg_rule_t *r)
{
    apr_array_header_t *items;

    if (!v || (items = mg_llist(c, v, "time", 1)) == NULL)
        return;
    r->time =
        apr_array_make(c->pool, items->nelts ? items->nelts : 1, sizeof(const mg_timewin_t *));
    for (int i = 0; i < items->nelts; i++) {
        int k = mg_llookup(c, c->timewins, APR_ARRAY_IDX(items, i, const mg_ynode_t *),
                           "undefined-time-window", "time window");
        if (k >= 0)
            *(const mg_timewin_t **)apr_array_push(r->time) =
                &APR_ARRAY_IDX(c->p->timewins, k, mg_timewin_t);
    }
    if (items->nelts == 0)
        mg_lerr(c, v, "bad-value", "time must name at least one time window");
}

/* hotlink: a profile name or an inline profile. */
static void rule_hotlink(mg_lctx_t *c, const mg_ynode_t *h, mg_rule_t *r)
{
    if (!h)
        return;
    if (h->kind == MG_Y_MAP) {
        mg_hotlink_t *hl = apr_pcalloc(c->pool, sizeof(*hl));
        if (mg_load_hotlink(c, h, hl) == 0)
            r->hotlink = hl;
    } else if (h->kind == MG_Y_SCALAR && !mg_ynode_is_null(h)) {
        int k = mg_llookup(c, c->hotlinks, h, "undefined-hotlink", "hotlink profile");
        if (k >= 0)
            r->hotlink = &APR_ARRAY_IDX(c->p->hotlinks, k, mg_hotlink_t);
    } else {
        mg_lerr(c, h, "wrong-type",
                "expected a hotlink profile name or mapping for 'hotlink', got %s",
                mg_ynode_describe(c->tmp, h));
    }
}

/* transforms: a profile name, or none. */
static void rule_transforms(mg_lctx_t *c, const mg_ynode_t *t, mg_rule_t *r)
{
    int k;

    if (!t || !mg_lstr(c, t, "transforms"))
        return;
    if (strcmp(t->str, "none") == 0) {
        r->transforms_none = 1;
        return;
    }
    k = mg_llookup(c, c->transforms, t, "undefined-transforms", "transforms profile");
    if (k >= 0)
        r->transforms = &APR_ARRAY_IDX(c->p->transforms, k, mg_transform_policy_t);
}

/* token: none | required | alternative; the last two need keys. */
static void rule_token(mg_lctx_t *c, const mg_ynode_t *v, mg_rule_t *r)
{
    int t;

    if (!v)
        return;
    t = mg_lenum(c, v, "token", token_values);
    if (t >= 0)
        r->token = (mg_token_mode_t)t;
    if (t > 0 && !c->have_keys)
        mg_lerr(c, v, "undefined-key",
                "token: %s needs signing keys, but the policy defines none (add 'keys:')",
                token_values[t]);
}

/* access: required unless token: required (where it is unused: a warning). */
static void rule_access(mg_lctx_t *c, const mg_ynode_t *n, const mg_ynode_t *v, mg_rule_t *r)
{
    if (v) {
        load_access(c, v, r);
        if (r->token == MG_TOKEN_REQUIRED)
            mg_lwarn(c, v, "unused-access",
                     "access is not used when token: required (the token's claim decides)");
    } else if (r->token != MG_TOKEN_REQUIRED) {
        mg_lerr(c, n, "missing-access", "rule %s has no 'access' (required unless token: required)",
                rule_label(c, r));
    }
    if (!r->access)
        r->access = apr_array_make(c->pool, 1, sizeof(mg_role_access_t));
}

/* login: a boolean, true by default when the policy has login.url, and only
 * then allowed to be true. */
static void rule_login(mg_lctx_t *c, const mg_ynode_t *v, mg_rule_t *r)
{
    r->login = c->p->login_url != NULL;
    if (v && mg_lbool(c, v, "login", &r->login) == 0 && r->login && !c->p->login_url)
        mg_lerr(c, v, "login-without-url", "login: true needs a policy-level 'login: {url: ...}'");
}

/* corp: same-site | same-origin | cross-origin, checked against the
 * rule's hotlink profile (so after rule_hotlink). */
static void rule_corp(mg_lctx_t *c, const mg_ynode_t *v, mg_rule_t *r)
{
    int k;

    if (!v || (k = mg_lenum(c, v, "corp", corp_values)) < 0)
        return;
    r->corp = corp_values[k];
    mg_lcheck_corp(c, v, r->corp, r->hotlink);
}

/* Append a loaded rule: to the malloc'd array of streamed rules
 * (mg_load_rules_begin), growing it by realloc, or to the pool's array. */
static void push_rule(mg_lctx_t *c, const mg_rule_t *r)
{
    apr_array_header_t *a = c->p->rules;
    if (c->rules_mem && a->elts == *c->rules_mem && a->nelts == a->nalloc) {
        int n = a->nalloc ? a->nalloc * 2 : 1024;
        void *np = realloc(*c->rules_mem, sizeof(mg_rule_t) * (size_t)n);
        if (np == NULL) {
            mg_lerr(c, NULL, "internal-error", "out of memory while loading the rules");
            return;
        }
        *c->rules_mem = np;
        a->elts = np;
        a->nalloc = n;
    }
    *(mg_rule_t *)apr_array_push(a) = *r;
}

static void load_rule(mg_lctx_t *c, const mg_ynode_t *n, int index)
{
    mg_ynode_t *v[R__COUNT];
    int before = c->diags->errors;
    mg_rule_t r;

    memset(&r, 0, sizeof(r));
    r.index = index;
    r.pos.line = n->line;
    r.pos.col = n->col;
    r.methods = MG_M_GET | MG_M_HEAD;
    r.deny.status = 403;
    if (mg_lmap(c, n, rule_where(c, n), rule_names, v, NULL) != 0)
        return;

    rule_id(c, n, v[R_ID], &r);
    rule_paths(c, n, v[R_PATH], &r);
    rule_classes(c, v[R_CLASSES], &r);
    rule_methods(c, v[R_METHODS], &r);
    if (v[R_IP])
        load_ip(c, v[R_IP], &r);
    if (v[R_COUNTRY])
        load_country(c, v[R_COUNTRY], &r);
    rule_time(c, v[R_TIME], &r);
    rule_hotlink(c, v[R_HOTLINK], &r);
    rule_transforms(c, v[R_TRANSFORMS], &r);
    rule_token(c, v[R_TOKEN], &r);
    rule_access(c, n, v[R_ACCESS], &r);
    if (v[R_DENY])
        load_deny(c, v[R_DENY], &r);
    rule_login(c, v[R_LOGIN], &r);
    rule_corp(c, v[R_CORP], &r);

    if (c->diags->errors == before)
        push_rule(c, &r);
}

static apr_status_t rules_mem_free(void *arg)
{
    void **mem = arg;
    free(*mem);
    *mem = NULL;
    return APR_SUCCESS;
}

int mg_load_rules_begin(mg_lctx_t *c, int streamed)
{
    c->seg_memo = apr_hash_make(c->tmp);
    c->rule_ids = apr_hash_make(c->tmp);
    if (streamed && c->p->rules->nelts == 0) {
        c->rules_mem = apr_pcalloc(c->pool, sizeof(*c->rules_mem));
        apr_pool_cleanup_register(c->pool, c->rules_mem, rules_mem_free, apr_pool_cleanup_null);
        c->p->rules->elts = NULL;
        c->p->rules->nalloc = 0;
    }
    return apr_pool_create(&c->rule_tmp, c->tmp) == APR_SUCCESS ? 0 : -1;
}

/* One rule: while it loads, c->tmp is a pool that is cleared after it. */
void mg_load_rule(mg_lctx_t *c, const mg_ynode_t *n, int index)
{
    apr_pool_t *tmp = c->tmp;

    c->tmp = c->rule_tmp;
    load_rule(c, n, index);
    c->tmp = tmp;
    apr_pool_clear(c->rule_tmp);
}

void mg_load_rules(mg_lctx_t *c, const mg_ynode_t *rules)
{
    if (rules->kind != MG_Y_SEQ) {
        mg_lerr(c, rules, "wrong-type", "expected a list of rules for 'rules', got %s",
                mg_ynode_describe(c->tmp, rules));
        return;
    }
    if (mg_load_rules_begin(c, 0) != 0) {
        mg_lerr(c, rules, "internal-error", "out of memory while loading the rules");
        return;
    }
    /* Room for every rule at once: growing by doubling from 16 copies the
     * array (and zeroes the new one) about log2(n) times, which for 100,000
     * rules is most of the memory traffic of loading them. */
    if (c->p->rules->nelts == 0 && rules->n > c->p->rules->nalloc)
        c->p->rules = apr_array_make(c->pool, rules->n, sizeof(mg_rule_t));
    for (int i = 0; i < rules->n; i++)
        mg_load_rule(c, rules->items[i], i);
}
