
/*
 * hoop_pg_mask: prepared statements and portals.  Their descriptions
 * (RowDescription, the Bind's result formats) are remembered by name, so
 * that executions that get no RowDescription are still masked.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_mask.h"


ngx_hoop_pg_mask_named_t *
ngx_hoop_pg_mask_find(ngx_queue_t *list, ngx_str_t *name)
{
    ngx_queue_t               *q;
    ngx_hoop_pg_mask_named_t  *n;

    for (q = ngx_queue_head(list);
         q != ngx_queue_sentinel(list);
         q = ngx_queue_next(q))
    {
        n = ngx_queue_data(q, ngx_hoop_pg_mask_named_t, queue);

        if (n->name.len == name->len
            && ngx_memcmp(n->name.data, name->data, name->len) == 0)
        {
            return n;
        }
    }

    return NULL;
}


/* a new (or renewed) statement or portal of that name */

ngx_hoop_pg_mask_named_t *
ngx_hoop_pg_mask_named(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms,
    ngx_uint_t portal, ngx_str_t *name, ngx_str_t *stmt)
{
    ngx_queue_t               *list;
    ngx_uint_t                *count;
    ngx_hoop_pg_mask_named_t  *n;

    list = portal ? &ms->portals : &ms->statements;
    count = portal ? &ms->nportals : &ms->nstatements;

    n = ngx_hoop_pg_mask_find(list, name);
    if (n) {
        ngx_hoop_pg_mask_forget(ms, portal, n);
    }

    if (*count >= NGX_HOOP_PG_MASK_MAX_NAMED) {
        ngx_hoop_pg_fatal(s, "54000",
                          "too many prepared statements or portals for "
                          "the gateway's masking", NGX_STREAM_BAD_REQUEST);
        return NULL;
    }

    n = ngx_calloc(sizeof(ngx_hoop_pg_mask_named_t) + name->len
                   + (stmt ? stmt->len : 0), s->connection->log);
    if (n == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NULL;
    }

    n->name.data = (u_char *) (n + 1);
    n->name.len = name->len;
    ngx_memcpy(n->name.data, name->data, name->len);

    if (stmt) {
        n->stmt.data = n->name.data + name->len;
        n->stmt.len = stmt->len;
        ngx_memcpy(n->stmt.data, stmt->data, stmt->len);
    }

    ngx_queue_insert_tail(list, &n->queue);
    (*count)++;

    return n;
}


void
ngx_hoop_pg_mask_forget(ngx_hoop_pg_mask_t *ms, ngx_uint_t portal,
    ngx_hoop_pg_mask_named_t *n)
{
    ngx_queue_remove(&n->queue);

    if (portal) {
        ms->nportals--;

    } else {
        ms->nstatements--;
    }

    if (n->desc) {
        ngx_hoop_pg_mask_unref(n->desc);
    }

    if (n->formats) {
        ngx_free(n->formats);
    }

    ngx_free(n);
}


void
ngx_hoop_pg_mask_unref(ngx_hoop_pg_mask_desc_t *d)
{
    if (--d->refs == 0) {
        ngx_free(d);
    }
}


/*
 * A RowDescription, resolved: for each column, the rule that masks it
 * whole (by its table column, or by its output name when its origin is
 * unknown), and whether its origin is unknown.
 */

ngx_hoop_pg_mask_desc_t *
ngx_hoop_pg_mask_describe(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms,
    u_char *msg, size_t len)
{
    u_char                   *p, *end;
    uint32_t                  oid, type;
    ngx_int_t                 attnum, lo, hi, mid, rule;
    ngx_str_t                 name;
    ngx_uint_t                i, ncols, unknown, cls;
    ngx_hoop_pg_mask_attr_t  *a;
    ngx_hoop_pg_mask_desc_t  *d;

    p = msg + 5;
    end = msg + len;

    if (end - p < 2) {
        return NULL;
    }

    ncols = (uint16_t) ngx_hoop_pg_mask_get_i16(p);
    p += 2;

    d = ngx_alloc(sizeof(ngx_hoop_pg_mask_desc_t)
                  + ncols * sizeof(ngx_hoop_pg_mask_col_t),
                  s->connection->log);
    if (d == NULL) {
        return NULL;
    }

    d->refs = 1;
    d->ncols = ncols;
    d->refused = 0;
    d->rules = 0;

    for (i = 0; i < ncols; i++) {
        p = ngx_hoop_pg_mask_cstr(p, end, &name);

        if (p == NULL || end - p < 18) {
            ngx_free(d);
            return NULL;
        }

        oid = ngx_hoop_pg_get_u32(p);
        attnum = ngx_hoop_pg_mask_get_i16(p + 4);
        type = ngx_hoop_pg_get_u32(p + 6);
        d->col[i].type = type;
        d->col[i].format = p[17];
        d->col[i].rule = -1;
        p += 18;

        unknown = 1;

        if (oid != 0 && ms->loaded && ms->columns) {
            /* binary search in the snapshot */
            a = ms->attrs;
            lo = 0;
            hi = (ngx_int_t) ms->nattrs - 1;

            while (lo <= hi) {
                mid = (lo + hi) / 2;

                if (a[mid].oid < oid
                    || (a[mid].oid == oid && a[mid].attnum < attnum))
                {
                    lo = mid + 1;

                } else if (a[mid].oid == oid && a[mid].attnum == attnum) {
                    d->col[i].rule = (int32_t) a[mid].rule;
                    break;

                } else {
                    hi = mid - 1;
                }
            }

            if (oid <= ms->max_oid) {
                unknown = 0;

            } else {
                /* a table newer than the snapshot */
                ngx_hoop_pg_mask_stale(ms);
            }

        } else if (oid != 0 && !ms->columns) {
            /* no column rules: a table column is what it is */
            unknown = 0;
        }

        if (!unknown) {
            if (d->col[i].rule >= 0) {
                d->rules++;
            }
            continue;
        }

        rule = ngx_hoop_pg_mask_rule_for(ms, NULL, NULL, &name, 1);
        d->col[i].rule = (int32_t) rule;

        if (rule >= 0) {
            d->rules++;
            continue;
        }

        /* types that cannot carry what the rules look for */
        cls = ngx_hoop_pg_mask_class(type);

        d->col[i].unknown = (cls != NGX_HOOP_PG_MASK_T_OTHER
                             && cls != NGX_HOOP_PG_MASK_T_INT);

        if (d->col[i].unknown) {
            d->refused++;
        }
    }

    return d;
}


/*
 * The first active rule naming this column: a rule path matches the
 * column's last parts (column, table.column, schema.table.column).  With
 * bare_only (output names of unknown origin) only one-part paths count.
 */

ngx_int_t
ngx_hoop_pg_mask_rule_for(ngx_hoop_pg_mask_t *ms, ngx_str_t *schema,
    ngx_str_t *table, ngx_str_t *column, ngx_uint_t bare_only)
{
    ngx_str_t             *parts[3], *seg;
    ngx_uint_t             i, j, k, ok;
    ngx_hoop_mask_path_t  *path;
    ngx_hoop_mask_rule_t  *rule;

    parts[0] = column;
    parts[1] = table;
    parts[2] = schema;

    rule = ms->conf->rules->elts;

    for (i = 0; i < ms->conf->rules->nelts; i++) {
        if (ms->skip[i] || rule[i].keys == NULL) {
            continue;
        }

        path = rule[i].keys->elts;

        for (j = 0; j < rule[i].keys->nelts; j++) {
            if (bare_only && path[j].nsegs != 1) {
                continue;
            }

            ok = 1;

            for (k = 0; k < path[j].nsegs && ok; k++) {
                seg = &path[j].segs[path[j].nsegs - 1 - k];

                ok = k < 3 && parts[k] != NULL
                     && parts[k]->len == seg->len
                     && ngx_strncmp(parts[k]->data, seg->data, seg->len)
                        == 0;
            }

            if (ok) {
                return (ngx_int_t) i;
            }
        }
    }

    return -1;
}


/* the result now being sent: its columns and formats */

void
ngx_hoop_pg_mask_result(ngx_hoop_pg_mask_t *ms, ngx_hoop_pg_mask_desc_t *d,
    int16_t *formats, ngx_uint_t nformats)
{
    if (ms->cur) {
        ngx_hoop_pg_mask_unref(ms->cur);
    }

    ms->cur = d;
    ms->cur_formats = formats;
    ms->cur_nformats = nformats;
    ms->cur_started = 1;
    ms->cur_missing = (d == NULL);

    if (d) {
        d->refs++;
    }

    /* rows stream past unheld when nothing can apply to them */
    ms->cur_active = d == NULL || d->rules || d->refused
                     || (ms->detect && d->ncols);
}


void
ngx_hoop_pg_mask_result_end(ngx_hoop_pg_mask_t *ms)
{
    if (ms->cur) {
        ngx_hoop_pg_mask_unref(ms->cur);
        ms->cur = NULL;
    }

    ms->cur_started = 0;
    ms->cur_active = 0;
    ms->cur_missing = 0;
}
