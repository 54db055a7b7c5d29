
/*
 * The sessions index: besides its XADD, each event that carries a
 * "session_id" is appended to the list hoop:session:<id> (what hoop_api
 * replays), and the zset hoop:sessions orders sessions by their latest
 * login, open or close.
 *
 * The events one pump sends are gathered per session and appended with one
 * RPUSH per session: Redis spends about half as much per event on a list
 * append that carries several.  The commands follow the pump's XADDs on the
 * same connection, so a session's list is in the order of the stream.  A
 * resent event may appear twice; readers drop repeated "eid"s.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_hoop_review_int.h"


#define NGX_HOOP_SESSIONS_BATCH          32     /* sessions per pump */
#define NGX_HOOP_SESSIONS_BATCH_EVENTS   256    /* events per pump */
#define NGX_HOOP_SESSION_ID_MAX          128


typedef struct {
    u_char                      key[sizeof(NGX_HOOP_SESSION_KEY) - 1
                                    + NGX_HOOP_SESSION_ID_MAX];
    size_t                      key_len;
    ngx_int_t                   first;      /* events[], linked by next */
    ngx_int_t                   last;
    ngx_uint_t                  nevents;
    u_char                      time[NGX_INT64_LEN];
    size_t                      time_len;   /* 0: no bounds to set */
} ngx_hoop_audit_session_push_t;


typedef struct {
    u_char                     *payload;
    size_t                      len;
    ngx_int_t                   next;
} ngx_hoop_audit_session_event_t;


struct ngx_hoop_audit_sessions_s {
    ngx_hoop_redis_t                *redis;
    ngx_msec_t                       swept;     /* hoop:sessions, last */
    ngx_uint_t                       npushes;
    ngx_uint_t                       nevents;
    ngx_hoop_audit_session_push_t    push[NGX_HOOP_SESSIONS_BATCH];
    ngx_hoop_audit_session_event_t   event[NGX_HOOP_SESSIONS_BATCH_EVENTS];
};


static void ngx_hoop_audit_sessions_reply(ngx_hoop_redis_t *rd,
    redisReply *reply, void *data);
static ngx_int_t ngx_hoop_audit_sessions_bounds(
    ngx_hoop_audit_sessions_t *ss, ngx_hoop_audit_session_push_t *p,
    ngx_hoop_redis_reply_pt handler, void *data);


ngx_hoop_audit_sessions_t *
ngx_hoop_audit_sessions_create(ngx_pool_t *pool, ngx_hoop_redis_t *redis)
{
    ngx_hoop_audit_sessions_t  *ss;

    ss = ngx_pcalloc(pool, sizeof(ngx_hoop_audit_sessions_t));
    if (ss == NULL) {
        return NULL;
    }

    ss->redis = redis;

    return ss;
}


/*
 * An event just XADDed (argv/argvlen: its n field names and values): 1 if
 * it goes into its session's list with the next flush, 0 if it has no
 * session or there is no room (see ngx_hoop_audit_sessions_full).  The
 * payload must stay where it is until ngx_hoop_audit_sessions_flush().
 */

ngx_uint_t
ngx_hoop_audit_sessions_add(ngx_hoop_audit_sessions_t *ss,
    const char **argv, size_t *argvlen, ngx_uint_t n, u_char *payload,
    size_t len)
{
    size_t                            klen;
    ngx_uint_t                        i, s, t, y, bounds;
    ngx_hoop_audit_session_push_t    *p;
    ngx_hoop_audit_session_event_t   *e;

    s = n;
    t = n;
    y = n;

    for (i = 0; i + 1 < n; i += 2) {
        if (argvlen[i] == 10 && ngx_strncmp(argv[i], "session_id", 10) == 0) {
            s = i + 1;

        } else if (argvlen[i] == 4 && ngx_strncmp(argv[i], "time", 4) == 0) {
            t = i + 1;

        } else if (argvlen[i] == 4 && ngx_strncmp(argv[i], "type", 4) == 0) {
            y = i + 1;
        }
    }

    if (s == n || t == n || y == n || argvlen[s] == 0
        || argvlen[s] > NGX_HOOP_SESSION_ID_MAX
        || argvlen[t] > NGX_INT64_LEN)
    {
        return 0;
    }

    if (ss->npushes == NGX_HOOP_SESSIONS_BATCH
        || ss->nevents == NGX_HOOP_SESSIONS_BATCH_EVENTS)
    {
        return 0;               /* full: the caller flushes, then adds */
    }

    klen = sizeof(NGX_HOOP_SESSION_KEY) - 1 + argvlen[s];

    for (i = 0; i < ss->npushes; i++) {
        p = &ss->push[i];

        if (p->key_len == klen
            && ngx_memcmp(p->key + sizeof(NGX_HOOP_SESSION_KEY) - 1, argv[s],
                          argvlen[s])
               == 0)
        {
            goto found;
        }
    }

    p = &ss->push[ss->npushes++];

    ngx_memcpy(ngx_cpymem(p->key, NGX_HOOP_SESSION_KEY,
                          sizeof(NGX_HOOP_SESSION_KEY) - 1),
               argv[s], argvlen[s]);
    p->key_len = klen;
    p->first = -1;
    p->last = -1;
    p->nevents = 0;
    p->time_len = 0;

found:

    e = &ss->event[ss->nevents];
    e->payload = payload;
    e->len = len;
    e->next = -1;

    if (p->last >= 0) {
        ss->event[p->last].next = ss->nevents;

    } else {
        p->first = ss->nevents;
    }

    p->last = ss->nevents++;
    p->nevents++;

    /*
     * The bounds (length, lifetime) and the sessions index are set by a
     * session's login, open and close events and, for long sessions, by
     * one statement in 256 picked at random.
     */

    bounds = (argvlen[y] >= 8 && ngx_strncmp(argv[y], "session.", 8) == 0)
             || (argvlen[y] >= 5 && ngx_strncmp(argv[y], "auth.", 5) == 0)
             || ngx_random() % 256 == 0;

    if (bounds) {
        ngx_memcpy(p->time, argv[t], argvlen[t]);
        p->time_len = argvlen[t];
    }

    return 1;
}


/* 1 when the next add would find no room */

ngx_uint_t
ngx_hoop_audit_sessions_full(ngx_hoop_audit_sessions_t *ss)
{
    return ss->npushes == NGX_HOOP_SESSIONS_BATCH
           || ss->nevents == NGX_HOOP_SESSIONS_BATCH_EVENTS;
}


/*
 * One RPUSH per session for what this pump sent, then the bounds.  The last
 * command's reply goes to handler: Redis has applied every command before
 * it by then.  1 if that command went out (its reply will come), 0 if it
 * did not or there was nothing to send.
 */

ngx_uint_t
ngx_hoop_audit_sessions_flush(ngx_hoop_audit_sessions_t *ss,
    ngx_hoop_redis_reply_pt handler, void *data)
{
    size_t                           a[2 + NGX_HOOP_SESSIONS_BATCH_EVENTS];
    ngx_int_t                        j, rc;
    ngx_uint_t                       i, argc, last;
    const char                      *v[2 + NGX_HOOP_SESSIONS_BATCH_EVENTS];
    ngx_hoop_audit_session_push_t   *p;

    rc = NGX_DECLINED;

    if (handler == NULL) {
        handler = ngx_hoop_audit_sessions_reply;
    }

    for (i = 0; i < ss->npushes; i++) {
        p = &ss->push[i];

        v[0] = "RPUSH"; a[0] = 5;
        v[1] = (const char *) p->key; a[1] = p->key_len;
        argc = 2;

        for (j = p->first; j >= 0; j = ss->event[j].next) {
            v[argc] = (const char *) ss->event[j].payload;
            a[argc++] = ss->event[j].len;
        }

        last = (i + 1 == ss->npushes);

        if (p->time_len == 0) {
            rc = ngx_hoop_redis_command(ss->redis, argc, v, a,
                                        last ? handler
                                             : ngx_hoop_audit_sessions_reply,
                                        last ? data : NULL);
            continue;
        }

        (void) ngx_hoop_redis_command(ss->redis, argc, v, a,
                                      ngx_hoop_audit_sessions_reply, NULL);

        rc = ngx_hoop_audit_sessions_bounds(ss, p, last ? handler : NULL,
                                            last ? data : NULL);
    }

    ss->npushes = 0;
    ss->nevents = 0;

    return rc == NGX_OK;
}


/* the list's length and lifetime, the sessions index: handler gets the
 * last command's reply; what that command's sending returned */

static ngx_int_t
ngx_hoop_audit_sessions_bounds(ngx_hoop_audit_sessions_t *ss,
    ngx_hoop_audit_session_push_t *p, ngx_hoop_redis_reply_pt handler,
    void *data)
{
    u_char       keep[NGX_INT64_LEN + 2];
    size_t       a[4];
    ngx_uint_t   sweep;
    const char  *v[4];

    if (handler == NULL) {
        handler = ngx_hoop_audit_sessions_reply;
    }

    /* forget sessions whose lists have expired: once a minute at most */
    sweep = (ss->swept == 0
             || ngx_current_msec - ss->swept >= NGX_HOOP_SESSIONS_SWEEP);

    v[0] = "LTRIM"; a[0] = 5;
    v[1] = (const char *) p->key; a[1] = p->key_len;
    v[2] = (const char *) keep;
    a[2] = ngx_sprintf(keep, "-%d", NGX_HOOP_SESSION_MAX_EVENTS) - keep;
    v[3] = "-1"; a[3] = 2;
    (void) ngx_hoop_redis_command(ss->redis, 4, v, a,
                                  ngx_hoop_audit_sessions_reply, NULL);

    v[0] = "EXPIRE"; a[0] = 6;
    v[2] = NGX_HOOP_SESSION_TTL; a[2] = sizeof(NGX_HOOP_SESSION_TTL) - 1;
    (void) ngx_hoop_redis_command(ss->redis, 3, v, a,
                                  ngx_hoop_audit_sessions_reply, NULL);

    v[0] = "ZADD"; a[0] = 4;
    v[1] = NGX_HOOP_SESSIONS_INDEX;
    a[1] = sizeof(NGX_HOOP_SESSIONS_INDEX) - 1;
    v[2] = (const char *) p->time; a[2] = p->time_len;
    v[3] = (const char *) p->key + sizeof(NGX_HOOP_SESSION_KEY) - 1;
    a[3] = p->key_len - (sizeof(NGX_HOOP_SESSION_KEY) - 1);

    if (!sweep) {
        return ngx_hoop_redis_command(ss->redis, 4, v, a, handler, data);
    }

    (void) ngx_hoop_redis_command(ss->redis, 4, v, a,
                                  ngx_hoop_audit_sessions_reply, NULL);

    ss->swept = ngx_current_msec;

    v[0] = "ZREMRANGEBYSCORE"; a[0] = 16;
    v[2] = "-inf"; a[2] = 4;
    v[3] = (const char *) keep;
    a[3] = ngx_sprintf(keep, "(%M",
                       ngx_hoop_review_now()
                       - (ngx_msec_t) NGX_HOOP_SESSION_TTL_SEC * 1000)
           - keep;

    return ngx_hoop_redis_command(ss->redis, 4, v, a, handler, data);
}


static void
ngx_hoop_audit_sessions_reply(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data)
{
    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "hoop audit: session index: %*s",
                      (size_t) reply->len, reply->str);
    }
}
