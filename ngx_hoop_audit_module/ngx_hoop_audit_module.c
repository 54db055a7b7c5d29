
/*
 * ngx_hoop_audit_module: Redis connection, audit events, reviews.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_audit.h"
#include "../ngx_hoop_auth_module/ngx_hoop_auth.h"


/* the vault lives in the auth module: see ngx_hoop_require_module() */
#pragma weak ngx_hoop_auth_module


static void *ngx_hoop_audit_create_conf(ngx_cycle_t *cycle);


static ngx_core_module_t  ngx_hoop_audit_module_ctx = {
    ngx_string("hoop_audit"),
    ngx_hoop_audit_create_conf,
    NULL
};


ngx_module_t  ngx_hoop_audit_module = {
    NGX_MODULE_V1,
    &ngx_hoop_audit_module_ctx,            /* module context */
    NULL,                                  /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_hoop_audit_create_conf(ngx_cycle_t *cycle)
{
    ngx_hoop_audit_main_conf_t  *amcf;

    if (ngx_hoop_require_module(cycle, &ngx_hoop_auth_module,
                                "ngx_hoop_auth_module",
                                "ngx_hoop_auth_module.so",
                                "ngx_hoop_audit_module.so")
        != NGX_OK)
    {
        return NULL;
    }

    amcf = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_audit_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    amcf->loaded = 1;

    return amcf;
}
