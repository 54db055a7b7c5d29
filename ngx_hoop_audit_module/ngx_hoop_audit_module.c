
/*
 * ngx_hoop_audit_module: main-level configuration of Redis and the audit
 * trail ("hoop_redis", "hoop_audit_*"), the counters in shared memory, one
 * Redis connection per worker, and the event API of ngx_hoop_audit.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_audit_int.h"
#include "ngx_hoop_review_int.h"
#include "../ngx_hoop_auth_module/ngx_hoop_auth.h"


/* the vault lives in the auth module: see ngx_hoop_require_module() */
#pragma weak ngx_hoop_auth_module
#pragma weak ngx_hoop_vault_resolve


#define NGX_HOOP_REDIS_PORT             6379
#define NGX_HOOP_REDIS_CONNECT_TIMEOUT  2000
#define NGX_HOOP_REDIS_COMMAND_TIMEOUT  2000
#define NGX_HOOP_REDIS_BACKOFF_MIN      500
#define NGX_HOOP_REDIS_BACKOFF_MAX      10000


static void *ngx_hoop_audit_create_conf(ngx_cycle_t *cycle);
static char *ngx_hoop_audit_init_conf(ngx_cycle_t *cycle, void *conf);
static char *ngx_hoop_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_hoop_redis_address(ngx_conf_t *cf,
    ngx_hoop_redis_conf_t *rcf, ngx_str_t *value);
static char *ngx_hoop_audit_spool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_hoop_audit_stream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_hoop_audit_maxlen(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_hoop_audit_queue(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_hoop_audit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_hoop_audit_init_process(ngx_cycle_t *cycle);
static void ngx_hoop_audit_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_hoop_audit_commands[] = {

    { ngx_string("hoop_redis"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_1MORE,
      ngx_hoop_redis,
      0,
      0,
      NULL },

    { ngx_string("hoop_audit_spool"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_1MORE,
      ngx_hoop_audit_spool,
      0,
      0,
      NULL },

    { ngx_string("hoop_audit_stream"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_hoop_audit_stream,
      0,
      0,
      NULL },

    { ngx_string("hoop_audit_maxlen"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_hoop_audit_maxlen,
      0,
      0,
      NULL },

    { ngx_string("hoop_audit_queue"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_1MORE,
      ngx_hoop_audit_queue,
      0,
      0,
      NULL },

    { ngx_string("hoop_audit_sessions"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      0,
      offsetof(ngx_hoop_audit_conf_t, sessions),
      NULL },

    { ngx_string("hoop_audit_flush"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_hoop_audit_conf_t, flush),
      NULL },

    { ngx_string("hoop_review_timeout"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      0,
      offsetof(ngx_hoop_audit_conf_t, review_timeout),
      NULL },

    { ngx_string("hoop_review_window"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      0,
      offsetof(ngx_hoop_audit_conf_t, review_window),
      NULL },

    { ngx_string("hoop_review_retention"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      0,
      offsetof(ngx_hoop_audit_conf_t, review_retention),
      NULL },

      ngx_null_command
};


static ngx_core_module_t  ngx_hoop_audit_module_ctx = {
    ngx_string("hoop_audit"),
    ngx_hoop_audit_create_conf,
    ngx_hoop_audit_init_conf
};


ngx_module_t  ngx_hoop_audit_module = {
    NGX_MODULE_V1,
    &ngx_hoop_audit_module_ctx,            /* module context */
    ngx_hoop_audit_commands,               /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_hoop_audit_init_process,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_hoop_audit_exit_process,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_hoop_audit_create_conf(ngx_cycle_t *cycle)
{
    ngx_hoop_audit_conf_t  *acf;

    if (ngx_hoop_require_module(cycle, &ngx_hoop_auth_module,
                                "ngx_hoop_auth_module",
                                "ngx_hoop_auth_module.so",
                                "ngx_hoop_audit_module.so")
        != NGX_OK)
    {
        return NULL;
    }

    acf = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_audit_conf_t));
    if (acf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     acf->redis = NULL;
     *     acf->stream = { 0, NULL };
     *     acf->spool = { 0, NULL };
     *     acf->shm_zone = NULL;
     *     acf->ship = NULL;
     */

    acf->maxlen = NGX_CONF_UNSET_UINT;
    acf->spool_max = NGX_CONF_UNSET;
    acf->fsync = NGX_CONF_UNSET_UINT;
    acf->max_events = NGX_CONF_UNSET_UINT;
    acf->max_bytes = NGX_CONF_UNSET_SIZE;
    acf->max_field = NGX_CONF_UNSET_SIZE;
    acf->sessions = NGX_CONF_UNSET;
    acf->flush = NGX_CONF_UNSET_MSEC;
    acf->review_timeout = NGX_CONF_UNSET_MSEC;
    acf->review_window = NGX_CONF_UNSET;
    acf->review_retention = NGX_CONF_UNSET;

    return acf;
}


static char *
ngx_hoop_audit_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_hoop_audit_conf_t *acf = conf;

    u_char  *p;

    if (acf->stream.len == 0) {
        ngx_str_set(&acf->stream, NGX_HOOP_AUDIT_STREAM);
    }

    ngx_conf_init_uint_value(acf->maxlen, NGX_HOOP_AUDIT_MAXLEN);
    ngx_conf_init_value(acf->spool_max, NGX_HOOP_AUDIT_SPOOL_MAX);
    ngx_conf_init_uint_value(acf->fsync, NGX_HOOP_AUDIT_FSYNC_BATCH);
    ngx_conf_init_uint_value(acf->max_events, NGX_HOOP_AUDIT_MAX_EVENTS);
    ngx_conf_init_size_value(acf->max_bytes, NGX_HOOP_AUDIT_MAX_BYTES);
    ngx_conf_init_size_value(acf->max_field, NGX_HOOP_AUDIT_MAX_FIELD);
    ngx_conf_init_value(acf->sessions, 1);
    ngx_conf_init_msec_value(acf->flush, NGX_HOOP_AUDIT_FLUSH);
    ngx_conf_init_msec_value(acf->review_timeout, NGX_HOOP_REVIEW_TIMEOUT);
    ngx_conf_init_value(acf->review_window, NGX_HOOP_REVIEW_WINDOW);
    ngx_conf_init_value(acf->review_retention, NGX_HOOP_REVIEW_RETENTION);

    p = ngx_pnalloc(cycle->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    acf->maxlen_text.data = p;
    acf->maxlen_text.len = ngx_sprintf(p, "%ui", acf->maxlen) - p;

    if (acf->redis == NULL) {
        if (acf->spool.len) {
            ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                          "\"hoop_audit_spool\" without \"hoop_redis\": "
                          "auditing is off");
        }

        return NGX_CONF_OK;
    }

    if (acf->spool.len == 0) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, 0,
                      "\"hoop_redis\" without \"hoop_audit_spool\": audit "
                      "events are lost while Redis is unreachable");
    }

    return NGX_CONF_OK;
}


ngx_hoop_audit_conf_t *
ngx_hoop_audit_conf(ngx_cycle_t *cycle)
{
    if (cycle->conf_ctx == NULL) {
        return NULL;
    }

    return (ngx_hoop_audit_conf_t *) ngx_get_conf(cycle->conf_ctx,
                                                  ngx_hoop_audit_module);
}


void
ngx_hoop_audit_count(ngx_atomic_t *counter, ngx_atomic_int_t n)
{
    (void) ngx_atomic_fetch_add(counter, n);
}


/*
 * hoop_redis ADDRESS [user=NAME] [password=SECRET|vault:NAME] [db=N]
 *            [connect_timeout=2s] [command_timeout=2s];
 */

static char *
ngx_hoop_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_audit_conf_t *acf = conf;

    char                   *rv;
    ngx_int_t               n;
    ngx_str_t              *value, s, name;
    ngx_msec_t              ms;
    ngx_uint_t              i;
    ngx_shm_zone_t         *zone;
    ngx_hoop_redis_conf_t  *rcf;

    if (acf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_hoop_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    rv = ngx_hoop_redis_address(cf, rcf, &value[1]);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    rcf->connect_timeout = NGX_HOOP_REDIS_CONNECT_TIMEOUT;
    rcf->command_timeout = NGX_HOOP_REDIS_COMMAND_TIMEOUT;
    rcf->backoff_min = NGX_HOOP_REDIS_BACKOFF_MIN;
    rcf->backoff_max = NGX_HOOP_REDIS_BACKOFF_MAX;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            rcf->user.data = value[i].data + 5;
            rcf->user.len = value[i].len - 5;

            if (rcf->user.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            if (s.len == 0) {
                goto invalid;
            }

            if (ngx_hoop_vault_resolve == NULL) {
                return "needs ngx_hoop_auth_module.so for vault: secrets";
            }

            if (ngx_hoop_vault_resolve(cf, &s, &rcf->password) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR || n > 65535) {
                goto invalid;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            rcf->connect_timeout = ms;
            continue;
        }

        if (ngx_strncmp(value[i].data, "command_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            ms = ngx_parse_time(&s, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            rcf->command_timeout = ms;
            continue;
        }

        goto invalid;
    }

    if (rcf->user.len && rcf->password.len == 0) {
        return "has user= without password=";
    }

    ngx_str_set(&name, "hoop_audit");

    zone = ngx_shared_memory_add(cf, &name, 8 * ngx_pagesize,
                                 &ngx_hoop_audit_module);
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->init = ngx_hoop_audit_init_zone;
    zone->data = acf;

    acf->shm_zone = zone;
    acf->redis = rcf;

    return NGX_CONF_OK;

invalid:

    /* never echo a password */

    if (ngx_strncmp(value[i].data, "password=", 9) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid \"password=\" parameter");

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
    }

    return NGX_CONF_ERROR;
}


/*
 * "unix:/path", or an address with an optional port; a name is resolved
 * now, while the configuration is read, never in a worker.
 */

static char *
ngx_hoop_redis_address(ngx_conf_t *cf, ngx_hoop_redis_conf_t *rcf,
    ngx_str_t *value)
{
    u_char     *p;
    size_t      len;
    ngx_url_t   u;

    rcf->name = *value;

    if (value->len > 5 && ngx_strncmp(value->data, "unix:", 5) == 0) {
        len = value->len - 5;

        if (len >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            return "has a unix socket path that is too long";
        }

        rcf->path = ngx_pnalloc(cf->pool, len + 1);
        if (rcf->path == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memcpy(rcf->path, value->data + 5, len);
        rcf->path[len] = '\0';

        return NGX_CONF_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *value;
    u.default_port = NGX_HOOP_REDIS_PORT;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in \"%V\"", u.err, value);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0 || u.uri.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Redis address \"%V\"", value);
        return NGX_CONF_ERROR;
    }

    if (u.naddrs > 1) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"%V\" resolves to %ui addresses, using %V",
                           value, u.naddrs, &u.addrs[0].name);
    }

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    len = ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                        NGX_SOCKADDR_STRLEN, 0);
    p[len] = '\0';

    rcf->host = p;
    rcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);

    return NGX_CONF_OK;
}


/* hoop_audit_spool DIR [max_size=100m] [fsync=batch|always|off]; */

static char *
ngx_hoop_audit_spool(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_audit_conf_t *acf = conf;

    off_t        size;
    ngx_str_t   *value, s;
    ngx_uint_t   i;
    ngx_path_t  *path;

    if (acf->spool.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    s = value[1];

    while (s.len > 1 && s.data[s.len - 1] == '/') {
        s.len--;
    }

    if (ngx_conf_full_name(cf->cycle, &s, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* NUL-terminated, for opendir() and friends */
    acf->spool.data = ngx_pnalloc(cf->pool, s.len + 1);
    if (acf->spool.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(acf->spool.data, s.data, s.len);
    acf->spool.data[s.len] = '\0';
    acf->spool.len = s.len;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_size=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            size = ngx_parse_offset(&s);
            if (size == NGX_ERROR || size < 4096) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": at least 4k",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            acf->spool_max = size;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fsync=batch") == 0) {
            acf->fsync = NGX_HOOP_AUDIT_FSYNC_BATCH;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fsync=always") == 0) {
            acf->fsync = NGX_HOOP_AUDIT_FSYNC_ALWAYS;
            continue;
        }

        if (ngx_strcmp(value[i].data, "fsync=off") == 0) {
            acf->fsync = NGX_HOOP_AUDIT_FSYNC_OFF;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    /* nginx creates it at start, owned by the worker user, mode 0700 */

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = acf->spool;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    if (ngx_add_path(cf, &path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_hoop_audit_stream(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_audit_conf_t *acf = conf;

    ngx_str_t  *value;

    if (acf->stream.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "needs a stream name";
    }

    acf->stream = value[1];

    return NGX_CONF_OK;
}


/* hoop_audit_maxlen N | off; */

static char *
ngx_hoop_audit_maxlen(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_audit_conf_t *acf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (acf->maxlen != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        acf->maxlen = 0;
        return NGX_CONF_OK;
    }

    n = ngx_atoi(value[1].data, value[1].len);
    if (n == NGX_ERROR || n == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid hoop_audit_maxlen \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    acf->maxlen = n;

    return NGX_CONF_OK;
}


/* hoop_audit_queue [max_events=N] [max_bytes=SIZE] [max_field=SIZE]; */

static char *
ngx_hoop_audit_queue(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_audit_conf_t *acf = conf;

    ssize_t      size;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_uint_t   i;

    if (acf->max_events != NGX_CONF_UNSET_UINT
        || acf->max_bytes != NGX_CONF_UNSET_SIZE
        || acf->max_field != NGX_CONF_UNSET_SIZE)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "max_events=", 11) == 0) {
            n = ngx_atoi(value[i].data + 11, value[i].len - 11);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            acf->max_events = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_bytes=", 10) == 0) {
            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 4096) {
                goto invalid;
            }

            acf->max_bytes = size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_field=", 10) == 0) {
            s.data = value[i].data + 10;
            s.len = value[i].len - 10;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR || size < 64 || size > 1024 * 1024) {
                goto invalid;
            }

            acf->max_field = size;
            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_hoop_audit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_hoop_audit_conf_t  *oacf = data;

    ngx_slab_pool_t        *shpool;
    ngx_hoop_audit_conf_t  *acf;
    ngx_hoop_audit_shm_t   *shm;

    acf = shm_zone->data;

    if (oacf) {
        /* a reload: the counters go on */
        acf->shm = oacf->shm;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        acf->shm = shpool->data;
        return NGX_OK;
    }

    shm = ngx_slab_calloc(shpool, sizeof(ngx_hoop_audit_shm_t));
    if (shm == NULL) {
        return NGX_ERROR;
    }

    shpool->data = shm;
    acf->shm = shm;

    /* what earlier runs left in the spool counts against max_size */

    if (acf->spool.len) {
        shm->spool_bytes = ngx_hoop_audit_spool_usage(&acf->spool,
                                                      shm_zone->shm.log);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_audit_init_process(ngx_cycle_t *cycle)
{
    ngx_hoop_audit_conf_t  *acf;

    acf = ngx_hoop_audit_conf(cycle);

    if (acf == NULL || acf->redis == NULL) {
        return NGX_OK;
    }

    /* not in the cache manager and loader */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    acf->ship = ngx_hoop_audit_ship_create(cycle, acf);
    if (acf->ship == NULL) {
        return NGX_ERROR;
    }

    return ngx_hoop_review_init_process(cycle, acf);
}


static void
ngx_hoop_audit_exit_process(ngx_cycle_t *cycle)
{
    ngx_hoop_audit_conf_t  *acf;

    acf = ngx_hoop_audit_conf(cycle);

    if (acf && acf->ship) {
        ngx_hoop_review_exit_process(acf);
        ngx_hoop_audit_ship_exit(acf->ship);
    }
}


ngx_int_t
ngx_hoop_audit_event(ngx_log_t *log, ngx_str_t *type,
    ngx_hoop_audit_field_t *fields, ngx_uint_t n)
{
    ngx_hoop_audit_conf_t  *acf;
    ngx_hoop_audit_item_t  *item;

    acf = ngx_hoop_audit_conf((ngx_cycle_t *) ngx_cycle);

    if (acf == NULL || acf->redis == NULL || acf->ship == NULL) {
        return NGX_DECLINED;
    }

    if (type->len == 0 || n > NGX_HOOP_AUDIT_MAX_FIELDS) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "hoop audit: event \"%V\" with %ui fields dropped: "
                      "a type and at most %d fields", type, n,
                      NGX_HOOP_AUDIT_MAX_FIELDS);
        ngx_hoop_audit_count(&acf->shm->dropped, 1);
        return NGX_ERROR;
    }

    item = ngx_hoop_audit_record_create(acf->ship, type, fields, n);

    if (item == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "hoop audit: event \"%V\" dropped: no memory", type);
        ngx_hoop_audit_count(&acf->shm->dropped, 1);
        return NGX_ERROR;
    }

    return ngx_hoop_audit_ship_event(acf->ship, item, log);
}


ngx_int_t
ngx_hoop_audit_available(void)
{
    ngx_hoop_audit_conf_t  *acf;

    acf = ngx_hoop_audit_conf((ngx_cycle_t *) ngx_cycle);

    if (acf == NULL || acf->redis == NULL) {
        return NGX_DECLINED;
    }

    if (acf->ship == NULL) {
        return NGX_OK;
    }

    return ngx_hoop_audit_ship_available(acf->ship);
}
