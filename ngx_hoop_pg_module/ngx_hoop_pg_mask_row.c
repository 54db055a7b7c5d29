
/*
 * Masking values on their way to the client: DataRow, CopyData of COPY TO
 * STDOUT, the text fields of ErrorResponse/NoticeResponse and the payload
 * of NotificationResponse.
 *
 * A masked value stays valid for its type and format:
 *   - text-like types (text, varchar, bpchar, name, unknown, user-defined
 *     types in text format) are the same bytes in both formats: masked as
 *     text;
 *   - json/jsonb: a column rule makes the value a JSON string of the
 *     masked text; detector findings are rewritten in place and the result
 *     must still parse as JSON, else the value becomes NULL;
 *   - integers and numeric are scanned (a card number in a bigint) and a
 *     finding or a column rule makes them NULL;
 *   - any other type under a column rule becomes NULL (a redacted date or
 *     uuid has no valid form); other types are not scanned.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include <yajl/yajl_parse.h>
#include "ngx_hoop_pg.h"
#include "ngx_hoop_pg_mask.h"


#define NGX_HOOP_PG_MASK_STACK_COLS  32

#define NGX_HOOP_PG_MASK_NULL_LEN    0xffffffff


typedef struct {
    u_char                      *start;      /* of the old value's length */
    size_t                       old;        /* 4 + its bytes */
    ngx_str_t                    value;
    ngx_uint_t                   null;
} ngx_hoop_pg_mask_change_t;


static const char *ngx_hoop_pg_mask_row(ngx_hoop_pg_mask_t *ms,
    u_char *msg, size_t len, ngx_str_t *out);
static ngx_int_t ngx_hoop_pg_mask_one(ngx_hoop_pg_mask_t *ms,
    uint32_t type, ngx_uint_t format, int32_t rule, u_char *p, size_t n,
    ngx_str_t *out, ngx_uint_t *null);
static ngx_int_t ngx_hoop_pg_mask_whole(ngx_hoop_pg_mask_t *ms,
    int32_t rule, ngx_str_t *in, ngx_str_t *out);
static ngx_int_t ngx_hoop_pg_mask_scan(ngx_hoop_pg_mask_t *ms,
    ngx_str_t *in, ngx_str_t *out);
static ngx_uint_t ngx_hoop_pg_mask_json_ok(ngx_str_t *json);
static ngx_int_t ngx_hoop_pg_mask_json_string(ngx_pool_t *pool,
    ngx_str_t *in, size_t prefix, ngx_str_t *out);


ngx_uint_t
ngx_hoop_pg_mask_class(uint32_t type)
{
    switch (type) {

    case 25:        /* text */
    case 1043:      /* varchar */
    case 1042:      /* bpchar */
    case 19:        /* name */
    case 705:       /* unknown */
    case 142:       /* xml */
        return NGX_HOOP_PG_MASK_T_TEXT;

    case 114:
        return NGX_HOOP_PG_MASK_T_JSON;

    case 3802:
        return NGX_HOOP_PG_MASK_T_JSONB;

    case 20:        /* int8 */
    case 21:        /* int2 */
    case 23:        /* int4 */
        return NGX_HOOP_PG_MASK_T_INT;

    case 1700:
        return NGX_HOOP_PG_MASK_T_NUMERIC;

    case 1009:      /* text[] */
    case 1015:      /* varchar[] */
    case 1014:      /* bpchar[] */
    case 199:       /* json[] */
        return NGX_HOOP_PG_MASK_T_ARRAY;
    }

    return type >= 16384 ? NGX_HOOP_PG_MASK_T_USER : NGX_HOOP_PG_MASK_T_OTHER;
}


static size_t
ngx_hoop_pg_mask_fail(ngx_stream_session_t *s, const char *why)
{
    ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                  "hoop pg: masking: %s", why);
    ngx_hoop_pg_fatal(s, "XX000", "the gateway could not mask a result",
                      NGX_STREAM_BAD_GATEWAY);
    return 0;
}


/*
 * The DataRow at msg and every complete DataRow after it in the buffer
 * (rows come in long runs): each is rewritten, and the run replaced at
 * once, so rewriting a buffer of rows moves its bytes once, not once per
 * row.  Returns the run's new length, 0 when the session was finalized.
 */

size_t
ngx_hoop_pg_mask_data_row(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len)
{
    u_char       *p, *last, *out, *q;
    size_t        n, total;
    ngx_str_t    *piece;
    ngx_uint_t    changed, i;
    ngx_array_t   pieces;
    const char   *err;

    if (ms->cur == NULL) {
        return len;
    }

    if (ngx_array_init(&pieces, ms->scratch, 64, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return ngx_hoop_pg_mask_fail(s, "no memory");
    }

    last = (*gate->buf)->last;
    p = msg;
    total = 0;
    changed = 0;

    for ( ;; ) {
        piece = ngx_array_push(&pieces);
        if (piece == NULL) {
            return ngx_hoop_pg_mask_fail(s, "no memory");
        }

        err = ngx_hoop_pg_mask_row(ms, p, len, piece);
        if (err) {
            return ngx_hoop_pg_mask_fail(s, err);
        }

        changed |= (piece->data != p || piece->len != len);
        total += piece->len;
        p += len;

        /* the next message, if it is a whole DataRow within the bound */
        if (last - p < 5 || p[0] != 'D') {
            break;
        }

        n = ngx_hoop_pg_get_u32(p + 1);

        if (n < 4 || n > ms->conf->max_row || (size_t) (last - p) < 1 + n) {
            break;
        }

        len = 1 + n;
    }

    if (!changed) {
        return p - msg;
    }

    if (total - 1 > 0x7fffffff) {
        return ngx_hoop_pg_mask_fail(s, "masked rows too long");
    }

    out = ngx_pnalloc(ms->scratch, total);
    if (out == NULL) {
        return ngx_hoop_pg_mask_fail(s, "no memory");
    }

    q = out;
    piece = pieces.elts;

    for (i = 0; i < pieces.nelts; i++) {
        q = ngx_cpymem(q, piece[i].data, piece[i].len);
    }

    if (ngx_hoop_pg_gate_replace(s, gate, msg, p - msg, out, total) == NULL) {
        return 0;
    }

    return total;
}


/* one DataRow: *out is its new form, or the row itself; an error text */

static const char *
ngx_hoop_pg_mask_row(ngx_hoop_pg_mask_t *ms, u_char *msg, size_t len,
    ngx_str_t *out)
{
    u_char                     *p, *end, *q, *from;
    size_t                      n, new_len;
    ngx_int_t                   rc;
    ngx_uint_t                  i, ncols, nchanges, format, null;
    ngx_str_t                   value;
    ngx_hoop_pg_mask_desc_t    *d;
    ngx_hoop_pg_mask_change_t  *ch, stack[NGX_HOOP_PG_MASK_STACK_COLS];

    d = ms->cur;

    out->data = msg;
    out->len = len;

    p = msg + 5;
    end = msg + len;

    if (end - p < 2) {
        return "a malformed DataRow";
    }

    ncols = (uint16_t) ((p[0] << 8) | p[1]);
    p += 2;

    if (ncols != d->ncols) {
        return "a DataRow unlike its description";
    }

    ch = stack;

    if (ncols > NGX_HOOP_PG_MASK_STACK_COLS) {
        ch = ngx_palloc(ms->scratch,
                        ncols * sizeof(ngx_hoop_pg_mask_change_t));
        if (ch == NULL) {
            return "no memory";
        }
    }

    nchanges = 0;
    new_len = len;

    for (i = 0; i < ncols; i++) {
        if (end - p < 4) {
            return "a malformed DataRow";
        }

        n = ngx_hoop_pg_get_u32(p);

        if (n == NGX_HOOP_PG_MASK_NULL_LEN) {
            p += 4;
            continue;
        }

        if ((size_t) (end - p - 4) < n) {
            return "a malformed DataRow";
        }

        if (ms->cur_nformats == (ngx_uint_t) -1) {
            format = d->col[i].format;

        } else if (ms->cur_nformats == 0) {
            format = 0;

        } else if (ms->cur_nformats == 1) {
            format = ms->cur_formats[0];

        } else {
            format = i < ms->cur_nformats ? ms->cur_formats[i] : 0;
        }

        rc = ngx_hoop_pg_mask_one(ms, d->col[i].type, format, d->col[i].rule,
                                  p + 4, n, &value, &null);

        if (rc == NGX_ERROR) {
            return "no memory or a failed regex";
        }

        if (rc == NGX_OK) {
            ch[nchanges].start = p;
            ch[nchanges].old = 4 + n;
            ch[nchanges].value = value;
            ch[nchanges].null = null;
            nchanges++;

            new_len = new_len - n + (null ? 0 : value.len);
        }

        p += 4 + n;
    }

    if (nchanges == 0) {
        return NULL;
    }

    if (new_len - 1 > 0x7fffffff) {
        return "a masked row too long";
    }

    out->data = ngx_pnalloc(ms->scratch, new_len);
    if (out->data == NULL) {
        return "no memory";
    }

    out->len = new_len;

    q = ngx_hoop_pg_message_start(out->data, 'D', new_len - 5);
    from = msg + 7;
    q = ngx_cpymem(q, msg + 5, 2);

    for (i = 0; i < nchanges; i++) {
        q = ngx_cpymem(q, from, ch[i].start - from);

        if (ch[i].null) {
            q = ngx_hoop_pg_put_u32(q, NGX_HOOP_PG_MASK_NULL_LEN);

        } else {
            q = ngx_hoop_pg_put_u32(q, ch[i].value.len);
            q = ngx_cpymem(q, ch[i].value.data, ch[i].value.len);
        }

        from = ch[i].start + ch[i].old;
    }

    (void) ngx_cpymem(q, from, end - from);

    return NULL;
}


/*
 * One value.  NGX_OK: changed (*out, or *null); NGX_DECLINED: as it was;
 * NGX_ERROR.
 */

static ngx_int_t
ngx_hoop_pg_mask_one(ngx_hoop_pg_mask_t *ms, uint32_t type,
    ngx_uint_t format, int32_t rule, u_char *p, size_t n, ngx_str_t *out,
    ngx_uint_t *null)
{
    u_char      num[NGX_INT64_LEN + 1];
    int64_t     v;
    ngx_int_t   rc;
    ngx_str_t   in, masked;
    ngx_uint_t  cls;

    *null = 0;

    cls = ngx_hoop_pg_mask_class(type);

    if (format != 0) {
        /* binary: which types share the text bytes */
        switch (cls) {
        case NGX_HOOP_PG_MASK_T_TEXT:
        case NGX_HOOP_PG_MASK_T_JSON:
        case NGX_HOOP_PG_MASK_T_JSONB:
        case NGX_HOOP_PG_MASK_T_INT:
            break;
        default:
            cls = NGX_HOOP_PG_MASK_T_OTHER;
        }
    }

    in.data = p;
    in.len = n;

    switch (cls) {

    case NGX_HOOP_PG_MASK_T_TEXT:
    case NGX_HOOP_PG_MASK_T_USER:
        if (rule >= 0) {
            rc = ngx_hoop_pg_mask_whole(ms, rule, &in, out);
            if (rc == NGX_DONE) {
                *null = 1;
                return NGX_OK;
            }

            return rc;
        }

        if (!ms->detect) {
            return NGX_DECLINED;
        }

        rc = ngx_hoop_pg_mask_scan(ms, &in, out);
        if (rc == NGX_DONE) {
            *null = 1;
            return NGX_OK;
        }

        return rc;

    case NGX_HOOP_PG_MASK_T_JSON:
    case NGX_HOOP_PG_MASK_T_JSONB:
        /* jsonb in binary: a version byte, then the text */
        if (cls == NGX_HOOP_PG_MASK_T_JSONB && format != 0) {
            if (n < 1 || p[0] != 1) {
                if (rule >= 0 || ms->detect) {
                    *null = 1;
                    return NGX_OK;
                }

                return NGX_DECLINED;
            }

            in.data++;
            in.len--;
        }

        if (rule >= 0) {
            rc = ngx_hoop_pg_mask_whole(ms, rule, &in, &masked);
            if (rc == NGX_DONE) {
                *null = 1;
                return NGX_OK;
            }

            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_hoop_pg_mask_json_string(ms->scratch, &masked,
                                                in.data != p, out);
        }

        if (!ms->detect) {
            return NGX_DECLINED;
        }

        rc = ngx_hoop_pg_mask_scan(ms, &in, &masked);

        if (rc == NGX_DECLINED || rc == NGX_ERROR) {
            return rc;
        }

        if (rc == NGX_DONE || !ngx_hoop_pg_mask_json_ok(&masked)) {
            *null = 1;
            return NGX_OK;
        }

        if (in.data == p) {
            *out = masked;
            return NGX_OK;
        }

        out->data = ngx_pnalloc(ms->scratch, masked.len + 1);
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        out->data[0] = 1;
        ngx_memcpy(out->data + 1, masked.data, masked.len);
        out->len = masked.len + 1;

        return NGX_OK;

    case NGX_HOOP_PG_MASK_T_INT:
    case NGX_HOOP_PG_MASK_T_NUMERIC:
        if (rule >= 0) {
            if (ngx_hoop_pg_mask_whole(ms, rule, &in, &masked) == NGX_ERROR) {
                return NGX_ERROR;
            }

            *null = 1;
            return NGX_OK;
        }

        if (!ms->detect) {
            return NGX_DECLINED;
        }

        if (format != 0) {
            /* big-endian two's complement, 2, 4 or 8 bytes */
            if (n != 2 && n != 4 && n != 8) {
                return NGX_DECLINED;
            }

            v = (p[0] & 0x80) ? -1 : 0;

            for (rc = 0; rc < (ngx_int_t) n; rc++) {
                v = (int64_t) (((uint64_t) v << 8) | p[rc]);
            }

            in.data = num;
            in.len = ngx_sprintf(num, "%L", v) - num;
        }

        rc = ngx_hoop_pg_mask_scan(ms, &in, &masked);

        if (rc == NGX_OK || rc == NGX_DONE) {
            /* no masked form is a number */
            *null = 1;
            return NGX_OK;
        }

        return rc;

    case NGX_HOOP_PG_MASK_T_ARRAY:
        if (rule >= 0) {
            if (ngx_hoop_pg_mask_whole(ms, rule, &in, &masked) == NGX_ERROR) {
                return NGX_ERROR;
            }

            *null = 1;
            return NGX_OK;
        }

        if (!ms->detect) {
            return NGX_DECLINED;
        }

        rc = ngx_hoop_pg_mask_scan(ms, &in, out);
        if (rc == NGX_DONE) {
            *null = 1;
            return NGX_OK;
        }

        return rc;

    default:
        if (rule >= 0) {
            if (ngx_hoop_pg_mask_whole(ms, rule, &in, &masked) == NGX_ERROR) {
                return NGX_ERROR;
            }

            *null = 1;
            return NGX_OK;
        }

        return NGX_DECLINED;
    }
}


/* a whole value by a column rule: NGX_OK, NGX_DONE (null), NGX_ERROR */

static ngx_int_t
ngx_hoop_pg_mask_whole(ngx_hoop_pg_mask_t *ms, int32_t rule, ngx_str_t *in,
    ngx_str_t *out)
{
    ngx_hoop_mask_rule_t  *r;

    r = ms->conf->rules->elts;
    r = &r[rule];

    ms->stmt.total++;
    ms->stmt.by_detector[NGX_HOOP_MASK_KEY]++;
    ms->stmt.by_rule[rule]++;

    return ngx_hoop_mask_value(r, in, ms->scratch, out);
}


/* detectors: NGX_OK changed, NGX_DONE null, NGX_DECLINED nothing found */

static ngx_int_t
ngx_hoop_pg_mask_scan(ngx_hoop_pg_mask_t *ms, ngx_str_t *in, ngx_str_t *out)
{
    ngx_int_t  rc;

    rc = ngx_hoop_mask_text_stats(ms->conf->rules, ms->skip, in, ms->scratch,
                                  ms->session->connection->log, out,
                                  &ms->stmt);

    if (rc == NGX_OK && out->data == in->data && out->len == in->len) {
        return NGX_DECLINED;
    }

    return rc;
}


static ngx_uint_t
ngx_hoop_pg_mask_json_ok(ngx_str_t *json)
{
    yajl_handle  h;
    yajl_status  st;

    h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL) {
        return 0;
    }

    st = yajl_parse(h, json->data, json->len);

    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
    }

    yajl_free(h);

    return st == yajl_status_ok;
}


/* "masked" as a JSON string; prefix: jsonb binary's version byte */

static ngx_int_t
ngx_hoop_pg_mask_json_string(ngx_pool_t *pool, ngx_str_t *in, size_t prefix,
    ngx_str_t *out)
{
    u_char  *d, c;
    size_t   i;

    out->data = ngx_pnalloc(pool, prefix + 2 + in->len * 6);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    d = out->data;

    if (prefix) {
        *d++ = 1;
    }

    *d++ = '"';

    for (i = 0; i < in->len; i++) {
        c = in->data[i];

        if (c == '"' || c == '\\') {
            *d++ = '\\';
            *d++ = c;

        } else if (c < 0x20) {
            d = ngx_sprintf(d, "\\u%04xd", (ngx_uint_t) c);

        } else {
            *d++ = c;
        }
    }

    *d++ = '"';
    out->len = d - out->data;

    return NGX_OK;
}


/*
 * COPY TO STDOUT, text or CSV: one row per CopyData.  A field is masked
 * in its escaped form; the masked forms contain neither delimiters nor
 * quotes nor line ends, so they need no escaping of their own.
 */

size_t
ngx_hoop_pg_mask_copy_row(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len)
{
    u_char     *p, *end, *f, *fend, *out, *q, *from, delim;
    size_t      new_len;
    ngx_int_t   rc, rule;
    ngx_str_t   in, value;
    ngx_uint_t  i, quoted, changed;

    if (ms->copy_header) {
        /* CSV HEADER: column names */
        ms->copy_header = 0;
        return len;
    }

    p = msg + 5;
    end = msg + len;
    delim = ms->copy_delim;

    /* the output is never more than each field masked: build as we go */
    out = NULL;
    q = NULL;
    from = p;
    changed = 0;

    for (i = 0; p <= end; i++) {
        /* one field: [p, fend) */
        quoted = 0;
        f = p;

        if (ms->copy_csv && p < end && *p == '"') {
            quoted = 1;

            for (fend = p + 1; fend < end; fend++) {
                if (*fend == '"') {
                    if (fend + 1 < end && fend[1] == '"') {
                        fend++;
                        continue;
                    }
                    break;
                }
            }

            if (fend >= end) {
                return ngx_hoop_pg_mask_fail(s, "a malformed CSV row");
            }

            f = p + 1;          /* inside the quotes */
            p = fend + 1;       /* after the closing quote */

        } else {
            for (fend = p; fend < end; fend++) {
                if (*fend == delim || *fend == '\n' || *fend == '\r') {
                    break;
                }
            }

            p = fend;
        }

        in.data = f;
        in.len = fend - f;

        rule = i < ms->copy_ncols ? ms->copy_rules[i] : -1;
        rc = NGX_DECLINED;

        if ((!ms->copy_csv && in.len == 2 && f[0] == '\\' && f[1] == 'N')
            || (ms->copy_csv && in.len == 0 && !quoted))
        {
            /* NULL */

        } else if (rule >= 0) {
            rc = ngx_hoop_pg_mask_whole(ms, (int32_t) rule, &in, &value);

        } else if (ms->detect) {
            rc = ngx_hoop_pg_mask_scan(ms, &in, &value);
        }

        if (rc == NGX_ERROR) {
            return ngx_hoop_pg_mask_fail(s, "no memory or a failed regex");
        }

        if (rc == NGX_OK || rc == NGX_DONE) {
            if (out == NULL) {
                /* a field grows by at most what a hash or a kept
                 * email domain adds: allow the whole row once more */
                out = ngx_pnalloc(ms->scratch, 2 * len + 64 * ms->copy_ncols
                                               + 64);
                if (out == NULL) {
                    return ngx_hoop_pg_mask_fail(s, "no memory");
                }

                q = out + 5;
            }

            q = ngx_cpymem(q, from, (quoted ? f - 1 : f) - from);

            if (rc == NGX_DONE) {
                /* null: \N in text, an empty unquoted field in CSV */
                if (!ms->copy_csv) {
                    *q++ = '\\';
                    *q++ = 'N';
                }

            } else {
                if (quoted) {
                    *q++ = '"';
                }

                q = ngx_cpymem(q, value.data, value.len);

                if (quoted) {
                    *q++ = '"';
                }
            }

            from = p;
            changed = 1;
        }

        if (p >= end || *p != delim) {
            break;
        }

        p++;
    }

    if (!changed) {
        return len;
    }

    q = ngx_cpymem(q, from, end - from);
    new_len = q - out;

    (void) ngx_hoop_pg_message_start(out, 'd', new_len - 5);

    if (ngx_hoop_pg_gate_replace(s, gate, msg, len, out, new_len) == NULL) {
        return 0;
    }

    return new_len;
}


/* a field of which code is text that may quote values */

static ngx_uint_t
ngx_hoop_pg_mask_field_code(u_char code)
{
    switch (code) {
    case 'S': case 'V': case 'C': case 'F': case 'L': case 'R': case 'P':
    case 'p':
        return 0;
    }

    return 1;
}


/*
 * A DETAIL quoting values of columns rules name: "Key (email)=(...)
 * already exists." (unique and foreign keys) or "Failing row contains
 * (...)." (constraints, when the table has such a column): the values
 * become ****.  NGX_OK: *out is the new text.
 */

static ngx_int_t
ngx_hoop_pg_mask_key_detail(ngx_hoop_pg_mask_t *ms, ngx_str_t *in,
    ngx_str_t *schema, ngx_str_t *table, ngx_str_t *out)
{
    u_char      *p, *end, *eq, *vals, *close, *comma;
    ngx_int_t    rule;
    ngx_str_t    col;
    ngx_uint_t   i;

    p = in->data;
    end = in->data + in->len;
    rule = -1;

    if (in->len > 5 && ngx_strncmp(p, "Key (", 5) == 0) {
        eq = ngx_strlcasestrn(p + 5, end, (u_char *) ")=(", 3 - 1);
        if (eq == NULL) {
            return NGX_DECLINED;
        }

        for (p += 5; p < eq && rule < 0; p = comma + 1) {
            comma = ngx_strlchr(p, eq, ',');
            if (comma == NULL) {
                comma = eq;
            }

            col.data = p;
            col.len = comma - p;

            while (col.len && col.data[0] == ' ') {
                col.data++;
                col.len--;
            }

            if (col.len > 1 && col.data[0] == '"'
                && col.data[col.len - 1] == '"')
            {
                col.data++;
                col.len -= 2;
            }

            rule = ngx_hoop_pg_mask_rule_for(ms, schema->len ? schema : NULL,
                                             table->len ? table : NULL,
                                             &col, 0);
        }

        vals = eq + 3;

    } else if (in->len > 22
               && ngx_strncmp(p, "Failing row contains (", 22) == 0)
    {
        for (i = 0; i < ms->nattrs && rule < 0; i++) {
            if (ms->attrs[i].rule >= 0
                && ms->attrs[i].table.len == table->len
                && ngx_strncmp(ms->attrs[i].table.data, table->data,
                               table->len) == 0
                && (schema->len == 0
                    || (ms->attrs[i].schema.len == schema->len
                        && ngx_strncmp(ms->attrs[i].schema.data,
                                       schema->data, schema->len) == 0)))
            {
                rule = ms->attrs[i].rule;
            }
        }

        vals = p + 22;

    } else {
        return NGX_DECLINED;
    }

    if (rule < 0) {
        return NGX_DECLINED;
    }

    for (close = end; close > vals && close[-1] != ')'; close--) {
        /* void */
    }

    if (close == vals) {
        return NGX_DECLINED;
    }

    close--;

    out->data = ngx_pnalloc(ms->scratch, (vals - in->data) + 4
                                         + (end - close));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(out->data, in->data, vals - in->data);
    p = ngx_cpymem(p, "****", 4);
    p = ngx_cpymem(p, close, end - close);
    out->len = p - out->data;

    ms->stmt.total++;
    ms->stmt.by_detector[NGX_HOOP_MASK_KEY]++;
    ms->stmt.by_rule[rule]++;

    return NGX_OK;
}


/*
 * ErrorResponse, NoticeResponse: every text field through the detectors;
 * a DETAIL quoting rule-named columns' values loses them.
 */

size_t
ngx_hoop_pg_mask_fields(ngx_stream_session_t *s, ngx_hoop_pg_mask_t *ms,
    ngx_hoop_pg_gate_t *gate, u_char *msg, size_t len)
{
    u_char     *p, *end, *z, *out, *q, *from;
    size_t      new_len;
    ngx_int_t   rc;
    ngx_str_t   in, value, schema, table, key;
    ngx_uint_t  changed;

    if (!ms->detect && !ms->columns) {
        return len;
    }

    p = msg + 5;
    end = msg + len;
    out = NULL;
    q = NULL;
    from = p;
    changed = 0;

    /* the schema and table the error names, for its DETAIL */
    ngx_str_null(&schema);
    ngx_str_null(&table);

    while (p < end && *p != '\0') {
        z = ngx_strlchr(p + 1, end, '\0');
        if (z == NULL) {
            return ngx_hoop_pg_mask_fail(s, "a malformed error message");
        }

        if (*p == 's' || *p == 't') {
            in.data = p + 1;
            in.len = z - in.data;
            *(*p == 's' ? &schema : &table) = in;
        }

        p = z + 1;
    }

    p = msg + 5;

    while (p < end && *p != '\0') {
        z = ngx_strlchr(p + 1, end, '\0');
        if (z == NULL) {
            return ngx_hoop_pg_mask_fail(s, "a malformed error message");
        }

        if (ngx_hoop_pg_mask_field_code(*p)) {
            in.data = p + 1;
            in.len = z - in.data;

            rc = NGX_DECLINED;
            ngx_str_null(&key);

            if (*p == 'D' && ms->columns) {
                rc = ngx_hoop_pg_mask_key_detail(ms, &in, &schema, &table,
                                                 &key);
                if (rc == NGX_ERROR) {
                    return ngx_hoop_pg_mask_fail(s, "no memory");
                }

                if (rc == NGX_OK) {
                    in = key;
                }
            }

            if (ms->detect) {
                rc = ngx_hoop_pg_mask_scan(ms, &in, &value);

                if (rc == NGX_DECLINED && in.data == key.data) {
                    value = key;
                    rc = NGX_OK;
                }

            } else {
                value = in;
            }

            if (rc == NGX_ERROR) {
                return ngx_hoop_pg_mask_fail(s, "no memory");
            }

            if (rc == NGX_OK || rc == NGX_DONE) {
                if (out == NULL) {
                    out = ngx_pnalloc(ms->scratch, 2 * len + 1024);
                    if (out == NULL) {
                        return ngx_hoop_pg_mask_fail(s, "no memory");
                    }

                    q = out + 5;
                }

                if ((size_t) (q - out) + ((p + 1) - from) + value.len
                    > 2 * len + 1000)
                {
                    return ngx_hoop_pg_mask_fail(s, "masked error too long");
                }

                q = ngx_cpymem(q, from, (p + 1) - from);
                q = ngx_cpymem(q, value.data, value.len);
                from = z;
                changed = 1;
            }
        }

        p = z + 1;
    }

    if (!changed) {
        return len;
    }

    q = ngx_cpymem(q, from, end - from);
    new_len = q - out;

    (void) ngx_hoop_pg_message_start(out, msg[0], new_len - 5);

    if (ngx_hoop_pg_gate_replace(s, gate, msg, len, out, new_len) == NULL) {
        return 0;
    }

    return new_len;
}


/* NotificationResponse: process id, channel, payload */

size_t
ngx_hoop_pg_mask_notification(ngx_stream_session_t *s,
    ngx_hoop_pg_mask_t *ms, ngx_hoop_pg_gate_t *gate, u_char *msg,
    size_t len)
{
    u_char     *p, *end, *z, *out, *q;
    size_t      new_len;
    ngx_int_t   rc;
    ngx_str_t   in, value;

    if (!ms->detect || len < 9) {
        return len;
    }

    end = msg + len;

    p = ngx_strlchr(msg + 9, end, '\0');
    if (p == NULL) {
        return ngx_hoop_pg_mask_fail(s, "a malformed notification");
    }

    in.data = p + 1;
    z = ngx_strlchr(in.data, end, '\0');
    if (z == NULL) {
        return ngx_hoop_pg_mask_fail(s, "a malformed notification");
    }

    in.len = z - in.data;

    rc = ngx_hoop_pg_mask_scan(ms, &in, &value);

    if (rc == NGX_ERROR) {
        return ngx_hoop_pg_mask_fail(s, "no memory");
    }

    if (rc == NGX_DECLINED) {
        return len;
    }

    new_len = len - in.len + value.len;

    out = ngx_pnalloc(ms->scratch, new_len);
    if (out == NULL) {
        return ngx_hoop_pg_mask_fail(s, "no memory");
    }

    q = ngx_cpymem(out, msg, in.data - msg);
    q = ngx_cpymem(q, value.data, value.len);
    (void) ngx_cpymem(q, z, end - z);

    (void) ngx_hoop_pg_message_start(out, 'A', new_len - 5);

    if (ngx_hoop_pg_gate_replace(s, gate, msg, len, out, new_len) == NULL) {
        return 0;
    }

    return new_len;
}
