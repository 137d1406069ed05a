/*
 * worker.h: run one kernel job in a sandboxed child process.
 *
 * prov_worker_run forks a worker that, before it touches any job data:
 * - puts itself in its own process group (the parent kills the group);
 * - keeps only fds 0-2 (on /dev/null; stderr stays in the ASan build),
 *   the input (read-only, opened by the parent) and its output file, created in a fresh scratch directory (mode 0700)
 *   that it chdirs to;
 * - sets rlimits: RLIMIT_AS (memory), RLIMIT_CPU (SIGXCPU), RLIMIT_FSIZE
 *   (output size), RLIMIT_NOFILE, RLIMIT_NPROC 0, RLIMIT_CORE 0;
 * - sets PR_SET_NO_NEW_PRIVS, enters a new network namespace when
 *   permitted (root); otherwise the filter alone keeps it off the network;
 * - loads a seccomp filter whose default action kills the process: only
 *   read on the input, write on the output and stderr, memory management
 *   without PROT_EXEC, futex, clock reads and exit are allowed.  No open,
 *   socket, execve, fork or clone.
 * The worker then runs the kernel on the CPU with one thread and writes
 * the serialised output.  The parent enforces the wall-clock limit, reaps
 * the worker, reads back and checks the output, and removes the scratch
 * directory.  docs/provider-sandbox.md says what this does and does not
 * protect, and why the CUDA path cannot be held the same way.
 *
 * Conventions as kernels.h: outputs first, a length after its pointer,
 * warn_unused_result on what can fail; no pointer may be NULL unless its
 * comment says so.
 */
#ifndef ASSAY_PROV_WORKER_H
#define ASSAY_PROV_WORKER_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "prov_limits.h"

#if defined(__GNUC__)
#define PROV_WUR __attribute__((warn_unused_result))
#else
#define PROV_WUR
#endif

/* Inside the worker: the input's and the output's descriptors. */
#define PROV_WORKER_FD_IN 3
#define PROV_WORKER_FD_OUT 4

/* Why a job did not produce an output; PROV_WORKER_OK (0) when it did. */
enum prov_worker_err {
	PROV_WORKER_OK = 0,
	PROV_WORKER_ERR_ARG,      /* misuse by the caller */
	PROV_WORKER_ERR_SETUP,    /* parent: scratch dir, input, fork failed */
	PROV_WORKER_ERR_SANDBOX,  /* the worker could not set up its sandbox */
	PROV_WORKER_ERR_KERNEL,   /* the kernel refused the input (report.kern) */
	PROV_WORKER_ERR_SECCOMP,  /* killed by the filter (SIGSYS) */
	PROV_WORKER_ERR_NOMEM,    /* ran out of memory under its limit */
	PROV_WORKER_ERR_CPU,      /* CPU-time limit (SIGXCPU, or SIGKILL at the hard limit) */
	PROV_WORKER_ERR_TIMEOUT,  /* wall-clock limit: the parent killed it */
	PROV_WORKER_ERR_FSIZE,    /* output past PROV_WORKER_OUT_BYTES_MAX (SIGXFSZ) */
	PROV_WORKER_ERR_CRASH,    /* any other signal or exit status */
	PROV_WORKER_ERR_OUTPUT,   /* exited 0 but its output is missing or malformed */
	PROV_WORKER_ERR_COUNT_    /* not an error: the number of codes */
};

/* Never NULL; "unknown error" for a value out of range. */
const char *prov_worker_strerror(enum prov_worker_err err);
/* Stable short identifier such as "seccomp"; never NULL. */
const char *prov_worker_errname(enum prov_worker_err err);

/* Limits of one run; a zero field takes the default from prov_limits.h. */
struct prov_worker_limits {
	uint64_t mem_bytes;       /* RLIMIT_AS; [MIN, MAX]; not applied under ASan */
	unsigned cpu_s;           /* RLIMIT_CPU soft limit; at most CPU_S_MAX */
	unsigned wall_ms;         /* parent's kill time; at most WALL_MS_MAX */
	uint64_t out_bytes_max;   /* RLIMIT_FSIZE; at most OUT_BYTES_MAX */
};

/*
 * FOR TESTS ONLY.  Called in the worker after the whole sandbox is in
 * place (the filter loaded) and before the input is read, to make the
 * worker misbehave the way a hostile kernel would (open a socket, exec,
 * spin...).  KERN_OK lets the job go on; any other value ends the job as
 * if the kernel had returned it (KERN_ERR_NOMEM reports
 * PROV_WORKER_ERR_NOMEM).  It is compiled in always, so that the tested
 * code is the shipped code; the daemon never sets it.
 */
typedef enum kern_err (*prov_worker_test_hook)(void *arg);

struct prov_worker_job {
	const char *kernel;       /* "matmul_f32@1" */
	const char *params;       /* params_len bytes, no NUL needed */
	size_t params_len;
	const char *in_path;      /* safetensors input, opened read-only */
	const char *scratch_base; /* existing dir that gets a fresh scratch dir */
	const struct prov_worker_limits *limits;  /* may be NULL: defaults */
	prov_worker_test_hook test_hook;           /* may be NULL (always, but in tests) */
	void *test_hook_arg;                       /* may be NULL */
};

/* What happened, for logs and for the refund decision. */
struct prov_worker_report {
	enum prov_worker_err err; /* the return value */
	enum kern_err kern;       /* for ERR_KERNEL and ERR_NOMEM; else KERN_OK */
	int exit_code;            /* when the worker exited; else -1 */
	int signal;               /* when a signal ended it; else 0 */
	uint64_t wall_ms;         /* time from fork to reap */
	char msg[256];            /* one lower-case line, never job data */
};

/*
 * Runs job->kernel on the tensors in job->in_path in a sandboxed worker.
 * On PROV_WORKER_OK, *out receives the output in the deterministic
 * safetensors form (kern_st_serialize), malloc'd: the caller frees it;
 * *out_len its length.  On failure *out is NULL and *out_len 0.  `rep`
 * is always filled (when non-NULL arguments were given).  The scratch
 * directory is removed before return in every case.
 *
 * Blocks the calling thread for up to the wall-clock limit.  Safe to call
 * from several threads at once; it reaps only its own child (waitpid on
 * that pid), so it does not disturb a SIGCHLD handler that does the same.
 *
 * Errors: every enum prov_worker_err value.
 */
PROV_WUR enum prov_worker_err prov_worker_run(uint8_t **out, size_t *out_len,
					       struct prov_worker_report *rep,
					       const struct prov_worker_job *job);

#endif
