/* mg_transform.c — placeholder until its owner lands it. */
typedef int mg_mg_transform_placeholder_t;
