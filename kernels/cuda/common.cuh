/*
 * common.cuh: helpers shared by the CUDA implementations.  Private.
 *
 * Rules every .cu file here follows (docs/kernels.md, "CUDA"):
 * - every floating-point operation is written with the kern_math.h macros,
 *   i.e. the explicitly rounded intrinsics (__fadd_rn, __fmul_rn,
 *   __fmaf_rn, __fdiv_rn, __fsqrt_rn), which nvcc never contracts, and the
 *   build adds --fmad=false -ftz=false -prec-div=true -prec-sqrt=true;
 * - no float atomics; every reduction follows the tree of the spec, which
 *   never depends on the block size;
 * - the host wrappers copy inputs in, launch, copy outputs back, and free
 *   on every path; NaN canonicalisation is done by the caller on the host.
 */
#ifndef ASSAY_KERN_CUDA_COMMON_CUH
#define ASSAY_KERN_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdio.h>
#include <stdint.h>

#include "kern_internal.h"
#include "kern_math.h"

/* On a CUDA error: message into err (a char[256]), rc = 1, goto fail. */
#define CK(call)                                                          \
	do {                                                              \
		cudaError_t e_ = (call);                                  \
		if (e_ != cudaSuccess) {                                  \
			snprintf(err, 256, "%s: %s", #call,               \
				 cudaGetErrorString(e_));                 \
			rc = 1;                                           \
			goto fail;                                        \
		}                                                         \
	} while (0)

/* Launch check: configuration errors now, execution errors at sync. */
#define CK_LAUNCH()                                                       \
	do {                                                              \
		CK(cudaGetLastError());                                   \
		CK(cudaDeviceSynchronize());                              \
	} while (0)

static inline size_t kc_blocks(size_t n, size_t per)
{
	return (n + per - 1) / per;
}

/*
 * The spec's sum tree (kern_math.h) over v[0..n), computed by one block
 * of exactly 256 threads, result returned to every thread.  Aligned
 * chunks of 1024 values are perfect subtrees: each is reduced level by
 * level (dst[i] = src[2i] + src[2i+1], ping-pong in shared memory) and
 * thread 0 pushes its sum into the streaming tree as a 1024-leaf subtree;
 * the remaining n mod 1024 values are summed by thread 0 with the
 * streaming tree and pushed last.  sa, sb: __shared__ float[512] each.
 */
__device__ __forceinline__ float kc_block_tree_sum(const float *v, size_t n,
						   float *sa, float *sb,
						   float *result)
{
	struct kern_tree t;
	unsigned tid = threadIdx.x;
	size_t c0 = 0;

	if (tid == 0)
		kern_tree_init(&t);
	for (; c0 + 1024 <= n; c0 += 1024) {
		const float *c = v + c0;
		sa[tid] = KADD(c[2 * tid], c[2 * tid + 1]);
		sa[tid + 256] = KADD(c[512 + 2 * tid], c[512 + 2 * tid + 1]);
		__syncthreads();
		float *src = sa, *dst = sb;
		for (unsigned len = 256; len >= 1; len >>= 1) {
			if (tid < len)
				dst[tid] = KADD(src[2 * tid], src[2 * tid + 1]);
			__syncthreads();
			float *tmp = src;
			src = dst;
			dst = tmp;
		}
		if (tid == 0)
			kern_tree_push(&t, src[0], 1024);
		__syncthreads();
	}
	if (tid == 0) {
		if (c0 < n) {
			struct kern_tree tail;
			kern_tree_init(&tail);
			for (size_t i = c0; i < n; i++)
				kern_tree_push(&tail, v[i], 1);
			kern_tree_push(&t, kern_tree_final(&tail), n - c0);
		}
		*result = kern_tree_final(&t);
	}
	__syncthreads();
	float r = *result;
	__syncthreads();
	return r;
}

#endif
