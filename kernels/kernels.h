/*
 * kernels.h: the one public header of Assay's deterministic kernels.
 *
 * A kernel (`name@version`, e.g. "matmul_f32@1") maps named input tensors
 * and a params string to named output tensors.  Every kernel fixes the
 * order of every floating-point operation (docs/kernels.md), uses only
 * correctly rounded operations (+, -, *, /, sqrt, fma), and canonicalises
 * every NaN it outputs to 0x7fc00000, so the output bytes are the same on
 * any CPU (any ISA, any thread count) and on any CUDA device.
 *
 * Conventions (as receipts.h):
 * - outputs come before inputs; a length follows its pointer;
 * - every function that can fail returns an `enum kern_err` (KERN_OK is
 *   0) and is marked warn_unused_result;
 * - a `struct kern_diag *` may be NULL; when given it receives one
 *   lower-case line naming what failed and why (never tensor data);
 * - no other pointer may be NULL unless its comment says so: NULL is
 *   misuse and returns KERN_ERR_ARG.
 *
 * Ownership: a `struct kern_tensors` owns every tensor in it and every
 * tensor owns its data (malloc'd, aligned for its dtype).  Release a set
 * with kern_tensors_release; functions that fill a set (kern_run,
 * kern_st_read_file, ...) require it empty (freshly kern_tensors_init'ed or
 * released) and leave it empty on failure.
 *
 * Thread safety: every function may be called from several threads at
 * once on different sets.
 */
#ifndef ASSAY_KERNELS_H
#define ASSAY_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kern_limits.h"

#if defined(__GNUC__)
#define KERN_WUR __attribute__((warn_unused_result))
#else
#define KERN_WUR
#endif

#define KERN_HASH_BYTES 32
/* The one NaN any kernel outputs. */
#define KERN_CANONICAL_NAN_BITS 0x7fc00000u

enum kern_err {
	KERN_OK = 0,
	KERN_ERR_ARG,             /* misuse by the caller */
	KERN_ERR_NOMEM,           /* allocation failed */
	KERN_ERR_IO,              /* a file could not be read or written */
	KERN_ERR_UNKNOWN_KERNEL,  /* no kernel by that name@version */
	KERN_ERR_PARAMS,          /* params is not the kernel's exact form */
	KERN_ERR_MISSING_TENSOR,  /* a required input tensor is absent */
	KERN_ERR_UNKNOWN_TENSOR,  /* an input tensor the kernel does not take */
	KERN_ERR_DUP_TENSOR,      /* two tensors with the same name */
	KERN_ERR_DTYPE,           /* a tensor has the wrong dtype */
	KERN_ERR_SHAPE,           /* a tensor has the wrong rank or shape */
	KERN_ERR_DEVICE,          /* the requested device is not available */
	KERN_ERR_CUDA,            /* the CUDA runtime failed */
	/* Limits (kern_limits.h), one code each. */
	KERN_ERR_RANK,            /* rank over KERN_RANK_MAX */
	KERN_ERR_DIM,             /* a dimension over KERN_DIM_MAX */
	KERN_ERR_ELEMS,           /* elements over KERN_ELEMS_MAX */
	KERN_ERR_TENSOR_BYTES,    /* a tensor over KERN_TENSOR_BYTES_MAX */
	KERN_ERR_JOB_BYTES,       /* a job over KERN_JOB_BYTES_MAX */
	KERN_ERR_WORK,            /* multiply-adds over KERN_WORK_MAX */
	KERN_ERR_GEMM_K,          /* gemm_i8 K over KERN_GEMM_I8_K_MAX */
	KERN_ERR_MLP_LAYERS,      /* mlp layers over KERN_MLP_LAYERS_MAX */
	KERN_ERR_CONV_KERNEL,     /* conv2d KH or KW over KERN_CONV_KERNEL_MAX */
	KERN_ERR_CONV_STRIDE,     /* conv2d stride over KERN_CONV_STRIDE_MAX */
	KERN_ERR_CONV_PADDING,    /* conv2d padding over KERN_CONV_PADDING_MAX */
	KERN_ERR_TENSOR_COUNT,    /* tensors over KERN_TENSORS_MAX */
	KERN_ERR_NAME,            /* tensor name empty or over KERN_NAME_BYTES_MAX */
	KERN_ERR_PARAMS_SIZE,     /* params over KERN_PARAMS_BYTES_MAX */
	KERN_ERR_THREADS,         /* threads over KERN_THREADS_MAX */
	/* safetensors files */
	KERN_ERR_ST_HEADER_SIZE,  /* header length 0, over the bound or past EOF */
	KERN_ERR_ST_JSON,         /* header is not one strict JSON object */
	KERN_ERR_ST_ENTRY,        /* a tensor entry is malformed (see diag) */
	KERN_ERR_ST_OFFSETS,      /* data_offsets do not tile the data area */
	KERN_ERR_ST_METADATA,     /* __metadata__ not a string map, or too big */
	/* models (gpt2_f32@1) */
	KERN_ERR_MODEL,           /* model absent, or a tensor missing or misshapen */
	KERN_ERR_MODEL_BYTES,     /* model file over KERN_MODEL_BYTES_MAX */
	KERN_ERR_MODEL_TENSORS,   /* model tensors over KERN_MODEL_TENSORS_MAX */
	KERN_ERR_GPT2_LAYERS,     /* layers over KERN_GPT2_LAYERS_MAX */
	KERN_ERR_HEADS,           /* heads 0, over the bound or not dividing width */
	KERN_ERR_CONTEXT,         /* positions over the model's or the bound */
	KERN_ERR_NEW_TOKENS,      /* max_new_tokens over KERN_GPT2_NEW_TOKENS_MAX */
	KERN_ERR_BATCH,           /* prompts over KERN_GPT2_BATCH_MAX */
	KERN_ERR_TOKEN,           /* a token id outside the vocabulary */
	KERN_ERR_COUNT_           /* not an error: the number of codes */
};

/* Never NULL; "unknown error" for a value out of range. */
const char *kern_strerror(enum kern_err err);
/* Stable short identifier such as "dtype"; never NULL. */
const char *kern_errname(enum kern_err err);

struct kern_diag {
	char msg[KERN_DIAG_BYTES];
};

/* ------------------------------------------------------------------ */
/* Tensors                                                              */

/* safetensors dtypes.  Kernels use F32, I8 and I32; the reader accepts
 * every dtype listed so that a file is refused by the kernel (dtype)
 * rather than by the parser. */
enum kern_dtype {
	KERN_DT_BOOL = 1,
	KERN_DT_U8,
	KERN_DT_I8,
	KERN_DT_I16,
	KERN_DT_U16,
	KERN_DT_F16,
	KERN_DT_BF16,
	KERN_DT_I32,
	KERN_DT_U32,
	KERN_DT_F32,
	KERN_DT_F64,
	KERN_DT_I64,
	KERN_DT_U64,
};

/* "F32", "I8", ... as safetensors writes them; NULL when unknown. */
const char *kern_dtype_name(enum kern_dtype dt);
/* Bytes per element; 0 when unknown. */
size_t kern_dtype_size(enum kern_dtype dt);
/* KERN_OK and *out, or KERN_ERR_DTYPE for a name not listed above. */
KERN_WUR enum kern_err kern_dtype_parse(enum kern_dtype *out, const char *name);

/* One tensor: row-major, little-endian elements (the host's order: the
 * library refuses to build on a big-endian host).  rank 0 is a scalar
 * (one element).  `data` holds size_bytes bytes and is owned by the set
 * the tensor belongs to. */
struct kern_tensor {
	char name[KERN_NAME_BYTES_MAX + 1];
	enum kern_dtype dtype;
	uint32_t rank;
	uint64_t shape[KERN_RANK_MAX];
	uint64_t elems;
	size_t size_bytes;
	void *data;
};

struct kern_tensors {
	size_t count;
	struct kern_tensor *t;    /* count entries, malloc'd; NULL when empty */
	int borrowed;             /* data belongs to a kern_model's mapping */
};

void kern_tensors_init(struct kern_tensors *s);
/* Frees every tensor's data and the array; leaves *s empty. */
void kern_tensors_release(struct kern_tensors *s);

/* Appends a tensor named `name` with a fresh zeroed buffer of the right
 * size and returns it through *out (may be NULL), valid until the set
 * changes.  `data` may be NULL; when given, size_bytes of it are copied.
 * Errors: KERN_ERR_NAME, KERN_ERR_DUP_TENSOR, KERN_ERR_DTYPE,
 * KERN_ERR_RANK, KERN_ERR_DIM, KERN_ERR_ELEMS, KERN_ERR_TENSOR_BYTES,
 * KERN_ERR_TENSOR_COUNT, KERN_ERR_NOMEM. */
KERN_WUR enum kern_err kern_tensors_add(struct kern_tensors *s,
					struct kern_tensor **out,
					struct kern_diag *diag,
					const char *name, enum kern_dtype dtype,
					uint32_t rank, const uint64_t *shape,
					const void *data);

/* The tensor named `name`, or NULL. */
const struct kern_tensor *kern_tensors_find(const struct kern_tensors *s,
					    const char *name);

/* ------------------------------------------------------------------ */
/* Kernels                                                              */

struct kern_info {
	const char *name;          /* "matmul_f32@1" */
	const char *description;   /* one line */
	uint8_t hash[KERN_HASH_BYTES]; /* kernelHash: see docs/kernels.md */
};

/* Number of kernels, and kernel i (NULL when i >= kern_count()).  The
 * table is static: pointers stay valid for the life of the process. */
size_t kern_count(void);
const struct kern_info *kern_info_at(size_t i);
/* The kernel named exactly `name` ("matmul_f32@1"), or NULL. */
const struct kern_info *kern_find(const char *name);

enum kern_device {
	KERN_DEVICE_AUTO = 0,     /* CUDA when built in and a device is present */
	KERN_DEVICE_CPU,
	KERN_DEVICE_CUDA,
};

/* "auto", "cpu" or "cuda" into *out; else KERN_ERR_ARG. */
KERN_WUR enum kern_err kern_device_parse(enum kern_device *out, const char *text);

/* True when this build has the CUDA path and a CUDA device is usable;
 * `name` (may be NULL) receives "cuda:sm_XX". */
int kern_cuda_available(char name[KERN_DEVICE_BYTES]);

struct kern_run_opts {
	enum kern_device device;
	unsigned threads;         /* CPU threads; 0 means the online CPUs */
	/* The model of a kernel that takes one (gpt2_f32@1), else NULL.  The
	 * caller has checked it against the commitment in params (the
	 * kernel sees tensors, not the file's bytes). */
	const struct kern_tensors *model;
};

/*
 * Runs `kernel` on the tensors in `in` with the params string `params`
 * (params_len bytes, no NUL needed).  On success `out` holds the output
 * tensors and `device_used` "cpu" or "cuda:sm_XX".  `opts` may be NULL
 * (auto, all CPUs, no model).  The output bytes do not depend on the
 * device or the thread count.  With
 * KERN_DEVICE_AUTO a CUDA failure at run time (e.g. out of device memory)
 * falls back to the CPU, and device_used says "cpu".
 *
 * Errors: KERN_ERR_UNKNOWN_KERNEL, KERN_ERR_PARAMS, KERN_ERR_PARAMS_SIZE,
 * KERN_ERR_MISSING_TENSOR, KERN_ERR_UNKNOWN_TENSOR, KERN_ERR_DTYPE,
 * KERN_ERR_SHAPE, every limit error, KERN_ERR_DEVICE (cuda asked for but
 * absent), KERN_ERR_CUDA, KERN_ERR_NOMEM, KERN_ERR_ARG, and for a model
 * kernel KERN_ERR_MODEL and the model limit errors.
 */
KERN_WUR enum kern_err kern_run(struct kern_tensors *out,
				char device_used[KERN_DEVICE_BYTES],
				struct kern_diag *diag,
				const char *kernel,
				const struct kern_tensors *in,
				const char *params, size_t params_len,
				const struct kern_run_opts *opts);

/*
 * Checks `params` (params_len bytes) against the exact form `kernel`
 * takes (PROTOCOL.md section 6: compact JSON, sorted keys, the kernel's
 * one shape) without running anything: kern_run would refuse exactly the
 * strings this refuses.  Lets a service refuse a job before money moves.
 * Errors: KERN_ERR_UNKNOWN_KERNEL, KERN_ERR_PARAMS_SIZE, KERN_ERR_PARAMS
 * (and conv2d's limit errors), KERN_ERR_ARG; diag says why.
 */
KERN_WUR enum kern_err kern_params_check(struct kern_diag *diag, const char *kernel,
					 const char *params, size_t params_len);

/*
 * The model a job's params name, for the services that must find it
 * before a job runs: *has_model 0 for a kernel that takes none; else 1
 * with the commitment (root, size) from params (gpt2_f32@1's "model" and
 * "modelSize").  Errors: as kern_params_check.
 */
KERN_WUR enum kern_err kern_params_model(int *has_model, uint8_t root[KERN_HASH_BYTES],
					 uint64_t *size, struct kern_diag *diag,
					 const char *kernel, const char *params,
					 size_t params_len);

/* ------------------------------------------------------------------ */
/* safetensors (kernels/safetensors.c: built with jansson in the
 * services' build; not part of the standalone kernels/Makefile)        */

/*
 * Parses a whole safetensors file image.  Strict: 8-byte little-endian
 * header length in [2, KERN_ST_HEADER_BYTES_MAX]; a JSON object header
 * without duplicate keys; each tensor {"dtype","shape","data_offsets"}
 * and nothing else; offsets that tile the data area in order, with no
 * gap, overlap or trailing byte; an optional "__metadata__" map of
 * strings (read and dropped).  Errors: KERN_ERR_ST_*, the tensor limit
 * errors, KERN_ERR_NOMEM; diag names the tensor.
 */
KERN_WUR enum kern_err kern_st_parse(struct kern_tensors *out,
				     struct kern_diag *diag,
				     const void *buf, size_t len);
/* Same from a file (at most KERN_JOB_BYTES_MAX bytes; KERN_ERR_IO). */
KERN_WUR enum kern_err kern_st_read_file(struct kern_tensors *out,
					 struct kern_diag *diag,
					 const char *path);

/*
 * Serialises a set deterministically (docs/kernels.md, "safetensors
 * form"): tensors sorted by name (bytewise), header
 * {"NAME":{"dtype":"F32","shape":[..],"data_offsets":[b,e]},...}
 * compact, padded with spaces so that the data starts at a multiple of 8,
 * no __metadata__.  *out is malloc'd; the caller frees it.
 */
KERN_WUR enum kern_err kern_st_serialize(uint8_t **out, size_t *out_len,
					 struct kern_diag *diag,
					 const struct kern_tensors *s);
/* Writes the serialised form to `path` atomically: a temporary file beside
 * it (mode 0600), fsynced, renamed over `path`.  KERN_ERR_IO on failure,
 * leaving no partial file. */
KERN_WUR enum kern_err kern_st_write_file(struct kern_diag *diag,
					  const char *path,
					  const struct kern_tensors *s);

/*
 * A model: a safetensors file memory-mapped read-only, its tensors
 * pointing into the mapping (copied once into aligned memory only when
 * the file's data area is not 4-byte aligned).  Bounds: KERN_MODEL_*;
 * the same strict header rules as kern_st_parse.  Pass &m->tensors as
 * kern_run_opts.model.  Errors: as kern_st_parse, KERN_ERR_MODEL_BYTES,
 * KERN_ERR_MODEL_TENSORS, KERN_ERR_IO.
 */
struct kern_model {
	struct kern_tensors tensors;  /* borrowed: data lives in map or copy */
	void *map;
	size_t map_len;
	void *copy;                   /* the aligned copy, or NULL */
};
KERN_WUR enum kern_err kern_model_open(struct kern_model *m, struct kern_diag *diag,
				       const char *path);
/* The same over `len` bytes the caller has mapped (and unmaps after
 * kern_model_close): the sandbox's worker, which opens no file. */
KERN_WUR enum kern_err kern_model_from_map(struct kern_model *m, struct kern_diag *diag,
					   const void *map, size_t len);
/* Unmaps (what kern_model_open mapped) and frees; leaves *m closed (a
 * second close does nothing). */
void kern_model_close(struct kern_model *m);

/* Reads `in_path`, runs the kernel, writes `out_path`. */
KERN_WUR enum kern_err kern_run_file(char device_used[KERN_DEVICE_BYTES],
				     struct kern_diag *diag,
				     const char *kernel,
				     const char *in_path,
				     const char *params, size_t params_len,
				     const char *out_path,
				     const struct kern_run_opts *opts);

#endif
