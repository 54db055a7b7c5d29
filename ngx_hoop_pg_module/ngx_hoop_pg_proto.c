
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


/*
 * A complete typed message at b->pos?  NGX_OK fills *msg (b->pos is not
 * moved), NGX_AGAIN wants more bytes, NGX_DECLINED: the length is invalid
 * or over max.
 */

ngx_int_t
ngx_hoop_pg_parse_message(ngx_buf_t *b, size_t max, ngx_hoop_pg_msg_t *msg)
{
    size_t  avail, len;

    avail = b->last - b->pos;

    if (avail < 5) {
        return NGX_AGAIN;
    }

    len = ngx_hoop_pg_get_u32(b->pos + 1);

    if (len < 4 || len > max) {
        return NGX_DECLINED;
    }

    if (avail < 1 + len) {
        return NGX_AGAIN;
    }

    msg->type = b->pos[0];
    msg->body = b->pos + 5;
    msg->len = len - 4;

    return NGX_OK;
}


u_char *
ngx_hoop_pg_message_start(u_char *p, u_char type, size_t body_len)
{
    *p++ = type;
    return ngx_hoop_pg_put_u32(p, (uint32_t) (body_len + 4));
}


ngx_buf_t *
ngx_hoop_pg_message(ngx_pool_t *pool, u_char type, u_char *body, size_t len)
{
    ngx_buf_t  *b;

    b = ngx_create_temp_buf(pool, 5 + len);
    if (b == NULL) {
        return NULL;
    }

    b->last = ngx_hoop_pg_message_start(b->last, type, len);
    b->last = ngx_cpymem(b->last, body, len);

    return b;
}


ngx_buf_t *
ngx_hoop_pg_auth_request(ngx_pool_t *pool, uint32_t code)
{
    u_char  body[4];

    (void) ngx_hoop_pg_put_u32(body, code);

    return ngx_hoop_pg_message(pool, 'R', body, 4);
}


/* a field of an ErrorResponse or NoticeResponse body */

ngx_int_t
ngx_hoop_pg_error_field(ngx_hoop_pg_msg_t *msg, u_char field,
    ngx_str_t *value)
{
    u_char  *p, *end, *nul;

    p = msg->body;
    end = msg->body + msg->len;

    while (p < end && *p != '\0') {
        nul = ngx_strlchr(p + 1, end, '\0');
        if (nul == NULL) {
            return NGX_DECLINED;
        }

        if (*p == field) {
            value->data = p + 1;
            value->len = nul - (p + 1);
            return NGX_OK;
        }

        p = nul + 1;
    }

    return NGX_DECLINED;
}
