
/*
 * Per-worker caches keyed by statement text (ngx_hoop_pg_text_cache.c).
 */


#ifndef _NGX_HOOP_PG_TEXT_CACHE_H_INCLUDED_
#define _NGX_HOOP_PG_TEXT_CACHE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#ifndef NGX_HOOP_PG_TEXT_CACHE_T
#define NGX_HOOP_PG_TEXT_CACHE_T
typedef struct ngx_hoop_pg_text_cache_s  ngx_hoop_pg_text_cache_t;
#endif


ngx_hoop_pg_text_cache_t *ngx_hoop_pg_text_cache_create(
    ngx_uint_t max_entries, size_t max_bytes, size_t max_key, ngx_log_t *log);
void ngx_hoop_pg_text_cache_destroy(ngx_hoop_pg_text_cache_t *c);
void *ngx_hoop_pg_text_cache_get(ngx_hoop_pg_text_cache_t *c,
    ngx_str_t *prefix, ngx_str_t *key, uint32_t *hash, size_t *len);
void ngx_hoop_pg_text_cache_put(ngx_hoop_pg_text_cache_t *c, uint32_t hash,
    ngx_str_t *prefix, ngx_str_t *key, void *value, size_t len,
    ngx_log_t *log);

ngx_int_t ngx_hoop_pg_number_key(ngx_str_t *key, ngx_pool_t *pool);
ngx_uint_t ngx_hoop_pg_numbers_left(u_char *text, size_t len);


#endif /* _NGX_HOOP_PG_TEXT_CACHE_H_INCLUDED_ */
