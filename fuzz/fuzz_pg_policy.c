
/*
 * libFuzzer: the statement policy on what a client may send as a Query or
 * Parse text: libpg_query's parser, then the walk over its parse tree
 * (every statement and nested one), the numbers-folded decision key and
 * the decision cache.  The rules are the README's example, set up through
 * the directive handlers as nginx would; the first input byte picks the
 * session (role profile, groups, standard_conforming_strings) and
 * whether the allowlist profile applies.
 */


#include "ngx_hoop_pg_policy.c"


ngx_log_t *ngx_shim_init(void);


static const char  *fuzz_rules[][6] = {
    { "hoop_pg_deny", "statement=set_role,copy_program", NULL },
    { "hoop_pg_deny", "statement=drop,truncate,alter",
      "message=no DDL via the gateway", NULL },
    { "hoop_pg_deny", "where=none", NULL },
    { "hoop_pg_deny", "function=pg_read_file,lo_import,dblink_exec", NULL },
    { "hoop_pg_deny", "relation=billing.invoices", "roles=reader", NULL },
    { "hoop_pg_deny", "relation=secrets", "groups=contractors", NULL },
    { "hoop_pg_allow", "statement=select,explain", "roles=reader", NULL },
};

static ngx_hoop_pg_srv_conf_t  *fuzz_conf;


static ngx_hoop_pg_srv_conf_t *
fuzz_policy(ngx_log_t *log)
{
    ngx_uint_t               i, j;
    ngx_str_t               *arg;
    ngx_conf_t               cf;
    ngx_pool_t              *pool;
    ngx_hoop_pg_srv_conf_t  *main, *srv;

    pool = ngx_create_pool(4096, log);     /* lives as long as the process */

    static ngx_cycle_t  cycle;

    cycle.pool = pool;
    cycle.log = log;

    ngx_memzero(&cf, sizeof(cf));
    cf.cycle = &cycle;
    cf.pool = pool;
    cf.temp_pool = pool;
    cf.log = log;

    main = ngx_pcalloc(pool, sizeof(ngx_hoop_pg_srv_conf_t));
    srv = ngx_pcalloc(pool, sizeof(ngx_hoop_pg_srv_conf_t));

    for (i = 0; i < sizeof(fuzz_rules) / sizeof(fuzz_rules[0]); i++) {
        cf.args = ngx_array_create(pool, 6, sizeof(ngx_str_t));

        for (j = 0; fuzz_rules[i][j]; j++) {
            arg = ngx_array_push(cf.args);
            arg->data = (u_char *) fuzz_rules[i][j];
            arg->len = strlen(fuzz_rules[i][j]);
        }

        if ((fuzz_rules[i][0][8] == 'd'
             ? ngx_hoop_pg_policy_deny(&cf, NULL, i ? srv : main)
             : ngx_hoop_pg_policy_allow(&cf, NULL, srv))
            != NGX_CONF_OK)
        {
            __builtin_trap();
        }
    }

    if (ngx_hoop_pg_policy_merge(&cf, main, srv) != NGX_CONF_OK) {
        __builtin_trap();
    }

    return srv;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                        *sql;
    ngx_str_t                      role, *group;
    ngx_log_t                     *log;
    ngx_pool_t                    *pool;
    ngx_array_t                    groups;
    ngx_hoop_pg_verdict_t          v;
    ngx_hoop_pg_policy_session_t   ps;

    if (size == 0) {
        return 0;
    }

    log = ngx_shim_init();

    if (fuzz_conf == NULL) {
        fuzz_conf = fuzz_policy(log);
    }

    pool = ngx_create_pool(1024, log);

    ngx_memzero(&ps, sizeof(ps));

    if (data[0] & 1) {
        ngx_str_set(&role, "reader");
    } else {
        ngx_str_set(&role, "writer");
    }
    ps.role = &role;

    ngx_array_init(&groups, pool, 2, sizeof(ngx_str_t));
    group = ngx_array_push(&groups);
    if (data[0] & 2) {
        ngx_str_set(group, "contractors");
    } else {
        ngx_str_set(group, "sre");
    }
    ps.groups = (data[0] & 4) ? &groups : NULL;
    ps.std_strings_off = (data[0] & 0x18) == 0x18;
    ps.encoding_not_utf8 = (data[0] & 0x60) == 0x60;

    /* as in the message buffer: exactly the statement's bytes */
    sql = ngx_palloc(pool, size - 1);
    ngx_memcpy(sql, data + 1, size - 1);

    (void) ngx_hoop_pg_policy_check(fuzz_conf->policy, &ps, sql, size - 1,
                                    pool, log, &v);

    if (data[0] & 0x80) {
        (void) ngx_hoop_pg_policy_check_call(fuzz_conf->policy, &ps,
                                             size, pool, log, &v);
    }

    ngx_destroy_pool(pool);
    return 0;
}
