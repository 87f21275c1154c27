/* mg_keys.c — placeholder until its owner lands it. */
typedef int mg_mg_keys_placeholder_t;
