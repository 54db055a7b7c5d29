
/*
 * Judging one statement text: libpg_query parses it with PostgreSQL's own
 * grammar (JSON parse tree, read with yajl's tree API) and every statement
 * node in it is judged, nested ones included (CTEs, EXPLAIN, PREPARE,
 * COPY (query), CREATE TABLE AS, rule actions, SQL function bodies, SQL
 * handed to functions that run it).  Each statement node is judged on its
 * own kinds and on the relations and functions named anywhere below it.
 *
 * The parse tree is walked generically: a key "XxxStmt" (capitalised)
 * holds a statement node, an object with "relname" is a relation (RangeVar,
 * wrapped or not), "funcname" / "objname" lists name functions.  Node
 * shapes are those of libpg_query 15-4 (PostgreSQL 15 grammar).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <yajl/yajl_tree.h>
#include <pg_query.h>
#include "ngx_hoop_pg_policy_int.h"


/* JSON nesting the walk follows; deeper statements are denied */
#define NGX_HOOP_PG_POLICY_MAX_DEPTH    10000
/* SQL parsed out of strings: nesting, and parses per statement */
#define NGX_HOOP_PG_POLICY_MAX_NESTED   4
#define NGX_HOOP_PG_POLICY_MAX_PARSES   32


/* functions with a meaning the policy knows */
#define NGX_HOOP_PG_F_SET_CONFIG   1     /* set_config(name, ...) */
#define NGX_HOOP_PG_F_NOTIFY       2     /* pg_notify() */
#define NGX_HOOP_PG_F_SQL_ARG1     3     /* runs its 1st argument as SQL */
#define NGX_HOOP_PG_F_SQL_ARG2     4     /* runs its 2nd argument as SQL */
#define NGX_HOOP_PG_F_REL_ARG1     5     /* reads the relation named */
#define NGX_HOOP_PG_F_ALL_RELS     6     /* reads whole schemas */


typedef struct {
    const char                     *name;
    uint32_t                        kinds;
} ngx_hoop_pg_policy_stmt_kind_t;


typedef struct {
    const char                     *name;
    ngx_uint_t                      what;
} ngx_hoop_pg_policy_func_t;


typedef struct {
    ngx_hoop_pg_policy_scope_t     *sc;
    ngx_pool_t                     *pool;       /* freed with the trees */
    ngx_log_t                      *log;

    u_char                         *sql;
    size_t                          len;

    /* what the statements name, in walk order */
    ngx_array_t                     rels;       /* policy_name_t */
    ngx_array_t                     funcs;      /* policy_name_t */

    uint32_t                       *kinds;      /* innermost statement's */
    ngx_uint_t                      depth;
    ngx_uint_t                      nested;
    ngx_uint_t                      parses;
    ngx_uint_t                      in_define;

    ngx_hoop_pg_verdict_t          *v;
    ngx_int_t                       rc;

    /* the first review rule a statement matched: applies if none denies */
    ngx_hoop_pg_policy_rule_t      *review;
} ngx_hoop_pg_policy_walk_t;


static void ngx_hoop_pg_policy_run(void *data);
static void ngx_hoop_pg_policy_sql(ngx_hoop_pg_policy_walk_t *w,
    const char *sql);
static void ngx_hoop_pg_policy_value(ngx_hoop_pg_policy_walk_t *w,
    yajl_val v);
static void ngx_hoop_pg_policy_object(ngx_hoop_pg_policy_walk_t *w,
    yajl_val obj);
static void ngx_hoop_pg_policy_stmt(ngx_hoop_pg_policy_walk_t *w,
    const char *name, yajl_val node);
static uint32_t ngx_hoop_pg_policy_classify(ngx_hoop_pg_policy_walk_t *w,
    const char *name, yajl_val node, ngx_uint_t *where_none);
static void ngx_hoop_pg_policy_function_body(ngx_hoop_pg_policy_walk_t *w,
    yajl_val node);
static void ngx_hoop_pg_policy_call(ngx_hoop_pg_policy_walk_t *w,
    yajl_val fc);
static void ngx_hoop_pg_policy_judge(ngx_hoop_pg_policy_walk_t *w,
    const char *name, uint32_t kinds, ngx_uint_t where_none,
    ngx_uint_t r0, ngx_uint_t f0);
static ngx_hoop_pg_policy_rule_t *ngx_hoop_pg_policy_match(
    ngx_hoop_pg_policy_walk_t *w, ngx_array_t *rules, uint32_t kinds,
    ngx_uint_t where_none, ngx_uint_t r0, ngx_uint_t f0);
static ngx_uint_t ngx_hoop_pg_policy_any(ngx_array_t *rule_names,
    ngx_array_t *seen, ngx_uint_t from);
static void ngx_hoop_pg_policy_nested(ngx_hoop_pg_policy_walk_t *w,
    const char *sql);
static void ngx_hoop_pg_policy_note(ngx_hoop_pg_policy_walk_t *w,
    ngx_array_t *a, const char *schema, const char *name);
static void ngx_hoop_pg_policy_note_list(ngx_hoop_pg_policy_walk_t *w,
    ngx_array_t *a, yajl_val list, ngx_uint_t drop_last);
static void ngx_hoop_pg_policy_note_relname(ngx_hoop_pg_policy_walk_t *w,
    const char *text);
static void ngx_hoop_pg_policy_refuse(ngx_hoop_pg_policy_walk_t *w,
    const ngx_hoop_pg_verdict_t *v);
static yajl_val ngx_hoop_pg_policy_get(yajl_val obj, const char *key);
static const char *ngx_hoop_pg_policy_string(yajl_val obj, const char *key);
static const char *ngx_hoop_pg_policy_const(yajl_val node);
static ngx_uint_t ngx_hoop_pg_policy_setting_ok(const char *name,
    yajl_val value);
static ngx_uint_t ngx_hoop_pg_policy_has_column(yajl_val v,
    ngx_uint_t depth);
static ngx_uint_t ngx_hoop_pg_policy_relation_type(const char *objtype);
static int ngx_hoop_pg_policy_cmp(const void *key, const void *elt);
static void ngx_hoop_pg_policy_free_parse(void *data);
static void ngx_hoop_pg_policy_free_tree(void *data);


/* statement nodes whose kind their name prefix does not tell; sorted */
static const ngx_hoop_pg_policy_stmt_kind_t  ngx_hoop_pg_policy_stmts[] = {
    { "AlterDefaultPrivilegesStmt", NGX_HOOP_PG_K_GRANT },
    { "CallStmt", NGX_HOOP_PG_K_CALL },
    { "CheckPointStmt", NGX_HOOP_PG_K_OTHER },
    { "ClosePortalStmt", NGX_HOOP_PG_K_SELECT },
    { "ClusterStmt", NGX_HOOP_PG_K_VACUUM },
    { "CommentStmt", NGX_HOOP_PG_K_DDL },
    { "CompositeTypeStmt", NGX_HOOP_PG_K_CREATE },
    { "ConstraintsSetStmt", NGX_HOOP_PG_K_SET },
    { "CopyStmt", NGX_HOOP_PG_K_COPY },
    { "DeallocateStmt", NGX_HOOP_PG_K_PREPARE },
    { "DeclareCursorStmt", NGX_HOOP_PG_K_SELECT },
    { "DefineStmt", NGX_HOOP_PG_K_CREATE },
    { "DeleteStmt", NGX_HOOP_PG_K_DELETE },
    { "DiscardStmt", NGX_HOOP_PG_K_SET },
    { "DoStmt", NGX_HOOP_PG_K_DO },
    { "ExecuteStmt", NGX_HOOP_PG_K_EXECUTE },
    { "ExplainStmt", NGX_HOOP_PG_K_EXPLAIN },
    { "FetchStmt", NGX_HOOP_PG_K_SELECT },
    { "GrantRoleStmt", NGX_HOOP_PG_K_GRANT },
    { "GrantStmt", NGX_HOOP_PG_K_GRANT },
    { "ImportForeignSchemaStmt", NGX_HOOP_PG_K_CREATE },
    { "IndexStmt", NGX_HOOP_PG_K_CREATE },
    { "InsertStmt", NGX_HOOP_PG_K_INSERT },
    { "ListenStmt", NGX_HOOP_PG_K_LISTEN },
    { "LoadStmt", NGX_HOOP_PG_K_OTHER },
    { "LockStmt", NGX_HOOP_PG_K_LOCK },
    { "MergeStmt", NGX_HOOP_PG_K_MERGE },
    { "NotifyStmt", NGX_HOOP_PG_K_NOTIFY },
    { "PLAssignStmt", NGX_HOOP_PG_K_SELECT },
    { "PrepareStmt", NGX_HOOP_PG_K_PREPARE },
    { "ReassignOwnedStmt", NGX_HOOP_PG_K_ALTER },
    { "RefreshMatViewStmt", NGX_HOOP_PG_K_OTHER },
    { "ReindexStmt", NGX_HOOP_PG_K_VACUUM },
    { "RenameStmt", NGX_HOOP_PG_K_ALTER },
    { "ReplicaIdentityStmt", NGX_HOOP_PG_K_ALTER },
    { "ReturnStmt", NGX_HOOP_PG_K_SELECT },
    { "RuleStmt", NGX_HOOP_PG_K_CREATE },
    { "SecLabelStmt", NGX_HOOP_PG_K_DDL },
    { "SelectStmt", NGX_HOOP_PG_K_SELECT },
    { "SetOperationStmt", NGX_HOOP_PG_K_SELECT },
    { "TransactionStmt", NGX_HOOP_PG_K_TRANSACTION },
    { "TruncateStmt", NGX_HOOP_PG_K_TRUNCATE },
    { "UnlistenStmt", NGX_HOOP_PG_K_LISTEN },
    { "UpdateStmt", NGX_HOOP_PG_K_UPDATE },
    { "VacuumStmt", NGX_HOOP_PG_K_VACUUM },
    { "VariableSetStmt", NGX_HOOP_PG_K_SET },
    { "VariableShowStmt", NGX_HOOP_PG_K_SELECT },
    { "ViewStmt", NGX_HOOP_PG_K_CREATE }
};


static const ngx_hoop_pg_policy_func_t  ngx_hoop_pg_policy_funcs[] = {
    { "set_config", NGX_HOOP_PG_F_SET_CONFIG },
    { "pg_notify", NGX_HOOP_PG_F_NOTIFY },
    { "query_to_xml", NGX_HOOP_PG_F_SQL_ARG1 },
    { "query_to_xmlschema", NGX_HOOP_PG_F_SQL_ARG1 },
    { "query_to_xml_and_xmlschema", NGX_HOOP_PG_F_SQL_ARG1 },
    { "ts_stat", NGX_HOOP_PG_F_SQL_ARG1 },
    { "ts_rewrite", NGX_HOOP_PG_F_SQL_ARG2 },
    { "table_to_xml", NGX_HOOP_PG_F_REL_ARG1 },
    { "table_to_xmlschema", NGX_HOOP_PG_F_REL_ARG1 },
    { "table_to_xml_and_xmlschema", NGX_HOOP_PG_F_REL_ARG1 },
    { "schema_to_xml", NGX_HOOP_PG_F_ALL_RELS },
    { "schema_to_xmlschema", NGX_HOOP_PG_F_ALL_RELS },
    { "schema_to_xml_and_xmlschema", NGX_HOOP_PG_F_ALL_RELS },
    { "database_to_xml", NGX_HOOP_PG_F_ALL_RELS },
    { "database_to_xmlschema", NGX_HOOP_PG_F_ALL_RELS },
    { "database_to_xml_and_xmlschema", NGX_HOOP_PG_F_ALL_RELS },
    { NULL, 0 }
};


static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_unparsed = {
    ngx_string("parse error"),
    ngx_string("statement could not be parsed by the gateway")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_too_complex = {
    ngx_string("statement too complex"),
    ngx_string("statement is nested too deeply for the gateway's policy")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_setting = {
    ngx_string("default: session setting"),
    ngx_string("the gateway reads statements only with "
               "standard_conforming_strings on and client_encoding UTF8: "
               "this setting is denied")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_do = {
    ngx_string("default: do"),
    ngx_string("DO blocks are denied by the gateway unless allowed with "
               "hoop_pg_allow statement=do")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_opaque = {
    ngx_string("default: do"),
    ngx_string("code the gateway cannot read (a function body not in SQL, "
               "or SQL text computed at run time) is denied unless allowed "
               "with hoop_pg_allow statement=do")
};


/*
 * NGX_OK: allowed; NGX_DECLINED: denied, *v set; NGX_ERROR: not evaluated.
 * Runs on the parser's own stack (libpg_query recurses without bound).
 */

ngx_int_t
ngx_hoop_pg_policy_evaluate(ngx_hoop_pg_policy_scope_t *sc, u_char *sql,
    size_t len, ngx_log_t *log, ngx_hoop_pg_verdict_t *v)
{
    ngx_hoop_pg_policy_walk_t  w;

    ngx_memzero(&w, sizeof(ngx_hoop_pg_policy_walk_t));

    w.sc = sc;
    w.log = log;
    w.sql = sql;
    w.len = len;
    w.v = v;
    w.rc = NGX_ERROR;

    if (ngx_hoop_pg_policy_on_stack(sc->policy->stack,
                                    ngx_hoop_pg_policy_run, &w, len, log)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (w.rc == NGX_OK && w.review) {
        v->rule = w.review->rule;
        v->message = w.review->message;
        v->timeout = w.review->timeout;
        return NGX_HOOP_PG_POLICY_REVIEW;
    }

    return w.rc;
}


static void
ngx_hoop_pg_policy_run(void *data)
{
    ngx_hoop_pg_policy_walk_t  *w = data;

    u_char  *text;

    w->pool = ngx_create_pool(4096, w->log);
    if (w->pool == NULL) {
        return;
    }

    if (ngx_array_init(&w->rels, w->pool, 16,
                       sizeof(ngx_hoop_pg_policy_name_t))
        != NGX_OK
        || ngx_array_init(&w->funcs, w->pool, 16,
                          sizeof(ngx_hoop_pg_policy_name_t))
           != NGX_OK)
    {
        goto done;
    }

    w->rc = NGX_OK;

    /* the server stops at a NUL; the parser must not see less than it */

    if (ngx_strlchr(w->sql, w->sql + w->len, '\0') != NULL) {
        ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_unparsed);
        goto done;
    }

    text = ngx_pnalloc(w->pool, w->len + 1);
    if (text == NULL) {
        w->rc = NGX_ERROR;
        goto done;
    }

    ngx_memcpy(text, w->sql, w->len);
    text[w->len] = '\0';

    ngx_hoop_pg_policy_sql(w, (const char *) text);

done:

    /* frees the parse trees too */
    ngx_destroy_pool(w->pool);
}


/* parse SQL text and judge every statement in it */

static void
ngx_hoop_pg_policy_sql(ngx_hoop_pg_policy_walk_t *w, const char *sql)
{
    size_t               len;
    yajl_val             tree;
    ngx_pool_cleanup_t  *cln;
    PgQueryParseResult  *pr;
    char                 err[128];

    if (++w->parses > NGX_HOOP_PG_POLICY_MAX_PARSES) {
        ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_too_complex);
        return;
    }

    pr = ngx_pcalloc(w->pool, sizeof(PgQueryParseResult));
    cln = ngx_pool_cleanup_add(w->pool, 0);

    if (pr == NULL || cln == NULL) {
        w->rc = NGX_ERROR;
        return;
    }

    *pr = pg_query_parse(sql);

    cln->handler = ngx_hoop_pg_policy_free_parse;
    cln->data = pr;

    if (pr->error) {
        ngx_log_debug2(NGX_LOG_DEBUG_STREAM, w->log, 0,
                       "hoop pg policy: parse error at %d: %s",
                       pr->error->cursorpos, pr->error->message);
        ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_unparsed);
        return;
    }

    len = ngx_strlen(pr->parse_tree);

    if (len > NGX_HOOP_PG_POLICY_MAX_JSON) {
        ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_too_complex);
        return;
    }

    cln = ngx_pool_cleanup_add(w->pool, 0);
    if (cln == NULL) {
        w->rc = NGX_ERROR;
        return;
    }

    /* invalid UTF-8 fails here: the server would refuse it too */

    tree = yajl_tree_parse(pr->parse_tree, err, sizeof(err));

    /* the JSON text is not needed any more: less memory held at once */
    pg_query_free_parse_result(*pr);
    ngx_memzero(pr, sizeof(PgQueryParseResult));

    if (tree == NULL) {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, w->log, 0,
                       "hoop pg policy: parse tree not read: %s", err);
        ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_unparsed);
        return;
    }

    cln->handler = ngx_hoop_pg_policy_free_tree;
    cln->data = tree;

    ngx_hoop_pg_policy_value(w, ngx_hoop_pg_policy_get(tree, "stmts"));
}


static void
ngx_hoop_pg_policy_value(ngx_hoop_pg_policy_walk_t *w, yajl_val v)
{
    size_t  i;

    if (w->rc != NGX_OK) {
        return;
    }

    if (YAJL_IS_OBJECT(v)) {
        ngx_hoop_pg_policy_object(w, v);
        return;
    }

    if (YAJL_IS_ARRAY(v)) {
        for (i = 0; i < v->u.array.len && w->rc == NGX_OK; i++) {
            ngx_hoop_pg_policy_value(w, v->u.array.values[i]);
        }
    }
}


static void
ngx_hoop_pg_policy_object(ngx_hoop_pg_policy_walk_t *w, yajl_val obj)
{
    size_t       i, len;
    yajl_val     val;
    const char  *key, *s;

    if (++w->depth > NGX_HOOP_PG_POLICY_MAX_DEPTH) {
        ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_too_complex);
        return;
    }

    for (i = 0; i < obj->u.object.len && w->rc == NGX_OK; i++) {
        key = obj->u.object.keys[i];
        val = obj->u.object.values[i];

        /* a relation: RangeVar, as a node or as a typed field */

        if (ngx_strcmp(key, "relname") == 0) {
            s = YAJL_GET_STRING(val);

            if (s != NULL) {
                ngx_hoop_pg_policy_note(w, &w->rels,
                    ngx_hoop_pg_policy_string(obj, "schemaname"), s);
            }

            continue;
        }

        /* function names: calls, and DDL naming functions */

        if (ngx_strcmp(key, "funcname") == 0
            || ngx_strcmp(key, "objname") == 0)
        {
            ngx_hoop_pg_policy_note_list(w, &w->funcs, val, 0);
            ngx_hoop_pg_policy_value(w, val);
            continue;
        }

        if (YAJL_IS_OBJECT(val)) {
            len = ngx_strlen(key);

            if (len > 4 && key[0] >= 'A' && key[0] <= 'Z'
                && ngx_strcmp(key + len - 4, "Stmt") == 0)
            {
                ngx_hoop_pg_policy_stmt(w, key, val);
                continue;
            }

            /* ALTER ROLE/DATABASE/SYSTEM ... SET: a typed field */
            if (ngx_strcmp(key, "setstmt") == 0) {
                ngx_hoop_pg_policy_stmt(w, "VariableSetStmt", val);
                continue;
            }

            if (ngx_strcmp(key, "FuncCall") == 0
                || ngx_strcmp(key, "funccall") == 0)
            {
                ngx_hoop_pg_policy_call(w, val);

            } else if (ngx_strcmp(key, "MergeWhenClause") == 0 && w->kinds) {
                s = ngx_hoop_pg_policy_string(val, "commandType");

                if (s && ngx_strcmp(s, "CMD_INSERT") == 0) {
                    *w->kinds |= NGX_HOOP_PG_K_INSERT;

                } else if (s && ngx_strcmp(s, "CMD_UPDATE") == 0) {
                    *w->kinds |= NGX_HOOP_PG_K_UPDATE;

                } else if (s && ngx_strcmp(s, "CMD_DELETE") == 0) {
                    *w->kinds |= NGX_HOOP_PG_K_DELETE;
                }

            } else if (ngx_strcmp(key, "TypeName") == 0 && w->in_define) {
                /* CREATE OPERATOR/AGGREGATE (FUNCTION = f, SFUNC = f) */
                ngx_hoop_pg_policy_note_list(w, &w->funcs,
                    ngx_hoop_pg_policy_get(val, "names"), 0);
            }

            ngx_hoop_pg_policy_object(w, val);
            continue;
        }

        /* CASCADE reaches objects the statement does not name */

        if (ngx_strcmp(key, "behavior") == 0) {
            s = YAJL_GET_STRING(val);

            if (s && ngx_strcmp(s, "DROP_CASCADE") == 0) {
                ngx_hoop_pg_policy_note(w, &w->rels, NULL, NULL);
            }

            continue;
        }

        ngx_hoop_pg_policy_value(w, val);
    }

    w->depth--;
}


static void
ngx_hoop_pg_policy_stmt(ngx_hoop_pg_policy_walk_t *w, const char *name,
    yajl_val node)
{
    uint32_t     kinds, *saved;
    ngx_uint_t   r0, f0, where_none, define;

    r0 = w->rels.nelts;
    f0 = w->funcs.nelts;

    kinds = ngx_hoop_pg_policy_classify(w, name, node, &where_none);

    if (w->rc != NGX_OK) {
        return;
    }

    saved = w->kinds;
    w->kinds = &kinds;

    define = (ngx_strcmp(name, "DefineStmt") == 0);
    w->in_define += define;

    if (ngx_strcmp(name, "CreateFunctionStmt") == 0) {
        ngx_hoop_pg_policy_function_body(w, node);
    }

    if (w->rc == NGX_OK) {
        ngx_hoop_pg_policy_object(w, node);
    }

    w->in_define -= define;
    w->kinds = saved;

    if (w->rc != NGX_OK) {
        return;
    }

    ngx_hoop_pg_policy_judge(w, name, kinds, where_none, r0, f0);
}


/* a statement node's own kinds, and what it names besides RangeVars */

static uint32_t
ngx_hoop_pg_policy_classify(ngx_hoop_pg_policy_walk_t *w, const char *name,
    yajl_val node, ngx_uint_t *where_none)
{
    size_t                                 i;
    uint32_t                               kinds;
    yajl_val                               val, list;
    const char                            *s;
    const ngx_hoop_pg_policy_stmt_kind_t  *k;

    *where_none = 0;

    k = bsearch(name, ngx_hoop_pg_policy_stmts,
                sizeof(ngx_hoop_pg_policy_stmts)
                / sizeof(ngx_hoop_pg_policy_stmt_kind_t),
                sizeof(ngx_hoop_pg_policy_stmt_kind_t),
                ngx_hoop_pg_policy_cmp);

    if (k) {
        kinds = k->kinds;

    } else if (ngx_strncmp(name, "Create", 6) == 0) {
        kinds = NGX_HOOP_PG_K_CREATE;

    } else if (ngx_strncmp(name, "Alter", 5) == 0) {
        kinds = NGX_HOOP_PG_K_ALTER;

    } else if (ngx_strncmp(name, "Drop", 4) == 0) {
        kinds = NGX_HOOP_PG_K_DROP;

    } else {
        kinds = NGX_HOOP_PG_K_OTHER;
    }

    switch (kinds) {

    case NGX_HOOP_PG_K_SELECT:
        /* SELECT ... INTO creates a table */
        if (ngx_strcmp(name, "SelectStmt") == 0
            && ngx_hoop_pg_policy_get(node, "intoClause"))
        {
            kinds |= NGX_HOOP_PG_K_CREATE;
        }

        break;

    case NGX_HOOP_PG_K_INSERT:
        /* INSERT ... ON CONFLICT DO UPDATE updates */
        val = ngx_hoop_pg_policy_get(node, "onConflictClause");
        s = ngx_hoop_pg_policy_string(val, "action");

        if (s && ngx_strcmp(s, "ONCONFLICT_UPDATE") == 0) {
            kinds |= NGX_HOOP_PG_K_UPDATE;
        }

        break;

    case NGX_HOOP_PG_K_UPDATE:
        /* UPDATE pg_settings sets any parameter, the role included */
        val = ngx_hoop_pg_policy_get(node, "relation");
        s = ngx_hoop_pg_policy_string(val, "relname");

        if (s && ngx_strcmp(s, "pg_settings") == 0) {
            kinds |= NGX_HOOP_PG_K_SET|NGX_HOOP_PG_K_SET_ROLE;
        }

        /* fall through */

    case NGX_HOOP_PG_K_DELETE:
        /*
         * No WHERE, or one that names no column (WHERE true, WHERE 1 = 1):
         * every row or none.  WHERE CURRENT OF is a real condition.
         */
        val = ngx_hoop_pg_policy_get(node, "whereClause");
        *where_none = !ngx_hoop_pg_policy_has_column(val, 0);
        break;

    case NGX_HOOP_PG_K_COPY:
        if (YAJL_IS_TRUE(ngx_hoop_pg_policy_get(node, "is_program"))) {
            kinds = NGX_HOOP_PG_K_COPY_PROGRAM;
        }

        break;

    case NGX_HOOP_PG_K_SET:
        /* GUC names are case-insensitive: SET "ROLE" is SET ROLE */
        s = ngx_hoop_pg_policy_string(node, "name");

        if (ngx_strcmp(name, "VariableSetStmt") == 0 && s
            && (ngx_strcasecmp((u_char *) s, (u_char *) "role") == 0
                || ngx_strcasecmp((u_char *) s,
                                  (u_char *) "session_authorization")
                   == 0))
        {
            kinds = NGX_HOOP_PG_K_SET_ROLE;
        }

        /* settings that would make the parser read text differently */

        val = ngx_hoop_pg_policy_get(node, "args");

        if (s && YAJL_IS_ARRAY(val) && val->u.array.len
            && !ngx_hoop_pg_policy_setting_ok(s, val->u.array.values[0]))
        {
            ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_setting);
        }

        break;

    case NGX_HOOP_PG_K_DROP:
        if (ngx_strcmp(name, "DropOwnedStmt") == 0
            || ngx_strcmp(name, "DropdbStmt") == 0)
        {
            /* every relation it may take */
            ngx_hoop_pg_policy_note(w, &w->rels, NULL, NULL);
            break;
        }

        if (ngx_strcmp(name, "DropStmt") != 0) {
            break;
        }

        s = ngx_hoop_pg_policy_string(node, "removeType");
        list = ngx_hoop_pg_policy_get(node, "objects");

        if (s == NULL || !YAJL_IS_ARRAY(list)) {
            break;
        }

        if (ngx_strcmp(s, "OBJECT_SCHEMA") == 0) {
            /* DROP SCHEMA s: every relation in s */
            for (i = 0; i < list->u.array.len; i++) {
                val = ngx_hoop_pg_policy_get(list->u.array.values[i],
                                             "String");
                s = ngx_hoop_pg_policy_string(val, "sval");

                if (s) {
                    ngx_hoop_pg_policy_note(w, &w->rels, s, NULL);
                }
            }

            break;
        }

        if (ngx_hoop_pg_policy_relation_type(s)) {
            for (i = 0; i < list->u.array.len; i++) {
                val = ngx_hoop_pg_policy_get(list->u.array.values[i],
                                             "List");
                ngx_hoop_pg_policy_note_list(w, &w->rels,
                    ngx_hoop_pg_policy_get(val, "items"), 0);
            }
        }

        break;

    case NGX_HOOP_PG_K_DDL:
        /* COMMENT ON / SECURITY LABEL ON a relation or one of its columns */
        s = ngx_hoop_pg_policy_string(node, "objtype");
        val = ngx_hoop_pg_policy_get(node, "object");
        val = ngx_hoop_pg_policy_get(ngx_hoop_pg_policy_get(val, "List"),
                                     "items");

        if (s && ngx_strcmp(s, "OBJECT_COLUMN") == 0) {
            ngx_hoop_pg_policy_note_list(w, &w->rels, val, 1);

        } else if (s && ngx_hoop_pg_policy_relation_type(s)) {
            ngx_hoop_pg_policy_note_list(w, &w->rels, val, 0);
        }

        break;

    case NGX_HOOP_PG_K_GRANT:
        /* GRANT ... ON ALL TABLES IN SCHEMA s */
        s = ngx_hoop_pg_policy_string(node, "targtype");
        list = ngx_hoop_pg_policy_get(node, "objects");

        if (s == NULL || ngx_strcmp(s, "ACL_TARGET_ALL_IN_SCHEMA") != 0
            || !YAJL_IS_ARRAY(list))
        {
            break;
        }

        for (i = 0; i < list->u.array.len; i++) {
            val = ngx_hoop_pg_policy_get(list->u.array.values[i], "String");
            s = ngx_hoop_pg_policy_string(val, "sval");

            if (s) {
                ngx_hoop_pg_policy_note(w, &w->rels, s, NULL);
            }
        }

        break;

    default:
        break;
    }

    return kinds;
}


/*
 * A body in SQL given as a string is parsed and judged as nested
 * statements (BEGIN ATOMIC bodies are in the tree already).  Any other
 * language is code the gateway cannot read: like a DO block.
 */

static void
ngx_hoop_pg_policy_function_body(ngx_hoop_pg_policy_walk_t *w,
    yajl_val node)
{
    size_t       i;
    yajl_val     options, def, as;
    const char  *name, *language, *body;

    options = ngx_hoop_pg_policy_get(node, "options");

    if (!YAJL_IS_ARRAY(options)) {
        return;
    }

    language = NULL;
    as = NULL;

    for (i = 0; i < options->u.array.len; i++) {
        def = ngx_hoop_pg_policy_get(options->u.array.values[i], "DefElem");
        name = ngx_hoop_pg_policy_string(def, "defname");

        if (name == NULL) {
            continue;
        }

        if (ngx_strcmp(name, "language") == 0) {
            language = ngx_hoop_pg_policy_string(
                           ngx_hoop_pg_policy_get(
                               ngx_hoop_pg_policy_get(def, "arg"), "String"),
                           "sval");

        } else if (ngx_strcmp(name, "as") == 0) {
            as = ngx_hoop_pg_policy_get(
                     ngx_hoop_pg_policy_get(
                         ngx_hoop_pg_policy_get(def, "arg"), "List"),
                     "items");
        }
    }

    if (as == NULL) {
        return;
    }

    body = NULL;

    if (YAJL_IS_ARRAY(as) && as->u.array.len == 1) {
        body = ngx_hoop_pg_policy_string(
                   ngx_hoop_pg_policy_get(as->u.array.values[0], "String"),
                   "sval");
    }

    if (language && ngx_strcmp(language, "sql") == 0 && body) {
        ngx_hoop_pg_policy_nested(w, body);
        return;
    }

    *w->kinds |= NGX_HOOP_PG_K_DO;
}


/* functions that set parameters, notify, or run SQL given as text */

static void
ngx_hoop_pg_policy_call(ngx_hoop_pg_policy_walk_t *w, yajl_val fc)
{
    size_t                            nargs;
    yajl_val                          names, args, name;
    const char                       *fn, *s;
    const ngx_hoop_pg_policy_func_t  *f;

    if (w->kinds == NULL) {
        return;
    }

    names = ngx_hoop_pg_policy_get(fc, "funcname");

    if (!YAJL_IS_ARRAY(names) || names->u.array.len == 0) {
        return;
    }

    name = ngx_hoop_pg_policy_get(names->u.array.values[names->u.array.len
                                                         - 1], "String");
    fn = ngx_hoop_pg_policy_string(name, "sval");

    if (fn == NULL) {
        return;
    }

    for (f = ngx_hoop_pg_policy_funcs; f->name; f++) {
        if (ngx_strcmp(fn, f->name) == 0) {
            break;
        }
    }

    if (f->name == NULL) {
        return;
    }

    args = ngx_hoop_pg_policy_get(fc, "args");
    nargs = YAJL_IS_ARRAY(args) ? args->u.array.len : 0;

    switch (f->what) {

    case NGX_HOOP_PG_F_SET_CONFIG:
        s = nargs ? ngx_hoop_pg_policy_const(args->u.array.values[0]) : NULL;

        if (s == NULL) {
            *w->kinds |= NGX_HOOP_PG_K_SET|NGX_HOOP_PG_K_SET_ROLE;

        } else if (ngx_strcasecmp((u_char *) s, (u_char *) "role") == 0
                   || ngx_strcasecmp((u_char *) s,
                                     (u_char *) "session_authorization")
                      == 0)
        {
            *w->kinds |= NGX_HOOP_PG_K_SET_ROLE;

        } else {
            *w->kinds |= NGX_HOOP_PG_K_SET;
        }

        if (s && !ngx_hoop_pg_policy_setting_ok(s, nargs > 1
                                                   ? args->u.array.values[1]
                                                   : NULL))
        {
            ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_setting);
        }

        break;

    case NGX_HOOP_PG_F_NOTIFY:
        *w->kinds |= NGX_HOOP_PG_K_NOTIFY;
        break;

    case NGX_HOOP_PG_F_SQL_ARG1:
    case NGX_HOOP_PG_F_SQL_ARG2:
        if (f->what == NGX_HOOP_PG_F_SQL_ARG2 && nargs != 2) {
            break;
        }

        s = NULL;

        if (nargs) {
            s = ngx_hoop_pg_policy_const(
                    args->u.array.values[f->what == NGX_HOOP_PG_F_SQL_ARG1
                                         ? 0 : 1]);
        }

        if (s) {
            ngx_hoop_pg_policy_nested(w, s);

        } else {
            *w->kinds |= NGX_HOOP_PG_K_DO;
        }

        break;

    case NGX_HOOP_PG_F_REL_ARG1:
        s = nargs ? ngx_hoop_pg_policy_const(args->u.array.values[0]) : NULL;

        if (s) {
            ngx_hoop_pg_policy_note_relname(w, s);

        } else {
            ngx_hoop_pg_policy_note(w, &w->rels, NULL, NULL);
        }

        break;

    default: /* NGX_HOOP_PG_F_ALL_RELS */
        ngx_hoop_pg_policy_note(w, &w->rels, NULL, NULL);
        break;
    }
}


/*
 * deny rules first (their messages are the users'), then allowed kinds,
 * then review rules: the walk goes on after a review match, since a later
 * (nested) statement may still be denied
 */

static void
ngx_hoop_pg_policy_judge(ngx_hoop_pg_policy_walk_t *w, const char *name,
    uint32_t kinds, ngx_uint_t where_none, ngx_uint_t r0, ngx_uint_t f0)
{
    uint32_t                     denied;
    ngx_uint_t                   i;
    ngx_hoop_pg_policy_t        *p;
    ngx_hoop_pg_policy_rule_t   *r;
    ngx_hoop_pg_policy_scope_t  *sc;

    sc = w->sc;
    p = sc->policy;

    r = ngx_hoop_pg_policy_match(w, &p->deny, kinds, where_none, r0, f0);

    if (r) {
        w->v->rule = r->rule;
        w->v->message = r->message;
        w->rc = NGX_DECLINED;
        return;
    }

    denied = kinds & ~sc->allowed;

    if (denied == 0) {
        if (w->review == NULL) {
            w->review = ngx_hoop_pg_policy_match(w, &p->review, kinds,
                                                 where_none, r0, f0);
        }

        return;
    }

    if (denied & NGX_HOOP_PG_K_DO) {
        ngx_hoop_pg_policy_refuse(w, ngx_strcmp(name, "DoStmt") == 0
                                   ? &ngx_hoop_pg_policy_do
                                   : &ngx_hoop_pg_policy_opaque);
        return;
    }

    for (i = 0; i < NGX_HOOP_PG_K_NKINDS; i++) {
        if (denied & ((uint32_t) 1 << i)) {
            break;
        }
    }

    ngx_hoop_pg_policy_refuse(w, &p->not_listed[i]);
}


static ngx_hoop_pg_policy_rule_t *
ngx_hoop_pg_policy_match(ngx_hoop_pg_policy_walk_t *w, ngx_array_t *rules,
    uint32_t kinds, ngx_uint_t where_none, ngx_uint_t r0, ngx_uint_t f0)
{
    ngx_uint_t                   i;
    ngx_hoop_pg_policy_rule_t   *r;
    ngx_hoop_pg_policy_scope_t  *sc;

    sc = w->sc;
    r = rules->elts;

    for (i = 0; i < rules->nelts; i++) {

        if ((r[i].kinds && !(r[i].kinds & kinds))
            || (r[i].where_none && !where_none)
            || !ngx_hoop_pg_policy_rule_applies(&r[i], sc->role, sc->groups))
        {
            continue;
        }

        if (r[i].relations
            && !ngx_hoop_pg_policy_any(r[i].relations, &w->rels, r0))
        {
            continue;
        }

        if (r[i].functions
            && !ngx_hoop_pg_policy_any(r[i].functions, &w->funcs, f0))
        {
            continue;
        }

        return &r[i];
    }

    return NULL;
}


static ngx_uint_t
ngx_hoop_pg_policy_any(ngx_array_t *rule_names, ngx_array_t *seen,
    ngx_uint_t from)
{
    ngx_uint_t                  i, j;
    ngx_hoop_pg_policy_name_t  *rn, *sn;

    rn = rule_names->elts;
    sn = seen->elts;

    for (i = from; i < seen->nelts; i++) {
        for (j = 0; j < rule_names->nelts; j++) {
            if (ngx_hoop_pg_policy_name_match(&rn[j], &sn[i])) {
                return 1;
            }
        }
    }

    return 0;
}


static void
ngx_hoop_pg_policy_nested(ngx_hoop_pg_policy_walk_t *w, const char *sql)
{
    if (w->nested >= NGX_HOOP_PG_POLICY_MAX_NESTED) {
        ngx_hoop_pg_policy_refuse(w, &ngx_hoop_pg_policy_too_complex);
        return;
    }

    w->nested++;
    ngx_hoop_pg_policy_sql(w, sql);
    w->nested--;
}


/* schema NULL: unqualified; name NULL: every relation (of the schema) */

static void
ngx_hoop_pg_policy_note(ngx_hoop_pg_policy_walk_t *w, ngx_array_t *a,
    const char *schema, const char *name)
{
    ngx_hoop_pg_policy_name_t  *n;

    n = ngx_array_push(a);
    if (n == NULL) {
        w->rc = NGX_ERROR;
        return;
    }

    if (schema) {
        n->schema.data = (u_char *) schema;
        n->schema.len = ngx_strlen(schema);

    } else {
        ngx_str_null(&n->schema);
    }

    if (name) {
        n->name.data = (u_char *) name;
        n->name.len = ngx_strlen(name);

    } else {
        ngx_str_null(&n->name);
    }
}


/* a name given as a list of String nodes: [catalog, schema,] name */

static void
ngx_hoop_pg_policy_note_list(ngx_hoop_pg_policy_walk_t *w, ngx_array_t *a,
    yajl_val list, ngx_uint_t drop_last)
{
    size_t       n;
    const char  *name, *schema;

    if (!YAJL_IS_ARRAY(list)) {
        return;
    }

    n = list->u.array.len;

    if (n <= drop_last) {
        return;
    }

    n -= drop_last;

    name = ngx_hoop_pg_policy_string(
               ngx_hoop_pg_policy_get(list->u.array.values[n - 1], "String"),
               "sval");

    if (name == NULL) {
        return;
    }

    schema = NULL;

    if (n > 1) {
        schema = ngx_hoop_pg_policy_string(
                     ngx_hoop_pg_policy_get(list->u.array.values[n - 2],
                                            "String"),
                     "sval");
    }

    ngx_hoop_pg_policy_note(w, a, schema, name);
}


/* a relation named in a string ('billing."Invoices"'::regclass) */

static void
ngx_hoop_pg_policy_note_relname(ngx_hoop_pg_policy_walk_t *w,
    const char *text)
{
    ngx_hoop_pg_policy_name_t  *n;

    n = ngx_array_push(&w->rels);
    if (n == NULL) {
        w->rc = NGX_ERROR;
        return;
    }

    if (ngx_hoop_pg_policy_parse_name(w->pool, (u_char *) text,
                                      ngx_strlen(text), n)
        != NGX_OK)
    {
        /* not a name the gateway reads: could be any relation */
        ngx_str_null(&n->schema);
        ngx_str_null(&n->name);
    }
}


static void
ngx_hoop_pg_policy_refuse(ngx_hoop_pg_policy_walk_t *w,
    const ngx_hoop_pg_verdict_t *v)
{
    *w->v = *v;
    w->rc = NGX_DECLINED;
}


static yajl_val
ngx_hoop_pg_policy_get(yajl_val obj, const char *key)
{
    size_t  i;

    if (!YAJL_IS_OBJECT(obj)) {
        return NULL;
    }

    for (i = 0; i < obj->u.object.len; i++) {
        if (ngx_strcmp(obj->u.object.keys[i], key) == 0) {
            return obj->u.object.values[i];
        }
    }

    return NULL;
}


static const char *
ngx_hoop_pg_policy_string(yajl_val obj, const char *key)
{
    return YAJL_GET_STRING(ngx_hoop_pg_policy_get(obj, key));
}


/* a string constant, possibly cast: 'text', 'text'::regclass */

static const char *
ngx_hoop_pg_policy_const(yajl_val node)
{
    ngx_uint_t  n;
    yajl_val    val;

    for (n = 0; n < 16; n++) {
        val = ngx_hoop_pg_policy_get(node, "TypeCast");

        if (val == NULL) {
            break;
        }

        node = ngx_hoop_pg_policy_get(val, "arg");
    }

    val = ngx_hoop_pg_policy_get(ngx_hoop_pg_policy_get(node, "A_Const"),
                                 "sval");

    return ngx_hoop_pg_policy_string(val, "sval");
}


/*
 * standard_conforming_strings must stay on and client_encoding UTF8 (the
 * parser reads statements that way); values the gateway cannot read are
 * refused.  Other settings are fine.
 */

static ngx_uint_t
ngx_hoop_pg_policy_setting_ok(const char *name, yajl_val value)
{
    u_char       enc[16], *d;
    ngx_uint_t   i;
    yajl_val     ival;
    const char  *s;

    static const char  *const on[] = { "on", "true", "yes", "1", "t", "tr",
                                 "tru", "y", "ye", NULL };

    if (ngx_strcasecmp((u_char *) name,
                       (u_char *) "standard_conforming_strings") == 0)
    {
        ival = ngx_hoop_pg_policy_get(
                   ngx_hoop_pg_policy_get(
                       ngx_hoop_pg_policy_get(value, "A_Const"), "ival"),
                   "ival");

        if (YAJL_IS_INTEGER(ival)) {
            return YAJL_GET_INTEGER(ival) == 1;
        }

        s = ngx_hoop_pg_policy_const(value);

        if (s == NULL) {
            return 0;
        }

        for (i = 0; on[i]; i++) {
            if (ngx_strcasecmp((u_char *) s, (u_char *) on[i]) == 0) {
                return 1;
            }
        }

        return 0;
    }

    if (ngx_strcasecmp((u_char *) name, (u_char *) "client_encoding") == 0) {
        s = ngx_hoop_pg_policy_const(value);

        if (s == NULL) {
            return 0;
        }

        /* as PostgreSQL compares encoding names: letters and digits */
        for (d = enc; *s && d < enc + sizeof(enc) - 1; s++) {
            if (isalnum((unsigned char) *s)) {
                *d++ = ngx_tolower(*s);
            }
        }

        *d = '\0';

        return *s == '\0'
               && (ngx_strcmp(enc, "utf8") == 0
                   || ngx_strcmp(enc, "unicode") == 0);
    }

    return 1;
}


static ngx_uint_t
ngx_hoop_pg_policy_has_column(yajl_val v, ngx_uint_t depth)
{
    size_t  i;

    if (v == NULL || depth > NGX_HOOP_PG_POLICY_MAX_DEPTH) {
        return 0;
    }

    if (YAJL_IS_ARRAY(v)) {
        for (i = 0; i < v->u.array.len; i++) {
            if (ngx_hoop_pg_policy_has_column(v->u.array.values[i],
                                              depth + 1))
            {
                return 1;
            }
        }

        return 0;
    }

    if (!YAJL_IS_OBJECT(v)) {
        return 0;
    }

    for (i = 0; i < v->u.object.len; i++) {
        if (ngx_strcmp(v->u.object.keys[i], "ColumnRef") == 0
            || ngx_strcmp(v->u.object.keys[i], "CurrentOfExpr") == 0)
        {
            return 1;
        }

        if (ngx_hoop_pg_policy_has_column(v->u.object.values[i], depth + 1)) {
            return 1;
        }
    }

    return 0;
}


static ngx_uint_t
ngx_hoop_pg_policy_relation_type(const char *objtype)
{
    return ngx_strcmp(objtype, "OBJECT_TABLE") == 0
           || ngx_strcmp(objtype, "OBJECT_VIEW") == 0
           || ngx_strcmp(objtype, "OBJECT_MATVIEW") == 0
           || ngx_strcmp(objtype, "OBJECT_FOREIGN_TABLE") == 0
           || ngx_strcmp(objtype, "OBJECT_SEQUENCE") == 0
           || ngx_strcmp(objtype, "OBJECT_INDEX") == 0;
}


static int
ngx_hoop_pg_policy_cmp(const void *key, const void *elt)
{
    const ngx_hoop_pg_policy_stmt_kind_t  *k = elt;

    return ngx_strcmp(key, k->name);
}


static void
ngx_hoop_pg_policy_free_parse(void *data)
{
    PgQueryParseResult  *pr = data;

    if (pr->parse_tree || pr->error || pr->stderr_buffer) {
        pg_query_free_parse_result(*pr);
    }
}


static void
ngx_hoop_pg_policy_free_tree(void *data)
{
    yajl_tree_free(data);
}
