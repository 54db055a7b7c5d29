
/*
 * The Lua scripts behind reviews.  Every state change of a review is one
 * script, so it is atomic in Redis: a review is decided once, and an
 * expired one cannot be approved.  Key names are fixed ("hoop:..."), see
 * docs/audit.md, "Reviews".
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_hoop_review_int.h"


/*
 * Create a review; in "gate" mode first look for a live grant, then for
 * the identity's pending review of the same kind and scope.
 *
 * KEYS: review hash, index, pending index, grant key, gate pending key
 * ARGV: id, now (ms), retention (s), "request"|"gate", timeout (ms),
 *       field, value, ...
 * ->    {"granted", id} | {"pending", id} | {"created", id}
 */

const ngx_str_t  ngx_hoop_review_lua_create = ngx_string(
"local now = tonumber(ARGV[2])\n"
"if ARGV[4] == 'gate' then\n"
"  local g = redis.call('GET', KEYS[4])\n"
"  if g then return {'granted', g} end\n"
"  local p = redis.call('GET', KEYS[5])\n"
"  if p then\n"
"    local h = redis.call('HMGET', 'hoop:review:' .. p, 'state', 'expires')\n"
"    if h[1] == 'pending' and tonumber(h[2]) > now then\n"
"      return {'pending', p}\n"
"    end\n"
"  end\n"
"end\n"
"local f = {'id', ARGV[1], 'state', 'pending', 'created', ARGV[2]}\n"
"for i = 6, #ARGV do f[#f + 1] = ARGV[i] end\n"
"redis.call('HSET', KEYS[1], unpack(f))\n"
"redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
"redis.call('ZADD', KEYS[2], now, ARGV[1])\n"
"redis.call('ZADD', KEYS[3], now, ARGV[1])\n"
"local old = now - tonumber(ARGV[3]) * 1000\n"
"redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', old)\n"
"redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', old)\n"
"if ARGV[4] == 'gate' then\n"
"  redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[5])\n"
"end\n"
"redis.call('PUBLISH', 'hoop:review:requested', ARGV[1])\n"
"return {'created', ARGV[1]}\n");


/*
 * Decide a pending review: approved, rejected (an approver), expired or
 * withdrawn (the gateway).  A pending review past "expires" becomes
 * expired instead of approved.  On approval of a session or http review
 * the grant key is set for the review's window.
 *
 * KEYS: review hash, pending index
 * ARGV: id, state, now (ms), approver sub, self approval allowed "1"|"0",
 *       comment, approver user, approver email
 * ->    {"ok", state, kind, scope, sub} | {"conflict", state, comment}
 *       | {"self"} | {"missing"}
 */

const ngx_str_t  ngx_hoop_review_lua_decide = ngx_string(
"local h = redis.call('HMGET', KEYS[1], 'state', 'expires', 'sub',\n"
"                     'kind', 'scope', 'window', 'comment')\n"
"if not h[1] then return {'missing'} end\n"
"local now = tonumber(ARGV[3])\n"
"local to = ARGV[2]\n"
"if h[1] == 'pending' and (to == 'approved' or to == 'rejected')\n"
"   and tonumber(h[2]) <= now then\n"
"  redis.call('HSET', KEYS[1], 'state', 'expired', 'decided', ARGV[3])\n"
"  redis.call('ZREM', KEYS[2], ARGV[1])\n"
"  redis.call('PUBLISH', 'hoop:review:decided', ARGV[1])\n"
"  return {'conflict', 'expired', ''}\n"
"end\n"
"if h[1] ~= 'pending' then return {'conflict', h[1], h[7] or ''} end\n"
"if ARGV[5] ~= '1' and ARGV[4] ~= '' and ARGV[4] == h[3] then\n"
"  return {'self'}\n"
"end\n"
"redis.call('HSET', KEYS[1], 'state', to, 'decided', ARGV[3])\n"
"if ARGV[4] ~= '' then\n"
"  redis.call('HSET', KEYS[1], 'approver', ARGV[4], 'approver_user',\n"
"             ARGV[7], 'approver_email', ARGV[8], 'comment', ARGV[6])\n"
"elseif ARGV[6] ~= '' then\n"
"  redis.call('HSET', KEYS[1], 'reason', ARGV[6])\n"
"end\n"
"redis.call('ZREM', KEYS[2], ARGV[1])\n"
"local w = tonumber(h[6] or '0') or 0\n"
"if to == 'approved' and h[4] ~= 'statement' and w > 0 then\n"
"  redis.call('SET', 'hoop:grant:' .. h[4] .. ':' .. h[5] .. ':' .. h[3],\n"
"             ARGV[1], 'EX', w)\n"
"end\n"
"redis.call('PUBLISH', 'hoop:review:decided', ARGV[1])\n"
"return {'ok', to, h[4] or '', h[5] or '', h[3] or ''}\n");


/*
 * A page of reviews, newest first.  A pending review past "expires" is
 * marked expired on the way (reviews nobody waits for, gate reviews, end
 * like this).  The cursor is "score:id" of the last review returned.
 *
 * KEYS: index (all, or pending)
 * ARGV: cursor score ("+inf" for the first page), cursor id, limit,
 *       state filter ("" for any), now (ms)
 * ->    {next score, next id, {field, value, ...}, ...}
 */

const ngx_str_t  ngx_hoop_review_lua_list = ngx_string(
"local max, cid = ARGV[1], ARGV[2]\n"
"local limit = tonumber(ARGV[3])\n"
"local now = tonumber(ARGV[5])\n"
"local out = {'', ''}\n"
"local n, scanned, done = 0, 0, false\n"
"while not done do\n"
"  local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf',\n"
"                         'WITHSCORES', 'LIMIT', 0, 200)\n"
"  local last, lastid = nil, nil\n"
"  for i = 1, #ids, 2 do\n"
"    local id, sc = ids[i], ids[i + 1]\n"
"    if cid == '' or sc ~= max or id < cid then\n"
"      scanned = scanned + 1\n"
"      local key = 'hoop:review:' .. id\n"
"      local st = redis.call('HMGET', key, 'state', 'expires')\n"
"      if st[1] == 'pending' and tonumber(st[2]) <= now then\n"
"        redis.call('HSET', key, 'state', 'expired', 'decided', ARGV[5])\n"
"        redis.call('ZREM', 'hoop:reviews:pending', id)\n"
"        redis.call('PUBLISH', 'hoop:review:decided', id)\n"
"        st[1] = 'expired'\n"
"      end\n"
"      if st[1] and (ARGV[4] == '' or st[1] == ARGV[4]) then\n"
"        out[#out + 1] = redis.call('HGETALL', key)\n"
"        n = n + 1\n"
"      end\n"
"      last, lastid = sc, id\n"
"      if n >= limit or scanned >= 2000 then\n"
"        out[1], out[2] = sc, id\n"
"        done = true\n"
"        break\n"
"      end\n"
"    end\n"
"  end\n"
"  if not last then done = true else max, cid = last, lastid end\n"
"end\n"
"return out\n");


/*
 * A page of sessions, most recently active first.
 *
 * KEYS: the sessions index
 * ARGV: cursor score ("+inf"), cursor id, limit
 * ->    {next score, next id, {session id, last event ms, events}, ...}
 */

const ngx_str_t  ngx_hoop_review_lua_sessions = ngx_string(
"local max, cid = ARGV[1], ARGV[2]\n"
"local limit = tonumber(ARGV[3])\n"
"local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], max, '-inf',\n"
"                       'WITHSCORES', 'LIMIT', 0, limit + 200)\n"
"local out = {'', ''}\n"
"local n = 0\n"
"for i = 1, #ids, 2 do\n"
"  local id, sc = ids[i], ids[i + 1]\n"
"  if cid == '' or sc ~= max or id < cid then\n"
"    if n == limit then out[1], out[2] = max, cid break end\n"
"    out[#out + 1] = {id, sc, redis.call('LLEN', 'hoop:session:' .. id)}\n"
"    n = n + 1\n"
"    max, cid = sc, id\n"
"  end\n"
"end\n"
"return out\n");


/*
 * A page of a session's events, in the order they were recorded: each
 * item is the event as the spool encodes it (netstrings of field, value).
 *
 * KEYS: the session's list
 * ARGV: first index, last index
 * ->    {length of the list, {event, ...}}
 */

const ngx_str_t  ngx_hoop_review_lua_events = ngx_string(
"return {redis.call('LLEN', KEYS[1]),\n"
"        redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])}\n");
