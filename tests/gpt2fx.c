/*
 * gpt2fx.c: the tiny GPT-2 the gpt2_f32@1 tests share (tests/gpt2fx.h).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gpt2fx.h"
#include "testutil.h"

#include "banned.h"

#define D GPT2FX_D
#define F GPT2FX_F
#define L GPT2FX_L
#define P GPT2FX_P
#define V GPT2FX_V

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static double uniform(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return ((double)(rng >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void)
{
	return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

static void add_random(struct kern_tensors *s, const char *name, uint32_t rank,
		       uint64_t d0, uint64_t d1, double mean, double sd)
{
	uint64_t shape[2] = { d0, d1 };
	struct kern_tensor *t;

	cr_assert_eq(kern_tensors_add(s, &t, NULL, name, KERN_DT_F32, rank, shape, NULL),
		     KERN_OK, "%s", name);
	for (uint64_t i = 0; i < t->elems; i++)
		((float *)t->data)[i] = (float)(mean + sd * normal());
}

/* The tiny model; `extra` adds the causal-mask buffers some checkpoints
 * carry. */
void gpt2fx_model(struct kern_tensors *s, int extra)
{
	static const struct { const char *n; int rank; int d0, d1; double mean, sd; } lay[] = {
		{ "ln_1.weight", 1, D, 0, 1.0, 0.1 }, { "ln_1.bias", 1, D, 0, 0.0, 0.1 },
		{ "attn.c_attn.weight", 2, D, 3 * D, 0.0, 0.2 },
		{ "attn.c_attn.bias", 1, 3 * D, 0, 0.0, 0.05 },
		{ "attn.c_proj.weight", 2, D, D, 0.0, 0.2 },
		{ "attn.c_proj.bias", 1, D, 0, 0.0, 0.05 },
		{ "ln_2.weight", 1, D, 0, 1.0, 0.1 }, { "ln_2.bias", 1, D, 0, 0.0, 0.1 },
		{ "mlp.c_fc.weight", 2, D, F, 0.0, 0.2 }, { "mlp.c_fc.bias", 1, F, 0, 0.0, 0.05 },
		{ "mlp.c_proj.weight", 2, F, D, 0.0, 0.1 },
		{ "mlp.c_proj.bias", 1, D, 0, 0.0, 0.05 },
	};
	char name[KERN_NAME_BYTES_MAX + 1];

	rng = 0x9e3779b97f4a7c15ull;
	kern_tensors_init(s);
	add_random(s, "wte.weight", 2, GPT2FX_V, D, 0.0, 0.3);
	add_random(s, "wpe.weight", 2, GPT2FX_P, D, 0.0, 0.1);
	for (int l = 0; l < L; l++) {
		for (size_t q = 0; q < sizeof lay / sizeof lay[0]; q++) {
			(void)snprintf(name, sizeof name, "h.%d.%s", l, lay[q].n);
			add_random(s, name, (uint32_t)lay[q].rank, (uint64_t)lay[q].d0,
				   (uint64_t)lay[q].d1, lay[q].mean, lay[q].sd);
		}
		if (extra) {
			uint64_t keep = rng;   /* the same weights with or without */
			(void)snprintf(name, sizeof name, "h.%d.attn.bias", l);
			add_random(s, name, 2, P, P, 0.0, 1.0);
			(void)snprintf(name, sizeof name, "h.%d.attn.masked_bias", l);
			add_random(s, name, 0, 0, 0, -1e4, 0.0);
			rng = keep;
		}
	}
	add_random(s, "ln_f.weight", 1, D, 0, 1.0, 0.1);
	add_random(s, "ln_f.bias", 1, D, 0, 0.0, 0.1);
}

void gpt2fx_open(struct gpt2fx *f, int extra)
{
	struct kern_tensors s;
	struct kern_diag d;

	tu_tmpdir(f->dir, sizeof f->dir);
	(void)snprintf(f->path, sizeof f->path, "%s/model.safetensors", f->dir);
	gpt2fx_model(&s, extra);
	cr_assert_eq(kern_st_write_file(&d, f->path, &s), KERN_OK, "%s", d.msg);
	kern_tensors_release(&s);
	cr_assert_eq(kern_model_open(&f->model, &d, f->path), KERN_OK, "%s", d.msg);
}

void gpt2fx_close(struct gpt2fx *f)
{
	kern_model_close(&f->model);
	tu_rmtree(f->dir);
}

/* prompts [b][t] of ids drawn from `seed`. */
void gpt2fx_prompts(struct kern_tensors *in, size_t b, size_t t, uint64_t seed)
{
	uint64_t shape[2] = { b, t };
	struct kern_tensor *x;

	rng = seed;
	kern_tensors_init(in);
	cr_assert_eq(kern_tensors_add(in, &x, NULL, "tokens", KERN_DT_I32, 2, shape, NULL),
		     KERN_OK);
	for (size_t i = 0; i < b * t; i++)
		((int32_t *)x->data)[i] = (int32_t)(uniform() * V);
}

