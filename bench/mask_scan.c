
/*
 * bench/mask_scan.c: the masking engine's detector scan speed, in MB/s on
 * one core.  Links the engine's own objects (as built by `make`) with
 * minimal stand-ins for the few nginx core functions they call; run by
 * bench/mask.sh, which builds it.
 *
 *   mask_scan [MB] [detector]     default 64 MB, all detectors
 *
 * The corpus is generated: lines of words, numbers, dates and ids like
 * database text, with a finding (email, card, SSN, phone, IBAN) in one
 * line of 20.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <time.h>
#include "ngx_hoop_mask.h"


/* ---- stand-ins for nginx core (the harness has no cycle, no pools) ---- */

volatile ngx_cycle_t  *ngx_cycle;


/* a bump allocator reset per value, as a request's pool would be */
static u_char  arena[1 << 20];
static size_t  arena_used;


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    void  *p;

    size = (size + 15) & ~(size_t) 15;

    if (arena_used + size > sizeof(arena)) {
        return malloc(size);
    }

    p = arena + arena_used;
    arena_used += size;

    return p;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *elts;

    if (a->nelts == a->nalloc) {
        elts = ngx_palloc(NULL, 2 * a->nalloc * a->size);
        if (elts == NULL) {
            return NULL;
        }

        memcpy(elts, a->elts, a->nelts * a->size);
        a->elts = elts;
        a->nalloc *= 2;
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


u_char *
ngx_hex_dump(u_char *dst, u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


void
ngx_explicit_memzero(void *buf, size_t n)
{
    memset(buf, 0, n);
}


ngx_str_t *
ngx_hoop_mask_detector_name(ngx_uint_t detector)
{
    static ngx_str_t  names[] = {
        ngx_string("email"), ngx_string("credit_card"), ngx_string("ssn"),
        ngx_string("phone"), ngx_string("iban"), ngx_string("aws_key"),
        ngx_string("jwt"), ngx_string("private_key"), ngx_string("regex"),
        ngx_string("key")
    };

    return &names[detector];
}


ngx_int_t
ngx_regex_exec(ngx_regex_t *re, ngx_str_t *s, int *captures, ngx_uint_t size)
{
    return NGX_REGEX_NO_MATCHED;
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
}


/* ---- the corpus ---- */

static const char  *words[] = {
    "customer", "order", "shipped", "the", "account", "balance", "note",
    "called", "about", "invoice", "status", "pending", "refund", "Berlin",
    "2024-03-15", "v1.2.3", "id", "12345", "ref", "A-1029", "12:30",
    "delivered", "to", "and", "with", "priority", "high", "low", "Q3",
};

static const char  *findings[] = {
    "alice.anders@example.com", "4111 1111 1111 1111", "123-45-6789",
    "+14155550101", "GB82WEST12345698765432", "(555) 123-4567",
};


static size_t
corpus(u_char *buf, size_t size)
{
    size_t       n, len;
    ngx_uint_t   line, w;
    const char  *word;

    n = 0;
    line = 0;
    srand(42);

    while (n + 256 < size) {
        for (w = 0; w < 12; w++) {
            word = (line % 20 == 0 && w == 6)
                   ? findings[(line / 20) % 6]
                   : words[rand() % (sizeof(words) / sizeof(words[0]))];
            len = strlen(word);
            memcpy(buf + n, word, len);
            n += len;
            buf[n++] = ' ';
        }

        buf[n - 1] = '\n';
        line++;
    }

    return n;
}


int
main(int argc, char **argv)
{
    u_char                *buf;
    size_t                 size, len, chunk, off;
    double                 secs, best;
    ngx_str_t              in, out;
    ngx_uint_t             i, rep, found;
    ngx_array_t            rules;
    ngx_pool_t             pool;
    ngx_hoop_mask_rule_t   rule;
    struct timespec        t0, t1;

    size = (argc > 1 ? (size_t) atoi(argv[1]) : 64) * 1024 * 1024;

    ngx_memzero(&rule, sizeof(rule));
    rule.strategy = NGX_HOOP_MASK_REDACT;
    rule.name.data = (u_char *) "bench";
    rule.name.len = 5;

    /* email credit_card ssn phone iban aws_key jwt private_key */
    rule.detectors = 0xff;

    if (argc > 2) {
        for (i = 0; i < NGX_HOOP_MASK_KEY; i++) {
            if (ngx_strcmp(argv[2],
                           ngx_hoop_mask_detector_name(i)->data) == 0)
            {
                rule.detectors = (ngx_uint_t) 1 << i;
            }
        }
    }

    rules.elts = &rule;
    rules.nelts = 1;
    rules.size = sizeof(rule);
    rules.nalloc = 1;

    ngx_memzero(&pool, sizeof(pool));

    buf = malloc(size);
    len = corpus(buf, size);

    /* values of about a database text column: 512 bytes */
    chunk = 512;
    best = 1e9;
    found = 0;

    for (rep = 0; rep < 5; rep++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        found = 0;

        for (off = 0; off < len; off += chunk) {
            in.data = buf + off;
            in.len = ngx_min(chunk, len - off);

            if (ngx_hoop_mask_text(&rules, &in, &pool, &out, &i) == NGX_ERROR)
            {
                return 1;
            }

            found += i;
            arena_used = 0;
        }

        clock_gettime(CLOCK_MONOTONIC, &t1);
        secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        if (secs < best) {
            best = secs;
        }
    }

    printf("scanned %.0f MB in %zu-byte values, %lu findings: best of 5 "
           "%.3f s = %.0f MB/s (one core)\n",
           len / 1048576.0, chunk, (unsigned long) found, best,
           len / 1048576.0 / best);

    return 0;
}
