/*
 * registry_state.h: a provider's standing in the escrow's approved
 * registry as one table (registry_state.c), as state.h is for a job's
 * life and dispute_state.h for a dispute's (docs/escrow.md, "Approved
 * registry").
 *
 * Every step is an operator's signed ProviderDecision (receipts.h):
 *
 *   none, approved, suspended, expired --approve--> approved
 *   approved                           --suspend--> suspended
 *   none, approved, suspended, expired --revoke---> revoked   (final)
 *
 * approved --approve--> approved renews an approval (a new expiry, a
 * new organisation or contact) before it lapses.  REG_EXPIRED is not
 * stored: it is an approved row whose expiry has passed
 * (escrow_registry_effective); it takes no new job, and only a new
 * approval (or a revocation) leaves it.  Only REG_APPROVED takes new
 * jobs when the escrow runs with --registry approved; no state touches
 * money (jobs already open settle as they would have).
 *
 * The handler asks escrow_registry_next before it writes, inside the
 * transaction that holds the provider's lock; migration 010's trigger
 * keeps a revoked row final and the nonce rising.
 * tests/test_registry.c registry/transition_table walks every
 * (state, action) pair.
 */
#ifndef ASSAY_ESCROW_REGISTRY_STATE_H
#define ASSAY_ESCROW_REGISTRY_STATE_H

#include <stddef.h>
#include <stdint.h>

enum escrow_registry_state {
	REG_NONE = 0,        /* no row: never decided */
	REG_APPROVED,        /* takes new jobs until its expiry */
	REG_SUSPENDED,       /* takes no new job; may be approved again */
	REG_REVOKED,         /* takes no new job, ever (final) */
	REG_EXPIRED,         /* approved, expiry passed (derived, never stored) */
	REG_STATE_N
};

enum escrow_registry_op {
	REG_OP_APPROVE,
	REG_OP_SUSPEND,
	REG_OP_REVOKE,
	REG_OP_N
};

struct escrow_registry_step {
	enum escrow_registry_op op;
	enum escrow_registry_state from, to;
};

/* The table; *out points at it.  Returns its length. */
size_t escrow_registry_steps(const struct escrow_registry_step **out);
/* 1 and *to (may be NULL) when `op` is allowed from `from`; else 0. */
int escrow_registry_next(enum escrow_registry_op op, enum escrow_registry_state from,
			 enum escrow_registry_state *to);
/* No step leaves a final state. */
int escrow_registry_final(enum escrow_registry_state s);
/* What a stored state is at now_s: REG_EXPIRED for an approval whose
 * expires_s is not ahead of now_s; the stored state otherwise. */
enum escrow_registry_state escrow_registry_effective(enum escrow_registry_state stored,
						     uint64_t expires_s, uint64_t now_s);
/* Whether a provider in `s` may be given a new job (REG_APPROVED). */
int escrow_registry_takes_jobs(enum escrow_registry_state s);

/* Names: states as GET /v1/providers/{address} shows them ("none" for
 * REG_NONE; the database holds approved, suspended or revoked), ops as
 * a ProviderDecision's `action` spells them. */
const char *escrow_registry_state_name(enum escrow_registry_state s);
const char *escrow_registry_op_name(enum escrow_registry_op op);
/* 0 and *out for a state a row can hold (approved, suspended, revoked);
 * -1 otherwise. */
int escrow_registry_state_parse(const char *name, enum escrow_registry_state *out);
/* 0 and *out for "approve", "suspend" or "revoke"; -1 otherwise. */
int escrow_registry_op_parse(const char *name, enum escrow_registry_op *out);

#endif
