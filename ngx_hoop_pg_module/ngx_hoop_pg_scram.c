
/*
 * SCRAM-SHA-256 client.  The server's messages are attack surface: every
 * field is length-checked before use, the nonce and salt are bounded, and
 * the server's signature is checked before the session goes on.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include "ngx_hoop_pg_scram.h"


#define NGX_HOOP_PG_SCRAM_NONCE_RAW     18      /* -> 24 base64 chars */
#define NGX_HOOP_PG_SCRAM_MAX_NONCE     256


static ngx_int_t ngx_hoop_pg_scram_attr(u_char **p, u_char *end, u_char name,
    ngx_str_t *value);
static ngx_int_t ngx_hoop_pg_hmac(u_char *key, size_t key_len, u_char *data,
    size_t len, u_char *out);


ngx_int_t
ngx_hoop_pg_scram_client_first(ngx_pool_t *pool, ngx_hoop_pg_scram_t *scram,
    ngx_str_t *out)
{
    u_char     raw[NGX_HOOP_PG_SCRAM_NONCE_RAW];
    u_char    *p;
    ngx_str_t  src, nonce;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return NGX_ERROR;
    }

    /* "n,," + "n=,r=" + nonce: PostgreSQL takes the user from startup */

    out->len = 3 + 5 + ngx_base64_encoded_length(sizeof(raw));
    out->data = ngx_pnalloc(pool, out->len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, "n,,n=,r=", 8);

    src.data = raw;
    src.len = sizeof(raw);
    nonce.data = p;
    ngx_encode_base64(&nonce, &src);

    scram->client_first_bare.data = out->data + 3;
    scram->client_first_bare.len = out->len - 3;

    return NGX_OK;
}


ngx_int_t
ngx_hoop_pg_scram_client_final(ngx_pool_t *pool, ngx_hoop_pg_scram_t *scram,
    ngx_str_t *password, ngx_hoop_pg_scram_cache_t *cache,
    ngx_str_t *server_first, ngx_str_t *out, ngx_log_t *log)
{
    u_char      *p, *end, *last;
    u_char       salt[64], client_key[NGX_HOOP_PG_SCRAM_KEY_LEN];
    u_char       stored_key[NGX_HOOP_PG_SCRAM_KEY_LEN];
    u_char       signature[NGX_HOOP_PG_SCRAM_KEY_LEN];
    u_char       server_key[NGX_HOOP_PG_SCRAM_KEY_LEN];
    u_char       proof[NGX_HOOP_PG_SCRAM_KEY_LEN];
    size_t       i, without_proof_len;
    ngx_int_t    iterations;
    ngx_str_t    nonce, salt_b64, iter, my_nonce, src, dst;
    unsigned int md_len;

    p = server_first->data;
    end = p + server_first->len;

    if (ngx_hoop_pg_scram_attr(&p, end, 'r', &nonce) != NGX_OK
        || ngx_hoop_pg_scram_attr(&p, end, 's', &salt_b64) != NGX_OK
        || ngx_hoop_pg_scram_attr(&p, end, 'i', &iter) != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop pg: malformed SCRAM server-first-message");
        return NGX_ERROR;
    }

    /* our nonce is after "n=,r=" in client-first-message-bare */
    my_nonce.data = scram->client_first_bare.data + 5;
    my_nonce.len = scram->client_first_bare.len - 5;

    if (nonce.len <= my_nonce.len || nonce.len > NGX_HOOP_PG_SCRAM_MAX_NONCE
        || ngx_strncmp(nonce.data, my_nonce.data, my_nonce.len) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop pg: SCRAM server nonce invalid");
        return NGX_ERROR;
    }

    for (i = 0; i < nonce.len; i++) {
        /* printable ASCII except ',' (RFC 5802 "printable") */
        if (nonce.data[i] < 0x21 || nonce.data[i] > 0x7e
            || nonce.data[i] == ',')
        {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "hoop pg: SCRAM server nonce invalid");
            return NGX_ERROR;
        }
    }

    if (salt_b64.len == 0
        || ngx_base64_decoded_length(salt_b64.len) > sizeof(salt))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0, "hoop pg: SCRAM salt invalid");
        return NGX_ERROR;
    }

    dst.data = salt;

    if (ngx_decode_base64(&dst, &salt_b64) != NGX_OK || dst.len == 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "hoop pg: SCRAM salt invalid");
        return NGX_ERROR;
    }

    iterations = ngx_atoi(iter.data, iter.len);

    if (iterations < 1) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop pg: SCRAM iteration count invalid");
        return NGX_ERROR;
    }

    /*
     * PBKDF2 runs in the worker: a server asking for millions of rounds
     * would stall every session of the worker for seconds per login
     */

    if ((ngx_uint_t) iterations > (scram->max_iterations
                                   ? scram->max_iterations
                                   : NGX_HOOP_PG_SCRAM_MAX_ITER))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop pg: the server asks for %i SCRAM iterations, "
                      "over hoop_pg_upstream_scram_max_iterations",
                      iterations);
        return NGX_ERROR;
    }

    /* the expensive part, once per credential, salt and iteration count */

    if (cache->iterations != (ngx_uint_t) iterations
        || cache->salt_len != dst.len
        || ngx_memcmp(cache->salt, salt, dst.len) != 0)
    {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, log, 0,
                       "hoop pg: SCRAM PBKDF2, %i iterations", iterations);

        if (PKCS5_PBKDF2_HMAC((char *) password->data, password->len,
                              salt, dst.len, iterations, EVP_sha256(),
                              NGX_HOOP_PG_SCRAM_KEY_LEN, cache->salted)
            != 1)
        {
            cache->iterations = 0;
            return NGX_ERROR;
        }

        ngx_memcpy(cache->salt, salt, dst.len);
        cache->salt_len = dst.len;
        cache->iterations = iterations;
    }

    /*
     * client-final-message-without-proof: "c=biws,r=<nonce>" (biws is
     * base64 of the GS2 header "n,,")
     */

    without_proof_len = 9 + nonce.len;

    scram->auth_message.len = scram->client_first_bare.len + 1
                              + server_first->len + 1 + without_proof_len;
    scram->auth_message.data = ngx_pnalloc(pool, scram->auth_message.len);

    out->len = without_proof_len + 3
               + ngx_base64_encoded_length(NGX_HOOP_PG_SCRAM_KEY_LEN);
    out->data = ngx_pnalloc(pool, out->len);

    if (scram->auth_message.data == NULL || out->data == NULL) {
        return NGX_ERROR;
    }

    last = ngx_cpymem(out->data, "c=biws,r=", 9);
    last = ngx_cpymem(last, nonce.data, nonce.len);

    p = ngx_cpymem(scram->auth_message.data, scram->client_first_bare.data,
                   scram->client_first_bare.len);
    *p++ = ',';
    p = ngx_cpymem(p, server_first->data, server_first->len);
    *p++ = ',';
    ngx_memcpy(p, out->data, without_proof_len);

    if (ngx_hoop_pg_hmac(cache->salted, NGX_HOOP_PG_SCRAM_KEY_LEN,
                         (u_char *) "Client Key", 10, client_key) != NGX_OK)
    {
        return NGX_ERROR;
    }

    md_len = 0;

    if (EVP_Digest(client_key, NGX_HOOP_PG_SCRAM_KEY_LEN, stored_key,
                   &md_len, EVP_sha256(), NULL) != 1
        || ngx_hoop_pg_hmac(stored_key, NGX_HOOP_PG_SCRAM_KEY_LEN,
                            scram->auth_message.data,
                            scram->auth_message.len, signature) != NGX_OK
        || ngx_hoop_pg_hmac(cache->salted, NGX_HOOP_PG_SCRAM_KEY_LEN,
                            (u_char *) "Server Key", 10, server_key)
           != NGX_OK
        || ngx_hoop_pg_hmac(server_key, NGX_HOOP_PG_SCRAM_KEY_LEN,
                            scram->auth_message.data,
                            scram->auth_message.len,
                            scram->server_signature) != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HOOP_PG_SCRAM_KEY_LEN; i++) {
        proof[i] = client_key[i] ^ signature[i];
    }

    last = ngx_cpymem(last, ",p=", 3);

    src.data = proof;
    src.len = sizeof(proof);
    dst.data = last;
    ngx_encode_base64(&dst, &src);

    out->len = (last + dst.len) - out->data;

    OPENSSL_cleanse(client_key, sizeof(client_key));
    OPENSSL_cleanse(server_key, sizeof(server_key));
    OPENSSL_cleanse(stored_key, sizeof(stored_key));

    return NGX_OK;
}


ngx_int_t
ngx_hoop_pg_scram_verify_server(ngx_hoop_pg_scram_t *scram,
    ngx_str_t *server_final, ngx_log_t *log)
{
    u_char     *p, *end;
    u_char      sig[NGX_HOOP_PG_SCRAM_KEY_LEN + 3];
    ngx_str_t   v, dst;

    p = server_final->data;
    end = p + server_final->len;

    if (ngx_hoop_pg_scram_attr(&p, end, 'v', &v) != NGX_OK
        || ngx_base64_decoded_length(v.len) > sizeof(sig))
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop pg: malformed SCRAM server-final-message");
        return NGX_ERROR;
    }

    dst.data = sig;

    if (ngx_decode_base64(&dst, &v) != NGX_OK
        || dst.len != NGX_HOOP_PG_SCRAM_KEY_LEN
        || CRYPTO_memcmp(sig, scram->server_signature,
                         NGX_HOOP_PG_SCRAM_KEY_LEN) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop pg: SCRAM server signature does not match: "
                      "the upstream does not know the credential");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* "<name>=<value>" up to the next ',' or the end */

static ngx_int_t
ngx_hoop_pg_scram_attr(u_char **pp, u_char *end, u_char name,
    ngx_str_t *value)
{
    u_char  *p, *comma;

    p = *pp;

    if (end - p < 2 || p[0] != name || p[1] != '=') {
        return NGX_ERROR;
    }

    p += 2;

    comma = ngx_strlchr(p, end, ',');
    if (comma == NULL) {
        comma = end;
    }

    value->data = p;
    value->len = comma - p;

    *pp = (comma < end) ? comma + 1 : end;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_pg_hmac(u_char *key, size_t key_len, u_char *data, size_t len,
    u_char *out)
{
    unsigned int  out_len;

    out_len = 0;

    if (HMAC(EVP_sha256(), key, (int) key_len, data, len, out, &out_len)
        == NULL || out_len != NGX_HOOP_PG_SCRAM_KEY_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
