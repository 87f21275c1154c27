/* mg_ip.c — placeholder until its owner lands it. */
typedef int mg_mg_ip_placeholder_t;
