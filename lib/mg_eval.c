/* mg_eval.c — placeholder until its owner lands it. */
typedef int mg_mg_eval_placeholder_t;
