#!/bin/bash
# The demo gateway behind `make run` / `make stop`.
#
#   scripts/demo.sh start DEMO_DIR "LOAD_MODULES" NGINX_BIN
#   scripts/demo.sh stop  DEMO_DIR "" NGINX_BIN
#
# start: local PostgreSQL 15 + Redis with the demo database
# (scripts/servers.sh), a local token issuer (tools/hoop-token), then nginx
# with conf/demo/nginx.conf.  Running it again reloads nginx and keeps data.
set -euo pipefail

cmd=$1 demo=$2 modules=$3 nginx=$4
repo=$(cd "$(dirname "$0")/.." && pwd)
ngx_dir=$demo/nginx
conf=$ngx_dir/nginx.conf

nginx_running() {
    [ -f "$ngx_dir/nginx.pid" ] && kill -0 "$(cat "$ngx_dir/nginx.pid")" 2>/dev/null
}

case $cmd in
stop)
    if nginx_running; then
        "$nginx" -p "$ngx_dir" -c "$conf" -s quit
        for _ in $(seq 50); do nginx_running || break; sleep 0.1; done
        echo "demo: nginx stopped"
    fi
    "$repo/scripts/servers.sh" stop "$demo"
    exit 0
    ;;
start) ;;
*) echo "usage: $0 start|stop DEMO_DIR MODULES NGINX_BIN" >&2; exit 2 ;;
esac

"$repo/scripts/servers.sh" start "$demo" demo
. "$demo/env.sh"

issuer=http://127.0.0.1:8080/demo-idp
"$repo/tools/hoop-token" init "$demo/idp" --issuer "$issuer" >/dev/null
# nginx workers serve the public JWKS; private keys stay 0600
chmod 711 "$demo/idp"
cat > "$demo/idp/openid-configuration" <<JSON
{"issuer": "$issuer", "jwks_uri": "$issuer/jwks.json",
 "id_token_signing_alg_values_supported": ["RS256", "ES256"]}
JSON

mkdir -p "$ngx_dir/logs"
load=
for m in $modules; do load="${load}load_module $m;\n"; done
sed -e "s|^@MODULES@$|$load|" -e "s|@DEMO@|$demo|g" \
    -e "s|@PG_PORT@|$HOOP_PG_PORT|g" -e "s|@REPO@|$repo|g" \
    "$repo/conf/demo/nginx.conf" > "$conf"

"$nginx" -t -q -p "$ngx_dir" -c "$conf"

if nginx_running; then
    "$nginx" -p "$ngx_dir" -c "$conf" -s reload
    echo "demo: nginx reloaded"
else
    "$nginx" -p "$ngx_dir" -c "$conf"
    echo "demo: nginx started"
fi

cat <<TXT

ngx_hoop demo is running (stop it with: make stop)

  Postgres through the gateway (demo database: people, orders):
    psql "host=127.0.0.1 port=6432 user=app_trust dbname=demo" \\
         -c "SELECT name, email FROM people LIMIT 5"

  The demo identity provider (keys in $demo/idp):
    curl -s $issuer/.well-known/openid-configuration
    TOKEN=\$($repo/tools/hoop-token mint $demo/idp --sub alice \\
             --email alice@example.com --groups eng,sre)

  Logs: $ngx_dir/error.log, $ngx_dir/pg-access.log
TXT
