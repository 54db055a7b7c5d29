
/*
 * libFuzzer: the JSON body masker (hoop_mask_json) on a response body an
 * upstream sends: the streaming yajl parse in 4 KB feeds, key paths,
 * detectors in strings, numbers and keys, the generator.  The body comes
 * in pieces (the first input byte sets the piece size) as nginx hands
 * body buffers to a filter.  The HTTP filter around it (headers, chains,
 * variables) is not in this harness: the request is a stand-in and the
 * generator's output is dropped after each feed.
 */


#include "ngx_hoop_mask_json.c"


ngx_log_t *ngx_shim_init(void);


/* what the filter file needs from nginx's HTTP core and elsewhere */

ngx_http_output_header_filter_pt  ngx_http_top_header_filter;
ngx_http_output_body_filter_pt    ngx_http_top_body_filter;

ngx_http_variable_t *
ngx_http_add_variable(ngx_conf_t *cf, ngx_str_t *name, ngx_uint_t flags)
{
    return NULL;
}

ngx_int_t
ngx_http_get_variable_index(ngx_conf_t *cf, ngx_str_t *name)
{
    return NGX_ERROR;
}

ngx_http_variable_value_t *
ngx_http_get_indexed_variable(ngx_http_request_t *r, ngx_uint_t index)
{
    return NULL;
}

ngx_int_t
ngx_http_filter_finalize_request(ngx_http_request_t *r, ngx_module_t *m,
    ngx_int_t error)
{
    return NGX_ERROR;
}

char *ngx_conf_set_enum_slot(ngx_conf_t *cf, ngx_command_t *c, void *conf)
{ return NGX_CONF_OK; }
char *ngx_conf_set_size_slot(ngx_conf_t *cf, ngx_command_t *c, void *conf)
{ return NGX_CONF_OK; }
char *ngx_conf_set_num_slot(ngx_conf_t *cf, ngx_command_t *c, void *conf)
{ return NGX_CONF_OK; }
char *ngx_conf_set_bufs_slot(ngx_conf_t *cf, ngx_command_t *c, void *conf)
{ return NGX_CONF_OK; }

ngx_chain_t *
ngx_alloc_chain_link(ngx_pool_t *pool)
{
    return ngx_palloc(pool, sizeof(ngx_chain_t));
}

ngx_int_t
ngx_chain_add_copy(ngx_pool_t *pool, ngx_chain_t **chain, ngx_chain_t *in)
{
    return NGX_ERROR;
}

void
ngx_chain_update_chains(ngx_pool_t *p, ngx_chain_t **free,
    ngx_chain_t **busy, ngx_chain_t **out, ngx_buf_tag_t tag)
{
}

char *
ngx_hoop_mask_rule_parse(ngx_conf_t *cf, ngx_str_t *args, ngx_uint_t nargs,
    ngx_array_t **rules)
{
    return NGX_CONF_ERROR;
}

ngx_str_t *
ngx_hoop_mask_detector_name(ngx_uint_t detector)
{
    static ngx_str_t  name = ngx_string("detector");

    return &name;
}


static void
fuzz_key(ngx_pool_t *pool, ngx_hoop_mask_rule_t *rule, const char *a,
    const char *b)
{
    ngx_hoop_mask_path_t  *path;

    path = ngx_array_push(rule->keys);
    ngx_memzero(path, sizeof(ngx_hoop_mask_path_t));
    path->segs[0].data = (u_char *) a;
    path->segs[0].len = strlen(a);
    path->nsegs = 1;
    if (b) {
        path->segs[1].data = (u_char *) b;
        path->segs[1].len = strlen(b);
        path->nsegs = 2;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                           *ctxs[8];
    size_t                          piece, off, n;
    ngx_int_t                      *unless, rc;
    ngx_log_t                      *log;
    ngx_pool_t                     *pool;
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl, **ll;
    ngx_connection_t                c;
    ngx_http_request_t              r;
    ngx_hoop_mask_rule_t           *rule;
    ngx_hoop_mask_json_ctx_t       *ctx;
    ngx_hoop_mask_json_loc_conf_t   conf;

    if (size == 0) {
        return 0;
    }

    log = ngx_shim_init();
    pool = ngx_create_pool(4096, log);

    /* nginx numbers the module when it loads; this is the only one */
    ngx_hoop_mask_http_module.ctx_index = 0;

    ngx_memzero(&c, sizeof(c));
    ngx_memzero(&r, sizeof(r));
    ngx_memzero(ctxs, sizeof(ctxs));
    c.log = log;
    c.pool = pool;
    r.pool = pool;
    r.connection = &c;
    r.main = &r;
    r.ctx = ctxs;

    /* rules: keys (nested too) partially masked, detectors redact */
    ngx_memzero(&conf, sizeof(conf));
    conf.rules = ngx_array_create(pool, 2, sizeof(ngx_hoop_mask_rule_t));
    conf.unless = ngx_array_create(pool, 2, sizeof(ngx_int_t));
    conf.max_token = 64 * 1024;
    conf.max_depth = 32;
    conf.other = NGX_HOOP_MASK_JSON_REFUSE;

    rule = ngx_array_push(conf.rules);
    ngx_memzero(rule, sizeof(*rule));
    ngx_str_set(&rule->name, "keys");
    rule->keys = ngx_array_create(pool, 4, sizeof(ngx_hoop_mask_path_t));
    fuzz_key(pool, rule, "email", NULL);
    fuzz_key(pool, rule, "card", NULL);
    fuzz_key(pool, rule, "user", "ssn");
    rule->strategy = data[0] & 3;
    rule->keep = 4;
    ngx_str_set(&rule->secret, "fuzz-hmac-key");

    rule = ngx_array_push(conf.rules);
    ngx_memzero(rule, sizeof(*rule));
    rule->index = 1;
    ngx_str_set(&rule->name, "detect");
    rule->detectors = (1 << NGX_HOOP_MASK_REGEX) - 1;
    rule->strategy = (data[0] >> 2) & 3;

    unless = ngx_array_push(conf.unless);
    *unless = NGX_ERROR;
    unless = ngx_array_push(conf.unless);
    *unless = NGX_ERROR;

    if (ngx_hoop_mask_json_start(&r, &conf) != NGX_OK) {
        __builtin_trap();
    }

    ctx = ngx_http_get_module_ctx(&r, ngx_hoop_mask_http_module);

    /* the body in pieces of 1..64 bytes, the last one last_buf */
    piece = 1 + ((data[0] >> 4) & 0xf) * 4;
    data++;
    size--;
    ll = &ctx->in;

    for (off = 0; off < size || off == 0; off += n) {
        n = ngx_min(piece, size - off);
        b = ngx_calloc_buf(pool);
        b->start = ngx_palloc(pool, n ? n : 1);
        ngx_memcpy(b->start, data + off, n);
        b->pos = b->start;
        b->last = b->start + n;
        b->end = b->last;
        b->memory = 1;
        b->last_buf = (off + n >= size);
        cl = ngx_palloc(pool, sizeof(ngx_chain_t));
        cl->buf = b;
        cl->next = NULL;
        *ll = cl;
        ll = &cl->next;
        if (n == 0) {
            break;
        }
    }

    while (ctx->in) {
        rc = ngx_hoop_mask_json_feed(ctx);
        if (rc != NGX_OK) {
            break;
        }

        /* drop what the generator produced */
        yajl_gen_clear(ctx->gen);
        ctx->gen_sent = 0;
    }

    if (getenv("HOOP_FUZZ_LOG")) {
        fprintf(stderr, "masked %u, fed %d, error %s\n",
                (unsigned) ctx->stats.total, (int) ctx->fed,
                ctx->error ? ctx->error : "-");
    }

    ngx_destroy_pool(pool);
    return 0;
}
