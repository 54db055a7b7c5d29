#!/bin/bash
# Run the Test::Nginx suites against real PostgreSQL and Redis.
#
#   scripts/run-tests.sh STATE_DIR "LOAD_MODULES" NGINX_BIN [prove args...]
#
# Starts the test servers (scripts/servers.sh, loopback ports, unprivileged
# user), exports their coordinates as TEST_NGINX_* variables, runs prove
# with the repository's own Test::Nginx runner (t/runner) and stops the
# servers again, whatever the outcome.
set -euo pipefail

state=$1 modules=$2 nginx=$3
shift 3

cd "$(dirname "$0")/.."

scripts/servers.sh start "$state" test
trap 'scripts/servers.sh stop "$state"' EXIT

. "$state/env.sh"

export TEST_NGINX_BINARY=$nginx
export TEST_NGINX_LOAD_MODULES=$modules
export TEST_NGINX_SERVROOT=${TEST_NGINX_SERVROOT:-$state/servroot}
export TEST_NGINX_REPO=$PWD
# the Postgres gateway under test listens here (loopback)
export TEST_NGINX_PG_GW_PORT=${TEST_NGINX_PG_GW_PORT:-19432}

# Use upstream Test::Nginx instead: TEST_NGINX_LIB=/path/to/test-nginx/lib
runner=${TEST_NGINX_LIB:-t/runner}

prove -I "$runner" -I t/lib "$@"
