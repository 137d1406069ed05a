/*
 * watch.h: the escrow's watch over its parties (docs/operations.md,
 * "Anomalies"): the audit of every revealed sampling seed against the
 * validator's checks, holds on providers with proven frauds, and the
 * anomaly flags of GET /v1/operator/anomalies and /metrics.
 *
 * Invariants: a seed audit is written once per epoch, from data that
 * can no longer change (every candidate's window closed before the
 * reveal); the watch moves no money; a hold only stops new jobs and is
 * lifted by an operator's approve decision.
 */
#ifndef ASSAY_ESCROW_WATCH_H
#define ASSAY_ESCROW_WATCH_H

#include <stdint.h>

#include "escrow.h"

/* A validator's sampling epoch: one seed, from its commitment to its
 * reveal (escrow_seed_commitments). */
struct escrow_epoch {
	int64_t seq;
	uint8_t validator[RCPT_ADDR_BYTES];
	uint8_t commitment[RCPT_HASH_BYTES];
	uint64_t committed_at_s;
	int revealed;
	uint8_t seed[RCPT_HASH_BYTES];      /* valid when revealed */
	uint64_t revealed_at_s;
};

/* What the epoch's validator did about one candidate receipt. */
enum escrow_checked { ESCROW_CHECKED_NONE, ESCROW_CHECKED_ATTESTED, ESCROW_CHECKED_WITHHELD };

struct escrow_epoch_receipt {
	uint8_t job[RCPT_HASH_BYTES];
	uint8_t receipt_id[RCPT_HASH_BYTES];
	uint64_t receipted_at_s;
	enum escrow_checked checked;
};

/* Where the next page of an epoch's receipts starts: after (at_s, id). */
struct escrow_epoch_cursor {
	uint64_t at_s;
	uint8_t id[RCPT_HASH_BYTES];
};

struct escrow_seed_audit {
	int64_t seq;
	uint8_t validator[RCPT_ADDR_BYTES];
	unsigned sample_bps;
	uint64_t candidates, selected, kept, unsampled;
	int truncated;
	uint64_t audited_at_s;
};

/* An epoch and, once written, its audit. */
struct escrow_epoch_row {
	struct escrow_epoch ep;
	int audited;
	struct escrow_seed_audit audit;
};

/* One anomaly flag: a rule that an address breaks, with the number
 * behind it and the rule's bound. */
struct escrow_flag {
	const char *rule;                    /* a static name */
	const char *party;                   /* "provider" or "validator" */
	const char *unit;                    /* what value counts */
	uint8_t address[RCPT_ADDR_BYTES];
	uint64_t value, bound;               /* value against the bound */
	uint64_t count;                      /* jobs or receipts behind value */
	char detail[96];                     /* kernel, epoch: "" when none */
};

/* ---------------------------------------------------------------- rules */

/* Adds one candidate receipt to the tally (the sampling rule of
 * docs/validator.md over the revealed seed). */
void escrow_audit_count(struct escrow_seed_audit *a, const uint8_t seed[RCPT_HASH_BYTES],
			const struct escrow_epoch_receipt *r);
/* Whether the audit flags its validator as lazy (ESCROW_LAZY_SKIP_PCT). */
int escrow_audit_lazy(const struct escrow_seed_audit *a);

/* ---------------------------------------------------------------- SQL (db_watch.c) */

/* The oldest revealed epoch without an audit; ESCROW_DB_NOT_FOUND when none. */
enum escrow_db_err escrow_db_epoch_unaudited(struct escrow_db *db, struct escrow_epoch *out);
/* The validator's epoch seq; ESCROW_DB_NOT_FOUND when it has no such one. */
enum escrow_db_err escrow_db_epoch_get(struct escrow_db *db, struct escrow_epoch_row *out,
				       const uint8_t validator[RCPT_ADDR_BYTES], int64_t seq);
/* The validator's newest epochs (at most max), newest first. */
enum escrow_db_err escrow_db_epochs_list(struct escrow_db *db, struct escrow_epoch_row *out,
					 size_t max, size_t *n,
					 const uint8_t validator[RCPT_ADDR_BYTES]);
/* Up to max candidate receipts of a revealed epoch after the cursor (NULL:
 * from the start), in (receiptedAt, job id) order. */
enum escrow_db_err escrow_db_epoch_page(struct escrow_db *db, struct escrow_epoch_receipt *out,
					size_t max, size_t *n, const struct escrow_epoch *ep,
					const struct escrow_epoch_cursor *after);
/* Writes the audit and its entry on the validator's account chain, in
 * one transaction; ESCROW_DB_CONFLICT when the epoch has one already. */
enum escrow_db_err escrow_db_seed_audit_put(struct escrow_db *db,
					    const struct escrow_seed_audit *a, int lazy);

/* Providers due a hold: at least min_frauds proven frauds (distinct
 * jobs) decided since their last hold was lifted, and no hold now. */
enum escrow_db_err escrow_db_holds_due(struct escrow_db *db, uint8_t (*providers)[RCPT_ADDR_BYTES],
				       uint64_t *frauds, size_t max, size_t *n, uint64_t min_frauds);
/* Holds the provider, with its audit entry; ESCROW_DB_CONFLICT when held. */
enum escrow_db_err escrow_db_hold_put(struct escrow_db *db, const uint8_t provider[RCPT_ADDR_BYTES],
				      uint64_t frauds, uint64_t now_s);
/* The provider's active hold: *held 0 when none. */
enum escrow_db_err escrow_db_hold_get(struct escrow_db *db, const uint8_t provider[RCPT_ADDR_BYTES],
				      int *held, uint64_t *frauds, uint64_t *held_at_s);
/* Lifts the provider's active hold, if any (in the caller's transaction). */
enum escrow_db_err escrow_db_hold_lift(struct escrow_db *db, const uint8_t provider[RCPT_ADDR_BYTES],
				       uint64_t now_s, int *lifted);

/* Every flag of every rule (at most ESCROW_FLAGS_MAX per rule) into a
 * malloc'd array; hold_bound is --hold-after-frauds, shown on `held`. */
enum escrow_db_err escrow_db_flags(struct escrow_db *db, struct escrow_flag **out, size_t *n,
				   uint64_t now_s, uint64_t hold_bound);
/* The rules' names, in the order escrow_db_flags reports them. */
size_t escrow_flag_rules(const char *const **names);

/* ---------------------------------------------------------------- the settler's step (watch.c) */

/* One pass of the watch, from the settling escrow's loop: audits the
 * next revealed epoch, holds providers due a hold, and (every
 * ESCROW_WATCH_GAUGE_S) recounts the flags for /metrics. */
void escrow_watch_tick(struct escrow *e, struct escrow_db *db, uint64_t now_s);

#endif
