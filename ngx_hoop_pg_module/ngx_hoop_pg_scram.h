
/*
 * SCRAM-SHA-256 client (RFC 5802, RFC 7677) for the upstream login, without
 * channel binding (GS2 header "n,,").
 */


#ifndef _NGX_HOOP_PG_SCRAM_H_INCLUDED_
#define _NGX_HOOP_PG_SCRAM_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define NGX_HOOP_PG_SCRAM_KEY_LEN   32      /* SHA-256 */


/* the default bound of a server's iteration count (PostgreSQL uses 4096) */
#define NGX_HOOP_PG_SCRAM_MAX_ITER  100000


typedef struct {
    ngx_uint_t  max_iterations;             /* 0: the default above */
    ngx_str_t   client_first_bare;          /* "n=,r=<nonce>" */
    ngx_str_t   auth_message;
    u_char      server_signature[NGX_HOOP_PG_SCRAM_KEY_LEN];
} ngx_hoop_pg_scram_t;


/* the PBKDF2 result for a (password, salt, iterations), reused if equal */
typedef struct {
    u_char      salt[64];
    size_t      salt_len;
    ngx_uint_t  iterations;
    u_char      salted[NGX_HOOP_PG_SCRAM_KEY_LEN];
} ngx_hoop_pg_scram_cache_t;


ngx_int_t ngx_hoop_pg_scram_client_first(ngx_pool_t *pool,
    ngx_hoop_pg_scram_t *scram, ngx_str_t *out);
ngx_int_t ngx_hoop_pg_scram_client_final(ngx_pool_t *pool,
    ngx_hoop_pg_scram_t *scram, ngx_str_t *password,
    ngx_hoop_pg_scram_cache_t *cache, ngx_str_t *server_first,
    ngx_str_t *out, ngx_log_t *log);
ngx_int_t ngx_hoop_pg_scram_verify_server(ngx_hoop_pg_scram_t *scram,
    ngx_str_t *server_final, ngx_log_t *log);


#endif /* _NGX_HOOP_PG_SCRAM_H_INCLUDED_ */
