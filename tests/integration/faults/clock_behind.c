/* clock_behind.c — a fault that test_store_restarts.py preloads into one
 * Apache (LD_PRELOAD): apr_time_now, which httpd and the module read the
 * time with, answers MG_FAULT_CLOCK_BEHIND seconds earlier than the
 * system clock — a server whose clock is behind, without touching the
 * machine's clock or the module's request path. Built by the test with the
 * system compiler. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* RTLD_NEXT */
#endif
#include <dlfcn.h>

#include <apr_time.h>

typedef apr_time_t time_now_fn(void);

apr_time_t apr_time_now(void)
{
    static time_now_fn *real;

    if (real == NULL)
        real = (time_now_fn *)dlsym(RTLD_NEXT, "apr_time_now");
    return real() - apr_time_from_sec(CLOCK_BEHIND);
}
