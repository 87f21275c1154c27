/* mg_transform.h — ImageKit-style transformation strings (mg_transform.c):
 * "w-300,h-300:rt-90" = steps separated by ':', parameters by ',', each
 * parameter "key-value" (the first '-' separates; keys are [a-z0-9]+, values
 * non-empty from [A-Za-z0-9-._~!$()*+=@]). Full grammar and limits:
 * docs/canonical-urls.md, "Transformation strings". */
#ifndef MG_TRANSFORM_H
#define MG_TRANSFORM_H

#include <apr_pools.h>

#define MG_TR_MAX_LEN 1024
#define MG_TR_MAX_STEPS 8
#define MG_TR_MAX_PARAMS 32 /* in total, over all steps */

typedef struct mg_tr_param {
    const char *key;
    const char *value; /* never empty: "e-grayscale" is key "e", value "grayscale" */
} mg_tr_param_t;
typedef struct mg_tr_step {
    int nparams;
    mg_tr_param_t *params;
} mg_tr_step_t;
typedef struct mg_tr {
    int nsteps;
    mg_tr_step_t *steps;
} mg_tr_t;

/* Parse; refuses empty steps, parameters, keys or values, duplicate keys
 * within a step, characters outside the grammar, more than MG_TR_MAX_STEPS
 * steps, MG_TR_MAX_PARAMS parameters or MG_TR_MAX_LEN bytes. Parameters keep
 * their order. 0 ok (out filled, strings from `pool`), -1 with *why (out
 * emptied). */
int mg_transform_parse(apr_pool_t *pool, const char *s, mg_tr_t *out, const char **why);
/* Canonical text: params of each step sorted by key (strcmp); steps kept in
 * order; joined with ',' and ':'. NULL for an empty or invalid mg_tr_t. */
const char *mg_transform_normalize(apr_pool_t *pool, const mg_tr_t *tr);

#endif
