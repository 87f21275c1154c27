/* mg_names.c — placeholder until its owner lands it. */
typedef int mg_mg_names_placeholder_t;
