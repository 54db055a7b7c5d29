
/*
 * The audit record: one event, the same bytes in memory and in the spool.
 *
 *     record  = crc32 SP length SP payload LF
 *     crc32   = 8 lowercase hex digits, CRC-32 of the payload
 *     length  = decimal byte length of the payload
 *     payload = 1*( netstring(name) netstring(value) )
 *     netstring(s) = decimal length ":" s ","
 *
 * The first pairs are set here: type, time (ms since the epoch), eid (a
 * unique event id: "<worker id>.<sequence>", for consumers that must
 * de-duplicate) and gateway (the host name); the caller's fields follow in
 * their order, then "truncated" (names of the fields cut to max_field).
 * Values may hold any byte, newlines included: records are framed by their
 * length, the LF only makes the file easier on the eye.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_audit_int.h"


#define NGX_HOOP_AUDIT_FIXED  4     /* type, time, eid, gateway */


static size_t ngx_hoop_audit_netstring_len(size_t len);
static u_char *ngx_hoop_audit_netstring(u_char *p, u_char *s, size_t len);
static ngx_uint_t ngx_hoop_audit_reserved(ngx_str_t *name);


ngx_hoop_audit_item_t *
ngx_hoop_audit_record_create(ngx_hoop_audit_ship_t *ship, ngx_str_t *type,
    ngx_hoop_audit_field_t *fields, ngx_uint_t n)
{
    u_char                 *p, *payload, *q;
    size_t                  plen, hlen, vlen, tlen;
    uint64_t                ms;
    ngx_uint_t              i, ntrunc;
    ngx_time_t             *tp;
    ngx_str_t               fixed[NGX_HOOP_AUDIT_FIXED * 2];
    u_char                  time_text[NGX_INT64_LEN];
    u_char                  eid_text[sizeof(ship->id) + 1 + NGX_INT64_LEN];
    u_char                  header[8 + 1 + NGX_SIZE_T_LEN + 1];
    ngx_hoop_audit_item_t  *item;

    tp = ngx_timeofday();
    ms = (uint64_t) tp->sec * 1000 + tp->msec;

    ngx_str_set(&fixed[0], "type");
    fixed[1] = *type;
    ngx_str_set(&fixed[2], "time");
    fixed[3].data = time_text;
    fixed[3].len = ngx_sprintf(time_text, "%uL", ms) - time_text;
    ngx_str_set(&fixed[4], "eid");
    fixed[5].data = eid_text;
    fixed[5].len = ngx_sprintf(eid_text, "%*s.%xL", sizeof(ship->id),
                               ship->id, ship->seq)
                   - eid_text;
    ngx_str_set(&fixed[6], "gateway");
    fixed[7] = ship->gateway;

    plen = 0;

    for (i = 0; i < NGX_HOOP_AUDIT_FIXED * 2; i++) {
        plen += ngx_hoop_audit_netstring_len(fixed[i].len);
    }

    ntrunc = 0;
    tlen = 0;

    for (i = 0; i < n; i++) {
        if (fields[i].value.len == 0
            || fields[i].name.len == 0
            || ngx_hoop_audit_reserved(&fields[i].name))
        {
            continue;
        }

        vlen = ngx_min(fields[i].value.len, ship->conf->max_field);

        if (vlen < fields[i].value.len) {
            tlen += (ntrunc ? 1 : 0) + fields[i].name.len;
            ntrunc++;
        }

        plen += ngx_hoop_audit_netstring_len(fields[i].name.len)
                + ngx_hoop_audit_netstring_len(vlen);
    }

    if (ntrunc) {
        plen += ngx_hoop_audit_netstring_len(sizeof("truncated") - 1)
                + ngx_hoop_audit_netstring_len(tlen);
    }

    hlen = ngx_sprintf(header, "00000000 %uz ", plen) - header;

    item = ngx_alloc(sizeof(ngx_hoop_audit_item_t) + hlen + plen + 1,
                     ship->log);
    if (item == NULL) {
        return NULL;
    }

    item->seg = NULL;
    item->end = 0;
    item->seq = ship->seq++;
    item->len = hlen + plen + 1;
    item->header = hlen;
    item->data = (u_char *) &item[1];

    payload = item->data + hlen;
    p = payload;

    for (i = 0; i < NGX_HOOP_AUDIT_FIXED * 2; i++) {
        p = ngx_hoop_audit_netstring(p, fixed[i].data, fixed[i].len);
    }

    for (i = 0; i < n; i++) {
        if (fields[i].value.len == 0
            || fields[i].name.len == 0
            || ngx_hoop_audit_reserved(&fields[i].name))
        {
            continue;
        }

        vlen = ngx_min(fields[i].value.len, ship->conf->max_field);

        p = ngx_hoop_audit_netstring(p, fields[i].name.data,
                                     fields[i].name.len);
        p = ngx_hoop_audit_netstring(p, fields[i].value.data, vlen);
    }

    if (ntrunc) {
        p = ngx_hoop_audit_netstring(p, (u_char *) "truncated",
                                     sizeof("truncated") - 1);

        p = ngx_sprintf(p, "%uz:", tlen);
        q = p;

        for (i = 0; i < n; i++) {
            if (fields[i].value.len > ship->conf->max_field
                && fields[i].name.len
                && !ngx_hoop_audit_reserved(&fields[i].name))
            {
                if (p != q) {
                    *p++ = ',';
                }

                p = ngx_cpymem(p, fields[i].name.data, fields[i].name.len);
            }
        }

        *p++ = ',';
    }

    *p = LF;

    /* the CRC is written when the record goes to the spool, if ever */
    (void) ngx_cpymem(item->data, header, hlen);

    return item;
}


/* an event from memory goes to the spool: its checksum, now */

void
ngx_hoop_audit_record_seal(ngx_hoop_audit_item_t *item)
{
    size_t    plen;
    uint32_t  crc;

    plen = item->len - item->header - 1;
    crc = ngx_crc32_long(item->data + item->header, plen);

    (void) ngx_sprintf(item->data, "%08xD", crc);
}


/*
 *   NGX_OK        a whole, intact record at p: *rec filled
 *   NGX_AGAIN     the record goes on past last
 *   NGX_DECLINED  framed but damaged (CRC, shape): skip rec->len bytes
 *   NGX_ERROR     no record header here: nothing after it can be framed
 */

ngx_int_t
ngx_hoop_audit_record_parse(u_char *p, u_char *last, ngx_hoop_audit_rec_t *rec)
{
    u_char    *start, c;
    size_t     plen, digits;
    uint32_t   crc;
    ngx_int_t  n;

    start = p;

    if (last - p < 8 + 1 + 1 + 1) {
        return NGX_AGAIN;
    }

    n = ngx_hextoi(p, 8);
    if (n == NGX_ERROR || p[8] != ' ') {
        return NGX_ERROR;
    }

    crc = (uint32_t) n;
    p += 9;

    plen = 0;
    digits = 0;

    for ( ;; ) {
        if (p == last) {
            return digits > 10 ? NGX_ERROR : NGX_AGAIN;
        }

        c = *p++;

        if (c == ' ') {
            break;
        }

        if (c < '0' || c > '9' || ++digits > 10) {
            return NGX_ERROR;
        }

        plen = plen * 10 + (c - '0');
    }

    if (digits == 0 || plen == 0 || plen > NGX_HOOP_AUDIT_MAX_RECORD) {
        return NGX_ERROR;
    }

    rec->len = (p - start) + plen + 1;
    rec->payload = p;
    rec->payload_len = plen;

    if ((size_t) (last - start) < rec->len) {
        return NGX_AGAIN;
    }

    if (p[plen] != LF || ngx_crc32_long(p, plen) != crc) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The payload's netstrings into argv/argvlen (pointing into the payload);
 * returns how many, or NGX_ERROR for a malformed payload or more than max.
 */

ngx_int_t
ngx_hoop_audit_record_fields(u_char *p, size_t len, const char **argv,
    size_t *argvlen, ngx_uint_t max)
{
    u_char      *last;
    size_t       n;
    ngx_uint_t   argc, digits;

    last = p + len;
    argc = 0;

    while (p < last) {
        n = 0;
        digits = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            if (++digits > 10) {
                return NGX_ERROR;
            }

            n = n * 10 + (*p++ - '0');
        }

        if (digits == 0 || p == last || *p++ != ':'
            || (size_t) (last - p) < n + 1 || p[n] != ','
            || argc == max)
        {
            return NGX_ERROR;
        }

        argv[argc] = (const char *) p;
        argvlen[argc] = n;
        argc++;

        p += n + 1;
    }

    if (argc < 2 || argc % 2) {
        return NGX_ERROR;
    }

    return argc;
}


static size_t
ngx_hoop_audit_netstring_len(size_t len)
{
    size_t  digits, n;

    for (digits = 1, n = len; n >= 10; n /= 10) {
        digits++;
    }

    return digits + 1 + len + 1;
}


static u_char *
ngx_hoop_audit_netstring(u_char *p, u_char *s, size_t len)
{
    p = ngx_sprintf(p, "%uz:", len);
    p = ngx_cpymem(p, s, len);
    *p++ = ',';

    return p;
}


/* fields the module sets itself */

static ngx_uint_t
ngx_hoop_audit_reserved(ngx_str_t *name)
{
    static const ngx_str_t  reserved[] = {
        ngx_string("type"),
        ngx_string("time"),
        ngx_string("eid"),
        ngx_string("gateway"),
        ngx_string("truncated"),
        ngx_null_string
    };

    ngx_uint_t  i;

    for (i = 0; reserved[i].len; i++) {
        if (name->len == reserved[i].len
            && ngx_strncmp(name->data, reserved[i].data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
