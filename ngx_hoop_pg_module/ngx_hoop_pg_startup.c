
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
static ngx_int_t ngx_hoop_pg_startup_parse(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, u_char *p, size_t len);
static ngx_int_t ngx_hoop_pg_send_byte(ngx_connection_t *c, u_char byte);
static ngx_int_t ngx_hoop_pg_peek_tls(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx);


void
ngx_hoop_pg_startup_read(ngx_event_t *ev)
{
    size_t                   avail, len;
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_connection_t        *c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_stream_session_t    *s;
    ngx_hoop_pg_srv_conf_t  *pscf;

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

        if (avail == 0 && c->ssl == NULL && ctx->ssl_requests == 0
            && !ctx->peeked)
        {
            /* PG17 direct TLS: peek, so OpenSSL still reads the hello */

            rc = ngx_hoop_pg_peek_tls(s, ctx);

            if (rc == NGX_AGAIN) {
                if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                    ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
                }

                return;
            }

            if (rc != NGX_OK) {
                return;
            }
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

        if (ngx_hoop_pg_client_read(s, b, "startup") != NGX_OK) {
            return;
        }
    }

    /* a StartupMessage or a CancelRequest */

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    if (ctx->params == NULL && pscf->oidc != NULL) {
        /* a CancelRequest with one of our keys */
        ngx_hoop_pg_cancel_request(s, b->pos);
        return;
    }

    if (ngx_hoop_pg_audit_admit(s) != NGX_OK) {
        ngx_hoop_pg_fatal(s, "57P03",
                          "the audit trail cannot record new sessions now; "
                          "try again later",
                          NGX_STREAM_SERVICE_UNAVAILABLE);
        return;
    }

    if (ctx->params != NULL && pscf->oidc != NULL) {
        /* the packet is ours; the rest of client_buf is not */
        b->pos += ctx->startup.len;
        ngx_hoop_pg_client_auth_start(s);
        return;
    }

    /* passthrough: the client logs in to the server itself */

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    ctx->phase = NGX_HOOP_PG_CONNECTING;

    ngx_hoop_pg_upstream_connect(s);
}


/*
 * Returns NGX_OK when the packet was answered and consumed, NGX_DONE when
 * it is to be sent upstream, NGX_ERROR when the caller must stop: the
 * session was finalized, or reading goes on after a TLS handshake.
 */

static ngx_int_t
ngx_hoop_pg_startup_packet(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx,
    u_char *p, size_t len)
{
    uint32_t                 code;
    ngx_connection_t        *c;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);
    code = ngx_hoop_pg_get_u32(p + 4);

    switch (code) {

    case NGX_HOOP_PG_SSL_REQUEST:
    case NGX_HOOP_PG_GSSENC_REQUEST:

        if (len != 8 || ctx->ssl_requests >= 2 || c->ssl) {
            ngx_hoop_pg_fatal(s, "08P01",
                              "invalid startup packet",
                              NGX_STREAM_BAD_REQUEST);
            return NGX_ERROR;
        }

        ctx->ssl_requests++;

        if (code == NGX_HOOP_PG_SSL_REQUEST && pscf->ssl) {

            /*
             * Bytes sent after SSLRequest and before the handshake would
             * be taken as if they came over TLS (CVE-2021-23222 in
             * PostgreSQL, PgBouncer 1.16.1): refuse them.
             */

            if ((size_t) (ctx->client_buf->last - p) > len) {
                ngx_log_error(NGX_LOG_WARN, c->log, 0,
                              "hoop pg: client sent unencrypted data "
                              "after SSLRequest");
                ngx_hoop_pg_fatal(s, "08P01",
                                  "received unencrypted data after "
                                  "SSL request",
                                  NGX_STREAM_BAD_REQUEST);
                return NGX_ERROR;
            }

            ngx_log_debug0(NGX_LOG_DEBUG_STREAM, c->log, 0,
                           "hoop pg: SSLRequest, answering S");

            if (ngx_hoop_pg_send_byte(c, 'S') != NGX_OK) {
                ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
                return NGX_ERROR;
            }

            ctx->client_buf->pos = ctx->client_buf->start;
            ctx->client_buf->last = ctx->client_buf->start;

            ngx_hoop_pg_tls_start(s, 0);

            return NGX_ERROR;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                       "hoop pg: %s, answering N",
                       code == NGX_HOOP_PG_SSL_REQUEST
                       ? "SSLRequest" : "GSSENCRequest");

        /* no TLS here (or GSSAPI, never): the client goes on in clear */

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

        if (ngx_hoop_pg_startup_parse(s, ctx, p, len) != NGX_OK) {
            return NGX_ERROR;
        }

        return NGX_DONE;
    }
}


/*
 * StartupMessage: int32 length, int32 protocol version, then name/value
 * C strings, ended by an empty name.  The parameters are kept: user and
 * database select the role profile, the rest goes upstream.
 */

static ngx_int_t
ngx_hoop_pg_startup_parse(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx,
    u_char *p, size_t len)
{
    u_char               *end, *name, *value;
    uint32_t              version;
    ngx_hoop_pg_param_t  *param;

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

    ctx->params = ngx_array_create(s->connection->pool, 8,
                                   sizeof(ngx_hoop_pg_param_t));
    if (ctx->params == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    /* a copy: client_buf is reused for what follows */
    ctx->startup.data = ngx_pnalloc(s->connection->pool, len);
    if (ctx->startup.data == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->startup.data, p, len) - len;
    ctx->startup.len = len;
    ctx->protocol_minor = version & 0xffff;

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

        value = ++p;

        p = ngx_strlchr(p, end, '\0');
        if (p == NULL) {
            goto invalid;
        }

        param = ngx_array_push(ctx->params);
        if (param == NULL) {
            ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            return NGX_ERROR;
        }

        param->name.data = name;
        param->name.len = value - 1 - name;
        param->value.data = value;
        param->value.len = p - value;

        if (param->name.len == 4
            && ngx_strncmp(param->name.data, "user", 4) == 0)
        {
            ctx->user = param->value;

        } else if (param->name.len == 8
                   && ngx_strncmp(param->name.data, "database", 8) == 0)
        {
            ctx->database = param->value;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                       "hoop pg: startup parameter \"%V\"=\"%V\"",
                       &param->name, &param->value);

        p++;
    }

invalid:

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "hoop pg: malformed startup packet");
    ngx_hoop_pg_fatal(s, "08P01", "invalid startup packet layout",
                      NGX_STREAM_BAD_REQUEST);

    return NGX_ERROR;
}


/*
 * NGX_OK: not TLS, read on; NGX_AGAIN: nothing yet; NGX_DONE: a TLS
 * handshake started or the session ended.
 */

static ngx_int_t
ngx_hoop_pg_peek_tls(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx)
{
    u_char                   byte;
    ssize_t                  n;
    ngx_err_t                err;
    ngx_connection_t        *c;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    n = recv(c->fd, (char *) &byte, 1, MSG_PEEK);

    if (n == -1) {
        err = ngx_socket_errno;

        if (err == NGX_EAGAIN) {
            c->read->ready = 0;
            return NGX_AGAIN;
        }

        ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
        return NGX_DONE;
    }

    ctx->peeked = 1;

    if (n == 0 || byte != NGX_HOOP_PG_TLS_HANDSHAKE) {
        return NGX_OK;
    }

    if (pscf->ssl == NULL) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: client started a direct TLS handshake "
                      "but no TLS is configured for this server");
        ngx_hoop_pg_finalize(s, NGX_STREAM_BAD_REQUEST);
        return NGX_DONE;
    }

    ngx_hoop_pg_tls_start(s, 1);

    return NGX_DONE;
}


static ngx_int_t
ngx_hoop_pg_send_byte(ngx_connection_t *c, u_char byte)
{
    ssize_t  n;

    n = c->send(c, &byte, 1);

    return n == 1 ? NGX_OK : NGX_ERROR;
}
