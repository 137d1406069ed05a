#!/bin/sh
# units.sh: the daemons' systemd units from contrib/systemd/*.service.in,
# with BINDIR for @BINDIR@ and contrib/systemd/hardening.conf in place of
# @HARDENING@ (make install; tests/test_units.c).
#
#   scripts/units.sh BINDIR OUTDIR
set -eu
cd "$(dirname "$0")/.."
if [ $# -ne 2 ]; then
	echo "usage: scripts/units.sh BINDIR OUTDIR" >&2
	exit 2
fi
case "$1" in
/*) ;;
*) echo "units.sh: BINDIR must be absolute, not '$1'" >&2; exit 2 ;;
esac
case "$1" in
*[!A-Za-z0-9/._-]*) echo "units.sh: BINDIR '$1' has a character a unit cannot take" >&2; exit 2 ;;
esac
mkdir -p "$2"
for in in contrib/systemd/*.service.in; do
	out=$2/$(basename "$in" .in)
	awk -v bindir="$1" -v hard=contrib/systemd/hardening.conf '
		/^@HARDENING@$/ { while ((getline l < hard) > 0) print l; close(hard); next }
		{ gsub(/@BINDIR@/, bindir); print }' "$in" >"$out.tmp"
	chmod 0644 "$out.tmp"
	mv "$out.tmp" "$out"
done
