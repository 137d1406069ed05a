/*
 * chain.c: what every backend shares: the error strings and the
 * assertion failure path.
 */
#include <stdio.h>
#include <stdlib.h>

#include "chain.h"
#include "pg_internal.h"
#include "banned.h"

struct chain_err_text {
	const char *name;
	const char *text;
};

/* Indexed by enum chain_err; the static assertion below keeps it whole. */
static const struct chain_err_text chain_err_texts[] = {
	[CHAIN_OK] = { "ok", "success" },
	[CHAIN_ERR_ARG] = { "arg", "invalid argument" },
	[CHAIN_ERR_NOMEM] = { "nomem", "out of memory" },
	[CHAIN_ERR_UNAVAILABLE] = { "unavailable", "settlement backend unavailable" },
	[CHAIN_ERR_BACKEND] = { "backend", "settlement backend error" },
	[CHAIN_ERR_INSUFFICIENT] = { "insufficient", "insufficient funds" },
	[CHAIN_ERR_OVERFLOW] = { "overflow", "amount would overflow uint256" },
	[CHAIN_ERR_EXISTS] = { "exists", "job already locked, or operation already done" },
	[CHAIN_ERR_NOT_FOUND] = { "not-found", "no such job" },
	[CHAIN_ERR_SETTLED] = { "settled", "already settled" },
	[CHAIN_ERR_NOT_DEVNET] = { "not-devnet", "faucet refused: not a devnet" },
	[CHAIN_ERR_STAKE_LOW] = { "stake-low", "provider stake below the minimum" },
	[CHAIN_ERR_PRICE] = { "price", "price above the locked maximum" },
	[CHAIN_ERR_CONFLICT] = { "conflict", "concurrent update conflict, retry later" },
	[CHAIN_ERR_OP_REUSED] = { "op-reused", "operation id already used for another movement" },
	[CHAIN_ERR_UNSUPPORTED] = { "unsupported", "this settlement backend does not do this call" },
	[CHAIN_ERR_SIGNATURE] = { "signature", "signature unusable or not the signer's" },
	[CHAIN_ERR_SAME_PARTY] = { "same-party", "the two parties are one address" },
	[CHAIN_ERR_DEADLINE] = { "deadline", "outside the job's deadline" },
	[CHAIN_ERR_STAKE_FOR_PRICE] = { "stake-too-low-for-price",
		"provider stake too low for the job's price and its open jobs" },
	[CHAIN_ERR_STATE] = { "state", "the job's state does not allow it" },
	[CHAIN_ERR_MISMATCH] = { "mismatch", "the statement does not match the job" },
	[CHAIN_ERR_TIMES] = { "times", "receipt times implausible" },
	[CHAIN_ERR_WINDOW] = { "window-closed", "the challenge window is over" },
	[CHAIN_ERR_VERDICT] = { "verdict", "verdict and output root disagree" },
	[CHAIN_ERR_DISPUTES_MAX] = { "too-many-disputes", "the job carries its most disputes" },
	[CHAIN_ERR_NOT_REFEREE] = { "not-referee", "only the referee decides disputes" },
	[CHAIN_ERR_DISPUTE_NOT_OPEN] = { "dispute-not-open", "no open dispute of this validator" },
	[CHAIN_ERR_DISPUTE_EXPIRED] = { "dispute-expired", "the dispute's referee deadline passed" },
	[CHAIN_ERR_DISPUTE_NOT_EXPIRED] = { "dispute-not-expired",
		"the dispute's referee deadline is not over" },
	[CHAIN_ERR_STAKE_BACKS_JOBS] = { "stake-backs-open-jobs",
		"the stake backs jobs not yet settled" },
	[CHAIN_ERR_STAKE_BACKS_DISPUTES] = { "stake-backs-open-disputes",
		"the stake backs open disputes" },
};

_Static_assert(sizeof(chain_err_texts) / sizeof(chain_err_texts[0]) == CHAIN_ERR_COUNT_,
	       "one string per enum chain_err");

const char *chain_strerror(enum chain_err err)
{
	if ((unsigned)err >= CHAIN_ERR_COUNT_)
		return "unknown error";
	return chain_err_texts[err].text;
}

const char *chain_errname(enum chain_err err)
{
	if ((unsigned)err >= CHAIN_ERR_COUNT_)
		return "unknown";
	return chain_err_texts[err].name;
}

void chain_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "chain: assertion failed at %s:%d: %s\n", file, line, what);
	abort();
}
