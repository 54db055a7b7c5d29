
/*
 * ngx_hoop_mask_module: masking rules from directive arguments.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_hoop_auth.h>
#include "ngx_hoop_mask.h"


/* the vault lives in ngx_hoop_auth_module.so, loaded before us */
#pragma weak ngx_hoop_vault_resolve


typedef struct {
    ngx_str_t   name;
    ngx_uint_t  bits;
} ngx_hoop_mask_detector_name_t;


#define NGX_HOOP_MASK_BIT(d)  ((ngx_uint_t) 1 << (d))

#define NGX_HOOP_MASK_SECRETS                                                 \
    (NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_AWS_KEY)                                 \
     | NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_JWT)                                   \
     | NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_PRIVATE_KEY))

#define NGX_HOOP_MASK_ALL                                                     \
    (NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_EMAIL)                                   \
     | NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_CARD)                                  \
     | NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_SSN)                                   \
     | NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_PHONE)                                 \
     | NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_IBAN)                                  \
     | NGX_HOOP_MASK_SECRETS)


static const ngx_hoop_mask_detector_name_t  ngx_hoop_mask_detector_names[] = {
    { ngx_string("email"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_EMAIL) },
    { ngx_string("credit_card"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_CARD) },
    { ngx_string("card"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_CARD) },
    { ngx_string("ssn"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_SSN) },
    { ngx_string("phone"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_PHONE) },
    { ngx_string("iban"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_IBAN) },
    { ngx_string("aws_key"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_AWS_KEY) },
    { ngx_string("jwt"), NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_JWT) },
    { ngx_string("private_key"),
      NGX_HOOP_MASK_BIT(NGX_HOOP_MASK_PRIVATE_KEY) },
    { ngx_string("secrets"), NGX_HOOP_MASK_SECRETS },
    { ngx_string("all"), NGX_HOOP_MASK_ALL },
    { ngx_null_string, 0 }
};


/* indexed by NGX_HOOP_MASK_*: names in counts and logs */
static ngx_str_t  ngx_hoop_mask_detector_labels[] = {
    ngx_string("email"),
    ngx_string("credit_card"),
    ngx_string("ssn"),
    ngx_string("phone"),
    ngx_string("iban"),
    ngx_string("aws_key"),
    ngx_string("jwt"),
    ngx_string("private_key"),
    ngx_string("regex"),
    ngx_string("key")
};


static ngx_int_t ngx_hoop_mask_parse_keys(ngx_conf_t *cf,
    ngx_hoop_mask_rule_t *rule, ngx_str_t *list);
static char *ngx_hoop_mask_parse_regex(ngx_conf_t *cf,
    ngx_hoop_mask_rule_t *rule, ngx_str_t *pattern);


ngx_uint_t
ngx_hoop_mask_detector_bits(ngx_str_t *name)
{
    const ngx_hoop_mask_detector_name_t  *d;

    for (d = ngx_hoop_mask_detector_names; d->name.len; d++) {
        if (d->name.len == name->len
            && ngx_strncmp(d->name.data, name->data, name->len) == 0)
        {
            return d->bits;
        }
    }

    return 0;
}


ngx_str_t *
ngx_hoop_mask_detector_name(ngx_uint_t detector)
{
    if (detector >= NGX_HOOP_MASK_NDETECTORS) {
        detector = NGX_HOOP_MASK_KEY;
    }

    return &ngx_hoop_mask_detector_labels[detector];
}


char *
ngx_hoop_mask_rule_parse(ngx_conf_t *cf, ngx_str_t *args, ngx_uint_t nargs,
    ngx_array_t **rules)
{
    char                  *rv;
    u_char                *p, *last, *comma;
    ngx_int_t              n;
    ngx_str_t              v, item, secret;
    ngx_uint_t             i, bits;
    ngx_hoop_mask_rule_t  *rule;

    if (*rules == NULL) {
        *rules = ngx_array_create(cf->pool, 2, sizeof(ngx_hoop_mask_rule_t));
        if (*rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    rule = ngx_array_push(*rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(ngx_hoop_mask_rule_t));

    rule->index = (*rules)->nelts - 1;
    rule->strategy = NGX_HOOP_MASK_REDACT;
    rule->keep = 4;

    ngx_str_null(&secret);

    for (i = 0; i < nargs; i++) {

        if (ngx_strncmp(args[i].data, "key=", 4) == 0
            || ngx_strncmp(args[i].data, "column=", 7) == 0)
        {
            v.data = (u_char *) ngx_strchr(args[i].data, '=') + 1;
            v.len = args[i].data + args[i].len - v.data;

            if (ngx_hoop_mask_parse_keys(cf, rule, &v) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(args[i].data, "detect=", 7) == 0) {
            p = args[i].data + 7;
            last = args[i].data + args[i].len;

            while (p <= last) {
                comma = ngx_strlchr(p, last, ',');
                if (comma == NULL) {
                    comma = last;
                }

                item.data = p;
                item.len = comma - p;

                bits = ngx_hoop_mask_detector_bits(&item);
                if (bits == 0) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "unknown detector \"%V\" (known: "
                                       "email, credit_card, ssn, phone, "
                                       "iban, aws_key, jwt, private_key, "
                                       "secrets, all)", &item);
                    return NGX_CONF_ERROR;
                }

                rule->detectors |= bits;
                p = comma + 1;
            }

            continue;
        }

        if (ngx_strncmp(args[i].data, "regex=", 6) == 0) {
            v.data = args[i].data + 6;
            v.len = args[i].len - 6;

            rv = ngx_hoop_mask_parse_regex(cf, rule, &v);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(args[i].data, "with=", 5) == 0) {
            v.data = args[i].data + 5;
            v.len = args[i].len - 5;

            if (v.len == 6 && ngx_strncmp(v.data, "redact", 6) == 0) {
                rule->strategy = NGX_HOOP_MASK_REDACT;

            } else if (v.len == 7 && ngx_strncmp(v.data, "partial", 7) == 0) {
                rule->strategy = NGX_HOOP_MASK_PARTIAL;

            } else if (v.len == 4 && ngx_strncmp(v.data, "hash", 4) == 0) {
                rule->strategy = NGX_HOOP_MASK_HASH;

            } else if (v.len == 4 && ngx_strncmp(v.data, "null", 4) == 0) {
                rule->strategy = NGX_HOOP_MASK_NULL;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "unknown strategy \"%V\" (known: redact, "
                                   "partial, hash, null)", &v);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(args[i].data, "keep=", 5) == 0) {
            n = ngx_atoi(args[i].data + 5, args[i].len - 5);
            if (n == NGX_ERROR || n < 1 || n > 64) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": 1..64 expected",
                                   &args[i]);
                return NGX_CONF_ERROR;
            }

            rule->keep = n;
            continue;
        }

        if (ngx_strncmp(args[i].data, "secret=", 7) == 0) {
            secret.data = args[i].data + 7;
            secret.len = args[i].len - 7;
            continue;
        }

        if (ngx_strncmp(args[i].data, "name=", 5) == 0) {
            rule->name.data = args[i].data + 5;
            rule->name.len = args[i].len - 5;
            continue;
        }

        if (ngx_strncmp(args[i].data, "unless=$", 8) == 0
            && args[i].len > 8)
        {
            rule->unless.data = args[i].data + 8;
            rule->unless.len = args[i].len - 8;
            continue;
        }

        /* never echo the argument: it may be a literal secret */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid masking rule argument #%ui (expected "
                           "key=, column=, detect=, regex=, with=, keep=, "
                           "secret=, name= or unless=$variable)", i + 1);
        return NGX_CONF_ERROR;
    }

    if (rule->keys == NULL && rule->detectors == 0 && rule->regexes == NULL) {
        return "needs key=, column=, detect= or regex=";
    }

    if (rule->name.len == 0) {
        rule->name.data = ngx_pnalloc(cf->pool, NGX_INT_T_LEN + 4);
        if (rule->name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        rule->name.len = ngx_sprintf(rule->name.data, "rule%ui",
                                     rule->index + 1)
                         - rule->name.data;
    }

    if (rule->strategy == NGX_HOOP_MASK_HASH) {
        if (secret.len == 0) {
            return "with=hash needs secret=vault:NAME (an unkeyed hash of "
                   "a card number or SSN is reversible by enumeration)";
        }

        if (ngx_hoop_vault_resolve == NULL) {
            return "with=hash needs ngx_hoop_auth_module.so (the vault) "
                   "loaded before ngx_hoop_mask_module.so";
        }

        if (ngx_hoop_vault_resolve(cf, &secret, &rule->secret) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

    } else if (secret.len) {
        return "secret= is only used with with=hash";
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_mask_parse_keys(ngx_conf_t *cf, ngx_hoop_mask_rule_t *rule,
    ngx_str_t *list)
{
    u_char                *p, *last, *comma, *dot, *end;
    ngx_hoop_mask_path_t  *path;

    if (rule->keys == NULL) {
        rule->keys = ngx_array_create(cf->pool, 2,
                                      sizeof(ngx_hoop_mask_path_t));
        if (rule->keys == NULL) {
            return NGX_ERROR;
        }
    }

    p = list->data;
    last = list->data + list->len;

    while (p <= last) {
        comma = ngx_strlchr(p, last, ',');
        end = comma ? comma : last;

        path = ngx_array_push(rule->keys);
        if (path == NULL) {
            return NGX_ERROR;
        }

        path->nsegs = 0;

        for ( ;; ) {
            dot = ngx_strlchr(p, end, '.');

            if (path->nsegs == NGX_HOOP_MASK_MAX_PATH) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "key path \"%*s\" has more than %d parts",
                                   end - list->data, list->data,
                                   NGX_HOOP_MASK_MAX_PATH);
                return NGX_ERROR;
            }

            path->segs[path->nsegs].data = p;
            path->segs[path->nsegs].len = (dot ? dot : end) - p;

            if (path->segs[path->nsegs].len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty key name in \"%V\"", list);
                return NGX_ERROR;
            }

            path->nsegs++;

            if (dot == NULL) {
                break;
            }

            p = dot + 1;
        }

        p = end + 1;
    }

    return NGX_OK;
}


static char *
ngx_hoop_mask_parse_regex(ngx_conf_t *cf, ngx_hoop_mask_rule_t *rule,
    ngx_str_t *pattern)
{
#if (NGX_PCRE)
    u_char               errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_t        **re;
    ngx_regex_compile_t  rc;

    if (pattern->len == 0) {
        return "empty regex=";
    }

    ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

    rc.pattern = *pattern;
    rc.pool = cf->pool;
    rc.err.len = NGX_MAX_CONF_ERRSTR;
    rc.err.data = errstr;

    if (ngx_regex_compile(&rc) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
        return NGX_CONF_ERROR;
    }

    if (rule->regexes == NULL) {
        rule->regexes = ngx_array_create(cf->pool, 1, sizeof(ngx_regex_t *));
        if (rule->regexes == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    re = ngx_array_push(rule->regexes);
    if (re == NULL) {
        return NGX_CONF_ERROR;
    }

    *re = rc.regex;

    return NGX_CONF_OK;

#else
    return "regex= needs nginx built with PCRE";
#endif
}
