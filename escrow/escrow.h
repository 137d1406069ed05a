/*
 * escrow.h: private header of assay-escrow (every file in escrow/).
 *
 * Threads: the handler threads (httpd's, --http-workers of them), the
 * serving thread and the settlement thread (settle.c) each own one
 * database connection and one chain handle; they meet only in
 * PostgreSQL, where conditional UPDATEs on a job's state serialize them
 * (a job leaves a state once, state.c).
 *
 * Files: main.c (flags, start), api.c (routes; handlers in api_*.c), settle.c
 * (the loop and the referee), db.c (every SQL statement), state.c (the
 * job state machine: which operation is allowed from which state;
 * dispute_state.c and registry_state.c likewise for disputes and the
 * approved registry of providers),
 * money.c (uint256 arithmetic for basis points), problems.c (every
 * problem type the handlers answer, one slug one status one title).
 */
#ifndef ASSAY_ESCROW_H
#define ASSAY_ESCROW_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "chain.h"
#include "httpd.h"
#include "pgdb.h"
#include "receipts.h"
#include "escrow_limits.h"
#include "state.h"
#include "dispute_state.h"
#include "registry_state.h"

struct escrow_config {
	const char *listen_host;
	uint16_t listen_port;
	const char *conninfo;
	const char *key_path;
	uint64_t chain_id;
	int devnet;
	struct rcpt_u256 min_stake;
	uint32_t slash_bps;
	uint32_t bounty_bps;
	uint32_t sample_bps;
	uint64_t challenge_window_s;
	uint64_t unbonding_s;
	uint64_t referee_deadline_s;
	/* The referee's runs (referee.h): sandbox limits, kernel threads,
	 * --sandbox strict, and a devnet-only delay before each run (tests). */
	uint64_t referee_cpu_s, referee_mem_mb, referee_wall_ms, referee_threads;
	uint64_t referee_delay_ms;
	int sandbox_strict;
	const char *tls_cert;
	const char *tls_key;
	int tls_allow_12;               /* --tls-allow-1.2 */
	const char *ca_file;            /* --ca-file: outgoing HTTPS trusts it */
	uint64_t rate_per_s;
	uint64_t rate_burst;
	int quiet;
	/* Sign-in (docs/api-auth.md): the EIP-4361 domain and URI a message
	 * must name (NULL: sign-in off), the session lifetime, the one
	 * address granted the operator role (NULL: none), and the anonymous
	 * sign-in rate per IP. */
	const char *siwe_domain;
	const char *siwe_uri;
	uint64_t session_ttl_s;
	const char *operator_addr;
	uint64_t signin_rate_per_s;
	uint64_t signin_rate_burst;
	/* Handler threads, each with its own database session (0: requests
	 * are handled one at a time on the serving thread). */
	unsigned http_workers;
	/* --registry approved: a job opens only for a provider the operator
	 * (operator_addr, required then) has approved (docs/escrow.md,
	 * "Approved registry"); 0: open, any staked provider. */
	int registry_approved;
	/* --hold-after-frauds: proven frauds that hold a provider from new
	 * jobs until an operator approves it again (watch.h); 0: never. */
	uint64_t hold_after_frauds;
	/* --invariant-interval-s: seconds between two checks of the
	 * ledger's invariants (escrow_db_invariants, on /metrics). */
	uint64_t invariant_interval_s;
};

/* ---------------------------------------------------------------- db.c */

enum escrow_db_err {
	ESCROW_DB_OK = 0,
	ESCROW_DB_DOWN,        /* cannot reach PostgreSQL */
	ESCROW_DB_FAIL,        /* a statement failed (logged) */
	ESCROW_DB_NOT_FOUND,
	ESCROW_DB_CONFLICT,    /* unique violation or the row was not in the expected state */
	ESCROW_DB_BUSY,        /* lock or statement timeout, deadlock, serialisation
				* failure, disk full: nothing done, retry later */
};

struct escrow_db {
	struct pgdb pg;        /* the session (pgdb/pgdb.h) */
	const char *conninfo;
	const char *who;       /* "http", "http-worker" or "settle", for logs */
	int settler;           /* "settle": this session holds the settler lock */
	/* A request's idempotency lock is a session-level advisory lock: it
	 * goes with its session.  idem_held while a request holds one;
	 * idem_lost once the session under it was replaced (a reset after
	 * the server or the connection went away).  A request that lost its
	 * lock runs no further step (escrow_db_txn, escrow_db_begin and
	 * escrow_db_idem_intact answer ESCROW_DB_DOWN): another request under
	 * the same key may hold the key by now. */
	int idem_held, idem_lost;
	char app[PGDB_NAME_BYTES];          /* "assay-escrow-http" */
	char log_prefix[PGDB_NAME_BYTES];   /* "assay-escrow: http" */
};

/* A job as stored. */
struct escrow_job {
	uint8_t id[RCPT_HASH_BYTES];
	struct rcpt_job job;
	uint8_t job_sig[RCPT_SIG_BYTES];
	enum escrow_job_state state;
	char open_idem[HTTPD_IDEM_KEY_BYTES_MAX + 1];
	uint64_t opened_at_s;
	int has_receipt;
	uint8_t receipt_id[RCPT_HASH_BYTES];
	struct rcpt_receipt receipt;
	uint8_t receipt_sig[RCPT_SIG_BYTES];
	uint64_t receipted_at_s;
	uint64_t window_end_s;
	uint64_t settled_at_s;
};

struct escrow_dispute {
	uint8_t job[RCPT_HASH_BYTES];
	uint8_t validator[RCPT_ADDR_BYTES];
	enum escrow_dispute_kind kind;
	enum escrow_dispute_state state;
	uint64_t opened_at_s;
	uint8_t *input;        /* malloc'd or NULL */
	size_t input_len;
	int has_input;
	struct rcpt_u256 slash_amount, bounty;
	int executed;
};

enum escrow_db_err escrow_db_open(struct escrow_db *db, const char *conninfo,
				  const char *who);
void escrow_db_close(struct escrow_db *db);
/* Reconnects when the connection is down; ESCROW_DB_DOWN if it stays so. */
enum escrow_db_err escrow_db_ensure(struct escrow_db *db);
/* Applies escrow/migrations under an advisory lock. */
enum escrow_db_err escrow_db_migrate(struct escrow_db *db);
enum escrow_db_err escrow_db_ping(struct escrow_db *db);
/* The settlement session: *settler = 1 when it holds (or now took) the
 * lock that makes this escrow the one that settles the database. */
enum escrow_db_err escrow_db_settler_try(struct escrow_db *db, int *settler);
/* How many assay-escrow processes serve this database (their start-up
 * sessions in pg_stat_activity). */
enum escrow_db_err escrow_db_instances(struct escrow_db *db, int64_t *n);

/* One transaction: body's ESCROW_DB_OK commits, anything else rolls
 * back and is returned; a deadlock or serialisation failure runs the body
 * again (pgdb_txn), so a body does nothing outside the database.  BEGIN's
 * or COMMIT's own failure is returned as its class (ESCROW_DB_DOWN after
 * a lost COMMIT: the outcome is unknown). */
typedef enum escrow_db_err (*escrow_db_body)(struct escrow_db *db, void *arg);
enum escrow_db_err escrow_db_txn(struct escrow_db *db, escrow_db_body body, void *arg);
/* In one transaction: job id's step `op` from `from`, the job's stored
 * inputs dropped when the step ends it, and one
 * audit entry (event, data) on subject sub.  Steals data.  CONFLICT: the
 * job was not in `from`. */
enum escrow_db_err escrow_db_step_audit(struct escrow_db *db, const uint8_t *id,
					enum escrow_job_op op, enum escrow_job_state from,
					const char *sub, const char *event, json_t *data,
					uint64_t now);
/* In one transaction: pre(db, arg), then one audit entry (event, data)
 * on subject sub when pre returns ESCROW_DB_OK.  Steals data. */
enum escrow_db_err escrow_db_write_audit(struct escrow_db *db, escrow_db_body pre, void *arg,
					 const char *sub, const char *event, json_t *data,
					 uint64_t now);
/* By hand, for a transaction that spans calls (no retry). */
enum escrow_db_err escrow_db_begin(struct escrow_db *db);
enum escrow_db_err escrow_db_commit(struct escrow_db *db);
void escrow_db_rollback(struct escrow_db *db);

/* Appends an audit entry inside the caller's transaction; steals data. */
enum escrow_db_err escrow_db_audit(struct escrow_db *db, const char *subject,
				   const char *event, json_t *data, uint64_t now_s);
/* Audit entries of a subject, oldest first, as a JSON array. */
/* How many entries of `subject` record `event`. */
enum escrow_db_err escrow_db_audit_count(struct escrow_db *db, const char *subject,
					 const char *event, int64_t *n);
/* *yes = 1 when subject's chain has an entry whose data.op is op_hex. */
enum escrow_db_err escrow_db_audit_has_op(struct escrow_db *db, const char *subject,
					  const char *op_hex, int *yes);
enum escrow_db_err escrow_db_audit_list(struct escrow_db *db, json_t **out,
					const char *subject);

/* Idempotency.  A request holds its key's lock (a session-level advisory
 * lock) from before it reads the key's record until after it stores the
 * answer: a second request with the same key, on another handler thread
 * or another escrow, waits for the first and then replays its answer
 * (or, after lock_timeout, gets ESCROW_DB_BUSY).  A record without an
 * answer whose lock is free was cut off (a crash): it runs again. */
/* A key's record as escrow_db_idem_begin found or made it. */
struct escrow_idem_record {
	int fresh;                              /* recorded by this call */
	uint8_t fingerprint[RCPT_HASH_BYTES];   /* of the request that made it */
	int status;                             /* 0: no answer (in flight or cut off) */
	char *ctype, *body;                     /* the answer when status != 0 */
	size_t body_len;
};
/* Takes the key's lock, then reads its record, or records `fingerprint`
 * (fresh) when there is none, in one statement.  On ESCROW_DB_OK the
 * lock is held (release it with escrow_db_idem_unlock) and *out is
 * filled (free it with escrow_idem_record_free); on failure no lock is
 * held and *out holds nothing. */
enum escrow_db_err escrow_db_idem_begin(struct escrow_db *db, struct escrow_idem_record *out,
					const char *key,
					const uint8_t fingerprint[RCPT_HASH_BYTES], uint64_t now_s);
void escrow_idem_record_free(struct escrow_idem_record *r);
void escrow_db_idem_unlock(struct escrow_db *db, const char *key);
/* ESCROW_DB_OK while the session is usable and, when this request holds
 * an idempotency lock, still the one that took it; ESCROW_DB_DOWN
 * otherwise.  Called before a ledger movement made outside the escrow's
 * own transactions. */
enum escrow_db_err escrow_db_idem_intact(struct escrow_db *db);
enum escrow_db_err escrow_db_idem_store(struct escrow_db *db, const char *key,
					int status, const char *ctype,
					const char *body, size_t len);
enum escrow_db_err escrow_db_idem_delete(struct escrow_db *db, const char *key);
/* The end of a request holding its key: the answer stored (a 5xx: the
 * record deleted, so that a retry runs again), then the lock released
 * after that committed, in one round trip where the session allows. */
enum escrow_db_err escrow_db_idem_finish(struct escrow_db *db, const char *key, int status,
					 const char *ctype, const char *body, size_t len);
/* Deletes up to max records created before before_s; *n: how many. */
enum escrow_db_err escrow_db_idem_purge(struct escrow_db *db, uint64_t before_s, size_t max,
				       int64_t *n);

/* Jobs. */
enum escrow_db_err escrow_db_job_insert(struct escrow_db *db, const uint8_t id[RCPT_HASH_BYTES],
					const struct rcpt_job *job, const char *job_json,
					const uint8_t sig[RCPT_SIG_BYTES],
					const char *idem, uint64_t now_s);
enum escrow_db_err escrow_db_job_get(struct escrow_db *db, struct escrow_job *out,
				     const uint8_t id[RCPT_HASH_BYTES]);
enum escrow_db_err escrow_db_job_delete_opening(struct escrow_db *db,
						const uint8_t id[RCPT_HASH_BYTES]);
/* Takes the step `op` from `from` (state.c's table says where to; it must
 * allow the step and the step must change the state): UPDATE ... WHERE
 * state = `from`.  ESCROW_DB_CONFLICT when the job was not in `from`. */
enum escrow_db_err escrow_db_job_step(struct escrow_db *db,
				      const uint8_t id[RCPT_HASH_BYTES],
				      enum escrow_job_op op, enum escrow_job_state from,
				      uint64_t now_s);
/* The receipt (as escrow_db_job_receipt) and its "receipted" audit entry
 * with `data` (borrowed) on sub's chain, in one statement, retried on a
 * serialisation failure; ESCROW_DB_CONFLICT when the job was not open or
 * its deadline passed. */
enum escrow_db_err escrow_db_receipt_audit(struct escrow_db *db,
					   const uint8_t id[RCPT_HASH_BYTES],
					   const uint8_t receipt_id[RCPT_HASH_BYTES],
					   const struct rcpt_receipt *r, const char *receipt_json,
					   const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s,
					   uint64_t window_end_s, const char *sub, json_t *data);
enum escrow_db_err escrow_db_job_receipt(struct escrow_db *db,
					 const uint8_t id[RCPT_HASH_BYTES],
					 const uint8_t receipt_id[RCPT_HASH_BYTES],
					 const struct rcpt_receipt *r, const char *receipt_json,
					 const uint8_t sig[RCPT_SIG_BYTES],
					 uint64_t now_s, uint64_t window_end_s);
/* Locks the job row for an attestation: state receipted or disputed and
 * the window still open.  ESCROW_DB_CONFLICT otherwise. */
/* The heartbeat (migration 004): *gap_s receives how long the escrow did
 * not see the database before now, when more than ESCROW_OUTAGE_GAP_S,
 * after moving on by it the window of every job whose window was open
 * when the gap began (*moved of them); else 0.  Then records now. */
enum escrow_db_err escrow_db_outage_mend(struct escrow_db *db, uint64_t now_s,
					 uint64_t *gap_s, int64_t *moved);
/* *stale = 1 when the heartbeat is older than ESCROW_OUTAGE_GAP_S: an
 * outage is not mended yet, and no window may be judged closed. */
enum escrow_db_err escrow_db_outage_pending(struct escrow_db *db, uint64_t now_s, int *stale);
enum escrow_db_err escrow_db_job_lock_attestable(struct escrow_db *db,
						 const uint8_t id[RCPT_HASH_BYTES],
						 uint64_t now_s);
/* Locks the job row, whatever its state, until the transaction ends: a
 * decision that depends on the job's disputes takes it first, so that an
 * attestation (which locks the row too) cannot slip in between.
 * ESCROW_DB_NOT_FOUND when there is no such job. */
enum escrow_db_err escrow_db_job_lock(struct escrow_db *db, const uint8_t id[RCPT_HASH_BYTES]);
/* Job ids in `state` (and, with `due_s` non-zero, due at due_s: deadline
 * passed for open, window closed for receipted, stale for opening). */
enum escrow_db_err escrow_db_jobs_in_state(struct escrow_db *db,
					   uint8_t ids[][RCPT_HASH_BYTES], size_t *n,
					   size_t max, enum escrow_job_state state,
					   uint64_t due_s);
/* Up to max job ids in `state` (GET /v1/jobs), ordered by the time the
 * job reached its receipt (receipted_at_s; opened_at_s for jobs without
 * one) and then id, strictly after the cursor (after_s, after_id);
 * after_id NULL: strictly after after_s. */
enum escrow_db_err escrow_db_jobs_page(struct escrow_db *db,
				       uint8_t ids[][RCPT_HASH_BYTES], size_t *n,
				       size_t max, enum escrow_job_state state, uint64_t after_s,
				       const uint8_t *after_id);
/* Sum of maxPrice over the provider's unsettled jobs but `except` (its
 * exposure). */
enum escrow_db_err escrow_db_provider_exposure(struct escrow_db *db, struct rcpt_u256 *out,
					       const uint8_t provider[RCPT_ADDR_BYTES],
					       const uint8_t except[RCPT_HASH_BYTES]);
/* Disputes this validator opened that could still slash it: undecided,
 * or decided against it and not yet executed. */
enum escrow_db_err escrow_db_validator_disputes_pending(struct escrow_db *db,
						      const uint8_t validator[RCPT_ADDR_BYTES],
						      int64_t *n);
enum escrow_db_err escrow_db_job_count(struct escrow_db *db, enum escrow_job_state state,
				       int64_t *out);

/* The ledger's invariants as the escrow checks them on a schedule
 * (settle.c), one result per rule, always in this order and with these
 * names (the `rule` label of /metrics, docs/operations.md):
 *   conservation  the ledger's accounts sum to zero (world holds minus
 *                 the money in the system: nothing created or lost);
 *   nonnegative   no account but world negative, world not positive;
 *   locks         the lock accounts hold exactly the open jobs'
 *                 maxPrice, and a settled job's lock is empty;
 *   transfers     every balance equals the sum of its transfers;
 *   escrow-jobs   every escrow job agrees with its ledger job: same
 *                 parties and maxPrice, a state the escrow's state
 *                 allows (paid: released at the escrow's price).
 * All of it in one read-only REPEATABLE READ transaction (one snapshot:
 * concurrent settlements cannot make a sound ledger look broken).
 * On ESCROW_DB_OK out[0..ESCROW_INVARIANT_RULES-1] are filled; on a
 * failure nothing is known (out[i].ok all 0, rule names still set). */
struct escrow_invariant {
	const char *rule;     /* static: "conservation", ... */
	int ok;
	char detail[ESCROW_INVARIANT_DETAIL_BYTES];   /* when !ok: what differs */
};
enum escrow_db_err escrow_db_invariants(struct escrow_db *db,
					struct escrow_invariant out[ESCROW_INVARIANT_RULES]);

/* Attestations and disputes. */
enum escrow_db_err escrow_db_attestation_insert(struct escrow_db *db,
						const struct rcpt_attestation *a,
						const uint8_t job[RCPT_HASH_BYTES],
						const char *att_json,
						const uint8_t sig[RCPT_SIG_BYTES],
						uint64_t now_s);
/* The stored signature of (job, validator)'s attestation. */
enum escrow_db_err escrow_db_attestation_sig(struct escrow_db *db,
					     uint8_t sig[RCPT_SIG_BYTES],
					     const uint8_t job[RCPT_HASH_BYTES],
					     const uint8_t validator[RCPT_ADDR_BYTES]);
/* A fraud claim's dispute (kind "fraud"), with its input and its
 * verified evidence as JSON text (both may be NULL). */
enum escrow_db_err escrow_db_dispute_insert(struct escrow_db *db,
					    const uint8_t job[RCPT_HASH_BYTES],
					    const uint8_t validator[RCPT_ADDR_BYTES],
					    const uint8_t *input, size_t input_len,
					    const char *evidence, uint64_t now_s);
/* A withholding report (kind "withheld"); ESCROW_DB_CONFLICT when the
 * validator already reported this job. */
enum escrow_db_err escrow_db_dispute_insert_withheld(struct escrow_db *db,
						     const uint8_t job[RCPT_HASH_BYTES],
						     const uint8_t validator[RCPT_ADDR_BYTES],
						     uint64_t now_s);
/* Up to max distinct jobs with an open dispute that lacks the input,
 * opened at or after since_s (still inside the referee's deadline). */
enum escrow_db_err escrow_db_jobs_awaiting_input(struct escrow_db *db,
						 uint8_t ids[][RCPT_HASH_BYTES], size_t *n,
						 size_t max, uint64_t since_s);
/* Gives the input to every open dispute of the job that lacks it;
 * *updated receives how many. */
enum escrow_db_err escrow_db_dispute_set_input(struct escrow_db *db,
					       const uint8_t job[RCPT_HASH_BYTES],
					       const uint8_t *input, size_t len,
					       int *updated);
/* Customer data is not kept past settlement: forgets the input bytes of
 * the job's decided disputes (called with the job's final transition). */
enum escrow_db_err escrow_db_dispute_drop_inputs(struct escrow_db *db,
						 const uint8_t job[RCPT_HASH_BYTES]);
/* Gives the job's open disputes that lack the input the one another of
 * its disputes holds (every stored input was checked against the job's
 * commitment on arrival, so any one will do); *updated receives how many. */
enum escrow_db_err escrow_db_dispute_share_input(struct escrow_db *db,
						 const uint8_t job[RCPT_HASH_BYTES],
						 int *updated);
enum escrow_db_err escrow_db_disputes_for_job(struct escrow_db *db, json_t **out,
					      const uint8_t job[RCPT_HASH_BYTES]);
/* Disputes in `state` with `executed` as given, oldest first. */
enum escrow_db_err escrow_db_disputes_pending(struct escrow_db *db,
					      struct escrow_dispute *out, size_t *n,
					      size_t max, enum escrow_dispute_state state,
					      int executed, int with_input);
/* Where a walk through the open disputes stands (all zero: the start). */
struct escrow_dispute_cursor {
	uint64_t opened_at_s;
	uint8_t job[RCPT_HASH_BYTES];
	uint8_t validator[RCPT_ADDR_BYTES];
	enum escrow_dispute_kind kind;
	int set;
};
/* Open disputes (with their inputs, if any), in (opened_at_s, job, validator,
 * kind) order, strictly after *cur, at most max; *cur moves to the last
 * one, or back to the start when fewer than max remained, so that
 * successive calls walk every open dispute in turn (a few undecidable
 * ones never hide the others). */
enum escrow_db_err escrow_db_disputes_open_page(struct escrow_db *db,
						struct escrow_dispute *out, size_t *n,
						size_t max, struct escrow_dispute_cursor *cur);
void escrow_dispute_release(struct escrow_dispute *d);
/* Disputes are keyed by (job, validator, kind).  decide takes the
 * referee's step (uphold, reject, recover: dispute_state.h) from open;
 * CONFLICT when the dispute is no longer open. */
enum escrow_db_err escrow_db_dispute_decide(struct escrow_db *db,
					    const uint8_t job[RCPT_HASH_BYTES],
					    const uint8_t validator[RCPT_ADDR_BYTES],
					    enum escrow_dispute_kind kind,
					    enum escrow_dispute_op op, const char *reason,
					    const struct rcpt_u256 *slash,
					    const struct rcpt_u256 *bounty,
					    uint64_t now_s);
enum escrow_db_err escrow_db_dispute_set_amounts(struct escrow_db *db,
						 const uint8_t job[RCPT_HASH_BYTES],
						 const uint8_t validator[RCPT_ADDR_BYTES],
						 enum escrow_dispute_kind kind,
						 const struct rcpt_u256 *slash,
						 const struct rcpt_u256 *bounty);
enum escrow_db_err escrow_db_dispute_executed(struct escrow_db *db,
					      const uint8_t job[RCPT_HASH_BYTES],
					      const uint8_t validator[RCPT_ADDR_BYTES],
					      enum escrow_dispute_kind kind);
/* Moots the other open disputes of a job; *n how many. */
enum escrow_db_err escrow_db_disputes_moot(struct escrow_db *db,
					   const uint8_t job[RCPT_HASH_BYTES],
					   uint64_t now_s, int *n);
/* Open or decided-but-unexecuted disputes of a job. */
enum escrow_db_err escrow_db_disputes_unsettled(struct escrow_db *db,
						const uint8_t job[RCPT_HASH_BYTES],
						int64_t *n);

/* Providers (POST /v1/providers): the current base URL of each. */
enum escrow_db_err escrow_db_provider_put(struct escrow_db *db,
					  const uint8_t addr[RCPT_ADDR_BYTES],
					  const char *url, uint64_t now_s);
/* url receives the URL (NUL-terminated); ESCROW_DB_NOT_FOUND when none. */
enum escrow_db_err escrow_db_provider_get(struct escrow_db *db,
					  char url[ESCROW_PROVIDER_URL_BYTES_MAX + 1],
					  uint64_t *registered_at_s,
					  const uint8_t addr[RCPT_ADDR_BYTES]);

/* The approved registry (migration 010, registry_state.h): one row per
 * provider an operator decided about. */
struct escrow_registry_entry {
	uint8_t provider[RCPT_ADDR_BYTES];
	enum escrow_registry_state status;    /* stored: approved, suspended or revoked */
	char organisation[RCPT_ORGANISATION_BYTES_MAX + 1];   /* of the last approval */
	char contact[RCPT_CONTACT_BYTES_MAX + 1];             /* of the last approval */
	uint64_t expires_s;                   /* of the last approval; 0 when none */
	uint64_t nonce;                       /* of the last decision */
	uint64_t updated_at_s;                /* when the last decision was recorded */
	uint8_t operator_addr[RCPT_ADDR_BYTES];               /* its signer */
	char decision[ESCROW_DECISION_JSON_BYTES_MAX + 1];    /* it, canonical JSON */
	uint8_t signature[RCPT_SIG_BYTES];
};
/* In the caller's transaction: the provider's transaction-level
 * advisory lock, so that decisions about one provider are taken one at
 * a time (its first decision's INSERT included). */
enum escrow_db_err escrow_db_registry_lock(struct escrow_db *db,
					   const uint8_t provider[RCPT_ADDR_BYTES]);
/* *out (its provider set) from the provider's row; ESCROW_DB_NOT_FOUND
 * when no decision was ever recorded. */
enum escrow_db_err escrow_db_registry_get(struct escrow_db *db,
					  struct escrow_registry_entry *out,
					  const uint8_t provider[RCPT_ADDR_BYTES]);
/* Inserts or replaces the provider's row with *e (status approved,
 * suspended or revoked).  Migration 010's trigger refuses (ESCROW_DB_FAIL,
 * logged) a change to a revoked row and a nonce that does not rise: the
 * caller checked both under the lock. */
enum escrow_db_err escrow_db_registry_put(struct escrow_db *db,
					  const struct escrow_registry_entry *e);

/* Validator seed commitments.  The latest commitment of a validator: */
struct escrow_seed {
	uint8_t commitment[RCPT_HASH_BYTES];
	uint64_t committed_at_s;
	int revealed;
	uint8_t seed[RCPT_HASH_BYTES];      /* valid when revealed */
	uint64_t revealed_at_s;
};
/* ESCROW_DB_CONFLICT when the validator has an unrevealed commitment. */
enum escrow_db_err escrow_db_seed_commit(struct escrow_db *db,
					 const uint8_t validator[RCPT_ADDR_BYTES],
					 const uint8_t commitment[RCPT_HASH_BYTES],
					 uint64_t now_s);
/* ESCROW_DB_NOT_FOUND when the validator never committed. */
enum escrow_db_err escrow_db_seed_get(struct escrow_db *db, struct escrow_seed *out,
				      const uint8_t validator[RCPT_ADDR_BYTES]);
/* Reveals the open commitment, which must equal `commitment`
 * (= keccak256(seed), checked by the caller); ESCROW_DB_CONFLICT when no
 * such open commitment is there (revealed meanwhile). */
enum escrow_db_err escrow_db_seed_reveal(struct escrow_db *db,
					 const uint8_t validator[RCPT_ADDR_BYTES],
					 const uint8_t commitment[RCPT_HASH_BYTES],
					 const uint8_t seed[RCPT_HASH_BYTES], uint64_t now_s);

/* Sign-in nonces and sessions (the httpd_session_store of api.c). */
/* ESCROW_DB_CONFLICT when `max` nonces are outstanding. */
enum escrow_db_err escrow_db_nonce_put(struct escrow_db *db, const char *nonce,
				       uint64_t now_s, uint64_t expires_s, uint64_t max);
/* Deletes a live nonce: ESCROW_DB_OK once, ESCROW_DB_NOT_FOUND after. */
enum escrow_db_err escrow_db_nonce_take(struct escrow_db *db, const char *nonce,
					uint64_t now_s);
/* Stores SHA-256 of a token (never the token); prunes dead sessions. */
enum escrow_db_err escrow_db_session_put(struct escrow_db *db,
					 const uint8_t hash[RCPT_HASH_BYTES],
					 const uint8_t addr[RCPT_ADDR_BYTES],
					 const char *role, unsigned scopes, uint64_t now_s,
					 uint64_t expires_s);
/* The live session of hash; role receives its name. */
enum escrow_db_err escrow_db_session_get(struct escrow_db *db,
					 uint8_t stored[RCPT_HASH_BYTES],
					 uint8_t addr[RCPT_ADDR_BYTES],
					 char role[16], unsigned *scopes, uint64_t *expires_s,
					 const uint8_t hash[RCPT_HASH_BYTES], uint64_t now_s);
/* Revokes the live session of hash, or (hash NULL) every one of addr;
 * *n receives how many. */
enum escrow_db_err escrow_db_session_revoke(struct escrow_db *db,
					    const uint8_t *hash, const uint8_t *addr,
					    uint64_t now_s, int *n);

/* API keys (escrow/apikey.c).  A row holds an Argon2id hash of the
 * secret, never the secret. */
#define ESCROW_APIKEY_SALT_BYTES 16
#define ESCROW_APIKEY_HASH_BYTES 32
#define ESCROW_APIKEY_LABEL_BYTES_MAX 64
struct escrow_apikey {
	char id[HTTPD_APIKEY_ID_BYTES + 1];           /* "ak_" + 16 hex */
	uint8_t address[RCPT_ADDR_BYTES];             /* the owner */
	char label[ESCROW_APIKEY_LABEL_BYTES_MAX + 1];
	unsigned scopes;                              /* ESC_SCOPE_* bits */
	uint8_t salt[ESCROW_APIKEY_SALT_BYTES];
	uint8_t hash[ESCROW_APIKEY_HASH_BYTES];       /* Argon2id(secret, salt) */
	uint32_t t_cost, m_cost_kib, parallelism;     /* what hash was made with */
	uint64_t created_at_s, expires_s;
	uint64_t last_used_at_s;                      /* 0: never */
	uint64_t revoked_at_s;                        /* 0: not revoked */
};
/* Stores k (created by the request with Idempotency-Key idem) unless
 * its owner holds max_live live keys (*stored 0).  ESCROW_DB_CONFLICT
 * when that owner already made a key under idem (a replay). */
enum escrow_db_err escrow_db_apikey_put(struct escrow_db *db, int *stored,
					const struct escrow_apikey *k, const char *idem,
					unsigned max_live);
/* The key `id` in any state (live, expired or revoked);
 * ESCROW_DB_NOT_FOUND when there is none. */
enum escrow_db_err escrow_db_apikey_get(struct escrow_db *db, struct escrow_apikey *out,
					const char *id);
/* Sets last_used_at_s to now_s unless it was set less than interval_s
 * ago: one write per key per interval at most. */
enum escrow_db_err escrow_db_apikey_touch(struct escrow_db *db, const char *id,
					  uint64_t now_s, uint64_t interval_s);
/* At most cap keys of addr, newest first, into out[0..*n). */
enum escrow_db_err escrow_db_apikey_list(struct escrow_db *db, struct escrow_apikey *out,
					 size_t cap, size_t *n,
					 const uint8_t addr[RCPT_ADDR_BYTES]);
/* Revokes key id of addr (again: keeps the first time); *n is 1 when
 * addr has such a key, 0 otherwise (unknown, or another's). */
enum escrow_db_err escrow_db_apikey_revoke(struct escrow_db *db, int *n, const char *id,
					   const uint8_t addr[RCPT_ADDR_BYTES], uint64_t now_s);

/* Revokes every live key of addr (the operator's revocation); *n
 * receives how many. */
enum escrow_db_err escrow_db_apikeys_revoke_all(struct escrow_db *db, int *n,
					       const uint8_t addr[RCPT_ADDR_BYTES], uint64_t now_s);

/* ---------------------------------------------------------------- money.c */

/* out = v * bps / 10000, rounded down; never overflows. */
void escrow_u256_bps(struct rcpt_u256 *out, const struct rcpt_u256 *v, uint32_t bps);
/* out = a + b; -1 on overflow. */
int escrow_u256_add(struct rcpt_u256 *out, const struct rcpt_u256 *a,
		    const struct rcpt_u256 *b);
int escrow_u256_is_zero(const struct rcpt_u256 *v);
/* "0x.." form of a byte string into out. */
void escrow_hex(char *out, size_t out_len, const uint8_t *b, size_t n);
/* 1 when the len bytes at in are the job's input: their commitment is
 * job.inputRoot / job.inputSize (whoever sent them). */
int escrow_input_matches(const struct rcpt_job *job, const uint8_t *in, size_t len);
/* "job:0x..", "account:0x.." subjects. */
void escrow_subject_job(char out[80], const uint8_t id[RCPT_HASH_BYTES]);
void escrow_subject_account(char out[80], const uint8_t addr[RCPT_ADDR_BYTES]);

/* ---------------------------------------------------------------- main */

struct escrow {
	struct escrow_config cfg;
	struct rcpt_domain domain;
	struct chain_params chain_params;
	uint8_t address[RCPT_ADDR_BYTES];
	/* The escrow's key: signs the referee's requests to providers (the
	 * settlement thread reads it; nothing writes it after start-up).
	 * Wiped at exit. */
	struct rcpt_key key;
	/* The start-up session, which holds the database's escrow lock, and
	 * the ledger handle; they serve requests only when there are no
	 * handler threads (cfg.http_workers 0).  Handler threads have their
	 * own (api.c, escrow_http_db). */
	struct escrow_db db;
	struct chain *chain;
	struct httpd *httpd;
	struct httpd_siwe_config siwe;   /* valid when cfg.siwe_domain is set */
	int has_operator;
	uint8_t operator_addr[RCPT_ADDR_BYTES];
	/* The referee's thread and queue (referee.c). */
	struct escrow_referee *referee;
	/* Settlement thread. */
	pthread_t settle_thread;
	uint64_t watch_gauges_at_s;      /* the settle thread's alone (watch.c) */
	int settle_started;
	volatile int stopping;
	pthread_mutex_t stop_mu;
	pthread_cond_t stop_cv;
};

/* Opens a fresh chain handle when *c is NULL or was left unusable. */
enum chain_err escrow_chain_ensure(struct escrow *e, struct chain **c,
				   struct rcpt_diag *diag);

/* api.c, api_util.c, api_idem.c, api_session.c */
extern const struct httpd_route escrow_routes[];
extern const size_t escrow_routes_len;
int escrow_api_ready(void *cls, char *why, size_t why_len);
/* httpd_config.worker_start / worker_stop: each handler thread's own
 * database session and ledger handle. */
void escrow_api_worker_start(void *cls, unsigned index);
void escrow_api_worker_stop(void *cls);
/* The calling handler thread's database session (the escrow's own on the
 * serving thread when there are no handler threads). */
struct escrow_db *escrow_http_db(struct escrow *e);
int escrow_api_idem_begin(struct httpd_req *r, void *cls);
void escrow_api_idem_end(struct httpd_req *r, void *cls);
/* Sign-in: sessions in the escrow's database, and who may hold a role. */
extern const struct httpd_session_store escrow_session_store;
/* httpd_config.apikey_check over escrow_apikeys (api_apikeys.c). */
enum httpd_store_rc escrow_api_apikey_check(void *cls, struct httpd_apikey *out,
					    const char *token, uint64_t now_s);
int escrow_api_role_allowed(void *cls, const uint8_t address[RCPT_ADDR_BYTES],
			    enum httpd_role role);
/* The scope bits of a name a sign-in asks for (api_apikeys.c). */
unsigned escrow_api_scope_of(void *cls, const char *name);

/* settle.c */
int escrow_settle_start(struct escrow *e);
void escrow_settle_stop(struct escrow *e);

#endif
