#!/bin/bash
# bench/pg.sh — the Postgres gateway against direct PostgreSQL, a plain nginx
# stream relay and PgBouncer, side by side in one run (see bench/README.md).
#
#   bench/pg.sh                  full run (3 s x 5 runs per cell, ~9 minutes)
#   BENCH_QUICK=1 bench/pg.sh    smoke run (1 s x 1 run, under a minute)
#
# Knobs (environment):
#   BENCH_TIME=SECONDS        pgbench -T per run (default 3; quick: 1)
#   BENCH_REPS=N              runs per cell, interleaved (default 5; quick: 1)
#   BENCH_QUICK=1             the smoke-run defaults above
#   BENCH_NGINX_WORKERS=N     worker_processes of both nginx (default 1)
#   BENCH_STATE=DIR           absolute state dir (default <repo>/.state/bench)
#   BENCH_REINIT=1            rebuild the pgbench tables even if present
#   HOOP_PG_PORT, HOOP_REDIS_PORT   servers' ports (default 25339, 63809)
#
# Expects build/modules/*.so (run `make` first); builds nothing.  Starts its
# own PostgreSQL 15 + Redis (scripts/servers.sh), two nginx instances and
# PgBouncer on 127.0.0.1 ports 25401-25407, and stops all of them on exit.
# gw_audit is gw_token with hoop_audit on (a statement event per
# transaction into the bench Redis; spool in $BENCH_STATE/spool).
# The table goes to stdout and to $BENCH_STATE/results/pg-<time>.txt.
set -euo pipefail
umask 022

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${BENCH_STATE:-$REPO/.state/bench}
STATE=${STATE%/}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
STREAM_SO=${STREAM_SO:-/usr/lib/nginx/modules/ngx_stream_module.so}
MODDIR=$REPO/build/modules
PGBIN=${HOOP_PG_BIN:-/usr/lib/postgresql/15/bin}
PGBENCH=$PGBIN/pgbench
PSQL=$PGBIN/psql
PGBOUNCER=${PGBOUNCER_BIN:-/usr/sbin/pgbouncer}
SVC_USER=hoop

export HOOP_PG_PORT=${HOOP_PG_PORT:-25339}
export HOOP_REDIS_PORT=${HOOP_REDIS_PORT:-63809}
PG_PORT=$HOOP_PG_PORT
P_NGINX=25401 P_BOUNCER=25402 P_RELAY=25403 P_TOKEN=25404 P_POLICY=25405
P_AUDIT=25406 P_AUDIT_STATUS=25407
AUDIT_STREAM=hoop:bench:audit
DB=pgbench
SCALE=10

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    TIME=${BENCH_TIME:-1} REPS=${BENCH_REPS:-1}
else
    TIME=${BENCH_TIME:-3} REPS=${BENCH_REPS:-5}
fi
WORKERS=${BENCH_NGINX_WORKERS:-1}

MODES="simple extended prepared"
CLIENTS="1 8"
TARGETS="direct nginx pgbouncer gw_relay gw_token gw_policy gw_audit"

die()  { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# Our clients pick their settings explicitly; nothing from the caller's
# libpq environment.  Plaintext everywhere: no target pays for TLS.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE \
      PGSERVICE PGSERVICEFILE PGOPTIONS PGREQUIRESSL PGTARGETSESSIONATTRS \
      2>/dev/null || true
export PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=10

case $STATE in /?*) ;; *) die "BENCH_STATE must be an absolute path" ;; esac
[[ $TIME =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIME must be a positive integer"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[ "$(id -u)" = 0 ] ||
    die "run as root: PgBouncer and the servers run as user '$SVC_USER'"

for m in ngx_hoop_auth_module ngx_hoop_audit_module ngx_hoop_mask_module \
         ngx_hoop_pg_module; do
    [ -f "$MODDIR/$m.so" ] || die "$MODDIR/$m.so is missing: run \`make\` first"
done
for b in "$NGINX" "$PGBENCH" "$PSQL" "$PGBOUNCER" "$STREAM_SO"; do
    [ -e "$b" ] || die "$b not found (make deps; apt-get install pgbouncer)"
done

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- what we start, and stopping it ----------------------------------------

NGX_STOCK=$STATE/nginx-stock
NGX_HOOP=$STATE/nginx-hoop
BOUNCER=$STATE/pgbouncer
IDP=$STATE/idp
LOG=$STATE/log
STARTED_SERVERS=0 STARTED_STOCK=0 STARTED_HOOP=0 STARTED_BOUNCER=0

nginx_pid() {   # the master's pid, if it runs
    local pid
    pid=$(cat "$1/nginx.pid" 2>/dev/null) && [ -n "$pid" ] &&
        kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_nginx() {
    local dir=$1 pid
    pid=$(nginx_pid "$dir") || return 0
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

stop_bouncer() {
    local pid
    pid=$(cat "$BOUNCER/pgbouncer.pid" 2>/dev/null) || return 0
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pgbouncer ] ||
        return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ $STARTED_HOOP = 0 ] || stop_nginx "$NGX_HOOP"
    [ $STARTED_STOCK = 0 ] || stop_nginx "$NGX_STOCK"
    [ $STARTED_BOUNCER = 0 ] || stop_bouncer
    if [ $STARTED_SERVERS = 1 ]; then
        "$REPO/scripts/servers.sh" stop "$STATE" >/dev/null 2>&1 ||
            note "stopping PostgreSQL/Redis failed: scripts/servers.sh stop $STATE"
    fi
    [ $rc = 0 ] || [ ! -d "$LOG" ] || note "failed (exit $rc); logs in $LOG"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- servers and data -------------------------------------------------------

for p in $P_NGINX $P_BOUNCER $P_RELAY $P_TOKEN $P_POLICY $P_AUDIT \
         $P_AUDIT_STATUS; do
    port_busy $p && die "port 127.0.0.1:$p is in use (another bench run?)"
done

mkdir -p "$STATE"
note "starting PostgreSQL :$PG_PORT and Redis :$HOOP_REDIS_PORT in $STATE"
STARTED_SERVERS=1
"$REPO/scripts/servers.sh" start "$STATE" test >/dev/null
. "$STATE/env.sh"
mkdir -p "$LOG"

vault_get() {
    perl -MJSON::PP -0777 -e 'my $v = decode_json(<STDIN>)->{$ARGV[0]};
        defined $v or die "no key $ARGV[0] in vault\n"; print $v' "$1" \
        <"$HOOP_VAULT"
}

admin_psql() {
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$STATE" -p "$PG_PORT" -U hoop "$@"
}

have=$(admin_psql -d postgres -tAc \
       "SELECT 1 FROM pg_database WHERE datname = '$DB'")
branches=
if [ "$have" = 1 ]; then
    branches=$(admin_psql -d "$DB" -tAc \
        "SELECT count(*) FROM pgbench_branches" 2>/dev/null || true)
fi
if [ "${BENCH_REINIT:-0}" = 1 ] || [ "$branches" != "$SCALE" ]; then
    note "pgbench -i -s $SCALE (once per state dir)"
    [ "$have" = 1 ] || admin_psql -d postgres -c "CREATE DATABASE $DB OWNER hoop"
    "$PGBENCH" -i -q -s $SCALE -h "$STATE" -p "$PG_PORT" -U hoop "$DB" \
        >"$LOG/pgbench-init.log" 2>&1 ||
        { tail -n 20 "$LOG/pgbench-init.log" >&2; die "pgbench -i failed"; }
fi
admin_psql -d "$DB" <<'SQL'
GRANT SELECT, INSERT, UPDATE ON pgbench_accounts, pgbench_branches,
      pgbench_tellers, pgbench_history TO app_trust, app_scram, app_ro;
SQL

# --- the relays ---------------------------------------------------------------

# (b) stock nginx: the stream module and nothing else.
mkdir -p "$NGX_STOCK"
cat >"$NGX_STOCK/nginx.conf" <<EOF
load_module $STREAM_SO;
worker_processes $WORKERS;
pid $NGX_STOCK/nginx.pid;
error_log $NGX_STOCK/error.log warn;
events { worker_connections 1024; }
stream {
    server {
        listen 127.0.0.1:$P_NGINX;
        proxy_pass 127.0.0.1:$PG_PORT;
    }
}
EOF

# (d) relay and (e) token login: one nginx with our modules, load order
# stream, auth, audit, mask, pg.  It loads a copy of build/modules taken
# now: `make` rewrites the .so files in place, which would crash a running
# nginx that has them mapped.
SOS=$STATE/modules
mkdir -p "$SOS"
for m in ngx_hoop_auth_module ngx_hoop_audit_module ngx_hoop_mask_module \
         ngx_hoop_pg_module; do
    cp "$MODDIR/$m.so" "$SOS/$m.so.tmp" && mv -f "$SOS/$m.so.tmp" "$SOS/$m.so"
done
"$REPO/tools/hoop-token" init "$IDP" --issuer http://127.0.0.1/bench-idp \
    >/dev/null
chmod 711 "$IDP"     # workers read the public JWKS; private keys stay 0600
TOKEN=$("$REPO/tools/hoop-token" mint "$IDP" --sub bench-user \
        --groups bench --ttl 7200)

hoop_conf() {   # $1 = 1: with the token-login server
    cat <<EOF
load_module $STREAM_SO;
load_module $SOS/ngx_hoop_auth_module.so;
load_module $SOS/ngx_hoop_audit_module.so;
load_module $SOS/ngx_hoop_mask_module.so;
load_module $SOS/ngx_hoop_pg_module.so;
worker_processes $WORKERS;
pid $NGX_HOOP/nginx.pid;
error_log $NGX_HOOP/error.log warn;
events { worker_connections 1024; }
EOF
    [ "$1" = 1 ] && cat <<EOF
hoop_vault file=$HOOP_VAULT;
hoop_oidc bench issuer=http://127.0.0.1/bench-idp audience=hoop
          jwks=$IDP/jwks.json;
hoop_redis 127.0.0.1:$HOOP_REDIS_PORT password=vault:redis;
hoop_audit_stream $AUDIT_STREAM;
hoop_audit_maxlen 100000;
hoop_audit_spool $STATE/spool max_size=1g;
http {
    access_log off;
    server {
        listen 127.0.0.1:$P_AUDIT_STATUS;
        location / { hoop_audit_status; }
    }
}
EOF
    cat <<EOF
stream {
    upstream bench_db {
        server 127.0.0.1:$PG_PORT;
    }
    server {
        listen 127.0.0.1:$P_RELAY;
        hoop_pg bench_db;
        hoop_pg_upstream_ssl disable;
    }
EOF
    [ "$1" = 1 ] && cat <<EOF
    server {
        listen 127.0.0.1:$P_TOKEN;
        hoop_pg bench_db;
        hoop_pg_auth oidc=bench;
        hoop_pg_role bench user=app_scram password=vault:app_scram
                     database=$DB groups=bench;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl disable;
    }
    # token login plus a realistic statement policy (issue #5)
    server {
        listen 127.0.0.1:$P_POLICY;
        hoop_pg bench_db;
        hoop_pg_auth oidc=bench;
        hoop_pg_role bench user=app_scram password=vault:app_scram
                     database=$DB groups=bench;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl disable;
        hoop_pg_deny statement=drop,truncate,alter,grant
                     message="no DDL via the gateway";
        hoop_pg_deny where=none;
        hoop_pg_deny statement=set_role,copy_program,do;
        hoop_pg_deny function=pg_read_file,pg_ls_dir,lo_import,lo_export,dblink_exec,pg_terminate_backend;
        hoop_pg_deny relation=pg_authid,pg_shadow;
    }
    # token login with the audit trail: an event per statement (issue #7)
    server {
        listen 127.0.0.1:$P_AUDIT;
        hoop_pg bench_db;
        hoop_pg_auth oidc=bench;
        hoop_pg_role bench user=app_scram password=vault:app_scram
                     database=$DB groups=bench;
        hoop_pg_plaintext_login on;
        hoop_pg_upstream_ssl disable;
        hoop_audit on;
    }
EOF
    echo "}"
}

declare -A SKIP=()     # target -> reason it was not measured

start_nginx() {   # dir -> 0 when started; the reason on stdout otherwise
    local dir=$1 out
    mkdir -p "$dir"
    if ! out=$("$NGINX" -t -q -p "$dir" -e "$dir/error.log" \
               -c "$dir/nginx.conf" 2>&1); then
        echo "$out" | grep -m1 -E 'emerg|alert|crit' | sed 's/^nginx: //' ||
            echo "nginx -t failed"
        return 1
    fi
    if ! out=$("$NGINX" -p "$dir" -e "$dir/error.log" \
               -c "$dir/nginx.conf" 2>&1); then
        echo "nginx did not start: $out" | head -n1
        return 1
    fi
}

note "starting nginx (stock) :$P_NGINX"
if reason=$(start_nginx "$NGX_STOCK"); then
    STARTED_STOCK=1
else
    SKIP[nginx]=$reason
fi

note "starting nginx (gateway) :$P_RELAY :$P_TOKEN :$P_POLICY :$P_AUDIT"
mkdir -p "$NGX_HOOP"
hoop_conf 1 >"$NGX_HOOP/nginx.conf"
if reason=$(start_nginx "$NGX_HOOP"); then
    STARTED_HOOP=1
else
    # Token login may not be buildable yet; keep the relay measurable.
    SKIP[gw_token]="gateway with token login does not start: $reason"
    SKIP[gw_policy]=${SKIP[gw_token]}
    SKIP[gw_audit]=${SKIP[gw_token]}
    hoop_conf 0 >"$NGX_HOOP/nginx.conf"
    if reason=$(start_nginx "$NGX_HOOP"); then
        STARTED_HOOP=1
    else
        SKIP[gw_relay]=$reason
    fi
fi

# (c) PgBouncer, session pooling, as the unprivileged user (it refuses root).
note "starting PgBouncer :$P_BOUNCER"
mkdir -p "$BOUNCER"
printf '"app_trust" ""\n' >"$BOUNCER/users.txt"
cat >"$BOUNCER/pgbouncer.ini" <<EOF
[databases]
$DB = host=127.0.0.1 port=$PG_PORT dbname=$DB

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $P_BOUNCER
unix_socket_dir =
auth_type = trust
auth_file = $BOUNCER/users.txt
pool_mode = session
max_client_conn = 100
default_pool_size = 20
logfile = $BOUNCER/pgbouncer.log
pidfile = $BOUNCER/pgbouncer.pid
log_connections = 0
log_disconnections = 0
EOF
chown -R "$SVC_USER:$SVC_USER" "$BOUNCER"
rm -f "$BOUNCER/pgbouncer.pid"
if runuser -u "$SVC_USER" -- "$PGBOUNCER" -d -q "$BOUNCER/pgbouncer.ini" \
        >"$LOG/pgbouncer-start.log" 2>&1; then
    STARTED_BOUNCER=1
else
    SKIP[pgbouncer]="pgbouncer did not start: $(head -n1 "$LOG/pgbouncer-start.log")"
fi

# --- how each target is reached ----------------------------------------------

SCRAM_PW=$(vault_get app_scram)

# target -> "port user password"
declare -A PORT=([direct]=$PG_PORT [nginx]=$P_NGINX [pgbouncer]=$P_BOUNCER
                 [gw_relay]=$P_RELAY [gw_token]=$P_TOKEN
                 [gw_policy]=$P_POLICY [gw_audit]=$P_AUDIT)
declare -A USER_OF=([direct]=app_trust [nginx]=app_trust [pgbouncer]=app_trust
                    [gw_relay]=app_trust [gw_token]=bench
                    [gw_policy]=bench [gw_audit]=bench)
declare -A PASS_OF=([gw_token]=$TOKEN [gw_policy]=$TOKEN [gw_audit]=$TOKEN)
declare -A LABEL=([direct]=direct [nginx]="nginx proxy" [pgbouncer]=pgbouncer
                  [gw_relay]="gw relay" [gw_token]="gw token"
                  [gw_policy]="gw policy" [gw_audit]="gw audit")

REDIS_PW=$(vault_get redis)

audit_added() {   # events ever added to the bench stream (Redis >= 7)
    REDISCLI_AUTH=$REDIS_PW redis-cli -p "$HOOP_REDIS_PORT" --no-auth-warning \
        XINFO STREAM "$AUDIT_STREAM" 2>/dev/null |
        awk 'prev == "entries-added" { print; found = 1; exit }
             { prev = $0 } END { if (!found) print 0 }'
}

audit_status() {   # the audit module's counters (JSON)
    curl -s "http://127.0.0.1:$P_AUDIT_STATUS/" 2>/dev/null || echo "?"
}

# Wait for each target to answer a real query, or record why not.
for t in $TARGETS; do
    [ -z "${SKIP[$t]:-}" ] || continue
    ok=0
    for _ in $(seq 50); do
        if out=$(PGPASSWORD=${PASS_OF[$t]:-} "$PSQL" -X -At -h 127.0.0.1 \
                 -p "${PORT[$t]}" -U "${USER_OF[$t]}" -d "$DB" \
                 -c "SELECT count(*) FROM pgbench_branches" 2>&1) &&
           [ "$out" = "$SCALE" ]; then
            ok=1; break
        fi
        sleep 0.1
    done
    if [ $ok = 0 ]; then
        SKIP[$t]="login/query failed: $(echo "$out" | head -n1)"
    fi
done
for t in $TARGETS; do
    [ -z "${SKIP[$t]:-}" ] || note "skipped ${LABEL[$t]}: ${SKIP[$t]}"
done

# --- measuring -------------------------------------------------------------------

declare -A RES=()      # "target|mode|clients" -> "tps tps ..."
RUN_NO=0 TPS='' CONNMS='' NTX=0
declare -A PCPU=() PTX=()   # "target|mode|clients" -> proxy ticks; transactions
declare -A RCPU=()          # "gw_audit|mode|clients" -> Redis ticks
declare -A EVRATE=()        # "mode|clients" -> audit events/s of each run
rm -f "$LOG"/run-*.log

# One pgbench run; sets TPS to its TPS or "err".  Output kept in $LOG.
pgbench_run() {   # target port user password extra-args...
    local t=$1 port=$2 user=$3 pass=$4 out rc
    shift 4
    RUN_NO=$((RUN_NO + 1))
    out=$LOG/run-$RUN_NO-$t.log
    echo "pgbench $* (target $t)" >"$out"
    set +e
    PGPASSWORD=$pass timeout -k 5 $((TIME + 60)) "$PGBENCH" -n \
        -h 127.0.0.1 -p "$port" -U "$user" "$@" "$DB" >>"$out" 2>&1
    rc=$?
    set -e
    TPS=$(awk '/^tps = / { print $3; exit }' "$out")
    CONNMS=$(awk '/^average connection time = / { print $5; exit }' "$out")
    NTX=$(awk '/^number of transactions actually processed: / {
               print $6; exit }' "$out")
    if [ $rc != 0 ] || [ -z "$TPS" ] ||
       grep -q '^number of failed transactions: [1-9]' "$out"; then
        TPS=err
    fi
}

median() {   # numbers (or "err") -> the median of the numbers, or "-"
    printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "-"; exit }
              if (NR % 2) printf "%.0f\n", v[(NR + 1) / 2]
              else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

median_ms() {   # like median, two decimals
    printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "-"; exit }
              if (NR % 2) printf "%.2f\n", v[(NR + 1) / 2]
              else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {   # a b -> a/b with two decimals, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b
        else printf "-" }'
}

# CPU accounting, to tell how much of the machine other jobs took while we
# measured (this box is often shared).  User time only: the kernel charges
# softirq time (loopback TCP) to whichever task or CPU it lands on, so
# system time cannot be split between us and others.  In clock ticks.
busy_ticks() {   # every CPU's user time since boot
    awk '/^cpu / { print $2 + $3; exit }' /proc/stat
}

proc_ticks() {   # pid -> its user time plus its reaped children's
    awk '{ sub(/^.*\) /, ""); print $12 + $14 }' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}

our_ticks() {   # everything this run started, live or reaped
    local total=0 pid kid
    for pid in $(head -n1 "$STATE/pg/postmaster.pid" 2>/dev/null) \
               $(nginx_pid "$NGX_STOCK") $(nginx_pid "$NGX_HOOP") \
               $(cat "$BOUNCER/pgbouncer.pid" "$STATE/redis.pid" 2>/dev/null); do
        total=$((total + $(proc_ticks "$pid")))
        for kid in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
            total=$((total + $(proc_ticks "$kid")))
        done
    done
    # pgbench and the rest of our own children, reaped by this shell
    total=$((total + $(times | awk -v hz="$HZ" 'NR == 2 {
        split($1, a, /[ms]/); printf "%d", (a[1] * 60 + a[2]) * hz }')))
    echo $total
}

redis_ticks() {   # user+system time of the bench Redis
    awk '{ sub(/^.*\) /, ""); print $12 + $13 }' \
        "/proc/$(cat "$STATE/redis.pid" 2>/dev/null)/stat" 2>/dev/null || echo 0
}

proxy_ticks() {   # target -> user+system time of the proxy's processes
    local pid kid total=0
    case $1 in
    nginx)          pid=$(nginx_pid "$NGX_STOCK") || pid= ;;
    gw_relay|gw_token|gw_policy|gw_audit)
                    pid=$(nginx_pid "$NGX_HOOP") || pid= ;;
    pgbouncer)      pid=$(cat "$BOUNCER/pgbouncer.pid" 2>/dev/null) || pid= ;;
    *)              pid= ;;
    esac
    if [ -n "$pid" ]; then
        # the nginx workers, or PgBouncer itself
        for kid in $pid $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
            total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' \
                               "/proc/$kid/stat" 2>/dev/null || echo 0)))
        done
    fi
    echo $total
}

HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

set -- $TARGETS
ALL_TARGETS=("$@")
ncells=$(( $(echo $MODES | wc -w) * $(echo $CLIENTS | wc -w) ))
note "measuring: ${#ALL_TARGETS[@]} targets x $ncells cells x $REPS runs x ${TIME}s"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_TS=$(date +%s)
START_NS=$(date +%s%N) BUSY0=$(busy_ticks) OURS0=$(our_ticks)

for rep in $(seq "$REPS"); do
    for mode in $MODES; do
        for c in $CLIENTS; do
            j=1; [ "$c" -gt 1 ] && j=2
            line="run $rep/$REPS $mode c=$c:"
            # rotate the order each run so no target is always first
            n=${#ALL_TARGETS[@]}
            for k in $(seq 0 $((n - 1))); do
                t=${ALL_TARGETS[$(( (k + rep - 1) % n ))]}
                [ -z "${SKIP[$t]:-}" ] || continue
                cpu0=$(proxy_ticks "$t")
                [ "$t" != gw_audit ] || { ev0=$(audit_added)
                                          evt0=$(date +%s%N)
                                          rcpu0=$(redis_ticks); }
                pgbench_run "$t" "${PORT[$t]}" "${USER_OF[$t]}" \
                    "${PASS_OF[$t]:-}" -S -M "$mode" -c "$c" -j "$j" \
                    -T "$TIME"
                if [ "$t" = gw_audit ]; then
                    # what Redis took while pgbench ran (and connected)
                    EVRATE["$mode|$c"]+="$(awk -v a="$ev0" -v b="$(audit_added)" \
                        -v ns=$(( $(date +%s%N) - evt0 )) \
                        'BEGIN { printf "%.0f", (b - a) / (ns / 1e9) }') "
                fi
                RES["$t|$mode|$c"]+="$TPS "
                if [ "$TPS" != err ]; then
                    key="$t|$mode|$c"
                    PCPU[$key]=$(( ${PCPU[$key]:-0} + $(proxy_ticks "$t") - cpu0 ))
                    PTX[$key]=$(( ${PTX[$key]:-0} + ${NTX:-0} ))
                    [ "$t" != gw_audit ] ||
                        RCPU[$key]=$(( ${RCPU[$key]:-0} + $(redis_ticks) - rcpu0 ))
                fi
                line="$line $t=${TPS%.*}"
            done
            note "$line"
        done
    done
done

# Connection rate: every transaction on a new connection, SCRAM upstream.
CONN_TARGETS="direct_scram gw_token"
declare -A CONN_PORT=([direct_scram]=$PG_PORT [gw_token]=$P_TOKEN)
declare -A CONN_USER=([direct_scram]=app_scram [gw_token]=bench)
declare -A CONN_PASS=([direct_scram]=$SCRAM_PW [gw_token]=$TOKEN)
declare -A CONN=() CONNTIME=()   # TPS; average connection time (ms)
for rep in $(seq "$REPS"); do
    line="conn $rep/$REPS:"
    for t in $CONN_TARGETS; do
        [ "$t" != gw_token ] || [ -z "${SKIP[gw_token]:-}" ] || continue
        pgbench_run "$t" "${CONN_PORT[$t]}" "${CONN_USER[$t]}" \
            "${CONN_PASS[$t]}" -C -S -M simple -c 4 -j 2 -T "$TIME"
        CONN[$t]+="$TPS "
        CONNTIME[$t]+="${CONNMS:-err} "
        line="$line $t=${TPS%.*}"
    done
    note "$line"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - START_TS ))
BUSY1=$(busy_ticks) OURS1=$(our_ticks)
# share of the machine's capacity used by processes that are not ours
FOREIGN=$(awk -v b=$((BUSY1 - BUSY0)) -v o=$((OURS1 - OURS0)) \
    -v ns=$(( $(date +%s%N) - START_NS )) -v hz="$HZ" -v n="$NCPU" 'BEGIN {
        f = (b - o) / (ns / 1e9 * hz * n) * 100
        printf "%.0f", (f < 0 ? 0 : f) }')

# --- the report --------------------------------------------------------------------

report() {
    local mode c t m d cell r rr verdict fails
    echo "ngx_hoop Postgres gateway benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')," \
         "$(nproc) CPUs, $(uname -r)"
    echo "pgbench -S, scale $SCALE, -T $TIME x $REPS runs interleaved," \
         "median TPS; (x.xx) = ratio to direct"
    echo "nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), worker_processes $WORKERS;" \
         "$("$PGBOUNCER" --version | head -n1), pool_mode session;" \
         "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}')"
    echo "modules: build/modules of $(date -u -r "$MODDIR/ngx_hoop_pg_module.so" \
         '+%Y-%m-%d %H:%M UTC'), tree at" \
         "$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
    echo "load average before $LOAD_BEFORE, after $LOAD_AFTER;" \
         "measuring took ${ELAPSED}s; other processes' user time" \
         "meanwhile: ${FOREIGN}% of the CPUs"
    if [ "$FOREIGN" -ge 10 ]; then
        echo "WARNING: the machine was busy with other work; the numbers are" \
             "disturbed (see the spread of the runs below)"
    fi
    echo
    printf '%-9s %2s %8s %15s %15s %15s %15s %15s %15s %12s %12s %13s %12s\n' \
        mode c direct "nginx proxy" pgbouncer "gw relay" "gw token" \
        "gw policy" "gw audit" relay/nginx token/nginx policy/token \
        audit/token
    fails=()
    pfails=()
    afails=()
    for mode in $MODES; do
        for c in $CLIENTS; do
            declare -A M=()
            for t in $TARGETS; do
                # shellcheck disable=SC2086
                M[$t]=$(median ${RES["$t|$mode|$c"]:-})
            done
            d=${M[direct]}
            printf '%-9s %2s %8s' "$mode" "$c" "$d"
            for t in nginx pgbouncer gw_relay gw_token gw_policy gw_audit; do
                if [ -n "${SKIP[$t]:-}" ]; then
                    cell="skipped"
                elif [ "${M[$t]}" = - ]; then
                    cell="err"
                else
                    cell="${M[$t]} ($(ratio "${M[$t]}" "$d"))"
                fi
                printf ' %15s' "$cell"
            done
            for t in gw_relay gw_token; do
                r=$(ratio "${M[$t]}" "${M[nginx]}")
                verdict=
                if [ "$r" != - ]; then
                    if awk -v r="$r" 'BEGIN { exit !(r >= 0.95) }'; then
                        verdict=" ok"
                    else
                        verdict=" LOW"
                        fails+=("${LABEL[$t]} $mode c=$c ${r}x")
                    fi
                fi
                printf ' %12s' "$r$verdict"
            done
            # the policy's cost: token login with rules vs without
            r=$(ratio "${M[gw_policy]}" "${M[gw_token]}")
            verdict=
            if [ "$r" != - ]; then
                if awk -v r="$r" 'BEGIN { exit !(r >= 0.97) }'; then
                    verdict=" ok"
                else
                    verdict=" LOW"
                    pfails+=("policy $mode c=$c ${r}x")
                fi
            fi
            printf ' %13s' "$r$verdict"
            # the audit trail's cost: token login with hoop_audit on vs off
            r=$(ratio "${M[gw_audit]}" "${M[gw_token]}")
            verdict=
            if [ "$r" != - ]; then
                if awk -v r="$r" 'BEGIN { exit !(r >= 0.95) }'; then
                    verdict=" ok"
                else
                    verdict=" LOW"
                    afails+=("audit $mode c=$c ${r}x")
                fi
            fi
            printf ' %12s' "$r$verdict"
            echo
            unset M
        done
    done
    # how far apart the runs of one cell were: max/min per target and cell
    if [ "$REPS" -gt 1 ]; then
        for mode in $MODES; do
            for c in $CLIENTS; do
                for t in $TARGETS; do
                    echo "$t $mode c=$c ${RES["$t|$mode|$c"]:-}"
                done
            done
        done | awk '{
                min = 0; max = 0
                for (i = 4; i <= NF; i++) {
                    if ($i !~ /^[0-9.]+$/) continue
                    if (min == 0 || $i < min) min = $i
                    if ($i > max) max = $i
                }
                if (min > 0) print max / min, $1, $2, $3 }' |
            sort -g | awk '{ r[NR] = $1; w = $0 }
                END { if (NR == 0) exit
                      split(w, f, " ")
                      printf "\nrun-to-run spread (max/min of a cell): " \
                             "median %.2f, worst %.2f (%s %s %s)\n",
                             r[int((NR + 1) / 2)], f[1], f[2], f[3], f[4] }'
    fi
    echo
    echo "target: gateway >= 0.95x nginx proxy_pass in every row:" \
         "$([ ${#fails[@]} = 0 ] && echo met || echo "missed in ${#fails[@]} row(s)")"
    for f in "${fails[@]}"; do echo "  below: $f"; done
    echo "target: gateway with a statement policy >= 0.97x without:" \
         "$([ ${#pfails[@]} = 0 ] && echo met || echo "missed in ${#pfails[@]} row(s)")"
    for f in "${pfails[@]}"; do echo "  below: $f"; done
    echo "target: gateway with hoop_audit on >= 0.95x off:" \
         "$([ ${#afails[@]} = 0 ] && echo met || echo "missed in ${#afails[@]} row(s)")"
    for f in "${afails[@]}"; do echo "  below: $f"; done

    echo
    echo "audit events into Redis while gw_audit ran (entries added to" \
         "$AUDIT_STREAM per second of a run; one statement event per" \
         "transaction), median of the runs:"
    for mode in $MODES; do
        for c in $CLIENTS; do
            # shellcheck disable=SC2086
            printf '  %-9s c=%-2s %8s events/s  (runs: %s)\n' "$mode" "$c" \
                "$(median ${EVRATE["$mode|$c"]:-})" \
                "$(echo ${EVRATE["$mode|$c"]:-} | tr ' ' ',')"
        done
    done
    echo "audit counters at the end: $(audit_status)"

    echo
    echo "proxy CPU per transaction, microseconds (user+system time of the" \
         "proxy's processes over all runs of a cell / transactions)"
    printf '%-9s %2s %12s %12s %12s %12s %12s %12s\n' mode c "nginx proxy" \
        pgbouncer "gw relay" "gw token" "gw policy" "gw audit"
    for mode in $MODES; do
        for c in $CLIENTS; do
            printf '%-9s %2s' "$mode" "$c"
            for t in nginx pgbouncer gw_relay gw_token gw_policy gw_audit; do
                printf ' %12s' "$(awk -v k="${PCPU["$t|$mode|$c"]:-}" \
                    -v n="${PTX["$t|$mode|$c"]:-0}" -v hz="$HZ" 'BEGIN {
                        if (k == "" || n == 0) printf "-"
                        else printf "%.1f", k / hz * 1e6 / n }')"
            done
            echo
        done
    done

    echo
    echo "the audit trail's CPU per transaction, microseconds: the gateway's" \
         "(gw audit - gw token) and Redis' while gw_audit ran; on a machine" \
         "where one set of cores runs pgbench, PostgreSQL, nginx and Redis," \
         "their sum over the cost of a gw token transaction bounds audit/token"
    printf '%-9s %2s %12s %12s %12s\n' mode c "gateway +" "redis" "sum"
    for mode in $MODES; do
        for c in $CLIENTS; do
            printf '%-9s %2s %s\n' "$mode" "$c" "$(awk \
                -v a="${PCPU["gw_audit|$mode|$c"]:-}" \
                -v an="${PTX["gw_audit|$mode|$c"]:-0}" \
                -v t="${PCPU["gw_token|$mode|$c"]:-}" \
                -v tn="${PTX["gw_token|$mode|$c"]:-0}" \
                -v r="${RCPU["gw_audit|$mode|$c"]:-}" -v hz="$HZ" 'BEGIN {
                    if (a == "" || t == "" || r == "" || an == 0 || tn == 0) {
                        printf "%12s %12s %12s", "-", "-", "-"; exit }
                    g = a / hz * 1e6 / an - t / hz * 1e6 / tn
                    rd = r / hz * 1e6 / an
                    printf "%12.1f %12.1f %12.1f", g, rd, g + rd }')"
        done
    done

    echo
    echo "connection rate: pgbench -C -S -M simple -c 4 -j 2 -T $TIME," \
         "median TPS (a new connection per transaction)"
    d=$(median ${CONN[direct_scram]:-})
    printf '  %-38s %6s TPS, connect %s ms\n' "direct, SCRAM login (app_scram)" \
        "$d" "$(median_ms ${CONNTIME[direct_scram]:-})"
    if [ -n "${SKIP[gw_token]:-}" ]; then
        printf '  %-38s skipped: %s\n' "gateway, token login, SCRAM upstream" \
            "${SKIP[gw_token]}"
    else
        m=$(median ${CONN[gw_token]:-})
        r=$(ratio "$m" "$d")
        verdict="-"
        if [ "$r" != - ]; then
            awk -v r="$r" 'BEGIN { exit !(r >= 0.8) }' &&
                verdict="target >= 0.8x: met" || verdict="target >= 0.8x: MISSED"
        fi
        printf '  %-38s %6s TPS, connect %s ms  (%sx direct SCRAM; %s)\n' \
            "gateway, token login, SCRAM upstream" "$m" \
            "$(median_ms ${CONNTIME[gw_token]:-})" "$r" "$verdict"
    fi

    for t in $TARGETS; do
        [ -z "${SKIP[$t]:-}" ] || echo "skipped: ${LABEL[$t]}: ${SKIP[$t]}"
    done

    echo
    echo "runs (TPS of each run, in run order):"
    for mode in $MODES; do
        for c in $CLIENTS; do
            printf '  %-9s c=%-2s' "$mode" "$c"
            for t in $TARGETS; do
                [ -z "${SKIP[$t]:-}" ] || continue
                rr=$(echo ${RES["$t|$mode|$c"]:-} |
                     awk '{ for (i = 1; i <= NF; i++)
                              printf "%s%s", (i > 1 ? "," : ""),
                                     ($i ~ /^[0-9.]+$/ ? sprintf("%.0f", $i) : $i) }')
                printf ' %s=%s' "$t" "$rr"
            done
            echo
        done
    done
    for t in $CONN_TARGETS; do
        [ -n "${CONN[$t]:-}" ] || continue
        printf '  conn-rate %s=%s\n' "$t" \
            "$(echo ${CONN[$t]} | awk '{ for (i = 1; i <= NF; i++)
                printf "%s%s", (i > 1 ? "," : ""),
                       ($i ~ /^[0-9.]+$/ ? sprintf("%.0f", $i) : $i) }')"
    done
    echo "logs of every run: $LOG"
}

mkdir -p "$STATE/results"
OUT=$STATE/results/pg-$(date -u +%Y%m%d-%H%M%S).txt
report | tee "$OUT"
note "saved to $OUT"
