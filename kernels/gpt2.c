/*
 * gpt2.c: gpt2_f32@1's front: binds a model's tensors by their Hugging
 * Face GPT-2 names, reads every dimension from the shapes and checks it
 * against the others and against kern_limits.h, checks the job (the
 * prompt tensor, the token ids, the positions, the work and the bytes),
 * then hands validated pointers to the CPU computation (kernels/cpu/
 * gpt2.c).  Nothing here touches a number of the result.
 *
 * Model tensors (all F32; D width, F MLP width, V vocabulary, P
 * positions, L layers numbered 0 .. L-1 without gaps):
 *   wte.weight [V,D]  wpe.weight [P,D]  ln_f.weight [D]  ln_f.bias [D]
 *   h.{i}.ln_1.weight [D]  h.{i}.ln_1.bias [D]
 *   h.{i}.attn.c_attn.weight [D,3D]  h.{i}.attn.c_attn.bias [3D]
 *   h.{i}.attn.c_proj.weight [D,D]   h.{i}.attn.c_proj.bias [D]
 *   h.{i}.ln_2.weight [D]  h.{i}.ln_2.bias [D]
 *   h.{i}.mlp.c_fc.weight [D,F]      h.{i}.mlp.c_fc.bias [F]
 *   h.{i}.mlp.c_proj.weight [F,D]    h.{i}.mlp.c_proj.bias [D]
 * h.{i}.attn.bias and h.{i}.attn.masked_bias (the causal-mask buffers of
 * some checkpoints) are accepted whatever their form and ignored; any
 * other name is refused.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "kern_internal.h"
#include "kern_params.h"

#include "banned.h"

/* The per-layer tensors, in struct kern_gpt2_layer's order. */
static const char *const layer_names[] = {
	"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
	"attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
	"mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
};
#define LAYER_TENSORS (sizeof layer_names / sizeof layer_names[0])

struct bind {
	struct kern_gpt2_job *g;
	const struct kern_tensor *top[4];  /* wte, wpe, ln_f.weight, ln_f.bias */
	const struct kern_tensor *(*lay)[LAYER_TENSORS];
	size_t layers;
};

/* "h.{i}.rest": the layer index (decimal, no leading zero) and *rest; -1
 * when the name is not of that form. */
static long layer_of(const char *name, const char **rest)
{
	long v = 0;
	const char *p = name + 2;

	if (strncmp(name, "h.", 2) != 0 || *p < '0' || *p > '9' ||
	    (p[0] == '0' && p[1] != '.'))
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (*p - '0');
		if (v > KERN_GPT2_LAYERS_MAX * 100L)
			return -1;
	}
	if (*p != '.')
		return -1;
	*rest = p + 1;
	return v;
}

/* Counts the layers: one more than the largest index named. */
static enum kern_err count_layers(struct bind *b)
{
	const struct kern_tensors *m = b->g->model;
	long top = -1;

	for (size_t i = 0; i < m->count; i++) {
		const char *rest;
		long l = layer_of(m->t[i].name, &rest);
		if (l > top)
			top = l;
	}
	if (top < 0) {
		kern_diagf(b->g->diag, "%s: the model has no layer (h.0.*)", b->g->kernel);
		return KERN_ERR_MODEL;
	}
	if (top >= KERN_GPT2_LAYERS_MAX) {
		kern_diagf(b->g->diag, "%s: the model names layer %ld, over %d layers",
			   b->g->kernel, top, KERN_GPT2_LAYERS_MAX);
		return KERN_ERR_GPT2_LAYERS;
	}
	b->layers = (size_t)top + 1;
	return KERN_OK;
}

static enum kern_err place(struct bind *b, const struct kern_tensor *t)
{
	static const char *const tops[] = { "wte.weight", "wpe.weight", "ln_f.weight",
					    "ln_f.bias" };
	const struct kern_tensor **slot = NULL;
	const char *rest;
	long l;

	for (size_t q = 0; q < 4; q++)
		if (strcmp(t->name, tops[q]) == 0)
			slot = &b->top[q];
	l = layer_of(t->name, &rest);
	if (l >= 0 && (strcmp(rest, "attn.bias") == 0 || strcmp(rest, "attn.masked_bias") == 0))
		return KERN_OK;
	for (size_t q = 0; l >= 0 && q < LAYER_TENSORS; q++)
		if (strcmp(rest, layer_names[q]) == 0)
			slot = &b->lay[l][q];
	if (slot == NULL) {
		kern_diagf(b->g->diag, "%s: model tensor \"%s\" is not a GPT-2 tensor",
			   b->g->kernel, t->name);
		return KERN_ERR_MODEL;
	}
	if (t->dtype != KERN_DT_F32) {
		kern_diagf(b->g->diag, "%s: model tensor \"%s\" is not F32", b->g->kernel, t->name);
		return KERN_ERR_DTYPE;
	}
	*slot = t;    /* the set has no duplicate names (kern_tensors_add) */
	return KERN_OK;
}

/* t has shape [d0] (d1 == 0) or [d0, d1]. */
static enum kern_err want(struct bind *b, const struct kern_tensor *t,
			  const char *name, uint64_t d0, uint64_t d1)
{
	uint32_t rank = d1 ? 2 : 1;

	if (t == NULL) {
		kern_diagf(b->g->diag, "%s: model tensor \"%s\" is missing", b->g->kernel, name);
		return KERN_ERR_MODEL;
	}
	if (t->rank != rank || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
		kern_diagf(b->g->diag, "%s: model tensor \"%s\" has the wrong shape (expected "
			   "[%llu%s%.0llu])", b->g->kernel, t->name, (unsigned long long)d0,
			   d1 ? "," : "", (unsigned long long)d1);
		return KERN_ERR_MODEL;
	}
	return KERN_OK;
}

static enum kern_err top_dims(struct bind *b, struct kern_gpt2_model *m)
{
	const struct kern_tensor *wte = b->top[0], *wpe = b->top[1];
	const struct kern_tensor *fc = b->lay[0][8];

	if (wte == NULL || wpe == NULL || fc == NULL || wte->rank != 2 || wpe->rank != 2 ||
	    fc->rank != 2) {
		kern_diagf(b->g->diag, "%s: the model needs wte.weight, wpe.weight and "
			   "h.0.mlp.c_fc.weight as matrices", b->g->kernel);
		return KERN_ERR_MODEL;
	}
	m->vocab = wte->shape[0];
	m->d = wte->shape[1];
	m->positions = wpe->shape[0];
	m->ff = fc->shape[1];
	if (m->vocab == 0 || m->d == 0 || m->positions == 0 || m->ff == 0) {
		kern_diagf(b->g->diag, "%s: the model has an empty dimension", b->g->kernel);
		return KERN_ERR_MODEL;
	}
	if (m->positions > KERN_GPT2_CONTEXT_MAX) {
		kern_diagf(b->g->diag, "%s: the model has %zu positions, over %d", b->g->kernel,
			   m->positions, KERN_GPT2_CONTEXT_MAX);
		return KERN_ERR_CONTEXT;
	}
	if (m->d % m->heads != 0) {
		kern_diagf(b->g->diag, "%s: width %zu is not a multiple of %zu heads",
			   b->g->kernel, m->d, m->heads);
		return KERN_ERR_HEADS;
	}
	return KERN_OK;
}

static enum kern_err check_layer(struct bind *b, size_t l, const struct kern_gpt2_model *m)
{
	const uint64_t d = m->d, f = m->ff;
	const uint64_t dims[LAYER_TENSORS][2] = {
		{ d, 0 }, { d, 0 }, { d, 3 * d }, { 3 * d, 0 }, { d, d }, { d, 0 },
		{ d, 0 }, { d, 0 }, { d, f }, { f, 0 }, { f, d }, { d, 0 },
	};
	enum kern_err rc;

	for (size_t q = 0; q < LAYER_TENSORS; q++) {
		char name[KERN_NAME_BYTES_MAX + 1];
		(void)snprintf(name, sizeof name, "h.%zu.%s", l, layer_names[q]);
		if ((rc = want(b, b->lay[l][q], name, dims[q][0], dims[q][1])))
			return rc;
	}
	return KERN_OK;
}

/* Binds every tensor of the model into *m and lay (b->layers entries). */
static enum kern_err bind_model(struct bind *b, struct kern_gpt2_model *m,
				struct kern_gpt2_layer *lay)
{
	enum kern_err rc;

	for (size_t i = 0; i < b->g->model->count; i++)
		if ((rc = place(b, &b->g->model->t[i])))
			return rc;
	if ((rc = top_dims(b, m)) ||
	    (rc = want(b, b->top[0], "wte.weight", m->vocab, m->d)) ||
	    (rc = want(b, b->top[1], "wpe.weight", m->positions, m->d)) ||
	    (rc = want(b, b->top[2], "ln_f.weight", m->d, 0)) ||
	    (rc = want(b, b->top[3], "ln_f.bias", m->d, 0)))
		return rc;
	for (size_t l = 0; l < b->layers; l++) {
		const float *p[LAYER_TENSORS];
		if ((rc = check_layer(b, l, m)))
			return rc;
		for (size_t q = 0; q < LAYER_TENSORS; q++)
			p[q] = b->lay[l][q]->data;
		lay[l] = (struct kern_gpt2_layer){ p[0], p[1], p[2], p[3], p[4], p[5],
						   p[6], p[7], p[8], p[9], p[10], p[11] };
	}
	m->layers = b->layers;
	m->wte = b->top[0]->data;
	m->wpe = b->top[1]->data;
	m->lnf_g = b->top[2]->data;
	m->lnf_b = b->top[3]->data;
	m->layer = lay;
	return KERN_OK;
}

/* The prompt: `tokens` I32 [B,T], nothing else, every id below V. */
static enum kern_err check_prompt(struct kern_gpt2_job *g, const struct kern_gpt2_model *m,
				  size_t new_tokens, const struct kern_tensor **out)
{
	const struct kern_tensor *t = kern_tensors_find(g->in, "tokens");
	const int32_t *ids;

	for (size_t i = 0; i < g->in->count; i++) {
		if (strcmp(g->in->t[i].name, "tokens") != 0) {
			kern_diagf(g->diag, "%s: unexpected input tensor \"%s\"", g->kernel,
				   g->in->t[i].name);
			return KERN_ERR_UNKNOWN_TENSOR;
		}
	}
	if (t == NULL) {
		kern_diagf(g->diag, "%s: input tensor \"tokens\" is missing", g->kernel);
		return KERN_ERR_MISSING_TENSOR;
	}
	if (t->dtype != KERN_DT_I32) {
		kern_diagf(g->diag, "%s: tensor \"tokens\" must be I32", g->kernel);
		return KERN_ERR_DTYPE;
	}
	if (t->rank != 2 || t->shape[0] == 0 || t->shape[1] == 0) {
		kern_diagf(g->diag, "%s: tensor \"tokens\" must be [B,T] with B, T >= 1",
			   g->kernel);
		return KERN_ERR_SHAPE;
	}
	if (t->shape[0] > KERN_GPT2_BATCH_MAX) {
		kern_diagf(g->diag, "%s: %llu prompts, over %d", g->kernel,
			   (unsigned long long)t->shape[0], KERN_GPT2_BATCH_MAX);
		return KERN_ERR_BATCH;
	}
	if (t->shape[1] + new_tokens - 1 > m->positions) {
		kern_diagf(g->diag, "%s: %llu prompt tokens + %zu new need %llu positions; the "
			   "model has %zu", g->kernel, (unsigned long long)t->shape[1],
			   new_tokens, (unsigned long long)(t->shape[1] + new_tokens - 1),
			   m->positions);
		return KERN_ERR_CONTEXT;
	}
	ids = t->data;
	for (uint64_t i = 0; i < t->elems; i++) {
		if (ids[i] < 0 || (uint64_t)ids[i] >= m->vocab) {
			kern_diagf(g->diag, "%s: token %lld at %llu is outside the vocabulary "
				   "[0, %zu)", g->kernel, (long long)ids[i],
				   (unsigned long long)i, m->vocab);
			return KERN_ERR_TOKEN;
		}
	}
	*out = t;
	return KERN_OK;
}

/* Work (multiply-adds) and bytes (inputs + outputs + scratch) of the job:
 * the same bounds as every kernel. */
static enum kern_err check_budget(struct kern_gpt2_job *g, const struct kern_gpt2_model *m,
				  size_t batch, size_t prompt, size_t n)
{
	uint64_t d = m->d, ctx = prompt + n - 1, pos = kern_sat_mul(batch, ctx);
	uint64_t per_pos = kern_sat_mul(m->layers, kern_sat_add(kern_sat_mul(4 * d, d),
						      kern_sat_mul(2 * d, m->ff)));
	uint64_t work = kern_sat_mul(pos, per_pos), bytes;

	/* attention: each position reads every earlier key and value */
	work = kern_sat_add(work, kern_sat_mul(kern_sat_mul(m->layers, batch),
				     kern_sat_mul(kern_sat_mul(ctx, ctx), d)));
	work = kern_sat_add(work, kern_sat_mul(kern_sat_mul(batch, n), kern_sat_mul(m->vocab, d)));
	if (work > KERN_WORK_MAX) {
		kern_diagf(g->diag, "%s: %llu multiply-adds, over %llu", g->kernel,
			   (unsigned long long)work, KERN_WORK_MAX);
		return KERN_ERR_WORK;
	}
	bytes = kern_sat_mul(kern_sat_mul(2 * m->layers, pos), kern_sat_mul(d, 4));       /* k/v cache */
	bytes = kern_sat_add(bytes, kern_sat_mul(kern_sat_mul(batch, prompt), (9 * d + m->ff) * 4));
	bytes = kern_sat_add(bytes, kern_sat_mul(batch, kern_sat_add(kern_sat_mul(m->vocab, 4), n * 4)));
	bytes = kern_sat_add(bytes, g->in->t[0].size_bytes);
	if (bytes > KERN_JOB_BYTES_MAX) {
		kern_diagf(g->diag, "%s: inputs, outputs and scratch need %llu bytes, over %llu",
			   g->kernel, (unsigned long long)bytes, KERN_JOB_BYTES_MAX);
		return KERN_ERR_JOB_BYTES;
	}
	return KERN_OK;
}

static enum kern_err compute(struct kern_gpt2_job *g, const struct kern_gpt2_model *m,
			     const struct kern_tensor *tok, size_t n)
{
	uint64_t ids_shape[2] = { tok->shape[0], n }, lg_shape[2] = { tok->shape[0], m->vocab };
	struct kern_tensor *ids, *lg;
	enum kern_err rc;

	if ((rc = kern_tensors_add(g->out, &ids, g->diag, "ids", KERN_DT_I32, 2, ids_shape,
				   NULL)) ||
	    (rc = kern_tensors_add(g->out, &lg, g->diag, "logits", KERN_DT_F32, 2, lg_shape,
				   NULL)))
		return rc;
	/* The second add may move the set's array: find both again. */
	ids = &g->out->t[g->out->count - 2];
	lg = &g->out->t[g->out->count - 1];
#ifdef KERN_HAVE_CUDA
	if (g->cuda) {
		char err[256] = "";
		if (kern_cuda_gpt2(err, ids->data, lg->data, m, tok->data, tok->shape[0],
				   tok->shape[1], n) != 0) {
			kern_diagf(g->diag, "%s: cuda: %s", g->kernel, err);
			return KERN_ERR_CUDA;
		}
		return KERN_OK;
	}
#endif
	if (kern_cpu_gpt2(ids->data, lg->data, m, tok->data, tok->shape[0], tok->shape[1], n,
			  g->threads) != 0)
		return KERN_ERR_NOMEM;
	return KERN_OK;
}

enum kern_err kern_gpt2_run(struct kern_gpt2_job *g, const char *params, size_t len)
{
	struct kern_gpt2_params p;
	struct kern_gpt2_model m = { 0 };
	struct kern_gpt2_layer *lay = NULL;
	const struct kern_tensor *tok = NULL;
	struct bind b = { 0 };
	enum kern_err rc;

	assert(g != NULL && g->in != NULL && g->out != NULL);
	if ((rc = kern_params_gpt2(&p, g->diag, g->kernel, params, len)))
		return rc;
	if (g->model == NULL) {
		kern_diagf(g->diag, "%s: no model given (the job names model 0x%02x%02x%02x%02x...)",
			   g->kernel, p.model_root[0], p.model_root[1], p.model_root[2],
			   p.model_root[3]);
		return KERN_ERR_MODEL;
	}
	if (g->model->count > KERN_MODEL_TENSORS_MAX) {
		kern_diagf(g->diag, "%s: model of %zu tensors, over %d", g->kernel,
			   g->model->count, KERN_MODEL_TENSORS_MAX);
		return KERN_ERR_MODEL_TENSORS;
	}
	b.g = g;
	m.heads = p.heads;
	if ((rc = count_layers(&b)))
		return rc;
	b.lay = calloc(b.layers, sizeof *b.lay);
	lay = calloc(b.layers, sizeof *lay);
	if (b.lay == NULL || lay == NULL) {
		rc = KERN_ERR_NOMEM;
		goto out;
	}
	if ((rc = bind_model(&b, &m, lay)) ||
	    (rc = check_prompt(g, &m, p.new_tokens, &tok)) ||
	    (rc = check_budget(g, &m, tok->shape[0], tok->shape[1], p.new_tokens)))
		goto out;
	rc = compute(g, &m, tok, p.new_tokens);
out:
	free(b.lay);
	free(lay);
	return rc;
}
