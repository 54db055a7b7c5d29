#!/bin/sh
# Debian's nginx with the ASan/UBSan runtime preloaded, so modules built
# with -fsanitize=address,undefined load into it (scripts/sanitize.sh sets
# this as TEST_NGINX_BINARY).  Reports go to files under
# $HOOP_SANITIZER_LOGS (asan.PID / ubsan.PID).
asan=$(readlink -f "$(gcc -print-file-name=libasan.so)")
ubsan=$(readlink -f "$(gcc -print-file-name=libubsan.so)")
logs=${HOOP_SANITIZER_LOGS:?HOOP_SANITIZER_LOGS is not set}

export LD_PRELOAD="$asan${LD_PRELOAD:+ $LD_PRELOAD}"
# detect_leaks=0: see scripts/sanitize.sh.  detect_odr_violation=0: every
# dynamic module nginx builds defines ngx_modules, ngx_module_names and
# ngx_module_order (objs/*_modules.c; nginx finds them with dlsym), so
# ASan sees the "same" global in each .so; that is nginx's design.
# quarantine_size_mb=4: freed memory is held back this much (not the
# 256 MB default), so suites that bound the worker's RSS still measure
# the gateway rather than the quarantine.  The rest makes every report
# land in a file the run checks, without stopping nginx.
export ASAN_OPTIONS="detect_leaks=0:detect_odr_violation=0:quarantine_size_mb=4:log_path=$logs/asan:abort_on_error=0:halt_on_error=0:detect_stack_use_after_return=0:allow_user_segv_handler=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=0:log_path=$logs/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
: "$ubsan"    # loaded as a DT_NEEDED of the instrumented modules

exec "${HOOP_NGINX_BINARY:-/usr/sbin/nginx}" "$@"
