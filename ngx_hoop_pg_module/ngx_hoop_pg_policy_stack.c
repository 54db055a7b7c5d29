
/*
 * The policy parses statements on a stack of its own.  libpg_query's output
 * functions (and yajl_tree_free) recurse once per level of the parse tree
 * without a depth check, and a left-deep expression such as
 * "SELECT 1*1*1*..." has as many levels as operators: ~65000 of them, a
 * 130 KB statement, overflow a worker's 8 MB stack and crash it.  The
 * policy's stack is reserved once per worker for all servers (address
 * space only, nothing committed up front), is large enough for the longest
 * statement the policy parses, and sits above a guard page; pages a long
 * statement touched are given back afterwards.  Same thread, no blocking:
 * swapcontext() only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ucontext.h>
#include <sys/mman.h>
#include "ngx_hoop_pg_policy_int.h"


/* statements longer than this may have dirtied much of the stack */
#define NGX_HOOP_PG_POLICY_STACK_TRIM  (64 * 1024)
/* what stays mapped after trimming: what ordinary statements use */
#define NGX_HOOP_PG_POLICY_STACK_KEEP  (1024 * 1024)


struct ngx_hoop_pg_policy_stack_s {
    u_char                         *base;
    size_t                          size;
    ucontext_t                      caller;
    ucontext_t                      callee;
    void                          (*fn)(void *arg);
    void                           *arg;
    ngx_uint_t                      running;
};


static void ngx_hoop_pg_policy_stack_cleanup(void *data);
static void ngx_hoop_pg_policy_trampoline(unsigned int hi, unsigned int lo);


/*
 * The stack of this configuration: one for all policies, found in the
 * cycle pool's cleanups by its handler (as ngx_pool_run_cleanup_file()
 * finds files).  Mapped on first use, in the worker.
 */

ngx_hoop_pg_policy_stack_t *
ngx_hoop_pg_policy_stack(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t          *cln;
    ngx_hoop_pg_policy_stack_t  *st;

    for (cln = cf->cycle->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_hoop_pg_policy_stack_cleanup) {
            return cln->data;
        }
    }

    st = ngx_pcalloc(cf->cycle->pool, sizeof(ngx_hoop_pg_policy_stack_t));
    if (st == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->cycle->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    st->size = NGX_HOOP_PG_POLICY_STACK;

    cln->handler = ngx_hoop_pg_policy_stack_cleanup;
    cln->data = st;

    return st;
}


ngx_int_t
ngx_hoop_pg_policy_on_stack(ngx_hoop_pg_policy_stack_t *stack,
    void (*fn)(void *arg), void *arg, size_t depth_hint, ngx_log_t *log)
{
    uintptr_t                             ptr;
    ngx_uint_t                            page;
    /* swapcontext() returns twice: keep st out of registers */
    ngx_hoop_pg_policy_stack_t  *volatile st;

    st = stack;

    if (st->base == NULL) {
        st->base = mmap(NULL, st->size, PROT_READ|PROT_WRITE,
                        MAP_PRIVATE|MAP_ANONYMOUS|MAP_NORESERVE|MAP_STACK,
                        -1, 0);

        if (st->base == MAP_FAILED) {
            st->base = NULL;
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "hoop pg policy: mmap(%uz) of the parser stack "
                          "failed", st->size);
            return NGX_ERROR;
        }

        /* an overflow faults instead of writing over other memory */
        if (mprotect(st->base, ngx_pagesize, PROT_NONE) == -1) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "hoop pg policy: mprotect() of the parser stack's "
                          "guard page failed");
            (void) munmap(st->base, st->size);
            st->base = NULL;
            return NGX_ERROR;
        }
    }

    if (st->running) {
        /* not reentrant: a statement is judged from start to end */
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "hoop pg policy: parser stack already in use");
        return NGX_ERROR;
    }

    if (getcontext(&st->callee) == -1) {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "hoop pg policy: getcontext() failed");
        return NGX_ERROR;
    }

    st->callee.uc_stack.ss_sp = st->base;
    st->callee.uc_stack.ss_size = st->size;
    st->callee.uc_link = &st->caller;
    st->fn = fn;
    st->arg = arg;

    /* makecontext() passes int arguments: the pointer in two halves */
    ptr = (uintptr_t) st;
    makecontext(&st->callee, (void (*)(void)) ngx_hoop_pg_policy_trampoline,
                2, (unsigned int) ((uint64_t) ptr >> 32),
                (unsigned int) (ptr & 0xffffffff));

    st->running = 1;

    if (swapcontext(&st->caller, &st->callee) == -1) {
        st->running = 0;
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "hoop pg policy: swapcontext() failed");
        return NGX_ERROR;
    }

    st->running = 0;

    if (depth_hint > NGX_HOOP_PG_POLICY_STACK_TRIM) {
        page = ngx_pagesize;

        /* the guard page stays; the stack's top (highest addresses) too */
        (void) madvise(st->base + page,
                       st->size - page - NGX_HOOP_PG_POLICY_STACK_KEEP,
                       MADV_DONTNEED);
    }

    return NGX_OK;
}


/* the configuration goes away: so does this process's mapping */

static void
ngx_hoop_pg_policy_stack_cleanup(void *data)
{
    ngx_hoop_pg_policy_stack_t  *st = data;

    if (st->base == NULL || st->running) {
        return;
    }

    (void) munmap(st->base, st->size);
    st->base = NULL;
}


static void
ngx_hoop_pg_policy_trampoline(unsigned int hi, unsigned int lo)
{
    ngx_hoop_pg_policy_stack_t  *st;

    st = (ngx_hoop_pg_policy_stack_t *) (uintptr_t)
             (((uint64_t) hi << 32) | (uint64_t) lo);

    st->fn(st->arg);

    /* returning resumes uc_link: the caller's swapcontext() */
}
