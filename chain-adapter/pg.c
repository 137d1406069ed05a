/*
 * pg.c: the PostgreSQL double-entry ledger behind struct chain.
 *
 * Invariants of a `struct pg_chain`:
 * - `db` is its session (pgdb/pgdb.h): a session whose server went away
 *   is reset before use, statements are prepared on first use, and the
 *   transaction runner retries serialisation failures and deadlocks;
 * - every call that moves money is one transaction that first locks the
 *   single ledger_head row: writers are serialized, so each sees the
 *   balances the previous one committed, transfer sequence numbers are
 *   dense and handed out in commit order, and no two transactions wait
 *   for each other in different orders (the head is the only lock taken
 *   first; everything else is touched while holding it);
 * - a refusal rolls the whole transaction back: nothing changes;
 * - amounts cross libpq as canonical decimal text (rcpt_u256_format and
 *   rcpt_u256_parse); every sum and difference is computed by SQL NUMERIC;
 *   balances are bounded by CHECK constraints, whose violations are the
 *   refusals CHAIN_ERR_INSUFFICIENT and CHAIN_ERR_OVERFLOW.
 *
 * All SQL of the ledger is in one block below (GNU Taler's habit): the
 * PG_SQL_* texts and pg_sql[], the statements a session prepares; the
 * statement rules keep theirs in pg_rules.c, which moves money only
 * through the bodies this file lends it (pg_internal.h); the schema is
 * in the embedded migrations.  Every value is a parameter
 * (PQexecPrepared / PQexecParams); no SQL is ever built from strings.
 * docs/ledger.md explains the schema.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "chain.h"
#include "pgdb.h"
#include "pg_internal.h"
#include "banned.h"

/* ------------------------------------------------------------------ */
/* The statements                                                       */

enum pg_stmt {
	PG_HEAD_LOCK,
	PG_ACCOUNT_OWNER,
	PG_ACCOUNT_JOB,
	PG_ACCOUNT_SYSTEM,
	PG_MOVE,
	PG_BALANCE,
	PG_UNBOND_ADD,
	PG_UNBOND_DUE,
	PG_UNBOND_TAKE,
	PG_JOB_EXISTS,
	PG_STAKE_AT_LEAST,
	PG_JOB_INSERT,
	PG_JOB_GET,
	PG_JOB_SETTLE,
	PG_LOCK_EMPTY,
	PG_SLASH_SEEN,
	PG_SLASH_PLAN,
	PG_SLASH_INSERT,
	PG_EVENTS,
	PG_INVARIANTS,
	PG_OP_CLAIM,
	PG_HEAD_CREATE,
	PG_HEAD_CHAIN_ID,
	PG_RULE_JOB,
	PG_RULES_BACKING,
	PG_STMT_COUNT_
};

/* Account of an owner, created at zero on first use. */
#define PG_SQL_ACCOUNT_OWNER                                                   \
	"WITH ins AS (INSERT INTO accounts (kind, owner) "                     \
	"  VALUES ($1::account_kind, $2::bytea) "                              \
	"  ON CONFLICT (owner, kind) WHERE owner IS NOT NULL DO NOTHING "      \
	"  RETURNING id) "                                                     \
	"SELECT id FROM ins UNION ALL "                                        \
	"SELECT id FROM accounts WHERE owner = $2::bytea AND kind = $1::account_kind"

/* One transfer: next sequence number, both balances, the row.  A CHECK
 * on accounts refuses a balance out of range (the whole transaction
 * then rolls back). */
#define PG_SQL_MOVE                                                            \
	"WITH h AS (UPDATE ledger_head SET seq = seq + 1 RETURNING seq), "     \
	"f AS (UPDATE accounts SET balance = balance - $3::numeric "           \
	"  WHERE id = $1::bigint RETURNING id), "                              \
	"t AS (UPDATE accounts SET balance = balance + $3::numeric "           \
	"  WHERE id = $2::bigint RETURNING id) "                               \
	"INSERT INTO transfers (seq, kind, from_account, to_account, amount, job, at_s) " \
	"SELECT h.seq, $4::transfer_kind, f.id, t.id, $3::numeric, $5::bytea, $6::bigint " \
	"FROM h, f, t"

#define PG_SQL_BALANCE                                                         \
	"SELECT coalesce((SELECT balance FROM accounts "                       \
	"    WHERE owner = $1::bytea AND kind = 'available'), 0)::text, "      \
	"  coalesce((SELECT balance FROM accounts "                            \
	"    WHERE owner = $1::bytea AND kind = 'stake'), 0)::text, "          \
	"  coalesce((SELECT balance FROM accounts "                            \
	"    WHERE owner = $1::bytea AND kind = 'unbonding'), 0)::text, "      \
	"  coalesce((SELECT min(release_at_s) FROM unbonding "                 \
	"    WHERE owner = $1::bytea), 0)"

/* Unbonding entries of $1, latest release first, reduced by $2 in all;
 * returns whether exactly $2 was taken. */
#define PG_SQL_UNBOND_TAKE                                                     \
	"WITH e AS (SELECT id, amount, sum(amount) OVER "                      \
	"    (ORDER BY release_at_s DESC, id DESC) AS run "                    \
	"  FROM unbonding WHERE owner = $1::bytea), "                          \
	"k AS (SELECT id, amount, LEAST(amount, $2::numeric - (run - amount)) AS t " \
	"  FROM e WHERE run - amount < $2::numeric), "                         \
	"d AS (DELETE FROM unbonding WHERE id IN "                             \
	"  (SELECT id FROM k WHERE t = amount) RETURNING amount), "            \
	"u AS (UPDATE unbonding SET amount = unbonding.amount - k.t FROM k "   \
	"  WHERE unbonding.id = k.id AND k.t < k.amount RETURNING k.t) "       \
	"SELECT coalesce((SELECT sum(amount) FROM d), 0) "                     \
	"  + coalesce((SELECT sum(t) FROM u), 0) = $2::numeric"

/* State of job $1, how a settlement paying $2 splits its lock, and
 * whether the statement rules keep the job (003_rules.sql). */
#define PG_SQL_JOB_GET                                                         \
	"SELECT j.state::text, '0x' || encode(j.customer, 'hex'), "            \
	"  '0x' || encode(j.provider, 'hex'), $2::numeric <= j.max_price, "    \
	"  GREATEST(j.max_price - $2::numeric, 0)::text, "                     \
	"  coalesce(a.balance = j.max_price, false), "                         \
	"  EXISTS (SELECT 1 FROM rule_jobs r WHERE r.job = j.job) "            \
	"FROM jobs j LEFT JOIN accounts a ON a.kind = 'lock' AND a.job = j.job " \
	"WHERE j.job = $1::bytea FOR UPDATE OF j"

/* How a slash of $2 with bounty $3 splits between offender $1's stake
 * and unbonding: enough?, bounty from stake, kept from stake, bounty
 * from unbonding, kept from unbonding, all from unbonding. */
#define PG_SQL_SLASH_PLAN                                                      \
	"WITH b AS (SELECT "                                                   \
	"  coalesce((SELECT balance FROM accounts "                            \
	"    WHERE owner = $1::bytea AND kind = 'stake'), 0) AS stake, "       \
	"  coalesce((SELECT balance FROM accounts "                            \
	"    WHERE owner = $1::bytea AND kind = 'unbonding'), 0) AS unb), "    \
	"s AS (SELECT stake + unb >= $2::numeric AS enough, "                  \
	"  LEAST(stake, $2::numeric) AS fs FROM b), "                          \
	"p AS (SELECT enough, fs, $2::numeric - fs AS fu, "                    \
	"  LEAST($3::numeric, fs) AS bs FROM s) "                              \
	"SELECT enough, bs::text, (fs - bs)::text, ($3::numeric - bs)::text, " \
	"  (fu - ($3::numeric - bs))::text, fu::text FROM p"

#define PG_SQL_EVENTS                                                          \
	"SELECT t.seq, t.kind::text, "                                         \
	"  coalesce('0x' || encode(f.owner, 'hex'), ''), "                     \
	"  coalesce('0x' || encode(o.owner, 'hex'), ''), "                     \
	"  coalesce('0x' || encode(t.job, 'hex'), ''), t.amount::text, t.at_s " \
	"FROM transfers t JOIN accounts f ON f.id = t.from_account "           \
	"  JOIN accounts o ON o.id = t.to_account "                            \
	"WHERE t.seq > $1::bigint ORDER BY t.seq LIMIT $2::bigint"

/* The invariants: each query returns (holds, detail). */
#define PG_SQL_INV_I1                                                          \
	"SELECT coalesce(sum(balance), 0) = 0, "                               \
	"  'the accounts sum to ' || coalesce(sum(balance), 0)::text FROM accounts"

#define PG_SQL_INV_I2                                                          \
	"SELECT count(*) = 0, 'account ' || coalesce(min(id)::text, '') || "   \
	"  ' is negative' FROM accounts "                                      \
	"WHERE (kind <> 'world' AND balance < 0) OR (kind = 'world' AND balance > 0)"

#define PG_SQL_INV_I3_LOCKS                                                    \
	"SELECT count(*) = 0, 'job 0x' || coalesce(encode((array_agg(j.job))[1], 'hex'), '') " \
	"  || ' has no lock account or a settled lock not empty' "             \
	"FROM jobs j LEFT JOIN accounts a ON a.kind = 'lock' AND a.job = j.job " \
	"WHERE a.id IS NULL OR (j.state <> 'open' AND a.balance <> 0)"

#define PG_SQL_INV_I3_TRANSFERS                                                \
	"WITH x AS (SELECT j.job, j.state, j.max_price, j.price, "             \
	"  count(t.seq) FILTER (WHERE t.kind = 'lock') AS nl, "                \
	"  coalesce(sum(t.amount) FILTER (WHERE t.kind = 'lock'), 0) AS locked, " \
	"  count(t.seq) FILTER (WHERE t.kind = 'pay') AS np, "                 \
	"  coalesce(sum(t.amount) FILTER (WHERE t.kind = 'pay'), 0) AS paid, " \
	"  count(t.seq) FILTER (WHERE t.kind = 'return') AS nr, "              \
	"  coalesce(sum(t.amount) FILTER (WHERE t.kind = 'return'), 0) AS returned " \
	"  FROM jobs j LEFT JOIN transfers t ON t.job = j.job "                \
	"    AND t.kind IN ('lock', 'pay', 'return') GROUP BY j.job) "         \
	"SELECT count(*) = 0, 'job 0x' || coalesce(encode((array_agg(job))[1], 'hex'), '') " \
	"  || ' was locked or settled other than once' FROM x "                \
	"WHERE NOT (nl <= 1 AND np <= 1 AND nr <= 1 AND locked = max_price AND " \
	"  CASE state WHEN 'open' THEN np = 0 AND nr = 0 "                     \
	"    WHEN 'released' THEN paid = price AND paid + returned = max_price " \
	"    ELSE np = 0 AND returned = max_price END)"

#define PG_SQL_INV_I3_ORPHANS                                                  \
	"SELECT count(*) = 0, 'transfer ' || coalesce(min(t.seq)::text, '') "  \
	"  || ' is about a job never locked' FROM transfers t "                \
	"WHERE t.kind IN ('lock', 'pay', 'return') AND NOT EXISTS "            \
	"  (SELECT 1 FROM jobs j WHERE j.job = t.job)"

#define PG_SQL_INV_I4                                                          \
	"WITH l AS (SELECT coalesce(sum(balance), 0) AS s FROM accounts WHERE kind = 'lock'), " \
	"o AS (SELECT coalesce(sum(max_price), 0) AS s FROM jobs WHERE state = 'open') " \
	"SELECT l.s = o.s, 'the locks hold ' || l.s::text || ', the open jobs ' " \
	"  || o.s::text FROM l, o"

#define PG_SQL_INV_I5_SEQ                                                      \
	"SELECT count(*) = coalesce(max(seq), 0) AND "                         \
	"  coalesce(max(seq), 0) = (SELECT seq FROM ledger_head), "            \
	"  count(*)::text || ' transfers, last seq ' || coalesce(max(seq), 0)::text " \
	"  || ', head ' || (SELECT seq FROM ledger_head)::text FROM transfers"

#define PG_SQL_INV_I5_REPLAY                                                   \
	"WITH d AS (SELECT to_account AS id, amount AS delta FROM transfers "  \
	"  UNION ALL SELECT from_account, -amount FROM transfers), "           \
	"s AS (SELECT id, sum(delta) AS net FROM d GROUP BY id) "              \
	"SELECT count(*) = 0, 'account ' || coalesce(min(a.id)::text, '') "    \
	"  || ' differs from the sum of its transfers' "                       \
	"FROM accounts a LEFT JOIN s ON s.id = a.id WHERE a.balance <> coalesce(s.net, 0)"

#define PG_SQL_INV_I5_KINDS                                                    \
	"SELECT count(*) = 0, 'transfer ' || coalesce(min(t.seq)::text, '') "  \
	"  || ' moves between the wrong accounts for its kind' "               \
	"FROM transfers t JOIN accounts f ON f.id = t.from_account "           \
	"  JOIN accounts o ON o.id = t.to_account LEFT JOIN jobs j ON j.job = t.job " \
	"WHERE NOT coalesce(CASE t.kind "                                      \
	"  WHEN 'deposit' THEN f.kind = 'world' AND o.kind = 'available' "     \
	"  WHEN 'withdraw' THEN f.kind = 'available' AND o.kind = 'world' "    \
	"  WHEN 'stake' THEN f.kind = 'available' AND o.kind = 'stake' AND f.owner = o.owner " \
	"  WHEN 'unstake' THEN f.kind = 'stake' AND o.kind = 'unbonding' AND f.owner = o.owner " \
	"  WHEN 'unbond' THEN f.kind = 'unbonding' AND o.kind = 'available' AND f.owner = o.owner " \
	"  WHEN 'lock' THEN f.kind = 'available' AND f.owner = j.customer "    \
	"    AND o.kind = 'lock' AND o.job = t.job "                           \
	"  WHEN 'pay' THEN f.kind = 'lock' AND f.job = t.job "                 \
	"    AND o.kind = 'available' AND o.owner = j.provider "               \
	"  WHEN 'return' THEN f.kind = 'lock' AND f.job = t.job "              \
	"    AND o.kind = 'available' AND o.owner = j.customer "               \
	"  WHEN 'slash_bounty' THEN f.kind IN ('stake', 'unbonding') AND o.kind = 'available' " \
	"  WHEN 'slash_keep' THEN f.kind IN ('stake', 'unbonding') AND o.kind = 'treasury' " \
	"  END, false)"

#define PG_SQL_INV_I5_UNBONDING                                                \
	"WITH e AS (SELECT owner, sum(amount) AS s FROM unbonding GROUP BY owner), " \
	"a AS (SELECT owner, balance FROM accounts WHERE kind = 'unbonding') " \
	"SELECT count(*) = 0, 'unbonding of 0x' || "                           \
	"  coalesce(encode((array_agg(coalesce(a.owner, e.owner)))[1], 'hex'), '') " \
	"  || ' differs from its entries' "                                    \
	"FROM a FULL JOIN e ON a.owner = e.owner "                             \
	"WHERE coalesce(a.balance, 0) <> coalesce(e.s, 0)"

#define PG_SQL_INV_I5_SLASHES                                                  \
	"WITH t AS (SELECT coalesce(sum(amount), 0) AS total, "                \
	"  coalesce(sum(amount) FILTER (WHERE kind = 'slash_bounty'), 0) AS bounty " \
	"  FROM transfers WHERE kind IN ('slash_bounty', 'slash_keep')), "     \
	"s AS (SELECT coalesce(sum(amount), 0) AS total, "                     \
	"  coalesce(sum(bounty), 0) AS bounty FROM slashes) "                  \
	"SELECT t.total = s.total AND t.bounty = s.bounty, "                   \
	"  'slash transfers move ' || t.total::text || ', the slashes say ' "  \
	"  || s.total::text FROM t, s"

/* I6: a statement job's rule state agrees with its ledger row (1-3
 * open, 4 released at the receipt's price, 5 refunded) and its dispute
 * counts with its disputes. */
#define PG_SQL_INV_I6                                                          \
	"WITH d AS (SELECT job, count(*) AS n, "                               \
	"  count(*) FILTER (WHERE state = 1) AS o FROM rule_disputes GROUP BY job) " \
	"SELECT count(*) = 0, 'statement job 0x' || "                          \
	"  coalesce(encode((array_agg(r.job))[1], 'hex'), '') "                \
	"  || ' disagrees with its ledger row or its disputes' "               \
	"FROM rule_jobs r JOIN jobs j ON j.job = r.job LEFT JOIN d ON d.job = r.job " \
	"WHERE NOT (CASE WHEN r.state <= 3 THEN j.state = 'open' "             \
	"    WHEN r.state = 4 THEN j.state = 'released' AND j.price = r.price " \
	"    ELSE j.state = 'refunded' END "                                   \
	"  AND coalesce(r.price <= j.max_price, true) "                        \
	"  AND r.open_disputes = coalesce(d.o, 0) AND r.disputants = coalesce(d.n, 0))"

/* All the checks in one statement: one snapshot (concurrent writers
 * cannot make a sound ledger look broken), one round trip; the first
 * check that fails, if any, in the order above. */
#define PG_INV(k, label, q)                                                    \
	"SELECT " #k " AS k, '" label "' AS label, ok, detail FROM ("          \
	q ") AS c" #k " (ok, detail)"
#define PG_SQL_INVARIANTS                                                      \
	"SELECT label, detail FROM ("                                          \
	PG_INV(1, "I1", PG_SQL_INV_I1) " UNION ALL "                           \
	PG_INV(2, "I2", PG_SQL_INV_I2) " UNION ALL "                           \
	PG_INV(3, "I3", PG_SQL_INV_I3_LOCKS) " UNION ALL "                     \
	PG_INV(4, "I3", PG_SQL_INV_I3_TRANSFERS) " UNION ALL "                 \
	PG_INV(5, "I3", PG_SQL_INV_I3_ORPHANS) " UNION ALL "                   \
	PG_INV(6, "I4", PG_SQL_INV_I4) " UNION ALL "                           \
	PG_INV(7, "I5", PG_SQL_INV_I5_SEQ) " UNION ALL "                       \
	PG_INV(8, "I5", PG_SQL_INV_I5_REPLAY) " UNION ALL "                    \
	PG_INV(9, "I5", PG_SQL_INV_I5_KINDS) " UNION ALL "                     \
	PG_INV(10, "I5", PG_SQL_INV_I5_UNBONDING) " UNION ALL "                \
	PG_INV(11, "I5", PG_SQL_INV_I5_SLASHES) " UNION ALL "                  \
	PG_INV(12, "I6", PG_SQL_INV_I6)                                        \
	") AS inv WHERE NOT ok ORDER BY k LIMIT 1"

/* Opening: the head row of this chain id. */
#define PG_SQL_HEAD_CREATE \
	"INSERT INTO ledger_head (chain_id) VALUES ($1::numeric) " \
	"ON CONFLICT (one) DO NOTHING"
#define PG_SQL_HEAD_CHAIN_ID \
	"SELECT chain_id::text FROM ledger_head"

static const struct pgdb_stmt pg_sql[PG_STMT_COUNT_] = {
	[PG_HEAD_LOCK] = { "head_lock",
		"SELECT seq FROM ledger_head FOR UPDATE" },
	[PG_ACCOUNT_OWNER] = { "account_owner", PG_SQL_ACCOUNT_OWNER },
	[PG_ACCOUNT_JOB] = { "account_job",
		"WITH ins AS (INSERT INTO accounts (kind, job) VALUES ('lock', $1::bytea) "
		"  ON CONFLICT (job) WHERE job IS NOT NULL DO NOTHING RETURNING id) "
		"SELECT id FROM ins UNION ALL "
		"SELECT id FROM accounts WHERE job = $1::bytea AND kind = 'lock'" },
	[PG_ACCOUNT_SYSTEM] = { "account_system",
		"SELECT id FROM accounts WHERE kind = $1::account_kind" },
	[PG_MOVE] = { "move", PG_SQL_MOVE },
	[PG_BALANCE] = { "balance", PG_SQL_BALANCE },
	/* 'new' (recorded now), 'done' (the same movement before) or
	 * 'reused' (the id named another movement). */
	[PG_OP_CLAIM] = { "op_claim",
		"WITH ins AS (INSERT INTO ledger_ops (op, kind, who, amount, at_s) "
		"  VALUES ($1::bytea, $2::text, $3::bytea, $4::numeric, $5::bigint) "
		"  ON CONFLICT (op) DO NOTHING RETURNING 1) "
		"SELECT CASE WHEN EXISTS (SELECT 1 FROM ins) THEN 'new' "
		"  WHEN EXISTS (SELECT 1 FROM ledger_ops WHERE op = $1::bytea AND kind = $2::text "
		"    AND who = $3::bytea AND amount = $4::numeric) THEN 'done' "
		"  ELSE 'reused' END" },
	[PG_UNBOND_ADD] = { "unbond_add",
		"INSERT INTO unbonding (owner, amount, release_at_s) "
		"VALUES ($1::bytea, $2::numeric, $3::bigint + $4::bigint)" },
	[PG_UNBOND_DUE] = { "unbond_due",
		"WITH d AS (DELETE FROM unbonding WHERE owner = $1::bytea "
		"  AND release_at_s <= $2::bigint RETURNING amount) "
		"SELECT coalesce(sum(amount), 0)::text FROM d" },
	[PG_UNBOND_TAKE] = { "unbond_take", PG_SQL_UNBOND_TAKE },
	[PG_JOB_EXISTS] = { "job_exists",
		"SELECT 1 FROM jobs WHERE job = $1::bytea" },
	[PG_STAKE_AT_LEAST] = { "stake_at_least",
		"SELECT coalesce((SELECT balance FROM accounts "
		"  WHERE owner = $1::bytea AND kind = 'stake'), 0) >= $2::numeric" },
	[PG_JOB_INSERT] = { "job_insert",
		"INSERT INTO jobs (job, customer, provider, max_price, opened_at_s) "
		"VALUES ($1::bytea, $2::bytea, $3::bytea, $4::numeric, $5::bigint)" },
	[PG_JOB_GET] = { "job_get", PG_SQL_JOB_GET },
	[PG_JOB_SETTLE] = { "job_settle",
		"UPDATE jobs SET state = $2::job_state, price = $3::numeric, "
		"  settled_at_s = $4::bigint WHERE job = $1::bytea AND state = 'open'" },
	[PG_LOCK_EMPTY] = { "lock_empty",
		"SELECT balance = 0 FROM accounts WHERE kind = 'lock' AND job = $1::bytea" },
	[PG_SLASH_SEEN] = { "slash_seen",
		"SELECT 1 FROM slashes WHERE offender = $1::bytea AND job = $2::bytea" },
	[PG_SLASH_PLAN] = { "slash_plan", PG_SQL_SLASH_PLAN },
	[PG_SLASH_INSERT] = { "slash_insert",
		"INSERT INTO slashes (offender, job, amount, bounty, bounty_to, at_s) "
		"VALUES ($1::bytea, $2::bytea, $3::numeric, $4::numeric, $5::bytea, $6::bigint)" },
	[PG_EVENTS] = { "events", PG_SQL_EVENTS },
	[PG_INVARIANTS] = { "invariants", PG_SQL_INVARIANTS },
	[PG_HEAD_CREATE] = { "head_create", PG_SQL_HEAD_CREATE },
	[PG_HEAD_CHAIN_ID] = { "head_chain_id", PG_SQL_HEAD_CHAIN_ID },
	[PG_RULE_JOB] = { "rule_job",
		"SELECT 1 FROM rule_jobs WHERE job = $1::bytea" },
	/* What holds an address's unbonded stake under the rules: a
	 * statement job it provides not yet settled, a dispute it filed
	 * still open. */
	[PG_RULES_BACKING] = { "rules_backing",
		"SELECT EXISTS (SELECT 1 FROM jobs j JOIN rule_jobs r ON r.job = j.job "
		"    WHERE j.provider = $1::bytea AND j.state = 'open'), "
		"  EXISTS (SELECT 1 FROM rule_disputes WHERE validator = $1::bytea AND state = 1)" },
};

/* ------------------------------------------------------------------ */
/* Parameters and results                                               */

_Static_assert(RCPT_U256_DEC_BYTES <= PGDB_NUM_BYTES, "a uint256 fits pgdb_args");

static void pg_arg_u256(struct pgdb_args *a, const struct rcpt_u256 *v)
{
	char dec[RCPT_U256_DEC_BYTES];

	rcpt_u256_format(dec, v);
	pgdb_arg_copy(a, dec);
}

static int pg_is_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

static int pg_u256_is_zero(const struct rcpt_u256 *v)
{
	return pg_is_zero(v->be, sizeof(v->be));
}

/* Maps a pgdb failure to the error a caller sees, and keeps the message.
 * The ledger's CHECK and unique constraints are its refusals. */
static enum chain_err pg_map(struct pg_chain *p, enum pgdb_err e)
{
	const char *cn = p->db.constraint;
	enum chain_err rc = CHAIN_ERR_BACKEND;

	snprintf(p->why, sizeof(p->why), "%s", p->db.why);
	switch (e) {
	case PGDB_DOWN:
		rc = CHAIN_ERR_UNAVAILABLE;
		break;
	case PGDB_BUSY:
		/* a timeout (someone holds the ledger), 40001/40P01 after the
		 * last try, class 53: nothing was done, try again later */
		rc = CHAIN_ERR_CONFLICT;
		break;
	case PGDB_CHECK:
		if (strcmp(cn, "accounts_nonneg") == 0)
			rc = CHAIN_ERR_INSUFFICIENT;
		else if (strcmp(cn, "accounts_u256") == 0 ||
			 strcmp(cn, "accounts_world_supply") == 0)
			rc = CHAIN_ERR_OVERFLOW;
		break;
	case PGDB_RANGE:
		rc = CHAIN_ERR_OVERFLOW;   /* past NUMERIC(78,0) */
		break;
	case PGDB_UNIQUE:
		if (strcmp(cn, "jobs_pkey") == 0)
			rc = CHAIN_ERR_EXISTS;
		else if (strcmp(cn, "slashes_once") == 0)
			rc = CHAIN_ERR_SETTLED;
		break;
	case PGDB_OK:
	case PGDB_SHAPE:
	case PGDB_FAIL:
	case PGDB_ERR_COUNT_:
		break;
	}
	CHAIN_ASSERT(e != PGDB_OK && rc != CHAIN_OK);
	return rc;
}

/* Runs statement s.  On CHAIN_OK *out (when out is not NULL) holds the
 * result, which the caller PQclears; on failure *out is NULL. */
static enum chain_err pg_run(struct pg_chain *p, PGresult **out,
			     enum pg_stmt s, const struct pgdb_args *a)
{
	enum pgdb_err e;

	CHAIN_ASSERT((unsigned)s < PG_STMT_COUNT_);
	e = pgdb_exec(&p->db, out, &pg_sql[s], a);
	return e ? pg_map(p, e) : CHAIN_OK;
}

/* Runs s expecting exactly one row; copies column 0 (text) into buf. */
static enum chain_err pg_run_one(struct pg_chain *p, char *buf, size_t buf_len,
				 enum pg_stmt s, const struct pgdb_args *a)
{
	PGresult *res = NULL;
	enum chain_err rc;

	CHAIN_ASSERT(buf && buf_len > 0);
	rc = pg_run(p, &res, s, a);
	if (rc)
		goto out;
	if (PQntuples(res) != 1 || PQnfields(res) < 1 || PQgetisnull(res, 0, 0) ||
	    (size_t)PQgetlength(res, 0, 0) >= buf_len) {
		snprintf(p->why, sizeof(p->why), "statement '%s' returned an unexpected result",
			 pg_sql[s].what);
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	memcpy(buf, PQgetvalue(res, 0, 0), (size_t)PQgetlength(res, 0, 0) + 1);
out:
	PQclear(res);
	return rc;
}

/* Runs s, which returns one boolean; *yes receives it. */
static enum chain_err pg_run_bool(struct pg_chain *p, int *yes, enum pg_stmt s,
				  const struct pgdb_args *a)
{
	char b[8];
	enum chain_err rc;

	rc = pg_run_one(p, b, sizeof(b), s, a);
	*yes = rc == CHAIN_OK && b[0] == 't';
	return rc;
}

static int pg_dec_is_zero(const char *dec)
{
	return strcmp(dec, "0") == 0;
}

/* A decimal from PostgreSQL that must be a uint256 (it came from our
 * own NUMERIC(78,0) columns; still checked, not asserted). */
static enum chain_err pg_parse_u256(struct pg_chain *p, struct rcpt_u256 *out,
				    const char *dec)
{
	if (rcpt_u256_parse(out, dec) != RCPT_OK) {
		snprintf(p->why, sizeof(p->why), "not a uint256: '%.80s'", dec);
		return CHAIN_ERR_BACKEND;
	}
	return CHAIN_OK;
}

/* ------------------------------------------------------------------ */
/* Sessions and transactions                                            */

/* A usable session (pgdb_ready resets one whose server went away). */
static enum chain_err pg_ready(struct pg_chain *p)
{
	enum pgdb_err e = pgdb_ready(&p->db);

	return e ? pg_map(p, e) : CHAIN_OK;
}

struct pg_txn_ctx {
	struct pg_chain *p;
	chain_pg_body body;
	void *arg;
};

static int pg_txn_body(struct pgdb *db, void *arg)
{
	struct pg_txn_ctx *x = arg;
	enum chain_err rc;

	CHAIN_ASSERT(db == &x->p->db);
	rc = pg_run(x->p, NULL, PG_HEAD_LOCK, NULL);
	if (!rc)
		rc = x->body(x->p, x->arg);
	return (int)rc;
}

/* Runs body in one READ COMMITTED transaction, serialized with every
 * other writer on the ledger head; commits on CHAIN_OK, rolls back on
 * anything else; pgdb_txn tries again when PostgreSQL asks for it. */
static enum chain_err pg_txn(struct pg_chain *p, chain_pg_body body, void *arg)
{
	struct pg_txn_ctx x = { p, body, arg };
	enum pgdb_err e;
	int brc = 0;

	e = pgdb_txn(&p->db, PGDB_READ_COMMITTED, pg_txn_body, &x, &brc);
	if (e)
		return pg_map(p, e);
	CHAIN_ASSERT((unsigned)brc < CHAIN_ERR_COUNT_);
	return (enum chain_err)brc;
}

/* What pg_rules.c borrows (pg_internal.h). */
enum chain_err chain_pg_txn(struct pg_chain *p, chain_pg_body body, void *arg)
{
	CHAIN_ASSERT(p && body);
	return pg_txn(p, body, arg);
}

enum chain_err chain_pg_exec(struct pg_chain *p, PGresult **out, const struct pgdb_stmt *s,
			     const struct pgdb_args *a)
{
	enum pgdb_err e;

	CHAIN_ASSERT(p && s);
	e = pgdb_exec(&p->db, out, s, a);
	return e ? pg_map(p, e) : CHAIN_OK;
}

enum chain_err chain_pg_ready(struct pg_chain *p)
{
	CHAIN_ASSERT(p);
	return pg_ready(p);
}

void chain_pg_arg_u256(struct pgdb_args *a, const struct rcpt_u256 *v)
{
	pg_arg_u256(a, v);
}

enum chain_err chain_pg_parse_u256(struct pg_chain *p, struct rcpt_u256 *out, const char *dec)
{
	return pg_parse_u256(p, out, dec);
}

/* ------------------------------------------------------------------ */
/* Accounts and transfers                                               */

/* Id (decimal) of owner's account of `kind`, created at zero if new. */
static enum chain_err pg_account_of(struct pg_chain *p, char id[PG_INT_BYTES],
				    const char *kind, const uint8_t owner[RCPT_ADDR_BYTES])
{
	struct pgdb_args a = { .n = 0 };

	pgdb_arg_text(&a, kind);
	pgdb_arg_bytes(&a, owner, RCPT_ADDR_BYTES);
	return pg_run_one(p, id, PG_INT_BYTES, PG_ACCOUNT_OWNER, &a);
}

static enum chain_err pg_account_lock(struct pg_chain *p, char id[PG_INT_BYTES],
				      const uint8_t job[RCPT_HASH_BYTES])
{
	struct pgdb_args a = { .n = 0 };

	pgdb_arg_bytes(&a, job, RCPT_HASH_BYTES);
	return pg_run_one(p, id, PG_INT_BYTES, PG_ACCOUNT_JOB, &a);
}

static enum chain_err pg_account_system(struct pg_chain *p, char id[PG_INT_BYTES],
					const char *kind)
{
	struct pgdb_args a = { .n = 0 };

	pgdb_arg_text(&a, kind);
	return pg_run_one(p, id, PG_INT_BYTES, PG_ACCOUNT_SYSTEM, &a);
}

/* One transfer of `amount` (decimal, > 0) from account id `from` to `to`. */
static enum chain_err pg_move(struct pg_chain *p, const char *kind,
			      const char *from, const char *to, const char *amount,
			      const uint8_t *job, uint64_t now_s)
{
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc;

	CHAIN_ASSERT(!pg_dec_is_zero(amount) && amount[0] != '-');
	CHAIN_ASSERT(strcmp(from, to) != 0);
	pgdb_arg_text(&a, from);
	pgdb_arg_text(&a, to);
	pgdb_arg_text(&a, amount);
	pgdb_arg_text(&a, kind);
	pgdb_arg_bytes(&a, job, job ? RCPT_HASH_BYTES : 0);
	pgdb_arg_u64(&a, now_s);
	rc = pg_run(p, &res, PG_MOVE, &a);
	if (rc)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		snprintf(p->why, sizeof(p->why), "transfer '%s' found no account", kind);
		rc = CHAIN_ERR_BACKEND;
	}
out:
	PQclear(res);
	return rc;
}

/* Moves `amount` between two accounts of one owner (or of an owner and
 * a system account): the shape of faucet, withdraw, stake, unstake. */
struct pg_simple_move {
	const char *kind;            /* transfer kind */
	const char *from_kind;       /* account kinds; world/treasury are system */
	const char *to_kind;
	const uint8_t *who;
	const struct rcpt_u256 *amount;
	uint64_t now_s;
	int unbond;                  /* also record an unbonding entry */
	const uint8_t *op;           /* CHAIN_OP_BYTES or NULL */
};

/* Records operation id `op` for this movement inside the transaction:
 * CHAIN_OK when new, CHAIN_ERR_EXISTS when the same movement was done
 * under it before (nothing to do), CHAIN_ERR_OP_REUSED otherwise. */
static enum chain_err pg_op_claim(struct pg_chain *p, const uint8_t *op, const char *kind,
				  const uint8_t *who, const char *amount, uint64_t now_s)
{
	struct pgdb_args a = { .n = 0 };
	char got[16];
	enum chain_err rc;

	if (!op)
		return CHAIN_OK;
	pgdb_arg_bytes(&a, op, CHAIN_OP_BYTES);
	pgdb_arg_text(&a, kind);
	pgdb_arg_bytes(&a, who, RCPT_ADDR_BYTES);
	pgdb_arg_text(&a, amount);
	pgdb_arg_u64(&a, now_s);
	rc = pg_run_one(p, got, sizeof(got), PG_OP_CLAIM, &a);
	if (rc)
		return rc;
	if (strcmp(got, "new") == 0)
		return CHAIN_OK;
	return strcmp(got, "done") == 0 ? CHAIN_ERR_EXISTS : CHAIN_ERR_OP_REUSED;
}

static int pg_is_system(const char *kind)
{
	return strcmp(kind, "world") == 0 || strcmp(kind, "treasury") == 0;
}

static enum chain_err pg_body_simple(struct pg_chain *p, void *arg)
{
	const struct pg_simple_move *m = arg;
	char from[PG_INT_BYTES], to[PG_INT_BYTES];
	char amount[RCPT_U256_DEC_BYTES];
	enum chain_err rc;

	rcpt_u256_format(amount, m->amount);
	rc = pg_op_claim(p, m->op, m->kind, m->who, amount, m->now_s);
	if (!rc)
		rc = pg_is_system(m->from_kind) ? pg_account_system(p, from, m->from_kind) :
			pg_account_of(p, from, m->from_kind, m->who);
	if (!rc)
		rc = pg_is_system(m->to_kind) ? pg_account_system(p, to, m->to_kind) :
			pg_account_of(p, to, m->to_kind, m->who);
	if (!rc)
		rc = pg_move(p, m->kind, from, to, amount, NULL, m->now_s);
	if (!rc && m->unbond) {
		struct pgdb_args a = { .n = 0 };
		pgdb_arg_bytes(&a, m->who, RCPT_ADDR_BYTES);
		pgdb_arg_text(&a, amount);
		pgdb_arg_u64(&a, m->now_s);
		pgdb_arg_u64(&a, p->params.unbonding_s);
		rc = pg_run(p, NULL, PG_UNBOND_ADD, &a);
	}
	return rc;
}

/* Argument checks shared by the calls on one address and an amount. */
static enum chain_err pg_check_who_amount(const struct chain *c, const uint8_t *who,
					  const struct rcpt_u256 *amount, uint64_t now_s)
{
	/* The zero address stands for world, treasury and locks in events;
	 * nobody holds its key. */
	if (!c || !who || !amount || now_s > CHAIN_PG_TIME_S_MAX ||
	    pg_is_zero(who, RCPT_ADDR_BYTES) || pg_u256_is_zero(amount))
		return CHAIN_ERR_ARG;
	return CHAIN_OK;
}

static enum chain_err pg_simple(struct chain *c, const char *kind,
				const char *from_kind, const char *to_kind,
				const uint8_t *who, const struct rcpt_u256 *amount,
				uint64_t now_s, int unbond, const uint8_t *op)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pg_simple_move m = {
		.kind = kind, .from_kind = from_kind, .to_kind = to_kind,
		.who = who, .amount = amount, .now_s = now_s, .unbond = unbond, .op = op,
	};
	enum chain_err rc;

	rc = pg_check_who_amount(c, who, amount, now_s);
	if (rc)
		goto out;
	rc = pg_txn(p, pg_body_simple, &m);
out:
	return rc;
}

/* ------------------------------------------------------------------ */
/* The calls                                                            */

static void pg_free(struct chain *c)
{
	struct pg_chain *p = (struct pg_chain *)c;

	if (!p)
		return;
	pgdb_close(&p->db);
	free(p);
}

static void pg_domain(struct chain *c, struct rcpt_domain *out)
{
	struct pg_chain *p = (struct pg_chain *)c;

	CHAIN_ASSERT(p && out);
	rcpt_domain_assay(out, p->params.chain_id, p->escrow);
}

static enum chain_err pg_balance(struct chain *c, struct chain_balance *out,
				 const uint8_t who[RCPT_ADDR_BYTES])
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pgdb_args a = { .n = 0 };
	struct chain_balance b;
	PGresult *res = NULL;
	enum chain_err rc;
	char *end = NULL;

	memset(&b, 0, sizeof(b));
	rc = CHAIN_ERR_ARG;
	if (!c || !out || !who)
		goto out;
	rc = pg_ready(p);
	if (rc)
		goto out;
	pgdb_arg_bytes(&a, who, RCPT_ADDR_BYTES);
	/* One statement: one snapshot, so the three balances agree. */
	rc = pg_run(p, &res, PG_BALANCE, &a);
	if (rc)
		goto out;
	if (PQntuples(res) != 1 || PQnfields(res) != 4) {
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	rc = pg_parse_u256(p, &b.available, PQgetvalue(res, 0, 0));
	if (!rc)
		rc = pg_parse_u256(p, &b.stake, PQgetvalue(res, 0, 1));
	if (!rc)
		rc = pg_parse_u256(p, &b.unbonding, PQgetvalue(res, 0, 2));
	if (rc)
		goto out;
	b.next_release_s = strtoull(PQgetvalue(res, 0, 3), &end, 10);
	if (!end || *end != '\0') {
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	*out = b;
out:
	PQclear(res);
	return rc;
}

static enum chain_err pg_faucet(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
				const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	struct pg_chain *p = (struct pg_chain *)c;
	enum chain_err rc;

	rc = pg_check_who_amount(c, who, amount, now_s);
	if (rc)
		goto out;
	if (!p->params.devnet) {
		rc = CHAIN_ERR_NOT_DEVNET;
		goto out;
	}
	rc = pg_simple(c, "deposit", "world", "available", who, amount, now_s, 0, op);
out:
	return rc;
}

static enum chain_err pg_withdraw(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
				  const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	return pg_simple(c, "withdraw", "available", "world", who, amount, now_s, 0, op);
}

static enum chain_err pg_stake(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
			       const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	return pg_simple(c, "stake", "available", "stake", who, amount, now_s, 0, op);
}

static enum chain_err pg_unstake(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
				 const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	return pg_simple(c, "unstake", "stake", "unbonding", who, amount, now_s, 1, op);
}

struct pg_release_unbonded {
	const uint8_t *who;
	uint64_t now_s;
	const uint8_t *op;
};

/* AssayEscrow's releaseUnbonded: stake that backs a statement job not
 * yet settled, or a dispute still open, stays (the rules' jobs only:
 * chain_lock's jobs are the escrow service's to guard). */
static enum chain_err pg_rules_backing(struct pg_chain *p, const uint8_t *who)
{
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc;

	pgdb_arg_bytes(&a, who, RCPT_ADDR_BYTES);
	rc = pg_run(p, &res, PG_RULES_BACKING, &a);
	if (rc)
		goto out;
	if (PQntuples(res) != 1 || PQnfields(res) != 2) {
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	if (PQgetvalue(res, 0, 0)[0] == 't')
		rc = CHAIN_ERR_STAKE_BACKS_JOBS;
	else if (PQgetvalue(res, 0, 1)[0] == 't')
		rc = CHAIN_ERR_STAKE_BACKS_DISPUTES;
out:
	PQclear(res);
	return rc;
}

static enum chain_err pg_body_release_unbonded(struct pg_chain *p, void *arg)
{
	const struct pg_release_unbonded *r = arg;
	struct pgdb_args a = { .n = 0 };
	char due[RCPT_U256_DEC_BYTES];
	char from[PG_INT_BYTES], to[PG_INT_BYTES];
	enum chain_err rc;

	/* The amount is what falls due, known only now: the id is recorded
	 * with 0, for "release what was due". */
	rc = pg_op_claim(p, r->op, "unbond", r->who, "0", r->now_s);
	if (rc)
		goto out;
	pgdb_arg_bytes(&a, r->who, RCPT_ADDR_BYTES);
	pgdb_arg_u64(&a, r->now_s);
	rc = pg_run_one(p, due, sizeof(due), PG_UNBOND_DUE, &a);
	if (rc || pg_dec_is_zero(due))
		goto out;
	rc = pg_rules_backing(p, r->who);
	if (!rc)
		rc = pg_account_of(p, from, "unbonding", r->who);
	if (!rc)
		rc = pg_account_of(p, to, "available", r->who);
	if (!rc)
		rc = pg_move(p, "unbond", from, to, due, NULL, r->now_s);
out:
	return rc;
}

static enum chain_err pg_release_unbonded(struct chain *c,
					  const uint8_t who[RCPT_ADDR_BYTES],
					  uint64_t now_s, const uint8_t *op)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pg_release_unbonded r = { .who = who, .now_s = now_s, .op = op };
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !who || now_s > CHAIN_PG_TIME_S_MAX || pg_is_zero(who, RCPT_ADDR_BYTES))
		goto out;
	rc = pg_txn(p, pg_body_release_unbonded, &r);
out:
	return rc;
}

struct pg_lock {
	const uint8_t *job, *customer, *provider;
	const struct rcpt_u256 *max_price;
	uint64_t now_s;
};

static enum chain_err pg_body_lock(struct pg_chain *p, void *arg)
{
	const struct pg_lock *l = arg;
	struct pgdb_args a = { .n = 0 }, b = { .n = 0 }, d = { .n = 0 };
	char from[PG_INT_BYTES], to[PG_INT_BYTES];
	PGresult *res = NULL;
	int ok = 0;
	enum chain_err rc;

	/* Refusals in this order: exists, stake low, insufficient. */
	pgdb_arg_bytes(&a, l->job, RCPT_HASH_BYTES);
	rc = pg_run(p, &res, PG_JOB_EXISTS, &a);
	if (rc)
		goto out;
	if (PQntuples(res) != 0) {
		rc = CHAIN_ERR_EXISTS;
		goto out;
	}
	pgdb_arg_bytes(&b, l->provider, RCPT_ADDR_BYTES);
	pgdb_arg_text(&b, p->min_stake);
	rc = pg_run_bool(p, &ok, PG_STAKE_AT_LEAST, &b);
	if (rc)
		goto out;
	if (!ok) {
		rc = CHAIN_ERR_STAKE_LOW;
		goto out;
	}
	pgdb_arg_bytes(&d, l->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&d, l->customer, RCPT_ADDR_BYTES);
	pgdb_arg_bytes(&d, l->provider, RCPT_ADDR_BYTES);
	pg_arg_u256(&d, l->max_price);
	pgdb_arg_u64(&d, l->now_s);
	rc = pg_run(p, NULL, PG_JOB_INSERT, &d);
	if (!rc)
		rc = pg_account_of(p, from, "available", l->customer);
	if (!rc)
		rc = pg_account_lock(p, to, l->job);
	if (!rc && !pg_u256_is_zero(l->max_price))
		rc = pg_move(p, "lock", from, to, d.num[3], l->job, l->now_s);
out:
	PQclear(res);
	return rc;
}

enum chain_err chain_pg_lock_in_txn(struct pg_chain *p, const uint8_t job[RCPT_HASH_BYTES],
				    const uint8_t customer[RCPT_ADDR_BYTES],
				    const uint8_t provider[RCPT_ADDR_BYTES],
				    const struct rcpt_u256 *max_price, uint64_t now_s)
{
	struct pg_lock l = {
		.job = job, .customer = customer, .provider = provider,
		.max_price = max_price, .now_s = now_s,
	};

	CHAIN_ASSERT(p && job && customer && provider && max_price);
	CHAIN_ASSERT(now_s <= CHAIN_PG_TIME_S_MAX);
	return pg_body_lock(p, &l);
}

static enum chain_err pg_lock(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
			      const uint8_t customer[RCPT_ADDR_BYTES],
			      const uint8_t provider[RCPT_ADDR_BYTES],
			      const struct rcpt_u256 *max_price, uint64_t now_s)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pg_lock l = {
		.job = job, .customer = customer, .provider = provider,
		.max_price = max_price, .now_s = now_s,
	};
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !job || !customer || !provider || !max_price ||
	    now_s > CHAIN_PG_TIME_S_MAX)
		goto out;
	/* The zero job id means "not about a job" in events. */
	if (pg_is_zero(job, RCPT_HASH_BYTES) || pg_is_zero(customer, RCPT_ADDR_BYTES) ||
	    pg_is_zero(provider, RCPT_ADDR_BYTES))
		goto out;
	rc = pg_txn(p, pg_body_lock, &l);
out:
	return rc;
}

struct pg_settle {
	const uint8_t *job;
	const struct rcpt_u256 *price;     /* NULL: refund */
	uint64_t now_s;
	int by_rules;                      /* pg_rules.c settles a statement job */
};

static enum chain_err pg_body_settle(struct pg_chain *p, void *arg)
{
	const struct pg_settle *s = arg;
	struct pgdb_args a = { .n = 0 }, u = { .n = 0 }, e = { .n = 0 };
	struct rcpt_u256 zero;
	uint8_t customer[RCPT_ADDR_BYTES], provider[RCPT_ADDR_BYTES];
	char lock[PG_INT_BYTES], to[PG_INT_BYTES];
	char rest[RCPT_U256_DEC_BYTES];
	PGresult *res = NULL;
	int empty = 0;
	enum chain_err rc;

	memset(&zero, 0, sizeof(zero));
	pgdb_arg_bytes(&a, s->job, RCPT_HASH_BYTES);
	pg_arg_u256(&a, s->price ? s->price : &zero);
	rc = pg_run(p, &res, PG_JOB_GET, &a);
	if (rc)
		goto out;
	if (PQntuples(res) == 0) {
		rc = CHAIN_ERR_NOT_FOUND;
		goto out;
	}
	if (PQntuples(res) != 1 || PQnfields(res) != 7 ||
	    rcpt_hex_decode(customer, sizeof(customer), PQgetvalue(res, 0, 1)) != RCPT_OK ||
	    rcpt_hex_decode(provider, sizeof(provider), PQgetvalue(res, 0, 2)) != RCPT_OK ||
	    (size_t)PQgetlength(res, 0, 4) >= sizeof(rest)) {
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	/* A statement job is settled by its rules only. */
	if (!s->by_rules && PQgetvalue(res, 0, 6)[0] == 't') {
		rc = CHAIN_ERR_STATE;
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "open") != 0) {
		rc = CHAIN_ERR_SETTLED;
		goto out;
	}
	if (PQgetvalue(res, 0, 3)[0] != 't') {
		rc = CHAIN_ERR_PRICE;
		goto out;
	}
	/* I4 for this job: its lock holds exactly maxPrice.  Refuse to pay
	 * out of a lock that does not. */
	if (PQgetvalue(res, 0, 5)[0] != 't') {
		snprintf(p->why, sizeof(p->why), "%s", "lock balance differs from maxPrice");
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	memcpy(rest, PQgetvalue(res, 0, 4), (size_t)PQgetlength(res, 0, 4) + 1);
	rc = pg_account_lock(p, lock, s->job);
	if (!rc && s->price && !pg_u256_is_zero(s->price)) {
		rc = pg_account_of(p, to, "available", provider);
		if (!rc)
			rc = pg_move(p, "pay", lock, to, a.num[1], s->job, s->now_s);
	}
	if (!rc && !pg_dec_is_zero(rest)) {
		rc = pg_account_of(p, to, "available", customer);
		if (!rc)
			rc = pg_move(p, "return", lock, to, rest, s->job, s->now_s);
	}
	if (rc)
		goto out;
	pgdb_arg_bytes(&u, s->job, RCPT_HASH_BYTES);
	pgdb_arg_text(&u, s->price ? "released" : "refunded");
	if (s->price)
		pgdb_arg_text(&u, a.num[1]);
	else
		pgdb_arg_text(&u, NULL);
	pgdb_arg_u64(&u, s->now_s);
	PQclear(res);
	res = NULL;
	rc = pg_run(p, &res, PG_JOB_SETTLE, &u);
	if (rc)
		goto out;
	if (strcmp(PQcmdTuples(res), "1") != 0) {
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	pgdb_arg_bytes(&e, s->job, RCPT_HASH_BYTES);
	rc = pg_run_bool(p, &empty, PG_LOCK_EMPTY, &e);
	if (!rc && !empty) {
		snprintf(p->why, sizeof(p->why), "%s", "lock not empty after settlement");
		rc = CHAIN_ERR_BACKEND;
	}
out:
	PQclear(res);
	return rc;
}

static enum chain_err pg_settle(struct chain *c, const uint8_t *job,
				const struct rcpt_u256 *price, uint64_t now_s)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pg_settle s = { .job = job, .price = price, .now_s = now_s };

	enum chain_err rc = CHAIN_ERR_ARG;

	if (c && job && now_s <= CHAIN_PG_TIME_S_MAX)
		rc = pg_txn(p, pg_body_settle, &s);
	return rc;
}

enum chain_err chain_pg_settle_in_txn(struct pg_chain *p, const uint8_t job[RCPT_HASH_BYTES],
				      const struct rcpt_u256 *price, uint64_t now_s)
{
	struct pg_settle s = { .job = job, .price = price, .now_s = now_s, .by_rules = 1 };

	CHAIN_ASSERT(p && job && now_s <= CHAIN_PG_TIME_S_MAX);
	return pg_body_settle(p, &s);
}

static enum chain_err pg_release(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				 const struct rcpt_u256 *price, uint64_t now_s)
{
	/* NULL price would mean a refund to pg_settle */
	return price ? pg_settle(c, job, price, now_s) : CHAIN_ERR_ARG;
}

static enum chain_err pg_refund(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				uint64_t now_s)
{
	return pg_settle(c, job, NULL, now_s);
}

struct pg_slash {
	const uint8_t *offender, *bounty_to, *job;    /* job NULL: none */
	const struct rcpt_u256 *amount, *bounty;
	uint64_t now_s;
	int by_rules;                                 /* pg_rules.c's verdict */
};

/* chain_slash may not name a statement job: its slashes are the rules'. */
static enum chain_err pg_slash_job_check(struct pg_chain *p, const struct pg_slash *s)
{
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc = CHAIN_OK;

	if (!s->job || s->by_rules)
		goto out;
	pgdb_arg_bytes(&a, s->job, RCPT_HASH_BYTES);
	rc = pg_run(p, &res, PG_RULE_JOB, &a);
	if (!rc && PQntuples(res) != 0)
		rc = CHAIN_ERR_STATE;
out:
	PQclear(res);
	return rc;
}

static enum chain_err pg_body_slash(struct pg_chain *p, void *arg)
{
	const struct pg_slash *s = arg;
	struct pgdb_args a = { .n = 0 }, q = { .n = 0 }, t = { .n = 0 }, i = { .n = 0 };
	/* bounty from stake, kept from stake, bounty from unbonding, kept
	 * from unbonding, all from unbonding */
	char part[5][RCPT_U256_DEC_BYTES];
	char stake[PG_INT_BYTES], unb[PG_INT_BYTES], dest[PG_INT_BYTES], treasury[PG_INT_BYTES];
	PGresult *res = NULL;
	int ok = 0;
	enum chain_err rc;

	rc = pg_slash_job_check(p, s);
	if (rc)
		goto out;
	if (s->job) {
		pgdb_arg_bytes(&a, s->offender, RCPT_ADDR_BYTES);
		pgdb_arg_bytes(&a, s->job, RCPT_HASH_BYTES);
		rc = pg_run(p, &res, PG_SLASH_SEEN, &a);
		if (rc)
			goto out;
		if (PQntuples(res) != 0) {
			rc = CHAIN_ERR_SETTLED;
			goto out;
		}
		PQclear(res);
		res = NULL;
	}
	pgdb_arg_bytes(&q, s->offender, RCPT_ADDR_BYTES);
	pg_arg_u256(&q, s->amount);
	pg_arg_u256(&q, s->bounty);
	rc = pg_run(p, &res, PG_SLASH_PLAN, &q);
	if (rc)
		goto out;
	if (PQntuples(res) != 1 || PQnfields(res) != 6) {
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	if (PQgetvalue(res, 0, 0)[0] != 't') {
		rc = CHAIN_ERR_INSUFFICIENT;
		goto out;
	}
	for (int k = 0; k < 5; k++) {
		struct rcpt_u256 check;
		rc = pg_parse_u256(p, &check, PQgetvalue(res, 0, k + 1));
		if (rc)
			goto out;
		rcpt_u256_format(part[k], &check);
	}
	rc = pg_account_system(p, treasury, "treasury");
	if (!rc)
		rc = pg_account_of(p, dest, "available", s->bounty_to);
	if (!rc && (!pg_dec_is_zero(part[0]) || !pg_dec_is_zero(part[1])))
		rc = pg_account_of(p, stake, "stake", s->offender);
	if (!rc && !pg_dec_is_zero(part[4])) {
		rc = pg_account_of(p, unb, "unbonding", s->offender);
		pgdb_arg_bytes(&t, s->offender, RCPT_ADDR_BYTES);
		pgdb_arg_text(&t, part[4]);
		if (!rc)
			rc = pg_run_bool(p, &ok, PG_UNBOND_TAKE, &t);
		if (!rc && !ok) {
			snprintf(p->why, sizeof(p->why), "%s",
				 "unbonding entries do not cover the unbonding balance");
			rc = CHAIN_ERR_BACKEND;
		}
	}
	if (!rc && !pg_dec_is_zero(part[0]))
		rc = pg_move(p, "slash_bounty", stake, dest, part[0], s->job, s->now_s);
	if (!rc && !pg_dec_is_zero(part[1]))
		rc = pg_move(p, "slash_keep", stake, treasury, part[1], s->job, s->now_s);
	if (!rc && !pg_dec_is_zero(part[2]))
		rc = pg_move(p, "slash_bounty", unb, dest, part[2], s->job, s->now_s);
	if (!rc && !pg_dec_is_zero(part[3]))
		rc = pg_move(p, "slash_keep", unb, treasury, part[3], s->job, s->now_s);
	if (rc)
		goto out;
	pgdb_arg_bytes(&i, s->offender, RCPT_ADDR_BYTES);
	pgdb_arg_bytes(&i, s->job, s->job ? RCPT_HASH_BYTES : 0);
	pg_arg_u256(&i, s->amount);
	pg_arg_u256(&i, s->bounty);
	pgdb_arg_bytes(&i, s->bounty_to, RCPT_ADDR_BYTES);
	pgdb_arg_u64(&i, s->now_s);
	rc = pg_run(p, NULL, PG_SLASH_INSERT, &i);
out:
	PQclear(res);
	return rc;
}

enum chain_err chain_pg_slash_in_txn(struct pg_chain *p, const uint8_t offender[RCPT_ADDR_BYTES],
				     const struct rcpt_u256 *amount,
				     const uint8_t bounty_to[RCPT_ADDR_BYTES],
				     const struct rcpt_u256 *bounty,
				     const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s)
{
	struct pg_slash s = {
		.offender = offender, .bounty_to = bounty_to, .job = job, .amount = amount,
		.bounty = bounty, .now_s = now_s, .by_rules = 1,
	};
	enum chain_err rc;

	CHAIN_ASSERT(p && offender && bounty_to && job && amount && bounty);
	CHAIN_ASSERT(!pg_u256_is_zero(amount) && rcpt_u256_cmp(bounty, amount) <= 0);
	rc = pg_body_slash(p, &s);
	if (rc == CHAIN_ERR_SETTLED) {
		/* the rules slash an offender once a job: a second is a bug */
		snprintf(p->why, sizeof(p->why), "%s", "statement job slashed twice");
		rc = CHAIN_ERR_BACKEND;
	}
	return rc;
}

static enum chain_err pg_slash(struct chain *c, const uint8_t offender[RCPT_ADDR_BYTES],
			       const struct rcpt_u256 *amount,
			       const uint8_t bounty_to[RCPT_ADDR_BYTES],
			       const struct rcpt_u256 *bounty,
			       const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pg_slash s = {
		.offender = offender, .bounty_to = bounty_to, .amount = amount,
		.bounty = bounty, .now_s = now_s,
	};
	enum chain_err rc;

	rc = pg_check_who_amount(c, offender, amount, now_s);
	if (rc)
		goto out;
	if (!bounty_to || !bounty || !job || pg_is_zero(bounty_to, RCPT_ADDR_BYTES) ||
	    rcpt_u256_cmp(bounty, amount) > 0) {
		rc = CHAIN_ERR_ARG;
		goto out;
	}
	s.job = pg_is_zero(job, RCPT_HASH_BYTES) ? NULL : job;
	rc = pg_txn(p, pg_body_slash, &s);
out:
	return rc;
}

static const char *const pg_event_kinds[] = {
	[CHAIN_EV_DEPOSIT] = "deposit",
	[CHAIN_EV_WITHDRAW] = "withdraw",
	[CHAIN_EV_STAKE] = "stake",
	[CHAIN_EV_UNSTAKE] = "unstake",
	[CHAIN_EV_UNBOND] = "unbond",
	[CHAIN_EV_LOCK] = "lock",
	[CHAIN_EV_PAY] = "pay",
	[CHAIN_EV_RETURN] = "return",
	[CHAIN_EV_SLASH_BOUNTY] = "slash_bounty",
	[CHAIN_EV_SLASH_KEEP] = "slash_keep",
};
#define PG_EVENT_KINDS (sizeof(pg_event_kinds) / sizeof(pg_event_kinds[0]))

/* Decodes "0x..." hex of exactly len bytes, or "" as all zero. */
static int pg_hex_or_zero(uint8_t *out, size_t len, const char *hex)
{
	if (hex[0] == '\0') {
		memset(out, 0, len);
		return 1;
	}
	return rcpt_hex_decode(out, len, hex) == RCPT_OK;
}

static enum chain_err pg_events(struct chain *c, struct chain_event *out,
				size_t *count, size_t max, uint64_t after_seq)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc = CHAIN_OK;
	size_t n;

	if (!c || !count || (max > 0 && !out)) {
		rc = CHAIN_ERR_ARG;
		goto out;
	}
	*count = 0;
	if (max > CHAIN_PG_EVENTS_MAX)
		max = CHAIN_PG_EVENTS_MAX;
	if (max == 0 || after_seq >= (uint64_t)INT64_MAX)
		goto out;
	rc = pg_ready(p);
	if (rc)
		goto out;
	pgdb_arg_u64(&a, after_seq);
	pgdb_arg_u64(&a, max);
	rc = pg_run(p, &res, PG_EVENTS, &a);
	if (rc)
		goto out;
	n = (size_t)PQntuples(res);
	if (n > max || PQnfields(res) != 7) {
		rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct chain_event ev;
		const char *kind = PQgetvalue(res, (int)i, 1);
		char *end = NULL;

		memset(&ev, 0, sizeof(ev));
		ev.seq = strtoull(PQgetvalue(res, (int)i, 0), &end, 10);
		for (size_t k = 1; k < PG_EVENT_KINDS; k++)
			if (strcmp(kind, pg_event_kinds[k]) == 0)
				ev.kind = (enum chain_event_kind)k;
		ev.at_s = strtoull(PQgetvalue(res, (int)i, 6), NULL, 10);
		if (!end || *end || ev.kind == 0 || ev.seq <= after_seq ||
		    (i > 0 && ev.seq <= out[i - 1].seq) ||
		    !pg_hex_or_zero(ev.from, sizeof(ev.from), PQgetvalue(res, (int)i, 2)) ||
		    !pg_hex_or_zero(ev.to, sizeof(ev.to), PQgetvalue(res, (int)i, 3)) ||
		    !pg_hex_or_zero(ev.job, sizeof(ev.job), PQgetvalue(res, (int)i, 4))) {
			rc = CHAIN_ERR_BACKEND;
			goto out;
		}
		rc = pg_parse_u256(p, &ev.amount, PQgetvalue(res, (int)i, 5));
		if (rc)
			goto out;
		out[i] = ev;
	}
	*count = n;
out:
	PQclear(res);
	return rc;
}

static enum chain_err pg_check_invariants(struct chain *c, char *why, size_t why_len)
{
	struct pg_chain *p = (struct pg_chain *)c;
	PGresult *res = NULL;
	enum chain_err rc;

	if (why && why_len > 0)
		why[0] = '\0';
	rc = CHAIN_ERR_ARG;
	if (!c)
		goto out;
	rc = pg_ready(p);
	if (!rc)
		rc = pg_run(p, &res, PG_INVARIANTS, NULL);
	if (rc) {
		if (why && why_len > 0)
			snprintf(why, why_len, "could not check the invariants: %s: %s",
				 chain_strerror(rc), p->why);
		if (rc != CHAIN_ERR_UNAVAILABLE)
			rc = CHAIN_ERR_BACKEND;
		goto out;
	}
	if (PQntuples(res) == 0)
		goto out;
	if (PQnfields(res) == 2 && why && why_len > 0)
		snprintf(why, why_len, "%s: %s", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
	rc = CHAIN_ERR_BACKEND;
out:
	PQclear(res);
	return rc;
}

static const struct chain_class pg_class = {
	.name = "postgresql",
	.free = pg_free,
	.domain = pg_domain,
	.balance = pg_balance,
	.faucet = pg_faucet,
	.withdraw = pg_withdraw,
	.stake = pg_stake,
	.unstake = pg_unstake,
	.release_unbonded = pg_release_unbonded,
	.lock = pg_lock,
	.release = pg_release,
	.refund = pg_refund,
	.slash = pg_slash,
	.events = pg_events,
	.check_invariants = pg_check_invariants,
	.open_job = chain_pg_open_job,
	.submit_receipt = chain_pg_submit_receipt,
	.settle = chain_pg_settle,
	.attest = chain_pg_attest,
	.decide = chain_pg_decide,
	.expire_dispute = chain_pg_expire_dispute,
	.job_state = chain_pg_job_state,
	.dispute_state = chain_pg_dispute_state,
	.rules = chain_pg_rules,
};

/* ------------------------------------------------------------------ */
/* Opening: connect, migrate, check the chain id                        */

static void pg_diag(struct rcpt_diag *diag, const char *what, const char *detail)
{
	size_t n;

	if (!diag)
		return;
	snprintf(diag->msg, sizeof(diag->msg), "%s: %.200s", what, detail ? detail : "");
	n = strcspn(diag->msg, "\n");
	diag->msg[n] = '\0';
}

static const struct pgdb_schema pg_schema = {
	.list = chain_migrations,
	.count = 0,   /* set from chain_migrations_count at run time */
	.table = "schema_migrations",
	.column = "version",
	.lock_key = CHAIN_PG_MIGRATION_LOCK_KEY,
	.what = "ledger",
};

/* Creates the head row for this chain id, or checks that it matches. */
static enum chain_err pg_check_chain_id(struct pg_chain *p, struct rcpt_diag *diag)
{
	char have[PG_INT_BYTES], want[PG_INT_BYTES];
	struct pgdb_args a = { .n = 0 };
	enum chain_err rc;

	snprintf(want, sizeof(want), "%" PRIu64, p->params.chain_id);
	pgdb_arg_text(&a, want);
	rc = pg_run(p, NULL, PG_HEAD_CREATE, &a);
	if (rc) {
		pg_diag(diag, "could not create the ledger head", p->why);
		return rc;
	}
	rc = pg_run_one(p, have, sizeof(have), PG_HEAD_CHAIN_ID, NULL);
	if (rc) {
		pg_diag(diag, "could not read the ledger head", p->why);
		return rc;
	}
	if (strcmp(have, want) != 0) {
		if (diag)
			snprintf(diag->msg, sizeof(diag->msg),
				 "ledger belongs to chain id %.24s, not %s", have, want);
		return CHAIN_ERR_BACKEND;
	}
	return CHAIN_OK;
}

/* Connects, migrates (pgdb_migrate refuses a ledger that a newer
 * program migrated further), and checks the chain id. */
static enum chain_err pg_connect(struct pg_chain *p, struct rcpt_diag *diag,
				 const char *conninfo)
{
	const struct pgdb_config cfg = {
		.conninfo = conninfo,
		.app = "assay-ledger",
		.statement_timeout_ms = CHAIN_PG_STATEMENT_TIMEOUT_MS,
		.lock_timeout_ms = CHAIN_PG_LOCK_TIMEOUT_MS,
		.idle_in_txn_timeout_ms = CHAIN_PG_IDLE_IN_TXN_TIMEOUT_MS,
	};
	struct pgdb_schema sc = pg_schema;
	char msg[sizeof(diag->msg)];
	enum pgdb_err e;

	e = pgdb_open(&p->db, &cfg);
	if (e) {
		pg_diag(diag, "could not connect to postgresql", p->db.why);
		return CHAIN_ERR_UNAVAILABLE;
	}
	sc.count = chain_migrations_count;
	e = pgdb_migrate(&p->db, msg, sizeof(msg), &sc);
	if (e) {
		if (diag)
			snprintf(diag->msg, sizeof(diag->msg), "%s", msg);
		return e == PGDB_DOWN ? CHAIN_ERR_UNAVAILABLE : CHAIN_ERR_BACKEND;
	}
	return pg_check_chain_id(p, diag);
}

enum chain_err chain_pg_open(struct chain **out, struct rcpt_diag *diag,
			     const char *conninfo, const struct chain_params *params,
			     const uint8_t escrow[RCPT_ADDR_BYTES])
{
	struct pg_chain *p = NULL;
	const char *why = NULL;
	int rules_on = 0;
	enum chain_err rc = CHAIN_ERR_ARG;

	if (diag)
		diag->msg[0] = '\0';
	if (!out || !conninfo || !params || !escrow) {
		pg_diag(diag, "chain_pg_open", "missing argument");
		goto out;
	}
	*out = NULL;
	if (params->unbonding_s > CHAIN_PG_TIME_S_MAX) {
		pg_diag(diag, "chain_pg_open", "unbonding_s out of range");
		goto out;
	}
	if (!chain_pg_rules_params(&rules_on, &why, params)) {
		pg_diag(diag, "chain_pg_open: statement parameters", why);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = CHAIN_ERR_NOMEM;
		goto out;
	}
	p->base.vt = &pg_class;
	p->params = *params;
	p->params.devnet = params->devnet != 0;
	p->rules_on = rules_on;
	memcpy(p->escrow, escrow, RCPT_ADDR_BYTES);
	rcpt_u256_format(p->min_stake, &params->min_stake);
	rc = pg_connect(p, diag, conninfo);
	if (rc)
		goto out;
	*out = &p->base;
	p = NULL;
out:
	if (p)
		pg_free(&p->base);
	return rc;
}
