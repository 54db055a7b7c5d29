
/*
 * hoop_pg_mask: the catalog.  Which (table OID, attribute number) each
 * rule's column is, read on the session's own connection at idle points,
 * and the per-worker cache of that answer by upstream and database.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_mask.h"


/*
 * At an idle point (every answer in, the client's next message not yet
 * forwarded): send the catalog query, hold the client until its answer.
 */

ngx_int_t
ngx_hoop_pg_mask_fetch(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms)
{
    ssize_t             n;
    ngx_pool_t         *pool;
    ngx_connection_t   *pc;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pc = s->upstream->peer.connection;

    if (ctx->client_buf->pos != ctx->client_gate.ready) {
        /* client bytes not sent yet: not idle after all, later */
        if (ctx->client_gate.hold) {
            ctx->client_gate.hold = 0;
            ngx_post_event(&ms->release, &ngx_posted_events);
        }

        return NGX_OK;
    }

    pool = ngx_create_pool(4096, s->connection->log);
    if (pool == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    ms->loading = ngx_array_create(pool, 16, sizeof(ngx_hoop_pg_mask_attr_t));
    if (ms->loading == NULL) {
        ngx_destroy_pool(pool);
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    if (ngx_hoop_pg_mask_push(s, ms, 'K') == NULL) {
        return NGX_ERROR;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg mask: reading the catalog");

    /* a few hundred bytes on an idle connection go out at once */
    n = pc->send(pc, ms->conf->catalog.data, ms->conf->catalog.len);

    if (n != (ssize_t) ms->conf->catalog.len) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: could not send the catalog query");
        ngx_hoop_pg_fatal(s, "08006", "the database server connection failed",
                          NGX_STREAM_BAD_GATEWAY);
        return NGX_ERROR;
    }

    ms->fetching = 1;
    ms->stale = 0;
    ctx->client_gate.hold = 1;

    return NGX_OK;
}


/* oid, attnum, schema, table, column, copy position: all text */

ngx_int_t
ngx_hoop_pg_mask_catalog_row(ngx_hoop_pg_mask_t *ms, u_char *msg,
    size_t len)
{
    u_char                   *p, *end;
    size_t                    n;
    ngx_str_t                 v[6];
    ngx_uint_t                i;
    ngx_hoop_pg_mask_attr_t  *a;

    p = msg + 5;
    end = msg + len;

    if (ms->loading == NULL || end - p < 2
        || ngx_hoop_pg_mask_get_i16(p) != 6)
    {
        return NGX_ERROR;
    }

    p += 2;

    for (i = 0; i < 6; i++) {
        if (end - p < 4) {
            return NGX_ERROR;
        }

        n = ngx_hoop_pg_get_u32(p);
        p += 4;

        if (n == 0xffffffff) {
            n = 0;
        }

        if ((size_t) (end - p) < n) {
            return NGX_ERROR;
        }

        v[i].len = n;
        v[i].data = ngx_pnalloc(ms->loading->pool, n + 1);
        if (v[i].data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(v[i].data, p, n);
        v[i].data[n] = '\0';
        p += n;
    }

    if (v[1].len == 1 && v[1].data[0] == '0') {
        /* the last row: the largest relation OID */
        ms->max_oid = (uint32_t) ngx_atoof(v[0].data, v[0].len);
        return NGX_OK;
    }

    a = ngx_array_push(ms->loading);
    if (a == NULL) {
        return NGX_ERROR;
    }

    a->oid = (uint32_t) ngx_atoof(v[0].data, v[0].len);
    a->attnum = ngx_atoi(v[1].data, v[1].len);
    a->schema = v[2];
    a->table = v[3];
    a->column = v[4];
    a->copypos = ngx_atoi(v[5].data, v[5].len);
    a->rule = ngx_hoop_pg_mask_rule_for(ms, &a->schema, &a->table,
                                        &a->column, 0);

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_hoop_pg_mask_attr_cmp(const void *one, const void *two)
{
    const ngx_hoop_pg_mask_attr_t  *a = one, *b = two;

    if (a->oid != b->oid) {
        return a->oid < b->oid ? -1 : 1;
    }

    return (a->attnum > b->attnum) - (a->attnum < b->attnum);
}


void
ngx_hoop_pg_mask_catalog_done(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ms->catalog_pool) {
        ngx_destroy_pool(ms->catalog_pool);
    }

    if (ms->cached) {
        ngx_hoop_pg_mask_cache_unref(ms->cached);
        ms->cached = NULL;
    }

    /* the snapshot keeps the loading pool (names live there) */
    ms->catalog_pool = ms->loading->pool;
    ms->attrs = ms->loading->elts;
    ms->nattrs = ms->loading->nelts;
    ms->loading = NULL;

    ngx_qsort(ms->attrs, ms->nattrs, sizeof(ngx_hoop_pg_mask_attr_t),
              ngx_hoop_pg_mask_attr_cmp);

    ms->loaded = 1;
    ms->fetching = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg mask: catalog: %ui columns, max oid %uD",
                   ms->nattrs, ms->max_oid);

    ngx_hoop_pg_mask_cache_put(s, ms);

    ctx->client_gate.hold = 0;
    ngx_post_event(&ms->release, &ngx_posted_events);
}


/*
 * The worker keeps the last snapshot of each upstream server and
 * database for hoop_pg_mask_catalog_cache: a session starting within that
 * time uses it and sends no catalog query (it still refreshes on a newer
 * table or its own DDL, and the refreshed snapshot replaces the cached
 * one).  The key: the server's address and the database.
 */

static ngx_int_t
ngx_hoop_pg_mask_cache_key(ngx_stream_session_t *s, u_char *buf, size_t size,
    ngx_str_t *key)
{
    ngx_str_t          *db;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    db = ctx->database.len ? &ctx->database : &ctx->user;

    if (s->upstream->peer.name == NULL
        || s->upstream->peer.name->len + 1 + db->len > size)
    {
        return NGX_DECLINED;
    }

    key->data = buf;
    key->len = ngx_sprintf(buf, "%V/%V", s->upstream->peer.name, db) - buf;

    return NGX_OK;
}


ngx_int_t
ngx_hoop_pg_mask_cache_get(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms)
{
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_hoop_pg_mask_attr_t    *a;
    ngx_hoop_pg_mask_conf_t    *mcf;
    ngx_hoop_pg_mask_cached_t  *c;
    u_char                      buf[NGX_SOCKADDR_STRLEN + 1 + 256];

    mcf = ms->conf;

    if (mcf->cache_time == 0 || !mcf->cache_ready
        || ngx_hoop_pg_mask_cache_key(s, buf, sizeof(buf), &key) != NGX_OK)
    {
        return NGX_OK;
    }

    for (q = ngx_queue_head(&mcf->cache);
         q != ngx_queue_sentinel(&mcf->cache);
         q = ngx_queue_next(q))
    {
        c = ngx_queue_data(q, ngx_hoop_pg_mask_cached_t, queue);

        if (c->key.len == key.len
            && ngx_memcmp(c->key.data, key.data, key.len) == 0)
        {
            break;
        }
    }

    if (q == ngx_queue_sentinel(&mcf->cache)
        || ngx_current_msec - c->loaded >= mcf->cache_time)
    {
        return NGX_OK;
    }

    /* the session's own copy: which rule applies depends on the session */
    ms->catalog_pool = ngx_create_pool(1024, s->connection->log);
    if (ms->catalog_pool == NULL) {
        return NGX_ERROR;
    }

    a = ngx_palloc(ms->catalog_pool,
                   (c->nattrs + 1) * sizeof(ngx_hoop_pg_mask_attr_t));
    if (a == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < c->nattrs; i++) {
        a[i] = c->attrs[i];
        a[i].rule = ngx_hoop_pg_mask_rule_for(ms, &a[i].schema, &a[i].table,
                                              &a[i].column, 0);
    }

    c->refs++;
    ms->cached = c;
    ms->attrs = a;
    ms->nattrs = c->nattrs;
    ms->max_oid = c->max_oid;
    ms->loaded = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg mask: catalog of \"%V\" from the cache, "
                   "%ui columns", &key, c->nattrs);

    return NGX_OK;
}


void
ngx_hoop_pg_mask_cache_put(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms)
{
    u_char                     *p;
    size_t                      size;
    ngx_str_t                   key;
    ngx_uint_t                  i;
    ngx_queue_t                *q;
    ngx_hoop_pg_mask_attr_t    *a;
    ngx_hoop_pg_mask_conf_t    *mcf;
    ngx_hoop_pg_mask_cached_t  *c, *old;
    u_char                      buf[NGX_SOCKADDR_STRLEN + 1 + 256];

    mcf = ms->conf;

    if (mcf->cache_time == 0
        || ngx_hoop_pg_mask_cache_key(s, buf, sizeof(buf), &key) != NGX_OK)
    {
        return;
    }

    if (!mcf->cache_ready) {
        ngx_queue_init(&mcf->cache);
        mcf->cache_ready = 1;
    }

    size = sizeof(ngx_hoop_pg_mask_cached_t) + key.len
           + ms->nattrs * sizeof(ngx_hoop_pg_mask_attr_t);

    for (i = 0; i < ms->nattrs; i++) {
        size += ms->attrs[i].schema.len + ms->attrs[i].table.len
                + ms->attrs[i].column.len;
    }

    c = ngx_alloc(size, s->connection->log);
    if (c == NULL) {
        /* no cache this time: nothing else depends on it */
        return;
    }

    a = (ngx_hoop_pg_mask_attr_t *) (c + 1);
    p = (u_char *) (a + ms->nattrs);

    c->refs = 1;
    c->loaded = ngx_current_msec;
    c->max_oid = ms->max_oid;
    c->nattrs = ms->nattrs;
    c->attrs = a;

    c->key.data = p;
    c->key.len = key.len;
    p = ngx_cpymem(p, key.data, key.len);

    for (i = 0; i < ms->nattrs; i++) {
        a[i] = ms->attrs[i];

        a[i].schema.data = p;
        p = ngx_cpymem(p, ms->attrs[i].schema.data, a[i].schema.len);
        a[i].table.data = p;
        p = ngx_cpymem(p, ms->attrs[i].table.data, a[i].table.len);
        a[i].column.data = p;
        p = ngx_cpymem(p, ms->attrs[i].column.data, a[i].column.len);
    }

    /* replace the entry of the same key; keep at most 64 */
    for (q = ngx_queue_head(&mcf->cache);
         q != ngx_queue_sentinel(&mcf->cache);
         q = ngx_queue_next(q))
    {
        old = ngx_queue_data(q, ngx_hoop_pg_mask_cached_t, queue);

        if (old->key.len == key.len
            && ngx_memcmp(old->key.data, key.data, key.len) == 0)
        {
            ngx_queue_remove(q);
            mcf->ncached--;
            ngx_hoop_pg_mask_cache_unref(old);
            break;
        }
    }

    if (mcf->ncached >= 64) {
        q = ngx_queue_last(&mcf->cache);
        ngx_queue_remove(q);
        mcf->ncached--;
        ngx_hoop_pg_mask_cache_unref(
                   ngx_queue_data(q, ngx_hoop_pg_mask_cached_t, queue));
    }

    ngx_queue_insert_head(&mcf->cache, &c->queue);
    mcf->ncached++;
}


/*
 * The snapshot is out of date: read it again at the next idle point, and
 * let no new session of the worker start from the cached copy.
 */

void
ngx_hoop_pg_mask_stale(ngx_hoop_pg_mask_t *ms)
{
    ngx_str_t                   key;
    ngx_queue_t                *q;
    ngx_hoop_pg_mask_conf_t    *mcf;
    ngx_hoop_pg_mask_cached_t  *c;
    u_char                      buf[NGX_SOCKADDR_STRLEN + 1 + 256];

    if (ms->stale) {
        return;
    }

    ms->stale = 1;
    mcf = ms->conf;

    if (!mcf->cache_ready
        || ngx_hoop_pg_mask_cache_key(ms->session, buf, sizeof(buf), &key)
           != NGX_OK)
    {
        return;
    }

    for (q = ngx_queue_head(&mcf->cache);
         q != ngx_queue_sentinel(&mcf->cache);
         q = ngx_queue_next(q))
    {
        c = ngx_queue_data(q, ngx_hoop_pg_mask_cached_t, queue);

        if (c->key.len == key.len
            && ngx_memcmp(c->key.data, key.data, key.len) == 0)
        {
            ngx_queue_remove(q);
            mcf->ncached--;
            ngx_hoop_pg_mask_cache_unref(c);
            return;
        }
    }
}


void
ngx_hoop_pg_mask_cache_unref(ngx_hoop_pg_mask_cached_t *c)
{
    if (--c->refs == 0) {
        ngx_free(c);
    }
}
