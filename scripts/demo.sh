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
    local pid
    pid=$(cat "$ngx_dir/nginx.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
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

# the billing API's password: in the vault, and hashed for the API itself
if [ ! -f "$demo/demo-vault.json" ]; then
    ( umask 077
      printf '{"billing_password": "%s"}\n' "$(openssl rand -hex 16)" \
          > "$demo/demo-vault.json" )
fi
billing=$(perl -MJSON::PP -e 'local $/; print decode_json(<>)->{billing_password}' \
              "$demo/demo-vault.json")
printf 'billing:%s\n' "$(openssl passwd -apr1 "$billing")" > "$demo/billing.htpasswd"
chmod 644 "$demo/billing.htpasswd"
unset billing

mkdir -p "$ngx_dir/logs"
load=
for m in $modules; do load="${load}load_module $m;\n"; done
sed -e "s|^@MODULES@$|$load|" -e "s|@DEMO@|$demo|g" \
    -e "s|@PG_PORT@|$HOOP_PG_PORT|g" -e "s|@REPO@|$repo|g" \
    -e "s|@REDIS_PORT@|$HOOP_REDIS_PORT|g" \
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

  A token for a demo identity (groups decide which role profiles it may use):
    TOKEN=\$($repo/tools/hoop-token mint $demo/idp --sub alice \\
             --email alice@example.com --groups eng)

  Postgres through the gateway, the token as password (demo database:
  people, orders, billing.invoices; role profiles: reader = eng or sre,
  writer = sre only):
    PGPASSWORD=\$TOKEN psql "host=localhost port=6432 user=reader dbname=demo \\
        sslmode=verify-full sslrootcert=$demo/pki/ca.crt" \\
        -c "SELECT name, email FROM people LIMIT 5"

  An internal HTTP API behind the gateway (it gets a vaulted credential,
  never the token):
    curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8080/billing/invoices
    curl -si http://127.0.0.1:8080/billing/invoices      # 401 without a token

  Masking: as reader, query results are masked (emails partially, card,
  SSN, IBAN and phone numbers redacted, also under an alias):
    ... -c "SELECT name, email AS e, card, notes FROM people LIMIT 5"
  and a JSON API whose emails, card numbers and SSNs are masked:
    curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:8080/people/

  Policy: as reader, "DELETE FROM orders" (no WHERE), "DROP TABLE orders"
  or "SELECT * FROM billing.invoices" are refused (SQLSTATE 42501).

  The audit trail (every login, statement and session in Redis):
    REDISCLI_AUTH=\$(perl -MJSON::PP -e 'local \$/; print decode_json(<>)->{redis}' $demo/vault.json) \\
        redis-cli -p $HOOP_REDIS_PORT --no-auth-warning XRANGE hoop:audit - +
    curl -s http://127.0.0.1:8080/hoop/audit-status

  The demo issuer: curl -s $issuer/.well-known/openid-configuration
  Logs: $ngx_dir/error.log, $ngx_dir/pg-access.log, $ngx_dir/access.log
TXT
