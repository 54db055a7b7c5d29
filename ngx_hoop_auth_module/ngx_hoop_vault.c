
/*
 * ngx_hoop_vault_module: the credential vault.
 *
 *     hoop_vault file=/etc/hoop/secrets.json env=HOOP_SECRET_;
 *
 * Secrets are read while nginx.conf is parsed (start and every reload) and
 * handed out by ngx_hoop_vault_resolve() to the directives that reference
 * them as "vault:NAME".  Once the configuration is read the vault's own
 * copies are wiped: only the resolved copies, owned by the directives that
 * asked for them, stay in memory, and those are wiped when the cycle's pool
 * goes away.  No value is ever written to a log line.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <yajl/yajl_parse.h>
#include "ngx_hoop_auth.h"


#define NGX_HOOP_VAULT_PREFIX         "vault:"
#define NGX_HOOP_VAULT_MAX_FILE       (1024 * 1024)
#define NGX_HOOP_VAULT_MAX_NAME       128


typedef struct {
    ngx_str_t                 name;
    ngx_str_t                 value;
    ngx_uint_t                source;       /* index in sources */
} ngx_hoop_vault_secret_t;


typedef struct {
    ngx_array_t               secrets;      /* of ngx_hoop_vault_secret_t */
    ngx_array_t               sources;      /* of ngx_str_t, for messages */
    ngx_uint_t                references;   /* vault: names resolved */
    u_char                   *ref_file;     /* where the first one was */
    ngx_uint_t                ref_line;
    ngx_flag_t                sealed;       /* nginx.conf read: wiped */
} ngx_hoop_vault_conf_t;


/* state of one JSON file being parsed */
typedef struct {
    ngx_conf_t               *cf;
    ngx_hoop_vault_conf_t    *vcf;
    ngx_uint_t                source;
    ngx_uint_t                depth;
    ngx_uint_t                count;
    ngx_str_t                 key;          /* the name awaiting its value */
    ngx_int_t                 failed;       /* a callback logged an error */
} ngx_hoop_vault_parse_t;


static void *ngx_hoop_vault_create_conf(ngx_cycle_t *cycle);
static char *ngx_hoop_vault_init_conf(ngx_cycle_t *cycle, void *conf);
static char *ngx_hoop_vault(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_hoop_vault_file(ngx_conf_t *cf,
    ngx_hoop_vault_conf_t *vcf, ngx_str_t *path);
static ngx_int_t ngx_hoop_vault_parse(ngx_conf_t *cf,
    ngx_hoop_vault_conf_t *vcf, ngx_uint_t source, u_char *text, size_t len);
static ngx_int_t ngx_hoop_vault_env(ngx_conf_t *cf,
    ngx_hoop_vault_conf_t *vcf, ngx_str_t *prefix);
static ngx_int_t ngx_hoop_vault_add(ngx_conf_t *cf,
    ngx_hoop_vault_conf_t *vcf, ngx_uint_t source, ngx_str_t *name,
    u_char *value, size_t len);
static ngx_int_t ngx_hoop_vault_valid_name(ngx_str_t *name);
static ngx_str_t *ngx_hoop_vault_add_source(ngx_conf_t *cf,
    ngx_hoop_vault_conf_t *vcf, const char *kind, ngx_str_t *what);
static u_char *ngx_hoop_vault_sources_text(ngx_conf_t *cf,
    ngx_hoop_vault_conf_t *vcf);
static void ngx_hoop_vault_wipe(ngx_hoop_vault_conf_t *vcf);
static void ngx_hoop_vault_cleanup(void *data);
static void ngx_hoop_vault_cleanup_str(void *data);

static int ngx_hoop_vault_json_null(void *ctx);
static int ngx_hoop_vault_json_boolean(void *ctx, int value);
static int ngx_hoop_vault_json_number(void *ctx, const char *value,
    size_t len);
static int ngx_hoop_vault_json_string(void *ctx, const unsigned char *value,
    size_t len);
static int ngx_hoop_vault_json_start_map(void *ctx);
static int ngx_hoop_vault_json_map_key(void *ctx, const unsigned char *key,
    size_t len);
static int ngx_hoop_vault_json_end_map(void *ctx);
static int ngx_hoop_vault_json_start_array(void *ctx);
static int ngx_hoop_vault_json_not_string(ngx_hoop_vault_parse_t *p);

static void *ngx_hoop_vault_malloc(void *ctx, size_t size);
static void *ngx_hoop_vault_realloc(void *ctx, void *ptr, size_t size);
static void ngx_hoop_vault_free(void *ctx, void *ptr);


static ngx_command_t  ngx_hoop_vault_commands[] = {

    { ngx_string("hoop_vault"),
      NGX_MAIN_CONF|NGX_DIRECT_CONF|NGX_CONF_1MORE,
      ngx_hoop_vault,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_core_module_t  ngx_hoop_vault_module_ctx = {
    ngx_string("hoop_vault"),
    ngx_hoop_vault_create_conf,
    ngx_hoop_vault_init_conf
};


ngx_module_t  ngx_hoop_vault_module = {
    NGX_MODULE_V1,
    &ngx_hoop_vault_module_ctx,            /* module context */
    ngx_hoop_vault_commands,               /* module directives */
    NGX_CORE_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static yajl_callbacks  ngx_hoop_vault_json_callbacks = {
    ngx_hoop_vault_json_null,
    ngx_hoop_vault_json_boolean,
    NULL,
    NULL,
    ngx_hoop_vault_json_number,
    ngx_hoop_vault_json_string,
    ngx_hoop_vault_json_start_map,
    ngx_hoop_vault_json_map_key,
    ngx_hoop_vault_json_end_map,
    ngx_hoop_vault_json_start_array,
    NULL
};


/*
 * yajl copies strings with escapes into buffers of its own; these
 * allocators wipe every buffer before it is freed, so no secret is left
 * behind in the heap by the parser.
 */

typedef union {
    size_t                    size;
    long double               align1;
    void                     *align2;
} ngx_hoop_vault_chunk_t;


static void *
ngx_hoop_vault_malloc(void *ctx, size_t size)
{
    ngx_hoop_vault_chunk_t  *chunk;

    chunk = malloc(sizeof(ngx_hoop_vault_chunk_t) + size);
    if (chunk == NULL) {
        return NULL;
    }

    chunk->size = size;

    return chunk + 1;
}


static void *
ngx_hoop_vault_realloc(void *ctx, void *ptr, size_t size)
{
    void                    *p;
    ngx_hoop_vault_chunk_t  *chunk;

    p = ngx_hoop_vault_malloc(ctx, size);
    if (p == NULL || ptr == NULL) {
        return p;
    }

    chunk = (ngx_hoop_vault_chunk_t *) ptr - 1;
    ngx_memcpy(p, ptr, ngx_min(size, chunk->size));
    ngx_hoop_vault_free(ctx, ptr);

    return p;
}


static void
ngx_hoop_vault_free(void *ctx, void *ptr)
{
    ngx_hoop_vault_chunk_t  *chunk;

    if (ptr == NULL) {
        return;
    }

    chunk = (ngx_hoop_vault_chunk_t *) ptr - 1;
    OPENSSL_cleanse(ptr, chunk->size);
    free(chunk);
}


static void *
ngx_hoop_vault_create_conf(ngx_cycle_t *cycle)
{
    ngx_pool_cleanup_t     *cln;
    ngx_hoop_vault_conf_t  *vcf;

    vcf = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_vault_conf_t));
    if (vcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&vcf->secrets, cycle->pool, 8,
                       sizeof(ngx_hoop_vault_secret_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (ngx_array_init(&vcf->sources, cycle->pool, 2, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NULL;
    }

    /* a configuration that fails half way is wiped too */

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_hoop_vault_cleanup;
    cln->data = vcf;

    return vcf;
}


static char *
ngx_hoop_vault_init_conf(ngx_cycle_t *cycle, void *conf)
{
    ngx_hoop_vault_conf_t  *vcf = conf;

    /*
     * nginx.conf has been read: every vault: reference is resolved, so the
     * vault's own copies are no longer needed.
     */

    ngx_hoop_vault_wipe(vcf);
    vcf->sealed = 1;

    return NGX_CONF_OK;
}


static char *
ngx_hoop_vault(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_hoop_vault_conf_t  *vcf = conf;

    ngx_str_t   *value, arg;
    ngx_uint_t   i;

    if (vcf->references) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"hoop_vault\" must come before every \"vault:\" "
                           "reference, and one is already resolved in "
                           "%s:%ui: move \"hoop_vault\" to the top of "
                           "nginx.conf",
                           vcf->ref_file, vcf->ref_line);
        return NGX_CONF_ERROR;
    }

    /*
     * "nginx -s reload" parses nginx.conf only to find the pid file: it may
     * run without the vault's environment or read access to its files, and
     * the master checks everything again when it reloads.
     */

    if (ngx_process == NGX_PROCESS_SIGNALLER) {
        return NGX_CONF_OK;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "file=", 5) == 0) {

            arg.len = value[i].len - 5;
            arg.data = value[i].data + 5;

            if (arg.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty file name in \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (ngx_conf_full_name(cf->cycle, &arg, 1) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            if (ngx_hoop_vault_file(cf, vcf, &arg) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "env=", 4) == 0) {

            arg.len = value[i].len - 4;
            arg.data = value[i].data + 4;

            if (ngx_hoop_vault_env(cf, vcf, &arg) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\": expected "
                           "\"file=PATH\" or \"env=PREFIX\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_vault_file(ngx_conf_t *cf, ngx_hoop_vault_conf_t *vcf,
    ngx_str_t *path)
{
    u_char           *text;
    size_t            size = 0, got;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_int_t         rc;
    ngx_uint_t        source, mode;
    ngx_file_info_t   fi;

    if (ngx_hoop_vault_add_source(cf, vcf, "file", path) == NULL) {
        return NGX_ERROR;
    }

    source = vcf->sources.nelts - 1;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open vault file \"%V\"", path);
        return NGX_ERROR;
    }

    text = NULL;
    rc = NGX_ERROR;

    /* checked on the open descriptor: what we check is what we read */

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot stat vault file \"%V\"", path);
        goto done;
    }

    if (!ngx_is_file(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault file \"%V\" is not a regular file", path);
        goto done;
    }

    mode = ngx_file_access(&fi);

    if (mode & (S_IRWXG|S_IRWXO)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault file \"%V\" is accessible by group or "
                           "others (mode 0%c%c%c): refused, make it "
                           "readable by its owner only (chmod 600)",
                           path, '0' + ((mode >> 6) & 7),
                           '0' + ((mode >> 3) & 7), '0' + (mode & 7));
        goto done;
    }

    if (ngx_file_size(&fi) > NGX_HOOP_VAULT_MAX_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault file \"%V\" is larger than %uz bytes",
                           path, (size_t) NGX_HOOP_VAULT_MAX_FILE);
        goto done;
    }

    size = (size_t) ngx_file_size(&fi);

    /* malloc()ed, not pooled, so that it can be wiped and freed at once */

    text = ngx_alloc(size + 1, cf->log);
    if (text == NULL) {
        goto done;
    }

    for (got = 0; got < size; got += n) {
        n = read(fd, text + got, size - got);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                n = 0;
                continue;
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "cannot read vault file \"%V\"", path);
            goto done;
        }

        if (n == 0) {
            break;
        }
    }

    rc = ngx_hoop_vault_parse(cf, vcf, source, text, got);

done:

    if (text) {
        OPENSSL_cleanse(text, size + 1);
        ngx_free(text);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%V\" failed", path);
    }

    return rc;
}


static ngx_int_t
ngx_hoop_vault_parse(ngx_conf_t *cf, ngx_hoop_vault_conf_t *vcf,
    ngx_uint_t source, u_char *text, size_t len)
{
    u_char                  *err, *last;
    ngx_str_t               *name;
    yajl_handle              h;
    yajl_status              status;
    yajl_alloc_funcs         alloc;
    ngx_hoop_vault_parse_t   p;

    name = (ngx_str_t *) vcf->sources.elts + source;

    if (len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault %V is empty: expected a JSON object of "
                           "name/secret strings", name);
        return NGX_ERROR;
    }

    ngx_memzero(&p, sizeof(ngx_hoop_vault_parse_t));
    p.cf = cf;
    p.vcf = vcf;
    p.source = source;

    alloc.malloc = ngx_hoop_vault_malloc;
    alloc.realloc = ngx_hoop_vault_realloc;
    alloc.free = ngx_hoop_vault_free;
    alloc.ctx = NULL;

    h = yajl_alloc(&ngx_hoop_vault_json_callbacks, &alloc, &p);
    if (h == NULL) {
        return NGX_ERROR;
    }

    status = yajl_parse(h, text, len);

    if (status == yajl_status_ok) {
        status = yajl_complete_parse(h);
    }

    if (status != yajl_status_ok) {

        if (!p.failed) {
            /*
             * Not verbose: the verbose form quotes the text around the
             * error, which may be a secret.
             */
            err = yajl_get_error(h, 0, NULL, 0);

            if (err) {
                last = err + ngx_strlen(err);
                while (last > err && (last[-1] == '\n' || last[-1] == ' ')) {
                    last--;
                }
            }

            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "vault %V: invalid JSON at byte %uz: %*s",
                               name, yajl_get_bytes_consumed(h),
                               err ? (size_t) (last - err) : 0,
                               err ? err : (u_char *) "");
            if (err) {
                yajl_free_error(h, err);
            }
        }

        yajl_free(h);
        return NGX_ERROR;
    }

    yajl_free(h);

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, cf->log, 0,
                   "hoop vault: %ui secret(s) from %V", p.count, name);

    return NGX_OK;
}


static int
ngx_hoop_vault_json_null(void *ctx)
{
    return ngx_hoop_vault_json_not_string(ctx);
}


static int
ngx_hoop_vault_json_boolean(void *ctx, int value)
{
    return ngx_hoop_vault_json_not_string(ctx);
}


static int
ngx_hoop_vault_json_number(void *ctx, const char *value, size_t len)
{
    return ngx_hoop_vault_json_not_string(ctx);
}


static int
ngx_hoop_vault_json_start_array(void *ctx)
{
    return ngx_hoop_vault_json_not_string(ctx);
}


static int
ngx_hoop_vault_json_not_string(ngx_hoop_vault_parse_t *p)
{
    ngx_str_t  *name;

    name = (ngx_str_t *) p->vcf->sources.elts + p->source;

    if (p->depth == 1 && p->key.len) {
        ngx_conf_log_error(NGX_LOG_EMERG, p->cf, 0,
                           "vault %V: the value of \"%V\" is not a string",
                           name, &p->key);
    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, p->cf, 0,
                           "vault %V: not a flat JSON object of "
                           "name/secret strings", name);
    }

    p->failed = 1;

    return 0;
}


static int
ngx_hoop_vault_json_start_map(void *ctx)
{
    ngx_hoop_vault_parse_t *p = ctx;

    if (p->depth > 0) {
        return ngx_hoop_vault_json_not_string(p);
    }

    p->depth++;

    return 1;
}


static int
ngx_hoop_vault_json_end_map(void *ctx)
{
    ngx_hoop_vault_parse_t *p = ctx;

    p->depth--;

    return 1;
}


static int
ngx_hoop_vault_json_map_key(void *ctx, const unsigned char *key, size_t len)
{
    ngx_hoop_vault_parse_t *p = ctx;

    ngx_str_t  *source, name;

    source = (ngx_str_t *) p->vcf->sources.elts + p->source;

    name.len = len;
    name.data = (u_char *) key;

    if (ngx_hoop_vault_valid_name(&name) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, p->cf, 0,
                           "vault %V: secret #%ui has an invalid name: "
                           "use 1 to %d letters, digits, \"_\", \"-\" or "
                           "\".\"",
                           source, p->count + 1, NGX_HOOP_VAULT_MAX_NAME);
        p->failed = 1;
        return 0;
    }

    p->key.data = ngx_pnalloc(p->cf->pool, len);
    if (p->key.data == NULL) {
        p->failed = 1;
        return 0;
    }

    ngx_memcpy(p->key.data, key, len);
    p->key.len = len;

    return 1;
}


static int
ngx_hoop_vault_json_string(void *ctx, const unsigned char *value, size_t len)
{
    ngx_hoop_vault_parse_t *p = ctx;

    if (p->depth != 1) {
        return ngx_hoop_vault_json_not_string(p);
    }

    if (ngx_hoop_vault_add(p->cf, p->vcf, p->source, &p->key,
                           (u_char *) value, len)
        != NGX_OK)
    {
        p->failed = 1;
        return 0;
    }

    p->count++;
    ngx_str_null(&p->key);

    return 1;
}


static ngx_int_t
ngx_hoop_vault_env(ngx_conf_t *cf, ngx_hoop_vault_conf_t *vcf,
    ngx_str_t *prefix)
{
    u_char      *eq;
    size_t       len;
    char       **env;
    ngx_str_t    name, *source;
    ngx_uint_t   i, n;

    if (prefix->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "empty prefix in \"env=\": name the variables' "
                           "common prefix, e.g. \"env=HOOP_SECRET_\"");
        return NGX_ERROR;
    }

    for (i = 0; i < prefix->len; i++) {
        if (prefix->data[i] != '_' && !isalnum(prefix->data[i])) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid environment prefix \"%V\": use "
                               "letters, digits and \"_\"", prefix);
            return NGX_ERROR;
        }
    }

    source = ngx_hoop_vault_add_source(cf, vcf, "environment", prefix);
    if (source == NULL) {
        return NGX_ERROR;
    }

    /*
     * Read in the master (or at start): workers see only the variables
     * listed by "env" directives, but the vault is resolved at config time.
     */

    n = 0;

    for (env = environ; *env; env++) {

        if (ngx_strncmp(*env, prefix->data, prefix->len) != 0) {
            continue;
        }

        name.data = (u_char *) *env + prefix->len;

        eq = (u_char *) ngx_strchr(name.data, '=');
        if (eq == NULL) {
            continue;
        }

        name.len = eq - name.data;

        if (ngx_hoop_vault_valid_name(&name) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "vault %V: ignoring a variable whose name "
                               "after the prefix is not a valid secret "
                               "name", source);
            continue;
        }

        len = ngx_strlen(eq + 1);

        if (ngx_hoop_vault_add(cf, vcf, vcf->sources.nelts - 1, &name,
                               eq + 1, len)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        n++;
    }

    if (n == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "vault %V: no variable in nginx's environment "
                           "starts with \"%V\"", source, prefix);
    }

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, cf->log, 0,
                   "hoop vault: %ui secret(s) from %V", n, source);

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_vault_add(ngx_conf_t *cf, ngx_hoop_vault_conf_t *vcf,
    ngx_uint_t source, ngx_str_t *name, u_char *value, size_t len)
{
    ngx_str_t                *sources;
    ngx_uint_t                i;
    ngx_hoop_vault_secret_t  *s;

    sources = vcf->sources.elts;
    s = vcf->secrets.elts;

    for (i = 0; i < vcf->secrets.nelts; i++) {
        if (s[i].name.len == name->len
            && ngx_strncmp(s[i].name.data, name->data, name->len) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "vault secret \"%V\" is defined twice: in "
                               "%V and in %V",
                               name, &sources[s[i].source], &sources[source]);
            return NGX_ERROR;
        }
    }

    if (len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault secret \"%V\" in %V is empty",
                           name, &sources[source]);
        return NGX_ERROR;
    }

    s = ngx_array_push(&vcf->secrets);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(s, sizeof(ngx_hoop_vault_secret_t));

    s->name.data = ngx_pnalloc(cf->pool, name->len);
    s->value.data = ngx_pnalloc(cf->pool, len);

    if (s->name.data == NULL || s->value.data == NULL) {
        vcf->secrets.nelts--;
        return NGX_ERROR;
    }

    s->name.len = name->len;
    ngx_memcpy(s->name.data, name->data, name->len);

    s->value.len = len;
    ngx_memcpy(s->value.data, value, len);

    s->source = source;

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_vault_valid_name(ngx_str_t *name)
{
    u_char      c;
    ngx_uint_t  i;

    if (name->len == 0 || name->len > NGX_HOOP_VAULT_MAX_NAME) {
        return NGX_ERROR;
    }

    for (i = 0; i < name->len; i++) {
        c = name->data[i];

        if (!(isalnum(c) || c == '_' || c == '-' || c == '.')) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_str_t *
ngx_hoop_vault_add_source(ngx_conf_t *cf, ngx_hoop_vault_conf_t *vcf,
    const char *kind, ngx_str_t *what)
{
    size_t      len;
    ngx_str_t  *s;

    s = ngx_array_push(&vcf->sources);
    if (s == NULL) {
        return NULL;
    }

    /* file "/etc/hoop/secrets.json" or environment "HOOP_SECRET_*" */

    len = ngx_strlen(kind) + sizeof(" \"*\"") - 1 + what->len;

    s->data = ngx_pnalloc(cf->pool, len);
    if (s->data == NULL) {
        return NULL;
    }

    s->len = ngx_sprintf(s->data, "%s \"%V%s\"", kind, what,
                         ngx_strcmp(kind, "file") == 0 ? "" : "*")
             - s->data;

    return s;
}


static u_char *
ngx_hoop_vault_sources_text(ngx_conf_t *cf, ngx_hoop_vault_conf_t *vcf)
{
    u_char      *text, *p;
    size_t       len;
    ngx_str_t   *sources;
    ngx_uint_t   i;

    sources = vcf->sources.elts;

    len = 1;

    for (i = 0; i < vcf->sources.nelts; i++) {
        len += sources[i].len + sizeof(", ") - 1;
    }

    text = ngx_pnalloc(cf->temp_pool, len);
    if (text == NULL) {
        return (u_char *) "the vault";
    }

    p = text;

    for (i = 0; i < vcf->sources.nelts; i++) {
        if (i) {
            *p++ = ','; *p++ = ' ';
        }

        p = ngx_cpymem(p, sources[i].data, sources[i].len);
    }

    *p = '\0';

    return text;
}


ngx_int_t
ngx_hoop_vault_resolve(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *secret)
{
    ngx_str_t                 name, *copy;
    ngx_uint_t                i;
    ngx_pool_cleanup_t       *cln;
    ngx_hoop_vault_conf_t    *vcf;
    ngx_hoop_vault_secret_t  *s;

    if (value->len < sizeof(NGX_HOOP_VAULT_PREFIX) - 1
        || ngx_strncmp(value->data, NGX_HOOP_VAULT_PREFIX,
                       sizeof(NGX_HOOP_VAULT_PREFIX) - 1)
           != 0)
    {
        *secret = *value;
        return NGX_OK;
    }

    name.len = value->len - (sizeof(NGX_HOOP_VAULT_PREFIX) - 1);
    name.data = value->data + sizeof(NGX_HOOP_VAULT_PREFIX) - 1;

    vcf = (ngx_hoop_vault_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                                 ngx_hoop_vault_module);

    if (vcf == NULL || vcf->sealed) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault secret \"%V\" asked for after nginx.conf "
                           "was read: secrets are resolved only while "
                           "the configuration is parsed", &name);
        return NGX_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"vault:\" names no secret: write "
                           "\"vault:NAME\"");
        return NGX_ERROR;
    }

    if (ngx_process == NGX_PROCESS_SIGNALLER) {
        /* a stand-in: the signaller serves nothing (see ngx_hoop_vault()) */

        secret->data = ngx_pnalloc(cf->pool, 1);
        if (secret->data == NULL) {
            return NGX_ERROR;
        }

        secret->data[0] = 'x';
        secret->len = 1;

        return NGX_OK;
    }

    if (vcf->references++ == 0) {
        /* no file name: a "-g" directive */
        vcf->ref_file = cf->conf_file->file.name.data
                        ? cf->conf_file->file.name.data
                        : (u_char *) "the -g parameter";
        vcf->ref_line = cf->conf_file->line;
    }

    if (vcf->sources.nelts == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault secret \"%V\" is referenced but no "
                           "\"hoop_vault\" comes before this line: declare "
                           "the vault at nginx's main level, above http{} "
                           "and stream{}", &name);
        return NGX_ERROR;
    }

    s = vcf->secrets.elts;

    for (i = 0; i < vcf->secrets.nelts; i++) {
        if (s[i].name.len == name.len
            && ngx_strncmp(s[i].name.data, name.data, name.len) == 0)
        {
            break;
        }
    }

    if (i == vcf->secrets.nelts) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "vault secret \"%V\" not found (looked in %s)",
                           &name, ngx_hoop_vault_sources_text(cf, vcf));
        return NGX_ERROR;
    }

    /* the caller's copy lives as long as its pool and is wiped with it */

    cln = ngx_pool_cleanup_add(cf->pool, sizeof(ngx_str_t));
    if (cln == NULL) {
        return NGX_ERROR;
    }

    copy = cln->data;

    copy->data = ngx_pnalloc(cf->pool, s[i].value.len);
    if (copy->data == NULL) {
        copy->len = 0;
        return NGX_ERROR;
    }

    copy->len = s[i].value.len;
    ngx_memcpy(copy->data, s[i].value.data, copy->len);

    cln->handler = ngx_hoop_vault_cleanup_str;

    *secret = *copy;

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, cf->log, 0,
                   "hoop vault: resolved \"%V\"", &name);

    return NGX_OK;
}


static void
ngx_hoop_vault_wipe(ngx_hoop_vault_conf_t *vcf)
{
    ngx_uint_t                i;
    ngx_hoop_vault_secret_t  *s;

    s = vcf->secrets.elts;

    for (i = 0; i < vcf->secrets.nelts; i++) {
        if (s[i].value.len) {
            OPENSSL_cleanse(s[i].value.data, s[i].value.len);
            s[i].value.len = 0;
        }
    }
}


static void
ngx_hoop_vault_cleanup(void *data)
{
    ngx_hoop_vault_wipe(data);
}


static void
ngx_hoop_vault_cleanup_str(void *data)
{
    ngx_str_t  *s = data;

    if (s->len) {
        OPENSSL_cleanse(s->data, s->len);
        s->len = 0;
    }
}
