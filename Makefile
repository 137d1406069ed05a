# Assay: one plain Makefile for every component.  Everything lands in
# build/ (build/san/ for the sanitizer build, `make test SAN=1`).
#
#   make            build libraries and programs (installs missing packages)
#   make test       build and run the whole test suite
#   make test SAN=1 the same under ASan + UBSan
#   make bench      benchmarks against their named references
#   make fuzz       build the libFuzzer harnesses (clang), FUZZ_SECONDS=N runs
#   make openapi-check  docs/*-openapi.yaml valid and true to the route tables
#   make demo       the main job (see README.md)
#   make vectors    regenerate the ethers.js known-answer vectors (npm)
#   make clean

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

SAN ?= 0
# BUILD_DIR lets several people build one tree at once (make BUILD_DIR=build-x).
BUILD_DIR ?= build
ifeq ($(SAN),1)
BUILD := $(BUILD_DIR)/san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
OPT := -O1
else
BUILD := $(BUILD_DIR)
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
# -ffile-prefix-map: no build directory in the objects' debug information
# or __FILE__, so that a build is the same bytes wherever it ran
# (scripts/repro-check.sh, docs/releasing.md).
REPRO_FLAGS := -ffile-prefix-map=$(CURDIR)=.
CFLAGS_ALL := -std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE $(OPT) -g $(WARN) \
	-ffp-contract=off -fno-fast-math -fstack-protector-strong -fPIE \
	-pthread -MMD -MP -Icommon -Ireceipts $(REPRO_FLAGS) $(SAN_FLAGS) $(EXTRA_CFLAGS)
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
# libassay-kernels.a: the CPU kernels, the safetensors reader/writer and,
# when nvcc is found (and not under SAN=1: ASan and the CUDA runtime
# disagree about the address space), the CUDA kernels linked against the
# static CUDA runtime, which loads the driver at run time: a binary built
# with CUDA still runs, on the CPU, where no driver or GPU exists.
# KERN_CUDA=0 builds without CUDA even where nvcc exists.
KERN_CUDA ?= auto
CUDA_HOME ?= /usr/local/cuda
KERN_NVCC := $(shell command -v nvcc 2>/dev/null || \
	{ test -x $(CUDA_HOME)/bin/nvcc && echo $(CUDA_HOME)/bin/nvcc; } || true)
KERN_WITH_CUDA := 0
ifneq ($(KERN_NVCC),)
ifneq ($(KERN_CUDA),0)
ifneq ($(SAN),1)
KERN_WITH_CUDA := 1
endif
endif
endif
# SASS for Ampere and Hopper plus PTX that newer GPUs JIT-compile (the
# explicitly rounded PTX instructions keep their meaning under the JIT).
KERN_CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 \
	-gencode arch=compute_90,code=sm_90 -gencode arch=compute_90,code=compute_90
KERN_NVCC_FLAGS := -O3 -std=c++17 --fmad=false -ftz=false -prec-div=true \
	-prec-sqrt=true -Xcompiler -fPIE -Xcompiler $(REPRO_FLAGS) -Ikernels $(KERN_CUDA_ARCH)

KERN_C_SRCS := $(wildcard kernels/*.c kernels/cpu/*.c)
KERN_CU_SRCS := $(wildcard kernels/cuda/*.cu)
KERN_OBJS := $(KERN_C_SRCS:%.c=$(BUILD)/obj/%.o)
KERN_GEN := $(BUILD)/gen/kern_hashes.h
KERN_DEFS :=
KERN_LIB := $(BUILD)/lib/libassay-kernels.a
KERN_CFLAGS := -Ikernels
KERN_LIBS :=
ifeq ($(KERN_WITH_CUDA),1)
KERN_OBJS += $(KERN_CU_SRCS:%.cu=$(BUILD)/obj/%.cu.o)
KERN_DEFS += -DKERN_HAVE_CUDA
KERN_LIBS += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
endif
# Every file gen_hashes.sh hashes (the script lists them exactly).
KERN_HASHED := $(wildcard kernels/*.h kernels/*.c kernels/cpu/*.c \
	kernels/cuda/*.cu kernels/cuda/*.cuh) kernels/gen_hashes.sh

$(KERN_GEN): $(KERN_HASHED)
	@mkdir -p $(@D)
	sh kernels/gen_hashes.sh . > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/kernels/%.o: kernels/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(CORE_CFLAGS) $(KERN_CFLAGS) -I$(BUILD)/gen $(KERN_DEFS) -c $< -o $@

# Switching KERN_CUDA (or SAN) in one build tree must rebuild what depends
# on it: core.o (KERN_HAVE_CUDA) and the archive's member list.
KERN_STAMP := $(BUILD)/gen/kern-cuda-$(KERN_WITH_CUDA).stamp
$(KERN_STAMP):
	@mkdir -p $(@D)
	@rm -f $(BUILD)/gen/kern-cuda-*.stamp
	@touch $@

$(BUILD)/obj/kernels/core.o: $(KERN_GEN) $(KERN_STAMP)

$(BUILD)/obj/kernels/cuda/%.cu.o: kernels/cuda/%.cu kernels/cuda/common.cuh \
		kernels/kern_math.h kernels/kern_internal.h
	@mkdir -p $(@D)
	$(KERN_NVCC) $(KERN_NVCC_FLAGS) -c $< -o $@.tmp
	# nvcc names its host-side file tmpxft_<pid>_...: that name, the
	# object's one FILE symbol, is the only byte that differs between
	# two builds (docs/releasing.md), so it goes.
	objcopy --wildcard --strip-symbol='tmpxft_*' $@.tmp $@ && rm -f $@.tmp

$(KERN_LIB): $(KERN_OBJS) $(KERN_STAMP)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(KERN_OBJS)

# The client's `assay kernel` command includes kernels.h.
$(BUILD)/obj/client/%.o: CFLAGS_ALL += $(KERN_CFLAGS)

# The safetensors fuzz harness (tests/fuzz/fuzz_safetensors.c) links the
# kernels' C sources, instrumented, without CUDA; this explicit rule wins
# over the generic build/fuzz/% one, and `make fuzz` picks it up.
KERN_FUZZ_SRCS := $(KERN_C_SRCS)
build/fuzz/fuzz_safetensors: tests/fuzz/fuzz_safetensors.c $(KERN_FUZZ_SRCS) \
		$(KERN_GEN) | deps-bench
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Wno-ignored-attributes -Wno-unknown-attributes \
		$(CORE_CFLAGS) $(KERN_CFLAGS) -I$(BUILD)/gen -o $@ $< \
		$(KERN_FUZZ_SRCS) $(CORE_LIBS) -lm -pthread

# CI has nvcc but no GPU: compile every .cu file, run nothing.
.PHONY: kernels-cuda-check
kernels-cuda-check:
	@if [ -n "$(KERN_NVCC)" ]; then \
		$(MAKE) -C kernels cuda-compile NVCC=$(KERN_NVCC); \
	else \
		echo "kernels-cuda-check: nvcc not found; skipped"; \
	fi
# ---------------------------------------------------------------- kernels end

# ---------------------------------------------------------------- pgdb
# The one PostgreSQL layer (sessions, prepared statements, error classes,
# the transaction runner, migrations) under chain-adapter/ and escrow/.
PGDB_SRCS := $(wildcard pgdb/*.c)
PGDB_OBJS := $(PGDB_SRCS:%.c=$(BUILD)/obj/%.o)
PGDB_LIB := $(BUILD)/lib/libassay-pgdb.a

$(BUILD)/obj/pgdb/%.o: pgdb/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Ipgdb $(PG_CFLAGS) -c $< -o $@

$(PGDB_LIB): $(PGDB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# ---------------------------------------------------------------- chain-adapter
# The settlement interface and its PostgreSQL backend, and the EVM's
# JSON-RPC client (evm_rpc.c, evm_send.c, evm_revert.c: libcurl and
# jansson; linked into `assay` for `assay chain deploy`).  Migrations
# (chain-adapter/migrations/NNN_*.sql) are embedded into the library at
# build time by scripts/embed-sql.sh.
CHAIN_SRCS := $(wildcard chain-adapter/*.c)
CHAIN_SQL := $(sort $(wildcard chain-adapter/migrations/*.sql))
CHAIN_GEN := $(BUILD)/gen/chain_migrations.c
CHAIN_OBJS := $(CHAIN_SRCS:%.c=$(BUILD)/obj/%.o)
CHAIN_LIB :=
ifneq ($(CHAIN_SRCS),)
CHAIN_LIB := $(BUILD)/lib/libassay-chain.a
CHAIN_OBJS += $(BUILD)/obj/gen/chain_migrations.o
endif
PG_CFLAGS = -I$(shell $(PKG_CONFIG) --variable=includedir libpq)
PG_LIBS = $(shell $(PKG_CONFIG) --libs libpq)
# Argon2id (libargon2) hashes the API keys of the escrow and the provider
# (httpd/apikey_hash.c).
ARGON2_CFLAGS = $(shell $(PKG_CONFIG) --cflags libargon2)
ARGON2_LIBS = $(shell $(PKG_CONFIG) --libs libargon2)

$(CHAIN_GEN): $(CHAIN_SQL) scripts/embed-sql.sh
	@mkdir -p $(@D)
	sh scripts/embed-sql.sh chain_migrations $(CHAIN_SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/chain_migrations.o: $(CHAIN_GEN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -c $< -o $@

$(BUILD)/obj/chain-adapter/%.o: chain-adapter/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Ichain-adapter -Ipgdb $(CORE_CFLAGS) $(PG_CFLAGS) $(CURL_CFLAGS) -c $< -o $@

$(CHAIN_LIB): $(CHAIN_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# ---------------------------------------------------------------- httpd
# HTTP plumbing shared by the three daemons (libmicrohttpd + jansson),
# and their HTTP client (httpd/client.c, libcurl).
HTTPD_SRCS := $(wildcard httpd/*.c)
HTTPD_OBJS := $(HTTPD_SRCS:%.c=$(BUILD)/obj/%.o)
HTTPD_LIB :=
ifneq ($(HTTPD_SRCS),)
HTTPD_LIB := $(BUILD)/lib/libassay-httpd.a
endif
MHD_CFLAGS = $(shell $(PKG_CONFIG) --cflags libmicrohttpd)
MHD_LIBS = $(shell $(PKG_CONFIG) --libs libmicrohttpd)

$(BUILD)/obj/httpd/%.o: httpd/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Ihttpd $(CORE_CFLAGS) $(MHD_CFLAGS) $(CURL_CFLAGS) $(ARGON2_CFLAGS) -c $< -o $@

$(HTTPD_LIB): $(HTTPD_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# ---------------------------------------------------------------- sandbox
# libassay-sandbox.a: the one job sandbox (sandbox/sandbox.h) that the
# provider, the validator and the escrow's referee run kernels in; it
# needs libseccomp.
SBX_SRCS := $(wildcard sandbox/*.c)
SBX_OBJS := $(SBX_SRCS:%.c=$(BUILD)/obj/%.o)
SBX_LIB := $(BUILD)/lib/libassay-sandbox.a
SBX_CFLAGS := -Isandbox
SECCOMP_CFLAGS = $(shell $(PKG_CONFIG) --cflags libseccomp)
SECCOMP_LIBS = $(shell $(PKG_CONFIG) --libs libseccomp)

$(BUILD)/obj/sandbox/%.o: sandbox/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(SBX_CFLAGS) $(KERN_CFLAGS) $(CORE_CFLAGS) $(SECCOMP_CFLAGS) -c $< -o $@

$(SBX_LIB): $(SBX_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# assay-worker (sandbox/worker/main.c): the job worker that exec mode
# starts; every daemon finds it beside its own executable, so each
# daemon's rule builds it too.
WORKER := $(BUILD)/bin/assay-worker

$(BUILD)/obj/sandbox/worker/main.o: sandbox/worker/main.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(SBX_CFLAGS) $(KERN_CFLAGS) $(CORE_CFLAGS) -c $< -o $@

$(WORKER): $(BUILD)/obj/sandbox/worker/main.o $(SBX_LIB) $(KERN_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SECCOMP_LIBS) $(KERN_LIBS) $(CORE_LIBS) -lm

# ---------------------------------------------------------------- escrow
# The escrow's own tables (escrow/migrations/NNN_*.sql), embedded like the
# ledger's by scripts/embed-sql.sh and applied by escrow/db.c.
ESCROW_SRCS := $(wildcard escrow/*.c)
ESCROW_SQL := $(sort $(wildcard escrow/migrations/*.sql))
ESCROW_GEN := $(BUILD)/gen/escrow_migrations.c
ESCROW_OBJS := $(ESCROW_SRCS:%.c=$(BUILD)/obj/%.o)
ESCROW :=
ifneq ($(ESCROW_SRCS),)
ESCROW := $(BUILD)/bin/assay-escrow
ESCROW_OBJS += $(BUILD)/obj/gen/escrow_migrations.o
endif

$(ESCROW_GEN): $(ESCROW_SQL) scripts/embed-sql.sh
	@mkdir -p $(@D)
	sh scripts/embed-sql.sh escrow_migrations $(ESCROW_SQL) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/escrow_migrations.o: $(ESCROW_GEN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -c $< -o $@

$(BUILD)/obj/escrow/%.o: escrow/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iescrow -Ihttpd -Ichain-adapter -Ipgdb -Ivalidator $(SBX_CFLAGS) $(KERN_CFLAGS) $(CORE_CFLAGS) $(MHD_CFLAGS) $(PG_CFLAGS) $(CURL_CFLAGS) $(ARGON2_CFLAGS) -c $< -o $@

$(ESCROW): $(ESCROW_OBJS) $(BUILD)/lib/libassay-validator.a $(SBX_LIB) $(HTTPD_LIB) $(CHAIN_LIB) $(PGDB_LIB) $(KERN_LIB) $(RCPT_LIB) | $(WORKER)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SECCOMP_LIBS) $(KERN_LIBS) $(MHD_LIBS) $(CURL_LIBS) $(PG_LIBS) $(ARGON2_LIBS) $(CORE_LIBS) -lm

# ---------------------------------------------------------------- provider
# The provider daemon assay-provider (provider/main.c) over
# libassay-provider.a (every other provider/*.c, also linked into the
# tests); jobs run in libassay-sandbox.a.
PROV_SRCS := $(filter-out provider/main.c,$(wildcard provider/*.c))
PROV_OBJS := $(PROV_SRCS:%.c=$(BUILD)/obj/%.o)
PROV_LIB :=
ifneq ($(PROV_SRCS),)
PROV_LIB := $(BUILD)/lib/libassay-provider.a
endif
PROVIDER :=
ifneq ($(wildcard provider/main.c),)
PROVIDER := $(BUILD)/bin/assay-provider
endif
$(BUILD)/obj/provider/%.o: provider/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iprovider -Ihttpd $(SBX_CFLAGS) $(KERN_CFLAGS) $(CORE_CFLAGS) $(MHD_CFLAGS) $(CURL_CFLAGS) -c $< -o $@

$(PROV_LIB): $(PROV_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(PROVIDER): $(BUILD)/obj/provider/main.o $(PROV_LIB) $(SBX_LIB) $(HTTPD_LIB) $(KERN_LIB) $(RCPT_LIB) | $(WORKER)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SECCOMP_LIBS) $(KERN_LIBS) $(MHD_LIBS) $(CURL_LIBS) $(ARGON2_LIBS) $(CORE_LIBS) -lm

# ---------------------------------------------------------------- validator
# assay-validator (validator/main.c) over libassay-validator.a (every
# other validator/*.c but sim.c, also linked into the tests), and the
# economics simulator assay-sim (validator/sim.c).  The validator re-runs
# jobs in libassay-sandbox.a.
VALID_SRCS := $(filter-out validator/main.c validator/sim.c,$(wildcard validator/*.c))
VALID_OBJS := $(VALID_SRCS:%.c=$(BUILD)/obj/%.o)
VALID_LIB :=
ifneq ($(VALID_SRCS),)
VALID_LIB := $(BUILD)/lib/libassay-validator.a
endif
VALIDATOR :=
ifneq ($(wildcard validator/main.c),)
VALIDATOR := $(BUILD)/bin/assay-validator
endif
SIM :=
ifneq ($(wildcard validator/sim.c),)
SIM := $(BUILD)/bin/assay-sim
endif

$(BUILD)/obj/validator/%.o: validator/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Ivalidator -Ihttpd $(SBX_CFLAGS) $(KERN_CFLAGS) $(CORE_CFLAGS) $(MHD_CFLAGS) $(CURL_CFLAGS) -c $< -o $@

$(VALID_LIB): $(VALID_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(VALIDATOR): $(BUILD)/obj/validator/main.o $(VALID_LIB) $(SBX_LIB) $(HTTPD_LIB) $(KERN_LIB) $(RCPT_LIB) | $(WORKER)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SECCOMP_LIBS) $(KERN_LIBS) $(MHD_LIBS) $(CURL_LIBS) $(CORE_LIBS) -lm

$(SIM): $(BUILD)/obj/validator/sim.o $(RCPT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(CORE_LIBS) -lm

# ---------------------------------------------------------------- client
# The client talks HTTP with libcurl through httpd/client.c and signs
# requests and sign-in messages with httpd/ (which links libmicrohttpd).
CLIENT_SRCS := $(wildcard client/*.c)
CLIENT_OBJS := $(CLIENT_SRCS:%.c=$(BUILD)/obj/%.o)
ASSAY := $(BUILD)/bin/assay
CURL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl)
CURL_LIBS = $(shell $(PKG_CONFIG) --libs libcurl)

# `assay tokens` (client/cmd_tokens.c over client/bpe.c, GPT-2's BPE) runs
# GPT-2's pre-tokenizer regex with PCRE2 (Unicode letters and digits).
PCRE2_CFLAGS = $(shell $(PKG_CONFIG) --cflags libpcre2-8)
PCRE2_LIBS = $(shell $(PKG_CONFIG) --libs libpcre2-8)

$(BUILD)/obj/client/%.o: client/%.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Ihttpd -Ichain-adapter -Ivalidator $(CORE_CFLAGS) $(CURL_CFLAGS) $(PCRE2_CFLAGS) -c $< -o $@

# `assay chain deploy` (client/cmd_chain.c) carries the contract's
# committed build, chain-adapter/evm/artifacts/, embedded at build time by
# scripts/embed-files.sh (never read from the tree at run time), and the
# EVM JSON-RPC client from libassay-chain.a (which pulls in no PostgreSQL).
EVM_ARTIFACTS := $(addprefix chain-adapter/evm/artifacts/,AssayEscrow.bin AssayEscrow.json \
	DevToken.bin DevToken.json)
EVM_ART_GEN := $(BUILD)/gen/evm_artifacts.c

$(EVM_ART_GEN): $(EVM_ARTIFACTS) scripts/embed-files.sh
	@mkdir -p $(@D)
	sh scripts/embed-files.sh evm_artifacts $(EVM_ARTIFACTS) > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/evm_artifacts.o: $(EVM_ART_GEN)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -c $< -o $@

$(ASSAY): $(CLIENT_OBJS) $(BUILD)/obj/gen/evm_artifacts.o $(VALID_LIB) $(HTTPD_LIB) $(CHAIN_LIB) $(KERN_LIB) $(RCPT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(KERN_LIBS) $(CURL_LIBS) $(MHD_LIBS) $(PCRE2_LIBS) $(CORE_LIBS) -lm

.PHONY: all
all: $(ASSAY) $(ESCROW) $(PROVIDER) $(VALIDATOR) $(SIM) $(WORKER)

# ---------------------------------------------------------------- tests
# One Criterion binary holds every tests/test_*.c, so one run prints one
# synthesis line.  Tests find the tree and the programs through
# ASSAY_SRCDIR and ASSAY_BUILD.
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(BUILD)/tests/assay-tests

$(BUILD)/obj/tests/%.o: tests/%.c | deps-test
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes -Ichain-adapter -Ipgdb -Ihttpd -Iescrow -Iprovider -Ivalidator $(SBX_CFLAGS) $(CORE_CFLAGS) $(TEST_CFLAGS) $(KERN_CFLAGS) $(MHD_CFLAGS) $(PG_CFLAGS) $(CURL_CFLAGS) $(ARGON2_CFLAGS) -c $< -o $@

# The escrow's state machine and database layer are linked in too, so
# that tests/test_escrow_state.c drives them against a real PostgreSQL,
# and its problem table for tests/test_escrow_problems.c escrow/problem_registry.
ESCROW_TEST_OBJS := $(addprefix $(BUILD)/obj/escrow/,state.o dispute_state.o registry_state.o db.o money.o problems.o) \
	$(BUILD)/obj/gen/escrow_migrations.o

# The client's tokenizer too, for tests/test_tokens.c.
TOKENS_TEST_OBJS := $(BUILD)/obj/client/bpe.o
$(BUILD)/obj/tests/test_tokens.o: CFLAGS_ALL += -Iclient

$(TEST_BIN): $(TEST_OBJS) $(ESCROW_TEST_OBJS) $(TOKENS_TEST_OBJS) $(VALID_LIB) $(PROV_LIB) $(SBX_LIB) $(HTTPD_LIB) $(CHAIN_LIB) $(PGDB_LIB) $(KERN_LIB) $(RCPT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SECCOMP_LIBS) $(KERN_LIBS) $(MHD_LIBS) $(CURL_LIBS) $(PG_LIBS) $(ARGON2_LIBS) $(PCRE2_LIBS) $(CORE_LIBS) $(TEST_LIBS) -lm

# promtool (from Debian's prometheus package, unpacked, not installed)
# lints every daemon's /metrics in the tests.
PROMTOOL := $(BUILD_DIR)/tools/promtool

$(PROMTOOL):
	scripts/promtool.sh $@

# The suite runs against a private PostgreSQL that scripts/with-postgres.sh
# starts in a temporary directory (unix socket only, no TCP port) and
# stops afterwards; tests find it through the ASSAY_PG_* variables.
# promtool is found through ASSAY_PROMTOOL.
.PHONY: test check-banned
test: contract-test $(TEST_BIN) $(ASSAY) $(ESCROW) $(PROVIDER) $(VALIDATOR) $(SIM) $(WORKER) $(PROMTOOL) check-banned
	ASSAY_SRCDIR=$(CURDIR) ASSAY_BUILD=$(CURDIR)/$(BUILD) ASSAY_PROMTOOL=$(abspath $(PROMTOOL)) \
		scripts/with-postgres.sh scripts/run-tests.sh $(TEST_BIN) --jobs=2 $(TEST_ARGS)

# banned.h must make each banned call fail to compile: try each one.
check-banned: | deps
	@for f in strcpy strcat strncpy strncat sprintf vsprintf strtok strtok_r gets; do \
		if $(CC) $(CFLAGS_ALL) -Wno-error -DPROBE_$$f -fsyntax-only -MF /dev/null \
			tests/probes/banned_probe.c >/dev/null 2>&1; then \
			echo "check-banned: $$f compiled despite banned.h" >&2; exit 1; \
		fi; \
	done; \
	$(CC) $(CFLAGS_ALL) -fsyntax-only -MF /dev/null tests/probes/banned_probe.c || \
		{ echo "check-banned: the clean probe does not compile" >&2; exit 1; }; \
	echo "check-banned: all 9 banned functions refused"

# ---------------------------------------------------------------- openapi
# docs/{escrow,provider,validator}-openapi.yaml must be valid OpenAPI
# 3.1 for swagger-parser (npm, pinned in tests/openapi/package-lock.json)
# and document exactly the routes each daemon's --print-routes prints,
# plus the httpd built-ins.  The self-test runs first and shows that the
# check catches a route removed, a route added, an invalid document.
.PHONY: openapi-check
openapi-check: $(ESCROW) $(PROVIDER) $(VALIDATOR) | deps-test
	@if [ ! -d tests/openapi/node_modules/@apidevtools/swagger-parser ]; then \
		cd tests/openapi && npm ci --no-audit --no-fund; \
	fi
	cd tests/openapi && node check.mjs --self-test $(abspath $(BUILD)) && \
		node check.mjs $(abspath $(BUILD))

# ---------------------------------------------------------------- bench
BENCH_SRCS := $(wildcard bench/*.c)
BENCH_OBJS := $(BENCH_SRCS:%.c=$(BUILD)/obj/%.o)
BENCH_BIN := $(BUILD)/bench/assay-bench

$(BUILD)/obj/bench/%.o: bench/%.c | deps-bench
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Ichain-adapter -Ipgdb -Ihttpd -Iescrow -Iprovider -Ivalidator -Itests $(SBX_CFLAGS) $(CORE_CFLAGS) $(BLAS_CFLAGS) $(KERN_CFLAGS) $(MHD_CFLAGS) $(PG_CFLAGS) $(CURL_CFLAGS) -c $< -o $@

$(BENCH_BIN): $(BENCH_OBJS) $(VALID_LIB) $(PROV_LIB) $(SBX_LIB) $(HTTPD_LIB) $(CHAIN_LIB) $(PGDB_LIB) $(KERN_LIB) $(RCPT_LIB)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(SECCOMP_LIBS) $(KERN_LIBS) $(MHD_LIBS) $(CURL_LIBS) $(PG_LIBS) $(ARGON2_LIBS) $(CORE_LIBS) $(BLAS_LIBS) -lm

.PHONY: bench
bench: $(BENCH_BIN) $(ASSAY) $(ESCROW) $(PROVIDER) $(VALIDATOR)
	@if [ "$${BENCH_ONLY:-}" != gas ]; then \
		ASSAY_SRCDIR=$(CURDIR) ASSAY_BUILD=$(CURDIR)/$(BUILD) \
		scripts/with-postgres.sh $(BENCH_BIN) $(BENCH_ARGS); fi
	@if [ -z "$${BENCH_ONLY:-}" ] || [ "$${BENCH_ONLY:-}" = gas ]; then $(MAKE) --no-print-directory bench-gas; fi

# ---------------------------------------------------------------- install
# make install [PREFIX=/usr/local] [DESTDIR=]: the programs (assay-worker
# beside the daemons, where they look for it), the man pages and the
# daemons' hardened systemd units (contrib/systemd, docs/operations.md).
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL_BINS := $(ASSAY) $(ESCROW) $(PROVIDER) $(VALIDATOR) $(SIM) $(WORKER)
.PHONY: install uninstall
install: $(INSTALL_BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR)
	install -m 0755 $(INSTALL_BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 man/*.8 $(DESTDIR)$(MANDIR)/man8/
	scripts/units.sh $(BINDIR) $(DESTDIR)$(UNITDIR)
uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_BINS))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/*.1))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(wildcard man/*.8))) \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(basename $(notdir $(wildcard contrib/systemd/*.service.in))))

# ---------------------------------------------------------------- releases
# docs/releasing.md.  A release is the commit at HEAD: `make dist
# SIGN_KEY=<gpg key>` writes dist/assay-$(VERSION).tar.gz, SHA256SUMS and
# SHA256SUMS.asc; `make verify-dist RELEASE_KEY=<public key file>` checks
# them; `make dist-check` runs both against tampering with throwaway keys;
# `make repro-check` builds the commit twice and compares the bytes.
VERSION := $(shell cat VERSION)
DIST_DIR ?= dist
.PHONY: dist verify-dist dist-check repro-check
dist:
	scripts/dist.sh $(DIST_DIR) $(SIGN_KEY)
verify-dist:
	@if [ -z "$(RELEASE_KEY)" ]; then \
		echo "make verify-dist: give RELEASE_KEY=<the project's public key file>" >&2; exit 2; fi
	scripts/verify-dist.sh $(DIST_DIR) $(RELEASE_KEY)
dist-check:
	scripts/test-dist.sh
repro-check: | deps
	scripts/repro-check.sh

# ---------------------------------------------------------------- contract
# The EVM settlement contract (chain-adapter/evm, docs/contract.md): solc-js,
# OpenZeppelin, forge and anvil pinned in its package-lock.json.
EVM_DIR := chain-adapter/evm
FORGE := $(EVM_DIR)/node_modules/@foundry-rs/forge-linux-amd64/bin/forge
.PHONY: contract-deps contract-build contract-check contract-test bench-gas
contract-deps:
	@if [ ! -x $(FORGE) ] || [ ! -d $(EVM_DIR)/node_modules/solc ]; then \
		cd $(EVM_DIR) && npm ci --no-audit --no-fund; \
	fi
contract-build: contract-deps
	cd $(EVM_DIR) && node build.mjs
contract-check: contract-deps
	cd $(EVM_DIR) && node build.mjs --check
contract-test: contract-deps
	cd $(EVM_DIR) && node_modules/@foundry-rs/forge-linux-amd64/bin/forge test \
		--use "$$(pwd)/scripts/solc-forge"
	cd $(EVM_DIR) && node test-ethers/check.mjs
	$(MAKE) contract-check
bench-gas: contract-deps
	cd $(EVM_DIR) && node gas.mjs

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

# Harnesses of httpd/ code link its sources and libmicrohttpd
# (uninstrumented): the SIWE parser, and the request path the daemons
# own (httpd/framing.c, the strict JSON parse in httpd/httpd.c).
HTTPD_FUZZ_BINS := build/fuzz/fuzz_siwe build/fuzz/fuzz_http
$(HTTPD_FUZZ_BINS): build/fuzz/%: tests/fuzz/%.c $(HTTPD_SRCS) $(RCPT_SRCS) | deps-bench
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) -Ihttpd $(CORE_CFLAGS) $(MHD_CFLAGS) $(CURL_CFLAGS) $(ARGON2_CFLAGS) -o $@ $< $(HTTPD_SRCS) \
		$(RCPT_SRCS) $(MHD_LIBS) $(CURL_LIBS) $(ARGON2_LIBS) $(CORE_LIBS)

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
demo: $(ASSAY) $(ESCROW) $(PROVIDER) $(VALIDATOR) $(SIM)
	ASSAY_BUILD=$(CURDIR)/$(BUILD) scripts/demo.sh

# ---------------------------------------------------------------- vectors
.PHONY: vectors
vectors:
	cd tests/vectors/gen && npm ci --no-audit --no-fund && node gen.mjs && node merkle_ref.mjs && \
		node evm.mjs && node decision.mjs

.PHONY: clean
clean:
	rm -rf $(BUILD_DIR)

-include $(shell find $(BUILD_DIR) -name '*.d' 2>/dev/null)
