
/*
 * ngx_hoop_audit_module internals: configuration, the counters shared by
 * the workers, and one worker's shipping state (memory queue, in-flight
 * XADDs, spool files).  Not for other modules: see ngx_hoop_audit.h.
 */


#ifndef _NGX_HOOP_AUDIT_INT_H_INCLUDED_
#define _NGX_HOOP_AUDIT_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_hoop_audit.h"
#include "ngx_hoop_redis.h"


#define NGX_HOOP_AUDIT_STREAM        "hoop:audit"
#define NGX_HOOP_AUDIT_MAXLEN        1000000
#define NGX_HOOP_AUDIT_MAX_EVENTS    10000
#define NGX_HOOP_AUDIT_MAX_BYTES     (16 * 1024 * 1024)
#define NGX_HOOP_AUDIT_MAX_FIELD     (16 * 1024)
#define NGX_HOOP_AUDIT_SPOOL_MAX     (100 * 1024 * 1024)

/* XADDs sent and not yet answered, per worker */
#define NGX_HOOP_AUDIT_WINDOW        256
/* a spool file is closed for appends past this size */
#define NGX_HOOP_AUDIT_SEGMENT_SIZE  (4 * 1024 * 1024)
/* a sanity bound when reading: 64 fields of max_field=1m stay below it */
#define NGX_HOOP_AUDIT_MAX_RECORD    (128 * 1024 * 1024)
#define NGX_HOOP_AUDIT_TICK          1000
/* hoop_audit_flush default (ms), and how many fresh events go at once */
#define NGX_HOOP_AUDIT_FLUSH         20      /* ms */
#define NGX_HOOP_AUDIT_FLUSH_BATCH   64
#define NGX_HOOP_AUDIT_ORPHAN_TICKS  5

#define NGX_HOOP_AUDIT_FSYNC_OFF     0
#define NGX_HOOP_AUDIT_FSYNC_BATCH   1
#define NGX_HOOP_AUDIT_FSYNC_ALWAYS  2


/* in shared memory: every worker adds to the same counters */
typedef struct {
    ngx_atomic_t                sent;       /* XADDed straight from memory */
    ngx_atomic_t                spooled;    /* written to the spool */
    ngx_atomic_t                replayed;   /* XADDed from the spool */
    ngx_atomic_t                dropped;    /* neither sent nor spooled */
    ngx_atomic_t                corrupt;    /* unreadable spool records */
    ngx_atomic_t                spool_bytes;
    ngx_atomic_t                replayer;   /* pid replaying orphaned spool
                                               files, 0: nobody */
} ngx_hoop_audit_shm_t;


typedef struct ngx_hoop_audit_ship_s  ngx_hoop_audit_ship_t;
typedef struct ngx_hoop_audit_sessions_s  ngx_hoop_audit_sessions_t;


typedef struct {
    ngx_hoop_redis_conf_t      *redis;      /* NULL: auditing is off */
    ngx_str_t                   stream;
    ngx_uint_t                  maxlen;     /* 0: no trimming */
    ngx_str_t                   maxlen_text;

    ngx_str_t                   spool;      /* directory; empty: none */
    off_t                       spool_max;
    ngx_uint_t                  fsync;

    ngx_uint_t                  max_events;
    size_t                      max_bytes;
    size_t                      max_field;

    ngx_shm_zone_t             *shm_zone;
    ngx_hoop_audit_shm_t       *shm;

    ngx_hoop_audit_ship_t      *ship;       /* this worker's, at run time */

    ngx_flag_t                  sessions;   /* hoop_audit_sessions */
    ngx_msec_t                  flush;      /* hoop_audit_flush */

    ngx_msec_t                  review_timeout;
    time_t                      review_window;
    time_t                      review_retention;
    void                       *reviews;    /* this worker's review store */
} ngx_hoop_audit_conf_t;


/* a spool file */
typedef struct {
    ngx_queue_t                 queue;
    ngx_fd_t                    fd;
    u_char                     *path;       /* NUL-terminated, ngx_alloc() */
    size_t                      path_len;
    off_t                       size;       /* end of the last whole record */
    off_t                       read;       /* next record to send */
    off_t                       acked;      /* all before is in Redis */
    off_t                       checked;    /* corruption counted up to */
    off_t                       disk;       /* bytes counted in spool_bytes */
    ngx_uint_t                  inflight;
    unsigned                    orphan:1;   /* another process wrote it */
    unsigned                    dirty:1;    /* written since the last sync */
} ngx_hoop_audit_seg_t;


/* an event in memory (seg == NULL), or a spool record being replayed */
typedef struct {
    ngx_queue_t                 queue;
    ngx_hoop_audit_seg_t       *seg;
    off_t                       end;        /* seg: offset after the record */
    uint64_t                    seq;
    ngx_uint_t                  indexed_by; /* the session index batch it
                                               waits for (0: none) */
    unsigned                    replied:1;  /* its XADD is applied */
    size_t                      len;        /* the spool record: */
    size_t                      header;     /* header length */
    u_char                     *data;       /* header, payload, LF */
} ngx_hoop_audit_item_t;


/* a parsed spool record */
typedef struct {
    u_char                     *payload;
    size_t                      payload_len;
    size_t                      len;        /* of the whole record */
} ngx_hoop_audit_rec_t;


struct ngx_hoop_audit_ship_s {
    ngx_hoop_audit_conf_t      *conf;
    ngx_hoop_audit_shm_t       *shm;
    ngx_hoop_redis_t           *redis;
    ngx_log_t                  *log;

    ngx_queue_t                 queue;      /* fresh, not yet sent */
    ngx_queue_t                 inflight;   /* sent, in order */
    ngx_uint_t                  queued;     /* fresh in memory (both) */
    size_t                      queued_bytes;
    ngx_uint_t                  ninflight;
    ngx_queue_t                 spare;      /* replay items to reuse */

    ngx_queue_t                 segments;   /* own spool files, oldest
                                               first; appends go last */
    ngx_uint_t                  nsegments;
    ngx_hoop_audit_seg_t       *orphan;     /* being replayed by us */

    /* the replay read buffer: file bytes [buf_off, buf_off + buf_len) */
    u_char                     *buf;
    size_t                      buf_size;
    ngx_hoop_audit_seg_t       *buf_seg;
    off_t                       buf_off;
    size_t                      buf_len;

    uint64_t                    seq;        /* of the next event */
    u_char                      id[16];     /* hex, random per worker */
    ngx_msec_t                  started;    /* epoch ms: spool file names */
    ngx_str_t                   gateway;    /* hostname */
    ngx_hoop_audit_sessions_t  *sessions;   /* hoop_audit_sessions on */
    ngx_uint_t                  index_sent; /* session index batches */
    ngx_uint_t                  index_done; /*   sent, and applied */

    ngx_event_t                 tick;
    ngx_uint_t                  ticks;

    /* fresh events wait up to conf->flush to go out in one write */
    ngx_event_t                 flush;
    ngx_uint_t                  waiting;    /* fresh since the last pump */

    unsigned                    pumping:1;
    unsigned                    exiting:1;
    unsigned                    spool_failed:1;
};


/* ngx_hoop_audit_record.c */
ngx_hoop_audit_item_t *ngx_hoop_audit_record_create(
    ngx_hoop_audit_ship_t *ship, ngx_str_t *type,
    ngx_hoop_audit_field_t *fields, ngx_uint_t n);
void ngx_hoop_audit_record_seal(ngx_hoop_audit_item_t *item);
ngx_int_t ngx_hoop_audit_record_parse(u_char *p, u_char *last,
    ngx_hoop_audit_rec_t *rec);
ngx_int_t ngx_hoop_audit_record_fields(u_char *p, size_t len,
    const char **argv, size_t *argvlen, ngx_uint_t max);

/* ngx_hoop_audit_spool.c */
ngx_int_t ngx_hoop_audit_spool_append(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item);
ngx_int_t ngx_hoop_audit_spool_prepend(ngx_hoop_audit_ship_t *ship,
    ngx_queue_t *items);
ngx_int_t ngx_hoop_audit_spool_next(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg, ngx_hoop_audit_rec_t *rec);
ngx_uint_t ngx_hoop_audit_spool_done(ngx_hoop_audit_seg_t *seg);
void ngx_hoop_audit_spool_remove(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_seg_t *seg);
void ngx_hoop_audit_spool_sync(ngx_hoop_audit_ship_t *ship);
void ngx_hoop_audit_spool_close(ngx_hoop_audit_ship_t *ship);
ngx_hoop_audit_seg_t *ngx_hoop_audit_spool_orphan(
    ngx_hoop_audit_ship_t *ship);
off_t ngx_hoop_audit_spool_usage(ngx_str_t *dir, ngx_log_t *log);
void ngx_hoop_audit_spool_release(ngx_hoop_audit_shm_t *shm, off_t size);

/* ngx_hoop_audit_ship.c */
ngx_hoop_audit_ship_t *ngx_hoop_audit_ship_create(ngx_cycle_t *cycle,
    ngx_hoop_audit_conf_t *acf);
ngx_int_t ngx_hoop_audit_ship_event(ngx_hoop_audit_ship_t *ship,
    ngx_hoop_audit_item_t *item, ngx_log_t *log);
ngx_int_t ngx_hoop_audit_ship_available(ngx_hoop_audit_ship_t *ship);
void ngx_hoop_audit_ship_exit(ngx_hoop_audit_ship_t *ship);
ngx_uint_t ngx_hoop_audit_ship_connected(ngx_hoop_audit_ship_t *ship);

/* ngx_hoop_audit_sessions.c: each session's own list of its events */
ngx_hoop_audit_sessions_t *ngx_hoop_audit_sessions_create(ngx_pool_t *pool,
    ngx_hoop_redis_t *redis);
ngx_uint_t ngx_hoop_audit_sessions_add(ngx_hoop_audit_sessions_t *ss,
    const char **argv, size_t *argvlen, ngx_uint_t n, u_char *payload,
    size_t len);
ngx_uint_t ngx_hoop_audit_sessions_full(ngx_hoop_audit_sessions_t *ss);
ngx_uint_t ngx_hoop_audit_sessions_flush(ngx_hoop_audit_sessions_t *ss,
    ngx_hoop_redis_reply_pt handler, void *data);

/* ngx_hoop_audit_module.c */
ngx_hoop_audit_conf_t *ngx_hoop_audit_conf(ngx_cycle_t *cycle);
void ngx_hoop_audit_count(ngx_atomic_t *counter, ngx_atomic_int_t n);


#endif /* _NGX_HOOP_AUDIT_INT_H_INCLUDED_ */
