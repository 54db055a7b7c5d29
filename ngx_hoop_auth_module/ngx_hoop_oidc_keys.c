
/*
 * ngx_hoop_oidc_keys.c: where a provider's keys come from.
 *
 * A jwks_file is read and parsed at configuration time.  A jwks_url or the
 * issuer's discovery document is fetched by the workers, in a thread-pool
 * task (ngx_hoop_https_fetch.c), and the last good JWKS document is kept
 * in the provider's shared memory zone, with the state that makes one
 * fetch at a time for all workers, the refresh schedule and the unknown
 * kid re-fetch rate limit.  Each worker builds its EVP_PKEYs once per
 * document version.  A document replaces the shared copy only after it
 * parsed into at least one usable key: a failed refresh keeps the keys.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include "ngx_hoop_oidc.h"


#define NGX_HOOP_KEYS_DOC_MAX        (512 * 1024)
#define NGX_HOOP_KEYS_SHM_SIZE       (NGX_HOOP_KEYS_DOC_MAX + 128 * 1024)

#define NGX_HOOP_KEYS_REFRESH        3600000    /* defaults */
#define NGX_HOOP_KEYS_REFETCH_MIN    30000
#define NGX_HOOP_KEYS_FETCH_TIMEOUT  10000

/* a fetch not back this long after its timeout is presumed lost */
#define NGX_HOOP_KEYS_GRACE          2000
/* the shortest pause after a failed fetch */
#define NGX_HOOP_KEYS_MIN_RETRY      1000


/* the provider's shared memory: the last good document and fetch state */
typedef struct {
    ngx_atomic_t              version;      /* of doc; 0: none yet */
    size_t                    len;
    u_char                   *doc;          /* NGX_HOOP_KEYS_DOC_MAX bytes */
    uint32_t                  source;       /* CRC32 of the key source */

    ngx_msec_t                fetch_expires;  /* a fetch runs; 0: none */
    ngx_uint_t                fetch_id;
    ngx_pid_t                 fetch_pid;
    ngx_msec_t                next_fetch;   /* the next periodic fetch */
    ngx_msec_t                last_refetch; /* the last one for a kid */
    ngx_uint_t                attempts;     /* fetches that ended */
    unsigned                  refetched:1;
    unsigned                  failed:1;     /* the last one failed */

    size_t                    error_len;    /* why it failed */
    u_char                    error[NGX_HOOP_FETCH_ERRLEN];
} ngx_hoop_oidc_keys_sh_t;


/* provider->keysrc */
typedef struct {
    ngx_hoop_oidc_t          *provider;
    ngx_str_t                 source;       /* the URL, for log lines */
    ngx_str_t                 url;          /* NUL-terminated copies */
    ngx_str_t                 discovery_url;
    ngx_str_t                 ca_file;
    uint32_t                  source_crc;

    ngx_slab_pool_t          *shpool;
    ngx_hoop_oidc_keys_sh_t  *sh;           /* NULL: a jwks_file */

    ngx_uint_t                seen;         /* version loaded by us */
    ngx_event_t               timer;
#if (NGX_THREADS)
    ngx_thread_pool_t        *thread_pool;
#endif

    u_char                    error[NGX_HOOP_FETCH_ERRLEN];
} ngx_hoop_oidc_keys_t;


/* one fetch: its own pool, so a late or lost one frees itself */
typedef struct {
    ngx_hoop_oidc_keys_t     *keys;
    ngx_pool_t               *pool;
    ngx_uint_t                id;
} ngx_hoop_oidc_keys_job_t;


static char *ngx_hoop_oidc_keys_file(ngx_conf_t *cf, ngx_hoop_oidc_t *p);
static char *ngx_hoop_oidc_keys_url(ngx_conf_t *cf, ngx_hoop_oidc_t *p,
    ngx_hoop_oidc_keys_t *ks);
static ngx_int_t ngx_hoop_oidc_keys_cstr(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src);
static ngx_int_t ngx_hoop_oidc_keys_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_hoop_oidc_keys_cleanup(void *data);
static void ngx_hoop_oidc_keys_timer(ngx_event_t *ev);
static void ngx_hoop_oidc_keys_schedule(ngx_hoop_oidc_keys_t *ks);
static void ngx_hoop_oidc_keys_sync(ngx_hoop_oidc_keys_t *ks, ngx_log_t *log);
static ngx_uint_t ngx_hoop_oidc_keys_running_locked(ngx_hoop_oidc_keys_t *ks,
    ngx_msec_t now);
static ngx_uint_t ngx_hoop_oidc_keys_claim_locked(ngx_hoop_oidc_keys_t *ks,
    ngx_msec_t now);
static void ngx_hoop_oidc_keys_start(ngx_hoop_oidc_keys_t *ks, ngx_uint_t id,
    const char *reason, ngx_log_t *log);
static void ngx_hoop_oidc_keys_failed_locked(ngx_hoop_oidc_keys_t *ks,
    ngx_uint_t id, ngx_msec_t now, u_char *error, size_t len);
#if (NGX_THREADS)
static void ngx_hoop_oidc_keys_done(ngx_hoop_fetch_t *f);
static ngx_uint_t ngx_hoop_oidc_keys_unchanged(ngx_hoop_oidc_keys_t *ks,
    ngx_hoop_fetch_t *f, ngx_uint_t id);
static ngx_str_t  ngx_hoop_oidc_keys_thread_pool = ngx_string("hoop");
static ngx_str_t  ngx_hoop_oidc_keys_default_pool = ngx_string("default");
#endif
static ngx_msec_t ngx_hoop_oidc_keys_retry(ngx_hoop_oidc_t *p);


/* configuration */

char *
ngx_hoop_oidc_keys_conf(ngx_conf_t *cf, ngx_hoop_oidc_t *p)
{
    ngx_uint_t             n;
    ngx_pool_cleanup_t    *cln;
    ngx_hoop_oidc_keys_t  *ks;

    n = (p->jwks_file.len != 0) + (p->jwks_url.len != 0)
        + (p->discovery == 1);

    if (n != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\": %s: a JWKS file, a JWKS URL or "
                           "discovery", &p->name,
                           n ? "more than one key source"
                             : "no key source");
        return NGX_CONF_ERROR;
    }

    if (p->refresh == NGX_CONF_UNSET_MSEC) {
        p->refresh = NGX_HOOP_KEYS_REFRESH;
    }

    if (p->refetch_min == NGX_CONF_UNSET_MSEC) {
        p->refetch_min = NGX_HOOP_KEYS_REFETCH_MIN;
    }

    if (p->fetch_timeout == NGX_CONF_UNSET_MSEC) {
        p->fetch_timeout = NGX_HOOP_KEYS_FETCH_TIMEOUT;
    }

    if (p->refresh == 0 || p->fetch_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\": the refresh interval and the "
                           "fetch timeout must not be zero", &p->name);
        return NGX_CONF_ERROR;
    }

    ks = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_oidc_keys_t));
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    ks->provider = p;
    p->keysrc = ks;

    /* this configuration's keys go when its cycle does */

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_hoop_oidc_keys_cleanup;
    cln->data = p;

    if (p->jwks_file.len) {
        return ngx_hoop_oidc_keys_file(cf, p);
    }

    return ngx_hoop_oidc_keys_url(cf, p, ks);
}


static char *
ngx_hoop_oidc_keys_file(ngx_conf_t *cf, ngx_hoop_oidc_t *p)
{
    u_char           *buf;
    size_t            size;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t         why;
    ngx_err_t         err;
    ngx_file_info_t   fi;
    ngx_hoop_jwks_t  *jwks;

    if (p->ca_file.len) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "hoop_oidc \"%V\": a CA file is used only for "
                           "keys over https, not for a JWKS file", &p->name);
    }

    if (ngx_conf_full_name(cf->cycle, &p->jwks_file, 1) != NGX_OK
        || ngx_hoop_oidc_keys_cstr(cf->pool, &p->jwks_file, &p->jwks_file)
           != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(p->jwks_file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "hoop_oidc \"%V\": cannot open the JWKS file "
                           "\"%V\"", &p->name, &p->jwks_file);
        return NGX_CONF_ERROR;
    }

    buf = NULL;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        err = ngx_errno;
        goto read_failed;
    }

    size = ngx_file_size(&fi);

    if (size > NGX_HOOP_KEYS_DOC_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\": the JWKS file \"%V\" is larger "
                           "than %d bytes", &p->name, &p->jwks_file,
                           NGX_HOOP_KEYS_DOC_MAX);
        goto failed;
    }

    buf = ngx_pnalloc(cf->temp_pool, size + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, size);

    if (n == -1) {
        err = ngx_errno;
        goto read_failed;
    }

    if ((size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\": the JWKS file \"%V\" changed "
                           "while being read", &p->name, &p->jwks_file);
        goto failed;
    }

    buf[size] = '\0';

    ngx_close_file(fd);

    jwks = ngx_hoop_jwks_parse(buf, size, cf->log, &why);

    if (jwks == NULL || jwks->keys.nelts == 0) {
        if (jwks) {
            ngx_str_set(&why, "no usable key");
            ngx_hoop_jwks_free(jwks);
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\": the JWKS file \"%V\" has no "
                           "usable key: %V", &p->name, &p->jwks_file, &why);
        return NGX_CONF_ERROR;
    }

    jwks->version = 1;
    p->jwks = jwks;

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, cf->log, 0,
                   "hoop_oidc \"%V\": %ui keys from \"%V\"",
                   &p->name, jwks->keys.nelts, &p->jwks_file);

    return NGX_CONF_OK;

read_failed:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, err,
                       "hoop_oidc \"%V\": cannot read the JWKS file \"%V\"",
                       &p->name, &p->jwks_file);

failed:

    ngx_close_file(fd);

    return NGX_CONF_ERROR;
}


static char *
ngx_hoop_oidc_keys_url(ngx_conf_t *cf, ngx_hoop_oidc_t *p,
    ngx_hoop_oidc_keys_t *ks)
{
    u_char          *last;
    size_t           len;
    SSL_CTX         *ssl_ctx;
    ngx_str_t        name, *url;
    ngx_uint_t       https;
    const char      *why, *what;
    unsigned long    e;
    ngx_shm_zone_t  *shm_zone;
    char             buf[256];

#if !(NGX_THREADS)

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "hoop_oidc \"%V\": keys from a URL or discovery need "
                       "nginx built with threads (--with-threads); a JWKS "
                       "file works without", &p->name);
    return NGX_CONF_ERROR;

#endif

    url = p->discovery == 1 ? &p->issuer : &p->jwks_url;

    why = url->len ? ngx_hoop_fetch_check_url(url, &https)
                   : "it is empty";

    if (why == NULL && url->len + sizeof("/.well-known/openid-configuration")
                       > NGX_HOOP_FETCH_URL_LEN)
    {
        why = "too long";
    }

    if (why) {
        what = p->discovery == 1 ? "issuer URL for discovery" : "JWKS URL";

        if (ngx_strlchr(url->data, url->data + url->len, '@')) {
            /* it may hold a password: not repeated in the log */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "hoop_oidc \"%V\": bad %s: %s",
                               &p->name, what, why);

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "hoop_oidc \"%V\": bad %s \"%V\": %s",
                               &p->name, what, url, why);
        }

        return NGX_CONF_ERROR;
    }

    if (!https) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "hoop_oidc \"%V\": keys over plain http:// can be "
                           "forged on the way; use https://", &p->name);
    }

    if (p->discovery == 1) {
        /* OIDC Discovery 4: a trailing "/" of the issuer goes first */

        len = p->issuer.len;

        if (p->issuer.data[len - 1] == '/') {
            len--;
        }

        ks->discovery_url.len = len
                                + sizeof("/.well-known/openid-configuration")
                                - 1;
        ks->discovery_url.data = ngx_pnalloc(cf->pool,
                                             ks->discovery_url.len + 1);
        if (ks->discovery_url.data == NULL) {
            return NGX_CONF_ERROR;
        }

        last = ngx_sprintf(ks->discovery_url.data,
                           "%*s/.well-known/openid-configuration",
                           len, p->issuer.data);
        *last = '\0';

        ks->source = ks->discovery_url;

    } else {
        if (ngx_hoop_oidc_keys_cstr(cf->pool, &ks->url, &p->jwks_url)
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        ks->source = ks->url;
    }

    if (p->ca_file.len) {
        if (ngx_conf_full_name(cf->cycle, &p->ca_file, 1) != NGX_OK
            || ngx_hoop_oidc_keys_cstr(cf->pool, &ks->ca_file, &p->ca_file)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        /* a CA file that cannot load would fail every fetch: say it now */

        ERR_clear_error();

        ssl_ctx = SSL_CTX_new(TLS_client_method());

        if (ssl_ctx == NULL
            || SSL_CTX_load_verify_locations(ssl_ctx,
                                             (char *) ks->ca_file.data, NULL)
               != 1)
        {
            e = ERR_peek_last_error();
            ERR_error_string_n(e, buf, sizeof(buf));
            ERR_clear_error();

            if (ssl_ctx) {
                SSL_CTX_free(ssl_ctx);
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "hoop_oidc \"%V\": cannot load the CA file "
                               "\"%V\": %s", &p->name, &ks->ca_file,
                               e ? buf : "unknown error");
            return NGX_CONF_ERROR;
        }

        SSL_CTX_free(ssl_ctx);
    }

    ks->source_crc = ngx_crc32_long(ks->source.data, ks->source.len);
    ks->source_crc ^= ngx_crc32_long(p->issuer.data, p->issuer.len);
    ks->source_crc ^= ngx_crc32_long(ks->ca_file.data, ks->ca_file.len);

    /* one zone per provider: the document and the fetch state */

    name.len = sizeof("hoop_oidc_") - 1 + p->name.len;
    name.data = ngx_pnalloc(cf->pool, name.len);
    if (name.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_sprintf(name.data, "hoop_oidc_%V", &p->name);

    shm_zone = ngx_shared_memory_add(cf, &name, NGX_HOOP_KEYS_SHM_SIZE,
                                     &ngx_hoop_auth_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\" is declared twice", &p->name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_hoop_oidc_keys_init_zone;
    shm_zone->data = ks;
    p->shm_zone = shm_zone;

    /*
     * Fetches run in the "hoop" thread pool if nginx.conf declares one,
     * else in nginx's "default" pool, which must exist then: nginx fails a
     * configuration that refers to an undeclared pool other than
     * "default", and which is declared is known only after parsing.
     */

#if (NGX_THREADS)

    if (ngx_thread_pool_get(cf->cycle, &ngx_hoop_oidc_keys_thread_pool)
        == NULL
        && ngx_thread_pool_add(cf, NULL) == NULL)
    {
        return NGX_CONF_ERROR;
    }

#endif

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_oidc_keys_cstr(ngx_pool_t *pool, ngx_str_t *dst, ngx_str_t *src)
{
    u_char  *p;

    p = ngx_pnalloc(pool, src->len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, src->data, src->len);
    p[src->len] = '\0';

    dst->len = src->len;
    dst->data = p;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_oidc_keys_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_hoop_oidc_keys_t  *oks = data;

    size_t                    len;
    ngx_slab_pool_t          *shpool;
    ngx_hoop_oidc_keys_t     *ks;
    ngx_hoop_oidc_keys_sh_t  *sh;

    ks = shm_zone->data;

    if (oks) {
        /* a reload: the keys stay unless the source changed */

        ks->shpool = oks->shpool;
        ks->sh = oks->sh;
        sh = ks->sh;

        ngx_shmtx_lock(&ks->shpool->mutex);

        if (sh->source != ks->source_crc) {
            sh->source = ks->source_crc;
            sh->len = 0;
            sh->version++;
            sh->fetch_expires = 0;
            sh->next_fetch = 0;
            sh->attempts = 0;
            sh->refetched = 0;
            sh->failed = 0;
            sh->error_len = 0;
        }

        ngx_shmtx_unlock(&ks->shpool->mutex);

        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    ks->shpool = shpool;

    if (shm_zone->shm.exists) {
        ks->sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_calloc(shpool, sizeof(ngx_hoop_oidc_keys_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    sh->doc = ngx_slab_alloc(shpool, NGX_HOOP_KEYS_DOC_MAX);
    if (sh->doc == NULL) {
        return NGX_ERROR;
    }

    sh->source = ks->source_crc;

    shpool->data = sh;
    ks->sh = sh;

    len = sizeof(" in hoop_oidc zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in hoop_oidc zone \"%V\"%Z",
                &shm_zone->shm.name);

    return NGX_OK;
}


static void
ngx_hoop_oidc_keys_cleanup(void *data)
{
    ngx_hoop_oidc_t  *p = data;

    if (p->jwks) {
        ngx_hoop_jwks_free(p->jwks);
        p->jwks = NULL;
    }
}


/* workers */

ngx_int_t
ngx_hoop_oidc_keys_init_process(ngx_cycle_t *cycle, ngx_hoop_oidc_t *p)
{
    ngx_hoop_oidc_keys_t  *ks;

    ks = p->keysrc;

    if (ks == NULL || ks->sh == NULL) {
        return NGX_OK;                  /* a jwks_file */
    }

    /* not in the cache manager and loader */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

#if (NGX_THREADS)

    ks->thread_pool = ngx_thread_pool_get(cycle,
                                          &ngx_hoop_oidc_keys_thread_pool);

    if (ks->thread_pool == NULL) {
        ks->thread_pool = ngx_thread_pool_get(cycle,
                                              &ngx_hoop_oidc_keys_default_pool);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, cycle->log, 0,
                   "hoop_oidc \"%V\": fetches in thread pool \"%s\"",
                   &p->name,
                   ngx_thread_pool_get(cycle, &ngx_hoop_oidc_keys_thread_pool)
                   ? "hoop" : "default");

#endif

    ks->timer.handler = ngx_hoop_oidc_keys_timer;
    ks->timer.data = ks;
    ks->timer.log = cycle->log;
    ks->timer.cancelable = 1;

    /* the first fetch, unless a reload left fresh keys in the zone */

    ngx_add_timer(&ks->timer, 1);

    return NGX_OK;
}


static void
ngx_hoop_oidc_keys_timer(ngx_event_t *ev)
{
    ngx_hoop_oidc_keys_t *ks = ev->data;

    ngx_msec_t                now;
    ngx_uint_t                id;
    const char               *reason;
    ngx_hoop_oidc_keys_sh_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh = ks->sh;
    now = ngx_current_msec;
    id = 0;
    reason = NULL;

    ngx_shmtx_lock(&ks->shpool->mutex);

    if (!ngx_hoop_oidc_keys_running_locked(ks, now)
        && (ngx_msec_int_t) (sh->next_fetch - now) <= 0)
    {
        reason = sh->attempts == 0 ? "start"
                 : sh->failed ? "retry" : "refresh";
        id = ngx_hoop_oidc_keys_claim_locked(ks, now);
    }

    ngx_shmtx_unlock(&ks->shpool->mutex);

    if (id) {
        ngx_hoop_oidc_keys_start(ks, id, reason, ev->log);
    }

    ngx_hoop_oidc_keys_schedule(ks);
}


/* wake up when the running fetch is due back, or the next one is due */

static void
ngx_hoop_oidc_keys_schedule(ngx_hoop_oidc_keys_t *ks)
{
    ngx_msec_t                now, at;
    ngx_msec_int_t            wait;
    ngx_hoop_oidc_keys_sh_t  *sh;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh = ks->sh;
    now = ngx_current_msec;

    ngx_shmtx_lock(&ks->shpool->mutex);
    at = sh->fetch_expires ? sh->fetch_expires : sh->next_fetch;
    ngx_shmtx_unlock(&ks->shpool->mutex);

    wait = (ngx_msec_int_t) (at - now);

    if (wait < 1) {
        wait = 1;
    }

    ngx_add_timer(&ks->timer, (ngx_msec_t) wait);
}


ngx_hoop_jwks_t *
ngx_hoop_oidc_keys_get(ngx_hoop_oidc_t *p, ngx_log_t *log, ngx_int_t *rc,
    ngx_str_t *error)
{
    size_t                    len;
    ngx_msec_t                now;
    ngx_uint_t                id;
    ngx_hoop_oidc_keys_t     *ks;
    ngx_hoop_oidc_keys_sh_t  *sh;

    ks = p->keysrc;

    if (ks == NULL || ks->sh == NULL) {
        /* a jwks_file: loaded at configuration time, or nginx -t failed */
        *rc = p->jwks ? NGX_OK : NGX_ERROR;
        ngx_str_set(error, "no JWKS loaded");
        return p->jwks;
    }

    ngx_hoop_oidc_keys_sync(ks, log);

    if (p->jwks) {
        *rc = NGX_OK;
        return p->jwks;
    }

    sh = ks->sh;
    now = ngx_current_msec;
    id = 0;

    ngx_shmtx_lock(&ks->shpool->mutex);

    if (ngx_hoop_oidc_keys_running_locked(ks, now)) {
        *rc = NGX_AGAIN;

    } else if (sh->attempts == 0) {
        /* a request came before this worker's first timer */
        id = ngx_hoop_oidc_keys_claim_locked(ks, now);
        *rc = NGX_AGAIN;

    } else {
        len = ngx_min(sh->error_len, NGX_HOOP_FETCH_ERRLEN);
        ngx_memcpy(ks->error, sh->error, len);

        error->data = ks->error;
        error->len = len;

        *rc = NGX_ERROR;
    }

    ngx_shmtx_unlock(&ks->shpool->mutex);

    if (id) {
        ngx_hoop_oidc_keys_start(ks, id, "start", log);
    }

    if (*rc == NGX_ERROR && error->len == 0) {
        ngx_str_set(error, "no usable JWKS yet");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop_oidc \"%V\": no keys yet, rc:%i", &p->name, *rc);

    return NULL;
}


ngx_int_t
ngx_hoop_oidc_keys_refetch(ngx_hoop_oidc_t *p, ngx_log_t *log)
{
    ngx_msec_t                now, ago;
    ngx_uint_t                id;
    ngx_hoop_oidc_keys_t     *ks;
    ngx_hoop_oidc_keys_sh_t  *sh;

    ks = p->keysrc;

    if (ks == NULL || ks->sh == NULL) {
        return NGX_DECLINED;            /* a file changes on reload only */
    }

    sh = ks->sh;
    now = ngx_current_msec;

    ngx_shmtx_lock(&ks->shpool->mutex);

    if (ngx_hoop_oidc_keys_running_locked(ks, now)) {
        ngx_shmtx_unlock(&ks->shpool->mutex);
        return NGX_AGAIN;
    }

    ago = now - sh->last_refetch;

    if (sh->refetched && ago < p->refetch_min) {
        ngx_shmtx_unlock(&ks->shpool->mutex);

        ngx_log_debug4(NGX_LOG_DEBUG_CORE, log, 0,
                       "hoop_oidc \"%V\": unknown key id, no re-fetch: the "
                       "last was %M ms ago (refetch_min %M ms), version %ui",
                       &p->name, ago, p->refetch_min, ks->seen);

        return NGX_DECLINED;
    }

    sh->last_refetch = now;
    sh->refetched = 1;

    id = ngx_hoop_oidc_keys_claim_locked(ks, now);

    ngx_shmtx_unlock(&ks->shpool->mutex);

    ngx_hoop_oidc_keys_start(ks, id, "unknown key id", log);

    return NGX_AGAIN;
}


/* load the shared document into this worker's keys if it is newer */

static void
ngx_hoop_oidc_keys_sync(ngx_hoop_oidc_keys_t *ks, ngx_log_t *log)
{
    u_char                   *buf;
    size_t                    len;
    ngx_str_t                 why;
    ngx_uint_t                version;
    ngx_hoop_oidc_t          *p;
    ngx_hoop_jwks_t          *jwks;
    ngx_hoop_oidc_keys_sh_t  *sh;

    sh = ks->sh;

    if (sh->version == ks->seen) {
        return;
    }

    p = ks->provider;

    ngx_shmtx_lock(&ks->shpool->mutex);

    version = sh->version;
    len = sh->len;

    buf = len ? ngx_alloc(len + 1, log) : NULL;

    if (buf) {
        ngx_memcpy(buf, sh->doc, len);
        buf[len] = '\0';
    }

    ngx_shmtx_unlock(&ks->shpool->mutex);

    if (len && buf == NULL) {
        return;                         /* the next request tries again */
    }

    ks->seen = version;

    if (buf == NULL) {
        return;                         /* the zone was reset by a reload */
    }

    jwks = ngx_hoop_jwks_parse(buf, len, log, &why);

    ngx_free(buf);

    if (jwks == NULL) {
        /* it parsed in the worker that stored it: memory is short here */
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop_oidc \"%V\": cannot build keys of JWKS version "
                      "%ui: %V", &p->name, version, &why);
        return;
    }

    jwks->version = version;

    /* the keys outlive the request that loaded them: so must their log */
    jwks->pool->log = ngx_cycle->log;

    ngx_hoop_jwks_free(p->jwks);
    p->jwks = jwks;

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop_oidc \"%V\": worker loaded JWKS version %ui, "
                   "%ui keys", &p->name, version, jwks->keys.nelts);
}


/* is a fetch running?  One not back by its deadline is written off */

static ngx_uint_t
ngx_hoop_oidc_keys_running_locked(ngx_hoop_oidc_keys_t *ks, ngx_msec_t now)
{
    u_char                   *last;
    ngx_hoop_oidc_t          *p;
    ngx_hoop_oidc_keys_sh_t  *sh;
    u_char                    error[NGX_HOOP_FETCH_ERRLEN];

    sh = ks->sh;

    if (sh->fetch_expires == 0) {
        return 0;
    }

    if ((ngx_msec_int_t) (sh->fetch_expires - now) > 0) {
        return 1;
    }

    /* its worker died, or name resolution hangs */

    p = ks->provider;

    last = ngx_snprintf(error, NGX_HOOP_FETCH_ERRLEN,
                        "fetch from %V (worker %P) did not end within "
                        "the fetch timeout of %M ms", &ks->source,
                        sh->fetch_pid, p->fetch_timeout);

    ngx_hoop_oidc_keys_failed_locked(ks, sh->fetch_id, now, error,
                                     last - error);

    return 0;
}


static ngx_uint_t
ngx_hoop_oidc_keys_claim_locked(ngx_hoop_oidc_keys_t *ks, ngx_msec_t now)
{
    ngx_hoop_oidc_keys_sh_t  *sh;

    sh = ks->sh;

    sh->fetch_expires = now + ks->provider->fetch_timeout
                        + NGX_HOOP_KEYS_GRACE;

    if (sh->fetch_expires == 0) {
        sh->fetch_expires = 1;
    }

    if (++sh->fetch_id == 0) {
        sh->fetch_id = 1;
    }

    sh->fetch_pid = ngx_pid;

    return sh->fetch_id;
}


/* a claimed fetch ended without a document */

static void
ngx_hoop_oidc_keys_failed_locked(ngx_hoop_oidc_keys_t *ks, ngx_uint_t id,
    ngx_msec_t now, u_char *error, size_t len)
{
    ngx_hoop_oidc_keys_sh_t  *sh;

    sh = ks->sh;

    if (sh->fetch_id == id) {
        sh->fetch_expires = 0;
    }

    sh->attempts++;
    sh->failed = 1;
    sh->next_fetch = now + ngx_hoop_oidc_keys_retry(ks->provider);

    sh->error_len = ngx_min(len, NGX_HOOP_FETCH_ERRLEN);
    ngx_memcpy(sh->error, error, sh->error_len);
}


static void
ngx_hoop_oidc_keys_start(ngx_hoop_oidc_keys_t *ks, ngx_uint_t id,
    const char *reason, ngx_log_t *log)
{
    u_char                    *last;
    ngx_pool_t                *pool;
    ngx_hoop_oidc_t           *p;
    u_char                     error[NGX_HOOP_FETCH_ERRLEN];
#if (NGX_THREADS)
    ngx_hoop_fetch_t          *f;
    ngx_hoop_oidc_keys_job_t  *job;
#endif

    p = ks->provider;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "hoop_oidc \"%V\": fetching keys from %V (%s)",
                  &p->name, &ks->source, reason);

#if (NGX_THREADS)

    /* the fetch outlives any request: it logs to the cycle's log */

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        goto failed;
    }

    job = ngx_pcalloc(pool, sizeof(ngx_hoop_oidc_keys_job_t));
    if (job == NULL) {
        goto failed;
    }

    job->keys = ks;
    job->pool = pool;
    job->id = id;

    f = ngx_hoop_fetch_create(pool, ngx_cycle->log);
    if (f == NULL) {
        goto failed;
    }

    f->url = ks->url;
    f->discovery_url = ks->discovery_url;
    f->issuer = p->issuer;
    f->ca_file = ks->ca_file;
    f->timeout = p->fetch_timeout;
    f->max_size = NGX_HOOP_KEYS_DOC_MAX;
    f->handler = ngx_hoop_oidc_keys_done;
    f->data = job;

    if (ks->thread_pool == NULL) {
        last = ngx_snprintf(error, NGX_HOOP_FETCH_ERRLEN,
                            "fetch from %V failed: no thread pool in this "
                            "process", &ks->source);
        goto report;
    }

    if (ngx_hoop_fetch_post(f, ks->thread_pool) == NGX_OK) {
        return;
    }

failed:

    /* nginx logged the cause (out of memory, thread pool queue full) */

    last = ngx_snprintf(error, NGX_HOOP_FETCH_ERRLEN,
                        "fetch from %V failed: cannot start a thread task",
                        &ks->source);

report:

#else

    pool = NULL;
    last = ngx_snprintf(error, NGX_HOOP_FETCH_ERRLEN,
                        "fetch from %V failed: nginx has no threads",
                        &ks->source);

#endif

    ngx_log_error(NGX_LOG_ERR, log, 0, "hoop_oidc \"%V\": %*s",
                  &p->name, last - error, error);

    ngx_shmtx_lock(&ks->shpool->mutex);
    ngx_hoop_oidc_keys_failed_locked(ks, id, ngx_current_msec, error,
                                     last - error);
    ngx_shmtx_unlock(&ks->shpool->mutex);

    if (pool) {
        ngx_destroy_pool(pool);
    }
}


#if (NGX_THREADS)

/* the fetch is back, in the event loop of the worker that started it */

static void
ngx_hoop_oidc_keys_done(ngx_hoop_fetch_t *f)
{
    ngx_hoop_oidc_keys_job_t  *job = f->data;

    u_char                   *error, *last;
    size_t                    error_len;
    ngx_str_t                 why;
    ngx_log_t                *log;
    ngx_msec_t                now;
    ngx_uint_t                version, keep;
    ngx_hoop_oidc_t          *p;
    ngx_hoop_jwks_t          *jwks;
    ngx_hoop_oidc_keys_t     *ks;
    ngx_hoop_oidc_keys_sh_t  *sh;
    u_char                    buf[NGX_HOOP_FETCH_ERRLEN];

    ks = job->keys;
    p = ks->provider;
    sh = ks->sh;
    log = f->log;
    jwks = NULL;
    error = f->error;
    error_len = f->error_len;

    if (f->rc == NGX_OK && ngx_hoop_oidc_keys_unchanged(ks, f, job->id)) {
        ngx_log_debug3(NGX_LOG_DEBUG_CORE, log, 0,
                       "hoop_oidc \"%V\": JWKS from %*s unchanged",
                       &p->name, f->jwks_url_len, f->jwks_url);

        ngx_hoop_oidc_keys_sync(ks, log);
        goto done;
    }

    if (f->rc == NGX_OK) {

        /* validated before it may replace the last good document */

        jwks = ngx_hoop_jwks_parse(f->body, f->len, log, &why);

        if (jwks == NULL || jwks->keys.nelts == 0) {
            if (jwks) {
                ngx_hoop_jwks_free(jwks);
                jwks = NULL;
                ngx_str_set(&why, "no usable key");
            }

            last = ngx_snprintf(buf, NGX_HOOP_FETCH_ERRLEN,
                                "JWKS from %*s is not usable: %V",
                                f->jwks_url_len, f->jwks_url, &why);
            error = buf;
            error_len = last - buf;
        }

    } else if (error_len == 0) {
        last = ngx_snprintf(buf, NGX_HOOP_FETCH_ERRLEN,
                            "fetch from %V failed", &ks->source);
        error = buf;
        error_len = last - buf;
    }

    now = ngx_current_msec;
    version = 0;

    ngx_shmtx_lock(&ks->shpool->mutex);

    if (sh->source != ks->source_crc) {
        /* a reload gave the zone to another source meanwhile */
        ngx_shmtx_unlock(&ks->shpool->mutex);

        if (jwks) {
            ngx_hoop_jwks_free(jwks);
        }

        goto done;
    }

    if (jwks) {
        ngx_memcpy(sh->doc, f->body, f->len);
        sh->len = f->len;
        version = ++sh->version;

        if (sh->fetch_id == job->id) {
            sh->fetch_expires = 0;
        }

        sh->attempts++;
        sh->failed = 0;
        sh->error_len = 0;
        sh->next_fetch = now + p->refresh;

    } else {
        ngx_hoop_oidc_keys_failed_locked(ks, job->id, now, error, error_len);
    }

    keep = (sh->len != 0);

    ngx_shmtx_unlock(&ks->shpool->mutex);

    if (jwks) {
        jwks->version = version;
        jwks->pool->log = ngx_cycle->log;    /* as in keys_sync() */

        ngx_hoop_jwks_free(p->jwks);
        p->jwks = jwks;
        ks->seen = version;

        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "hoop_oidc \"%V\": %ui keys from %*s, JWKS version %ui",
                      &p->name, jwks->keys.nelts, f->jwks_url_len,
                      f->jwks_url, version);

    } else {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop_oidc \"%V\": %*s; %s", &p->name, error_len, error,
                      keep ? "keeping the last good keys"
                           : "no keys yet: requests fail with 500");
    }

done:

    ngx_hoop_fetch_release(f);
    ngx_destroy_pool(job->pool);

    if (ks->timer.handler) {
        ngx_hoop_oidc_keys_schedule(ks);
    }
}


/*
 * The same document as the shared one: a success that keeps the version,
 * so no worker rebuilds its keys and cached verifications stay valid.
 */

static ngx_uint_t
ngx_hoop_oidc_keys_unchanged(ngx_hoop_oidc_keys_t *ks, ngx_hoop_fetch_t *f,
    ngx_uint_t id)
{
    ngx_uint_t                same;
    ngx_hoop_oidc_keys_sh_t  *sh;

    sh = ks->sh;

    ngx_shmtx_lock(&ks->shpool->mutex);

    same = (sh->source == ks->source_crc
            && sh->len == f->len && sh->len != 0
            && ngx_memcmp(sh->doc, f->body, f->len) == 0);

    if (same) {
        if (sh->fetch_id == id) {
            sh->fetch_expires = 0;
        }

        sh->attempts++;
        sh->failed = 0;
        sh->error_len = 0;
        sh->next_fetch = ngx_current_msec + ks->provider->refresh;
    }

    ngx_shmtx_unlock(&ks->shpool->mutex);

    return same;
}

#endif


static ngx_msec_t
ngx_hoop_oidc_keys_retry(ngx_hoop_oidc_t *p)
{
    return ngx_min(p->refresh,
                   ngx_max(p->refetch_min, NGX_HOOP_KEYS_MIN_RETRY));
}
