
/*
 * ngx_hoop_jwt.c: bearer token (compact JWS, RFC 7515/7519) verification.
 *
 * Signatures are checked with OpenSSL 3 directly, not libjwt: Debian's
 * libjwt 1.10.2 knows neither PS* nor EdDSA, rejects "typ": "at+jwt" and
 * re-parses a PEM key on every call.  The algorithm is pinned to the key
 * the "kid" names (its type, curve and JWK "alg"); "none" and HMAC are
 * never accepted, so an HS256 token "signed" with an RSA public key fails
 * before any MAC is computed.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>
#include "ngx_hoop_oidc.h"


#define NGX_HOOP_JWT_MAX_HEADER  8192   /* decoded JOSE header, bytes */
#define NGX_HOOP_JWT_MAX_GROUPS  1024
#define NGX_HOOP_JWT_TIME_MAX    ((int64_t) 1 << 40)


typedef enum {
    ngx_hoop_alg_rsa = 0,               /* RSASSA-PKCS1-v1_5 */
    ngx_hoop_alg_pss,                   /* RSASSA-PSS */
    ngx_hoop_alg_ecdsa,
    ngx_hoop_alg_eddsa
} ngx_hoop_alg_kind_e;


typedef struct {
    ngx_str_t              name;
    ngx_hoop_alg_kind_e    kind;
    const EVP_MD        *(*md)(void);
    int                    curve;       /* ECDSA: the key's curve */
    size_t                 coord;       /* ECDSA: bytes of r and of s */
} ngx_hoop_jwt_alg_t;


static const ngx_hoop_jwt_alg_t  ngx_hoop_jwt_algs[] = {
    { ngx_string("RS256"), ngx_hoop_alg_rsa, EVP_sha256, 0, 0 },
    { ngx_string("RS384"), ngx_hoop_alg_rsa, EVP_sha384, 0, 0 },
    { ngx_string("RS512"), ngx_hoop_alg_rsa, EVP_sha512, 0, 0 },
    { ngx_string("PS256"), ngx_hoop_alg_pss, EVP_sha256, 0, 0 },
    { ngx_string("PS384"), ngx_hoop_alg_pss, EVP_sha384, 0, 0 },
    { ngx_string("PS512"), ngx_hoop_alg_pss, EVP_sha512, 0, 0 },
    { ngx_string("ES256"), ngx_hoop_alg_ecdsa, EVP_sha256,
      NID_X9_62_prime256v1, 32 },
    { ngx_string("ES384"), ngx_hoop_alg_ecdsa, EVP_sha384,
      NID_secp384r1, 48 },
    { ngx_string("ES512"), ngx_hoop_alg_ecdsa, EVP_sha512,
      NID_secp521r1, 66 },
    { ngx_string("EdDSA"), ngx_hoop_alg_eddsa, NULL, 0, 0 },
    { ngx_null_string, 0, NULL, 0, 0 }
};


typedef struct {
    ngx_str_t              header;      /* base64url segments */
    ngx_str_t              payload;
    ngx_str_t              signature;
    ngx_str_t              input;       /* header "." payload */
} ngx_hoop_jws_t;


static ngx_int_t ngx_hoop_jwt_split(ngx_str_t *token, ngx_hoop_jws_t *jws);
static ngx_int_t ngx_hoop_jwt_header(ngx_hoop_oidc_t *provider,
    ngx_hoop_jws_t *jws, ngx_pool_t *pool, ngx_log_t *log,
    ngx_hoop_jwks_t *jwks, ngx_hoop_jwk_t **key,
    const ngx_hoop_jwt_alg_t **alg, ngx_str_t *reason);
static ngx_int_t ngx_hoop_jwt_typ(yajl_val typ);
static ngx_int_t ngx_hoop_jwt_key_fits(const ngx_hoop_jwt_alg_t *alg,
    ngx_hoop_jwk_t *jwk);
static ngx_int_t ngx_hoop_jwt_signature(const ngx_hoop_jwt_alg_t *alg,
    ngx_hoop_jwk_t *jwk, ngx_hoop_jws_t *jws, ngx_pool_t *pool);
static u_char *ngx_hoop_jwt_ecdsa_der(const ngx_hoop_jwt_alg_t *alg,
    ngx_str_t *raw, ngx_pool_t *pool, size_t *len);
static ngx_int_t ngx_hoop_jwt_claims(ngx_hoop_oidc_t *provider,
    yajl_val claims, ngx_pool_t *pool, ngx_hoop_identity_t *id,
    ngx_str_t *reason);
static ngx_int_t ngx_hoop_jwt_time(yajl_val v, int64_t *t);
static ngx_int_t ngx_hoop_jwt_audience(ngx_hoop_oidc_t *provider,
    yajl_val aud);
static ngx_int_t ngx_hoop_jwt_groups(yajl_val v, ngx_pool_t *pool,
    ngx_array_t *groups);
static ngx_int_t ngx_hoop_jwt_copy(ngx_pool_t *pool, u_char *s, size_t len,
    ngx_str_t *dst);
static ngx_int_t ngx_hoop_json_depth_ok(u_char *p, size_t len);
static int ngx_libc_cdecl ngx_hoop_json_cmp(const void *one,
    const void *two);


ngx_int_t
ngx_hoop_auth_verify(ngx_hoop_oidc_t *provider, ngx_str_t *token,
    ngx_pool_t *pool, ngx_log_t *log, ngx_hoop_identity_t *id,
    ngx_str_t *reason)
{
    u_char                     hash[EVP_MAX_MD_SIZE];
    u_char                     key[NGX_HOOP_AUTH_CACHE_KEY_LEN];
    yajl_val                   claims;
    ngx_int_t                  rc;
    ngx_str_t                  payload, error;
    ngx_hoop_jws_t             jws;
    ngx_hoop_jwk_t            *jwk;
    ngx_hoop_jwks_t           *jwks;
    ngx_hoop_auth_cache_t     *cache;
    const ngx_hoop_jwt_alg_t  *alg;

    ngx_memzero(id, sizeof(ngx_hoop_identity_t));
    ngx_str_null(reason);

    id->provider = provider;

    if (token->len == 0) {
        ngx_str_set(reason, "empty token");
        return NGX_DECLINED;
    }

    if (token->len > provider->max_token_size) {
        ngx_str_set(reason, "token too large");
        return NGX_DECLINED;
    }

    if (ngx_hoop_oidc_sha256(provider, token, 1, hash) != NGX_OK) {
        ERR_clear_error();
        ngx_str_set(reason, "SHA-256 failed");
        return NGX_ERROR;
    }

    ngx_hex_dump(id->token_id, hash, 8);
    id->token_id[16] = '\0';

    if (ngx_hoop_jwt_split(token, &jws) != NGX_OK) {
        ngx_str_set(reason, "malformed token");
        return NGX_DECLINED;
    }

    jwks = ngx_hoop_oidc_keys_get(provider, log, &rc, &error);

    if (rc == NGX_AGAIN) {
        return NGX_AGAIN;
    }

    if (rc != NGX_OK || jwks == NULL) {
        if (error.len == 0 || rc == NGX_OK) {
            ngx_str_set(&error, "no keys");
        }

        *reason = error;
        return NGX_ERROR;
    }

    /* a token seen before costs a lookup, not a signature check */

    cache = ngx_hoop_auth_cache_current();

    if (cache) {
        ngx_hoop_auth_cache_key(cache, provider, hash, key);

        if (ngx_hoop_auth_cache_get(cache, key, jwks->version, pool, id)
            == NGX_OK)
        {
            ngx_log_debug2(NGX_LOG_DEBUG_CORE, log, 0,
                           "hoop auth: cache hit, token %s user \"%V\"",
                           id->token_id, &id->user);
            return NGX_OK;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_CORE, log, 0,
                       "hoop auth: cache miss, token %s", id->token_id);
    }

    rc = ngx_hoop_jwt_header(provider, &jws, pool, log, jwks, &jwk, &alg,
                             reason);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_hoop_jwt_signature(alg, jwk, &jws, pool);

    if (rc == NGX_ERROR) {
        ngx_str_set(reason, "cannot check the signature");
        return NGX_ERROR;
    }

    if (rc != NGX_OK) {
        ngx_str_set(reason, "signature verification failed");
        return NGX_DECLINED;
    }

    if (ngx_hoop_b64u_decode(pool, &jws.payload, &payload) != NGX_OK) {
        ngx_str_set(reason, "malformed payload");
        return NGX_DECLINED;
    }

    claims = ngx_hoop_json_parse(payload.data, payload.len, 1);

    if (!YAJL_IS_OBJECT(claims)) {
        if (claims) {
            yajl_tree_free(claims);
        }

        ngx_str_set(reason, "payload is not a JSON object");
        return NGX_DECLINED;
    }

    rc = ngx_hoop_jwt_claims(provider, claims, pool, id, reason);

    yajl_tree_free(claims);

    if (rc != NGX_OK) {
        return rc;
    }

    id->claims = payload;

    ngx_log_debug4(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop auth: token %s verified (%V, kid \"%V\"), "
                   "user \"%V\"", id->token_id, &alg->name, &jwk->kid,
                   &id->user);

    if (cache) {
        ngx_hoop_auth_cache_put(cache, key, jwks->version, id, log);
    }

    return NGX_OK;
}


ngx_int_t
ngx_hoop_identity_has_group(ngx_hoop_identity_t *id, ngx_str_t *group)
{
    ngx_str_t   *g;
    ngx_uint_t   i;

    if (id->groups == NULL) {
        return 0;
    }

    g = id->groups->elts;

    for (i = 0; i < id->groups->nelts; i++) {
        if (g[i].len == group->len
            && ngx_memcmp(g[i].data, group->data, group->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* exactly three base64url segments */

static ngx_int_t
ngx_hoop_jwt_split(ngx_str_t *token, ngx_hoop_jws_t *jws)
{
    u_char      *p, *last, *dot[2];
    ngx_uint_t   n;

    n = 0;
    last = token->data + token->len;

    for (p = token->data; p < last; p++) {

        if (*p == '.') {
            if (n == 2) {
                return NGX_ERROR;
            }

            dot[n++] = p;
            continue;
        }

        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
              || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
        {
            return NGX_ERROR;
        }
    }

    if (n != 2) {
        return NGX_ERROR;
    }

    jws->header.data = token->data;
    jws->header.len = dot[0] - token->data;
    jws->payload.data = dot[0] + 1;
    jws->payload.len = dot[1] - dot[0] - 1;
    jws->signature.data = dot[1] + 1;
    jws->signature.len = last - dot[1] - 1;
    jws->input.data = token->data;
    jws->input.len = dot[1] - token->data;

    /* an empty signature gets as far as the header: "alg none refused" */

    if (jws->header.len == 0 || jws->payload.len == 0) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the JOSE header: which algorithm, which key */

static ngx_int_t
ngx_hoop_jwt_header(ngx_hoop_oidc_t *provider, ngx_hoop_jws_t *jws,
    ngx_pool_t *pool, ngx_log_t *log, ngx_hoop_jwks_t *jwks,
    ngx_hoop_jwk_t **key, const ngx_hoop_jwt_alg_t **alg, ngx_str_t *reason)
{
    size_t                     len;
    yajl_val                   hdr, v;
    ngx_int_t                  rc;
    ngx_str_t                  json, kid;
    ngx_uint_t                 i, fit;
    const char                *name;
    ngx_hoop_jwk_t            *jwk, *found;
    const ngx_hoop_jwt_alg_t  *a;

    if (jws->header.len > NGX_HOOP_JWT_MAX_HEADER / 3 * 4
        || ngx_hoop_b64u_decode(pool, &jws->header, &json) != NGX_OK)
    {
        ngx_str_set(reason, "malformed header");
        return NGX_DECLINED;
    }

    hdr = ngx_hoop_json_parse(json.data, json.len, 1);

    if (!YAJL_IS_OBJECT(hdr)) {
        ngx_str_set(reason, "header is not a JSON object");
        rc = NGX_DECLINED;
        goto done;
    }

    rc = NGX_DECLINED;

    v = ngx_hoop_json_get(hdr, (u_char *) "alg", 3);

    if (!YAJL_IS_STRING(v)) {
        ngx_str_set(reason, "no alg");
        goto done;
    }

    name = v->u.string;
    len = ngx_strlen(name);

    for (a = ngx_hoop_jwt_algs; a->name.len; a++) {
        if (len == a->name.len && ngx_strcmp(name, a->name.data) == 0) {
            break;
        }
    }

    if (a->name.len == 0) {
        if (ngx_strcasecmp((u_char *) name, (u_char *) "none") == 0) {
            ngx_str_set(reason, "alg none refused");

        } else if (ngx_strncasecmp((u_char *) name, (u_char *) "HS", 2)
                   == 0)
        {
            ngx_str_set(reason, "HMAC algorithms refused");

        } else {
            ngx_str_set(reason, "unsupported alg");
        }

        goto done;
    }

    if (ngx_hoop_jwt_typ(ngx_hoop_json_get(hdr, (u_char *) "typ", 3))
        != NGX_OK)
    {
        ngx_str_set(reason, "unsupported typ");
        goto done;
    }

    /* no extension is understood here, so none may be critical */

    if (ngx_hoop_json_get(hdr, (u_char *) "crit", 4) != NULL) {
        ngx_str_set(reason, "unsupported crit header");
        goto done;
    }

    v = ngx_hoop_json_get(hdr, (u_char *) "kid", 3);

    if (v != NULL && !YAJL_IS_STRING(v)) {
        ngx_str_set(reason, "kid is not a string");
        goto done;
    }

    kid.data = v ? (u_char *) v->u.string : NULL;
    kid.len = v ? ngx_strlen(kid.data) : 0;

    found = NULL;
    fit = 0;
    jwk = jwks->keys.elts;

    for (i = 0; i < jwks->keys.nelts; i++) {

        if (v != NULL
            && (jwk[i].kid.len != kid.len
                || ngx_memcmp(jwk[i].kid.data, kid.data, kid.len) != 0))
        {
            continue;
        }

        if (v != NULL && found == NULL) {
            /* remember the kid is known, even if no key of it fits */
            found = &jwk[i];
        }

        if (ngx_hoop_jwt_key_fits(a, &jwk[i]) == NGX_OK) {
            if (fit++ == 0) {
                found = &jwk[i];
            }
        }
    }

    if (v != NULL) {

        if (found == NULL) {
            ngx_log_debug1(NGX_LOG_DEBUG_CORE, log, 0,
                           "hoop auth: unknown kid \"%s\"", kid.data);

            rc = ngx_hoop_oidc_keys_refetch(provider, log);

            if (rc == NGX_AGAIN) {
                goto done;
            }

            rc = NGX_DECLINED;
            ngx_str_set(reason, "unknown kid");
            goto done;
        }

        if (fit == 0) {
            ngx_str_set(reason, "alg does not fit the key");
            goto done;
        }

        /*
         * Two keys with one kid that both fit is a broken JWKS: refuse
         * rather than try both.
         */

        if (fit > 1) {
            ngx_str_set(reason, "ambiguous kid");
            goto done;
        }

    } else if (fit != 1) {
        if (fit == 0) {
            ngx_str_set(reason, "no key fits the alg");

        } else {
            ngx_str_set(reason, "no kid and several keys fit");
        }

        goto done;
    }

    *key = found;
    *alg = a;
    rc = NGX_OK;

done:

    if (hdr) {
        yajl_tree_free(hdr);
    }

    return rc;
}


/* absent, "JWT" or "at+jwt" (RFC 9068), with an optional "application/" */

static ngx_int_t
ngx_hoop_jwt_typ(yajl_val typ)
{
    u_char  *p;

    if (typ == NULL) {
        return NGX_OK;
    }

    if (!YAJL_IS_STRING(typ)) {
        return NGX_ERROR;
    }

    p = (u_char *) typ->u.string;

    if (ngx_strncasecmp(p, (u_char *) "application/", 12) == 0) {
        p += 12;
    }

    if (ngx_strcasecmp(p, (u_char *) "JWT") == 0
        || ngx_strcasecmp(p, (u_char *) "at+jwt") == 0)
    {
        return NGX_OK;
    }

    return NGX_ERROR;
}


/* the algorithm is pinned to the key: type, curve, and the JWK's "alg" */

static ngx_int_t
ngx_hoop_jwt_key_fits(const ngx_hoop_jwt_alg_t *alg, ngx_hoop_jwk_t *jwk)
{
    if (jwk->alg.len
        && (jwk->alg.len != alg->name.len
            || ngx_memcmp(jwk->alg.data, alg->name.data, alg->name.len) != 0))
    {
        return NGX_DECLINED;
    }

    switch (alg->kind) {

    case ngx_hoop_alg_rsa:
    case ngx_hoop_alg_pss:
        return jwk->type == EVP_PKEY_RSA ? NGX_OK : NGX_DECLINED;

    case ngx_hoop_alg_ecdsa:
        return (jwk->type == EVP_PKEY_EC && jwk->curve == alg->curve)
               ? NGX_OK : NGX_DECLINED;

    case ngx_hoop_alg_eddsa:
        return jwk->type == EVP_PKEY_ED25519 ? NGX_OK : NGX_DECLINED;
    }

    return NGX_DECLINED;
}


/* NGX_OK: valid; NGX_DECLINED: invalid; NGX_ERROR: OpenSSL failed */

static ngx_int_t
ngx_hoop_jwt_signature(const ngx_hoop_jwt_alg_t *alg, ngx_hoop_jwk_t *jwk,
    ngx_hoop_jws_t *jws, ngx_pool_t *pool)
{
    int            ok;
    u_char        *sig;
    size_t         len;
    ngx_int_t      rc;
    ngx_str_t      raw;
    EVP_MD_CTX    *md;
    EVP_PKEY_CTX  *pctx;

    if (ngx_hoop_b64u_decode(pool, &jws->signature, &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    sig = raw.data;
    len = raw.len;

    if (alg->kind == ngx_hoop_alg_ecdsa) {
        /* JWS carries r || s; OpenSSL wants a DER ECDSA-Sig-Value */
        sig = ngx_hoop_jwt_ecdsa_der(alg, &raw, pool, &len);
        if (sig == NULL) {
            return NGX_DECLINED;
        }
    }

    md = EVP_MD_CTX_new();
    if (md == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    pctx = NULL;

    if (EVP_DigestVerifyInit(md, &pctx, alg->md ? alg->md() : NULL, NULL,
                             jwk->pkey)
        != 1)
    {
        goto done;
    }

    if (alg->kind == ngx_hoop_alg_pss) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST)
               != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, alg->md()) != 1)
        {
            goto done;
        }

    } else if (alg->kind == ngx_hoop_alg_rsa) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) {
            goto done;
        }
    }

    /* one shot: EdDSA cannot be fed in pieces */

    ok = EVP_DigestVerify(md, sig, len, jws->input.data, jws->input.len);

    rc = (ok == 1) ? NGX_OK : NGX_DECLINED;

done:

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc;
}


static u_char *
ngx_hoop_jwt_ecdsa_der(const ngx_hoop_jwt_alg_t *alg, ngx_str_t *raw,
    ngx_pool_t *pool, size_t *len)
{
    int         n;
    u_char     *der, *p;
    BIGNUM     *r, *s;
    ECDSA_SIG  *sig;

    if (raw->len != 2 * alg->coord) {
        return NULL;
    }

    r = BN_bin2bn(raw->data, (int) alg->coord, NULL);
    s = BN_bin2bn(raw->data + alg->coord, (int) alg->coord, NULL);
    sig = ECDSA_SIG_new();

    if (r == NULL || s == NULL || sig == NULL
        || ECDSA_SIG_set0(sig, r, s) != 1)
    {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return NULL;
    }

    der = NULL;

    n = i2d_ECDSA_SIG(sig, NULL);

    if (n > 0) {
        der = ngx_pnalloc(pool, n);

        if (der) {
            p = der;
            n = i2d_ECDSA_SIG(sig, &p);
            *len = n;
        }
    }

    ECDSA_SIG_free(sig);

    return (n > 0) ? der : NULL;
}


static ngx_int_t
ngx_hoop_jwt_claims(ngx_hoop_oidc_t *provider, yajl_val claims,
    ngx_pool_t *pool, ngx_hoop_identity_t *id, ngx_str_t *reason)
{
    char      *s;
    time_t     now;
    int64_t    exp, t;
    yajl_val   v;

    now = ngx_time();

    v = ngx_hoop_json_get(claims, (u_char *) "exp", 3);

    if (v == NULL) {
        ngx_str_set(reason, "no exp claim");
        return NGX_DECLINED;
    }

    if (ngx_hoop_jwt_time(v, &exp) != NGX_OK) {
        ngx_str_set(reason, "exp is not a number");
        return NGX_DECLINED;
    }

    if (now >= exp + provider->leeway) {
        ngx_str_set(reason, "token expired");
        return NGX_DECLINED;
    }

    v = ngx_hoop_json_get(claims, (u_char *) "nbf", 3);

    if (v) {
        if (ngx_hoop_jwt_time(v, &t) != NGX_OK) {
            ngx_str_set(reason, "nbf is not a number");
            return NGX_DECLINED;
        }

        if (t > now + provider->leeway) {
            ngx_str_set(reason, "token not yet valid");
            return NGX_DECLINED;
        }
    }

    v = ngx_hoop_json_get(claims, (u_char *) "iat", 3);

    if (v) {
        if (ngx_hoop_jwt_time(v, &t) != NGX_OK) {
            ngx_str_set(reason, "iat is not a number");
            return NGX_DECLINED;
        }

        if (t > now + provider->leeway) {
            ngx_str_set(reason, "token issued in the future");
            return NGX_DECLINED;
        }
    }

    v = ngx_hoop_json_get(claims, (u_char *) "iss", 3);
    s = YAJL_GET_STRING(v);

    if (s == NULL
        || ngx_strlen(s) != provider->issuer.len
        || ngx_memcmp(s, provider->issuer.data, provider->issuer.len) != 0)
    {
        ngx_str_set(reason, "wrong issuer");
        return NGX_DECLINED;
    }

    if (ngx_hoop_jwt_audience(provider,
                              ngx_hoop_json_get(claims, (u_char *) "aud", 3))
        != NGX_OK)
    {
        ngx_str_set(reason, "wrong audience");
        return NGX_DECLINED;
    }

    id->expires = (time_t) exp;

    /* the identity: copied, the tree is freed by the caller */

    s = YAJL_GET_STRING(ngx_hoop_json_get(claims, (u_char *) "sub", 3));

    if (s && ngx_hoop_jwt_copy(pool, (u_char *) s, ngx_strlen(s),
                               &id->subject)
             != NGX_OK)
    {
        return NGX_ERROR;
    }

    v = ngx_hoop_json_path(claims, provider->user_claim);
    s = YAJL_GET_STRING(v);

    if (s == NULL || s[0] == '\0') {
        ngx_str_set(reason, "no user claim");
        return NGX_DECLINED;
    }

    if (ngx_hoop_jwt_copy(pool, (u_char *) s, ngx_strlen(s), &id->user)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    s = YAJL_GET_STRING(ngx_hoop_json_path(claims, provider->email_claim));

    if (s && ngx_hoop_jwt_copy(pool, (u_char *) s, ngx_strlen(s), &id->email)
             != NGX_OK)
    {
        return NGX_ERROR;
    }

    id->groups = ngx_array_create(pool, 4, sizeof(ngx_str_t));
    if (id->groups == NULL) {
        return NGX_ERROR;
    }

    if (ngx_hoop_jwt_groups(ngx_hoop_json_path(claims, provider->groups_claim),
                            pool, id->groups)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* a NumericDate: integer or fraction, clamped far beyond any real date */

static ngx_int_t
ngx_hoop_jwt_time(yajl_val v, int64_t *t)
{
    double  d;

    if (YAJL_IS_INTEGER(v)) {
        *t = YAJL_GET_INTEGER(v);

    } else if (YAJL_IS_DOUBLE(v)) {
        d = YAJL_GET_DOUBLE(v);

        if (d != d) {
            return NGX_ERROR;
        }

        *t = (d > (double) NGX_HOOP_JWT_TIME_MAX) ? NGX_HOOP_JWT_TIME_MAX
             : (d < (double) -NGX_HOOP_JWT_TIME_MAX) ? -NGX_HOOP_JWT_TIME_MAX
             : (int64_t) d;

    } else {
        return NGX_ERROR;
    }

    if (*t > NGX_HOOP_JWT_TIME_MAX) {
        *t = NGX_HOOP_JWT_TIME_MAX;

    } else if (*t < -NGX_HOOP_JWT_TIME_MAX) {
        *t = -NGX_HOOP_JWT_TIME_MAX;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_jwt_audience(ngx_hoop_oidc_t *provider, yajl_val aud)
{
    char        *s;
    size_t       len, n;
    yajl_val    *values;
    ngx_str_t   *a;
    ngx_uint_t   i, count;

    if (YAJL_IS_STRING(aud)) {
        values = &aud;
        count = 1;

    } else if (YAJL_IS_ARRAY(aud)) {
        values = aud->u.array.values;
        count = aud->u.array.len;

    } else {
        return NGX_DECLINED;
    }

    a = provider->audiences->elts;

    for (n = 0; n < count; n++) {
        s = YAJL_GET_STRING(values[n]);
        if (s == NULL) {
            continue;
        }

        len = ngx_strlen(s);

        for (i = 0; i < provider->audiences->nelts; i++) {
            if (len == a[i].len && ngx_memcmp(s, a[i].data, len) == 0) {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


/*
 * Groups: an array of strings (other elements are ignored), or one string
 * holding a list separated by spaces or commas (as "scope" is).
 */

static ngx_int_t
ngx_hoop_jwt_groups(yajl_val v, ngx_pool_t *pool, ngx_array_t *groups)
{
    char       *s;
    u_char     *p, *start;
    size_t      i;
    ngx_str_t  *g;

    if (YAJL_IS_ARRAY(v)) {

        for (i = 0; i < v->u.array.len; i++) {
            s = YAJL_GET_STRING(v->u.array.values[i]);

            if (s == NULL || s[0] == '\0') {
                continue;
            }

            if (groups->nelts == NGX_HOOP_JWT_MAX_GROUPS) {
                break;
            }

            g = ngx_array_push(groups);
            if (g == NULL) {
                return NGX_ERROR;
            }

            if (ngx_hoop_jwt_copy(pool, (u_char *) s, ngx_strlen(s), g)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    s = YAJL_GET_STRING(v);

    if (s == NULL) {
        return NGX_OK;
    }

    for (p = (u_char *) s; *p; /* void */) {

        while (*p == ' ' || *p == ',') {
            p++;
        }

        start = p;

        while (*p && *p != ' ' && *p != ',') {
            p++;
        }

        if (p == start || groups->nelts == NGX_HOOP_JWT_MAX_GROUPS) {
            continue;
        }

        g = ngx_array_push(groups);
        if (g == NULL) {
            return NGX_ERROR;
        }

        if (ngx_hoop_jwt_copy(pool, start, p - start, g) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_jwt_copy(ngx_pool_t *pool, u_char *s, size_t len, ngx_str_t *dst)
{
    dst->data = ngx_pnalloc(pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, s, len);
    dst->data[len] = '\0';
    dst->len = len;

    return NGX_OK;
}


/* --- helpers shared with ngx_hoop_jwk.c and the HTTP module ------------ */


ngx_int_t
ngx_hoop_b64u_decode(ngx_pool_t *pool, ngx_str_t *src, ngx_str_t *dst)
{
    u_char      c, last;
    ngx_uint_t  i;

    for (i = 0; i < src->len; i++) {
        c = src->data[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return NGX_ERROR;
        }
    }

    if (src->len % 4 == 1) {
        return NGX_ERROR;
    }

    /* only the canonical encoding: unused trailing bits must be zero */

    if (src->len % 4) {
        last = src->data[src->len - 1];

        c = (last >= 'A' && last <= 'Z') ? last - 'A'
            : (last >= 'a' && last <= 'z') ? last - 'a' + 26
            : (last >= '0' && last <= '9') ? last - '0' + 52
            : (last == '-') ? 62 : 63;

        if (c & ((src->len % 4 == 2) ? 0x0f : 0x03)) {
            return NGX_ERROR;
        }
    }

    dst->data = ngx_pnalloc(pool, ngx_base64_decoded_length(src->len) + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(dst, src) != NGX_OK) {
        return NGX_ERROR;
    }

    dst->data[dst->len] = '\0';

    return NGX_OK;
}


yajl_val
ngx_hoop_json_parse(u_char *data, size_t len, ngx_uint_t unique)
{
    char         *copy;
    size_t        i, n;
    yajl_val      root;
    ngx_uint_t    dup;
    const char  **keys;

    /* yajl reads C strings: a NUL would hide what follows it */

    if (len == 0 || ngx_strlchr(data, data + len, '\0') != NULL) {
        return NULL;
    }

    if (ngx_hoop_json_depth_ok(data, len) != NGX_OK) {
        return NULL;
    }

    copy = ngx_alloc(len + 1, ngx_cycle->log);
    if (copy == NULL) {
        return NULL;
    }

    ngx_memcpy(copy, data, len);
    copy[len] = '\0';

    root = yajl_tree_parse(copy, NULL, 0);

    ngx_free(copy);

    if (root == NULL || !unique || !YAJL_IS_OBJECT(root)
        || root->u.object.len < 2)
    {
        return root;
    }

    /*
     * Duplicate member names are refused rather than resolved, so that
     * every reader of the claims sees the same value.
     */

    n = root->u.object.len;

    keys = ngx_alloc(n * sizeof(char *), ngx_cycle->log);
    if (keys == NULL) {
        yajl_tree_free(root);
        return NULL;
    }

    ngx_memcpy(keys, root->u.object.keys, n * sizeof(char *));
    ngx_qsort(keys, n, sizeof(char *), ngx_hoop_json_cmp);

    dup = 0;

    for (i = 1; i < n; i++) {
        if (ngx_strcmp(keys[i - 1], keys[i]) == 0) {
            dup = 1;
            break;
        }
    }

    ngx_free(keys);

    if (dup) {
        yajl_tree_free(root);
        return NULL;
    }

    return root;
}


static int ngx_libc_cdecl
ngx_hoop_json_cmp(const void *one, const void *two)
{
    return ngx_strcmp(*(const char **) one, *(const char **) two);
}


/* bounded nesting: yajl_tree_free() recurses */

static ngx_int_t
ngx_hoop_json_depth_ok(u_char *p, size_t len)
{
    u_char      *last;
    ngx_uint_t   depth, str;

    depth = 0;
    str = 0;

    for (last = p + len; p < last; p++) {

        if (str) {
            if (*p == '\\') {
                p++;

            } else if (*p == '"') {
                str = 0;
            }

            continue;
        }

        switch (*p) {

        case '"':
            str = 1;
            break;

        case '[':
        case '{':
            if (++depth > NGX_HOOP_JSON_MAX_DEPTH) {
                return NGX_ERROR;
            }
            break;

        case ']':
        case '}':
            if (depth) {
                depth--;
            }
            break;
        }
    }

    return NGX_OK;
}


yajl_val
ngx_hoop_json_get(yajl_val object, u_char *name, size_t len)
{
    size_t  i;

    if (!YAJL_IS_OBJECT(object)) {
        return NULL;
    }

    for (i = 0; i < object->u.object.len; i++) {
        if (ngx_strncmp(object->u.object.keys[i], name, len) == 0
            && object->u.object.keys[i][len] == '\0')
        {
            return object->u.object.values[i];
        }
    }

    return NULL;
}


yajl_val
ngx_hoop_json_path(yajl_val root, ngx_array_t *path)
{
    yajl_val     v;
    ngx_str_t   *name;
    ngx_uint_t   i;

    if (path == NULL || path->nelts == 0) {
        return NULL;
    }

    v = root;
    name = path->elts;

    for (i = 0; i < path->nelts && v != NULL; i++) {
        v = ngx_hoop_json_get(v, name[i].data, name[i].len);
    }

    return v;
}
