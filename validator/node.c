/*
 * node.c: the validator node.  One poller thread follows the escrow's
 * receipted jobs and decides by the sampling rule which to check; a
 * bounded queue hands sampled jobs to a few worker threads that fetch
 * the job's bytes from its provider, re-execute it in the job sandbox
 * (sandbox/sandbox.h) under a CPU budget, and attest.
 *
 * Invariants:
 * - nothing is signed but through valid_record_sign (the signing record
 *   is on disk before a signature leaves); a recorded statement is the
 *   only one ever sent for its receipt;
 * - every wait is bounded: queue length, workers, CPU seconds per
 *   minute, fetch attempts and their timeouts, answer sizes;
 * - logs are one line each, name jobs by id, and never carry the key,
 *   the seed, a token or job data.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "httpd.h"
#include "httpd_client.h"
#include "kernels.h"
#include "model_cache.h"
#include "sandbox.h"
#include "validator.h"

#include "monotonic.h"
#include "banned.h"

struct task {
	uint8_t job_id[RCPT_HASH_BYTES];
	uint8_t receipt_id[RCPT_HASH_BYTES];
	char job_hex[RCPT_HASH_HEX_BYTES];
	struct rcpt_job job;
	struct rcpt_receipt receipt;
};

/* Receipt ids already decided: two generations of open-addressing sets;
 * when the current one is half full the older one is dropped. */
#define SEEN_GEN (VALID_SEEN_MAX / 2u)
#define SEEN_SLOTS (2u * SEEN_GEN)
struct seen_set {
	uint8_t (*slot)[RCPT_HASH_BYTES];
	size_t used;
};

struct slot_state {
	int active;                 /* a job is being checked (fetch to send) */
	uint8_t receipt[RCPT_HASH_BYTES];
	int busy;                   /* its re-execution is running */
	char job_hex[RCPT_HASH_HEX_BYTES];
	uint64_t since_ms;
	uint64_t logged_ms;
};

struct valid_node;
struct worker_arg {
	struct valid_node *n;
	unsigned slot;
};

struct valid_node {
	char escrow_url[HTTPD_CLIENT_URL_BYTES_MAX + 1];
	char state_dir[VALID_PATH_BYTES];
	char scratch[VALID_PATH_BYTES];
	unsigned queue_max, workers, cpu_s_per_min, job_cpu_s, job_threads, poll_ms;
	enum sbx_mode sandbox_mode;
	const char *device_flag;   /* --device, resolved at start (sandbox_check) */
	unsigned sbx_missing;      /* enum sbx_layer bits re-executions go without (mu) */
	unsigned fetch_tries, fetch_timeout_ms, fetch_backoff_ms;
	int lie;
	int lazy_set;              /* --lazy-bps (tests): check_bps below sample_bps */
	unsigned lazy_bps;

	struct rcpt_key key;
	char addr_hex[RCPT_ADDR_HEX_BYTES];
	struct rcpt_domain domain;
	unsigned sample_bps;
	unsigned check_bps;         /* what the poller checks: sample_bps, or --lazy-bps */
	uint8_t seed[VALID_SEED_BYTES];
	uint8_t commitment[RCPT_HASH_BYTES];
	uint64_t committed_at_s;
	uint64_t cursor_s;          /* newest receiptedAt decided (poller only) */

	struct httpd *httpd;
	pthread_t poller;
	pthread_t worker[VALID_WORKERS_MAX];
	struct worker_arg wargs[VALID_WORKERS_MAX];
	unsigned started_workers;
	int poller_started;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stopping;
	struct task *queue;
	size_t qhead, qlen;
	struct seen_set seen[2];
	int seen_cur;
	int64_t budget_ms;
	uint64_t budget_at_ms;
	struct slot_state slots[VALID_WORKERS_MAX];
	struct valid_stats st;
	int escrow_ok;              /* the last poll of the escrow got an answer */
};

/* ---------------------------------------------------------------- small helpers */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void vlog(const char *event, const char *fmt, ...) HTTPD_PRINTF(2, 3);
static void vlog(const char *event, const char *fmt, ...)
{
	char line[768];
	va_list ap;
	int n = snprintf(line, sizeof(line), "assay-validator: event=%s ", event);

	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}

static void why_set(char *why, size_t len, const char *fmt, ...) HTTPD_PRINTF(3, 4);
static void why_set(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

static void idem_of(char out[48], const char *prefix, const void *data, size_t len)
{
	uint8_t h[RCPT_HASH_BYTES];
	char hex[RCPT_HASH_HEX_BYTES];

	if (rcpt_sha256(h, data, len) != RCPT_OK)
		memset(h, 0, sizeof(h));
	if (rcpt_hex_encode(hex, sizeof(hex), h, 20) != RCPT_OK)
		hex[2] = '\0';
	snprintf(out, 48, "%.6s-%.40s", prefix, hex + 2);
}

/* One request; `key` non-NULL signs it. */
static enum valid_err call(struct httpd_client_resp *resp, char *why, size_t why_len,
			   const char *method, const char *base, const char *target,
			   const char *body, const struct rcpt_key *key, const char *idem,
			   uint64_t max, long timeout_ms)
{
	struct httpd_client_req q;
	enum httpd_err he;

	memset(&q, 0, sizeof(q));
	q.method = method;
	q.base_url = base;
	q.target = target;
	q.body = body;
	q.body_len = body ? strlen(body) : 0;
	q.key = key;
	q.idem_key = idem;
	q.response_bytes_max = max;
	q.timeout_ms = timeout_ms;
	he = httpd_client_request(resp, why, why_len, &q);
	if (he == HTTPD_ERR_NOMEM)
		return VALID_ERR_NOMEM;
	if (he == HTTPD_ERR_ARG)
		return VALID_ERR_ARG;
	if (he)
		return VALID_ERR_UNREACHABLE;
	return VALID_OK;
}

static const char *jstr(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---------------------------------------------------------------- seen set */

static int seen_has_in(const struct seen_set *s, const uint8_t id[RCPT_HASH_BYTES])
{
	size_t i, h = 0;
	unsigned k;

	for (k = 0; k < 8; k++)
		h = (h << 8) | id[k];
	for (i = 0; i < SEEN_SLOTS; i++) {
		const uint8_t *sl = s->slot[(h + i) % SEEN_SLOTS];
		static const uint8_t zero[RCPT_HASH_BYTES];
		if (memcmp(sl, zero, RCPT_HASH_BYTES) == 0)
			return 0;
		if (memcmp(sl, id, RCPT_HASH_BYTES) == 0)
			return 1;
	}
	return 0;
}

static int seen_has(const struct valid_node *n, const uint8_t id[RCPT_HASH_BYTES])
{
	return seen_has_in(&n->seen[0], id) || seen_has_in(&n->seen[1], id);
}

static void seen_add(struct valid_node *n, const uint8_t id[RCPT_HASH_BYTES])
{
	static const uint8_t zero[RCPT_HASH_BYTES];
	struct seen_set *s = &n->seen[n->seen_cur];
	size_t i, h = 0;
	unsigned k;

	if (memcmp(id, zero, RCPT_HASH_BYTES) == 0 || seen_has(n, id))
		return;
	if (s->used >= SEEN_GEN) {
		/* Forget the older generation: bounded memory. */
		n->seen_cur ^= 1;
		s = &n->seen[n->seen_cur];
		memset(s->slot, 0, SEEN_SLOTS * RCPT_HASH_BYTES);
		s->used = 0;
	}
	for (k = 0; k < 8; k++)
		h = (h << 8) | id[k];
	for (i = 0; i < SEEN_SLOTS; i++) {
		uint8_t *sl = s->slot[(h + i) % SEEN_SLOTS];
		if (memcmp(sl, zero, RCPT_HASH_BYTES) == 0) {
			memcpy(sl, id, RCPT_HASH_BYTES);
			s->used++;
			return;
		}
	}
	assert(0 && "seen set full below half load");
}

/* ---------------------------------------------------------------- escrow calls */

/* Sends a recorded attestation (with the extras when given); marks it
 * sent when the escrow has answered for good.  Returns VALID_OK when
 * answered for good, VALID_ERR_UNREACHABLE when it should be resent. */
static enum valid_err send_record(struct valid_node *n, const struct valid_record *rec,
				  const uint8_t *input, size_t input_len,
				  const struct valid_evidence *ev)
{
	char *body = NULL, idem[48], t[128], jh[RCPT_HASH_HEX_BYTES], why[256] = "";
	enum valid_err rc;
	unsigned i;

	assert(n && rec);
	assert(rec->att.verdict == RCPT_VERDICT_MATCH || rec->att.verdict == RCPT_VERDICT_DIFFERS);

	if (rcpt_hex_encode(jh, sizeof(jh), rec->job, RCPT_HASH_BYTES) != RCPT_OK)
		return VALID_ERR_ARG;
	rc = valid_attest_body(&body, &rec->att, rec->sig, input, input_len, ev);
	if (rc)
		return rc;
	idem_of(idem, "att", body, strlen(body));
	snprintf(t, sizeof(t), "/v1/jobs/%s/attestations", jh);
	rc = VALID_ERR_UNREACHABLE;
	for (i = 0; i < VALID_SEND_TRIES; i++) {
		struct httpd_client_resp resp;
		enum valid_err cr = call(&resp, why, sizeof(why), "POST", n->escrow_url, t, body,
					 NULL, idem, 0, 0);
		if (cr == VALID_OK) {
			long s = resp.status;
			if (s >= 200 && s < 300) {
				vlog("attested", "job=%s verdict=%u status=%ld", jh,
				     (unsigned)rec->att.verdict, s);
				rc = VALID_OK;
			} else if (s >= 400 && s < 500 && s != 429) {
				vlog("attestation-refused", "job=%s verdict=%u status=%ld type=%s", jh,
				     (unsigned)rec->att.verdict, s, resp.problem_type);
				rc = VALID_OK;   /* final: resending cannot change it */
			}
			httpd_client_resp_free(&resp);
			if (rc == VALID_OK)
				break;
		} else {
			vlog("escrow-unreachable", "job=%s why=\"%s\"", jh, why);
		}
	}
	free(body);
	if (rc == VALID_OK && valid_record_mark_sent(n->state_dir, rec->att.receipt) != VALID_OK)
		vlog("record-mark-failed", "job=%s", jh);
	return rc;
}

/* A worker is checking this receipt right now. */
static int in_flight(struct valid_node *n, const uint8_t receipt[RCPT_HASH_BYTES])
{
	unsigned i;
	int hit = 0;

	pthread_mutex_lock(&n->mu);
	for (i = 0; i < n->workers && !hit; i++)
		hit = n->slots[i].active &&
		      memcmp(n->slots[i].receipt, receipt, RCPT_HASH_BYTES) == 0;
	pthread_mutex_unlock(&n->mu);
	return hit;
}

static void resend_pending(struct valid_node *n)
{
	uint8_t (*ids)[RCPT_HASH_BYTES] = calloc(VALID_RESEND_PER_POLL, RCPT_HASH_BYTES);
	size_t cnt = 0, i;

	if (!ids)
		return;
	if (valid_record_pending(ids, &cnt, VALID_RESEND_PER_POLL, n->state_dir) == VALID_OK) {
		for (i = 0; i < cnt; i++) {
			struct valid_record rec;
			struct rcpt_diag d = { "" };
			/* A record of a worker still sending is picked up too: the
			 * escrow answers the same statement the same way. */
			if (valid_record_get(&rec, &d, n->state_dir, ids[i]) != VALID_OK) {
				vlog("record-unreadable", "why=\"%s\"", d.msg);
				continue;
			}
			if (memcmp(rec.att.validator, n->key.address, RCPT_ADDR_BYTES) != 0)
				continue;   /* another key's record: not ours to send */
			if (in_flight(n, ids[i]))
				continue;   /* its worker sends it, with input and evidence */
			if (send_record(n, &rec, NULL, 0, NULL) == VALID_OK) {
				pthread_mutex_lock(&n->mu);
				n->st.resent++;
				pthread_mutex_unlock(&n->mu);
			}
		}
	}
	free(ids);
}

static void report_withheld(struct valid_node *n, const struct task *t, const char *reason)
{
	char body[VALID_REASON_BYTES_MAX + 32], idem[48], target[128], why[256] = "";
	struct httpd_client_resp resp;
	json_t *o = json_pack("{s:s}", "reason", reason);
	char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!b || strlen(b) >= sizeof(body)) {
		free(b);
		return;
	}
	snprintf(body, sizeof(body), "%s", b);
	free(b);
	idem_of(idem, "wh", t->receipt_id, RCPT_HASH_BYTES);
	snprintf(target, sizeof(target), "/v1/jobs/%s/withheld", t->job_hex);
	if (call(&resp, why, sizeof(why), "POST", n->escrow_url, target, body, &n->key, idem,
		 0, 0) != VALID_OK) {
		vlog("withheld-report-failed", "job=%s why=\"%s\"", t->job_hex, why);
		return;
	}
	vlog("withheld-reported", "job=%s status=%ld type=%s", t->job_hex, resp.status,
	     resp.problem_type);
	if (resp.status >= 200 && resp.status < 300) {
		pthread_mutex_lock(&n->mu);
		n->st.withheld++;
		pthread_mutex_unlock(&n->mu);
	}
	httpd_client_resp_free(&resp);
}

/* ---------------------------------------------------------------- fetching */

static int stopping(struct valid_node *n)
{
	int s;

	pthread_mutex_lock(&n->mu);
	s = n->stopping;
	pthread_mutex_unlock(&n->mu);
	return s;
}

/* Sleeps ms unless the node stops first; 1 when stopping. */
static int pause_ms(struct valid_node *n, unsigned ms)
{
	struct timespec until = mono_deadline(ms);
	int s;

	pthread_mutex_lock(&n->mu);
	while (!n->stopping &&
	       pthread_cond_timedwait(&n->cv, &n->mu, &until) != ETIMEDOUT)
		;
	s = n->stopping;
	pthread_mutex_unlock(&n->mu);
	return s;
}

static int url_ok(const char *u)
{
	size_t l = strlen(u), i;

	if (l > 256 || (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) ||
	    u[l - 1] == '/')
		return 0;
	for (i = 0; i < l; i++)
		if (u[i] <= ' ' || u[i] >= 0x7f || u[i] == '?' || u[i] == '#' || u[i] == '@')
			return 0;
	return 1;
}

/* The provider's base URL from the escrow.  VALID_ERR_NOT_FOUND when
 * none is registered (404, or 200 without "url": an address the escrow
 * knows only from its approved registry). */
static enum valid_err provider_url(struct valid_node *n, char out[HTTPD_CLIENT_URL_BYTES_MAX],
				   const struct task *t, char *why, size_t why_len)
{
	char a[RCPT_ADDR_HEX_BYTES], target[96];
	struct httpd_client_resp resp;
	enum valid_err rc;
	const char *u;

	rcpt_address_format(a, t->job.provider);
	snprintf(target, sizeof(target), "/v1/providers/%s", a);
	rc = call(&resp, why, why_len, "GET", n->escrow_url, target, NULL, NULL, NULL, 0,
		  (long)n->fetch_timeout_ms);
	if (rc)
		return rc;
	if (resp.status == 404 ||
	    (resp.status == 200 && json_is_object(resp.json) && !json_object_get(resp.json, "url"))) {
		rc = VALID_ERR_NOT_FOUND;
		why_set(why, why_len, "provider %s not registered", a);
	} else if (resp.status != 200 || !(u = httpd_client_str(&resp, "url")) || !url_ok(u) ||
		   strlen(u) >= HTTPD_CLIENT_URL_BYTES_MAX) {
		rc = VALID_ERR_PEER;
		why_set(why, why_len, "escrow gave no usable url for provider %s (status %ld)", a,
			resp.status);
	} else {
		snprintf(out, HTTPD_CLIENT_URL_BYTES_MAX, "%s", u);
	}
	httpd_client_resp_free(&resp);
	return rc;
}

enum what { WHAT_INPUT, WHAT_OUTPUT };

/* Fetches the job's input or output from its provider with bounded
 * retries, accepting only bytes that match the commitment.  On VALID_OK
 * *out (malloc'd) holds them. */
static enum valid_err fetch_bytes(struct valid_node *n, uint8_t **out, size_t *out_len,
				  const struct task *t, enum what what, char *why, size_t why_len)
{
	char base[HTTPD_CLIENT_URL_BYTES_MAX] = "", target[160];
	uint64_t want = what == WHAT_INPUT ? t->job.input_size : t->receipt.output_size;
	uint64_t cap = what == WHAT_INPUT ? VALID_INPUT_BYTES_MAX : VALID_OUTPUT_BYTES_MAX;
	enum valid_err rc = VALID_ERR_UNREACHABLE;
	unsigned i;

	assert(n && out && out_len && t);
	assert(n->fetch_tries >= 1 && n->fetch_tries <= VALID_FETCH_TRIES_MAX);

	*out = NULL;
	*out_len = 0;
	if (want > cap) {
		why_set(why, why_len, "%s of %" PRIu64 " bytes is over the limit",
			what == WHAT_INPUT ? "input" : "output", want);
		return VALID_ERR_PEER;
	}
	snprintf(target, sizeof(target), "/v1/jobs/%s/%s", t->job_hex,
		 what == WHAT_INPUT ? "input" : "output");
	for (i = 0; i < n->fetch_tries; i++) {
		struct httpd_client_resp resp;
		if (i > 0 && pause_ms(n, n->fetch_backoff_ms))
			return VALID_ERR_UNREACHABLE;
		if (!base[0]) {
			rc = provider_url(n, base, t, why, why_len);
			if (rc) {
				base[0] = '\0';
				continue;
			}
		}
		/* The answer may be no larger than the commitment says. */
		rc = call(&resp, why, why_len, "GET", base, target, NULL, &n->key, NULL,
			  want ? want : 1, (long)n->fetch_timeout_ms);
		if (rc) {
			vlog("fetch-failed", "job=%s what=%s try=%u why=\"%s\"", t->job_hex,
			     what == WHAT_INPUT ? "input" : "output", i + 1, why);
			continue;
		}
		if (resp.status != 200) {
			why_set(why, why_len, "provider answered %ld %s", resp.status, resp.problem_type);
			rc = VALID_ERR_PEER;
		} else {
			rc = what == WHAT_INPUT ? valid_check_input(&t->job, resp.body, resp.len)
						: valid_check_output(&t->receipt, resp.body, resp.len);
			if (rc)
				why_set(why, why_len, "provider sent %zu bytes that do not match the %s",
					resp.len, what == WHAT_INPUT ? "job's inputRoot" : "receipt's outputRoot");
		}
		if (rc == VALID_OK) {
			*out = (uint8_t *)resp.body;
			*out_len = resp.len;
			resp.body = NULL;
			resp.len = 0;
			httpd_client_resp_free(&resp);
			return VALID_OK;
		}
		vlog("fetch-refused", "job=%s what=%s try=%u why=\"%s\"", t->job_hex,
		     what == WHAT_INPUT ? "input" : "output", i + 1, why);
		httpd_client_resp_free(&resp);
	}
	return rc;
}

_Static_assert(MODEL_CACHE_BYTES_MAX == KERN_MODEL_BYTES_MAX,
	       "the model cache and the kernels disagree on a model's size bound");

/* A model kernel's model, from the job's provider into
 * STATE/models (model_cache.h), with the fetch's retries; path[0] is
 * '\0' for a kernel that takes none.  VALID_ERR_PEER when the job's
 * params name no valid model or the provider never serves it. */
static enum valid_err fetch_model(struct valid_node *n, char path[VALID_PATH_BYTES],
				  const struct task *t, char *why, size_t why_len)
{
	char base[HTTPD_CLIENT_URL_BYTES_MAX] = "", dir[VALID_PATH_BYTES + 8];
	uint8_t root[KERN_HASH_BYTES];
	uint64_t size = 0;
	int has = 0;
	struct kern_diag d = { "" };
	enum valid_err rc = VALID_ERR_PEER;

	path[0] = '\0';
	if (kern_params_model(&has, root, &size, &d, t->job.kernel, t->job.params,
			      strlen(t->job.params)) != KERN_OK) {
		why_set(why, why_len, "%s", d.msg);
		return VALID_ERR_PEER;
	}
	if (!has)
		return VALID_OK;
	snprintf(dir, sizeof(dir), "%s/models", n->state_dir);
	for (unsigned i = 0; i < n->fetch_tries; i++) {
		if (i > 0 && pause_ms(n, n->fetch_backoff_ms))
			return VALID_ERR_UNREACHABLE;
		if (!base[0] && provider_url(n, base, t, why, why_len)) {
			base[0] = '\0';
			continue;
		}
		switch (model_cache_get(path, VALID_PATH_BYTES, why, why_len, dir, base, root, size,
					(long)n->fetch_timeout_ms)) {
		case MODEL_CACHE_OK: return VALID_OK;
		case MODEL_CACHE_ERR_PEER: rc = VALID_ERR_PEER; break;
		default: path[0] = '\0'; return VALID_ERR_IO;
		}
		vlog("fetch-failed", "job=%s what=model try=%u why=\"%s\"", t->job_hex, i + 1, why);
	}
	path[0] = '\0';
	return rc;
}

/* ---------------------------------------------------------------- CPU budget */

static void budget_refill(struct valid_node *n)
{
	uint64_t now = now_ms(), cap = (uint64_t)n->cpu_s_per_min * 1000u;
	uint64_t add = (now - n->budget_at_ms) * n->cpu_s_per_min / 60u;

	n->budget_at_ms = now;
	if (n->budget_ms + (int64_t)add > (int64_t)cap)
		n->budget_ms = (int64_t)cap;
	else
		n->budget_ms += (int64_t)add;
}

/* Waits until the budget is positive; 1 when the node stops first. */
static int budget_wait(struct valid_node *n)
{
	for (;;) {
		int ok;
		pthread_mutex_lock(&n->mu);
		budget_refill(n);
		ok = n->budget_ms > 0;
		pthread_mutex_unlock(&n->mu);
		if (ok)
			return 0;
		if (pause_ms(n, 200))
			return 1;
	}
}

static void budget_charge(struct valid_node *n, uint64_t ms)
{
	pthread_mutex_lock(&n->mu);
	budget_refill(n);
	n->budget_ms -= (int64_t)ms;
	n->st.cpu_ms += ms;
	pthread_mutex_unlock(&n->mu);
}

/* ---------------------------------------------------------------- one job */

/* After a re-execution: the layers its worker went without; a change is
 * logged (and shown on /metrics at the next scrape). */
static void sandbox_note(struct valid_node *n, unsigned missing, enum sbx_err we)
{
	char names[128];
	int changed;

	if (we == SBX_ERR_ARG || we == SBX_ERR_SETUP || missing == SBX_LAYERS_ALL)
		return;
	pthread_mutex_lock(&n->mu);
	changed = missing != n->sbx_missing;
	n->sbx_missing = missing;
	pthread_mutex_unlock(&n->mu);
	if (changed) {
		sbx_layers_format(names, sizeof(names), missing);
		vlog("sandbox-changed", "missing=\"%s\"", names);
	}
}

/* Start-up: the layers this machine grants a worker (sbx_probe), in the
 * log; under --sandbox strict any refused one stops the start. */
static enum valid_err sandbox_check(struct valid_node *n, char *why, size_t why_len)
{
	struct sbx_report rep;
	char names[128], device[KERN_DEVICE_BYTES];
	unsigned missing = 0;

	if (sbx_device_select(device, why, why_len, n->device_flag))
		return VALID_ERR_ARG;
	vlog("device", "device=%s%s%s", device, why[0] ? " note=" : "", why);
	why[0] = '\0';
	if (sbx_probe(&missing, &rep, n->scratch)) {
		why_set(why, why_len, "sandbox probe failed: %s", rep.msg);
		return VALID_ERR_STATE;
	}
	sbx_layers_format(names, sizeof(names), missing);
	vlog("sandbox", "mode=%s missing=\"%s\"",
	     n->sandbox_mode == SBX_STRICT ? "strict" : "best-effort", names);
	if (missing && n->sandbox_mode == SBX_STRICT) {
		why_set(why, why_len, "--sandbox strict: this kernel refuses: %s", names);
		return VALID_ERR_REFUSED;
	}
	n->sbx_missing = missing;
	return VALID_OK;
}

static void count(struct valid_node *n, uint64_t *c)
{
	pthread_mutex_lock(&n->mu);
	(*c)++;
	pthread_mutex_unlock(&n->mu);
}

/* The job's input and (a model kernel's) model: 0; -1 when the check
 * cannot go on (withholding reported where it is the provider's). */
static int gather(struct valid_node *n, const struct task *t, uint8_t **input,
		  size_t *input_len, char model[VALID_PATH_BYTES])
{
	char why[256] = "";
	enum valid_err rc = fetch_bytes(n, input, input_len, t, WHAT_INPUT, why, sizeof(why));

	if (rc == VALID_OK)
		rc = fetch_model(n, model, t, why, sizeof(why));
	if (rc == VALID_ERR_IO) {
		vlog("model-cache-failed", "job=%s why=\"%s\"", t->job_hex, why);
		count(n, &n->st.failed);
		return -1;
	}
	if (rc) {
		if (!stopping(n)) {
			char reason[VALID_REASON_BYTES_MAX];
			snprintf(reason, sizeof(reason), "%s not served after %u tries",
				 *input ? "model" : "input", n->fetch_tries);
			vlog("input-withheld", "job=%s why=\"%s\"", t->job_hex, why);
			report_withheld(n, t, reason);
		}
		return -1;
	}
	return 0;
}

/* The sandbox job of a check (the caller adds the key to wipe). */
static void job_of(struct sbx_job *wj, struct sbx_limits *lim, const struct valid_node *n,
		   const struct task *t, const uint8_t *input, size_t input_len,
		   const char *model)
{
	memset(lim, 0, sizeof(*lim));
	lim->cpu_s = n->job_cpu_s;
	lim->threads = n->job_threads;
	/* out_bytes_max stays the default: a wrong receipt's outputSize
	 * must not cut our run short. */
	memset(wj, 0, sizeof(*wj));
	wj->kernel = t->job.kernel;
	wj->params = t->job.params;
	wj->params_len = strlen(t->job.params);
	wj->in = input;
	wj->in_len = input_len;
	wj->scratch_base = n->scratch;
	wj->mode = n->sandbox_mode;
	wj->limits = lim;
	wj->model_path = model[0] ? model : NULL;
}

static void process(struct valid_node *n, struct task *t, unsigned slot)
{
	char why[256] = "", model[VALID_PATH_BYTES] = "";
	uint8_t *input = NULL, *mine = NULL, *theirs = NULL, root[RCPT_HASH_BYTES], verdict;
	size_t input_len = 0, mine_len = 0, theirs_len = 0;
	struct sbx_limits lim;
	struct sbx_job wj;
	struct sbx_report rep;
	const struct sbx_wipe wipe = { &n->key, sizeof(n->key) };  /* the worker's copy */
	struct rcpt_commitment c;
	struct valid_record rec;
	struct valid_evidence ev, *evp = NULL;
	struct rcpt_diag d = { "" };
	enum sbx_err we;
	enum valid_err rc;
	int match;

	assert(n && t && slot < n->workers);
	assert(memcmp(t->receipt.job, t->job_id, RCPT_HASH_BYTES) == 0);

	vlog("check-start", "job=%s kernel=%s", t->job_hex, t->job.kernel);
	if (gather(n, t, &input, &input_len, model) || budget_wait(n))
		goto out;
	job_of(&wj, &lim, n, t, input, input_len, model);
	wj.wipe = &wipe;
	wj.wipe_len = 1;
	pthread_mutex_lock(&n->mu);
	n->slots[slot].busy = 1;
	n->slots[slot].since_ms = n->slots[slot].logged_ms = now_ms();
	memcpy(n->slots[slot].job_hex, t->job_hex, sizeof(t->job_hex));
	n->st.running++;
	pthread_mutex_unlock(&n->mu);
	we = sbx_run(&mine, &mine_len, &rep, &wj);
	pthread_mutex_lock(&n->mu);
	n->slots[slot].busy = 0;
	n->st.running--;
	pthread_mutex_unlock(&n->mu);
	budget_charge(n, rep.wall_ms);
	sandbox_note(n, rep.missing, we);
	vlog("reexecuted", "job=%s result=%s wall_ms=%" PRIu64, t->job_hex,
	     sbx_errname(we), rep.wall_ms);
	if (we == SBX_OK) {
		if (rcpt_commit_buf(&c, mine, mine_len) != RCPT_OK) {
			count(n, &n->st.failed);
			goto out;
		}
		match = c.size == t->receipt.output_size &&
			memcmp(c.root, t->receipt.output_root, RCPT_HASH_BYTES) == 0;
		memcpy(root, c.root, RCPT_HASH_BYTES);
	} else if (we == SBX_ERR_KERNEL) {
		/* The kernel refuses the committed input: no output can be
		 * right, the referee decides the same way.  Name the empty
		 * string's root as ours. */
		if (rcpt_commit_buf(&c, NULL, 0) != RCPT_OK) {
			count(n, &n->st.failed);
			goto out;
		}
		memcpy(root, c.root, RCPT_HASH_BYTES);
		match = 0;
		if (memcmp(root, t->receipt.output_root, RCPT_HASH_BYTES) == 0) {
			count(n, &n->st.failed);
			goto out;
		}
	} else {
		/* Our own trouble (memory, time, sandbox): no statement. */
		vlog("check-failed", "job=%s why=\"%s\"", t->job_hex, rep.msg);
		count(n, &n->st.failed);
		goto out;
	}
	if (!match && memcmp(root, t->receipt.output_root, RCPT_HASH_BYTES) == 0) {
		/* The receipt names our root with another size: an
		 * Attestation cannot say so (verdict 2 needs another root),
		 * so no statement; counted and logged for the operator. */
		vlog("check-failed", "job=%s why=\"receipt outputSize differs, outputRoot equal\"",
		     t->job_hex);
		count(n, &n->st.failed);
		goto out;
	}
	verdict = match ? RCPT_VERDICT_MATCH : RCPT_VERDICT_DIFFERS;
	if (n->lie) {
		/* TEST ONLY (chain 31337): the opposite verdict, consistent
		 * with the escrow's rule on output roots. */
		verdict = match ? RCPT_VERDICT_DIFFERS : RCPT_VERDICT_MATCH;
		if (match)
			root[0] ^= 0x01;
		else
			memcpy(root, t->receipt.output_root, RCPT_HASH_BYTES);
		vlog("lying", "job=%s verdict=%u", t->job_hex, (unsigned)verdict);
	} else if (!match && mine) {
		/* Evidence: the provider's output, if it serves one that
		 * matches its receipt. */
		if (fetch_bytes(n, &theirs, &theirs_len, t, WHAT_OUTPUT, why, sizeof(why)) == VALID_OK &&
		    valid_evidence_find(&ev, theirs, theirs_len, mine, mine_len) == VALID_OK)
			evp = &ev;
		else
			vlog("no-evidence", "job=%s why=\"%s\"", t->job_hex, why);
	}
	/* Verdict and root agree, as the escrow requires (lies included). */
	assert((verdict == RCPT_VERDICT_MATCH) ==
	       (memcmp(root, t->receipt.output_root, RCPT_HASH_BYTES) == 0));
	rc = valid_record_sign(&rec, &d, n->state_dir, &n->key, &n->domain, t->job_id,
			       t->receipt_id, root, verdict);
	if (rc == VALID_ERR_RECORD_CONFLICT) {
		/* Never a second verdict: the recorded one is resent. */
		vlog("verdict-conflict", "job=%s why=\"%s\"", t->job_hex, d.msg);
		evp = NULL;
	} else if (rc) {
		vlog("record-failed", "job=%s why=\"%s\"", t->job_hex, d.msg);
		count(n, &n->st.failed);
		goto out;
	}
	if (rec.sent)
		goto out;
	if (send_record(n, &rec, rec.att.verdict == RCPT_VERDICT_DIFFERS ? input : NULL,
			rec.att.verdict == RCPT_VERDICT_DIFFERS ? input_len : 0, evp) == VALID_OK)
		count(n, rec.att.verdict == RCPT_VERDICT_MATCH ? &n->st.attested_match
							       : &n->st.attested_differs);
out:
	free(input);
	free(mine);
	free(theirs);
}

static void *worker_main(void *arg)
{
	struct worker_arg *wa = arg;
	struct valid_node *n = wa->n;
	unsigned slot = wa->slot;

	for (;;) {
		struct task t;
		pthread_mutex_lock(&n->mu);
		while (!n->stopping && n->qlen == 0)
			pthread_cond_wait(&n->cv, &n->mu);
		if (n->stopping) {
			pthread_mutex_unlock(&n->mu);
			break;
		}
		t = n->queue[n->qhead];
		n->qhead = (n->qhead + 1) % n->queue_max;
		n->qlen--;
		n->slots[slot].active = 1;
		memcpy(n->slots[slot].receipt, t.receipt_id, RCPT_HASH_BYTES);
		pthread_mutex_unlock(&n->mu);
		process(n, &t, slot);
		pthread_mutex_lock(&n->mu);
		n->slots[slot].active = 0;
		pthread_mutex_unlock(&n->mu);
	}
	return NULL;
}

/* ---------------------------------------------------------------- polling */

/* Parses one listed job; 0 when it is usable. */
static int task_from_view(struct task *t, const struct valid_node *n, const json_t *v)
{
	char *jt = NULL, *rt = NULL;
	const char *id = jstr(v, "id"), *rid = jstr(v, "receiptId");
	uint8_t chk[RCPT_HASH_BYTES];
	int rc = -1;

	memset(t, 0, sizeof(*t));
	if (!id || !rid ||
	    rcpt_hex_decode(t->job_id, RCPT_HASH_BYTES, id) != RCPT_OK ||
	    rcpt_hex_decode(t->receipt_id, RCPT_HASH_BYTES, rid) != RCPT_OK)
		goto out;
	jt = json_dumps(json_object_get(v, "job"), JSON_COMPACT);
	rt = json_dumps(json_object_get(v, "receipt"), JSON_COMPACT);
	if (!jt || !rt || rcpt_job_parse(&t->job, NULL, jt, strlen(jt)) != RCPT_OK ||
	    rcpt_receipt_parse(&t->receipt, NULL, rt, strlen(rt)) != RCPT_OK)
		goto out;
	/* The ids are recomputed, not taken on trust. */
	if (rcpt_job_id(chk, NULL, &n->domain, &t->job) != RCPT_OK ||
	    memcmp(chk, t->job_id, RCPT_HASH_BYTES) != 0 ||
	    rcpt_receipt_id(chk, NULL, &n->domain, &t->receipt) != RCPT_OK ||
	    memcmp(chk, t->receipt_id, RCPT_HASH_BYTES) != 0 ||
	    memcmp(t->receipt.job, t->job_id, RCPT_HASH_BYTES) != 0)
		goto out;
	if (rcpt_hex_encode(t->job_hex, sizeof(t->job_hex), t->job_id, RCPT_HASH_BYTES) != RCPT_OK)
		goto out;
	rc = 0;
out:
	free(jt);
	free(rt);
	return rc;
}

/* Reads one page of receipted jobs after the cursor (after_s, after_id)
 * and decides each.  Returns the number listed, or -1 when the page
 * could not be read or the queue filled up (stop this round). */
static int poll_page(struct valid_node *n, uint64_t *after_s, char after_id[RCPT_HASH_HEX_BYTES])
{
	char why[256] = "", target[256];
	struct httpd_client_resp resp;
	json_t *jobs, *v;
	size_t i;
	int listed = 0, full = 0;

	assert(n && after_s && after_id);

	if (after_id[0])
		snprintf(target, sizeof(target), "/v1/jobs?state=receipted&after=%" PRIu64 "&afterId=%s",
			 *after_s, after_id);
	else
		snprintf(target, sizeof(target), "/v1/jobs?state=receipted&after=%" PRIu64, *after_s);
	if (call(&resp, why, sizeof(why), "GET", n->escrow_url, target, NULL, NULL, NULL, 0, 0) !=
	    VALID_OK) {
		vlog("escrow-unreachable", "why=\"%s\"", why);
		pthread_mutex_lock(&n->mu);
		n->escrow_ok = 0;
		pthread_mutex_unlock(&n->mu);
		return -1;
	}
	jobs = resp.status == 200 ? json_object_get(resp.json, "jobs") : NULL;
	pthread_mutex_lock(&n->mu);
	n->escrow_ok = jobs != NULL;
	pthread_mutex_unlock(&n->mu);
	if (!json_is_array(jobs)) {
		vlog("escrow-bad-answer", "status=%ld type=%s", resp.status, resp.problem_type);
		httpd_client_resp_free(&resp);
		return -1;
	}
	json_array_foreach(jobs, i, v) {
		struct task t;
		uint64_t at = 0;
		int sampled, queued = 0, known;
		const char *rid = jstr(v, "receiptId"), *id = jstr(v, "id");
		json_t *ra = json_object_get(v, "receiptedAt");
		uint8_t r[RCPT_HASH_BYTES];

		if (!rid || !id || strlen(id) != RCPT_HASH_HEX_BYTES - 1 || !json_is_integer(ra) ||
		    json_integer_value(ra) < 0 || rcpt_hex_decode(r, RCPT_HASH_BYTES, rid) != RCPT_OK) {
			vlog("listing-refused", "why=\"malformed job view\"");
			full = -1;
			break;   /* the cursor cannot move past what it cannot read */
		}
		pthread_mutex_lock(&n->mu);
		known = seen_has(n, r);
		pthread_mutex_unlock(&n->mu);
		if (!known) {
			if (task_from_view(&t, n, v)) {
				vlog("listing-refused", "receipt=%s why=\"ids or statements do not verify\"",
				     rid);
				pthread_mutex_lock(&n->mu);
				seen_add(n, r);
				pthread_mutex_unlock(&n->mu);
			} else {
				/* Only receipts that arrived once the seed was
				 * committed are decided by it (docs/validator.md). */
				at = (uint64_t)json_integer_value(ra);
				sampled = at >= n->committed_at_s &&
					  valid_sample_decide(n->seed, t.receipt_id, n->check_bps);
				pthread_mutex_lock(&n->mu);
				if (!sampled) {
					seen_add(n, r);
					n->st.seen++;
				} else if (n->qlen < n->queue_max) {
					n->queue[(n->qhead + n->qlen) % n->queue_max] = t;
					n->qlen++;
					seen_add(n, r);
					n->st.seen++;
					n->st.sampled++;
					n->st.queued++;
					queued = 1;
					pthread_cond_broadcast(&n->cv);
				} else {
					n->st.dropped++;   /* left for a later poll */
					full = 1;
				}
				pthread_mutex_unlock(&n->mu);
				if (full)
					break;
				if (queued)
					vlog("sampled", "job=%s receipt=%s", t.job_hex, rid);
			}
		}
		listed++;
		*after_s = (uint64_t)json_integer_value(ra);
		snprintf(after_id, RCPT_HASH_HEX_BYTES, "%s", id);
		if (*after_s > n->cursor_s)
			n->cursor_s = *after_s;
	}
	httpd_client_resp_free(&resp);
	return full ? -1 : listed;
}

/* One round: from a little before the newest receipt seen so far (a
 * receipt stamped in the same second may commit after we read), page
 * by page while pages come back full, at most VALID_PAGES_PER_POLL. */
static void poll_once(struct valid_node *n)
{
	char after_id[RCPT_HASH_HEX_BYTES] = "";
	uint64_t after_s = n->committed_at_s ? n->committed_at_s - 1 : 0;
	unsigned page;

	if (n->cursor_s > VALID_CURSOR_SLACK_S && n->cursor_s - VALID_CURSOR_SLACK_S > after_s)
		after_s = n->cursor_s - VALID_CURSOR_SLACK_S;
	for (page = 0; page < VALID_PAGES_PER_POLL; page++) {
		int got = poll_page(n, &after_s, after_id);
		if (got < (int)VALID_LIST_PAGE)
			break;
	}
}

static void valid_counter(struct valid_node *n, const char *family, const char *labels,
			  const char *help, uint64_t v)
{
	(void)httpd_counter_set(n->httpd, family, labels, help, (double)v);
}

static void progress_and_gauges(struct valid_node *n)
{
	struct valid_stats s;
	uint64_t now = now_ms();
	unsigned i, missing;
	size_t qlen;

	pthread_mutex_lock(&n->mu);
	s = n->st;
	qlen = n->qlen;
	missing = n->sbx_missing;
	for (i = 0; i < n->workers; i++) {
		struct slot_state *sl = &n->slots[i];
		if (sl->busy && now - sl->logged_ms >= VALID_PROGRESS_LOG_S * 1000u) {
			sl->logged_ms = now;
			vlog("reexecuting", "job=%s running_s=%" PRIu64, sl->job_hex,
			     (now - sl->since_ms) / 1000u);
		}
	}
	pthread_mutex_unlock(&n->mu);
	(void)httpd_gauge_set(n->httpd, "assay_validator_queue_length", NULL,
			      "Receipts waiting for a re-execution slot.", (double)qlen);
	(void)httpd_gauge_set(n->httpd, "assay_validator_running", NULL,
			      "Re-executions running now.", (double)s.running);
	valid_counter(n, "assay_validator_seen_total", NULL, "Receipts seen on the escrow.",
		      s.seen);
	valid_counter(n, "assay_validator_sampled_total", NULL,
		      "Receipts the sampling rule picked for checking.", s.sampled);
	valid_counter(n, "assay_validator_dropped_total", NULL,
		      "Sampled receipts dropped because the queue was full.", s.dropped);
	valid_counter(n, "assay_validator_attested_total", "verdict=\"1\"",
		      "Attestations sent, by verdict (1 match, 2 differs).", s.attested_match);
	valid_counter(n, "assay_validator_attested_total", "verdict=\"2\"",
		      "Attestations sent, by verdict (1 match, 2 differs).", s.attested_differs);
	valid_counter(n, "assay_validator_withheld_total", NULL,
		      "Jobs reported because the provider withheld their data.", s.withheld);
	valid_counter(n, "assay_validator_failed_total", NULL,
		      "Checks that could not finish (fetch or kernel error).", s.failed);
	(void)httpd_counter_set(n->httpd, "assay_validator_cpu_seconds_total", NULL,
				"CPU time spent re-executing kernels.", (double)s.cpu_ms / 1000.0);
	for (i = 0; i < SBX_LAYER_COUNT_; i++) {
		char labels[48];

		snprintf(labels, sizeof(labels), "layer=\"%s\"", sbx_layer_name(1u << i));
		(void)httpd_gauge_set(n->httpd, "assay_validator_sandbox_layer_missing", labels,
				      "1 when re-executions run without this sandbox layer.",
				      (missing >> i) & 1u);
	}
}

static void *poller_main(void *arg)
{
	struct valid_node *n = arg;

	do {
		resend_pending(n);
		poll_once(n);
		progress_and_gauges(n);
	} while (!pause_ms(n, n->poll_ms));
	return NULL;
}

/* ---------------------------------------------------------------- status server */

static void handle_status(struct httpd_req *r, void *cls)
{
	struct valid_node *n = cls;
	struct valid_stats s;
	char c[RCPT_HASH_HEX_BYTES];
	size_t qlen;

	pthread_mutex_lock(&n->mu);
	s = n->st;
	qlen = n->qlen;
	pthread_mutex_unlock(&n->mu);
	if (rcpt_hex_encode(c, sizeof(c), n->commitment, RCPT_HASH_BYTES) != RCPT_OK)
		c[0] = '\0';
	httpd_reply_json(r, 200, json_pack(
		"{s:s, s:s, s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f}",
		"address", n->addr_hex, "escrow", n->escrow_url, "seedCommitment", c,
		"sampleBps", (int)n->sample_bps, "queueLength", (json_int_t)qlen,
		"queueMax", (json_int_t)n->queue_max, "running", (json_int_t)s.running,
		"seen", (json_int_t)s.seen, "sampled", (json_int_t)s.sampled,
		"dropped", (json_int_t)s.dropped, "attestedMatch", (json_int_t)s.attested_match,
		"attestedDiffers", (json_int_t)s.attested_differs,
		"withheld", (json_int_t)s.withheld, "failed", (json_int_t)s.failed,
		"resent", (json_int_t)s.resent, "cpuSeconds", (double)s.cpu_ms / 1000.0));
}

/* /readyz: ready while the escrow answers our polls. */
static int node_ready(void *cls, char *why, size_t why_len)
{
	struct valid_node *n = cls;
	int ok;

	pthread_mutex_lock(&n->mu);
	ok = n->escrow_ok;
	pthread_mutex_unlock(&n->mu);
	if (!ok)
		why_set(why, why_len, "escrow not answering");
	return ok ? 0 : -1;
}

const struct httpd_route valid_routes[] = {
	{ "GET", "/v1/status", handle_status, 0, 0, NULL },
};
const size_t valid_routes_len = sizeof(valid_routes) / sizeof(valid_routes[0]);

/* ---------------------------------------------------------------- start and stop */

static enum valid_err read_params(struct valid_node *n, struct rcpt_u256 *min_stake,
				  char *why, size_t why_len)
{
	struct httpd_client_resp resp;
	enum valid_err rc;
	const json_t *p;
	const char *vc, *ms;
	uint8_t va[RCPT_ADDR_BYTES];
	json_int_t chain, bps, win;

	rc = call(&resp, why, why_len, "GET", n->escrow_url, "/v1/params", NULL, NULL, NULL, 0, 0);
	if (rc)
		return rc;
	p = resp.json;
	vc = jstr(p, "verifyingContract");
	ms = jstr(p, "minStake");
	chain = json_integer_value(json_object_get(p, "chainId"));
	bps = json_integer_value(json_object_get(p, "sampleBps"));
	win = json_integer_value(json_object_get(p, "challengeWindowS"));
	if (resp.status != 200 || !vc || !ms || rcpt_address_parse(va, vc) != RCPT_OK ||
	    rcpt_u256_parse(min_stake, ms) != RCPT_OK || chain <= 0 || bps < 0 || bps > 10000 ||
	    win < 0) {
		why_set(why, why_len, "escrow %s: unusable /v1/params (status %ld)", n->escrow_url,
			resp.status);
		rc = VALID_ERR_PEER;
	} else {
		rcpt_domain_assay(&n->domain, (uint64_t)chain, va);
		n->sample_bps = (unsigned)bps;
	}
	httpd_client_resp_free(&resp);
	return rc;
}

static enum valid_err check_stake(struct valid_node *n, const struct rcpt_u256 *min,
				  char *why, size_t why_len)
{
	struct httpd_client_resp resp;
	struct rcpt_u256 st;
	char t[96];
	const char *s;
	enum valid_err rc;

	snprintf(t, sizeof(t), "/v1/accounts/%s", n->addr_hex);
	rc = call(&resp, why, why_len, "GET", n->escrow_url, t, NULL, NULL, NULL, 0, 0);
	if (rc)
		return rc;
	s = resp.status == 200 ? httpd_client_str(&resp, "stake") : NULL;
	if (!s || rcpt_u256_parse(&st, s) != RCPT_OK) {
		why_set(why, why_len, "escrow: unusable account answer (status %ld)", resp.status);
		rc = VALID_ERR_PEER;
	} else if (rcpt_u256_cmp(&st, min) < 0) {
		char m[RCPT_U256_DEC_BYTES];
		rcpt_u256_format(m, min);
		why_set(why, why_len, "validator %s stakes %s, below the minimum %s", n->addr_hex, s, m);
		rc = VALID_ERR_STAKE;
	}
	httpd_client_resp_free(&resp);
	return rc;
}

/* The escrow's view of this validator: *has 1 when it holds a
 * commitment, *revealed 1 when that one is revealed. */
static enum valid_err validator_get(struct valid_node *n, int *has, int *revealed,
				    uint8_t commitment[RCPT_HASH_BYTES], uint64_t *at_s,
				    char *why, size_t why_len)
{
	struct httpd_client_resp resp;
	char t[96];
	enum valid_err rc;
	const char *c;
	json_t *at;

	*has = *revealed = 0;
	snprintf(t, sizeof(t), "/v1/validators/%s", n->addr_hex);
	rc = call(&resp, why, why_len, "GET", n->escrow_url, t, NULL, NULL, NULL, 0, 0);
	if (rc)
		return rc;
	if (resp.status == 404 && strstr(resp.problem_type, "validator-not-found")) {
		httpd_client_resp_free(&resp);
		return VALID_OK;
	}
	c = httpd_client_str(&resp, "seedCommitment");
	at = json_object_get(resp.json, "committedAt");
	if (resp.status != 200 || !c || rcpt_hex_decode(commitment, RCPT_HASH_BYTES, c) != RCPT_OK ||
	    !json_is_integer(at)) {
		why_set(why, why_len, "escrow: GET %s answered %ld %s", t, resp.status,
			resp.problem_type);
		rc = VALID_ERR_PEER;
	} else {
		*has = 1;
		*revealed = json_object_get(resp.json, "seed") != NULL;
		*at_s = (uint64_t)json_integer_value(at);
	}
	httpd_client_resp_free(&resp);
	return rc;
}

static enum valid_err register_seed(struct valid_node *n, char *why, size_t why_len)
{
	struct httpd_client_resp resp;
	struct rcpt_diag d = { "" };
	uint8_t theirs[RCPT_HASH_BYTES];
	uint64_t at = 0;
	char body[128], c[RCPT_HASH_HEX_BYTES], idem[48];
	int has, revealed, created;
	enum valid_err rc;

	rc = valid_seed_load_or_create(n->seed, &created, &d, n->state_dir);
	if (rc) {
		why_set(why, why_len, "%s", d.msg);
		return rc;
	}
	valid_seed_commitment(n->commitment, n->seed);
	rc = validator_get(n, &has, &revealed, theirs, &at, why, why_len);
	if (rc)
		return rc;
	if (has && memcmp(theirs, n->commitment, RCPT_HASH_BYTES) == 0) {
		if (!revealed) {
			n->committed_at_s = at;
			vlog("seed-resumed", "validator=%s", n->addr_hex);
			return VALID_OK;
		}
		/* Revealed but not retired (a crash in between): retire it,
		 * a public seed decides nothing any more. */
		rc = valid_seed_retire(n->state_dir);
		if (!rc)
			rc = valid_seed_load_or_create(n->seed, &created, &d, n->state_dir);
		if (rc) {
			why_set(why, why_len, "could not rotate the revealed seed: %s", d.msg);
			return rc;
		}
		valid_seed_commitment(n->commitment, n->seed);
	} else if (has && !revealed) {
		why_set(why, why_len, "escrow holds another unrevealed commitment for %s; "
			"its seed is not in this state directory", n->addr_hex);
		return VALID_ERR_STATE;
	}
	if (rcpt_hex_encode(c, sizeof(c), n->commitment, RCPT_HASH_BYTES) != RCPT_OK)
		return VALID_ERR_CRYPTO;
	snprintf(body, sizeof(body), "{\"seedCommitment\":\"%s\"}", c);
	idem_of(idem, "reg", n->commitment, RCPT_HASH_BYTES);
	rc = call(&resp, why, why_len, "POST", n->escrow_url, "/v1/validators", body, &n->key,
		  idem, 0, 0);
	if (rc)
		return rc;
	if (resp.status != 200 && resp.status != 201) {
		why_set(why, why_len, "escrow refused the seed commitment: %ld %s", resp.status,
			resp.problem_type);
		rc = resp.status == 403 ? VALID_ERR_STAKE : VALID_ERR_PEER;
	} else {
		json_t *ca = json_object_get(resp.json, "committedAt");
		n->committed_at_s = json_is_integer(ca) ? (uint64_t)json_integer_value(ca)
							: (uint64_t)time(NULL);
		vlog("seed-committed", "validator=%s commitment=%s", n->addr_hex, c);
	}
	httpd_client_resp_free(&resp);
	return rc;
}

static enum valid_err reveal_seed(struct valid_node *n)
{
	struct httpd_client_resp resp;
	char body[128], s[RCPT_HASH_HEX_BYTES], idem[48], why[256] = "";
	enum valid_err rc;

	if (rcpt_hex_encode(s, sizeof(s), n->seed, VALID_SEED_BYTES) != RCPT_OK)
		return VALID_ERR_CRYPTO;
	snprintf(body, sizeof(body), "{\"seed\":\"%s\"}", s);
	OPENSSL_cleanse(s, sizeof(s));
	idem_of(idem, "rev", n->commitment, RCPT_HASH_BYTES);
	rc = call(&resp, why, sizeof(why), "POST", n->escrow_url, "/v1/validators/reveal", body,
		  &n->key, idem, 0, 0);
	OPENSSL_cleanse(body, sizeof(body));
	if (rc) {
		vlog("reveal-failed", "why=\"%s\"", why);
		return rc;
	}
	if (resp.status == 200 || resp.status == 201) {
		rc = valid_seed_retire(n->state_dir);
		vlog("seed-revealed", "validator=%s retired=%s", n->addr_hex, rc ? "no" : "yes");
	} else {
		vlog("reveal-refused", "status=%ld type=%s", resp.status, resp.problem_type);
		rc = VALID_ERR_PEER;
	}
	httpd_client_resp_free(&resp);
	return rc;
}

static unsigned pick(unsigned v, unsigned def, unsigned max)
{
	if (v == 0)
		return def;
	return v > max ? max : v;
}

static void node_free(struct valid_node *n)
{
	if (!n)
		return;
	httpd_free(n->httpd);
	free(n->queue);
	free(n->seen[0].slot);
	free(n->seen[1].slot);
	rcpt_key_wipe(&n->key);
	OPENSSL_cleanse(n->seed, sizeof(n->seed));
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	free(n);
}

static void threads_stop(struct valid_node *n)
{
	unsigned i, w;

	pthread_mutex_lock(&n->mu);
	n->stopping = 1;
	w = n->started_workers;
	pthread_cond_broadcast(&n->cv);
	pthread_mutex_unlock(&n->mu);
	if (n->poller_started)
		pthread_join(n->poller, NULL);
	n->poller_started = 0;
	for (i = 0; i < w; i++)
		pthread_join(n->worker[i], NULL);
	n->started_workers = 0;
}

enum valid_err valid_node_start(struct valid_node **out, char *why, size_t why_len,
				const struct valid_config *cfg)
{
	struct valid_node *n;
	struct rcpt_diag d = { "" };
	struct rcpt_u256 min_stake;
	struct httpd_config hc;
	enum valid_err rc;
	enum httpd_err he;
	unsigned i;
	int k;

	if (!out || !cfg || !cfg->escrow_url || !cfg->key_path || !cfg->state_dir)
		return VALID_ERR_ARG;
	*out = NULL;
	if (strlen(cfg->escrow_url) > HTTPD_CLIENT_URL_BYTES_MAX ||
	    strlen(cfg->state_dir) + 64 >= VALID_PATH_BYTES) {
		why_set(why, why_len, "escrow url or state directory path too long");
		return VALID_ERR_ARG;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return VALID_ERR_NOMEM;
	pthread_mutex_init(&n->mu, NULL);
	if (mono_cond_init(&n->cv)) {
		pthread_mutex_destroy(&n->mu);
		free(n);
		return VALID_ERR_NOMEM;
	}
	snprintf(n->escrow_url, sizeof(n->escrow_url), "%s", cfg->escrow_url);
	snprintf(n->state_dir, sizeof(n->state_dir), "%s", cfg->state_dir);
	k = snprintf(n->scratch, sizeof(n->scratch), "%s/scratch", cfg->state_dir);
	assert(k > 0 && (size_t)k < sizeof(n->scratch));
	n->queue_max = pick(cfg->queue_max, VALID_QUEUE_DEFAULT, VALID_QUEUE_MAX);
	n->workers = pick(cfg->workers, VALID_WORKERS_DEFAULT, VALID_WORKERS_MAX);
	n->cpu_s_per_min = pick(cfg->cpu_s_per_min, VALID_CPU_S_PER_MIN_DEFAULT,
				VALID_CPU_S_PER_MIN_MAX);
	n->job_cpu_s = pick(cfg->job_cpu_s, VALID_JOB_CPU_S_DEFAULT, SBX_CPU_S_MAX);
	n->job_threads = pick(cfg->job_threads, SBX_THREADS_DEFAULT, SBX_THREADS_MAX);
	n->sandbox_mode = cfg->sandbox_strict ? SBX_STRICT : SBX_BEST_EFFORT;
	n->device_flag = cfg->device;
	n->poll_ms = pick(cfg->poll_ms, VALID_POLL_MS_DEFAULT, VALID_POLL_MS_MAX);
	if (n->poll_ms < VALID_POLL_MS_MIN)
		n->poll_ms = VALID_POLL_MS_MIN;
	n->fetch_tries = pick(cfg->fetch_tries, VALID_FETCH_TRIES_DEFAULT, VALID_FETCH_TRIES_MAX);
	n->fetch_timeout_ms = pick(cfg->fetch_timeout_ms, VALID_FETCH_TIMEOUT_MS_DEFAULT,
				   (unsigned)HTTPD_CLIENT_TIMEOUT_MS_MAX);
	n->fetch_backoff_ms = pick(cfg->fetch_backoff_ms, VALID_FETCH_BACKOFF_MS_DEFAULT,
				   VALID_FETCH_BACKOFF_MS_MAX);
	n->lie = cfg->lie;
	n->lazy_set = cfg->lazy_set;
	n->lazy_bps = cfg->lazy_bps;
	n->budget_ms = (int64_t)n->cpu_s_per_min * 1000;
	n->budget_at_ms = now_ms();
	n->queue = calloc(n->queue_max, sizeof(*n->queue));
	n->seen[0].slot = calloc(SEEN_SLOTS, RCPT_HASH_BYTES);
	n->seen[1].slot = calloc(SEEN_SLOTS, RCPT_HASH_BYTES);
	if (!n->queue || !n->seen[0].slot || !n->seen[1].slot) {
		rc = VALID_ERR_NOMEM;
		goto fail;
	}
	if (httpd_client_global_init() != 0) {
		why_set(why, why_len, "could not initialise libcurl");
		rc = VALID_ERR_NOMEM;
		goto fail;
	}
	if (rcpt_key_load(&n->key, &d, cfg->key_path) != RCPT_OK) {
		why_set(why, why_len, "%s", d.msg);
		rc = VALID_ERR_STATE;
		goto fail;
	}
	rcpt_address_format(n->addr_hex, n->key.address);
	rc = read_params(n, &min_stake, why, why_len);
	if (rc)
		goto fail;
	if ((n->lie || n->lazy_set) && n->domain.chain_id != 31337) {
		why_set(why, why_len, "%s is for tests: refused on chain %" PRIu64,
			n->lie ? "--lie" : "--lazy-bps", n->domain.chain_id);
		rc = VALID_ERR_REFUSED;
		goto fail;
	}
	/* A lower threshold selects a subset of the announced selection. */
	n->check_bps = n->lazy_set && n->lazy_bps < n->sample_bps ? n->lazy_bps : n->sample_bps;
	rc = check_stake(n, &min_stake, why, why_len);
	if (rc)
		goto fail;
	rc = valid_state_dir_open(&d, n->state_dir);
	if (rc) {
		why_set(why, why_len, "%s", d.msg);
		goto fail;
	}
	rc = sandbox_check(n, why, why_len);
	if (rc)
		goto fail;
	rc = register_seed(n, why, why_len);
	if (rc)
		goto fail;
	memset(&hc, 0, sizeof(hc));
	hc.service = "assay-validator";
	hc.host = cfg->listen_host ? cfg->listen_host : "127.0.0.1";
	hc.port = cfg->listen_port;
	hc.routes = valid_routes;
	hc.routes_len = valid_routes_len;
	hc.cls = n;
	hc.ready = node_ready;
	hc.quiet = cfg->quiet;
	hc.tls_cert_path = cfg->tls_cert;
	hc.tls_key_path = cfg->tls_key;
	hc.tls_allow_12 = cfg->tls_allow_12;
	n->escrow_ok = 1;   /* it just answered /v1/params and the registration */
	he = httpd_start(&n->httpd, why, why_len, &hc);
	if (he) {
		rc = he == HTTPD_ERR_NOMEM ? VALID_ERR_NOMEM : VALID_ERR_LISTEN;
		goto fail;
	}
	progress_and_gauges(n);   /* the gauges exist from the first scrape */
	vlog("started", "validator=%s escrow=%s chain=%" PRIu64 " sample_bps=%u workers=%u "
	     "queue_max=%u cpu_s_per_min=%u%s%s", n->addr_hex, n->escrow_url, n->domain.chain_id,
	     n->sample_bps, n->workers, n->queue_max, n->cpu_s_per_min,
	     n->lie ? " lie=1" : "", n->check_bps < n->sample_bps ? " lazy=1" : "");
	for (i = 0; i < n->workers; i++) {
		n->wargs[i].n = n;
		n->wargs[i].slot = i;
		if (pthread_create(&n->worker[i], NULL, worker_main, &n->wargs[i]) != 0) {
			rc = VALID_ERR_NOMEM;
			goto fail;
		}
		pthread_mutex_lock(&n->mu);
		n->started_workers++;
		pthread_mutex_unlock(&n->mu);
	}
	if (pthread_create(&n->poller, NULL, poller_main, n) != 0) {
		rc = VALID_ERR_NOMEM;
		goto fail;
	}
	n->poller_started = 1;
	*out = n;
	return VALID_OK;
fail:
	threads_stop(n);
	node_free(n);
	return rc;
}

uint16_t valid_node_port(const struct valid_node *n)
{
	assert(n);
	return httpd_port(n->httpd);
}

void valid_node_stats(struct valid_stats *out, struct valid_node *n)
{
	assert(out && n);
	pthread_mutex_lock(&n->mu);
	*out = n->st;
	pthread_mutex_unlock(&n->mu);
}

void valid_node_identity(uint8_t commitment[RCPT_HASH_BYTES], uint8_t address[RCPT_ADDR_BYTES],
			 const struct valid_node *n)
{
	assert(commitment && address && n);
	memcpy(commitment, n->commitment, RCPT_HASH_BYTES);
	memcpy(address, n->key.address, RCPT_ADDR_BYTES);
}

enum valid_err valid_node_stop(struct valid_node *n, int reveal)
{
	enum valid_err rc = VALID_OK;

	if (!n)
		return VALID_OK;
	threads_stop(n);
	if (reveal)
		rc = reveal_seed(n);
	vlog("stopped", "validator=%s revealed=%s", n->addr_hex,
	     reveal && rc == VALID_OK ? "yes" : "no");
	node_free(n);
	return rc;
}
