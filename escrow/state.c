/*
 * state.c: the job state machine (state.h); docs/escrow.md draws it.
 */
#include <stdio.h>
#include <string.h>

#include "assay_assert.h"
#include "state.h"

static const struct escrow_job_step steps[] = {
	{ JOB_OP_OPEN, JOB_NONE, JOB_OPENING },
	{ JOB_OP_FUNDED, JOB_OPENING, JOB_OPEN },
	{ JOB_OP_ABANDON, JOB_OPENING, JOB_NONE },
	{ JOB_OP_RECEIPT, JOB_OPEN, JOB_RECEIPTED },
	{ JOB_OP_FAIL, JOB_OPEN, JOB_REFUNDING },
	{ JOB_OP_DEADLINE, JOB_OPEN, JOB_REFUNDING },
	{ JOB_OP_ATTEST, JOB_RECEIPTED, JOB_RECEIPTED },
	{ JOB_OP_ATTEST, JOB_DISPUTED, JOB_DISPUTED },
	{ JOB_OP_CLAIM, JOB_RECEIPTED, JOB_DISPUTED },
	{ JOB_OP_CLAIM, JOB_DISPUTED, JOB_DISPUTED },
	{ JOB_OP_WITHHELD, JOB_RECEIPTED, JOB_DISPUTED },
	{ JOB_OP_WITHHELD, JOB_DISPUTED, JOB_DISPUTED },
	{ JOB_OP_INPUT, JOB_DISPUTED, JOB_DISPUTED },
	{ JOB_OP_ACCEPT, JOB_RECEIPTED, JOB_RELEASING },
	{ JOB_OP_WINDOW_CLOSED, JOB_RECEIPTED, JOB_RELEASING },
	{ JOB_OP_CLEARED, JOB_DISPUTED, JOB_RECEIPTED },
	{ JOB_OP_UPHELD, JOB_DISPUTED, JOB_REFUNDING },
	{ JOB_OP_RELEASED, JOB_RELEASING, JOB_PAID },
	{ JOB_OP_REFUNDED, JOB_REFUNDING, JOB_REFUNDED },
};

static const char *const state_names[JOB_STATE_N] = {
	[JOB_NONE] = "none",
	[JOB_OPENING] = "opening",
	[JOB_OPEN] = "open",
	[JOB_RECEIPTED] = "receipted",
	[JOB_DISPUTED] = "disputed",
	[JOB_RELEASING] = "releasing",
	[JOB_REFUNDING] = "refunding",
	[JOB_PAID] = "paid",
	[JOB_REFUNDED] = "refunded",
};

static const char *const op_names[JOB_OP_N] = {
	[JOB_OP_OPEN] = "open",
	[JOB_OP_FUNDED] = "funded",
	[JOB_OP_ABANDON] = "abandon",
	[JOB_OP_RECEIPT] = "receipt",
	[JOB_OP_FAIL] = "fail",
	[JOB_OP_DEADLINE] = "deadline",
	[JOB_OP_ATTEST] = "attest",
	[JOB_OP_CLAIM] = "claim",
	[JOB_OP_WITHHELD] = "withheld",
	[JOB_OP_INPUT] = "input",
	[JOB_OP_ACCEPT] = "accept",
	[JOB_OP_WINDOW_CLOSED] = "window-closed",
	[JOB_OP_CLEARED] = "cleared",
	[JOB_OP_UPHELD] = "upheld",
	[JOB_OP_RELEASED] = "released",
	[JOB_OP_REFUNDED] = "refunded",
};

size_t escrow_job_steps(const struct escrow_job_step **out)
{
	*out = steps;
	return sizeof(steps) / sizeof(steps[0]);
}

int escrow_job_next(enum escrow_job_op op, enum escrow_job_state from,
		    enum escrow_job_state *to)
{
	size_t i;

	ASSAY_ASSERT((unsigned)op < JOB_OP_N && (unsigned)from < JOB_STATE_N);
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		if (steps[i].op == op && steps[i].from == from) {
			if (to)
				*to = steps[i].to;
			return 1;
		}
	}
	return 0;
}

int escrow_job_final(enum escrow_job_state s)
{
	size_t i;

	ASSAY_ASSERT((unsigned)s < JOB_STATE_N);
	if (s == JOB_NONE)
		return 0;
	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (steps[i].from == s)
			return 0;
	return 1;
}

/* Whether JOB_PAID can be reached from `s` (a fixed point over the table;
 * it has no more steps than states times operations). */
int escrow_job_may_pay(enum escrow_job_state s)
{
	int reach[JOB_STATE_N] = { 0 }, grew = 1;
	size_t i;

	ASSAY_ASSERT((unsigned)s < JOB_STATE_N);
	if (s == JOB_NONE || s == JOB_PAID)
		return 0;
	reach[JOB_PAID] = 1;
	while (grew) {
		grew = 0;
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			if (reach[steps[i].to] && !reach[steps[i].from]) {
				reach[steps[i].from] = 1;
				grew = 1;
			}
		}
	}
	return reach[s];
}

const char *escrow_job_state_name(enum escrow_job_state s)
{
	ASSAY_ASSERT((unsigned)s < JOB_STATE_N && state_names[s]);
	return state_names[s];
}

const char *escrow_job_op_name(enum escrow_job_op op)
{
	ASSAY_ASSERT((unsigned)op < JOB_OP_N && op_names[op]);
	return op_names[op];
}

int escrow_job_state_parse(const char *name, enum escrow_job_state *out)
{
	int s;

	for (s = JOB_NONE + 1; name && s < JOB_STATE_N; s++) {
		if (strcmp(name, state_names[s]) == 0) {
			*out = (enum escrow_job_state)s;
			return 0;
		}
	}
	return -1;
}

/* A PostgreSQL text[] literal of the states for which keep(s, op) holds. */
static void states_literal(char *out, size_t n, int (*keep)(enum escrow_job_state, int),
			   int op)
{
	size_t len = 0;
	int s, w;

	ASSAY_ASSERT(n >= 3);
	out[len++] = '{';
	for (s = JOB_NONE + 1; s < JOB_STATE_N; s++) {
		if (!keep((enum escrow_job_state)s, op))
			continue;
		w = snprintf(out + len, n - len, "%s%s", len > 1 ? "," : "", state_names[s]);
		ASSAY_ASSERT(w > 0 && (size_t)w < n - len - 1);
		len += (size_t)w;
	}
	out[len++] = '}';
	out[len] = '\0';
}

static int keep_allowing(enum escrow_job_state s, int op)
{
	return escrow_job_next((enum escrow_job_op)op, s, NULL);
}

static int keep_may_pay(enum escrow_job_state s, int unused)
{
	(void)unused;
	return escrow_job_may_pay(s);
}

void escrow_job_states_allowing(char *out, size_t n, enum escrow_job_op op)
{
	states_literal(out, n, keep_allowing, (int)op);
}

void escrow_job_states_may_pay(char *out, size_t n)
{
	states_literal(out, n, keep_may_pay, 0);
}
