
/*
 * ngx_hoop_auth_module: the API other ngx_hoop modules call (the pg
 * gateway, audit, mask).  One implementation for HTTP and Postgres.
 */


#ifndef _NGX_HOOP_AUTH_H_INCLUDED_
#define _NGX_HOOP_AUTH_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_hoop.h>


typedef struct ngx_hoop_oidc_s  ngx_hoop_oidc_t;


/* who the caller is, after a token verified */
typedef struct {
    ngx_hoop_oidc_t    *provider;
    ngx_str_t           subject;        /* "sub" */
    ngx_str_t           user;           /* the provider's user claim */
    ngx_str_t           email;          /* "email", may be empty */
    ngx_array_t        *groups;         /* of ngx_str_t, may be empty */
    ngx_str_t           claims;         /* the payload JSON, verbatim */
    time_t              expires;        /* "exp" */
    u_char              token_id[17];   /* hex prefix of SHA-256(token),
                                           NUL-terminated: for logs only */
} ngx_hoop_identity_t;


/*
 * Config time: the provider declared by "hoop_oidc NAME ..." at nginx's
 * main level, or NULL (the caller reports the unknown name).
 */
ngx_hoop_oidc_t *ngx_hoop_oidc_lookup(ngx_conf_t *cf, ngx_str_t *name);


/*
 * Verify a bearer token and fill *id (allocated from pool).
 *
 *   NGX_OK        the token is valid
 *   NGX_DECLINED  the token is invalid; *reason says why (safe to log,
 *                 never contains the token)
 *   NGX_AGAIN     keys are being (re)fetched: call again after
 *                 NGX_HOOP_AUTH_RETRY_MSEC; bounded by the provider's
 *                 fetch timeout, after which NGX_ERROR is returned
 *   NGX_ERROR     the key source failed (no usable keys); *reason says why
 */
#define NGX_HOOP_AUTH_RETRY_MSEC  20

ngx_int_t ngx_hoop_auth_verify(ngx_hoop_oidc_t *provider, ngx_str_t *token,
    ngx_pool_t *pool, ngx_log_t *log, ngx_hoop_identity_t *id,
    ngx_str_t *reason);

/* does the identity carry this group?  1 if it does, 0 if not */
ngx_int_t ngx_hoop_identity_has_group(ngx_hoop_identity_t *id,
    ngx_str_t *group);


/*
 * The vault.  A value "vault:NAME" names a secret; anything else is used
 * as is.  Only while nginx.conf is parsed; a missing secret fails the
 * configuration naming the secret, never printing a value.  The returned
 * copy lives in cf->pool (the cycle) and is wiped when that pool goes;
 * callers may wipe it earlier.  Under "nginx -s ..." (which parses the
 * configuration without the master's environment) it is a one-byte
 * stand-in.  Never log it, never put it in a variable.
 */
ngx_int_t ngx_hoop_vault_resolve(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *secret);


extern ngx_module_t  ngx_hoop_auth_module;


#endif /* _NGX_HOOP_AUTH_H_INCLUDED_ */
