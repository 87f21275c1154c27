/* mg_policy_emit.c — placeholder until its owner lands it. */
typedef int mg_mg_policy_emit_placeholder_t;
