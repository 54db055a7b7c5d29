
/*
 * Statement events of the Postgres gateway, with each statement's result:
 * rows, bytes of the answer, duration, first SQLSTATE.
 *
 * The client's statements are kept in a FIFO in the order they pass to the
 * server (Query, Parse, Execute, FunctionCall), each tagged with the Sync
 * it belongs to (a Query or FunctionCall is its own).  The server answers
 * in that order: the head entry of the Sync being answered gets each
 * answer; CommandComplete / EmptyQueryResponse / PortalSuspended /
 * ErrorResponse complete an Execute, ParseComplete or ErrorResponse a
 * Parse, and ReadyForQuery a Query or FunctionCall, and whatever of its
 * Sync was skipped after an error.
 *
 * An Execute is recorded with the text of the statement its portal was
 * bound to (Parse, then Bind, are tracked by name).  A Parse is recorded
 * on its own when it names a statement, is denied, or fails; an unnamed
 * statement's text comes with its Execute.
 *
 * Bounded: NGX_HOOP_PG_AUDIT_RING statements in flight are tracked.  A
 * statement beyond (a deep pipeline) is recorded at once, without result
 * fields and marked "untracked"; so is every statement after it until the
 * server has answered everything sent: never lost, never mismatched.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_audit.h"


#define NGX_HOOP_PG_AUDIT_RING       128
#define NGX_HOOP_PG_AUDIT_PREPARED   64
#define NGX_HOOP_PG_AUDIT_PORTALS    8
#define NGX_HOOP_PG_AUDIT_NAME_MAX   64
/* statement text kept for the event; longer is cut and marked */
#define NGX_HOOP_PG_AUDIT_TEXT_MAX   4096
/* a Bind is read for its portal and statement names up to this size */
#define NGX_HOOP_PG_AUDIT_BIND_MAX   8192
#define NGX_HOOP_PG_AUDIT_REVIEW_MAX 32


/* what a Query, Parse or FunctionCall was: shared by its Executes */
typedef struct {
    ngx_uint_t                   refs;
    size_t                       len;
    size_t                       bytes;         /* as the client sent */
    ngx_str_t                    rule;          /* configuration memory */
    const char                  *decision;
    size_t                       name_len;      /* statement name */
    size_t                       review_len;
    u_char                       review[NGX_HOOP_PG_AUDIT_REVIEW_MAX];
    unsigned                     truncated:1;
    u_char                       data[1];       /* text, then name */
} ngx_hoop_pg_audit_text_t;


typedef struct {
    u_char                       kind;          /* Q, P, E, F */
    u_char                       error[6];
    unsigned                     suspended:1;
    ngx_uint_t                   sync;
    ngx_msec_t                   start;
    ngx_uint_t                   rows;          /* from the tags */
    ngx_uint_t                   data_rows;     /* DataRows seen */
    size_t                       bytes;
    ngx_hoop_pg_audit_text_t    *text;          /* NULL: not known */
} ngx_hoop_pg_audit_entry_t;


typedef struct {
    ngx_hoop_pg_audit_text_t    *text;
    ngx_uint_t                   used;
    size_t                       name_len;
    u_char                       name[NGX_HOOP_PG_AUDIT_NAME_MAX];
    unsigned                     set:1;
} ngx_hoop_pg_audit_portal_t;


struct ngx_hoop_pg_audit_s {
    ngx_hoop_pg_audit_entry_t    ring[NGX_HOOP_PG_AUDIT_RING];
    ngx_uint_t                   head;
    ngx_uint_t                   count;

    /* an Execute or Parse whose last answer is being inspected */
    ngx_hoop_pg_audit_entry_t    cur;
    unsigned                     cur_set:1;

    ngx_uint_t                   csync;         /* Syncs sent */
    ngx_uint_t                   ssync;         /* ReadyForQuery seen */

    ngx_hoop_pg_audit_text_t    *prepared[NGX_HOOP_PG_AUDIT_PREPARED];
    ngx_uint_t                   prepared_used[NGX_HOOP_PG_AUDIT_PREPARED];
    ngx_hoop_pg_audit_portal_t   portals[NGX_HOOP_PG_AUDIT_PORTALS];
    ngx_uint_t                   uses;

    unsigned                     overflow:1;
    unsigned                     unsynced:1;    /* Parse/Execute since the
                                                   last Sync */
    unsigned                     login_ready:1; /* the next ReadyForQuery
                                                   ends the client's own
                                                   login (passthrough) */
};


static ngx_hoop_pg_audit_t *ngx_hoop_pg_audit_state(ngx_stream_session_t *s);
static void ngx_hoop_pg_audit_cleanup(void *data);
static ngx_hoop_pg_audit_text_t *ngx_hoop_pg_audit_text_new(
    ngx_stream_session_t *s, u_char *sql, size_t len, u_char *name,
    size_t name_len, ngx_pool_t *pool);
static void ngx_hoop_pg_audit_unref(ngx_hoop_pg_audit_text_t *t);
static void ngx_hoop_pg_audit_push(ngx_stream_session_t *s,
    ngx_hoop_pg_audit_t *a, u_char kind, ngx_uint_t sync,
    ngx_hoop_pg_audit_text_t *t);
static ngx_hoop_pg_audit_entry_t *ngx_hoop_pg_audit_head(
    ngx_hoop_pg_audit_t *a);
static void ngx_hoop_pg_audit_pop(ngx_hoop_pg_audit_t *a,
    ngx_hoop_pg_audit_entry_t *to);
static void ngx_hoop_pg_audit_flush_cur(ngx_stream_session_t *s,
    ngx_hoop_pg_audit_t *a);
static void ngx_hoop_pg_audit_emit(ngx_stream_session_t *s,
    ngx_hoop_pg_audit_entry_t *e, const char *mark);
static ngx_hoop_pg_audit_text_t **ngx_hoop_pg_audit_prepared(
    ngx_hoop_pg_audit_t *a, u_char *name, size_t len, ngx_uint_t create);
static ngx_hoop_pg_audit_portal_t *ngx_hoop_pg_audit_portal(
    ngx_hoop_pg_audit_t *a, u_char *name, size_t len, ngx_uint_t create);


static ngx_hoop_pg_audit_t *
ngx_hoop_pg_audit_state(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t   *ctx;
    ngx_pool_cleanup_t  *cln;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->audit) {
        return ctx->audit;
    }

    if (!ngx_hoop_pg_audit_enabled(s)) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(s->connection->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    ctx->audit = ngx_pcalloc(s->connection->pool, sizeof(ngx_hoop_pg_audit_t));
    if (ctx->audit == NULL) {
        return NULL;
    }

    cln->handler = ngx_hoop_pg_audit_cleanup;
    cln->data = ctx->audit;

    return ctx->audit;
}


static void
ngx_hoop_pg_audit_cleanup(void *data)
{
    ngx_hoop_pg_audit_t *a = data;

    ngx_uint_t  i;

    while (a->count) {
        ngx_hoop_pg_audit_unref(a->ring[a->head].text);
        a->head = (a->head + 1) % NGX_HOOP_PG_AUDIT_RING;
        a->count--;
    }

    if (a->cur_set) {
        ngx_hoop_pg_audit_unref(a->cur.text);
    }

    for (i = 0; i < NGX_HOOP_PG_AUDIT_PREPARED; i++) {
        ngx_hoop_pg_audit_unref(a->prepared[i]);
    }

    for (i = 0; i < NGX_HOOP_PG_AUDIT_PORTALS; i++) {
        ngx_hoop_pg_audit_unref(a->portals[i].text);
    }
}


/*
 * The relay starts.  In passthrough mode the client logs in to the server
 * itself, through the relay: the login's ReadyForQuery is still to come,
 * and answers nothing the client may have pipelined behind its password.
 */

void
ngx_hoop_pg_audit_relay(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t    *ctx;
    ngx_hoop_pg_audit_t  *a;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ctx->authenticated) {
        return;
    }

    a = ngx_hoop_pg_audit_state(s);

    if (a) {
        a->login_ready = 1;
    }
}


/*
 * A Query, Parse or FunctionCall message (msg) judged by the policy: sql
 * is its text (NULL for a FunctionCall).  decision: "allowed", "denied",
 * "approved", "rejected", ...; review: the review's id, or NULL.
 */

void
ngx_hoop_pg_audit_statement_as(ngx_stream_session_t *s, u_char *msg,
    u_char *sql, size_t len, ngx_str_t *rule, const char *decision,
    ngx_str_t *review, ngx_pool_t *pool)
{
    u_char                     *name;
    size_t                      name_len;
    ngx_uint_t                  sync;
    ngx_hoop_pg_audit_t        *a;
    ngx_hoop_pg_audit_text_t   *t, **slot;

    a = ngx_hoop_pg_audit_state(s);
    if (a == NULL) {
        return;
    }

    name = NULL;
    name_len = 0;

    if (msg[0] == 'P') {
        name = msg + 5;
        name_len = ngx_strlen(name);        /* checked by the caller */
    }

    t = ngx_hoop_pg_audit_text_new(s, sql, len, name, name_len, pool);

    if (t) {
        t->decision = decision;

        if (rule) {
            t->rule = *rule;
        }

        if (review && review->len <= NGX_HOOP_PG_AUDIT_REVIEW_MAX) {
            ngx_memcpy(t->review, review->data, review->len);
            t->review_len = review->len;
        }
    }

    if (msg[0] == 'P') {
        /* what its Executes will run */
        slot = ngx_hoop_pg_audit_prepared(a, name, name_len, 1);

        if (slot) {
            ngx_hoop_pg_audit_unref(*slot);
            *slot = t;

            if (t) {
                t->refs++;
            }
        }

        sync = a->csync + 1;
        a->unsynced = 1;

    } else {
        /* a Query or FunctionCall is its own Sync */
        sync = ++a->csync;
    }

    ngx_hoop_pg_audit_push(s, a, msg[0], sync, t);

    ngx_hoop_pg_audit_unref(t);
}


void
ngx_hoop_pg_audit_statement(ngx_stream_session_t *s, u_char *msg,
    u_char *sql, size_t len, ngx_hoop_pg_verdict_t *v, ngx_pool_t *pool)
{
    ngx_hoop_pg_audit_statement_as(s, msg, sql, len, v ? &v->rule : NULL,
                                   v ? "denied" : "allowed", NULL, pool);
}


/* Bind, Execute, Sync and Close are read whole when auditing */

ngx_uint_t
ngx_hoop_pg_audit_client_whole(ngx_stream_session_t *s, u_char type,
    size_t len)
{
    ngx_uint_t            i;
    ngx_hoop_pg_ctx_t    *ctx;
    ngx_hoop_pg_audit_t  *a;

    if (type != 'B' && type != 'E' && type != 'S' && type != 'C') {
        return 0;
    }

    if (!ngx_hoop_pg_audit_enabled(s)) {
        return 0;
    }

    if (type != 'B' || len <= NGX_HOOP_PG_AUDIT_BIND_MAX) {
        return 1;
    }

    /*
     * A Bind too large to hold passes unread (called once for it): which
     * portal it replaced is unknown, so no portal's text can be trusted.
     */

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    a = ctx->audit;

    for (i = 0; a && i < NGX_HOOP_PG_AUDIT_PORTALS; i++) {
        ngx_hoop_pg_audit_unref(a->portals[i].text);
        a->portals[i].text = NULL;
    }

    return 0;
}


void
ngx_hoop_pg_audit_client(ngx_stream_session_t *s, u_char *msg, size_t len)
{
    u_char                      *p, *end, *name, *stmt;
    ngx_hoop_pg_audit_t         *a;
    ngx_hoop_pg_audit_text_t   **slot;
    ngx_hoop_pg_audit_portal_t  *portal;

    a = ngx_hoop_pg_audit_state(s);
    if (a == NULL) {
        return;
    }

    end = msg + len;
    name = msg + 5;

    switch (msg[0]) {

    case 'S':
        a->csync++;
        a->unsynced = 0;
        return;

    case 'B':
        /* portal name, statement name, ... */
        p = ngx_strlchr(name, end, '\0');
        if (p == NULL) {
            return;
        }

        stmt = p + 1;
        p = ngx_strlchr(stmt, end, '\0');
        if (p == NULL) {
            return;
        }

        portal = ngx_hoop_pg_audit_portal(a, name, stmt - 1 - name, 1);
        if (portal == NULL) {
            return;
        }

        ngx_hoop_pg_audit_unref(portal->text);

        slot = ngx_hoop_pg_audit_prepared(a, stmt, p - stmt, 0);
        portal->text = slot ? *slot : NULL;

        if (portal->text) {
            portal->text->refs++;
        }

        return;

    case 'E':
        p = ngx_strlchr(name, end, '\0');
        if (p == NULL) {
            return;
        }

        portal = ngx_hoop_pg_audit_portal(a, name, p - name, 0);

        a->unsynced = 1;
        ngx_hoop_pg_audit_push(s, a, 'E', a->csync + 1,
                               portal ? portal->text : NULL);
        return;

    default: /* 'C': Close */
        if (len < 6) {
            return;
        }

        name = msg + 6;
        p = ngx_strlchr(name, end, '\0');
        if (p == NULL) {
            return;
        }

        if (msg[5] == 'S') {
            slot = ngx_hoop_pg_audit_prepared(a, name, p - name, 0);

            if (slot) {
                ngx_hoop_pg_audit_unref(*slot);
                *slot = NULL;
            }

        } else {
            portal = ngx_hoop_pg_audit_portal(a, name, p - name, 0);

            if (portal) {
                ngx_hoop_pg_audit_unref(portal->text);
                portal->text = NULL;
                portal->set = 0;
            }
        }

        return;
    }
}


/* each server message header */

void
ngx_hoop_pg_audit_answer(ngx_stream_session_t *s, u_char type, size_t len)
{
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_audit_t        *a;
    ngx_hoop_pg_audit_entry_t  *h, e;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    a = ctx->audit;

    if (a == NULL) {
        return;
    }

    /* the previous answer was not inspected (too long to hold): as is */
    ngx_hoop_pg_audit_flush_cur(s, a);

    if (type == 'Z') {
        if (a->login_ready) {
            /* statements pipelined behind the login wait for the next */
            a->login_ready = 0;
            return;
        }

        if (a->ssync < a->csync) {
            a->ssync++;
        }

        /* this Sync's statements: done, or skipped after an error */
        while (a->count && a->ring[a->head].sync <= a->ssync) {
            ngx_hoop_pg_audit_pop(a, &e);

            ngx_hoop_pg_audit_emit(s, &e,
                                   (e.kind == 'E' || e.kind == 'P')
                                   ? "skipped" : NULL);
            ngx_hoop_pg_audit_unref(e.text);
        }

        if (a->overflow && a->count == 0 && a->ssync == a->csync
            && !a->unsynced)
        {
            a->overflow = 0;
        }

        return;
    }

    h = ngx_hoop_pg_audit_head(a);

    if (h == NULL) {
        return;
    }

    /* asynchronous messages belong to no statement */
    if (type != 'N' && type != 'A' && type != 'S') {
        h->bytes += 1 + len;
    }

    if (type == 'D') {
        h->data_rows++;
    }

    switch (type) {

    case 'C':
    case 'E':
    case 'I':
    case 's':
    case '1':
        if ((h->kind == 'E' && type != '1')
            || (h->kind == 'P' && (type == '1' || type == 'E')))
        {
            /* its last answer: completed when inspected (or next header) */
            ngx_hoop_pg_audit_pop(a, &a->cur);
            a->cur_set = 1;
            a->cur.suspended = (type == 's');

            if (type != 'C' && type != 'E') {
                ngx_hoop_pg_audit_flush_cur(s, a);
            }
        }

        break;
    }
}


/* are CommandComplete and ErrorResponse to be inspected? */

ngx_uint_t
ngx_hoop_pg_audit_waits(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    return ctx->audit && (ctx->audit->count || ctx->audit->cur_set);
}


/* CommandComplete: "SELECT 5", "INSERT 0 3", ...; ErrorResponse: the code */

void
ngx_hoop_pg_audit_result(ngx_stream_session_t *s, u_char *msg, size_t len)
{
    u_char                     *p, *end;
    ngx_int_t                   n;
    ngx_str_t                   code;
    ngx_hoop_pg_msg_t           m;
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_audit_t        *a;
    ngx_hoop_pg_audit_entry_t  *e;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    a = ctx->audit;

    if (a == NULL || len < 6) {
        return;
    }

    e = a->cur_set ? &a->cur : ngx_hoop_pg_audit_head(a);

    if (e == NULL) {
        return;
    }

    if (msg[0] == 'E') {
        m.type = 'E';
        m.body = msg + 5;
        m.len = len - 5;

        if (e->error[0] == '\0'
            && ngx_hoop_pg_error_field(&m, 'C', &code) == NGX_OK
            && code.len == 5)
        {
            ngx_memcpy(e->error, code.data, 5);
            e->error[5] = '\0';
        }

    } else {
        /* the tag's last word, when it is a number, counts rows */
        end = msg + len - 1;                /* the terminating zero */
        p = end;

        while (p > msg + 5 && p[-1] >= '0' && p[-1] <= '9') {
            p--;
        }

        if (p < end && p > msg + 5 && p[-1] == ' ') {
            n = ngx_atoi(p, end - p);

            if (n > 0) {
                e->rows += n;
            }
        }
    }

    if (e == &a->cur) {
        ngx_hoop_pg_audit_flush_cur(s, a);
    }
}


/*
 * The session ends: statements still unanswered are recorded as such
 * (before session.close).
 */

void
ngx_hoop_pg_audit_unanswered(ngx_stream_session_t *s)
{
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_audit_t        *a;
    ngx_hoop_pg_audit_entry_t   e;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    a = ctx ? ctx->audit : NULL;

    if (a == NULL) {
        return;
    }

    ngx_hoop_pg_audit_flush_cur(s, a);

    while (a->count) {
        ngx_hoop_pg_audit_pop(a, &e);
        ngx_hoop_pg_audit_emit(s, &e, "unanswered");
        ngx_hoop_pg_audit_unref(e.text);
    }
}


static ngx_hoop_pg_audit_text_t *
ngx_hoop_pg_audit_text_new(ngx_stream_session_t *s, u_char *sql, size_t len,
    u_char *name, size_t name_len, ngx_pool_t *pool)
{
    size_t                     tlen;
    ngx_str_t                  text;
    ngx_hoop_pg_srv_conf_t    *pscf;
    ngx_hoop_pg_audit_text_t  *t;

    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);

    ngx_hoop_pg_audit_text(sql, len, pscf->audit_text, pool, &text);

    tlen = ngx_min(text.len, NGX_HOOP_PG_AUDIT_TEXT_MAX);
    name_len = ngx_min(name_len, NGX_HOOP_PG_AUDIT_NAME_MAX);

    t = ngx_alloc(sizeof(ngx_hoop_pg_audit_text_t) + tlen + name_len,
                  s->connection->log);
    if (t == NULL) {
        return NULL;
    }

    t->refs = 1;
    t->len = tlen;
    t->bytes = len;
    ngx_str_null(&t->rule);
    t->decision = "allowed";
    t->name_len = name_len;
    t->review_len = 0;
    t->truncated = (text.len > tlen);

    if (tlen) {
        ngx_memcpy(t->data, text.data, tlen);
    }

    if (name_len) {
        ngx_memcpy(t->data + tlen, name, name_len);
    }

    return t;
}


static void
ngx_hoop_pg_audit_unref(ngx_hoop_pg_audit_text_t *t)
{
    if (t && --t->refs == 0) {
        ngx_free(t);
    }
}


static void
ngx_hoop_pg_audit_push(ngx_stream_session_t *s, ngx_hoop_pg_audit_t *a,
    u_char kind, ngx_uint_t sync, ngx_hoop_pg_audit_text_t *t)
{
    ngx_hoop_pg_audit_entry_t  *e, tmp;

    e = (a->overflow || a->count == NGX_HOOP_PG_AUDIT_RING)
        ? &tmp
        : &a->ring[(a->head + a->count) % NGX_HOOP_PG_AUDIT_RING];

    ngx_memzero(e, sizeof(ngx_hoop_pg_audit_entry_t));

    e->kind = kind;
    e->sync = sync;
    e->start = ngx_current_msec;
    e->text = t;

    if (e == &tmp) {
        /* behind statements whose answers are not tracked: now, as is */
        a->overflow = 1;
        ngx_hoop_pg_audit_emit(s, e, "untracked");
        return;
    }

    if (t) {
        t->refs++;
    }

    a->count++;
}


/* the statement the answer being read belongs to, if any */

static ngx_hoop_pg_audit_entry_t *
ngx_hoop_pg_audit_head(ngx_hoop_pg_audit_t *a)
{
    ngx_hoop_pg_audit_entry_t  *h;

    if (a->count == 0) {
        return NULL;
    }

    h = &a->ring[a->head];

    /* answers of a Sync with nothing tracked (Describe only, ...) */
    return (h->sync == a->ssync + 1) ? h : NULL;
}


static void
ngx_hoop_pg_audit_pop(ngx_hoop_pg_audit_t *a, ngx_hoop_pg_audit_entry_t *to)
{
    *to = a->ring[a->head];
    a->head = (a->head + 1) % NGX_HOOP_PG_AUDIT_RING;
    a->count--;
}


static void
ngx_hoop_pg_audit_flush_cur(ngx_stream_session_t *s, ngx_hoop_pg_audit_t *a)
{
    if (!a->cur_set) {
        return;
    }

    a->cur_set = 0;

    ngx_hoop_pg_audit_emit(s, &a->cur, NULL);
    ngx_hoop_pg_audit_unref(a->cur.text);
}


/* mark: NULL (answered), "skipped", "untracked" or "unanswered" */

static void
ngx_hoop_pg_audit_emit(ngx_stream_session_t *s, ngx_hoop_pg_audit_entry_t *e,
    const char *mark)
{
    ngx_str_t                    str, one;
    ngx_pool_t                  *pool;
    ngx_hoop_pg_audit_text_t    *t;
    ngx_hoop_pg_audit_fields_t   f;

    t = e->text;

    /* an unnamed statement that parsed is recorded with its Execute */
    if (e->kind == 'P' && t && t->name_len == 0 && e->error[0] == '\0'
        && ngx_strcmp(t->decision, "denied") != 0)
    {
        return;
    }

    pool = ngx_create_pool(1024, s->connection->log);
    if (pool == NULL) {
        return;
    }

    f.n = 0;
    f.pool = pool;

    ngx_hoop_pg_audit_session(s, &f);

    ngx_str_set(&str, "query");

    switch (e->kind) {
    case 'P':
        ngx_str_set(&str, "parse");
        break;
    case 'E':
        ngx_str_set(&str, "execute");
        break;
    case 'F':
        ngx_str_set(&str, "function_call");
        break;
    }

    ngx_hoop_pg_audit_add(&f, "protocol", &str);

    ngx_str_set(&one, "1");

    if (t) {
        str.data = t->data + t->len;
        str.len = t->name_len;
        ngx_hoop_pg_audit_add(&f, "statement_name", &str);

        str.data = t->data;
        str.len = t->len;
        ngx_hoop_pg_audit_add(&f, "statement", &str);
        ngx_hoop_pg_audit_add_uint(&f, "statement_bytes", t->bytes);

        if (t->truncated) {
            ngx_hoop_pg_audit_add(&f, "statement_truncated", &one);
        }

        str.data = (u_char *) t->decision;
        str.len = ngx_strlen(t->decision);
        ngx_hoop_pg_audit_add(&f, "decision", &str);
        ngx_hoop_pg_audit_add(&f, "rule", &t->rule);

        str.data = t->review;
        str.len = t->review_len;
        ngx_hoop_pg_audit_add(&f, "review", &str);

    } else {
        /* an Execute of a portal whose Bind was not read */
        ngx_hoop_pg_audit_add(&f, "statement_unknown", &one);
    }

    if (mark == NULL || ngx_strcmp(mark, "untracked") != 0) {
        /* answered, skipped or unanswered: what was seen of the result */
        /* a suspended portal has no tag yet: the rows it sent so far */
        ngx_hoop_pg_audit_add_uint(&f, "rows", e->suspended ? e->data_rows
                                                            : e->rows);
        ngx_hoop_pg_audit_add_uint(&f, "bytes", e->bytes);
        ngx_hoop_pg_audit_add_uint(&f, "duration_ms",
                                   ngx_current_msec - e->start);

        if (e->error[0]) {
            str.data = e->error;
            str.len = 5;
            ngx_hoop_pg_audit_add(&f, "error", &str);
        }

        if (e->suspended) {
            ngx_hoop_pg_audit_add(&f, "suspended", &one);
        }

        /* what hoop_pg_mask masked in its rows, since the last statement */
        ngx_hoop_pg_mask_audit(s, pool, &str);
        ngx_hoop_pg_audit_add(&f, "masked", &str);
    }

    if (mark) {
        ngx_hoop_pg_audit_add(&f, mark, &one);
    }

    ngx_hoop_pg_audit_send(s, "statement", &f);

    ngx_destroy_pool(pool);
}


static ngx_hoop_pg_audit_text_t **
ngx_hoop_pg_audit_prepared(ngx_hoop_pg_audit_t *a, u_char *name, size_t len,
    ngx_uint_t create)
{
    ngx_uint_t                 i, free, oldest;
    ngx_hoop_pg_audit_text_t  *t;

    free = NGX_HOOP_PG_AUDIT_PREPARED;
    oldest = 0;

    for (i = 0; i < NGX_HOOP_PG_AUDIT_PREPARED; i++) {
        t = a->prepared[i];

        if (t == NULL) {
            if (free == NGX_HOOP_PG_AUDIT_PREPARED) {
                free = i;
            }

            continue;
        }

        if (t->name_len == len && ngx_memcmp(t->data + t->len, name, len) == 0)
        {
            a->prepared_used[i] = ++a->uses;
            return &a->prepared[i];
        }

        if (a->prepared_used[i] < a->prepared_used[oldest]) {
            oldest = i;
        }
    }

    if (!create || len > NGX_HOOP_PG_AUDIT_NAME_MAX) {
        return NULL;
    }

    /* the least recently used name is forgotten: its Executes go unnamed */
    i = (free < NGX_HOOP_PG_AUDIT_PREPARED) ? free : oldest;

    a->prepared_used[i] = ++a->uses;

    return &a->prepared[i];
}


static ngx_hoop_pg_audit_portal_t *
ngx_hoop_pg_audit_portal(ngx_hoop_pg_audit_t *a, u_char *name, size_t len,
    ngx_uint_t create)
{
    ngx_uint_t                   i, oldest;
    ngx_hoop_pg_audit_portal_t  *p;

    if (len > NGX_HOOP_PG_AUDIT_NAME_MAX) {
        return NULL;
    }

    oldest = 0;

    for (i = 0; i < NGX_HOOP_PG_AUDIT_PORTALS; i++) {
        p = &a->portals[i];

        if (p->set && p->name_len == len
            && ngx_memcmp(p->name, name, len) == 0)
        {
            p->used = ++a->uses;
            return p;
        }

        if (!p->set) {
            oldest = i;
            a->portals[i].used = 0;

        } else if (p->used < a->portals[oldest].used) {
            oldest = i;
        }
    }

    if (!create) {
        return NULL;
    }

    p = &a->portals[oldest];

    ngx_hoop_pg_audit_unref(p->text);
    p->text = NULL;
    p->set = 1;
    p->used = ++a->uses;
    p->name_len = len;
    ngx_memcpy(p->name, name, len);

    return p;
}
