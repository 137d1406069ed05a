/*
 * test_watch.c: the escrow's audit of revealed sampling seeds
 * (escrow/watch.h, docs/operations.md "Anomalies") against a real
 * escrow, and `assay audit validator`, which redoes it from public data.
 *
 * The test plays two validators with seeds it chose.  Which receipts a
 * seed selects comes from valid_sample_decide, the rule checked against
 * ethers.js known answers in test_validator.c; the counts each audit
 * must show are the test's own tally of what it did.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include <jansson.h>

#include "escrowfx.h"
#include "testutil.h"
#include "validator.h"

#define JOBS 14
#define BPS 5000

static struct rcpt_key OP;
static char op_hex[RCPT_ADDR_HEX_BYTES];
static const char *args[3];

static void watch_setup(void)
{
	struct efx_config c = { .window_s = 2, .referee_s = 2, .unbonding_s = 40,
				.sample_bps = BPS, .extra_args = args };

	cr_assert_eq(rcpt_key_generate(&OP), RCPT_OK);
	rcpt_address_format(op_hex, OP.address);
	args[0] = "--operator";
	args[1] = op_hex;
	args[2] = NULL;
	efx_setup(&c);
}

/* A seed of its own for each validator, and what the test did with it. */
struct player {
	const struct rcpt_key *k;
	uint8_t seed[32];
	char hex[RCPT_ADDR_HEX_BYTES];
	uint64_t candidates, selected, kept, unsampled;
};

static void seed_post(const struct player *v, const char *route, const uint8_t b[32])
{
	char hx[RCPT_HASH_HEX_BYTES], body[160];
	struct hc_resp r;

	cr_assert_eq(rcpt_hex_encode(hx, sizeof(hx), b, 32), RCPT_OK);
	snprintf(body, sizeof(body), "{\"%s\":\"%s\"}",
		 strcmp(route, "/v1/validators") == 0 ? "seedCommitment" : "seed", hx);
	efx_spost(&r, v->k, route, body);
	cr_assert(r.status == 200 || r.status == 201, "%s: %s", route, r.body);
	hc_resp_free(&r);
}

static void player_commit(struct player *v, const struct rcpt_key *k, uint8_t fill)
{
	uint8_t c[32];

	memset(v, 0, sizeof(*v));
	v->k = k;
	for (int i = 0; i < 32; i++)
		v->seed[i] = (uint8_t)(fill + 7 * i);
	rcpt_address_format(v->hex, k->address);
	valid_seed_commitment(c, v->seed);
	seed_post(v, "/v1/validators", c);
}

static void attest(const struct efx_job *f, const struct player *v)
{
	struct hc_resp r;

	efx_claim_post(&r, f, v->k, f->receipt.output_root, 1, NULL);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
}

/* v's epoch as GET /v1/validators/{address} shows it once audited (the
 * newest), polled for 20 s; decref'd by the caller. */
static json_t *audited_epoch(const struct player *v)
{
	char t[96];
	struct hc_resp r;

	snprintf(t, sizeof(t), "/v1/validators/%s", v->hex);
	for (int i = 0; i < 100; i++) {
		json_t *j, *ep;
		efx_get(&r, t);
		cr_assert_eq(r.status, 200, "%s", r.body);
		j = efx_jparse(&r);
		hc_resp_free(&r);
		ep = json_array_get(json_object_get(j, "epochs"), 0);
		if (json_object_get(ep, "audit")) {
			json_incref(ep);
			json_decref(j);
			return ep;
		}
		json_decref(j);
		usleep(200 * 1000);
	}
	cr_assert_fail("validator %s: no audit 20 s after its reveal", v->hex);
	return NULL;
}

static json_int_t num(json_t *o, const char *k)
{
	json_t *x = json_object_get(o, k);

	cr_assert(json_is_integer(x), "no integer %s", k);
	return json_integer_value(x);
}

static void audit_expect(json_t *ep, const struct player *v, int lazy)
{
	json_t *a = json_object_get(ep, "audit");

	cr_assert_eq(num(a, "sampleBps"), BPS);
	cr_assert_eq(num(a, "checkedBps"),
		     (json_int_t)((v->kept + v->unsampled) * 10000 / v->candidates));
	cr_assert_eq(num(a, "candidates"), (json_int_t)v->candidates);
	cr_assert_eq(num(a, "selected"), (json_int_t)v->selected);
	cr_assert_eq(num(a, "kept"), (json_int_t)v->kept);
	cr_assert_eq(num(a, "skipped"), (json_int_t)(v->selected - v->kept));
	cr_assert_eq(num(a, "unsampled"), (json_int_t)v->unsampled);
	cr_assert(json_is_false(json_object_get(a, "truncated")));
	cr_assert_eq(json_is_true(json_object_get(a, "lazy")), lazy, "lazy");
}

/* `assay audit validator`: its exit status and its line's counts. */
static void cli_expect(const struct player *v, int want_exit)
{
	const char *argv[] = { tu_assay(), "audit", "validator", v->hex, "--escrow", EFX.url, NULL };
	struct tu_run tr;
	json_t *line;
	json_error_t je;

	tu_run(&tr, argv);
	cr_assert_eq(tr.status, want_exit, "exit %d: %s", tr.status, tr.err);
	line = json_loads(tr.out, JSON_DISABLE_EOF_CHECK, &je);
	cr_assert(line, "not JSON: %s", tr.out);
	cr_assert(json_is_true(json_object_get(line, "seedMatchesCommitment")));
	cr_assert_eq(num(line, "candidates"), (json_int_t)v->candidates);
	cr_assert_eq(num(line, "selected"), (json_int_t)v->selected);
	cr_assert_eq(num(line, "kept"), (json_int_t)v->kept);
	cr_assert_eq(num(line, "unsampled"), (json_int_t)v->unsampled);
	cr_assert_str_eq(json_string_value(json_object_get(line, "escrowAudit")), "agrees");
	json_decref(line);
	tu_run_free(&tr);
}

/* Two validators commit seeds, JOBS receipts follow.  The diligent one
 * attests every receipt its seed selects; the lazy one skips one of
 * them and attests one its seed did not select.  Once the windows have
 * closed both reveal: the escrow's audits show exactly the test's
 * tally, the lazy one is flagged (and on /metrics), and
 * `assay audit validator` redoes both audits from public data. */
Test(watch, lazy_validator_flagged_and_audit_redone, .init = watch_setup, .fini = efx_teardown,
     .timeout = 120)
{
	struct efx_parties p;
	struct efx_job f[JOBS];
	struct player lazy, good;
	int skipped = 0, extra = 0;
	json_t *ep, *flag;
	char fam[96];

	efx_parties_setup(&p, 100000);
	efx_stake(&p.stranger, 10000);
	player_commit(&lazy, &p.validator, 0x11);
	player_commit(&good, &p.stranger, 0x5a);
	for (int i = 0; i < JOBS; i++) {
		struct player *both[2] = { &lazy, &good };
		efx_job_make(&f[i], &p, 1000, (uint64_t)time(NULL) + 600, (uint64_t)i + 1);
		efx_job_open(&f[i], NULL);
		efx_receipt_make(&f[i], &p, 600, 0);
		efx_receipt_post_ok(&f[i]);
		for (int k = 0; k < 2; k++) {
			struct player *v = both[k];
			int picked = valid_sample_decide(v->seed, f[i].receipt_id, BPS);
			int check = picked;
			if (v == &lazy && picked && !skipped)
				check = 0, skipped = 1;          /* the one it skips */
			else if (v == &lazy && !picked && !extra)
				check = 1, extra = 1;            /* the one it picks itself */
			v->candidates++;
			v->selected += (uint64_t)picked;
			v->kept += (uint64_t)(picked && check);
			v->unsampled += (uint64_t)(!picked && check);
			if (check)
				attest(&f[i], v);
		}
	}
	/* The seeds chosen make both cases happen (BPS is a half). */
	cr_assert(skipped && extra && lazy.selected >= 2 && good.selected >= 1);
	for (int i = 0; i < JOBS; i++)
		efx_wait_state(&f[i], "paid");
	seed_post(&lazy, "/v1/validators/reveal", lazy.seed);
	seed_post(&good, "/v1/validators/reveal", good.seed);

	ep = audited_epoch(&lazy);
	audit_expect(ep, &lazy, 1);
	json_decref(ep);
	ep = audited_epoch(&good);
	audit_expect(ep, &good, 0);
	json_decref(ep);

	flag = efx_flag_wait(&OP, "lazy", lazy.k->address, 1);
	cr_assert_eq(num(flag, "value"), (json_int_t)(100 / lazy.selected));
	cr_assert_eq(num(flag, "count"), (json_int_t)lazy.selected);
	cr_assert_eq(num(flag, "bound"), 5);
	json_decref(flag);
	efx_flag_wait(&OP, "lazy", good.k->address, 0);
	snprintf(fam, sizeof(fam), "assay_escrow_anomaly_flags{rule=\"lazy\"}");
	for (int i = 0; i < 100 && efx_metric(fam) != 1; i++)
		usleep(200 * 1000);
	cr_assert_eq(efx_metric(fam), 1);

	cli_expect(&lazy, 1);
	cli_expect(&good, 0);
	{
		/* The operator's view through the client, and a stranger's refusal. */
		char kp[300], sp[300];
		const char *ok[] = { tu_assay(), "escrow", "anomalies", "--key", kp, "--url", EFX.url, NULL };
		const char *no[] = { tu_assay(), "escrow", "anomalies", "--key", sp, "--url", EFX.url, NULL };
		struct tu_run tr;
		snprintf(kp, sizeof(kp), "%s/op.key", EFX.dir);
		snprintf(sp, sizeof(sp), "%s/stranger.key", EFX.dir);
		cr_assert_eq(rcpt_key_save(&OP, NULL, kp), RCPT_OK);
		cr_assert_eq(rcpt_key_save(&p.customer, NULL, sp), RCPT_OK);
		tu_run(&tr, ok);
		cr_assert_eq(tr.status, 0, "%s", tr.err);
		flag = json_loads(tr.out, 0, NULL);
		cr_assert(json_is_array(json_object_get(flag, "flags")), "%s", tr.out);
		cr_assert(strstr(tr.out, lazy.hex) && strstr(tr.out, "\"lazy\""), "%s", tr.out);
		json_decref(flag);
		tu_run_free(&tr);
		tu_run(&tr, no);
		cr_assert_eq(tr.status, 1, "%s", tr.err);
		cr_assert(strstr(tr.err, "operator-only"), "%s", tr.err);
		tu_run_free(&tr);
	}
	for (int i = 0; i < JOBS; i++)
		efx_job_free(&f[i]);
}

/* The epoch route: a bad address, a bad or unknown epoch and an
 * unrevealed one are refused; the anomalies are the operator's only. */
Test(watch, refusals, .init = watch_setup, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct player v;
	struct hc_resp r;
	char t[160];

	efx_parties_setup(&p, 0);
	player_commit(&v, &p.validator, 0x22);
	efx_get(&r, "/v1/validators/0x12/epochs/1");
	efx_refused(&r, 400, "invalid-address");
	snprintf(t, sizeof(t), "/v1/validators/%s/epochs/0", v.hex);
	efx_get(&r, t);
	efx_refused(&r, 400, "invalid-request");
	snprintf(t, sizeof(t), "/v1/validators/%s/epochs/99999", v.hex);
	efx_get(&r, t);
	efx_refused(&r, 404, "validator-not-found");
	snprintf(t, sizeof(t), "/v1/validators/%s/epochs/1", v.hex);
	efx_get(&r, t);
	efx_refused(&r, 409, "commitment-unrevealed");
	snprintf(t, sizeof(t), "/v1/validators/%s/epochs/1?afterId=0x00", v.hex);
	efx_get(&r, t);
	efx_refused(&r, 400, "invalid-cursor");
	efx_signed_req(&r, &p.customer, "GET", "/v1/operator/anomalies", NULL, NULL, NULL, 0);
	efx_refused(&r, 403, "operator-only");
	efx_get(&r, "/v1/operator/anomalies");
	cr_assert_eq(r.status, 401, "%s", r.body);
	hc_resp_free(&r);
}

/* One softmax job of 1 MiB in and out for p's provider, receipted with
 * a run of `ms` milliseconds. */
static void timed_job(struct efx_job *f, const struct efx_parties *p, uint64_t nonce, uint64_t ms)
{
	efx_job_make_softmax(f, p, 1000, (uint64_t)time(NULL) + 600, nonce, 512, 512);
	efx_job_open(f, NULL);
	efx_receipt_make(f, p, 600, 0);
	f->receipt.finished_at_ms = f->receipt.started_at_ms + ms;
	efx_receipt_sign(f, p);
	efx_receipt_post_ok(f);
}

/* The provider and validator rules, each against a party made to break
 * it and one that does not: fast-runs (a provider whose receipts claim
 * a hundredth of its peer's time on the same kernel and sizes),
 * failures (2 of 8 jobs failed: 25 %), claims-lost (a fraud claim
 * against an honest receipt, decided against the validator). */
Test(watch, provider_and_validator_rules, .init = watch_setup, .fini = efx_teardown,
     .timeout = 180)
{
	struct efx_parties p, q;
	struct efx_job slow[5], fast[5], g[8];
	struct hc_resp r;
	json_t *fl;
	char t[128];
	int i;

	efx_parties_setup(&p, 300000);
	efx_stake(&p.stranger, 100000);
	q = p;
	q.provider = p.stranger;              /* a second provider */
	for (i = 0; i < 5; i++) {
		timed_job(&slow[i], &p, 100 + (uint64_t)i, 1000);
		timed_job(&fast[i], &q, 200 + (uint64_t)i, 10);
	}
	fl = efx_flag_wait(&OP, "fast-runs", q.provider.address, 1);
	/* Kernel median: (10 + 1000) / 2 per byte; the fast one's: 10. */
	cr_assert_eq(num(fl, "value"), 50);
	cr_assert_eq(num(fl, "count"), 5);
	cr_assert_eq(num(fl, "bound"), 10);
	cr_assert_str_eq(json_string_value(json_object_get(fl, "detail")), "softmax_f32@1");
	json_decref(fl);
	efx_flag_wait(&OP, "fast-runs", p.provider.address, 0);

	/* q: its 5 jobs receipted, 3 more, 2 of them failed: 2 of 8. */
	for (i = 0; i < 3; i++) {
		efx_job_make(&g[i], &q, 1000, (uint64_t)time(NULL) + 600, 300 + (uint64_t)i);
		efx_job_open(&g[i], NULL);
	}
	for (i = 0; i < 2; i++) {
		snprintf(t, sizeof(t), "/v1/jobs/%s/fail", g[i].id_hex);
		efx_spost(&r, &q.provider, t, "{\"reason\":\"out of memory\"}");
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
	}
	efx_receipt_make(&g[2], &q, 600, 0);
	efx_receipt_post_ok(&g[2]);
	fl = efx_flag_wait(&OP, "failures", q.provider.address, 1);
	cr_assert_eq(num(fl, "value"), 25);
	cr_assert_eq(num(fl, "count"), 8);
	json_decref(fl);
	efx_flag_wait(&OP, "failures", p.provider.address, 0);

	/* A fraud claim against p's honest receipt: the referee finds the
	 * validator wrong. */
	{
		char *in = efx_input_member(&slow[0]);
		uint8_t wrong[32];
		memcpy(wrong, slow[0].out.root, 32);
		wrong[0] ^= 1;
		efx_claim_post(&r, &slow[0], &p.validator, wrong, 2, in);
		free(in);
		cr_assert_eq(r.status, 201, "%s", r.body);
		hc_resp_free(&r);
	}
	fl = efx_flag_wait(&OP, "claims-lost", p.validator.address, 1);
	cr_assert_eq(num(fl, "value"), 1);
	json_decref(fl);
	efx_flag_wait(&OP, "proven-frauds", p.provider.address, 0);
	for (i = 0; i < 5; i++) {
		efx_job_free(&slow[i]);
		efx_job_free(&fast[i]);
	}
	for (i = 0; i < 3; i++)
		efx_job_free(&g[i]);
}
