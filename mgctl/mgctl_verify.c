/* mgctl_verify.c — placeholder. */
typedef int mgctl_verify_placeholder_t;
