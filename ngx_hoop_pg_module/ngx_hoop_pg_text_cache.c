
/*
 * Per-worker caches keyed by statement text: the policy's decisions and
 * the audit trail's normalized statements.  A key is a prefix (the policy's
 * role and groups, or none) and a text, both compared whole: a hash
 * collision must never borrow another statement's value.  Least recently
 * used entries are evicted past a count and a byte budget.
 *
 * Also here: the "number key" of a statement, its text with each numeric
 * literal written as 0, under which statements that differ only in numbers
 * share an entry.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_pg_text_cache.h"


typedef struct ngx_hoop_pg_text_entry_s  ngx_hoop_pg_text_entry_t;

struct ngx_hoop_pg_text_entry_s {
    ngx_hoop_pg_text_entry_t    *next;          /* in its bucket */
    ngx_queue_t                  lru;
    uint32_t                     hash;
    size_t                       prefix_len;
    size_t                       key_len;
    size_t                       value_len;
    size_t                       value_size;    /* value_len, aligned */
    size_t                       size;          /* of the whole entry */
    u_char                       data[1];       /* value, prefix, key */
};


struct ngx_hoop_pg_text_cache_s {
    ngx_hoop_pg_text_entry_t   **buckets;
    ngx_uint_t                   nbuckets;
    ngx_queue_t                  lru;           /* most recent first */
    ngx_uint_t                   entries;
    ngx_uint_t                   max_entries;
    size_t                       bytes;
    size_t                       max_bytes;
    size_t                       max_key;
};


static uint32_t ngx_hoop_pg_text_hash(ngx_str_t *prefix, ngx_str_t *key);
static void ngx_hoop_pg_text_evict(ngx_hoop_pg_text_cache_t *c);
static u_char *ngx_hoop_pg_text_quoted_end(u_char *p, u_char *last);
static ngx_uint_t ngx_hoop_pg_text_digit_starts_number(u_char *start,
    u_char *p);


ngx_hoop_pg_text_cache_t *
ngx_hoop_pg_text_cache_create(ngx_uint_t max_entries, size_t max_bytes,
    size_t max_key, ngx_log_t *log)
{
    ngx_hoop_pg_text_cache_t  *c;

    c = ngx_alloc(sizeof(ngx_hoop_pg_text_cache_t), log);
    if (c == NULL) {
        return NULL;
    }

    c->nbuckets = max_entries;
    c->buckets = ngx_calloc(c->nbuckets * sizeof(ngx_hoop_pg_text_entry_t *),
                            log);
    if (c->buckets == NULL) {
        ngx_free(c);
        return NULL;
    }

    ngx_queue_init(&c->lru);
    c->entries = 0;
    c->max_entries = max_entries;
    c->bytes = 0;
    c->max_bytes = max_bytes;
    c->max_key = max_key;

    return c;
}


void
ngx_hoop_pg_text_cache_destroy(ngx_hoop_pg_text_cache_t *c)
{
    while (c->entries) {
        ngx_hoop_pg_text_evict(c);
    }

    ngx_free(c->buckets);
    ngx_free(c);
}


/* the value (its length in *len), or NULL; *hash is for a put after a miss */

void *
ngx_hoop_pg_text_cache_get(ngx_hoop_pg_text_cache_t *c, ngx_str_t *prefix,
    ngx_str_t *key, uint32_t *hash, size_t *len)
{
    size_t                     prefix_len;
    ngx_hoop_pg_text_entry_t  *e;

    if (key->len > c->max_key) {
        return NULL;
    }

    *hash = ngx_hoop_pg_text_hash(prefix, key);
    prefix_len = prefix ? prefix->len : 0;

    for (e = c->buckets[*hash % c->nbuckets]; e; e = e->next) {
        if (e->hash != *hash
            || e->key_len != key->len
            || e->prefix_len != prefix_len
            || ngx_memcmp(e->data + e->value_size + prefix_len, key->data,
                          key->len)
               != 0
            || (prefix_len
                && ngx_memcmp(e->data + e->value_size, prefix->data,
                              prefix_len)
                   != 0))
        {
            continue;
        }

        ngx_queue_remove(&e->lru);
        ngx_queue_insert_head(&c->lru, &e->lru);

        *len = e->value_len;

        return e->data;
    }

    return NULL;
}


/* a copy of value under (prefix, key); the hash is the one get computed */

void
ngx_hoop_pg_text_cache_put(ngx_hoop_pg_text_cache_t *c, uint32_t hash,
    ngx_str_t *prefix, ngx_str_t *key, void *value, size_t len,
    ngx_log_t *log)
{
    size_t                      prefix_len, vlen, size;
    ngx_hoop_pg_text_entry_t   *e, **b;

    if (key->len > c->max_key) {
        return;
    }

    prefix_len = prefix ? prefix->len : 0;

    /* the prefix and the key follow the value, which stays aligned */
    vlen = ngx_align(len, sizeof(void *));
    size = offsetof(ngx_hoop_pg_text_entry_t, data) + vlen + prefix_len
           + key->len;

    if (size > c->max_bytes) {
        return;
    }

    while (c->entries
           && (c->entries >= c->max_entries
               || c->bytes + size > c->max_bytes))
    {
        ngx_hoop_pg_text_evict(c);
    }

    e = ngx_alloc(size, log);
    if (e == NULL) {
        return;
    }

    e->hash = hash;
    e->prefix_len = prefix_len;
    e->key_len = key->len;
    e->value_len = len;
    e->value_size = vlen;
    e->size = size;

    if (len) {
        ngx_memcpy(e->data, value, len);
    }

    if (prefix_len) {
        ngx_memcpy(e->data + vlen, prefix->data, prefix_len);
    }

    ngx_memcpy(e->data + vlen + prefix_len, key->data, key->len);

    b = &c->buckets[hash % c->nbuckets];
    e->next = *b;
    *b = e;

    ngx_queue_insert_head(&c->lru, &e->lru);
    c->entries++;
    c->bytes += size;
}


static uint32_t
ngx_hoop_pg_text_hash(ngx_str_t *prefix, ngx_str_t *key)
{
    uint32_t  h;

    h = ngx_murmur_hash2(key->data, key->len);

    if (prefix && prefix->len) {
        h ^= ngx_murmur_hash2(prefix->data, prefix->len) * 0x9e3779b1;
    }

    return h;
}


static void
ngx_hoop_pg_text_evict(ngx_hoop_pg_text_cache_t *c)
{
    ngx_queue_t                *q;
    ngx_hoop_pg_text_entry_t   *e, **b;

    q = ngx_queue_last(&c->lru);
    e = ngx_queue_data(q, ngx_hoop_pg_text_entry_t, lru);

    for (b = &c->buckets[e->hash % c->nbuckets]; *b != e; b = &(*b)->next) {
        /* void */
    }

    *b = e->next;

    ngx_queue_remove(q);
    c->entries--;
    c->bytes -= e->size;

    ngx_free(e);
}


/*
 * The number key of a statement: its text with every numeric literal
 * written as 0, so "... WHERE aid = 12345" and "... WHERE aid = 678" share
 * one key (strings are kept).  Only for text the simple scan below reads
 * exactly as PostgreSQL's lexer does: no dollar signs (dollar quotes,
 * parameters), no backslashes (E'' escapes), no comments.  NGX_OK when
 * *key was replaced; NGX_DECLINED leaves it as it was.
 */

ngx_int_t
ngx_hoop_pg_number_key(ngx_str_t *key, ngx_pool_t *pool)
{
    u_char      c, *p, *last, *out, *o, *end;
    ngx_uint_t  numbers;

    p = key->data;
    last = p + key->len;
    numbers = 0;

    for ( ; p < last; p++) {
        c = *p;

        if (c == '$' || c == '\\'
            || (c == '-' && p + 1 < last && p[1] == '-')
            || (c == '/' && p + 1 < last && p[1] == '*'))
        {
            return NGX_DECLINED;
        }

        if (c >= '0' && c <= '9') {
            numbers = 1;
        }
    }

    if (!numbers) {
        return NGX_DECLINED;
    }

    out = ngx_pnalloc(pool, key->len);
    if (out == NULL) {
        return NGX_DECLINED;
    }

    o = out;

    for (p = key->data; p < last; p++) {
        c = *p;

        if (c == '\'' || c == '"') {
            end = ngx_hoop_pg_text_quoted_end(p, last);
            o = ngx_cpymem(o, p, end - p);
            p = end - 1;
            continue;
        }

        if (ngx_hoop_pg_text_digit_starts_number(key->data, p)) {
            /* a numeric literal's digits, up to the next non-digit */
            *o++ = '0';

            while (p + 1 < last && p[1] >= '0' && p[1] <= '9') {
                p++;
            }

            continue;
        }

        *o++ = c;
    }

    key->data = out;
    key->len = o - out;

    return NGX_OK;
}


/*
 * 1 if a normalized statement still holds a number the number key would
 * have written as 0 (outside quotes, not a $n parameter): a literal the
 * normalizer keeps (a type modifier, say), so statements sharing the
 * number key may not share this text.
 */

ngx_uint_t
ngx_hoop_pg_numbers_left(u_char *text, size_t len)
{
    u_char  c, *p, *last;

    last = text + len;

    for (p = text; p < last; p++) {
        c = *p;

        if (c == '\'' || c == '"') {
            p = ngx_hoop_pg_text_quoted_end(p, last) - 1;
            continue;
        }

        if (c == '$') {
            /* a parameter: its digits are not a literal */
            while (p + 1 < last && p[1] >= '0' && p[1] <= '9') {
                p++;
            }

            continue;
        }

        if (ngx_hoop_pg_text_digit_starts_number(text, p)) {
            return 1;
        }
    }

    return 0;
}


/* past the end of '...' or "..." starting at p: a doubled quote is inside */

static u_char *
ngx_hoop_pg_text_quoted_end(u_char *p, u_char *last)
{
    u_char  quote;

    quote = *p++;

    while (p < last) {
        if (*p++ == quote) {
            if (p == last || *p != quote) {
                return p;
            }

            p++;
        }
    }

    return last;
}


/* a digit not inside a name or another number */

static ngx_uint_t
ngx_hoop_pg_text_digit_starts_number(u_char *start, u_char *p)
{
    u_char  b;

    if (*p < '0' || *p > '9') {
        return 0;
    }

    if (p == start) {
        return 1;
    }

    b = p[-1];

    return !((b >= '0' && b <= '9')
             || ((b | 0x20) >= 'a' && (b | 0x20) <= 'z')
             || b == '_' || b >= 0x80);
}
