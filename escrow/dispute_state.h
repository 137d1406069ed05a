/*
 * dispute_state.h: a dispute's life as one table (dispute_state.c), as
 * state.h is for a job's.  A dispute is a fraud claim (an attestation
 * with verdict 2) or a withholding report, one per (job, validator,
 * kind).  The referee decides it; the settlement loop then executes the
 * slash it decided (`executed`, a flag beside the state, not a state).
 *
 *   none --file--> open --uphold--> provider_wrong   (either kind)
 *                  open --reject--> validator_wrong  (fraud only)
 *                  open --recover-> input_recovered  (withheld only)
 *                  open --moot----> moot             (another claim decided it)
 *
 * The code asks escrow_dispute_next before it writes; at start the escrow
 * writes the table into escrow_dispute_steps (migration 007), whose
 * trigger refuses any INSERT, UPDATE of state or DELETE of escrow_disputes
 * that is not one of its steps; tests/test_escrow_state.c walks it.
 */
#ifndef ASSAY_ESCROW_DISPUTE_STATE_H
#define ASSAY_ESCROW_DISPUTE_STATE_H

#include <stddef.h>

enum escrow_dispute_kind {
	DISPUTE_FRAUD,            /* "fraud": a claim that the output differs */
	DISPUTE_WITHHELD,         /* "withheld": the provider does not serve the input */
	DISPUTE_KIND_N
};

enum escrow_dispute_state {
	DISPUTE_NONE = 0,         /* no row */
	DISPUTE_OPEN,             /* waiting for the referee */
	DISPUTE_PROVIDER_WRONG,   /* the provider is slashed */
	DISPUTE_VALIDATOR_WRONG,  /* the claimant is slashed */
	DISPUTE_MOOT,             /* decided by another dispute of the job */
	DISPUTE_INPUT_RECOVERED,  /* the input came and the receipt is right */
	DISPUTE_STATE_N
};

enum escrow_dispute_op {
	DISPUTE_OP_FILE,          /* the claim or report is recorded */
	DISPUTE_OP_UPHOLD,        /* referee: the provider is wrong */
	DISPUTE_OP_REJECT,        /* referee: the claim is false */
	DISPUTE_OP_RECOVER,       /* referee: a withheld input came, the receipt holds */
	DISPUTE_OP_MOOT,          /* another dispute of the job was upheld */
	DISPUTE_OP_N
};

struct escrow_dispute_step {
	enum escrow_dispute_kind kind;
	enum escrow_dispute_op op;
	enum escrow_dispute_state from, to;
};

size_t escrow_dispute_steps(const struct escrow_dispute_step **out);
/* 1 and *to (may be NULL) when `op` is allowed on a dispute of `kind` in
 * `from`; else 0. */
int escrow_dispute_next(enum escrow_dispute_kind kind, enum escrow_dispute_op op,
			enum escrow_dispute_state from, enum escrow_dispute_state *to);
/* No step leaves a final state (every decided one). */
int escrow_dispute_final(enum escrow_dispute_state s);
/* Whether a dispute in `s` may still slash its claimant: undecided, or
 * decided against it (and the slash perhaps not executed). */
int escrow_dispute_may_slash_claimant(enum escrow_dispute_state s);

/* Names as in the database ("none" for DISPUTE_NONE). */
const char *escrow_dispute_kind_name(enum escrow_dispute_kind k);
const char *escrow_dispute_state_name(enum escrow_dispute_state s);
const char *escrow_dispute_op_name(enum escrow_dispute_op op);
/* 0 and *out for a name a row can hold; -1 otherwise. */
int escrow_dispute_kind_parse(const char *name, enum escrow_dispute_kind *out);
int escrow_dispute_state_parse(const char *name, enum escrow_dispute_state *out);

#endif
