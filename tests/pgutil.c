/*
 * pgutil.c: see pgutil.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "pgutil.h"
#include "banned.h"

static const char *pgt_env(const char *name)
{
	const char *v = getenv(name);

	cr_assert(v && *v, "%s is not set: run the tests under scripts/with-postgres.sh", name);
	return v;
}

PGconn *pgt_admin(void)
{
	PGconn *conn = PQconnectdb(pgt_env("ASSAY_PG_CONNINFO"));

	cr_assert(conn && PQstatus(conn) == CONNECTION_OK, "admin connection: %s",
		  conn ? PQerrorMessage(conn) : "no memory");
	return conn;
}

void pgt_exec(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "'%s': %s", sql,
		  PQresultErrorMessage(res));
	PQclear(res);
}

int pgt_terminate_all(const struct pgt_db *db)
{
	PGconn *admin = pgt_admin();
	const char *params[1] = { db->name };
	const char *kill_sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
			       "WHERE datname = $1 AND pid <> pg_backend_pid()";
	const char *left_sql = "SELECT count(*) FROM pg_stat_activity "
			       "WHERE datname = $1 AND pid <> pg_backend_pid()";
	PGresult *res = PQexecParams(admin, kill_sql, 1, NULL, params, NULL, NULL, 0);
	int killed, i;

	cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
	killed = PQntuples(res);
	PQclear(res);
	/* pg_terminate_backend only signals; wait (10 s at most) until the
	 * backends are gone, so their goodbye is in the clients' sockets. */
	for (i = 0; i < 1000; i++) {
		int left;
		res = PQexecParams(admin, left_sql, 1, NULL, params, NULL, NULL, 0);
		cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
		left = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (left == 0)
			break;
		usleep(10000);
	}
	cr_assert(i < 1000, "backends of %s still alive 10 s after pg_terminate_backend", db->name);
	PQfinish(admin);
	return killed;
}

static int pgt_flock_open(const char *name, int how)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pgt_env("ASSAY_PG_SOCKDIR"), name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	cr_assert(fd >= 0, "open %s", path);
	while (flock(fd, how) != 0)
		cr_assert(errno == EINTR, "flock %s: %s", path, strerror(errno));
	return fd;
}

/* The server lock: shared by tests that only add a database, exclusive
 * for the few that stop the server.  flock() favours readers: a waiting
 * LOCK_EX is passed by every new LOCK_SH, so on a busy run an exclusive
 * test could wait out its own timeout.  A gate taken exclusively around
 * every acquisition (and held by an exclusive taker until it has the
 * lock) makes the order first come, first served. */
static int pgt_lock(int how)
{
	int gate = pgt_flock_open("pgt.gate", LOCK_EX);
	int fd = pgt_flock_open("pgt.lock", how);

	close(gate);
	return fd;
}

static void pgt_create(struct pgt_db *db, int how, const char *tablespace)
{
	static unsigned counter;
	char sql[256];
	char *ident;
	PGconn *conn;

	memset(db, 0, sizeof(*db));
	db->lock_fd = pgt_lock(how);
	/* Unique across the parallel test processes: pid, counter, time. */
	snprintf(db->name, sizeof(db->name), "assay_t_%ld_%u_%lx", (long)getpid(),
		 counter++, (unsigned long)time(NULL));
	conn = pgt_admin();
	ident = PQescapeIdentifier(conn, db->name, strlen(db->name));
	cr_assert(ident);
	if (tablespace) {
		for (const char *t = tablespace; *t; t++)
			cr_assert((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '_',
				  "tablespace name '%s'", tablespace);
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s TABLESPACE %s", ident, tablespace);
	} else {
		snprintf(sql, sizeof(sql), "CREATE DATABASE %s", ident);
	}
	pgt_exec(conn, sql);
	PQfreemem(ident);
	PQfinish(conn);
	snprintf(db->conninfo, sizeof(db->conninfo), "%s dbname=%s",
		 pgt_env("ASSAY_PG_CONNINFO"), db->name);
}

void pgt_db_create(struct pgt_db *db)
{
	pgt_create(db, LOCK_SH, NULL);
}

void pgt_db_create_in(struct pgt_db *db, const char *tablespace)
{
	/* Alone: a test that fills its tablespace makes the server's
	 * checkpoints fail, and with them every other test's DROP
	 * DATABASE ("checkpoint request failed"). */
	pgt_create(db, LOCK_EX, tablespace);
}

void pgt_db_create_alone(struct pgt_db *db)
{
	pgt_create(db, LOCK_EX, NULL);
}

void pgt_db_drop(struct pgt_db *db)
{
	char sql[256];
	char *ident;
	PGconn *conn = pgt_admin();

	ident = PQescapeIdentifier(conn, db->name, strlen(db->name));
	cr_assert(ident);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	pgt_exec(conn, sql);
	PQfreemem(ident);
	PQfinish(conn);
	if (db->lock_fd >= 0)
		close(db->lock_fd);
	db->lock_fd = -1;
}

static void pgt_ctl(const char *args)
{
	char cmd[256];
	int st;

	pgt_env("ASSAY_PG_CTL");
	snprintf(cmd, sizeof(cmd), "$ASSAY_PG_CTL %s >/dev/null 2>&1", args);
	st = system(cmd);
	cr_assert(st == 0, "'%s' failed (%d)", cmd, st);
}

void pgt_server_stop(void)
{
	pgt_ctl("stop -m fast");
}

void pgt_server_start(void)
{
	pgt_ctl("-o \"$ASSAY_PG_OPTS\" start");
}
