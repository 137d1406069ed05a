/*
 * bench_sandbox.c: what the job sandbox (sbx_run) costs per job, fork
 * to checked result, beside the same work in this process (parse, run,
 * serialise), for a small and a large matmul_f32@1 on one thread; and a
 * big matmul (2048^3) in the sandbox on 2 threads beside 1 (the bytes
 * compared); and the small job in exec mode (the daemons') beside fork
 * mode.
 * Each figure is the median of REPS runs.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "kernels.h"
#include "sandbox.h"

#include "banned.h"

#define REPS 15
/* The big matmul of the threads row: about a second of work per run on
 * one core, so that thread start-up and the sandbox are noise. */
#define BIG 2048
#define PARAMS "{\"relu\":false}"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* An m x k by k x n input, serialised; NULL on failure. */
static uint8_t *make_input(size_t *len, uint64_t m, uint64_t k, uint64_t n)
{
	uint64_t sa[2] = { m, k }, sb[2] = { k, n }, s = 7;
	struct kern_tensors in;
	struct kern_tensor *t[2];
	uint8_t *buf = NULL;

	kern_tensors_init(&in);
	if (kern_tensors_add(&in, &t[0], NULL, "a", KERN_DT_F32, 2, sa, NULL) ||
	    kern_tensors_add(&in, &t[1], NULL, "b", KERN_DT_F32, 2, sb, NULL))
		goto out;
	for (int w = 0; w < 2; w++)
		for (uint64_t i = 0; i < t[w]->elems; i++) {
			s = s * 6364136223846793005ull + 1442695040888963407ull;
			((float *)t[w]->data)[i] = (float)((double)(s >> 40) * 0x1p-24 - 0.5);
		}
	if (kern_st_serialize(&buf, len, NULL, &in))
		buf = NULL;
out:
	kern_tensors_release(&in);
	return buf;
}

/* The job in this process, as the worker does it. */
static int in_process(const uint8_t *in, size_t in_len, unsigned threads)
{
	struct kern_tensors ti, to;
	struct kern_run_opts o = { KERN_DEVICE_CPU, threads, NULL };
	char dev[KERN_DEVICE_BYTES];
	uint8_t *ser = NULL;
	size_t ser_len = 0;
	int rc;

	kern_tensors_init(&ti);
	kern_tensors_init(&to);
	rc = kern_st_parse(&ti, NULL, in, in_len) ||
	     kern_run(&to, dev, NULL, "matmul_f32@1", &ti, PARAMS, strlen(PARAMS), &o) ||
	     kern_st_serialize(&ser, &ser_len, NULL, &to);
	free(ser);
	kern_tensors_release(&ti);
	kern_tensors_release(&to);
	return rc ? -1 : 0;
}

/* One sandboxed run; the output in *out (the caller frees) or NULL. */
static int sandboxed(uint8_t **out, size_t *out_len, const uint8_t *in, size_t in_len,
		     unsigned threads)
{
	struct sbx_limits lim = { .threads = threads };
	struct sbx_job job = {
		.kernel = "matmul_f32@1", .params = PARAMS, .params_len = strlen(PARAMS),
		.in = in, .in_len = in_len, .scratch_base = "/tmp", .limits = &lim,
	};
	struct sbx_report rep;

	if (sbx_run(out, out_len, &rep, &job) != SBX_OK) {
		fprintf(stderr, "bench_sandbox: %s\n", rep.msg);
		return -1;
	}
	return 0;
}

/* Median seconds of REPS runs: in the sandbox (sbx) or in process. */
static double median_s(const uint8_t *in, size_t in_len, unsigned threads, int sbx)
{
	double t[REPS];

	for (int r = 0; r < REPS; r++) {
		uint8_t *out = NULL;
		size_t out_len = 0;
		double t0 = bench_now_s();
		int rc = sbx ? sandboxed(&out, &out_len, in, in_len, threads)
			     : in_process(in, in_len, threads);

		t[r] = bench_now_s() - t0;
		free(out);
		if (rc)
			return -1;
	}
	qsort(t, REPS, sizeof(t[0]), cmp_double);
	return t[REPS / 2];
}

static void overhead_row(const char *what, uint64_t m, uint64_t k, uint64_t n)
{
	size_t len = 0;
	uint8_t *in = make_input(&len, m, k, n);
	double ours, ref;

	if (!in) {
		fprintf(stderr, "bench_sandbox: out of memory\n");
		return;
	}
	ref = median_s(in, len, 1, 0);
	ours = median_s(in, len, 1, 1);
	if (ref > 0 && ours > 0) {
		bench_row(what, ours * 1e3, ref * 1e3, "ms/job", "same job in process", 0);
		printf("%-34s sandbox cost %.2f ms per job\n", "", (ours - ref) * 1e3);
	}
	free(in);
}

/* 2 threads beside 1 in the sandbox, same bytes. */
static void threads_row(void)
{
	size_t len = 0, l1 = 0, l2 = 0;
	uint8_t *in = make_input(&len, BIG, BIG, BIG), *o1 = NULL, *o2 = NULL;
	double t1, t2, flop = 2.0 * BIG * BIG * BIG;

	if (!in || sandboxed(&o1, &l1, in, len, 1) || sandboxed(&o2, &l2, in, len, 2))
		goto out;
	t1 = median_s(in, len, 1, 1);
	t2 = median_s(in, len, 2, 1);
	if (t1 > 0 && t2 > 0)
		bench_row("sandbox matmul 2048^3, 2 thr", flop / t2 / 1e9, flop / t1 / 1e9,
			  "GFLOP/s", "the same sandbox, 1 thread", 1.6);
	/* The same pair in this process: what the machine gives two
	 * threads right now (a shared VM), to read the row above by. */
	t1 = median_s(in, len, 1, 0);
	t2 = median_s(in, len, 2, 0);
	if (t1 > 0 && t2 > 0)
		bench_row("  in process, 2 thr", flop / t2 / 1e9, flop / t1 / 1e9, "GFLOP/s",
			  "in process, 1 thread", 1.6);
	printf("%-34s %s\n", "", l1 == l2 && memcmp(o1, o2, l1) == 0
				     ? "2-thread output bitwise equal to 1-thread"
				     : "2-thread output DIFFERS from 1-thread");
out:
	free(in);
	free(o1);
	free(o2);
}

/* Exec mode (the daemons') beside fork mode, the same small job: what
 * the exec of a fresh assay-worker and its job file add. */
static void exec_row(void)
{
	const char *build = getenv("ASSAY_BUILD");
	char path[1024], why[256];
	size_t len = 0;
	uint8_t *in = make_input(&len, 64, 64, 64);
	double forked, execd;

	if (!in || !build) {
		fprintf(stderr, "bench_sandbox: %s\n", in ? "ASSAY_BUILD is not set" : "out of memory");
		free(in);
		return;
	}
	forked = median_s(in, len, 1, 1);
	(void)snprintf(path, sizeof(path), "%s/bin/%s", build, SBX_WORKER_NAME);
	if (sbx_use_worker(path, why, sizeof(why))) {
		fprintf(stderr, "bench_sandbox: %s\n", why);
		free(in);
		return;
	}
	execd = median_s(in, len, 1, 1);
	sbx_use_fork_for_tests();
	if (forked > 0 && execd > 0)
		bench_row("sandbox small job, exec mode", execd * 1e3, forked * 1e3, "ms/job",
			  "the same job, fork mode", 0);
	free(in);
}

void bench_sandbox(void)
{
	overhead_row("sandbox small job (64^3)", 64, 64, 64);
	overhead_row("sandbox large job (1024^3, 8 MiB)", 1024, 1024, 1024);
	exec_row();
	threads_row();
	fflush(stdout);
}
