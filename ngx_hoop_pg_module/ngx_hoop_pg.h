
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
#include "ngx_hoop_pg_scram.h"
#include "ngx_hoop_pg_proto.h"
#include "ngx_hoop_pg_policy.h"
#include "../ngx_hoop_auth_module/ngx_hoop_auth.h"
#include "../ngx_hoop_audit_module/ngx_hoop_audit.h"
#include "../ngx_hoop_mask_module/ngx_hoop_mask.h"


#define NGX_HOOP_PG_UPSTREAM_SSL_DISABLE      0
#define NGX_HOOP_PG_UPSTREAM_SSL_PREFER       1
#define NGX_HOOP_PG_UPSTREAM_SSL_REQUIRE      2
#define NGX_HOOP_PG_UPSTREAM_SSL_VERIFY_FULL  3


#ifndef NGX_HOOP_PG_TEXT_CACHE_T
#define NGX_HOOP_PG_TEXT_CACHE_T
typedef struct ngx_hoop_pg_text_cache_s  ngx_hoop_pg_text_cache_t;
#endif

typedef struct {
    ngx_shm_zone_t                  *cancel_zone;
    size_t                           cancel_zone_size;
    ngx_flag_t                       cancel_needed;

    /* normalized statement texts, per worker, on first use */
    ngx_hoop_pg_text_cache_t        *audit_text_cache;
} ngx_hoop_pg_main_conf_t;


/* hoop_pg_role: what a startup "user" name stands for */
typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        user;          /* upstream user */
    ngx_str_t                        password;      /* from the vault */
    ngx_str_t                        database;      /* empty: client's */
    ngx_array_t                     *groups;        /* of ngx_str_t */
    time_t                           review;        /* review=: approval
                                                       window, 0: none */

    /*
     * SCRAM: the PBKDF2 result for the last salt and iteration count the
     * server sent.  Per worker (written at run time in the worker's copy).
     */
    ngx_hoop_pg_scram_cache_t        scram;
} ngx_hoop_pg_role_t;


typedef struct {
    ngx_stream_upstream_srv_conf_t  *upstream;

    ngx_hoop_oidc_t                 *oidc;          /* hoop_pg_auth */
    ngx_array_t                     *roles;         /* ngx_hoop_pg_role_t */
    ngx_flag_t                       plaintext_login;

    void                            *policy;        /* hoop_pg_deny/allow:
                                                       ngx_hoop_pg_policy.c */

    ngx_ssl_t                       *ssl;           /* hoop_pg_ssl_* */
    ngx_str_t                        ssl_certificate;
    ngx_str_t                        ssl_certificate_key;
    ngx_uint_t                       ssl_protocols;
    ngx_str_t                        ssl_ciphers;

    ngx_uint_t                       upstream_ssl_mode;
    ngx_ssl_t                       *upstream_ssl;
    ngx_str_t                        upstream_ssl_ca;
    ngx_str_t                        upstream_ssl_name;
    ngx_uint_t                       upstream_scram_max_iterations;

    ngx_msec_t                       connect_timeout;
    ngx_msec_t                       startup_timeout;
    ngx_msec_t                       idle_timeout;
    size_t                           buffer_size;
    size_t                           max_password_size;
    size_t                           max_message_size;
    size_t                           max_statement_size;

    ngx_str_t                        review_api;    /* hoop_pg_review_api */
    void                            *mask;          /* hoop_pg_mask:
                                                       ngx_hoop_pg_mask.c */

    ngx_flag_t                       audit;         /* hoop_audit */
    ngx_flag_t                       audit_required;
    ngx_uint_t                       audit_text;    /* hoop_pg_audit_text */
} ngx_hoop_pg_srv_conf_t;


#define NGX_HOOP_PG_AUDIT_TEXT_NONE        0
#define NGX_HOOP_PG_AUDIT_TEXT_NORMALIZED  1
#define NGX_HOOP_PG_AUDIT_TEXT_FULL        2


typedef enum {
    NGX_HOOP_PG_STARTUP = 0,
    NGX_HOOP_PG_CLIENT_AUTH,
    NGX_HOOP_PG_CONNECTING,
    NGX_HOOP_PG_UPSTREAM_LOGIN,
    NGX_HOOP_PG_RELAY
} ngx_hoop_pg_phase_e;


typedef struct {
    ngx_str_t                        name;
    ngx_str_t                        value;
} ngx_hoop_pg_param_t;


typedef struct ngx_hoop_pg_gate_s  ngx_hoop_pg_gate_t;

struct ngx_hoop_pg_gate_s {
    ngx_buf_t                      **buf;
    u_char                          *ready;        /* sendable up to here */
    size_t                           skip;         /* of a passing message */
    size_t                           limit;        /* of a whole message */

    /* each message header; NGX_ERROR: the session was finalized */
    ngx_int_t                      (*header)(ngx_stream_session_t *s,
                                             u_char type, size_t len);
    /* is this message to be held whole and inspected? */
    ngx_uint_t                     (*whole)(ngx_stream_session_t *s,
                                            u_char type, size_t len);
    /* a whole message: returns its (new) length, 0 if finalized */
    size_t                         (*inspect)(ngx_stream_session_t *s,
                                              ngx_hoop_pg_gate_t *gate,
                                              u_char *msg, size_t len);
    unsigned                         from_server:1;
    unsigned                         seen:1;
    unsigned                         held:1;       /* a statement at ready
                                                      waits for a review */
    unsigned                         hold:1;       /* masking: ready stays
                                                      put */
};


/* what inspect returns for a message it removed from the buffer */
#define NGX_HOOP_PG_GATE_DROPPED  ((size_t) -1)


/* statements in flight, for their audit events: ngx_hoop_pg_audit_stmt.c */
typedef struct ngx_hoop_pg_audit_s  ngx_hoop_pg_audit_t;


/* a denied statement waiting for the server's error to replace */
typedef struct {
    ngx_uint_t                       n;
    ngx_str_t                        message;
    const char                      *sqlstate;
} ngx_hoop_pg_denial_t;


typedef struct {
    ngx_stream_session_t            *session;
    ngx_hoop_pg_phase_e              phase;

    /* the client's startup packets, then client -> server bytes */
    ngx_buf_t                       *client_buf;
    /* server -> client bytes */
    ngx_buf_t                       *server_buf;

    /* the StartupMessage: its parameters, and the raw packet */
    ngx_array_t                     *params;        /* ngx_hoop_pg_param_t */
    ngx_str_t                        user;
    ngx_str_t                        database;
    ngx_str_t                        startup;
    ngx_uint_t                       protocol_minor;

    ngx_str_t                        session_id;    /* random, hex */
    ngx_str_t                        role_name;
    ngx_str_t                        token_id;
    const char                      *end_reason;

    ngx_str_t                        token;         /* in client_buf */
    ngx_hoop_identity_t              identity;
    ngx_hoop_pg_role_t              *role;
    ngx_event_t                      verify_retry;
    ngx_msec_t                       verify_start;

    ngx_hoop_pg_scram_t             *scram;        /* login: SCRAM */
    ngx_buf_t                       *login_out;    /* greeting, for the
                                                      client */
    void                            *cancel;       /* cancel zone entry */
    ngx_hoop_pg_audit_t             *audit;        /* audit: in flight */
    void                            *review;       /* a held statement:
                                                      ngx_hoop_pg_review.c */
    ngx_connection_t                *cancel_peer;  /* forwarding one */

    /* message boundaries of both directions while relaying */
    ngx_hoop_pg_gate_t               client_gate;
    ngx_hoop_pg_gate_t               server_gate;
    ngx_uint_t                       statements;    /* Query + Execute */

    /* policy: denials whose server error is still to be replaced */
    ngx_array_t                     *denials;      /* ngx_hoop_pg_denial_t */
    ngx_uint_t                       denial_seq;
    unsigned                         std_strings_off:1;
    unsigned                         encoding_not_utf8:1;
    ngx_uint_t                       in_flight;     /* unanswered syncs */

    void                            *mask;         /* ngx_hoop_pg_mask.c */

    ngx_uint_t                       ssl_requests;
    unsigned                         authenticated:1;
    unsigned                         tls_direct:1;
    unsigned                         peeked:1;
    unsigned                         scram_final_sent:1;
    unsigned                         scram_verified:1;
    unsigned                         client_eof:1;
    unsigned                         server_eof:1;
} ngx_hoop_pg_ctx_t;


extern ngx_module_t  ngx_hoop_pg_module;


void ngx_hoop_pg_startup_read(ngx_event_t *rev);
void ngx_hoop_pg_client_auth_start(ngx_stream_session_t *s);
char *ngx_hoop_pg_tls_conf(ngx_conf_t *cf, ngx_hoop_pg_srv_conf_t *conf);
void ngx_hoop_pg_tls_start(ngx_stream_session_t *s, ngx_uint_t direct);
void ngx_hoop_pg_upstream_connect(ngx_stream_session_t *s);
void ngx_hoop_pg_login_start(ngx_stream_session_t *s);
void ngx_hoop_pg_login_begin(ngx_stream_session_t *s);
void ngx_hoop_pg_login_failed(ngx_stream_session_t *s, const char *why);
char *ngx_hoop_pg_upstream_tls_conf(ngx_conf_t *cf,
    ngx_hoop_pg_srv_conf_t *conf);
void ngx_hoop_pg_upstream_tls_start(ngx_stream_session_t *s);
ngx_int_t ngx_hoop_pg_cancel_register(ngx_stream_session_t *s,
    u_char *key);
void ngx_hoop_pg_cancel_busy(ngx_stream_session_t *s, ngx_uint_t busy);
void ngx_hoop_pg_cancel_request(ngx_stream_session_t *s, u_char *packet);
ngx_int_t ngx_hoop_pg_cancel_init_zone(ngx_conf_t *cf);
ngx_int_t ngx_hoop_pg_add_variables(ngx_conf_t *cf);

void ngx_hoop_pg_audit_auth(ngx_stream_session_t *s, ngx_uint_t ok,
    const char *reason);
void ngx_hoop_pg_audit_open(ngx_stream_session_t *s);
void ngx_hoop_pg_audit_statement(ngx_stream_session_t *s, u_char *msg,
    u_char *sql, size_t len, ngx_hoop_pg_verdict_t *v, ngx_pool_t *pool);
void ngx_hoop_pg_audit_statement_as(ngx_stream_session_t *s, u_char *msg,
    u_char *sql, size_t len, ngx_str_t *rule, const char *decision,
    ngx_str_t *review, ngx_pool_t *pool);
void ngx_hoop_pg_audit_close(ngx_stream_session_t *s);
ngx_int_t ngx_hoop_pg_audit_admit(ngx_stream_session_t *s);
void ngx_hoop_pg_audit_unanswered(ngx_stream_session_t *s);
ngx_uint_t ngx_hoop_pg_audit_client_whole(ngx_stream_session_t *s,
    u_char type, size_t len);
void ngx_hoop_pg_audit_client(ngx_stream_session_t *s, u_char *msg,
    size_t len);
void ngx_hoop_pg_audit_answer(ngx_stream_session_t *s, u_char type,
    size_t len);
ngx_uint_t ngx_hoop_pg_audit_waits(ngx_stream_session_t *s);
void ngx_hoop_pg_audit_result(ngx_stream_session_t *s, u_char *msg,
    size_t len);

size_t ngx_hoop_pg_enforce_deny(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len, const char *sqlstate,
    ngx_str_t *message, ngx_pool_t *tmp);
size_t ngx_hoop_pg_review_hold(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len, u_char *sql,
    size_t sql_len, ngx_hoop_pg_verdict_t *v, ngx_pool_t *tmp);
ngx_int_t ngx_hoop_pg_review_session(ngx_stream_session_t *s);
void ngx_hoop_pg_login_proceed(ngx_stream_session_t *s);
void ngx_hoop_pg_cancel_hold(ngx_stream_session_t *s, ngx_uint_t held);
ngx_uint_t ngx_hoop_pg_cancel_taken(ngx_stream_session_t *s);

ngx_int_t ngx_hoop_pg_gate_run(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate);
u_char *ngx_hoop_pg_gate_replace(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t old_len, u_char *data,
    size_t new_len);

void ngx_hoop_pg_enforce_init(ngx_stream_session_t *s);
ngx_uint_t ngx_hoop_pg_client_whole(ngx_stream_session_t *s, u_char type,
    size_t len);
size_t ngx_hoop_pg_client_inspect(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len);
ngx_uint_t ngx_hoop_pg_server_whole(ngx_stream_session_t *s, u_char type,
    size_t len);
size_t ngx_hoop_pg_server_inspect(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len);
void ngx_hoop_pg_relay_start(ngx_stream_session_t *s);

char *ngx_hoop_pg_mask_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_hoop_pg_mask_max_row(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_hoop_pg_mask_cache_time(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_hoop_pg_mask_merge(ngx_conf_t *cf, ngx_hoop_pg_srv_conf_t *prev,
    ngx_hoop_pg_srv_conf_t *conf);
ngx_int_t ngx_hoop_pg_mask_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_hoop_pg_mask_init(ngx_stream_session_t *s);
void ngx_hoop_pg_mask_client_header(ngx_stream_session_t *s, u_char type);
ngx_uint_t ngx_hoop_pg_mask_client_whole(ngx_stream_session_t *s,
    u_char type);
size_t ngx_hoop_pg_mask_client_inspect(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len);
ngx_int_t ngx_hoop_pg_mask_server_header(ngx_stream_session_t *s,
    u_char type, size_t len);
ngx_uint_t ngx_hoop_pg_mask_server_whole(ngx_stream_session_t *s,
    u_char type, size_t len);
size_t ngx_hoop_pg_mask_server_inspect(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len);
void ngx_hoop_pg_mask_audit(ngx_stream_session_t *s, ngx_pool_t *pool,
    ngx_str_t *out);
void ngx_hoop_pg_client_wait(ngx_event_t *ev);
void ngx_hoop_pg_end_reason(ngx_stream_session_t *s, const char *reason);
void ngx_hoop_pg_finalize(ngx_stream_session_t *s, ngx_uint_t rc);
void ngx_hoop_pg_close_upstream(ngx_connection_t *pc);
ngx_int_t ngx_hoop_pg_client_read(ngx_stream_session_t *s, ngx_buf_t *b,
    const char *during);
void ngx_hoop_pg_fatal(ngx_stream_session_t *s, const char *sqlstate,
    const char *message, ngx_uint_t rc);


#endif /* _NGX_HOOP_PG_H_INCLUDED_ */
