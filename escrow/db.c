/*
 * db.c: every SQL statement of assay-escrow, in one place.
 *
 * Conventions: parameters are sent as text ($n), bytea as "\x" + hex,
 * uint256 as canonical decimal (numeric(78,0)).  A function that takes
 * no transaction of its own runs in the caller's (escrow_db_txn, or
 * escrow_db_begin) or, outside one, as its own implicit transaction.
 * Sessions, prepared statements, error classes and the transaction
 * runner are pgdb's (pgdb/pgdb.h), as for the ledger.  Every function returns
 * an enum escrow_db_err; a failed statement is logged once here, with
 * the server's message but never a parameter value.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "assay_assert.h"
#include "pgdb.h"
#include "escrow.h"
#include "dispute_state.h"
#include "db_internal.h"
#include "banned.h"

/* Generated from escrow/migrations/ by scripts/embed-sql.sh. */
extern const struct pgdb_migration escrow_migrations[];
extern const size_t escrow_migrations_count;

/* Advisory lock key of the escrow's migrations ("escrow" in ASCII). */
#define ESCROW_MIGRATE_LOCK_KEY 111542251910007LL
#define ESCROW_MIGRATE_LOCK "111542251910007"

#define HEXP(n) (2 + 2 * (n) + 1)

static void hexp(char *out, size_t out_len, const uint8_t *b, size_t n)
{
	static const char d[] = "0123456789abcdef";
	size_t i;

	ASSAY_ASSERT(out_len >= HEXP(n));
	out[0] = '\\';
	out[1] = 'x';
	for (i = 0; i < n; i++) {
		out[2 + 2 * i] = d[b[i] >> 4];
		out[3 + 2 * i] = d[b[i] & 15];
	}
	out[2 + 2 * n] = '\0';
}

/* bytea in hex output form into exactly n bytes; -1 otherwise. */
static int get_bytes(uint8_t *out, size_t n, const PGresult *res, int row, int col)
{
	const char *s = PQgetvalue(res, row, col);
	size_t len = (size_t)PQgetlength(res, row, col);

	if (PQgetisnull(res, row, col) || len < 2 || s[0] != '\\' || s[1] != 'x')
		return -1;
	return rcpt_hex_digits_decode(out, n, s + 2, len - 2) == RCPT_OK ? 0 : -1;
}

/* bytea of any length into a malloc'd buffer. */
static int get_blob(uint8_t **out, size_t *n, const PGresult *res, int row, int col)
{
	const char *s = PQgetvalue(res, row, col);
	size_t len = (size_t)PQgetlength(res, row, col);

	*out = NULL;
	*n = 0;
	if (PQgetisnull(res, row, col) || len < 2 || s[0] != '\\' || s[1] != 'x' || len % 2)
		return -1;
	*n = (len - 2) / 2;
	*out = malloc(*n ? *n : 1);
	if (!*out)
		return -1;
	if (rcpt_hex_digits_decode(*out, *n, s + 2, len - 2) != RCPT_OK) {
		free(*out);
		*out = NULL;
		*n = 0;
		return -1;
	}
	return 0;
}

static char *blob_param(const uint8_t *b, size_t n)
{
	char *p = malloc(HEXP(n));

	if (p)
		hexp(p, HEXP(n), b, n);
	return p;
}

static uint64_t get_u64(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return 0;
	return strtoull(PQgetvalue(res, row, col), NULL, 10);
}

/* pgdb's class of a failure, as the escrow's callers see it.  pgdb logs
 * what it cannot classify; a CHECK or a range error is logged here (in
 * the escrow's own tables they are bugs: the trigger of migration 005
 * refusing a step, a bound the code should have kept). */
static enum escrow_db_err map(struct escrow_db *db, enum pgdb_err e, const char *what)
{
	switch (e) {
	case PGDB_OK:
		return ESCROW_DB_OK;
	case PGDB_DOWN:
		return ESCROW_DB_DOWN;
	case PGDB_BUSY:
		/* lock or statement timeout, 40001/40P01, class 53 (disk
		 * full, memory, connections): nothing done, retry later */
		return ESCROW_DB_BUSY;
	case PGDB_UNIQUE:
		return ESCROW_DB_CONFLICT;
	case PGDB_CHECK:
	case PGDB_RANGE:
		fprintf(stderr, "assay-escrow: %s: %s failed: %s (%s)\n", db->who, what,
			db->pg.why, db->pg.constraint);
		return ESCROW_DB_FAIL;
	case PGDB_SHAPE:
	case PGDB_FAIL:
	case PGDB_ERR_COUNT_:
		break;
	}
	return ESCROW_DB_FAIL;
}

/* Runs one statement, prepared on first use (sql must be a literal);
 * *out (may be NULL) receives the result to PQclear. */
static enum escrow_db_err run(struct escrow_db *db, PGresult **out, const char *what,
			      const char *sql, int n, const char *const *params)
{
	ASSAY_ASSERT(db && what && sql && n >= 0 && (n == 0 || params));
	return map(db, pgdb_exec_sql(&db->pg, out, what, sql, n, params), what);
}

static int affected(PGresult *res)
{
	return (int)pgdb_affected(res);
}

/* What db_internal.h lends the other db_*.c files. */
enum escrow_db_err escrow_dbi_run(struct escrow_db *db, PGresult **out, const char *what,
				  const char *sql, int n, const char *const *params)
{
	return run(db, out, what, sql, n, params);
}

void escrow_dbi_hexp(char *out, size_t out_len, const uint8_t *b, size_t n)
{
	hexp(out, out_len, b, n);
}

int escrow_dbi_bytes(uint8_t *out, size_t n, const PGresult *res, int row, int col)
{
	return get_bytes(out, n, res, row, col);
}

uint64_t escrow_dbi_u64(const PGresult *res, int row, int col)
{
	return get_u64(res, row, col);
}

int escrow_dbi_affected(PGresult *res)
{
	return affected(res);
}

/* ---------------------------------------------------------------- connection */

/* Any number of assay-escrow processes may serve one database; one of
 * them settles at a time.  The settlement session that holds this
 * session-level advisory lock ("ASSAY" and 2) is the settler; the
 * others' settlement threads stand by and try again every tick, so that
 * when the settler dies (its session ends, and the lock with it) another
 * takes over within a second.  One settler keeps what one escrow had:
 * disputes decided one at a time, one heartbeat, one referee. */
#define ESCROW_LOCK_KEY_SETTLE "4707197575663452162"   /* 0x4153534159000002 */

enum escrow_db_err escrow_db_settler_try(struct escrow_db *db, int *settler)
{
	const char *p[1] = { ESCROW_LOCK_KEY_SETTLE };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(strcmp(db->who, "settle") == 0);
	if (db->settler) {
		*settler = 1;
		return ESCROW_DB_OK;
	}
	*settler = 0;
	rc = run(db, &res, "settler lock", "SELECT pg_try_advisory_lock($1::bigint)", 1, p);
	if (rc)
		return rc;
	db->settler = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	*settler = db->settler;
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_instances(struct escrow_db *db, int64_t *n)
{
	PGresult *res = NULL;
	enum escrow_db_err rc = run(db, &res, "instances",
		"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
		" AND application_name = 'assay-escrow-http'", 0, NULL);

	*n = 0;
	if (rc)
		return rc;
	*n = (int64_t)get_u64(res, 0, 0);
	PQclear(res);
	return ESCROW_DB_OK;
}

/* A new session holds no lock: the settler is elected again. */
static void on_session(void *arg)
{
	struct escrow_db *db = arg;

	db->settler = 0;
	if (db->idem_held)
		db->idem_lost = 1;
}

/* A request whose idempotency lock went with its session (escrow.h). */
static int idem_lost(struct escrow_db *db, const char *what)
{
	if (!db->idem_lost)
		return 0;
	fprintf(stderr, "%s: %s refused: the request's idempotency lock went with its session\n",
		db->log_prefix, what);
	return 1;
}

/* Every session (pgdb): bounds on how long one statement may run and
 * wait for a lock, so that a lock held from outside (psql) costs a
 * request ESCROW_DB_LOCK_TIMEOUT_MS and a 503, not a handler thread; and
 * a session idle inside a transaction is ended by the server.  The
 * sessions are "assay-escrow-http", "assay-escrow-settle"... in
 * pg_stat_activity. */
enum escrow_db_err escrow_db_open(struct escrow_db *db, const char *conninfo,
				  const char *who)
{
	struct pgdb_config cfg = {
		.conninfo = conninfo,
		.statement_timeout_ms = ESCROW_DB_STATEMENT_TIMEOUT_MS,
		.lock_timeout_ms = ESCROW_DB_LOCK_TIMEOUT_MS,
		.idle_in_txn_timeout_ms = ESCROW_DB_IDLE_IN_TXN_TIMEOUT_MS,
		.on_session = on_session,
	};

	ASSAY_ASSERT(db && conninfo && who);
	memset(db, 0, sizeof(*db));
	db->conninfo = conninfo;
	db->who = who;
	snprintf(db->app, sizeof(db->app), "assay-escrow-%s", who);
	snprintf(db->log_prefix, sizeof(db->log_prefix), "assay-escrow: %s", who);
	cfg.app = db->app;
	cfg.log_prefix = db->log_prefix;
	cfg.on_session_arg = db;
	return map(db, pgdb_open(&db->pg, &cfg), "connect");
}

void escrow_db_close(struct escrow_db *db)
{
	if (db)
		pgdb_close(&db->pg);
}

enum escrow_db_err escrow_db_ensure(struct escrow_db *db)
{
	return map(db, pgdb_ready(&db->pg), "reconnect");
}

enum escrow_db_err escrow_db_ping(struct escrow_db *db)
{
	enum escrow_db_err rc = escrow_db_ensure(db);

	if (!rc)
		rc = run(db, NULL, "ping", "SELECT 1", 0, NULL);
	return rc;
}

enum escrow_db_err escrow_db_begin(struct escrow_db *db)
{
	enum escrow_db_err rc = map(db, pgdb_begin(&db->pg, PGDB_READ_COMMITTED), "begin");

	if (!rc && idem_lost(db, "begin")) {
		pgdb_rollback(&db->pg);
		rc = ESCROW_DB_DOWN;
	}
	return rc;
}

enum escrow_db_err escrow_db_commit(struct escrow_db *db)
{
	return map(db, pgdb_commit(&db->pg), "commit");
}

void escrow_db_rollback(struct escrow_db *db)
{
	pgdb_rollback(&db->pg);
}

struct txn_ctx {
	struct escrow_db *db;
	escrow_db_body body;
	void *arg;
};

static int txn_body(struct pgdb *pg, void *arg)
{
	struct txn_ctx *x = arg;

	ASSAY_ASSERT(pg == &x->db->pg);
	/* After BEGIN, which may have reconnected: a lost lock is known. */
	if (idem_lost(x->db, "transaction"))
		return (int)ESCROW_DB_DOWN;
	return (int)x->body(x->db, x->arg);
}

enum escrow_db_err escrow_db_txn(struct escrow_db *db, escrow_db_body body, void *arg)
{
	struct txn_ctx x = { db, body, arg };
	enum pgdb_err e;
	int brc = 0;

	e = pgdb_txn(&db->pg, PGDB_READ_COMMITTED, txn_body, &x, &brc);
	if (e)
		return map(db, e, "transaction");
	return (enum escrow_db_err)brc;
}

static int audit_text(char **head, char **tail, const char *subject, const char *event,
		      json_t *data, uint64_t now_s);

struct step_audit {
	const uint8_t *id;
	enum escrow_job_op op;
	enum escrow_job_state from, to;
	const char *sub, *event;
	json_t *data;
	uint64_t now;
};

static enum escrow_db_err step_audit_body(struct escrow_db *db, void *arg)
{
	const struct step_audit *x = arg;
	enum escrow_db_err rc;

	rc = escrow_db_job_step(db, x->id, x->op, x->from, x->now);
	/* A settled job keeps no customer input (no retention). */
	if (!rc && escrow_job_final(x->to))
		rc = escrow_db_dispute_drop_inputs(db, x->id);
	if (!rc)   /* audit steals a reference; the body may run again */
		rc = escrow_db_audit(db, x->sub, x->event, json_incref(x->data), x->now);
	return rc;
}

/* One statement that changes a job's row (an UPDATE ... RETURNING 1 of
 * at most one row) and appends its audit entry from the same row:
 * `sql` ends in "SELECT escrow_audit_append($n, $n+1, $n+2) FROM s".
 * It is its own transaction, so it is retried on 40001/40P01 as
 * escrow_db_txn retries a transaction; ESCROW_DB_CONFLICT when no row
 * was in the expected state (nothing written). */
static enum escrow_db_err run_audited(struct escrow_db *db, const char *what, const char *sql,
				      int n, const char *const *p)
{
	PGresult *res = NULL;
	enum escrow_db_err rc = escrow_db_ensure(db);
	int tries = 0;

	if (rc)
		return rc;
	if (idem_lost(db, what))
		return ESCROW_DB_DOWN;
	do {
		PQclear(res);
		res = NULL;
		rc = run(db, &res, what, sql, n, p);
	} while (rc == ESCROW_DB_BUSY && db->pg.retryable && ++tries < PGDB_TRIES_MAX);
	if (!rc) {
		ASSAY_ASSERT(PQntuples(res) <= 1);
		rc = PQntuples(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	}
	PQclear(res);
	return rc;
}

/* A step that ends nothing (no input to drop): the row and its entry in
 * one statement. */
static enum escrow_db_err step_audit_one(struct escrow_db *db, const struct step_audit *x)
{
	char idp[HEXP(32)], *head = NULL, *tail = NULL;
	enum escrow_db_err rc = ESCROW_DB_FAIL;

	ASSAY_ASSERT(!escrow_job_final(x->to) && x->to != x->from && x->to != JOB_NONE);
	hexp(idp, sizeof(idp), x->id, 32);
	if (audit_text(&head, &tail, x->sub, x->event, x->data, x->now) == 0) {
		const char *p[6] = { idp, escrow_job_state_name(x->from),
				     escrow_job_state_name(x->to), x->sub, head, tail };
		rc = run_audited(db, "job step and audit",
				 "WITH s AS (UPDATE escrow_jobs SET state = $3 WHERE id = $1"
				 " AND state = $2 RETURNING 1)"
				 " SELECT escrow_audit_append($4, $5, $6) FROM s", 6, p);
	}
	free(head);
	free(tail);
	return rc;
}

enum escrow_db_err escrow_db_step_audit(struct escrow_db *db, const uint8_t *id,
					enum escrow_job_op op, enum escrow_job_state from,
					const char *sub, const char *event, json_t *data,
					uint64_t now)
{
	struct step_audit x = { id, op, from, JOB_NONE, sub, event, data, now };
	enum escrow_db_err rc;

	ASSAY_ASSERT(id && sub && event);
	ASSAY_ASSERT(escrow_job_next(op, from, &x.to));
	if (!data)
		x.data = data = json_object();
	if (escrow_job_final(x.to))
		rc = escrow_db_txn(db, step_audit_body, &x);
	else
		rc = data ? step_audit_one(db, &x) : ESCROW_DB_FAIL;
	json_decref(data);
	return rc;
}

struct write_audit {
	escrow_db_body pre;
	void *arg;
	const char *sub, *event;
	json_t *data;
	uint64_t now;
};

static enum escrow_db_err write_audit_body(struct escrow_db *db, void *arg)
{
	const struct write_audit *x = arg;
	enum escrow_db_err rc = x->pre(db, x->arg);

	if (!rc)
		rc = escrow_db_audit(db, x->sub, x->event, json_incref(x->data), x->now);
	return rc;
}

enum escrow_db_err escrow_db_write_audit(struct escrow_db *db, escrow_db_body pre, void *arg,
					 const char *sub, const char *event, json_t *data,
					 uint64_t now)
{
	struct write_audit x = { pre, arg, sub, event, data, now };
	enum escrow_db_err rc;

	ASSAY_ASSERT(pre && sub && event);
	rc = escrow_db_txn(db, write_audit_body, &x);
	json_decref(data);
	return rc;
}

/* Appends `name` to a PostgreSQL text[] literal being built in out. */
static void arr_add(char *out, size_t n, size_t *len, const char *name)
{
	int w = snprintf(out + *len, n - *len, "%s%s", *len > 1 ? "," : "", name);

	ASSAY_ASSERT(w > 0 && (size_t)w < n - *len - 1);
	*len += (size_t)w;
}

struct steps_text {
	char ops[1024], froms[1024], tos[1024];
	char dkinds[512], dops[512], dfroms[512], dtos[512];   /* the disputes' */
};

/* Whether the stored step tables differ from this build's (*differ), and
 * how many other escrows serve the database (*others). */
static enum escrow_db_err steps_compare(struct escrow_db *db, const struct steps_text *t,
					int *differ, int64_t *others)
{
	const char *p[7] = { t->ops, t->froms, t->tos, t->dkinds, t->dops, t->dfroms, t->dtos };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	rc = run(db, &res, "steps compare",
		 "WITH ours(r) AS ("
		 "SELECT 'j/' || o || '/' || f || '/' || t"
		 " FROM unnest($1::text[], $2::text[], $3::text[]) AS u(o, f, t)"
		 " UNION ALL SELECT 'd/' || k || '/' || o || '/' || f || '/' || t"
		 " FROM unnest($4::text[], $5::text[], $6::text[], $7::text[]) AS v(k, o, f, t)),"
		 " stored(r) AS ("
		 "SELECT 'j/' || op || '/' || from_state || '/' || to_state FROM escrow_job_steps"
		 " UNION ALL SELECT 'd/' || kind || '/' || op || '/' || from_state || '/' || to_state"
		 " FROM escrow_dispute_steps)"
		 " SELECT (SELECT count(*) FROM ((SELECT r FROM ours EXCEPT SELECT r FROM stored)"
		 " UNION ALL (SELECT r FROM stored EXCEPT SELECT r FROM ours)) d),"
		 " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
		 " AND application_name = 'assay-escrow-http' AND pid <> pg_backend_pid())",
		 7, p);
	if (rc)
		return rc;
	*differ = get_u64(res, 0, 0) != 0;
	*others = (int64_t)get_u64(res, 0, 1);
	PQclear(res);
	return ESCROW_DB_OK;
}

static enum escrow_db_err sync_steps_body(struct escrow_db *db, void *arg)
{
	struct steps_text *t = arg;
	const char *p[3] = { t->ops, t->froms, t->tos };
	const char *key[1] = { ESCROW_MIGRATE_LOCK };
	enum escrow_db_err rc;
	int differ = 0;
	int64_t others = 0;

	rc = run(db, NULL, "job steps lock", "SELECT pg_advisory_xact_lock($1::bigint)", 1, key);
	if (!rc)
		rc = steps_compare(db, t, &differ, &others);
	if (rc || !differ)
		return rc;
	/* Replicas must be of one version: another escrow running beside
	 * this one follows the stored tables, and rewriting them under it
	 * would refuse its steps. */
	if (others > 0) {
		fprintf(stderr, "assay-escrow: %" PRId64 " other escrows serve this database with"
			" other state machines (another version): stop them before starting this one"
			" (replicas must run one version)\n", others);
		return ESCROW_DB_CONFLICT;
	}
	rc = run(db, NULL, "job steps clear", "DELETE FROM escrow_job_steps", 0, NULL);
	if (!rc)
		rc = run(db, NULL, "job steps write",
			 "INSERT INTO escrow_job_steps (op, from_state, to_state)"
			 " SELECT * FROM unnest($1::text[], $2::text[], $3::text[])", 3, p);
	if (!rc)
		rc = run(db, NULL, "dispute steps clear", "DELETE FROM escrow_dispute_steps", 0, NULL);
	if (!rc) {
		const char *q[4] = { t->dkinds, t->dops, t->dfroms, t->dtos };
		rc = run(db, NULL, "dispute steps write",
			 "INSERT INTO escrow_dispute_steps (kind, op, from_state, to_state)"
			 " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])",
			 4, q);
	}
	return rc;
}

/* dispute_state.c's table as four text[] literals. */
static void dispute_steps_text(struct steps_text *t)
{
	size_t lk = 1, lo = 1, lf = 1, lt = 1, i, n;
	const struct escrow_dispute_step *s;

	n = escrow_dispute_steps(&s);
	for (i = 0; i < n; i++) {
		arr_add(t->dkinds, sizeof(t->dkinds), &lk, escrow_dispute_kind_name(s[i].kind));
		arr_add(t->dops, sizeof(t->dops), &lo, escrow_dispute_op_name(s[i].op));
		arr_add(t->dfroms, sizeof(t->dfroms), &lf, escrow_dispute_state_name(s[i].from));
		arr_add(t->dtos, sizeof(t->dtos), &lt, escrow_dispute_state_name(s[i].to));
	}
	t->dkinds[lk] = '}', t->dkinds[lk + 1] = '\0';
	t->dops[lo] = '}', t->dops[lo + 1] = '\0';
	t->dfroms[lf] = '}', t->dfroms[lf + 1] = '\0';
	t->dtos[lt] = '}', t->dtos[lt + 1] = '\0';
}

/* Writes state.c's table into escrow_job_steps (migration 005) and
 * dispute_state.c's into escrow_dispute_steps (007), which the triggers on
 * escrow_jobs and escrow_disputes enforce, under the migration lock. */
static enum escrow_db_err sync_steps(struct escrow_db *db)
{
	struct steps_text t = { "{", "{", "{", "{", "{", "{", "{" };
	size_t lo = 1, lf = 1, lt = 1, i, n;
	const struct escrow_job_step *s;

	n = escrow_job_steps(&s);
	for (i = 0; i < n; i++) {
		arr_add(t.ops, sizeof(t.ops), &lo, escrow_job_op_name(s[i].op));
		arr_add(t.froms, sizeof(t.froms), &lf, escrow_job_state_name(s[i].from));
		arr_add(t.tos, sizeof(t.tos), &lt, escrow_job_state_name(s[i].to));
	}
	/* arr_add left one byte for the closing brace. */
	t.ops[lo] = '}', t.ops[lo + 1] = '\0';
	t.froms[lf] = '}', t.froms[lf + 1] = '\0';
	t.tos[lt] = '}', t.tos[lt + 1] = '\0';
	dispute_steps_text(&t);
	return escrow_db_txn(db, sync_steps_body, &t);
}

enum escrow_db_err escrow_db_migrate(struct escrow_db *db)
{
	const struct pgdb_schema sc = {
		.list = escrow_migrations,
		.count = escrow_migrations_count,
		.table = "escrow_schema_migrations",
		.column = "name",
		.lock_key = ESCROW_MIGRATE_LOCK_KEY,
		.what = "escrow",
	};
	char msg[512];
	enum pgdb_err e;

	e = pgdb_migrate(&db->pg, msg, sizeof(msg), &sc);
	if (e) {
		fprintf(stderr, "assay-escrow: %s\n", msg);
		return e == PGDB_DOWN ? ESCROW_DB_DOWN : ESCROW_DB_FAIL;
	}
	return sync_steps(db);
}

/* ---------------------------------------------------------------- audit */

/* The canonical text of an audit entry (keys sorted, compact, ASCII)
 * with index 0, cut around that value: *head ends with `"index":` and
 * *tail is `,"subject":"..."}` (sorted keys put "index" just before
 * "subject", the last key), for escrow_audit_append (migration 008) to
 * put the chain's next index between.  Both malloc'd; -1 on failure. */
static int audit_text(char **head, char **tail, const char *subject, const char *event,
		      json_t *data, uint64_t now_s)
{
	static const char mid[] = "0,\"subject\":";
	json_t *entry = json_pack("{s:I, s:O, s:s, s:i, s:s}", "at", (json_int_t)now_s,
				  "data", data, "event", event, "index", 0, "subject", subject);
	json_t *sj = json_string(subject);
	char *text = NULL, *st = NULL;
	size_t tl, sl, cut;
	int rc = -1;

	*head = *tail = NULL;
	text = entry ? json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII) : NULL;
	st = sj ? json_dumps(sj, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
	if (!text || !st)
		goto out;
	tl = strlen(text);
	sl = strlen(st);
	/* text = head "0" ",\"subject\":" st "}" */
	if (tl < sl + sizeof(mid) - 1 + 1)
		goto out;
	cut = tl - sl - (sizeof(mid) - 1) - 1;
	ASSAY_ASSERT(memcmp(text + cut, mid, sizeof(mid) - 1) == 0 &&
		     memcmp(text + cut + sizeof(mid) - 1, st, sl) == 0 && text[tl - 1] == '}');
	ASSAY_ASSERT(cut >= 8 && memcmp(text + cut - 8, "\"index\":", 8) == 0);
	*head = strndup(text, cut);
	*tail = strdup(text + cut + 1);
	if (*head && *tail)
		rc = 0;
out:
	if (rc) {
		free(*head);
		free(*tail);
		*head = *tail = NULL;
	}
	free(text);
	free(st);
	json_decref(sj);
	json_decref(entry);
	return rc;
}

/* One statement (migration 008): the subject's lock, its head, the entry
 * with the next index and its hash, SHA-256(prev_hash || entry). */
enum escrow_db_err escrow_db_audit(struct escrow_db *db, const char *subject,
				   const char *event, json_t *data, uint64_t now_s)
{
	char *head = NULL, *tail = NULL;
	enum escrow_db_err rc = ESCROW_DB_FAIL;

	ASSAY_ASSERT(subject && event);
	if (!data)
		data = json_object();
	if (data && audit_text(&head, &tail, subject, event, data, now_s) == 0) {
		const char *p[3] = { subject, head, tail };
		rc = run(db, NULL, "audit append", "SELECT escrow_audit_append($1, $2, $3)", 3, p);
	}
	free(head);
	free(tail);
	json_decref(data);
	return rc;
}

enum escrow_db_err escrow_db_audit_count(struct escrow_db *db, const char *subject,
					 const char *event, int64_t *n)
{
	PGresult *res = NULL;
	const char *p[2] = { subject, event };
	enum escrow_db_err rc;

	*n = 0;
	rc = run(db, &res, "audit count",
		 "SELECT count(*) FROM escrow_audit WHERE subject = $1"
		 " AND (entry::jsonb)->>'event' = $2", 2, p);
	if (!rc)
		*n = (int64_t)get_u64(res, 0, 0);
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_audit_has_op(struct escrow_db *db, const char *subject,
					  const char *op_hex, int *yes)
{
	PGresult *res = NULL;
	const char *p[2] = { subject, op_hex };
	enum escrow_db_err rc;

	*yes = 0;
	rc = run(db, &res, "audit has op",
		 "SELECT count(*) FROM escrow_audit WHERE subject = $1"
		 " AND (entry::jsonb)->'data'->>'op' = $2", 2, p);
	if (!rc)
		*yes = get_u64(res, 0, 0) > 0;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_audit_list(struct escrow_db *db, json_t **out,
					const char *subject)
{
	PGresult *res = NULL;
	const char *p[1] = { subject };
	enum escrow_db_err rc;
	json_t *arr = NULL;
	int i;

	*out = NULL;
	rc = run(db, &res, "audit list",
		 "SELECT entry, prev_hash, hash FROM escrow_audit WHERE subject = $1"
		 " ORDER BY idx LIMIT " ESCROW_STR(ESCROW_AUDIT_ENTRIES_MAX), 1, p);
	if (rc)
		return rc;
	arr = json_array();
	for (i = 0; arr && i < PQntuples(res); i++) {
		uint8_t ph[RCPT_HASH_BYTES], h[RCPT_HASH_BYTES];
		char phx[RCPT_HASH_HEX_BYTES], hx[RCPT_HASH_HEX_BYTES];
		json_t *e = json_loads(PQgetvalue(res, i, 0), JSON_REJECT_DUPLICATES, NULL);
		if (!e || get_bytes(ph, sizeof(ph), res, i, 1) || get_bytes(h, sizeof(h), res, i, 2)) {
			json_decref(e);
			rc = ESCROW_DB_FAIL;
			break;
		}
		escrow_hex(phx, sizeof(phx), ph, sizeof(ph));
		escrow_hex(hx, sizeof(hx), h, sizeof(h));
		json_array_append_new(arr, json_pack("{s:o, s:s, s:s}", "entry", e,
						     "prevHash", phx, "hash", hx));
	}
	PQclear(res);
	if (rc || !arr) {
		json_decref(arr);
		return rc ? rc : ESCROW_DB_FAIL;
	}
	*out = arr;
	return ESCROW_DB_OK;
}

/* ---------------------------------------------------------------- idempotency */

/* The advisory lock's key of an idempotency key: the first 8 bytes of
 * SHA-256("assay-escrow idem" || key), as a signed bigint.  Two keys that
 * share it only wait for each other. */
static void idem_lock_key(char out[24], const char *key)
{
	uint8_t h[RCPT_HASH_BYTES];
	char buf[24 + RCPT_ADDR_HEX_BYTES + HTTPD_IDEM_KEY_BYTES_MAX + 2];
	int64_t v = 0;
	int n = snprintf(buf, sizeof(buf), "assay-escrow idem%s", key);

	ASSAY_ASSERT(n > 0 && (size_t)n < sizeof(buf));
	ASSAY_ASSERT(rcpt_sha256(h, (const uint8_t *)buf, (size_t)n) == RCPT_OK);
	for (int i = 0; i < 8; i++)
		v = (int64_t)(((uint64_t)v << 8) | h[i]);
	snprintf(out, 24, "%" PRId64, v);
}

/* The record's answer into the caller's buffers (row 0 of res). */
static enum escrow_db_err idem_answer(struct escrow_idem_record *out, PGresult *res)
{
	uint8_t *b = NULL;
	size_t bl = 0;

	if (get_bytes(out->fingerprint, RCPT_HASH_BYTES, res, 0, 1))
		return ESCROW_DB_FAIL;
	if (PQgetisnull(res, 0, 2))
		return ESCROW_DB_OK;      /* no answer yet: cut off */
	if (get_blob(&b, &bl, res, 0, 4))
		return ESCROW_DB_FAIL;
	out->ctype = strdup(PQgetvalue(res, 0, 3));
	out->body = malloc(bl + 1);
	if (!out->ctype || !out->body) {
		free(b);
		return ESCROW_DB_FAIL;
	}
	if (bl)
		memcpy(out->body, b, bl);
	out->body[bl] = '\0';
	out->body_len = bl;
	out->status = atoi(PQgetvalue(res, 0, 2));
	free(b);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_idem_begin(struct escrow_db *db, struct escrow_idem_record *out,
					const char *key,
					const uint8_t fingerprint[RCPT_HASH_BYTES], uint64_t now_s)
{
	char k[24], fp[HEXP(RCPT_HASH_BYTES)], ts[24];
	const char *p[4] = { k, key, fp, ts };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(!db->idem_held);
	memset(out, 0, sizeof(*out));
	idem_lock_key(k, key);
	hexp(fp, sizeof(fp), fingerprint, RCPT_HASH_BYTES);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	/* On failure the function holds no lock (migration 008). */
	rc = run(db, &res, "idem begin",
		 "SELECT fresh, fingerprint, status, ctype, body"
		 " FROM escrow_idem_begin($1::bigint, $2, $3::bytea, $4::bigint)", 4, p);
	if (rc)
		return rc;
	db->idem_held = 1;
	db->idem_lost = 0;
	if (PQntuples(res) != 1) {
		rc = ESCROW_DB_FAIL;
		goto out;
	}
	out->fresh = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	rc = idem_answer(out, res);
out:
	PQclear(res);
	if (rc)
		escrow_idem_record_free(out);
	return rc;
}

void escrow_idem_record_free(struct escrow_idem_record *r)
{
	free(r->ctype);
	free(r->body);
	r->ctype = NULL;
	r->body = NULL;
}

void escrow_db_idem_unlock(struct escrow_db *db, const char *key)
{
	char k[24];
	const char *p[1] = { k };

	idem_lock_key(k, key);
	/* On a replaced session the lock is gone already. */
	if (db->idem_held && !db->idem_lost)
		(void)run(db, NULL, "idem unlock", "SELECT pg_advisory_unlock($1::bigint)", 1, p);
	db->idem_held = 0;
	db->idem_lost = 0;
}

enum escrow_db_err escrow_db_idem_intact(struct escrow_db *db)
{
	enum escrow_db_err rc = escrow_db_ensure(db);

	if (!rc && idem_lost(db, "ledger movement"))
		rc = ESCROW_DB_DOWN;
	return rc;
}

enum escrow_db_err escrow_db_idem_store(struct escrow_db *db, const char *key,
					int status, const char *ctype,
					const char *body, size_t len)
{
	char st[16];
	char *bp = blob_param((const uint8_t *)body, len);
	const char *p[4] = { key, st, ctype, bp };
	enum escrow_db_err rc;

	if (!bp)
		return ESCROW_DB_FAIL;
	snprintf(st, sizeof(st), "%d", status);
	rc = run(db, NULL, "idem store",
		 "UPDATE escrow_idem SET status = $2, ctype = $3, body = $4"
		 " WHERE key = $1 AND status IS NULL", 4, p);
	free(bp);
	return rc;
}

enum escrow_db_err escrow_db_idem_delete(struct escrow_db *db, const char *key)
{
	const char *p[1] = { key };

	return run(db, NULL, "idem delete",
		   "DELETE FROM escrow_idem WHERE key = $1 AND status IS NULL", 1, p);
}

/* The answer stored (or, for a 5xx, the record freed), then the key's
 * lock released once that has committed: one round trip. */
enum escrow_db_err escrow_db_idem_finish(struct escrow_db *db, const char *key, int status,
					 const char *ctype, const char *body, size_t len)
{
	char st[16], k[24], *bp = NULL;
	const char *p[4] = { key, st, ctype, NULL }, *u[1] = { k };
	enum escrow_db_err rc;

	ASSAY_ASSERT(db->idem_held && status >= 100 && status <= 599);
	if (status >= 500 || db->idem_lost) {
		/* A lost lock is no lock: nothing to release. */
		rc = status >= 500 ? escrow_db_idem_delete(db, key)
				   : escrow_db_idem_store(db, key, status, ctype, body, len);
		escrow_db_idem_unlock(db, key);
		return rc;
	}
	bp = blob_param((const uint8_t *)body, len);
	if (!bp) {
		escrow_db_idem_unlock(db, key);
		return ESCROW_DB_FAIL;
	}
	p[3] = bp;
	snprintf(st, sizeof(st), "%d", status);
	idem_lock_key(k, key);
	rc = map(db, pgdb_exec_pair(&db->pg, "idem finish",
				    "UPDATE escrow_idem SET status = $2, ctype = $3, body = $4"
				    " WHERE key = $1 AND status IS NULL", 4, p,
				    "SELECT pg_advisory_unlock($1::bigint)", 1, u), "idem finish");
	free(bp);
	db->idem_held = 0;
	db->idem_lost = 0;
	return rc;
}

enum escrow_db_err escrow_db_idem_purge(struct escrow_db *db, uint64_t before_s, size_t max,
				       int64_t *n)
{
	char bs[24], mx[24];
	const char *p[2] = { bs, mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*n = 0;
	snprintf(bs, sizeof(bs), "%" PRIu64, before_s);
	snprintf(mx, sizeof(mx), "%zu", max);
	/* A record whose request is in flight is at most a request's
	 * deadline old, far below the retention, so none is deleted under
	 * its request; SKIP LOCKED keeps two purgers apart. */
	rc = run(db, &res, "idem purge",
		 "DELETE FROM escrow_idem WHERE key IN (SELECT key FROM escrow_idem"
		 " WHERE created_at_s < $1::bigint ORDER BY created_at_s LIMIT $2::bigint"
		 " FOR UPDATE SKIP LOCKED)", 2, p);
	if (rc)
		return rc;
	*n = affected(res);
	PQclear(res);
	return ESCROW_DB_OK;
}

/* ---------------------------------------------------------------- jobs */

enum escrow_db_err escrow_db_job_insert(struct escrow_db *db, const uint8_t id[RCPT_HASH_BYTES],
					const struct rcpt_job *job, const char *job_json,
					const uint8_t sig[RCPT_SIG_BYTES],
					const char *idem, uint64_t now_s)
{
	char idp[HEXP(32)], cp[HEXP(20)], pp[HEXP(20)], sp[HEXP(65)];
	char mp[RCPT_U256_DEC_BYTES], dl[24], ts[24];
	const char *p[11] = { idp, cp, pp, job->kernel, job_json, sp, mp, dl, idem, ts, NULL };
	enum escrow_job_state to;

	ASSAY_ASSERT(escrow_job_next(JOB_OP_OPEN, JOB_NONE, &to));
	p[10] = escrow_job_state_name(to);

	hexp(idp, sizeof(idp), id, 32);
	hexp(cp, sizeof(cp), job->customer, 20);
	hexp(pp, sizeof(pp), job->provider, 20);
	hexp(sp, sizeof(sp), sig, 65);
	rcpt_u256_format(mp, &job->max_price);
	snprintf(dl, sizeof(dl), "%" PRIu64, job->deadline);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	return run(db, NULL, "job insert",
		   "INSERT INTO escrow_jobs (id, customer, provider, kernel, job_json,"
		   " job_sig, max_price, deadline_s, state, open_idem, opened_at_s)"
		   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $11, $9, $10)", 11, p);
}

enum escrow_db_err escrow_db_job_get(struct escrow_db *db, struct escrow_job *out,
				     const uint8_t id[RCPT_HASH_BYTES])
{
	char idp[HEXP(32)];
	const char *p[1] = { idp };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	const char *s;

	memset(out, 0, sizeof(*out));
	hexp(idp, sizeof(idp), id, 32);
	rc = run(db, &res, "job get",
		 "SELECT id, job_json, job_sig, state, coalesce(open_idem, ''), opened_at_s,"
		 " receipt_id, receipt_json, receipt_sig, receipted_at_s, window_end_s,"
		 " settled_at_s FROM escrow_jobs WHERE id = $1", 1, p);
	if (rc)
		return rc;
	if (PQntuples(res) != 1) {
		rc = ESCROW_DB_NOT_FOUND;
		goto out;
	}
	rc = ESCROW_DB_FAIL;
	s = PQgetvalue(res, 0, 1);
	if (get_bytes(out->id, 32, res, 0, 0) ||
	    rcpt_job_parse(&out->job, NULL, s, strlen(s)) != RCPT_OK ||
	    get_bytes(out->job_sig, 65, res, 0, 2))
		goto out;
	if (escrow_job_state_parse(PQgetvalue(res, 0, 3), &out->state))
		goto out;
	snprintf(out->open_idem, sizeof(out->open_idem), "%s", PQgetvalue(res, 0, 4));
	out->opened_at_s = get_u64(res, 0, 5);
	if (!PQgetisnull(res, 0, 6)) {
		s = PQgetvalue(res, 0, 7);
		if (get_bytes(out->receipt_id, 32, res, 0, 6) ||
		    rcpt_receipt_parse(&out->receipt, NULL, s, strlen(s)) != RCPT_OK ||
		    get_bytes(out->receipt_sig, 65, res, 0, 8))
			goto out;
		out->has_receipt = 1;
		out->receipted_at_s = get_u64(res, 0, 9);
		out->window_end_s = get_u64(res, 0, 10);
	}
	out->settled_at_s = get_u64(res, 0, 11);
	rc = ESCROW_DB_OK;
out:
	if (rc == ESCROW_DB_FAIL)
		fprintf(stderr, "assay-escrow: %s: job row unreadable\n", db->who);
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_job_delete_opening(struct escrow_db *db,
						const uint8_t id[RCPT_HASH_BYTES])
{
	char idp[HEXP(32)];
	const char *p[2] = { idp, escrow_job_state_name(JOB_OPENING) };
	enum escrow_job_state to;

	ASSAY_ASSERT(escrow_job_next(JOB_OP_ABANDON, JOB_OPENING, &to) && to == JOB_NONE);
	hexp(idp, sizeof(idp), id, 32);
	return run(db, NULL, "job delete",
		   "DELETE FROM escrow_jobs WHERE id = $1 AND state = $2", 2, p);
}

enum escrow_db_err escrow_db_job_step(struct escrow_db *db,
				      const uint8_t id[RCPT_HASH_BYTES],
				      enum escrow_job_op op, enum escrow_job_state from,
				      uint64_t now_s)
{
	char idp[HEXP(32)], ts[24];
	const char *p[5] = { idp, NULL, NULL, ts, NULL };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	enum escrow_job_state to;

	/* A step moves a job on: never to where it is, never out of a row
	 * (escrow_db_job_delete_opening does that one). */
	ASSAY_ASSERT(escrow_job_next(op, from, &to) && to != from && to != JOB_NONE);
	p[1] = escrow_job_state_name(from);
	p[2] = escrow_job_state_name(to);
	p[4] = escrow_job_final(to) ? "true" : "false";
	hexp(idp, sizeof(idp), id, 32);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	rc = run(db, &res, "job step",
		 "UPDATE escrow_jobs SET state = $3, settled_at_s = CASE WHEN $5::boolean"
		 " THEN $4::bigint ELSE settled_at_s END WHERE id = $1 AND state = $2", 5, p);
	if (rc)
		return rc;
	rc = affected(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	PQclear(res);
	return rc;
}

/* The receipt step's ten parameters ($1..$10 of both statements below),
 * their text kept in the struct. */
struct receipt_params {
	char idp[HEXP(32)], rp[HEXP(32)], sp[HEXP(65)], op[HEXP(32)];
	char pr[RCPT_U256_DEC_BYTES], ts[24], we[24];
	const char *p[13];
};

static void receipt_params(struct receipt_params *x, const uint8_t id[RCPT_HASH_BYTES],
			   const uint8_t receipt_id[RCPT_HASH_BYTES],
			   const struct rcpt_receipt *r, const char *receipt_json,
			   const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s,
			   uint64_t window_end_s)
{
	enum escrow_job_state to;

	ASSAY_ASSERT(escrow_job_next(JOB_OP_RECEIPT, JOB_OPEN, &to) && to != JOB_OPEN);
	/* Window bounds keep window_end far from overflow. */
	ASSAY_ASSERT(window_end_s > now_s && window_end_s - now_s <= ESCROW_WINDOW_S_MAX);
	hexp(x->idp, sizeof(x->idp), id, 32);
	hexp(x->rp, sizeof(x->rp), receipt_id, 32);
	hexp(x->sp, sizeof(x->sp), sig, 65);
	hexp(x->op, sizeof(x->op), r->output_root, 32);
	rcpt_u256_format(x->pr, &r->price);
	snprintf(x->ts, sizeof(x->ts), "%" PRIu64, now_s);
	snprintf(x->we, sizeof(x->we), "%" PRIu64, window_end_s);
	x->p[0] = x->idp;
	x->p[1] = x->rp;
	x->p[2] = receipt_json;
	x->p[3] = x->sp;
	x->p[4] = x->op;
	x->p[5] = x->pr;
	x->p[6] = x->ts;
	x->p[7] = x->we;
	x->p[8] = escrow_job_state_name(JOB_OPEN);
	x->p[9] = escrow_job_state_name(to);
}

enum escrow_db_err escrow_db_job_receipt(struct escrow_db *db,
					 const uint8_t id[RCPT_HASH_BYTES],
					 const uint8_t receipt_id[RCPT_HASH_BYTES],
					 const struct rcpt_receipt *r, const char *receipt_json,
					 const uint8_t sig[RCPT_SIG_BYTES],
					 uint64_t now_s, uint64_t window_end_s)
{
	struct receipt_params x;
	PGresult *res = NULL;
	enum escrow_db_err rc;

	receipt_params(&x, id, receipt_id, r, receipt_json, sig, now_s, window_end_s);
	rc = run(db, &res, "job receipt",
		 "UPDATE escrow_jobs SET state = $10, receipt_id = $2,"
		 " receipt_json = $3, receipt_sig = $4, output_root = $5, price = $6,"
		 " receipted_at_s = $7, window_end_s = $8"
		 " WHERE id = $1 AND state = $9 AND deadline_s >= $7::bigint", 10, x.p);
	if (rc)
		return rc;
	rc = affected(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_receipt_audit(struct escrow_db *db,
					   const uint8_t id[RCPT_HASH_BYTES],
					   const uint8_t receipt_id[RCPT_HASH_BYTES],
					   const struct rcpt_receipt *r, const char *receipt_json,
					   const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s,
					   uint64_t window_end_s, const char *sub, json_t *data)
{
	struct receipt_params x;
	char *head = NULL, *tail = NULL;
	enum escrow_db_err rc = ESCROW_DB_FAIL;

	receipt_params(&x, id, receipt_id, r, receipt_json, sig, now_s, window_end_s);
	if (data && audit_text(&head, &tail, sub, "receipted", data, now_s) == 0) {
		x.p[10] = sub;
		x.p[11] = head;
		x.p[12] = tail;
		rc = run_audited(db, "job receipt and audit",
				 "WITH s AS (UPDATE escrow_jobs SET state = $10, receipt_id = $2,"
				 " receipt_json = $3, receipt_sig = $4, output_root = $5, price = $6,"
				 " receipted_at_s = $7, window_end_s = $8"
				 " WHERE id = $1 AND state = $9 AND deadline_s >= $7::bigint RETURNING 1)"
				 " SELECT escrow_audit_append($11, $12, $13) FROM s", 13, x.p);
	}
	free(head);
	free(tail);
	return rc;
}

struct outage_mend {
	uint64_t now_s, gap_s;
	int64_t moved;
};

/* Moves every open window on by the gap since the last heartbeat, if it
 * is an outage, and records this heartbeat. */
static enum escrow_db_err outage_mend_body(struct escrow_db *db, void *arg)
{
	struct outage_mend *x = arg;
	char ts[24], gs[24], as[24];
	const char *p[2] = { ts, as };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	uint64_t alive = x->now_s;
	int have;

	x->gap_s = 0;
	x->moved = 0;
	snprintf(ts, sizeof(ts), "%" PRIu64, x->now_s);
	rc = run(db, &res, "heartbeat read",
		 "SELECT alive_s FROM escrow_heartbeat WHERE id = 1 FOR UPDATE", 0, NULL);
	if (rc)
		return rc;
	have = PQntuples(res) == 1;
	if (have)
		alive = get_u64(res, 0, 0);
	PQclear(res);
	snprintf(as, sizeof(as), "%" PRIu64, alive);
	if (have && x->now_s > alive && x->now_s - alive > ESCROW_OUTAGE_GAP_S) {
		char st[ESCROW_JOB_STATES_LITERAL_BYTES];
		const char *q[3] = { gs, as, st };
		/* A window runs where attestations are taken. */
		escrow_job_states_allowing(st, sizeof(st), JOB_OP_ATTEST);
		x->gap_s = x->now_s - alive;
		snprintf(gs, sizeof(gs), "%" PRIu64, x->gap_s);
		rc = run(db, &res, "windows moved on",
			 "UPDATE escrow_jobs SET window_end_s = window_end_s + $1::bigint"
			 " WHERE state = ANY($3::text[]) AND window_end_s > $2::bigint",
			 3, q);
		if (rc)
			return rc;
		x->moved = affected(res);
		PQclear(res);
	}
	return run(db, NULL, "heartbeat write",
		   "INSERT INTO escrow_heartbeat (id, alive_s) VALUES (1, $1::bigint)"
		   " ON CONFLICT (id) DO UPDATE SET alive_s ="
		   " GREATEST(escrow_heartbeat.alive_s, EXCLUDED.alive_s)", 1, p);
}

enum escrow_db_err escrow_db_outage_mend(struct escrow_db *db, uint64_t now_s,
					 uint64_t *gap_s, int64_t *moved)
{
	struct outage_mend x = { .now_s = now_s };
	enum escrow_db_err rc = escrow_db_txn(db, outage_mend_body, &x);

	*gap_s = rc ? 0 : x.gap_s;
	*moved = rc ? 0 : x.moved;
	return rc;
}

enum escrow_db_err escrow_db_outage_pending(struct escrow_db *db, uint64_t now_s, int *stale)
{
	PGresult *res = NULL;
	enum escrow_db_err rc = run(db, &res, "heartbeat read",
				    "SELECT alive_s FROM escrow_heartbeat WHERE id = 1", 0, NULL);
	uint64_t alive;

	*stale = 0;
	if (rc)
		return rc;
	if (PQntuples(res) == 1) {
		alive = get_u64(res, 0, 0);
		*stale = now_s > alive && now_s - alive > ESCROW_OUTAGE_GAP_S;
	}
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_job_lock_attestable(struct escrow_db *db,
						 const uint8_t id[RCPT_HASH_BYTES],
						 uint64_t now_s)
{
	char idp[HEXP(32)], ts[24], st[ESCROW_JOB_STATES_LITERAL_BYTES];
	const char *p[3] = { idp, ts, st };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	escrow_job_states_allowing(st, sizeof(st), JOB_OP_ATTEST);
	hexp(idp, sizeof(idp), id, 32);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	rc = run(db, &res, "job lock",
		 "SELECT 1 FROM escrow_jobs WHERE id = $1 AND state = ANY($3::text[])"
		 " AND window_end_s > $2::bigint FOR UPDATE", 3, p);
	if (rc)
		return rc;
	rc = PQntuples(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_job_lock(struct escrow_db *db, const uint8_t id[RCPT_HASH_BYTES])
{
	char idp[HEXP(32)];
	const char *p[1] = { idp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	hexp(idp, sizeof(idp), id, 32);
	rc = run(db, &res, "job lock row", "SELECT 1 FROM escrow_jobs WHERE id = $1 FOR UPDATE",
		 1, p);
	if (rc)
		return rc;
	rc = PQntuples(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_NOT_FOUND;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_jobs_in_state(struct escrow_db *db,
					   uint8_t ids[][RCPT_HASH_BYTES], size_t *n,
					   size_t max, enum escrow_job_state state,
					   uint64_t due_s)
{
	char ts[24], mx[24];
	const char *p[3] = { escrow_job_state_name(state), ts, mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	const char *sql;
	int i;

	*n = 0;
	snprintf(ts, sizeof(ts), "%" PRIu64, due_s);
	snprintf(mx, sizeof(mx), "%zu", max);
	if (due_s == 0)
		sql = "SELECT id FROM escrow_jobs WHERE state = $1 AND $2::bigint = 0"
		      " ORDER BY opened_at_s, id LIMIT $3";
	else if (state == JOB_OPENING)
		sql = "SELECT id FROM escrow_jobs WHERE state = $1 AND opened_at_s <= $2::bigint - "
		      ESCROW_STR(ESCROW_OPENING_STALE_S) " ORDER BY opened_at_s, id LIMIT $3";
	else if (state == JOB_OPEN)
		sql = "SELECT id FROM escrow_jobs WHERE state = $1 AND deadline_s < $2::bigint"
		      " ORDER BY deadline_s, id LIMIT $3";
	else if (state == JOB_RECEIPTED)
		sql = "SELECT id FROM escrow_jobs WHERE state = $1 AND window_end_s <= $2::bigint"
		      " ORDER BY window_end_s, id LIMIT $3";
	else
		sql = "SELECT id FROM escrow_jobs WHERE state = $1 AND $2::bigint >= 0"
		      " ORDER BY opened_at_s, id LIMIT $3";
	rc = run(db, &res, "jobs in state", sql, 3, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++) {
		if (get_bytes(ids[*n], RCPT_HASH_BYTES, res, i, 0) == 0)
			(*n)++;
	}
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_jobs_page(struct escrow_db *db,
				       uint8_t ids[][RCPT_HASH_BYTES], size_t *n,
				       size_t max, enum escrow_job_state state, uint64_t after_s,
				       const uint8_t *after_id)
{
	char ts[24], mx[24], ip[HEXP(32)];
	const char *p[4] = { escrow_job_state_name(state), ts, mx, ip };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i;

	ASSAY_ASSERT(max > 0);
	*n = 0;
	snprintf(ts, sizeof(ts), "%" PRIu64, after_s);
	snprintf(mx, sizeof(mx), "%zu", max);
	if (after_id)
		hexp(ip, sizeof(ip), after_id, 32);
	rc = run(db, &res, "jobs page", after_id ?
		 "SELECT id FROM escrow_jobs WHERE state = $1 AND"
		 " (coalesce(receipted_at_s, opened_at_s), id) > ($2::bigint, $4::bytea)"
		 " ORDER BY coalesce(receipted_at_s, opened_at_s), id LIMIT $3" :
		 "SELECT id FROM escrow_jobs WHERE state = $1 AND"
		 " coalesce(receipted_at_s, opened_at_s) > $2::bigint"
		 " ORDER BY coalesce(receipted_at_s, opened_at_s), id LIMIT $3",
		 after_id ? 4 : 3, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++)
		if (get_bytes(ids[*n], RCPT_HASH_BYTES, res, i, 0) == 0)
			(*n)++;
	PQclear(res);
	ASSAY_ASSERT(*n <= max);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_provider_exposure(struct escrow_db *db, struct rcpt_u256 *out,
					       const uint8_t provider[RCPT_ADDR_BYTES],
					       const uint8_t except[RCPT_HASH_BYTES])
{
	char pp[HEXP(20)], xp[HEXP(32)], st[ESCROW_JOB_STATES_LITERAL_BYTES];
	const char *p[3] = { pp, xp, st };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	escrow_job_states_may_pay(st, sizeof(st));
	hexp(pp, sizeof(pp), provider, 20);
	hexp(xp, sizeof(xp), except, 32);
	rc = run(db, &res, "provider exposure",
		 "SELECT coalesce(sum(max_price), 0)::text FROM escrow_jobs WHERE provider = $1"
		 " AND id <> $2 AND state = ANY($3::text[])", 3, p);
	if (rc)
		return rc;
	/* A sum past 2^256 - 1 cannot come from locks that all fit the ledger;
	 * should it, the parse fails and the job is refused. */
	if (rcpt_u256_parse(out, PQgetvalue(res, 0, 0)) != RCPT_OK)
		rc = ESCROW_DB_FAIL;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_validator_disputes_pending(struct escrow_db *db,
						      const uint8_t validator[RCPT_ADDR_BYTES],
						      int64_t *n)
{
	char vp[HEXP(20)];
	const char *p[1] = { vp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*n = 0;
	hexp(vp, sizeof(vp), validator, 20);
	/* Undecided, or decided against the validator and not yet slashed. */
	rc = run(db, &res, "validator disputes pending",
		 "SELECT count(*) FROM escrow_disputes WHERE validator = $1::bytea"
		 " AND (state = 'open' OR (state = 'validator_wrong' AND NOT executed))", 1, p);
	if (rc)
		return rc;
	*n = (int64_t)get_u64(res, 0, 0);
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_job_count(struct escrow_db *db, enum escrow_job_state state,
				       int64_t *out)
{
	const char *p[1] = { escrow_job_state_name(state) };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*out = 0;
	rc = run(db, &res, "job count",
		 "SELECT count(*) FROM escrow_jobs WHERE state = $1", 1, p);
	if (rc)
		return rc;
	*out = (int64_t)get_u64(res, 0, 0);
	PQclear(res);
	return ESCROW_DB_OK;
}

/* ---------------------------------------------------------------- invariants */

/* The rules of escrow_db_invariants, one row each (rule, holds, detail),
 * in escrow.h's order.  They read the ledger's tables (chain-adapter's
 * migrations: accounts, transfers, jobs), which share the escrow's
 * database; every amount is summed and compared by NUMERIC, never in C. */
static const char *const inv_rules[ESCROW_INVARIANT_RULES] = {
	"conservation", "nonnegative", "locks", "transfers", "escrow-jobs",
};

#define INV_SQL_CONSERVATION                                                   \
	"SELECT 'conservation', coalesce(sum(balance), 0) = 0, "               \
	"  'the accounts sum to ' || coalesce(sum(balance), 0)::text FROM accounts"
#define INV_SQL_NONNEGATIVE                                                    \
	"SELECT 'nonnegative', count(*) = 0, count(*)::text || "               \
	"  ' accounts negative (or world positive), first id ' || "            \
	"  coalesce(min(id)::text, '-') FROM accounts "                        \
	"WHERE (kind <> 'world' AND balance < 0) OR (kind = 'world' AND balance > 0)"
#define INV_SQL_LOCKS                                                          \
	"SELECT 'locks', l.s = o.s AND l.n = 0, 'the locks hold ' || l.s::text "\
	"  || ', the open jobs ' || o.s::text || ', settled locks not empty ' "\
	"  || l.n::text FROM "                                                 \
	"  (SELECT coalesce(sum(a.balance), 0) AS s, count(*) FILTER (WHERE "  \
	"    j.state IS DISTINCT FROM 'open' AND a.balance <> 0) AS n "         \
	"   FROM accounts a LEFT JOIN jobs j ON j.job = a.job "                \
	"   WHERE a.kind = 'lock') l, "                                        \
	"  (SELECT coalesce(sum(max_price), 0) AS s FROM jobs WHERE state = 'open') o"
#define INV_SQL_TRANSFERS                                                      \
	"SELECT 'transfers', count(*) = 0, count(*)::text || "                 \
	"  ' accounts differ from the sum of their transfers, first id ' || "  \
	"  coalesce(min(a.id)::text, '-') FROM accounts a LEFT JOIN "          \
	"  (SELECT id, sum(delta) AS net FROM "                                \
	"    (SELECT to_account AS id, amount AS delta FROM transfers "        \
	"     UNION ALL SELECT from_account, -amount FROM transfers) d "       \
	"   GROUP BY id) t ON t.id = a.id WHERE a.balance <> coalesce(t.net, 0)"
/* An escrow job's ledger job by the escrow's state: none yet or open
 * while `opening` (the lock is retried), open until the settlement, and
 * the settlement's own state once the intent was recorded (releasing may
 * already be released, refunding refunded). */
#define INV_SQL_ESCROW_JOBS                                                    \
	"SELECT 'escrow-jobs', count(*) = 0, count(*)::text || "               \
	"  ' escrow jobs disagree with the ledger, first 0x' || "              \
	"  coalesce(encode((array_agg(e.id ORDER BY e.id))[1], 'hex'), '-') "  \
	"FROM escrow_jobs e LEFT JOIN jobs j ON j.job = e.id WHERE NOT coalesce(" \
	"  (e.state = 'opening' AND j.job IS NULL) OR ("                       \
	"  j.customer = e.customer AND j.provider = e.provider AND "           \
	"  j.max_price = e.max_price AND CASE e.state "                        \
	"    WHEN 'releasing' THEN j.state = 'open' OR "                       \
	"      (j.state = 'released' AND j.price = e.price) "                  \
	"    WHEN 'paid' THEN j.state = 'released' AND j.price = e.price "     \
	"    WHEN 'refunding' THEN j.state IN ('open', 'refunded') "           \
	"    WHEN 'refunded' THEN j.state = 'refunded' "                       \
	"    ELSE j.state = 'open' END), false)"

#define INV_SQL                                                                \
	INV_SQL_CONSERVATION " UNION ALL " INV_SQL_NONNEGATIVE " UNION ALL "   \
	INV_SQL_LOCKS " UNION ALL " INV_SQL_TRANSFERS " UNION ALL "            \
	INV_SQL_ESCROW_JOBS

static int inv_rule_index(const char *name)
{
	for (int k = 0; k < (int)ESCROW_INVARIANT_RULES; k++)
		if (strcmp(name, inv_rules[k]) == 0)
			return k;
	return -1;
}

static enum escrow_db_err invariants_read(struct escrow_db *db,
					  struct escrow_invariant out[ESCROW_INVARIANT_RULES])
{
	PGresult *res = NULL;
	enum escrow_db_err rc;
	unsigned seen = 0;
	int i;

	rc = map(db, pgdb_exec_once(&db->pg, "invariants read only",
				    "SET TRANSACTION READ ONLY"), "invariants read only");
	if (!rc)
		rc = run(db, &res, "invariants", INV_SQL, 0, NULL);
	if (rc)
		return rc;
	if (PQntuples(res) != (int)ESCROW_INVARIANT_RULES || PQnfields(res) != 3) {
		PQclear(res);
		return ESCROW_DB_FAIL;
	}
	/* Matched by name (UNION ALL promises no order); a rule without
	 * its row is a failed check, never a passed one. */
	for (i = 0; i < (int)ESCROW_INVARIANT_RULES; i++) {
		int k = inv_rule_index(PQgetvalue(res, i, 0));
		if (k < 0 || seen & (1u << k)) {
			PQclear(res);
			return ESCROW_DB_FAIL;
		}
		seen |= 1u << k;
		out[k].ok = strcmp(PQgetvalue(res, i, 1), "t") == 0;
		snprintf(out[k].detail, sizeof(out[k].detail), "%s",
			 out[k].ok ? "" : PQgetvalue(res, i, 2));
	}
	ASSAY_ASSERT(seen == (1u << ESCROW_INVARIANT_RULES) - 1u);
	PQclear(res);
	return ESCROW_DB_OK;
}

struct inv_txn {
	struct escrow_db *db;
	struct escrow_invariant *out;
};

static int invariants_body(struct pgdb *pg, void *arg)
{
	struct inv_txn *x = arg;

	ASSAY_ASSERT(pg == &x->db->pg);
	return (int)invariants_read(x->db, x->out);
}

enum escrow_db_err escrow_db_invariants(struct escrow_db *db,
					struct escrow_invariant out[ESCROW_INVARIANT_RULES])
{
	struct inv_txn x = { db, out };
	enum escrow_db_err rc;
	enum pgdb_err e;
	int brc = 0;
	size_t i;

	ASSAY_ASSERT(db && out);
	for (i = 0; i < ESCROW_INVARIANT_RULES; i++) {
		out[i].rule = inv_rules[i];
		out[i].ok = 0;
		out[i].detail[0] = '\0';
	}
	rc = escrow_db_ensure(db);
	if (rc)
		return rc;
	e = pgdb_txn(&db->pg, PGDB_REPEATABLE_READ, invariants_body, &x, &brc);
	rc = e ? map(db, e, "invariants") : (enum escrow_db_err)brc;
	if (rc)
		for (i = 0; i < ESCROW_INVARIANT_RULES; i++)
			out[i].ok = 0;
	return rc;
}

/* ---------------------------------------------------------------- attestations, disputes */

enum escrow_db_err escrow_db_attestation_insert(struct escrow_db *db,
						const struct rcpt_attestation *a,
						const uint8_t job[RCPT_HASH_BYTES],
						const char *att_json,
						const uint8_t sig[RCPT_SIG_BYTES],
						uint64_t now_s)
{
	char jp[HEXP(32)], vp[HEXP(20)], op[HEXP(32)], sp[HEXP(65)], vd[8], ts[24];
	const char *p[7] = { jp, vp, vd, op, att_json, sp, ts };

	hexp(jp, sizeof(jp), job, 32);
	hexp(vp, sizeof(vp), a->validator, 20);
	hexp(op, sizeof(op), a->output_root, 32);
	hexp(sp, sizeof(sp), sig, 65);
	snprintf(vd, sizeof(vd), "%u", (unsigned)a->verdict);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	return run(db, NULL, "attestation insert",
		   "INSERT INTO escrow_attestations (job, validator, verdict, output_root,"
		   " att_json, sig, at_s) VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, p);
}

enum escrow_db_err escrow_db_attestation_sig(struct escrow_db *db,
					     uint8_t sig[RCPT_SIG_BYTES],
					     const uint8_t job[RCPT_HASH_BYTES],
					     const uint8_t validator[RCPT_ADDR_BYTES])
{
	char jp[HEXP(32)], vp[HEXP(20)];
	const char *p[2] = { jp, vp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	hexp(jp, sizeof(jp), job, 32);
	hexp(vp, sizeof(vp), validator, 20);
	rc = run(db, &res, "attestation sig",
		 "SELECT sig FROM escrow_attestations WHERE job = $1 AND validator = $2", 2, p);
	if (rc)
		return rc;
	if (PQntuples(res) != 1)
		rc = ESCROW_DB_NOT_FOUND;
	else if (get_bytes(sig, RCPT_SIG_BYTES, res, 0, 0))
		rc = ESCROW_DB_FAIL;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_dispute_insert(struct escrow_db *db,
					    const uint8_t job[RCPT_HASH_BYTES],
					    const uint8_t validator[RCPT_ADDR_BYTES],
					    const uint8_t *input, size_t input_len,
					    const char *evidence, uint64_t now_s)
{
	char jp[HEXP(32)], vp[HEXP(20)], ts[24];
	char *ip = input ? blob_param(input, input_len) : NULL;
	const char *p[5] = { jp, vp, ts, ip, evidence };
	enum escrow_db_err rc;

	if (input && !ip)
		return ESCROW_DB_FAIL;
	hexp(jp, sizeof(jp), job, 32);
	hexp(vp, sizeof(vp), validator, 20);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	rc = run(db, NULL, "dispute insert",
		 "INSERT INTO escrow_disputes (job, validator, kind, state, opened_at_s, input,"
		 " evidence) VALUES ($1, $2, 'fraud', 'open', $3, $4, $5)", 5, p);
	free(ip);
	return rc;
}

enum escrow_db_err escrow_db_dispute_insert_withheld(struct escrow_db *db,
						     const uint8_t job[RCPT_HASH_BYTES],
						     const uint8_t validator[RCPT_ADDR_BYTES],
						     uint64_t now_s)
{
	char jp[HEXP(32)], vp[HEXP(20)], ts[24];
	const char *p[3] = { jp, vp, ts };

	/* The reporter's words go to the audit log; the row's `reason` is
	 * the referee's, written when it decides. */
	hexp(jp, sizeof(jp), job, 32);
	hexp(vp, sizeof(vp), validator, 20);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	return run(db, NULL, "dispute insert withheld",
		   "INSERT INTO escrow_disputes (job, validator, kind, state, opened_at_s)"
		   " VALUES ($1, $2, 'withheld', 'open', $3)", 3, p);
}

enum escrow_db_err escrow_db_jobs_awaiting_input(struct escrow_db *db,
						 uint8_t ids[][RCPT_HASH_BYTES], size_t *n,
						 size_t max, uint64_t since_s)
{
	char ts[24], mx[24];
	const char *p[2] = { ts, mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i;

	*n = 0;
	snprintf(ts, sizeof(ts), "%" PRIu64, since_s);
	snprintf(mx, sizeof(mx), "%zu", max);
	/* Jobs where no dispute holds the input (one that does is shared by
	 * the referee), oldest dispute first. */
	rc = run(db, &res, "jobs awaiting input",
		 "SELECT job FROM escrow_disputes d WHERE state = 'open' AND input IS NULL"
		 " AND opened_at_s >= $1::bigint AND NOT EXISTS (SELECT 1 FROM escrow_disputes"
		 " x WHERE x.job = d.job AND x.input IS NOT NULL)"
		 " GROUP BY job ORDER BY min(opened_at_s), job LIMIT $2", 2, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++)
		if (get_bytes(ids[*n], RCPT_HASH_BYTES, res, i, 0) == 0)
			(*n)++;
	PQclear(res);
	ASSAY_ASSERT(*n <= max);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_dispute_set_input(struct escrow_db *db,
					       const uint8_t job[RCPT_HASH_BYTES],
					       const uint8_t *input, size_t len,
					       int *updated)
{
	char jp[HEXP(32)];
	char *ip = blob_param(input, len);
	const char *p[2] = { jp, ip };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*updated = 0;
	if (!ip)
		return ESCROW_DB_FAIL;
	hexp(jp, sizeof(jp), job, 32);
	rc = run(db, &res, "dispute input",
		 "UPDATE escrow_disputes SET input = $2 WHERE job = $1 AND state = 'open'"
		 " AND input IS NULL", 2, p);
	free(ip);
	if (rc)
		return rc;
	*updated = affected(res);
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_dispute_share_input(struct escrow_db *db,
						 const uint8_t job[RCPT_HASH_BYTES],
						 int *updated)
{
	char jp[HEXP(32)];
	const char *p[1] = { jp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*updated = 0;
	hexp(jp, sizeof(jp), job, 32);
	rc = run(db, &res, "dispute share input",
		 "UPDATE escrow_disputes SET input = (SELECT input FROM escrow_disputes"
		 " WHERE job = $1 AND input IS NOT NULL LIMIT 1)"
		 " WHERE job = $1 AND state = 'open' AND input IS NULL AND EXISTS"
		 " (SELECT 1 FROM escrow_disputes WHERE job = $1 AND input IS NOT NULL)", 1, p);
	if (rc)
		return rc;
	*updated = affected(res);
	PQclear(res);
	ASSAY_ASSERT(*updated >= 0);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_dispute_drop_inputs(struct escrow_db *db,
						 const uint8_t job[RCPT_HASH_BYTES])
{
	char jp[HEXP(32)];
	const char *p[1] = { jp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	hexp(jp, sizeof(jp), job, 32);
	/* Decided disputes only: an open one still needs its input. */
	rc = run(db, &res, "dispute drop inputs",
		 "UPDATE escrow_disputes SET input = NULL"
		 " WHERE job = $1 AND state <> 'open' AND input IS NOT NULL", 1, p);
	if (rc)
		return rc;
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_disputes_for_job(struct escrow_db *db, json_t **out,
					      const uint8_t job[RCPT_HASH_BYTES])
{
	char jp[HEXP(32)];
	const char *p[1] = { jp };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	json_t *arr;
	int i;

	*out = NULL;
	hexp(jp, sizeof(jp), job, 32);
	rc = run(db, &res, "disputes for job",
		 "SELECT validator, state, coalesce(reason, ''), opened_at_s,"
		 " input IS NOT NULL, coalesce(slash_amount, 0)::text,"
		 " coalesce(bounty, 0)::text, executed, kind, evidence"
		 " FROM escrow_disputes WHERE job = $1 ORDER BY opened_at_s, validator, kind", 1, p);
	if (rc)
		return rc;
	arr = json_array();
	for (i = 0; arr && i < PQntuples(res); i++) {
		uint8_t v[20];
		char vh[RCPT_ADDR_HEX_BYTES];
		json_t *d;
		if (get_bytes(v, 20, res, i, 0))
			continue;
		rcpt_address_format(vh, v);
		d = json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:s, s:s, s:b}",
			"validator", vh, "kind", PQgetvalue(res, i, 8),
			"state", PQgetvalue(res, i, 1),
			"reason", PQgetvalue(res, i, 2),
			"openedAt", (json_int_t)get_u64(res, i, 3),
			"hasInput", PQgetvalue(res, i, 4)[0] == 't',
			"slashAmount", PQgetvalue(res, i, 5),
			"bounty", PQgetvalue(res, i, 6),
			"executed", PQgetvalue(res, i, 7)[0] == 't');
		/* The evidence was written by this service from a verified
		 * proof; it is shown as stored. */
		if (d && !PQgetisnull(res, i, 9))
			json_object_set_new(d, "evidence",
					    json_loads(PQgetvalue(res, i, 9), JSON_REJECT_DUPLICATES, NULL));
		json_array_append_new(arr, d);
	}
	PQclear(res);
	if (!arr)
		return ESCROW_DB_FAIL;
	*out = arr;
	return ESCROW_DB_OK;
}

void escrow_dispute_release(struct escrow_dispute *d)
{
	if (d) {
		free(d->input);
		d->input = NULL;
	}
}

/* One row of the disputes' SELECT lists below into d; -1 when it does
 * not parse (the CHECKs and the trigger keep this from happening). */
static int dispute_row(struct escrow_dispute *d, const PGresult *res, int i)
{
	memset(d, 0, sizeof(*d));
	if (get_bytes(d->job, 32, res, i, 0) || get_bytes(d->validator, 20, res, i, 1) ||
	    rcpt_u256_parse(&d->slash_amount, PQgetvalue(res, i, 5)) != RCPT_OK ||
	    rcpt_u256_parse(&d->bounty, PQgetvalue(res, i, 6)) != RCPT_OK ||
	    escrow_dispute_state_parse(PQgetvalue(res, i, 2), &d->state) ||
	    escrow_dispute_kind_parse(PQgetvalue(res, i, 8), &d->kind))
		return -1;
	d->opened_at_s = get_u64(res, i, 3);
	if (!PQgetisnull(res, i, 4)) {
		if (get_blob(&d->input, &d->input_len, res, i, 4))
			return -1;
		d->has_input = 1;
	}
	d->executed = PQgetvalue(res, i, 7)[0] == 't';
	return 0;
}

enum escrow_db_err escrow_db_disputes_open_page(struct escrow_db *db,
						struct escrow_dispute *out, size_t *n,
						size_t max, struct escrow_dispute_cursor *cur)
{
	char mx[24], at[24], jp[HEXP(32)], vp[HEXP(20)];
	const char *p[5] = { mx, at, jp, vp, escrow_dispute_kind_name(cur->kind) };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i;

	*n = 0;
	snprintf(mx, sizeof(mx), "%zu", max);
	snprintf(at, sizeof(at), "%" PRIu64, cur->set ? cur->opened_at_s : 0);
	hexp(jp, sizeof(jp), cur->job, 32);
	hexp(vp, sizeof(vp), cur->validator, 20);
	rc = run(db, &res, "disputes open page", cur->set ?
		 "SELECT job, validator, state, opened_at_s, input,"
		 " coalesce(slash_amount, 0)::text, coalesce(bounty, 0)::text, executed, kind"
		 " FROM escrow_disputes WHERE state = 'open' AND NOT executed"
		 " AND (opened_at_s, job, validator, kind) > ($2::bigint, $3::bytea, $4::bytea, $5)"
		 " ORDER BY opened_at_s, job, validator, kind LIMIT $1" :
		 "SELECT job, validator, state, opened_at_s, input,"
		 " coalesce(slash_amount, 0)::text, coalesce(bounty, 0)::text, executed, kind"
		 " FROM escrow_disputes WHERE state = 'open' AND NOT executed"
		 " ORDER BY opened_at_s, job, validator, kind LIMIT $1", cur->set ? 5 : 1, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++)
		if (dispute_row(&out[*n], res, i) == 0)
			(*n)++;
	if ((size_t)PQntuples(res) < max) {
		memset(cur, 0, sizeof(*cur));   /* the end: from the start next time */
	} else {
		const struct escrow_dispute *last = &out[*n ? *n - 1 : 0];
		cur->set = *n > 0;
		cur->opened_at_s = last->opened_at_s;
		memcpy(cur->job, last->job, 32);
		memcpy(cur->validator, last->validator, 20);
		cur->kind = last->kind;
	}
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_disputes_pending(struct escrow_db *db,
					      struct escrow_dispute *out, size_t *n,
					      size_t max, enum escrow_dispute_state state,
					      int executed, int with_input)
{
	char mx[24];
	const char *p[3] = { escrow_dispute_state_name(state), executed ? "true" : "false", mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i;

	*n = 0;
	snprintf(mx, sizeof(mx), "%zu", max);
	rc = run(db, &res, "disputes pending", with_input ?
		 "SELECT job, validator, state, opened_at_s, input,"
		 " coalesce(slash_amount, 0)::text, coalesce(bounty, 0)::text, executed, kind"
		 " FROM escrow_disputes WHERE state = $1 AND executed = $2"
		 " ORDER BY opened_at_s, job, validator, kind LIMIT $3" :
		 "SELECT job, validator, state, opened_at_s, NULL::bytea,"
		 " coalesce(slash_amount, 0)::text, coalesce(bounty, 0)::text, executed, kind"
		 " FROM escrow_disputes WHERE state = $1 AND executed = $2"
		 " ORDER BY opened_at_s, job, validator, kind LIMIT $3", 3, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++)
		if (dispute_row(&out[*n], res, i) == 0)
			(*n)++;
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_dispute_decide(struct escrow_db *db,
					    const uint8_t job[RCPT_HASH_BYTES],
					    const uint8_t validator[RCPT_ADDR_BYTES],
					    enum escrow_dispute_kind kind,
					    enum escrow_dispute_op op, const char *reason,
					    const struct rcpt_u256 *slash,
					    const struct rcpt_u256 *bounty,
					    uint64_t now_s)
{
	char jp[HEXP(32)], vp[HEXP(20)], sl[RCPT_U256_DEC_BYTES], bo[RCPT_U256_DEC_BYTES], ts[24];
	enum escrow_dispute_state to = DISPUTE_NONE;
	const char *p[8] = { jp, vp, NULL, reason, sl, bo, ts, escrow_dispute_kind_name(kind) };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	/* The referee's steps are the table's steps from open. */
	ASSAY_ASSERT(escrow_dispute_next(kind, op, DISPUTE_OPEN, &to) && op != DISPUTE_OP_MOOT);
	ASSAY_ASSERT(rcpt_u256_cmp(bounty, slash) <= 0);
	p[2] = escrow_dispute_state_name(to);
	hexp(jp, sizeof(jp), job, 32);
	hexp(vp, sizeof(vp), validator, 20);
	rcpt_u256_format(sl, slash);
	rcpt_u256_format(bo, bounty);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	rc = run(db, &res, "dispute decide",
		 "UPDATE escrow_disputes SET state = $3, reason = $4, slash_amount = $5,"
		 " bounty = $6, resolved_at_s = $7 WHERE job = $1 AND validator = $2"
		 " AND kind = $8 AND state = 'open'", 8, p);
	if (rc)
		return rc;
	rc = affected(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_dispute_set_amounts(struct escrow_db *db,
						 const uint8_t job[RCPT_HASH_BYTES],
						 const uint8_t validator[RCPT_ADDR_BYTES],
						 enum escrow_dispute_kind kind,
						 const struct rcpt_u256 *slash,
						 const struct rcpt_u256 *bounty)
{
	char jp[HEXP(32)], vp[HEXP(20)], sl[RCPT_U256_DEC_BYTES], bo[RCPT_U256_DEC_BYTES];
	const char *p[5] = { jp, vp, sl, bo, escrow_dispute_kind_name(kind) };

	hexp(jp, sizeof(jp), job, 32);
	hexp(vp, sizeof(vp), validator, 20);
	rcpt_u256_format(sl, slash);
	rcpt_u256_format(bo, bounty);
	return run(db, NULL, "dispute amounts",
		   "UPDATE escrow_disputes SET slash_amount = $3, bounty = $4"
		   " WHERE job = $1 AND validator = $2 AND kind = $5 AND NOT executed", 5, p);
}

enum escrow_db_err escrow_db_dispute_executed(struct escrow_db *db,
					      const uint8_t job[RCPT_HASH_BYTES],
					      const uint8_t validator[RCPT_ADDR_BYTES],
					      enum escrow_dispute_kind kind)
{
	char jp[HEXP(32)], vp[HEXP(20)];
	const char *p[3] = { jp, vp, escrow_dispute_kind_name(kind) };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	hexp(jp, sizeof(jp), job, 32);
	hexp(vp, sizeof(vp), validator, 20);
	rc = run(db, &res, "dispute executed",
		 "UPDATE escrow_disputes SET executed = true WHERE job = $1 AND"
		 " validator = $2 AND kind = $3 AND NOT executed AND state IN ('provider_wrong',"
		 " 'validator_wrong', 'input_recovered')", 3, p);
	if (rc)
		return rc;
	rc = affected(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_disputes_moot(struct escrow_db *db,
					   const uint8_t job[RCPT_HASH_BYTES],
					   uint64_t now_s, int *n)
{
	char jp[HEXP(32)], ts[24];
	const char *p[2] = { jp, ts };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*n = 0;
	hexp(jp, sizeof(jp), job, 32);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	rc = run(db, &res, "disputes moot",
		 "UPDATE escrow_disputes SET state = 'moot', reason = 'decided-by-another-claim',"
		 " resolved_at_s = $2 WHERE job = $1 AND state = 'open'", 2, p);
	if (rc)
		return rc;
	*n = affected(res);
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_disputes_unsettled(struct escrow_db *db,
						const uint8_t job[RCPT_HASH_BYTES],
						int64_t *n)
{
	char jp[HEXP(32)];
	const char *p[1] = { jp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*n = 0;
	hexp(jp, sizeof(jp), job, 32);
	rc = run(db, &res, "disputes unsettled",
		 "SELECT count(*) FROM escrow_disputes WHERE job = $1 AND (state = 'open'"
		 " OR (state IN ('provider_wrong', 'validator_wrong') AND NOT executed))", 1, p);
	if (rc)
		return rc;
	*n = (int64_t)get_u64(res, 0, 0);
	PQclear(res);
	return ESCROW_DB_OK;
}

/* ---------------------------------------------------------------- providers, validators */

enum escrow_db_err escrow_db_provider_put(struct escrow_db *db,
					  const uint8_t addr[RCPT_ADDR_BYTES],
					  const char *url, uint64_t now_s)
{
	char ap[HEXP(20)], ts[24];
	const char *p[3] = { ap, url, ts };

	ASSAY_ASSERT(url && strlen(url) <= ESCROW_PROVIDER_URL_BYTES_MAX);
	hexp(ap, sizeof(ap), addr, 20);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	return run(db, NULL, "provider put",
		   "INSERT INTO escrow_providers (address, url, registered_at_s)"
		   " VALUES ($1, $2, $3) ON CONFLICT (address) DO UPDATE SET"
		   " url = EXCLUDED.url, registered_at_s = EXCLUDED.registered_at_s", 3, p);
}

enum escrow_db_err escrow_db_provider_get(struct escrow_db *db,
					  char url[ESCROW_PROVIDER_URL_BYTES_MAX + 1],
					  uint64_t *registered_at_s,
					  const uint8_t addr[RCPT_ADDR_BYTES])
{
	char ap[HEXP(20)];
	const char *p[1] = { ap };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	const char *u;

	url[0] = '\0';
	*registered_at_s = 0;
	hexp(ap, sizeof(ap), addr, 20);
	rc = run(db, &res, "provider get",
		 "SELECT url, registered_at_s FROM escrow_providers WHERE address = $1", 1, p);
	if (rc)
		return rc;
	rc = ESCROW_DB_NOT_FOUND;
	if (PQntuples(res) != 1)
		goto out;
	rc = ESCROW_DB_FAIL;
	u = PQgetvalue(res, 0, 0);
	if (strlen(u) > ESCROW_PROVIDER_URL_BYTES_MAX)
		goto out;
	memcpy(url, u, strlen(u) + 1);
	*registered_at_s = get_u64(res, 0, 1);
	rc = ESCROW_DB_OK;
out:
	PQclear(res);
	return rc;
}

/* ---------------------------------------------------------------- registry */

enum escrow_db_err escrow_db_registry_lock(struct escrow_db *db,
					   const uint8_t provider[RCPT_ADDR_BYTES])
{
	char pp[HEXP(20)];
	const char *p[1] = { pp };

	hexp(pp, sizeof(pp), provider, 20);
	return run(db, NULL, "registry lock",
		   "SELECT pg_advisory_xact_lock(hashtextextended('registry:' ||"
		   " encode($1::bytea, 'hex'), 10))", 1, p);
}

/* Row 0 of a registry SELECT (columns as escrow_db_registry_get's) into
 * *out; -1 when a column is not what migration 010 allows. */
static int registry_row(struct escrow_registry_entry *out, const PGresult *res)
{
	const char *org = PQgetvalue(res, 0, 1), *con = PQgetvalue(res, 0, 2);
	const char *dec = PQgetvalue(res, 0, 7);

	if (escrow_registry_state_parse(PQgetvalue(res, 0, 0), &out->status) ||
	    strlen(org) > RCPT_ORGANISATION_BYTES_MAX || strlen(con) > RCPT_CONTACT_BYTES_MAX ||
	    strlen(dec) > ESCROW_DECISION_JSON_BYTES_MAX ||
	    get_bytes(out->operator_addr, 20, res, 0, 6) ||
	    get_bytes(out->signature, RCPT_SIG_BYTES, res, 0, 8))
		return -1;
	memcpy(out->organisation, org, strlen(org) + 1);
	memcpy(out->contact, con, strlen(con) + 1);
	memcpy(out->decision, dec, strlen(dec) + 1);
	out->expires_s = get_u64(res, 0, 3);
	out->nonce = get_u64(res, 0, 4);
	out->updated_at_s = get_u64(res, 0, 5);
	return 0;
}

enum escrow_db_err escrow_db_registry_get(struct escrow_db *db,
					  struct escrow_registry_entry *out,
					  const uint8_t provider[RCPT_ADDR_BYTES])
{
	char pp[HEXP(20)];
	const char *p[1] = { pp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(db && out && provider);
	memset(out, 0, sizeof(*out));
	memcpy(out->provider, provider, RCPT_ADDR_BYTES);
	hexp(pp, sizeof(pp), provider, 20);
	rc = run(db, &res, "registry get",
		 "SELECT status, organisation, contact, expires_s, nonce, updated_at_s,"
		 " operator, decision, signature FROM escrow_registry WHERE provider = $1", 1, p);
	if (rc)
		return rc;
	if (PQntuples(res) != 1)
		rc = ESCROW_DB_NOT_FOUND;
	else if (registry_row(out, res))
		rc = ESCROW_DB_FAIL;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_registry_put(struct escrow_db *db,
					  const struct escrow_registry_entry *e)
{
	char pp[HEXP(20)], op[HEXP(20)], sp[HEXP(RCPT_SIG_BYTES)], ex[24], no[24], at[24];
	const char *p[10] = { pp, escrow_registry_state_name(e->status), e->organisation,
			      e->contact, ex, no, at, op, e->decision, sp };

	ASSAY_ASSERT(e->status == REG_APPROVED || e->status == REG_SUSPENDED ||
		     e->status == REG_REVOKED);
	ASSAY_ASSERT(e->nonce > 0 && strlen(e->decision) <= ESCROW_DECISION_JSON_BYTES_MAX);
	hexp(pp, sizeof(pp), e->provider, 20);
	hexp(op, sizeof(op), e->operator_addr, 20);
	hexp(sp, sizeof(sp), e->signature, RCPT_SIG_BYTES);
	snprintf(ex, sizeof(ex), "%" PRIu64, e->expires_s);
	snprintf(no, sizeof(no), "%" PRIu64, e->nonce);
	snprintf(at, sizeof(at), "%" PRIu64, e->updated_at_s);
	return run(db, NULL, "registry put",
		   "INSERT INTO escrow_registry (provider, status, organisation, contact,"
		   " expires_s, nonce, updated_at_s, operator, decision, signature)"
		   " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
		   " ON CONFLICT (provider) DO UPDATE SET status = EXCLUDED.status,"
		   " organisation = EXCLUDED.organisation, contact = EXCLUDED.contact,"
		   " expires_s = EXCLUDED.expires_s, nonce = EXCLUDED.nonce,"
		   " updated_at_s = EXCLUDED.updated_at_s, operator = EXCLUDED.operator,"
		   " decision = EXCLUDED.decision, signature = EXCLUDED.signature", 10, p);
}

enum escrow_db_err escrow_db_seed_commit(struct escrow_db *db,
					 const uint8_t validator[RCPT_ADDR_BYTES],
					 const uint8_t commitment[RCPT_HASH_BYTES],
					 uint64_t now_s)
{
	char vp[HEXP(20)], cp[HEXP(32)], ts[24];
	const char *p[3] = { vp, cp, ts };

	hexp(vp, sizeof(vp), validator, 20);
	hexp(cp, sizeof(cp), commitment, 32);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	/* The partial unique index refuses a second open commitment
	 * (unique violation: ESCROW_DB_CONFLICT), even from a racing request. */
	return run(db, NULL, "seed commit",
		   "INSERT INTO escrow_seed_commitments (validator, commitment, committed_at_s)"
		   " VALUES ($1, $2, $3)", 3, p);
}

enum escrow_db_err escrow_db_seed_get(struct escrow_db *db, struct escrow_seed *out,
				      const uint8_t validator[RCPT_ADDR_BYTES])
{
	char vp[HEXP(20)];
	const char *p[1] = { vp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	memset(out, 0, sizeof(*out));
	hexp(vp, sizeof(vp), validator, 20);
	rc = run(db, &res, "seed get",
		 "SELECT commitment, committed_at_s, seed, revealed_at_s"
		 " FROM escrow_seed_commitments WHERE validator = $1 ORDER BY seq DESC LIMIT 1",
		 1, p);
	if (rc)
		return rc;
	rc = ESCROW_DB_NOT_FOUND;
	if (PQntuples(res) != 1)
		goto out;
	rc = ESCROW_DB_FAIL;
	if (get_bytes(out->commitment, 32, res, 0, 0))
		goto out;
	out->committed_at_s = get_u64(res, 0, 1);
	if (!PQgetisnull(res, 0, 2)) {
		if (get_bytes(out->seed, 32, res, 0, 2))
			goto out;
		out->revealed = 1;
		out->revealed_at_s = get_u64(res, 0, 3);
	}
	rc = ESCROW_DB_OK;
out:
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_seed_reveal(struct escrow_db *db,
					 const uint8_t validator[RCPT_ADDR_BYTES],
					 const uint8_t commitment[RCPT_HASH_BYTES],
					 const uint8_t seed[RCPT_HASH_BYTES], uint64_t now_s)
{
	char vp[HEXP(20)], cp[HEXP(32)], sp[HEXP(32)], ts[24];
	const char *p[4] = { vp, cp, sp, ts };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	hexp(vp, sizeof(vp), validator, 20);
	hexp(cp, sizeof(cp), commitment, 32);
	hexp(sp, sizeof(sp), seed, 32);
	snprintf(ts, sizeof(ts), "%" PRIu64, now_s);
	rc = run(db, &res, "seed reveal",
		 "UPDATE escrow_seed_commitments SET seed = $3, revealed_at_s = $4"
		 " WHERE validator = $1 AND commitment = $2 AND seed IS NULL", 4, p);
	if (rc)
		return rc;
	rc = affected(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	PQclear(res);
	return rc;
}

/* ---------------------------------------------------------------- sign-in */

enum escrow_db_err escrow_db_nonce_put(struct escrow_db *db, const char *nonce,
				       uint64_t now_s, uint64_t expires_s, uint64_t max)
{
	char now[24], exp[24], mx[24];
	const char *p[4] = { nonce, now, exp, mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int n;

	ASSAY_ASSERT(nonce && expires_s > now_s && max > 0);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	snprintf(exp, sizeof(exp), "%" PRIu64, expires_s);
	snprintf(mx, sizeof(mx), "%" PRIu64, max);
	rc = run(db, NULL, "nonce prune",
		 "DELETE FROM escrow_siwe_nonces WHERE expires_s <= $1", 1, p + 1);
	if (rc)
		return rc;
	rc = run(db, &res, "nonce put",
		 "INSERT INTO escrow_siwe_nonces (nonce, issued_at_s, expires_s)"
		 " SELECT $1, $2, $3 WHERE (SELECT count(*) FROM escrow_siwe_nonces) < $4",
		 4, p);
	if (rc)
		return rc;
	n = affected(res);
	PQclear(res);
	ASSAY_ASSERT(n == 0 || n == 1);
	return n == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
}

enum escrow_db_err escrow_db_nonce_take(struct escrow_db *db, const char *nonce,
					uint64_t now_s)
{
	char now[24];
	const char *p[2] = { nonce, now };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int n;

	ASSAY_ASSERT(nonce);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	rc = run(db, &res, "nonce take",
		 "DELETE FROM escrow_siwe_nonces WHERE nonce = $1 AND expires_s > $2", 2, p);
	if (rc)
		return rc;
	n = affected(res);
	PQclear(res);
	ASSAY_ASSERT(n == 0 || n == 1);
	return n == 1 ? ESCROW_DB_OK : ESCROW_DB_NOT_FOUND;
}

enum escrow_db_err escrow_db_session_put(struct escrow_db *db,
					 const uint8_t hash[RCPT_HASH_BYTES],
					 const uint8_t addr[RCPT_ADDR_BYTES],
					 const char *role, unsigned scopes, uint64_t now_s,
					 uint64_t expires_s)
{
	char hp[HEXP(32)], ap[HEXP(20)], now[24], exp[24], sc[16];
	const char *p[6] = { hp, ap, role, now, exp, sc };
	enum escrow_db_err rc;

	ASSAY_ASSERT(role && expires_s > now_s && scopes <= INT32_MAX);
	snprintf(sc, sizeof(sc), "%u", scopes);
	hexp(hp, sizeof(hp), hash, 32);
	hexp(ap, sizeof(ap), addr, 20);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	snprintf(exp, sizeof(exp), "%" PRIu64, expires_s);
	rc = run(db, NULL, "session prune",
		 "DELETE FROM escrow_sessions WHERE expires_s <= $1 OR revoked_at_s IS NOT NULL",
		 1, p + 3);
	if (rc)
		return rc;
	return run(db, NULL, "session put",
		   "INSERT INTO escrow_sessions (token_hash, address, role, created_at_s, expires_s,"
		   " scopes) VALUES ($1, $2, $3, $4, $5, $6)", 6, p);
}

enum escrow_db_err escrow_db_session_get(struct escrow_db *db,
					 uint8_t stored[RCPT_HASH_BYTES],
					 uint8_t addr[RCPT_ADDR_BYTES],
					 char role[16], unsigned *scopes, uint64_t *expires_s,
					 const uint8_t hash[RCPT_HASH_BYTES], uint64_t now_s)
{
	char hp[HEXP(32)], now[24];
	const char *p[2] = { hp, now };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	const char *ro;

	hexp(hp, sizeof(hp), hash, 32);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	rc = run(db, &res, "session get",
		 "SELECT token_hash, address, role, expires_s, scopes FROM escrow_sessions"
		 " WHERE token_hash = $1 AND expires_s > $2 AND revoked_at_s IS NULL", 2, p);
	if (rc)
		return rc;
	rc = ESCROW_DB_NOT_FOUND;
	if (PQntuples(res) != 1)
		goto out;
	rc = ESCROW_DB_FAIL;
	ro = PQgetvalue(res, 0, 2);
	if (get_bytes(stored, RCPT_HASH_BYTES, res, 0, 0) ||
	    get_bytes(addr, RCPT_ADDR_BYTES, res, 0, 1) || strlen(ro) >= 16)
		goto out;
	memcpy(role, ro, strlen(ro) + 1);
	*expires_s = strtoull(PQgetvalue(res, 0, 3), NULL, 10);
	*scopes = (unsigned)get_u64(res, 0, 4);
	rc = ESCROW_DB_OK;
out:
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_session_revoke(struct escrow_db *db,
					    const uint8_t *hash, const uint8_t *addr,
					    uint64_t now_s, int *n)
{
	char kp[HEXP(32)], now[24];
	const char *p[2] = { kp, now };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT((hash != NULL) != (addr != NULL) && n);
	*n = 0;
	if (hash)
		hexp(kp, sizeof(kp), hash, 32);
	else
		hexp(kp, sizeof(kp), addr, 20);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	rc = run(db, &res, "session revoke", hash ?
		 "UPDATE escrow_sessions SET revoked_at_s = $2"
		 " WHERE token_hash = $1 AND revoked_at_s IS NULL AND expires_s > $2" :
		 "UPDATE escrow_sessions SET revoked_at_s = $2"
		 " WHERE address = $1 AND revoked_at_s IS NULL AND expires_s > $2", 2, p);
	if (rc)
		return rc;
	*n = affected(res);
	PQclear(res);
	ASSAY_ASSERT(*n >= 0);
	return ESCROW_DB_OK;
}

/* ---------------------------------------------------------------- API keys */

enum escrow_db_err escrow_db_apikey_put(struct escrow_db *db, int *stored,
					const struct escrow_apikey *k, const char *idem,
					unsigned max_live)
{
	char ap[HEXP(20)], sp[HEXP(ESCROW_APIKEY_SALT_BYTES)], hp[HEXP(ESCROW_APIKEY_HASH_BYTES)];
	char sc[12], t[12], m[12], par[12], now[24], exp[24], mx[12];
	const char *p[13] = { k->id, ap, k->label, sc, sp, hp, t, m, par, now, exp, idem, mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(stored && idem && max_live > 0 && k->expires_s > k->created_at_s);
	ASSAY_ASSERT(k->scopes > 0 && k->t_cost > 0 && k->m_cost_kib > 0 && k->parallelism > 0);
	*stored = 0;
	hexp(ap, sizeof(ap), k->address, 20);
	hexp(sp, sizeof(sp), k->salt, ESCROW_APIKEY_SALT_BYTES);
	hexp(hp, sizeof(hp), k->hash, ESCROW_APIKEY_HASH_BYTES);
	snprintf(sc, sizeof(sc), "%u", k->scopes);
	snprintf(t, sizeof(t), "%" PRIu32, k->t_cost);
	snprintf(m, sizeof(m), "%" PRIu32, k->m_cost_kib);
	snprintf(par, sizeof(par), "%" PRIu32, k->parallelism);
	snprintf(now, sizeof(now), "%" PRIu64, k->created_at_s);
	snprintf(exp, sizeof(exp), "%" PRIu64, k->expires_s);
	snprintf(mx, sizeof(mx), "%u", max_live);
	rc = run(db, &res, "apikey put",
		 "SELECT escrow_apikey_put($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
		 13, p);
	if (rc)
		return rc;
	if (PQntuples(res) == 1)
		*stored = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return ESCROW_DB_OK;
}

#define APIKEY_COLS "id, address, label, scopes, salt, hash, t_cost, m_cost_kib, parallelism," \
	" created_at_s, expires_s, coalesce(last_used_at_s, 0), coalesce(revoked_at_s, 0)"

/* Row `row` of an APIKEY_COLS result into *k; -1 when it is malformed. */
static int apikey_row(struct escrow_apikey *k, const PGresult *res, int row)
{
	const char *id = PQgetvalue(res, row, 0), *label = PQgetvalue(res, row, 2);

	memset(k, 0, sizeof(*k));
	if (strlen(id) != sizeof(k->id) - 1 || strlen(label) >= sizeof(k->label) ||
	    get_bytes(k->address, RCPT_ADDR_BYTES, res, row, 1) ||
	    get_bytes(k->salt, ESCROW_APIKEY_SALT_BYTES, res, row, 4) ||
	    get_bytes(k->hash, ESCROW_APIKEY_HASH_BYTES, res, row, 5))
		return -1;
	memcpy(k->id, id, sizeof(k->id));
	memcpy(k->label, label, strlen(label) + 1);
	k->scopes = (unsigned)strtoul(PQgetvalue(res, row, 3), NULL, 10);
	k->t_cost = (uint32_t)strtoul(PQgetvalue(res, row, 6), NULL, 10);
	k->m_cost_kib = (uint32_t)strtoul(PQgetvalue(res, row, 7), NULL, 10);
	k->parallelism = (uint32_t)strtoul(PQgetvalue(res, row, 8), NULL, 10);
	k->created_at_s = strtoull(PQgetvalue(res, row, 9), NULL, 10);
	k->expires_s = strtoull(PQgetvalue(res, row, 10), NULL, 10);
	k->last_used_at_s = strtoull(PQgetvalue(res, row, 11), NULL, 10);
	k->revoked_at_s = strtoull(PQgetvalue(res, row, 12), NULL, 10);
	return 0;
}

enum escrow_db_err escrow_db_apikey_get(struct escrow_db *db, struct escrow_apikey *out,
					const char *id)
{
	const char *p[1] = { id };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(out && id);
	rc = run(db, &res, "apikey get",
		 "SELECT " APIKEY_COLS " FROM escrow_apikeys WHERE id = $1", 1, p);
	if (rc)
		return rc;
	rc = ESCROW_DB_NOT_FOUND;
	if (PQntuples(res) == 1)
		rc = apikey_row(out, res, 0) ? ESCROW_DB_FAIL : ESCROW_DB_OK;
	PQclear(res);
	ASSAY_ASSERT(rc != ESCROW_DB_OK || strcmp(out->id, id) == 0);
	return rc;
}

enum escrow_db_err escrow_db_apikey_touch(struct escrow_db *db, const char *id,
					  uint64_t now_s, uint64_t interval_s)
{
	char now[24], since[24];
	const char *p[3] = { id, now, since };

	ASSAY_ASSERT(id && now_s >= interval_s);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	snprintf(since, sizeof(since), "%" PRIu64, now_s - interval_s);
	return run(db, NULL, "apikey touch",
		   "UPDATE escrow_apikeys SET last_used_at_s = $2 WHERE id = $1"
		   " AND (last_used_at_s IS NULL OR last_used_at_s <= $3)", 3, p);
}

enum escrow_db_err escrow_db_apikey_list(struct escrow_db *db, struct escrow_apikey *out,
					 size_t cap, size_t *n,
					 const uint8_t addr[RCPT_ADDR_BYTES])
{
	char ap[HEXP(20)], lim[24];
	const char *p[2] = { ap, lim };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int rows;

	ASSAY_ASSERT(out && n && cap > 0);
	*n = 0;
	hexp(ap, sizeof(ap), addr, 20);
	snprintf(lim, sizeof(lim), "%zu", cap);
	rc = run(db, &res, "apikey list",
		 "SELECT " APIKEY_COLS " FROM escrow_apikeys WHERE address = $1"
		 " ORDER BY created_at_s DESC, id LIMIT $2", 2, p);
	if (rc)
		return rc;
	rows = PQntuples(res);
	ASSAY_ASSERT(rows >= 0 && (size_t)rows <= cap);
	for (int i = 0; i < rows; i++) {
		if (apikey_row(&out[i], res, i)) {
			rc = ESCROW_DB_FAIL;
			break;
		}
		*n = (size_t)i + 1;
	}
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_apikeys_revoke_all(struct escrow_db *db, int *n,
					       const uint8_t addr[RCPT_ADDR_BYTES], uint64_t now_s)
{
	char ap[HEXP(20)], now[24];
	const char *p[2] = { ap, now };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(n && addr);
	*n = 0;
	hexp(ap, sizeof(ap), addr, 20);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	rc = run(db, &res, "apikeys revoke all",
		 "UPDATE escrow_apikeys SET revoked_at_s = $2"
		 " WHERE address = $1 AND revoked_at_s IS NULL AND expires_s > $2", 2, p);
	if (rc)
		return rc;
	*n = affected(res);
	PQclear(res);
	ASSAY_ASSERT(*n >= 0 && *n <= 1000000);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_apikey_revoke(struct escrow_db *db, int *n, const char *id,
					   const uint8_t addr[RCPT_ADDR_BYTES], uint64_t now_s)
{
	char ap[HEXP(20)], now[24];
	const char *p[3] = { id, ap, now };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(n && id);
	*n = 0;
	hexp(ap, sizeof(ap), addr, 20);
	snprintf(now, sizeof(now), "%" PRIu64, now_s);
	/* Idempotent: a revoked key keeps its first revocation time. */
	rc = run(db, &res, "apikey revoke",
		 "UPDATE escrow_apikeys SET revoked_at_s = coalesce(revoked_at_s, $3)"
		 " WHERE id = $1 AND address = $2", 3, p);
	if (rc)
		return rc;
	*n = affected(res);
	PQclear(res);
	ASSAY_ASSERT(*n == 0 || *n == 1);
	return ESCROW_DB_OK;
}
