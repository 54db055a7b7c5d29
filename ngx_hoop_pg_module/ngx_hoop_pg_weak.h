
/*
 * Symbols the pg module takes from other .so files, declared weak.
 *
 * nginx dlopen()s modules with RTLD_NOW: a strong reference to a symbol of
 * ngx_stream_module.so would make a wrong load_module order fail with a bare
 * "undefined symbol".  Weak references resolve to NULL instead, and
 * ngx_hoop_pg_deps_module reports which module to load first.  Every
 * undefined symbol of ngx_hoop_pg_module.so that another module defines
 * must be listed here; `make check-weak` verifies it.
 */


#ifndef _NGX_HOOP_PG_WEAK_H_INCLUDED_
#define _NGX_HOOP_PG_WEAK_H_INCLUDED_


#pragma weak ngx_stream_module
#pragma weak ngx_stream_core_module
#pragma weak ngx_stream_upstream_module
#pragma weak ngx_stream_upstream_add
#pragma weak ngx_stream_finalize_session
#pragma weak ngx_stream_add_variable

#pragma weak ngx_hoop_auth_module
#pragma weak ngx_hoop_oidc_lookup
#pragma weak ngx_hoop_auth_verify
#pragma weak ngx_hoop_identity_has_group
#pragma weak ngx_hoop_vault_resolve
#pragma weak ngx_hoop_audit_module
#pragma weak ngx_hoop_audit_event
#pragma weak ngx_hoop_audit_available
#pragma weak ngx_hoop_review_request
#pragma weak ngx_hoop_review_gate
#pragma weak ngx_hoop_review_withdraw
#pragma weak ngx_hoop_review_id
#pragma weak ngx_hoop_mask_module
#pragma weak ngx_hoop_mask_rule_parse
#pragma weak ngx_hoop_mask_value
#pragma weak ngx_hoop_mask_text_stats
#pragma weak ngx_hoop_mask_detector_name
#pragma weak ngx_stream_get_variable_index
#pragma weak ngx_stream_get_indexed_variable


#endif /* _NGX_HOOP_PG_WEAK_H_INCLUDED_ */
