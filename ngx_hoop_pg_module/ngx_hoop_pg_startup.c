
/*
 * The client's first packets: SSLRequest, GSSENCRequest, CancelRequest and
 * the StartupMessage.  These are untyped: int32 length, int32 code.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_proto.h"


static ngx_int_t ngx_hoop_pg_startup_packet(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, u_char *p, size_t len);
static ngx_int_t ngx_hoop_pg_startup_check(ngx_stream_session_t *s,
    u_char *p, size_t len);
static ngx_int_t ngx_hoop_pg_send_byte(ngx_connection_t *c, u_char byte);


void
ngx_hoop_pg_startup_read(ngx_event_t *ev)
{
    size_t                 avail, len;
    ssize_t                n;
    ngx_int_t              rc;
    ngx_buf_t             *b;
    ngx_connection_t      *c;
    ngx_hoop_pg_ctx_t     *ctx;
    ngx_stream_session_t  *s;

    c = ev->data;
    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "hoop pg: client timed out sending its startup packet");
        ngx_hoop_pg_fatal(s, "08P01",
                          "timeout waiting for the startup packet",
                          NGX_STREAM_BAD_REQUEST);
        return;
    }

    if (ev->write) {
        /* replies during startup are single bytes; nothing is pending */
        return;
    }

    b = ctx->client_buf;

    for ( ;; ) {

        avail = b->last - b->pos;

        if (avail >= 1 && *b->pos == NGX_HOOP_PG_TLS_HANDSHAKE
            && ctx->ssl_requests == 0)
        {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "hoop pg: client started a direct TLS handshake "
                          "but no TLS is configured for this server");
            ngx_hoop_pg_finalize(s, NGX_STREAM_BAD_REQUEST);
            return;
        }

        if (avail >= 8) {
            len = ngx_hoop_pg_get_u32(b->pos);

            if (len < 8 || len > NGX_HOOP_PG_MAX_STARTUP) {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "hoop pg: invalid startup packet length %uz",
                              len);
                ngx_hoop_pg_fatal(s, "08P01",
                                  "invalid length of startup packet",
                                  NGX_STREAM_BAD_REQUEST);
                return;
            }

            if (avail >= len) {
                rc = ngx_hoop_pg_startup_packet(s, ctx, b->pos, len);

                if (rc == NGX_DONE) {
                    /* the startup packet stays in client_buf, to be sent */
                    break;
                }

                if (rc != NGX_OK) {
                    return;
                }

                b->pos += len;

                if (b->pos == b->last) {
                    b->pos = b->start;
                    b->last = b->start;
                }

                continue;
            }
        }

        n = c->recv(c, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "hoop pg: client closed the connection "
                          "during startup");
            ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
            return;
        }

        b->last += n;
    }

    /* a StartupMessage or CancelRequest: now talk to the server */

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    ctx->phase = NGX_HOOP_PG_CONNECTING;

    ngx_hoop_pg_upstream_connect(s);
}


/*
 * Returns NGX_OK when the packet was answered and consumed, NGX_DONE when
 * it is to be sent upstream, NGX_ERROR after the session was finalized.
 */

static ngx_int_t
ngx_hoop_pg_startup_packet(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx,
    u_char *p, size_t len)
{
    uint32_t           code;
    ngx_connection_t  *c;

    c = s->connection;
    code = ngx_hoop_pg_get_u32(p + 4);

    switch (code) {

    case NGX_HOOP_PG_SSL_REQUEST:
    case NGX_HOOP_PG_GSSENC_REQUEST:

        if (len != 8 || ctx->ssl_requests >= 2) {
            ngx_hoop_pg_fatal(s, "08P01",
                              "invalid startup packet",
                              NGX_STREAM_BAD_REQUEST);
            return NGX_ERROR;
        }

        ctx->ssl_requests++;

        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "hoop pg: %s, answering N",
                       code == NGX_HOOP_PG_SSL_REQUEST
                       ? "SSLRequest" : "GSSENCRequest");

        /* no TLS configured for this server: the client goes on in clear */

        if (ngx_hoop_pg_send_byte(c, 'N') != NGX_OK) {
            ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_HOOP_PG_CANCEL_REQUEST:

        if (len != 16) {
            ngx_hoop_pg_fatal(s, "08P01",
                              "invalid cancel request",
                              NGX_STREAM_BAD_REQUEST);
            return NGX_ERROR;
        }

        ngx_log_debug0(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "hoop pg: CancelRequest");

        return NGX_DONE;

    default:

        if (ngx_hoop_pg_startup_check(s, p, len) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_DONE;
    }
}


/*
 * StartupMessage: int32 length, int32 protocol version, then name/value
 * C strings, ended by an empty name.
 */

static ngx_int_t
ngx_hoop_pg_startup_check(ngx_stream_session_t *s, u_char *p, size_t len)
{
    u_char    *end, *name;
    uint32_t   version;

    version = ngx_hoop_pg_get_u32(p + 4);

    if (version >> 16 != 3) {
        ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                      "hoop pg: unsupported frontend protocol %uD.%uD",
                      version >> 16, version & 0xffff);
        ngx_hoop_pg_fatal(s, "0A000",
                          "unsupported frontend protocol: "
                          "the gateway supports protocol 3",
                          NGX_STREAM_BAD_REQUEST);
        return NGX_ERROR;
    }

    end = p + len;
    p += 8;

    for ( ;; ) {
        if (p >= end) {
            goto invalid;
        }

        if (*p == '\0') {
            /* the terminating empty name must be the last byte */
            if (p + 1 != end) {
                goto invalid;
            }

            return NGX_OK;
        }

        name = p;
        p = ngx_strlchr(p, end, '\0');
        if (p == NULL) {
            goto invalid;
        }

        p++;

        p = ngx_strlchr(p, end, '\0');
        if (p == NULL) {
            goto invalid;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                       "hoop pg: startup parameter \"%s\"", name);

        p++;
    }

invalid:

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "hoop pg: malformed startup packet");
    ngx_hoop_pg_fatal(s, "08P01",
                      "invalid startup packet layout",
                      NGX_STREAM_BAD_REQUEST);

    return NGX_ERROR;
}


static ngx_int_t
ngx_hoop_pg_send_byte(ngx_connection_t *c, u_char byte)
{
    ssize_t  n;

    n = c->send(c, &byte, 1);

    return n == 1 ? NGX_OK : NGX_ERROR;
}
