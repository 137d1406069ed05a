/*
 * kern_params.h: strict params parsers (kernels/params.c).  Private to
 * kernels/.  Each returns KERN_OK or KERN_ERR_PARAMS (conv2d also its
 * limit errors) with diag naming the kernel.
 */
#ifndef ASSAY_KERN_PARAMS_H
#define ASSAY_KERN_PARAMS_H

#include <stddef.h>

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

#endif
