/*
 * rowwise.c: softmax_f32@1 and layernorm_f32@1 on the CPU.  Each row is
 * computed by one thread in the exact order of docs/kernels.md; threads
 * own disjoint rows.
 */
#include <assert.h>
#include <stdint.h>

#include "kern_internal.h"
#include "kern_math.h"

#include "banned.h"

/* Rows per task. */
#define ROWS 16

struct row_job {
	float *y;
	const float *x, *gamma, *beta;
	size_t rows, cols;
	float eps;
};

static void layernorm_row(float *y, const float *x, const float *gamma,
			  const float *beta, size_t cols, float eps)
{
	struct kern_tree t;
	float n = (float)cols, mean, var, sd;

	kern_tree_init(&t);
	for (size_t j = 0; j < cols; j++)
		kern_tree_push(&t, x[j], 1);
	mean = KDIV(kern_tree_final(&t), n);
	kern_tree_init(&t);
	for (size_t j = 0; j < cols; j++) {
		float d = KSUB(x[j], mean);
		kern_tree_push(&t, KMUL(d, d), 1);
	}
	var = KDIV(kern_tree_final(&t), n);
	sd = KSQRT(KADD(var, eps));
	for (size_t j = 0; j < cols; j++) {
		float d = KSUB(x[j], mean);
		y[j] = KFMA(KDIV(d, sd), gamma[j], beta[j]);
	}
}

static void softmax_task(void *ctx, size_t t)
{
	const struct row_job *j = ctx;
	size_t r1 = (t + 1) * ROWS < j->rows ? (t + 1) * ROWS : j->rows;

	for (size_t r = t * ROWS; r < r1; r++)
		kern_softmax_row(j->y + r * j->cols, j->x + r * j->cols, j->cols);
}

static void layernorm_task(void *ctx, size_t t)
{
	const struct row_job *j = ctx;
	size_t r1 = (t + 1) * ROWS < j->rows ? (t + 1) * ROWS : j->rows;

	for (size_t r = t * ROWS; r < r1; r++)
		layernorm_row(j->y + r * j->cols, j->x + r * j->cols, j->gamma,
			      j->beta, j->cols, j->eps);
}

void kern_cpu_softmax(float *y, const float *x, size_t rows, size_t cols,
		      unsigned threads)
{
	struct row_job j = { y, x, NULL, NULL, rows, cols, 0.0f };

	assert(y != NULL && x != NULL && rows >= 1 && cols >= 1);
	kern_parallel_for(threads, (rows + ROWS - 1) / ROWS, softmax_task, &j);
}

void kern_cpu_layernorm(float *y, const float *x, const float *gamma,
			const float *beta, size_t rows, size_t cols, float eps,
			unsigned threads)
{
	struct row_job j = { y, x, gamma, beta, rows, cols, eps };

	assert(y != NULL && x != NULL && gamma != NULL && beta != NULL);
	assert(rows >= 1 && cols >= 1);
	kern_parallel_for(threads, (rows + ROWS - 1) / ROWS, layernorm_task, &j);
}
