
/*
 * libFuzzer: the upstream SCRAM-SHA-256 client against a hostile server.
 * Input: server-first-message, a zero byte, server-final-message.  The
 * server-first gets the client's real nonce as a prefix when the input's
 * "r=" starts with "@" (so the parser goes past the nonce check and into
 * the salt, iteration count and proof), as a real server's would.
 * Iterations above 4096 are refused by the harness only to keep each run
 * fast; the parser itself sees the value first.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_pg_scram.h"


ngx_log_t *ngx_shim_init(void);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                     *zero, *first, *p;
    size_t                      first_len, nonce_len;
    ngx_str_t                   out, sf, fin, password, cf;
    ngx_log_t                  *log;
    ngx_pool_t                 *pool;
    ngx_hoop_pg_scram_t         scram;
    ngx_hoop_pg_scram_cache_t   cache;
    const u_char               *it;

    log = ngx_shim_init();
    pool = ngx_create_pool(1024, log);

    ngx_memzero(&scram, sizeof(scram));
    ngx_memzero(&cache, sizeof(cache));

    if (ngx_hoop_pg_scram_client_first(pool, &scram, &cf) != NGX_OK) {
        __builtin_trap();
    }

    zero = memchr(data, '\0', size);
    first_len = zero ? (size_t) (zero - data) : size;

    /* keep PBKDF2 cheap: skip inputs asking for many iterations */
    it = memmem(data, first_len, ",i=", 3);
    if (it && first_len - (it - data) > 7) {
        goto done;
    }

    nonce_len = scram.client_first_bare.len - 5;
    first = ngx_palloc(pool, first_len + nonce_len);
    p = first;

    if (first_len > 3 && ngx_strncmp(data, "r=@", 3) == 0) {
        p = ngx_cpymem(p, "r=", 2);
        p = ngx_cpymem(p, scram.client_first_bare.data + 5, nonce_len);
        p = ngx_cpymem(p, data + 3, first_len - 3);

    } else {
        p = ngx_cpymem(p, data, first_len);
    }

    sf.data = first;
    sf.len = p - first;

    ngx_str_set(&password, "correct horse battery staple");

    if (ngx_hoop_pg_scram_client_final(pool, &scram, &password, &cache, &sf,
                                       &out, log)
        != NGX_OK)
    {
        goto done;
    }

    if (zero) {
        fin.len = size - first_len - 1;
        fin.data = ngx_palloc(pool, fin.len);
        ngx_memcpy(fin.data, zero + 1, fin.len);
        (void) ngx_hoop_pg_scram_verify_server(&scram, &fin, log);
    }

done:

    ngx_destroy_pool(pool);
    return 0;
}
