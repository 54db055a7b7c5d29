
/*
 * Statement policy of the Postgres gateway: deny rules evaluated on
 * PostgreSQL's own grammar (libpg_query).  The relay calls
 * ngx_hoop_pg_policy_check() for every Query and Parse message and
 * ngx_hoop_pg_policy_check_call() for every FunctionCall; it makes the
 * server raise the error for a denied message, so transaction state stays
 * PostgreSQL's own.
 */


#ifndef _NGX_HOOP_PG_POLICY_H_INCLUDED_
#define _NGX_HOOP_PG_POLICY_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>


typedef struct {
    ngx_str_t       rule;       /* which rule: for logs and the audit */
    ngx_str_t       message;    /* for the client (no secrets, no SQL) */
    ngx_msec_t      timeout;    /* review: how long a decision may take */
} ngx_hoop_pg_verdict_t;


/*
 * A statement a hoop_pg_review rule matches (and no deny rule): it waits
 * for a human decision (ngx_hoop_pg_review.c).  Deny wins over review,
 * review over allow.
 */
#define NGX_HOOP_PG_POLICY_REVIEW  NGX_BUSY


/* what the session knows that policy depends on (kept by the relay) */
typedef struct {
    ngx_str_t      *role;                   /* role profile, may be NULL */
    ngx_array_t    *groups;                 /* the identity's groups
                                               (ngx_str_t), may be NULL */
    unsigned        std_strings_off:1;      /* standard_conforming_strings
                                               is off */
    unsigned        encoding_not_utf8:1;    /* client_encoding != UTF8 */
} ngx_hoop_pg_policy_session_t;


/* directive handlers: conf is ngx_hoop_pg_srv_conf_t, ->policy */
char *ngx_hoop_pg_policy_deny(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_hoop_pg_policy_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_hoop_pg_policy_review(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* merge time: inherit/validate; prev/conf are ngx_hoop_pg_srv_conf_t */
char *ngx_hoop_pg_policy_merge(ngx_conf_t *cf, void *prev, void *conf);

/*
 * sql: the statement text of a Query or Parse message (not NUL-terminated
 * in the message buffer: len given).  NGX_OK: allowed; NGX_DECLINED:
 * denied, *v filled (from pool); NGX_HOOP_PG_POLICY_REVIEW: to be
 * reviewed, *v filled (rule, message, timeout); NGX_ERROR: internal
 * failure (the caller denies: fail closed).
 */
ngx_int_t ngx_hoop_pg_policy_check(void *policy,
    ngx_hoop_pg_policy_session_t *ps, u_char *sql, size_t len,
    ngx_pool_t *pool, ngx_log_t *log, ngx_hoop_pg_verdict_t *v);

/* a FunctionCall ('F') message for function oid */
ngx_int_t ngx_hoop_pg_policy_check_call(void *policy,
    ngx_hoop_pg_policy_session_t *ps, uint32_t oid, ngx_pool_t *pool,
    ngx_log_t *log, ngx_hoop_pg_verdict_t *v);


#endif /* _NGX_HOOP_PG_POLICY_H_INCLUDED_ */
