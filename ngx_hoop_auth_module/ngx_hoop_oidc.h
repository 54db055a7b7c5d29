
/*
 * ngx_hoop_auth_module internals: identity providers and their keys.
 */


#ifndef _NGX_HOOP_OIDC_H_INCLUDED_
#define _NGX_HOOP_OIDC_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include "ngx_hoop_auth.h"


/* one verification key from a JWKS */
typedef struct {
    ngx_str_t            kid;           /* may be empty */
    ngx_str_t            alg;           /* the JWK's "alg", may be empty */
    int                  type;          /* EVP_PKEY_RSA, _EC, _ED25519 */
    int                  curve;         /* NID for EC keys, else 0 */
    EVP_PKEY            *pkey;
} ngx_hoop_jwk_t;


/* a parsed JWKS: built once per document version, per worker */
typedef struct {
    ngx_pool_t          *pool;          /* owns everything; its cleanup
                                           frees the EVP_PKEYs */
    ngx_array_t          keys;          /* of ngx_hoop_jwk_t */
    ngx_uint_t           version;
} ngx_hoop_jwks_t;


struct ngx_hoop_oidc_s {
    ngx_str_t            name;

    /*
     * SHA-256, fetched once, and a digest context reused for every token
     * hash of this worker: OpenSSL 3 would otherwise look the algorithm up
     * and allocate a context on each request (most of the warm-cache cost)
     */
    EVP_MD              *sha256;
    EVP_MD_CTX          *sha256_ctx;

    ngx_str_t            issuer;        /* exact match with "iss" */
    ngx_array_t         *audiences;     /* of ngx_str_t; "aud" must hold
                                           one of them */
    ngx_array_t         *user_claim;    /* path, of ngx_str_t: "sub" */
    ngx_array_t         *email_claim;   /* path: "email" */
    ngx_array_t         *groups_claim;  /* path: "groups" or e.g.
                                           realm_access.roles */
    time_t               leeway;
    size_t               max_token_size;

    /* where keys come from: exactly one of these */
    ngx_str_t            jwks_file;
    ngx_str_t            jwks_url;
    ngx_flag_t           discovery;     /* issuer's openid-configuration */

    ngx_str_t            ca_file;       /* empty: system CAs */
    ngx_msec_t           refresh;       /* periodic re-fetch */
    ngx_msec_t           refetch_min;   /* rate limit for unknown kid */
    ngx_msec_t           fetch_timeout;

    ngx_shm_zone_t      *shm_zone;      /* the JWKS document, shared */
    void                *keysrc;        /* ngx_hoop_oidc_keys.c state */

    ngx_hoop_jwks_t     *jwks;          /* this worker's current keys */
    ngx_log_t           *log;
};


/* main-level configuration of ngx_hoop_auth_module */
typedef struct {
    ngx_array_t          providers;     /* of ngx_hoop_oidc_t * */
    ngx_flag_t           loaded;
} ngx_hoop_auth_main_conf_t;


/* SHA-256 of the pieces, with the provider's reusable context */
ngx_int_t ngx_hoop_oidc_sha256(ngx_hoop_oidc_t *provider, ngx_str_t *parts,
    ngx_uint_t n, u_char *out);


/* ngx_hoop_jwk.c: JWKS JSON -> keys (OpenSSL 3) */
ngx_hoop_jwks_t *ngx_hoop_jwks_parse(u_char *json, size_t len,
    ngx_log_t *log, ngx_str_t *error);
void ngx_hoop_jwks_free(ngx_hoop_jwks_t *jwks);


/*
 * ngx_hoop_oidc_keys.c: the key source (file, URL, discovery), shared
 * by all workers through the provider's shm zone.
 */
char *ngx_hoop_oidc_keys_conf(ngx_conf_t *cf, ngx_hoop_oidc_t *provider);
ngx_int_t ngx_hoop_oidc_keys_init_process(ngx_cycle_t *cycle,
    ngx_hoop_oidc_t *provider);

/*
 * The provider's current keys for this worker (rebuilt when another worker
 * stored a newer JWKS).  rc: NGX_OK, NGX_AGAIN (first fetch running),
 * NGX_ERROR (no keys: *error says why).
 */
ngx_hoop_jwks_t *ngx_hoop_oidc_keys_get(ngx_hoop_oidc_t *provider,
    ngx_log_t *log, ngx_int_t *rc, ngx_str_t *error);

/*
 * A token named an unknown kid: ask for one re-fetch (rate limited by
 * refetch_min).  NGX_AGAIN: a fetch is running, call keys_get again later;
 * NGX_DECLINED: rate limited, the kid is unknown.
 */
ngx_int_t ngx_hoop_oidc_keys_refetch(ngx_hoop_oidc_t *provider,
    ngx_log_t *log);


/*
 * ngx_hoop_jwt.c: strict base64url and JSON helpers, shared with
 * ngx_hoop_jwk.c and the HTTP module.
 */
#include <yajl/yajl_tree.h>

#define NGX_HOOP_JSON_MAX_DEPTH  32

/* base64url without padding; NGX_ERROR on any other byte */
ngx_int_t ngx_hoop_b64u_decode(ngx_pool_t *pool, ngx_str_t *src,
    ngx_str_t *dst);
/* NULL: not JSON, a NUL byte, nested too deep, or (unique) a duplicate
   member name at the top level; free with yajl_tree_free() */
yajl_val ngx_hoop_json_parse(u_char *data, size_t len, ngx_uint_t unique);
yajl_val ngx_hoop_json_get(yajl_val object, u_char *name, size_t len);
/* a claim by path (ngx_str_t elements), NULL if absent */
yajl_val ngx_hoop_json_path(yajl_val root, ngx_array_t *path);


/* ngx_hoop_auth_cache.c: verified tokens in shared memory */
typedef struct ngx_hoop_auth_cache_s  ngx_hoop_auth_cache_t;

#define NGX_HOOP_AUTH_CACHE_KEY_LEN  32

ngx_hoop_auth_cache_t *ngx_hoop_auth_cache_conf(ngx_conf_t *cf);
void ngx_hoop_auth_cache_size(ngx_hoop_auth_cache_t *cache, size_t size);
void ngx_hoop_auth_cache_key(ngx_hoop_auth_cache_t *cache,
    ngx_hoop_oidc_t *provider, u_char *token_hash, u_char *key);
ngx_int_t ngx_hoop_auth_cache_get(ngx_hoop_auth_cache_t *cache, u_char *key,
    ngx_uint_t version, ngx_pool_t *pool, ngx_hoop_identity_t *id);
void ngx_hoop_auth_cache_put(ngx_hoop_auth_cache_t *cache, u_char *key,
    ngx_uint_t version, ngx_hoop_identity_t *id, ngx_log_t *log);

/* ngx_hoop_auth_module.c: the running configuration's cache, or NULL */
ngx_hoop_auth_cache_t *ngx_hoop_auth_cache_current(void);


/*
 * Notes on the key-source functions above (ngx_hoop_oidc_keys.c):
 * ngx_hoop_oidc_keys_conf() sets refresh (1h), refetch_min (30s) and
 * fetch_timeout (10s) when they are NGX_CONF_UNSET_MSEC; the *error of
 * ngx_hoop_oidc_keys_get() stays valid until the next call for that
 * provider in this worker.
 */


/*
 * ngx_hoop_https_fetch.c (used by ngx_hoop_oidc_keys.c): one JWKS fetch,
 * direct or through OpenID Connect discovery, run as a thread-pool task.
 */
#define NGX_HOOP_FETCH_URL_LEN   2048
#define NGX_HOOP_FETCH_ERRLEN    512

typedef struct ngx_hoop_fetch_s  ngx_hoop_fetch_t;

typedef void (*ngx_hoop_fetch_handler_pt)(ngx_hoop_fetch_t *fetch);

struct ngx_hoop_fetch_s {
    /* set before posting; the thread only reads them */
    ngx_str_t                   url;            /* the JWKS, NUL-terminated */
    ngx_str_t                   discovery_url;  /* or this document's
                                                   jwks_uri */
    ngx_str_t                   issuer;         /* discovery must name it */
    ngx_str_t                   ca_file;        /* empty: system CAs */
    ngx_msec_t                  timeout;        /* for the whole job */
    size_t                      max_size;       /* of each document */
    ngx_hoop_fetch_handler_pt   handler;        /* in the event loop */
    void                       *data;

    /* results, for the handler */
    ngx_int_t                   rc;             /* NGX_OK or NGX_ERROR */
    u_char                     *body;           /* NUL-terminated */
    size_t                      len;
    u_char                      jwks_url[NGX_HOOP_FETCH_URL_LEN];
    size_t                      jwks_url_len;
    u_char                      error[NGX_HOOP_FETCH_ERRLEN];
    size_t                      error_len;      /* "... from URL failed: why" */

    ngx_thread_task_t          *task;
    ngx_log_t                  *log;
};

/* NULL if url is a usable http(s) URL; else why not */
const char *ngx_hoop_fetch_check_url(ngx_str_t *url, ngx_uint_t *https);

#if (NGX_THREADS)
#include <ngx_thread_pool.h>

ngx_hoop_fetch_t *ngx_hoop_fetch_create(ngx_pool_t *pool, ngx_log_t *log);
ngx_int_t ngx_hoop_fetch_post(ngx_hoop_fetch_t *fetch, ngx_thread_pool_t *tp);
/* frees fetch->body */
void ngx_hoop_fetch_release(ngx_hoop_fetch_t *fetch);
#endif


#endif /* _NGX_HOOP_OIDC_H_INCLUDED_ */
