/* main.c — placeholder. */
#include <stdio.h>
int main(void) { fputs("mgctl: not built yet\n", stderr); return 2; }
