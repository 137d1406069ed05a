/*
 * test_reconcile.c: issue 17, independent usage tracking and
 * reconciliation, against a real assay-escrow (tests/escrowfx.h) on a
 * real PostgreSQL:
 *   - the escrow's scheduled ledger invariant check and its /metrics
 *     (escrow/settle.c settle_invariants, escrow/db.c
 *     escrow_db_invariants): healthy, then a balance and a job amount
 *     corrupted with SQL behind the escrow's back, each seen under its
 *     rule;
 *   - `assay reconcile` (client/cmd_reconcile.c): the party's own records
 *     against the escrow's views, clean and then tampered with.
 * Expected values are what the test did (the amounts it moved, the rule
 * its SQL breaks), never what the code under test reports.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "escrowfx.h"
#include "httpc.h"
#include "pgutil.h"
#include "testutil.h"
#include "banned.h"

/* How long a poll of /metrics waits at most: many checks at one a second. */
#define RC_POLL_TRIES 300
#define RC_POLL_SLEEP_US 100000

static const char *const inv_rules[] = { "conservation", "nonnegative", "locks", "transfers",
					 "escrow-jobs" };
#define INV_RULES (sizeof(inv_rules) / sizeof(inv_rules[0]))

static double failures_of(const char *rule)
{
	char family[128];

	snprintf(family, sizeof(family), "assay_escrow_invariant_failures_total{rule=\"%s\"}",
		 rule);
	return efx_metric(family);
}

/* Polls /metrics until `rule` has failed at least once (bounded). */
static void wait_failure(const char *rule)
{
	for (int i = 0; i < RC_POLL_TRIES; i++) {
		if (failures_of(rule) >= 1)
			return;
		usleep(RC_POLL_SLEEP_US);
	}
	cr_assert_fail("rule %s never reported broken on /metrics", rule);
}

/* Polls until at least `n` checks have completed (bounded). */
static void wait_checks(double n)
{
	for (int i = 0; i < RC_POLL_TRIES; i++) {
		if (efx_metric("assay_escrow_invariant_checks_total") >= n)
			return;
		usleep(RC_POLL_SLEEP_US);
	}
	cr_assert_fail("fewer than %.0f invariant checks ran", n);
}

static void sql(const char *text)
{
	PGconn *c = PQconnectdb(EFX.db.conninfo);

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	pgt_exec(c, text);
	PQfinish(c);
}

/* ---------------------------------------------------------------- the scheduled check */

static const char *const inv_args[] = { "--invariant-interval-s", "1", NULL };

/* A healthy escrow with money moved (faucets, stakes, a job locked and
 * one paid) passes every rule; a balance raised by 7 behind the ledger's
 * back breaks conservation (and the transfer replay) and nothing else;
 * an escrow job whose maxPrice no longer matches its ledger job breaks
 * escrow-jobs; /metrics passes promtool throughout. */
Test(reconcile, invariant_check_on_metrics, .fini = efx_teardown, .timeout = 120)
{
	struct efx_config c = { .window_s = 2, .referee_s = 5, .unbonding_s = 60,
				.sample_bps = 1000, .extra_args = inv_args };
	struct efx_parties p;
	struct efx_job f, g;
	struct hc_resp r;
	char addr[RCPT_ADDR_HEX_BYTES], q[512];
	double checks;

	efx_setup(&c);
	efx_parties_setup(&p, 0);
	efx_job_make(&f, &p, 1000, (uint64_t)time(NULL) + 60, 1);
	efx_job_open(&f, NULL);
	efx_receipt_make(&f, &p, 400, 0);
	efx_receipt_post_ok(&f);
	efx_wait_state(&f, "paid");
	efx_job_make(&g, &p, 900, (uint64_t)time(NULL) + 600, 2);
	efx_job_open(&g, NULL);
	/* Two checks after the last movement: both saw it. */
	checks = efx_metric("assay_escrow_invariant_checks_total");
	wait_checks(checks + 2);
	for (size_t i = 0; i < INV_RULES; i++)
		cr_assert_eq(failures_of(inv_rules[i]), 0, "rule %s on a healthy escrow",
			     inv_rules[i]);
	cr_assert_gt(efx_metric("assay_escrow_invariant_last_ok_timestamp_seconds"),
		     (double)time(NULL) - 60);
	efx_get(&r, "/metrics");
	cr_assert_eq(r.status, 200);
	tu_promtool_check("assay-escrow", r.body);
	hc_resp_free(&r);

	/* The customer's available balance, 7 more than its transfers. */
	rcpt_address_format(addr, p.customer.address);
	for (char *s = addr; *s; s++)
		*s = (char)(*s >= 'A' && *s <= 'F' ? *s - 'A' + 'a' : *s);
	snprintf(q, sizeof(q), "UPDATE accounts SET balance = balance + 7 WHERE kind = 'available' "
		 "AND owner = decode('%s', 'hex')", addr + 2);
	sql(q);
	wait_failure("conservation");
	cr_assert_geq(failures_of("transfers"), 1);
	cr_assert_eq(failures_of("nonnegative"), 0);
	cr_assert_eq(failures_of("locks"), 0);
	cr_assert_eq(failures_of("escrow-jobs"), 0);
	cr_assert(efx_log_has("event=INVARIANT-VIOLATED rule=conservation detail=\"the accounts sum to 7\""));
	efx_get(&r, "/metrics");
	tu_promtool_check("assay-escrow", r.body);
	hc_resp_free(&r);
	snprintf(q, sizeof(q), "UPDATE accounts SET balance = balance - 7 WHERE kind = 'available' "
		 "AND owner = decode('%s', 'hex')", addr + 2);
	sql(q);

	/* The open job's escrow row says 901 where the ledger locked 900. */
	snprintf(q, sizeof(q), "UPDATE escrow_jobs SET max_price = 901 WHERE id = decode('%.64s', 'hex')",
		 g.id_hex + 2);
	sql(q);
	wait_failure("escrow-jobs");
	cr_assert(efx_log_has("rule=escrow-jobs"));
	snprintf(q, sizeof(q), "UPDATE escrow_jobs SET max_price = 900 WHERE id = decode('%.64s', 'hex')",
		 g.id_hex + 2);
	sql(q);
	efx_invariants("after the repairs");
	efx_job_free(&f);
	efx_job_free(&g);
}

/* The interval is bounded: 0 and more than a day stop the start. */
Test(reconcile, invariant_interval_bounds, .fini = efx_teardown, .timeout = 60)
{
	static const char *const zero[] = { "--invariant-interval-s", "0", NULL };
	static const char *const big[] = { "--invariant-interval-s", "86401", NULL };
	static const char *const day[] = { "--invariant-interval-s", "86400", NULL };
	struct efx_config c = { .extra_args = day };

	efx_setup(&c);
	efx_stop(&EFX, SIGTERM);
	EFX.cfg.extra_args = zero;
	cr_assert_geq(efx_try_spawn(&EFX), 1, "started with an interval of 0");
	cr_assert(efx_log_has("could not parse --invariant-interval-s '0': want 1..86400"));
	EFX.cfg.extra_args = big;
	cr_assert_geq(efx_try_spawn(&EFX), 1, "started with an interval over a day");
	cr_assert(efx_log_has("could not parse --invariant-interval-s '86401': want 1..86400"));
}

/* ---------------------------------------------------------------- assay reconcile */

/* The records of one run, in the test's directory. */
struct rc_dirs {
	char root[256], pdata[300], jobs[320], bundles[300], audit[300];
	char ckey[300], pkey[300];
};

static void rc_dirs_make(struct rc_dirs *d, const struct efx_parties *p)
{
	tu_tmpdir(d->root, sizeof(d->root));
	snprintf(d->pdata, sizeof(d->pdata), "%s/provider", d->root);
	snprintf(d->jobs, sizeof(d->jobs), "%s/jobs", d->pdata);
	snprintf(d->bundles, sizeof(d->bundles), "%s/bundles", d->root);
	snprintf(d->audit, sizeof(d->audit), "%s/audit", d->root);
	cr_assert_eq(mkdir(d->pdata, 0700), 0);
	cr_assert_eq(mkdir(d->jobs, 0700), 0);
	cr_assert_eq(mkdir(d->bundles, 0700), 0);
	cr_assert_eq(mkdir(d->audit, 0700), 0);
	snprintf(d->ckey, sizeof(d->ckey), "%s/customer.key", d->root);
	snprintf(d->pkey, sizeof(d->pkey), "%s/provider.key", d->root);
	cr_assert_eq(rcpt_key_save(&p->customer, NULL, d->ckey), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&p->provider, NULL, d->pkey), RCPT_OK);
}

static void write_json(const char *path, json_t *doc)
{
	char *text = json_dumps(doc, JSON_COMPACT);

	cr_assert(text);
	tu_write_file(path, text, strlen(text), 0600);
	free(text);
}

static json_t *statement_json(enum rcpt_err (*dump)(char **, const void *), const void *s)
{
	char *t = NULL;
	json_t *j;

	cr_assert_eq(dump(&t, s), RCPT_OK);
	j = json_loads(t, 0, NULL);
	cr_assert(j);
	free(t);
	return j;
}

static enum rcpt_err dump_job(char **o, const void *s) { return rcpt_job_to_json(o, s); }
static enum rcpt_err dump_receipt(char **o, const void *s) { return rcpt_receipt_to_json(o, s); }

/* The provider's record of f as assay-provider's store.c writes it
 * (DATA/jobs/ID/meta.json); with the receipt when `receipted`. */
static void write_meta(const struct rc_dirs *d, const struct efx_job *f, int receipted)
{
	char dir[400], path[420], sig[RCPT_SIG_HEX_BYTES];
	json_t *m;

	snprintf(dir, sizeof(dir), "%s/%s", d->jobs, f->id_hex + 2);
	(void)mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/meta.json", dir);
	cr_assert_eq(rcpt_hex_encode(sig, sizeof(sig), f->sig, RCPT_SIG_BYTES), RCPT_OK);
	m = json_pack("{s:i, s:o, s:s, s:s, s:i, s:b, s:b, s:i, s:i, s:i, s:i}", "v", 1, "job",
		      statement_json(dump_job, &f->job), "jobSignature", sig, "status",
		      receipted ? "receipted" : "queued", "createdAt", 1, "escrowSynced", 1,
		      "corrupted", 0, "doneAt", 0, "queuedMs", 0, "eventsDue", 0, "eventsSent", 0);
	if (receipted) {
		cr_assert_eq(rcpt_hex_encode(sig, sizeof(sig), f->receipt_sig, RCPT_SIG_BYTES),
			     RCPT_OK);
		json_object_set_new(m, "receipt", statement_json(dump_receipt, &f->receipt));
		json_object_set_new(m, "receiptSignature", json_string(sig));
	}
	write_json(path, m);
	json_decref(m);
}

/* The customer's bundle of f, its receipt's price replaced by `price`
 * when that is not 0 (a record tampered with). */
static void write_bundle(const struct rc_dirs *d, const struct efx_job *f, uint64_t price)
{
	struct rcpt_bundle b;
	char path[400], *text = NULL;

	memset(&b, 0, sizeof(b));
	b.domain = EFX.dom;
	b.job = f->job;
	memcpy(b.job_sig, f->sig, RCPT_SIG_BYTES);
	b.receipt = f->receipt;
	memcpy(b.receipt_sig, f->receipt_sig, RCPT_SIG_BYTES);
	if (price)
		rcpt_u256_from_u64(&b.receipt.price, price);
	cr_assert_eq(rcpt_bundle_to_json(&text, &b), RCPT_OK);
	snprintf(path, sizeof(path), "%s/%s.json", d->bundles, f->id_hex);
	tu_write_file(path, text, strlen(text), 0600);
	free(text);
}

static void reconcile(struct tu_run *r, const struct rc_dirs *d, int as_provider,
		      const char *where, const char *audit)
{
	const char *argv[] = { tu_assay(), "reconcile", "--escrow", EFX.url, "--key",
			       as_provider ? d->pkey : d->ckey,
			       as_provider ? "--provider-data" : "--bundles", where,
			       audit ? "--audit-dir" : NULL, audit, NULL };

	tu_run(r, argv);
}

/* Runs reconcile and wants exactly `want` on stdout (the differences, in
 * order) and exit `status`. */
static void expect(const struct rc_dirs *d, int as_provider, const char *where,
		   const char *audit, int status, const char *want)
{
	struct tu_run r;

	reconcile(&r, d, as_provider, where, audit);
	cr_assert_eq(r.status, status, "exit %d, want %d; stdout: %s; stderr: %s", r.status,
		     status, r.out, r.err);
	cr_assert_str_eq(r.out, want, "stderr: %s", r.err);
	tu_run_free(&r);
}

/* The customer's saved audit chain of f, as `assay escrow audit` prints it. */
static json_t *saved_audit(const struct rc_dirs *d, const struct efx_job *f)
{
	const char *argv[] = { tu_assay(), "escrow", "audit", f->id_hex, "--key", d->ckey,
			       "--url", EFX.url, NULL };
	struct tu_run r;
	json_t *doc;

	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "%s", r.err);
	doc = json_loads(r.out, JSON_REJECT_DUPLICATES, NULL);
	cr_assert(json_is_array(json_object_get(doc, "entries")), "%s", r.out);
	tu_run_free(&r);
	return doc;
}

static void audit_put(const struct rc_dirs *d, const char *name, json_t *doc)
{
	char path[400];

	snprintf(path, sizeof(path), "%s/%s", d->audit, name);
	write_json(path, doc);
}

/* The world of the client tests: two paid jobs (prices 400 and 300 of
 * 1000) and an open one without a receipt, the provider's records of
 * all three, the customer's bundles of the paid two and its saved audit
 * chain of the first (n entries). */
struct rc_world {
	struct efx_parties p;
	struct efx_job f1, f2, f3;
	struct rc_dirs d;
	json_t *audit;
	size_t n;
};

static void rc_world_make(struct rc_world *w)
{
	struct efx_config c = { .window_s = 2, .referee_s = 5, .unbonding_s = 60,
				.sample_bps = 1000 };

	efx_setup(&c);
	efx_parties_setup(&w->p, 0);
	rc_dirs_make(&w->d, &w->p);
	efx_job_make(&w->f1, &w->p, 1000, (uint64_t)time(NULL) + 600, 1);
	efx_job_make(&w->f2, &w->p, 1000, (uint64_t)time(NULL) + 600, 2);
	efx_job_make(&w->f3, &w->p, 1000, (uint64_t)time(NULL) + 600, 3);
	efx_job_open(&w->f1, NULL);
	efx_job_open(&w->f2, NULL);
	efx_job_open(&w->f3, NULL);
	efx_receipt_make(&w->f1, &w->p, 400, 0);
	efx_receipt_make(&w->f2, &w->p, 300, 0);
	efx_receipt_post_ok(&w->f1);
	efx_receipt_post_ok(&w->f2);
	efx_wait_state(&w->f1, "paid");
	efx_wait_state(&w->f2, "paid");
	write_meta(&w->d, &w->f1, 1);
	write_meta(&w->d, &w->f2, 1);
	write_meta(&w->d, &w->f3, 0);
	write_bundle(&w->d, &w->f1, 0);
	write_bundle(&w->d, &w->f2, 0);
	w->audit = saved_audit(&w->d, &w->f1);
	w->n = json_array_size(json_object_get(w->audit, "entries"));
	cr_assert_geq(w->n, 3, "opened, receipted, paid at least");
	audit_put(&w->d, "f1.json", w->audit);
}

static void rc_world_free(struct rc_world *w)
{
	json_decref(w->audit);
	tu_rmtree(w->d.root);
	efx_job_free(&w->f1);
	efx_job_free(&w->f2);
	efx_job_free(&w->f3);
}

/* Amounts: the customer's price and maxPrice, each changed alone. */
static void tamper_amounts(struct rc_world *w)
{
	struct efx_job x = w->f1;   /* shallow: not freed */
	char want[256];

	write_bundle(&w->d, &w->f1, 401);
	snprintf(want, sizeof(want), "amount-differs %s field=price local=401 escrow=400\n",
		 w->f1.id_hex);
	expect(&w->d, 0, w->d.bundles, NULL, 1, want);
	rcpt_u256_from_u64(&x.job.max_price, 1001);
	write_bundle(&w->d, &x, 0);
	snprintf(want, sizeof(want), "amount-differs %s field=maxPrice local=1001 escrow=1000\n",
		 w->f1.id_hex);
	expect(&w->d, 0, w->d.bundles, NULL, 1, want);
	write_bundle(&w->d, &w->f1, 0);
}

/* Receipts: the provider's stored receipt of f2 gone (the record kept),
 * then the whole record, as the provider's removal leaves it half-way
 * and then all the way (the escrow paid 300 either way); another
 * receipt at the same price for f1; a receipt for f3 the escrow never
 * got (the job still open there). */
static void tamper_receipts(struct rc_world *w)
{
	struct rcpt_receipt keep = w->f1.receipt;
	uint8_t keep_sig[RCPT_SIG_BYTES];
	char want[256], path[1024];

	write_meta(&w->d, &w->f2, 0);
	snprintf(want, sizeof(want), "paid-without-receipt %s price=300\n", w->f2.id_hex);
	expect(&w->d, 1, w->d.pdata, NULL, 1, want);
	snprintf(path, sizeof(path), "%.320s/%.64s/meta.json", w->d.jobs, w->f2.id_hex + 2);
	cr_assert_eq(unlink(path), 0);
	expect(&w->d, 1, w->d.pdata, NULL, 1, want);
	snprintf(path, sizeof(path), "%.320s/%.64s", w->d.jobs, w->f2.id_hex + 2);
	cr_assert_eq(rmdir(path), 0);
	expect(&w->d, 1, w->d.pdata, NULL, 1, want);
	write_meta(&w->d, &w->f2, 1);

	memcpy(keep_sig, w->f1.receipt_sig, sizeof(keep_sig));
	efx_receipt_make(&w->f1, &w->p, 400, 1);   /* another output, same price */
	write_meta(&w->d, &w->f1, 1);
	w->f1.receipt = keep;
	memcpy(w->f1.receipt_sig, keep_sig, sizeof(keep_sig));
	snprintf(want, sizeof(want), "receipt-differs %s\n", w->f1.id_hex);
	expect(&w->d, 1, w->d.pdata, NULL, 1, want);
	write_meta(&w->d, &w->f1, 1);

	efx_receipt_make(&w->f3, &w->p, 500, 0);
	write_meta(&w->d, &w->f3, 1);
	snprintf(want, sizeof(want), "receipt-not-settled %s state=open\n", w->f3.id_hex);
	expect(&w->d, 1, w->d.pdata, NULL, 1, want);
	write_meta(&w->d, &w->f3, 0);
	expect(&w->d, 1, w->d.pdata, NULL, 0, "");
}

/* A job the customer has a bundle of, never opened at the escrow. */
static void tamper_unknown(struct rc_world *w)
{
	struct efx_job ghost;
	char want[256], path[400];

	efx_job_make(&ghost, &w->p, 1000, (uint64_t)time(NULL) + 600, 4);
	efx_receipt_make(&ghost, &w->p, 100, 0);
	write_bundle(&w->d, &ghost, 0);
	snprintf(want, sizeof(want), "unknown-to-escrow %s\n", ghost.id_hex);
	expect(&w->d, 0, w->d.bundles, NULL, 1, want);
	snprintf(path, sizeof(path), "%s/%s.json", w->d.bundles, ghost.id_hex);
	cr_assert_eq(unlink(path), 0);
	efx_job_free(&ghost);
}

/* The saved chain: an older, shorter copy is extended (no difference);
 * an entry altered, or an entry the escrow no longer has, is not; a
 * copy cut in the middle of its bytes is no record (exit 2). */
static void tamper_audit(struct rc_world *w)
{
	json_t *copy, *entries;
	char want[256], path[400];
	struct tu_run r;

	copy = json_deep_copy(w->audit);
	cr_assert_eq(json_array_remove(json_object_get(copy, "entries"), w->n - 1), 0);
	audit_put(&w->d, "f1.json", copy);
	expect(&w->d, 0, w->d.bundles, w->d.audit, 0, "");
	json_decref(copy);

	copy = json_deep_copy(w->audit);
	entries = json_object_get(copy, "entries");
	json_object_set_new(json_object_get(json_array_get(entries, 1), "entry"), "event",
			    json_string("refunded"));
	audit_put(&w->d, "f1.json", copy);
	snprintf(want, sizeof(want), "audit-not-extending job:%s entry=2\n", w->f1.id_hex);
	expect(&w->d, 0, w->d.bundles, w->d.audit, 1, want);
	json_decref(copy);

	copy = json_deep_copy(w->audit);
	entries = json_object_get(copy, "entries");
	json_array_append(entries, json_array_get(entries, w->n - 1));
	audit_put(&w->d, "f1.json", copy);
	snprintf(want, sizeof(want), "audit-not-extending job:%s entries=%zu escrow-entries=%zu\n",
		 w->f1.id_hex, w->n + 1, w->n);
	expect(&w->d, 0, w->d.bundles, w->d.audit, 1, want);
	json_decref(copy);

	snprintf(path, sizeof(path), "%s/f1.json", w->d.audit);
	tu_write_file(path, "{\"subject\":\"job:", 16, 0600);
	reconcile(&r, &w->d, 0, w->d.bundles, w->d.audit);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert_str_empty(r.out);
	cr_assert_eq(tu_lines(r.err), 1, "%s", r.err);
	tu_run_free(&r);
	audit_put(&w->d, "f1.json", w->audit);
}

/* Without the wallet key on the machine: --address, and the customer's
 * API key of scope audit:read (ASSAY_API_KEY_FILE) for the audit reads;
 * the altered chain is still found (the read was authorised).  With no
 * API key, --audit-dir is refused (exit 2). */
static void by_address(struct rc_world *w)
{
	char addr[RCPT_ADDR_HEX_BYTES], tok_path[400], want[256];
	const char *argv[] = { tu_assay(), "reconcile", "--escrow", EFX.url, "--address", addr,
			       "--bundles", w->d.bundles, "--audit-dir", w->d.audit, NULL };
	struct tu_run r;
	json_t *j, *copy;
	const char *secret;

	rcpt_address_format(addr, w->p.customer.address);
	{
		const char *mk[] = { tu_assay(), "apikey", "create", "--url", EFX.url, "--key",
				     w->d.ckey, "--scope", "audit:read", NULL };
		tu_run(&r, mk);
	}
	cr_assert_eq(r.status, 0, "%s", r.err);
	j = json_loads(r.out, 0, NULL);
	secret = json_string_value(json_object_get(j, "secret"));
	cr_assert(secret, "%s", r.out);
	snprintf(tok_path, sizeof(tok_path), "%s/api.key", w->d.root);
	tu_write_file(tok_path, secret, strlen(secret), 0600);
	json_decref(j);
	tu_run_free(&r);

	tu_run(&r, argv);   /* no API key in the environment */
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert_eq(tu_lines(r.err), 1, "%s", r.err);
	tu_run_free(&r);
	cr_assert_eq(setenv("ASSAY_API_KEY_FILE", tok_path, 1), 0);
	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "%s%s", r.out, r.err);
	cr_assert_str_empty(r.out);
	tu_run_free(&r);
	copy = json_deep_copy(w->audit);
	json_object_set_new(json_object_get(json_array_get(json_object_get(copy, "entries"), 0),
					    "entry"), "event", json_string("paid"));
	audit_put(&w->d, "f1.json", copy);
	json_decref(copy);
	tu_run(&r, argv);
	snprintf(want, sizeof(want), "audit-not-extending job:%s entry=1\n", w->f1.id_hex);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert_str_eq(r.out, want);
	tu_run_free(&r);
	cr_assert_eq(unsetenv("ASSAY_API_KEY_FILE"), 0);
	audit_put(&w->d, "f1.json", w->audit);
}

/* Clean, both parties' records agree with the escrow (exit 0, nothing
 * printed); then each tampering gives its one line and exit 1, and
 * undone, nothing again. */
Test(reconcile, client_finds_every_difference, .fini = efx_teardown, .timeout = 180)
{
	struct rc_world w;

	rc_world_make(&w);
	expect(&w.d, 1, w.d.pdata, NULL, 0, "");
	expect(&w.d, 0, w.d.bundles, w.d.audit, 0, "");
	tamper_amounts(&w);
	tamper_receipts(&w);
	tamper_unknown(&w);
	tamper_audit(&w);
	by_address(&w);
	expect(&w.d, 1, w.d.pdata, NULL, 0, "");
	expect(&w.d, 0, w.d.bundles, w.d.audit, 0, "");
	rc_world_free(&w);
}

/* Unusable arguments, records and escrows: exit 2, one line on stderr,
 * nothing on stdout. */
Test(reconcile, client_argument_errors, .timeout = 60)
{
	char dir[256], key[300], bundles[300], bad[400];
	struct rcpt_key k;
	struct tu_run r;

	tu_tmpdir(dir, sizeof(dir));
	snprintf(key, sizeof(key), "%s/me.key", dir);
	snprintf(bundles, sizeof(bundles), "%s/bundles", dir);
	cr_assert_eq(mkdir(bundles, 0700), 0);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&k, NULL, key), RCPT_OK);
	rcpt_key_wipe(&k);
	{
		const char *const cases[][11] = {
			{ "reconcile", NULL },
			{ "reconcile", "--escrow", "ftp://127.0.0.1:1", "--key", key, "--bundles", bundles, NULL },
			{ "reconcile", "--escrow", "http://u:p@127.0.0.1:1", "--key", key, "--bundles", bundles, NULL },
			{ "reconcile", "--escrow", "http://127.0.0.1:1", "--key", key, NULL },
			{ "reconcile", "--escrow", "http://127.0.0.1:1", "--key", key, "--bundles", bundles, "--since", "01", NULL },
			{ "reconcile", "--escrow", "http://127.0.0.1:1", "--key", bundles, "--bundles", bundles, NULL },
			{ "reconcile", "--escrow", "http://127.0.0.1:1", "--key", key, "--bundles", "/nonexistent/x", NULL },
			{ "reconcile", "--escrow", "http://127.0.0.1:1", "--key", key, "--address",
			  "0x00000000000000000000000000000000000000aa", "--bundles", bundles, NULL },
			{ "reconcile", "--escrow", "http://127.0.0.1:1", "--address", "0x12", "--bundles", bundles, NULL },
			/* Nothing listens on port 1: no answer is no comparison. */
			{ "reconcile", "--escrow", "http://127.0.0.1:1", "--key", key, "--bundles", bundles, NULL },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *argv[12] = { tu_assay() };
			for (size_t j = 0; cases[i][j]; j++)
				argv[j + 1] = cases[i][j];
			tu_run(&r, argv);
			cr_assert_eq(r.status, 2, "case %zu: exit %d: %s", i, r.status, r.err);
			cr_assert_str_empty(r.out, "case %zu", i);
			cr_assert_eq(tu_lines(r.err), 1, "case %zu: %s", i, r.err);
			tu_run_free(&r);
		}
	}
	/* A file in the bundles that is no bundle. */
	snprintf(bad, sizeof(bad), "%s/x.json", bundles);
	tu_write_file(bad, "{\"job\":1}", 9, 0600);
	{
		const char *argv[] = { tu_assay(), "reconcile", "--escrow", "http://127.0.0.1:1",
				       "--key", key, "--bundles", bundles, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 2, "%s", r.err);
		cr_assert_eq(tu_lines(r.err), 1, "%s", r.err);
		tu_run_free(&r);
	}
	tu_rmtree(dir);
}
