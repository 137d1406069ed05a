/*
 * chain.h: the settlement interface of Assay (the one public header of
 * chain-adapter/).
 *
 * Everything that moves money goes through a `struct chain`, whose first
 * field is its class (vtable).  Two backends sit behind it: the
 * PostgreSQL double-entry ledger (chain_pg_open, the embedded default)
 * and the EVM escrow contract AssayEscrow (chain_evm_open, on anvil or a
 * real network; docs/contract.md).
 *
 * Two layers of calls share the vtable:
 *   the ledger calls (faucet, withdraw, stake, unstake, release_unbonded,
 *     lock, release, refund, slash, events, check_invariants): a trusted
 *     caller (the escrow service) moves money and keeps the rules itself;
 *   the statement calls (open_job, submit_receipt, settle, attest, decide,
 *     expire_dispute, job_state, dispute_state, rules): the caller hands
 *     over the signed statements and the backend keeps the rules, those
 *     of AssayEscrow to the letter (docs/contract.md's table), refusing
 *     with one code per refusal of the contract.
 * A backend that cannot do a call answers CHAIN_ERR_UNSUPPORTED: the EVM
 * backend does none of the ledger calls but balance, domain and
 * release_unbonded; the PostgreSQL backend does the statement calls only
 * when chain_params carries their parameters.
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
 *   I6 (PostgreSQL) every statement job's rule state agrees with its
 *      ledger row (1-3 open, 4 released at its receipt's price, 5
 *      refunded) and its count of open disputes with its disputes.
 *
 * Concurrency: one `struct chain` is used by one thread at a time; open
 * one per thread.  Backends make each call one atomic transaction, safe
 * against other processes using the same ledger.
 *
 * Time.  The PostgreSQL backend takes the time from the caller (`now_s`,
 * Unix seconds) so that callers and tests control it; it never reads the
 * clock.  The EVM backend ignores `now_s`: the contract reads
 * block.timestamp, the time of the block a transaction lands in (the
 * time of the latest block when a refusal is found by the gas estimate).
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
	/* Appended for the statement calls (issue 14).  In brackets the
	 * AssayEscrow custom errors each stands for (docs/contract.md); the
	 * contract's other refusals map to codes above: JobExists and
	 * DisputeExists to EXISTS, Insufficient to INSUFFICIENT, StakeTooLow
	 * to STAKE_LOW, PriceAboveMax to PRICE, ZeroAddress and ZeroAmount to
	 * ARG, AmountTooLarge to OVERFLOW. */
	CHAIN_ERR_UNSUPPORTED,   /* this backend does not do this call (or was not set up for it) */
	CHAIN_ERR_SIGNATURE,     /* [BadSignature, WrongSigner] unusable, or not the signer's */
	CHAIN_ERR_SAME_PARTY,    /* [SameParty] customer = provider, validator = provider */
	CHAIN_ERR_DEADLINE,      /* [BadDeadline, DeadlinePassed] outside the deadline's window */
	CHAIN_ERR_STAKE_FOR_PRICE, /* [StakeTooLowForPrice] the exposure rule */
	CHAIN_ERR_STATE,         /* [WrongState, NotSettleable] not in a state that allows it */
	CHAIN_ERR_MISMATCH,      /* [CommitmentMismatch, ProviderMismatch, ReceiptMismatch] */
	CHAIN_ERR_TIMES,         /* [BadTimes] startedAt/finishedAt implausible */
	CHAIN_ERR_WINDOW,        /* [WindowClosed] the challenge window is over */
	CHAIN_ERR_VERDICT,       /* [VerdictOutput, BadVerdict] verdict and outputRoot disagree */
	CHAIN_ERR_DISPUTES_MAX,  /* [TooManyDisputes] the job's disputes are at their cap */
	CHAIN_ERR_NOT_REFEREE,   /* [NotReferee] only the referee decides */
	CHAIN_ERR_DISPUTE_NOT_OPEN,    /* [DisputeNotOpen] no open dispute of that validator */
	CHAIN_ERR_DISPUTE_EXPIRED,     /* [DisputeExpiredAlready] past the referee deadline */
	CHAIN_ERR_DISPUTE_NOT_EXPIRED, /* [DisputeNotExpired] the referee deadline is not over */
	CHAIN_ERR_STAKE_BACKS_JOBS,    /* [StakeBacksOpenJobs] */
	CHAIN_ERR_STAKE_BACKS_DISPUTES,/* [StakeBacksOpenDisputes] */
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

/* Ledger parameters a backend enforces (the PostgreSQL backend's; the
 * EVM backend reads its own from the contract). */
struct chain_params {
	uint64_t chain_id;                    /* 31337 on a devnet */
	int devnet;                           /* faucet allowed */
	struct rcpt_u256 min_stake;           /* a provider must hold this to take a job */
	uint64_t unbonding_s;                 /* unstaked funds wait this long */
	/* The statement rules (AssayEscrow's constructor parameters).  All
	 * zero: the statement calls answer CHAIN_ERR_UNSUPPORTED (the ledger
	 * calls work as ever).  Any of them set: all must be valid as the
	 * contract's constructor requires (else chain_pg_open answers
	 * CHAIN_ERR_ARG): min_stake, sample_bps, slash_bps, the window and
	 * the referee deadline above zero, every bps at most CHAIN_BPS, the
	 * window and the referee deadline at most CHAIN_DEADLINE_MAX_S, and
	 * window + referee deadline < unbonding_s <= CHAIN_UNBONDING_MAX_S. */
	uint32_t sample_bps;                  /* p: validators sample this share */
	uint32_t slash_bps;                   /* share of the offender's bond a slash takes */
	uint32_t bounty_bps;                  /* share of a provider's slash to its validator */
	uint64_t challenge_window_s;          /* after a receipt, disputes open this long */
	uint64_t referee_deadline_s;          /* the referee decides within this */
};

/* Fixed rules of AssayEscrow (its constants), the same on both backends. */
#define CHAIN_BPS 10000u                          /* basis points in one */
#define CHAIN_DEADLINE_MAX_S (30ull * 86400ull)   /* a job's deadline at most this far ahead */
#define CHAIN_CLOCK_SKEW_MS 60000ull              /* a provider's clock may be this far off */
#define CHAIN_DISPUTES_PER_JOB_MAX 8u             /* disputes one job may ever carry */
#define CHAIN_UNBONDING_MAX_S (365ull * 86400ull) /* the constructor's cap on unbonding */

/* The rules a backend enforces (chain_rules). */
struct chain_rules {
	struct rcpt_u256 min_stake;
	uint32_t sample_bps;
	uint32_t slash_bps;
	uint32_t bounty_bps;
	uint64_t challenge_window_s;
	uint64_t referee_deadline_s;
	uint64_t unbonding_s;
	uint64_t deadline_max_s;              /* CHAIN_DEADLINE_MAX_S */
	uint64_t clock_skew_ms;               /* CHAIN_CLOCK_SKEW_MS */
	uint32_t disputes_per_job_max;        /* CHAIN_DISPUTES_PER_JOB_MAX */
};

/* A job's state: PROTOCOL.md section 7's jobState, value for value. */
enum chain_job_state {
	CHAIN_JOB_UNKNOWN = 0,
	CHAIN_JOB_OPEN = 1,          /* maxPrice locked, no receipt yet */
	CHAIN_JOB_RECEIPTED = 2,     /* challenge window running (or over, unsettled) */
	CHAIN_JOB_DISPUTED = 3,      /* at least one dispute open */
	CHAIN_JOB_PAID = 4,
	CHAIN_JOB_REFUNDED = 5,
};

/* A validator's dispute on a job: AssayEscrow's dispute(job, validator). */
enum chain_dispute_state {
	CHAIN_DISPUTE_NONE = 0,
	CHAIN_DISPUTE_OPEN = 1,
	CHAIN_DISPUTE_PROVIDER_WRONG = 2,
	CHAIN_DISPUTE_VALIDATOR_WRONG = 3,
	CHAIN_DISPUTE_MOOT = 4,      /* another dispute of the job was upheld, or expired */
	CHAIN_DISPUTE_EXPIRED = 5,   /* undecided past its deadline: the job was refunded */
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
	/* The statement calls (see below). */
	enum chain_err (*open_job)(struct chain *c, uint8_t job_out[RCPT_HASH_BYTES],
				   const struct rcpt_job *spec,
				   const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s);
	enum chain_err (*submit_receipt)(struct chain *c, uint8_t receipt_out[RCPT_HASH_BYTES],
					 const struct rcpt_receipt *r,
					 const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s);
	enum chain_err (*settle)(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				 uint64_t now_s);
	enum chain_err (*attest)(struct chain *c, const struct rcpt_attestation *a,
				 const uint8_t sig[RCPT_SIG_BYTES],
				 const struct rcpt_receipt *r, uint64_t now_s);
	enum chain_err (*decide)(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				 const uint8_t validator[RCPT_ADDR_BYTES], int provider_wrong,
				 uint64_t now_s);
	enum chain_err (*expire_dispute)(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
					 const uint8_t validator[RCPT_ADDR_BYTES], uint64_t now_s);
	enum chain_err (*job_state)(struct chain *c, enum chain_job_state *out,
				    const uint8_t job[RCPT_HASH_BYTES]);
	enum chain_err (*dispute_state)(struct chain *c, enum chain_dispute_state *out,
					uint64_t *deadline_s, const uint8_t job[RCPT_HASH_BYTES],
					const uint8_t validator[RCPT_ADDR_BYTES]);
	enum chain_err (*rules)(struct chain *c, struct chain_rules *out);
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
 * CHAIN_OK also when nothing was due.  When something is due, refused
 * while `who` provides a statement job not yet settled
 * (CHAIN_ERR_STAKE_BACKS_JOBS), then while a dispute `who` filed is open
 * (CHAIN_ERR_STAKE_BACKS_DISPUTES): AssayEscrow's releaseUnbonded.  Jobs
 * opened with chain_lock do not hold the stake here (the escrow service
 * keeps that rule for its own jobs).  EVM: releaseUnbonded(who) relayed,
 * anyone may send it; `op` must be NULL (CHAIN_ERR_UNSUPPORTED: the
 * contract keeps no operation ids). */
CHAIN_WUR static inline enum chain_err
chain_release_unbonded(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
		       uint64_t now_s, const uint8_t *op)
{
	return c->vt->release_unbonded(c, who, now_s, op);
}

/* Every job-keyed call is idempotent in effect: a retry after a crash
 * finds CHAIN_ERR_EXISTS (lock) or CHAIN_ERR_SETTLED (release, refund,
 * slash) and moves nothing, so callers record their intent first, call,
 * and treat those codes on a retry as "already done".
 *
 * lock, release, refund and slash are the ledger's: a job opened by
 * chain_open_job is the rules' alone, and release, refund or a slash
 * naming it answer CHAIN_ERR_STATE (after CHAIN_ERR_NOT_FOUND). */

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

/*
 * The statement calls.  The backend keeps AssayEscrow's rules
 * (docs/contract.md): every refusal below is one of the contract's, in
 * the contract's order, and changes nothing.  Common to all of them:
 *   CHAIN_ERR_ARG first: a NULL pointer, now_s above 2^62 (PostgreSQL),
 *     or a statement receipts.h refuses to hash (rcpt_*_hash_struct:
 *     a malformed kernel, params or device string, an integer above
 *     2^53 - 1, a verdict other than 1 or 2): never signed by a
 *     conforming wallet, it reaches neither backend's rules;
 *   CHAIN_ERR_UNSUPPORTED: the PostgreSQL backend opened without the
 *     statement parameters (chain_params);
 *   after the rules' refusals, on failure to reach the backend:
 *     CHAIN_ERR_UNAVAILABLE (on the EVM also a transaction sent and not
 *     seen mined in time: it may still be), CHAIN_ERR_CONFLICT,
 *     CHAIN_ERR_NOMEM, CHAIN_ERR_BACKEND (a refusal this interface does
 *     not know, a node answering nonsense).
 * Signatures are PROTOCOL.md section 2's, under chain_domain's domain:
 * 65 bytes, v in {0, 1, 27, 28}, s at most n/2; CHAIN_ERR_SIGNATURE when
 * one is unusable or recovers to another address than the one the
 * statement names.  Anyone may hand a statement over (on the EVM the
 * backend's key relays it and pays the gas).
 *
 * A caller that lost an answer (CHAIN_ERR_UNAVAILABLE) reads
 * chain_job_state / chain_dispute_state: a retry of a call that took
 * effect is refused (EXISTS, STATE, DISPUTE_NOT_OPEN) and changes nothing.
 */

/* Opens the job the customer signed: locks spec->max_price from the
 * customer's available balance; *job_out receives the job id (the
 * EIP-712 digest of the JobSpec).  Refusals in this order:
 * CHAIN_ERR_SIGNATURE (not spec->customer's signature), CHAIN_ERR_ARG
 * (provider is the zero address), CHAIN_ERR_SAME_PARTY (customer =
 * provider), CHAIN_ERR_EXISTS (the job id was seen before, by this call
 * or by chain_lock), CHAIN_ERR_DEADLINE (not now < deadline <= now +
 * CHAIN_DEADLINE_MAX_S), CHAIN_ERR_ARG (maxPrice 0), CHAIN_ERR_OVERFLOW
 * (maxPrice >= 2^128), CHAIN_ERR_INSUFFICIENT (customer's available),
 * CHAIN_ERR_STAKE_LOW (provider's bonded stake below min_stake),
 * CHAIN_ERR_STAKE_FOR_PRICE (maxPrice + the maxPrice of the provider's
 * unsettled jobs is not below bonded * sample_bps * slash_bps / 10^8,
 * rounded down). */
CHAIN_WUR static inline enum chain_err
chain_open_job(struct chain *c, uint8_t job_out[RCPT_HASH_BYTES], const struct rcpt_job *spec,
	       const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s)
{
	return c->vt->open_job(c, job_out, spec, sig, now_s);
}

/* Posts the provider's signed receipt of job r->job; the challenge
 * window starts (it ends at now + challenge_window_s); *receipt_out
 * receives the receipt id.  Refusals in this order: CHAIN_ERR_STATE (the
 * job is not open: unknown, receipted already, settled),
 * CHAIN_ERR_DEADLINE (now > deadline), CHAIN_ERR_MISMATCH (kernelHash,
 * inputRoot or inputSize differ from the job's; then r->provider is not
 * the job's provider), CHAIN_ERR_PRICE (price > maxPrice),
 * CHAIN_ERR_TIMES (not startedAt <= finishedAt <= now * 1000 +
 * CHAIN_CLOCK_SKEW_MS, or startedAt + CHAIN_CLOCK_SKEW_MS < the opening
 * time * 1000), CHAIN_ERR_SIGNATURE (not r->provider's). */
CHAIN_WUR static inline enum chain_err
chain_submit_receipt(struct chain *c, uint8_t receipt_out[RCPT_HASH_BYTES],
		     const struct rcpt_receipt *r, const uint8_t sig[RCPT_SIG_BYTES],
		     uint64_t now_s)
{
	return c->vt->submit_receipt(c, receipt_out, r, sig, now_s);
}

/* Settles a job: receipted, its window over (now >= window end) and no
 * dispute open: price -> provider.available, maxPrice - price ->
 * customer.available (CHAIN_JOB_PAID); open and past its deadline (now
 * > deadline): maxPrice back (CHAIN_JOB_REFUNDED).  Anything else,
 * unknown jobs and jobs opened with chain_lock included: CHAIN_ERR_STATE. */
CHAIN_WUR static inline enum chain_err
chain_settle(struct chain *c, const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s)
{
	return c->vt->settle(c, job, now_s);
}

/* A validator's signed attestation `a` of receipt `r` (the full Receipt:
 * its id must be the job's).  Verdict 1 (output matches) must name
 * r->output_root and changes nothing; verdict 2 (differs) must name
 * another root and opens a->validator's dispute on the job, whose
 * referee deadline is now + referee_deadline_s (job -> disputed).
 * Refusals in this order: CHAIN_ERR_STATE (job r->job not receipted nor
 * disputed), CHAIN_ERR_WINDOW (now >= window end), CHAIN_ERR_MISMATCH
 * (r is not the job's receipt, or a->receipt does not name it),
 * CHAIN_ERR_SIGNATURE (not a->validator's), CHAIN_ERR_SAME_PARTY (the
 * validator is the provider), CHAIN_ERR_STAKE_LOW (validator's bonded
 * stake below min_stake), CHAIN_ERR_VERDICT (verdict and outputRoot
 * disagree), CHAIN_ERR_EXISTS (this validator disputed this job before),
 * CHAIN_ERR_DISPUTES_MAX (the job had CHAIN_DISPUTES_PER_JOB_MAX). */
CHAIN_WUR static inline enum chain_err
chain_attest(struct chain *c, const struct rcpt_attestation *a,
	     const uint8_t sig[RCPT_SIG_BYTES], const struct rcpt_receipt *r, uint64_t now_s)
{
	return c->vt->attest(c, a, sig, r, now_s);
}

/* The referee's verdict on `validator`'s open dispute of `job`.
 * provider_wrong != 0: the provider is slashed slash_bps of its bond
 * (bonded first, then unbonding; rounded down), bounty_bps of that
 * (rounded down) -> validator.available, the rest -> treasury; the
 * customer gets maxPrice back (CHAIN_JOB_REFUNDED); the job's other open
 * disputes close as moot.  provider_wrong == 0: the validator is slashed
 * slash_bps of its bond, all to the treasury; the job is receipted again
 * once no dispute is open (and settles after its window).
 * PostgreSQL: whoever holds the handle is the referee.  EVM: the
 * backend's key must be the contract's referee.
 * Refusals in this order: CHAIN_ERR_NOT_REFEREE (EVM only),
 * CHAIN_ERR_DISPUTE_NOT_OPEN, CHAIN_ERR_DISPUTE_EXPIRED (now past the
 * dispute's deadline: only chain_expire_dispute ends it now). */
CHAIN_WUR static inline enum chain_err
chain_decide(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
	     const uint8_t validator[RCPT_ADDR_BYTES], int provider_wrong, uint64_t now_s)
{
	return c->vt->decide(c, job, validator, provider_wrong, now_s);
}

/* Ends a dispute the referee left undecided past its deadline (anyone
 * may): nobody is slashed, the dispute is CHAIN_DISPUTE_EXPIRED, the
 * job's other open disputes moot, and the customer gets maxPrice back.
 * Refusals in this order: CHAIN_ERR_DISPUTE_NOT_OPEN,
 * CHAIN_ERR_DISPUTE_NOT_EXPIRED (now <= the dispute's deadline). */
CHAIN_WUR static inline enum chain_err
chain_expire_dispute(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
		     const uint8_t validator[RCPT_ADDR_BYTES], uint64_t now_s)
{
	return c->vt->expire_dispute(c, job, validator, now_s);
}

/* The state of `job` (CHAIN_JOB_UNKNOWN for an id never seen).  On
 * PostgreSQL a job opened with chain_lock reports its ledger state: OPEN
 * while locked, PAID once released, REFUNDED once refunded.  Works on a
 * PostgreSQL backend without the statement parameters too. */
CHAIN_WUR static inline enum chain_err
chain_job_state(struct chain *c, enum chain_job_state *out, const uint8_t job[RCPT_HASH_BYTES])
{
	return c->vt->job_state(c, out, job);
}

/* The state of `validator`'s dispute on `job` and, when deadline_s is not
 * NULL, its referee deadline (0 when there is none). */
CHAIN_WUR static inline enum chain_err
chain_dispute_state(struct chain *c, enum chain_dispute_state *out, uint64_t *deadline_s,
		    const uint8_t job[RCPT_HASH_BYTES], const uint8_t validator[RCPT_ADDR_BYTES])
{
	return c->vt->dispute_state(c, out, deadline_s, job, validator);
}

/* The rules as this backend enforces them (EVM: the contract's views).
 * CHAIN_ERR_UNSUPPORTED on PostgreSQL without the statement parameters. */
CHAIN_WUR static inline enum chain_err
chain_rules(struct chain *c, struct chain_rules *out)
{
	return c->vt->rules(c, out);
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

/*
 * The EVM backend (chain-adapter/evm_chain.c): AssayEscrow at `escrow`
 * on the node at `rpc_url` (evm_rpc_open's rules for the URL).  The
 * domain is the node's chain id and the escrow's address; balance()
 * reads the contract's views (available, bonded, unbonding); the
 * statement calls, settle, decide, expire_dispute and release_unbonded
 * are transactions sent from `relayer` (its key is copied; the caller
 * wipes its own) through evm_send, each waited for until `confirmations`
 * blocks (0: 1) and refused before anything is sent when its gas
 * estimate reverts; a revert answers the chain_err of its custom error.
 * The other ledger calls answer CHAIN_ERR_UNSUPPORTED: faucet, withdraw,
 * stake and unstake act on the sender's own account in the contract (a
 * relayer cannot move someone else's tokens), lock, release, refund and
 * slash are the contract's alone, and events and check_invariants are
 * the log follower's and the contract's (forge invariant tests).
 * Call evm_rpc_global_init (or curl_global_init) once first.
 * Errors: CHAIN_ERR_ARG, CHAIN_ERR_NOMEM, CHAIN_ERR_UNAVAILABLE (no
 * answer from the node), CHAIN_ERR_BACKEND (no contract at `escrow`, or
 * not one that answers token(); diag says why).
 */
CHAIN_WUR enum chain_err chain_evm_open(struct chain **out, struct rcpt_diag *diag,
					const char *rpc_url,
					const uint8_t escrow[RCPT_ADDR_BYTES],
					const struct rcpt_key *relayer, unsigned confirmations);

#endif
