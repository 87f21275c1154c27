/* mg_load_util.c — the policy loader's typed accessors: each reads one YAML
 * node as the type a key expects, or reports exactly where and why not. */
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>

#include <apr_file_info.h>
#include <apr_strings.h>

#include "mg_ascii.h"
#include "mg_dirs.h"
#include "mg_load.h"
#include "mg_time.h"

static mg_diag_t *addv(mg_lctx_t *c, mg_severity_t sev, const mg_ynode_t *at, const char *code,
                       const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static mg_diag_t *addv(mg_lctx_t *c, mg_severity_t sev, const mg_ynode_t *at, const char *code,
                       const char *fmt, va_list ap)
{
    return mg_diag_addv(c->diags, sev, c->file, at ? at->line : 0, at ? at->col : 0, code, fmt, ap);
}

mg_diag_t *mg_lerr(mg_lctx_t *c, const mg_ynode_t *at, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_diag_t *d = addv(c, MG_SEV_ERROR, at, code, fmt, ap);
    va_end(ap);
    return d;
}

mg_diag_t *mg_lwarn(mg_lctx_t *c, const mg_ynode_t *at, const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mg_diag_t *d = addv(c, MG_SEV_WARNING, at, code, fmt, ap);
    va_end(ap);
    return d;
}

void mg_lhint(mg_lctx_t *c, mg_diag_t *d, const char *word, const char *const *candidates)
{
    const char *s = mg_suggest(word, candidates);
    if (s)
        d->hint = apr_psprintf(c->diags->pool, "did you mean '%s'?", s);
}

int mg_lmap(mg_lctx_t *c, const mg_ynode_t *map, const char *where, const char *const *names,
            mg_ynode_t **vals, mg_ynode_t **keys)
{
    int nn = 0;
    while (names[nn])
        nn++;
    memset(vals, 0, sizeof(*vals) * (size_t)nn);
    if (keys)
        memset(keys, 0, sizeof(*keys) * (size_t)nn);
    if (!map || map->kind != MG_Y_MAP) {
        mg_lerr(c, map, "wrong-type", "expected a mapping for %s, got %s", where,
                mg_ynode_describe(c->tmp, map));
        return -1;
    }
    for (int i = 0; i < map->n; i++) {
        const mg_ynode_t *k = map->pairs[i].key;
        int j;
        for (j = 0; j < nn; j++)
            if (strcmp(k->str, names[j]) == 0)
                break;
        if (j == nn) {
            mg_diag_t *d = mg_lerr(c, k, "unknown-key", "unknown key '%s' in %s", k->str, where);
            mg_lhint(c, d, k->str, names);
            continue;
        }
        vals[j] = map->pairs[i].value;
        if (keys)
            keys[j] = map->pairs[i].key;
    }
    return 0;
}

const char *mg_lstr(mg_lctx_t *c, const mg_ynode_t *n, const char *key)
{
    if (!n || n->kind != MG_Y_SCALAR || mg_ynode_is_null(n)) {
        mg_lerr(c, n, "wrong-type", "expected a string for '%s', got %s", key,
                mg_ynode_describe(c->tmp, n));
        return NULL;
    }
    return apr_pstrmemdup(c->pool, n->str, n->len);
}

int mg_lbool(mg_lctx_t *c, const mg_ynode_t *n, const char *key, int *out)
{
    if (n && n->kind == MG_Y_SCALAR && n->plain) {
        if (!strcmp(n->str, "true") || !strcmp(n->str, "True") || !strcmp(n->str, "TRUE")) {
            *out = 1;
            return 0;
        }
        if (!strcmp(n->str, "false") || !strcmp(n->str, "False") || !strcmp(n->str, "FALSE")) {
            *out = 0;
            return 0;
        }
    }
    mg_lerr(c, n, "wrong-type", "expected true or false for '%s', got %s", key,
            mg_ynode_describe(c->tmp, n));
    return -1;
}

int mg_lint(mg_lctx_t *c, const mg_ynode_t *n, const char *key, long *out)
{
    if (n && n->kind == MG_Y_SCALAR && n->plain && n->len > 0 && n->len <= 9) {
        const char *s = n->str;
        int neg = 0;
        long v = 0;
        if (*s == '-' || *s == '+')
            neg = *s++ == '-';
        if (s[0] == '0' && mg_ascii_isdigit((unsigned char)s[1]) &&
            strspn(s, "0123456789") == strlen(s)) {
            /* YAML 1.1 (PyYAML, Ruby, Go's yaml.v2) reads 010 as 8, YAML
             * 1.2 as 10: a CI tool and this loader would disagree */
            mg_diag_t *d = mg_lerr(c, n, "bad-value",
                                   "%s for '%s' has a leading 0, which YAML 1.1 tools read as "
                                   "an octal number",
                                   n->str, key);
            s += strspn(s, "0");
            d->hint = apr_psprintf(c->diags->pool, "write %s%s", neg ? "-" : "", *s ? s : "0");
            return -1;
        }
        if (*s) {
            for (; *s && mg_ascii_isdigit((unsigned char)*s); s++)
                v = v * 10 + (*s - '0');
            if (!*s) {
                *out = neg ? -v : v;
                return 0;
            }
        }
    }
    if (n && n->kind == MG_Y_SCALAR && n->plain && n->len > 9 &&
        strspn(n->str, "0123456789") == n->len) {
        mg_lerr(c, n, "bad-value", "%s is too large for '%s'", n->str, key);
        return -1;
    }
    mg_lerr(c, n, "wrong-type", "expected an integer for '%s', got %s", key,
            mg_ynode_describe(c->tmp, n));
    return -1;
}

apr_array_header_t *mg_llist(mg_lctx_t *c, const mg_ynode_t *n, const char *key, int allow_scalar)
{
    apr_array_header_t *a;
    if (n && allow_scalar && n->kind == MG_Y_SCALAR && !mg_ynode_is_null(n)) {
        a = apr_array_make(c->tmp, 1, sizeof(const mg_ynode_t *));
        *(const mg_ynode_t **)apr_array_push(a) = n;
        return a;
    }
    if (!n || n->kind != MG_Y_SEQ) {
        mg_diag_t *d = mg_lerr(c, n, "wrong-type", "expected %s for '%s', got %s",
                               allow_scalar ? "a string or a list of strings" : "a list of strings",
                               key, mg_ynode_describe(c->tmp, n));
        if (n && n->kind == MG_Y_SCALAR && !mg_ynode_is_null(n) && n->len <= 40)
            d->hint = apr_psprintf(c->diags->pool, "write [%s]", n->str);
        return NULL;
    }
    a = apr_array_make(c->tmp, n->n ? n->n : 1, sizeof(const mg_ynode_t *));
    int bad = 0;
    for (int i = 0; i < n->n; i++) {
        const mg_ynode_t *it = n->items[i];
        if (it->kind != MG_Y_SCALAR || mg_ynode_is_null(it)) {
            mg_lerr(c, it, "wrong-type", "expected a string in the list '%s', got %s", key,
                    mg_ynode_describe(c->tmp, it));
            bad = 1;
            continue;
        }
        *(const mg_ynode_t **)apr_array_push(a) = it;
    }
    return bad ? NULL : a;
}

int mg_lenum(mg_lctx_t *c, const mg_ynode_t *n, const char *key, const char *const *names)
{
    return mg_lenum_code(c, n, key, names, "bad-value");
}

int mg_lenum_code(mg_lctx_t *c, const mg_ynode_t *n, const char *key, const char *const *names,
                  const char *code)
{
    if (!n || n->kind != MG_Y_SCALAR || mg_ynode_is_null(n)) {
        mg_lerr(c, n, "wrong-type", "expected a string for '%s', got %s", key,
                mg_ynode_describe(c->tmp, n));
        return -1;
    }
    for (int i = 0; names[i]; i++)
        if (strcmp(n->str, names[i]) == 0)
            return i;
    const char *list = "";
    for (int i = 0; names[i]; i++)
        list = apr_pstrcat(c->tmp, list, i ? ", " : "", names[i], NULL);
    mg_diag_t *d =
        mg_lerr(c, n, code, "'%s' is not a valid value for '%s' (one of: %s)", n->str, key, list);
    mg_lhint(c, d, n->str, names);
    return -1;
}

int mg_lduration(mg_lctx_t *c, const mg_ynode_t *n, const char *key, apr_interval_time_t *out)
{
    if (!n || n->kind != MG_Y_SCALAR || mg_ynode_is_null(n)) {
        mg_lerr(c, n, "wrong-type", "expected a duration for '%s', got %s", key,
                mg_ynode_describe(c->tmp, n));
        return -1;
    }
    if (mg_duration_parse(n->str, out) != 0 || *out < 0) {
        mg_lerr(c, n, "bad-duration",
                "'%s' is not a valid duration for '%s' (examples: 30s, 15m, 1h30m, 2d, 1w)", n->str,
                key);
        return -1;
    }
    return 0;
}

int mg_lcidr(mg_lctx_t *c, const mg_ynode_t *n, mg_cidr_t *out)
{
    const char *why = NULL;
    if (mg_cidr_parse_pool(c->tmp, n->str, out, &why) != 0) {
        mg_lerr(c, n, "bad-cidr", "bad IP address or CIDR '%s': %s", n->str,
                why ? why : "not an IPv4 or IPv6 address");
        return -1;
    }
    return 0;
}

int mg_lname_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!(mg_ascii_isalnum((unsigned char)s[n]) || s[n] == '.' || s[n] == '_' || s[n] == '-'))
            return 0;
    return n > 0 && n <= 64;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int mg_llookup(mg_lctx_t *c, apr_hash_t *h, const mg_ynode_t *n, const char *code, const char *what)
{
    return mg_llookup_ex(c, h, n, code, what, NULL);
}

int mg_llookup_ex(mg_lctx_t *c, apr_hash_t *h, const mg_ynode_t *n, const char *code,
                  const char *what, const char *const *extra)
{
    void *v = apr_hash_get(h, n->str, (apr_ssize_t)n->len);
    if (v == MG_LBROKEN)
        return -2;
    if (v)
        return (int)((intptr_t)v - 1);
    /* `rols:` was reported once; its roles are not "undefined" everywhere */
    if (h == c->roles && c->roles_failed && (extra == NULL || mg_suggest(n->str, extra) == NULL))
        return -2;
    /* hints compare with every name: skip them for huge name lists, so that a
     * file full of typos cannot make loading quadratic */
    unsigned count = apr_hash_count(h) <= 1000 ? apr_hash_count(h) : 0;
    unsigned nextra = 0;
    while (extra && extra[nextra])
        nextra++;
    const char **cands = apr_pcalloc(c->tmp, sizeof(char *) * (count + nextra + 1));
    int i = 0;
    for (apr_hash_index_t *hi = count ? apr_hash_first(c->tmp, h) : NULL; hi;
         hi = apr_hash_next(hi))
        cands[i++] = apr_hash_this_key(hi);
    for (unsigned k = 0; k < nextra; k++)
        cands[i++] = extra[k];
    /* hash order is arbitrary: sort so the hint is the same on every run */
    qsort(cands, (size_t)i, sizeof(*cands), cmp_str);
    mg_diag_t *d = mg_lerr(c, n, code, "undefined %s '%s'", what, n->str);
    mg_lhint(c, d, n->str, cands);
    return -1;
}

int mg_lprintable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

/* Characters that a reader of the YAML cannot see, or sees as '/' or a
 * space: pasted from a word processor, a chat or a web page. Code point
 * ranges, the name (a range's, or the one character's) and what it looks
 * like. */
static const struct {
    unsigned from, to;
    const char *name, *looks;
} confusables[] = {
    {0x00A0, 0x00A0, "NO-BREAK SPACE", "looks like a space"},
    {0x00AD, 0x00AD, "SOFT HYPHEN", "is invisible"},
    {0x034F, 0x034F, "COMBINING GRAPHEME JOINER", "is invisible"},
    {0x115F, 0x1160, "a Hangul filler", "is invisible"},
    {0x180E, 0x180E, "MONGOLIAN VOWEL SEPARATOR", "is invisible"},
    {0x2000, 0x200A, "a typographic space", "looks like a space"},
    {0x200B, 0x200B, "ZERO WIDTH SPACE", "is invisible"},
    {0x200C, 0x200C, "ZERO WIDTH NON-JOINER", "is invisible"},
    {0x200D, 0x200D, "ZERO WIDTH JOINER", "is invisible"},
    {0x200E, 0x200E, "LEFT-TO-RIGHT MARK", "is invisible"},
    {0x200F, 0x200F, "RIGHT-TO-LEFT MARK", "is invisible"},
    {0x2028, 0x2029, "a line or paragraph separator", "is invisible"},
    {0x202A, 0x202E, "a bidirectional control", "is invisible"},
    {0x202F, 0x202F, "NARROW NO-BREAK SPACE", "looks like a space"},
    {0x2044, 0x2044, "FRACTION SLASH", "looks like '/'"},
    {0x205F, 0x205F, "MEDIUM MATHEMATICAL SPACE", "looks like a space"},
    {0x2060, 0x2060, "WORD JOINER", "is invisible"},
    {0x2061, 0x2064, "an invisible operator", "is invisible"},
    {0x2066, 0x2069, "a bidirectional control", "is invisible"},
    {0x2215, 0x2215, "DIVISION SLASH", "looks like '/'"},
    {0x2571, 0x2571, "BOX DRAWINGS LIGHT DIAGONAL", "looks like '/'"},
    {0x29F8, 0x29F8, "BIG SOLIDUS", "looks like '/'"},
    {0x3000, 0x3000, "IDEOGRAPHIC SPACE", "looks like a space"},
    {0x3164, 0x3164, "HANGUL FILLER", "is invisible"},
    {0xFE00, 0xFE0F, "a variation selector", "is invisible"},
    {0xFEFF, 0xFEFF, "ZERO WIDTH NO-BREAK SPACE", "is invisible"},
    {0xFF0F, 0xFF0F, "FULLWIDTH SOLIDUS", "looks like '/'"},
    {0xFFA0, 0xFFA0, "HALFWIDTH HANGUL FILLER", "is invisible"},
    {0xE0000, 0xE007F, "a tag character", "is invisible"},
};

/* The code point of the UTF-8 sequence at s and its length in *len, or
 * 0 (with *len 1) for a byte that starts no valid sequence: libyaml
 * refuses invalid UTF-8, but s may come from elsewhere. */
static unsigned utf8_next(const unsigned char *s, size_t *len)
{
    unsigned cp;
    size_t n;
    *len = 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) /* a NUL ends the string here too */
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    *len = n;
    return cp;
}

const char *mg_lconfusable(apr_pool_t *pool, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t len;
        unsigned cp = utf8_next(u, &len);
        u += len;
        for (size_t i = 0; cp && i < sizeof(confusables) / sizeof(confusables[0]); i++) {
            if (cp < confusables[i].from || cp > confusables[i].to)
                continue;
            if (confusables[i].from == confusables[i].to)
                return apr_psprintf(pool, "U+%04X %s, which %s", cp, confusables[i].name,
                                    confusables[i].looks);
            return apr_psprintf(pool, "%s (U+%04X), which %s", confusables[i].name, cp,
                                confusables[i].looks);
        }
    }
    return NULL;
}

/* HTTP header / cookie / variable names: RFC 7230 token characters. */
int mg_ltoken_ok(const char *s)
{
    if (!*s || strlen(s) > 128)
        return 0;
    for (; *s; s++)
        if (!(mg_ascii_isalnum((unsigned char)*s) || strchr("!#$%&'*+-.^_`|~", *s)))
            return 0;
    return 1;
}

/* Group write is left alone (the policy file's rule, mg_policy_read_file):
 * these files are data that a package manager or a deploy group keeps, not
 * secrets; what matters is that not everyone on the machine can change
 * them, and that is refused, as for the policy itself. */
void mg_lrefuse_world_writable(mg_lctx_t *c, const mg_ynode_t *at, const char *code,
                               const char *what, const char *path, const char *power)
{
    apr_finfo_t fi;
    apr_status_t rv = apr_stat(&fi, path, APR_FINFO_PROT, c->pool);

    if ((rv == APR_SUCCESS || rv == APR_INCOMPLETE) && (fi.valid & APR_FINFO_PROT) &&
        (fi.protection & APR_FPROT_WWRITE))
        mg_lerr(c, at, code,
                "%s '%s' is writable by everyone: whoever can write it %s (chmod o-w it)", what,
                path, power);
    mg_dirs_check(c->pool, path, apr_psprintf(c->pool, "the %s '%s'", what, path), MG_DIRS_OTHERS,
                  MG_SEV_ERROR, c->diags, c->file, at ? at->line : 0, at ? at->col : 0, code);
}

void mg_ltimezone(mg_lctx_t *c, const mg_ynode_t *v, const mg_tz_t **tz, const char **tz_name)
{
    const char *s = mg_lstr(c, v, "timezone");
    const char *why = NULL;
    if (!s)
        return;
    if (mg_tz_load(c->pool, s, tz, &why) != 0) {
        mg_lerr(c, v, "unknown-timezone", "%s",
                why ? why : apr_psprintf(c->tmp, "unknown time zone '%s'", s));
        return;
    }
    *tz_name = s;
    /* the zone's TZif file decides when local time is what: whoever may
     * write it moves every time window in that zone. Once per zone: many
     * windows may name the same one. */
    const char *path = mg_tz_file(c->tmp, s);
    if (path == NULL)
        return;
    if (c->tz_checked == NULL)
        c->tz_checked = apr_hash_make(c->pool);
    if (apr_hash_get(c->tz_checked, s, APR_HASH_KEY_STRING) != NULL)
        return;
    apr_hash_set(c->tz_checked, s, APR_HASH_KEY_STRING, s);
    mg_lrefuse_world_writable(c, v, "timezone-file-permissions", "time zone file", path,
                              "moves the time windows in that zone");
}

void mg_lmark_broken(apr_hash_t *h, const mg_ynode_t *section)
{
    if (!section || (section->kind != MG_Y_MAP && section->kind != MG_Y_SEQ))
        return;
    for (int i = 0; i < section->n; i++) {
        const mg_ynode_t *k = section->kind == MG_Y_MAP ? section->pairs[i].key : section->items[i];
        if (k->kind == MG_Y_SCALAR && !apr_hash_get(h, k->str, (apr_ssize_t)k->len))
            apr_hash_set(h, k->str, (apr_ssize_t)k->len, MG_LBROKEN);
    }
}
