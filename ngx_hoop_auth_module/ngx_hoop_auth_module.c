
/*
 * ngx_hoop_auth_module: main-level configuration shared by HTTP and stream
 * servers (identity providers, the vault).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_oidc.h"


static void *ngx_hoop_auth_create_conf(ngx_cycle_t *cycle);


static ngx_core_module_t  ngx_hoop_auth_module_ctx = {
    ngx_string("hoop_auth"),
    ngx_hoop_auth_create_conf,
    NULL
};


ngx_module_t  ngx_hoop_auth_module = {
    NGX_MODULE_V1,
    &ngx_hoop_auth_module_ctx,             /* module context */
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
ngx_hoop_auth_create_conf(ngx_cycle_t *cycle)
{
    ngx_hoop_auth_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_auth_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    amcf->loaded = 1;

    return amcf;
}
