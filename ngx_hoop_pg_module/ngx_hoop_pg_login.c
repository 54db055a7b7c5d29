
/*
 * Upstream login: the gateway, not the client, logs in to PostgreSQL with
 * the role profile's vaulted credentials (SCRAM-SHA-256, MD5, cleartext or
 * trust).  After AuthenticationOk the client is told it is in, and the
 * server's ParameterStatus/BackendKeyData/ReadyForQuery flow to it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include <ngx_md5.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_proto.h"


/* login messages from the server are small; anything bigger is hostile */
#define NGX_HOOP_PG_LOGIN_MAX_MESSAGE  8192


static ngx_int_t ngx_hoop_pg_send_startup(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx);
static void ngx_hoop_pg_login_handler(ngx_event_t *ev);
static ngx_int_t ngx_hoop_pg_login_message(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, ngx_hoop_pg_msg_t *msg);
static ngx_int_t ngx_hoop_pg_login_greeting(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, ngx_hoop_pg_msg_t *msg);
static ngx_int_t ngx_hoop_pg_login_auth(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, ngx_hoop_pg_msg_t *msg);
static ngx_int_t ngx_hoop_pg_send_password(ngx_stream_session_t *s,
    u_char *data, size_t len);
static ngx_int_t ngx_hoop_pg_send_md5(ngx_stream_session_t *s,
    ngx_hoop_pg_role_t *role, u_char *salt);
static ngx_int_t ngx_hoop_pg_send_sasl_initial(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, ngx_hoop_pg_msg_t *msg);
static ngx_int_t ngx_hoop_pg_upstream_send(ngx_stream_session_t *s,
    u_char *data, size_t len);



void
ngx_hoop_pg_login_start(ngx_stream_session_t *s)
{
    ngx_connection_t        *c, *pc;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    pc = s->upstream->peer.connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ctx->phase = NGX_HOOP_PG_UPSTREAM_LOGIN;

    ctx->server_buf = ngx_create_temp_buf(c->pool,
                                ngx_max(pscf->buffer_size,
                                        NGX_HOOP_PG_LOGIN_MAX_MESSAGE + 5));
    if (ctx->server_buf == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    /* one timer for the whole login, TLS handshake included */
    ngx_add_timer(pc->read, pscf->startup_timeout);

    if (pscf->upstream_ssl_mode != NGX_HOOP_PG_UPSTREAM_SSL_DISABLE) {
        ngx_hoop_pg_upstream_tls_start(s);
        return;
    }

    ngx_hoop_pg_login_begin(s);
}


/* on a plain connection, or once upstream TLS is up */

void
ngx_hoop_pg_login_begin(ngx_stream_session_t *s)
{
    ngx_connection_t   *pc;
    ngx_hoop_pg_ctx_t  *ctx;

    pc = s->upstream->peer.connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    pc->read->handler = ngx_hoop_pg_login_handler;
    pc->write->handler = ngx_hoop_pg_login_handler;

    if (ngx_hoop_pg_send_startup(s, ctx) != NGX_OK) {
        return;
    }

    ngx_hoop_pg_login_handler(pc->read);
}


/*
 * StartupMessage for the server: protocol 3.0, the role's user, the
 * database, then the client's other parameters (application_name,
 * client_encoding, DateStyle, TimeZone, options, ...).  Never forwarded:
 * user, database, replication (a replication connection is another
 * protocol), and "_pq_." options (refused in NegotiateProtocolVersion).
 */

static ngx_int_t
ngx_hoop_pg_send_startup(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx)
{
    u_char               *p, *start;
    size_t                len;
    ngx_uint_t            i;
    ngx_hoop_pg_param_t  *param;

    static ngx_str_t  skip[] = {
        ngx_string("user"),
        ngx_string("database"),
        ngx_string("replication"),
    };

    param = ctx->params->elts;

    len = 4 + 4
          + sizeof("user") + ctx->role->user.len + 1
          + sizeof("database") + ctx->database.len + 1
          + 1;

    for (i = 0; i < ctx->params->nelts; i++) {
        len += param[i].name.len + 1 + param[i].value.len + 1;
    }

    start = ngx_pnalloc(s->connection->pool, len);
    if (start == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    p = start + 4;
    p = ngx_hoop_pg_put_u32(p, NGX_HOOP_PG_PROTOCOL_3_0);

    p = ngx_cpymem(p, "user", sizeof("user"));
    p = ngx_cpymem(p, ctx->role->user.data, ctx->role->user.len);
    *p++ = '\0';
    p = ngx_cpymem(p, "database", sizeof("database"));
    p = ngx_cpymem(p, ctx->database.data, ctx->database.len);
    *p++ = '\0';

    for (i = 0; i < ctx->params->nelts; i++) {

        if ((param[i].name.len == skip[0].len
             && ngx_strncmp(param[i].name.data, skip[0].data, 4) == 0)
            || (param[i].name.len == skip[1].len
                && ngx_strncmp(param[i].name.data, skip[1].data, 8) == 0)
            || (param[i].name.len == skip[2].len
                && ngx_strncmp(param[i].name.data, skip[2].data, 11) == 0)
            || (param[i].name.len > 5
                && ngx_strncmp(param[i].name.data, "_pq_.", 5) == 0))
        {
            continue;
        }

        p = ngx_cpymem(p, param[i].name.data, param[i].name.len);
        *p++ = '\0';
        p = ngx_cpymem(p, param[i].value.data, param[i].value.len);
        *p++ = '\0';
    }

    *p++ = '\0';

    (void) ngx_hoop_pg_put_u32(start, (uint32_t) (p - start));

    return ngx_hoop_pg_upstream_send(s, start, p - start);
}


static void
ngx_hoop_pg_login_handler(ngx_event_t *ev)
{
    ssize_t                 n;
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_connection_t       *pc;
    ngx_hoop_pg_msg_t       msg;
    ngx_hoop_pg_ctx_t      *ctx;
    ngx_stream_session_t   *s;

    pc = ev->data;
    s = pc->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_ERR, pc->log, NGX_ETIMEDOUT,
                      "hoop pg: upstream timed out during login");
        ngx_hoop_pg_login_failed(s, "timeout");
        return;
    }

    if (ev->write) {
        return;
    }

    b = ctx->server_buf;

    for ( ;; ) {

        rc = ngx_hoop_pg_parse_message(b, NGX_HOOP_PG_LOGIN_MAX_MESSAGE,
                                       &msg);

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                          "hoop pg: invalid message from upstream "
                          "during login");
            ngx_hoop_pg_login_failed(s, "protocol violation");
            return;
        }

        if (rc == NGX_OK) {
            b->pos = msg.body + msg.len;

            rc = ngx_hoop_pg_login_message(s, ctx, &msg);

            if (rc == NGX_DONE) {
                /* logged in: greeting + anything after it to the client */
                if (pc->read->timer_set) {
                    ngx_del_timer(pc->read);
                }

                n = b->last - b->pos;

                if (ctx->login_out->end - ctx->login_out->last < n) {
                    ngx_hoop_pg_login_failed(s, "protocol violation");
                    return;
                }

                ctx->login_out->last = ngx_cpymem(ctx->login_out->last,
                                                  b->pos, n);
                ctx->server_buf = ctx->login_out;
                ctx->login_out = NULL;

                ngx_hoop_pg_relay_start(s);
                return;
            }

            if (rc != NGX_OK) {
                return;
            }

            continue;
        }

        /* NGX_AGAIN: make room and read */

        if (b->pos == b->last) {
            b->pos = b->start;
            b->last = b->start;

        } else if (b->end - b->last < NGX_HOOP_PG_LOGIN_MAX_MESSAGE + 5) {
            n = b->last - b->pos;
            ngx_memmove(b->start, b->pos, n);
            b->pos = b->start;
            b->last = b->start + n;
        }

        n = pc->recv(pc, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(pc->read, 0) != NGX_OK) {
                ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_error(NGX_LOG_ERR, pc->log, 0,
                          "hoop pg: upstream closed the connection "
                          "during login");
            ngx_hoop_pg_login_failed(s, "connection closed");
            return;
        }

        b->last += n;
    }
}


/* NGX_OK: go on; NGX_DONE: logged in; NGX_ERROR: session finalized */

static ngx_int_t
ngx_hoop_pg_login_message(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx,
    ngx_hoop_pg_msg_t *msg)
{
    ngx_str_t   text, code;

    if (ctx->login_out != NULL) {
        /* authenticated: the server's greeting, up to ReadyForQuery */
        return ngx_hoop_pg_login_greeting(s, ctx, msg);
    }

    switch (msg->type) {

    case 'R':
        return ngx_hoop_pg_login_auth(s, ctx, msg);

    case 'E':
        ngx_str_set(&text, "(no message)");
        ngx_str_set(&code, "?????");
        (void) ngx_hoop_pg_error_field(msg, 'M', &text);
        (void) ngx_hoop_pg_error_field(msg, 'C', &code);

        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: upstream refused login as \"%V\" for role "
                      "profile \"%V\": %V (SQLSTATE %V)",
                      &ctx->role->user, &ctx->role->name, &text, &code);
        ngx_hoop_pg_login_failed(s, NULL);
        return NGX_ERROR;

    case 'N':
    case 'v':
        /* a notice, or the server's own protocol negotiation: ignore */
        return NGX_OK;

    default:
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: unexpected message '%c' from upstream "
                      "during login", msg->type);
        ngx_hoop_pg_login_failed(s, "protocol violation");
        return NGX_ERROR;
    }
}


/*
 * After AuthenticationOk the server sends ParameterStatus messages,
 * BackendKeyData and ReadyForQuery (or a FATAL error, e.g. too many
 * connections).  They are collected for the client after our own
 * AuthenticationOk; BackendKeyData is replaced by the gateway's own key
 * (the real one never reaches the client).
 */

static ngx_int_t
ngx_hoop_pg_login_greeting(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx,
    ngx_hoop_pg_msg_t *msg)
{
    u_char      *body;
    ngx_buf_t   *out;

    out = ctx->login_out;

    if ((size_t) (out->end - out->last) < 5 + msg->len) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: upstream greeting too long");
        ngx_hoop_pg_login_failed(s, "protocol violation");
        return NGX_ERROR;
    }

    out->last = ngx_hoop_pg_message_start(out->last, msg->type, msg->len);
    body = out->last;
    out->last = ngx_cpymem(out->last, msg->body, msg->len);

    switch (msg->type) {

    case 'K':
        if (msg->len != 8) {
            ngx_hoop_pg_login_failed(s, "protocol violation");
            return NGX_ERROR;
        }

        if (ngx_hoop_pg_cancel_register(s, body) != NGX_OK) {
            ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            return NGX_ERROR;
        }

        return NGX_OK;

    case 'Z':
        return NGX_DONE;

    default:
        /* S, N; an E is passed on and the server closes after it */
        return NGX_OK;
    }
}


static ngx_int_t
ngx_hoop_pg_login_auth(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx,
    ngx_hoop_pg_msg_t *msg)
{
    uint32_t                 code;
    ngx_str_t                in, out;
    ngx_connection_t        *c;
    ngx_hoop_pg_role_t      *role;
    ngx_hoop_pg_scram_t     *scram;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    role = ctx->role;

    if (msg->len < 4) {
        ngx_hoop_pg_login_failed(s, "protocol violation");
        return NGX_ERROR;
    }

    code = ngx_hoop_pg_get_u32(msg->body);

    ngx_log_debug1(NGX_LOG_DEBUG_STREAM, c->log, 0,
                   "hoop pg: upstream authentication request %uD", code);

    switch (code) {

    case NGX_HOOP_PG_AUTH_OK:

        if (ctx->scram != NULL && !ctx->scram_verified) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "hoop pg: upstream skipped the SCRAM final step");
            ngx_hoop_pg_login_failed(s, "protocol violation");
            return NGX_ERROR;
        }

        /* the client's AuthenticationOk leads what the server sends next */

        ctx->login_out = ngx_create_temp_buf(c->pool,
                                    ngx_max(ctx->server_buf->end
                                            - ctx->server_buf->start,
                                            NGX_HOOP_PG_LOGIN_MAX_MESSAGE));
        if (ctx->login_out == NULL) {
            ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            return NGX_ERROR;
        }

        ctx->login_out->last = ngx_hoop_pg_message_start(
                                            ctx->login_out->last, 'R', 4);
        ctx->login_out->last = ngx_hoop_pg_put_u32(ctx->login_out->last,
                                                   NGX_HOOP_PG_AUTH_OK);
        return NGX_OK;

    case NGX_HOOP_PG_AUTH_CLEARTEXT:
        return ngx_hoop_pg_send_password(s, role->password.data,
                                         role->password.len);

    case NGX_HOOP_PG_AUTH_MD5:
        if (msg->len != 8) {
            ngx_hoop_pg_login_failed(s, "protocol violation");
            return NGX_ERROR;
        }

        return ngx_hoop_pg_send_md5(s, role, msg->body + 4);

    case NGX_HOOP_PG_AUTH_SASL:
        return ngx_hoop_pg_send_sasl_initial(s, ctx, msg);

    case NGX_HOOP_PG_AUTH_SASL_CONTINUE:
        scram = ctx->scram;

        if (scram == NULL || ctx->scram_final_sent) {
            ngx_hoop_pg_login_failed(s, "protocol violation");
            return NGX_ERROR;
        }

        in.data = msg->body + 4;
        in.len = msg->len - 4;

        pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);
        scram->max_iterations = pscf->upstream_scram_max_iterations;

        if (ngx_hoop_pg_scram_client_final(c->pool, scram, &role->password,
                                           &role->scram, &in, &out, c->log)
            != NGX_OK)
        {
            ngx_hoop_pg_login_failed(s, "SCRAM exchange failed");
            return NGX_ERROR;
        }

        ctx->scram_final_sent = 1;

        /* SASLResponse: the data only */
        return ngx_hoop_pg_send_password(s, out.data, out.len) == NGX_OK
               ? NGX_OK : NGX_ERROR;

    case NGX_HOOP_PG_AUTH_SASL_FINAL:
        scram = ctx->scram;

        if (scram == NULL || !ctx->scram_final_sent) {
            ngx_hoop_pg_login_failed(s, "protocol violation");
            return NGX_ERROR;
        }

        in.data = msg->body + 4;
        in.len = msg->len - 4;

        if (ngx_hoop_pg_scram_verify_server(scram, &in, c->log) != NGX_OK) {
            ngx_hoop_pg_login_failed(s, "SCRAM server signature invalid");
            return NGX_ERROR;
        }

        ctx->scram_verified = 1;

        return NGX_OK;

    default:
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "hoop pg: upstream asks for authentication method %uD, "
                      "which the gateway does not support", code);
        ngx_hoop_pg_login_failed(s, "unsupported authentication method");
        return NGX_ERROR;
    }
}


/*
 * PasswordMessage / SASLResponse: 'p', then the data.  A cleartext
 * password is NUL-terminated; SASL data is not, so callers pass the exact
 * bytes (send_password adds the NUL only for cleartext/md5).
 */

static ngx_int_t
ngx_hoop_pg_send_password(ngx_stream_session_t *s, u_char *data, size_t len)
{
    ngx_int_t           rc;
    ngx_buf_t          *b;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    b = ngx_create_temp_buf(s->connection->pool, 5 + len + 1);
    if (b == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    if (ctx->scram) {
        b->last = ngx_hoop_pg_message_start(b->last, 'p', len);
        b->last = ngx_cpymem(b->last, data, len);

    } else {
        b->last = ngx_hoop_pg_message_start(b->last, 'p', len + 1);
        b->last = ngx_cpymem(b->last, data, len);
        *b->last++ = '\0';
    }

    rc = ngx_hoop_pg_upstream_send(s, b->pos, b->last - b->pos);

    ngx_explicit_memzero(b->start, b->end - b->start);

    return rc;
}


/* "md5" + md5hex(md5hex(password + user) + salt) */

static ngx_int_t
ngx_hoop_pg_send_md5(ngx_stream_session_t *s, ngx_hoop_pg_role_t *role,
    u_char *salt)
{
    u_char     digest[16], hex[32], out[3 + 32];
    ngx_int_t  rc;
    ngx_md5_t  md5;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, role->password.data, role->password.len);
    ngx_md5_update(&md5, role->user.data, role->user.len);
    ngx_md5_final(digest, &md5);
    ngx_hex_dump(hex, digest, 16);

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, hex, 32);
    ngx_md5_update(&md5, salt, 4);
    ngx_md5_final(digest, &md5);

    ngx_memcpy(out, "md5", 3);
    ngx_hex_dump(out + 3, digest, 16);

    rc = ngx_hoop_pg_send_password(s, out, sizeof(out));

    ngx_explicit_memzero(hex, sizeof(hex));
    ngx_explicit_memzero(digest, sizeof(digest));

    return rc;
}


/*
 * AuthenticationSASL lists mechanisms as C strings; we speak
 * SCRAM-SHA-256 only (no channel binding: the -PLUS variant needs the
 * upstream TLS channel, which is ours, not the client's).
 */

static ngx_int_t
ngx_hoop_pg_send_sasl_initial(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, ngx_hoop_pg_msg_t *msg)
{
    u_char               *p, *end, *nul;
    ngx_int_t             rc;
    ngx_str_t             first;
    ngx_buf_t            *b;
    ngx_uint_t            found;
    ngx_connection_t     *c;
    ngx_hoop_pg_scram_t  *scram;

    static u_char  mech[] = "SCRAM-SHA-256";

    c = s->connection;

    if (ctx->scram != NULL) {
        ngx_hoop_pg_login_failed(s, "protocol violation");
        return NGX_ERROR;
    }

    found = 0;
    p = msg->body + 4;
    end = msg->body + msg->len;

    while (p < end && *p != '\0') {
        nul = ngx_strlchr(p, end, '\0');
        if (nul == NULL) {
            break;
        }

        if ((size_t) (nul - p) == sizeof(mech) - 1
            && ngx_strncmp(p, mech, sizeof(mech) - 1) == 0)
        {
            found = 1;
        }

        p = nul + 1;
    }

    if (!found) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "hoop pg: upstream offers no SCRAM-SHA-256");
        ngx_hoop_pg_login_failed(s, "unsupported SASL mechanism");
        return NGX_ERROR;
    }

    scram = ngx_pcalloc(c->pool, sizeof(ngx_hoop_pg_scram_t));
    if (scram == NULL
        || ngx_hoop_pg_scram_client_first(c->pool, scram, &first) != NGX_OK)
    {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    ctx->scram = scram;

    /* SASLInitialResponse: mechanism, int32 length, client-first-message */

    b = ngx_create_temp_buf(c->pool, 5 + sizeof(mech) + 4 + first.len);
    if (b == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    b->last = ngx_hoop_pg_message_start(b->last, 'p',
                                        sizeof(mech) + 4 + first.len);
    b->last = ngx_cpymem(b->last, mech, sizeof(mech));
    b->last = ngx_hoop_pg_put_u32(b->last, (uint32_t) first.len);
    b->last = ngx_cpymem(b->last, first.data, first.len);

    rc = ngx_hoop_pg_upstream_send(s, b->pos, b->last - b->pos);

    return rc;
}


/*
 * Login messages are a few hundred bytes on a fresh socket: they go out
 * at once, or the upstream is treated as broken.
 */

static ngx_int_t
ngx_hoop_pg_upstream_send(ngx_stream_session_t *s, u_char *data, size_t len)
{
    ssize_t            n;
    ngx_connection_t  *pc;

    pc = s->upstream->peer.connection;

    n = pc->send(pc, data, len);

    if (n != (ssize_t) len) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: could not send the login to upstream");
        ngx_hoop_pg_login_failed(s, "send failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * The client learns that the gateway could not log in, nothing about
 * the upstream's reasons (those are in the error log).
 */

void
ngx_hoop_pg_login_failed(ngx_stream_session_t *s, const char *why)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (why) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: upstream login for role profile \"%V\" "
                      "failed: %s", &ctx->role->name, why);
    }

    ngx_hoop_pg_fatal(s, "08004",
                      "the gateway could not log in to the database server",
                      NGX_STREAM_BAD_GATEWAY);
}
