
/*
 * Statement policy: being written (issue #5).  Until then hoop_pg_deny and
 * hoop_pg_allow fail the configuration, so no server runs believing it
 * has rules it does not have.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


char *
ngx_hoop_pg_policy_deny(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not available in this build yet";
}


char *
ngx_hoop_pg_policy_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return "is not available in this build yet";
}


char *
ngx_hoop_pg_policy_merge(ngx_conf_t *cf, void *prev, void *conf)
{
    return NGX_CONF_OK;
}


ngx_int_t
ngx_hoop_pg_policy_check(void *policy, ngx_hoop_pg_policy_session_t *ps,
    u_char *sql, size_t len, ngx_pool_t *pool, ngx_log_t *log,
    ngx_hoop_pg_verdict_t *v)
{
    return NGX_ERROR;
}


ngx_int_t
ngx_hoop_pg_policy_check_call(void *policy, ngx_hoop_pg_policy_session_t *ps,
    uint32_t oid, ngx_pool_t *pool, ngx_log_t *log, ngx_hoop_pg_verdict_t *v)
{
    return NGX_ERROR;
}
