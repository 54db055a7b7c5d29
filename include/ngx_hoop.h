
/*
 * ngx_hoop: definitions shared by the four modules.
 */


#ifndef _NGX_HOOP_H_INCLUDED_
#define _NGX_HOOP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * Modules of one .so refer to modules of another through weak symbols, so
 * that a wrong load_module order shows up as a NULL address we can report
 * with a clear message, instead of a dlopen() "undefined symbol" error.
 * Call this from a core module's create_conf(): that runs while the
 * load_module directive is being processed.
 */

static ngx_inline ngx_int_t
ngx_hoop_require_module(ngx_cycle_t *cycle, void *module, const char *needed,
    const char *needed_so, const char *self_so)
{
    if (module != NULL) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                  "%s needs %s: put \"load_module modules/%s;\" before "
                  "\"load_module modules/%s;\" (load order: "
                  "ngx_stream_module.so, ngx_hoop_auth_module.so, "
                  "ngx_hoop_audit_module.so, ngx_hoop_mask_module.so, "
                  "ngx_hoop_pg_module.so)",
                  self_so, needed, needed_so, self_so);

    return NGX_ERROR;
}


#endif /* _NGX_HOOP_H_INCLUDED_ */
