/*
 * kern_params.h: strict params parsers (kernels/params.c).  Private to
 * kernels/.  Each returns KERN_OK or KERN_ERR_PARAMS (conv2d also its
 * limit errors) with diag naming the kernel.
 */
#ifndef ASSAY_KERN_PARAMS_H
#define ASSAY_KERN_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

KERN_WUR enum kern_err kern_params_empty(struct kern_diag *diag, const char *kernel,
					 const char *p, size_t len);
KERN_WUR enum kern_err kern_params_relu(int *relu, struct kern_diag *diag,
					const char *kernel, const char *p, size_t len);
KERN_WUR enum kern_err kern_params_eps(float *eps, struct kern_diag *diag,
				       const char *kernel, const char *p, size_t len);
KERN_WUR enum kern_err kern_params_conv(size_t pad[2], size_t stride[2],
					struct kern_diag *diag, const char *kernel,
					const char *p, size_t len);

/* gpt2_f32@1: {"heads":H,"max_new_tokens":N,"model":"0x<64 hex>","modelSize":S}
 * (lower-case hex; H, N >= 1; S a JSON integer below 2^63).  The limits
 * on H and N are checked here (KERN_ERR_HEADS, KERN_ERR_NEW_TOKENS);
 * modelSize over KERN_MODEL_BYTES_MAX is KERN_ERR_MODEL_BYTES. */
struct kern_gpt2_params {
	size_t heads, new_tokens;
	uint8_t model_root[32];
	uint64_t model_size;
};
KERN_WUR enum kern_err kern_params_gpt2(struct kern_gpt2_params *out,
					struct kern_diag *diag, const char *kernel,
					const char *p, size_t len);

#endif
