
/*
 * TLS to the upstream server, the libpq way: SSLRequest, then 'S' (go) or
 * 'N' (the server has no TLS).  Modes as libpq's sslmode: disable, prefer
 * (TLS when offered), require (TLS, any certificate), verify-full (TLS,
 * certificate chained to hoop_pg_upstream_ssl ca=, host name checked).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_proto.h"


static void ngx_hoop_pg_upstream_tls_reply(ngx_event_t *ev);
static void ngx_hoop_pg_upstream_tls_done(ngx_connection_t *pc);
static ngx_uint_t ngx_hoop_pg_is_ip(ngx_str_t *name);
static ngx_int_t ngx_hoop_pg_check_name(ngx_connection_t *pc,
    ngx_str_t *name);


char *
ngx_hoop_pg_upstream_tls_conf(ngx_conf_t *cf, ngx_hoop_pg_srv_conf_t *conf)
{
    ngx_pool_cleanup_t  *cln;

    if (conf->upstream_ssl_mode == NGX_HOOP_PG_UPSTREAM_SSL_DISABLE) {
        return NGX_CONF_OK;
    }

    if (conf->upstream_ssl_mode == NGX_HOOP_PG_UPSTREAM_SSL_VERIFY_FULL
        && (conf->upstream_ssl_ca.len == 0 || conf->upstream_ssl_name.len == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_pg_upstream_ssl verify-full needs ca=FILE "
                           "and name=HOST (the name in the server's "
                           "certificate)");
        return NGX_CONF_ERROR;
    }

    conf->upstream_ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (conf->upstream_ssl == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->upstream_ssl->log = cf->log;

    if (ngx_ssl_create(conf->upstream_ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3,
                       NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(conf->upstream_ssl);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = conf->upstream_ssl;

    /* the relay may move bytes it has not sent yet (ngx_hoop_pg_gate.c) */
    SSL_CTX_set_mode(conf->upstream_ssl->ctx,
                     SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (conf->upstream_ssl_ca.len
        && ngx_ssl_trusted_certificate(cf, conf->upstream_ssl,
                                       &conf->upstream_ssl_ca, 4)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


void
ngx_hoop_pg_upstream_tls_start(ngx_stream_session_t *s)
{
    u_char             request[8];
    ngx_connection_t  *pc;

    pc = s->upstream->peer.connection;

    (void) ngx_hoop_pg_put_u32(request, 8);
    (void) ngx_hoop_pg_put_u32(request + 4, NGX_HOOP_PG_SSL_REQUEST);

    if (pc->send(pc, request, 8) != 8) {
        ngx_hoop_pg_login_failed(s, "could not send SSLRequest");
        return;
    }

    pc->read->handler = ngx_hoop_pg_upstream_tls_reply;
    pc->write->handler = ngx_hoop_pg_upstream_tls_reply;

    ngx_hoop_pg_upstream_tls_reply(pc->read);
}


static void
ngx_hoop_pg_upstream_tls_reply(ngx_event_t *ev)
{
    u_char                   answer;
    ssize_t                  n;
    ngx_int_t                rc;
    ngx_connection_t        *pc;
    ngx_stream_session_t    *s;
    ngx_hoop_pg_srv_conf_t  *pscf;

    pc = ev->data;
    s = pc->data;
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    if (ev->timedout) {
        ngx_hoop_pg_login_failed(s, "timeout waiting for the SSLRequest "
                                    "answer");
        return;
    }

    if (ev->write) {
        return;
    }

    /* one byte, and nothing after it before the handshake (CVE-2021-23222) */

    n = pc->recv(pc, &answer, 1);

    if (n == NGX_AGAIN) {
        if (ngx_handle_read_event(pc->read, 0) != NGX_OK) {
            ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    if (n != 1) {
        ngx_hoop_pg_login_failed(s, "connection closed after SSLRequest");
        return;
    }

    if (answer == 'N') {
        if (pscf->upstream_ssl_mode == NGX_HOOP_PG_UPSTREAM_SSL_PREFER) {
            ngx_log_debug0(NGX_LOG_DEBUG_STREAM, pc->log, 0,
                           "hoop pg: upstream has no TLS, going on in clear");
            ngx_hoop_pg_login_begin(s);
            return;
        }

        ngx_hoop_pg_login_failed(s, "the server does not support TLS but "
                                    "hoop_pg_upstream_ssl requires it");
        return;
    }

    if (answer != 'S') {
        ngx_hoop_pg_login_failed(s, "invalid answer to SSLRequest");
        return;
    }

    if (ngx_ssl_create_connection(pscf->upstream_ssl, pc,
                                  NGX_SSL_BUFFER|NGX_SSL_CLIENT)
        != NGX_OK)
    {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    if (pscf->upstream_ssl_name.len
        && !ngx_hoop_pg_is_ip(&pscf->upstream_ssl_name))
    {
        /*
         * SNI (never an IP address, RFC 6066); the name is NUL-terminated
         * as a config string
         */
        if (SSL_set_tlsext_host_name(pc->ssl->connection,
                                     (char *) pscf->upstream_ssl_name.data)
            != 1)
        {
            ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    rc = ngx_ssl_handshake(pc);

    if (rc == NGX_AGAIN) {
        pc->ssl->handler = ngx_hoop_pg_upstream_tls_done;
        return;
    }

    ngx_hoop_pg_upstream_tls_done(pc);
}


static void
ngx_hoop_pg_upstream_tls_done(ngx_connection_t *pc)
{
    long                     rc;
    ngx_str_t                name;
    ngx_stream_session_t    *s;
    ngx_hoop_pg_srv_conf_t  *pscf;

    s = pc->data;
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    if (pc->read->timedout) {
        ngx_hoop_pg_login_failed(s, "timeout in the TLS handshake");
        return;
    }

    if (!pc->ssl->handshaked) {
        ngx_hoop_pg_login_failed(s, "TLS handshake failed");
        return;
    }

    if (pscf->upstream_ssl_mode == NGX_HOOP_PG_UPSTREAM_SSL_VERIFY_FULL) {
        rc = SSL_get_verify_result(pc->ssl->connection);

        if (rc != X509_V_OK) {
            ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                          "hoop pg: upstream certificate verify error: "
                          "(%l:%s)", rc, X509_verify_cert_error_string(rc));
            ngx_hoop_pg_login_failed(s, "upstream certificate not trusted");
            return;
        }

        name = pscf->upstream_ssl_name;

        if (ngx_hoop_pg_check_name(pc, &name) != NGX_OK) {
            ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                          "hoop pg: upstream certificate does not match "
                          "\"%V\"", &name);
            ngx_hoop_pg_login_failed(s, "upstream certificate name mismatch");
            return;
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, pc->log, 0,
                   "hoop pg: upstream TLS established, %s",
                   SSL_get_version(pc->ssl->connection));

    ngx_hoop_pg_login_begin(s);
}


static ngx_uint_t
ngx_hoop_pg_is_ip(ngx_str_t *name)
{
    u_char  buf[sizeof(struct in6_addr)];

    /* config strings are NUL-terminated */
    return inet_pton(AF_INET, (char *) name->data, buf) == 1
           || inet_pton(AF_INET6, (char *) name->data, buf) == 1;
}


/*
 * As libpq's verify-full: a host name against the certificate's DNS names
 * (nginx's check), an IP address against its IP addresses.
 */

static ngx_int_t
ngx_hoop_pg_check_name(ngx_connection_t *pc, ngx_str_t *name)
{
    int    rc;
    X509  *cert;

    if (!ngx_hoop_pg_is_ip(name)) {
        return ngx_ssl_check_host(pc, name);
    }

    cert = SSL_get_peer_certificate(pc->ssl->connection);
    if (cert == NULL) {
        return NGX_ERROR;
    }

    rc = X509_check_ip_asc(cert, (char *) name->data, 0);

    X509_free(cert);

    return rc == 1 ? NGX_OK : NGX_ERROR;
}
