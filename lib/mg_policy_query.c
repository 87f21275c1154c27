/* mg_policy_query.c — the per-request lookups in a compiled policy.
 *
 * Owns: which rule owns a canonical path (docs/policy.md "Which rule
 * applies"), the class of an extension, role and user lookups, the
 * transformation-set checks and the method bits. mg_policy_compile.c builds
 * the structures these read (mg_policy_compiled.h) once at configuration
 * time; the lookups here never allocate and never take locks, so any number
 * of threads may use one compiled policy.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>

#include "mg_policy_compiled.h"

/* ------------------------------------------------------------------ */
/* Methods                                                             */
/* ------------------------------------------------------------------ */

/* Every method by name (mg_method_bit answers GET and HEAD before it gets
 * here); a function of its own so that the fast path saves no registers
 * for this loop. */
static __attribute__((noinline)) unsigned method_bit_other(const char *method)
{
    static const struct {
        const char *name;
        unsigned bit;
    } methods[] = {{"GET", MG_M_GET},    {"HEAD", MG_M_HEAD},     {"POST", MG_M_POST},
                   {"PUT", MG_M_PUT},    {"DELETE", MG_M_DELETE}, {"OPTIONS", MG_M_OPTIONS},
                   {"PATCH", MG_M_PATCH}};
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(method, methods[i].name) == 0)
            return methods[i].bit;
    return MG_M_OTHER;
}

unsigned mg_method_bit(const char *method)
{
    if (method == NULL || *method == '\0')
        return 0;
    /* Methods are case-sensitive (RFC 9110 9.1): "get" is some other method.
     * GET and HEAD (nearly every request for media) are compared byte by byte
     * here, no strcmp call; each && stops at the first byte that differs, so
     * nothing after the method's NUL is read. test_compile checks this
     * against strcmp over every name, truncation and one-byte change. */
    if (method[0] == 'G' && method[1] == 'E' && method[2] == 'T' && method[3] == '\0')
        return MG_M_GET;
    if (method[0] == 'H' && method[1] == 'E' && method[2] == 'A' && method[3] == 'D' &&
        method[4] == '\0')
        return MG_M_HEAD;
    return method_bit_other(method);
}

/* ------------------------------------------------------------------ */
/* Globs                                                               */
/* ------------------------------------------------------------------ */

/* `*` any run within the segment, `?` one byte. The classic greedy matcher
 * with one backtrack point: linear-ish, no recursion, no allocation. */
static int seg_glob(const char *pat, size_t plen, const char *s, size_t slen)
{
    size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
    while (si < slen) {
        if (pi < plen && pat[pi] == '*') {
            star_p = pi++;
            star_s = si;
        } else if (pi < plen && (pat[pi] == '?' || pat[pi] == s[si])) {
            pi++;
            si++;
        } else if (star_p != (size_t)-1) {
            pi = star_p + 1;
            si = ++star_s;
        } else {
            return 0;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}

int mg_seg_match(const seg_t *g, const char *s, size_t len)
{
    if (g->kind == SEG_LITERAL)
        return g->len == len && memcmp(g->s, s, len) == 0;
    return seg_glob(g->s, g->len, s, len);
}

/* Whole-path glob: the same greedy algorithm one level up, where `**` is the
 * star over whole segments and every other pattern segment matches exactly
 * one path segment. */
int mg_path_glob(const seg_t *segs, int nsegs, const char *path)
{
    int pi = 0, star_p = -1;
    const char *cur = path, *star_cur = NULL;
    const char *s;
    size_t len;
    for (;;) {
        const char *after = cur;
        if (!next_seg(&after, &s, &len))
            break;
        if (pi < nsegs && segs[pi].kind == SEG_DOUBLESTAR) {
            star_p = pi++;
            star_cur = cur;
        } else if (pi < nsegs && mg_seg_match(&segs[pi], s, len)) {
            pi++;
            cur = after;
        } else if (star_p >= 0) {
            /* let `**` swallow one more segment and retry */
            const char *q = star_cur;
            if (!next_seg(&q, &s, &len))
                return 0;
            star_cur = q;
            cur = q;
            pi = star_p + 1;
        } else {
            return 0;
        }
    }
    while (pi < nsegs && segs[pi].kind == SEG_DOUBLESTAR)
        pi++;
    return pi == nsegs;
}

/* ------------------------------------------------------------------ */
/* Extensions                                                          */
/* ------------------------------------------------------------------ */

/* An extension of more than 8 bytes: hashed and compared byte by byte. */
static __attribute__((noinline)) mg_classset_t class_of_long_ext(const compiled_t *c,
                                                                 const char *ext)
{
    size_t len = strlen(ext);
    for (size_t i = ext_hash(ext, len) & c->ext_mask; c->ext_tab[i].ext != NULL;
         i = (i + 1) & c->ext_mask)
        if (ext_eq(&c->ext_tab[i], ext, len))
            return c->ext_tab[i].set;
    return 0;
}

mg_classset_t mg_class_of_ext(const mg_policy_t *policy, const char *ext)
{
    const compiled_t *c = policy ? policy->compiled : NULL;
    if (c == NULL || ext == NULL || *ext == '\0')
        return 0;
    /* The bytes up to the NUL (none read past it, no strlen) put in place
     * one by one, unrolled: a load, a test, a shift and an OR each. */
    uint64_t w = (unsigned char)ext[0];
    unsigned char ch;
#define EXT_BYTE(i)                                                                                \
    if ((ch = (unsigned char)ext[i]) == '\0')                                                      \
        goto done;                                                                                 \
    w |= (uint64_t)ch << (8 * (i));
    EXT_BYTE(1)
    EXT_BYTE(2)
    EXT_BYTE(3)
    EXT_BYTE(4)
    EXT_BYTE(5)
    EXT_BYTE(6)
    EXT_BYTE(7)
#undef EXT_BYTE
    if (ext[8] != '\0')
        return class_of_long_ext(c, ext);
done:
    /* ext_word(): A-Z lower-cased in all eight bytes at once. A byte b
     * below 0x80 is in A-Z exactly when b + 0x3f sets its top bit (b >=
     * 0x41) and b + 0x25 does not (b < 0x5b); neither sum carries into the
     * next byte. A byte of 0x80 or more is left alone (~w clears the
     * flag), as are the zero bytes above the last. */
    {
        const uint64_t lo7 = 0x7f7f7f7f7f7f7f7fu, top = 0x8080808080808080u;
        uint64_t b = w & lo7;
        uint64_t az = (b + 0x3f3f3f3f3f3f3f3fu) & ~(b + 0x2525252525252525u) & ~w & top;
        w |= az >> 2;
    }
    /* The table is at most half full, so the probe always reaches a hole;
     * a longer extension's slot has word 0, which no word here equals. */
    for (size_t k = ext_word_hash(w) & c->ext_mask; c->ext_tab[k].ext != NULL;
         k = (k + 1) & c->ext_mask)
        if (c->ext_tab[k].word == w)
            return c->ext_tab[k].set;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Matching                                                            */
/* ------------------------------------------------------------------ */

/* The child of n named s[0, len) (more than 8 bytes) with hash h, or NULL. */
static const node_t *kid_find(const node_t *n, const char *s, size_t len, uint32_t h)
{
    for (uint32_t i = h & n->kid_mask;; i = (i + 1) & n->kid_mask) {
        const kid_t *k = &n->kids[i];
        if (k->node == NULL)
            return NULL;
        if (k->hash == h && k->len == len && memcmp(k->s, s, len) == 0)
            return k->node;
    }
}

/* The child of n whose 1-8 byte segment has word w (seg_word), or NULL:
 * equal words are equal segments, and a longer segment's slot has word 0,
 * which no w is. */
static inline const node_t *kid_find_word(const node_t *n, uint64_t w)
{
    for (uint32_t i = seg_word_hash(w) & n->kid_mask;; i = (i + 1) & n->kid_mask) {
        const kid_t *k = &n->kids[i];
        if (k->word == w)
            return k->node;
        if (k->node == NULL)
            return NULL;
    }
}

/* The child of n named by the segment that starts at *pp (not '/', not
 * the end) in the canonical path `path`, or NULL; *pp is moved to the
 * segment's end. A segment of 1-8 bytes is looked up by its word
 * (kid_find_word), a longer one by hash and bytes (kid_find). */
static inline const node_t *seg_child(const node_t *n, const unsigned char *path,
                                      const unsigned char **pp)
{
    const unsigned char *s = *pp, *p = s;
    uint64_t w = 0;
    if (s - path < 7) {
        /* A segment that starts in the path's first 7 bytes (the first,
         * mostly): fewer than 8 bytes may lie before its end, so its word
         * is built while its end is looked for, unrolled (a load, a test,
         * a shift and an OR per byte); nothing past the end is read. */
        unsigned char ch;
#define SEG_BYTE(i)                                                                                \
    if ((ch = s[i]) == '/' || ch == '\0') {                                                        \
        p = s + (i);                                                                               \
        goto short_seg;                                                                            \
    }                                                                                              \
    w |= (uint64_t)ch << (8 * (i));
        SEG_BYTE(0)
        SEG_BYTE(1)
        SEG_BYTE(2)
        SEG_BYTE(3)
        SEG_BYTE(4)
        SEG_BYTE(5)
        SEG_BYTE(6)
        SEG_BYTE(7)
#undef SEG_BYTE
        if ((ch = s[8]) == '/' || ch == '\0') {
            p = s + 8;
        short_seg:
            *pp = p;
            return kid_find_word(n, w);
        }
        p = s + 9; /* more than 8 bytes */
    } else {
        while (*p != '/' && *p != '\0')
            p++;
        size_t len = (size_t)(p - s);
        if (len <= 8) {
            /* seg_word(s, len): the 8 bytes that end at the segment's end
             * (all in the path: it starts 7 or more bytes in), shifted
             * down to the segment's own */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            memcpy(&w, p - 8, 8);
            w >>= 8 * (8 - len);
#else
            w = seg_word((const char *)s, len);
#endif
            *pp = p;
            return kid_find_word(n, w);
        }
    }
    while (*p != '/' && *p != '\0')
        p++;
    *pp = p;
    size_t len = (size_t)(p - s);
    return kid_find(n, (const char *)s, len, seg_hash((const char *)s, len));
}

static int class_ok(const mg_rule_t *r, mg_classset_t ext_classes)
{
    return r->classes == 0 || (r->classes & ext_classes) != 0;
}

const mg_rule_t *mg_policy_match_ex(const mg_policy_t *policy, const char *canon_path,
                                    mg_classset_t ext_classes, unsigned method_bit,
                                    const mg_pathpat_t **pattern, const mg_rule_t **method_rule)
{
    const compiled_t *c = policy ? policy->compiled : NULL;
    if (pattern)
        *pattern = NULL;
    if (method_rule)
        *method_rule = NULL;
    if (c == NULL || canon_path == NULL)
        return NULL;

    /* Down the trie as far as the literal segments go: each segment is
     * hashed in the loop that finds its end, and looked up in the node's
     * own table (no apr_hash_get, which would read the bytes again) ... */
    const node_t *n = c->root;
    const unsigned char *p = (const unsigned char *)canon_path;
    while (n->kids != NULL) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        const node_t *child = seg_child(n, (const unsigned char *)canon_path, &p);
        if (child == NULL)
            break;
        n = child;
    }
    /* ... then back up: the deepest node with a candidate wins, and inside a
     * node the entries are already in tie-breaking order. */
    for (; n != NULL; n = n->parent) {
        for (int i = 0; i < n->nentries; i++) {
            const entry_t *e = n->entries[i];
            if (!class_ok(e->rule, ext_classes))
                continue;
            if (e->is_glob && !mg_path_glob(e->segs, e->nsegs, canon_path))
                continue;
            if ((e->rule->methods & method_bit) == 0) {
                if (method_rule && *method_rule == NULL)
                    *method_rule = e->rule;
                continue;
            }
            if (pattern)
                *pattern = e->pat;
            return e->rule;
        }
    }
    return NULL;
}

const mg_rule_t *mg_policy_match(const mg_policy_t *policy, const char *canon_path,
                                 mg_classset_t ext_classes, unsigned method_bit)
{
    return mg_policy_match_ex(policy, canon_path, ext_classes, method_bit, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Roles, users, transformation profiles                               */
/* ------------------------------------------------------------------ */

int mg_policy_role_index(const mg_policy_t *policy, const char *name, size_t len)
{
    const compiled_t *c = policy ? policy->compiled : NULL;
    if (c == NULL || name == NULL || len == 0)
        return -1;
    void *v = apr_hash_get(c->roles, name, (apr_ssize_t)len);
    return v ? (int)((uintptr_t)v - 1) : -1;
}

mg_roleset_t mg_policy_user_roles(const mg_policy_t *policy, const char *user)
{
    const compiled_t *c = policy ? policy->compiled : NULL;
    if (c == NULL || user == NULL)
        return 0;
    const mg_user_roles_t *u = apr_hash_get(c->users, user, APR_HASH_KEY_STRING);
    return u ? u->roles : 0;
}

static int step_has(const mg_tr_step_t *st, const mg_tr_param_t *p)
{
    for (int k = 0; k < st->nparams; k++)
        if (strcmp(st->params[k].key, p->key) == 0 && strcmp(st->params[k].value, p->value) == 0)
            return 1;
    return 0;
}

/* Keys are unique within a step (the parser refuses duplicates), so equal
 * counts plus inclusion is equality of the parameter sets. */
static int tr_equal(const mg_tr_t *a, const mg_tr_t *b)
{
    if (a->nsteps != b->nsteps)
        return 0;
    for (int i = 0; i < a->nsteps; i++) {
        if (a->steps[i].nparams != b->steps[i].nparams)
            return 0;
        for (int k = 0; k < a->steps[i].nparams; k++)
            if (!step_has(&b->steps[i], &a->steps[i].params[k]))
                return 0;
    }
    return 1;
}

static const trprof_t *trprof_of(const mg_policy_t *policy, const mg_transform_policy_t *tp)
{
    const compiled_t *c = policy ? policy->compiled : NULL;
    if (c == NULL || tp == NULL)
        return NULL;
    return apr_hash_get(c->trprofs, &tp, sizeof(tp));
}

int mg_policy_tr_in_sets(const mg_policy_t *policy, const mg_transform_policy_t *tp,
                         const struct mg_tr *tr)
{
    const trprof_t *t = trprof_of(policy, tp);
    if (t == NULL || tr == NULL)
        return 0;
    for (int i = 0; i < t->nsets; i++)
        if (tr_equal(&t->sets[i], tr))
            return 1;
    return 0;
}

int mg_policy_tr_has_required(const mg_policy_t *policy, const mg_transform_policy_t *tp,
                              const struct mg_tr *tr, const char **missing)
{
    const trprof_t *t = trprof_of(policy, tp);
    if (missing)
        *missing = NULL;
    if (t == NULL)
        return tp == NULL || tp->require == NULL || tp->require->nelts == 0;
    for (int i = 0; i < t->nreq; i++) {
        int found = 0;
        for (int s = 0; tr && s < tr->nsteps && !found; s++)
            found = step_has(&tr->steps[s], &t->req[i]);
        if (!found) {
            if (missing)
                *missing = t->req_text[i];
            return 0;
        }
    }
    return 1;
}

/* ------------------------------------------------------------------ */
/* Public queries (mg.h): what the module and mgctl may know about a    */
/* policy without its structures                                        */
/* ------------------------------------------------------------------ */

int mg_policy_rule_count(const mg_policy_t *policy)
{
    return policy && policy->rules ? policy->rules->nelts : 0;
}

int mg_policy_uses_time(const mg_policy_t *policy)
{
    for (int i = 0; i < mg_policy_rule_count(policy); i++) {
        const mg_rule_t *r = &APR_ARRAY_IDX(policy->rules, i, mg_rule_t);
        if (r->time && r->time->nelts > 0)
            return 1;
    }
    return 0;
}

int mg_policy_role_count(const mg_policy_t *policy)
{
    return policy && policy->roles ? policy->roles->nelts : 0;
}

const char *mg_policy_role_name(const mg_policy_t *policy, int index)
{
    if (index < 0 || index >= mg_policy_role_count(policy))
        return NULL;
    return APR_ARRAY_IDX(policy->roles, index, const char *);
}

const char *mg_role_grant_line(const struct mg_role_grant *grant)
{
    return grant ? grant->line : NULL;
}

const char *mg_policy_file(const mg_policy_t *policy)
{
    return policy ? policy->file : NULL;
}

int mg_policy_grant_count(const mg_policy_t *policy)
{
    return policy && policy->role_grants ? policy->role_grants->nelts : 0;
}

int mg_policy_grant(const mg_policy_t *policy, int index, mg_grant_view_t *out)
{
    if (out == NULL || index < 0 || index >= mg_policy_grant_count(policy))
        return -1;
    const mg_role_grant_t *g = &APR_ARRAY_IDX(policy->role_grants, index, mg_role_grant_t);
    out->role = mg_policy_role_name(policy, g->role);
    out->provider = g->provider;
    out->args = g->args;
    out->line = g->line;
    out->line_no = g->pos.line;
    out->col = g->pos.col;
    return 0;
}
