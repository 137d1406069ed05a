#!/bin/bash
# with-postgres.sh CMD [ARGS...]: runs CMD with a private PostgreSQL server.
#
# The server lives in a fresh temporary directory, listens only on a unix
# socket there (no TCP port, so no clash with anything), and is stopped and
# removed when CMD exits, whatever happens.  PostgreSQL refuses to run as
# root, so as root it runs as the `postgres` user the Debian package
# creates.  CMD sees:
#   ASSAY_PG_CONNINFO  libpq connection string to the `postgres` database
#   ASSAY_PG_SOCKDIR   the socket directory
#   ASSAY_PG_DATADIR   the data directory
#   ASSAY_PG_CTL       a command prefix to run pg_ctl as the server's user
#                      (tests use it to stop and start the server)
set -euo pipefail

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
	echo "with-postgres: PostgreSQL server binaries not found (install postgresql)" >&2
	exit 1
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/assay-pg.XXXXXX")
chmod 755 "$DIR"
AS=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$DIR"
	AS=(runuser -u postgres --)
fi
DATA="$DIR/data"
LOG="$DIR/server.log"

stop() {
	"${AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
	rm -rf "$DIR"
}
trap stop EXIT
trap 'exit 130' INT TERM

"${AS[@]}" "$PGBIN/initdb" -D "$DATA" -U postgres -A trust --no-sync \
	-E UTF8 --locale=C >"$DIR/initdb.log" 2>&1 || {
	cat "$DIR/initdb.log" >&2; exit 1; }
# fsync off: a test server's data is thrown away; durability is tested by
# restarting it, not by surviving power loss.
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
	-o "-c listen_addresses='' -c unix_socket_directories='$DIR' -c fsync=off -c max_connections=200" \
	start >/dev/null || { cat "$LOG" >&2; exit 1; }

export ASSAY_PG_CONNINFO="host=$DIR user=postgres dbname=postgres"
export ASSAY_PG_SOCKDIR="$DIR"
export ASSAY_PG_DATADIR="$DATA"
export ASSAY_PG_LOG="$LOG"
export ASSAY_PG_CTL="${AS[*]} $PGBIN/pg_ctl -D $DATA -l $LOG -w -t 60"
export ASSAY_PG_OPTS="-c listen_addresses='' -c unix_socket_directories='$DIR' -c fsync=off -c max_connections=200"
"$@"
