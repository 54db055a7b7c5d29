
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


extern ngx_module_t  ngx_hoop_audit_module;


#endif /* _NGX_HOOP_AUDIT_H_INCLUDED_ */
