
/*
 * ngx_hoop_pg_deps_module: a core module inside ngx_hoop_pg_module.so
 * whose only job is to check, while "load_module" runs, that the modules
 * the gateway needs were loaded before it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_pg.h"


static void *ngx_hoop_pg_deps_create_conf(ngx_cycle_t *cycle);


static ngx_core_module_t  ngx_hoop_pg_deps_module_ctx = {
    ngx_string("hoop_pg_deps"),
    ngx_hoop_pg_deps_create_conf,
    NULL
};


ngx_module_t  ngx_hoop_pg_deps_module = {
    NGX_MODULE_V1,
    &ngx_hoop_pg_deps_module_ctx,          /* module context */
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
ngx_hoop_pg_deps_create_conf(ngx_cycle_t *cycle)
{
    static const struct {
        void        *module;
        const char  *name;
        const char  *so;
    } deps[] = {
        { &ngx_stream_module, "ngx_stream_module",
          "ngx_stream_module.so" },
        { &ngx_hoop_auth_module, "ngx_hoop_auth_module",
          "ngx_hoop_auth_module.so" },
        { &ngx_hoop_audit_module, "ngx_hoop_audit_module",
          "ngx_hoop_audit_module.so" },
        { &ngx_hoop_mask_module, "ngx_hoop_mask_module",
          "ngx_hoop_mask_module.so" },
    };

    ngx_uint_t  i;

    for (i = 0; i < sizeof(deps) / sizeof(deps[0]); i++) {
        if (ngx_hoop_require_module(cycle, deps[i].module, deps[i].name,
                                    deps[i].so, "ngx_hoop_pg_module.so")
            != NGX_OK)
        {
            return NULL;
        }
    }

    /* a core module must return a non-NULL conf to signal success */
    return ngx_pcalloc(cycle->pool, 1);
}
