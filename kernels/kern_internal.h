/*
 * kern_internal.h: what kernels/ shares between its core (validation,
 * params, dispatch) and its backends (kernels/cpu, kernels/cuda).
 * Private to kernels/.
 *
 * A backend receives validated shapes (every dimension in [1,
 * KERN_DIM_MAX], every product checked) and caller-owned, suitably
 * aligned buffers; it computes the exact operation order of
 * docs/kernels.md and never fails except for resources (CUDA).  The core
 * canonicalises NaNs in the outputs afterwards, for every backend alike.
 */
#ifndef ASSAY_KERN_INTERNAL_H
#define ASSAY_KERN_INTERNAL_H

#include <fenv.h>
#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "kernels/ assumes a little-endian host (safetensors data is little-endian)"
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifndef __CUDACC__
/* Saturating arithmetic for the job-size checks: a product or sum past
 * 2^64 - 1 is 2^64 - 1, which every bound refuses. */
static inline uint64_t kern_sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

static inline uint64_t kern_sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}
#endif

struct kern_diag;
/* One diagnostic line into d (NULL-safe): control bytes a tensor name or
 * path may hold become '?'.  Defined once in core.c for every file. */
void kern_diagf(struct kern_diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct kern_conv_shape {
	size_t n, c, h, w;        /* x: N,C,H,W */
	size_t o, kh, kw;         /* w: O,C,KH,KW */
	size_t ph, pw, sh, sw;    /* padding, stride */
	size_t oh, ow;            /* y: N,O,OH,OW */
};

/* ---- CPU (kernels/cpu); `threads` >= 1; results never depend on it. */
void kern_cpu_matmul(float *c, const float *a, const float *b,
		     const float *bias, size_t m, size_t k, size_t n,
		     int relu, unsigned threads);
/* The scalar reference of matmul (used for tiny shapes, the tests and
 * gpu_check); same bytes as kern_cpu_matmul. */
void kern_cpu_matmul_ref(float *c, const float *a, const float *b,
			 const float *bias, size_t m, size_t k, size_t n,
			 int relu);
void kern_cpu_gemm_i8(int32_t *c, const int8_t *a, const int8_t *b,
		      size_t m, size_t k, size_t n, unsigned threads);
void kern_cpu_reduce_sum(float *y, const float *x, size_t n, unsigned threads);
void kern_cpu_softmax(float *y, const float *x, size_t rows, size_t cols,
		      unsigned threads);
void kern_cpu_layernorm(float *y, const float *x, const float *gamma,
			const float *beta, size_t rows, size_t cols, float eps,
			unsigned threads);
void kern_cpu_conv2d(float *y, const float *x, const float *w,
		     const float *bias, const struct kern_conv_shape *s,
		     unsigned threads);

/* ---- gpt2_f32@1: kernels/gpt2.c binds and checks the model and the
 * job; kernels/cpu/gpt2.c computes (docs/kernels.md, "gpt2_f32@1"). */
struct kern_gpt2_job {
	const char *kernel;
	const struct kern_tensors *in, *model;
	struct kern_tensors *out;
	struct kern_diag *diag;
	unsigned threads;
	int cuda;
};
#ifndef __CUDACC__
enum kern_err kern_gpt2_run(struct kern_gpt2_job *g, const char *params,
			    size_t params_len);
#endif

struct kern_gpt2_layer {
	const float *ln1_g, *ln1_b, *attn_w, *attn_b, *proj_w, *proj_b;
	const float *ln2_g, *ln2_b, *fc_w, *fc_b, *out_w, *out_b;
};

/* A bound model: dimensions read from the shapes, every one checked. */
struct kern_gpt2_model {
	size_t layers, d, heads, ff, vocab, positions;
	const float *wte, *wpe, *lnf_g, *lnf_b;  /* [V,D] [P,D] [D] [D] */
	const struct kern_gpt2_layer *layer;     /* `layers` entries */
};

/* The CPU computation: ids [batch][new_tokens], logits [batch][vocab]
 * (the step that chose the last id).  tokens [batch][prompt], every id
 * below vocab, prompt + new_tokens - 1 <= positions.  Returns 0, or -1
 * when scratch memory cannot be had (nothing else can fail). */
int kern_cpu_gpt2(int32_t *ids, float *logits, const struct kern_gpt2_model *m,
		  const int32_t *tokens, size_t batch, size_t prompt,
		  size_t new_tokens, unsigned threads);

/* Tests: the ISA of gpt2's own fast paths (KERN_ISA_SCALAR or
 * KERN_ISA_AVX2; -1, the default, picks the best).  Process-wide. */
void kern_cpu_gpt2_set_isa(int isa);

/* GPT-2's LayerNorm epsilon, 1e-5 rounded to binary32. */
#define KERN_GPT2_EPS 0x1.4f8b58p-17f

/* Instruction sets of the CPU fast paths (all give the same bits). */
enum { KERN_ISA_SCALAR = 0, KERN_ISA_AVX2 = 1, KERN_ISA_AVX512 = 2 };
int kern_cpu_isa_supported(int isa);
int kern_cpu_isa_best(void);
/* kern_cpu_matmul with a chosen ISA (falls back to scalar if absent). */
void kern_cpu_matmul_isa(float *c, const float *a, const float *b,
			 const float *bias, size_t m, size_t k, size_t n,
			 int relu, unsigned threads, int isa);

/* Saves the caller's floating-point environment and sets the kernels'
 * (round-to-nearest, FTZ and DAZ off); kern_fp_leave restores it. */
void kern_fp_enter(fenv_t *saved);
void kern_fp_leave(const fenv_t *saved);

/* Runs fn(ctx, i) for i in [0, tasks) on up to `threads` threads (the
 * calling thread included).  Each worker runs with round-to-nearest and
 * FTZ/DAZ off.  Tasks must write disjoint outputs. */
void kern_parallel_for(unsigned threads, size_t tasks,
		       void (*fn)(void *ctx, size_t i), void *ctx);

/* ---- CUDA (kernels/cuda), present when KERN_HAVE_CUDA is defined.
 * Each returns 0 on success, else a nonzero code and a message in
 * err[256].  Buffers are host memory; the backend copies. */
int kern_cuda_probe(char name[65]);
int kern_cuda_matmul(char err[256], float *c, const float *a, const float *b,
		     const float *bias, size_t m, size_t k, size_t n, int relu);
int kern_cuda_gemm_i8(char err[256], int32_t *c, const int8_t *a,
		      const int8_t *b, size_t m, size_t k, size_t n);
int kern_cuda_reduce_sum(char err[256], float *y, const float *x, size_t n);
int kern_cuda_softmax(char err[256], float *y, const float *x, size_t rows,
		      size_t cols);
int kern_cuda_layernorm(char err[256], float *y, const float *x,
			const float *gamma, const float *beta, size_t rows,
			size_t cols, float eps);
int kern_cuda_conv2d(char err[256], float *y, const float *x, const float *w,
		     const float *bias, const struct kern_conv_shape *s);
/* Timing entry points for gpu_check: the same kernels on device buffers,
 * launched asynchronously, no copies, no bias/relu. */
int kern_cuda_matmul_dev(char err[256], float *dc, const float *da,
			 const float *db, size_t m, size_t k, size_t n);
int kern_cuda_gemm_i8_dev(char err[256], int32_t *dc, const int8_t *da,
			  const int8_t *db, size_t m, size_t k, size_t n);
/* For gpt2.cu: matmul_f32 with bias and layernorm_f32 on device buffers,
 * launched without synchronising. */
int kern_cuda_linear_dev(char err[256], float *dc, const float *da, const float *db,
			 const float *dbias, size_t m, size_t k, size_t n);
int kern_cuda_layernorm_dev(char err[256], float *dy, const float *dx, const float *dg,
			    const float *db, size_t rows, size_t cols, float eps);
/* gpt2_f32@1 (kern_cpu_gpt2's contract) on the device: the weights are
 * copied in once per call; 0, else a nonzero code and err (out of device
 * memory among them: KERN_DEVICE_AUTO then runs it on the CPU). */
int kern_cuda_gpt2(char err[256], int32_t *ids, float *logits,
		   const struct kern_gpt2_model *m, const int32_t *tokens, size_t batch,
		   size_t prompt, size_t new_tokens);

#ifdef __cplusplus
}
#endif

#endif
