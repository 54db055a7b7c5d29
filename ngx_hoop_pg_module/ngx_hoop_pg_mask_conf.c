
/*
 * hoop_pg_mask: the directives (hoop_pg_mask, hoop_pg_mask_max_row,
 * hoop_pg_mask_catalog_cache), their merge, and the catalog query built
 * from the rules at configuration time.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_mask.h"


static char *ngx_hoop_pg_mask_catalog_query(ngx_conf_t *cf,
    ngx_hoop_pg_mask_conf_t *mcf);
static void ngx_hoop_pg_mask_cache_free(void *data);


static ngx_array_t *
ngx_hoop_pg_mask_list(ngx_conf_t *cf, ngx_str_t *value, size_t skip)
{
    u_char       *p, *end, *comma;
    ngx_str_t    *item;
    ngx_array_t  *list;

    list = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (list == NULL) {
        return NULL;
    }

    p = value->data + skip;
    end = value->data + value->len;

    while (p < end) {
        comma = ngx_strlchr(p, end, ',');
        if (comma == NULL) {
            comma = end;
        }

        if (comma > p) {
            item = ngx_array_push(list);
            if (item == NULL) {
                return NULL;
            }

            item->data = p;
            item->len = comma - p;
        }

        p = comma + 1;
    }

    return list;
}


static ngx_hoop_pg_mask_conf_t *
ngx_hoop_pg_mask_conf(ngx_conf_t *cf, ngx_hoop_pg_srv_conf_t *pscf)
{
    ngx_hoop_pg_mask_conf_t  *mcf;

    if (pscf->mask) {
        return pscf->mask;
    }

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_pg_mask_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    mcf->max_row = NGX_CONF_UNSET_SIZE;
    mcf->cache_time = NGX_CONF_UNSET_MSEC;
    pscf->mask = mcf;

    return mcf;
}


/*
 * hoop_pg_mask <engine rule arguments> [roles=P,..] [groups=G,..]
 *              [unless_groups=G,..] [unknown=detect|refuse];
 */

char *
ngx_hoop_pg_mask_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    char                      *rv;
    ngx_str_t                 *value, *args, name;
    ngx_uint_t                 i, n;
    ngx_hoop_mask_rule_t      *rule;
    ngx_hoop_pg_mask_conf_t   *mcf;
    ngx_hoop_pg_mask_scope_t  *scope;

    if (ngx_hoop_mask_rule_parse == NULL || ngx_hoop_mask_text_stats == NULL)
    {
        return "needs ngx_hoop_mask_module.so loaded before "
               "ngx_hoop_pg_module.so";
    }

    mcf = ngx_hoop_pg_mask_conf(cf, pscf);
    if (mcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mcf->scopes == NULL) {
        mcf->scopes = ngx_array_create(cf->pool, 2,
                                       sizeof(ngx_hoop_pg_mask_scope_t));
        if (mcf->scopes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    scope = ngx_array_push(mcf->scopes);
    if (scope == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(scope, sizeof(ngx_hoop_pg_mask_scope_t));
    scope->unless = NGX_ERROR;

    value = cf->args->elts;

    /* the engine's arguments, ours taken out */
    args = ngx_palloc(cf->pool, cf->args->nelts * sizeof(ngx_str_t));
    if (args == NULL) {
        return NGX_CONF_ERROR;
    }

    n = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "roles=", 6) == 0) {
            scope->roles = ngx_hoop_pg_mask_list(cf, &value[i], 6);
            if (scope->roles == NULL) {
                return NGX_CONF_ERROR;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "groups=", 7) == 0) {
            scope->groups = ngx_hoop_pg_mask_list(cf, &value[i], 7);
            if (scope->groups == NULL) {
                return NGX_CONF_ERROR;
            }
            continue;
        }

        if (ngx_strncmp(value[i].data, "unless_groups=", 14) == 0) {
            scope->unless_groups = ngx_hoop_pg_mask_list(cf, &value[i], 14);
            if (scope->unless_groups == NULL) {
                return NGX_CONF_ERROR;
            }
            continue;
        }

        if (value[i].len == 14
            && ngx_strncmp(value[i].data, "unknown=refuse", 14) == 0)
        {
            scope->refuse = 1;
            continue;
        }

        if (value[i].len == 14
            && ngx_strncmp(value[i].data, "unknown=detect", 14) == 0)
        {
            scope->refuse = 0;
            continue;
        }

        args[n++] = value[i];
    }

    rv = ngx_hoop_mask_rule_parse(cf, args, n, &mcf->rules);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rule = mcf->rules->elts;
    rule = &rule[mcf->rules->nelts - 1];

    if (rule->keys) {
        mcf->columns = 1;
    }

    if (rule->unless.len) {
        name = rule->unless;
        scope->unless = ngx_stream_get_variable_index(cf, &name);
        if (scope->unless == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_hoop_pg_mask_max_row(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    ngx_str_t                *value;
    ngx_hoop_pg_mask_conf_t  *mcf;

    mcf = ngx_hoop_pg_mask_conf(cf, pscf);
    if (mcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mcf->max_row != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mcf->max_row = ngx_parse_size(&value[1]);
    if (mcf->max_row == (size_t) NGX_ERROR || mcf->max_row < 1024) {
        return "invalid value (at least 1k)";
    }

    return NGX_CONF_OK;
}


char *
ngx_hoop_pg_mask_cache_time(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_pg_srv_conf_t *pscf = conf;

    ngx_str_t                *value;
    ngx_hoop_pg_mask_conf_t  *mcf;

    mcf = ngx_hoop_pg_mask_conf(cf, pscf);
    if (mcf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (mcf->cache_time != NGX_CONF_UNSET_MSEC) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mcf->cache_time = ngx_parse_time(&value[1], 0);
    if (mcf->cache_time == (ngx_msec_t) NGX_ERROR) {
        return "invalid value";
    }

    return NGX_CONF_OK;
}


char *
ngx_hoop_pg_mask_merge(ngx_conf_t *cf, ngx_hoop_pg_srv_conf_t *prev,
    ngx_hoop_pg_srv_conf_t *conf)
{
    ngx_pool_cleanup_t       *cln;
    ngx_hoop_pg_mask_conf_t  *mcf, *pmcf;

    pmcf = prev->mask;
    mcf = conf->mask;

    if (mcf == NULL) {
        /* the stream level's rules, settled once for all its servers */
        mcf = pmcf;
        pmcf = NULL;
        conf->mask = mcf;

        if (mcf == NULL) {
            return NGX_CONF_OK;
        }
    }

    if (mcf->rules == NULL && pmcf) {
        mcf->rules = pmcf->rules;
        mcf->scopes = pmcf->scopes;
        mcf->columns = pmcf->columns;
    }

    if (mcf->max_row == NGX_CONF_UNSET_SIZE) {
        mcf->max_row = (pmcf && pmcf->max_row != NGX_CONF_UNSET_SIZE)
                       ? pmcf->max_row : 1024 * 1024;
    }

    if (mcf->cache_time == NGX_CONF_UNSET_MSEC) {
        mcf->cache_time = (pmcf && pmcf->cache_time != NGX_CONF_UNSET_MSEC)
                          ? pmcf->cache_time : 60000;
    }

    if (mcf->rules == NULL) {
        /* only bounds were set here: nothing to mask */
        conf->mask = NULL;
        return NGX_CONF_OK;
    }

    if (mcf->catalog.len) {
        return NGX_CONF_OK;
    }

    /* the worker's cached snapshots go with its configuration */
    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_hoop_pg_mask_cache_free;
    cln->data = mcf;

    return ngx_hoop_pg_mask_catalog_query(cf, mcf);
}


static void
ngx_hoop_pg_mask_cache_free(void *data)
{
    ngx_hoop_pg_mask_conf_t *mcf = data;

    ngx_queue_t                *q;
    ngx_hoop_pg_mask_cached_t  *c;

    if (!mcf->cache_ready) {
        return;
    }

    while (!ngx_queue_empty(&mcf->cache)) {
        q = ngx_queue_head(&mcf->cache);
        ngx_queue_remove(q);
        c = ngx_queue_data(q, ngx_hoop_pg_mask_cached_t, queue);
        ngx_free(c);
    }

    mcf->cache_ready = 0;
}


/*
 * The catalog query: every column whose name is the last part of a
 * column rule, in any schema, with its position among the table's
 * columns (for COPY), and a last row carrying the largest relation OID.
 */

static char *
ngx_hoop_pg_mask_catalog_query(ngx_conf_t *cf, ngx_hoop_pg_mask_conf_t *mcf)
{
    u_char                *p, *q;
    size_t                 len;
    ngx_str_t             *col;
    ngx_uint_t             i, j, k;
    ngx_hoop_mask_path_t  *path;
    ngx_hoop_mask_rule_t  *rule;

    static const char  head[] =
        "SELECT c.oid::int8, a.attnum::int4, n.nspname::text, "
        "c.relname::text, a.attname::text, "
        "(SELECT count(*) FROM pg_catalog.pg_attribute b "
        "WHERE b.attrelid = c.oid AND b.attnum > 0 "
        "AND b.attnum < a.attnum AND NOT b.attisdropped)::int4 "
        "FROM pg_catalog.pg_attribute a "
        "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
        "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
        "WHERE a.attnum > 0 AND NOT a.attisdropped "
        "AND c.relkind IN ('r','v','m','p','f') "
        "AND a.attname = ANY (ARRAY['',";
    static const char  tail[] =
        "]::text[]) UNION ALL "
        "SELECT (SELECT max(oid) FROM pg_catalog.pg_class)::int8, 0, '', "
        "'', '', 0";

    len = sizeof(head) - 1 + sizeof(tail) - 1;

    rule = mcf->rules->elts;

    for (i = 0; i < mcf->rules->nelts; i++) {
        if (rule[i].keys == NULL) {
            continue;
        }

        path = rule[i].keys->elts;

        for (j = 0; j < rule[i].keys->nelts; j++) {
            if (path[j].nsegs > 3) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"hoop_pg_mask\" columns are "
                                   "column, table.column or "
                                   "schema.table.column");
                return NGX_CONF_ERROR;
            }

            /* quotes doubled, a comma */
            len += 2 * path[j].segs[path[j].nsegs - 1].len + 3;
        }
    }

    p = ngx_pnalloc(cf->pool, 5 + len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    mcf->catalog.data = p;

    q = p + 5;
    q = ngx_cpymem(q, head, sizeof(head) - 1);

    for (i = 0; i < mcf->rules->nelts; i++) {
        if (rule[i].keys == NULL) {
            continue;
        }

        path = rule[i].keys->elts;

        for (j = 0; j < rule[i].keys->nelts; j++) {
            col = &path[j].segs[path[j].nsegs - 1];

            *q++ = '\'';

            for (k = 0; k < col->len; k++) {
                if (col->data[k] == '\'') {
                    *q++ = '\'';
                }
                *q++ = col->data[k];
            }

            *q++ = '\'';
            *q++ = ',';
        }
    }

    q--;    /* the last comma */
    q = ngx_cpymem(q, tail, sizeof(tail) - 1);
    *q++ = '\0';

    mcf->catalog.len = q - p;
    (void) ngx_hoop_pg_message_start(p, 'Q', mcf->catalog.len - 5);

    return NGX_CONF_OK;
}
