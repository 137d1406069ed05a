/*
 * worker.c: one kernel job in a sandboxed child (see worker.h).
 *
 * Invariants:
 * - the child never returns into the caller's code: every path in it
 *   ends in _exit (no atexit handlers, no LeakSanitizer pass, no Criterion
 *   hooks, no stdio flush of the parent's buffers);
 * - the child loads the seccomp filter before it reads a byte of the job
 *   and after it has opened every file it will use;
 * - the parent reaps exactly the child it forked, kills its whole process
 *   group on timeout and removes the scratch directory on every path.
 *
 * The child of a multithreaded parent may only rely on what fork leaves
 * consistent: glibc's malloc resets its locks at fork, and the kernels
 * and libseccomp use nothing else that another thread could hold.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "worker.h"
#include "banned.h"

/* ASan reserves terabytes of shadow address space: RLIMIT_AS would stop
 * it from working at all, so the sanitizer build skips that one limit. */
#if defined(__SANITIZE_ADDRESS__)
#define PROV_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PROV_ASAN 1
#endif
#endif
#ifndef PROV_ASAN
#define PROV_ASAN 0
#endif

/* Worker exit codes.  A kernel error k exits EXIT_KERN_BASE + k. */
#define EXIT_KERN_BASE 16
#define EXIT_SANDBOX 100
#define EXIT_IO 101
_Static_assert(EXIT_KERN_BASE + KERN_ERR_COUNT_ < EXIT_SANDBOX,
	       "kernel error codes overlap the worker's own exit codes");

/* The worker's fds after setup. */
#define FD_IN PROV_WORKER_FD_IN
#define FD_OUT PROV_WORKER_FD_OUT
_Static_assert(FD_OUT < PROV_WORKER_NOFILE, "RLIMIT_NOFILE below the output fd");

#define OUT_NAME "out.safetensors"

static const char *const err_str[PROV_WORKER_ERR_COUNT_] = {
	[PROV_WORKER_OK] = "ok",
	[PROV_WORKER_ERR_ARG] = "invalid argument",
	[PROV_WORKER_ERR_SETUP] = "could not start the worker",
	[PROV_WORKER_ERR_SANDBOX] = "worker could not set up its sandbox",
	[PROV_WORKER_ERR_KERNEL] = "kernel refused the input",
	[PROV_WORKER_ERR_SECCOMP] = "worker killed by the seccomp filter",
	[PROV_WORKER_ERR_NOMEM] = "worker ran out of memory",
	[PROV_WORKER_ERR_CPU] = "worker exceeded its cpu time limit",
	[PROV_WORKER_ERR_TIMEOUT] = "worker exceeded its wall-clock limit",
	[PROV_WORKER_ERR_FSIZE] = "worker output exceeded its size limit",
	[PROV_WORKER_ERR_CRASH] = "worker crashed",
	[PROV_WORKER_ERR_OUTPUT] = "worker output missing or malformed",
};

static const char *const err_name[PROV_WORKER_ERR_COUNT_] = {
	[PROV_WORKER_OK] = "ok",
	[PROV_WORKER_ERR_ARG] = "arg",
	[PROV_WORKER_ERR_SETUP] = "setup",
	[PROV_WORKER_ERR_SANDBOX] = "sandbox",
	[PROV_WORKER_ERR_KERNEL] = "kernel",
	[PROV_WORKER_ERR_SECCOMP] = "seccomp",
	[PROV_WORKER_ERR_NOMEM] = "nomem",
	[PROV_WORKER_ERR_CPU] = "cpu",
	[PROV_WORKER_ERR_TIMEOUT] = "timeout",
	[PROV_WORKER_ERR_FSIZE] = "fsize",
	[PROV_WORKER_ERR_CRASH] = "crash",
	[PROV_WORKER_ERR_OUTPUT] = "output",
};

const char *prov_worker_strerror(enum prov_worker_err err)
{
	if ((unsigned)err >= PROV_WORKER_ERR_COUNT_ || !err_str[err])
		return "unknown error";
	return err_str[err];
}

const char *prov_worker_errname(enum prov_worker_err err)
{
	if ((unsigned)err >= PROV_WORKER_ERR_COUNT_ || !err_name[err])
		return "unknown";
	return err_name[err];
}

/* ------------------------------------------------------------------ */
/* Child                                                                */

static int set_limit(int res, rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };
	return setrlimit(res, &rl);
}

static int apply_rlimits(const struct prov_worker_limits *lim)
{
	if (!PROV_ASAN &&
	    set_limit(RLIMIT_AS, (rlim_t)lim->mem_bytes, (rlim_t)lim->mem_bytes))
		return -1;
	if (set_limit(RLIMIT_CPU, lim->cpu_s, lim->cpu_s + PROV_WORKER_CPU_GRACE_S) ||
	    set_limit(RLIMIT_FSIZE, (rlim_t)lim->out_bytes_max,
		      (rlim_t)lim->out_bytes_max) ||
	    set_limit(RLIMIT_NOFILE, PROV_WORKER_NOFILE, PROV_WORKER_NOFILE) ||
	    set_limit(RLIMIT_CORE, 0, 0))
		return -1;
	/* No new processes.  Root (or CAP_SYS_RESOURCE) is exempt from
	 * RLIMIT_NPROC; the filter refuses fork, clone and execve anyway. */
	if (set_limit(RLIMIT_NPROC, 0, 0))
		return -1;
	return 0;
}

/*
 * The allow list is what the single-threaded CPU kernel path needs,
 * found by running it under strace and this filter (tests/test_worker.c):
 * reading its input, writing its output and stderr (/dev/null, except for
 * sanitizer reports in the SAN=1 build), memory management, futex (libc internals) and exit.  No
 * mapping may be executable: a job cannot bring code of its own.
 * Everything else, open and openat included, kills the process.
 */
static int load_filter(void)
{
	scmp_filter_ctx ctx;
	int rc = -1;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -1;
#define ALLOW(sc, ...) \
	if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(sc), __VA_ARGS__)) \
		goto out
	ALLOW(read, 1, SCMP_A0(SCMP_CMP_EQ, FD_IN));
	ALLOW(write, 1, SCMP_A0(SCMP_CMP_EQ, FD_OUT));
	ALLOW(write, 1, SCMP_A0(SCMP_CMP_EQ, STDERR_FILENO));
	ALLOW(mmap, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	ALLOW(mprotect, 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	ALLOW(munmap, 0);
	ALLOW(mremap, 0);
	ALLOW(brk, 0);
	ALLOW(madvise, 0);
	ALLOW(futex, 0);
	ALLOW(clock_gettime, 0);
	ALLOW(rt_sigreturn, 0);
	ALLOW(exit, 0);
	ALLOW(exit_group, 0);
	/* ASan's runtime looks at the alternate signal stack as the
	 * process exits; the sanitizer build only. */
	if (PROV_ASAN)
		ALLOW(sigaltstack, 0);
#undef ALLOW
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return rc ? -1 : 0;
}

/* Reads exactly len bytes of the input; 0 or -1. */
static int read_all(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(FD_IN, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

static int write_all(const uint8_t *buf, size_t len)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n = write(FD_OUT, buf + put, len - put);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		put += (size_t)n;
	}
	return 0;
}

static int kern_exit(enum kern_err k)
{
	assert(k != KERN_OK && (unsigned)k < KERN_ERR_COUNT_);
	return EXIT_KERN_BASE + (int)k;
}

/* The job proper, inside the sandbox.  Returns the exit code. */
static int child_job(const struct prov_worker_job *job, size_t in_len)
{
	struct kern_tensors in, out;
	struct kern_run_opts opts = { .device = KERN_DEVICE_CPU, .threads = 1 };
	char dev[KERN_DEVICE_BYTES];
	uint8_t *buf = NULL, *ser = NULL;
	size_t ser_len = 0;
	enum kern_err k;

	kern_tensors_init(&in);
	kern_tensors_init(&out);
	if (job->test_hook) {
		k = job->test_hook(job->test_hook_arg);
		if (k != KERN_OK)
			return kern_exit(k);
	}
	buf = malloc(in_len ? in_len : 1);
	if (!buf)
		return kern_exit(KERN_ERR_NOMEM);
	if (read_all(buf, in_len))
		return EXIT_IO;
	k = kern_st_parse(&in, NULL, buf, in_len);
	free(buf);
	if (k == KERN_OK)
		k = kern_run(&out, dev, NULL, job->kernel, &in, job->params,
			     job->params_len, &opts);
	if (k == KERN_OK)
		k = kern_st_serialize(&ser, &ser_len, NULL, &out);
	if (k != KERN_OK)
		return kern_exit(k);
	if (write_all(ser, ser_len))
		return EXIT_IO;
	/* The process ends here; freeing would only cost time. */
	return 0;
}

/*
 * stdin and stdout become /dev/null, and so does stderr: the daemon's
 * stderr is its log, and a job must not write lines into it.  The
 * sanitizer build keeps stderr, so that a sanitizer report from the
 * worker reaches the test log (scripts/run-tests.sh fails on one).
 */
static int quiet_std_fds(void)
{
	int fd = open("/dev/null", O_RDWR);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (dup2(fd, STDIN_FILENO) != STDIN_FILENO ||
	    dup2(fd, STDOUT_FILENO) != STDOUT_FILENO)
		rc = -1;
	if (!PROV_ASAN && dup2(fd, STDERR_FILENO) != STDERR_FILENO)
		rc = -1;
	if (fd > STDERR_FILENO)
		(void)close(fd);
	return rc;
}

static void child_main(const struct prov_worker_job *job,
		       const struct prov_worker_limits *lim,
		       int in_fd, size_t in_len, const char *scratch)
{
	int out_fd;

	/* Own process group, so the parent's kill reaches anything left. */
	if (setpgid(0, 0))
		_exit(EXIT_SANDBOX);
	if (chdir(scratch))
		_exit(EXIT_SANDBOX);
	out_fd = open(OUT_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (out_fd < 0)
		_exit(EXIT_SANDBOX);
	/* Input on 3, output on 4, nothing else past stderr.  Both go
	 * above 4 first, so that neither dup2 can land on the other. */
	in_fd = fcntl(in_fd, F_DUPFD, FD_OUT + 1);
	out_fd = fcntl(out_fd, F_DUPFD, FD_OUT + 1);
	if (in_fd < 0 || out_fd < 0)
		_exit(EXIT_SANDBOX);
	if (dup2(in_fd, FD_IN) != FD_IN || dup2(out_fd, FD_OUT) != FD_OUT)
		_exit(EXIT_SANDBOX);
	if (close_range(FD_OUT + 1, ~0u, 0) || quiet_std_fds())
		_exit(EXIT_SANDBOX);
	if (apply_rlimits(lim))
		_exit(EXIT_SANDBOX);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		_exit(EXIT_SANDBOX);
	/* Only root may do this; without it the filter alone refuses
	 * socket, so EPERM is not a failure. */
	if (unshare(CLONE_NEWNET) && errno != EPERM)
		_exit(EXIT_SANDBOX);
	/* jansson (the safetensors header parser) seeds its hash function
	 * from /dev/urandom on first use; do that now, while open is still
	 * allowed (a no-op if this process was already seeded). */
	json_object_seed(0);
	if (load_filter())
		_exit(EXIT_SANDBOX);
	_exit(child_job(job, in_len));
}

/* ------------------------------------------------------------------ */
/* Parent                                                               */

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static enum prov_worker_err fill_limits(struct prov_worker_limits *lim,
					const struct prov_worker_limits *given)
{
	if (given)
		*lim = *given;
	else
		memset(lim, 0, sizeof(*lim));
	if (!lim->mem_bytes)
		lim->mem_bytes = PROV_WORKER_MEM_BYTES_DEFAULT;
	if (!lim->cpu_s)
		lim->cpu_s = PROV_WORKER_CPU_S_DEFAULT;
	if (!lim->wall_ms)
		lim->wall_ms = PROV_WORKER_WALL_MS_DEFAULT;
	if (!lim->out_bytes_max)
		lim->out_bytes_max = PROV_WORKER_OUT_BYTES_MAX;
	if (lim->mem_bytes < PROV_WORKER_MEM_BYTES_MIN ||
	    lim->mem_bytes > PROV_WORKER_MEM_BYTES_MAX ||
	    lim->cpu_s > PROV_WORKER_CPU_S_MAX ||
	    lim->wall_ms > PROV_WORKER_WALL_MS_MAX ||
	    lim->out_bytes_max > PROV_WORKER_OUT_BYTES_MAX)
		return PROV_WORKER_ERR_ARG;
	return PROV_WORKER_OK;
}

/* Waits for pid, killing its group at the deadline.  0 and *status, or
 * -1 when the child cannot be waited for (SIGCHLD ignored, or reaped by
 * someone else); *timed_out says whether the parent killed it. */
static int reap(int *status, int *timed_out, struct rusage *ru, pid_t pid,
		uint64_t start_ms, unsigned wall_ms)
{
	const struct timespec tick = { 0, (long)PROV_WORKER_POLL_MS * 1000000L };
	pid_t r;

	assert(pid > 0);
	*timed_out = 0;
	for (;;) {
		r = wait4(pid, status, WNOHANG, ru);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			break;
		if (now_ms() - start_ms >= wall_ms) {
			*timed_out = 1;
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
			break;
		}
		(void)nanosleep(&tick, NULL);
	}
	do {
		r = wait4(pid, status, 0, ru);
	} while (r < 0 && errno == EINTR);
	if (r != pid) {
		int saved = errno;

		/* Whatever happened, leave nothing running. */
		(void)kill(-pid, SIGKILL);
		errno = saved;
		return -1;
	}
	return 0;
}

static enum prov_worker_err classify(struct prov_worker_report *rep, int status,
				     int timed_out, const struct rusage *ru,
				     const struct prov_worker_limits *lim)
{
	if (timed_out) {
		rep->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		return PROV_WORKER_ERR_TIMEOUT;
	}
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);

		rep->exit_code = code;
		if (code == 0)
			return PROV_WORKER_OK;
		if (code == EXIT_SANDBOX)
			return PROV_WORKER_ERR_SANDBOX;
		if (code > EXIT_KERN_BASE && code < EXIT_KERN_BASE + KERN_ERR_COUNT_) {
			rep->kern = (enum kern_err)(code - EXIT_KERN_BASE);
			return rep->kern == KERN_ERR_NOMEM ? PROV_WORKER_ERR_NOMEM
							   : PROV_WORKER_ERR_KERNEL;
		}
		return PROV_WORKER_ERR_CRASH;
	}
	assert(WIFSIGNALED(status));
	rep->signal = WTERMSIG(status);
	switch (rep->signal) {
	case SIGSYS:
		return PROV_WORKER_ERR_SECCOMP;
	case SIGXCPU:
		return PROV_WORKER_ERR_CPU;
	case SIGXFSZ:
		return PROV_WORKER_ERR_FSIZE;
	case SIGKILL:
		/* Not ours: the kernel at the hard CPU limit, or the OOM
		 * killer.  The CPU time used tells them apart. */
		if ((uint64_t)ru->ru_utime.tv_sec + (uint64_t)ru->ru_stime.tv_sec >= lim->cpu_s)
			return PROV_WORKER_ERR_CPU;
		return PROV_WORKER_ERR_CRASH;
	default:
		return PROV_WORKER_ERR_CRASH;
	}
}

/* Reads and checks scratch/out.safetensors into *out. */
static enum prov_worker_err collect(uint8_t **out, size_t *out_len,
				    const char *path, uint64_t max_bytes)
{
	struct kern_tensors check;
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd;
	enum prov_worker_err rc = PROV_WORKER_ERR_OUTPUT;

	kern_tensors_init(&check);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		goto out;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > max_bytes)
		goto out;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		goto out;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		got += (size_t)n;
	}
	/* The worker ran untrusted input: parse what it wrote before
	 * anyone commits to it. */
	if (kern_st_parse(&check, NULL, buf, got) != KERN_OK)
		goto out;
	*out = buf;
	*out_len = got;
	buf = NULL;
	rc = PROV_WORKER_OK;
out:
	kern_tensors_release(&check);
	free(buf);
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

enum prov_worker_err prov_worker_run(uint8_t **out, size_t *out_len,
				     struct prov_worker_report *rep,
				     const struct prov_worker_job *job)
{
	struct prov_worker_limits lim;
	struct rusage ru;
	struct stat st;
	char scratch[PROV_WORKER_PATH_BYTES];
	char out_path[PROV_WORKER_PATH_BYTES + sizeof("/" OUT_NAME)];
	int in_fd = -1, have_scratch = 0, timed_out = 0, status = 0, n;
	uint64_t start_ms;
	pid_t pid;
	enum prov_worker_err rc;

	if (!out || !out_len || !rep)
		return PROV_WORKER_ERR_ARG;
	*out = NULL;
	*out_len = 0;
	memset(rep, 0, sizeof(*rep));
	rep->exit_code = -1;
	rep->kern = KERN_OK;
	memset(&ru, 0, sizeof(ru));
	rc = PROV_WORKER_ERR_ARG;
	if (!job || !job->kernel || !job->params || !job->in_path ||
	    !job->scratch_base || job->params_len > KERN_PARAMS_BYTES_MAX) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: invalid job");
		goto out;
	}
	rc = fill_limits(&lim, job->limits);
	if (rc) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: limit out of range");
		goto out;
	}
	n = snprintf(scratch, sizeof(scratch), "%s/prov-XXXXXX", job->scratch_base);
	if (n < 0 || (size_t)n >= sizeof(scratch)) {
		rc = PROV_WORKER_ERR_ARG;
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: scratch path too long");
		goto out;
	}
	rc = PROV_WORKER_ERR_SETUP;
	in_fd = open(job->in_path, O_RDONLY | O_CLOEXEC);
	if (in_fd < 0 || fstat(in_fd, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size > KERN_JOB_BYTES_MAX) {
		(void)snprintf(rep->msg, sizeof(rep->msg),
			       "worker: could not open input (or over %llu bytes)",
			       (unsigned long long)KERN_JOB_BYTES_MAX);
		goto out;
	}
	if (!mkdtemp(scratch)) {
		(void)snprintf(rep->msg, sizeof(rep->msg),
			       "worker: could not make a scratch directory: %s",
			       strerror(errno));
		goto out;
	}
	have_scratch = 1;
	(void)snprintf(out_path, sizeof(out_path), "%s/%s", scratch, OUT_NAME);

	start_ms = now_ms();
	pid = fork();
	if (pid < 0) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: fork: %s",
			       strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_main(job, &lim, in_fd, (size_t)st.st_size, scratch);
	/* Also from this side, so that a kill right away reaches the group. */
	(void)setpgid(pid, pid);
	if (reap(&status, &timed_out, &ru, pid, start_ms, lim.wall_ms)) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: could not wait for pid %ld: %s",
			       (long)pid, strerror(errno));
		goto out;
	}
	rep->wall_ms = now_ms() - start_ms;
	rc = classify(rep, status, timed_out, &ru, &lim);
	if (rc == PROV_WORKER_OK)
		rc = collect(out, out_len, out_path, lim.out_bytes_max);
	if (rc == PROV_WORKER_ERR_KERNEL || rc == PROV_WORKER_ERR_NOMEM)
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: %s: %s",
			       prov_worker_strerror(rc), kern_strerror(rep->kern));
	else if (rep->signal)
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: %s (signal %d)",
			       prov_worker_strerror(rc), rep->signal);
	else
		(void)snprintf(rep->msg, sizeof(rep->msg), "worker: %s",
			       prov_worker_strerror(rc));
out:
	if (have_scratch) {
		/* The worker can create nothing else there once filtered. */
		(void)unlink(out_path);
		(void)rmdir(scratch);
	}
	if (in_fd >= 0)
		(void)close(in_fd);
	rep->err = rc;
	assert(rc == PROV_WORKER_OK || (*out == NULL && *out_len == 0));
	assert(rc != PROV_WORKER_OK || *out != NULL);
	return rc;
}
