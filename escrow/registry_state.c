/*
 * registry_state.c: the approved registry's state machine
 * (registry_state.h).
 */
#include <string.h>

#include "assay_assert.h"
#include "registry_state.h"
#include "banned.h"

static const struct escrow_registry_step steps[] = {
	{ REG_OP_APPROVE, REG_NONE, REG_APPROVED },
	{ REG_OP_APPROVE, REG_APPROVED, REG_APPROVED },     /* a renewal */
	{ REG_OP_APPROVE, REG_SUSPENDED, REG_APPROVED },
	{ REG_OP_APPROVE, REG_EXPIRED, REG_APPROVED },
	{ REG_OP_SUSPEND, REG_APPROVED, REG_SUSPENDED },
	{ REG_OP_REVOKE, REG_NONE, REG_REVOKED },           /* a ban before any approval */
	{ REG_OP_REVOKE, REG_APPROVED, REG_REVOKED },
	{ REG_OP_REVOKE, REG_SUSPENDED, REG_REVOKED },
	{ REG_OP_REVOKE, REG_EXPIRED, REG_REVOKED },
};
#define N_STEPS (sizeof(steps) / sizeof(steps[0]))

static const char *const state_names[REG_STATE_N] = {
	[REG_NONE] = "none",
	[REG_APPROVED] = "approved",
	[REG_SUSPENDED] = "suspended",
	[REG_REVOKED] = "revoked",
	[REG_EXPIRED] = "expired",
};

static const char *const op_names[REG_OP_N] = {
	[REG_OP_APPROVE] = "approve",
	[REG_OP_SUSPEND] = "suspend",
	[REG_OP_REVOKE] = "revoke",
};

size_t escrow_registry_steps(const struct escrow_registry_step **out)
{
	ASSAY_ASSERT(out);
	*out = steps;
	return N_STEPS;
}

int escrow_registry_next(enum escrow_registry_op op, enum escrow_registry_state from,
			 enum escrow_registry_state *to)
{
	size_t i;

	ASSAY_ASSERT((unsigned)op < REG_OP_N && (unsigned)from < REG_STATE_N);
	for (i = 0; i < N_STEPS; i++) {
		if (steps[i].op == op && steps[i].from == from) {
			ASSAY_ASSERT(steps[i].to != REG_NONE && steps[i].to != REG_EXPIRED);
			if (to)
				*to = steps[i].to;
			return 1;
		}
	}
	return 0;
}

int escrow_registry_final(enum escrow_registry_state s)
{
	size_t i;

	ASSAY_ASSERT((unsigned)s < REG_STATE_N);
	for (i = 0; i < N_STEPS; i++)
		if (steps[i].from == s)
			return 0;
	return 1;
}

enum escrow_registry_state escrow_registry_effective(enum escrow_registry_state stored,
						     uint64_t expires_s, uint64_t now_s)
{
	ASSAY_ASSERT((unsigned)stored < REG_STATE_N && stored != REG_EXPIRED);
	if (stored == REG_APPROVED && expires_s <= now_s)
		return REG_EXPIRED;
	return stored;
}

int escrow_registry_takes_jobs(enum escrow_registry_state s)
{
	ASSAY_ASSERT((unsigned)s < REG_STATE_N);
	return s == REG_APPROVED;
}

const char *escrow_registry_state_name(enum escrow_registry_state s)
{
	ASSAY_ASSERT((unsigned)s < REG_STATE_N);
	return state_names[s];
}

const char *escrow_registry_op_name(enum escrow_registry_op op)
{
	ASSAY_ASSERT((unsigned)op < REG_OP_N);
	return op_names[op];
}

int escrow_registry_state_parse(const char *name, enum escrow_registry_state *out)
{
	static const enum escrow_registry_state stored[] = { REG_APPROVED, REG_SUSPENDED,
							     REG_REVOKED };
	size_t i;

	for (i = 0; name && i < sizeof(stored) / sizeof(stored[0]); i++) {
		if (strcmp(name, state_names[stored[i]]) == 0) {
			*out = stored[i];
			return 0;
		}
	}
	return -1;
}

int escrow_registry_op_parse(const char *name, enum escrow_registry_op *out)
{
	int op;

	for (op = 0; name && op < REG_OP_N; op++) {
		if (strcmp(name, op_names[op]) == 0) {
			*out = (enum escrow_registry_op)op;
			return 0;
		}
	}
	return -1;
}
