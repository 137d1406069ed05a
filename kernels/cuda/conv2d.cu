/*
 * conv2d.cu: conv2d_f32@1 on CUDA, one thread per output element, taps in
 * ascending (c, kh, kw), padding taps skipped, exactly as
 * kernels/cpu/conv2d.c.
 */
#include "common.cuh"

__global__ void __launch_bounds__(256)
conv_kernel(float *__restrict__ y, const float *__restrict__ x,
	    const float *__restrict__ w, const float *__restrict__ bias,
	    struct kern_conv_shape s, size_t total)
{
	size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
	if (idx >= total)
		return;
	size_t ow = idx % s.ow, t = idx / s.ow;
	size_t oh = t % s.oh;
	t /= s.oh;
	size_t o = t % s.o, n = t / s.o;
	float acc = 0.0f;

	for (size_t c = 0; c < s.c; c++) {
		const float *xp = x + (n * s.c + c) * s.h * s.w;
		const float *wp = w + (o * s.c + c) * s.kh * s.kw;
		for (size_t kh = 0; kh < s.kh; kh++) {
			long long ih = (long long)(oh * s.sh + kh) - (long long)s.ph;
			if (ih < 0 || ih >= (long long)s.h)
				continue;
			for (size_t kw = 0; kw < s.kw; kw++) {
				long long iw = (long long)(ow * s.sw + kw) - (long long)s.pw;
				if (iw < 0 || iw >= (long long)s.w)
					continue;
				acc = KFMA(xp[ih * s.w + iw], wp[kh * s.kw + kw], acc);
			}
		}
	}
	if (bias)
		acc = KADD(acc, bias[o]);
	y[idx] = acc;
}

extern "C" int kern_cuda_conv2d(char err[256], float *y, const float *x,
				const float *w, const float *bias,
				const struct kern_conv_shape *s)
{
	float *dy = NULL, *dx = NULL, *dw = NULL, *db = NULL;
	size_t xn = s->n * s->c * s->h * s->w, wn = s->o * s->c * s->kh * s->kw;
	size_t yn = s->n * s->o * s->oh * s->ow;
	int rc = 0;

	CK(cudaMalloc(&dx, xn * sizeof(float)));
	CK(cudaMalloc(&dw, wn * sizeof(float)));
	CK(cudaMalloc(&dy, yn * sizeof(float)));
	CK(cudaMemcpy(dx, x, xn * sizeof(float), cudaMemcpyHostToDevice));
	CK(cudaMemcpy(dw, w, wn * sizeof(float), cudaMemcpyHostToDevice));
	if (bias) {
		CK(cudaMalloc(&db, s->o * sizeof(float)));
		CK(cudaMemcpy(db, bias, s->o * sizeof(float), cudaMemcpyHostToDevice));
	}
	conv_kernel<<<(unsigned)kc_blocks(yn, 256), 256>>>(dy, dx, dw, db, *s, yn);
	CK_LAUNCH();
	CK(cudaMemcpy(y, dy, yn * sizeof(float), cudaMemcpyDeviceToHost));
fail:
	cudaFree(dx);
	cudaFree(dw);
	cudaFree(dy);
	cudaFree(db);
	return rc;
}
