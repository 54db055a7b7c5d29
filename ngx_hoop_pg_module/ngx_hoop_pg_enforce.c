
/*
 * Statement policy on the wire.  Every Query, Parse and FunctionCall is
 * held whole and checked (ngx_hoop_pg_policy.c).  A denied one is not
 * answered by the gateway itself: it is replaced by a statement that makes
 * the server raise a syntax error, and that error, recognised by a marker
 * only this session knows, is replaced on its way back by the denial
 * (SQLSTATE 42501).  So the server itself aborts the transaction, skips a
 * pipeline to its Sync and sends the one ReadyForQuery, exactly as for any
 * failed statement: client and server never disagree about the state.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


/* "hoop_denied_" + 16 hex (session id) + "_" + counter */
#define NGX_HOOP_PG_MARKER          "hoop_denied_"
#define NGX_HOOP_PG_MARKER_MAX      (sizeof(NGX_HOOP_PG_MARKER) - 1 + 16 + 1 \
                                     + NGX_INT_T_LEN)

/* denials in flight in one session: more is a client flooding us */
#define NGX_HOOP_PG_MAX_DENIALS     1024

/* server messages inspected whole */
#define NGX_HOOP_PG_MAX_STATUS      8192
#define NGX_HOOP_PG_MAX_ERROR       16384


static size_t ngx_hoop_pg_client_check(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len, ngx_pool_t *tmp);
static size_t ngx_hoop_pg_deny(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len, const char *sqlstate,
    ngx_str_t *message, ngx_pool_t *tmp);
static size_t ngx_hoop_pg_marker(ngx_hoop_pg_ctx_t *ctx, ngx_uint_t n,
    u_char *buf);
static size_t ngx_hoop_pg_rewrite_error(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len);
static void ngx_hoop_pg_parameter_status(ngx_stream_session_t *s,
    u_char *msg, size_t len);


void
ngx_hoop_pg_enforce_init(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    /* until the server says otherwise (it reports both at startup) */
    ctx->std_strings_off = 0;
    ctx->encoding_not_utf8 = 0;
}


ngx_uint_t
ngx_hoop_pg_client_whole(ngx_stream_session_t *s, u_char type, size_t len)
{
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_srv_conf_t  *pscf;

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->mask && ngx_hoop_pg_mask_client_whole(s, type)) {
        return 1;
    }

    return ((pscf->policy != NULL || pscf->audit)
            && (type == 'Q' || type == 'P' || type == 'F'))
           || ngx_hoop_pg_audit_client_whole(s, type, len);
}


size_t
ngx_hoop_pg_client_inspect(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len)
{
    size_t              n;
    ngx_pool_t         *tmp;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (msg[0] != 'Q' && msg[0] != 'P' && msg[0] != 'F') {
        /* Bind, Execute, Sync, Close, Describe: for the audit and the
         * masking (which follows every statement and portal) */
        ngx_hoop_pg_audit_client(s, msg, len);

        return ctx->mask ? ngx_hoop_pg_mask_client_inspect(s, gate, msg, len)
                         : len;
    }

    /*
     * what checking one statement needs lives as long as the check: a
     * session runs millions of statements, its pool must not grow
     */
    tmp = ngx_create_pool(1024, s->connection->log);
    if (tmp == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return 0;
    }

    n = ngx_hoop_pg_client_check(s, gate, msg, len, tmp);

    ngx_destroy_pool(tmp);

    if (n && ctx->mask) {
        /* the message as forwarded (a denial's trigger, maybe) */
        n = ngx_hoop_pg_mask_client_inspect(s, gate, gate->ready, n);
    }

    return n;
}


static size_t
ngx_hoop_pg_client_check(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len, ngx_pool_t *tmp)
{
    u_char                        *p, *end, *sql;
    uint32_t                       oid;
    ngx_int_t                      rc;
    ngx_hoop_pg_ctx_t             *ctx;
    ngx_hoop_pg_verdict_t          v;
    ngx_hoop_pg_srv_conf_t        *pscf;
    ngx_hoop_pg_policy_session_t   ps;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ngx_memzero(&ps, sizeof(ngx_hoop_pg_policy_session_t));
    ngx_memzero(&v, sizeof(ngx_hoop_pg_verdict_t));

    sql = NULL;
    ps.role = ctx->role_name.len ? &ctx->role_name : NULL;
    ps.groups = ctx->identity.groups;
    ps.std_strings_off = ctx->std_strings_off;
    ps.encoding_not_utf8 = ctx->encoding_not_utf8;

    p = msg + 5;
    end = msg + len;

    switch (msg[0]) {

    case 'Q':
        /* query string */
        sql = p;
        p = ngx_strlchr(p, end, '\0');
        break;

    case 'P':
        /* statement name, query string, parameter types */
        p = ngx_strlchr(p, end, '\0');
        if (p == NULL) {
            break;
        }

        sql = ++p;
        p = ngx_strlchr(p, end, '\0');
        break;

    default: /* 'F' */
        if (end - p < 4) {
            p = NULL;
            break;
        }

        oid = ngx_hoop_pg_get_u32(p);

        rc = pscf->policy == NULL
             ? NGX_OK
             : ngx_hoop_pg_policy_check_call(pscf->policy, &ps, oid, tmp,
                                             s->connection->log, &v);
        goto verdict;
    }

    if (p == NULL) {
        ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                      "hoop pg: malformed '%c' message from the client",
                      msg[0]);
        ngx_hoop_pg_fatal(s, "08P01", "malformed message",
                          NGX_STREAM_BAD_REQUEST);
        return 0;
    }

    rc = pscf->policy == NULL
         ? NGX_OK
         : ngx_hoop_pg_policy_check(pscf->policy, &ps, sql, p - sql, tmp,
                                    s->connection->log, &v);

verdict:

    if (rc == NGX_OK) {
        ngx_hoop_pg_audit_statement(s, msg, sql, sql ? p - sql : 0, NULL,
                                    tmp);
        return len;
    }

    if (rc == NGX_HOOP_PG_POLICY_REVIEW) {
        /* held until a human decides: ngx_hoop_pg_review.c */
        return ngx_hoop_pg_review_hold(s, gate, msg, len, sql,
                                       sql ? p - sql : 0, &v, tmp);
    }

    if (rc != NGX_DECLINED) {
        /* the rules could not be evaluated: fail closed */
        ngx_str_set(&v.rule, "(error)");
        ngx_str_set(&v.message,
                    "the gateway could not evaluate its policy");
    }

    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "hoop pg: \"%V\" (role profile \"%V\"): '%c' denied by %V",
                  &ctx->identity.user, &ctx->role_name, msg[0], &v.rule);

    ngx_hoop_pg_audit_statement(s, msg, sql, sql ? p - sql : 0, &v, tmp);

    return ngx_hoop_pg_deny(s, gate, msg, len, "42501", &v.message, tmp);
}


/* for a held statement that is not to run (ngx_hoop_pg_review.c) */

size_t
ngx_hoop_pg_enforce_deny(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len, const char *sqlstate, ngx_str_t *message,
    ngx_pool_t *tmp)
{
    return ngx_hoop_pg_deny(s, gate, msg, len, sqlstate, message, tmp);
}


/*
 * Put the trigger in place of the denied message: a Query (for a Query or
 * a FunctionCall) or a Parse of the same statement name and parameter
 * types, whose text is the session's marker: a syntax error.
 */

static size_t
ngx_hoop_pg_deny(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len, const char *sqlstate, ngx_str_t *message,
    ngx_pool_t *tmp)
{
    u_char                *p, *end, *name, *params, *out, *q;
    size_t                 marker_len, name_len, params_len, out_len;
    ngx_hoop_pg_ctx_t     *ctx;
    ngx_hoop_pg_denial_t  *d;
    u_char                 marker[NGX_HOOP_PG_MARKER_MAX];

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->denials == NULL) {
        ctx->denials = ngx_array_create(s->connection->pool, 4,
                                        sizeof(ngx_hoop_pg_denial_t));
        if (ctx->denials == NULL) {
            ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
            return 0;
        }
    }

    if (ctx->denials->nelts >= NGX_HOOP_PG_MAX_DENIALS) {
        ngx_hoop_pg_fatal(s, "54000", "too many denied statements in flight",
                          NGX_STREAM_BAD_REQUEST);
        return 0;
    }

    d = ngx_array_push(ctx->denials);
    if (d == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return 0;
    }

    d->n = ++ctx->denial_seq;
    d->message = *message;
    d->sqlstate = sqlstate;

    marker_len = ngx_hoop_pg_marker(ctx, d->n, marker);

    name = NULL;
    name_len = 0;
    params = NULL;
    params_len = 0;

    if (msg[0] == 'P') {
        end = msg + len;
        name = msg + 5;
        p = ngx_strlchr(name, end, '\0');          /* checked by caller */
        name_len = p + 1 - name;
        p = ngx_strlchr(p + 1, end, '\0');
        params = p + 1;
        params_len = end - params;

        out_len = 5 + name_len + marker_len + 1 + params_len;

    } else {
        out_len = 5 + marker_len + 1;
    }

    out = ngx_pnalloc(tmp, out_len);
    if (out == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return 0;
    }

    q = ngx_hoop_pg_message_start(out, msg[0] == 'P' ? 'P' : 'Q',
                                  out_len - 5);
    q = ngx_cpymem(q, name, name_len);
    q = ngx_cpymem(q, marker, marker_len);
    *q++ = '\0';
    (void) ngx_cpymem(q, params, params_len);

    if (ngx_hoop_pg_gate_replace(s, gate, msg, len, out, out_len) == NULL) {
        return 0;
    }

    return out_len;
}


static size_t
ngx_hoop_pg_marker(ngx_hoop_pg_ctx_t *ctx, ngx_uint_t n, u_char *buf)
{
    return ngx_sprintf(buf, NGX_HOOP_PG_MARKER "%V_%ui", &ctx->session_id, n)
           - buf;
}


ngx_uint_t
ngx_hoop_pg_server_whole(ngx_stream_session_t *s, u_char type, size_t len)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->mask && ngx_hoop_pg_mask_server_whole(s, type, len)) {
        return 1;
    }

    if (type == 'S') {
        return len <= NGX_HOOP_PG_MAX_STATUS;
    }

    if (type == 'C') {
        /* rows for the audit event of a held statement */
        return len <= NGX_HOOP_PG_MAX_STATUS && ngx_hoop_pg_audit_waits(s);
    }

    return type == 'E' && len <= NGX_HOOP_PG_MAX_ERROR
           && ((ctx->denials && ctx->denials->nelts)
               || ngx_hoop_pg_audit_waits(s));
}


size_t
ngx_hoop_pg_server_inspect(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len)
{
    size_t              n;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (msg[0] == 'S') {
        ngx_hoop_pg_parameter_status(s, msg, len);
        return len;
    }

    if (msg[0] == 'C') {
        ngx_hoop_pg_audit_result(s, msg, len);
        return ctx->mask ? ngx_hoop_pg_mask_server_inspect(s, gate, msg, len)
                         : len;
    }

    if (msg[0] != 'E') {
        /* held for masking only */
        return ngx_hoop_pg_mask_server_inspect(s, gate, msg, len);
    }

    n = ngx_hoop_pg_rewrite_error(s, gate, msg, len);

    if (n) {
        /* the error the client gets, after any rewrite (which may have
           moved the buffer: the message is at gate->ready) */
        ngx_hoop_pg_audit_result(s, gate->ready, n);

        if (ctx->mask) {
            n = ngx_hoop_pg_mask_server_inspect(s, gate, gate->ready, n);
        }
    }

    return n;
}


/*
 * An ErrorResponse while denials are in flight: if it is the syntax error
 * of one of our markers, the client gets the denial instead.
 */

static size_t
ngx_hoop_pg_rewrite_error(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len)
{
    u_char                *p, *end;
    size_t                 prefix_len;
    ngx_int_t              n;
    ngx_str_t              text;
    ngx_buf_t             *err;
    ngx_uint_t             i, j;
    ngx_hoop_pg_msg_t      m;
    ngx_hoop_pg_ctx_t     *ctx;
    ngx_hoop_pg_denial_t  *d;
    u_char                 prefix[NGX_HOOP_PG_MARKER_MAX];

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->denials == NULL || ctx->denials->nelts == 0) {
        return len;
    }

    m.type = 'E';
    m.body = msg + 5;
    m.len = len - 5;

    if (ngx_hoop_pg_error_field(&m, 'M', &text) != NGX_OK) {
        return len;
    }

    prefix_len = ngx_sprintf(prefix, NGX_HOOP_PG_MARKER "%V_",
                             &ctx->session_id) - prefix;

    p = ngx_strlcasestrn(text.data, text.data + text.len, prefix,
                         prefix_len - 1);
    if (p == NULL) {
        return len;
    }

    p += prefix_len;
    end = p;

    while (end < text.data + text.len && *end >= '0' && *end <= '9') {
        end++;
    }

    n = ngx_atoi(p, end - p);

    d = ctx->denials->elts;

    for (i = 0; i < ctx->denials->nelts; i++) {
        if (d[i].n == (ngx_uint_t) n) {
            break;
        }
    }

    if (i == ctx->denials->nelts) {
        return len;
    }

    err = ngx_hoop_pg_error_response(s->connection->pool, "ERROR",
                                     d[i].sqlstate, &d[i].message);
    if (err == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return 0;
    }

    /* this one and any earlier ones (skipped by the server) are done */
    for (j = i + 1; j < ctx->denials->nelts; j++) {
        d[j - i - 1] = d[j];
    }

    ctx->denials->nelts -= i + 1;

    if (ngx_hoop_pg_gate_replace(s, gate, msg, len, err->pos,
                                 err->last - err->pos)
        == NULL)
    {
        return 0;
    }

    return err->last - err->pos;
}


/* the settings a policy depends on: fail closed when they change */

static void
ngx_hoop_pg_parameter_status(ngx_stream_session_t *s, u_char *msg,
    size_t len)
{
    u_char             *name, *value, *end, *p;
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    name = msg + 5;
    end = msg + len;

    p = ngx_strlchr(name, end, '\0');
    if (p == NULL) {
        return;
    }

    value = p + 1;

    if (ngx_strlchr(value, end, '\0') == NULL) {
        return;
    }

    if (ngx_strcmp(name, "standard_conforming_strings") == 0) {
        ctx->std_strings_off = ngx_strcmp(value, "on") != 0;

    } else if (ngx_strcmp(name, "client_encoding") == 0) {
        ctx->encoding_not_utf8 = ngx_strcasecmp(value,
                                                (u_char *) "UTF8") != 0;
    }
}
