
/*
 * ngx_hoop_audit_module: the API other ngx_hoop modules call.
 */


#ifndef _NGX_HOOP_AUDIT_H_INCLUDED_
#define _NGX_HOOP_AUDIT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_hoop.h>


typedef struct {
    ngx_flag_t  loaded;
} ngx_hoop_audit_main_conf_t;


/* one field of an audit event (see the audit module's documentation) */
typedef struct {
    ngx_str_t   name;
    ngx_str_t   value;
} ngx_hoop_audit_field_t;


/* queue one event for Redis (or the spool); never blocks */
ngx_int_t ngx_hoop_audit_event(ngx_log_t *log, ngx_str_t *type,
    ngx_hoop_audit_field_t *fields, ngx_uint_t n);


extern ngx_module_t  ngx_hoop_audit_module;


#endif /* _NGX_HOOP_AUDIT_H_INCLUDED_ */
