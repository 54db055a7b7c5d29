
/*
 * ngx_hoop_review_http_module: reviews on the HTTP side.
 *
 *   hoop_review [name=SCOPE] [window=1h] [timeout=10m] [api=URI] [hold]
 *               | off;
 *       a request needs an approved review of its identity for the
 *       location: without one it gets 403 naming the review (created on
 *       the first attempt, reused by retries); once approved, the same
 *       identity passes for the window.  With "hold", each request waits
 *       for a review of its own instead (as a held statement does):
 *       approved -> it proceeds, rejected or timed out -> 403, the client
 *       going away withdraws the review.  Runs after the access phase, so
 *       after hoop_auth.  Redis unreachable: 503.
 *
 *   hoop_api;                      the approvers' and auditors' JSON API
 *   hoop_api_approvers GROUP ...;  who may approve or reject
 *   hoop_api_self_approve on|off;  may a requester decide their own review
 *
 * The identity comes from ngx_hoop_auth_module (referenced weakly, as the
 * auth .so is loaded first anyway).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_hoop_review_http.h"


#pragma weak ngx_hoop_auth_get_ctx


typedef struct {
    ngx_hoop_review_t          *rv;
    ngx_hoop_review_outcome_e   outcome;
    ngx_str_t                   reason;
    u_char                      id[NGX_HOOP_REVIEW_ID_LEN];
    unsigned                    waiting:1;
    unsigned                    done:1;
} ngx_hoop_review_http_ctx_t;


static ngx_int_t ngx_hoop_review_http_handler(ngx_http_request_t *r);
static void ngx_hoop_review_http_decided(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, ngx_str_t *reason, void *data);
static ngx_int_t ngx_hoop_review_http_refuse(ngx_http_request_t *r,
    ngx_hoop_review_loc_conf_t *rlcf, ngx_hoop_review_http_ctx_t *ctx);
static ngx_int_t ngx_hoop_review_http_denied(ngx_http_request_t *r,
    ngx_hoop_review_http_ctx_t *ctx);
static void ngx_hoop_review_http_test_reading(ngx_http_request_t *r);
static void *ngx_hoop_review_create_loc_conf(ngx_conf_t *cf);
static char *ngx_hoop_review_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_hoop_review(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_hoop_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_hoop_review_http_init(ngx_conf_t *cf);


static ngx_command_t  ngx_hoop_review_http_commands[] = {

    { ngx_string("hoop_review"),
      NGX_HTTP_LOC_CONF|NGX_CONF_ANY,
      ngx_hoop_review,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_hoop_api,
      0,
      0,
      NULL },

    { ngx_string("hoop_api_approvers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_str_array_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_review_loc_conf_t, approvers),
      NULL },

    { ngx_string("hoop_api_self_approve"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_review_loc_conf_t, self_approve),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_hoop_review_http_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_hoop_review_http_init,             /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_hoop_review_create_loc_conf,       /* create location configuration */
    ngx_hoop_review_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_hoop_review_http_module = {
    NGX_MODULE_V1,
    &ngx_hoop_review_http_module_ctx,      /* module context */
    ngx_hoop_review_http_commands,         /* module directives */
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


/* precontent phase: hoop_auth (access phase) has run */

static ngx_int_t
ngx_hoop_review_http_handler(ngx_http_request_t *r)
{
    u_char                      *p;
    ngx_int_t                    rc;
    ngx_hoop_review_t           *rv;
    ngx_hoop_identity_t         *id;
    ngx_hoop_review_request_t    req;
    ngx_hoop_review_loc_conf_t  *rlcf;
    ngx_hoop_review_http_ctx_t  *ctx;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_hoop_review_http_module);

    if (!rlcf->review) {
        return NGX_DECLINED;
    }

    if (r != r->main) {
        /* fail closed: a subrequest would not bypass the review */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "hoop review: a subrequest to a location under "
                      "hoop_review is refused");
        return NGX_HTTP_FORBIDDEN;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_hoop_review_http_module);

    if (ctx) {
        if (ctx->waiting) {
            return NGX_AGAIN;
        }

        switch (ctx->outcome) {

        case NGX_HOOP_REVIEW_APPROVED:
            return NGX_DECLINED;

        case NGX_HOOP_REVIEW_PENDING:
            rc = ngx_hoop_review_http_refuse(r, rlcf, ctx);
            break;

        case NGX_HOOP_REVIEW_REJECTED:
        case NGX_HOOP_REVIEW_EXPIRED:
            rc = ngx_hoop_review_http_denied(r, ctx);
            break;

        default:
            rc = ngx_hoop_review_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "the review store is "
                                            "unavailable: the request is "
                                            "refused");
        }

        goto respond;
    }

    id = ngx_hoop_review_identity(r);

    if (id == NULL) {
        rc = ngx_hoop_review_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                        "hoop_review needs an identity "
                                        "(hoop_auth)");
        goto respond;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_hoop_review_http_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&req, sizeof(ngx_hoop_review_request_t));

    ngx_str_set(&req.kind, "http");
    req.scope = rlcf->scope;
    req.identity = id;
    req.timeout = rlcf->timeout;
    req.window = rlcf->window;

    /* the first request that asked: method and path, no query string */

    p = ngx_pnalloc(r->pool, r->method_name.len + 1 + r->uri.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    req.text.data = p;
    p = ngx_cpymem(p, r->method_name.data, r->method_name.len);
    *p++ = ' ';
    p = ngx_cpymem(p, r->uri.data, r->uri.len);
    req.text.len = p - req.text.data;

    if (rlcf->hold) {
        ngx_str_set(&req.rule, "hold");
        rv = ngx_hoop_review_request(r->connection->log, &req,
                                     ngx_hoop_review_http_decided, r);

    } else {
        rv = ngx_hoop_review_gate(r->connection->log, &req,
                                  ngx_hoop_review_http_decided, r);
    }

    if (rv == NULL) {
        rc = ngx_hoop_review_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "the review store is unavailable: "
                                        "the request is refused");
        goto respond;
    }

    ctx->rv = rv;
    ctx->waiting = 1;
    ngx_http_set_ctx(r, ctx, ngx_hoop_review_http_module);

    if (rlcf->hold) {
        /* the review id goes out at once, the response when decided */
        ngx_memcpy(ctx->id, ngx_hoop_review_id(rv)->data,
                   NGX_HOOP_REVIEW_ID_LEN);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "hoop review: request held for review %*s",
                      (size_t) NGX_HOOP_REVIEW_ID_LEN, ctx->id);

        r->read_event_handler = ngx_hoop_review_http_test_reading;
    }

    /* the reply always comes (command timeout): hold the request */
    r->main->count++;

    return NGX_DONE;

respond:

    /* a response is out: no later phase may run */
    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


static void
ngx_hoop_review_http_decided(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, ngx_str_t *reason, void *data)
{
    ngx_http_request_t  *r = data;

    ngx_str_t                   *id;
    ngx_connection_t            *c;
    ngx_hoop_review_http_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_hoop_review_http_module);

    ctx->waiting = 0;
    ctx->done = 1;
    ctx->outcome = outcome;
    ctx->rv = NULL;

    if (outcome == NGX_HOOP_REVIEW_PENDING) {
        id = ngx_hoop_review_id(rv);
        ngx_memcpy(ctx->id, id->data, NGX_HOOP_REVIEW_ID_LEN);
    }

    if (reason->len) {
        ctx->reason.data = ngx_pstrdup(r->pool, reason);
        ctx->reason.len = ctx->reason.data ? reason->len : 0;
    }

    r->read_event_handler = ngx_http_block_reading;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "hoop review: gate outcome %d", (int) outcome);

    r->main->count--;

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_hoop_review_http_refuse(ngx_http_request_t *r,
    ngx_hoop_review_loc_conf_t *rlcf, ngx_hoop_review_http_ctx_t *ctx)
{
    u_char           *p, *body;
    size_t            len;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "X-Hoop-Review");
    h->value.data = ctx->id;
    h->value.len = NGX_HOOP_REVIEW_ID_LEN;

    len = sizeof("{\"error\":\"review required\",\"review\":\"\","
                 "\"state\":\"pending\",\"scope\":\"\","
                 "\"approve\":\"POST /reviews//approve\"}\n")
          + NGX_HOOP_REVIEW_ID_LEN * 2 + rlcf->scope.len
          + ngx_escape_json(NULL, rlcf->api.data, rlcf->api.len)
          + rlcf->api.len + sizeof("<hoop_api location>");

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":\"review required\",\"review\":\"%*s\","
                    "\"state\":\"pending\",\"scope\":\"%V\","
                    "\"approve\":\"POST ",
                    (size_t) NGX_HOOP_REVIEW_ID_LEN, ctx->id, &rlcf->scope);

    if (rlcf->api.len) {
        p = (u_char *) ngx_escape_json(p, rlcf->api.data, rlcf->api.len);

    } else {
        p = ngx_cpymem(p, "<hoop_api location>",
                       sizeof("<hoop_api location>") - 1);
    }

    p = ngx_sprintf(p, "/reviews/%*s/approve\"}\n",
                    (size_t) NGX_HOOP_REVIEW_ID_LEN, ctx->id);

    return ngx_hoop_review_send_json(r, NGX_HTTP_FORBIDDEN, body, p - body);
}


/* a held request: rejected (with the approver's comment) or timed out */

static ngx_int_t
ngx_hoop_review_http_denied(ngx_http_request_t *r,
    ngx_hoop_review_http_ctx_t *ctx)
{
    u_char  *p, *body;
    size_t   len;

    len = sizeof("{\"error\":\"review \",\"review\":\"\","
                 "\"reason\":\"\"}\n") + sizeof("rejected")
          + NGX_HOOP_REVIEW_ID_LEN
          + ngx_escape_json(NULL, ctx->reason.data, ctx->reason.len)
          + ctx->reason.len;

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(body, "{\"error\":\"review %s\",\"review\":\"%*s\","
                    "\"reason\":\"",
                    ctx->outcome == NGX_HOOP_REVIEW_REJECTED ? "rejected"
                                                             : "expired",
                    (size_t) NGX_HOOP_REVIEW_ID_LEN, ctx->id);
    p = (u_char *) ngx_escape_json(p, ctx->reason.data, ctx->reason.len);
    p = ngx_cpymem(p, "\"}\n", 3);

    return ngx_hoop_review_send_json(r, NGX_HTTP_FORBIDDEN, body, p - body);
}


/* a held request whose client goes away withdraws its review */

static void
ngx_hoop_review_http_test_reading(ngx_http_request_t *r)
{
    int                          n;
    char                         buf[1];
    ngx_err_t                    err;
    ngx_event_t                 *rev;
    ngx_connection_t            *c;
    ngx_hoop_review_http_ctx_t  *ctx;
    ngx_str_t                    reason = ngx_string("client closed");

    c = r->connection;
    rev = c->read;
    ctx = ngx_http_get_module_ctx(r, ngx_hoop_review_http_module);

    if (ctx == NULL || !ctx->waiting) {
        return;
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return;
    }
#endif

    n = recv(c->fd, buf, 1, MSG_PEEK);

    if (n > 0) {
        /* pipelined bytes: not our business until the response */
        return;
    }

    if (n == -1) {
        err = ngx_socket_errno;

        if (err == NGX_EAGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                goto closed;
            }

            return;
        }
    }

closed:

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "hoop review: client closed, review %*s withdrawn",
                  (size_t) NGX_HOOP_REVIEW_ID_LEN, ctx->id);

    ngx_hoop_review_withdraw(ctx->rv, &reason);

    ctx->rv = NULL;
    ctx->waiting = 0;
    r->main->count--;

    ngx_http_finalize_request(r, NGX_HTTP_CLIENT_CLOSED_REQUEST);
}


/* --- shared with the API ------------------------------------------------- */


ngx_hoop_identity_t *
ngx_hoop_review_identity(ngx_http_request_t *r)
{
    ngx_hoop_auth_ctx_t  *actx;

    if (ngx_hoop_auth_get_ctx == NULL) {
        return NULL;
    }

    actx = ngx_hoop_auth_get_ctx(r);

    if (actx == NULL || !actx->verified || actx->identity.subject.len == 0) {
        return NULL;
    }

    return &actx->identity;
}


ngx_int_t
ngx_hoop_review_send_json(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.last_modified_time = -1;

    if (status == NGX_HTTP_UNAUTHORIZED
        && r->headers_out.www_authenticate == NULL)
    {
        r->headers_out.www_authenticate =
                                      ngx_list_push(&r->headers_out.headers);
        if (r->headers_out.www_authenticate == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->headers_out.www_authenticate->hash = 1;
        ngx_str_set(&r->headers_out.www_authenticate->key,
                    "WWW-Authenticate");
        ngx_str_set(&r->headers_out.www_authenticate->value, "Bearer");
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_hoop_review_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *text)
{
    u_char  *p, *body;
    size_t   len;

    len = ngx_strlen(text);

    body = ngx_pnalloc(r->pool, sizeof("{\"error\":\"\"}\n") + 2 * len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"error\":\"", sizeof("{\"error\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, (u_char *) text, len);
    p = ngx_cpymem(p, "\"}\n", 3);

    return ngx_hoop_review_send_json(r, status, body, p - body);
}


/* --- configuration ------------------------------------------------------- */


static void *
ngx_hoop_review_create_loc_conf(ngx_conf_t *cf)
{
    ngx_hoop_review_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_review_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->scope = { 0, NULL };
     *     conf->api = { 0, NULL };
     *     conf->window = 0;
     *     conf->timeout = 0;
     */

    conf->review = NGX_CONF_UNSET;
    conf->self_approve = NGX_CONF_UNSET;
    conf->approvers = NGX_CONF_UNSET_PTR;

    return conf;
}


static char *
ngx_hoop_review_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_hoop_review_loc_conf_t *prev = parent;
    ngx_hoop_review_loc_conf_t *conf = child;

    if (conf->review == NGX_CONF_UNSET) {
        conf->review = prev->review;
        conf->scope = prev->scope;
        conf->window = prev->window;
        conf->timeout = prev->timeout;
        conf->api = prev->api;
        conf->hold = prev->hold;
    }

    ngx_conf_merge_value(conf->review, prev->review, 0);
    ngx_conf_merge_value(conf->self_approve, prev->self_approve, 0);
    ngx_conf_merge_ptr_value(conf->approvers, prev->approvers, NULL);

    return NGX_CONF_OK;
}


/* hoop_review [name=SCOPE] [window=TIME] [timeout=TIME] [api=URI] | off; */

static char *
ngx_hoop_review(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_review_loc_conf_t *rlcf = conf;

    u_char                    *p, c;
    time_t                     t;
    ngx_str_t                 *value, s;
    ngx_msec_t                 ms;
    ngx_uint_t                 i;
    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->review != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        rlcf->review = 0;
        return NGX_CONF_OK;
    }

    rlcf->review = 1;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            rlcf->scope.data = value[i].data + 5;
            rlcf->scope.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "window=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            t = ngx_parse_time(&s, 1);
            if (t == (time_t) NGX_ERROR || t == 0) {
                goto invalid;
            }

            rlcf->window = t;
            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            rlcf->timeout = ms;
            continue;
        }

        if (ngx_strcmp(value[i].data, "hold") == 0) {
            rlcf->hold = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "api=", 4) == 0) {
            rlcf->api.data = value[i].data + 4;
            rlcf->api.len = value[i].len - 4;

            while (rlcf->api.len && rlcf->api.data[rlcf->api.len - 1] == '/')
            {
                rlcf->api.len--;
            }

            continue;
        }

        goto invalid;
    }

    if (rlcf->scope.len == 0) {
        /* the location's name, as a scope: "/admin/" -> "admin" */

        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

        s = clcf->name;

        while (s.len && s.data[0] == '/') {
            s.data++;
            s.len--;
        }

        while (s.len && s.data[s.len - 1] == '/') {
            s.len--;
        }

        if (s.len == 0) {
            ngx_str_set(&s, "root");
        }

        rlcf->scope = s;
    }

    if (rlcf->scope.len > NGX_HOOP_REVIEW_MAX_SCOPE) {
        return "has a name that is too long: use name=";
    }

    for (p = rlcf->scope.data; p < rlcf->scope.data + rlcf->scope.len; p++) {
        c = *p;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')
              || c == '_' || c == '.' || c == '/' || c == '-'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "hoop_review: the scope \"%V\" may only have "
                               "letters, digits, \"_\", \".\", \"/\" and "
                               "\"-\": use name=", &rlcf->scope);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_hoop_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler";
    }

    clcf->handler = ngx_hoop_api_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_review_http_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_hoop_review_http_handler;

    return NGX_OK;
}
