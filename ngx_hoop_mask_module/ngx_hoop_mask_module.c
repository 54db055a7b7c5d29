
/*
 * ngx_hoop_mask_module: masking rules, detectors and strategies.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_mask.h"


static void *ngx_hoop_mask_create_conf(ngx_cycle_t *cycle);


static ngx_core_module_t  ngx_hoop_mask_module_ctx = {
    ngx_string("hoop_mask"),
    ngx_hoop_mask_create_conf,
    NULL
};


ngx_module_t  ngx_hoop_mask_module = {
    NGX_MODULE_V1,
    &ngx_hoop_mask_module_ctx,             /* module context */
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
ngx_hoop_mask_create_conf(ngx_cycle_t *cycle)
{
    ngx_hoop_mask_main_conf_t  *mmcf;

    mmcf = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_mask_main_conf_t));
    if (mmcf == NULL) {
        return NULL;
    }

    mmcf->loaded = 1;

    return mmcf;
}
