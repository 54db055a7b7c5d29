#!/bin/bash
# bench/http.sh — hoop_auth + proxy_pass against plain proxy_pass to the same
# upstream, side by side in one run, and the cost of an uncached token
# verification for RS256 and ES256 (see bench/README.md).
#
#   bench/http.sh                  full run (3 s x 5 runs per cell, ~3 minutes)
#   BENCH_QUICK=1 bench/http.sh    smoke run (1 s x 1 run, under a minute)
#
# Knobs (environment):
#   BENCH_TIME=SECONDS        wrk -d per run (default 3; quick: 1)
#   BENCH_REPS=N              runs per cell, interleaved (default 5; quick: 1)
#   BENCH_QUICK=1             the smoke-run defaults above
#   BENCH_NGINX_WORKERS=N     worker_processes of the gateways (default 1)
#   BENCH_2W=0                skip the 2-worker cells (default: run them
#                             unless BENCH_NGINX_WORKERS is already 2)
#   BENCH_TOKENS=N            distinct tokens per algorithm for the cache-miss
#                             cells (default 10000; quick: 2000; 0 skips them)
#   BENCH_STATE=DIR           absolute state dir (default <repo>/.state/bench)
#
# Expects build/modules/*.so (run `make` first); builds nothing.  Starts
# nginx instances on 127.0.0.1 ports 55500-55506 and stops them on exit.
# Needs no root.  The table goes to stdout and to
# $BENCH_STATE/results/http-<time>.txt.
set -euo pipefail
umask 022

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${BENCH_STATE:-$REPO/.state/bench}
STATE=${STATE%/}
NGINX=${NGINX_BIN:-/usr/sbin/nginx}
STREAM_SO=${STREAM_SO:-/usr/lib/nginx/modules/ngx_stream_module.so}
MODDIR=$REPO/build/modules
WRK=${WRK_BIN:-/usr/bin/wrk}
CURL=${CURL_BIN:-/usr/bin/curl}

P_UP=55500                       # the upstream: stock nginx, a fixed body
P_PLAIN=55501 P_AUTH=55502       # gateway: proxy_pass, hoop_auth + proxy_pass
P_OFF=55503                      # gateway with hoop_auth_cache off
P_W2_PLAIN=55504 P_W2_OFF=55505  # the same, 2 workers
P_MISS=55506                     # gateway with a small cache, distinct tokens
WRK_CONN=16

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    TIME=${BENCH_TIME:-1} REPS=${BENCH_REPS:-1} NTOK=${BENCH_TOKENS:-2000}
else
    TIME=${BENCH_TIME:-3} REPS=${BENCH_REPS:-5} NTOK=${BENCH_TOKENS:-10000}
fi
WORKERS=${BENCH_NGINX_WORKERS:-1}
W2=${BENCH_2W:-1}
[ "$WORKERS" != 2 ] || W2=0
MISS_ZONE=256k      # holds 300-600 bench identities: far fewer than NTOK

die()  { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

case $STATE in /?*) ;; *) die "BENCH_STATE must be an absolute path" ;; esac
[[ $TIME =~ ^[1-9][0-9]*$ ]] || die "BENCH_TIME must be a positive integer"
[[ $REPS =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPS must be a positive integer"
[[ $WORKERS =~ ^[1-9][0-9]*$ ]] ||
    die "BENCH_NGINX_WORKERS must be a positive integer"
[[ $NTOK =~ ^[0-9]+$ ]] || die "BENCH_TOKENS must be a number"
if [ "$NTOK" != 0 ] && [ "$NTOK" -lt 2000 ]; then
    die "BENCH_TOKENS must be 0 or at least 2000 (more than the" \
        "$MISS_ZONE cache holds, or requests would hit it)"
fi

for m in ngx_hoop_auth_module ngx_hoop_audit_module ngx_hoop_mask_module \
         ngx_hoop_pg_module; do
    [ -f "$MODDIR/$m.so" ] || die "$MODDIR/$m.so is missing: run \`make\` first"
done
for b in "$NGINX" "$STREAM_SO" "$WRK" "$CURL"; do
    [ -e "$b" ] || die "$b not found (make deps)"
done
perl -MCrypt::JWT -MCrypt::PK::RSA -MCrypt::PK::ECC -e 1 2>/dev/null ||
    die "Crypt::JWT / CryptX missing (make deps)"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- what we start, and stopping it ----------------------------------------

HS=$STATE/http            # everything of this script; pg.sh has the rest
LOG=$HS/log
IDP=$HS/idp
INSTANCES="up gw off miss w2"
declare -A STARTED=()

nginx_pid() {   # dir -> the master's pid, if it runs
    local pid
    pid=$(cat "$1/nginx.pid" 2>/dev/null) && [ -n "$pid" ] &&
        kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_nginx() {
    local dir=$1 pid
    pid=$(nginx_pid "$dir") || return 0
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1
    done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for i in $INSTANCES; do
        [ -z "${STARTED[$i]:-}" ] || stop_nginx "$HS/nginx-$i"
    done
    [ $rc = 0 ] || [ ! -d "$LOG" ] || note "failed (exit $rc); logs in $HS"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for p in $(seq 55500 55506); do
    port_busy "$p" && die "port 127.0.0.1:$p is in use (another bench run?)"
done

mkdir -p "$HS" "$LOG"
rm -f "$LOG"/run-*.log

# The gateways load a copy of build/modules taken now: `make` rewrites the
# .so files, which would crash a running nginx that has them mapped.
SOS=$HS/modules
mkdir -p "$SOS"
MOD_TIME=$(date -u -r "$MODDIR/ngx_hoop_auth_module.so" '+%Y-%m-%d %H:%M UTC')
for m in ngx_hoop_auth_module ngx_hoop_audit_module ngx_hoop_mask_module \
         ngx_hoop_pg_module; do
    cp "$MODDIR/$m.so" "$SOS/$m.so.tmp" && mv -f "$SOS/$m.so.tmp" "$SOS/$m.so"
done

# --- keys and tokens ---------------------------------------------------------

ISSUER=http://127.0.0.1/bench-idp
"$REPO/tools/hoop-token" init "$IDP" --issuer "$ISSUER" >/dev/null
chmod 711 "$IDP"     # workers read the public JWKS; private keys stay 0600
TOK_RS=$("$REPO/tools/hoop-token" mint "$IDP" --sub bench-user \
         --groups bench --ttl 7200 --alg RS256)
TOK_ES=$("$REPO/tools/hoop-token" mint "$IDP" --sub bench-user \
         --groups bench --ttl 7200 --alg ES256)

# Distinct tokens for the cache-miss cells: the claims tools/hoop-token mint
# writes, plus a jti that differs in every token.  One process, not one per
# token: signing itself takes well under a millisecond.
mint_many() {   # alg kid keyfile n out
    perl -MCrypt::JWT=encode_jwt -MCrypt::PK::RSA -MCrypt::PK::ECC -e '
        my ($alg, $kid, $keyf, $n, $iss) = @ARGV;
        my $key = ($alg =~ /^ES/ ? "Crypt::PK::ECC" : "Crypt::PK::RSA")
                  ->new($keyf);
        my $now = time;
        for my $i (1 .. $n) {
            print encode_jwt(payload => { iss => $iss, sub => "bench-user",
                    aud => "hoop", iat => $now, nbf => $now,
                    exp => $now + 7200, groups => ["bench"],
                    jti => sprintf("bench-%d-%d", $now, $i) },
                alg => $alg, key => $key,
                extra_headers => { typ => "JWT", kid => $kid }), "\n";
        }' "$1" "$2" "$3" "$4" "$ISSUER" >"$5.tmp"
    mv -f "$5.tmp" "$5"
}
if [ "$NTOK" != 0 ]; then
    note "minting $NTOK distinct RS256 and ES256 tokens"
    mint_many RS256 rsa1 "$IDP/rsa1.pem" "$NTOK" "$HS/tokens-rs.txt"
    mint_many ES256 ec1 "$IDP/ec1.pem" "$NTOK" "$HS/tokens-es.txt"
fi

# wrk script: cycle through a file of tokens, one per line, starting at an
# offset so that a later run continues where the previous one stopped (no
# token comes back before the cache has forgotten it).
cat >"$HS/tokens.lua" <<'EOF'
local reqs, n, i = {}, 0, 0
function init(args)
    for line in io.lines(args[1]) do
        n = n + 1
        reqs[n] = wrk.format(nil, nil,
                             { Authorization = "Bearer " .. line })
    end
    if n == 0 then error("no tokens in " .. args[1]) end
    i = (tonumber(args[2]) or 0) % n
end
function request()
    i = i % n + 1
    return reqs[i]
end
EOF

# --- the nginx instances ------------------------------------------------------

BODY=$(printf 'hoop bench %.0s' 1 2 3 4 5)   # 55 bytes
BODY=${BODY% }

conf_head() {   # instance workers -> main context
    local i=$1 w=$2
    if [ "$i" != up ]; then
        cat <<EOF
load_module $STREAM_SO;
load_module $SOS/ngx_hoop_auth_module.so;
load_module $SOS/ngx_hoop_audit_module.so;
load_module $SOS/ngx_hoop_mask_module.so;
load_module $SOS/ngx_hoop_pg_module.so;
EOF
    fi
    cat <<EOF
worker_processes $w;
pid $HS/nginx-$i/nginx.pid;
error_log $HS/nginx-$i/error.log warn;
events { worker_connections 1024; }
EOF
    [ "$i" = up ] && return 0
    cat <<EOF
hoop_oidc bench issuer=$ISSUER audience=hoop jwks=$IDP/jwks.json;
EOF
    case $i in
    off|w2) echo "hoop_auth_cache off;" ;;
    miss)   echo "hoop_auth_cache size=$MISS_ZONE;" ;;
    esac
}

# Every gateway location proxies to the same upstream, over kept-alive
# connections: wrk's rate of new upstream connections would otherwise run
# loopback out of ports (TIME_WAIT), and proxy_pass would mostly measure
# connect().
http_head() {
    cat <<EOF
http {
    access_log off;
    default_type text/plain;
    upstream bench_up {
        server 127.0.0.1:$P_UP;
        keepalive 32;
    }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
EOF
}

plain_server() {   # port
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://bench_up;
        }
    }
EOF
}

auth_server() {   # port
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location / {
            hoop_auth oidc=bench;
            proxy_pass http://bench_up;
        }
    }
EOF
}

write_conf() {   # instance
    local i=$1
    case $i in
    up)
        conf_head up 1
        cat <<EOF
http {
    access_log off;
    default_type text/plain;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$P_UP;
        location / { return 200 "$BODY\n"; }
    }
}
EOF
        ;;
    gw)   conf_head gw "$WORKERS"; http_head
          plain_server $P_PLAIN; auth_server $P_AUTH; echo "}" ;;
    off)  conf_head off "$WORKERS"; http_head
          auth_server $P_OFF; echo "}" ;;
    miss) conf_head miss "$WORKERS"; http_head
          auth_server $P_MISS; echo "}" ;;
    w2)   conf_head w2 2; http_head
          plain_server $P_W2_PLAIN; auth_server $P_W2_OFF; echo "}" ;;
    esac
}

start_nginx() {   # instance -> 0 when started; the reason on stdout otherwise
    local dir=$HS/nginx-$1 out
    mkdir -p "$dir"
    write_conf "$1" >"$dir/nginx.conf"
    rm -f "$dir/error.log"
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

# --- the cells ---------------------------------------------------------------

# cell -> instance, port, how wrk authenticates (static token or token file)
CELLS="plain warm off_rs off_es"
[ "$NTOK" = 0 ] || CELLS="$CELLS miss_rs miss_es"
[ "$W2" = 0 ] || CELLS="$CELLS w2_plain w2_off_rs w2_off_es"
declare -A INST=([plain]=gw [warm]=gw [off_rs]=off [off_es]=off
                 [miss_rs]=miss [miss_es]=miss
                 [w2_plain]=w2 [w2_off_rs]=w2 [w2_off_es]=w2)
declare -A PORT=([plain]=$P_PLAIN [warm]=$P_AUTH [off_rs]=$P_OFF
                 [off_es]=$P_OFF [miss_rs]=$P_MISS [miss_es]=$P_MISS
                 [w2_plain]=$P_W2_PLAIN [w2_off_rs]=$P_W2_OFF
                 [w2_off_es]=$P_W2_OFF)
# The plain cells get the same request as the warm one, token included:
# the client's traffic is the same, only the gateway differs.  (Plain
# proxy_pass forwards the header; hoop_auth removes it.)
declare -A TOKEN=([plain]=$TOK_RS [warm]=$TOK_RS [off_rs]=$TOK_RS
                  [off_es]=$TOK_ES [w2_plain]=$TOK_RS [w2_off_rs]=$TOK_RS
                  [w2_off_es]=$TOK_ES)
declare -A CHECKS_AUTH=([warm]=1 [off_rs]=1 [off_es]=1 [miss_rs]=1
                        [miss_es]=1 [w2_off_rs]=1 [w2_off_es]=1)
declare -A TOKFILE=([miss_rs]=$HS/tokens-rs.txt [miss_es]=$HS/tokens-es.txt)
declare -A LABEL=(
    [plain]="plain proxy_pass"
    [warm]="hoop_auth, warm cache (RS256)"
    [off_rs]="hoop_auth_cache off, RS256"
    [off_es]="hoop_auth_cache off, ES256"
    [miss_rs]="cache misses, $NTOK RS256 tokens"
    [miss_es]="cache misses, $NTOK ES256 tokens"
    [w2_plain]="plain proxy_pass"
    [w2_off_rs]="hoop_auth_cache off, RS256"
    [w2_off_es]="hoop_auth_cache off, ES256")
declare -A SKIP=()     # cell -> reason it was not measured
declare -A ISKIP=()    # instance -> reason it did not start

for i in $INSTANCES; do
    case $i in
    miss) [ "$NTOK" != 0 ] || continue ;;
    w2)   [ "$W2" != 0 ] || continue ;;
    esac
    note "starting nginx ($i)"
    if reason=$(start_nginx "$i"); then
        STARTED[$i]=1
    else
        ISKIP[$i]=$reason
    fi
done
[ -n "${STARTED[up]:-}" ] ||
    die "the upstream nginx does not start: ${ISKIP[up]}"

# One request; prints the status, the body goes to $LOG/probe.body.
probe() {   # port [token]
    local auth=()
    [ -z "${2:-}" ] || auth=(-H "Authorization: Bearer $2")
    "$CURL" -sS -m 5 -o "$LOG/probe.body" -w '%{http_code}' "${auth[@]}" \
        "http://127.0.0.1:$1/" 2>&1 || true
}

# Before measuring, each cell must answer what it is meant to: the body
# from the upstream, and for the hoop_auth cells 401 without a token and
# with a tampered one (a gateway that let everything through would look
# fast).
for c in $CELLS; do
    i=${INST[$c]}
    if [ -n "${ISKIP[$i]:-}" ]; then
        SKIP[$c]="nginx ($i) does not start: ${ISKIP[$i]}"
        continue
    fi
    tok=${TOKEN[$c]:-}
    if [ -n "${TOKFILE[$c]:-}" ]; then   # the first and the last token
        tok=$(head -n1 "${TOKFILE[$c]}")
        st=$(probe "${PORT[$c]}" "$(tail -n1 "${TOKFILE[$c]}")")
        [ "$st" = 200 ] || { SKIP[$c]="last token: status $st"; continue; }
    fi
    ok=0
    for _ in $(seq 50); do   # the first key load may take a moment
        st=$(probe "${PORT[$c]}" "$tok")
        [ "$st" = 200 ] && [ "$(cat "$LOG/probe.body")" = "$BODY" ] &&
            { ok=1; break; }
        sleep 0.1
    done
    if [ $ok = 0 ]; then
        SKIP[$c]="status $st, body: $(head -c 80 "$LOG/probe.body" |
                                      tr '\n' ' ')"
        continue
    fi
    if [ -n "${CHECKS_AUTH[$c]:-}" ]; then
        st=$(probe "${PORT[$c]}")
        [ "$st" = 401 ] || SKIP[$c]="no token gives status $st, not 401"
        # one character of the signature changed: verified, and refused
        k=$(( ${#tok} - 10 )) ch=A
        [ "${tok:$k:1}" != A ] || ch=B
        st=$(probe "${PORT[$c]}" "${tok:0:$k}$ch${tok:$((k + 1))}")
        [ "$st" = 401 ] || SKIP[$c]="a tampered token gives status $st, not 401"
    fi
done
for c in $CELLS; do
    [ -z "${SKIP[$c]:-}" ] || note "skipped ${LABEL[$c]}: ${SKIP[$c]}"
done

# --- measuring ---------------------------------------------------------------

declare -A RES=()      # cell -> "req/s req/s ..."
declare -A PCPU=() PREQ=()   # cell -> gateway ticks; requests
declare -A OFFSET=()   # token file -> requests sent from it so far
RUN_NO=0 RPS='' NREQ=0

# One wrk run; sets RPS to its req/s (or "err") and NREQ.
wrk_run() {   # cell
    local c=$1 out rc args=()
    RUN_NO=$((RUN_NO + 1))
    out=$LOG/run-$RUN_NO-$c.log
    if [ -n "${TOKFILE[$c]:-}" ]; then
        args=(-s "$HS/tokens.lua" "http://127.0.0.1:${PORT[$c]}/" --
              "${TOKFILE[$c]}" "${OFFSET[${TOKFILE[$c]}]:-0}")
    elif [ -n "${TOKEN[$c]:-}" ]; then
        args=(-H "Authorization: Bearer ${TOKEN[$c]}"
              "http://127.0.0.1:${PORT[$c]}/")
    else
        args=("http://127.0.0.1:${PORT[$c]}/")
    fi
    echo "wrk -t1 -c$WRK_CONN -d${TIME}s (cell $c)" >"$out"
    set +e
    timeout -k 5 $((TIME + 30)) "$WRK" -t1 -c"$WRK_CONN" -d"${TIME}s" \
        "${args[@]}" >>"$out" 2>&1
    rc=$?
    set -e
    RPS=$(awk '/^Requests\/sec:/ { print $2; exit }' "$out")
    NREQ=$(awk '/ requests in / { print $1; exit }' "$out")
    [ -z "${TOKFILE[$c]:-}" ] ||
        OFFSET[${TOKFILE[$c]}]=$(( ${OFFSET[${TOKFILE[$c]}]:-0} + ${NREQ:-0} ))
    # any status but 200 (a 401 is cheap) or socket error spoils the run
    if [ $rc != 0 ] || [ -z "$RPS" ] ||
       grep -q -e 'Non-2xx or 3xx responses' -e 'Socket errors' "$out"; then
        RPS=err
    fi
}

median() {   # numbers (or "err") -> the median of the numbers, or "-"
    printf '%s\n' "$@" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk '
        { v[NR] = $1 }
        END { if (NR == 0) { print "-"; exit }
              if (NR % 2) printf "%.0f\n", v[(NR + 1) / 2]
              else printf "%.0f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() {   # a b -> a/b with two decimals, or "-"
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b
        else printf "-" }'
}

# CPU accounting.  User time of everything, to tell how much of the machine
# other jobs took while we measured (system time cannot be split: the
# kernel charges loopback softirq work to whichever task runs).  In ticks.
busy_ticks() {   # every CPU's user time since boot
    awk '/^cpu / { print $2 + $3; exit }' /proc/stat
}

proc_ticks() {   # pid -> its user time plus its reaped children's
    awk '{ sub(/^.*\) /, ""); print $12 + $14 }' \
        "/proc/$1/stat" 2>/dev/null || echo 0
}

our_ticks() {   # everything this run started, live or reaped
    local total=0 i pid kid
    for i in $INSTANCES; do
        pid=$(nginx_pid "$HS/nginx-$i") || continue
        total=$((total + $(proc_ticks "$pid")))
        for kid in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
            total=$((total + $(proc_ticks "$kid")))
        done
    done
    # this shell, and wrk and the rest of its children once reaped.  Not
    # `times`: in $(...) or a pipeline it reports the subshell, i.e. zero.
    total=$((total + $(proc_ticks $$)))
    echo $total
}

gw_ticks() {   # instance -> user+system time of its workers
    local pid kid total=0
    pid=$(nginx_pid "$HS/nginx-$1") || { echo 0; return; }
    for kid in $(cat "/proc/$pid/task/$pid/children" 2>/dev/null); do
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' \
                           "/proc/$kid/stat" 2>/dev/null || echo 0)))
    done
    echo $total
}

HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

# OpenSSL's own verification rate on one core, for reference: what the
# gateway's figure would be if verifying cost nothing but the signature.
note "openssl speed rsa2048 ecdsap256 (one core, 4 s)"
OSSL=$(openssl speed -seconds 1 rsa2048 ecdsap256 2>/dev/null || true)
OSSL_RS=$(echo "$OSSL" | awk '/^rsa 2048 bits/ { printf "%.0f", $NF }')
OSSL_ES=$(echo "$OSSL" | awk '/ecdsa \(nistp256\)/ { printf "%.0f", $NF }')

declare -a ALL=()
for c in $CELLS; do [ -n "${SKIP[$c]:-}" ] || ALL+=("$c"); done
[ ${#ALL[@]} -gt 0 ] || die "no cell can be measured"
note "measuring: ${#ALL[@]} cells x $REPS runs x ${TIME}s"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START_TS=$(date +%s)
START_NS=$(date +%s%N) BUSY0=$(busy_ticks) OURS0=$(our_ticks)

n=${#ALL[@]}
for rep in $(seq "$REPS"); do
    line="run $rep/$REPS:"
    # rotate the order each run so no cell is always first
    for k in $(seq 0 $((n - 1))); do
        c=${ALL[$(( (k + rep - 1) % n ))]}
        cpu0=$(gw_ticks "${INST[$c]}")
        wrk_run "$c"
        RES[$c]+="$RPS "
        if [ "$RPS" != err ]; then
            PCPU[$c]=$(( ${PCPU[$c]:-0} + $(gw_ticks "${INST[$c]}") - cpu0 ))
            PREQ[$c]=$(( ${PREQ[$c]:-0} + ${NREQ:-0} ))
        fi
        line="$line $c=${RPS%.*}"
    done
    note "$line"
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(( $(date +%s) - START_TS ))
BUSY1=$(busy_ticks) OURS1=$(our_ticks)
FOREIGN=$(awk -v b=$((BUSY1 - BUSY0)) -v o=$((OURS1 - OURS0)) \
    -v ns=$(( $(date +%s%N) - START_NS )) -v hz="$HZ" -v n="$NCPU" 'BEGIN {
        f = (b - o) / (ns / 1e9 * hz * n) * 100
        printf "%.0f", (f < 0 ? 0 : f) }')

# --- the report --------------------------------------------------------------

cpu_us() {   # cell -> gateway CPU microseconds per request, or "-"
    awk -v k="${PCPU[$1]:-}" -v n="${PREQ[$1]:-0}" -v hz="$HZ" 'BEGIN {
        if (k == "" || n == 0) printf "-"
        else printf "%.1f", k / hz * 1e6 / n }'
}

busy_pct() {   # cell -> gateway CPU time / wall time of its good runs, %
    local good
    good=$(echo ${RES[$1]:-} | tr ' ' '\n' | grep -cE '^[0-9.]+$' || true)
    awk -v k="${PCPU[$1]:-}" -v g="$good" -v t="$TIME" -v hz="$HZ" 'BEGIN {
        if (k == "" || g == 0) printf "-"
        else printf "%.0f%%", k / hz / (g * t) * 100 }'
}

per_core() {   # uncached cell plain-cell -> verifications/s per core, or "-"
    local a b
    a=$(cpu_us "$1") b=$(cpu_us "$2")
    awk -v a="$a" -v b="$b" 'BEGIN {
        if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || a <= b) printf "-"
        else printf "%.0f", 1e6 / (a - b) }'
}

row() {   # cell ratio-base -> one table line
    local c=$1 base=$2 m r
    if [ -n "${SKIP[$c]:-}" ]; then
        printf '  %-36s %9s\n' "${LABEL[$c]}" skipped
        return
    fi
    m=$(median ${RES[$c]:-})
    r=-
    [ -z "$base" ] || r=$(ratio "$m" "$(median ${RES[$base]:-})")
    printf '  %-36s %9s %7s %10s %8s\n' "${LABEL[$c]}" "$m" "$r" \
        "$(cpu_us "$c")" "$(busy_pct "$c")"
}

has() { [[ " $CELLS " == *" $1 "* ]] && [ -z "${SKIP[$1]:-}" ]; }

report() {
    local c m r verdict v
    echo "ngx_hoop HTTP auth benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')," \
         "$NCPU CPUs, $(uname -r)"
    echo "wrk -t1 -c$WRK_CONN -d ${TIME}s x $REPS runs interleaved, median" \
         "req/s; ratio = to plain proxy_pass of the same worker count"
    echo "nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), gateways" \
         "worker_processes $WORKERS; upstream: stock nginx, 1 worker," \
         "${#BODY}+1-byte body, kept-alive upstream connections"
    echo "modules: build/modules of $MOD_TIME, tree at" \
         "$(git -C "$REPO" describe --always --dirty 2>/dev/null || echo '?')"
    echo "load average before $LOAD_BEFORE, after $LOAD_AFTER;" \
         "measuring took ${ELAPSED}s; other processes' user time" \
         "meanwhile: ${FOREIGN}% of the CPUs"
    if [ "$FOREIGN" -ge 10 ]; then
        echo "WARNING: the machine was busy with other work; the numbers are" \
             "disturbed (see the runs below)"
    fi
    echo
    printf '  %-36s %9s %7s %10s %8s\n' "worker_processes $WORKERS" req/s \
        ratio "CPU/req" busy
    for c in plain warm off_rs off_es miss_rs miss_es; do
        [[ " $CELLS " == *" $c "* ]] || continue
        [ "$c" = plain ] && row "$c" "" || row "$c" plain
    done
    echo "  (CPU/req: user+system time of the gateway's workers per request," \
         "microseconds; busy: that time / wall time, 100% = one core)"

    echo
    m=$(median ${RES[warm]:-}) r=-
    has warm && has plain && r=$(ratio "$m" "$(median ${RES[plain]:-})")
    if [ "$r" = - ]; then
        verdict="not measured"
    elif awk -v r="$r" 'BEGIN { exit !(r >= 0.90) }'; then
        verdict="met (${r}x)"
    else
        verdict="MISSED (${r}x)"
    fi
    echo "target: hoop_auth with a warm cache >= 0.90x plain proxy_pass:" \
         "$verdict"
    r=$(ratio "$(cpu_us plain)" "$(cpu_us warm)")
    if [ "$r" != - ]; then
        echo "  by the gateway's CPU/req (plain / warm), the ratio when its" \
             "worker is the bottleneck: ${r}x"
    fi

    echo
    echo "uncached verification, per core (worker_processes $WORKERS," \
         "hoop_auth_cache off):"
    printf '  %-6s %12s %14s %14s %14s\n' alg "req/s" "added CPU/req" \
        "verif./s/core" "openssl verify"
    for v in rs es; do
        c=off_$v
        has "$c" || { printf '  %-6s %12s\n' "${v^^}256" skipped; continue; }
        printf '  %-6s %12s %14s %14s %14s\n' "${v^^}256" \
            "$(median ${RES[$c]:-})" \
            "$(awk -v a="$(cpu_us "$c")" -v b="$(cpu_us plain)" 'BEGIN {
                if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/)
                    printf "%.1f us", a - b; else printf "-" }')" \
            "$(per_core "$c" plain)" \
            "$(o=$([ $v = rs ] && echo "$OSSL_RS" || echo "$OSSL_ES")
               [ -n "$o" ] && echo "$o/s" || echo -)"
    done
    echo "  req/s: the whole path (verification + proxy_pass) on"\
         "$WORKERS worker(s);"
    echo "  added CPU/req: the gateway's CPU per request minus plain" \
         "proxy_pass's; verif./s/core = 1 s / that"
    echo "  openssl verify: \`openssl speed\` on one core, the signature alone"

    if [ "$W2" != 0 ]; then
        echo
        printf '  %-36s %9s %7s %10s %8s\n' "worker_processes 2" req/s ratio \
            "CPU/req" busy
        for c in w2_plain w2_off_rs w2_off_es; do
            [ "$c" = w2_plain ] && row "$c" "" || row "$c" w2_plain
        done
        for v in rs es; do
            has "off_$v" && has "w2_off_$v" || continue
            echo "  ${v^^}256 uncached, 2 workers / $WORKERS:" \
                 "$(ratio "$(median ${RES[w2_off_$v]:-})" \
                          "$(median ${RES[off_$v]:-})")x"
        done
        echo "  ($NCPU CPUs shared by wrk, the upstream and the workers)"
    fi

    for c in $CELLS; do
        [ -z "${SKIP[$c]:-}" ] || echo "skipped: ${LABEL[$c]}: ${SKIP[$c]}"
    done

    # how far apart the runs of one cell were
    if [ "$REPS" -gt 1 ]; then
        for c in "${ALL[@]}"; do echo "$c ${RES[$c]:-}"; done | awk '{
                min = 0; max = 0
                for (i = 2; i <= NF; i++) {
                    if ($i !~ /^[0-9.]+$/) continue
                    if (min == 0 || $i < min) min = $i
                    if ($i > max) max = $i
                }
                if (min > 0) print max / min, $1 }' |
            sort -g | awk '{ r[NR] = $1; w = $2 }
                END { if (NR == 0) exit
                      printf "\nrun-to-run spread (max/min of a cell): " \
                             "median %.2f, worst %.2f (%s)\n",
                             r[int((NR + 1) / 2)], r[NR], w }'
    fi

    echo
    echo "runs (req/s of each run, in run order):"
    for c in "${ALL[@]}"; do
        printf '  %-10s %s\n' "$c" "$(echo ${RES[$c]:-} | awk '{
            for (i = 1; i <= NF; i++)
                printf "%s%s", (i > 1 ? "," : ""),
                       ($i ~ /^[0-9.]+$/ ? sprintf("%.0f", $i) : $i) }')"
    done
    echo "logs of every run: $LOG"
}

mkdir -p "$STATE/results"
OUT=$STATE/results/http-$(date -u +%Y%m%d-%H%M%S).txt
report | tee "$OUT"
note "saved to $OUT"
