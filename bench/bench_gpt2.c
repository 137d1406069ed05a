/*
 * bench_gpt2.c: gpt2_f32@1 decoding on the CPU (2 threads) for a
 * GPT-2-small-shaped model (12 layers, width 768, 12 heads, 50257 tokens,
 * 1024 positions; random weights: speed does not depend on them), beside
 * two references measured in the same run:
 *   (a) the memory-bandwidth bound: the weights one decode step reads
 *       (every layer's matrices and the tied embedding) divided into a
 *       measured 2-thread memcpy bandwidth;
 *   (b) the same forward pass in numpy float32 (bench/gpt2_numpy.py),
 *       whose matrix products go to OpenBLAS, also on 2 threads.
 * Decode rate = (N - 1) new tokens / (time of N tokens - time of 1 token),
 * best of REPS, so that the prompt's prefill is not counted.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "kernels.h"

#include "banned.h"

#define GV 50257
#define GD 768
#define GL 12
#define GP 1024
#define PROMPT 8
#define NEW 33
#define REPS 3
#define COPY_BYTES (512ull << 20)

static uint64_t seed = 7;

static enum kern_err add(struct kern_tensors *s, const char *name, uint64_t d0, uint64_t d1,
			 float base)
{
	uint64_t shape[2] = { d0, d1 };
	struct kern_tensor *t;
	enum kern_err rc = kern_tensors_add(s, &t, NULL, name, KERN_DT_F32, d1 ? 2 : 1, shape,
					    NULL);

	for (uint64_t i = 0; rc == KERN_OK && i < t->elems; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		((float *)t->data)[i] = base + (float)((double)(seed >> 40) * 0x1p-24 - 0.5) * 0.04f;
	}
	return rc;
}

static int write_model(const char *path)
{
	static const char *const n[] = { "ln_1.weight", "ln_1.bias", "attn.c_attn.weight",
		"attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",
		"ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
		"mlp.c_proj.bias" };
	const uint64_t d0[] = { GD, GD, GD, 3 * GD, GD, GD, GD, GD, GD, 4 * GD, 4 * GD, GD };
	const uint64_t d1[] = { 0, 0, 3 * GD, 0, GD, 0, 0, 0, 4 * GD, 0, GD, 0 };
	struct kern_tensors s;
	struct kern_diag d = { "" };
	enum kern_err rc;
	char name[80];

	kern_tensors_init(&s);
	rc = add(&s, "wte.weight", GV, GD, 0) || add(&s, "wpe.weight", GP, GD, 0) ||
	     add(&s, "ln_f.weight", GD, 0, 1) || add(&s, "ln_f.bias", GD, 0, 0);
	for (int l = 0; l < GL && rc == KERN_OK; l++) {
		for (size_t q = 0; q < 12 && rc == KERN_OK; q++) {
			(void)snprintf(name, sizeof name, "h.%d.%s", l, n[q]);
			rc = add(&s, name, d0[q], d1[q], strstr(n[q], "ln_") && q % 2 == 0 ? 1 : 0);
		}
	}
	if (rc == KERN_OK)
		rc = kern_st_write_file(&d, path, &s);
	kern_tensors_release(&s);
	if (rc)
		fprintf(stderr, "bench_gpt2: could not write the model: %s\n", d.msg);
	return rc ? -1 : 0;
}

struct copy_arg {
	char *dst;
	const char *src;
	size_t len;
};

static void *copy_half(void *p)
{
	struct copy_arg *a = p;
	memcpy(a->dst, a->src, a->len);
	return NULL;
}

/* Bytes per second of a 2-thread memcpy of COPY_BYTES (best of 5). */
static double copy_bandwidth(void)
{
	char *src = malloc(COPY_BYTES), *dst = malloc(COPY_BYTES);
	double best = 1e30;

	if (!src || !dst) {
		free(src);
		free(dst);
		return 0;
	}
	memset(src, 1, COPY_BYTES);
	memset(dst, 2, COPY_BYTES);
	for (int r = 0; r < 5; r++) {
		struct copy_arg a[2] = { { dst, src, COPY_BYTES / 2 },
					 { dst + COPY_BYTES / 2, src + COPY_BYTES / 2,
					   COPY_BYTES / 2 } };
		pthread_t t;
		double t0 = bench_now_s();
		if (pthread_create(&t, NULL, copy_half, &a[1]) != 0)
			break;
		copy_half(&a[0]);
		pthread_join(t, NULL);
		if (bench_now_s() - t0 < best)
			best = bench_now_s() - t0;
	}
	free(src);
	free(dst);
	return (double)COPY_BYTES / best;
}

/* Seconds for `n` new tokens at batch b (best of REPS). */
static double run_tokens(const struct kern_model *m, size_t b, size_t n)
{
	uint64_t shape[2] = { b, PROMPT };
	struct kern_run_opts o = { KERN_DEVICE_CPU, 2, &m->tensors };
	struct kern_tensors in, out;
	struct kern_tensor *t;
	struct kern_diag d = { "" };
	char dev[KERN_DEVICE_BYTES], params[200];
	double best = 1e30;

	(void)snprintf(params, sizeof params, "{\"heads\":12,\"max_new_tokens\":%zu,\"model\":"
		       "\"0x%064d\",\"modelSize\":1}", n, 0);
	kern_tensors_init(&in);
	if (kern_tensors_add(&in, &t, &d, "tokens", KERN_DT_I32, 2, shape, NULL) != KERN_OK)
		return 0;
	for (size_t i = 0; i < b * PROMPT; i++)
		((int32_t *)t->data)[i] = (int32_t)(i * 7919 % GV);
	for (int r = 0; r < REPS; r++) {
		double t0 = bench_now_s();
		kern_tensors_init(&out);
		if (kern_run(&out, dev, &d, "gpt2_f32@1", &in, params, strlen(params), &o)) {
			fprintf(stderr, "bench_gpt2: %s\n", d.msg);
			best = 0;
			break;
		}
		if (bench_now_s() - t0 < best)
			best = bench_now_s() - t0;
		kern_tensors_release(&out);
	}
	kern_tensors_release(&in);
	return best;
}

/* bench/gpt2_numpy.py's decode tokens/s, or 0. */
static double numpy_rate(const char *model)
{
	const char *src = getenv("ASSAY_SRCDIR");
	char cmd[1200];
	double rate = 0, prefill = 0;
	FILE *p;

	(void)snprintf(cmd, sizeof cmd, "OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 /usr/bin/python3 "
		       "%s/bench/gpt2_numpy.py '%s' 12 %d %d", src ? src : ".", model, PROMPT, NEW);
	p = popen(cmd, "r");
	if (p == NULL || fscanf(p, "%lf %lf", &rate, &prefill) != 2)
		rate = 0;
	if (p)
		(void)pclose(p);
	return rate;
}

void bench_gpt2(void)
{
	const char *tmp = getenv("TMPDIR");
	char dir[512], path[600];
	struct kern_model m;
	struct kern_diag d = { "" };
	double bw, bytes_per_token, t1, tn, t8, rate, np;

	(void)snprintf(dir, sizeof dir, "%s/assay-bench-gpt2-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return;
	(void)snprintf(path, sizeof path, "%s/model.safetensors", dir);
	if (write_model(path) != 0 || kern_model_open(&m, &d, path) != KERN_OK) {
		fprintf(stderr, "bench_gpt2: %s\n", d.msg);
		goto out;
	}
	bw = copy_bandwidth();
	/* What one decode step reads: every layer's matrices and biases, the
	 * tied embedding (logits); not wpe (one row). */
	bytes_per_token = 4.0 * ((double)GL * (12.0 * GD * GD + 13.0 * GD) + (double)GV * GD);
	t1 = run_tokens(&m, 1, 1);
	tn = run_tokens(&m, 1, NEW);
	t8 = run_tokens(&m, 8, NEW);
	rate = tn > t1 ? (NEW - 1) / (tn - t1) : 0;
	np = numpy_rate(path);
	bench_row("gpt2_f32@1 124M decode b=1 2 thr", rate, bw / bytes_per_token, "tok/s",
		  "memcpy bandwidth bound", 0.5);
	bench_row("  same", rate, np, "tok/s", "numpy float32 (OpenBLAS)", 1.0);
	bench_row("  batch 8 (tokens of all 8)", 8.0 * NEW / t8, np, "tok/s",
		  "numpy float32 batch 1", 0);
	printf("%-34s prefill of %d tokens %.3f s; copy bandwidth %.1f GB/s; %.0f MB read "
	       "per token\n", "", PROMPT, t1, bw / 1e9, bytes_per_token / 1e6);
	kern_model_close(&m);
out:
	(void)unlink(path);
	(void)rmdir(dir);
}
