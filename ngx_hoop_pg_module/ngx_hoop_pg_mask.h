
/*
 * Masking in the Postgres gateway (hoop_pg_mask): shared by
 * ngx_hoop_pg_mask.c (rules, protocol tracking, catalog) and
 * ngx_hoop_pg_mask_row.c (rewriting values).
 */


#ifndef _NGX_HOOP_PG_MASK_H_INCLUDED_
#define _NGX_HOOP_PG_MASK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


/* bounds of what one session may make the gateway remember */
#define NGX_HOOP_PG_MASK_MAX_NAMED    10000    /* statements, portals */
#define NGX_HOOP_PG_MASK_MAX_ITEMS    65536    /* answers awaited */
#define NGX_HOOP_PG_MASK_MAX_COPY     2048     /* COPY text remembered */

/* type classes */
#define NGX_HOOP_PG_MASK_T_OTHER      0
#define NGX_HOOP_PG_MASK_T_TEXT       1
#define NGX_HOOP_PG_MASK_T_JSON       2
#define NGX_HOOP_PG_MASK_T_JSONB      3
#define NGX_HOOP_PG_MASK_T_INT        4
#define NGX_HOOP_PG_MASK_T_NUMERIC    5
#define NGX_HOOP_PG_MASK_T_ARRAY      6        /* of text-like types */
#define NGX_HOOP_PG_MASK_T_USER       7        /* OID >= 16384 */


/* hoop_pg_mask arguments of the gateway's own, beside the engine's */
typedef struct {
    ngx_array_t                 *roles;          /* ngx_str_t */
    ngx_array_t                 *groups;
    ngx_array_t                 *unless_groups;
    ngx_int_t                    unless;         /* variable index or -1 */
    ngx_uint_t                   refuse;         /* unknown=refuse */
} ngx_hoop_pg_mask_scope_t;


typedef struct {
    ngx_array_t                 *rules;          /* ngx_hoop_mask_rule_t */
    ngx_array_t                 *scopes;         /* in the same order */
    ngx_str_t                    catalog;        /* the 'Q' message */
    size_t                       max_row;
    ngx_msec_t                   cache_time;     /* catalog cache */
    ngx_uint_t                   columns;        /* a rule names columns */

    /* per worker (written in the worker's copy): catalog snapshots by
     * upstream server and database */
    ngx_queue_t                  cache;
    ngx_uint_t                   ncached;
    unsigned                     cache_ready:1;
} ngx_hoop_pg_mask_conf_t;


/* a catalog row: a column some rule names */
typedef struct {
    uint32_t                     oid;
    ngx_int_t                    attnum;
    ngx_int_t                    copypos;        /* in COPY table TO */
    ngx_int_t                    rule;           /* active rule, or -1 */
    ngx_str_t                    schema;
    ngx_str_t                    table;
    ngx_str_t                    column;
} ngx_hoop_pg_mask_attr_t;


typedef struct {
    uint32_t                     type;
    int32_t                      rule;           /* whole value, or -1 */
    u_char                       format;         /* as described */
    u_char                       unknown;        /* origin not known */
} ngx_hoop_pg_mask_col_t;


/* a catalog snapshot kept for the worker's next sessions (malloc) */
typedef struct {
    ngx_queue_t                  queue;
    ngx_uint_t                   refs;           /* the cache, sessions */
    ngx_str_t                    key;            /* server/database */
    ngx_msec_t                   loaded;
    uint32_t                     max_oid;
    ngx_uint_t                   nattrs;
    ngx_hoop_pg_mask_attr_t     *attrs;          /* names follow */
} ngx_hoop_pg_mask_cached_t;


/* a RowDescription resolved against the rules (malloc, counted) */
typedef struct {
    ngx_uint_t                   refs;
    ngx_uint_t                   ncols;
    ngx_uint_t                   refused;        /* unknown, refusable */
    ngx_uint_t                   rules;          /* columns with a rule */
    ngx_hoop_pg_mask_col_t       col[1];
} ngx_hoop_pg_mask_desc_t;


/* a named (or the unnamed) prepared statement or portal */
typedef struct {
    ngx_queue_t                  queue;
    ngx_str_t                    name;
    ngx_str_t                    stmt;           /* a portal's statement */
    ngx_hoop_pg_mask_desc_t     *desc;           /* NULL: not described */
    int16_t                     *formats;        /* portals: from Bind */
    ngx_uint_t                   nformats;
    unsigned                     nodata:1;
} ngx_hoop_pg_mask_named_t;


/* a client message whose answer is still to come */
typedef struct {
    u_char                       kind;           /* P B D d E C c S Q F K */
    ngx_str_t                    name;
    ngx_str_t                    stmt;           /* Bind */
    int16_t                     *formats;        /* Bind */
    ngx_uint_t                   nformats;
    ngx_str_t                    text;           /* Query: a COPY */
} ngx_hoop_pg_mask_item_t;


typedef struct {
    ngx_hoop_pg_mask_conf_t     *conf;
    ngx_stream_session_t        *session;
    u_char                      *skip;           /* per rule: off */
    ngx_uint_t                   detect;         /* detectors on */
    ngx_uint_t                   refuse;         /* unknown=refuse on */
    ngx_uint_t                   columns;        /* column rules on */
    ngx_uint_t                   catalog;        /* the catalog is used */

    ngx_pool_t                  *scratch;        /* reset per message */

    /* catalog snapshot */
    ngx_hoop_pg_mask_attr_t     *attrs;          /* sorted oid, attnum */
    ngx_uint_t                   nattrs;
    ngx_array_t                 *loading;        /* while fetching */
    ngx_pool_t                  *catalog_pool;
    ngx_hoop_pg_mask_cached_t   *cached;         /* names of attrs */
    uint32_t                     max_oid;
    unsigned                     loaded:1;
    unsigned                     stale:1;
    unsigned                     fetching:1;
    unsigned                     greeted:1;      /* login's ReadyForQuery */

    /* answers awaited, in order */
    ngx_hoop_pg_mask_item_t     *items;
    ngx_uint_t                   head;
    ngx_uint_t                   tail;
    ngx_uint_t                   nalloc;

    ngx_queue_t                  statements;
    ngx_queue_t                  portals;
    ngx_uint_t                   nstatements;
    ngx_uint_t                   nportals;

    /* the result being sent */
    ngx_hoop_pg_mask_desc_t     *cur;
    int16_t                     *cur_formats;
    ngx_uint_t                   cur_nformats;
    unsigned                     cur_started:1;
    unsigned                     cur_active:1;
    unsigned                     cur_missing:1;  /* rows, no description */

    /* COPY TO STDOUT being sent */
    int32_t                     *copy_rules;     /* per field */
    ngx_uint_t                   copy_ncols;
    u_char                       copy_delim;
    unsigned                     copy_active:1;
    unsigned                     copy_csv:1;
    unsigned                     copy_header:1;  /* next row is it */

    ngx_event_t                  release;        /* the client may go on */

    ngx_hoop_mask_stats_t        stmt;           /* since the last idle */
    ngx_hoop_mask_stats_t        total;          /* the session */
} ngx_hoop_pg_mask_t;


void ngx_hoop_pg_mask_idle(ngx_hoop_pg_mask_t *ms);
ngx_int_t ngx_hoop_pg_mask_rule_for(ngx_hoop_pg_mask_t *ms,
    ngx_str_t *schema, ngx_str_t *table, ngx_str_t *column,
    ngx_uint_t bare_only);

/* ngx_hoop_pg_mask_row.c */
ngx_uint_t ngx_hoop_pg_mask_class(uint32_t type);
size_t ngx_hoop_pg_mask_data_row(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms, ngx_hoop_pg_gate_t *gate, u_char *msg,
    size_t len);
size_t ngx_hoop_pg_mask_copy_row(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms, ngx_hoop_pg_gate_t *gate, u_char *msg,
    size_t len);
size_t ngx_hoop_pg_mask_fields(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms, ngx_hoop_pg_gate_t *gate, u_char *msg,
    size_t len);
size_t ngx_hoop_pg_mask_notification(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms, ngx_hoop_pg_gate_t *gate, u_char *msg,
    size_t len);



#define ngx_hoop_pg_mask_get_i16(p)                                          \
    ((int16_t) (((uint16_t) (p)[0] << 8) | (uint16_t) (p)[1]))


/* ngx_hoop_pg_mask.c */
ngx_hoop_pg_mask_item_t *ngx_hoop_pg_mask_push(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms, u_char kind);
ngx_hoop_pg_mask_item_t *ngx_hoop_pg_mask_head(ngx_hoop_pg_mask_t *ms);
u_char *ngx_hoop_pg_mask_cstr(u_char *p, u_char *end, ngx_str_t *out);

/* ngx_hoop_pg_mask_stmt.c */
ngx_hoop_pg_mask_named_t *ngx_hoop_pg_mask_find(ngx_queue_t *list,
    ngx_str_t *name);
ngx_hoop_pg_mask_named_t *ngx_hoop_pg_mask_named(
    ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms, ngx_uint_t portal,
    ngx_str_t *name, ngx_str_t *stmt);
void ngx_hoop_pg_mask_forget(ngx_hoop_pg_mask_t *ms,
    ngx_uint_t portal, ngx_hoop_pg_mask_named_t *n);
void ngx_hoop_pg_mask_unref(ngx_hoop_pg_mask_desc_t *d);
ngx_hoop_pg_mask_desc_t *ngx_hoop_pg_mask_describe(
    ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms, u_char *msg,
    size_t len);
void ngx_hoop_pg_mask_result(ngx_hoop_pg_mask_t *ms,
    ngx_hoop_pg_mask_desc_t *d, int16_t *formats, ngx_uint_t nformats);
void ngx_hoop_pg_mask_result_end(ngx_hoop_pg_mask_t *ms);

/* ngx_hoop_pg_mask_catalog.c */
ngx_int_t ngx_hoop_pg_mask_fetch(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms);
ngx_int_t ngx_hoop_pg_mask_catalog_row(ngx_hoop_pg_mask_t *ms,
    u_char *msg, size_t len);
void ngx_hoop_pg_mask_catalog_done(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms);
ngx_int_t ngx_hoop_pg_mask_cache_get(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms);
void ngx_hoop_pg_mask_cache_put(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms);
void ngx_hoop_pg_mask_stale(ngx_hoop_pg_mask_t *ms);
void ngx_hoop_pg_mask_cache_unref(ngx_hoop_pg_mask_cached_t *c);

/* ngx_hoop_pg_mask_copy.c */
ngx_int_t ngx_hoop_pg_mask_copy_start(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms, u_char *msg, size_t len);


#endif /* _NGX_HOOP_PG_MASK_H_INCLUDED_ */
