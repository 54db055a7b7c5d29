
/*
 * Reviews in the Postgres gateway (the review itself, in Redis, is
 * ngx_hoop_audit_module's: ngx_hoop_review.h).
 *
 * A statement a hoop_pg_review rule matches is held in the client gate:
 * nothing of it, or after it, goes to the server.  The client is told at
 * once (NoticeResponse with the review's id); the worker goes on serving
 * others.  Approved: the held bytes go to the server unchanged.  Rejected,
 * expired, cancelled or failed: the statement goes through the policy's
 * denial path (the server raises the marker error, the gateway swaps it
 * for the client's error), so a transaction is aborted exactly as
 * PostgreSQL would abort it and a pipeline is skipped to its Sync.
 *
 * The decision is made at Parse for the extended protocol (named or not):
 * a prepared statement, once approved, runs as often as it is executed.
 *
 * A role profile with review= needs a standing approval for its logins
 * (ngx_hoop_review_gate): approved logins pass within the window; others
 * get FATAL 28000 naming the pending review.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_audit.h"
#include "../ngx_hoop_audit_module/ngx_hoop_review.h"


/* how often a held statement looks for a CancelRequest (any worker) */
#define NGX_HOOP_PG_REVIEW_POLL     100
#define NGX_HOOP_PG_REVIEW_ID_MAX   32


typedef enum {
    NGX_HOOP_PG_REVIEW_CANCELLED = 100
} ngx_hoop_pg_review_extra_e;


typedef struct {
    ngx_stream_session_t        *session;
    ngx_hoop_review_t           *rv;
    ngx_event_t                  poll;
    size_t                       len;           /* of the held message */
    ngx_str_t                    rule;          /* configuration memory */
    ngx_msec_t                   timeout;
    size_t                       id_len;
    u_char                       id[NGX_HOOP_PG_REVIEW_ID_MAX];
    unsigned                     notice:1;      /* still to send */
} ngx_hoop_pg_review_ctx_t;


static ngx_hoop_pg_review_ctx_t *ngx_hoop_pg_review_ctx(
    ngx_stream_session_t *s);
static void ngx_hoop_pg_review_cleanup(void *data);
static void ngx_hoop_pg_review_decided(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, ngx_str_t *reason, void *data);
static void ngx_hoop_pg_review_resolve(ngx_hoop_pg_review_ctx_t *rc,
    ngx_uint_t outcome, ngx_str_t *reason);
static void ngx_hoop_pg_review_poll(ngx_event_t *ev);
static void ngx_hoop_pg_review_notice(ngx_hoop_pg_review_ctx_t *rc);
static u_char *ngx_hoop_pg_review_sql(u_char *msg, size_t len,
    size_t *sql_len);
static void ngx_hoop_pg_review_scope(ngx_hoop_pg_ctx_t *ctx,
    ngx_str_t *scope);
static void ngx_hoop_pg_review_granted(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, ngx_str_t *reason, void *data);


static ngx_str_t  ngx_hoop_pg_review_unavailable = ngx_string(
    "this statement needs an approval, but the review service (Redis) is "
    "unreachable: denied");


static ngx_hoop_pg_review_ctx_t *
ngx_hoop_pg_review_ctx(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t         *ctx;
    ngx_pool_cleanup_t        *cln;
    ngx_hoop_pg_review_ctx_t  *rc;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->review) {
        return ctx->review;
    }

    cln = ngx_pool_cleanup_add(s->connection->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    rc = ngx_pcalloc(s->connection->pool, sizeof(ngx_hoop_pg_review_ctx_t));
    if (rc == NULL) {
        return NULL;
    }

    rc->session = s;
    rc->poll.handler = ngx_hoop_pg_review_poll;
    rc->poll.data = rc;
    rc->poll.log = s->connection->log;
    rc->poll.cancelable = 1;

    cln->handler = ngx_hoop_pg_review_cleanup;
    cln->data = rc;

    ctx->review = rc;

    return rc;
}


/* the session ends: a review still waited for is withdrawn */

static void
ngx_hoop_pg_review_cleanup(void *data)
{
    ngx_hoop_pg_review_ctx_t *rc = data;

    ngx_str_t  reason;

    if (rc->poll.timer_set) {
        ngx_del_timer(&rc->poll);
    }

    if (rc->rv) {
        ngx_str_set(&reason, "session closed");
        ngx_hoop_review_withdraw(rc->rv, &reason);
        rc->rv = NULL;
    }
}


/*
 * The statement at msg (the gate's ready) matched review rule v.  Returns
 * its length with the gate held, the length of its denial when no review
 * can be recorded (fail closed), or 0 if the session was finalized.
 */

size_t
ngx_hoop_pg_review_hold(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len, u_char *sql, size_t sql_len,
    ngx_hoop_pg_verdict_t *v, ngx_pool_t *tmp)
{
    ngx_str_t                   *id;
    ngx_hoop_review_t           *rv;
    ngx_hoop_pg_ctx_t           *ctx;
    ngx_hoop_pg_srv_conf_t      *pscf;
    ngx_hoop_pg_review_ctx_t    *rc;
    ngx_hoop_review_request_t    req;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    rc = ngx_hoop_pg_review_ctx(s);
    if (rc == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return 0;
    }

    ngx_memzero(&req, sizeof(ngx_hoop_review_request_t));

    ngx_str_set(&req.kind, "statement");
    ngx_hoop_pg_review_scope(ctx, &req.scope);
    req.identity = &ctx->identity;
    req.session = ctx->session_id;
    req.rule = v->rule;
    req.timeout = v->timeout;

    /* what the approver sees: literals too only with hoop_pg_audit_text full */
    ngx_hoop_pg_audit_text(sql, sql_len,
                           pscf->audit_text == NGX_HOOP_PG_AUDIT_TEXT_FULL
                           ? NGX_HOOP_PG_AUDIT_TEXT_FULL
                           : NGX_HOOP_PG_AUDIT_TEXT_NORMALIZED,
                           tmp, &req.text);

    if (req.text.len == 0) {
        ngx_str_set(&req.text, "(FunctionCall message)");
    }

    rv = (ngx_hoop_review_request && ctx->identity.subject.len)
         ? ngx_hoop_review_request(s->connection->log, &req,
                                   ngx_hoop_pg_review_decided, rc)
         : NULL;

    if (rv == NULL) {
        ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                      "hoop pg: \"%V\": statement needs review (%V) but no "
                      "review could be recorded, denied",
                      &ctx->identity.user, &v->rule);

        ngx_hoop_pg_audit_statement_as(s, msg, sql, sql_len, &v->rule,
                                       "failed", NULL, tmp);

        return ngx_hoop_pg_enforce_deny(s, gate, msg, len, "42501",
                                        &ngx_hoop_pg_review_unavailable, tmp);
    }

    id = ngx_hoop_review_id(rv);

    rc->rv = rv;
    rc->len = len;
    rc->rule = v->rule;
    rc->timeout = v->timeout;
    rc->id_len = ngx_min(id->len, NGX_HOOP_PG_REVIEW_ID_MAX);
    ngx_memcpy(rc->id, id->data, rc->id_len);
    rc->notice = 1;

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "hoop pg: \"%V\": statement held for review %*s (%V)",
                  &ctx->identity.user, rc->id_len, rc->id, &v->rule);

    gate->held = 1;
    ngx_hoop_pg_cancel_hold(s, 1);

    ngx_hoop_pg_review_notice(rc);

    ngx_add_timer(&rc->poll, NGX_HOOP_PG_REVIEW_POLL);

    return len;
}


static void
ngx_hoop_pg_review_decided(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, ngx_str_t *reason, void *data)
{
    ngx_hoop_pg_review_ctx_t *rc = data;

    /* the review is the audit module's again once this returns */
    rc->rv = NULL;

    ngx_hoop_pg_review_resolve(rc, outcome, reason);
}


static void
ngx_hoop_pg_review_poll(ngx_event_t *ev)
{
    ngx_hoop_pg_review_ctx_t *rc = ev->data;

    ngx_str_t  reason;

    if (ngx_hoop_pg_cancel_taken(rc->session)) {
        ngx_str_set(&reason, "cancel");

        if (rc->rv) {
            ngx_hoop_review_withdraw(rc->rv, &reason);
            rc->rv = NULL;
        }

        ngx_hoop_pg_review_resolve(rc, NGX_HOOP_PG_REVIEW_CANCELLED, &reason);
        return;
    }

    ngx_hoop_pg_review_notice(rc);

    ngx_add_timer(ev, NGX_HOOP_PG_REVIEW_POLL);
}


/* the held statement runs, or fails in its place */

static void
ngx_hoop_pg_review_resolve(ngx_hoop_pg_review_ctx_t *rc, ngx_uint_t outcome,
    ngx_str_t *reason)
{
    u_char                *msg, *sql;
    size_t                 n, sql_len;
    ngx_str_t              message, id;
    ngx_pool_t            *tmp;
    const char            *decision, *sqlstate;
    ngx_connection_t      *pc;
    ngx_hoop_pg_ctx_t     *ctx;
    ngx_hoop_pg_gate_t    *gate;
    ngx_stream_session_t  *s;

    s = rc->session;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    gate = &ctx->client_gate;

    if (rc->poll.timer_set) {
        ngx_del_timer(&rc->poll);
    }

    ngx_hoop_pg_cancel_hold(s, 0);

    if (!gate->held) {
        return;
    }

    msg = gate->ready;
    sql = ngx_hoop_pg_review_sql(msg, rc->len, &sql_len);

    id.data = rc->id;
    id.len = rc->id_len;

    tmp = ngx_create_pool(1024, s->connection->log);
    if (tmp == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return;
    }

    if (rc->notice) {
        /* decided before the notice could go: it goes first */
        ngx_hoop_pg_review_notice(rc);
    }

    sqlstate = "42501";
    message.len = 0;

    switch (outcome) {

    case NGX_HOOP_REVIEW_APPROVED:
        decision = "approved";
        break;

    case NGX_HOOP_REVIEW_REJECTED:
        decision = "rejected";
        message.data = ngx_pnalloc(s->connection->pool,
                                   sizeof("statement rejected in review : ")
                                   + id.len + reason->len);
        if (message.data) {
            message.len = ngx_sprintf(message.data,
                                      reason->len
                                      ? "statement rejected in review %V: %V"
                                      : "statement rejected in review %V",
                                      &id, reason)
                          - message.data;
        }
        break;

    case NGX_HOOP_REVIEW_EXPIRED:
        decision = "expired";
        message.data = ngx_pnalloc(s->connection->pool,
                                   sizeof("review  expired: no decision "
                                          "within  ms")
                                   + id.len + NGX_INT_T_LEN);
        if (message.data) {
            message.len = ngx_sprintf(message.data,
                                      "review %V expired: no decision "
                                      "within %M ms", &id, rc->timeout)
                          - message.data;
        }
        break;

    case NGX_HOOP_PG_REVIEW_CANCELLED:
        decision = "cancelled";
        sqlstate = "57014";
        ngx_str_set(&message, "canceling statement due to user request");
        break;

    default: /* NGX_HOOP_REVIEW_FAILED, or anything unexpected */
        decision = "failed";
        message.data = ngx_pnalloc(s->connection->pool,
                                   sizeof("review  failed, denied: ")
                                   + id.len + reason->len);
        if (message.data) {
            message.len = ngx_sprintf(message.data,
                                      "review %V failed, denied: %V",
                                      &id, reason)
                          - message.data;
        }
        break;
    }

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "hoop pg: \"%V\": review %V %s",
                  &ctx->identity.user, &id, decision);

    ngx_hoop_pg_audit_statement_as(s, msg, sql, sql_len, &rc->rule, decision,
                                   &id, tmp);

    if (outcome == NGX_HOOP_REVIEW_APPROVED) {
        n = rc->len;

    } else {
        if (message.len == 0) {
            ngx_str_set(&message, "statement not approved");
        }

        n = ngx_hoop_pg_enforce_deny(s, gate, msg, rc->len, sqlstate,
                                     &message, tmp);
    }

    ngx_destroy_pool(tmp);

    if (n == 0) {
        return;     /* finalized */
    }

    /* the statement (or its stand-in) passes without another look */
    gate->held = 0;
    gate->skip = n;

    if (ngx_hoop_pg_gate_run(s, gate) != NGX_OK) {
        return;
    }

    /* to the server: what is ready now, and reading the client again */
    pc = s->upstream->peer.connection;
    ngx_post_event(pc->write, &ngx_posted_events);
}


/*
 * "held for review": a NoticeResponse put in the server-to-client stream
 * at a message boundary (if a message is passing through just now, the
 * next poll tries again)
 */

static void
ngx_hoop_pg_review_notice(ngx_hoop_pg_review_ctx_t *rc)
{
    ngx_str_t                text, api;
    ngx_buf_t               *b;
    ngx_hoop_pg_ctx_t       *ctx;
    ngx_hoop_pg_gate_t      *sg;
    ngx_stream_session_t    *s;
    ngx_hoop_pg_srv_conf_t  *pscf;

    s = rc->session;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);
    sg = &ctx->server_gate;
    api = pscf->review_api;

    if (!rc->notice || sg->skip || sg->buf == NULL) {
        return;
    }

    text.data = ngx_pnalloc(s->connection->pool,
                            sizeof("statement held for review : approve "
                                   "or reject it through hoop_api "
                                   "(POST /reviews//approve); "
                                   "it fails in  ms otherwise")
                            + 2 * rc->id_len + api.len + NGX_INT_T_LEN);
    if (text.data == NULL) {
        return;
    }

    /* hoop_pg_review_api: where approvers find hoop_api, e.g. /hoop/api */
    text.len = ngx_sprintf(text.data,
                           "statement held for review %*s: approve or "
                           "reject it through hoop_api (POST "
                           "%V%sreviews/%*s/approve); it fails in %M ms "
                           "otherwise",
                           rc->id_len, rc->id, &api,
                           (api.len && api.data[api.len - 1] != '/')
                           ? "/" : "",
                           rc->id_len, rc->id, rc->timeout)
               - text.data;

    b = ngx_hoop_pg_error_response(s->connection->pool, "NOTICE", "00000",
                                   &text);
    if (b == NULL) {
        return;
    }

    b->pos[0] = 'N';

    if (ngx_hoop_pg_gate_replace(s, sg, sg->ready, 0, b->pos,
                                 b->last - b->pos)
        == NULL)
    {
        return;
    }

    sg->ready += b->last - b->pos;
    rc->notice = 0;

    ngx_post_event(s->connection->write, &ngx_posted_events);
}


/* the statement text of a Query or Parse message (checked on arrival) */

static u_char *
ngx_hoop_pg_review_sql(u_char *msg, size_t len, size_t *sql_len)
{
    u_char  *p, *end, *sql;

    *sql_len = 0;
    end = msg + len;
    p = msg + 5;

    if (msg[0] == 'P') {
        p = ngx_strlchr(p, end, '\0');
        if (p == NULL) {
            return NULL;
        }

        p++;

    } else if (msg[0] != 'Q') {
        *sql_len = 0;
        return NULL;
    }

    sql = p;
    p = ngx_strlchr(p, end, '\0');

    *sql_len = p ? (size_t) (p - sql) : 0;

    return p ? sql : NULL;
}


static void
ngx_hoop_pg_review_scope(ngx_hoop_pg_ctx_t *ctx, ngx_str_t *scope)
{
    if (ctx->role_name.len) {
        *scope = ctx->role_name;

    } else {
        ngx_str_set(scope, "default");
    }
}


/*
 * A login to a role profile with review=: NGX_AGAIN while the grant is
 * looked up (ngx_hoop_pg_review_granted continues), NGX_ERROR if the
 * session was refused.
 */

ngx_int_t
ngx_hoop_pg_review_session(ngx_stream_session_t *s)
{
    u_char                     *p;
    ngx_hoop_review_t          *rv;
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_review_ctx_t   *rc;
    ngx_hoop_review_request_t   req;
    u_char                      msg[NGX_MAX_ERROR_STR];

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    rc = ngx_hoop_pg_review_ctx(s);
    if (rc == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    ngx_memzero(&req, sizeof(ngx_hoop_review_request_t));

    ngx_str_set(&req.kind, "session");
    req.scope = ctx->role_name;
    req.identity = &ctx->identity;
    req.session = ctx->session_id;
    req.window = ctx->role->review;

    p = ngx_snprintf(msg, sizeof(msg),
                     "login to role profile \"%V\", database \"%V\"",
                     &ctx->role_name, &ctx->database);
    req.text.data = msg;
    req.text.len = p - msg;

    ngx_str_set(&req.rule, "hoop_pg_role review=");

    rv = ngx_hoop_review_gate
         ? ngx_hoop_review_gate(s->connection->log, &req,
                                ngx_hoop_pg_review_granted, rc)
         : NULL;

    if (rv == NULL) {
        ngx_hoop_pg_review_granted(NULL, NGX_HOOP_REVIEW_FAILED, NULL, rc);
        return NGX_ERROR;
    }

    rc->rv = rv;

    return NGX_AGAIN;
}


static void
ngx_hoop_pg_review_granted(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, ngx_str_t *reason, void *data)
{
    ngx_hoop_pg_review_ctx_t *rc = data;

    u_char                *p;
    ngx_str_t             *id;
    ngx_hoop_pg_ctx_t     *ctx;
    ngx_stream_session_t  *s;
    u_char                 msg[NGX_MAX_ERROR_STR];

    s = rc->session;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    rc->rv = NULL;

    if (outcome == NGX_HOOP_REVIEW_APPROVED) {
        ngx_hoop_pg_login_proceed(s);
        return;
    }

    if (outcome == NGX_HOOP_REVIEW_PENDING) {
        id = ngx_hoop_review_id(rv);
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "access to role profile \"%V\" awaits approval: "
                         "review %V", &ctx->role_name, id);

    } else {
        p = ngx_snprintf(msg, sizeof(msg) - 1,
                         "access to role profile \"%V\" needs an approval, "
                         "but the review service (Redis) is unreachable",
                         &ctx->role_name);
    }

    *p = '\0';

    ngx_log_error(NGX_LOG_INFO, s->connection->log, 0,
                  "hoop pg: \"%V\": %s", &ctx->identity.user, msg);

    ngx_hoop_pg_audit_auth(s, 0, (char *) msg);
    ngx_hoop_pg_fatal(s, "28000", (char *) msg, NGX_STREAM_BAD_REQUEST);
}
