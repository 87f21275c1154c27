/* mg_policy_load.c — placeholder until its owner lands it. */
typedef int mg_mg_policy_load_placeholder_t;
