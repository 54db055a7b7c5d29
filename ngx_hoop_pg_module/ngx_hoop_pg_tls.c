
/*
 * TLS termination for Postgres clients.  Unlike HTTPS, TLS starts inside
 * the protocol: the client sends SSLRequest, we answer 'S', then the
 * handshake runs on the same socket (as in the mail module's STARTTLS).
 * PostgreSQL 17 clients may also start TLS directly (sslnegotiation=direct),
 * with ALPN "postgresql".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_proto.h"


static void ngx_hoop_pg_tls_handshake_done(ngx_connection_t *c);
static int ngx_hoop_pg_tls_alpn_select(ngx_ssl_conn_t *ssl_conn,
    const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg);


/* ALPN protocol id of PostgreSQL (length-prefixed, as on the wire) */
static const u_char  ngx_hoop_pg_alpn[] = "\x0apostgresql";


char *
ngx_hoop_pg_tls_conf(ngx_conf_t *cf, ngx_hoop_pg_srv_conf_t *conf)
{
    ngx_pool_cleanup_t  *cln;
    ngx_array_t         *certs, *keys;

    if (conf->ssl_certificate.len == 0) {
        if (conf->ssl_certificate_key.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"hoop_pg_ssl_certificate_key\" needs "
                               "\"hoop_pg_ssl_certificate\"");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (conf->ssl_certificate_key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"hoop_pg_ssl_certificate_key\" for "
                           "certificate \"%V\"", &conf->ssl_certificate);
        return NGX_CONF_ERROR;
    }

    conf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (conf->ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->ssl->log = cf->log;

    if (ngx_ssl_create(conf->ssl, conf->ssl_protocols, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(conf->ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = conf->ssl;

    certs = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    keys = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
    if (certs == NULL || keys == NULL) {
        return NGX_CONF_ERROR;
    }

    *(ngx_str_t *) ngx_array_push(certs) = conf->ssl_certificate;
    *(ngx_str_t *) ngx_array_push(keys) = conf->ssl_certificate_key;

    if (ngx_ssl_certificates(cf, conf->ssl, certs, keys, NULL) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_ssl_ciphers(cf, conf->ssl, &conf->ssl_ciphers, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    SSL_CTX_set_alpn_select_cb(conf->ssl->ctx, ngx_hoop_pg_tls_alpn_select,
                               NULL);

    /* the relay may move bytes it has not sent yet (ngx_hoop_pg_gate.c) */
    SSL_CTX_set_mode(conf->ssl->ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    return NGX_CONF_OK;
}


/*
 * Clients that use ALPN must offer "postgresql" (as PostgreSQL 17 does);
 * clients without ALPN (libpq <= 16) are fine after an SSLRequest.
 */

static int
ngx_hoop_pg_tls_alpn_select(ngx_ssl_conn_t *ssl_conn,
    const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
    if (SSL_select_next_proto((unsigned char **) out, outlen,
                              ngx_hoop_pg_alpn, sizeof(ngx_hoop_pg_alpn) - 1,
                              in, inlen)
        != OPENSSL_NPN_NEGOTIATED)
    {
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }

    return SSL_TLSEXT_ERR_OK;
}


/*
 * Start the handshake.  direct: the client began with a ClientHello
 * instead of an SSLRequest.
 */

void
ngx_hoop_pg_tls_start(ngx_stream_session_t *s, ngx_uint_t direct)
{
    ngx_int_t                rc;
    ngx_connection_t        *c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ctx->tls_direct = direct;

    if (ngx_ssl_create_connection(pscf->ssl, c, 0) != NGX_OK) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        c->ssl->handler = ngx_hoop_pg_tls_handshake_done;
        return;
    }

    ngx_hoop_pg_tls_handshake_done(c);
}


static void
ngx_hoop_pg_tls_handshake_done(ngx_connection_t *c)
{
    unsigned int             len;
    const unsigned char     *alpn;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_stream_session_t    *s;

    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (c->read->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "hoop pg: client timed out in the TLS handshake");
        ngx_hoop_pg_finalize(s, NGX_STREAM_BAD_REQUEST);
        return;
    }

    if (!c->ssl->handshaked) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: TLS handshake with the client failed");
        ngx_hoop_pg_finalize(s, NGX_STREAM_BAD_REQUEST);
        return;
    }

    if (ctx->tls_direct) {
        /* direct TLS is only for clients that say they speak Postgres */
        SSL_get0_alpn_selected(c->ssl->connection, &alpn, &len);

        if (len != sizeof(ngx_hoop_pg_alpn) - 2) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "hoop pg: direct TLS without ALPN \"postgresql\"");
            ngx_hoop_pg_finalize(s, NGX_STREAM_BAD_REQUEST);
            return;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "hoop pg: TLS established (%s), %s",
                   ctx->tls_direct ? "direct" : "after SSLRequest",
                   SSL_get_version(c->ssl->connection));

    c->read->handler = ngx_hoop_pg_startup_read;
    c->write->handler = ngx_hoop_pg_startup_read;

    ngx_hoop_pg_startup_read(c->read);
}
