
/*
 * The few nginx core functions the fuzzed module files call, for harnesses
 * linked without nginx (nginx-dev ships headers only).  Written for the
 * fuzzers: every pool allocation is its own malloc() so AddressSanitizer
 * sees each object's bounds (a real nginx pool would hide an overflow
 * inside its block), logging is dropped (set HOOP_FUZZ_LOG=1 to print).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdarg.h>


static ngx_log_t      ngx_shim_log;
static ngx_cycle_t    ngx_shim_cycle;
static ngx_time_t     ngx_shim_time;

volatile ngx_cycle_t  *ngx_cycle = &ngx_shim_cycle;
volatile ngx_time_t   *ngx_cached_time = &ngx_shim_time;
ngx_uint_t             ngx_pagesize = 4096;
ngx_uint_t             ngx_pagesize_shift = 12;
ngx_uint_t             ngx_cacheline_size = 64;


ngx_log_t *
ngx_shim_init(void)
{
    ngx_shim_log.log_level = getenv("HOOP_FUZZ_LOG")
                             ? NGX_LOG_DEBUG_ALL | NGX_LOG_DEBUG : 0;
    ngx_shim_cycle.log = &ngx_shim_log;
    ngx_shim_time.sec = time(NULL);
    return &ngx_shim_log;
}


void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    u_char   buf[2048], *p;
    va_list  args;

    if (log == NULL || log->log_level == 0) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);
    *p = '\0';
    fprintf(stderr, "[%d] %s\n", (int) level, buf);
}


void
ngx_conf_log_error(ngx_uint_t level, ngx_conf_t *cf, ngx_err_t err,
    const char *fmt, ...)
{
}


/* pools: a list of separately allocated objects */

void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size ? size : 1);
}


void *
ngx_calloc(size_t size, ngx_log_t *log)
{
    return calloc(1, size ? size : 1);
}


ngx_pool_t *
ngx_create_pool(size_t size, ngx_log_t *log)
{
    ngx_pool_t  *p;

    p = calloc(1, sizeof(ngx_pool_t));
    if (p) {
        p->log = log ? log : &ngx_shim_log;
        p->max = NGX_MAX_ALLOC_FROM_POOL;
    }
    return p;
}


void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    void              *m;
    ngx_pool_large_t  *l;

    m = malloc(size ? size : 1);
    l = malloc(sizeof(ngx_pool_large_t));
    if (m == NULL || l == NULL) {
        free(m);
        free(l);
        return NULL;
    }

    l->alloc = m;
    l->next = pool->large;
    pool->large = l;
    return m;
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


void *
ngx_pcalloc(ngx_pool_t *pool, size_t size)
{
    void  *m;

    m = ngx_palloc(pool, size);
    if (m) {
        ngx_memzero(m, size);
    }
    return m;
}


ngx_int_t
ngx_pfree(ngx_pool_t *pool, void *p)
{
    return NGX_DECLINED;
}


ngx_pool_cleanup_t *
ngx_pool_cleanup_add(ngx_pool_t *p, size_t size)
{
    ngx_pool_cleanup_t  *c;

    c = ngx_palloc(p, sizeof(ngx_pool_cleanup_t));
    if (c == NULL) {
        return NULL;
    }

    c->data = size ? ngx_palloc(p, size) : NULL;
    if (size && c->data == NULL) {
        return NULL;
    }

    c->handler = NULL;
    c->next = p->cleanup;
    p->cleanup = c;
    return c;
}


static void
ngx_shim_free_pool(ngx_pool_t *pool)
{
    ngx_pool_large_t    *l, *next;
    ngx_pool_cleanup_t  *c;

    for (c = pool->cleanup; c; c = c->next) {
        if (c->handler) {
            c->handler(c->data);
        }
    }
    pool->cleanup = NULL;

    for (l = pool->large; l; l = next) {
        next = l->next;
        free(l->alloc);
        free(l);
    }
    pool->large = NULL;
}


void
ngx_reset_pool(ngx_pool_t *pool)
{
    ngx_shim_free_pool(pool);
}


void
ngx_destroy_pool(ngx_pool_t *pool)
{
    ngx_shim_free_pool(pool);
    free(pool);
}


ngx_buf_t *
ngx_create_temp_buf(ngx_pool_t *pool, size_t size)
{
    ngx_buf_t  *b;

    b = ngx_calloc_buf(pool);
    if (b == NULL) {
        return NULL;
    }

    b->start = ngx_palloc(pool, size);
    if (b->start == NULL) {
        return NULL;
    }

    b->pos = b->start;
    b->last = b->start;
    b->end = b->start + size;
    b->temporary = 1;
    return b;
}


ngx_array_t *
ngx_array_create(ngx_pool_t *p, ngx_uint_t n, size_t size)
{
    ngx_array_t  *a;

    a = ngx_palloc(p, sizeof(ngx_array_t));
    if (a == NULL || ngx_array_init(a, p, n, size) != NGX_OK) {
        return NULL;
    }
    return a;
}


void *
ngx_array_push(ngx_array_t *a)
{
    void  *new;

    if (a->nelts == a->nalloc) {
        new = ngx_palloc(a->pool, 2 * (a->nalloc ? a->nalloc : 1) * a->size);
        if (new == NULL) {
            return NULL;
        }
        ngx_memcpy(new, a->elts, a->nelts * a->size);
        a->elts = new;
        a->nalloc = 2 * (a->nalloc ? a->nalloc : 1);
    }

    return (u_char *) a->elts + a->size * a->nelts++;
}


/* strings */

ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value, cutoff, cutlim;

    if (n == 0) {
        return NGX_ERROR;
    }

    cutoff = NGX_MAX_INT_T_VALUE / 10;
    cutlim = NGX_MAX_INT_T_VALUE % 10;

    for (value = 0; n--; line++) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }
        if (value >= cutoff && (value > cutoff || *line - '0' > cutlim)) {
            return NGX_ERROR;
        }
        value = value * 10 + (*line - '0');
    }

    return value;
}


/*
 * Durations in configuration ("30s", "1m30s", "500ms"): a plain number with
 * one unit after it, or several; as ms, or seconds when is_sec.
 */

ngx_int_t
ngx_parse_time(ngx_str_t *line, ngx_uint_t is_sec)
{
    u_char      *p, *last;
    ngx_int_t    value, total, scale;
    ngx_uint_t   digits;

    p = line->data;
    last = p + line->len;
    total = 0;

    if (p == last) {
        return NGX_ERROR;
    }

    while (p < last) {
        value = 0;
        digits = 0;

        while (p < last && *p >= '0' && *p <= '9') {
            if (value > NGX_MAX_INT_T_VALUE / 10 - 10) {
                return NGX_ERROR;
            }

            value = value * 10 + (*p++ - '0');
            digits++;
        }

        if (digits == 0) {
            return NGX_ERROR;
        }

        if (p == last) {
            scale = is_sec ? 1 : 1000;      /* no unit: seconds */

        } else if (last - p >= 2 && p[0] == 'm' && p[1] == 's') {
            if (is_sec) {
                return NGX_ERROR;
            }

            scale = 1;
            p += 2;

        } else {
            switch (*p++) {
            case 's': scale = 1; break;
            case 'm': scale = 60; break;
            case 'h': scale = 3600; break;
            case 'd': scale = 86400; break;
            case 'w': scale = 604800; break;
            case 'M': scale = 2592000; break;
            case 'y': scale = 31536000; break;
            default: return NGX_ERROR;
            }

            if (!is_sec) {
                scale *= 1000;
            }
        }

        if (value > (NGX_MAX_INT_T_VALUE - total) / scale) {
            return NGX_ERROR;
        }

        total += value * scale;
    }

    return total;
}


u_char *
ngx_hex_dump(u_char *dst, u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }
    return dst;
}


ngx_int_t
ngx_strcasecmp(u_char *s1, u_char *s2)
{
    return strcasecmp((char *) s1, (char *) s2);
}


ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    return strncasecmp((char *) s1, (char *) s2, n);
}


u_char *
ngx_cpystrn(u_char *dst, u_char *src, size_t n)
{
    if (n == 0) {
        return dst;
    }
    while (--n) {
        *dst = *src;
        if (*dst == '\0') {
            return dst;
        }
        dst++;
        src++;
    }
    *dst = '\0';
    return dst;
}


void
ngx_explicit_memzero(void *buf, size_t n)
{
    ngx_memzero(buf, n);
    __asm__ __volatile__("" : : "r"(buf) : "memory");
}


static void
ngx_shim_encode64(ngx_str_t *dst, ngx_str_t *src, const char *table,
    ngx_uint_t padding)
{
    u_char  *d, *s;
    size_t   len;

    len = src->len;
    s = src->data;
    d = dst->data;

    while (len > 2) {
        *d++ = table[(s[0] >> 2) & 0x3f];
        *d++ = table[((s[0] & 3) << 4) | (s[1] >> 4)];
        *d++ = table[((s[1] & 0x0f) << 2) | (s[2] >> 6)];
        *d++ = table[s[2] & 0x3f];
        s += 3;
        len -= 3;
    }

    if (len) {
        *d++ = table[(s[0] >> 2) & 0x3f];
        if (len == 1) {
            *d++ = table[(s[0] & 3) << 4];
            if (padding) {
                *d++ = '=';
            }
        } else {
            *d++ = table[((s[0] & 3) << 4) | (s[1] >> 4)];
            *d++ = table[(s[1] & 0x0f) << 2];
        }
        if (padding) {
            *d++ = '=';
        }
    }

    dst->len = d - dst->data;
}


void
ngx_encode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    ngx_shim_encode64(dst, src, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "abcdefghijklmnopqrstuvwxyz0123456789+/", 1);
}


static ngx_int_t
ngx_shim_decode64(ngx_str_t *dst, ngx_str_t *src, ngx_uint_t url)
{
    int      v, bits;
    unsigned acc;
    size_t   len;
    u_char   c, *d;

    /* like nginx: the significant part, then up to two '=' */
    for (len = 0; len < src->len; len++) {
        c = src->data[len];
        if (c == '=') {
            break;
        }
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
              || (c >= '0' && c <= '9')
              || (!url && (c == '+' || c == '/'))
              || (url && (c == '-' || c == '_'))))
        {
            return NGX_ERROR;
        }
    }

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    d = dst->data;
    acc = 0;
    bits = 0;

    for (size_t i = 0; i < len; i++) {
        c = src->data[i];
        if (c >= 'A' && c <= 'Z') {
            v = c - 'A';
        } else if (c >= 'a' && c <= 'z') {
            v = c - 'a' + 26;
        } else if (c >= '0' && c <= '9') {
            v = c - '0' + 52;
        } else if (c == '+' || c == '-') {
            v = 62;
        } else {
            v = 63;
        }
        acc = ((acc << 6) | v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *d++ = (u_char) (acc >> bits);
        }
    }

    dst->len = d - dst->data;
    return NGX_OK;
}


ngx_int_t
ngx_decode_base64(ngx_str_t *dst, ngx_str_t *src)
{
    return ngx_shim_decode64(dst, src, 0);
}


ngx_int_t
ngx_decode_base64url(ngx_str_t *dst, ngx_str_t *src)
{
    return ngx_shim_decode64(dst, src, 1);
}


uint32_t
ngx_murmur_hash2(u_char *data, size_t len)
{
    uint32_t  h, k;

    h = 0 ^ (uint32_t) len;

    while (len >= 4) {
        k = data[0] | data[1] << 8 | data[2] << 16 | (uint32_t) data[3] << 24;
        k *= 0x5bd1e995;
        k ^= k >> 24;
        k *= 0x5bd1e995;
        h *= 0x5bd1e995;
        h ^= k;
        data += 4;
        len -= 4;
    }

    switch (len) {
    case 3:
        h ^= data[2] << 16;
        /* fall through */
    case 2:
        h ^= data[1] << 8;
        /* fall through */
    case 1:
        h ^= data[0];
        h *= 0x5bd1e995;
    }

    h ^= h >> 13;
    h *= 0x5bd1e995;
    h ^= h >> 15;
    return h;
}


/*
 * The ngx_sprintf() formats module code uses: %V %s %*s %c %d %i %ui %uz
 * %z %O %D %uD %l %ul %L %uL %p, with '0' padding, a width and 'x'/'X'.
 */

u_char *
ngx_vslprintf(u_char *buf, u_char *last, const char *fmt, va_list args)
{
    u_char      *p, zero, tmp[32], *t;
    size_t       len, width, slen;
    int64_t      i64;
    uint64_t     u64;
    ngx_str_t   *v;
    ngx_uint_t   hex, sign;

    while (*fmt && buf < last) {

        if (*fmt != '%') {
            *buf++ = *fmt++;
            continue;
        }

        fmt++;
        zero = (u_char) ((*fmt == '0') ? '0' : ' ');
        width = 0;
        hex = 0;
        sign = 1;
        slen = (size_t) -1;

        while (*fmt >= '0' && *fmt <= '9') {
            width = width * 10 + (*fmt++ - '0');
        }

        for ( ;; ) {
            switch (*fmt) {
            case 'u': sign = 0; fmt++; continue;
            case 'x': hex = 1; sign = 0; fmt++; continue;
            case 'X': hex = 2; sign = 0; fmt++; continue;
            case '*': slen = va_arg(args, size_t); fmt++; continue;
            case '.': fmt++; while (*fmt >= '0' && *fmt <= '9') { fmt++; }
                      continue;
            }
            break;
        }

        switch (*fmt) {

        case 'V':
            v = va_arg(args, ngx_str_t *);
            len = ngx_min((size_t) (last - buf), v->len);
            if (len) {
                buf = ngx_cpymem(buf, v->data, len);
            }
            fmt++;
            continue;

        case 's':
            p = va_arg(args, u_char *);
            if (slen == (size_t) -1) {
                while (*p && buf < last) { *buf++ = *p++; }
            } else {
                len = ngx_min((size_t) (last - buf), slen);
                if (len) {
                    buf = ngx_cpymem(buf, p, len);
                }
            }
            fmt++;
            continue;

        case 'c':
            *buf++ = (u_char) va_arg(args, int);
            fmt++;
            continue;

        case 'Z':
            *buf++ = '\0';
            fmt++;
            continue;

        case 'N':
            *buf++ = '\n';
            fmt++;
            continue;

        case '%':
            *buf++ = '%';
            fmt++;
            continue;

        case 'p':
            u64 = (uintptr_t) va_arg(args, void *);
            hex = 2; sign = 0;
            break;

        case 'O': i64 = va_arg(args, off_t); sign = 1; goto number;
        case 'T': i64 = va_arg(args, time_t); sign = 1; goto number;
        case 'M': i64 = va_arg(args, ngx_msec_t); sign = 0; goto number;
        case 'z':
            i64 = sign ? (int64_t) va_arg(args, ssize_t)
                       : (int64_t) va_arg(args, size_t);
            goto number;
        case 'i':
            i64 = sign ? (int64_t) va_arg(args, ngx_int_t)
                       : (int64_t) va_arg(args, ngx_uint_t);
            goto number;
        case 'd':
            i64 = sign ? (int64_t) va_arg(args, int)
                       : (int64_t) va_arg(args, u_int);
            goto number;
        case 'l':
            i64 = sign ? (int64_t) va_arg(args, long)
                       : (int64_t) va_arg(args, u_long);
            goto number;
        case 'D':
            i64 = sign ? (int64_t) va_arg(args, int32_t)
                       : (int64_t) va_arg(args, uint32_t);
            goto number;
        case 'L':
            i64 = va_arg(args, int64_t);
            goto number;
        case 'A':
            i64 = (int64_t) va_arg(args, ngx_atomic_int_t);
            goto number;
        case 'f':
            i64 = (int64_t) va_arg(args, double);
            goto number;

        default:
            *buf++ = *fmt++;
            continue;
        }

        /* %p */
        goto print;

    number:

        if (sign && i64 < 0) {
            *buf++ = '-';
            u64 = (uint64_t) -i64;
        } else {
            u64 = (uint64_t) i64;
        }

    print:

        t = tmp + sizeof(tmp);
        do {
            if (hex) {
                *--t = (u_char) ((hex == 1 ? "0123456789abcdef"
                                           : "0123456789ABCDEF")[u64 & 0xf]);
                u64 >>= 4;
            } else {
                *--t = (u_char) (u64 % 10 + '0');
                u64 /= 10;
            }
        } while (u64);

        len = (tmp + sizeof(tmp)) - t;
        while (len < width-- && buf < last) {
            *buf++ = zero;
        }
        len = ngx_min((size_t) (last - buf), len);
        buf = ngx_cpymem(buf, t, len);
        fmt++;
    }

    return buf;
}


u_char * ngx_cdecl
ngx_sprintf(u_char *buf, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, (void *) -1, fmt, args);
    va_end(args);
    return p;
}


u_char * ngx_cdecl
ngx_snprintf(u_char *buf, size_t max, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + max, fmt, args);
    va_end(args);
    return p;
}


u_char * ngx_cdecl
ngx_slprintf(u_char *buf, u_char *last, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, last, fmt, args);
    va_end(args);
    return p;
}


#if (NGX_PCRE)

/* custom regex= rules are not fuzzed (PCRE2 is not ours): never a match */

ngx_int_t
ngx_regex_exec(ngx_regex_t *re, ngx_str_t *s, int *captures, ngx_uint_t size)
{
    return NGX_REGEX_NO_MATCHED;
}

#endif
