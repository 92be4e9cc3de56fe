# CloudAI — hand-written Makefile. `make` builds master, worker, cloudai;
# `make check` runs unit, fuzz-corpus and integration tests (also under ASan/UBSan).
CC      ?= cc
NPROC   := $(shell nproc 2>/dev/null || echo 2)
PKGS    := libbson-1.0 libmongoc-1.0 zlib libcurl libcrypto libssl libmicrohttpd

# Dependencies first: one clear message naming the missing Debian packages
# (scripts/deps.sh holds the one list), instead of a cascade of pkg-config
# and compiler errors. Skipped for targets that need no compiler.
NODEPS_GOALS := deps clean help
ifeq ($(CLOUDAI_DEPS_OK),)
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
DEPS_MISSING := $(shell sh scripts/deps.sh build)
DEPS_INDENT := $(subst x, ,xxxx)
ifneq ($(DEPS_MISSING),)
$(info CloudAI needs Debian packages that are not installed: $(DEPS_MISSING))
$(info Install them with:)
$(info $(DEPS_INDENT)$(if $(filter 0,$(shell id -u)),,sudo )apt-get install -y $(DEPS_MISSING))
$(info or run `make deps` (as root) to install everything the build and the tests use.)
$(error missing build dependencies)
endif
export CLOUDAI_DEPS_OK := 1
endif
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
WARN    := -Wall -Wextra -Werror -Wformat=2 -Wstrict-prototypes -Wno-unused-parameter -Wno-format-truncation
DEFS    := -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
OPT     ?= -O2 -g
CFLAGS_ALL = -std=c11 $(WARN) $(DEFS) $(OPT) -Iinclude -Isrc -Ibuild/gen $(PKG_CFLAGS) -MMD -MP $(EXTRA_CFLAGS)
# --as-needed: a program links only the libraries it calls (the client and
# the worker never load libmongoc, whose load-time init writes to stderr).
LDLIBS_ALL = -Wl,--as-needed $(PKG_LIBS) -lpthread -lm

# Variants: build/rel (the programs), build/asan (tests under sanitizers).
V ?= rel
B := build/$(V)
ifeq ($(V),asan)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS_V := -fsanitize=address,undefined
endif

COMMON_SRC := $(wildcard src/common/*.c)
MASTER_SRC := $(filter-out src/master/main.c,$(wildcard src/master/*.c))
WORKER_SRC := $(filter-out src/worker/main.c,$(wildcard src/worker/*.c))
CLI_SRC    := $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)

obj = $(patsubst %.c,$(B)/%.o,$(1))
COMMON_OBJ := $(call obj,$(COMMON_SRC))
MASTER_OBJ := $(call obj,$(MASTER_SRC))
WORKER_OBJ := $(call obj,$(WORKER_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))
LIB_OBJ    := $(COMMON_OBJ) $(MASTER_OBJ) $(WORKER_OBJ) $(CLI_OBJ) $(call obj,src/sim/swf.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
REPLAY_BIN := $(patsubst tests/fuzz/fuzz_%.c,$(B)/tests/fuzz/replay_%,$(FUZZ_SRC))
TOOL_BIN   := $(patsubst tests/tools/%.c,$(B)/tests/tools/%,$(TOOL_SRC))
PROGS      := $(B)/master $(B)/worker $(B)/cloudai $(B)/cloudai-sim
# The simulator links the master's scheduling code itself, nothing else.
SIM_OBJ    := $(call obj,src/sim/main.c src/sim/swf.c src/master/sched.c src/master/policy.c src/master/predict.c)

.PHONY: all check check-unit bench fuzz clean install tests deps
all:
	@$(MAKE) --no-print-directory V=rel progs
	@ln -sf build/rel/master master; ln -sf build/rel/worker worker; ln -sf build/rel/cloudai cloudai; ln -sf build/rel/cloudai-sim cloudai-sim

progs: $(PROGS)
tests: $(PROGS) $(UNIT_BIN) $(REPLAY_BIN) $(TOOL_BIN)

# The web browser's static files, compiled into the master (README "Web").
WEB_FILES := src/master/web/index.html src/master/web/app.js src/master/web/style.css
build/gen/web_assets.inc: $(WEB_FILES) src/master/web/embed.sh
	@mkdir -p build/gen
	@sh src/master/web/embed.sh $@ $(WEB_FILES)
$(B)/src/master/http_web.o: build/gen/web_assets.inc

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	@$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/master: $(B)/src/master/main.o $(MASTER_OBJ) $(WORKER_OBJ) $(CLI_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS_V) -o $@ $^ $(LDLIBS_ALL)
$(B)/worker: $(B)/src/worker/main.o $(WORKER_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS_V) -o $@ $^ $(LDLIBS_ALL)
$(B)/cloudai-sim: $(SIM_OBJ)
	$(CC) $(LDFLAGS_V) -o $@ $^ -lz -lm
$(B)/cloudai: $(B)/src/cli/main.o $(CLI_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS_V) -o $@ $^ $(LDLIBS_ALL)
$(B)/tests/unit/%: $(B)/tests/unit/%.o $(LIB_OBJ)
	$(CC) $(LDFLAGS_V) -o $@ $^ $(LDLIBS_ALL)
$(B)/tests/fuzz/replay_%: $(B)/tests/fuzz/fuzz_%.o $(B)/tests/fuzz/replay.o $(LIB_OBJ)
	$(CC) $(LDFLAGS_V) -o $@ $^ $(LDLIBS_ALL)
$(B)/tests/tools/%: $(B)/tests/tools/%.o $(LIB_OBJ)
	$(CC) $(LDFLAGS_V) -o $@ $^ $(LDLIBS_ALL)

# Tests run twice: optimised build and ASan/UBSan build. Integration tests use
# the sanitizer build of the daemons too, so a memory error fails the suite.
# tests/integration/services.sh starts what the tests need (the Docker test
# image, FerretDB when Go is there) and says what will skip and why.
check:
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -j$(NPROC) V=asan tests
	@m=$$(sh scripts/deps.sh test); [ -z "$$m" ] || \
	  echo "check: not installed: $$m (\`make deps\` installs them); tests that need them skip"
	@tests/integration/services.sh tests/run.sh

check-unit:
	@$(MAKE) --no-print-directory -j$(NPROC) V=asan tests
	@TESTS_ONLY=unit tests/run.sh

# libFuzzer targets (clang). FUZZ_TIME=seconds per target.
FUZZ_CC ?= clang
FUZZ_TIME ?= 60
FUZZ_FLAGS := -std=c11 $(DEFS) -O1 -g -Iinclude -Isrc -Ibuild/gen $(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined
FUZZ_LIBSRC := $(COMMON_SRC) $(MASTER_SRC) $(WORKER_SRC) $(CLI_SRC) src/sim/swf.c
fuzz: $(patsubst tests/fuzz/fuzz_%.c,build/fuzz/fuzz_%,$(FUZZ_SRC))
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIBSRC)
	@mkdir -p build/fuzz
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(LDLIBS_ALL)
fuzz-run: fuzz
	@for f in build/fuzz/fuzz_*; do t=$${f##*/fuzz_}; mkdir -p build/fuzz/corpus/$$t; \
	  echo "== $$t"; $$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 build/fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; done

# Installs every Debian package the build and the tests use (.ci/run too).
deps:
	@sh scripts/deps.sh install

bench: all
	@tests/bench/run.sh

# `make install PREFIX=/usr DESTDIR=/tmp/pkg`: programs under names that do not
# collide (cloudai-master, cloudai-worker, cloudai), hardened systemd units,
# the sysusers.d entry for their user, man pages (cloudai.ini(5) generated from
# config.example.ini), bash completion and the example configuration.
# tests/integration/test_install.sh checks the result.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
DATADIR ?= $(PREFIX)/share/cloudai
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
COMPLDIR ?= $(PREFIX)/share/bash-completion/completions
build/gen/cloudai.ini.5: config.example.ini man/ini2man.sh
	@mkdir -p build/gen
	sh man/ini2man.sh config.example.ini >$@
install: all build/gen/cloudai.ini.5
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(COMPLDIR)
	install -m 755 build/rel/master $(DESTDIR)$(BINDIR)/cloudai-master
	install -m 755 build/rel/worker $(DESTDIR)$(BINDIR)/cloudai-worker
	install -m 755 build/rel/cloudai $(DESTDIR)$(BINDIR)/cloudai
	install -m 755 scripts/cloudai-certs $(DESTDIR)$(BINDIR)/cloudai-certs
	install -m 644 man/cloudai.1 $(DESTDIR)$(MANDIR)/man1/cloudai.1
	install -m 644 build/gen/cloudai.ini.5 $(DESTDIR)$(MANDIR)/man5/cloudai.ini.5
	install -m 644 man/cloudai-master.8 man/cloudai-worker.8 $(DESTDIR)$(MANDIR)/man8/
	for u in cloudai-master cloudai-worker; do \
	  sed 's|@BINDIR@|$(BINDIR)|g' dist/systemd/$$u.service.in >$(DESTDIR)$(UNITDIR)/$$u.service && \
	  chmod 644 $(DESTDIR)$(UNITDIR)/$$u.service || exit 1; done
	install -m 644 dist/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/cloudai.conf
	install -m 644 dist/bash-completion/cloudai $(DESTDIR)$(COMPLDIR)/cloudai
	ln -sf cloudai $(DESTDIR)$(COMPLDIR)/cloudai-master
	ln -sf cloudai $(DESTDIR)$(COMPLDIR)/cloudai-worker
	install -m 644 config.example.ini $(DESTDIR)$(DATADIR)/cloudai.ini.example

clean:
	rm -rf build master worker cloudai cloudai-sim

-include $(shell find build -name '*.d' 2>/dev/null)
