/*
 * matmul.c: matmul_f32@1 on the CPU.
 *
 * The specification (docs/kernels.md): for every output c[i][j],
 *   acc = +0.0f; for k = 0 .. K-1 ascending: acc = fma(a[i][k], b[k][j], acc);
 *   if bias: acc = acc + bias[j];  if relu: acc = relu(acc).
 * kern_cpu_matmul_ref is that loop, verbatim.  The fast path keeps it:
 * SIMD lanes hold different j (never different k), threads own disjoint
 * rows, and blocking over k only stores an exact float partial sum to c
 * and reloads it before continuing with the next k.  Every path uses a
 * true fused multiply-add (fmaf, vfmadd), so every path gives the same
 * bits.
 */
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kern_internal.h"
#include "kern_math.h"

#include "banned.h"

void kern_cpu_matmul_ref(float *c, const float *a, const float *b,
			 const float *bias, size_t m, size_t k, size_t n,
			 int relu)
{
	assert(c != NULL && a != NULL && b != NULL);
	assert(m >= 1 && k >= 1 && n >= 1);
	for (size_t i = 0; i < m; i++) {
		for (size_t j = 0; j < n; j++) {
			float acc = 0.0f;
			for (size_t p = 0; p < k; p++)
				acc = KFMA(a[i * k + p], b[p * n + j], acc);
			if (bias)
				acc = KADD(acc, bias[j]);
			if (relu)
				acc = kern_relu(acc);
			c[i * n + j] = acc;
		}
	}
}

/* ------------------------------------------------------------------ */
/* Blocked driver                                                       */

/* A micro-kernel computes one MR x NR tile over kc steps of k from packed
 * A (kc x MR, k-major) and packed B (kc x NR, k-major), starting from +0
 * when `first`, else from the tile's current contents. */
typedef void (*ukernel_fn)(size_t kc, const float *ap, const float *bp,
			   float *c, size_t ldc, int first);

struct mm_isa {
	size_t mr, nr;
	ukernel_fn uk;
};

#define MR_MAX 16
#define NR_MAX 32
/* k block.  Each block boundary costs a store and reload of the C tile
 * (with 4 KiB-aliased rows when N is a power of two), so blocks are long:
 * measured on an Ice Lake core, 512 beats 256 by about 10% at 1024^3.
 * The packed A of a task and a kc x NR slice of packed B stay in L2. */
#ifndef KC
#define KC 512
#endif
/* At most ROWBLOCKS row blocks per task: the packed A of one task
 * (ROWBLOCKS * MR * KC floats, 448 KiB) stays in L2. */
#ifndef ROWBLOCKS
#define ROWBLOCKS 16
#endif
/* Tasks per thread: enough that the dynamic pool balances the threads. */
#ifndef TASKS_PER_THREAD
#define TASKS_PER_THREAD 4
#endif

static void uk_scalar(size_t kc, const float *ap, const float *bp, float *c,
		      size_t ldc, int first)
{
	float acc[4][8];

	for (size_t r = 0; r < 4; r++)
		for (size_t j = 0; j < 8; j++)
			acc[r][j] = first ? 0.0f : c[r * ldc + j];
	for (size_t p = 0; p < kc; p++) {
		for (size_t r = 0; r < 4; r++)
			for (size_t j = 0; j < 8; j++)
				acc[r][j] = KFMA(ap[r], bp[j], acc[r][j]);
		ap += 4;
		bp += 8;
	}
	for (size_t r = 0; r < 4; r++)
		for (size_t j = 0; j < 8; j++)
			c[r * ldc + j] = acc[r][j];
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void uk_avx2(size_t kc, const float *ap, const float *bp, float *c,
		    size_t ldc, int first)
{
	__m256 acc[6][2];

#pragma GCC unroll 6
	for (int r = 0; r < 6; r++) {
		acc[r][0] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc);
		acc[r][1] = first ? _mm256_setzero_ps() : _mm256_loadu_ps(c + r * ldc + 8);
	}
	for (size_t p = 0; p < kc; p++) {
		__m256 b0 = _mm256_loadu_ps(bp);
		__m256 b1 = _mm256_loadu_ps(bp + 8);
#pragma GCC unroll 6
		for (int r = 0; r < 6; r++) {
			__m256 av = _mm256_broadcast_ss(ap + r);
			acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
			acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
		}
		ap += 6;
		bp += 16;
	}
#pragma GCC unroll 6
	for (int r = 0; r < 6; r++) {
		_mm256_storeu_ps(c + r * ldc, acc[r][0]);
		_mm256_storeu_ps(c + r * ldc + 8, acc[r][1]);
	}
}

#ifndef MR512
#define MR512 14
#endif
__attribute__((target("avx512f")))
static void uk_avx512(size_t kc, const float *ap, const float *bp, float *c,
		      size_t ldc, int first)
{
	__m512 acc[MR512][2];

#pragma GCC unroll 16
	for (int r = 0; r < MR512; r++) {
		acc[r][0] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc);
		acc[r][1] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(c + r * ldc + 16);
	}
	for (size_t p = 0; p < kc; p++) {
		__m512 b0 = _mm512_loadu_ps(bp);
		__m512 b1 = _mm512_loadu_ps(bp + 16);
#pragma GCC unroll 16
		for (int r = 0; r < MR512; r++) {
			__m512 av = _mm512_set1_ps(ap[r]);
			acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
			acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
		}
		ap += MR512;
		bp += 32;
	}
#pragma GCC unroll 16
	for (int r = 0; r < MR512; r++) {
		_mm512_storeu_ps(c + r * ldc, acc[r][0]);
		_mm512_storeu_ps(c + r * ldc + 16, acc[r][1]);
	}
}
#endif

static const struct mm_isa isa_table[] = {
	[KERN_ISA_SCALAR] = { 4, 8, uk_scalar },
#if defined(__x86_64__)
	[KERN_ISA_AVX2] = { 6, 16, uk_avx2 },
	[KERN_ISA_AVX512] = { MR512, 32, uk_avx512 },
#endif
};

int kern_cpu_isa_supported(int isa)
{
	switch (isa) {
	case KERN_ISA_SCALAR:
		return 1;
#if defined(__x86_64__)
	case KERN_ISA_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	case KERN_ISA_AVX512:
		return __builtin_cpu_supports("avx512f");
#endif
	default:
		return 0;
	}
}

int kern_cpu_isa_best(void)
{
	if (kern_cpu_isa_supported(KERN_ISA_AVX512))
		return KERN_ISA_AVX512;
	if (kern_cpu_isa_supported(KERN_ISA_AVX2))
		return KERN_ISA_AVX2;
	return KERN_ISA_SCALAR;
}

struct mm_job {
	const struct mm_isa *isa;
	float *c;
	const float *a, *b, *bias;
	size_t m, k, n;
	int relu;
	float *ap;                /* packed A: rowblocks x k x mr */
	float *bp;                /* packed B: panels x k x nr */
	size_t rowblocks, panels;
	size_t row_tasks;         /* row blocks are split evenly into these */
	size_t col_tasks;         /* and panels into these */
};

/*
 * Packing buffers.  Fresh multi-megabyte allocations are new pages, and a
 * page fault per 4 KiB (a few microseconds in a VM) costs as much as the
 * packing itself, so up to PACK_CACHE_SLOTS buffers of at most
 * PACK_CACHE_BYTES are kept for the next call instead of being freed.
 * The cache only holds memory; its contents are always overwritten.
 */
#define PACK_CACHE_SLOTS 4
#define PACK_CACHE_BYTES ((size_t)64 << 20)

struct pack_buf {
	float *p;
	size_t cap;
};

static pthread_mutex_t pack_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pack_buf pack_cache[PACK_CACHE_SLOTS];

static struct pack_buf buf_alloc(size_t bytes)
{
	struct pack_buf b = { NULL, 0 };
	size_t best = PACK_CACHE_SLOTS;

	bytes = (bytes + 63) / 64 * 64;
	(void)pthread_mutex_lock(&pack_lock);
	for (size_t i = 0; i < PACK_CACHE_SLOTS; i++)
		if (pack_cache[i].p && pack_cache[i].cap >= bytes &&
		    (best == PACK_CACHE_SLOTS || pack_cache[i].cap < pack_cache[best].cap))
			best = i;
	if (best < PACK_CACHE_SLOTS) {
		b = pack_cache[best];
		pack_cache[best].p = NULL;
		pack_cache[best].cap = 0;
	}
	(void)pthread_mutex_unlock(&pack_lock);
	if (b.p == NULL) {
		b.p = aligned_alloc(64, bytes);
		b.cap = b.p ? bytes : 0;
	}
	return b;
}

static void buf_free(struct pack_buf b)
{
	if (b.p == NULL)
		return;
	if (b.cap <= PACK_CACHE_BYTES) {
		(void)pthread_mutex_lock(&pack_lock);
		for (size_t i = 0; i < PACK_CACHE_SLOTS; i++) {
			if (pack_cache[i].p == NULL) {
				pack_cache[i] = b;
				b.p = NULL;
				break;
			}
		}
		(void)pthread_mutex_unlock(&pack_lock);
	}
	free(b.p);
}

/* Rows of B per packing task. */
#define PACK_ROWS 64

/* Packs rows [i*PACK_ROWS, ...) of B into every panel: panel pn holds
 * columns [pn*nr, pn*nr+nr), k-major, zero-padded.  Reading B row by row
 * keeps the hardware prefetcher streaming (walking a panel down its
 * column would touch a new page per row). */
static void pack_b(void *ctx, size_t i)
{
	const struct mm_job *j = ctx;
	size_t nr = j->isa->nr, p0 = i * PACK_ROWS;
	size_t p1 = p0 + PACK_ROWS < j->k ? p0 + PACK_ROWS : j->k;

	for (size_t p = p0; p < p1; p++) {
		const float *src = j->b + p * j->n;
		for (size_t pn = 0; pn < j->panels; pn++) {
			size_t j0 = pn * nr, w = j->n - j0 < nr ? j->n - j0 : nr;
			float *dst = j->bp + pn * j->k * nr + p * nr;
			size_t q = 0;
			for (; q < w; q++)
				dst[q] = src[j0 + q];
			for (; q < nr; q++)
				dst[q] = 0.0f;
		}
	}
}

/* Packs row block rb of A: rows [rb*mr, rb*mr+mr), k-major (element
 * (r, p) at p*mr + r), zero-padded.  Walks k in chunks of 16 (one cache
 * line of each source row) so the chunk's destination stays in L1. */
static void pack_a(void *ctx, size_t rb)
{
	const struct mm_job *j = ctx;
	size_t mr = j->isa->mr, i0 = rb * mr;
	size_t h = j->m - i0 < mr ? j->m - i0 : mr;
	float *dst = j->ap + rb * j->k * mr;

	for (size_t p0 = 0; p0 < j->k; p0 += 16) {
		size_t p1 = p0 + 16 < j->k ? p0 + 16 : j->k;
		for (size_t r = 0; r < mr; r++) {
			const float *src = j->a + (i0 + r) * j->k;
			for (size_t p = p0; p < p1; p++)
				dst[p * mr + r] = r < h ? src[p] : 0.0f;
		}
	}
}

/* Task t: row blocks [rt*rowblocks/row_tasks, (rt+1)*rowblocks/row_tasks)
 * times panels [ct*panels/col_tasks, ...), with rt = t / col_tasks and
 * ct = t % col_tasks; all k. */
static void mm_task(void *ctx, size_t t)
{
	const struct mm_job *j = ctx;
	size_t mr = j->isa->mr, nr = j->isa->nr;
	size_t rt = t / j->col_tasks, ct = t % j->col_tasks;
	size_t rb0 = rt * j->rowblocks / j->row_tasks;
	size_t rb1 = (rt + 1) * j->rowblocks / j->row_tasks;
	size_t pn0 = ct * j->panels / j->col_tasks;
	size_t pn1 = (ct + 1) * j->panels / j->col_tasks;
	float tile[MR_MAX * NR_MAX];

	for (size_t k0 = 0; k0 < j->k; k0 += KC) {
		size_t kc = j->k - k0 < KC ? j->k - k0 : KC;
		int first = k0 == 0;
		for (size_t pn = pn0; pn < pn1; pn++) {
			const float *bp = j->bp + pn * j->k * nr + k0 * nr;
			size_t j0 = pn * nr;
			size_t w = j->n - j0 < nr ? j->n - j0 : nr;
			for (size_t rb = rb0; rb < rb1; rb++) {
				const float *ap = j->ap + rb * j->k * mr + k0 * mr;
				size_t i0 = rb * mr;
				size_t h = j->m - i0 < mr ? j->m - i0 : mr;
				float *c = j->c + i0 * j->n + j0;
				if (h == mr && w == nr) {
					j->isa->uk(kc, ap, bp, c, j->n, first);
					continue;
				}
				/* Edge tile: through a full-size buffer; the
				 * padded lanes compute values nobody keeps. */
				for (size_t r = 0; r < mr; r++)
					for (size_t q = 0; q < nr; q++)
						tile[r * nr + q] = (!first && r < h && q < w) ?
							c[r * j->n + q] : 0.0f;
				j->isa->uk(kc, ap, bp, tile, nr, first);
				for (size_t r = 0; r < h; r++)
					for (size_t q = 0; q < w; q++)
						c[r * j->n + q] = tile[r * nr + q];
			}
		}
	}
	if (j->bias || j->relu) {
		size_t i1 = rb1 * mr < j->m ? rb1 * mr : j->m;
		size_t q0 = pn0 * nr, q1 = pn1 * nr < j->n ? pn1 * nr : j->n;
		for (size_t i = rb0 * mr; i < i1; i++) {
			float *c = j->c + i * j->n;
			for (size_t q = q0; q < q1; q++) {
				float v = c[q];
				if (j->bias)
					v = KADD(v, j->bias[q]);
				if (j->relu)
					v = kern_relu(v);
				c[q] = v;
			}
		}
	}
}

void kern_cpu_matmul_isa(float *c, const float *a, const float *b,
			 const float *bias, size_t m, size_t k, size_t n,
			 int relu, unsigned threads, int isa)
{
	struct mm_job j;
	struct pack_buf abuf, bbuf;
	size_t rowblocks, panels, want;

	assert(c != NULL && a != NULL && b != NULL);
	assert(m >= 1 && k >= 1 && n >= 1 && threads >= 1);
	if (!kern_cpu_isa_supported(isa))
		isa = KERN_ISA_SCALAR;
	memset(&j, 0, sizeof j);
	j.isa = &isa_table[isa];
	rowblocks = (m + j.isa->mr - 1) / j.isa->mr;
	panels = (n + j.isa->nr - 1) / j.isa->nr;
	abuf = buf_alloc(rowblocks * j.isa->mr * k * sizeof(float));
	bbuf = buf_alloc(panels * j.isa->nr * k * sizeof(float));
	if (abuf.p == NULL || bbuf.p == NULL) {
		/* Out of memory for packing: the reference gives the same
		 * bits, only slower. */
		buf_free(abuf);
		buf_free(bbuf);
		kern_cpu_matmul_ref(c, a, b, bias, m, k, n, relu);
		return;
	}
	j.ap = abuf.p;
	j.bp = bbuf.p;
	j.c = c;
	j.a = a;
	j.b = b;
	j.bias = bias;
	j.m = m;
	j.k = k;
	j.n = n;
	j.relu = relu;
	j.rowblocks = rowblocks;
	j.panels = panels;
	kern_parallel_for(threads, (k + PACK_ROWS - 1) / PACK_ROWS, pack_b, &j);
	kern_parallel_for(threads, rowblocks, pack_a, &j);
	/* About threads * TASKS_PER_THREAD tasks: split the rows (each task
	 * at most ROWBLOCKS row blocks), and the panels too when there are
	 * too few row blocks to go round. */
	want = (size_t)threads * TASKS_PER_THREAD;
	j.row_tasks = want;
	if (j.row_tasks < (rowblocks + ROWBLOCKS - 1) / ROWBLOCKS)
		j.row_tasks = (rowblocks + ROWBLOCKS - 1) / ROWBLOCKS;
	if (j.row_tasks > rowblocks)
		j.row_tasks = rowblocks;
	j.col_tasks = 1;
	if (j.row_tasks < want) {
		j.col_tasks = (want + j.row_tasks - 1) / j.row_tasks;
		if (j.col_tasks > panels)
			j.col_tasks = panels;
	}
	kern_parallel_for(threads, j.row_tasks * j.col_tasks, mm_task, &j);
	buf_free(abuf);
	buf_free(bbuf);
}

void kern_cpu_matmul(float *c, const float *a, const float *b,
		     const float *bias, size_t m, size_t k, size_t n,
		     int relu, unsigned threads)
{
	/* Tiny products: packing costs more than it saves.  (m * n is at
	 * most KERN_ELEMS_MAX, so the second product cannot overflow.) */
	if (m * n < 4096 && m * n * k < 4096) {
		kern_cpu_matmul_ref(c, a, b, bias, m, k, n, relu);
		return;
	}
	kern_cpu_matmul_isa(c, a, b, bias, m, k, n, relu, threads,
			    kern_cpu_isa_best());
}
