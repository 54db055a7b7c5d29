
/*
 * Stream variables of the Postgres gateway, for log_format and map.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


static ngx_int_t ngx_hoop_pg_variable_str(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_pg_variable_statements(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_pg_variable_end_reason(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);


#define ngx_hoop_pg_ctx_str(field)  offsetof(ngx_hoop_pg_ctx_t, field)


static ngx_stream_variable_t  ngx_hoop_pg_vars[] = {

    { ngx_string("hoop_pg_session_id"), NULL, ngx_hoop_pg_variable_str,
      ngx_hoop_pg_ctx_str(session_id), NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_user"), NULL, ngx_hoop_pg_variable_str,
      ngx_hoop_pg_ctx_str(identity.user), NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_email"), NULL, ngx_hoop_pg_variable_str,
      ngx_hoop_pg_ctx_str(identity.email), NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_role"), NULL, ngx_hoop_pg_variable_str,
      ngx_hoop_pg_ctx_str(role_name), NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_database"), NULL, ngx_hoop_pg_variable_str,
      ngx_hoop_pg_ctx_str(database), NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_token_id"), NULL, ngx_hoop_pg_variable_str,
      ngx_hoop_pg_ctx_str(token_id), NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_statements"), NULL,
      ngx_hoop_pg_variable_statements, 0, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_end_reason"), NULL,
      ngx_hoop_pg_variable_end_reason, 0, NGX_STREAM_VAR_NOCACHEABLE, 0 },

      ngx_stream_null_variable
};


ngx_int_t
ngx_hoop_pg_add_variables(ngx_conf_t *cf)
{
    ngx_stream_variable_t  *var, *v;

    for (v = ngx_hoop_pg_vars; v->name.len; v++) {
        var = ngx_stream_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return ngx_hoop_pg_mask_add_variables(cf);
}


/* an ngx_str_t member of the session's context, at offset data */

static ngx_int_t
ngx_hoop_pg_variable_str(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_str_t          *str;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    str = (ngx_str_t *) ((u_char *) ctx + data);

    if (str->len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = str->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = str->data;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_pg_variable_statements(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    u_char             *p;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(s->connection->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(p, "%ui", ctx->statements) - p;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_pg_variable_end_reason(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx == NULL || ctx->end_reason == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ngx_strlen(ctx->end_reason);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = (u_char *) ctx->end_reason;

    return NGX_OK;
}
