/*
 * test_escrow_state.c: the job state machine (escrow/state.c) as a table,
 * and the escrow's database layer (escrow/db.c) and PostgreSQL following
 * it.  The first tests hold the table against the life docs/escrow.md
 * draws (written out here by hand, from the document, not from the
 * code) and against properties any such machine must have; the rest walk
 * the same table through escrow_db_* on a real PostgreSQL: every step
 * taken, every step not in the table refused by the trigger of migration
 * 005, and every ordering of two steps racing from one state, in turn and
 * at once on two connections.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <libpq-fe.h>

#include "dispute_state.h"
#include "escrow.h"
#include "pgutil.h"
#include "state.h"
#include "banned.h"

/* ---------------------------------------------------------------- the table */

/* docs/escrow.md, "A job's life", as (operation, from, to) by name. */
static const char *const documented[][3] = {
	{ "open", "none", "opening" },            /* POST /v1/jobs */
	{ "funded", "opening", "open" },          /* --lock--> */
	{ "abandon", "opening", "none" },         /* the lock refused: nothing kept */
	{ "receipt", "open", "receipted" },       /* POST .../receipt */
	{ "fail", "open", "refunding" },          /* provider's POST .../fail */
	{ "deadline", "open", "refunding" },      /* deadline passed */
	{ "attest", "receipted", "receipted" },   /* verdict 1 in the window */
	{ "attest", "disputed", "disputed" },
	{ "claim", "receipted", "disputed" },     /* verdict 2 */
	{ "claim", "disputed", "disputed" },      /* a second claim joins */
	{ "withheld", "receipted", "disputed" },
	{ "withheld", "disputed", "disputed" },
	{ "input", "disputed", "disputed" },
	{ "accept", "receipted", "releasing" },   /* customer's POST .../accept */
	{ "window-closed", "receipted", "releasing" },
	{ "cleared", "disputed", "receipted" },   /* referee: validator wrong */
	{ "upheld", "disputed", "refunding" },    /* referee: provider wrong */
	{ "released", "releasing", "paid" },      /* chain_release(price) */
	{ "refunded", "refunding", "refunded" },  /* chain_refund (full) */
};
#define N_DOCUMENTED (sizeof(documented) / sizeof(documented[0]))

static enum escrow_job_state st_named(const char *name)
{
	enum escrow_job_state s;

	if (strcmp(name, "none") == 0)
		return JOB_NONE;
	cr_assert_eq(escrow_job_state_parse(name, &s), 0, "state %s", name);
	return s;
}

static enum escrow_job_op op_named(const char *name)
{
	int op;

	for (op = 0; op < JOB_OP_N; op++)
		if (strcmp(escrow_job_op_name((enum escrow_job_op)op), name) == 0)
			return (enum escrow_job_op)op;
	cr_assert_fail("no operation %s", name);
	return JOB_OP_N;
}

Test(escrow_state, the_table_is_the_documented_life)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i;
	int op, s;

	cr_assert_eq(n, N_DOCUMENTED, "%zu steps in state.c, %zu documented", n, N_DOCUMENTED);
	for (i = 0; i < N_DOCUMENTED; i++) {
		enum escrow_job_state to;
		cr_assert(escrow_job_next(op_named(documented[i][0]), st_named(documented[i][1]), &to),
			  "%s from %s is documented but refused", documented[i][0], documented[i][1]);
		cr_assert_eq(to, st_named(documented[i][2]), "%s from %s leads to %s, not %s",
			     documented[i][0], documented[i][1], escrow_job_state_name(to),
			     documented[i][2]);
	}
	/* Every (operation, state) pair the document does not name is refused. */
	for (op = 0; op < JOB_OP_N; op++)
		for (s = 0; s < JOB_STATE_N; s++) {
			int want = 0;
			for (i = 0; i < N_DOCUMENTED; i++)
				want |= (int)op_named(documented[i][0]) == op &&
					(int)st_named(documented[i][1]) == s;
			cr_assert_eq(escrow_job_next((enum escrow_job_op)op, (enum escrow_job_state)s,
						     NULL), want, "%s from %s",
				     escrow_job_op_name((enum escrow_job_op)op),
				     escrow_job_state_name((enum escrow_job_state)s));
		}
}

/* reach[s] after the call: s can be reached from `from` through the table. */
static void reachable(int reach[JOB_STATE_N], enum escrow_job_state from)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i;
	int grew = 1;

	memset(reach, 0, sizeof(int) * JOB_STATE_N);
	reach[from] = 1;
	while (grew) {
		grew = 0;
		for (i = 0; i < n; i++)
			if (reach[t[i].from] && !reach[t[i].to])
				reach[t[i].to] = grew = 1;
	}
}

Test(escrow_state, every_job_can_end_and_an_end_is_an_end)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i;
	int reach[JOB_STATE_N], s, op;

	reachable(reach, JOB_NONE);
	for (s = JOB_NONE + 1; s < JOB_STATE_N; s++) {
		cr_assert(reach[s], "%s is never reached", escrow_job_state_name(s));
		if (escrow_job_final((enum escrow_job_state)s))
			continue;
		/* From anywhere short of an end, an end (or no row) is reachable. */
		int r2[JOB_STATE_N];
		reachable(r2, (enum escrow_job_state)s);
		cr_assert(r2[JOB_PAID] || r2[JOB_REFUNDED], "%s cannot end",
			  escrow_job_state_name(s));
	}
	cr_assert(escrow_job_final(JOB_PAID) && escrow_job_final(JOB_REFUNDED));
	cr_assert_not(escrow_job_final(JOB_NONE));
	for (s = JOB_OPENING; s < JOB_PAID; s++)
		cr_assert_not(escrow_job_final((enum escrow_job_state)s), "%s",
			      escrow_job_state_name(s));
	for (op = 0; op < JOB_OP_N; op++) {
		int steps = 0;
		for (i = 0; i < n; i++)
			steps += (int)t[i].op == op;
		cr_assert_gt(steps, 0, "operation %s has no step",
			     escrow_job_op_name((enum escrow_job_op)op));
	}
	for (i = 0; i < n; i++) {
		/* Money moves only by the ledger steps into the ends, and only
		 * the opening that the ledger refused ends without a row. */
		cr_assert((t[i].to == JOB_PAID) == (t[i].op == JOB_OP_RELEASED));
		cr_assert((t[i].to == JOB_REFUNDED) == (t[i].op == JOB_OP_REFUNDED));
		cr_assert((t[i].to == JOB_NONE) == (t[i].op == JOB_OP_ABANDON));
		cr_assert((t[i].from == JOB_NONE) == (t[i].op == JOB_OP_OPEN));
		for (size_t k = 0; k < i; k++)
			cr_assert(t[k].op != t[i].op || t[k].from != t[i].from,
				  "two steps for %s from %s", escrow_job_op_name(t[i].op),
				  escrow_job_state_name(t[i].from));
	}
}

Test(escrow_state, names_and_derived_sets)
{
	static const char *const names[] = { "opening", "open", "receipted", "disputed",
		"releasing", "refunding", "paid", "refunded" };
	/* docs/economics.md: a provider's exposure is the maxPrice of every job
	 * that may still pay it. */
	static const int pays[] = { 1, 1, 1, 1, 1, 0, 0, 0 };
	char lit[ESCROW_JOB_STATES_LITERAL_BYTES];
	enum escrow_job_state s;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cr_assert_eq(escrow_job_state_parse(names[i], &s), 0, "%s", names[i]);
		cr_assert_str_eq(escrow_job_state_name(s), names[i]);
		cr_assert_eq(escrow_job_may_pay(s), pays[i], "%s", names[i]);
	}
	cr_assert_eq(escrow_job_state_parse("none", &s), -1);
	cr_assert_eq(escrow_job_state_parse("", &s), -1);
	cr_assert_eq(escrow_job_state_parse("Open", &s), -1);
	cr_assert_eq(escrow_job_state_parse("open ", &s), -1);
	cr_assert_eq(escrow_job_state_parse(NULL, &s), -1);
	escrow_job_states_allowing(lit, sizeof(lit), JOB_OP_ATTEST);
	cr_assert_str_eq(lit, "{receipted,disputed}");
	escrow_job_states_allowing(lit, sizeof(lit), JOB_OP_RECEIPT);
	cr_assert_str_eq(lit, "{open}");
	escrow_job_states_may_pay(lit, sizeof(lit));
	cr_assert_str_eq(lit, "{opening,open,receipted,disputed,releasing}");
}

/* ---------------------------------------------------------------- in PostgreSQL */

struct sdb {
	struct pgt_db pg;
	struct escrow_db a, b;   /* as the HTTP thread and the settlement loop */
	PGconn *raw;             /* plain SQL, as from psql */
};

static struct sdb S;

static void sdb_setup(void)
{
	pgt_db_create(&S.pg);
	cr_assert_eq(escrow_db_open(&S.a, S.pg.conninfo, "http"), ESCROW_DB_OK);
	cr_assert_eq(escrow_db_migrate(&S.a), ESCROW_DB_OK);
	cr_assert_eq(escrow_db_open(&S.b, S.pg.conninfo, "settle"), ESCROW_DB_OK);
	S.raw = PQconnectdb(S.pg.conninfo);
	cr_assert_eq(PQstatus(S.raw), CONNECTION_OK, "%s", PQerrorMessage(S.raw));
}

static void sdb_teardown(void)
{
	escrow_db_close(&S.a);
	escrow_db_close(&S.b);
	if (S.raw)
		PQfinish(S.raw);
	S.raw = NULL;
	pgt_db_drop(&S.pg);
}

static void job_id(uint8_t id[RCPT_HASH_BYTES], unsigned n)
{
	memset(id, 0, RCPT_HASH_BYTES);
	id[0] = 0xa5;
	id[28] = (uint8_t)(n >> 24), id[29] = (uint8_t)(n >> 16);
	id[30] = (uint8_t)(n >> 8), id[31] = (uint8_t)n;
}

static void id_hex(char out[2 + 2 * RCPT_HASH_BYTES + 1], const uint8_t id[RCPT_HASH_BYTES])
{
	escrow_hex(out, 2 + 2 * RCPT_HASH_BYTES + 1, id, RCPT_HASH_BYTES);
}

/* The job's state as the database holds it; JOB_NONE without a row. */
static enum escrow_job_state state_of(const uint8_t id[RCPT_HASH_BYTES])
{
	char h[2 + 2 * RCPT_HASH_BYTES + 1], bytea[4 + 2 * RCPT_HASH_BYTES];
	const char *p[1] = { bytea };
	enum escrow_job_state s = JOB_NONE;
	PGresult *res;

	id_hex(h, id);
	snprintf(bytea, sizeof(bytea), "\\x%s", h + 2);
	res = PQexecParams(S.raw, "SELECT state FROM escrow_jobs WHERE id = $1", 1, NULL, p,
			   NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
	if (PQntuples(res) == 1)
		cr_assert_eq(escrow_job_state_parse(PQgetvalue(res, 0, 0), &s), 0);
	PQclear(res);
	return s;
}

/* Whether the job's settled_at_s is set. */
static int settled(const uint8_t id[RCPT_HASH_BYTES])
{
	char h[2 + 2 * RCPT_HASH_BYTES + 1], bytea[4 + 2 * RCPT_HASH_BYTES];
	const char *p[1] = { bytea };
	PGresult *res;
	int set;

	id_hex(h, id);
	snprintf(bytea, sizeof(bytea), "\\x%s", h + 2);
	res = PQexecParams(S.raw, "SELECT settled_at_s IS NOT NULL FROM escrow_jobs WHERE id = $1",
			   1, NULL, p, NULL, NULL, 0);
	cr_assert_eq(PQntuples(res), 1, "%s", PQresultErrorMessage(res));
	set = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return set;
}

/* Takes one step through the function of db.c that the escrow uses for it. */
static enum escrow_db_err apply(struct escrow_db *db, const uint8_t id[RCPT_HASH_BYTES],
				enum escrow_job_op op, enum escrow_job_state from)
{
	uint64_t now = (uint64_t)time(NULL);
	struct rcpt_job job;
	struct rcpt_receipt rc;
	uint8_t sig[RCPT_SIG_BYTES] = { 0 }, rid[RCPT_HASH_BYTES];

	switch (op) {
	case JOB_OP_OPEN:
		memset(&job, 0, sizeof(job));
		job.customer[0] = 0xc1;
		job.provider[0] = 0x9e;
		snprintf(job.kernel, sizeof(job.kernel), "matmul");
		rcpt_u256_from_u64(&job.max_price, 1000);
		job.deadline = now + 3600;
		return escrow_db_job_insert(db, id, &job, "{}", sig, "idem", now);
	case JOB_OP_ABANDON:
		return escrow_db_job_delete_opening(db, id);
	case JOB_OP_RECEIPT:
		memset(&rc, 0, sizeof(rc));
		memcpy(rc.job, id, RCPT_HASH_BYTES);
		rcpt_u256_from_u64(&rc.price, 600);
		memcpy(rid, id, RCPT_HASH_BYTES);
		rid[0] ^= 0xff;
		return escrow_db_job_receipt(db, id, rid, &rc, "{}", sig, now, now + 60);
	default:
		return escrow_db_job_step(db, id, op, from, now);
	}
}

/* Brings a fresh job to `want` along the table's shortest path from
 * JOB_NONE, checking every step on the way. */
static void reach(const uint8_t id[RCPT_HASH_BYTES], enum escrow_job_state want)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i;
	int via[JOB_STATE_N], seen[JOB_STATE_N] = { 0 }, path[JOB_STATE_N], len = 0;
	enum escrow_job_state q[JOB_STATE_N], at;
	size_t head = 0, tail = 0;

	seen[JOB_NONE] = 1;
	q[tail++] = JOB_NONE;
	while (head < tail) {
		at = q[head++];
		for (i = 0; i < n; i++)
			if (t[i].from == at && !seen[t[i].to]) {
				seen[t[i].to] = 1;
				via[t[i].to] = (int)i;
				q[tail++] = t[i].to;
			}
	}
	cr_assert(seen[want], "%s is unreachable", escrow_job_state_name(want));
	for (at = want; at != JOB_NONE; at = t[via[at]].from)
		path[len++] = via[at];
	while (len-- > 0) {
		const struct escrow_job_step *st = &t[path[len]];
		cr_assert_eq(apply(&S.a, id, st->op, st->from), ESCROW_DB_OK, "%s from %s",
			     escrow_job_op_name(st->op), escrow_job_state_name(st->from));
		cr_assert_eq(state_of(id), st->to, "%s from %s", escrow_job_op_name(st->op),
			     escrow_job_state_name(st->from));
	}
}

/* Whether any step of the table leads from `from` to `to`. */
static int edge(enum escrow_job_state from, enum escrow_job_state to)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i;

	for (i = 0; i < n; i++)
		if (t[i].from == from && t[i].to == to)
			return 1;
	return 0;
}

Test(escrow_state, the_database_holds_the_table, .init = sdb_setup, .fini = sdb_teardown)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i;
	PGresult *res;

	res = PQexec(S.raw, "SELECT op, from_state, to_state FROM escrow_job_steps");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
	cr_assert_eq((size_t)PQntuples(res), n);
	for (i = 0; i < n; i++) {
		int found = 0;
		for (int k = 0; k < PQntuples(res); k++)
			found += strcmp(PQgetvalue(res, k, 0), escrow_job_op_name(t[i].op)) == 0 &&
				 strcmp(PQgetvalue(res, k, 1), escrow_job_state_name(t[i].from)) == 0 &&
				 strcmp(PQgetvalue(res, k, 2), escrow_job_state_name(t[i].to)) == 0;
		cr_assert_eq(found, 1, "step %zu", i);
	}
	PQclear(res);
	/* A second start rewrites it to the same. */
	cr_assert_eq(escrow_db_migrate(&S.a), ESCROW_DB_OK);
	res = PQexec(S.raw, "SELECT count(*) FROM escrow_job_steps");
	cr_assert_eq((size_t)strtoul(PQgetvalue(res, 0, 0), NULL, 10), n);
	PQclear(res);
}

/* Every (from, to) pair of states, as a raw UPDATE (DELETE for "none") on
 * a job brought to `from` by the table: the trigger lets through exactly
 * the pairs the table has a step for. */
Test(escrow_state, the_database_refuses_every_step_not_in_the_table, .init = sdb_setup,
     .fini = sdb_teardown, .timeout = 60)
{
	unsigned n = 1;
	int from, to;

	for (from = JOB_OPENING; from < JOB_STATE_N; from++)
		for (to = JOB_NONE; to < JOB_STATE_N; to++) {
			uint8_t id[RCPT_HASH_BYTES];
			char h[2 + 2 * RCPT_HASH_BYTES + 1], bytea[4 + 2 * RCPT_HASH_BYTES];
			const char *p[2] = { bytea, escrow_job_state_name((enum escrow_job_state)to) };
			const char *why;
			PGresult *res;
			int ok;

			if (from == to)
				continue;
			job_id(id, n++);
			reach(id, (enum escrow_job_state)from);
			id_hex(h, id);
			snprintf(bytea, sizeof(bytea), "\\x%s", h + 2);
			res = to == JOB_NONE ?
			      PQexecParams(S.raw, "DELETE FROM escrow_jobs WHERE id = $1", 1, NULL, p,
					   NULL, NULL, 0) :
			      PQexecParams(S.raw, "UPDATE escrow_jobs SET state = $2 WHERE id = $1",
					   2, NULL, p, NULL, NULL, 0);
			ok = PQresultStatus(res) == PGRES_COMMAND_OK;
			why = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
			if (edge((enum escrow_job_state)from, (enum escrow_job_state)to))
				cr_assert(ok || (why && strcmp(why, "escrow_jobs_follow_steps") != 0),
					  "%s -> %s is a step but was refused: %s",
					  escrow_job_state_name(from), escrow_job_state_name(to),
					  PQresultErrorMessage(res));
			else
				cr_assert(!ok && why && strcmp(why, "escrow_jobs_follow_steps") == 0,
					  "%s -> %s is no step but %s", escrow_job_state_name(from),
					  escrow_job_state_name(to),
					  ok ? "went through" : PQresultErrorMessage(res));
			cr_assert_eq(state_of(id), ok ? to : from);
			PQclear(res);
		}
	/* A row is born only as the table's first step says. */
	for (to = JOB_OPEN; to < JOB_STATE_N; to++) {
		const char *p[1] = { escrow_job_state_name((enum escrow_job_state)to) };
		PGresult *res = PQexecParams(S.raw,
			"INSERT INTO escrow_jobs (id, customer, provider, kernel, job_json, job_sig,"
			" max_price, deadline_s, state, opened_at_s, receipt_id, price, window_end_s)"
			" VALUES (decode('ee' || repeat('00', 31), 'hex'), decode(repeat('01', 20), 'hex'),"
			" decode(repeat('02', 20), 'hex'), 'matmul', '{}', decode(repeat('00', 65), 'hex'),"
			" 1, 1, $1, 1, decode(repeat('03', 32), 'hex'), 1, 2)", 1, NULL, p, NULL, NULL, 0);
		const char *why = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
		cr_assert(PQresultStatus(res) != PGRES_COMMAND_OK && why &&
			  strcmp(why, "escrow_jobs_follow_steps") == 0, "a row born %s: %s",
			  p[0], PQresultErrorMessage(res));
		PQclear(res);
	}
}

/* Every step of the table through db.c: it takes the job where the table
 * says, sets settled_at_s exactly on the ends, and a second try of the
 * same step finds the job gone from `from`. */
Test(escrow_state, every_step_through_the_database_layer, .init = sdb_setup,
     .fini = sdb_teardown, .timeout = 60)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i;

	for (i = 0; i < n; i++) {
		uint8_t id[RCPT_HASH_BYTES];
		enum escrow_db_err rc;

		if (t[i].from == t[i].to || t[i].from == JOB_NONE || t[i].to == JOB_NONE)
			continue;
		job_id(id, 1000 + (unsigned)i);
		reach(id, t[i].from);
		cr_assert_eq(apply(&S.a, id, t[i].op, t[i].from), ESCROW_DB_OK);
		cr_assert_eq(state_of(id), t[i].to);
		cr_assert_eq(settled(id), escrow_job_final(t[i].to), "%s from %s",
			     escrow_job_op_name(t[i].op), escrow_job_state_name(t[i].from));
		rc = apply(&S.a, id, t[i].op, t[i].from);
		cr_assert_eq(rc, ESCROW_DB_CONFLICT, "%s from %s twice: %d",
			     escrow_job_op_name(t[i].op), escrow_job_state_name(t[i].from), rc);
		cr_assert_eq(state_of(id), t[i].to);
	}
}

/* ---------------------------------------------------------------- races */

struct racer {
	struct escrow_db *db;
	const uint8_t *id;
	enum escrow_job_op op;
	enum escrow_job_state from;
	pthread_barrier_t *go;
	enum escrow_db_err rc;
};

static void *racer_main(void *arg)
{
	struct racer *r = arg;

	pthread_barrier_wait(r->go);
	r->rc = apply(r->db, r->id, r->op, r->from);
	return NULL;
}

/* For every state and every ordered pair of two different steps that
 * leave it: in turn, the first wins and the second finds the job gone;
 * at once (the HTTP session against the settlement session, released
 * together), exactly one wins and the job is where the winner's step
 * leads.  Steps that keep the state (an attestation) race nothing; the
 * abandoned opening (a DELETE) is left out: its answer does not say
 * whether it deleted. */
Test(escrow_state, two_steps_racing_from_one_state_one_wins, .init = sdb_setup,
     .fini = sdb_teardown, .timeout = 90)
{
	const struct escrow_job_step *t;
	size_t n = escrow_job_steps(&t), i, k;
	unsigned nonce = 5000, pairs = 0;
	int round;

	for (i = 0; i < n; i++)
		for (k = 0; k < n; k++) {
			const struct escrow_job_step *x = &t[i], *y = &t[k];
			if (i == k || x->from != y->from || x->from == JOB_NONE ||
			    x->to == x->from || y->to == y->from || x->to == JOB_NONE ||
			    y->to == JOB_NONE)
				continue;
			pairs++;
			for (round = 0; round < 2; round++) {
				uint8_t id[RCPT_HASH_BYTES];
				job_id(id, nonce++);
				reach(id, x->from);
				if (round == 0) {
					cr_assert_eq(apply(&S.a, id, x->op, x->from), ESCROW_DB_OK);
					cr_assert_eq(apply(&S.b, id, y->op, y->from), ESCROW_DB_CONFLICT,
						     "%s after %s from %s", escrow_job_op_name(y->op),
						     escrow_job_op_name(x->op),
						     escrow_job_state_name(x->from));
					cr_assert_eq(state_of(id), x->to);
					continue;
				}
				pthread_barrier_t go;
				pthread_t ta, tb;
				struct racer ra = { &S.a, id, x->op, x->from, &go, ESCROW_DB_FAIL };
				struct racer rb = { &S.b, id, y->op, y->from, &go, ESCROW_DB_FAIL };
				pthread_barrier_init(&go, NULL, 2);
				pthread_create(&ta, NULL, racer_main, &ra);
				pthread_create(&tb, NULL, racer_main, &rb);
				pthread_join(ta, NULL);
				pthread_join(tb, NULL);
				pthread_barrier_destroy(&go);
				cr_assert((ra.rc == ESCROW_DB_OK) != (rb.rc == ESCROW_DB_OK),
					  "%s vs %s from %s: %d and %d", escrow_job_op_name(x->op),
					  escrow_job_op_name(y->op), escrow_job_state_name(x->from),
					  ra.rc, rb.rc);
				cr_assert((ra.rc == ESCROW_DB_CONFLICT) != (rb.rc == ESCROW_DB_CONFLICT));
				cr_assert_eq(state_of(id), ra.rc == ESCROW_DB_OK ? x->to : y->to);
			}
		}
	/* open: receipt, fail, deadline; receipted: claim, withheld, accept,
	 * window closed; disputed: cleared, upheld; opening has one. */
	cr_assert_eq(pairs, 3 * 2 + 4 * 3 + 2 * 1, "%u pairs", pairs);
}

/* ---------------------------------------------------------------- disputes */

/* docs/escrow.md, "A dispute's life", as (kind, operation, from, to). */
static const char *const dispute_documented[][4] = {
	{ "fraud", "file", "none", "open" },            /* verdict 2 */
	{ "fraud", "uphold", "open", "provider_wrong" },
	{ "fraud", "reject", "open", "validator_wrong" },
	{ "fraud", "moot", "open", "moot" },
	{ "withheld", "file", "none", "open" },         /* POST .../withheld */
	{ "withheld", "uphold", "open", "provider_wrong" },  /* input not produced */
	{ "withheld", "recover", "open", "input_recovered" },
	{ "withheld", "moot", "open", "moot" },
};
#define N_DISPUTE_DOCUMENTED (sizeof(dispute_documented) / sizeof(dispute_documented[0]))

static enum escrow_dispute_state dst_named(const char *name)
{
	enum escrow_dispute_state s;

	if (strcmp(name, "none") == 0)
		return DISPUTE_NONE;
	cr_assert_eq(escrow_dispute_state_parse(name, &s), 0, "state %s", name);
	return s;
}

static enum escrow_dispute_op dop_named(const char *name)
{
	for (int op = 0; op < DISPUTE_OP_N; op++)
		if (strcmp(escrow_dispute_op_name((enum escrow_dispute_op)op), name) == 0)
			return (enum escrow_dispute_op)op;
	cr_assert_fail("no dispute operation %s", name);
	return DISPUTE_OP_N;
}

Test(escrow_state, the_dispute_table_is_the_documented_life)
{
	const struct escrow_dispute_step *t;
	size_t n = escrow_dispute_steps(&t), i;

	cr_assert_eq(n, N_DISPUTE_DOCUMENTED);
	for (int k = 0; k < DISPUTE_KIND_N; k++)
		for (int op = 0; op < DISPUTE_OP_N; op++)
			for (int s = 0; s < DISPUTE_STATE_N; s++) {
				enum escrow_dispute_state to = DISPUTE_NONE;
				const char *want = NULL;
				for (i = 0; i < N_DISPUTE_DOCUMENTED; i++)
					if (strcmp(dispute_documented[i][0],
						   escrow_dispute_kind_name((enum escrow_dispute_kind)k)) == 0 &&
					    dop_named(dispute_documented[i][1]) == (enum escrow_dispute_op)op &&
					    dst_named(dispute_documented[i][2]) == (enum escrow_dispute_state)s)
						want = dispute_documented[i][3];
				cr_assert_eq(escrow_dispute_next((enum escrow_dispute_kind)k,
								 (enum escrow_dispute_op)op,
								 (enum escrow_dispute_state)s, &to),
					     want != NULL, "%s %s from %s",
					     escrow_dispute_kind_name((enum escrow_dispute_kind)k),
					     escrow_dispute_op_name((enum escrow_dispute_op)op),
					     escrow_dispute_state_name((enum escrow_dispute_state)s));
				if (want)
					cr_assert_eq(to, dst_named(want));
			}
	/* Every decided state is final; only open may still slash a claimant
	 * besides a decision against it. */
	for (int s = DISPUTE_PROVIDER_WRONG; s < DISPUTE_STATE_N; s++)
		cr_assert(escrow_dispute_final((enum escrow_dispute_state)s));
	cr_assert_not(escrow_dispute_final(DISPUTE_OPEN));
	cr_assert_not(escrow_dispute_final(DISPUTE_NONE));
	cr_assert(escrow_dispute_may_slash_claimant(DISPUTE_OPEN));
	cr_assert(escrow_dispute_may_slash_claimant(DISPUTE_VALIDATOR_WRONG));
	cr_assert_not(escrow_dispute_may_slash_claimant(DISPUTE_PROVIDER_WRONG));
	cr_assert_not(escrow_dispute_may_slash_claimant(DISPUTE_MOOT));
	cr_assert_not(escrow_dispute_may_slash_claimant(DISPUTE_INPUT_RECOVERED));
}

/* The dispute table in escrow_dispute_steps, and its trigger: on a
 * withholding report of a receipted job, every (from, to) pair as a raw
 * UPDATE goes through exactly when the table has a step for it. */
Test(escrow_state, the_database_holds_and_enforces_the_dispute_table, .init = sdb_setup,
     .fini = sdb_teardown, .timeout = 60)
{
	const struct escrow_dispute_step *t;
	size_t n = escrow_dispute_steps(&t), i;
	uint8_t id[RCPT_HASH_BYTES], who[RCPT_ADDR_BYTES];
	char h[2 + 2 * RCPT_HASH_BYTES + 1], bytea[4 + 2 * RCPT_HASH_BYTES];
	PGresult *res;
	unsigned k = 900;

	res = PQexec(S.raw, "SELECT kind, op, from_state, to_state FROM escrow_dispute_steps");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
	cr_assert_eq((size_t)PQntuples(res), n);
	for (i = 0; i < n; i++) {
		int found = 0;
		for (int r = 0; r < PQntuples(res); r++)
			found += strcmp(PQgetvalue(res, r, 0), escrow_dispute_kind_name(t[i].kind)) == 0 &&
				 strcmp(PQgetvalue(res, r, 1), escrow_dispute_op_name(t[i].op)) == 0 &&
				 strcmp(PQgetvalue(res, r, 2), escrow_dispute_state_name(t[i].from)) == 0 &&
				 strcmp(PQgetvalue(res, r, 3), escrow_dispute_state_name(t[i].to)) == 0;
		cr_assert_eq(found, 1, "dispute step %zu", i);
	}
	PQclear(res);
	memset(who, 0x77, sizeof(who));
	for (int from = DISPUTE_OPEN; from < DISPUTE_STATE_N; from++)
		for (int to = DISPUTE_OPEN; to < DISPUTE_STATE_N; to++) {
			const char *p[3] = { bytea, escrow_dispute_state_name((enum escrow_dispute_state)from),
					     escrow_dispute_state_name((enum escrow_dispute_state)to) };
			int want = from == to, ok;
			const char *why;

			int reached = from == DISPUTE_OPEN;

			for (i = 0; i < n; i++) {
				want |= t[i].kind == DISPUTE_WITHHELD && (int)t[i].from == from &&
					(int)t[i].to == to;
				reached |= t[i].kind == DISPUTE_WITHHELD && (int)t[i].to == from;
			}
			if (!reached)
				continue;   /* no withholding report is ever in `from` */
			job_id(id, k++);
			reach(id, JOB_RECEIPTED);
			cr_assert_eq(escrow_db_dispute_insert_withheld(&S.a, id, who, 1), ESCROW_DB_OK);
			id_hex(h, id);
			snprintf(bytea, sizeof(bytea), "\\x%s", h + 2);
			if (from != DISPUTE_OPEN) {
				/* Brought to `from` behind the trigger's back. */
				pgt_exec(S.raw, "ALTER TABLE escrow_disputes DISABLE TRIGGER escrow_disputes_follow_steps");
				res = PQexecParams(S.raw, "UPDATE escrow_disputes SET state = $2, slash_amount = 0,"
						   " bounty = 0 WHERE job = $1", 2, NULL, p, NULL, NULL, 0);
				cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s",
					     PQresultErrorMessage(res));
				PQclear(res);
				pgt_exec(S.raw, "ALTER TABLE escrow_disputes ENABLE TRIGGER escrow_disputes_follow_steps");
			}
			res = PQexecParams(S.raw, "UPDATE escrow_disputes SET state = $3, slash_amount = 0,"
					   " bounty = 0 WHERE job = $1 AND state = $2", 3, NULL, p, NULL, NULL, 0);
			ok = PQresultStatus(res) == PGRES_COMMAND_OK;
			why = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
			if (want)
				cr_assert(ok, "withheld %s -> %s is a step but was refused: %s", p[1], p[2],
					  PQresultErrorMessage(res));
			else
				cr_assert(!ok && why && (strcmp(why, "escrow_disputes_follow_steps") == 0 ||
							 strcmp(why, "escrow_disputes_kind_outcome") == 0),
					  "withheld %s -> %s is no step but %s", p[1], p[2],
					  ok ? "went through" : PQresultErrorMessage(res));
			PQclear(res);
		}
	/* Born open only; never deleted. */
	job_id(id, k++);
	reach(id, JOB_RECEIPTED);
	id_hex(h, id);
	snprintf(bytea, sizeof(bytea), "\\x%s", h + 2);
	{
		const char *p[1] = { bytea };
		res = PQexecParams(S.raw, "INSERT INTO escrow_disputes (job, validator, kind, state,"
				   " opened_at_s, slash_amount, bounty) VALUES ($1, '\\x01', 'withheld',"
				   " 'provider_wrong', 1, 0, 0)", 1, NULL, p, NULL, NULL, 0);
		cr_assert_neq(PQresultStatus(res), PGRES_COMMAND_OK, "born decided");
		cr_assert_str_eq(PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME),
				 "escrow_disputes_follow_steps");
		PQclear(res);
		cr_assert_eq(escrow_db_dispute_insert_withheld(&S.a, id, who, 1), ESCROW_DB_OK);
		res = PQexecParams(S.raw, "DELETE FROM escrow_disputes WHERE job = $1", 1, NULL, p,
				   NULL, NULL, 0);
		cr_assert_neq(PQresultStatus(res), PGRES_COMMAND_OK, "deleted");
		cr_assert_str_eq(PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME),
				 "escrow_disputes_follow_steps");
		PQclear(res);
	}
}

/* The referee's walk through the open disputes: pages of at most max in
 * opening order, then back to the start, so that every dispute comes up
 * whatever the first ones do. */
Test(escrow_state, open_disputes_are_walked_in_turn, .init = sdb_setup, .fini = sdb_teardown)
{
	struct escrow_dispute d[4];
	struct escrow_dispute_cursor cur;
	uint8_t id[6][RCPT_HASH_BYTES], who[RCPT_ADDR_BYTES];
	size_t n = 0, i;

	memset(&cur, 0, sizeof(cur));
	memset(who, 0x42, sizeof(who));
	for (i = 0; i < 6; i++) {
		job_id(id[i], 2000 + (unsigned)i);
		reach(id[i], JOB_RECEIPTED);
		cr_assert_eq(escrow_db_dispute_insert_withheld(&S.a, id[i], who, 10 + i), ESCROW_DB_OK);
	}
	cr_assert_eq(escrow_db_disputes_open_page(&S.a, d, &n, 4, &cur), ESCROW_DB_OK);
	cr_assert_eq(n, 4);
	for (i = 0; i < n; i++) {
		cr_assert_arr_eq(d[i].job, id[i], RCPT_HASH_BYTES, "page 1 row %zu", i);
		cr_assert_eq(d[i].kind, DISPUTE_WITHHELD);
		cr_assert_eq(d[i].state, DISPUTE_OPEN);
		escrow_dispute_release(&d[i]);
	}
	cr_assert(cur.set);
	cr_assert_eq(escrow_db_disputes_open_page(&S.a, d, &n, 4, &cur), ESCROW_DB_OK);
	cr_assert_eq(n, 2);
	for (i = 0; i < n; i++) {
		cr_assert_arr_eq(d[i].job, id[4 + i], RCPT_HASH_BYTES, "page 2 row %zu", i);
		escrow_dispute_release(&d[i]);
	}
	cr_assert_not(cur.set, "a short page starts the walk again");
	cr_assert_eq(escrow_db_disputes_open_page(&S.a, d, &n, 4, &cur), ESCROW_DB_OK);
	cr_assert_eq(n, 4);
	cr_assert_arr_eq(d[0].job, id[0], RCPT_HASH_BYTES);
	for (i = 0; i < n; i++)
		escrow_dispute_release(&d[i]);
}
