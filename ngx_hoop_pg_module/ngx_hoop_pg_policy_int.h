
/*
 * Statement policy internals, shared by ngx_hoop_pg_policy*.c only: the
 * rule set built from hoop_pg_deny/hoop_pg_allow, statement kinds, the
 * per-worker decision cache and the parser stack.
 */


#ifndef _NGX_HOOP_PG_POLICY_INT_H_INCLUDED_
#define _NGX_HOOP_PG_POLICY_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_pg_policy.h"
#include "ngx_hoop_pg_text_cache.h"


/* statement kinds: one bit each */
#define NGX_HOOP_PG_K_SELECT         0x00000001
#define NGX_HOOP_PG_K_INSERT         0x00000002
#define NGX_HOOP_PG_K_UPDATE         0x00000004
#define NGX_HOOP_PG_K_DELETE         0x00000008
#define NGX_HOOP_PG_K_MERGE          0x00000010
#define NGX_HOOP_PG_K_TRUNCATE       0x00000020
#define NGX_HOOP_PG_K_COPY           0x00000040
#define NGX_HOOP_PG_K_COPY_PROGRAM   0x00000080
#define NGX_HOOP_PG_K_DDL            0x00000100
#define NGX_HOOP_PG_K_DROP           0x00000200
#define NGX_HOOP_PG_K_ALTER          0x00000400
#define NGX_HOOP_PG_K_CREATE         0x00000800
#define NGX_HOOP_PG_K_GRANT          0x00001000
#define NGX_HOOP_PG_K_SET_ROLE       0x00002000
#define NGX_HOOP_PG_K_SET            0x00004000
#define NGX_HOOP_PG_K_DO             0x00008000
#define NGX_HOOP_PG_K_CALL           0x00010000
#define NGX_HOOP_PG_K_LOCK           0x00020000
#define NGX_HOOP_PG_K_PREPARE        0x00040000
#define NGX_HOOP_PG_K_EXECUTE        0x00080000
#define NGX_HOOP_PG_K_EXPLAIN        0x00100000
#define NGX_HOOP_PG_K_VACUUM         0x00200000
#define NGX_HOOP_PG_K_TRANSACTION    0x00400000
#define NGX_HOOP_PG_K_LISTEN         0x00800000
#define NGX_HOOP_PG_K_NOTIFY         0x01000000
#define NGX_HOOP_PG_K_OTHER          0x02000000
#define NGX_HOOP_PG_K_FUNCTION_CALL  0x04000000

#define NGX_HOOP_PG_K_NKINDS         27
#define NGX_HOOP_PG_K_ALL            0x07ffffff

/* content the gateway cannot read: denied unless explicitly allowed */
#define NGX_HOOP_PG_K_OPAQUE                                                 \
    (NGX_HOOP_PG_K_DO|NGX_HOOP_PG_K_FUNCTION_CALL)

/* what "ddl" stands for in a rule */
#define NGX_HOOP_PG_K_DDL_ALL                                                \
    (NGX_HOOP_PG_K_DDL|NGX_HOOP_PG_K_CREATE|NGX_HOOP_PG_K_ALTER              \
     |NGX_HOOP_PG_K_DROP)


/* longest statement text the policy parses; longer ones are denied */
#define NGX_HOOP_PG_POLICY_MAX_SQL    (1024 * 1024)
/* largest parse tree (libpg_query JSON) the policy reads */
#define NGX_HOOP_PG_POLICY_MAX_JSON   (16 * 1024 * 1024)
/*
 * the parser's stack: libpg_query recurses once per level of a left-deep
 * expression ("1*1*1..."), ~128 bytes a level, at most one level per two
 * bytes of SQL; twice the worst case measured for MAX_SQL
 */
#define NGX_HOOP_PG_POLICY_STACK      (128 * 1024 * 1024)


/* a [schema.]name: in a rule, or as a statement mentions it */
typedef struct {
    ngx_str_t                   schema;     /* data NULL: unqualified */
    ngx_str_t                   name;       /* data NULL: any name */
} ngx_hoop_pg_policy_name_t;


typedef struct {
    uint32_t                    kinds;      /* 0: any */
    ngx_array_t                *relations;  /* ngx_hoop_pg_policy_name_t */
    ngx_array_t                *functions;  /* ngx_hoop_pg_policy_name_t */
    ngx_array_t                *roles;      /* ngx_str_t; NULL: all */
    ngx_array_t                *groups;     /* ngx_str_t; NULL: all */
    unsigned                    where_none:1;

    ngx_str_t                   rule;       /* "hoop_pg_deny ..." */
    ngx_str_t                   message;
    ngx_msec_t                  timeout;    /* hoop_pg_review */
} ngx_hoop_pg_policy_rule_t;


typedef struct ngx_hoop_pg_policy_stack_s  ngx_hoop_pg_policy_stack_t;


/* decisions cached per worker, under the role (and groups) and the text */
#define NGX_HOOP_PG_POLICY_CACHE_ENTRIES  4096
#define NGX_HOOP_PG_POLICY_CACHE_BYTES    (4 * 1024 * 1024)
/* longer statements are parsed each time */
#define NGX_HOOP_PG_POLICY_CACHE_MAX_KEY  (16 * 1024)

typedef struct {
    ngx_int_t                   rc;
    ngx_hoop_pg_verdict_t       v;      /* points into the configuration */
} ngx_hoop_pg_policy_cached_t;


typedef struct {
    ngx_array_t                 deny;       /* ngx_hoop_pg_policy_rule_t */
    ngx_array_t                 allow;      /* ngx_hoop_pg_policy_rule_t */
    ngx_array_t                 review;     /* ngx_hoop_pg_policy_rule_t */

    /* "<kind>" statements are not allowed: one verdict per kind */
    ngx_hoop_pg_verdict_t       not_listed[NGX_HOOP_PG_K_NKINDS];

    ngx_hoop_pg_text_cache_t   *cache;      /* per worker, on first use */
    ngx_hoop_pg_policy_stack_t *stack;      /* one for all policies */

    unsigned                    merged:1;
    unsigned                    uses_groups:1;  /* a rule has groups= */
} ngx_hoop_pg_policy_t;


/* what one session may do: from its role profile */
typedef struct {
    ngx_hoop_pg_policy_t       *policy;
    ngx_str_t                  *role;       /* NULL: no profile */
    ngx_array_t                *groups;     /* the identity's, or NULL */
    uint32_t                    allowed;    /* kinds that pass */
    unsigned                    allowlist:1;
} ngx_hoop_pg_policy_scope_t;


/* ngx_hoop_pg_policy.c */
void ngx_hoop_pg_policy_scope(ngx_hoop_pg_policy_t *p, ngx_str_t *role,
    ngx_array_t *groups, ngx_hoop_pg_policy_scope_t *sc);
ngx_uint_t ngx_hoop_pg_policy_rule_applies(ngx_hoop_pg_policy_rule_t *r,
    ngx_str_t *role, ngx_array_t *groups);
ngx_int_t ngx_hoop_pg_policy_call_rules(ngx_array_t *rules,
    ngx_hoop_pg_policy_session_t *ps, ngx_hoop_pg_verdict_t *v);
ngx_int_t ngx_hoop_pg_policy_parse_name(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_hoop_pg_policy_name_t *n);
ngx_uint_t ngx_hoop_pg_policy_name_match(ngx_hoop_pg_policy_name_t *rule,
    ngx_hoop_pg_policy_name_t *seen);

/* ngx_hoop_pg_policy_walk.c: parse and judge one statement text */
ngx_int_t ngx_hoop_pg_policy_evaluate(ngx_hoop_pg_policy_scope_t *sc,
    u_char *sql, size_t len, ngx_log_t *log, ngx_hoop_pg_verdict_t *v);

/* ngx_hoop_pg_policy_stack.c: run fn(arg) on the parser's own stack */
ngx_hoop_pg_policy_stack_t *ngx_hoop_pg_policy_stack(ngx_conf_t *cf);
ngx_int_t ngx_hoop_pg_policy_on_stack(ngx_hoop_pg_policy_stack_t *stack,
    void (*fn)(void *arg), void *arg, size_t depth_hint, ngx_log_t *log);


#endif /* _NGX_HOOP_PG_POLICY_INT_H_INCLUDED_ */
