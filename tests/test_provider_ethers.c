/*
 * test_provider_ethers.c: assay-provider and assay-escrow on loopback
 * against the private PostgreSQL, driven by customers that are not this
 * process's C code.
 *
 *   provider_ethers: tests/e2e/customer.mjs, an ethers.js wallet, signs
 *     in to both services (EIP-4361), funds itself, signs its JobSpec
 *     with signTypedData, uploads and downloads.  What it brings back is
 *     checked here by independent means: the bundle by `assay receipt
 *     verify --input --output`, the output against kern_run on the CPU
 *     in this process.  Skipped when node or ethers is missing (as
 *     test_siwe.c's ethers test: `npm ci` only when node_modules is
 *     missing).
 *   provider_load: the bounded queue.  With one worker and a queue of
 *     one, a third upload while one job runs and one waits is answered
 *     503 queue-full with Retry-After, and once retried every job still
 *     ends receipted.
 *
 * The fixture is the minimum of test_provider.c's (escrow, provider,
 * signed requests from the test's own keys), with sign-in enabled.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "httpd_client.h"
#include "kernels.h"
#include "pgutil.h"
#include "receipts.h"
#include "svcutil.h"
#include "testutil.h"

#include "banned.h"

#define PE_PRICE "10"
#define PE_MAX_PRICE 40
#define PE_WAIT_MS 120000
/* Sign-in names: a message must carry exactly these (docs/api-auth.md);
 * they need not resolve. */
#define PE_ESC_DOMAIN "escrow.assay.test"
#define PE_ESC_URI "https://escrow.assay.test/signin"
#define PE_PROV_DOMAIN "provider.assay.test"
#define PE_PROV_URI "https://provider.assay.test/signin"

struct pe {
	struct pgt_db db;
	char dir[256];
	struct tu_daemon esc, prov;
	char esc_log[320], prov_log[320], pdata[320];
	char k_cust[320], k_prov[320];
	struct rcpt_key cust, provk;
	struct rcpt_domain dom;
};

/* ---------------------------------------------------------------- HTTP */

/* ---------------------------------------------------------------- fixture */

static void setup(struct pe *t)
{
	char bin[512], key[320];
	struct rcpt_key ek;
	struct httpd_client_resp r;
	uint8_t vc[RCPT_ADDR_BYTES];
	const char *build = getenv("ASSAY_BUILD");

	memset(t, 0, sizeof(*t));
	cr_assert(build, "ASSAY_BUILD is not set (run through make test)");
	pgt_db_create(&t->db);
	tu_tmpdir(t->dir, sizeof(t->dir));
	snprintf(t->esc_log, sizeof(t->esc_log), "%s/escrow.log", t->dir);
	snprintf(t->prov_log, sizeof(t->prov_log), "%s/provider.log", t->dir);
	snprintf(t->pdata, sizeof(t->pdata), "%s/pdata", t->dir);
	su_key_file(t->k_cust, sizeof(t->k_cust), &t->cust, t->dir, "customer");
	su_key_file(t->k_prov, sizeof(t->k_prov), &t->provk, t->dir, "provider");
	snprintf(bin, sizeof(bin), "%s/bin/assay-escrow", build);
	su_key_file(key, sizeof(key), &ek, t->dir, "escrow");
	rcpt_key_wipe(&ek);
	{
		const char *argv[] = { bin, "--listen", "127.0.0.1:0", "--db", t->db.conninfo,
			"--key", key, "--devnet", "--min-stake", "1000", "--chain-id", "31337",
			"--challenge-window-s", "30", "--referee-deadline-s", "2",
			"--unbonding-s", "40", "--rate-per-s", "10000", "--rate-burst", "10000",
			"--siwe-domain", PE_ESC_DOMAIN, "--siwe-uri", PE_ESC_URI, "--quiet", NULL };
		tu_daemon_start(&t->esc, argv, t->esc_log);
	}
	su_call(&r, "GET", t->esc.url, "/v1/params", NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(rcpt_address_parse(vc, httpd_client_str(&r, "verifyingContract")), RCPT_OK);
	rcpt_domain_assay(&t->dom, (uint64_t)json_integer_value(json_object_get(r.json, "chainId")), vc);
	httpd_client_resp_free(&r);
	/* The provider needs the escrow's minimum stake before it starts,
	 * and enough for several open jobs at once (the escrow bounds a
	 * provider's open maxPrice by sampling rate x slash share x stake). */
	su_faucet(t->esc.url, &t->provk, "1000000");
	su_stake(t->esc.url, &t->provk, "500000");
}

/* Starts the provider with sign-in enabled and extra flags
 * (NULL-terminated, at most 8). */
static void provider_start(struct pe *t, const char *const extra[])
{
	char bin[512];
	const char *argv[40];
	size_t n = 0;

	snprintf(bin, sizeof(bin), "%s/bin/assay-provider", getenv("ASSAY_BUILD"));
	argv[n++] = bin;
	argv[n++] = "--listen"; argv[n++] = "127.0.0.1:0";
	argv[n++] = "--key"; argv[n++] = t->k_prov;
	argv[n++] = "--escrow"; argv[n++] = t->esc.url;
	argv[n++] = "--data"; argv[n++] = t->pdata;
	argv[n++] = "--price"; argv[n++] = PE_PRICE;
	argv[n++] = "--janitor-period-s"; argv[n++] = "1";
	argv[n++] = "--rate-per-s"; argv[n++] = "10000";
	argv[n++] = "--rate-burst"; argv[n++] = "10000";
	argv[n++] = "--siwe-domain"; argv[n++] = PE_PROV_DOMAIN;
	argv[n++] = "--siwe-uri"; argv[n++] = PE_PROV_URI;
	argv[n++] = "--quiet";
	for (size_t i = 0; extra && extra[i] && n < 39; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	tu_daemon_start(&t->prov, argv, t->prov_log);
}

static void teardown(struct pe *t)
{
	tu_daemon_stop(&t->prov);
	tu_daemon_stop(&t->esc);
	rcpt_key_wipe(&t->cust);
	rcpt_key_wipe(&t->provk);
	pgt_db_drop(&t->db);
	tu_rmtree(t->dir);
}

/* ---------------------------------------------------------------- inputs */

/* Fills n floats from a fixed LCG, values in about [-2, 2]. */
static void fill(float *v, uint64_t n, uint32_t seed)
{
	for (uint64_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		v[i] = (float)((int32_t)(seed >> 8) % 2000) / 997.0f;
	}
}

/* A safetensors file of up to three F32 tensors (name NULL: absent). */
static void make_input(uint8_t **out, size_t *len, uint32_t seed, const char *n0, uint32_t r0,
		       const uint64_t *s0, const char *n1, uint32_t r1, const uint64_t *s1,
		       const char *n2, uint32_t r2, const uint64_t *s2)
{
	struct kern_tensors s;
	const char *names[3] = { n0, n1, n2 };
	const uint32_t ranks[3] = { r0, r1, r2 };
	const uint64_t *shapes[3] = { s0, s1, s2 };

	kern_tensors_init(&s);
	for (int i = 0; i < 3 && names[i]; i++) {
		struct kern_tensor *x;
		uint64_t n = 1;
		cr_assert_eq(kern_tensors_add(&s, &x, NULL, names[i], KERN_DT_F32, ranks[i],
					      shapes[i], NULL), KERN_OK);
		for (uint32_t d = 0; d < ranks[i]; d++)
			n *= shapes[i][d];
		x = (struct kern_tensor *)kern_tensors_find(&s, names[i]);
		fill((float *)x->data, n, seed + (uint32_t)i);
	}
	cr_assert_eq(kern_st_serialize(out, len, NULL, &s), KERN_OK);
	kern_tensors_release(&s);
}

/* ---------------------------------------------------------------- jobs (C customer) */

struct job {
	struct rcpt_job spec;
	uint8_t sig[RCPT_SIG_BYTES];
	uint8_t id[RCPT_HASH_BYTES];
	char idh[RCPT_HASH_HEX_BYTES];
};

static void make_job(struct pe *t, struct job *j, const char *kernel, const char *params,
		     const uint8_t *in, size_t in_len)
{
	const struct kern_info *ki = kern_find(kernel);
	struct rcpt_commitment c;
	struct rcpt_diag d;

	memset(j, 0, sizeof(*j));
	cr_assert(ki);
	memcpy(j->spec.customer, t->cust.address, RCPT_ADDR_BYTES);
	memcpy(j->spec.provider, t->provk.address, RCPT_ADDR_BYTES);
	snprintf(j->spec.kernel, sizeof(j->spec.kernel), "%s", kernel);
	memcpy(j->spec.kernel_hash, ki->hash, RCPT_HASH_BYTES);
	snprintf(j->spec.params, sizeof(j->spec.params), "%s", params);
	cr_assert_eq(rcpt_commit_buf(&c, in, in_len), RCPT_OK);
	memcpy(j->spec.input_root, c.root, RCPT_HASH_BYTES);
	j->spec.input_size = c.size;
	rcpt_u256_from_u64(&j->spec.max_price, PE_MAX_PRICE);
	j->spec.deadline = (uint64_t)time(NULL) + 600;
	cr_assert_eq(getrandom(&j->spec.nonce, sizeof(j->spec.nonce), 0), (ssize_t)sizeof(j->spec.nonce));
	j->spec.nonce &= (1ull << 53) - 1;
	cr_assert_eq(rcpt_job_id(j->id, &d, &t->dom, &j->spec), RCPT_OK, "%s", d.msg);
	cr_assert_eq(rcpt_sign_digest(j->sig, &t->cust, j->id), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(j->idh, sizeof(j->idh), j->id, RCPT_HASH_BYTES), RCPT_OK);
}

static json_t *job_body(const struct job *j)
{
	char *jt = NULL, sig[RCPT_SIG_HEX_BYTES];
	json_t *o;

	cr_assert_eq(rcpt_job_to_json(&jt, &j->spec), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sig, sizeof(sig), j->sig, RCPT_SIG_BYTES), RCPT_OK);
	o = json_pack("{s:o, s:s}", "job", json_loads(jt, 0, NULL), "jobSignature", sig);
	free(jt);
	return o;
}

/* Opens j at the escrow and submits it to the provider. */
static void open_and_submit(struct pe *t, const struct job *j)
{
	struct httpd_client_resp r;

	cr_assert_eq(su_post_json(&r, t->esc.url, "/v1/jobs", job_body(j), &t->cust), 201, "%s",
		     r.body);
	httpd_client_resp_free(&r);
	cr_assert_eq(su_post_json(&r, t->prov.url, "/v1/jobs", job_body(j), &t->cust), 201, "%s",
		     r.body);
	httpd_client_resp_free(&r);
}

static void put_input(struct pe *t, struct httpd_client_resp *r, const struct job *j,
		      const uint8_t *in, size_t len)
{
	char target[128];

	snprintf(target, sizeof(target), "/v1/jobs/%s/input", j->idh);
	su_call(r, "PUT", t->prov.url, target, in, len, "application/octet-stream", NULL, 0);
}

/* The job's status at the provider (as its customer). */
static void status_of(struct pe *t, const struct job *j, char *got, size_t got_len)
{
	struct httpd_client_resp r;
	char target[128];

	snprintf(target, sizeof(target), "/v1/jobs/%s", j->idh);
	su_call(&r, "GET", t->prov.url, target, NULL, 0, NULL, &t->cust, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(httpd_client_str(&r, "status"), "%s", r.body);
	snprintf(got, got_len, "%s", httpd_client_str(&r, "status"));
	httpd_client_resp_free(&r);
}

/* Polls until the status is `want` or final; the last status in got. */
static void wait_status(struct pe *t, const struct job *j, const char *want, char *got,
			size_t got_len)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };

	for (int i = 0; i < PE_WAIT_MS / 20; i++) {
		status_of(t, j, got, got_len);
		if (strcmp(got, want) == 0 || strcmp(got, "failed") == 0 ||
		    strcmp(got, "settled") == 0)
			return;
		nanosleep(&ts, NULL);
	}
}

static void escrow_state(struct pe *t, const char *idh, char *state, size_t len)
{
	struct httpd_client_resp r;
	char target[128];

	snprintf(target, sizeof(target), "/v1/jobs/%s", idh);
	su_call(&r, "GET", t->esc.url, target, NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(state, len, "%s", httpd_client_str(&r, "state"));
	httpd_client_resp_free(&r);
}

/* ---------------------------------------------------------------- provider_ethers */

Test(provider_ethers, ethers_wallet_job_end_to_end, .timeout = 240)
{
	static const char *const params = "{\"relu\":true}";
	struct pe t;
	uint64_t sa[2] = { 200, 300 }, sb[2] = { 300, 100 }, sbias[1] = { 100 };
	uint8_t *in, *ref, *out;
	size_t in_len, ref_len, out_len;
	char gen[512], script[512], p_in[400], p_out[400], p_bundle[400], kh[RCPT_HASH_HEX_BYTES];
	char cmd[1024], st[64], want[100];
	const struct kern_info *ki = kern_find("matmul_f32@1");
	struct tu_run run;
	json_t *ans;
	const char *job;

	setup(&t);
	provider_start(&t, NULL);
	/* About 360 KiB: six chunks, so the JavaScript commitment walks an
	 * uneven Merkle tree. */
	make_input(&in, &in_len, 11, "a", 2, sa, "b", 2, sb, "bias", 1, sbias);
	su_reference(&ref, &ref_len, "matmul_f32@1", in, in_len, params);
	snprintf(p_in, sizeof(p_in), "%s/in.safetensors", t.dir);
	snprintf(p_out, sizeof(p_out), "%s/out.safetensors", t.dir);
	snprintf(p_bundle, sizeof(p_bundle), "%s/bundle.json", t.dir);
	tu_write_file(p_in, in, in_len, 0600);
	cr_assert(ki);
	cr_assert_eq(rcpt_hex_encode(kh, sizeof(kh), ki->hash, RCPT_HASH_BYTES), RCPT_OK);
	tu_src(gen, sizeof(gen), "tests/vectors/gen");
	tu_src(script, sizeof(script), "tests/e2e/customer.mjs");

	/* 77: no node; 78: no ethers and no way to install it. */
	snprintf(cmd, sizeof(cmd),
		 "command -v node >/dev/null 2>&1 || exit 77; cd \"$1\" || exit 78; "
		 "if [ ! -d node_modules/ethers ]; then command -v npm >/dev/null 2>&1 || exit 78; "
		 "npm ci --no-audit --no-fund >/dev/null 2>&1 || exit 78; fi; shift; "
		 "exec node \"$@\"");
	{
		const char *argv[] = { "/bin/sh", "-c", cmd, "sh", gen, script,
			"--escrow", t.esc.url, "--provider", t.prov.url, "--key", t.k_cust,
			"--escrow-domain", PE_ESC_DOMAIN, "--escrow-uri", PE_ESC_URI,
			"--provider-domain", PE_PROV_DOMAIN, "--provider-uri", PE_PROV_URI,
			"--input", p_in, "--kernel", "matmul_f32@1", "--params", params,
			"--kernel-hash", kh, "--bundle-out", p_bundle, "--output-out", p_out,
			"--fund", "100000", "--max-price", "40", NULL };
		tu_run(&run, argv);
	}
	if (run.status == 77 || run.status == 78) {
		fprintf(stderr, "test_provider_ethers: %s: the ethers.js customer was skipped\n",
			run.status == 77 ? "node not found" : "ethers not installable");
		tu_run_free(&run);
		free(in);
		free(ref);
		teardown(&t);
		cr_skip_test("ethers.js customer skipped (%s)", run.status == 77 ? "no node" : "no ethers");
	}
	cr_assert_eq(run.status, 0, "customer.mjs failed: %s(see %s and %s)", run.err, t.esc_log,
		     t.prov_log);
	ans = json_loads(run.out, 0, NULL);
	cr_assert(ans, "customer.mjs printed: %s", run.out);
	job = json_string_value(json_object_get(ans, "job"));
	cr_assert(job && strlen(job) == 66, "%s", run.out);
	{
		char a[RCPT_ADDR_HEX_BYTES];
		rcpt_address_format(a, t.cust.address);
		cr_assert_str_eq(json_string_value(json_object_get(ans, "customer")), a);
	}

	/* The bundle verifies with our verifier, for that job, against the
	 * input we wrote and the output the wallet downloaded. */
	{
		const char *argv[] = { tu_assay(), "receipt", "verify", p_bundle, "--input", p_in,
			"--output", p_out, NULL };
		struct tu_run v;
		tu_run(&v, argv);
		cr_assert_eq(v.status, 0, "assay receipt verify: %s", v.err);
		cr_assert(strstr(v.out, "\"valid\":true"), "%s", v.out);
		snprintf(want, sizeof(want), "\"job\":\"%s\"", job);
		cr_assert(strstr(v.out, want), "%s", v.out);
		tu_run_free(&v);
	}
	/* The output's bytes are the CPU reference's. */
	tu_read_file(p_out, &out, &out_len);
	cr_assert_eq(out_len, ref_len);
	cr_assert(memcmp(out, ref, ref_len) == 0, "output differs from the CPU reference");
	/* And the escrow holds the receipt. */
	escrow_state(&t, job, st, sizeof(st));
	cr_assert_str_eq(st, "receipted");
	fprintf(stderr, "test_provider_ethers: ethers.js wallet %s ran job %.18s.. end to end\n",
		json_string_value(json_object_get(ans, "customer")), job);
	json_decref(ans);
	tu_run_free(&run);
	free(in);
	free(ref);
	free(out);
	teardown(&t);
}

/* ---------------------------------------------------------------- provider_load */

/* conv2d_f32@1, x F32[1,64,128,128] and w F32[256,64,7,7]: 7.1 MiB of
 * input (under the provider's 8 MiB), about 13 GFLOP, which one core
 * takes seconds over (2.3 s measured on the 2-core build machine), while
 * the two uploads that must happen while it runs take milliseconds.
 * Under the sanitizers (about 20 times slower) 32 output channels keep
 * it at seconds too. */
#define PE_CONV_PARAMS "{\"padding\":[3,3],\"stride\":[1,1]}"
#if defined(__SANITIZE_ADDRESS__)
#define PE_CONV_OUT 32
#else
#define PE_CONV_OUT 256
#endif

Test(provider_load, queue_full_is_503_with_retry_after_and_no_job_is_lost, .timeout = 240)
{
	struct pe t;
	struct job ja, jb, jc;
	struct httpd_client_resp r;
	uint64_t sx[4] = { 1, 64, 128, 128 }, sw[4] = { PE_CONV_OUT, 64, 7, 7 };
	uint64_t sa[2] = { 16, 16 };
	uint8_t *big, *small_b, *small_c;
	size_t big_len, b_len, c_len;
	const char *extra[] = { "--workers", "1", "--queue-max", "1", NULL };
	char st[64];
	unsigned retries = 0;
	double t0;

	setup(&t);
	provider_start(&t, extra);
	su_faucet(t.esc.url, &t.cust, "100000");
	make_input(&big, &big_len, 3, "x", 4, sx, "w", 4, sw, NULL, 0, NULL);
	cr_assert_lt(big_len, 8u << 20);
	make_input(&small_b, &b_len, 5, "a", 2, sa, "b", 2, sa, NULL, 0, NULL);
	make_input(&small_c, &c_len, 7, "a", 2, sa, "b", 2, sa, NULL, 0, NULL);
	make_job(&t, &ja, "conv2d_f32@1", PE_CONV_PARAMS, big, big_len);
	make_job(&t, &jb, "matmul_f32@1", "{\"relu\":false}", small_b, b_len);
	make_job(&t, &jc, "matmul_f32@1", "{\"relu\":false}", small_c, c_len);
	open_and_submit(&t, &ja);
	open_and_submit(&t, &jb);
	open_and_submit(&t, &jc);

	/* A holds the one worker... */
	put_input(&t, &r, &ja, big, big_len);
	cr_assert_eq(r.status, 202, "%s", r.body);
	httpd_client_resp_free(&r);
	t0 = (double)time(NULL);
	wait_status(&t, &ja, "running", st, sizeof(st));
	cr_assert_str_eq(st, "running", "see %s", t.prov_log);
	/* ...B fills the queue of one... */
	put_input(&t, &r, &jb, small_b, b_len);
	cr_assert_eq(r.status, 202, "%s", r.body);
	httpd_client_resp_free(&r);
	status_of(&t, &jb, st, sizeof(st));
	cr_assert_str_eq(st, "queued");
	/* ...so C is turned away, with a time to come back. */
	put_input(&t, &r, &jc, small_c, c_len);
	if (r.status != 503) {
		char sa_st[64];
		status_of(&t, &ja, sa_st, sizeof(sa_st));
		cr_assert_fail("third upload answered %ld (job A is %s: it finished before the "
			       "uploads that should have found it running): %s", r.status, sa_st,
			       r.body);
	}
	cr_assert_str_eq(r.problem_type, "urn:assay:problem:queue-full", "%s", r.body);
	cr_assert_geq(r.retry_after_s, 1u);
	cr_assert_leq(r.retry_after_s, 3600u);
	httpd_client_resp_free(&r);
	/* Nothing about C was stored: it still awaits its input. */
	status_of(&t, &jc, st, sizeof(st));
	cr_assert_str_eq(st, "awaiting-input");

	/* Retried as told, C gets in. */
	for (;;) {
		put_input(&t, &r, &jc, small_c, c_len);
		if (r.status != 503)
			break;
		cr_assert_str_eq(r.problem_type, "urn:assay:problem:queue-full");
		cr_assert_geq(r.retry_after_s, 1u);
		cr_assert_lt(++retries, 60u, "still refused after 60 retries");
		sleep(r.retry_after_s > 5 ? 5 : r.retry_after_s);
		httpd_client_resp_free(&r);
	}
	cr_assert_eq(r.status, 202, "%s", r.body);
	httpd_client_resp_free(&r);

	/* No job lost: all three receipted, here and at the escrow. */
	{
		const struct job *all[3] = { &ja, &jb, &jc };
		for (int i = 0; i < 3; i++) {
			char es[64];
			wait_status(&t, all[i], "receipted", st, sizeof(st));
			cr_assert_str_eq(st, "receipted", "job %d (see %s)", i, t.prov_log);
			escrow_state(&t, all[i]->idh, es, sizeof(es));
			cr_assert_str_eq(es, "receipted");
		}
	}
	fprintf(stderr, "test_provider_ethers: queue-full refused a third upload; %u retries; "
		"all receipted %.0f s after the first upload\n", retries, (double)time(NULL) - t0);
	free(big);
	free(small_b);
	free(small_c);
	teardown(&t);
}
