
/*
 * ngx_hoop_auth_cache.c: verified tokens in shared memory, so that a token
 * seen before by any worker costs a lookup instead of a signature check.
 *
 * An entry is keyed by SHA-256(salt, provider name, SHA-256(token)); the
 * salt is new at every configuration load, so entries made under another
 * configuration (other issuer, audiences, claims) are never returned, even
 * when nginx reuses the zone across a reload.  An entry is valid while
 * the token has not expired and only for the JWKS version it was verified
 * against: a key rotation re-verifies.  Bounded by the zone size, oldest
 * entries go first (LRU); entries larger than a cap are not stored.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/rand.h>
#include "ngx_hoop_oidc.h"


#define NGX_HOOP_AUTH_CACHE_MAX_ENTRY  16384   /* identity bytes */
#define NGX_HOOP_AUTH_CACHE_EVICT      16      /* per failed allocation */


typedef struct {
    ngx_rbtree_t                  rbtree;
    ngx_rbtree_node_t             sentinel;
    ngx_queue_t                   queue;      /* most recently used first */
} ngx_hoop_auth_cache_sh_t;


struct ngx_hoop_auth_cache_s {
    ngx_shm_zone_t               *zone;
    ngx_slab_pool_t              *shpool;
    ngx_hoop_auth_cache_sh_t     *sh;
    u_char                        salt[16];
};


/*
 * data: subject, user, email, claims, each NUL-terminated, then the
 * groups, each as a 4-byte length (unaligned) and the NUL-terminated name.
 */

typedef struct {
    ngx_rbtree_node_t             node;
    ngx_queue_t                   queue;
    u_char                        key[NGX_HOOP_AUTH_CACHE_KEY_LEN];
    ngx_uint_t                    version;
    time_t                        expires;
    uint32_t                      subject;
    uint32_t                      user;
    uint32_t                      email;
    uint32_t                      claims;
    uint32_t                      ngroups;
    uint32_t                      len;
    u_char                        data[1];
} ngx_hoop_auth_cache_node_t;


static ngx_int_t ngx_hoop_auth_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_hoop_auth_cache_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_hoop_auth_cache_node_t *ngx_hoop_auth_cache_find(
    ngx_hoop_auth_cache_t *cache, u_char *key);
static void ngx_hoop_auth_cache_delete(ngx_hoop_auth_cache_t *cache,
    ngx_hoop_auth_cache_node_t *cn);
static void ngx_hoop_auth_cache_expire(ngx_hoop_auth_cache_t *cache,
    ngx_uint_t n, ngx_uint_t force);
static u_char *ngx_hoop_auth_cache_cpy(u_char *p, ngx_str_t *s);


ngx_hoop_auth_cache_t *
ngx_hoop_auth_cache_conf(ngx_conf_t *cf)
{
    ngx_str_t               name = ngx_string("hoop_auth_cache");
    ngx_hoop_auth_cache_t  *cache;

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_auth_cache_t));
    if (cache == NULL) {
        return NULL;
    }

    if (RAND_bytes(cache->salt, sizeof(cache->salt)) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "RAND_bytes() failed");
        return NULL;
    }

    /* the size is set by ngx_hoop_auth_cache_size() once it is known */

    cache->zone = ngx_shared_memory_add(cf, &name, 0, &ngx_hoop_auth_module);
    if (cache->zone == NULL) {
        return NULL;
    }

    if (cache->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared memory zone \"%V\" is already in use",
                           &name);
        return NULL;
    }

    cache->zone->init = ngx_hoop_auth_cache_init_zone;
    cache->zone->data = cache;

    return cache;
}


void
ngx_hoop_auth_cache_size(ngx_hoop_auth_cache_t *cache, size_t size)
{
    cache->zone->shm.size = size;
}


static ngx_int_t
ngx_hoop_auth_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_hoop_auth_cache_t  *ocache = data;

    size_t                  len;
    ngx_hoop_auth_cache_t  *cache;

    cache = shm_zone->data;

    if (ocache) {
        /* a reload: the entries stay, the new salt hides them */
        cache->sh = ocache->sh;
        cache->shpool = ocache->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool,
                               sizeof(ngx_hoop_auth_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    ngx_hoop_auth_cache_insert);
    ngx_queue_init(&cache->sh->queue);

    len = sizeof(" in hoop auth cache \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in hoop auth cache \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is normal: the oldest entries make room */
    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


void
ngx_hoop_auth_cache_key(ngx_hoop_auth_cache_t *cache,
    ngx_hoop_oidc_t *provider, u_char *token_hash, u_char *key)
{
    ngx_str_t  parts[4];

    parts[0].data = cache->salt;
    parts[0].len = sizeof(cache->salt);
    parts[1] = provider->name;
    parts[2].data = (u_char *) "";        /* the name's terminating zero */
    parts[2].len = 1;
    parts[3].data = token_hash;
    parts[3].len = 32;

    if (ngx_hoop_oidc_sha256(provider, parts, 4, key) != NGX_OK) {
        /* a key nobody stores under: a miss, never a wrong hit */
        RAND_bytes(key, NGX_HOOP_AUTH_CACHE_KEY_LEN);
    }
}


ngx_int_t
ngx_hoop_auth_cache_get(ngx_hoop_auth_cache_t *cache, u_char *key,
    ngx_uint_t version, ngx_pool_t *pool, ngx_hoop_identity_t *id)
{
    u_char                      *p, *last;
    uint32_t                     n, i, len;
    ngx_str_t                   *g;
    ngx_hoop_auth_cache_node_t  *cn;

    if (cache->sh == NULL) {
        return NGX_DECLINED;
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    cn = ngx_hoop_auth_cache_find(cache, key);

    if (cn == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    if (cn->expires <= ngx_time()) {
        ngx_hoop_auth_cache_delete(cache, cn);
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    if (cn->version != version) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(pool, cn->len);
    if (p == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_ERROR;
    }

    ngx_memcpy(p, cn->data, cn->len);
    last = p + cn->len;

    id->expires = cn->expires;
    id->subject.len = cn->subject;
    id->user.len = cn->user;
    id->email.len = cn->email;
    id->claims.len = cn->claims;
    n = cn->ngroups;

    ngx_queue_remove(&cn->queue);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    id->subject.data = p;
    p += id->subject.len + 1;
    id->user.data = p;
    p += id->user.len + 1;
    id->email.data = p;
    p += id->email.len + 1;
    id->claims.data = p;
    p += id->claims.len + 1;

    id->groups = ngx_array_create(pool, n ? n : 1, sizeof(ngx_str_t));
    if (id->groups == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (p + sizeof(uint32_t) > last) {
            return NGX_ERROR;
        }

        ngx_memcpy(&len, p, sizeof(uint32_t));
        p += sizeof(uint32_t);

        if (p + len + 1 > last) {
            return NGX_ERROR;
        }

        g = ngx_array_push(id->groups);
        g->data = p;
        g->len = len;
        p += len + 1;
    }

    return NGX_OK;
}


void
ngx_hoop_auth_cache_put(ngx_hoop_auth_cache_t *cache, u_char *key,
    ngx_uint_t version, ngx_hoop_identity_t *id, ngx_log_t *log)
{
    u_char                      *p;
    size_t                       size;
    uint32_t                     len;
    ngx_str_t                   *g;
    ngx_uint_t                   i, n;
    ngx_hoop_auth_cache_node_t  *cn;

    if (cache->sh == NULL || id->expires <= ngx_time()) {
        return;
    }

    n = id->groups ? id->groups->nelts : 0;
    g = n ? id->groups->elts : NULL;

    size = id->subject.len + id->user.len + id->email.len + id->claims.len
           + 4;

    for (i = 0; i < n; i++) {
        size += sizeof(uint32_t) + g[i].len + 1;
    }

    if (size > NGX_HOOP_AUTH_CACHE_MAX_ENTRY) {
        ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                       "hoop auth: token %s not cached: %uz bytes",
                       id->token_id, size);
        return;
    }

    ngx_shmtx_lock(&cache->shpool->mutex);

    ngx_hoop_auth_cache_expire(cache, 2, 0);

    cn = ngx_hoop_auth_cache_find(cache, key);

    if (cn) {
        /* verified again under another JWKS version: replace */
        ngx_hoop_auth_cache_delete(cache, cn);
    }

    size += offsetof(ngx_hoop_auth_cache_node_t, data);

    cn = ngx_slab_alloc_locked(cache->shpool, size);

    if (cn == NULL) {
        ngx_hoop_auth_cache_expire(cache, NGX_HOOP_AUTH_CACHE_EVICT, 1);

        cn = ngx_slab_alloc_locked(cache->shpool, size);

        if (cn == NULL) {
            ngx_shmtx_unlock(&cache->shpool->mutex);
            ngx_log_debug1(NGX_LOG_DEBUG_CORE, log, 0,
                           "hoop auth: token %s not cached: zone full",
                           id->token_id);
            return;
        }
    }

    ngx_memcpy(cn->key, key, NGX_HOOP_AUTH_CACHE_KEY_LEN);
    ngx_memcpy(&cn->node.key, key, sizeof(ngx_rbtree_key_t));

    cn->version = version;
    cn->expires = id->expires;
    cn->subject = id->subject.len;
    cn->user = id->user.len;
    cn->email = id->email.len;
    cn->claims = id->claims.len;
    cn->ngroups = n;
    cn->len = size - offsetof(ngx_hoop_auth_cache_node_t, data);

    p = cn->data;
    p = ngx_hoop_auth_cache_cpy(p, &id->subject);
    p = ngx_hoop_auth_cache_cpy(p, &id->user);
    p = ngx_hoop_auth_cache_cpy(p, &id->email);
    p = ngx_hoop_auth_cache_cpy(p, &id->claims);

    for (i = 0; i < n; i++) {
        len = g[i].len;
        p = ngx_cpymem(p, &len, sizeof(uint32_t));
        p = ngx_hoop_auth_cache_cpy(p, &g[i]);
    }

    ngx_rbtree_insert(&cache->sh->rbtree, &cn->node);
    ngx_queue_insert_head(&cache->sh->queue, &cn->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop auth: token %s cached until %T",
                   id->token_id, id->expires);
}


static u_char *
ngx_hoop_auth_cache_cpy(u_char *p, ngx_str_t *s)
{
    p = ngx_cpymem(p, s->data, s->len);
    *p++ = '\0';

    return p;
}


static ngx_hoop_auth_cache_node_t *
ngx_hoop_auth_cache_find(ngx_hoop_auth_cache_t *cache, u_char *key)
{
    ngx_int_t                    rc;
    ngx_rbtree_key_t             hash;
    ngx_rbtree_node_t           *node, *sentinel;
    ngx_hoop_auth_cache_node_t  *cn;

    ngx_memcpy(&hash, key, sizeof(ngx_rbtree_key_t));

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        cn = (ngx_hoop_auth_cache_node_t *) node;

        rc = ngx_memcmp(key, cn->key, NGX_HOOP_AUTH_CACHE_KEY_LEN);

        if (rc == 0) {
            return cn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_hoop_auth_cache_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t           **p;
    ngx_hoop_auth_cache_node_t   *cn, *cnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            cn = (ngx_hoop_auth_cache_node_t *) node;
            cnt = (ngx_hoop_auth_cache_node_t *) temp;

            p = (ngx_memcmp(cn->key, cnt->key, NGX_HOOP_AUTH_CACHE_KEY_LEN)
                 < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static void
ngx_hoop_auth_cache_delete(ngx_hoop_auth_cache_t *cache,
    ngx_hoop_auth_cache_node_t *cn)
{
    ngx_queue_remove(&cn->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, &cn->node);
    ngx_slab_free_locked(cache->shpool, cn);
}


/* from the least recently used end: expired entries, or (force) any */

static void
ngx_hoop_auth_cache_expire(ngx_hoop_auth_cache_t *cache, ngx_uint_t n,
    ngx_uint_t force)
{
    time_t                       now;
    ngx_queue_t                 *q;
    ngx_hoop_auth_cache_node_t  *cn;

    now = ngx_time();

    while (n-- && !ngx_queue_empty(&cache->sh->queue)) {

        q = ngx_queue_last(&cache->sh->queue);
        cn = ngx_queue_data(q, ngx_hoop_auth_cache_node_t, queue);

        if (!force && cn->expires > now) {
            return;
        }

        ngx_hoop_auth_cache_delete(cache, cn);
    }
}
