/*
 * conv2d.c: conv2d_f32@1 on the CPU.  For every output y[n][o][oh][ow]:
 *   acc = +0.0f; for c, kh, kw ascending (c outermost):
 *     ih = oh*sh - ph + kh; iw = ow*sw - pw + kw;
 *     if (0 <= ih < H and 0 <= iw < W) acc = fma(x[n][c][ih][iw], w[o][c][kh][kw], acc)
 *   (taps in the padding are skipped, not multiplied by zero);
 *   if bias: acc = acc + bias[o].
 * One task per (n, o) plane; within a row the taps are applied to all ow
 * at once (SIMD across outputs), each output still seeing its taps in
 * ascending (c, kh, kw).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "kern_internal.h"
#include "kern_math.h"

#include "banned.h"

struct conv_job {
	float *y;
	const float *x, *w, *bias;
	const struct kern_conv_shape *s;
};

/* y[i] = fma(x[i * stride], wv, y[i]) for i < count: independent
 * outputs, so the clones may vectorise across i (true fused operations in
 * every clone: vfmadd, or glibc's fmaf in the baseline one). */
__attribute__((target_clones("avx512f", "arch=haswell", "default"),
	       optimize("vect-cost-model=dynamic")))
static void fma_row(float *restrict y, const float *restrict x, size_t stride,
		    float wv, size_t count)
{
	if (stride == 1) {
		for (size_t i = 0; i < count; i++)
			y[i] = KFMA(x[i], wv, y[i]);
		return;
	}
	for (size_t i = 0; i < count; i++)
		y[i] = KFMA(x[i * stride], wv, y[i]);
}

static void conv_task(void *ctx, size_t t)
{
	const struct conv_job *j = ctx;
	const struct kern_conv_shape *s = j->s;
	size_t n = t / s->o, o = t % s->o;
	float *yp = j->y + t * s->oh * s->ow;

	for (size_t oh = 0; oh < s->oh; oh++) {
		float *yr = yp + oh * s->ow;
		memset(yr, 0, s->ow * sizeof(float));   /* +0.0f */
		for (size_t c = 0; c < s->c; c++) {
			const float *xp = j->x + (n * s->c + c) * s->h * s->w;
			const float *wp = j->w + (o * s->c + c) * s->kh * s->kw;
			for (size_t kh = 0; kh < s->kh; kh++) {
				ptrdiff_t ih = (ptrdiff_t)(oh * s->sh + kh) - (ptrdiff_t)s->ph;
				if (ih < 0 || ih >= (ptrdiff_t)s->h)
					continue;
				for (size_t kw = 0; kw < s->kw; kw++) {
					/* iw = ow*sw + kw - pw in [0, W) */
					ptrdiff_t off = (ptrdiff_t)kw - (ptrdiff_t)s->pw;
					ptrdiff_t sw = (ptrdiff_t)s->sw;
					ptrdiff_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
					ptrdiff_t hi_excl = (ptrdiff_t)s->w - off <= 0 ? 0 :
						((ptrdiff_t)s->w - off + sw - 1) / sw;
					if (hi_excl > (ptrdiff_t)s->ow)
						hi_excl = (ptrdiff_t)s->ow;
					if (lo >= hi_excl)
						continue;
					fma_row(yr + lo, xp + ih * (ptrdiff_t)s->w + lo * sw + off,
						s->sw, wp[kh * s->kw + kw], (size_t)(hi_excl - lo));
				}
			}
		}
		if (j->bias)
			for (size_t ow = 0; ow < s->ow; ow++)
				yr[ow] = KADD(yr[ow], j->bias[o]);
	}
}

void kern_cpu_conv2d(float *y, const float *x, const float *w,
		     const float *bias, const struct kern_conv_shape *s,
		     unsigned threads)
{
	struct conv_job j = { y, x, w, bias, s };

	assert(y != NULL && x != NULL && w != NULL && s != NULL);
	assert(s->sh >= 1 && s->sw >= 1 && s->oh >= 1 && s->ow >= 1);
	kern_parallel_for(threads, s->n * s->o, conv_task, &j);
}
