/*
 * valid_limits.h: every bound of the validator, with the reason for it.
 * The worker's own limits (memory, CPU, output size) live in
 * provider/prov_limits.h and apply to re-executions as they do to jobs.
 */
#ifndef ASSAY_VALID_LIMITS_H
#define ASSAY_VALID_LIMITS_H

/* A job's input: the escrow refuses jobs with more than 8 MiB of input
 * (ESCROW_INPUT_BYTES_MAX), so a provider that answers more is lying. */
#define VALID_INPUT_BYTES_MAX (8u * 1024u * 1024u)
/* A job's output fetched for evidence: the largest output a worker may
 * write (SBX_OUT_BYTES_MAX); in practice bounded by the receipt's
 * outputSize, which is checked before anything is fetched. */
#define VALID_OUTPUT_BYTES_MAX ((1ull << 30) + (2ull << 20))

/* Jobs waiting for a worker.  Each holds a few KiB (job, receipt); 256
 * is more than a poll interval brings at the escrow's listing size
 * (100) and bounds memory when re-executions fall behind.  A job that
 * finds the queue full is left for the next poll. */
#define VALID_QUEUE_DEFAULT 64u
#define VALID_QUEUE_MAX 256u
/* Re-executions at once: each is one single-threaded worker process
 * holding up to the worker's memory limit. */
#define VALID_WORKERS_DEFAULT 1u
#define VALID_WORKERS_MAX 16u
/* CPU seconds of re-execution per minute (the budget refills at this
 * rate per 60 s, holds at most one minute's worth); default one core. */
#define VALID_CPU_S_PER_MIN_DEFAULT 60u
#define VALID_CPU_S_PER_MIN_MAX (60u * 1024u)
/* One re-execution's CPU limit (RLIMIT_CPU in the worker). */
#define VALID_JOB_CPU_S_DEFAULT 600u

/* Escrow polling interval: receipts wait an hour-long challenge window,
 * so a few seconds of delay costs nothing. */
#define VALID_POLL_MS_DEFAULT 2000u
#define VALID_POLL_MS_MIN 50u
#define VALID_POLL_MS_MAX 600000u

/* The escrow's page of GET /v1/jobs (ESCROW_LIST_MAX), pages read per
 * poll (a backlog of 5000 receipts is read in one round), and how far
 * behind the newest receipt seen each round starts again: a receipt
 * stamped in the same second as one already read may commit later. */
#define VALID_LIST_PAGE 100u
#define VALID_PAGES_PER_POLL 50u
#define VALID_CURSOR_SLACK_S 10u

/* Receipt ids remembered as already decided (sampled or not) so that a
 * poll does not redo them; when full the oldest are forgotten (the rule
 * is deterministic, so a forgotten one is merely decided again). */
#define VALID_SEEN_MAX 65536u

/* Fetching from a provider: attempts, each bounded in time, with a
 * pause between them.  Five tries over about a minute tell a slow or
 * restarting provider from one that withholds. */
#define VALID_FETCH_TRIES_DEFAULT 5u
#define VALID_FETCH_TRIES_MAX 100u
#define VALID_FETCH_TIMEOUT_MS_DEFAULT 30000u
#define VALID_FETCH_BACKOFF_MS_DEFAULT 5000u
#define VALID_FETCH_BACKOFF_MS_MAX 600000u

/* Sending to the escrow: attempts per poll round for one record. */
#define VALID_SEND_TRIES 3u
/* Records resent per poll round (after a crash many may be pending). */
#define VALID_RESEND_PER_POLL 32u
/* A signing record file: the attestation JSON (about 250 bytes), the
 * signature and the job id, with room. */
#define VALID_RECORD_BYTES_MAX 4096u

/* A progress line for a re-execution running longer than this. */
#define VALID_PROGRESS_LOG_S 10u

/* The reason string of a withholding report (the escrow's bound). */
#define VALID_REASON_BYTES_MAX 200u

/* Paths under the state directory. */
#define VALID_PATH_BYTES 4096u

#endif
