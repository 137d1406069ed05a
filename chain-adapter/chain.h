/*
 * chain.h: the settlement interface of Assay (the one public header of
 * chain-adapter/).
 *
 * Everything that moves money goes through a `struct chain`, whose first
 * field is its class (vtable): the PostgreSQL double-entry ledger
 * (chain_pg_open) is the first backend; an EVM backend (escrow contract
 * on anvil or a real network) will be the second, behind the same calls.
 *
 * Money model.  Amounts are uint256 base units (wei scale) end to end,
 * `struct rcpt_u256`, never a float.  Every address has three accounts:
 *   available  spendable: deposits land here, withdrawals leave from here
 *   stake      bonded; only a slash or an unstake moves it
 *   unbonding  unstaked, released to `available` when its time comes;
 *              still slashable until then
 * every job has one `lock` account holding its maxPrice while open, and
 * the system has two: `world` (where deposits come from and withdrawals
 * go; the only account allowed below zero: it is minus the money in the
 * system) and `treasury` (what slashes keep after the bounty).
 *
 * Invariants every backend keeps (chain_check_invariants tests them):
 *   I1 conservation: the sum of all accounts, world included, is 0;
 *   I2 no account but world is ever negative;
 *   I3 every job is locked once and settled (released, refunded) at most
 *      once; a settled job's lock is 0;
 *   I4 the sum of the locks equals the sum of the open jobs' maxPrice;
 *   I5 every movement is one transfer between two accounts, recorded in
 *      the event log with a strictly increasing sequence number.
 *
 * Concurrency: one `struct chain` is used by one thread at a time; open
 * one per thread.  Backends make each call one atomic transaction, safe
 * against other processes using the same ledger.  Time is passed in
 * (`now_s`, Unix seconds) so that callers and tests control it; the
 * backend never reads the clock.
 */
#ifndef ASSAY_CHAIN_H
#define ASSAY_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "receipts.h"

#if defined(__GNUC__)
#define CHAIN_WUR __attribute__((warn_unused_result))
#else
#define CHAIN_WUR
#endif

enum chain_err {
	CHAIN_OK = 0,
	CHAIN_ERR_ARG,           /* misuse: NULL, zero amount where not allowed */
	CHAIN_ERR_NOMEM,
	CHAIN_ERR_UNAVAILABLE,   /* the backend cannot be reached (database down) */
	CHAIN_ERR_BACKEND,       /* the backend refused for a reason of its own */
	CHAIN_ERR_INSUFFICIENT,  /* the source account holds less than the amount */
	CHAIN_ERR_OVERFLOW,      /* a balance would pass 2^256 - 1 */
	CHAIN_ERR_EXISTS,        /* job id already locked; operation id already done */
	CHAIN_ERR_NOT_FOUND,     /* no such job */
	CHAIN_ERR_SETTLED,       /* job already released or refunded */
	CHAIN_ERR_NOT_DEVNET,    /* faucet on a chain that is not a devnet */
	CHAIN_ERR_STAKE_LOW,     /* provider's stake below the minimum */
	CHAIN_ERR_PRICE,         /* release price above the locked maxPrice */
	CHAIN_ERR_CONFLICT,      /* concurrent update kept failing; retry later */
	CHAIN_ERR_OP_REUSED,     /* operation id already used for another movement */
	CHAIN_ERR_COUNT_
};

const char *chain_strerror(enum chain_err err);
/* Stable identifier ("insufficient", ...) for APIs and tests. */
const char *chain_errname(enum chain_err err);

struct chain_balance {
	struct rcpt_u256 available;
	struct rcpt_u256 stake;
	struct rcpt_u256 unbonding;       /* total not yet released */
	uint64_t next_release_s;          /* earliest release time; 0 if none */
};

enum chain_event_kind {
	CHAIN_EV_DEPOSIT = 1,     /* world -> available */
	CHAIN_EV_WITHDRAW,        /* available -> world */
	CHAIN_EV_STAKE,           /* available -> stake */
	CHAIN_EV_UNSTAKE,         /* stake -> unbonding */
	CHAIN_EV_UNBOND,          /* unbonding -> available (released) */
	CHAIN_EV_LOCK,            /* customer available -> job lock */
	CHAIN_EV_PAY,             /* job lock -> provider available (price) */
	CHAIN_EV_RETURN,          /* job lock -> customer available */
	CHAIN_EV_SLASH_BOUNTY,    /* stake or unbonding -> recipient available */
	CHAIN_EV_SLASH_KEEP,      /* stake or unbonding -> treasury */
};

/* One transfer, as the event cursor returns it. */
struct chain_event {
	uint64_t seq;                         /* strictly increasing, from 1 */
	enum chain_event_kind kind;
	uint8_t from[RCPT_ADDR_BYTES];        /* zero address for world/treasury/lock */
	uint8_t to[RCPT_ADDR_BYTES];
	uint8_t job[RCPT_HASH_BYTES];         /* zero when not about a job */
	struct rcpt_u256 amount;
	uint64_t at_s;
};

/* Ledger parameters a backend enforces. */
struct chain_params {
	uint64_t chain_id;                    /* 31337 on a devnet */
	int devnet;                           /* faucet allowed */
	struct rcpt_u256 min_stake;           /* a provider must hold this to take a job */
	uint64_t unbonding_s;                 /* unstaked funds wait this long */
};

struct chain;

struct chain_class {
	const char *name;
	void (*free)(struct chain *c);
	void (*domain)(struct chain *c, struct rcpt_domain *out);
	enum chain_err (*balance)(struct chain *c, struct chain_balance *out,
				  const uint8_t who[RCPT_ADDR_BYTES]);
	enum chain_err (*faucet)(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
				 const struct rcpt_u256 *amount, uint64_t now_s,
				 const uint8_t *op);
	enum chain_err (*withdraw)(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
				   const struct rcpt_u256 *amount, uint64_t now_s,
				 const uint8_t *op);
	enum chain_err (*stake)(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
				const struct rcpt_u256 *amount, uint64_t now_s,
				 const uint8_t *op);
	enum chain_err (*unstake)(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
				  const struct rcpt_u256 *amount, uint64_t now_s,
				 const uint8_t *op);
	enum chain_err (*release_unbonded)(struct chain *c,
					   const uint8_t who[RCPT_ADDR_BYTES],
					   uint64_t now_s, const uint8_t *op);
	enum chain_err (*lock)(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
			       const uint8_t customer[RCPT_ADDR_BYTES],
			       const uint8_t provider[RCPT_ADDR_BYTES],
			       const struct rcpt_u256 *max_price, uint64_t now_s);
	enum chain_err (*release)(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				  const struct rcpt_u256 *price, uint64_t now_s);
	enum chain_err (*refund)(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				 uint64_t now_s);
	enum chain_err (*slash)(struct chain *c, const uint8_t offender[RCPT_ADDR_BYTES],
				const struct rcpt_u256 *amount,
				const uint8_t bounty_to[RCPT_ADDR_BYTES],
				const struct rcpt_u256 *bounty,
				const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s);
	enum chain_err (*events)(struct chain *c, struct chain_event *out,
				 size_t *count, size_t max, uint64_t after_seq);
	enum chain_err (*check_invariants)(struct chain *c, char *why, size_t why_len);
};

struct chain {
	const struct chain_class *vt;     /* first field: the backend */
};

/*
 * The calls.  Each returns CHAIN_OK or the first reason it refused, and
 * on refusal changes nothing.  Amounts must be non-zero (CHAIN_ERR_ARG)
 * except where said.  Addresses that own accounts (who, customer,
 * provider, offender, bounty_to) must not be the zero address
 * (CHAIN_ERR_ARG): in events it stands for world, treasury and locks.
 * now_s must be at most 2^62 on the PostgreSQL backend (CHAIN_ERR_ARG).
 *
 * CHAIN_ERR_UNAVAILABLE from a call that moves money means the
 * connection failed; if it failed while committing, the call may have
 * taken effect.  The job-keyed calls below are safe to retry; for
 * faucet, withdraw, stake and unstake a caller that must know looks at
 * the balance or the events before retrying.
 */

/* The EIP-712 domain statements on this chain are signed under: name
 * "Assay", version "1", the chain id and the escrow's address. */
static inline void chain_domain(struct chain *c, struct rcpt_domain *out)
{
	c->vt->domain(c, out);
}

/* Balances of `who` (all zero for an address never seen). */
CHAIN_WUR static inline enum chain_err
chain_balance(struct chain *c, struct chain_balance *out,
	      const uint8_t who[RCPT_ADDR_BYTES])
{
	return c->vt->balance(c, out, who);
}

/* Operation ids.  Each account movement below takes `op`: NULL, or
 * CHAIN_OP_BYTES naming the operation (the escrow derives it from the
 * caller's Idempotency-Key).  An operation id moves money at most once:
 * asked again with the same kind, address and amount, the call changes
 * nothing and answers CHAIN_ERR_EXISTS (done before); with anything else
 * it answers CHAIN_ERR_OP_REUSED.  The id is recorded in the movement's
 * own transaction, so a caller that lost the answer (connection dropped
 * after COMMIT) learns by asking again. */
#define CHAIN_OP_BYTES 32

/* Devnet only (CHAIN_ERR_NOT_DEVNET): world -> who.available. */
CHAIN_WUR static inline enum chain_err
chain_faucet(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
	     const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	return c->vt->faucet(c, who, amount, now_s, op);
}

/* who.available -> world.  CHAIN_ERR_INSUFFICIENT. */
CHAIN_WUR static inline enum chain_err
chain_withdraw(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
	       const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	return c->vt->withdraw(c, who, amount, now_s, op);
}

/* who.available -> who.stake.  CHAIN_ERR_INSUFFICIENT. */
CHAIN_WUR static inline enum chain_err
chain_stake(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
	    const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	return c->vt->stake(c, who, amount, now_s, op);
}

/* who.stake -> who.unbonding, released at now_s + unbonding_s.
 * CHAIN_ERR_INSUFFICIENT. */
CHAIN_WUR static inline enum chain_err
chain_unstake(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
	      const struct rcpt_u256 *amount, uint64_t now_s, const uint8_t *op)
{
	return c->vt->unstake(c, who, amount, now_s, op);
}

/* Every unbonding entry of `who` due at or before now_s -> available.
 * CHAIN_OK also when nothing was due. */
CHAIN_WUR static inline enum chain_err
chain_release_unbonded(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
		       uint64_t now_s, const uint8_t *op)
{
	return c->vt->release_unbonded(c, who, now_s, op);
}

/* Every job-keyed call is idempotent in effect: a retry after a crash
 * finds CHAIN_ERR_EXISTS (lock) or CHAIN_ERR_SETTLED (release, refund,
 * slash) and moves nothing, so callers record their intent first, call,
 * and treat those codes on a retry as "already done". */

/* Opens job `job`: customer.available -> lock(job), max_price (may be
 * zero; then no transfer is recorded).  The job id must not be all zero
 * (CHAIN_ERR_ARG: zero means "not about a job" in events).  Refusals in
 * this order: CHAIN_ERR_EXISTS (a job id is locked once, ever),
 * CHAIN_ERR_STAKE_LOW (provider's stake below min_stake),
 * CHAIN_ERR_INSUFFICIENT. */
CHAIN_WUR static inline enum chain_err
chain_lock(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
	   const uint8_t customer[RCPT_ADDR_BYTES],
	   const uint8_t provider[RCPT_ADDR_BYTES],
	   const struct rcpt_u256 *max_price, uint64_t now_s)
{
	return c->vt->lock(c, job, customer, provider, max_price, now_s);
}

/* Settles job `job` paid: lock -> provider.available `price` (may be
 * zero), the rest -> customer.available.  CHAIN_ERR_NOT_FOUND,
 * CHAIN_ERR_SETTLED, CHAIN_ERR_PRICE (price > maxPrice). */
CHAIN_WUR static inline enum chain_err
chain_release(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
	      const struct rcpt_u256 *price, uint64_t now_s)
{
	return c->vt->release(c, job, price, now_s);
}

/* Settles job `job` refunded: the whole lock -> customer.available.
 * CHAIN_ERR_NOT_FOUND, CHAIN_ERR_SETTLED. */
CHAIN_WUR static inline enum chain_err
chain_refund(struct chain *c, const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s)
{
	return c->vt->refund(c, job, now_s);
}

/* Takes `amount` from offender's stake, then from its unbonding entries
 * (latest release first) when the stake is short: `bounty` of it ->
 * bounty_to.available, the rest -> treasury.  bounty <= amount (else
 * CHAIN_ERR_ARG); bounty may be zero; `job` is recorded (may be all
 * zero).  CHAIN_ERR_INSUFFICIENT when stake + unbonding < amount:
 * callers slash min(amount, what is there).  With a non-zero `job`, one
 * offender is slashed at most once per job: a repeat returns
 * CHAIN_ERR_SETTLED and moves nothing, so that a caller that crashed
 * after the slash can retry it safely. */
CHAIN_WUR static inline enum chain_err
chain_slash(struct chain *c, const uint8_t offender[RCPT_ADDR_BYTES],
	    const struct rcpt_u256 *amount,
	    const uint8_t bounty_to[RCPT_ADDR_BYTES],
	    const struct rcpt_u256 *bounty, const uint8_t job[RCPT_HASH_BYTES],
	    uint64_t now_s)
{
	return c->vt->slash(c, offender, amount, bounty_to, bounty, job, now_s);
}

/* Up to `max` events with seq > after_seq, in order, into out; *count
 * receives how many.  A backend may return fewer than `max` even when
 * more exist (PostgreSQL: at most 1000 a call); page with after_seq
 * until *count is 0.  out may be NULL when max is 0. */
CHAIN_WUR static inline enum chain_err
chain_events(struct chain *c, struct chain_event *out, size_t *count,
	     size_t max, uint64_t after_seq)
{
	return c->vt->events(c, out, count, max, after_seq);
}

/* Checks I1-I5; on failure writes which and why into `why` (may be
 * NULL).  CHAIN_ERR_BACKEND when one does not hold (or the check could
 * not run), CHAIN_ERR_UNAVAILABLE when the backend cannot be reached. */
CHAIN_WUR static inline enum chain_err
chain_check_invariants(struct chain *c, char *why, size_t why_len)
{
	return c->vt->check_invariants(c, why, why_len);
}

static inline void chain_free(struct chain *c)
{
	if (c)
		c->vt->free(c);
}

/*
 * The PostgreSQL backend (chain-adapter/pg.c).  `conninfo` is a libpq
 * connection string.  Migrations in chain-adapter/migrations/ are applied
 * in order, each once, inside a transaction, under an advisory lock (so
 * that two processes starting together do not race).  The escrow's
 * address (verifyingContract) is passed in: on this backend it is the
 * escrow service's own signing address.
 * Errors: CHAIN_ERR_UNAVAILABLE (cannot connect), CHAIN_ERR_BACKEND
 * (migration failed; diag says why), CHAIN_ERR_NOMEM, CHAIN_ERR_ARG.
 */
CHAIN_WUR enum chain_err chain_pg_open(struct chain **out, struct rcpt_diag *diag,
				       const char *conninfo,
				       const struct chain_params *params,
				       const uint8_t escrow[RCPT_ADDR_BYTES]);

#endif
