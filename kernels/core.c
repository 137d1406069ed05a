/*
 * core.c: the kernels library's front: error strings, tensor sets, the
 * kernel table, input validation and device dispatch.
 *
 * Invariants: a backend is only ever called with shapes that passed every
 * check and limit here, and with output buffers of exactly the right
 * size; after any backend the float outputs hold no NaN other than
 * 0x7fc00000 (kern_canonicalise), so the bytes depend on nothing but the
 * inputs and params.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"
#include "kern_internal.h"
#include "kern_math.h"
#include "kern_params.h"
#include "kern_hashes.h"

#include "banned.h"

/* ------------------------------------------------------------------ */
/* Errors                                                               */

static const struct {
	const char *name, *text;
} errtab[KERN_ERR_COUNT_] = {
	[KERN_OK] = { "ok", "success" },
	[KERN_ERR_ARG] = { "arg", "invalid argument" },
	[KERN_ERR_NOMEM] = { "nomem", "out of memory" },
	[KERN_ERR_IO] = { "io", "input/output error" },
	[KERN_ERR_UNKNOWN_KERNEL] = { "unknown-kernel", "no such kernel" },
	[KERN_ERR_PARAMS] = { "params", "params not in the kernel's exact form" },
	[KERN_ERR_MISSING_TENSOR] = { "missing-tensor", "a required tensor is missing" },
	[KERN_ERR_UNKNOWN_TENSOR] = { "unknown-tensor", "a tensor the kernel does not take" },
	[KERN_ERR_DUP_TENSOR] = { "dup-tensor", "two tensors with the same name" },
	[KERN_ERR_DTYPE] = { "dtype", "wrong or unknown dtype" },
	[KERN_ERR_SHAPE] = { "shape", "wrong rank or shape" },
	[KERN_ERR_DEVICE] = { "device", "requested device not available" },
	[KERN_ERR_CUDA] = { "cuda", "CUDA runtime failure" },
	[KERN_ERR_RANK] = { "rank", "rank over KERN_RANK_MAX" },
	[KERN_ERR_DIM] = { "dim", "dimension over KERN_DIM_MAX" },
	[KERN_ERR_ELEMS] = { "elems", "tensor elements over KERN_ELEMS_MAX" },
	[KERN_ERR_TENSOR_BYTES] = { "tensor-bytes", "tensor over KERN_TENSOR_BYTES_MAX" },
	[KERN_ERR_JOB_BYTES] = { "job-bytes", "job over KERN_JOB_BYTES_MAX" },
	[KERN_ERR_WORK] = { "work", "multiply-adds over KERN_WORK_MAX" },
	[KERN_ERR_GEMM_K] = { "gemm-k", "gemm_i8 K over KERN_GEMM_I8_K_MAX" },
	[KERN_ERR_MLP_LAYERS] = { "mlp-layers", "mlp layers over KERN_MLP_LAYERS_MAX" },
	[KERN_ERR_CONV_KERNEL] = { "conv-kernel", "conv2d kernel over KERN_CONV_KERNEL_MAX" },
	[KERN_ERR_CONV_STRIDE] = { "conv-stride", "conv2d stride over KERN_CONV_STRIDE_MAX" },
	[KERN_ERR_CONV_PADDING] = { "conv-padding", "conv2d padding over KERN_CONV_PADDING_MAX" },
	[KERN_ERR_TENSOR_COUNT] = { "tensor-count", "tensors over KERN_TENSORS_MAX" },
	[KERN_ERR_NAME] = { "name", "tensor name empty or over KERN_NAME_BYTES_MAX" },
	[KERN_ERR_PARAMS_SIZE] = { "params-size", "params over KERN_PARAMS_BYTES_MAX" },
	[KERN_ERR_THREADS] = { "threads", "threads over KERN_THREADS_MAX" },
	[KERN_ERR_ST_HEADER_SIZE] = { "st-header-size", "safetensors header length out of bounds" },
	[KERN_ERR_ST_JSON] = { "st-json", "safetensors header is not strict JSON" },
	[KERN_ERR_ST_ENTRY] = { "st-entry", "malformed safetensors tensor entry" },
	[KERN_ERR_ST_OFFSETS] = { "st-offsets", "safetensors data offsets do not tile the data" },
	[KERN_ERR_ST_METADATA] = { "st-metadata", "malformed safetensors __metadata__" },
	[KERN_ERR_MODEL] = { "model", "model absent or not the kernel's shape" },
	[KERN_ERR_MODEL_BYTES] = { "model-bytes", "model over KERN_MODEL_BYTES_MAX" },
	[KERN_ERR_MODEL_TENSORS] = { "model-tensors", "model tensors over KERN_MODEL_TENSORS_MAX" },
	[KERN_ERR_GPT2_LAYERS] = { "gpt2-layers", "layers over KERN_GPT2_LAYERS_MAX" },
	[KERN_ERR_HEADS] = { "heads", "heads out of bounds or not dividing the width" },
	[KERN_ERR_CONTEXT] = { "context", "positions over the model's or KERN_GPT2_CONTEXT_MAX" },
	[KERN_ERR_NEW_TOKENS] = { "new-tokens", "max_new_tokens over KERN_GPT2_NEW_TOKENS_MAX" },
	[KERN_ERR_BATCH] = { "batch", "prompts over KERN_GPT2_BATCH_MAX" },
	[KERN_ERR_TOKEN] = { "token", "a token id outside the vocabulary" },
};

const char *kern_strerror(enum kern_err err)
{
	if ((unsigned)err >= KERN_ERR_COUNT_ || errtab[err].text == NULL)
		return "unknown error";
	return errtab[err].text;
}

const char *kern_errname(enum kern_err err)
{
	if ((unsigned)err >= KERN_ERR_COUNT_ || errtab[err].name == NULL)
		return "unknown";
	return errtab[err].name;
}

void kern_diagf(struct kern_diag *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
	/* One line whatever a name or path held: control bytes become '?'. */
	for (char *c = d->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* ------------------------------------------------------------------ */
/* Dtypes and tensor sets                                               */

static const struct {
	const char *name;
	size_t size;
} dttab[] = {
	[KERN_DT_BOOL] = { "BOOL", 1 }, [KERN_DT_U8] = { "U8", 1 },
	[KERN_DT_I8] = { "I8", 1 },     [KERN_DT_I16] = { "I16", 2 },
	[KERN_DT_U16] = { "U16", 2 },   [KERN_DT_F16] = { "F16", 2 },
	[KERN_DT_BF16] = { "BF16", 2 }, [KERN_DT_I32] = { "I32", 4 },
	[KERN_DT_U32] = { "U32", 4 },   [KERN_DT_F32] = { "F32", 4 },
	[KERN_DT_F64] = { "F64", 8 },   [KERN_DT_I64] = { "I64", 8 },
	[KERN_DT_U64] = { "U64", 8 },
};
#define DT_COUNT (sizeof dttab / sizeof dttab[0])

const char *kern_dtype_name(enum kern_dtype dt)
{
	return (unsigned)dt < DT_COUNT ? dttab[dt].name : NULL;
}

size_t kern_dtype_size(enum kern_dtype dt)
{
	return (unsigned)dt < DT_COUNT ? dttab[dt].size : 0;
}

enum kern_err kern_dtype_parse(enum kern_dtype *out, const char *name)
{
	if (out == NULL || name == NULL)
		return KERN_ERR_ARG;
	for (unsigned i = 1; i < DT_COUNT; i++) {
		if (strcmp(dttab[i].name, name) == 0) {
			*out = (enum kern_dtype)i;
			return KERN_OK;
		}
	}
	return KERN_ERR_DTYPE;
}

void kern_tensors_init(struct kern_tensors *s)
{
	assert(s != NULL);
	s->count = 0;
	s->t = NULL;
	s->borrowed = 0;
}

void kern_tensors_release(struct kern_tensors *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->count && !s->borrowed; i++)
		free(s->t[i].data);
	free(s->t);
	s->count = 0;
	s->t = NULL;
	s->borrowed = 0;
}

const struct kern_tensor *kern_tensors_find(const struct kern_tensors *s,
					    const char *name)
{
	if (s == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; i < s->count; i++)
		if (strcmp(s->t[i].name, name) == 0)
			return &s->t[i];
	return NULL;
}

enum kern_err kern_tensors_add(struct kern_tensors *s, struct kern_tensor **out,
			       struct kern_diag *diag, const char *name,
			       enum kern_dtype dtype, uint32_t rank,
			       const uint64_t *shape, const void *data)
{
	struct kern_tensor *t, *grown;
	size_t nlen, esize;
	uint64_t elems = 1, bytes;

	if (s == NULL || name == NULL || (rank > 0 && shape == NULL))
		return KERN_ERR_ARG;
	nlen = strnlen(name, KERN_NAME_BYTES_MAX + 1);
	if (nlen == 0 || nlen > KERN_NAME_BYTES_MAX) {
		kern_diagf(diag, "tensor name empty or longer than %d bytes", KERN_NAME_BYTES_MAX);
		return KERN_ERR_NAME;
	}
	if (kern_tensors_find(s, name)) {
		kern_diagf(diag, "tensor \"%s\": duplicate name", name);
		return KERN_ERR_DUP_TENSOR;
	}
	esize = kern_dtype_size(dtype);
	if (esize == 0) {
		kern_diagf(diag, "tensor \"%s\": unknown dtype", name);
		return KERN_ERR_DTYPE;
	}
	if (rank > KERN_RANK_MAX) {
		kern_diagf(diag, "tensor \"%s\": rank %u over %d", name, rank, KERN_RANK_MAX);
		return KERN_ERR_RANK;
	}
	for (uint32_t i = 0; i < rank; i++) {
		if (shape[i] > KERN_DIM_MAX) {
			kern_diagf(diag, "tensor \"%s\": dimension %u is %llu, over %llu", name, i,
			      (unsigned long long)shape[i], KERN_DIM_MAX);
			return KERN_ERR_DIM;
		}
		/* Each factor <= 2^24 and the running product <= 2^28 (checked
		 * below), so this cannot overflow 64 bits. */
		elems *= shape[i];
		if (elems > KERN_ELEMS_MAX) {
			kern_diagf(diag, "tensor \"%s\": more than %llu elements", name, KERN_ELEMS_MAX);
			return KERN_ERR_ELEMS;
		}
	}
	bytes = elems * esize;
	if (bytes > KERN_TENSOR_BYTES_MAX) {
		kern_diagf(diag, "tensor \"%s\": more than %llu bytes", name, KERN_TENSOR_BYTES_MAX);
		return KERN_ERR_TENSOR_BYTES;
	}
	if (s->count >= KERN_TENSORS_MAX) {
		kern_diagf(diag, "more than %d tensors", KERN_TENSORS_MAX);
		return KERN_ERR_TENSOR_COUNT;
	}
	grown = realloc(s->t, (s->count + 1) * sizeof *s->t);
	if (grown == NULL)
		return KERN_ERR_NOMEM;
	s->t = grown;
	t = &s->t[s->count];
	memset(t, 0, sizeof *t);
	memcpy(t->name, name, nlen + 1);
	t->dtype = dtype;
	t->rank = rank;
	for (uint32_t i = 0; i < rank; i++)
		t->shape[i] = shape[i];
	t->elems = elems;
	t->size_bytes = (size_t)bytes;
	/* At least one byte so that a zero-element tensor has a pointer. */
	t->data = calloc(bytes ? (size_t)bytes : 1, 1);
	if (t->data == NULL)
		return KERN_ERR_NOMEM;
	if (data && bytes)
		memcpy(t->data, data, (size_t)bytes);
	s->count++;
	if (out)
		*out = t;
	return KERN_OK;
}

/* ------------------------------------------------------------------ */
/* The kernel table                                                     */

enum kid { K_MATMUL, K_GEMM_I8, K_REDUCE_SUM, K_SOFTMAX, K_LAYERNORM, K_CONV2D,
	   K_MLP, K_GPT2, K_COUNT };

static const struct kern_info table[K_COUNT] = {
	[K_MATMUL] = { "matmul_f32@1",
		       "c = a x b (+ bias) (relu), fma over ascending k from +0",
		       KERN_HASH_MATMUL_F32_1 },
	[K_GEMM_I8] = { "gemm_i8@1", "int8 x int8 -> exact int32 matrix product",
			KERN_HASH_GEMM_I8_1 },
	[K_REDUCE_SUM] = { "reduce_sum_f32@1", "sum of a vector by a fixed pairwise tree",
			   KERN_HASH_REDUCE_SUM_F32_1 },
	[K_SOFTMAX] = { "softmax_f32@1", "row-wise softmax with Assay's own exp",
			KERN_HASH_SOFTMAX_F32_1 },
	[K_LAYERNORM] = { "layernorm_f32@1",
			  "row-wise layer normalisation with gamma, beta and eps",
			  KERN_HASH_LAYERNORM_F32_1 },
	[K_CONV2D] = { "conv2d_f32@1", "2-D convolution, NCHW, stride and padding",
		       KERN_HASH_CONV2D_F32_1 },
	[K_MLP] = { "mlp_f32@1",
		    "multi-layer perceptron: matmul+bias, relu between, softmax last",
		    KERN_HASH_MLP_F32_1 },
	[K_GPT2] = { "gpt2_f32@1",
		     "GPT-2 greedy decoding with a key/value cache, from a model artifact",
		     KERN_HASH_GPT2_F32_1 },
};

size_t kern_count(void)
{
	return K_COUNT;
}

const struct kern_info *kern_info_at(size_t i)
{
	return i < K_COUNT ? &table[i] : NULL;
}

const struct kern_info *kern_find(const char *name)
{
	if (name == NULL)
		return NULL;
	for (size_t i = 0; i < K_COUNT; i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Devices                                                              */

enum kern_err kern_device_parse(enum kern_device *out, const char *text)
{
	if (out == NULL || text == NULL)
		return KERN_ERR_ARG;
	if (strcmp(text, "auto") == 0)
		*out = KERN_DEVICE_AUTO;
	else if (strcmp(text, "cpu") == 0)
		*out = KERN_DEVICE_CPU;
	else if (strcmp(text, "cuda") == 0)
		*out = KERN_DEVICE_CUDA;
	else
		return KERN_ERR_ARG;
	return KERN_OK;
}

int kern_cuda_available(char name[KERN_DEVICE_BYTES])
{
#ifdef KERN_HAVE_CUDA
	char buf[KERN_DEVICE_BYTES];
	if (kern_cuda_probe(buf) != 0)
		return 0;
	if (name)
		memcpy(name, buf, sizeof buf);
	return 1;
#else
	(void)name;
	return 0;
#endif
}

/* ------------------------------------------------------------------ */
/* Validation helpers                                                   */

struct job {
	const char *kernel;
	const struct kern_tensors *in;
	const struct kern_tensors *model;  /* NULL unless a model kernel */
	struct kern_tensors *out;
	struct kern_diag *diag;
	unsigned threads;
	int cuda;                 /* run on the CUDA backend */
	uint64_t bytes;           /* inputs + outputs + scratch */
	uint64_t work;            /* multiply-adds */
};

/* The input tensor `name` with dtype `dt` and rank `rank`; *t is NULL and
 * KERN_OK when absent and optional. */
static enum kern_err need(const struct kern_tensor **t, struct job *j,
			  const char *name, enum kern_dtype dt, uint32_t rank,
			  bool optional)
{
	assert(t != NULL && j != NULL && name != NULL);
	assert(rank <= KERN_RANK_MAX);
	*t = kern_tensors_find(j->in, name);
	if (*t == NULL) {
		if (optional)
			return KERN_OK;
		kern_diagf(j->diag, "%s: input tensor \"%s\" is missing", j->kernel, name);
		return KERN_ERR_MISSING_TENSOR;
	}
	if ((*t)->dtype != dt) {
		kern_diagf(j->diag, "%s: tensor \"%s\" has dtype %s, expected %s", j->kernel,
		      name, kern_dtype_name((*t)->dtype) ? kern_dtype_name((*t)->dtype) : "?",
		      kern_dtype_name(dt));
		return KERN_ERR_DTYPE;
	}
	if ((*t)->rank != rank) {
		kern_diagf(j->diag, "%s: tensor \"%s\" has rank %u, expected %u", j->kernel,
		      name, (*t)->rank, rank);
		return KERN_ERR_SHAPE;
	}
	for (uint32_t i = 0; i < rank; i++) {
		if ((*t)->shape[i] == 0) {
			kern_diagf(j->diag, "%s: tensor \"%s\" has an empty dimension %u",
			      j->kernel, name, i);
			return KERN_ERR_SHAPE;
		}
	}
	return KERN_OK;
}

static enum kern_err dim_eq(struct job *j, const struct kern_tensor *t, uint32_t d,
			    uint64_t want, const char *what)
{
	assert(j != NULL && t != NULL && what != NULL);
	assert(d < t->rank);
	if (t->shape[d] == want)
		return KERN_OK;
	kern_diagf(j->diag, "%s: tensor \"%s\" dimension %u is %llu, expected %llu (%s)",
	      j->kernel, t->name, d, (unsigned long long)t->shape[d],
	      (unsigned long long)want, what);
	return KERN_ERR_SHAPE;
}

/* Every input must be one of the `n` names (or, for mlp, pass `pred`). */
static enum kern_err only(struct job *j, const char *const *names, size_t n)
{
	for (size_t i = 0; i < j->in->count; i++) {
		bool ok = false;
		for (size_t q = 0; q < n && !ok; q++)
			ok = strcmp(j->in->t[i].name, names[q]) == 0;
		if (!ok) {
			kern_diagf(j->diag, "%s: unexpected input tensor \"%s\"", j->kernel,
			      j->in->t[i].name);
			return KERN_ERR_UNKNOWN_TENSOR;
		}
	}
	return KERN_OK;
}

static enum kern_err add_output(struct job *j, void **data, const char *name,
				enum kern_dtype dt, uint32_t rank,
				const uint64_t *shape)
{
	struct kern_tensor *t = NULL;
	enum kern_err rc = kern_tensors_add(j->out, &t, j->diag, name, dt, rank,
					    shape, NULL);
	if (rc == KERN_OK) {
		assert(t != NULL && t->data != NULL);
		*data = t->data;
	}
	return rc;
}

/* Job-wide bounds, checked before any output is allocated, in this order:
 * work, output elements, bytes of inputs + outputs + scratch. */
static enum kern_err check_budget(struct job *j, const char *out_name,
				  uint64_t out_elems, size_t esize)
{
	uint64_t b = j->bytes;

	assert(j != NULL && out_name != NULL);
	if (j->work > KERN_WORK_MAX) {
		kern_diagf(j->diag, "%s: %llu multiply-adds, over %llu", j->kernel,
		      (unsigned long long)j->work, KERN_WORK_MAX);
		return KERN_ERR_WORK;
	}
	if (out_elems > KERN_ELEMS_MAX) {
		kern_diagf(j->diag, "%s: output \"%s\" would have %llu elements, over %llu",
		      j->kernel, out_name, (unsigned long long)out_elems, KERN_ELEMS_MAX);
		return KERN_ERR_ELEMS;
	}
	for (size_t i = 0; i < j->in->count; i++)
		b = kern_sat_add(b, j->in->t[i].size_bytes);
	b = kern_sat_add(b, kern_sat_mul(out_elems, esize));
	if (b > KERN_JOB_BYTES_MAX) {
		kern_diagf(j->diag, "%s: inputs, outputs and scratch need %llu bytes, over %llu",
		      j->kernel, (unsigned long long)b, KERN_JOB_BYTES_MAX);
		return KERN_ERR_JOB_BYTES;
	}
	return KERN_OK;
}

#ifdef KERN_HAVE_CUDA
static enum kern_err cuda_fail(struct job *j, const char *err)
{
	kern_diagf(j->diag, "%s: cuda: %s", j->kernel, err);
	return KERN_ERR_CUDA;
}
#endif

/* ------------------------------------------------------------------ */
/* Backend shims: CPU, or CUDA when j->cuda                             */

#ifdef KERN_HAVE_CUDA
#define CUDA_CALL(call)                                             \
	do {                                                        \
		char err_[256] = "";                                \
		if ((call) != 0)                                    \
			return cuda_fail(j, err_);                  \
	} while (0)
#define ERRBUF err_
#endif

static enum kern_err be_matmul(struct job *j, float *c, const float *a,
			       const float *b, const float *bias, size_t m,
			       size_t k, size_t n, int relu)
{
#ifdef KERN_HAVE_CUDA
	if (j->cuda) {
		CUDA_CALL(kern_cuda_matmul(ERRBUF, c, a, b, bias, m, k, n, relu));
		return KERN_OK;
	}
#endif
	kern_cpu_matmul(c, a, b, bias, m, k, n, relu, j->threads);
	return KERN_OK;
}

static enum kern_err be_softmax(struct job *j, float *y, const float *x,
				size_t rows, size_t cols)
{
#ifdef KERN_HAVE_CUDA
	if (j->cuda) {
		CUDA_CALL(kern_cuda_softmax(ERRBUF, y, x, rows, cols));
		return KERN_OK;
	}
#endif
	kern_cpu_softmax(y, x, rows, cols, j->threads);
	return KERN_OK;
}

/* ------------------------------------------------------------------ */
/* The kernels                                                          */

static enum kern_err run_matmul(struct job *j, const char *p, size_t plen)
{
	static const char *const names[] = { "a", "b", "bias" };
	const struct kern_tensor *a, *b, *bias;
	enum kern_err rc;
	uint64_t shape[2];
	void *c;
	int relu = 0;

	if ((rc = kern_params_relu(&relu, j->diag, j->kernel, p, plen)) ||
	    (rc = only(j, names, 3)) ||
	    (rc = need(&a, j, "a", KERN_DT_F32, 2, false)) ||
	    (rc = need(&b, j, "b", KERN_DT_F32, 2, false)) ||
	    (rc = need(&bias, j, "bias", KERN_DT_F32, 1, true)) ||
	    (rc = dim_eq(j, b, 0, a->shape[1], "K of a")) ||
	    (bias && (rc = dim_eq(j, bias, 0, b->shape[1], "N of b"))))
		return rc;
	shape[0] = a->shape[0];
	shape[1] = b->shape[1];
	j->work = kern_sat_mul(kern_sat_mul(a->shape[0], a->shape[1]), b->shape[1]);
	if ((rc = check_budget(j, "c", kern_sat_mul(shape[0], shape[1]), 4)) ||
	    (rc = add_output(j, &c, "c", KERN_DT_F32, 2, shape)))
		return rc;
	return be_matmul(j, c, a->data, b->data, bias ? bias->data : NULL,
			 a->shape[0], a->shape[1], b->shape[1], relu);
}

static enum kern_err run_gemm_i8(struct job *j, const char *p, size_t plen)
{
	static const char *const names[] = { "a", "b" };
	const struct kern_tensor *a, *b;
	enum kern_err rc;
	uint64_t shape[2];
	void *c;

	if ((rc = kern_params_empty(j->diag, j->kernel, p, plen)) ||
	    (rc = only(j, names, 2)) ||
	    (rc = need(&a, j, "a", KERN_DT_I8, 2, false)) ||
	    (rc = need(&b, j, "b", KERN_DT_I8, 2, false)) ||
	    (rc = dim_eq(j, b, 0, a->shape[1], "K of a")))
		return rc;
	if (a->shape[1] > KERN_GEMM_I8_K_MAX) {
		kern_diagf(j->diag, "%s: K = %llu, over %llu (int32 could overflow)", j->kernel,
		      (unsigned long long)a->shape[1], KERN_GEMM_I8_K_MAX);
		return KERN_ERR_GEMM_K;
	}
	shape[0] = a->shape[0];
	shape[1] = b->shape[1];
	j->work = kern_sat_mul(kern_sat_mul(a->shape[0], a->shape[1]), b->shape[1]);
	if ((rc = check_budget(j, "c", kern_sat_mul(shape[0], shape[1]), 4)) ||
	    (rc = add_output(j, &c, "c", KERN_DT_I32, 2, shape)))
		return rc;
#ifdef KERN_HAVE_CUDA
	if (j->cuda) {
		CUDA_CALL(kern_cuda_gemm_i8(ERRBUF, c, a->data, b->data, a->shape[0],
					    a->shape[1], b->shape[1]));
		return KERN_OK;
	}
#endif
	kern_cpu_gemm_i8(c, a->data, b->data, a->shape[0], a->shape[1], b->shape[1],
			 j->threads);
	return KERN_OK;
}

static enum kern_err run_reduce_sum(struct job *j, const char *p, size_t plen)
{
	static const char *const names[] = { "x" };
	const struct kern_tensor *x;
	enum kern_err rc;
	uint64_t shape[1] = { 1 };
	void *y;

	if ((rc = kern_params_empty(j->diag, j->kernel, p, plen)) ||
	    (rc = only(j, names, 1)) ||
	    (rc = need(&x, j, "x", KERN_DT_F32, 1, false)))
		return rc;
	j->work = x->elems;
	if ((rc = check_budget(j, "y", 1, 4)) ||
	    (rc = add_output(j, &y, "y", KERN_DT_F32, 1, shape)))
		return rc;
#ifdef KERN_HAVE_CUDA
	if (j->cuda) {
		CUDA_CALL(kern_cuda_reduce_sum(ERRBUF, y, x->data, x->elems));
		return KERN_OK;
	}
#endif
	kern_cpu_reduce_sum(y, x->data, x->elems, j->threads);
	return KERN_OK;
}

static enum kern_err run_softmax(struct job *j, const char *p, size_t plen)
{
	static const char *const names[] = { "x" };
	const struct kern_tensor *x;
	enum kern_err rc;
	void *y;

	if ((rc = kern_params_empty(j->diag, j->kernel, p, plen)) ||
	    (rc = only(j, names, 1)) ||
	    (rc = need(&x, j, "x", KERN_DT_F32, 2, false)))
		return rc;
	j->work = x->elems;
	if ((rc = check_budget(j, "y", x->elems, 4)) ||
	    (rc = add_output(j, &y, "y", KERN_DT_F32, 2, x->shape)))
		return rc;
	return be_softmax(j, y, x->data, x->shape[0], x->shape[1]);
}

static enum kern_err run_layernorm(struct job *j, const char *p, size_t plen)
{
	static const char *const names[] = { "x", "gamma", "beta" };
	const struct kern_tensor *x, *g, *b;
	enum kern_err rc;
	float eps = 0.0f;
	void *y;

	if ((rc = kern_params_eps(&eps, j->diag, j->kernel, p, plen)) ||
	    (rc = only(j, names, 3)) ||
	    (rc = need(&x, j, "x", KERN_DT_F32, 2, false)) ||
	    (rc = need(&g, j, "gamma", KERN_DT_F32, 1, false)) ||
	    (rc = need(&b, j, "beta", KERN_DT_F32, 1, false)) ||
	    (rc = dim_eq(j, g, 0, x->shape[1], "C of x")) ||
	    (rc = dim_eq(j, b, 0, x->shape[1], "C of x")))
		return rc;
	j->work = x->elems;
	if ((rc = check_budget(j, "y", x->elems, 4)) ||
	    (rc = add_output(j, &y, "y", KERN_DT_F32, 2, x->shape)))
		return rc;
#ifdef KERN_HAVE_CUDA
	if (j->cuda) {
		CUDA_CALL(kern_cuda_layernorm(ERRBUF, y, x->data, g->data, b->data,
					      x->shape[0], x->shape[1], eps));
		return KERN_OK;
	}
#endif
	kern_cpu_layernorm(y, x->data, g->data, b->data, x->shape[0], x->shape[1],
			   eps, j->threads);
	return KERN_OK;
}

static enum kern_err run_conv2d(struct job *j, const char *p, size_t plen)
{
	static const char *const names[] = { "x", "w", "bias" };
	const struct kern_tensor *x, *w, *bias;
	struct kern_conv_shape s;
	size_t pad[2], stride[2];
	enum kern_err rc;
	uint64_t shape[4];
	void *y;

	if ((rc = kern_params_conv(pad, stride, j->diag, j->kernel, p, plen)) ||
	    (rc = only(j, names, 3)) ||
	    (rc = need(&x, j, "x", KERN_DT_F32, 4, false)) ||
	    (rc = need(&w, j, "w", KERN_DT_F32, 4, false)) ||
	    (rc = need(&bias, j, "bias", KERN_DT_F32, 1, true)) ||
	    (rc = dim_eq(j, w, 1, x->shape[1], "C of x")) ||
	    (bias && (rc = dim_eq(j, bias, 0, w->shape[0], "O of w"))))
		return rc;
	if (w->shape[2] > KERN_CONV_KERNEL_MAX || w->shape[3] > KERN_CONV_KERNEL_MAX) {
		kern_diagf(j->diag, "%s: kernel %llux%llu, over %llu", j->kernel,
		      (unsigned long long)w->shape[2], (unsigned long long)w->shape[3],
		      KERN_CONV_KERNEL_MAX);
		return KERN_ERR_CONV_KERNEL;
	}
	memset(&s, 0, sizeof s);
	s.n = x->shape[0];
	s.c = x->shape[1];
	s.h = x->shape[2];
	s.w = x->shape[3];
	s.o = w->shape[0];
	s.kh = w->shape[2];
	s.kw = w->shape[3];
	s.ph = pad[0];
	s.pw = pad[1];
	s.sh = stride[0];
	s.sw = stride[1];
	if (s.h + 2 * s.ph < s.kh || s.w + 2 * s.pw < s.kw) {
		kern_diagf(j->diag, "%s: kernel %zux%zu larger than the padded input %zux%zu",
		      j->kernel, s.kh, s.kw, s.h + 2 * s.ph, s.w + 2 * s.pw);
		return KERN_ERR_SHAPE;
	}
	s.oh = (s.h + 2 * s.ph - s.kh) / s.sh + 1;
	s.ow = (s.w + 2 * s.pw - s.kw) / s.sw + 1;
	shape[0] = s.n;
	shape[1] = s.o;
	shape[2] = s.oh;
	shape[3] = s.ow;
	if (s.oh > KERN_DIM_MAX || s.ow > KERN_DIM_MAX) {
		kern_diagf(j->diag, "%s: output dimension over %llu", j->kernel, KERN_DIM_MAX);
		return KERN_ERR_DIM;
	}
	{
		uint64_t elems = kern_sat_mul(kern_sat_mul(s.n, s.o), kern_sat_mul(s.oh, s.ow));
		j->work = kern_sat_mul(elems, kern_sat_mul(s.c, s.kh * s.kw));
		if ((rc = check_budget(j, "y", elems, 4)))
			return rc;
	}
	if ((rc = add_output(j, &y, "y", KERN_DT_F32, 4, shape)))
		return rc;
#ifdef KERN_HAVE_CUDA
	if (j->cuda) {
		CUDA_CALL(kern_cuda_conv2d(ERRBUF, y, x->data, w->data,
					   bias ? bias->data : NULL, &s));
		return KERN_OK;
	}
#endif
	kern_cpu_conv2d(y, x->data, w->data, bias ? bias->data : NULL, &s, j->threads);
	return KERN_OK;
}

/* "w12" -> 12 for prefix 'w'; -1 when not of the form. */
static long layer_index(const char *name, char prefix)
{
	long v = 0;
	const char *p = name + 1;

	if (name[0] != prefix || *p == '\0' || (*p == '0' && p[1] != '\0'))
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > 1000000)
			return -1;
		v = v * 10 + (*p - '0');
	}
	return v;
}

static enum kern_err run_mlp(struct job *j, const char *p, size_t plen)
{
	const struct kern_tensor *x, *w[KERN_MLP_LAYERS_MAX], *b[KERN_MLP_LAYERS_MAX];
	enum kern_err rc;
	size_t layers = 0, batch, widest = 0;
	uint64_t shape[2];
	float *buf[2] = { NULL, NULL };
	void *y;
	char nm[24];

	if ((rc = kern_params_empty(j->diag, j->kernel, p, plen)) ||
	    (rc = need(&x, j, "x", KERN_DT_F32, 2, false)))
		return rc;
	/* Every other input is w<i> or b<i>, i canonical decimal. */
	for (size_t i = 0; i < j->in->count; i++) {
		const char *n = j->in->t[i].name;
		long li;
		if (strcmp(n, "x") == 0)
			continue;
		li = layer_index(n, n[0] == 'w' ? 'w' : 'b');
		if (li < 0) {
			kern_diagf(j->diag, "%s: unexpected input tensor \"%s\"", j->kernel, n);
			return KERN_ERR_UNKNOWN_TENSOR;
		}
		if (li >= KERN_MLP_LAYERS_MAX) {
			kern_diagf(j->diag, "%s: tensor \"%s\": more than %d layers", j->kernel, n,
			      KERN_MLP_LAYERS_MAX);
			return KERN_ERR_MLP_LAYERS;
		}
		if (n[0] == 'w' && (size_t)li + 1 > layers)
			layers = (size_t)li + 1;
	}
	if (layers == 0) {
		kern_diagf(j->diag, "%s: input tensor \"w0\" is missing", j->kernel);
		return KERN_ERR_MISSING_TENSOR;
	}
	batch = x->shape[0];
	widest = x->shape[1];
	for (size_t l = 0; l < layers; l++) {
		uint64_t din = l == 0 ? x->shape[1] : w[l - 1]->shape[1];
		(void)snprintf(nm, sizeof nm, "w%zu", l);
		if ((rc = need(&w[l], j, nm, KERN_DT_F32, 2, false)) ||
		    (rc = dim_eq(j, w[l], 0, din, "width of the previous layer")))
			return rc;
		(void)snprintf(nm, sizeof nm, "b%zu", l);
		if ((rc = need(&b[l], j, nm, KERN_DT_F32, 1, false)) ||
		    (rc = dim_eq(j, b[l], 0, w[l]->shape[1], "N of the layer's w")))
			return rc;
		j->work = kern_sat_add(j->work, kern_sat_mul(kern_sat_mul(batch, din), w[l]->shape[1]));
		if (w[l]->shape[1] > widest)
			widest = w[l]->shape[1];
	}
	/* Any b<i> without its w<i> (i >= layers) is unknown. */
	for (size_t i = 0; i < j->in->count; i++) {
		const char *n = j->in->t[i].name;
		if (n[0] == 'b' && layer_index(n, 'b') >= (long)layers) {
			kern_diagf(j->diag, "%s: tensor \"%s\" has no matching w", j->kernel, n);
			return KERN_ERR_UNKNOWN_TENSOR;
		}
	}
	shape[0] = batch;
	shape[1] = w[layers - 1]->shape[1];
	/* Two scratch buffers of the widest layer; checked as an output. */
	j->bytes = kern_sat_mul(kern_sat_mul(batch, widest), 8);
	if ((rc = check_budget(j, "hidden", kern_sat_mul(batch, widest), 0)) ||
	    (rc = check_budget(j, "y", shape[0] * shape[1], 4)))
		return rc;
	buf[0] = malloc(batch * widest * sizeof(float));
	buf[1] = malloc(batch * widest * sizeof(float));
	if (buf[0] == NULL || buf[1] == NULL) {
		rc = KERN_ERR_NOMEM;
		goto out;
	}
	if ((rc = add_output(j, &y, "y", KERN_DT_F32, 2, shape)))
		goto out;
	{
		const float *h = x->data;
		for (size_t l = 0; l < layers; l++) {
			float *dst = buf[l & 1];
			rc = be_matmul(j, dst, h, w[l]->data, b[l]->data, batch,
				       w[l]->shape[0], w[l]->shape[1], l + 1 < layers);
			if (rc)
				goto out;
			h = dst;
		}
		rc = be_softmax(j, y, h, batch, shape[1]);
	}
out:
	free(buf[0]);
	free(buf[1]);
	return rc;
}

/* ------------------------------------------------------------------ */
/* kern_run                                                             */

/* Every NaN in n floats at p becomes 0x7fc00000.  Bytes are moved with
 * memcpy (no aliasing question); the clones vectorise the loop. */
__attribute__((target_clones("avx512f", "avx2", "default"),
	       optimize("vect-cost-model=dynamic")))
static void canonicalise_f32(unsigned char *p, uint64_t n)
{
	for (uint64_t e = 0; e < n; e++) {
		uint32_t u;
		memcpy(&u, p + 4 * e, 4);
		u = (u & 0x7fffffffu) > 0x7f800000u ? KERN_CANONICAL_NAN_BITS : u;
		memcpy(p + 4 * e, &u, 4);
	}
}

static void canonicalise(struct kern_tensors *s)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->t[i].dtype == KERN_DT_F32)
			canonicalise_f32(s->t[i].data, s->t[i].elems);
}

static enum kern_err dispatch(struct job *j, enum kid k, const char *params,
			      size_t params_len)
{
	switch (k) {
	case K_MATMUL: return run_matmul(j, params, params_len);
	case K_GEMM_I8: return run_gemm_i8(j, params, params_len);
	case K_REDUCE_SUM: return run_reduce_sum(j, params, params_len);
	case K_SOFTMAX: return run_softmax(j, params, params_len);
	case K_LAYERNORM: return run_layernorm(j, params, params_len);
	case K_CONV2D: return run_conv2d(j, params, params_len);
	case K_MLP: return run_mlp(j, params, params_len);
	case K_GPT2: {
		struct kern_gpt2_job g = { j->kernel, j->in, j->model, j->out, j->diag,
					   j->threads, j->cuda };
		return kern_gpt2_run(&g, params, params_len);
	}
	default: break;
	}
	assert(0 && "kernel table and dispatch disagree");
	return KERN_ERR_UNKNOWN_KERNEL;
}

enum kern_err kern_params_check(struct kern_diag *diag, const char *kernel,
				const char *params, size_t params_len)
{
	const struct kern_info *info = kern_find(kernel);
	size_t pad[2], stride[2];
	struct kern_gpt2_params gp;
	float eps;
	int relu;

	if (diag)
		diag->msg[0] = '\0';
	if (params == NULL)
		return KERN_ERR_ARG;
	if (info == NULL) {
		kern_diagf(diag, "kernel '%.64s': no such kernel", kernel ? kernel : "");
		return KERN_ERR_UNKNOWN_KERNEL;
	}
	if (params_len > KERN_PARAMS_BYTES_MAX) {
		kern_diagf(diag, "%s: params longer than %d bytes", info->name, KERN_PARAMS_BYTES_MAX);
		return KERN_ERR_PARAMS_SIZE;
	}
	switch ((enum kid)(info - table)) {
	case K_MATMUL: return kern_params_relu(&relu, diag, info->name, params, params_len);
	case K_LAYERNORM: return kern_params_eps(&eps, diag, info->name, params, params_len);
	case K_CONV2D:
		return kern_params_conv(pad, stride, diag, info->name, params, params_len);
	case K_GEMM_I8:
	case K_REDUCE_SUM:
	case K_SOFTMAX:
	case K_MLP: return kern_params_empty(diag, info->name, params, params_len);
	case K_GPT2: return kern_params_gpt2(&gp, diag, info->name, params, params_len);
	default: break;
	}
	assert(0 && "kernel table and kern_params_check disagree");
	return KERN_ERR_UNKNOWN_KERNEL;
}

enum kern_err kern_params_model(int *has_model, uint8_t root[KERN_HASH_BYTES],
				uint64_t *size, struct kern_diag *diag, const char *kernel,
				const char *params, size_t params_len)
{
	const struct kern_info *info = kern_find(kernel);
	struct kern_gpt2_params gp;
	enum kern_err rc;

	if (has_model == NULL || root == NULL || size == NULL)
		return KERN_ERR_ARG;
	*has_model = 0;
	if ((rc = kern_params_check(diag, kernel, params, params_len)))
		return rc;
	if ((enum kid)(info - table) != K_GPT2)
		return KERN_OK;
	if ((rc = kern_params_gpt2(&gp, diag, info->name, params, params_len)))
		return rc;
	*has_model = 1;
	memcpy(root, gp.model_root, KERN_HASH_BYTES);
	*size = gp.model_size;
	return KERN_OK;
}

static unsigned online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > KERN_THREADS_MAX ? KERN_THREADS_MAX : (unsigned)n;
}

enum kern_err kern_run(struct kern_tensors *out, char device_used[KERN_DEVICE_BYTES],
		       struct kern_diag *diag, const char *kernel,
		       const struct kern_tensors *in, const char *params,
		       size_t params_len, const struct kern_run_opts *opts)
{
	struct kern_run_opts def = { KERN_DEVICE_AUTO, 0, NULL };
	const struct kern_info *info;
	struct job j;
	enum kern_err rc;
	char dev[KERN_DEVICE_BYTES] = "cpu";
	fenv_t fenv;

	if (diag)
		diag->msg[0] = '\0';
	if (out == NULL || device_used == NULL || kernel == NULL || in == NULL ||
	    params == NULL || out->count != 0)
		return KERN_ERR_ARG;
	if (opts == NULL)
		opts = &def;
	info = kern_find(kernel);
	if (info == NULL) {
		kern_diagf(diag, "kernel '%.64s': no such kernel (see `assay kernel list`)", kernel);
		return KERN_ERR_UNKNOWN_KERNEL;
	}
	if (params_len > KERN_PARAMS_BYTES_MAX) {
		kern_diagf(diag, "%s: params longer than %d bytes", kernel, KERN_PARAMS_BYTES_MAX);
		return KERN_ERR_PARAMS_SIZE;
	}
	if (opts->threads > KERN_THREADS_MAX) {
		kern_diagf(diag, "%s: %u threads, over %d", kernel, opts->threads, KERN_THREADS_MAX);
		return KERN_ERR_THREADS;
	}
	if (in->count > KERN_TENSORS_MAX) {
		kern_diagf(diag, "%s: more than %d input tensors", kernel, KERN_TENSORS_MAX);
		return KERN_ERR_TENSOR_COUNT;
	}
	for (size_t a = 0; a < in->count; a++) {
		for (size_t b = a + 1; b < in->count; b++) {
			if (strcmp(in->t[a].name, in->t[b].name) == 0) {
				kern_diagf(diag, "%s: two input tensors named \"%s\"", kernel,
				      in->t[a].name);
				return KERN_ERR_DUP_TENSOR;
			}
		}
	}
	memset(&j, 0, sizeof j);
	j.kernel = info->name;
	j.in = in;
	j.model = opts->model;
	j.out = out;
	j.diag = diag;
	j.threads = opts->threads ? opts->threads : online_cpus();
	if (opts->device != KERN_DEVICE_CPU) {
		j.cuda = kern_cuda_available(dev);
		if (!j.cuda) {
			memcpy(dev, "cpu", 4);
			if (opts->device == KERN_DEVICE_CUDA) {
				kern_diagf(diag, "%s: device cuda: no usable CUDA device%s", kernel,
#ifdef KERN_HAVE_CUDA
				      ""
#else
				      " (built without CUDA)"
#endif
				);
				return KERN_ERR_DEVICE;
			}
		}
	}
	kern_fp_enter(&fenv);
	rc = dispatch(&j, (enum kid)(info - table), params, params_len);
	if (rc == KERN_ERR_CUDA && opts->device == KERN_DEVICE_AUTO) {
		/* auto: a GPU that fails (out of device memory, ...) is no
		 * reason to refuse the job; the CPU gives the same bytes. */
		kern_tensors_release(out);
		j.cuda = 0;
		j.bytes = 0;
		j.work = 0;
		memcpy(dev, "cpu", 4);
		rc = dispatch(&j, (enum kid)(info - table), params, params_len);
	}
	if (rc == KERN_OK)
		canonicalise(out);
	kern_fp_leave(&fenv);
	if (rc != KERN_OK) {
		kern_tensors_release(out);
		return rc;
	}
	memcpy(device_used, dev, KERN_DEVICE_BYTES);
	assert(out->count >= 1);
	return KERN_OK;
}
