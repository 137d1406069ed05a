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

/* One migration: `name` is the file's base name without .sql
 * ("001_ledger"), `sql` its exact text.  scripts/embed-sql.sh emits the
 * same definition into the generated file; keep the two identical. */
struct chain_migration {
	const char *name;
	const char *sql;
};

/* build/gen/chain_migrations.c, in file-name order. */
extern const struct chain_migration chain_migrations[];
extern const size_t chain_migrations_count;

/* ------------------------------------------------------------------ */
/* Limits                                                               */

/* Tries of one call when PostgreSQL reports a serialization failure or
 * a deadlock (SQLSTATE 40001, 40P01).  Writers are serialized on the
 * ledger_head row, so these should not happen at all; the bound keeps a
 * surprise from looping forever.  After the last: CHAIN_ERR_CONFLICT. */
#define CHAIN_PG_TRIES_MAX 5

/* statement_timeout of every session, in ms: the slowest statement is
 * the invariant check, milliseconds on a test ledger; a statement that
 * waits this long for the head lock means something holds it (a stuck
 * client), and the call fails with CHAIN_ERR_CONFLICT instead of hanging
 * its caller. */
#define CHAIN_PG_STATEMENT_TIMEOUT_MS 15000

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
