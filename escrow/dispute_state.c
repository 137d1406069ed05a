/*
 * dispute_state.c: the dispute state machine (dispute_state.h).
 */
#include <string.h>

#include "assay_assert.h"
#include "dispute_state.h"

static const struct escrow_dispute_step steps[] = {
	{ DISPUTE_FRAUD, DISPUTE_OP_FILE, DISPUTE_NONE, DISPUTE_OPEN },
	{ DISPUTE_FRAUD, DISPUTE_OP_UPHOLD, DISPUTE_OPEN, DISPUTE_PROVIDER_WRONG },
	{ DISPUTE_FRAUD, DISPUTE_OP_REJECT, DISPUTE_OPEN, DISPUTE_VALIDATOR_WRONG },
	{ DISPUTE_FRAUD, DISPUTE_OP_MOOT, DISPUTE_OPEN, DISPUTE_MOOT },
	{ DISPUTE_WITHHELD, DISPUTE_OP_FILE, DISPUTE_NONE, DISPUTE_OPEN },
	{ DISPUTE_WITHHELD, DISPUTE_OP_UPHOLD, DISPUTE_OPEN, DISPUTE_PROVIDER_WRONG },
	{ DISPUTE_WITHHELD, DISPUTE_OP_RECOVER, DISPUTE_OPEN, DISPUTE_INPUT_RECOVERED },
	{ DISPUTE_WITHHELD, DISPUTE_OP_MOOT, DISPUTE_OPEN, DISPUTE_MOOT },
};
#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

static const char *const kind_names[DISPUTE_KIND_N] = {
	[DISPUTE_FRAUD] = "fraud",
	[DISPUTE_WITHHELD] = "withheld",
};

static const char *const state_names[DISPUTE_STATE_N] = {
	[DISPUTE_NONE] = "none",
	[DISPUTE_OPEN] = "open",
	[DISPUTE_PROVIDER_WRONG] = "provider_wrong",
	[DISPUTE_VALIDATOR_WRONG] = "validator_wrong",
	[DISPUTE_MOOT] = "moot",
	[DISPUTE_INPUT_RECOVERED] = "input_recovered",
};

static const char *const op_names[DISPUTE_OP_N] = {
	[DISPUTE_OP_FILE] = "file",
	[DISPUTE_OP_UPHOLD] = "uphold",
	[DISPUTE_OP_REJECT] = "reject",
	[DISPUTE_OP_RECOVER] = "recover",
	[DISPUTE_OP_MOOT] = "moot",
};

size_t escrow_dispute_steps(const struct escrow_dispute_step **out)
{
	*out = steps;
	return N_STEPS;
}

int escrow_dispute_next(enum escrow_dispute_kind kind, enum escrow_dispute_op op,
			enum escrow_dispute_state from, enum escrow_dispute_state *to)
{
	size_t i;

	ASSAY_ASSERT((unsigned)kind < DISPUTE_KIND_N && (unsigned)op < DISPUTE_OP_N &&
		     (unsigned)from < DISPUTE_STATE_N);
	for (i = 0; i < N_STEPS; i++) {
		if (steps[i].kind == kind && steps[i].op == op && steps[i].from == from) {
			if (to)
				*to = steps[i].to;
			return 1;
		}
	}
	return 0;
}

int escrow_dispute_final(enum escrow_dispute_state s)
{
	size_t i;

	ASSAY_ASSERT((unsigned)s < DISPUTE_STATE_N);
	if (s == DISPUTE_NONE)
		return 0;
	for (i = 0; i < N_STEPS; i++)
		if (steps[i].from == s)
			return 0;
	return 1;
}

int escrow_dispute_may_slash_claimant(enum escrow_dispute_state s)
{
	ASSAY_ASSERT((unsigned)s < DISPUTE_STATE_N);
	/* Open: the reject step may still come; decided against it: its
	 * slash is executed by the settlement loop. */
	return s == DISPUTE_OPEN || s == DISPUTE_VALIDATOR_WRONG;
}

const char *escrow_dispute_kind_name(enum escrow_dispute_kind k)
{
	ASSAY_ASSERT((unsigned)k < DISPUTE_KIND_N);
	return kind_names[k];
}

const char *escrow_dispute_state_name(enum escrow_dispute_state s)
{
	ASSAY_ASSERT((unsigned)s < DISPUTE_STATE_N);
	return state_names[s];
}

const char *escrow_dispute_op_name(enum escrow_dispute_op op)
{
	ASSAY_ASSERT((unsigned)op < DISPUTE_OP_N);
	return op_names[op];
}

int escrow_dispute_kind_parse(const char *name, enum escrow_dispute_kind *out)
{
	int k;

	for (k = 0; name && k < DISPUTE_KIND_N; k++) {
		if (strcmp(name, kind_names[k]) == 0) {
			*out = (enum escrow_dispute_kind)k;
			return 0;
		}
	}
	return -1;
}

int escrow_dispute_state_parse(const char *name, enum escrow_dispute_state *out)
{
	int s;

	for (s = DISPUTE_NONE + 1; name && s < DISPUTE_STATE_N; s++) {
		if (strcmp(name, state_names[s]) == 0) {
			*out = (enum escrow_dispute_state)s;
			return 0;
		}
	}
	return -1;
}
