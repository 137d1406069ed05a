/*
 * sandbox.c: the parent side of sbx_run (see sandbox.h); the worker's
 * side is child.c.
 *
 * Invariants:
 * - the child never returns into the caller's code (sbx_child_main
 *   ends in _exit on every path);
 * - the parent reaps exactly the child it forked, kills its whole process
 *   group on timeout and removes the scratch directory on every path;
 * - the output is parsed by the parent before anyone can commit to it.
 *
 * A forked child runs the worker in place only in fork mode, meant for
 * single-threaded callers (tools, tests, benches); a multithreaded
 * caller uses exec mode (exec.c), whose child execs at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "assay_assert.h"
#include "sbx_internal.h"
#include "banned.h"

_Static_assert(SBX_THREADS_MAX <= KERN_THREADS_MAX,
	       "the sandbox allows more threads than the kernels take");

static unsigned test_skip;

void sbx_test_skip(unsigned skip)
{
	test_skip = skip;
}

static const char *const err_str[SBX_ERR_COUNT_] = {
	[SBX_OK] = "ok",
	[SBX_ERR_ARG] = "invalid argument",
	[SBX_ERR_SETUP] = "could not start the worker",
	[SBX_ERR_SANDBOX] = "worker could not set up its sandbox",
	[SBX_ERR_KERNEL] = "kernel refused the input",
	[SBX_ERR_SECCOMP] = "worker killed by the seccomp filter",
	[SBX_ERR_NOMEM] = "worker ran out of memory",
	[SBX_ERR_CPU] = "worker exceeded its cpu time limit",
	[SBX_ERR_TIMEOUT] = "worker exceeded its wall-clock limit",
	[SBX_ERR_FSIZE] = "worker output exceeded its size limit",
	[SBX_ERR_CRASH] = "worker crashed",
	[SBX_ERR_OUTPUT] = "worker output missing or malformed",
};

static const char *const err_name[SBX_ERR_COUNT_] = {
	[SBX_OK] = "ok",
	[SBX_ERR_ARG] = "arg",
	[SBX_ERR_SETUP] = "setup",
	[SBX_ERR_SANDBOX] = "sandbox",
	[SBX_ERR_KERNEL] = "kernel",
	[SBX_ERR_SECCOMP] = "seccomp",
	[SBX_ERR_NOMEM] = "nomem",
	[SBX_ERR_CPU] = "cpu",
	[SBX_ERR_TIMEOUT] = "timeout",
	[SBX_ERR_FSIZE] = "fsize",
	[SBX_ERR_CRASH] = "crash",
	[SBX_ERR_OUTPUT] = "output",
};

const char *sbx_strerror(enum sbx_err err)
{
	if ((unsigned)err >= SBX_ERR_COUNT_ || !err_str[err])
		return "unknown error";
	return err_str[err];
}

const char *sbx_errname(enum sbx_err err)
{
	if ((unsigned)err >= SBX_ERR_COUNT_ || !err_name[err])
		return "unknown";
	return err_name[err];
}

/* ------------------------------------------------------------------ */
/* Parent                                                               */

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

enum sbx_err sbx_limits_fill(struct sbx_limits *lim, const struct sbx_limits *given)
{
	if (given)
		*lim = *given;
	else
		memset(lim, 0, sizeof(*lim));
	if (!lim->mem_bytes)
		lim->mem_bytes = SBX_MEM_BYTES_DEFAULT;
	if (!lim->cpu_s)
		lim->cpu_s = SBX_CPU_S_DEFAULT;
	if (!lim->wall_ms)
		lim->wall_ms = SBX_WALL_MS_DEFAULT;
	if (!lim->out_bytes_max)
		lim->out_bytes_max = SBX_OUT_BYTES_MAX;
	if (!lim->threads)
		lim->threads = SBX_THREADS_DEFAULT;
	if (lim->mem_bytes < SBX_MEM_BYTES_MIN ||
	    lim->mem_bytes > SBX_MEM_BYTES_MAX ||
	    lim->cpu_s > SBX_CPU_S_MAX ||
	    lim->wall_ms > SBX_WALL_MS_MAX ||
	    lim->out_bytes_max > SBX_OUT_BYTES_MAX ||
	    lim->threads > SBX_THREADS_MAX)
		return SBX_ERR_ARG;
	return SBX_OK;
}

/* Waits for pid, killing its group at the deadline.  0 and *status, or
 * -1 when the child cannot be waited for (SIGCHLD ignored, or reaped by
 * someone else); *timed_out says whether the parent killed it. */
static int reap(int *status, int *timed_out, struct rusage *ru, pid_t pid,
		uint64_t start_ms, unsigned wall_ms)
{
	const struct timespec tick = { 0, (long)SBX_POLL_MS * 1000000L };
	pid_t r;

	ASSAY_ASSERT(pid > 0);
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

static enum sbx_err classify(struct sbx_report *rep, int status,
				     int timed_out, const struct rusage *ru,
				     const struct sbx_limits *lim)
{
	if (timed_out) {
		rep->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		return SBX_ERR_TIMEOUT;
	}
	if (WIFEXITED(status)) {
		int code = WEXITSTATUS(status);

		rep->exit_code = code;
		if (code == 0)
			return SBX_OK;
		if (code == SBX_EXIT_SANDBOX || code == SBX_EXIT_STRICT)
			return SBX_ERR_SANDBOX;
		if (code == SBX_EXIT_CPU)
			return SBX_ERR_CPU;
		if (code == SBX_EXIT_FSIZE)
			return SBX_ERR_FSIZE;
		if (code == SBX_EXIT_EXEC || code == SBX_EXIT_JOBFILE)
			return SBX_ERR_SETUP;
		if (code > SBX_EXIT_KERN_BASE && code < SBX_EXIT_KERN_BASE + KERN_ERR_COUNT_) {
			rep->kern = (enum kern_err)(code - SBX_EXIT_KERN_BASE);
			return rep->kern == KERN_ERR_NOMEM ? SBX_ERR_NOMEM
							   : SBX_ERR_KERNEL;
		}
		return SBX_ERR_CRASH;
	}
	ASSAY_ASSERT(WIFSIGNALED(status));
	rep->signal = WTERMSIG(status);
	switch (rep->signal) {
	case SIGSYS:
		return SBX_ERR_SECCOMP;
	case SIGXCPU:
		return SBX_ERR_CPU;
	case SIGXFSZ:
		return SBX_ERR_FSIZE;
	case SIGKILL:
		/* Not ours: the kernel at the hard CPU limit, or the OOM
		 * killer.  The CPU time used tells them apart. */
		if ((uint64_t)ru->ru_utime.tv_sec + (uint64_t)ru->ru_stime.tv_sec >= lim->cpu_s)
			return SBX_ERR_CPU;
		return SBX_ERR_CRASH;
	default:
		return SBX_ERR_CRASH;
	}
}

/* Reads and checks scratch/out.safetensors into *out. */
static enum sbx_err collect(uint8_t **out, size_t *out_len,
				    const char *path, uint64_t max_bytes)
{
	struct kern_tensors check;
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int fd;
	enum sbx_err rc = SBX_ERR_OUTPUT;

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
	rc = SBX_OK;
out:
	kern_tensors_release(&check);
	free(buf);
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

/* What the worker wrote on its report pipe before its filter: the
 * missing layers.  Nothing (a worker that died before) is all of them. */
static unsigned read_missing(int fd)
{
	unsigned missing = SBX_LAYERS_ALL;
	ssize_t n;

	do {
		n = read(fd, &missing, sizeof(missing));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(missing) || (missing & ~SBX_LAYERS_ALL))
		return SBX_LAYERS_ALL;
	return missing;
}

static void describe(struct sbx_report *rep, enum sbx_err rc)
{
	char names[128];

	if (rc == SBX_ERR_KERNEL || rc == SBX_ERR_NOMEM)
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: %s: %s",
			       sbx_strerror(rc), kern_strerror(rep->kern));
	else if (rc == SBX_ERR_SETUP && rep->exit_code == SBX_EXIT_EXEC)
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: could not exec the worker binary");
	else if (rc == SBX_ERR_SETUP && rep->exit_code == SBX_EXIT_JOBFILE)
		(void)snprintf(rep->msg, sizeof(rep->msg),
			       "sandbox: the worker refused its job file (a worker of another build?)");
	else if (rep->exit_code == SBX_EXIT_STRICT) {
		sbx_layers_format(names, sizeof(names), rep->missing);
		(void)snprintf(rep->msg, sizeof(rep->msg),
			       "sandbox: strict: layers refused by this kernel: %s", names);
	} else if (rep->signal)
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: %s (signal %d)",
			       sbx_strerror(rc), rep->signal);
	else
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: %s", sbx_strerror(rc));
}

/* Forks the worker: the child runs it (fork mode) or execs it (exec
 * mode, after the job file is written).  Its pid, or -1 with rep->msg. */
static pid_t start_worker(struct sbx_report *rep, struct sbx_child *c)
{
	int job_fd = -1, saved;
	pid_t pid;

	if (sbx_exec_mode()) {
		job_fd = sbx_job_file(c);
		if (job_fd < 0) {
			(void)snprintf(rep->msg, sizeof(rep->msg),
				       "sandbox: could not write the job file: %s", strerror(errno));
			return -1;
		}
	}
	pid = fork();
	if (pid == 0) {
		if (job_fd >= 0)
			sbx_exec_child(job_fd, c->report_fd, c->model_fd);
		sbx_child_main(c);
	}
	saved = errno;
	if (job_fd >= 0)
		(void)close(job_fd);
	if (pid < 0)
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: fork: %s", strerror(saved));
	return pid;
}

/* Forks the worker on a prepared scratch directory, waits for it and
 * classifies its end.  On SBX_OK (and not a probe) *out holds the
 * checked output. */
static enum sbx_err fork_and_wait(uint8_t **out, size_t *out_len, struct sbx_report *rep,
				  struct sbx_child *c, const char *out_path)
{
	struct rusage ru;
	int pipe_fds[2], timed_out = 0, status = 0;
	uint64_t start_ms;
	pid_t pid;
	enum sbx_err rc;

	memset(&ru, 0, sizeof(ru));
	if (pipe2(pipe_fds, O_CLOEXEC)) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: pipe: %s", strerror(errno));
		return SBX_ERR_SETUP;
	}
	c->report_fd = pipe_fds[1];
	start_ms = now_ms();
	pid = start_worker(rep, c);
	(void)close(pipe_fds[1]);
	if (pid < 0) {
		(void)close(pipe_fds[0]);
		return SBX_ERR_SETUP;
	}
	/* Also from this side, so that a kill right away reaches the group. */
	(void)setpgid(pid, pid);
	if (reap(&status, &timed_out, &ru, pid, start_ms, c->lim->wall_ms)) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: could not wait for pid %ld: %s",
			       (long)pid, strerror(errno));
		(void)close(pipe_fds[0]);
		return SBX_ERR_SETUP;
	}
	rep->wall_ms = now_ms() - start_ms;
	rep->missing = read_missing(pipe_fds[0]);
	(void)close(pipe_fds[0]);
	rc = classify(rep, status, timed_out, &ru, c->lim);
	if (rc == SBX_OK && !c->probe)
		rc = collect(out, out_len, out_path, c->lim->out_bytes_max);
	describe(rep, rc);
	return rc;
}

static enum sbx_err check_job(struct sbx_report *rep, const struct sbx_job *job)
{
	if (!job || !job->kernel || !job->params || (!job->in && job->in_len) ||
	    !job->scratch_base || job->params_len > KERN_PARAMS_BYTES_MAX ||
	    job->wipe_len > SBX_WIPE_MAX || (job->wipe_len && !job->wipe) ||
	    (job->mode != SBX_BEST_EFFORT && job->mode != SBX_STRICT) ||
	    (job->test_hook && sbx_exec_mode())) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: invalid job");
		return SBX_ERR_ARG;
	}
	if ((uint64_t)job->in_len > KERN_JOB_BYTES_MAX) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: input over %llu bytes",
			       (unsigned long long)KERN_JOB_BYTES_MAX);
		return SBX_ERR_ARG;
	}
	return SBX_OK;
}

/* The job's model file (path NULL: none), opened for the worker. */
static enum sbx_err open_model(struct sbx_report *rep, struct sbx_child *c, const char *path)
{
	struct stat st;

	if (path == NULL)
		return SBX_OK;
	c->model_fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (c->model_fd < 0 || fstat(c->model_fd, &st) || !S_ISREG(st.st_mode)) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: model file: %s",
			       c->model_fd < 0 ? strerror(errno) : "not a regular file");
		return SBX_ERR_SETUP;
	}
	if ((uint64_t)st.st_size > KERN_MODEL_BYTES_MAX || st.st_size < 8) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: model file of %lld bytes, "
			       "not in [8, %llu]", (long long)st.st_size, KERN_MODEL_BYTES_MAX);
		return SBX_ERR_ARG;
	}
	c->model_len = (uint64_t)st.st_size;
	return SBX_OK;
}

/* One worker, probe or job, in a scratch directory of its own. */
static enum sbx_err run_child(uint8_t **out, size_t *out_len, struct sbx_report *rep,
			      const struct sbx_job *job, int probe)
{
	struct sbx_limits lim;
	struct sbx_child c;
	char scratch[SBX_PATH_BYTES];
	char out_path[SBX_PATH_BYTES + sizeof("/" SBX_OUT_NAME)];
	int n;
	enum sbx_err rc;

	rc = sbx_limits_fill(&lim, job->limits);
	if (rc) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: limit out of range");
		return rc;
	}
	n = snprintf(scratch, sizeof(scratch), "%s/sbx-XXXXXX", job->scratch_base);
	if (n < 0 || (size_t)n >= sizeof(scratch)) {
		(void)snprintf(rep->msg, sizeof(rep->msg), "sandbox: scratch path too long");
		return SBX_ERR_ARG;
	}
	if (!mkdtemp(scratch)) {
		(void)snprintf(rep->msg, sizeof(rep->msg),
			       "sandbox: could not make a scratch directory: %s", strerror(errno));
		return SBX_ERR_SETUP;
	}
	(void)snprintf(out_path, sizeof(out_path), "%s/%s", scratch, SBX_OUT_NAME);
	memset(&c, 0, sizeof(c));
	c.job = job;
	c.lim = &lim;
	c.scratch = scratch;
	c.probe = probe;
	c.skip = test_skip;
	c.model_fd = -1;
	rc = open_model(rep, &c, probe ? NULL : job->model_path);
	if (rc == SBX_OK)
		rc = fork_and_wait(out, out_len, rep, &c, out_path);
	if (c.model_fd >= 0)
		(void)close(c.model_fd);
	/* The worker can create nothing else there once filtered, and its
	 * mount on the directory went with its mount namespace. */
	(void)unlink(out_path);
	(void)rmdir(scratch);
	return rc;
}

enum sbx_err sbx_run(uint8_t **out, size_t *out_len, struct sbx_report *rep,
		     const struct sbx_job *job)
{
	enum sbx_err rc;

	if (!out || !out_len || !rep)
		return SBX_ERR_ARG;
	*out = NULL;
	*out_len = 0;
	memset(rep, 0, sizeof(*rep));
	rep->exit_code = -1;
	rep->kern = KERN_OK;
	rc = check_job(rep, job);
	if (rc == SBX_OK)
		rc = run_child(out, out_len, rep, job, 0);
	rep->err = rc;
	ASSAY_ASSERT(rc == SBX_OK || (*out == NULL && *out_len == 0));
	ASSAY_ASSERT(rc != SBX_OK || *out != NULL);
	return rc;
}

int sbx_probe(unsigned *missing, struct sbx_report *rep, const char *scratch_base)
{
	struct sbx_job job;
	uint8_t *out = NULL;
	size_t out_len = 0;
	enum sbx_err rc;

	if (!missing || !rep || !scratch_base)
		return -1;
	memset(rep, 0, sizeof(*rep));
	rep->exit_code = -1;
	memset(&job, 0, sizeof(job));
	job.kernel = "";
	job.params = "";
	job.scratch_base = scratch_base;
	rc = run_child(&out, &out_len, rep, &job, 1);
	rep->err = rc;
	ASSAY_ASSERT(out == NULL);
	*missing = rep->missing;
	return rc == SBX_OK ? 0 : -1;
}

static const char *const layer_names[SBX_LAYER_COUNT_] = {
	"userns", "mntns", "pidns", "ipcns", "utsns", "netns", "landlock",
};

const char *sbx_layer_name(unsigned layer_bit)
{
	unsigned i;

	for (i = 0; i < SBX_LAYER_COUNT_; i++)
		if (layer_bit == 1u << i)
			return layer_names[i];
	return "unknown";
}

void sbx_layers_format(char *buf, size_t buf_len, unsigned mask)
{
	size_t used = 0;
	unsigned i;
	int n;

	ASSAY_ASSERT(buf && buf_len > 0);
	buf[0] = '\0';
	for (i = 0; i < SBX_LAYER_COUNT_; i++) {
		if (!(mask & (1u << i)))
			continue;
		n = snprintf(buf + used, buf_len - used, "%s%s", used ? "," : "", layer_names[i]);
		if (n < 0 || (size_t)n >= buf_len - used) {
			buf[used] = '\0';   /* whole names only */
			return;
		}
		used += (size_t)n;
	}
}

int sbx_mode_parse(enum sbx_mode *out, const char *s)
{
	ASSAY_ASSERT(out != NULL);
	if (!s || strcmp(s, "best-effort") == 0)
		*out = SBX_BEST_EFFORT;
	else if (strcmp(s, "strict") == 0)
		*out = SBX_STRICT;
	else
		return -1;
	return 0;
}

int sbx_device_select(char device[KERN_DEVICE_BYTES], char *why, size_t why_len,
		      const char *flag)
{
	char cuda[KERN_DEVICE_BYTES] = "";
	enum kern_device d = KERN_DEVICE_AUTO;

	ASSAY_ASSERT(device && why && why_len > 0);
	why[0] = '\0';
	(void)snprintf(device, KERN_DEVICE_BYTES, "cpu");
	if (flag && kern_device_parse(&d, flag) != KERN_OK) {
		(void)snprintf(why, why_len, "could not parse --device '%.40s': want auto, cpu or cuda",
			       flag);
		return -1;
	}
	if (d == KERN_DEVICE_CPU)
		return 0;
	/* In the daemon, never in a worker: CUDA's start opens device files
	 * that the worker's filter would kill it for. */
	if (!kern_cuda_available(cuda)) {
		if (d == KERN_DEVICE_CUDA) {
			(void)snprintf(why, why_len, "--device cuda: no CUDA device on this machine "
				       "(or this build has no CUDA)");
			return -1;
		}
		return 0;
	}
	if (d == KERN_DEVICE_CUDA) {
		(void)snprintf(why, why_len, "--device cuda: %s found, but there is no GPU worker yet "
			       "(docs/sandbox.md)", cuda);
		return -1;
	}
	(void)snprintf(why, why_len, "%s found, but there is no GPU worker yet: jobs run on the cpu",
		       cuda);
	return 0;
}
