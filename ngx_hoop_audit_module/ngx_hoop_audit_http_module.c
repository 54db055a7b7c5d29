
/*
 * ngx_hoop_audit_http_module: the HTTP side of the audit trail.
 *
 *   hoop_audit_http on|off;       an "http.request" event per request, in
 *                                 the log phase
 *   hoop_audit_http_args on|off;  ... with the query string in "uri"
 *   hoop_audit_status;            the counters as JSON
 *
 * The identity comes from the auth module's variables ($hoop_user, ...),
 * looked up by name at run time: no symbol of the auth module is needed,
 * and a request without hoop_auth simply has none.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "ngx_hoop_audit_int.h"


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  args;
} ngx_hoop_audit_http_loc_conf_t;


/* an event field read from a variable */
typedef struct {
    ngx_str_t                   field;
    ngx_str_t                   variable;
    ngx_uint_t                  key;
} ngx_hoop_audit_http_var_t;


typedef struct {
    ngx_hoop_audit_http_var_t  *vars;
    ngx_uint_t                  nvars;
} ngx_hoop_audit_http_main_conf_t;


static ngx_int_t ngx_hoop_audit_http_log_handler(ngx_http_request_t *r);
static ngx_int_t ngx_hoop_audit_status_handler(ngx_http_request_t *r);
static void *ngx_hoop_audit_http_create_main_conf(ngx_conf_t *cf);
static void *ngx_hoop_audit_http_create_loc_conf(ngx_conf_t *cf);
static char *ngx_hoop_audit_http_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_hoop_audit_status(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_hoop_audit_http_init(ngx_conf_t *cf);


/* field name, variable name */
static const char  *ngx_hoop_audit_http_vars[][2] = {
    { "request_id", "request_id" },
    { "sub", "hoop_subject" },
    { "user", "hoop_user" },
    { "email", "hoop_email" },
    { "groups", "hoop_groups" },
    { "token_id", "hoop_token_id" },
    { NULL, NULL }
};


static ngx_command_t  ngx_hoop_audit_http_commands[] = {

    { ngx_string("hoop_audit_http"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_audit_http_loc_conf_t, enable),
      NULL },

    { ngx_string("hoop_audit_http_args"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_hoop_audit_http_loc_conf_t, args),
      NULL },

    { ngx_string("hoop_audit_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_hoop_audit_status,
      0,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_hoop_audit_http_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_hoop_audit_http_init,              /* postconfiguration */

    ngx_hoop_audit_http_create_main_conf,  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_hoop_audit_http_create_loc_conf,   /* create location configuration */
    ngx_hoop_audit_http_merge_loc_conf     /* merge location configuration */
};


ngx_module_t  ngx_hoop_audit_http_module = {
    NGX_MODULE_V1,
    &ngx_hoop_audit_http_module_ctx,       /* module context */
    ngx_hoop_audit_http_commands,          /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_HOOP_AUDIT_HTTP_FIELDS  16


static ngx_int_t
ngx_hoop_audit_http_log_handler(ngx_http_request_t *r)
{
    u_char                           *p;
    ngx_msec_int_t                    ms;
    ngx_uint_t                        n, i, status;
    ngx_time_t                       *tp;
    ngx_str_t                         type, uri;
    ngx_http_variable_value_t        *vv;
    ngx_hoop_audit_http_var_t        *var;
    ngx_hoop_audit_field_t            f[NGX_HOOP_AUDIT_HTTP_FIELDS];
    ngx_hoop_audit_http_loc_conf_t   *alcf;
    ngx_hoop_audit_http_main_conf_t  *amcf;
    u_char                            status_text[NGX_INT_T_LEN];
    u_char                            sent_text[NGX_OFF_T_LEN];
    u_char                            received_text[NGX_OFF_T_LEN];
    u_char                            ms_text[NGX_INT_T_LEN];

    if (r != r->main) {
        return NGX_OK;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_hoop_audit_http_module);

    if (!alcf->enable) {
        return NGX_OK;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_hoop_audit_http_module);

    n = 0;

    ngx_str_set(&f[n].name, "method");
    f[n++].value = r->method_name;

    /* the query string may carry tokens: only on request */

    uri = r->unparsed_uri;

    if (!alcf->args) {
        p = ngx_strlchr(uri.data, uri.data + uri.len, '?');

        if (p) {
            uri.len = p - uri.data;
        }
    }

    ngx_str_set(&f[n].name, "uri");
    f[n++].value = uri;

    status = r->err_status ? r->err_status : r->headers_out.status;

    ngx_str_set(&f[n].name, "status");
    f[n].value.data = status_text;
    f[n++].value.len = ngx_sprintf(status_text, "%ui", status) - status_text;

    ngx_str_set(&f[n].name, "bytes_sent");
    f[n].value.data = sent_text;
    f[n++].value.len = ngx_sprintf(sent_text, "%O", r->connection->sent)
                       - sent_text;

    ngx_str_set(&f[n].name, "bytes_received");
    f[n].value.data = received_text;
    f[n++].value.len = ngx_sprintf(received_text, "%O", r->request_length)
                       - received_text;

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));
    ms = ngx_max(ms, 0);

    ngx_str_set(&f[n].name, "duration_ms");
    f[n].value.data = ms_text;
    f[n++].value.len = ngx_sprintf(ms_text, "%M", ms) - ms_text;

    ngx_str_set(&f[n].name, "client");
    f[n++].value = r->connection->addr_text;

    if (r->headers_in.server.len) {
        ngx_str_set(&f[n].name, "server");
        f[n++].value = r->headers_in.server;
    }

    var = amcf->vars;

    for (i = 0; i < amcf->nvars && n < NGX_HOOP_AUDIT_HTTP_FIELDS; i++) {
        vv = ngx_http_get_variable(r, &var[i].variable, var[i].key);

        if (vv == NULL || vv->not_found || vv->len == 0) {
            continue;
        }

        f[n].name = var[i].field;
        f[n].value.data = vv->data;
        f[n++].value.len = vv->len;
    }

    ngx_str_set(&type, "http.request");

    (void) ngx_hoop_audit_event(r->connection->log, &type, f, n);

    return NGX_OK;
}


static ngx_int_t
ngx_hoop_audit_status_handler(ngx_http_request_t *r)
{
    size_t                  len;
    u_char                 *p;
    ngx_int_t               rc;
    ngx_buf_t              *b;
    ngx_chain_t             out;
    ngx_hoop_audit_shm_t   *shm;
    ngx_hoop_audit_conf_t  *acf;
    ngx_hoop_audit_ship_t  *ship;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    acf = ngx_hoop_audit_conf((ngx_cycle_t *) ngx_cycle);

    if (acf == NULL || acf->redis == NULL || acf->shm == NULL) {
        len = sizeof("{\"enabled\":false}\n") - 1;

    } else {
        len = sizeof("{\"enabled\":true,\"redis\":\"\",\"connected\":false,"
                     "\"stream\":\"\",\"sent\":,\"spooled\":,\"replayed\":,"
                     "\"dropped\":,\"corrupt\":,\"spool\":\"\","
                     "\"spool_bytes\":,\"spool_max\":,"
                     "\"worker\":{\"pid\":,\"queued\":,\"inflight\":,"
                     "\"spool_files\":}}\n")
              + ngx_escape_json(NULL, acf->redis->name.data,
                                acf->redis->name.len)
              + acf->redis->name.len
              + ngx_escape_json(NULL, acf->stream.data, acf->stream.len)
              + acf->stream.len
              + ngx_escape_json(NULL, acf->spool.data, acf->spool.len)
              + acf->spool.len
              + 8 * NGX_ATOMIC_T_LEN + 4 * NGX_INT_T_LEN;
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    if (acf == NULL || acf->redis == NULL || acf->shm == NULL) {
        p = ngx_cpymem(p, "{\"enabled\":false}\n",
                       sizeof("{\"enabled\":false}\n") - 1);

    } else {
        shm = acf->shm;
        ship = acf->ship;

        p = ngx_cpymem(p, "{\"enabled\":true,\"redis\":\"",
                       sizeof("{\"enabled\":true,\"redis\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, acf->redis->name.data,
                                       acf->redis->name.len);
        p = ngx_sprintf(p, "\",\"connected\":%s,\"stream\":\"",
                        ship && ngx_hoop_audit_ship_connected(ship)
                        ? "true" : "false");
        p = (u_char *) ngx_escape_json(p, acf->stream.data, acf->stream.len);
        p = ngx_sprintf(p, "\",\"sent\":%uA,\"spooled\":%uA,"
                        "\"replayed\":%uA,\"dropped\":%uA,\"corrupt\":%uA,"
                        "\"spool\":\"",
                        shm->sent, shm->spooled, shm->replayed, shm->dropped,
                        shm->corrupt);
        p = (u_char *) ngx_escape_json(p, acf->spool.data, acf->spool.len);
        p = ngx_sprintf(p, "\",\"spool_bytes\":%uA,\"spool_max\":%O,"
                        "\"worker\":{\"pid\":%P,\"queued\":%ui,"
                        "\"inflight\":%ui,\"spool_files\":%ui}}\n",
                        shm->spool_bytes, acf->spool_max, ngx_pid,
                        ship ? ship->queued : 0,
                        ship ? ship->ninflight : 0,
                        ship ? ship->nsegments : 0);
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    r->headers_out.last_modified_time = -1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static void *
ngx_hoop_audit_http_create_main_conf(ngx_conf_t *cf)
{
    return ngx_pcalloc(cf->pool, sizeof(ngx_hoop_audit_http_main_conf_t));
}


static void *
ngx_hoop_audit_http_create_loc_conf(ngx_conf_t *cf)
{
    ngx_hoop_audit_http_loc_conf_t  *conf;

    conf = ngx_palloc(cf->pool, sizeof(ngx_hoop_audit_http_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enable = NGX_CONF_UNSET;
    conf->args = NGX_CONF_UNSET;

    return conf;
}


static char *
ngx_hoop_audit_http_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_hoop_audit_http_loc_conf_t *prev = parent;
    ngx_hoop_audit_http_loc_conf_t *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->args, prev->args, 0);

    return NGX_CONF_OK;
}


static char *
ngx_hoop_audit_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "conflicts with another content handler";
    }

    clcf->handler = ngx_hoop_audit_status_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_hoop_audit_http_init(ngx_conf_t *cf)
{
    ngx_uint_t                        i, n;
    ngx_http_handler_pt              *h;
    ngx_http_core_main_conf_t        *cmcf;
    ngx_hoop_audit_http_var_t        *var;
    ngx_hoop_audit_http_main_conf_t  *amcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_hoop_audit_http_log_handler;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_hoop_audit_http_module);

    for (n = 0; ngx_hoop_audit_http_vars[n][0]; n++) { /* void */ }

    var = ngx_pcalloc(cf->pool, n * sizeof(ngx_hoop_audit_http_var_t));
    if (var == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        var[i].field.data = (u_char *) ngx_hoop_audit_http_vars[i][0];
        var[i].field.len = ngx_strlen(var[i].field.data);
        var[i].variable.data = (u_char *) ngx_hoop_audit_http_vars[i][1];
        var[i].variable.len = ngx_strlen(var[i].variable.data);
        var[i].key = ngx_hash_key(var[i].variable.data, var[i].variable.len);
    }

    amcf->vars = var;
    amcf->nvars = n;

    return NGX_OK;
}
