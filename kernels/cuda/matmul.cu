/*
 * matmul.cu: matmul_f32@1 on CUDA.  Same order as kernels/cpu/matmul.c:
 * every c[i][j] is acc = +0; acc = __fmaf_rn(a[i][k], b[k][j], acc) for k
 * ascending; + bias[j]; relu.  Tiling only changes where a[i][k] and
 * b[k][j] are read from (shared memory), never the order: each thread
 * owns 8x8 outputs and walks k tiles in ascending order, and within a
 * tile k ascending.  (A's tile is stored transposed, as[k][row], so that
 * both operands are float4 reads.)  Steps past K are never executed (an fma with 0
 * would turn an accumulated -0 into +0).
 */
#include "common.cuh"

#define BM 128
#define BN 128
#define BK 8
#define TM 8
#define TN 8

/* Thread (tx, ty) of the 16x16 block owns rows {ty*4 + i, 64 + ty*4 + i}
 * and columns {tx*4 + q, 64 + tx*4 + q} (i, q < 4) of the 128x128 tile,
 * so that its operands are two aligned float4 reads from each shared
 * tile per step of k. */
__device__ __forceinline__ unsigned mm_off(unsigned t, int i)
{
	return i < 4 ? t * 4 + (unsigned)i : 64 + t * 4 + (unsigned)(i - 4);
}

__global__ void __launch_bounds__(256)
mm_kernel(float *__restrict__ c, const float *__restrict__ a,
	  const float *__restrict__ b, const float *__restrict__ bias,
	  size_t m, size_t k, size_t n, int relu, size_t col_tiles)
{
	__shared__ __align__(16) float as[BK][BM];
	__shared__ __align__(16) float bs[BK][BN];
	const unsigned tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
	const size_t tile = blockIdx.x;
	const size_t row0 = (tile / col_tiles) * BM, col0 = (tile % col_tiles) * BN;
	float acc[TM][TN];

#pragma unroll
	for (int i = 0; i < TM; i++)
#pragma unroll
		for (int q = 0; q < TN; q++)
			acc[i][q] = 0.0f;

	for (size_t k0 = 0; k0 < k; k0 += BK) {
		/* 1024 values of each tile, 4 per thread; zero outside. */
#pragma unroll
		for (int l = 0; l < 4; l++) {
			unsigned e = tid + 256u * l;
			unsigned ar = e / BK, ak = e % BK;     /* a: row-major tile */
			size_t gr = row0 + ar, gk = k0 + ak;
			as[ak][ar] = (gr < m && gk < k) ? a[gr * k + gk] : 0.0f;
			unsigned bk = e / BN, bc = e % BN;
			size_t gk2 = k0 + bk, gc = col0 + bc;
			bs[bk][bc] = (gk2 < k && gc < n) ? b[gk2 * n + gc] : 0.0f;
		}
		__syncthreads();
		const unsigned kmax = (k - k0) < BK ? (unsigned)(k - k0) : BK;
		for (unsigned kk = 0; kk < kmax; kk++) {
			const float4 a0 = *(const float4 *)&as[kk][ty * 4];
			const float4 a1 = *(const float4 *)&as[kk][64 + ty * 4];
			const float4 b0 = *(const float4 *)&bs[kk][tx * 4];
			const float4 b1 = *(const float4 *)&bs[kk][64 + tx * 4];
			const float av[TM] = { a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w };
			const float bv[TN] = { b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w };
#pragma unroll
			for (int i = 0; i < TM; i++)
#pragma unroll
				for (int q = 0; q < TN; q++)
					acc[i][q] = KFMA(av[i], bv[q], acc[i][q]);
		}
		__syncthreads();
	}
#pragma unroll
	for (int i = 0; i < TM; i++) {
		size_t r = row0 + mm_off(ty, i);
		if (r >= m)
			continue;
#pragma unroll
		for (int q = 0; q < TN; q++) {
			size_t col = col0 + mm_off(tx, q);
			if (col >= n)
				continue;
			float v = acc[i][q];
			if (bias)
				v = KADD(v, bias[col]);
			if (relu)
				v = kern_relu(v);
			c[r * n + col] = v;
		}
	}
}

extern "C" int kern_cuda_matmul(char err[256], float *c, const float *a,
				const float *b, const float *bias, size_t m,
				size_t k, size_t n, int relu)
{
	float *dc = NULL, *da = NULL, *db = NULL, *dbias = NULL;
	size_t col_tiles = kc_blocks(n, BN), tiles = kc_blocks(m, BM) * col_tiles;
	int rc = 0;

	CK(cudaMalloc(&da, m * k * sizeof(float)));
	CK(cudaMalloc(&db, k * n * sizeof(float)));
	CK(cudaMalloc(&dc, m * n * sizeof(float)));
	CK(cudaMemcpy(da, a, m * k * sizeof(float), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(db, b, k * n * sizeof(float), cudaMemcpyHostToDevice));
	if (bias) {
		CK(cudaMalloc(&dbias, n * sizeof(float)));
		CK(cudaMemcpy(dbias, bias, n * sizeof(float), cudaMemcpyHostToDevice));
	}
	mm_kernel<<<(unsigned)tiles, 256>>>(dc, da, db, dbias, m, k, n, relu, col_tiles);
	CK_LAUNCH();
	CK(cudaMemcpy(c, dc, m * n * sizeof(float), cudaMemcpyDeviceToHost));
fail:
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
	cudaFree(dbias);
	return rc;
}

/* For gpu_check's timing: the same kernel on device buffers, no copies. */
extern "C" int kern_cuda_matmul_dev(char err[256], float *dc, const float *da,
				    const float *db, size_t m, size_t k, size_t n)
{
	size_t col_tiles = kc_blocks(n, BN), tiles = kc_blocks(m, BM) * col_tiles;
	int rc = 0;

	mm_kernel<<<(unsigned)tiles, 256>>>(dc, da, db, NULL, m, k, n, 0, col_tiles);
	CK(cudaGetLastError());
fail:
	return rc;
}

/* matmul_f32 with bias on device buffers, for gpt2.cu's linear layers. */
extern "C" int kern_cuda_linear_dev(char err[256], float *dc, const float *da,
				    const float *db, const float *dbias, size_t m, size_t k,
				    size_t n)
{
	size_t col_tiles = kc_blocks(n, BN), tiles = kc_blocks(m, BM) * col_tiles;
	int rc = 0;

	mm_kernel<<<(unsigned)tiles, 256>>>(dc, da, db, dbias, m, k, n, 0, col_tiles);
	CK(cudaGetLastError());
fail:
	return rc;
}
