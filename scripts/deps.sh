#!/bin/sh
# deps.sh: make sure every Debian package Assay builds, tests or benches
# with is installed.  Idempotent and quick (one dpkg-query) when all are
# present.  As root it installs what is missing with apt-get; otherwise it
# prints the exact apt-get line to run and fails.
#
# Usage: scripts/deps.sh [build|test|bench|all]   (default: all)
set -eu

# What each package is for, so that nobody wonders why it is here.
BUILD_PKGS="
build-essential
pkg-config
libsecp256k1-dev
nettle-dev
libssl-dev
libjansson-dev
libmicrohttpd-dev
libpq-dev
libcurl4-openssl-dev
libseccomp-dev
libargon2-dev
libpcre2-dev
"
# libargon2-dev: Argon2id (RFC 9106), which hashes the escrow's API-key
# secrets (escrow/apikey_hash.c); pkg-config libargon2.
# libpcre2-dev: PCRE2 with Unicode properties runs GPT-2's pre-tokenizer
# regex (\p{L}, \p{N}) for `assay tokens` (client/bpe.c); pkg-config
# libpcre2-8.
# Criterion for tests; PostgreSQL because the tests start a private
# server in a temporary directory; nodejs and npm for `make
# openapi-check` (swagger-parser, tests/openapi/) and the ethers.js tests
# (test_siwe.c, test_provider_ethers.c), and to regenerate the vectors
# (`make vectors`; the tests read the committed ones); systemd's
# systemd-analyze and groff check the installed units and man pages
# (test_units.c); gnupg signs and checks releases (make dist-check);
# python3-numpy is the independent float64 GPT-2 the gpt2_f32 kernel is
# checked against (tests/gpt2_ref.py, run with /usr/bin/python3) and the
# numpy float32 reference of `make bench`.
TEST_PKGS="
libcriterion-dev
openssl
postgresql
nodejs
npm
systemd
groff-base
gnupg
gpgv
python3-numpy
"
# OpenBLAS is the named reference for the CPU matmul benchmark; clang and
# its runtime give libFuzzer.
BENCH_PKGS="
libopenblas-dev
clang
libclang-rt-14-dev
"

want=${1:-all}
case "$want" in
build) pkgs=$BUILD_PKGS ;;
test) pkgs="$BUILD_PKGS $TEST_PKGS" ;;
bench|all) pkgs="$BUILD_PKGS $TEST_PKGS $BENCH_PKGS" ;;
*) echo "deps.sh: unknown set '$want' (build, test, bench or all)" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps.sh: not a Debian system; install the equivalents of:$(echo $pkgs | tr '\n' ' ')" >&2
	exit 0
fi

missing=""
for p in $pkgs; do
	# A node and an npm on PATH will do (NodeSource's nodejs package
	# bundles npm and conflicts with Debian's).
	case "$p" in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps.sh: missing packages; run as root:" >&2
	echo "  apt-get update && apt-get install -y --no-install-recommends$missing" >&2
	exit 1
fi

echo "deps.sh: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have empty package lists; refresh them once.
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps.sh: done" >&2
