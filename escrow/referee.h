/*
 * referee.h: the escrow's referee runs (referee.c).  Private to escrow/.
 *
 * A disputed job is re-executed in the job sandbox (sandbox/sandbox.h)
 * on the referee's own thread, fed by a bounded queue, with its own CPU,
 * memory and wall-clock limits.  The settlement loop only asks: an ask
 * never blocks on a run (a mutex held for a table lookup and, the first
 * time, a copy of the input), so a slow re-execution delays no other
 * job's settlement and no HTTP request.
 *
 * What a run's end means (docs/escrow.md, "Referee"):
 * - an output: the settlement loop compares its commitment with the
 *   receipt's (REF_OUTPUT);
 * - the kernel refuses the input: no output could be right (REF_REFUSED);
 * - a limit hit (cpu, memory, wall clock, output size) or any other
 *   failure: no verdict (REF_UNDECIDED).  Our kernels are bounded, and
 *   the default limits fit every input within those bounds, so this is
 *   a bug (or limits set too low) to report: it is logged
 *   (event=referee-limit / referee-error) and counted on /metrics, the
 *   dispute stays open and the job is re-executed again: after
 *   ESCROW_REFEREE_RETRY_S for a limit hit, after a backoff from
 *   ESCROW_REFEREE_ERROR_RETRY_MIN_S for any other failure
 *   (escrow_limits.h).  Nobody is slashed for our failure.
 */
#ifndef ASSAY_ESCROW_REFEREE_H
#define ASSAY_ESCROW_REFEREE_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"
#include "receipts.h"

struct escrow_referee;

struct escrow_referee_config {
	uint64_t mem_bytes;       /* the sandbox's limits (sbx_limits) */
	unsigned cpu_s;
	unsigned wall_ms;
	unsigned threads;         /* kernel threads of one run */
	int strict;               /* --sandbox strict: refused layers are fatal */
	unsigned delay_ms;        /* devnet tests only: sleep before each run */
	void *secret;             /* the escrow's key: wiped in every worker's copy */
	size_t secret_len;
	struct httpd *httpd;      /* for /metrics; may be NULL */
};

enum escrow_referee_state {
	REF_PENDING = 0,  /* queued or running, or the queue is full: ask again */
	REF_OUTPUT,       /* out_root and out_size hold the output's commitment */
	REF_REFUSED,      /* the kernel refuses the input */
	REF_UNDECIDED,    /* a limit hit or a failure: no verdict (reason says) */
};

struct escrow_referee_answer {
	enum escrow_referee_state state;
	uint8_t out_root[RCPT_HASH_BYTES];
	uint64_t out_size;
	const char *reason;       /* static; "referee-pending" while pending */
};

/* Makes a scratch directory under $TMPDIR (or /tmp), probes the sandbox
 * layers (logged; refused ones fatal under cfg->strict) and starts the
 * referee thread.  0, or -1 with why. */
int escrow_referee_start(struct escrow_referee **out, char *why, size_t why_len,
			 const struct escrow_referee_config *cfg);
/* Stops the thread (a running re-execution is finished first, within
 * its wall-clock limit), frees everything, removes the scratch
 * directory.  NULL is a no-op. */
void escrow_referee_stop(struct escrow_referee *r);

/*
 * The result of re-executing `job` (kernel, params, the input in/in_len,
 * which must be the job's committed input: the referee checks it against
 * input_root/input_size again) when one is known; otherwise queues the
 * run, copying what it needs, and answers REF_PENDING.  Never waits for
 * a run.  An undecided result older than its retry delay is
 * queued again.  Every pointer must be non-NULL (in may be NULL when
 * in_len is 0; provider_url may be NULL when none is registered).  A
 * model kernel's model (gpt2_f32@1) is fetched by its commitment from
 * provider_url (GET /v1/models/{root}) on the referee's thread and kept
 * in the scratch directory while the escrow runs; a model that cannot be
 * had is no verdict ("model-unavailable", asked again later), never a
 * refusal of the input.
 */
void escrow_referee_ask(struct escrow_referee *r, struct escrow_referee_answer *a,
			const uint8_t job[RCPT_HASH_BYTES], const struct rcpt_job *spec,
			const uint8_t *in, size_t in_len, const char *provider_url,
			uint64_t now_s);

#endif
