# ngx_hoop — build, run and test the gateway modules.
#
#   make deps      install the Debian packages needed (idempotent)
#   make           build the four .so files into build/modules/
#   make install   copy them into nginx's modules dir + load_module snippets
#   make uninstall remove what make install put there
#   make run       demo gateway with local PostgreSQL, Redis, token issuer
#   make stop      stop what `make run` started
#   make test      build, start test servers, run t/ with prove, stop them
#   make test-asan     the suites with ASan/UBSan-built modules (build-asan/)
#   make test-valgrind the suites under valgrind (t/valgrind.suppress)
#   make fuzz-replay   the fuzz seed corpora through gcc/ASan builds of the
#                  harnesses (part of make test)
#   make fuzz      libFuzzer harnesses under fuzz/ (FUZZ_TIME s each);
#                  make fuzz-deps installs clang
#   make soak      pgbench through the gateway, all features on (SOAK_TIME s)
#
# Build against another nginx (>= 1.22) source tree:
#   make NGINX_SRC=/path/to/nginx-1.x.y

SHELL        := /bin/bash
NGINX_SRC    ?= /usr/share/nginx/src
NGINX_BIN    ?= /usr/sbin/nginx
NGINX_MODDIR ?= /usr/lib/nginx/modules
STREAM_SO    ?= $(NGINX_MODDIR)/ngx_stream_module.so
BUILD        := $(CURDIR)/build
NGX_BUILD    := $(BUILD)/nginx
STATE        := $(CURDIR)/.state
PROVE_ARGS   ?= -r t/
CC_OPT       ?= -g -O2 -Wall -Wextra -Wno-unused-parameter \
                -Wno-missing-field-initializers
LD_OPT       ?=

MODULES := ngx_hoop_auth_module ngx_hoop_audit_module \
           ngx_hoop_mask_module ngx_hoop_pg_module
SO_FILES := $(patsubst %,$(BUILD)/modules/%.so,$(MODULES))
SOURCES  := config $(wildcard ngx_hoop_*_module/*.[ch])

# The load order that works: stream first, then ours (see README).
LOAD_MODULES := $(STREAM_SO) $(SO_FILES)

.PHONY: all build deps install uninstall run stop test bench clean distclean check-weak \
        test-asan test-valgrind fuzz fuzz-deps fuzz-replay soak

all: build

build: $(SO_FILES)

deps:
	@scripts/deps.sh all

# configure once per change of `config`; the nginx-dev tree has headers
# only, so we build our own targets, never `make modules`.
$(NGX_BUILD)/objs/Makefile: config
	@rm -rf $(NGX_BUILD) && mkdir -p $(BUILD)
	@cp -r $(NGINX_SRC) $(NGX_BUILD)
	@cd $(NGX_BUILD) && \
	if [ -f conf_flags ]; then . ./conf_flags; \
	else NGX_CONF_FLAGS=(--with-compat --with-threads \
	        --with-http_ssl_module); fi; \
	./configure "$${NGX_CONF_FLAGS[@]}" --with-stream=dynamic \
	    --with-stream_ssl_module --with-cc-opt="$(CC_OPT)" \
	    $(if $(LD_OPT),--with-ld-opt="$(LD_OPT)") \
	    --add-dynamic-module=$(CURDIR) > $(BUILD)/configure.log 2>&1 \
	|| { tail -n 20 $(BUILD)/configure.log; exit 1; }

$(SO_FILES): $(NGX_BUILD)/objs/Makefile $(SOURCES)
	@mkdir -p $(BUILD)/modules
	$(MAKE) -s -C $(NGX_BUILD) -f objs/Makefile \
	    $(patsubst %,objs/%.so,$(MODULES))
	@# replace, never overwrite in place: running nginx processes map them
	@for m in $(MODULES); do \
	    cp $(NGX_BUILD)/objs/$$m.so $(BUILD)/modules/.$$m.so.tmp && \
	    mv -f $(BUILD)/modules/.$$m.so.tmp $(BUILD)/modules/$$m.so; \
	done

# Debian layout: snippets in modules-available, enabled by symlinks that
# sort after 50-mod-stream.conf.
install: build
	install -m 0644 $(SO_FILES) $(NGINX_MODDIR)/
	@n=60; for m in $(MODULES); do \
	    short=$${m#ngx_hoop_}; short=$${short%_module}; \
	    avail=/usr/share/nginx/modules-available/mod-hoop-$$short.conf; \
	    echo "load_module modules/$$m.so;" > $$avail; \
	    ln -sf $$avail /etc/nginx/modules-enabled/$$n-mod-hoop-$$short.conf; \
	    echo "installed $$m.so ($$n-mod-hoop-$$short.conf)"; \
	    n=$$((n + 1)); \
	done

uninstall:
	@for m in $(MODULES); do \
	    short=$${m#ngx_hoop_}; short=$${short%_module}; \
	    rm -f /etc/nginx/modules-enabled/6?-mod-hoop-$$short.conf \
	          /usr/share/nginx/modules-available/mod-hoop-$$short.conf \
	          $(NGINX_MODDIR)/$$m.so; \
	    echo "removed $$m.so"; \
	done

# --- demo -----------------------------------------------------------------

DEMO := $(STATE)/demo

run: deps build
	@scripts/demo.sh start $(DEMO) "$(LOAD_MODULES)" $(NGINX_BIN)

stop:
	@scripts/demo.sh stop $(DEMO) "" $(NGINX_BIN)

# --- tests ----------------------------------------------------------------

TESTSTATE := $(STATE)/test

test: deps build check-weak fuzz-replay
	@scripts/run-tests.sh $(TESTSTATE) "$(LOAD_MODULES)" $(NGINX_BIN) \
	    $(PROVE_ARGS)

# every seed (and every crash ever found) through the fuzz harnesses, built
# with gcc and ASan/UBSan: the harnesses keep building, the inputs keep
# passing (make fuzz runs them under libFuzzer, with clang)
fuzz-replay: build
	@$(MAKE) -s -C fuzz replay

# --- reliability (docs/reliability.md) -----------------------------------

ASAN_BUILD := $(CURDIR)/build-asan
ASAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer

# the modules instrumented, loaded into Debian's nginx with the ASan
# runtime preloaded (scripts/asan-nginx.sh); any report fails the run
test-asan: deps
	@$(MAKE) -s build BUILD=$(ASAN_BUILD) \
	    CC_OPT="$(CC_OPT) -O1 $(ASAN_FLAGS)" LD_OPT="$(ASAN_FLAGS)"
	@scripts/sanitize.sh asan $(TESTSTATE) \
	    "$(STREAM_SO) $(patsubst $(BUILD)/%,$(ASAN_BUILD)/%,$(SO_FILES))" \
	    $(PROVE_ARGS)

test-valgrind: deps build
	@scripts/deps.sh valgrind
	@scripts/sanitize.sh valgrind $(TESTSTATE) "$(LOAD_MODULES)" $(PROVE_ARGS)

FUZZ_TIME ?= 60

fuzz-deps:
	@scripts/deps.sh fuzz

fuzz: fuzz-deps build
	@$(MAKE) -s -C fuzz run FUZZ_TIME=$(FUZZ_TIME)

SOAK_TIME ?= 300

soak: deps build
	@scripts/soak.sh $(TESTSTATE)-soak "$(LOAD_MODULES)" $(NGINX_BIN) \
	    $(SOAK_TIME)

# --- benchmarks -----------------------------------------------------------

# pgbench -S through direct / nginx proxy_pass / PgBouncer / the gateway,
# and wrk through hoop_auth + proxy_pass against plain proxy_pass, each side
# by side in one run (bench/README.md); BENCH_QUICK=1 for a smoke run.
bench: deps build
	@bench/pg.sh
	@bench/http.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) fuzz/build

distclean: stop clean
	scripts/servers.sh stop $(TESTSTATE) --purge || true
	rm -rf $(STATE)

# Every symbol ngx_hoop_pg_module.so takes from ngx_stream_module.so must be
# weak, or a wrong load order fails in dlopen() without our message.
check-weak: build
	@nm -D --defined-only $(STREAM_SO) | awk '{print $$3}' > $(BUILD)/stream.syms
	@strong=$$(nm -D --undefined-only $(BUILD)/modules/ngx_hoop_pg_module.so \
	    | awk '$$1 == "U" {print $$2}' | grep -Fx -f $(BUILD)/stream.syms); \
	if [ -n "$$strong" ]; then \
	    echo "add to ngx_hoop_pg_module/ngx_hoop_pg_weak.h:" $$strong; \
	    exit 1; \
	fi
