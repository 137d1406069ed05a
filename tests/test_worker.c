/*
 * test_worker.c: the provider's sandboxed job worker (provider/worker.c).
 *
 * - an honest matmul_f32 job succeeds and its output bytes equal a direct
 *   kern_run + kern_st_serialize in this process;
 * - a kernel that refuses its input fails with the kernel's error;
 * - workers that open a socket, exec, fork, write outside their scratch
 *   directory, allocate past their memory limit, spin past their CPU
 *   limit or past their wall-clock limit are each stopped with their own
 *   result, leave no scratch directory behind; a worker that writes a
 *   malformed or oversized output is refused too; and this process (the
 *   "daemon") goes on to run an honest job afterwards.
 * Misbehaviour is injected through the worker's test hook, which runs in
 * the worker after its sandbox is in place.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernels.h"
#include "worker.h"
#include "testutil.h"

#include "banned.h"

#if defined(__SANITIZE_ADDRESS__)
#define TW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TW_ASAN 1
#endif
#endif
#ifndef TW_ASAN
#define TW_ASAN 0
#endif

#define PARAMS "{\"relu\":false}"

static char dir[4096];
static char in_path[4200];
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
	n = snprintf(in_path, sizeof(in_path), "%s/in.safetensors", dir);
	cr_assert(n > 0 && (size_t)n < sizeof(in_path));
	n = snprintf(scratch_base, sizeof(scratch_base), "%s/scratch", dir);
	cr_assert(n > 0 && (size_t)n < sizeof(scratch_base));
	cr_assert_eq(mkdir(scratch_base, 0700), 0);
	kern_tensors_init(&in);
	add_f32(&in, "a", 5, 7, 0.5f);
	add_f32(&in, "b", 7, 3, -1.25f);
	cr_assert_eq(kern_st_write_file(NULL, in_path, &in), KERN_OK);
	kern_tensors_release(&in);
}

static void teardown(void)
{
	tu_rmtree(dir);
}

TestSuite(worker, .init = setup, .fini = teardown, .timeout = 60);

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

static enum prov_worker_err run_job(uint8_t **out, size_t *out_len,
				    struct prov_worker_report *rep,
				    const char *params, prov_worker_test_hook hook,
				    void *arg, const struct prov_worker_limits *lim)
{
	struct prov_worker_job job = {
		.kernel = "matmul_f32@1",
		.params = params,
		.params_len = strlen(params),
		.in_path = in_path,
		.scratch_base = scratch_base,
		.limits = lim,
		.test_hook = hook,
		.test_hook_arg = arg,
	};
	enum prov_worker_err rc = prov_worker_run(out, out_len, rep, &job);

	cr_assert_eq(rep->err, rc);
	assert_scratch_empty();
	return rc;
}

static const struct prov_worker_limits small = {
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
	cr_assert_eq(kern_st_read_file(&in, NULL, in_path), KERN_OK);
	cr_assert_eq(kern_run(&out, dev, NULL, "matmul_f32@1", &in, PARAMS,
			      strlen(PARAMS), NULL), KERN_OK);
	cr_assert_eq(kern_st_serialize(ser, ser_len, NULL, &out), KERN_OK);
	kern_tensors_release(&in);
	kern_tensors_release(&out);
}

/* An honest job, as the daemon would run it after a bad one. */
static void assert_honest_job_ok(void)
{
	struct prov_worker_report rep;
	uint8_t *got = NULL, *want = NULL;
	size_t got_len = 0, want_len = 0;

	cr_assert_eq(run_job(&got, &got_len, &rep, PARAMS, NULL, NULL, &small),
		     PROV_WORKER_OK, "honest job failed: %s", rep.msg);
	reference(&want, &want_len);
	cr_assert_eq(got_len, want_len);
	cr_assert(memcmp(got, want, got_len) == 0, "worker output differs from kern_run");
	cr_assert_eq(rep.exit_code, 0);
	cr_assert_eq(rep.signal, 0);
	free(got);
	free(want);
}

static void assert_failed(enum prov_worker_err want, prov_worker_test_hook hook,
			  const struct prov_worker_limits *lim)
{
	struct prov_worker_report rep;
	uint8_t *out = (uint8_t *)1;
	size_t out_len = 1;
	enum prov_worker_err rc = run_job(&out, &out_len, &rep, PARAMS, hook, NULL, lim);

	cr_assert_eq(rc, want, "got %s (%s), want %s", prov_worker_errname(rc),
		     rep.msg, prov_worker_errname(want));
	cr_assert_null(out);
	cr_assert_eq(out_len, 0);
	cr_assert(rep.msg[0] != '\0');
	/* The parent is fine: the next job runs. */
	assert_honest_job_ok();
}

Test(worker, honest_job_matches_kern_run)
{
	assert_honest_job_ok();
	/* Default limits work too. */
	{
		struct prov_worker_report rep;
		uint8_t *out = NULL;
		size_t out_len = 0;

		cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, NULL, NULL, NULL),
			     PROV_WORKER_OK, "%s", rep.msg);
		free(out);
	}
}

Test(worker, kernel_refuses_input)
{
	struct prov_worker_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;

	cr_assert_eq(run_job(&out, &out_len, &rep, "{\"relu\":1}", NULL, NULL, &small),
		     PROV_WORKER_ERR_KERNEL);
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

Test(worker, socket_killed_by_seccomp)
{
	assert_failed(PROV_WORKER_ERR_SECCOMP, hook_socket, &small);
}

static enum kern_err hook_exec(void *arg)
{
	char *const argv[] = { (char *)"/bin/true", NULL };
	char *const envp[] = { NULL };

	(void)arg;
	execve("/bin/true", argv, envp);
	return KERN_ERR_IO;
}

Test(worker, exec_killed_by_seccomp)
{
	assert_failed(PROV_WORKER_ERR_SECCOMP, hook_exec, &small);
}

static enum kern_err hook_fork(void *arg)
{
	(void)arg;
	if (fork() == 0)
		_exit(0);
	return KERN_ERR_IO;
}

Test(worker, fork_killed_by_seccomp)
{
	assert_failed(PROV_WORKER_ERR_SECCOMP, hook_fork, &small);
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

Test(worker, write_outside_scratch_killed)
{
	struct stat st;
	int n = snprintf(outside_path, sizeof(outside_path), "%s/x", dir);

	cr_assert(n > 0 && (size_t)n < sizeof(outside_path));
	assert_failed(PROV_WORKER_ERR_SECCOMP, hook_write_outside, &small);
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

Test(worker, memory_limit)
{
	struct prov_worker_limits lim = small;

	if (TW_ASAN)
		cr_skip_test("RLIMIT_AS is not applied under ASan (shadow memory)");
	lim.mem_bytes = 128ull << 20;
	assert_failed(PROV_WORKER_ERR_NOMEM, hook_alloc, &lim);
}

static enum kern_err hook_spin(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	for (;;)
		x++;
	return KERN_OK;
}

Test(worker, cpu_limit)
{
	struct prov_worker_limits lim = small;

	lim.cpu_s = 1;
	assert_failed(PROV_WORKER_ERR_CPU, hook_spin, &lim);
}

Test(worker, wall_timeout)
{
	struct prov_worker_limits lim = small;
	struct prov_worker_report rep;
	uint8_t *out = NULL;
	size_t out_len = 0;

	lim.cpu_s = 30;
	lim.wall_ms = 300;
	cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, hook_spin, NULL, &lim),
		     PROV_WORKER_ERR_TIMEOUT, "%s", rep.msg);
	cr_assert_eq(rep.signal, SIGKILL);
	cr_assert(rep.wall_ms >= 300 && rep.wall_ms < 5000, "wall %llu ms",
		  (unsigned long long)rep.wall_ms);
	assert_honest_job_ok();
}

/* Writes a file that is not safetensors and reports success. */
static enum kern_err hook_garbage(void *arg)
{
	(void)arg;
	if (write(PROV_WORKER_FD_OUT, "not a safetensors file", 22) != 22)
		return KERN_ERR_IO;
	_exit(0);
}

Test(worker, malformed_output_refused)
{
	assert_failed(PROV_WORKER_ERR_OUTPUT, hook_garbage, &small);
}

/* Writes past RLIMIT_FSIZE (4 KiB below). */
static enum kern_err hook_big_output(void *arg)
{
	static const char block[1024];

	(void)arg;
	for (int i = 0; i < 64; i++)
		if (write(PROV_WORKER_FD_OUT, block, sizeof(block)) != (ssize_t)sizeof(block))
			return KERN_ERR_IO;
	return KERN_OK;
}

Test(worker, output_size_limit)
{
	struct prov_worker_limits lim = small;

	lim.out_bytes_max = 4096;
	assert_failed(PROV_WORKER_ERR_FSIZE, hook_big_output, &lim);
}

Test(worker, misuse)
{
	struct prov_worker_report rep;
	struct prov_worker_limits lim = small;
	uint8_t *out = NULL;
	size_t out_len = 0;

	cr_assert_eq(prov_worker_run(&out, &out_len, &rep, NULL), PROV_WORKER_ERR_ARG);
	lim.mem_bytes = 1;
	cr_assert_eq(run_job(&out, &out_len, &rep, PARAMS, NULL, NULL, &lim),
		     PROV_WORKER_ERR_ARG);
	for (int e = 0; e < PROV_WORKER_ERR_COUNT_; e++) {
		cr_assert_str_neq(prov_worker_strerror(e), "unknown error");
		cr_assert_str_neq(prov_worker_errname(e), "unknown");
	}
}
