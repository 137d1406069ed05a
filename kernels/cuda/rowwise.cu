/*
 * rowwise.cu: softmax_f32@1 and layernorm_f32@1 on CUDA, one block of 256
 * threads per row (grid-stride over rows).  Same operations as
 * kernels/cpu/rowwise.c: the row maximum (order-free: max ignores order
 * up to the sign of a zero, and x - (+0) and x - (-0) give the same exp),
 * kern_expf, the spec's sum tree (kc_block_tree_sum), one division per
 * element; layernorm's tree sums of x and of d*d, sqrt(var + eps), and
 * fma(d / sd, gamma, beta).  y is written and read back within a
 * kernel (exp values, squared deviations), so it is not __restrict__.
 */
#include "common.cuh"

__global__ void __launch_bounds__(256)
softmax_kernel(float *y, const float *__restrict__ x, size_t rows,
	       size_t cols)
{
	__shared__ float sa[512], sb[512], res;
	__shared__ float smax[256];

	for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *xr = x + r * cols;
		float *yr = y + r * cols;
		int nan = 0;
		for (size_t j = threadIdx.x; j < cols; j += 256)
			nan |= kern_isnan(xr[j]);
		if (__syncthreads_or(nan)) {
			for (size_t j = threadIdx.x; j < cols; j += 256)
				yr[j] = KFLOAT(0x7fc00000u);
			continue;
		}
		float m = xr[0];
		for (size_t j = threadIdx.x; j < cols; j += 256)
			if (xr[j] > m)
				m = xr[j];
		smax[threadIdx.x] = m;
		__syncthreads();
		for (unsigned s = 128; s >= 1; s >>= 1) {
			if (threadIdx.x < s && smax[threadIdx.x + s] > smax[threadIdx.x])
				smax[threadIdx.x] = smax[threadIdx.x + s];
			__syncthreads();
		}
		m = smax[0];
		__syncthreads();
		for (size_t j = threadIdx.x; j < cols; j += 256)
			yr[j] = kern_expf(KSUB(xr[j], m));
		__syncthreads();
		float s = kc_block_tree_sum(yr, cols, sa, sb, &res);
		for (size_t j = threadIdx.x; j < cols; j += 256)
			yr[j] = KDIV(yr[j], s);
		__syncthreads();
	}
}

__global__ void __launch_bounds__(256)
layernorm_kernel(float *y, const float *__restrict__ x,
		 const float *__restrict__ gamma, const float *__restrict__ beta,
		 size_t rows, size_t cols, float eps)
{
	__shared__ float sa[512], sb[512], res;
	const float n = (float)cols;

	for (size_t r = blockIdx.x; r < rows; r += gridDim.x) {
		const float *xr = x + r * cols;
		float *yr = y + r * cols;
		float mean = KDIV(kc_block_tree_sum(xr, cols, sa, sb, &res), n);
		for (size_t j = threadIdx.x; j < cols; j += 256) {
			float d = KSUB(xr[j], mean);
			yr[j] = KMUL(d, d);
		}
		__syncthreads();
		float var = KDIV(kc_block_tree_sum(yr, cols, sa, sb, &res), n);
		float sd = KSQRT(KADD(var, eps));
		for (size_t j = threadIdx.x; j < cols; j += 256) {
			float d = KSUB(xr[j], mean);
			yr[j] = KFMA(KDIV(d, sd), gamma[j], beta[j]);
		}
		__syncthreads();
	}
}

static unsigned row_grid(size_t rows)
{
	return rows < 65535 ? (unsigned)rows : 65535u;
}

extern "C" int kern_cuda_softmax(char err[256], float *y, const float *x,
				 size_t rows, size_t cols)
{
	float *dx = NULL, *dy = NULL;
	size_t bytes = rows * cols * sizeof(float);
	int rc = 0;

	CK(cudaMalloc(&dx, bytes));
	CK(cudaMalloc(&dy, bytes));
	CK(cudaMemcpy(dx, x, bytes, cudaMemcpyHostToDevice));
	softmax_kernel<<<row_grid(rows), 256>>>(dy, dx, rows, cols);
	CK_LAUNCH();
	CK(cudaMemcpy(y, dy, bytes, cudaMemcpyDeviceToHost));
fail:
	cudaFree(dx);
	cudaFree(dy);
	return rc;
}

extern "C" int kern_cuda_layernorm(char err[256], float *y, const float *x,
				   const float *gamma, const float *beta,
				   size_t rows, size_t cols, float eps)
{
	float *dx = NULL, *dy = NULL, *dg = NULL, *db = NULL;
	size_t bytes = rows * cols * sizeof(float);
	int rc = 0;

	CK(cudaMalloc(&dx, bytes));
	CK(cudaMalloc(&dy, bytes));
	CK(cudaMalloc(&dg, cols * sizeof(float)));
	CK(cudaMalloc(&db, cols * sizeof(float)));
	CK(cudaMemcpy(dx, x, bytes, cudaMemcpyHostToDevice));
	CK(cudaMemcpy(dg, gamma, cols * sizeof(float), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(db, beta, cols * sizeof(float), cudaMemcpyHostToDevice));
	layernorm_kernel<<<row_grid(rows), 256>>>(dy, dx, dg, db, rows, cols, eps);
	CK_LAUNCH();
	CK(cudaMemcpy(y, dy, bytes, cudaMemcpyDeviceToHost));
fail:
	cudaFree(dx);
	cudaFree(dy);
	cudaFree(dg);
	cudaFree(db);
	return rc;
}

/* layernorm_f32's rows on device buffers, for gpt2.cu: no copies, no
 * synchronisation (the caller's next launch or copy orders it). */
extern "C" int kern_cuda_layernorm_dev(char err[256], float *dy, const float *dx,
				       const float *dg, const float *db, size_t rows,
				       size_t cols, float eps)
{
	int rc = 0;

	layernorm_kernel<<<row_grid(rows), 256>>>(dy, dx, dg, db, rows, cols, eps);
	CK(cudaGetLastError());
fail:
	return rc;
}
