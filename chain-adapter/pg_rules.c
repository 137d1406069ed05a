/*
 * pg_rules.c: AssayEscrow's rules on the PostgreSQL backend: chain.h's
 * statement calls (open_job, submit_receipt, settle, attest, decide,
 * expire_dispute and the reads), to the letter of docs/contract.md's
 * table, so that both backends answer the same statements the same way
 * (tests/test_chain_conformance.c runs one suite against both).
 *
 * Invariants:
 * - every writing call is one transaction of chain_pg_txn (serialized on
 *   the ledger head, retried on serialisation failures); a refusal rolls
 *   the whole of it back: nothing changes;
 * - the checks run in the contract's order; the pure ones (a statement's
 *   form, its signature) are computed before the transaction and applied
 *   at their place in that order, the others inside it, under the head
 *   lock, so that no writer can change what they read;
 * - money moves only through the ledger's own bodies (lock, settle,
 *   slash: pg_internal.h), so I1-I5 hold as for the ledger calls; the
 *   rule records (rule_jobs, rule_disputes, migration 003) move with it
 *   in the same transaction, which keeps I6;
 * - amounts are computed by SQL NUMERIC only: the exposure cap and the
 *   slash and bounty shares, rounded down as the contract's integer
 *   division rounds;
 * - signatures recover under this chain's EIP-712 domain (chain id and
 *   the escrow's address), PROTOCOL.md section 2's rules
 *   (rcpt_recover_digest: v in {0, 1, 27, 28}, low-S).
 *
 * Time is the caller's now_s (at most CHAIN_PG_TIME_S_MAX): deadlines,
 * windows and referee deadlines are compared with it exactly as the
 * contract compares them with block.timestamp.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "assay_assert.h"
#include "chain.h"
#include "pgdb.h"
#include "pg_internal.h"
#include "banned.h"

/* ------------------------------------------------------------------ */
/* The statements                                                       */

enum rules_stmt {
	RULES_OPEN_CHECK,
	RULES_JOB_INSERT,
	RULES_RECEIPT_GET,
	RULES_RECEIPTED,
	RULES_SETTLE_GET,
	RULES_SET_STATE,
	RULES_ATTEST_GET,
	RULES_DISPUTE_OPEN,
	RULES_DISPUTE_GET,
	RULES_DISPUTE_CLOSE,
	RULES_SLASH_SHARES,
	RULES_JOB_STATE,
	RULES_DISPUTE_STATE,
	RULES_STMT_COUNT_
};

/* openJob's database checks, job $1, customer $2, provider $3, maxPrice
 * $4: the id seen before, the customer's available covers maxPrice, the
 * provider's bond reaches minStake $5, and the exposure rule
 * maxPrice + exposure < bond * sampleBps $6 * slashBps $7 / 10^8. */
#define RULES_SQL_OPEN_CHECK                                                   \
	"WITH s AS (SELECT coalesce((SELECT balance FROM accounts "            \
	"    WHERE owner = $3::bytea AND kind = 'stake'), 0) AS bond), "       \
	"e AS (SELECT coalesce(sum(j.max_price), 0) AS exposure FROM jobs j "  \
	"  JOIN rule_jobs r ON r.job = j.job "                                 \
	"  WHERE j.provider = $3::bytea AND j.state = 'open') "                \
	"SELECT EXISTS (SELECT 1 FROM jobs WHERE job = $1::bytea), "           \
	"  coalesce((SELECT balance FROM accounts "                            \
	"    WHERE owner = $2::bytea AND kind = 'available'), 0) >= $4::numeric, " \
	"  s.bond >= $5::numeric, "                                            \
	"  $4::numeric + e.exposure < "                                        \
	"    div(s.bond * $6::numeric * $7::numeric, 100000000) "              \
	"FROM s, e"

/* submitReceipt's view of job $1: state, deadline, opening time, the
 * commitment equal to ($2, $3, $4), the provider equal to $5, the price
 * $6 within maxPrice. */
#define RULES_SQL_RECEIPT_GET                                                  \
	"SELECT r.state, r.deadline_s, r.opened_at_s, "                        \
	"  r.kernel_hash = $2::bytea AND r.input_root = $3::bytea "            \
	"    AND r.input_size = $4::bigint, "                                  \
	"  j.provider = $5::bytea, $6::numeric <= j.max_price "                \
	"FROM rule_jobs r JOIN jobs j ON j.job = r.job "                       \
	"WHERE r.job = $1::bytea FOR UPDATE OF r"

/* attest's view of job $1 for receipt id $2 and validator $3: state,
 * window end, the receipt is the job's, the validator is the provider,
 * its bond reaches minStake $4, it disputed the job before, the job's
 * disputes so far. */
#define RULES_SQL_ATTEST_GET                                                   \
	"SELECT r.state, coalesce(r.window_end_s, 0), "                        \
	"  coalesce(r.receipt = $2::bytea, false), j.provider = $3::bytea, "   \
	"  coalesce((SELECT balance FROM accounts "                            \
	"    WHERE owner = $3::bytea AND kind = 'stake'), 0) >= $4::numeric, " \
	"  EXISTS (SELECT 1 FROM rule_disputes "                               \
	"    WHERE job = $1::bytea AND validator = $3::bytea), r.disputants "  \
	"FROM rule_jobs r JOIN jobs j ON j.job = r.job "                       \
	"WHERE r.job = $1::bytea FOR UPDATE OF r"

/* Opens validator $2's dispute on job $1, referee deadline $3. */
#define RULES_SQL_DISPUTE_OPEN                                                 \
	"WITH d AS (INSERT INTO rule_disputes (job, validator, state, deadline_s) " \
	"  VALUES ($1::bytea, $2::bytea, 1, $3::bigint)) "                     \
	"UPDATE rule_jobs SET open_disputes = open_disputes + 1, "             \
	"  disputants = disputants + 1, state = 3 WHERE job = $1::bytea"

/* Ends validator $2's open dispute on job $1 as $3 and, when $4, every
 * other open one as moot (4); once none is open the job's state becomes
 * $5.  One statement, so that rule_jobs_disputed holds throughout. */
#define RULES_SQL_DISPUTE_CLOSE                                                \
	"WITH d AS (UPDATE rule_disputes SET state = "                         \
	"    CASE WHEN validator = $2::bytea THEN $3::smallint ELSE 4 END "    \
	"  WHERE job = $1::bytea AND state = 1 "                               \
	"    AND (validator = $2::bytea OR $4::boolean) RETURNING 1) "         \
	"UPDATE rule_jobs SET open_disputes = open_disputes - (SELECT count(*) FROM d), " \
	"  state = CASE WHEN open_disputes = (SELECT count(*) FROM d) "        \
	"    THEN $5::smallint ELSE state END "                                \
	"WHERE job = $1::bytea RETURNING state"

/* A slash of offender $1: slashBps $2 of its bond (bonded and
 * unbonding), and bountyBps $3 of that, both rounded down. */
#define RULES_SQL_SLASH_SHARES                                                 \
	"WITH b AS (SELECT div((coalesce((SELECT balance FROM accounts "       \
	"    WHERE owner = $1::bytea AND kind = 'stake'), 0) "                 \
	"  + coalesce((SELECT balance FROM accounts "                          \
	"    WHERE owner = $1::bytea AND kind = 'unbonding'), 0)) "            \
	"  * $2::numeric, 10000) AS amount) "                                  \
	"SELECT amount::text, div(amount * $3::numeric, 10000)::text FROM b"

/* A statement job's state, else a ledger job's (open 1, released 4,
 * refunded 5), else 0. */
#define RULES_SQL_JOB_STATE                                                    \
	"SELECT coalesce((SELECT state FROM rule_jobs WHERE job = $1::bytea), " \
	"  (SELECT CASE state WHEN 'open' THEN 1 WHEN 'released' THEN 4 ELSE 5 END " \
	"    FROM jobs WHERE job = $1::bytea), 0)"

static const struct pgdb_stmt rules_sql[RULES_STMT_COUNT_] = {
	[RULES_OPEN_CHECK] = { "rules_open_check", RULES_SQL_OPEN_CHECK },
	[RULES_JOB_INSERT] = { "rules_job_insert",
		"INSERT INTO rule_jobs (job, state, deadline_s, opened_at_s, kernel_hash, "
		"  input_root, input_size) VALUES ($1::bytea, 1, $2::bigint, $3::bigint, "
		"  $4::bytea, $5::bytea, $6::bigint)" },
	[RULES_RECEIPT_GET] = { "rules_receipt_get", RULES_SQL_RECEIPT_GET },
	[RULES_RECEIPTED] = { "rules_receipted",
		"UPDATE rule_jobs SET state = 2, receipt = $2::bytea, price = $3::numeric, "
		"  window_end_s = $4::bigint WHERE job = $1::bytea AND state = 1" },
	[RULES_SETTLE_GET] = { "rules_settle_get",
		"SELECT state, deadline_s, coalesce(window_end_s, 0), coalesce(price, 0)::text "
		"FROM rule_jobs WHERE job = $1::bytea FOR UPDATE" },
	[RULES_SET_STATE] = { "rules_set_state",
		"UPDATE rule_jobs SET state = $2::smallint "
		"WHERE job = $1::bytea AND open_disputes = 0" },
	[RULES_ATTEST_GET] = { "rules_attest_get", RULES_SQL_ATTEST_GET },
	[RULES_DISPUTE_OPEN] = { "rules_dispute_open", RULES_SQL_DISPUTE_OPEN },
	[RULES_DISPUTE_GET] = { "rules_dispute_get",
		"SELECT d.state, d.deadline_s, '0x' || encode(j.provider, 'hex') "
		"FROM rule_disputes d JOIN jobs j ON j.job = d.job "
		"WHERE d.job = $1::bytea AND d.validator = $2::bytea FOR UPDATE OF d" },
	[RULES_DISPUTE_CLOSE] = { "rules_dispute_close", RULES_SQL_DISPUTE_CLOSE },
	[RULES_SLASH_SHARES] = { "rules_slash_shares", RULES_SQL_SLASH_SHARES },
	[RULES_JOB_STATE] = { "rules_job_state", RULES_SQL_JOB_STATE },
	[RULES_DISPUTE_STATE] = { "rules_dispute_state",
		"SELECT state, deadline_s FROM rule_disputes "
		"WHERE job = $1::bytea AND validator = $2::bytea" },
};

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static enum chain_err rules_run(struct pg_chain *p, PGresult **out, enum rules_stmt s,
				const struct pgdb_args *a)
{
	ASSAY_ASSERT((unsigned)s < RULES_STMT_COUNT_);
	return chain_pg_exec(p, out, &rules_sql[s], a);
}

/* A result of exactly `rows` rows (0 or 1) of `cols` columns, else
 * CHAIN_ERR_BACKEND naming the statement. */
static enum chain_err rules_shape(struct pg_chain *p, const PGresult *res, enum rules_stmt s,
				  int rows, int cols)
{
	if (PQntuples(res) == rows && (rows == 0 || PQnfields(res) == cols))
		return CHAIN_OK;
	snprintf(p->why, sizeof(p->why), "statement '%s' returned an unexpected result",
		 rules_sql[s].what);
	return CHAIN_ERR_BACKEND;
}

static int rules_bool(const PGresult *res, int col)
{
	return PQgetvalue(res, 0, col)[0] == 't';
}

/* A non-negative integer column (our own bigint/smallint columns; still
 * checked, not asserted). */
static enum chain_err rules_u64(struct pg_chain *p, uint64_t *out, const PGresult *res, int col)
{
	const char *v = PQgetvalue(res, 0, col);
	char *end = NULL;

	*out = strtoull(v, &end, 10);
	if (v[0] >= '0' && v[0] <= '9' && end && *end == '\0')
		return CHAIN_OK;
	snprintf(p->why, sizeof(p->why), "not a count: '%.40s'", v);
	return CHAIN_ERR_BACKEND;
}

static int rules_is_zero(const uint8_t *b, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= b[i];
	return acc == 0;
}

/* a * b + c, saturating at UINT64_MAX (the contract computes these in
 * uint256, where they never overflow). */
static uint64_t rules_sat(uint64_t a, uint64_t b, uint64_t c)
{
	if (b && a > UINT64_MAX / b)
		return UINT64_MAX;
	a *= b;
	return a > UINT64_MAX - c ? UINT64_MAX : a + c;
}

/* 1 when sig is a usable signature (PROTOCOL.md section 2) of digest by
 * `who`: the contract's _recover(digest, sig) == who. */
static int rules_signed_by(const uint8_t sig[RCPT_SIG_BYTES],
			   const uint8_t digest[RCPT_HASH_BYTES],
			   const uint8_t who[RCPT_ADDR_BYTES])
{
	uint8_t signer[RCPT_ADDR_BYTES];

	return rcpt_recover_digest(signer, sig, digest) == RCPT_OK &&
	       memcmp(signer, who, RCPT_ADDR_BYTES) == 0;
}

/* The common preamble of the writing statement calls. */
static enum chain_err rules_ready(struct chain *c, uint64_t now_s)
{
	const struct pg_chain *p = (const struct pg_chain *)c;

	if (now_s > CHAIN_PG_TIME_S_MAX)
		return CHAIN_ERR_ARG;
	return p->rules_on ? CHAIN_OK : CHAIN_ERR_UNSUPPORTED;
}

static void rules_domain(const struct pg_chain *p, struct rcpt_domain *d)
{
	rcpt_domain_assay(d, p->params.chain_id, p->escrow);
}

/* ------------------------------------------------------------------ */
/* The parameters                                                       */

int chain_pg_rules_params(int *on, const char **why, const struct chain_params *q)
{
	ASSAY_ASSERT(on && why && q);
	*on = q->sample_bps || q->slash_bps || q->bounty_bps || q->challenge_window_s ||
	      q->referee_deadline_s;
	*why = NULL;
	if (!*on)
		return 1;
	/* AssayEscrow's constructor, check for check. */
	if (rules_is_zero(q->min_stake.be, sizeof(q->min_stake.be)) || !q->sample_bps ||
	    !q->slash_bps)
		*why = "min_stake, sample_bps and slash_bps must not be zero";
	else if (q->sample_bps > CHAIN_BPS || q->slash_bps > CHAIN_BPS ||
		 q->bounty_bps > CHAIN_BPS)
		*why = "a bps above 10000";
	else if (!q->challenge_window_s || !q->referee_deadline_s)
		*why = "the challenge window and the referee deadline must not be zero";
	else if (q->challenge_window_s > CHAIN_DEADLINE_MAX_S ||
		 q->referee_deadline_s > CHAIN_DEADLINE_MAX_S)
		*why = "the challenge window or the referee deadline above 30 days";
	else if (q->unbonding_s <= q->challenge_window_s + q->referee_deadline_s ||
		 q->unbonding_s > CHAIN_UNBONDING_MAX_S)
		*why = "unbonding_s must exceed window + referee deadline, and be at most a year";
	return *why == NULL;
}

enum chain_err chain_pg_rules(struct chain *c, struct chain_rules *out)
{
	const struct pg_chain *p = (const struct pg_chain *)c;

	if (!c || !out)
		return CHAIN_ERR_ARG;
	if (!p->rules_on)
		return CHAIN_ERR_UNSUPPORTED;
	memset(out, 0, sizeof(*out));
	out->min_stake = p->params.min_stake;
	out->sample_bps = p->params.sample_bps;
	out->slash_bps = p->params.slash_bps;
	out->bounty_bps = p->params.bounty_bps;
	out->challenge_window_s = p->params.challenge_window_s;
	out->referee_deadline_s = p->params.referee_deadline_s;
	out->unbonding_s = p->params.unbonding_s;
	out->deadline_max_s = CHAIN_DEADLINE_MAX_S;
	out->clock_skew_ms = CHAIN_CLOCK_SKEW_MS;
	out->disputes_per_job_max = CHAIN_DISPUTES_PER_JOB_MAX;
	return CHAIN_OK;
}

/* ------------------------------------------------------------------ */
/* openJob                                                              */

struct rules_open {
	const struct rcpt_job *spec;
	uint8_t job[RCPT_HASH_BYTES];
	uint64_t now_s;
};

/* _checkOpen from JobExists on (the pure checks before it are made). */
static enum chain_err rules_open_checks(struct pg_chain *p, const struct rules_open *o)
{
	const struct rcpt_job *s = o->spec;
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc;

	pgdb_arg_bytes(&a, o->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, s->customer, RCPT_ADDR_BYTES);
	pgdb_arg_bytes(&a, s->provider, RCPT_ADDR_BYTES);
	chain_pg_arg_u256(&a, &s->max_price);
	pgdb_arg_text(&a, p->min_stake);
	pgdb_arg_u64(&a, p->params.sample_bps);
	pgdb_arg_u64(&a, p->params.slash_bps);
	rc = rules_run(p, &res, RULES_OPEN_CHECK, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_OPEN_CHECK, 1, 4);
	if (rc)
		goto out;
	if (rules_bool(res, 0))
		rc = CHAIN_ERR_EXISTS;
	else if (s->deadline <= o->now_s || s->deadline > o->now_s + CHAIN_DEADLINE_MAX_S)
		rc = CHAIN_ERR_DEADLINE;
	else if (rules_is_zero(s->max_price.be, sizeof(s->max_price.be)))
		rc = CHAIN_ERR_ARG;
	else if (!rules_is_zero(s->max_price.be, 16))   /* >= 2^128 */
		rc = CHAIN_ERR_OVERFLOW;
	else if (!rules_bool(res, 1))
		rc = CHAIN_ERR_INSUFFICIENT;
	else if (!rules_bool(res, 2))
		rc = CHAIN_ERR_STAKE_LOW;
	else if (!rules_bool(res, 3))
		rc = CHAIN_ERR_STAKE_FOR_PRICE;
out:
	PQclear(res);
	return rc;
}

static enum chain_err rules_body_open(struct pg_chain *p, void *arg)
{
	const struct rules_open *o = arg;
	const struct rcpt_job *s = o->spec;
	struct pgdb_args a = { .n = 0 };
	enum chain_err rc;

	rc = rules_open_checks(p, o);
	if (!rc)
		rc = chain_pg_lock_in_txn(p, o->job, s->customer, s->provider, &s->max_price,
					  o->now_s);
	if (rc)
		return rc;
	pgdb_arg_bytes(&a, o->job, RCPT_HASH_BYTES);
	pgdb_arg_u64(&a, s->deadline);
	pgdb_arg_u64(&a, o->now_s);
	pgdb_arg_bytes(&a, s->kernel_hash, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, s->input_root, RCPT_HASH_BYTES);
	pgdb_arg_u64(&a, s->input_size);
	return rules_run(p, NULL, RULES_JOB_INSERT, &a);
}

enum chain_err chain_pg_open_job(struct chain *c, uint8_t job_out[RCPT_HASH_BYTES],
				 const struct rcpt_job *spec, const uint8_t sig[RCPT_SIG_BYTES],
				 uint64_t now_s)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct rules_open o = { .spec = spec, .now_s = now_s };
	struct rcpt_domain d;
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !job_out || !spec || !sig)
		goto out;
	rc = rules_ready(c, now_s);
	if (rc)
		goto out;
	rules_domain(p, &d);
	/* A JobSpec out of PROTOCOL.md's forms was never signed by a wallet. */
	rc = rcpt_job_id(o.job, NULL, &d, spec) == RCPT_OK ? CHAIN_OK : CHAIN_ERR_ARG;
	if (rc)
		goto out;
	/* Refusals in the contract's order (openJob, then _checkOpen). */
	if (!rules_signed_by(sig, o.job, spec->customer))
		rc = CHAIN_ERR_SIGNATURE;
	else if (rules_is_zero(spec->provider, RCPT_ADDR_BYTES))
		rc = CHAIN_ERR_ARG;
	else if (memcmp(spec->customer, spec->provider, RCPT_ADDR_BYTES) == 0)
		rc = CHAIN_ERR_SAME_PARTY;
	else
		rc = chain_pg_txn(p, rules_body_open, &o);
	if (!rc)
		memcpy(job_out, o.job, RCPT_HASH_BYTES);
out:
	return rc;
}

/* ------------------------------------------------------------------ */
/* submitReceipt                                                        */

struct rules_receipt {
	const struct rcpt_receipt *r;
	uint8_t id[RCPT_HASH_BYTES];
	int signed_ok;                 /* the signature recovers r->provider */
	uint64_t now_s;
};

/* _checkTimes: startedAt <= finishedAt <= now * 1000 + skew, and
 * startedAt + skew >= openedAt * 1000. */
static int rules_times_ok(const struct rcpt_receipt *r, uint64_t opened_s, uint64_t now_s)
{
	return r->started_at_ms <= r->finished_at_ms &&
	       r->finished_at_ms <= rules_sat(now_s, 1000, CHAIN_CLOCK_SKEW_MS) &&
	       rules_sat(r->started_at_ms, 1, CHAIN_CLOCK_SKEW_MS) >= rules_sat(opened_s, 1000, 0);
}

/* submitReceipt's checks, in its order. */
static enum chain_err rules_receipt_checks(struct pg_chain *p, const struct rules_receipt *x)
{
	const struct rcpt_receipt *r = x->r;
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	uint64_t state = 0, deadline = 0, opened = 0;
	enum chain_err rc;

	pgdb_arg_bytes(&a, r->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, r->kernel_hash, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, r->input_root, RCPT_HASH_BYTES);
	pgdb_arg_u64(&a, r->input_size);
	pgdb_arg_bytes(&a, r->provider, RCPT_ADDR_BYTES);
	chain_pg_arg_u256(&a, &r->price);
	rc = rules_run(p, &res, RULES_RECEIPT_GET, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_RECEIPT_GET, PQntuples(res) ? 1 : 0, 6);
	if (!rc && PQntuples(res) == 1)
		rc = rules_u64(p, &state, res, 0);
	if (!rc && state == CHAIN_JOB_OPEN)
		rc = rules_u64(p, &deadline, res, 1);
	if (!rc && state == CHAIN_JOB_OPEN)
		rc = rules_u64(p, &opened, res, 2);
	if (rc)
		goto out;
	if (state != CHAIN_JOB_OPEN)
		rc = CHAIN_ERR_STATE;
	else if (x->now_s > deadline)
		rc = CHAIN_ERR_DEADLINE;
	else if (!rules_bool(res, 3) || !rules_bool(res, 4))
		rc = CHAIN_ERR_MISMATCH;
	else if (!rules_bool(res, 5))
		rc = CHAIN_ERR_PRICE;
	else if (!rules_times_ok(r, opened, x->now_s))
		rc = CHAIN_ERR_TIMES;
	else if (!x->signed_ok)
		rc = CHAIN_ERR_SIGNATURE;
out:
	PQclear(res);
	return rc;
}

static enum chain_err rules_body_receipt(struct pg_chain *p, void *arg)
{
	const struct rules_receipt *x = arg;
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc;

	rc = rules_receipt_checks(p, x);
	if (rc)
		goto out;
	pgdb_arg_bytes(&a, x->r->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, x->id, RCPT_HASH_BYTES);
	chain_pg_arg_u256(&a, &x->r->price);
	pgdb_arg_u64(&a, x->now_s + p->params.challenge_window_s);
	rc = rules_run(p, &res, RULES_RECEIPTED, &a);
	if (!rc && pgdb_affected(res) != 1) {
		snprintf(p->why, sizeof(p->why), "%s", "receipted job not updated");
		rc = CHAIN_ERR_BACKEND;
	}
out:
	PQclear(res);
	return rc;
}

enum chain_err chain_pg_submit_receipt(struct chain *c, uint8_t receipt_out[RCPT_HASH_BYTES],
				       const struct rcpt_receipt *r,
				       const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct rules_receipt x = { .r = r, .now_s = now_s };
	struct rcpt_domain d;
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !receipt_out || !r || !sig)
		goto out;
	rc = rules_ready(c, now_s);
	if (rc)
		goto out;
	rules_domain(p, &d);
	rc = rcpt_receipt_id(x.id, NULL, &d, r) == RCPT_OK ? CHAIN_OK : CHAIN_ERR_ARG;
	if (rc)
		goto out;
	/* Recovered now, refused last (the contract's order). */
	x.signed_ok = rules_signed_by(sig, x.id, r->provider);
	rc = chain_pg_txn(p, rules_body_receipt, &x);
	if (!rc)
		memcpy(receipt_out, x.id, RCPT_HASH_BYTES);
out:
	return rc;
}

/* ------------------------------------------------------------------ */
/* settle                                                               */

struct rules_job_at {
	const uint8_t *job;
	uint64_t now_s;
};

/* Sets a statement job with no open dispute to `state`. */
static enum chain_err rules_set_state(struct pg_chain *p, const uint8_t *job,
				      enum chain_job_state state)
{
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc;

	pgdb_arg_bytes(&a, job, RCPT_HASH_BYTES);
	pgdb_arg_u64(&a, (uint64_t)state);
	rc = rules_run(p, &res, RULES_SET_STATE, &a);
	if (!rc && pgdb_affected(res) != 1) {
		snprintf(p->why, sizeof(p->why), "%s", "statement job not updated");
		rc = CHAIN_ERR_BACKEND;
	}
	PQclear(res);
	return rc;
}

static enum chain_err rules_body_settle(struct pg_chain *p, void *arg)
{
	const struct rules_job_at *x = arg;
	struct pgdb_args a = { .n = 0 };
	struct rcpt_u256 price;
	PGresult *res = NULL;
	uint64_t state = 0, deadline = 0, window_end = 0;
	enum chain_err rc;

	pgdb_arg_bytes(&a, x->job, RCPT_HASH_BYTES);
	rc = rules_run(p, &res, RULES_SETTLE_GET, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_SETTLE_GET, PQntuples(res) ? 1 : 0, 4);
	if (!rc && PQntuples(res) == 1) {
		rc = rules_u64(p, &state, res, 0);
		if (!rc)
			rc = rules_u64(p, &deadline, res, 1);
		if (!rc)
			rc = rules_u64(p, &window_end, res, 2);
		if (!rc)
			rc = chain_pg_parse_u256(p, &price, PQgetvalue(res, 0, 3));
	}
	if (rc)
		goto out;
	if (state == CHAIN_JOB_RECEIPTED && x->now_s >= window_end) {
		rc = chain_pg_settle_in_txn(p, x->job, &price, x->now_s);
		if (!rc)
			rc = rules_set_state(p, x->job, CHAIN_JOB_PAID);
	} else if (state == CHAIN_JOB_OPEN && x->now_s > deadline) {
		rc = chain_pg_settle_in_txn(p, x->job, NULL, x->now_s);
		if (!rc)
			rc = rules_set_state(p, x->job, CHAIN_JOB_REFUNDED);
	} else {
		rc = CHAIN_ERR_STATE;   /* NotSettleable, unknown jobs included */
	}
out:
	PQclear(res);
	return rc;
}

enum chain_err chain_pg_settle(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
			       uint64_t now_s)
{
	struct rules_job_at x = { .job = job, .now_s = now_s };
	enum chain_err rc = CHAIN_ERR_ARG;

	if (c && job)
		rc = rules_ready(c, now_s);
	if (!rc)
		rc = chain_pg_txn((struct pg_chain *)c, rules_body_settle, &x);
	return rc;
}

/* ------------------------------------------------------------------ */
/* attest                                                               */

struct rules_attest {
	const struct rcpt_attestation *a;
	const struct rcpt_receipt *r;
	uint8_t rid[RCPT_HASH_BYTES];
	int signed_ok;                 /* the signature recovers a->validator */
	uint64_t now_s;
};

/* The verdict's own rule: 1 names the receipt's outputRoot, 2 another. */
static enum chain_err rules_verdict(const struct rules_attest *x)
{
	int same = memcmp(x->a->output_root, x->r->output_root, RCPT_HASH_BYTES) == 0;

	ASSAY_ASSERT(x->a->verdict == RCPT_VERDICT_MATCH ||
		     x->a->verdict == RCPT_VERDICT_DIFFERS);   /* hashed: checked */
	if (x->a->verdict == RCPT_VERDICT_MATCH)
		return same ? CHAIN_OK : CHAIN_ERR_VERDICT;
	return same ? CHAIN_ERR_VERDICT : CHAIN_OK;
}

/* attest's checks through the verdict; *dispute set when it opens one. */
static enum chain_err rules_attest_checks(struct pg_chain *p, const struct rules_attest *x,
					  int *dispute)
{
	struct pgdb_args q = { .n = 0 };
	PGresult *res = NULL;
	uint64_t state = 0, window_end = 0, disputants = 0;
	enum chain_err rc;

	pgdb_arg_bytes(&q, x->r->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&q, x->rid, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&q, x->a->validator, RCPT_ADDR_BYTES);
	pgdb_arg_text(&q, p->min_stake);
	rc = rules_run(p, &res, RULES_ATTEST_GET, &q);
	if (!rc)
		rc = rules_shape(p, res, RULES_ATTEST_GET, PQntuples(res) ? 1 : 0, 7);
	if (!rc && PQntuples(res) == 1) {
		rc = rules_u64(p, &state, res, 0);
		if (!rc)
			rc = rules_u64(p, &window_end, res, 1);
		if (!rc)
			rc = rules_u64(p, &disputants, res, 6);
	}
	if (rc)
		goto out;
	if (state != CHAIN_JOB_RECEIPTED && state != CHAIN_JOB_DISPUTED)
		rc = CHAIN_ERR_STATE;
	else if (x->now_s >= window_end)
		rc = CHAIN_ERR_WINDOW;
	else if (!rules_bool(res, 2) || memcmp(x->a->receipt, x->rid, RCPT_HASH_BYTES) != 0)
		rc = CHAIN_ERR_MISMATCH;
	else if (!x->signed_ok)
		rc = CHAIN_ERR_SIGNATURE;
	else if (rules_bool(res, 3))
		rc = CHAIN_ERR_SAME_PARTY;
	else if (!rules_bool(res, 4))
		rc = CHAIN_ERR_STAKE_LOW;
	else
		rc = rules_verdict(x);
	*dispute = !rc && x->a->verdict == RCPT_VERDICT_DIFFERS;
	if (*dispute && rules_bool(res, 5))
		rc = CHAIN_ERR_EXISTS;
	else if (*dispute && disputants >= CHAIN_DISPUTES_PER_JOB_MAX)
		rc = CHAIN_ERR_DISPUTES_MAX;
out:
	PQclear(res);
	return rc;
}

static enum chain_err rules_body_attest(struct pg_chain *p, void *arg)
{
	const struct rules_attest *x = arg;
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	int dispute = 0;
	enum chain_err rc;

	rc = rules_attest_checks(p, x, &dispute);
	if (rc || !dispute)
		goto out;   /* verdict 1 is an event on the contract: nothing to keep */
	pgdb_arg_bytes(&a, x->r->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, x->a->validator, RCPT_ADDR_BYTES);
	pgdb_arg_u64(&a, x->now_s + p->params.referee_deadline_s);
	rc = rules_run(p, &res, RULES_DISPUTE_OPEN, &a);
	if (!rc && pgdb_affected(res) != 1) {
		snprintf(p->why, sizeof(p->why), "%s", "disputed job not updated");
		rc = CHAIN_ERR_BACKEND;
	}
out:
	PQclear(res);
	return rc;
}

enum chain_err chain_pg_attest(struct chain *c, const struct rcpt_attestation *a,
			       const uint8_t sig[RCPT_SIG_BYTES], const struct rcpt_receipt *r,
			       uint64_t now_s)
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct rules_attest x = { .a = a, .r = r, .now_s = now_s };
	uint8_t digest[RCPT_HASH_BYTES];
	struct rcpt_domain d;
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !a || !sig || !r)
		goto out;
	rc = rules_ready(c, now_s);
	if (rc)
		goto out;
	rules_domain(p, &d);
	if (rcpt_receipt_id(x.rid, NULL, &d, r) != RCPT_OK ||
	    rcpt_attestation_digest(digest, NULL, &d, a) != RCPT_OK) {
		rc = CHAIN_ERR_ARG;
		goto out;
	}
	x.signed_ok = rules_signed_by(sig, digest, a->validator);
	rc = chain_pg_txn(p, rules_body_attest, &x);
out:
	return rc;
}

/* ------------------------------------------------------------------ */
/* decide, expireDispute                                                */

struct rules_verdict {
	const uint8_t *job, *validator;
	int provider_wrong;
	int expire;                    /* expireDispute rather than decide */
	uint64_t now_s;
};

/* Takes slashBps of offender's bond for `job`, bountyBps of it to
 * bounty_to (NULL: no bounty, all to the treasury): _slash.  A bond of
 * nothing slashes nothing (the contract's Slashed(0) moves nothing). */
static enum chain_err rules_slash(struct pg_chain *p, const uint8_t *offender,
				  const uint8_t *bounty_to, const uint8_t *provider,
				  const struct rules_verdict *v)
{
	struct pgdb_args a = { .n = 0 };
	struct rcpt_u256 amount, bounty;
	PGresult *res = NULL;
	enum chain_err rc;

	pgdb_arg_bytes(&a, offender, RCPT_ADDR_BYTES);
	pgdb_arg_u64(&a, p->params.slash_bps);
	pgdb_arg_u64(&a, bounty_to ? p->params.bounty_bps : 0);
	rc = rules_run(p, &res, RULES_SLASH_SHARES, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_SLASH_SHARES, 1, 2);
	if (!rc)
		rc = chain_pg_parse_u256(p, &amount, PQgetvalue(res, 0, 0));
	if (!rc)
		rc = chain_pg_parse_u256(p, &bounty, PQgetvalue(res, 0, 1));
	if (rc || rules_is_zero(amount.be, sizeof(amount.be)))
		goto out;
	ASSAY_ASSERT(rcpt_u256_cmp(&bounty, &amount) <= 0);
	/* The ledger records a bounty recipient; with no bounty it is the
	 * job's provider, as the escrow service records a validator's slash. */
	rc = chain_pg_slash_in_txn(p, offender, &amount, bounty_to ? bounty_to : provider,
				   &bounty, v->job, v->now_s);
out:
	PQclear(res);
	return rc;
}

/* Ends the validator's dispute as `to`; with `moot`, the job's other
 * open disputes as moot; the job becomes `then` once none is open. */
static enum chain_err rules_close(struct pg_chain *p, const struct rules_verdict *v,
				  enum chain_dispute_state to, int moot,
				  enum chain_job_state then)
{
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc;

	pgdb_arg_bytes(&a, v->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, v->validator, RCPT_ADDR_BYTES);
	pgdb_arg_u64(&a, (uint64_t)to);
	pgdb_arg_text(&a, moot ? "true" : "false");
	pgdb_arg_u64(&a, (uint64_t)then);
	rc = rules_run(p, &res, RULES_DISPUTE_CLOSE, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_DISPUTE_CLOSE, 1, 1);
	PQclear(res);
	return rc;
}

/* The dispute's state and deadline, and the job's provider. */
static enum chain_err rules_dispute_get(struct pg_chain *p, const struct rules_verdict *v,
					uint64_t *state, uint64_t *deadline,
					uint8_t provider[RCPT_ADDR_BYTES])
{
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	enum chain_err rc;

	*state = CHAIN_DISPUTE_NONE;
	pgdb_arg_bytes(&a, v->job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, v->validator, RCPT_ADDR_BYTES);
	rc = rules_run(p, &res, RULES_DISPUTE_GET, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_DISPUTE_GET, PQntuples(res) ? 1 : 0, 3);
	if (rc || PQntuples(res) == 0)
		goto out;
	rc = rules_u64(p, state, res, 0);
	if (!rc)
		rc = rules_u64(p, deadline, res, 1);
	if (!rc && rcpt_hex_decode(provider, RCPT_ADDR_BYTES, PQgetvalue(res, 0, 2)) != RCPT_OK)
		rc = CHAIN_ERR_BACKEND;
out:
	PQclear(res);
	return rc;
}

static enum chain_err rules_body_verdict(struct pg_chain *p, void *arg)
{
	const struct rules_verdict *v = arg;
	uint8_t provider[RCPT_ADDR_BYTES];
	uint64_t state = 0, deadline = 0;
	enum chain_err rc;

	rc = rules_dispute_get(p, v, &state, &deadline, provider);
	if (rc)
		return rc;
	if (state != CHAIN_DISPUTE_OPEN)
		return CHAIN_ERR_DISPUTE_NOT_OPEN;
	if (v->expire) {
		if (v->now_s <= deadline)
			return CHAIN_ERR_DISPUTE_NOT_EXPIRED;
		rc = rules_close(p, v, CHAIN_DISPUTE_EXPIRED, 1, CHAIN_JOB_REFUNDED);
	} else if (v->now_s > deadline) {
		return CHAIN_ERR_DISPUTE_EXPIRED;
	} else if (v->provider_wrong) {
		rc = rules_close(p, v, CHAIN_DISPUTE_PROVIDER_WRONG, 1, CHAIN_JOB_REFUNDED);
		if (!rc)
			rc = rules_slash(p, provider, v->validator, provider, v);
	} else {
		rc = rules_close(p, v, CHAIN_DISPUTE_VALIDATOR_WRONG, 0, CHAIN_JOB_RECEIPTED);
		if (!rc)
			rc = rules_slash(p, v->validator, NULL, provider, v);
		return rc;
	}
	/* Provider wrong or expired: the customer gets maxPrice back. */
	if (!rc)
		rc = chain_pg_settle_in_txn(p, v->job, NULL, v->now_s);
	return rc;
}

static enum chain_err rules_verdict_call(struct chain *c, struct rules_verdict *v)
{
	enum chain_err rc = CHAIN_ERR_ARG;

	if (c && v->job && v->validator)
		rc = rules_ready(c, v->now_s);
	if (!rc)
		rc = chain_pg_txn((struct pg_chain *)c, rules_body_verdict, v);
	return rc;
}

enum chain_err chain_pg_decide(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
			       const uint8_t validator[RCPT_ADDR_BYTES], int provider_wrong,
			       uint64_t now_s)
{
	/* The caller is the referee: whoever holds the ledger decides. */
	struct rules_verdict v = {
		.job = job, .validator = validator, .provider_wrong = provider_wrong != 0,
		.now_s = now_s,
	};

	return rules_verdict_call(c, &v);
}

enum chain_err chain_pg_expire_dispute(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				       const uint8_t validator[RCPT_ADDR_BYTES], uint64_t now_s)
{
	struct rules_verdict v = { .job = job, .validator = validator, .expire = 1, .now_s = now_s };

	return rules_verdict_call(c, &v);
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */

enum chain_err chain_pg_job_state(struct chain *c, enum chain_job_state *out,
				  const uint8_t job[RCPT_HASH_BYTES])
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	uint64_t state = 0;
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !out || !job)
		goto out;
	rc = chain_pg_ready(p);
	pgdb_arg_bytes(&a, job, RCPT_HASH_BYTES);
	if (!rc)
		rc = rules_run(p, &res, RULES_JOB_STATE, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_JOB_STATE, 1, 1);
	if (!rc)
		rc = rules_u64(p, &state, res, 0);
	if (!rc && state > CHAIN_JOB_REFUNDED)
		rc = CHAIN_ERR_BACKEND;
	if (!rc)
		*out = (enum chain_job_state)state;
out:
	PQclear(res);
	return rc;
}

enum chain_err chain_pg_dispute_state(struct chain *c, enum chain_dispute_state *out,
				      uint64_t *deadline_s, const uint8_t job[RCPT_HASH_BYTES],
				      const uint8_t validator[RCPT_ADDR_BYTES])
{
	struct pg_chain *p = (struct pg_chain *)c;
	struct pgdb_args a = { .n = 0 };
	PGresult *res = NULL;
	uint64_t state = 0, deadline = 0;
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !out || !job || !validator)
		goto out;
	rc = chain_pg_ready(p);
	pgdb_arg_bytes(&a, job, RCPT_HASH_BYTES);
	pgdb_arg_bytes(&a, validator, RCPT_ADDR_BYTES);
	if (!rc)
		rc = rules_run(p, &res, RULES_DISPUTE_STATE, &a);
	if (!rc)
		rc = rules_shape(p, res, RULES_DISPUTE_STATE, PQntuples(res) ? 1 : 0, 2);
	if (!rc && PQntuples(res) == 1) {
		rc = rules_u64(p, &state, res, 0);
		if (!rc)
			rc = rules_u64(p, &deadline, res, 1);
	}
	if (!rc && (state == CHAIN_DISPUTE_NONE || state > CHAIN_DISPUTE_EXPIRED) &&
	    PQntuples(res) == 1)
		rc = CHAIN_ERR_BACKEND;
	if (rc)
		goto out;
	*out = (enum chain_dispute_state)state;
	if (deadline_s)
		*deadline_s = deadline;
out:
	PQclear(res);
	return rc;
}
