
/*
 * Postgres frontend/backend protocol 3.0: constants, reading and building
 * messages.
 */


#ifndef _NGX_HOOP_PG_PROTO_H_INCLUDED_
#define _NGX_HOOP_PG_PROTO_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/* codes in the version field of an untyped startup packet */
#define NGX_HOOP_PG_PROTOCOL_3_0       196608      /* 3 << 16 */
#define NGX_HOOP_PG_CANCEL_REQUEST     80877102    /* 1234 << 16 | 5678 */
#define NGX_HOOP_PG_SSL_REQUEST        80877103    /* 1234 << 16 | 5679 */
#define NGX_HOOP_PG_GSSENC_REQUEST     80877104    /* 1234 << 16 | 5680 */

/* postmaster.c MAX_STARTUP_PACKET_LENGTH */
#define NGX_HOOP_PG_MAX_STARTUP        10000

/* first byte of a TLS ClientHello record: PG17 direct TLS */
#define NGX_HOOP_PG_TLS_HANDSHAKE      0x16


#define ngx_hoop_pg_get_u32(p)                                               \
    (((uint32_t) (p)[0] << 24) | ((uint32_t) (p)[1] << 16)                   \
     | ((uint32_t) (p)[2] << 8) | (uint32_t) (p)[3])

#define ngx_hoop_pg_put_u32(p, v)                                            \
    ((p)[0] = (u_char) ((v) >> 24), (p)[1] = (u_char) ((v) >> 16),           \
     (p)[2] = (u_char) ((v) >> 8), (p)[3] = (u_char) (v), (p) + 4)


/* authentication request codes ('R') */
#define NGX_HOOP_PG_AUTH_OK            0
#define NGX_HOOP_PG_AUTH_CLEARTEXT     3
#define NGX_HOOP_PG_AUTH_MD5           5
#define NGX_HOOP_PG_AUTH_SASL          10
#define NGX_HOOP_PG_AUTH_SASL_CONTINUE 11
#define NGX_HOOP_PG_AUTH_SASL_FINAL    12


/* a typed message: type byte, int32 length (itself included), body */
typedef struct {
    u_char      type;
    u_char     *body;
    size_t      len;            /* of the body */
} ngx_hoop_pg_msg_t;


ngx_int_t ngx_hoop_pg_parse_message(ngx_buf_t *b, size_t max,
    ngx_hoop_pg_msg_t *msg);
u_char *ngx_hoop_pg_message_start(u_char *p, u_char type, size_t body_len);
ngx_buf_t *ngx_hoop_pg_message(ngx_pool_t *pool, u_char type, u_char *body,
    size_t len);
ngx_buf_t *ngx_hoop_pg_auth_request(ngx_pool_t *pool, uint32_t code);
ngx_int_t ngx_hoop_pg_error_field(ngx_hoop_pg_msg_t *msg, u_char field,
    ngx_str_t *value);
ngx_buf_t *ngx_hoop_pg_error_response(ngx_pool_t *pool, const char *severity,
    const char *sqlstate, ngx_str_t *message);


#endif /* _NGX_HOOP_PG_PROTO_H_INCLUDED_ */
