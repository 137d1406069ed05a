/*
 * pgutil.h: PostgreSQL helpers for the Criterion suites (prefix pgt_).
 *
 * scripts/with-postgres.sh starts one private server for the whole test
 * binary; Criterion runs tests in parallel processes, so each test makes
 * its own database (pgt_db_create) and drops it at the end.
 *
 * Restarting the server breaks every connection to it, so a test that
 * does so must run alone: pgt_db_create takes a shared flock on
 * $ASSAY_PG_SOCKDIR/pgt.lock, held until pgt_db_drop (or the test
 * process's exit); pgt_db_create_alone takes it exclusively and so waits
 * until no other test holds a database.  Any suite that talks to the
 * server should make its databases with these helpers.
 */
#ifndef ASSAY_PGUTIL_H
#define ASSAY_PGUTIL_H

#include <libpq-fe.h>

struct pgt_db {
	char name[64];           /* the database's name */
	char conninfo[512];      /* libpq connection string for it */
	int lock_fd;             /* the flock on pgt.lock; -1 when none */
};

/* A fresh, empty database; aborts the test on failure. */
void pgt_db_create(struct pgt_db *db);
/* The same, holding the server lock exclusively (for restart tests). */
void pgt_db_create_alone(struct pgt_db *db);
/* A fresh database in the given tablespace (its name: [a-z0-9_]),
 * holding the server lock exclusively: filling it makes the server's
 * checkpoints, and so other tests' DROP DATABASE, fail. */
void pgt_db_create_in(struct pgt_db *db, const char *tablespace);
/* Drops the database (terminating its connections) and the lock. */
void pgt_db_drop(struct pgt_db *db);

/* An admin connection to the `postgres` database; aborts on failure. */
PGconn *pgt_admin(void);
/* Runs a constant SQL command on conn; aborts the test on failure. */
void pgt_exec(PGconn *conn, const char *sql);

/* Terminates every session on db's database (pg_terminate_backend) and
 * waits until they are gone; returns how many it terminated. */
int pgt_terminate_all(const struct pgt_db *db);

/* Stops / starts the server ($ASSAY_PG_CTL); aborts on failure. */
void pgt_server_stop(void);
void pgt_server_start(void);

#endif
