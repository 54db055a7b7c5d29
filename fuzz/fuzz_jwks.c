
/*
 * libFuzzer: a JWKS document as an identity provider (or an attacker
 * between it and the gateway) could serve it: ngx_hoop_jwks_parse()
 * with its JSON parser, member checks, base64url and key building.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include "ngx_hoop_oidc.h"


ngx_log_t *ngx_shim_init(void);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char           *copy;
    ngx_str_t         error;
    ngx_log_t        *log;
    ngx_hoop_jwks_t  *jwks;

    log = ngx_shim_init();

    copy = malloc(size ? size : 1);
    ngx_memcpy(copy, data, size);

    jwks = ngx_hoop_jwks_parse(copy, size, log, &error);
    if (jwks) {
        ngx_hoop_jwks_free(jwks);
    }

    free(copy);
    return 0;
}
