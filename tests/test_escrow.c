/*
 * test_escrow.c: the real assay-escrow binary on loopback against a
 * private PostgreSQL (one database per test): a job's whole life, fraud
 * claims true and false, idempotency, bad input, authentication, a
 * SIGKILL between steps, PostgreSQL going away.  The ledger invariants
 * (chain_check_invariants) are checked after every test.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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
#include "escrow_limits.h"
#include "httpc.h"
#include "httpd.h"
#include "kernels.h"
#include "pgutil.h"
#include "testutil.h"
#include "banned.h"

extern char **environ;

/* The escrow of these tests: a challenge window of window_s, a 2 s
 * referee deadline, 30 s unbonding, one receipt in ten sampled; the
 * database made alone (for the PostgreSQL restart tests) when `alone`. */
static void esc_setup(unsigned window_s, int alone)
{
	struct efx_config c = { .window_s = window_s, .referee_s = 2, .unbonding_s = 30,
				.sample_bps = 1000, .alone = alone };

	efx_setup(&c);
}

/* A validator's attestation as a request body (malloc'd): `verdict` 1
 * or 2 with the given output root, the job's input attached when
 * `with_input`. */
static char *claim_body(struct efx_job *f, const struct rcpt_key *validator,
			const uint8_t output_root[32], int verdict, int with_input)
{
	char *in = with_input ? efx_input_member(f) : NULL;
	char *b = efx_claim_body(f, validator, output_root, verdict, in);

	free(in);
	return b;
}

/* A validator's claim: `verdict` with `output_root`, signed by p's validator. */
static void claim_post(struct hc_resp *resp, struct efx_job *f, const struct efx_parties *p,
		       const uint8_t output_root[32], int verdict, int with_input)
{
	char *in = with_input ? efx_input_member(f) : NULL;

	efx_claim_post(resp, f, &p->validator, output_root, verdict, in);
	free(in);
}

/* `assay audit verify` accepts the chain as served, and refuses it with
 * exit 1 once one byte of an entry is changed. */
static void audit_cli_check(const char *body)
{
	char dir[256], path[300];
	struct tu_run tr;
	const char *const argv[] = { tu_assay(), "audit", "verify", path, NULL };
	char *bad = strdup(body), *hit;

	cr_assert(bad);
	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/audit.json", dir);
	tu_write_file(path, body, strlen(body), 0600);
	tu_run(&tr, argv);
	cr_assert_eq(tr.status, 0, "assay audit verify: %s", tr.err);
	tu_run_free(&tr);
	hit = strstr(bad, "\"event\":\"");
	cr_assert(hit, "no event field in %s", body);
	hit += strlen("\"event\":\"");
	*hit = *hit == 'x' ? 'y' : 'x';
	tu_write_file(path, bad, strlen(bad), 0600);
	tu_run(&tr, argv);
	cr_assert_eq(tr.status, 1, "a tampered chain was accepted: %s", tr.out);
	tu_run_free(&tr);
	free(bad);
	tu_rmtree(dir);
}

/* Fetches the job's audit chain as `who` and checks every link. */
static size_t audit_check(const struct efx_job *f, const struct rcpt_key *who)
{
	char t[128];
	struct hc_resp r;
	json_t *j, *entries, *e;
	uint8_t prev[32] = { 0 };
	size_t i, n;

	snprintf(t, sizeof(t), "/v1/audit?job=%s", f->id_hex);
	efx_signed_req(&r, who, "GET", t, NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = efx_jparse(&r);
	entries = json_object_get(j, "entries");
	n = json_array_size(entries);
	json_array_foreach(entries, i, e) {
		uint8_t ph[32], h[32], want[32], *buf;
		char *text = json_dumps(json_object_get(e, "entry"),
					JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
		size_t tl = strlen(text);
		cr_assert_eq(rcpt_hex_decode(ph, 32, json_string_value(json_object_get(e, "prevHash"))), RCPT_OK);
		cr_assert_eq(rcpt_hex_decode(h, 32, json_string_value(json_object_get(e, "hash"))), RCPT_OK);
		cr_assert_eq(memcmp(ph, prev, 32), 0, "entry %zu does not link", i);
		buf = malloc(32 + tl);
		memcpy(buf, ph, 32);
		memcpy(buf + 32, text, tl);
		cr_assert_eq(rcpt_sha256(want, buf, 32 + tl), RCPT_OK);
		cr_assert_eq(memcmp(want, h, 32), 0, "entry %zu hash", i);
		cr_assert_eq(json_integer_value(json_object_get(json_object_get(e, "entry"), "index")),
			     (json_int_t)i + 1);
		memcpy(prev, h, 32);
		free(buf);
		free(text);
	}
	json_decref(j);
	audit_cli_check(r.body);
	hc_resp_free(&r);
	return n;
}

/* ---------------------------------------------------------------- tests */

Test(escrow, job_paid_after_window, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0, pv0, c1, pv1;
	char idem[48], t[128];

	esc_setup(1, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 1);
	efx_job_open(&f, efx_fresh_idem(idem));
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 1000);
	/* Validators see it once receipted. */
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	efx_get(&r, "/v1/jobs?state=receipted");
	cr_assert(strstr(r.body, f.id_hex) || strstr(r.body, "\"jobs\":[]") == NULL, "%s", r.body);
	hc_resp_free(&r);
	efx_wait_state(&f, "paid");
	c1 = efx_balance_of(p.customer.address);
	pv1 = efx_balance_of(p.provider.address);
	cr_assert_eq(c1.available, c0.available - 600, "customer gets maxPrice - price back");
	cr_assert_eq(pv1.available, pv0.available + 600, "provider paid the price once");
	cr_assert_eq(pv1.stake, pv0.stake);
	/* The audit chain: opened, receipted, window-closed, paid. */
	cr_assert_geq(audit_check(&f, &p.customer), 4);
	cr_assert_geq(audit_check(&f, &p.provider), 4);
	snprintf(t, sizeof(t), "/v1/audit?job=%s", f.id_hex);
	efx_signed_req(&r, &p.stranger, "GET", t, NULL, NULL, NULL, 0);
	efx_expect_problem(&r, 403, "forbidden");
	hc_resp_free(&r);
	/* A late receipt for a settled job is refused. */
	efx_receipt_make(&f, &p, 500, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	efx_expect_problem(&r, 409, "job-not-open");
	hc_resp_free(&r);
	efx_job_free(&f);
}

Test(escrow, no_receipt_full_refund, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0;
	char idem[48];

	esc_setup(1, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 2, 2);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_wait_state(&f, "refunded");
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available);
	/* A receipt after the deadline is refused. */
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 409, "%s", r.body);
	hc_resp_free(&r);
	efx_job_free(&f);
}

Test(escrow, fraud_claim_slashes_cheating_provider, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0, pv0, v0, c1, pv1, v1;
	char idem[48], t[128];
	json_t *j;

	esc_setup(2, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	v0 = efx_balance_of(p.validator.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 3);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 1);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* A claim whose input does not match the job's commitment is refused. */
	{
		uint8_t saved = f.input[f.input_len - 1];
		f.input[f.input_len - 1] ^= 1;
		claim_post(&r, &f, &p, f.out.root, 2, 1);
		efx_expect_problem(&r, 422, "input-mismatch");
		hc_resp_free(&r);
		f.input[f.input_len - 1] = saved;
	}
	claim_post(&r, &f, &p, f.out.root, 2, 1);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	efx_wait_state(&f, "refunded");
	/* Give the slash its tick if it trails the refund. */
	snprintf(t, sizeof(t), "/v1/jobs/%s", f.id_hex);
	for (int i = 0; i < 50; i++) {
		efx_get(&r, t);
		int done = strstr(r.body, "\"executed\":true") != NULL;
		hc_resp_free(&r);
		if (done)
			break;
		usleep(100000);
	}
	c1 = efx_balance_of(p.customer.address);
	pv1 = efx_balance_of(p.provider.address);
	v1 = efx_balance_of(p.validator.address);
	cr_assert_eq(c1.available, c0.available, "customer refunded in full");
	cr_assert_eq(pv1.stake, pv0.stake / 2, "provider slashed slash-bps of its stake");
	cr_assert_eq(pv1.available, pv0.available, "provider not paid");
	cr_assert_eq(v1.available, v0.available + pv0.stake / 2 / 5, "validator bounty");
	cr_assert_eq(v1.stake, v0.stake);
	efx_get(&r, t);
	j = efx_jparse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "disputes"), 0), "state")),
			 "provider_wrong");
	json_decref(j);
	hc_resp_free(&r);
	cr_assert_geq(audit_check(&f, &p.customer), 6);
	/* No retention: once the job is settled the escrow keeps no copy of
	 * the customer's input that came with the claim. */
	efx_wait_state(&f, "refunded");
	{
		PGconn *c = PQconnectdb(EFX.db.conninfo);
		const char *pv[1] = { f.id_hex + 2 };
		PGresult *res;
		cr_assert_eq(PQstatus(c), CONNECTION_OK);
		res = PQexecParams(c, "SELECT count(*), count(input) FROM escrow_disputes"
				   " WHERE job = decode($1, 'hex')", 1, NULL, pv, NULL, NULL, 0);
		cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
		cr_assert_str_eq(PQgetvalue(res, 0, 0), "1", "the dispute row is kept");
		cr_assert_str_eq(PQgetvalue(res, 0, 1), "0", "the input outlived settlement");
		PQclear(res);
		PQfinish(c);
	}
	efx_job_free(&f);
}

Test(escrow, false_claim_slashes_validator, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0, pv0, v0;
	uint8_t wrong[32];
	char idem[48];

	esc_setup(2, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	v0 = efx_balance_of(p.validator.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 4);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* The provider cannot attest its own job; a verdict 1 that names
	 * another root is inconsistent. */
	memcpy(wrong, f.out.root, 32);
	wrong[5] ^= 0xff;
	claim_post(&r, &f, &p, wrong, 1, 0);
	efx_expect_problem(&r, 422, "inconsistent-verdict");
	hc_resp_free(&r);
	claim_post(&r, &f, &p, wrong, 2, 1);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	/* The same statement again (a retry under a new key): the first
	 * answer; another statement by the same validator: refused. */
	claim_post(&r, &f, &p, wrong, 2, 1);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	wrong[6] ^= 0xff;
	claim_post(&r, &f, &p, wrong, 2, 0);
	efx_expect_problem(&r, 409, "already-attested");
	hc_resp_free(&r);
	efx_wait_state(&f, "paid");
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 600);
	cr_assert_eq(efx_balance_of(p.provider.address).available, pv0.available + 600);
	cr_assert_eq(efx_balance_of(p.provider.address).stake, pv0.stake, "honest provider not slashed");
	for (int i = 0; i < 50 && efx_balance_of(p.validator.address).stake == v0.stake; i++)
		usleep(100000);
	cr_assert_eq(efx_balance_of(p.validator.address).stake, v0.stake / 2, "false accuser slashed");
	cr_assert_eq(efx_balance_of(p.validator.address).available, v0.available);
	efx_job_free(&f);
}

Test(escrow, withheld_input_slashes_provider_after_deadline, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal pv0;
	char idem[48], t[128];

	esc_setup(3, 0);
	efx_parties_setup(&p, 0);
	pv0 = efx_balance_of(p.provider.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 5);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 1);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	claim_post(&r, &f, &p, f.out.root, 2, 0);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	/* Input of another job is refused; nobody supplies the right one. */
	snprintf(t, sizeof(t), "/v1/jobs/%s/input", f.id_hex);
	efx_post_idem(&r, t, efx_fresh_idem(idem), "not the input");
	efx_expect_problem(&r, 422, "input-mismatch");
	hc_resp_free(&r);
	efx_wait_state(&f, "refunded");
	for (int i = 0; i < 50 && efx_balance_of(p.provider.address).stake == pv0.stake; i++)
		usleep(100000);
	cr_assert_eq(efx_balance_of(p.provider.address).stake, pv0.stake / 2);
	efx_job_free(&f);
}

Test(escrow, idempotency_keys, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r1, r2, r3;
	char *b, *b2, idem[48];
	char a[RCPT_ADDR_HEX_BYTES], fb[160];

	esc_setup(5, 0);
	efx_parties_setup(&p, 0);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 6);
	b = efx_job_body(&f.job, f.sig, NULL);
	efx_fresh_idem(idem);
	efx_post_idem(&r1, "/v1/jobs", idem, b);
	cr_assert_eq(r1.status, 201, "%s", r1.body);
	efx_post_idem(&r2, "/v1/jobs", idem, b);
	cr_assert_eq(r2.status, 201);
	cr_assert_eq(r1.body_len, r2.body_len);
	cr_assert_eq(memcmp(r1.body, r2.body, r1.body_len), 0, "a retry returns the first answer");
	cr_assert_str_eq(r1.ctype, r2.ctype);
	/* Same key, another body. */
	f.job.nonce = 7;
	cr_assert_eq(rcpt_job_id(f.id, NULL, &EFX.dom, &f.job), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(f.sig, &p.customer, f.id), RCPT_OK);
	b2 = efx_job_body(&f.job, f.sig, NULL);
	efx_post_idem(&r3, "/v1/jobs", idem, b2);
	efx_expect_problem(&r3, 422, "idempotency-key-reused");
	hc_resp_free(&r3);
	/* The replayed job id under a new key. */
	efx_post_idem(&r3, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r3, 409, "job-exists");
	hc_resp_free(&r3);
	/* Money moved once: one lock of 1000. */
	cr_assert_eq(efx_balance_of(p.customer.address).available, 100000 - 1000);
	/* A faucet retried: credited once. */
	rcpt_address_format(a, p.stranger.address);
	snprintf(fb, sizeof(fb), "{\"address\":\"%s\",\"amount\":\"77\"}", a);
	efx_fresh_idem(idem);
	hc_resp_free(&r1);
	hc_resp_free(&r2);
	efx_post_idem(&r1, "/v1/faucet", idem, fb);
	efx_post_idem(&r2, "/v1/faucet", idem, fb);
	cr_assert_eq(r1.status, 200);
	cr_assert_str_eq(r1.body, r2.body);
	cr_assert_eq(efx_balance_of(p.stranger.address).available, 77);
	hc_resp_free(&r1);
	hc_resp_free(&r2);
	/* A mutating request without a key. */
	cr_assert_eq(hc_request(&r1, EFX.port, "POST", "/v1/faucet", NULL, fb, strlen(fb)), 0);
	efx_expect_problem(&r1, 400, "idempotency-key");
	hc_resp_free(&r1);
	free(b);
	free(b2);
	efx_job_free(&f);
}

Test(escrow, bad_input_changes_nothing, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0;
	char *b, idem[48], a[RCPT_ADDR_HEX_BYTES], body[512];
	uint8_t sig[65];
	struct rcpt_domain other;
	uint8_t oid[32];
	static const char *const bad_amounts[] = {
		"\"01\"", "\"-5\"", "\"1e3\"", "\"1.5\"", "\" 5\"", "5", "\"0x10\"", "\"\"", "\"0\"",
		"\"115792089237316195423570985008687907853269984665640564039457584007913129639936\"",
		NULL };
	size_t i;

	esc_setup(5, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	rcpt_address_format(a, p.customer.address);

	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), "{\"job\":");
	efx_expect_problem(&r, 400, "malformed-json");
	hc_resp_free(&r);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), "{\"job\":{},\"jobSignature\":\"0x00\"}");
	efx_expect_problem(&r, 400, "invalid-job");
	hc_resp_free(&r);
	{
		size_t big = 70 * 1024;
		char *huge = malloc(big + 1);
		cr_assert(huge);
		memset(huge, ' ', big);
		huge[big] = '\0';
		huge[0] = '{';
		huge[big - 1] = '}';
		efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), huge);
		efx_expect_problem(&r, 413, "body-too-large");
		hc_resp_free(&r);
		free(huge);
	}
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 8);
	/* A garbled signature, a high-S one, another signer. */
	memcpy(sig, f.sig, 65);
	sig[64] = 30;
	b = efx_job_body(&f.job, sig, NULL);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r, 400, "invalid-signature");
	hc_resp_free(&r);
	free(b);
	{
		static const uint8_t n[32] = {
			0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
			0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B,
			0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41 };
		int borrow = 0;
		memcpy(sig, f.sig, 65);
		for (int k = 31; k >= 0; k--) {
			int d = (int)n[k] - sig[32 + k] - borrow;
			borrow = d < 0;
			sig[32 + k] = (uint8_t)(d + (borrow ? 256 : 0));
		}
		sig[64] = sig[64] == 27 ? 28 : 27;
	}
	b = efx_job_body(&f.job, sig, NULL);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r, 400, "invalid-signature");
	cr_assert(strstr(r.body, "low-S"), "%s", r.body);
	hc_resp_free(&r);
	free(b);
	cr_assert_eq(rcpt_sign_digest(sig, &p.stranger, f.id), RCPT_OK);
	b = efx_job_body(&f.job, sig, NULL);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r, 422, "wrong-signer");
	hc_resp_free(&r);
	free(b);
	/* Signed for chain 1: recovers to someone else here; said plainly
	 * when the client names its domain. */
	rcpt_domain_assay(&other, 1, EFX.addr);
	cr_assert_eq(rcpt_job_id(oid, NULL, &other, &f.job), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(sig, &p.customer, oid), RCPT_OK);
	b = efx_job_body(&f.job, sig, NULL);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r, 422, "wrong-signer");
	hc_resp_free(&r);
	free(b);
	{
		char *dj = NULL, extra[512];
		cr_assert_eq(rcpt_domain_to_json(&dj, &other), RCPT_OK);
		snprintf(extra, sizeof(extra), ",\"domain\":%s", dj);
		free(dj);
		b = efx_job_body(&f.job, sig, extra);
		efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
		efx_expect_problem(&r, 422, "wrong-chain");
		hc_resp_free(&r);
		free(b);
	}
	/* Unknown keys, a past deadline, an unknown kernel, a price the
	 * provider's stake does not deter. */
	b = efx_job_body(&f.job, f.sig, ",\"extra\":1");
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r, 400, "invalid-request");
	hc_resp_free(&r);
	free(b);
	{
		struct efx_job g;
		efx_job_make(&g, &p, 1000, (uint64_t)time(NULL) - 1, 9);
		b = efx_job_body(&g.job, g.sig, NULL);
		efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
		efx_expect_problem(&r, 422, "deadline-passed");
		hc_resp_free(&r);
		free(b);
		efx_job_free(&g);
		efx_job_make(&g, &p, 5000, (uint64_t)time(NULL) + 60, 10);
		b = efx_job_body(&g.job, g.sig, NULL);
		efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
		efx_expect_problem(&r, 409, "stake-too-low-for-price");
		hc_resp_free(&r);
		free(b);
		efx_job_free(&g);
		efx_job_make(&g, &p, 1000, (uint64_t)time(NULL) + 60, 11);
		g.job.kernel_hash[0] ^= 1;
		cr_assert_eq(rcpt_job_id(g.id, NULL, &EFX.dom, &g.job), RCPT_OK);
		cr_assert_eq(rcpt_sign_digest(g.sig, &p.customer, g.id), RCPT_OK);
		b = efx_job_body(&g.job, g.sig, NULL);
		efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
		efx_expect_problem(&r, 422, "unknown-kernel");
		hc_resp_free(&r);
		free(b);
		efx_job_free(&g);
	}
	/* Amounts: non-canonical, negative, exponent, not a string, zero,
	 * 2^256. */
	for (i = 0; bad_amounts[i]; i++) {
		snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":%s}", a, bad_amounts[i]);
		efx_post_idem(&r, "/v1/faucet", efx_fresh_idem(idem), body);
		efx_expect_problem(&r, 400, "invalid-amount");
		hc_resp_free(&r);
		snprintf(body, sizeof(body), "{\"amount\":%s}", bad_amounts[i]);
		efx_signed_req(&r, &p.customer, "POST", "/v1/withdraw", efx_fresh_idem(idem), body, NULL, 0);
		efx_expect_problem(&r, 400, "invalid-amount");
		hc_resp_free(&r);
	}
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"10000000000000000000000000000000\"}", a);
	efx_post_idem(&r, "/v1/faucet", efx_fresh_idem(idem), body);
	efx_expect_problem(&r, 422, "amount-out-of-range");
	hc_resp_free(&r);
	/* Nothing changed. */
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available);
	efx_get(&r, "/v1/jobs?state=open");
	cr_assert_str_eq(r.body, "{\"jobs\":[]}");
	hc_resp_free(&r);
	efx_get(&r, "/v1/jobs?state=opening");
	cr_assert_str_eq(r.body, "{\"jobs\":[]}");
	hc_resp_free(&r);
	efx_job_free(&f);
}

/* Issue 11 section 3: params the kernel would refuse (PROTOCOL.md
 * sections 3 and 6: compact, sorted keys, the kernel's one form) are
 * refused at open with no money locked and no job written; the zero
 * address is an invalid address, not an invalid amount. */
Test(escrow, open_refuses_params_the_kernel_refuses, .fini = efx_teardown, .timeout = 60)
{
	static const struct { const char *kernel, *params; } bad[] = {
		{ "reduce_sum_f32@1", "not json" },
		{ "reduce_sum_f32@1", "{ }" },
		{ "reduce_sum_f32@1", "{\"relu\":false}" },
		{ "matmul_f32@1", "{}" },
		{ "matmul_f32@1", "{ \"relu\":true}" },
		{ "matmul_f32@1", "{\"relu\":1}" },
		{ "layernorm_f32@1", "{\"eps\":0}" },
		{ "conv2d_f32@1", "{\"stride\":[1,1],\"padding\":[0,0]}" },   /* unsorted */
		{ "conv2d_f32@1", "{\"padding\":[0, 0],\"stride\":[1,1]}" },  /* not compact */
	};
	char idem[48], st[32], *b, zero[] = "0x0000000000000000000000000000000000000000",
		body[160];
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0;
	size_t i;

	esc_setup(5, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 100 + i);
		snprintf(f.job.kernel, sizeof(f.job.kernel), "%s", bad[i].kernel);
		memcpy(f.job.kernel_hash, kern_find(bad[i].kernel)->hash, 32);
		snprintf(f.job.params, sizeof(f.job.params), "%s", bad[i].params);
		efx_job_sign(&f, &p);
		b = efx_job_body(&f.job, f.sig, NULL);
		efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
		efx_expect_problem(&r, 422, "invalid-params");
		cr_assert(strstr(r.body, bad[i].kernel), "the answer names the kernel: %s", r.body);
		hc_resp_free(&r);
		free(b);
		efx_job_state_or_none(st, &f);
		cr_assert_str_eq(st, "none", "%s %s left a job", bad[i].kernel, bad[i].params);
		efx_job_free(&f);
	}
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available, "money locked");
	/* The same job with its kernel's own form opens. */
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 99);
	efx_job_open(&f, efx_fresh_idem(idem));
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 1000);
	efx_job_free(&f);

	/* The zero address. */
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"5\"}", zero);
	efx_post_idem(&r, "/v1/faucet", efx_fresh_idem(idem), body);
	efx_expect_problem(&r, 400, "invalid-address");
	hc_resp_free(&r);
	snprintf(body, sizeof(body), "/v1/accounts/%s", zero);
	efx_get(&r, body);
	efx_expect_problem(&r, 400, "invalid-address");
	hc_resp_free(&r);
	snprintf(body, sizeof(body), "/v1/providers/%s", zero);
	efx_get(&r, body);
	efx_expect_problem(&r, 400, "invalid-address");
	hc_resp_free(&r);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 98);
	memset(f.job.provider, 0, 20);
	efx_job_sign(&f, &p);
	b = efx_job_body(&f.job, f.sig, NULL);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r, 400, "invalid-address");
	hc_resp_free(&r);
	free(b);
	efx_job_free(&f);
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 1000);
}

/* A receipt dated outside the job's life (before the escrow opened the
 * job, or after the receipt arrived, beyond ESCROW_RECEIPT_CLOCK_SKEW_S)
 * is refused and changes nothing; one inside the skew is taken. */
Test(escrow, receipt_times_within_the_jobs_life, .fini = efx_teardown, .timeout = 60)
{
	const uint64_t skew_ms = (uint64_t)ESCROW_RECEIPT_CLOCK_SKEW_S * 1000u;
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	char idem[48], st[32];
	uint64_t now_ms;
	struct { uint64_t start_off, end_off; int before; } bad[] = {
		{ 0, 0, 2 },                          /* 1970 */
		{ skew_ms + 5000, 0, 1 },             /* started before the job opened */
		{ 0, skew_ms + 60000, 0 },            /* finishes in the future */
	};
	size_t i;

	esc_setup(5, 0);
	efx_parties_setup(&p, 0);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 1);
	efx_job_open(&f, efx_fresh_idem(idem));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		efx_receipt_make(&f, &p, 600, 0);
		now_ms = (uint64_t)time(NULL) * 1000u;
		if (bad[i].before == 2) {
			f.receipt.started_at_ms = 0;
			f.receipt.finished_at_ms = 5;
		} else if (bad[i].before == 1) {
			f.receipt.started_at_ms = now_ms - bad[i].start_off;
			f.receipt.finished_at_ms = now_ms;
		} else {
			f.receipt.started_at_ms = now_ms;
			f.receipt.finished_at_ms = now_ms + bad[i].end_off;
		}
		cr_assert_eq(rcpt_receipt_id(f.receipt_id, NULL, &EFX.dom, &f.receipt), RCPT_OK);
		cr_assert_eq(rcpt_sign_digest(f.receipt_sig, &p.provider, f.receipt_id), RCPT_OK);
		efx_receipt_post(&r, &f, efx_fresh_idem(idem));
		efx_expect_problem(&r, 422, "receipt-time");
		hc_resp_free(&r);
		efx_job_state_or_none(st, &f);
		cr_assert_str_eq(st, "open", "case %zu moved the job", i);
	}
	/* Within the skew either side: taken. */
	efx_receipt_make(&f, &p, 600, 0);
	now_ms = (uint64_t)time(NULL) * 1000u;
	f.receipt.started_at_ms = now_ms - skew_ms / 2;
	f.receipt.finished_at_ms = now_ms + skew_ms / 2;
	cr_assert_eq(rcpt_receipt_id(f.receipt_id, NULL, &EFX.dom, &f.receipt), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(f.receipt_sig, &p.provider, f.receipt_id), RCPT_OK);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	efx_job_state_or_none(st, &f);
	cr_assert_str_eq(st, "receipted");
	efx_job_free(&f);
}

Test(escrow, auth_only_own_account, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct hc_resp r;
	char idem[48], a[RCPT_ADDR_HEX_BYTES];
	struct efx_bal c0;

	esc_setup(5, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	rcpt_address_format(a, p.customer.address);
	/* The stranger signs but claims to be the customer. */
	efx_signed_req(&r, &p.stranger, "POST", "/v1/withdraw", efx_fresh_idem(idem),
		   "{\"amount\":\"10\"}", a, 0);
	efx_expect_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	/* Signing as itself, the stranger moves only its own (empty) account. */
	efx_signed_req(&r, &p.stranger, "POST", "/v1/withdraw", efx_fresh_idem(idem),
		   "{\"amount\":\"10\"}", NULL, 0);
	efx_expect_problem(&r, 409, "insufficient-funds");
	hc_resp_free(&r);
	/* Stale and future timestamps. */
	efx_signed_req(&r, &p.customer, "POST", "/v1/withdraw", efx_fresh_idem(idem),
		   "{\"amount\":\"10\"}", NULL, -400);
	efx_expect_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	efx_signed_req(&r, &p.customer, "POST", "/v1/withdraw", efx_fresh_idem(idem),
		   "{\"amount\":\"10\"}", NULL, 400);
	efx_expect_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available);
	/* The owner withdraws; unstake then unbond are its own too. */
	efx_signed_req(&r, &p.customer, "POST", "/v1/withdraw", efx_fresh_idem(idem),
		   "{\"amount\":\"10\"}", NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 10);
	efx_signed_req(&r, &p.provider, "POST", "/v1/unstake", efx_fresh_idem(idem),
		   "{\"amount\":\"100\"}", NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(p.provider.address).unbonding, 100);
	efx_signed_req(&r, &p.provider, "POST", "/v1/unbond", efx_fresh_idem(idem), "{}", NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(p.provider.address).unbonding, 100, "not due before unbonding-s");
}

Test(escrow, sigkill_between_steps_resumes_and_settles_once, .fini = efx_teardown, .timeout = 90)
{
	struct efx_parties p;
	struct efx_job f, g;
	struct hc_resp r1, r2;
	struct efx_bal c0, pv0;
	char idem_open[48], idem[48], *b;

	esc_setup(2, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 12);
	efx_job_make(&g, &p, 1000, (uint64_t)time(NULL) + 3, 13);
	b = efx_job_body(&f.job, f.sig, NULL);
	efx_post_idem(&r1, "/v1/jobs", efx_fresh_idem(idem_open), b);
	cr_assert_eq(r1.status, 201, "%s", r1.body);
	efx_job_open(&g, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post(&r2, &f, efx_fresh_idem(idem));
	cr_assert_eq(r2.status, 200, "%s", r2.body);
	hc_resp_free(&r2);
	/* Killed with f's window and g's deadline running. */
	efx_stop(&EFX, SIGKILL);
	sleep(4);
	efx_spawn(&EFX);
	efx_wait_state(&f, "paid");
	efx_wait_state(&g, "refunded");
	/* The interrupted client retries: the first answer, byte for byte. */
	efx_post_idem(&r2, "/v1/jobs", idem_open, b);
	cr_assert_eq(r2.status, 201);
	cr_assert_str_eq(r1.body, r2.body);
	hc_resp_free(&r1);
	hc_resp_free(&r2);
	/* Settled once: after another restart and a few ticks, no change. */
	efx_stop(&EFX, SIGKILL);
	efx_spawn(&EFX);
	sleep(2);
	cr_assert_eq(efx_balance_of(p.provider.address).available, pv0.available + 600);
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 600);
	free(b);
	efx_job_free(&f);
	efx_job_free(&g);
}

Test(escrow, readyz_follows_postgresql, .fini = efx_teardown, .timeout = 90)
{
	struct hc_resp r;
	struct rcpt_key k;
	int i, ok = 0;

	esc_setup(5, 1);
	efx_get(&r, "/readyz");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	pgt_server_stop();
	efx_get(&r, "/readyz");
	efx_expect_problem(&r, 503, "not-ready");
	hc_resp_free(&r);
	efx_get(&r, "/livez");
	cr_assert_eq(r.status, 200);
	hc_resp_free(&r);
	/* A write while the database is down: 503, and the key stays free. */
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	{
		char a[RCPT_ADDR_HEX_BYTES], body[160];
		rcpt_address_format(a, k.address);
		snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"5\"}", a);
		efx_post_idem(&r, "/v1/faucet", "down-1", body);
		cr_assert_eq(r.status, 503, "%s", r.body);
		hc_resp_free(&r);
		pgt_server_start();
		for (i = 0; i < 100 && !ok; i++) {
			efx_get(&r, "/readyz");
			ok = r.status == 200;
			hc_resp_free(&r);
			if (!ok)
				usleep(100000);
		}
		cr_assert(ok, "readyz did not recover");
		efx_post_idem(&r, "/v1/faucet", "down-1", body);
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
	}
	cr_assert_eq(efx_balance_of(k.address).available, 5);
	rcpt_key_wipe(&k);
}

/* ---------------------------------------------------------------- races */

struct racer {
	pthread_t t;
	const struct rcpt_key *key;     /* NULL: an unsigned faucet call */
	const char *target, *idem, *body;
	struct hc_resp r;
};

static void *racer_main(void *arg)
{
	struct racer *x = arg;

	if (x->key) {
		struct httpd_auth_headers a;
		char h1[96], h2[64], h3[200], h4[128];
		const char *hdrs[5] = { h1, h2, h3, h4, NULL };
		if (httpd_auth_sign(&a, x->key, "POST", x->target, (uint64_t)time(NULL), x->idem,
				    x->body, strlen(x->body)) != HTTPD_OK)
			return NULL;
		snprintf(h1, sizeof(h1), "Assay-Address: %s", a.address);
		snprintf(h2, sizeof(h2), "Assay-Timestamp: %s", a.timestamp);
		snprintf(h3, sizeof(h3), "Assay-Signature: %s", a.signature);
		snprintf(h4, sizeof(h4), "Idempotency-Key: %s", x->idem);
		(void)hc_request(&x->r, EFX.port, "POST", x->target, hdrs, x->body, strlen(x->body));
	} else {
		char h[128];
		const char *hdrs[2] = { h, NULL };
		snprintf(h, sizeof(h), "Idempotency-Key: %s", x->idem);
		(void)hc_request(&x->r, EFX.port, "POST", x->target, hdrs, x->body, strlen(x->body));
	}
	return NULL;
}

#define RACERS 8

Test(escrow, races_same_key_and_overdraw, .fini = efx_teardown, .timeout = 60)
{
	struct racer x[RACERS];
	struct rcpt_key k;
	char a[RCPT_ADDR_HEX_BYTES], body[160], idem[48], keys[RACERS][48];
	int i, ok = 0, refused = 0;

	esc_setup(5, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	/* The same faucet request with the same key, eight at once. */
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"100\"}", a);
	efx_fresh_idem(idem);
	memset(x, 0, sizeof(x));
	for (i = 0; i < RACERS; i++) {
		x[i].target = "/v1/faucet";
		x[i].idem = idem;
		x[i].body = body;
		cr_assert_eq(pthread_create(&x[i].t, NULL, racer_main, &x[i]), 0);
	}
	for (i = 0; i < RACERS; i++)
		pthread_join(x[i].t, NULL);
	for (i = 0; i < RACERS; i++) {
		cr_assert_eq(x[i].r.status, 200, "%s", x[i].r.body);
		cr_assert_str_eq(x[i].r.body, x[0].r.body);
	}
	for (i = 0; i < RACERS; i++)
		hc_resp_free(&x[i].r);
	cr_assert_eq(efx_balance_of(k.address).available, 100, "credited once");
	/* Eight withdrawals of 60 from 100, each with its own key: one fits. */
	memset(x, 0, sizeof(x));
	for (i = 0; i < RACERS; i++) {
		x[i].key = &k;
		x[i].target = "/v1/withdraw";
		x[i].idem = efx_fresh_idem(keys[i]);
		x[i].body = "{\"amount\":\"60\"}";
		cr_assert_eq(pthread_create(&x[i].t, NULL, racer_main, &x[i]), 0);
	}
	for (i = 0; i < RACERS; i++)
		pthread_join(x[i].t, NULL);
	for (i = 0; i < RACERS; i++) {
		if (x[i].r.status == 200)
			ok++;
		else if (x[i].r.status == 409)
			refused++;
		hc_resp_free(&x[i].r);
	}
	cr_assert_eq(ok, 1);
	cr_assert_eq(refused, RACERS - 1);
	cr_assert_eq(efx_balance_of(k.address).available, 40);
	rcpt_key_wipe(&k);
}

Test(escrow, audit_log_is_append_only, .fini = efx_teardown, .timeout = 60)
{
	struct rcpt_key k;
	PGconn *c;
	PGresult *res;

	esc_setup(5, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	efx_faucet(&k, 5);
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert(c && PQstatus(c) == CONNECTION_OK);
	res = PQexec(c, "SELECT count(*) FROM escrow_audit");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "1");
	PQclear(res);
	res = PQexec(c, "UPDATE escrow_audit SET entry = '{}'");
	cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "an audit entry was rewritten");
	PQclear(res);
	res = PQexec(c, "DELETE FROM escrow_audit");
	cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "an audit entry was deleted");
	PQclear(res);
	PQfinish(c);
	rcpt_key_wipe(&k);
}

Test(escrow, refused_transitions, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct rcpt_receipt taken;
	uint8_t taken_id[32], taken_sig[65];
	char idem[48], t[128];

	esc_setup(1, 0);
	efx_parties_setup(&p, 0);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 20);
	/* Unknown job: 404 for every step. */
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	efx_expect_problem(&r, 404, "job-not-found");
	hc_resp_free(&r);
	efx_job_open(&f, efx_fresh_idem(idem));
	/* open: no attestation, no input. */
	claim_post(&r, &f, &p, f.out.root, 1, 0);
	efx_expect_problem(&r, 409, "not-receipted");
	hc_resp_free(&r);
	snprintf(t, sizeof(t), "/v1/jobs/%s/input", f.id_hex);
	{
		char *in = malloc(f.input_len + 1);
		cr_assert(in);
		memcpy(in, f.input, f.input_len);
		in[f.input_len] = '\0';
		cr_assert_eq(hc_request(&r, EFX.port, "POST", t,
					(const char *const[]){ "Idempotency-Key: in-1", NULL },
					in, f.input_len), 0);
		efx_expect_problem(&r, 409, "no-open-dispute");
		hc_resp_free(&r);
		free(in);
	}
	/* receipted: the same receipt again is the same answer; another is refused. */
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* The receipt taken, kept: one made again later may carry another
	 * second in its times, and so be another receipt. */
	memcpy(&taken, &f.receipt, sizeof(taken));
	memcpy(taken_id, f.receipt_id, sizeof(taken_id));
	memcpy(taken_sig, f.receipt_sig, sizeof(taken_sig));
	efx_receipt_make(&f, &p, 700, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	efx_expect_problem(&r, 409, "job-not-open");
	hc_resp_free(&r);
	/* A price above maxPrice never forms a valid bundle. */
	efx_receipt_make(&f, &p, 1001, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	efx_expect_problem(&r, 422, "receipt-refused");
	hc_resp_free(&r);
	memcpy(&f.receipt, &taken, sizeof(taken));
	memcpy(f.receipt_id, taken_id, sizeof(taken_id));
	memcpy(f.receipt_sig, taken_sig, sizeof(taken_sig));
	efx_wait_state(&f, "paid");
	/* paid: no attestation any more. */
	claim_post(&r, &f, &p, f.out.root, 1, 0);
	efx_expect_problem(&r, 409, "window-closed");
	hc_resp_free(&r);
	efx_job_free(&f);
}

Test(escrow, refuses_bad_configuration, .timeout = 30)
{
	char dir[256], key[320], bin[512];
	struct rcpt_key k;
	struct tu_run r;

	tu_tmpdir(dir, sizeof(dir));
	snprintf(key, sizeof(key), "%s/escrow.key", dir);
	snprintf(bin, sizeof(bin), "%s/bin/assay-escrow", getenv("ASSAY_BUILD"));
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&k, NULL, key), RCPT_OK);
	rcpt_key_wipe(&k);
	{
		/* Unbonding shorter than window + referee deadline. */
		const char *argv[] = { bin, "--db", "host=/nonexistent", "--key", key,
			"--challenge-window-s", "100", "--referee-deadline-s", "50",
			"--unbonding-s", "120", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 2, "%s", r.err);
		cr_assert(strstr(r.err, "--unbonding-s"), "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { bin, "--db", "host=/nonexistent", "--key", key,
			"--slash-bps", "10001", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 2, "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { bin, "--db", "host=/nonexistent", "--key", key,
			"--min-stake", "0", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 2, "%s", r.err);
		tu_run_free(&r);
	}
	{
		/* A key others can read is refused. */
		const char *argv[] = { bin, "--db", "host=/nonexistent", "--key", key, NULL };
		cr_assert_eq(chmod(key, 0644), 0);
		tu_run(&r, argv);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "could not load key"), "%s", r.err);
		tu_run_free(&r);
	}
	{
		/* A FIFO as the key: refused at once, not a hang. */
		const char *argv[] = { bin, "--db", "host=/nonexistent", "--key", key, NULL };
		cr_assert_eq(unlink(key), 0);
		cr_assert_eq(mkfifo(key, 0600), 0);
		tu_run(&r, argv);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "not a regular file"), "%s", r.err);
		tu_run_free(&r);
	}
	tu_rmtree(dir);
}

Test(escrow, provider_exposure_capped_by_stake, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f[5];
	struct hc_resp r;
	char idem[48], *b;
	int i;

	esc_setup(5, 0);
	efx_parties_setup(&p, 0);
	/* Stake 100000: p * S = 0.1 * 0.5 * 100000 = 5000.  Four open jobs of
	 * 1000 fit; a fifth would let cheating on all five pay. */
	for (i = 0; i < 4; i++) {
		efx_job_make(&f[i], &p, 1000, (uint64_t)time(NULL) + 60, 30 + (uint64_t)i);
		efx_job_open(&f[i], efx_fresh_idem(idem));
	}
	efx_job_make(&f[4], &p, 1000, (uint64_t)time(NULL) + 60, 34);
	b = efx_job_body(&f[4].job, f[4].sig, NULL);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	efx_expect_problem(&r, 409, "stake-too-low-for-price");
	hc_resp_free(&r);
	/* More stake, and it fits. */
	efx_stake(&p.provider, 50000);
	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), b);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	free(b);
	for (i = 0; i < 5; i++)
		efx_job_free(&f[i]);
}

/* ---------------------------------------------------------------- shared by the tests below */

/* POSTs the job's input to the escrow, unsigned, a fresh key. */
static void input_post(struct hc_resp *r, const struct efx_job *f)
{
	char t[128], h[128], idem[48];
	const char *hdrs[2] = { h, NULL };

	snprintf(t, sizeof(t), "/v1/jobs/%s/input", f->id_hex);
	snprintf(h, sizeof(h), "Idempotency-Key: %s", efx_fresh_idem(idem));
	cr_assert_eq(hc_request(r, EFX.port, "POST", t, hdrs, f->input, f->input_len), 0);
}

/* ---------------------------------------------------------------- PostgreSQL restarted mid-job */

/* Kills the escrow's sessions whose application_name is LIKE `app`
 * ("assay-ledger": the ledger's; "assay-%": every one) at random
 * intervals of 30..150 ms until told to stop. */
struct ledger_storm {
	pthread_t t;
	atomic_int stop;
	int killed;
	const char *app;
};

static void *ledger_storm_main(void *arg)
{
	struct ledger_storm *x = arg;
	char sql[256];
	unsigned seed = 12345;
	PGconn *c = PQconnectdb(EFX.db.conninfo);

	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
		 "WHERE datname = '%s' AND application_name LIKE '%s'", EFX.db.name,
		 x->app ? x->app : "assay-ledger");
	while (!atomic_load(&x->stop) && PQstatus(c) == CONNECTION_OK) {
		PGresult *res = PQexec(c, sql);
		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			x->killed += PQntuples(res);
		PQclear(res);
		usleep(30000 + (rand_r(&seed) % 120) * 1000);
	}
	PQfinish(c);
	return NULL;
}

/* Issue 12 item 2: the settlement loop freed the ledger connection on the
 * first UNAVAILABLE and went on settling the batch through the NULL
 * (SIGSEGV).  Ledger connections killed again and again while 60 jobs
 * fall due: the escrow stays up, and once the storm ends every job is
 * paid exactly once. */
Test(escrow, ledger_connection_drops_mid_batch_settle_once, .fini = efx_teardown, .timeout = 120)
{
	enum { N = 60 };
	static struct efx_job f[N];
	struct ledger_storm storm;
	struct efx_parties p;
	struct hc_resp r;
	struct efx_bal c0, pv0, c1, pv1;
	char idem[48];
	int i, st;

	esc_setup(1, 0);
	efx_parties_setup(&p, 0);
	for (i = 0; i < N; i++) {
		efx_job_make(&f[i], &p, 50, (uint64_t)time(NULL) + 120, 500 + (uint64_t)i);
		efx_job_open(&f[i], efx_fresh_idem(idem));
	}
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	memset(&storm, 0, sizeof(storm));
	for (i = 0; i < N; i++) {
		efx_receipt_make(&f[i], &p, 30, 0);
		efx_receipt_post(&r, &f[i], efx_fresh_idem(idem));
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
	}
	cr_assert_eq(pthread_create(&storm.t, NULL, ledger_storm_main, &storm), 0);
	sleep(8);
	atomic_store(&storm.stop, 1);
	pthread_join(storm.t, NULL);
	cr_assert_gt(storm.killed, 0, "the storm killed no ledger connection");
	cr_assert_eq(waitpid(EFX.pid, &st, WNOHANG), 0, "the escrow died (status %d; log %s)", st,
		     EFX.log_path);
	/* The HTTP side's ledger connection was killed too: its next use
	 * answers 503 (retry) and reconnects; /readyz is that next use. */
	for (i = 0, st = 0; i < 50 && st != 200; i++) {
		efx_get(&r, "/readyz");
		st = r.status;
		hc_resp_free(&r);
		if (st != 200)
			usleep(100000);
	}
	cr_assert_eq(st, 200, "readyz did not recover");
	for (i = 0; i < N; i++)
		efx_wait_state(&f[i], "paid");
	c1 = efx_balance_of(p.customer.address);
	pv1 = efx_balance_of(p.provider.address);
	/* Locked 50 at open, 20 back and 30 to the provider at release. */
	cr_assert_eq(c1.available, c0.available + (uint64_t)N * 20, "customer: %" PRIu64 " -> %" PRIu64,
		     c0.available, c1.available);
	cr_assert_eq(pv1.available, pv0.available + (uint64_t)N * 30, "provider paid once per job");
	efx_invariants("after the storm");
	for (i = 0; i < N; i++)
		efx_job_free(&f[i]);
}

Test(escrow, postgresql_restart_mid_job, .fini = efx_teardown, .timeout = 90)
{
	struct efx_parties p, q;             /* q: the job whose payment falls due meanwhile */
	struct efx_job f, g;
	struct hc_resp r1, r2;
	struct efx_bal c0, pv0, qc0, qp0, c1, pv1;
	char idem[48], st[32];
	int i, ok = 0;

	esc_setup(2, 1);
	efx_parties_setup(&p, 0);
	efx_parties_setup(&q, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	qc0 = efx_balance_of(q.customer.address);
	qp0 = efx_balance_of(q.provider.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 40);
	efx_job_make(&g, &q, 1000, (uint64_t)time(NULL) + 60, 41);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_job_open(&g, efx_fresh_idem(idem));
	efx_receipt_make(&g, &q, 500, 0);
	efx_receipt_post(&r1, &g, efx_fresh_idem(idem));
	cr_assert_eq(r1.status, 200, "%s", r1.body);
	hc_resp_free(&r1);
	efx_receipt_make(&f, &p, 600, 0);
	c1 = efx_balance_of(p.customer.address);
	pv1 = efx_balance_of(p.provider.address);
	cr_assert_eq(c1.available, c0.available - 1000);

	/* Down: f's receipt fails cleanly, and g's window closes meanwhile. */
	pgt_server_stop();
	efx_receipt_post(&r1, &f, "pg-restart-receipt");
	efx_expect_problem(&r1, 503, "unavailable");
	hc_resp_free(&r1);
	efx_get(&r1, "/v1/jobs");
	cr_assert_eq(r1.status, 503, "%s", r1.body);
	hc_resp_free(&r1);
	sleep(3);
	pgt_server_start();
	for (i = 0; i < 100 && !ok; i++) {
		efx_get(&r1, "/readyz");
		ok = r1.status == 200;
		hc_resp_free(&r1);
		if (!ok)
			usleep(100000);
	}
	cr_assert(ok, "readyz did not recover");

	/* The failed request changed nothing. */
	efx_job_state_or_none(st, &f);
	cr_assert_str_eq(st, "open");
	cr_assert(efx_bal_eq(efx_balance_of(p.customer.address), c1));
	cr_assert(efx_bal_eq(efx_balance_of(p.provider.address), pv1));
	/* The retry under the same key completes, once. */
	efx_receipt_post(&r1, &f, "pg-restart-receipt");
	cr_assert_eq(r1.status, 200, "%s", r1.body);
	efx_receipt_post(&r2, &f, "pg-restart-receipt");
	cr_assert_eq(r2.status, 200, "%s", r2.body);
	cr_assert_str_eq(r1.body, r2.body);
	hc_resp_free(&r1);
	hc_resp_free(&r2);
	/* The settlement loop picks up where it was: g's overdue payment
	 * and then f's, each once. */
	efx_wait_state(&g, "paid");
	efx_wait_state(&f, "paid");
	sleep(1);
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 600);
	cr_assert(efx_bal_eq(efx_balance_of(p.provider.address),
			 (struct efx_bal){ pv0.available + 600, pv0.stake, pv0.unbonding }));
	cr_assert_eq(efx_balance_of(q.customer.address).available, qc0.available - 500);
	cr_assert(efx_bal_eq(efx_balance_of(q.provider.address),
			 (struct efx_bal){ qp0.available + 500, qp0.stake, qp0.unbonding }));
	efx_invariants("after the restart");
	efx_job_free(&f);
	efx_job_free(&g);
}

/* ---------------------------------------------------------------- every transition from every state */

enum t_op { OP_RECEIPT, OP_RECEIPT2, OP_MATCH, OP_CLAIM, OP_INPUT, OP_N };
enum t_st { ST_NONE, ST_OPEN, ST_RECEIPTED, ST_DISPUTED, ST_PAID, ST_REFUNDED, ST_SLASHED, ST_N };

static const char *const op_name[OP_N] = { "receipt", "second receipt", "attest match",
	"fraud claim", "input upload" };
static const char *const st_name[ST_N] = { "none", "open", "receipted", "disputed", "paid",
	"refunded", "refunded (provider slashed)" };

/* The answer to each operation in each state: status, problem type
 * (NULL for a success), the job's state right after, and for a success
 * that starts something, where the job ends (NULL: nothing more). */
struct t_want {
	int status;
	const char *slug;
	const char *after;
	const char *final;
};

static const struct t_want t_table[ST_N][OP_N] = {
	[ST_NONE] = {
		[OP_RECEIPT] = { 404, "job-not-found", "none", NULL },
		[OP_RECEIPT2] = { 404, "job-not-found", "none", NULL },
		[OP_MATCH] = { 404, "job-not-found", "none", NULL },
		[OP_CLAIM] = { 404, "job-not-found", "none", NULL },
		[OP_INPUT] = { 404, "job-not-found", "none", NULL },
	},
	[ST_OPEN] = {
		[OP_RECEIPT] = { 200, NULL, "receipted", "paid" },
		[OP_RECEIPT2] = { 200, NULL, "receipted", "paid" },
		[OP_MATCH] = { 409, "not-receipted", "open", NULL },
		[OP_CLAIM] = { 409, "not-receipted", "open", NULL },
		[OP_INPUT] = { 409, "no-open-dispute", "open", NULL },
	},
	[ST_RECEIPTED] = {
		/* The same receipt again is its first answer. */
		[OP_RECEIPT] = { 200, NULL, "receipted", NULL },
		[OP_RECEIPT2] = { 409, "job-not-open", "receipted", NULL },
		[OP_MATCH] = { 201, NULL, "receipted", NULL },
		/* No input comes: the provider loses by default. */
		[OP_CLAIM] = { 201, NULL, "disputed", "refunded" },
		[OP_INPUT] = { 409, "no-open-dispute", "receipted", NULL },
	},
	[ST_DISPUTED] = {
		[OP_RECEIPT] = { 200, NULL, "disputed", NULL },
		[OP_RECEIPT2] = { 409, "job-not-open", "disputed", NULL },
		/* The claimant attests again: another statement is refused, the
		 * same one is its first answer. */
		[OP_MATCH] = { 409, "already-attested", "disputed", NULL },
		[OP_CLAIM] = { 201, NULL, "disputed", NULL },
		/* The referee re-runs, the receipt was honest: validator wrong. */
		[OP_INPUT] = { 200, NULL, NULL, "paid" },
	},
	[ST_PAID] = {
		[OP_RECEIPT] = { 200, NULL, "paid", NULL },
		[OP_RECEIPT2] = { 409, "job-not-open", "paid", NULL },
		[OP_MATCH] = { 409, "window-closed", "paid", NULL },
		[OP_CLAIM] = { 409, "window-closed", "paid", NULL },
		[OP_INPUT] = { 409, "no-open-dispute", "paid", NULL },
	},
	[ST_REFUNDED] = {
		[OP_RECEIPT] = { 409, "job-not-open", "refunded", NULL },
		[OP_RECEIPT2] = { 409, "job-not-open", "refunded", NULL },
		[OP_MATCH] = { 409, "not-receipted", "refunded", NULL },
		[OP_CLAIM] = { 409, "not-receipted", "refunded", NULL },
		[OP_INPUT] = { 409, "no-open-dispute", "refunded", NULL },
	},
	[ST_SLASHED] = {
		[OP_RECEIPT] = { 200, NULL, "refunded", NULL },
		[OP_RECEIPT2] = { 409, "job-not-open", "refunded", NULL },
		[OP_MATCH] = { 409, "window-closed", "refunded", NULL },
		[OP_CLAIM] = { 409, "window-closed", "refunded", NULL },
		[OP_INPUT] = { 409, "no-open-dispute", "refunded", NULL },
	},
};

/* One job with parties of its own, so that its balances move only by it. */
struct t_cell {
	struct efx_parties p;
	struct efx_job f;
	uint8_t wrong[32];       /* the claim's output root */
	struct efx_snap s0;          /* before anything (after funding) */
	struct efx_snap before, after;
	unsigned price;          /* the receipt the job ends with */
};

static void t_claim(struct hc_resp *r, struct t_cell *c)
{
	claim_post(r, &c->f, &c->p, c->wrong, 2, 0);
}

/* Funds the parties, opens the job and brings it to `st` (the terminal
 * states only start on their way: see t_reach). */
static void t_cell_make(struct t_cell *c, enum t_st st, uint64_t nonce)
{
	struct hc_resp r;
	char idem[48];

	memset(c, 0, sizeof(*c));
	efx_parties_setup(&c->p, 0);
	efx_job_make(&c->f, &c->p, 1000, (uint64_t)time(NULL) + (st == ST_REFUNDED ? 2 : 60), nonce);
	efx_receipt_make(&c->f, &c->p, 600, 0);
	c->price = 600;
	memcpy(c->wrong, c->f.out.root, 32);
	c->wrong[3] ^= 0x77;
	efx_snap_take(&c->s0, &c->p, &c->f);
	if (st == ST_NONE)
		return;
	efx_job_open(&c->f, efx_fresh_idem(idem));
	if (st == ST_OPEN || st == ST_REFUNDED)
		return;
	efx_receipt_post(&r, &c->f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	if (st == ST_RECEIPTED || st == ST_PAID)
		return;
	t_claim(&r, c);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
}

/* Time passing: deadline (refund), window (payment), referee deadline
 * with no input (slash).  Checks the money each way moved. */
static void t_reach(struct t_cell *c, enum t_st st)
{
	const struct efx_bal *c0 = &c->s0.c, *pv0 = &c->s0.pv, *v0 = &c->s0.v;
	struct efx_bal cb, pb, vb;
	int i;

	efx_wait_state(&c->f, st == ST_PAID ? "paid" : "refunded");
	/* The slash is its own step after the refund. */
	for (i = 0; st == ST_SLASHED && i < 50 &&
		    efx_balance_of(c->p.provider.address).stake == pv0->stake; i++)
		usleep(100000);
	cb = efx_balance_of(c->p.customer.address);
	pb = efx_balance_of(c->p.provider.address);
	vb = efx_balance_of(c->p.validator.address);
	switch (st) {
	case ST_PAID:
		cr_assert_eq(cb.available, c0->available - 600);
		cr_assert(efx_bal_eq(pb, (struct efx_bal){ pv0->available + 600, pv0->stake, 0 }));
		cr_assert(efx_bal_eq(vb, *v0));
		break;
	case ST_REFUNDED:
		cr_assert(efx_bal_eq(cb, *c0));
		cr_assert(efx_bal_eq(pb, *pv0));
		cr_assert(efx_bal_eq(vb, *v0));
		break;
	case ST_SLASHED:
		cr_assert(efx_bal_eq(cb, *c0));
		cr_assert(efx_bal_eq(pb, (struct efx_bal){ pv0->available, pv0->stake / 2, 0 }));
		cr_assert(efx_bal_eq(vb, (struct efx_bal){ v0->available + pv0->stake / 2 / 5,
						   v0->stake, 0 }));
		break;
	default:
		cr_assert_fail("not a terminal state");
	}
}

static void t_apply(struct hc_resp *r, struct t_cell *c, enum t_op op)
{
	char idem[48];

	switch (op) {
	case OP_RECEIPT:
		efx_receipt_post(r, &c->f, efx_fresh_idem(idem));
		break;
	case OP_RECEIPT2: {
		/* Another receipt for the same job (a different price). */
		struct efx_job g = c->f;
		efx_receipt_make(&g, &c->p, 700, 0);
		efx_receipt_post(r, &g, efx_fresh_idem(idem));
		if (r->status == 200)
			c->price = 700;
		break;
	}
	case OP_MATCH:
		claim_post(r, &c->f, &c->p, c->f.out.root, 1, 0);
		break;
	case OP_CLAIM:
		t_claim(r, c);
		break;
	case OP_INPUT:
		input_post(r, &c->f);
		break;
	case OP_N:
		cr_assert_fail("no such operation");
	}
}

/* Applies `op` to the cell in state `st` and checks the answer against
 * the table; nothing but the table's state change may follow. */
static void t_check(struct t_cell *c, enum t_st st, enum t_op op)
{
	const struct t_want *w = &t_table[st][op];
	struct hc_resp r;
	char what[96];

	snprintf(what, sizeof(what), "%s in state %s", op_name[op], st_name[st]);
	efx_snap_take(&c->before, &c->p, &c->f);
	t_apply(&r, c, op);
	if (w->slug) {
		efx_expect_problem(&r, w->status, w->slug);
	} else {
		cr_assert_eq(r.status, w->status, "%s: status %d, want %d: %s", what, r.status,
			     w->status, r.body);
		cr_assert_str_eq(r.ctype, "application/json", "%s", what);
	}
	hc_resp_free(&r);
	if (w->after) {
		/* No money moves on any of these requests by itself. */
		efx_snap_take(&c->after, &c->p, &c->f);
		snprintf(c->before.state, sizeof(c->before.state), "%s", w->after);
		efx_snap_same(&c->before, &c->after, what);
	}
	efx_invariants(what);
}

Test(escrow, every_operation_from_every_state, .fini = efx_teardown, .timeout = 110)
{
	static struct t_cell cells[ST_N][OP_N];
	uint64_t nonce = 100;
	int s, o;

	esc_setup(3, 0);
	/* The states that stand still long enough (window 3 s, referee
	 * deadline 2 s): made and tried at once, one job per pair. */
	for (s = ST_NONE; s <= ST_DISPUTED; s++)
		for (o = 0; o < OP_N; o++) {
			t_cell_make(&cells[s][o], (enum t_st)s, nonce++);
			t_check(&cells[s][o], (enum t_st)s, (enum t_op)o);
		}
	/* The terminal ones are reached by time passing. */
	for (s = ST_PAID; s < ST_N; s++)
		for (o = 0; o < OP_N; o++)
			t_cell_make(&cells[s][o], (enum t_st)s, nonce++);
	for (s = ST_PAID; s < ST_N; s++)
		for (o = 0; o < OP_N; o++) {
			t_reach(&cells[s][o], (enum t_st)s);
			t_check(&cells[s][o], (enum t_st)s, (enum t_op)o);
		}
	/* Where the successes lead. */
	for (s = ST_NONE; s <= ST_DISPUTED; s++)
		for (o = 0; o < OP_N; o++) {
			struct t_cell *c = &cells[s][o];
			const char *fin = t_table[s][o].final;
			if (!fin)
				continue;
			efx_wait_state(&c->f, fin);
			if (strcmp(fin, "paid") == 0) {
				cr_assert_eq(efx_balance_of(c->p.customer.address).available,
					     c->s0.c.available - c->price);
				cr_assert_eq(efx_balance_of(c->p.provider.address).available,
					     c->s0.pv.available + c->price);
			} else {
				cr_assert_eq(efx_balance_of(c->p.customer.address).available,
					     c->s0.c.available);
			}
			if (s == ST_DISPUTED && o == OP_INPUT) {
				/* The false accuser is slashed, the provider is not. */
				for (int i = 0; i < 50 && efx_balance_of(c->p.validator.address).stake ==
						     c->s0.v.stake; i++)
					usleep(100000);
				cr_assert_eq(efx_balance_of(c->p.validator.address).stake, c->s0.v.stake / 2);
				cr_assert_eq(efx_balance_of(c->p.provider.address).stake, c->s0.pv.stake);
			}
		}
	/* Time passing changes no terminal state. */
	sleep(1);
	for (s = ST_PAID; s < ST_N; s++)
		for (o = 0; o < OP_N; o++) {
			struct efx_snap now;
			efx_snap_take(&now, &cells[s][o].p, &cells[s][o].f);
			efx_snap_same(&cells[s][o].after, &now, "a terminal state, later");
		}
	efx_invariants("at the end");
	for (s = 0; s < ST_N; s++)
		for (o = 0; o < OP_N; o++) {
			efx_job_free(&cells[s][o].f);
			rcpt_key_wipe(&cells[s][o].p.customer);
		}
}

/* ---------------------------------------------------------------- races over HTTP */

/* One client connection per thread: posts each of its requests when the
 * wall clock reaches the request's time. */
struct timed_post {
	double at_s;             /* CLOCK_REALTIME seconds; 0: at once */
	char target[128];
	char idem[48];
	char *body;
	struct hc_resp r;
};

struct poster {
	pthread_t t;
	struct timed_post *posts;
	size_t n;
	pthread_barrier_t *start;        /* may be NULL */
};

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *poster_main(void *arg)
{
	struct poster *x = arg;
	size_t i;

	for (i = 0; i < x->n; i++) {
		struct timed_post *tp = &x->posts[i];
		char h[128];
		const char *hdrs[2] = { h, NULL };
		double wait = tp->at_s - wall_s();
		if (x->start)
			pthread_barrier_wait(x->start);
		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
		snprintf(h, sizeof(h), "Idempotency-Key: %s", tp->idem);
		(void)hc_request(&tp->r, EFX.port, "POST", tp->target, hdrs, tp->body,
				 strlen(tp->body));
	}
	return NULL;
}

static void posters_run(struct poster *x, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cr_assert_eq(pthread_create(&x[i].t, NULL, poster_main, &x[i]), 0);
	for (i = 0; i < n; i++)
		pthread_join(x[i].t, NULL);
}

#define RACE_ROUNDS 3
#define RACE_JOBS 6

static const double race_offsets_s[RACE_ROUNDS * RACE_JOBS] = {
	-0.15, -0.05, -0.02, -0.01, -0.005, -0.003, -0.002, -0.0015, -0.001,
	-0.0005, 0, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.03, 0.1 };

/* A fraud claim arriving as the challenge window closes: either the claim
 * is taken (dispute, the cheat is refereed: refund and slash) or it is
 * refused as too late (payment); never both, never neither. */
Test(escrow, race_window_close_vs_fraud_claim, .fini = efx_teardown, .timeout = 110)
{
	static struct t_cell c[RACE_JOBS];
	struct timed_post tp[2][RACE_JOBS];
	struct poster x[2];
	int round, k, taken = 0, late = 0;

	esc_setup(2, 0);
	for (round = 0; round < RACE_ROUNDS; round++) {
		memset(tp, 0, sizeof(tp));
		for (k = 0; k < RACE_JOBS; k++) {
			char idem[48];
			memset(&c[k], 0, sizeof(c[k]));
			efx_parties_setup(&c[k].p, 0);
			efx_job_make(&c[k].f, &c[k].p, 1000, (uint64_t)time(NULL) + 60,
				 (uint64_t)(200 + round * RACE_JOBS + k));
			efx_snap_take(&c[k].s0, &c[k].p, &c[k].f);
			efx_job_open(&c[k].f, efx_fresh_idem(idem));
			efx_receipt_make(&c[k].f, &c[k].p, 600, 1);
		}
		/* The receipts last, so that every window is still open when
		 * the claims are aimed at its end. */
		for (k = 0; k < RACE_JOBS; k++) {
			struct hc_resp r;
			char idem[48];
			json_t *j;
			double end_s;
			struct timed_post *t = &tp[k % 2][k / 2];
			efx_receipt_post(&r, &c[k].f, efx_fresh_idem(idem));
			cr_assert_eq(r.status, 200, "%s", r.body);
			j = efx_jparse(&r);
			end_s = (double)json_integer_value(json_object_get(j, "windowEnd"));
			json_decref(j);
			hc_resp_free(&r);
			/* Around the window's end, most within a few
			 * milliseconds of it (a handler takes about that long),
			 * a different offset for each job and round. */
			t->at_s = end_s + race_offsets_s[round * RACE_JOBS + k];
			snprintf(t->target, sizeof(t->target), "/v1/jobs/%s/attestations",
				 c[k].f.id_hex);
			efx_fresh_idem(t->idem);
			t->body = claim_body(&c[k].f, &c[k].p.validator, c[k].f.out.root, 2, 1);
		}
		memset(x, 0, sizeof(x));
		for (k = 0; k < 2; k++) {
			x[k].posts = tp[k];
			x[k].n = RACE_JOBS / 2;
		}
		posters_run(x, 2);
		for (k = 0; k < RACE_JOBS; k++) {
			struct timed_post *t = &tp[k % 2][k / 2];
			struct efx_bal cb, pb, vb;
			const struct efx_snap *s0 = &c[k].s0;
			if (t->r.status == 201) {
				taken++;
				efx_wait_state(&c[k].f, "refunded");
				for (int i = 0; i < 50 && efx_balance_of(c[k].p.provider.address).stake ==
						     s0->pv.stake; i++)
					usleep(100000);
			} else {
				efx_expect_problem(&t->r, 409, "window-closed");
				late++;
				efx_wait_state(&c[k].f, "paid");
			}
			cb = efx_balance_of(c[k].p.customer.address);
			pb = efx_balance_of(c[k].p.provider.address);
			vb = efx_balance_of(c[k].p.validator.address);
			if (t->r.status == 201) {
				cr_assert(efx_bal_eq(cb, s0->c), "refunded in full");
				cr_assert(efx_bal_eq(pb, (struct efx_bal){ s0->pv.available, s0->pv.stake / 2, 0 }));
				cr_assert_eq(vb.available, s0->v.available + s0->pv.stake / 2 / 5);
			} else {
				cr_assert_eq(cb.available, s0->c.available - 600);
				cr_assert(efx_bal_eq(pb, (struct efx_bal){ s0->pv.available + 600, s0->pv.stake, 0 }));
				cr_assert(efx_bal_eq(vb, s0->v));
			}
			hc_resp_free(&t->r);
			free(t->body);
			efx_job_free(&c[k].f);
		}
		efx_invariants("after a round of window/claim races");
	}
	cr_log_info("window vs claim: %d claims taken, %d too late", taken, late);
	cr_assert_eq(taken + late, RACE_ROUNDS * RACE_JOBS);
}

#define RACE_PAIRS 10

/* Two different receipts for one job at the same moment from two
 * connections: one is taken, the other refused, the job is paid once at
 * the winner's price. */
Test(escrow, race_two_receipts, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f[RACE_PAIRS];
	struct timed_post tp[2][RACE_PAIRS];
	struct poster x[2];
	pthread_barrier_t bar;
	struct efx_bal c0, pv0;
	uint64_t paid = 0;
	int k, s;

	esc_setup(1, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	memset(tp, 0, sizeof(tp));
	for (k = 0; k < RACE_PAIRS; k++) {
		char idem[48];
		efx_job_make(&f[k], &p, 100, (uint64_t)time(NULL) + 60, (uint64_t)(300 + k));
		efx_job_open(&f[k], efx_fresh_idem(idem));
		for (s = 0; s < 2; s++) {
			char *rt = NULL, sh[RCPT_SIG_HEX_BYTES];
			size_t n;
			efx_receipt_make(&f[k], &p, 60 + 10 * (unsigned)s, 0);
			cr_assert_eq(rcpt_receipt_to_json(&rt, &f[k].receipt), RCPT_OK);
			cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), f[k].receipt_sig, 65), RCPT_OK);
			n = strlen(rt) + 256;
			tp[s][k].body = malloc(n);
			cr_assert(tp[s][k].body);
			snprintf(tp[s][k].body, n, "{\"receipt\":%s,\"receiptSignature\":\"%s\"}", rt, sh);
			free(rt);
			snprintf(tp[s][k].target, sizeof(tp[s][k].target), "/v1/jobs/%s/receipt",
				 f[k].id_hex);
			efx_fresh_idem(tp[s][k].idem);
		}
	}
	/* Each pair leaves the two threads together. */
	cr_assert_eq(pthread_barrier_init(&bar, NULL, 2), 0);
	memset(x, 0, sizeof(x));
	for (s = 0; s < 2; s++) {
		x[s].posts = tp[s];
		x[s].n = RACE_PAIRS;
		x[s].start = &bar;
	}
	posters_run(x, 2);
	pthread_barrier_destroy(&bar);
	for (k = 0; k < RACE_PAIRS; k++) {
		int w = tp[0][k].r.status == 200 ? 0 : 1;
		cr_assert_eq(tp[w][k].r.status, 200, "%s", tp[w][k].r.body);
		efx_expect_problem(&tp[1 - w][k].r, 409, "job-not-open");
		paid += 60 + 10 * (uint64_t)w;
		for (s = 0; s < 2; s++) {
			hc_resp_free(&tp[s][k].r);
			free(tp[s][k].body);
		}
	}
	for (k = 0; k < RACE_PAIRS; k++) {
		efx_wait_state(&f[k], "paid");
		efx_job_free(&f[k]);
	}
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - paid);
	cr_assert_eq(efx_balance_of(p.provider.address).available, pv0.available + paid);
	efx_invariants("after the receipt races");
}

/* The same request under the same Idempotency-Key from two connections
 * at once, for an open and for a receipt: one effect, the same answer. */
Test(escrow, race_same_idempotency_key_on_jobs, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f[RACE_PAIRS];
	struct timed_post tp[2][2 * RACE_PAIRS];
	struct poster x[2];
	pthread_barrier_t bar;
	struct efx_bal c0;
	int k, s;

	esc_setup(1, 0);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	memset(tp, 0, sizeof(tp));
	for (k = 0; k < RACE_PAIRS; k++) {
		char *rt = NULL, sh[RCPT_SIG_HEX_BYTES], ik[48], rk[48], *ob, *rb;
		size_t n;
		efx_job_make(&f[k], &p, 100, (uint64_t)time(NULL) + 60, (uint64_t)(400 + k));
		efx_receipt_make(&f[k], &p, 60, 0);
		ob = efx_job_body(&f[k].job, f[k].sig, NULL);
		cr_assert_eq(rcpt_receipt_to_json(&rt, &f[k].receipt), RCPT_OK);
		cr_assert_eq(rcpt_hex_encode(sh, sizeof(sh), f[k].receipt_sig, 65), RCPT_OK);
		n = strlen(rt) + 256;
		rb = malloc(n);
		cr_assert(rb);
		snprintf(rb, n, "{\"receipt\":%s,\"receiptSignature\":\"%s\"}", rt, sh);
		free(rt);
		efx_fresh_idem(ik);
		efx_fresh_idem(rk);
		for (s = 0; s < 2; s++) {
			struct timed_post *o = &tp[s][2 * k], *rc = &tp[s][2 * k + 1];
			snprintf(o->target, sizeof(o->target), "/v1/jobs");
			snprintf(o->idem, sizeof(o->idem), "%s", ik);
			o->body = strdup(ob);
			snprintf(rc->target, sizeof(rc->target), "/v1/jobs/%s/receipt", f[k].id_hex);
			snprintf(rc->idem, sizeof(rc->idem), "%s", rk);
			rc->body = strdup(rb);
			cr_assert(o->body && rc->body);
		}
		free(ob);
		free(rb);
	}
	cr_assert_eq(pthread_barrier_init(&bar, NULL, 2), 0);
	memset(x, 0, sizeof(x));
	for (s = 0; s < 2; s++) {
		x[s].posts = tp[s];
		x[s].n = 2 * RACE_PAIRS;
		x[s].start = &bar;
	}
	posters_run(x, 2);
	pthread_barrier_destroy(&bar);
	for (k = 0; k < 2 * RACE_PAIRS; k++) {
		int want = k % 2 ? 200 : 201;
		cr_assert_eq(tp[0][k].r.status, want, "%s", tp[0][k].r.body);
		cr_assert_eq(tp[1][k].r.status, want, "%s", tp[1][k].r.body);
		cr_assert_str_eq(tp[0][k].r.body, tp[1][k].r.body, "two answers for one key");
		for (s = 0; s < 2; s++) {
			hc_resp_free(&tp[s][k].r);
			free(tp[s][k].body);
		}
	}
	/* One lock each, then one payment each. */
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 100 * RACE_PAIRS);
	for (k = 0; k < RACE_PAIRS; k++) {
		efx_wait_state(&f[k], "paid");
		efx_job_free(&f[k]);
	}
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 60 * RACE_PAIRS);
	efx_invariants("after the idempotency races");
}

/* Two validators claim fraud on an honest job, one with the input and one
 * without.  The input is the job's (its commitment was checked), so the
 * referee judges both claims with it: both validators are wrong, and the
 * provider is never slashed for "withholding" an input the escrow holds. */
Test(escrow, second_claim_without_input_uses_the_input_held, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0, pv0, v0, w0;
	uint8_t wrong[32];
	char idem[48], t[128], *b;
	int i;

	esc_setup(3, 0);
	efx_parties_setup(&p, 0);
	/* The stranger is the second validator. */
	efx_faucet(&p.stranger, 50000);
	efx_stake(&p.stranger, 10000);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	v0 = efx_balance_of(p.validator.address);
	w0 = efx_balance_of(p.stranger.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 50);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	memcpy(wrong, f.out.root, 32);
	wrong[0] ^= 0x11;
	/* The claim without the input first, then the one with it. */
	b = claim_body(&f, &p.stranger, wrong, 2, 0);
	snprintf(t, sizeof(t), "/v1/jobs/%s/attestations", f.id_hex);
	efx_post_idem(&r, t, efx_fresh_idem(idem), b);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	free(b);
	claim_post(&r, &f, &p, wrong, 2, 1);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	/* Past the referee deadline (2 s) and the window (3 s). */
	efx_wait_state(&f, "paid");
	for (i = 0; i < 50 && (efx_balance_of(p.validator.address).stake == v0.stake ||
			       efx_balance_of(p.stranger.address).stake == w0.stake); i++)
		usleep(100000);
	cr_assert_eq(efx_balance_of(p.customer.address).available, c0.available - 600);
	cr_assert(efx_bal_eq(efx_balance_of(p.provider.address),
			 (struct efx_bal){ pv0.available + 600, pv0.stake, 0 }),
		  "an honest provider was slashed");
	cr_assert_eq(efx_balance_of(p.validator.address).stake, v0.stake / 2);
	cr_assert_eq(efx_balance_of(p.stranger.address).stake, w0.stake / 2);
	efx_invariants("after two false claims");
	efx_job_free(&f);
}

/* "0x..." hex to a bytea literal. */
static void bytea_lit(char *out, size_t n, const char *hex0x)
{
	snprintf(out, n, "\\x%.64s", hex0x + 2);
}

/* The referee going back to `receipted` after a false claim must see a
 * claim committed while it worked: the test plays the attestation
 * handler's transaction (lock the job row, insert attestation and
 * dispute, mark the job disputed) and holds it open while the settlement loop decides the
 * first claim.  Neither the count of unsettled disputes nor the moot may
 * run before that transaction ends: a job is never `receipted` (payable)
 * with a dispute open. */
Test(escrow, claim_committed_during_a_decision_keeps_the_job_disputed, .fini = efx_teardown,
     .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	uint8_t wrong[32];
	char idem[48], jid[80], vid[60], vh[RCPT_ADDR_HEX_BYTES], ts[24], st[32], t[128];
	const char *prm[4];
	PGconn *c;
	PGresult *res;
	int i, bad = 0;

	esc_setup(4, 0);
	efx_parties_setup(&p, 0);
	efx_faucet(&p.stranger, 50000);
	efx_stake(&p.stranger, 10000);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 60);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	memcpy(wrong, f.out.root, 32);
	wrong[9] ^= 0x44;
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert(c && PQstatus(c) == CONNECTION_OK);
	bytea_lit(jid, sizeof(jid), f.id_hex);
	rcpt_address_format(vh, p.stranger.address);
	bytea_lit(vid, sizeof(vid), vh);
	snprintf(ts, sizeof(ts), "%ld", (long)time(NULL));
	prm[0] = jid;
	prm[1] = vid;
	prm[2] = ts;
	/* The first (false) claim, with the input: decided on the next tick. */
	claim_post(&r, &f, &p, wrong, 2, 1);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	pgt_exec(c, "BEGIN");
	res = PQexecParams(c, "SELECT 1 FROM escrow_jobs WHERE id = $1 FOR UPDATE", 1, NULL, prm,
			   NULL, NULL, 0);
	cr_assert_eq(PQntuples(res), 1, "%s", PQresultErrorMessage(res));
	PQclear(res);
	res = PQexecParams(c, "INSERT INTO escrow_attestations (job, validator, verdict, output_root,"
			   " att_json, sig, at_s) VALUES ($1, $2, 2, '\\x00', '{}', '\\x00', $3)",
			   3, NULL, prm, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
	PQclear(res);
	res = PQexecParams(c, "INSERT INTO escrow_disputes (job, validator, state, opened_at_s)"
			   " VALUES ($1, $2, 'open', $3)", 3, NULL, prm, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
	PQclear(res);
	/* As the handler does (a no-op unless a tick got in first). */
	res = PQexecParams(c, "UPDATE escrow_jobs SET state = 'disputed' WHERE id = $1"
			   " AND state = 'receipted'", 1, NULL, prm, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(res));
	PQclear(res);
	/* A tick or two runs into the lock. */
	usleep(1500 * 1000);
	pgt_exec(c, "COMMIT");
	PQfinish(c);
	/* Until the second claim is judged too, the job stays disputed. */
	snprintf(t, sizeof(t), "/v1/jobs/%s", f.id_hex);
	for (i = 0; i < 60; i++) {
		json_t *j, *d;
		size_t k;
		int open = 0;
		efx_get(&r, t);
		j = efx_jparse(&r);
		snprintf(st, sizeof(st), "%s", json_string_value(json_object_get(j, "state")));
		json_array_foreach(json_object_get(j, "disputes"), k, d)
			open += strcmp(json_string_value(json_object_get(d, "state")), "open") == 0;
		json_decref(j);
		hc_resp_free(&r);
		if (open && strcmp(st, "disputed") != 0)
			bad = 1;
		if (strcmp(st, "paid") == 0 || bad)
			break;
		usleep(100000);
	}
	cr_assert_not(bad, "the job was %s with a dispute open", st);
	efx_wait_state(&f, "paid");
	efx_invariants("after the decision");
	efx_job_free(&f);
}

struct locked_post {
	pthread_t t;
	struct efx_job *f;
	struct hc_resp r;
	atomic_int done;
};

static void *locked_post_main(void *arg)
{
	struct locked_post *lp = arg;

	efx_receipt_post(&lp->r, lp->f, "outside-lock-receipt");
	atomic_store(&lp->done, 1);
	return NULL;
}

/* Issue 12 item 5: a job row locked from outside (psql, an operator's
 * long transaction) costs the request that needs it a 503 after
 * ESCROW_DB_LOCK_TIMEOUT_MS, not a hang: meanwhile the escrow answers
 * /livez and other requests (another job's whole life on the other
 * handler threads), nothing changed, and the retry under the same
 * Idempotency-Key succeeds once the lock is gone. */
Test(escrow, outside_row_lock_answers_503_not_a_hang, .fini = efx_teardown, .timeout = 90)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	char idem[48], jid[80], st[32];
	const char *prm[1] = { jid };
	PGconn *c;
	PGresult *res;

	esc_setup(20, 0);
	efx_parties_setup(&p, 0);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 120, 70);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 0);
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert(c && PQstatus(c) == CONNECTION_OK);
	bytea_lit(jid, sizeof(jid), f.id_hex);
	pgt_exec(c, "BEGIN");
	res = PQexecParams(c, "SELECT 1 FROM escrow_jobs WHERE id = $1 FOR UPDATE", 1, NULL, prm,
			   NULL, NULL, 0);
	cr_assert_eq(PQntuples(res), 1, "%s", PQresultErrorMessage(res));
	PQclear(res);
	/* Held far longer than the lock timeout (the test's own timeout
	 * is what would fire were the request to wait for it).  While that
	 * request waits on a handler thread, the probes, the parameters and
	 * another job's whole opening and receipt are answered. */
	{
		struct locked_post lp = { .f = &f };
		struct efx_job g;
		cr_assert_eq(pthread_create(&lp.t, NULL, locked_post_main, &lp), 0);
		usleep(300 * 1000);
		efx_get(&r, "/livez");
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
		efx_get(&r, "/v1/params");
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
		efx_job_make(&g, &p, 1000, (uint64_t)time(NULL) + 120, 71);
		efx_job_open(&g, efx_fresh_idem(idem));
		efx_receipt_make(&g, &p, 600, 0);
		efx_receipt_post_ok(&g);
		cr_assert_eq(atomic_load(&lp.done), 0,
			     "the locked request ended before the others were answered");
		pthread_join(lp.t, NULL);
		efx_expect_problem(&lp.r, 503, "unavailable");
		cr_assert(strstr(lp.r.body, "busy"), "%s", lp.r.body);
		hc_resp_free(&lp.r);
		efx_job_free(&g);
	}
	efx_job_state_or_none(st, &f);
	cr_assert_str_eq(st, "open");
	pgt_exec(c, "ROLLBACK");
	PQfinish(c);
	efx_receipt_post(&r, &f, "outside-lock-receipt");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	efx_job_state_or_none(st, &f);
	cr_assert_str_eq(st, "receipted");
	efx_job_free(&f);
}

/* Points the fixture's HTTP helpers at escrow x (the database is one). */
static void talk_to(const struct efx *x)
{
	EFX.port = x->port;
	snprintf(EFX.url, sizeof(EFX.url), "%s", x->url);
}

/* The value of an unlabelled gauge on x's /metrics; -1 when absent. */
static double gauge_of(const struct efx *x, const char *family)
{
	uint16_t keep = EFX.port;
	double v;

	EFX.port = x->port;
	v = efx_metric(family);
	EFX.port = keep;
	return v;
}

/* Waits until exactly one of the escrows settles and each counts `n`
 * instances; returns the settler. */
static struct efx *settler_of(struct efx *const *xs, size_t k, int n)
{
	for (int i = 0; i < 100; i++) {
		struct efx *found = NULL;
		size_t settlers = 0, counted = 0;
		for (size_t j = 0; j < k; j++) {
			if (gauge_of(xs[j], "assay_escrow_settler") == 1) {
				settlers++;
				found = xs[j];
			}
			counted += gauge_of(xs[j], "assay_escrow_instances") == n;
		}
		if (settlers == 1 && counted == k)
			return found;
		usleep(100000);
	}
	cr_assert_fail("no single settler among %zu escrows", k);
	return NULL;
}

struct same_key {
	pthread_t t;
	const struct efx *at;
	const char *idem, *body;
	struct hc_resp r;
};

static void *same_key_main(void *arg)
{
	struct same_key *x = arg;
	char h[128];
	const char *hdrs[2] = { h, NULL };

	snprintf(h, sizeof(h), "Idempotency-Key: %s", x->idem);
	(void)hc_request(&x->r, x->at->port, "POST", "/v1/faucet", hdrs, x->body,
			 strlen(x->body));
	return NULL;
}

/* Issue 12 item 6: two escrows on one database both serve and are safe.
 * One settles (the other stands by and says so in its log and /metrics);
 * one Idempotency-Key sent to both at once moves money once and gets one
 * answer; jobs opened on one are receipted on the other; the settler is
 * killed with SIGKILL while windows run, the other takes over, and every
 * job is paid exactly once (the ledger invariants are checked at the end
 * too). */
#define REPLICA_JOBS 6
#define REPLICA_RACERS 8

Test(escrow, two_escrows_on_one_database_serve_and_one_settles, .fini = efx_teardown,
     .timeout = 120)
{
	struct efx a, b, *both[2], *settler, *standby;
	struct efx_parties p;
	struct efx_job f[REPLICA_JOBS];
	struct same_key x[REPLICA_RACERS];
	struct efx_bal c0, pv0;
	struct rcpt_key k;
	char addr[RCPT_ADDR_HEX_BYTES], body[160], idem[48];
	int i;

	esc_setup(4, 0);
	a = EFX;
	b = EFX;
	efx_spawn(&b);
	both[0] = &a;
	both[1] = &b;
	settler = settler_of(both, 2, 2);
	standby = settler == &a ? &b : &a;
	/* One key, both escrows, at once. */
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(addr, k.address);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"100\"}", addr);
	efx_fresh_idem(idem);
	memset(x, 0, sizeof(x));
	for (i = 0; i < REPLICA_RACERS; i++) {
		x[i].at = both[i % 2];
		x[i].idem = idem;
		x[i].body = body;
		cr_assert_eq(pthread_create(&x[i].t, NULL, same_key_main, &x[i]), 0);
	}
	for (i = 0; i < REPLICA_RACERS; i++)
		pthread_join(x[i].t, NULL);
	for (i = 0; i < REPLICA_RACERS; i++) {
		cr_assert_eq(x[i].r.status, 200, "%s", x[i].r.body);
		cr_assert_str_eq(x[i].r.body, x[0].r.body, "two answers for one key");
	}
	for (i = 0; i < REPLICA_RACERS; i++)
		hc_resp_free(&x[i].r);
	cr_assert_eq(efx_balance_of(k.address).available, 100, "credited once");
	rcpt_key_wipe(&k);
	/* Jobs opened on one escrow, receipted on the other. */
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	for (i = 0; i < REPLICA_JOBS; i++) {
		/* 6 x 500 stays below p x slash of the provider's stake. */
		efx_job_make(&f[i], &p, 500, (uint64_t)time(NULL) + 90, (uint64_t)(700 + i));
		talk_to(both[i % 2]);
		efx_job_open(&f[i], efx_fresh_idem(idem));
		efx_receipt_make(&f[i], &p, 300, 0);
		talk_to(both[(i + 1) % 2]);
		efx_receipt_post_ok(&f[i]);
	}
	/* The settler dies with every window open; the other takes over. */
	efx_stop(settler, SIGKILL);
	talk_to(standby);
	EFX.pid = standby->pid;
	cr_assert(settler_of(&standby, 1, 1) == standby);
	for (i = 0; i < REPLICA_JOBS; i++) {
		efx_wait_state(&f[i], "paid");
		efx_job_free(&f[i]);
	}
	cr_assert_eq(efx_balance_of(p.customer.address).available,
		     c0.available - 300 * REPLICA_JOBS, "the customer paid once a job");
	cr_assert_eq(efx_balance_of(p.provider.address).available,
		     pv0.available + 300 * REPLICA_JOBS, "the provider was paid once a job");
	{
		FILE *lf = fopen(EFX.log_path, "r");
		char buf[65536];
		size_t n;
		cr_assert(lf);
		n = fread(buf, 1, sizeof(buf) - 1, lf);
		buf[n] = '\0';
		fclose(lf);
		cr_assert(strstr(buf, "event=standby"), "no standby line in the log");
		cr_assert(strstr(buf, "event=replica instances=2"), "no replica line in the log");
	}
	efx_invariants("after the settler's death");
}

/* Issue 12 item 4: downtime never counts against a challenge window.
 * A cheating receipt's 6 s window runs out while PostgreSQL is down for
 * longer than ESCROW_OUTAGE_GAP_S (15 s); afterwards the validator's fraud
 * claim is taken (503 "recovering" at most, never window-closed), the
 * cheater is slashed and the customer refunded instead of the cheater
 * being paid. */
Test(escrow, outage_does_not_close_the_challenge_window, .fini = efx_teardown, .timeout = 120)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal c0, c1;
	char idem[48];
	int i, ok = 0, status = 0;

	esc_setup(6, 1);
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 90, 80);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 1);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	pgt_server_stop();
	sleep(ESCROW_OUTAGE_GAP_S + 5);
	pgt_server_start();
	for (i = 0; i < 100 && !ok; i++) {
		efx_get(&r, "/readyz");
		ok = r.status == 200;
		hc_resp_free(&r);
		if (!ok)
			usleep(100000);
	}
	cr_assert(ok, "readyz did not recover");
	for (i = 0; i < 40; i++) {
		claim_post(&r, &f, &p, f.out.root, 2, 1);
		status = (int)r.status;
		if (status != 503)
			break;
		cr_assert(strstr(r.body, "unavailable"), "%s", r.body);
		hc_resp_free(&r);
		usleep(250000);
	}
	cr_assert_eq(status, 201, "the claim after the outage: %s", r.body);
	hc_resp_free(&r);
	efx_wait_state(&f, "refunded");
	c1 = efx_balance_of(p.customer.address);
	cr_assert_eq(c1.available, c0.available, "the customer got everything back");
	efx_job_free(&f);
}

/* Issue 12 item 3: a provider cannot take its stake out before its job
 * is judged.  It unstakes everything right after the job opens and waits
 * out the unbonding period (30 s here); the unbond is refused while the
 * job is unsettled, the cheating receipt it then posts is caught and
 * slashed (slash > 0), and once the job is settled the rest unbonds. */
Test(escrow, stake_backing_an_open_job_stays_slashable, .fini = efx_teardown, .timeout = 120)
{
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal b0, b1, b2;
	char idem[48], body[64];

	esc_setup(2, 0);
	efx_parties_setup(&p, 0);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 90, 90);
	efx_job_open(&f, efx_fresh_idem(idem));
	b0 = efx_balance_of(p.provider.address);
	snprintf(body, sizeof(body), "{\"amount\":\"%" PRIu64 "\"}", b0.stake);
	efx_signed_req(&r, &p.provider, "POST", "/v1/unstake", efx_fresh_idem(idem), body, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	sleep(32);   /* past --unbonding-s 30 */
	efx_signed_req(&r, &p.provider, "POST", "/v1/unbond", efx_fresh_idem(idem), "{}", NULL, 0);
	efx_expect_problem(&r, 409, "stake-backs-open-jobs");
	hc_resp_free(&r);
	b1 = efx_balance_of(p.provider.address);
	cr_assert_eq(b1.unbonding, b0.stake, "the bond left: %" PRIu64, b1.unbonding);
	cr_assert_eq(b1.available, b0.available);
	/* The cheat, caught. */
	efx_receipt_make(&f, &p, 600, 1);
	efx_receipt_post(&r, &f, efx_fresh_idem(idem));
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	claim_post(&r, &f, &p, f.out.root, 2, 1);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	efx_wait_state(&f, "refunded");
	b2 = efx_balance_of(p.provider.address);
	cr_assert_lt(b2.stake + b2.unbonding, b1.unbonding, "no slash: %" PRIu64 " -> %" PRIu64,
		     b1.unbonding, b2.stake + b2.unbonding);
	/* Settled: what is left unbonds. */
	efx_signed_req(&r, &p.provider, "POST", "/v1/unbond", efx_fresh_idem(idem), "{}", NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(p.provider.address).available, b2.available + b2.unbonding);
	efx_job_free(&f);
}

/* Issue 12 item 1: one Idempotency-Key never moves money twice.  The
 * ledger movement commits with its operation id (derived from the key);
 * the escrow's stored answer commits separately.  Losing that answer
 * (the escrow deletes it after a 5xx; here the row is deleted by hand,
 * which is the state a dropped connection after the ledger's COMMIT
 * left) or finding it in flight (a crash mid-request) makes the retry
 * run again: it answers 200 and moves nothing.  Before, the retry
 * credited a second time (or answered 409 outcome-unknown). */
Test(escrow, one_idempotency_key_moves_money_once, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct rcpt_key k;
	struct hc_resp r;
	struct efx_bal b0, b1;
	char a[RCPT_ADDR_HEX_BYTES], body[160], sql[256];
	PGconn *c;

	esc_setup(5, 0);
	efx_parties_setup(&p, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert(c && PQstatus(c) == CONNECTION_OK);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"700\"}", a);
	efx_post_idem(&r, "/v1/faucet", "once-faucet", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* The answer lost. */
	pgt_exec(c, "DELETE FROM escrow_idem WHERE key = 'once-faucet'");
	efx_post_idem(&r, "/v1/faucet", "once-faucet", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* In flight (status NULL): run again, still once. */
	pgt_exec(c, "UPDATE escrow_idem SET status = NULL, ctype = NULL, body = NULL"
		    " WHERE key = 'once-faucet'");
	efx_post_idem(&r, "/v1/faucet", "once-faucet", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(k.address).available, 700, "credited more than once");
	/* The same key with another amount, once its answer is gone: refused. */
	pgt_exec(c, "DELETE FROM escrow_idem WHERE key = 'once-faucet'");
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"900\"}", a);
	efx_post_idem(&r, "/v1/faucet", "once-faucet", body);
	efx_expect_problem(&r, 422, "idempotency-key-reused");
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(k.address).available, 700);
	/* A signed withdrawal, its answer lost: withdrawn once. */
	b0 = efx_balance_of(p.customer.address);
	efx_signed_req(&r, &p.customer, "POST", "/v1/withdraw", "once-withdraw", "{\"amount\":\"25\"}",
		   NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	rcpt_address_format(a, p.customer.address);
	snprintf(sql, sizeof(sql), "DELETE FROM escrow_idem WHERE key = '%s/once-withdraw'", a);
	pgt_exec(c, sql);
	efx_signed_req(&r, &p.customer, "POST", "/v1/withdraw", "once-withdraw", "{\"amount\":\"25\"}",
		   NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	b1 = efx_balance_of(p.customer.address);
	cr_assert_eq(b1.available, b0.available - 25, "withdrawn more than once");
	PQfinish(c);
	efx_invariants("after the retries");
}

struct faucet_post {
	pthread_t t;
	const char *idem, *body;
	struct hc_resp r;
};

/* hc_request, not efx_post_idem: the fixture's ledger check after a
 * request is the main thread's alone. */
static void *faucet_post_main(void *arg)
{
	struct faucet_post *x = arg;
	char h[128];
	const char *hdrs[2] = { h, NULL };

	snprintf(h, sizeof(h), "Idempotency-Key: %s", x->idem);
	(void)hc_request(&x->r, EFX.port, "POST", "/v1/faucet", hdrs, x->body, strlen(x->body));
	return NULL;
}

/* The pid of the handler session that holds an idempotency lock (an
 * advisory lock of an "assay-escrow-http-worker" session of this test's
 * database: pg_locks and pg_stat_activity span the whole server, which
 * the suites running beside this one share), once one does; 0 when none
 * appears in 10 s. */
static int idem_holder_pid(PGconn *c)
{
	for (int i = 0; i < 100; i++) {
		PGresult *res = PQexec(c, "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a"
					  " USING (pid) WHERE l.locktype = 'advisory' AND l.granted"
					  " AND a.application_name = 'assay-escrow-http-worker'"
					  " AND a.datname = current_database()");
		int pid = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
				  ? atoi(PQgetvalue(res, 0, 0)) : 0;
		PQclear(res);
		if (pid)
			return pid;
		usleep(100 * 1000);
	}
	return 0;
}

/* Issue 12: a request's idempotency lock is a session-level advisory
 * lock.  When the handler's session dies while the request waits (here
 * on the ledger, whose head row is locked from outside), the lock is
 * gone and a retry under the same key runs at once.  The first request
 * must then do nothing more: it answers 503 after the ledger movement
 * (made once, by its operation id) instead of writing the audit entry
 * beside the retry; the retry writes it, once. */
Test(escrow, lost_idempotency_lock_stops_its_request, .fini = efx_teardown, .timeout = 90)
{
	struct rcpt_key k;
	struct faucet_post a = { .idem = "lost-lock" }, b = { .idem = "lost-lock" };
	char addr[RCPT_ADDR_HEX_BYTES], body[160], sub[96], pid[16];
	const char *prm[1];
	PGconn *c, *hold;
	PGresult *res;

	esc_setup(5, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(addr, k.address);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"300\"}", addr);
	a.body = b.body = body;
	c = PQconnectdb(EFX.db.conninfo);
	hold = PQconnectdb(EFX.db.conninfo);
	cr_assert(PQstatus(c) == CONNECTION_OK && PQstatus(hold) == CONNECTION_OK);
	pgt_exec(hold, "BEGIN");
	pgt_exec(hold, "SELECT seq FROM ledger_head FOR UPDATE");
	cr_assert_eq(pthread_create(&a.t, NULL, faucet_post_main, &a), 0);
	snprintf(pid, sizeof(pid), "%d", idem_holder_pid(c));
	cr_assert_neq(strcmp(pid, "0"), 0, "no handler took the key's lock");
	prm[0] = pid;
	res = PQexecParams(c, "SELECT pg_terminate_backend($1::int)", 1, NULL, prm, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	PQclear(res);
	/* Gone, and its lock with it (termination is asynchronous). */
	for (int i = 0, left = 1; left; i++) {
		cr_assert_lt(i, 100, "backend %s still alive 10 s after pg_terminate_backend", pid);
		res = PQexecParams(c, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1,
				   NULL, prm, NULL, NULL, 0);
		left = PQresultStatus(res) == PGRES_TUPLES_OK && atoi(PQgetvalue(res, 0, 0)) > 0;
		PQclear(res);
		if (left)
			usleep(100 * 1000);
	}
	/* The same key again, while the first still waits on the ledger. */
	cr_assert_eq(pthread_create(&b.t, NULL, faucet_post_main, &b), 0);
	usleep(500 * 1000);
	pgt_exec(hold, "ROLLBACK");
	PQfinish(hold);
	pthread_join(a.t, NULL);
	pthread_join(b.t, NULL);
	efx_expect_problem(&a.r, 503, "unavailable");
	hc_resp_free(&a.r);
	/* b answered, or (had it come second to the ledger) answers now. */
	if (b.r.status != 200) {
		hc_resp_free(&b.r);
		efx_post_idem(&b.r, "/v1/faucet", "lost-lock", body);
	}
	cr_assert_eq(b.r.status, 200, "%s", b.r.body);
	hc_resp_free(&b.r);
	cr_assert_eq(efx_balance_of(k.address).available, 300, "credited other than once");
	snprintf(sub, sizeof(sub), "account:%s", addr);
	prm[0] = sub;
	res = PQexecParams(c, "SELECT count(*) FROM escrow_audit WHERE subject = $1"
			      " AND entry::jsonb->>'event' = 'faucet'", 1, NULL, prm, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "1", "the credit's audit entries");
	PQclear(res);
	PQfinish(c);
	rcpt_key_wipe(&k);
	efx_invariants("after a lost idempotency lock");
}

/* Issue 12 item 1, at its exact point: the money has moved (the ledger
 * committed) and the answer is being stored when the handler's session
 * is killed.  A trigger made by the test holds the answer's UPDATE on an
 * advisory lock the test holds, so the kill lands between the two every
 * time.  The record is left without an answer; the retry under the same
 * key runs again, finds the movement done by its operation id and its
 * audit entry written, and answers 200: credited once, one entry. */
Test(escrow, connection_killed_between_effect_and_answer, .fini = efx_teardown, .timeout = 90)
{
	struct rcpt_key k;
	struct faucet_post a = { .idem = "kill-before-answer" };
	char addr[RCPT_ADDR_HEX_BYTES], body[160], sub[96];
	const char *prm[1];
	PGconn *c;
	PGresult *res;
	int pid = 0;

	esc_setup(5, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(addr, k.address);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"400\"}", addr);
	a.body = body;
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	pgt_exec(c, "CREATE FUNCTION t_hold_answer() RETURNS trigger LANGUAGE plpgsql AS"
		    " $$ BEGIN PERFORM pg_advisory_xact_lock(424242); RETURN NEW; END $$");
	pgt_exec(c, "CREATE TRIGGER t_hold_answer BEFORE UPDATE ON escrow_idem"
		    " FOR EACH ROW EXECUTE FUNCTION t_hold_answer()");
	pgt_exec(c, "SELECT pg_advisory_lock(424242)");
	cr_assert_eq(pthread_create(&a.t, NULL, faucet_post_main, &a), 0);
	/* The answer's store waits on the lock: the money has moved. */
	for (int i = 0; i < 100 && !pid; i++) {
		res = PQexec(c, "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity s USING (pid)"
			       " WHERE l.locktype = 'advisory' AND NOT l.granted"
			       " AND s.application_name = 'assay-escrow-http-worker'"
			       " AND s.datname = current_database()");
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
			pid = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (!pid)
			usleep(100 * 1000);
	}
	cr_assert(pid, "the answer's store never waited");
	cr_assert_eq(efx_balance_of(k.address).available, 400, "the money had not moved");
	{
		char ps[16];
		snprintf(ps, sizeof(ps), "%d", pid);
		prm[0] = ps;
		res = PQexecParams(c, "SELECT pg_terminate_backend($1::int)", 1, NULL, prm, NULL,
				   NULL, 0);
		cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
		PQclear(res);
	}
	pthread_join(a.t, NULL);
	hc_resp_free(&a.r);     /* whatever it said: its answer was not kept */
	pgt_exec(c, "DROP TRIGGER t_hold_answer ON escrow_idem");
	pgt_exec(c, "SELECT pg_advisory_unlock(424242)");
	res = PQexec(c, "SELECT count(*) FROM escrow_idem WHERE key = 'kill-before-answer'"
		       " AND status IS NULL");
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "1", "the answer was stored after all");
	PQclear(res);
	efx_post_idem(&a.r, "/v1/faucet", "kill-before-answer", body);
	cr_assert_eq(a.r.status, 200, "%s", a.r.body);
	hc_resp_free(&a.r);
	cr_assert_eq(efx_balance_of(k.address).available, 400, "credited twice");
	snprintf(sub, sizeof(sub), "account:%s", addr);
	prm[0] = sub;
	res = PQexecParams(c, "SELECT count(*) FROM escrow_audit WHERE subject = $1"
			      " AND entry::jsonb->>'event' = 'faucet'", 1, NULL, prm, NULL, NULL, 0);
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "1", "the credit's audit entries");
	PQclear(res);
	PQfinish(c);
	rcpt_key_wipe(&k);
	efx_invariants("after a kill between effect and answer");
}

/* Idempotency records expire (docs/escrow.md: kept 24 hours): one aged
 * past that from outside goes at the next settlement tick, a fresh one
 * stays, and a retry under the expired key runs again without moving the
 * money twice (the ledger's operation id). */
Test(escrow, idempotency_records_expire_after_24_hours, .fini = efx_teardown, .timeout = 60)
{
	struct rcpt_key k;
	struct hc_resp r;
	char a[RCPT_ADDR_HEX_BYTES], body[160];
	PGconn *c;
	PGresult *res;
	int i, left = 1;

	esc_setup(5, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert(c && PQstatus(c) == CONNECTION_OK);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"300\"}", a);
	efx_post_idem(&r, "/v1/faucet", "aged-faucet", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	efx_post_idem(&r, "/v1/faucet", "fresh-faucet", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	pgt_exec(c, "UPDATE escrow_idem SET created_at_s = created_at_s - (86400 + 60)"
		    " WHERE key = 'aged-faucet'");
	for (i = 0; i < 100 && left; i++) {
		usleep(100000);
		res = PQexec(c, "SELECT count(*) FROM escrow_idem WHERE key = 'aged-faucet'");
		cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK);
		left = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
	}
	cr_assert_eq(left, 0, "the aged record is still there after 10 s");
	res = PQexec(c, "SELECT count(*) FROM escrow_idem WHERE key = 'fresh-faucet'");
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "1");
	PQclear(res);
	efx_post_idem(&r, "/v1/faucet", "aged-faucet", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(k.address).available, 600, "credited more than twice");
	PQfinish(c);
	efx_invariants("after the purge");
}

/* POST with one Idempotency-Key until the answer is not a 5xx (at most
 * 30 s), as a client that keeps its key across retries does. */
static int post_until_answered(struct hc_resp *r, const char *target, const char *idem,
			       const char *body)
{
	int i;

	for (i = 0; i < 1500; i++) {
		efx_post_idem(r, target, idem, body);
		if (r->status < 500)
			return r->status;
		hc_resp_free(r);
		usleep(20000);
	}
	cr_assert_fail("POST %s (%s) answered 5xx for 30 s", target, idem);
	return 0;
}

/* Issue 12 items 1 and 2 at every step: every session of the escrow (its
 * handler threads', the settlement loop's and the ledger's) is killed
 * again and again while jobs are opened and receipted and the faucet
 * pays, each request retried under its own key until it is answered.
 * Afterwards every job is paid once and every faucet credit was made
 * once: nothing moved twice, nothing lost. */
Test(escrow, every_session_killed_during_a_burst_moves_money_once, .fini = efx_teardown,
     .timeout = 180)
{
	enum { N = 24, F = 12 };
	static struct efx_job f[N];
	struct ledger_storm storm;
	struct efx_parties p;
	struct rcpt_key k;
	struct hc_resp r;
	struct efx_bal c0, pv0, c1, pv1;
	char idem[48], a[RCPT_ADDR_HEX_BYTES], body[160], *jb;
	int i, st;

	esc_setup(1, 0);
	efx_parties_setup(&p, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"7\"}", a);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	memset(&storm, 0, sizeof(storm));
	storm.app = "assay-%";
	cr_assert_eq(pthread_create(&storm.t, NULL, ledger_storm_main, &storm), 0);
	for (i = 0; i < N; i++) {
		efx_job_make(&f[i], &p, 50, (uint64_t)time(NULL) + 150, 700 + (uint64_t)i);
		jb = efx_job_body(&f[i].job, f[i].sig, NULL);
		st = post_until_answered(&r, "/v1/jobs", efx_fresh_idem(idem), jb);
		cr_assert(st == 200 || st == 201, "open %d: %d %s", i, st, r.body);
		hc_resp_free(&r);
		free(jb);
		if (i < F) {
			snprintf(idem, sizeof(idem), "storm-faucet-%d", i);
			st = post_until_answered(&r, "/v1/faucet", idem, body);
			cr_assert_eq(st, 200, "faucet %d: %s", i, r.body);
			hc_resp_free(&r);
		}
	}
	for (i = 0; i < N; i++) {
		char t[128], *rb;
		efx_receipt_make(&f[i], &p, 30, 0);
		rb = efx_receipt_body(&f[i], t);
		st = post_until_answered(&r, t, efx_fresh_idem(idem), rb);
		cr_assert_eq(st, 200, "receipt %d: %s", i, r.body);
		hc_resp_free(&r);
		free(rb);
	}
	atomic_store(&storm.stop, 1);
	pthread_join(storm.t, NULL);
	cr_assert_gt(storm.killed, 0, "the storm killed no session");
	cr_assert_eq(waitpid(EFX.pid, &st, WNOHANG), 0, "the escrow died (status %d; log %s)", st,
		     EFX.log_path);
	for (i = 0; i < N; i++)
		efx_wait_state(&f[i], "paid");
	c1 = efx_balance_of(p.customer.address);
	pv1 = efx_balance_of(p.provider.address);
	/* Locked 50 at open, 20 back and 30 to the provider at release. */
	cr_assert_eq(c1.available + (uint64_t)N * 30, c0.available, "customer: %" PRIu64 " -> %" PRIu64,
		     c0.available, c1.available);
	cr_assert_eq(pv1.available, pv0.available + (uint64_t)N * 30, "provider paid once per job");
	cr_assert_eq(efx_balance_of(k.address).available, (uint64_t)F * 7, "faucet credits");
	efx_invariants("after the storm");
	for (i = 0; i < N; i++)
		efx_job_free(&f[i]);
}

/* Replicas run one version: an escrow whose state machines differ from
 * the ones a running replica follows (here the stored table is changed
 * from outside, as an older or newer build would have written it) does
 * not rewrite them under it: it refuses to start and says why.  Once the
 * other is stopped it starts and writes its own tables. */
Test(escrow, replica_of_another_version_refuses_to_start, .fini = efx_teardown, .timeout = 60)
{
	struct efx other;
	PGconn *c;
	PGresult *res;
	char rows[16];

	esc_setup(5, 0);
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, "SELECT count(*) FROM escrow_job_steps");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
	snprintf(rows, sizeof(rows), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	pgt_exec(c, "DELETE FROM escrow_job_steps WHERE op = 'accept'");
	other = EFX;
	cr_assert_neq(efx_try_spawn(&other), -1, "an escrow started beside another version");
	{
		char tail[2048];
		tu_file_tail(tail, sizeof(tail), EFX.log_path, 4);
		cr_assert(strstr(tail, "replicas must run one version"), "%s", tail);
	}
	res = PQexec(c, "SELECT count(*) FROM escrow_job_steps WHERE op = 'accept'");
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "0", "the running escrow's table was rewritten");
	PQclear(res);
	/* Alone, it writes its own. */
	efx_stop(&EFX, SIGTERM);
	cr_assert_eq(efx_try_spawn(&EFX), -1, "the escrow did not start alone");
	res = PQexec(c, "SELECT count(*) FROM escrow_job_steps");
	cr_assert_str_eq(PQgetvalue(res, 0, 0), rows, "the table was not written back");
	PQclear(res);
	PQfinish(c);
}

/* ---------------------------------------------------------------- a replica killed mid-burst */

#define BURST_JOBS 48
#define BURST_THREADS 4

/* One client thread of the burst: its share of the jobs opened and
 * receipted and of the faucet credits, each request sent first to one
 * replica (by index) and, when that one does not answer or answers 5xx,
 * to the other, always under the request's own Idempotency-Key, as a
 * client behind a load balancer retries. */
struct burst {
	pthread_t t;
	int index;
	uint16_t ports[2];
	struct efx_job *jobs;
	const char *faucet_body;
	int failures;             /* requests never answered in 30 s */
	int switched;             /* answers that came from the other replica */
	atomic_int *answered;     /* across the clients */
};

static int burst_post(struct burst *b, int prefer, const char *target, const char *idem,
		      const char *body)
{
	char h[128];
	const char *hdrs[2] = { h, NULL };

	snprintf(h, sizeof(h), "Idempotency-Key: %s", idem);
	for (int i = 0; i < 1500; i++) {
		struct hc_resp r;
		int at = (prefer + i) % 2, st;
		if (hc_request(&r, b->ports[at], "POST", target, hdrs, body, strlen(body)) == 0 &&
		    r.status < 500) {
			st = (int)r.status;
			b->switched += at != prefer;
			atomic_fetch_add(b->answered, 1);
			hc_resp_free(&r);
			return st;
		}
		hc_resp_free(&r);
		usleep(20000);
	}
	b->failures++;
	return 0;
}

static void *burst_main(void *arg)
{
	struct burst *b = arg;
	char idem[48], target[128], *body;

	for (int i = b->index; i < BURST_JOBS; i += BURST_THREADS) {
		struct efx_job *f = &b->jobs[i];
		body = efx_job_body(&f->job, f->sig, NULL);
		snprintf(idem, sizeof(idem), "burst-open-%d", i);
		if (burst_post(b, i % 2, "/v1/jobs", idem, body) != 201)
			b->failures++;
		free(body);
		body = efx_receipt_body(f, target);
		snprintf(idem, sizeof(idem), "burst-receipt-%d", i);
		if (burst_post(b, (i + 1) % 2, target, idem, body) != 200)
			b->failures++;
		free(body);
		snprintf(idem, sizeof(idem), "burst-faucet-%d", i);
		if (burst_post(b, i % 2, "/v1/faucet", idem, b->faucet_body) != 200)
			b->failures++;
	}
	return NULL;
}

/* Issue 12: kill -9 of one of two replicas in the middle of a burst.
 * Four clients open, receipt and credit through both escrows at once;
 * the settling one is killed with SIGKILL while they run; the clients
 * retry every unanswered request on the other under the same key.
 * Afterwards every job is paid once, every credit made once, and the
 * ledger's invariants hold. */
Test(escrow, replica_killed_mid_burst_moves_money_once, .fini = efx_teardown, .timeout = 150)
{
	static struct efx_job f[BURST_JOBS];
	struct burst b[BURST_THREADS];
	struct efx a, two, *both[2], *settler, *standby;
	struct efx_parties p;
	struct efx_bal c0, pv0, c1, pv1;
	struct rcpt_key k;
	char addr[RCPT_ADDR_HEX_BYTES], body[160];
	int i, switched = 0;
	atomic_int answered = 0;

	esc_setup(3, 0);
	a = EFX;
	two = EFX;
	efx_spawn(&two);
	both[0] = &a;
	both[1] = &two;
	settler = settler_of(both, 2, 2);
	standby = settler == &a ? &two : &a;
	efx_parties_setup(&p, 0);
	c0 = efx_balance_of(p.customer.address);
	pv0 = efx_balance_of(p.provider.address);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(addr, k.address);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"7\"}", addr);
	for (i = 0; i < BURST_JOBS; i++) {
		efx_job_make(&f[i], &p, 50, (uint64_t)time(NULL) + 120, 900 + (uint64_t)i);
		efx_receipt_make(&f[i], &p, 30, 0);
	}
	memset(b, 0, sizeof(b));
	for (i = 0; i < BURST_THREADS; i++) {
		b[i].index = i;
		b[i].ports[0] = settler->port;
		b[i].ports[1] = standby->port;
		b[i].jobs = f;
		b[i].faucet_body = body;
		b[i].answered = &answered;
		cr_assert_eq(pthread_create(&b[i].t, NULL, burst_main, &b[i]), 0);
	}
	/* A third of the burst answered: the settler dies. */
	for (i = 0; i < 3000 && atomic_load(&answered) < BURST_JOBS; i++)
		usleep(1000);
	efx_stop(settler, SIGKILL);
	cr_assert_lt(atomic_load(&answered), 3 * BURST_JOBS, "the burst was over before the kill");
	for (i = 0; i < BURST_THREADS; i++) {
		pthread_join(b[i].t, NULL);
		cr_assert_eq(b[i].failures, 0, "client %d: %d requests not answered as expected", i,
			     b[i].failures);
		switched += b[i].switched;
	}
	talk_to(standby);
	EFX.pid = standby->pid;
	for (i = 0; i < BURST_JOBS; i++)
		efx_wait_state(&f[i], "paid");
	c1 = efx_balance_of(p.customer.address);
	pv1 = efx_balance_of(p.provider.address);
	cr_assert_eq(c1.available + (uint64_t)BURST_JOBS * 30, c0.available,
		     "customer: %" PRIu64 " -> %" PRIu64, c0.available, c1.available);
	cr_assert_eq(pv1.available, pv0.available + (uint64_t)BURST_JOBS * 30,
		     "the provider was paid once a job");
	cr_assert_eq(efx_balance_of(k.address).available, (uint64_t)BURST_JOBS * 7,
		     "faucet credits");
	fprintf(stderr, "replica burst: %d answers came from the survivor after a failure\n",
		switched);
	rcpt_key_wipe(&k);
	efx_invariants("after a replica was killed mid-burst");
	for (i = 0; i < BURST_JOBS; i++)
		efx_job_free(&f[i]);
}

/* A validator's stake stays slashable while a dispute it opened is not
 * settled: with the settling escrow stalled (SIGSTOP; its replica still
 * serves), a false fraud claim stays undecided past the unbonding period,
 * and the validator's unbond is refused 409 stake-backs-open-disputes
 * with nothing moved; once the settler runs again and the dispute is
 * decided, the same unbond is taken. */
Test(escrow, a_validator_cannot_unbond_past_its_undecided_dispute, .fini = efx_teardown,
     .timeout = 120)
{
	struct efx_config c = { .window_s = 2, .referee_s = 2, .unbonding_s = 5,
				.sample_bps = 1000 };
	struct efx a, b, *both[2], *settler, *standby;
	struct efx_parties p;
	struct efx_job f;
	struct hc_resp r;
	struct efx_bal v0, v1;
	uint8_t wrong[32];
	char idem[48];
	int i, st = 0;

	efx_setup(&c);
	a = EFX;
	b = EFX;
	efx_spawn(&b);
	both[0] = &a;
	both[1] = &b;
	settler = settler_of(both, 2, 2);
	standby = settler == &a ? &b : &a;
	talk_to(standby);
	efx_parties_setup(&p, 0);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 90, 90);
	efx_job_open(&f, efx_fresh_idem(idem));
	efx_receipt_make(&f, &p, 600, 0);
	efx_receipt_post_ok(&f);
	cr_assert_eq(kill(settler->pid, SIGSTOP), 0);
	/* A claim without the input: the referee would have to fetch it. */
	memset(wrong, 0x5a, sizeof(wrong));
	efx_claim_post(&r, &f, &p.validator, wrong, 2, NULL);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	efx_spost(&r, &p.validator, "/v1/unstake", "{\"amount\":\"10000\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	sleep(c.unbonding_s + 2);
	v0 = efx_balance_of(p.validator.address);
	efx_spost(&r, &p.validator, "/v1/unbond", "{}");
	efx_expect_problem(&r, 409, "stake-backs-open-disputes");
	hc_resp_free(&r);
	v1 = efx_balance_of(p.validator.address);
	cr_assert(efx_bal_eq(v0, v1), "the refused unbond moved money");
	/* The settler runs again: the dispute is decided (the input never
	 * came: provider wrong), and the unbond is taken. */
	cr_assert_eq(kill(settler->pid, SIGCONT), 0);
	for (i = 0; i < 150 && st != 200; i++) {
		efx_spost(&r, &p.validator, "/v1/unbond", "{}");
		st = r.status;
		hc_resp_free(&r);
		if (st != 200)
			usleep(100000);
	}
	cr_assert_eq(st, 200, "the unbond was not taken after the dispute was decided");
	cr_assert_geq(efx_balance_of(p.validator.address).available, v0.available + 10000);
	efx_job_free(&f);
	efx_stop(standby, SIGTERM);
	EFX.pid = settler->pid;
	talk_to(settler);
	efx_invariants("after the unbond");
}

/* An account operation whose first attempt moved the money and died
 * before its audit entry (here: the ledger call made directly, with the
 * operation id docs/escrow.md defines, SHA-256 of the label and the
 * scoped key): the retry finds the movement done, moves nothing, and
 * writes the missing entry once; a second retry does not write another. */
Test(escrow, a_retry_writes_the_audit_entry_a_crash_lost, .fini = efx_teardown, .timeout = 60)
{
	static const char label[] = "assay-escrow/account-op/v1\n";
	struct rcpt_key k;
	struct rcpt_u256 amount;
	struct hc_resp r;
	uint8_t op[32];
	unsigned op_len = 0;
	char a[RCPT_ADDR_HEX_BYTES], body[160], buf[128], oh[67], sql[256];
	PGconn *c;
	PGresult *res;
	int i;

	esc_setup(5, 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	snprintf(buf, sizeof(buf), "%slost-audit", label);
	cr_assert(EVP_Digest(buf, strlen(buf), op, &op_len, EVP_sha256(), NULL) && op_len == 32);
	rcpt_u256_from_u64(&amount, 40);
	cr_assert(efx_ledger());
	cr_assert_eq(chain_faucet(efx_ledger(), k.address, &amount, (uint64_t)time(NULL), op),
		     CHAIN_OK);
	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"40\"}", a);
	c = PQconnectdb(EFX.db.conninfo);
	cr_assert(c && PQstatus(c) == CONNECTION_OK);
	for (i = 0; i < 2; i++) {
		efx_post_idem(&r, "/v1/faucet", "lost-audit", body);
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
		/* The stored answer gone too, so that the retry runs again. */
		pgt_exec(c, "DELETE FROM escrow_idem WHERE key = 'lost-audit'");
	}
	cr_assert_eq(efx_balance_of(k.address).available, 40, "moved again");
	cr_assert_eq(rcpt_hex_encode(oh, sizeof(oh), op, 32), RCPT_OK);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM escrow_audit WHERE subject = 'account:%s'"
		 " AND (entry::jsonb)->>'event' = 'faucet'"
		 " AND (entry::jsonb)->'data'->>'op' = '%s'", a, oh);
	res = PQexec(c, sql);
	cr_assert(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQresultErrorMessage(res));
	cr_assert_str_eq(PQgetvalue(res, 0, 0), "1", "audit entries for the op");
	PQclear(res);
	PQfinish(c);
}
