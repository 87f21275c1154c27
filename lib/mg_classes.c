/* mg_classes.c — placeholder until its owner lands it. */
typedef int mg_mg_classes_placeholder_t;
