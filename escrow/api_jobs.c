/*
 * api_jobs.c: POST /v1/jobs (open a job: its JobSpec, signature, the
 * provider's approval under --registry approved and its deterrence), GET
 * /v1/jobs (the list) and GET /v1/jobs/{id}.
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

/* ---------------------------------------------------------------- views */

json_t *esc_job_view(struct escrow *e, const struct escrow_job *j, int detail)
{
	char id[RCPT_HASH_HEX_BYTES], c[RCPT_ADDR_HEX_BYTES], p[RCPT_ADDR_HEX_BYTES];
	char mp[RCPT_U256_DEC_BYTES], sig[RCPT_SIG_HEX_BYTES];
	char *jt = NULL, *rt = NULL;
	json_t *v;

	escrow_hex(id, sizeof(id), j->id, 32);
	rcpt_address_format(c, j->job.customer);
	rcpt_address_format(p, j->job.provider);
	rcpt_u256_format(mp, &j->job.max_price);
	escrow_hex(sig, sizeof(sig), j->job_sig, 65);
	v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s}",
		      "id", id, "state", escrow_job_state_name(j->state), "customer", c, "provider", p,
		      "kernel", j->job.kernel, "maxPrice", mp,
		      "deadline", (json_int_t)j->job.deadline,
		      "openedAt", (json_int_t)j->opened_at_s, "jobSignature", sig);
	if (!v)
		return NULL;
	if (rcpt_job_to_json(&jt, &j->job) == RCPT_OK)
		json_object_set_new(v, "job", json_loads(jt, 0, NULL));
	if (j->has_receipt) {
		char rid[RCPT_HASH_HEX_BYTES], rs[RCPT_SIG_HEX_BYTES], pr[RCPT_U256_DEC_BYTES];
		escrow_hex(rid, sizeof(rid), j->receipt_id, 32);
		escrow_hex(rs, sizeof(rs), j->receipt_sig, 65);
		rcpt_u256_format(pr, &j->receipt.price);
		json_object_set_new(v, "receiptId", json_string(rid));
		json_object_set_new(v, "receiptSignature", json_string(rs));
		json_object_set_new(v, "price", json_string(pr));
		json_object_set_new(v, "windowEnd", json_integer((json_int_t)j->window_end_s));
		json_object_set_new(v, "receiptedAt", json_integer((json_int_t)j->receipted_at_s));
		if (rcpt_receipt_to_json(&rt, &j->receipt) == RCPT_OK)
			json_object_set_new(v, "receipt", json_loads(rt, 0, NULL));
	}
	if (j->settled_at_s)
		json_object_set_new(v, "settledAt", json_integer((json_int_t)j->settled_at_s));
	if (detail) {
		json_t *d = NULL;
		if (escrow_db_disputes_for_job(escrow_http_db(e), &d, j->id) == ESCROW_DB_OK)
			json_object_set_new(v, "disputes", d);
	}
	free(jt);
	free(rt);
	return v;
}

/* ---------------------------------------------------------------- jobs */

static int check_domain(struct httpd_req *r, struct escrow *e, json_t *dom)
{
	struct rcpt_domain d;
	struct rcpt_diag diag;
	char *t = esc_dump(dom);
	enum rcpt_err re = t ? rcpt_domain_parse(&d, &diag, t, strlen(t)) : RCPT_ERR_JSON;
	int rc = -1;

	if (re) {
		esc_problem(r, ESC_P_INVALID_DOMAIN, "%s",
			    t ? diag.msg : "domain is not an object");
	} else if (d.chain_id != e->domain.chain_id) {
		esc_problem(r, ESC_P_WRONG_CHAIN,
			    "chain id %" PRIu64 " is not this escrow's %" PRIu64,
			    d.chain_id, e->domain.chain_id);
	} else if (strcmp(d.name, e->domain.name) || strcmp(d.version, e->domain.version) ||
		   memcmp(d.verifying_contract, e->domain.verifying_contract, RCPT_ADDR_BYTES)) {
		esc_problem(r, ESC_P_WRONG_DOMAIN,
			    "the domain's name, version or verifyingContract is not this escrow's");
	} else {
		rc = 0;
	}
	free(t);
	return rc;
}

/* p * S for the provider, the expected loss of a caught cheat, must stay
 * above everything it could gain by cheating on all of its unsettled jobs
 * at once, this one included (docs/economics.md). */
static int check_deterrence(struct httpd_req *r, struct escrow *e, struct chain *c,
			    const struct rcpt_job *job, const uint8_t id[RCPT_HASH_BYTES])
{
	struct chain_balance b;
	struct rcpt_u256 slash, expect, exposure, total;
	enum chain_err ce = esc_chain_seen(e, chain_balance(c, &b, job->provider));
	enum escrow_db_err rc;

	if (ce) {
		esc_reply_chain(r, ce);
		return -1;
	}
	rc = escrow_db_provider_exposure(escrow_http_db(e), &exposure, job->provider, id);
	if (rc) {
		esc_reply_db(r, rc);
		return -1;
	}
	escrow_u256_bps(&slash, &b.stake, e->cfg.slash_bps);
	escrow_u256_bps(&expect, &slash, e->cfg.sample_bps);
	if (escrow_u256_add(&total, &exposure, &job->max_price) ||
	    rcpt_u256_cmp(&total, &expect) >= 0) {
		char mp[RCPT_U256_DEC_BYTES], ex[RCPT_U256_DEC_BYTES];
		rcpt_u256_format(mp, &job->max_price);
		rcpt_u256_format(ex, &expect);
		esc_problem(r, ESC_P_STAKE_TOO_LOW_FOR_PRICE,
			    "maxPrice %s plus the provider's open jobs is not below p * slash = %s of its stake",
			    mp, ex);
		return -1;
	}
	return 0;
}

static void reply_opened(struct httpd_req *r, const uint8_t id[RCPT_HASH_BYTES])
{
	char h[RCPT_HASH_HEX_BYTES];

	escrow_hex(h, sizeof(h), id, 32);
	httpd_reply_json(r, 201, json_pack("{s:s, s:s}", "job", h, "state",
					   escrow_job_state_name(JOB_OPEN)));
}

/* The domain first: it is checked before the job. */
ESC_BODY(esc_body_job_open,
	 { "domain", HTTPD_KEY_OBJECT, ESC_OPTIONAL,
	   ESC_REFUSE(ESC_P_INVALID_DOMAIN, "domain is not an object") },
	 { "job", HTTPD_KEY_OBJECT, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_JOB, "job is not an object") },
	 { "jobSignature", HTTPD_KEY_ANY, ESC_REQUIRED, NULL, NULL });

/* The body's job into *job, signed by job.customer: its signature into
 * sig and its id (the EIP-712 digest under this escrow's domain) into
 * id.  0, or -1 having answered. */
static int job_signed(struct httpd_req *r, struct escrow *e, struct rcpt_job *job,
		      uint8_t sig[RCPT_SIG_BYTES], uint8_t id[RCPT_HASH_BYTES], json_t *o)
{
	struct rcpt_diag diag;
	uint8_t signer[RCPT_ADDR_BYTES];
	char *t = esc_dump(json_object_get(o, "job"));
	enum rcpt_err re = t ? rcpt_job_parse(job, &diag, t, strlen(t)) : RCPT_ERR_JSON;
	int rc = -1;

	if (re) {
		esc_problem(r, ESC_P_INVALID_JOB, "%s",
			    t ? diag.msg : "job is not an object");
		goto out;
	}
	re = esc_get_sig(sig, o, "jobSignature");
	if (re) {
		esc_sig_problem(r, "jobSignature", re);
		goto out;
	}
	if (rcpt_job_id(id, &diag, &e->domain, job) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_JOB, "%s", diag.msg);
		goto out;
	}
	re = rcpt_recover_digest(signer, sig, id);
	if (re) {
		esc_sig_problem(r, "jobSignature", re);
		goto out;
	}
	if (memcmp(signer, job->customer, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_WRONG_SIGNER,
			    "the signature recovers to another address than job.customer (signed for another chain id or escrow?)");
		goto out;
	}
	rc = 0;
out:
	free(t);
	return rc;
}

/* A provider to pay and a deadline ahead, but not too far.  0, or -1
 * having answered. */
static int job_terms_check(struct httpd_req *r, const struct rcpt_job *job, uint64_t now)
{
	static const uint8_t zero_addr[RCPT_ADDR_BYTES];

	if (memcmp(job->provider, zero_addr, RCPT_ADDR_BYTES) == 0) {
		esc_problem(r, ESC_P_INVALID_ADDRESS, "job.provider is the zero address");
		return -1;
	}
	if (job->deadline <= now) {
		esc_problem(r, ESC_P_DEADLINE_PASSED,
			    "job.deadline %" PRIu64 " is not in the future", job->deadline);
		return -1;
	}
	if (job->deadline - now > ESCROW_DEADLINE_AHEAD_MAX_S) {
		esc_problem(r, ESC_P_DEADLINE_TOO_FAR,
			    "job.deadline is more than %u s ahead", ESCROW_DEADLINE_AHEAD_MAX_S);
		return -1;
	}
	return 0;
}

/* A job the referee can re-execute: a kernel it has under this
 * kernelHash, an input within its bound, params the kernel takes.  0, or
 * -1 having answered. */
static int job_kernel_check(struct httpd_req *r, const struct rcpt_job *job)
{
	const struct kern_info *ki = kern_find(job->kernel);
	struct kern_diag kd;

	if (!ki || memcmp(ki->hash, job->kernel_hash, RCPT_HASH_BYTES) != 0) {
		esc_problem(r, ESC_P_UNKNOWN_KERNEL,
			    "the referee cannot re-execute kernel \"%s\" with this kernelHash",
			    job->kernel);
		return -1;
	}
	if (job->input_size > ESCROW_INPUT_BYTES_MAX) {
		esc_problem(r, ESC_P_INPUT_TOO_LARGE,
			    "job.inputSize is above the referee's %u bytes", ESCROW_INPUT_BYTES_MAX);
		return -1;
	}
	/* The exact form the kernel takes (PROTOCOL.md sections 3 and 6):
	 * a job the kernel must refuse never locks the customer's money. */
	if (kern_params_check(&kd, job->kernel, job->params, strlen(job->params)) != KERN_OK) {
		esc_problem(r, ESC_P_INVALID_PARAMS, "%s", kd.msg);
		return -1;
	}
	return 0;
}

/* Validates a JobSpec request (esc_body_job_open): fills job, sig, id. */
static int job_validate(struct httpd_req *r, struct escrow *e, struct rcpt_job *job,
			uint8_t sig[RCPT_SIG_BYTES], uint8_t id[RCPT_HASH_BYTES])
{
	json_t *o = httpd_req_json(r);
	uint64_t now = esc_now_s();

	if (json_object_get(o, "domain") && check_domain(r, e, json_object_get(o, "domain")))
		return -1;
	if (job_signed(r, e, job, sig, id, o) || job_terms_check(r, job, now) ||
	    job_kernel_check(r, job))
		return -1;
	return 0;
}

/* The job's step opening -> open with its "opened" audit entry, once the
 * money is locked; 0, or -1 having answered. */
static int opened_step(struct httpd_req *r, struct escrow *e, const struct rcpt_job *job,
		       const uint8_t id[RCPT_HASH_BYTES], uint64_t now)
{
	char sub[80], mp[RCPT_U256_DEC_BYTES], c[RCPT_ADDR_HEX_BYTES], p[RCPT_ADDR_HEX_BYTES];
	enum escrow_db_err rc;

	rcpt_u256_format(mp, &job->max_price);
	rcpt_address_format(c, job->customer);
	rcpt_address_format(p, job->provider);
	escrow_subject_job(sub, id);
	rc = escrow_db_step_audit(escrow_http_db(e), id, JOB_OP_FUNDED, JOB_OPENING, sub, "opened",
				  json_pack("{s:s, s:s, s:s, s:s, s:I}", "customer", c,
					    "provider", p, "kernel", job->kernel,
					    "maxPrice", mp, "deadline", (json_int_t)job->deadline),
				  now);
	if (rc == ESCROW_DB_CONFLICT)
		rc = ESCROW_DB_OK;   /* the settlement loop finished the opening meanwhile */
	if (rc) {
		esc_reply_db(r, rc);
		return -1;
	}
	return 0;
}

void esc_handle_job_open(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct rcpt_job job;
	struct escrow_job old;
	uint8_t sig[RCPT_SIG_BYTES], id[RCPT_HASH_BYTES];
	const char *key = httpd_req_idem_key(r);
	char *canon = NULL;
	struct chain *ch;
	enum escrow_db_err rc;
	enum chain_err ce;
	uint64_t now = esc_now_s();

	ASSAY_ASSERT(e && key);
	/* The registry before anything is written or locked: a provider the
	 * operator has not approved gets no job, and nobody's money moves. */
	if (job_validate(r, e, &job, sig, id) || esc_registry_require(r, e, job.provider, now) ||
	    !(ch = esc_chain(r, e)))
		goto out;
	if (rcpt_job_to_json(&canon, &job) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_JOB, "job does not serialise");
		goto out;
	}
	rc = escrow_db_job_insert(escrow_http_db(e), id, &job, canon, sig, key, now);
	if (rc == ESCROW_DB_CONFLICT) {
		/* Our own earlier attempt (same key) is resumed; anything else
		 * is a replayed job id. */
		rc = escrow_db_job_get(escrow_http_db(e), &old, id);
		if (rc) {
			esc_reply_db(r, rc);
			goto out;
		}
		if (strcmp(old.open_idem, key) != 0) {
			esc_problem(r, ESC_P_JOB_EXISTS, "a job id is accepted once");
			goto out;
		}
		if (old.state != JOB_OPENING) {
			reply_opened(r, id);
			goto out;
		}
	} else if (rc) {
		esc_reply_db(r, rc);
		goto out;
	} else if (check_deterrence(r, e, ch, &job, id)) {
		(void)escrow_db_job_delete_opening(escrow_http_db(e), id);
		goto out;
	}
	ce = esc_chain_seen(e, chain_lock(ch, id, job.customer, job.provider, &job.max_price, now));
	if (ce && ce != CHAIN_ERR_EXISTS) {
		if (ce != CHAIN_ERR_UNAVAILABLE && ce != CHAIN_ERR_CONFLICT)
			(void)escrow_db_job_delete_opening(escrow_http_db(e), id);
		esc_reply_chain(r, ce);
		goto out;
	}
	if (opened_step(r, e, &job, id, now) == 0)
		reply_opened(r, id);
out:
	free(canon);
}

/* GET /v1/jobs?state=S&after=T[&afterId=ID]: at most ESCROW_LIST_MAX
 * jobs in state S (default receipted), ordered by receiptedAt (openedAt
 * for jobs without a receipt) and id, strictly after the cursor: pass
 * the last job's time and id to read the next page. */
void esc_handle_jobs_list(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	const char *state = httpd_req_query(r, "state");
	enum escrow_job_state st;
	const char *after_id = httpd_req_query(r, "afterId");
	uint8_t (*ids)[RCPT_HASH_BYTES] = NULL, aid[RCPT_HASH_BYTES];
	uint64_t after_s = 0;
	size_t n = 0, i;
	json_t *arr;
	enum escrow_db_err rc;

	if (!state)
		state = "receipted";
	if (escrow_job_state_parse(state, &st)) {
		esc_problem(r, ESC_P_INVALID_STATE, "unknown state name");
		return;
	}
	if (esc_parse_cursor(r, &after_s, aid))
		return;
	if (esc_db_ready(r, e))
		return;
	ids = calloc(ESCROW_LIST_MAX, sizeof(*ids));
	if (!ids) {
		esc_problem(r, ESC_P_INTERNAL, NULL);
		return;
	}
	rc = escrow_db_jobs_page(escrow_http_db(e), ids, &n, ESCROW_LIST_MAX, st, after_s,
				 after_id ? aid : NULL);
	if (rc) {
		free(ids);
		esc_reply_db(r, rc);
		return;
	}
	arr = json_array();
	for (i = 0; arr && i < n; i++) {
		struct escrow_job j;
		if (escrow_db_job_get(escrow_http_db(e), &j, ids[i]) == ESCROW_DB_OK)
			json_array_append_new(arr, esc_job_view(e, &j, 0));
	}
	free(ids);
	httpd_reply_json(r, 200, json_pack("{s:o}", "jobs", arr));
}

void esc_handle_job_get(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct escrow_job j;
	uint8_t id[RCPT_HASH_BYTES];

	if (esc_job_prelude(r, e, id, &j) == 0)
		httpd_reply_json(r, 200, esc_job_view(e, &j, 1));
}
