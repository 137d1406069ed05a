/*
 * reduce_sum.c: reduce_sum_f32@1 on the CPU: the pairwise sum tree of
 * kern_math.h over x[0..n).  Threads sum aligned power-of-two chunks,
 * which are subtrees of that tree (docs/kernels.md), and the chunk sums
 * are then pushed into the same tree as leaves of the chunk's size.
 */
#include <assert.h>
#include <stdlib.h>

#include "kern_internal.h"
#include "kern_math.h"

#include "banned.h"

/* 2^20 elements per chunk: a power of two, so chunks are subtrees. */
#define CHUNK ((size_t)1 << 20)

/* The tree sum of v[0..n), with v aligned to a multiple of 8 in the
 * whole array (chunks are): groups of 8 are perfect subtrees. */
static float tree_sum(const float *v, size_t n)
{
	struct kern_tree t;
	size_t i = 0;

	kern_tree_init(&t);
	for (; i + 8 <= n; i += 8) {
		float s01 = KADD(v[i], v[i + 1]), s23 = KADD(v[i + 2], v[i + 3]);
		float s45 = KADD(v[i + 4], v[i + 5]), s67 = KADD(v[i + 6], v[i + 7]);
		kern_tree_push(&t, KADD(KADD(s01, s23), KADD(s45, s67)), 8);
	}
	for (; i < n; i++)
		kern_tree_push(&t, v[i], 1);
	return kern_tree_final(&t);
}

struct sum_job {
	const float *x;
	size_t n;
	float *part;
};

static void sum_task(void *ctx, size_t i)
{
	const struct sum_job *j = ctx;
	size_t b = i * CHUNK, e = b + CHUNK < j->n ? b + CHUNK : j->n;

	j->part[i] = tree_sum(j->x + b, e - b);
}

void kern_cpu_reduce_sum(float *y, const float *x, size_t n, unsigned threads)
{
	size_t chunks = (n + CHUNK - 1) / CHUNK;
	struct sum_job j = { x, n, NULL };
	struct kern_tree t;
	float one;

	assert(y != NULL && x != NULL && n >= 1);
	if (chunks == 1) {
		*y = tree_sum(x, n);
		return;
	}
	/* At most KERN_ELEMS_MAX / CHUNK = 256 chunks. */
	float part[256];
	assert(chunks <= sizeof part / sizeof part[0]);
	j.part = part;
	kern_parallel_for(threads, chunks, sum_task, &j);
	kern_tree_init(&t);
	for (size_t i = 0; i < chunks; i++) {
		size_t len = (i + 1) * CHUNK <= n ? CHUNK : n - i * CHUNK;
		kern_tree_push(&t, part[i], len);
	}
	one = kern_tree_final(&t);
	*y = one;
}
