
/*
 * Cancel requests.  Clients get BackendKeyData with a secret key made up by
 * the gateway; the mapping to the server's real key lives in shared memory, because libpq
 * sends a CancelRequest on a new connection that may land on any worker.
 * A cancel is forwarded only while the session runs a query, so a late
 * cancel cannot hit the next statement (the race PgBouncer PR #717 fixed).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include <openssl/rand.h>
#include "ngx_hoop_pg.h"


typedef struct {
    ngx_rbtree_node_t        node;          /* key: our pid << 32 | key */
    uint32_t                 real_pid;
    uint32_t                 real_key;
    ngx_atomic_t             busy;
    ngx_atomic_t             held;          /* a statement awaits review */
    ngx_atomic_t             cancelled;     /* ... and the client gave up */
    socklen_t                socklen;
    u_char                   sockaddr[NGX_SOCKADDRLEN];
} ngx_hoop_pg_cancel_node_t;


typedef struct {
    ngx_rbtree_t             rbtree;
    ngx_rbtree_node_t        sentinel;
} ngx_hoop_pg_cancel_sh_t;


typedef struct {
    ngx_hoop_pg_cancel_sh_t  *sh;
    ngx_slab_pool_t          *shpool;
} ngx_hoop_pg_cancel_zone_t;


typedef struct {
    ngx_stream_session_t     *session;
    ngx_peer_connection_t     peer;
    ngx_str_t                 name;
    u_char                    packet[16];
} ngx_hoop_pg_cancel_ctx_t;


static ngx_int_t ngx_hoop_pg_cancel_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_hoop_pg_cancel_zone_t *ngx_hoop_pg_cancel_zone(
    ngx_stream_session_t *s);
static ngx_hoop_pg_cancel_node_t *ngx_hoop_pg_cancel_lookup(
    ngx_hoop_pg_cancel_zone_t *zone, ngx_rbtree_key_t key);
static void ngx_hoop_pg_cancel_unregister(void *data);
static void ngx_hoop_pg_cancel_send(ngx_event_t *ev);


ngx_int_t
ngx_hoop_pg_cancel_init_zone(ngx_conf_t *cf)
{
    ngx_hoop_pg_cancel_zone_t  *zone;
    ngx_hoop_pg_main_conf_t    *pmcf;

    static ngx_str_t  name = ngx_string("hoop_pg_cancel");

    pmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_hoop_pg_module);

    if (pmcf->cancel_zone) {
        return NGX_OK;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_pg_cancel_zone_t));
    if (zone == NULL) {
        return NGX_ERROR;
    }

    pmcf->cancel_zone = ngx_shared_memory_add(cf, &name,
                                              pmcf->cancel_zone_size,
                                              &ngx_hoop_pg_module);
    if (pmcf->cancel_zone == NULL) {
        return NGX_ERROR;
    }

    pmcf->cancel_zone->init = ngx_hoop_pg_cancel_zone_init;
    pmcf->cancel_zone->data = zone;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_pg_cancel_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_hoop_pg_cancel_zone_t  *ozone = data;

    ngx_hoop_pg_cancel_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* reload: keep the running sessions' keys */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_hoop_pg_cancel_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_rbtree_insert_value);

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


static ngx_hoop_pg_cancel_zone_t *
ngx_hoop_pg_cancel_zone(ngx_stream_session_t *s)
{
    ngx_hoop_pg_main_conf_t  *pmcf;

    pmcf = ngx_stream_get_module_main_conf(s, ngx_hoop_pg_module);

    return pmcf->cancel_zone ? pmcf->cancel_zone->data : NULL;
}


/*
 * The server's BackendKeyData body (pid, key) at key: remember it and put
 * a fresh random pair of ours in its place.
 */

ngx_int_t
ngx_hoop_pg_cancel_register(ngx_stream_session_t *s, u_char *key)
{
    u_char                      rnd[4];
    uint32_t                    pid, secret;
    ngx_uint_t                  tries;
    ngx_rbtree_key_t            k;
    ngx_pool_cleanup_t         *cln;
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_stream_upstream_t      *u;
    ngx_hoop_pg_cancel_node_t  *node;
    ngx_hoop_pg_cancel_zone_t  *zone;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    zone = ngx_hoop_pg_cancel_zone(s);
    u = s->upstream;

    if (zone == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(s->connection->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_slab_alloc_locked(zone->shpool,
                                 sizeof(ngx_hoop_pg_cancel_node_t));
    if (node == NULL) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: cancel zone is full "
                      "(hoop_pg_cancel_zone_size)");
        return NGX_ERROR;
    }

    for (tries = 0; ; tries++) {
        if (RAND_bytes(rnd, sizeof(rnd)) != 1 || tries == 16) {
            ngx_slab_free_locked(zone->shpool, node);
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_ERROR;
        }

        /*
         * The pid stays the server's: it is no secret (pg_backend_pid()
         * returns it) and clients compare it with the pid in NOTIFY
         * messages.  The secret key is ours.
         */
        pid = ngx_hoop_pg_get_u32(key);
        secret = ngx_hoop_pg_get_u32(rnd);

        k = ((ngx_rbtree_key_t) pid << 32) | secret;

        if (ngx_hoop_pg_cancel_lookup(zone, k) == NULL) {
            break;
        }
    }

    node->node.key = k;
    node->real_pid = ngx_hoop_pg_get_u32(key);
    node->real_key = ngx_hoop_pg_get_u32(key + 4);
    node->busy = 0;
    node->held = 0;
    node->cancelled = 0;
    node->socklen = ngx_min(u->peer.socklen, (socklen_t) NGX_SOCKADDRLEN);
    ngx_memcpy(node->sockaddr, u->peer.sockaddr, node->socklen);

    ngx_rbtree_insert(&zone->sh->rbtree, &node->node);

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->cancel = node;

    cln->handler = ngx_hoop_pg_cancel_unregister;
    cln->data = s;

    (void) ngx_hoop_pg_put_u32(key, pid);
    (void) ngx_hoop_pg_put_u32(key + 4, secret);

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg: backend key of pid %uD replaced", pid);

    return NGX_OK;
}


static void
ngx_hoop_pg_cancel_unregister(void *data)
{
    ngx_stream_session_t *s = data;

    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_cancel_zone_t  *zone;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    zone = ngx_hoop_pg_cancel_zone(s);

    if (ctx == NULL || ctx->cancel == NULL || zone == NULL) {
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);
    ngx_rbtree_delete(&zone->sh->rbtree, ctx->cancel);
    ngx_slab_free_locked(zone->shpool, ctx->cancel);
    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->cancel = NULL;
}


/*
 * A statement of the session is held for review (ngx_hoop_pg_review.c):
 * its cancel is not for the server (nothing runs there) but for the
 * review.  The worker holding it polls ngx_hoop_pg_cancel_taken(): the
 * CancelRequest may arrive in any worker.
 */

void
ngx_hoop_pg_cancel_hold(ngx_stream_session_t *s, ngx_uint_t held)
{
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_cancel_node_t  *node;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    node = ctx->cancel;

    if (node) {
        node->cancelled = 0;
        node->held = held;
    }
}


ngx_uint_t
ngx_hoop_pg_cancel_taken(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_cancel_node_t  *node;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    node = ctx->cancel;

    return node && node->held && node->cancelled;
}


/* a query started (busy) or the server said ReadyForQuery */

void
ngx_hoop_pg_cancel_busy(ngx_stream_session_t *s, ngx_uint_t busy)
{
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_cancel_node_t  *node;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    node = ctx->cancel;

    if (node) {
        /* a word store: readers in other workers see 0 or 1 */
        node->busy = busy;
    }
}


static ngx_hoop_pg_cancel_node_t *
ngx_hoop_pg_cancel_lookup(ngx_hoop_pg_cancel_zone_t *zone,
    ngx_rbtree_key_t key)
{
    ngx_rbtree_node_t  *node, *sentinel;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {
        if (key < node->key) {
            node = node->left;

        } else if (key > node->key) {
            node = node->right;

        } else {
            return (ngx_hoop_pg_cancel_node_t *) node;
        }
    }

    return NULL;
}


/*
 * A CancelRequest (16 bytes at packet) for a session of ours: forward it
 * with the real key to the server that session is on, if it runs a query.
 * PostgreSQL answers a cancel with nothing; so do we.
 */

void
ngx_hoop_pg_cancel_request(ngx_stream_session_t *s, u_char *packet)
{
    ngx_int_t                   rc;
    ngx_uint_t                  busy;
    ngx_rbtree_key_t            key;
    ngx_connection_t           *c, *pc;
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_cancel_ctx_t   *cctx;
    ngx_hoop_pg_cancel_node_t  *node;
    ngx_hoop_pg_cancel_zone_t  *zone;
    ngx_hoop_pg_srv_conf_t     *pscf;

    c = s->connection;
    zone = ngx_hoop_pg_cancel_zone(s);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    cctx = ngx_pcalloc(c->pool, sizeof(ngx_hoop_pg_cancel_ctx_t));
    if (zone == NULL || cctx == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    key = ((ngx_rbtree_key_t) ngx_hoop_pg_get_u32(packet + 8) << 32)
          | ngx_hoop_pg_get_u32(packet + 12);

    busy = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    node = ngx_hoop_pg_cancel_lookup(zone, key);

    if (node && node->held) {
        /* for the review of a held statement: nothing to forward */
        node->cancelled = 1;
        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: cancel request for a statement held for "
                      "review");
        ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
        return;
    }

    if (node) {
        busy = node->busy;

        cctx->peer.socklen = node->socklen;
        cctx->peer.sockaddr = ngx_palloc(c->pool, node->socklen);

        if (cctx->peer.sockaddr) {
            ngx_memcpy(cctx->peer.sockaddr, node->sockaddr, node->socklen);
        }

        ngx_memcpy(cctx->packet, packet, 8);
        (void) ngx_hoop_pg_put_u32(cctx->packet + 8, node->real_pid);
        (void) ngx_hoop_pg_put_u32(cctx->packet + 12, node->real_key);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (node == NULL || !busy) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: cancel request for %s dropped",
                      node ? "an idle session" : "an unknown session");
        ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
        return;
    }

    if (cctx->peer.sockaddr == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_str_set(&cctx->name, "cancel target");
    cctx->session = s;
    cctx->peer.name = &cctx->name;
    cctx->peer.get = ngx_event_get_peer;
    cctx->peer.log = c->log;
    cctx->peer.log_error = NGX_ERROR_ERR;
    cctx->peer.type = SOCK_STREAM;

    rc = ngx_event_connect_peer(&cctx->peer);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "hoop pg: cannot connect to forward a cancel request");
        if (cctx->peer.connection) {
            ngx_close_connection(cctx->peer.connection);
        }

        ngx_hoop_pg_finalize(s, NGX_STREAM_BAD_GATEWAY);
        return;
    }

    pc = cctx->peer.connection;
    pc->data = cctx;
    pc->log = c->log;
    pc->pool = c->pool;
    pc->read->log = c->log;
    pc->write->log = c->log;
    pc->read->handler = ngx_hoop_pg_cancel_send;
    pc->write->handler = ngx_hoop_pg_cancel_send;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ctx->cancel_peer = pc;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(pc->write, pscf->connect_timeout);
        return;
    }

    ngx_hoop_pg_cancel_send(pc->write);
}


static void
ngx_hoop_pg_cancel_send(ngx_event_t *ev)
{
    int                        err;
    socklen_t                  len;
    ngx_connection_t          *pc;
    ngx_hoop_pg_cancel_ctx_t  *cctx;

    pc = ev->data;
    cctx = pc->data;

    if (!ev->write) {
        return;
    }

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_ERR, pc->log, NGX_ETIMEDOUT,
                      "hoop pg: timed out forwarding a cancel request");
        ngx_hoop_pg_finalize(cctx->session, NGX_STREAM_BAD_GATEWAY);
        return;
    }

    err = 0;
    len = sizeof(int);

    if (getsockopt(pc->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1
        || err != 0
        || pc->send(pc, cctx->packet, 16) != 16)
    {
        ngx_log_error(NGX_LOG_ERR, pc->log, err,
                      "hoop pg: could not forward a cancel request");
        ngx_hoop_pg_finalize(cctx->session, NGX_STREAM_BAD_GATEWAY);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, pc->log, 0,
                  "hoop pg: cancel request forwarded");

    ngx_hoop_pg_finalize(cctx->session, NGX_STREAM_OK);
}
