
/*
 * ngx_hoop_https_fetch.c: fetch a JWKS document over HTTP(S), directly or
 * through the issuer's OpenID Connect discovery document.
 *
 * The whole job is one nginx thread-pool task: the thread does blocking
 * name resolution, connect, TLS (OpenSSL, peer and host name verified) and
 * an HTTP/1.0 GET, all within one deadline, and the completion handler runs
 * back in the worker's event loop.  So a slow or dead identity provider
 * never blocks a worker.  The thread touches no nginx pool, shared memory
 * or event: only the ngx_hoop_fetch_t it was given.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_oidc.h"

#if (NGX_THREADS)
#include <ngx_event.h>
#include <netdb.h>
#include <poll.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <yajl/yajl_tree.h>
#endif


#define NGX_HOOP_FETCH_HOST_LEN     255
#define NGX_HOOP_FETCH_HEADER_MAX   16384


typedef struct {
    u_char                host[NGX_HOOP_FETCH_HOST_LEN + 1];  /* no [] */
    u_char                port[6];
    u_char               *hostport;     /* as in the URL, for "Host" */
    size_t                hostport_len;
    u_char               *path;         /* with the query, no fragment */
    size_t                path_len;
    unsigned              tls:1;
    unsigned              literal:1;    /* an IP address: no SNI */
} ngx_hoop_fetch_url_t;


#define ngx_hoop_fetch_alnum(c)                                               \
    (((c) >= '0' && (c) <= '9')                                               \
     || (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'z'))

#define ngx_hoop_fetch_hex(c)                                                 \
    (((c) >= '0' && (c) <= '9')                                               \
     || (((c) | 0x20) >= 'a' && ((c) | 0x20) <= 'f'))


static const char *ngx_hoop_fetch_parse_url(u_char *url, size_t len,
    ngx_hoop_fetch_url_t *u);


const char *
ngx_hoop_fetch_check_url(ngx_str_t *url, ngx_uint_t *https)
{
    const char            *why;
    ngx_hoop_fetch_url_t   u;

    why = ngx_hoop_fetch_parse_url(url->data, url->len, &u);

    if (why == NULL && https) {
        *https = u.tls;
    }

    return why;
}


/*
 * "http[s]://host[:port][/path][?query][#fragment]"; no user info.  Pure
 * (no allocation, no logging): used at configuration time and in threads.
 */

static const char *
ngx_hoop_fetch_parse_url(u_char *url, size_t len, ngx_hoop_fetch_url_t *u)
{
    u_char     *p, *last, *host, *host_end, *port;
    size_t      n;
    ngx_int_t   num;

    ngx_memzero(u, sizeof(ngx_hoop_fetch_url_t));

    p = url;
    last = url + len;

    for (n = 0; n < len; n++) {
        if (url[n] <= 0x20 || url[n] >= 0x7f) {
            return "a space, control or non-ASCII character in the URL";
        }
    }

    if (len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0) {
        u->tls = 1;
        p += 8;

    } else if (len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0) {
        p += 7;

    } else {
        return "the URL must start with https:// (or http://)";
    }

    u->hostport = p;

    while (p < last && *p != '/' && *p != '?' && *p != '#') {
        if (*p == '@') {
            return "credentials in the URL are not supported";
        }
        p++;
    }

    u->hostport_len = p - u->hostport;

    if (u->hostport_len == 0) {
        return "no host in the URL";
    }

    host = u->hostport;
    last = u->hostport + u->hostport_len;

    if (*host == '[') {
        host_end = ngx_strlchr(host, last, ']');
        if (host_end == NULL) {
            return "an unterminated IPv6 address in the URL";
        }

        host++;
        port = host_end + 1;
        u->literal = 1;

        for (p = host; p < host_end; p++) {
            if (!(ngx_hoop_fetch_hex(*p) || *p == ':' || *p == '.')) {
                return "a bad IPv6 address in the URL";
            }
        }

    } else {
        host_end = ngx_strlchr(host, last, ':');
        if (host_end == NULL) {
            host_end = last;
        }

        port = host_end;

        for (p = host; p < host_end; p++) {
            if (!(ngx_hoop_fetch_alnum(*p)
                  || *p == '-' || *p == '.' || *p == '_'))
            {
                return "a bad character in the URL's host";
            }
        }
    }

    n = host_end - host;

    if (n == 0) {
        return "no host in the URL";
    }

    if (n > NGX_HOOP_FETCH_HOST_LEN) {
        return "the URL's host name is too long";
    }

    ngx_memcpy(u->host, host, n);
    u->host[n] = '\0';

    if (!u->literal && ngx_inet_addr(host, n) != INADDR_NONE) {
        u->literal = 1;
    }

    if (port == last) {
        ngx_memcpy(u->port, u->tls ? "443" : "80", u->tls ? 4 : 3);

    } else {
        if (*port != ':' || port + 1 == last || last - port - 1 > 5) {
            return "a bad port in the URL";
        }

        num = ngx_atoi(port + 1, last - port - 1);
        if (num < 1 || num > 65535) {
            return "a bad port in the URL";
        }

        ngx_memcpy(u->port, port + 1, last - port - 1);
        u->port[last - port - 1] = '\0';
    }

    /* the path and query go to the request line; the fragment does not */

    p = u->hostport + u->hostport_len;
    last = url + len;

    u->path = p;

    while (p < last && *p != '#') {
        p++;
    }

    u->path_len = p - u->path;

    if (u->path_len == 0) {
        u->path = (u_char *) "/";
        u->path_len = 1;

    } else if (u->path[0] == '?') {
        return "a query without a path in the URL";
    }

    return NULL;
}


#if (NGX_THREADS)


typedef struct {
    int                   fd;
    SSL_CTX              *ssl_ctx;
    SSL                  *ssl;
    ngx_msec_t            deadline;
    ngx_log_t            *log;
    u_char               *err;          /* the fetch's error buffer: */
    u_char               *reason;       /* "<what> from <url> failed: " */
    u_char               *err_last;
    u_char               *err_pos;
} ngx_hoop_fetch_conn_t;


static void ngx_hoop_fetch_thread(void *data, ngx_log_t *log);
static void ngx_hoop_fetch_event_handler(ngx_event_t *ev);
static ngx_int_t ngx_hoop_fetch_discover(ngx_hoop_fetch_t *f,
    ngx_msec_t deadline, ngx_log_t *log);
static ngx_int_t ngx_hoop_fetch_get(ngx_hoop_fetch_t *f, u_char *url,
    size_t url_len, ngx_msec_t deadline, ngx_log_t *log, u_char **body,
    size_t *len);
static ngx_int_t ngx_hoop_fetch_connect(ngx_hoop_fetch_conn_t *c,
    ngx_hoop_fetch_url_t *u);
static ngx_int_t ngx_hoop_fetch_tls(ngx_hoop_fetch_conn_t *c,
    ngx_hoop_fetch_url_t *u, ngx_str_t *ca_file);
static ngx_int_t ngx_hoop_fetch_write(ngx_hoop_fetch_conn_t *c, u_char *buf,
    size_t len);
static ssize_t ngx_hoop_fetch_read(ngx_hoop_fetch_conn_t *c, u_char *buf,
    size_t size);
static ngx_int_t ngx_hoop_fetch_ssl_wait(ngx_hoop_fetch_conn_t *c, int rc,
    const char *op);
static ngx_int_t ngx_hoop_fetch_wait(ngx_hoop_fetch_conn_t *c,
    short events);
static ngx_int_t ngx_hoop_fetch_response(ngx_hoop_fetch_conn_t *c,
    size_t max, u_char **body, size_t *len);
static ngx_int_t ngx_hoop_fetch_header(ngx_hoop_fetch_conn_t *c, u_char *buf,
    u_char *end, off_t *content_length);
static void ngx_hoop_fetch_close(ngx_hoop_fetch_conn_t *c);
static void ngx_hoop_fetch_ssl_error(ngx_hoop_fetch_conn_t *c,
    const char *op);
static void ngx_hoop_fetch_error(ngx_hoop_fetch_conn_t *c, ngx_err_t err,
    const char *fmt, ...);
static ngx_msec_t ngx_hoop_fetch_now(void);
static size_t ngx_hoop_fetch_sanitize(u_char *dst, size_t size,
    const char *src);


ngx_hoop_fetch_t *
ngx_hoop_fetch_create(ngx_pool_t *pool, ngx_log_t *log)
{
    ngx_hoop_fetch_t   *f;
    ngx_thread_task_t  *task;

    task = ngx_thread_task_alloc(pool, sizeof(ngx_hoop_fetch_t));
    if (task == NULL) {
        return NULL;
    }

    f = task->ctx;

    f->task = task;
    f->log = log;

    task->handler = ngx_hoop_fetch_thread;
    task->event.handler = ngx_hoop_fetch_event_handler;
    task->event.data = f;
    task->event.log = log;

    return f;
}


ngx_int_t
ngx_hoop_fetch_post(ngx_hoop_fetch_t *f, ngx_thread_pool_t *tp)
{
    f->rc = NGX_ERROR;
    f->body = NULL;
    f->len = 0;
    f->jwks_url_len = 0;
    f->error_len = 0;

    return ngx_thread_task_post(tp, f->task);
}


void
ngx_hoop_fetch_release(ngx_hoop_fetch_t *f)
{
    if (f->body) {
        ngx_free(f->body);
        f->body = NULL;
    }

    f->len = 0;
}


/* back in the worker's event loop */

static void
ngx_hoop_fetch_event_handler(ngx_event_t *ev)
{
    ngx_hoop_fetch_t  *f = ev->data;

    f->handler(f);
}


/* the thread */

static void
ngx_hoop_fetch_thread(void *data, ngx_log_t *log)
{
    ngx_hoop_fetch_t  *f = data;

    size_t      len;
    ngx_msec_t  deadline;

    deadline = ngx_hoop_fetch_now() + f->timeout;

    if (f->discovery_url.len) {
        if (ngx_hoop_fetch_discover(f, deadline, log) != NGX_OK) {
            return;
        }

        len = ngx_strlen(f->jwks_url);

    } else {
        /* the configuration made sure it fits */
        len = ngx_min(f->url.len, NGX_HOOP_FETCH_URL_LEN - 1);
        ngx_memcpy(f->jwks_url, f->url.data, len);
        f->jwks_url[len] = '\0';
    }

    f->jwks_url_len = len;

    if (ngx_hoop_fetch_get(f, f->jwks_url, len, deadline, log, &f->body,
                           &f->len)
        != NGX_OK)
    {
        return;
    }

    f->rc = NGX_OK;
}


/*
 * OpenID Connect Discovery 1.0: the issuer's openid-configuration must
 * name the configured issuer exactly (section 4.3); its "jwks_uri" is
 * where the keys are, copied to f->jwks_url.
 */

static ngx_int_t
ngx_hoop_fetch_discover(ngx_hoop_fetch_t *f, ngx_msec_t deadline,
    ngx_log_t *log)
{
    u_char                *body, *p, *last;
    size_t                 n, body_len;
    yajl_val               root, v;
    const char            *why;
    ngx_hoop_fetch_url_t   u;
    char                   errbuf[128];
    u_char                 shown[128];

    static const char     *issuer_path[] = { "issuer", NULL };
    static const char     *jwks_path[] = { "jwks_uri", NULL };

    if (ngx_hoop_fetch_get(f, f->discovery_url.data, f->discovery_url.len,
                           deadline, log, &body, &body_len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    last = f->error + NGX_HOOP_FETCH_ERRLEN;
    p = ngx_slprintf(f->error, last, "discovery from %V failed: ",
                     &f->discovery_url);

    errbuf[0] = '\0';
    root = yajl_tree_parse((const char *) body, errbuf, sizeof(errbuf));

    ngx_free(body);

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        /* yajl's first line says what; the rest quotes the text */
        for (n = 0; errbuf[n] && errbuf[n] != '\n'; n++) { /* void */ }
        errbuf[n] = '\0';

        n = ngx_hoop_fetch_sanitize(shown, sizeof(shown), errbuf);
        p = ngx_slprintf(p, last, "the document is not a JSON object%s%*s",
                         n ? ": " : "", n, shown);
        goto failed;
    }

    v = yajl_tree_get(root, issuer_path, yajl_t_string);

    if (v == NULL) {
        p = ngx_slprintf(p, last, "no \"issuer\" in the document");
        goto failed;
    }

    n = ngx_strlen(v->u.string);

    if (n != f->issuer.len
        || ngx_strncmp(v->u.string, f->issuer.data, n) != 0)
    {
        n = ngx_hoop_fetch_sanitize(shown, sizeof(shown), v->u.string);
        p = ngx_slprintf(p, last,
                         "its issuer \"%*s\" is not the configured \"%V\"",
                         n, shown, &f->issuer);
        goto failed;
    }

    v = yajl_tree_get(root, jwks_path, yajl_t_string);

    if (v == NULL) {
        p = ngx_slprintf(p, last, "no \"jwks_uri\" in the document");
        goto failed;
    }

    n = ngx_strlen(v->u.string);

    why = ngx_hoop_fetch_parse_url((u_char *) v->u.string, n, &u);

    /* plain http only when the discovery document came over plain http */

    if (why == NULL && !u.tls
        && ngx_strncasecmp(f->discovery_url.data, (u_char *) "https:", 6)
           == 0)
    {
        why = "the issuer is https, its jwks_uri must be too";
    }

    if (why == NULL && n >= NGX_HOOP_FETCH_URL_LEN) {
        why = "too long";
    }

    if (why) {
        n = ngx_hoop_fetch_sanitize(shown, sizeof(shown), v->u.string);
        p = ngx_slprintf(p, last, "bad jwks_uri \"%*s\": %s", n, shown, why);
        goto failed;
    }

    ngx_memcpy(f->jwks_url, v->u.string, n);
    f->jwks_url[n] = '\0';

    yajl_tree_free(root);

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop fetch: issuer \"%V\" has jwks_uri \"%s\"",
                   &f->issuer, f->jwks_url);

    return NGX_OK;

failed:

    if (root) {
        yajl_tree_free(root);
    }

    f->error_len = p - f->error;

    return NGX_ERROR;
}


/* one GET; on failure f->error says "<what> from <url> failed: <why>" */

static ngx_int_t
ngx_hoop_fetch_get(ngx_hoop_fetch_t *f, u_char *url, size_t url_len,
    ngx_msec_t deadline, ngx_log_t *log, u_char **body, size_t *len)
{
    u_char                *p;
    size_t                 n;
    const char            *why;
    ngx_hoop_fetch_url_t   u;
    ngx_hoop_fetch_conn_t  c;
    u_char                 request[NGX_HOOP_FETCH_URL_LEN + 256];

    ngx_memzero(&c, sizeof(ngx_hoop_fetch_conn_t));

    c.fd = -1;
    c.deadline = deadline;
    c.log = log;
    c.err = f->error;
    c.err_last = f->error + NGX_HOOP_FETCH_ERRLEN;
    c.reason = ngx_slprintf(c.err, c.err_last, "%s from %*s failed: ",
                            url == f->discovery_url.data ? "discovery"
                                                         : "JWKS fetch",
                            url_len, url);
    c.err_pos = c.reason;

    why = ngx_hoop_fetch_parse_url(url, url_len, &u);
    if (why) {
        ngx_hoop_fetch_error(&c, 0, "%s", why);
        goto failed;
    }

    n = sizeof("GET  HTTP/1.0" CRLF "Host: " CRLF
               "Accept: application/json" CRLF "User-Agent: ngx_hoop" CRLF
               "Connection: close" CRLF CRLF) - 1
        + u.path_len + u.hostport_len;

    if (n > sizeof(request)) {
        ngx_hoop_fetch_error(&c, 0, "the URL is too long");
        goto failed;
    }

    p = ngx_sprintf(request, "GET %*s HTTP/1.0" CRLF "Host: %*s" CRLF
                    "Accept: application/json" CRLF "User-Agent: ngx_hoop" CRLF
                    "Connection: close" CRLF CRLF,
                    u.path_len, u.path, u.hostport_len, u.hostport);

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop fetch: GET %*s", url_len, url);

    if (ngx_hoop_fetch_connect(&c, &u) != NGX_OK) {
        goto failed;
    }

    if (u.tls && ngx_hoop_fetch_tls(&c, &u, &f->ca_file) != NGX_OK) {
        goto failed;
    }

    if (ngx_hoop_fetch_write(&c, request, p - request) != NGX_OK) {
        goto failed;
    }

    if (ngx_hoop_fetch_response(&c, f->max_size, body, len) != NGX_OK) {
        goto failed;
    }

    ngx_hoop_fetch_close(&c);

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop fetch: %*s: %uz bytes", url_len, url, *len);

    return NGX_OK;

failed:

    ngx_hoop_fetch_close(&c);

    f->error_len = c.err_pos - c.err;

    return NGX_ERROR;
}


static ngx_int_t
ngx_hoop_fetch_connect(ngx_hoop_fetch_conn_t *c, ngx_hoop_fetch_url_t *u)
{
    int               rc, err;
    size_t            addr_len;
    socklen_t         len;
    ngx_int_t         wait;
    struct addrinfo   hints, *res, *ai;
    u_char            addr[NGX_SOCKADDR_STRLEN];

    ngx_memzero(&hints, sizeof(struct addrinfo));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;

    /* blocking, but in a thread; bounded by the resolver's own timeouts */

    rc = getaddrinfo((char *) u->host, (char *) u->port, &hints, &res);

    if (rc != 0) {
        if (rc == EAI_SYSTEM) {
            ngx_hoop_fetch_error(c, errno, "cannot resolve \"%s\"", u->host);

        } else {
            ngx_hoop_fetch_error(c, 0, "cannot resolve \"%s\": %s", u->host,
                                 gai_strerror(rc));
        }

        return NGX_ERROR;
    }

    for (ai = res; ai; ai = ai->ai_next) {

        addr_len = ngx_sock_ntop(ai->ai_addr, ai->ai_addrlen, addr,
                                 NGX_SOCKADDR_STRLEN, 1);

        c->fd = socket(ai->ai_family,
                       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (c->fd == -1) {
            ngx_hoop_fetch_error(c, errno, "socket() failed");
            continue;
        }

        ngx_log_debug2(NGX_LOG_DEBUG_CORE, c->log, 0,
                       "hoop fetch: connect to %*s", addr_len, addr);

        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            freeaddrinfo(res);
            return NGX_OK;
        }

        err = errno;

        if (err == EINPROGRESS) {
            wait = ngx_hoop_fetch_wait(c, POLLOUT);

            if (wait == NGX_DECLINED) {
                ngx_hoop_fetch_error(c, 0, "connect() to %*s timed out",
                                     addr_len, addr);
                break;
            }

            err = errno;

            if (wait == NGX_OK) {
                len = sizeof(int);

                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len)
                    == -1)
                {
                    err = errno;
                }

                if (err == 0) {
                    freeaddrinfo(res);
                    return NGX_OK;
                }
            }
        }

        ngx_hoop_fetch_error(c, err, "connect() to %*s failed",
                             addr_len, addr);

        close(c->fd);
        c->fd = -1;
    }

    freeaddrinfo(res);

    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    return NGX_ERROR;
}


static ngx_int_t
ngx_hoop_fetch_tls(ngx_hoop_fetch_conn_t *c, ngx_hoop_fetch_url_t *u,
    ngx_str_t *ca_file)
{
    int   rc;
    long  verify;

    ERR_clear_error();

    c->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (c->ssl_ctx == NULL) {
        ngx_hoop_fetch_ssl_error(c, "SSL_CTX_new()");
        return NGX_ERROR;
    }

    if (SSL_CTX_set_min_proto_version(c->ssl_ctx, TLS1_2_VERSION) != 1) {
        ngx_hoop_fetch_ssl_error(c, "SSL_CTX_set_min_proto_version()");
        return NGX_ERROR;
    }

    SSL_CTX_set_verify(c->ssl_ctx, SSL_VERIFY_PEER, NULL);

    /*
     * Servers that close without close_notify are common; the body is
     * framed by Content-Length when present and must parse as JSON anyway.
     */
    SSL_CTX_set_options(c->ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);

    if (ca_file->len) {
        rc = SSL_CTX_load_verify_locations(c->ssl_ctx,
                                           (char *) ca_file->data, NULL);
    } else {
        rc = SSL_CTX_set_default_verify_paths(c->ssl_ctx);
    }

    if (rc != 1) {
        ngx_hoop_fetch_ssl_error(c, "loading CA certificates");
        return NGX_ERROR;
    }

    c->ssl = SSL_new(c->ssl_ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
        ngx_hoop_fetch_ssl_error(c, "SSL_new()");
        return NGX_ERROR;
    }

    /* RFC 6066: no SNI for an address; SSL_set1_host() checks both kinds */

    if (!u->literal
        && SSL_set_tlsext_host_name(c->ssl, (char *) u->host) != 1)
    {
        ngx_hoop_fetch_ssl_error(c, "SSL_set_tlsext_host_name()");
        return NGX_ERROR;
    }

    if (SSL_set1_host(c->ssl, (char *) u->host) != 1) {
        ngx_hoop_fetch_ssl_error(c, "SSL_set1_host()");
        return NGX_ERROR;
    }

    for ( ;; ) {
        ERR_clear_error();

        rc = SSL_connect(c->ssl);

        if (rc == 1) {
            return NGX_OK;
        }

        verify = SSL_get_verify_result(c->ssl);

        if (verify != X509_V_OK) {
            ngx_hoop_fetch_error(c, 0, "certificate verify failed: %s",
                                 X509_verify_cert_error_string(verify));
            return NGX_ERROR;
        }

        if (ngx_hoop_fetch_ssl_wait(c, rc, "TLS handshake") != NGX_OK) {
            return NGX_ERROR;
        }
    }
}


static ngx_int_t
ngx_hoop_fetch_write(ngx_hoop_fetch_conn_t *c, u_char *buf, size_t len)
{
    int      rc;
    ssize_t  n;

    while (len) {

        if (c->ssl) {
            ERR_clear_error();

            rc = SSL_write(c->ssl, buf, len);

            if (rc > 0) {
                buf += rc;
                len -= rc;
                continue;
            }

            if (ngx_hoop_fetch_ssl_wait(c, rc, "sending the request")
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        n = send(c->fd, buf, len, MSG_NOSIGNAL);

        if (n > 0) {
            buf += n;
            len -= n;
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            if (ngx_hoop_fetch_wait(c, POLLOUT) != NGX_OK) {
                ngx_hoop_fetch_error(c, 0, "sending the request timed out");
                return NGX_ERROR;
            }

            continue;
        }

        ngx_hoop_fetch_error(c, errno, "send() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* > 0: bytes read, 0: end of the response, -1: error (already reported) */

static ssize_t
ngx_hoop_fetch_read(ngx_hoop_fetch_conn_t *c, u_char *buf, size_t size)
{
    int      rc;
    ssize_t  n;

    for ( ;; ) {

        if (c->ssl) {
            ERR_clear_error();

            rc = SSL_read(c->ssl, buf, size);

            if (rc > 0) {
                return rc;
            }

            if (SSL_get_error(c->ssl, rc) == SSL_ERROR_ZERO_RETURN) {
                return 0;
            }

            if (ngx_hoop_fetch_ssl_wait(c, rc, "reading the response")
                != NGX_OK)
            {
                return -1;
            }

            continue;
        }

        n = recv(c->fd, buf, size, 0);

        if (n >= 0) {
            return n;
        }

        if (errno == EAGAIN || errno == EINTR) {
            if (ngx_hoop_fetch_wait(c, POLLIN) != NGX_OK) {
                ngx_hoop_fetch_error(c, 0, "reading the response timed out");
                return -1;
            }

            continue;
        }

        ngx_hoop_fetch_error(c, errno, "recv() failed");
        return -1;
    }
}


/* after an SSL call returned rc <= 0: wait for the socket, or report */

static ngx_int_t
ngx_hoop_fetch_ssl_wait(ngx_hoop_fetch_conn_t *c, int rc, const char *op)
{
    int        err;
    ngx_err_t  sys;
    ngx_int_t  wait;

    sys = errno;
    err = SSL_get_error(c->ssl, rc);

    switch (err) {

    case SSL_ERROR_WANT_READ:
        wait = ngx_hoop_fetch_wait(c, POLLIN);
        break;

    case SSL_ERROR_WANT_WRITE:
        wait = ngx_hoop_fetch_wait(c, POLLOUT);
        break;

    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0) {
            if (sys) {
                ngx_hoop_fetch_error(c, sys, "%s failed", op);
            } else {
                ngx_hoop_fetch_error(c, 0, "%s failed: the peer closed the "
                                     "connection", op);
            }

            return NGX_ERROR;
        }

        /* fall through */

    default:
        ngx_hoop_fetch_ssl_error(c, op);
        return NGX_ERROR;
    }

    if (wait == NGX_DECLINED) {
        ngx_hoop_fetch_error(c, 0, "%s timed out", op);
        return NGX_ERROR;
    }

    if (wait != NGX_OK) {
        ngx_hoop_fetch_error(c, errno, "poll() failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* NGX_OK: ready (or an error the next call reports); NGX_DECLINED: time */

static ngx_int_t
ngx_hoop_fetch_wait(ngx_hoop_fetch_conn_t *c, short events)
{
    int            n;
    ngx_msec_t     now;
    struct pollfd  pfd;

    for ( ;; ) {
        now = ngx_hoop_fetch_now();

        if (now >= c->deadline) {
            return NGX_DECLINED;
        }

        pfd.fd = c->fd;
        pfd.events = events;
        pfd.revents = 0;

        n = poll(&pfd, 1, (int) ngx_min(c->deadline - now, 3600000));

        if (n > 0) {
            return NGX_OK;
        }

        if (n == 0) {
            return NGX_DECLINED;
        }

        if (errno != EINTR) {
            return NGX_ERROR;
        }
    }
}


/*
 * The whole response: status 200, a body of at most max bytes (and of
 * Content-Length bytes when the header says).  *body is NUL-terminated and
 * ngx_alloc()ed.
 */

static ngx_int_t
ngx_hoop_fetch_response(ngx_hoop_fetch_conn_t *c, size_t max, u_char **body,
    size_t *len)
{
    u_char   *buf, *p, *end, *hdr_end;
    off_t     cl;
    size_t    have, limit, body_len;
    ssize_t   n;

    /* one allocation for the worst case: untouched pages cost nothing */

    buf = ngx_alloc(NGX_HOOP_FETCH_HEADER_MAX + max + 2, c->log);
    if (buf == NULL) {
        ngx_hoop_fetch_error(c, 0, "out of memory");
        return NGX_ERROR;
    }

    have = 0;
    hdr_end = NULL;
    cl = -1;
    limit = NGX_HOOP_FETCH_HEADER_MAX;

    for ( ;; ) {

        if (have == limit) {
            if (hdr_end == NULL) {
                ngx_hoop_fetch_error(c, 0, "the response header is longer "
                                     "than %d bytes",
                                     NGX_HOOP_FETCH_HEADER_MAX);
            } else {
                ngx_hoop_fetch_error(c, 0, "the response body is larger "
                                     "than %uz bytes", max);
            }

            goto failed;
        }

        n = ngx_hoop_fetch_read(c, buf + have, limit - have);

        if (n == -1) {
            goto failed;
        }

        if (n == 0) {
            break;
        }

        have += n;

        if (hdr_end == NULL) {
            end = buf + have;

            for (p = buf; p < end; p++) {
                if (*p != '\n') {
                    continue;
                }

                if (p + 1 < end && p[1] == '\n') {
                    hdr_end = p + 2;
                    break;
                }

                if (p + 2 < end && p[1] == '\r' && p[2] == '\n') {
                    hdr_end = p + 3;
                    break;
                }
            }

            if (hdr_end == NULL) {
                continue;
            }

            if (ngx_hoop_fetch_header(c, buf, hdr_end, &cl) != NGX_OK) {
                goto failed;
            }

            if (cl > (off_t) max) {
                ngx_hoop_fetch_error(c, 0, "the response body of %O bytes is "
                                     "larger than %uz bytes", cl, max);
                goto failed;
            }

            /* one byte more than allowed tells "too large" from "exact" */

            limit = (hdr_end - buf) + (cl >= 0 ? (size_t) cl : max + 1);

            if (have > limit) {
                have = limit;
            }
        }

        if (cl >= 0 && have == limit) {
            break;
        }
    }

    if (hdr_end == NULL) {
        ngx_hoop_fetch_error(c, 0, have ? "an incomplete response header"
                                        : "an empty response");
        goto failed;
    }

    body_len = have - (hdr_end - buf);

    if (cl >= 0 && (off_t) body_len < cl) {
        ngx_hoop_fetch_error(c, 0, "the response was truncated: %uz of %O "
                             "bytes", body_len, cl);
        goto failed;
    }

    ngx_memmove(buf, hdr_end, body_len);
    buf[body_len] = '\0';

    *body = buf;
    *len = body_len;

    return NGX_OK;

failed:

    ngx_free(buf);

    return NGX_ERROR;
}


/* the status line, and the header fields that matter for the framing */

static ngx_int_t
ngx_hoop_fetch_header(ngx_hoop_fetch_conn_t *c, u_char *buf, u_char *end,
    off_t *content_length)
{
    u_char     *p, *line, *eol, *name_end, *value, *value_end;
    off_t       cl;
    ngx_int_t   status;

    eol = ngx_strlchr(buf, end, '\n');

    if (eol - buf < 12
        || ngx_strncmp(buf, "HTTP/1.", 7) != 0
        || !(buf[7] == '0' || buf[7] == '1')
        || buf[8] != ' ')
    {
        ngx_hoop_fetch_error(c, 0, "not an HTTP/1.x response");
        return NGX_ERROR;
    }

    status = ngx_atoi(buf + 9, 3);

    if (status == NGX_ERROR
        || (eol - buf > 12 && buf[12] != ' ' && buf[12] != '\r'))
    {
        ngx_hoop_fetch_error(c, 0, "a bad HTTP status line");
        return NGX_ERROR;
    }

    if (status != 200) {
        ngx_hoop_fetch_error(c, 0, "HTTP status %i%s", status,
                             (status >= 300 && status < 400)
                             ? " (redirects are not followed)" : "");
        return NGX_ERROR;
    }

    *content_length = -1;

    for (line = eol + 1; line < end; line = eol + 1) {

        eol = ngx_strlchr(line, end, '\n');
        if (eol == NULL) {
            break;
        }

        value_end = (eol > line && eol[-1] == '\r') ? eol - 1 : eol;

        if (value_end == line) {
            break;                      /* the empty line */
        }

        name_end = ngx_strlchr(line, value_end, ':');

        if (name_end == NULL || name_end == line
            || *line == ' ' || *line == '\t')
        {
            continue;                   /* malformed, or obsolete folding */
        }

        value = name_end + 1;

        while (value < value_end && (*value == ' ' || *value == '\t')) {
            value++;
        }

        while (value_end > value
               && (value_end[-1] == ' ' || value_end[-1] == '\t'))
        {
            value_end--;
        }

        if (name_end - line == sizeof("Content-Length") - 1
            && ngx_strncasecmp(line, (u_char *) "Content-Length",
                               name_end - line) == 0)
        {
            for (p = value; p < value_end; p++) {
                if (*p < '0' || *p > '9') {
                    break;
                }
            }

            cl = (p == value_end && value_end > value
                  && value_end - value <= 10)
                 ? ngx_atoof(value, value_end - value) : NGX_ERROR;

            if (cl == NGX_ERROR
                || (*content_length != -1 && *content_length != cl))
            {
                ngx_hoop_fetch_error(c, 0, "a bad Content-Length");
                return NGX_ERROR;
            }

            *content_length = cl;
            continue;
        }

        if (name_end - line == sizeof("Transfer-Encoding") - 1
            && ngx_strncasecmp(line, (u_char *) "Transfer-Encoding",
                               name_end - line) == 0)
        {
            /* a correct server never sends it to an HTTP/1.0 client */
            ngx_hoop_fetch_error(c, 0, "a Transfer-Encoding in a response "
                                 "to HTTP/1.0");
            return NGX_ERROR;
        }

        if (name_end - line == sizeof("Content-Encoding") - 1
            && ngx_strncasecmp(line, (u_char *) "Content-Encoding",
                               name_end - line) == 0
            && !(value_end - value == 8
                 && ngx_strncasecmp(value, (u_char *) "identity", 8) == 0))
        {
            ngx_hoop_fetch_error(c, 0, "an encoded (Content-Encoding) "
                                 "response");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_hoop_fetch_close(ngx_hoop_fetch_conn_t *c)
{
    if (c->ssl) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }

    if (c->ssl_ctx) {
        SSL_CTX_free(c->ssl_ctx);
        c->ssl_ctx = NULL;
    }

    if (c->fd != -1) {
        close(c->fd);
        c->fd = -1;
    }

    ERR_clear_error();
}


static void
ngx_hoop_fetch_ssl_error(ngx_hoop_fetch_conn_t *c, const char *op)
{
    unsigned long  n;
    char           buf[256];

    n = ERR_peek_last_error();

    if (n == 0) {
        ngx_hoop_fetch_error(c, 0, "%s failed", op);
        return;
    }

    ERR_error_string_n(n, buf, sizeof(buf));
    ngx_hoop_fetch_error(c, 0, "%s failed: %s", op, buf);
}


/*
 * Sets the reason after "<what> from <url> failed: "; with err, nginx's
 * " (111: Connection refused)" suffix (ngx_strerror() is thread-safe).
 */

static void
ngx_hoop_fetch_error(ngx_hoop_fetch_conn_t *c, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(c->reason, c->err_last, fmt, args);
    va_end(args);

    if (err && c->err_last - p > 16) {
        p = ngx_slprintf(p, c->err_last - 1, " (%d: ", err);
        p = ngx_strerror(err, p, c->err_last - p - 1);
        *p++ = ')';
    }

    c->err_pos = p;
}


static ngx_msec_t
ngx_hoop_fetch_now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* remote text in a log line: printable ASCII only, bounded */

static size_t
ngx_hoop_fetch_sanitize(u_char *dst, size_t size, const char *src)
{
    u_char  ch;
    size_t  n;

    for (n = 0; n < size && src[n]; n++) {
        ch = (u_char) src[n];
        dst[n] = (ch >= 0x20 && ch < 0x7f && ch != '"') ? ch : '?';
    }

    return n;
}


#endif /* NGX_THREADS */
