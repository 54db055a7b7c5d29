
/*
 * Masking in the Postgres gateway: the hoop_pg_mask rules, what a session
 * must know to apply them, and when the rewriting runs.
 *
 * What a result column is comes from its RowDescription: table OID and
 * attribute number (they survive "AS"), type and format.  Which table
 * column that is comes from the catalog: right after login (at the
 * greeting's ReadyForQuery, before the client's first message goes on)
 * the gateway sends its own query on the session's connection, for every
 * column a rule names, and drops the answer on its way back; client
 * messages wait meanwhile.  A RowDescription naming a table created after
 * that snapshot (an OID above the largest the snapshot saw), or a
 * statement containing ALTER or CREATE, makes the snapshot stale: it is
 * read again at the next point where the server awaits a new command (the
 * client's messages after its next Sync or Query wait meanwhile).  Until
 * then such columns have an unknown origin, like expressions: bare-name
 * rules match their output name, the detectors run, and unknown=refuse
 * ends the session.
 *
 * Extended-protocol results carry no RowDescription when the client did
 * not ask for one: the gateway queues what each forwarded client message
 * will be answered with (Parse, Bind, Describe, Execute, Close, Sync,
 * Query), remembers the description of each prepared statement and portal
 * and the result formats of each Bind, and so knows the layout of every
 * DataRow.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_mask.h"


static void ngx_hoop_pg_mask_cleanup(void *data);
static void ngx_hoop_pg_mask_release(ngx_event_t *ev);
static void ngx_hoop_pg_mask_pop(ngx_hoop_pg_mask_t *ms);
static size_t ngx_hoop_pg_mask_drop(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len);
static ngx_int_t ngx_hoop_pg_mask_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data);
static u_char *ngx_hoop_pg_mask_detail(ngx_hoop_pg_mask_t *ms,
    ngx_hoop_mask_stats_t *st, ngx_pool_t *pool, ngx_str_t *out,
    ngx_uint_t audit);


#define ngx_hoop_pg_mask_ident_char(c)                                       \
    (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z')                \
     || ((c) >= '0' && (c) <= '9') || (c) == '_' || (c) == '$' || (c) >= 0x80)


static ngx_stream_variable_t  ngx_hoop_pg_mask_vars[] = {

    { ngx_string("hoop_pg_mask_count"), NULL, ngx_hoop_pg_mask_variable,
      0, NGX_STREAM_VAR_NOCACHEABLE, 0 },

    { ngx_string("hoop_pg_mask_detail"), NULL, ngx_hoop_pg_mask_variable,
      1, NGX_STREAM_VAR_NOCACHEABLE, 0 },

      ngx_stream_null_variable
};


ngx_int_t
ngx_hoop_pg_mask_add_variables(ngx_conf_t *cf)
{
    ngx_stream_variable_t  *var, *v;

    for (v = ngx_hoop_pg_mask_vars; v->name.len; v++) {
        var = ngx_stream_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* ------------------------------------------------------------------ */
/* the session                                                        */


static ngx_uint_t
ngx_hoop_pg_mask_in(ngx_array_t *list, ngx_str_t *name)
{
    ngx_str_t   *want;
    ngx_uint_t   i;

    want = list->elts;

    for (i = 0; i < list->nelts; i++) {
        if (want[i].len == name->len
            && ngx_strncmp(want[i].data, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_hoop_pg_mask_in_groups(ngx_array_t *list, ngx_array_t *groups)
{
    ngx_str_t   *have;
    ngx_uint_t   i;

    if (groups == NULL) {
        return 0;
    }

    have = groups->elts;

    for (i = 0; i < groups->nelts; i++) {
        if (ngx_hoop_pg_mask_in(list, &have[i])) {
            return 1;
        }
    }

    return 0;
}


/*
 * At the start of the relay: which rules apply to this identity and role
 * profile.  A session none applies to is not tracked at all.
 */

ngx_int_t
ngx_hoop_pg_mask_init(ngx_stream_session_t *s)
{
    ngx_uint_t                    i, active;
    ngx_pool_cleanup_t           *cln;
    ngx_hoop_pg_ctx_t            *ctx;
    ngx_hoop_pg_mask_t           *ms;
    ngx_hoop_mask_rule_t         *rule;
    ngx_hoop_pg_srv_conf_t       *pscf;
    ngx_hoop_pg_mask_conf_t      *mcf;
    ngx_hoop_pg_mask_scope_t     *scope;
    ngx_stream_variable_value_t  *vv;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    pscf = ngx_stream_get_module_srv_conf(s, ngx_hoop_pg_module);
    mcf = pscf->mask;

    if (mcf == NULL || ctx->mask) {
        return NGX_OK;
    }

    ms = ngx_pcalloc(s->connection->pool, sizeof(ngx_hoop_pg_mask_t));
    if (ms == NULL) {
        return NGX_ERROR;
    }

    ms->conf = mcf;
    ms->session = s;

    ms->skip = ngx_pcalloc(s->connection->pool, mcf->rules->nelts);
    ms->stmt.by_rule = ngx_pcalloc(s->connection->pool,
                                   mcf->rules->nelts * sizeof(ngx_uint_t));
    ms->total.by_rule = ngx_pcalloc(s->connection->pool,
                                    mcf->rules->nelts * sizeof(ngx_uint_t));
    if (ms->skip == NULL || ms->stmt.by_rule == NULL
        || ms->total.by_rule == NULL)
    {
        return NGX_ERROR;
    }

    rule = mcf->rules->elts;
    scope = mcf->scopes->elts;
    active = 0;

    for (i = 0; i < mcf->rules->nelts; i++) {

        if (scope[i].roles
            && (ctx->role_name.len == 0
                || !ngx_hoop_pg_mask_in(scope[i].roles, &ctx->role_name)))
        {
            ms->skip[i] = 1;
        }

        if (scope[i].groups
            && !ngx_hoop_pg_mask_in_groups(scope[i].groups,
                                           ctx->identity.groups))
        {
            ms->skip[i] = 1;
        }

        if (scope[i].unless_groups
            && ngx_hoop_pg_mask_in_groups(scope[i].unless_groups,
                                          ctx->identity.groups))
        {
            ms->skip[i] = 1;
        }

        if (scope[i].unless != NGX_ERROR) {
            vv = ngx_stream_get_indexed_variable(s, scope[i].unless);

            if (vv && !vv->not_found && vv->len
                && !(vv->len == 1 && vv->data[0] == '0'))
            {
                ms->skip[i] = 1;
            }
        }

        if (ms->skip[i]) {
            continue;
        }

        active++;

        if (rule[i].detectors || rule[i].regexes) {
            ms->detect = 1;
        }

        if (rule[i].keys) {
            ms->columns = 1;
        }

        if (scope[i].refuse) {
            ms->refuse = 1;
        }
    }

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg mask: %ui of %ui rules apply",
                   active, mcf->rules->nelts);

    if (active == 0) {
        return NGX_OK;
    }

    ms->scratch = ngx_create_pool(4096, s->connection->log);
    if (ms->scratch == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&ms->statements);
    ngx_queue_init(&ms->portals);

    ms->release.handler = ngx_hoop_pg_mask_release;
    ms->release.data = s;
    ms->release.log = s->connection->log;

    cln = ngx_pool_cleanup_add(s->connection->pool, 0);
    if (cln == NULL) {
        ngx_destroy_pool(ms->scratch);
        return NGX_ERROR;
    }

    cln->handler = ngx_hoop_pg_mask_cleanup;
    cln->data = ms;

    /* without column rules nor refusal the catalog is not needed */
    ms->catalog = ms->columns || ms->refuse;
    ms->loaded = !ms->catalog;

    if (ms->catalog && ngx_hoop_pg_mask_cache_get(s, ms) != NGX_OK) {
        /* the cleanup frees what there is */
        return NGX_ERROR;
    }

    /* a row to mask is held whole, up to this */
    if (ctx->server_gate.limit < mcf->max_row + 5) {
        ctx->server_gate.limit = mcf->max_row + 5;
    }

    ctx->mask = ms;

    return NGX_OK;
}


static void
ngx_hoop_pg_mask_cleanup(void *data)
{
    ngx_hoop_pg_mask_t *ms = data;

    ngx_queue_t               *q;
    ngx_hoop_pg_mask_named_t  *n;

    if (ms->release.posted) {
        ngx_delete_posted_event(&ms->release);
    }

    while (ms->head != ms->tail) {
        ngx_hoop_pg_mask_pop(ms);
    }

    if (ms->items) {
        ngx_free(ms->items);
    }

    while (!ngx_queue_empty(&ms->statements)) {
        q = ngx_queue_head(&ms->statements);
        n = ngx_queue_data(q, ngx_hoop_pg_mask_named_t, queue);
        ngx_hoop_pg_mask_forget(ms, 0, n);
    }

    while (!ngx_queue_empty(&ms->portals)) {
        q = ngx_queue_head(&ms->portals);
        n = ngx_queue_data(q, ngx_hoop_pg_mask_named_t, queue);
        ngx_hoop_pg_mask_forget(ms, 1, n);
    }

    if (ms->cur) {
        ngx_hoop_pg_mask_unref(ms->cur);
        ms->cur = NULL;
    }

    if (ms->copy_rules) {
        ngx_free(ms->copy_rules);
    }

    if (ms->catalog_pool) {
        ngx_destroy_pool(ms->catalog_pool);
    }

    if (ms->cached) {
        ngx_hoop_pg_mask_cache_unref(ms->cached);
    }

    if (ms->loading) {
        ngx_destroy_pool(ms->loading->pool);
    }

    ngx_destroy_pool(ms->scratch);
}


/* the catalog is read: client messages held meanwhile may go on */

static void
ngx_hoop_pg_mask_release(ngx_event_t *ev)
{
    ngx_hoop_pg_ctx_t     *ctx;
    ngx_stream_session_t  *s;

    s = ev->data;
    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    if (ngx_hoop_pg_gate_run(s, &ctx->client_gate) != NGX_OK) {
        return;
    }

    /* the relay from the client to the server sends what is ready */
    ngx_post_event(s->upstream->peer.connection->write, &ngx_posted_events);
}


/* ------------------------------------------------------------------ */
/* answers awaited                                                    */


ngx_hoop_pg_mask_item_t *
ngx_hoop_pg_mask_push(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms,
    u_char kind)
{
    ngx_uint_t                n;
    ngx_hoop_pg_mask_item_t  *items, *it;

    if (ms->tail == ms->nalloc) {
        n = ms->tail - ms->head;

        if (ms->head > ms->nalloc / 2) {
            /* slide the live items down */
            ngx_memmove(ms->items, &ms->items[ms->head],
                        n * sizeof(ngx_hoop_pg_mask_item_t));

        } else {
            if (ms->nalloc >= NGX_HOOP_PG_MASK_MAX_ITEMS) {
                ngx_hoop_pg_fatal(s, "54000",
                                  "too many messages in flight for the "
                                  "gateway's masking", NGX_STREAM_BAD_REQUEST);
                return NULL;
            }

            items = ngx_alloc((ms->nalloc ? ms->nalloc * 2 : 64)
                              * sizeof(ngx_hoop_pg_mask_item_t),
                              s->connection->log);
            if (items == NULL) {
                ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
                return NULL;
            }

            if (ms->items) {
                ngx_memcpy(items, &ms->items[ms->head],
                           n * sizeof(ngx_hoop_pg_mask_item_t));
                ngx_free(ms->items);
            }

            ms->items = items;
            ms->nalloc = ms->nalloc ? ms->nalloc * 2 : 64;
        }

        ms->head = 0;
        ms->tail = n;
    }

    it = &ms->items[ms->tail++];
    ngx_memzero(it, sizeof(ngx_hoop_pg_mask_item_t));
    it->kind = kind;

    return it;
}


static void
ngx_hoop_pg_mask_pop(ngx_hoop_pg_mask_t *ms)
{
    ngx_hoop_pg_mask_item_t  *it;

    if (ms->head == ms->tail) {
        return;
    }

    it = &ms->items[ms->head++];

    if (it->name.data) {
        ngx_free(it->name.data);
    }

    if (it->formats) {
        ngx_free(it->formats);
    }

    if (ms->head == ms->tail) {
        ms->head = 0;
        ms->tail = 0;
    }
}


ngx_hoop_pg_mask_item_t *
ngx_hoop_pg_mask_head(ngx_hoop_pg_mask_t *ms)
{
    return ms->head == ms->tail ? NULL : &ms->items[ms->head];
}


/* a copy of a name (and the Bind's statement name after it) */

static ngx_int_t
ngx_hoop_pg_mask_names(ngx_stream_session_t *s, ngx_hoop_pg_mask_item_t *it,
    ngx_str_t *name, ngx_str_t *stmt, ngx_str_t *text)
{
    u_char  *p;
    size_t   len;

    len = name->len + (stmt ? stmt->len : 0) + (text ? text->len : 0);

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_alloc(len, s->connection->log);
    if (p == NULL) {
        return NGX_ERROR;
    }

    it->name.data = p;
    it->name.len = name->len;
    p = ngx_cpymem(p, name->data, name->len);

    if (stmt) {
        it->stmt.data = p;
        it->stmt.len = stmt->len;
        p = ngx_cpymem(p, stmt->data, stmt->len);
    }

    if (text) {
        it->text.data = p;
        it->text.len = text->len;
        (void) ngx_cpymem(p, text->data, text->len);
    }

    return NGX_OK;
}


u_char *
ngx_hoop_pg_mask_cstr(u_char *p, u_char *end, ngx_str_t *out)
{
    u_char  *z;

    z = ngx_strlchr(p, end, '\0');
    if (z == NULL) {
        return NULL;
    }

    out->data = p;
    out->len = z - p;

    return z + 1;
}


/*
 * Statements that may add or rename columns: the words ALTER or CREATE
 * (not "created_at"), anywhere (in a DO block, a function...): the
 * catalog is read again.
 */

static ngx_uint_t
ngx_hoop_pg_mask_ddl(ngx_str_t *text)
{
    u_char      *p, *end, *w;
    size_t       n;
    ngx_uint_t   i;

    static const char  *words[] = { "alter", "create" };

    end = text->data + text->len;

    for (i = 0; i < 2; i++) {
        n = ngx_strlen(words[i]);
        p = text->data;

        while ((w = ngx_strlcasestrn(p, end, (u_char *) words[i], n - 1))
               != NULL)
        {
            if ((w == text->data || !ngx_hoop_pg_mask_ident_char(w[-1]))
                && (w + n == end || !ngx_hoop_pg_mask_ident_char(w[n])))
            {
                return 1;
            }

            p = w + 1;
        }
    }

    return 0;
}


/*
 * Each client message header.  Before the server's first ReadyForQuery
 * (clients logging in themselves, without hoop_pg_auth) only the login's
 * own messages go on: a statement pipelined behind the password waits for
 * the catalog like any first statement.
 */

void
ngx_hoop_pg_mask_client_header(ngx_stream_session_t *s, u_char type)
{
    ngx_hoop_pg_ctx_t   *ctx;
    ngx_hoop_pg_mask_t  *ms;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ms = ctx->mask;

    if (!ms->greeted && ms->catalog && type != 'p') {
        ctx->client_gate.hold = 1;
    }
}


ngx_uint_t
ngx_hoop_pg_mask_client_whole(ngx_stream_session_t *s, u_char type)
{
    switch (type) {
    case 'P': case 'B': case 'D': case 'E': case 'C': case 'S':
    case 'Q': case 'F':
        return 1;
    }

    return 0;
}


/*
 * A client message about to be forwarded: queue the answer it will get.
 * Returns len, or 0 when the session was finalized.
 */

size_t
ngx_hoop_pg_mask_client_inspect(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len)
{
    u_char                   *p, *end, kind;
    size_t                    n;
    ngx_str_t                 name, stmt, text, *tp;
    ngx_uint_t                i, nf, np;
    ngx_hoop_pg_ctx_t        *ctx;
    ngx_hoop_pg_mask_t       *ms;
    ngx_hoop_pg_mask_item_t  *it;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ms = ctx->mask;

    p = msg + 5;
    end = msg + len;
    kind = msg[0];
    ngx_str_null(&name);
    ngx_str_null(&stmt);
    tp = NULL;
    it = NULL;

    switch (msg[0]) {

    case 'P':
        p = ngx_hoop_pg_mask_cstr(p, end, &name);
        if (p == NULL || ngx_hoop_pg_mask_cstr(p, end, &text) == NULL) {
            goto malformed;
        }

        if (ms->catalog && ngx_hoop_pg_mask_ddl(&text)) {
            ngx_hoop_pg_mask_stale(ms);
        }

        break;

    case 'Q':
        if (ngx_hoop_pg_mask_cstr(p, end, &text) == NULL) {
            goto malformed;
        }

        if (ms->catalog && ngx_hoop_pg_mask_ddl(&text)) {
            ngx_hoop_pg_mask_stale(ms);
        }

        /* a COPY's text, for its CopyOutResponse */
        for (p = text.data; p < text.data + text.len; p++) {
            if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
                break;
            }
        }

        if (text.data + text.len - p > 5
            && ngx_strncasecmp(p, (u_char *) "copy", 4) == 0)
        {
            text.len = ngx_min((size_t) (text.data + text.len - p),
                               NGX_HOOP_PG_MASK_MAX_COPY);
            text.data = p;
            tp = &text;
        }

        break;

    case 'B':
        p = ngx_hoop_pg_mask_cstr(p, end, &name);
        if (p == NULL) {
            goto malformed;
        }

        p = ngx_hoop_pg_mask_cstr(p, end, &stmt);
        if (p == NULL || end - p < 2) {
            goto malformed;
        }

        /* parameter formats, parameters, then result formats */
        nf = (uint16_t) ngx_hoop_pg_mask_get_i16(p);
        p += 2 + 2 * nf;

        if (end - p < 2) {
            goto malformed;
        }

        np = (uint16_t) ngx_hoop_pg_mask_get_i16(p);
        p += 2;

        for (i = 0; i < np; i++) {
            if (end - p < 4) {
                goto malformed;
            }

            n = ngx_hoop_pg_get_u32(p);
            p += 4;

            if (n != 0xffffffff) {
                if ((size_t) (end - p) < n) {
                    goto malformed;
                }
                p += n;
            }
        }

        if (end - p < 2) {
            goto malformed;
        }

        nf = (uint16_t) ngx_hoop_pg_mask_get_i16(p);
        p += 2;

        if ((size_t) (end - p) < 2 * nf) {
            goto malformed;
        }

        it = ngx_hoop_pg_mask_push(s, ms, 'B');
        if (it == NULL) {
            return 0;
        }

        if (nf) {
            it->formats = ngx_alloc(nf * sizeof(int16_t), s->connection->log);
            if (it->formats == NULL) {
                goto failed;
            }

            for (i = 0; i < nf; i++) {
                it->formats[i] = ngx_hoop_pg_mask_get_i16(p + 2 * i);
            }

            it->nformats = nf;
        }

        if (ngx_hoop_pg_mask_names(s, it, &name, &stmt, NULL) != NGX_OK) {
            goto failed;
        }

        return len;

    case 'D':
    case 'C':
        if (end - p < 1) {
            goto malformed;
        }

        if (*p == 'P') {
            kind = msg[0] == 'D' ? 'd' : 'c';

        } else if (*p != 'S') {
            goto malformed;
        }

        if (ngx_hoop_pg_mask_cstr(p + 1, end, &name) == NULL) {
            goto malformed;
        }

        break;

    case 'E':
        if (ngx_hoop_pg_mask_cstr(p, end, &name) == NULL) {
            goto malformed;
        }

        break;

    case 'S':
    case 'F':
        break;

    default:
        return len;
    }

    it = ngx_hoop_pg_mask_push(s, ms, kind);
    if (it == NULL) {
        return 0;
    }

    if (ngx_hoop_pg_mask_names(s, it, &name, NULL, tp) != NGX_OK) {
        goto failed;
    }

    if (ms->stale && !ms->fetching
        && (kind == 'S' || kind == 'Q' || kind == 'F'))
    {
        /*
         * The snapshot must be read again: what follows waits until this
         * is answered (a point where the server awaits a new command).
         */
        gate->hold = 1;
    }

    return len;

malformed:

    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "hoop pg: malformed '%c' message from the client", msg[0]);
    ngx_hoop_pg_fatal(s, "08P01", "malformed message",
                      NGX_STREAM_BAD_REQUEST);
    return 0;

failed:

    ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
    return 0;
}


/* ------------------------------------------------------------------ */
/* server messages                                                    */


/*
 * Each server message header (before it is held or passed).  Moves the
 * queue of awaited answers on.  NGX_ERROR: the session was finalized.
 */

ngx_int_t
ngx_hoop_pg_mask_server_header(ngx_stream_session_t *s, u_char type,
    size_t len)
{
    ngx_str_t                  *name;
    ngx_hoop_pg_ctx_t          *ctx;
    ngx_hoop_pg_mask_t         *ms;
    ngx_hoop_pg_mask_item_t    *it;
    ngx_hoop_pg_mask_named_t   *n, *st;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ms = ctx->mask;

    it = ngx_hoop_pg_mask_head(ms);

    if (it && it->kind == 'K') {
        /* the catalog's answer: inspected whole and dropped */
        return NGX_OK;
    }

    name = it ? &it->name : NULL;

    switch (type) {

    case '1':                                   /* ParseComplete */
        if (it && it->kind == 'P') {
            if (ngx_hoop_pg_mask_named(s, ms, 0, name, NULL) == NULL) {
                return NGX_ERROR;
            }

            ngx_hoop_pg_mask_pop(ms);
        }

        return NGX_OK;

    case '2':                                   /* BindComplete */
        if (it && it->kind == 'B') {
            st = ngx_hoop_pg_mask_find(&ms->statements, &it->stmt);

            n = ngx_hoop_pg_mask_named(s, ms, 1, name, &it->stmt);
            if (n == NULL) {
                return NGX_ERROR;
            }

            n->formats = it->formats;
            n->nformats = it->nformats;
            it->formats = NULL;

            if (st && st->desc) {
                n->desc = st->desc;
                n->desc->refs++;
            }

            if (st && st->nodata) {
                n->nodata = 1;
            }

            ngx_hoop_pg_mask_pop(ms);
        }

        return NGX_OK;

    case '3':                                   /* CloseComplete */
        if (it && (it->kind == 'C' || it->kind == 'c')) {
            n = ngx_hoop_pg_mask_find(it->kind == 'c' ? &ms->portals
                                                      : &ms->statements,
                                      name);
            if (n) {
                ngx_hoop_pg_mask_forget(ms, it->kind == 'c', n);
            }

            ngx_hoop_pg_mask_pop(ms);
        }

        return NGX_OK;

    case 'n':                                   /* NoData */
        if (it && (it->kind == 'D' || it->kind == 'd')) {
            n = ngx_hoop_pg_mask_find(it->kind == 'd' ? &ms->portals
                                                      : &ms->statements,
                                      name);
            if (n) {
                n->nodata = 1;

                if (it->kind == 'd') {
                    n = ngx_hoop_pg_mask_find(&ms->statements, &n->stmt);
                    if (n) {
                        n->nodata = 1;
                    }
                }
            }

            ngx_hoop_pg_mask_pop(ms);
        }

        return NGX_OK;

    case 'D':                                   /* DataRow */
    case 'H':                                   /* CopyOutResponse */
        if (it && it->kind == 'E' && !ms->cur_started) {
            n = ngx_hoop_pg_mask_find(&ms->portals, name);

            ngx_hoop_pg_mask_result(ms, n ? n->desc : NULL,
                                    n ? n->formats : NULL,
                                    n ? n->nformats : 0);
        }

        if (type == 'H') {
            return NGX_OK;
        }

        if (!ms->cur_started) {
            /* rows of no known statement: nothing can be assumed */
            ngx_hoop_pg_mask_result(ms, NULL, NULL, 0);
        }

        if (!ms->cur_active) {
            return NGX_OK;
        }

        if (ms->cur_missing) {
            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "hoop pg: rows without a known description "
                          "under masking rules");
            ngx_hoop_pg_fatal(s, "XX000",
                              "the gateway cannot mask rows of a statement "
                              "it saw no description of",
                              NGX_STREAM_BAD_GATEWAY);
            return NGX_ERROR;
        }

        if (ms->cur->refused && ms->refuse) {
            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "hoop pg: \"%V\" (role profile \"%V\"): a result "
                          "column of unknown origin refused by masking "
                          "(unknown=refuse)",
                          &ctx->identity.user, &ctx->role_name);
            ngx_hoop_pg_fatal(s, "42501",
                              "a result column of unknown origin (an "
                              "expression, or a table the gateway does not "
                              "know yet) is refused by a masking rule",
                              NGX_STREAM_OK);
            return NGX_ERROR;
        }

        if (len > ms->conf->max_row) {
            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "hoop pg: a %uz byte row to mask is over "
                          "hoop_pg_mask_max_row %uz", len,
                          ms->conf->max_row);
            ngx_hoop_pg_fatal(s, "54000",
                              "row too large for the gateway to mask "
                              "(hoop_pg_mask_max_row)",
                              NGX_STREAM_OK);
            return NGX_ERROR;
        }

        return NGX_OK;

    case 'G':                                   /* CopyInResponse */
    case 'W':                                   /* CopyBothResponse */
        if (ctx->client_gate.hold && !ms->fetching) {
            /* the server waits for the client's data: no idle point */
            ctx->client_gate.hold = 0;
            ngx_post_event(&ms->release, &ngx_posted_events);
        }

        return NGX_OK;

    case 'd':                                   /* CopyData */
        if (ms->copy_active && len > ms->conf->max_row) {
            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "hoop pg: a %uz byte COPY row to mask is over "
                          "hoop_pg_mask_max_row %uz", len,
                          ms->conf->max_row);
            ngx_hoop_pg_fatal(s, "54000",
                              "row too large for the gateway to mask "
                              "(hoop_pg_mask_max_row)",
                              NGX_STREAM_OK);
            return NGX_ERROR;
        }

        return NGX_OK;

    case 'C':                                   /* CommandComplete */
    case 's':                                   /* PortalSuspended */
    case 'I':                                   /* EmptyQueryResponse */
        ngx_hoop_pg_mask_result_end(ms);
        ms->copy_active = 0;

        if (it && it->kind == 'E') {
            ngx_hoop_pg_mask_pop(ms);
        }

        return NGX_OK;

    case 'E':                                   /* ErrorResponse */
        ngx_hoop_pg_mask_result_end(ms);
        ms->copy_active = 0;

        /* the server skips to the next Sync */
        while (it && it->kind != 'S' && it->kind != 'Q' && it->kind != 'F')
        {
            ngx_hoop_pg_mask_pop(ms);
            it = ngx_hoop_pg_mask_head(ms);
        }

        return NGX_OK;
    }

    return NGX_OK;
}


ngx_uint_t
ngx_hoop_pg_mask_server_whole(ngx_stream_session_t *s, u_char type,
    size_t len)
{
    ngx_hoop_pg_ctx_t        *ctx;
    ngx_hoop_pg_mask_t       *ms;
    ngx_hoop_pg_mask_item_t  *it;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ms = ctx->mask;

    switch (type) {

    case 'D':
        it = ngx_hoop_pg_mask_head(ms);
        return (it && it->kind == 'K') || ms->cur_active;

    case 'd':
        return ms->copy_active;

    case 'T': case 'Z': case 'E': case 'N': case 'A': case 'H':
        return 1;

    case 'C':
        it = ngx_hoop_pg_mask_head(ms);
        return it && it->kind == 'K';
    }

    return 0;
}


/*
 * A whole server message.  Returns its new length, NGX_HOOP_PG_GATE_DROPPED
 * when it was removed, 0 when the session was finalized.
 */

size_t
ngx_hoop_pg_mask_server_inspect(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len)
{
    size_t                     n;
    ngx_hoop_pg_ctx_t         *ctx;
    ngx_hoop_pg_mask_t        *ms;
    ngx_hoop_pg_mask_item_t   *it;
    ngx_hoop_pg_mask_named_t  *nm;
    ngx_hoop_pg_mask_desc_t   *d;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ms = ctx->mask;

    it = ngx_hoop_pg_mask_head(ms);

    if (it && it->kind == 'K' && msg[0] != 'N' && msg[0] != 'A'
        && msg[0] != 'S')
    {
        switch (msg[0]) {

        case 'D':
            if (ngx_hoop_pg_mask_catalog_row(ms, msg, len) != NGX_OK) {
                ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
                return 0;
            }
            break;

        case 'Z':
            ngx_hoop_pg_mask_pop(ms);
            ngx_hoop_pg_mask_catalog_done(s, ms);
            break;

        case 'E':
            ngx_log_error(NGX_LOG_ERR, s->connection->log, 0,
                          "hoop pg: the catalog query for masking failed");
            ngx_hoop_pg_fatal(s, "XX000",
                              "the gateway could not read the catalog it "
                              "needs for masking", NGX_STREAM_BAD_GATEWAY);
            return 0;
        }

        return ngx_hoop_pg_mask_drop(s, gate, msg, len);
    }

    n = len;

    switch (msg[0]) {

    case 'T':
        d = ngx_hoop_pg_mask_describe(s, ms, msg, len);
        if (d == NULL) {
            ngx_hoop_pg_fatal(s, "08P01",
                              "invalid message from the database server",
                              NGX_STREAM_BAD_GATEWAY);
            return 0;
        }

        if (it && (it->kind == 'D' || it->kind == 'd')) {
            nm = ngx_hoop_pg_mask_find(it->kind == 'd' ? &ms->portals
                                                       : &ms->statements,
                                       &it->name);
            if (nm) {
                if (nm->desc) {
                    ngx_hoop_pg_mask_unref(nm->desc);
                }

                nm->desc = d;
                d->refs++;

                /*
                 * A portal's columns are its statement's: later Binds of
                 * that statement without any Describe (pgjdbc describes
                 * the portal once, then only binds) need them.
                 */
                if (it->kind == 'd') {
                    nm = ngx_hoop_pg_mask_find(&ms->statements, &nm->stmt);

                    if (nm) {
                        if (nm->desc) {
                            ngx_hoop_pg_mask_unref(nm->desc);
                        }

                        nm->desc = d;
                        d->refs++;
                        nm->nodata = 0;
                    }
                }
            }

            ngx_hoop_pg_mask_pop(ms);

        } else {
            /* a simple Query's result: its formats are in it */
            ngx_hoop_pg_mask_result(ms, d, NULL, 0);
        }

        ngx_hoop_pg_mask_unref(d);
        break;

    case 'D':
        n = ngx_hoop_pg_mask_data_row(s, ms, gate, msg, len);
        break;

    case 'H':
        if (ngx_hoop_pg_mask_copy_start(s, ms, msg, len) != NGX_OK) {
            return 0;
        }
        break;

    case 'd':
        n = ngx_hoop_pg_mask_copy_row(s, ms, gate, msg, len);
        break;

    case 'E':
    case 'N':
        n = ngx_hoop_pg_mask_fields(s, ms, gate, msg, len);
        break;

    case 'A':
        n = ngx_hoop_pg_mask_notification(s, ms, gate, msg, len);
        break;

    case 'Z':
        if (!ms->greeted) {
            /* the login's: it answers no client message */
            ms->greeted = 1;

        } else if (it
                   && (it->kind == 'S' || it->kind == 'Q' || it->kind == 'F'))
        {
            ngx_hoop_pg_mask_pop(ms);
        }

        ngx_hoop_pg_mask_result_end(ms);
        ms->copy_active = 0;

        if (len == 6 && msg[5] == 'I') {
            /* outside a transaction no portal survives */
            while (!ngx_queue_empty(&ms->portals)) {
                nm = ngx_queue_data(ngx_queue_head(&ms->portals),
                                    ngx_hoop_pg_mask_named_t, queue);
                ngx_hoop_pg_mask_forget(ms, 1, nm);
            }
        }

        if (ms->head == ms->tail) {
            /* idle: the statement's counts are the session's */
            ngx_hoop_pg_mask_idle(ms);

            if ((!ms->loaded || ms->stale) && !ms->fetching
                && ngx_hoop_pg_mask_fetch(s, ms) != NGX_OK)
            {
                return 0;
            }

            if (ctx->client_gate.hold && !ms->fetching) {
                /* held for a snapshot that needs no reading after all */
                ctx->client_gate.hold = 0;
                ngx_post_event(&ms->release, &ngx_posted_events);
            }
        }

        break;
    }

    ngx_reset_pool(ms->scratch);

    return n;
}


/* the statement's counts join the session's */

void
ngx_hoop_pg_mask_idle(ngx_hoop_pg_mask_t *ms)
{
    ngx_uint_t  i;

    if (ms->stmt.total == 0) {
        return;
    }

    ms->total.total += ms->stmt.total;

    for (i = 0; i < NGX_HOOP_MASK_NDETECTORS; i++) {
        ms->total.by_detector[i] += ms->stmt.by_detector[i];
        ms->stmt.by_detector[i] = 0;
    }

    for (i = 0; i < ms->conf->rules->nelts; i++) {
        ms->total.by_rule[i] += ms->stmt.by_rule[i];
        ms->stmt.by_rule[i] = 0;
    }

    ms->stmt.total = 0;
}


static size_t
ngx_hoop_pg_mask_drop(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t len)
{
    if (ngx_hoop_pg_gate_replace(s, gate, msg, len, NULL, 0) == NULL) {
        return 0;
    }

    return NGX_HOOP_PG_GATE_DROPPED;
}


/* ------------------------------------------------------------------ */
/* counts                                                             */


/*
 * "email:2 credit_card:1 key:3 emails:3" (detectors, then rules); for the
 * audit event "emails:3,cards:1;key:3,email:1" (rules; detectors).
 */

static u_char *
ngx_hoop_pg_mask_detail(ngx_hoop_pg_mask_t *ms, ngx_hoop_mask_stats_t *st,
    ngx_pool_t *pool, ngx_str_t *out, ngx_uint_t audit)
{
    u_char                *p;
    size_t                 len;
    ngx_uint_t             i, first;
    ngx_hoop_mask_rule_t  *rule;

    rule = ms->conf->rules->elts;

    len = 2;

    for (i = 0; i < NGX_HOOP_MASK_NDETECTORS; i++) {
        len += ngx_hoop_mask_detector_name(i)->len + NGX_INT_T_LEN + 2;
    }

    for (i = 0; i < ms->conf->rules->nelts; i++) {
        len += rule[i].name.len + NGX_INT_T_LEN + 2;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NULL;
    }

    p = out->data;
    first = 1;

    if (audit) {
        for (i = 0; i < ms->conf->rules->nelts; i++) {
            if (st->by_rule[i]) {
                p = ngx_sprintf(p, "%s%V:%ui", first ? "" : ",",
                                &rule[i].name, st->by_rule[i]);
                first = 0;
            }
        }

        *p++ = ';';
        first = 1;
    }

    for (i = 0; i < NGX_HOOP_MASK_NDETECTORS; i++) {
        if (st->by_detector[i]) {
            p = ngx_sprintf(p, "%s%V:%ui",
                            first ? "" : (audit ? "," : " "),
                            ngx_hoop_mask_detector_name(i),
                            st->by_detector[i]);
            first = 0;
        }
    }

    if (!audit) {
        for (i = 0; i < ms->conf->rules->nelts; i++) {
            if (st->by_rule[i]) {
                p = ngx_sprintf(p, "%s%V:%ui", first ? "" : " ",
                                &rule[i].name, st->by_rule[i]);
                first = 0;
            }
        }
    }

    out->len = p - out->data;

    return p;
}


/* for a statement's event: what was masked since the previous one */

void
ngx_hoop_pg_mask_audit(ngx_stream_session_t *s, ngx_pool_t *pool,
    ngx_str_t *out)
{
    ngx_hoop_pg_ctx_t   *ctx;
    ngx_hoop_pg_mask_t  *ms;

    ngx_str_null(out);

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ms = ctx ? ctx->mask : NULL;

    if (ms == NULL || ms->stmt.total == 0) {
        return;
    }

    if (ngx_hoop_pg_mask_detail(ms, &ms->stmt, pool, out, 1) == NULL) {
        ngx_str_null(out);
    }

    /* told once: the next statement counts its own */
    ngx_hoop_pg_mask_idle(ms);
}


static ngx_int_t
ngx_hoop_pg_mask_variable(ngx_stream_session_t *s,
    ngx_stream_variable_value_t *v, uintptr_t data)
{
    ngx_str_t               str;
    ngx_uint_t              i;
    ngx_hoop_pg_ctx_t      *ctx;
    ngx_hoop_pg_mask_t     *ms;
    ngx_hoop_mask_stats_t   sum;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);
    ms = ctx ? ctx->mask : NULL;

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    if (ms == NULL) {
        if (data == 0) {
            v->data = (u_char *) "0";
            v->len = 1;

        } else {
            v->data = (u_char *) "";
            v->len = 0;
        }

        return NGX_OK;
    }

    /* the session so far, the statement in progress included */
    sum = ms->total;
    sum.total += ms->stmt.total;

    sum.by_rule = ngx_pnalloc(s->connection->pool,
                              ms->conf->rules->nelts * sizeof(ngx_uint_t));
    if (sum.by_rule == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < NGX_HOOP_MASK_NDETECTORS; i++) {
        sum.by_detector[i] += ms->stmt.by_detector[i];
    }

    for (i = 0; i < ms->conf->rules->nelts; i++) {
        sum.by_rule[i] = ms->total.by_rule[i] + ms->stmt.by_rule[i];
    }

    if (data == 0) {
        v->data = ngx_pnalloc(s->connection->pool, NGX_INT_T_LEN);
        if (v->data == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_sprintf(v->data, "%ui", sum.total) - v->data;
        return NGX_OK;
    }

    if (ngx_hoop_pg_mask_detail(ms, &sum, s->connection->pool, &str, 0)
        == NULL)
    {
        return NGX_ERROR;
    }

    v->data = str.data;
    v->len = str.len;

    return NGX_OK;
}
