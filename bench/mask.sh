#!/bin/bash
# bench/mask.sh — masking cost, side by side in one run (see bench/README.md):
#   (a) a 1-million-row SELECT through the Postgres gateway with masking
#       rules vs the gateway without rules (and PostgreSQL direct), plus the
#       masking worker's peak RSS;
#   (b) the detectors' scan speed in MB/s on one core (bench/mask_scan.c,
#       linked with the engine's objects from build/);
#   (c) a 50 MB JSON body through hoop_mask_json vs a plain proxy_pass.
#
#   bench/mask.sh                 full run (5 repetitions per cell)
#   BENCH_QUICK=1 bench/mask.sh   smoke run (1 repetition)
#
# Knobs: BENCH_REPS=N, BENCH_ROWS=N (default 1000000), BENCH_JSON_MB=N
# (default 50), BENCH_STATE=DIR (absolute; default <repo>/.state/bench-mask),
# HOOP_PG_PORT / HOOP_REDIS_PORT (default 54341 / 63811).
#
# Needs build/ (run `make` first; the harness links its objects).  Starts its
# own PostgreSQL 15 + Redis (scripts/servers.sh) and two nginx on 127.0.0.1
# ports 55421-55425, and stops them on exit.  Results go to stdout and to
# $BENCH_STATE/results/mask-<time>.txt.  Serialize with other benchmarks:
#   flock /tmp/hoop-bench.lock bench/mask.sh
set -euo pipefail
umask 022

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${BENCH_STATE:-$REPO/.state/bench-mask}
STATE=${STATE%/}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
STREAM_SO=${STREAM_SO:-/usr/lib/nginx/modules/ngx_stream_module.so}
MODDIR=$REPO/build/modules
PGBIN=${HOOP_PG_BIN:-/usr/lib/postgresql/15/bin}
PSQL=$PGBIN/psql

export HOOP_PG_PORT=${HOOP_PG_PORT:-54341}
export HOOP_REDIS_PORT=${HOOP_REDIS_PORT:-63811}
PG_PORT=$HOOP_PG_PORT
P_PLAIN=55421 P_MASK=55422 P_HTTP_PLAIN=55423 P_HTTP_MASK=55424 P_ORIGIN=55425
DB=hoop_test

if [ "${BENCH_QUICK:-0}" = 1 ]; then REPS=${BENCH_REPS:-1}
else REPS=${BENCH_REPS:-5}; fi
ROWS=${BENCH_ROWS:-1000000}
JSON_MB=${BENCH_JSON_MB:-50}

die()  { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE \
      PGSERVICE PGSERVICEFILE PGOPTIONS 2>/dev/null || true
export PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=10

case $STATE in /?*) ;; *) die "BENCH_STATE must be an absolute path" ;; esac
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[ "$(id -u)" = 0 ] || die "run as root: the servers run as user 'hoop'"
for m in ngx_hoop_auth_module ngx_hoop_audit_module ngx_hoop_mask_module \
         ngx_hoop_pg_module; do
    [ -f "$MODDIR/$m.so" ] || die "$MODDIR/$m.so is missing: run \`make\` first"
done

calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

NGX_PLAIN=$STATE/nginx-plain
NGX_MASK=$STATE/nginx-mask
LOG=$STATE/log
STARTED_SERVERS=0 STARTED_PLAIN=0 STARTED_MASK=0

stop_nginx() {
    local pid
    pid=$(cat "$1/nginx.pid" 2>/dev/null) || return 0
    kill -QUIT "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ $STARTED_MASK = 0 ] || stop_nginx "$NGX_MASK"
    [ $STARTED_PLAIN = 0 ] || stop_nginx "$NGX_PLAIN"
    if [ $STARTED_SERVERS = 1 ]; then
        "$REPO/scripts/servers.sh" stop "$STATE" >/dev/null 2>&1 ||
            note "stopping PostgreSQL/Redis failed"
    fi
    [ $rc = 0 ] || note "failed (exit $rc); logs in $LOG"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for p in $P_PLAIN $P_MASK $P_HTTP_PLAIN $P_HTTP_MASK $P_ORIGIN; do
    port_busy $p && die "port 127.0.0.1:$p is in use (another bench run?)"
done

mkdir -p "$STATE" "$LOG" "$STATE/results"
note "starting PostgreSQL :$PG_PORT and Redis :$HOOP_REDIS_PORT in $STATE"
STARTED_SERVERS=1
"$REPO/scripts/servers.sh" start "$STATE" test >/dev/null
. "$STATE/env.sh"

admin_psql() {
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$STATE" -p "$PG_PORT" -U hoop "$@"
}

have=$(admin_psql -d $DB -tAc "SELECT count(*) FROM bench_people" \
       2>/dev/null || true)
if [ "$have" != "$ROWS" ]; then
    note "creating bench_people ($ROWS rows, once per state dir)"
    admin_psql -d $DB <<SQL
DROP TABLE IF EXISTS bench_people;
CREATE TABLE bench_people AS
SELECT g AS id,
       'Person ' || g AS name,
       'user' || g || '@example.com' AS email,
       CASE WHEN g % 2 = 0 THEN '4111 1111 1111 1111'
            ELSE '4111 1111 1111 1112' END AS card,
       'customer since 2019, order ' || (g * 7) % 100000 || ' shipped' AS notes
FROM generate_series(1, $ROWS) g;
GRANT SELECT ON bench_people TO app_trust;
SQL
fi

# --- two nginx: without rules, with rules -----------------------------------

SOS=$STATE/modules
mkdir -p "$SOS" "$NGX_PLAIN/html" "$NGX_MASK"
for m in ngx_hoop_auth_module ngx_hoop_audit_module ngx_hoop_mask_module \
         ngx_hoop_pg_module; do
    cp "$MODDIR/$m.so" "$SOS/$m.so.tmp" && mv -f "$SOS/$m.so.tmp" "$SOS/$m.so"
done

head_conf() {
    cat <<EOF
load_module $STREAM_SO;
load_module $SOS/ngx_hoop_auth_module.so;
load_module $SOS/ngx_hoop_audit_module.so;
load_module $SOS/ngx_hoop_mask_module.so;
load_module $SOS/ngx_hoop_pg_module.so;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
EOF
}

{ head_conf "$NGX_PLAIN"; cat <<EOF
stream {
    server {
        listen 127.0.0.1:$P_PLAIN;
        hoop_pg 127.0.0.1:$PG_PORT;
        hoop_pg_upstream_ssl disable;
    }
}
http {
    access_log off;
    server {
        listen 127.0.0.1:$P_ORIGIN;
        root $NGX_PLAIN/html;
        default_type application/json;
    }
    server {
        listen 127.0.0.1:$P_HTTP_PLAIN;
        location / { proxy_pass http://127.0.0.1:$P_ORIGIN; }
    }
}
EOF
} >"$NGX_PLAIN/nginx.conf"

{ head_conf "$NGX_MASK"; cat <<EOF
stream {
    server {
        listen 127.0.0.1:$P_MASK;
        hoop_pg 127.0.0.1:$PG_PORT;
        hoop_pg_upstream_ssl disable;
        hoop_pg_mask column=email with=partial name=emails;
        hoop_pg_mask column=card name=cards;
        hoop_pg_mask detect=email,credit_card,ssn,phone,iban name=text;
    }
}
http {
    access_log off;
    server {
        listen 127.0.0.1:$P_HTTP_MASK;
        location / {
            proxy_pass http://127.0.0.1:$P_ORIGIN;
            hoop_mask_json key=email with=partial;
            hoop_mask_json key=card;
            hoop_mask_json detect=email,credit_card,ssn,phone,iban;
        }
    }
}
EOF
} >"$NGX_MASK/nginx.conf"

# a JSON document of about JSON_MB MB: records with emails and card numbers
perl -e '
    my ($mb) = @ARGV; my $n = 0; my $size = 0;
    print "[";
    while ($size < $mb * 1048576) {
        my $r = sprintf(q({"id":%d,"name":"Person %d","email":"user%d@example.com",)
            . q("card":"4111 1111 1111 1111","notes":"order %d shipped, call +14155550101"}),
            $n, $n, $n, $n * 7);
        print "," if $n++;
        print $r; $size += length $r;
    }
    print "]";
' "$JSON_MB" >"$NGX_PLAIN/html/big.json"

for d in "$NGX_PLAIN" "$NGX_MASK"; do
    "$NGINX" -t -q -p "$d" -e "$d/error.log" -c "$d/nginx.conf" ||
        die "nginx -t failed for $d"
    # ports in the ephemeral range may be held a while by other clients'
    # closed connections (TIME-WAIT): retry
    for try in $(seq 10); do
        "$NGINX" -p "$d" -e "$d/error.log" -c "$d/nginx.conf" \
            2>>"$LOG/nginx-start.log" && break
        [ "$try" = 10 ] && die "nginx ($d) did not start: $(tail -n1 "$LOG/nginx-start.log")"
        sleep 2
    done
    [ "$d" = "$NGX_PLAIN" ] && STARTED_PLAIN=1 || STARTED_MASK=1
done
sleep 0.3

worker_of() {   # nginx dir -> its (single) worker's pid
    pgrep -P "$(cat "$1/nginx.pid")" | head -n1
}

# --- (a) 1M rows ---------------------------------------------------------------

declare -A PORT=([direct]=$PG_PORT [gw_plain]=$P_PLAIN [gw_mask]=$P_MASK)
declare -A RES=()
SQL="SELECT id, name, email, card, notes FROM bench_people"

# the masked output really is masked (a check, not a measurement)
out=$("$PSQL" -X -At -h 127.0.0.1 -p $P_MASK -U app_trust -d $DB \
      -c "$SQL WHERE id <= 2 ORDER BY id")
want=$'1|Person 1|u***@example.com|****|customer since 2019, order 7 shipped\n2|Person 2|u***@example.com|****|customer since 2019, order 14 shipped'
[ "$out" = "$want" ] || die "masking gateway answered unexpectedly: $out"
# ... and all of them: no clear email or card number in the whole result
leaks=$("$PSQL" -X -At -h 127.0.0.1 -p $P_MASK -U app_trust -d $DB -c "$SQL" |
        grep -c -E 'user[0-9]|4111 1111' || true)
[ "$leaks" = 0 ] || die "$leaks rows came through the masking gateway unmasked"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$REPS"); do
    for t in direct gw_plain gw_mask; do
        s=$(date +%s.%N)
        "$PSQL" -X -At -h 127.0.0.1 -p "${PORT[$t]}" -U app_trust -d $DB \
            -c "$SQL" >/dev/null
        e=$(date +%s.%N)
        RES[$t]="${RES[$t]:-} $(calc "$e - $s")"
    done
done
RSS_MASK=$(awk '/VmHWM/ { print $2 }' "/proc/$(worker_of "$NGX_MASK")/status")
RSS_PLAIN=$(awk '/VmHWM/ { print $2 }' "/proc/$(worker_of "$NGX_PLAIN")/status")

median() {   # numbers (or "err") -> the median of the numbers
    printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) printf "%.3f", v[(NR + 1) / 2]
              else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# --- (c) 50 MB JSON -----------------------------------------------------------

declare -A JRES=()
curl -s -o "$LOG/json-masked.json" "http://127.0.0.1:$P_HTTP_MASK/big.json"
head -c 300 "$LOG/json-masked.json" >"$LOG/json-head.txt"
rm -f "$LOG/json-masked.json"
grep -q '"email":"u\*\*\*@example.com","card":"\*\*\*\*"' "$LOG/json-head.txt" ||
    die "hoop_mask_json answered unexpectedly: $(head -c 200 "$LOG/json-head.txt")"
for r in $(seq "$REPS"); do
    for t in plain mask; do
        port=$P_HTTP_PLAIN; [ $t = mask ] && port=$P_HTTP_MASK
        tt=$(curl -s -o /dev/null -w '%{time_total}' \
             "http://127.0.0.1:$port/big.json") || tt=err
        JRES[$t]="${JRES[$t]:-} $tt"
    done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- (b) detector scan speed -------------------------------------------------

B=$REPO/build/nginx
O=$B/objs/addon/ngx_hoop_mask_module
cc -O2 -I"$B/src/core" -I"$B/src/event" -I"$B/src/event/modules" \
   -I"$B/src/os/unix" -I"$B/objs" -I"$REPO/include" \
   -I"$REPO/ngx_hoop_mask_module" -I"$REPO/ngx_hoop_auth_module" \
   -o "$STATE/mask_scan" "$REPO/bench/mask_scan.c" \
   "$O/ngx_hoop_mask_engine.o" "$O/ngx_hoop_mask_detect.o" -lcrypto
SCAN_ALL=$("$STATE/mask_scan" 64)
SCAN_ONE=""
for d in email credit_card ssn phone iban; do
    SCAN_ONE="$SCAN_ONE$(printf '  %-12s %s' "$d" "$("$STATE/mask_scan" 32 "$d" |
        sed 's/.*= //')")"$'\n'
done

# --- report -------------------------------------------------------------------

OUT=$STATE/results/mask-$(date +%Y%m%d-%H%M%S).txt
{
    d=$(median ${RES[direct]})
    p=$(median ${RES[gw_plain]})
    m=$(median ${RES[gw_mask]})
    echo "(a) $ROWS rows: psql -c \"$SQL\" > /dev/null, median of $REPS (s)"
    printf '  direct PostgreSQL      %s s\n' "$d"
    printf '  gateway, no rules      %s s\n' "$p"
    printf '  gateway, masking       %s s   throughput %.2fx of no rules\n' \
        "$m" "$(calc "$p / $m")"
    echo "  rules: column=email with=partial; column=card; detect=email,credit_card,ssn,phone,iban"
    echo "  worker peak RSS (VmHWM): masking $RSS_MASK kB, no rules $RSS_PLAIN kB"
    echo "(b) detector scan, one core (bench/mask_scan.c, 512-byte values):"
    echo "  all          ${SCAN_ALL##*= }"
    printf '%s' "$SCAN_ONE"
    jp=$(median ${JRES[plain]})
    jm=$(median ${JRES[mask]})
    echo "(c) ${JSON_MB} MB JSON via curl, median of $REPS (s)"
    printf '  proxy_pass             %s s  (%.0f MB/s)\n' "$jp" \
        "$(calc "$JSON_MB / $jp")"
    printf '  hoop_mask_json         %s s  (%.0f MB/s)  %.2fx of plain\n' "$jm" \
        "$(calc "$JSON_MB / $jm")" "$(calc "$jp / $jm")"
    echo "load average before $LOAD_BEFORE, after $LOAD_AFTER;" \
         "$(nproc) cores; other processes may have shared them"
    echo "raw (a): direct${RES[direct]} | plain${RES[gw_plain]} | mask${RES[gw_mask]}"
    echo "raw (c): plain${JRES[plain]} | mask${JRES[mask]}"
} | tee "$OUT"
