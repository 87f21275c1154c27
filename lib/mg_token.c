/* mg_token.c — placeholder until its owner lands it. */
typedef int mg_mg_token_placeholder_t;
