
/*
 * Shipping audit events to Redis: one worker's queue, its in-flight XADDs,
 * and the replay of spool files.
 *
 * Order: a worker's events reach the stream in the order they were made.
 * Events go to memory only while the worker has no spool file; once one
 * exists every new event is appended to the spool too, and the files are
 * replayed first to last; when the connection drops, what memory held
 * (older than anything spooled) goes to a new file put first.  Replay of
 * the worker's own files needs no coordination; files left by workers that
 * are gone ("orphans") are replayed by one worker at a time, the one whose
 * pid is in the shared "replayer" slot.
 *
 * Delivery is at least once: an XADD whose reply never came (the
 * connection broke) is spooled and sent again, and Redis may have stored
 * the first one.  Every event carries a unique "eid" for consumers that
 * must count exactly.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_hoop_audit_int.h"
#include "ngx_hoop_review_int.h"


/* XADD key MAXLEN ~ N * + fields */
#define NGX_HOOP_AUDIT_MAX_ARGS                                               \
    (6 + 2 * (4 + NGX_HOOP_AUDIT_MAX_FIELDS + 1))


static void ngx_hoop_audit_pump(ngx_hoop_audit_ship_t *ship);
static ngx_hoop_audit_seg_t *ngx_hoop_audit_next_seg(
    ngx_hoop_audit_ship_t *ship);
static ngx_int_t ngx_hoop_audit_send(ngx_hoop_audit_ship_t *ship,
    u_char *payload, size_t len, ngx_hoop_audit_item_t *item);
static void ngx_hoop_audit_reply(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_hoop_audit_index_flush(ngx_hoop_audit_ship_t *ship);
static void ngx_hoop_audit_indexed(ngx_hoop_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_hoop_audit_ack_replied(ngx_hoop_audit_ship_t *ship);
static void ngx_hoop_audit_acked(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item);
static void ngx_hoop_audit_finished(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg);
static void ngx_hoop_audit_on_ready(ngx_hoop_redis_t *rd, void *data);
static void ngx_hoop_audit_on_down(ngx_hoop_redis_t *rd, void *data);
static void ngx_hoop_audit_tick(ngx_event_t *ev);
static void ngx_hoop_audit_flush(ngx_event_t *ev);
static void ngx_hoop_audit_orphans(ngx_hoop_audit_ship_t *ship);
static ngx_uint_t ngx_hoop_audit_replayer(ngx_hoop_audit_ship_t *ship);
static void ngx_hoop_audit_replayer_release(ngx_hoop_audit_ship_t *ship);
static ngx_hoop_audit_item_t *ngx_hoop_audit_spare(
    ngx_hoop_audit_ship_t *ship);
static void ngx_hoop_audit_recycle(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item);
static void ngx_hoop_audit_lost(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item, const char *why, ngx_log_t *log);


ngx_hoop_audit_ship_t *
ngx_hoop_audit_ship_create(ngx_cycle_t *cycle, ngx_hoop_audit_conf_t *acf)
{
    uint32_t                r[2];
    ngx_time_t             *tp;
    ngx_hoop_audit_ship_t  *ship;

    ship = ngx_pcalloc(cycle->pool, sizeof(ngx_hoop_audit_ship_t));
    if (ship == NULL) {
        return NULL;
    }

    ship->conf = acf;
    ship->shm = acf->shm;
    ship->log = cycle->log;

    ngx_queue_init(&ship->queue);
    ngx_queue_init(&ship->inflight);
    ngx_queue_init(&ship->spare);
    ngx_queue_init(&ship->segments);

    /* event ids: unique across workers, restarts and gateways */
    r[0] = (uint32_t) ngx_random() ^ (uint32_t) ngx_pid;
    r[1] = (uint32_t) ngx_random() ^ (uint32_t) ngx_time();
    (void) ngx_hex_dump(ship->id, (u_char *) r, sizeof(r));

    tp = ngx_timeofday();
    ship->started = (ngx_msec_t) tp->sec * 1000 + tp->msec;
    ship->gateway = cycle->hostname;

    ship->redis = ngx_hoop_redis_create(acf->redis, cycle->pool, cycle->log,
                                        ngx_hoop_audit_on_ready,
                                        ngx_hoop_audit_on_down, ship);
    if (ship->redis == NULL) {
        return NULL;
    }

    if (acf->sessions) {
        ship->sessions = ngx_hoop_audit_sessions_create(cycle->pool,
                                                        ship->redis);
        if (ship->sessions == NULL) {
            return NULL;
        }
    }

    ship->tick.handler = ngx_hoop_audit_tick;
    ship->tick.data = ship;
    ship->tick.log = cycle->log;
    ship->tick.cancelable = 1;

    ship->flush.handler = ngx_hoop_audit_flush;
    ship->flush.data = ship;
    ship->flush.log = cycle->log;
    ship->flush.cancelable = 1;

    ngx_add_timer(&ship->tick, NGX_HOOP_AUDIT_TICK);

    ngx_hoop_redis_connect(ship->redis);

    return ship;
}


ngx_int_t
ngx_hoop_audit_ship_event(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item, ngx_log_t *log)
{
    ngx_int_t    rc;
    const char  *why;

    if (ngx_queue_empty(&ship->segments)
        && !ship->exiting
        && (ngx_hoop_redis_ready(ship->redis)
            || ngx_hoop_redis_connecting(ship->redis))
        && ship->queued < ship->conf->max_events
        && ship->queued_bytes + item->len <= ship->conf->max_bytes)
    {
        ngx_queue_insert_tail(&ship->queue, &item->queue);
        ship->queued++;
        ship->queued_bytes += item->len;

        /*
         * Under load, events of a few milliseconds go out in one write and
         * Redis reads them in one go: far fewer system calls on both sides
         * than a write per event.  Memory and the spool keep them meanwhile
         * as before.
         */

        if (ship->conf->flush == 0
            || ++ship->waiting >= NGX_HOOP_AUDIT_FLUSH_BATCH)
        {
            ngx_hoop_audit_pump(ship);

        } else if (!ship->flush.timer_set) {
            ngx_add_timer(&ship->flush, ship->conf->flush);
        }

        return NGX_OK;
    }

    /* Redis away or behind, or older events are spooled: keep the order */

    rc = ngx_hoop_audit_spool_append(ship, item);

    if (rc != NGX_OK) {
        why = ship->conf->spool.len ? "the spool cannot take it"
                                    : "no hoop_audit_spool is set";

        ngx_hoop_audit_lost(ship, item, why, log);
        ngx_free(item);
        return NGX_ERROR;
    }

    ngx_free(item);

    ngx_hoop_audit_pump(ship);

    return NGX_OK;
}


ngx_int_t
ngx_hoop_audit_ship_available(ngx_hoop_audit_ship_t *ship)
{
    if (ngx_queue_empty(&ship->segments)
        && !ship->exiting
        && (ngx_hoop_redis_ready(ship->redis)
            || ngx_hoop_redis_connecting(ship->redis))
        && ship->queued < ship->conf->max_events
        && ship->queued_bytes < ship->conf->max_bytes)
    {
        return NGX_OK;
    }

    if (ship->conf->spool.len
        && !ship->spool_failed
        && (off_t) ship->shm->spool_bytes + NGX_HOOP_AUDIT_MAX_FIELD
           < ship->conf->spool_max)
    {
        return NGX_OK;
    }

    return NGX_ERROR;
}


ngx_uint_t
ngx_hoop_audit_ship_connected(ngx_hoop_audit_ship_t *ship)
{
    return ngx_hoop_redis_ready(ship->redis);
}


/* the worker exits: what memory holds goes to the spool */

void
ngx_hoop_audit_ship_exit(ngx_hoop_audit_ship_t *ship)
{
    ngx_queue_t            *q;
    ngx_hoop_audit_item_t  *item;

    ship->exiting = 1;

    if (ship->tick.timer_set) {
        ngx_del_timer(&ship->tick);
    }

    if (ship->flush.timer_set) {
        ngx_del_timer(&ship->flush);
    }

    /* on_down runs from here and spools the memory queue */
    ngx_hoop_redis_close(ship->redis);

    ngx_hoop_audit_spool_close(ship);
    ngx_hoop_audit_replayer_release(ship);

    while (!ngx_queue_empty(&ship->spare)) {
        q = ngx_queue_head(&ship->spare);
        ngx_queue_remove(q);
        item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);
        ngx_free(item);
    }

    if (ship->buf) {
        ngx_free(ship->buf);
        ship->buf = NULL;
    }
}


/* send what can be sent: memory first (older), then the spool files */

static void
ngx_hoop_audit_pump(ngx_hoop_audit_ship_t *ship)
{
    ngx_int_t               rc;
    ngx_queue_t            *q;
    ngx_hoop_audit_seg_t   *seg;
    ngx_hoop_audit_rec_t    rec;
    ngx_hoop_audit_item_t  *item;

    if (ship->pumping || !ngx_hoop_redis_ready(ship->redis)) {
        return;
    }

    ship->pumping = 1;

    /* everything fresh goes now (as far as the window allows) */

    ship->waiting = 0;

    if (ship->flush.timer_set) {
        ngx_del_timer(&ship->flush);
    }

    while (ship->ninflight < NGX_HOOP_AUDIT_WINDOW) {

        if (!ngx_queue_empty(&ship->queue)) {
            q = ngx_queue_head(&ship->queue);
            item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);

            rc = ngx_hoop_audit_send(ship, item->data + item->header,
                                     item->len - item->header - 1, item);

            if (rc == NGX_ABORT) {
                /* cannot happen: we framed it ourselves */
                ngx_queue_remove(q);
                ship->queued--;
                ship->queued_bytes -= item->len;
                ngx_hoop_audit_lost(ship, item, "it is malformed",
                                    ship->log);
                ngx_free(item);
                continue;
            }

            if (rc != NGX_OK) {
                break;
            }

            ngx_queue_remove(q);
            ngx_queue_insert_tail(&ship->inflight, q);
            ship->ninflight++;

            continue;
        }

        seg = ngx_hoop_audit_next_seg(ship);

        if (seg == NULL) {
            break;
        }

        rc = ngx_hoop_audit_spool_next(ship, seg, &rec);

        if (rc == NGX_DONE) {
            if (ngx_hoop_audit_spool_done(seg)) {
                ngx_hoop_audit_finished(ship, seg);
            }

            continue;
        }

        if (rc != NGX_OK) {
            break;
        }

        item = ngx_hoop_audit_spare(ship);
        if (item == NULL) {
            seg->read -= rec.len;
            break;
        }

        item->seg = seg;
        item->end = seg->read;

        rc = ngx_hoop_audit_send(ship, rec.payload, rec.payload_len, item);

        if (rc == NGX_ABORT) {
            /* framed and checksummed, yet not an event: skip it */
            ngx_log_error(NGX_LOG_ERR, ship->log, 0,
                          "hoop audit: malformed event in spool file \"%s\" "
                          "before offset %O skipped", seg->path, seg->read);
            ngx_hoop_audit_count(&ship->shm->corrupt, 1);
            ngx_hoop_audit_recycle(ship, item);

            if (seg->inflight == 0) {
                seg->acked = seg->read;
            }

            continue;
        }

        if (rc != NGX_OK) {
            seg->read -= rec.len;
            ngx_hoop_audit_recycle(ship, item);
            break;
        }

        seg->inflight++;
        ngx_queue_insert_tail(&ship->inflight, &item->queue);
        ship->ninflight++;

        /* the record is in the read buffer, which the next may overwrite */
        ngx_hoop_audit_index_flush(ship);
    }

    ngx_hoop_audit_index_flush(ship);

    ship->pumping = 0;
}


/* the session index batch goes out; its last reply acknowledges events */

static void
ngx_hoop_audit_index_flush(ngx_hoop_audit_ship_t *ship)
{
    ngx_queue_t            *q;
    ngx_hoop_audit_item_t  *item;

    if (ship->sessions == NULL) {
        return;
    }

    if (ngx_hoop_audit_sessions_flush(ship->sessions, ngx_hoop_audit_indexed,
                                      ship))
    {
        ship->index_sent++;
        return;
    }

    /* no last command went out (nothing to append, or it failed): no
     * event waits for a reply that will not come */

    for (q = ngx_queue_last(&ship->inflight);
         q != ngx_queue_sentinel(&ship->inflight);
         q = ngx_queue_prev(q))
    {
        item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);

        if (item->indexed_by && item->indexed_by <= ship->index_sent) {
            break;
        }

        item->indexed_by = 0;
    }
}


static void
ngx_hoop_audit_indexed(ngx_hoop_redis_t *rd, redisReply *reply, void *data)
{
    ngx_hoop_audit_ship_t  *ship = data;

    if (reply == NULL) {
        /* the connection is going: on_down takes care of the in-flight */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ship->log, 0,
                      "hoop audit: session index: %*s",
                      (size_t) reply->len, reply->str);
    }

    ship->index_done++;

    ngx_hoop_audit_ack_replied(ship);

    if (!ship->flush.timer_set) {
        ngx_hoop_audit_pump(ship);
    }
}


/* events from the oldest on whose XADD (and session append) are applied */

static void
ngx_hoop_audit_ack_replied(ngx_hoop_audit_ship_t *ship)
{
    ngx_queue_t            *q;
    ngx_hoop_audit_item_t  *item;

    while (!ngx_queue_empty(&ship->inflight)) {
        q = ngx_queue_head(&ship->inflight);
        item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);

        if (!item->replied || item->indexed_by > ship->index_done) {
            break;
        }

        ngx_queue_remove(q);
        ship->ninflight--;

        ngx_hoop_audit_acked(ship, item);
    }
}


/* the first own file with records not sent yet, else the orphan */

static ngx_hoop_audit_seg_t *
ngx_hoop_audit_next_seg(ngx_hoop_audit_ship_t *ship)
{
    ngx_queue_t           *q;
    ngx_hoop_audit_seg_t  *seg;

    for (q = ngx_queue_head(&ship->segments);
         q != ngx_queue_sentinel(&ship->segments);
         q = ngx_queue_next(q))
    {
        seg = ngx_queue_data(q, ngx_hoop_audit_seg_t, queue);

        if (seg->read < seg->size || ngx_hoop_audit_spool_done(seg)) {
            return seg;
        }
    }

    seg = ship->orphan;

    if (seg && (seg->read < seg->size || ngx_hoop_audit_spool_done(seg))) {
        return seg;
    }

    return NULL;
}


static ngx_int_t
ngx_hoop_audit_send(ngx_hoop_audit_ship_t *ship, u_char *payload, size_t len,
    ngx_hoop_audit_item_t *item)
{
    int                     argc;
    ngx_int_t               n;
    size_t                  argvlen[NGX_HOOP_AUDIT_MAX_ARGS];
    const char             *argv[NGX_HOOP_AUDIT_MAX_ARGS];
    ngx_hoop_audit_conf_t  *acf;

    acf = ship->conf;
    argc = 0;

    argv[argc] = "XADD";
    argvlen[argc++] = 4;
    argv[argc] = (const char *) acf->stream.data;
    argvlen[argc++] = acf->stream.len;

    if (acf->maxlen) {
        argv[argc] = "MAXLEN";
        argvlen[argc++] = 6;
        argv[argc] = "~";
        argvlen[argc++] = 1;
        argv[argc] = (const char *) acf->maxlen_text.data;
        argvlen[argc++] = acf->maxlen_text.len;
    }

    argv[argc] = "*";
    argvlen[argc++] = 1;

    n = ngx_hoop_audit_record_fields(payload, len, &argv[argc],
                                     &argvlen[argc],
                                     NGX_HOOP_AUDIT_MAX_ARGS - argc);
    if (n == NGX_ERROR) {
        return NGX_ABORT;
    }

    /* no room left in the session index batch: it goes out first */

    if (ship->sessions && ngx_hoop_audit_sessions_full(ship->sessions)) {
        ngx_hoop_audit_index_flush(ship);
    }

    if (ngx_hoop_redis_command(ship->redis, argc + n, argv, argvlen,
                               ngx_hoop_audit_reply, item)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    item->replied = 0;
    item->indexed_by = 0;

    /*
     * The session's own copy, for replaying it through hoop_api: appended
     * with the pump's other events of the session.  The event counts as
     * delivered once that append is applied too.
     */

    if (ship->sessions
        && ngx_hoop_audit_sessions_add(ship->sessions, &argv[argc],
                                       &argvlen[argc], n, payload, len))
    {
        item->indexed_by = ship->index_sent + 1;
    }

    return NGX_OK;
}


static void
ngx_hoop_audit_reply(ngx_hoop_redis_t *rd, redisReply *reply, void *data)
{
    ngx_hoop_audit_item_t  *item = data;

    ngx_queue_t            *q;
    ngx_hoop_audit_item_t  *prev;
    ngx_hoop_audit_conf_t  *acf;
    ngx_hoop_audit_ship_t  *ship;

    if (reply == NULL) {
        /* the connection is going: on_down takes care of the in-flight */
        return;
    }

    acf = ngx_hoop_audit_conf((ngx_cycle_t *) ngx_cycle);
    ship = acf->ship;

    if (reply->type == REDIS_REPLY_ERROR) {
        /* WRONGTYPE, OOM, READONLY, NOPERM...: retry after a reconnect;
         * the event stays in flight and is spooled when the link drops */
        ngx_log_error(NGX_LOG_ERR, ship->log, 0,
                      "hoop audit: XADD to \"%V\" failed: %*s",
                      &acf->stream, (size_t) reply->len, reply->str);

        ngx_hoop_redis_drop(rd, NULL);
        return;
    }

    q = ngx_queue_prev(&item->queue);
    prev = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);

    if (q != ngx_queue_sentinel(&ship->inflight) && !prev->replied) {
        ngx_log_error(NGX_LOG_ALERT, ship->log, 0,
                      "hoop audit: a reply out of order");
    }

    item->replied = 1;

    ngx_hoop_audit_ack_replied(ship);

    /* fresh events waiting for the flush timer keep waiting for it */

    if (!ship->flush.timer_set) {
        ngx_hoop_audit_pump(ship);
    }
}


static void
ngx_hoop_audit_acked(ngx_hoop_audit_ship_t *ship, ngx_hoop_audit_item_t *item)
{
    ngx_hoop_audit_seg_t  *seg;

    seg = item->seg;

    if (seg == NULL) {
        ship->queued--;
        ship->queued_bytes -= item->len;
        ngx_hoop_audit_count(&ship->shm->sent, 1);
        ngx_free(item);
        return;
    }

    seg->acked = item->end;
    seg->inflight--;
    ngx_hoop_audit_count(&ship->shm->replayed, 1);
    ngx_hoop_audit_recycle(ship, item);

    if (ngx_hoop_audit_spool_done(seg)) {
        ngx_hoop_audit_finished(ship, seg);
    }
}


/* every record of the file is in Redis: remove it; an orphan's replayer
 * looks for the next one */

static void
ngx_hoop_audit_finished(ngx_hoop_audit_ship_t *ship, ngx_hoop_audit_seg_t *seg)
{
    ngx_uint_t  orphan;

    orphan = seg->orphan;

    if (orphan) {
        ngx_log_error(NGX_LOG_NOTICE, ship->log, 0,
                      "hoop audit: spool file \"%s\" replayed", seg->path);
    }

    ngx_hoop_audit_spool_remove(ship, seg);

    if (orphan) {
        ngx_hoop_audit_orphans(ship);
    }
}


static void
ngx_hoop_audit_on_ready(ngx_hoop_redis_t *rd, void *data)
{
    ngx_hoop_audit_ship_t  *ship = data;

    ngx_hoop_audit_pump(ship);

    if (ship->orphan == NULL) {
        ngx_hoop_audit_orphans(ship);
    }
}


static void
ngx_hoop_audit_on_down(ngx_hoop_redis_t *rd, void *data)
{
    ngx_hoop_audit_ship_t  *ship = data;

    ngx_int_t               lost;
    ngx_queue_t             fresh, *q;
    ngx_hoop_audit_seg_t   *seg;
    ngx_hoop_audit_item_t  *item;

    ngx_queue_init(&fresh);

    /* in flight: fresh events wait for the spool, replayed records are
     * still in their files and will be read again */

    while (!ngx_queue_empty(&ship->inflight)) {
        q = ngx_queue_head(&ship->inflight);
        ngx_queue_remove(q);
        item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);

        if (item->seg) {
            ngx_hoop_audit_recycle(ship, item);

        } else {
            ngx_queue_insert_tail(&fresh, q);
        }
    }

    ship->ninflight = 0;

    /* the session index replies awaited will not come */
    ship->index_done = ship->index_sent;

    for (q = ngx_queue_head(&ship->segments);
         q != ngx_queue_sentinel(&ship->segments);
         q = ngx_queue_next(q))
    {
        seg = ngx_queue_data(q, ngx_hoop_audit_seg_t, queue);
        seg->read = seg->acked;
        seg->inflight = 0;
    }

    if (ship->orphan) {
        ship->orphan->read = ship->orphan->acked;
        ship->orphan->inflight = 0;
    }

    ngx_queue_add(&fresh, &ship->queue);
    ngx_queue_init(&ship->queue);

    if (ngx_queue_empty(&fresh)) {
        return;
    }

    lost = ngx_hoop_audit_spool_prepend(ship, &fresh);

    if (lost) {
        ngx_log_error(NGX_LOG_ERR, ship->log, 0,
                      "hoop audit: %i event(s) dropped: Redis is away and "
                      "%s", lost,
                      ship->conf->spool.len ? "the spool cannot take them"
                                            : "no hoop_audit_spool is set");
        ngx_hoop_audit_count(&ship->shm->dropped, lost);
    }

    while (!ngx_queue_empty(&fresh)) {
        q = ngx_queue_head(&fresh);
        ngx_queue_remove(q);
        item = ngx_queue_data(q, ngx_hoop_audit_item_t, queue);
        ngx_free(item);
    }

    ship->queued = 0;
    ship->queued_bytes = 0;
}


static void
ngx_hoop_audit_flush(ngx_event_t *ev)
{
    ngx_hoop_audit_pump(ev->data);
}


static void
ngx_hoop_audit_tick(ngx_event_t *ev)
{
    ngx_hoop_audit_ship_t  *ship = ev->data;

    ship->ticks++;

    if (ship->conf->fsync == NGX_HOOP_AUDIT_FSYNC_BATCH) {
        ngx_hoop_audit_spool_sync(ship);
    }

    if (ship->orphan == NULL
        && ship->ticks % NGX_HOOP_AUDIT_ORPHAN_TICKS == 0
        && ngx_hoop_redis_ready(ship->redis))
    {
        ngx_hoop_audit_orphans(ship);
    }

    /* a stalled pump (a read error) gets another go; fresh events waiting
     * for the flush timer keep waiting for it */

    if (!ship->flush.timer_set) {
        ngx_hoop_audit_pump(ship);
    }

    if (!ngx_exiting) {
        ngx_add_timer(ev, NGX_HOOP_AUDIT_TICK);
    }
}


static void
ngx_hoop_audit_orphans(ngx_hoop_audit_ship_t *ship)
{
    ngx_hoop_audit_seg_t  *seg;

    if (ship->conf->spool.len == 0 || ship->exiting) {
        return;
    }

    if (!ngx_hoop_audit_replayer(ship)) {
        return;
    }

    seg = ngx_hoop_audit_spool_orphan(ship);

    if (seg == NULL) {
        ngx_hoop_audit_replayer_release(ship);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ship->log, 0,
                  "hoop audit: replaying spool file \"%s\" (%O bytes)",
                  seg->path, seg->size);

    ship->orphan = seg;

    ngx_hoop_audit_pump(ship);
}


/* take the replayer slot: free, ours, or left by a process that is gone */

static ngx_uint_t
ngx_hoop_audit_replayer(ngx_hoop_audit_ship_t *ship)
{
    ngx_atomic_uint_t  pid;

    pid = ship->shm->replayer;

    if (pid == (ngx_atomic_uint_t) ngx_pid) {
        return 1;
    }

    if (pid != 0 && (kill((ngx_pid_t) pid, 0) == 0 || ngx_errno != NGX_ESRCH))
    {
        return 0;
    }

    return ngx_atomic_cmp_set(&ship->shm->replayer, pid, ngx_pid);
}


static void
ngx_hoop_audit_replayer_release(ngx_hoop_audit_ship_t *ship)
{
    (void) ngx_atomic_cmp_set(&ship->shm->replayer, ngx_pid, 0);
}


static ngx_hoop_audit_item_t *
ngx_hoop_audit_spare(ngx_hoop_audit_ship_t *ship)
{
    ngx_queue_t            *q;
    ngx_hoop_audit_item_t  *item;

    if (!ngx_queue_empty(&ship->spare)) {
        q = ngx_queue_head(&ship->spare);
        ngx_queue_remove(q);
        return ngx_queue_data(q, ngx_hoop_audit_item_t, queue);
    }

    item = ngx_alloc(sizeof(ngx_hoop_audit_item_t), ship->log);
    if (item == NULL) {
        return NULL;
    }

    item->data = NULL;
    item->len = 0;
    item->header = 0;
    item->seq = 0;

    return item;
}


static void
ngx_hoop_audit_recycle(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item)
{
    item->seg = NULL;
    ngx_queue_insert_head(&ship->spare, &item->queue);
}


/* never the values: the type alone says what was lost */

static void
ngx_hoop_audit_lost(ngx_hoop_audit_ship_t *ship, ngx_hoop_audit_item_t *item,
    const char *why, ngx_log_t *log)
{
    ngx_int_t    n;
    size_t       argvlen[NGX_HOOP_AUDIT_MAX_ARGS];
    const char  *argv[NGX_HOOP_AUDIT_MAX_ARGS];

    ngx_hoop_audit_count(&ship->shm->dropped, 1);

    n = ngx_hoop_audit_record_fields(item->data + item->header,
                                     item->len - item->header - 1,
                                     argv, argvlen, NGX_HOOP_AUDIT_MAX_ARGS);

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "hoop audit: event \"%*s\" dropped: Redis cannot take it "
                  "now and %s", n >= 2 ? argvlen[1] : 0,
                  n >= 2 ? argv[1] : "", why);
}
