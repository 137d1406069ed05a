/*
 * api_job_steps.c: what the parties do to an open or receipted job:
 * POST /v1/jobs/{id}/receipt, /fail, /events and /accept.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api_internal.h"
#include "kernels.h"
#include "assay_assert.h"
#include "banned.h"

/* A receipt's startedAt and finishedAt (Unix ms) lie within the job's
 * life: not before the escrow opened it, not after the receipt arrived,
 * give or take ESCROW_RECEIPT_CLOCK_SKEW_S of the provider's clock.
 * Answers 422 and returns -1 otherwise. */
static int receipt_times_refused(struct httpd_req *r, const struct escrow_job *j,
				 const struct rcpt_receipt *rcp, uint64_t now)
{
	uint64_t skew_ms = (uint64_t)ESCROW_RECEIPT_CLOCK_SKEW_S * 1000u;
	uint64_t lo = j->opened_at_s * 1000u, hi = (now + 1u) * 1000u + skew_ms;

	lo = lo > skew_ms ? lo - skew_ms : 0;
	if (rcp->started_at_ms >= lo && rcp->finished_at_ms <= hi)
		return 0;
	esc_problem(r, ESC_P_RECEIPT_TIME,
		    "startedAt %" PRIu64 " and finishedAt %" PRIu64 " must lie in "
		    "[%" PRIu64 ", %" PRIu64 "] ms: from the job's opening to the "
		    "receipt's arrival, with %u s of clock skew",
		    rcp->started_at_ms, rcp->finished_at_ms, lo, hi,
		    ESCROW_RECEIPT_CLOCK_SKEW_S);
	return -1;
}

ESC_BODY(esc_body_job_receipt,
	 { "receipt", HTTPD_KEY_OBJECT, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_RECEIPT, "receipt is not an object") },
	 { "receiptSignature", HTTPD_KEY_ANY, ESC_REQUIRED, NULL, NULL });

/* The receipt and its audit entry (escrow_db_receipt_audit: one statement). */
struct receipt_txn {
	const uint8_t *id, *receipt_id;
	const struct rcpt_receipt *receipt;
	const char *canon;
	const uint8_t *sig;
	uint64_t now, window_end;
	const char *sub;
	json_t *data;
};

/* The body's receipt and its signature, verified as a bundle with the
 * job's own JobSpec and signature, into *b and *ids.  0, or -1 having
 * answered. */
static int receipt_verified(struct httpd_req *r, struct escrow *e, struct rcpt_bundle *b,
			    struct rcpt_bundle_ids *ids, const struct escrow_job *j, json_t *o)
{
	struct rcpt_diag diag;
	char *t = NULL;
	enum rcpt_err re;
	int rc = -1;

	memset(b, 0, sizeof(*b));
	b->domain = e->domain;
	b->job = j->job;
	memcpy(b->job_sig, j->job_sig, RCPT_SIG_BYTES);
	t = esc_dump(json_object_get(o, "receipt"));
	re = t ? rcpt_receipt_parse(&b->receipt, &diag, t, strlen(t)) : RCPT_ERR_JSON;
	if (re) {
		esc_problem(r, ESC_P_INVALID_RECEIPT, "%s",
			    t ? diag.msg : "receipt is not an object");
		goto out;
	}
	re = esc_get_sig(b->receipt_sig, o, "receiptSignature");
	if (re) {
		esc_sig_problem(r, "receiptSignature", re);
		goto out;
	}
	re = rcpt_bundle_verify(ids, &diag, b, &e->domain);
	if (re) {
		esc_problem(r, ESC_P_RECEIPT_REFUSED, "%s: %s",
			    rcpt_errname(re), diag.msg);
		goto out;
	}
	rc = 0;
out:
	free(t);
	return rc;
}

static void reply_receipted(struct httpd_req *r, const char *rid, uint64_t window_end_s)
{
	httpd_reply_json(r, 200, json_pack("{s:s, s:s, s:I}", "job", httpd_req_param(r, 0),
					   "receipt", rid, "windowEnd", (json_int_t)window_end_s));
}

/* A new receipt comes while the job is open, by job.deadline, with times
 * within the job's life.  0, or -1 having answered. */
static int receipt_timely(struct httpd_req *r, const struct escrow_job *j,
			  const struct rcpt_receipt *rcp, uint64_t now)
{
	if (!escrow_job_next(JOB_OP_RECEIPT, j->state, NULL)) {
		esc_problem(r, ESC_P_JOB_NOT_OPEN, "the job is %s", escrow_job_state_name(j->state));
		return -1;
	}
	if (now > j->job.deadline) {
		esc_problem(r, ESC_P_RECEIPT_AFTER_DEADLINE, "the receipt came after job.deadline");
		return -1;
	}
	return receipt_times_refused(r, j, rcp, now);
}

/* Records the receipt and its audit entry in one statement
 * (escrow_db_receipt_audit), which opens the challenge window, and
 * answers. */
static void receipt_commit(struct httpd_req *r, struct escrow *e, const uint8_t id[RCPT_HASH_BYTES],
			   const struct rcpt_bundle *b, const struct rcpt_bundle_ids *ids,
			   const char *rid, uint64_t now)
{
	char *canon = NULL, sub[80], orh[RCPT_HASH_HEX_BYTES], pr[RCPT_U256_DEC_BYTES];
	uint64_t we = now + e->cfg.challenge_window_s;
	struct receipt_txn x = { id, ids->receipt_id, &b->receipt, NULL, b->receipt_sig, now,
				 we, sub, NULL };
	enum escrow_db_err rc;

	if (rcpt_receipt_to_json(&canon, &b->receipt) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_RECEIPT, "receipt does not serialise");
		goto out;
	}
	escrow_subject_job(sub, id);
	escrow_hex(orh, sizeof(orh), b->receipt.output_root, 32);
	rcpt_u256_format(pr, &b->receipt.price);
	x.canon = canon;
	x.data = json_pack("{s:s, s:s, s:s, s:I}", "receipt", rid, "outputRoot", orh, "price", pr,
			   "windowEnd", (json_int_t)we);
	rc = escrow_db_receipt_audit(escrow_http_db(e), x.id, x.receipt_id, x.receipt, x.canon,
				     x.sig, x.now, x.window_end, x.sub, x.data);
	json_decref(x.data);
	if (rc == ESCROW_DB_CONFLICT)
		esc_problem(r, ESC_P_JOB_NOT_OPEN,
			    "the job left the open state or passed its deadline");
	else if (rc)
		esc_reply_db(r, rc);
	else
		reply_receipted(r, rid, we);
out:
	free(canon);
}

/* POST /v1/jobs/{id}/receipt: the provider's signed receipt of an open
 * job, which opens its challenge window. */
void esc_handle_job_receipt(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r);
	struct escrow_job j;
	struct rcpt_bundle b;
	struct rcpt_bundle_ids ids;
	uint8_t id[RCPT_HASH_BYTES];
	char rid[RCPT_HASH_HEX_BYTES];
	uint64_t now = esc_now_s();

	if (esc_job_prelude(r, e, id, &j) || receipt_verified(r, e, &b, &ids, &j, o))
		return;
	escrow_hex(rid, sizeof(rid), ids.receipt_id, 32);
	/* The same receipt again (a retry after a lost answer) gets the
	 * first answer. */
	if (j.has_receipt && memcmp(j.receipt_id, ids.receipt_id, 32) == 0) {
		reply_receipted(r, rid, j.window_end_s);
		return;
	}
	if (receipt_timely(r, &j, &b.receipt, now))
		return;
	receipt_commit(r, e, id, &b, &ids, rid, now);
}

/* ---------------------------------------------------------------- ending a job early */

/* Moves a job from an intent (`refunding`, `releasing`) to its end once
 * the ledger has done it, with its audit entry, as the settlement thread
 * does; a CONFLICT means the settlement thread got there first. */
static enum escrow_db_err finish_now(struct escrow *e, const uint8_t id[RCPT_HASH_BYTES],
				     enum escrow_job_op op, enum escrow_job_state from,
				     json_t *data, uint64_t now)
{
	enum escrow_job_state to = JOB_NONE;
	char sub[80];
	enum escrow_db_err rc;

	ASSAY_ASSERT(escrow_job_next(op, from, &to) && escrow_job_final(to));
	escrow_subject_job(sub, id);
	rc = escrow_db_step_audit(escrow_http_db(e), id, op, from, sub, escrow_job_state_name(to),
				  data, now);
	return rc == ESCROW_DB_CONFLICT ? ESCROW_DB_OK : rc;
}

static void reply_job(struct httpd_req *r, struct escrow *e, const uint8_t id[RCPT_HASH_BYTES])
{
	struct escrow_job j;

	if (esc_load_job(r, e, &j, id) == 0)
		httpd_reply_json(r, 200, esc_job_view(e, &j, 1));
}

/* POST /v1/jobs/{id}/fail: the provider gives up an open job; the
 * customer gets maxPrice back in full, as after a missed deadline. */
void esc_handle_job_fail(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r);
	const uint8_t *who = httpd_req_signer(r);
	struct escrow_job j;
	uint8_t id[RCPT_HASH_BYTES];
	const char *reason;
	char sub[80], mp[RCPT_U256_DEC_BYTES];
	struct chain *ch;
	enum escrow_db_err rc;
	enum chain_err ce;
	uint64_t now = esc_now_s();

	ASSAY_ASSERT(who);   /* HTTPD_F_AUTH route */
	if (esc_job_prelude(r, e, id, &j) || !(reason = esc_parse_reason(r, o)))
		return;
	if (memcmp(who, j.job.provider, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_NOT_PROVIDER, "only job.provider may fail a job");
		return;
	}
	if (!escrow_job_next(JOB_OP_FAIL, j.state, NULL)) {
		esc_problem(r, ESC_P_NOT_OPEN,
			    "the job is %s; only an open job (no receipt yet) can be failed",
			    escrow_job_state_name(j.state));
		return;
	}
	if (!(ch = esc_chain(r, e)))
		return;
	escrow_subject_job(sub, id);
	rc = escrow_db_step_audit(escrow_http_db(e), id, JOB_OP_FAIL, JOB_OPEN, sub,
				  "provider-failed", json_pack("{s:s}", "reason", reason), now);
	if (rc) {
		if (rc == ESCROW_DB_CONFLICT)
			esc_problem(r, ESC_P_NOT_OPEN, "the job left the open state meanwhile");
		else
			esc_reply_db(r, rc);
		return;
	}
	/* The intent is recorded: should the ledger be unreachable now, the
	 * settlement thread makes the refund. */
	ce = esc_chain_seen(e, chain_refund(ch, id, now));
	if (ce == CHAIN_OK || ce == CHAIN_ERR_SETTLED) {
		rcpt_u256_format(mp, &j.job.max_price);
		(void)finish_now(e, id, JOB_OP_REFUNDED, JOB_REFUNDING, json_pack("{s:s}", "amount", mp),
				 now);
	}
	reply_job(r, e, id);
}

/* A provider's step, once: the job's row locked, then its audit chain
 * read and, when the step is not there yet, appended. */
struct event_txn {
	const uint8_t *id;
	const char *sub, *name;
	json_int_t at_ms;
	int64_t seen;
};

static enum escrow_db_err event_body(struct escrow_db *db, void *arg)
{
	struct event_txn *x = arg;
	enum escrow_db_err rc;

	x->seen = 0;
	rc = escrow_db_job_lock(db, x->id);
	if (!rc)
		rc = escrow_db_audit_count(db, x->sub, x->name, &x->seen);
	if (!rc && x->seen == 0)
		rc = escrow_db_audit(db, x->sub, x->name,
				     json_pack("{s:I}", "providerTimeMs", x->at_ms), esc_now_s());
	return rc;
}

/* POST /v1/jobs/{id}/events: the provider records a step of its own
 * (accepted, queued, running, ran, deleted) in the job's audit chain,
 * each at most once per job, so that every state change of a job is in
 * the escrow's log (docs/escrow.md).  `at` is the provider's clock in
 * Unix ms, recorded as given. */
ESC_BODY(esc_body_job_event,
	 { "event", HTTPD_KEY_STRING, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_EVENT, "event is accepted, queued, running, ran or deleted") },
	 { "at", HTTPD_KEY_INTEGER, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_EVENT, "at is Unix milliseconds, a JSON integer") });

void esc_handle_job_event(struct httpd_req *r, void *cls)
{
	static const char *const events[] = { "accepted", "queued", "running", "ran", "deleted" };
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r), *at = json_object_get(o, "at");
	const uint8_t *who = httpd_req_signer(r);
	const char *ev = json_string_value(json_object_get(o, "event"));
	struct escrow_job j;
	uint8_t id[RCPT_HASH_BYTES];
	char sub[80], name[40];
	enum escrow_db_err rc;
	int64_t n = 0;
	size_t i;

	ASSAY_ASSERT(who);   /* HTTPD_F_AUTH route */
	if (esc_job_prelude(r, e, id, &j))
		return;
	for (i = 0; ev && i < sizeof(events) / sizeof(events[0]); i++)
		if (strcmp(ev, events[i]) == 0)
			break;
	if (!ev || i == sizeof(events) / sizeof(events[0])) {
		esc_problem(r, ESC_P_INVALID_EVENT,
			    "event is accepted, queued, running, ran or deleted");
		return;
	}
	/* `at` is a JSON integer in 0..RCPT_JSON_UINT_MAX (esc_body_job_event). */
	ASSAY_ASSERT(json_is_integer(at) && json_integer_value(at) >= 0);
	if (memcmp(who, j.job.provider, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_NOT_PROVIDER, "only job.provider records its steps");
		return;
	}
	snprintf(name, sizeof(name), "provider-%s", ev);
	escrow_subject_job(sub, id);
	{
		struct event_txn x = { id, sub, name, json_integer_value(at), 0 };
		rc = escrow_db_txn(escrow_http_db(e), event_body, &x);
		n = x.seen;
	}
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	if (n > 0) {
		esc_problem(r, ESC_P_EVENT_RECORDED, "the job's audit chain already has %s", name);
		return;
	}
	httpd_reply_json(r, 200, json_pack("{s:s}", "recorded", name));
}

/* POST /v1/jobs/{id}/accept: the customer releases a receipted job
 * before its window closes, forfeiting verification. */
void esc_handle_job_accept(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	const uint8_t *who = httpd_req_signer(r);
	struct escrow_job j;
	uint8_t id[RCPT_HASH_BYTES];
	char sub[80], pr[RCPT_U256_DEC_BYTES], mp[RCPT_U256_DEC_BYTES];
	struct chain *ch;
	enum escrow_db_err rc;
	enum chain_err ce;
	uint64_t now = esc_now_s();

	ASSAY_ASSERT(who);   /* HTTPD_F_AUTH route */
	if (esc_job_prelude(r, e, id, &j))   /* body: esc_body_empty */
		return;
	if (memcmp(who, j.job.customer, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_NOT_CUSTOMER, "only job.customer may accept a job");
		return;
	}
	if (j.state == JOB_DISPUTED) {
		esc_problem(r, ESC_P_DISPUTE_OPEN, "the referee decides first");
		return;
	}
	if (!escrow_job_next(JOB_OP_ACCEPT, j.state, NULL)) {
		esc_problem(r, ESC_P_NOT_RECEIPTED,
			    "the job is %s; only a receipted job can be accepted",
			    escrow_job_state_name(j.state));
		return;
	}
	ASSAY_ASSERT(j.has_receipt);
	if (!(ch = esc_chain(r, e)))
		return;
	rcpt_u256_format(pr, &j.receipt.price);
	rcpt_u256_format(mp, &j.job.max_price);
	escrow_subject_job(sub, id);
	/* Conditional on `receipted`: a fraud claim committed first (it
	 * moves the job to `disputed`) wins, and this one is refused. */
	rc = escrow_db_step_audit(escrow_http_db(e), id, JOB_OP_ACCEPT, JOB_RECEIPTED, sub,
				  "customer-accepted",
				  json_pack("{s:s, s:s}", "price", pr, "forfeits", "verification"),
				  now);
	if (rc) {
		if (rc == ESCROW_DB_CONFLICT)
			esc_problem(r, ESC_P_NOT_RECEIPTED,
				    "the job left the receipted state meanwhile (disputed or released)");
		else
			esc_reply_db(r, rc);
		return;
	}
	ASSAY_ASSERT(rcpt_u256_cmp(&j.receipt.price, &j.job.max_price) <= 0);
	ce = esc_chain_seen(e, chain_release(ch, id, &j.receipt.price, now));
	if (ce == CHAIN_OK || ce == CHAIN_ERR_SETTLED)
		(void)finish_now(e, id, JOB_OP_RELEASED, JOB_RELEASING,
				 json_pack("{s:s, s:s}", "price", pr, "maxPrice", mp), now);
	reply_job(r, e, id);
}
