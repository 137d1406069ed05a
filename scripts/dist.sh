#!/bin/sh
# dist.sh: the release files of the commit at HEAD (docs/releasing.md).
#
#   scripts/dist.sh DIR          DIR/assay-VERSION.tar.gz and DIR/SHA256SUMS
#   scripts/dist.sh DIR KEY      the same, and DIR/SHA256SUMS.asc, a detached
#                                signature by the gpg key KEY (a fingerprint
#                                in the caller's keyring; never in the repo)
#
# The tarball is `git archive` of HEAD, so it is the commit, never the
# working tree, and its bytes depend on nothing but the commit: every
# entry has the commit's time and root's ownership, and gzip -n records
# no name or time.  A tree with uncommitted changes is refused.
set -eu
cd "$(dirname "$0")/.."

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ -z "$1" ]; then
	echo "usage: scripts/dist.sh DIR [GPG-KEY]" >&2
	exit 2
fi
dir=$1
key=${2:-}
version=$(cat VERSION)
case "$version" in
'' | *[!0-9.]* | .* | *. | *..*)
	echo "dist.sh: VERSION must be numbers and dots (1.2.3), not '$version'" >&2
	exit 2 ;;
esac
if ! git rev-parse --verify -q HEAD >/dev/null; then
	echo "dist.sh: not a git checkout: a release is made from a commit" >&2
	exit 1
fi
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	echo "dist.sh: uncommitted changes; a release is the commit at HEAD" \
		"($(git rev-parse --short HEAD)) and would not hold them: commit or stash first" >&2
	exit 1
fi
mkdir -p "$dir"
name="assay-$version"
git archive --format=tar --prefix="$name/" HEAD | gzip -n -9 >"$dir/$name.tar.gz.tmp"
mv "$dir/$name.tar.gz.tmp" "$dir/$name.tar.gz"
(cd "$dir" && sha256sum "$name.tar.gz" >SHA256SUMS.tmp && mv SHA256SUMS.tmp SHA256SUMS)
rm -f "$dir/SHA256SUMS.asc"
if [ -n "$key" ]; then
	gpg --batch --yes --local-user "$key" --armor --detach-sign \
		--output "$dir/SHA256SUMS.asc" "$dir/SHA256SUMS"
	echo "dist.sh: $dir/$name.tar.gz, SHA256SUMS and SHA256SUMS.asc (key $key)" >&2
else
	echo "dist.sh: $dir/$name.tar.gz and SHA256SUMS (unsigned: give a key to sign)" >&2
fi
