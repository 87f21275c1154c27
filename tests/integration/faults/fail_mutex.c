/* fail_mutex.c — a fault that test_once.py preloads into Apache (LD_PRELOAD)
 * to reach MG00610: apr_thread_mutex_create fails for calls made from
 * mod_media_guard.so itself, the per-child lock of a policy's
 * tokens.revocation_file (the module's only other callers, the Redis and
 * memcached stores, are not configured in that test), and works for every
 * other caller: httpd, APR and the other modules run as usual. Nothing else
 * makes that lock fail on Linux (pthread_mutex_init with default attributes
 * does not), so the module's fail-closed path for it is otherwise
 * untestable. Built by the test with the system compiler. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, RTLD_NEXT */
#endif
#include <dlfcn.h>
#include <string.h>

#include <apr_thread_mutex.h>

typedef apr_status_t mutex_create_fn(apr_thread_mutex_t **, unsigned int, apr_pool_t *);

apr_status_t apr_thread_mutex_create(apr_thread_mutex_t **mutex, unsigned int flags,
                                     apr_pool_t *pool)
{
    mutex_create_fn *real;
    Dl_info caller;

    if (dladdr(__builtin_return_address(0), &caller) != 0 && caller.dli_fname != NULL &&
        strstr(caller.dli_fname, "mod_media_guard") != NULL)
        return APR_ENOMEM;
    real = (mutex_create_fn *)dlsym(RTLD_NEXT, "apr_thread_mutex_create");
    return real(mutex, flags, pool);
}
