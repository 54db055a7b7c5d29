
/* placeholder: being written */


#include <ngx_config.h>
#include <ngx_core.h>

static ngx_core_module_t  ngx_hoop_vault_module_ctx = { ngx_string("ngx_hoop_vault_module"), NULL, NULL };

ngx_module_t  ngx_hoop_vault_module = {
    NGX_MODULE_V1, &ngx_hoop_vault_module_ctx, NULL, NGX_CORE_MODULE,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NGX_MODULE_V1_PADDING
};
