/* mg_time.c — placeholder until its owner lands it. */
typedef int mg_mg_time_placeholder_t;
