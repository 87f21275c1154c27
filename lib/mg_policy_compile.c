/* mg_policy_compile.c — placeholder until its owner lands it. */
typedef int mg_mg_policy_compile_placeholder_t;
