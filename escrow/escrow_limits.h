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

/* A fraud claim with the input inline, base64 (4/3) plus the statement. */
#define ESCROW_CLAIM_BODY_BYTES_MAX (ESCROW_INPUT_BYTES_MAX / 3u * 4u + 64u * 1024u)

/* Account requests: an address and an amount. */
#define ESCROW_ACCOUNT_BODY_BYTES_MAX 1024u

/* Jobs one GET /v1/jobs returns. */
#define ESCROW_LIST_MAX 100

/* Audit entries one GET /v1/audit returns (a job has about ten). */
#define ESCROW_AUDIT_ENTRIES_MAX 1000

/* Rows the settlement loop takes per kind per tick: a backlog drains over
 * several ticks instead of one long one. */
#define ESCROW_SETTLE_BATCH 100
/* Ticks run back to back while a step moves a full batch (a backlog after
 * a restart or a burst of jobs), at most this many before the one-second
 * pause; a batch the ledger refuses moves less and waits its second. */
#define ESCROW_SETTLE_BURST_MAX 50

/* Disputes re-executed per tick: each may run a kernel for seconds. */
#define ESCROW_REFEREE_BATCH 4

/* An `opening` row older than this with no request working on it is
 * finished (or dropped) by the loop. */
#define ESCROW_OPENING_STALE_S 5

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



/* Stringifies a limit for SQL text. */
#define ESCROW_STR_(x) #x
#define ESCROW_STR(x) ESCROW_STR_(x)
#endif
