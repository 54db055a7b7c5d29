
/*
 * ngx_hoop_credential_module: vaulted credentials for proxied requests.
 *
 *     location /billing/ {
 *         hoop_credential  Authorization "Bearer vault:billing_token";
 *         hoop_credential  X-Api-Key vault:billing_key;
 *         proxy_pass       http://billing;
 *     }
 *
 * The upstream gets the headers with the secrets; the client's own
 * Authorization header never reaches it.  The secret is never put in
 * r->headers_in or in a variable: "proxy_set_header X $http_authorization",
 * map, access_log, error pages and subrequests cannot see it.
 *
 * Mechanism.  proxy_pass builds the whole upstream request header into one
 * buffer (ngx_http_proxy_create_request()), and ngx_http_upstream then calls
 * the upstream block's peer.init() before it connects and sends anything.
 * For every upstream that a location with hoop_credential proxies to, we
 * wrap peer.init (the way the keepalive module wraps it) and, when the
 * request's location carries credentials, rewrite that header buffer: lines
 * naming Authorization or one of the credential headers are dropped, the
 * credential lines are added.  create_request runs once per request (retries
 * to the next upstream server resend the same buffers), so one rewrite
 * covers every attempt; it works with proxy_request_buffering off, with
 * cache locks and with request bodies still being read, because it happens
 * on nginx's own path from create_request to connect.
 *
 * proxy_pass with variables resolves the upstream at run time without
 * peer.init, so a location with hoop_credential needs proxy_pass with a
 * fixed address or upstream name; anything else is refused at config time,
 * and a request that would still reach an upstream without the rewrite
 * fails with 500 rather than leave without its credential.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>
#include "ngx_hoop_auth.h"


/*
 * nginx's proxy module declares no header of its own.  Weak, so that the
 * .so still loads into an nginx built without it (and hoop_credential then
 * says why it cannot work).
 */
extern ngx_module_t  ngx_http_proxy_module __attribute__((weak));


typedef struct {
    ngx_str_t                        name;    /* header name */
    ngx_str_t                        line;    /* "Name: value\r\n" */
} ngx_hoop_credential_t;


typedef struct {
    ngx_array_t                      items;   /* of ngx_hoop_credential_t */
    size_t                           size;    /* the lines' total length */
} ngx_hoop_credential_set_t;


typedef struct {
    ngx_hoop_credential_set_t       *set;     /* NULL: none, or "off" */
} ngx_hoop_credential_loc_conf_t;


/* an upstream block whose peer.init we wrap */
typedef struct {
    ngx_http_upstream_srv_conf_t    *upstream;
    ngx_http_upstream_init_peer_pt   init;
} ngx_hoop_credential_peer_t;


typedef struct {
    ngx_array_t                      peers;   /* ngx_hoop_credential_peer_t */
} ngx_hoop_credential_main_conf_t;


static ngx_int_t ngx_hoop_credential_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us);
static ngx_int_t ngx_hoop_credential_rewrite(ngx_http_request_t *r,
    ngx_hoop_credential_set_t *set);
static ngx_uint_t ngx_hoop_credential_replaced(ngx_hoop_credential_set_t *set,
    u_char *name, size_t len);
static ngx_int_t ngx_hoop_credential_wrap(ngx_conf_t *cf,
    ngx_hoop_credential_main_conf_t *mcf, ngx_http_upstream_srv_conf_t *us);

static char *ngx_hoop_credential(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_hoop_credential_value(ngx_conf_t *cf, ngx_str_t *arg,
    ngx_str_t *prefix, ngx_str_t *secret, ngx_flag_t *basic);
static ngx_int_t ngx_hoop_credential_printable(u_char *p, size_t len);
static void ngx_hoop_credential_wipe_str(void *data);
static void ngx_hoop_credential_wipe_buf(void *data);

static void *ngx_hoop_credential_create_main_conf(ngx_conf_t *cf);
static void *ngx_hoop_credential_create_loc_conf(ngx_conf_t *cf);
static char *ngx_hoop_credential_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);


/* headers that frame or route the request: never replaced by a secret */
static ngx_str_t  ngx_hoop_credential_reserved[] = {
    ngx_string("Host"),
    ngx_string("Content-Length"),
    ngx_string("Transfer-Encoding"),
    ngx_string("Connection"),
    ngx_string("Keep-Alive"),
    ngx_string("TE"),
    ngx_string("Trailer"),
    ngx_string("Upgrade"),
    ngx_string("Expect"),
    ngx_null_string
};


static ngx_str_t  ngx_hoop_credential_authorization =
    ngx_string("Authorization");


static ngx_command_t  ngx_hoop_credential_commands[] = {

    { ngx_string("hoop_credential"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_hoop_credential,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_hoop_credential_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_hoop_credential_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_hoop_credential_create_loc_conf,   /* create location configuration */
    ngx_hoop_credential_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_hoop_credential_module = {
    NGX_MODULE_V1,
    &ngx_hoop_credential_module_ctx,       /* module context */
    ngx_hoop_credential_commands,          /* module directives */
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
ngx_hoop_credential_init_peer(ngx_http_request_t *r,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                        i;
    ngx_hoop_credential_peer_t       *peer;
    ngx_hoop_credential_loc_conf_t   *lcf;
    ngx_hoop_credential_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_hoop_credential_module);

    peer = mcf->peers.elts;

    for (i = 0; i < mcf->peers.nelts; i++) {
        if (peer[i].upstream == us) {
            break;
        }
    }

    if (i == mcf->peers.nelts) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "hoop_credential: upstream \"%V\" is not wrapped",
                      &us->host);
        return NGX_ERROR;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_hoop_credential_module);

    if (lcf->set && ngx_hoop_credential_rewrite(r, lcf->set) != NGX_OK) {
        return NGX_ERROR;
    }

    return peer[i].init(r, us);
}


/*
 * Rewrites the header block proxy_pass built: the request line, header
 * lines, an empty line, then (proxy_set_body only) a body.  The new buffer
 * replaces the old one in u->request_bufs, so every attempt sends it.
 */

static ngx_int_t
ngx_hoop_credential_rewrite(ngx_http_request_t *r,
    ngx_hoop_credential_set_t *set)
{
    u_char                 *p, *q, *last, *eol, *colon, *d, *start;
    size_t                  size;
    ngx_buf_t              *b, *nb;
    ngx_uint_t              i, dropped;
    ngx_chain_t            *cl;
    ngx_pool_cleanup_t     *cln;
    ngx_http_upstream_t    *u;
    ngx_hoop_credential_t  *cred;

    u = r->upstream;

    if (u == NULL || u->output.tag != (ngx_buf_tag_t) &ngx_http_proxy_module) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "hoop_credential works with proxy_pass only: "
                      "request not sent");
        return NGX_ERROR;
    }

    cl = u->request_bufs;

    if (cl == NULL || cl->buf == NULL || cl->buf->in_file
        || !ngx_buf_in_memory(cl->buf))
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "hoop_credential: no upstream request header");
        return NGX_ERROR;
    }

    b = cl->buf;
    p = b->pos;
    last = b->last;

    size = (last - p) + set->size;

    nb = ngx_alloc_buf(r->pool);
    if (nb == NULL) {
        return NGX_ERROR;
    }

    start = ngx_pnalloc(r->pool, size);
    if (start == NULL) {
        return NGX_ERROR;
    }

    *nb = *b;
    nb->start = start;
    nb->pos = start;
    nb->last = start;
    nb->end = start + size;

    /* the request memory goes back to the allocator with no secret in it */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_hoop_credential_wipe_buf;
    cln->data = nb;

    /* the request line */

    eol = ngx_strlchr(p, last, LF);
    if (eol == NULL) {
        goto malformed;
    }

    d = ngx_cpymem(start, p, eol + 1 - p);
    q = eol + 1;

    dropped = 0;

    for ( ;; ) {
        eol = ngx_strlchr(q, last, LF);
        if (eol == NULL) {
            goto malformed;
        }

        if (eol == q || (eol == q + 1 && *q == CR)) {
            break;                                 /* the empty line */
        }

        colon = ngx_strlchr(q, eol, ':');

        if (colon && ngx_hoop_credential_replaced(set, q, colon - q)) {
            dropped++;

        } else {
            d = ngx_cpymem(d, q, eol + 1 - q);
        }

        q = eol + 1;
    }

    cred = set->items.elts;

    for (i = 0; i < set->items.nelts; i++) {
        d = ngx_cpymem(d, cred[i].line.data, cred[i].line.len);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "hoop credential: header \"%V\" set", &cred[i].name);
    }

    d = ngx_cpymem(d, q, last - q);

    nb->last = d;
    cl->buf = nb;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "hoop credential: %ui client header line(s) dropped",
                   dropped);

    return NGX_OK;

malformed:

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "hoop_credential: cannot parse the upstream request "
                  "header: request not sent");

    return NGX_ERROR;
}


static ngx_uint_t
ngx_hoop_credential_replaced(ngx_hoop_credential_set_t *set, u_char *name,
    size_t len)
{
    ngx_str_t              *a;
    ngx_uint_t              i;
    ngx_hoop_credential_t  *cred;

    a = &ngx_hoop_credential_authorization;

    if (len == a->len && ngx_strncasecmp(name, a->data, len) == 0) {
        return 1;
    }

    cred = set->items.elts;

    for (i = 0; i < set->items.nelts; i++) {
        if (len == cred[i].name.len
            && ngx_strncasecmp(name, cred[i].name.data, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static char *
ngx_hoop_credential(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_credential_loc_conf_t *lcf = conf;

    u_char                 *p, *plain;
    size_t                  len, plain_len;
    ngx_str_t              *value, *line, prefix, secret, encoded, src;
    ngx_uint_t              i;
    ngx_flag_t              basic;
    ngx_pool_cleanup_t     *cln;
    ngx_hoop_credential_t  *cred;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {

        if (ngx_strcmp(value[1].data, "off") != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"hoop_credential\" takes a header name and "
                               "a value, or \"off\"");
            return NGX_CONF_ERROR;
        }

        if (lcf->set != NGX_CONF_UNSET_PTR) {
            return "is duplicate";
        }

        lcf->set = NULL;
        return NGX_CONF_OK;
    }

    if (lcf->set == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"hoop_credential off\" and credentials in the "
                           "same block");
        return NGX_CONF_ERROR;
    }

    /* the header name: an RFC 9110 token */

    if (value[1].len == 0) {
        goto invalid_name;
    }

    for (i = 0; i < value[1].len; i++) {
        if (!isalnum(value[1].data[i])
            && ngx_strchr("!#$%&'*+-.^_`|~", value[1].data[i]) == NULL)
        {
            goto invalid_name;
        }
    }

    for (i = 0; ngx_hoop_credential_reserved[i].len; i++) {
        if (value[1].len == ngx_hoop_credential_reserved[i].len
            && ngx_strncasecmp(value[1].data,
                               ngx_hoop_credential_reserved[i].data,
                               value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" cannot carry a credential",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (lcf->set == NGX_CONF_UNSET_PTR) {
        lcf->set = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_credential_set_t));
        if (lcf->set == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_array_init(&lcf->set->items, cf->pool, 2,
                           sizeof(ngx_hoop_credential_t))
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    cred = lcf->set->items.elts;

    for (i = 0; i < lcf->set->items.nelts; i++) {
        if (cred[i].name.len == value[1].len
            && ngx_strncasecmp(cred[i].name.data, value[1].data,
                               value[1].len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "duplicate credential header \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_hoop_credential_value(cf, &value[2], &prefix, &secret, &basic)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    /* "Basic " base64(user ":" secret), built in memory we wipe */

    if (basic) {
        plain_len = prefix.len + 1 + secret.len;

        plain = ngx_alloc(plain_len, cf->log);
        if (plain == NULL) {
            OPENSSL_cleanse(secret.data, secret.len);
            return NGX_CONF_ERROR;
        }

        p = ngx_cpymem(plain, prefix.data, prefix.len);
        *p++ = ':';
        ngx_memcpy(p, secret.data, secret.len);

        OPENSSL_cleanse(secret.data, secret.len);

        ngx_str_set(&prefix, "Basic ");
        secret.len = ngx_base64_encoded_length(plain_len);

    } else {
        plain = NULL;
        plain_len = 0;
    }

    /* the line lives in the cycle's pool and is wiped with it */

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        goto failed;
    }

    line = cln->data;
    line->len = 0;
    cln->handler = ngx_hoop_credential_wipe_str;

    len = value[1].len + sizeof(": ") - 1 + prefix.len + secret.len
          + sizeof(CRLF) - 1;

    line->data = ngx_pnalloc(cf->pool, len);
    if (line->data == NULL) {
        goto failed;
    }

    line->len = len;

    p = ngx_cpymem(line->data, value[1].data, value[1].len);
    *p++ = ':'; *p++ = ' ';
    p = ngx_cpymem(p, prefix.data, prefix.len);

    if (basic) {
        src.len = plain_len;
        src.data = plain;
        encoded.data = p;
        ngx_encode_base64(&encoded, &src);
        p += encoded.len;

        OPENSSL_cleanse(plain, plain_len);
        ngx_free(plain);
        plain = NULL;

    } else {
        p = ngx_cpymem(p, secret.data, secret.len);
        OPENSSL_cleanse(secret.data, secret.len);
    }

    *p++ = CR; *p++ = LF;

    cred = ngx_array_push(&lcf->set->items);
    if (cred == NULL) {
        return NGX_CONF_ERROR;
    }

    cred->name = value[1];
    cred->line = *line;
    lcf->set->size += len;

    return NGX_CONF_OK;

invalid_name:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid header name \"%V\"", &value[1]);
    return NGX_CONF_ERROR;

failed:

    if (plain) {
        OPENSSL_cleanse(plain, plain_len);
        ngx_free(plain);

    } else {
        OPENSSL_cleanse(secret.data, secret.len);
    }

    return NGX_CONF_ERROR;
}


/*
 * VALUE is "[PREFIX]vault:NAME" (the reference runs to the end, PREFIX is
 * sent as written, e.g. "Bearer ") or "basic=USER:vault:NAME".  For the
 * basic form *prefix is USER.  *secret is ours to wipe.
 */

static ngx_int_t
ngx_hoop_credential_value(ngx_conf_t *cf, ngx_str_t *arg, ngx_str_t *prefix,
    ngx_str_t *secret, ngx_flag_t *basic)
{
    u_char     *p;
    ngx_str_t   ref;

    *basic = 0;

    if (arg->len > 6 && ngx_strncmp(arg->data, "basic=", 6) == 0) {

        *basic = 1;

        prefix->data = arg->data + 6;

        p = ngx_strlchr(prefix->data, arg->data + arg->len, ':');
        if (p == NULL || p == prefix->data) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid \"%V\": write "
                               "\"basic=USER:vault:NAME\"", arg);
            return NGX_ERROR;
        }

        prefix->len = p - prefix->data;

        ref.data = p + 1;
        ref.len = arg->data + arg->len - ref.data;

        if (ref.len < 6 || ngx_strncmp(ref.data, "vault:", 6) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the password in \"basic=%V:...\" must be a "
                               "vault reference: \"vault:NAME\"", prefix);
            return NGX_ERROR;
        }

    } else {
        p = ngx_strnstr(arg->data, "vault:", arg->len);

        if (p == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"hoop_credential\" value must reference a "
                               "vault secret (\"vault:NAME\", optionally "
                               "after a prefix such as \"Bearer \"); use "
                               "proxy_set_header for other values");
            return NGX_ERROR;
        }

        prefix->data = arg->data;
        prefix->len = p - arg->data;

        ref.data = p;
        ref.len = arg->data + arg->len - p;
    }

    if (ngx_hoop_credential_printable(prefix->data, prefix->len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "control character in \"hoop_credential\" "
                           "value prefix");
        return NGX_ERROR;
    }

    if (ngx_hoop_vault_resolve(cf, &ref, secret) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a basic password is base64-encoded: any byte will do */

    if (!*basic
        && ngx_hoop_credential_printable(secret->data, secret->len) != NGX_OK)
    {
        OPENSSL_cleanse(secret->data, secret->len);

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault secret \"%*s\" contains a control "
                           "character and cannot be sent in a header",
                           ref.len - 6, ref.data + 6);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_credential_printable(u_char *p, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_credential_wrap(ngx_conf_t *cf, ngx_hoop_credential_main_conf_t *mcf,
    ngx_http_upstream_srv_conf_t *us)
{
    ngx_uint_t                   i;
    ngx_hoop_credential_peer_t  *peer;

    peer = mcf->peers.elts;

    for (i = 0; i < mcf->peers.nelts; i++) {
        if (peer[i].upstream == us) {
            return NGX_OK;
        }
    }

    if (us->peer.init == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_credential: upstream \"%V\" has no "
                           "balancer", &us->host);
        return NGX_ERROR;
    }

    peer = ngx_array_push(&mcf->peers);
    if (peer == NULL) {
        return NGX_ERROR;
    }

    peer->upstream = us;
    peer->init = us->peer.init;

    us->peer.init = ngx_hoop_credential_init_peer;

    return NGX_OK;
}


static void
ngx_hoop_credential_wipe_str(void *data)
{
    ngx_str_t  *s = data;

    if (s->len) {
        OPENSSL_cleanse(s->data, s->len);
        s->len = 0;
    }
}


static void
ngx_hoop_credential_wipe_buf(void *data)
{
    ngx_buf_t  *b = data;

    OPENSSL_cleanse(b->start, b->end - b->start);
}


static void *
ngx_hoop_credential_create_main_conf(ngx_conf_t *cf)
{
    ngx_hoop_credential_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_credential_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&mcf->peers, cf->pool, 2,
                       sizeof(ngx_hoop_credential_peer_t))
        != NGX_OK)
    {
        return NULL;
    }

    return mcf;
}


static void *
ngx_hoop_credential_create_loc_conf(ngx_conf_t *cf)
{
    ngx_hoop_credential_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_credential_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->set = NGX_CONF_UNSET_PTR;

    return lcf;
}


/*
 * Runs after ngx_http_upstream_module's init_main_conf (every upstream's
 * peer.init is set) and after the proxy module's merge.
 */

static char *
ngx_hoop_credential_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_hoop_credential_loc_conf_t *prev = parent;
    ngx_hoop_credential_loc_conf_t *conf = child;

    ngx_http_upstream_conf_t         *ucf;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_hoop_credential_main_conf_t  *mcf;

    ngx_conf_merge_ptr_value(conf->set, prev->set, NULL);

    if (conf->set == NULL) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == NULL) {
        return NGX_CONF_OK;                     /* nothing proxied here */
    }

    /*
     * The proxy module's location configuration starts with its
     * ngx_http_upstream_conf_t (as every upstream module's does); its
     * "upstream" is set by proxy_pass without variables.
     */

    if (&ngx_http_proxy_module == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"hoop_credential\" needs nginx's proxy module, and "
                      "this nginx is built without it");
        return NGX_CONF_ERROR;
    }

    ucf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_proxy_module);

    if (ucf->upstream == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"hoop_credential\" needs \"proxy_pass\" with a "
                      "fixed address or upstream name (no variables) in "
                      "location \"%V\"; use \"hoop_credential off\" there "
                      "if the credentials are inherited by mistake",
                      &clcf->name);
        return NGX_CONF_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_hoop_credential_module);

    if (ngx_hoop_credential_wrap(cf, mcf, ucf->upstream) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
