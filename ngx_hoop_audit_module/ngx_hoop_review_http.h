
/*
 * ngx_hoop_review_http_module internals shared by its files: the
 * hoop_review access gate (ngx_hoop_review_http.c) and the hoop_api
 * content handler (ngx_hoop_review_api.c).
 */


#ifndef _NGX_HOOP_REVIEW_HTTP_H_INCLUDED_
#define _NGX_HOOP_REVIEW_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_hoop_review_int.h"
#include "../ngx_hoop_auth_module/ngx_hoop_auth_http.h"


typedef struct {
    ngx_flag_t                  review;     /* hoop_review */
    ngx_str_t                   scope;
    time_t                      window;     /* 0: hoop_review_window */
    ngx_msec_t                  timeout;    /* 0: hoop_review_timeout */
    ngx_str_t                   api;        /* for the hint in the 403 */
    ngx_flag_t                  hold;       /* a review per request */

    ngx_flag_t                  self_approve;
    ngx_array_t                *approvers;  /* of ngx_str_t */
} ngx_hoop_review_loc_conf_t;


extern ngx_module_t  ngx_hoop_review_http_module;


/* the verified identity of the request, or NULL */
ngx_hoop_identity_t *ngx_hoop_review_identity(ngx_http_request_t *r);

/* send a JSON body made by ngx_hoop_review_json_*() or a literal */
ngx_int_t ngx_hoop_review_send_json(ngx_http_request_t *r,
    ngx_uint_t status, u_char *body, size_t len);
/* {"error": text} with the status */
ngx_int_t ngx_hoop_review_send_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *text);

ngx_int_t ngx_hoop_api_handler(ngx_http_request_t *r);


#endif /* _NGX_HOOP_REVIEW_HTTP_H_INCLUDED_ */
