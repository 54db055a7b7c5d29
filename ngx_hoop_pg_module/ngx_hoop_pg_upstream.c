
/*
 * Connecting to the upstream PostgreSQL server: a stream upstream {} peer,
 * with the balancer's retries and a connect timeout.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


static void ngx_hoop_pg_connect(ngx_stream_session_t *s);
static void ngx_hoop_pg_connect_handler(ngx_event_t *ev);
static ngx_int_t ngx_hoop_pg_test_connect(ngx_connection_t *c);
static void ngx_hoop_pg_next_upstream(ngx_stream_session_t *s);
static void ngx_hoop_pg_upstream_ready(ngx_stream_session_t *s);


void
ngx_hoop_pg_upstream_connect(ngx_stream_session_t *s)
{
    ngx_connection_t        *c;
    ngx_stream_upstream_t   *u;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    u = ngx_pcalloc(c->pool, sizeof(ngx_stream_upstream_t));
    if (u == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    s->upstream = u;

    s->upstream_states = ngx_array_create(c->pool, 1,
                                          sizeof(ngx_stream_upstream_state_t));
    if (s->upstream_states == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    u->peer.log = c->log;
    u->peer.log_error = NGX_ERROR_ERR;
    u->peer.type = SOCK_STREAM;
    u->start_sec = ngx_time();
    u->start_time = ngx_current_msec;
    u->upstream = pscf->upstream;

    if (pscf->upstream->peer.init(s, pscf->upstream) != NGX_OK) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    u->peer.start_time = ngx_current_msec;

    /* the client waits; a hang-up meanwhile is noticed at relay time */
    c->read->handler = ngx_hoop_pg_client_wait;
    c->write->handler = ngx_hoop_pg_client_wait;

    ngx_hoop_pg_connect(s);
}


static void
ngx_hoop_pg_connect(ngx_stream_session_t *s)
{
    ngx_int_t                rc;
    ngx_connection_t        *c, *pc;
    ngx_stream_upstream_t   *u;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    u = s->upstream;
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    u->state = ngx_array_push(s->upstream_states);
    if (u->state == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memzero(u->state, sizeof(ngx_stream_upstream_state_t));

    u->start_time = ngx_current_msec;
    u->state->connect_time = (ngx_msec_t) -1;
    u->state->first_byte_time = (ngx_msec_t) -1;
    u->state->response_time = (ngx_msec_t) -1;

    rc = ngx_event_connect_peer(&u->peer);

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "hoop pg: connect to upstream: %i", rc);

    if (rc == NGX_ERROR) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    u->state->peer = u->peer.name;

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0, "hoop pg: no live upstreams");
        ngx_hoop_pg_fatal(s, "08006", "the database server is unavailable",
                          NGX_STREAM_BAD_GATEWAY);
        return;
    }

    if (rc == NGX_DECLINED) {
        ngx_hoop_pg_next_upstream(s);
        return;
    }

    pc = u->peer.connection;

    pc->data = s;
    pc->log = c->log;
    pc->pool = c->pool;
    pc->read->log = c->log;
    pc->write->log = c->log;

    if (rc != NGX_AGAIN) {
        u->state->connect_time = ngx_current_msec - u->start_time;
        ngx_hoop_pg_upstream_ready(s);
        return;
    }

    pc->read->handler = ngx_hoop_pg_connect_handler;
    pc->write->handler = ngx_hoop_pg_connect_handler;

    ngx_add_timer(pc->write, pscf->connect_timeout);
}


static void
ngx_hoop_pg_connect_handler(ngx_event_t *ev)
{
    ngx_connection_t       *pc;
    ngx_stream_session_t   *s;
    ngx_stream_upstream_t  *u;

    pc = ev->data;
    s = pc->data;
    u = s->upstream;

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_ERR, pc->log, NGX_ETIMEDOUT,
                      "hoop pg: upstream %V timed out while connecting",
                      u->peer.name);
        ngx_hoop_pg_next_upstream(s);
        return;
    }

    if (pc->write->timer_set) {
        ngx_del_timer(pc->write);
    }

    if (ngx_hoop_pg_test_connect(pc) != NGX_OK) {
        ngx_hoop_pg_next_upstream(s);
        return;
    }

    u->state->connect_time = ngx_current_msec - u->start_time;

    ngx_hoop_pg_upstream_ready(s);
}


/* connected: log in with the role's credentials, or relay as is */

static void
ngx_hoop_pg_upstream_ready(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->authenticated) {
        ngx_hoop_pg_login_start(s);

    } else {
        ngx_hoop_pg_relay_start(s);
    }
}


static ngx_int_t
ngx_hoop_pg_test_connect(ngx_connection_t *c)
{
    int        err;
    socklen_t  len;

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        (void) ngx_connection_error(c, err, "hoop pg: connect() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_hoop_pg_next_upstream(ngx_stream_session_t *s)
{
    ngx_stream_upstream_t  *u;

    u = s->upstream;

    if (u->peer.sockaddr) {
        u->peer.free(&u->peer, u->peer.data, NGX_PEER_FAILED);
        u->peer.sockaddr = NULL;
    }

    if (u->peer.connection) {
        ngx_hoop_pg_close_upstream(u->peer.connection);
        u->peer.connection = NULL;
    }

    if (u->peer.tries == 0) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: no upstream server could be reached");
        ngx_hoop_pg_fatal(s, "08006", "the database server is unavailable",
                          NGX_STREAM_BAD_GATEWAY);
        return;
    }

    ngx_hoop_pg_connect(s);
}


void
ngx_hoop_pg_client_wait(ngx_event_t *ev)
{
    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, ev->log, 0,
                   "hoop pg: client %s event while connecting upstream",
                   ev->write ? "write" : "read");
}
