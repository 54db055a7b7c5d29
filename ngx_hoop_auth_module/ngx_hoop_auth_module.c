
/*
 * ngx_hoop_auth_module: main-level configuration shared by HTTP and stream
 * servers: the identity providers ("hoop_oidc") and the verification cache
 * ("hoop_auth_cache").
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_oidc.h"


#define NGX_HOOP_AUTH_CACHE_SIZE  (10 * 1024 * 1024)


typedef struct {
    ngx_hoop_auth_main_conf_t   main;       /* first: ngx_hoop_oidc.h's view */
    size_t                      cache_size; /* 0: off */
    ngx_hoop_auth_cache_t      *cache;
} ngx_hoop_auth_conf_t;


static void *ngx_hoop_auth_create_conf(ngx_cycle_t *cycle);
static char *ngx_hoop_auth_init_conf(ngx_cycle_t *cycle, void *conf);
static char *ngx_hoop_oidc(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_hoop_oidc_path(ngx_conf_t *cf, ngx_str_t *value,
    ngx_array_t **path);
static char *ngx_hoop_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_hoop_auth_init_process(ngx_cycle_t *cycle);
static void ngx_hoop_oidc_sha256_cleanup(void *data);


static ngx_command_t  ngx_hoop_auth_commands[] = {

    { ngx_string("hoop_oidc"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_2MORE,
      ngx_hoop_oidc,
      0,
      0,
      NULL },

    { ngx_string("hoop_auth_cache"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_hoop_auth_cache,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_core_module_t  ngx_hoop_auth_module_ctx = {
    ngx_string("hoop_auth"),
    ngx_hoop_auth_create_conf,
    ngx_hoop_auth_init_conf
};


ngx_module_t  ngx_hoop_auth_module = {
    NGX_MODULE_V1,
    &ngx_hoop_auth_module_ctx,             /* module context */
    ngx_hoop_auth_commands,                /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_hoop_auth_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_hoop_auth_create_conf(ngx_cycle_t *cycle)
{
    ngx_hoop_auth_conf_t  *acf;

    acf = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_auth_conf_t));
    if (acf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&acf->main.providers, cycle->pool, 2,
                       sizeof(ngx_hoop_oidc_t *))
        != NGX_OK)
    {
        return NULL;
    }

    acf->main.loaded = 1;
    acf->cache_size = NGX_CONF_UNSET_SIZE;

    return acf;
}


static char *
ngx_hoop_auth_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_hoop_auth_conf_t *acf = conf;

    if (acf->cache == NULL) {
        return NGX_CONF_OK;
    }

    if (acf->cache_size == NGX_CONF_UNSET_SIZE) {
        acf->cache_size = NGX_HOOP_AUTH_CACHE_SIZE;
    }

    if (acf->cache_size == 0) {
        /*
         * "hoop_auth_cache off" after the first hoop_oidc: the zone was
         * already declared and cannot be taken back; keep it tiny, unused.
         */
        ngx_hoop_auth_cache_size(acf->cache, 8 * ngx_pagesize);
        acf->cache = NULL;

        return NGX_CONF_OK;
    }

    ngx_hoop_auth_cache_size(acf->cache, acf->cache_size);

    return NGX_CONF_OK;
}


ngx_hoop_oidc_t *
ngx_hoop_oidc_lookup(ngx_conf_t *cf, ngx_str_t *name)
{
    ngx_uint_t             i;
    ngx_hoop_oidc_t      **provider;
    ngx_hoop_auth_conf_t  *acf;

    acf = (ngx_hoop_auth_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                                ngx_hoop_auth_module);
    if (acf == NULL) {
        return NULL;
    }

    provider = acf->main.providers.elts;

    for (i = 0; i < acf->main.providers.nelts; i++) {
        if (provider[i]->name.len == name->len
            && ngx_strncmp(provider[i]->name.data, name->data, name->len)
               == 0)
        {
            return provider[i];
        }
    }

    return NULL;
}


ngx_hoop_auth_cache_t *
ngx_hoop_auth_cache_current(void)
{
    ngx_hoop_auth_conf_t  *acf;

    acf = (ngx_hoop_auth_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                                ngx_hoop_auth_module);

    return acf ? acf->cache : NULL;
}


/*
 * hoop_oidc NAME issuer=URL audience=A[,B...] (jwks=FILE|URL | discovery=on)
 *           [user_claim=sub] [email_claim=email] [groups_claim=groups]
 *           [leeway=60s] [max_token_size=16k] [ca=FILE] [refresh=1h]
 *           [refetch_min=30s] [fetch_timeout=5s];
 */

static char *
ngx_hoop_oidc(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_auth_conf_t *acf = conf;

    char                *rv;
    ngx_pool_cleanup_t  *cln;
    u_char              *p, *last, *start, c;
    time_t               leeway;
    ssize_t              size;
    ngx_str_t           *value, s, *aud, jwks;
    ngx_msec_t           ms, *msp;
    ngx_uint_t           i;
    ngx_hoop_oidc_t     *provider, **pp;

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "has an empty provider name";
    }

    for (i = 0; i < value[1].len; i++) {
        c = value[1].data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid provider name \"%V\": use letters, "
                               "digits, \"_\", \"-\" and \".\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (ngx_hoop_oidc_lookup(cf, &value[1]) != NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate hoop_oidc provider \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    provider = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_oidc_t));
    if (provider == NULL) {
        return NGX_CONF_ERROR;
    }

    provider->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    provider->sha256_ctx = EVP_MD_CTX_new();

    cln = ngx_pool_cleanup_add(cf->pool, 0);

    if (provider->sha256 == NULL || provider->sha256_ctx == NULL
        || cln == NULL)
    {
        EVP_MD_free(provider->sha256);
        EVP_MD_CTX_free(provider->sha256_ctx);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_hoop_oidc_sha256_cleanup;
    cln->data = provider;

    provider->name = value[1];
    provider->leeway = NGX_CONF_UNSET;
    provider->max_token_size = NGX_CONF_UNSET_SIZE;
    provider->discovery = NGX_CONF_UNSET;
    provider->refresh = NGX_CONF_UNSET_MSEC;
    provider->refetch_min = NGX_CONF_UNSET_MSEC;
    provider->fetch_timeout = NGX_CONF_UNSET_MSEC;
    provider->log = &cf->cycle->new_log;

    ngx_str_null(&jwks);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "issuer=", 7) == 0) {
            provider->issuer.data = value[i].data + 7;
            provider->issuer.len = value[i].len - 7;

            if (provider->issuer.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "audience=", 9) == 0) {

            provider->audiences = ngx_array_create(cf->pool, 2,
                                                   sizeof(ngx_str_t));
            if (provider->audiences == NULL) {
                return NGX_CONF_ERROR;
            }

            p = value[i].data + 9;
            last = value[i].data + value[i].len;

            while (p <= last) {
                start = p;

                while (p < last && *p != ',') {
                    p++;
                }

                if (p == start) {
                    goto invalid;
                }

                aud = ngx_array_push(provider->audiences);
                if (aud == NULL) {
                    return NGX_CONF_ERROR;
                }

                aud->data = start;
                aud->len = p - start;
                p++;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "jwks=", 5) == 0) {
            jwks.data = value[i].data + 5;
            jwks.len = value[i].len - 5;

            if (jwks.len == 0) {
                goto invalid;
            }

            if ((jwks.len > 7
                 && ngx_strncasecmp(jwks.data, (u_char *) "http://", 7) == 0)
                || (jwks.len > 8
                    && ngx_strncasecmp(jwks.data, (u_char *) "https://", 8)
                       == 0))
            {
                provider->jwks_url = jwks;

            } else {
                provider->jwks_file = jwks;

                if (ngx_conf_full_name(cf->cycle, &provider->jwks_file, 1)
                    != NGX_OK)
                {
                    return NGX_CONF_ERROR;
                }
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "discovery=on") == 0) {
            provider->discovery = 1;
            continue;
        }

        if (ngx_strcmp(value[i].data, "discovery=off") == 0) {
            provider->discovery = 0;
            continue;
        }

        if (ngx_strncmp(value[i].data, "user_claim=", 11) == 0) {
            s.data = value[i].data + 11;
            s.len = value[i].len - 11;

            rv = ngx_hoop_oidc_path(cf, &s, &provider->user_claim);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "email_claim=", 12) == 0) {
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

            rv = ngx_hoop_oidc_path(cf, &s, &provider->email_claim);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "groups_claim=", 13) == 0) {
            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            rv = ngx_hoop_oidc_path(cf, &s, &provider->groups_claim);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "leeway=", 7) == 0) {
            s.data = value[i].data + 7;
            s.len = value[i].len - 7;

            leeway = ngx_parse_time(&s, 1);
            if (leeway == (time_t) NGX_ERROR || leeway > 86400) {
                goto invalid;
            }

            provider->leeway = leeway;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_token_size=", 15) == 0) {
            s.data = value[i].data + 15;
            s.len = value[i].len - 15;

            size = ngx_parse_size(&s);
            if (size < 256 || size > 1024 * 1024) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "\"%V\": the size must be between "
                                   "256 and 1m", &value[i]);
                return NGX_CONF_ERROR;
            }

            provider->max_token_size = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ca=", 3) == 0) {
            provider->ca_file.data = value[i].data + 3;
            provider->ca_file.len = value[i].len - 3;

            if (provider->ca_file.len == 0) {
                goto invalid;
            }

            if (ngx_conf_full_name(cf->cycle, &provider->ca_file, 1)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        msp = NULL;

        if (ngx_strncmp(value[i].data, "refresh=", 8) == 0) {
            msp = &provider->refresh;
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

        } else if (ngx_strncmp(value[i].data, "refetch_min=", 12) == 0) {
            msp = &provider->refetch_min;
            s.data = value[i].data + 12;
            s.len = value[i].len - 12;

        } else if (ngx_strncmp(value[i].data, "fetch_timeout=", 14) == 0) {
            msp = &provider->fetch_timeout;
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;
        }

        if (msp) {
            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            *msp = ms;
            continue;
        }

        goto invalid;
    }

    if (provider->issuer.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\" needs issuer=", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (provider->audiences == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\" needs audience=", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (provider->discovery == NGX_CONF_UNSET) {
        provider->discovery = 0;
    }

    if ((jwks.len != 0) == (provider->discovery == 1)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "hoop_oidc \"%V\" needs exactly one of jwks= "
                           "and discovery=on", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (provider->user_claim == NULL) {
        ngx_str_set(&s, "sub");
        if (ngx_hoop_oidc_path(cf, &s, &provider->user_claim) != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (provider->email_claim == NULL) {
        ngx_str_set(&s, "email");
        if (ngx_hoop_oidc_path(cf, &s, &provider->email_claim)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    if (provider->groups_claim == NULL) {
        ngx_str_set(&s, "groups");
        if (ngx_hoop_oidc_path(cf, &s, &provider->groups_claim)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_init_value(provider->leeway, 60);
    ngx_conf_init_size_value(provider->max_token_size, 16384);

    /* the key source applies its own defaults to what is still unset */

    rv = ngx_hoop_oidc_keys_conf(cf, provider);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    ngx_conf_init_msec_value(provider->refresh, 3600000);
    ngx_conf_init_msec_value(provider->refetch_min, 30000);
    ngx_conf_init_msec_value(provider->fetch_timeout, 10000);

    pp = ngx_array_push(&acf->main.providers);
    if (pp == NULL) {
        return NGX_CONF_ERROR;
    }

    *pp = provider;

    if (acf->cache == NULL && acf->cache_size != 0) {
        acf->cache = ngx_hoop_auth_cache_conf(cf);
        if (acf->cache == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* "realm_access.roles" -> ["realm_access", "roles"] */

static char *
ngx_hoop_oidc_path(ngx_conf_t *cf, ngx_str_t *value, ngx_array_t **path)
{
    u_char     *p, *last, *start;
    ngx_str_t  *name;

    *path = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
    if (*path == NULL) {
        return NGX_CONF_ERROR;
    }

    p = value->data;
    last = value->data + value->len;

    while (p <= last) {
        start = p;

        while (p < last && *p != '.') {
            p++;
        }

        if (p == start) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid claim path \"%V\"", value);
            return NGX_CONF_ERROR;
        }

        name = ngx_array_push(*path);
        if (name == NULL) {
            return NGX_CONF_ERROR;
        }

        name->data = start;
        name->len = p - start;
        p++;
    }

    return NGX_CONF_OK;
}


/* hoop_auth_cache off | size=SIZE | SIZE; */

static char *
ngx_hoop_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_auth_conf_t *acf = conf;

    ssize_t     size;
    ngx_str_t  *value, s;

    if (acf->cache_size != NGX_CONF_UNSET_SIZE) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        acf->cache_size = 0;
        return NGX_CONF_OK;
    }

    s = value[1];

    if (ngx_strncmp(s.data, "size=", 5) == 0) {
        s.data += 5;
        s.len -= 5;
    }

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR || (size_t) size < 8 * ngx_pagesize) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid hoop_auth_cache size \"%V\" (at least "
                           "%uz)", &value[1], 8 * ngx_pagesize);
        return NGX_CONF_ERROR;
    }

    acf->cache_size = size;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_auth_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_hoop_oidc_t      **provider;
    ngx_hoop_auth_conf_t  *acf;

    acf = (ngx_hoop_auth_conf_t *) ngx_get_conf(cycle->conf_ctx,
                                                ngx_hoop_auth_module);
    if (acf == NULL) {
        return NGX_OK;
    }

    provider = acf->main.providers.elts;

    for (i = 0; i < acf->main.providers.nelts; i++) {
        if (ngx_hoop_oidc_keys_init_process(cycle, provider[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_hoop_oidc_sha256_cleanup(void *data)
{
    ngx_hoop_oidc_t *provider = data;

    EVP_MD_CTX_free(provider->sha256_ctx);
    EVP_MD_free(provider->sha256);
}


ngx_int_t
ngx_hoop_oidc_sha256(ngx_hoop_oidc_t *provider, ngx_str_t *parts,
    ngx_uint_t n, u_char *out)
{
    ngx_uint_t    i;
    unsigned int  len;

    if (EVP_DigestInit_ex(provider->sha256_ctx, provider->sha256, NULL) != 1)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (EVP_DigestUpdate(provider->sha256_ctx, parts[i].data,
                             parts[i].len)
            != 1)
        {
            return NGX_ERROR;
        }
    }

    return EVP_DigestFinal_ex(provider->sha256_ctx, out, &len) == 1
           ? NGX_OK : NGX_ERROR;
}
