/* fuzz_policy.c — the policy loader (YAML bytes in: mg_yaml, the loader,
 * the compiler, the emitter) and the evaluator on what it accepts.
 *
 * Beyond "no crash, no leak, no hang":
 *  - a load succeeds exactly when it reports no error, and every
 *    diagnostic has a position and a sentence;
 *  - streaming the rules and building the YAML tree first
 *    (MG_LOAD_NO_STREAM) give the same diagnostics and digest;
 *  - an accepted policy's canonical text (mgctl compile's output) loads
 *    again, emits the same bytes and has the same digest;
 *  - for a request built from each rule's path, the original and the
 *    reloaded policy decide alike, and tracing does not change a decision.
 * Key files named by the input are resolved next to this file and are
 * usually absent: that is an error like any other.
 */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "mg.h"
#include "mg_fuzz.h"
#include "mg_policy.h"

static apr_pool_t *root;
static const char *base_dir = MG_SRCDIR "/tests/fuzz";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_diags(apr_pool_t *pool, const mg_diags_t *ds)
{
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *d = &APR_ARRAY_IDX(ds->items, i, mg_diag_t);
        MG_FUZZ_ASSERT(d->file != NULL && d->code != NULL && d->msg != NULL && *d->msg,
                       "diagnostic %d incomplete", i);
        MG_FUZZ_ASSERT(d->line >= 0 && d->col >= 0, "diagnostic at %d:%d", d->line, d->col);
        MG_FUZZ_ASSERT(mg_diag_format(pool, d) != NULL, "format");
    }
}

/* A path a rule's pattern matches: literal segments kept, wildcards filled. */
static const char *path_for(apr_pool_t *pool, const mg_pathpat_t *pp)
{
    char *s = apr_pstrdup(pool, pp->text);
    for (char *c = s; *c; c++) {
        if (*c == '*' || *c == '?')
            *c = 'a';
    }
    if (!pp->is_glob)
        return apr_pstrcat(pool, s, s[0] && s[strlen(s) - 1] == '/' ? "" : "/", "x.jpg", NULL);
    return s;
}

static void decide(apr_pool_t *pool, const mg_policy_t *p, const char *path, const char *query,
                   int trace, mg_decision_t *d)
{
    mg_request_t req;
    memset(&req, 0, sizeof(req));
    req.method = "GET";
    req.raw_path = path;
    req.query = query;
    req.host = "media.example";
    req.scheme = "https";
    req.client_ip = "192.0.2.7";
    req.peer_ip = "192.0.2.7";
    req.user = "alice";
    req.now = apr_time_from_sec(1781524800); /* 2026-06-15T12:00:00Z */
    req.referer = "https://other.example/page";
    const char *why = NULL;
    (void)mg_request_prepare(pool, p, &req, &why); /* failure: evaluate denies bad-url */
    memset(d, 0, sizeof(*d));
    mg_evaluate(pool, p, &req, trace, d);
    MG_FUZZ_ASSERT(d->outcome >= MG_OUTCOME_DENY && d->outcome <= MG_OUTCOME_AUTH, "outcome %d",
                   d->outcome);
    MG_FUZZ_ASSERT(d->reason >= 0 && d->reason < MG_R__COUNT, "reason %d", d->reason);
    MG_FUZZ_ASSERT(mg_reason_name(d->reason) != NULL, "unnamed reason");
    MG_FUZZ_ASSERT(d->outcome != MG_OUTCOME_ALLOW || d->access != MG_ACCESS_NONE,
                   "allowed with access none");
}

static void same_decision(const mg_decision_t *a, const mg_decision_t *b, const char *path,
                          const char *what)
{
    MG_FUZZ_ASSERT(a->outcome == b->outcome && a->reason == b->reason && a->access == b->access &&
                       a->status == b->status && ((a->rule_id == NULL) == (b->rule_id == NULL)) &&
                       (a->rule_id == NULL || strcmp(a->rule_id, b->rule_id) == 0),
                   "%s: %s decided %s/%s by %s, then %s/%s by %s", what, path,
                   mg_outcome_name(a->outcome), mg_reason_name(a->reason),
                   a->rule_id ? a->rule_id : "-", mg_outcome_name(b->outcome),
                   mg_reason_name(b->reason), b->rule_id ? b->rule_id : "-");
}

static int str_same(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Differential: streaming the rules while parsing (what callers get) and
 * building the whole YAML tree first (MG_LOAD_NO_STREAM) give the same
 * status, the same diagnostics in the same order and the same digest. */
static void same_as_tree(apr_pool_t *pool, const uint8_t *data, size_t size, mg_status_t st,
                         const mg_policy_t *p, const mg_diags_t *ds)
{
    mg_diags_t *dt = mg_diags_make(pool);
    mg_policy_t *pt = NULL;
    mg_status_t stt = mg_policy_load_buffer_ex(pool, "fuzz.yaml", base_dir, (const char *)data,
                                               size, MG_LOAD_NO_STREAM, &pt, dt);
    MG_FUZZ_ASSERT(st == stt && ds->errors == dt->errors && ds->warnings == dt->warnings &&
                       ds->items->nelts == dt->items->nelts,
                   "streamed: status %d, %d errors, %d warnings; tree: %d, %d, %d", (int)st,
                   ds->errors, ds->warnings, (int)stt, dt->errors, dt->warnings);
    for (int i = 0; i < ds->items->nelts; i++) {
        const mg_diag_t *a = &APR_ARRAY_IDX(ds->items, i, mg_diag_t);
        const mg_diag_t *b = &APR_ARRAY_IDX(dt->items, i, mg_diag_t);
        MG_FUZZ_ASSERT(a->severity == b->severity && a->line == b->line && a->col == b->col &&
                           str_same(a->code, b->code) && str_same(a->msg, b->msg) &&
                           str_same(a->hint, b->hint),
                       "diagnostic %d streamed: %s; tree: %s", i, mg_diag_format(pool, a),
                       mg_diag_format(pool, b));
    }
    MG_FUZZ_ASSERT(p == NULL || strcmp(mg_policy_digest(p), mg_policy_digest(pt)) == 0,
                   "streamed and tree digests differ");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    apr_pool_create(&pool, root);
    mg_diags_t *ds = mg_diags_make(pool);
    mg_policy_t *p = NULL;
    mg_status_t st =
        mg_policy_load_buffer(pool, "fuzz.yaml", base_dir, (const char *)data, size, &p, ds);
    check_diags(pool, ds);
    MG_FUZZ_ASSERT((st == MG_OK) == (p != NULL), "status %d with policy %p", (int)st, (void *)p);
    MG_FUZZ_ASSERT((st == MG_OK) == (ds->errors == 0), "status %d with %d errors", (int)st,
                   ds->errors);
    same_as_tree(pool, data, size, st, p, ds);
    if (p == NULL) {
        apr_pool_destroy(pool);
        return 0;
    }

    const char *digest = mg_policy_digest(p);
    MG_FUZZ_ASSERT(digest != NULL && strlen(digest) == 64, "digest");
    const char *text = mg_policy_emit(pool, p);
    MG_FUZZ_ASSERT(text != NULL, "emit failed");
    mg_diags_t *ds2 = mg_diags_make(pool);
    mg_policy_t *p2 = NULL;
    st = mg_policy_load_buffer(pool, "emitted.yaml", base_dir, text, strlen(text), &p2, ds2);
    if (st != MG_OK) {
        const char *first = ds2->items->nelts
                                ? mg_diag_format(pool, &APR_ARRAY_IDX(ds2->items, 0, mg_diag_t))
                                : "(no diagnostic)";
        MG_FUZZ_ASSERT(0, "emitted policy refused: %s\n--- emitted:\n%s", first, text);
    }
    const char *text2 = mg_policy_emit(pool, p2);
    MG_FUZZ_ASSERT(text2 && strcmp(text, text2) == 0, "emit not a fixed point:\n%s\n---\n%s", text,
                   text2 ? text2 : "(null)");
    MG_FUZZ_ASSERT(strcmp(digest, mg_policy_digest(p2)) == 0, "digest changed on reload");

    /* Bounded: a few rules, a few patterns each. */
    for (int r = 0; r < p->rules->nelts && r < 8; r++) {
        const mg_rule_t *rule = &APR_ARRAY_IDX(p->rules, r, mg_rule_t);
        for (int k = 0; rule->paths && k < rule->paths->nelts && k < 4; k++) {
            const char *path = path_for(pool, &APR_ARRAY_IDX(rule->paths, k, mg_pathpat_t));
            static const char *const queries[] = {NULL, "download=1", "tr=w-100"};
            for (int q = 0; q < 3; q++) {
                mg_decision_t a, b, c;
                decide(pool, p, path, queries[q], 0, &a);
                decide(pool, p, path, queries[q], 1, &b);
                decide(pool, p2, path, queries[q], 0, &c);
                same_decision(&a, &b, path, "tracing");
                same_decision(&a, &c, path, "reloaded canonical text");
            }
        }
    }
    apr_pool_destroy(pool);
    return 0;
}
