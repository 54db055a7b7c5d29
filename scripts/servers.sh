#!/bin/bash
# scripts/servers.sh — local PostgreSQL 15 + Redis for ngx_hoop tests and the demo.
#
# Usage:
#   scripts/servers.sh start STATE_DIR PROFILE    # PROFILE: test | demo
#   scripts/servers.sh stop  STATE_DIR [--purge]  # --purge also deletes STATE_DIR
#
# STATE_DIR must be an absolute path (the Makefile passes $(CURDIR)/.state/test).
# Ports (loopback only) come from the environment:
#   test: HOOP_PG_PORT=25329 HOOP_REDIS_PORT=63799
#   demo: HOOP_PG_PORT=25320 HOOP_REDIS_PORT=63790
# The defaults stay out of Linux's ephemeral range (32768-60999): a port
# there may be the local end of some outgoing connection, and one in
# TIME_WAIT makes a (re)start's bind() fail for a minute (seen after a
# test run, and t/610 restarts PostgreSQL in the middle of the suite).
#
# What `start` leaves in STATE_DIR:
#   pg/          PostgreSQL data directory        pg.log      its log
#   .s.PGSQL.*   the PostgreSQL unix socket       redis.log   Redis log
#   pki/         ca.crt ca.key, pg.crt pg.key (PostgreSQL), gateway.crt gateway.key
#                (for nginx), all signed by the CA; SAN localhost + 127.0.0.1
#   vault.json   {"app_scram": "...", ..., "redis": "..."}  (0600, random once)
#   env.sh       `. STATE_DIR/env.sh` exports HOOP_* and TEST_NGINX_* variables
#
# Roles: hoop (superuser, trust), app_scram (SCRAM), app_md5 (md5 hash, md5 auth),
# app_clear (cleartext `password` auth), app_trust (trust), app_ro / app_rw (SCRAM).
# Database: hoop_test from t/fixtures/schema.sql, or demo from conf/demo/demo.sql.
#
# As root, the servers run as the system user `hoop` (created if missing); as
# anyone else they run as that user. `start` is idempotent (a second call only
# re-applies roles/grants and rewrites env.sh); `stop` is quiet when nothing runs.
set -euo pipefail
umask 022

PGBIN=${HOOP_PG_BIN:-/usr/lib/postgresql/15/bin}
SVC_USER=hoop                       # system user the servers run as when we are root
REPO=$(cd "$(dirname "$0")/.." && pwd)

die()  { echo "servers.sh: $*" >&2; exit 1; }
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Don't let the caller's libpq environment steer our admin connections.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE PGSERVICE \
      PGSERVICEFILE PGOPTIONS PGSSLMODE PGREQUIRESSL PGTARGETSESSIONATTRS 2>/dev/null || true

[ $# -ge 2 ] || usage
CMD=$1 STATE_DIR=${2%/}
case $STATE_DIR in /?*) ;; *) die "STATE_DIR must be an absolute path, got '$2'" ;; esac

IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1

# Run a command as the service user (PostgreSQL refuses to run as root).
# fd 9 is our lock (see take_lock): the daemons must not inherit it, or they
# would hold the lock for their whole life and the next start/stop would hang.
as_svc() {
    if [ $IS_ROOT = 1 ]; then runuser -u "$SVC_USER" -- "$@" 9>&-; else "$@" 9>&-; fi
}
# Give a path to the service user (no-op when not root).
own_svc() { [ $IS_ROOT = 0 ] || chown "$SVC_USER:$SVC_USER" "$@"; }

PGDATA=$STATE_DIR/pg
PKI=$STATE_DIR/pki
VAULT=$STATE_DIR/vault.json
REDIS_CONF=$STATE_DIR/redis.conf
REDIS_PID=$STATE_DIR/redis.pid
MARKER=$STATE_DIR/.hoop-state       # proves the dir is ours before --purge deletes it

# --- small helpers -----------------------------------------------------------

# Serialise concurrent start/stop on one STATE_DIR.
take_lock() {
    exec 9>"$STATE_DIR/.lock"
    flock -w 60 9 || die "timed out waiting for the lock $STATE_DIR/.lock (held by: $(fuser "$STATE_DIR/.lock" 2>/dev/null || echo '?'))"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Read one key of the flat JSON vault.
vault_get() {
    perl -MJSON::PP -0777 -e 'my $v = decode_json(<STDIN>)->{$ARGV[0]};
        defined $v or die "no key $ARGV[0] in vault\n"; print $v' "$1" <"$VAULT"
}

# SQL string literal (standard_conforming_strings is on: only quotes need doubling).
sql_lit() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }

# psql as the superuser over the unix socket in STATE_DIR (local = trust).
admin_psql() {
    "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$STATE_DIR" -p "$PG_PORT" -U hoop "$@"
}

pg_running() { [ -f "$PGDATA/postmaster.pid" ] && as_svc "$PGBIN/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1; }

# True if the process exists and is not a zombie (a daemon's exit is reaped by
# whoever adopted it, possibly late; kill -0 alone says yes to zombies).
alive() {
    local st
    st=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

redis_pid() {   # prints the pid of our redis-server if it runs
    local pid
    [ -f "$REDIS_PID" ] || return 1
    pid=$(cat "$REDIS_PID" 2>/dev/null) || return 1
    [ -n "$pid" ] && alive "$pid" &&
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ] && echo "$pid"
}

redis_cli() {   # password through the environment, not argv
    REDISCLI_AUTH=$(vault_get redis) redis-cli --no-auth-warning -h 127.0.0.1 -p "$REDIS_PORT" "$@"
}

# --- start pieces ------------------------------------------------------------

ensure_user() {
    [ $IS_ROOT = 1 ] || return 0
    id -u "$SVC_USER" >/dev/null 2>&1 ||
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell /usr/sbin/nologin "$SVC_USER"
}

ensure_state_dir() {
    mkdir -p "$STATE_DIR"
    [ $IS_ROOT = 1 ] || return 0
    # Every parent must be traversable by the service user, or postgres/redis
    # cannot reach their files (e.g. /root is 0700).
    local d=$STATE_DIR parents=()
    while d=$(dirname "$d"); [ "$d" != / ]; do parents+=("$d"); done
    local bad
    if ! bad=$(runuser -u "$SVC_USER" -- sh -c \
            'for d; do [ -x "$d" ] || { echo "$d"; exit 1; }; done' sh "${parents[@]}"); then
        die "directory $bad (mode $(stat -c %A "$bad")) is not traversable by user $SVC_USER;" \
            "chmod o+x it or choose a STATE_DIR elsewhere (e.g. under /tmp)"
    fi
    chown "$SVC_USER:$SVC_USER" "$STATE_DIR"
    chmod 755 "$STATE_DIR"
}

# Test PKI: one CA signs the PostgreSQL cert and the gateway's (nginx) cert.
ensure_pki() {
    [ -f "$PKI/.complete" ] && return 0
    rm -rf "$PKI"; mkdir -p "$PKI"
    (
        cd "$PKI"; umask 077
        cat >openssl.cnf <<'EOF'
[ req ]
distinguished_name = dn
prompt             = no
[ dn ]
CN = placeholder
[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
[ v3_server ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature, keyEncipherment
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer
EOF
        openssl req -x509 -config openssl.cnf -extensions v3_ca -newkey rsa:2048 -nodes \
            -sha256 -days 3650 -subj "/O=ngx_hoop test/CN=ngx_hoop test CA" \
            -keyout ca.key -out ca.crt 2>/dev/null
        for name in pg gateway; do
            openssl req -new -config openssl.cnf -newkey rsa:2048 -nodes \
                -subj "/O=ngx_hoop test/CN=localhost" -keyout "$name.key" -out "$name.csr" 2>/dev/null
            openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key \
                -set_serial "0x$(openssl rand -hex 16)" -days 3650 -sha256 \
                -extfile openssl.cnf -extensions v3_server -out "$name.crt" 2>/dev/null
            rm -f "$name.csr"
        done
        chmod 644 ca.crt pg.crt gateway.crt
        chmod 600 ca.key pg.key gateway.key
    ) || die "generating the test PKI in $PKI failed"
    chmod 755 "$PKI"
    own_svc "$PKI/pg.key" "$PKI/pg.crt"   # postgres insists its key is 0600 and its own
    touch "$PKI/.complete"
}

# Random passwords, generated once per STATE_DIR; missing keys are added.
ensure_vault() {
    local names="app_scram app_md5 app_clear app_ro app_rw redis"
    ( umask 077
      perl -MJSON::PP -e '
        my ($file, @names) = @ARGV; my $v = {};
        if (-e $file) { local $/; open my $fh, "<", $file or die "$file: $!\n";
                        $v = decode_json(<$fh>); }
        my $changed = !-e $file;
        for my $n (@names) {
            next if defined $v->{$n};
            chomp(my $pw = qx(openssl rand -hex 24)); $? == 0 && $pw or die "openssl rand failed\n";
            $v->{$n} = $pw; $changed = 1;
        }
        exit 0 unless $changed;
        open my $fh, ">", "$file.tmp" or die "$file.tmp: $!\n";
        print $fh JSON::PP->new->canonical->pretty->encode($v); close $fh or die;
        rename "$file.tmp", $file or die "rename: $!\n";' "$VAULT" $names )
    chmod 600 "$VAULT"
}

write_pg_config() {
    # initdb's postgresql.conf includes this file; it is rewritten on each (re)start.
    cat >"$PGDATA/hoop.conf" <<EOF
# Written by scripts/servers.sh — edits are lost on the next start.
listen_addresses        = '127.0.0.1'
port                    = $PG_PORT
unix_socket_directories = '$STATE_DIR'
max_connections         = 200
ssl                     = on
ssl_cert_file           = '$PKI/pg.crt'
ssl_key_file            = '$PKI/pg.key'
password_encryption     = 'scram-sha-256'
timezone                = 'UTC'
log_timezone            = 'UTC'
log_connections         = on
EOF
    # Per-user lines first (first match wins), then SCRAM for everyone else.
    # "host" matches both plain and SSL TCP connections.
    cat >"$PGDATA/pg_hba.conf" <<'EOF'
# Written by scripts/servers.sh — edits are lost on the next start.
# TYPE  DATABASE  USER       ADDRESS        METHOD
local   all       all                       trust
host    all       app_md5    127.0.0.1/32   md5
host    all       app_clear  127.0.0.1/32   password
host    all       app_trust  127.0.0.1/32   trust
host    all       hoop       127.0.0.1/32   trust
host    all       all        127.0.0.1/32   scram-sha-256
EOF
    own_svc "$PGDATA/hoop.conf" "$PGDATA/pg_hba.conf"
    chmod 600 "$PGDATA/hoop.conf" "$PGDATA/pg_hba.conf"
}

start_pg() {
    if [ ! -f "$PGDATA/PG_VERSION" ]; then
        rm -rf "$PGDATA"; mkdir -m 700 "$PGDATA"; own_svc "$PGDATA"
        as_svc "$PGBIN/initdb" -D "$PGDATA" -U hoop --auth-local=trust --auth-host=scram-sha-256 \
            -E UTF8 --locale=C --no-sync --no-instructions >"$STATE_DIR/initdb.log" 2>&1 ||
            { cat "$STATE_DIR/initdb.log" >&2; die "initdb failed"; }
        echo "include_if_exists = 'hoop.conf'" >>"$PGDATA/postgresql.conf"
    fi
    if pg_running; then
        local running_port
        running_port=$(sed -n 4p "$PGDATA/postmaster.pid")
        [ "$running_port" = "$PG_PORT" ] ||
            die "PostgreSQL in $PGDATA already runs on port $running_port, not $PG_PORT; stop it first"
        return 0
    fi
    port_busy "$PG_PORT" && die "port $PG_PORT on 127.0.0.1 is already in use (another STATE_DIR? set HOOP_PG_PORT)"
    write_pg_config
    [ -e "$STATE_DIR/pg.log" ] || { : >"$STATE_DIR/pg.log"; own_svc "$STATE_DIR/pg.log"; }
    STARTED_PG=1
    as_svc "$PGBIN/pg_ctl" start -D "$PGDATA" -l "$STATE_DIR/pg.log" -w -t 60 -s ||
        { tail -n 20 "$STATE_DIR/pg.log" >&2; die "PostgreSQL did not start (log: $STATE_DIR/pg.log)"; }
}

setup_roles() {
    local sql n
    sql="DO \$\$ DECLARE r text; BEGIN
  FOREACH r IN ARRAY ARRAY['app_scram','app_md5','app_clear','app_trust','app_ro','app_rw'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I LOGIN', r);
    END IF;
  END LOOP;
END \$\$;
SET password_encryption = 'scram-sha-256';"
    for n in app_scram app_clear app_ro app_rw; do
        sql="$sql
ALTER ROLE $n LOGIN PASSWORD $(sql_lit "$(vault_get $n)");"
    done
    sql="$sql
SET password_encryption = 'md5';
ALTER ROLE app_md5 LOGIN PASSWORD $(sql_lit "$(vault_get app_md5)");
ALTER ROLE app_trust LOGIN PASSWORD NULL;"
    # Passwords go through stdin, never argv.
    printf '%s\n' "$sql" | admin_psql -d postgres
}

setup_database() {
    local db=$1 file=$2 exists
    exists=$(admin_psql -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")
    if [ "$exists" != 1 ]; then
        [ -r "$file" ] || die "fixture file $file not found"
        admin_psql -d postgres -c "CREATE DATABASE $db OWNER hoop"
        if ! admin_psql -d "$db" -1 -f "$file" >"$STATE_DIR/load-$db.log" 2>&1; then
            cat "$STATE_DIR/load-$db.log" >&2
            admin_psql -d postgres -c "DROP DATABASE $db" || true
            die "loading $file into $db failed"
        fi
    fi
    # Grants (idempotent): everyone reads, app_rw/app_scram write, the rest may
    # only write the scratch table.
    admin_psql -d "$db" <<'EOF'
DO $$ DECLARE s text; BEGIN
  FOR s IN SELECT nspname FROM pg_namespace WHERE nspname IN ('public', 'billing') LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO app_scram, app_md5, app_clear, app_trust, app_ro, app_rw', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO app_scram, app_md5, app_clear, app_trust, app_ro, app_rw', s);
    EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO app_scram, app_md5, app_clear, app_trust, app_ro, app_rw', s);
    EXECUTE format('GRANT INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA %I TO app_scram, app_rw', s);
    EXECUTE format('GRANT USAGE, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO app_scram, app_rw', s);
  END LOOP;
END $$;
GRANT CREATE ON SCHEMA public TO app_scram, app_rw;  -- so DDL tests can create/drop their own tables
GRANT INSERT, UPDATE, DELETE, TRUNCATE ON public.scratch TO app_md5, app_clear, app_trust;
EOF
}

start_redis() {
    local pid i
    if pid=$(redis_pid); then
        local running_port
        running_port=$(awk '$1 == "port" { print $2 }' "$REDIS_CONF")
        [ "$running_port" = "$REDIS_PORT" ] ||
            die "Redis for $STATE_DIR already runs on port $running_port, not $REDIS_PORT; stop it first"
        return 0
    fi
    rm -f "$REDIS_PID"
    port_busy "$REDIS_PORT" && die "port $REDIS_PORT on 127.0.0.1 is already in use (another STATE_DIR? set HOOP_REDIS_PORT)"
    mkdir -p "$STATE_DIR/redis"; own_svc "$STATE_DIR/redis"
    ( umask 077
      cat >"$REDIS_CONF" <<EOF
# Written by scripts/servers.sh — edits are lost on the next start.
bind 127.0.0.1
port $REDIS_PORT
requirepass "$(vault_get redis)"
daemonize yes
pidfile $REDIS_PID
logfile $STATE_DIR/redis.log
dir $STATE_DIR/redis
save ""
appendonly no
EOF
    )
    own_svc "$REDIS_CONF"
    STARTED_REDIS=1
    as_svc redis-server "$REDIS_CONF" || die "redis-server failed to start (log: $STATE_DIR/redis.log)"
    for i in $(seq 100); do
        [ "$(redis_cli ping 2>/dev/null)" = PONG ] && return 0
        sleep 0.05
    done
    tail -n 20 "$STATE_DIR/redis.log" >&2 || true
    die "Redis did not answer PING on 127.0.0.1:$REDIS_PORT"
}

write_env() {
    local q_pw
    q_pw=$(printf '%s' "$(vault_get redis)" | sed "s/'/'\\\\''/g")
    ( umask 077
      cat >"$STATE_DIR/env.sh.tmp" <<EOF
# Written by scripts/servers.sh start $STATE_DIR $PROFILE — source it: . $STATE_DIR/env.sh
export HOOP_STATE_DIR='$STATE_DIR'
export HOOP_PROFILE='$PROFILE'
export HOOP_PG_PORT='$PG_PORT'
export HOOP_PG_DATABASE='$DB'
export HOOP_PG_SOCKET_DIR='$STATE_DIR'
export HOOP_REDIS_PORT='$REDIS_PORT'
export HOOP_REDIS_PASSWORD='$q_pw'
export HOOP_VAULT='$VAULT'
export HOOP_PKI='$PKI'
export TEST_NGINX_STATE_DIR='$STATE_DIR'
export TEST_NGINX_PG_PORT='$PG_PORT'
export TEST_NGINX_PG_DATABASE='$DB'
export TEST_NGINX_REDIS_PORT='$REDIS_PORT'
export TEST_NGINX_VAULT='$VAULT'
export TEST_NGINX_PKI='$PKI'
EOF
    )
    mv "$STATE_DIR/env.sh.tmp" "$STATE_DIR/env.sh"
}

# --- stop pieces -------------------------------------------------------------

stop_pg() {
    [ -f "$PGDATA/PG_VERSION" ] || return 0
    pg_running || return 0
    as_svc "$PGBIN/pg_ctl" stop -D "$PGDATA" -m fast -w -t 30 -s ||
        as_svc "$PGBIN/pg_ctl" stop -D "$PGDATA" -m immediate -w -t 30 -s ||
        die "could not stop PostgreSQL in $PGDATA"
}

stop_redis() {
    local pid i
    pid=$(redis_pid) || { rm -f "$REDIS_PID"; return 0; }
    REDIS_PORT=$(awk '$1 == "port" { print $2 }' "$REDIS_CONF" 2>/dev/null || true)
    if [ -n "$REDIS_PORT" ] && [ -f "$VAULT" ]; then
        redis_cli shutdown nosave >/dev/null 2>&1 || true
    fi
    for i in $(seq 100); do alive "$pid" || break; sleep 0.05; done
    if alive "$pid"; then
        kill "$pid" 2>/dev/null || true
        for i in $(seq 100); do alive "$pid" || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$REDIS_PID"
}

# --- main ----------------------------------------------------------------------

case $CMD in
start)
    [ $# -eq 3 ] || usage
    PROFILE=$3
    case $PROFILE in
    test) PG_PORT=${HOOP_PG_PORT:-25329} REDIS_PORT=${HOOP_REDIS_PORT:-63799}
          DB=hoop_test FIXTURE=$REPO/t/fixtures/schema.sql ;;
    demo) PG_PORT=${HOOP_PG_PORT:-25320} REDIS_PORT=${HOOP_REDIS_PORT:-63790}
          DB=demo FIXTURE=$REPO/conf/demo/demo.sql ;;
    *) die "PROFILE must be 'test' or 'demo', got '$PROFILE'" ;;
    esac
    # The socket path must fit in sun_path (107 bytes).
    sock="$STATE_DIR/.s.PGSQL.$PG_PORT.lock"
    [ ${#sock} -le 107 ] || die "STATE_DIR is too long for a unix socket path (${#sock} > 107 bytes)"

    ensure_user
    ensure_state_dir
    cd "$STATE_DIR"                 # the service user may not be able to read the caller's cwd
    take_lock
    touch "$MARKER"

    # If this start fails, stop whatever this invocation started.
    STARTED_PG=0 STARTED_REDIS=0
    trap 'rc=$?; if [ $rc -ne 0 ]; then
            [ $STARTED_REDIS = 0 ] || stop_redis || true
            [ $STARTED_PG = 0 ] || stop_pg || true
          fi' EXIT

    ensure_pki
    ensure_vault
    start_pg
    setup_roles
    setup_database "$DB" "$FIXTURE"
    start_redis
    write_env
    ;;
stop)
    PURGE=0
    [ $# -le 3 ] || usage
    [ $# -lt 3 ] || { [ "$3" = --purge ] || usage; PURGE=1; }
    [ -d "$STATE_DIR" ] || exit 0
    if [ $PURGE = 1 ] && [ ! -e "$MARKER" ] && [ -n "$(ls -A "$STATE_DIR")" ]; then
        die "$STATE_DIR does not look like a servers.sh state dir (no $MARKER); not purging"
    fi
    cd "$STATE_DIR"
    take_lock
    stop_redis
    stop_pg
    if [ $PURGE = 1 ]; then cd /; rm -rf "$STATE_DIR"; fi
    ;;
*) usage ;;
esac
