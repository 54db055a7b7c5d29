
/*
 * libFuzzer: the masking engine on text a database or an API returns
 * (what DataRow values, error/notice text and JSON strings go through):
 * every built-in detector on, the strategy and the characters kept
 * chosen by the first input byte; ngx_hoop_mask_text() on the rest, then
 * ngx_hoop_mask_value() on it as a whole value.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_mask.h"


ngx_log_t *ngx_shim_init(void);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t              in, out, whole;
    ngx_uint_t             count;
    ngx_log_t             *log;
    ngx_pool_t            *pool;
    ngx_array_t           *rules;
    ngx_hoop_mask_rule_t  *rule;

    if (size == 0) {
        return 0;
    }

    log = ngx_shim_init();
    pool = ngx_create_pool(1024, log);

    rules = ngx_array_create(pool, 2, sizeof(ngx_hoop_mask_rule_t));
    rule = ngx_array_push(rules);
    ngx_memzero(rule, sizeof(ngx_hoop_mask_rule_t));
    ngx_str_set(&rule->name, "fuzz");
    rule->detectors = (1 << NGX_HOOP_MASK_REGEX) - 1;
    rule->strategy = data[0] & 3;
    rule->keep = (data[0] >> 2) & 7;
    ngx_str_set(&rule->secret, "fuzz-hmac-key");

    /* exact-size copy: reads past the value are caught */
    in.len = size - 1;
    in.data = ngx_palloc(pool, in.len);
    ngx_memcpy(in.data, data + 1, in.len);

    if (ngx_hoop_mask_text(rules, &in, pool, &out, &count) == NGX_OK
        && count == 0
        && (out.len != in.len
            || (in.len && ngx_memcmp(out.data, in.data, in.len) != 0)))
    {
        /* nothing found must mean nothing changed */
        __builtin_trap();
    }

    rule->detectors = 0;
    (void) ngx_hoop_mask_value(rule, &in, pool, &whole);

    ngx_destroy_pool(pool);
    return 0;
}
