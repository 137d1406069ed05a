/*
 * api_disputes.c: the challenge side of a job: POST /v1/jobs/{id}/attestations
 * (with input and evidence of a fraud claim), /input (the job's input for
 * the referee) and /withheld (a validator's report that the input is not
 * served).
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

/* Strict standard base64 (RFC 4648 section 4, padded). */
static int b64_decode(uint8_t **out, size_t *out_len, const char *s, size_t max)
{
	size_t n = strlen(s), i, pad = 0;
	uint8_t *buf;
	int got;

	*out = NULL;
	*out_len = 0;
	if (n % 4 || n / 4 * 3 > max + 2)
		return -1;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '+' || c == '/';
		if (c == '=' && i >= n - 2) {
			pad++;
			continue;
		}
		if (!ok || pad)
			return -1;
	}
	buf = malloc(n / 4 * 3 + 1);
	if (!buf)
		return -1;
	got = n ? EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n) : 0;
	if (got < 0 || (size_t)got < pad || (size_t)got - pad > max) {
		free(buf);
		return -1;
	}
	*out = buf;
	*out_len = (size_t)got - pad;
	return 0;
}

/* Whether the evidence object is not exactly {"chunk": a JSON integer in
 * 0..RCPT_JSON_UINT_MAX, "data": a string, "proof": an array of at most
 * ESCROW_EVIDENCE_PROOF_MAX}. */
static int evidence_malformed(json_t *ev)
{
	static const char *const keys[] = { "chunk", "data", "proof", NULL };
	json_t *jc = json_object_get(ev, "chunk"), *jp = json_object_get(ev, "proof"), *v;
	const char *k, *ds = json_string_value(json_object_get(ev, "data"));
	size_t i, nk = 0;

	json_object_foreach(ev, k, v) {
		int known = 0;
		for (i = 0; keys[i]; i++)
			known |= strcmp(k, keys[i]) == 0;
		nk += (size_t)known;
		if (!known)
			break;
	}
	return !json_is_object(ev) || nk != 3 || json_object_size(ev) != 3 || !json_is_integer(jc) ||
	       json_integer_value(jc) < 0 || (uint64_t)json_integer_value(jc) > RCPT_JSON_UINT_MAX ||
	       !ds || !json_is_array(jp) || json_array_size(jp) > ESCROW_EVIDENCE_PROOF_MAX;
}

/* The audit path of member "proof" into path (json_array_size(jp)
 * hashes).  0, or -1 having answered 400. */
static int evidence_path_decode(struct httpd_req *r, uint8_t path[][RCPT_HASH_BYTES], json_t *jp)
{
	size_t i;
	json_t *v;

	ASSAY_ASSERT(json_array_size(jp) <= ESCROW_EVIDENCE_PROOF_MAX);   /* evidence_malformed */
	json_array_foreach(jp, i, v) {
		const char *h = json_string_value(v);
		if (!h || rcpt_hex_decode(path[i], RCPT_HASH_BYTES, h) != RCPT_OK) {
			esc_problem(r, ESC_P_INVALID_EVIDENCE,
				    "proof[%zu] is not 0x + 64 hex digits", i);
			return -1;
		}
	}
	return 0;
}

/* The leaves of receipt.outputRoot: ceil(outputSize / RCPT_CHUNK_BYTES). */
static uint64_t output_chunks(const struct rcpt_receipt *rcp)
{
	return rcp->output_size / RCPT_CHUNK_BYTES + (rcp->output_size % RCPT_CHUNK_BYTES != 0);
}

/* Whether data with this audit path is chunk `chunk` of receipt.outputRoot. */
static int chunk_in_output(const struct rcpt_receipt *rcp, uint64_t chunk, const uint8_t *data,
			   size_t data_len, const uint8_t path[][RCPT_HASH_BYTES], size_t path_len)
{
	struct rcpt_commitment c;

	ASSAY_ASSERT(chunk < output_chunks(rcp) && data_len <= RCPT_CHUNK_BYTES);
	memcpy(c.root, rcp->output_root, RCPT_HASH_BYTES);
	c.size = rcp->output_size;
	return rcpt_proof_verify(&c, chunk, data, data_len, path, path_len) == RCPT_OK;
}

/* The RFC 6962 leaf hash of a chunk, SHA-256(0x00 || chunk); -1 when
 * out of memory. */
static int leaf_hash(uint8_t leaf[RCPT_HASH_BYTES], const uint8_t *data, size_t data_len)
{
	uint8_t *in = malloc(data_len + 1);
	int rc = -1;

	if (!in)
		return -1;
	in[0] = 0x00;
	if (data_len)
		memcpy(in + 1, data, data_len);
	if (rcpt_sha256(leaf, in, data_len + 1) == RCPT_OK)
		rc = 0;
	free(in);
	return rc;
}

/* What is recorded of the evidence: {"chunk", "leafHash", "proof"};
 * NULL when out of memory.  The caller owns the reference. */
static json_t *evidence_record(uint64_t chunk, const uint8_t leaf[RCPT_HASH_BYTES],
			       const uint8_t path[][RCPT_HASH_BYTES], size_t path_len)
{
	json_t *proof = json_array();
	char lh[RCPT_HASH_HEX_BYTES];
	size_t i;

	if (!proof)
		return NULL;
	for (i = 0; i < path_len; i++) {
		char hh[RCPT_HASH_HEX_BYTES];
		escrow_hex(hh, sizeof(hh), path[i], RCPT_HASH_BYTES);
		json_array_append_new(proof, json_string(hh));
	}
	escrow_hex(lh, sizeof(lh), leaf, RCPT_HASH_BYTES);
	/* "o" steals proof, on failure too. */
	return json_pack("{s:I, s:s, s:o}", "chunk", (json_int_t)chunk, "leafHash", lh,
			 "proof", proof);
}

/* Evidence on a fraud claim: {"chunk": N, "data": base64 of the
 * provider's chunk N, "proof": [bytes32...]}, an RFC 6962 inclusion of
 * that chunk in receipt.outputRoot over ceil(outputSize / 65536) leaves.
 * On success *out is what is recorded: the chunk index, the leaf hash
 * SHA-256(0x00 || chunk) and the audit path (the chunk's bytes, output
 * data of the customer's, are not kept). */
static int evidence_check(struct httpd_req *r, json_t **out, const struct escrow_job *j,
			  json_t *ev)
{
	uint8_t (*path)[RCPT_HASH_BYTES] = NULL;
	uint8_t *data = NULL, leaf[RCPT_HASH_BYTES];
	size_t data_len = 0, path_len;
	json_t *jp = json_object_get(ev, "proof");
	const char *ds = json_string_value(json_object_get(ev, "data"));
	uint64_t chunk, leaves;
	int rc = -1;

	*out = NULL;
	ASSAY_ASSERT(j->has_receipt);
	if (evidence_malformed(ev)) {
		esc_problem(r, ESC_P_INVALID_EVIDENCE,
			    "evidence is {\"chunk\": uint64, \"data\": base64, \"proof\": [bytes32, at most %u]}",
			    ESCROW_EVIDENCE_PROOF_MAX);
		goto out;
	}
	chunk = (uint64_t)json_integer_value(json_object_get(ev, "chunk"));
	path_len = json_array_size(jp);
	path = calloc(path_len ? path_len : 1, sizeof(*path));
	if (!path) {
		esc_problem(r, ESC_P_INTERNAL, NULL);
		goto out;
	}
	if (evidence_path_decode(r, path, jp))
		goto out;
	if (b64_decode(&data, &data_len, ds, RCPT_CHUNK_BYTES)) {
		esc_problem(r, ESC_P_INVALID_EVIDENCE,
			    "data is base64 of at most %u bytes", RCPT_CHUNK_BYTES);
		goto out;
	}
	leaves = output_chunks(&j->receipt);
	if (chunk >= leaves ||
	    !chunk_in_output(&j->receipt, chunk, data, data_len,
			     (const uint8_t (*)[RCPT_HASH_BYTES])path, path_len)) {
		esc_problem(r, ESC_P_EVIDENCE_MISMATCH,
			    "chunk %" PRIu64 " with this proof is not in receipt.outputRoot (%" PRIu64 " chunks)",
			    chunk, leaves);
		goto out;
	}
	if (leaf_hash(leaf, data, data_len) ||
	    !(*out = evidence_record(chunk, leaf, (const uint8_t (*)[RCPT_HASH_BYTES])path,
				     path_len))) {
		esc_problem(r, ESC_P_INTERNAL, NULL);
		goto out;
	}
	rc = 0;
out:
	free(path);
	free(data);
	return rc;
}

/* A window that looks closed may still be open while an outage is not
 * yet mended (escrow_db_outage_mend moves windows on by the outage):
 * then 503 and retry, never window-closed. */
static void reply_window_closed(struct httpd_req *r, struct escrow *e, uint64_t now)
{
	int stale = 0;

	if (escrow_db_outage_pending(escrow_http_db(e), now, &stale) != ESCROW_DB_OK || stale) {
		esc_problem(r, ESC_P_UNAVAILABLE,
			    "recovering from an outage: challenge windows are being moved on "
			    "by the time the escrow was unreachable; retry in a few seconds");
		httpd_reply_retry_after(r, 2);
		return;
	}
	esc_problem(r, ESC_P_WINDOW_CLOSED, "the job is not receipted or its window has closed");
}

static void reply_attested(struct httpd_req *r, const char *validator,
			   const struct rcpt_attestation *a)
{
	httpd_reply_json(r, 201, json_pack("{s:s, s:s, s:i, s:b}", "job", httpd_req_param(r, 0),
					   "validator", validator, "verdict", (int)a->verdict,
					   "dispute", a->verdict == RCPT_VERDICT_DIFFERS));
}

/* An attestation, and for a fraud claim its dispute and the job's step,
 * in one transaction. */
enum attest_end { ATTEST_DONE, ATTEST_WINDOW_CLOSED, ATTEST_SEEN };

struct attest_txn {
	const uint8_t *id;
	const struct rcpt_attestation *a;
	const char *canon;
	const uint8_t *sig, *input;
	size_t input_len;
	const char *ev_text, *sub;
	uint64_t now;
	json_t *attest_data, *claim_data;   /* claim_data NULL: not a claim */
	enum attest_end end;
};

/* The job's row locked while its challenge window is open; *end says
 * ATTEST_WINDOW_CLOSED when it is not (CONFLICT). */
static enum escrow_db_err lock_attestable(struct escrow_db *db, const uint8_t id[RCPT_HASH_BYTES],
					  uint64_t now, enum attest_end *end)
{
	enum escrow_db_err rc = escrow_db_job_lock_attestable(db, id, now);

	*end = rc == ESCROW_DB_CONFLICT ? ATTEST_WINDOW_CLOSED : ATTEST_DONE;
	return rc;
}

/* A claim's or a report's step of the job to `disputed` (from
 * `receipted`; one already disputed stays so). */
static enum escrow_db_err job_disputed(struct escrow_db *db, const uint8_t id[RCPT_HASH_BYTES],
				       enum escrow_job_op op, uint64_t now)
{
	enum escrow_db_err rc = escrow_db_job_step(db, id, op, JOB_RECEIPTED, now);

	return rc == ESCROW_DB_CONFLICT ? ESCROW_DB_OK : rc;
}

static enum escrow_db_err claim_record(struct escrow_db *db, struct attest_txn *x)
{
	enum escrow_db_err rc;

	rc = escrow_db_dispute_insert(db, x->id, x->a->validator, x->input, x->input_len,
				      x->ev_text, x->now);
	if (!rc)
		rc = job_disputed(db, x->id, JOB_OP_CLAIM, x->now);
	if (!rc)
		rc = escrow_db_audit(db, x->sub, "dispute-opened", json_incref(x->claim_data),
				     x->now);
	return rc;
}

static enum escrow_db_err attest_body(struct escrow_db *db, void *arg)
{
	struct attest_txn *x = arg;
	enum escrow_db_err rc;

	rc = lock_attestable(db, x->id, x->now, &x->end);
	if (!rc) {
		rc = escrow_db_attestation_insert(db, x->a, x->id, x->canon, x->sig, x->now);
		if (rc == ESCROW_DB_CONFLICT)
			x->end = ATTEST_SEEN;
	}
	if (!rc)
		rc = escrow_db_audit(db, x->sub, "attested", json_incref(x->attest_data), x->now);
	if (!rc && x->claim_data)
		rc = claim_record(db, x);
	return rc;
}

/* The audit data of a fraud claim: the chunk index and leaf hash of its
 * evidence, never the chunk. */
static json_t *claim_audit_data(const char *vh, int with_input, json_t *ev)
{
	json_t *data = json_pack("{s:s, s:b}", "validator", vh, "withInput", with_input);

	if (data && ev)
		json_object_set_new(data, "evidence",
				    json_pack("{s:O, s:O}", "chunk", json_object_get(ev, "chunk"),
					      "leafHash", json_object_get(ev, "leafHash")));
	return data;
}

/* Answers an attestation that did not commit; returns 1 when it did. */
static int attest_refused(struct httpd_req *r, struct escrow *e, const struct attest_txn *x,
			  enum escrow_db_err rc, const char *vh)
{
	uint8_t old[RCPT_SIG_BYTES];

	if (x->end == ATTEST_WINDOW_CLOSED) {
		reply_window_closed(r, e, x->now);
		return 1;
	}
	if (x->end == ATTEST_SEEN) {
		/* The same statement again (a retry after a lost answer or a
		 * crash) gets the first answer; another one is refused. */
		if (escrow_db_attestation_sig(escrow_http_db(e), old, x->id, x->a->validator) ==
			    ESCROW_DB_OK && memcmp(old, x->sig, RCPT_SIG_BYTES) == 0)
			reply_attested(r, vh, x->a);
		else
			esc_problem(r, ESC_P_ALREADY_ATTESTED,
				    "this validator already attested this job");
		return 1;
	}
	if (rc) {
		esc_reply_db(r, rc);
		return 1;
	}
	return 0;
}

/* The job has a receipt to attest or dispute; else -1 having answered
 * 409 not-receipted. */
static int require_receipt(struct httpd_req *r, const struct escrow_job *j)
{
	if (!j->has_receipt) {
		esc_problem(r, ESC_P_NOT_RECEIPTED, "the job is %s",
			    escrow_job_state_name(j->state));
		return -1;
	}
	return 0;
}

/* The body's attestation into *a and its signature into sig, signed by
 * its validator under this escrow's domain.  0, or -1 having answered. */
static int attestation_signed(struct httpd_req *r, struct escrow *e, struct rcpt_attestation *a,
			      uint8_t sig[RCPT_SIG_BYTES], json_t *o)
{
	struct rcpt_diag diag;
	uint8_t dg[RCPT_HASH_BYTES], signer[RCPT_ADDR_BYTES];
	char *t = esc_dump(json_object_get(o, "attestation"));
	enum rcpt_err re = t ? rcpt_attestation_parse(a, &diag, t, strlen(t)) : RCPT_ERR_JSON;
	int rc = -1;

	if (re) {
		esc_problem(r, ESC_P_INVALID_ATTESTATION, "%s",
			    t ? diag.msg : "attestation is not an object");
		goto out;
	}
	re = esc_get_sig(sig, o, "signature");
	if (!re && rcpt_attestation_digest(dg, &diag, &e->domain, a) != RCPT_OK)
		re = RCPT_ERR_FIELD;
	if (!re)
		re = rcpt_recover_digest(signer, sig, dg);
	if (re) {
		esc_sig_problem(r, "signature", re);
		goto out;
	}
	if (memcmp(signer, a->validator, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_WRONG_SIGNER, NULL);
		goto out;
	}
	rc = 0;
out:
	free(t);
	return rc;
}

/* The attestation is about this job's receipt, its verdict agrees with
 * the outputRoot it names, and its validator is not the job's provider.
 * 0, or -1 having answered. */
static int attestation_fits_job(struct httpd_req *r, const struct rcpt_attestation *a,
				const struct escrow_job *j)
{
	int same;

	if (require_receipt(r, j))
		return -1;
	if (memcmp(a->receipt, j->receipt_id, RCPT_HASH_BYTES) != 0) {
		esc_problem(r, ESC_P_WRONG_RECEIPT,
			    "attestation.receipt is not this job's receipt id");
		return -1;
	}
	same = memcmp(a->output_root, j->receipt.output_root, RCPT_HASH_BYTES) == 0;
	if ((a->verdict == RCPT_VERDICT_MATCH) != same) {
		esc_problem(r, ESC_P_INCONSISTENT_VERDICT,
			    "verdict 1 needs the receipt's outputRoot, verdict 2 another one");
		return -1;
	}
	if (memcmp(a->validator, j->job.provider, RCPT_ADDR_BYTES) == 0) {
		esc_problem(r, ESC_P_CONFLICT_OF_INTEREST, NULL);
		return -1;
	}
	return 0;
}

/* What a fraud claim (verdict 2) may bring besides its attestation;
 * claim_release frees it. */
struct claim {
	uint8_t *input;    /* the job's input, or NULL */
	size_t input_len;
	json_t *ev;        /* evidence_check's record, or NULL */
	char *ev_text;     /* ev as the dispute stores it */
};

static void claim_release(struct claim *c)
{
	free(c->input);
	free(c->ev_text);
	json_decref(c->ev);
}

/* Member "input" when present: base64 of the job's input, with verdict
 * 2 only.  0, or -1 having answered. */
static int claim_input(struct httpd_req *r, struct claim *c, json_t *o,
		       const struct rcpt_attestation *a, const struct escrow_job *j)
{
	const char *s = esc_get_str(o, "input");

	if (!json_object_get(o, "input"))
		return 0;
	if (a->verdict != RCPT_VERDICT_DIFFERS || !s ||
	    b64_decode(&c->input, &c->input_len, s, ESCROW_INPUT_BYTES_MAX)) {
		esc_problem(r, ESC_P_INVALID_INPUT,
			    "input is base64 of at most %u bytes, only with verdict 2",
			    ESCROW_INPUT_BYTES_MAX);
		return -1;
	}
	if (!escrow_input_matches(&j->job, c->input, c->input_len)) {
		esc_problem(r, ESC_P_INPUT_MISMATCH,
			    "the input's commitment differs from job.inputRoot/inputSize");
		return -1;
	}
	return 0;
}

/* Member "evidence" when present (evidence_check), with verdict 2 only.
 * 0, or -1 having answered. */
static int claim_evidence(struct httpd_req *r, struct claim *c, json_t *o,
			  const struct rcpt_attestation *a, const struct escrow_job *j)
{
	if (!json_object_get(o, "evidence"))
		return 0;
	if (a->verdict != RCPT_VERDICT_DIFFERS) {
		esc_problem(r, ESC_P_INVALID_EVIDENCE, "evidence comes only with verdict 2");
		return -1;
	}
	if (evidence_check(r, &c->ev, j, json_object_get(o, "evidence")))
		return -1;
	ASSAY_ASSERT(c->ev);
	c->ev_text = json_dumps(c->ev, JSON_COMPACT | JSON_SORT_KEYS);
	if (!c->ev_text) {
		esc_problem(r, ESC_P_INTERNAL, NULL);
		return -1;
	}
	return 0;
}

/* The attestation's validator holds at least the minimum stake; else
 * -1 having answered (403 or a ledger error). */
static int validator_staked(struct httpd_req *r, struct escrow *e,
			    const uint8_t validator[RCPT_ADDR_BYTES])
{
	int staked = 0;

	if (esc_stake_check(r, e, &staked, validator))
		return -1;
	if (!staked) {
		esc_problem(r, ESC_P_VALIDATOR_NOT_STAKED,
			    "a validator must hold at least the minimum stake");
		return -1;
	}
	return 0;
}

/* Records the attestation, and a claim's dispute, in one transaction
 * (attest_body), and answers. */
static void attest_commit(struct httpd_req *r, struct escrow *e, const uint8_t id[RCPT_HASH_BYTES],
			  const struct rcpt_attestation *a, const char *canon,
			  const uint8_t sig[RCPT_SIG_BYTES], const struct claim *c, uint64_t now)
{
	char sub[80], vh[RCPT_ADDR_HEX_BYTES], orh[RCPT_HASH_HEX_BYTES];
	struct attest_txn x = { id, a, canon, sig, c->input, c->input_len, c->ev_text, sub, now,
				NULL, NULL, ATTEST_DONE };
	enum escrow_db_err rc;

	/* claim_input and claim_evidence take nothing without verdict 2. */
	ASSAY_ASSERT(a->verdict == RCPT_VERDICT_DIFFERS || (!c->input && !c->ev));
	escrow_subject_job(sub, id);
	rcpt_address_format(vh, a->validator);
	escrow_hex(orh, sizeof(orh), a->output_root, 32);
	x.attest_data = json_pack("{s:s, s:i, s:s}", "validator", vh, "verdict", (int)a->verdict,
				  "outputRoot", orh);
	if (a->verdict == RCPT_VERDICT_DIFFERS)
		x.claim_data = claim_audit_data(vh, c->input != NULL, c->ev);
	rc = escrow_db_txn(escrow_http_db(e), attest_body, &x);
	json_decref(x.attest_data);
	json_decref(x.claim_data);
	if (!attest_refused(r, e, &x, rc, vh))
		reply_attested(r, vh, a);
}

/* input and evidence are checked by the handler: they come only with
 * verdict 2, which the attestation says. */
ESC_BODY(esc_body_attestation,
	 { "attestation", HTTPD_KEY_OBJECT, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_ATTESTATION, "attestation is not an object") },
	 { "signature", HTTPD_KEY_ANY, ESC_REQUIRED, NULL, NULL },
	 { "input", HTTPD_KEY_ANY, ESC_OPTIONAL, NULL, NULL },
	 { "evidence", HTTPD_KEY_ANY, ESC_OPTIONAL, NULL, NULL });

/* POST /v1/jobs/{id}/attestations: a staked validator's signed verdict
 * on a receipted job; verdict 2 is a fraud claim, which opens a dispute. */
void esc_handle_attestation(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r);
	struct escrow_job j;
	struct rcpt_attestation a;
	struct claim c = { NULL, 0, NULL, NULL };
	uint8_t id[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
	char *canon = NULL;
	uint64_t now = esc_now_s();

	if (esc_job_prelude(r, e, id, &j) || attestation_signed(r, e, &a, sig, o) ||
	    attestation_fits_job(r, &a, &j) || claim_input(r, &c, o, &a, &j) ||
	    claim_evidence(r, &c, o, &a, &j) || validator_staked(r, e, a.validator))
		goto out;
	if (rcpt_attestation_to_json(&canon, &a) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_ATTESTATION, NULL);
		goto out;
	}
	attest_commit(r, e, id, &a, canon, sig, &c, now);
out:
	free(canon);
	claim_release(&c);
}

/* A disputed job's input, given to every dispute that waits for it,
 * and one audit entry when there was one. */
struct input_txn {
	const uint8_t *id, *input;
	size_t len;
	const char *sub;
	int disputes;
};

static enum escrow_db_err input_body(struct escrow_db *db, void *arg)
{
	struct input_txn *x = arg;
	enum escrow_db_err rc;

	x->disputes = 0;
	rc = escrow_db_dispute_set_input(db, x->id, x->input, x->len, &x->disputes);
	if (!rc && x->disputes > 0)
		rc = escrow_db_audit(db, x->sub, "input-provided",
				     json_pack("{s:I}", "size", (json_int_t)x->len), esc_now_s());
	return rc;
}

/* The job's input for the referee, from anyone: the commitment decides. */
void esc_handle_input(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct escrow_job j;
	uint8_t id[RCPT_HASH_BYTES];
	size_t len = 0;
	const char *body = httpd_req_body(r, &len);
	char sub[80];
	enum escrow_db_err rc;
	int n = 0;

	if (esc_job_prelude(r, e, id, &j))
		return;
	if (!escrow_input_matches(&j.job, (const uint8_t *)body, len)) {
		esc_problem(r, ESC_P_INPUT_MISMATCH,
			    "the body's commitment differs from job.inputRoot/inputSize");
		return;
	}
	escrow_subject_job(sub, id);
	{
		struct input_txn x = { id, (const uint8_t *)body, len, sub, 0 };
		rc = escrow_db_txn(escrow_http_db(e), input_body, &x);
		n = x.disputes;
	}
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	if (n == 0) {
		esc_problem(r, ESC_P_NO_OPEN_DISPUTE, NULL);
		return;
	}
	httpd_reply_json(r, 200, json_pack("{s:s, s:i}", "job", httpd_req_param(r, 0),
					   "disputes", n));
}

/* A withholding report: the job's window still open, one report per
 * validator, the job disputed, one audit entry. */
struct withheld_txn {
	const uint8_t *id, *who;
	const char *sub;
	uint64_t now;
	json_t *data;
	enum attest_end end;
};

static enum escrow_db_err withheld_body(struct escrow_db *db, void *arg)
{
	struct withheld_txn *x = arg;
	enum escrow_db_err rc;

	rc = lock_attestable(db, x->id, x->now, &x->end);
	if (!rc) {
		rc = escrow_db_dispute_insert_withheld(db, x->id, x->who, x->now);
		if (rc == ESCROW_DB_CONFLICT)
			x->end = ATTEST_SEEN;
	}
	if (!rc)
		rc = job_disputed(db, x->id, JOB_OP_WITHHELD, x->now);
	if (!rc)
		rc = escrow_db_audit(db, x->sub, "dispute-opened", json_incref(x->data), x->now);
	return rc;
}

/* POST /v1/jobs/{id}/withheld: a staked validator reports that the
 * provider does not serve the job's input.  The referee fetches it from
 * the provider (settle.c); see docs/escrow.md. */
void esc_handle_job_withheld(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r);
	const uint8_t *who = httpd_req_signer(r);
	struct escrow_job j;
	uint8_t id[RCPT_HASH_BYTES];
	const char *reason;
	char sub[80], vh[RCPT_ADDR_HEX_BYTES];
	enum escrow_db_err rc;
	uint64_t now = esc_now_s();

	ASSAY_ASSERT(who);   /* HTTPD_F_AUTH route */
	if (esc_job_prelude(r, e, id, &j) || !(reason = esc_parse_reason(r, o)))
		return;
	if (memcmp(who, j.job.provider, RCPT_ADDR_BYTES) == 0) {
		esc_problem(r, ESC_P_CONFLICT_OF_INTEREST, NULL);
		return;
	}
	if (require_receipt(r, &j) || esc_require_stake(r, e, who, ESC_P_VALIDATOR_NOT_STAKED))
		return;
	escrow_subject_job(sub, id);
	rcpt_address_format(vh, who);
	{
		struct withheld_txn x = { id, who, sub, now,
					  json_pack("{s:s, s:s, s:s}", "validator", vh,
						    "kind", "withheld", "reason", reason),
					  ATTEST_DONE };
		rc = escrow_db_txn(escrow_http_db(e), withheld_body, &x);
		json_decref(x.data);
		if (x.end == ATTEST_WINDOW_CLOSED) {
			reply_window_closed(r, e, now);
			return;
		}
		if (x.end == ATTEST_SEEN) {
			esc_problem(r, ESC_P_ALREADY_REPORTED,
				    "this validator already reported this job's input withheld");
			return;
		}
	}
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	httpd_reply_json(r, 201, json_pack("{s:s, s:s, s:s, s:b}", "job", httpd_req_param(r, 0),
					   "validator", vh, "kind", "withheld", "dispute", 1));
}
