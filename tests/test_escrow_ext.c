/*
 * test_escrow_ext.c: the escrow's additions on the real assay-escrow
 * binary against a private PostgreSQL (one database per test):
 * provider registration, validator seed commitments, a provider
 * failing an open job, a customer accepting early, evidence on fraud
 * claims, withholding reports, and the referee fetching a disputed
 * job's input from a stub provider served in the test process.  The
 * ledger invariants (chain_check_invariants) are checked after every
 * test and after the steps that move money.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "chain.h"
#include "httpc.h"
#include "httpd.h"
#include "kernels.h"
#include "pgutil.h"
#include "testutil.h"
#include "banned.h"

extern char **environ;

#define X_MIN_STAKE 1000
#define X_WAIT_MS 20000

/* ---------------------------------------------------------------- the service */

struct xesc {
	struct pgt_db db;
	int have_db;
	char dir[256];
	char key_path[320];
	char log_path[320];
	uint8_t addr[RCPT_ADDR_BYTES];
	struct rcpt_domain dom;
	pid_t pid;
	uint16_t port;
	unsigned window_s, referee_s, unbonding_s;
};

static struct xesc X;

static void x_spawn(void)
{
	char bin[512], window[16], referee[16], unbonding[16], conn[600];
	const char *build = getenv("ASSAY_BUILD");
	struct tu_daemon d;

	cr_assert(build, "ASSAY_BUILD is not set");
	snprintf(bin, sizeof(bin), "%s/bin/assay-escrow", build);
	snprintf(window, sizeof(window), "%u", X.window_s);
	snprintf(referee, sizeof(referee), "%u", X.referee_s);
	snprintf(unbonding, sizeof(unbonding), "%u", X.unbonding_s);
	snprintf(conn, sizeof(conn), "%s", X.db.conninfo);
	{
		const char *argv[] = { bin, "--listen", "127.0.0.1:0", "--db", conn,
			"--key", X.key_path, "--devnet", "--min-stake", "1000",
			"--slash-bps", "5000", "--bounty-bps", "2000", "--sample-bps", "1000",
			"--challenge-window-s", window, "--referee-deadline-s", referee,
			"--unbonding-s", unbonding, "--rate-per-s", "100000",
			"--rate-burst", "100000", NULL };
		tu_daemon_start(&d, argv, X.log_path);
	}
	X.pid = d.pid;
	X.port = (uint16_t)d.port;
}

static void x_setup(unsigned window_s, unsigned referee_s)
{
	struct rcpt_key k;

	memset(&X, 0, sizeof(X));
	X.window_s = window_s;
	X.referee_s = referee_s;
	X.unbonding_s = window_s + referee_s + 30;
	pgt_db_create(&X.db);
	X.have_db = 1;
	tu_tmpdir(X.dir, sizeof(X.dir));
	snprintf(X.key_path, sizeof(X.key_path), "%s/escrow.key", X.dir);
	snprintf(X.log_path, sizeof(X.log_path), "%s/escrow.log", X.dir);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&k, NULL, X.key_path), RCPT_OK);
	memcpy(X.addr, k.address, RCPT_ADDR_BYTES);
	rcpt_key_wipe(&k);
	rcpt_domain_assay(&X.dom, 31337, X.addr);
	x_spawn();
}

static enum chain_err x_invariants(char *why, size_t why_len)
{
	struct chain *c = NULL;
	struct chain_params p;
	struct rcpt_diag diag;
	enum chain_err ce;

	memset(&p, 0, sizeof(p));
	p.chain_id = 31337;
	p.devnet = 1;
	rcpt_u256_from_u64(&p.min_stake, X_MIN_STAKE);
	p.unbonding_s = X.unbonding_s;
	ce = chain_pg_open(&c, &diag, X.db.conninfo, &p, X.addr);
	if (ce == CHAIN_OK) {
		ce = chain_check_invariants(c, why, why_len);
		chain_free(c);
	} else {
		snprintf(why, why_len, "%s", diag.msg);
	}
	return ce;
}

static void invariants_hold(const char *when)
{
	char why[256] = "";
	enum chain_err ce = x_invariants(why, sizeof(why));

	cr_assert_eq(ce, CHAIN_OK, "ledger invariants %s: %s %s", when, chain_errname(ce), why);
}

static struct httpd *stub_server;

static void x_teardown(void)
{
	httpd_free(stub_server);
	stub_server = NULL;
	if (X.pid > 0) {
		int st;
		kill(X.pid, SIGTERM);
		while (waitpid(X.pid, &st, 0) < 0 && errno == EINTR)
			;
		X.pid = 0;
	}
	if (X.have_db) {
		char why[256] = "";
		enum chain_err ce = x_invariants(why, sizeof(why));
		pgt_db_drop(&X.db);
		X.have_db = 0;
		cr_assert_eq(ce, CHAIN_OK, "ledger invariants: %s %s", chain_errname(ce), why);
	}
	if (!getenv("ASSAY_TEST_KEEP"))
		tu_rmtree(X.dir);
	else
		fprintf(stderr, "test_escrow_ext: kept %s\n", X.log_path);
}

/* ---------------------------------------------------------------- HTTP */

static json_t *jparse(const struct hc_resp *r)
{
	json_t *j = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);

	cr_assert(j, "answer is not json (%d): %s", r->status, r->body);
	return j;
}

static void get(struct hc_resp *r, const char *target)
{
	cr_assert_eq(hc_request(r, X.port, "GET", target, NULL, NULL, 0), 0,
		     "GET %s: no answer", target);
}

static void post_idem(struct hc_resp *r, const char *target, const char *idem,
		      const char *body)
{
	char h[128];
	const char *hdrs[2] = { h, NULL };

	snprintf(h, sizeof(h), "Idempotency-Key: %s", idem);
	cr_assert_eq(hc_request(r, X.port, "POST", target, hdrs, body, strlen(body)), 0,
		     "POST %s: no answer", target);
}

static void signed_req(struct hc_resp *r, const struct rcpt_key *k, const char *method,
		       const char *target, const char *idem, const char *body)
{
	struct httpd_auth_headers a;
	char h1[96], h2[64], h3[200], h4[128];
	const char *hdrs[5] = { h1, h2, h3, idem ? h4 : NULL, NULL };
	size_t bl = body ? strlen(body) : 0;

	cr_assert_eq(httpd_auth_sign(&a, k, method, target, (uint64_t)time(NULL), idem, body, bl),
		     HTTPD_OK);
	snprintf(h1, sizeof(h1), "Assay-Address: %s", a.address);
	snprintf(h2, sizeof(h2), "Assay-Timestamp: %s", a.timestamp);
	snprintf(h3, sizeof(h3), "Assay-Signature: %s", a.signature);
	if (idem)
		snprintf(h4, sizeof(h4), "Idempotency-Key: %s", idem);
	cr_assert_eq(hc_request(r, X.port, method, target, hdrs, body, bl), 0);
}

static unsigned idem_counter;

static const char *fresh_idem(char buf[48])
{
	snprintf(buf, 48, "x-%ld-%u", (long)getpid(), idem_counter++);
	return buf;
}

/* A signed POST with a fresh Idempotency-Key. */
static void spost(struct hc_resp *r, const struct rcpt_key *k, const char *target,
		  const char *body)
{
	char idem[48];

	signed_req(r, k, "POST", target, fresh_idem(idem), body);
}

static void expect_problem(struct hc_resp *r, int status, const char *slug)
{
	json_t *j;
	char type[128];

	cr_assert_eq(r->status, status, "status %d, want %d (%s): %s", r->status, status,
		     slug, r->body);
	cr_assert_str_eq(r->ctype, "application/problem+json");
	j = jparse(r);
	snprintf(type, sizeof(type), "urn:assay:problem:%s", slug);
	cr_assert_str_eq(json_string_value(json_object_get(j, "type")), type, "%s", r->body);
	json_decref(j);
}

/* Answers `status` with problem `slug`, and frees the answer. */
static void refused(struct hc_resp *r, int status, const char *slug)
{
	expect_problem(r, status, slug);
	hc_resp_free(r);
}

/* ---------------------------------------------------------------- accounts */

struct bal {
	uint64_t available, stake, unbonding;
};

static struct bal balance_of(const uint8_t who[RCPT_ADDR_BYTES])
{
	char a[RCPT_ADDR_HEX_BYTES], t[96];
	struct hc_resp r;
	struct bal b;
	json_t *j;

	rcpt_address_format(a, who);
	snprintf(t, sizeof(t), "/v1/accounts/%s", a);
	get(&r, t);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	b.available = strtoull(json_string_value(json_object_get(j, "available")), NULL, 10);
	b.stake = strtoull(json_string_value(json_object_get(j, "stake")), NULL, 10);
	b.unbonding = strtoull(json_string_value(json_object_get(j, "unbonding")), NULL, 10);
	json_decref(j);
	hc_resp_free(&r);
	return b;
}

static int bal_eq(struct bal a, struct bal b)
{
	return a.available == b.available && a.stake == b.stake && a.unbonding == b.unbonding;
}

static void faucet(const struct rcpt_key *k, uint64_t amount)
{
	char a[RCPT_ADDR_HEX_BYTES], body[160], idem[48];
	struct hc_resp r;

	rcpt_address_format(a, k->address);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"%" PRIu64 "\"}", a, amount);
	post_idem(&r, "/v1/faucet", fresh_idem(idem), body);
	cr_assert_eq(r.status, 200, "faucet: %s", r.body);
	hc_resp_free(&r);
}

static void stake(const struct rcpt_key *k, uint64_t amount)
{
	char body[64];
	struct hc_resp r;

	snprintf(body, sizeof(body), "{\"amount\":\"%" PRIu64 "\"}", amount);
	spost(&r, k, "/v1/stake", body);
	cr_assert_eq(r.status, 200, "stake: %s", r.body);
	hc_resp_free(&r);
}

struct parties {
	struct rcpt_key customer, provider, validator, stranger;
};

static void parties_setup(struct parties *p)
{
	cr_assert_eq(rcpt_key_generate(&p->customer), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&p->provider), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&p->validator), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&p->stranger), RCPT_OK);
	faucet(&p->customer, 100000);
	faucet(&p->provider, 200000);
	stake(&p->provider, 100000);
	faucet(&p->validator, 50000);
	stake(&p->validator, 10000);
	faucet(&p->stranger, 50000);
}

/* The three parties' balances and the job's state, to show that a
 * refused request moved nothing. */
struct snap {
	struct bal c, pv, v;
	char state[32];
};

/* ---------------------------------------------------------------- jobs */

struct jobfx {
	struct rcpt_job job;
	uint8_t id[RCPT_HASH_BYTES];
	char id_hex[RCPT_HASH_HEX_BYTES];
	uint8_t sig[RCPT_SIG_BYTES];
	uint8_t *input;
	size_t input_len;
	uint8_t *output;               /* the honest output */
	size_t output_len;
	struct rcpt_commitment out;
	struct rcpt_receipt receipt;
	uint8_t receipt_id[RCPT_HASH_BYTES];
	uint8_t receipt_sig[RCPT_SIG_BYTES];
};

/* softmax_f32@1 over x F32[rows, cols] (values depend on `nonce`, so
 * that each job has its own input); rows * cols * 4 bytes of output,
 * more than one 64 KiB chunk when rows * cols > 16384. */
static void job_make(struct jobfx *f, const struct parties *p, uint64_t max_price,
		     uint64_t deadline, uint64_t nonce, uint64_t rows, uint64_t cols)
{
	const struct kern_info *ki = kern_find("softmax_f32@1");
	struct kern_tensors in, outt;
	struct kern_diag kd;
	struct rcpt_commitment c;
	struct kern_run_opts opts = { KERN_DEVICE_CPU, 1 };
	char dev[KERN_DEVICE_BYTES];
	uint64_t shape[2] = { rows, cols }, i;
	float *x = calloc(rows * cols, sizeof(float));

	memset(f, 0, sizeof(*f));
	cr_assert(ki && x);
	for (i = 0; i < rows * cols; i++)
		x[i] = (float)((i * 7 + nonce * 13) % 17) / 8.0f;
	kern_tensors_init(&in);
	kern_tensors_init(&outt);
	cr_assert_eq(kern_tensors_add(&in, NULL, &kd, "x", KERN_DT_F32, 2, shape, x), KERN_OK);
	cr_assert_eq(kern_st_serialize(&f->input, &f->input_len, &kd, &in), KERN_OK);
	cr_assert_eq(kern_run(&outt, dev, &kd, "softmax_f32@1", &in, "{}", 2, &opts), KERN_OK,
		     "%s", kd.msg);
	cr_assert_eq(kern_st_serialize(&f->output, &f->output_len, &kd, &outt), KERN_OK);
	cr_assert_eq(rcpt_commit_buf(&f->out, f->output, f->output_len), RCPT_OK);
	kern_tensors_release(&in);
	kern_tensors_release(&outt);
	free(x);
	cr_assert_eq(rcpt_commit_buf(&c, f->input, f->input_len), RCPT_OK);

	memcpy(f->job.customer, p->customer.address, 20);
	memcpy(f->job.provider, p->provider.address, 20);
	snprintf(f->job.kernel, sizeof(f->job.kernel), "softmax_f32@1");
	memcpy(f->job.kernel_hash, ki->hash, 32);
	snprintf(f->job.params, sizeof(f->job.params), "{}");
	memcpy(f->job.input_root, c.root, 32);
	f->job.input_size = c.size;
	rcpt_u256_from_u64(&f->job.max_price, max_price);
	f->job.deadline = deadline;
	f->job.nonce = nonce;
	cr_assert_eq(rcpt_job_id(f->id, NULL, &X.dom, &f->job), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(f->sig, &p->customer, f->id), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(f->id_hex, sizeof(f->id_hex), f->id, 32), RCPT_OK);
}

static void jobfx_free(struct jobfx *f)
{
	free(f->input);
	free(f->output);
	f->input = f->output = NULL;
}

static void job_open(struct jobfx *f)
{
	char *jt = NULL, sh[RCPT_SIG_HEX_BYTES], *b, idem[48];
	struct hc_resp r;
	size_t n;

	cr_assert_eq(rcpt_job_to_json(&jt, &f->job), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), f->sig, 65), RCPT_OK);
	n = strlen(jt) + 256;
	b = malloc(n);
	cr_assert(b);
	snprintf(b, n, "{\"job\":%s,\"jobSignature\":\"%s\"}", jt, sh);
	post_idem(&r, "/v1/jobs", fresh_idem(idem), b);
	cr_assert_eq(r.status, 201, "open: %s", r.body);
	hc_resp_free(&r);
	free(b);
	free(jt);
}

/* Signs a receipt for the output committed to by `oc`. */
static void receipt_make(struct jobfx *f, const struct parties *p, uint64_t price,
			 const struct rcpt_commitment *oc)
{
	struct rcpt_receipt *r = &f->receipt;

	memset(r, 0, sizeof(*r));
	memcpy(r->job, f->id, 32);
	memcpy(r->kernel_hash, f->job.kernel_hash, 32);
	memcpy(r->input_root, f->job.input_root, 32);
	r->input_size = f->job.input_size;
	memcpy(r->output_root, oc->root, 32);
	r->output_size = oc->size;
	rcpt_u256_from_u64(&r->price, price);
	snprintf(r->device, sizeof(r->device), "cpu");
	r->started_at_ms = (uint64_t)time(NULL) * 1000;
	r->finished_at_ms = r->started_at_ms + 5;
	memcpy(r->provider, p->provider.address, 20);
	cr_assert_eq(rcpt_receipt_id(f->receipt_id, NULL, &X.dom, r), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(f->receipt_sig, &p->provider, f->receipt_id), RCPT_OK);
}

static void receipt_post(struct jobfx *f)
{
	char *rt = NULL, sh[RCPT_SIG_HEX_BYTES], t[128], *b, idem[48];
	struct hc_resp r;
	size_t n;

	cr_assert_eq(rcpt_receipt_to_json(&rt, &f->receipt), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), f->receipt_sig, 65), RCPT_OK);
	n = strlen(rt) + 256;
	b = malloc(n);
	cr_assert(b);
	snprintf(b, n, "{\"receipt\":%s,\"receiptSignature\":\"%s\"}", rt, sh);
	snprintf(t, sizeof(t), "/v1/jobs/%s/receipt", f->id_hex);
	post_idem(&r, t, fresh_idem(idem), b);
	cr_assert_eq(r.status, 200, "receipt: %s", r.body);
	hc_resp_free(&r);
	free(b);
	free(rt);
}

static char *b64(const uint8_t *p, size_t n)
{
	char *s = malloc(n * 2 + 8);

	cr_assert(s);
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* A verdict-2 claim by `v` naming its own (honest) output root, with
 * `extra` (may be NULL) appended to the body's members. */
static void claim_post(struct hc_resp *resp, struct jobfx *f, const struct rcpt_key *v,
		       int verdict, const char *extra)
{
	struct rcpt_attestation a;
	uint8_t dg[32], sig[65];
	char *at = NULL, sh[RCPT_SIG_HEX_BYTES], *b, t[128], idem[48];
	size_t n;

	memset(&a, 0, sizeof(a));
	memcpy(a.receipt, f->receipt_id, 32);
	memcpy(a.output_root, verdict == 2 ? f->out.root : f->receipt.output_root, 32);
	if (verdict == 2 && memcmp(f->out.root, f->receipt.output_root, 32) == 0)
		a.output_root[0] ^= 1;
	a.verdict = (uint8_t)verdict;
	memcpy(a.validator, v->address, 20);
	cr_assert_eq(rcpt_attestation_digest(dg, NULL, &X.dom, &a), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(sig, v, dg), RCPT_OK);
	cr_assert_eq(rcpt_attestation_to_json(&at, &a), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), sig, 65), RCPT_OK);
	n = strlen(at) + 256 + (extra ? strlen(extra) : 0);
	b = malloc(n);
	cr_assert(b);
	snprintf(b, n, "{\"attestation\":%s,\"signature\":\"%s\"%s%s}", at, sh,
		 extra ? "," : "", extra ? extra : "");
	snprintf(t, sizeof(t), "/v1/jobs/%s/attestations", f->id_hex);
	post_idem(resp, t, fresh_idem(idem), b);
	free(b);
	free(at);
}

static json_t *job_get(const struct jobfx *f)
{
	char t[128];
	struct hc_resp r;
	json_t *j;

	snprintf(t, sizeof(t), "/v1/jobs/%s", f->id_hex);
	get(&r, t);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	hc_resp_free(&r);
	return j;
}

static void job_state(char out[32], const struct jobfx *f)
{
	json_t *j = job_get(f);

	snprintf(out, 32, "%s", json_string_value(json_object_get(j, "state")));
	json_decref(j);
}

static void wait_state(const struct jobfx *f, const char *want)
{
	char last[32] = "";
	int i;

	for (i = 0; i < X_WAIT_MS / 100; i++) {
		job_state(last, f);
		if (strcmp(last, want) == 0)
			return;
		usleep(100 * 1000);
	}
	cr_assert_fail("job stayed '%s', want '%s' (log %s)", last, want, X.log_path);
}

/* The first dispute of the job's view whose `key` is `want`, or NULL; *j
 * receives the view to decref. */
static json_t *dispute_where(json_t **j, const struct jobfx *f, const char *key, const char *want)
{
	json_t *d;
	size_t i;

	*j = job_get(f);
	json_array_foreach(json_object_get(*j, "disputes"), i, d) {
		const char *v = json_string_value(json_object_get(d, key));
		if (v && strcmp(v, want) == 0)
			return d;
	}
	return NULL;
}

/* Waits for a dispute of `kind` to reach `state`, executed (slash on the
 * ledger) when `executed`; returns its reason (static). */
static const char *wait_dispute(const struct jobfx *f, const char *kind, const char *state,
				int executed)
{
	static char reason[64];
	int i;

	for (i = 0; i < X_WAIT_MS / 100; i++) {
		json_t *j, *d = dispute_where(&j, f, "kind", kind);
		int done = d && strcmp(json_string_value(json_object_get(d, "state")), state) == 0 &&
			   (!executed || json_is_true(json_object_get(d, "executed")));
		if (done)
			snprintf(reason, sizeof(reason), "%s",
				 json_string_value(json_object_get(d, "reason")));
		json_decref(j);
		if (done)
			return reason;
		usleep(100 * 1000);
	}
	cr_assert_fail("no %s dispute reached %s (log %s)", kind, state, X.log_path);
	return NULL;
}

/* The events of an audit subject, as one comma-separated string. */
static void audit_events(char *out, size_t len, const struct rcpt_key *who, const char *query)
{
	char t[160];
	struct hc_resp r;
	json_t *j, *e;
	size_t i, used = 0;

	snprintf(t, sizeof(t), "/v1/audit?%s", query);
	signed_req(&r, who, "GET", t, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	out[0] = '\0';
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		const char *ev = json_string_value(json_object_get(json_object_get(e, "entry"), "event"));
		int w = snprintf(out + used, len - used, "%s%s", i ? "," : "", ev);
		cr_assert(w > 0 && (size_t)w < len - used);
		used += (size_t)w;
	}
	json_decref(j);
	hc_resp_free(&r);
}

/* The audit entry of `event` in the job's chain (a copy to decref). */
static json_t *audit_entry(const struct jobfx *f, const struct rcpt_key *who, const char *event)
{
	char t[160];
	struct hc_resp r;
	json_t *j, *e, *found = NULL;
	size_t i;

	snprintf(t, sizeof(t), "/v1/audit?job=%s", f->id_hex);
	signed_req(&r, who, "GET", t, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	json_array_foreach(json_object_get(j, "entries"), i, e) {
		json_t *en = json_object_get(e, "entry");
		if (!found && strcmp(json_string_value(json_object_get(en, "event")), event) == 0)
			found = json_deep_copy(en);
	}
	json_decref(j);
	hc_resp_free(&r);
	cr_assert(found, "no audit entry '%s'", event);
	return found;
}

/* ---------------------------------------------------------------- providers */

static void provider_register(struct hc_resp *r, const struct rcpt_key *k, const char *url)
{
	char *body;
	json_t *o = json_pack("{s:s}", "url", url);

	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	spost(r, k, "/v1/providers", body);
	free(body);
}

Test(escrow_ext, provider_registration, .fini = x_teardown, .timeout = 60)
{
	static const char *const bad[] = {
		"ftp://p.example:8701", "http://", "https://", "http:///v1", "http://:80",
		"http://p.example/", "http://user:pw@p.example", "http://p.example?x=1",
		"http://p.example#frag", "http://p .example", "p.example:8701",
		"HTTP://p.example", "http://p.example\\x", "http://p.\x01example", "",
	};
	struct parties p;
	struct hc_resp r;
	char t[128], a[RCPT_ADDR_HEX_BYTES], longurl[300], events[512];
	size_t i;
	json_t *j;
	struct rcpt_key unstaked;

	x_setup(5, 2);
	parties_setup(&p);
	rcpt_address_format(a, p.provider.address);
	snprintf(t, sizeof(t), "/v1/providers/%s", a);
	get(&r, t);
	refused(&r, 404, "provider-not-found");
	get(&r, "/v1/providers/0x1234");
	refused(&r, 400, "invalid-address");

	/* Refusals, none of which registers anything. */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		provider_register(&r, &p.provider, bad[i]);
		cr_assert_eq(r.status, 400, "url '%s' was not refused: %s", bad[i], r.body);
		refused(&r, 400, "invalid-url");
	}
	memset(longurl, 'a', sizeof(longurl) - 1);
	longurl[sizeof(longurl) - 1] = '\0';
	memcpy(longurl, "http://", 7);
	longurl[257] = '\0';           /* 257 bytes: one too many */
	provider_register(&r, &p.provider, longurl);
	refused(&r, 400, "invalid-url");
	spost(&r, &p.provider, "/v1/providers", "{\"url\":\"http://p.example\",\"x\":1}");
	refused(&r, 400, "invalid-request");
	spost(&r, &p.provider, "/v1/providers", "{\"url\":42}");
	refused(&r, 400, "invalid-url");
	/* Unsigned. */
	{
		char idem[48];
		post_idem(&r, "/v1/providers", fresh_idem(idem), "{\"url\":\"http://p.example\"}");
		cr_assert_eq(r.status, 401, "%s", r.body);
		hc_resp_free(&r);
	}
	/* Not staked (funds, but no stake) and staked below the minimum. */
	cr_assert_eq(rcpt_key_generate(&unstaked), RCPT_OK);
	faucet(&unstaked, 5000);
	provider_register(&r, &unstaked, "http://p.example");
	refused(&r, 403, "stake-too-low");
	stake(&unstaked, X_MIN_STAKE - 1);
	provider_register(&r, &unstaked, "http://p.example");
	refused(&r, 403, "stake-too-low");
	get(&r, t);
	refused(&r, 404, "provider-not-found");

	/* Happy path: exactly 256 bytes is fine. */
	longurl[256] = '\0';
	provider_register(&r, &p.provider, longurl);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	provider_register(&r, &p.provider, "https://prov.example:8701/assay");
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "address")), a);
	cr_assert_str_eq(json_string_value(json_object_get(j, "url")), "https://prov.example:8701/assay");
	cr_assert(json_integer_value(json_object_get(j, "registeredAt")) > 0);
	json_decref(j);
	hc_resp_free(&r);
	/* The move replaced the first URL. */
	get(&r, t);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "url")), "https://prov.example:8701/assay");
	json_decref(j);
	hc_resp_free(&r);
	/* Lower-case address in the path works too. */
	{
		char lower[RCPT_ADDR_HEX_BYTES], t2[128];
		for (i = 0; a[i]; i++)
			lower[i] = (char)(a[i] >= 'A' && a[i] <= 'F' ? a[i] + 32 : a[i]);
		lower[i] = '\0';
		snprintf(t2, sizeof(t2), "/v1/providers/%s", lower);
		get(&r, t2);
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
	}
	{
		char q[96];
		snprintf(q, sizeof(q), "account=%s", a);
		audit_events(events, sizeof(events), &p.provider, q);
		cr_assert(strstr(events, "provider-registered,provider-registered"), "%s", events);
	}
	invariants_hold("after registration");
}

/* ---------------------------------------------------------------- validators */

/* Known answer from ethers 6 (tests/vectors/keccak.json, the 32-byte
 * input): keccak256 of this seed, computed outside our code. */
#define SEED_KAT "0x030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dc"
#define SEED_KAT_HASH "0x04d1b47ed3b04c5ff6a0280293cb2ab55bd297c9c2e0c3449831b419285d7df2"

static void commit_post(struct hc_resp *r, const struct rcpt_key *k, const char *commitment)
{
	char body[160];

	snprintf(body, sizeof(body), "{\"seedCommitment\":\"%s\"}", commitment);
	spost(r, k, "/v1/validators", body);
}

static void reveal_post(struct hc_resp *r, const struct rcpt_key *k, const char *seed)
{
	char body[160];

	snprintf(body, sizeof(body), "{\"seed\":\"%s\"}", seed);
	spost(r, k, "/v1/validators/reveal", body);
}

static json_t *validator_get(const struct rcpt_key *k, int want_status)
{
	char a[RCPT_ADDR_HEX_BYTES], t[128];
	struct hc_resp r;
	json_t *j = NULL;

	rcpt_address_format(a, k->address);
	snprintf(t, sizeof(t), "/v1/validators/%s", a);
	get(&r, t);
	cr_assert_eq(r.status, want_status, "%s", r.body);
	if (want_status == 200)
		j = jparse(&r);
	else
		expect_problem(&r, 404, "validator-not-found");
	hc_resp_free(&r);
	return j;
}

Test(escrow_ext, validator_seed_commitments, .fini = x_teardown, .timeout = 60)
{
	struct parties p;
	struct hc_resp r;
	struct rcpt_key poor;
	char second_seed[RCPT_HASH_HEX_BYTES], second_hash[RCPT_HASH_HEX_BYTES], events[512], q[96],
		a[RCPT_ADDR_HEX_BYTES];
	uint8_t s2[32], h2[32];
	json_t *j;

	x_setup(5, 2);
	parties_setup(&p);
	validator_get(&p.validator, 404);
	/* Unsigned, unstaked, malformed: refused, nothing stored. */
	{
		char idem[48];
		post_idem(&r, "/v1/validators", fresh_idem(idem),
			  "{\"seedCommitment\":\"" SEED_KAT_HASH "\"}");
		cr_assert_eq(r.status, 401, "%s", r.body);
		hc_resp_free(&r);
	}
	cr_assert_eq(rcpt_key_generate(&poor), RCPT_OK);
	commit_post(&r, &poor, SEED_KAT_HASH);
	refused(&r, 403, "stake-too-low");
	commit_post(&r, &p.validator, "0x1234");
	refused(&r, 400, "invalid-commitment");
	spost(&r, &p.validator, "/v1/validators", "{}");
	refused(&r, 400, "invalid-request");
	reveal_post(&r, &p.validator, SEED_KAT);
	refused(&r, 409, "no-open-commitment");
	validator_get(&p.validator, 404);

	/* Commit to the known-answer seed. */
	commit_post(&r, &p.validator, SEED_KAT_HASH);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	j = validator_get(&p.validator, 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "seedCommitment")), SEED_KAT_HASH);
	cr_assert(json_integer_value(json_object_get(j, "committedAt")) > 0);
	cr_assert_null(json_object_get(j, "seed"), "the seed shows before its reveal");
	cr_assert_null(json_object_get(j, "revealedAt"));
	json_decref(j);
	/* A second commitment before the reveal is refused. */
	commit_post(&r, &p.validator, SEED_KAT_HASH);
	refused(&r, 409, "commitment-unrevealed");
	/* A seed that is not the committed one is refused. */
	reveal_post(&r, &p.validator, SEED_KAT_HASH);
	refused(&r, 422, "seed-mismatch");
	reveal_post(&r, &p.validator, "0xzz");
	refused(&r, 400, "invalid-seed");
	j = validator_get(&p.validator, 200);
	cr_assert_null(json_object_get(j, "seed"));
	json_decref(j);
	/* The right one. */
	reveal_post(&r, &p.validator, SEED_KAT);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "seed")), SEED_KAT);
	cr_assert_str_eq(json_string_value(json_object_get(j, "seedCommitment")), SEED_KAT_HASH);
	cr_assert(json_integer_value(json_object_get(j, "revealedAt")) >=
		  json_integer_value(json_object_get(j, "committedAt")));
	json_decref(j);
	hc_resp_free(&r);
	reveal_post(&r, &p.validator, SEED_KAT);
	refused(&r, 409, "no-open-commitment");
	/* After the reveal a new commitment is allowed, and becomes the one shown. */
	memset(s2, 0x5c, sizeof(s2));
	rcpt_keccak256(h2, s2, sizeof(s2));
	cr_assert_eq(rcpt_hex_encode(second_seed, sizeof(second_seed), s2, 32), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(second_hash, sizeof(second_hash), h2, 32), RCPT_OK);
	commit_post(&r, &p.validator, second_hash);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	j = validator_get(&p.validator, 200);
	cr_assert_str_eq(json_string_value(json_object_get(j, "seedCommitment")), second_hash);
	cr_assert_null(json_object_get(j, "seed"));
	json_decref(j);
	reveal_post(&r, &p.validator, second_seed);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	rcpt_address_format(a, p.validator.address);
	snprintf(q, sizeof(q), "account=%s", a);
	audit_events(events, sizeof(events), &p.validator, q);
	cr_assert(strstr(events, "validator-committed,validator-revealed,validator-committed,validator-revealed"),
		  "%s", events);
}

/* ---------------------------------------------------------------- fail and accept */

static void fail_post(struct hc_resp *r, const struct rcpt_key *k, const struct jobfx *f,
		      const char *body)
{
	char t[128];

	snprintf(t, sizeof(t), "/v1/jobs/%s/fail", f->id_hex);
	spost(r, k, t, body);
}

static void accept_post(struct hc_resp *r, const struct rcpt_key *k, const struct jobfx *f)
{
	char t[128];

	snprintf(t, sizeof(t), "/v1/jobs/%s/accept", f->id_hex);
	spost(r, k, t, "{}");
}

Test(escrow_ext, provider_fails_open_job, .fini = x_teardown, .timeout = 60)
{
	struct parties p;
	struct jobfx f, g;
	struct hc_resp r;
	struct bal c0, pv0, c1;
	char state[32], events[512], q[128];
	json_t *j;

	x_setup(30, 2);
	parties_setup(&p);
	c0 = balance_of(p.customer.address);
	pv0 = balance_of(p.provider.address);
	job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 1, 4, 4);
	job_open(&f);
	cr_assert_eq(balance_of(p.customer.address).available, c0.available - 1000);
	/* Only the provider, with a bounded printable reason. */
	fail_post(&r, &p.customer, &f, "{\"reason\":\"no gpu\"}");
	refused(&r, 403, "not-provider");
	fail_post(&r, &p.stranger, &f, "{\"reason\":\"no gpu\"}");
	refused(&r, 403, "not-provider");
	fail_post(&r, &p.provider, &f, "{\"reason\":\"bad\\u0001byte\"}");
	refused(&r, 400, "invalid-reason");
	{
		char body[300];
		memset(body, 'r', sizeof(body));
		memcpy(body, "{\"reason\":\"", 11);
		memcpy(body + 11 + 201, "\"}", 3);
		fail_post(&r, &p.provider, &f, body);
		refused(&r, 400, "invalid-reason");
	}
	fail_post(&r, &p.provider, &f, "{}");
	refused(&r, 400, "invalid-request");
	{
		char t[128], idem[48];
		snprintf(t, sizeof(t), "/v1/jobs/%s/fail", f.id_hex);
		post_idem(&r, t, fresh_idem(idem), "{\"reason\":\"x\"}");
		cr_assert_eq(r.status, 401, "%s", r.body);
		hc_resp_free(&r);
	}
	job_state(state, &f);
	cr_assert_str_eq(state, "open", "a refused fail moved the job");
	cr_assert_eq(balance_of(p.customer.address).available, c0.available - 1000);
	/* The provider fails it: full refund at once.  The same key again
	 * gets the same answer, byte for byte, and moves nothing more. */
	{
		char t[128], idem[48];
		struct hc_resp r2;
		snprintf(t, sizeof(t), "/v1/jobs/%s/fail", f.id_hex);
		fresh_idem(idem);
		signed_req(&r, &p.provider, "POST", t, idem, "{\"reason\":\"out of memory on device\"}");
		cr_assert_eq(r.status, 200, "%s", r.body);
		j = jparse(&r);
		cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "refunded", "%s", r.body);
		json_decref(j);
		signed_req(&r2, &p.provider, "POST", t, idem, "{\"reason\":\"out of memory on device\"}");
		cr_assert_eq(r2.status, 200, "%s", r2.body);
		cr_assert_eq(r2.body_len, r.body_len);
		cr_assert_eq(memcmp(r2.body, r.body, r.body_len), 0, "replay differs");
		hc_resp_free(&r2);
		signed_req(&r2, &p.provider, "POST", t, idem, "{\"reason\":\"another\"}");
		refused(&r2, 422, "idempotency-key-reused");
		hc_resp_free(&r);
	}
	wait_state(&f, "refunded");
	invariants_hold("after fail");
	c1 = balance_of(p.customer.address);
	cr_assert_eq(c1.available, c0.available, "customer refunded maxPrice in full");
	cr_assert(bal_eq(balance_of(p.provider.address), pv0), "provider balance moved");
	/* Twice, or a receipt after it: refused. */
	fail_post(&r, &p.provider, &f, "{\"reason\":\"again\"}");
	refused(&r, 409, "not-open");
	snprintf(q, sizeof(q), "job=%s", f.id_hex);
	audit_events(events, sizeof(events), &p.customer, q);
	cr_assert_str_eq(events, "opened,provider-failed,refunded");
	{
		json_t *e = audit_entry(&f, &p.provider, "provider-failed");
		cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "reason")),
				 "out of memory on device");
		json_decref(e);
	}
	/* A receipted job cannot be failed. */
	job_make(&g, &p, 1000, (uint64_t)time(NULL) + 60, 2, 4, 4);
	job_open(&g);
	receipt_make(&g, &p, 500, &g.out);
	receipt_post(&g);
	fail_post(&r, &p.provider, &g, "{\"reason\":\"late\"}");
	refused(&r, 409, "not-open");
	job_state(state, &g);
	cr_assert_str_eq(state, "receipted");
	/* Unknown job. */
	{
		struct jobfx h;
		job_make(&h, &p, 1000, (uint64_t)time(NULL) + 60, 3, 4, 4);
		fail_post(&r, &p.provider, &h, "{\"reason\":\"x\"}");
		refused(&r, 404, "job-not-found");
		jobfx_free(&h);
	}
	invariants_hold("at the end");
	jobfx_free(&f);
	jobfx_free(&g);
}

Test(escrow_ext, customer_accepts_early, .fini = x_teardown, .timeout = 60)
{
	struct parties p;
	struct jobfx f, g;
	struct hc_resp r;
	struct bal c0, pv0, c1, pv1;
	char state[32], events[512], q[128];
	json_t *j;

	x_setup(60, 30);
	parties_setup(&p);
	c0 = balance_of(p.customer.address);
	pv0 = balance_of(p.provider.address);
	job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 1, 4, 4);
	job_open(&f);
	/* Open: nothing to accept yet. */
	accept_post(&r, &p.customer, &f);
	refused(&r, 409, "not-receipted");
	receipt_make(&f, &p, 600, &f.out);
	receipt_post(&f);
	/* Only the customer; the body is an empty object. */
	accept_post(&r, &p.provider, &f);
	refused(&r, 403, "not-customer");
	accept_post(&r, &p.validator, &f);
	refused(&r, 403, "not-customer");
	{
		char t[128];
		snprintf(t, sizeof(t), "/v1/jobs/%s/accept", f.id_hex);
		spost(&r, &p.customer, t, "{\"now\":true}");
		refused(&r, 400, "invalid-request");
	}
	job_state(state, &f);
	cr_assert_str_eq(state, "receipted");
	cr_assert_eq(balance_of(p.customer.address).available, c0.available - 1000);
	accept_post(&r, &p.customer, &f);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "paid", "%s", r.body);
	json_decref(j);
	hc_resp_free(&r);
	invariants_hold("after accept");
	c1 = balance_of(p.customer.address);
	pv1 = balance_of(p.provider.address);
	cr_assert_eq(c1.available, c0.available - 600, "customer gets maxPrice - price back");
	cr_assert_eq(pv1.available, pv0.available + 600, "provider paid the price once");
	cr_assert_eq(pv1.stake, pv0.stake);
	accept_post(&r, &p.customer, &f);
	refused(&r, 409, "not-receipted");
	snprintf(q, sizeof(q), "job=%s", f.id_hex);
	audit_events(events, sizeof(events), &p.customer, q);
	cr_assert_str_eq(events, "opened,receipted,customer-accepted,paid");
	/* After acceptance no claim is taken. */
	claim_post(&r, &f, &p.validator, 2, NULL);
	refused(&r, 409, "window-closed");

	/* A disputed job cannot be accepted. */
	job_make(&g, &p, 1000, (uint64_t)time(NULL) + 60, 2, 4, 4);
	job_open(&g);
	receipt_make(&g, &p, 600, &g.out);
	receipt_post(&g);
	claim_post(&r, &g, &p.validator, 2, NULL);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	accept_post(&r, &p.customer, &g);
	refused(&r, 409, "dispute-open");
	job_state(state, &g);
	cr_assert_str_eq(state, "disputed");
	invariants_hold("at the end");
	jobfx_free(&f);
	jobfx_free(&g);
}

/* ---------------------------------------------------------------- evidence */

static char *evidence_json(uint64_t chunk, const uint8_t *data, size_t len,
			   uint8_t path[][RCPT_HASH_BYTES], size_t path_len)
{
	json_t *proof = json_array(), *o;
	char *d = b64(data, len), *out;
	size_t i;

	for (i = 0; i < path_len; i++) {
		char h[RCPT_HASH_HEX_BYTES];
		cr_assert_eq(rcpt_hex_encode(h, sizeof(h), path[i], 32), RCPT_OK);
		json_array_append_new(proof, json_string(h));
	}
	o = json_pack("{s:{s:I, s:s, s:o}}", "evidence", "chunk", (json_int_t)chunk, "data", d,
		      "proof", proof);
	out = json_dumps(o, JSON_COMPACT);
	/* Without the outer braces: a member list for claim_post. */
	memmove(out, out + 1, strlen(out));
	out[strlen(out) - 1] = '\0';
	json_decref(o);
	free(d);
	return out;
}

Test(escrow_ext, fraud_claim_evidence, .fini = x_teardown, .timeout = 90)
{
	struct parties p;
	struct jobfx f;
	struct hc_resp r;
	uint8_t *cheat, path[64][RCPT_HASH_BYTES], bad_path[64][RCPT_HASH_BYTES];
	size_t path_len = 0, clen, chunk_len;
	struct rcpt_commitment cc;
	struct bal pv0, c0;
	char state[32], *ev, *b;
	const uint8_t *chunk1;
	json_t *j, *d, *e;

	x_setup(30, 5);
	parties_setup(&p);
	c0 = balance_of(p.customer.address);
	pv0 = balance_of(p.provider.address);
	/* 100 x 400 floats: a 160 KB output over three chunks. */
	job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 7, 100, 400);
	cr_assert_gt(f.output_len, 2 * RCPT_CHUNK_BYTES);
	/* The provider's output differs from the honest one in chunk 1. */
	clen = f.output_len;
	cheat = malloc(clen);
	cr_assert(cheat);
	memcpy(cheat, f.output, clen);
	cheat[RCPT_CHUNK_BYTES + 100] ^= 0x40;
	cr_assert_eq(rcpt_commit_buf(&cc, cheat, clen), RCPT_OK);
	cr_assert_eq(rcpt_proof_buf(path, &path_len, cheat, clen, 1), RCPT_OK);
	cr_assert_geq(path_len, 2);
	chunk1 = cheat + RCPT_CHUNK_BYTES;
	chunk_len = RCPT_CHUNK_BYTES;
	job_open(&f);
	receipt_make(&f, &p, 600, &cc);
	receipt_post(&f);

	/* A chunk changed by one byte. */
	{
		uint8_t *t = malloc(chunk_len);
		memcpy(t, chunk1, chunk_len);
		t[5] ^= 1;
		ev = evidence_json(1, t, chunk_len, path, path_len);
		claim_post(&r, &f, &p.validator, 2, ev);
		refused(&r, 422, "invalid-evidence");
		free(ev);
		free(t);
	}
	/* The right chunk under another index, and an index past the end. */
	ev = evidence_json(2, chunk1, chunk_len, path, path_len);
	claim_post(&r, &f, &p.validator, 2, ev);
	refused(&r, 422, "invalid-evidence");
	free(ev);
	ev = evidence_json(3, chunk1, chunk_len, path, path_len);
	claim_post(&r, &f, &p.validator, 2, ev);
	refused(&r, 422, "invalid-evidence");
	free(ev);
	ev = evidence_json(0, chunk1, chunk_len, path, path_len);
	claim_post(&r, &f, &p.validator, 2, ev);
	refused(&r, 422, "invalid-evidence");
	free(ev);
	/* A proof with one hash changed, one missing, one too many. */
	memcpy(bad_path, path, sizeof(path));
	bad_path[0][31] ^= 1;
	ev = evidence_json(1, chunk1, chunk_len, bad_path, path_len);
	claim_post(&r, &f, &p.validator, 2, ev);
	refused(&r, 422, "invalid-evidence");
	free(ev);
	ev = evidence_json(1, chunk1, chunk_len, path, path_len - 1);
	claim_post(&r, &f, &p.validator, 2, ev);
	refused(&r, 422, "invalid-evidence");
	free(ev);
	memcpy(bad_path, path, sizeof(path));
	memset(bad_path[path_len], 0x11, 32);
	ev = evidence_json(1, chunk1, chunk_len, bad_path, path_len + 1);
	claim_post(&r, &f, &p.validator, 2, ev);
	refused(&r, 422, "invalid-evidence");
	free(ev);
	/* The honest chunk (what the validator computed) is not the provider's. */
	ev = evidence_json(1, f.output + RCPT_CHUNK_BYTES, chunk_len, path, path_len);
	claim_post(&r, &f, &p.validator, 2, ev);
	refused(&r, 422, "invalid-evidence");
	free(ev);
	/* Malformed evidence, and evidence with verdict 1. */
	claim_post(&r, &f, &p.validator, 2, "\"evidence\":{\"chunk\":1,\"data\":\"AAAA\",\"proof\":\"x\"}");
	refused(&r, 400, "invalid-evidence");
	claim_post(&r, &f, &p.validator, 2, "\"evidence\":{\"chunk\":-1,\"data\":\"AAAA\",\"proof\":[]}");
	refused(&r, 400, "invalid-evidence");
	claim_post(&r, &f, &p.validator, 2, "\"evidence\":{\"chunk\":1,\"data\":\"A!A=\",\"proof\":[]}");
	refused(&r, 400, "invalid-evidence");
	claim_post(&r, &f, &p.validator, 2,
		   "\"evidence\":{\"chunk\":1,\"data\":\"AAAA\",\"proof\":[],\"more\":1}");
	refused(&r, 400, "invalid-evidence");
	ev = evidence_json(1, chunk1, chunk_len, path, path_len);
	claim_post(&r, &f, &p.validator, 1, ev);
	refused(&r, 400, "invalid-evidence");
	/* Nothing was recorded by the refusals. */
	job_state(state, &f);
	cr_assert_str_eq(state, "receipted");
	j = job_get(&f);
	cr_assert_eq(json_array_size(json_object_get(j, "disputes")), 0);
	json_decref(j);

	/* The valid evidence, with the input: taken, recorded, decided. */
	{
		char *in = b64(f.input, f.input_len);
		size_t n = strlen(ev) + strlen(in) + 32;
		b = malloc(n);
		snprintf(b, n, "%s,\"input\":\"%s\"", ev, in);
		free(in);
	}
	claim_post(&r, &f, &p.validator, 2, b);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	free(b);
	free(ev);
	d = dispute_where(&j, &f, "kind", "fraud");
	cr_assert(d);
	e = json_object_get(d, "evidence");
	cr_assert(json_is_object(e), "evidence not recorded with the dispute");
	cr_assert_eq(json_integer_value(json_object_get(e, "chunk")), 1);
	cr_assert_eq(json_array_size(json_object_get(e, "proof")), path_len);
	cr_assert_null(json_object_get(e, "data"), "the chunk's bytes are kept");
	{
		uint8_t leaf[32], *buf = malloc(chunk_len + 1);
		char lh[RCPT_HASH_HEX_BYTES];
		buf[0] = 0;
		memcpy(buf + 1, chunk1, chunk_len);
		cr_assert_eq(rcpt_sha256(leaf, buf, chunk_len + 1), RCPT_OK);
		cr_assert_eq(rcpt_hex_encode(lh, sizeof(lh), leaf, 32), RCPT_OK);
		cr_assert_str_eq(json_string_value(json_object_get(e, "leafHash")), lh);
		free(buf);
		json_decref(j);
		e = audit_entry(&f, &p.customer, "dispute-opened");
		cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(e, "data"),
			"evidence"), "leafHash")), lh);
		json_decref(e);
	}
	wait_state(&f, "refunded");
	cr_assert_str_eq(wait_dispute(&f, "fraud", "provider_wrong", 1), "output-differs-from-receipt");
	invariants_hold("after the decision");
	cr_assert_eq(balance_of(p.customer.address).available, c0.available);
	cr_assert_eq(balance_of(p.provider.address).stake, pv0.stake / 2);
	free(cheat);
	jobfx_free(&f);
}

/* ---------------------------------------------------------------- the stub provider */

enum stub_mode { STUB_RIGHT, STUB_WRONG, STUB_404 };

/* Shared with the stub's polling thread. */
static struct {
	pthread_mutex_t mu;
	enum stub_mode mode;
	const struct jobfx *f;
	unsigned requests, foreign_signer, wrong_job;
} stub = { PTHREAD_MUTEX_INITIALIZER, STUB_RIGHT, NULL, 0, 0, 0 };

/* GET /v1/jobs/{id}/input, signed: serves the job's input to the escrow
 * (the domain's verifyingContract) only. */
static void stub_input(struct httpd_req *r, void *cls)
{
	const uint8_t *signer = httpd_req_signer(r);
	const char *id = httpd_req_param(r, 0);
	enum stub_mode mode;
	const struct jobfx *f;
	int foreign, other;

	(void)cls;
	pthread_mutex_lock(&stub.mu);
	f = stub.f;
	mode = stub.mode;
	foreign = !signer || memcmp(signer, X.addr, RCPT_ADDR_BYTES) != 0;
	other = !f || !id || strcmp(id, f->id_hex) != 0;
	stub.requests++;
	stub.foreign_signer += (unsigned)foreign;
	stub.wrong_job += (unsigned)other;
	pthread_mutex_unlock(&stub.mu);
	if (foreign) {
		httpd_reply_problem(r, 403, "forbidden", "not the escrow", NULL);
	} else if (other || mode == STUB_404) {
		httpd_reply_problem(r, 404, "job-not-found", "no such job", NULL);
	} else if (mode == STUB_WRONG) {
		uint8_t *w = malloc(f->input_len);
		memcpy(w, f->input, f->input_len);
		w[f->input_len - 1] ^= 0x01;
		httpd_reply_bytes(r, 200, "application/octet-stream", w, f->input_len);
		free(w);
	} else {
		httpd_reply_bytes(r, 200, "application/octet-stream", f->input, f->input_len);
	}
}

static const struct httpd_route stub_routes[] = {
	{ "GET", "/v1/jobs/{id}/input", stub_input, HTTPD_F_AUTH, 0 },
};

/* Starts the stub provider and registers its URL for p->provider. */
static void stub_start(const struct parties *p, const struct jobfx *f, enum stub_mode mode)
{
	struct httpd_config hc;
	char why[256] = "", url[64];
	struct hc_resp r;

	pthread_mutex_lock(&stub.mu);
	stub.f = f;
	stub.mode = mode;
	stub.requests = stub.foreign_signer = stub.wrong_job = 0;
	pthread_mutex_unlock(&stub.mu);
	memset(&hc, 0, sizeof(hc));
	hc.service = "stub-provider";
	hc.host = "127.0.0.1";
	hc.port = 0;
	hc.routes = stub_routes;
	hc.routes_len = sizeof(stub_routes) / sizeof(stub_routes[0]);
	hc.quiet = 1;
	cr_assert_eq(httpd_start(&stub_server, why, sizeof(why), &hc), HTTPD_OK, "%s", why);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)httpd_port(stub_server));
	provider_register(&r, &p->provider, url);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
}

static unsigned stub_requests(unsigned *foreign, unsigned *wrong_job)
{
	unsigned n;

	pthread_mutex_lock(&stub.mu);
	n = stub.requests;
	*foreign = stub.foreign_signer;
	*wrong_job = stub.wrong_job;
	pthread_mutex_unlock(&stub.mu);
	return n;
}

static void withheld_post(struct hc_resp *r, const struct rcpt_key *k, const struct jobfx *f,
			  const char *reason)
{
	char t[128], body[300];

	snprintf(t, sizeof(t), "/v1/jobs/%s/withheld", f->id_hex);
	snprintf(body, sizeof(body), "{\"reason\":\"%s\"}", reason);
	spost(r, k, t, body);
}

/* ---------------------------------------------------------------- withholding reports */

Test(escrow_ext, withheld_input_recovered_from_provider, .fini = x_teardown, .timeout = 90)
{
	struct parties p;
	struct jobfx f, g;
	struct hc_resp r;
	struct bal c0, pv0, v0, pv1, v1;
	unsigned n, foreign, wrong;
	char state[32];
	const char *reason;
	json_t *e;

	x_setup(30, 8);
	parties_setup(&p);
	c0 = balance_of(p.customer.address);
	pv0 = balance_of(p.provider.address);
	v0 = balance_of(p.validator.address);
	job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 11, 8, 8);
	job_open(&f);
	/* Before the receipt there is nothing to report. */
	withheld_post(&r, &p.validator, &f, "no input served");
	refused(&r, 409, "not-receipted");
	receipt_make(&f, &p, 600, &f.out);
	receipt_post(&f);
	/* The provider cannot report itself; an unstaked address cannot
	 * report; the reason is bounded. */
	withheld_post(&r, &p.provider, &f, "x");
	refused(&r, 403, "conflict-of-interest");
	withheld_post(&r, &p.stranger, &f, "x");
	refused(&r, 403, "validator-not-staked");
	{
		char longr[260];
		memset(longr, 'z', 201);
		longr[201] = '\0';
		withheld_post(&r, &p.validator, &f, longr);
		refused(&r, 400, "invalid-reason");
	}
	job_state(state, &f);
	cr_assert_str_eq(state, "receipted", "a refused report moved the job");

	stub_start(&p, &f, STUB_RIGHT);
	withheld_post(&r, &p.validator, &f, "GET /input answered 410 before settlement");
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	withheld_post(&r, &p.validator, &f, "again");
	refused(&r, 409, "already-reported");
	/* The referee fetched the input (signed by the escrow), re-ran the
	 * job, found the receipt right: closed, nobody slashed. */
	reason = wait_dispute(&f, "withheld", "input_recovered", 1);
	cr_assert_str_eq(reason, "output-matches-receipt");
	wait_state(&f, "receipted");
	n = stub_requests(&foreign, &wrong);
	cr_assert_geq(n, 1, "the referee never asked the provider");
	cr_assert_eq(foreign, 0, "a request not signed by the escrow reached the stub");
	cr_assert_eq(wrong, 0, "the referee asked for another job");
	invariants_hold("after the recovery");
	pv1 = balance_of(p.provider.address);
	v1 = balance_of(p.validator.address);
	cr_assert(bal_eq(pv1, pv0), "provider balance moved");
	cr_assert(bal_eq(v1, v0), "reporter balance moved");
	e = audit_entry(&f, &p.customer, "input-provided");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "source")),
			 "provider");
	json_decref(e);
	e = audit_entry(&f, &p.customer, "dispute-decided");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "data"), "outcome")),
			 "input-recovered");
	json_decref(e);
	/* The same validator may still claim fraud after the report (here a
	 * false one would be slashed; it is not made).  The customer ends
	 * the job: paid once, at its price. */
	accept_post(&r, &p.customer, &f);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	wait_state(&f, "paid");
	cr_assert_eq(balance_of(p.customer.address).available, c0.available - 600);
	cr_assert_eq(balance_of(p.provider.address).available, pv0.available + 600);
	/* A settled job takes no report. */
	withheld_post(&r, &p.validator, &f, "late");
	refused(&r, 409, "window-closed");

	/* A fraud claim without the input is decided with the fetched input
	 * (the provider's receipt is wrong: slashed for its output, not for
	 * withholding). */
	{
		struct rcpt_commitment bad = f.out;
		job_make(&g, &p, 1000, (uint64_t)time(NULL) + 60, 12, 8, 8);
		bad = g.out;
		bad.root[3] ^= 0x10;
		job_open(&g);
		receipt_make(&g, &p, 600, &bad);
		receipt_post(&g);
		pthread_mutex_lock(&stub.mu);
		stub.f = &g;
		pthread_mutex_unlock(&stub.mu);
		pv0 = balance_of(p.provider.address);
		v0 = balance_of(p.validator.address);
		claim_post(&r, &g, &p.validator, 2, NULL);
		cr_assert_eq(r.status, 201, "%s", r.body);
		hc_resp_free(&r);
		wait_state(&g, "refunded");
		reason = wait_dispute(&g, "fraud", "provider_wrong", 1);
		cr_assert_str_eq(reason, "output-differs-from-receipt");
		invariants_hold("after the fraud decision");
		cr_assert_eq(balance_of(p.provider.address).stake, pv0.stake / 2);
		cr_assert_eq(balance_of(p.validator.address).available, v0.available + pv0.stake / 2 / 5);
	}
	jobfx_free(&f);
	jobfx_free(&g);
}

/* The provider answers with wrong bytes (or not at all) until the referee
 * deadline: slashed, the customer refunded, the reporter paid a bounty. */
static void withheld_lost(enum stub_mode mode, unsigned nonce)
{
	struct parties p;
	struct jobfx f;
	struct hc_resp r;
	struct bal c0, pv0, v0, c1, pv1, v1;
	unsigned n, foreign, wrong;
	const char *reason;

	x_setup(30, 3);
	parties_setup(&p);
	c0 = balance_of(p.customer.address);
	job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, nonce, 8, 8);
	job_open(&f);
	receipt_make(&f, &p, 600, &f.out);
	receipt_post(&f);
	stub_start(&p, &f, mode);
	pv0 = balance_of(p.provider.address);
	v0 = balance_of(p.validator.address);
	withheld_post(&r, &p.validator, &f, "provider does not serve the input");
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	wait_state(&f, "refunded");
	reason = wait_dispute(&f, "withheld", "provider_wrong", 1);
	cr_assert_str_eq(reason, "input-withheld");
	n = stub_requests(&foreign, &wrong);
	cr_assert_geq(n, 1, "the referee never asked the provider");
	cr_assert_eq(foreign, 0, "a request not signed by the escrow reached the stub");
	/* At most once per 10 s per job: a 3 s deadline leaves room for one. */
	cr_assert_leq(n, 1, "the provider was asked %u times within 10 s", n);
	invariants_hold("after the decision");
	c1 = balance_of(p.customer.address);
	pv1 = balance_of(p.provider.address);
	v1 = balance_of(p.validator.address);
	cr_assert_eq(c1.available, c0.available, "customer refunded in full");
	cr_assert_eq(pv1.stake, pv0.stake / 2, "provider slashed");
	cr_assert_eq(pv1.available, pv0.available, "provider not paid");
	cr_assert_eq(v1.available, v0.available + pv0.stake / 2 / 5, "reporter's bounty");
	cr_assert_eq(v1.stake, v0.stake);
	jobfx_free(&f);
}

Test(escrow_ext, withheld_wrong_bytes_slash_provider, .fini = x_teardown, .timeout = 60)
{
	withheld_lost(STUB_WRONG, 21);
}

Test(escrow_ext, withheld_no_input_slashes_provider, .fini = x_teardown, .timeout = 60)
{
	withheld_lost(STUB_404, 22);
}

/* GET /v1/jobs pages by receipt time with a cursor. */
Test(escrow_ext, jobs_list_cursor, .fini = x_teardown, .timeout = 60)
{
	struct parties p;
	struct jobfx f;
	struct hc_resp r;
	char t[256];
	json_t *j, *first;
	json_int_t at;

	x_setup(30, 2);
	parties_setup(&p);
	job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 31, 4, 4);
	job_open(&f);
	receipt_make(&f, &p, 600, &f.out);
	receipt_post(&f);
	get(&r, "/v1/jobs?state=receipted&after=0");
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jparse(&r);
	first = json_array_get(json_object_get(j, "jobs"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(first, "id")), f.id_hex);
	at = json_integer_value(json_object_get(first, "receiptedAt"));
	cr_assert(at > 0);
	json_decref(j);
	hc_resp_free(&r);
	snprintf(t, sizeof(t), "/v1/jobs?state=receipted&after=%lld&afterId=%s", (long long)at,
		 f.id_hex);
	get(&r, t);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(strstr(r.body, "\"jobs\":[]"), "%s", r.body);
	hc_resp_free(&r);
	snprintf(t, sizeof(t), "/v1/jobs?state=receipted&after=%lld", (long long)at - 1);
	get(&r, t);
	cr_assert(strstr(r.body, f.id_hex), "%s", r.body);
	hc_resp_free(&r);
	get(&r, "/v1/jobs?state=receipted&after=-1");
	refused(&r, 400, "invalid-cursor");
	get(&r, "/v1/jobs?state=receipted&after=01");
	refused(&r, 400, "invalid-cursor");
	snprintf(t, sizeof(t), "/v1/jobs?state=receipted&afterId=%s", f.id_hex);
	get(&r, t);
	refused(&r, 400, "invalid-cursor");
	jobfx_free(&f);
}

/* ---------------------------------------------------------------- every new operation from every state */

enum xs { XS_OPEN, XS_RECEIPTED, XS_DISPUTED, XS_PAID, XS_REFUNDED, XS_N };
enum xo { XO_FAIL, XO_ACCEPT, XO_WITHHELD, XO_N };

static const char *const xs_name[XS_N] = { "open", "receipted", "disputed", "paid", "refunded" };

/* What each operation answers from each state, and the state after. */
static const struct {
	int status;
	const char *slug;      /* NULL on success */
	const char *after;
} xcell[XS_N][XO_N] = {
	[XS_OPEN] = {
		[XO_FAIL] = { 200, NULL, "refunded" },
		[XO_ACCEPT] = { 409, "not-receipted", "open" },
		[XO_WITHHELD] = { 409, "not-receipted", "open" },
	},
	[XS_RECEIPTED] = {
		[XO_FAIL] = { 409, "not-open", "receipted" },
		[XO_ACCEPT] = { 200, NULL, "paid" },
		[XO_WITHHELD] = { 201, NULL, "disputed" },
	},
	[XS_DISPUTED] = {
		[XO_FAIL] = { 409, "not-open", "disputed" },
		[XO_ACCEPT] = { 409, "dispute-open", "disputed" },
		[XO_WITHHELD] = { 201, NULL, "disputed" },
	},
	[XS_PAID] = {
		[XO_FAIL] = { 409, "not-open", "paid" },
		[XO_ACCEPT] = { 409, "not-receipted", "paid" },
		[XO_WITHHELD] = { 409, "window-closed", "paid" },
	},
	[XS_REFUNDED] = {
		[XO_FAIL] = { 409, "not-open", "refunded" },
		[XO_ACCEPT] = { 409, "not-receipted", "refunded" },
		[XO_WITHHELD] = { 409, "not-receipted", "refunded" },
	},
};

Test(escrow_ext, every_new_operation_from_every_state, .fini = x_teardown, .timeout = 90)
{
	struct parties p;
	struct hc_resp r;
	unsigned s, o, nonce = 100;

	/* Nothing moves on its own during the test: long window, deadline
	 * and referee deadline. */
	x_setup(120, 120);
	parties_setup(&p);
	faucet(&p.provider, 10000000);
	stake(&p.provider, 5000000);
	for (s = 0; s < XS_N; s++) {
		for (o = 0; o < XO_N; o++) {
			struct jobfx f;
			struct bal c0, pv0, v0;
			char state[32];
			job_make(&f, &p, 100, (uint64_t)time(NULL) + 120, nonce++, 2, 2);
			job_open(&f);
			if (s != XS_OPEN && s != XS_REFUNDED) {
				receipt_make(&f, &p, 60, &f.out);
				receipt_post(&f);
			}
			if (s == XS_DISPUTED) {
				claim_post(&r, &f, &p.validator, 2, NULL);
				cr_assert_eq(r.status, 201, "%s", r.body);
				hc_resp_free(&r);
			} else if (s == XS_PAID) {
				accept_post(&r, &p.customer, &f);
				cr_assert_eq(r.status, 200, "%s", r.body);
				hc_resp_free(&r);
			} else if (s == XS_REFUNDED) {
				fail_post(&r, &p.provider, &f, "{\"reason\":\"setup\"}");
				cr_assert_eq(r.status, 200, "%s", r.body);
				hc_resp_free(&r);
			}
			wait_state(&f, xs_name[s]);
			c0 = balance_of(p.customer.address);
			pv0 = balance_of(p.provider.address);
			v0 = balance_of(p.validator.address);
			if (o == XO_FAIL)
				fail_post(&r, &p.provider, &f, "{\"reason\":\"cell\"}");
			else if (o == XO_ACCEPT)
				accept_post(&r, &p.customer, &f);
			else
				withheld_post(&r, &p.validator, &f, "cell");
			if (xcell[s][o].slug)
				expect_problem(&r, xcell[s][o].status, xcell[s][o].slug);
			else
				cr_assert_eq(r.status, xcell[s][o].status, "%s from %s: %s",
					     o == XO_FAIL ? "fail" : o == XO_ACCEPT ? "accept" : "withheld",
					     xs_name[s], r.body);
			hc_resp_free(&r);
			wait_state(&f, xcell[s][o].after);
			job_state(state, &f);
			if (xcell[s][o].slug) {
				cr_assert(bal_eq(balance_of(p.customer.address), c0) &&
					  bal_eq(balance_of(p.provider.address), pv0) &&
					  bal_eq(balance_of(p.validator.address), v0),
					  "a refused %u from %s moved money", o, xs_name[s]);
			}
			invariants_hold(xs_name[s]);
			jobfx_free(&f);
		}
	}
}
