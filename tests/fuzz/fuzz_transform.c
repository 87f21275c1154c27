/* fuzz_transform.c — mg_transform_parse() and mg_transform_normalize() on
 * arbitrary bytes.
 *
 * Beyond "no crash": whatever parses respects the documented bounds, and the
 * normal form is a fixed point — it parses again and normalises to itself.
 * The policy compares transformation sets and tokens sign transformations in
 * normal form, so two spellings with different normal forms of the same
 * transformation, or a normal form that does not parse back, would let a URL
 * mean one thing to the guard and another to the image server.
 */
#include <string.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "mg_fuzz.h"
#include "mg_transform.h"

static apr_pool_t *root;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    apr_initialize();
    apr_pool_create(&root, NULL);
    return 0;
}

static void check_parsed(const mg_tr_t *tr)
{
    MG_FUZZ_ASSERT(tr->nsteps >= 1 && tr->nsteps <= MG_TR_MAX_STEPS, "nsteps %d", tr->nsteps);
    for (int s = 0; s < tr->nsteps; s++) {
        const mg_tr_step_t *st = &tr->steps[s];
        MG_FUZZ_ASSERT(st->nparams >= 1 && st->nparams <= MG_TR_MAX_PARAMS, "nparams %d",
                       st->nparams);
        for (int p = 0; p < st->nparams; p++) {
            const char *k = st->params[p].key, *v = st->params[p].value;
            MG_FUZZ_ASSERT(k != NULL && v != NULL && *k != '\0', "empty key");
            MG_FUZZ_ASSERT(strpbrk(k, ",:-") == NULL && strpbrk(v, ",:") == NULL,
                           "separator inside '%s'-'%s'", k, v);
            for (int q = 0; q < p; q++)
                MG_FUZZ_ASSERT(strcmp(st->params[q].key, k) != 0, "duplicate key %s", k);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *pool;
    apr_pool_create(&pool, root);
    const char *s = apr_pstrmemdup(pool, (const char *)data, size);

    mg_tr_t tr;
    const char *why = NULL;
    memset(&tr, 0, sizeof(tr));
    if (mg_transform_parse(pool, s, &tr, &why) == 0) {
        MG_FUZZ_ASSERT(strlen(s) <= MG_TR_MAX_LEN, "accepted %zu bytes", strlen(s));
        check_parsed(&tr);
        const char *norm = mg_transform_normalize(pool, &tr);
        MG_FUZZ_ASSERT(norm != NULL, "normalize returned NULL");

        mg_tr_t tr2;
        const char *why2 = NULL;
        memset(&tr2, 0, sizeof(tr2));
        MG_FUZZ_ASSERT(mg_transform_parse(pool, norm, &tr2, &why2) == 0,
                       "normal form '%s' of '%s' does not parse: %s", norm, s,
                       why2 ? why2 : "(no reason)");
        check_parsed(&tr2);
        MG_FUZZ_ASSERT(tr2.nsteps == tr.nsteps, "step count changed");
        const char *norm2 = mg_transform_normalize(pool, &tr2);
        MG_FUZZ_ASSERT(norm2 != NULL && strcmp(norm, norm2) == 0,
                       "normalize not idempotent: '%s' -> '%s'", norm, norm2 ? norm2 : "(null)");
    } else {
        MG_FUZZ_ASSERT(why != NULL && *why != '\0', "refused without a reason");
    }
    apr_pool_destroy(pool);
    return 0;
}
