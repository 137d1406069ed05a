#!/bin/bash
# repro-check.sh: the same commit gives the same bytes (docs/releasing.md).
#
# Two clones of HEAD, in directories of different names and depths, each
# make the release tarball (scripts/dist.sh) under a different umask,
# locale and time zone: the two tarballs must be identical.  Each tarball
# is then unpacked in a directory of its own and built (`make all`)
# under a different umask, locale, time zone and a later clock: every
# program in build/bin must be identical.  So the check also shows that
# the tarball alone builds.  Needs the build's Debian packages
# (scripts/deps.sh build); about twice a clean build's time.
set -euo pipefail
cd "$(dirname "$0")/.."

root=$(mktemp -d /tmp/assay-repro.XXXXXX)
trap 'rm -rf "$root"' EXIT
step() { printf 'repro-check: %s\n' "$*" >&2; }

one=$root/one
two=$root/x/a/much/deeper/path/assay-two
git clone -q --no-local . "$one"
mkdir -p "$(dirname "$two")"
git clone -q --no-local . "$two"
version=$(cat VERSION)
tarball=assay-$version.tar.gz

step "tarball, twice"
(cd "$one" && umask 022 && LC_ALL=C TZ=UTC scripts/dist.sh "$root/dist-one" 2>/dev/null)
sleep 1
(cd "$two" && umask 077 && LC_ALL=C.UTF-8 TZ=Pacific/Auckland \
	scripts/dist.sh "$root/dist-two" 2>/dev/null)
if ! cmp "$root/dist-one/$tarball" "$root/dist-two/$tarball"; then
	step "FAILED: the two tarballs differ"
	exit 1
fi
step "tarballs identical: $(cut -d' ' -f1 "$root/dist-one/SHA256SUMS")"

build() {
	local dir=$1 tz=$2 loc=$3 um=$4
	mkdir -p "$dir"
	tar -xzf "$root/dist-one/$tarball" -C "$dir"
	(cd "$dir/assay-$version" && umask "$um" && LC_ALL=$loc TZ=$tz \
		make -s -j2 all >"$dir/build.log" 2>&1) || {
		tail -30 "$dir/build.log" >&2
		step "FAILED: the tarball did not build in $dir"
		exit 1
	}
}
step "build from the tarball, twice"
build "$root/build-one" UTC C 022
sleep 1
build "$root/q/build-two-elsewhere" America/Los_Angeles C.UTF-8 077
a=$root/build-one/assay-$version/build/bin
b=$root/q/build-two-elsewhere/assay-$version/build/bin
status=0
if [ "$(ls "$a")" != "$(ls "$b")" ]; then
	step "FAILED: the builds made different programs"
	status=1
fi
for f in $(ls "$a"); do
	if cmp -s "$a/$f" "$b/$f"; then
		printf '  %s  bin/%s\n' "$(sha256sum <"$a/$f" | cut -d' ' -f1)" "$f" >&2
	else
		step "FAILED: bin/$f differs between the two builds"
		status=1
	fi
done
[ $status -eq 0 ] && step "OK: tarball and $(ls "$a" | wc -l) programs bit-identical"
exit $status
