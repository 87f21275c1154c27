/* mg_policy_compile.c — turns the loaded policy into lookup structures.
 *
 * Owns: building the path trie, the extension -> class table, the role and
 * user tables, the pre-parsed transformation sets and required pairs
 * (mg_policy_compiled.h), and the shadowed/overlapping-rule and class-gap
 * warnings. Everything is built once at configuration time in the policy's
 * pool; the per-request lookups that read it are in mg_policy_query.c.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_hash.h>
#include <apr_strings.h>

#include "mg_policy_compiled.h"
#include "mg_request.h"

/* ------------------------------------------------------------------ */
/* Segments                                                            */
/* ------------------------------------------------------------------ */

/* Split a pattern into segments; returns the count. */
static int split_pattern(apr_pool_t *pool, const char *text, seg_t **out, int *depth, int *is_glob)
{
    int n = 0, d = 0, literal_run = 1, glob = 0;
    const char *p = text, *s;
    size_t len;
    while (next_seg(&p, &s, &len))
        n++;
    seg_t *segs = apr_pcalloc(pool, sizeof(seg_t) * (size_t)(n > 0 ? n : 1));
    p = text;
    for (int i = 0; next_seg(&p, &s, &len); i++) {
        segs[i].s = s;
        segs[i].len = len;
        if (len == 2 && s[0] == '*' && s[1] == '*')
            segs[i].kind = SEG_DOUBLESTAR;
        else if (memchr(s, '*', len) != NULL || memchr(s, '?', len) != NULL)
            segs[i].kind = SEG_WILD;
        else
            segs[i].kind = SEG_LITERAL;
        if (segs[i].kind != SEG_LITERAL) {
            glob = 1;
            literal_run = 0;
        } else if (literal_run) {
            d++;
        }
    }
    *out = segs;
    *depth = d;
    *is_glob = glob;
    return n;
}

/* ------------------------------------------------------------------ */
/* Trie                                                                */
/* ------------------------------------------------------------------ */

static node_t *node_child(apr_pool_t *pool, node_t *n, const seg_t *g)
{
    if (n->children == NULL)
        n->children = apr_hash_make(pool);
    node_t *c = apr_hash_get(n->children, g->s, (apr_ssize_t)g->len);
    if (c == NULL) {
        c = apr_pcalloc(pool, sizeof(*c));
        c->parent = n;
        apr_hash_set(n->children, g->s, (apr_ssize_t)g->len, c);
    }
    return c;
}

/* docs/policy.md tie-break at equal depth: glob before prefix, then a rule
 * with classes before one without, then file order. */
static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
    if (x->is_glob != y->is_glob)
        return x->is_glob ? -1 : 1;
    int xc = x->rule->classes != 0, yc = y->rule->classes != 0;
    if (xc != yc)
        return xc ? -1 : 1;
    if (x->rule->index != y->rule->index)
        return x->rule->index < y->rule->index ? -1 : 1;
    return (x->pat_index > y->pat_index) - (x->pat_index < y->pat_index);
}

/* The request-time child table of n (mg_policy_compiled.h, kid_t): twice
 * as many slots as children, rounded up to a power of two. */
static void build_kids(apr_pool_t *pool, node_t *n)
{
    uint32_t size = 2;
    while (size < 2 * apr_hash_count(n->children))
        size <<= 1;
    n->kids = apr_pcalloc(pool, sizeof(kid_t) * size);
    n->kid_mask = size - 1;
    for (apr_hash_index_t *hi = apr_hash_first(pool, n->children); hi; hi = apr_hash_next(hi)) {
        const void *key;
        apr_ssize_t klen;
        void *val;
        apr_hash_this(hi, &key, &klen, &val);
        uint32_t h = seg_hash(key, (size_t)klen), i = h & n->kid_mask;
        while (n->kids[i].node != NULL)
            i = (i + 1) & n->kid_mask;
        n->kids[i] = (kid_t){key, (size_t)klen, h, seg_word(key, (size_t)klen), val};
    }
}

static void finish_nodes(apr_pool_t *pool, node_t *n)
{
    if (n->build != NULL && n->build->nelts > 0) {
        n->nentries = n->build->nelts;
        n->entries = (entry_t **)n->build->elts;
        qsort(n->entries, (size_t)n->nentries, sizeof(entry_t *), entry_cmp);
    }
    if (n->children != NULL) {
        build_kids(pool, n);
        for (apr_hash_index_t *hi = apr_hash_first(pool, n->children); hi; hi = apr_hash_next(hi))
            finish_nodes(pool, apr_hash_this_val(hi));
    }
}

/* ------------------------------------------------------------------ */
/* Extension table                                                     */
/* ------------------------------------------------------------------ */

static void build_ext_table(apr_pool_t *pool, compiled_t *c, const mg_policy_t *policy)
{
    size_t n = 0, size = 16;
    int ncls = policy->classes ? policy->classes->nelts : 0;
    const mg_class_t *cls = ncls ? (const mg_class_t *)policy->classes->elts : NULL;
    for (int i = 0; i < ncls; i++)
        n += cls[i].exts ? (size_t)cls[i].exts->nelts : 0;
    while (size < 2 * n + 1)
        size <<= 1;
    c->ext_tab = apr_pcalloc(pool, sizeof(ext_slot_t) * size);
    c->ext_mask = size - 1;
    for (int i = 0; i < ncls && i < MG_MAX_CLASSES; i++) {
        if (cls[i].exts == NULL)
            continue;
        for (int j = 0; j < cls[i].exts->nelts; j++) {
            const char *e = APR_ARRAY_IDX(cls[i].exts, j, const char *);
            size_t len = strlen(e);
            char *lc = apr_pstrmemdup(pool, e, len);
            for (size_t k = 0; k < len; k++)
                lc[k] = (char)lower((unsigned char)lc[k]);
            size_t h = ext_hash(lc, len) & c->ext_mask;
            while (c->ext_tab[h].ext != NULL && !ext_eq(&c->ext_tab[h], lc, len))
                h = (h + 1) & c->ext_mask;
            c->ext_tab[h].ext = lc;
            c->ext_tab[h].len = len;
            c->ext_tab[h].word = ext_word(lc, len);
            c->ext_tab[h].set |= (mg_classset_t)1 << i;
        }
    }
}

static const char *diag_file(const mg_policy_t *policy)
{
    return policy->file ? policy->file : (policy->name ? policy->name : "policy");
}

static mg_status_t compile_trprof(apr_pool_t *pool, compiled_t *c, const mg_policy_t *policy,
                                  const mg_transform_policy_t *tp, mg_diags_t *diags)
{
    if (tp == NULL || apr_hash_get(c->trprofs, &tp, sizeof(tp)) != NULL)
        return MG_OK;
    mg_status_t st = MG_OK;
    trprof_t *t = apr_pcalloc(pool, sizeof(*t));
    const char *why = NULL;
    int nsets = tp->sets ? tp->sets->nelts : 0;
    t->sets = apr_pcalloc(pool, sizeof(mg_tr_t) * (size_t)(nsets + 1));
    for (int i = 0; i < nsets; i++) {
        const char *s = APR_ARRAY_IDX(tp->sets, i, const char *);
        if (mg_transform_parse(pool, s, &t->sets[t->nsets], &why) != 0) {
            if (diags)
                mg_diag_add(diags, MG_SEV_ERROR, diag_file(policy), tp->pos.line, tp->pos.col,
                            "bad-transform", "transformation set '%s' of profile '%s': %s", s,
                            tp->name ? tp->name : "(inline)", why ? why : "malformed");
            st = MG_EINVAL;
            continue;
        }
        t->nsets++;
    }
    int nreq_txt = tp->require ? tp->require->nelts : 0;
    apr_array_header_t *req = apr_array_make(pool, nreq_txt + 1, sizeof(mg_tr_param_t));
    apr_array_header_t *req_text = apr_array_make(pool, nreq_txt + 1, sizeof(const char *));
    for (int i = 0; i < nreq_txt; i++) {
        const char *s = APR_ARRAY_IDX(tp->require, i, const char *);
        mg_tr_t one;
        if (mg_transform_parse(pool, s, &one, &why) != 0) {
            if (diags)
                mg_diag_add(diags, MG_SEV_ERROR, diag_file(policy), tp->pos.line, tp->pos.col,
                            "bad-transform", "required transformation '%s' of profile '%s': %s", s,
                            tp->name ? tp->name : "(inline)", why ? why : "malformed");
            st = MG_EINVAL;
            continue;
        }
        /* every pair of the entry must be present (in some step) */
        for (int k = 0; k < one.nsteps; k++)
            for (int j = 0; j < one.steps[k].nparams; j++) {
                APR_ARRAY_PUSH(req, mg_tr_param_t) = one.steps[k].params[j];
                APR_ARRAY_PUSH(req_text, const char *) = s;
            }
    }
    t->req = (mg_tr_param_t *)req->elts;
    t->req_text = (const char **)req_text->elts;
    t->nreq = req->nelts;
    const mg_transform_policy_t **key = apr_palloc(pool, sizeof(*key));
    *key = tp;
    apr_hash_set(c->trprofs, key, sizeof(*key), t);
    return st;
}

/* ------------------------------------------------------------------ */
/* Warnings: shadowed and overlapping rules                            */
/* ------------------------------------------------------------------ */

static int access_level_of(const mg_rule_t *r, int role)
{
    int lvl = -1;
    for (int i = 0; r->access && i < r->access->nelts; i++) {
        const mg_role_access_t *a = &APR_ARRAY_IDX(r->access, i, mg_role_access_t);
        if (a->role == role && (int)a->access > lvl)
            lvl = (int)a->access;
    }
    return lvl;
}

static int access_alike(const mg_rule_t *a, const mg_rule_t *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const mg_rule_t *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; x->access && i < x->access->nelts; i++) {
            int role = APR_ARRAY_IDX(x->access, i, mg_role_access_t).role;
            if (access_level_of(x, role) != access_level_of(y, role))
                return 0;
        }
    }
    return 1;
}

static int ipset_alike(const mg_ipset_t *a, const mg_ipset_t *b)
{
    if (a == b)
        return 1;
    if (a == NULL || b == NULL)
        return 0;
    int na = a->cidrs ? a->cidrs->nelts : 0, nb = b->cidrs ? b->cidrs->nelts : 0;
    if (na != nb)
        return 0;
    return na == 0 || memcmp(a->cidrs->elts, b->cidrs->elts, sizeof(mg_cidr_t) * (size_t)na) == 0;
}

static int strs_alike(const apr_array_header_t *a, const apr_array_header_t *b)
{
    int na = a ? a->nelts : 0, nb = b ? b->nelts : 0;
    if (na != nb || (a == NULL) != (b == NULL))
        return 0;
    for (int i = 0; i < na; i++) {
        int found = 0;
        for (int j = 0; j < nb && !found; j++)
            found =
                strcmp(APR_ARRAY_IDX(a, i, const char *), APR_ARRAY_IDX(b, j, const char *)) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static int ptrs_alike(const apr_array_header_t *a, const apr_array_header_t *b)
{
    int na = a ? a->nelts : 0, nb = b ? b->nelts : 0;
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++) {
        int found = 0;
        for (int j = 0; j < nb && !found; j++)
            found = APR_ARRAY_IDX(a, i, const void *) == APR_ARRAY_IDX(b, j, const void *);
        if (!found)
            return 0;
    }
    return 1;
}

static int str_eq0(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Would the two rules decide every request the same way? Conservative: any
 * difference in what they check or grant counts as a different outcome. */
static int rules_decide_alike(const mg_rule_t *a, const mg_rule_t *b)
{
    return a->token == b->token && access_alike(a, b) && ipset_alike(a->ip_allow, b->ip_allow) &&
           ipset_alike(a->ip_deny, b->ip_deny) && strs_alike(a->country_allow, b->country_allow) &&
           strs_alike(a->country_deny, b->country_deny) && ptrs_alike(a->time, b->time) &&
           a->hotlink == b->hotlink && a->transforms == b->transforms &&
           a->transforms_none == b->transforms_none && a->deny.status == b->deny.status &&
           str_eq0(a->deny.message, b->deny.message) && str_eq0(a->deny.page, b->deny.page) &&
           a->login == b->login;
}

/* Class filters compared by the extensions they admit, not by bits: a rule
 * with `media` admits every `video` extension although the bits differ. */
static int classes_overlap(const compiled_t *c, mg_classset_t a, mg_classset_t b)
{
    if (a == 0 || b == 0 || (a & b) != 0)
        return 1;
    for (size_t i = 0; i <= c->ext_mask; i++)
        if ((c->ext_tab[i].set & a) && (c->ext_tab[i].set & b))
            return 1;
    return 0;
}

static int classes_within(const compiled_t *c, mg_classset_t inner, mg_classset_t outer)
{
    if ((inner & ~outer) == 0)
        return 1;
    for (size_t i = 0; i <= c->ext_mask; i++)
        if ((c->ext_tab[i].set & inner) && !(c->ext_tab[i].set & outer))
            return 0;
    return 1;
}

/* Can `earlier` (same pattern) win every request `later` could own? At equal
 * patterns the tie-break prefers a rule with classes, so a class-less earlier
 * rule does not shadow a later rule that has classes. */
static int shadows(const compiled_t *c, const mg_rule_t *earlier, const mg_rule_t *later)
{
    if ((later->methods & ~earlier->methods) != 0)
        return 0;
    if (earlier->classes == 0)
        return later->classes == 0;
    return later->classes != 0 && classes_within(c, later->classes, earlier->classes);
}

/* Do two rules with the same pattern compete for some request? Only when
 * both have classes or neither has: between a rule with classes and one
 * without, the tie-break (entry_cmp) gives every request of the classes and
 * methods of the first to it and everything else to the second. That split
 * is the documented way to protect a directory and its media differently
 * (docs/policy.md, "Protecting a directory, not only its media"), so it is
 * no accident to warn about. */
static int overlap(const compiled_t *c, const mg_rule_t *a, const mg_rule_t *b)
{
    if ((a->classes == 0) != (b->classes == 0))
        return 0;
    return (a->methods & b->methods) != 0 && classes_overlap(c, a->classes, b->classes);
}

static void check_identical(apr_pool_t *pool, const mg_policy_t *policy, entry_t **all, int nall,
                            mg_diags_t *diags)
{
    const compiled_t *c = policy->compiled;
    const entry_t **by = apr_pcalloc(pool, sizeof(entry_t *) * (size_t)(nall + 1));
    apr_hash_t *groups = apr_hash_make(pool);
    const char *file = diag_file(policy);

    /* Entries are in file order, so every group lists earlier rules first. */
    for (int j = 0; j < nall; j++) {
        entry_t *e = all[j];
        apr_array_header_t *g = apr_hash_get(groups, e->key, APR_HASH_KEY_STRING);
        if (g == NULL) {
            g = apr_array_make(pool, 2, sizeof(entry_t *));
            apr_hash_set(groups, e->key, APR_HASH_KEY_STRING, g);
        }
        const entry_t *ov = NULL;
        for (int i = 0; i < g->nelts && by[j] == NULL; i++) {
            const entry_t *o = APR_ARRAY_IDX(g, i, entry_t *);
            /* a dead path decides nothing: it neither shadows nor overlaps
             * (whatever shadows it shadows the later one as well) */
            if (o->rule == e->rule || by[o->seq] != NULL)
                continue;
            if (shadows(c, o->rule, e->rule))
                by[j] = o;
            else if (ov == NULL && overlap(c, o->rule, e->rule) &&
                     !rules_decide_alike(o->rule, e->rule))
                ov = o;
        }
        APR_ARRAY_PUSH(g, entry_t *) = e;
        if (by[j] == NULL && ov != NULL)
            mg_diag_add(diags, MG_SEV_WARNING, file, e->rule->pos.line, e->rule->pos.col,
                        "overlapping-rules",
                        "rules '%s' (line %d) and '%s' have the same path '%s' and overlapping "
                        "classes and methods but decide differently; a request of both goes to the "
                        "earlier one only",
                        ov->rule->id, ov->rule->pos.line, e->rule->id, e->pat->text);
    }

    /* A rule is dead when every one of its paths is shadowed; otherwise name
     * the dead paths. Entries of one rule are adjacent in `all`. */
    for (int j = 0; j < nall;) {
        int k = j, dead = 0;
        while (k < nall && all[k]->rule == all[j]->rule) {
            dead += by[k] != NULL;
            k++;
        }
        const mg_rule_t *r = all[j]->rule;
        if (dead == k - j) {
            mg_diag_add(diags, MG_SEV_WARNING, file, r->pos.line, r->pos.col, "shadowed-rule",
                        "rule '%s' can never apply: rule '%s' (line %d) comes first with the "
                        "same path '%s' and the same or wider classes and methods",
                        r->id, by[j]->rule->id, by[j]->rule->pos.line, by[j]->pat->text);
        } else {
            for (int i = j; i < k; i++)
                if (by[i] != NULL)
                    mg_diag_add(diags, MG_SEV_WARNING, file, all[i]->pat->pos.line,
                                all[i]->pat->pos.col, "shadowed-rule",
                                "path '%s' of rule '%s' never applies: rule '%s' (line %d) comes "
                                "first with the same path and the same or wider classes and "
                                "methods",
                                all[i]->pat->text, r->id, by[i]->rule->id, by[i]->rule->pos.line);
        }
        j = k;
    }
}

/* ------------------------------------------------------------------ */
/* Class gaps                                                          */
/* ------------------------------------------------------------------ */

static const char *pattern_key(apr_pool_t *pool, const seg_t *segs, int n, int is_glob);

/* The highest level `anonymous` gets from a rule on its own (no token, no
 * role); a rule that requires a token grants anonymous visitors nothing. */
static mg_access_t anonymous_level(const mg_rule_t *r)
{
    mg_access_t lvl = MG_ACCESS_NONE;
    if (r->token == MG_TOKEN_REQUIRED)
        return MG_ACCESS_NONE;
    for (int i = 0; r->access && i < r->access->nelts; i++) {
        const mg_role_access_t *a = &APR_ARRAY_IDX(r->access, i, mg_role_access_t);
        if (a->role == MG_ROLE_ANONYMOUS && a->access > lvl)
            lvl = a->access;
    }
    return lvl;
}

/* A rule that lets anyone view: anonymous access and no condition on who
 * asks (address, country, time). Hotlink and transformation checks do not
 * make a file secret, so they do not count. */
static int open_to_anyone(const mg_rule_t *r)
{
    return anonymous_level(r) >= MG_ACCESS_VIEW && r->ip_allow == NULL &&
           (r->country_allow == NULL || r->country_allow->nelts == 0) &&
           (r->time == NULL || r->time->nelts == 0);
}

/* Does r own `path` for some extension of its classes? */
static int owns_some_class(const mg_policy_t *policy, const mg_rule_t *r, const char *path,
                           unsigned m)
{
    const compiled_t *c = policy->compiled;
    for (size_t i = 0; i <= c->ext_mask; i++)
        if (c->ext_tab[i].ext != NULL && (c->ext_tab[i].set & r->classes) != 0 &&
            mg_policy_match(policy, path, c->ext_tab[i].set, m) == r)
            return 1;
    return 0;
}

/* A rule with `classes` decides only the files of those classes; every other
 * file under its path (an HLS key, subtitles, an extensionless file, the
 * directory URL) belongs to the next rule or to `default`. Warn when the
 * class rule keeps anonymous visitors out but that fallback lets anyone in.
 * Deliberately narrow, so that it never fires on a safe policy: prefix
 * patterns only (a glob names files, not a directory), and the fallback is
 * found with the real matcher on a path with no extension under the pattern,
 * which no class rule can own. */
static void check_class_gaps(apr_pool_t *pool, const mg_policy_t *policy, entry_t **all, int nall,
                             mg_diags_t *diags)
{
    const char *file = diag_file(policy);

    for (int j = 0; j < nall; j++) {
        const entry_t *e = all[j];
        const mg_rule_t *r = e->rule, *fb, *method_rule = NULL;
        unsigned m;
        if (r->classes == 0 || e->is_glob || open_to_anyone(r))
            continue;
        m = (r->methods & MG_M_GET) ? MG_M_GET : (r->methods & (0u - r->methods));
        if (m == 0)
            continue;
        /* the canonical form of the pattern's directory, plus one segment */
        apr_pool_clear(pool); /* the probe of the previous rule */
        const char *dir = pattern_key(pool, e->segs, e->nsegs, 0) + 1;
        const char *probe = apr_pstrcat(pool, dir, "/mg-class-gap-probe", NULL);
        if (!owns_some_class(policy, r, probe, m))
            continue; /* a dead path (shadowed-rule says so): no gap of its own */
        fb = mg_policy_match_ex(policy, probe, 0, m, NULL, &method_rule);
        if (fb != NULL ? !open_to_anyone(fb)
                       : (policy->deflt != MG_DEFAULT_ALLOW || method_rule != NULL))
            continue;
        mg_diag_add(diags, MG_SEV_WARNING, file, e->pat->pos.line, e->pat->pos.col, "class-gap",
                    "rule '%s' protects only files of its classes under %s/; other files there "
                    "(HLS keys, subtitles, other formats, directory listings) fall to %s%s%s, "
                    "which lets anyone %s them; add a rule without classes for that path that "
                    "denies them (or drop the classes)",
                    r->id, dir, fb ? "rule '" : "default: allow", fb ? fb->id : "", fb ? "'" : "",
                    fb && anonymous_level(fb) < MG_ACCESS_DOWNLOAD ? "view" : "download");
    }
}

/* Pairs of (glob, more specific rule) the glob-override check looks at, at
 * most: bounded work for any policy (a 100,000-rule one with many globs),
 * and far more than a hand-written policy has. */
#define MG_OVERRIDE_PAIRS_MAX 1000000
/* ... and paths built and matched for them (a few microseconds each) */
#define MG_OVERRIDE_PROBES_MAX 10000

/* A path under p's literal prefix that g matches, or NULL: g's segments
 * from its own literal prefix on are laid over p's literal segments (a `**`
 * takes all of them), and what is left of g is written out ('x' for each
 * '*' and '?'). as_pattern: what is left is kept as written, the pattern
 * of g's paths under p (the fix the warning suggests). */
static const char *override_probe(apr_pool_t *pool, const entry_t *g, const entry_t *p,
                                  int as_pattern)
{
    int j = g->depth;
    const char *path = "";
    for (int i = 0; i < p->depth; i++)
        path =
            apr_pstrcat(pool, path, "/", apr_pstrmemdup(pool, p->segs[i].s, p->segs[i].len), NULL);
    for (int i = g->depth; i < p->depth; i++) {
        if (j < g->nsegs && g->segs[j].kind == SEG_DOUBLESTAR) {
            if (!as_pattern)
                j++; /* as a pattern, the rest keeps its '**' */
            break;
        }
        if (j >= g->nsegs || !mg_seg_match(&g->segs[j], p->segs[i].s, p->segs[i].len))
            return NULL;
        j++;
    }
    for (; j < g->nsegs; j++) {
        if (g->segs[j].kind == SEG_DOUBLESTAR && !as_pattern)
            continue;
        char *seg = apr_pstrmemdup(pool, g->segs[j].s, g->segs[j].len);
        for (char *q = seg; *q && !as_pattern; q++)
            if (*q == '*' || *q == '?')
                *q = 'x';
        path = apr_pstrcat(pool, path, "/", seg, NULL);
    }
    return *path ? path : "/";
}

/* The most specific rule owns a request ("Which rule applies"), so a glob
 * for every "private" directory, its first segment a wildcard, owns nothing
 * under /photos/ when a rule for /photos/ exists: that rule has more
 * leading literal segments. Warn
 * when the glob keeps anonymous visitors out and the rule that takes its
 * paths lets anyone view them; found with the real matcher on a path both
 * patterns match. One warning per glob. */
static void check_glob_overrides(apr_pool_t *pool, const mg_policy_t *policy, entry_t **all,
                                 int nall, mg_diags_t *diags)
{
    const char *file = diag_file(policy);
    long pairs = 0, probes = 0;

    for (int j = 0; j < nall; j++) {
        const entry_t *g = all[j];
        if (!g->is_glob || open_to_anyone(g->rule))
            continue;
        unsigned m =
            (g->rule->methods & MG_M_GET) ? MG_M_GET : (g->rule->methods & (0u - g->rule->methods));
        for (int k = 0; k < nall && m != 0; k++) {
            const entry_t *p = all[k];
            if (++pairs > MG_OVERRIDE_PAIRS_MAX)
                return;
            if (p->depth <= g->depth || p->rule == g->rule || !open_to_anyone(p->rule))
                continue;
            int same = 1;
            for (int i = 0; i < g->depth && same; i++)
                same = p->segs[i].len == g->segs[i].len &&
                       memcmp(p->segs[i].s, g->segs[i].s, g->segs[i].len) == 0;
            if (!same)
                continue;
            if (++probes > MG_OVERRIDE_PROBES_MAX)
                return;
            apr_pool_clear(pool);
            const char *probe = override_probe(pool, g, p, 0);
            mg_classset_t cls = g->rule->classes ? g->rule->classes : ~(mg_classset_t)0;
            const mg_rule_t *owner;
            const mg_pathpat_t *opat;
            if (probe == NULL || !mg_path_glob(g->segs, g->nsegs, probe) ||
                (owner = mg_policy_match_ex(policy, probe, cls, m, &opat, NULL)) == NULL ||
                owner == g->rule || !open_to_anyone(owner))
                continue;
            mg_diag_t *d = mg_diag_add(
                diags, MG_SEV_WARNING, file, g->pat->pos.line, g->pat->pos.col, "glob-overridden",
                "rule '%s' (%s) does not own %s: rule '%s' (%s) has more leading literal "
                "segments, so it owns that path, and it lets anyone view it",
                g->rule->id, g->pat->text, probe, owner->id, opat ? opat->text : "?");
            if (d != NULL)
                d->hint = apr_psprintf(diags->pool,
                                       "the most specific rule owns a request, not the first: "
                                       "add a rule for %s with the access of rule '%s'",
                                       override_probe(pool, g, p, 1), g->rule->id);
            break;
        }
    }
}

/* ------------------------------------------------------------------ */
/* Compile                                                             */
/* ------------------------------------------------------------------ */

static const char *pattern_key(apr_pool_t *pool, const seg_t *segs, int n, int is_glob)
{
    size_t len = 2;
    for (int i = 0; i < n; i++)
        len += segs[i].len + 1;
    char *k = apr_palloc(pool, len + 1), *q = k;
    *q++ = is_glob ? 'g' : 'p';
    for (int i = 0; i < n; i++) {
        *q++ = '/';
        memcpy(q, segs[i].s, segs[i].len);
        q += segs[i].len;
    }
    *q = '\0';
    return k;
}

mg_status_t mg_policy_compile(mg_policy_t *policy, mg_diags_t *diags)
{
    if (policy == NULL || policy->pool == NULL)
        return MG_EINTERNAL;
    apr_pool_t *pool = policy->pool;
    mg_status_t st = MG_OK;
    compiled_t *c = apr_pcalloc(pool, sizeof(*c));
    c->root = apr_pcalloc(pool, sizeof(node_t));
    c->roles = apr_hash_make(pool);
    c->users = apr_hash_make(pool);
    c->trprofs = apr_hash_make(pool);

    build_ext_table(pool, c, policy);

    for (int i = 0; policy->roles && i < policy->roles->nelts && i < MG_MAX_ROLES; i++)
        apr_hash_set(c->roles, APR_ARRAY_IDX(policy->roles, i, const char *), APR_HASH_KEY_STRING,
                     (void *)(uintptr_t)(i + 1));
    for (int i = 0; policy->users && i < policy->users->nelts; i++) {
        const mg_user_roles_t *u = &APR_ARRAY_IDX(policy->users, i, mg_user_roles_t);
        if (u->user != NULL)
            apr_hash_set(c->users, u->user, APR_HASH_KEY_STRING, u);
    }
    for (int i = 0; policy->transforms && i < policy->transforms->nelts; i++)
        if (compile_trprof(pool, c, policy,
                           &APR_ARRAY_IDX(policy->transforms, i, mg_transform_policy_t),
                           diags) != MG_OK)
            st = MG_EINVAL;

    int nrules = policy->rules ? policy->rules->nelts : 0;
    /* what only the warnings need (the list of all entries, their groups,
     * the class-gap probes) lives in a pool of its own, gone when the
     * policy is compiled: a 100,000-rule policy kept ~15 MB of it */
    apr_pool_t *scratch, *probes;
    if (apr_pool_create(&scratch, pool) != APR_SUCCESS ||
        apr_pool_create(&probes, scratch) != APR_SUCCESS)
        return MG_ENOMEM;
    apr_array_header_t *all = apr_array_make(scratch, nrules + 1, sizeof(entry_t *));
    for (int r = 0; r < nrules; r++) {
        mg_rule_t *rule = &APR_ARRAY_IDX(policy->rules, r, mg_rule_t);
        /* The evaluator and the tie-break rely on index being the file
         * position; the loader sets it, but never trust a gap here. */
        rule->index = r;
        if (rule->transforms && compile_trprof(pool, c, policy, rule->transforms, diags) != MG_OK)
            st = MG_EINVAL;
        for (int k = 0; rule->paths && k < rule->paths->nelts; k++) {
            const mg_pathpat_t *pp = &APR_ARRAY_IDX(rule->paths, k, mg_pathpat_t);
            entry_t *e = apr_pcalloc(pool, sizeof(*e));
            e->rule = rule;
            e->pat = pp;
            e->pat_index = k;
            e->nsegs =
                split_pattern(pool, pp->text ? pp->text : "/", &e->segs, &e->depth, &e->is_glob);
            e->key = pattern_key(pool, e->segs, e->nsegs, e->is_glob);
            node_t *n = c->root;
            for (int d = 0; d < e->depth; d++)
                n = node_child(pool, n, &e->segs[d]);
            if (n->build == NULL)
                n->build = apr_array_make(pool, 2, sizeof(entry_t *));
            APR_ARRAY_PUSH(n->build, entry_t *) = e;
            e->seq = all->nelts;
            APR_ARRAY_PUSH(all, entry_t *) = e;
        }
    }
    finish_nodes(pool, c->root);
    policy->compiled = c;
    /* what every request would otherwise derive from the policy again: the
     * reserved query names indexed, "has foreign keys" (mg_request.c) */
    if (mg_request_tables_build(policy) != MG_OK)
        st = MG_EINTERNAL;

    if (diags != NULL && nrules > 0) {
        check_identical(scratch, policy, (entry_t **)all->elts, all->nelts, diags);
        check_class_gaps(probes, policy, (entry_t **)all->elts, all->nelts, diags);
        check_glob_overrides(probes, policy, (entry_t **)all->elts, all->nelts, diags);
    }
    apr_pool_destroy(scratch);
    return st;
}
