/*
 * gemm_i8.cu: gemm_i8@1 on CUDA: exact int32 sums (K bounded by
 * KERN_GEMM_I8_K_MAX), so any order gives the same result, and the
 * integer tensor cores (WMMA m16n16k16, int8 x int8 -> int32, exact) may
 * be used.  The host wrapper copies a, b into zero-padded device buffers
 * (M, N to multiples of 64, K to a multiple of 32: zero products change
 * no sum) so the tile kernel needs no bounds checks and every WMMA
 * pointer is 256-bit aligned.  i8_kernel, a plain SIMT tile kernel, serves
 * the timing hook for shapes that are not multiples of the tiles.
 */
#include <mma.h>

#include "common.cuh"

using namespace nvcuda;

/* Block: 4 warps, a 64x64 tile of C; each warp a 32x32 quarter as 2x2
 * fragments; k advances 32 at a time.  Shared tiles are stored in 16-byte
 * chunks ([k half][row][16] for A, [column chunk][k][16] for B) so that
 * each fragment starts on a 256-byte boundary with ldm = 16. */
__global__ void __launch_bounds__(128)
i8_wmma_kernel(int32_t *__restrict__ c, const int8_t *__restrict__ a,
	       const int8_t *__restrict__ b, size_t mp, size_t kp, size_t np)
{
	__shared__ __align__(32) int8_t as[2][64][16];
	__shared__ __align__(32) int8_t bs[4][32][16];
	const unsigned t = threadIdx.x, warp = t / 32, wr = warp / 2, wc = warp % 2;
	const size_t col_tiles = np / 64;
	const size_t row0 = (blockIdx.x / col_tiles) * 64, col0 = (blockIdx.x % col_tiles) * 64;
	wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc[2][2];

	(void)mp;
	for (int i = 0; i < 2; i++)
		for (int q = 0; q < 2; q++)
			wmma::fill_fragment(acc[i][q], 0);
	for (size_t k0 = 0; k0 < kp; k0 += 32) {
		{
			/* A: 64 rows x 32 bytes, 16 bytes per thread */
			unsigned r = t / 2, h = t % 2;
			*(int4 *)&as[h][r][0] = *(const int4 *)(a + (row0 + r) * kp + k0 + h * 16);
			/* B: 32 rows of k x 64 bytes, 16 bytes per thread */
			unsigned kr = t / 4, cc = t % 4;
			*(int4 *)&bs[cc][kr][0] = *(const int4 *)(b + (k0 + kr) * np + col0 + cc * 16);
		}
		__syncthreads();
		for (int kk = 0; kk < 2; kk++) {
			wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> fa[2];
			wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::row_major> fb[2];
			for (int i = 0; i < 2; i++)
				wmma::load_matrix_sync(fa[i], &as[kk][wr * 32 + i * 16][0], 16);
			for (int q = 0; q < 2; q++)
				wmma::load_matrix_sync(fb[q], &bs[wc * 2 + q][kk * 16][0], 16);
			for (int i = 0; i < 2; i++)
				for (int q = 0; q < 2; q++)
					wmma::mma_sync(acc[i][q], fa[i], fb[q], acc[i][q]);
		}
		__syncthreads();
	}
	for (int i = 0; i < 2; i++)
		for (int q = 0; q < 2; q++)
			wmma::store_matrix_sync(c + (row0 + wr * 32 + i * 16) * np + col0 +
						wc * 32 + q * 16,
						acc[i][q], (unsigned)np, wmma::mem_row_major);
}

#define BM 64
#define BN 64
#define BK 16

__global__ void __launch_bounds__(256)
i8_kernel(int32_t *__restrict__ c, const int8_t *__restrict__ a,
	  const int8_t *__restrict__ b, size_t m, size_t k, size_t n,
	  size_t col_tiles)
{
	__shared__ int32_t as[BK][BM];
	__shared__ int32_t bs[BK][BN];
	const unsigned tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
	const size_t tile = blockIdx.x;
	const size_t row0 = (tile / col_tiles) * BM, col0 = (tile % col_tiles) * BN;
	int32_t acc[4][4];

	for (int i = 0; i < 4; i++)
		for (int q = 0; q < 4; q++)
			acc[i][q] = 0;
	for (size_t k0 = 0; k0 < k; k0 += BK) {
#pragma unroll
		for (int l = 0; l < 4; l++) {
			unsigned e = tid + 256u * l;
			unsigned ar = e / BK, ak = e % BK;
			size_t gr = row0 + ar, gk = k0 + ak;
			as[ak][ar] = (gr < m && gk < k) ? (int32_t)a[gr * k + gk] : 0;
			unsigned bk = e / BN, bc = e % BN;
			size_t gk2 = k0 + bk, gc = col0 + bc;
			bs[bk][bc] = (gk2 < k && gc < n) ? (int32_t)b[gk2 * n + gc] : 0;
		}
		__syncthreads();
#pragma unroll
		for (int kk = 0; kk < BK; kk++)
			for (int i = 0; i < 4; i++)
				for (int q = 0; q < 4; q++)
					acc[i][q] += as[kk][ty + 16 * i] * bs[kk][tx + 16 * q];
		__syncthreads();
	}
	for (int i = 0; i < 4; i++) {
		size_t r = row0 + ty + 16 * i;
		for (int q = 0; q < 4; q++) {
			size_t col = col0 + tx + 16 * q;
			if (r < m && col < n)
				c[r * n + col] = acc[i][q];
		}
	}
}

static size_t round_up(size_t v, size_t to)
{
	return (v + to - 1) / to * to;
}

extern "C" int kern_cuda_gemm_i8(char err[256], int32_t *c, const int8_t *a,
				 const int8_t *b, size_t m, size_t k, size_t n)
{
	int8_t *da = NULL, *db = NULL;
	int32_t *dc = NULL;
	size_t mp = round_up(m, 64), np = round_up(n, 64), kp = round_up(k, 32);
	int rc = 0;

	CK(cudaMalloc(&da, mp * kp));
	CK(cudaMalloc(&db, kp * np));
	CK(cudaMalloc(&dc, mp * np * sizeof(int32_t)));
	CK(cudaMemset(da, 0, mp * kp));
	CK(cudaMemset(db, 0, kp * np));
	CK(cudaMemcpy2D(da, kp, a, k, k, m, cudaMemcpyHostToDevice));
	CK(cudaMemcpy2D(db, np, b, n, n, k, cudaMemcpyHostToDevice));
	i8_wmma_kernel<<<(unsigned)((mp / 64) * (np / 64)), 128>>>(dc, da, db, mp, kp, np);
	CK_LAUNCH();
	CK(cudaMemcpy2D(c, n * sizeof(int32_t), dc, np * sizeof(int32_t),
			n * sizeof(int32_t), m, cudaMemcpyDeviceToHost));
fail:
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
	return rc;
}

/* Timing hook: the tensor-core kernel when the shape is already a multiple
 * of its tiles (as 4096^3 is), else the SIMT kernel. */
extern "C" int kern_cuda_gemm_i8_dev(char err[256], int32_t *dc, const int8_t *da,
				     const int8_t *db, size_t m, size_t k, size_t n)
{
	int rc = 0;

	if (m % 64 == 0 && n % 64 == 0 && k % 32 == 0) {
		i8_wmma_kernel<<<(unsigned)((m / 64) * (n / 64)), 128>>>(dc, da, db, m, k, n);
	} else {
		size_t col_tiles = kc_blocks(n, BN), tiles = kc_blocks(m, BM) * col_tiles;
		i8_kernel<<<(unsigned)tiles, 256>>>(dc, da, db, m, k, n, col_tiles);
	}
	CK(cudaGetLastError());
fail:
	return rc;
}
