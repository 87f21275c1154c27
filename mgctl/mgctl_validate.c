/* mgctl_validate.c — placeholder. */
typedef int mgctl_validate_placeholder_t;
