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

/* Whether the escrow's log holds `needle` (memmem: the log is bytes). */
static int log_has(const char *needle)
{
	uint8_t *log = NULL;
	size_t len = 0;
	int found;

	tu_read_file(EFX.log_path, &log, &len);
	found = memmem(log, len, needle, strlen(needle)) != NULL;
	free(log);
	return found;
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
	cr_assert(log_has("event=INVARIANT-VIOLATED rule=conservation detail=\"the accounts sum to 7\""));
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
	cr_assert(log_has("rule=escrow-jobs"));
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
	cr_assert(log_has("could not parse --invariant-interval-s '0': want 1..86400"));
	EFX.cfg.extra_args = big;
	cr_assert_geq(efx_try_spawn(&EFX), 1, "started with an interval over a day");
	cr_assert(log_has("could not parse --invariant-interval-s '86401': want 1..86400"));
}
