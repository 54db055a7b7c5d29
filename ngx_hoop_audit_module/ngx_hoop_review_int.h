
/*
 * Reviews inside the audit module: the per-worker store (ngx_hoop_review.c)
 * shared with the HTTP side (hoop_review, hoop_api).  Not for other
 * modules: see ngx_hoop_review.h.
 */


#ifndef _NGX_HOOP_REVIEW_INT_H_INCLUDED_
#define _NGX_HOOP_REVIEW_INT_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "ngx_hoop_audit_int.h"
#include "ngx_hoop_review.h"


#define NGX_HOOP_REVIEW_TIMEOUT      600000     /* 10m */
#define NGX_HOOP_REVIEW_WINDOW       3600       /* 1h */
#define NGX_HOOP_REVIEW_RETENTION    (7 * 86400)
#define NGX_HOOP_REVIEW_MAX_TEXT     65536
#define NGX_HOOP_REVIEW_MAX_SCOPE    128
#define NGX_HOOP_REVIEW_MAX_WAITING  4096       /* per worker */
/* the subscriber may be away this long before waiting reviews fail */
#define NGX_HOOP_REVIEW_LOST_GRACE   3000
#define NGX_HOOP_REVIEW_ID_LEN       16
/* how often the reviews a worker waits for are read again anyway */
#define NGX_HOOP_REVIEW_SWEEP        5000

#define NGX_HOOP_REVIEW_KEY          "hoop:review:"
#define NGX_HOOP_REVIEW_INDEX        "hoop:reviews"
#define NGX_HOOP_REVIEW_PENDING_INDEX "hoop:reviews:pending"
#define NGX_HOOP_REVIEW_DECIDED      "hoop:review:decided"
#define NGX_HOOP_REVIEW_REQUESTED    "hoop:review:requested"
#define NGX_HOOP_SESSIONS_INDEX      "hoop:sessions"
#define NGX_HOOP_SESSION_KEY         "hoop:session:"
/* entries kept per session index, and its lifetime */
#define NGX_HOOP_SESSION_MAX_EVENTS  100000
#define NGX_HOOP_SESSION_TTL         "604800"
#define NGX_HOOP_SESSION_TTL_SEC     604800
#define NGX_HOOP_SESSIONS_SWEEP      60000   /* ms between index sweeps */


/* Lua scripts (ngx_hoop_review_lua.c), run with EVAL */
extern const ngx_str_t  ngx_hoop_review_lua_create;
extern const ngx_str_t  ngx_hoop_review_lua_decide;
extern const ngx_str_t  ngx_hoop_review_lua_list;
extern const ngx_str_t  ngx_hoop_review_lua_sessions;
extern const ngx_str_t  ngx_hoop_review_lua_events;


/* ngx_hoop_review.c */
ngx_int_t ngx_hoop_review_init_process(ngx_cycle_t *cycle,
    ngx_hoop_audit_conf_t *acf);
void ngx_hoop_review_exit_process(ngx_hoop_audit_conf_t *acf);

/* a command on the store's connection: NGX_DECLINED when not connected */
ngx_int_t ngx_hoop_review_command(int argc, const char **argv,
    const size_t *argvlen, ngx_hoop_redis_reply_pt handler, void *data);

/* "review.decided" for a decision made through the API */
void ngx_hoop_review_audit_decided(ngx_log_t *log, ngx_str_t *id,
    ngx_str_t *state, ngx_str_t *kind, ngx_str_t *scope, ngx_str_t *sub,
    ngx_hoop_identity_t *approver, ngx_str_t *comment);

/* ms since the epoch (ngx_timeofday's), as review and index times */
ngx_msec_t ngx_hoop_review_now(void);

/* 1 if the id has the shape of ours (so it may go into a key) */
ngx_uint_t ngx_hoop_review_valid_id(ngx_str_t *id);



#endif /* _NGX_HOOP_REVIEW_INT_H_INCLUDED_ */
