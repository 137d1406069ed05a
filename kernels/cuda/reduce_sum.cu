/*
 * reduce_sum.cu: reduce_sum_f32@1 on CUDA.  Pass after pass, each block
 * turns 1024 consecutive values (an aligned, hence perfect, subtree of the
 * spec's tree) into their sum level by level, and the last block turns the
 * remaining n mod 1024 values into their streaming-tree sum; the array of
 * partial sums is then the leaf row of the same tree one level up
 * (docs/kernels.md), so the passes repeat until one value is left.
 */
#include "common.cuh"

__global__ void __launch_bounds__(256)
sum_pass(float *__restrict__ out, const float *__restrict__ in, size_t n)
{
	__shared__ float sa[512], sb[512], res;
	size_t b0 = (size_t)blockIdx.x * 1024;
	size_t len = n - b0 < 1024 ? n - b0 : 1024;
	float s = kc_block_tree_sum(in + b0, len, sa, sb, &res);

	if (threadIdx.x == 0)
		out[blockIdx.x] = s;
}

extern "C" int kern_cuda_reduce_sum(char err[256], float *y, const float *x,
				    size_t n)
{
	float *d0 = NULL, *d1 = NULL;
	int rc = 0;

	CK(cudaMalloc(&d0, n * sizeof(float)));
	CK(cudaMalloc(&d1, kc_blocks(n, 1024) * sizeof(float)));
	CK(cudaMemcpy(d0, x, n * sizeof(float), cudaMemcpyHostToDevice));
	while (n > 1) {
		size_t blocks = kc_blocks(n, 1024);
		sum_pass<<<(unsigned)blocks, 256>>>(d1, d0, n);
		CK_LAUNCH();
		float *t = d0;
		d0 = d1;
		d1 = t;
		n = blocks;
	}
	CK(cudaMemcpy(y, d0, sizeof(float), cudaMemcpyDeviceToHost));
fail:
	cudaFree(d0);
	cudaFree(d1);
	return rc;
}
