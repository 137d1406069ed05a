/*
 * pgdb.c: sessions, prepared statements, error classes, transactions and
 * migrations over libpq, for every PostgreSQL user in the tree (pgdb.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "assay_assert.h"
#include "pg_alive.h"
#include "pgdb.h"
#include "banned.h"

static const char *const pgdb_names[PGDB_ERR_COUNT_] = {
	[PGDB_OK] = "ok",
	[PGDB_DOWN] = "down",
	[PGDB_BUSY] = "busy",
	[PGDB_UNIQUE] = "unique",
	[PGDB_CHECK] = "check",
	[PGDB_RANGE] = "range",
	[PGDB_SHAPE] = "shape",
	[PGDB_FAIL] = "fail",
};

const char *pgdb_errname(enum pgdb_err err)
{
	return (unsigned)err < PGDB_ERR_COUNT_ ? pgdb_names[err] : "unknown";
}

/* ------------------------------------------------------------------ */
/* Parameters                                                           */

static void arg_put(struct pgdb_args *a, const char *v, int len, int fmt)
{
	ASSAY_ASSERT(a->n >= 0 && a->n < PGDB_PARAMS_MAX);
	a->v[a->n] = v;
	a->len[a->n] = len;
	a->fmt[a->n] = fmt;
	a->n++;
}

void pgdb_arg_text(struct pgdb_args *a, const char *s)
{
	arg_put(a, s, 0, 0);
}

void pgdb_arg_bytes(struct pgdb_args *a, const uint8_t *p, size_t len)
{
	ASSAY_ASSERT(len <= (size_t)INT32_MAX);
	arg_put(a, (const char *)p, (int)len, 1);
}

void pgdb_arg_copy(struct pgdb_args *a, const char *s)
{
	size_t n = strlen(s);

	ASSAY_ASSERT(a->n >= 0 && a->n < PGDB_PARAMS_MAX && n < PGDB_NUM_BYTES);
	memcpy(a->num[a->n], s, n + 1);
	arg_put(a, a->num[a->n], 0, 0);
}

void pgdb_arg_u64(struct pgdb_args *a, uint64_t v)
{
	ASSAY_ASSERT(v <= (uint64_t)INT64_MAX);
	ASSAY_ASSERT(a->n >= 0 && a->n < PGDB_PARAMS_MAX);
	snprintf(a->num[a->n], PGDB_NUM_BYTES, "%" PRIu64, v);
	arg_put(a, a->num[a->n], 0, 0);
}

void pgdb_arg_i64(struct pgdb_args *a, int64_t v)
{
	ASSAY_ASSERT(a->n >= 0 && a->n < PGDB_PARAMS_MAX);
	snprintf(a->num[a->n], PGDB_NUM_BYTES, "%" PRId64, v);
	arg_put(a, a->num[a->n], 0, 0);
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */

static void copy_line(char *out, size_t n, const char *s)
{
	snprintf(out, n, "%s", s ? s : "");
	out[strcspn(out, "\n")] = '\0';
}

static enum pgdb_err class_of(const char *st)
{
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0)
		return PGDB_DOWN;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 ||
	    strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0 ||
	    strncmp(st, "53", 2) == 0)
		return PGDB_BUSY;
	if (strcmp(st, "23505") == 0)
		return PGDB_UNIQUE;
	if (strcmp(st, "23514") == 0)
		return PGDB_CHECK;
	if (strcmp(st, "22003") == 0)
		return PGDB_RANGE;
	return PGDB_FAIL;
}

/* 1 when a resource failure may be logged now (pgdb.h): the first, then
 * one per PGDB_RESOURCE_LOG_INTERVAL_S, across every session. */
static int resource_log_due(void)
{
	static _Atomic int64_t next_s;
	struct timespec ts;
	int64_t now, due;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	now = (int64_t)ts.tv_sec;
	due = next_s;
	if (now < due)
		return 0;
	return __atomic_compare_exchange_n(&next_s, &due, now + PGDB_RESOURCE_LOG_INTERVAL_S, 0,
					   __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* Classifies a failed result (res may be NULL), keeps its SQLSTATE,
 * constraint and first line, and logs what no caller expects. */
static enum pgdb_err fail(struct pgdb *db, const PGresult *res, const char *what)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *cn = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
	enum pgdb_err rc;

	copy_line(db->why, sizeof(db->why),
		  res ? PQresultErrorMessage(res) : db->conn ? PQerrorMessage(db->conn) : "");
	copy_line(db->sqlstate, sizeof(db->sqlstate), st);
	copy_line(db->constraint, sizeof(db->constraint), cn);
	db->retryable = st && (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		rc = PGDB_DOWN;
	else if (!st)
		rc = PGDB_FAIL;
	else
		rc = class_of(st);
	if (rc == PGDB_DOWN)
		db->session_ok = 0;
	if (rc == PGDB_FAIL && db->cfg.log_prefix)
		fprintf(stderr, "%s: %s failed: %s\n", db->cfg.log_prefix, what, db->why);
	if (rc == PGDB_BUSY && st && strncmp(st, "53", 2) == 0 && db->cfg.log_prefix &&
	    resource_log_due())
		fprintf(stderr, "%s: event=db-resource sqlstate=%s %s failed: %s (answered busy; "
			"the next such failure is logged in %d s at the earliest)\n",
			db->cfg.log_prefix, st, what, db->why, PGDB_RESOURCE_LOG_INTERVAL_S);
	return rc;
}

static void clear_last(struct pgdb *db)
{
	db->retryable = 0;
	db->sqlstate[0] = '\0';
	db->constraint[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Sessions                                                             */

static void notice_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Every session: quiet notices, the three timeouts, nothing prepared. */
static enum pgdb_err session_setup(struct pgdb *db)
{
	char sql[256];
	enum pgdb_err rc;

	db->n_prepared = 0;
	db->session_ok = 0;
	PQsetNoticeProcessor(db->conn, notice_quiet, NULL);
	snprintf(sql, sizeof(sql),
		 "SET client_min_messages = warning; SET statement_timeout = %u; "
		 "SET lock_timeout = %u; SET idle_in_transaction_session_timeout = %u",
		 db->cfg.statement_timeout_ms, db->cfg.lock_timeout_ms,
		 db->cfg.idle_in_txn_timeout_ms);
	rc = pgdb_exec_once(db, "session set-up", sql);
	if (rc)
		return rc;
	db->session_ok = 1;
	db->stats.sessions++;
	if (db->cfg.on_session)
		db->cfg.on_session(db->cfg.on_session_arg);
	return PGDB_OK;
}

enum pgdb_err pgdb_open(struct pgdb *db, const struct pgdb_config *cfg)
{
	const char *keys[] = { "dbname", "application_name", NULL };
	const char *vals[] = { NULL, NULL, NULL };

	ASSAY_ASSERT(db && cfg && cfg->conninfo && cfg->app);
	memset(db, 0, sizeof(*db));
	db->cfg = *cfg;
	copy_line(db->app, sizeof(db->app), cfg->app);
	/* The conninfo string, then our name in pg_stat_activity (an
	 * application_name inside conninfo comes first and loses). */
	vals[0] = cfg->conninfo;
	vals[1] = db->app;
	db->conn = PQconnectdbParams(keys, vals, 1);
	if (!db->conn) {
		copy_line(db->why, sizeof(db->why), "out of memory");
		return PGDB_DOWN;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		copy_line(db->why, sizeof(db->why), PQerrorMessage(db->conn));
		return PGDB_DOWN;
	}
	return session_setup(db);
}

void pgdb_close(struct pgdb *db)
{
	if (db && db->conn) {
		PQfinish(db->conn);
		db->conn = NULL;
		db->session_ok = 0;
	}
}

static enum pgdb_err reset(struct pgdb *db)
{
	db->session_ok = 0;
	db->n_prepared = 0;
	if (!db->conn) {
		struct pgdb_config cfg = db->cfg;   /* pgdb_open clears db */
		struct pgdb_stats st = db->stats;
		enum pgdb_err rc = pgdb_open(db, &cfg);
		db->stats.sessions += st.sessions;
		db->stats.prepared += st.prepared;
		db->stats.retries += st.retries;
		db->stats.reconnects += st.reconnects;
		db->stats.unprepared += st.unprepared;
		return rc;
	}
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		copy_line(db->why, sizeof(db->why), PQerrorMessage(db->conn));
		return PGDB_DOWN;
	}
	return session_setup(db);
}

enum pgdb_err pgdb_ready(struct pgdb *db)
{
	ASSAY_ASSERT(db);
	if (db->session_ok && assay_pg_alive(db->conn))
		return PGDB_OK;
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		return db->session_ok ? PGDB_OK : PGDB_DOWN;
	return reset(db);
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */

/* FNV-1a of a statement's text: what was prepared under an address is
 * checked to be what is run under it. */
static uint64_t text_hash(const char *t)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *t; t++)
		h = (h ^ (uint8_t)*t) * 0x100000001b3ULL;
	return h;
}

/* The statement's name on this session ("pgdb_7"), preparing it first
 * if this session has not; "" when the session is full (run unprepared). */
static enum pgdb_err prepared_name(struct pgdb *db, char name[32], const char *what,
				   const char *sql)
{
	uint64_t h = text_hash(sql);
	PGresult *res;
	size_t i;

	for (i = 0; i < db->n_prepared; i++)
		if (db->prepared[i] == sql) {
			ASSAY_ASSERT(db->prepared_hash[i] == h);   /* a literal, never rewritten */
			snprintf(name, 32, "pgdb_%zu", i);
			return PGDB_OK;
		}
	if (db->n_prepared == PGDB_PREPARED_MAX) {
		db->stats.unprepared++;
		name[0] = '\0';
		return PGDB_OK;
	}
	snprintf(name, 32, "pgdb_%zu", i);
	res = PQprepare(db->conn, name, sql, 0, NULL);
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		enum pgdb_err rc = fail(db, res, what);
		PQclear(res);
		return rc;
	}
	PQclear(res);
	db->prepared[i] = sql;
	db->prepared_hash[i] = h;
	db->n_prepared++;
	db->stats.prepared++;
	return PGDB_OK;
}

static enum pgdb_err run(struct pgdb *db, PGresult **out, const char *what, const char *sql,
			 int n, const char *const *v, const int *len, const int *fmt)
{
	char name[32];
	PGresult *res;
	ExecStatusType st;
	enum pgdb_err rc;

	ASSAY_ASSERT(db && what && sql && n >= 0 && n <= PGDB_PARAMS_MAX);
	if (out)
		*out = NULL;
	clear_last(db);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return fail(db, NULL, what);
	rc = prepared_name(db, name, what, sql);
	if (rc)
		return rc;
	if (name[0])
		res = PQexecPrepared(db->conn, name, n, v, len, fmt, 0);
	else
		res = PQexecParams(db->conn, sql, n, NULL, v, len, fmt, 0);
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		rc = fail(db, res, what);
		PQclear(res);
		return rc;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return PGDB_OK;
}

enum pgdb_err pgdb_exec(struct pgdb *db, PGresult **out, const struct pgdb_stmt *s,
			const struct pgdb_args *a)
{
	ASSAY_ASSERT(s);
	if (!a)
		return run(db, out, s->what, s->sql, 0, NULL, NULL, NULL);
	return run(db, out, s->what, s->sql, a->n, a->v, a->len, a->fmt);
}

enum pgdb_err pgdb_exec_sql(struct pgdb *db, PGresult **out, const char *what, const char *sql,
			    int n, const char *const *params)
{
	ASSAY_ASSERT(n == 0 || params);
	return run(db, out, what, sql, n, params, NULL, NULL);
}

/* One pipelined statement's result: the result, then NULL. */
static enum pgdb_err pipe_result(struct pgdb *db, const char *what)
{
	PGresult *res = PQgetResult(db->conn), *extra;
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	enum pgdb_err rc = PGDB_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = fail(db, res, what);
	PQclear(res);
	while ((extra = PQgetResult(db->conn)) != NULL)
		PQclear(extra);
	return rc;
}

/* The PGRES_PIPELINE_SYNC that ends a statement's transaction. */
static enum pgdb_err pipe_sync(struct pgdb *db, const char *what)
{
	PGresult *res = PQgetResult(db->conn);
	enum pgdb_err rc = PGDB_OK;

	if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC)
		rc = fail(db, res, what);
	PQclear(res);
	return rc;
}

enum pgdb_err pgdb_exec_pair(struct pgdb *db, const char *what,
			     const char *sql1, int n1, const char *const *p1,
			     const char *sql2, int n2, const char *const *p2)
{
	char a[32], b[32];
	enum pgdb_err rc, rc2;

	ASSAY_ASSERT(db && what && sql1 && sql2 && n1 >= 0 && n2 >= 0 &&
		     n1 <= PGDB_PARAMS_MAX && n2 <= PGDB_PARAMS_MAX);
	clear_last(db);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return fail(db, NULL, what);
	rc = prepared_name(db, a, what, sql1);
	if (!rc)
		rc = prepared_name(db, b, what, sql2);
	if (rc)
		return rc;
	/* Unprepared (a full session) or no pipeline: two round trips. */
	if (!a[0] || !b[0] || PQtransactionStatus(db->conn) != PQTRANS_IDLE ||
	    !PQenterPipelineMode(db->conn)) {
		rc = run(db, NULL, what, sql1, n1, p1, NULL, NULL);
		rc2 = run(db, NULL, what, sql2, n2, p2, NULL, NULL);
		return rc ? rc : rc2;
	}
	if (!PQsendQueryPrepared(db->conn, a, n1, p1, NULL, NULL, 0) || !PQpipelineSync(db->conn) ||
	    !PQsendQueryPrepared(db->conn, b, n2, p2, NULL, NULL, 0) || !PQpipelineSync(db->conn)) {
		rc = fail(db, NULL, what);
		(void)PQexitPipelineMode(db->conn);
		return rc;
	}
	/* result 1, its sync, result 2, its sync: each sync is read whatever
	 * its statement did (an error ends at the sync). */
	rc = pipe_result(db, what);
	if (PQstatus(db->conn) == CONNECTION_OK) {
		enum pgdb_err keep = rc;
		rc2 = pipe_sync(db, what);
		if (!rc2) {
			rc2 = pipe_result(db, what);
			if (PQstatus(db->conn) == CONNECTION_OK) {
				enum pgdb_err s2 = pipe_sync(db, what);
				rc2 = rc2 ? rc2 : s2;
			}
		}
		rc = keep ? keep : rc2;
	}
	if (!PQexitPipelineMode(db->conn) && PQstatus(db->conn) == CONNECTION_OK) {
		/* Results left unread: the session's state is unknown, and
		 * it is reset before it is used again. */
		ASSAY_ASSERT(rc != PGDB_OK);
		db->session_ok = 0;
	}
	return rc;
}

enum pgdb_err pgdb_exec_once(struct pgdb *db, const char *what, const char *sql)
{
	PGresult *res;
	ExecStatusType st;
	enum pgdb_err rc = PGDB_OK;

	ASSAY_ASSERT(db && what && sql);
	clear_last(db);
	if (!db->conn || PQstatus(db->conn) != CONNECTION_OK)
		return fail(db, NULL, what);
	res = PQexec(db->conn, sql);
	st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = fail(db, res, what);
	PQclear(res);
	return rc;
}

long pgdb_affected(const PGresult *res)
{
	const char *t = PQcmdTuples((PGresult *)res);

	return t && *t ? strtol(t, NULL, 10) : 0;
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */

static const char *const begin_sql[] = {
	[PGDB_READ_COMMITTED] = "BEGIN ISOLATION LEVEL READ COMMITTED",
	[PGDB_REPEATABLE_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ",
	[PGDB_SERIALIZABLE] = "BEGIN ISOLATION LEVEL SERIALIZABLE",
};

enum pgdb_err pgdb_begin(struct pgdb *db, enum pgdb_iso iso)
{
	enum pgdb_err rc;

	ASSAY_ASSERT((unsigned)iso <= PGDB_SERIALIZABLE);
	rc = pgdb_ready(db);
	if (!rc)
		rc = pgdb_exec_once(db, "begin", begin_sql[iso]);
	if (rc == PGDB_DOWN) {
		/* The server went away while the session was idle and
		 * pgdb_ready could not tell yet (its goodbye had come, the
		 * end of the stream not): nothing ran, so reconnect once. */
		db->stats.reconnects++;
		rc = reset(db);
		if (!rc)
			rc = pgdb_exec_once(db, "begin", begin_sql[iso]);
	}
	return rc;
}

enum pgdb_err pgdb_commit(struct pgdb *db)
{
	return pgdb_exec_once(db, "commit", "COMMIT");
}

void pgdb_rollback(struct pgdb *db)
{
	if (db->conn && PQstatus(db->conn) == CONNECTION_OK &&
	    PQtransactionStatus(db->conn) != PQTRANS_IDLE) {
		int keep = db->retryable;
		PQclear(PQexec(db->conn, "ROLLBACK"));
		db->retryable = keep;
	}
}

enum pgdb_err pgdb_txn(struct pgdb *db, enum pgdb_iso iso, pgdb_body body, void *arg,
		       int *body_rc)
{
	enum pgdb_err rc;
	int tries = 0, brc;

	ASSAY_ASSERT(db && body && body_rc);
	*body_rc = 0;
	for (;;) {
		tries++;
		rc = pgdb_begin(db, iso);
		if (rc)
			return rc;
		brc = body(db, arg);
		rc = brc ? PGDB_OK : pgdb_commit(db);
		if (brc || rc)
			pgdb_rollback(db);
		if (!db->retryable || tries >= PGDB_TRIES_MAX)
			break;
		/* 40001/40P01: nothing was kept; the body runs again. */
		db->stats.retries++;
	}
	if (db->retryable && tries >= PGDB_TRIES_MAX)
		return PGDB_BUSY;
	*body_rc = brc;
	return rc;
}

/* ------------------------------------------------------------------ */
/* Migrations                                                           */

static int is_ident(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
			return 0;
	return i > 0 && i < PGDB_NAME_BYTES;
}

struct migrate_one {
	const struct pgdb_schema *sc;
	const struct pgdb_migration *m;
	char sql_lock[96], sql_table[256], sql_seen[192], sql_record[192];
	const char *failed;    /* which step failed, for the message */
};

static int migrate_body(struct pgdb *db, void *arg)
{
	struct migrate_one *x = arg;
	PGresult *res = NULL;
	int seen;

	x->failed = "lock";
	if (pgdb_exec_once(db, "migration lock", x->sql_lock))
		return 1;
	/* Under the lock: two migrators creating the table at once would
	 * otherwise race on the catalogue. */
	x->failed = "table";
	if (pgdb_exec_once(db, "migration table", x->sql_table))
		return 1;
	x->failed = "read";
	{
		const char *v[1] = { x->m->name };
		res = PQexecParams(db->conn, x->sql_seen, 1, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			(void)fail(db, res, "migration read");
			PQclear(res);
			return 1;
		}
		seen = PQntuples(res) > 0;
		PQclear(res);
		if (seen)
			return 0;
		x->failed = "apply";
		/* Embedded text, several statements: PQexec runs them all in
		 * this transaction. */
		if (pgdb_exec_once(db, x->m->name, x->m->sql))
			return 1;
		x->failed = "record";
		res = PQexecParams(db->conn, x->sql_record, 1, NULL, v, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			(void)fail(db, res, "migration record");
			PQclear(res);
			return 1;
		}
		PQclear(res);
	}
	return 0;
}

/* The first name in the table that sc does not know, into out; "" if none. */
static enum pgdb_err newer_name(struct pgdb *db, char *out, size_t out_len,
				const struct pgdb_schema *sc)
{
	char sql[192];
	PGresult *res;
	size_t i, k;
	enum pgdb_err rc = PGDB_OK;

	out[0] = '\0';
	snprintf(sql, sizeof(sql), "SELECT %s FROM %s ORDER BY %s", sc->column, sc->table,
		 sc->column);
	res = PQexec(db->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = fail(db, res, "migration list");
		goto out;
	}
	for (k = 0; k < (size_t)PQntuples(res) && !out[0]; k++) {
		const char *have = PQgetvalue(res, (int)k, 0);
		for (i = 0; i < sc->count && strcmp(sc->list[i].name, have) != 0; i++)
			;
		if (i == sc->count)
			snprintf(out, out_len, "%.64s", have);
	}
out:
	PQclear(res);
	return rc;
}

enum pgdb_err pgdb_migrate(struct pgdb *db, char *msg, size_t msg_len,
			   const struct pgdb_schema *sc)
{
	struct migrate_one x = { .sc = sc };
	char newer[PGDB_NAME_BYTES + 8];
	enum pgdb_err rc;
	int brc = 0;
	size_t i;

	ASSAY_ASSERT(db && sc && sc->what && is_ident(sc->table) && is_ident(sc->column));
	ASSAY_ASSERT(msg && msg_len > 0);
	msg[0] = '\0';
	snprintf(x.sql_lock, sizeof(x.sql_lock), "SELECT pg_advisory_xact_lock(%" PRId64 ")",
		 sc->lock_key);
	snprintf(x.sql_table, sizeof(x.sql_table),
		 "CREATE TABLE IF NOT EXISTS %s (%s text PRIMARY KEY, "
		 "applied_at timestamptz NOT NULL DEFAULT now())", sc->table, sc->column);
	snprintf(x.sql_seen, sizeof(x.sql_seen), "SELECT 1 FROM %s WHERE %s = $1", sc->table,
		 sc->column);
	snprintf(x.sql_record, sizeof(x.sql_record), "INSERT INTO %s (%s) VALUES ($1)",
		 sc->table, sc->column);
	rc = pgdb_ready(db);
	for (i = 0; !rc && !brc && i < sc->count; i++) {
		x.m = &sc->list[i];
		ASSAY_ASSERT(x.m->name && x.m->sql);
		rc = pgdb_txn(db, PGDB_READ_COMMITTED, migrate_body, &x, &brc);
		if (rc || brc) {
			snprintf(msg, msg_len, "%s migration %s failed (%s): %s", sc->what,
				 x.m->name, x.failed, db->why);
			return rc ? rc : PGDB_FAIL;
		}
	}
	if (!rc)
		rc = newer_name(db, newer, sizeof(newer), sc);
	if (rc) {
		snprintf(msg, msg_len, "%s migrations: %s", sc->what, db->why);
		return rc;
	}
	if (newer[0]) {
		snprintf(msg, msg_len, "%s has migration '%s' that this program does not know",
			 sc->what, newer);
		return PGDB_FAIL;
	}
	return PGDB_OK;
}
