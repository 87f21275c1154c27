/* mgctl_test.c — placeholder. */
typedef int mgctl_test_placeholder_t;
