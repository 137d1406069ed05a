/*
 * exec.c: exec mode (sbx_use_worker in sandbox.h).  The parent writes
 * the job into a sealed memfd, forks, and the child only moves two
 * descriptors and execs the assay-worker binary; the worker maps the
 * job and goes on as a forked child would (sbx_child_main).
 *
 * Why: after a fork, a multithreaded process may only call
 * async-signal-safe functions until it execs.  Another thread can hold
 * any lock at the moment of the fork, and the child keeps it held for
 * ever: glibc's malloc resets its own locks, but ASan's allocator (GCC
 * 12's libasan has no fork handler), stdio's and every library's do
 * not, and a worker allocates and starts threads.  A worker stuck that
 * way sits until the wall-clock limit.  An exec'd worker also starts
 * with none of the caller's memory: no keys to wipe.
 *
 * Invariants:
 * - between fork and execve the child calls only async-signal-safe
 *   functions (setpgid, prctl, fcntl, dup2, close_range, execve, _exit) on
 *   values prepared before the fork;
 * - the worker checks every length of the job file against the file's
 *   size and the sandbox's bounds before it uses one;
 * - a worker of another build (another wire version) refuses the job
 *   with SBX_EXIT_JOBFILE instead of misreading it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assay_assert.h"
#include "sbx_internal.h"
#include "banned.h"

extern char **environ;

/* The worker binary of exec mode; empty in fork mode. */
static char worker_path[SBX_PATH_BYTES];

#define SBX_WIRE_MAGIC 0x41535357u /* "WSSA" */
#define SBX_WIRE_VERSION 2u
#define SBX_KERNEL_NAME_MAX 128u

/* The job file: this header, then the kernel name, the params and the
 * scratch path (each NUL-terminated), then the input.  Native byte
 * order: the file never leaves the machine that wrote it. */
struct sbx_wire {
	uint32_t magic;
	uint32_t version;
	uint32_t header_bytes;
	uint32_t probe;
	uint32_t skip;
	uint32_t mode;
	struct sbx_limits lim;
	uint64_t kernel_len;
	uint64_t params_len;
	uint64_t scratch_len;
	uint64_t in_len;
	uint64_t model_len;       /* 0: no model; else mapped from fd 5 */
};

int sbx_use_worker(const char *path, char *why, size_t why_len)
{
	struct stat st;

	ASSAY_ASSERT(why && why_len > 0);
	why[0] = '\0';
	if (!path || path[0] != '/' || strlen(path) >= sizeof(worker_path)) {
		(void)snprintf(why, why_len, "the worker's path must be absolute and under %u bytes",
			       SBX_PATH_BYTES);
		return -1;
	}
	if (stat(path, &st) || !S_ISREG(st.st_mode) || access(path, X_OK)) {
		(void)snprintf(why, why_len, "no executable worker at %.200s: %s", path,
			       errno ? strerror(errno) : "not a regular file");
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		(void)snprintf(why, why_len, "the worker %.200s is writable by others: refused", path);
		return -1;
	}
	(void)snprintf(worker_path, sizeof(worker_path), "%s", path);
	return 0;
}

int sbx_use_worker_beside_self(char *why, size_t why_len)
{
	char self[SBX_PATH_BYTES], path[SBX_PATH_BYTES + sizeof(SBX_WORKER_NAME)];
	const char *env = getenv("ASSAY_WORKER");
	char *slash;
	ssize_t n;

	ASSAY_ASSERT(why && why_len > 0);
	if (env && env[0])
		return sbx_use_worker(env, why, why_len);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
		(void)snprintf(why, why_len, "could not read /proc/self/exe: %s",
			       n < 0 ? strerror(errno) : "path too long");
		return -1;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	ASSAY_ASSERT(slash != NULL);
	*slash = '\0';
	(void)snprintf(path, sizeof(path), "%s/%s", self, SBX_WORKER_NAME);
	return sbx_use_worker(path, why, why_len);
}

int sbx_exec_mode(void)
{
	return worker_path[0] != '\0';
}

void sbx_use_fork_for_tests(void)
{
	worker_path[0] = '\0';
}

static int write_all_fd(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;

	while (len) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The job file of one run, sealed against change; -1 with errno. */
int sbx_job_file(const struct sbx_child *c)
{
	const struct sbx_job *job = c->job;
	struct sbx_wire w;
	int fd, saved;

	memset(&w, 0, sizeof(w));
	w.magic = SBX_WIRE_MAGIC;
	w.version = SBX_WIRE_VERSION;
	w.header_bytes = (uint32_t)sizeof(w);
	w.probe = (uint32_t)c->probe;
	w.skip = c->skip;
	w.mode = (uint32_t)job->mode;
	w.lim = *c->lim;
	w.kernel_len = strlen(job->kernel);
	w.params_len = job->params_len;
	w.scratch_len = strlen(c->scratch);
	w.in_len = job->in_len;
	w.model_len = c->model_len;
	fd = memfd_create("assay-job", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	if (write_all_fd(fd, &w, sizeof(w)) ||
	    write_all_fd(fd, job->kernel, w.kernel_len + 1) ||
	    write_all_fd(fd, job->params, w.params_len) || write_all_fd(fd, "", 1) ||
	    write_all_fd(fd, c->scratch, w.scratch_len + 1) ||
	    (w.in_len && write_all_fd(fd, job->in, w.in_len)) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) {
		saved = errno ? errno : EIO;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* In the fork of a (maybe multithreaded) caller: async-signal-safe
 * calls only.  The job file becomes fd 3, the report pipe fd 4 and the
 * model (when there is one) fd 5. */
void sbx_exec_child(int job_fd, int report_fd, int model_fd)
{
	static char *const argv[] = { (char *)SBX_WORKER_NAME, NULL };
	int j, r, m = -1;

	if (setpgid(0, 0) || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
		_exit(SBX_EXIT_EXEC);
	j = fcntl(job_fd, F_DUPFD, SBX_FD_MODEL + 1);
	r = fcntl(report_fd, F_DUPFD, SBX_FD_MODEL + 1);
	if (model_fd >= 0 && (m = fcntl(model_fd, F_DUPFD, SBX_FD_MODEL + 1)) < 0)
		_exit(SBX_EXIT_EXEC);
	if (j < 0 || r < 0 || dup2(j, SBX_FD_JOB) != SBX_FD_JOB ||
	    dup2(r, SBX_FD_REPORT) != SBX_FD_REPORT ||
	    (m >= 0 && dup2(m, SBX_FD_MODEL) != SBX_FD_MODEL) ||
	    close_range(m >= 0 ? SBX_FD_MODEL + 1 : SBX_FD_REPORT + 1, ~0u, 0))
		_exit(SBX_EXIT_EXEC);
	(void)execve(worker_path, argv, environ);
	_exit(SBX_EXIT_EXEC);
}

/* ------------------------------------------------------------------ */
/* The worker's side                                                    */

/* The `len` bytes at *off, NUL-terminated in the file; a string (no
 * NUL inside) unless `blob`. */
static const char *take_string(const uint8_t *base, size_t size, size_t *off, uint64_t len,
			       int blob)
{
	const char *s;

	if (len >= size || *off > size - len - 1 || base[*off + len] != '\0')
		return NULL;
	s = (const char *)(base + *off);
	if (!blob && memchr(s, '\0', (size_t)len))
		return NULL;
	*off += (size_t)len + 1;
	return s;
}

static int wire_ok(const struct sbx_wire *w, size_t size)
{
	struct sbx_limits lim;

	if (size < sizeof(*w) || w->magic != SBX_WIRE_MAGIC || w->version != SBX_WIRE_VERSION ||
	    w->header_bytes != sizeof(*w))
		return 0;
	if (w->kernel_len >= SBX_KERNEL_NAME_MAX || w->params_len > KERN_PARAMS_BYTES_MAX ||
	    w->scratch_len >= SBX_PATH_BYTES || w->in_len > KERN_JOB_BYTES_MAX ||
	    w->model_len > KERN_MODEL_BYTES_MAX ||
	    (w->mode != SBX_BEST_EFFORT && w->mode != SBX_STRICT) || w->probe > 1)
		return 0;
	return sbx_limits_fill(&lim, &w->lim) == SBX_OK &&
	       memcmp(&lim, &w->lim, sizeof(lim)) == 0;
}

/* Maps the model on fd 5 (model_len bytes), then closes the fd. */
static int load_model(struct sbx_child *c, uint64_t model_len)
{
	struct stat st;
	void *map;

	if (fstat(SBX_FD_MODEL, &st) || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != model_len)
		return -1;
	map = mmap(NULL, (size_t)model_len, PROT_READ, MAP_PRIVATE, SBX_FD_MODEL, 0);
	if (map == MAP_FAILED)
		return -1;
	(void)close(SBX_FD_MODEL);
	c->model_map = map;
	c->model_len = model_len;
	return 0;
}

/* Reads the job file on fd 3 into job, lim and c; 0, or -1 when it is
 * not a job file of this build. */
static int load_job(struct sbx_job *job, struct sbx_limits *lim, struct sbx_child *c)
{
	struct sbx_wire w;
	struct stat st;
	const uint8_t *base;
	size_t size, off = sizeof(w);

	if (fstat(SBX_FD_JOB, &st) || st.st_size < (off_t)sizeof(w))
		return -1;
	size = (size_t)st.st_size;
	base = mmap(NULL, size, PROT_READ, MAP_PRIVATE, SBX_FD_JOB, 0);
	if (base == MAP_FAILED)
		return -1;
	(void)close(SBX_FD_JOB);
	memcpy(&w, base, sizeof(w));
	if (!wire_ok(&w, size))
		return -1;
	memset(job, 0, sizeof(*job));
	job->kernel = take_string(base, size, &off, w.kernel_len, 0);
	job->params = (const char *)(base + off);
	if (!job->kernel || !take_string(base, size, &off, w.params_len, 1))
		return -1;
	job->params_len = (size_t)w.params_len;
	c->scratch = take_string(base, size, &off, w.scratch_len, 0);
	if (!c->scratch || size - off != w.in_len)
		return -1;
	c->model_fd = -1;
	if (w.model_len && load_model(c, w.model_len))
		return -1;
	job->in = w.in_len ? base + off : NULL;
	job->in_len = (size_t)w.in_len;
	job->mode = (enum sbx_mode)w.mode;
	*lim = w.lim;
	c->job = job;
	c->lim = lim;
	c->report_fd = SBX_FD_REPORT;
	c->probe = (int)w.probe;
	c->skip = w.skip;
	return 0;
}

void sbx_worker_main(void)
{
	struct sbx_job job;
	struct sbx_limits lim;
	struct sbx_child c;
	sigset_t none;

	/* The caller's thread may have blocked signals (the daemons block
	 * SIGINT and SIGTERM); the worker starts with none blocked. */
	(void)sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	memset(&c, 0, sizeof(c));
	if (load_job(&job, &lim, &c)) {
		/* Ours, before any job byte is used: the daemon's log may
		 * have it. */
		fprintf(stderr, "assay-worker: fd %d holds no job file of this build (the daemons "
				"start this program: docs/sandbox.md)\n", SBX_FD_JOB);
		_exit(SBX_EXIT_JOBFILE);
	}
	sbx_child_main(&c);
}
