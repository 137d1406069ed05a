/*
 * api.c: assay-provider's HTTP routes (docs/provider-openapi.yaml).
 *
 * Who may do what (docs/provider.md):
 *   - anyone: GET /v1/info; PUT the input of a job awaiting it (the bytes
 *     must match the commitment the customer signed, so the upload needs
 *     no further authority: nobody can put anything else in its place);
 *   - the job's customer (signed request, or a sign-in session with the
 *     customer role): submit, status, bundle, input, output, delete;
 *   - the escrow (a signed request by its own address, the domain's
 *     verifyingContract): status, input, output, for its referee;
 *   - a validator (a signed request, or a session with the validator
 *     role, by an address holding the escrow's minimum stake): status,
 *     bundle, input and output of any job the escrow holds a receipt for,
 *     until settlement.
 * Handlers run on the one polling thread; they take p->mu around the job
 * table and never call the network under it.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "assay_assert.h"
#include "httpd_client.h"
#include "problems.h"
#include "provider.h"

#include "banned.h"

enum who { W_NONE = 0, W_CUSTOMER, W_ESCROW, W_VALIDATOR };

static void id_hex(char out[RCPT_HASH_HEX_BYTES], const uint8_t id[RCPT_HASH_BYTES])
{
	if (rcpt_hex_encode(out, RCPT_HASH_HEX_BYTES, id, RCPT_HASH_BYTES) != RCPT_OK)
		out[0] = '\0';
}

/* ---------------------------------------------------------------- escrow lookups */

/* 1 when address holds at least the minimum stake at the escrow, 0 when
 * not, -1 when the escrow did not answer.  Cached PROV_STAKE_CACHE_S. */
static int is_staked(struct prov *p, const uint8_t address[RCPT_ADDR_BYTES])
{
	struct httpd_client_resp resp;
	struct httpd_client_req req = { 0 };
	struct prov_cache_entry *slot = &p->stake_cache[0];
	struct rcpt_u256 stake;
	char a[RCPT_ADDR_HEX_BYTES], target[96], why[256];
	uint64_t now = (uint64_t)time(NULL);
	const char *s;
	int staked;

	for (size_t i = 0; i < PROV_STAKE_CACHE_MAX; i++) {
		struct prov_cache_entry *c = &p->stake_cache[i];
		if (c->until_s > now && memcmp(c->address, address, RCPT_ADDR_BYTES) == 0)
			return c->staked;
		if (c->until_s < slot->until_s)
			slot = c;
	}
	rcpt_address_format(a, address);
	snprintf(target, sizeof(target), "/v1/accounts/%s", a);
	req.method = "GET";
	req.base_url = p->cfg.escrow_url;
	req.target = target;
	req.timeout_ms = PROV_ESCROW_TIMEOUT_MS;
	if (httpd_client_request(&resp, why, sizeof(why), &req) != HTTPD_OK)
		return -1;
	if (resp.status != 200 || !(s = httpd_client_str(&resp, "stake")) ||
	    rcpt_u256_parse(&stake, s) != RCPT_OK) {
		staked = resp.status == 404 ? 0 : -1;
	} else {
		struct rcpt_u256 zero;
		memset(&zero, 0, sizeof(zero));
		staked = rcpt_u256_cmp(&stake, &p->min_stake) >= 0 &&
			 rcpt_u256_cmp(&stake, &zero) > 0;
	}
	httpd_client_resp_free(&resp);
	if (staked >= 0) {
		memcpy(slot->address, address, RCPT_ADDR_BYTES);
		slot->staked = staked;
		slot->until_s = now + PROV_STAKE_CACHE_S;
	}
	return staked;
}

/* ---------------------------------------------------------------- helpers */

static int parse_id(struct httpd_req *r, uint8_t id[RCPT_HASH_BYTES])
{
	const char *s = httpd_req_param(r, 0);

	if (!s || rcpt_hex_decode(id, RCPT_HASH_BYTES, s) != RCPT_OK) {
		prov_problem(r, PROV_P_INVALID_ID, "a job id is 0x + 64 hex digits");
		return -1;
	}
	return 0;
}

/* Who the authenticated caller is for job j (under p->mu, j stable).
 * An API key acts as its owner within its scopes: as the customer with
 * jobs:read or jobs:write (the route's declared scopes chose which), as
 * a validator with validate (and the owner's stake), never as the
 * escrow. */
static enum who who_for(struct prov *p, const struct prov_job *j, struct httpd_req *r,
			int *validator_unknown)
{
	const uint8_t *signer = httpd_req_signer(r);
	enum httpd_role role = httpd_req_role(r);
	unsigned ks = prov_req_key_scopes(p, r);

	*validator_unknown = 0;
	if (!signer)
		return W_NONE;
	if (httpd_req_apikey(r)) {
		ASSAY_ASSERT(role == HTTPD_ROLE_NONE);
		if ((ks & (PROV_SCOPE_JOBS_READ | PROV_SCOPE_JOBS_WRITE)) &&
		    CRYPTO_memcmp(signer, j->spec.customer, RCPT_ADDR_BYTES) == 0)
			return W_CUSTOMER;
		*validator_unknown = (ks & PROV_SCOPE_VALIDATE) != 0;
		return W_NONE;
	}
	if ((role == HTTPD_ROLE_NONE || role == HTTPD_ROLE_CUSTOMER) &&
	    CRYPTO_memcmp(signer, j->spec.customer, RCPT_ADDR_BYTES) == 0)
		return W_CUSTOMER;
	if (role == HTTPD_ROLE_NONE &&
	    CRYPTO_memcmp(signer, p->domain.verifying_contract, RCPT_ADDR_BYTES) == 0)
		return W_ESCROW;
	if (role == HTTPD_ROLE_VALIDATOR)
		return W_VALIDATOR;
	if (role == HTTPD_ROLE_NONE)
		*validator_unknown = 1;  /* the caller checks the stake, off the lock */
	return W_NONE;
}

/* Finds job {id} and checks the caller may read it.  On success returns
 * 0 with a copy of the job in *out; else it has answered. */
static int job_for_reader(struct prov *p, struct httpd_req *r, struct prov_job *out,
			  enum who *who_out, int allow_validator)
{
	uint8_t id[RCPT_HASH_BYTES];
	struct prov_job *j;
	enum who who;
	int unknown, st;

	if (parse_id(r, id))
		return -1;
	pthread_mutex_lock(&p->mu);
	j = prov_job_find(p, id);
	if (j) {
		*out = *j;
		OPENSSL_cleanse(out->key, sizeof(out->key));  /* handlers read files via the table */
	}
	pthread_mutex_unlock(&p->mu);
	if (!j) {
		prov_problem(r, PROV_P_JOB_NOT_FOUND, NULL);
		return -1;
	}
	who = who_for(p, out, r, &unknown);
	if (who == W_NONE && unknown && allow_validator) {
		st = is_staked(p, httpd_req_signer(r));
		if (st < 0) {
			prov_problem(r, PROV_P_ESCROW_UNAVAILABLE,
				     "could not ask the escrow whether the caller is a validator");
			return -1;
		}
		if (st)
			who = W_VALIDATOR;
	}
	if (who == W_NONE || (who == W_VALIDATOR && !allow_validator)) {
		prov_problem(r, PROV_P_FORBIDDEN,
			     "only the job's customer, the escrow or a staked validator may read it");
		return -1;
	}
	if (who == W_VALIDATOR && !out->has_receipt) {
		prov_problem(r, PROV_P_NOT_RECEIPTED,
			     "validators may read a job once it has a receipt");
		return -1;
	}
	*who_out = who;
	return 0;
}

static json_t *status_view(struct prov *p, const struct prov_job *j, long position)
{
	char h[RCPT_HASH_HEX_BYTES];
	json_t *v;

	id_hex(h, j->id);
	v = json_pack("{s:s, s:s, s:s}", "id", h, "status", prov_status_name(j->status),
		      "kernel", j->spec.kernel);
	if (!v)
		return NULL;
	if (position >= 0)
		json_object_set_new(v, "position", json_integer(position));
	if (j->status == PROV_ST_RUNNING) {
		uint64_t now = prov_now_ms();
		json_object_set_new(v, "progress",
				    json_pack("{s:I, s:I}", "elapsedMs",
					      (json_int_t)(now > j->started_ms ? now - j->started_ms : 0),
					      "limitMs", (json_int_t)p->cfg.limits.wall_ms));
	}
	if (j->has_receipt && j->status != PROV_ST_RUNNING) {
		id_hex(h, j->receipt_id);
		json_object_set_new(v, "receiptId", json_string(h));
		id_hex(h, j->receipt.output_root);
		json_object_set_new(v, "outputRoot", json_string(h));
		json_object_set_new(v, "outputSize", json_integer((json_int_t)j->receipt.output_size));
	}
	if (j->error[0])
		json_object_set_new(v, "error", json_string(j->error));
	return v;
}

/* ---------------------------------------------------------------- handlers */

/* The models this provider holds, for GET /v1/info. */
static json_t *models_json(const struct prov *p)
{
	json_t *a = json_array();
	char root[RCPT_HASH_HEX_BYTES];

	for (size_t i = 0; a && i < p->models_len; i++) {
		id_hex(root, p->models[i].root);
		json_array_append_new(a, json_pack("{s:s, s:I}", "root", root, "size",
						   (json_int_t)p->models[i].size));
	}
	return a ? a : json_array();
}

static void handle_info(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	char a[RCPT_ADDR_HEX_BYTES], vc[RCPT_ADDR_HEX_BYTES], price[RCPT_U256_DEC_BYTES];
	char kh[RCPT_HASH_HEX_BYTES];
	json_t *ks = json_array(), *v;
	size_t qlen;

	for (size_t i = 0; ks && i < kern_count(); i++) {
		const struct kern_info *k = kern_info_at(i);
		id_hex(kh, k->hash);
		json_array_append_new(ks, json_pack("{s:s, s:s, s:s}", "kernel", k->name,
						    "kernelHash", kh, "description",
						    k->description));
	}
	rcpt_address_format(a, p->key.address);
	rcpt_address_format(vc, p->domain.verifying_contract);
	rcpt_u256_format(price, &p->cfg.price);
	pthread_mutex_lock(&p->mu);
	qlen = p->queue_len;
	pthread_mutex_unlock(&p->mu);
	v = json_pack("{s:s, s:s, s:{s:s, s:s, s:I, s:s}, s:o, s:s, s:{s:I, s:I}, s:I, s:b}",
		      "address", a, "escrow", p->cfg.escrow_url,
		      "domain", "name", p->domain.name, "version", p->domain.version,
		      "chainId", (json_int_t)p->domain.chain_id, "verifyingContract", vc,
		      "kernels", ks ? ks : json_array(), "price", price,
		      "queue", "length", (json_int_t)qlen, "max", (json_int_t)p->cfg.queue_max,
		      "inputBytesMax", (json_int_t)PROV_INPUT_BYTES_MAX,
		      "devnet", p->devnet);
	if (v)
		json_object_set_new(v, "models", models_json(p));
	httpd_reply_json(r, 200, v);
}

/* A model kernel's job only when this provider holds its model. */
static int check_model(struct httpd_req *r, const struct prov *p, const struct rcpt_job *spec)
{
	const struct prov_model *m;
	char why[256];
	int rc = prov_model_for_job(p, spec, &m, why, sizeof(why));

	if (rc == -1)
		prov_problem(r, PROV_P_INVALID_JOB, "%s", why);
	else if (rc == -2)
		prov_problem(r, PROV_P_UNKNOWN_MODEL, "%s", why);
	return rc;
}

static void handle_submit(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	json_t *o = httpd_req_json(r), *jv;
	const uint8_t *signer = httpd_req_signer(r);
	const char *sig_s = json_string_value(json_object_get(o, "jobSignature"));
	const struct kern_info *k;
	struct prov_job *j = NULL, *old;
	struct rcpt_diag d;
	uint8_t digest[RCPT_HASH_BYTES], rec[RCPT_ADDR_BYTES];
	char *t = NULL, state[32], sid[19];
	uint64_t now = (uint64_t)time(NULL);
	enum rcpt_err re;
	const char *key;
	void *iter;

	if (httpd_req_role(r) != HTTPD_ROLE_NONE && httpd_req_role(r) != HTTPD_ROLE_CUSTOMER) {
		prov_problem(r, PROV_P_FORBIDDEN, "sign in with the customer role to submit jobs");
		return;
	}
	for (iter = json_object_iter(o); iter; iter = json_object_iter_next(o, iter)) {
		key = json_object_iter_key(iter);
		if (strcmp(key, "job") && strcmp(key, "jobSignature")) {
			prov_problem(r, PROV_P_INVALID_BODY,
				     "unknown member '%.40s'; the body is {job, jobSignature}",
				     key);
			return;
		}
	}
	jv = json_object_get(o, "job");
	j = calloc(1, sizeof(*j));
	if (!j) {
		prov_problem(r, PROV_P_UNAVAILABLE, "out of memory");
		return;
	}
	t = json_is_object(jv) ? json_dumps(jv, JSON_COMPACT) : NULL;
	re = t ? rcpt_job_parse(&j->spec, &d, t, strlen(t)) : RCPT_ERR_JSON;
	if (re) {
		prov_problem(r, PROV_P_INVALID_JOB, "%s", t ? d.msg : "job is not an object");
		goto out;
	}
	if (!sig_s || rcpt_sig_parse(j->job_sig, sig_s) != RCPT_OK) {
		prov_problem(r, PROV_P_INVALID_SIGNATURE, "jobSignature is 0x + 130 hex digits");
		goto out;
	}
	if (rcpt_job_id(digest, &d, &p->domain, &j->spec) != RCPT_OK) {
		prov_problem(r, PROV_P_INVALID_JOB, "%s", d.msg);
		goto out;
	}
	re = rcpt_recover_digest(rec, j->job_sig, digest);
	if (re) {
		prov_problem(r, PROV_P_INVALID_SIGNATURE, "%s", rcpt_strerror(re));
		goto out;
	}
	if (memcmp(rec, j->spec.customer, RCPT_ADDR_BYTES) != 0) {
		prov_problem(r, PROV_P_WRONG_SIGNER,
			     "the signature recovers another address (another chain id or escrow?)");
		goto out;
	}
	if (CRYPTO_memcmp(signer, j->spec.customer, RCPT_ADDR_BYTES) != 0) {
		prov_problem(r, PROV_P_NOT_YOUR_JOB, "the request must come from job.customer");
		goto out;
	}
	if (memcmp(j->spec.provider, p->key.address, RCPT_ADDR_BYTES) != 0) {
		prov_problem(r, PROV_P_WRONG_PROVIDER, "job.provider is not this provider");
		goto out;
	}
	k = kern_find(j->spec.kernel);
	if (!k) {
		prov_problem(r, PROV_P_UNKNOWN_KERNEL,
			     "this provider does not serve '%s' (GET /v1/info)", j->spec.kernel);
		goto out;
	}
	if (memcmp(k->hash, j->spec.kernel_hash, RCPT_HASH_BYTES) != 0) {
		prov_problem(r, PROV_P_WRONG_KERNEL_HASH,
			     "kernelHash is not this provider's build of '%s'", j->spec.kernel);
		goto out;
	}
	if (check_model(r, p, &j->spec))
		goto out;
	if (j->spec.deadline < now + PROV_DEADLINE_SLACK_S) {
		prov_problem(r, PROV_P_DEADLINE_PASSED,
			     "the deadline must be at least %u s away", PROV_DEADLINE_SLACK_S);
		goto out;
	}
	if (j->spec.input_size > PROV_INPUT_BYTES_MAX) {
		prov_problem(r, PROV_P_INPUT_TOO_LARGE,
			     "inputSize is at most %u bytes", PROV_INPUT_BYTES_MAX);
		goto out;
	}
	if (rcpt_u256_cmp(&j->spec.max_price, &p->cfg.price) < 0) {
		char pr[RCPT_U256_DEC_BYTES];
		rcpt_u256_format(pr, &p->cfg.price);
		prov_problem(r, PROV_P_PRICE_TOO_LOW, "this provider asks %s per job", pr);
		goto out;
	}
	memcpy(j->id, digest, RCPT_HASH_BYTES);
	pthread_mutex_lock(&p->mu);
	old = prov_job_find(p, j->id);
	if (old) {
		json_t *v = status_view(p, old, prov_job_position(p, old));
		pthread_mutex_unlock(&p->mu);
		httpd_reply_json(r, 200, v);
		goto out;
	}
	pthread_mutex_unlock(&p->mu);
	/* The escrow must hold the customer's money for it. */
	if (prov_escrow_job_state(p, j->id, state, sizeof(state))) {
		prov_problem(r, PROV_P_ESCROW_UNAVAILABLE,
			     "could not ask the escrow whether the job is funded");
		httpd_reply_retry_after(r, 5);
		goto out;
	}
	if (strcmp(state, "open") != 0) {
		prov_problem(r, PROV_P_NOT_FUNDED,
			     "the escrow shows this job as '%s'; open it there first (POST /v1/jobs)",
			     state);
		goto out;
	}
	j->status = PROV_ST_AWAITING_INPUT;
	j->created_s = now;
	prov_job_event(j, PROV_EV_ACCEPTED);
	pthread_mutex_lock(&p->mu);
	if (prov_job_find(p, j->id) || prov_job_add(p, j)) {
		pthread_mutex_unlock(&p->mu);
		prov_problem(r, PROV_P_BUSY,
			     "this provider holds %u jobs; retry later", PROV_JOBS_MAX);
		httpd_reply_retry_after(r, 60);
		goto out;
	}
	if (prov_store_save(p, j)) {
		p->jobs_len--;   /* it was the last one added */
		pthread_mutex_unlock(&p->mu);
		prov_problem(r, PROV_P_STORE_FAILED, "could not store the job");
		goto out;
	}
	prov_jobs_gauges(p);
	httpd_reply_json(r, 201, status_view(p, j, -1));
	pthread_mutex_unlock(&p->mu);
	prov_short_id(sid, j->id);
	prov_log("job-accepted", "job=%s kernel=%s input_bytes=%llu", sid, j->spec.kernel,
		 (unsigned long long)j->spec.input_size);
	j = NULL;
out:
	free(j);
	free(t);
}

static unsigned retry_estimate(const struct prov *p)
{
	uint64_t per = p->avg_run_ms ? p->avg_run_ms : 1000;
	uint64_t s = (p->queue_len / (p->cfg.workers ? p->cfg.workers : 1) + 1) * per / 1000;

	return s < 1 ? 1 : s > 3600 ? 3600 : (unsigned)s;
}

static void handle_input(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	struct prov_job *j;
	struct rcpt_commitment c;
	uint8_t id[RCPT_HASH_BYTES], key[PROV_JOB_KEY_BYTES];
	size_t len;
	const char *body = httpd_req_body(r, &len);
	char sid[19];
	int full;

	if (parse_id(r, id))
		return;
	pthread_mutex_lock(&p->mu);
	j = prov_job_find(p, id);
	if (!j) {
		pthread_mutex_unlock(&p->mu);
		prov_problem(r, PROV_P_JOB_NOT_FOUND, "submit the JobSpec first (POST /v1/jobs)");
		return;
	}
	if (j->status != PROV_ST_AWAITING_INPUT) {
		json_t *v = status_view(p, j, prov_job_position(p, j));
		unsigned st = (j->status == PROV_ST_FAILED || j->status == PROV_ST_SETTLED ||
			       j->status == PROV_ST_DELETED) ? 409 : 200;
		pthread_mutex_unlock(&p->mu);
		if (st == 409) {
			json_decref(v);
			prov_problem(r, PROV_P_JOB_CLOSED, "the job no longer takes input");
		} else {
			httpd_reply_json(r, 200, v);  /* a repeat: already stored */
		}
		return;
	}
	full = p->queue_len >= p->cfg.queue_max;
	if (full) {
		unsigned ra = retry_estimate(p);
		pthread_mutex_unlock(&p->mu);
		prov_problem(r, PROV_P_QUEUE_FULL,
			     "%u jobs are waiting; retry in about %u s", p->cfg.queue_max, ra);
		httpd_reply_retry_after(r, ra);
		return;
	}
	if (len != j->spec.input_size) {
		unsigned long long want = (unsigned long long)j->spec.input_size;
		pthread_mutex_unlock(&p->mu);
		prov_problem(r, PROV_P_INPUT_MISMATCH,
			     "the job's inputSize is %llu bytes, the body has %zu", want, len);
		return;
	}
	pthread_mutex_unlock(&p->mu);
	/* The spec is immutable once accepted: commit outside the lock. */
	if (rcpt_commit_buf(&c, body, len) != RCPT_OK ||
	    memcmp(c.root, j->spec.input_root, RCPT_HASH_BYTES) != 0) {
		prov_problem(r, PROV_P_INPUT_MISMATCH,
			     "the bytes' commitment differs from job.inputRoot");
		return;
	}
	if (getrandom(key, sizeof(key), 0) != (ssize_t)sizeof(key)) {
		prov_problem(r, PROV_P_UNAVAILABLE, "no randomness");
		return;
	}
	pthread_mutex_lock(&p->mu);
	if (j->status != PROV_ST_AWAITING_INPUT) {
		/* The janitor expired it or a concurrent upload won: answer
		 * with what it is now. */
		json_t *v = status_view(p, j, prov_job_position(p, j));
		pthread_mutex_unlock(&p->mu);
		OPENSSL_cleanse(key, sizeof(key));
		httpd_reply_json(r, 200, v);
		return;
	}
	memcpy(j->key, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	j->has_key = 1;
	j->queued_ms = prov_now_ms();
	if (prov_store_put(p, j, "input", body, len)) {
		prov_store_shred(p, j);
		pthread_mutex_unlock(&p->mu);
		prov_problem(r, PROV_P_STORE_FAILED, "could not store the input");
		return;
	}
	if (prov_job_enqueue(p, j) || prov_store_save(p, j)) {
		/* Cannot happen after the check above (one HTTP thread adds to
		 * the queue), but never leave a half-stored job. */
		j->status = PROV_ST_AWAITING_INPUT;
		prov_store_shred(p, j);
		pthread_mutex_unlock(&p->mu);
		prov_problem(r, PROV_P_STORE_FAILED, "could not queue the job");
		return;
	}
	prov_job_event(j, PROV_EV_QUEUED);
	prov_jobs_gauges(p);
	httpd_reply_json(r, 202, status_view(p, j, prov_job_position(p, j)));
	pthread_mutex_unlock(&p->mu);
	prov_short_id(sid, j->id);
	prov_log("job-queued", "job=%s input_bytes=%zu", sid, len);
}

static void handle_status(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	struct prov_job copy;
	struct prov_job *j;
	enum who who;
	long pos = -1;
	json_t *v;

	if (job_for_reader(p, r, &copy, &who, 1))
		return;
	pthread_mutex_lock(&p->mu);
	j = prov_job_find(p, copy.id);
	if (j)
		pos = prov_job_position(p, j);
	v = status_view(p, j ? j : &copy, pos);
	pthread_mutex_unlock(&p->mu);
	httpd_reply_json(r, 200, v);
}

static void handle_bundle(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	struct prov_job j;
	struct rcpt_bundle b;
	enum who who;
	char *text = NULL;

	if (job_for_reader(p, r, &j, &who, 1))
		return;
	if (!j.has_receipt || j.status == PROV_ST_RUNNING || j.status == PROV_ST_FAILED) {
		prov_problem(r, PROV_P_NOT_RECEIPTED, "the job is %s", prov_status_name(j.status));
		return;
	}
	memset(&b, 0, sizeof(b));
	b.domain = p->domain;
	b.job = j.spec;
	memcpy(b.job_sig, j.job_sig, RCPT_SIG_BYTES);
	b.receipt = j.receipt;
	memcpy(b.receipt_sig, j.receipt_sig, RCPT_SIG_BYTES);
	if (rcpt_bundle_to_json(&text, &b) != RCPT_OK) {
		prov_problem(r, PROV_P_INTERNAL, "could not write the bundle");
		return;
	}
	httpd_reply_bytes(r, 200, "application/json", text, strlen(text));
	free(text);
}

/* GET input or output: the plaintext bytes. */
static void serve_data(struct httpd_req *r, struct prov *p, const char *name)
{
	struct prov_job copy, *j;
	enum who who;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = -1, gone = 0, ready = 1;
	char sid[19];

	if (job_for_reader(p, r, &copy, &who, 1))
		return;
	pthread_mutex_lock(&p->mu);
	j = prov_job_find(p, copy.id);
	if (!j || !j->has_key) {
		gone = 1;
	} else if (strcmp(name, "output") == 0 && !(j->has_receipt &&
						     j->status != PROV_ST_RUNNING)) {
		ready = 0;
	} else if (strcmp(name, "input") == 0 && j->status == PROV_ST_AWAITING_INPUT) {
		ready = 0;
	} else {
		rc = prov_store_get(p, j, name, &data, &len,
				    strcmp(name, "input") == 0 ? PROV_INPUT_BYTES_MAX
							       : SBX_OUT_BYTES_MAX);
	}
	pthread_mutex_unlock(&p->mu);
	if (gone) {
		prov_problem(r, PROV_P_DELETED,
			     "the job's data was deleted (settled, failed or deleted by its customer)");
		return;
	}
	if (!ready) {
		prov_problem(r, PROV_P_DATA_NOT_READY, "the job's %s is not there yet", name);
		return;
	}
	if (rc) {
		prov_problem(r, PROV_P_STORE_READ_FAILED, NULL);
		return;
	}
	httpd_reply_bytes(r, 200, "application/octet-stream", data, len);
	OPENSSL_cleanse(data, len);
	free(data);
	prov_short_id(sid, copy.id);
	prov_log("data-served", "job=%s what=%s to=%s bytes=%zu", sid, name,
		 who == W_CUSTOMER ? "customer" : who == W_ESCROW ? "escrow" : "validator", len);
}

static void handle_get_input(struct httpd_req *r, void *cls)
{
	serve_data(r, cls, "input");
}

static void handle_get_output(struct httpd_req *r, void *cls)
{
	serve_data(r, cls, "output");
}

static void handle_delete(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	struct prov_job copy, *j;
	enum who who;
	char state[32], sid[19];
	json_t *v;

	if (job_for_reader(p, r, &copy, &who, 0))
		return;
	if (who != W_CUSTOMER) {
		prov_problem(r, PROV_P_FORBIDDEN, "customers only");
		return;
	}
	if (copy.status == PROV_ST_QUEUED || copy.status == PROV_ST_RUNNING ||
	    copy.status == PROV_ST_SUBMITTING) {
		prov_problem(r, PROV_P_NOT_SETTLED, "the job is %s", prov_status_name(copy.status));
		return;
	}
	if (copy.status == PROV_ST_RECEIPTED) {
		/* Validators may still need the data: only once the escrow has
		 * settled (the customer's `accept` forfeits the window). */
		if (prov_escrow_job_state(p, copy.id, state, sizeof(state))) {
			prov_problem(r, PROV_P_ESCROW_UNAVAILABLE, NULL);
			return;
		}
		if (strcmp(state, "paid") && strcmp(state, "refunded")) {
			prov_problem(r, PROV_P_NOT_SETTLED,
				     "the escrow shows the job as '%s'; accept it there first to forfeit verification",
				     state);
			return;
		}
	}
	pthread_mutex_lock(&p->mu);
	j = prov_job_find(p, copy.id);
	if (j && j->status != PROV_ST_QUEUED && j->status != PROV_ST_RUNNING &&
	    j->status != PROV_ST_SUBMITTING) {
		prov_store_shred(p, j);
		prov_job_event(j, PROV_EV_DELETED);
		if (j->status != PROV_ST_FAILED && j->status != PROV_ST_SETTLED)
			j->status = PROV_ST_DELETED;
		if (!j->done_s)
			j->done_s = (uint64_t)time(NULL);
		if (prov_store_save(p, j))
			prov_log("store-failed", "what=meta");
	}
	v = status_view(p, j ? j : &copy, -1);
	pthread_mutex_unlock(&p->mu);
	httpd_reply_json(r, 200, v);
	prov_short_id(sid, copy.id);
	prov_log("job-data-deleted", "job=%s by=customer", sid);
}

/* ---------------------------------------------------------------- sign-in roles */

/* Customers: anyone.  Validators: staked at the escrow.  No operator or
 * provider sessions here. */
static int role_allowed(void *cls, const uint8_t address[RCPT_ADDR_BYTES], enum httpd_role role)
{
	struct prov *p = cls;

	if (role == HTTPD_ROLE_CUSTOMER)
		return 1;
	if (role == HTTPD_ROLE_VALIDATOR)
		return is_staked(p, address) == 1;
	return 0;
}

static int ready(void *cls, char *why, size_t why_len)
{
	struct prov *p = cls;
	struct httpd_client_resp resp;
	struct httpd_client_req req = { 0 };
	char w[256];
	int ok;

	req.method = "GET";
	req.base_url = p->cfg.escrow_url;
	req.target = "/livez";
	req.timeout_ms = 2000;
	ok = httpd_client_request(&resp, w, sizeof(w), &req) == HTTPD_OK && resp.status == 200;
	httpd_client_resp_free(&resp);
	if (!ok) {
		snprintf(why, why_len, "escrow unreachable");
		return -1;
	}
	return 0;
}

#define A HTTPD_F_AUTH
#define J HTTPD_F_JSON
/* The scopes an API key needs on a route (docs/api-auth.md); the read
 * routes take jobs:read or validate, and who_for tells them apart. */
#define S_WRITE HTTPD_F_SCOPES(PROV_SCOPE_JOBS_WRITE)
#define S_READ HTTPD_F_SCOPES(PROV_SCOPE_READ_ANY_)
#define S_KEYS HTTPD_F_SCOPES(PROV_SCOPE_KEYS)

const struct httpd_route prov_routes[] = {
	{ "GET", "/v1/info", handle_info, 0, 0, NULL },
	{ "POST", "/v1/jobs", handle_submit, J | A | S_WRITE, PROV_JOB_BODY_BYTES_MAX, NULL },
	{ "PUT", "/v1/jobs/{id}/input", handle_input, 0, PROV_INPUT_BYTES_MAX, NULL },
	{ "GET", "/v1/jobs/{id}", handle_status, A | S_READ, 0, NULL },
	{ "DELETE", "/v1/jobs/{id}", handle_delete, A | S_WRITE, 0, NULL },
	{ "GET", "/v1/jobs/{id}/bundle", handle_bundle, A | S_READ, 0, NULL },
	{ "GET", "/v1/jobs/{id}/input", handle_get_input, A | S_READ, 0, NULL },
	{ "GET", "/v1/jobs/{id}/output", handle_get_output, A | S_READ, 0, NULL },
	{ "GET", "/v1/models/{root}", prov_handle_get_model, 0, 0, NULL },
	{ "POST", "/v1/apikeys", prov_handle_apikey_create, J | A, PROV_APIKEY_BODY_BYTES_MAX,
	  &prov_body_apikey_create },
	{ "GET", "/v1/apikeys", prov_handle_apikeys_list, A | S_KEYS, 0, NULL },
	{ "DELETE", "/v1/apikeys/{id}", prov_handle_apikey_revoke, A | S_KEYS, 0, NULL },
	{ "GET", "/v1/auth/nonce", httpd_siwe_handle_nonce, 0, 0, NULL },
	{ "POST", "/v1/auth/signin", httpd_siwe_handle_signin, J, HTTPD_SIWE_BODY_BYTES_MAX, NULL },
	{ "POST", "/v1/auth/logout", httpd_siwe_handle_logout, 0, 0, NULL },
};
const size_t prov_routes_len = sizeof(prov_routes) / sizeof(prov_routes[0]);

#undef A
#undef J
#undef S_WRITE
#undef S_READ
#undef S_KEYS

int prov_api_start(struct prov *p, char *why, size_t why_len)
{
	struct httpd_config hc = { 0 };
	size_t nroutes = prov_routes_len;

	if (p->cfg.siwe_domain) {
		/* "auto" is filled in by main once the port is bound; until
		 * then no message can name the empty domain. */
		int aut = strcmp(p->cfg.siwe_domain, "auto") == 0;
		p->siwe.domain = aut ? "" : p->cfg.siwe_domain;
		p->siwe.uri = aut ? "" : p->cfg.siwe_uri;
		p->siwe.chain_id = p->domain.chain_id;
		p->siwe.session_ttl_s = p->cfg.session_ttl_s;
		p->siwe.store = &prov_session_store;
		p->siwe.role_allowed = role_allowed;
		p->siwe.scope_of = prov_scope_of;
		hc.siwe = &p->siwe;
	} else {
		nroutes -= 3;   /* the sign-in routes are last */
	}
	hc.service = "assay-provider";
	hc.host = p->cfg.listen_host;
	hc.port = p->cfg.listen_port;
	hc.routes = prov_routes;
	hc.routes_len = nroutes;
	hc.cls = p;
	hc.ready = ready;
	hc.tls_cert_path = p->cfg.tls_cert;
	hc.tls_key_path = p->cfg.tls_key;
	hc.tls_allow_12 = p->cfg.tls_allow_12;
	hc.rate_per_s = p->cfg.rate_per_s;
	hc.rate_burst = p->cfg.rate_burst;
	hc.signin_rate_per_s = p->cfg.signin_rate_per_s;
	hc.signin_rate_burst = p->cfg.signin_rate_burst;
	hc.quiet = p->cfg.quiet;
	hc.apikey_check = prov_apikey_check;
	if (httpd_start(&p->http, why, why_len, &hc) != HTTPD_OK)
		return -1;
	pthread_mutex_lock(&p->mu);
	prov_jobs_gauges(p);
	pthread_mutex_unlock(&p->mu);
	return 0;
}
