/*
 * sbx_internal.h: what sandbox.c (the parent) and child.c (the worker)
 * share.  Private to sandbox/.
 */
#ifndef ASSAY_SBX_INTERNAL_H
#define ASSAY_SBX_INTERNAL_H

#include "sandbox.h"

/* ASan reserves terabytes of shadow address space: RLIMIT_AS would stop
 * it from working at all, so the sanitizer build skips that one limit. */
#if defined(__SANITIZE_ADDRESS__)
#define SBX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SBX_ASAN 1
#endif
#endif
#ifndef SBX_ASAN
#define SBX_ASAN 0
#endif

/* Worker exit codes.  A kernel error k exits EXIT_KERN_BASE + k. */
#define SBX_EXIT_KERN_BASE 16
#define SBX_EXIT_CPU 97      /* SIGXCPU caught (the worker may be a pid 1) */
#define SBX_EXIT_FSIZE 98    /* SIGXFSZ caught, or EFBIG on the output */
#define SBX_EXIT_STRICT 99   /* a layer was refused under SBX_STRICT */
#define SBX_EXIT_SANDBOX 100
#define SBX_EXIT_IO 101
#define SBX_EXIT_EXEC 102    /* exec mode: the worker binary did not start */
#define SBX_EXIT_JOBFILE 103 /* the worker refused its job file (another build?) */
_Static_assert(SBX_EXIT_KERN_BASE + KERN_ERR_COUNT_ < SBX_EXIT_CPU,
	       "kernel error codes overlap the worker's own exit codes");

/* The worker's report descriptor until it has said which layers it
 * went without (then closed, before the filter). */
#define SBX_FD_REPORT 4
_Static_assert(SBX_FD_OUT < SBX_NOFILE, "RLIMIT_NOFILE below the output fd");

#define SBX_OUT_NAME "out.safetensors"

/* Exec mode (exec.c): the job file's descriptor in a fresh worker,
 * until it is mapped (then closed: the output takes fd 3). */
#define SBX_FD_JOB 3
/* Exec mode: the model file's descriptor in a fresh worker, until it is
 * mapped (then closed). */
#define SBX_FD_MODEL 5

/* FOR TESTS ONLY (tests/test_sandbox.c, through sbx_test_skip): layers
 * a run leaves out, so that a test can show that the next layer down
 * holds on its own.  Zero in every daemon. */
enum sbx_skip {
	SBX_SKIP_SECCOMP = 1u << 0,
	SBX_SKIP_LANDLOCK = 1u << 1,
	SBX_SKIP_CAPS = 1u << 2,
	/* Leaves out the network namespace and reports it missing, as a
	 * kernel that refuses it would: the strict-mode test. */
	SBX_SKIP_NETNS = 1u << 3,
};

struct sbx_child {
	const struct sbx_job *job;
	const struct sbx_limits *lim;
	const char *scratch;    /* existing, empty, mode 0700 */
	int report_fd;          /* write end of the parent's pipe */
	int probe;              /* set up, report, exit 0: no job */
	unsigned skip;          /* enum sbx_skip bits; 0 but in tests */
	int model_fd;           /* the job's model file, or -1 */
	uint64_t model_len;     /* its size (0 without a model) */
	const void *model_map;  /* exec mode: mapped by load_job; else NULL */
};

/* The worker: never returns (every path ends in _exit). */
__attribute__((noreturn)) void sbx_child_main(const struct sbx_child *c);

/* Defaults for the zero fields of `given` (NULL: all of them) into
 * *lim, then the bounds of sbx_limits.h: SBX_OK or SBX_ERR_ARG. */
enum sbx_err sbx_limits_fill(struct sbx_limits *lim, const struct sbx_limits *given);

/* exec.c: whether sbx_use_worker was called; the sealed job file of a
 * run (-1 and errno on failure); the forked child's exec (never
 * returns); and the worker binary's whole work (never returns). */
int sbx_exec_mode(void);
int sbx_job_file(const struct sbx_child *c);
__attribute__((noreturn)) void sbx_exec_child(int job_fd, int report_fd, int model_fd);
__attribute__((noreturn)) void sbx_worker_main(void);

/* FOR TESTS ONLY: the skip bits of the next sbx_run calls of this
 * process (0 restores the full sandbox). */
void sbx_test_skip(unsigned skip);

#endif
