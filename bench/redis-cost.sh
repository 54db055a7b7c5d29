#!/bin/bash
# bench/redis-cost.sh — what Redis itself spends per audit event: its CPU
# time (user + system, from /proc) per command for the commands the audit
# trail sends, driven by redis-benchmark with pipelining (-P 16), so that
# the figure is Redis' own work and not round trips.
#
#   bench/redis-cost.sh          about a minute
#
# Knobs: BENCH_STATE (default <repo>/.state/bench), HOOP_REDIS_PORT and
# HOOP_PG_PORT (default 63809, 25339: the servers of bench/pg.sh, started
# here when they are not up), COST_N (commands per measure, default 200000).
#
# The event is a statement event as the gateway writes it (25 fields); the
# "session fields once" variant leaves out what session.open already says
# (15 fields), to show what a slimmer event would save.
set -euo pipefail
umask 022

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${BENCH_STATE:-$REPO/.state/bench}
STATE=${STATE%/}
export HOOP_PG_PORT=${HOOP_PG_PORT:-25339}
export HOOP_REDIS_PORT=${HOOP_REDIS_PORT:-63809}
N=${COST_N:-200000}

command -v redis-benchmark >/dev/null ||
    { echo "redis-cost: redis-benchmark not found (Debian redis-tools)" >&2
      exit 1; }

started=0
if [ ! -s "$STATE/redis.pid" ] ||
   ! kill -0 "$(cat "$STATE/redis.pid")" 2>/dev/null; then
    "$REPO/scripts/servers.sh" start "$STATE" test >/dev/null
    started=1
fi
cleanup() {
    [ $started = 0 ] || "$REPO/scripts/servers.sh" stop "$STATE" >/dev/null
}
trap cleanup EXIT

PW=$(perl -MJSON::PP -e 'local $/; open my $f, "<", $ARGV[0] or die;
                          print decode_json(<$f>)->{redis}' "$STATE/vault.json")
RPID=$(cat "$STATE/redis.pid")
KEY=hoop:bench:cost:$$

ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$RPID/stat"; }
HZ=$(getconf CLK_TCK)

measure() {   # label elements-per-command command...
    local label=$1 per=$2 t0 t1
    shift 2
    t0=$(ticks)
    if ! redis-benchmark -a "$PW" -p "$HOOP_REDIS_PORT" -n "$N" -c 4 \
            -P 16 -q "$@" >/dev/null 2>"$STATE/redis-cost.err"; then
        echo "redis-cost: redis-benchmark failed:" \
             "$(grep -v -i warning "$STATE/redis-cost.err" | head -n1)" >&2
        exit 1
    fi
    t1=$(ticks)
    awk -v t=$((t1 - t0)) -v hz="$HZ" -v n="$N" -v per="$per" -v l="$label" \
        'BEGIN { printf "  %-44s %6.2f us\n", l, t / hz * 1e6 / n / per }'
}

head_=(type statement time 1795509063585 eid e6e7237885fa8f55.1497fb
       gateway vm)
session=(session_id 195bfb6e73e194fe client 127.0.0.1 server 127.0.0.1:25406
         sub bench-user user bench-user groups bench token_id d47fd1cbac948b7d
         role bench database pgbench db_user app_scram
         upstream 127.0.0.1:25339)
stmt=(protocol query
      statement 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;'
      statement_bytes 57 decision allowed rows 1 bytes 60 duration_ms 1)
payload=$(head -c 450 /dev/zero | tr '\0' x)

echo "Redis CPU per command (user+system of redis-server / commands;" \
     "redis-benchmark -c 4 -P 16 -n $N)"
measure 'XADD, a statement event (25 fields)' 1 \
    XADD "$KEY:s" MAXLEN '~' 100000 '*' "${head_[@]}" "${session[@]}" \
    "${stmt[@]}"
measure 'XADD, session fields once (15 fields)' 1 \
    XADD "$KEY:t" MAXLEN '~' 100000 '*' "${head_[@]}" "${session[@]:0:2}" \
    user bench-user "${stmt[@]}"
measure 'RPUSH, one 450-byte event' 1 RPUSH "$KEY:l1" "$payload"
measure 'RPUSH, 8 events in one command (per event)' 8 RPUSH "$KEY:l8" \
    "$payload" "$payload" "$payload" "$payload" "$payload" "$payload" \
    "$payload" "$payload"
measure 'PING (a command that does nothing)' 1 PING

REDISCLI_AUTH=$PW redis-cli -p "$HOOP_REDIS_PORT" --no-auth-warning \
    DEL "$KEY:s" "$KEY:t" "$KEY:l1" "$KEY:l8" >/dev/null
