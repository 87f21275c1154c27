/* mgctl_util.c — placeholder. */
typedef int mgctl_util_placeholder_t;
