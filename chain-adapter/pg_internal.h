/*
 * pg_internal.h: private to chain-adapter/: the limits of the PostgreSQL
 * backend, the migrations embedded by scripts/embed-sql.sh, and the
 * assertion that stays on in release builds (money code stops rather than
 * go on from a state it does not understand).
 */
#ifndef ASSAY_CHAIN_PG_INTERNAL_H
#define ASSAY_CHAIN_PG_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

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

#define CHAIN_ASSERT(cond)                                                   \
	do {                                                                 \
		if (!(cond))                                                 \
			chain_assert_fail(#cond, __FILE__, __LINE__);        \
	} while (0)
_Noreturn void chain_assert_fail(const char *what, const char *file, int line);

#endif
