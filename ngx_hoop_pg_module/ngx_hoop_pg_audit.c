
/*
 * The Postgres gateway's audit events (ngx_hoop_audit_module.so ships them
 * to Redis): auth.ok, auth.failed, session.open, session.close, and what
 * they all carry; statement events are ngx_hoop_pg_audit_stmt.c's.
 * Statement text is normalized by default (literals become $1, $2, ...: a
 * password in ALTER ROLE never reaches the audit trail); tokens and secrets
 * never do.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include <pg_query.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_audit.h"
#include "ngx_hoop_pg_text_cache.h"


static ngx_str_t  ngx_hoop_pg_audit_login_token = ngx_string("token");
static ngx_str_t  ngx_hoop_pg_audit_login_pass = ngx_string("passthrough");


ngx_uint_t
ngx_hoop_pg_audit_enabled(ngx_stream_session_t *s)
{
    ngx_hoop_pg_srv_conf_t  *pscf;

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    return pscf->audit && ngx_hoop_audit_event != NULL;
}


/*
 * hoop_audit_required: a session that could not be recorded does not start
 * (Redis unreachable or behind, and the spool full, failing or not set).
 */

ngx_int_t
ngx_hoop_pg_audit_admit(ngx_stream_session_t *s)
{
    ngx_hoop_pg_srv_conf_t  *pscf;

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    if (!pscf->audit || !pscf->audit_required) {
        return NGX_OK;
    }

    if (ngx_hoop_audit_available != NULL
        && ngx_hoop_audit_available() == NGX_OK)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                  "hoop pg: session refused by hoop_audit_required: the "
                  "audit trail can record nothing now (Redis unreachable "
                  "and the spool full, failing or not set)");

    return NGX_DECLINED;
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


/* the relay starts: who, from where, to what, how */

void
ngx_hoop_pg_audit_open(ngx_stream_session_t *s)
{
    ngx_str_t                    tls;
    ngx_hoop_pg_ctx_t           *ctx;
    ngx_hoop_pg_audit_fields_t   f;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (!ngx_hoop_pg_audit_enabled(s)) {
        return;
    }

    f.n = 0;
    f.pool = s->connection->pool;

    ngx_hoop_pg_audit_session(s, &f);

    ngx_str_set(&tls, "off");

#if (NGX_SSL)
    if (s->connection->ssl) {
        tls.data = (u_char *) SSL_get_version(s->connection->ssl->connection);
        tls.len = ngx_strlen(tls.data);
    }
#endif

    ngx_hoop_pg_audit_add(&f, "tls", &tls);
    ngx_hoop_pg_audit_add(&f, "login", ctx->authenticated
                                       ? &ngx_hoop_pg_audit_login_token
                                       : &ngx_hoop_pg_audit_login_pass);

    ngx_hoop_pg_audit_send(s, "session.open", &f);

    ngx_hoop_pg_audit_relay(s);
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

void
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


void
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


void
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


void
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
 * Normalized texts are cached per worker under the statement's number key,
 * so "... WHERE aid = 12345" and "... WHERE aid = 678" are parsed once;
 * an entry is shared that way only when the normalized text kept no number
 * (a type modifier such as varchar(10) is kept, and differs).
 */

#define NGX_HOOP_PG_AUDIT_TEXT_CACHE_ENTRIES  1024
#define NGX_HOOP_PG_AUDIT_TEXT_CACHE_BYTES    (2 * 1024 * 1024)
#define NGX_HOOP_PG_AUDIT_TEXT_CACHE_MAX_KEY  (8 * 1024)

void
ngx_hoop_pg_audit_text(u_char *sql, size_t len, ngx_uint_t mode,
    ngx_pool_t *pool, ngx_str_t *text)
{
    u_char                   *copy, *cached;
    size_t                    cached_len;
    uint32_t                  hash;
    ngx_str_t                 key;
    ngx_int_t                 by_number;
    ngx_hoop_pg_main_conf_t  *pmcf;
    PgQueryNormalizeResult    norm;

    ngx_str_null(text);

    if (sql == NULL || mode == NGX_HOOP_PG_AUDIT_TEXT_NONE) {
        return;
    }

    if (mode == NGX_HOOP_PG_AUDIT_TEXT_FULL) {
        text->data = sql;
        text->len = len;
        return;
    }

    pmcf = ngx_stream_cycle_get_module_main_conf(ngx_cycle,
                                                 ngx_hoop_pg_module);

    if (pmcf->audit_text_cache == NULL) {
        pmcf->audit_text_cache = ngx_hoop_pg_text_cache_create(
                                     NGX_HOOP_PG_AUDIT_TEXT_CACHE_ENTRIES,
                                     NGX_HOOP_PG_AUDIT_TEXT_CACHE_BYTES,
                                     NGX_HOOP_PG_AUDIT_TEXT_CACHE_MAX_KEY,
                                     pool->log);
    }

    key.data = sql;
    key.len = len;
    by_number = ngx_hoop_pg_number_key(&key, pool);
    hash = 0;

    if (pmcf->audit_text_cache) {
        cached = ngx_hoop_pg_text_cache_get(pmcf->audit_text_cache, NULL,
                                            &key, &hash, &cached_len);
        if (cached) {
            ngx_log_debug2(NGX_LOG_DEBUG_STREAM, pool->log, 0,
                           "hoop pg audit: normalized text from the cache "
                           "(%s key, %uz bytes)",
                           by_number == NGX_OK ? "number" : "exact",
                           cached_len);

            text->data = cached_len ? ngx_pnalloc(pool, cached_len) : NULL;

            if (text->data) {
                text->len = cached_len;
                ngx_memcpy(text->data, cached, cached_len);
            }

            return;
        }
    }

    copy = ngx_pnalloc(pool, len + 1);
    if (copy == NULL) {
        return;
    }

    ngx_memcpy(copy, sql, len);
    copy[len] = '\0';

    norm = pg_query_normalize((char *) copy);

    if (norm.error == NULL && norm.normalized_query) {
        text->len = ngx_strlen(norm.normalized_query);
        text->data = ngx_pnalloc(pool, text->len);

        if (text->data) {
            ngx_memcpy(text->data, norm.normalized_query, text->len);

        } else {
            text->len = 0;
        }
    }

    pg_query_free_normalize_result(norm);

    /* what did not parse is not kept: it goes through the parser again */

    if (pmcf->audit_text_cache
        && text->len
        && (by_number != NGX_OK
            || !ngx_hoop_pg_numbers_left(text->data, text->len)))
    {
        ngx_hoop_pg_text_cache_put(pmcf->audit_text_cache, hash, NULL, &key,
                                   text->data, text->len, pool->log);
    }
}
