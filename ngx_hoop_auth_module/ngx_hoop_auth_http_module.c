
/*
 * ngx_hoop_auth_http_module: bearer-token authentication in the HTTP
 * access phase (RFC 6750), requirements on claims, and the $hoop_*
 * identity variables.
 *
 * Runs as an ordinary access handler, so "satisfy any|all" combines it
 * with allow/deny and auth_basic.  After a successful check the client's
 * Authorization header is taken out of the request, so no proxy, fastcgi
 * or other upstream module forwards the caller's token.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>
#include "ngx_hoop_auth_http.h"


static ngx_int_t ngx_hoop_auth_handler(ngx_http_request_t *r);
static void ngx_hoop_auth_wait(ngx_http_request_t *r);
static ngx_int_t ngx_hoop_auth_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_hoop_auth_check(ngx_http_request_t *r,
    ngx_hoop_auth_loc_conf_t *alcf, ngx_hoop_auth_ctx_t *ctx);
static ngx_int_t ngx_hoop_auth_holds(ngx_http_request_t *r,
    ngx_hoop_auth_require_t *req, ngx_hoop_auth_ctx_t *ctx);
static ngx_int_t ngx_hoop_auth_match(ngx_str_t *s, ngx_array_t *values);
static ngx_int_t ngx_hoop_auth_challenge(ngx_http_request_t *r,
    ngx_hoop_auth_loc_conf_t *alcf, ngx_int_t status, const char *error,
    ngx_str_t *description);
static ngx_int_t ngx_hoop_auth_remove_token(ngx_http_request_t *r);
static void ngx_hoop_auth_cleanup(void *data);
static char *ngx_hoop_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_hoop_auth_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void *ngx_hoop_auth_create_main_conf(ngx_conf_t *cf);
static void *ngx_hoop_auth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_hoop_auth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_hoop_auth_init(ngx_conf_t *cf);


static ngx_command_t  ngx_hoop_auth_http_commands[] = {

    { ngx_string("hoop_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_hoop_auth,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_auth_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_hoop_auth_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_auth_pass_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_auth_loc_conf_t, pass_token),
      NULL },

    { ngx_string("hoop_auth_claim_set"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_hoop_auth_claim_set,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_hoop_auth_http_module_ctx = {
    ngx_hoop_auth_add_variables,           /* preconfiguration */
    ngx_hoop_auth_init,                    /* postconfiguration */

    ngx_hoop_auth_create_main_conf,        /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_hoop_auth_create_loc_conf,         /* create location configuration */
    ngx_hoop_auth_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_hoop_auth_http_module = {
    NGX_MODULE_V1,
    &ngx_hoop_auth_http_module_ctx,        /* module context */
    ngx_hoop_auth_http_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_hoop_auth_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  reason;
    ngx_hoop_oidc_t           *provider;
    ngx_hoop_auth_ctx_t       *ctx;
    ngx_pool_cleanup_t        *cln;
    ngx_hoop_auth_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_hoop_auth_http_module);

    provider = alcf->provider;

    if (provider == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_hoop_auth_get_ctx(r);

    if (ctx && ctx->verified && ctx->provider == provider) {
        /* an internal redirect: the identity holds, the rules are new */
        return ngx_hoop_auth_check(r, alcf, ctx);
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_hoop_auth_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the cleanup also finds the context again after a redirect */

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        cln->handler = ngx_hoop_auth_cleanup;
        cln->data = ctx;

        ngx_http_set_ctx(r, ctx, ngx_hoop_auth_http_module);
    }

    if (!ctx->waiting) {
        ctx->verified = 0;

        if (ctx->token.len == 0) {
            rc = ngx_hoop_auth_bearer(r, &ctx->token);

            if (rc == NGX_DECLINED) {
                /* no credentials: a bare challenge (RFC 6750, 3.1) */
                return ngx_hoop_auth_challenge(r, alcf,
                                               NGX_HTTP_UNAUTHORIZED,
                                               NULL, NULL);
            }

            if (rc == NGX_HTTP_BAD_REQUEST) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "hoop auth: several Authorization headers");
                return NGX_HTTP_BAD_REQUEST;
            }

            if (rc != NGX_OK) {
                ngx_str_set(&reason, "malformed Authorization header");
                return ngx_hoop_auth_challenge(r, alcf,
                                               NGX_HTTP_UNAUTHORIZED,
                                               "invalid_token", &reason);
            }
        }

        ctx->start = ngx_current_msec;
    }

    rc = ngx_hoop_auth_verify(provider, &ctx->token, r->pool,
                              r->connection->log, &ctx->identity, &reason);

    if (rc == NGX_AGAIN) {

        if (ngx_current_msec - ctx->start
            < provider->fetch_timeout + NGX_HOOP_AUTH_WAIT_SLACK)
        {
            ctx->waiting = 1;

            /* wait as limit_req does: a client that goes away is noticed */

            if (r->connection->read->ready) {
                ngx_post_event(r->connection->read, &ngx_posted_events);

            } else if (ngx_handle_read_event(r->connection->read, 0)
                       != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            r->read_event_handler = ngx_http_test_reading;
            r->write_event_handler = ngx_hoop_auth_wait;

            r->connection->write->delayed = 1;
            ngx_add_timer(r->connection->write, NGX_HOOP_AUTH_RETRY_MSEC);

            return NGX_AGAIN;
        }

        rc = NGX_ERROR;
        ngx_str_set(&reason, "keys not available in time");
    }

    ctx->waiting = 0;

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "hoop auth: token %s rejected by \"%V\": %V",
                      ctx->identity.token_id[0] ? ctx->identity.token_id
                                                : (u_char *) "-",
                      &provider->name, &reason);

        return ngx_hoop_auth_challenge(r, alcf, NGX_HTTP_UNAUTHORIZED,
                                       "invalid_token", &reason);
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "hoop auth: cannot verify tokens for \"%V\": %V",
                      &provider->name, &reason);

        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->verified = 1;
    ctx->provider = provider;

    if (ctx->claims) {
        yajl_tree_free(ctx->claims);
        ctx->claims = NULL;
    }

    ctx->parsed = 0;

    if (!alcf->pass_token && ngx_hoop_auth_remove_token(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_hoop_auth_check(r, alcf, ctx);
}


static void
ngx_hoop_auth_wait(ngx_http_request_t *r)
{
    ngx_event_t  *wev;

    wev = r->connection->write;

    if (wev->delayed) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "hoop auth: retrying after waiting for keys");

    if (ngx_handle_read_event(r->connection->read, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
}


/*
 * NGX_OK: *token set; NGX_DECLINED: no bearer credentials at all;
 * NGX_ERROR: a malformed Bearer header; NGX_HTTP_BAD_REQUEST: several
 * Authorization headers.
 */

static ngx_int_t
ngx_hoop_auth_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char           *p, *last;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    /* nginx itself refuses a repeated Authorization; be sure anyway */

    n = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Authorization") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                               sizeof("Authorization") - 1) == 0)
        {
            n++;
        }
    }

    if (n > 1) {
        return NGX_HTTP_BAD_REQUEST;
    }

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.authorization->value.data;
    last = p + r->headers_in.authorization->value.len;

    /* the scheme is case-insensitive (RFC 9110, 11.1) */

    if (last - p < 6 || ngx_strncasecmp(p, (u_char *) "Bearer", 6) != 0) {
        return NGX_DECLINED;
    }

    p += 6;

    if (p < last && *p != ' ' && *p != '\t') {
        return NGX_DECLINED;            /* e.g. "BearerX" */
    }

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (p == last) {
        return NGX_ERROR;
    }

    token->len = last - p;
    token->data = ngx_pnalloc(r->pool, token->len);
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(token->data, p, token->len);

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_auth_check(ngx_http_request_t *r, ngx_hoop_auth_loc_conf_t *alcf,
    ngx_hoop_auth_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_str_t                 reason;
    ngx_uint_t                i;
    ngx_hoop_auth_require_t  *req;

    if (alcf->requires == NULL) {
        return NGX_OK;
    }

    req = alcf->requires->elts;

    for (i = 0; i < alcf->requires->nelts; i++) {

        rc = ngx_hoop_auth_holds(r, &req[i], ctx);

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "hoop auth: user \"%V\" (token %s) does not meet "
                      "\"hoop_auth_require %V\"", &ctx->identity.user,
                      ctx->identity.token_id, &req[i].text);

        if (req[i].status == NGX_HTTP_UNAUTHORIZED) {
            ngx_str_set(&reason, "the token does not meet a requirement");
            return ngx_hoop_auth_challenge(r, alcf, NGX_HTTP_UNAUTHORIZED,
                                           "invalid_token", &reason);
        }

        ngx_str_set(&reason, "the token does not meet a requirement");
        return ngx_hoop_auth_challenge(r, alcf, NGX_HTTP_FORBIDDEN,
                                       "insufficient_scope", &reason);
    }

    return NGX_OK;
}


/* NGX_OK: holds; NGX_DECLINED: does not; NGX_ERROR */

static ngx_int_t
ngx_hoop_auth_holds(ngx_http_request_t *r, ngx_hoop_auth_require_t *req,
    ngx_hoop_auth_ctx_t *ctx)
{
    size_t       i;
    yajl_val     root, v;
    ngx_str_t    s, *value;
    ngx_uint_t   n;

    switch (req->kind) {

    case ngx_hoop_require_groups:

        if (req->values == NULL) {
            return (ctx->identity.groups && ctx->identity.groups->nelts)
                   ? NGX_OK : NGX_DECLINED;
        }

        value = req->values->elts;

        for (n = 0; n < req->values->nelts; n++) {
            if (ngx_hoop_identity_has_group(&ctx->identity, &value[n])) {
                return NGX_OK;
            }
        }

        return NGX_DECLINED;

    case ngx_hoop_require_claim:

        root = ngx_hoop_auth_claims(r, ctx);
        v = ngx_hoop_json_path(root, req->path);

        if (v == NULL) {
            return NGX_DECLINED;
        }

        if (YAJL_IS_ARRAY(v) && req->values) {
            /* list-valued: holds when one element is a listed value */

            for (i = 0; i < v->u.array.len; i++) {
                if (ngx_hoop_auth_render(r->pool, v->u.array.values[i], &s)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                if (ngx_hoop_auth_match(&s, req->values) == NGX_OK) {
                    return NGX_OK;
                }
            }

            return NGX_DECLINED;
        }

        if (ngx_hoop_auth_render(r->pool, v, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        break;

    default: /* ngx_hoop_require_value */

        if (ngx_http_complex_value(r, &req->value, &s) != NGX_OK) {
            return NGX_ERROR;
        }

        break;
    }

    if (req->values) {
        return ngx_hoop_auth_match(&s, req->values);
    }

    if (s.len == 0
        || (s.len == 1 && s.data[0] == '0')
        || (s.len == 5 && ngx_strncmp(s.data, "false", 5) == 0))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_auth_match(ngx_str_t *s, ngx_array_t *values)
{
    ngx_str_t   *value;
    ngx_uint_t   n;

    value = values->elts;

    for (n = 0; n < values->nelts; n++) {
        if (value[n].len == s->len
            && ngx_strncmp(value[n].data, s->data, s->len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_hoop_auth_challenge(ngx_http_request_t *r, ngx_hoop_auth_loc_conf_t *alcf,
    ngx_int_t status, const char *error, ngx_str_t *description)
{
    u_char           *p;
    size_t            len;
    ngx_table_elt_t  *h;

    len = sizeof("Bearer realm=\"\"") - 1 + alcf->realm.len;

    if (error) {
        len += sizeof(", error=\"\", error_description=\"\"") - 1
               + ngx_strlen(error) + description->len;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value.data = p;

    /* reasons are fixed strings from the verifier: no quotes to escape */

    p = ngx_sprintf(p, "Bearer realm=\"%V\"", &alcf->realm);

    if (error) {
        p = ngx_sprintf(p, ", error=\"%s\", error_description=\"%V\"",
                        error, description);
    }

    h->value.len = p - h->value.data;

#if (nginx_version >= 1023000)
    /* with "satisfy any", a later grant hides every challenge in the list */
    h->next = r->headers_out.www_authenticate;
#endif

    r->headers_out.www_authenticate = h;

    return status;
}


/*
 * The caller's token is not for the upstream: rebuild the header list
 * without Authorization.  Elements are copied, not moved, so pointers
 * other modules hold to known headers (Host, ...) stay valid.
 */

static ngx_int_t
ngx_hoop_auth_remove_token(ngx_http_request_t *r)
{
    ngx_uint_t        i;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    if (r->headers_in.authorization == NULL) {
        return NGX_OK;
    }

    if (ngx_list_init(&headers, r->pool, 20, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (&h[i] == r->headers_in.authorization
            || (h[i].key.len == sizeof("Authorization") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Authorization",
                                   sizeof("Authorization") - 1) == 0))
        {
            continue;
        }

        copy = ngx_list_push(&headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    r->headers_in.headers = headers;
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


/*
 * An internal redirect clears module contexts; the pool cleanup still
 * holds ours (as the realip module does), so the identity survives
 * error_page, try_files and named locations.
 */

ngx_hoop_auth_ctx_t *
ngx_hoop_auth_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_hoop_auth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_hoop_auth_http_module);

    if (ctx) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_hoop_auth_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_hoop_auth_http_module);
            return ctx;
        }
    }

    return NULL;
}


static void
ngx_hoop_auth_cleanup(void *data)
{
    ngx_hoop_auth_ctx_t  *ctx = data;

    if (ctx->claims) {
        yajl_tree_free(ctx->claims);
        ctx->claims = NULL;
    }
}


/* --- configuration ------------------------------------------------------- */


/* hoop_auth oidc=NAME [realm=TEXT] | off; */

static char *
ngx_hoop_auth(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_auth_loc_conf_t *alcf = conf;

    ngx_str_t   *value, name;
    ngx_uint_t   i;

    if (alcf->provider != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameters after \"off\"";
        }

        alcf->provider = NULL;
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[1].data, "oidc=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data + 5;
    name.len = value[1].len - 5;

    alcf->provider = ngx_hoop_oidc_lookup(cf, &name);

    if (alcf->provider == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown identity provider \"%V\": declare it "
                           "with \"hoop_oidc %V ...;\" at the main level, "
                           "before the http block", &name, &name);
        return NGX_CONF_ERROR;
    }

    alcf->realm = alcf->provider->name;

    if (cf->args->nelts == 3) {

        if (ngx_strncmp(value[2].data, "realm=", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        alcf->realm.data = value[2].data + 6;
        alcf->realm.len = value[2].len - 6;

        /* it goes inside a quoted-string as is */

        for (i = 0; i < alcf->realm.len; i++) {
            if (alcf->realm.data[i] == '"' || alcf->realm.data[i] == '\\'
                || alcf->realm.data[i] < 0x20 || alcf->realm.data[i] == 0x7f)
            {
                return "realm must not hold quotes, backslashes or "
                       "control characters";
            }
        }
    }

    return NGX_CONF_OK;
}


/* hoop_auth_require $var [value...] [error=401|403]; */

static char *
ngx_hoop_auth_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_auth_loc_conf_t *alcf = conf;

    u_char                            *p, c;
    ngx_str_t                         *value, *v, name;
    ngx_uint_t                         i, n, last;
    ngx_hoop_auth_claim_var_t         *cv;
    ngx_hoop_auth_require_t           *req;
    ngx_http_compile_complex_value_t   ccv;
    ngx_hoop_auth_main_conf_http_t    *amcf;

    value = cf->args->elts;

    if (alcf->requires == NULL) {
        alcf->requires = ngx_array_create(cf->pool, 2,
                                          sizeof(ngx_hoop_auth_require_t));
        if (alcf->requires == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(alcf->requires);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(req, sizeof(ngx_hoop_auth_require_t));

    req->status = NGX_HTTP_FORBIDDEN;
    last = cf->args->nelts;

    if (last > 2 && ngx_strncmp(value[last - 1].data, "error=", 6) == 0) {

        if (ngx_strcmp(value[last - 1].data, "error=401") == 0) {
            req->status = NGX_HTTP_UNAUTHORIZED;

        } else if (ngx_strcmp(value[last - 1].data, "error=403") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\": use error=401 "
                               "or error=403", &value[last - 1]);
            return NGX_CONF_ERROR;
        }

        last--;
    }

    /* the whole directive, for log lines */

    n = 0;

    for (i = 1; i < cf->args->nelts; i++) {
        n += value[i].len + 1;
    }

    p = ngx_pnalloc(cf->pool, n);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    req->text.data = p;

    for (i = 1; i < cf->args->nelts; i++) {
        if (i > 1) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, value[i].data, value[i].len);
    }

    req->text.len = p - req->text.data;

    if (last > 2) {
        req->values = ngx_array_create(cf->pool, last - 2, sizeof(ngx_str_t));
        if (req->values == NULL) {
            return NGX_CONF_ERROR;
        }

        for (i = 2; i < last; i++) {
            v = ngx_array_push(req->values);
            if (v == NULL) {
                return NGX_CONF_ERROR;
            }

            *v = value[i];
        }
    }

    if (value[1].len < 2 || value[1].data[0] != '$') {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a variable", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* list-valued claims are compared element by element, not as text */

    name.data = value[1].data + 1;
    name.len = value[1].len - 1;

    if (name.len == sizeof("hoop_groups") - 1
        && ngx_strncmp(name.data, "hoop_groups", name.len) == 0)
    {
        req->kind = ngx_hoop_require_groups;
        return NGX_CONF_OK;
    }

    if (name.len > sizeof("hoop_claim_") - 1
        && ngx_strncmp(name.data, "hoop_claim_", sizeof("hoop_claim_") - 1)
           == 0)
    {
        for (i = sizeof("hoop_claim_") - 1; i < name.len; i++) {
            c = name.data[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                  || (c >= '0' && c <= '9') || c == '_'))
            {
                break;
            }
        }

        if (i == name.len) {
            req->kind = ngx_hoop_require_claim;

            req->path = ngx_array_create(cf->pool, 1, sizeof(ngx_str_t));
            if (req->path == NULL) {
                return NGX_CONF_ERROR;
            }

            v = ngx_array_push(req->path);
            if (v == NULL) {
                return NGX_CONF_ERROR;
            }

            v->data = name.data + sizeof("hoop_claim_") - 1;
            v->len = name.len - (sizeof("hoop_claim_") - 1);

            return NGX_CONF_OK;
        }
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_hoop_auth_http_module);
    cv = amcf->claim_vars.elts;

    for (i = 0; i < amcf->claim_vars.nelts; i++) {
        if (cv[i].name.len == name.len
            && ngx_strncasecmp(cv[i].name.data, name.data, name.len) == 0)
        {
            req->kind = ngx_hoop_require_claim;
            req->path = cv[i].path;
            return NGX_CONF_OK;
        }
    }

    req->kind = ngx_hoop_require_value;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &req->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_hoop_auth_create_main_conf(ngx_conf_t *cf)
{
    ngx_hoop_auth_main_conf_http_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_auth_main_conf_http_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->claim_vars, cf->pool, 2,
                       sizeof(ngx_hoop_auth_claim_var_t))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static void *
ngx_hoop_auth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_hoop_auth_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_auth_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->realm = { 0, NULL };
     *     alcf->requires = NULL;
     */

    alcf->provider = NGX_CONF_UNSET_PTR;
    alcf->pass_token = NGX_CONF_UNSET;

    return alcf;
}


static char *
ngx_hoop_auth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_hoop_auth_loc_conf_t *prev = parent;
    ngx_hoop_auth_loc_conf_t *conf = child;

    if (conf->provider == NGX_CONF_UNSET_PTR) {
        conf->provider = (prev->provider == NGX_CONF_UNSET_PTR)
                         ? NULL : prev->provider;
        conf->realm = prev->realm;
    }

    if (conf->requires == NULL) {
        conf->requires = prev->requires;

    } else if (conf->provider == NULL) {
        /* a requirement nobody would check is a configuration mistake */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"hoop_auth_require\" needs "
                           "\"hoop_auth oidc=...\" in the same or an "
                           "enclosing context");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->pass_token, prev->pass_token, 0);

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_auth_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_hoop_auth_handler;

    return NGX_OK;
}
