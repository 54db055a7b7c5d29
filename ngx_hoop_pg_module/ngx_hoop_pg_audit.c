
/*
 * The Postgres gateway's audit events (ngx_hoop_audit_module.so ships them
 * to Redis): auth.ok, auth.failed, statement, session.close.  Statement
 * text is normalized by default (literals become $1, $2, ...: a password in
 * ALTER ROLE never reaches the audit trail); tokens and secrets never do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include <pg_query.h>
#include "ngx_hoop_pg.h"


#define NGX_HOOP_PG_AUDIT_FIELDS  24


typedef struct {
    ngx_hoop_audit_field_t   field[NGX_HOOP_PG_AUDIT_FIELDS];
    ngx_uint_t               n;
    ngx_pool_t              *pool;
} ngx_hoop_pg_audit_fields_t;


static void ngx_hoop_pg_audit_add(ngx_hoop_pg_audit_fields_t *f,
    const char *name, ngx_str_t *value);
static void ngx_hoop_pg_audit_add_uint(ngx_hoop_pg_audit_fields_t *f,
    const char *name, ngx_uint_t value);
static void ngx_hoop_pg_audit_session(ngx_stream_session_t *s,
    ngx_hoop_pg_audit_fields_t *f);
static void ngx_hoop_pg_audit_send(ngx_stream_session_t *s, const char *type,
    ngx_hoop_pg_audit_fields_t *f);
static ngx_int_t ngx_hoop_pg_audit_hold(ngx_stream_session_t *s,
    ngx_str_t *text, size_t bytes, ngx_hoop_pg_verdict_t *v);


static ngx_uint_t
ngx_hoop_pg_audit_enabled(ngx_stream_session_t *s)
{
    ngx_hoop_pg_srv_conf_t  *pscf;

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    return pscf->audit && ngx_hoop_audit_event != NULL;
}


void
ngx_hoop_pg_audit_auth(ngx_stream_session_t *s, ngx_uint_t ok,
    const char *reason)
{
    ngx_str_t                    r;
    ngx_hoop_pg_audit_fields_t   f;

    if (!ngx_hoop_pg_audit_enabled(s)) {
        return;
    }

    f.n = 0;
    f.pool = s->connection->pool;

    ngx_hoop_pg_audit_session(s, &f);

    if (reason) {
        r.data = (u_char *) reason;
        r.len = ngx_strlen(reason);
        ngx_hoop_pg_audit_add(&f, "reason", &r);
    }

    ngx_hoop_pg_audit_send(s, ok ? "auth.ok" : "auth.failed", &f);
}


/*
 * One statement: sql as the client sent it, the decision and rule.  The
 * text is normalized (literals replaced) unless hoop_pg_audit_text full;
 * a statement that does not parse is recorded by its length only, in
 * normalized mode, since its literals cannot be found.
 */

void
ngx_hoop_pg_audit_statement(ngx_stream_session_t *s, u_char type,
    u_char *sql, size_t len, ngx_hoop_pg_verdict_t *v, ngx_pool_t *pool)
{
    u_char                      *copy;
    ngx_str_t                    text, decision, kind;
    ngx_hoop_pg_srv_conf_t      *pscf;
    PgQueryNormalizeResult       norm;
    ngx_hoop_pg_audit_fields_t   f;

    if (!ngx_hoop_pg_audit_enabled(s)) {
        return;
    }

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    f.n = 0;
    f.pool = pool;

    ngx_hoop_pg_audit_session(s, &f);

    kind.data = (u_char *) (type == 'Q' ? "query"
                            : type == 'P' ? "parse" : "function_call");
    kind.len = ngx_strlen(kind.data);
    ngx_hoop_pg_audit_add(&f, "protocol", &kind);

    ngx_str_null(&text);
    norm.normalized_query = NULL;
    norm.error = NULL;

    if (sql && pscf->audit_text == NGX_HOOP_PG_AUDIT_TEXT_FULL) {
        text.data = sql;
        text.len = len;

    } else if (sql && pscf->audit_text == NGX_HOOP_PG_AUDIT_TEXT_NORMALIZED) {
        copy = ngx_pnalloc(pool, len + 1);

        if (copy) {
            ngx_memcpy(copy, sql, len);
            copy[len] = '\0';

            norm = pg_query_normalize((char *) copy);

            if (norm.error == NULL && norm.normalized_query) {
                text.data = (u_char *) norm.normalized_query;
                text.len = ngx_strlen(norm.normalized_query);
            }
        }
    }

    if (type == 'Q' && ngx_hoop_pg_audit_hold(s, &text, len, v) == NGX_OK) {
        /* sent with rows, duration and error once the server answered */
        goto done;
    }

    ngx_hoop_pg_audit_add(&f, "statement", &text);
    ngx_hoop_pg_audit_add_uint(&f, "statement_bytes", len);

    if (v) {
        ngx_str_set(&decision, "denied");
        ngx_hoop_pg_audit_add(&f, "rule", &v->rule);

    } else {
        ngx_str_set(&decision, "allowed");
    }

    ngx_hoop_pg_audit_add(&f, "decision", &decision);

    ngx_hoop_pg_audit_send(s, "statement", &f);

done:

    /* the event copied the text */
    if (norm.normalized_query || norm.error) {
        pg_query_free_normalize_result(norm);
    }
}


void
ngx_hoop_pg_audit_close(ngx_stream_session_t *s)
{
    ngx_str_t                    reason;
    ngx_time_t                  *tp;
    ngx_hoop_pg_ctx_t           *ctx;
    ngx_stream_upstream_t       *u;
    ngx_hoop_pg_audit_fields_t   f;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    /* only sessions that got as far as a login are worth a close event */
    if (ctx == NULL || !ctx->authenticated || !ngx_hoop_pg_audit_enabled(s))
    {
        return;
    }

    f.n = 0;
    f.pool = s->connection->pool;

    ngx_hoop_pg_audit_session(s, &f);

    ngx_hoop_pg_audit_add_uint(&f, "statements", ctx->statements);
    ngx_hoop_pg_audit_add_uint(&f, "bytes_from_client", s->received);
    ngx_hoop_pg_audit_add_uint(&f, "bytes_to_client", s->connection->sent);

    u = s->upstream;
    if (u) {
        ngx_hoop_pg_audit_add_uint(&f, "bytes_from_server", u->received);
    }

    tp = ngx_timeofday();

    ngx_hoop_pg_audit_add_uint(&f, "duration_ms",
                               (tp->sec - s->start_sec) * 1000
                               + (tp->msec - s->start_msec));

    if (ctx->end_reason) {
        reason.data = (u_char *) ctx->end_reason;
        reason.len = ngx_strlen(ctx->end_reason);
        ngx_hoop_pg_audit_add(&f, "end_reason", &reason);
    }

    ngx_hoop_pg_audit_send(s, "session.close", &f);
}


/* who, from where, to what: in every event of the session */

static void
ngx_hoop_pg_audit_session(ngx_stream_session_t *s,
    ngx_hoop_pg_audit_fields_t *f)
{
    u_char                 *p, *groups;
    size_t                  len;
    ngx_str_t               str, *g;
    ngx_uint_t              i;
    ngx_hoop_pg_ctx_t      *ctx;
    ngx_hoop_identity_t    *id;
    ngx_stream_upstream_t  *u;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    id = &ctx->identity;

    ngx_hoop_pg_audit_add(f, "session_id", &ctx->session_id);
    ngx_hoop_pg_audit_add(f, "client", &s->connection->addr_text);

    if (s->connection->local_sockaddr) {
        str.data = ngx_pnalloc(f->pool, NGX_SOCKADDR_STRLEN);
        if (str.data) {
            str.len = ngx_sock_ntop(s->connection->local_sockaddr,
                                    s->connection->local_socklen, str.data,
                                    NGX_SOCKADDR_STRLEN, 1);
            ngx_hoop_pg_audit_add(f, "server", &str);
        }
    }

    ngx_hoop_pg_audit_add(f, "sub", &id->subject);
    ngx_hoop_pg_audit_add(f, "user", &id->user);
    ngx_hoop_pg_audit_add(f, "email", &id->email);

    if (id->groups && id->groups->nelts) {
        g = id->groups->elts;
        len = 0;

        for (i = 0; i < id->groups->nelts; i++) {
            len += g[i].len + 1;
        }

        groups = ngx_pnalloc(f->pool, len);

        if (groups) {
            p = groups;

            for (i = 0; i < id->groups->nelts; i++) {
                if (i) {
                    *p++ = ',';
                }

                p = ngx_cpymem(p, g[i].data, g[i].len);
            }

            str.data = groups;
            str.len = p - groups;
            ngx_hoop_pg_audit_add(f, "groups", &str);
        }
    }

    ngx_hoop_pg_audit_add(f, "token_id", &ctx->token_id);
    ngx_hoop_pg_audit_add(f, "role", ctx->role_name.len ? &ctx->role_name
                                                        : &ctx->user);
    ngx_hoop_pg_audit_add(f, "database", &ctx->database);

    if (ctx->role) {
        ngx_hoop_pg_audit_add(f, "db_user", &ctx->role->user);
    }

    u = s->upstream;

    if (u && u->peer.name) {
        ngx_hoop_pg_audit_add(f, "upstream", u->peer.name);
    }
}


static void
ngx_hoop_pg_audit_add(ngx_hoop_pg_audit_fields_t *f, const char *name,
    ngx_str_t *value)
{
    if (f->n == NGX_HOOP_PG_AUDIT_FIELDS || value == NULL || value->len == 0)
    {
        return;
    }

    f->field[f->n].name.data = (u_char *) name;
    f->field[f->n].name.len = ngx_strlen(name);
    f->field[f->n].value = *value;
    f->n++;
}


static void
ngx_hoop_pg_audit_add_uint(ngx_hoop_pg_audit_fields_t *f, const char *name,
    ngx_uint_t value)
{
    ngx_str_t  str;

    str.data = ngx_pnalloc(f->pool, NGX_INT_T_LEN);
    if (str.data == NULL) {
        return;
    }

    str.len = ngx_sprintf(str.data, "%ui", value) - str.data;

    ngx_hoop_pg_audit_add(f, name, &str);
}


static void
ngx_hoop_pg_audit_send(ngx_stream_session_t *s, const char *type,
    ngx_hoop_pg_audit_fields_t *f)
{
    ngx_str_t  t;

    t.data = (u_char *) type;
    t.len = ngx_strlen(type);

    /* a lost event is counted and logged by the audit module itself */
    (void) ngx_hoop_audit_event(s->connection->log, &t, f->field, f->n);
}


/*
 * A Query alone in flight keeps its event until its ReadyForQuery, to add
 * the rows, the duration and the error.  With several in flight (a
 * pipelining client) answers cannot be told apart cheaply: the event goes
 * at once, without them.  NGX_OK when held.
 */

static ngx_int_t
ngx_hoop_pg_audit_hold(ngx_stream_session_t *s, ngx_str_t *text,
    size_t bytes, ngx_hoop_pg_verdict_t *v)
{
    ngx_hoop_pg_ctx_t         *ctx;
    ngx_hoop_pg_audit_stmt_t  *st;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->in_flight != 1 || (ctx->stmt && ctx->stmt->pending)) {
        return NGX_DECLINED;
    }

    if (ctx->stmt == NULL) {
        ctx->stmt = ngx_palloc(s->connection->pool,
                               sizeof(ngx_hoop_pg_audit_stmt_t));
        if (ctx->stmt == NULL) {
            return NGX_DECLINED;
        }
    }

    st = ctx->stmt;

    st->text_len = ngx_min(text->len, NGX_HOOP_PG_AUDIT_TEXT_MAX);
    st->truncated = text->len > NGX_HOOP_PG_AUDIT_TEXT_MAX;
    ngx_memcpy(st->text, text->data, st->text_len);
    st->bytes = bytes;
    st->start = ngx_current_msec;
    st->rows = 0;
    st->error[0] = '\0';
    st->denied = (v != NULL);

    if (v) {
        st->rule = v->rule;         /* configuration memory */

    } else {
        ngx_str_null(&st->rule);
    }

    st->pending = 1;

    return NGX_OK;
}


/* is a held statement waiting for CommandComplete/ErrorResponse? */

ngx_uint_t
ngx_hoop_pg_audit_waits(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    return ctx->stmt && ctx->stmt->pending;
}


/* CommandComplete: "SELECT 5", "INSERT 0 3", ...; ErrorResponse: the code */

void
ngx_hoop_pg_audit_result(ngx_stream_session_t *s, u_char *msg, size_t len)
{
    u_char                    *p, *end;
    ngx_int_t                  n;
    ngx_str_t                  code;
    ngx_hoop_pg_msg_t          m;
    ngx_hoop_pg_ctx_t         *ctx;
    ngx_hoop_pg_audit_stmt_t  *st;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    st = ctx->stmt;

    if (st == NULL || !st->pending || len < 6) {
        return;
    }

    if (msg[0] == 'E') {
        m.type = 'E';
        m.body = msg + 5;
        m.len = len - 5;

        if (st->error[0] == '\0'
            && ngx_hoop_pg_error_field(&m, 'C', &code) == NGX_OK
            && code.len == 5)
        {
            ngx_memcpy(st->error, code.data, 5);
            st->error[5] = '\0';
        }

        return;
    }

    /* the tag's last word, when it is a number, counts rows */
    end = msg + len - 1;                    /* the terminating zero */
    p = end;

    while (p > msg + 5 && p[-1] >= '0' && p[-1] <= '9') {
        p--;
    }

    if (p < end && p > msg + 5 && p[-1] == ' ') {
        n = ngx_atoi(p, end - p);

        if (n > 0) {
            st->rows += n;
        }
    }
}


/* its ReadyForQuery: the statement event, complete */

void
ngx_hoop_pg_audit_done(ngx_stream_session_t *s)
{
    ngx_str_t                    text, decision, kind, error, masked;
    ngx_pool_t                  *pool;
    ngx_hoop_pg_ctx_t           *ctx;
    ngx_hoop_pg_audit_stmt_t    *st;
    ngx_hoop_pg_audit_fields_t   f;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    st = ctx->stmt;

    if (st == NULL || !st->pending) {
        return;
    }

    st->pending = 0;

    pool = ngx_create_pool(1024, s->connection->log);
    if (pool == NULL) {
        return;
    }

    f.n = 0;
    f.pool = pool;

    ngx_hoop_pg_audit_session(s, &f);

    ngx_str_set(&kind, "query");
    ngx_hoop_pg_audit_add(&f, "protocol", &kind);

    text.data = st->text;
    text.len = st->text_len;
    ngx_hoop_pg_audit_add(&f, "statement", &text);
    ngx_hoop_pg_audit_add_uint(&f, "statement_bytes", st->bytes);

    if (st->denied) {
        ngx_str_set(&decision, "denied");
        ngx_hoop_pg_audit_add(&f, "rule", &st->rule);

    } else {
        ngx_str_set(&decision, "allowed");
    }

    ngx_hoop_pg_audit_add(&f, "decision", &decision);
    ngx_hoop_pg_audit_add_uint(&f, "rows", st->rows);
    ngx_hoop_pg_audit_add_uint(&f, "duration_ms", ngx_current_msec - st->start);

    if (st->error[0]) {
        error.data = st->error;
        error.len = 5;
        ngx_hoop_pg_audit_add(&f, "error", &error);
    }

    ngx_hoop_pg_mask_audit(s, pool, &masked);
    ngx_hoop_pg_audit_add(&f, "masked", &masked);

    ngx_hoop_pg_audit_send(s, "statement", &f);

    ngx_destroy_pool(pool);
}
