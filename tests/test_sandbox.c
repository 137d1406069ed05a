/*
 * test_sandbox.c: the job sandbox (sandbox/, sbx_run) against hostile
 * workloads, and each of its layers on its own.
 *
 * - an honest matmul_f32 job succeeds and its output bytes equal a direct
 *   kern_run + kern_st_serialize in this process, with 1 thread and with
 *   several (the kernels' threads own disjoint outputs);
 * - a kernel that refuses its input fails with the kernel's error;
 * - hostile workers: socket, connect, exec, fork, vfork, clone with a
 *   fork's flags (a fork bomb), a thread in a new namespace, open of
 *   /etc/passwd and of /proc/1/mem, ptrace and kill of the parent,
 *   writing a file inside and outside scratch, a symlink on the output
 *   path, mmap and malloc past the memory limit, an endless loop (CPU
 *   and wall clock), a thread bomb past the threads limit, a malformed
 *   or oversized output: each is stopped with its own result, leaves no
 *   scratch directory behind, and this process (the "daemon") goes on
 *   to run an honest job afterwards;
 * - each layer alone (sbx_test_skip leaves out the ones above it):
 *   Landlock refuses even the empty root, the mount namespace leaves an
 *   empty root, the network namespace has no route to this process's
 *   listening socket, the pid namespace hides this process, and while a
 *   worker runs /proc shows it in its own user, mount, pid, ipc, uts and
 *   network namespaces, without capabilities, with no_new_privs, in
 *   seccomp filter mode and (when the test runs as root) as nobody.
 *   A layer this machine refuses (rep.missing) is reported, not
 *   asserted; under SBX_STRICT a refused layer ends the job.
 * - exec mode (the daemons'): the same bytes, layers, limits and kernel
 *   errors through an exec'd assay-worker; its job file refused when cut
 *   short or of another version; jobs that end beside threads that
 *   allocate and take stdio's lock all the time (fork mode hangs there
 *   under ASan); a test hook and a bad worker path refused.
 * Misbehaviour is injected through the worker's test hook, which runs in
 * the worker after its sandbox is in place (fork mode only).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gpt2fx.h"
#include "kernels.h"
#include "sandbox.h"
#include "sbx_internal.h"
#include "testutil.h"

#include "banned.h"

extern char **environ;

#define PARAMS "{\"relu\":false}"

static char dir[4096];
static uint8_t *in_buf;
static size_t in_len;
static char scratch_base[4200];

static void add_f32(struct kern_tensors *s, const char *name, uint64_t r, uint64_t c,
		    float seed)
{
	uint64_t shape[2] = { r, c };
	struct kern_tensor *t;

	cr_assert_eq(kern_tensors_add(s, &t, NULL, name, KERN_DT_F32, 2, shape, NULL),
		     KERN_OK);
	for (uint64_t i = 0; i < r * c; i++)
		((float *)t->data)[i] = seed * (float)(i % 7) - 0.25f * (float)(i % 3);
}

static void setup(void)
{
	struct kern_tensors in;
	int n;

	tu_tmpdir(dir, sizeof(dir));
	n = snprintf(scratch_base, sizeof(scratch_base), "%s/scratch", dir);
	cr_assert(n > 0 && (size_t)n < sizeof(scratch_base));
	cr_assert_eq(mkdir(scratch_base, 0700), 0);
	kern_tensors_init(&in);
	add_f32(&in, "a", 5, 7, 0.5f);
	add_f32(&in, "b", 7, 3, -1.25f);
	cr_assert_eq(kern_st_serialize(&in_buf, &in_len, NULL, &in), KERN_OK);
	kern_tensors_release(&in);
}

static void teardown(void)
{
	sbx_test_skip(0);
	free(in_buf);
	in_buf = NULL;
	tu_rmtree(dir);
}

TestSuite(sandbox, .init = setup, .fini = teardown, .timeout = 60);

/* The scratch base holds nothing after a run, whatever happened. */
static void assert_scratch_empty(void)
{
	DIR *d = opendir(scratch_base);
	struct dirent *e;
	int others = 0;

	cr_assert(d != NULL);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			others++;
	closedir(d);
	cr_assert_eq(others, 0, "scratch directory left behind");
}

static enum sbx_err run_job(uint8_t **out, size_t *out_len,
				    struct sbx_report *rep,
				    const char *params, sbx_test_hook hook,
				    void *arg, const struct sbx_limits *lim)
{
	struct sbx_job job = {
		.kernel = "matmul_f32@1",
		.params = params,
		.params_len = strlen(params),
		.in = in_buf,
		.in_len = in_len,
		.scratch_base = scratch_base,
		.limits = lim,
		.test_hook = hook,
		.test_hook_arg = arg,
	};
	enum sbx_err rc = sbx_run(out, out_len, rep, &job);

	cr_assert_eq(rep->err, rc);
	assert_scratch_empty();
	return rc;
}

static const struct sbx_limits small = {
	.mem_bytes = 512ull << 20,
	.cpu_s = 10,
	.wall_ms = 20000,
	.out_bytes_max = 1u << 20,
};

/* What the worker must produce: the same job run in this process. */
static void reference(uint8_t **ser, size_t *ser_len)
{
	struct kern_tensors in, out;
	char dev[KERN_DEVICE_BYTES];

	kern_tensors_init(&in);
	kern_tensors_init(&out);
	cr_assert_eq(kern_st_parse(&in, NULL, in_buf, in_len), KERN_OK);
	cr_assert_eq(kern_run(&out, dev, NULL, "matmul_f32@1", &in, PARAMS,
			      strlen(PARAMS), NULL), KERN_OK);
	cr_assert_eq(kern_st_serialize(ser, ser_len, NULL, &out), KERN_OK);
	kern_tensors_release(&in);
	kern_tensors_release(&out);
}

/* An honest job, as the daemon would run it after a bad one. */
static void assert_honest_job_ok(void)
{
	struct sbx_report rep;
	uint8_t *got = NULL, *want = NULL;
	size_t got_len = 0, want_len = 0;

	cr_assert_eq(run_job(&got, &got_len, &rep, PARAMS, NULL, NULL, &small),
		     SBX_OK, "honest job failed: %s", rep.msg);
	reference(&want, &want_len);
	cr_assert_eq(got_len, want_len);
	cr_assert(memcmp(got, want, got_len) == 0, "worker output differs from kern_run");
	cr_assert_eq(rep.exit_code, 0);
	cr_assert_eq(rep.signal, 0);
	free(got);
	free(want);
}

static void assert_failed(enum sbx_err want, sbx_test_hook hook,
			  const struct sbx_limits *lim)
{
	struct sbx_report rep;
	uint8_t *out = (uint8_t *)1;
	size_t out_len = 1;
	enum sbx_err rc = run_job(&out, &out_len, &rep, PARAMS, hook, NULL, lim);

	cr_assert_eq(rc, want, "got %s (%s), want %s", sbx_errname(rc),
		     rep.msg, sbx_errname(want));
	cr_assert_null(out);
	cr_assert_eq(out_len, 0);
	cr_assert(rep.msg[0] != '\0');
	/* The parent is fine: the next job runs. */
	assert_honest_job_ok();
}

Test(sandbox, honest_job_matches_kern_run)
{
	assert_honest_job_ok();
	/* Default limits work too. */
	{
		struct sbx_report rep;
		uint8_t *out = NULL;
		size_t out_len = 0;

		cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, NULL, NULL, NULL),
			     SBX_OK, "%s", rep.msg);
		free(out);
	}
}

Test(sandbox, kernel_refuses_input)
{
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;

	cr_assert_eq(run_job(&out, &out_len, &rep, "{\"relu\":1}", NULL, NULL, &small),
		     SBX_ERR_KERNEL);
	cr_assert_eq(rep.kern, KERN_ERR_PARAMS);
	cr_assert_null(out);
	assert_honest_job_ok();
}

static enum kern_err hook_socket(void *arg)
{
	(void)arg;
	if (socket(AF_INET, SOCK_STREAM, 0) >= 0)
		_exit(0);	/* would report OK with no output: a failure */
	return KERN_ERR_IO;
}

Test(sandbox, socket_killed_by_seccomp)
{
	assert_failed(SBX_ERR_SECCOMP, hook_socket, &small);
}

static enum kern_err hook_exec(void *arg)
{
	char *const argv[] = { (char *)"/bin/true", NULL };
	char *const envp[] = { NULL };

	(void)arg;
	execve("/bin/true", argv, envp);
	return KERN_ERR_IO;
}

Test(sandbox, exec_killed_by_seccomp)
{
	assert_failed(SBX_ERR_SECCOMP, hook_exec, &small);
}

static enum kern_err hook_fork(void *arg)
{
	(void)arg;
	if (fork() == 0)
		_exit(0);
	return KERN_ERR_IO;
}

Test(sandbox, fork_killed_by_seccomp)
{
	assert_failed(SBX_ERR_SECCOMP, hook_fork, &small);
}

static char outside_path[4200];

static enum kern_err hook_write_outside(void *arg)
{
	int fd;

	(void)arg;
	fd = open(outside_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0 && write(fd, "x", 1) == 1)
		return KERN_ERR_IO;
	return KERN_ERR_IO;
}

Test(sandbox, write_outside_scratch_killed)
{
	struct stat st;
	int n = snprintf(outside_path, sizeof(outside_path), "%s/x", dir);

	cr_assert(n > 0 && (size_t)n < sizeof(outside_path));
	assert_failed(SBX_ERR_SECCOMP, hook_write_outside, &small);
	cr_assert(stat(outside_path, &st) != 0 && errno == ENOENT,
		  "the worker created a file outside its scratch directory");
}

/* Touches memory a MiB at a time until malloc says no (bounded: 16 GiB,
 * far past the 128 MiB limit). */
static enum kern_err hook_alloc(void *arg)
{
	(void)arg;
	for (int i = 0; i < 16384; i++) {
		char *p = malloc(1u << 20);
		if (!p)
			return KERN_ERR_NOMEM;
		memset(p, 0x5a, 1u << 20);
	}
	return KERN_OK;
}

Test(sandbox, memory_limit)
{
	struct sbx_limits lim = small;

	if (SBX_ASAN)
		cr_skip_test("RLIMIT_AS is not applied under ASan (shadow memory)");
	lim.mem_bytes = 128ull << 20;
	assert_failed(SBX_ERR_NOMEM, hook_alloc, &lim);
}

static enum kern_err hook_spin(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	for (;;)
		x++;
	return KERN_OK;
}

Test(sandbox, cpu_limit)
{
	struct sbx_limits lim = small;

	lim.cpu_s = 1;
	assert_failed(SBX_ERR_CPU, hook_spin, &lim);
}

Test(sandbox, wall_timeout)
{
	struct sbx_limits lim = small;
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;

	lim.cpu_s = 30;
	lim.wall_ms = 300;
	cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, hook_spin, NULL, &lim),
		     SBX_ERR_TIMEOUT, "%s", rep.msg);
	cr_assert_eq(rep.signal, SIGKILL);
	cr_assert(rep.wall_ms >= 300 && rep.wall_ms < 5000, "wall %llu ms",
		  (unsigned long long)rep.wall_ms);
	assert_honest_job_ok();
}

/* Writes a file that is not safetensors and reports success. */
static enum kern_err hook_garbage(void *arg)
{
	(void)arg;
	if (write(SBX_FD_OUT, "not a safetensors file", 22) != 22)
		return KERN_ERR_IO;
	_exit(0);
}

Test(sandbox, malformed_output_refused)
{
	assert_failed(SBX_ERR_OUTPUT, hook_garbage, &small);
}

/* Writes past RLIMIT_FSIZE (4 KiB below). */
static enum kern_err hook_big_output(void *arg)
{
	static const char block[1024];

	(void)arg;
	for (int i = 0; i < 64; i++)
		if (write(SBX_FD_OUT, block, sizeof(block)) != (ssize_t)sizeof(block))
			return KERN_ERR_IO;
	return KERN_OK;
}

Test(sandbox, output_size_limit)
{
	struct sbx_limits lim = small;

	lim.out_bytes_max = 4096;
	assert_failed(SBX_ERR_FSIZE, hook_big_output, &lim);
}

Test(sandbox, misuse)
{
	struct sbx_report rep;
	struct sbx_limits lim = small;
	uint8_t *out = NULL;
	size_t out_len = 0;

	cr_assert_eq(sbx_run(&out, &out_len, &rep, NULL), SBX_ERR_ARG);
	lim.mem_bytes = 1;
	cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, NULL, NULL, &lim),
		     SBX_ERR_ARG);
	for (int e = 0; e < SBX_ERR_COUNT_; e++) {
		cr_assert_str_neq(sbx_strerror(e), "unknown error");
		cr_assert_str_neq(sbx_errname(e), "unknown");
	}
}

/* ---------------------------------------------------------------- hostile workloads */

/* A hook that gets past its forbidden call ends the worker with this
 * code, which is no result the tests accept. */
#define ESCAPED 77

static enum kern_err hook_connect(void *arg)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(9) };

	(void)arg;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* No socket can be made: try the output fd itself. */
	(void)connect(SBX_FD_OUT, (struct sockaddr *)&a, sizeof(a));
	_exit(ESCAPED);
}

Test(sandbox, connect_killed_by_seccomp)
{
	assert_failed(SBX_ERR_SECCOMP, hook_connect, &small);
}

static enum kern_err hook_open_passwd(void *arg)
{
	(void)arg;
	if (open("/etc/passwd", O_RDONLY) >= 0)
		_exit(ESCAPED);
	return KERN_ERR_IO;
}

Test(sandbox, open_etc_passwd_killed)
{
	assert_failed(SBX_ERR_SECCOMP, hook_open_passwd, &small);
}

static enum kern_err hook_open_proc_mem(void *arg)
{
	(void)arg;
	if (open("/proc/1/mem", O_RDWR) >= 0 || open("/proc/self/mem", O_RDWR) >= 0)
		_exit(ESCAPED);
	return KERN_ERR_IO;
}

Test(sandbox, open_proc_mem_killed)
{
	assert_failed(SBX_ERR_SECCOMP, hook_open_proc_mem, &small);
}

static enum kern_err hook_ptrace(void *arg)
{
	(void)arg;
	(void)ptrace(PTRACE_ATTACH, getppid(), NULL, NULL);
	_exit(ESCAPED);
}

Test(sandbox, ptrace_killed_by_seccomp)
{
	assert_failed(SBX_ERR_SECCOMP, hook_ptrace, &small);
}

/* The pid of this test process, for the hooks that aim at it. */
static pid_t test_pid;

static enum kern_err hook_kill_parent(void *arg)
{
	(void)arg;
	(void)kill(test_pid, SIGKILL);
	(void)kill(-1, SIGKILL);
	_exit(ESCAPED);
}

Test(sandbox, kill_of_the_parent_killed)
{
	test_pid = getpid();
	assert_failed(SBX_ERR_SECCOMP, hook_kill_parent, &small);
}

static enum kern_err hook_write_inside(void *arg)
{
	(void)arg;
	(void)openat(AT_FDCWD, "extra", O_WRONLY | O_CREAT | O_EXCL, 0600);
	_exit(ESCAPED);
}

Test(sandbox, write_a_file_killed)
{
	assert_failed(SBX_ERR_SECCOMP, hook_write_inside, &small);
}

/* Replaces the output path with a link to /etc/passwd, for the parent
 * to read back; KERN_OK when that was refused (the job goes on). */
static enum kern_err hook_symlink_output(void *arg)
{
	(void)arg;
	if (unlink(SBX_OUT_NAME) == 0 && symlink("/etc/passwd", SBX_OUT_NAME) == 0)
		_exit(0);   /* "success": the parent must not read passwd */
	return KERN_OK;
}

Test(sandbox, symlink_on_the_output_path_killed)
{
	assert_failed(SBX_ERR_SECCOMP, hook_symlink_output, &small);
}

static enum kern_err hook_vfork(void *arg)
{
	(void)arg;
	(void)syscall(SYS_vfork);
	_exit(ESCAPED);
}

/* clone with a fork's flags, the start of a fork bomb. */
static enum kern_err hook_clone_fork(void *arg)
{
	(void)arg;
	(void)syscall(SYS_clone, (unsigned long)SIGCHLD, 0, 0, 0, 0);
	_exit(ESCAPED);
}

/* A "thread" in new namespaces: thread flags plus one. */
static enum kern_err hook_clone_newns(void *arg)
{
	(void)arg;
	(void)syscall(SYS_clone, (unsigned long)(CLONE_VM | CLONE_FS | CLONE_FILES |
		CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM | CLONE_NEWNET), 0, 0, 0, 0);
	_exit(ESCAPED);
}

Test(sandbox, fork_bomb_by_clone_flags_killed)
{
	assert_failed(SBX_ERR_SECCOMP, hook_vfork, &small);
	assert_failed(SBX_ERR_SECCOMP, hook_clone_fork, &small);
	assert_failed(SBX_ERR_SECCOMP, hook_clone_newns, &small);
}

/* mmap of 1 GiB under a 128 MiB limit: refused, not killed. */
static enum kern_err hook_mmap(void *arg)
{
	void *p;

	(void)arg;
	p = mmap(NULL, 1ull << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return KERN_ERR_NOMEM;
	_exit(ESCAPED);
}

Test(sandbox, mmap_past_the_memory_limit_refused)
{
	struct sbx_limits lim = small;

	if (SBX_ASAN)
		cr_skip_test("RLIMIT_AS is not applied under ASan (shadow memory)");
	lim.mem_bytes = 128ull << 20;
	assert_failed(SBX_ERR_NOMEM, hook_mmap, &lim);
}

/* ---------------------------------------------------------------- threads */

#define BOMB_THREADS 32

static int bomb_word;

static void *bomb_thread(void *arg)
{
	(void)arg;
	for (;;)
		(void)syscall(SYS_futex, &bomb_word, FUTEX_WAIT, 0, NULL, NULL, 0);
	return NULL;
}

/* Starts BOMB_THREADS threads that stay; KERN_ERR_THREADS when the
 * sandbox stopped it at its limit, ESCAPED when all of them started. */
static enum kern_err hook_thread_bomb(void *arg)
{
	pthread_t t;
	unsigned started = 0;

	(void)arg;
	for (unsigned i = 0; i < BOMB_THREADS; i++)
		if (pthread_create(&t, NULL, bomb_thread, NULL) == 0)
			started++;
	if (started + 1 > *(const unsigned *)arg)
		_exit(ESCAPED);
	/* Exactly limit - 1 beside the main thread: no fewer either. */
	return started + 1 == *(const unsigned *)arg ? KERN_ERR_THREADS : KERN_ERR_IO;
}

Test(sandbox, thread_bomb_stopped_at_the_threads_limit)
{
	struct sbx_limits lim = small;
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;
	unsigned limit = 3;
	enum sbx_err rc;

	lim.threads = limit;
	rc = run_job(&out, &out_len, &rep, PARAMS, hook_thread_bomb, &limit, &lim);
	if (rep.missing & SBX_LAYER_USERNS)
		cr_skip_test("no user namespace here: threads are limited by the kernel option only");
	/* limit - 1 threads beside the main one: the rest were refused. */
	cr_assert_eq(rc, SBX_ERR_KERNEL, "%s (exit %d)", rep.msg, rep.exit_code);
	cr_assert_eq(rep.kern, KERN_ERR_THREADS);
}

/* A bigger matmul with 1 and with 3 threads: the same bytes. */
Test(sandbox, threads_give_the_same_bytes)
{
	struct kern_tensors in;
	struct sbx_limits lim = small;
	struct sbx_report rep;
	uint8_t *one = NULL, *three = NULL;
	size_t one_len = 0, three_len = 0;

	free(in_buf);
	kern_tensors_init(&in);
	add_f32(&in, "a", 96, 200, 0.5f);
	add_f32(&in, "b", 200, 160, -1.25f);
	cr_assert_eq(kern_st_serialize(&in_buf, &in_len, NULL, &in), KERN_OK);
	kern_tensors_release(&in);
	lim.threads = 1;
	cr_assert_eq(run_job(&one, &one_len, &rep, PARAMS, NULL, NULL, &lim), SBX_OK, "%s", rep.msg);
	lim.threads = 3;
	cr_assert_eq(run_job(&three, &three_len, &rep, PARAMS, NULL, NULL, &lim), SBX_OK, "%s",
		     rep.msg);
	cr_assert_eq(one_len, three_len);
	cr_assert(memcmp(one, three, one_len) == 0, "3 threads changed the output");
	free(one);
	free(three);
}

/* ---------------------------------------------------------------- each layer alone */

/* Landlock, with the filter left out: even the empty root cannot be
 * opened.  Without Landlock the open would succeed. */
static enum kern_err hook_open_root(void *arg)
{
	(void)arg;
	(void)close(STDIN_FILENO);   /* a free descriptor under RLIMIT_NOFILE */
	if (open("/", O_RDONLY | O_DIRECTORY) >= 0)
		_exit(ESCAPED);
	return errno == EACCES ? KERN_OK : KERN_ERR_IO;
}

Test(sandbox, landlock_alone_refuses_the_file_system)
{
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;
	enum sbx_err rc;

	sbx_test_skip(SBX_SKIP_SECCOMP);
	rc = run_job(&out, &out_len, &rep, PARAMS, hook_open_root, NULL, &small);
	if (rep.missing & SBX_LAYER_LANDLOCK)
		cr_skip_test("no Landlock in this kernel");
	cr_assert_eq(rc, SBX_OK, "%s (exit %d)", rep.msg, rep.exit_code);
	free(out);
}

/* The mount namespace, with filter and Landlock left out: the root is
 * empty and read-only, so /etc/passwd is not there, nothing can be
 * written, and the output path cannot be replaced by a symlink. */
static enum kern_err hook_look_around(void *arg)
{
	DIR *d;
	struct dirent *e;

	(void)arg;
	(void)close(STDIN_FILENO);   /* a free descriptor under RLIMIT_NOFILE */
	if (open("/etc/passwd", O_RDONLY) >= 0 || errno != ENOENT)
		_exit(ESCAPED);
	if (open("/x", O_WRONLY | O_CREAT, 0600) >= 0 || symlink("/etc/passwd", "/y") == 0)
		_exit(ESCAPED + 1);
	d = opendir("/");
	if (!d)
		_exit(ESCAPED + 2);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			_exit(ESCAPED + 3);
	return hook_symlink_output(NULL);
}

Test(sandbox, mount_namespace_alone_leaves_an_empty_root)
{
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;
	enum sbx_err rc;

	sbx_test_skip(SBX_SKIP_SECCOMP | SBX_SKIP_LANDLOCK);
	rc = run_job(&out, &out_len, &rep, PARAMS, hook_look_around, NULL, &small);
	if (rep.missing & SBX_LAYER_MNTNS)
		cr_skip_test("no mount namespace here");
	cr_assert_eq(rc, SBX_OK, "%s (exit %d)", rep.msg, rep.exit_code);
	free(out);
}

/* The network namespace, with the filter left out: no route to a
 * socket this process listens on. */
static enum kern_err hook_connect_back(void *arg)
{
	const struct sockaddr_in *a = arg;
	int fd;

	/* RLIMIT_NOFILE leaves no free descriptor: give up stdin's. */
	(void)close(STDIN_FILENO);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return KERN_ERR_IO;
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) == 0)
		_exit(ESCAPED);
	return KERN_OK;
}

Test(sandbox, network_namespace_alone_has_no_route_out)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;
	int lfd = socket(AF_INET, SOCK_STREAM, 0);
	enum sbx_err rc;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(lfd >= 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 4), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &alen), 0);
	sbx_test_skip(SBX_SKIP_SECCOMP);
	rc = run_job(&out, &out_len, &rep, PARAMS, hook_connect_back, &a, &small);
	close(lfd);
	if (rep.missing & SBX_LAYER_NETNS)
		cr_skip_test("no network namespace here");
	cr_assert_eq(rc, SBX_OK, "%s (exit %d)", rep.msg, rep.exit_code);
	free(out);
}

/* The pid namespace, with the filter left out: the job is pid 1 and
 * this process does not exist for it. */
static enum kern_err hook_pids(void *arg)
{
	(void)arg;
	if (getpid() != 1 || kill(test_pid, 0) == 0 || errno != ESRCH)
		_exit(ESCAPED);
	return KERN_OK;
}

Test(sandbox, pid_namespace_alone_hides_the_daemon)
{
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;
	enum sbx_err rc;

	test_pid = getpid();
	sbx_test_skip(SBX_SKIP_SECCOMP);
	rc = run_job(&out, &out_len, &rep, PARAMS, hook_pids, NULL, &small);
	if (rep.missing & SBX_LAYER_PIDNS)
		cr_skip_test("no pid namespace here");
	cr_assert_eq(rc, SBX_OK, "%s (exit %d)", rep.msg, rep.exit_code);
	free(out);
}

/* ---------------------------------------------------------------- the layers seen from outside */

struct bg_run {
	pthread_t t;
	struct sbx_limits lim;
	struct sbx_report rep;
	enum sbx_err rc;
};

static void *bg_main(void *arg)
{
	struct bg_run *b = arg;
	struct sbx_job job = {
		.kernel = "matmul_f32@1", .params = PARAMS, .params_len = strlen(PARAMS),
		.in = in_buf, .in_len = in_len, .scratch_base = scratch_base,
		.limits = &b->lim, .test_hook = hook_spin,
	};
	uint8_t *out = NULL;
	size_t out_len = 0;

	b->rc = sbx_run(&out, &out_len, &b->rep, &job);
	free(out);
	return NULL;
}

/* The parent pid of `pid` from /proc/PID/stat, or -1. */
static pid_t ppid_of(pid_t pid)
{
	char path[64], buf[512], *p;
	int fd, n, ppid = -1;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
		return -1;
	return ppid;
}

/* The job: a descendant of this process whose status says it is in
 * seccomp filter mode (the worker's last step); 0 while there is none. */
static pid_t find_job(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0, self = getpid();

	cr_assert(d);
	while (!found && (e = readdir(d)) != NULL) {
		pid_t pid = (pid_t)atoi(e->d_name), up = pid;
		int depth = 0;

		if (pid <= 0)
			continue;
		while (up > 1 && up != self && depth++ < 4)
			up = ppid_of(up);
		if (up == self && pid != self && depth >= 2)
			found = pid;
	}
	closedir(d);
	return found;
}

/* The "Key:\tvalue" line of /proc/PID/status, into val. */
static void status_field(char *val, size_t len, pid_t pid, const char *key)
{
	char path[64], st[4096];
	const char *at, *end;
	ssize_t n;
	int fd;

	/* /proc files have no size: read, not tu_read_file. */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY);
	cr_assert(fd >= 0, "cannot open %s", path);
	n = read(fd, st, sizeof(st) - 1);
	close(fd);
	cr_assert(n > 0);
	st[n] = '\0';
	at = strstr(st, key);
	cr_assert(at, "no %s in %s", key, path);
	at += strlen(key);
	while (*at == ':' || *at == '\t' || *at == ' ')
		at++;
	end = strchr(at, '\n');
	snprintf(val, len, "%.*s", (int)(end ? end - at : (long)strlen(at)), at);
}

static int same_ns(pid_t pid, const char *ns)
{
	char a[64], b[64], pa[64], pb[64];
	ssize_t na, nb;

	snprintf(pa, sizeof(pa), "/proc/self/ns/%s", ns);
	snprintf(pb, sizeof(pb), "/proc/%d/ns/%s", (int)pid, ns);
	na = readlink(pa, a, sizeof(a) - 1);
	nb = readlink(pb, b, sizeof(b) - 1);
	cr_assert(na > 0 && nb > 0, "cannot read %s", pb);
	a[na] = b[nb] = '\0';
	return strcmp(a, b) == 0;
}

/* While a worker runs, /proc shows every layer in place: checked from
 * outside, so that removing any one of them fails this test. */
Test(sandbox, layers_seen_from_outside)
{
	static const struct { const char *ns; unsigned layer; } nss[] = {
		{ "user", SBX_LAYER_USERNS }, { "mnt", SBX_LAYER_MNTNS },
		{ "pid", SBX_LAYER_PIDNS }, { "ipc", SBX_LAYER_IPCNS },
		{ "uts", SBX_LAYER_UTSNS }, { "net", SBX_LAYER_NETNS },
	};
	struct bg_run b;
	char v[128];
	unsigned differs = 0;
	pid_t job = 0;

	memset(&b, 0, sizeof(b));
	b.lim = small;
	b.lim.wall_ms = 3000;
	cr_assert_eq(pthread_create(&b.t, NULL, bg_main, &b), 0);
	for (int i = 0; i < 250 && !job; i++) {
		usleep(10 * 1000);
		job = find_job();
		if (job) {
			status_field(v, sizeof(v), job, "Seccomp");
			if (strcmp(v, "2") != 0)
				job = 0;   /* not filtered yet */
		}
	}
	cr_assert(job > 0, "no filtered worker found");
	status_field(v, sizeof(v), job, "NoNewPrivs");
	cr_assert_str_eq(v, "1");
	status_field(v, sizeof(v), job, "CapEff");
	cr_assert_str_eq(v, "0000000000000000");
	status_field(v, sizeof(v), job, "CapBnd");
	cr_assert_str_eq(v, "0000000000000000");
	if (geteuid() == 0) {
		status_field(v, sizeof(v), job, "Uid");
		cr_assert_eq(atoi(v), (int)SBX_DROP_UID, "a worker of root runs as uid %s", v);
	}
	for (size_t i = 0; i < sizeof(nss) / sizeof(nss[0]); i++)
		if (!same_ns(job, nss[i].ns))
			differs |= nss[i].layer;
	cr_assert_eq(pthread_join(b.t, NULL), 0);
	cr_assert_eq(b.rc, SBX_ERR_TIMEOUT, "%s", b.rep.msg);
	/* Every namespace the worker did not report missing is its own. */
	cr_assert_eq(differs, (SBX_LAYERS_ALL & ~SBX_LAYER_LANDLOCK) & ~b.rep.missing,
		     "namespaces apart 0x%x, missing 0x%x", differs, b.rep.missing);
	assert_scratch_empty();
}

/* A refused layer: reported under best effort, fatal under strict (the
 * network namespace left out as a kernel that refuses it would). */
Test(sandbox, strict_mode_makes_a_refused_layer_fatal)
{
	struct sbx_job job = {
		.kernel = "matmul_f32@1", .params = PARAMS, .params_len = strlen(PARAMS),
		.in = in_buf, .in_len = in_len, .scratch_base = scratch_base, .limits = &small,
	};
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;
	unsigned missing = 0;

	sbx_test_skip(SBX_SKIP_NETNS);
	cr_assert_eq(sbx_run(&out, &out_len, &rep, &job), SBX_OK, "%s", rep.msg);
	cr_assert(rep.missing & SBX_LAYER_NETNS);
	free(out);
	cr_assert_eq(sbx_probe(&missing, &rep, scratch_base), 0, "%s", rep.msg);
	cr_assert(missing & SBX_LAYER_NETNS);
	job.mode = SBX_STRICT;
	cr_assert_eq(sbx_run(&out, &out_len, &rep, &job), SBX_ERR_SANDBOX);
	cr_assert_null(out);
	cr_assert(strstr(rep.msg, "netns") != NULL, "%s", rep.msg);
	assert_scratch_empty();
	sbx_test_skip(0);
	cr_assert_eq(sbx_run(&out, &out_len, &rep, &job), rep.missing ? SBX_ERR_SANDBOX : SBX_OK,
		     "%s", rep.msg);
	free(out);
}

Test(sandbox, layer_names)
{
	char buf[128];

	sbx_layers_format(buf, sizeof(buf), SBX_LAYERS_ALL);
	cr_assert_str_eq(buf, "userns,mntns,pidns,ipcns,utsns,netns,landlock");
	sbx_layers_format(buf, sizeof(buf), 0);
	cr_assert_str_eq(buf, "");
	sbx_layers_format(buf, 8, SBX_LAYERS_ALL);
	cr_assert_str_eq(buf, "userns");
	cr_assert_str_eq(sbx_layer_name(SBX_LAYER_NETNS), "netns");
	cr_assert_str_eq(sbx_layer_name(3), "unknown");
}

/* ---------------------------------------------------------------- secrets */

static uint8_t secret[64];

/* The worker's copy of `secret` must be all zero. */
static enum kern_err hook_read_secret(void *arg)
{
	(void)arg;
	for (size_t i = 0; i < sizeof(secret); i++)
		if (secret[i])
			_exit(ESCAPED);
	return KERN_OK;
}

/* A secret the caller names is wiped in the worker, not in the caller. */
Test(sandbox, named_secrets_wiped_in_the_worker)
{
	const struct sbx_wipe wipe = { secret, sizeof(secret) };
	struct sbx_job job = {
		.kernel = "matmul_f32@1", .params = PARAMS, .params_len = strlen(PARAMS),
		.in = in_buf, .in_len = in_len, .scratch_base = scratch_base, .limits = &small,
		.test_hook = hook_read_secret,
	};
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;

	memset(secret, 0xa5, sizeof(secret));
	/* Not named: the worker still has its copy (what the wipe is for). */
	cr_assert_eq(sbx_run(&out, &out_len, &rep, &job), SBX_ERR_CRASH, "%s", rep.msg);
	cr_assert_eq(rep.exit_code, ESCAPED);
	job.wipe = &wipe;
	job.wipe_len = 1;
	cr_assert_eq(sbx_run(&out, &out_len, &rep, &job), SBX_OK, "%s", rep.msg);
	free(out);
	for (size_t i = 0; i < sizeof(secret); i++)
		cr_assert_eq(secret[i], 0xa5, "the caller's secret was changed");
	job.wipe_len = SBX_WIPE_MAX + 1;
	cr_assert_eq(sbx_run(&out, &out_len, &rep, &job), SBX_ERR_ARG);
}

/* ---------------------------------------------------------------- --device */

Test(sandbox, device_selection)
{
	char dev[KERN_DEVICE_BYTES], why[160];
	int cuda = kern_cuda_available(NULL);

	cr_assert_eq(sbx_device_select(dev, why, sizeof(why), "cpu"), 0);
	cr_assert_str_eq(dev, "cpu");
	cr_assert_str_eq(why, "");
	/* auto (and no flag) is the cpu; with a CUDA device it says why. */
	cr_assert_eq(sbx_device_select(dev, why, sizeof(why), NULL), 0);
	cr_assert_str_eq(dev, "cpu");
	cr_assert_eq(sbx_device_select(dev, why, sizeof(why), "auto"), 0);
	cr_assert_str_eq(dev, "cpu");
	cr_assert_eq(why[0] != '\0', cuda, "%s", why);
	/* cuda: refused, with the reason. */
	cr_assert_eq(sbx_device_select(dev, why, sizeof(why), "cuda"), -1);
	cr_assert(strstr(why, cuda ? "no GPU worker" : "no CUDA device"), "%s", why);
	cr_assert_eq(sbx_device_select(dev, why, sizeof(why), "tpu"), -1);
	cr_assert(strstr(why, "'tpu'"), "%s", why);
}

/* ---------------------------------------------------------------- exec mode */

/* Exec mode with the build's assay-worker, as every daemon runs it. */
static void use_worker(void)
{
	tu_use_worker();
}

/* The same honest job, the same bytes as kern_run, through an exec'd
 * worker; so are its probe's layers. */
Test(sandbox, exec_mode_job_matches_kern_run)
{
	struct sbx_report rep;
	unsigned fork_missing = 0, exec_missing = 0;

	cr_assert_eq(sbx_probe(&fork_missing, &rep, scratch_base), 0, "%s", rep.msg);
	use_worker();
	assert_honest_job_ok();
	{
		/* Two kernel threads: the fresh image's first pthread_create
		 * happens before the filter (warm_threads). */
		struct sbx_limits two = small;
		uint8_t *got = NULL, *want = NULL;
		size_t got_len = 0, want_len = 0;

		two.threads = 2;
		cr_assert_eq(run_job(&got, &got_len, &rep, PARAMS, NULL, NULL, &two), SBX_OK,
			     "%s", rep.msg);
		reference(&want, &want_len);
		cr_assert(got_len == want_len && memcmp(got, want, got_len) == 0);
		free(got);
		free(want);
	}
	cr_assert_eq(sbx_probe(&exec_missing, &rep, scratch_base), 0, "%s", rep.msg);
	cr_assert_eq(exec_missing, fork_missing, "exec mode went without other layers");
	assert_scratch_empty();
	sbx_use_fork_for_tests();
}

/* The limits and the kernel's own refusal reach the parent through an
 * exec'd worker as they do through a forked one. */
Test(sandbox, exec_mode_keeps_limits_and_kernel_errors)
{
	struct sbx_limits tiny_out = small;
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;

	use_worker();
	tiny_out.out_bytes_max = 16;
	cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, NULL, NULL, &tiny_out), SBX_ERR_FSIZE,
		     "%s", rep.msg);
	cr_assert_eq(run_job(&out, &out_len, &rep, "{\"relu\":7}", NULL, NULL, &small),
		     SBX_ERR_KERNEL, "%s", rep.msg);
	cr_assert_eq(rep.kern, KERN_ERR_PARAMS, "%s", kern_strerror(rep.kern));
	cr_assert_null(out);
	assert_honest_job_ok();
	sbx_use_fork_for_tests();
}

static enum kern_err hook_nothing(void *arg)
{
	(void)arg;
	return KERN_OK;
}

/* A test hook is a pointer into this process: it cannot cross an exec. */
Test(sandbox, exec_mode_refuses_a_test_hook)
{
	struct sbx_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;

	use_worker();
	cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, hook_nothing, NULL, &small),
		     SBX_ERR_ARG);
	sbx_use_fork_for_tests();
}

/* sbx_use_worker takes only an absolute path to an executable regular
 * file that nobody else may write, and changes nothing otherwise. */
Test(sandbox, exec_mode_worker_path_checked)
{
	char path[4300], why[256];

	cr_assert_eq(sbx_use_worker("assay-worker", why, sizeof(why)), -1);
	cr_assert(strstr(why, "absolute") != NULL, "%s", why);
	cr_assert_eq(sbx_use_worker("/nonexistent/assay-worker", why, sizeof(why)), -1);
	cr_assert(strstr(why, "no executable worker") != NULL, "%s", why);
	snprintf(path, sizeof(path), "%s/w", dir);
	tu_write_file(path, "#!/bin/sh\n", 10, 0755);
	cr_assert_eq(chmod(path, 0777), 0);
	cr_assert_eq(sbx_use_worker(path, why, sizeof(why)), -1);
	cr_assert(strstr(why, "writable by others") != NULL, "%s", why);
	cr_assert_eq(sbx_use_worker(scratch_base, why, sizeof(why)), -1);
	/* Still fork mode: a hook runs. */
	{
		struct sbx_report rep;
		uint8_t *out = NULL;
		size_t out_len = 0;

		cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, hook_nothing, NULL, &small),
			     SBX_OK, "%s", rep.msg);
		free(out);
	}
}

/* Starts the build's assay-worker with `file` on fd 3 and a pipe on fd
 * 4, as the sandbox's exec does; its exit code, or -1 on a signal. */
static int run_worker_on(const char *file)
{
	char worker[1024];
	char *const argv[] = { (char *)SBX_WORKER_NAME, NULL };
	posix_spawn_file_actions_t fa;
	int fd, p[2], status;
	pid_t pid;

	snprintf(worker, sizeof(worker), "%s/bin/%s", getenv("ASSAY_BUILD"), SBX_WORKER_NAME);
	fd = open(file, O_RDONLY | O_CLOEXEC);
	cr_assert(fd >= 0 && pipe2(p, O_CLOEXEC) == 0);
	cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
	cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, fd, SBX_FD_JOB), 0);
	cr_assert_eq(posix_spawn_file_actions_adddup2(&fa, p[1], SBX_FD_REPORT), 0);
	cr_assert_eq(posix_spawn(&pid, worker, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	close(fd);
	close(p[1]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(p[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The job file crosses the exec intact; a changed version, a length
 * past the file or a file cut short is refused before any job byte is
 * used (another build's worker, or a broken file). */
Test(sandbox, worker_refuses_a_job_file_not_of_its_build)
{
	struct sbx_job job = {
		.kernel = "matmul_f32@1", .params = PARAMS, .params_len = strlen(PARAMS),
		.in = in_buf, .in_len = in_len, .scratch_base = scratch_base,
	};
	struct sbx_limits lim;
	struct sbx_child c;
	char sdir[4300], file[4300];
	uint8_t *buf = malloc(in_len + 8192);
	ssize_t n;
	int fd;

	cr_assert_not_null(buf);
	cr_assert_eq(sbx_limits_fill(&lim, &small), SBX_OK);
	snprintf(sdir, sizeof(sdir), "%s/one", scratch_base);
	cr_assert_eq(mkdir(sdir, 0700), 0);
	memset(&c, 0, sizeof(c));
	c.job = &job;
	c.lim = &lim;
	c.scratch = sdir;
	fd = sbx_job_file(&c);
	cr_assert(fd >= 0, "%s", strerror(errno));
	n = pread(fd, buf, in_len + 8192, 0);
	close(fd);
	cr_assert(n > (ssize_t)in_len);
	snprintf(file, sizeof(file), "%s/job", dir);
	/* Intact: the worker runs the job into sdir (exit 0). */
	tu_write_file(file, buf, (size_t)n, 0600);
	cr_assert_eq(run_worker_on(file), 0);
	{
		char out[4400];
		uint8_t *got, *want;
		size_t got_len, want_len;

		snprintf(out, sizeof(out), "%s/%s", sdir, SBX_OUT_NAME);
		tu_read_file(out, &got, &got_len);
		reference(&want, &want_len);
		cr_assert(got_len == want_len && memcmp(got, want, got_len) == 0);
		free(got);
		free(want);
		cr_assert_eq(unlink(out), 0);
	}
	/* Cut short by one byte. */
	tu_write_file(file, buf, (size_t)n - 1, 0600);
	cr_assert_eq(run_worker_on(file), SBX_EXIT_JOBFILE);
	/* Another wire version (the second 32-bit field). */
	buf[4] ^= 1;
	tu_write_file(file, buf, (size_t)n, 0600);
	cr_assert_eq(run_worker_on(file), SBX_EXIT_JOBFILE);
	buf[4] ^= 1;
	/* Not a job file at all. */
	tu_write_file(file, "hello", 5, 0600);
	cr_assert_eq(run_worker_on(file), SBX_EXIT_JOBFILE);
	cr_assert_eq(rmdir(sdir), 0);
	free(buf);
}

/* Threads of the caller allocate (up to 1 MiB) and take stdio's lock
 * all the time, as a daemon's do.  A forked worker that inherits a lock
 * held at the fork hangs until the wall limit: in the sanitizer build
 * (ASan's allocator has no fork handler) this test in fork mode fails
 * within a few dozen jobs; that was CI's referee that never decided.
 * An exec'd worker starts clean, and every job ends. */
struct churn {
	volatile int stop;
	pthread_t t[3];
};

static void *churn_main(void *arg)
{
	struct churn *c = arg;
	unsigned i = 0;

	while (!c->stop) {
		void *p = malloc((size_t)16u << (i++ % 17u));

		flockfile(stderr);
		free(p);
		funlockfile(stderr);
	}
	return NULL;
}

Test(sandbox, exec_mode_jobs_end_beside_busy_threads)
{
	struct churn c = { 0 };

	use_worker();
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_create(&c.t[i], NULL, churn_main, &c), 0);
	for (int i = 0; i < 40; i++)
		assert_honest_job_ok();
	c.stop = 1;
	for (int i = 0; i < 3; i++)
		cr_assert_eq(pthread_join(c.t[i], NULL), 0);
	sbx_use_fork_for_tests();
}

/* ------------------------------------------------------------------ */
/* A model kernel: the model file goes in as a descriptor the worker    */
/* maps before any layer; it opens nothing itself.                      */

#define GPT2_PARAMS "{\"heads\":" GPT2FX_HEADS_S ",\"max_new_tokens\":4,\"model\":\"" \
	GPT2FX_ROOT_S "\",\"modelSize\":1}"

static enum sbx_err run_gpt2(uint8_t **out, size_t *out_len, struct sbx_report *rep,
			     const uint8_t *in, size_t len, const char *model_path,
			     unsigned threads)
{
	struct sbx_limits lim = small;
	struct sbx_job job = {
		.kernel = "gpt2_f32@1",
		.params = GPT2_PARAMS,
		.params_len = strlen(GPT2_PARAMS),
		.in = in,
		.in_len = len,
		.scratch_base = scratch_base,
		.limits = &lim,
		.model_path = model_path,
	};
	enum sbx_err rc;

	lim.threads = threads;
	rc = sbx_run(out, out_len, rep, &job);
	assert_scratch_empty();
	return rc;
}

static void gpt2_in_sandbox(int exec_mode)
{
	struct gpt2fx f;
	struct kern_tensors in, want;
	struct kern_run_opts o = { KERN_DEVICE_CPU, 1, NULL };
	struct sbx_report rep;
	char dev[KERN_DEVICE_BYTES], missing[700];
	uint8_t *ser = NULL, *got = NULL, *want_ser = NULL;
	size_t ser_len = 0, got_len = 0, want_len = 0;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, 2, 5, 11);
	cr_assert_eq(kern_st_serialize(&ser, &ser_len, NULL, &in), KERN_OK);
	o.model = &f.model.tensors;
	kern_tensors_init(&want);
	cr_assert_eq(kern_run(&want, dev, NULL, "gpt2_f32@1", &in, GPT2_PARAMS,
			      strlen(GPT2_PARAMS), &o), KERN_OK);
	cr_assert_eq(kern_st_serialize(&want_ser, &want_len, NULL, &want), KERN_OK);
	if (exec_mode)
		use_worker();
	cr_assert_eq(run_gpt2(&got, &got_len, &rep, ser, ser_len, f.path, 2), SBX_OK, "%s",
		     rep.msg);
	cr_assert(got_len == want_len && memcmp(got, want_ser, got_len) == 0,
		  "the sandboxed gpt2 job differs from kern_run");
	free(got);
	got = NULL;
	/* No model: the kernel's own refusal, through the worker. */
	cr_assert_eq(run_gpt2(&got, &got_len, &rep, ser, ser_len, NULL, 1), SBX_ERR_KERNEL);
	cr_assert_eq(rep.kern, KERN_ERR_MODEL, "%s", kern_strerror(rep.kern));
	/* A model path that is not there: the service's fault, no worker. */
	(void)snprintf(missing, sizeof missing, "%s/none.safetensors", f.dir);
	cr_assert_eq(run_gpt2(&got, &got_len, &rep, ser, ser_len, missing, 1), SBX_ERR_SETUP);
	cr_assert(strstr(rep.msg, "model file") != NULL, "%s", rep.msg);
	cr_assert_null(got);
	if (exec_mode)
		sbx_use_fork_for_tests();
	free(ser);
	free(want_ser);
	kern_tensors_release(&in);
	kern_tensors_release(&want);
	gpt2fx_close(&f);
}

/* Both run the kernel on two threads that really start (the gpt2 job has
 * many tasks), which a small matmul never does. */
Test(sandbox, model_job_matches_kern_run_in_fork_mode)
{
	gpt2_in_sandbox(0);
}

Test(sandbox, model_job_matches_kern_run_in_exec_mode)
{
	gpt2_in_sandbox(1);
}
