
/*
 * What ngx_hoop_jwt.c calls in the rest of the auth module, for the JWT
 * and JWKS harnesses: no verification cache, the keys of a fixed JWKS
 * (two public keys generated for the fuzzers: an EC P-256 "ec1" with
 * alg ES256, an RSA 2048 "rsa1"), SHA-256 straight from OpenSSL.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include "ngx_hoop_oidc.h"


const char  *fuzz_jwks_json = "{\"keys\":[{\"kid\":\"ec1\",\"alg\":\"ES256\",\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"Z_YCzdboABO5JeUeJKEDLd2mZ7Xmwdy558KPF07ywj8\",\"y\":\"X4zmBNtJCKVdUPIkJowDNxJ8jyhFDpGwAsW7S465Ino\"},{\"kid\":\"rsa1\",\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"rJm9jp-R7toFQyaIhDjM3yxvNB6hmz_xvJa02z1EwadsSDsEUNnCKdDCUCGgmXST3T31J6e-3cMzvdJJMPBkBNwgsVa0i7jWbIn-DMFOpOZLumiuYhs9Gck9ad9xrPO_rEWCX-vgA-JFodpAgsGuE11J2Sn3M2_tQO3aRq0pH_ullm-2OoSmdwY4iUtFGdTqt8KdUv1ikAT4LGV1NV_Nzl2oZRP4eiiN5giGMgwwCUW8Ims7IK1s3DP4QJyrK4Jbx2oreBaroAKj-Sj1OlbVAV55pijvMbwKmpRtIqV3O-SuzIsV9FF8OnegqydTZWj3YD7G7MvGmzZrAQryCSz5pw\"}]}";

static ngx_hoop_jwks_t  *fuzz_jwks;


ngx_hoop_jwks_t *
ngx_hoop_oidc_keys_get(ngx_hoop_oidc_t *provider, ngx_log_t *log,
    ngx_int_t *rc, ngx_str_t *error)
{
    if (fuzz_jwks == NULL) {
        fuzz_jwks = ngx_hoop_jwks_parse((u_char *) fuzz_jwks_json,
                                        strlen(fuzz_jwks_json), log, error);
    }

    *rc = fuzz_jwks ? NGX_OK : NGX_ERROR;
    return fuzz_jwks;
}


ngx_int_t
ngx_hoop_oidc_keys_refetch(ngx_hoop_oidc_t *provider, ngx_log_t *log)
{
    return NGX_DECLINED;
}


ngx_int_t
ngx_hoop_oidc_sha256(ngx_hoop_oidc_t *provider, ngx_str_t *parts,
    ngx_uint_t n, u_char *out)
{
    ngx_uint_t   i;
    EVP_MD_CTX  *ctx;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        EVP_DigestUpdate(ctx, parts[i].data, parts[i].len);
    }

    EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
    return NGX_OK;
}


ngx_hoop_auth_cache_t *
ngx_hoop_auth_cache_current(void)
{
    return NULL;
}


void
ngx_hoop_auth_cache_key(ngx_hoop_auth_cache_t *cache,
    ngx_hoop_oidc_t *provider, u_char *token_hash, u_char *key)
{
}


ngx_int_t
ngx_hoop_auth_cache_get(ngx_hoop_auth_cache_t *cache, u_char *key,
    ngx_uint_t version, ngx_pool_t *pool, ngx_hoop_identity_t *id)
{
    return NGX_DECLINED;
}


void
ngx_hoop_auth_cache_put(ngx_hoop_auth_cache_t *cache, u_char *key,
    ngx_uint_t version, ngx_hoop_identity_t *id, ngx_log_t *log)
{
}
