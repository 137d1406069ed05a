/*
 * pg_internal.h: private to chain-adapter/: the limits of the PostgreSQL
 * backend, the migrations embedded by scripts/embed-sql.sh, the assertion
 * that stays on in release builds (money code stops rather than go on
 * from a state it does not understand), and what pg.c (the ledger)
 * shares with pg_rules.c (the statement rules).
 */
#ifndef ASSAY_CHAIN_PG_INTERNAL_H
#define ASSAY_CHAIN_PG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "chain.h"
#include "pgdb.h"

/* build/gen/chain_migrations.c, in file-name order (scripts/embed-sql.sh
 * emits struct pgdb_migration). */
extern const struct pgdb_migration chain_migrations[];
extern const size_t chain_migrations_count;

/* ------------------------------------------------------------------ */
/* Limits                                                               */

/* A serialization failure or a deadlock (40001, 40P01) is tried again
 * by pgdb_txn, PGDB_TRIES_MAX times in all.  Writers are serialized on
 * the ledger_head row, so these should not happen at all; the bound
 * keeps a surprise from looping forever.  After the last:
 * CHAIN_ERR_CONFLICT. */

/* statement_timeout of every session, in ms: the slowest statement is
 * the invariant check, milliseconds on a test ledger; a statement that
 * waits this long for the head lock means something holds it (a stuck
 * client), and the call fails with CHAIN_ERR_CONFLICT instead of hanging
 * its caller. */
#define CHAIN_PG_STATEMENT_TIMEOUT_MS 15000

/* lock_timeout of every session, in ms: a writer waits this long for the
 * head row (each holder keeps it for milliseconds) before the call fails
 * with CHAIN_ERR_CONFLICT. */
#define CHAIN_PG_LOCK_TIMEOUT_MS 10000

/* idle_in_transaction_session_timeout, in ms: the server ends a session
 * that sits inside a transaction this long (a stuck process holding the
 * head), so that the others are not held up. */
#define CHAIN_PG_IDLE_IN_TXN_TIMEOUT_MS 30000

/* Events returned by one chain_events call at most, whatever `max` asks:
 * bounds the memory and the time of one call; callers page with
 * after_seq. */
#define CHAIN_PG_EVENTS_MAX 1000

/* Times (now_s, unbonding_s) are stored as bigint: both at most 2^62 so
 * that now_s + unbonding_s stays below 2^63.  2^62 s is 10^11 years. */
#define CHAIN_PG_TIME_S_MAX ((uint64_t)1 << 62)

/* Key of the transaction-scoped advisory lock that serializes schema
 * migrations of one database ("assay" in ASCII). */
#define CHAIN_PG_MIGRATION_LOCK_KEY 0x6173736179LL

/* Room for the last PostgreSQL error message kept in the handle. */
#define CHAIN_PG_WHY_BYTES 256

/* ------------------------------------------------------------------ */
/* The backend's handle, and what pg.c lends pg_rules.c                 */

/* Room for a bigint in decimal, sign and NUL included. */
#define PG_INT_BYTES 24

struct pg_chain {
	struct chain base;                    /* first: the vtable */
	struct pgdb db;                       /* the session */
	struct chain_params params;
	int rules_on;                         /* the statement parameters were given */
	uint8_t escrow[RCPT_ADDR_BYTES];
	char min_stake[RCPT_U256_DEC_BYTES];  /* params.min_stake, decimal */
	char why[CHAIN_PG_WHY_BYTES];         /* last error, for debugging */
};

/* A transaction's body: runs after the head lock; CHAIN_OK commits. */
typedef enum chain_err (*chain_pg_body)(struct pg_chain *p, void *arg);

/* Runs body in one transaction serialized on the ledger head (pg.c's
 * pg_txn): commits on CHAIN_OK, rolls back otherwise. */
enum chain_err chain_pg_txn(struct pg_chain *p, chain_pg_body body, void *arg);
/* Runs one statement of the caller's (static SQL text); *out as
 * pgdb_exec; a failure is mapped as the ledger's own statements are. */
enum chain_err chain_pg_exec(struct pg_chain *p, PGresult **out, const struct pgdb_stmt *s,
			     const struct pgdb_args *a);
/* A usable session (pgdb_ready), for reads outside a transaction. */
enum chain_err chain_pg_ready(struct pg_chain *p);
/* Binds a uint256 as its decimal text. */
void chain_pg_arg_u256(struct pgdb_args *a, const struct rcpt_u256 *v);
/* A decimal read from the ledger that must be a uint256 (else
 * CHAIN_ERR_BACKEND, with p->why). */
enum chain_err chain_pg_parse_u256(struct pg_chain *p, struct rcpt_u256 *out, const char *dec);

/* The ledger's movements, inside a transaction of chain_pg_txn, for the
 * rules (which have made their own checks first):
 * - lock: chain_lock's body (refusals EXISTS, STAKE_LOW, INSUFFICIENT);
 * - settle: chain_release's (price) or chain_refund's (price NULL)
 *   body, which also settles a statement job;
 * - slash: chain_slash's body for a statement job (job not NULL). */
enum chain_err chain_pg_lock_in_txn(struct pg_chain *p, const uint8_t job[RCPT_HASH_BYTES],
				    const uint8_t customer[RCPT_ADDR_BYTES],
				    const uint8_t provider[RCPT_ADDR_BYTES],
				    const struct rcpt_u256 *max_price, uint64_t now_s);
enum chain_err chain_pg_settle_in_txn(struct pg_chain *p, const uint8_t job[RCPT_HASH_BYTES],
				      const struct rcpt_u256 *price, uint64_t now_s);
enum chain_err chain_pg_slash_in_txn(struct pg_chain *p, const uint8_t offender[RCPT_ADDR_BYTES],
				     const struct rcpt_u256 *amount,
				     const uint8_t bounty_to[RCPT_ADDR_BYTES],
				     const struct rcpt_u256 *bounty,
				     const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s);

/* The statement calls (pg_rules.c), for pg.c's vtable. */
enum chain_err chain_pg_open_job(struct chain *c, uint8_t job_out[RCPT_HASH_BYTES],
				 const struct rcpt_job *spec, const uint8_t sig[RCPT_SIG_BYTES],
				 uint64_t now_s);
enum chain_err chain_pg_submit_receipt(struct chain *c, uint8_t receipt_out[RCPT_HASH_BYTES],
				       const struct rcpt_receipt *r,
				       const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s);
enum chain_err chain_pg_settle(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
			       uint64_t now_s);
enum chain_err chain_pg_attest(struct chain *c, const struct rcpt_attestation *a,
			       const uint8_t sig[RCPT_SIG_BYTES], const struct rcpt_receipt *r,
			       uint64_t now_s);
enum chain_err chain_pg_decide(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
			       const uint8_t validator[RCPT_ADDR_BYTES], int provider_wrong,
			       uint64_t now_s);
enum chain_err chain_pg_expire_dispute(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				       const uint8_t validator[RCPT_ADDR_BYTES], uint64_t now_s);
enum chain_err chain_pg_job_state(struct chain *c, enum chain_job_state *out,
				  const uint8_t job[RCPT_HASH_BYTES]);
enum chain_err chain_pg_dispute_state(struct chain *c, enum chain_dispute_state *out,
				      uint64_t *deadline_s, const uint8_t job[RCPT_HASH_BYTES],
				      const uint8_t validator[RCPT_ADDR_BYTES]);
enum chain_err chain_pg_rules(struct chain *c, struct chain_rules *out);
/* Checks the statement parameters of chain_params: 1 when all are zero
 * (rules off) or all valid (*on receives which), 0 (with why) when not. */
int chain_pg_rules_params(int *on, const char **why, const struct chain_params *params);

/* ------------------------------------------------------------------ */

#define CHAIN_ASSERT(cond)                                                   \
	do {                                                                 \
		if (!(cond))                                                 \
			chain_assert_fail(#cond, __FILE__, __LINE__);        \
	} while (0)
_Noreturn void chain_assert_fail(const char *what, const char *file, int line);

#endif
