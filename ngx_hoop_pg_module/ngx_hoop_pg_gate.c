
/*
 * The message gate of each relay direction.  Bytes of a buffer before
 * gate->ready are cleared to be sent; the gate advances ready over whole
 * messages.  Most messages stream past (only their 5-byte header is looked
 * at); the few the gateway must see whole (statements for the policy, the
 * server's errors and ParameterStatus) are held until complete, inspected,
 * and possibly replaced in place.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_stream.h>
#include "ngx_hoop_pg.h"


static ngx_int_t ngx_hoop_pg_gate_room(ngx_stream_session_t *s,
    ngx_hoop_pg_gate_t *gate, size_t total);


/*
 * NGX_OK: ready advanced as far as possible; NGX_ERROR: the session was
 * finalized.  The buffer may have been replaced by a bigger one.
 */

ngx_int_t
ngx_hoop_pg_gate_run(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate)
{
    u_char      type;
    size_t      avail, len, total, n;
    ngx_buf_t  *b;

    for ( ;; ) {
        b = *gate->buf;

        if (gate->ready >= b->last || gate->held || gate->hold) {
            return NGX_OK;
        }

        if (gate->skip) {
            n = ngx_min(gate->skip, (size_t) (b->last - gate->ready));
            gate->ready += n;
            gate->skip -= n;
            continue;
        }

        avail = b->last - gate->ready;

        if (avail < 5) {
            /* a header split across reads: keep it, make sure it fits */
            return ngx_hoop_pg_gate_room(s, gate, 5) == NGX_OK
                   ? NGX_OK : NGX_ERROR;
        }

        type = gate->ready[0];
        len = ngx_hoop_pg_get_u32(gate->ready + 1);

        if (len < 4) {
            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "hoop pg: invalid message length from the %s",
                          gate->from_server ? "server" : "client");
            ngx_hoop_pg_fatal(s, "08P01",
                              gate->from_server
                              ? "invalid message from the database server"
                              : "invalid message length",
                              gate->from_server ? NGX_STREAM_BAD_GATEWAY
                                                : NGX_STREAM_BAD_REQUEST);
            return NGX_ERROR;
        }

        total = 1 + len;

        if (!gate->seen) {
            /* the header callback runs once per message */
            if (gate->header(s, type, len) != NGX_OK) {
                return NGX_ERROR;
            }

            gate->seen = 1;

            if (gate->hold) {
                /* the header asked to wait before this message */
                return NGX_OK;
            }
        }

        if (!gate->whole(s, type, len)) {
            gate->seen = 0;
            n = ngx_min(total, avail);
            gate->ready += n;
            gate->skip = total - n;
            continue;
        }

        if (total > gate->limit) {
            ngx_log_error(NGX_LOG_WARN, s->connection->log, 0,
                          "hoop pg: %uz byte '%c' message from the %s is "
                          "over what the gateway inspects (%uz)",
                          total, type,
                          gate->from_server ? "server" : "client",
                          gate->limit);
            ngx_hoop_pg_fatal(s, "54000",
                              gate->from_server
                              ? "message from the database server too long "
                                "for the gateway"
                              : "statement too long for the gateway "
                                "(hoop_pg_max_statement_size)",
                              gate->from_server ? NGX_STREAM_BAD_GATEWAY
                                                : NGX_STREAM_BAD_REQUEST);
            return NGX_ERROR;
        }

        if (avail < total) {
            return ngx_hoop_pg_gate_room(s, gate, total) == NGX_OK
                   ? NGX_OK : NGX_ERROR;
        }

        gate->seen = 0;

        n = gate->inspect(s, gate, gate->ready, total);

        if (n == 0) {
            return NGX_ERROR;
        }

        if (n == NGX_HOOP_PG_GATE_DROPPED) {
            continue;
        }

        if (gate->held) {
            /* nothing of it or after it passes until resumed (skip = n) */
            return NGX_OK;
        }

        gate->ready += n;
    }
}


/*
 * The message at gate->ready needs total bytes of buffer.  If the buffer
 * could hold it, pending bytes are moved to its start when they are not
 * there yet (otherwise the relay sends them first, then moves); only a
 * message larger than the whole buffer makes it grow (up to gate->limit,
 * checked by the caller).
 */

static ngx_int_t
ngx_hoop_pg_gate_room(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    size_t total)
{
    size_t      pending, size;
    ngx_buf_t  *b, *nb;

    b = *gate->buf;

    if ((size_t) (b->end - gate->ready) >= total) {
        return NGX_OK;
    }

    pending = b->last - b->pos;

    if ((size_t) (b->end - b->start) >= total) {
        if ((size_t) (b->end - b->start) >= (gate->ready - b->pos) + total) {
            ngx_memmove(b->start, b->pos, pending);
            gate->ready = b->start + (gate->ready - b->pos);
            b->pos = b->start;
            b->last = b->start + pending;
        }

        return NGX_OK;
    }

    size = ngx_max((size_t) (b->end - b->start) * 2,
                   (size_t) (gate->ready - b->pos) + total);

    nb = ngx_create_temp_buf(s->connection->pool, size);
    if (nb == NULL) {
        ngx_hoop_pg_finalize(s, NGX_STREAM_INTERNAL_SERVER_ERROR);
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_STREAM, s->connection->log, 0,
                   "hoop pg: %s buffer grows to %uz",
                   gate->from_server ? "server" : "client", size);

    nb->last = ngx_cpymem(nb->pos, b->pos, pending);
    gate->ready = nb->pos + (gate->ready - b->pos);

    ngx_pfree(s->connection->pool, b->start);
    *gate->buf = nb;

    return NGX_OK;
}


/*
 * Replace the old_len bytes of the message at msg (inside the gate's
 * buffer, at or after ready) with new_len bytes from data.  Returns the
 * new address of the message (the buffer may move), NULL on failure (the
 * session was finalized).
 */

u_char *
ngx_hoop_pg_gate_replace(ngx_stream_session_t *s, ngx_hoop_pg_gate_t *gate,
    u_char *msg, size_t old_len, u_char *data, size_t new_len)
{
    size_t      offset;
    ngx_buf_t  *b;

    b = *gate->buf;

    if (new_len > old_len) {
        offset = msg - gate->ready;

        /* room for the tail after the longer message */
        if (ngx_hoop_pg_gate_room(s, gate,
                                  (b->last - gate->ready) + new_len - old_len)
            != NGX_OK)
        {
            return NULL;
        }

        b = *gate->buf;
        msg = gate->ready + offset;
    }

    if (new_len < old_len && msg == gate->ready
        && msg - b->pos < b->last - (msg + old_len))
    {
        /*
         * Shorter: move whichever side is smaller.  Here the bytes still
         * to be sent before the message move up to meet it (rows
         * rewritten one after another would move the rest of the buffer
         * each time otherwise).
         */
        offset = old_len - new_len;

        ngx_memmove(b->pos + offset, b->pos, msg - b->pos);
        b->pos += offset;
        msg += offset;
        gate->ready = msg;

        ngx_memcpy(msg, data, new_len);

        return msg;
    }

    ngx_memmove(msg + new_len, msg + old_len, b->last - (msg + old_len));
    ngx_memcpy(msg, data, new_len);

    b->last = b->last - old_len + new_len;

    return msg;
}
