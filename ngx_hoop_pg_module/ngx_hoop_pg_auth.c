
/*
 * Client login: the gateway asks for a cleartext password, which carries
 * the caller's OIDC token, verifies it with the auth module, and maps the
 * startup "user" to a role profile the token's groups allow.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_proto.h"


static void ngx_hoop_pg_password_read(ngx_event_t *ev);
static ngx_int_t ngx_hoop_pg_password_buffer(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, size_t need);
static void ngx_hoop_pg_verify(ngx_stream_session_t *s);
static void ngx_hoop_pg_verify_retry(ngx_event_t *ev);
static void ngx_hoop_pg_authorize(ngx_stream_session_t *s);
static ngx_int_t ngx_hoop_pg_startup_policy(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx);
static ngx_int_t ngx_hoop_pg_negotiate_version(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, u_char **p, u_char *end);


void
ngx_hoop_pg_client_auth_start(ngx_stream_session_t *s)
{
    u_char                   out[512];
    u_char                  *p;
    ngx_connection_t        *c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ctx->phase = NGX_HOOP_PG_CLIENT_AUTH;

    /* refuse before the client sends its token in clear */

    if (c->ssl == NULL && !pscf->plaintext_login) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: login without TLS refused");
        ngx_hoop_pg_fatal(s, "28000",
                          "this gateway requires TLS: connect with "
                          "sslmode=require (or verify-full)",
                          NGX_STREAM_BAD_REQUEST);
        return;
    }

    if (ctx->user.len == 0) {
        ngx_hoop_pg_fatal(s, "28000",
                          "no user name in the startup packet: the user "
                          "names a role profile of the gateway",
                          NGX_STREAM_BAD_REQUEST);
        return;
    }

    p = out;

    if (ngx_hoop_pg_negotiate_version(s, ctx, &p, out + sizeof(out))
        != NGX_OK)
    {
        return;
    }

    p = ngx_hoop_pg_message_start(p, 'R', 4);
    p = ngx_hoop_pg_put_u32(p, NGX_HOOP_PG_AUTH_CLEARTEXT);

    /*
     * a fresh socket takes a few hundred bytes at once; anything else is
     * treated as a broken client
     */
    if (c->send(c, out, p - out) != p - out) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: could not send the password request");
        ngx_hoop_pg_finalize(s, NGX_STREAM_OK);
        return;
    }

    c->read->handler = ngx_hoop_pg_password_read;
    c->write->handler = ngx_hoop_pg_password_read;

    ngx_hoop_pg_password_read(c->read);
}


/*
 * Protocol 3.x with x > 0, or "_pq_." options: tell the client what we
 * speak (NegotiateProtocolVersion), as PostgreSQL does.  The _pq_ options
 * are dropped from what goes upstream.
 */

static ngx_int_t
ngx_hoop_pg_negotiate_version(ngx_stream_session_t *s,
    ngx_hoop_pg_ctx_t *ctx, u_char **out, u_char *end)
{
    u_char               *p, *body;
    size_t                len;
    ngx_uint_t            i, n;
    ngx_hoop_pg_param_t  *param;

    param = ctx->params->elts;
    n = 0;
    len = 8;

    for (i = 0; i < ctx->params->nelts; i++) {
        if (param[i].name.len > 5
            && ngx_strncmp(param[i].name.data, "_pq_.", 5) == 0)
        {
            n++;
            len += param[i].name.len + 1;
        }
    }

    if (ctx->protocol_minor == 0 && n == 0) {
        return NGX_OK;
    }

    if (5 + len > (size_t) (end - *out)) {
        ngx_hoop_pg_fatal(s, "08P01", "too many protocol options",
                          NGX_STREAM_BAD_REQUEST);
        return NGX_ERROR;
    }

    p = ngx_hoop_pg_message_start(*out, 'v', len);
    body = p;
    p = ngx_hoop_pg_put_u32(p, 0);
    p = ngx_hoop_pg_put_u32(p, n);

    for (i = 0; i < ctx->params->nelts; i++) {
        if (param[i].name.len > 5
            && ngx_strncmp(param[i].name.data, "_pq_.", 5) == 0)
        {
            p = ngx_cpymem(p, param[i].name.data, param[i].name.len);
            *p++ = '\0';
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg: NegotiateProtocolVersion 3.0, %ui options, %uz",
                   n, (size_t) (p - body));

    *out = p;

    return NGX_OK;
}


static void
ngx_hoop_pg_password_read(ngx_event_t *ev)
{
    ngx_int_t                rc;
    ngx_buf_t               *b;
    ngx_connection_t        *c;
    ngx_hoop_pg_msg_t        msg;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_stream_session_t    *s;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = ev->data;
    s = c->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    if (ev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "hoop pg: client timed out during login");
        ngx_hoop_pg_fatal(s, "08P01", "timeout waiting for the password",
                          NGX_STREAM_BAD_REQUEST);
        return;
    }

    if (ev->write) {
        return;
    }

    for ( ;; ) {
        b = ctx->client_buf;

        rc = ngx_hoop_pg_parse_message(b, pscf->max_password_size + 4, &msg);

        if (rc == NGX_OK) {
            break;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_INFO, c->log, 0,
                          "hoop pg: password message too long or invalid "
                          "(hoop_pg_max_token_size %uz)",
                          pscf->max_password_size);
            ngx_hoop_pg_fatal(s, "08P01",
                              "password message too long or invalid",
                              NGX_STREAM_BAD_REQUEST);
            return;
        }

        if (b->last - b->pos >= 5) {
            if (ngx_hoop_pg_password_buffer(s, ctx,
                                           1 + ngx_hoop_pg_get_u32(b->pos + 1))
                != NGX_OK)
            {
                return;
            }

            b = ctx->client_buf;
        }

        if (ngx_hoop_pg_client_read(s, b, "login") != NGX_OK) {
            return;
        }
    }

    if (msg.type != 'p' || msg.len < 1 || msg.body[msg.len - 1] != '\0') {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "hoop pg: expected a password message, got '%c'",
                      msg.type);
        ngx_hoop_pg_fatal(s, "08P01", "expected a password message",
                          NGX_STREAM_BAD_REQUEST);
        return;
    }

    /* the token stays in client_buf until verified, then is wiped */

    ctx->token.data = msg.body;
    ctx->token.len = msg.len - 1;

    b->pos = msg.body + msg.len;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    c->read->handler = ngx_hoop_pg_client_wait;
    c->write->handler = ngx_hoop_pg_client_wait;

    ctx->verify_start = ngx_current_msec;

    ngx_hoop_pg_verify(s);
}


/* a password longer than client_buf: a bigger buffer, up to the limit */

static ngx_int_t
ngx_hoop_pg_password_buffer(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx,
    size_t need)
{
    size_t      size;
    ngx_buf_t  *b, *nb;

    b = ctx->client_buf;

    if ((size_t) (b->end - b->pos) >= need) {
        if ((size_t) (b->end - b->last) == 0) {
            /* room at the start: move the partial message there */
            size = b->last - b->pos;
            ngx_memmove(b->start, b->pos, size);
            b->pos = b->start;
            b->last = b->start + size;
        }

        return NGX_OK;
    }

    /* the relay goes on with this buffer: never smaller than before */
    nb = ngx_create_temp_buf(s->connection->pool,
                             ngx_max(need, (size_t) (b->end - b->start)));
    if (nb == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    nb->last = ngx_cpymem(nb->pos, b->pos, b->last - b->pos);

    ngx_explicit_memzero(b->start, b->end - b->start);
    ngx_pfree(s->connection->pool, b->start);

    ctx->client_buf = nb;

    return NGX_OK;
}


static void
ngx_hoop_pg_verify(ngx_stream_session_t *s)
{
    ngx_int_t                rc;
    ngx_str_t                reason;
    ngx_connection_t        *c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ngx_str_null(&reason);

    rc = ngx_hoop_auth_verify(pscf->oidc, &ctx->token, c->pool, c->log,
                              &ctx->identity, &reason);

    if (rc == NGX_AGAIN) {
        if (ngx_current_msec - ctx->verify_start > pscf->startup_timeout) {
            rc = NGX_ERROR;
            ngx_str_set(&reason, "keys not available in time");

        } else {
            ctx->verify_retry.handler = ngx_hoop_pg_verify_retry;
            ctx->verify_retry.data = s;
            ctx->verify_retry.log = c->log;
            ctx->verify_retry.cancelable = 1;

            ngx_add_timer(&ctx->verify_retry, NGX_HOOP_AUTH_RETRY_MSEC);
            return;
        }
    }

    ngx_explicit_memzero(ctx->token.data, ctx->token.len);
    ngx_str_null(&ctx->token);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "hoop pg: token rejected for role profile \"%V\": %V",
                      &ctx->user, &reason);
        ngx_hoop_pg_audit_auth(s, 0, "token rejected");
        ngx_hoop_pg_fatal(s, "28P01", "the token was rejected",
                          NGX_STREAM_BAD_REQUEST);
        return;
    }

    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "hoop pg: cannot verify tokens: %V", &reason);
        ngx_hoop_pg_audit_auth(s, 0, "tokens cannot be verified");
        ngx_hoop_pg_fatal(s, "28000",
                          "the gateway cannot verify tokens right now",
                          NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_hoop_pg_authorize(s);
}


static void
ngx_hoop_pg_verify_retry(ngx_event_t *ev)
{
    ngx_hoop_pg_verify(ev->data);
}


/* the role profile named by the startup user, and the token's groups */

static void
ngx_hoop_pg_authorize(ngx_stream_session_t *s)
{
    u_char                   msg[NGX_MAX_ERROR_STR], *last;
    ngx_str_t               *group;
    ngx_uint_t               i, j;
    ngx_connection_t        *c;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_role_t      *role;
    ngx_hoop_identity_t     *id;
    ngx_hoop_pg_srv_conf_t  *pscf;

    c = s->connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);
    id = &ctx->identity;

    role = NULL;

    if (pscf->roles) {
        role = pscf->roles->elts;

        for (i = 0; i < pscf->roles->nelts; i++) {
            if (role[i].name.len == ctx->user.len
                && ngx_strncmp(role[i].name.data, ctx->user.data,
                               ctx->user.len) == 0)
            {
                break;
            }
        }

        role = (i < pscf->roles->nelts) ? &role[i] : NULL;
    }

    if (role == NULL) {
        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "hoop pg: \"%V\" (token %s) asked for unknown role "
                      "profile \"%V\"", &id->user, id->token_id, &ctx->user);
        last = ngx_snprintf(msg, sizeof(msg) - 1,
                            "no role profile \"%V\" on this gateway%Z",
                            &ctx->user);
        ngx_hoop_pg_audit_auth(s, 0, (char *) msg);
        ngx_hoop_pg_fatal(s, "28000", (char *) msg, NGX_STREAM_BAD_REQUEST);
        return;
    }

    if (role->groups && role->groups->nelts) {
        group = role->groups->elts;

        for (j = 0; j < role->groups->nelts; j++) {
            if (ngx_hoop_identity_has_group(id, &group[j])) {
                break;
            }
        }

        if (j == role->groups->nelts) {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "hoop pg: \"%V\" (token %s) is in none of the "
                          "groups of role profile \"%V\"",
                          &id->user, id->token_id, &role->name);
            last = ngx_snprintf(msg, sizeof(msg) - 1,
                                "\"%V\" may not use role profile \"%V\"%Z",
                                &id->user, &role->name);
            ngx_hoop_pg_audit_auth(s, 0, (char *) msg);
            ngx_hoop_pg_fatal(s, "28000", (char *) msg,
                              NGX_STREAM_BAD_REQUEST);
            return;
        }
    }

    if (role->database.len) {
        if (ctx->database.len
            && (ctx->database.len != role->database.len
                || ngx_strncmp(ctx->database.data, role->database.data,
                               ctx->database.len) != 0))
        {
            ngx_log_error(NGX_LOG_WARN, c->log, 0,
                          "hoop pg: \"%V\" asked for database \"%V\" "
                          "with role profile \"%V\"",
                          &id->user, &ctx->database, &role->name);
            last = ngx_snprintf(msg, sizeof(msg) - 1,
                                "role profile \"%V\" does not give access "
                                "to database \"%V\"%Z",
                                &role->name, &ctx->database);
            ngx_hoop_pg_audit_auth(s, 0, (char *) msg);
            ngx_hoop_pg_fatal(s, "28000", (char *) msg,
                              NGX_STREAM_BAD_REQUEST);
            return;
        }

        ctx->database = role->database;

    } else if (ctx->database.len == 0) {
        /* as PostgreSQL: the database defaults to the user name */
        ctx->database = role->user;
    }

    (void) last;

    if (ngx_hoop_pg_startup_policy(s, ctx) != NGX_OK) {
        return;
    }

    ctx->role = role;
    ctx->role_name = role->name;
    ctx->token_id.data = id->token_id;
    ctx->token_id.len = ngx_strlen(id->token_id);

    if (role->review) {
        /* the profile needs a standing approval: ngx_hoop_pg_review.c */
        (void) ngx_hoop_pg_review_session(s);
        return;
    }

    ngx_hoop_pg_login_proceed(s);
}


/* the login is authorized: on to the server */

void
ngx_hoop_pg_login_proceed(ngx_stream_session_t *s)
{
    ngx_connection_t     *c;
    ngx_hoop_pg_ctx_t    *ctx;
    ngx_hoop_identity_t  *id;

    c = s->connection;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    id = &ctx->identity;

    ctx->authenticated = 1;

    ngx_log_error(NGX_LOG_INFO, c->log, 0,
                  "hoop pg: \"%V\" (token %s) logged in with role profile "
                  "\"%V\", database \"%V\"",
                  &id->user, id->token_id, &ctx->role_name, &ctx->database);

    ngx_hoop_pg_audit_auth(s, 1, NULL);

    ctx->phase = NGX_HOOP_PG_CONNECTING;

    ngx_hoop_pg_upstream_connect(s);
}


/*
 * Startup parameters become settings before any statement is seen: with
 * a statement policy, the ones that change who the session acts as (role,
 * session_authorization, directly or inside "options") are refused, since
 * they would bypass statement=set_role.
 */

static ngx_int_t
ngx_hoop_pg_startup_policy(ngx_stream_session_t *s, ngx_hoop_pg_ctx_t *ctx)
{
    u_char                  *p, *end;
    ngx_uint_t               i;
    ngx_hoop_pg_param_t     *param;
    ngx_hoop_pg_srv_conf_t  *pscf;

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    if (pscf->policy == NULL) {
        return NGX_OK;
    }

    param = ctx->params->elts;

    for (i = 0; i < ctx->params->nelts; i++) {

        if ((param[i].name.len == 4
             && ngx_strncasecmp(param[i].name.data, (u_char *) "role", 4)
                == 0)
            || (param[i].name.len == 21
                && ngx_strncasecmp(param[i].name.data,
                                   (u_char *) "session_authorization", 21)
                   == 0))
        {
            goto refused;
        }

        if (param[i].name.len == 7
            && ngx_strncmp(param[i].name.data, "options", 7) == 0)
        {
            p = param[i].value.data;
            end = p + param[i].value.len;

            if (ngx_strlcasestrn(p, end, (u_char *) "role", 4 - 1)
                || ngx_strlcasestrn(p, end,
                                    (u_char *) "session_authorization",
                                    21 - 1))
            {
                goto refused;
            }
        }
    }

    return NGX_OK;

refused:

    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "hoop pg: \"%V\": startup parameter \"%V\" would change "
                  "the session's role, refused by the statement policy",
                  &ctx->identity.user, &param[i].name);
    ngx_hoop_pg_audit_auth(s, 0, "role change in startup parameters");
    ngx_hoop_pg_fatal(s, "42501",
                      "startup parameters that change the role are not "
                      "allowed through this gateway",
                      NGX_STREAM_BAD_REQUEST);

    return NGX_ERROR;
}
