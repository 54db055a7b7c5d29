
/*
 * ngx_hoop_mask_module: the API other ngx_hoop modules call.
 *
 * The masking engine is plain C on nginx core types: rules parsed from
 * directive arguments, detectors that find sensitive values in text, and
 * strategies that rewrite a value.  The HTTP JSON filter and the Postgres
 * gateway both call it.  Modules of another .so reach these functions
 * through weak references ("#pragma weak ngx_hoop_mask_value" ...).
 */


#ifndef _NGX_HOOP_MASK_H_INCLUDED_
#define _NGX_HOOP_MASK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_hoop.h>


/* detectors: the index in ngx_hoop_mask_stats_t.by_detector */
#define NGX_HOOP_MASK_EMAIL        0
#define NGX_HOOP_MASK_CARD         1
#define NGX_HOOP_MASK_SSN          2
#define NGX_HOOP_MASK_PHONE        3
#define NGX_HOOP_MASK_IBAN         4
#define NGX_HOOP_MASK_AWS_KEY      5
#define NGX_HOOP_MASK_JWT          6
#define NGX_HOOP_MASK_PRIVATE_KEY  7
#define NGX_HOOP_MASK_REGEX        8
#define NGX_HOOP_MASK_KEY          9    /* a whole value, by column/key */
#define NGX_HOOP_MASK_NDETECTORS   10

/* strategies */
#define NGX_HOOP_MASK_REDACT       0
#define NGX_HOOP_MASK_PARTIAL      1
#define NGX_HOOP_MASK_HASH         2
#define NGX_HOOP_MASK_NULL         3

/* hex digits of HMAC-SHA256 a hashed value keeps */
#define NGX_HOOP_MASK_HASH_LEN     16

#define NGX_HOOP_MASK_MAX_PATH     16   /* segments of a key path */


typedef struct {
    ngx_uint_t          nsegs;
    ngx_str_t           segs[NGX_HOOP_MASK_MAX_PATH];
} ngx_hoop_mask_path_t;


typedef struct {
    ngx_uint_t          index;          /* position in its rules array */
    ngx_str_t           name;           /* "name=", or "rule<index>" */

    ngx_array_t        *keys;           /* ngx_hoop_mask_path_t: key=/column= */
    ngx_uint_t          detectors;      /* bitmask: 1 << NGX_HOOP_MASK_* */
    ngx_array_t        *regexes;        /* ngx_regex_t *: regex= */

    ngx_uint_t          strategy;       /* with= */
    ngx_uint_t          keep;           /* partial: characters kept */
    ngx_str_t           secret;         /* hash: the HMAC key (vaulted) */

    ngx_str_t           unless;         /* variable name without '$', or
                                           empty; evaluated by the caller:
                                           a non-empty, non-"0" value
                                           turns the rule off */
} ngx_hoop_mask_rule_t;


/* what one request, statement or value had masked */
typedef struct {
    ngx_uint_t          total;
    ngx_uint_t          by_detector[NGX_HOOP_MASK_NDETECTORS];
    ngx_uint_t         *by_rule;        /* rules->nelts counters, or NULL */
} ngx_hoop_mask_stats_t;


/*
 * Configuration time: parse one directive's arguments (args[0..nargs-1],
 * the directive name excluded) into a new rule appended to *rules (the
 * array is created in cf->pool when *rules is NULL).  Arguments:
 *
 *   key=A,B.C | column=A,B.C    whole values to mask, by column / JSON key
 *                               path (a path matches at any depth)
 *   detect=D1,D2                detectors: email credit_card ssn phone iban
 *                               aws_key jwt private_key secrets all
 *   regex=PCRE                  a custom detector (repeatable)
 *   with=redact|partial|hash|null   the strategy (default redact)
 *   keep=N                      partial: last N characters shown (4)
 *   secret=vault:NAME           hash: the HMAC-SHA256 key (required)
 *   name=LABEL                  the rule's name in logs and counts
 *   unless=$var                 the caller's variable that turns it off
 *
 * Returns NGX_CONF_OK or an error string (nginx reports it).
 */
char *ngx_hoop_mask_rule_parse(ngx_conf_t *cf, ngx_str_t *args,
    ngx_uint_t nargs, ngx_array_t **rules);

/* the bit of a detector name, 0 if unknown */
ngx_uint_t ngx_hoop_mask_detector_bits(ngx_str_t *name);

/* "email", "credit_card", ... for NGX_HOOP_MASK_* */
ngx_str_t *ngx_hoop_mask_detector_name(ngx_uint_t detector);


/*
 * Mask a whole value for a column/key rule.
 *
 *   NGX_OK     *out holds the masked value (pool memory)
 *   NGX_DONE   the strategy is null: the caller emits NULL / null
 *   NGX_ERROR  no memory
 */
ngx_int_t ngx_hoop_mask_value(ngx_hoop_mask_rule_t *rule, ngx_str_t *in,
    ngx_pool_t *pool, ngx_str_t *out);


/*
 * Scan free text with the detectors of every rule (the first rule naming
 * a detector decides its strategy) and rewrite every finding.  Rules for
 * which skip[i] is set (skip may be NULL) are ignored.
 *
 *   NGX_OK     *out is the rewritten text, or *out == *in (same pointer)
 *              when nothing was found; *count findings
 *   NGX_DONE   a finding's rule says null: the caller should emit NULL for
 *              the whole value; *out still holds a rewrite (those findings
 *              as "****") for callers that cannot emit NULL
 *   NGX_ERROR  no memory, or a regex failed to run
 */
ngx_int_t ngx_hoop_mask_text(ngx_array_t *rules, ngx_str_t *in,
    ngx_pool_t *pool, ngx_str_t *out, ngx_uint_t *count);

/* the same, adding what was found to *stats (and with per-rule skips) */
ngx_int_t ngx_hoop_mask_text_stats(ngx_array_t *rules, u_char *skip,
    ngx_str_t *in, ngx_pool_t *pool, ngx_log_t *log, ngx_str_t *out,
    ngx_hoop_mask_stats_t *stats);

/* does any rule of the array run detectors (detect= or regex=)? */
ngx_uint_t ngx_hoop_mask_rules_detect(ngx_array_t *rules);


/* internal: one finding of the detectors */
typedef struct {
    size_t              start;
    size_t              end;
    ngx_uint_t          detector;
    ngx_hoop_mask_rule_t  *rule;
} ngx_hoop_mask_finding_t;

/* internal: built-in detectors over text, in order, non-overlapping */
ngx_int_t ngx_hoop_mask_scan(u_char *p, size_t len, ngx_uint_t detectors,
    ngx_array_t *findings);

/* internal: apply a strategy to one finding (detector known) */
ngx_int_t ngx_hoop_mask_apply(ngx_hoop_mask_rule_t *rule,
    ngx_uint_t detector, u_char *p, size_t len, ngx_pool_t *pool,
    ngx_str_t *out);


typedef struct {
    ngx_flag_t  loaded;
} ngx_hoop_mask_main_conf_t;


extern ngx_module_t  ngx_hoop_mask_module;


#endif /* _NGX_HOOP_MASK_H_INCLUDED_ */
