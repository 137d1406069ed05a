/*
 * test_pgdb.c: the one PostgreSQL layer (pgdb/pgdb.h) against a real
 * PostgreSQL: statements prepared once per session (seen in the server's
 * own pg_prepared_statements), SQLSTATEs raised by the server mapped to
 * their classes with the constraint named, the three timeouts set on the
 * session (read back with SHOW), the transaction runner trying a body
 * again after a serialisation failure or a deadlock the server reports
 * (and committing it once), giving up after PGDB_TRIES_MAX, reconnecting
 * when BEGIN meets a terminated session, and the migration runner
 * applying each migration once and refusing a newer schema.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>

#include "pgdb.h"
#include "pgutil.h"
#include "banned.h"

static struct pgt_db T_DB;
static struct pgdb T;

static void t_open(void)
{
	struct pgdb_config cfg = {
		.conninfo = T_DB.conninfo,
		.app = "assay-pgdb-test",
		.statement_timeout_ms = 2000,
		.lock_timeout_ms = 300,
		.idle_in_txn_timeout_ms = 20000,
	};

	pgt_db_create(&T_DB);
	cr_assert_eq(pgdb_open(&T, &cfg), PGDB_OK, "%s", T.why);
	cr_assert_eq(pgdb_exec_once(&T, "schema",
				    "CREATE TABLE t (id int PRIMARY KEY, v int CONSTRAINT v_small"
				    " CHECK (v < 100), n numeric(4,0))"), PGDB_OK, "%s", T.why);
}

static void t_close(void)
{
	pgdb_close(&T);
	pgt_db_drop(&T_DB);
}

/* One row, one column of sql (a literal), as an integer. */
static long t_int(const char *sql)
{
	PGresult *res = NULL;
	long v;

	cr_assert_eq(pgdb_exec_sql(&T, &res, "t_int", sql, 0, NULL), PGDB_OK, "%s", T.why);
	cr_assert_eq(PQntuples(res), 1);
	v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static const struct pgdb_stmt S_INSERT = { "insert", "INSERT INTO t (id, v) VALUES ($1, $2)" };

static enum pgdb_err t_insert(int id, int v)
{
	struct pgdb_args a = { .n = 0 };

	pgdb_arg_i64(&a, id);
	pgdb_arg_i64(&a, v);
	return pgdb_exec(&T, NULL, &S_INSERT, &a);
}

Test(pgdb, a_statement_is_prepared_once_per_session, .init = t_open, .fini = t_close)
{
	uint64_t before = T.stats.prepared;

	cr_assert_eq(t_insert(1, 1), PGDB_OK);
	cr_assert_eq(t_insert(2, 2), PGDB_OK);
	cr_assert_eq(t_insert(3, 3), PGDB_OK);
	/* The server's view: one prepared statement with that text. */
	cr_assert_eq(t_int("SELECT count(*) FROM pg_prepared_statements"
			   " WHERE statement = 'INSERT INTO t (id, v) VALUES ($1, $2)'"), 1);
	cr_assert_eq(t_int("SELECT count(*) FROM t"), 3);
	/* insert once, the two t_int texts once each */
	cr_assert_eq(T.stats.prepared - before, 3);
}

Test(pgdb, the_session_has_its_timeouts_and_name, .init = t_open, .fini = t_close)
{
	PGresult *res = NULL;

	cr_assert_eq(pgdb_exec_sql(&T, &res, "show",
				   "SELECT current_setting('statement_timeout'),"
				   " current_setting('lock_timeout'),"
				   " current_setting('idle_in_transaction_session_timeout'),"
				   " current_setting('application_name')", 0, NULL), PGDB_OK);
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "2s");
	cr_assert_str_eq(PQgetvalue(res, 0, 1), "300ms");
	cr_assert_str_eq(PQgetvalue(res, 0, 2), "20s");
	cr_assert_str_eq(PQgetvalue(res, 0, 3), "assay-pgdb-test");
	PQclear(res);
}

Test(pgdb, errors_are_classed_by_sqlstate, .init = t_open, .fini = t_close)
{
	PGresult *res = NULL;
	PGconn *other;

	cr_assert_eq(t_insert(1, 1), PGDB_OK);
	cr_assert_eq(t_insert(1, 2), PGDB_UNIQUE);
	cr_assert_str_eq(T.sqlstate, "23505");
	cr_assert_str_eq(T.constraint, "t_pkey");
	cr_assert_eq(t_insert(2, 500), PGDB_CHECK);
	cr_assert_str_eq(T.constraint, "v_small");
	cr_assert_eq(pgdb_exec_sql(&T, NULL, "range", "UPDATE t SET n = 123456", 0, NULL),
		     PGDB_RANGE);
	cr_assert_str_eq(T.sqlstate, "22003");
	cr_assert_eq(pgdb_exec_sql(&T, NULL, "timeout", "SELECT pg_sleep(3)", 0, NULL), PGDB_BUSY);
	cr_assert_str_eq(T.sqlstate, "57014");
	cr_assert_eq(pgdb_exec_sql(&T, NULL, "typo", "SELEC 1", 0, NULL), PGDB_FAIL);
	cr_assert_str_eq(T.sqlstate, "42601");
	/* A row locked from another session: lock_timeout, BUSY, 55P03. */
	other = PQconnectdb(T_DB.conninfo);
	pgt_exec(other, "BEGIN");
	pgt_exec(other, "SELECT * FROM t WHERE id = 1 FOR UPDATE");
	cr_assert_eq(pgdb_exec_sql(&T, &res, "locked", "UPDATE t SET v = 7 WHERE id = 1", 0, NULL),
		     PGDB_BUSY);
	cr_assert_str_eq(T.sqlstate, "55P03");
	cr_assert_null(res);
	pgt_exec(other, "ROLLBACK");
	PQfinish(other);
	/* The session is still good afterwards. */
	cr_assert_eq(t_int("SELECT v FROM t WHERE id = 1"), 1);
}

/* A body that makes the server raise `fail_state` on its first `fails`
 * tries (a real server error, 40001 or 40P01) before inserting. */
struct flaky {
	int runs, fails;
	const char *raise_sql;
};

static int flaky_body(struct pgdb *db, void *arg)
{
	struct flaky *x = arg;
	struct pgdb_args a = { .n = 0 };

	x->runs++;
	if (x->runs <= x->fails && pgdb_exec_sql(db, NULL, "raise", x->raise_sql, 0, NULL))
		return 1;
	pgdb_arg_i64(&a, 10);
	pgdb_arg_i64(&a, x->runs);
	return pgdb_exec(db, NULL, &S_INSERT, &a) ? 1 : 0;
}

#define RAISE_40001 "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40001'; END $$"
#define RAISE_40P01 "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '40P01'; END $$"

Test(pgdb, a_serialisation_failure_runs_the_body_again, .init = t_open, .fini = t_close)
{
	struct flaky x = { 0, 2, RAISE_40001 };
	int brc = -1;

	cr_assert_eq(pgdb_txn(&T, PGDB_SERIALIZABLE, flaky_body, &x, &brc), PGDB_OK, "%s", T.why);
	cr_assert_eq(brc, 0);
	cr_assert_eq(x.runs, 3);
	cr_assert_eq(T.stats.retries, 2);
	/* committed once, by the third run */
	cr_assert_eq(t_int("SELECT count(*) FROM t"), 1);
	cr_assert_eq(t_int("SELECT v FROM t WHERE id = 10"), 3);
}

Test(pgdb, a_deadlock_every_time_gives_busy_and_changes_nothing, .init = t_open, .fini = t_close)
{
	struct flaky x = { 0, 1000, RAISE_40P01 };
	int brc = -1;

	cr_assert_eq(pgdb_txn(&T, PGDB_READ_COMMITTED, flaky_body, &x, &brc), PGDB_BUSY);
	cr_assert_eq(x.runs, PGDB_TRIES_MAX);
	cr_assert_eq(t_int("SELECT count(*) FROM t"), 0);
}

/* A body's own refusal rolls back and is handed back, not retried. */
static int refuse_body(struct pgdb *db, void *arg)
{
	int *runs = arg;

	(*runs)++;
	(void)db;
	cr_assert_eq(t_insert(20, 1), PGDB_OK);
	return 42;
}

Test(pgdb, a_body_that_refuses_rolls_back_once, .init = t_open, .fini = t_close)
{
	int runs = 0, brc = 0;

	cr_assert_eq(pgdb_txn(&T, PGDB_READ_COMMITTED, refuse_body, &runs, &brc), PGDB_OK);
	cr_assert_eq(brc, 42);
	cr_assert_eq(runs, 1);
	cr_assert_eq(t_int("SELECT count(*) FROM t"), 0);
}

Test(pgdb, begin_on_a_terminated_session_reconnects_once, .init = t_open, .fini = t_close)
{
	struct flaky x = { 0, 0, RAISE_40001 };
	int brc = -1;
	uint64_t sessions = T.stats.sessions;

	cr_assert_eq(t_insert(1, 1), PGDB_OK);
	cr_assert_geq(pgt_terminate_all(&T_DB), 1);
	cr_assert_eq(pgdb_txn(&T, PGDB_READ_COMMITTED, flaky_body, &x, &brc), PGDB_OK, "%s", T.why);
	cr_assert_eq(brc, 0);
	cr_assert_eq(T.stats.sessions, sessions + 1);
	cr_assert_eq(t_int("SELECT count(*) FROM t"), 2);
	/* statements were prepared again on the new session */
	cr_assert_eq(t_insert(2, 2), PGDB_OK);
}

static const struct pgdb_migration T_MIGRATIONS[] = {
	{ "001_a", "CREATE TABLE m1 (x int); INSERT INTO m1 VALUES (1);" },
	{ "002_b", "ALTER TABLE m1 ADD COLUMN y int;" },
};

Test(pgdb, migrations_run_once_and_a_newer_schema_is_refused, .init = t_open, .fini = t_close)
{
	struct pgdb_schema sc = { T_MIGRATIONS, 2, "test_migrations", "version", 4242, "test" };
	char msg[256];

	cr_assert_eq(pgdb_migrate(&T, msg, sizeof(msg), &sc), PGDB_OK, "%s", msg);
	cr_assert_eq(pgdb_migrate(&T, msg, sizeof(msg), &sc), PGDB_OK, "%s", msg);
	cr_assert_eq(t_int("SELECT count(*) FROM m1"), 1);
	cr_assert_eq(t_int("SELECT count(*) FROM test_migrations"), 2);
	/* A program that knows only 001 meets a database migrated to 002. */
	sc.count = 1;
	cr_assert_eq(pgdb_migrate(&T, msg, sizeof(msg), &sc), PGDB_FAIL);
	cr_assert(strstr(msg, "002_b") != NULL, "%s", msg);
	/* A migration that fails leaves nothing of itself. */
	{
		static const struct pgdb_migration bad[] = {
			{ "001_a", "" },
			{ "002_b", "" },
			{ "003_bad", "CREATE TABLE m3 (x int); SELEC 1;" },
		};
		struct pgdb_schema sb = { bad, 3, "test_migrations", "version", 4242, "test" };
		cr_assert_eq(pgdb_migrate(&T, msg, sizeof(msg), &sb), PGDB_FAIL);
		cr_assert(strstr(msg, "003_bad") != NULL, "%s", msg);
		cr_assert_eq(t_int("SELECT count(*) FROM pg_tables WHERE tablename = 'm3'"), 0);
		cr_assert_eq(t_int("SELECT count(*) FROM test_migrations"), 2);
	}
}

/* pgdb_exec_pair: one round trip, two transactions.  A second statement
 * that fails leaves the first committed (one transaction would have
 * rolled both back); a first that fails does not stop the second; and a
 * write followed by releasing a session lock is seen committed by
 * another session the moment that session gets the lock. */
static const char PAIR_INS[] = "INSERT INTO t (id, v) VALUES ($1::int, 1)";
static const char PAIR_UNLOCK[] = "SELECT pg_advisory_unlock($1::bigint)";

Test(pgdb, a_pair_runs_as_two_transactions_in_one_trip, .init = t_open, .fini = t_close)
{
	const char *one[1] = { "1" }, *two[1] = { "2" }, *key[1] = { "4242" };
	PGconn *other;
	PGresult *res;

	/* The second refused (the same key): the first stays. */
	cr_assert_eq(pgdb_exec_pair(&T, "pair", PAIR_INS, 1, one, PAIR_INS, 1, one), PGDB_UNIQUE);
	cr_assert_eq(t_int("SELECT count(*) FROM t"), 1, "the first statement was rolled back");
	/* The first refused: the second runs and commits. */
	cr_assert_eq(pgdb_exec_pair(&T, "pair", PAIR_INS, 1, one, PAIR_INS, 1, two), PGDB_UNIQUE);
	cr_assert_eq(t_int("SELECT count(*) FROM t WHERE id = 2"), 1, "the second did not run");
	/* A write, then a lock released: whoever takes the lock sees it. */
	cr_assert_eq(pgdb_exec_sql(&T, NULL, "lock", "SELECT pg_advisory_lock(4242)", 0, NULL),
		     PGDB_OK, "%s", T.why);
	other = PQconnectdb(T_DB.conninfo);
	cr_assert_eq(PQstatus(other), CONNECTION_OK);
	/* Two statements: the count's snapshot is taken after the lock. */
	cr_assert(PQsendQuery(other, "SELECT pg_advisory_lock(4242); SELECT count(*) FROM t"));
	usleep(200 * 1000);
	{
		const char *three[1] = { "3" };
		cr_assert_eq(pgdb_exec_pair(&T, "pair", PAIR_INS, 1, three, PAIR_UNLOCK, 1, key),
			     PGDB_OK, "%s", T.why);
	}
	res = PQgetResult(other);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(other));
	PQclear(res);
	res = PQgetResult(other);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(other));
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "3", "the lock came before the write committed");
	PQclear(res);
	while ((res = PQgetResult(other)))
		PQclear(res);
	PQfinish(other);
	/* The session is usable afterwards, outside pipeline mode. */
	cr_assert_eq(t_int("SELECT count(*) FROM t"), 3);
	cr_assert_eq(PQpipelineStatus(T.conn), PQ_PIPELINE_OFF);
}
