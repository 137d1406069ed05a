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
#include "sandbox.h"
#include "sbx_internal.h"
#include "testutil.h"

#include "banned.h"

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
