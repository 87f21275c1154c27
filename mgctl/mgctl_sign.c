/* mgctl_sign.c — placeholder. */
typedef int mgctl_sign_placeholder_t;
