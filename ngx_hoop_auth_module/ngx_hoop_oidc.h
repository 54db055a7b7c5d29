
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


#endif /* _NGX_HOOP_OIDC_H_INCLUDED_ */
