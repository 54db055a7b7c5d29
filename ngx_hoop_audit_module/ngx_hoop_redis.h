
/*
 * ngx_hoop_redis: hiredis' asynchronous API driven by nginx's event loop.
 *
 * One connection per worker: AUTH (and SELECT) on every connect, connect and
 * command timeouts on nginx timers, reconnection with exponential back-off
 * and jitter.  Nothing here blocks the worker: the address is numeric (or a
 * unix socket), resolved when the configuration was read.
 */


#ifndef _NGX_HOOP_REDIS_H_INCLUDED_
#define _NGX_HOOP_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef struct ngx_hoop_redis_s  ngx_hoop_redis_t;


/* what "hoop_redis" configured; lives in the cycle's pool */
typedef struct {
    ngx_str_t               name;           /* "127.0.0.1:6379": for logs */
    u_char                 *host;           /* numeric, NUL-terminated, or
                                               NULL for a unix socket */
    int                     port;
    u_char                 *path;           /* unix socket, NUL-terminated */
    ngx_str_t               user;           /* Redis 6 ACL user, or empty */
    ngx_str_t               password;       /* never logged; may be empty */
    ngx_uint_t              db;
    ngx_msec_t              connect_timeout;    /* connect + AUTH + SELECT */
    ngx_msec_t              command_timeout;    /* no reply for this long */
    ngx_msec_t              backoff_min;
    ngx_msec_t              backoff_max;
} ngx_hoop_redis_conf_t;


/*
 * The connection is usable (on_ready) or gone (on_down: after a failed
 * attempt too).  Both run from the event loop; on_down runs after every
 * outstanding command's handler got its NULL reply.
 */
typedef void (*ngx_hoop_redis_state_pt)(ngx_hoop_redis_t *rd, void *data);

/*
 * A command's reply: a redisReply (possibly REDIS_REPLY_ERROR, freed by
 * hiredis after the handler returns), or NULL when the connection went away
 * before the reply came.  Called exactly once per accepted command.
 */
typedef void (*ngx_hoop_redis_reply_pt)(ngx_hoop_redis_t *rd,
    redisReply *reply, void *data);


ngx_hoop_redis_t *ngx_hoop_redis_create(ngx_hoop_redis_conf_t *conf,
    ngx_pool_t *pool, ngx_log_t *log, ngx_hoop_redis_state_pt on_ready,
    ngx_hoop_redis_state_pt on_down, void *data);

/* start connecting (worker start); failures retry with back-off */
void ngx_hoop_redis_connect(ngx_hoop_redis_t *rd);

/* NGX_OK: queued, the handler will be called; NGX_DECLINED: not ready */
ngx_int_t ngx_hoop_redis_command(ngx_hoop_redis_t *rd, int argc,
    const char **argv, const size_t *argvlen, ngx_hoop_redis_reply_pt handler,
    void *data);

/*
 * SUBSCRIBE to a channel on a connection used for nothing else: the
 * handler gets the "subscribe" confirmation and every message (arrays as
 * Redis sends them), never NULL; on_down reports the loss.  Subscribe
 * again from on_ready after a reconnect.
 */
ngx_int_t ngx_hoop_redis_subscribe(ngx_hoop_redis_t *rd, ngx_str_t *channel,
    ngx_hoop_redis_reply_pt handler, void *data);

ngx_uint_t ngx_hoop_redis_ready(ngx_hoop_redis_t *rd);

/* connect() or the handshake is under way (not yet failed) */
ngx_uint_t ngx_hoop_redis_connecting(ngx_hoop_redis_t *rd);

/* commands sent (or being sent) whose reply has not come yet */
ngx_uint_t ngx_hoop_redis_pending(ngx_hoop_redis_t *rd);

/* give up this connection (a bad reply, say) and reconnect after back-off */
void ngx_hoop_redis_drop(ngx_hoop_redis_t *rd, const char *reason);

/* for good: the worker exits */
void ngx_hoop_redis_close(ngx_hoop_redis_t *rd);


#endif /* _NGX_HOOP_REDIS_H_INCLUDED_ */
