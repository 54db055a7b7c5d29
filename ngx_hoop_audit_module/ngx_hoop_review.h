
/*
 * ngx_hoop_audit_module: reviews (just-in-time approval), the API other
 * ngx_hoop modules call.
 *
 * A review is a request for a human yes, recorded in Redis (the hash
 * "hoop:review:<id>", the index "hoop:reviews", a "review.requested" audit
 * event, a PUBLISH on "hoop:review:requested") and decided by an approver
 * through hoop_api (or anything else that follows the protocol in
 * docs/audit.md, "Reviews").  Decisions reach every gateway sharing the
 * Redis at once: each worker subscribes to "hoop:review:decided".
 *
 * Two ways to use it:
 *
 *   ngx_hoop_review_request()  one review, waited for: a held statement.
 *                              The handler gets APPROVED, REJECTED, EXPIRED
 *                              or FAILED, exactly once.
 *   ngx_hoop_review_gate()     a standing grant: a session-level review or
 *                              an HTTP location.  The handler gets APPROVED
 *                              (a grant for kind+scope+subject is live),
 *                              PENDING (a review exists or was created: the
 *                              caller refuses, naming the id) or FAILED,
 *                              exactly once.
 *
 * Rules for callers:
 *
 *   - Both return NULL when the review cannot be recorded now (Redis not
 *     connected, no "hoop_redis", out of memory) or the request is invalid
 *     (no identity, unknown kind, bad scope: logged): fail closed.
 *   - The handler is never called from inside request()/gate(); it runs
 *     later from the event loop (from a Redis reply or a timer).  It may
 *     start new reviews and close the caller's session; withdrawing the
 *     review it is called for is a no-op.  A worker that exits calls no
 *     handler.
 *   - Waiting is bounded by the timeout; a worker that loses its
 *     subscription to Redis for more than 3 s fails what it waits for
 *     (FAILED).
 *   - The review object belongs to the audit module, not to the caller's
 *     pool.  It is valid until the handler returns or until
 *     ngx_hoop_review_withdraw() returns; never touch it after either.
 *   - ngx_hoop_review_withdraw() (client cancel, session or request gone)
 *     guarantees the handler is never called.  For request() it also
 *     marks the review "withdrawn" in Redis and audits that; for gate() it
 *     only forgets the caller (the pending review, if any, stays pending:
 *     other retries reuse it).
 *   - All strings of ngx_hoop_review_request_t (and the identity's fields)
 *     are copied by request()/gate(): they need only live until the call
 *     returns.
 *   - Nothing here blocks the worker.
 *
 * Other .so files reference these functions weakly (a NULL address means
 * ngx_hoop_audit_module.so is not loaded):
 *
 *     #pragma weak ngx_hoop_review_request
 *     #pragma weak ngx_hoop_review_gate
 *     #pragma weak ngx_hoop_review_withdraw
 *     #pragma weak ngx_hoop_review_id
 */


#ifndef _NGX_HOOP_REVIEW_H_INCLUDED_
#define _NGX_HOOP_REVIEW_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_hoop.h>
#include "../ngx_hoop_auth_module/ngx_hoop_auth.h"


typedef struct ngx_hoop_review_s  ngx_hoop_review_t;


typedef enum {
    NGX_HOOP_REVIEW_APPROVED = 0,   /* run it / the grant is live */
    NGX_HOOP_REVIEW_REJECTED,       /* reason: the approver's comment */
    NGX_HOOP_REVIEW_EXPIRED,        /* no decision within the timeout */
    NGX_HOOP_REVIEW_FAILED,         /* Redis lost or unusable: fail closed */
    NGX_HOOP_REVIEW_PENDING         /* gate() only: refuse, name the id */
} ngx_hoop_review_outcome_e;


typedef struct {
    ngx_str_t               kind;       /* "statement", "session", "http" */
    ngx_str_t               scope;      /* role profile, location name;
                                           [A-Za-z0-9_./-], max 128 */
    ngx_hoop_identity_t    *identity;   /* the requester; required */
    ngx_str_t               session;    /* session id, may be empty */
    ngx_str_t               text;       /* as the audit trail records it
                                           (normalized if so configured);
                                           max 64 KiB, longer is cut */
    ngx_str_t               rule;       /* the matching rule, may be empty */
    ngx_msec_t              timeout;    /* 0: "hoop_review_timeout" */
    time_t                  window;     /* gate(): grant lifetime on
                                           approval, seconds; 0:
                                           "hoop_review_window" */
} ngx_hoop_review_request_t;


/*
 * Called exactly once (unless withdrawn first).  rv is valid during the
 * call only: copy the id if it is needed later.  reason: for REJECTED the
 * approver's comment (may be empty), for EXPIRED/FAILED a short text for
 * the client; never NULL.
 */
typedef void (*ngx_hoop_review_handler_pt)(ngx_hoop_review_t *rv,
    ngx_hoop_review_outcome_e outcome, ngx_str_t *reason, void *data);


/*
 * Create a review and wait for its decision.  Returns at once: the handle
 * (its id is set: send it in the NoticeResponse), or NULL (fail closed).
 * The timeout runs on an nginx timer in this worker; expiry is recorded
 * in Redis (state "expired") and audited.
 */
ngx_hoop_review_t *ngx_hoop_review_request(ngx_log_t *log,
    ngx_hoop_review_request_t *req, ngx_hoop_review_handler_pt handler,
    void *data);

/*
 * Is kind+scope granted to the identity?  Asynchronous: APPROVED if the
 * grant key exists; otherwise the identity's pending review for
 * kind+scope is reused (one per identity, not one per retry) or created,
 * and the handler gets PENDING with ngx_hoop_review_id(rv) set; FAILED
 * when Redis fails meanwhile.  req->text and req->rule describe the first
 * attempt; req->timeout bounds how long the review may stay pending.
 */
ngx_hoop_review_t *ngx_hoop_review_gate(ngx_log_t *log,
    ngx_hoop_review_request_t *req, ngx_hoop_review_handler_pt handler,
    void *data);

/* the caller goes away; reason ("cancel", "session closed") is audited */
void ngx_hoop_review_withdraw(ngx_hoop_review_t *rv, ngx_str_t *reason);

/*
 * The review's id: 16 URL-safe characters [A-Za-z0-9_-].  Set when
 * request() returns; for gate() only inside the handler with PENDING
 * (empty otherwise).  Points into rv: copy it to keep it.
 */
ngx_str_t *ngx_hoop_review_id(ngx_hoop_review_t *rv);


#endif /* _NGX_HOOP_REVIEW_H_INCLUDED_ */
