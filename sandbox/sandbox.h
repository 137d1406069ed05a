/*
 * sandbox.h: run one kernel job in a locked-down child process.  The
 * one place in the tree that forks a job: the provider runs its jobs,
 * the validator its re-executions and the escrow's referee its disputed
 * jobs through sbx_run.
 *
 * sbx_run forks a worker that, before it touches any job data:
 * - puts itself in its own process group (the parent kills the group);
 * - keeps only fds 0-2 (on /dev/null; stderr stays in the ASan build)
 *   and its output file (fd 3), created in a fresh scratch directory
 *   (mode 0700); the input is the caller's bytes, which the child has
 *   from fork, so the job opens and reads nothing;
 * - as root, drops to SBX_DROP_UID/GID with no supplementary groups;
 * - enters new user, mount, pid, ipc, uts and network namespaces, each
 *   where the kernel allows it; with a mount namespace its root is an
 *   empty read-only tmpfs (pivot_root, the old root detached);
 * - sets rlimits: RLIMIT_AS (memory), RLIMIT_CPU (SIGXCPU), RLIMIT_FSIZE
 *   (output size), RLIMIT_NOFILE, RLIMIT_NPROC (the thread limit, which
 *   only counts the job's own tasks inside its user namespace),
 *   RLIMIT_CORE 0;
 * - drops every capability, sets PR_SET_NO_NEW_PRIVS, restricts itself
 *   with Landlock (no file system access at all) where the kernel has it;
 * - loads a seccomp filter whose default action kills the process: only
 *   write on the output and stderr, memory management without PROT_EXEC,
 *   futex, clock reads, clone with exactly a thread's flags, and exit are
 *   allowed (clone3 answers ENOSYS so that glibc falls back to clone).
 * The worker then runs the kernel on the CPU with limits->threads threads
 * and writes the serialised output.  The parent enforces the wall-clock
 * limit, reaps the worker, reads back and checks the output, and removes
 * the scratch directory.  docs/sandbox.md says what this does and does
 * not protect, which test shows each layer, and why the CUDA path cannot
 * be held the same way.
 *
 * Conventions as kernels.h: outputs first, a length after its pointer,
 * warn_unused_result on what can fail; no pointer may be NULL unless its
 * comment says so.
 */
#ifndef ASSAY_SANDBOX_H
#define ASSAY_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "sbx_limits.h"

#if defined(__GNUC__)
#define SBX_WUR __attribute__((warn_unused_result))
#else
#define SBX_WUR
#endif

/* Inside the worker: the output's descriptor. */
#define SBX_FD_OUT 3

/* Why a job did not produce an output; SBX_OK (0) when it did. */
enum sbx_err {
	SBX_OK = 0,
	SBX_ERR_ARG,      /* misuse by the caller */
	SBX_ERR_SETUP,    /* parent: scratch dir or fork failed */
	SBX_ERR_SANDBOX,  /* the worker could not set up its sandbox, or a
			   * layer was refused under SBX_STRICT */
	SBX_ERR_KERNEL,   /* the kernel refused the input (report.kern) */
	SBX_ERR_SECCOMP,  /* killed by the filter (SIGSYS) */
	SBX_ERR_NOMEM,    /* ran out of memory under its limit */
	SBX_ERR_CPU,      /* CPU-time limit (SIGXCPU, or SIGKILL at the hard limit) */
	SBX_ERR_TIMEOUT,  /* wall-clock limit: the parent killed it */
	SBX_ERR_FSIZE,    /* output past limits->out_bytes_max (SIGXFSZ) */
	SBX_ERR_CRASH,    /* any other signal or exit status */
	SBX_ERR_OUTPUT,   /* exited 0 but its output is missing or malformed */
	SBX_ERR_COUNT_    /* not an error: the number of codes */
};

/* Never NULL; "unknown error" for a value out of range. */
const char *sbx_strerror(enum sbx_err err);
/* Stable short identifier such as "seccomp"; never NULL. */
const char *sbx_errname(enum sbx_err err);

/* The optional layers, as bits of sbx_report.missing: each is applied
 * where the kernel (or the caller's privilege) allows it.  The
 * process group, fds, rlimits, no_new_privs and the seccomp filter are
 * not optional: a worker that cannot apply them ends SBX_ERR_SANDBOX. */
enum sbx_layer {
	SBX_LAYER_USERNS = 1u << 0,   /* user namespace (also the thread limit) */
	SBX_LAYER_MNTNS = 1u << 1,    /* mount namespace with an empty root */
	SBX_LAYER_PIDNS = 1u << 2,
	SBX_LAYER_IPCNS = 1u << 3,
	SBX_LAYER_UTSNS = 1u << 4,
	SBX_LAYER_NETNS = 1u << 5,
	SBX_LAYER_LANDLOCK = 1u << 6,
	SBX_LAYER_COUNT_ = 7          /* not a layer: the number of bits */
};
#define SBX_LAYERS_ALL ((1u << SBX_LAYER_COUNT_) - 1u)

/* Stable short name of one layer bit ("userns"); "unknown" otherwise. */
const char *sbx_layer_name(unsigned layer_bit);
/* Writes the names of the bits in `mask`, comma-separated ("" for none),
 * into buf; always NUL-terminates (truncates when too small). */
void sbx_layers_format(char *buf, size_t buf_len, unsigned mask);

/* Refused layers: best effort goes on (and reports them), strict makes
 * a refused layer end the job with SBX_ERR_SANDBOX before any job data
 * is touched.  Root's drop to SBX_DROP_UID is not optional. */
enum sbx_mode { SBX_BEST_EFFORT = 0, SBX_STRICT };

/* "best-effort" or "strict" (a daemon's --sandbox); NULL is best-effort.
 * 0, or -1 for anything else (*out unchanged). */
SBX_WUR int sbx_mode_parse(enum sbx_mode *out, const char *s);

/*
 * Exec mode, for multithreaded callers (every daemon): after a fork, a
 * multithreaded process may only call async-signal-safe functions until
 * it execs, since another thread may hold any lock at that moment (ASan's
 * allocator, stdio, a library's) and the worker allocates and starts
 * threads.  Once a worker binary is set, sbx_run and sbx_probe write the
 * job into a sealed memfd, fork, and the child only moves descriptors
 * and execs the worker, which then applies the same layers to itself.
 * The worker also starts with none of the caller's memory (wipe is then
 * moot).  A job with a test_hook cannot cross an exec: SBX_ERR_ARG.
 * Call before the caller starts threads.
 */
#define SBX_WORKER_NAME "assay-worker"
/* `path`: absolute, a regular executable file not writable by group or
 * others.  0, or -1 with why filled (nothing changed). */
SBX_WUR int sbx_use_worker(const char *path, char *why, size_t why_len);
/* $ASSAY_WORKER when set, else assay-worker in the directory of this
 * process's own executable; as sbx_use_worker. */
SBX_WUR int sbx_use_worker_beside_self(char *why, size_t why_len);
/* FOR TESTS ONLY: back to fork mode. */
void sbx_use_fork_for_tests(void);

/* Limits of one run; a zero field takes the default from sbx_limits.h. */
struct sbx_limits {
	uint64_t mem_bytes;       /* RLIMIT_AS; [MIN, MAX]; not applied under ASan */
	unsigned cpu_s;           /* RLIMIT_CPU soft limit; at most CPU_S_MAX */
	unsigned wall_ms;         /* parent's kill time; at most WALL_MS_MAX */
	uint64_t out_bytes_max;   /* RLIMIT_FSIZE; at most OUT_BYTES_MAX */
	unsigned threads;         /* kernel threads; at most THREADS_MAX */
};

/*
 * FOR TESTS ONLY.  Called in the worker after the whole sandbox is in
 * place (the filter loaded) and before the input is parsed, to make the
 * worker misbehave the way a hostile kernel would (open a socket, exec,
 * spin...).  KERN_OK lets the job go on; any other value ends the job as
 * if the kernel had returned it (KERN_ERR_NOMEM reports SBX_ERR_NOMEM).
 * It is compiled in always, so that the tested code is the shipped code;
 * the daemons never set it.
 */
typedef enum kern_err (*sbx_test_hook)(void *arg);

/* Memory the worker wipes (explicit_bzero) first thing after fork: its
 * copy of the caller's secrets (signing keys, data keys), which a job
 * that took control of the worker could otherwise read and write into
 * its output.  The caller's own memory is untouched.  Best effort: only
 * what the caller names is wiped. */
struct sbx_wipe {
	void *p;
	size_t len;
};

struct sbx_job {
	const char *kernel;       /* "matmul_f32@1" */
	const char *params;       /* params_len bytes, no NUL needed */
	size_t params_len;
	const uint8_t *in;        /* the safetensors input, in_len bytes; may
				   * be NULL when in_len is 0 */
	size_t in_len;            /* at most KERN_JOB_BYTES_MAX */
	const char *scratch_base; /* existing dir that gets a fresh scratch dir */
	const struct sbx_limits *limits;  /* may be NULL: defaults */
	enum sbx_mode mode;
	const struct sbx_wipe *wipe;       /* may be NULL when wipe_len is 0 */
	size_t wipe_len;                   /* at most SBX_WIPE_MAX */
	/* The model file of a model kernel (gpt2_f32@1), or NULL.  sbx_run
	 * opens it read-only; the worker maps it before any layer (it opens
	 * no file itself) and the mapping counts against mem_bytes. */
	const char *model_path;
	sbx_test_hook test_hook;           /* may be NULL (always, but in tests) */
	void *test_hook_arg;               /* may be NULL */
};

/* What happened, for logs and for the refund decision. */
struct sbx_report {
	enum sbx_err err;         /* the return value */
	enum kern_err kern;       /* for ERR_KERNEL and ERR_NOMEM; else KERN_OK */
	int exit_code;            /* when the worker exited; else -1 */
	int signal;               /* when a signal ended it; else 0 */
	uint64_t wall_ms;         /* time from fork to reap */
	unsigned missing;         /* enum sbx_layer bits the worker went without
				   * (valid once the worker started) */
	char msg[256];            /* one lower-case line, never job data */
};

/*
 * Runs job->kernel on the tensors in job->in in a sandboxed worker.
 * On SBX_OK, *out receives the output in the deterministic safetensors
 * form (kern_st_serialize), malloc'd: the caller frees it; *out_len its
 * length.  On failure *out is NULL and *out_len 0.  `rep` is always
 * filled (when non-NULL arguments were given).  The scratch directory is
 * removed before return in every case.
 *
 * Blocks the calling thread for up to the wall-clock limit.  Safe to call
 * from several threads at once; it reaps only its own child (waitpid on
 * that pid), so it does not disturb a SIGCHLD handler that does the same.
 *
 * Errors: every enum sbx_err value.
 */
SBX_WUR enum sbx_err sbx_run(uint8_t **out, size_t *out_len, struct sbx_report *rep,
			     const struct sbx_job *job);

/*
 * A daemon's --device (`flag`: "auto", "cpu" or "cuda"; NULL is auto)
 * resolved at start-up into the device its workers run on, copied into
 * `device` ("cpu": the only worker there is yet).  auto takes the CPU,
 * and says in why (never NULL; "" when there is nothing to say) when a
 * CUDA device is present that it does not use; cuda is refused (-1, why
 * names the reason) when this build or machine has no CUDA device, and,
 * until the GPU worker exists, when it has one too.  0 or -1.
 */
SBX_WUR int sbx_device_select(char device[KERN_DEVICE_BYTES], char *why, size_t why_len,
			      const char *flag);

/*
 * The layers this machine grants a worker now, found by running an
 * empty job once (in a scratch directory under `scratch_base`): the
 * bits of enum sbx_layer that would be missing.  The daemons call it at
 * start-up to log and export the answer, and to refuse to start under
 * --sandbox strict when it is not 0.  Returns 0 and *missing, or -1
 * when the probe itself could not run (rep->msg says why).
 */
SBX_WUR int sbx_probe(unsigned *missing, struct sbx_report *rep, const char *scratch_base);

#endif
