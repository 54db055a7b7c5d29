
/*
 * hoop_pg_mask: COPY TO STDOUT.  The columns of a simple-protocol
 * "COPY table [(columns)] TO STDOUT" are found from its text, so that its
 * text or CSV rows can be masked; what cannot be masked is refused.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_mask.h"


static u_char *
ngx_hoop_pg_mask_space(u_char *p, u_char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* an identifier, lower-cased unless quoted */

static u_char *
ngx_hoop_pg_mask_ident(u_char *p, u_char *end, ngx_pool_t *pool,
    ngx_str_t *out)
{
    u_char  *d;

    out->data = ngx_pnalloc(pool, end - p + 1);
    if (out->data == NULL) {
        return NULL;
    }

    d = out->data;

    if (p < end && *p == '"') {
        for (p++; p < end; p++) {
            if (*p == '"') {
                if (p + 1 < end && p[1] == '"') {
                    *d++ = '"';
                    p++;
                    continue;
                }

                out->len = d - out->data;
                return p + 1;
            }

            *d++ = *p;
        }

        return NULL;
    }

    while (p < end && (isalnum(*p) || *p == '_' || *p == '$'
                       || *p >= 0x80))
    {
        *d++ = ngx_tolower(*p);
        p++;
    }

    out->len = d - out->data;

    return out->len ? p : NULL;
}


/*
 * CopyOutResponse: which rule masks each field.  The columns come from
 * the COPY statement's text: COPY [schema.]table [(columns)] TO STDOUT.
 * A COPY (query), a COPY the gateway cannot read, or binary, is refused
 * when rules could apply to it (detectors alone need no columns).
 */

ngx_int_t
ngx_hoop_pg_mask_copy_start(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms,
    u_char *msg, size_t len)
{
    u_char                   *p, *end;
    ngx_str_t                 schema, table, col, rest;
    ngx_uint_t                i, k, ncols, known;
    ngx_pool_t               *pool;
    ngx_hoop_pg_mask_attr_t  *a;
    ngx_hoop_pg_mask_item_t  *it;
    const char               *why;

    ms->copy_active = 0;

    if (len < 8) {
        return NGX_OK;
    }

    ncols = (uint16_t) ngx_hoop_pg_mask_get_i16(msg + 6);

    if (msg[5] != 0) {
        why = "COPY in binary format cannot be masked";
        goto refuse;
    }

    if (ms->copy_rules) {
        ngx_free(ms->copy_rules);
    }

    ms->copy_rules = ngx_alloc((ncols + 1) * sizeof(int32_t),
                               s->connection->log);
    if (ms->copy_rules == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    for (i = 0; i < ncols; i++) {
        ms->copy_rules[i] = -1;
    }

    ms->copy_ncols = ncols;
    ms->copy_delim = '\t';
    ms->copy_csv = 0;
    ms->copy_header = 0;

    it = ngx_hoop_pg_mask_head(ms);
    pool = ms->scratch;
    known = 0;

    if (it == NULL || it->kind != 'Q' || it->text.len == 0) {
        goto parsed;
    }

    p = it->text.data + 4;
    end = it->text.data + it->text.len;
    p = ngx_hoop_pg_mask_space(p, end);

    if (p == end || *p == '(') {
        goto parsed;
    }

    ngx_str_null(&schema);

    p = ngx_hoop_pg_mask_ident(p, end, pool, &table);
    if (p == NULL) {
        goto parsed;
    }

    if (p < end && *p == '.') {
        schema = table;
        p = ngx_hoop_pg_mask_ident(p + 1, end, pool, &table);
        if (p == NULL) {
            goto parsed;
        }
    }

    p = ngx_hoop_pg_mask_space(p, end);

    if (p < end && *p == '(') {
        /* a column list: the fields, in order */
        k = 0;
        p++;

        for ( ;; ) {
            p = ngx_hoop_pg_mask_space(p, end);
            p = ngx_hoop_pg_mask_ident(p, end, pool, &col);
            if (p == NULL || k >= ncols) {
                goto parsed;
            }

            for (i = 0; i < ms->nattrs; i++) {
                a = &ms->attrs[i];

                if (a->table.len == table.len
                    && ngx_strncmp(a->table.data, table.data, table.len) == 0
                    && (schema.len == 0
                        || (a->schema.len == schema.len
                            && ngx_strncmp(a->schema.data, schema.data,
                                           schema.len) == 0))
                    && a->column.len == col.len
                    && ngx_strncmp(a->column.data, col.data, col.len) == 0
                    && a->rule >= 0)
                {
                    ms->copy_rules[k] = (int32_t) a->rule;
                }
            }

            if (ms->copy_rules[k] < 0) {
                ms->copy_rules[k] = (int32_t) ngx_hoop_pg_mask_rule_for(ms,
                                                   NULL, NULL, &col, 1);
            }

            k++;
            p = ngx_hoop_pg_mask_space(p, end);

            if (p < end && *p == ',') {
                p++;
                continue;
            }

            if (p < end && *p == ')') {
                p++;
                break;
            }

            goto parsed;
        }

        if (k != ncols) {
            goto parsed;
        }

    } else {
        /* the table's columns in order: their positions */
        for (i = 0; i < ms->nattrs; i++) {
            a = &ms->attrs[i];

            if (a->table.len == table.len
                && ngx_strncmp(a->table.data, table.data, table.len) == 0
                && (schema.len == 0
                    || (a->schema.len == schema.len
                        && ngx_strncmp(a->schema.data, schema.data,
                                       schema.len) == 0))
                && a->rule >= 0 && a->copypos >= 0
                && (ngx_uint_t) a->copypos < ncols)
            {
                ms->copy_rules[a->copypos] = (int32_t) a->rule;
            }
        }
    }

    p = ngx_hoop_pg_mask_space(p, end);

    if (end - p < 9 || ngx_strncasecmp(p, (u_char *) "to", 2) != 0) {
        goto parsed;
    }

    p = ngx_hoop_pg_mask_space(p + 2, end);

    if (end - p < 6 || ngx_strncasecmp(p, (u_char *) "stdout", 6) != 0) {
        goto parsed;
    }

    /* options: FORMAT csv / CSV, HEADER, DELIMITER 'c' */
    rest.data = p + 6;
    rest.len = end - rest.data;

    if (ngx_strlcasestrn(rest.data, end, (u_char *) "csv", 3 - 1)) {
        ms->copy_csv = 1;
        ms->copy_delim = ',';
    }

    p = ngx_strlcasestrn(rest.data, end, (u_char *) "header", 6 - 1);
    if (p && ms->copy_csv) {
        p = ngx_hoop_pg_mask_space(p + 6, end);
        ms->copy_header = !(end - p >= 1
                            && (ngx_strncasecmp(p, (u_char *) "false", 5)
                                == 0
                                || ngx_strncasecmp(p, (u_char *) "off", 3)
                                   == 0
                                || *p == '0'));
    }

    p = ngx_strlcasestrn(rest.data, end, (u_char *) "delimiter", 9 - 1);
    if (p) {
        p = ngx_hoop_pg_mask_space(p + 9, end);
        if (p < end && (*p == 'a' || *p == 'A')) {
            p = ngx_hoop_pg_mask_space(p + 2, end);     /* AS */
        }

        if (end - p < 3 || p[0] != '\'' || p[2] != '\'' || p[1] == '\\') {
            goto parsed;
        }

        ms->copy_delim = p[1];
    }

    if (ngx_strlcasestrn(rest.data, end, (u_char *) "quote", 5 - 1)
        || ngx_strlcasestrn(rest.data, end, (u_char *) "escape", 6 - 1))
    {
        /* quoting the gateway does not read */
        goto parsed;
    }

    known = 1;

parsed:

    if (!known) {
        for (i = 0; i < ncols; i++) {
            ms->copy_rules[i] = -1;
        }

        if (ms->columns || ms->refuse) {
            why = "COPY TO STDOUT of a query or with options the gateway "
                  "cannot read cannot be masked by column";
            goto refuse;
        }
    }

    if (!ms->detect) {
        for (i = 0; i < ncols; i++) {
            if (ms->copy_rules[i] >= 0) {
                break;
            }
        }

        if (i == ncols) {
            /* nothing to do for this COPY */
            return NGX_OK;
        }
    }

    ms->copy_active = 1;

    return NGX_OK;

refuse:

    {
    ngx_hoop_pg_ctx_t  *ctx;

    ctx = ngx_stream_get_module_ctx(s, ngx_hoop_pg_module);

    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "hoop pg: \"%V\" (role profile \"%V\"): %s: refused",
                  &ctx->identity.user, &ctx->role_name, why);
    }

    ngx_hoop_pg_fatal(s, "42501", why, NGX_STREAM_OK);

    return NGX_ERROR;
}
