
/*
 * The pg gateway's audit events, shared by ngx_hoop_pg_audit*.c and
 * ngx_hoop_pg_review.c: building an event's fields and sending it.
 */


#ifndef _NGX_HOOP_PG_AUDIT_H_INCLUDED_
#define _NGX_HOOP_PG_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


#define NGX_HOOP_PG_AUDIT_FIELDS  32


typedef struct {
    ngx_hoop_audit_field_t   field[NGX_HOOP_PG_AUDIT_FIELDS];
    ngx_uint_t               n;
    ngx_pool_t              *pool;
} ngx_hoop_pg_audit_fields_t;


ngx_uint_t ngx_hoop_pg_audit_enabled(ngx_stream_session_t *s);
void ngx_hoop_pg_audit_relay(ngx_stream_session_t *s);
void ngx_hoop_pg_audit_add(ngx_hoop_pg_audit_fields_t *f, const char *name,
    ngx_str_t *value);
void ngx_hoop_pg_audit_add_uint(ngx_hoop_pg_audit_fields_t *f,
    const char *name, ngx_uint_t value);
void ngx_hoop_pg_audit_session(ngx_stream_session_t *s,
    ngx_hoop_pg_audit_fields_t *f);
void ngx_hoop_pg_audit_send(ngx_stream_session_t *s, const char *type,
    ngx_hoop_pg_audit_fields_t *f);

/*
 * The statement text as the audit records it, in pool: mode is
 * hoop_pg_audit_text's (normalized: literals as $n; full; none).  Empty
 * for none, and for a text that does not parse when normalized (its
 * literals cannot be found).
 */
void ngx_hoop_pg_audit_text(u_char *sql, size_t len, ngx_uint_t mode,
    ngx_pool_t *pool, ngx_str_t *text);


#endif /* _NGX_HOOP_PG_AUDIT_H_INCLUDED_ */
