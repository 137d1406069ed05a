/*
 * settle.c: the settlement thread and the referee.
 *
 * Every tick (one second) it reads what is due from PostgreSQL and moves
 * each job one step, in this order:
 *   1. stale `opening` rows: the lock is retried (EXISTS = done) and the
 *      job opened, or the row dropped when the ledger refuses;
 *   2. intents recorded: `open` past its deadline -> `refunding`;
 *      `receipted` with its window closed -> `releasing`;
 *   3. open disputes: for a job whose input the escrow lacks, the
 *      referee fetches it from the provider's registered URL (a signed
 *      request, at most once per ESCROW_FETCH_INTERVAL_S per job); when
 *      the input is there it asks the referee thread (referee.c) for
 *      the re-execution, which runs in the job sandbox off this loop,
 *      and decides once it is done; or it decides "input withheld"
 *      past --referee-deadline-s;
 *   4. decided disputes: the slash is made (SETTLED = done);
 *   5. `releasing` -> chain_release -> `paid`; `refunding` ->
 *      chain_refund -> `refunded` (SETTLED = done).
 * Nothing but the time of the last input fetch per job (a rate limit,
 * not a decision) is kept in memory between ticks, so a restart resumes exactly
 * where the database says, and a settlement due is made once: the intent
 * row is written before the ledger call, and the ledger refuses a second
 * settlement of a job.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assay_assert.h"
#include "escrow.h"
#include "httpd_client.h"
#include "monotonic.h"
#include "referee.h"
#include "watch.h"
#include "banned.h"

/* When the referee last asked a provider for a job's input. */
struct fetch_slot {
	uint8_t job[RCPT_HASH_BYTES];
	uint64_t at_s;
	int used;
};

struct settle {
	struct escrow *e;
	struct escrow_db db;
	struct chain *chain;
	int chain_lost;           /* a call answered UNAVAILABLE this tick */
	int settler, said;        /* this escrow settles; the log said which */
	struct fetch_slot fetched[ESCROW_FETCH_TRACK_MAX];
	struct escrow_dispute_cursor disputes;   /* the referee's walk */
	/* The scheduled invariant check (settle_invariants): when it is due
	 * next (monotonic ms; 0: at the first tick) and its counters, which
	 * /metrics exports as they are. */
	uint64_t inv_due_ms;
	uint64_t inv_checks, inv_errors, inv_fail[ESCROW_INVARIANT_RULES];
};

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* Monotonic milliseconds: a schedule that a clock step does not move. */
static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A ledger call's result.  UNAVAILABLE only marks the connection lost:
 * the tick's loops stop at their next job (ledger_lost) and settle_tick
 * frees and reopens it afterwards, so no call ever goes through a freed
 * chain (freeing it here crashed the escrow when the ledger's connection
 * dropped in the middle of a batch). */
static enum chain_err ch(struct settle *s, enum chain_err ce)
{
	if (ce == CHAIN_ERR_UNAVAILABLE)
		s->chain_lost = 1;
	return ce;
}

static int ledger_lost(const struct settle *s)
{
	return s->chain == NULL || s->chain_lost;
}

/* One step of the job's table with one audit entry, in one transaction;
 * steals data. */
static enum escrow_db_err step(struct settle *s, const uint8_t id[RCPT_HASH_BYTES],
			       enum escrow_job_op op, enum escrow_job_state from,
			       const char *event, json_t *data, uint64_t now)
{
	char sub[80];

	escrow_subject_job(sub, id);
	return escrow_db_step_audit(&s->db, id, op, from, sub, event, data, now);
}

static void settle_opening(struct settle *s, uint64_t now)
{
	uint8_t ids[ESCROW_SETTLE_BATCH][RCPT_HASH_BYTES];
	size_t n = 0, i;

	if (escrow_db_jobs_in_state(&s->db, ids, &n, ESCROW_SETTLE_BATCH, JOB_OPENING, now))
		return;
	for (i = 0; i < n && !ledger_lost(s); i++) {
		struct escrow_job j;
		enum chain_err ce;
		if (escrow_db_job_get(&s->db, &j, ids[i]))
			continue;
		ce = ch(s, chain_lock(s->chain, j.id, j.job.customer, j.job.provider,
				      &j.job.max_price, now));
		if (ce == CHAIN_OK || ce == CHAIN_ERR_EXISTS)
			(void)step(s, j.id, JOB_OP_FUNDED, JOB_OPENING, "opened",
				   json_pack("{s:s}", "by", "recovery"), now);
		else if (ce != CHAIN_ERR_UNAVAILABLE && ce != CHAIN_ERR_CONFLICT)
			(void)escrow_db_job_delete_opening(&s->db, j.id);
	}
}

/* The jobs in `from` that are due take the step `op` (a deadline or a
 * window passed); returns how many moved (at most ESCROW_SETTLE_BATCH). */
static size_t settle_mark(struct settle *s, enum escrow_job_op op, enum escrow_job_state from,
			  const char *event, uint64_t now)
{
	uint8_t ids[ESCROW_SETTLE_BATCH][RCPT_HASH_BYTES];
	size_t n = 0, i, moved = 0;

	if (escrow_db_jobs_in_state(&s->db, ids, &n, ESCROW_SETTLE_BATCH, from, now))
		return 0;
	ASSAY_ASSERT(n <= ESCROW_SETTLE_BATCH);
	for (i = 0; i < n; i++)
		moved += step(s, ids[i], op, from, event, NULL, now) == ESCROW_DB_OK;
	ASSAY_ASSERT(moved <= n);
	return moved;
}

/* The ledger call of a decided job (`from` releasing or refunding), then
 * its final step; returns how many moved (at most ESCROW_SETTLE_BATCH). */
static size_t settle_finish(struct settle *s, enum escrow_job_state from, uint64_t now)
{
	uint8_t ids[ESCROW_SETTLE_BATCH][RCPT_HASH_BYTES];
	size_t n = 0, i, moved = 0;
	int pay = escrow_job_next(JOB_OP_RELEASED, from, NULL);

	ASSAY_ASSERT(pay || escrow_job_next(JOB_OP_REFUNDED, from, NULL));
	if (escrow_db_jobs_in_state(&s->db, ids, &n, ESCROW_SETTLE_BATCH, from, 0))
		return 0;
	ASSAY_ASSERT(n <= ESCROW_SETTLE_BATCH);
	for (i = 0; i < n && !ledger_lost(s); i++) {
		struct escrow_job j;
		enum chain_err ce;
		char pr[RCPT_U256_DEC_BYTES], mp[RCPT_U256_DEC_BYTES];
		if (escrow_db_job_get(&s->db, &j, ids[i]))
			continue;
		/* releasing is reached only from receipted: a price exists and
		 * fits the lock (the bundle check and a CHECK both said so). */
		ASSAY_ASSERT(!pay || j.has_receipt);
		ASSAY_ASSERT(!pay || rcpt_u256_cmp(&j.receipt.price, &j.job.max_price) <= 0);
		ce = pay ? chain_release(s->chain, j.id, &j.receipt.price, now)
			 : chain_refund(s->chain, j.id, now);
		ce = ch(s, ce);
		if (ce != CHAIN_OK && ce != CHAIN_ERR_SETTLED) {
			if (ce != CHAIN_ERR_UNAVAILABLE)
				fprintf(stderr, "assay-escrow: settle: %s refused: %s\n",
					pay ? "release" : "refund", chain_errname(ce));
			continue;
		}
		rcpt_u256_format(mp, &j.job.max_price);
		if (pay) {
			rcpt_u256_format(pr, &j.receipt.price);
			moved += step(s, j.id, JOB_OP_RELEASED, from, "paid",
				      json_pack("{s:s, s:s}", "price", pr, "maxPrice", mp),
				      now) == ESCROW_DB_OK;
		} else {
			moved += step(s, j.id, JOB_OP_REFUNDED, from, "refunded",
				      json_pack("{s:s}", "amount", mp), now) == ESCROW_DB_OK;
		}
	}
	ASSAY_ASSERT(moved <= n);
	return moved;
}

/* ---------------------------------------------------------------- referee */

enum verdict { V_PROVIDER_WRONG, V_VALIDATOR_WRONG, V_UNDECIDED };

/* The referee's answer on the job (referee.h): re-executed in the job
 * sandbox on the referee's own thread, never here.  Until the run is
 * done this answers undecided ("referee-pending"), and the dispute is
 * looked at again next tick; a run that hit a limit or failed is no
 * verdict either (docs/escrow.md, "Referee"). */
static enum verdict referee_run(struct settle *s, const struct escrow_job *j,
				const uint8_t *in, size_t len, uint64_t now, int overdue,
				const char **reason)
{
	struct escrow_referee_answer a;
	char url[ESCROW_PROVIDER_URL_BYTES_MAX + 1];
	uint64_t reg = 0;

	if (escrow_db_provider_get(&s->db, url, &reg, j->job.provider) != ESCROW_DB_OK)
		url[0] = '\0';
	escrow_referee_ask(s->e->referee, &a, j->id, &j->job, in, len, url[0] ? url : NULL, now);
	*reason = a.reason;
	switch (a.state) {
	case REF_OUTPUT:
		if (a.out_size == j->receipt.output_size &&
		    memcmp(a.out_root, j->receipt.output_root, RCPT_HASH_BYTES) == 0) {
			*reason = "output-matches-receipt";
			return V_VALIDATOR_WRONG;
		}
		*reason = "output-differs-from-receipt";
		return V_PROVIDER_WRONG;
	case REF_REFUSED:
		/* The kernel refuses this input: no output could match, so
		 * the receipt claiming one is wrong. */
		return V_PROVIDER_WRONG;
	case REF_UNDECIDED:
		/* The provider does not serve the model its receipt ran on:
		 * withheld like an input, once the referee deadline passed. */
		if (overdue && strcmp(a.reason, "model-withheld") == 0)
			return V_PROVIDER_WRONG;
		break;
	case REF_PENDING:
		break;
	}
	return V_UNDECIDED;
}

/* slash = slash_bps of what the offender has bonded; bounty = bounty_bps of it. */
static int slash_amounts(struct settle *s, const uint8_t who[RCPT_ADDR_BYTES],
			 struct rcpt_u256 *slash, struct rcpt_u256 *bounty, int with_bounty)
{
	struct chain_balance b;
	struct rcpt_u256 bonded;

	if (ledger_lost(s) || ch(s, chain_balance(s->chain, &b, who)))
		return -1;
	if (escrow_u256_add(&bonded, &b.stake, &b.unbonding))
		bonded = b.stake;
	escrow_u256_bps(slash, &bonded, s->e->cfg.slash_bps);
	if (with_bounty)
		escrow_u256_bps(bounty, slash, s->e->cfg.bounty_bps);
	else
		memset(bounty, 0, sizeof(*bounty));
	ASSAY_ASSERT(rcpt_u256_cmp(bounty, slash) <= 0);
	return 0;
}

/* A claim that came without the input is judged with the input another
 * claim on the job brought: the provider is not "withholding" an input the
 * escrow holds.  Returns 1 when the dispute got it (or the database could
 * not say): decide nothing now. */
struct share_input_txn {
	const uint8_t *job;
	const char *sub;
	uint64_t now;
	int n;
};

static enum escrow_db_err share_input_body(struct escrow_db *db, void *arg)
{
	struct share_input_txn *x = arg;
	enum escrow_db_err rc;

	x->n = 0;
	rc = escrow_db_dispute_share_input(db, x->job, &x->n);
	if (!rc && x->n > 0)
		rc = escrow_db_audit(db, x->sub, "input-provided",
				     json_pack("{s:s, s:i}", "source", "another claim",
					       "disputes", x->n), x->now);
	return rc;
}

static int referee_share_input(struct settle *s, const uint8_t job[RCPT_HASH_BYTES],
			       uint64_t now)
{
	char sub[80];
	struct share_input_txn x = { job, sub, now, 0 };

	escrow_subject_job(sub, job);
	if (escrow_db_txn(&s->db, share_input_body, &x))
		return 1;
	ASSAY_ASSERT(x.n >= 0);
	return x.n > 0;
}

/* A withholding report whose input arrived and whose receipt the CPU
 * reference confirms: closed `input_recovered`, nobody slashed, and the
 * job returns to `receipted` once no other dispute is unsettled. */
/* After the dispute's decision: when no dispute of the job is unsettled
 * any more, the job returns to `receipted` (CONFLICT: it moved on). */
static enum escrow_db_err job_cleared_if_settled(struct escrow_db *db,
						 const uint8_t job[RCPT_HASH_BYTES], uint64_t now)
{
	int64_t left = 0;
	enum escrow_db_err rc = escrow_db_disputes_unsettled(db, job, &left);

	if (!rc && left == 0) {
		rc = escrow_db_job_step(db, job, JOB_OP_CLEARED, JOB_DISPUTED, now);
		if (rc == ESCROW_DB_CONFLICT)
			rc = ESCROW_DB_OK;   /* the job moved on (refunding) */
	}
	return rc;
}

/* A referee decision: the job's row first (so that no claim slips in
 * unmooted), the dispute's step, its audit entry; for an upheld one the
 * job's other disputes mooted and the job to `refunding`; for a
 * recovered one (executed at once: nobody is slashed) the job back to
 * `receipted` once nothing else is unsettled. */
struct decide_txn {
	const struct escrow_dispute *d;
	enum escrow_dispute_op op;
	const char *reason, *sub;
	struct rcpt_u256 slash, bounty;
	json_t *data;
	uint64_t now;
};

static enum escrow_db_err decide_body(struct escrow_db *db, void *arg)
{
	const struct decide_txn *x = arg;
	const struct escrow_dispute *d = x->d;
	enum escrow_db_err rc;
	int n = 0;

	rc = escrow_db_job_lock(db, d->job);
	if (!rc)
		rc = escrow_db_dispute_decide(db, d->job, d->validator, d->kind, x->op, x->reason,
					      &x->slash, &x->bounty, x->now);
	if (!rc && x->op == DISPUTE_OP_RECOVER)
		rc = escrow_db_dispute_executed(db, d->job, d->validator, d->kind);
	if (!rc)
		rc = escrow_db_audit(db, x->sub, "dispute-decided", json_incref(x->data), x->now);
	if (!rc && x->op == DISPUTE_OP_UPHOLD) {
		rc = escrow_db_disputes_moot(db, d->job, x->now, &n);
		if (!rc)
			rc = escrow_db_job_step(db, d->job, JOB_OP_UPHELD, JOB_DISPUTED, x->now);
	}
	if (!rc && x->op == DISPUTE_OP_RECOVER)
		rc = job_cleared_if_settled(db, d->job, x->now);
	return rc;
}

static void decide(struct settle *s, struct decide_txn *x)
{
	char sub[80];

	escrow_subject_job(sub, x->d->job);
	x->sub = sub;
	if (escrow_db_txn(&s->db, decide_body, x))
		fprintf(stderr, "assay-escrow: referee: could not record a decision\n");
	json_decref(x->data);
}

/* A withholding report whose input arrived and whose receipt the CPU
 * reference confirms: closed `input_recovered`, nobody slashed, and the
 * job returns to `receipted` once no other dispute is unsettled. */
static void referee_recovered(struct settle *s, const struct escrow_dispute *d, uint64_t now)
{
	char vh[RCPT_ADDR_HEX_BYTES];
	struct decide_txn x = { .d = d, .op = DISPUTE_OP_RECOVER,
				.reason = "output-matches-receipt", .now = now };

	ASSAY_ASSERT(d->kind == DISPUTE_WITHHELD);
	rcpt_address_format(vh, d->validator);
	x.data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "validator", vh,
			   "kind", escrow_dispute_kind_name(d->kind), "outcome", "input-recovered",
			   "reason", "output-matches-receipt", "slash", "0", "bounty", "0");
	decide(s, &x);
}

static void referee_decide(struct settle *s, const struct escrow_dispute *d, uint64_t now)
{
	struct escrow_job j;
	struct rcpt_u256 slash, bounty;
	const char *reason = "input-withheld";
	int withheld = d->kind == DISPUTE_WITHHELD;
	enum verdict v;
	char vh[RCPT_ADDR_HEX_BYTES], sl[RCPT_U256_DEC_BYTES], bo[RCPT_U256_DEC_BYTES];

	ASSAY_ASSERT(withheld || d->kind == DISPUTE_FRAUD);
	if (escrow_db_job_get(&s->db, &j, d->job) || !j.has_receipt)
		return;
	if (!d->has_input && referee_share_input(s, d->job, now))
		return;                 /* judged with it next tick */
	if (d->has_input)
		v = referee_run(s, &j, d->input, d->input_len, now,
				now > d->opened_at_s + s->e->cfg.referee_deadline_s, &reason);
	else if (now > d->opened_at_s + s->e->cfg.referee_deadline_s)
		v = V_PROVIDER_WRONG;   /* input not produced in time */
	else
		return;
	if (v == V_UNDECIDED)
		return;   /* pending, or logged by the referee thread */
	/* A withholding report cannot be proven false: the input came and
	 * the receipt is right, so the report is closed without a slash. */
	if (withheld && v == V_VALIDATOR_WRONG) {
		referee_recovered(s, d, now);
		return;
	}
	if (slash_amounts(s, v == V_PROVIDER_WRONG ? j.job.provider : d->validator,
			  &slash, &bounty, v == V_PROVIDER_WRONG))
		return;
	rcpt_address_format(vh, d->validator);
	rcpt_u256_format(sl, &slash);
	rcpt_u256_format(bo, &bounty);
	{
		struct decide_txn x = { .d = d, .reason = reason, .slash = slash,
					.bounty = bounty, .now = now };
		x.op = v == V_PROVIDER_WRONG ? DISPUTE_OP_UPHOLD : DISPUTE_OP_REJECT;
		x.data = json_pack("{s:s, s:s, s:s, s:s, s:s}", "validator", vh,
				   "outcome", v == V_PROVIDER_WRONG ? "provider-wrong" : "validator-wrong",
				   "reason", reason, "slash", sl, "bounty", bo);
		/* Fraud claims' entries keep their earlier shape. */
		if (x.data && withheld)
			json_object_set_new(x.data, "kind",
					    json_string(escrow_dispute_kind_name(d->kind)));
		decide(s, &x);
	}
}

/* ---------------------------------------------------------------- input fetch */

/* 1 when the job's input may be asked for now (and records the attempt):
 * at most once per ESCROW_FETCH_INTERVAL_S per job.  The table is
 * bounded; a full one forgets its oldest entry. */
static int fetch_due(struct settle *s, const uint8_t job[RCPT_HASH_BYTES], uint64_t now)
{
	struct fetch_slot *slot = NULL, *oldest = &s->fetched[0];
	size_t i;

	for (i = 0; i < ESCROW_FETCH_TRACK_MAX; i++) {
		struct fetch_slot *f = &s->fetched[i];
		if (f->used && memcmp(f->job, job, RCPT_HASH_BYTES) == 0) {
			slot = f;
			break;
		}
		if (!f->used || (oldest->used && f->at_s < oldest->at_s))
			oldest = f;
	}
	if (slot && now < slot->at_s + ESCROW_FETCH_INTERVAL_S)
		return 0;
	if (!slot) {
		slot = oldest;
		memcpy(slot->job, job, RCPT_HASH_BYTES);
		slot->used = 1;
	}
	slot->at_s = now;
	return 1;
}

/* Asks the job's provider for its input (GET {url}/v1/jobs/{id}/input,
 * signed by the escrow's key) and stores it with the job's open disputes
 * when its commitment is the job's.  Any failure (no provider URL, no
 * answer, 404, 410, wrong bytes) leaves things as they were: the next
 * attempt comes after ESCROW_FETCH_INTERVAL_S, and past the referee's
 * deadline the input-withheld rule decides. */
static void referee_fetch(struct settle *s, const uint8_t id[RCPT_HASH_BYTES], uint64_t now)
{
	struct escrow_job j;
	struct httpd_client_req req;
	struct httpd_client_resp resp;
	char url[ESCROW_PROVIDER_URL_BYTES_MAX + 1], target[128], idh[RCPT_HASH_HEX_BYTES],
		sub[80], why[256] = "";
	uint64_t reg = 0;
	enum escrow_db_err rc;
	int n = 0;

	memset(&resp, 0, sizeof(resp));
	if (escrow_db_job_get(&s->db, &j, id) || !j.has_receipt)
		return;
	if (escrow_db_provider_get(&s->db, url, &reg, j.job.provider) != ESCROW_DB_OK)
		return;         /* no URL: the input is withheld */
	escrow_hex(idh, sizeof(idh), id, RCPT_HASH_BYTES);
	snprintf(target, sizeof(target), "/v1/jobs/%s/input", idh);
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.base_url = url;
	req.target = target;
	req.key = &s->e->key;
	req.response_bytes_max = ESCROW_INPUT_BYTES_MAX;
	req.timeout_ms = ESCROW_FETCH_TIMEOUT_MS;
	if (httpd_client_request(&resp, why, sizeof(why), &req) != HTTPD_OK) {
		fprintf(stderr, "assay-escrow: referee: input of job %.18s... not fetched: %s\n",
			idh, why);
		return;
	}
	if (resp.status != 200 ||
	    !escrow_input_matches(&j.job, (const uint8_t *)resp.body, resp.len)) {
		fprintf(stderr, "assay-escrow: referee: input of job %.18s... refused: %s\n", idh,
			resp.status != 200 ? "provider did not serve it" : "commitment differs");
		goto out;
	}
	escrow_subject_job(sub, id);
	rc = escrow_db_begin(&s->db);
	if (!rc)
		rc = escrow_db_dispute_set_input(&s->db, id, (const uint8_t *)resp.body,
						 resp.len, &n);
	if (!rc && n > 0)
		rc = escrow_db_audit(&s->db, sub, "input-provided",
				     json_pack("{s:s, s:I, s:i}", "source", "provider",
					       "size", (json_int_t)resp.len, "disputes", n), now);
	if (!rc)
		rc = escrow_db_commit(&s->db);
	if (rc)
		escrow_db_rollback(&s->db);
out:
	httpd_client_resp_free(&resp);
}

/* Fetches inputs for the oldest jobs that wait for one and are still
 * inside the referee's deadline, at most ESCROW_FETCH_PER_TICK a tick. */
static void settle_fetch_inputs(struct settle *s, uint64_t now)
{
	uint8_t ids[ESCROW_SETTLE_BATCH][RCPT_HASH_BYTES];
	uint64_t dl = s->e->cfg.referee_deadline_s;
	size_t n = 0, i, tries = 0;

	if (escrow_db_jobs_awaiting_input(&s->db, ids, &n, ESCROW_SETTLE_BATCH,
					  now > dl ? now - dl : 0))
		return;
	ASSAY_ASSERT(n <= ESCROW_SETTLE_BATCH);
	for (i = 0; i < n && tries < ESCROW_FETCH_PER_TICK; i++) {
		if (!fetch_due(s, ids[i], now))
			continue;
		tries++;
		referee_fetch(s, ids[i], now);
	}
	ASSAY_ASSERT(tries <= ESCROW_FETCH_PER_TICK);
}

/* A decided slash made on the ledger: the dispute marked executed with
 * its audit entry, and for a false claim the job back to `receipted`
 * once nothing else is unsettled.  The job row first: an attestation
 * committing between the count of unsettled disputes and the step would
 * be left open on a job that goes back to `receipted` and gets paid. */
struct executed_txn {
	const struct escrow_dispute *d;
	int provider_wrong;
	const char *sub;
	json_t *data;
	uint64_t now;
};

static enum escrow_db_err executed_body(struct escrow_db *db, void *arg)
{
	const struct executed_txn *x = arg;
	enum escrow_db_err rc;

	rc = escrow_db_job_lock(db, x->d->job);
	if (!rc)
		rc = escrow_db_dispute_executed(db, x->d->job, x->d->validator, x->d->kind);
	if (!rc)
		rc = escrow_db_audit(db, x->sub, "slashed", json_incref(x->data), x->now);
	if (!rc && !x->provider_wrong)
		rc = job_cleared_if_settled(db, x->d->job, x->now);
	return rc;
}

/* The slash on the ledger; 0 when it is made (or was), -1 to try later. */
static int execute_slash(struct settle *s, const struct escrow_dispute *d,
			 const struct escrow_job *j, int provider_wrong, enum chain_err *ce,
			 uint64_t now)
{
	struct rcpt_u256 slash = d->slash_amount, bounty = d->bounty;
	const uint8_t *offender = provider_wrong ? j->job.provider : d->validator;
	const uint8_t *bounty_to = provider_wrong ? d->validator : j->job.provider;

	*ce = CHAIN_OK;
	if (escrow_u256_is_zero(&slash))
		return 0;
	if (ledger_lost(s))
		return -1;
	*ce = ch(s, chain_slash(s->chain, offender, &slash, bounty_to, &bounty, d->job, now));
	if (*ce == CHAIN_ERR_INSUFFICIENT) {
		/* The offender's bond shrank since the decision: take the
		 * same share of what is left. */
		if (slash_amounts(s, offender, &slash, &bounty, provider_wrong) == 0 &&
		    escrow_db_dispute_set_amounts(&s->db, d->job, d->validator, d->kind,
						  &slash, &bounty) == ESCROW_DB_OK)
			fprintf(stderr, "assay-escrow: referee: slash amount recomputed\n");
		return -1;
	}
	return *ce == CHAIN_OK || *ce == CHAIN_ERR_SETTLED ? 0 : -1;
}

static void referee_execute(struct settle *s, const struct escrow_dispute *d, uint64_t now)
{
	struct escrow_job j;
	int provider_wrong = d->state == DISPUTE_PROVIDER_WRONG;
	char sub[80];
	enum chain_err ce = CHAIN_OK;
	struct executed_txn x = { d, provider_wrong, sub, NULL, now };

	ASSAY_ASSERT(provider_wrong || d->state == DISPUTE_VALIDATOR_WRONG);
	ASSAY_ASSERT(rcpt_u256_cmp(&d->bounty, &d->slash_amount) <= 0);
	ASSAY_ASSERT(provider_wrong || escrow_u256_is_zero(&d->bounty));
	if (escrow_db_job_get(&s->db, &j, d->job))
		return;
	if (execute_slash(s, d, &j, provider_wrong, &ce, now))
		return;
	escrow_subject_job(sub, d->job);
	x.data = json_pack("{s:s, s:s}", "offender", provider_wrong ? "provider" : "validator",
			   "ledger", ce == CHAIN_OK ? "done" : "already-done");
	if (escrow_db_txn(&s->db, executed_body, &x))
		fprintf(stderr, "assay-escrow: referee: could not record an executed slash\n");
	json_decref(x.data);
}

/* Executes every decided dispute (slash, bounty); returns how many are
 * still decided but not executed (the ledger refused or was down). */
static size_t execute_decided(struct settle *s, uint64_t now)
{
	static const enum escrow_dispute_state states[] = { DISPUTE_PROVIDER_WRONG,
							    DISPUTE_VALIDATOR_WRONG };
	struct escrow_dispute d[ESCROW_SETTLE_BATCH];
	size_t n = 0, left = 0;

	for (size_t k = 0; k < 2; k++)
		if (escrow_db_disputes_pending(&s->db, d, &n, ESCROW_SETTLE_BATCH, states[k], 0, 0) == 0)
			for (size_t i = 0; i < n; i++)
				referee_execute(s, &d[i], now);
	for (size_t k = 0; k < 2; k++)
		if (escrow_db_disputes_pending(&s->db, d, &n, ESCROW_SETTLE_BATCH, states[k], 0, 0) == 0)
			left += n;
	return left;
}

/*
 * Decides open disputes one at a time, each executed before the next is
 * decided: a slash is slash_bps of what the offender has bonded *after*
 * the slashes before it, whatever the timing (two frauds by one provider
 * cost 50 % and then 25 % of the original stake, never 50 % + 50 %).
 * While a decision waits for the ledger, no new one is made.
 */
static void settle_disputes(struct settle *s, uint64_t now)
{
	struct escrow_dispute d[ESCROW_SETTLE_BATCH];
	size_t n = 0, i;

	settle_fetch_inputs(s, now);
	if (execute_decided(s, now) > 0)
		return;
	if (escrow_db_disputes_open_page(&s->db, d, &n, ESCROW_REFEREE_BATCH, &s->disputes) == 0) {
		for (i = 0; i < n; i++) {
			referee_decide(s, &d[i], now);
			if (execute_decided(s, now) > 0)
				break;
		}
		for (i = 0; i < n; i++)
			escrow_dispute_release(&d[i]);
	}
}

static void settle_gauges(struct settle *s)
{
	char labels[48];
	int st;
	int64_t n;

	for (st = JOB_NONE + 1; st < JOB_STATE_N; st++) {
		if (escrow_db_job_count(&s->db, (enum escrow_job_state)st, &n) == ESCROW_DB_OK) {
			snprintf(labels, sizeof(labels), "state=\"%s\"",
				 escrow_job_state_name((enum escrow_job_state)st));
			(void)httpd_gauge_set(s->e->httpd, "assay_escrow_jobs", labels,
					      "Jobs in the ledger, by state.", (double)n);
		}
	}
}

/* The counters and the last good check's time on /metrics (every rule's
 * failure series from the start, at 0, so that an alert on it needs no
 * absent() clause). */
static void invariant_metrics(struct settle *s, const struct escrow_invariant *inv)
{
	char labels[64];
	size_t i;

	(void)httpd_counter_set(s->e->httpd, "assay_escrow_invariant_checks_total", NULL,
				"Ledger invariant checks completed.", (double)s->inv_checks);
	(void)httpd_counter_set(s->e->httpd, "assay_escrow_invariant_check_errors_total", NULL,
				"Ledger invariant checks that could not run (database).",
				(double)s->inv_errors);
	for (i = 0; i < ESCROW_INVARIANT_RULES; i++) {
		snprintf(labels, sizeof(labels), "rule=\"%s\"", inv[i].rule);
		(void)httpd_counter_set(s->e->httpd, "assay_escrow_invariant_failures_total", labels,
					"Ledger invariant checks that found the rule broken.",
					(double)s->inv_fail[i]);
	}
}

/* Every --invariant-interval-s, on every escrow (a standby's check reads
 * the same database: each process exports what it saw): the ledger's
 * invariants in one snapshot (escrow_db_invariants).  A broken rule is
 * counted and logged on every check that finds it, with its detail (ids
 * and amounts, never a secret): money code that sees a corrupt ledger
 * says so until someone looks. */
static void settle_invariants(struct settle *s)
{
	struct escrow_invariant inv[ESCROW_INVARIANT_RULES];
	uint64_t now_ms = mono_ms();
	enum escrow_db_err rc;
	size_t i, broken = 0;

	if (now_ms < s->inv_due_ms)
		return;
	ASSAY_ASSERT(s->e->cfg.invariant_interval_s >= ESCROW_INVARIANT_INTERVAL_S_MIN);
	s->inv_due_ms = now_ms + s->e->cfg.invariant_interval_s * 1000u;
	rc = escrow_db_invariants(&s->db, inv);
	if (rc) {
		s->inv_errors++;
		fprintf(stderr, "assay-escrow: event=invariant-check-failed db=%s\n",
			rc == ESCROW_DB_DOWN ? "down" : rc == ESCROW_DB_BUSY ? "busy" : "failed");
		invariant_metrics(s, inv);
		return;
	}
	s->inv_checks++;
	for (i = 0; i < ESCROW_INVARIANT_RULES; i++) {
		if (inv[i].ok)
			continue;
		broken++;
		s->inv_fail[i]++;
		fprintf(stderr, "assay-escrow: event=INVARIANT-VIOLATED rule=%s detail=\"%s\"\n",
			inv[i].rule, inv[i].detail);
	}
	invariant_metrics(s, inv);
	if (!broken)
		(void)httpd_gauge_set(s->e->httpd, "assay_escrow_invariant_last_ok_timestamp_seconds",
				      NULL, "Unix time of the last check that found every ledger invariant holding.",
				      (double)now_s());
}

/* Whether this escrow settles (escrow_db_settler_try): says so in the log
 * when it changes and in /metrics, with how many escrows serve the
 * database.  Returns 0 when this one settles. */
static int settler_elect(struct settle *s)
{
	int settler = 0;
	int64_t n = 0;

	if (escrow_db_settler_try(&s->db, &settler) != ESCROW_DB_OK)
		return -1;
	if (settler != s->settler || !s->said) {
		fprintf(stderr, "assay-escrow: event=%s\n",
			settler ? "settler (this escrow settles the database)"
				: "standby (another assay-escrow settles the database)");
		s->settler = settler;
		s->said = 1;
	}
	(void)httpd_gauge_set(s->e->httpd, "assay_escrow_settler", NULL,
			      "1 when this escrow is the one that settles the database.",
			      settler ? 1.0 : 0.0);
	if (escrow_db_instances(&s->db, &n) == ESCROW_DB_OK)
		(void)httpd_gauge_set(s->e->httpd, "assay_escrow_instances", NULL,
				      "assay-escrow processes serving this database.", (double)n);
	if (!settler)
		settle_gauges(s);
	return settler ? 0 : -1;
}

/* Records that the escrow sees the database; after an outage, first
 * moves every open challenge window on by it, so that downtime never
 * counts against a validator's window (issue 12 item 4). */
static int heartbeat(struct settle *s, uint64_t now)
{
	uint64_t gap = 0;
	int64_t moved = 0;

	if (escrow_db_outage_mend(&s->db, now, &gap, &moved) != ESCROW_DB_OK)
		return -1;
	if (gap)
		fprintf(stderr, "assay-escrow: event=outage-mended gap_s=%" PRIu64
			" windows_moved=%" PRId64 "\n", gap, moved);
	return 0;
}

/* Idempotency records past their retention go (escrow_limits.h). */
static void idem_purge(struct settle *s, uint64_t now)
{
	int64_t n = 0;

	if (now <= ESCROW_IDEM_RETENTION_S)
		return;
	if (escrow_db_idem_purge(&s->db, now - ESCROW_IDEM_RETENTION_S, ESCROW_IDEM_PURGE_BATCH,
				 &n) == ESCROW_DB_OK && n > 0)
		fprintf(stderr, "assay-escrow: event=idem-purged records=%" PRId64 "\n", n);
}

/* One pass; returns 1 when a step moved a full batch (more are likely
 * due), so that a backlog is worked off at once rather than
 * ESCROW_SETTLE_BATCH a second.  A batch the ledger refuses moves less and
 * waits for the next second. */
static int settle_tick(struct settle *s)
{
	struct rcpt_diag diag;
	uint64_t now = now_s();
	size_t most = 0, n;

	settle_invariants(s);   /* first: a database it cannot reach is counted */
	if (escrow_db_ensure(&s->db) != ESCROW_DB_OK)
		return 0;
	if (settler_elect(s))
		return 0;   /* another escrow settles this database */
	if (escrow_chain_ensure(s->e, &s->chain, &diag) != CHAIN_OK)
		return 0;
	if (heartbeat(s, now))
		return 0;   /* windows must be moved on before any closes */
	settle_opening(s, now);
	n = settle_mark(s, JOB_OP_DEADLINE, JOB_OPEN, "deadline-passed", now);
	most = n > most ? n : most;
	n = settle_mark(s, JOB_OP_WINDOW_CLOSED, JOB_RECEIPTED, "window-closed", now);
	most = n > most ? n : most;
	settle_disputes(s, now);
	(void)heartbeat(s, now_s());   /* input fetches may have taken seconds */
	n = settle_finish(s, JOB_RELEASING, now);
	most = n > most ? n : most;
	n = settle_finish(s, JOB_REFUNDING, now);
	most = n > most ? n : most;
	idem_purge(s, now);
	escrow_watch_tick(s->e, &s->db, now);
	settle_gauges(s);
	if (s->chain_lost) {
		/* Reopened at the next tick by escrow_chain_ensure. */
		chain_free(s->chain);
		s->chain = NULL;
		s->chain_lost = 0;
		return 0;
	}
	return most == ESCROW_SETTLE_BATCH;
}

static void *settle_main(void *arg)
{
	struct escrow *e = arg;
	struct settle s;
	struct timespec until;
	unsigned burst = 0;

	memset(&s, 0, sizeof(s));
	s.e = e;
	(void)escrow_db_open(&s.db, e->cfg.conninfo, "settle");
	pthread_mutex_lock(&e->stop_mu);
	while (!e->stopping) {
		pthread_mutex_unlock(&e->stop_mu);
		/* A full batch: go again at once, a bounded number of times (a
		 * batch of rows the ledger keeps refusing must not spin). */
		if (settle_tick(&s) && ++burst < ESCROW_SETTLE_BURST_MAX) {
			pthread_mutex_lock(&e->stop_mu);
			continue;
		}
		burst = 0;
		pthread_mutex_lock(&e->stop_mu);
		until = mono_deadline(1000);
		while (!e->stopping &&
		       pthread_cond_timedwait(&e->stop_cv, &e->stop_mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&e->stop_mu);
	chain_free(s.chain);
	escrow_db_close(&s.db);
	return NULL;
}

int escrow_settle_start(struct escrow *e)
{
	if (pthread_create(&e->settle_thread, NULL, settle_main, e) != 0)
		return -1;
	e->settle_started = 1;
	return 0;
}

void escrow_settle_stop(struct escrow *e)
{
	if (!e->settle_started)
		return;
	pthread_mutex_lock(&e->stop_mu);
	e->stopping = 1;
	pthread_cond_broadcast(&e->stop_cv);
	pthread_mutex_unlock(&e->stop_mu);
	pthread_join(e->settle_thread, NULL);
	e->settle_started = 0;
}
