#!/bin/bash
# test-dist.sh: make dist and verify-dist against each other and against
# tampering (docs/releasing.md).  A throwaway release key and a second,
# unrelated key are made in a temporary GNUPGHOME; nothing touches the
# caller's keyring.  Needs a tree without uncommitted changes.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d /tmp/assay-dist.XXXXXX)
trap 'gpgconf --homedir "$tmp/gnupg" --kill all 2>/dev/null || true; rm -rf "$tmp"' EXIT
export GNUPGHOME=$tmp/gnupg
mkdir -m 700 "$GNUPGHOME"
fails=0
ok() { printf 'test-dist: ok: %s\n' "$*"; }
bad() { printf 'test-dist: FAILED: %s\n' "$*" >&2; fails=$((fails + 1)); }

newkey() {
	gpg --batch --quiet --passphrase '' --quick-gen-key "$1" ed25519 sign never 2>/dev/null
	gpg --batch --with-colons --list-keys "$1" 2>/dev/null | awk -F: '/^fpr/ { print $10; exit }'
}
rel=$(newkey 'Assay test release <release@assay.invalid>')
other=$(newkey 'Someone else <other@assay.invalid>')
gpg --batch --armor --export "$rel" >"$tmp/release.asc"
version=$(cat VERSION)
d=$tmp/dist
tarball=assay-$version.tar.gz

make -s dist DIST_DIR="$d" SIGN_KEY="$rel" 2>/dev/null
[ -f "$d/$tarball" ] && [ -f "$d/SHA256SUMS" ] && [ -f "$d/SHA256SUMS.asc" ] &&
	ok "make dist wrote the tarball, SHA256SUMS and its signature" ||
	bad "make dist did not write its three files"
# The tarball is HEAD: its commit id, its prefix, its files.
[ "$(gzip -dc "$d/$tarball" | git get-tar-commit-id)" = "$(git rev-parse HEAD)" ] &&
	ok "the tarball is commit $(git rev-parse --short HEAD)" || bad "the tarball's commit id is not HEAD"
want=$(git ls-files | sort | sed "s|^|assay-$version/|")
got=$(tar -tzf "$d/$tarball" | grep -v '/$' | sort)
[ "$want" = "$got" ] && ok "the tarball holds exactly the committed files" ||
	bad "the tarball's files differ from git ls-files"
# Independently of our scripts: sha256sum and gpgv by hand.
(cd "$d" && sha256sum -c --quiet SHA256SUMS) && ok "sha256sum -c" || bad "sha256sum -c"

make -s verify-dist DIST_DIR="$d" RELEASE_KEY="$tmp/release.asc" 2>/dev/null &&
	ok "verify-dist accepts the release" || bad "verify-dist refused a good release"

refused() {   # what, dir: verify-dist must refuse it
	if make -s verify-dist DIST_DIR="$2" RELEASE_KEY="$tmp/release.asc" >/dev/null 2>&1; then
		bad "verify-dist accepted $1"
	else
		ok "verify-dist refuses $1"
	fi
}
copy() { rm -rf "$tmp/c" && cp -r "$d" "$tmp/c"; }

copy
printf 'x' >>"$tmp/c/$tarball"
refused "a tarball with one byte more" "$tmp/c"
copy
sed -i 's/^./0/' "$tmp/c/SHA256SUMS"
refused "a changed SHA256SUMS" "$tmp/c"
copy
gpg --batch --yes --local-user "$other" --armor --detach-sign --output "$tmp/c/SHA256SUMS.asc" \
	"$tmp/c/SHA256SUMS" 2>/dev/null
refused "a signature by another key" "$tmp/c"
copy
rm "$tmp/c/SHA256SUMS.asc"
refused "a release without its signature" "$tmp/c"
copy
rm "$tmp/c/$tarball"
refused "a release without its tarball" "$tmp/c"
# An unsigned dist is possible, and says so; a bad VERSION is refused.
make -s dist DIST_DIR="$tmp/u" 2>"$tmp/u.err" && [ ! -e "$tmp/u/SHA256SUMS.asc" ] &&
	grep -q unsigned "$tmp/u.err" && ok "make dist without a key: unsigned, and says so" ||
	bad "make dist without a key"

[ $fails -eq 0 ] && echo "test-dist: all passed" && exit 0
echo "test-dist: $fails failed" >&2
exit 1
