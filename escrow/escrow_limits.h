/*
 * escrow_limits.h: every bound assay-escrow enforces, with its reason.
 */
#ifndef ASSAY_ESCROW_LIMITS_H
#define ASSAY_ESCROW_LIMITS_H

/* A job or receipt request: one statement (about 2 KiB plus params, at
 * most RCPT_JSON_BYTES_MAX) and a signature. */
#define ESCROW_STATEMENT_BODY_BYTES_MAX (64u * 1024u)

/* A job input the referee re-executes: the larger of what the CPU
 * reference runs in a few seconds and what a dispute needs to carry.
 * Jobs with larger inputs are refused at open (the referee must be able
 * to re-run every job it accepts). */
#define ESCROW_INPUT_BYTES_MAX (8u * 1024u * 1024u)

/* Evidence on a fraud claim: one output chunk (RCPT_CHUNK_BYTES, 64 KiB)
 * as base64 and its audit path. */
#define ESCROW_EVIDENCE_BODY_BYTES_EXTRA (65536u / 3u * 4u + 8u * 1024u)

/* A fraud claim with the input inline, base64 (4/3) plus the statement
 * and the optional evidence. */
#define ESCROW_CLAIM_BODY_BYTES_MAX (ESCROW_INPUT_BYTES_MAX / 3u * 4u + 64u * 1024u + \
				     ESCROW_EVIDENCE_BODY_BYTES_EXTRA)

/* Account requests: an address and an amount. */
#define ESCROW_ACCOUNT_BODY_BYTES_MAX 1024u

/* Jobs one GET /v1/jobs returns. */
#define ESCROW_LIST_MAX 100

/* Audit entries one GET /v1/audit returns (a job has about ten). */
#define ESCROW_AUDIT_ENTRIES_MAX 1000

/* Rows the settlement loop takes per kind per tick: a backlog drains over
 * several ticks instead of one long one. */
#define ESCROW_SETTLE_BATCH 100

/* Idempotency records are kept this long (24 h, as the payment APIs
 * that clients know do), then deleted by the settling escrow, at most
 * ESCROW_IDEM_PURGE_BATCH a tick.  A retry after that runs again, which
 * stays safe: a job step finds its own earlier work and an account
 * operation its operation id in the ledger (docs/escrow.md). */
#define ESCROW_IDEM_RETENTION_S 86400u
#define ESCROW_IDEM_PURGE_BATCH 1000u
/* Ticks run back to back while a step moves a full batch (a backlog after
 * a restart or a burst of jobs), at most this many before the one-second
 * pause; a batch the ledger refuses moves less and waits its second. */
#define ESCROW_SETTLE_BURST_MAX 50

/* Open disputes the settlement loop looks at per tick (each loads its
 * input, up to ESCROW_INPUT_BYTES_MAX, from the database).  The loop
 * never runs a kernel: it hands re-executions to the referee's queue. */
#define ESCROW_REFEREE_BATCH 4

/* The referee (referee.c): re-executions waiting for its thread, at
 * most; a dispute that finds the queue full is offered again at the
 * next tick.  Each queued run holds a copy of its input (8 MiB at
 * most), so this bounds the referee's memory to 128 MiB of inputs. */
#define ESCROW_REFEREE_QUEUE_MAX 16u
/* Runs whose result the referee remembers (queued, running and done
 * together); a full table forgets its oldest finished result, which a
 * later tick would only ask for again. */
#define ESCROW_REFEREE_SLOTS_MAX 64u
/* A run that hit a limit or failed is not a verdict (docs/escrow.md,
 * "Referee"): the dispute stays open and is re-executed again.  A limit
 * hit is deterministic (the same input hits it again), so it waits
 * ESCROW_REFEREE_RETRY_S for the operator to raise the limit.  Any other
 * failure (the sandbox could not start: no memory, no process slot, a
 * namespace refused for a moment) may be transient: it is retried after
 * ESCROW_REFEREE_ERROR_RETRY_MIN_S, doubled after each failure of the
 * same job up to ESCROW_REFEREE_RETRY_S. */
#define ESCROW_REFEREE_RETRY_S 60u
#define ESCROW_REFEREE_ERROR_RETRY_MIN_S 1u
/* The referee's own limits by default.  Any input within the kernels'
 * bounds (ESCROW_INPUT_BYTES_MAX in, KERN_WORK_MAX work, an output up
 * to KERN_TENSOR_BYTES_MAX held twice while it is serialised) fits in
 * these on one core: a run that hits one is a bug to report, not a
 * verdict.  --referee-cpu-s, --referee-mem-mb and --referee-wall-ms set
 * them within the sandbox's ceilings (sandbox/sbx_limits.h). */
#define ESCROW_REFEREE_CPU_S_DEFAULT 600u
#define ESCROW_REFEREE_MEM_MB_DEFAULT 4096u
#define ESCROW_REFEREE_WALL_MS_DEFAULT (900u * 1000u)
/* --referee-delay-ms (devnet only, for tests): at most a minute. */
#define ESCROW_REFEREE_DELAY_MS_MAX 60000u

/* An `opening` row older than this with no request working on it is
 * finished (or dropped) by the loop. */
#define ESCROW_OPENING_STALE_S 5

/* A receipt's startedAt/finishedAt must lie between the job's opening and
 * the receipt's arrival, widened by this much either side for the
 * provider's clock (NTP keeps honest clocks within a second; a minute
 * leaves room for a slow sync and refuses a receipt dated 1970). */
#define ESCROW_RECEIPT_CLOCK_SKEW_S 60u

/* Every escrow database session: a statement runs at most this long and
 * waits at most this long for a row lock (then 503, retry): a lock held
 * from outside must not hold the HTTP thread.  Both stay well inside the
 * 30 s request deadline of httpd_limits.h. */
#define ESCROW_DB_STATEMENT_TIMEOUT_MS 15000u
#define ESCROW_DB_LOCK_TIMEOUT_MS 5000u
/* A session idle inside a transaction this long is ended by the server
 * (its locks released): no escrow transaction waits on anything but the
 * database, so only a stuck process gets there. */
#define ESCROW_DB_IDLE_IN_TXN_TIMEOUT_MS 30000u

/* A gap this long in the settlement loop's heartbeat is an outage (the
 * database or the escrow down): open challenge windows are moved on by
 * it, and claims wait (503) until they are.  Ticks come every second;
 * a tick's referee runs stay well under this. */
#define ESCROW_OUTAGE_GAP_S 10u

/* A deadline further away than this is refused: locks are not forever. */
#define ESCROW_DEADLINE_AHEAD_MAX_S (30u * 24u * 3600u)

/* Basis points: 10000 = 100 %. */
#define ESCROW_BPS_ONE 10000u

/* Faucet: at most this many base units per call (10^30: a devnet never
 * needs more, and sums stay far below 2^256). */
#define ESCROW_FAUCET_MAX_DEC "1000000000000000000000000000000"

/* Parameters: windows and deadlines are bounded so sums cannot overflow. */
#define ESCROW_WINDOW_S_MAX (30u * 24u * 3600u)
#define ESCROW_UNBONDING_S_MAX (365u * 24u * 3600u)

/* A provider's registered base URL (contracts: http:// or https://, no
 * userinfo, query or fragment, no trailing '/'): room for a host name and
 * a path prefix, small enough to keep one row per provider cheap. */
#define ESCROW_PROVIDER_URL_BYTES_MAX 256u

/* A registration, seed commitment or reveal, fail, accept or withholding
 * request: one short field (a URL, a bytes32 or a reason). */
#define ESCROW_REGISTER_BODY_BYTES_MAX 1024u

/* The free-text reason of a provider's failure or a withholding report:
 * printable ASCII, short enough for an audit entry. */
#define ESCROW_REASON_BYTES_MAX 200u

/* Evidence on a fraud claim: one output chunk (RCPT_CHUNK_BYTES) as
 * base64 and an audit path, at most one hash per level of a tree over
 * 2^64 leaves. */
#define ESCROW_EVIDENCE_PROOF_MAX 64u

/* The referee's fetch of a disputed job's input from its provider: at
 * most once per this many seconds per job (a provider that is down is
 * not hammered), each attempt bounded by the timeout, at most this many
 * attempts per settlement tick (each may block the settlement thread for
 * up to the timeout), and a table of last attempts this big (older
 * entries are evicted, which only allows an earlier retry). */
#define ESCROW_FETCH_INTERVAL_S 10u
#define ESCROW_FETCH_TIMEOUT_MS 30000L
#define ESCROW_FETCH_PER_TICK 2u
#define ESCROW_FETCH_TRACK_MAX 256u

/* The approved registry (escrow/api_registry.c, docs/escrow.md
 * "Approved registry").  A decision request: one ProviderDecision (at
 * most RCPT_ORGANISATION_BYTES_MAX + RCPT_CONTACT_BYTES_MAX bytes of
 * text, doubled if every byte were escaped, and a few fixed fields) and
 * its signature. */
#define ESCROW_DECISION_BODY_BYTES_MAX 4096u
/* A decision as stored (canonical JSON; migration 010's CHECK). */
#define ESCROW_DECISION_JSON_BYTES_MAX 2048u
/* A decision's issuedAt may be this far ahead of the escrow's clock (a
 * signer's clock a little fast) and this old at most: a statement signed
 * and then not sent (the operator changed their mind) cannot be played
 * later than that; long enough for a signature made on an offline
 * machine to be carried over. */
#define ESCROW_DECISION_SKEW_S 300u
#define ESCROW_DECISION_AGE_S_MAX 3600u
/* An approval lasts at most two years: a provider the operator forgot
 * about lapses on its own, and a renewal is one signature. */
#define ESCROW_APPROVAL_S_MAX (2u * 365u * 86400u)

/* Stringifies a limit for SQL text. */
#define ESCROW_STR_(x) #x
#define ESCROW_STR(x) ESCROW_STR_(x)
/* --http-workers: handler threads by default, each holding one database
 * session (so at most this many sessions serve requests, plus the
 * start-up and settlement sessions). */
#define ESCROW_HTTP_WORKERS_DEFAULT 4

/* API keys (escrow/api_apikeys.c, docs/api-auth.md "API keys").  Live
 * keys one address may hold: enough for a key per script or service,
 * few enough that a wallet cannot fill the table or make GET
 * /v1/apikeys long. */
#define ESCROW_APIKEYS_PER_ADDRESS_MAX 32u
/* Keys GET /v1/apikeys shows (newest first; revoked and expired keys
 * stay listed until they fall past this). */
#define ESCROW_APIKEYS_LIST_MAX 100u
/* Scopes one key lists at most (there are five). */
#define ESCROW_APIKEY_SCOPES_MAX 8u
/* A key's life: at least a minute (shorter is a session's job), at most
 * a year (a forgotten key dies on its own). */
#define ESCROW_APIKEY_TTL_S_MIN 60u
#define ESCROW_APIKEY_TTL_S_MAX (365u * 86400u)
/* last_used_at_s is written at most once per key per this many seconds,
 * not on every request: a busy key costs one UPDATE a minute. */
#define ESCROW_APIKEY_TOUCH_INTERVAL_S 60u

/* The watch (escrow/watch.c, docs/operations.md "Anomalies").  One seed
 * audit reads at most this many receipts of an epoch (a keccak and a
 * row each: well under a second); an epoch with more is audited on its
 * first ones and marked truncated. */
#define ESCROW_AUDIT_RECEIPTS_MAX 200000u
/* Receipts one page of an epoch (the audit's read, and
 * GET /v1/validators/{address}/epochs/{seq}) holds. */
#define ESCROW_EPOCH_PAGE_MAX 500u
/* Epochs GET /v1/validators/{address} shows, newest first. */
#define ESCROW_EPOCHS_SHOWN 16u
/* A validator is flagged lazy when it skipped more than this share (in
 * percent) of the receipts its own seed selected: a few misses are a
 * restart or an outage, a pattern is not checking. */
#define ESCROW_LAZY_SKIP_PCT 5u
/* Proven frauds (distinct jobs) that hold a provider from new jobs:
 * --hold-after-frauds, 0 turns holds off. */
#define ESCROW_HOLD_AFTER_FRAUDS_DEFAULT 3u
#define ESCROW_HOLD_AFTER_FRAUDS_MAX 1000u
/* The provider rules look back this far (jobs opened, receipts made). */
#define ESCROW_WATCH_LOOKBACK_S (7u * 24u * 3600u)
/* failures: at least this many finished jobs, and at least this share
 * (percent) of them refunded without a receipt (failed or let expire). */
#define ESCROW_FAIL_MIN_JOBS 8u
#define ESCROW_FAIL_PCT 25u
/* fast-runs: receipts of at least this many input and output bytes,
 * at least this many of the provider's for the kernel, at least two
 * providers running it, and the provider's median time per byte below
 * the kernel's median divided by this factor. */
#define ESCROW_FAST_MIN_BYTES (1u << 20)
#define ESCROW_FAST_MIN_JOBS 5u
#define ESCROW_FAST_FACTOR 10u
/* Flags GET /v1/operator/anomalies lists (per rule). */
#define ESCROW_FLAGS_MAX 200u
/* How often the settler recounts the flags for /metrics. */
#define ESCROW_WATCH_GAUGE_S 5u
/* --invariant-interval-s: how often the settlement thread checks the
 * ledger's invariants (settle.c, escrow_db_invariants).  The check reads
 * every account, transfer and job in one snapshot, which costs a
 * sequential scan of the ledger: a minute by default keeps that cheap on
 * a large ledger and still alerts within one scrape interval or two; a
 * second at least (tests), a day at most (a check less often than that
 * is no monitoring). */
#define ESCROW_INVARIANT_INTERVAL_S_DEFAULT 60u
#define ESCROW_INVARIANT_INTERVAL_S_MIN 1u
#define ESCROW_INVARIANT_INTERVAL_S_MAX 86400u
/* The rules escrow_db_invariants checks (escrow.h lists them), and room
 * for one rule's detail: ids and amounts, never a secret. */
#define ESCROW_INVARIANT_RULES 5u
#define ESCROW_INVARIANT_DETAIL_BYTES 200u

#endif
