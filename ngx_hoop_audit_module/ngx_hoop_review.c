
/*
 * The review store: one worker's reviews in Redis (ngx_hoop_review.h).
 *
 * Two connections per worker besides the audit trail's: one for commands
 * (Lua scripts, HMGET), one SUBSCRIBEd to "hoop:review:decided".  A
 * decision is a script run by whoever decides (hoop_api on any gateway);
 * it PUBLISHes the review id, and the worker waiting for that id reads the
 * outcome from the hash.  Messages sent while our subscriber was away are
 * lost, so every (re)subscription re-reads the state of every review this
 * worker waits for, and so does a sweep every 5 seconds (a safety net).
 * A subscriber away for longer than a grace period fails the waiting
 * reviews (fail closed).
 *
 * A review's memory is its own pool, freed once the caller is done with it
 * (handler called or withdrawn) and no command holding it is in flight.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <openssl/rand.h>
#include "ngx_hoop_review_int.h"


typedef struct {
    ngx_hoop_audit_conf_t      *conf;
    ngx_hoop_redis_t           *cmd;
    ngx_hoop_redis_t           *sub;
    ngx_log_t                  *log;
    ngx_str_t                   gateway;

    ngx_queue_t                 waiting;    /* request() reviews */
    ngx_uint_t                  nwaiting;

    ngx_event_t                 lost;       /* the subscriber's grace */
    ngx_event_t                 sweep;      /* re-reads what we wait for */

    unsigned                    subscribed:1;
    unsigned                    exiting:1;
} ngx_hoop_review_store_t;


struct ngx_hoop_review_s {
    ngx_queue_t                 queue;      /* in store->waiting */
    ngx_pool_t                 *pool;
    ngx_hoop_review_store_t    *store;

    ngx_str_t                   id;
    u_char                      id_data[NGX_HOOP_REVIEW_ID_LEN];

    /* for the events this module records about the review later */
    ngx_str_t                   kind;
    ngx_str_t                   scope;
    ngx_str_t                   sub;
    ngx_str_t                   user;
    ngx_str_t                   session;
    ngx_str_t                   email;
    ngx_str_t                   text;
    ngx_str_t                   rule;
    ngx_msec_t                  expires;
    ngx_msec_t                  started;    /* ngx_current_msec */

    ngx_hoop_review_handler_pt  handler;
    void                       *data;

    ngx_uint_t                  refs;       /* commands in flight */
    ngx_event_t                 timer;      /* request(): the timeout */

    unsigned                    gate:1;
    unsigned                    done:1;     /* the caller is done with it */
    unsigned                    queued:1;
    unsigned                    expiring:1;
};


static ngx_hoop_review_t *ngx_hoop_review_start(ngx_log_t *log,
    ngx_hoop_review_request_t *req, ngx_hoop_review_handler_pt handler,
    void *data, ngx_uint_t gate);
static ngx_hoop_review_store_t *ngx_hoop_review_store(void);
static ngx_int_t ngx_hoop_review_valid(ngx_log_t *log,
    ngx_hoop_review_request_t *req);
static ngx_int_t ngx_hoop_review_copy(ngx_pool_t *pool, ngx_str_t *dst,
    ngx_str_t *src);
static void ngx_hoop_review_new_id(u_char *id);
static void ngx_hoop_review_created(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_hoop_review_timeout(ngx_event_t *ev);
static void ngx_hoop_review_expired(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_hoop_review_withdrawn(ngx_hoop_redis_t *rd,
    redisReply *reply, void *data);
static ngx_int_t ngx_hoop_review_decide(ngx_hoop_review_t *rv,
    const char *state, ngx_str_t *reason, ngx_hoop_redis_reply_pt handler);
static void ngx_hoop_review_read_state(ngx_hoop_review_t *rv);
static void ngx_hoop_review_state(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_hoop_review_outcome(ngx_hoop_review_t *rv, redisReply *state,
    redisReply *comment);
static void ngx_hoop_review_finish(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, const char *reason, size_t len);
static void ngx_hoop_review_release(ngx_hoop_review_t *rv);
static void ngx_hoop_review_audit(ngx_hoop_review_t *rv, ngx_log_t *log,
    const char *type, const char *state, ngx_str_t *reason,
    ngx_uint_t requested);

static void ngx_hoop_review_cmd_ready(ngx_hoop_redis_t *rd, void *data);
static void ngx_hoop_review_cmd_down(ngx_hoop_redis_t *rd, void *data);
static void ngx_hoop_review_sub_ready(ngx_hoop_redis_t *rd, void *data);
static void ngx_hoop_review_sub_down(ngx_hoop_redis_t *rd, void *data);
static void ngx_hoop_review_message(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_hoop_review_lost(ngx_event_t *ev);
static void ngx_hoop_review_sweep(ngx_event_t *ev);

static ngx_int_t ngx_hoop_review_str(redisReply *r, ngx_str_t *s);


static ngx_str_t  ngx_hoop_review_kinds[] = {
    ngx_string("statement"),
    ngx_string("session"),
    ngx_string("http"),
    ngx_null_string
};


ngx_int_t
ngx_hoop_review_init_process(ngx_cycle_t *cycle, ngx_hoop_audit_conf_t *acf)
{
    ngx_hoop_review_store_t  *st;

    st = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_review_store_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    st->conf = acf;
    st->log = cycle->log;
    st->gateway = cycle->hostname;
    ngx_queue_init(&st->waiting);

    st->lost.handler = ngx_hoop_review_lost;
    st->lost.data = st;
    st->lost.log = cycle->log;
    st->lost.cancelable = 1;

    st->sweep.handler = ngx_hoop_review_sweep;
    st->sweep.data = st;
    st->sweep.log = cycle->log;
    st->sweep.cancelable = 1;

    ngx_add_timer(&st->sweep, NGX_HOOP_REVIEW_SWEEP);

    st->cmd = ngx_hoop_redis_create(acf->redis, cycle->pool, cycle->log,
                                    ngx_hoop_review_cmd_ready,
                                    ngx_hoop_review_cmd_down, st);
    st->sub = ngx_hoop_redis_create(acf->redis, cycle->pool, cycle->log,
                                    ngx_hoop_review_sub_ready,
                                    ngx_hoop_review_sub_down, st);

    if (st->cmd == NULL || st->sub == NULL) {
        return NGX_ERROR;
    }

    acf->reviews = st;

    ngx_hoop_redis_connect(st->cmd);
    ngx_hoop_redis_connect(st->sub);

    return NGX_OK;
}


void
ngx_hoop_review_exit_process(ngx_hoop_audit_conf_t *acf)
{
    ngx_hoop_review_store_t  *st = acf->reviews;

    if (st == NULL) {
        return;
    }

    /* callers are going away with the worker: no handler runs now */
    st->exiting = 1;

    if (st->lost.timer_set) {
        ngx_del_timer(&st->lost);
    }

    if (st->sweep.timer_set) {
        ngx_del_timer(&st->sweep);
    }

    ngx_hoop_redis_close(st->sub);
    ngx_hoop_redis_close(st->cmd);
}


static ngx_hoop_review_store_t *
ngx_hoop_review_store(void)
{
    ngx_hoop_audit_conf_t  *acf;

    acf = ngx_hoop_audit_conf((ngx_cycle_t *) ngx_cycle);

    if (acf == NULL || acf->reviews == NULL) {
        return NULL;
    }

    return acf->reviews;
}


ngx_int_t
ngx_hoop_review_command(int argc, const char **argv, const size_t *argvlen,
    ngx_hoop_redis_reply_pt handler, void *data)
{
    ngx_hoop_review_store_t  *st;

    st = ngx_hoop_review_store();

    if (st == NULL || st->exiting) {
        return NGX_DECLINED;
    }

    return ngx_hoop_redis_command(st->cmd, argc, argv, argvlen, handler,
                                  data);
}


ngx_hoop_review_t *
ngx_hoop_review_request(ngx_log_t *log, ngx_hoop_review_request_t *req,
    ngx_hoop_review_handler_pt handler, void *data)
{
    return ngx_hoop_review_start(log, req, handler, data, 0);
}


ngx_hoop_review_t *
ngx_hoop_review_gate(ngx_log_t *log, ngx_hoop_review_request_t *req,
    ngx_hoop_review_handler_pt handler, void *data)
{
    return ngx_hoop_review_start(log, req, handler, data, 1);
}


ngx_str_t *
ngx_hoop_review_id(ngx_hoop_review_t *rv)
{
    return &rv->id;
}


#define NGX_HOOP_REVIEW_ARGS  48

static ngx_hoop_review_t *
ngx_hoop_review_start(ngx_log_t *log, ngx_hoop_review_request_t *req,
    ngx_hoop_review_handler_pt handler, void *data, ngx_uint_t gate)
{
    int                        argc;
    u_char                    *p, *groups;
    size_t                     len, groups_len,
                               argvlen[NGX_HOOP_REVIEW_ARGS];
    time_t                     window;
    ngx_str_t                  text, *g;
    ngx_msec_t                 now, timeout, expires;
    ngx_uint_t                 i;
    ngx_pool_t                *pool;
    const char                *argv[NGX_HOOP_REVIEW_ARGS];
    ngx_hoop_review_t         *rv;
    ngx_hoop_identity_t       *id;
    ngx_hoop_review_store_t   *st;
    u_char                     now_text[NGX_INT64_LEN];
    u_char                     ret_text[NGX_INT64_LEN];
    u_char                     to_text[NGX_INT64_LEN];
    u_char                     exp_text[NGX_INT64_LEN];
    u_char                     win_text[NGX_INT64_LEN];
    u_char                     key[sizeof(NGX_HOOP_REVIEW_KEY)
                                   + NGX_HOOP_REVIEW_ID_LEN];

    st = ngx_hoop_review_store();

    if (st == NULL || st->exiting || !ngx_hoop_redis_ready(st->cmd)) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop review: the review store is not connected");
        return NULL;
    }

    if (ngx_hoop_review_valid(log, req) != NGX_OK) {
        return NULL;
    }

    if (!gate && st->nwaiting >= NGX_HOOP_REVIEW_MAX_WAITING) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop review: %d reviews already wait in this worker",
                      NGX_HOOP_REVIEW_MAX_WAITING);
        return NULL;
    }

    pool = ngx_create_pool(1024, st->log);
    if (pool == NULL) {
        return NULL;
    }

    rv = ngx_pcalloc(pool, sizeof(ngx_hoop_review_t));
    if (rv == NULL) {
        goto failed;
    }

    id = req->identity;

    rv->pool = pool;
    rv->store = st;
    rv->started = ngx_current_msec;
    rv->handler = handler;
    rv->data = data;
    rv->gate = gate;

    if (ngx_hoop_review_copy(pool, &rv->kind, &req->kind) != NGX_OK
        || ngx_hoop_review_copy(pool, &rv->scope, &req->scope) != NGX_OK
        || ngx_hoop_review_copy(pool, &rv->sub, &id->subject) != NGX_OK
        || ngx_hoop_review_copy(pool, &rv->user, &id->user) != NGX_OK
        || ngx_hoop_review_copy(pool, &rv->session, &req->session) != NGX_OK
        || ngx_hoop_review_copy(pool, &rv->email, &id->email) != NGX_OK
        || ngx_hoop_review_copy(pool, &rv->rule, &req->rule) != NGX_OK)
    {
        goto failed;
    }

    ngx_hoop_review_new_id(rv->id_data);
    rv->id.data = rv->id_data;
    rv->id.len = NGX_HOOP_REVIEW_ID_LEN;

    /* the groups, comma-separated as in the audit events */

    len = 0;
    g = NULL;

    if (id->groups) {
        g = id->groups->elts;

        for (i = 0; i < id->groups->nelts; i++) {
            len += g[i].len + 1;
        }
    }

    groups = ngx_pnalloc(pool, len + 1);
    if (groups == NULL) {
        goto failed;
    }

    p = groups;

    for (i = 0; g && i < id->groups->nelts; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, g[i].data, g[i].len);
    }

    groups_len = p - groups;

    text = req->text;

    if (text.len > NGX_HOOP_REVIEW_MAX_TEXT) {
        text.len = NGX_HOOP_REVIEW_MAX_TEXT;
    }

    if (ngx_hoop_review_copy(pool, &rv->text, &text) != NGX_OK) {
        goto failed;
    }

    timeout = req->timeout ? req->timeout : st->conf->review_timeout;
    window = req->window ? req->window : st->conf->review_window;

    if (!gate && req->kind.len == sizeof("statement") - 1) {
        window = 0;     /* a statement review grants nothing afterwards */
    }

    now = ngx_hoop_review_now();
    expires = now + timeout;
    rv->expires = expires;

    argc = 0;

#define ARG(s, l)  argv[argc] = (const char *) (s); argvlen[argc++] = (l)
#define ARGS(str)  ARG((str)->data, (str)->len)
#define ARGL(lit)  ARG(lit, sizeof(lit) - 1)
#define ARGN(buf, fmt, v)                                                     \
    ARG(buf, ngx_sprintf(buf, fmt, v) - (buf))

    ARGL("EVAL");
    ARGS(&ngx_hoop_review_lua_create);
    ARGL("5");

    p = ngx_cpymem(key, NGX_HOOP_REVIEW_KEY, sizeof(NGX_HOOP_REVIEW_KEY) - 1);
    p = ngx_cpymem(p, rv->id.data, rv->id.len);
    ARG(key, p - key);
    ARGL(NGX_HOOP_REVIEW_INDEX);
    ARGL(NGX_HOOP_REVIEW_PENDING_INDEX);

    /* hoop:grant:<kind>:<scope>:<sub>, hoop:review:gate:<...> */

    len = sizeof("hoop:review:gate:::") - 1 + rv->kind.len + rv->scope.len
          + rv->sub.len;

    p = ngx_pnalloc(pool, 2 * len);
    if (p == NULL) {
        goto failed;
    }

    ARG(p, ngx_sprintf(p, "hoop:grant:%V:%V:%V", &rv->kind, &rv->scope,
                       &rv->sub) - p);
    p += len;
    ARG(p, ngx_sprintf(p, "hoop:review:gate:%V:%V:%V", &rv->kind, &rv->scope,
                       &rv->sub) - p);

    ARGS(&rv->id);
    ARGN(now_text, "%M", now);
    ARGN(ret_text, "%T", st->conf->review_retention);

    if (gate) {
        ARGL("gate");
    } else {
        ARGL("request");
    }

    ARGN(to_text, "%M", timeout);

    ARGL("kind");       ARGS(&rv->kind);
    ARGL("scope");      ARGS(&rv->scope);
    ARGL("sub");        ARGS(&rv->sub);
    ARGL("user");       ARGS(&rv->user);
    ARGL("email");      ARGS(&id->email);
    ARGL("groups");     ARG(groups, groups_len);
    ARGL("session_id"); ARGS(&rv->session);
    ARGL("text");       ARGS(&text);
    ARGL("rule");       ARGS(&req->rule);
    ARGL("expires");    ARGN(exp_text, "%M", expires);
    ARGL("window");     ARGN(win_text, "%T", window);
    ARGL("gateway");    ARGS(&st->gateway);

#undef ARG
#undef ARGS
#undef ARGL
#undef ARGN

    if (ngx_hoop_redis_command(st->cmd, argc, argv, argvlen,
                               ngx_hoop_review_created, rv)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop review: cannot send the review to Redis");
        goto failed;
    }

    rv->refs++;

    if (!gate) {
        ngx_queue_insert_tail(&st->waiting, &rv->queue);
        st->nwaiting++;
        rv->queued = 1;

        rv->timer.handler = ngx_hoop_review_timeout;
        rv->timer.data = rv;
        rv->timer.log = st->log;
        rv->timer.cancelable = 1;

        ngx_add_timer(&rv->timer, timeout);

        ngx_hoop_review_audit(rv, log, "review.requested", "pending", NULL,
                              1);
    }

    ngx_log_debug3(NGX_LOG_DEBUG_CORE, log, 0,
                   "hoop review: %s %V for \"%V\"",
                   gate ? "gate" : "request", &rv->id, &rv->scope);

    return rv;

failed:

    ngx_destroy_pool(pool);
    return NULL;
}


static ngx_int_t
ngx_hoop_review_valid(ngx_log_t *log, ngx_hoop_review_request_t *req)
{
    u_char      c;
    ngx_str_t  *k;
    ngx_uint_t  i;

    if (req->identity == NULL || req->identity->subject.len == 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop review: a review needs an identity");
        return NGX_ERROR;
    }

    for (k = ngx_hoop_review_kinds; k->len; k++) {
        if (k->len == req->kind.len
            && ngx_strncmp(k->data, req->kind.data, k->len) == 0)
        {
            break;
        }
    }

    if (k->len == 0) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "hoop review: unknown kind \"%V\"", &req->kind);
        return NGX_ERROR;
    }

    if (req->scope.len == 0 || req->scope.len > NGX_HOOP_REVIEW_MAX_SCOPE) {
        goto bad_scope;
    }

    for (i = 0; i < req->scope.len; i++) {
        c = req->scope.data[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9')
            || c == '_' || c == '.' || c == '/' || c == '-')
        {
            continue;
        }

        goto bad_scope;
    }

    return NGX_OK;

bad_scope:

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "hoop review: invalid scope \"%V\"", &req->scope);
    return NGX_ERROR;
}


static ngx_int_t
ngx_hoop_review_copy(ngx_pool_t *pool, ngx_str_t *dst, ngx_str_t *src)
{
    dst->len = src->len;

    if (src->len == 0) {
        dst->data = (u_char *) "";
        return NGX_OK;
    }

    dst->data = ngx_pstrdup(pool, src);

    return dst->data ? NGX_OK : NGX_ERROR;
}


/* 12 random bytes as 16 base64url characters */

static void
ngx_hoop_review_new_id(u_char *id)
{
    static const u_char  b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    u_char      r[12];
    uint32_t    v;
    ngx_uint_t  i, j;

    if (RAND_bytes(r, sizeof(r)) != 1) {
        /* unique enough as an id; ids are not secrets */
        for (i = 0; i < sizeof(r); i++) {
            r[i] = (u_char) (ngx_random() ^ ngx_pid);
        }
    }

    for (i = 0, j = 0; i < sizeof(r); i += 3) {
        v = (r[i] << 16) | (r[i + 1] << 8) | r[i + 2];
        id[j++] = b64[(v >> 18) & 0x3f];
        id[j++] = b64[(v >> 12) & 0x3f];
        id[j++] = b64[(v >> 6) & 0x3f];
        id[j++] = b64[v & 0x3f];
    }
}


ngx_uint_t
ngx_hoop_review_valid_id(ngx_str_t *id)
{
    u_char      c;
    ngx_uint_t  i;

    if (id->len != NGX_HOOP_REVIEW_ID_LEN) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        {
            return 0;
        }
    }

    return 1;
}


static void
ngx_hoop_review_created(ngx_hoop_redis_t *rd, redisReply *reply, void *data)
{
    ngx_hoop_review_t  *rv = data;

    ngx_str_t                 what, id;
    ngx_hoop_review_store_t  *st;

    st = rv->store;
    rv->refs--;

    if (rv->done || st->exiting) {
        ngx_hoop_review_release(rv);
        return;
    }

    if (reply == NULL
        || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || ngx_hoop_review_str(reply->element[0], &what) != NGX_OK
        || ngx_hoop_review_str(reply->element[1], &id) != NGX_OK)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, st->log, 0,
                          "hoop review: Redis refused review %V: %*s",
                          &rv->id, (size_t) reply->len, reply->str);
        }

        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_FAILED,
                               "the review could not be recorded", 0);
        return;
    }

    if (what.len == 7 && ngx_strncmp(what.data, "granted", 7) == 0) {
        rv->id.len = 0;
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_APPROVED, "", 0);
        return;
    }

    if (what.len == 7 && ngx_strncmp(what.data, "pending", 7) == 0) {
        if (!ngx_hoop_review_valid_id(&id)) {
            ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_FAILED,
                                   "the review store holds a bad id", 0);
            return;
        }

        ngx_memcpy(rv->id_data, id.data, id.len);
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_PENDING, "", 0);
        return;
    }

    /* "created" */

    if (rv->gate) {
        ngx_hoop_review_audit(rv, st->log, "review.requested", "pending",
                              NULL, 1);
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_PENDING, "", 0);
        return;
    }

    /* a decision may have come before the subscriber saw the review */

    if (!st->subscribed) {
        ngx_hoop_review_read_state(rv);
    }
}


static void
ngx_hoop_review_timeout(ngx_event_t *ev)
{
    ngx_hoop_review_t  *rv = ev->data;

    if (rv->done) {
        return;
    }

    rv->expiring = 1;

    /* Redis decides: an approval may have won the race */

    if (ngx_hoop_review_decide(rv, "expired", NULL, ngx_hoop_review_expired)
        != NGX_OK)
    {
        ngx_hoop_review_audit(rv, rv->store->log, "review.decided",
                              "expired", NULL, 0);
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_EXPIRED,
                               "the review timed out", 0);
    }
}


static void
ngx_hoop_review_expired(ngx_hoop_redis_t *rd, redisReply *reply, void *data)
{
    ngx_hoop_review_t  *rv = data;

    ngx_str_t  what;

    rv->refs--;

    if (rv->done || rv->store->exiting) {
        ngx_hoop_review_release(rv);
        return;
    }

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2
        && ngx_hoop_review_str(reply->element[0], &what) == NGX_OK
        && what.len == 8 && ngx_strncmp(what.data, "conflict", 8) == 0)
    {
        /* decided meanwhile: that decision stands */
        ngx_hoop_review_outcome(rv, reply->element[1],
                                reply->elements > 2 ? reply->element[2]
                                                    : NULL);
        if (rv->done) {
            return;
        }
    }

    ngx_hoop_review_audit(rv, rv->store->log, "review.decided", "expired",
                          NULL, 0);
    ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_EXPIRED,
                           "the review timed out", 0);
}


void
ngx_hoop_review_withdraw(ngx_hoop_review_t *rv, ngx_str_t *reason)
{
    ngx_str_t  none = ngx_null_string;

    if (rv == NULL || rv->done) {
        return;
    }

    if (reason == NULL) {
        reason = &none;
    }

    rv->done = 1;

    if (rv->queued) {
        ngx_queue_remove(&rv->queue);
        rv->store->nwaiting--;
        rv->queued = 0;
    }

    if (rv->timer.timer_set) {
        ngx_del_timer(&rv->timer);
    }

    if (!rv->gate) {
        ngx_hoop_review_audit(rv, rv->store->log, "review.decided",
                              "withdrawn", reason, 0);

        /* best effort: an unmarked review expires in Redis by itself */
        (void) ngx_hoop_review_decide(rv, "withdrawn", reason,
                                      ngx_hoop_review_withdrawn);
    }

    ngx_hoop_review_release(rv);
}


static void
ngx_hoop_review_withdrawn(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_hoop_review_t  *rv = data;

    rv->refs--;
    ngx_hoop_review_release(rv);
}


/* the decide script for the gateway's own transitions (no approver) */

static ngx_int_t
ngx_hoop_review_decide(ngx_hoop_review_t *rv, const char *state,
    ngx_str_t *reason, ngx_hoop_redis_reply_pt handler)
{
    u_char       now[NGX_INT64_LEN];
    u_char       key[sizeof(NGX_HOOP_REVIEW_KEY) + NGX_HOOP_REVIEW_ID_LEN];
    size_t       argvlen[13];
    const char  *argv[13];

    if (rv->store->exiting || !ngx_hoop_redis_ready(rv->store->cmd)) {
        return NGX_DECLINED;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = (const char *) ngx_hoop_review_lua_decide.data;
    argvlen[1] = ngx_hoop_review_lua_decide.len;
    argv[2] = "2";
    argvlen[2] = 1;
    argv[3] = (const char *) key;
    argvlen[3] = ngx_sprintf(key, NGX_HOOP_REVIEW_KEY "%V", &rv->id) - key;
    argv[4] = NGX_HOOP_REVIEW_PENDING_INDEX;
    argvlen[4] = sizeof(NGX_HOOP_REVIEW_PENDING_INDEX) - 1;
    argv[5] = (const char *) rv->id.data;
    argvlen[5] = rv->id.len;
    argv[6] = state;
    argvlen[6] = ngx_strlen(state);
    argv[7] = (const char *) now;
    argvlen[7] = ngx_sprintf(now, "%M", ngx_hoop_review_now()) - now;
    argv[8] = "";
    argvlen[8] = 0;
    argv[9] = "0";
    argvlen[9] = 1;
    argv[10] = reason ? (const char *) reason->data : "";
    argvlen[10] = reason ? reason->len : 0;
    argv[11] = "";
    argvlen[11] = 0;
    argv[12] = "";
    argvlen[12] = 0;

    if (ngx_hoop_redis_command(rv->store->cmd, 13, argv, argvlen, handler,
                               rv)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    rv->refs++;

    return NGX_OK;
}


static void
ngx_hoop_review_read_state(ngx_hoop_review_t *rv)
{
    u_char       key[sizeof(NGX_HOOP_REVIEW_KEY) + NGX_HOOP_REVIEW_ID_LEN];
    size_t       argvlen[4];
    const char  *argv[4];

    if (rv->done || rv->store->exiting) {
        return;
    }

    argv[0] = "HMGET";
    argvlen[0] = 5;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_sprintf(key, NGX_HOOP_REVIEW_KEY "%V", &rv->id) - key;
    argv[2] = "state";
    argvlen[2] = 5;
    argv[3] = "comment";
    argvlen[3] = 7;

    if (ngx_hoop_redis_command(rv->store->cmd, 4, argv, argvlen,
                               ngx_hoop_review_state, rv)
        == NGX_OK)
    {
        rv->refs++;
    }
}


static void
ngx_hoop_review_state(ngx_hoop_redis_t *rd, redisReply *reply, void *data)
{
    ngx_hoop_review_t  *rv = data;

    rv->refs--;

    if (rv->done || rv->store->exiting) {
        ngx_hoop_review_release(rv);
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2)
    {
        /* Redis went away: the subscriber's grace decides */
        return;
    }

    ngx_hoop_review_outcome(rv, reply->element[0], reply->element[1]);
}


/* a state read from Redis: finish the review unless it is still pending */

static void
ngx_hoop_review_outcome(ngx_hoop_review_t *rv, redisReply *state,
    redisReply *comment)
{
    ngx_str_t  s, c;

    if (ngx_hoop_review_str(state, &s) != NGX_OK) {
        return;
    }

    if (comment == NULL || ngx_hoop_review_str(comment, &c) != NGX_OK) {
        ngx_str_null(&c);
    }

    if (s.len == 8 && ngx_strncmp(s.data, "approved", 8) == 0) {
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_APPROVED, "", 0);

    } else if (s.len == 8 && ngx_strncmp(s.data, "rejected", 8) == 0) {
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_REJECTED,
                               (const char *) c.data, c.len);

    } else if (s.len == 7 && ngx_strncmp(s.data, "expired", 7) == 0) {
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_EXPIRED,
                               "the review timed out", 0);

    } else if (s.len == 9 && ngx_strncmp(s.data, "withdrawn", 9) == 0) {
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_FAILED,
                               "the review was withdrawn", 0);
    }
}


static void
ngx_hoop_review_finish(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, const char *reason, size_t len)
{
    ngx_str_t  text;

    if (rv->done) {
        return;
    }

    rv->done = 1;

    if (rv->queued) {
        ngx_queue_remove(&rv->queue);
        rv->store->nwaiting--;
        rv->queued = 0;
    }

    if (rv->timer.timer_set) {
        ngx_del_timer(&rv->timer);
    }

    /* reason: NUL-terminated, or len bytes (a comment from Redis) */
    text.data = (u_char *) (reason ? reason : "");
    text.len = len ? len : ngx_strlen(text.data);

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, rv->store->log, 0,
                   "hoop review: %V outcome %d", &rv->id, (int) outcome);

    rv->handler(rv, outcome, &text, rv->data);

    ngx_hoop_review_release(rv);
}


static void
ngx_hoop_review_release(ngx_hoop_review_t *rv)
{
    if (rv->done && rv->refs == 0) {
        ngx_destroy_pool(rv->pool);
    }
}


/* --- the connections ----------------------------------------------------- */


static void
ngx_hoop_review_cmd_ready(ngx_hoop_redis_t *rd, void *data)
{
}


static void
ngx_hoop_review_cmd_down(ngx_hoop_redis_t *rd, void *data)
{
    /* commands in flight got NULL replies; new reviews fail closed */
}


static void
ngx_hoop_review_sub_ready(ngx_hoop_redis_t *rd, void *data)
{
    ngx_hoop_review_store_t  *st = data;

    ngx_str_t  channel = ngx_string(NGX_HOOP_REVIEW_DECIDED);

    if (ngx_hoop_redis_subscribe(rd, &channel, ngx_hoop_review_message, st)
        != NGX_OK)
    {
        ngx_hoop_redis_drop(rd, "SUBSCRIBE failed");
        return;
    }

    /*
     * hiredis drops an error reply to SUBSCRIBE (NOPERM, say) silently:
     * without the confirmation in time, the grace timer gives up on this
     * connection
     */
    if (!st->lost.timer_set && !st->exiting) {
        ngx_add_timer(&st->lost, NGX_HOOP_REVIEW_LOST_GRACE);
    }
}


static void
ngx_hoop_review_sub_down(ngx_hoop_redis_t *rd, void *data)
{
    ngx_hoop_review_store_t  *st = data;

    st->subscribed = 0;

    if (!st->lost.timer_set && !st->exiting) {
        ngx_add_timer(&st->lost, NGX_HOOP_REVIEW_LOST_GRACE);
    }
}


static void
ngx_hoop_review_lost(ngx_event_t *ev)
{
    ngx_hoop_review_store_t  *st = ev->data;

    ngx_queue_t        *q;
    ngx_hoop_review_t  *rv;

    if (st->subscribed || st->exiting) {
        return;
    }

    if (ngx_hoop_redis_ready(st->sub)) {
        ngx_hoop_redis_drop(st->sub, "no SUBSCRIBE confirmation");
    }

    if (ngx_queue_empty(&st->waiting)) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, st->log, 0,
                  "hoop review: Redis unreachable for %d ms, failing %ui "
                  "waiting reviews", NGX_HOOP_REVIEW_LOST_GRACE,
                  st->nwaiting);

    while (!ngx_queue_empty(&st->waiting)) {
        q = ngx_queue_head(&st->waiting);
        rv = ngx_queue_data(q, ngx_hoop_review_t, queue);

        ngx_hoop_review_audit(rv, st->log, "review.decided", "failed",
                              NULL, 0);
        ngx_hoop_review_finish(rv, NGX_HOOP_REVIEW_FAILED,
                               "the review store is unreachable", 0);
    }
}


/*
 * A safety net under the subscription: a decision whose message was lost
 * anyway (a subscriber that looked alive, say) is seen within this period.
 * Only reviews older than one period are read again.
 */

static void
ngx_hoop_review_sweep(ngx_event_t *ev)
{
    ngx_hoop_review_store_t  *st = ev->data;

    ngx_msec_t          now;
    ngx_queue_t        *q, *next;
    ngx_hoop_review_t  *rv;

    if (st->exiting || ngx_exiting) {
        return;
    }

    now = ngx_current_msec;

    for (q = ngx_queue_head(&st->waiting);
         q != ngx_queue_sentinel(&st->waiting);
         q = next)
    {
        next = ngx_queue_next(q);
        rv = ngx_queue_data(q, ngx_hoop_review_t, queue);

        if (now - rv->started >= NGX_HOOP_REVIEW_SWEEP && rv->refs == 0) {
            ngx_hoop_review_read_state(rv);
        }
    }

    ngx_add_timer(&st->sweep, NGX_HOOP_REVIEW_SWEEP);
}


static void
ngx_hoop_review_message(ngx_hoop_redis_t *rd, redisReply *reply, void *data)
{
    ngx_hoop_review_store_t  *st = data;

    ngx_str_t           kind, id;
    ngx_queue_t        *q, *next;
    ngx_hoop_review_t  *rv;

    if (st->exiting || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 3
        || ngx_hoop_review_str(reply->element[0], &kind) != NGX_OK)
    {
        return;
    }

    if (kind.len == 9 && ngx_strncmp(kind.data, "subscribe", 9) == 0) {
        st->subscribed = 1;

        if (st->lost.timer_set) {
            ngx_del_timer(&st->lost);
        }

        /* whatever was decided while we were not listening */

        for (q = ngx_queue_head(&st->waiting);
             q != ngx_queue_sentinel(&st->waiting);
             q = next)
        {
            next = ngx_queue_next(q);
            rv = ngx_queue_data(q, ngx_hoop_review_t, queue);
            ngx_hoop_review_read_state(rv);
        }

        return;
    }

    if (kind.len != 7 || ngx_strncmp(kind.data, "message", 7) != 0
        || ngx_hoop_review_str(reply->element[2], &id) != NGX_OK)
    {
        return;
    }

    for (q = ngx_queue_head(&st->waiting);
         q != ngx_queue_sentinel(&st->waiting);
         q = ngx_queue_next(q))
    {
        rv = ngx_queue_data(q, ngx_hoop_review_t, queue);

        if (rv->id.len == id.len
            && ngx_strncmp(rv->id.data, id.data, id.len) == 0)
        {
            ngx_hoop_review_read_state(rv);
            return;
        }
    }
}


/* --- audit events -------------------------------------------------------- */


static void
ngx_hoop_review_audit(ngx_hoop_review_t *rv, ngx_log_t *log,
    const char *type, const char *state, ngx_str_t *reason,
    ngx_uint_t requested)
{
    ngx_str_t                t;
    ngx_uint_t               n;
    ngx_hoop_audit_field_t   f[16];
    u_char                   exp_text[NGX_INT64_LEN];

    n = 0;

#define FIELD(nm, v)                                                          \
    ngx_str_set(&f[n].name, nm); f[n++].value = v

    FIELD("review_id", rv->id);
    f[n].name.data = (u_char *) "state";
    f[n].name.len = 5;
    f[n].value.data = (u_char *) state;
    f[n++].value.len = ngx_strlen(state);
    FIELD("kind", rv->kind);
    FIELD("scope", rv->scope);
    FIELD("sub", rv->sub);
    FIELD("user", rv->user);
    FIELD("session_id", rv->session);

    if (reason) {
        FIELD("reason", *reason);
    }

    if (requested) {
        FIELD("email", rv->email);
        FIELD("text", rv->text);
        FIELD("rule", rv->rule);

        f[n].name.data = (u_char *) "expires";
        f[n].name.len = 7;
        f[n].value.data = exp_text;
        f[n++].value.len = ngx_sprintf(exp_text, "%M", rv->expires)
                           - exp_text;
    }

#undef FIELD

    t.data = (u_char *) type;
    t.len = ngx_strlen(type);

    (void) ngx_hoop_audit_event(log, &t, f, n);
}


void
ngx_hoop_review_audit_decided(ngx_log_t *log, ngx_str_t *id,
    ngx_str_t *state, ngx_str_t *kind, ngx_str_t *scope, ngx_str_t *sub,
    ngx_hoop_identity_t *approver, ngx_str_t *comment)
{
    ngx_str_t               t = ngx_string("review.decided");
    ngx_uint_t              n;
    ngx_hoop_audit_field_t  f[10];

    n = 0;

#define FIELD(nm, v)                                                          \
    ngx_str_set(&f[n].name, nm); f[n++].value = *(v)

    FIELD("review_id", id);
    FIELD("state", state);
    FIELD("kind", kind);
    FIELD("scope", scope);
    FIELD("sub", sub);
    FIELD("approver", &approver->subject);
    FIELD("approver_user", &approver->user);
    FIELD("approver_email", &approver->email);
    FIELD("comment", comment);

#undef FIELD

    (void) ngx_hoop_audit_event(log, &t, f, n);
}


/* --- helpers ------------------------------------------------------------- */


/* milliseconds since the epoch: review times, the sessions index scores */

ngx_msec_t
ngx_hoop_review_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (ngx_msec_t) tp->sec * 1000 + tp->msec;
}


static ngx_int_t
ngx_hoop_review_str(redisReply *r, ngx_str_t *s)
{
    if (r == NULL
        || (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_STATUS))
    {
        return NGX_ERROR;
    }

    s->data = (u_char *) r->str;
    s->len = r->len;

    return NGX_OK;
}
