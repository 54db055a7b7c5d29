
/*
 * ngx_hoop_mask_http_module: masks JSON response bodies as they stream.
 *
 * The body is parsed with yajl and regenerated with yajl_gen a few KB at
 * a time: values under masked keys are rewritten whole, other strings
 * (and numbers, and keys) go through the detectors, numbers nobody masks
 * keep their exact text.  Output goes into a bounded set of buffers; when
 * they are all in flight the filter stops reading its input, which holds
 * the upstream back.  JSON that does not parse cuts the response: what
 * was sent is masked, the rest never leaves.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <yajl/yajl_parse.h>
#include <yajl/yajl_gen.h>
#include "ngx_hoop_mask.h"


#define NGX_HOOP_MASK_JSON_PASS    0
#define NGX_HOOP_MASK_JSON_REFUSE  1

#define NGX_HOOP_MASK_JSON_FEED    4096   /* input bytes per yajl_parse() */
#define NGX_HOOP_MASK_JSON_KEY     128    /* key bytes kept for matching */


typedef struct {
    ngx_array_t                *rules;     /* ngx_hoop_mask_rule_t */
    ngx_array_t                *unless;    /* ngx_int_t: variable index */
    ngx_uint_t                  other;
    size_t                      max_token;
    ngx_uint_t                  max_depth;
    ngx_bufs_t                  bufs;
} ngx_hoop_mask_json_loc_conf_t;


typedef struct {
    ngx_uint_t                  array;
    ngx_hoop_mask_rule_t       *rule;      /* masks the whole container */
    size_t                      key_len;   /* > NGX_HOOP_MASK_JSON_KEY:
                                              too long to match */
    u_char                      key[NGX_HOOP_MASK_JSON_KEY];
} ngx_hoop_mask_json_frame_t;


typedef struct {
    ngx_http_request_t         *request;
    ngx_hoop_mask_json_loc_conf_t  *conf;

    yajl_handle                 parser;
    yajl_gen                    gen;
    ngx_pool_t                  *tmp;      /* reset after every feed */

    ngx_array_t                 frames;
    ngx_hoop_mask_rule_t       *pending;   /* the rule of the next value */
    u_char                     *skip;      /* rules off by unless= */
    ngx_uint_t                  keys;      /* some active rule has keys */
    ngx_uint_t                  detect;    /* some active rule detects */

    ngx_chain_t                *in;
    ngx_chain_t                *out;
    ngx_chain_t               **last_out;
    ngx_chain_t                *free;
    ngx_chain_t                *busy;
    ngx_chain_t                *marks;     /* empty buffers for flags */
    ngx_buf_t                  *tail;      /* the last buffer of out */
    ngx_uint_t                  nbufs;

    size_t                      gen_sent;  /* of the generator's buffer */
    size_t                      quiet;     /* bytes fed since a token */
    off_t                       fed;
    char                       *error;

    ngx_hoop_mask_stats_t       stats;

    unsigned                    pass:1;
    unsigned                    event:1;
    unsigned                    flush:1;
    unsigned                    last:1;
    unsigned                    done:1;
    unsigned                    failed:1;
} ngx_hoop_mask_json_ctx_t;


static ngx_int_t ngx_hoop_mask_json_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_hoop_mask_json_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_hoop_mask_json_start(ngx_http_request_t *r,
    ngx_hoop_mask_json_loc_conf_t *conf);
static ngx_int_t ngx_hoop_mask_json_refuse(ngx_http_request_t *r,
    const char *why);
static ngx_uint_t ngx_hoop_mask_json_type(ngx_http_request_t *r);
static ngx_int_t ngx_hoop_mask_json_feed(ngx_hoop_mask_json_ctx_t *ctx);
static ngx_int_t ngx_hoop_mask_json_output(ngx_hoop_mask_json_ctx_t *ctx);
static void ngx_hoop_mask_json_cleanup(void *data);

static int ngx_hoop_mask_json_null(void *data);
static int ngx_hoop_mask_json_boolean(void *data, int v);
static int ngx_hoop_mask_json_number(void *data, const char *s, size_t len);
static int ngx_hoop_mask_json_string(void *data, const unsigned char *s,
    size_t len);
static int ngx_hoop_mask_json_start_map(void *data);
static int ngx_hoop_mask_json_map_key(void *data, const unsigned char *s,
    size_t len);
static int ngx_hoop_mask_json_end_map(void *data);
static int ngx_hoop_mask_json_start_array(void *data);
static int ngx_hoop_mask_json_end_array(void *data);

static ngx_int_t ngx_hoop_mask_json_count_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_hoop_mask_json_detail_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static char *ngx_hoop_mask_json(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_hoop_mask_json_add_variables(ngx_conf_t *cf);
static void *ngx_hoop_mask_json_create_loc_conf(ngx_conf_t *cf);
static char *ngx_hoop_mask_json_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_hoop_mask_json_init(ngx_conf_t *cf);


static ngx_conf_enum_t  ngx_hoop_mask_json_other_values[] = {
    { ngx_string("pass"), NGX_HOOP_MASK_JSON_PASS },
    { ngx_string("refuse"), NGX_HOOP_MASK_JSON_REFUSE },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_hoop_mask_json_commands[] = {

    { ngx_string("hoop_mask_json"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_hoop_mask_json,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("hoop_mask_json_other"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_mask_json_loc_conf_t, other),
      &ngx_hoop_mask_json_other_values },

    { ngx_string("hoop_mask_json_max_token"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_mask_json_loc_conf_t, max_token),
      NULL },

    { ngx_string("hoop_mask_json_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_mask_json_loc_conf_t, max_depth),
      NULL },

    { ngx_string("hoop_mask_json_buffers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_conf_set_bufs_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_mask_json_loc_conf_t, bufs),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_hoop_mask_json_module_ctx = {
    ngx_hoop_mask_json_add_variables,      /* preconfiguration */
    ngx_hoop_mask_json_init,               /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_hoop_mask_json_create_loc_conf,    /* create location configuration */
    ngx_hoop_mask_json_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_hoop_mask_http_module = {
    NGX_MODULE_V1,
    &ngx_hoop_mask_json_module_ctx,        /* module context */
    ngx_hoop_mask_json_commands,           /* module directives */
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


static yajl_callbacks  ngx_hoop_mask_json_callbacks = {
    ngx_hoop_mask_json_null,
    ngx_hoop_mask_json_boolean,
    NULL,
    NULL,
    ngx_hoop_mask_json_number,
    ngx_hoop_mask_json_string,
    ngx_hoop_mask_json_start_map,
    ngx_hoop_mask_json_map_key,
    ngx_hoop_mask_json_end_map,
    ngx_hoop_mask_json_start_array,
    ngx_hoop_mask_json_end_array
};


static ngx_http_variable_t  ngx_hoop_mask_json_vars[] = {

    { ngx_string("hoop_mask_count"), NULL,
      ngx_hoop_mask_json_count_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_mask_detail"), NULL,
      ngx_hoop_mask_json_detail_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static ngx_int_t
ngx_hoop_mask_json_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t                *ce;
    ngx_hoop_mask_json_ctx_t       *ctx;
    ngx_hoop_mask_json_loc_conf_t  *conf;

    conf = ngx_http_get_module_loc_conf(r, ngx_hoop_mask_http_module);

    if (conf->rules == NULL || conf->rules->nelts == 0
        || ngx_http_get_module_ctx(r, ngx_hoop_mask_http_module) != NULL)
    {
        /* no rules, or the error page of a refused response */
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status == NGX_HTTP_NO_CONTENT
        || r->headers_out.status == NGX_HTTP_NOT_MODIFIED)
    {
        return ngx_http_next_header_filter(r);
    }

    if (!ngx_hoop_mask_json_type(r)) {
        if (conf->other == NGX_HOOP_MASK_JSON_REFUSE && !r->header_only) {
            return ngx_hoop_mask_json_refuse(r, "is not JSON");
        }

        return ngx_http_next_header_filter(r);
    }

    ce = r->headers_out.content_encoding;

    if (ce && ce->hash && ce->value.len
        && !(ce->value.len == 8
             && ngx_strncasecmp(ce->value.data, (u_char *) "identity", 8)
                == 0))
    {
        return ngx_hoop_mask_json_refuse(r, "is compressed (send "
                                         "\"Accept-Encoding\" empty to the "
                                         "upstream or gunzip it)");
    }

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);
    r->allow_ranges = 0;

    if (r->header_only) {
        return ngx_http_next_header_filter(r);
    }

    switch (ngx_hoop_mask_json_start(r, conf)) {

    case NGX_ERROR:
        return NGX_ERROR;

    case NGX_DECLINED:
        /* every rule is off for this request */
        return ngx_http_next_header_filter(r);

    default:
        break;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_hoop_mask_http_module);

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "hoop mask json: start, keys:%ui detect:%ui",
                   ctx->keys, ctx->detect);

    r->filter_need_in_memory = 1;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_hoop_mask_json_refuse(ngx_http_request_t *r, const char *why)
{
    ngx_hoop_mask_json_ctx_t  *ctx;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "hoop_mask_json: refused a response that %s, "
                  "content type \"%V\"", why, &r->headers_out.content_type);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_hoop_mask_json_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->pass = 1;
    ngx_http_set_ctx(r, ctx, ngx_hoop_mask_http_module);

    return ngx_http_filter_finalize_request(r, &ngx_hoop_mask_http_module,
                                            NGX_HTTP_BAD_GATEWAY);
}


/* application/json and any application/...+json */

static ngx_uint_t
ngx_hoop_mask_json_type(ngx_http_request_t *r)
{
    u_char  *p, *last;
    size_t   len;

    len = r->headers_out.content_type_len;

    if (len == 0) {
        p = r->headers_out.content_type.data;
        last = ngx_strlchr(p, p + r->headers_out.content_type.len, ';');
        len = (last ? last : p + r->headers_out.content_type.len) - p;
    }

    p = r->headers_out.content_type.data;

    while (len && p[len - 1] == ' ') {
        len--;
    }

    if (len == 16 && ngx_strncasecmp(p, (u_char *) "application/json", 16)
                     == 0)
    {
        return 1;
    }

    return len > 17 && ngx_strncasecmp(p, (u_char *) "application/", 12) == 0
           && ngx_strncasecmp(p + len - 5, (u_char *) "+json", 5) == 0;
}


static ngx_int_t
ngx_hoop_mask_json_start(ngx_http_request_t *r,
    ngx_hoop_mask_json_loc_conf_t *conf)
{
    ngx_int_t                  *index;
    ngx_uint_t                  i, active;
    ngx_pool_cleanup_t         *cln;
    ngx_hoop_mask_rule_t       *rule;
    ngx_hoop_mask_json_ctx_t   *ctx;
    ngx_http_variable_value_t  *vv;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_hoop_mask_json_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->skip = ngx_pcalloc(r->pool, conf->rules->nelts);
    ctx->stats.by_rule = ngx_pcalloc(r->pool,
                                     conf->rules->nelts * sizeof(ngx_uint_t));
    if (ctx->skip == NULL || ctx->stats.by_rule == NULL) {
        return NGX_ERROR;
    }

    rule = conf->rules->elts;
    index = conf->unless->elts;
    active = 0;

    for (i = 0; i < conf->rules->nelts; i++) {
        if (index[i] != NGX_ERROR) {
            vv = ngx_http_get_indexed_variable(r, index[i]);

            if (vv && !vv->not_found && vv->len
                && !(vv->len == 1 && vv->data[0] == '0'))
            {
                ctx->skip[i] = 1;
                continue;
            }
        }

        active++;

        if (rule[i].keys) {
            ctx->keys = 1;
        }

        if (rule[i].detectors || rule[i].regexes) {
            ctx->detect = 1;
        }
    }

    if (active == 0) {
        return NGX_DECLINED;
    }

    ctx->request = r;
    ctx->conf = conf;
    ctx->last_out = &ctx->out;

    if (ngx_array_init(&ctx->frames, r->pool, 4,
                       sizeof(ngx_hoop_mask_json_frame_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    ctx->tmp = ngx_create_pool(4096, r->connection->log);
    ctx->parser = yajl_alloc(&ngx_hoop_mask_json_callbacks, NULL, ctx);
    ctx->gen = yajl_gen_alloc(NULL);

    cln->handler = ngx_hoop_mask_json_cleanup;
    cln->data = ctx;

    if (ctx->tmp == NULL || ctx->parser == NULL || ctx->gen == NULL) {
        return NGX_ERROR;
    }

    ngx_http_set_ctx(r, ctx, ngx_hoop_mask_http_module);

    return NGX_OK;
}


static void
ngx_hoop_mask_json_cleanup(void *data)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    if (ctx->parser) {
        yajl_free(ctx->parser);
    }

    if (ctx->gen) {
        yajl_gen_free(ctx->gen);
    }

    if (ctx->tmp) {
        ngx_destroy_pool(ctx->tmp);
    }
}


static ngx_int_t
ngx_hoop_mask_json_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_hoop_mask_json_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_hoop_mask_http_module);

    if (ctx == NULL || ctx->pass) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->failed) {
        return NGX_ERROR;
    }

    if (ctx->done) {
        /* nothing after the end of the JSON document leaves */
        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        return ngx_http_next_body_filter(r, NULL);
    }

    if (in && ngx_chain_add_copy(r->pool, &ctx->in, in) != NGX_OK) {
        return NGX_ERROR;
    }

    for ( ;; ) {

        /* produce as long as there is input and room for the output */

        for ( ;; ) {
            rc = ngx_hoop_mask_json_output(ctx);

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_AGAIN || ctx->in == NULL || ctx->done) {
                break;
            }

            if (ngx_hoop_mask_json_feed(ctx) != NGX_OK) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              "hoop_mask_json: %s after %O bytes of the "
                              "upstream response; the response is cut",
                              ctx->error ? ctx->error : "JSON error",
                              ctx->fed);

                ctx->failed = 1;
                r->buffered &= ~NGX_HTTP_SUB_BUFFERED;

                return NGX_ERROR;
            }
        }

        if (ctx->gen_sent == 0 && (ctx->flush || ctx->last)) {

            if (ctx->out == NULL) {
                /* no data to carry the flags: an empty buffer does */
                if (ctx->marks) {
                    cl = ctx->marks;
                    ctx->marks = cl->next;

                } else {
                    cl = ngx_alloc_chain_link(r->pool);
                    if (cl == NULL) {
                        return NGX_ERROR;
                    }

                    cl->buf = ngx_calloc_buf(r->pool);
                    if (cl->buf == NULL) {
                        return NGX_ERROR;
                    }

                    cl->buf->tag = (ngx_buf_tag_t) &ngx_hoop_mask_http_module;
                }

                cl->next = NULL;
                ctx->out = cl;
                ctx->last_out = &cl->next;
                ctx->tail = cl->buf;
            }

            b = ctx->tail;

            if (ctx->flush) {
                b->flush = 1;
                ctx->flush = 0;
            }

            if (ctx->last) {
                b->last_buf = (r == r->main) ? 1 : 0;
                b->last_in_chain = 1;
                b->sync = (r == r->main) ? 0 : (b->start == NULL);
                ctx->last = 0;
                ctx->done = 1;
            }
        }

        if (ctx->out == NULL && ctx->busy == NULL && in != NULL) {
            break;
        }

        rc = ngx_http_next_body_filter(r, ctx->out);

        ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &ctx->out,
                                (ngx_buf_tag_t) &ngx_hoop_mask_http_module);
        ctx->last_out = &ctx->out;

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        /* buffers came back: work on what is left */
        if (ctx->free && !ctx->done
            && (ctx->in || ctx->gen_sent))
        {
            continue;
        }

        break;
    }

    if (ctx->in || ctx->gen_sent) {
        r->buffered |= NGX_HTTP_SUB_BUFFERED;
        return NGX_AGAIN;

    } else {
        r->buffered &= ~NGX_HTTP_SUB_BUFFERED;
    }

    return ctx->busy ? NGX_AGAIN : NGX_OK;
}


/* one slice of input into the parser */

static ngx_int_t
ngx_hoop_mask_json_feed(ngx_hoop_mask_json_ctx_t *ctx)
{
    size_t          n;
    u_char         *msg, *p, *last;
    ngx_buf_t      *b;
    ngx_chain_t    *cl;
    yajl_status     st;
    ngx_http_request_t  *r;

    r = ctx->request;
    cl = ctx->in;
    b = cl->buf;

    n = ngx_buf_in_memory(b) ? (size_t) (b->last - b->pos) : 0;

    if (n) {
        n = ngx_min(n, NGX_HOOP_MASK_JSON_FEED);

        ctx->event = 0;

        st = yajl_parse(ctx->parser, b->pos, n);

        ngx_reset_pool(ctx->tmp);

        if (st != yajl_status_ok) {
            goto failed;
        }

        b->pos += n;
        ctx->fed += n;

        /* a token that never ends would grow yajl's buffer without bound */
        ctx->quiet = ctx->event ? 0 : ctx->quiet + n;

        if (ctx->quiet > ctx->conf->max_token) {
            ctx->error = "a JSON token is larger than "
                         "\"hoop_mask_json_max_token\"";
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (!ngx_buf_in_memory(b) && ngx_buf_size(b)) {
        ctx->error = "a body buffer is not in memory";
        return NGX_ERROR;
    }

    /* this buffer is done */

    if (b->flush) {
        ctx->flush = 1;
    }

    if (b->last_buf || (b->last_in_chain && r != r->main)) {

        if (ctx->fed) {
            st = yajl_complete_parse(ctx->parser);

            ngx_reset_pool(ctx->tmp);

            if (st != yajl_status_ok) {
                goto failed;
            }
        }

        ctx->last = 1;
    }

    ctx->in = cl->next;
    ngx_free_chain(r->pool, cl);

    return NGX_OK;

failed:

    if (ctx->error == NULL) {
        msg = yajl_get_error(ctx->parser, 0, NULL, 0);

        p = ngx_pnalloc(r->pool, 128);
        if (p) {
            /* yajl's non-verbose message never quotes the input */
            last = ngx_snprintf(p, 127, "malformed JSON (%s",
                                msg ? (char *) msg : "?");

            while (last > p && (last[-1] == '\n' || last[-1] == ' ')) {
                last--;
            }

            *last++ = ')';
            *last = '\0';
            ctx->error = (char *) p;
        }

        if (msg) {
            yajl_free_error(ctx->parser, msg);
        }
    }

    return NGX_ERROR;
}


/* the generator's output into our buffers; NGX_AGAIN: none is free */

static ngx_int_t
ngx_hoop_mask_json_output(ngx_hoop_mask_json_ctx_t *ctx)
{
    size_t                  len, n;
    ngx_buf_t              *b;
    ngx_chain_t            *cl;
    const unsigned char    *buf;
    ngx_http_request_t     *r;

    r = ctx->request;

    if (yajl_gen_get_buf(ctx->gen, &buf, &len) != yajl_gen_status_ok) {
        return NGX_ERROR;
    }

    while (ctx->gen_sent < len) {

        if (ctx->free) {
            cl = ctx->free;
            ctx->free = cl->next;
            b = cl->buf;

            if (b->start == NULL) {
                /* an empty buffer made for flags: not one to fill */
                b->flush = 0;
                b->last_buf = 0;
                b->last_in_chain = 0;
                b->sync = 0;
                cl->next = ctx->marks;
                ctx->marks = cl;
                continue;
            }

        } else if (ctx->nbufs < (ngx_uint_t) ctx->conf->bufs.num) {
            b = ngx_create_temp_buf(r->pool, ctx->conf->bufs.size);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->tag = (ngx_buf_tag_t) &ngx_hoop_mask_http_module;
            b->recycled = 1;

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = b;
            ctx->nbufs++;

        } else {
            return NGX_AGAIN;
        }

        b->pos = b->start;
        b->flush = 0;
        b->last_buf = 0;
        b->last_in_chain = 0;
        b->sync = 0;
        b->temporary = 1;
        b->recycled = 1;

        n = ngx_min(len - ctx->gen_sent, (size_t) (b->end - b->start));
        b->last = ngx_cpymem(b->start, buf + ctx->gen_sent, n);
        ctx->gen_sent += n;

        cl->next = NULL;
        *ctx->last_out = cl;
        ctx->last_out = &cl->next;
        ctx->tail = b;
    }

    yajl_gen_clear(ctx->gen);
    ctx->gen_sent = 0;

    return NGX_OK;
}


/* the rule that masks the value being parsed, if any */

static ngx_hoop_mask_rule_t *
ngx_hoop_mask_json_rule(ngx_hoop_mask_json_ctx_t *ctx)
{
    ngx_hoop_mask_json_frame_t  *f;

    if (ctx->pending) {
        return ctx->pending;
    }

    if (ctx->frames.nelts == 0) {
        return NULL;
    }

    f = ctx->frames.elts;

    return f[ctx->frames.nelts - 1].rule;
}


/* after a whole value: a key's rule covers only its own value */

static void
ngx_hoop_mask_json_value_done(ngx_hoop_mask_json_ctx_t *ctx)
{
    ctx->pending = NULL;
    ctx->event = 1;
}


static void
ngx_hoop_mask_json_counted(ngx_hoop_mask_json_ctx_t *ctx,
    ngx_hoop_mask_rule_t *rule)
{
    ctx->stats.total++;
    ctx->stats.by_detector[NGX_HOOP_MASK_KEY]++;
    ctx->stats.by_rule[rule->index]++;
}


/* a scalar under a masked key: its text through the rule's strategy */

static int
ngx_hoop_mask_json_masked(ngx_hoop_mask_json_ctx_t *ctx,
    ngx_hoop_mask_rule_t *rule, u_char *s, size_t len)
{
    ngx_int_t  rc;
    ngx_str_t  in, out;

    in.data = s;
    in.len = len;

    ngx_hoop_mask_json_counted(ctx, rule);

    rc = ngx_hoop_mask_value(rule, &in, ctx->tmp, &out);

    if (rc == NGX_DONE) {
        return yajl_gen_null(ctx->gen) == yajl_gen_status_ok;
    }

    if (rc != NGX_OK) {
        ctx->error = "no memory";
        return 0;
    }

    return yajl_gen_string(ctx->gen, out.data, out.len)
           == yajl_gen_status_ok;
}


/* free text through the detectors: NGX_OK untouched, NGX_DONE rewritten */

static ngx_int_t
ngx_hoop_mask_json_detect(ngx_hoop_mask_json_ctx_t *ctx, u_char *s,
    size_t len, ngx_str_t *out)
{
    ngx_int_t  rc;
    ngx_str_t  in;

    in.data = s;
    in.len = len;

    rc = ngx_hoop_mask_text_stats(ctx->conf->rules, ctx->skip, &in,
                                  ctx->tmp, ctx->request->connection->log,
                                  out, &ctx->stats);

    if (rc == NGX_ERROR) {
        ctx->error = "a detector failed";
        return NGX_ERROR;
    }

    if (rc == NGX_DONE) {
        out->data = NULL;           /* null the whole value */
        out->len = 0;
        return NGX_DONE;
    }

    return out->data == s ? NGX_OK : NGX_DONE;
}


static int
ngx_hoop_mask_json_null(void *data)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    ngx_hoop_mask_json_value_done(ctx);

    return yajl_gen_null(ctx->gen) == yajl_gen_status_ok;
}


static int
ngx_hoop_mask_json_boolean(void *data, int v)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    ngx_hoop_mask_rule_t  *rule;

    rule = ngx_hoop_mask_json_rule(ctx);
    ngx_hoop_mask_json_value_done(ctx);

    if (rule) {
        return ngx_hoop_mask_json_masked(ctx, rule,
                                         (u_char *) (v ? "true" : "false"),
                                         v ? 4 : 5);
    }

    return yajl_gen_bool(ctx->gen, v) == yajl_gen_status_ok;
}


static int
ngx_hoop_mask_json_number(void *data, const char *s, size_t len)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    ngx_int_t              rc;
    ngx_str_t              out;
    ngx_hoop_mask_rule_t  *rule;

    rule = ngx_hoop_mask_json_rule(ctx);
    ngx_hoop_mask_json_value_done(ctx);

    if (rule) {
        return ngx_hoop_mask_json_masked(ctx, rule, (u_char *) s, len);
    }

    if (ctx->detect) {
        /* a card number sent as a JSON number is still a card number */
        rc = ngx_hoop_mask_json_detect(ctx, (u_char *) s, len, &out);

        if (rc == NGX_ERROR) {
            return 0;
        }

        if (rc == NGX_DONE) {
            if (out.data == NULL) {
                return yajl_gen_null(ctx->gen) == yajl_gen_status_ok;
            }

            return yajl_gen_string(ctx->gen, out.data, out.len)
                   == yajl_gen_status_ok;
        }
    }

    return yajl_gen_number(ctx->gen, s, len) == yajl_gen_status_ok;
}


static int
ngx_hoop_mask_json_string(void *data, const unsigned char *s, size_t len)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    ngx_int_t              rc;
    ngx_str_t              out;
    ngx_hoop_mask_rule_t  *rule;

    rule = ngx_hoop_mask_json_rule(ctx);
    ngx_hoop_mask_json_value_done(ctx);

    if (rule) {
        return ngx_hoop_mask_json_masked(ctx, rule, (u_char *) s, len);
    }

    if (ctx->detect) {
        rc = ngx_hoop_mask_json_detect(ctx, (u_char *) s, len, &out);

        if (rc == NGX_ERROR) {
            return 0;
        }

        if (rc == NGX_DONE) {
            if (out.data == NULL) {
                return yajl_gen_null(ctx->gen) == yajl_gen_status_ok;
            }

            return yajl_gen_string(ctx->gen, out.data, out.len)
                   == yajl_gen_status_ok;
        }
    }

    return yajl_gen_string(ctx->gen, s, len) == yajl_gen_status_ok;
}


static int
ngx_hoop_mask_json_push(ngx_hoop_mask_json_ctx_t *ctx, ngx_uint_t array)
{
    ngx_hoop_mask_rule_t        *rule;
    ngx_hoop_mask_json_frame_t  *f;

    if (ctx->frames.nelts >= ctx->conf->max_depth) {
        ctx->error = "JSON nested deeper than \"hoop_mask_json_max_depth\"";
        return 0;
    }

    rule = ngx_hoop_mask_json_rule(ctx);

    f = ngx_array_push(&ctx->frames);
    if (f == NULL) {
        ctx->error = "no memory";
        return 0;
    }

    f->array = array;
    f->rule = rule;
    f->key_len = 0;

    ctx->pending = NULL;
    ctx->event = 1;

    return 1;
}


static int
ngx_hoop_mask_json_start_map(void *data)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    if (!ngx_hoop_mask_json_push(ctx, 0)) {
        return 0;
    }

    return yajl_gen_map_open(ctx->gen) == yajl_gen_status_ok;
}


static int
ngx_hoop_mask_json_start_array(void *data)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    if (!ngx_hoop_mask_json_push(ctx, 1)) {
        return 0;
    }

    return yajl_gen_array_open(ctx->gen) == yajl_gen_status_ok;
}


static int
ngx_hoop_mask_json_end_map(void *data)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    ctx->frames.nelts--;
    ngx_hoop_mask_json_value_done(ctx);

    return yajl_gen_map_close(ctx->gen) == yajl_gen_status_ok;
}


static int
ngx_hoop_mask_json_end_array(void *data)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    ctx->frames.nelts--;
    ngx_hoop_mask_json_value_done(ctx);

    return yajl_gen_array_close(ctx->gen) == yajl_gen_status_ok;
}


/*
 * Does a key path match the keys that lead to the value?  The path's last
 * part is the key just read, the others the keys of the enclosing objects,
 * arrays skipped: "user.email" matches {"user": {"email": ...}} and
 * {"user": [{"email": ...}]}, at any depth.
 */

static ngx_uint_t
ngx_hoop_mask_json_match(ngx_hoop_mask_json_ctx_t *ctx,
    ngx_hoop_mask_path_t *path)
{
    ngx_int_t                    d;
    ngx_uint_t                   s;
    ngx_hoop_mask_json_frame_t  *f;

    f = ctx->frames.elts;
    d = ctx->frames.nelts - 1;
    s = path->nsegs;

    while (s > 0) {
        while (d >= 0 && f[d].array) {
            d--;
        }

        if (d < 0) {
            return 0;
        }

        if (f[d].key_len != path->segs[s - 1].len
            || ngx_memcmp(f[d].key, path->segs[s - 1].data, f[d].key_len)
               != 0)
        {
            return 0;
        }

        s--;
        d--;
    }

    return 1;
}


static int
ngx_hoop_mask_json_map_key(void *data, const unsigned char *s, size_t len)
{
    ngx_hoop_mask_json_ctx_t  *ctx = data;

    ngx_int_t                    rc;
    ngx_str_t                    out;
    ngx_uint_t                   i, k;
    ngx_hoop_mask_path_t        *path;
    ngx_hoop_mask_rule_t        *rule;
    ngx_hoop_mask_json_frame_t  *f;

    f = ctx->frames.elts;
    f = &f[ctx->frames.nelts - 1];

    ctx->pending = NULL;
    ctx->event = 1;

    if (len <= NGX_HOOP_MASK_JSON_KEY) {
        ngx_memcpy(f->key, s, len);
        f->key_len = len;

    } else {
        f->key_len = NGX_HOOP_MASK_JSON_KEY + 1;
    }

    if (ctx->keys && f->rule == NULL) {
        rule = ctx->conf->rules->elts;

        for (i = 0; i < ctx->conf->rules->nelts && !ctx->pending; i++) {
            if (rule[i].keys == NULL || ctx->skip[i]) {
                continue;
            }

            path = rule[i].keys->elts;

            for (k = 0; k < rule[i].keys->nelts; k++) {
                if (ngx_hoop_mask_json_match(ctx, &path[k])) {
                    ctx->pending = &rule[i];
                    break;
                }
            }
        }
    }

    if (ctx->detect) {
        /* keys are data too: {"alice@example.com": {...}} */
        rc = ngx_hoop_mask_json_detect(ctx, (u_char *) s, len, &out);

        if (rc == NGX_ERROR) {
            return 0;
        }

        if (rc == NGX_DONE) {
            if (out.data == NULL) {
                ngx_str_set(&out, "****");
            }

            return yajl_gen_string(ctx->gen, out.data, out.len)
                   == yajl_gen_status_ok;
        }
    }

    return yajl_gen_string(ctx->gen, s, len) == yajl_gen_status_ok;
}


static ngx_int_t
ngx_hoop_mask_json_count_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_hoop_mask_json_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_hoop_mask_http_module);

    v->data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (v->data == NULL) {
        return NGX_ERROR;
    }

    v->len = ngx_sprintf(v->data, "%ui", ctx ? ctx->stats.total : 0)
             - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* "email:2 credit_card:1 rule1:3": by detector, then by rule */

static ngx_int_t
ngx_hoop_mask_json_detail_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    size_t                     len;
    ngx_str_t                 *name;
    ngx_uint_t                 i;
    ngx_hoop_mask_rule_t      *rule;
    ngx_hoop_mask_json_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_hoop_mask_http_module);

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->len = 0;
    v->data = (u_char *) "";

    if (ctx == NULL || ctx->conf == NULL || ctx->stats.total == 0) {
        return NGX_OK;
    }

    rule = ctx->conf->rules->elts;
    len = 0;

    for (i = 0; i < NGX_HOOP_MASK_NDETECTORS; i++) {
        len += ngx_hoop_mask_detector_name(i)->len + 2 + NGX_INT_T_LEN;
    }

    for (i = 0; i < ctx->conf->rules->nelts; i++) {
        len += rule[i].name.len + 2 + NGX_INT_T_LEN;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    for (i = 0; i < NGX_HOOP_MASK_NDETECTORS; i++) {
        if (ctx->stats.by_detector[i]) {
            name = ngx_hoop_mask_detector_name(i);
            p = ngx_sprintf(p, "%s%V:%ui", p == v->data ? "" : " ", name,
                            ctx->stats.by_detector[i]);
        }
    }

    for (i = 0; i < ctx->conf->rules->nelts; i++) {
        if (ctx->stats.by_rule[i]) {
            p = ngx_sprintf(p, " %V:%ui", &rule[i].name,
                            ctx->stats.by_rule[i]);
        }
    }

    v->len = p - v->data;

    return NGX_OK;
}


static char *
ngx_hoop_mask_json(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_mask_json_loc_conf_t  *mlcf = conf;

    char                  *rv;
    ngx_int_t             *index;
    ngx_str_t             *value;
    ngx_hoop_mask_rule_t  *rule;

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        if (mlcf->rules != NGX_CONF_UNSET_PTR) {
            return "is duplicate";
        }

        /* an empty set: nothing inherited */
        mlcf->rules = ngx_array_create(cf->pool, 1,
                                       sizeof(ngx_hoop_mask_rule_t));
        mlcf->unless = ngx_array_create(cf->pool, 1, sizeof(ngx_int_t));
        if (mlcf->rules == NULL || mlcf->unless == NULL) {
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (mlcf->rules == NGX_CONF_UNSET_PTR) {
        mlcf->rules = NULL;

        mlcf->unless = ngx_array_create(cf->pool, 2, sizeof(ngx_int_t));
        if (mlcf->unless == NULL) {
            return NGX_CONF_ERROR;
        }

    } else if (mlcf->rules->nelts == 0) {
        return "is duplicate: \"off\" was given";
    }

    rv = ngx_hoop_mask_rule_parse(cf, &value[1], cf->args->nelts - 1,
                                  &mlcf->rules);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rule = mlcf->rules->elts;
    rule = &rule[mlcf->rules->nelts - 1];

    index = ngx_array_push(mlcf->unless);
    if (index == NULL) {
        return NGX_CONF_ERROR;
    }

    *index = NGX_ERROR;

    if (rule->unless.len) {
        *index = ngx_http_get_variable_index(cf, &rule->unless);
        if (*index == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_mask_json_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_hoop_mask_json_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_hoop_mask_json_create_loc_conf(ngx_conf_t *cf)
{
    ngx_hoop_mask_json_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_mask_json_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->bufs = { 0, 0 };
     */

    conf->rules = NGX_CONF_UNSET_PTR;
    conf->unless = NULL;
    conf->other = NGX_CONF_UNSET_UINT;
    conf->max_token = NGX_CONF_UNSET_SIZE;
    conf->max_depth = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_hoop_mask_json_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_hoop_mask_json_loc_conf_t  *prev = parent;
    ngx_hoop_mask_json_loc_conf_t  *conf = child;

    if (conf->rules == NGX_CONF_UNSET_PTR) {
        conf->rules = prev->rules;
        conf->unless = prev->unless;
    }

    if (conf->rules == NGX_CONF_UNSET_PTR) {
        conf->rules = NULL;
    }

    ngx_conf_merge_uint_value(conf->other, prev->other,
                              NGX_HOOP_MASK_JSON_PASS);
    ngx_conf_merge_size_value(conf->max_token, prev->max_token,
                              1024 * 1024);
    ngx_conf_merge_uint_value(conf->max_depth, prev->max_depth, 64);
    ngx_conf_merge_bufs_value(conf->bufs, prev->bufs, 8, 16384);

    if (conf->max_depth == 0) {
        return "\"hoop_mask_json_max_depth\" must be at least 1";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_mask_json_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_hoop_mask_json_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_hoop_mask_json_body_filter;

    return NGX_OK;
}
