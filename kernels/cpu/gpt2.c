/*
 * gpt2.c (cpu): gpt2_f32@1 on the CPU, in the exact order of
 * docs/kernels.md ("gpt2_f32@1").  Every value of a sequence depends only
 * on that sequence's tokens and the model: threads own disjoint outputs,
 * and the batch only decides which rows share a pass over the weights.
 *
 * A job is one prefill pass over the B*T prompt rows (filling the
 * key/value cache of every layer), then N-1 decode passes of B rows, one
 * per new token.  After each pass the last row of each sequence goes
 * through ln_f and the tied embedding to logits, whose arg max is the
 * next token.
 *
 * Three fast paths give the bits of their scalar forms: a linear layer
 * of fewer than 16 rows streams the weights once with 64 columns per task
 * (AVX2: 8 vectors of 8 columns, the k order untouched); with 16 rows or
 * more it is kern_cpu_matmul.  dot8 keeps its 8 lanes in one vector.
 * The weighted sum of values runs over 8 columns per vector.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kern_internal.h"
#include "kern_limits.h"
#include "kern_math.h"

#include "banned.h"

#define LIN_COLS 64               /* columns per task of the small linear */
#define LIN_MATMUL_ROWS 16        /* from here on, kern_cpu_matmul */
#define LOGIT_ROWS 256            /* vocabulary rows per logits task */
#define ELEM_ROWS 4               /* rows per task of gelu and add */

static _Atomic int isa_choice = -1;

void kern_cpu_gpt2_set_isa(int isa)
{
	isa_choice = isa;
}

struct run {
	const struct kern_gpt2_model *m;
	size_t batch, prompt, ctx, hd;
	float sqrt_hd;
	float *kc, *vc;               /* [L][B][ctx][D] */
	float *x, *h, *qkv, *att, *ff;
	float *last, *lnl;            /* [B][D]: last rows, after ln_f */
	size_t rows, layer, pos;      /* this pass; pos is decode's position */
	int prefill;
	int avx2;
	unsigned threads;
};

/* ------------------------------------------------------------------ */
/* Primitives: each has a scalar form that defines its bits              */

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static float dot8_avx2(const float *a, const float *b, size_t n)
{
	__m256 acc = _mm256_setzero_ps();
	float lane[8];
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
	_mm256_storeu_ps(lane, acc);
	for (; i < n; i++)
		lane[i % 8] = KFMA(a[i], b[i], lane[i % 8]);
	return kern_tree8(lane);
}

/* out[i] = fma(p, v[i], out[i]) for i < n. */
__attribute__((target("avx2,fma")))
static void axpy_avx2(float *out, float p, const float *v, size_t n)
{
	__m256 pv = _mm256_set1_ps(p);
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(out + i, _mm256_fmadd_ps(pv, _mm256_loadu_ps(v + i),
							  _mm256_loadu_ps(out + i)));
	for (; i < n; i++)
		out[i] = KFMA(p, v[i], out[i]);
}

/* y[j0..j0+64) of one row: acc = +0; fma over k ascending; + bias. */
__attribute__((target("avx2,fma")))
static void lin64_avx2(float *y, const float *x, const float *w, const float *bias,
		       size_t k, size_t n, size_t j0)
{
	__m256 acc[8];

	for (int v = 0; v < 8; v++)
		acc[v] = _mm256_setzero_ps();
	for (size_t q = 0; q < k; q++) {
		__m256 xv = _mm256_broadcast_ss(x + q);
		const float *wr = w + q * n + j0;
		for (int v = 0; v < 8; v++)
			acc[v] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(wr + 8 * v), acc[v]);
	}
	for (int v = 0; v < 8; v++)
		_mm256_storeu_ps(y + j0 + 8 * v,
				 _mm256_add_ps(acc[v], _mm256_loadu_ps(bias + j0 + 8 * v)));
}
#endif

static float dot8(const struct run *R, const float *a, const float *b, size_t n)
{
#if defined(__x86_64__)
	if (R->avx2)
		return dot8_avx2(a, b, n);
#endif
	(void)R;
	return kern_dot8(a, b, n);
}

static void axpy(const struct run *R, float *out, float p, const float *v, size_t n)
{
#if defined(__x86_64__)
	if (R->avx2) {
		axpy_avx2(out, p, v, n);
		return;
	}
#endif
	(void)R;
	for (size_t i = 0; i < n; i++)
		out[i] = KFMA(p, v[i], out[i]);
}

/* ------------------------------------------------------------------ */
/* Linear layers: y[M,N] = x[M,K] w[K,N] + bias, matmul_f32's order      */

struct lin {
	const struct run *R;
	float *y;
	const float *x, *w, *bias;
	size_t m, k, n;
};

static void lin_cols(const struct lin *L, size_t i, size_t j0, size_t j1)
{
	float *y = L->y + i * L->n;
	const float *x = L->x + i * L->k;

#if defined(__x86_64__)
	if (L->R->avx2 && j1 - j0 == LIN_COLS) {
		lin64_avx2(y, x, L->w, L->bias, L->k, L->n, j0);
		return;
	}
#endif
	for (size_t j = j0; j < j1; j++) {
		float acc = 0.0f;
		for (size_t q = 0; q < L->k; q++)
			acc = KFMA(x[q], L->w[q * L->n + j], acc);
		y[j] = KADD(acc, L->bias[j]);
	}
}

static void lin_task(void *ctx, size_t t)
{
	const struct lin *L = ctx;
	size_t j0 = t * LIN_COLS, j1 = j0 + LIN_COLS < L->n ? j0 + LIN_COLS : L->n;

	for (size_t i = 0; i < L->m; i++)
		lin_cols(L, i, j0, j1);
}

static void linear(const struct run *R, float *y, const float *x, const float *w,
		   const float *bias, size_t m, size_t k, size_t n)
{
	struct lin L = { R, y, x, w, bias, m, k, n };

	if (m >= LIN_MATMUL_ROWS) {
		kern_cpu_matmul(y, x, w, bias, m, k, n, 0, R->threads);
		return;
	}
	kern_parallel_for(R->threads, (n + LIN_COLS - 1) / LIN_COLS, lin_task, &L);
}

/* ------------------------------------------------------------------ */
/* Attention                                                            */

static void row_at(const struct run *R, size_t r, size_t *b, size_t *pos)
{
	*b = R->prefill ? r / R->prompt : r;
	*pos = R->prefill ? r % R->prompt : R->pos;
}

static float *cache_at(const struct run *R, float *c, size_t b, size_t pos)
{
	size_t d = R->m->d;
	return c + ((R->layer * R->batch + b) * R->ctx + pos) * d;
}

/* Task r * heads + head: one head of one row. */
static void attn_task(void *ctx, size_t t)
{
	const struct run *R = ctx;
	size_t d = R->m->d, hd = R->hd, r = t / R->m->heads, off = (t % R->m->heads) * hd;
	size_t b, pos;
	const float *q = R->qkv + r * 3 * d + off;
	float *out = R->att + r * d + off;
	float sc[KERN_GPT2_CONTEXT_MAX];
	const float *kb, *vb;

	row_at(R, r, &b, &pos);
	kb = cache_at(R, R->kc, b, 0) + off;
	vb = cache_at(R, R->vc, b, 0) + off;
	for (size_t s = 0; s <= pos; s++)
		sc[s] = KDIV(dot8(R, q, kb + s * d, hd), R->sqrt_hd);
	kern_softmax_row(sc, sc, pos + 1);
	for (size_t i = 0; i < hd; i++)
		out[i] = 0.0f;
	for (size_t s = 0; s <= pos; s++)
		axpy(R, out, sc[s], vb + s * d, hd);
}

static void store_kv(struct run *R)
{
	size_t d = R->m->d;

	for (size_t r = 0; r < R->rows; r++) {
		size_t b, pos;
		row_at(R, r, &b, &pos);
		memcpy(cache_at(R, R->kc, b, pos), R->qkv + r * 3 * d + d, d * sizeof(float));
		memcpy(cache_at(R, R->vc, b, pos), R->qkv + r * 3 * d + 2 * d, d * sizeof(float));
	}
}

/* ------------------------------------------------------------------ */
/* Element-wise steps                                                    */

static void gelu_task(void *ctx, size_t t)
{
	const struct run *R = ctx;
	size_t f = R->m->ff, r1 = (t + 1) * ELEM_ROWS < R->rows ? (t + 1) * ELEM_ROWS : R->rows;

	for (size_t i = t * ELEM_ROWS * f; i < r1 * f; i++)
		R->ff[i] = kern_gelu_tanh(R->ff[i]);
}

static void add_task(void *ctx, size_t t)
{
	const struct run *R = ctx;
	size_t d = R->m->d, r1 = (t + 1) * ELEM_ROWS < R->rows ? (t + 1) * ELEM_ROWS : R->rows;

	for (size_t i = t * ELEM_ROWS * d; i < r1 * d; i++)
		R->x[i] = KADD(R->x[i], R->h[i]);
}

static void elementwise(struct run *R, void (*fn)(void *, size_t))
{
	kern_parallel_for(R->threads, (R->rows + ELEM_ROWS - 1) / ELEM_ROWS, fn, R);
}

/* ------------------------------------------------------------------ */
/* One pass                                                             */

static void embed(struct run *R, const int32_t *tok, size_t tok_stride)
{
	const struct kern_gpt2_model *m = R->m;

	for (size_t r = 0; r < R->rows; r++) {
		size_t b, pos;
		const float *te, *pe;
		row_at(R, r, &b, &pos);
		te = m->wte + (size_t)tok[R->prefill ? r : b * tok_stride] * m->d;
		pe = m->wpe + pos * m->d;
		for (size_t i = 0; i < m->d; i++)
			R->x[r * m->d + i] = KADD(te[i], pe[i]);
	}
}

static void layer(struct run *R, const struct kern_gpt2_layer *L)
{
	size_t d = R->m->d, f = R->m->ff, n = R->rows;

	kern_cpu_layernorm(R->h, R->x, L->ln1_g, L->ln1_b, n, d, KERN_GPT2_EPS, R->threads);
	linear(R, R->qkv, R->h, L->attn_w, L->attn_b, n, d, 3 * d);
	store_kv(R);
	kern_parallel_for(R->threads, n * R->m->heads, attn_task, R);
	linear(R, R->h, R->att, L->proj_w, L->proj_b, n, d, d);
	elementwise(R, add_task);
	kern_cpu_layernorm(R->h, R->x, L->ln2_g, L->ln2_b, n, d, KERN_GPT2_EPS, R->threads);
	linear(R, R->ff, R->h, L->fc_w, L->fc_b, n, d, f);
	elementwise(R, gelu_task);
	linear(R, R->h, R->ff, L->out_w, L->out_b, n, f, d);
	elementwise(R, add_task);
}

struct logit_job {
	const struct run *R;
	float *logits;                /* [B][V] */
};

static void logit_task(void *ctx, size_t t)
{
	const struct logit_job *J = ctx;
	const struct kern_gpt2_model *m = J->R->m;
	size_t v1 = (t + 1) * LOGIT_ROWS < m->vocab ? (t + 1) * LOGIT_ROWS : m->vocab;

	for (size_t v = t * LOGIT_ROWS; v < v1; v++)
		for (size_t b = 0; b < J->R->batch; b++)
			J->logits[b * m->vocab + v] =
				dot8(J->R, J->R->lnl + b * m->d, m->wte + v * m->d, m->d);
}

/* ln_f and the tied embedding on each sequence's last row, then the arg
 * max (ties to the lowest id) into ids[b][step]. */
static void next_tokens(struct run *R, float *logits, int32_t *ids, size_t n, size_t step)
{
	const struct kern_gpt2_model *m = R->m;
	struct logit_job J = { R, logits };

	for (size_t b = 0; b < R->batch; b++) {
		size_t r = R->prefill ? b * R->prompt + R->prompt - 1 : b;
		memcpy(R->last + b * m->d, R->x + r * m->d, m->d * sizeof(float));
	}
	kern_cpu_layernorm(R->lnl, R->last, m->lnf_g, m->lnf_b, R->batch, m->d,
			   KERN_GPT2_EPS, R->threads);
	kern_parallel_for(R->threads, (m->vocab + LOGIT_ROWS - 1) / LOGIT_ROWS, logit_task, &J);
	for (size_t b = 0; b < R->batch; b++) {
		ids[b * n + step] = (int32_t)kern_argmax(logits + b * m->vocab, m->vocab);
	}
}

static void pass(struct run *R)
{
	for (size_t l = 0; l < R->m->layers; l++) {
		R->layer = l;
		layer(R, &R->m->layer[l]);
	}
}

/* ------------------------------------------------------------------ */
/* Entry                                                                */

static int alloc_run(struct run *R)
{
	const struct kern_gpt2_model *m = R->m;
	size_t d = m->d, rows = R->batch * R->prompt;
	size_t cache = m->layers * R->batch * R->ctx * d;

	R->kc = malloc(cache * sizeof(float));
	R->vc = malloc(cache * sizeof(float));
	R->x = malloc(rows * d * sizeof(float));
	R->h = malloc(rows * d * sizeof(float));
	R->att = malloc(rows * d * sizeof(float));
	R->qkv = malloc(rows * 3 * d * sizeof(float));
	R->ff = malloc(rows * m->ff * sizeof(float));
	R->last = malloc(R->batch * d * sizeof(float));
	R->lnl = malloc(R->batch * d * sizeof(float));
	return R->kc && R->vc && R->x && R->h && R->att && R->qkv && R->ff && R->last &&
	       R->lnl ? 0 : -1;
}

static void free_run(struct run *R)
{
	free(R->kc);
	free(R->vc);
	free(R->x);
	free(R->h);
	free(R->att);
	free(R->qkv);
	free(R->ff);
	free(R->last);
	free(R->lnl);
}

int kern_cpu_gpt2(int32_t *ids, float *logits, const struct kern_gpt2_model *m,
		  const int32_t *tokens, size_t batch, size_t prompt,
		  size_t new_tokens, unsigned threads)
{
	struct run R;
	int rc = 0;

	assert(ids && logits && m && tokens && batch >= 1 && prompt >= 1 && new_tokens >= 1);
	assert(m->heads >= 1 && m->d % m->heads == 0);
	assert(prompt + new_tokens - 1 <= m->positions && m->positions <= KERN_GPT2_CONTEXT_MAX);
	memset(&R, 0, sizeof R);
	R.m = m;
	R.batch = batch;
	R.prompt = prompt;
	R.ctx = prompt + new_tokens - 1;
	R.hd = m->d / m->heads;
	R.sqrt_hd = KSQRT((float)R.hd);
	R.threads = threads;
	R.avx2 = kern_cpu_isa_supported(KERN_ISA_AVX2) &&
		 (isa_choice < 0 || isa_choice >= KERN_ISA_AVX2);
	if (alloc_run(&R) != 0) {
		rc = -1;
		goto out;
	}
	R.prefill = 1;
	R.rows = batch * prompt;
	embed(&R, tokens, prompt);
	pass(&R);
	next_tokens(&R, logits, ids, new_tokens, 0);
	R.prefill = 0;
	R.rows = batch;
	for (size_t s = 1; s < new_tokens; s++) {
		R.pos = prompt + s - 1;
		embed(&R, ids + (s - 1), new_tokens);
		pass(&R);
		next_tokens(&R, logits, ids, new_tokens, s);
	}
out:
	free_run(&R);
	return rc;
}
