
/*
 * ngx_hoop_mask_module: strategies, and rewriting text with the findings
 * of the detectors.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "ngx_hoop_mask.h"


#define NGX_HOOP_MASK_STACK_FINDINGS  16

/* the shortest built-in finding: an email "a@b.co" */
#define NGX_HOOP_MASK_MIN_FINDING     6


static u_char  ngx_hoop_mask_stars[] = "****";


static ngx_int_t ngx_hoop_mask_partial(ngx_hoop_mask_rule_t *rule,
    ngx_uint_t detector, u_char *p, size_t len, ngx_pool_t *pool,
    ngx_str_t *out);
static ngx_int_t ngx_hoop_mask_hash(ngx_hoop_mask_rule_t *rule, u_char *p,
    size_t len, ngx_pool_t *pool, ngx_str_t *out);
static ngx_int_t ngx_hoop_mask_regexes(ngx_hoop_mask_rule_t *rule,
    ngx_str_t *in, ngx_log_t *log, ngx_array_t *findings);
static int ngx_libc_cdecl ngx_hoop_mask_cmp(const void *one,
    const void *two);


ngx_int_t
ngx_hoop_mask_value(ngx_hoop_mask_rule_t *rule, ngx_str_t *in,
    ngx_pool_t *pool, ngx_str_t *out)
{
    if (rule->strategy == NGX_HOOP_MASK_NULL) {
        return NGX_DONE;
    }

    return ngx_hoop_mask_apply(rule, NGX_HOOP_MASK_KEY, in->data, in->len,
                               pool, out);
}


ngx_int_t
ngx_hoop_mask_apply(ngx_hoop_mask_rule_t *rule, ngx_uint_t detector,
    u_char *p, size_t len, ngx_pool_t *pool, ngx_str_t *out)
{
    switch (rule->strategy) {

    case NGX_HOOP_MASK_PARTIAL:
        return ngx_hoop_mask_partial(rule, detector, p, len, pool, out);

    case NGX_HOOP_MASK_HASH:
        return ngx_hoop_mask_hash(rule, p, len, pool, out);

    default: /* redact; null where a value cannot be null */
        out->data = ngx_hoop_mask_stars;
        out->len = sizeof(ngx_hoop_mask_stars) - 1;
        return NGX_OK;
    }
}


/*
 * Keep the last rule->keep characters (letters, digits and UTF-8
 * characters; punctuation and spaces stay as they are) when at least as
 * many are hidden; an email keeps its first character and its domain.
 */

static ngx_int_t
ngx_hoop_mask_partial(ngx_hoop_mask_rule_t *rule, ngx_uint_t detector,
    u_char *p, size_t len, ngx_pool_t *pool, ngx_str_t *out)
{
    u_char      *d, *at, *last, c;
    size_t       n;
    ngx_uint_t   chars, hide, k;

    last = p + len;

    at = (detector == NGX_HOOP_MASK_EMAIL || detector == NGX_HOOP_MASK_KEY)
         ? ngx_strlchr(p, last, '@') : NULL;

    if (at && at > p && last - at > 1) {
        out->data = ngx_pnalloc(pool, 4 + (last - at));
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        /* one character is kept only when three or more are hidden */
        d = out->data;

        if (at - p > 3 && p[0] < 0x80) {
            *d++ = p[0];
        }

        d = ngx_cpymem(d, "***", 3);
        d = ngx_cpymem(d, at, last - at);

        out->len = d - out->data;
        return NGX_OK;
    }

    /* count maskable characters */
    chars = 0;

    for (n = 0; n < len; n++) {
        c = p[n];

        if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            || c >= 0xc0)
        {
            chars++;
        }
    }

    hide = (chars >= 2 * rule->keep) ? chars - rule->keep : chars;

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    d = out->data;
    k = 0;

    for (n = 0; n < len; n++) {
        c = p[n];

        if (c >= 0x80 && c < 0xc0) {
            /* a continuation byte: its lead byte decided */
            if (k > hide) {
                *d++ = c;
            }

            continue;
        }

        if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            || c >= 0xc0)
        {
            if (k++ < hide) {
                *d++ = '*';

            } else {
                *d++ = c;
            }

            continue;
        }

        *d++ = c;
    }

    out->len = d - out->data;

    return NGX_OK;
}


/* HMAC-SHA256 with the vaulted key, hex, truncated: deterministic */

static ngx_int_t
ngx_hoop_mask_hash(ngx_hoop_mask_rule_t *rule, u_char *p, size_t len,
    ngx_pool_t *pool, ngx_str_t *out)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen;

    if (HMAC(EVP_sha256(), rule->secret.data, (int) rule->secret.len,
             p, len, md, &mdlen)
        == NULL)
    {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, NGX_HOOP_MASK_HASH_LEN);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_hex_dump(out->data, md, NGX_HOOP_MASK_HASH_LEN / 2);
    out->len = NGX_HOOP_MASK_HASH_LEN;

    ngx_explicit_memzero(md, sizeof(md));

    return NGX_OK;
}


ngx_uint_t
ngx_hoop_mask_rules_detect(ngx_array_t *rules)
{
    ngx_uint_t             i;
    ngx_hoop_mask_rule_t  *rule;

    if (rules == NULL) {
        return 0;
    }

    rule = rules->elts;

    for (i = 0; i < rules->nelts; i++) {
        if (rule[i].detectors || rule[i].regexes) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_hoop_mask_text(ngx_array_t *rules, ngx_str_t *in, ngx_pool_t *pool,
    ngx_str_t *out, ngx_uint_t *count)
{
    ngx_int_t              rc;
    ngx_hoop_mask_stats_t  stats;

    ngx_memzero(&stats, sizeof(ngx_hoop_mask_stats_t));

    rc = ngx_hoop_mask_text_stats(rules, NULL, in, pool, pool->log, out,
                                  &stats);

    if (count) {
        *count = stats.total;
    }

    return rc;
}


ngx_int_t
ngx_hoop_mask_text_stats(ngx_array_t *rules, u_char *skip, ngx_str_t *in,
    ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *out,
    ngx_hoop_mask_stats_t *stats)
{
    u_char                   *d;
    size_t                    len, pos;
    ngx_int_t                 rc;
    ngx_str_t                *rep;
    ngx_uint_t                i, k, detectors, sorted, null, bits;
    ngx_array_t               findings;
    ngx_hoop_mask_rule_t     *rule, *by_detector[NGX_HOOP_MASK_NDETECTORS];
    ngx_hoop_mask_finding_t  *f, stack[NGX_HOOP_MASK_STACK_FINDINGS];

    *out = *in;

    if (rules == NULL || in->len == 0) {
        return NGX_OK;
    }

    rule = rules->elts;

    if (in->len < NGX_HOOP_MASK_MIN_FINDING) {
        /* shorter than any built-in finding ("a@b.co"): only a custom
         * regex could match (JSON keys, short words, small numbers) */
        for (i = 0; i < rules->nelts; i++) {
            if (rule[i].regexes && !(skip && skip[i])) {
                break;
            }
        }

        if (i == rules->nelts) {
            return NGX_OK;
        }
    }

    /* the first rule naming a detector decides what its findings become */
    ngx_memzero(by_detector, sizeof(by_detector));
    detectors = 0;

    rule = rules->elts;

    for (i = 0; i < rules->nelts; i++) {
        if (skip && skip[i]) {
            continue;
        }

        /* the detectors no earlier rule named */
        bits = rule[i].detectors & ~detectors;
        detectors |= bits;

        while (bits) {
            k = __builtin_ctzl(bits);
            by_detector[k] = &rule[i];
            bits &= bits - 1;
        }
    }

    /* findings live on the stack until there are many: no pool use on
     * the common path of a value with nothing in it */
    findings.elts = stack;
    findings.nelts = 0;
    findings.size = sizeof(ngx_hoop_mask_finding_t);
    findings.nalloc = NGX_HOOP_MASK_STACK_FINDINGS;
    findings.pool = pool;

    if (detectors) {
        if (ngx_hoop_mask_scan(in->data, in->len, detectors, &findings)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        f = findings.elts;

        for (i = 0; i < findings.nelts; i++) {
            f[i].rule = by_detector[f[i].detector];
        }
    }

    sorted = 1;

    for (i = 0; i < rules->nelts; i++) {
        if (rule[i].regexes == NULL || (skip && skip[i])) {
            continue;
        }

        if (ngx_hoop_mask_regexes(&rule[i], in, log, &findings) != NGX_OK) {
            return NGX_ERROR;
        }

        sorted = 0;
    }

    if (findings.nelts == 0) {
        return NGX_OK;
    }

    f = findings.elts;

    if (!sorted) {
        ngx_qsort(f, findings.nelts, sizeof(ngx_hoop_mask_finding_t),
                  ngx_hoop_mask_cmp);

        /* overlapping findings become one: the union is masked */
        k = 0;

        for (i = 1; i < findings.nelts; i++) {
            if (f[i].start < f[k].end) {
                if (f[i].end > f[k].end) {
                    f[k].end = f[i].end;
                }

                continue;
            }

            f[++k] = f[i];
        }

        findings.nelts = k + 1;
    }

    rep = ngx_palloc(pool, findings.nelts * sizeof(ngx_str_t));
    if (rep == NULL) {
        return NGX_ERROR;
    }

    null = 0;
    len = in->len;

    for (i = 0; i < findings.nelts; i++) {
        if (f[i].rule->strategy == NGX_HOOP_MASK_NULL) {
            null = 1;
        }

        rc = ngx_hoop_mask_apply(f[i].rule, f[i].detector,
                                 in->data + f[i].start,
                                 f[i].end - f[i].start, pool, &rep[i]);
        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        len = len - (f[i].end - f[i].start) + rep[i].len;

        stats->total++;
        stats->by_detector[f[i].detector]++;

        if (stats->by_rule) {
            stats->by_rule[f[i].rule->index]++;
        }
    }

    d = ngx_pnalloc(pool, len);
    if (d == NULL) {
        return NGX_ERROR;
    }

    out->data = d;
    pos = 0;

    for (i = 0; i < findings.nelts; i++) {
        d = ngx_cpymem(d, in->data + pos, f[i].start - pos);
        d = ngx_cpymem(d, rep[i].data, rep[i].len);
        pos = f[i].end;
    }

    d = ngx_cpymem(d, in->data + pos, in->len - pos);
    out->len = d - out->data;

    return null ? NGX_DONE : NGX_OK;
}


static ngx_int_t
ngx_hoop_mask_regexes(ngx_hoop_mask_rule_t *rule, ngx_str_t *in,
    ngx_log_t *log, ngx_array_t *findings)
{
#if (NGX_PCRE)
    int                       captures[3];
    size_t                    off;
    ngx_int_t                 rc;
    ngx_str_t                 s;
    ngx_uint_t                i;
    ngx_regex_t             **re;
    ngx_hoop_mask_finding_t  *f;

    re = rule->regexes->elts;

    for (i = 0; i < rule->regexes->nelts; i++) {
        off = 0;

        while (off < in->len) {
            s.data = in->data + off;
            s.len = in->len - off;

            rc = ngx_regex_exec(re[i], &s, captures, 3);

            if (rc == NGX_REGEX_NO_MATCHED) {
                break;
            }

            if (rc < 0) {
                ngx_log_error(NGX_LOG_ERR, log, 0,
                              ngx_regex_exec_n " failed: %i in masking "
                              "rule \"%V\"", rc, &rule->name);
                return NGX_ERROR;
            }

            if (captures[1] <= captures[0]) {
                /* an empty match finds nothing: step over one byte */
                off += captures[0] + 1;
                continue;
            }

            f = ngx_array_push(findings);
            if (f == NULL) {
                return NGX_ERROR;
            }

            f->start = off + captures[0];
            f->end = off + captures[1];
            f->detector = NGX_HOOP_MASK_REGEX;
            f->rule = rule;

            off = f->end;
        }
    }

    return NGX_OK;

#else
    return NGX_OK;
#endif
}


static int ngx_libc_cdecl
ngx_hoop_mask_cmp(const void *one, const void *two)
{
    const ngx_hoop_mask_finding_t  *a = one, *b = two;

    if (a->start != b->start) {
        return a->start < b->start ? -1 : 1;
    }

    return a->end > b->end ? -1 : (a->end < b->end);
}
