/* mg_canon.c — placeholder until its owner lands it. */
typedef int mg_mg_canon_placeholder_t;
