/*
 * exp_ulp.c: measures kern_expf against e^x computed in float64 (glibc
 * exp, itself within one float64 ulp, i.e. 2^-29 float32 ulps) over every
 * binary32 x; prints the largest error in float32 ulps of the correctly
 * rounded result, where it occurs, and how many results are not the
 * correctly rounded float.  docs/kernels.md quotes its output.
 *
 *   cc -std=c11 -O2 -ffp-contract=off -Ikernels -Icommon \
 *      kernels/tools/exp_ulp.c -o exp_ulp -lm -pthread && ./exp_ulp
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "kern_math.h"

#include "banned.h"

#define THREADS 2

struct part {
	uint64_t lo, hi;          /* bit patterns [lo, hi) */
	double worst;
	uint32_t worst_at;
	uint64_t not_cr, total;
};

static double ulp_of(float f)
{
	float a = fabsf(f);
	if (a < 0x1p-126f)
		return 0x1p-149;
	return (double)nextafterf(a, INFINITY) - (double)a;
}

static void *run(void *arg)
{
	struct part *p = arg;

	for (uint64_t u = p->lo; u < p->hi; u++) {
		float x, got, cr;
		double want, err;
		uint32_t b = (uint32_t)u;
		memcpy(&x, &b, 4);
		if (isnan(x))
			continue;
		got = kern_expf(x);
		want = exp((double)x);
		cr = (float)want;
		p->total++;
		if (memcmp(&got, &cr, 4) != 0)
			p->not_cr++;
		if (isinf(cr)) {
			err = isinf(got) ? 0 : (want - (double)got) / ulp_of(3.40282347e+38f);
		} else {
			err = fabs((double)got - want) / ulp_of(cr);
		}
		if (err > p->worst) {
			p->worst = err;
			p->worst_at = b;
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS];
	struct part p[THREADS];
	uint64_t step = (1ull << 32) / THREADS;
	double worst = 0;
	uint32_t at = 0;
	uint64_t not_cr = 0, total = 0;

	for (int i = 0; i < THREADS; i++) {
		memset(&p[i], 0, sizeof p[i]);
		p[i].lo = step * (uint64_t)i;
		p[i].hi = i + 1 == THREADS ? (1ull << 32) : step * (uint64_t)(i + 1);
		pthread_create(&t[i], NULL, run, &p[i]);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		total += p[i].total;
		not_cr += p[i].not_cr;
		if (p[i].worst > worst) {
			worst = p[i].worst;
			at = p[i].worst_at;
		}
	}
	{
		float x;
		memcpy(&x, &at, 4);
		printf("kern_expf over all %llu non-NaN binary32 inputs: max error %.4f ulp "
		       "at x = %a (%.9g); %llu results (%.4f%%) not correctly rounded\n",
		       (unsigned long long)total, worst, (double)x, (double)x,
		       (unsigned long long)not_cr, 100.0 * (double)not_cr / (double)total);
	}
	return 0;
}
