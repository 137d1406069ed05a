/*
 * kern_limits.h: every bound the kernels library enforces, in one place
 * (SQLite's sqliteLimit.h habit).  Each limit has its own error code in
 * enum kern_err, so that a refusal says exactly which bound was hit.
 * The limits are part of each kernel's contract: a job inside them runs
 * the same on every implementation; a job outside them is refused by all.
 */
#ifndef ASSAY_KERN_LIMITS_H
#define ASSAY_KERN_LIMITS_H

/* Tensors have at most 4 dimensions: conv2d's NCHW is the largest rank any
 * kernel takes.  (KERN_ERR_RANK) */
#define KERN_RANK_MAX 4

/* One dimension: 2^24 keeps every count exactly representable as a float
 * (layernorm divides by C as a float) and every index product small.
 * (KERN_ERR_DIM) */
#define KERN_DIM_MAX 16777216ull

/* Elements in one tensor: 2^28 (1 GiB of F32).  Bounds memory and keeps
 * every element index inside 32 bits on the GPU.  (KERN_ERR_ELEMS) */
#define KERN_ELEMS_MAX 268435456ull

/* Bytes in one tensor: 1 GiB, the F32 form of KERN_ELEMS_MAX.
 * (KERN_ERR_TENSOR_BYTES) */
#define KERN_TENSOR_BYTES_MAX 1073741824ull

/* Bytes of all inputs plus all outputs (and intermediates) of one job:
 * 2 GiB, so that a validator with a modest machine can re-run any job a
 * provider accepted.  Also bounds a safetensors file we read.
 * (KERN_ERR_JOB_BYTES) */
#define KERN_JOB_BYTES_MAX 2147483648ull

/* Multiply-adds in one job: 2^40 (a 10240^3 matmul; about an hour on a
 * 2-core CPU), so that a validator's re-execution is bounded in time.
 * (KERN_ERR_WORK) */
#define KERN_WORK_MAX 1099511627776ull

/* gemm_i8 inner dimension: |a*b| <= 128*128 = 16384, and the int32 sum of
 * K such products cannot overflow when K * 16384 <= 2^31 - 1, that is
 * K <= 131071.  (KERN_ERR_GEMM_K) */
#define KERN_GEMM_I8_K_MAX 131071ull

/* mlp_f32 layers (w0,b0 ... w63,b63): a small model by design.
 * (KERN_ERR_MLP_LAYERS) */
#define KERN_MLP_LAYERS_MAX 64

/* conv2d kernel height and width.  (KERN_ERR_CONV_KERNEL) */
#define KERN_CONV_KERNEL_MAX 64ull
/* conv2d stride.  (KERN_ERR_CONV_STRIDE) */
#define KERN_CONV_STRIDE_MAX 64ull
/* conv2d padding: never more than a kernel's extent is useful.
 * (KERN_ERR_CONV_PADDING) */
#define KERN_CONV_PADDING_MAX 64ull

/* Tensors in one job or one safetensors file: mlp's x plus 64 layers of
 * two tensors is 129; a little room above.  (KERN_ERR_TENSOR_COUNT) */
#define KERN_TENSORS_MAX 160

/* A tensor name ("w63", "bias", ...).  (KERN_ERR_NAME) */
#define KERN_NAME_BYTES_MAX 64

/* The params string: same bound as a JobSpec's params
 * (RCPT_PARAMS_BYTES_MAX).  (KERN_ERR_PARAMS_SIZE) */
#define KERN_PARAMS_BYTES_MAX 4096

/* A number in params (eps): longer is never needed.  (KERN_ERR_PARAMS) */
#define KERN_NUMBER_BYTES_MAX 64

/* CPU worker threads.  (KERN_ERR_THREADS) */
#define KERN_THREADS_MAX 256

/* A safetensors JSON header: 1 MiB holds thousands of tensor entries,
 * far more than KERN_TENSORS_MAX, and caps parser work before any data
 * is read.  (KERN_ERR_ST_HEADER_SIZE) */
#define KERN_ST_HEADER_BYTES_MAX 1048576ull

/* "__metadata__" entries in a safetensors header we read.
 * (KERN_ERR_ST_METADATA) */
#define KERN_ST_METADATA_MAX 256

/* ---- Models (gpt2_f32@1).  A model is a content-addressed artifact
 * read once (memory-mapped) and shared by every job that names it, so it
 * has its own bounds instead of counting against KERN_JOB_BYTES_MAX. */

/* Bytes of a model file: 8 GiB holds GPT-2 XL in F32 (6.2 GiB) with room.
 * (KERN_ERR_MODEL_BYTES) */
#define KERN_MODEL_BYTES_MAX 8589934592ull

/* Tensors in a model file: GPT-2 carries 14 per layer (two of them the
 * causal-mask buffers we ignore) plus 4; 1024 holds 73 layers, more than
 * any GPT-2 checkpoint has.  (KERN_ERR_MODEL_TENSORS) */
#define KERN_MODEL_TENSORS_MAX 1024

/* Transformer layers.  GPT-2 XL has 48.  (KERN_ERR_GPT2_LAYERS) */
#define KERN_GPT2_LAYERS_MAX 96

/* Attention heads; the width must be a multiple of the heads.
 * (KERN_ERR_HEADS) */
#define KERN_GPT2_HEADS_MAX 128

/* Positions (rows of wpe): GPT-2 has 1024.  Bounds the key/value cache.
 * (KERN_ERR_CONTEXT, also for prompt + new tokens over the model's rows) */
#define KERN_GPT2_CONTEXT_MAX 8192

/* max_new_tokens of one job.  (KERN_ERR_NEW_TOKENS) */
#define KERN_GPT2_NEW_TOKENS_MAX 1024

/* Prompts in one job (rows of `tokens`).  (KERN_ERR_BATCH) */
#define KERN_GPT2_BATCH_MAX 64

/* Room for one diagnostic line. */
#define KERN_DIAG_BYTES 256

/* "cpu", "cuda:sm_90", ... plus NUL; equals RCPT_DEVICE_BYTES_MAX + 1. */
#define KERN_DEVICE_BYTES 65

#endif
