#!/bin/sh
# Install the Debian packages ngx_hoop needs: "build", "test" or "all";
# "fuzz" (clang with libFuzzer, for make fuzz) and "valgrind" (make
# test-valgrind) are separate so make test needs neither.
# Idempotent and quiet when everything is already installed.
set -eu

build="gcc make nginx libnginx-mod-stream nginx-dev libssl-dev libjwt-dev
       libyajl-dev libhiredis-dev libpg-query-dev pkg-config openssl"

# Servers, clients and Perl modules for the demo and the Test::Nginx suites.
run="postgresql-15 postgresql-client-15 redis-server redis-tools curl
     libcrypt-jwt-perl libjson-xs-perl"

test="libtest-base-perl libtext-diff-perl libtest-longstring-perl
      liblist-moreutils-perl libhttp-message-perl libwww-perl
      libio-socket-ssl-perl libdbd-pg-perl libredis-perl
      python3-jwt python3-psycopg2 pgbouncer wrk
      python3-psycopg python3-asyncpg libpostgresql-jdbc-java
      default-jdk-headless"

fuzz="clang libclang-rt-dev"

case "${1:-all}" in
    fuzz)  want="$build $fuzz" ;;
    valgrind) want="$build $run $test valgrind" ;;
    build) want="$build" ;;
    run)   want="$build $run" ;;
    test|all) want="$build $run $test" ;;
    *) echo "usage: $0 build|run|test|all|fuzz|valgrind" >&2; exit 2 ;;
esac

missing=
for p in $want; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$st" = "install ok installed" ] || missing="$missing $p"
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "ngx_hoop: missing Debian packages:$missing" >&2
    echo "ngx_hoop: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi

echo "ngx_hoop: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Debian's postinst would start system-wide nginx/redis/postgres; we run our
# own instances on other ports, so keep package scripts from starting them.
policy=/usr/sbin/policy-rc.d
created_policy=no
if [ ! -e $policy ]; then
    printf '#!/bin/sh\nexit 101\n' > $policy
    chmod 755 $policy
    created_policy=yes
fi
apt-get update -qq || true
apt-get install -y -qq --no-install-recommends $missing >/dev/null
[ $created_policy = yes ] && rm -f $policy
exit 0
