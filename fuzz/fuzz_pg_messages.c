
/*
 * libFuzzer: typed Postgres messages in both directions.  The first input
 * byte picks the direction: client to gateway (hoop_pg_max_message_size
 * applies: 1 MB here) or server to gateway (no limit: the relay streams).
 * The rest is cut into messages with ngx_hoop_pg_parse_message() as the
 * relay does (arriving in pieces: the buffer grows 13 bytes at a time),
 * and every ErrorResponse/NoticeResponse has its S, C and M fields read
 * with ngx_hoop_pg_error_field(), as the audit and login paths do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_pg_proto.h"


ngx_log_t *ngx_shim_init(void);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t             max, upto;
    ngx_buf_t          b;
    ngx_str_t          v;
    ngx_int_t          rc;
    ngx_pool_t        *pool;
    ngx_hoop_pg_msg_t  msg;
    u_char            *copy;

    if (size == 0) {
        return 0;
    }

    ngx_shim_init();

    max = (data[0] & 1) ? (size_t) 1024 * 1024 : (size_t) 0xffffffff;
    data++;
    size--;

    /* an exact-size copy: ASan sees a read past what arrived */
    copy = malloc(size ? size : 1);
    ngx_memcpy(copy, data, size);

    ngx_memzero(&b, sizeof(b));
    b.start = copy;
    b.pos = copy;
    b.last = copy;
    b.end = copy + size;

    for (upto = 0; ; ) {
        rc = ngx_hoop_pg_parse_message(&b, max, &msg);

        if (rc == NGX_AGAIN) {
            if (upto == size) {
                break;
            }
            upto = ngx_min(size, upto + 13);
            b.last = copy + upto;
            continue;
        }

        if (rc != NGX_OK) {
            break;
        }

        if (msg.type == 'E' || msg.type == 'N') {
            (void) ngx_hoop_pg_error_field(&msg, 'S', &v);
            (void) ngx_hoop_pg_error_field(&msg, 'C', &v);
            if (ngx_hoop_pg_error_field(&msg, 'M', &v) == NGX_OK
                && v.len)
            {
                /* touch every byte the field claims */
                volatile u_char  sink = v.data[0] ^ v.data[v.len - 1];
                (void) sink;
            }
        }

        b.pos = msg.body + msg.len;
    }

    /* the gateway's own messages round-trip through the parser */
    pool = ngx_create_pool(1024, NULL);
    v.data = (u_char *) data;
    v.len = ngx_min(size, 200);
    {
        ngx_buf_t  *e = ngx_hoop_pg_error_response(pool, "FATAL", "08P01", &v);

        if (e == NULL
            || ngx_hoop_pg_parse_message(e, max, &msg) != NGX_OK
            || msg.type != 'E'
            || msg.body + msg.len != e->last)
        {
            __builtin_trap();
        }
    }
    ngx_destroy_pool(pool);

    free(copy);
    return 0;
}
