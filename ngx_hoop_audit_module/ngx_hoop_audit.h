
/*
 * ngx_hoop_audit_module: the API other ngx_hoop modules call.
 *
 * An audit event is a type ("session.open", "statement", ...) and a list of
 * name/value fields.  ngx_hoop_audit_event() returns at once: the event is
 * queued for an XADD to the Redis stream, or written to the local spool
 * when Redis is away or slow, and replayed from there later.  The event
 * schema is documented in docs/audit.md.
 *
 * Secrets: the API records what it is given.  Callers never pass a bearer
 * token, a password or a key as a field value (a token's hash prefix,
 * ngx_hoop_identity_t.token_id, is what identifies it).  The module never
 * writes a field value to the error log, at any level.
 *
 * Other .so files reference these functions weakly (a NULL address means
 * ngx_hoop_audit_module.so is not loaded):
 *
 *     #pragma weak ngx_hoop_audit_event
 *     #pragma weak ngx_hoop_audit_available
 */


#ifndef _NGX_HOOP_AUDIT_H_INCLUDED_
#define _NGX_HOOP_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_hoop.h>


typedef struct {
    ngx_str_t   name;       /* [a-z0-9_.]; "type", "time", "eid", "host"
                               and "truncated" are set by the module */
    ngx_str_t   value;      /* any bytes; empty values are left out */
} ngx_hoop_audit_field_t;


/* at most this many caller fields per event; more are an error */
#define NGX_HOOP_AUDIT_MAX_FIELDS  64


/*
 * Record one event.  Never blocks on Redis; may write (and, with
 * "fsync=always", sync) the local spool file.  The values are copied.
 *
 *   NGX_OK        queued for Redis or written to the spool
 *   NGX_DECLINED  auditing is not configured (no "hoop_redis"): nothing
 *                 was recorded
 *   NGX_ERROR     the event could be neither queued nor spooled: it is
 *                 lost, counted as "dropped" and logged at error level
 */
ngx_int_t ngx_hoop_audit_event(ngx_log_t *log, ngx_str_t *type,
    ngx_hoop_audit_field_t *fields, ngx_uint_t n);


/*
 * Would an event be recorded now?  NGX_OK when it would be queued or
 * spooled, NGX_DECLINED when auditing is not configured, NGX_ERROR when it
 * would be dropped (Redis away and the spool full, unwritable or not
 * configured).  For "fail new sessions when audit is impossible".
 */
ngx_int_t ngx_hoop_audit_available(void);


extern ngx_module_t  ngx_hoop_audit_module;


#endif /* _NGX_HOOP_AUDIT_H_INCLUDED_ */
