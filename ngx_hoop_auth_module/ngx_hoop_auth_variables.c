
/*
 * The $hoop_* variables of the HTTP access check: identity, groups, token
 * id, and claims (top-level by name, nested through hoop_auth_claim_set),
 * rendered from the verified token's payload.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_hoop_auth_http.h"


static ngx_int_t ngx_hoop_auth_gen(yajl_gen g, yajl_val v);

static ngx_int_t ngx_hoop_auth_identity_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_auth_groups_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_auth_token_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_auth_claim_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_auth_claim_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_array_t *path);


static ngx_http_variable_t  ngx_hoop_auth_vars[] = {

    { ngx_string("hoop_user"), NULL, ngx_hoop_auth_identity_variable,
      offsetof(ngx_hoop_identity_t, user), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_email"), NULL, ngx_hoop_auth_identity_variable,
      offsetof(ngx_hoop_identity_t, email), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_subject"), NULL, ngx_hoop_auth_identity_variable,
      offsetof(ngx_hoop_identity_t, subject), NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_groups"), NULL, ngx_hoop_auth_groups_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_token_id"), NULL, ngx_hoop_auth_token_id_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_claim_"), NULL, ngx_hoop_auth_claim_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE|NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


yajl_val
ngx_hoop_auth_claims(ngx_http_request_t *r, ngx_hoop_auth_ctx_t *ctx)
{
    if (!ctx->parsed) {
        ctx->parsed = 1;

        if (ctx->identity.claims.len) {
            ctx->claims = ngx_hoop_json_parse(ctx->identity.claims.data,
                                              ctx->identity.claims.len, 1);
        }
    }

    return ctx->claims;
}


/* a claim as text: strings as is, numbers as written, arrays joined */

ngx_int_t
ngx_hoop_auth_render(ngx_pool_t *pool, yajl_val v, ngx_str_t *s)
{
    int                   ok;
    size_t                i, len;
    u_char               *p;
    ngx_str_t            *parts;
    const char           *text;
    yajl_gen              g;
    const unsigned char  *buf;

    ngx_str_null(s);

    if (v == NULL || YAJL_IS_NULL(v)) {
        return NGX_OK;
    }

    text = NULL;

    if (YAJL_IS_STRING(v)) {
        text = v->u.string;

    } else if (YAJL_IS_NUMBER(v)) {
        text = YAJL_GET_NUMBER(v);

    } else if (YAJL_IS_TRUE(v)) {
        text = "true";

    } else if (YAJL_IS_FALSE(v)) {
        text = "false";
    }

    if (text) {
        s->data = (u_char *) text;
        s->len = ngx_strlen(text);

        /* the tree lives as long as the request, but copy for clarity */

        p = ngx_pnalloc(pool, s->len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, s->data, s->len);
        s->data = p;

        return NGX_OK;
    }

    if (YAJL_IS_ARRAY(v)) {

        if (v->u.array.len == 0) {
            return NGX_OK;
        }

        parts = ngx_palloc(pool, v->u.array.len * sizeof(ngx_str_t));
        if (parts == NULL) {
            return NGX_ERROR;
        }

        len = 0;

        for (i = 0; i < v->u.array.len; i++) {
            if (ngx_hoop_auth_render(pool, v->u.array.values[i], &parts[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            len += parts[i].len + 1;
        }

        p = ngx_pnalloc(pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s->data = p;

        for (i = 0; i < v->u.array.len; i++) {
            if (i) {
                *p++ = ',';
            }

            p = ngx_cpymem(p, parts[i].data, parts[i].len);
        }

        s->len = p - s->data;

        return NGX_OK;
    }

    /* an object: as JSON */

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_ERROR;
    }

    ok = (ngx_hoop_auth_gen(g, v) == NGX_OK
          && yajl_gen_get_buf(g, &buf, &len) == yajl_gen_status_ok);

    if (ok) {
        s->data = ngx_pnalloc(pool, len);
        ok = (s->data != NULL);

        if (ok) {
            ngx_memcpy(s->data, buf, len);
            s->len = len;
        }
    }

    yajl_gen_free(g);

    return ok ? NGX_OK : NGX_ERROR;
}


static ngx_int_t
ngx_hoop_auth_gen(yajl_gen g, yajl_val v)
{
    size_t       i;
    const char  *s;

    if (YAJL_IS_STRING(v)) {
        s = v->u.string;
        return yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s))
               == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
    }

    if (YAJL_IS_NUMBER(v)) {
        s = YAJL_GET_NUMBER(v);
        return yajl_gen_number(g, s, ngx_strlen(s)) == yajl_gen_status_ok
               ? NGX_OK : NGX_ERROR;
    }

    if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        return yajl_gen_bool(g, YAJL_IS_TRUE(v)) == yajl_gen_status_ok
               ? NGX_OK : NGX_ERROR;
    }

    if (YAJL_IS_ARRAY(v)) {
        if (yajl_gen_array_open(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

        for (i = 0; i < v->u.array.len; i++) {
            if (ngx_hoop_auth_gen(g, v->u.array.values[i]) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        return yajl_gen_array_close(g) == yajl_gen_status_ok
               ? NGX_OK : NGX_ERROR;
    }

    if (YAJL_IS_OBJECT(v)) {
        if (yajl_gen_map_open(g) != yajl_gen_status_ok) {
            return NGX_ERROR;
        }

        for (i = 0; i < v->u.object.len; i++) {
            s = v->u.object.keys[i];

            if (yajl_gen_string(g, (const unsigned char *) s, ngx_strlen(s))
                != yajl_gen_status_ok
                || ngx_hoop_auth_gen(g, v->u.object.values[i]) != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return yajl_gen_map_close(g) == yajl_gen_status_ok
               ? NGX_OK : NGX_ERROR;
    }

    return yajl_gen_null(g) == yajl_gen_status_ok ? NGX_OK : NGX_ERROR;
}


/* --- variables ----------------------------------------------------------- */


static ngx_hoop_auth_ctx_t *
ngx_hoop_auth_verified_ctx(ngx_http_request_t *r)
{
    ngx_hoop_auth_ctx_t  *ctx;

    /* subrequests (SSI, auth_request, mirror) see the main identity */

    ctx = ngx_hoop_auth_get_ctx(r->main);

    return (ctx && ctx->verified) ? ctx : NULL;
}


static ngx_int_t
ngx_hoop_auth_identity_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t            *s;
    ngx_hoop_auth_ctx_t  *ctx;

    ctx = ngx_hoop_auth_verified_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    s = (ngx_str_t *) ((u_char *) &ctx->identity + data);

    v->data = s->data;
    v->len = s->len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_auth_groups_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char               *p;
    size_t                len;
    ngx_str_t            *g;
    ngx_uint_t            i;
    ngx_hoop_auth_ctx_t  *ctx;

    ctx = ngx_hoop_auth_verified_ctx(r);

    if (ctx == NULL || ctx->identity.groups == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    g = ctx->identity.groups->elts;
    len = 0;

    for (i = 0; i < ctx->identity.groups->nelts; i++) {
        len += g[i].len + 1;
    }

    p = ngx_pnalloc(r->pool, len ? len : 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < ctx->identity.groups->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, g[i].data, g[i].len);
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_auth_token_id_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_hoop_auth_ctx_t  *ctx;

    /* also after a rejection: the id of the token that was refused */

    ctx = ngx_hoop_auth_get_ctx(r->main);

    if (ctx == NULL || ctx->identity.token_id[0] == '\0') {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = ctx->identity.token_id;
    v->len = ngx_strlen(ctx->identity.token_id);
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_auth_claim_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_str_t *name = (ngx_str_t *) data;

    ngx_str_t    claim;
    ngx_array_t  path;

    claim.data = name->data + sizeof("hoop_claim_") - 1;
    claim.len = name->len - (sizeof("hoop_claim_") - 1);

    path.elts = &claim;
    path.nelts = 1;

    return ngx_hoop_auth_claim_value(r, v, &path);
}


static ngx_int_t
ngx_hoop_auth_claim_set_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    return ngx_hoop_auth_claim_value(r, v, (ngx_array_t *) data);
}


static ngx_int_t
ngx_hoop_auth_claim_value(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_array_t *path)
{
    ngx_str_t             s;
    yajl_val              value;
    ngx_hoop_auth_ctx_t  *ctx;

    ctx = ngx_hoop_auth_verified_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    value = ngx_hoop_json_path(ngx_hoop_auth_claims(r, ctx), path);

    if (value == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (ngx_hoop_auth_render(r->pool, value, &s) != NGX_OK) {
        return NGX_ERROR;
    }

    v->data = s.data;
    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* --- configuration ------------------------------------------------------- */


/* hoop_auth_claim_set $var path.to.claim; */

char *
ngx_hoop_auth_claim_set(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_auth_main_conf_http_t *amcf = conf;

    u_char                     *p, *last, *start;
    ngx_str_t                  *value, *name;
    ngx_http_variable_t        *var;
    ngx_hoop_auth_claim_var_t  *cv;

    value = cf->args->elts;

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid variable name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    cv = ngx_array_push(&amcf->claim_vars);
    if (cv == NULL) {
        return NGX_CONF_ERROR;
    }

    cv->name.data = value[1].data + 1;
    cv->name.len = value[1].len - 1;

    cv->path = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (cv->path == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value[2].data;
    last = p + value[2].len;

    while (p <= last) {
        start = p;

        while (p < last && *p != '.') {
            p++;
        }

        if (p == start) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid claim path \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(cv->path);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = start;
        name->len = p - start;
        p++;
    }

    var = ngx_http_add_variable(cf, &cv->name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_CONF_ERROR;
    }

    var->get_handler = ngx_hoop_auth_claim_set_variable;
    var->data = (uintptr_t) cv->path;

    return NGX_CONF_OK;
}


ngx_int_t
ngx_hoop_auth_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_hoop_auth_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}
