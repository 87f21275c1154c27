/* mg_asan_pool.c — make AddressSanitizer see inside APR pools.
 *
 * An APR pool hands out pieces of 8 KB blocks, so a write past the end of one
 * pool allocation lands in the next one and ASan, which only guards whole
 * malloc blocks, never notices. Debian's libapr is not built with pool
 * debugging, so for the sanitizer and fuzz builds this file interposes the
 * two allocation entry points (apr_palloc, apr_pvsprintf; apr_pcalloc,
 * apr_pstrdup, apr_psprintf, apr_array_push, ... all call them through the
 * PLT) and gives every allocation its own malloc block, freed when the pool
 * is cleared or destroyed. Overflows, underflows and uses after
 * apr_pool_destroy then become ASan reports.
 *
 * Only pools created after start-up through apr_pool_create_ex are guarded:
 * their tracker is the first cleanup registered and therefore runs last, so
 * other cleanups may still read pool memory as they may with real APR. Other
 * pools (apr's global pool, unmanaged pools) keep the real allocator.
 *
 * Linked only into executables of --enable-sanitizers / --enable-fuzz builds
 * (in a DSO such as the Apache module the interposition would not apply).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>

typedef void *(*palloc_fn)(apr_pool_t *, apr_size_t);
typedef char *(*pvsprintf_fn)(apr_pool_t *, const char *, va_list);
typedef apr_status_t (*create_ex_fn)(apr_pool_t **, apr_pool_t *, apr_abortfunc_t,
                                     apr_allocator_t *);
typedef void (*clear_fn)(apr_pool_t *);

static const char TRACKER_KEY[] = "mg_asan_pool.tracker";

typedef struct tracker {
    void **blocks;
    size_t n, cap;
    struct tracker *prev, *next;
} tracker_t;

/* Every live tracker, so that LeakSanitizer still sees the blocks of pools
 * alive at exit (APR's own blocks may be mmap'ed, which LSan does not scan). */
static tracker_t *live;
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

/* While set, allocations come from the real pool: the tracker's own
 * bookkeeping (userdata hash, cleanup records) must not recurse. */
static _Thread_local int in_shim;

static void *real_sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        fprintf(stderr, "mg_asan_pool: cannot find %s: %s\n", name, dlerror());
        abort();
    }
    return p;
}

static palloc_fn real_palloc(void)
{
    static palloc_fn fn;
    if (fn == NULL)
        fn = (palloc_fn)real_sym("apr_palloc");
    return fn;
}

static apr_status_t tracker_free(void *data)
{
    tracker_t *t = data;
    pthread_mutex_lock(&live_lock);
    if (t->prev)
        t->prev->next = t->next;
    else
        live = t->next;
    if (t->next)
        t->next->prev = t->prev;
    pthread_mutex_unlock(&live_lock);
    for (size_t i = 0; i < t->n; i++)
        free(t->blocks[i]);
    free(t->blocks);
    free(t);
    return APR_SUCCESS;
}

/* MG_ASAN_POOL=0 in the environment turns the shim off (for comparisons). */
static int shim_enabled(void)
{
    static int enabled = -1;
    if (enabled < 0) {
        const char *e = getenv("MG_ASAN_POOL");
        enabled = !(e != NULL && strcmp(e, "0") == 0);
    }
    return enabled;
}

static void tracker_attach(apr_pool_t *pool)
{
    if (!shim_enabled())
        return;
    tracker_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        abort();
    pthread_mutex_lock(&live_lock);
    t->next = live;
    if (live)
        live->prev = t;
    live = t;
    pthread_mutex_unlock(&live_lock);
    in_shim++;
    /* not through apr_pool_userdata_set's cleanup, which APR also registers
     * as the child cleanup: a process forked to exec a CGI (mod_cgid,
     * apr_proc_create) runs child cleanups and then still reads pool memory
     * (the argument and environment arrays) before execve */
    apr_pool_userdata_set(t, TRACKER_KEY, NULL, pool);
    apr_pool_cleanup_register(pool, t, tracker_free, apr_pool_cleanup_null);
    in_shim--;
}

static tracker_t *tracker_of(apr_pool_t *pool)
{
    void *t = NULL;
    in_shim++;
    apr_pool_userdata_get(&t, TRACKER_KEY, pool);
    in_shim--;
    return t;
}

static void *guarded_alloc(tracker_t *t, apr_size_t size)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        void **b = realloc(t->blocks, cap * sizeof(*b));
        if (b == NULL)
            abort();
        t->blocks = b;
        t->cap = cap;
    }
    /* malloc(0) may return NULL; APR never does. */
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        abort();
    t->blocks[t->n++] = p;
    return p;
}

void *apr_palloc(apr_pool_t *pool, apr_size_t size)
{
    if (in_shim)
        return real_palloc()(pool, size);
    tracker_t *t = tracker_of(pool);
    if (t == NULL)
        return real_palloc()(pool, size);
    return guarded_alloc(t, size);
}

char *apr_pvsprintf(apr_pool_t *pool, const char *fmt, va_list ap)
{
    static pvsprintf_fn real;
    if (real == NULL)
        real = (pvsprintf_fn)real_sym("apr_pvsprintf");
    /* APR's formatter (with its %pI, %pm, ... extensions) writes into the
     * pool's current block; copy the result into a guarded block. */
    char *s = real(pool, fmt, ap);
    if (in_shim || s == NULL)
        return s;
    tracker_t *t = tracker_of(pool);
    if (t == NULL)
        return s;
    size_t n = strlen(s) + 1;
    char *g = guarded_alloc(t, n);
    memcpy(g, s, n);
    return g;
}

apr_status_t apr_pool_create_ex(apr_pool_t **newpool, apr_pool_t *parent, apr_abortfunc_t abort_fn,
                                apr_allocator_t *allocator)
{
    static create_ex_fn real;
    if (real == NULL)
        real = (create_ex_fn)real_sym("apr_pool_create_ex");
    apr_status_t rv = real(newpool, parent, abort_fn, allocator);
    if (rv == APR_SUCCESS && !in_shim)
        tracker_attach(*newpool);
    return rv;
}

void apr_pool_clear(apr_pool_t *pool)
{
    static clear_fn real;
    if (real == NULL)
        real = (clear_fn)real_sym("apr_pool_clear");
    int guarded = tracker_of(pool) != NULL;
    real(pool); /* runs the tracker's cleanup last, then forgets userdata */
    if (guarded)
        tracker_attach(pool);
}
