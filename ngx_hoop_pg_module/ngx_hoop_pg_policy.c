
/*
 * Statement policy of the Postgres gateway: the hoop_pg_deny and
 * hoop_pg_allow directives, their inheritance, and the two checks the relay
 * calls (a statement text; a FunctionCall message).  Statements are judged
 * by ngx_hoop_pg_policy_walk.c on libpg_query's parse tree; decisions are
 * cached per worker (ngx_hoop_pg_text_cache.c).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_policy.h"
#include "ngx_hoop_pg_policy_int.h"


/* PostgreSQL's NAMEDATALEN - 1: longer identifiers are truncated */
#define NGX_HOOP_PG_POLICY_NAME_MAX  63

/* which directive a rule comes from */
#define NGX_HOOP_PG_RULE_DENY        0
#define NGX_HOOP_PG_RULE_ALLOW       1
#define NGX_HOOP_PG_RULE_REVIEW      2

/* hoop_pg_review without timeout= */
#define NGX_HOOP_PG_REVIEW_TIMEOUT   (5 * 60 * 1000)


static char *ngx_hoop_pg_policy_rule(ngx_conf_t *cf, void *conf,
    ngx_uint_t mode);
static ngx_int_t ngx_hoop_pg_policy_kinds(ngx_conf_t *cf, ngx_str_t *list,
    ngx_uint_t allow, uint32_t *kinds);
static ngx_array_t *ngx_hoop_pg_policy_names(ngx_conf_t *cf,
    ngx_str_t *list);
static ngx_str_t *ngx_hoop_pg_policy_who(ngx_hoop_pg_policy_session_t *ps,
    ngx_pool_t *pool);
static ngx_array_t *ngx_hoop_pg_policy_roles(ngx_conf_t *cf,
    ngx_str_t *list);
static ngx_int_t ngx_hoop_pg_policy_message(ngx_conf_t *cf, ngx_uint_t *i,
    ngx_str_t *message);
static ngx_int_t ngx_hoop_pg_policy_join(ngx_pool_t *pool,
    ngx_array_t *to, ngx_array_t *from);
static ngx_int_t ngx_hoop_pg_policy_finalize(ngx_conf_t *cf,
    ngx_hoop_pg_policy_t *p);
static void ngx_hoop_pg_policy_cleanup(void *data);


/* names of the kinds, by bit position */
static const char  *const ngx_hoop_pg_policy_kind_names[] = {
    "select", "insert", "update", "delete", "merge", "truncate", "copy",
    "copy_program", "ddl", "drop", "alter", "create", "grant", "set_role",
    "set", "do", "call", "lock", "prepare", "execute", "explain", "vacuum",
    "transaction", "listen", "notify", "other", "function_call"
};


static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_std_strings = {
    ngx_string("standard_conforming_strings is off"),
    ngx_string("the gateway denies every statement while "
               "standard_conforming_strings is off")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_encoding = {
    ngx_string("client_encoding is not UTF8"),
    ngx_string("the gateway denies every statement while client_encoding "
               "is not UTF8")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_too_long = {
    ngx_string("statement too long"),
    ngx_string("statement is longer than the gateway's policy can check "
               "(1 MiB)")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_failed = {
    ngx_string("internal error"),
    ngx_string("the gateway could not check the statement")
};

static const ngx_hoop_pg_verdict_t  ngx_hoop_pg_policy_function_call = {
    ngx_string("default: function_call"),
    ngx_string("FunctionCall messages are denied by the gateway unless "
               "allowed with hoop_pg_allow statement=function_call")
};


char *
ngx_hoop_pg_policy_deny(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_hoop_pg_policy_rule(cf, conf, NGX_HOOP_PG_RULE_DENY);
}


char *
ngx_hoop_pg_policy_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_hoop_pg_policy_rule(cf, conf, NGX_HOOP_PG_RULE_ALLOW);
}


char *
ngx_hoop_pg_policy_review(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    return ngx_hoop_pg_policy_rule(cf, conf, NGX_HOOP_PG_RULE_REVIEW);
}


/*
 * hoop_pg_deny [statement=K,..] [relation=N,..] [function=N,..]
 *              [where=none] [roles=P,..] [groups=G,..] [message=text];
 * hoop_pg_allow statement=K,.. [roles=P,..] [groups=G,..];
 * hoop_pg_review (as hoop_pg_deny) [timeout=time];
 */

static char *
ngx_hoop_pg_policy_rule(ngx_conf_t *cf, void *conf, ngx_uint_t mode)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    u_char                     *d;
    size_t                      len;
    ngx_str_t                  *value, arg, message;
    ngx_msec_t                  timeout;
    ngx_uint_t                  i, allow, has_kinds, has_message, *shown,
                                nshown;
    ngx_hoop_pg_policy_t       *p;
    ngx_hoop_pg_policy_rule_t  *r;

    p = pscf->policy;

    if (p == NULL) {
        p = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_pg_policy_t));
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        if (ngx_array_init(&p->deny, cf->pool, 4,
                           sizeof(ngx_hoop_pg_policy_rule_t))
            != NGX_OK
            || ngx_array_init(&p->allow, cf->pool, 2,
                              sizeof(ngx_hoop_pg_policy_rule_t))
               != NGX_OK
            || ngx_array_init(&p->review, cf->pool, 2,
                              sizeof(ngx_hoop_pg_policy_rule_t))
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        pscf->policy = p;
    }

    allow = (mode == NGX_HOOP_PG_RULE_ALLOW);

    r = ngx_array_push(allow ? &p->allow
                       : mode == NGX_HOOP_PG_RULE_REVIEW ? &p->review
                       : &p->deny);
    if (r == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(r, sizeof(ngx_hoop_pg_policy_rule_t));
    timeout = NGX_CONF_UNSET_MSEC;

    value = cf->args->elts;

    /* the arguments that name the rule (all but message=) */
    shown = ngx_palloc(cf->pool, cf->args->nelts * sizeof(ngx_uint_t));
    if (shown == NULL) {
        return NGX_CONF_ERROR;
    }

    nshown = 0;
    has_kinds = 0;
    has_message = 0;
    ngx_str_null(&message);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "statement=", 10) == 0) {
            if (has_kinds) {
                goto duplicate;
            }

            arg.data = value[i].data + 10;
            arg.len = value[i].len - 10;

            if (ngx_hoop_pg_policy_kinds(cf, &arg, allow, &r->kinds)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            has_kinds = 1;
            shown[nshown++] = i;
            continue;
        }

        if (ngx_strncmp(value[i].data, "roles=", 6) == 0) {
            if (r->roles) {
                goto duplicate;
            }

            arg.data = value[i].data + 6;
            arg.len = value[i].len - 6;

            r->roles = ngx_hoop_pg_policy_roles(cf, &arg);
            if (r->roles == NULL) {
                return NGX_CONF_ERROR;
            }

            shown[nshown++] = i;
            continue;
        }

        if (ngx_strncmp(value[i].data, "groups=", 7) == 0) {
            if (r->groups) {
                goto duplicate;
            }

            arg.data = value[i].data + 7;
            arg.len = value[i].len - 7;

            r->groups = ngx_hoop_pg_policy_roles(cf, &arg);
            if (r->groups == NULL) {
                return NGX_CONF_ERROR;
            }

            p->uses_groups = 1;
            shown[nshown++] = i;
            continue;
        }

        if (allow) {
            goto invalid;
        }

        if (ngx_strncmp(value[i].data, "relation=", 9) == 0) {
            if (r->relations) {
                goto duplicate;
            }

            arg.data = value[i].data + 9;
            arg.len = value[i].len - 9;

            r->relations = ngx_hoop_pg_policy_names(cf, &arg);
            if (r->relations == NULL) {
                return NGX_CONF_ERROR;
            }

            shown[nshown++] = i;
            continue;
        }

        if (ngx_strncmp(value[i].data, "function=", 9) == 0) {
            if (r->functions) {
                goto duplicate;
            }

            arg.data = value[i].data + 9;
            arg.len = value[i].len - 9;

            r->functions = ngx_hoop_pg_policy_names(cf, &arg);
            if (r->functions == NULL) {
                return NGX_CONF_ERROR;
            }

            shown[nshown++] = i;
            continue;
        }

        if (ngx_strncmp(value[i].data, "where=", 6) == 0) {
            if (r->where_none) {
                goto duplicate;
            }

            if (value[i].len != 10
                || ngx_strncmp(value[i].data + 6, "none", 4) != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": only \"where=none\" exists",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            r->where_none = 1;
            shown[nshown++] = i;
            continue;
        }

        if (mode == NGX_HOOP_PG_RULE_REVIEW
            && ngx_strncmp(value[i].data, "timeout=", 8) == 0)
        {
            if (timeout != NGX_CONF_UNSET_MSEC) {
                goto duplicate;
            }

            arg.data = value[i].data + 8;
            arg.len = value[i].len - 8;

            timeout = ngx_parse_time(&arg, 0);

            if (timeout == (ngx_msec_t) NGX_ERROR || timeout == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "message=", 8) == 0) {
            if (has_message) {
                goto duplicate;
            }

            if (ngx_hoop_pg_policy_message(cf, &i, &message) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            has_message = 1;
            continue;
        }

        goto invalid;
    }

    if (allow) {
        if (!has_kinds) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"hoop_pg_allow\" needs \"statement=\"");
            return NGX_CONF_ERROR;
        }

    } else {
        if (!has_kinds && r->relations == NULL && r->functions == NULL
            && !r->where_none)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%V\" needs at least one of "
                               "\"statement=\", \"relation=\", "
                               "\"function=\", \"where=none\"",
                               &value[0]);
            return NGX_CONF_ERROR;
        }

        if (r->where_none) {
            if (r->kinds == 0) {
                r->kinds = NGX_HOOP_PG_K_UPDATE|NGX_HOOP_PG_K_DELETE;

            } else if (r->kinds
                       & ~(NGX_HOOP_PG_K_UPDATE|NGX_HOOP_PG_K_DELETE))
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"where=none\" applies to "
                                   "\"statement=update,delete\" only");
                return NGX_CONF_ERROR;
            }
        }
    }

    /* the rule as written: for the audit, logs and default message */

    len = value[0].len;

    for (i = 0; i < nshown; i++) {
        len += 1 + value[shown[i]].len;
    }

    d = ngx_pnalloc(cf->pool, len);
    if (d == NULL) {
        return NGX_CONF_ERROR;
    }

    r->rule.data = d;
    d = ngx_cpymem(d, value[0].data, value[0].len);

    for (i = 0; i < nshown; i++) {
        *d++ = ' ';
        d = ngx_cpymem(d, value[shown[i]].data, value[shown[i]].len);
    }

    r->rule.len = d - r->rule.data;

    r->timeout = (timeout == NGX_CONF_UNSET_MSEC) ? NGX_HOOP_PG_REVIEW_TIMEOUT
                                                  : timeout;

    if (has_message) {
        r->message = message;

    } else if (mode == NGX_HOOP_PG_RULE_REVIEW) {
        r->message.len = sizeof("approval required by ") - 1 + r->rule.len;
        r->message.data = ngx_pnalloc(cf->pool, r->message.len);
        if (r->message.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(r->message.data, "approval required by %V", &r->rule);

    } else {
        r->message.len = sizeof("denied by ") - 1 + r->rule.len;
        r->message.data = ngx_pnalloc(cf->pool, r->message.len);
        if (r->message.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(r->message.data, "denied by %V", &r->rule);
    }

    return NGX_CONF_OK;

duplicate:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "duplicate \"%V\"", &value[i]);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "invalid parameter \"%V\"",
                       &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * In a deny rule "ddl" also means create, alter and drop, and "copy" also
 * COPY ... PROGRAM; in an allow rule "copy" is plain COPY only: running
 * programs must be allowed by name.
 */

static ngx_int_t
ngx_hoop_pg_policy_kinds(ngx_conf_t *cf, ngx_str_t *list, ngx_uint_t allow,
    uint32_t *kinds)
{
    u_char      *p, *last, *comma;
    size_t       len;
    uint32_t     k;
    ngx_uint_t   i;

    *kinds = 0;

    p = list->data;
    last = p + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');
        len = (comma ? comma : last) - p;

        for (i = 0; i < NGX_HOOP_PG_K_NKINDS; i++) {
            if (len == ngx_strlen(ngx_hoop_pg_policy_kind_names[i])
                && ngx_strncasecmp(p,
                       (u_char *) ngx_hoop_pg_policy_kind_names[i], len)
                   == 0)
            {
                break;
            }
        }

        if (i == NGX_HOOP_PG_K_NKINDS) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown statement kind \"%*s\"", len, p);
            return NGX_ERROR;
        }

        k = (uint32_t) 1 << i;

        if (k == NGX_HOOP_PG_K_DDL) {
            k = NGX_HOOP_PG_K_DDL_ALL;

        } else if (k == NGX_HOOP_PG_K_COPY && !allow) {
            k |= NGX_HOOP_PG_K_COPY_PROGRAM;
        }

        *kinds |= k;

        if (comma == NULL) {
            return NGX_OK;
        }

        p = comma + 1;
    }
}


/* a comma-separated list of [schema.]name; commas inside quotes stay */

static ngx_array_t *
ngx_hoop_pg_policy_names(ngx_conf_t *cf, ngx_str_t *list)
{
    u_char                     *p, *start, *last;
    ngx_uint_t                  quoted;
    ngx_array_t                *a;
    ngx_hoop_pg_policy_name_t  *n;

    a = ngx_array_create(cf->pool, 2, sizeof(ngx_hoop_pg_policy_name_t));
    if (a == NULL) {
        return NULL;
    }

    start = list->data;
    last = start + list->len;
    quoted = 0;

    for (p = start; p <= last; p++) {

        if (p < last) {
            if (*p == '"') {
                quoted = !quoted;
                continue;
            }

            if (*p != ',' || quoted) {
                continue;
            }
        }

        n = ngx_array_push(a);
        if (n == NULL) {
            return NULL;
        }

        if (ngx_hoop_pg_policy_parse_name(cf->pool, start, p - start, n)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid name \"%*s\" in \"%V\"",
                               p - start, start, list);
            return NULL;
        }

        start = p + 1;
    }

    return a;
}


static ngx_array_t *
ngx_hoop_pg_policy_roles(ngx_conf_t *cf, ngx_str_t *list)
{
    u_char       *p, *last, *comma;
    ngx_str_t    *role;
    ngx_array_t  *a;

    a = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (a == NULL) {
        return NULL;
    }

    p = list->data;
    last = p + list->len;

    for ( ;; ) {
        comma = ngx_strlchr(p, last, ',');

        role = ngx_array_push(a);
        if (role == NULL) {
            return NULL;
        }

        role->data = p;
        role->len = (comma ? comma : last) - p;

        if (role->len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "empty name in \"%V\"", list);
            return NULL;
        }

        if (comma == NULL) {
            return a;
        }

        p = comma + 1;
    }
}


/*
 * message=text.  nginx splits an unquoted argument at spaces, so
 * message="no DDL here" arrives as three arguments: they are joined again
 * with single spaces ("message=..." quoted whole keeps the text as is).
 */

static ngx_int_t
ngx_hoop_pg_policy_message(ngx_conf_t *cf, ngx_uint_t *i,
    ngx_str_t *message)
{
    u_char      *d;
    size_t       len;
    ngx_str_t   *value;
    ngx_uint_t   j, last;

    value = cf->args->elts;

    message->data = value[*i].data + 8;
    message->len = value[*i].len - 8;

    if (message->len == 0 || message->data[0] != '"') {
        goto done;
    }

    if (message->len >= 2 && message->data[message->len - 1] == '"') {
        message->data++;
        message->len -= 2;
        goto done;
    }

    len = message->len - 1;

    for (last = *i + 1; last < cf->args->nelts; last++) {
        len += 1 + value[last].len;

        if (value[last].len && value[last].data[value[last].len - 1] == '"') {
            break;
        }
    }

    if (last == cf->args->nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unterminated quote in \"message=\"");
        return NGX_ERROR;
    }

    d = ngx_pnalloc(cf->pool, len);
    if (d == NULL) {
        return NGX_ERROR;
    }

    message->data = d;
    d = ngx_cpymem(d, value[*i].data + 9, value[*i].len - 9);

    for (j = *i + 1; j <= last; j++) {
        *d++ = ' ';
        d = ngx_cpymem(d, value[j].data, value[j].len);
    }

    message->len = d - message->data - 1;      /* the closing quote */
    *i = last;

done:

    if (message->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty \"message=\"");
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A [catalog.][schema.]name as PostgreSQL reads it: "quoted" parts kept
 * as written ("" is a quote), unquoted ones folded to lower case (ASCII,
 * as PostgreSQL does for UTF8), each truncated to 63 bytes.  The catalog
 * is dropped.
 */

ngx_int_t
ngx_hoop_pg_policy_parse_name(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_hoop_pg_policy_name_t *n)
{
    u_char      *last, *d, *start;
    ngx_str_t    part[3];
    ngx_uint_t   nparts;

    last = p + len;
    nparts = 0;

    for ( ;; ) {
        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last || nparts == 3) {
            return NGX_ERROR;
        }

        d = ngx_pnalloc(pool, last - p);
        if (d == NULL) {
            return NGX_ERROR;
        }

        start = d;

        if (*p == '"') {
            for (p++; ; p++) {
                if (p == last) {
                    return NGX_ERROR;
                }

                if (*p == '"') {
                    if (p + 1 < last && p[1] == '"') {
                        *d++ = *p++;
                        continue;
                    }

                    p++;
                    break;
                }

                *d++ = *p;
            }

        } else {
            while (p < last && *p != '.' && *p != '"' && *p != ' '
                   && *p != '\t')
            {
                *d++ = ngx_tolower(*p);
                p++;
            }
        }

        if (d == start) {
            return NGX_ERROR;
        }

        if (d - start > NGX_HOOP_PG_POLICY_NAME_MAX) {
            d = start + NGX_HOOP_PG_POLICY_NAME_MAX;

            /* not in the middle of a UTF-8 sequence */
            while (d > start && (*d & 0xc0) == 0x80) {
                d--;
            }
        }

        part[nparts].data = start;
        part[nparts].len = d - start;
        nparts++;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last) {
            break;
        }

        if (*p != '.') {
            return NGX_ERROR;
        }

        p++;
    }

    n->name = part[nparts - 1];

    if (nparts > 1) {
        n->schema = part[nparts - 2];

    } else {
        ngx_str_null(&n->schema);
    }

    return NGX_OK;
}


/*
 * "seen" is what a statement names.  An unqualified rule matches the name
 * in any schema; a qualified one matches that schema, and unqualified
 * mentions too, since the search_path may lead there (fail closed).  A
 * seen name without a name part is a wildcard (a whole schema, or every
 * relation).
 */

ngx_uint_t
ngx_hoop_pg_policy_name_match(ngx_hoop_pg_policy_name_t *rule,
    ngx_hoop_pg_policy_name_t *seen)
{
    if (seen->name.data) {
        if (seen->name.len != rule->name.len
            || ngx_memcmp(seen->name.data, rule->name.data, rule->name.len)
               != 0)
        {
            return 0;
        }
    }

    if (rule->schema.data == NULL || seen->schema.data == NULL) {
        return 1;
    }

    return seen->schema.len == rule->schema.len
           && ngx_memcmp(seen->schema.data, rule->schema.data,
                         rule->schema.len) == 0;
}


/*
 * A rule applies to a session when its roles= names the session's role
 * profile (or is absent) and its groups= names one of the identity's
 * groups (or is absent).
 */

ngx_uint_t
ngx_hoop_pg_policy_rule_applies(ngx_hoop_pg_policy_rule_t *r,
    ngx_str_t *role, ngx_array_t *groups)
{
    ngx_str_t   *want, *have;
    ngx_uint_t   i, j;

    if (r->roles) {
        if (role == NULL) {
            return 0;
        }

        want = r->roles->elts;

        for (i = 0; i < r->roles->nelts; i++) {
            if (want[i].len == role->len
                && ngx_strncmp(want[i].data, role->data, role->len) == 0)
            {
                break;
            }
        }

        if (i == r->roles->nelts) {
            return 0;
        }
    }

    if (r->groups == NULL) {
        return 1;
    }

    if (groups == NULL) {
        return 0;
    }

    want = r->groups->elts;
    have = groups->elts;

    for (i = 0; i < r->groups->nelts; i++) {
        for (j = 0; j < groups->nelts; j++) {
            if (want[i].len == have[j].len
                && ngx_strncmp(want[i].data, have[j].data, have[j].len) == 0)
            {
                return 1;
            }
        }
    }

    return 0;
}


/*
 * The kinds a session may run.  Allow rules naming kinds other than the
 * opaque ones (do, function_call) switch the session to an allowlist;
 * transaction control stays allowed there (forbidding ROLLBACK would only
 * wedge sessions).  Opaque kinds pass only when an allow rule names them.
 */

void
ngx_hoop_pg_policy_scope(ngx_hoop_pg_policy_t *p, ngx_str_t *role,
    ngx_array_t *groups, ngx_hoop_pg_policy_scope_t *sc)
{
    uint32_t                    listed;
    ngx_uint_t                  i;
    ngx_hoop_pg_policy_rule_t  *r;

    listed = 0;
    r = p->allow.elts;

    for (i = 0; i < p->allow.nelts; i++) {
        if (ngx_hoop_pg_policy_rule_applies(&r[i], role, groups)) {
            listed |= r[i].kinds;
        }
    }

    sc->policy = p;
    sc->role = role;
    sc->groups = groups;
    sc->allowlist = (listed & ~NGX_HOOP_PG_K_OPAQUE) != 0;

    if (sc->allowlist) {
        sc->allowed = listed | NGX_HOOP_PG_K_TRANSACTION;

    } else {
        sc->allowed = (NGX_HOOP_PG_K_ALL & ~NGX_HOOP_PG_K_OPAQUE) | listed;
    }
}


/*
 * Rules set at stream{} level apply to every server; a server's own rules
 * are added to them (unlike nginx's allow/deny, which replace): a guardrail
 * set for all servers is not lost by adding one rule to a server.
 */

char *
ngx_hoop_pg_policy_merge(ngx_conf_t *cf, void *prev, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = prev;
    ngx_hoop_pg_srv_conf_t *cscf = conf;

    ngx_hoop_pg_policy_t  *pp, *cp;

    pp = pscf->policy;
    cp = cscf->policy;

    if (cp == NULL) {
        cscf->policy = pp;
        cp = pp;

    } else if (pp && pp != cp && !cp->merged) {
        cp->uses_groups |= pp->uses_groups;

        if (ngx_hoop_pg_policy_join(cf->pool, &cp->deny, &pp->deny)
            != NGX_OK
            || ngx_hoop_pg_policy_join(cf->pool, &cp->allow, &pp->allow)
               != NGX_OK
            || ngx_hoop_pg_policy_join(cf->pool, &cp->review, &pp->review)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (cp && !cp->merged) {
        if (ngx_hoop_pg_policy_finalize(cf, cp) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* to = from + to, in that order */

static ngx_int_t
ngx_hoop_pg_policy_join(ngx_pool_t *pool, ngx_array_t *to,
    ngx_array_t *from)
{
    ngx_array_t  a;

    if (from->nelts == 0) {
        return NGX_OK;
    }

    if (ngx_array_init(&a, pool, from->nelts + to->nelts, to->size)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(a.elts, from->elts, from->nelts * from->size);
    ngx_memcpy((u_char *) a.elts + from->nelts * from->size, to->elts,
               to->nelts * to->size);
    a.nelts = from->nelts + to->nelts;

    *to = a;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_pg_policy_finalize(ngx_conf_t *cf, ngx_hoop_pg_policy_t *p)
{
    size_t                  len;
    ngx_uint_t              i;
    const char             *name;
    ngx_pool_cleanup_t     *cln;
    ngx_hoop_pg_verdict_t  *v;

    for (i = 0; i < NGX_HOOP_PG_K_NKINDS; i++) {
        name = ngx_hoop_pg_policy_kind_names[i];
        len = ngx_strlen(name);
        v = &p->not_listed[i];

        v->rule.len = sizeof("hoop_pg_allow: \"\" not listed") - 1 + len;
        v->rule.data = ngx_pnalloc(cf->pool, v->rule.len);

        v->message.len = sizeof("\"\" statements are not allowed by "
                                "hoop_pg_allow") - 1 + len;
        v->message.data = ngx_pnalloc(cf->pool, v->message.len);

        if (v->rule.data == NULL || v->message.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(v->rule.data, "hoop_pg_allow: \"%s\" not listed", name);
        ngx_sprintf(v->message.data,
                    "\"%s\" statements are not allowed by hoop_pg_allow",
                    name);
    }

    p->stack = ngx_hoop_pg_policy_stack(cf);
    if (p->stack == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_hoop_pg_policy_cleanup;
    cln->data = p;

    p->merged = 1;

    return NGX_OK;
}


/* the configuration goes away (reload, exit): so does the worker's cache */

static void
ngx_hoop_pg_policy_cleanup(void *data)
{
    ngx_hoop_pg_policy_t  *p = data;

    if (p->cache) {
        ngx_hoop_pg_text_cache_destroy(p->cache);
        p->cache = NULL;
    }
}


/* the cache's "who": the role profile and the groups, "role\ng1,g2" */

static ngx_str_t *
ngx_hoop_pg_policy_who(ngx_hoop_pg_policy_session_t *ps, ngx_pool_t *pool)
{
    u_char      *p;
    size_t       len;
    ngx_str_t   *who, *g;
    ngx_uint_t   i;

    len = (ps->role ? ps->role->len : 0) + 1;
    g = ps->groups ? ps->groups->elts : NULL;

    for (i = 0; ps->groups && i < ps->groups->nelts; i++) {
        len += g[i].len + 1;
    }

    who = ngx_palloc(pool, sizeof(ngx_str_t));
    p = ngx_pnalloc(pool, len);
    if (who == NULL || p == NULL) {
        return NULL;
    }

    who->data = p;

    if (ps->role) {
        p = ngx_cpymem(p, ps->role->data, ps->role->len);
    }

    *p++ = '\n';

    for (i = 0; ps->groups && i < ps->groups->nelts; i++) {
        p = ngx_cpymem(p, g[i].data, g[i].len);
        *p++ = ',';
    }

    who->len = p - who->data;

    return who;
}


ngx_int_t
ngx_hoop_pg_policy_check(void *policy, ngx_hoop_pg_policy_session_t *ps,
    u_char *sql, size_t len, ngx_pool_t *pool, ngx_log_t *log,
    ngx_hoop_pg_verdict_t *v)
{
    void                        *cached;
    size_t                       cached_len;
    uint32_t                     hash;
    ngx_int_t                    rc;
    ngx_str_t                   *who, key;
    ngx_hoop_pg_policy_t        *p = policy;
    ngx_hoop_pg_policy_scope_t   sc;
    ngx_hoop_pg_policy_cached_t  decision;

    if (p == NULL) {
        return NGX_OK;
    }

    /* the parser would read quotes and escapes differently than the server */

    if (ps->std_strings_off) {
        *v = ngx_hoop_pg_policy_std_strings;
        rc = NGX_DECLINED;
        goto done;
    }

    if (ps->encoding_not_utf8) {
        *v = ngx_hoop_pg_policy_encoding;
        rc = NGX_DECLINED;
        goto done;
    }

    /* decisions depend on the groups too when some rule names groups */
    who = ps->role;

    if (p->uses_groups) {
        who = ngx_hoop_pg_policy_who(ps, pool);
        if (who == NULL) {
            *v = ngx_hoop_pg_policy_failed;
            return NGX_ERROR;
        }
    }

    /* statements that differ only in numbers share a decision */
    key.data = sql;
    key.len = len;
    (void) ngx_hoop_pg_number_key(&key, pool);

    if (p->cache == NULL) {
        p->cache = ngx_hoop_pg_text_cache_create(
                                          NGX_HOOP_PG_POLICY_CACHE_ENTRIES,
                                          NGX_HOOP_PG_POLICY_CACHE_BYTES,
                                          NGX_HOOP_PG_POLICY_CACHE_MAX_KEY,
                                          log);
    }

    hash = 0;
    cached = p->cache ? ngx_hoop_pg_text_cache_get(p->cache, who, &key, &hash,
                                                   &cached_len)
                      : NULL;

    if (cached) {
        ngx_memcpy(&decision, cached, sizeof(decision));
        *v = decision.v;
        rc = decision.rc;
        goto done;
    }

    if (len > NGX_HOOP_PG_POLICY_MAX_SQL) {
        *v = ngx_hoop_pg_policy_too_long;
        rc = NGX_DECLINED;
        goto done;
    }

    ngx_hoop_pg_policy_scope(p, ps->role, ps->groups, &sc);

    rc = ngx_hoop_pg_policy_evaluate(&sc, sql, len, log, v);

    if (rc == NGX_ERROR) {
        *v = ngx_hoop_pg_policy_failed;
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop pg policy: statement not checked, denied");
        return NGX_ERROR;
    }

    if (p->cache) {
        decision.rc = rc;
        decision.v = *v;
        ngx_hoop_pg_text_cache_put(p->cache, hash, who, &key, &decision,
                                   sizeof(decision), log);
    }

done:

    /* the relay logs denials with the session's identity */

    if (rc == NGX_OK) {
        ngx_log_debug0(NGX_LOG_DEBUG_STREAM, log, 0,
                       "hoop pg policy: allowed");

    } else {
        ngx_log_debug1(NGX_LOG_DEBUG_STREAM, log, 0,
                       "hoop pg policy: denied by %V", &v->rule);
    }

    return rc;
}


/*
 * A FunctionCall names a function by OID only: denied unless allowed
 * (hoop_pg_allow statement=function_call).  When allowed, deny rules whose
 * kinds include function_call match, and so do rules about relations or
 * functions (what the call touches is unknown: fail closed).
 */

ngx_int_t
ngx_hoop_pg_policy_check_call(void *policy, ngx_hoop_pg_policy_session_t *ps,
    uint32_t oid, ngx_pool_t *pool, ngx_log_t *log, ngx_hoop_pg_verdict_t *v)
{
    ngx_hoop_pg_policy_t        *p = policy;
    ngx_hoop_pg_policy_scope_t   sc;

    if (p == NULL) {
        return NGX_OK;
    }

    ngx_hoop_pg_policy_scope(p, ps->role, ps->groups, &sc);

    if (!(sc.allowed & NGX_HOOP_PG_K_FUNCTION_CALL)) {
        *v = ngx_hoop_pg_policy_function_call;
        goto denied;
    }

    if (ngx_hoop_pg_policy_call_rules(&p->deny, ps, v) == NGX_OK) {
        goto denied;
    }

    if (ngx_hoop_pg_policy_call_rules(&p->review, ps, v) == NGX_OK) {
        return NGX_HOOP_PG_POLICY_REVIEW;
    }

    return NGX_OK;

denied:

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, log, 0,
                   "hoop pg policy: FunctionCall of function %uD denied by %V",
                   oid, &v->rule);

    return NGX_DECLINED;
}


/* the first rule of a list that matches a FunctionCall: NGX_OK, *v set */

ngx_int_t
ngx_hoop_pg_policy_call_rules(ngx_array_t *rules,
    ngx_hoop_pg_policy_session_t *ps, ngx_hoop_pg_verdict_t *v)
{
    ngx_uint_t                  i;
    ngx_hoop_pg_policy_rule_t  *r;

    r = rules->elts;

    for (i = 0; i < rules->nelts; i++) {
        if (!ngx_hoop_pg_policy_rule_applies(&r[i], ps->role, ps->groups)
            || r[i].where_none
            || (r[i].kinds && !(r[i].kinds & NGX_HOOP_PG_K_FUNCTION_CALL)))
        {
            continue;
        }

        v->rule = r[i].rule;
        v->message = r[i].message;
        v->timeout = r[i].timeout;
        return NGX_OK;
    }

    return NGX_DECLINED;
}
