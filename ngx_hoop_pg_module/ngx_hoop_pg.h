
/*
 * ngx_hoop_pg_module: the Postgres wire-protocol gateway (stream).
 */


#ifndef _NGX_HOOP_PG_H_INCLUDED_
#define _NGX_HOOP_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include <ngx_hoop.h>

#include "ngx_hoop_pg_weak.h"
#include "../ngx_hoop_auth_module/ngx_hoop_auth.h"
#include "../ngx_hoop_audit_module/ngx_hoop_audit.h"
#include "../ngx_hoop_mask_module/ngx_hoop_mask.h"


typedef struct {
    ngx_stream_upstream_srv_conf_t  *upstream;

    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       startup_timeout;
    ngx_msec_t                       idle_timeout;
    size_t                           buffer_size;
} ngx_hoop_pg_srv_conf_t;


typedef enum {
    NGX_HOOP_PG_STARTUP = 0,
    NGX_HOOP_PG_CONNECTING,
    NGX_HOOP_PG_RELAY
} ngx_hoop_pg_phase_e;


typedef struct {
    ngx_stream_session_t            *session;
    ngx_hoop_pg_phase_e              phase;

    /* the client's startup packets, then client -> server bytes */
    ngx_buf_t                       *client_buf;
    /* server -> client bytes */
    ngx_buf_t                       *server_buf;

    /* bytes of client_buf already handled during startup */
    size_t                           startup_len;

    ngx_uint_t                       ssl_requests;
    unsigned                         client_eof:1;
    unsigned                         server_eof:1;
} ngx_hoop_pg_ctx_t;


extern ngx_module_t  ngx_hoop_pg_module;


void ngx_hoop_pg_startup_read(ngx_event_t *rev);
void ngx_hoop_pg_upstream_connect(ngx_stream_session_t *s);
void ngx_hoop_pg_relay_start(ngx_stream_session_t *s);
void ngx_hoop_pg_finalize(ngx_stream_session_t *s, ngx_uint_t rc);
void ngx_hoop_pg_fatal(ngx_stream_session_t *s, const char *sqlstate,
    const char *message, ngx_uint_t rc);


#endif /* _NGX_HOOP_PG_H_INCLUDED_ */
