
/*
 * The relay: messages between client and server, both ways, with a
 * bounded buffer per direction and flow control (a full buffer stops
 * reading from its source until the destination drains it).  Each
 * direction's gate (ngx_hoop_pg_gate.c) decides how far the buffer may be
 * sent.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


static void ngx_hoop_pg_client_handler(ngx_event_t *ev);
static void ngx_hoop_pg_server_handler(ngx_event_t *ev);
static void ngx_hoop_pg_relay(ngx_stream_session_t *s,
    ngx_uint_t from_server, ngx_uint_t do_write);
static void ngx_hoop_pg_relay_done(ngx_stream_session_t *s, ngx_uint_t rc);
static ngx_int_t ngx_hoop_pg_client_message(ngx_stream_session_t *s,
    u_char type, size_t len);
static ngx_int_t ngx_hoop_pg_server_message(ngx_stream_session_t *s,
    u_char type, size_t len);


void
ngx_hoop_pg_relay_start(ngx_stream_session_t *s)
{
    ngx_connection_t        *c, *pc;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_stream_upstream_t   *u;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    u = s->upstream;
    pc = u->peer.connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "hoop pg: connected to upstream %V", u->peer.name);

    u->connected = 1;
    ctx->phase = NGX_HOOP_PG_RELAY;

    if (ctx->server_buf == NULL) {
        ctx->server_buf = ngx_create_temp_buf(c->pool, pscf->buffer_size);
        if (ctx->server_buf == NULL) {
            ngx_hoop_pg_relay_done(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    ctx->client_gate.buf = &ctx->client_buf;
    ctx->client_gate.ready = ctx->client_buf->pos;
    ctx->client_gate.limit = pscf->max_statement_size;
    ctx->client_gate.header = ngx_hoop_pg_client_message;
    ctx->client_gate.whole = ngx_hoop_pg_client_whole;
    ctx->client_gate.inspect = ngx_hoop_pg_client_inspect;

    ctx->server_gate.buf = &ctx->server_buf;
    ctx->server_gate.ready = ctx->server_buf->pos;
    ctx->server_gate.limit = 65536;
    ctx->server_gate.header = ngx_hoop_pg_server_message;
    ctx->server_gate.whole = ngx_hoop_pg_server_whole;
    ctx->server_gate.inspect = ngx_hoop_pg_server_inspect;
    ctx->server_gate.from_server = 1;

    ngx_hoop_pg_enforce_init(s);
    ngx_hoop_pg_audit_open(s);

    if (ngx_hoop_pg_mask_init(s) != NGX_OK) {
        ngx_hoop_pg_relay_done(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    /*
     * Bytes already read from the client: in passthrough mode the
     * startup packet (untyped: it passes as is) and whatever followed;
     * after our own login, anything pipelined after the password.
     */

    if (!ctx->authenticated) {
        ctx->client_gate.skip = ngx_hoop_pg_get_u32(ctx->client_buf->pos);
    }

    /* the server's greeting first: a client error must come after it */
    if (ngx_hoop_pg_gate_run(s, &ctx->server_gate) != NGX_OK
        || ngx_hoop_pg_gate_run(s, &ctx->client_gate) != NGX_OK)
    {
        return;
    }

    c->read->handler = ngx_hoop_pg_client_handler;
    c->write->handler = ngx_hoop_pg_client_handler;
    pc->read->handler = ngx_hoop_pg_server_handler;
    pc->write->handler = ngx_hoop_pg_server_handler;

    /* the startup packet, and whatever the client pipelined after it */
    if (pc->read->ready) {
        ngx_post_event(pc->read, &ngx_posted_events);
    }

    /* what the server sent after login goes to the client first */
    if (ctx->server_buf->pos != ctx->server_buf->last) {
        ngx_post_event(c->write, &ngx_posted_events);
    }

    ngx_hoop_pg_relay(s, 0, 1);
}


static void
ngx_hoop_pg_client_handler(ngx_event_t *ev)
{
    ngx_connection_t        *c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_stream_session_t    *s;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = ev->data;
    s = c->data;

    if (ev->timedout) {
        ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

        if (ctx->in_flight || ctx->client_gate.held) {
            /* a long query or a review is not idleness: wait for it */
            pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);
            ev->timedout = 0;
            ngx_add_timer(ev, pscf->idle_timeout);
            return;
        }

        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "hoop pg: session idle, closing");
        ngx_hoop_pg_end_reason(s, "idle timeout");
        ngx_hoop_pg_relay_done(s, NGX_STREAM_OK);
        return;
    }

    /* a client read moves bytes to the server; a client write, from it */
    ngx_hoop_pg_relay(s, ev->write, ev->write);
}


static void
ngx_hoop_pg_server_handler(ngx_event_t *ev)
{
    ngx_connection_t      *pc;
    ngx_stream_session_t  *s;

    pc = ev->data;
    s = pc->data;

    ngx_hoop_pg_relay(s, !ev->write, ev->write);
}


static void
ngx_hoop_pg_relay(ngx_stream_session_t *s, ngx_uint_t from_server,
    ngx_uint_t do_write)
{
    size_t                   size;
    ssize_t                  n;
    ngx_buf_t               *b;
    ngx_connection_t        *c, *pc, *src, *dst;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_gate_t      *gate;
    ngx_stream_upstream_t   *u;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    u = s->upstream;
    pc = u->peer.connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    if (from_server) {
        src = pc;
        dst = c;
        gate = &ctx->server_gate;

    } else {
        src = c;
        dst = pc;
        gate = &ctx->client_gate;
    }

    for ( ;; ) {
        b = *gate->buf;

        if (do_write) {
            size = gate->ready - b->pos;

            if (size && dst->write->ready) {
                n = dst->send(dst, b->pos, size);

                if (n == NGX_ERROR) {
                    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                                  "hoop pg: %s closed the connection",
                                  from_server ? "client" : "server");
                    ngx_hoop_pg_end_reason(s, from_server
                                              ? "client closed"
                                              : "server closed");
                    ngx_hoop_pg_relay_done(s, from_server
                                              ? NGX_STREAM_OK
                                              : NGX_STREAM_BAD_GATEWAY);
                    return;
                }

                if (n > 0) {
                    b->pos += n;
                }
            }
        }

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;
            gate->ready = b->start;

        } else if (b->last == b->end && b->pos > b->start) {
            /* a message still being held: make room behind it */
            size = b->last - b->pos;
            gate->ready = b->start + (gate->ready - b->pos);
            ngx_memmove(b->start, b->pos, size);
            b->pos = b->start;
            b->last = b->start + size;
        }

        size = b->end - b->last;

        if (size && src->read->ready && !src->read->eof) {
            n = src->recv(src, b->last, size);

            if (n == NGX_AGAIN) {
                break;
            }

            if (n > 0) {
                if (from_server) {
                    if (u->state->first_byte_time == (ngx_msec_t) -1) {
                        u->state->first_byte_time = ngx_current_msec
                                                    - u->start_time;
                    }

                    u->received += n;

                } else {
                    s->received += n;
                }

                b->last += n;

                if (ngx_hoop_pg_gate_run(s, gate) != NGX_OK) {
                    return;
                }

                do_write = 1;
                continue;
            }

            /* 0 or NGX_ERROR: the source is gone */
            src->read->eof = 1;
        }

        break;
    }

    b = *gate->buf;

    if (src->read->eof && (b->pos == b->last || gate->held)) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "hoop pg: %s closed the connection",
                       from_server ? "server" : "client");
        ngx_hoop_pg_end_reason(s, from_server ? "server closed"
                                              : "client closed");
        ngx_hoop_pg_relay_done(s, NGX_STREAM_OK);
        return;
    }

    if (ngx_handle_read_event(src->read, 0) != NGX_OK
        || ngx_handle_write_event(dst->write, 0) != NGX_OK)
    {
        ngx_hoop_pg_relay_done(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    /* any traffic either way restarts the idle timer */
    ngx_add_timer(c->read, pscf->idle_timeout);
}


static void
ngx_hoop_pg_relay_done(ngx_stream_session_t *s, ngx_uint_t rc)
{
    ngx_connection_t       *pc;
    ngx_stream_upstream_t  *u;

    u = s->upstream;
    pc = u->peer.connection;

    if (u->state && pc) {
        u->state->response_time = ngx_current_msec - u->start_time;
        u->state->bytes_received = u->received;
        u->state->bytes_sent = pc->sent;
    }

    ngx_hoop_pg_finalize(s, rc);
}


/*
 * Each client message header.  Counts statements, tracks whether a query
 * is running (for cancel requests) and enforces hoop_pg_max_message_size.
 * NGX_ERROR means the session was finalized.
 */

static ngx_int_t
ngx_hoop_pg_client_message(ngx_stream_session_t *s, u_char type, size_t len)
{
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_srv_conf_t  *pscf;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg: client message '%c' %uz",
                   type ? type : '0', len);

    if (ctx->mask) {
        ngx_hoop_pg_mask_client_header(s, type);
    }

    if (len > pscf->max_message_size) {
        ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                      "hoop pg: client sent a %uz byte message, over "
                      "hoop_pg_max_message_size %uz", len,
                      pscf->max_message_size);
        ngx_hoop_pg_fatal(s, "54000",
                          "message too long for the gateway "
                          "(hoop_pg_max_message_size)",
                          NGX_STREAM_BAD_REQUEST);
        return NGX_ERROR;
    }

    switch (type) {

    case 'E':
        ctx->statements++;
        /* an Execute runs before its Sync arrives (pipelines, Flush) */
        ngx_hoop_pg_cancel_busy(s, 1);
        break;

    case 'X':
        ngx_hoop_pg_end_reason(s, "client closed");
        break;

    case 'Q':
        ctx->statements++;
        /* fall through */

    case 'S':
    case 'F':
        ctx->in_flight++;
        ngx_hoop_pg_cancel_busy(s, 1);
        break;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_pg_server_message(ngx_stream_session_t *s, u_char type, size_t len)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    ngx_hoop_pg_audit_answer(s, type, len);

    if (ctx->mask && ngx_hoop_pg_mask_server_header(s, type, len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (type == 'Z' && ctx->in_flight && --ctx->in_flight == 0) {
        ngx_hoop_pg_cancel_busy(s, 0);

        /* every statement sent has been answered */
        if (ctx->denials) {
            ctx->denials->nelts = 0;
        }
    }

    return NGX_OK;
}
