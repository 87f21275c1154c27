/* mgctl_keygen.c — placeholder. */
typedef int mgctl_keygen_placeholder_t;
