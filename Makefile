# scriptworker: a C core embedding Lua 5.4.
#
#   make            build build/scriptworker and build/sw_core.so
#   make deps       install the Debian packages and the local Queue's npm deps
#   make test       every test; ends with "N passed, N failed"
#   make check      format and lint checks, then the tests
#   make sanitize   ASan+UBSan build (build-san/), tests run under it
#   make bench      benchmark figures, ours next to a reference in one run
#   make fuzz       each libFuzzer target for FUZZ_SECONDS
#   make demo       a chain of trust verified and signed, a tampered one refused
#   make install PREFIX=/usr/local

BUILD ?= build
PREFIX ?= /usr/local
CC ?= cc
SAN ?=
FUZZ_SECONDS ?= 30

PKGS := lua5.4 libuv libcurl libcrypto libsodium yaml-0.1 libpcre2-8 zlib yajl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
        -Wmissing-prototypes -Wundef -Wwrite-strings -Werror
OPT := -O2 -g
ifeq ($(SAN),1)
OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
       -fno-omit-frame-pointer
endif
CFLAGS_ALL := $(WARN) $(OPT) -fPIC -D_GNU_SOURCE $(PKG_CFLAGS) \
              -DSW_LUA_DIR_INSTALLED='"$(PREFIX)/share/scriptworker"' $(CFLAGS)
LDFLAGS_ALL := $(OPT) $(LDFLAGS)

LIB_SRCS := $(filter-out core/main.c,$(wildcard core/*.c))
LIB_OBJS := $(patsubst core/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
HDRS := $(wildcard core/*.h)

.PHONY: all deps test check sanitize bench fuzz demo install clean format \
        lint ctest

all: $(BUILD)/scriptworker $(BUILD)/sw_core.so \
     $(BUILD)/verify_ed25519_signature $(BUILD)/verify_cot

$(BUILD)/obj/%.o: core/%.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/scriptworker: $(BUILD)/obj/main.o $(LIB_OBJS)
	$(CC) $(LDFLAGS_ALL) -Wl,-E -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/sw_core.so: $(LIB_OBJS)
	$(CC) $(LDFLAGS_ALL) -shared -o $@ $^ $(filter-out -llua5.4,$(PKG_LIBS)) -lm

$(BUILD)/verify_ed25519_signature $(BUILD)/verify_cot: $(BUILD)/scriptworker
	ln -sf scriptworker $@

# C tests: each tests/c/test_*.c links the core objects and prints its own
# "N passed, N failed" line; tests/run adds them up.
CTEST_SRCS := $(wildcard tests/c/test_*.c)
CTEST_BINS := $(patsubst tests/c/%.c,$(BUILD)/tests/%,$(CTEST_SRCS))

$(BUILD)/tests/%: tests/c/%.c $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Icore -o $@ $< $(LIB_OBJS) $(PKG_LIBS) -lm

ctest: $(CTEST_BINS)

deps:
	@bash .ci/deps.sh

test: all ctest
	@BUILD=$(BUILD) bash tests/run

check: all ctest lint
	@BUILD=$(BUILD) bash tests/run

C_FORMATTED := $(wildcard core/*.c core/*.h tests/c/*.c tests/fuzz/*.c)

lint:
	clang-format --dry-run --Werror $(C_FORMATTED)
	luacheck -q lua policies tests examples

format:
	clang-format -i $(C_FORMATTED)

sanitize:
	$(MAKE) BUILD=build-san SAN=1 all
	$(MAKE) BUILD=build-san SAN=1 ctest
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	BUILD=build-san SW_SKIP_NODE_TESTS=1 \
	SW_TEST_LUA="build-san/scriptworker lua" bash tests/run

bench: all
	@bash tests/bench/run.sh

FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_OBJS := $(patsubst core/%.c,build-fuzz/obj/%.o,$(LIB_SRCS))
build-fuzz/obj/%.o: core/%.c $(HDRS)
	@mkdir -p $(dir $@)
	clang $(WARN) -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fPIC \
	  -D_GNU_SOURCE $(PKG_CFLAGS) -c $< -o $@
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	clang -O1 -g -fsanitize=fuzzer,address,undefined -Icore $(PKG_CFLAGS) \
	  -o $@ $^ $(PKG_LIBS) -lm

fuzz: $(patsubst %,build-fuzz/fuzz_%,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p build-fuzz/corpus-$$t; \
	  echo "fuzz $$t for $(FUZZ_SECONDS)s"; \
	  build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    build-fuzz/corpus-$$t tests/fuzz/corpus/$$t || exit 1; \
	done

demo:
	@bash .ci/deps.sh
	@$(MAKE) --no-print-directory all
	@$(BUILD)/scriptworker lua examples/demo.lua

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/scriptworker
	install -m 0755 $(BUILD)/scriptworker $(DESTDIR)$(PREFIX)/bin/scriptworker
	ln -sf scriptworker $(DESTDIR)$(PREFIX)/bin/verify_ed25519_signature
	ln -sf scriptworker $(DESTDIR)$(PREFIX)/bin/verify_cot
	cp -R lua policies $(DESTDIR)$(PREFIX)/share/scriptworker/

clean:
	rm -rf build build-san build-fuzz
