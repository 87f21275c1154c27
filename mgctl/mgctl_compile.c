/* mgctl_compile.c — placeholder. */
typedef int mgctl_compile_placeholder_t;
