
/*
 * libFuzzer: bearer tokens and their claims.  The first input byte picks:
 *   even: the rest is a token for ngx_hoop_auth_verify() (split, header
 *         JSON, alg/key choice, base64url, signature check with the
 *         fixed JWKS of fuzz_auth_stubs.c, ECDSA signature conversion);
 *   odd:  the rest is a decoded payload for the claims checks behind a
 *         valid signature (iss, aud, exp/nbf/iat, user, email, groups),
 *         which a fuzzer cannot reach by forging signatures.
 * The module file is included so its static functions are reachable.
 */


#include "ngx_hoop_jwt.c"


ngx_log_t *ngx_shim_init(void);


static ngx_array_t *
fuzz_path(ngx_pool_t *pool, const char *a, const char *b)
{
    ngx_str_t    *s;
    ngx_array_t  *path;

    path = ngx_array_create(pool, 2, sizeof(ngx_str_t));
    s = ngx_array_push(path);
    s->data = (u_char *) a;
    s->len = strlen(a);
    if (b) {
        s = ngx_array_push(path);
        s->data = (u_char *) b;
        s->len = strlen(b);
    }
    return path;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    yajl_val              claims;
    ngx_str_t             token, reason, *aud;
    ngx_log_t            *log;
    ngx_pool_t           *pool;
    ngx_hoop_oidc_t       provider;
    ngx_hoop_identity_t   id;

    if (size == 0) {
        return 0;
    }

    log = ngx_shim_init();
    pool = ngx_create_pool(1024, log);

    ngx_memzero(&provider, sizeof(provider));
    ngx_str_set(&provider.name, "fuzz");
    ngx_str_set(&provider.issuer, "https://idp.hoop.test");
    provider.audiences = ngx_array_create(pool, 1, sizeof(ngx_str_t));
    aud = ngx_array_push(provider.audiences);
    ngx_str_set(aud, "hoop");
    provider.user_claim = fuzz_path(pool, "sub", NULL);
    provider.email_claim = fuzz_path(pool, "email", NULL);
    provider.groups_claim = (data[0] & 2)
                            ? fuzz_path(pool, "realm_access", "roles")
                            : fuzz_path(pool, "groups", NULL);
    provider.leeway = 60;
    provider.max_token_size = 16384;
    provider.log = log;

    token.len = size - 1;
    token.data = ngx_palloc(pool, token.len);
    ngx_memcpy(token.data, data + 1, token.len);

    if ((data[0] & 1) == 0) {
        ngx_int_t  rc;

        rc = ngx_hoop_auth_verify(&provider, &token, pool, log, &id, &reason);
        if (getenv("HOOP_FUZZ_LOG")) {
            fprintf(stderr, "verify: %d %.*s\n", (int) rc,
                    (int) reason.len, reason.data);
        }

    } else {
        claims = ngx_hoop_json_parse(token.data, token.len, 1);
        if (YAJL_IS_OBJECT(claims)) {
            ngx_memzero(&id, sizeof(id));
            id.provider = &provider;
            (void) ngx_hoop_jwt_claims(&provider, claims, pool, &id,
                                       &reason);
        }
        if (claims) {
            yajl_tree_free(claims);
        }
    }

    ngx_destroy_pool(pool);
    return 0;
}
