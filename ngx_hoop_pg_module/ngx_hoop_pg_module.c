
/*
 * ngx_hoop_pg_module: directives and the stream content handler of the
 * Postgres gateway.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_proto.h"
#include "ngx_hoop_pg_text_cache.h"
#include <openssl/rand.h>


static void ngx_hoop_pg_handler(ngx_stream_session_t *s);
static ngx_int_t ngx_hoop_pg_postconfiguration(ngx_conf_t *cf);
static void *ngx_hoop_pg_create_main_conf(ngx_conf_t *cf);
static void ngx_hoop_pg_main_conf_cleanup(void *data);
static char *ngx_hoop_pg_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_hoop_pg_create_srv_conf(ngx_conf_t *cf);
static char *ngx_hoop_pg_merge_srv_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_hoop_pg(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_hoop_pg_auth(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_hoop_pg_role(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_hoop_pg_upstream_ssl(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_enum_t  ngx_hoop_pg_audit_texts[] = {
    { ngx_string("none"), NGX_HOOP_PG_AUDIT_TEXT_NONE },
    { ngx_string("normalized"), NGX_HOOP_PG_AUDIT_TEXT_NORMALIZED },
    { ngx_string("full"), NGX_HOOP_PG_AUDIT_TEXT_FULL },
    { ngx_null_string, 0 }
};


static ngx_conf_bitmask_t  ngx_hoop_pg_ssl_protocols[] = {
    { ngx_string("TLSv1.2"), NGX_SSL_TLSv1_2 },
    { ngx_string("TLSv1.3"), NGX_SSL_TLSv1_3 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_hoop_pg_commands[] = {

    { ngx_string("hoop_pg"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_hoop_pg,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_auth"),
      NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_hoop_pg_auth,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_role"),
      NGX_STREAM_SRV_CONF|NGX_CONF_2MORE,
      ngx_hoop_pg_role,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_plaintext_login"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, plaintext_login),
      NULL },

    { ngx_string("hoop_pg_upstream_scram_max_iterations"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, upstream_scram_max_iterations),
      NULL },

    { ngx_string("hoop_pg_max_token_size"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, max_password_size),
      NULL },

    { ngx_string("hoop_pg_deny"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_hoop_pg_policy_deny,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_allow"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_hoop_pg_policy_allow,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_review_api"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, review_api),
      NULL },

    { ngx_string("hoop_pg_review"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_hoop_pg_policy_review,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_max_statement_size"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, max_statement_size),
      NULL },

    { ngx_string("hoop_pg_max_message_size"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, max_message_size),
      NULL },

    { ngx_string("hoop_pg_ssl_certificate"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, ssl_certificate),
      NULL },

    { ngx_string("hoop_pg_ssl_certificate_key"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, ssl_certificate_key),
      NULL },

    { ngx_string("hoop_pg_ssl_protocols"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, ssl_protocols),
      &ngx_hoop_pg_ssl_protocols },

    { ngx_string("hoop_pg_ssl_ciphers"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, ssl_ciphers),
      NULL },

    { ngx_string("hoop_pg_upstream_ssl"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_hoop_pg_upstream_ssl,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_mask"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_1MORE,
      ngx_hoop_pg_mask_directive,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_mask_max_row"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_hoop_pg_mask_max_row,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_pg_mask_catalog_cache"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_hoop_pg_mask_cache_time,
      NGX_STREAM_SRV_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_audit"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, audit),
      NULL },

    { ngx_string("hoop_audit_required"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, audit_required),
      NULL },

    { ngx_string("hoop_pg_audit_text"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, audit_text),
      &ngx_hoop_pg_audit_texts },

    { ngx_string("hoop_pg_cancel_zone_size"),
      NGX_STREAM_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_MAIN_CONF_OFFSET,
      offsetof(ngx_hoop_pg_main_conf_t, cancel_zone_size),
      NULL },

    { ngx_string("hoop_pg_connect_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, connect_timeout),
      NULL },

    { ngx_string("hoop_pg_startup_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, startup_timeout),
      NULL },

    { ngx_string("hoop_pg_idle_timeout"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, idle_timeout),
      NULL },

    { ngx_string("hoop_pg_buffer_size"),
      NGX_STREAM_MAIN_CONF|NGX_STREAM_SRV_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_STREAM_SRV_CONF_OFFSET,
      offsetof(ngx_hoop_pg_srv_conf_t, buffer_size),
      NULL },

      ngx_null_command
};


static ngx_stream_module_t  ngx_hoop_pg_module_ctx = {
    ngx_hoop_pg_add_variables,             /* preconfiguration */
    ngx_hoop_pg_postconfiguration,         /* postconfiguration */

    ngx_hoop_pg_create_main_conf,          /* create main configuration */
    ngx_hoop_pg_init_main_conf,            /* init main configuration */

    ngx_hoop_pg_create_srv_conf,           /* create server configuration */
    ngx_hoop_pg_merge_srv_conf             /* merge server configuration */
};


ngx_module_t  ngx_hoop_pg_module = {
    NGX_MODULE_V1,
    &ngx_hoop_pg_module_ctx,               /* module context */
    ngx_hoop_pg_commands,                  /* module directives */
    NGX_STREAM_MODULE,                     /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void
ngx_hoop_pg_handler(ngx_stream_session_t *s)
{
    u_char                   rnd[8];
    ngx_connection_t        *c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ngx_log_debug0(NGX_LOG_DEBUG_STREAM, c->log, 0, "hoop pg: new session");

    ctx = ngx_pcalloc(c->pool, sizeof(ngx_hoop_pg_ctx_t));
    if (ctx == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->session = s;
    ctx->phase = NGX_HOOP_PG_STARTUP;

    /* a session id for logs and the audit trail: 64 random bits */
    ctx->session_id.data = ngx_pnalloc(c->pool, 16);
    if (ctx->session_id.data == NULL
        || RAND_bytes(rnd, sizeof(rnd)) != 1)
    {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->session_id.len = ngx_hex_dump(ctx->session_id.data, rnd,
                                       sizeof(rnd))
                          - ctx->session_id.data;

    /* the startup packet is bounded by NGX_HOOP_PG_MAX_STARTUP */
    ctx->client_buf = ngx_create_temp_buf(c->pool,
                             ngx_max(pscf->buffer_size,
                                     NGX_HOOP_PG_MAX_STARTUP + 8));
    if (ctx->client_buf == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_stream_set_ctx(s, ctx, ngx_hoop_pg_module);

    c->read->handler = ngx_hoop_pg_startup_read;
    c->write->handler = ngx_hoop_pg_startup_read;

    ngx_add_timer(c->read, pscf->startup_timeout);

    ngx_hoop_pg_startup_read(c->read);
}


/*
 * Read what the client sent into b before the relay starts.  NGX_OK:
 * bytes were added; anything else: wait for the next read event, or the
 * session was finalized (the client left).
 */

ngx_int_t
ngx_hoop_pg_client_read(ngx_stream_session_t *s, ngx_buf_t *b,
    const char *during)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = s->connection;

    n = c->recv(c, b->last, b->end - b->last);

    if (n == NGX_AGAIN) {
        if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
            ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        }

        return NGX_AGAIN;
    }

    if (n == 0 || n == NGX_ERROR) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: client closed the connection during %s",
                      during);
        ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
        return NGX_DONE;
    }

    b->last += n;

    return NGX_OK;
}


/* close a connection to the server; its TLS state goes with it */

void
ngx_hoop_pg_close_upstream(ngx_connection_t *pc)
{
    if (pc->ssl) {
        /* frees the SSL object; no waiting for the server's reply */
        pc->ssl->no_wait_shutdown = 1;
        (void) ngx_ssl_shutdown(pc);
    }

    ngx_close_connection(pc);
}


/* the first reason given is the one that ends the session */

void
ngx_hoop_pg_end_reason(ngx_stream_session_t *s, const char *reason)
{
    size_t              len;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx == NULL || ctx->end_reason != NULL) {
        return;
    }

    /* fatal messages may live on the caller's stack: keep a copy */
    len = ngx_strlen(reason) + 1;
    ctx->end_reason = ngx_pnalloc(s->connection->pool, len);

    if (ctx->end_reason) {
        ngx_memcpy((char *) ctx->end_reason, reason, len);
    }
}


void
ngx_hoop_pg_finalize(ngx_stream_session_t *s, ngx_uint_t rc)
{
    ngx_hoop_pg_ctx_t      *ctx;
    ngx_stream_upstream_t  *u;

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg: finalize session: %ui", rc);

    ngx_hoop_pg_audit_unanswered(s);
    ngx_hoop_pg_audit_close(s);

    u = s->upstream;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx && ctx->verify_retry.timer_set) {
        ngx_del_timer(&ctx->verify_retry);
    }

    if (s->connection->ssl) {
        /* don't wait for (or trip over) the client's TLS shutdown */
        s->connection->ssl->no_wait_shutdown = 1;
    }

    if (ctx && ctx->cancel_peer) {
        ngx_close_connection(ctx->cancel_peer);
        ctx->cancel_peer = NULL;
    }

    if (u != NULL && u->peer.connection != NULL) {
        if (u->peer.free) {
            u->peer.free(&u->peer, u->peer.data, 0);
        }

        ngx_hoop_pg_close_upstream(u->peer.connection);
        u->peer.connection = NULL;
    }

    ngx_stream_finalize_session(s, rc);
}


/*
 * Tell the client why the session ends (a best-effort FATAL ErrorResponse
 * on a socket that is writable in practice: nothing else is queued on it
 * at the points where this is called), then close.
 */

void
ngx_hoop_pg_fatal(ngx_stream_session_t *s, const char *sqlstate,
    const char *message, ngx_uint_t rc)
{
    u_char             *ready;
    ngx_str_t           msg;
    ngx_buf_t          *b, *pending;
    ngx_connection_t   *c;
    ngx_hoop_pg_ctx_t  *ctx;

    c = s->connection;

    ngx_hoop_pg_end_reason(s, message);

    msg.data = (u_char *) message;
    msg.len = ngx_strlen(message);

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx && ctx->phase == NGX_HOOP_PG_RELAY && ctx->server_buf) {
        /*
         * What the server already said goes first; the error only when
         * the client is at a message boundary after it.
         */
        pending = ctx->server_buf;
        ready = ctx->server_gate.ready;

        if (ready > pending->pos
            && c->send(c, pending->pos, ready - pending->pos)
               != ready - pending->pos)
        {
            ngx_hoop_pg_finalize(s, rc);
            return;
        }

        if (ctx->server_gate.skip) {
            /* in the middle of a server message: no room for ours */
            ngx_hoop_pg_finalize(s, rc);
            return;
        }
    }

    b = ngx_hoop_pg_error_response(c->pool, "FATAL", sqlstate, &msg);

    if (b != NULL && !c->write->error) {
        (void) c->send(c, b->pos, b->last - b->pos);
    }

    ngx_hoop_pg_finalize(s, rc);
}


static void *
ngx_hoop_pg_create_main_conf(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t       *cln;
    ngx_hoop_pg_main_conf_t  *pmcf;

    pmcf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_pg_main_conf_t));
    if (pmcf == NULL) {
        return NULL;
    }

    pmcf->cancel_zone_size = NGX_CONF_UNSET_SIZE;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_hoop_pg_main_conf_cleanup;
    cln->data = pmcf;

    return pmcf;
}


/* the configuration goes away (reload, exit): so do the worker's caches */

static void
ngx_hoop_pg_main_conf_cleanup(void *data)
{
    ngx_hoop_pg_main_conf_t  *pmcf = data;

    if (pmcf->audit_text_cache) {
        ngx_hoop_pg_text_cache_destroy(pmcf->audit_text_cache);
        pmcf->audit_text_cache = NULL;
    }
}


static char *
ngx_hoop_pg_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_hoop_pg_main_conf_t *pmcf = conf;

    /* about 8000 sessions per megabyte */
    ngx_conf_init_size_value(pmcf->cancel_zone_size, 1024 * 1024);

    return NGX_CONF_OK;
}


/* the cancel zone exists when some server logs clients in itself */

static ngx_int_t
ngx_hoop_pg_postconfiguration(ngx_conf_t *cf)
{
    ngx_hoop_pg_main_conf_t  *pmcf;

    pmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_hoop_pg_module);

    if (pmcf->cancel_needed) {
        return ngx_hoop_pg_cancel_init_zone(cf);
    }

    return NGX_OK;
}


static void *
ngx_hoop_pg_create_srv_conf(ngx_conf_t *cf)
{
    ngx_hoop_pg_srv_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_pg_srv_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream = NULL;
     *     conf->oidc = NULL;
     *     conf->roles = NULL;
     *     conf->ssl = NULL;
     *     conf->ssl_certificate = { 0, NULL };
     *     conf->ssl_certificate_key = { 0, NULL };
     *     conf->ssl_ciphers = { 0, NULL };
     *     conf->ssl_protocols = 0;
     */

    conf->plaintext_login = NGX_CONF_UNSET;
    conf->max_password_size = NGX_CONF_UNSET_SIZE;
    conf->upstream_scram_max_iterations = NGX_CONF_UNSET_UINT;
    conf->max_message_size = NGX_CONF_UNSET_SIZE;
    conf->max_statement_size = NGX_CONF_UNSET_SIZE;
    conf->audit = NGX_CONF_UNSET;
    conf->audit_required = NGX_CONF_UNSET;
    conf->audit_text = NGX_CONF_UNSET_UINT;
    conf->upstream_ssl_mode = NGX_CONF_UNSET_UINT;

    conf->connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->startup_timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->buffer_size = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_hoop_pg_merge_srv_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_hoop_pg_srv_conf_t *prev = parent;
    ngx_hoop_pg_srv_conf_t *conf = child;

    ngx_conf_merge_msec_value(conf->connect_timeout,
                              prev->connect_timeout, 10000);
    ngx_conf_merge_msec_value(conf->startup_timeout,
                              prev->startup_timeout, 30000);
    ngx_conf_merge_str_value(conf->review_api, prev->review_api, "");
    ngx_conf_merge_msec_value(conf->idle_timeout,
                              prev->idle_timeout, 3600000);
    ngx_conf_merge_size_value(conf->buffer_size,
                              prev->buffer_size, 16384);
    ngx_conf_merge_value(conf->plaintext_login, prev->plaintext_login, 0);
    ngx_conf_merge_size_value(conf->max_password_size,
                              prev->max_password_size, 65536);
    ngx_conf_merge_uint_value(conf->upstream_scram_max_iterations,
                              prev->upstream_scram_max_iterations,
                              NGX_HOOP_PG_SCRAM_MAX_ITER);

    if (conf->upstream_scram_max_iterations == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_pg_upstream_scram_max_iterations must be "
                           "at least 1");
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_size_value(conf->max_message_size,
                              prev->max_message_size, 256 * 1024 * 1024);
    ngx_conf_merge_size_value(conf->max_statement_size,
                              prev->max_statement_size, 1024 * 1024);
    ngx_conf_merge_value(conf->audit, prev->audit, 0);
    ngx_conf_merge_value(conf->audit_required, prev->audit_required, 0);
    ngx_conf_merge_uint_value(conf->audit_text, prev->audit_text,
                              NGX_HOOP_PG_AUDIT_TEXT_NORMALIZED);

    if (ngx_hoop_pg_policy_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_hoop_pg_mask_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_str_value(conf->ssl_certificate,
                             prev->ssl_certificate, "");
    ngx_conf_merge_str_value(conf->ssl_certificate_key,
                             prev->ssl_certificate_key, "");
    ngx_conf_merge_bitmask_value(conf->ssl_protocols, prev->ssl_protocols,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3));
    ngx_conf_merge_str_value(conf->ssl_ciphers, prev->ssl_ciphers,
                             "HIGH:!aNULL:!MD5");

    if (conf->roles && conf->oidc == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"hoop_pg_role\" needs \"hoop_pg_auth\" "
                           "in the same server");
        return NGX_CONF_ERROR;
    }

    if (conf->upstream_ssl_mode == NGX_CONF_UNSET_UINT) {
        conf->upstream_ssl_mode = prev->upstream_ssl_mode;
        conf->upstream_ssl_ca = prev->upstream_ssl_ca;
        conf->upstream_ssl_name = prev->upstream_ssl_name;
    }

    /* as libpq: TLS when the server offers it */
    ngx_conf_init_uint_value(conf->upstream_ssl_mode,
                             NGX_HOOP_PG_UPSTREAM_SSL_PREFER);

    if (conf->upstream == NULL) {
        /* a server without hoop_pg: no TLS context to build */
        return NGX_CONF_OK;
    }

    if (ngx_hoop_pg_upstream_tls_conf(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    return ngx_hoop_pg_tls_conf(cf, conf);
}


/*
 * hoop_pg <upstream name | host:port>;
 * Like proxy_pass: a name refers to an upstream {} block, an address gets
 * an implicit one.
 */

static char *
ngx_hoop_pg(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    ngx_url_t                    u;
    ngx_str_t                   *value;
    ngx_stream_core_srv_conf_t  *cscf;

    if (pscf->upstream) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.no_resolve = 1;

    pscf->upstream = ngx_stream_upstream_add(cf, &u, 0);
    if (pscf->upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    cscf = ngx_stream_conf_get_module_srv_conf(cf, ngx_stream_core_module);

    if (cscf->handler) {
        return "conflicts with another content handler (proxy_pass?)";
    }

    cscf->handler = ngx_hoop_pg_handler;

    return NGX_CONF_OK;
}


/* hoop_pg_auth oidc=NAME; */

static char *
ngx_hoop_pg_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    ngx_str_t                *value, name;
    ngx_hoop_pg_main_conf_t  *pmcf;

    if (pscf->oidc) {
        return "is duplicate";
    }

    if (ngx_hoop_oidc_lookup == NULL || ngx_hoop_auth_verify == NULL
        || ngx_hoop_identity_has_group == NULL)
    {
        return "needs a matching ngx_hoop_auth_module.so";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "oidc=", 5) != 0 || value[1].len == 5) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": expected oidc=NAME",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    pscf->oidc = ngx_hoop_oidc_lookup(cf, &name);

    pmcf = ngx_stream_conf_get_module_main_conf(cf, ngx_hoop_pg_module);
    pmcf->cancel_needed = 1;

    if (pscf->oidc == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown OIDC provider \"%V\": declare it with "
                           "\"hoop_oidc %V ...\" at the main level, before "
                           "stream {}", &name, &name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * hoop_pg_role NAME user=USER password=SECRET [database=DB]
 *              [groups=G1,G2,...] [review=WINDOW];
 * SECRET is usually vault:NAME.
 */

static char *
ngx_hoop_pg_role(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    u_char              *p, *end, *comma;
    ngx_str_t           *value, *group, password, arg;
    ngx_uint_t           i;
    ngx_hoop_pg_role_t  *role;

    value = cf->args->elts;

    if (ngx_hoop_vault_resolve == NULL) {
        return "needs a matching ngx_hoop_auth_module.so";
    }

    if (pscf->roles == NULL) {
        pscf->roles = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_hoop_pg_role_t));
        if (pscf->roles == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    role = pscf->roles->elts;

    for (i = 0; i < pscf->roles->nelts; i++) {
        if (role[i].name.len == value[1].len
            && ngx_strncmp(role[i].name.data, value[1].data,
                           value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate role profile \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    role = ngx_array_push(pscf->roles);
    if (role == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(role, sizeof(ngx_hoop_pg_role_t));

    role->name = value[1];
    ngx_str_null(&password);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            role->user.data = value[i].data + 5;
            role->user.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            password.data = value[i].data + 9;
            password.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "database=", 9) == 0) {
            role->database.data = value[i].data + 9;
            role->database.len = value[i].len - 9;
            continue;
        }

        if (ngx_strncmp(value[i].data, "review=", 7) == 0) {
            /* logins need an approval, valid this long once given */
            arg.data = value[i].data + 7;
            arg.len = value[i].len - 7;

            role->review = ngx_parse_time(&arg, 1);

            if (role->review == (time_t) NGX_ERROR || role->review == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "groups=", 7) == 0) {
            role->groups = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
            if (role->groups == NULL) {
                return NGX_CONF_ERROR;
            }

            p = value[i].data + 7;
            end = value[i].data + value[i].len;

            while (p < end) {
                comma = ngx_strlchr(p, end, ',');
                if (comma == NULL) {
                    comma = end;
                }

                if (comma > p) {
                    group = ngx_array_push(role->groups);
                    if (group == NULL) {
                        return NGX_CONF_ERROR;
                    }

                    group->data = p;
                    group->len = comma - p;
                }

                p = comma + 1;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of role profile "
                           "\"%V\"", &value[i], &role->name);
        return NGX_CONF_ERROR;
    }

    if (role->user.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "role profile \"%V\" has no user=", &role->name);
        return NGX_CONF_ERROR;
    }

    /* a profile without password= logs in with trust */

    if (password.len
        && ngx_hoop_vault_resolve(cf, &password, &role->password) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* hoop_pg_upstream_ssl disable|prefer|require|verify-full [ca=] [name=]; */

static char *
ngx_hoop_pg_upstream_ssl(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    static ngx_conf_enum_t  modes[] = {
        { ngx_string("disable"), NGX_HOOP_PG_UPSTREAM_SSL_DISABLE },
        { ngx_string("prefer"), NGX_HOOP_PG_UPSTREAM_SSL_PREFER },
        { ngx_string("require"), NGX_HOOP_PG_UPSTREAM_SSL_REQUIRE },
        { ngx_string("verify-full"), NGX_HOOP_PG_UPSTREAM_SSL_VERIFY_FULL },
        { ngx_null_string, 0 }
    };

    if (pscf->upstream_ssl_mode != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; modes[i].name.len; i++) {
        if (modes[i].name.len == value[1].len
            && ngx_strncmp(modes[i].name.data, value[1].data,
                           value[1].len) == 0)
        {
            pscf->upstream_ssl_mode = modes[i].value;
            break;
        }
    }

    if (modes[i].name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid mode \"%V\": expected disable, prefer, "
                           "require or verify-full", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "ca=", 3) == 0) {
            pscf->upstream_ssl_ca.data = value[i].data + 3;
            pscf->upstream_ssl_ca.len = value[i].len - 3;
            continue;
        }

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            pscf->upstream_ssl_name.data = value[i].data + 5;
            pscf->upstream_ssl_name.len = value[i].len - 5;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
