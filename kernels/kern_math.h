/*
 * kern_math.h: the scalar building blocks every implementation shares,
 * compiled both by the C compiler (CPU paths) and by nvcc (device code),
 * so that the operation order is written once.  Private to kernels/.
 *
 * Every floating-point operation goes through KADD/KSUB/KMUL/KDIV/KFMA/
 * KSQRT: plain correctly rounded IEEE binary32 operations in C (built with
 * -ffp-contract=off, so nothing fuses) and the explicitly rounded
 * intrinsics on CUDA (__fadd_rn etc. are never contracted, whatever
 * --fmad says).  Nothing here depends on the rounding mode being other
 * than round-to-nearest-even, or on FTZ/DAZ: subnormals are kept.
 */
#ifndef ASSAY_KERN_MATH_H
#define ASSAY_KERN_MATH_H

#include <stdint.h>

/* The build says -ffp-contract=off; say it in the source too, so that a
 * third party compiling these files with clang's default (contraction
 * on) still gets separately rounded operations.  GCC has no such pragma
 * and honours the flag. */
#if defined(__clang__) && !defined(__CUDACC__)
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__CUDACC__)
#define KERN_HD __device__ __forceinline__
#define KADD(a, b) __fadd_rn((a), (b))
#define KSUB(a, b) __fsub_rn((a), (b))
#define KMUL(a, b) __fmul_rn((a), (b))
#define KDIV(a, b) __fdiv_rn((a), (b))
#define KFMA(a, b, c) __fmaf_rn((a), (b), (c))
#define KSQRT(a) __fsqrt_rn(a)
#define KBITS(f) ((uint32_t)__float_as_uint(f))
#define KFLOAT(u) __uint_as_float(u)
#else
#include <float.h>
#include <math.h>
#include <string.h>
/* Every float operation must round to binary32 at once: no x87 excess
 * precision (32-bit x86 without SSE), which would change results. */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "kernels/ needs FLT_EVAL_METHOD == 0 (binary32 evaluated as binary32)"
#endif
#define KERN_HD static inline
#define KADD(a, b) ((a) + (b))
#define KSUB(a, b) ((a) - (b))
#define KMUL(a, b) ((a) * (b))
#define KDIV(a, b) ((a) / (b))
#define KFMA(a, b, c) fmaf((a), (b), (c))
#define KSQRT(a) sqrtf(a)
KERN_HD uint32_t kern_bits_(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof u);
	return u;
}
KERN_HD float kern_float_(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}
#define KBITS(f) kern_bits_(f)
#define KFLOAT(u) kern_float_(u)
#endif

/* NaN test by bits: immune to any compiler assumption about NaN. */
KERN_HD int kern_isnan(float x)
{
	return (KBITS(x) & 0x7fffffffu) > 0x7f800000u;
}

KERN_HD float kern_canon(float x)
{
	return kern_isnan(x) ? KFLOAT(0x7fc00000u) : x;
}

/* relu(x) = x when x > 0 or x is NaN (NaN propagates), else +0.0f (so
 * -0.0 and every negative number give +0.0). */
KERN_HD float kern_relu(float x)
{
	return (x > 0.0f || kern_isnan(x)) ? x : 0.0f;
}

/* 2^k for k in [-149, 127], built from its bits (exact). */
KERN_HD float kern_pow2(int k)
{
	if (k >= -126)
		return KFLOAT((uint32_t)(k + 127) << 23);
	return KFLOAT(1u << (k + 149));
}

/*
 * kern_expf: e^x from +, -, *, fma only (docs/kernels.md, "exp").
 *   NaN -> NaN; x > 89 -> +inf; x < -104 -> +0 (both are past the
 *   binary32 overflow and underflow-to-zero points).
 *   t = x * log2e; k = (t + 0x1.8p23) - 0x1.8p23   (round to nearest even)
 *   r = fma(-k, LN2_HI, x); r = fma(-k, LN2_LO, r) (Cody-Waite, |r| <~ 0.35)
 *   p = Horner of the degree-7 Taylor polynomial of e^r, with fma:
 *       p = 1/5040; p = fma(p, r, 1/720); ... ; p = fma(p, r, 1); p = fma(p, r, 1)
 *   scale by 2^k with one rounding:
 *       k > 127:   (p * 2) * 2^(k-1)
 *       k < -125:  (p * 2^(k+64)) * 2^-64   (first product exact)
 *       otherwise: p * 2^k
 */
#define KERN_EXP_LOG2E 1.44269502162933349609375f       /* 0x1.715476p+0 */
#define KERN_EXP_LN2_HI 0.693145751953125f              /* 0x1.62e400p-1 */
#define KERN_EXP_LN2_LO 1.428606765330187045037746429e-06f /* 0x1.7f7d1cp-20 */
#define KERN_EXP_SHIFTER 12582912.0f                    /* 0x1.8p23 */

KERN_HD float kern_expf(float x)
{
	float t, k, r, p;
	int ki;

	if (kern_isnan(x))
		return x;
	if (x > 89.0f)
		return KFLOAT(0x7f800000u);
	if (x < -104.0f)
		return 0.0f;
	t = KMUL(x, KERN_EXP_LOG2E);
	k = KSUB(KADD(t, KERN_EXP_SHIFTER), KERN_EXP_SHIFTER);
	r = KFMA(-k, KERN_EXP_LN2_HI, x);
	r = KFMA(-k, KERN_EXP_LN2_LO, r);
	p = 1.98412698412698412698e-4f;            /* 1/5040 */
	p = KFMA(p, r, 1.38888888888888888889e-3f); /* 1/720 */
	p = KFMA(p, r, 8.33333333333333333333e-3f); /* 1/120 */
	p = KFMA(p, r, 4.16666666666666666667e-2f); /* 1/24 */
	p = KFMA(p, r, 1.66666666666666666667e-1f); /* 1/6 */
	p = KFMA(p, r, 0.5f);
	p = KFMA(p, r, 1.0f);
	p = KFMA(p, r, 1.0f);
	ki = (int)k;
	if (ki > 127)
		return KMUL(KMUL(p, 2.0f), kern_pow2(ki - 1));
	if (ki < -125)
		return KMUL(KMUL(p, kern_pow2(ki + 64)), kern_pow2(-64));
	return KMUL(p, kern_pow2(ki));
}

/*
 * The pairwise sum tree (docs/kernels.md, "sum tree"): the sum of n >= 1
 * values v[0..n) is v[0] when n == 1, else sum(v[0..h)) + sum(v[h..n))
 * with h the largest power of two smaller than n (RFC 6962's split).
 * Computed streaming with a stack of perfect subtrees: push each value;
 * while the two topmost subtrees have the same size, replace them by
 * (lower + upper); at the end fold the stack from the top down:
 * acc = top; acc = below + acc; ...
 */
#define KERN_TREE_DEPTH 64

struct kern_tree {
	float sum[KERN_TREE_DEPTH];
	uint64_t size[KERN_TREE_DEPTH];
	int depth;
};

KERN_HD void kern_tree_init(struct kern_tree *t)
{
	t->depth = 0;
}

/* Pushes a perfect subtree of `size` leaves (a power of two) whose sum is
 * v, or, as the very last push, any remainder subtree. */
KERN_HD void kern_tree_push(struct kern_tree *t, float v, uint64_t size)
{
	int d = t->depth;

	t->sum[d] = v;
	t->size[d] = size;
	d++;
	while (d >= 2 && t->size[d - 2] == t->size[d - 1]) {
		t->sum[d - 2] = KADD(t->sum[d - 2], t->sum[d - 1]);
		t->size[d - 2] *= 2;
		d--;
	}
	t->depth = d;
}

/* The root; the tree must hold at least one value. */
KERN_HD float kern_tree_final(const struct kern_tree *t)
{
	int d = t->depth - 1;
	float acc = t->sum[d];

	while (d > 0) {
		d--;
		acc = KADD(t->sum[d], acc);
	}
	return acc;
}

/* softmax_f32's row rule (docs/kernels.md) over x[0..n), n >= 1, into y
 * (y may be x): any NaN makes the row all NaN; else e[j] = exp(x[j] - max),
 * summed by the tree in order, each divided by the sum. */
KERN_HD void kern_softmax_row(float *y, const float *x, uint64_t n)
{
	struct kern_tree t;
	float m, s;

	for (uint64_t j = 0; j < n; j++) {
		if (kern_isnan(x[j])) {
			for (uint64_t q = 0; q < n; q++)
				y[q] = KFLOAT(0x7fc00000u);
			return;
		}
	}
	m = x[0];
	for (uint64_t j = 1; j < n; j++)
		if (x[j] > m)
			m = x[j];
	kern_tree_init(&t);
	for (uint64_t j = 0; j < n; j++) {
		float e = kern_expf(KSUB(x[j], m));
		y[j] = e;
		kern_tree_push(&t, e, 1);
	}
	s = kern_tree_final(&t);
	for (uint64_t j = 0; j < n; j++)
		y[j] = KDIV(y[j], s);
}

/* ---- gpt2_f32@1's scalar pieces (docs/kernels.md, "gpt2_f32@1"),
 * written once for the CPU and CUDA paths. */

/* The sum tree of 8 values: ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7)). */
KERN_HD float kern_tree8(const float a[8])
{
	return KADD(KADD(KADD(a[0], a[1]), KADD(a[2], a[3])),
		    KADD(KADD(a[4], a[5]), KADD(a[6], a[7])));
}

/* dot8: lane i % 8 accumulates a[i] * b[i] by fma in ascending i from
 * +0; the lanes are summed by kern_tree8. */
KERN_HD float kern_dot8(const float *a, const float *b, uint64_t n)
{
	float acc[8] = { 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f };

	for (uint64_t i = 0; i < n; i++)
		acc[i % 8] = KFMA(a[i], b[i], acc[i % 8]);
	return kern_tree8(acc);
}

#define KERN_GELU_K 0x1.988454p-1f     /* sqrt(2/pi) rounded: 0x3f4c422a */
#define KERN_GELU_C 0x1.6e4e26p-5f     /* 0.044715 rounded: 0x3d372713 */

/* GELU, tanh form, with tanh(u) = 1 - 2 / (e^(2u) + 1). */
KERN_HD float kern_gelu_tanh(float h)
{
	float inner = KMUL(KERN_GELU_K, KFMA(KERN_GELU_C, KMUL(KMUL(h, h), h), h));
	float e = kern_expf(KMUL(2.0f, inner));
	float t = KSUB(1.0f, KDIV(2.0f, KADD(e, 1.0f)));

	return KMUL(KMUL(0.5f, h), KADD(1.0f, t));
}

/* The first index of the largest value (a NaN never wins): the next
 * token.  Comparisons only, so the CUDA build compiles it for the host
 * too (the arg max is taken there). */
#if defined(__CUDACC__)
#define KERN_HHD __host__ __device__ __forceinline__
#else
#define KERN_HHD static inline
#endif
KERN_HHD uint64_t kern_argmax(const float *v, uint64_t n)
{
	uint64_t best = 0;

	for (uint64_t i = 1; i < n; i++)
		if (v[i] > v[best])
			best = i;
	return best;
}

#endif
