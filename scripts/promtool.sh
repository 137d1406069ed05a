#!/bin/sh
# promtool.sh OUT: puts Prometheus's `promtool` at OUT (the tests lint
# every daemon's /metrics with `promtool check metrics`).
#
# It comes from Debian's prometheus package, downloaded and unpacked
# rather than installed: installing the package would also start a
# Prometheus server.  Quick when OUT exists already.
set -eu

out=${1:?usage: promtool.sh OUT}
[ -x "$out" ] && exit 0

tmp=$(mktemp -d "${TMPDIR:-/tmp}/assay-promtool.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download prometheus >/dev/null 2>&1; then
	# A fresh machine may have empty package lists; refresh them once.
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq
		apt-get download prometheus >/dev/null 2>&1 || {
			echo "promtool.sh: apt-get download prometheus failed" >&2; exit 1; }
	else
		echo "promtool.sh: apt-get download prometheus failed (run 'apt-get update' as root?)" >&2
		exit 1
	fi
fi
dpkg-deb --fsys-tarfile prometheus_*.deb | tar -x ./usr/bin/promtool
cd - >/dev/null
mkdir -p "$(dirname "$out")"
mv "$tmp/usr/bin/promtool" "$out.tmp"
chmod 0755 "$out.tmp"
mv "$out.tmp" "$out"
"$out" --version 2>&1 | head -1 >&2
