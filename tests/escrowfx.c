/*
 * escrowfx.c: the shared fixture for the suites that drive a real
 * assay-escrow over loopback (see escrowfx.h).  EFX is the one escrow of
 * the test process; every helper talks to EFX.port.
 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "chain.h"
#include "escrowfx.h"
#include "httpd.h"
#include "kernels.h"
#include "testutil.h"
#include "banned.h"

struct efx EFX;

static uint64_t efx_chain_id(const struct efx_config *c)
{
	return c->chain_id ? c->chain_id : EFX_CHAIN_ID;
}

/* ---------------------------------------------------------------- the service */

/* Appends "--NAME VALUE" to argv at *n when value is nonzero, VALUE
 * printed into buf. */
static void arg_u(const char **argv, size_t *n, char *buf, size_t len, const char *name,
		  uint64_t value)
{
	if (!value)
		return;
	snprintf(buf, len, "%" PRIu64, value);
	argv[(*n)++] = name;
	argv[(*n)++] = buf;
}

/* The escrow's command line for e's configuration, into argv (room for
 * 40) with its strings in buf. */
struct efx_args {
	char bin[512], window[24], referee[24], unbonding[24], sample[24], chain[24];
	char conn[600];
	const char *argv[40];
};

static void efx_argv(struct efx_args *x, const struct efx *e)
{
	char *bin = x->bin, *window = x->window, *referee = x->referee,
	     *unbonding = x->unbonding, *sample = x->sample, *chain = x->chain, *conn = x->conn;
	const char **argv = x->argv;
	const char *build = getenv("ASSAY_BUILD");
	size_t n = 0;

	cr_assert(build, "ASSAY_BUILD is not set");
	snprintf(bin, sizeof(x->bin), "%s/bin/assay-escrow", build);
	snprintf(conn, sizeof(x->conn), "%s", e->db.conninfo);
	{
		const char *const base[] = { bin, "--listen", "127.0.0.1:0", "--db", conn,
			"--key", e->key_path, "--devnet", "--min-stake", "1000",
			"--slash-bps", "5000", "--bounty-bps", "2000" };
		for (; n < sizeof(base) / sizeof(base[0]); n++)
			argv[n] = base[n];
	}
	arg_u(argv, &n, sample, sizeof(x->sample), "--sample-bps", e->cfg.sample_bps);
	arg_u(argv, &n, window, sizeof(x->window), "--challenge-window-s", e->cfg.window_s);
	arg_u(argv, &n, referee, sizeof(x->referee), "--referee-deadline-s", e->cfg.referee_s);
	arg_u(argv, &n, unbonding, sizeof(x->unbonding), "--unbonding-s", e->cfg.unbonding_s);
	arg_u(argv, &n, chain, sizeof(x->chain), "--chain-id", e->cfg.chain_id);
	if (!e->cfg.escrow_rates) {
		/* The exhaustive and race tests send hundreds of requests a
		 * second from one address. */
		argv[n++] = "--rate-per-s";
		argv[n++] = "100000";
		argv[n++] = "--rate-burst";
		argv[n++] = "100000";
	}
	if (e->cfg.quiet)
		argv[n++] = "--quiet";
	for (size_t i = 0; e->cfg.extra_args && e->cfg.extra_args[i]; i++) {
		cr_assert_lt(n + 1, sizeof(x->argv) / sizeof(x->argv[0]));
		argv[n++] = e->cfg.extra_args[i];
	}
	argv[n] = NULL;
	cr_assert_lt(n, sizeof(x->argv) / sizeof(x->argv[0]));
}

void efx_spawn(struct efx *e)
{
	struct efx_args x;
	struct tu_daemon d;

	efx_argv(&x, e);
	tu_daemon_start(&d, x.argv, e->log_path);
	e->pid = d.pid;
	e->port = (uint16_t)d.port;
	snprintf(e->url, sizeof(e->url), "%s", d.url);
}

int efx_try_spawn(struct efx *e)
{
	struct efx_args x;
	struct tu_daemon d;
	int st;

	efx_argv(&x, e);
	st = tu_daemon_try_start(&d, x.argv, e->log_path);
	if (st < 0) {
		e->pid = d.pid;
		e->port = (uint16_t)d.port;
		snprintf(e->url, sizeof(e->url), "%s", d.url);
	}
	return st;
}

void efx_stop(struct efx *e, int sig)
{
	int st;

	if (e->pid <= 0)
		return;
	kill(e->pid, sig);
	while (waitpid(e->pid, &st, 0) < 0 && errno == EINTR)
		;
	e->pid = 0;
}

void efx_setup(const struct efx_config *cfg)
{
	struct rcpt_key k;

	cr_assert(cfg);
	memset(&EFX, 0, sizeof(EFX));
	EFX.cfg = *cfg;
	cr_assert(!(cfg->alone && cfg->tablespace));
	if (cfg->alone)
		pgt_db_create_alone(&EFX.db);
	else if (cfg->tablespace)
		pgt_db_create_in(&EFX.db, cfg->tablespace);
	else
		pgt_db_create(&EFX.db);
	EFX.have_db = 1;
	tu_tmpdir(EFX.dir, sizeof(EFX.dir));
	snprintf(EFX.key_path, sizeof(EFX.key_path), "%s/escrow.key", EFX.dir);
	snprintf(EFX.log_path, sizeof(EFX.log_path), "%s/escrow.log", EFX.dir);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&k, NULL, EFX.key_path), RCPT_OK);
	memcpy(EFX.addr, k.address, RCPT_ADDR_BYTES);
	rcpt_key_wipe(&k);
	rcpt_domain_assay(&EFX.dom, efx_chain_id(cfg), EFX.addr);
	efx_spawn(&EFX);
}

/* chain_check_invariants on EFX's database; the reason into why. */
static enum chain_err efx_check(char *why, size_t why_len)
{
	struct chain *c = NULL;
	struct chain_params p;
	struct rcpt_diag diag;
	enum chain_err ce;

	memset(&p, 0, sizeof(p));
	p.chain_id = efx_chain_id(&EFX.cfg);
	p.devnet = 1;
	rcpt_u256_from_u64(&p.min_stake, EFX_MIN_STAKE);
	p.unbonding_s = EFX.cfg.unbonding_s;
	ce = chain_pg_open(&c, &diag, EFX.db.conninfo, &p, EFX.addr);
	if (ce == CHAIN_OK) {
		ce = chain_check_invariants(c, why, why_len);
		chain_free(c);
	} else {
		snprintf(why, why_len, "%s", diag.msg);
	}
	return ce;
}

void efx_invariants(const char *when)
{
	char why[512] = "";
	enum chain_err ce = efx_check(why, sizeof(why));

	cr_assert_eq(ce, CHAIN_OK, "ledger invariants %s: %s %s", when, chain_errname(ce), why);
}

void efx_teardown(void)
{
	efx_stop(&EFX, SIGTERM);
	if (EFX.inv_chain) {
		chain_free(EFX.inv_chain);
		EFX.inv_chain = NULL;
	}
	if (EFX.have_db) {
		char why[512] = "";
		enum chain_err ce = efx_check(why, sizeof(why));
		pgt_db_drop(&EFX.db);
		EFX.have_db = 0;
		cr_assert_eq(ce, CHAIN_OK, "ledger invariants: %s %s", chain_errname(ce), why);
	}
	/* ASSAY_TEST_KEEP=1 keeps the service's log for a post-mortem. */
	if (!EFX.dir[0])
		return;
	if (!getenv("ASSAY_TEST_KEEP"))
		tu_rmtree(EFX.dir);
	else
		fprintf(stderr, "escrowfx: kept %s\n", EFX.log_path);
}

/* After every mutating request, the ledger's invariants (issue 12:
 * "checked after every request in the escrow suites").  A database that
 * cannot be reached or is locked (the fault tests stop it, kill its
 * sessions, lock its rows) is no violation: those tests check again when
 * it is back, and efx_teardown always does. */
struct chain *efx_ledger(void)
{
	struct chain_params p;
	struct rcpt_diag diag;

	if (!EFX.inv_chain && EFX.have_db) {
		memset(&p, 0, sizeof(p));
		p.chain_id = efx_chain_id(&EFX.cfg);
		p.devnet = 1;
		rcpt_u256_from_u64(&p.min_stake, EFX_MIN_STAKE);
		p.unbonding_s = EFX.cfg.unbonding_s;
		if (chain_pg_open(&EFX.inv_chain, &diag, EFX.db.conninfo, &p, EFX.addr) != CHAIN_OK)
			EFX.inv_chain = NULL;
	}
	return EFX.inv_chain;
}

/* Tests send requests from several threads at once: one check at a
 * time on the one ledger handle. */
static pthread_mutex_t efx_check_mu = PTHREAD_MUTEX_INITIALIZER;

static void efx_after_request(const char *method, const char *target)
{
	char why[512] = "";
	enum chain_err ce = CHAIN_OK;
	int checked = 0;

	if (strcmp(method, "GET") == 0 || !EFX.have_db)
		return;
	pthread_mutex_lock(&efx_check_mu);
	if (efx_ledger()) {
		ce = chain_check_invariants(EFX.inv_chain, why, sizeof(why));
		checked = 1;
	}
	pthread_mutex_unlock(&efx_check_mu);
	if (!checked || ce == CHAIN_ERR_UNAVAILABLE || ce == CHAIN_ERR_CONFLICT)
		return;
	cr_assert_eq(ce, CHAIN_OK, "ledger invariants after %s %s: %s %s", method, target,
		     chain_errname(ce), why);
}

/* ---------------------------------------------------------------- HTTP */

json_t *efx_jparse(const struct hc_resp *r)
{
	json_t *j = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);

	cr_assert(j, "answer is not json (%d): %s", r->status, r->body);
	return j;
}

void efx_get(struct hc_resp *r, const char *target)
{
	cr_assert_eq(hc_request(r, EFX.port, "GET", target, NULL, NULL, 0), 0,
		     "GET %s: no answer", target);
}

void efx_post_idem(struct hc_resp *r, const char *target, const char *idem, const char *body)
{
	char h[128];
	const char *hdrs[2] = { h, NULL };

	cr_assert(idem && body);
	snprintf(h, sizeof(h), "Idempotency-Key: %s", idem);
	cr_assert_eq(hc_request(r, EFX.port, "POST", target, hdrs, body, strlen(body)), 0,
		     "POST %s: no answer", target);
	efx_after_request("POST", target);
}

void efx_signed_req(struct hc_resp *r, const struct rcpt_key *k, const char *method,
		    const char *target, const char *idem, const char *body,
		    const char *as, long ts_off)
{
	struct httpd_auth_headers a;
	char h1[96], h2[64], h3[200], h4[128];
	const char *hdrs[5] = { h1, h2, h3, idem ? h4 : NULL, NULL };
	size_t bl = body ? strlen(body) : 0;

	cr_assert_eq(httpd_auth_sign(&a, k, method, target, (uint64_t)((long)time(NULL) + ts_off),
				     idem, body, bl), HTTPD_OK);
	snprintf(h1, sizeof(h1), "Assay-Address: %s", as ? as : a.address);
	snprintf(h2, sizeof(h2), "Assay-Timestamp: %s", a.timestamp);
	snprintf(h3, sizeof(h3), "Assay-Signature: %s", a.signature);
	if (idem)
		snprintf(h4, sizeof(h4), "Idempotency-Key: %s", idem);
	cr_assert_eq(hc_request(r, EFX.port, method, target, hdrs, body, bl), 0,
		     "%s %s: no answer", method, target);
	efx_after_request(method, target);
}

void efx_req(struct hc_resp *r, const struct rcpt_key *k, const char *method,
	     const char *target, const char *body)
{
	char idem[48];
	int mut = strcmp(method, "GET") != 0;

	if (k)
		efx_signed_req(r, k, method, target, mut ? efx_fresh_idem(idem) : NULL, body,
			       NULL, 0);
	else if (mut)
		efx_post_idem(r, target, efx_fresh_idem(idem), body);
	else
		efx_get(r, target);
}

void efx_spost(struct hc_resp *r, const struct rcpt_key *k, const char *target,
	       const char *body)
{
	efx_req(r, k, "POST", target, body);
}

void efx_expect_problem(const struct hc_resp *r, int status, const char *slug)
{
	json_t *j;
	char type[128];

	cr_assert_eq(r->status, status, "status %d, want %d (%s): %s", r->status, status,
		     slug, r->body);
	cr_assert_str_eq(r->ctype, "application/problem+json");
	j = efx_jparse(r);
	snprintf(type, sizeof(type), "urn:assay:problem:%s", slug);
	cr_assert_str_eq(json_string_value(json_object_get(j, "type")), type, "%s", r->body);
	json_decref(j);
}

void efx_refused(struct hc_resp *r, int status, const char *slug)
{
	efx_expect_problem(r, status, slug);
	hc_resp_free(r);
}

static unsigned idem_counter;

const char *efx_fresh_idem(char buf[48])
{
	snprintf(buf, 48, "t-%ld-%u", (long)getpid(), idem_counter++);
	return buf;
}

char *efx_b64(const uint8_t *p, size_t n)
{
	char *s = malloc(n * 2 + 8);

	cr_assert(s);
	EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	return s;
}

/* ---------------------------------------------------------------- accounts */

struct efx_bal efx_balance_of(const uint8_t who[RCPT_ADDR_BYTES])
{
	char a[RCPT_ADDR_HEX_BYTES], t[96];
	struct hc_resp r;
	struct efx_bal b;
	json_t *j;

	rcpt_address_format(a, who);
	snprintf(t, sizeof(t), "/v1/accounts/%s", a);
	efx_get(&r, t);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = efx_jparse(&r);
	b.available = strtoull(json_string_value(json_object_get(j, "available")), NULL, 10);
	b.stake = strtoull(json_string_value(json_object_get(j, "stake")), NULL, 10);
	b.unbonding = strtoull(json_string_value(json_object_get(j, "unbonding")), NULL, 10);
	json_decref(j);
	hc_resp_free(&r);
	return b;
}

int efx_bal_eq(struct efx_bal a, struct efx_bal b)
{
	return a.available == b.available && a.stake == b.stake && a.unbonding == b.unbonding;
}

void efx_faucet(const struct rcpt_key *k, uint64_t amount)
{
	char a[RCPT_ADDR_HEX_BYTES], body[160], idem[48];
	struct hc_resp r;

	rcpt_address_format(a, k->address);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"%" PRIu64 "\"}", a, amount);
	efx_post_idem(&r, "/v1/faucet", efx_fresh_idem(idem), body);
	cr_assert_eq(r.status, 200, "faucet: %s", r.body);
	hc_resp_free(&r);
}

void efx_stake(const struct rcpt_key *k, uint64_t amount)
{
	char body[64];
	struct hc_resp r;

	snprintf(body, sizeof(body), "{\"amount\":\"%" PRIu64 "\"}", amount);
	efx_spost(&r, k, "/v1/stake", body);
	cr_assert_eq(r.status, 200, "stake: %s", r.body);
	hc_resp_free(&r);
}

void efx_parties_setup(struct efx_parties *p, uint64_t stranger_amount)
{
	cr_assert_eq(rcpt_key_generate(&p->customer), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&p->provider), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&p->validator), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&p->stranger), RCPT_OK);
	efx_faucet(&p->customer, 100000);
	efx_faucet(&p->provider, 200000);
	efx_stake(&p->provider, 100000);
	efx_faucet(&p->validator, 50000);
	efx_stake(&p->validator, 10000);
	if (stranger_amount)
		efx_faucet(&p->stranger, stranger_amount);
}

/* ---------------------------------------------------------------- jobs */

void efx_job_sign(struct efx_job *f, const struct efx_parties *p)
{
	cr_assert_eq(rcpt_job_id(f->id, NULL, &EFX.dom, &f->job), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(f->sig, &p->customer, f->id), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(f->id_hex, sizeof(f->id_hex), f->id, 32), RCPT_OK);
}

/* f (zeroed) for `kernel` ("{}" params) on the input tensors `in`: the
 * input serialised, the honest output computed on the CPU (one thread)
 * and committed to, the job statement filled and signed. */
void efx_job_make_kernel(struct efx_job *f, const struct efx_parties *p, const char *kernel,
			 const struct kern_tensors *in, const char *params,
			 const struct kern_tensors *model, uint64_t max_price, uint64_t deadline,
			 uint64_t nonce)
{
	const struct kern_info *ki = kern_find(kernel);
	struct kern_tensors outt;
	struct kern_diag kd;
	struct rcpt_commitment c;
	struct kern_run_opts opts = { KERN_DEVICE_CPU, 1, model };
	char dev[KERN_DEVICE_BYTES];

	memset(f, 0, sizeof(*f));
	cr_assert(ki, "no kernel %s", kernel);
	kern_tensors_init(&outt);
	cr_assert_eq(kern_st_serialize(&f->input, &f->input_len, &kd, in), KERN_OK);
	cr_assert_eq(kern_run(&outt, dev, &kd, kernel, in, params, strlen(params), &opts), KERN_OK,
		     "%s", kd.msg);
	cr_assert_eq(kern_st_serialize(&f->output, &f->output_len, &kd, &outt), KERN_OK);
	cr_assert_eq(rcpt_commit_buf(&f->out, f->output, f->output_len), RCPT_OK);
	kern_tensors_release(&outt);
	cr_assert_eq(rcpt_commit_buf(&c, f->input, f->input_len), RCPT_OK);

	memcpy(f->job.customer, p->customer.address, 20);
	memcpy(f->job.provider, p->provider.address, 20);
	snprintf(f->job.kernel, sizeof(f->job.kernel), "%s", kernel);
	memcpy(f->job.kernel_hash, ki->hash, 32);
	snprintf(f->job.params, sizeof(f->job.params), "%s", params);
	memcpy(f->job.input_root, c.root, 32);
	f->job.input_size = c.size;
	rcpt_u256_from_u64(&f->job.max_price, max_price);
	f->job.deadline = deadline;
	f->job.nonce = nonce;
	efx_job_sign(f, p);
}

void efx_job_make_sum(struct efx_job *f, const struct efx_parties *p, float x3,
		      uint64_t max_price, uint64_t deadline, uint64_t nonce)
{
	struct kern_tensors in;
	struct kern_diag kd;
	float x[4] = { 1, 2, 3, x3 };
	uint64_t shape[1] = { 4 };

	kern_tensors_init(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, &kd, "x", KERN_DT_F32, 1, shape, x), KERN_OK);
	efx_job_make_kernel(f, p, "reduce_sum_f32@1", &in, "{}", NULL, max_price, deadline, nonce);
	kern_tensors_release(&in);
}

void efx_job_make(struct efx_job *f, const struct efx_parties *p, uint64_t max_price,
		  uint64_t deadline, uint64_t nonce)
{
	efx_job_make_sum(f, p, (float)nonce, max_price, deadline, nonce);
}

void efx_job_make_softmax(struct efx_job *f, const struct efx_parties *p,
			  uint64_t max_price, uint64_t deadline, uint64_t nonce,
			  uint64_t rows, uint64_t cols)
{
	struct kern_tensors in;
	struct kern_diag kd;
	uint64_t shape[2] = { rows, cols }, i;
	float *x = calloc(rows * cols, sizeof(float));

	cr_assert(x);
	for (i = 0; i < rows * cols; i++)
		x[i] = (float)((i * 7 + nonce * 13) % 17) / 8.0f;
	kern_tensors_init(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, &kd, "x", KERN_DT_F32, 2, shape, x), KERN_OK);
	efx_job_make_kernel(f, p, "softmax_f32@1", &in, "{}", NULL, max_price, deadline, nonce);
	kern_tensors_release(&in);
	free(x);
}

void efx_job_free(struct efx_job *f)
{
	free(f->input);
	free(f->output);
	f->input = f->output = NULL;
}

char *efx_job_body(const struct rcpt_job *job, const uint8_t sig[RCPT_SIG_BYTES],
		   const char *extra)
{
	char *jt = NULL, sh[RCPT_SIG_HEX_BYTES], *out;
	size_t n;

	cr_assert_eq(rcpt_job_to_json(&jt, job), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), sig, 65), RCPT_OK);
	n = strlen(jt) + 512 + (extra ? strlen(extra) : 0);
	out = malloc(n);
	cr_assert(out);
	snprintf(out, n, "{\"job\":%s,\"jobSignature\":\"%s\"%s}", jt, sh, extra ? extra : "");
	free(jt);
	return out;
}

void efx_job_open(struct efx_job *f, const char *idem)
{
	char *b = efx_job_body(&f->job, f->sig, NULL), fresh[48];
	struct hc_resp r;

	efx_post_idem(&r, "/v1/jobs", idem ? idem : efx_fresh_idem(fresh), b);
	cr_assert_eq(r.status, 201, "open: %s", r.body);
	cr_assert(strstr(r.body, f->id_hex), "%s", r.body);
	hc_resp_free(&r);
	free(b);
}

void efx_receipt_make_for(struct efx_job *f, const struct efx_parties *p, uint64_t price,
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
	efx_receipt_sign(f, p);
}

void efx_receipt_sign(struct efx_job *f, const struct efx_parties *p)
{
	cr_assert_eq(rcpt_receipt_id(f->receipt_id, NULL, &EFX.dom, &f->receipt), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(f->receipt_sig, &p->provider, f->receipt_id), RCPT_OK);
}

void efx_receipt_make(struct efx_job *f, const struct efx_parties *p, uint64_t price, int cheat)
{
	struct rcpt_commitment oc = f->out;

	if (cheat)
		oc.root[0] ^= 0x5a;
	efx_receipt_make_for(f, p, price, &oc);
}

char *efx_receipt_body(const struct efx_job *f, char target[128])
{
	char *rt = NULL, sh[RCPT_SIG_HEX_BYTES], *b;
	size_t n;

	cr_assert_eq(rcpt_receipt_to_json(&rt, &f->receipt), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), f->receipt_sig, 65), RCPT_OK);
	n = strlen(rt) + 256;
	b = malloc(n);
	cr_assert(b);
	snprintf(b, n, "{\"receipt\":%s,\"receiptSignature\":\"%s\"}", rt, sh);
	snprintf(target, 128, "/v1/jobs/%s/receipt", f->id_hex);
	free(rt);
	return b;
}

void efx_receipt_post(struct hc_resp *resp, const struct efx_job *f, const char *idem)
{
	char t[128], *b = efx_receipt_body(f, t);

	efx_post_idem(resp, t, idem, b);
	free(b);
}

void efx_receipt_post_ok(const struct efx_job *f)
{
	char idem[48];
	struct hc_resp r;

	efx_receipt_post(&r, f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "receipt: %s", r.body);
	hc_resp_free(&r);
}

char *efx_claim_body(const struct efx_job *f, const struct rcpt_key *v,
		     const uint8_t output_root[32], int verdict, const char *extra)
{
	struct rcpt_attestation a;
	uint8_t dg[32], sig[65];
	char *at = NULL, sh[RCPT_SIG_HEX_BYTES], *b;
	size_t n;

	memset(&a, 0, sizeof(a));
	memcpy(a.receipt, f->receipt_id, 32);
	memcpy(a.output_root, output_root, 32);
	a.verdict = (uint8_t)verdict;
	memcpy(a.validator, v->address, 20);
	cr_assert_eq(rcpt_attestation_digest(dg, NULL, &EFX.dom, &a), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(sig, v, dg), RCPT_OK);
	cr_assert_eq(rcpt_attestation_to_json(&at, &a), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), sig, 65), RCPT_OK);
	n = strlen(at) + 256 + (extra ? strlen(extra) : 0);
	b = malloc(n);
	cr_assert(b);
	snprintf(b, n, "{\"attestation\":%s,\"signature\":\"%s\"%s%s}", at, sh,
		 extra ? "," : "", extra ? extra : "");
	free(at);
	return b;
}

void efx_claim_post(struct hc_resp *resp, const struct efx_job *f, const struct rcpt_key *v,
		    const uint8_t output_root[32], int verdict, const char *extra)
{
	char t[128], idem[48], *b = efx_claim_body(f, v, output_root, verdict, extra);

	snprintf(t, sizeof(t), "/v1/jobs/%s/attestations", f->id_hex);
	efx_post_idem(resp, t, efx_fresh_idem(idem), b);
	free(b);
}

char *efx_input_member(const struct efx_job *f)
{
	char *b64 = efx_b64(f->input, f->input_len), *m;
	size_t n = strlen(b64) + 16;

	m = malloc(n);
	cr_assert(m);
	snprintf(m, n, "\"input\":\"%s\"", b64);
	free(b64);
	return m;
}

json_t *efx_job_get(const struct efx_job *f)
{
	char t[128];
	struct hc_resp r;
	json_t *j;

	snprintf(t, sizeof(t), "/v1/jobs/%s", f->id_hex);
	efx_get(&r, t);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = efx_jparse(&r);
	hc_resp_free(&r);
	return j;
}

void efx_job_state(char out[32], const struct efx_job *f)
{
	json_t *j = efx_job_get(f);

	snprintf(out, 32, "%s", json_string_value(json_object_get(j, "state")));
	json_decref(j);
}

void efx_job_state_or_none(char out[32], const struct efx_job *f)
{
	char t[128];
	struct hc_resp r;
	json_t *j;

	snprintf(t, sizeof(t), "/v1/jobs/%s", f->id_hex);
	efx_get(&r, t);
	if (r.status == 404) {
		snprintf(out, 32, "none");
	} else {
		cr_assert_eq(r.status, 200, "%s", r.body);
		j = efx_jparse(&r);
		snprintf(out, 32, "%s", json_string_value(json_object_get(j, "state")));
		json_decref(j);
	}
	hc_resp_free(&r);
}

void efx_wait_state(const struct efx_job *f, const char *want)
{
	char last[32] = "";
	unsigned wait_ms = EFX.cfg.wait_ms ? EFX.cfg.wait_ms : EFX_WAIT_MS, i;

	for (i = 0; i < wait_ms / 100; i++) {
		efx_job_state(last, f);
		if (strcmp(last, want) == 0)
			return;
		usleep(100 * 1000);
	}
	{
		char tail[2048];
		tu_file_tail_skip(tail, sizeof(tail), EFX.log_path, 12, "method=GET");
		cr_assert_fail("job stayed '%s', want '%s'; the escrow's log ends:\n%s", last, want,
			       tail);
	}
}

void efx_snap_take(struct efx_snap *s, const struct efx_parties *p, const struct efx_job *f)
{
	s->c = efx_balance_of(p->customer.address);
	s->pv = efx_balance_of(p->provider.address);
	s->v = efx_balance_of(p->validator.address);
	efx_job_state_or_none(s->state, f);
}

void efx_snap_same(const struct efx_snap *a, const struct efx_snap *b, const char *what)
{
	cr_assert_str_eq(a->state, b->state, "%s: job went from %s to %s", what, a->state, b->state);
	cr_assert(efx_bal_eq(a->c, b->c), "%s: customer balance moved", what);
	cr_assert(efx_bal_eq(a->pv, b->pv), "%s: provider balance moved", what);
	cr_assert(efx_bal_eq(a->v, b->v), "%s: validator balance moved", what);
}

json_t *efx_flags(const struct rcpt_key *op, const char *rule,
		  const uint8_t who[RCPT_ADDR_BYTES])
{
	struct hc_resp r;
	json_t *j, *out = json_array(), *f;
	char a[RCPT_ADDR_HEX_BYTES];
	size_t i;

	cr_assert(out);
	rcpt_address_format(a, who);
	efx_signed_req(&r, op, "GET", "/v1/operator/anomalies", NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = efx_jparse(&r);
	hc_resp_free(&r);
	json_array_foreach(json_object_get(j, "flags"), i, f)
		if (strcmp(json_string_value(json_object_get(f, "rule")), rule) == 0 &&
		    strcmp(json_string_value(json_object_get(f, "address")), a) == 0)
			json_array_append(out, f);
	json_decref(j);
	return out;
}

json_t *efx_flag_wait(const struct rcpt_key *op, const char *rule,
		      const uint8_t who[RCPT_ADDR_BYTES], size_t want)
{
	json_t *fl = NULL, *first;

	for (int k = 0; k < 50; k++) {
		json_decref(fl);
		fl = efx_flags(op, rule, who);
		if (json_array_size(fl) == want)
			break;
		usleep(200 * 1000);
	}
	cr_assert_eq(json_array_size(fl), want, "%s flags", rule);
	first = want ? json_incref(json_array_get(fl, 0)) : NULL;
	json_decref(fl);
	return first;
}

PGconn *efx_db_conn(void)
{
	PGconn *c = PQconnectdb(EFX.db.conninfo);

	cr_assert(c && PQstatus(c) == CONNECTION_OK, "%s", c ? PQerrorMessage(c) : "no memory");
	return c;
}

char *efx_db_value(const char *sql)
{
	PGconn *c = efx_db_conn();
	PGresult *res = PQexec(c, sql);
	char *v;

	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	cr_assert_eq(PQntuples(res), 1, "%s", sql);
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(c);
	return v;
}

int efx_log_has(const char *needle)
{
	uint8_t *log = NULL;
	size_t len = 0;
	int found;

	tu_read_file(EFX.log_path, &log, &len);
	found = memmem(log, len, needle, strlen(needle)) != NULL;
	free(log);
	return found;
}

double efx_metric(const char *family)
{
	struct hc_resp r;
	char line[128];
	const char *at;
	double v = -1;

	efx_get(&r, "/metrics");
	cr_assert_eq(r.status, 200);
	snprintf(line, sizeof(line), "\n%s ", family);
	at = strstr(r.body, line);
	if (at)
		v = strtod(at + strlen(line), NULL);
	hc_resp_free(&r);
	return v;
}
