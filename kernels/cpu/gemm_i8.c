/*
 * gemm_i8.c: gemm_i8@1 on the CPU.  c[i][j] = sum over k of
 * (int32)a[i][k] * (int32)b[k][j], exactly: K <= KERN_GEMM_I8_K_MAX keeps
 * every partial sum inside int32, so the order is free and the vector
 * clones below give the same result as any other order.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "kern_internal.h"
#include "kern_limits.h"

#include "banned.h"

/* Rows per task: four rows share each row of b while it is in cache. */
#define ROWS 4

struct i8_job {
	int32_t *c;
	const int8_t *a, *b;
	size_t m, k, n;
};

__attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default"),
	       optimize("vect-cost-model=dynamic")))
static void axpy_i8(int32_t *restrict c, const int8_t *restrict b, int32_t av,
		    size_t n)
{
	for (size_t j = 0; j < n; j++)
		c[j] += av * (int32_t)b[j];
}

static void i8_task(void *ctx, size_t t)
{
	const struct i8_job *jb = ctx;
	size_t i0 = t * ROWS, i1 = i0 + ROWS < jb->m ? i0 + ROWS : jb->m;

	for (size_t i = i0; i < i1; i++)
		memset(jb->c + i * jb->n, 0, jb->n * sizeof(int32_t));
	for (size_t p = 0; p < jb->k; p++) {
		const int8_t *brow = jb->b + p * jb->n;
		for (size_t i = i0; i < i1; i++) {
			int32_t av = jb->a[i * jb->k + p];
			if (av != 0)
				axpy_i8(jb->c + i * jb->n, brow, av, jb->n);
		}
	}
}

void kern_cpu_gemm_i8(int32_t *c, const int8_t *a, const int8_t *b,
		      size_t m, size_t k, size_t n, unsigned threads)
{
	struct i8_job jb = { c, a, b, m, k, n };

	assert(c != NULL && a != NULL && b != NULL);
	assert(k >= 1 && k <= KERN_GEMM_I8_K_MAX && m >= 1 && n >= 1);
	kern_parallel_for(threads, (m + ROWS - 1) / ROWS, i8_task, &jb);
}
