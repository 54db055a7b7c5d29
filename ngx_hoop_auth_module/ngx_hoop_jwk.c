
/*
 * ngx_hoop_jwk.c: a JWKS document (RFC 7517) -> OpenSSL 3 public keys.
 *
 * Keys are built once per JWKS version with EVP_PKEY_fromdata() (RSA, EC)
 * or EVP_PKEY_new_raw_public_key() (Ed25519), never by hand-made ASN.1.
 * Only signature keys are kept: symmetric ("oct") keys, encryption keys and
 * keys of unsupported types or curves are skipped with a log line, so one
 * odd key never takes the whole document down.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include "ngx_hoop_oidc.h"


#define NGX_HOOP_JWKS_MAX_KEYS  64
#define NGX_HOOP_RSA_MIN_BITS   2048
#define NGX_HOOP_RSA_MAX_BITS   16384


typedef struct {
    const char          *crv;
    const char          *group;         /* OpenSSL group name */
    int                  nid;
    size_t               size;          /* coordinate size, bytes */
} ngx_hoop_jwk_curve_t;


static const ngx_hoop_jwk_curve_t  ngx_hoop_jwk_curves[] = {
    { "P-256", SN_X9_62_prime256v1, NID_X9_62_prime256v1, 32 },
    { "P-384", SN_secp384r1, NID_secp384r1, 48 },
    { "P-521", SN_secp521r1, NID_secp521r1, 66 },
    { NULL, NULL, 0, 0 }
};


/* what a JWK's "alg" may say; anything else (HS*, RSA-OAEP, ...) skips it */
static const char  *ngx_hoop_jwk_algs[] = {
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "EdDSA", NULL
};


static const char *ngx_hoop_jwk_build(ngx_hoop_jwks_t *jwks, yajl_val key,
    ngx_hoop_jwk_t *jwk);
static const char *ngx_hoop_jwk_rsa(ngx_pool_t *pool, yajl_val key,
    ngx_hoop_jwk_t *jwk);
static const char *ngx_hoop_jwk_ec(ngx_pool_t *pool, yajl_val key,
    ngx_hoop_jwk_t *jwk);
static const char *ngx_hoop_jwk_okp(ngx_pool_t *pool, yajl_val key,
    ngx_hoop_jwk_t *jwk);
static const char *ngx_hoop_jwk_member(ngx_pool_t *pool, yajl_val key,
    const char *name, ngx_str_t *value);
static const char *ngx_hoop_jwk_from_params(OSSL_PARAM_BLD *bld,
    const char *type, ngx_hoop_jwk_t *jwk);
static void ngx_hoop_jwks_cleanup(void *data);


ngx_hoop_jwks_t *
ngx_hoop_jwks_parse(u_char *json, size_t len, ngx_log_t *log,
    ngx_str_t *error)
{
    size_t               i;
    yajl_val             root, keys, kid;
    ngx_uint_t           level;
    ngx_pool_t          *pool;
    const char          *why;
    ngx_hoop_jwk_t      *jwk;
    ngx_hoop_jwks_t     *jwks;
    ngx_pool_cleanup_t  *cln;

    root = ngx_hoop_json_parse(json, len, 0);

    if (root == NULL || !YAJL_IS_OBJECT(root)) {
        ngx_str_set(error, "the JWKS is not a JSON object");
        goto failed;
    }

    keys = ngx_hoop_json_get(root, (u_char *) "keys", 4);

    if (!YAJL_IS_ARRAY(keys)) {
        ngx_str_set(error, "the JWKS has no \"keys\" array");
        goto failed;
    }

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, log);
    if (pool == NULL) {
        ngx_str_set(error, "out of memory");
        goto failed;
    }

    jwks = ngx_pcalloc(pool, sizeof(ngx_hoop_jwks_t));
    if (jwks == NULL) {
        goto nomem;
    }

    jwks->pool = pool;

    if (ngx_array_init(&jwks->keys, pool, 4, sizeof(ngx_hoop_jwk_t))
        != NGX_OK)
    {
        goto nomem;
    }

    /* registered first, so every EVP_PKEY stored below is freed with it */

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        goto nomem;
    }

    cln->handler = ngx_hoop_jwks_cleanup;
    cln->data = jwks;

    for (i = 0; i < keys->u.array.len; i++) {

        if (jwks->keys.nelts == NGX_HOOP_JWKS_MAX_KEYS) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "hoop jwks: more than %d keys, the rest ignored",
                          NGX_HOOP_JWKS_MAX_KEYS);
            break;
        }

        jwk = ngx_array_push(&jwks->keys);
        if (jwk == NULL) {
            goto nomem;
        }

        ngx_memzero(jwk, sizeof(ngx_hoop_jwk_t));

        why = ngx_hoop_jwk_build(jwks, keys->u.array.values[i], jwk);

        if (why == NULL) {
            ngx_log_debug3(NGX_LOG_DEBUG_CORE, log, 0,
                           "hoop jwks: key #%uz \"%V\" %V", i, &jwk->kid,
                           &jwk->alg);
            continue;
        }

        /* not kept: the cleanup must not see a half-built key */

        if (jwk->pkey) {
            EVP_PKEY_free(jwk->pkey);
        }

        jwks->keys.nelts--;

        kid = YAJL_IS_OBJECT(keys->u.array.values[i])
              ? ngx_hoop_json_get(keys->u.array.values[i],
                                  (u_char *) "kid", 3)
              : NULL;

        level = (why[0] == '-') ? NGX_LOG_INFO : NGX_LOG_WARN;

        ngx_log_error(level, log, 0,
                      "hoop jwks: key #%uz%s%s%s skipped: %s", i,
                      YAJL_IS_STRING(kid) ? " \"" : "",
                      YAJL_IS_STRING(kid) ? kid->u.string : "",
                      YAJL_IS_STRING(kid) ? "\"" : "",
                      (why[0] == '-') ? why + 1 : why);
    }

    yajl_tree_free(root);

    if (jwks->keys.nelts == 0) {
        ngx_str_set(error, "the JWKS has no usable signature key");
        ngx_destroy_pool(pool);
        return NULL;
    }

    return jwks;

nomem:

    ngx_destroy_pool(pool);
    ngx_str_set(error, "out of memory");

failed:

    if (root) {
        yajl_tree_free(root);
    }

    return NULL;
}


void
ngx_hoop_jwks_free(ngx_hoop_jwks_t *jwks)
{
    if (jwks != NULL) {
        ngx_destroy_pool(jwks->pool);
    }
}


static void
ngx_hoop_jwks_cleanup(void *data)
{
    ngx_hoop_jwks_t *jwks = data;

    ngx_uint_t       i;
    ngx_hoop_jwk_t  *jwk;

    jwk = jwks->keys.elts;

    for (i = 0; i < jwks->keys.nelts; i++) {
        if (jwk[i].pkey) {
            EVP_PKEY_free(jwk[i].pkey);
            jwk[i].pkey = NULL;
        }
    }
}


/*
 * Returns NULL when the key was built, or why it was skipped; a reason
 * starting with "-" is a normal skip (logged at info level).
 */

static const char *
ngx_hoop_jwk_build(ngx_hoop_jwks_t *jwks, yajl_val key, ngx_hoop_jwk_t *jwk)
{
    size_t       i;
    yajl_val     v;
    ngx_str_t    kty, use;
    ngx_uint_t   n, verify;
    const char  *why;

    if (!YAJL_IS_OBJECT(key)) {
        return "not a JSON object";
    }

    why = ngx_hoop_jwk_member(jwks->pool, key, "kty", &kty);
    if (why) {
        return why;
    }

    if (kty.len == 0) {
        return "no \"kty\"";
    }

    why = ngx_hoop_jwk_member(jwks->pool, key, "use", &use);
    if (why) {
        return why;
    }

    if (use.len && ngx_strcmp(use.data, "sig") != 0) {
        return "-\"use\" is not \"sig\"";
    }

    v = ngx_hoop_json_get(key, (u_char *) "key_ops", 7);

    if (v) {
        if (!YAJL_IS_ARRAY(v)) {
            return "\"key_ops\" is not an array";
        }

        verify = 0;

        for (i = 0; i < v->u.array.len; i++) {
            if (YAJL_IS_STRING(v->u.array.values[i])
                && ngx_strcmp(v->u.array.values[i]->u.string, "verify") == 0)
            {
                verify = 1;
            }
        }

        if (!verify) {
            return "-\"key_ops\" lacks \"verify\"";
        }
    }

    why = ngx_hoop_jwk_member(jwks->pool, key, "kid", &jwk->kid);
    if (why) {
        return why;
    }

    why = ngx_hoop_jwk_member(jwks->pool, key, "alg", &jwk->alg);
    if (why) {
        return why;
    }

    if (jwk->alg.len) {
        for (n = 0; ngx_hoop_jwk_algs[n]; n++) {
            if (ngx_strcmp(jwk->alg.data, ngx_hoop_jwk_algs[n]) == 0) {
                break;
            }
        }

        if (ngx_hoop_jwk_algs[n] == NULL) {
            return "-unsupported \"alg\"";
        }
    }

    if (ngx_strcmp(kty.data, "RSA") == 0) {
        return ngx_hoop_jwk_rsa(jwks->pool, key, jwk);
    }

    if (ngx_strcmp(kty.data, "EC") == 0) {
        return ngx_hoop_jwk_ec(jwks->pool, key, jwk);
    }

    if (ngx_strcmp(kty.data, "OKP") == 0) {
        return ngx_hoop_jwk_okp(jwks->pool, key, jwk);
    }

    if (ngx_strcmp(kty.data, "oct") == 0) {
        return "symmetric (\"oct\") keys are never accepted";
    }

    return "-unsupported \"kty\"";
}


static const char *
ngx_hoop_jwk_rsa(ngx_pool_t *pool, yajl_val key, ngx_hoop_jwk_t *jwk)
{
    int              bits;
    BIGNUM          *n, *e;
    ngx_str_t        n64, e64, nbin, ebin;
    const char      *why;
    OSSL_PARAM_BLD  *bld;

    if (jwk->alg.len && jwk->alg.data[0] != 'R' && jwk->alg.data[0] != 'P') {
        return "\"alg\" does not fit an RSA key";
    }

    if (ngx_hoop_jwk_member(pool, key, "n", &n64) != NULL
        || ngx_hoop_jwk_member(pool, key, "e", &e64) != NULL
        || n64.len == 0 || e64.len == 0)
    {
        return "RSA key without \"n\" or \"e\"";
    }

    if (ngx_hoop_b64u_decode(pool, &n64, &nbin) != NGX_OK
        || ngx_hoop_b64u_decode(pool, &e64, &ebin) != NGX_OK
        || nbin.len == 0 || ebin.len == 0 || ebin.len > 8)
    {
        return "RSA key with a malformed \"n\" or \"e\"";
    }

    /*
     * The JWK integers are unsigned big-endian: BN_bin2bn() reads them as
     * such, whatever the first byte (>= 0x80 is common for "n").
     */

    n = BN_bin2bn(nbin.data, (int) nbin.len, NULL);
    e = BN_bin2bn(ebin.data, (int) ebin.len, NULL);
    bld = OSSL_PARAM_BLD_new();

    why = NULL;

    if (n == NULL || e == NULL || bld == NULL
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
        || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
    {
        why = "out of memory";

    } else {
        why = ngx_hoop_jwk_from_params(bld, "RSA", jwk);
    }

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);

    if (why) {
        return why;
    }

    bits = EVP_PKEY_get_bits(jwk->pkey);

    if (bits < NGX_HOOP_RSA_MIN_BITS || bits > NGX_HOOP_RSA_MAX_BITS) {
        return "RSA key size out of range (2048 to 16384 bits)";
    }

    jwk->type = EVP_PKEY_RSA;

    return NULL;
}


static const char *
ngx_hoop_jwk_ec(ngx_pool_t *pool, yajl_val key, ngx_hoop_jwk_t *jwk)
{
    u_char                      *point;
    ngx_str_t                    crv, x64, y64, x, y;
    const char                  *why;
    OSSL_PARAM_BLD              *bld;
    const ngx_hoop_jwk_curve_t  *c;

    if (ngx_hoop_jwk_member(pool, key, "crv", &crv) != NULL) {
        return "EC key with a malformed \"crv\"";
    }

    for (c = ngx_hoop_jwk_curves; c->crv; c++) {
        if (crv.len && ngx_strcmp(crv.data, c->crv) == 0) {
            break;
        }
    }

    if (c->crv == NULL) {
        return "-unsupported EC curve";
    }

    if (jwk->alg.len
        && (jwk->alg.data[0] != 'E' || jwk->alg.data[1] != 'S'
            || (c->nid == NID_X9_62_prime256v1
                && ngx_strcmp(jwk->alg.data, "ES256") != 0)
            || (c->nid == NID_secp384r1
                && ngx_strcmp(jwk->alg.data, "ES384") != 0)
            || (c->nid == NID_secp521r1
                && ngx_strcmp(jwk->alg.data, "ES512") != 0)))
    {
        return "\"alg\" does not fit the EC curve";
    }

    if (ngx_hoop_jwk_member(pool, key, "x", &x64) != NULL
        || ngx_hoop_jwk_member(pool, key, "y", &y64) != NULL
        || ngx_hoop_b64u_decode(pool, &x64, &x) != NGX_OK
        || ngx_hoop_b64u_decode(pool, &y64, &y) != NGX_OK
        || x.len != c->size || y.len != c->size)
    {
        return "EC key with a malformed \"x\" or \"y\"";
    }

    /* the uncompressed point: 0x04 || x || y */

    point = ngx_pnalloc(pool, 1 + 2 * c->size);
    if (point == NULL) {
        return "out of memory";
    }

    point[0] = 0x04;
    ngx_memcpy(point + 1, x.data, c->size);
    ngx_memcpy(point + 1 + c->size, y.data, c->size);

    bld = OSSL_PARAM_BLD_new();

    if (bld == NULL
        || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                            c->group, 0)
        || !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                             point, 1 + 2 * c->size))
    {
        why = "out of memory";

    } else {
        why = ngx_hoop_jwk_from_params(bld, "EC", jwk);
    }

    OSSL_PARAM_BLD_free(bld);

    if (why) {
        return why;
    }

    jwk->type = EVP_PKEY_EC;
    jwk->curve = c->nid;

    return NULL;
}


static const char *
ngx_hoop_jwk_okp(ngx_pool_t *pool, yajl_val key, ngx_hoop_jwk_t *jwk)
{
    ngx_str_t  crv, x64, x;

    if (ngx_hoop_jwk_member(pool, key, "crv", &crv) != NULL) {
        return "OKP key with a malformed \"crv\"";
    }

    if (crv.len == 0 || ngx_strcmp(crv.data, "Ed25519") != 0) {
        return "-unsupported OKP curve";
    }

    if (jwk->alg.len && ngx_strcmp(jwk->alg.data, "EdDSA") != 0) {
        return "\"alg\" does not fit an Ed25519 key";
    }

    if (ngx_hoop_jwk_member(pool, key, "x", &x64) != NULL
        || ngx_hoop_b64u_decode(pool, &x64, &x) != NGX_OK
        || x.len != 32)
    {
        return "Ed25519 key with a malformed \"x\"";
    }

    jwk->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x.data,
                                            x.len);
    if (jwk->pkey == NULL) {
        return "Ed25519 key rejected by OpenSSL";
    }

    jwk->type = EVP_PKEY_ED25519;

    return NULL;
}


static const char *
ngx_hoop_jwk_from_params(OSSL_PARAM_BLD *bld, const char *type,
    ngx_hoop_jwk_t *jwk)
{
    int            ok;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx, *check;

    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    ok = params != NULL && ctx != NULL
         && EVP_PKEY_fromdata_init(ctx) == 1
         && EVP_PKEY_fromdata(ctx, &jwk->pkey, EVP_PKEY_PUBLIC_KEY, params)
            == 1;

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    if (!ok) {
        ERR_clear_error();
        return "key rejected by OpenSSL";
    }

    /* e.g. an EC point that is not on its curve */

    check = EVP_PKEY_CTX_new_from_pkey(NULL, jwk->pkey, NULL);

    ok = check != NULL && EVP_PKEY_public_check(check) == 1;

    EVP_PKEY_CTX_free(check);

    if (!ok) {
        ERR_clear_error();
        return "key failed OpenSSL's public key check";
    }

    return NULL;
}


/* an optional string member, copied NUL-terminated; empty when absent */

static const char *
ngx_hoop_jwk_member(ngx_pool_t *pool, yajl_val key, const char *name,
    ngx_str_t *value)
{
    size_t    len;
    yajl_val  v;

    ngx_str_null(value);

    v = ngx_hoop_json_get(key, (u_char *) name, ngx_strlen(name));

    if (v == NULL) {
        return NULL;
    }

    if (!YAJL_IS_STRING(v)) {
        return "a member that must be a string is not";
    }

    len = ngx_strlen(v->u.string);

    value->data = ngx_pnalloc(pool, len + 1);
    if (value->data == NULL) {
        return "out of memory";
    }

    ngx_memcpy(value->data, v->u.string, len + 1);
    value->len = len;

    return NULL;
}
