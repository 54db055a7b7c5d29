
/*
 * Postgres protocol messages the gateway builds itself.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_pg_proto.h"


/*
 * ErrorResponse: 'E', int32 length, then fields (type byte + C string),
 * ended by a zero byte.  'S' and 'V' carry the severity (V is never
 * localized), 'C' the SQLSTATE and 'M' the message.
 */

ngx_buf_t *
ngx_hoop_pg_error_response(ngx_pool_t *pool, const char *severity,
    const char *sqlstate, ngx_str_t *message)
{
    size_t      sev_len, len;
    u_char     *p;
    ngx_buf_t  *b;

    sev_len = ngx_strlen(severity);

    len = 1 + 4
          + 1 + sev_len + 1
          + 1 + sev_len + 1
          + 1 + 5 + 1
          + 1 + message->len + 1
          + 1;

    b = ngx_create_temp_buf(pool, len);
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    *p++ = 'E';
    p = ngx_hoop_pg_put_u32(p, (uint32_t) (len - 1));

    *p++ = 'S';
    p = ngx_cpymem(p, severity, sev_len);
    *p++ = '\0';

    *p++ = 'V';
    p = ngx_cpymem(p, severity, sev_len);
    *p++ = '\0';

    *p++ = 'C';
    p = ngx_cpymem(p, sqlstate, 5);
    *p++ = '\0';

    *p++ = 'M';
    p = ngx_cpymem(p, message->data, message->len);
    *p++ = '\0';

    *p++ = '\0';

    b->last = p;

    return b;
}
