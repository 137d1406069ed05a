/*
 * test_provider.c: assay-provider against a real escrow and PostgreSQL on
 * loopback, with real signatures (docs/provider.md).
 *
 * The customer here is this test process: it signs JobSpecs with the
 * receipts library and talks HTTP with the shared client.  What it checks
 * comes from elsewhere: the output against kern_run on the CPU in this
 * process (the kernels' own suite checks that against float64
 * references), the bundle with `assay receipt verify`, the money with the
 * escrow's own accounts.  tests/e2e/customer.mjs repeats the happy path
 * with an ethers.js wallet (test_provider_ethers below).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <argon2.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gpt2fx.h"
#include "httpd_client.h"
#include "kernels.h"
#include "pgutil.h"
#include "receipts.h"
#include "svcutil.h"
#include "testutil.h"

#include "banned.h"

#define PRICE 10
#define MAX_PRICE 40
#define WAIT_MS 60000

struct pv {
	struct pgt_db db;
	char dir[256];
	struct tu_daemon esc, prov;
	char esc_log[320], prov_log[320], pdata[320];
	char k_cust[320], k_prov[320], k_val[320], k_other[320];
	struct rcpt_key cust, provk, val, other;
	struct rcpt_domain dom;
};

/* ---------------------------------------------------------------- HTTP */

static void addr_of(char out[RCPT_ADDR_HEX_BYTES], const struct rcpt_key *k)
{
	rcpt_address_format(out, k->address);
}

/* The escrow account's field ("available", "stake") as a number. */
static unsigned long long account(struct pv *t, const struct rcpt_key *k, const char *field)
{
	struct httpd_client_resp r;
	char a[RCPT_ADDR_HEX_BYTES], target[96];
	unsigned long long v;
	const char *s;

	addr_of(a, k);
	snprintf(target, sizeof(target), "/v1/accounts/%s", a);
	su_call(&r, "GET", t->esc.url, target, NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	s = httpd_client_str(&r, field);
	cr_assert(s, "%s", r.body);
	v = strtoull(s, NULL, 10);
	httpd_client_resp_free(&r);
	return v;
}

/* ---------------------------------------------------------------- fixture */

static void setup(struct pv *t, const char *chain_id)
{
	memset(t, 0, sizeof(*t));
	pgt_db_create(&t->db);
	tu_tmpdir(t->dir, sizeof(t->dir));
	snprintf(t->esc_log, sizeof(t->esc_log), "%s/escrow.log", t->dir);
	snprintf(t->prov_log, sizeof(t->prov_log), "%s/provider.log", t->dir);
	snprintf(t->pdata, sizeof(t->pdata), "%s/pdata", t->dir);
	su_key_file(t->k_cust, sizeof(t->k_cust), &t->cust, t->dir, "customer");
	su_key_file(t->k_prov, sizeof(t->k_prov), &t->provk, t->dir, "provider");
	su_key_file(t->k_val, sizeof(t->k_val), &t->val, t->dir, "validator");
	su_key_file(t->k_other, sizeof(t->k_other), &t->other, t->dir, "other");
	su_escrow_start(&t->esc, t->dir, t->db.conninfo, chain_id, t->esc_log);
	{
		struct httpd_client_resp r;
		uint8_t vc[RCPT_ADDR_BYTES];
		su_call(&r, "GET", t->esc.url, "/v1/params", NULL, 0, NULL, NULL, 0);
		cr_assert_eq(r.status, 200);
		cr_assert_eq(rcpt_address_parse(vc, httpd_client_str(&r, "verifyingContract")), RCPT_OK);
		rcpt_domain_assay(&t->dom, (uint64_t)json_integer_value(json_object_get(r.json, "chainId")), vc);
		httpd_client_resp_free(&r);
	}
	su_faucet(t->esc.url, &t->cust, "100000");
	su_faucet(t->esc.url, &t->other, "100000");
	su_faucet(t->esc.url, &t->provk, "5000");
	su_faucet(t->esc.url, &t->val, "5000");
	su_stake(t->esc.url, &t->provk, "2000");
	su_stake(t->esc.url, &t->val, "2000");
}

/* Starts the provider with extra flags (NULL-terminated, at most 8);
 * returns like tu_daemon_try_start. */
static int provider_try(struct pv *t, const char *const extra[])
{
	char bin[512];
	const char *argv[32];
	size_t n = 0;
	const char *build = getenv("ASSAY_BUILD");

	snprintf(bin, sizeof(bin), "%s/bin/assay-provider", build);
	argv[n++] = bin;
	argv[n++] = "--listen"; argv[n++] = "127.0.0.1:0";
	argv[n++] = "--key"; argv[n++] = t->k_prov;
	argv[n++] = "--escrow"; argv[n++] = t->esc.url;
	argv[n++] = "--data"; argv[n++] = t->pdata;
	argv[n++] = "--price"; argv[n++] = "10";
	argv[n++] = "--janitor-period-s"; argv[n++] = "1";
	argv[n++] = "--rate-per-s"; argv[n++] = "10000";
	argv[n++] = "--rate-burst"; argv[n++] = "10000";
	for (size_t i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	return tu_daemon_try_start(&t->prov, argv, t->prov_log);
}

static void provider_start(struct pv *t, const char *const extra[])
{
	cr_assert_eq(provider_try(t, extra), -1, "assay-provider did not start (see %s)",
		     t->prov_log);
}

static void teardown(struct pv *t)
{
	/* A clean exit: under ASan a leak or an error is a non-zero status. */
	if (t->prov.pid > 0)
		cr_assert_eq(tu_daemon_stop(&t->prov), 0, "assay-provider did not exit cleanly (see %s)",
			     t->prov_log);
	cr_assert_eq(tu_daemon_stop(&t->esc), 0, "assay-escrow did not exit cleanly (see %s)",
		     t->esc_log);
	rcpt_key_wipe(&t->cust);
	rcpt_key_wipe(&t->provk);
	rcpt_key_wipe(&t->val);
	rcpt_key_wipe(&t->other);
	pgt_db_drop(&t->db);
	tu_rmtree(t->dir);
}

/* ---------------------------------------------------------------- jobs */

/* A matmul input: a F32[m,k], b F32[k,n], values from a fixed LCG. */
static void matmul_input(uint8_t **out, size_t *len, uint64_t m, uint64_t k, uint64_t n,
			 uint32_t seed)
{
	struct kern_tensors s;
	struct kern_tensor *ta, *tb;
	uint64_t sa[2] = { m, k }, sb[2] = { k, n };

	kern_tensors_init(&s);
	cr_assert_eq(kern_tensors_add(&s, &ta, NULL, "a", KERN_DT_F32, 2, sa, NULL), KERN_OK);
	cr_assert_eq(kern_tensors_add(&s, &tb, NULL, "b", KERN_DT_F32, 2, sb, NULL), KERN_OK);
	ta = (struct kern_tensor *)kern_tensors_find(&s, "a");
	for (uint64_t i = 0; i < m * k + k * n; i++) {
		seed = seed * 1664525u + 1013904223u;
		float v = (float)((int32_t)(seed >> 8) % 2000) / 997.0f;
		if (i < m * k)
			((float *)ta->data)[i] = v;
		else
			((float *)tb->data)[i - m * k] = v;
	}
	cr_assert_eq(kern_st_serialize(out, len, NULL, &s), KERN_OK);
	kern_tensors_release(&s);
}

struct job {
	struct rcpt_job spec;
	uint8_t sig[RCPT_SIG_BYTES];
	uint8_t id[RCPT_HASH_BYTES];
	char idh[RCPT_HASH_HEX_BYTES];
};

static void make_job(struct pv *t, struct job *j, const struct rcpt_key *cust,
		     const uint8_t provider[RCPT_ADDR_BYTES], const char *kernel,
		     const char *params, const uint8_t *in, size_t in_len)
{
	const struct kern_info *ki = kern_find(kernel);
	struct rcpt_commitment c;
	struct rcpt_diag d;

	memset(j, 0, sizeof(*j));
	cr_assert(ki);
	memcpy(j->spec.customer, cust->address, RCPT_ADDR_BYTES);
	memcpy(j->spec.provider, provider, RCPT_ADDR_BYTES);
	snprintf(j->spec.kernel, sizeof(j->spec.kernel), "%s", kernel);
	memcpy(j->spec.kernel_hash, ki->hash, RCPT_HASH_BYTES);
	snprintf(j->spec.params, sizeof(j->spec.params), "%s", params);
	cr_assert_eq(rcpt_commit_buf(&c, in, in_len), RCPT_OK);
	memcpy(j->spec.input_root, c.root, RCPT_HASH_BYTES);
	j->spec.input_size = c.size;
	rcpt_u256_from_u64(&j->spec.max_price, MAX_PRICE);
	j->spec.deadline = (uint64_t)time(NULL) + 600;
	cr_assert_eq(getrandom(&j->spec.nonce, sizeof(j->spec.nonce), 0), (ssize_t)sizeof(j->spec.nonce));
	j->spec.nonce &= (1ull << 53) - 1;
	cr_assert_eq(rcpt_job_id(j->id, &d, &t->dom, &j->spec), RCPT_OK, "%s", d.msg);
	cr_assert_eq(rcpt_sign_digest(j->sig, cust, j->id), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(j->idh, sizeof(j->idh), j->id, RCPT_HASH_BYTES), RCPT_OK);
}

static json_t *job_body(const struct job *j)
{
	char *jt = NULL, sig[RCPT_SIG_HEX_BYTES];

	cr_assert_eq(rcpt_job_to_json(&jt, &j->spec), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sig, sizeof(sig), j->sig, RCPT_SIG_BYTES), RCPT_OK);
	json_t *o = json_pack("{s:o, s:s}", "job", json_loads(jt, 0, NULL), "jobSignature", sig);
	free(jt);
	return o;
}

static long escrow_open(struct pv *t, const struct job *j, const struct rcpt_key *k)
{
	struct httpd_client_resp r;
	long st = su_post_json(&r, t->esc.url, "/v1/jobs", job_body(j), k);

	httpd_client_resp_free(&r);
	return st;
}

static long prov_submit(struct pv *t, const struct job *j, const struct rcpt_key *k,
			char *ptype, size_t ptype_len)
{
	struct httpd_client_resp r;
	long st = su_post_json(&r, t->prov.url, "/v1/jobs", job_body(j), k);

	if (ptype)
		snprintf(ptype, ptype_len, "%s", r.problem_type);
	if (st >= 400)
		cr_log_info("POST /v1/jobs answered %ld: %s", st, r.body);
	httpd_client_resp_free(&r);
	return st;
}

static long prov_put_input(struct pv *t, const struct job *j, const uint8_t *in, size_t len,
			   struct httpd_client_resp *keep)
{
	struct httpd_client_resp r;
	char target[128];
	long st;

	snprintf(target, sizeof(target), "/v1/jobs/%s/input", j->idh);
	su_call(&r, "PUT", t->prov.url, target, in, len, "application/octet-stream", NULL, 0);
	st = r.status;
	if (keep)
		*keep = r;
	else
		httpd_client_resp_free(&r);
	return st;
}

/* GET target on the provider as key; the answer in *r. */
static void prov_get(struct pv *t, struct httpd_client_resp *r, const char *idh,
		     const char *what, const struct rcpt_key *k)
{
	char target[160];

	snprintf(target, sizeof(target), "/v1/jobs/%s%s%s", idh, what[0] ? "/" : "", what);
	su_call(r, "GET", t->prov.url, target, NULL, 0, NULL, k, 0);
}

/* Polls the job's status until it is `want` (or a final one); returns it. */
static void wait_status(struct pv *t, const struct job *j, const char *want, char *got,
			size_t got_len)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	for (int i = 0; i < WAIT_MS / 50; i++) {
		struct httpd_client_resp r;
		const char *s;
		prov_get(t, &r, j->idh, "", &t->cust);
		cr_assert_eq(r.status, 200, "%s", r.body);
		s = httpd_client_str(&r, "status");
		cr_assert(s);
		snprintf(got, got_len, "%s", s);
		httpd_client_resp_free(&r);
		if (strcmp(got, want) == 0 || strcmp(got, "failed") == 0 ||
		    strcmp(got, "settled") == 0)
			return;
		nanosleep(&ts, NULL);
	}
}

static void escrow_state(struct pv *t, const struct job *j, char *state, size_t len)
{
	struct httpd_client_resp r;
	char target[128];

	snprintf(target, sizeof(target), "/v1/jobs/%s", j->idh);
	su_call(&r, "GET", t->esc.url, target, NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(state, len, "%s", httpd_client_str(&r, "state"));
	httpd_client_resp_free(&r);
}

/* 1 when needle occurs in any file under dir. */
static int found_under(const char *dir, const uint8_t *needle, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int hit = 0;

	cr_assert(d);
	while (!hit && (e = readdir(d))) {
		char path[1024];
		struct stat st;
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cr_assert_eq(lstat(path, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			hit = found_under(path, needle, n);
		} else if (S_ISREG(st.st_mode)) {
			uint8_t *buf = malloc((size_t)st.st_size + 1);
			int fd = open(path, O_RDONLY);
			ssize_t got = fd >= 0 ? read(fd, buf, (size_t)st.st_size) : -1;
			cr_assert(buf && got == st.st_size);
			close(fd);
			hit = memmem(buf, (size_t)got, needle, n) != NULL;
			free(buf);
		}
	}
	closedir(d);
	return hit;
}

static void write_file(const char *dir, const char *name, const void *data, size_t len,
		       char *path, size_t path_len)
{
	snprintf(path, path_len, "%s/%s", dir, name);
	tu_write_file(path, data, len, 0600);
}

/* ---------------------------------------------------------------- tests */

static const char *const auto_device[] = { "--device", "auto", NULL };

Test(provider, job_end_to_end_bundle_verifies_and_output_is_the_reference, .timeout = 180)
{
	struct pv t;
	struct job j;
	struct httpd_client_resp r;
	uint8_t *in, *ref;
	size_t in_len, ref_len;
	char st[96], p_in[400], p_out[400], p_bundle[400];
	unsigned long long cust0, prov0;

	setup(&t, "31337");
	/* --device auto on a machine without a GPU worker: the cpu, and the
	 * same bytes as the reference (checked below). */
	provider_start(&t, auto_device);
	matmul_input(&in, &in_len, 24, 40, 16, 7);
	su_reference(&ref, &ref_len, "matmul_f32@1", in, in_len, "{\"relu\":false}");
	make_job(&t, &j, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);

	/* Not funded yet: the provider refuses it. */
	cr_assert_eq(prov_submit(&t, &j, &t.cust, st, sizeof(st)), 409);
	cr_assert_str_eq(st, "urn:assay:problem:not-funded");
	cr_assert_eq(escrow_open(&t, &j, &t.cust), 201);
	cust0 = account(&t, &t.cust, "available");
	prov0 = account(&t, &t.provk, "available");
	/* Only the customer may submit it. */
	cr_assert_eq(prov_submit(&t, &j, &t.other, st, sizeof(st)), 403);
	cr_assert_str_eq(st, "urn:assay:problem:not-your-job");
	cr_assert_eq(prov_submit(&t, &j, &t.cust, NULL, 0), 201);
	cr_assert_eq(prov_submit(&t, &j, &t.cust, NULL, 0), 200, "a repeat answers the job");
	/* Wrong bytes are refused, the right ones queued. */
	in[in_len - 1] ^= 1;
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 422);
	in[in_len - 1] ^= 1;
	cr_assert_eq(prov_put_input(&t, &j, in, in_len - 1, NULL), 422);
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 202);
	wait_status(&t, &j, "receipted", st, sizeof(st));
	cr_assert_str_eq(st, "receipted", "see %s", t.prov_log);

	/* Encrypted at rest: the input's bytes appear nowhere on disk. */
	cr_assert_eq(found_under(t.pdata, in + in_len - 64, 64), 0);

	/* The bundle verifies offline with the input and the output. */
	prov_get(&t, &r, j.idh, "bundle", &t.cust);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(strstr(r.body, "\"device\":\"cpu\""), "the receipt's device: %s", r.body);
	write_file(t.dir, "bundle.json", r.body, r.len, p_bundle, sizeof(p_bundle));
	httpd_client_resp_free(&r);
	prov_get(&t, &r, j.idh, "output", &t.cust);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert_eq(r.len, ref_len);
	cr_assert(memcmp(r.body, ref, ref_len) == 0, "output differs from the CPU reference");
	write_file(t.dir, "out.safetensors", r.body, r.len, p_out, sizeof(p_out));
	httpd_client_resp_free(&r);
	write_file(t.dir, "in.safetensors", in, in_len, p_in, sizeof(p_in));
	{
		const char *argv[] = { tu_assay(), "receipt", "verify", p_bundle, "--input", p_in,
			"--output", p_out, NULL };
		struct tu_run run;
		char want[96];
		tu_run(&run, argv);
		cr_assert_eq(run.status, 0, "%s", run.err);
		cr_assert(strstr(run.out, "\"valid\":true"), "%s", run.out);
		snprintf(want, sizeof(want), "\"job\":\"%s\"", j.idh);
		cr_assert(strstr(run.out, want), "%s", run.out);
		tu_run_free(&run);
	}
	/* The escrow holds the same receipt. */
	escrow_state(&t, &j, st, sizeof(st));
	cr_assert_str_eq(st, "receipted");

	/* Who may read: a staked validator yes; another customer, an
	 * unstaked stranger and an anonymous caller no. */
	prov_get(&t, &r, j.idh, "input", &t.val);
	cr_assert_eq(r.status, 200, "%s", r.body);
	cr_assert(r.len == in_len && memcmp(r.body, in, in_len) == 0);
	httpd_client_resp_free(&r);
	prov_get(&t, &r, j.idh, "output", &t.other);
	cr_assert_eq(r.status, 403, "%s", r.body);
	httpd_client_resp_free(&r);
	{
		struct rcpt_key stranger;
		cr_assert_eq(rcpt_key_generate(&stranger), RCPT_OK);
		prov_get(&t, &r, j.idh, "input", &stranger);
		cr_assert_eq(r.status, 403, "%s", r.body);
		httpd_client_resp_free(&r);
	}
	prov_get(&t, &r, j.idh, "input", NULL);
	cr_assert_eq(r.status, 401, "%s", r.body);
	httpd_client_resp_free(&r);
	/* Stored bytes that do not decrypt: 500 store-read-failed, which a
	 * retry will not mend (a failed write is 503 store-failed). */
	{
		char path[512];
		uint8_t *enc;
		size_t enc_len;
		snprintf(path, sizeof(path), "%s/jobs/%s/output.enc", t.pdata, j.idh + 2);
		tu_read_file(path, &enc, &enc_len);
		cr_assert_gt(enc_len, 0);
		enc[enc_len - 1] ^= 1;
		tu_write_file(path, enc, enc_len, 0600);
		prov_get(&t, &r, j.idh, "output", &t.cust);
		cr_assert_eq(r.status, 500, "%s", r.body);
		cr_assert_str_eq(r.problem_type, "urn:assay:problem:store-read-failed");
		httpd_client_resp_free(&r);
		enc[enc_len - 1] ^= 1;
		tu_write_file(path, enc, enc_len, 0600);
		free(enc);
	}

	/* Deleting before settlement is refused: validators may still need
	 * the data. */
	{
		char target[128];
		snprintf(target, sizeof(target), "/v1/jobs/%s", j.idh);
		su_call(&r, "DELETE", t.prov.url, target, NULL, 0, NULL, &t.cust, 0);
		cr_assert_eq(r.status, 409, "%s", r.body);
		cr_assert_str_eq(r.problem_type, "urn:assay:problem:not-settled");
		httpd_client_resp_free(&r);
		su_call(&r, "DELETE", t.prov.url, target, NULL, 0, NULL, &t.val, 0);
		cr_assert_eq(r.status, 403, "a validator may not delete: %s", r.body);
		httpd_client_resp_free(&r);
	}
	/* The customer accepts early (forfeiting verification): the escrow
	 * pays, the provider sees it settled and deletes the data. */
	{
		char target[128];
		snprintf(target, sizeof(target), "/v1/jobs/%s/accept", j.idh);
		cr_assert_eq(su_post_json(&r, t.esc.url, target, json_object(), &t.cust), 200, "%s",
			     r.body);
		httpd_client_resp_free(&r);
	}
	wait_status(&t, &j, "settled", st, sizeof(st));
	cr_assert_str_eq(st, "settled");
	prov_get(&t, &r, j.idh, "output", &t.cust);
	cr_assert_eq(r.status, 410, "%s", r.body);
	httpd_client_resp_free(&r);
	{
		char target[128];
		snprintf(target, sizeof(target), "/v1/jobs/%s", j.idh);
		su_call(&r, "DELETE", t.prov.url, target, NULL, 0, NULL, &t.cust, 0);
		cr_assert_eq(r.status, 200, "%s", r.body);
		httpd_client_resp_free(&r);
	}
	cr_assert_eq(account(&t, &t.provk, "available"), prov0 + PRICE);
	cr_assert_eq(account(&t, &t.cust, "available"), cust0 + MAX_PRICE - PRICE);

	/* Every step of the job is in the escrow's audit chain, the
	 * provider's own ones included, and the chain verifies. */
	{
		static const char *const steps[] = { "\"opened\"", "provider-accepted",
			"provider-queued", "provider-running", "provider-ran", "\"receipted\"",
			"customer-accepted", "\"paid\"", "provider-deleted" };
		char target[160], p_audit[400];
		int all = 0;
		snprintf(target, sizeof(target), "/v1/audit?job=%s", j.idh);
		for (int i = 0; i < 100 && !all; i++) {
			su_call(&r, "GET", t.esc.url, target, NULL, 0, NULL, &t.cust, 0);
			cr_assert_eq(r.status, 200, "%s", r.body);
			all = 1;
			for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++)
				all &= strstr(r.body, steps[k]) != NULL;
			if (all)
				write_file(t.dir, "audit.json", r.body, r.len, p_audit, sizeof(p_audit));
			httpd_client_resp_free(&r);
			if (!all)
				usleep(100000);
		}
		cr_assert(all, "a step is missing from the audit chain");
		{
			const char *argv[] = { tu_assay(), "audit", "verify", p_audit, NULL };
			struct tu_run run;
			tu_run(&run, argv);
			cr_assert_eq(run.status, 0, "%s", run.err);
			tu_run_free(&run);
		}
		/* Only the provider records its steps, each once. */
		snprintf(target, sizeof(target), "/v1/jobs/%s/events", j.idh);
		cr_assert_eq(su_post_json(&r, t.esc.url, target,
				       json_pack("{s:s, s:I}", "event", "ran", "at", (json_int_t)1),
				       &t.cust), 403, "%s", r.body);
		httpd_client_resp_free(&r);
		cr_assert_eq(su_post_json(&r, t.esc.url, target,
				       json_pack("{s:s, s:I}", "event", "ran", "at", (json_int_t)1),
				       &t.provk), 409, "%s", r.body);
		httpd_client_resp_free(&r);
		cr_assert_eq(su_post_json(&r, t.esc.url, target,
				       json_pack("{s:s, s:I}", "event", "paid", "at", (json_int_t)1),
				       &t.provk), 400, "%s", r.body);
		httpd_client_resp_free(&r);
	}
	/* Both daemons' /metrics, with a job through every state, pass
	 * promtool: HELP and TYPE on every family, _total only on counters. */
	su_call(&r, "GET", t.prov.url, "/metrics", NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "assay_provider_receipts_total 1"), "%s", r.body);
	tu_promtool_check("assay-provider", r.body);
	httpd_client_resp_free(&r);
	su_call(&r, "GET", t.esc.url, "/metrics", NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "assay_escrow_jobs{state=\"paid\"}"), "%s", r.body);
	tu_promtool_check("assay-escrow", r.body);
	httpd_client_resp_free(&r);
	free(in);
	free(ref);
	teardown(&t);
}

Test(provider, a_job_the_kernel_refuses_fails_and_is_refunded, .timeout = 120)
{
	struct pv t;
	struct job j;
	struct httpd_client_resp r;
	struct kern_tensors s;
	uint64_t sa[2] = { 2, 3 }, sb[2] = { 4, 5 };
	uint8_t *in;
	size_t in_len;
	char st[96];
	unsigned long long cust0;

	setup(&t, "31337");
	provider_start(&t, NULL);
	/* Inner dimensions disagree: matmul refuses it inside the worker. */
	kern_tensors_init(&s);
	cr_assert_eq(kern_tensors_add(&s, NULL, NULL, "a", KERN_DT_F32, 2, sa, NULL), KERN_OK);
	cr_assert_eq(kern_tensors_add(&s, NULL, NULL, "b", KERN_DT_F32, 2, sb, NULL), KERN_OK);
	cr_assert_eq(kern_st_serialize(&in, &in_len, NULL, &s), KERN_OK);
	kern_tensors_release(&s);
	cust0 = account(&t, &t.cust, "available");
	make_job(&t, &j, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);
	cr_assert_eq(escrow_open(&t, &j, &t.cust), 201);
	cr_assert_eq(account(&t, &t.cust, "available"), cust0 - MAX_PRICE);
	cr_assert_eq(prov_submit(&t, &j, &t.cust, NULL, 0), 201);
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 202);
	wait_status(&t, &j, "failed", st, sizeof(st));
	cr_assert_str_eq(st, "failed");
	prov_get(&t, &r, j.idh, "", &t.cust);
	cr_assert(strstr(httpd_client_str(&r, "error"), "kernel"), "%s", r.body);
	httpd_client_resp_free(&r);
	/* The provider asked the escrow to refund: the money is back. */
	for (int i = 0; i < 100; i++) {
		escrow_state(&t, &j, st, sizeof(st));
		if (strcmp(st, "refunded") == 0)
			break;
		usleep(50000);
	}
	cr_assert_str_eq(st, "refunded");
	cr_assert_eq(account(&t, &t.cust, "available"), cust0);
	/* The daemon is still up. */
	su_call(&r, "GET", t.prov.url, "/v1/info", NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	httpd_client_resp_free(&r);
	free(in);
	teardown(&t);
}

Test(provider, a_job_past_its_limits_fails_cleanly_and_the_daemon_stays_up, .timeout = 120)
{
	struct pv t;
	struct job j;
	struct httpd_client_resp r;
	uint8_t *in;
	size_t in_len;
	char st[96];
	const char *extra[] = { "--worker-mem-mb", "64", NULL };

	setup(&t, "31337");
	provider_start(&t, extra);
	/* A small input with a 64 MiB output (4096 x 4096 floats): past a
	 * 64 MiB address space (the limit is not applied under ASan). */
	matmul_input(&in, &in_len, 4096, 1, 4096, 3);
	make_job(&t, &j, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":true}", in, in_len);
	cr_assert_eq(escrow_open(&t, &j, &t.cust), 201);
	cr_assert_eq(prov_submit(&t, &j, &t.cust, NULL, 0), 201);
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 202);
	wait_status(&t, &j, "receipted", st, sizeof(st));
#if defined(__SANITIZE_ADDRESS__)
	cr_assert(strcmp(st, "failed") == 0 || strcmp(st, "receipted") == 0, "%s", st);
#else
	cr_assert_str_eq(st, "failed");
	prov_get(&t, &r, j.idh, "", &t.cust);
	cr_assert(strstr(httpd_client_str(&r, "error"), "nomem"), "%s", r.body);
	httpd_client_resp_free(&r);
#endif
	su_call(&r, "GET", t.prov.url, "/v1/info", NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200);
	httpd_client_resp_free(&r);
	free(in);
	teardown(&t);
}

Test(provider, refusals_change_nothing, .timeout = 120)
{
	struct pv t;
	struct job j, k;
	uint8_t *in;
	size_t in_len;
	char st[96];

	setup(&t, "31337");
	provider_start(&t, NULL);
	matmul_input(&in, &in_len, 4, 4, 4, 1);
	/* For another provider. */
	make_job(&t, &j, &t.cust, t.val.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);
	cr_assert_eq(prov_submit(&t, &j, &t.cust, st, sizeof(st)), 422);
	cr_assert_str_eq(st, "urn:assay:problem:wrong-provider");
	/* Signed by someone else than its customer. */
	make_job(&t, &j, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);
	k = j;
	cr_assert_eq(rcpt_sign_digest(k.sig, &t.other, k.id), RCPT_OK);
	cr_assert_eq(prov_submit(&t, &k, &t.cust, st, sizeof(st)), 422);
	cr_assert_str_eq(st, "urn:assay:problem:wrong-signer");
	/* A kernelHash this provider does not run. */
	k = j;
	k.spec.kernel_hash[0] ^= 1;
	make_job(&t, &k, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);
	k.spec.kernel_hash[0] ^= 1;
	{
		struct rcpt_diag d;
		cr_assert_eq(rcpt_job_id(k.id, &d, &t.dom, &k.spec), RCPT_OK);
		cr_assert_eq(rcpt_sign_digest(k.sig, &t.cust, k.id), RCPT_OK);
	}
	cr_assert_eq(prov_submit(&t, &k, &t.cust, st, sizeof(st)), 422);
	cr_assert_str_eq(st, "urn:assay:problem:wrong-kernel-hash");
	/* An input for a job the provider does not know. */
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 404);
	/* A status request for it. */
	{
		struct httpd_client_resp r;
		prov_get(&t, &r, j.idh, "", &t.cust);
		cr_assert_eq(r.status, 404);
		httpd_client_resp_free(&r);
		prov_get(&t, &r, "0x12", "", &t.cust);
		cr_assert_eq(r.status, 400);
		httpd_client_resp_free(&r);
	}
	/* Nothing was stored. */
	cr_assert_eq(found_under(t.pdata, in + in_len - 16, 16), 0);
	free(in);
	teardown(&t);
}

Test(provider, start_up_refusals, .timeout = 120)
{
	struct pv t;
	const char *fault[] = { "--fault", "corrupt-output=0.5", NULL };
	const char *cuda[] = { "--device", "cuda", NULL }, *bogus[] = { "--device", "tpu", NULL };

	setup(&t, "5");
	/* --device cuda: no CUDA device here (and, where there is one, no
	 * GPU worker yet); a device that does not exist. */
	cr_assert_eq(provider_try(&t, cuda), 1);
	cr_assert_eq(provider_try(&t, bogus), 1);
	/* Fault injection on a chain that is not a devnet. */
	cr_assert_eq(provider_try(&t, fault), 1);
	/* A key file others can read. */
	cr_assert_eq(chmod(t.k_prov, 0644), 0);
	cr_assert_eq(provider_try(&t, NULL), 1);
	cr_assert_eq(chmod(t.k_prov, 0600), 0);
	/* A stake below the escrow's minimum. */
	{
		char save[320];
		snprintf(save, sizeof(save), "%s", t.k_prov);
		snprintf(t.k_prov, sizeof(t.k_prov), "%s", t.k_other);
		cr_assert_eq(provider_try(&t, NULL), 1);
		snprintf(t.k_prov, sizeof(t.k_prov), "%s", save);
	}
	/* And with all in order it starts (devnet or not, without faults). */
	provider_start(&t, NULL);
	teardown(&t);
}

Test(provider, restart_keeps_receipted_jobs_and_fault_injection_corrupts, .timeout = 180)
{
	struct pv t;
	struct job j;
	struct httpd_client_resp r;
	uint8_t *in, *ref;
	size_t in_len, ref_len;
	char st[96];
	struct rcpt_commitment c;
	const char *fault[] = { "--fault", "corrupt-output=1", NULL };

	setup(&t, "31337");
	provider_start(&t, fault);
	matmul_input(&in, &in_len, 8, 8, 8, 5);
	su_reference(&ref, &ref_len, "matmul_f32@1", in, in_len, "{\"relu\":false}");
	make_job(&t, &j, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);
	cr_assert_eq(escrow_open(&t, &j, &t.cust), 201);
	cr_assert_eq(prov_submit(&t, &j, &t.cust, NULL, 0), 201);
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 202);
	wait_status(&t, &j, "receipted", st, sizeof(st));
	cr_assert_str_eq(st, "receipted");
	/* The injected fault: one bit differs from the reference. */
	prov_get(&t, &r, j.idh, "output", &t.cust);
	cr_assert_eq(r.status, 200);
	cr_assert_eq(r.len, ref_len);
	{
		size_t bits = 0;
		for (size_t i = 0; i < ref_len; i++)
			bits += (size_t)__builtin_popcount((unsigned)((uint8_t)r.body[i] ^ ref[i]));
		cr_assert_eq(bits, 1);
	}
	cr_assert_eq(rcpt_commit_buf(&c, r.body, r.len), RCPT_OK);
	httpd_client_resp_free(&r);
	/* A restart keeps the job, its receipt and its encrypted data. */
	cr_assert_eq(tu_daemon_stop(&t.prov), 0);
	provider_start(&t, NULL);
	prov_get(&t, &r, j.idh, "", &t.cust);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(httpd_client_str(&r, "status"), "receipted");
	{
		char root[RCPT_HASH_HEX_BYTES];
		cr_assert_eq(rcpt_hex_encode(root, sizeof(root), c.root, 32), RCPT_OK);
		cr_assert_str_eq(httpd_client_str(&r, "outputRoot"), root);
	}
	httpd_client_resp_free(&r);
	prov_get(&t, &r, j.idh, "input", &t.val);
	cr_assert_eq(r.status, 200);
	cr_assert(r.len == in_len && memcmp(r.body, in, in_len) == 0);
	httpd_client_resp_free(&r);
	free(in);
	free(ref);
	teardown(&t);
}

/* The customer's client: `assay deposit`, `signin`, `job submit`,
 * `job status --session`, `job fetch`, `balance`, against the daemons. */
Test(provider, the_assay_client_runs_a_job_end_to_end, .timeout = 180)
{
	struct pv t;
	struct tu_run r;
	uint8_t *in, *ref;
	size_t in_len, ref_len;
	char p_in[400], p_out[400], p_bundle[400], p_sess[400], p_out2[400], p_b2[400];
	char id[RCPT_HASH_HEX_BYTES];
	const char *extra[] = { "--siwe-domain", "auto", "--siwe-uri", "auto", NULL };

	setup(&t, "31337");
	provider_start(&t, extra);
	/* Over 1 MiB of input, so that the upload reports its progress. */
	matmul_input(&in, &in_len, 512, 512, 8, 11);
	su_reference(&ref, &ref_len, "matmul_f32@1", in, in_len, "{\"relu\":true}");
	write_file(t.dir, "in.safetensors", in, in_len, p_in, sizeof(p_in));
	snprintf(p_out, sizeof(p_out), "%s/out.safetensors", t.dir);
	snprintf(p_bundle, sizeof(p_bundle), "%s/bundle.json", t.dir);
	snprintf(p_sess, sizeof(p_sess), "%s/session.json", t.dir);
	snprintf(p_out2, sizeof(p_out2), "%s/out2.safetensors", t.dir);
	snprintf(p_b2, sizeof(p_b2), "%s/bundle2.json", t.dir);
	{
		const char *argv[] = { tu_assay(), "deposit", "500", "--escrow", t.esc.url,
			"--key", t.k_cust, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert(strstr(r.out, "\"available\":\"100500\""), "%s", r.out);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { tu_assay(), "job", "submit", "--escrow", t.esc.url,
			"--provider", t.prov.url, "--key", t.k_cust, "--kernel", "matmul_f32@1",
			"--params", "{\"relu\":true}", "--input", p_in, "--output", p_out,
			"--bundle", p_bundle, "--max-price", "40", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert(strstr(r.err, "receipted"), "progress on stderr: %s", r.err);
		cr_assert(strstr(r.err, "uploading the input: 100%"), "upload progress: %s", r.err);
		{
			const char *j = strstr(r.out, "\"job\":\"");
			cr_assert(j, "%s", r.out);
			memcpy(id, j + 7, 66);
			id[66] = '\0';
		}
		tu_run_free(&r);
	}
	{
		FILE *f = fopen(p_out, "rb");
		uint8_t *got = malloc(ref_len + 1);
		size_t got_len;
		cr_assert(f && got);
		got_len = fread(got, 1, ref_len + 1, f);
		fclose(f);
		cr_assert(got_len == ref_len && memcmp(got, ref, ref_len) == 0,
			  "the saved output differs from the CPU reference");
		free(got);
	}
	{
		const char *argv[] = { tu_assay(), "receipt", "verify", p_bundle, "--input", p_in,
			"--output", p_out, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tu_run_free(&r);
	}
	/* Sign in with the wallet key, then read with the session. */
	{
		const char *argv[] = { tu_assay(), "signin", "--url", t.prov.url, "--key",
			t.k_cust, "--out", p_sess, NULL };
		struct stat st;
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert(!strstr(r.out, "token"), "the token must not be printed: %s", r.out);
		tu_run_free(&r);
		cr_assert_eq(stat(p_sess, &st), 0);
		cr_assert_eq(st.st_mode & 0777, 0600);
	}
	{
		const char *argv[] = { tu_assay(), "job", "status", id, "--provider", t.prov.url,
			"--session", p_sess, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert(strstr(r.out, "\"status\":\"receipted\""), "%s", r.out);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { tu_assay(), "job", "fetch", id, "--provider", t.prov.url,
			"--session", p_sess, "--output", p_out2, "--bundle", p_b2, "--escrow",
			t.esc.url, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tu_run_free(&r);
	}
	/* Another customer's key is refused. */
	{
		const char *argv[] = { tu_assay(), "job", "status", id, "--provider", t.prov.url,
			"--key", t.k_other, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 1);
		cr_assert(strstr(r.err, "urn:assay:problem:forbidden"), "%s", r.err);
		tu_run_free(&r);
	}
	/* Secrets never reach the provider's log: not the session token the
	 * customer holds, not the provider's key, not the customer's. */
	{
		FILE *f = fopen(t.prov_log, "rb");
		char *log = malloc(1 << 20), *sess = malloc(4096), *k;
		size_t n;
		const char *tok;
		cr_assert(f && log && sess);
		n = fread(log, 1, (1 << 20) - 1, f);
		fclose(f);
		log[n] = '\0';
		cr_assert(strstr(log, "event=job-accepted"), "the provider logged nothing?");
		f = fopen(p_sess, "rb");
		cr_assert(f);
		n = fread(sess, 1, 4095, f);
		fclose(f);
		sess[n] = '\0';
		tok = strstr(sess, "\"token\":\"");
		cr_assert(tok);
		tok += 9;
		cr_assert(memmem(log, strlen(log), tok, 64) == NULL, "a session token is in the log");
		for (int w = 0; w < 2; w++) {
			const char *kp = w ? t.k_prov : t.k_cust;
			f = fopen(kp, "rb");
			cr_assert(f);
			n = fread(sess, 1, 4095, f);
			fclose(f);
			sess[n] = '\0';
			k = sess + 2;   /* past "0x" */
			cr_assert(memmem(log, strlen(log), k, 64) == NULL, "a private key is in the log");
		}
		free(log);
		free(sess);
	}
	/* maxPrice 40 is locked until settlement. */
	{
		const char *argv[] = { tu_assay(), "balance", "--escrow", t.esc.url, "--key",
			t.k_cust, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert(strstr(r.out, "\"available\":\"100460\""), "%s", r.out);
		tu_run_free(&r);
	}
	free(in);
	free(ref);
	teardown(&t);
}

/* The escrow's referee fetches a disputed job's input from the real
 * provider (a signed request by the escrow's key): a withholding report
 * against an honest provider ends with the input recovered, the job
 * judged right and nobody slashed. */
Test(provider, the_referee_fetches_the_input_from_the_provider, .timeout = 180)
{
	struct pv t;
	struct job j;
	struct httpd_client_resp r;
	uint8_t *in;
	size_t in_len;
	char st[96], target[128];
	unsigned long long stake_p, stake_v;
	int recovered = 0;

	setup(&t, "31337");
	provider_start(&t, NULL);
	matmul_input(&in, &in_len, 8, 8, 8, 21);
	make_job(&t, &j, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);
	cr_assert_eq(escrow_open(&t, &j, &t.cust), 201);
	cr_assert_eq(prov_submit(&t, &j, &t.cust, NULL, 0), 201);
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 202);
	wait_status(&t, &j, "receipted", st, sizeof(st));
	cr_assert_str_eq(st, "receipted");
	stake_p = account(&t, &t.provk, "stake");
	stake_v = account(&t, &t.val, "stake");
	snprintf(target, sizeof(target), "/v1/jobs/%s/withheld", j.idh);
	cr_assert_eq(su_post_json(&r, t.esc.url, target,
			       json_pack("{s:s}", "reason", "no answer to GET input"), &t.val),
		     201, "%s", r.body);
	httpd_client_resp_free(&r);
	snprintf(target, sizeof(target), "/v1/jobs/%s", j.idh);
	for (int i = 0; i < 200 && !recovered; i++) {
		su_call(&r, "GET", t.esc.url, target, NULL, 0, NULL, NULL, 0);
		cr_assert_eq(r.status, 200);
		recovered = strstr(r.body, "input_recovered") != NULL;
		httpd_client_resp_free(&r);
		if (!recovered)
			usleep(100000);
	}
	cr_assert(recovered, "the referee did not recover the input (see %s and %s)",
		  t.esc_log, t.prov_log);
	cr_assert_eq(account(&t, &t.provk, "stake"), stake_p, "the honest provider was slashed");
	cr_assert_eq(account(&t, &t.val, "stake"), stake_v, "the reporter was slashed");
	escrow_state(&t, &j, st, sizeof(st));
	cr_assert_str_eq(st, "receipted");
	free(in);
	teardown(&t);
}

/* HTTPS: given a certificate and its key the provider serves TLS only; a
 * client that trusts that certificate gets its answers, one that does
 * not (or speaks plain HTTP) gets none. */
Test(provider, serves_https_with_a_certificate, .timeout = 120)
{
	struct pv t;
	struct httpd_client_resp r;
	struct httpd_client_req req = { 0 };
	char cert[400], key[400], url[96], why[256];
	struct tu_run run;

	setup(&t, "31337");
	snprintf(cert, sizeof(cert), "%s/cert.pem", t.dir);
	snprintf(key, sizeof(key), "%s/tls-key.pem", t.dir);
	{
		const char *argv[] = { "/usr/bin/openssl", "req", "-x509", "-newkey", "ec",
			"-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
			"-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
			"-addext", "subjectAltName=IP:127.0.0.1", NULL };
		if (access(argv[0], X_OK) != 0) {
			teardown(&t);
			cr_skip("no openssl command to make a certificate");
		}
		tu_run(&run, argv);
		cr_assert_eq(run.status, 0, "%s", run.err);
		tu_run_free(&run);
		/* The daemons take neither file when others may read it. */
		cr_assert_eq(chmod(cert, 0600), 0);
	}
	{
		const char *extra[] = { "--tls-cert", cert, "--tls-key", key, NULL };
		provider_start(&t, extra);
	}
	snprintf(url, sizeof(url), "https://127.0.0.1:%u", t.prov.port);
	req.method = "GET";
	req.base_url = url;
	req.target = "/v1/info";
	req.ca_file = cert;
	cr_assert_eq(httpd_client_request(&r, why, sizeof(why), &req), HTTPD_OK, "%s", why);
	cr_assert_eq(r.status, 200);
	cr_assert(httpd_client_str(&r, "address"), "%s", r.body);
	httpd_client_resp_free(&r);
	/* The escrow has our https URL. */
	{
		char a[RCPT_ADDR_HEX_BYTES], target[96];
		addr_of(a, &t.provk);
		snprintf(target, sizeof(target), "/v1/providers/%s", a);
		su_call(&r, "GET", t.esc.url, target, NULL, 0, NULL, NULL, 0);
		cr_assert_eq(r.status, 200);
		cr_assert_str_eq(httpd_client_str(&r, "url"), url);
		httpd_client_resp_free(&r);
	}
	/* Not trusted: no answer.  Plain HTTP: no answer either. */
	req.ca_file = NULL;
	cr_assert_neq(httpd_client_request(&r, why, sizeof(why), &req), HTTPD_OK);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", t.prov.port);
	req.base_url = url;
	if (httpd_client_request(&r, why, sizeof(why), &req) == HTTPD_OK) {
		cr_assert_neq(r.status, 200, "plain HTTP answered on the TLS port");
		httpd_client_resp_free(&r);
	}
	teardown(&t);
}

/* ---------------------------------------------------------------- sign-in at the provider */

/* Signs in at the provider with an EIP-4361 message for `role` built
 * here (not by the code under test) on a fresh nonce; returns the HTTP
 * status and copies the token (when 200), the message and signature. */
static long provider_signin(struct pv *t, const struct rcpt_key *k, const char *role,
			    char token[80], char *msg, size_t msg_len, char sig[RCPT_SIG_HEX_BYTES])
{
	struct httpd_client_resp r;
	char addr[RCPT_ADDR_HEX_BYTES], iat[21], exp[21];
	uint8_t sg[RCPT_SIG_BYTES];
	time_t now = time(NULL);
	long st;

	su_call(&r, "GET", t->prov.url, "/v1/auth/nonce", NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	rcpt_address_format(addr, k->address);
	httpd_rfc3339_format(iat, (int64_t)now);
	httpd_rfc3339_format(exp, (int64_t)now + 300);
	cr_assert((size_t)snprintf(msg, msg_len,
				   "%s wants you to sign in with your Ethereum account:\n%s\n\n"
				   "Sign in to Assay.\n\nURI: %s\nVersion: 1\nChain ID: 31337\n"
				   "Nonce: %s\nIssued At: %s\nExpiration Time: %s\nResources:\n"
				   "- urn:assay:role:%s",
				   t->prov.url + 7, addr, t->prov.url, httpd_client_str(&r, "nonce"),
				   iat, exp, role) < msg_len);
	httpd_client_resp_free(&r);
	cr_assert_eq(rcpt_message_sign(sg, k, msg, strlen(msg)), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(sig, RCPT_SIG_HEX_BYTES, sg, sizeof(sg)), RCPT_OK);
	st = su_post_json(&r, t->prov.url, "/v1/auth/signin",
			  json_pack("{s:s, s:s}", "message", msg, "signature", sig), NULL);
	if (st == 200)
		snprintf(token, 80, "%s", httpd_client_str(&r, "token"));
	httpd_client_resp_free(&r);
	return st;
}

/* An authenticated request with a bearer token: POST /v1/jobs with an
 * invalid JobSpec answers 400 once the session is accepted, 401 when
 * it is not. */
static long bearer_probe(struct pv *t, const char *token)
{
	struct httpd_client_resp r;
	struct httpd_client_req req = { 0 };
	static const char body[] = "{\"job\":{},\"jobSignature\":\"0x\"}";
	char why[256];
	long st;

	req.method = "POST";
	req.base_url = t->prov.url;
	req.target = "/v1/jobs";
	req.body = body;
	req.body_len = sizeof(body) - 1;
	req.bearer = token;
	cr_assert_eq(httpd_client_request(&r, why, sizeof(why), &req), HTTPD_OK, "%s", why);
	st = r.status;
	httpd_client_resp_free(&r);
	return st;
}

/* The provider's own session store (in memory): a nonce is taken once, a
 * token dies at logout and at its TTL, the validator role needs stake. */
Test(provider, sign_in_sessions_at_the_provider, .timeout = 120)
{
	struct pv t;
	struct httpd_client_resp r;
	struct httpd_client_req req = { 0 };
	char token[80], token2[80], msg[1024], sig[RCPT_SIG_HEX_BYTES], why[256];
	const char *extra[] = { "--siwe-domain", "auto", "--siwe-uri", "auto",
		"--session-ttl-s", "2", NULL };

	setup(&t, "31337");
	provider_start(&t, extra);
	cr_assert_eq(bearer_probe(&t, "00"), 401);
	cr_assert_eq(provider_signin(&t, &t.cust, "customer", token, msg, sizeof(msg), sig), 200);
	cr_assert_eq(bearer_probe(&t, token), 400, "a live session is accepted");
	/* The same message and signature again: the nonce was taken. */
	cr_assert_eq(su_post_json(&r, t.prov.url, "/v1/auth/signin",
				  json_pack("{s:s, s:s}", "message", msg, "signature", sig), NULL),
		     401, "%s", r.body);
	cr_assert_str_eq(r.problem_type, "urn:assay:problem:siwe-nonce");
	httpd_client_resp_free(&r);
	/* The validator role is refused to an unstaked address, granted to a
	 * staked one. */
	cr_assert_eq(provider_signin(&t, &t.other, "validator", token2, msg, sizeof(msg), sig), 403);
	cr_assert_eq(provider_signin(&t, &t.val, "validator", token2, msg, sizeof(msg), sig), 200);
	/* A session limited at sign-in to jobs:read may not submit
	 * (jobs:write), one limited to jobs:write may; an unknown scope is
	 * refused. */
	cr_assert_eq(provider_signin(&t, &t.cust, "customer\n- urn:assay:scope:jobs:read", token,
				     msg, sizeof(msg), sig), 200);
	cr_assert_eq(bearer_probe(&t, token), 403, "jobs:read submitted");
	cr_assert_eq(provider_signin(&t, &t.cust, "customer\n- urn:assay:scope:jobs:write", token,
				     msg, sizeof(msg), sig), 200);
	cr_assert_eq(bearer_probe(&t, token), 400, "jobs:write refused");
	cr_assert_eq(provider_signin(&t, &t.cust, "customer\n- urn:assay:scope:everything", token,
				     msg, sizeof(msg), sig), 400);
	/* Logout revokes the token at once. */
	req.method = "POST";
	req.base_url = t.prov.url;
	req.target = "/v1/auth/logout";
	req.bearer = token2;
	cr_assert_eq(httpd_client_request(&r, why, sizeof(why), &req), HTTPD_OK, "%s", why);
	cr_assert_eq(r.status, 200, "%s", r.body);
	httpd_client_resp_free(&r);
	cr_assert_eq(bearer_probe(&t, token2), 401, "a revoked token is refused");
	/* And the first token expires after its TTL. */
	sleep(3);
	cr_assert_eq(bearer_probe(&t, token), 401, "an expired token is refused");
	teardown(&t);
}

/* ---------------------------------------------------------------- gpt2 */

/* GPT-2's byte order of its first 256 tokens (bytes_to_unicode): the
 * printable bytes 33..126, 161..172 and 174..255 first, as themselves,
 * then the other 68 bytes as U+0100 onwards.  order[id] = byte. */
static void gpt2_byte_order(uint8_t order[256], uint32_t cp[256])
{
	int n = 0, extra = 0;

	for (int b = 0; b < 256; b++)
		if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
			order[n] = (uint8_t)b;
			cp[n++] = (uint32_t)b;
		}
	for (int b = 0; b < 256; b++)
		if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
			order[n] = (uint8_t)b;
			cp[n++] = 256u + (uint32_t)extra++;
		}
	cr_assert_eq(n, 256);
}

/* Tokens 257 .. V-1: "q" and two letters, never a merge's result. */
static void extra_token(char k[4], int id)
{
	k[0] = 'q';
	k[1] = (char)('a' + (id - 257) / 26);
	k[2] = (char)('a' + (id - 257) % 26);
	k[3] = '\0';
}

/* A GPT-2-form vocabulary of the tiny test model's 300 ids: the 256 byte
 * tokens, one merge "h e" (id 256) and 43 tokens no merge makes. */
static void small_vocab(const char *dir, char *vocab, size_t vl, char *merges, size_t ml,
			uint8_t order[256])
{
	uint32_t cp[256];
	json_t *o = json_object();
	char *text;

	gpt2_byte_order(order, cp);
	for (int id = 0; id < 256; id++) {
		char k[4] = "";
		if (cp[id] < 0x80) {
			k[0] = (char)cp[id];
		} else {
			k[0] = (char)(0xc0 | (cp[id] >> 6));
			k[1] = (char)(0x80 | (cp[id] & 0x3f));
		}
		json_object_set_new(o, k, json_integer(id));
	}
	json_object_set_new(o, "he", json_integer(256));
	for (int id = 257; id < GPT2FX_V; id++) {
		char k[4];
		extra_token(k, id);
		json_object_set_new(o, k, json_integer(id));
	}
	text = json_dumps(o, JSON_COMPACT);
	write_file(dir, "encoder.json", text, strlen(text), vocab, vl);
	free(text);
	json_decref(o);
	write_file(dir, "vocab.bpe", "#version: 0.2\nh e\n", strlen("#version: 0.2\nh e\n"), merges, ml);
}

/* `assay job submit --prompt` through a real provider holding the model
 * (--model-dir): the ids and text of the answer are those of kern_run on
 * the prompt's tokens worked out by hand; the provider serves the model
 * by its root and lists it; a job naming another model is refused
 * before it runs. */
Test(provider, gpt2_prompt_job_through_a_provider_with_the_model, .timeout = 180)
{
	struct pv t;
	struct tu_run r;
	struct gpt2fx m;
	struct rcpt_commitment mc;
	struct kern_tensors in, want;
	struct kern_run_opts o = { KERN_DEVICE_CPU, 1, NULL };
	struct httpd_client_resp hr;
	uint64_t shape[2] = { 1, 9 };
	uint8_t order[256], *model;
	size_t model_len;
	struct kern_tensor *tk;
	char vocab[400], merges[400], p_out[400], p_bundle[400], params[300], hex[80], dev[80];
	const char *extra[] = { "--model-dir", NULL, NULL };
	json_t *ans, *ids, *text;
	const int32_t *gen;

	setup(&t, "31337");
	gpt2fx_open(&m, 0);
	extra[1] = m.dir;
	provider_start(&t, extra);
	tu_read_file(m.path, &model, &model_len);
	cr_assert_eq(rcpt_commit_buf(&mc, model, model_len), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(hex, sizeof(hex), mc.root, 32), RCPT_OK);
	small_vocab(t.dir, vocab, sizeof(vocab), merges, sizeof(merges), order);
	snprintf(p_out, sizeof(p_out), "%s/out.safetensors", t.dir);
	snprintf(p_bundle, sizeof(p_bundle), "%s/bundle.json", t.dir);
	snprintf(params, sizeof(params), "{\"heads\":" GPT2FX_HEADS_S ",\"max_new_tokens\":5,"
		 "\"model\":\"%s\",\"modelSize\":%zu}", hex, model_len);
	/* The provider serves the model's bytes by its root, and lists it. */
	{
		char target[100];
		snprintf(target, sizeof(target), "/v1/models/%s", hex);
		su_call(&hr, "GET", t.prov.url, target, NULL, 0, NULL, NULL, 0);
		cr_assert_eq(hr.status, 200);
		cr_assert(hr.len == model_len && memcmp(hr.body, model, model_len) == 0);
		httpd_client_resp_free(&hr);
		su_call(&hr, "GET", t.prov.url, "/v1/info", NULL, 0, NULL, NULL, 0);
		cr_assert(strstr(hr.body, hex) != NULL, "GET /v1/info lists no model: %s", hr.body);
		httpd_client_resp_free(&hr);
	}
	{
		const char *argv[] = { tu_assay(), "job", "submit", "--escrow", t.esc.url,
			"--provider", t.prov.url, "--key", t.k_cust, "--kernel", "gpt2_f32@1",
			"--params", params, "--prompt", "hello there", "--vocab", vocab,
			"--merges", merges, "--output", p_out, "--bundle", p_bundle,
			"--max-price", "40", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s (provider log %s)", r.err, t.prov_log);
		ans = json_loads(r.out, 0, NULL);
		cr_assert(ans != NULL, "%s", r.out);
		tu_run_free(&r);
	}
	/* "hello there": pieces "hello" " there"; the merge "h e" gives
	 * he l l o | ' ' t he r e. */
	{
		static const char *pieces[9] = { "he", "l", "l", "o", " ", "t", "he", "r", "e" };
		kern_tensors_init(&in);
		cr_assert_eq(kern_tensors_add(&in, &tk, NULL, "tokens", KERN_DT_I32, 2, shape, NULL), 0);
		for (int i = 0; i < 9; i++) {
			int id = -1;
			for (int q = 0; q < 256 && strlen(pieces[i]) == 1; q++)
				if (order[q] == (uint8_t)pieces[i][0])
					id = q;
			((int32_t *)tk->data)[i] = strlen(pieces[i]) == 2 ? 256 : id;
		}
	}
	o.model = &m.model.tensors;
	kern_tensors_init(&want);
	cr_assert_eq(kern_run(&want, dev, NULL, "gpt2_f32@1", &in, params, strlen(params), &o), 0);
	gen = kern_tensors_find(&want, "ids")->data;
	ids = json_array_get(json_object_get(ans, "ids"), 0);
	text = json_array_get(json_object_get(ans, "text"), 0);
	cr_assert_eq(json_array_size(ids), 5, "%s", json_dumps(ans, 0));
	{
		char expect[32] = "";
		size_t el = 0;
		for (size_t i = 0; i < 5; i++) {
			cr_assert_eq(json_integer_value(json_array_get(ids, i)), gen[i]);
			if (gen[i] == 256) {
				expect[el++] = 'h';
				expect[el++] = 'e';
			} else if (gen[i] > 256) {
				extra_token(expect + el, gen[i]);
				el += 3;
			} else {
				expect[el++] = (char)order[gen[i]];
			}
		}
		/* every byte here is ASCII or replaced: compare the ASCII ones */
		cr_assert(json_is_string(text));
		if (memchr(expect, 0x80, el) == NULL) {
			int ascii = 1;
			for (size_t i = 0; i < el; i++)
				ascii &= (unsigned char)expect[i] < 0x80;
			if (ascii)
				cr_assert(json_string_length(text) == el &&
					  memcmp(json_string_value(text), expect, el) == 0,
					  "text %s", json_string_value(text));
		}
	}
	json_decref(ans);
	/* Another model's root: refused by the provider (unknown-model). */
	{
		char other[300];
		memcpy(other, params, sizeof(other));
		other[strlen("{\"heads\":4,\"max_new_tokens\":5,\"model\":\"0x")] ^= 1;
		const char *argv[] = { tu_assay(), "job", "submit", "--escrow", t.esc.url,
			"--provider", t.prov.url, "--key", t.k_cust, "--kernel", "gpt2_f32@1",
			"--params", other, "--prompt", "hello", "--vocab", vocab,
			"--merges", merges, "--output", p_out, "--bundle", p_bundle,
			"--max-price", "40", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "unknown-model") != NULL, "%s", r.err);
		tu_run_free(&r);
	}
	kern_tensors_release(&in);
	kern_tensors_release(&want);
	free(model);
	gpt2fx_close(&m);
	teardown(&t);
}

/* ---------------------------------------------------------------- API keys and the auth store */

/* POST /v1/apikeys signed by k under Idempotency-Key idem; the status,
 * and on 201 the token and id. */
static long key_create(struct pv *t, const struct rcpt_key *k, const char *scopes_json,
		       long ttl_s, const char *idem, char token[80], char id[32])
{
	struct httpd_client_resp r;
	struct httpd_client_req req = { 0 };
	char body[256], why[256];
	long st;

	snprintf(body, sizeof(body), "{\"scopes\":%s,\"expiresInS\":%ld,\"label\":\"t\"}",
		 scopes_json, ttl_s);
	req.method = "POST";
	req.base_url = t->prov.url;
	req.target = "/v1/apikeys";
	req.body = body;
	req.body_len = strlen(body);
	req.key = k;
	req.idem_key = idem;
	cr_assert_eq(httpd_client_request(&r, why, sizeof(why), &req), HTTPD_OK, "%s", why);
	st = r.status;
	if (st == 201) {
		const char *s = httpd_client_str(&r, "secret");
		cr_assert(s && strlen(s) == 63 && strncmp(s, "ak_", 3) == 0 && s[19] == '.',
			  "%s", r.body);
		snprintf(token, 80, "%s", s);
		snprintf(id, 32, "%s", httpd_client_str(&r, "id"));
		cr_assert_eq(strncmp(token, id, 19), 0);
	} else {
		cr_log_info("POST /v1/apikeys answered %ld: %s", st, r.body);
	}
	httpd_client_resp_free(&r);
	return st;
}

/* One request with a bearer token (a key or a session); the status,
 * the answer in *keep when given. */
static long bearer_call(struct pv *t, const char *method, const char *target, const char *body,
			const char *token, struct httpd_client_resp *keep)
{
	struct httpd_client_resp r;
	struct httpd_client_req req = { 0 };
	char why[256], idem[40];
	long st;

	snprintf(idem, sizeof(idem), "b-%ld-%d", (long)time(NULL), rand());
	req.method = method;
	req.base_url = t->prov.url;
	req.target = target;
	req.body = body;
	req.body_len = body ? strlen(body) : 0;
	req.bearer = token;
	req.idem_key = strcmp(method, "GET") ? idem : NULL;
	cr_assert_eq(httpd_client_request(&r, why, sizeof(why), &req), HTTPD_OK, "%s", why);
	st = r.status;
	if (keep)
		*keep = r;
	else
		httpd_client_resp_free(&r);
	return st;
}

static long job_body_bearer(struct pv *t, const struct job *j, const char *token)
{
	json_t *o = job_body(j);
	char *text = json_dumps(o, JSON_COMPACT);
	long st = bearer_call(t, "POST", "/v1/jobs", text, token, NULL);

	free(text);
	json_decref(o);
	return st;
}

/* A key submits and reads its owner's jobs within its scopes, a
 * validator's key reads a receipted job only while its owner is staked,
 * a key never acts for another address, never makes a key, and dies at
 * once when revoked. */
Test(provider, api_keys_submit_and_read_jobs_within_their_scopes, .timeout = 180)
{
	struct pv t;
	struct job j;
	struct httpd_client_resp r;
	uint8_t *in, *ref;
	size_t in_len, ref_len;
	char kw[80], kwid[32], kr[80], krid[32], kv[80], kvid[32], ko[80], koid[32];
	char st[96], target[160];

	setup(&t, "31337");
	provider_start(&t, NULL);
	cr_assert_eq(key_create(&t, &t.cust, "[\"jobs:write\",\"jobs:read\"]", 3600, "k1", kw, kwid), 201);
	cr_assert_eq(key_create(&t, &t.cust, "[\"jobs:read\"]", 3600, "k2", kr, krid), 201);
	cr_assert_eq(key_create(&t, &t.val, "[\"validate\"]", 3600, "k3", kv, kvid), 201);
	cr_assert_eq(key_create(&t, &t.other, "[\"validate\",\"jobs:read\"]", 3600, "k4", ko, koid), 201);
	/* The same signed creation again: refused, no second secret. */
	cr_assert_eq(key_create(&t, &t.cust, "[\"jobs:read\"]", 3600, "k2", st, target), 409);
	/* Bodies refused. */
	cr_assert_eq(key_create(&t, &t.cust, "[\"funds\"]", 3600, "k5", st, target), 400);
	cr_assert_eq(key_create(&t, &t.cust, "[]", 3600, "k6", st, target), 400);
	cr_assert_eq(key_create(&t, &t.cust, "[\"jobs:read\"]", 10, "k7", st, target), 400);
	/* A key never makes a key. */
	cr_assert_eq(bearer_call(&t, "POST", "/v1/apikeys",
				 "{\"scopes\":[\"jobs:read\"],\"expiresInS\":600}", kw, &r), 403);
	cr_assert_str_eq(r.problem_type, "urn:assay:problem:insufficient-scope");
	httpd_client_resp_free(&r);

	matmul_input(&in, &in_len, 8, 8, 8, 11);
	su_reference(&ref, &ref_len, "matmul_f32@1", in, in_len, "{\"relu\":false}");
	make_job(&t, &j, &t.cust, t.provk.address, "matmul_f32@1", "{\"relu\":false}", in, in_len);
	cr_assert_eq(escrow_open(&t, &j, &t.cust), 201);
	/* jobs:read alone cannot submit; jobs:write can. */
	cr_assert_eq(job_body_bearer(&t, &j, kr), 403);
	cr_assert_eq(job_body_bearer(&t, &j, kw), 201);
	cr_assert_eq(prov_put_input(&t, &j, in, in_len, NULL), 202);
	wait_status(&t, &j, "receipted", st, sizeof(st));
	cr_assert_str_eq(st, "receipted");
	/* The owner's read key reads the output: the CPU reference's bytes. */
	snprintf(target, sizeof(target), "/v1/jobs/%s/output", j.idh);
	cr_assert_eq(bearer_call(&t, "GET", target, NULL, kr, &r), 200);
	cr_assert(r.len == ref_len && memcmp(r.body, ref, ref_len) == 0);
	httpd_client_resp_free(&r);
	/* The staked validator's key reads the input; the same scopes held
	 * by an unstaked address read nothing of another's job. */
	snprintf(target, sizeof(target), "/v1/jobs/%s/input", j.idh);
	cr_assert_eq(bearer_call(&t, "GET", target, NULL, kv, &r), 200);
	cr_assert(r.len == in_len && memcmp(r.body, in, in_len) == 0);
	httpd_client_resp_free(&r);
	cr_assert_eq(bearer_call(&t, "GET", target, NULL, ko, NULL), 403);
	/* The validator key cannot submit or delete. */
	snprintf(target, sizeof(target), "/v1/jobs/%s", j.idh);
	cr_assert_eq(bearer_call(&t, "DELETE", target, NULL, kv, NULL), 403);
	/* Listing takes the keys scope (or the wallet itself). */
	cr_assert_eq(bearer_call(&t, "GET", "/v1/apikeys", NULL, kw, NULL), 403);
	su_call(&r, "GET", t.prov.url, "/v1/apikeys", NULL, 0, NULL, &t.cust, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	{
		json_t *keys = json_object_get(r.json, "keys");
		cr_assert_eq(json_array_size(keys), 2);
		for (size_t i = 0; i < 2; i++) {
			json_t *k = json_array_get(keys, i);
			cr_assert_null(json_object_get(k, "secret"));
			cr_assert_null(json_object_get(k, "hash"));
			cr_assert_null(json_object_get(k, "salt"));
		}
		/* The read key was used, so it has a lastUsedAt. */
		for (size_t i = 0; i < 2; i++) {
			json_t *k = json_array_get(keys, i);
			if (strcmp(json_string_value(json_object_get(k, "id")), krid) == 0)
				cr_assert(json_is_string(json_object_get(k, "lastUsedAt")));
			else
				cr_assert_str_eq(json_string_value(json_object_get(k, "id")), kwid);
		}
	}
	httpd_client_resp_free(&r);
	/* Another wallet cannot revoke it; its owner can, at once. */
	snprintf(target, sizeof(target), "/v1/apikeys/%s", krid);
	su_call(&r, "DELETE", t.prov.url, target, NULL, 0, NULL, &t.other, 1);
	cr_assert_eq(r.status, 404, "%s", r.body);
	httpd_client_resp_free(&r);
	su_call(&r, "DELETE", t.prov.url, target, NULL, 0, NULL, &t.cust, 1);
	cr_assert_eq(r.status, 200, "%s", r.body);
	httpd_client_resp_free(&r);
	snprintf(target, sizeof(target), "/v1/jobs/%s", j.idh);
	cr_assert_eq(bearer_call(&t, "GET", target, NULL, kr, NULL), 401);
	cr_assert_eq(bearer_call(&t, "GET", target, NULL, kw, NULL), 200);
	/* A wrong secret for a live id. */
	kw[40] = kw[40] == 'A' ? 'B' : 'A';
	cr_assert_eq(bearer_call(&t, "GET", target, NULL, kw, NULL), 401);
	free(in);
	free(ref);
	teardown(&t);
}

/* HMAC-SHA256 as the provider seals DATA/auth/NAME (docs/provider.md),
 * computed here with OpenSSL from DATA/data.key. */
static void auth_seal(char out[65], const char *pdata, const char *name, const char *payload)
{
	char path[400];
	uint8_t *text, dk[32], mk[32], fk[32], m[32];
	size_t len;
	unsigned int n;

	snprintf(path, sizeof(path), "%s/data.key", pdata);
	tu_read_file(path, &text, &len);
	cr_assert(len >= 66 && text[0] == '0' && text[1] == 'x');
	cr_assert_eq(rcpt_hex_digits_decode(dk, 32, (const char *)text + 2, 64), RCPT_OK);
	free(text);
	cr_assert(HMAC(EVP_sha256(), dk, 32, (const unsigned char *)"assay-provider/1 auth-store",
		       27, mk, &n));
	cr_assert(HMAC(EVP_sha256(), mk, 32, (const unsigned char *)name, strlen(name), fk, &n));
	cr_assert(HMAC(EVP_sha256(), fk, 32, (const unsigned char *)payload, strlen(payload), m, &n));
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", m[i]);
}

/* Writes DATA/auth/NAME as the provider would, 0600. */
static void auth_write(const char *pdata, const char *name, const char *payload)
{
	char path[400], mac[65], *text;
	size_t n = strlen(payload) + 100;

	auth_seal(mac, pdata, name, payload);
	text = malloc(n);
	cr_assert(text);
	snprintf(text, n, "%s\nhmac-sha256:%s\n", payload, mac);
	snprintf(path, sizeof(path), "%s/auth/%s", pdata, name);
	unlink(path);
	tu_write_file(path, text, strlen(text), 0600);
	free(text);
}

/* DATA/auth/NAME's JSON line, checked against its seal. */
static json_t *auth_read(const char *pdata, const char *name)
{
	char path[400], mac[65], *payload;
	uint8_t *text;
	size_t len;
	const uint8_t *nl;
	json_t *o;

	snprintf(path, sizeof(path), "%s/auth/%s", pdata, name);
	tu_read_file(path, &text, &len);
	nl = memchr(text, '\n', len);
	cr_assert(nl);
	payload = strndup((const char *)text, (size_t)(nl - text));
	auth_seal(mac, pdata, name, payload);
	cr_assert_eq(len, (size_t)(nl - text) + 1 + 12 + 64 + 1);
	cr_assert_eq(memcmp(nl + 1, "hmac-sha256:", 12), 0);
	cr_assert_eq(memcmp(nl + 13, mac, 64), 0, "the seal is HMAC-SHA256 as documented");
	o = json_loads(payload, JSON_REJECT_DUPLICATES, NULL);
	cr_assert(o);
	free(payload);
	free(text);
	return o;
}

static mode_t mode_of(const char *pdata, const char *name)
{
	char path[400];
	struct stat st;

	snprintf(path, sizeof(path), "%s%s%s", pdata, name[0] ? "/" : "", name);
	cr_assert_eq(lstat(path, &st), 0, "%s", path);
	return st.st_mode & 07777;
}

/* base64 without padding (the PHC string's) decoded with OpenSSL. */
static size_t b64_nopad(uint8_t *out, const char *s, size_t n)
{
	unsigned char in[64], buf[64];
	size_t padded = (n + 3) / 4 * 4;

	cr_assert(padded < sizeof(in));
	memcpy(in, s, n);
	memset(in + n, '=', padded - n);
	cr_assert(EVP_DecodeBlock(buf, in, (int)padded) > 0);
	memcpy(out, buf, n * 3 / 4);
	return n * 3 / 4;
}

/* The key's stored hash is Argon2id (libargon2 itself, here) of its
 * secret with the parameters and salt the PHC string names. */
static void check_stored_hash(json_t *keys, const char *id, const char *token)
{
	const char *h = NULL, *salt, *hash;
	uint8_t sb[32], hb[48], want[32];

	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		if (strcmp(json_string_value(json_object_get(k, "id")), id) == 0)
			h = json_string_value(json_object_get(k, "hash"));
	}
	cr_assert(h);
	cr_assert_eq(strncmp(h, "$argon2id$v=19$m=19456,t=2,p=1$", 31), 0, "%s", h);
	salt = h + 31;
	hash = strchr(salt, '$');
	cr_assert(hash && hash - salt == 22 && strlen(hash + 1) == 43);
	cr_assert_eq(b64_nopad(sb, salt, 22), 16);
	cr_assert_eq(b64_nopad(hb, hash + 1, 43), 32);
	cr_assert_eq(argon2id_hash_raw(2, 19456, 1, token + 20, 43, sb, 16, want, 32), ARGON2_OK);
	cr_assert_eq(memcmp(want, hb, 32), 0);
}

/* Sessions and keys at the provider survive a restart on the same data
 * directory; the store holds neither a token nor a secret, is 0600 in a
 * 0700 directory, and is refused at start when others may read it or
 * it was edited; an expired key or a revoked session stays dead across
 * a restart. */
Test(provider, sessions_and_keys_survive_a_restart_in_a_guarded_store, .timeout = 180)
{
	struct pv t;
	char token[80], kw[80], kwid[32], msg[1024], sig[RCPT_SIG_HEX_BYTES], tail[2048];
	char *saved;
	uint8_t *text;
	size_t len;
	json_t *o, *keys;
	const char *extra[] = { "--siwe-domain", "auto", "--siwe-uri", "auto", NULL };
	char path[400];

	setup(&t, "31337");
	provider_start(&t, extra);
	cr_assert_eq(provider_signin(&t, &t.cust, "customer", token, msg, sizeof(msg), sig), 200);
	cr_assert_eq(key_create(&t, &t.cust, "[\"jobs:write\"]", 3600, "r1", kw, kwid), 201);
	cr_assert_eq(bearer_probe(&t, token), 400);
	cr_assert_eq(bearer_probe(&t, kw), 400, "the key is accepted (the JobSpec is not)");
	cr_assert_eq(mode_of(t.pdata, "auth"), 0700);
	cr_assert_eq(mode_of(t.pdata, "auth/sessions"), 0600);
	cr_assert_eq(mode_of(t.pdata, "auth/apikeys"), 0600);
	/* Neither the session token nor the key's secret is on disk. */
	snprintf(path, sizeof(path), "%s/auth/sessions", t.pdata);
	tu_read_file(path, &text, &len);
	cr_assert_null(memmem(text, len, token, strlen(token)));
	free(text);
	snprintf(path, sizeof(path), "%s/auth/apikeys", t.pdata);
	tu_read_file(path, &text, &len);
	cr_assert_null(memmem(text, len, kw + 20, 43));
	free(text);
	o = auth_read(t.pdata, "apikeys");
	keys = json_object_get(o, "keys");
	cr_assert_eq(json_array_size(keys), 1);
	check_stored_hash(keys, kwid, kw);
	json_decref(o);
	/* Nor in the provider's log (a wrong secret tried too). */
	{
		char wrong[80];
		snprintf(wrong, sizeof(wrong), "%s", kw);
		wrong[30] = wrong[30] == 'A' ? 'B' : 'A';
		cr_assert_eq(bearer_probe(&t, wrong), 401);
	}
	tu_read_file(t.prov_log, &text, &len);
	cr_assert_null(memmem(text, len, token, strlen(token)));
	cr_assert_null(memmem(text, len, kw + 20, 20));
	free(text);

	/* A restart on the same data directory: both still work. */
	cr_assert_eq(tu_daemon_stop(&t.prov), 0);
	provider_start(&t, extra);
	cr_assert_eq(bearer_probe(&t, token), 400, "the session survived the restart");
	cr_assert_eq(bearer_probe(&t, kw), 400, "the key survived the restart");
	/* A logout is kept too. */
	{
		struct httpd_client_resp r;
		cr_assert_eq(bearer_call(&t, "POST", "/v1/auth/logout", NULL, token, &r), 200,
			     "%s", r.body);
		httpd_client_resp_free(&r);
	}
	cr_assert_eq(tu_daemon_stop(&t.prov), 0);
	provider_start(&t, extra);
	cr_assert_eq(bearer_probe(&t, token), 401, "a revoked session stays revoked");
	cr_assert_eq(tu_daemon_stop(&t.prov), 0);

	/* A store others can read is refused at start, with the reason. */
	snprintf(path, sizeof(path), "%s/auth/apikeys", t.pdata);
	cr_assert_eq(chmod(path, 0644), 0);
	cr_assert_eq(provider_try(&t, extra), 1);
	tu_file_tail(tail, sizeof(tail), t.prov_log, 3);
	cr_assert(strstr(tail, "mode 0600"), "%s", tail);
	cr_assert_eq(chmod(path, 0600), 0);
	/* An edited store (one byte of the JSON) is refused. */
	tu_read_file(path, &text, &len);
	saved = malloc(len);
	memcpy(saved, text, len);
	text[10] ^= 0x01;
	unlink(path);
	tu_write_file(path, text, len, 0600);
	free(text);
	cr_assert_eq(provider_try(&t, extra), 1);
	tu_file_tail(tail, sizeof(tail), t.prov_log, 3);
	cr_assert(strstr(tail, "integrity"), "%s", tail);
	/* A sealed store with a member the provider does not know. */
	auth_write(t.pdata, "apikeys", "{\"v\":1,\"keys\":[],\"extra\":1}");
	cr_assert_eq(provider_try(&t, extra), 1);
	tu_file_tail(tail, sizeof(tail), t.prov_log, 3);
	cr_assert(strstr(tail, "malformed"), "%s", tail);
	/* The key's expiry moved into the past (resealed as the provider
	 * would): the key is refused. */
	unlink(path);
	tu_write_file(path, saved, len, 0600);
	free(saved);
	o = auth_read(t.pdata, "apikeys");
	keys = json_object_get(o, "keys");
	json_object_set_new(json_array_get(keys, 0), "createdAt", json_integer(1000));
	json_object_set_new(json_array_get(keys, 0), "expiresAt", json_integer((json_int_t)time(NULL) - 5));
	{
		char *payload = json_dumps(o, JSON_COMPACT);
		auth_write(t.pdata, "apikeys", payload);
		free(payload);
	}
	json_decref(o);
	provider_start(&t, extra);
	cr_assert_eq(bearer_probe(&t, kw), 401, "an expired key is refused");
	teardown(&t);
}

/* `assay apikey create|list|revoke --provider URL`: a key made at the
 * provider with the client works there with its scope, the list shows
 * it without its secret, and a revocation by the client takes effect at
 * once; --url and --provider together are refused. */
Test(provider, the_assay_client_manages_a_provider_key, .timeout = 120)
{
	struct pv t;
	struct tu_run run;
	char token[80] = "", id[32] = "", target[64];
	json_t *j;

	setup(&t, "31337");
	provider_start(&t, NULL);
	{
		const char *argv[] = { tu_assay(), "apikey", "create", "--provider", t.prov.url,
			"--key", t.k_cust, "--scope", "jobs:write", "--expires-in-s", "600", NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 0, "%s", run.err);
	j = json_loads(run.out, 0, NULL);
	cr_assert(j, "%s", run.out);
	snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(j, "secret")));
	snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(j, "id")));
	cr_assert_eq(strlen(token), 63);
	json_decref(j);
	tu_run_free(&run);
	cr_assert_eq(bearer_probe(&t, token), 400, "the key is taken on POST /v1/jobs");
	{
		const char *argv[] = { tu_assay(), "apikey", "list", "--provider", t.prov.url,
			"--key", t.k_cust, NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 0, "%s", run.err);
	j = json_loads(run.out, 0, NULL);
	cr_assert(j, "%s", run.out);
	cr_assert_eq(json_array_size(json_object_get(j, "keys")), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "keys"), 0),
							   "id")), id);
	cr_assert_null(json_object_get(json_array_get(json_object_get(j, "keys"), 0), "secret"));
	json_decref(j);
	tu_run_free(&run);
	{
		const char *argv[] = { tu_assay(), "apikey", "revoke", id, "--provider", t.prov.url,
			"--key", t.k_cust, NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 0, "%s", run.err);
	tu_run_free(&run);
	cr_assert_eq(bearer_probe(&t, token), 401, "revoked at once");
	snprintf(target, sizeof(target), "%s", t.esc.url);
	{
		const char *argv[] = { tu_assay(), "apikey", "list", "--provider", t.prov.url,
			"--url", target, "--key", t.k_cust, NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 2, "%s", run.err);
	tu_run_free(&run);
	teardown(&t);
}

/* `assay reconcile` (issue 17) on the records real daemons keep: the
 * provider's own data directory and the bundle `assay job submit`
 * saved.  Paid at the provider's --price (10), both agree with the
 * escrow; with the provider's record of the job gone, the payment is
 * one without a receipt.  The tampering cases are in test_reconcile.c. */
Test(provider, reconcile_reads_real_records, .timeout = 180)
{
	struct pv t;
	struct tu_run r;
	uint8_t *in;
	size_t in_len;
	char p_in[400], p_out[400], bundles[400], p_bundle[460], jobdir[460], meta[520];
	char id[RCPT_HASH_HEX_BYTES], want[160], state[32] = "";
	const char *extra[] = { "--siwe-domain", "auto", "--siwe-uri", "auto", NULL };

	setup(&t, "31337");
	provider_start(&t, extra);
	matmul_input(&in, &in_len, 4, 4, 4, 5);
	write_file(t.dir, "in.safetensors", in, in_len, p_in, sizeof(p_in));
	snprintf(p_out, sizeof(p_out), "%s/out.safetensors", t.dir);
	snprintf(bundles, sizeof(bundles), "%s/bundles", t.dir);
	cr_assert_eq(mkdir(bundles, 0700), 0);
	snprintf(p_bundle, sizeof(p_bundle), "%s/job.json", bundles);
	{
		const char *argv[] = { tu_assay(), "job", "submit", "--escrow", t.esc.url,
			"--provider", t.prov.url, "--key", t.k_cust, "--kernel", "matmul_f32@1",
			"--params", "{\"relu\":false}", "--input", p_in, "--output", p_out,
			"--bundle", p_bundle, "--max-price", "40", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		{
			const char *j = strstr(r.out, "\"job\":\"");
			cr_assert(j, "%s", r.out);
			memcpy(id, j + 7, 66);
			id[66] = '\0';
		}
		tu_run_free(&r);
	}
	/* The 2 s window closes; the escrow pays (bounded poll). */
	for (int i = 0; i < 600 && strcmp(state, "paid") != 0; i++) {
		struct httpd_client_resp er;
		char target[128];
		snprintf(target, sizeof(target), "/v1/jobs/%s", id);
		su_call(&er, "GET", t.esc.url, target, NULL, 0, NULL, NULL, 0);
		cr_assert_eq(er.status, 200, "%s", er.body);
		snprintf(state, sizeof(state), "%s", httpd_client_str(&er, "state"));
		httpd_client_resp_free(&er);
		if (strcmp(state, "paid") != 0)
			usleep(100000);
	}
	cr_assert_str_eq(state, "paid");
	{
		const char *argv[] = { tu_assay(), "reconcile", "--escrow", t.esc.url, "--key",
			t.k_prov, "--provider-data", t.pdata, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
		cr_assert_str_empty(r.out);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { tu_assay(), "reconcile", "--escrow", t.esc.url, "--key",
			t.k_cust, "--bundles", bundles, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
		cr_assert_str_empty(r.out);
		tu_run_free(&r);
	}
	/* The provider's record removed as its janitor removes it. */
	cr_assert_eq(tu_daemon_stop(&t.prov), 0, "assay-provider did not exit cleanly");
	snprintf(jobdir, sizeof(jobdir), "%s/jobs/%s", t.pdata, id + 2);
	snprintf(meta, sizeof(meta), "%s/meta.json", jobdir);
	cr_assert_eq(unlink(meta), 0);
	(void)rmdir(jobdir);
	{
		const char *argv[] = { tu_assay(), "reconcile", "--escrow", t.esc.url, "--key",
			t.k_prov, "--provider-data", t.pdata, NULL };
		tu_run(&r, argv);
		snprintf(want, sizeof(want), "paid-without-receipt %s price=10\n", id);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert_str_eq(r.out, want);
		tu_run_free(&r);
	}
	free(in);
	teardown(&t);
}
