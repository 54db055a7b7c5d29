
/*
 * ngx_hoop_redis: an nginx event-loop adapter for hiredis 0.14 async.
 *
 * hiredis owns the socket (it connects, reads, writes and closes it); nginx
 * watches it through a connection taken with ngx_get_connection().  The
 * teardown frees that connection without closing the descriptor: hiredis
 * closes it right after its cleanup hook returns.
 *
 * hiredis 0.14 traps handled here (see shared/FIELD-NOTES.md §4): one
 * redisAsyncHandleRead() reads at most 16 KiB, so under edge-triggered epoll
 * the read handler loops while the socket has bytes; a write hook on an
 * already registered, already writable socket gets no new edge, so it posts
 * the write event instead; there are no timeouts in the library, so nginx
 * timers cover connect and replies; on a failed connect hiredis calls
 * onConnect(REDIS_ERR) and frees the context without onDisconnect, so the
 * cleanup hook is the one place that learns about every teardown.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <sys/ioctl.h>
#include <hiredis/sds.h>
#include "ngx_hoop_redis.h"


/* 64 x 16 KiB per event before yielding to other connections */
#define NGX_HOOP_REDIS_READ_ROUNDS  64


typedef enum {
    ngx_hoop_redis_st_idle = 0,
    ngx_hoop_redis_st_connecting,   /* connect() in progress */
    ngx_hoop_redis_st_handshake,    /* AUTH, SELECT, PING sent */
    ngx_hoop_redis_st_ready,
    ngx_hoop_redis_st_dropping,     /* freed from inside a callback */
    ngx_hoop_redis_st_backoff,      /* waiting to reconnect */
    ngx_hoop_redis_st_closed        /* the worker exits */
} ngx_hoop_redis_state_e;


/* the RESP buffer is kept for the next command up to this size */
#define NGX_HOOP_REDIS_RESP_KEEP  (256 * 1024)


typedef struct ngx_hoop_redis_cmd_s  ngx_hoop_redis_cmd_t;

struct ngx_hoop_redis_cmd_s {
    ngx_hoop_redis_t           *rd;
    ngx_hoop_redis_reply_pt     handler;
    void                       *data;
    ngx_hoop_redis_cmd_t       *next;       /* in the free list */
};


struct ngx_hoop_redis_s {
    ngx_hoop_redis_conf_t      *conf;
    redisAsyncContext          *ac;
    ngx_connection_t           *conn;
    ngx_pool_t                 *pool;
    ngx_log_t                  *log;

    ngx_hoop_redis_state_e      state;
    ngx_uint_t                  attempts;   /* failures in a row */
    ngx_uint_t                  pending;    /* replies awaited */
    ngx_uint_t                  handshake;  /* handshake replies awaited */
    unsigned                    failing:1;  /* the last attempt failed */
    unsigned                    writing:1;  /* inside HandleWrite */

    ngx_hoop_redis_cmd_t       *free;
    ngx_hoop_redis_cmd_t        sub;        /* the SUBSCRIBE callback */

    u_char                     *resp;       /* a command in RESP, built */
    size_t                      resp_size;  /*   here (see format) */

    ngx_event_t                 connect_timer;
    ngx_event_t                 command_timer;
    ngx_event_t                 backoff_timer;
    ngx_event_t                 drop_event;     /* posted */

    ngx_hoop_redis_state_pt     on_ready;
    ngx_hoop_redis_state_pt     on_down;
    void                       *data;
};


static void ngx_hoop_redis_attempt(ngx_hoop_redis_t *rd);
static void ngx_hoop_redis_on_connect(const redisAsyncContext *ac,
    int status);
static ngx_int_t ngx_hoop_redis_handshake(ngx_hoop_redis_t *rd);
static void ngx_hoop_redis_handshake_reply(ngx_hoop_redis_t *rd,
    redisReply *reply, void *data);
static ngx_int_t ngx_hoop_redis_send(ngx_hoop_redis_t *rd, int argc,
    const char **argv, const size_t *argvlen, ngx_hoop_redis_reply_pt handler,
    void *data);
static u_char *ngx_hoop_redis_format(ngx_hoop_redis_t *rd, int argc,
    const char **argv, const size_t *argvlen, size_t *len);
static u_char *ngx_hoop_redis_decimal(u_char *p, size_t n);
static void ngx_hoop_redis_on_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_hoop_redis_on_message(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_hoop_redis_schedule(ngx_hoop_redis_t *rd);
static ngx_uint_t ngx_hoop_redis_log_level(ngx_hoop_redis_t *rd);

static void ngx_hoop_redis_read_handler(ngx_event_t *rev);
static void ngx_hoop_redis_write_handler(ngx_event_t *wev);
static void ngx_hoop_redis_connect_timeout(ngx_event_t *ev);
static void ngx_hoop_redis_command_timeout(ngx_event_t *ev);
static void ngx_hoop_redis_backoff_handler(ngx_event_t *ev);
static void ngx_hoop_redis_drop_handler(ngx_event_t *ev);

static void ngx_hoop_redis_add_read(void *privdata);
static void ngx_hoop_redis_del_read(void *privdata);
static void ngx_hoop_redis_add_write(void *privdata);
static void ngx_hoop_redis_del_write(void *privdata);
static void ngx_hoop_redis_cleanup(void *privdata);
static void ngx_hoop_redis_watch(ngx_hoop_redis_t *rd, ngx_event_t *ev,
    ngx_int_t event);
static void ngx_hoop_redis_free_connection(ngx_connection_t *c);


ngx_hoop_redis_t *
ngx_hoop_redis_create(ngx_hoop_redis_conf_t *conf, ngx_pool_t *pool,
    ngx_log_t *log, ngx_hoop_redis_state_pt on_ready,
    ngx_hoop_redis_state_pt on_down, void *data)
{
    ngx_hoop_redis_t  *rd;

    rd = ngx_pcalloc(pool, sizeof(ngx_hoop_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = conf;
    rd->pool = pool;
    rd->log = log;
    rd->on_ready = on_ready;
    rd->on_down = on_down;
    rd->data = data;

    rd->connect_timer.handler = ngx_hoop_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = log;
    rd->connect_timer.cancelable = 1;

    /*
     * Not cancelable: a worker that quits gracefully waits (at most
     * command_timeout) for the replies to what it already sent, so those
     * events are not spooled and sent a second time.
     */
    rd->command_timer.handler = ngx_hoop_redis_command_timeout;
    rd->command_timer.data = rd;
    rd->command_timer.log = log;

    rd->backoff_timer.handler = ngx_hoop_redis_backoff_handler;
    rd->backoff_timer.data = rd;
    rd->backoff_timer.log = log;
    rd->backoff_timer.cancelable = 1;

    rd->drop_event.handler = ngx_hoop_redis_drop_handler;
    rd->drop_event.data = rd;
    rd->drop_event.log = log;

    return rd;
}


void
ngx_hoop_redis_connect(ngx_hoop_redis_t *rd)
{
    if (rd->state == ngx_hoop_redis_st_idle) {
        ngx_hoop_redis_attempt(rd);
    }
}


ngx_uint_t
ngx_hoop_redis_ready(ngx_hoop_redis_t *rd)
{
    return rd->state == ngx_hoop_redis_st_ready;
}


ngx_uint_t
ngx_hoop_redis_connecting(ngx_hoop_redis_t *rd)
{
    return rd->state == ngx_hoop_redis_st_connecting
           || rd->state == ngx_hoop_redis_st_handshake;
}


ngx_uint_t
ngx_hoop_redis_pending(ngx_hoop_redis_t *rd)
{
    return rd->pending;
}


ngx_int_t
ngx_hoop_redis_command(ngx_hoop_redis_t *rd, int argc, const char **argv,
    const size_t *argvlen, ngx_hoop_redis_reply_pt handler, void *data)
{
    if (rd->state != ngx_hoop_redis_st_ready) {
        return NGX_DECLINED;
    }

    return ngx_hoop_redis_send(rd, argc, argv, argvlen, handler, data);
}


void
ngx_hoop_redis_drop(ngx_hoop_redis_t *rd, const char *reason)
{
    if (rd->ac == NULL
        || rd->state == ngx_hoop_redis_st_dropping
        || rd->state == ngx_hoop_redis_st_closed)
    {
        return;
    }

    if (reason) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "hoop redis: %s on %V, reconnecting", reason,
                      &rd->conf->name);
    }

    rd->state = ngx_hoop_redis_st_dropping;
    rd->failing = 1;

    /* inside a hiredis callback this only marks the context: hiredis frees
     * it (and calls our cleanup hook) once the callback returns */
    redisAsyncFree(rd->ac);
}


void
ngx_hoop_redis_close(ngx_hoop_redis_t *rd)
{
    rd->state = ngx_hoop_redis_st_closed;

    if (rd->backoff_timer.timer_set) {
        ngx_del_timer(&rd->backoff_timer);
    }

    if (rd->drop_event.posted) {
        ngx_delete_posted_event(&rd->drop_event);
    }

    if (rd->ac) {
        redisAsyncFree(rd->ac);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->command_timer.timer_set) {
        ngx_del_timer(&rd->command_timer);
    }

    if (rd->resp) {
        ngx_free(rd->resp);
        rd->resp = NULL;
        rd->resp_size = 0;
    }
}


static void
ngx_hoop_redis_attempt(ngx_hoop_redis_t *rd)
{
    ngx_connection_t       *c;
    redisAsyncContext      *ac;
    ngx_hoop_redis_conf_t  *conf;

    conf = rd->conf;
    rd->state = ngx_hoop_redis_st_connecting;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "hoop redis: connecting to %V", &conf->name);

    /* numeric address or unix socket: hiredis' getaddrinfo() needs no DNS */
    if (conf->host) {
        ac = redisAsyncConnect((char *) conf->host, conf->port);

    } else {
        ac = redisAsyncConnectUnix((char *) conf->path);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "hoop redis: no memory for a connection to %V",
                      &conf->name);
        goto failed;
    }

    if (ac->err) {
        ngx_log_error(ngx_hoop_redis_log_level(rd), rd->log, 0,
                      "hoop redis: cannot connect to %V: %s",
                      &conf->name, ac->c.errstr);
        redisAsyncFree(ac);
        goto failed;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        redisAsyncFree(ac);
        goto failed;
    }

    c->data = rd;
    c->read->handler = ngx_hoop_redis_read_handler;
    c->write->handler = ngx_hoop_redis_write_handler;
    c->read->log = rd->log;
    c->write->log = rd->log;

    rd->ac = ac;
    rd->conn = c;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = ngx_hoop_redis_add_read;
    ac->ev.delRead = ngx_hoop_redis_del_read;
    ac->ev.addWrite = ngx_hoop_redis_add_write;
    ac->ev.delWrite = ngx_hoop_redis_del_write;
    ac->ev.cleanup = ngx_hoop_redis_cleanup;

    ngx_add_timer(&rd->connect_timer, conf->connect_timeout);

    /* watches for writability: the connect() result */
    (void) redisAsyncSetConnectCallback(ac, ngx_hoop_redis_on_connect);

    return;

failed:

    rd->failing = 1;
    ngx_hoop_redis_schedule(rd);
    rd->on_down(rd, rd->data);
}


static void
ngx_hoop_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_hoop_redis_t  *rd = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context next; the cleanup hook logs it */
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "hoop redis: connected to %V", &rd->conf->name);

    rd->state = ngx_hoop_redis_st_handshake;

    if (ngx_hoop_redis_handshake(rd) != NGX_OK) {
        /* freeing the context here would pull it from under hiredis */
        ngx_post_event(&rd->drop_event, &ngx_posted_events);
    }
}


static ngx_int_t
ngx_hoop_redis_handshake(ngx_hoop_redis_t *rd)
{
    int                     argc;
    u_char                  db[NGX_INT_T_LEN];
    size_t                  argvlen[3];
    const char             *argv[3];
    ngx_hoop_redis_conf_t  *conf;

    conf = rd->conf;

    if (conf->password.len) {
        argc = 0;
        argv[argc] = "AUTH";
        argvlen[argc++] = 4;

        if (conf->user.len) {
            argv[argc] = (const char *) conf->user.data;
            argvlen[argc++] = conf->user.len;
        }

        argv[argc] = (const char *) conf->password.data;
        argvlen[argc++] = conf->password.len;

        if (ngx_hoop_redis_send(rd, argc, argv, argvlen,
                                ngx_hoop_redis_handshake_reply, "AUTH")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        rd->handshake++;
    }

    if (conf->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%ui", conf->db) - db;

        if (ngx_hoop_redis_send(rd, 2, argv, argvlen,
                                ngx_hoop_redis_handshake_reply, "SELECT")
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        rd->handshake++;
    }

    /*
     * Always a PING last: "ready" then means the server answers commands
     * (not -LOADING, say), and it comes from a reply callback, where the
     * owner may safely drop the connection.
     */
    argv[0] = "PING";
    argvlen[0] = 4;

    if (ngx_hoop_redis_send(rd, 1, argv, argvlen,
                            ngx_hoop_redis_handshake_reply, "PING")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    rd->handshake++;

    return NGX_OK;
}


static void
ngx_hoop_redis_handshake_reply(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data)
{
    char  *what = data;

    ngx_uint_t  level;

    if (reply == NULL) {
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        /* Redis' message names no secret ("WRONGPASS invalid ...") */
        ngx_log_error(ngx_hoop_redis_log_level(rd), rd->log, 0,
                      "hoop redis: %s failed on %V: %*s", what,
                      &rd->conf->name, (size_t) reply->len, reply->str);

        ngx_hoop_redis_drop(rd, NULL);
        return;
    }

    if (--rd->handshake) {
        return;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    level = rd->failing ? NGX_LOG_NOTICE : NGX_LOG_INFO;

    ngx_log_error(level, rd->log, 0,
                  "hoop redis: connected to %V", &rd->conf->name);

    /* the back-off is reset by the first real reply (see on_reply): a
     * server that accepts AUTH but fails every command is not hammered */
    rd->state = ngx_hoop_redis_st_ready;
    rd->failing = 0;

    rd->on_ready(rd, rd->data);
}


static ngx_int_t
ngx_hoop_redis_send(ngx_hoop_redis_t *rd, int argc, const char **argv,
    const size_t *argvlen, ngx_hoop_redis_reply_pt handler, void *data)
{
    int                    rc;
    u_char                *resp;
    size_t                 len;
    ngx_hoop_redis_cmd_t  *cmd;

    cmd = rd->free;

    if (cmd) {
        rd->free = cmd->next;

    } else {
        cmd = ngx_palloc(rd->pool, sizeof(ngx_hoop_redis_cmd_t));
        if (cmd == NULL) {
            return NGX_ERROR;
        }
    }

    cmd->rd = rd;
    cmd->handler = handler;
    cmd->data = data;

    rc = REDIS_ERR;
    resp = ngx_hoop_redis_format(rd, argc, argv, argvlen, &len);

    if (resp != NULL) {
        rc = redisAsyncFormattedCommand(rd->ac, ngx_hoop_redis_on_reply, cmd,
                                        (const char *) resp, len);

        /* an outsized command's buffer is not kept */

        if (rd->resp_size > NGX_HOOP_REDIS_RESP_KEEP) {
            ngx_free(rd->resp);
            rd->resp = NULL;
            rd->resp_size = 0;
        }
    }

    if (rc != REDIS_OK) {
        cmd->next = rd->free;
        rd->free = cmd;
        return NGX_DECLINED;
    }

    rd->pending++;

    if (!rd->command_timer.timer_set) {
        ngx_add_timer(&rd->command_timer, rd->conf->command_timeout);
    }

    return NGX_OK;
}


/*
 * The command in RESP, in a buffer kept for the next one: hiredis' own
 * formatting (redisAsyncCommandArgv) builds it with an sds append and a
 * printf per argument, which under a statement load was the larger part of
 * the audit trail's cost in the worker.  hiredis copies the bytes.
 */

static u_char *
ngx_hoop_redis_format(ngx_hoop_redis_t *rd, int argc, const char **argv,
    const size_t *argvlen, size_t *len)
{
    u_char  *p;
    size_t   need, size;
    int      i;

    /*
     * "*" argc CRLF, and per argument "$" length CRLF bytes CRLF; then a
     * NUL, as hiredis' own (sds) commands have: it looks one byte past the
     * first argument, and its argument scan uses strchr()
     */

    need = 1 + NGX_SIZE_T_LEN + 2 + 1;

    for (i = 0; i < argc; i++) {
        need += 1 + NGX_SIZE_T_LEN + 2 + argvlen[i] + 2;
    }

    if (need > rd->resp_size) {
        size = ngx_max(need, 2 * rd->resp_size);

        p = ngx_alloc(size, rd->log);
        if (p == NULL) {
            return NULL;
        }

        if (rd->resp) {
            ngx_free(rd->resp);
        }

        rd->resp = p;
        rd->resp_size = size;
    }

    p = rd->resp;

    *p++ = '*';
    p = ngx_hoop_redis_decimal(p, argc);
    *p++ = CR; *p++ = LF;

    for (i = 0; i < argc; i++) {
        *p++ = '$';
        p = ngx_hoop_redis_decimal(p, argvlen[i]);
        *p++ = CR; *p++ = LF;
        p = ngx_cpymem(p, argv[i], argvlen[i]);
        *p++ = CR; *p++ = LF;
    }

    *len = p - rd->resp;
    *p = '\0';

    return rd->resp;
}


static u_char *
ngx_hoop_redis_decimal(u_char *p, size_t n)
{
    u_char  *q, digits[NGX_SIZE_T_LEN];

    q = digits + NGX_SIZE_T_LEN;

    do {
        *--q = (u_char) ('0' + n % 10);
        n /= 10;
    } while (n);

    return ngx_cpymem(p, q, digits + NGX_SIZE_T_LEN - q);
}


static void
ngx_hoop_redis_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_hoop_redis_cmd_t  *cmd = privdata;

    void                     *data;
    ngx_hoop_redis_t         *rd;
    ngx_hoop_redis_reply_pt   handler;

    rd = cmd->rd;
    handler = cmd->handler;
    data = cmd->data;

    cmd->next = rd->free;
    rd->free = cmd;

    rd->pending--;

    if (rd->pending == 0) {
        if (rd->command_timer.timer_set) {
            ngx_del_timer(&rd->command_timer);
        }

    } else if (reply) {
        /* progress: the timeout counts from the last reply */
        ngx_add_timer(&rd->command_timer, rd->conf->command_timeout);
    }

    if (reply
        && rd->state == ngx_hoop_redis_st_ready
        && ((redisReply *) reply)->type != REDIS_REPLY_ERROR)
    {
        rd->attempts = 0;
    }

    handler(rd, reply, data);
}


/*
 * SUBSCRIBE: hiredis keeps the callback for every message of the channel
 * (and calls it with NULL at teardown).  It is not a pending reply: no
 * command timeout applies, so the connection must carry nothing else.
 */

ngx_int_t
ngx_hoop_redis_subscribe(ngx_hoop_redis_t *rd, ngx_str_t *channel,
    ngx_hoop_redis_reply_pt handler, void *data)
{
    size_t       argvlen[2];
    const char  *argv[2];

    if (rd->state != ngx_hoop_redis_st_ready) {
        return NGX_DECLINED;
    }

    rd->sub.rd = rd;
    rd->sub.handler = handler;
    rd->sub.data = data;

    argv[0] = "SUBSCRIBE";
    argvlen[0] = 9;
    argv[1] = (const char *) channel->data;
    argvlen[1] = channel->len;

    if (redisAsyncCommandArgv(rd->ac, ngx_hoop_redis_on_message, &rd->sub,
                              2, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static void
ngx_hoop_redis_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_hoop_redis_cmd_t  *sub = privdata;

    if (reply == NULL) {
        /* teardown: on_down tells the owner */
        return;
    }

    sub->handler(sub->rd, reply, sub->data);
}


static void
ngx_hoop_redis_schedule(ngx_hoop_redis_t *rd)
{
    ngx_msec_t  delay, max;

    if (rd->state == ngx_hoop_redis_st_closed) {
        return;
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        rd->state = ngx_hoop_redis_st_idle;
        return;
    }

    /* exponential, with "equal jitter": half fixed, half random */

    max = rd->conf->backoff_max;
    delay = rd->conf->backoff_min;

    if (rd->attempts < 16) {
        delay <<= rd->attempts;
    } else {
        delay = max;
    }

    if (delay > max || delay == 0) {
        delay = max;
    }

    delay = delay / 2 + (ngx_msec_t) ngx_random() % (delay / 2 + 1);

    rd->attempts++;
    rd->state = ngx_hoop_redis_st_backoff;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "hoop redis: reconnecting to %V in %M ms",
                   &rd->conf->name, delay);

    ngx_add_timer(&rd->backoff_timer, delay);
}


/* the first failure of an outage is an error, the retries are not news */

static ngx_uint_t
ngx_hoop_redis_log_level(ngx_hoop_redis_t *rd)
{
    return rd->failing ? NGX_LOG_INFO : NGX_LOG_ERR;
}


static void
ngx_hoop_redis_read_handler(ngx_event_t *rev)
{
    int                n;
    ngx_uint_t         i;
    ngx_connection_t  *c;
    ngx_hoop_redis_t  *rd;

    c = rev->data;
    rd = c->data;

    for (i = 0; i < NGX_HOOP_REDIS_READ_ROUNDS; i++) {

        redisAsyncHandleRead(rd->ac);

        if (rd->ac == NULL) {
            return;     /* torn down: c is free again */
        }

        /* hiredis read 16 KiB at most: edge-triggered epoll will not tell
         * us again about what is still in the socket */

        if (ioctl(c->fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }

    ngx_post_event(rev, &ngx_posted_events);
}


static void
ngx_hoop_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t  *c;
    ngx_hoop_redis_t  *rd;

    c = wev->data;
    rd = c->data;

    rd->writing = 1;
    redisAsyncHandleWrite(rd->ac);

    if (rd->ac == NULL) {
        return;
    }

    rd->writing = 0;

    if (sdslen(rd->ac->c.obuf) > 0) {
        /* the socket buffer is full: wait for its edge */
        wev->ready = 0;
    }
}


static void
ngx_hoop_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_hoop_redis_t  *rd = ev->data;

    if (rd->ac == NULL) {
        return;
    }

    ngx_log_error(ngx_hoop_redis_log_level(rd), rd->log, NGX_ETIMEDOUT,
                  "hoop redis: connecting to %V timed out", &rd->conf->name);

    ngx_hoop_redis_drop(rd, NULL);
}


static void
ngx_hoop_redis_command_timeout(ngx_event_t *ev)
{
    ngx_hoop_redis_t  *rd = ev->data;

    if (rd->ac == NULL) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, NGX_ETIMEDOUT,
                  "hoop redis: no reply from %V for %M ms, reconnecting",
                  &rd->conf->name, rd->conf->command_timeout);

    ngx_hoop_redis_drop(rd, NULL);
}


static void
ngx_hoop_redis_backoff_handler(ngx_event_t *ev)
{
    ngx_hoop_redis_t  *rd = ev->data;

    if (rd->state != ngx_hoop_redis_st_backoff) {
        return;
    }

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        rd->state = ngx_hoop_redis_st_idle;
        return;
    }

    ngx_hoop_redis_attempt(rd);
}


static void
ngx_hoop_redis_drop_handler(ngx_event_t *ev)
{
    ngx_hoop_redis_t  *rd = ev->data;

    ngx_hoop_redis_drop(rd, "cannot use the connection");
}


/* hiredis' event hooks */

static void
ngx_hoop_redis_add_read(void *privdata)
{
    ngx_hoop_redis_t  *rd = privdata;

    if (rd->conn && !rd->conn->read->active) {
        ngx_hoop_redis_watch(rd, rd->conn->read, NGX_READ_EVENT);
    }
}


static void
ngx_hoop_redis_del_read(void *privdata)
{
    ngx_hoop_redis_t  *rd = privdata;

    /* edge-triggered: stay registered, a spurious event costs one read */

    if (rd->conn
        && rd->conn->read->active
        && !(ngx_event_flags & NGX_USE_CLEAR_EVENT))
    {
        (void) ngx_del_event(rd->conn->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_hoop_redis_add_write(void *privdata)
{
    ngx_hoop_redis_t  *rd = privdata;

    ngx_event_t  *wev;

    if (rd->conn == NULL) {
        return;
    }

    wev = rd->conn->write;

    if (!wev->active) {
        ngx_hoop_redis_watch(rd, wev, NGX_WRITE_EVENT);
        return;
    }

    /*
     * Registered and writable: epoll reports no new edge, so run the write
     * handler from the posted queue, once for all commands of this turn.
     */

    if ((ngx_event_flags & NGX_USE_CLEAR_EVENT)
        && wev->ready && !wev->posted && !rd->writing)
    {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


static void
ngx_hoop_redis_del_write(void *privdata)
{
    ngx_hoop_redis_t  *rd = privdata;

    if (rd->conn
        && rd->conn->write->active
        && !(ngx_event_flags & NGX_USE_CLEAR_EVENT))
    {
        (void) ngx_del_event(rd->conn->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_hoop_redis_watch(ngx_hoop_redis_t *rd, ngx_event_t *ev, ngx_int_t event)
{
    ngx_uint_t  flags;

    flags = (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                    : NGX_LEVEL_EVENT;

    if (ngx_add_event(ev, event, flags) != NGX_OK) {
        /* we may be deep inside hiredis: drop from the posted queue */
        if (!rd->drop_event.posted) {
            ngx_post_event(&rd->drop_event, &ngx_posted_events);
        }
    }
}


/*
 * Every teardown ends here: a failed connect, an I/O error or EOF, a drop,
 * the worker's exit.  hiredis has already called each outstanding command's
 * callback with a NULL reply and closes the socket after we return.
 */

static void
ngx_hoop_redis_cleanup(void *privdata)
{
    ngx_hoop_redis_t  *rd = privdata;

    redisAsyncContext       *ac;
    ngx_hoop_redis_state_e   state;

    ac = rd->ac;
    state = rd->state;

    if (rd->conn) {
        ngx_hoop_redis_free_connection(rd->conn);
        rd->conn = NULL;
    }

    rd->ac = NULL;
    rd->pending = 0;
    rd->handshake = 0;
    rd->writing = 0;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->command_timer.timer_set) {
        ngx_del_timer(&rd->command_timer);
    }

    if (rd->drop_event.posted) {
        ngx_delete_posted_event(&rd->drop_event);
    }

    switch (state) {

    case ngx_hoop_redis_st_connecting:
    case ngx_hoop_redis_st_handshake:
        ngx_log_error(ngx_hoop_redis_log_level(rd), rd->log, 0,
                      "hoop redis: cannot connect to %V: %s",
                      &rd->conf->name,
                      ac->c.err ? ac->c.errstr : "connection closed");
        rd->failing = 1;
        break;

    case ngx_hoop_redis_st_ready:
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "hoop redis: connection to %V lost: %s",
                      &rd->conf->name,
                      ac->c.err ? ac->c.errstr : "connection closed");
        rd->failing = 1;
        break;

    default:    /* dropping (logged by the caller), closed */
        break;
    }

    if (state != ngx_hoop_redis_st_closed) {
        ngx_hoop_redis_schedule(rd);
    }

    rd->on_down(rd, rd->data);
}


/* ngx_close_connection() without the close(): the socket is hiredis' */

static void
ngx_hoop_redis_free_connection(ngx_connection_t *c)
{
    if (ngx_del_conn) {
        (void) ngx_del_conn(c, NGX_CLOSE_EVENT);

    } else {
        if (c->read->active || c->read->disabled) {
            (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
        }

        if (c->write->active || c->write->disabled) {
            (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
        }
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->read->closed = 1;
    c->write->closed = 1;

    ngx_free_connection(c);

    /* stale epoll events for this slot are recognised by fd == -1 */
    c->fd = (ngx_socket_t) -1;
}
