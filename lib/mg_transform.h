/* mg_transform.h — ImageKit-style transformation strings (mg_transform.c):
 * "w-300,h-300:rt-90" = steps separated by ':', parameters by ',', each
 * parameter "key-value" (the first '-' separates; keys are [a-z0-9]+). */
#ifndef MG_TRANSFORM_H
#define MG_TRANSFORM_H

#include <apr_pools.h>

#define MG_TR_MAX_LEN 1024
#define MG_TR_MAX_STEPS 8
#define MG_TR_MAX_PARAMS 32

typedef struct mg_tr_param {
    const char *key;
    const char *value; /* may be "" for flags such as "e-grayscale"? no: "e-grayscale" key e value grayscale */
} mg_tr_param_t;
typedef struct mg_tr_step {
    int nparams;
    mg_tr_param_t *params;
} mg_tr_step_t;
typedef struct mg_tr {
    int nsteps;
    mg_tr_step_t *steps;
} mg_tr_t;

/* Parse; refuses empty keys, duplicate keys within a step, control bytes,
 * over-long input. 0 ok, -1 with *why. */
int mg_transform_parse(apr_pool_t *pool, const char *s, mg_tr_t *out, const char **why);
/* Canonical text: params of each step sorted by key; steps kept in order. */
const char *mg_transform_normalize(apr_pool_t *pool, const mg_tr_t *tr);

#endif
