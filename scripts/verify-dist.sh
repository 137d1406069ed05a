#!/bin/sh
# verify-dist.sh: checks a release before anyone builds it
# (docs/releasing.md).
#
#   scripts/verify-dist.sh DIR KEYFILE
#
# KEYFILE is the project's public release key (armored or binary), the
# only key trusted here: the signature is checked with gpgv against a
# keyring made from it alone, never the user's own keyring.  Then every
# file SHA256SUMS names must be in DIR with that checksum.  Exit 0 only
# when both hold; a line says which check failed.
set -eu

if [ $# -ne 2 ] || [ -z "$1" ] || [ -z "$2" ]; then
	echo "usage: scripts/verify-dist.sh DIR KEYFILE" >&2
	exit 2
fi
dir=$1
key=$2
for f in "$key" "$dir/SHA256SUMS" "$dir/SHA256SUMS.asc"; do
	if [ ! -f "$f" ]; then
		echo "verify-dist: $f: no such file" >&2
		exit 1
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# An armored key is dearmored; a binary one is used as it is.
if grep -q -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' "$key"; then
	gpg --batch --dearmor <"$key" >"$tmp/release.gpg"
else
	cp "$key" "$tmp/release.gpg"
fi
if ! gpgv --keyring "$tmp/release.gpg" "$dir/SHA256SUMS.asc" "$dir/SHA256SUMS" 2>"$tmp/gpgv.log"; then
	cat "$tmp/gpgv.log" >&2
	echo "verify-dist: FAILED: SHA256SUMS is not signed by the release key" >&2
	exit 1
fi
if ! (cd "$dir" && sha256sum --strict --quiet -c SHA256SUMS); then
	echo "verify-dist: FAILED: a file differs from SHA256SUMS" >&2
	exit 1
fi
echo "verify-dist: OK: SHA256SUMS signed by the release key, every file matches" >&2
