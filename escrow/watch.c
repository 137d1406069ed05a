/*
 * watch.c: the settler's watch over its parties (watch.h): seed audits,
 * provider holds, the anomaly gauges.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assay_assert.h"
#include "validator.h"
#include "watch.h"
#include "banned.h"

/* ---------------------------------------------------------------- rules */

void escrow_audit_count(struct escrow_seed_audit *a, const uint8_t seed[RCPT_HASH_BYTES],
			const struct escrow_epoch_receipt *r)
{
	int picked = valid_sample_decide(seed, r->receipt_id, a->sample_bps);

	a->candidates++;
	if (picked) {
		a->selected++;
		if (r->checked != ESCROW_CHECKED_NONE)
			a->kept++;
	} else if (r->checked != ESCROW_CHECKED_NONE) {
		a->unsampled++;
	}
}

int escrow_audit_lazy(const struct escrow_seed_audit *a)
{
	uint64_t skipped;

	ASSAY_ASSERT(a->kept <= a->selected);
	skipped = a->selected - a->kept;
	/* selected is below ESCROW_AUDIT_RECEIPTS_MAX: no overflow. */
	return skipped > 0 && skipped * 100u > a->selected * ESCROW_LAZY_SKIP_PCT;
}

/* ---------------------------------------------------------------- seed audits */

/* The whole epoch, page by page, into the tally; -1 when the database
 * failed (nothing is written then, and the next tick starts again). */
static int audit_tally(struct escrow_db *db, const struct escrow_epoch *ep,
		       struct escrow_seed_audit *a)
{
	struct escrow_epoch_receipt *page = calloc(ESCROW_EPOCH_PAGE_MAX, sizeof(*page));
	struct escrow_epoch_cursor cur;
	size_t n = 0, i;
	int first = 1, rc = -1;

	if (!page)
		return -1;
	for (;;) {
		if (escrow_db_epoch_page(db, page, ESCROW_EPOCH_PAGE_MAX, &n, ep,
					 first ? NULL : &cur) != ESCROW_DB_OK)
			break;
		for (i = 0; i < n && a->candidates < ESCROW_AUDIT_RECEIPTS_MAX; i++)
			escrow_audit_count(a, ep->seed, &page[i]);
		if (i < n) {
			a->truncated = 1;
			rc = 0;
			break;
		}
		if (n < ESCROW_EPOCH_PAGE_MAX) {
			rc = 0;
			break;
		}
		cur.at_s = page[n - 1].receipted_at_s;
		memcpy(cur.id, page[n - 1].job, RCPT_HASH_BYTES);
		first = 0;
	}
	free(page);
	return rc;
}

/* Audits the oldest revealed epoch that has no audit yet (one a tick). */
static void audit_next_epoch(struct escrow *e, struct escrow_db *db, uint64_t now)
{
	struct escrow_epoch ep;
	struct escrow_seed_audit a;
	char v[RCPT_ADDR_HEX_BYTES];
	int lazy;

	if (escrow_db_epoch_unaudited(db, &ep) != ESCROW_DB_OK)
		return;
	memset(&a, 0, sizeof(a));
	a.seq = ep.seq;
	memcpy(a.validator, ep.validator, RCPT_ADDR_BYTES);
	a.sample_bps = e->cfg.sample_bps;
	a.audited_at_s = now;
	if (audit_tally(db, &ep, &a))
		return;
	lazy = escrow_audit_lazy(&a);
	if (escrow_db_seed_audit_put(db, &a, lazy) != ESCROW_DB_OK)
		return;
	rcpt_address_format(v, a.validator);
	fprintf(stderr, "assay-escrow: event=seed-audited validator=%s epoch=%" PRId64
		" candidates=%" PRIu64 " selected=%" PRIu64 " kept=%" PRIu64
		" unsampled=%" PRIu64 "%s%s\n", v, a.seq, a.candidates, a.selected, a.kept,
		a.unsampled, a.truncated ? " truncated=yes" : "", lazy ? " flag=lazy" : "");
}

/* ---------------------------------------------------------------- holds */

static void hold_due(struct escrow *e, struct escrow_db *db, uint64_t now)
{
	uint8_t who[ESCROW_SETTLE_BATCH][RCPT_ADDR_BYTES];
	uint64_t frauds[ESCROW_SETTLE_BATCH];
	char a[RCPT_ADDR_HEX_BYTES];
	size_t n = 0, i;

	if (!e->cfg.hold_after_frauds ||
	    escrow_db_holds_due(db, who, frauds, ESCROW_SETTLE_BATCH, &n,
				e->cfg.hold_after_frauds) != ESCROW_DB_OK)
		return;
	for (i = 0; i < n; i++) {
		if (escrow_db_hold_put(db, who[i], frauds[i], now) != ESCROW_DB_OK)
			continue;
		rcpt_address_format(a, who[i]);
		fprintf(stderr, "assay-escrow: event=provider-held provider=%s frauds=%" PRIu64
			" (no new jobs until an operator approves it again)\n", a, frauds[i]);
	}
}

/* ---------------------------------------------------------------- gauges */

static void flag_gauges(struct escrow *e, struct escrow_db *db, uint64_t now)
{
	const char *const *names;
	size_t nr = escrow_flag_rules(&names), n = 0, i, r;
	struct escrow_flag *f = NULL;
	char labels[64];

	if (escrow_db_flags(db, &f, &n, now, e->cfg.hold_after_frauds) != ESCROW_DB_OK)
		return;
	for (r = 0; r < nr; r++) {
		uint64_t count = 0;
		for (i = 0; i < n; i++)
			count += strcmp(f[i].rule, names[r]) == 0;
		snprintf(labels, sizeof(labels), "rule=\"%s\"", names[r]);
		(void)httpd_gauge_set(e->httpd, "assay_escrow_anomaly_flags", labels,
				      "Addresses an anomaly rule flags now "
				      "(GET /v1/operator/anomalies lists them).", (double)count);
	}
	free(f);
}

void escrow_watch_tick(struct escrow *e, struct escrow_db *db, uint64_t now_s)
{
	audit_next_epoch(e, db, now_s);
	hold_due(e, db, now_s);
	if (now_s >= e->watch_gauges_at_s + ESCROW_WATCH_GAUGE_S) {
		flag_gauges(e, db, now_s);
		e->watch_gauges_at_s = now_s;
	}
}
