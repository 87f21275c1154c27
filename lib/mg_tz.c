/* mg_tz.c — placeholder until its owner lands it. */
typedef int mg_mg_tz_placeholder_t;
