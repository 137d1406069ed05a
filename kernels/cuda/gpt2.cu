/*
 * gpt2.cu: gpt2_f32@1 on CUDA, the operations of kernels/cpu/gpt2.c in
 * the same order (docs/kernels.md, "gpt2_f32@1"):
 * - embeddings: one rounded add per element;
 * - LayerNorm: layernorm_f32's kernel (rowwise.cu), the spec's tree;
 * - linear layers: matmul_f32's kernel with bias (matmul.cu): per output
 *   the fma chain over k ascending from +0, then + bias;
 * - attention: one block per (row, head): scores by kern_dot8 / sqrt(hd),
 *   softmax_f32's row rule by one thread (the sum tree streamed in order),
 *   the weighted sum of values one fma chain over positions per column;
 * - GELU (kern_gelu_tanh), residual adds, logits by kern_dot8 against
 *   wte's rows; the arg max (kern_argmax) on the host.
 * The scalar pieces come from kern_math.h, compiled for both paths.
 *
 * The weights are copied to the device once per call; the key/value
 * cache, the activations and the logits live there.  A model whose
 * weights and scratch do not fit the free device memory is refused
 * before anything is allocated (KERN_DEVICE_AUTO then runs the CPU).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.cuh"
#include "kern_limits.h"

#define ATT_THREADS 64

__device__ __forceinline__ void row_pos(size_t r, int prefill, size_t prompt, size_t pos,
					size_t *b, size_t *p)
{
	*b = prefill ? r / prompt : r;
	*p = prefill ? r % prompt : pos;
}

__global__ void embed_kernel(float *x, const float *__restrict__ wte,
			     const float *__restrict__ wpe, const int32_t *__restrict__ tok,
			     size_t rows, size_t d, int prefill, size_t prompt, size_t pos)
{
	for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < rows * d;
	     e += (size_t)gridDim.x * blockDim.x) {
		size_t r = e / d, i = e % d, b, p;
		row_pos(r, prefill, prompt, pos, &b, &p);
		x[e] = KADD(wte[(size_t)tok[r] * d + i], wpe[p * d + i]);
	}
}

/* k and v of each row into the cache [B][ctx][D] of this layer. */
__global__ void store_kv_kernel(float *kc, float *vc, const float *__restrict__ qkv,
				size_t rows, size_t d, size_t ctx, int prefill, size_t prompt,
				size_t pos)
{
	for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < rows * d;
	     e += (size_t)gridDim.x * blockDim.x) {
		size_t r = e / d, i = e % d, b, p;
		row_pos(r, prefill, prompt, pos, &b, &p);
		kc[(b * ctx + p) * d + i] = qkv[r * 3 * d + d + i];
		vc[(b * ctx + p) * d + i] = qkv[r * 3 * d + 2 * d + i];
	}
}

/* Block (row r, head h): att[r][h*hd + i]. */
__global__ void __launch_bounds__(ATT_THREADS)
attn_kernel(float *att, const float *__restrict__ qkv, const float *__restrict__ kc,
	    const float *__restrict__ vc, size_t heads, size_t d, size_t ctx, int prefill,
	    size_t prompt, size_t pos, float sqrt_hd)
{
	__shared__ float sc[KERN_GPT2_CONTEXT_MAX];
	size_t r = blockIdx.x / heads, hd = d / heads, off = (blockIdx.x % heads) * hd, b, p;
	const float *q = qkv + r * 3 * d + off, *kb, *vb;

	row_pos(r, prefill, prompt, pos, &b, &p);
	kb = kc + b * ctx * d + off;
	vb = vc + b * ctx * d + off;
	for (size_t s = threadIdx.x; s <= p; s += ATT_THREADS)
		sc[s] = KDIV(kern_dot8(q, kb + s * d, hd), sqrt_hd);
	__syncthreads();
	if (threadIdx.x == 0)
		kern_softmax_row(sc, sc, p + 1);   /* sequentially, in order */
	__syncthreads();
	for (size_t i = threadIdx.x; i < hd; i += ATT_THREADS) {
		float acc = 0.0f;
		for (size_t s = 0; s <= p; s++)
			acc = KFMA(sc[s], vb[s * d + i], acc);
		att[r * d + off + i] = acc;
	}
}

__global__ void add_kernel(float *x, const float *__restrict__ h, size_t n)
{
	for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n;
	     e += (size_t)gridDim.x * blockDim.x)
		x[e] = KADD(x[e], h[e]);
}

__global__ void gelu_kernel(float *f, size_t n)
{
	for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < n;
	     e += (size_t)gridDim.x * blockDim.x)
		f[e] = kern_gelu_tanh(f[e]);
}

/* The last row of each sequence into last[B][D]. */
__global__ void last_rows_kernel(float *last, const float *__restrict__ x, size_t batch,
				 size_t d, int prefill, size_t prompt)
{
	for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < batch * d;
	     e += (size_t)gridDim.x * blockDim.x) {
		size_t b = e / d, r = prefill ? b * prompt + prompt - 1 : b;
		last[e] = x[r * d + e % d];
	}
}

__global__ void logits_kernel(float *logits, const float *__restrict__ lnl,
			      const float *__restrict__ wte, size_t batch, size_t vocab, size_t d)
{
	for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < batch * vocab;
	     e += (size_t)gridDim.x * blockDim.x) {
		size_t b = e / vocab, v = e % vocab;
		logits[e] = kern_dot8(lnl + b * d, wte + v * d, d);
	}
}

static unsigned grid_for(size_t n)
{
	size_t g = kc_blocks(n, 256);
	return g < 65535 ? (unsigned)(g ? g : 1) : 65535u;
}

/* ------------------------------------------------------------------ */
/* Device state of one call                                             */

struct dev_layer {
	float *t[12];    /* struct kern_gpt2_layer's order */
};

struct dev {
	const struct kern_gpt2_model *m;
	size_t batch, prompt, ctx, rows;
	float *wte, *wpe, *lnf_g, *lnf_b;
	struct dev_layer *layer;    /* host array of device pointers */
	float *kc, *vc, *x, *h, *att, *qkv, *ff, *last, *lnl, *logits;
	int32_t *tok;
	float sqrt_hd;
};

static const float *layer_src(const struct kern_gpt2_layer *L, int q)
{
	const float *const p[12] = { L->ln1_g, L->ln1_b, L->attn_w, L->attn_b, L->proj_w,
				     L->proj_b, L->ln2_g, L->ln2_b, L->fc_w, L->fc_b, L->out_w,
				     L->out_b };
	return p[q];
}

static size_t layer_elems(const struct kern_gpt2_model *m, int q)
{
	const size_t d = m->d, f = m->ff;
	const size_t n[12] = { d, d, d * 3 * d, 3 * d, d * d, d, d, d, d * f, f, f * d, d };
	return n[q];
}

/* Weights and scratch, in floats: checked against the free memory. */
static size_t need_floats(const struct dev *D)
{
	const struct kern_gpt2_model *m = D->m;
	size_t w = (m->vocab + m->positions + 2) * m->d;

	for (int q = 0; q < 12; q++)
		w += m->layers * layer_elems(m, q);
	return w + 2 * m->layers * D->batch * D->ctx * m->d +
	       D->rows * (6 * m->d + m->ff) + D->batch * (2 * m->d + m->vocab);
}

static int up(char err[256], float **dst, const float *src, size_t n)
{
	int rc = 0;

	CK(cudaMalloc(dst, n * sizeof(float)));
	CK(cudaMemcpy(*dst, src, n * sizeof(float), cudaMemcpyHostToDevice));
fail:
	return rc;
}

static int dev_alloc(char err[256], struct dev *D)
{
	const struct kern_gpt2_model *m = D->m;
	size_t d = m->d, cache = m->layers * D->batch * D->ctx * d, freeb = 0, total = 0;
	int rc = 0;

	CK(cudaMemGetInfo(&freeb, &total));
	if (need_floats(D) * sizeof(float) > freeb) {
		snprintf(err, 256, "gpt2 needs %zu bytes of device memory, %zu free",
			 need_floats(D) * sizeof(float), freeb);
		return 1;
	}
	if (up(err, &D->wte, m->wte, m->vocab * d) || up(err, &D->wpe, m->wpe, m->positions * d) ||
	    up(err, &D->lnf_g, m->lnf_g, d) || up(err, &D->lnf_b, m->lnf_b, d))
		return 1;
	for (size_t l = 0; l < m->layers; l++)
		for (int q = 0; q < 12; q++)
			if (up(err, &D->layer[l].t[q], layer_src(&m->layer[l], q), layer_elems(m, q)))
				return 1;
	CK(cudaMalloc(&D->kc, cache * sizeof(float)));
	CK(cudaMalloc(&D->vc, cache * sizeof(float)));
	CK(cudaMalloc(&D->x, D->rows * d * sizeof(float)));
	CK(cudaMalloc(&D->h, D->rows * d * sizeof(float)));
	CK(cudaMalloc(&D->att, D->rows * d * sizeof(float)));
	CK(cudaMalloc(&D->qkv, D->rows * 3 * d * sizeof(float)));
	CK(cudaMalloc(&D->ff, D->rows * m->ff * sizeof(float)));
	CK(cudaMalloc(&D->last, D->batch * d * sizeof(float)));
	CK(cudaMalloc(&D->lnl, D->batch * d * sizeof(float)));
	CK(cudaMalloc(&D->logits, D->batch * m->vocab * sizeof(float)));
	CK(cudaMalloc(&D->tok, D->rows * sizeof(int32_t)));
fail:
	return rc;
}

static void dev_free(struct dev *D)
{
	float *all[] = { D->wte, D->wpe, D->lnf_g, D->lnf_b, D->kc, D->vc, D->x, D->h, D->att,
			 D->qkv, D->ff, D->last, D->lnl, D->logits };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		cudaFree(all[i]);
	cudaFree(D->tok);
	for (size_t l = 0; D->layer && l < D->m->layers; l++)
		for (int q = 0; q < 12; q++)
			cudaFree(D->layer[l].t[q]);
	free(D->layer);
}

/* ------------------------------------------------------------------ */
/* One pass and its next tokens                                          */

static int layer_pass(char err[256], struct dev *D, size_t l, size_t n, int prefill,
		      size_t pos)
{
	const struct kern_gpt2_model *m = D->m;
	float *const *w = D->layer[l].t;
	size_t d = m->d, f = m->ff, off = l * D->batch * D->ctx * d;
	int rc = 0;

	if (kern_cuda_layernorm_dev(err, D->h, D->x, w[0], w[1], n, d, KERN_GPT2_EPS) ||
	    kern_cuda_linear_dev(err, D->qkv, D->h, w[2], w[3], n, d, 3 * d))
		return 1;
	store_kv_kernel<<<grid_for(n * d), 256>>>(D->kc + off, D->vc + off, D->qkv, n, d, D->ctx,
						  prefill, D->prompt, pos);
	attn_kernel<<<(unsigned)(n * m->heads), ATT_THREADS>>>(
		D->att, D->qkv, D->kc + off, D->vc + off, m->heads, d, D->ctx, prefill, D->prompt,
		pos, D->sqrt_hd);
	CK(cudaGetLastError());
	if (kern_cuda_linear_dev(err, D->h, D->att, w[4], w[5], n, d, d))
		return 1;
	add_kernel<<<grid_for(n * d), 256>>>(D->x, D->h, n * d);
	if (kern_cuda_layernorm_dev(err, D->h, D->x, w[6], w[7], n, d, KERN_GPT2_EPS) ||
	    kern_cuda_linear_dev(err, D->ff, D->h, w[8], w[9], n, d, f))
		return 1;
	gelu_kernel<<<grid_for(n * f), 256>>>(D->ff, n * f);
	if (kern_cuda_linear_dev(err, D->h, D->ff, w[10], w[11], n, f, d))
		return 1;
	add_kernel<<<grid_for(n * d), 256>>>(D->x, D->h, n * d);
	CK(cudaGetLastError());
fail:
	return rc;
}

static int step(char err[256], struct dev *D, int32_t *ids, float *logits, size_t n_new,
		size_t s)
{
	const struct kern_gpt2_model *m = D->m;
	int prefill = s == 0;
	size_t n = prefill ? D->rows : D->batch, pos = prefill ? 0 : D->prompt + s - 1;
	int rc = 0;

	embed_kernel<<<grid_for(n * m->d), 256>>>(D->x, D->wte, D->wpe, D->tok, n, m->d, prefill,
						  D->prompt, pos);
	CK(cudaGetLastError());
	for (size_t l = 0; l < m->layers; l++)
		if (layer_pass(err, D, l, n, prefill, pos))
			return 1;
	last_rows_kernel<<<grid_for(D->batch * m->d), 256>>>(D->last, D->x, D->batch, m->d,
							     prefill, D->prompt);
	if (kern_cuda_layernorm_dev(err, D->lnl, D->last, D->lnf_g, D->lnf_b, D->batch, m->d,
				    KERN_GPT2_EPS))
		return 1;
	logits_kernel<<<grid_for(D->batch * m->vocab), 256>>>(D->logits, D->lnl, D->wte, D->batch,
							      m->vocab, m->d);
	CK_LAUNCH();
	CK(cudaMemcpy(logits, D->logits, D->batch * m->vocab * sizeof(float),
		      cudaMemcpyDeviceToHost));
	for (size_t b = 0; b < D->batch; b++)
		ids[b * n_new + s] = (int32_t)kern_argmax(logits + b * m->vocab, m->vocab);
fail:
	return rc;
}

extern "C" int kern_cuda_gpt2(char err[256], int32_t *ids, float *logits,
			      const struct kern_gpt2_model *m, const int32_t *tokens,
			      size_t batch, size_t prompt, size_t new_tokens)
{
	struct dev D;
	int32_t *next = NULL;
	int rc = 0;

	memset(&D, 0, sizeof(D));
	D.m = m;
	D.batch = batch;
	D.prompt = prompt;
	D.ctx = prompt + new_tokens - 1;
	D.rows = batch * prompt;
	D.sqrt_hd = sqrtf((float)(m->d / m->heads));   /* correctly rounded, as the CPU's */
	D.layer = (struct dev_layer *)calloc(m->layers, sizeof(*D.layer));
	next = (int32_t *)malloc(batch * sizeof(int32_t));
	if (D.layer == NULL || next == NULL) {
		snprintf(err, 256, "out of host memory");
		rc = 1;
		goto fail;
	}
	if (dev_alloc(err, &D)) {
		rc = 1;
		goto fail;
	}
	CK(cudaMemcpy(D.tok, tokens, D.rows * sizeof(int32_t), cudaMemcpyHostToDevice));
	for (size_t s = 0; s < new_tokens; s++) {
		if (s > 0) {
			for (size_t b = 0; b < batch; b++)
				next[b] = ids[b * new_tokens + s - 1];
			CK(cudaMemcpy(D.tok, next, batch * sizeof(int32_t), cudaMemcpyHostToDevice));
		}
		if (step(err, &D, ids, logits, new_tokens, s)) {
			rc = 1;
			goto fail;
		}
	}
fail:
	dev_free(&D);
	free(next);
	return rc;
}
