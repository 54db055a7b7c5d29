
/*
 * libFuzzer: the Postgres gateway's front door.  The input is what a
 * client sends before logging in (SSLRequest/GSSENCRequest, CancelRequest,
 * StartupMessage), fed in small reads through ngx_hoop_pg_startup_read():
 * the framing, the untyped packet dispatch and the parameter parser.
 */


#include "ngx_hoop_pg_startup.c"


ngx_log_t *ngx_shim_init(void);

ngx_module_t  ngx_hoop_pg_module;
ngx_rbtree_t  ngx_event_timer_rbtree;

static const uint8_t  *fz_data;
static size_t          fz_left;
static ngx_uint_t      fz_ended;


void
ngx_rbtree_delete(ngx_rbtree_t *tree, ngx_rbtree_node_t *node)
{
}


ngx_int_t
ngx_handle_read_event(ngx_event_t *rev, ngx_uint_t flags)
{
    return NGX_OK;
}


/* the client's bytes, 7 at a time, so packets arrive in pieces */
ngx_int_t
ngx_hoop_pg_client_read(ngx_stream_session_t *s, ngx_buf_t *b,
    const char *during)
{
    size_t  n;

    if (fz_left == 0 || b->last == b->end) {
        fz_ended = 1;
        return NGX_AGAIN;
    }

    n = ngx_min(ngx_min(fz_left, 7), (size_t) (b->end - b->last));
    b->last = ngx_cpymem(b->last, fz_data, n);
    fz_data += n;
    fz_left -= n;
    return NGX_OK;
}


void
ngx_hoop_pg_fatal(ngx_stream_session_t *s, const char *sqlstate,
    const char *message, ngx_uint_t rc)
{
    fz_ended = 1;
}


void
ngx_hoop_pg_finalize(ngx_stream_session_t *s, ngx_uint_t rc)
{
    fz_ended = 1;
}


void ngx_hoop_pg_cancel_request(ngx_stream_session_t *s, u_char *p)
{
    fz_ended = 1;
}


void ngx_hoop_pg_client_auth_start(ngx_stream_session_t *s) { fz_ended = 1; }
void ngx_hoop_pg_upstream_connect(ngx_stream_session_t *s) { fz_ended = 1; }
void ngx_hoop_pg_tls_start(ngx_stream_session_t *s, ngx_uint_t direct)
{
    fz_ended = 1;
}

/* hoop_audit_required is off here: every session is admitted */
ngx_int_t ngx_hoop_pg_audit_admit(ngx_stream_session_t *s) { return NGX_OK; }


static ssize_t
fz_send(ngx_connection_t *c, u_char *buf, size_t size)
{
    return size;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void                    *srv_conf[1], *ctxs[1];
    ngx_log_t               *log;
    ngx_pool_t              *pool;
    ngx_event_t              rev, wev;
    ngx_connection_t         c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_stream_session_t     s;
    ngx_hoop_pg_srv_conf_t   pscf;

    log = ngx_shim_init();
    pool = ngx_create_pool(1024, log);

    ngx_memzero(&c, sizeof(c));
    ngx_memzero(&s, sizeof(s));
    ngx_memzero(&rev, sizeof(rev));
    ngx_memzero(&wev, sizeof(wev));
    ngx_memzero(&pscf, sizeof(pscf));

    /* token login on (the oidc pointer only has to be set), no TLS */
    pscf.oidc = (void *) &pscf;
    pscf.buffer_size = 16384;

    c.pool = pool;
    c.log = log;
    c.read = &rev;
    c.write = &wev;
    c.data = &s;
    c.send = fz_send;
    c.fd = -1;
    rev.data = &c;
    wev.data = &c;
    wev.write = 1;

    srv_conf[0] = &pscf;
    s.srv_conf = srv_conf;
    s.ctx = ctxs;
    s.connection = &c;

    ctx = ngx_pcalloc(pool, sizeof(ngx_hoop_pg_ctx_t));
    ctx->session = &s;
    ctx->phase = NGX_HOOP_PG_STARTUP;
    ctx->peeked = 1;
    ctx->client_buf = ngx_create_temp_buf(pool, ngx_max(pscf.buffer_size,
                                          NGX_HOOP_PG_MAX_STARTUP + 8));
    ctxs[0] = ctx;

    fz_data = data;
    fz_left = size;
    fz_ended = 0;

    while (!fz_ended) {
        ngx_hoop_pg_startup_read(&rev);
    }

    ngx_destroy_pool(pool);
    return 0;
}
