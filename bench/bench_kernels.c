/*
 * bench_kernels.c: CPU matmul_f32@1 at 1024^3 on 2 threads against
 * OpenBLAS cblas_sgemm on the same 2 threads, measured in the same run
 * (best of several repetitions each), with the bitwise check that makes
 * the comparison fair: our result must equal the scalar reference loop.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "bench.h"
#include "kernels.h"
#include "kern_internal.h"

#include "banned.h"

#define N 1024
#define REPS 15

static float *rand_matrix(uint64_t *s, size_t n)
{
	float *v = malloc(n * sizeof(float));
	for (size_t i = 0; v && i < n; i++) {
		*s = *s * 6364136223846793005ull + 1442695040888963407ull;
		v[i] = (float)((double)(*s >> 40) * 0x1p-24 * 2.0 - 1.0);
	}
	return v;
}

void bench_kernels(void)
{
	uint64_t seed = 42, shape[2] = { N, N };
	struct kern_tensors in, out;
	struct kern_run_opts o = { KERN_DEVICE_CPU, 2, NULL };
	struct kern_diag d = { "" };
	char dev[KERN_DEVICE_BYTES];
	float *a = rand_matrix(&seed, (size_t)N * N), *b = rand_matrix(&seed, (size_t)N * N);
	float *c = malloc((size_t)N * N * sizeof(float)), *ref = malloc((size_t)N * N * sizeof(float));
	double best_ours = 1e30, best_core = 1e30, best_blas = 1e30, flop = 2.0 * N * N * N;
	int exact = 0;

	if (!a || !b || !c || !ref) {
		fprintf(stderr, "bench_kernels: out of memory\n");
		goto out;
	}
	kern_tensors_init(&in);
	if (kern_tensors_add(&in, NULL, &d, "a", KERN_DT_F32, 2, shape, a) != KERN_OK ||
	    kern_tensors_add(&in, NULL, &d, "b", KERN_DT_F32, 2, shape, b) != KERN_OK) {
		fprintf(stderr, "bench_kernels: %s\n", d.msg);
		goto out_in;
	}
	/* Alternate the two so that both see the same machine state (the
	 * figure is the best of REPS runs of each). */
	openblas_set_num_threads(2);
	for (int r = 0; r < REPS; r++) {
		double t0 = bench_now_s(), t;
		kern_tensors_init(&out);
		if (kern_run(&out, dev, &d, "matmul_f32@1", &in, "{\"relu\":false}", 14, &o)) {
			fprintf(stderr, "bench_kernels: %s\n", d.msg);
			goto out_in;
		}
		t = bench_now_s() - t0;
		if (t < best_ours)
			best_ours = t;
		if (r == 0) {
			kern_cpu_matmul_ref(ref, a, b, NULL, N, N, N, 0);
			exact = memcmp(out.t[0].data, ref, (size_t)N * N * sizeof(float)) == 0;
		}
		kern_tensors_release(&out);
		t0 = bench_now_s();
		kern_cpu_matmul(c, a, b, NULL, N, N, N, 0, 2);
		t = bench_now_s() - t0;
		if (t < best_core)
			best_core = t;
		t0 = bench_now_s();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N,
			    b, N, 0.0f, c, N);
		t = bench_now_s() - t0;
		if (t < best_blas)
			best_blas = t;
	}
	/* The kernel into a caller-owned buffer, as cblas_sgemm works... */
	bench_row("matmul_f32@1 1024^3 cpu 2 thr", flop / best_core / 1e9,
		  flop / best_blas / 1e9, "GFLOP/s", "OpenBLAS sgemm 2 threads", 0.60);
	/* ...and the whole kern_run call: validation, output allocation,
	 * NaN canonicalisation. */
	bench_row("  same through kern_run()", flop / best_ours / 1e9,
		  flop / best_blas / 1e9, "GFLOP/s", "OpenBLAS sgemm 2 threads", 0.60);
	printf("%-34s %s (matmul_f32@1 output %s the scalar reference loop)\n", "",
	       exact ? "bitwise exact" : "NOT EXACT", exact ? "equals" : "differs from");
	fflush(stdout);
out_in:
	kern_tensors_release(&in);
out:
	free(a);
	free(b);
	free(c);
	free(ref);
}
