# Assay: one plain Makefile for every component.  Everything lands in
# build/ (build/san/ for the sanitizer build, `make test SAN=1`).
#
#   make            build libraries and programs (installs missing packages)
#   make test       build and run the whole test suite
#   make test SAN=1 the same under ASan + UBSan
#   make bench      benchmarks against their named references
#   make fuzz       build the libFuzzer harnesses (clang), FUZZ_SECONDS=N runs
#   make demo       the main job (see README.md)
#   make vectors    regenerate the ethers.js known-answer vectors (npm)
#   make clean

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

SAN ?= 0
ifeq ($(SAN),1)
BUILD := build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
OPT := -O1
else
BUILD := build
SAN_FLAGS :=
OPT := -O2 -D_FORTIFY_SOURCE=2
endif

CC := cc
PKG_CONFIG ?= pkg-config

# Evaluated lazily (=): pkg-config must run after scripts/deps.sh.
PKGS_CORE := libsecp256k1 nettle openssl jansson
CORE_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(PKGS_CORE))
CORE_LIBS = $(shell $(PKG_CONFIG) --libs $(PKGS_CORE))
TEST_CFLAGS = $(shell $(PKG_CONFIG) --cflags criterion)
TEST_LIBS = $(shell $(PKG_CONFIG) --libs criterion)
BLAS_CFLAGS = $(shell $(PKG_CONFIG) --cflags openblas)
BLAS_LIBS = $(shell $(PKG_CONFIG) --libs openblas)

WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wundef -Wvla -Wwrite-strings \
	-Wimplicit-fallthrough -Wcast-align -Wold-style-definition
# Floating point is never contracted or relaxed: kernels must be bitwise
# reproducible, and nothing else here wants it either.
CFLAGS_ALL := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(OPT) -g $(WARN) \
	-ffp-contract=off -fno-fast-math -fstack-protector-strong -fPIE \
	-pthread -MMD -MP -Icommon -Ireceipts $(SAN_FLAGS) $(EXTRA_CFLAGS)
LDFLAGS_ALL := -pie -pthread -Wl,-z,relro,-z,now $(SAN_FLAGS) $(EXTRA_LDFLAGS)

# ---------------------------------------------------------------- deps
.PHONY: deps deps-test deps-bench
deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test
deps-bench:
	@scripts/deps.sh all

# ---------------------------------------------------------------- receipts
RCPT_SRCS := $(wildcard receipts/*.c)
RCPT_OBJS := $(RCPT_SRCS:%.c=$(BUILD)/obj/%.o)
RCPT_LIB := $(BUILD)/lib/libassay-receipts.a

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CORE_CFLAGS) -c $< -o $@

$(RCPT_LIB): $(RCPT_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# ---------------------------------------------------------------- kernels begin
# (kernels/ owns this section)
KERN_LIB :=
KERN_LIBS :=
KERN_CFLAGS :=
# ---------------------------------------------------------------- kernels end

# ---------------------------------------------------------------- client
CLIENT_SRCS := $(wildcard client/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/obj/%.o)
ASSAY := $(BUILD)/bin/assay

$(ASSAY): $(CLIENT_OBJS) $(KERN_LIB) $(RCPT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(KERN_LIBS) $(CORE_LIBS) -lm

.PHONY: all
all: $(ASSAY)

# ---------------------------------------------------------------- tests
# One Criterion binary holds every tests/test_*.c, so one run prints one
# synthesis line.  Tests find the tree and the programs through
# ASSAY_SRCDIR and ASSAY_BUILD.
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(BUILD)/tests/assay-tests

$(BUILD)/obj/tests/%.o: tests/%.c | deps-test
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes $(CORE_CFLAGS) $(TEST_CFLAGS) $(KERN_CFLAGS) -c $< -o $@

$(TEST_BIN): $(TEST_OBJS) $(KERN_LIB) $(RCPT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(KERN_LIBS) $(CORE_LIBS) $(TEST_LIBS) -lm

.PHONY: test check-banned
test: $(TEST_BIN) $(ASSAY) check-banned
	ASSAY_SRCDIR=$(CURDIR) ASSAY_BUILD=$(CURDIR)/$(BUILD) \
		$(TEST_BIN) --jobs=2 $(TEST_ARGS)

# banned.h must make each banned call fail to compile: try each one.
check-banned: | deps
	@for f in strcpy strcat strncpy strncat sprintf vsprintf strtok strtok_r gets; do \
		if $(CC) $(CFLAGS_ALL) -Wno-error -DPROBE_$$f -fsyntax-only \
			tests/probes/banned_probe.c >/dev/null 2>&1; then \
			echo "check-banned: $$f compiled despite banned.h" >&2; exit 1; \
		fi; \
	done; \
	$(CC) $(CFLAGS_ALL) -fsyntax-only tests/probes/banned_probe.c || \
		{ echo "check-banned: the clean probe does not compile" >&2; exit 1; }; \
	echo "check-banned: all 9 banned functions refused"

# ---------------------------------------------------------------- bench
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o)
BENCH_BIN := $(BUILD)/bench/assay-bench

$(BUILD)/obj/bench/%.o: bench/%.c | deps-bench
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CORE_CFLAGS) $(BLAS_CFLAGS) $(KERN_CFLAGS) -c $< -o $@

$(BENCH_BIN): $(BENCH_OBJS) $(KERN_LIB) $(RCPT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(KERN_LIBS) $(CORE_LIBS) $(BLAS_LIBS) -lm

.PHONY: bench
bench: $(BENCH_BIN) $(ASSAY)
	ASSAY_SRCDIR=$(CURDIR) ASSAY_BUILD=$(CURDIR)/$(BUILD) $(BENCH_BIN) $(BENCH_ARGS)

# ---------------------------------------------------------------- fuzz
# libFuzzer needs clang; the harness links the receipts sources directly,
# instrumented.
FUZZ_SECONDS ?= 0
FUZZ_CC := clang
FUZZ_FLAGS := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -O1 -g -Icommon -Ireceipts \
	-ffp-contract=off -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

build/fuzz/%: tests/fuzz/%.c $(RCPT_SRCS) | deps-bench
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(CORE_CFLAGS) -o $@ $< $(RCPT_SRCS) $(CORE_LIBS)

.PHONY: fuzz
fuzz: $(FUZZ_BINS)
	@if [ "$(FUZZ_SECONDS)" -gt 0 ]; then \
		for f in $(FUZZ_BINS); do \
			n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
			$$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 \
				build/fuzz/corpus-$$n tests/fuzz/seeds/$$n || exit 1; \
		done; \
	fi

# ---------------------------------------------------------------- demo
.PHONY: demo
demo: $(ASSAY)
	ASSAY_BUILD=$(CURDIR)/$(BUILD) scripts/demo.sh

# ---------------------------------------------------------------- vectors
.PHONY: vectors
vectors:
	cd tests/vectors/gen && npm ci --no-audit --no-fund && node gen.mjs && node merkle_ref.mjs

.PHONY: clean
clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
