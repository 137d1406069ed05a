/*
 * gpt2fx.h: a tiny GPT-2-shaped model for the tests (random weights from
 * a fixed seed, Hugging Face tensor names), written as a safetensors file
 * in a private directory and opened as a real model (memory-mapped).
 */
#ifndef ASSAY_GPT2FX_H
#define ASSAY_GPT2FX_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

#define GPT2FX_V 300
#define GPT2FX_D 64
#define GPT2FX_F 256
#define GPT2FX_L 2
#define GPT2FX_P 48
#define GPT2FX_HEADS_S "4"
/* A placeholder commitment: the kernel sees tensors, not the file. */
#define GPT2FX_ROOT_S "0x00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

struct gpt2fx {
	char dir[512], path[600];
	struct kern_model model;
};

/* The model's tensors into a fresh set; `extra` adds the causal-mask
 * buffers some checkpoints carry (the other tensors are unchanged). */
void gpt2fx_model(struct kern_tensors *s, int extra);
/* Writes the model into a fresh directory and opens it. */
void gpt2fx_open(struct gpt2fx *f, int extra);
void gpt2fx_close(struct gpt2fx *f);
/* `tokens` I32 [b][t], ids drawn from `seed`. */
void gpt2fx_prompts(struct kern_tensors *in, size_t b, size_t t, uint64_t seed);

#endif
