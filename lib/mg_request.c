/* mg_request.c — placeholder until its owner lands it. */
typedef int mg_mg_request_placeholder_t;
