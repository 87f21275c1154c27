/* mgctl_explain.c — placeholder. */
typedef int mgctl_explain_placeholder_t;
