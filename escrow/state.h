/*
 * state.h: a job's life as one table (state.c), the only place that says
 * which operation is allowed from which state and where it leads.
 *
 * The handlers ask it before they act (escrow_job_next), db.c writes its
 * target in the conditional UPDATE (... WHERE state = from), the
 * settlement loop walks it, and PostgreSQL enforces it: at start the
 * escrow writes the table into escrow_job_steps (migration 005), and a
 * trigger refuses any INSERT, UPDATE of state or DELETE of escrow_jobs
 * that is not one of its steps.  The tests walk the same table
 * (tests/test_escrow_state.c).
 *
 * JOB_NONE is "no row": a job is born by JOB_OP_OPEN and an opening that
 * the ledger refused leaves by JOB_OP_ABANDON.  A step whose target is
 * its origin (an attestation, a second claim) changes no state but is
 * still allowed only where the table says.
 */
#ifndef ASSAY_ESCROW_STATE_H
#define ASSAY_ESCROW_STATE_H

#include <stddef.h>

enum escrow_job_state {
	JOB_NONE = 0,          /* no row */
	JOB_OPENING,           /* recorded; the ledger lock may not exist yet */
	JOB_OPEN,              /* maxPrice locked; waiting for the receipt */
	JOB_RECEIPTED,         /* receipt in; the challenge window runs */
	JOB_DISPUTED,          /* a fraud claim or withholding report waits */
	JOB_RELEASING,         /* decided: pay the provider (ledger call pending) */
	JOB_REFUNDING,         /* decided: refund the customer (ledger call pending) */
	JOB_PAID,              /* final */
	JOB_REFUNDED,          /* final */
	JOB_STATE_N
};

enum escrow_job_op {
	JOB_OP_OPEN,           /* POST /v1/jobs records the job */
	JOB_OP_FUNDED,         /* the ledger holds the lock */
	JOB_OP_ABANDON,        /* the ledger refused the lock: the row goes */
	JOB_OP_RECEIPT,        /* POST /v1/jobs/{id}/receipt */
	JOB_OP_FAIL,           /* POST /v1/jobs/{id}/fail (the provider gives up) */
	JOB_OP_DEADLINE,       /* no receipt by job.deadline */
	JOB_OP_ATTEST,         /* POST /v1/jobs/{id}/attestations, verdict match */
	JOB_OP_CLAIM,          /* an attestation with verdict differs: a fraud claim */
	JOB_OP_WITHHELD,       /* POST /v1/jobs/{id}/withheld */
	JOB_OP_INPUT,          /* POST /v1/jobs/{id}/input for an open dispute */
	JOB_OP_ACCEPT,         /* POST /v1/jobs/{id}/accept (the customer forfeits) */
	JOB_OP_WINDOW_CLOSED,  /* the challenge window ended undisputed */
	JOB_OP_CLEARED,        /* every dispute decided for the provider */
	JOB_OP_UPHELD,         /* a dispute decided against the provider */
	JOB_OP_RELEASED,       /* the ledger paid the provider */
	JOB_OP_REFUNDED,       /* the ledger refunded the customer */
	JOB_OP_N
};

struct escrow_job_step {
	enum escrow_job_op op;
	enum escrow_job_state from, to;
};

/* The table, and how many steps it has. */
size_t escrow_job_steps(const struct escrow_job_step **out);

/* 1 and *to (may be NULL) when `op` is allowed from `from`; else 0. */
int escrow_job_next(enum escrow_job_op op, enum escrow_job_state from,
		    enum escrow_job_state *to);

/* No step leaves a final state. */
int escrow_job_final(enum escrow_job_state s);
/* The job can still end paid: its maxPrice is the provider's exposure,
 * backed by its stake (opening, open, receipted, disputed, releasing). */
int escrow_job_may_pay(enum escrow_job_state s);

/* Names as on the wire and in the database ("none" for JOB_NONE). */
const char *escrow_job_state_name(enum escrow_job_state s);
const char *escrow_job_op_name(enum escrow_job_op op);
/* 0 and *out for a state name a row can hold (not "none"); -1 otherwise. */
int escrow_job_state_parse(const char *name, enum escrow_job_state *out);

/* The states in which `op` is allowed, as a PostgreSQL text[] literal
 * ("{receipted,disputed}") for "state = ANY($n::text[])". */
void escrow_job_states_allowing(char *out, size_t n, enum escrow_job_op op);
/* The same for the states where escrow_job_may_pay holds. */
void escrow_job_states_may_pay(char *out, size_t n);
/* Room for any such literal: every name, a comma each and the braces. */
#define ESCROW_JOB_STATES_LITERAL_BYTES 128

#endif
