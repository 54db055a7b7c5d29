
/*
 * ngx_hoop_auth_http_module internals shared by its files: the access
 * handler (ngx_hoop_auth_http_module.c) and the $hoop_* variables
 * (ngx_hoop_auth_variables.c).
 */


#ifndef _NGX_HOOP_AUTH_HTTP_H_INCLUDED_
#define _NGX_HOOP_AUTH_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>
#include "ngx_hoop_oidc.h"


/* how long a request may wait for keys on top of the fetch timeout */
#define NGX_HOOP_AUTH_WAIT_SLACK  1000


typedef enum {
    ngx_hoop_require_value = 0,         /* any variable or expression */
    ngx_hoop_require_groups,            /* $hoop_groups: the group list */
    ngx_hoop_require_claim              /* $hoop_claim_*, claim_set vars */
} ngx_hoop_require_kind_e;


typedef struct {
    ngx_hoop_require_kind_e     kind;
    ngx_http_complex_value_t    value;
    ngx_array_t                *path;       /* claim: of ngx_str_t */
    ngx_array_t                *values;     /* of ngx_str_t, or NULL */
    ngx_uint_t                  status;     /* 401 or 403 */
    ngx_str_t                   text;       /* as written, for the log */
} ngx_hoop_auth_require_t;


typedef struct {
    ngx_str_t                   name;       /* without "$" */
    ngx_array_t                *path;
} ngx_hoop_auth_claim_var_t;


typedef struct {
    ngx_array_t                 claim_vars; /* of ngx_hoop_auth_claim_var_t */
} ngx_hoop_auth_main_conf_http_t;


typedef struct {
    ngx_hoop_oidc_t            *provider;   /* NULL: off */
    ngx_str_t                   realm;
    ngx_array_t                *requires;   /* of ngx_hoop_auth_require_t */
    ngx_flag_t                  pass_token;
} ngx_hoop_auth_loc_conf_t;


typedef struct {
    ngx_hoop_oidc_t            *provider;   /* that verified the identity */
    ngx_hoop_identity_t         identity;
    ngx_str_t                   token;      /* kept for internal redirects */
    ngx_msec_t                  start;
    yajl_val                    claims;     /* parsed for variables */
    unsigned                    verified:1;
    unsigned                    waiting:1;
    unsigned                    parsed:1;
} ngx_hoop_auth_ctx_t;


extern ngx_module_t  ngx_hoop_auth_http_module;


ngx_hoop_auth_ctx_t *ngx_hoop_auth_get_ctx(ngx_http_request_t *r);
ngx_int_t ngx_hoop_auth_add_variables(ngx_conf_t *cf);

/* the verified token's claims, parsed once per request; a value as text */
yajl_val ngx_hoop_auth_claims(ngx_http_request_t *r,
    ngx_hoop_auth_ctx_t *ctx);
ngx_int_t ngx_hoop_auth_render(ngx_pool_t *pool, yajl_val v, ngx_str_t *s);
char *ngx_hoop_auth_claim_set(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


#endif /* _NGX_HOOP_AUTH_HTTP_H_INCLUDED_ */
