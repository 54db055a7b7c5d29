
/*
 * Decisions of a policy, cached per worker: key = role profile + statement
 * text (compared whole: a hash collision must not borrow another
 * statement's verdict), least recently used entries evicted past a count
 * and a byte budget.  Verdicts point into the configuration, which outlives
 * the cache.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_pg_policy_int.h"


#define NGX_HOOP_PG_POLICY_CACHE_BUCKETS  4096
#define NGX_HOOP_PG_POLICY_CACHE_ENTRIES  4096
#define NGX_HOOP_PG_POLICY_CACHE_BYTES    (4 * 1024 * 1024)
/* longer statements are parsed each time */
#define NGX_HOOP_PG_POLICY_CACHE_MAX_KEY  (16 * 1024)


typedef struct ngx_hoop_pg_policy_entry_s  ngx_hoop_pg_policy_entry_t;

struct ngx_hoop_pg_policy_entry_s {
    ngx_hoop_pg_policy_entry_t     *next;       /* in its bucket */
    ngx_queue_t                     lru;
    uint32_t                        hash;
    ngx_int_t                       rc;
    ngx_hoop_pg_verdict_t           v;
    size_t                          role_len;
    size_t                          sql_len;
    u_char                          key[1];     /* role, then sql */
};


struct ngx_hoop_pg_policy_cache_s {
    ngx_hoop_pg_policy_entry_t    **buckets;
    ngx_queue_t                     lru;        /* most recent first */
    ngx_uint_t                      entries;
    size_t                          bytes;
};


static uint32_t ngx_hoop_pg_policy_hash(ngx_str_t *role, u_char *sql,
    size_t len);
static void ngx_hoop_pg_policy_evict(ngx_hoop_pg_policy_cache_t *c);


/* NGX_OK / NGX_DECLINED: a cached decision; NGX_AGAIN: not cached */

ngx_int_t
ngx_hoop_pg_policy_cache_get(ngx_hoop_pg_policy_t *p, ngx_str_t *role,
    u_char *sql, size_t len, uint32_t *hash, ngx_hoop_pg_verdict_t *v)
{
    size_t                       role_len;
    ngx_hoop_pg_policy_entry_t  *e;
    ngx_hoop_pg_policy_cache_t  *c;

    c = p->cache;

    if (c == NULL || len > NGX_HOOP_PG_POLICY_CACHE_MAX_KEY) {
        *hash = 0;
        return NGX_AGAIN;
    }

    *hash = ngx_hoop_pg_policy_hash(role, sql, len);
    role_len = role ? role->len : 0;

    for (e = c->buckets[*hash % NGX_HOOP_PG_POLICY_CACHE_BUCKETS];
         e;
         e = e->next)
    {
        if (e->hash != *hash
            || e->sql_len != len
            || e->role_len != role_len
            || ngx_memcmp(e->key + role_len, sql, len) != 0
            || (role_len && ngx_memcmp(e->key, role->data, role_len) != 0))
        {
            continue;
        }

        ngx_queue_remove(&e->lru);
        ngx_queue_insert_head(&c->lru, &e->lru);

        *v = e->v;
        return e->rc;
    }

    return NGX_AGAIN;
}


void
ngx_hoop_pg_policy_cache_put(ngx_hoop_pg_policy_t *p, uint32_t hash,
    ngx_str_t *role, u_char *sql, size_t len, ngx_int_t rc,
    ngx_hoop_pg_verdict_t *v, ngx_log_t *log)
{
    size_t                        role_len, size;
    ngx_hoop_pg_policy_entry_t   *e, **b;
    ngx_hoop_pg_policy_cache_t   *c;

    if (len > NGX_HOOP_PG_POLICY_CACHE_MAX_KEY) {
        return;
    }

    c = p->cache;

    if (c == NULL) {
        /* the first decision of this worker: hash is still to compute */
        c = ngx_alloc(sizeof(ngx_hoop_pg_policy_cache_t), log);
        if (c == NULL) {
            return;
        }

        c->buckets = ngx_calloc(NGX_HOOP_PG_POLICY_CACHE_BUCKETS
                                * sizeof(ngx_hoop_pg_policy_entry_t *), log);
        if (c->buckets == NULL) {
            ngx_free(c);
            return;
        }

        ngx_queue_init(&c->lru);
        c->entries = 0;
        c->bytes = 0;

        p->cache = c;

        hash = ngx_hoop_pg_policy_hash(role, sql, len);
    }

    role_len = role ? role->len : 0;
    size = sizeof(ngx_hoop_pg_policy_entry_t) + role_len + len;

    while (c->entries >= NGX_HOOP_PG_POLICY_CACHE_ENTRIES
           || (c->entries && c->bytes + size > NGX_HOOP_PG_POLICY_CACHE_BYTES))
    {
        ngx_hoop_pg_policy_evict(c);
    }

    e = ngx_alloc(size, log);
    if (e == NULL) {
        return;
    }

    e->hash = hash;
    e->rc = rc;
    e->v = *v;
    e->role_len = role_len;
    e->sql_len = len;

    if (role_len) {
        ngx_memcpy(e->key, role->data, role_len);
    }

    ngx_memcpy(e->key + role_len, sql, len);

    b = &c->buckets[hash % NGX_HOOP_PG_POLICY_CACHE_BUCKETS];
    e->next = *b;
    *b = e;

    ngx_queue_insert_head(&c->lru, &e->lru);
    c->entries++;
    c->bytes += size;
}


void
ngx_hoop_pg_policy_cache_free(ngx_hoop_pg_policy_t *p)
{
    ngx_hoop_pg_policy_cache_t  *c;

    c = p->cache;

    if (c == NULL) {
        return;
    }

    while (c->entries) {
        ngx_hoop_pg_policy_evict(c);
    }

    ngx_free(c->buckets);
    ngx_free(c);

    p->cache = NULL;
}


static uint32_t
ngx_hoop_pg_policy_hash(ngx_str_t *role, u_char *sql, size_t len)
{
    uint32_t  h;

    h = ngx_murmur_hash2(sql, len);

    if (role && role->len) {
        h ^= ngx_murmur_hash2(role->data, role->len) * 0x9e3779b1;
    }

    return h;
}


static void
ngx_hoop_pg_policy_evict(ngx_hoop_pg_policy_cache_t *c)
{
    ngx_queue_t                  *q;
    ngx_hoop_pg_policy_entry_t   *e, **b;

    q = ngx_queue_last(&c->lru);
    e = ngx_queue_data(q, ngx_hoop_pg_policy_entry_t, lru);

    for (b = &c->buckets[e->hash % NGX_HOOP_PG_POLICY_CACHE_BUCKETS];
         *b != e;
         b = &(*b)->next)
    {
        /* void */
    }

    *b = e->next;

    ngx_queue_remove(q);
    c->entries--;
    c->bytes -= sizeof(ngx_hoop_pg_policy_entry_t) + e->role_len
                + e->sql_len;

    ngx_free(e);
}
