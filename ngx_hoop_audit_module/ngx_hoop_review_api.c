
/*
 * hoop_api: the approvers' and auditors' JSON API, a content handler.
 *
 *   GET  .../reviews?state=&limit=&cursor=     a page, newest first
 *   GET  .../reviews/<id>
 *   POST .../reviews/<id>/approve              {"comment": "..."}, optional
 *   POST .../reviews/<id>/reject
 *   GET  .../sessions?limit=&cursor=           most recently active first
 *   GET  .../sessions/<id>/events?limit=&cursor=
 *
 * Every Redis access is asynchronous: the handler sends one command and
 * holds the request (r->main->count) until its reply comes; the command
 * timeout bounds the wait.  Responses are built with yajl.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>
#include "ngx_hoop_review_http.h"


#define NGX_HOOP_API_LIMIT       50
#define NGX_HOOP_API_MAX_LIMIT   500
#define NGX_HOOP_API_MAX_COMMENT 1024
#define NGX_HOOP_API_MAX_BODY    8192


typedef enum {
    ngx_hoop_api_list = 0,
    ngx_hoop_api_get,
    ngx_hoop_api_decide,
    ngx_hoop_api_sessions,
    ngx_hoop_api_events
} ngx_hoop_api_op_e;


typedef struct {
    ngx_hoop_api_op_e           op;
    ngx_str_t                   id;
    ngx_str_t                   state;      /* list filter, or decision */
    ngx_str_t                   comment;
    ngx_uint_t                  limit;
    ngx_uint_t                  offset;     /* events */
    ngx_str_t                   cursor_score;
    ngx_str_t                   cursor_id;
    ngx_hoop_identity_t        *identity;
    const char                 *error;      /* for a status to send */
} ngx_hoop_api_ctx_t;


static ngx_int_t ngx_hoop_api_route(ngx_http_request_t *r,
    ngx_hoop_api_ctx_t *ctx);
static ngx_int_t ngx_hoop_api_args(ngx_http_request_t *r,
    ngx_hoop_api_ctx_t *ctx);
static ngx_uint_t ngx_hoop_api_approver(ngx_http_request_t *r,
    ngx_hoop_identity_t *id);
static void ngx_hoop_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_hoop_api_send(ngx_http_request_t *r,
    ngx_hoop_api_ctx_t *ctx);
static void ngx_hoop_api_reply(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_hoop_api_respond(ngx_http_request_t *r,
    ngx_hoop_api_ctx_t *ctx, redisReply *reply);
static ngx_int_t ngx_hoop_api_decided(ngx_http_request_t *r,
    ngx_hoop_api_ctx_t *ctx, redisReply *reply);
static void ngx_hoop_api_gen_hash(yajl_gen g, redisReply *h);
static ngx_int_t ngx_hoop_api_gen_event(yajl_gen g, redisReply *e,
    ngx_str_t *eids, ngx_uint_t *neids);
static void ngx_hoop_api_gen_cursor(yajl_gen g, redisReply *score,
    redisReply *id);
static ngx_int_t ngx_hoop_api_send_gen(ngx_http_request_t *r,
    ngx_uint_t status, yajl_gen g);
static void ngx_hoop_api_gen_str(yajl_gen g, const char *s);
static void ngx_hoop_api_gen_ngx(yajl_gen g, ngx_str_t *s);


ngx_int_t
ngx_hoop_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_hoop_api_ctx_t          *ctx;
    ngx_hoop_identity_t         *id;

    id = ngx_hoop_review_identity(r);

    if (id == NULL) {
        return ngx_hoop_review_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                          "hoop_api needs an identity "
                                          "(hoop_auth)");
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_hoop_api_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->identity = id;
    ngx_http_set_ctx(r, ctx, ngx_hoop_review_http_module);

    rc = ngx_hoop_api_route(r, ctx);

    if (rc != NGX_OK) {
        if (ctx->error) {
            return ngx_hoop_review_send_error(r, rc, ctx->error);
        }

        return rc;
    }

    if (ctx->op == ngx_hoop_api_decide) {

        if (!ngx_hoop_api_approver(r, id)) {
            return ngx_hoop_review_send_error(r, NGX_HTTP_FORBIDDEN,
                                              "not an approver");
        }

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r, ngx_hoop_api_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_hoop_api_send(r, ctx);

    if (rc != NGX_OK) {
        return ctx->error ? ngx_hoop_review_send_error(r, rc, ctx->error)
                          : rc;
    }

    r->main->count++;

    return NGX_DONE;
}


/* the path after the location's prefix */

static ngx_int_t
ngx_hoop_api_route(ngx_http_request_t *r, ngx_hoop_api_ctx_t *ctx)
{
    u_char                    *p, *last, *q;
    ngx_str_t                  seg[4];
    ngx_uint_t                 n;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = r->uri.data + r->uri.len;

    if (!clcf->named && clcf->name.len <= r->uri.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    n = 0;

    while (p < last) {
        if (*p == '/') {
            p++;
            continue;
        }

        if (n == 4) {
            goto not_found;
        }

        q = ngx_strlchr(p, last, '/');
        if (q == NULL) {
            q = last;
        }

        seg[n].data = p;
        seg[n++].len = q - p;
        p = q;
    }

#define SEG(i, lit)                                                           \
    (seg[i].len == sizeof(lit) - 1                                            \
     && ngx_strncmp(seg[i].data, lit, sizeof(lit) - 1) == 0)

    if (n >= 1 && SEG(0, "reviews")) {

        if (n == 1) {
            ctx->op = ngx_hoop_api_list;

        } else {
            ctx->id = seg[1];

            if (!ngx_hoop_review_valid_id(&ctx->id)) {
                goto not_found;
            }

            if (n == 2) {
                ctx->op = ngx_hoop_api_get;

            } else if (n == 3 && SEG(2, "approve")) {
                ctx->op = ngx_hoop_api_decide;
                ngx_str_set(&ctx->state, "approved");

            } else if (n == 3 && SEG(2, "reject")) {
                ctx->op = ngx_hoop_api_decide;
                ngx_str_set(&ctx->state, "rejected");

            } else {
                goto not_found;
            }
        }

    } else if (n >= 1 && SEG(0, "sessions")) {

        if (n == 1) {
            ctx->op = ngx_hoop_api_sessions;

        } else if (n == 3 && SEG(2, "events")
                   && seg[1].len <= 128)
        {
            ctx->op = ngx_hoop_api_events;
            ctx->id = seg[1];

        } else {
            goto not_found;
        }

    } else {
        goto not_found;
    }

#undef SEG

    if (ctx->op == ngx_hoop_api_decide) {
        if (r->method != NGX_HTTP_POST) {
            return NGX_HTTP_NOT_ALLOWED;
        }

        return NGX_OK;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    return ngx_hoop_api_args(r, ctx);

not_found:

    ctx->error = "no such API endpoint";
    return NGX_HTTP_NOT_FOUND;
}


static ngx_int_t
ngx_hoop_api_args(ngx_http_request_t *r, ngx_hoop_api_ctx_t *ctx)
{
    u_char     *p, *colon;
    ngx_int_t   n;
    ngx_str_t   v;
    ngx_uint_t  i;

    ctx->limit = NGX_HOOP_API_LIMIT;

    if (ngx_http_arg(r, (u_char *) "limit", 5, &v) == NGX_OK) {
        n = ngx_atoi(v.data, v.len);

        if (n <= 0 || n > NGX_HOOP_API_MAX_LIMIT) {
            ctx->error = "limit: 1 to 500";
            return NGX_HTTP_BAD_REQUEST;
        }

        ctx->limit = n;
    }

    if (ngx_http_arg(r, (u_char *) "state", 5, &v) == NGX_OK && v.len) {
        if (ctx->op != ngx_hoop_api_list || v.len > 16) {
            goto bad_state;
        }

        for (i = 0; i < v.len; i++) {
            if (v.data[i] < 'a' || v.data[i] > 'z') {
                goto bad_state;
            }
        }

        ctx->state = v;
    }

    if (ngx_http_arg(r, (u_char *) "cursor", 6, &v) != NGX_OK || v.len == 0) {
        ngx_str_set(&ctx->cursor_score, "+inf");
        return NGX_OK;
    }

    if (ctx->op == ngx_hoop_api_events) {
        n = ngx_atoi(v.data, v.len);

        if (n == NGX_ERROR) {
            goto bad_cursor;
        }

        ctx->offset = n;
        return NGX_OK;
    }

    /* "<score>:<id>", as a previous page's next_cursor */

    colon = ngx_strlchr(v.data, v.data + v.len, ':');

    if (colon == NULL || colon == v.data
        || v.data + v.len - colon - 1 > 128)
    {
        goto bad_cursor;
    }

    for (p = v.data; p < colon; p++) {
        if ((*p < '0' || *p > '9') && *p != '.') {
            goto bad_cursor;
        }
    }

    ctx->cursor_score.data = v.data;
    ctx->cursor_score.len = colon - v.data;

    /* the id may have been percent-encoded by the client */

    p = ngx_pnalloc(r->pool, v.data + v.len - colon);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->cursor_id.data = p;
    colon++;
    ngx_unescape_uri(&p, &colon, v.data + v.len - colon, 0);
    ctx->cursor_id.len = p - ctx->cursor_id.data;

    return NGX_OK;

bad_state:

    ctx->error = "invalid state";
    return NGX_HTTP_BAD_REQUEST;

bad_cursor:

    ctx->error = "invalid cursor";
    return NGX_HTTP_BAD_REQUEST;
}


static ngx_uint_t
ngx_hoop_api_approver(ngx_http_request_t *r, ngx_hoop_identity_t *id)
{
    ngx_str_t                   *a, *g;
    ngx_uint_t                   i, j;
    ngx_hoop_review_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_hoop_review_http_module);

    if (rlcf->approvers == NULL || id->groups == NULL) {
        return 0;
    }

    a = rlcf->approvers->elts;
    g = id->groups->elts;

    for (i = 0; i < rlcf->approvers->nelts; i++) {
        for (j = 0; j < id->groups->nelts; j++) {
            if (a[i].len == g[j].len
                && ngx_strncmp(a[i].data, g[j].data, a[i].len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


/* POST: the body is read; an optional {"comment": "..."} */

static void
ngx_hoop_api_body(ngx_http_request_t *r)
{
    u_char              *text, *p;
    size_t               len;
    ngx_int_t            rc;
    ngx_buf_t           *b;
    yajl_val             root, v;
    ngx_chain_t         *cl;
    ngx_hoop_api_ctx_t  *ctx;
    const char          *str;
    const char          *path[] = { "comment", NULL };

    ctx = ngx_http_get_module_ctx(r, ngx_hoop_review_http_module);

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (b->in_file) {
                rc = ngx_hoop_review_send_error(r,
                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                         "the body is too large");
                ngx_http_finalize_request(r, rc);
                return;
            }

            len += b->last - b->pos;
        }
    }

    if (len > NGX_HOOP_API_MAX_BODY) {
        rc = ngx_hoop_review_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "the body is too large");
        ngx_http_finalize_request(r, rc);
        return;
    }

    if (len) {
        text = ngx_pnalloc(r->pool, len + 1);
        if (text == NULL) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        p = text;

        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
        }

        *p = '\0';

        root = yajl_tree_parse((const char *) text, NULL, 0);

        if (root == NULL || !YAJL_IS_OBJECT(root)) {
            if (root) {
                yajl_tree_free(root);
            }

            rc = ngx_hoop_review_send_error(r, NGX_HTTP_BAD_REQUEST,
                                            "the body must be a JSON "
                                            "object");
            ngx_http_finalize_request(r, rc);
            return;
        }

        v = yajl_tree_get(root, path, yajl_t_any);

        str = v ? YAJL_GET_STRING(v) : NULL;

        if (v) {
            if (str == NULL || ngx_strlen(str) > NGX_HOOP_API_MAX_COMMENT) {
                yajl_tree_free(root);
                rc = ngx_hoop_review_send_error(r, NGX_HTTP_BAD_REQUEST,
                                                "comment: a string of at "
                                                "most 1024 bytes");
                ngx_http_finalize_request(r, rc);
                return;
            }

            ctx->comment.len = ngx_strlen(str);
            ctx->comment.data = ngx_pnalloc(r->pool, ctx->comment.len + 1);

            if (ctx->comment.data == NULL) {
                yajl_tree_free(root);
                ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }

            ngx_memcpy(ctx->comment.data, str, ctx->comment.len);
        }

        yajl_tree_free(root);
    }

    rc = ngx_hoop_api_send(r, ctx);

    if (rc != NGX_OK) {
        if (ctx->error) {
            rc = ngx_hoop_review_send_error(r, rc, ctx->error);
        }

        ngx_http_finalize_request(r, rc);
        return;
    }

    /* the reference taken by reading the body holds the request until the
     * reply finalizes it */
}


#define NGX_HOOP_API_ARGS  16

static ngx_int_t
ngx_hoop_api_send(ngx_http_request_t *r, ngx_hoop_api_ctx_t *ctx)
{
    int                          argc;
    u_char                      *key;
    size_t                       argvlen[NGX_HOOP_API_ARGS];
    ngx_uint_t                   start;
    const char                  *argv[NGX_HOOP_API_ARGS];
    ngx_time_t                  *tp;
    ngx_hoop_identity_t         *id;
    ngx_hoop_review_loc_conf_t  *rlcf;
    u_char                       now[NGX_INT64_LEN];
    u_char                       limit[NGX_INT_T_LEN];
    u_char                       first[NGX_INT_T_LEN];
    u_char                       lastn[NGX_INT_T_LEN];

    rlcf = ngx_http_get_module_loc_conf(r, ngx_hoop_review_http_module);

    key = ngx_pnalloc(r->pool, sizeof(NGX_HOOP_SESSION_KEY) + 128
                               + sizeof(NGX_HOOP_REVIEW_KEY)
                               + NGX_HOOP_REVIEW_ID_LEN);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    tp = ngx_timeofday();
    id = ctx->identity;
    argc = 0;

#define ARG(s, l)  argv[argc] = (const char *) (s); argvlen[argc++] = (l)
#define ARGS(str)  ARG((str)->data, (str)->len)
#define ARGL(lit)  ARG(lit, sizeof(lit) - 1)

    switch (ctx->op) {

    case ngx_hoop_api_list:
        ARGL("EVAL");
        ARGS(&ngx_hoop_review_lua_list);
        ARGL("1");

        if (ctx->state.len == 7
            && ngx_strncmp(ctx->state.data, "pending", 7) == 0)
        {
            ARGL(NGX_HOOP_REVIEW_PENDING_INDEX);

        } else {
            ARGL(NGX_HOOP_REVIEW_INDEX);
        }

        ARGS(&ctx->cursor_score);
        ARGS(&ctx->cursor_id);
        ARG(limit, ngx_sprintf(limit, "%ui", ctx->limit) - limit);
        ARGS(&ctx->state);
        ARG(now, ngx_sprintf(now, "%M",
                             (ngx_msec_t) tp->sec * 1000 + tp->msec) - now);
        break;

    case ngx_hoop_api_get:
        ARGL("HGETALL");
        ARG(key, ngx_sprintf(key, NGX_HOOP_REVIEW_KEY "%V", &ctx->id) - key);
        break;

    case ngx_hoop_api_decide:
        ARGL("EVAL");
        ARGS(&ngx_hoop_review_lua_decide);
        ARGL("2");
        ARG(key, ngx_sprintf(key, NGX_HOOP_REVIEW_KEY "%V", &ctx->id) - key);
        ARGL(NGX_HOOP_REVIEW_PENDING_INDEX);
        ARGS(&ctx->id);
        ARGS(&ctx->state);
        ARG(now, ngx_sprintf(now, "%M",
                             (ngx_msec_t) tp->sec * 1000 + tp->msec) - now);
        ARGS(&id->subject);

        if (rlcf->self_approve) {
            ARGL("1");

        } else {
            ARGL("0");
        }

        ARGS(&ctx->comment);
        ARGS(&id->user);
        ARGS(&id->email);
        break;

    case ngx_hoop_api_sessions:
        ARGL("EVAL");
        ARGS(&ngx_hoop_review_lua_sessions);
        ARGL("1");
        ARGL(NGX_HOOP_SESSIONS_INDEX);
        ARGS(&ctx->cursor_score);
        ARGS(&ctx->cursor_id);
        ARG(limit, ngx_sprintf(limit, "%ui", ctx->limit) - limit);
        break;

    case ngx_hoop_api_events:
        start = ctx->offset;
        ARGL("EVAL");
        ARGS(&ngx_hoop_review_lua_events);
        ARGL("1");
        ARG(key, ngx_sprintf(key, NGX_HOOP_SESSION_KEY "%V", &ctx->id) - key);
        ARG(first, ngx_sprintf(first, "%ui", start) - first);
        ARG(lastn, ngx_sprintf(lastn, "%ui", start + ctx->limit - 1) - lastn);
        break;
    }

#undef ARG
#undef ARGS
#undef ARGL

    if (ngx_hoop_review_command(argc, argv, argvlen, ngx_hoop_api_reply, r)
        != NGX_OK)
    {
        ctx->error = "the review store is unavailable";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_OK;
}


static void
ngx_hoop_api_reply(ngx_hoop_redis_t *rd, redisReply *reply, void *data)
{
    ngx_http_request_t  *r = data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_hoop_api_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_hoop_review_http_module);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "hoop api: Redis: %*s", (size_t) reply->len,
                          reply->str);
        }

        rc = ngx_hoop_review_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "the review store is unavailable");

    } else {
        rc = ngx_hoop_api_respond(r, ctx, reply);
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_hoop_api_respond(ngx_http_request_t *r, ngx_hoop_api_ctx_t *ctx,
    redisReply *reply)
{
    size_t      i;
    yajl_gen    g;
    ngx_int_t   rc;
    ngx_str_t  *eids;
    ngx_uint_t  neids;
    redisReply *e;

    if (ctx->op == ngx_hoop_api_decide) {
        return ngx_hoop_api_decided(r, ctx, reply);
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        goto bad;
    }

    if (ctx->op == ngx_hoop_api_get && reply->elements == 0) {
        return ngx_hoop_review_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "no such review");
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (ctx->op) {

    case ngx_hoop_api_get:
        ngx_hoop_api_gen_hash(g, reply);
        break;

    case ngx_hoop_api_list:
        if (reply->elements < 2) {
            yajl_gen_free(g);
            goto bad;
        }

        yajl_gen_map_open(g);
        ngx_hoop_api_gen_str(g, "reviews");
        yajl_gen_array_open(g);

        for (i = 2; i < reply->elements; i++) {
            ngx_hoop_api_gen_hash(g, reply->element[i]);
        }

        yajl_gen_array_close(g);
        ngx_hoop_api_gen_str(g, "next_cursor");
        ngx_hoop_api_gen_cursor(g, reply->element[0], reply->element[1]);
        yajl_gen_map_close(g);
        break;

    case ngx_hoop_api_sessions:
        if (reply->elements < 2) {
            yajl_gen_free(g);
            goto bad;
        }

        yajl_gen_map_open(g);
        ngx_hoop_api_gen_str(g, "sessions");
        yajl_gen_array_open(g);

        for (i = 2; i < reply->elements; i++) {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_ARRAY || e->elements != 3
                || e->element[0]->type != REDIS_REPLY_STRING
                || e->element[1]->type != REDIS_REPLY_STRING
                || e->element[2]->type != REDIS_REPLY_INTEGER)
            {
                continue;
            }

            yajl_gen_map_open(g);
            ngx_hoop_api_gen_str(g, "session_id");
            yajl_gen_string(g, (u_char *) e->element[0]->str,
                            e->element[0]->len);
            ngx_hoop_api_gen_str(g, "last_event");
            yajl_gen_number(g, e->element[1]->str, e->element[1]->len);
            ngx_hoop_api_gen_str(g, "events");
            yajl_gen_integer(g, e->element[2]->integer);
            yajl_gen_map_close(g);
        }

        yajl_gen_array_close(g);
        ngx_hoop_api_gen_str(g, "next_cursor");
        ngx_hoop_api_gen_cursor(g, reply->element[0], reply->element[1]);
        yajl_gen_map_close(g);
        break;

    case ngx_hoop_api_events:
        if (reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_INTEGER
            || reply->element[1]->type != REDIS_REPLY_ARRAY)
        {
            yajl_gen_free(g);
            goto bad;
        }

        if (reply->element[0]->integer == 0) {
            yajl_gen_free(g);
            return ngx_hoop_review_send_error(r, NGX_HTTP_NOT_FOUND,
                                              "no such session");
        }

        eids = ngx_pnalloc(r->pool,
                           sizeof(ngx_str_t)
                           * (reply->element[1]->elements + 1));
        if (eids == NULL) {
            yajl_gen_free(g);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        neids = 0;

        yajl_gen_map_open(g);
        ngx_hoop_api_gen_str(g, "session_id");
        ngx_hoop_api_gen_ngx(g, &ctx->id);
        ngx_hoop_api_gen_str(g, "total");
        yajl_gen_integer(g, reply->element[0]->integer);
        ngx_hoop_api_gen_str(g, "events");
        yajl_gen_array_open(g);

        for (i = 0; i < reply->element[1]->elements; i++) {
            (void) ngx_hoop_api_gen_event(g, reply->element[1]->element[i],
                                          eids, &neids);
        }

        yajl_gen_array_close(g);
        ngx_hoop_api_gen_str(g, "next_cursor");

        if ((long long) (ctx->offset + ctx->limit)
            < reply->element[0]->integer)
        {
            u_char  next[NGX_INT_T_LEN];

            yajl_gen_string(g, next,
                            ngx_sprintf(next, "%ui",
                                        ctx->offset + ctx->limit) - next);
        } else {
            yajl_gen_null(g);
        }

        yajl_gen_map_close(g);
        break;

    default:
        break;
    }

    rc = ngx_hoop_api_send_gen(r, NGX_HTTP_OK, g);
    yajl_gen_free(g);

    return rc;

bad:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "hoop api: an unexpected reply from Redis");

    return ngx_hoop_review_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                      "an unexpected reply from Redis");
}


static ngx_int_t
ngx_hoop_api_decided(ngx_http_request_t *r, ngx_hoop_api_ctx_t *ctx,
    redisReply *reply)
{
    yajl_gen    g;
    ngx_int_t   rc;
    ngx_str_t   what, kind, scope, sub;
    redisReply *e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return ngx_hoop_review_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                          "an unexpected reply from Redis");
    }

    e = reply->element[0];
    what.data = (u_char *) e->str;
    what.len = e->len;

    if (what.len == 7 && ngx_strncmp(what.data, "missing", 7) == 0) {
        return ngx_hoop_review_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "no such review");
    }

    if (what.len == 4 && ngx_strncmp(what.data, "self", 4) == 0) {
        return ngx_hoop_review_send_error(r, NGX_HTTP_FORBIDDEN,
                                          "the requester cannot decide "
                                          "their own review");
    }

    g = yajl_gen_alloc(NULL);
    if (g == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (what.len == 8 && ngx_strncmp(what.data, "conflict", 8) == 0
        && reply->elements >= 2 && reply->element[1]->type
                                   == REDIS_REPLY_STRING)
    {
        yajl_gen_map_open(g);
        ngx_hoop_api_gen_str(g, "error");
        ngx_hoop_api_gen_str(g, "the review is no longer pending");
        ngx_hoop_api_gen_str(g, "id");
        ngx_hoop_api_gen_ngx(g, &ctx->id);
        ngx_hoop_api_gen_str(g, "state");
        yajl_gen_string(g, (u_char *) reply->element[1]->str,
                        reply->element[1]->len);
        yajl_gen_map_close(g);

        rc = ngx_hoop_api_send_gen(r, NGX_HTTP_CONFLICT, g);
        yajl_gen_free(g);
        return rc;
    }

    if (!(what.len == 2 && ngx_strncmp(what.data, "ok", 2) == 0)
        || reply->elements != 5)
    {
        yajl_gen_free(g);
        return ngx_hoop_review_send_error(r, NGX_HTTP_BAD_GATEWAY,
                                          "an unexpected reply from Redis");
    }

    kind.data = (u_char *) reply->element[2]->str;
    kind.len = reply->element[2]->len;
    scope.data = (u_char *) reply->element[3]->str;
    scope.len = reply->element[3]->len;
    sub.data = (u_char *) reply->element[4]->str;
    sub.len = reply->element[4]->len;

    ngx_hoop_review_audit_decided(r->connection->log, &ctx->id, &ctx->state,
                                  &kind, &scope, &sub, ctx->identity,
                                  &ctx->comment);

    yajl_gen_map_open(g);
    ngx_hoop_api_gen_str(g, "id");
    ngx_hoop_api_gen_ngx(g, &ctx->id);
    ngx_hoop_api_gen_str(g, "state");
    ngx_hoop_api_gen_ngx(g, &ctx->state);
    ngx_hoop_api_gen_str(g, "approver");
    ngx_hoop_api_gen_ngx(g, &ctx->identity->subject);
    ngx_hoop_api_gen_str(g, "comment");
    ngx_hoop_api_gen_ngx(g, &ctx->comment);
    yajl_gen_map_close(g);

    rc = ngx_hoop_api_send_gen(r, NGX_HTTP_OK, g);
    yajl_gen_free(g);

    return rc;
}


/* a review hash (HGETALL: field, value, ...) as an object of strings */

static void
ngx_hoop_api_gen_hash(yajl_gen g, redisReply *h)
{
    size_t       i;
    redisReply  *k, *v;

    yajl_gen_map_open(g);

    if (h->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i + 1 < h->elements; i += 2) {
            k = h->element[i];
            v = h->element[i + 1];

            if (k->type != REDIS_REPLY_STRING
                || v->type != REDIS_REPLY_STRING)
            {
                continue;
            }

            yajl_gen_string(g, (u_char *) k->str, k->len);
            yajl_gen_string(g, (u_char *) v->str, v->len);
        }
    }

    yajl_gen_map_close(g);
}


/* an event as the spool encodes it; a repeated "eid" is left out */

static ngx_int_t
ngx_hoop_api_gen_event(yajl_gen g, redisReply *e, ngx_str_t *eids,
    ngx_uint_t *neids)
{
    ngx_int_t    n, i;
    ngx_uint_t   j;
    size_t       argvlen[2 * (NGX_HOOP_AUDIT_MAX_FIELDS + 8)];
    const char  *argv[2 * (NGX_HOOP_AUDIT_MAX_FIELDS + 8)];

    if (e->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    n = ngx_hoop_audit_record_fields((u_char *) e->str, e->len, argv,
                                     argvlen,
                                     2 * (NGX_HOOP_AUDIT_MAX_FIELDS + 8));
    if (n == NGX_ERROR) {
        return NGX_ERROR;
    }

    for (i = 0; i + 1 < n; i += 2) {
        if (argvlen[i] == 3 && ngx_strncmp(argv[i], "eid", 3) == 0) {

            for (j = 0; j < *neids; j++) {
                if (eids[j].len == argvlen[i + 1]
                    && ngx_strncmp(eids[j].data, argv[i + 1], eids[j].len)
                       == 0)
                {
                    return NGX_DECLINED;
                }
            }

            eids[*neids].data = (u_char *) argv[i + 1];
            eids[*neids].len = argvlen[i + 1];
            (*neids)++;
            break;
        }
    }

    yajl_gen_map_open(g);

    for (i = 0; i + 1 < n; i += 2) {
        yajl_gen_string(g, (u_char *) argv[i], argvlen[i]);
        yajl_gen_string(g, (u_char *) argv[i + 1], argvlen[i + 1]);
    }

    yajl_gen_map_close(g);

    return NGX_OK;
}


static void
ngx_hoop_api_gen_cursor(yajl_gen g, redisReply *score, redisReply *id)
{
    u_char  *p, buf[256];

    if (score->type != REDIS_REPLY_STRING || score->len == 0
        || id->type != REDIS_REPLY_STRING || score->len + id->len + 1 > 256)
    {
        yajl_gen_null(g);
        return;
    }

    p = ngx_cpymem(buf, score->str, score->len);
    *p++ = ':';
    p = ngx_cpymem(p, id->str, id->len);

    yajl_gen_string(g, buf, p - buf);
}


static ngx_int_t
ngx_hoop_api_send_gen(ngx_http_request_t *r, ngx_uint_t status, yajl_gen g)
{
    u_char               *body;
    size_t                len;
    const unsigned char  *out;

    if (yajl_gen_get_buf(g, &out, &len) != yajl_gen_status_ok) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ngx_pnalloc(r->pool, len + 1);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body, out, len);
    body[len] = '\n';

    return ngx_hoop_review_send_json(r, status, body, len + 1);
}


static void
ngx_hoop_api_gen_str(yajl_gen g, const char *s)
{
    yajl_gen_string(g, (const u_char *) s, ngx_strlen(s));
}


static void
ngx_hoop_api_gen_ngx(yajl_gen g, ngx_str_t *s)
{
    yajl_gen_string(g, s->data, s->len);
}
