#!/bin/bash
# Run the Test::Nginx suites under AddressSanitizer/UBSan or valgrind and
# fail on any report.
#
#   scripts/sanitize.sh asan     STATE_DIR "LOAD_MODULES" [prove args...]
#   scripts/sanitize.sh valgrind STATE_DIR "LOAD_MODULES" [prove args...]
#
# asan: LOAD_MODULES are the modules built with -fsanitize=address,undefined
#   (make test-asan builds them into build-asan/).  Debian's nginx is not
#   instrumented, so it runs through scripts/asan-nginx.sh, which preloads
#   the ASan runtime and sends every report to files under
#   $HOOP_SANITIZER_LOGS; any such file fails the run.  Leak detection is
#   off here (nginx frees its cycle pool only in part at exit, and all
#   pool memory looks leaked to LeakSanitizer); valgrind's leak check with
#   t/valgrind.suppress covers leaks.
# valgrind: TEST_NGINX_USE_VALGRIND=1 (memcheck, full leak check, the
#   suppressions in t/valgrind.suppress); valgrind's reports go to stderr,
#   kept in $HOOP_SANITIZER_LOGS/valgrind.log; any report fails the run.
#
# The prove run itself must pass too.  Suites that cannot run under
# valgrind skip themselves when TEST_NGINX_USE_VALGRIND is set, saying
# why (see docs/reliability.md).
set -uo pipefail

mode=$1 state=$2 modules=$3
shift 3
[ $# -gt 0 ] || set -- -r t/

cd "$(dirname "$0")/.."
repo=$PWD

logs=${HOOP_SANITIZER_LOGS:-$state/sanitizer-logs}
rm -rf "$logs"
mkdir -p "$logs"
chmod 0777 "$logs"    # workers may run as another user
export HOOP_SANITIZER_LOGS=$logs
# suites that measure the worker's memory skip those blocks under a
# sanitizer (the figures would be the sanitizer's, not the gateway's)
export HOOP_SANITIZER=$mode

case $mode in
asan)
    export TEST_NGINX_BINARY=$repo/scripts/asan-nginx.sh
    export HOOP_NGINX_BINARY=${NGINX_BIN:-/usr/sbin/nginx}
    # ASan slows nginx down a few times: more patience for replies
    export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-10}
    scripts/run-tests.sh "$state" "$modules" "$TEST_NGINX_BINARY" "$@"
    rc=$?
    # a report has an ERROR (ASan) or a "runtime error" (UBSan) line;
    # warnings alone (ASan's note that the policy parser's own stack, a
    # swapcontext(), may confuse it) are listed, not failed
    reports=$(grep -l -E 'ERROR: AddressSanitizer|runtime error:' \
              -r "$logs" | sort)
    warnings=$(grep -h -v -E '^\s*$' -r "$logs" | grep WARNING | sort | uniq -c)
    [ -z "$warnings" ] || echo "sanitize.sh: asan warnings (not errors): $warnings"
    ;;
valgrind)
    export TEST_NGINX_USE_VALGRIND=1
    export TEST_NGINX_TIMEOUT=${TEST_NGINX_TIMEOUT:-20}
    scripts/run-tests.sh "$state" "$modules" "${NGINX_BIN:-/usr/sbin/nginx}" \
        "$@" 2> >(tee "$logs/valgrind.log" >&2)
    rc=$?
    wait
    # -q: valgrind prints nothing but errors, each line "==PID== ..."
    if grep -q '^==[0-9]*==' "$logs/valgrind.log"; then
        reports=$logs/valgrind.log
    else
        reports=
    fi
    ;;
*)
    echo "usage: $0 asan|valgrind STATE_DIR LOAD_MODULES [prove args]" >&2
    exit 2
    ;;
esac

if [ -n "$reports" ]; then
    echo "sanitize.sh: $mode reported errors:" >&2
    for f in $reports; do
        echo "--- $f" >&2
        if [ "$mode" = valgrind ]; then
            grep -B2 -A40 '^==[0-9]*==' "$f" | head -400 >&2
        else
            head -100 "$f" >&2
        fi
    done
    exit 1
fi

[ $rc = 0 ] || { echo "sanitize.sh: the suites failed under $mode" >&2; exit $rc; }
echo "sanitize.sh: $mode: no reports"
