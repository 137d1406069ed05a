/*
 * jobs.c: the job table, the bounded queue, the workers and the janitor
 * (provider.h).
 *
 * Ownership: a job's fields change under p->mu.  A worker owns a job from
 * the moment it pops it (RUNNING) until it publishes SUBMITTING, RECEIPTED
 * or FAILED; the janitor owns SUBMITTING and unsynced FAILED jobs (escrow
 * retries), RECEIPTED ones (settlement) and old records (removal; it is
 * the only one that frees a job).  The HTTP thread only adds jobs, moves
 * AWAITING_INPUT to QUEUED and settled jobs to DELETED.  Network calls
 * never run under the lock.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "httpd_client.h"
#include "provider.h"

#include "monotonic.h"
#include "banned.h"

static const char *const status_names[PROV_ST_COUNT_] = {
	[PROV_ST_AWAITING_INPUT] = "awaiting-input",
	[PROV_ST_QUEUED] = "queued",
	[PROV_ST_RUNNING] = "running",
	[PROV_ST_SUBMITTING] = "submitting",
	[PROV_ST_RECEIPTED] = "receipted",
	[PROV_ST_FAILED] = "failed",
	[PROV_ST_SETTLED] = "settled",
	[PROV_ST_DELETED] = "deleted",
};

const char *prov_status_name(enum prov_status st)
{
	return (unsigned)st < PROV_ST_COUNT_ ? status_names[st] : "unknown";
}

int prov_status_parse(enum prov_status *out, const char *s)
{
	for (unsigned i = 0; i < PROV_ST_COUNT_; i++)
		if (strcmp(s, status_names[i]) == 0) {
			*out = (enum prov_status)i;
			return 0;
		}
	return -1;
}

static const char *const event_names[PROV_EV_COUNT_] = {
	[PROV_EV_ACCEPTED] = "accepted",
	[PROV_EV_QUEUED] = "queued",
	[PROV_EV_RUNNING] = "running",
	[PROV_EV_RAN] = "ran",
	[PROV_EV_DELETED] = "deleted",
};

void prov_job_event(struct prov_job *j, enum prov_event ev)
{
	if ((j->events_due | j->events_sent) & (1u << ev))
		return;
	j->events_due |= 1u << ev;
	j->event_ms[ev] = prov_now_ms();
}

uint64_t prov_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void prov_log(const char *event, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "assay-provider: event=%s ", event);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

void prov_short_id(char out[19], const uint8_t id[RCPT_HASH_BYTES])
{
	char h[RCPT_HASH_HEX_BYTES];

	if (rcpt_hex_encode(h, sizeof(h), id, RCPT_HASH_BYTES) != RCPT_OK)
		h[2] = '\0';
	snprintf(out, 19, "%.18s", h);
}

static void id_hex(char out[RCPT_HASH_HEX_BYTES], const uint8_t id[RCPT_HASH_BYTES])
{
	if (rcpt_hex_encode(out, RCPT_HASH_HEX_BYTES, id, RCPT_HASH_BYTES) != RCPT_OK)
		out[0] = '\0';
}

/* ---------------------------------------------------------------- table */

struct prov_job *prov_job_find(struct prov *p, const uint8_t id[RCPT_HASH_BYTES])
{
	for (size_t i = 0; i < p->jobs_len; i++)
		if (memcmp(p->jobs[i]->id, id, RCPT_HASH_BYTES) == 0)
			return p->jobs[i];
	return NULL;
}

int prov_job_add(struct prov *p, struct prov_job *j)
{
	if (p->jobs_len >= PROV_JOBS_MAX)
		return -1;
	p->jobs[p->jobs_len++] = j;
	return 0;
}

int prov_job_enqueue(struct prov *p, struct prov_job *j)
{
	if (p->queue_len >= p->cfg.queue_max)
		return -1;
	p->queue[(p->queue_head + p->queue_len) % PROV_QUEUE_MAX] = j;
	p->queue_len++;
	j->status = PROV_ST_QUEUED;
	pthread_cond_signal(&p->cv);
	return 0;
}

long prov_job_position(const struct prov *p, const struct prov_job *j)
{
	for (size_t i = 0; i < p->queue_len; i++)
		if (p->queue[(p->queue_head + i) % PROV_QUEUE_MAX] == j)
			return (long)i;
	return -1;
}

void prov_jobs_gauges(struct prov *p)
{
	unsigned n[PROV_ST_COUNT_] = { 0 };
	char labels[80];

	if (!p->http)
		return;
	for (unsigned b = 0; b < SBX_LAYER_COUNT_; b++) {
		snprintf(labels, sizeof(labels), "layer=\"%s\"", sbx_layer_name(1u << b));
		(void)httpd_gauge_set(p->http, "assay_provider_sandbox_layer_missing", labels,
				      "1 when job workers run without this sandbox layer.",
				      (p->sbx_missing >> b) & 1u);
	}
	for (size_t i = 0; i < p->jobs_len; i++)
		n[p->jobs[i]->status]++;
	for (unsigned s = 0; s < PROV_ST_COUNT_; s++) {
		snprintf(labels, sizeof(labels), "status=\"%s\"", status_names[s]);
		(void)httpd_gauge_set(p->http, "assay_provider_jobs", labels,
				      "Jobs held, by status.", n[s]);
	}
	(void)httpd_gauge_set(p->http, "assay_provider_queue_length", NULL,
			      "Jobs waiting for a worker.", (double)p->queue_len);
	(void)httpd_gauge_set(p->http, "assay_provider_queue_max", NULL,
			      "Most jobs the queue holds (--queue-max).", p->cfg.queue_max);
	(void)httpd_gauge_set(p->http, "assay_provider_workers_busy", NULL,
			      "Workers running a kernel now.", p->busy);
	(void)httpd_counter_set(p->http, "assay_provider_receipts_total", NULL,
				"Receipts signed since start.", (double)p->n_receipted);
	(void)httpd_counter_set(p->http, "assay_provider_failures_total", NULL,
				"Jobs failed since start.", (double)p->n_failed);
	(void)httpd_counter_set(p->http, "assay_provider_faults_injected_total", NULL,
				"Outputs corrupted on purpose (--fault corrupt-output, devnet only).",
				(double)p->n_corrupted);
}

/* ---------------------------------------------------------------- escrow calls */

/* POSTs a JSON object to the escrow, signed, with an idempotency key.
 * Returns the HTTP status, or 0 when no answer came. */
static long escrow_post(struct prov *p, const char *target, json_t *body, const char *idem,
			char *ptype, size_t ptype_len)
{
	struct httpd_client_resp resp;
	struct httpd_client_req req = { 0 };
	char why[256];
	char *text = json_dumps(body, JSON_COMPACT);
	long status = 0;

	if (ptype_len)
		ptype[0] = '\0';
	if (!text)
		return 0;
	req.method = "POST";
	req.base_url = p->cfg.escrow_url;
	req.target = target;
	req.body = text;
	req.body_len = strlen(text);
	req.key = &p->key;
	req.idem_key = idem;
	req.timeout_ms = PROV_ESCROW_TIMEOUT_MS;
	if (httpd_client_request(&resp, why, sizeof(why), &req) == HTTPD_OK) {
		status = resp.status;
		if (ptype_len)
			snprintf(ptype, ptype_len, "%s", resp.problem_type);
		httpd_client_resp_free(&resp);
	} else {
		prov_log("escrow-unreachable", "target=%.80s why=\"%.200s\"", target, why);
	}
	free(text);
	return status;
}

int prov_escrow_job_state(struct prov *p, const uint8_t id[RCPT_HASH_BYTES],
			  char *state, size_t state_len)
{
	struct httpd_client_resp resp;
	struct httpd_client_req req = { 0 };
	char target[128], h[RCPT_HASH_HEX_BYTES], why[256];
	const char *s;
	int rc = -1;

	id_hex(h, id);
	snprintf(target, sizeof(target), "/v1/jobs/%s", h);
	req.method = "GET";
	req.base_url = p->cfg.escrow_url;
	req.target = target;
	req.timeout_ms = PROV_ESCROW_TIMEOUT_MS;
	if (httpd_client_request(&resp, why, sizeof(why), &req) != HTTPD_OK)
		return -1;
	if (resp.status == 200 && (s = httpd_client_str(&resp, "state")) && strlen(s) < state_len) {
		snprintf(state, state_len, "%s", s);
		rc = 0;
	} else if (resp.status == 404) {
		snprintf(state, state_len, "unknown");
		rc = 0;
	}
	httpd_client_resp_free(&resp);
	return rc;
}

/* Hands the receipt to the escrow.  1 accepted (or already held), 0 try
 * again later, -1 refused for good (the error is set). */
static int submit_receipt(struct prov *p, struct prov_job *j)
{
	char target[128], h[RCPT_HASH_HEX_BYTES], sig[RCPT_SIG_HEX_BYTES], ptype[96];
	char *rt = NULL;
	json_t *body;
	long st;

	id_hex(h, j->id);
	snprintf(target, sizeof(target), "/v1/jobs/%s/receipt", h);
	if (rcpt_receipt_to_json(&rt, &j->receipt) != RCPT_OK ||
	    rcpt_hex_encode(sig, sizeof(sig), j->receipt_sig, RCPT_SIG_BYTES) != RCPT_OK) {
		free(rt);
		return 0;
	}
	body = json_pack("{s:o, s:s}", "receipt", json_loads(rt, 0, NULL), "receiptSignature", sig);
	free(rt);
	if (!body)
		return 0;
	id_hex(h, j->receipt_id);
	st = escrow_post(p, target, body, h + 2, ptype, sizeof(ptype));
	json_decref(body);
	if (st == 200 || st == 201)
		return 1;
	if (st >= 400 && st < 500 && st != 404 && st != 429 && st != 408) {
		pthread_mutex_lock(&p->mu);
		snprintf(j->error, sizeof(j->error), "escrow-refused-receipt: %.100s", ptype);
		pthread_mutex_unlock(&p->mu);
		return -1;
	}
	return 0;
}

/* Tells the escrow the job failed, so it refunds the customer now.
 * 1 done (or nothing left to refund), 0 try again later. */
static int report_failure(struct prov *p, struct prov_job *j)
{
	char target[128], h[RCPT_HASH_HEX_BYTES], idem[64], reason[PROV_ERROR_BYTES], ptype[96];
	json_t *body;
	long st;

	id_hex(h, j->id);
	snprintf(target, sizeof(target), "/v1/jobs/%s/fail", h);
	snprintf(idem, sizeof(idem), "fail.%.58s", h + 2);
	pthread_mutex_lock(&p->mu);
	snprintf(reason, sizeof(reason), "%s", j->error);
	pthread_mutex_unlock(&p->mu);
	body = json_pack("{s:s}", "reason", reason);
	if (!body)
		return 0;
	st = escrow_post(p, target, body, idem, ptype, sizeof(ptype));
	json_decref(body);
	/* 409: the job is no longer open (refunded at its deadline, or never
	 * funded): nothing to refund. */
	return st == 200 || st == 409;
}

/* Next escrow retry: 2 s, doubling up to PROV_RETRY_S_MAX. */
static void backoff(struct prov_job *j, uint64_t now)
{
	j->retry_s = j->retry_s ? j->retry_s * 2 : PROV_RETRY_S_MIN;
	if (j->retry_s > PROV_RETRY_S_MAX)
		j->retry_s = PROV_RETRY_S_MAX;
	j->escrow_next_try_s = now + j->retry_s;
}

/* ---------------------------------------------------------------- workers */

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Fault injection (devnet only, checked at start): flips one bit of the
 * tensor data in a share of outputs before they are committed and
 * signed, so the receipt is consistent with a wrong output. */
static int maybe_corrupt(struct prov *p, uint8_t *out, size_t len)
{
	uint64_t r, pos, hlen = 0, data_off;

	if (p->cfg.fault_corrupt_p <= 0.0 || len < 8)
		return 0;
	pthread_mutex_lock(&p->mu);
	r = splitmix64(&p->fault_state);
	pos = splitmix64(&p->fault_state);
	pthread_mutex_unlock(&p->mu);
	if ((double)(r >> 11) * 0x1.0p-53 >= p->cfg.fault_corrupt_p)
		return 0;
	for (int i = 7; i >= 0; i--)
		hlen = (hlen << 8) | out[i];
	data_off = 8 + hlen;
	if (data_off >= len)
		return 0;
	out[data_off + pos % (len - data_off)] ^= 1u;
	return 1;
}

static void fail_job(struct prov *p, struct prov_job *j, const char *fmt, ...)
	HTTPD_PRINTF(3, 4);
static void fail_job(struct prov *p, struct prov_job *j, const char *fmt, ...)
{
	char sid[19];
	va_list ap;

	pthread_mutex_lock(&p->mu);
	va_start(ap, fmt);
	vsnprintf(j->error, sizeof(j->error), fmt, ap);
	va_end(ap);
	j->status = PROV_ST_FAILED;
	j->escrow_synced = 0;
	j->done_s = (uint64_t)time(NULL);
	prov_store_shred(p, j);
	p->n_failed++;
	if (prov_store_save(p, j))
		prov_log("store-failed", "what=meta");
	prov_jobs_gauges(p);
	pthread_mutex_unlock(&p->mu);
	prov_short_id(sid, j->id);
	prov_log("job-failed", "job=%s kernel=%s error=\"%s\"", sid, j->spec.kernel, j->error);
	if (report_failure(p, j)) {
		pthread_mutex_lock(&p->mu);
		j->escrow_synced = 1;
		if (prov_store_save(p, j))
			prov_log("store-failed", "what=meta");
		pthread_mutex_unlock(&p->mu);
		prov_log("job-refund-requested", "job=%s", sid);
	} else {
		pthread_mutex_lock(&p->mu);
		backoff(j, (uint64_t)time(NULL));
		pthread_mutex_unlock(&p->mu);
	}
}

static void run_job(struct prov *p, struct prov_job *j)
{
	struct sbx_report rep;
	struct sbx_job wj = { 0 };
	/* The worker's copies of the signing key and the data key. */
	const struct sbx_wipe wipe[] = { { &p->key, sizeof(p->key) },
					 { p->data_key, sizeof(p->data_key) } };
	struct rcpt_commitment oc;
	struct rcpt_diag d;
	uint8_t *in = NULL, *out = NULL, digest[RCPT_HASH_BYTES];
	size_t in_len = 0, out_len = 0;
	const struct prov_model *model;
	char sid[19], why[256];
	enum sbx_err we;
	int corrupted, sub;

	prov_short_id(sid, j->id);
	if ((uint64_t)time(NULL) >= j->spec.deadline) {
		fail_job(p, j, "deadline-passed: the job's deadline passed while it was queued");
		return;
	}
	/* The plaintext stays in memory (the worker gets it from fork) and
	 * never touches the disk. */
	if (prov_store_get(p, j, "input", &in, &in_len, PROV_INPUT_BYTES_MAX)) {
		fail_job(p, j, "input-unreadable: the stored input could not be decrypted");
		return;
	}
	wj.kernel = j->spec.kernel;
	wj.params = j->spec.params;
	wj.params_len = strlen(j->spec.params);
	wj.in = in;
	wj.in_len = in_len;
	wj.scratch_base = p->scratch_dir;
	wj.limits = &p->cfg.limits;
	wj.mode = p->cfg.sandbox_mode;
	wj.wipe = wipe;
	wj.wipe_len = sizeof(wipe) / sizeof(wipe[0]);
	if (prov_model_for_job(p, &j->spec, &model, why, sizeof(why))) {
		OPENSSL_cleanse(in, in_len);
		free(in);
		fail_job(p, j, "model-unavailable: %.120s", why);
		return;
	}
	wj.model_path = model ? model->path : NULL;
	prov_log("job-started", "job=%s kernel=%s", sid, j->spec.kernel);
	memset(&j->receipt, 0, sizeof(j->receipt));
	j->receipt.started_at_ms = prov_now_ms();
	we = sbx_run(&out, &out_len, &rep, &wj);
	OPENSSL_cleanse(in, in_len);
	free(in);
	prov_sandbox_note(p, rep.missing, we);
	if (we != SBX_OK) {
		fail_job(p, j, "%s: %.120s", sbx_errname(we), rep.msg);
		return;
	}
	j->receipt.finished_at_ms = prov_now_ms();
	if (j->receipt.finished_at_ms < j->receipt.started_at_ms)
		j->receipt.finished_at_ms = j->receipt.started_at_ms;
	corrupted = maybe_corrupt(p, out, out_len);
	if (rcpt_commit_buf(&oc, out, out_len) != RCPT_OK) {
		free(out);
		fail_job(p, j, "commit-failed: could not commit to the output");
		return;
	}
	memcpy(j->receipt.job, j->id, RCPT_HASH_BYTES);
	memcpy(j->receipt.kernel_hash, j->spec.kernel_hash, RCPT_HASH_BYTES);
	memcpy(j->receipt.input_root, j->spec.input_root, RCPT_HASH_BYTES);
	j->receipt.input_size = j->spec.input_size;
	memcpy(j->receipt.output_root, oc.root, RCPT_HASH_BYTES);
	j->receipt.output_size = oc.size;
	j->receipt.price = p->cfg.price;
	snprintf(j->receipt.device, sizeof(j->receipt.device), "%s", p->device);
	memcpy(j->receipt.provider, p->key.address, RCPT_ADDR_BYTES);
	if (rcpt_receipt_id(digest, &d, &p->domain, &j->receipt) != RCPT_OK ||
	    rcpt_sign_digest(j->receipt_sig, &p->key, digest) != RCPT_OK ||
	    prov_store_put(p, j, "output", out, out_len)) {
		free(out);
		fail_job(p, j, "sign-failed: could not sign or store the receipt");
		return;
	}
	free(out);
	pthread_mutex_lock(&p->mu);
	memcpy(j->receipt_id, digest, RCPT_HASH_BYTES);
	j->has_receipt = 1;
	j->corrupted = corrupted;
	if (corrupted)
		p->n_corrupted++;
	j->status = PROV_ST_SUBMITTING;
	j->escrow_synced = 0;
	prov_job_event(j, PROV_EV_RAN);
	if (prov_store_save(p, j))
		prov_log("store-failed", "what=meta");
	pthread_mutex_unlock(&p->mu);
	prov_log("job-ran", "job=%s kernel=%s ms=%llu output_bytes=%llu%s", sid, j->spec.kernel,
		 (unsigned long long)(j->receipt.finished_at_ms - j->receipt.started_at_ms),
		 (unsigned long long)oc.size, corrupted ? " fault=corrupt-output" : "");
	sub = submit_receipt(p, j);
	pthread_mutex_lock(&p->mu);
	if (sub > 0) {
		j->status = PROV_ST_RECEIPTED;
		j->escrow_synced = 1;
		p->n_receipted++;
		p->avg_run_ms = (p->avg_run_ms * 7 + (j->receipt.finished_at_ms -
						      j->receipt.started_at_ms)) / 8;
	} else if (sub < 0) {
		j->status = PROV_ST_FAILED;
		j->escrow_synced = 1;  /* the escrow refunds it at the deadline */
		j->done_s = (uint64_t)time(NULL);
		prov_store_shred(p, j);
		p->n_failed++;
	} else {
		backoff(j, (uint64_t)time(NULL));
	}
	if (prov_store_save(p, j))
		prov_log("store-failed", "what=meta");
	prov_jobs_gauges(p);
	pthread_mutex_unlock(&p->mu);
	prov_log(sub > 0 ? "job-receipted" : sub < 0 ? "job-receipt-refused" : "job-receipt-pending",
		 "job=%s", sid);
}

static void *worker_main(void *arg)
{
	struct prov *p = arg;
	struct prov_job *j;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stopping && p->queue_len == 0)
			pthread_cond_wait(&p->cv, &p->mu);
		if (p->stopping)
			break;
		j = p->queue[p->queue_head];
		p->queue_head = (p->queue_head + 1) % PROV_QUEUE_MAX;
		p->queue_len--;
		j->status = PROV_ST_RUNNING;
		j->started_ms = prov_now_ms();
		prov_job_event(j, PROV_EV_RUNNING);
		p->busy++;
		prov_jobs_gauges(p);
		pthread_mutex_unlock(&p->mu);
		run_job(p, j);
		pthread_mutex_lock(&p->mu);
		p->busy--;
		prov_jobs_gauges(p);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* ---------------------------------------------------------------- janitor */

enum chore { CH_NONE, CH_SUBMIT, CH_FAIL, CH_SETTLE, CH_EXPIRE, CH_REMOVE };

static enum chore chore_of(const struct prov *p, const struct prov_job *j, uint64_t now)
{
	switch (j->status) {
	case PROV_ST_SUBMITTING:
		return now >= j->escrow_next_try_s ? CH_SUBMIT : CH_NONE;
	case PROV_ST_FAILED:
		if (!j->escrow_synced)
			return now >= j->escrow_next_try_s ? CH_FAIL : CH_NONE;
		return now >= j->done_s + PROV_RECORD_KEEP_S ? CH_REMOVE : CH_NONE;
	case PROV_ST_RECEIPTED:
		return CH_SETTLE;
	case PROV_ST_AWAITING_INPUT:
		return now >= j->spec.deadline ? CH_EXPIRE : CH_NONE;
	case PROV_ST_SETTLED:
	case PROV_ST_DELETED:
		return now >= j->done_s + PROV_RECORD_KEEP_S ? CH_REMOVE : CH_NONE;
	default:
		(void)p;
		return CH_NONE;
	}
}

static void janitor_pass(struct prov *p)
{
	struct prov_job *todo[64];
	enum chore what[64];
	size_t n = 0;
	uint64_t now = (uint64_t)time(NULL);
	char state[32], sid[19];

	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->jobs_len && n < 64; i++) {
		enum chore c = chore_of(p, p->jobs[i], now);
		if (c == CH_NONE)
			continue;
		if (c == CH_REMOVE) {
			struct prov_job *j = p->jobs[i];
			prov_store_remove(p, j);
			OPENSSL_cleanse(j->key, sizeof(j->key));
			free(j);
			p->jobs[i--] = p->jobs[--p->jobs_len];
			continue;
		}
		if (c == CH_EXPIRE) {
			struct prov_job *j = p->jobs[i];
			snprintf(j->error, sizeof(j->error),
				 "deadline-passed: no input arrived before the deadline");
			j->status = PROV_ST_FAILED;
			j->escrow_synced = 1;   /* the escrow refunds at the deadline */
			j->done_s = now;
			prov_store_shred(p, j);
			if (prov_store_save(p, j))
				prov_log("store-failed", "what=meta");
			continue;
		}
		todo[n] = p->jobs[i];
		what[n++] = c;
	}
	prov_jobs_gauges(p);
	pthread_mutex_unlock(&p->mu);

	for (size_t i = 0; i < n; i++) {
		struct prov_job *j = todo[i];
		int r;
		prov_short_id(sid, j->id);
		switch (what[i]) {
		case CH_SUBMIT:
			r = submit_receipt(p, j);
			pthread_mutex_lock(&p->mu);
			if (r > 0) {
				j->status = PROV_ST_RECEIPTED;
				j->escrow_synced = 1;
				p->n_receipted++;
			} else if (r < 0) {
				j->status = PROV_ST_FAILED;
				j->escrow_synced = 1;
				j->done_s = now;
				prov_store_shred(p, j);
				p->n_failed++;
			} else {
				backoff(j, now);
			}
			if (r && prov_store_save(p, j))
				prov_log("store-failed", "what=meta");
			pthread_mutex_unlock(&p->mu);
			if (r)
				prov_log(r > 0 ? "job-receipted" : "job-receipt-refused", "job=%s", sid);
			break;
		case CH_FAIL:
			r = report_failure(p, j);
			pthread_mutex_lock(&p->mu);
			if (r) {
				j->escrow_synced = 1;
				if (prov_store_save(p, j))
					prov_log("store-failed", "what=meta");
			} else {
				backoff(j, now);
			}
			pthread_mutex_unlock(&p->mu);
			if (r)
				prov_log("job-refund-requested", "job=%s", sid);
			break;
		case CH_SETTLE:
			if (prov_escrow_job_state(p, j->id, state, sizeof(state)))
				break;
			/* Only a settlement deletes data: a job the escrow does
			 * not know (a restored database?) keeps it for the
			 * operator to look at. */
			if (strcmp(state, "paid") && strcmp(state, "refunded"))
				break;
			pthread_mutex_lock(&p->mu);
			if (j->status == PROV_ST_RECEIPTED) {
				j->status = PROV_ST_SETTLED;
				j->done_s = now;
				prov_store_shred(p, j);
				prov_job_event(j, PROV_EV_DELETED);
				if (prov_store_save(p, j))
					prov_log("store-failed", "what=meta");
			}
			pthread_mutex_unlock(&p->mu);
			prov_log("job-settled", "job=%s escrow_state=%s data=deleted", sid, state);
			break;
		default:
			break;
		}
	}
}

/* Posts one step to the escrow's audit log: 1 recorded (or already
 * there), 0 try again later. */
static int post_event(struct prov *p, const struct prov_job *j, enum prov_event ev, uint64_t at)
{
	char target[128], h[RCPT_HASH_HEX_BYTES], idem[64], ptype[96];
	json_t *body;
	long st;

	id_hex(h, j->id);
	snprintf(target, sizeof(target), "/v1/jobs/%s/events", h);
	snprintf(idem, sizeof(idem), "ev.%s.%.48s", event_names[ev], h + 2);
	body = json_pack("{s:s, s:I}", "event", event_names[ev], "at", (json_int_t)at);
	if (!body)
		return 0;
	st = escrow_post(p, target, body, idem, ptype, sizeof(ptype));
	json_decref(body);
	/* 409: already recorded.  4xx but 408/429: the escrow will not take
	 * it (an unknown job): give up rather than retry forever. */
	return st == 200 || (st >= 400 && st < 500 && st != 408 && st != 429);
}

/* Sends the steps that are due, a bounded number per pass. */
static void events_pass(struct prov *p)
{
	struct { struct prov_job *j; enum prov_event ev; uint64_t at; } todo[64];
	size_t n = 0;

	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->jobs_len && n < 64; i++) {
		struct prov_job *j = p->jobs[i];
		for (unsigned ev = 0; ev < PROV_EV_COUNT_ && n < 64; ev++)
			if (j->events_due & (1u << ev)) {
				todo[n].j = j;
				todo[n].ev = (enum prov_event)ev;
				todo[n++].at = j->event_ms[ev];
			}
	}
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < n; i++) {
		if (!post_event(p, todo[i].j, todo[i].ev, todo[i].at))
			continue;
		pthread_mutex_lock(&p->mu);
		todo[i].j->events_due &= ~(1u << todo[i].ev);
		todo[i].j->events_sent |= 1u << todo[i].ev;
		pthread_mutex_unlock(&p->mu);
	}
}

static void *janitor_main(void *arg)
{
	struct prov *p = arg;
	struct timespec until;

	pthread_mutex_lock(&p->mu);
	while (!p->stopping) {
		pthread_mutex_unlock(&p->mu);
		janitor_pass(p);
		events_pass(p);
		pthread_mutex_lock(&p->mu);
		until = mono_deadline(p->cfg.janitor_period_s * 1000u);
		while (!p->stopping &&
		       pthread_cond_timedwait(&p->janitor_cv, &p->mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int prov_sandbox_check(struct prov *p)
{
	struct sbx_report rep;
	char names[128];
	unsigned missing = 0;

	if (sbx_probe(&missing, &rep, p->scratch_dir)) {
		fprintf(stderr, "assay-provider: sandbox probe failed: %s\n", rep.msg);
		return -1;
	}
	sbx_layers_format(names, sizeof(names), missing);
	prov_log("sandbox", "mode=%s missing=\"%s\"",
		 p->cfg.sandbox_mode == SBX_STRICT ? "strict" : "best-effort", names);
	if (missing && p->cfg.sandbox_mode == SBX_STRICT) {
		fprintf(stderr, "assay-provider: --sandbox strict: this kernel refuses: %s\n", names);
		return -1;
	}
	p->sbx_missing = missing;
	return 0;
}

void prov_sandbox_note(struct prov *p, unsigned missing, enum sbx_err we)
{
	char names[128];
	int changed;

	/* No worker ran, or it died before it could say. */
	if (we == SBX_ERR_ARG || we == SBX_ERR_SETUP || missing == SBX_LAYERS_ALL)
		return;
	pthread_mutex_lock(&p->mu);
	changed = missing != p->sbx_missing;
	p->sbx_missing = missing;
	if (changed)
		prov_jobs_gauges(p);
	pthread_mutex_unlock(&p->mu);
	if (changed) {
		sbx_layers_format(names, sizeof(names), missing);
		prov_log("sandbox-changed", "missing=\"%s\"", names);
	}
}

int prov_jobs_start(struct prov *p)
{
	uint64_t now = (uint64_t)time(NULL);

	if (p->cfg.fault_seed)
		p->fault_state = p->cfg.fault_seed;
	else if (getrandom(&p->fault_state, sizeof(p->fault_state), 0) != sizeof(p->fault_state))
		return -1;
	/* A restart: queued and running jobs run again (the kernels are
	 * deterministic, so the output is the one they would have had). */
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->jobs_len; i++) {
		struct prov_job *j = p->jobs[i];
		if (j->status == PROV_ST_QUEUED || j->status == PROV_ST_RUNNING) {
			j->has_receipt = 0;
			if (!j->has_key || p->queue_len >= PROV_QUEUE_MAX ||
			    now >= j->spec.deadline) {
				snprintf(j->error, sizeof(j->error),
					 "restart: the job could not be resumed");
				j->status = PROV_ST_FAILED;
				j->escrow_synced = 0;
				j->done_s = now;
				prov_store_shred(p, j);
				if (prov_store_save(p, j))
					prov_log("store-failed", "what=meta");
				continue;
			}
			p->queue[(p->queue_head + p->queue_len) % PROV_QUEUE_MAX] = j;
			p->queue_len++;
			j->status = PROV_ST_QUEUED;
		}
	}
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->cfg.workers; i++) {
		if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0)
			goto fail;
		p->threads_len++;
	}
	if (pthread_create(&p->janitor, NULL, janitor_main, p) != 0)
		goto fail;
	p->janitor_started = 1;
	return 0;
fail:
	prov_jobs_stop(p);
	return -1;
}

void prov_jobs_stop(struct prov *p)
{
	pthread_mutex_lock(&p->mu);
	p->stopping = 1;
	pthread_cond_broadcast(&p->cv);
	pthread_cond_broadcast(&p->janitor_cv);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->threads_len; i++)
		pthread_join(p->threads[i], NULL);
	p->threads_len = 0;
	if (p->janitor_started)
		pthread_join(p->janitor, NULL);
	p->janitor_started = 0;
}
