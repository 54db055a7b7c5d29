#!/bin/bash
# scripts/soak.sh — pgbench through the Postgres gateway with every feature
# on, for a set time; reports the worker's RSS and descriptor count and
# fails on growth beyond a stated bound.
#
#   scripts/soak.sh STATE_DIR "LOAD_MODULES" NGINX_BIN SECONDS
#   (make soak: SOAK_TIME=300 by default)
#
# Features on: TLS from the client (sslmode=require), token login (a JWT
# as the password, ES256 against a JWKS file), a statement policy
# (hoop_pg_deny), audit events to Redis with a spool, upstream SCRAM with
# the vaulted password, result masking (hoop_pg_mask: column rules and
# detectors over every text column).  SOAK_EXTRA_CONF adds directives to the
# gateway's server {} block.
#
# Load: pgbench -S (extended protocol, 4 clients), a custom script
# (simple protocol, 2 clients), and a loop of short psql sessions (a new
# TLS handshake and token login each, a SELECT and a DROP the policy
# denies).
# Samples VmRSS and the descriptors of the one worker every 10 s
# (STATE_DIR/soak/samples.txt).  Bounds:
#   - RSS at the end minus RSS after the warm-up (the first 20% of the
#     run, at least 10 s): at most SOAK_RSS_GROWTH_KB (default 4096 kB);
#   - descriptors after pgbench ended = descriptors before it started;
#   - no event dropped (hoop_audit_status) and pgbench reports no failed
#     transaction but the denied DROPs.
# Ports: HOOP_PG_PORT, HOOP_REDIS_PORT (servers), SOAK_GW_PORT (19441),
# SOAK_HTTP_PORT (19442).
set -euo pipefail
umask 022

[ $# -eq 4 ] || { sed -n 2,25p "$0" >&2; exit 2; }
STATE=${1%/} MODULES=$2 NGINX=$3 TIME=$4
REPO=$(cd "$(dirname "$0")/.." && pwd)
GW=${SOAK_GW_PORT:-19441} HTTP=${SOAK_HTTP_PORT:-19442}
GROWTH=${SOAK_RSS_GROWTH_KB:-4096}
PGBIN=${HOOP_PG_BIN:-/usr/lib/postgresql/15/bin}
[[ $TIME =~ ^[1-9][0-9]*$ ]] || { echo "soak: SECONDS must be > 0" >&2; exit 2; }
case $STATE in /?*) ;; *) echo "soak: STATE_DIR must be absolute" >&2; exit 2 ;; esac

unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE \
      PGSERVICE PGOPTIONS PGSSLMODE 2>/dev/null || true

say() { echo "soak: $*" >&2; }

"$REPO/scripts/servers.sh" start "$STATE" test
. "$STATE/env.sh"
W=$STATE/soak
rm -rf "$W"; mkdir -p "$W/logs" "$W/spool"; chmod 755 "$W" "$W/spool"

cleanup() {
    [ -f "$W/logs/nginx.pid" ] && kill -QUIT "$(cat "$W/logs/nginx.pid")" 2>/dev/null
    sleep 1
    "$REPO/scripts/servers.sh" stop "$STATE"
}
trap cleanup EXIT

admin() { "$PGBIN/psql" -X -q -At -h "$STATE" -p "$HOOP_PG_PORT" -U hoop "$@"; }

# pgbench tables (scale 1) in hoop_test, readable by the role we log in as
if [ "$(admin -d hoop_test -c "SELECT to_regclass('pgbench_branches') IS NOT NULL")" != t ]; then
    "$PGBIN/pgbench" -q -i -s 1 -h "$STATE" -p "$HOOP_PG_PORT" -U hoop hoop_test \
        > "$W/init.log" 2>&1 || { cat "$W/init.log" >&2; exit 1; }
fi
admin -d hoop_test -c "GRANT SELECT ON pgbench_accounts, pgbench_branches,
    pgbench_tellers, pgbench_history TO app_scram"

# a token issuer: keys, JWKS and a token from t/lib/HoopToken.pm
TOKEN=$(cd "$REPO" && perl -It/lib -MHoopToken -e '
    my $kit = HoopToken->new(dir => $ARGV[0]);
    $kit->add_key("ec256", type => "EC", curve => "P-256", alg => "ES256");
    $kit->write_jwks("jwks.json");
    print $kit->token(key => "ec256", ttl => 86400,
                      claims => { sub => "soak", groups => ["sre"] });' "$W")

STREAM=hoop:soak:$$
cat > "$W/nginx.conf" <<EOF
$(for m in $MODULES; do echo "load_module $m;"; done)
worker_processes 1;
master_process on;
daemon on;
error_log $W/logs/error.log warn;
pid $W/logs/nginx.pid;
$( [ "$(id -u)" = 0 ] && echo "user root;" )
events { worker_connections 1024; }

hoop_oidc soak issuer=https://idp.hoop.test audience=hoop
          jwks=$W/jwks.json groups_claim=groups;
hoop_vault file=$HOOP_VAULT;
hoop_redis 127.0.0.1:$HOOP_REDIS_PORT password=vault:redis;
hoop_audit_spool $W/spool;
hoop_audit_stream $STREAM;
hoop_audit_maxlen 100000;

stream {
    server {
        listen 127.0.0.1:$GW;
        hoop_pg                     127.0.0.1:$HOOP_PG_PORT;
        hoop_pg_ssl_certificate     $HOOP_PKI/gateway.crt;
        hoop_pg_ssl_certificate_key $HOOP_PKI/gateway.key;
        hoop_pg_auth                oidc=soak;
        hoop_pg_role soak user=app_scram password=vault:app_scram
                          database=hoop_test groups=sre;
        hoop_pg_deny statement=drop,truncate "message=no DDL in the soak";
        hoop_audit on;
        hoop_pg_mask column=public.people.email with=partial name=emails;
        hoop_pg_mask column=card,ssn name=numbers;
        hoop_pg_mask detect=email,credit_card,ssn,phone,iban name=text;
        ${SOAK_EXTRA_CONF:-}
    }
}
http {
    access_log off;
    client_body_temp_path $W/tmp;
    proxy_temp_path $W/tmp;
    fastcgi_temp_path $W/tmp;
    uwsgi_temp_path $W/tmp;
    scgi_temp_path $W/tmp;
    server {
        listen 127.0.0.1:$HTTP;
        location = /status { hoop_audit_status; }
    }
}
EOF
mkdir -p "$W/tmp"

"$NGINX" -p "$W/" -c "$W/nginx.conf" -e "$W/logs/error.log" ||
    { tail "$W/logs/error.log" >&2; exit 1; }
sleep 0.5
MASTER=$(cat "$W/logs/nginx.pid")
WORKER=$(pgrep -P "$MASTER" | head -1)
[ -n "$WORKER" ] || { say "no worker"; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$WORKER/status"; }
fds() { ls "/proc/$WORKER/fd" | wc -l; }

cat > "$W/mixed.sql" <<'EOF'
\set aid random(1, 100000)
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
SELECT count(*) FROM pgbench_tellers;
SELECT name, email AS e, card, notes FROM people WHERE id <= 3;
EOF

export PGPASSWORD=$TOKEN PGSSLMODE=require
CONN=(-h 127.0.0.1 -p "$GW" -U soak)

# a first session, so what is loaded lazily is in the baseline
"$PGBIN/psql" -X -At "${CONN[@]}" -d hoop_test -c "SELECT 1" > /dev/null
FD0=$(fds) RSS0=$(rss)
say "worker $WORKER: before the load: rss=${RSS0} kB fds=$FD0; running ${TIME}s"

"$PGBIN/pgbench" -n -S -M extended -c 4 -j 2 -T "$TIME" "${CONN[@]}" hoop_test \
    > "$W/pgbench-s.log" 2>&1 &
B1=$!
"$PGBIN/pgbench" -n -M simple -c 2 -j 1 -T "$TIME" "${CONN[@]}" \
    -f "$W/mixed.sql" hoop_test \
    > "$W/pgbench-mixed.log" 2>&1 &
B2=$!
# short sessions until the pgbench runs end; each must see its DROP denied
(
    n=0 denied=0
    while kill -0 $B1 2>/dev/null; do
        out=$("$PGBIN/psql" -X -At "${CONN[@]}" -d hoop_test -c "SELECT 1" \
                  -c "DROP TABLE pgbench_history" 2>&1 || true)
        n=$((n + 1))
        case $out in *"no DDL in the soak"*) denied=$((denied + 1)) ;; esac
        sleep 0.2
    done
    echo "$n $denied" > "$W/sessions.txt"
) &
B3=$!

WARM=$(( TIME / 5 )); [ $WARM -ge 10 ] || WARM=10
: > "$W/samples.txt"
START=$(date +%s) RSS_WARM=
while kill -0 $B1 2>/dev/null || kill -0 $B2 2>/dev/null; do
    now=$(( $(date +%s) - START ))
    r=$(rss) f=$(fds)
    echo "$now $r $f" >> "$W/samples.txt"
    [ -z "$RSS_WARM" ] && [ $now -ge $WARM ] && RSS_WARM=$r
    RSS_LAST=$r FD_LOAD=$f
    sleep 10
done
rc1=0 rc2=0
wait $B1 || rc1=$?
wait $B2 || rc2=$?
wait $B3 || true
read -r sessions denied < "$W/sessions.txt"
sleep 1
FD1=$(fds) RSS1=$(rss)
RSS_WARM=${RSS_WARM:-$RSS_LAST}

tx1=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$W/pgbench-s.log")
tx2=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$W/pgbench-mixed.log")
status=$(curl -s "http://127.0.0.1:$HTTP/status")
# masking was on all along: an email column comes back partial ("a***@...")
masked_email=$("$PGBIN/psql" -X -At "${CONN[@]}" -d hoop_test \
               -c "SELECT email FROM people ORDER BY id LIMIT 1" 2>&1 || true)
dropped=$(printf '%s' "$status" | perl -MJSON::PP -e 'print decode_json(<STDIN>)->{dropped}')

fail=0
echo "soak: ${TIME}s, pgbench -S extended: ${tx1:-?} tx (exit $rc1); custom simple: ${tx2:-?} tx (exit $rc2); short sessions: $sessions, DROP denied in $denied"
echo "soak: worker rss: before ${RSS0} kB, after warm-up ${RSS_WARM} kB, at the end of the load ${RSS_LAST} kB, after ${RSS1} kB"
echo "soak: worker fds: before $FD0, under load $FD_LOAD, after $FD1"
echo "soak: audit: $status"
[ $rc1 = 0 ] || { say "pgbench -S failed:"; tail -5 "$W/pgbench-s.log" >&2; fail=1; }
[ $rc2 = 0 ] || { say "pgbench (custom) failed:"; tail -5 "$W/pgbench-mixed.log" >&2; fail=1; }
[ "$sessions" -gt 0 ] && [ "$denied" = "$sessions" ] ||
    { say "FAIL: $sessions short sessions, DROP denied in $denied"; fail=1; }
growth=$(( RSS_LAST - RSS_WARM ))
if [ $growth -gt "$GROWTH" ]; then
    say "FAIL: RSS grew by $growth kB after the warm-up (bound $GROWTH kB)"; fail=1
else
    echo "soak: rss growth after warm-up: $growth kB (bound $GROWTH kB)"
fi
[ "$FD1" = "$FD0" ] || { say "FAIL: descriptors $FD0 before, $FD1 after"; fail=1; }
[ "${dropped:-x}" = 0 ] || { say "FAIL: audit events dropped: $dropped"; fail=1; }
case $masked_email in
    ?'***@'*) echo "soak: masking on: people.email reads \"$masked_email\"" ;;
    *) say "FAIL: people.email not masked: $masked_email"; fail=1 ;;
esac
if grep -E '\[(alert|crit|emerg)\]' "$W/logs/error.log" >&2; then
    say "FAIL: alerts in the error log"; fail=1
fi
[ $fail = 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit $fail
