/*
 * child.c: the worker side of sbx_run (see sandbox.h for the layers and
 * docs/sandbox.md for why each is there).
 *
 * Invariants:
 * - every path ends in _exit: no atexit handlers, no LeakSanitizer pass,
 *   no Criterion hooks, no stdio flush of the parent's buffers;
 * - the worker is single-threaded until the filter is loaded, so that
 *   unshare(CLONE_NEWUSER) is allowed and nothing another thread holds
 *   matters (glibc's fork resets malloc's locks);
 * - the filter is the last layer and comes after every file the worker
 *   will ever use is open; the job's bytes are not parsed before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <pthread.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "assay_assert.h"
#include "sbx_internal.h"
#include "banned.h"

/* The flags glibc's pthread_create passes to clone: the only clone the
 * filter allows.  A fork, or a thread in new namespaces, differs. */
#define SBX_THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SYSVSEM | \
			  CLONE_SIGHAND | CLONE_THREAD | CLONE_SETTLS |       \
			  CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID)

/* Landlock file system rights by ABI: v1 has bits 0-12, v2 adds REFER
 * (13), v3 TRUNCATE (14), v5 IOCTL_DEV (15).  Spelled as numbers: the
 * Debian 12 headers stop at v2. */
#define SBX_LL_FS_V1 ((1ull << 13) - 1)
#define SBX_LL_FS_V2 ((1ull << 14) - 1)
#define SBX_LL_FS_V3 ((1ull << 15) - 1)
#define SBX_LL_FS_V5 ((1ull << 16) - 1)

__attribute__((noreturn)) static void die(int code)
{
	_exit(code);
}

static int set_limit(int res, rlim_t soft, rlim_t hard)
{
	struct rlimit rl = { .rlim_cur = soft, .rlim_max = hard };
	return setrlimit(res, &rl);
}

/*
 * RLIMIT_NPROC counts tasks per user per user namespace: inside the
 * worker's own user namespace it counts the job's threads and nothing
 * else of the machine, so it is the thread limit (one more for the
 * pid namespace's waiting parent, which shares the namespace).  Without
 * a user namespace it counts every process of the daemon's uid: a
 * multithreaded job then gets no limit but the kernel's thread option,
 * and a single-threaded one 0 as before.
 */
static int apply_rlimits(const struct sbx_limits *lim, unsigned missing)
{
	rlim_t nproc = lim->threads + ((missing & SBX_LAYER_PIDNS) ? 0u : 1u);

	if (!SBX_ASAN &&
	    set_limit(RLIMIT_AS, (rlim_t)lim->mem_bytes, (rlim_t)lim->mem_bytes))
		return -1;
	if (set_limit(RLIMIT_CPU, lim->cpu_s, lim->cpu_s + SBX_CPU_GRACE_S) ||
	    set_limit(RLIMIT_FSIZE, (rlim_t)lim->out_bytes_max,
		      (rlim_t)lim->out_bytes_max) ||
	    set_limit(RLIMIT_NOFILE, SBX_NOFILE, SBX_NOFILE) ||
	    set_limit(RLIMIT_CORE, 0, 0))
		return -1;
	if (missing & SBX_LAYER_USERNS)
		nproc = lim->threads > 1 ? RLIM_INFINITY : 0;
	if (nproc != RLIM_INFINITY && set_limit(RLIMIT_NPROC, nproc, nproc))
		return -1;
	return 0;
}

/* As root: nobody, no supplementary groups, and with that no
 * capability on the machine.  After this no file of the machine is the
 * worker's but what "other" may touch.  Root can always do this: a
 * failure is no layer to go without (a user namespace made by root
 * would map root). */
static void drop_uid(void)
{
	if (geteuid() != 0)
		return;
	if (setgroups(0, NULL) || setresgid(SBX_DROP_GID, SBX_DROP_GID, SBX_DROP_GID) ||
	    setresuid(SBX_DROP_UID, SBX_DROP_UID, SBX_DROP_UID) || geteuid() == 0)
		die(SBX_EXIT_SANDBOX);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (write(fd, text, len) == (ssize_t)len)
		rc = 0;
	(void)close(fd);
	return rc;
}

/* A user namespace in which the worker is uid 0 mapped onto its own
 * (unprivileged) uid: it owns its other namespaces without any right
 * on the machine. */
static unsigned enter_userns(void)
{
	char map[64];
	uid_t uid = geteuid();
	gid_t gid = getegid();
	int ok;

	if (unshare(CLONE_NEWUSER))
		return SBX_LAYER_USERNS;
	/* setuid made the process non-dumpable, which makes /proc/self
	 * root's: dumpable again just for the maps. */
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	(void)snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)uid);
	ok = write_file("/proc/self/uid_map", map) == 0 &&
	     write_file("/proc/self/setgroups", "deny") == 0;
	(void)snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)gid);
	ok = ok && write_file("/proc/self/gid_map", map) == 0;
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (!ok)
		die(SBX_EXIT_SANDBOX);  /* a half-made namespace is no layer */
	return 0;
}

/* A read-only tmpfs of one page, mounted on the scratch directory (the
 * worker's cwd, entered while it could still search the path to it) with
 * the new mount API, so that its fd is the new root however the path to
 * it could be searched now. */
static int root_tmpfs(void)
{
	int fs = fsopen("tmpfs", FSOPEN_CLOEXEC), mnt = -1;

	if (fs < 0)
		return -1;
	if (fsconfig(fs, FSCONFIG_SET_STRING, "size", SBX_ROOT_TMPFS_SIZE, 0) == 0 &&
	    fsconfig(fs, FSCONFIG_SET_STRING, "nr_inodes", "2", 0) == 0 &&
	    fsconfig(fs, FSCONFIG_SET_STRING, "mode", "0555", 0) == 0 &&
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
		mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
			      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	(void)close(fs);
	/* "" and T_EMPTY_PATH: the cwd itself, with no lookup that would
	 * need the search right nobody lacks on root's scratch directory. */
	if (mnt >= 0 && move_mount(mnt, "", AT_FDCWD, "",
				   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0 &&
	    fchdir(mnt) == 0) {
		(void)close(mnt);
		return 0;
	}
	if (mnt >= 0)
		(void)close(mnt);
	return -1;
}

/* The root becomes that empty tmpfs and the old root is detached:
 * nothing of the machine's file system stays reachable by any path.
 * Where pivot_root is refused (a root on rootfs, as from an initramfs)
 * chroot into the tmpfs does: the worker keeps no directory fd and may
 * call neither chroot nor fchdir once filtered, so it cannot climb out. */
static unsigned empty_root(void)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) || root_tmpfs())
		return SBX_LAYER_MNTNS;
	if (syscall(SYS_pivot_root, ".", ".") == 0) {
		if (umount2(".", MNT_DETACH) || chdir("/"))
			die(SBX_EXIT_SANDBOX);  /* the old root on top: no layer */
		return 0;
	}
	if (chroot(".") || chdir("/"))
		die(SBX_EXIT_SANDBOX);
	return 0;
}

static unsigned enter_namespaces(unsigned skip)
{
	static const struct { int flag; unsigned layer; } ns[] = {
		{ CLONE_NEWIPC, SBX_LAYER_IPCNS },
		{ CLONE_NEWUTS, SBX_LAYER_UTSNS },
		{ CLONE_NEWNET, SBX_LAYER_NETNS },
		{ CLONE_NEWPID, SBX_LAYER_PIDNS },
	};
	unsigned missing = enter_userns();
	size_t i;

	if (unshare(CLONE_NEWNS))
		missing |= SBX_LAYER_MNTNS;
	else
		missing |= empty_root();
	for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
		if (((skip & SBX_SKIP_NETNS) && ns[i].flag == CLONE_NEWNET) || unshare(ns[i].flag))
			missing |= ns[i].layer;
	return missing;
}

/* The waiting parent of a pid namespace's first process: ends the way
 * its child ended, so that the caller's wait sees the job's own end
 * (and its rusage, which includes the reaped child's). */
__attribute__((noreturn)) static void mirror(pid_t pid)
{
	int status = 0;
	pid_t r;
	sigset_t all;

	/* The job's descriptors are the job's: this process only waits. */
	(void)close(SBX_FD_OUT);
	(void)close(SBX_FD_REPORT);
	do {
		r = waitpid(pid, &status, 0);
	} while (r < 0 && errno == EINTR);
	if (r != pid)
		die(SBX_EXIT_SANDBOX);
	if (WIFEXITED(status))
		die(WEXITSTATUS(status));
	ASSAY_ASSERT(WIFSIGNALED(status));
	(void)signal(WTERMSIG(status), SIG_DFL);
	(void)sigfillset(&all);
	(void)sigprocmask(SIG_UNBLOCK, &all, NULL);
	(void)raise(WTERMSIG(status));
	die(SBX_EXIT_SANDBOX);
}

/* No capability in any set, the bounding set included. */
static int drop_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	int cap;

	for (cap = 0; cap <= CAP_LAST_CAP; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL && errno != EPERM)
			return -1;
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(d, 0, sizeof(d));
	return (int)syscall(SYS_capset, &h, d);
}

/* Landlock with every file system right handled and no rule: no path
 * can be opened, created, removed or executed.  The output is already
 * open, which Landlock does not revisit. */
static unsigned apply_landlock(void)
{
	struct { uint64_t handled_access_fs; } attr;
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   (unsigned)LANDLOCK_CREATE_RULESET_VERSION);
	int fd;

	if (abi < 1)
		return SBX_LAYER_LANDLOCK;
	attr.handled_access_fs = abi >= 5 ? SBX_LL_FS_V5 : abi >= 3 ? SBX_LL_FS_V3
			       : abi == 2 ? SBX_LL_FS_V2 : SBX_LL_FS_V1;
	fd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0u);
	if (fd < 0)
		return SBX_LAYER_LANDLOCK;
	if (syscall(SYS_landlock_restrict_self, fd, 0u)) {
		(void)close(fd);
		return SBX_LAYER_LANDLOCK;
	}
	(void)close(fd);
	return 0;
}

/*
 * The allow list is what the CPU kernel path needs, single- or
 * multithreaded, found by running it under strace and this filter
 * (tests/test_sandbox.c): writing its output and stderr (/dev/null,
 * except for sanitizer reports in the SAN=1 build), memory management,
 * futex, signal masks and clone for its threads, and exit.  No mapping
 * may be executable: a job cannot bring code of its own.  Everything
 * else, open, openat and read included, kills the process.
 */
static int load_filter(void)
{
	scmp_filter_ctx ctx;
	int rc = -1;

	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return -1;
#define RULE(act, sc, ...) \
	if (seccomp_rule_add(ctx, act, SCMP_SYS(sc), __VA_ARGS__)) \
		goto out
#define ALLOW(sc, ...) RULE(SCMP_ACT_ALLOW, sc, __VA_ARGS__)
	ALLOW(write, 1, SCMP_A0(SCMP_CMP_EQ, SBX_FD_OUT));
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
	ALLOW(rt_sigprocmask, 0);
	ALLOW(exit, 0);
	ALLOW(exit_group, 0);
	/* Threads: clone with exactly pthread_create's flags (no fork, no
	 * new namespace, no vfork); clone3's flags sit in memory the
	 * filter cannot read, so it answers ENOSYS and glibc uses clone. */
	ALLOW(clone, 1, SCMP_A0(SCMP_CMP_EQ, SBX_THREAD_FLAGS));
	RULE(SCMP_ACT_ERRNO(ENOSYS), clone3, 0);
	/* glibc registers each new thread's rseq area and aborts the
	 * process when that fails in a thread but not in the first. */
	ALLOW(set_robust_list, 0);
	ALLOW(rseq, 0);
	/* ASan's runtime looks at the alternate signal stack as the
	 * process exits, names each thread it starts by its tid and reads
	 * each new thread's stack bounds through pthread_getattr_np, which
	 * asks for the thread's CPU affinity; the sanitizer build only (a
	 * gpt2 job's kernel threads showed the last). */
	if (SBX_ASAN) {
		ALLOW(sigaltstack, 0);
		ALLOW(gettid, 0);
		ALLOW(sched_getaffinity, 0);
	}
#undef ALLOW
#undef RULE
	rc = seccomp_load(ctx);
out:
	seccomp_release(ctx);
	return rc ? -1 : 0;
}

static int write_all(const uint8_t *buf, size_t len)
{
	size_t put = 0;

	while (put < len) {
		ssize_t n = write(SBX_FD_OUT, buf + put, len - put);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EFBIG)
			die(SBX_EXIT_FSIZE);
		if (n <= 0)
			return -1;
		put += (size_t)n;
	}
	return 0;
}

static int kern_exit(enum kern_err k)
{
	ASSAY_ASSERT(k != KERN_OK && (unsigned)k < KERN_ERR_COUNT_);
	return SBX_EXIT_KERN_BASE + (int)k;
}

/* The job's model, mapped before any layer (sbx_child_main or, in exec
 * mode, load_job): read-only memory, no file. */
static const void *model_map;
static size_t model_len;

static void map_model(const struct sbx_child *c)
{
	void *m;

	if (c->model_map) {
		model_map = c->model_map;
		model_len = (size_t)c->model_len;
		return;
	}
	if (c->model_fd < 0)
		return;
	m = mmap(NULL, (size_t)c->model_len, PROT_READ, MAP_PRIVATE, c->model_fd, 0);
	if (m == MAP_FAILED)
		die(SBX_EXIT_SANDBOX);
	model_map = m;
	model_len = (size_t)c->model_len;
}

/* The job proper, inside the sandbox.  Returns the exit code.  The
 * input is the caller's buffer, which fork gave this process. */
static int child_job(const struct sbx_job *job, unsigned threads)
{
	struct kern_tensors in, out;
	struct kern_model model;
	struct kern_run_opts opts = { .device = KERN_DEVICE_CPU, .threads = threads };
	char dev[KERN_DEVICE_BYTES];
	uint8_t *ser = NULL;
	size_t ser_len = 0;
	enum kern_err k;

	kern_tensors_init(&in);
	kern_tensors_init(&out);
	if (job->test_hook) {
		k = job->test_hook(job->test_hook_arg);
		if (k != KERN_OK)
			return kern_exit(k);
	}
	k = kern_st_parse(&in, NULL, job->in, job->in_len);
	if (k == KERN_OK && model_map) {
		k = kern_model_from_map(&model, NULL, model_map, model_len);
		opts.model = &model.tensors;
	}
	if (k == KERN_OK)
		k = kern_run(&out, dev, NULL, job->kernel, &in, job->params,
			     job->params_len, &opts);
	if (k == KERN_OK)
		k = kern_st_serialize(&ser, &ser_len, NULL, &out);
	if (k != KERN_OK)
		return kern_exit(k);
	if (write_all(ser, ser_len))
		return SBX_EXIT_IO;
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
	if (!SBX_ASAN && dup2(fd, STDERR_FILENO) != STDERR_FILENO)
		rc = -1;
	if (fd > STDERR_FILENO)
		(void)close(fd);
	return rc;
}

/* Output on 3, the report pipe on 4, nothing else past stderr.  Both go
 * above 4 first, so that neither dup2 can land on the other. */
static void arrange_fds(const struct sbx_child *c)
{
	int out_fd, rep_fd;

	out_fd = open(SBX_OUT_NAME, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	if (out_fd < 0)
		die(SBX_EXIT_SANDBOX);
	out_fd = fcntl(out_fd, F_DUPFD, SBX_FD_REPORT + 1);
	rep_fd = fcntl(c->report_fd, F_DUPFD, SBX_FD_REPORT + 1);
	if (out_fd < 0 || rep_fd < 0)
		die(SBX_EXIT_SANDBOX);
	if (dup2(out_fd, SBX_FD_OUT) != SBX_FD_OUT || dup2(rep_fd, SBX_FD_REPORT) != SBX_FD_REPORT)
		die(SBX_EXIT_SANDBOX);
	if (close_range(SBX_FD_REPORT + 1, ~0u, 0) || quiet_std_fds())
		die(SBX_EXIT_SANDBOX);
}

/* A pid namespace's first process ignores signals it has no handler
 * for, SIGXCPU and SIGXFSZ included: the worker catches both and ends
 * with its own exit code, pid 1 or not. */
static void on_limit(int sig)
{
	_exit(sig == SIGXCPU ? SBX_EXIT_CPU : SBX_EXIT_FSIZE);
}

static void catch_limits(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_limit;
	(void)sigfillset(&sa.sa_mask);
	if (sigaction(SIGXCPU, &sa, NULL) || sigaction(SIGXFSZ, &sa, NULL))
		die(SBX_EXIT_SANDBOX);
}

/* Tells the parent which layers are missing (4 bytes), then closes the
 * pipe: the filter allows no write to it. */
static void report_missing(unsigned missing)
{
	ssize_t n;

	do {
		n = write(SBX_FD_REPORT, &missing, sizeof(missing));
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(missing) || close(SBX_FD_REPORT))
		die(SBX_EXIT_SANDBOX);
}

static void *warm_thread(void *arg)
{
	return arg;
}

/*
 * A process's first pthread_create does one-time work that the filter
 * refuses (glibc installs its handler for its internal signals with
 * rt_sigaction).  A worker forked from a multithreaded daemon inherits
 * that done; one forked from a single-threaded caller (a tool, a bench)
 * would die at its first kernel thread.  So a multithreaded job starts
 * and joins one thread before the filter, within its thread limit.
 */
static void warm_threads(unsigned threads)
{
	pthread_t t;

	if (threads < 2)
		return;
	if (pthread_create(&t, NULL, warm_thread, NULL) || pthread_join(t, NULL))
		die(SBX_EXIT_SANDBOX);
}

/* Layers past the namespaces, in the job's own process. */
static void lock_down(const struct sbx_child *c, unsigned missing)
{
	if (!(c->skip & SBX_SKIP_CAPS) && drop_caps())
		die(SBX_EXIT_SANDBOX);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		die(SBX_EXIT_SANDBOX);
	/* Landlock's ruleset is an fd: before RLIMIT_NOFILE. */
	if (!(c->skip & SBX_SKIP_LANDLOCK))
		missing |= apply_landlock();
	if (apply_rlimits(c->lim, missing))
		die(SBX_EXIT_SANDBOX);
	catch_limits();
	report_missing(missing);
	if (c->job->mode == SBX_STRICT && missing)
		die(SBX_EXIT_STRICT);
	if (c->probe)
		die(0);
	warm_threads(c->lim->threads);
	if (!(c->skip & SBX_SKIP_SECCOMP) && load_filter())
		die(SBX_EXIT_SANDBOX);
	die(child_job(c->job, c->lim->threads));
}

void sbx_child_main(const struct sbx_child *c)
{
	unsigned missing;
	size_t i;
	pid_t pid;

	/* This process's copy of the caller's secrets: gone before anything
	 * else happens here. */
	for (i = 0; i < c->job->wipe_len; i++)
		if (c->job->wipe[i].p)
			explicit_bzero(c->job->wipe[i].p, c->job->wipe[i].len);
	/* Own process group, so the parent's kill reaches anything left;
	 * and dead with the parent's thread, whatever becomes of it. */
	if (setpgid(0, 0) || prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
		die(SBX_EXIT_SANDBOX);
	/* jansson (the safetensors header parser) seeds its hash function
	 * from /dev/urandom on first use; do that while the file exists
	 * (a no-op if this process was already seeded). */
	json_object_seed(0);
	if (chdir(c->scratch))
		die(SBX_EXIT_SANDBOX);
	map_model(c);
	arrange_fds(c);
	drop_uid();
	missing = enter_namespaces(c->skip);
	if (!(missing & SBX_LAYER_PIDNS)) {
		/* Only the children of an unshare(CLONE_NEWPID) are in it. */
		pid = fork();
		if (pid < 0)
			die(SBX_EXIT_SANDBOX);
		if (pid > 0)
			mirror(pid);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0))
			die(SBX_EXIT_SANDBOX);
	}
	lock_down(c, missing);
	die(SBX_EXIT_SANDBOX);
}
