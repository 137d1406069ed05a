/*
 * test_kernels.c: the kernels library (kernels/).
 *
 * - every CPU kernel against an independent float64 computation, within
 *   the error bounds of docs/kernels.md, on fresh random inputs each run
 *   (the seed is printed; ASSAY_SEED=N fixes it);
 * - bitwise checks where the spec pins the result: matmul against a naive
 *   fmaf loop, conv2d against a naive loop in the spec's tap order,
 *   reduce_sum against a recursive statement of the tree, gemm_i8 against
 *   int64, mlp against its composition of matmul and softmax;
 * - every ISA path and 1 vs 2 threads give the same bytes; run-to-run too;
 * - edge values (subnormals, +-0, +-inf, NaN with payloads, huge, tiny) and
 *   odd shapes; every NaN out is 0x7fc00000;
 * - strict params, tensor validation and every limit with its own error.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels.h"
#include "kern_internal.h"
#include "kern_math.h"
#include "receipts.h"

#include "banned.h"

/* ------------------------------------------------------------------ */
/* Seeded randomness                                                    */

static uint64_t base_seed(void)
{
	static uint64_t seed;
	static int have;
	const char *env;

	if (have)
		return seed;
	env = getenv("ASSAY_SEED");
	if (env && *env)
		seed = strtoull(env, NULL, 0);
	else
		seed = (uint64_t)time(NULL);
	have = 1;
	fprintf(stderr, "test_kernels: ASSAY_SEED=%llu\n", (unsigned long long)seed);
	return seed;
}

struct rng {
	uint64_t s;
};

static void rng_init(struct rng *r, const char *test)
{
	uint64_t h = base_seed();
	for (const char *p = test; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
	r->s = h;
}

static uint64_t rng_u64(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float rng_unit(struct rng *r)
{
	return (float)((double)(rng_u64(r) >> 11) * 0x1p-53 * 2.0 - 1.0);
}

static size_t rng_below(struct rng *r, size_t n)
{
	return (size_t)(rng_u64(r) % n);
}

static float f_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static uint32_t u_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

/* Edge values: subnormals, zeros, infinities, NaNs with payloads and
 * signs, huge and tiny normals. */
static const uint32_t edge_bits[] = {
	0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff,
	0x00400000, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00001,
	0xff800001, 0x7f7fffff, 0xff7fffff, 0x00800000, 0x80800000, 0x3f800000,
	0xbf800000, 0x1e3ce508, 0x5f5e1000,
};
#define N_EDGE (sizeof edge_bits / sizeof edge_bits[0])

static void fill_unit(struct rng *r, float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = rng_unit(r);
}

/* Replaces about 1 in `every` values by an edge value. */
static void sprinkle_edges(struct rng *r, float *v, size_t n, size_t every)
{
	for (size_t i = 0; i < n; i++)
		if (rng_below(r, every) == 0)
			v[i] = f_of(edge_bits[rng_below(r, N_EDGE)]);
}

/* ------------------------------------------------------------------ */
/* Running kernels                                                      */

static void add_f32(struct kern_tensors *s, const char *name, uint32_t rank,
		    const uint64_t *shape, const float *data)
{
	struct kern_diag d = { "" };
	enum kern_err rc = kern_tensors_add(s, NULL, &d, name, KERN_DT_F32, rank, shape, data);
	cr_assert_eq(rc, KERN_OK, "add %s: %s", name, d.msg);
}

static enum kern_err run_kernel(struct kern_tensors *out, const char *kernel,
				const struct kern_tensors *in, const char *params,
				unsigned threads, struct kern_diag *d)
{
	struct kern_run_opts o = { KERN_DEVICE_CPU, threads, NULL };
	char dev[KERN_DEVICE_BYTES];

	kern_tensors_init(out);
	return kern_run(out, dev, d, kernel, in, params, strlen(params), &o);
}

/* Runs and expects success; returns the output tensor `name`. */
static const struct kern_tensor *run_ok(struct kern_tensors *out, const char *kernel,
					const struct kern_tensors *in,
					const char *params, unsigned threads,
					const char *name)
{
	struct kern_diag d = { "" };
	enum kern_err rc = run_kernel(out, kernel, in, params, threads, &d);
	cr_assert_eq(rc, KERN_OK, "%s: %s (%s)", kernel, kern_strerror(rc), d.msg);
	const struct kern_tensor *t = kern_tensors_find(out, name);
	cr_assert_not_null(t);
	return t;
}

static enum kern_err run_err(const char *kernel, const struct kern_tensors *in,
			     const char *params)
{
	struct kern_tensors out;
	struct kern_diag d = { "" };
	enum kern_err rc = run_kernel(&out, kernel, in, params, 2, &d);
	if (rc != KERN_OK)
		cr_assert(d.msg[0] != '\0', "error %s without a message", kern_errname(rc));
	cr_assert_eq(out.count, 0);
	kern_tensors_release(&out);
	return rc;
}

/* Every NaN in a float output must be the canonical one. */
static void assert_canonical(const struct kern_tensor *t)
{
	const float *v = t->data;
	for (uint64_t i = 0; i < t->elems; i++)
		if (kern_isnan(v[i]))
			cr_assert_eq(u_of(v[i]), KERN_CANONICAL_NAN_BITS,
				     "non-canonical NaN at %llu", (unsigned long long)i);
}

/* ------------------------------------------------------------------ */
/* Table                                                                */

Test(kernels, table)
{
	static const char *const names[] = { "matmul_f32@1", "gemm_i8@1",
		"reduce_sum_f32@1", "softmax_f32@1", "layernorm_f32@1",
		"conv2d_f32@1", "mlp_f32@1", "gpt2_f32@1" };
	uint8_t zero[KERN_HASH_BYTES] = { 0 };

	cr_assert_eq(kern_count(), 8);
	for (size_t i = 0; i < 8; i++) {
		const struct kern_info *k = kern_find(names[i]);
		cr_assert_not_null(k, "%s", names[i]);
		cr_assert_str_eq(k->name, names[i]);
		cr_assert(strlen(k->description) > 10);
		cr_assert(memcmp(k->hash, zero, KERN_HASH_BYTES) != 0);
		for (size_t j = 0; j < i; j++)
			cr_assert(memcmp(k->hash, kern_find(names[j])->hash, KERN_HASH_BYTES) != 0);
	}
	cr_assert_null(kern_find("matmul_f32@2"));
	cr_assert_null(kern_find("matmul_f32"));
	cr_assert_null(kern_info_at(8));
	for (int e = 0; e < KERN_ERR_COUNT_; e++) {
		cr_assert(strcmp(kern_strerror((enum kern_err)e), "unknown error") != 0);
		cr_assert(strcmp(kern_errname((enum kern_err)e), "unknown") != 0);
	}
}

/* kernelHash recomputed from the sources by the rule of docs/kernels.md,
 * independently of kernels/gen_hashes.sh. */
static void append_file(uint8_t **buf, size_t *len, const char *root, const char *rel)
{
	char path[512], head[600];
	FILE *f;
	long sz;
	int hl;

	(void)snprintf(path, sizeof path, "%s/%s", root, rel);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "open %s", path);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	rewind(f);
	hl = snprintf(head, sizeof head, "%s\n%ld\n", rel, sz);
	*buf = realloc(*buf, *len + (size_t)hl + (size_t)sz);
	cr_assert_not_null(*buf);
	memcpy(*buf + *len, head, (size_t)hl);
	*len += (size_t)hl;
	cr_assert_eq(fread(*buf + *len, 1, (size_t)sz, f), (size_t)sz);
	*len += (size_t)sz;
	fclose(f);
}

Test(kernels, kernel_hash_rule)
{
	static const char *const common[] = { "kernels/kernels.h", "kernels/kern_limits.h",
		"kernels/kern_internal.h", "kernels/kern_math.h", "kernels/kern_params.h",
		"kernels/core.c", "kernels/params.c", "kernels/cpu/parallel.c",
		"kernels/cuda/common.cuh", "kernels/cuda/device.cu", "kernels/gen_hashes.sh" };
	static const char *const own[] = { "kernels/cpu/matmul.c", "kernels/cuda/matmul.cu" };
	const char *root = getenv("ASSAY_SRCDIR");
	static const char prefix[] = "assay-kernelHash-v1\nmatmul_f32@1\n";
	uint8_t *buf = NULL, h[RCPT_HASH_BYTES];
	size_t len = sizeof prefix - 1;

	if (root == NULL || *root == '\0')
		cr_skip_test("ASSAY_SRCDIR not set");
	buf = malloc(len);
	memcpy(buf, prefix, len);
	for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
		append_file(&buf, &len, root, common[i]);
	for (size_t i = 0; i < 2; i++)
		append_file(&buf, &len, root, own[i]);
	cr_assert_eq(rcpt_sha256(h, buf, len), RCPT_OK);
	cr_assert(memcmp(h, kern_find("matmul_f32@1")->hash, RCPT_HASH_BYTES) == 0,
		  "kernelHash of matmul_f32@1 does not follow docs/kernels.md "
		  "(rebuild after editing kernels/?)");
	free(buf);
}

/* ------------------------------------------------------------------ */
/* exp                                                                  */

static double ulp_err(float got, double want)
{
	float wf = (float)want;
	double ulp;
	if (isinf(wf))
		return isinf(got) && (got > 0) == (wf > 0) ? 0.0 : 1e30;
	ulp = wf == 0.0f ? 0x1p-149 : fabs((double)nextafterf(fabsf(wf), INFINITY) - fabs((double)wf));
	if (ulp < 0x1p-149)
		ulp = 0x1p-149;
	return fabs((double)got - want) / ulp;
}

/* docs/kernels.md: kern_expf is within 1 ulp of e^x everywhere (measured
 * exhaustively with kernels/tools/exp_ulp.c); here a random sample. */
Test(kernels, exp_accuracy)
{
	struct rng r;
	double worst = 0;

	rng_init(&r, "exp");
	cr_assert_eq(kern_expf(0.0f), 1.0f);
	cr_assert_eq(kern_expf(-0.0f), 1.0f);
	cr_assert_eq(u_of(kern_expf(-INFINITY)), 0u);
	cr_assert(isinf(kern_expf(INFINITY)));
	cr_assert(kern_isnan(kern_expf(NAN)));
	cr_assert(isinf(kern_expf(88.8f)));
	cr_assert_eq(kern_expf(-104.5f), 0.0f);
	for (int i = 0; i < 400000; i++) {
		float x;
		if (i & 1)
			x = rng_unit(&r) * 104.0f;
		else
			x = rng_unit(&r) * 2.0f;
		if (x > 89.0f)
			continue;
		double e = ulp_err(kern_expf(x), exp((double)x));
		if (e > worst)
			worst = e;
		cr_assert(e <= 1.0, "exp(%a) = %a, %.3f ulp", (double)x,
			  (double)kern_expf(x), e);
	}
	fprintf(stderr, "test_kernels: exp sample max error %.3f ulp\n", worst);
}

/* ------------------------------------------------------------------ */
/* matmul                                                               */

static void naive_matmul(float *c, const float *a, const float *b, const float *bias,
			 size_t m, size_t k, size_t n, int relu)
{
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			float acc = 0.0f;
			for (size_t p = 0; p < k; p++)
				acc = fmaf(a[i * k + p], b[p * n + j], acc);
			if (bias)
				acc = acc + bias[j];
			if (relu)
				acc = (acc > 0.0f || isnan(acc)) ? acc : 0.0f;
			c[i * n + j] = isnan(acc) ? f_of(0x7fc00000) : acc;
		}
}

static void check_matmul_case(struct rng *r, size_t m, size_t k, size_t n,
			      int with_bias, int relu, int edges)
{
	struct kern_tensors in, o1, o2;
	uint64_t sa[2] = { m, k }, sb[2] = { k, n }, sbias[1] = { n };
	float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *bias = malloc(n * 4);
	float *want = malloc(m * n * 4);
	const struct kern_tensor *c1, *c2;

	fill_unit(r, a, m * k);
	fill_unit(r, b, k * n);
	fill_unit(r, bias, n);
	if (edges) {
		sprinkle_edges(r, a, m * k, 7);
		sprinkle_edges(r, b, k * n, 7);
		sprinkle_edges(r, bias, n, 5);
	}
	kern_tensors_init(&in);
	add_f32(&in, "a", 2, sa, a);
	add_f32(&in, "b", 2, sb, b);
	if (with_bias)
		add_f32(&in, "bias", 1, sbias, bias);
	naive_matmul(want, a, b, with_bias ? bias : NULL, m, k, n, relu);
	c1 = run_ok(&o1, "matmul_f32@1", &in, relu ? "{\"relu\":true}" : "{\"relu\":false}",
		    1, "c");
	c2 = run_ok(&o2, "matmul_f32@1", &in, relu ? "{\"relu\":true}" : "{\"relu\":false}",
		    2, "c");
	cr_assert_eq(c1->rank, 2);
	cr_assert_eq(c1->shape[0], m);
	cr_assert_eq(c1->shape[1], n);
	cr_assert(memcmp(c1->data, want, m * n * 4) == 0,
		  "matmul %zux%zux%zu differs from the naive fmaf loop", m, k, n);
	cr_assert(memcmp(c1->data, c2->data, m * n * 4) == 0, "1 vs 2 threads");
	assert_canonical(c1);
	kern_tensors_release(&o1);
	kern_tensors_release(&o2);
	kern_tensors_release(&in);
	free(a);
	free(b);
	free(bias);
	free(want);
}

Test(kernels, matmul_bitwise_naive)
{
	static const size_t shapes[][3] = { { 1, 1, 1 }, { 17, 33, 65 }, { 1, 300, 1 },
		{ 13, 1, 47 }, { 64, 64, 64 }, { 50, 257, 33 }, { 25, 40, 97 } };
	struct rng r;

	rng_init(&r, "matmul_bitwise");
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (int v = 0; v < 4; v++)
			check_matmul_case(&r, shapes[s][0], shapes[s][1], shapes[s][2],
					  v & 1, v >> 1, s % 2);
	for (int i = 0; i < 6; i++)
		check_matmul_case(&r, 1 + rng_below(&r, 70), 1 + rng_below(&r, 300),
				  1 + rng_below(&r, 70), i & 1, (i >> 1) & 1, i >= 3);
}

/* Every ISA path (scalar, AVX2, AVX-512 where the CPU has them) and every
 * thread count give the bytes of the reference. */
Test(kernels, matmul_isa_paths)
{
	static const size_t shapes[][3] = { { 37, 129, 70 }, { 100, 300, 64 },
		{ 12, 513, 32 }, { 130, 17, 200 }, { 1, 64, 1000 }, { 5, 33, 333 },
		{ 15, 70, 95 } };
	struct rng r;

	rng_init(&r, "matmul_isa");
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		size_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
		float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *bias = malloc(n * 4);
		float *want = malloc(m * n * 4), *got = malloc(m * n * 4);
		fill_unit(&r, a, m * k);
		fill_unit(&r, b, k * n);
		fill_unit(&r, bias, n);
		sprinkle_edges(&r, a, m * k, 50);
		kern_cpu_matmul_ref(want, a, b, bias, m, k, n, 1);
		for (int isa = KERN_ISA_SCALAR; isa <= KERN_ISA_AVX512; isa++) {
			if (!kern_cpu_isa_supported(isa))
				continue;
			for (unsigned t = 1; t <= 3; t++) {
				memset(got, 0xa5, m * n * 4);
				kern_cpu_matmul_isa(got, a, b, bias, m, k, n, 1, t, isa);
				cr_assert(memcmp(got, want, m * n * 4) == 0,
					  "isa %d, %u threads, %zux%zux%zu", isa, t, m, k, n);
			}
		}
		free(a);
		free(b);
		free(bias);
		free(want);
		free(got);
	}
}

/* |c - c64| <= K * 2^-24 * (1 + 2^-20) * sum_k |a_ik b_kj| + |bias| * 2^-24
 * (the classic bound for recursive summation with fma). */
Test(kernels, matmul_vs_float64)
{
	struct rng r;
	size_t m = 33, k = 500, n = 41;
	float *a = malloc(m * k * 4), *b = malloc(k * n * 4), *bias = malloc(n * 4);
	struct kern_tensors in, out;
	uint64_t sa[2] = { m, k }, sb[2] = { k, n }, sbias[1] = { n };
	const struct kern_tensor *c;

	rng_init(&r, "matmul64");
	fill_unit(&r, a, m * k);
	fill_unit(&r, b, k * n);
	fill_unit(&r, bias, n);
	kern_tensors_init(&in);
	add_f32(&in, "a", 2, sa, a);
	add_f32(&in, "b", 2, sb, b);
	add_f32(&in, "bias", 1, sbias, bias);
	c = run_ok(&out, "matmul_f32@1", &in, "{\"relu\":false}", 2, "c");
	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			double s = 0, abs_s = 0;
			for (size_t p = 0; p < k; p++) {
				s += (double)a[i * k + p] * b[p * n + j];
				abs_s += fabs((double)a[i * k + p] * b[p * n + j]);
			}
			s += bias[j];
			double bound = (double)(k + 1) * 0x1p-24 * (1 + 0x1p-20) *
				(abs_s + fabs(bias[j]));
			double got = ((const float *)c->data)[i * n + j];
			cr_assert(fabs(got - s) <= bound, "c[%zu][%zu] = %g, want %g +- %g",
				  i, j, got, s, bound);
		}
	kern_tensors_release(&out);
	kern_tensors_release(&in);
	free(a);
	free(b);
	free(bias);
}

/* Edge cases pinned by the spec. */
Test(kernels, matmul_edges)
{
	struct kern_tensors in, out;
	uint64_t s11[2] = { 1, 1 }, s1[1] = { 1 };
	float a = f_of(0x80000000), b = 1.0f;
	const struct kern_tensor *c;

	/* fma(-0, 1, +0) = +0: the accumulator starts at +0. */
	kern_tensors_init(&in);
	add_f32(&in, "a", 2, s11, &a);
	add_f32(&in, "b", 2, s11, &b);
	c = run_ok(&out, "matmul_f32@1", &in, "{\"relu\":false}", 1, "c");
	cr_assert_eq(u_of(*(float *)c->data), 0u);
	kern_tensors_release(&out);
	/* relu(-0 + bias -0) = +0; relu(NaN) = canonical NaN. */
	float bias = f_of(0x80000000);
	add_f32(&in, "bias", 1, s1, &bias);
	c = run_ok(&out, "matmul_f32@1", &in, "{\"relu\":true}", 1, "c");
	cr_assert_eq(u_of(*(float *)c->data), 0u);
	kern_tensors_release(&out);
	kern_tensors_release(&in);
	a = f_of(0xffa00001);   /* negative signalling-payload NaN */
	kern_tensors_init(&in);
	add_f32(&in, "a", 2, s11, &a);
	add_f32(&in, "b", 2, s11, &b);
	c = run_ok(&out, "matmul_f32@1", &in, "{\"relu\":true}", 1, "c");
	cr_assert_eq(u_of(*(float *)c->data), KERN_CANONICAL_NAN_BITS);
	kern_tensors_release(&out);
	kern_tensors_release(&in);
	/* inf * 0 = NaN, inf - inf = NaN; subnormal products kept (no FTZ). */
	float a2[2] = { f_of(0x00000001), 1.0f }, b2[2] = { 1.0f, -1.0f };
	uint64_t s12[2] = { 1, 2 }, s21[2] = { 2, 1 };
	kern_tensors_init(&in);
	add_f32(&in, "a", 2, s12, a2);
	add_f32(&in, "b", 2, s21, b2);
	c = run_ok(&out, "matmul_f32@1", &in, "{\"relu\":false}", 1, "c");
	/* fma(2^-149, 1, 0) = 2^-149; fma(1, -1, 2^-149) = -1 + 2^-149 = -1 */
	cr_assert_eq(*(float *)c->data, -1.0f);
	kern_tensors_release(&out);
	kern_tensors_release(&in);
}

/* ------------------------------------------------------------------ */
/* gemm_i8                                                              */

Test(kernels, gemm_i8_exact)
{
	static const size_t shapes[][3] = { { 1, 1, 1 }, { 17, 33, 65 }, { 64, 1000, 31 },
		{ 5, 4096, 3 } };
	struct rng r;

	rng_init(&r, "gemm_i8");
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		size_t m = shapes[s][0], k = shapes[s][1], n = shapes[s][2];
		int8_t *a = malloc(m * k), *b = malloc(k * n);
		struct kern_tensors in, o1, o2;
		uint64_t sa[2] = { m, k }, sb[2] = { k, n };
		const struct kern_tensor *c1, *c2;
		struct kern_diag d;

		for (size_t i = 0; i < m * k; i++)
			a[i] = s == 3 ? -128 : (int8_t)rng_u64(&r);
		for (size_t i = 0; i < k * n; i++)
			b[i] = s == 3 ? -128 : (int8_t)rng_u64(&r);
		kern_tensors_init(&in);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "a", KERN_DT_I8, 2, sa, a), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "b", KERN_DT_I8, 2, sb, b), KERN_OK);
		c1 = run_ok(&o1, "gemm_i8@1", &in, "{}", 1, "c");
		c2 = run_ok(&o2, "gemm_i8@1", &in, "{}", 2, "c");
		cr_assert_eq(c1->dtype, KERN_DT_I32);
		for (size_t i = 0; i < m; i++)
			for (size_t j = 0; j < n; j++) {
				int64_t want = 0;
				for (size_t p = 0; p < k; p++)
					want += (int64_t)a[i * k + p] * b[p * n + j];
				cr_assert_eq(((const int32_t *)c1->data)[i * n + j], want);
			}
		cr_assert(memcmp(c1->data, c2->data, m * n * 4) == 0);
		kern_tensors_release(&o1);
		kern_tensors_release(&o2);
		kern_tensors_release(&in);
		free(a);
		free(b);
	}
}

/* The largest K the limit allows, all -128: the int32 sum is exact. */
Test(kernels, gemm_i8_k_limit)
{
	size_t k = KERN_GEMM_I8_K_MAX;
	int8_t *a = malloc(k + 1), *b = malloc(k + 1);
	struct kern_tensors in, out;
	uint64_t sa[2] = { 1, k }, sb[2] = { k, 1 };
	struct kern_diag d;
	const struct kern_tensor *c;

	memset(a, 0x80, k + 1);
	memset(b, 0x80, k + 1);
	kern_tensors_init(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "a", KERN_DT_I8, 2, sa, a), KERN_OK);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "b", KERN_DT_I8, 2, sb, b), KERN_OK);
	c = run_ok(&out, "gemm_i8@1", &in, "{}", 2, "c");
	cr_assert_eq(*(const int32_t *)c->data, (int32_t)(16384 * (int64_t)k));
	kern_tensors_release(&out);
	kern_tensors_release(&in);
	sa[1] = k + 1;
	sb[0] = k + 1;
	kern_tensors_init(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "a", KERN_DT_I8, 2, sa, a), KERN_OK);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "b", KERN_DT_I8, 2, sb, b), KERN_OK);
	cr_assert_eq(run_err("gemm_i8@1", &in, "{}"), KERN_ERR_GEMM_K);
	kern_tensors_release(&in);
	free(a);
	free(b);
}

/* ------------------------------------------------------------------ */
/* reduce_sum                                                           */

/* The tree exactly as docs/kernels.md states it, recursively. */
static float tree_rec(const float *v, size_t n)
{
	size_t h = 1;
	if (n == 1)
		return v[0];
	while (h * 2 < n)
		h *= 2;
	return tree_rec(v, h) + tree_rec(v + h, n - h);
}

Test(kernels, reduce_sum_tree)
{
	static const size_t sizes[] = { 1, 2, 3, 7, 8, 9, 1000, 1023, 1025, 65537,
		(1u << 20) + 12345, (1u << 21) };
	struct rng r;

	rng_init(&r, "reduce_sum");
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s];
		float *x = malloc(n * 4);
		struct kern_tensors in, o1, o2;
		uint64_t sh[1] = { n };
		const struct kern_tensor *y1, *y2;
		double want = 0, abs_sum = 0, bound;
		int levels = 0;

		fill_unit(&r, x, n);
		for (size_t i = 0; i < n; i++) {
			want += x[i];
			abs_sum += fabs(x[i]);
		}
		while (((size_t)1 << levels) < n)
			levels++;
		kern_tensors_init(&in);
		add_f32(&in, "x", 1, sh, x);
		y1 = run_ok(&o1, "reduce_sum_f32@1", &in, "{}", 1, "y");
		y2 = run_ok(&o2, "reduce_sum_f32@1", &in, "{}", 2, "y");
		cr_assert_eq(y1->rank, 1);
		cr_assert_eq(y1->shape[0], 1);
		cr_assert_eq(u_of(*(float *)y1->data), u_of(tree_rec(x, n)), "n = %zu", n);
		cr_assert_eq(u_of(*(float *)y1->data), u_of(*(float *)y2->data));
		/* pairwise summation: |err| <= levels * 2^-24 * sum |x| */
		bound = (levels + 1) * 0x1p-24 * abs_sum;
		cr_assert(fabs(*(float *)y1->data - want) <= bound, "n = %zu", n);
		kern_tensors_release(&o1);
		kern_tensors_release(&o2);
		kern_tensors_release(&in);
		free(x);
	}
}

/* The CUDA reduction schemes (kernels/cuda/common.cuh and reduce_sum.cu),
 * emulated step for step on the CPU: no GPU is needed to check that they
 * compute the spec's tree. */
static float emu_block_sum(const float *v, size_t n)
{
	/* kc_block_tree_sum: 1024-chunks level by level, tail streamed. */
	struct kern_tree t;
	float a[512], b[512];
	size_t c0 = 0;

	kern_tree_init(&t);
	for (; c0 + 1024 <= n; c0 += 1024) {
		float *src = a, *dst = b, *tmp;
		for (size_t i = 0; i < 512; i++)
			a[i] = v[c0 + 2 * i] + v[c0 + 2 * i + 1];
		for (size_t len = 256; len >= 1; len >>= 1) {
			for (size_t i = 0; i < len; i++)
				dst[i] = src[2 * i] + src[2 * i + 1];
			tmp = src;
			src = dst;
			dst = tmp;
		}
		kern_tree_push(&t, src[0], 1024);
	}
	if (c0 < n) {
		struct kern_tree tail;
		kern_tree_init(&tail);
		for (size_t i = c0; i < n; i++)
			kern_tree_push(&tail, v[i], 1);
		kern_tree_push(&t, kern_tree_final(&tail), n - c0);
	}
	return kern_tree_final(&t);
}

static float emu_multipass(const float *x, size_t n)
{
	/* reduce_sum.cu: one block per 1024 values, passes until one is left. */
	float *cur = malloc(n * sizeof(float));
	memcpy(cur, x, n * sizeof(float));
	while (n > 1) {
		size_t blocks = (n + 1023) / 1024;
		for (size_t bl = 0; bl < blocks; bl++) {
			size_t len = n - bl * 1024 < 1024 ? n - bl * 1024 : 1024;
			cur[bl] = emu_block_sum(cur + bl * 1024, len);
		}
		n = blocks;
	}
	float r = cur[0];
	free(cur);
	return r;
}

Test(kernels, cuda_tree_schemes_match_spec)
{
	static const size_t sizes[] = { 1, 2, 3, 1023, 1024, 1025, 2047, 2048, 3000,
		4097, 65536, 65537, 1048575, 1048576 + 1025, 1024 * 1024 + 7 * 1024 + 3 };
	struct rng r;

	rng_init(&r, "cuda_tree");
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
		size_t n = sizes[s];
		float *x = malloc(n * sizeof(float));
		for (size_t i = 0; i < n; i++)
			x[i] = ldexpf(rng_unit(&r), (int)rng_below(&r, 40) - 20);
		float want = tree_rec(x, n);
		cr_assert_eq(u_of(emu_block_sum(x, n)), u_of(want), "block scheme, n = %zu", n);
		cr_assert_eq(u_of(emu_multipass(x, n)), u_of(want), "multi-pass, n = %zu", n);
		free(x);
	}
}

Test(kernels, reduce_sum_edges)
{
	struct kern_tensors in, out;
	uint64_t sh[1] = { 2 };
	float x[2];
	const struct kern_tensor *y;

	x[0] = INFINITY;
	x[1] = -INFINITY;
	kern_tensors_init(&in);
	add_f32(&in, "x", 1, sh, x);
	y = run_ok(&out, "reduce_sum_f32@1", &in, "{}", 1, "y");
	cr_assert_eq(u_of(*(float *)y->data), KERN_CANONICAL_NAN_BITS);
	kern_tensors_release(&out);
	kern_tensors_release(&in);
	x[0] = f_of(0x80000000);
	x[1] = f_of(0x80000000);
	kern_tensors_init(&in);
	add_f32(&in, "x", 1, sh, x);
	y = run_ok(&out, "reduce_sum_f32@1", &in, "{}", 1, "y");
	cr_assert_eq(u_of(*(float *)y->data), 0x80000000u);   /* -0 + -0 = -0 */
	kern_tensors_release(&out);
	kern_tensors_release(&in);
	x[0] = f_of(0x00000001);
	x[1] = f_of(0x00000001);
	kern_tensors_init(&in);
	add_f32(&in, "x", 1, sh, x);
	y = run_ok(&out, "reduce_sum_f32@1", &in, "{}", 1, "y");
	cr_assert_eq(u_of(*(float *)y->data), 2u);            /* no FTZ */
	kern_tensors_release(&out);
	kern_tensors_release(&in);
}

/* ------------------------------------------------------------------ */
/* softmax and layernorm                                                */

Test(kernels, softmax_vs_float64)
{
	static const size_t shapes[][2] = { { 1, 1 }, { 3, 17 }, { 17, 65 }, { 40, 1000 },
		{ 5, 2500 } };
	struct rng r;

	rng_init(&r, "softmax");
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		size_t rows = shapes[s][0], cols = shapes[s][1];
		float *x = malloc(rows * cols * 4);
		struct kern_tensors in, o1, o2;
		uint64_t sh[2] = { rows, cols };
		const struct kern_tensor *y1, *y2;

		for (size_t i = 0; i < rows * cols; i++)
			x[i] = rng_unit(&r) * 30.0f;
		kern_tensors_init(&in);
		add_f32(&in, "x", 2, sh, x);
		y1 = run_ok(&o1, "softmax_f32@1", &in, "{}", 1, "y");
		y2 = run_ok(&o2, "softmax_f32@1", &in, "{}", 2, "y");
		cr_assert(memcmp(y1->data, y2->data, rows * cols * 4) == 0);
		for (size_t i = 0; i < rows; i++) {
			double m = -INFINITY, sum = 0;
			for (size_t j = 0; j < cols; j++)
				m = fmax(m, x[i * cols + j]);
			for (size_t j = 0; j < cols; j++)
				sum += exp((double)x[i * cols + j] - m);
			for (size_t j = 0; j < cols; j++) {
				double want = exp((double)x[i * cols + j] - m) / sum;
				double got = ((const float *)y1->data)[i * cols + j];
				/* x - m rounding (|x - m| <= 60: 2^-18 absolute), exp
				 * 1 ulp, tree sum, division: relative 2^-17 + 1e-6. */
				cr_assert(fabs(got - want) <= want * (0x1p-17 + 1e-6) + 0x1p-149,
					  "softmax[%zu][%zu] = %g, want %g", i, j, got, want);
			}
		}
		kern_tensors_release(&o1);
		kern_tensors_release(&o2);
		kern_tensors_release(&in);
		free(x);
	}
}

Test(kernels, softmax_edges)
{
	struct kern_tensors in, out;
	uint64_t sh[2] = { 4, 3 };
	float x[12] = {
		1.0f, f_of(0x7fa00001), 2.0f,            /* NaN: whole row NaN */
		-INFINITY, 0.0f, -INFINITY,              /* -inf: exp = +0 */
		INFINITY, 1.0f, 2.0f,                    /* +inf: inf - inf = NaN */
		f_of(0x00000001), f_of(0x80000000), 0.0f /* tiny: 1/3 each */
	};
	const float *y;

	kern_tensors_init(&in);
	add_f32(&in, "x", 2, sh, x);
	y = run_ok(&out, "softmax_f32@1", &in, "{}", 2, "y")->data;
	for (int j = 0; j < 3; j++)
		cr_assert_eq(u_of(y[j]), KERN_CANONICAL_NAN_BITS);
	cr_assert_eq(u_of(y[3]), 0u);
	cr_assert_eq(y[4], 1.0f);
	cr_assert_eq(u_of(y[5]), 0u);
	for (int j = 6; j < 9; j++)
		cr_assert_eq(u_of(y[j]), KERN_CANONICAL_NAN_BITS);
	for (int j = 9; j < 12; j++)
		cr_assert_eq(y[j], 1.0f / 3.0f);
	kern_tensors_release(&out);
	kern_tensors_release(&in);
}

Test(kernels, layernorm_vs_float64)
{
	static const size_t shapes[][2] = { { 1, 1 }, { 3, 17 }, { 17, 65 }, { 20, 3000 } };
	struct rng r;

	rng_init(&r, "layernorm");
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		size_t rows = shapes[s][0], cols = shapes[s][1];
		float *x = malloc(rows * cols * 4), *g = malloc(cols * 4), *b = malloc(cols * 4);
		struct kern_tensors in, o1, o2;
		uint64_t sh[2] = { rows, cols }, sc[1] = { cols };
		const struct kern_tensor *y1, *y2;

		for (size_t i = 0; i < rows * cols; i++)
			x[i] = rng_unit(&r) * 10.0f + 3.0f;
		fill_unit(&r, g, cols);
		fill_unit(&r, b, cols);
		kern_tensors_init(&in);
		add_f32(&in, "x", 2, sh, x);
		add_f32(&in, "gamma", 1, sc, g);
		add_f32(&in, "beta", 1, sc, b);
		y1 = run_ok(&o1, "layernorm_f32@1", &in, "{\"eps\":1e-05}", 1, "y");
		y2 = run_ok(&o2, "layernorm_f32@1", &in, "{\"eps\":1e-05}", 2, "y");
		cr_assert(memcmp(y1->data, y2->data, rows * cols * 4) == 0);
		for (size_t i = 0; i < rows; i++) {
			double mean = 0, var = 0;
			for (size_t j = 0; j < cols; j++)
				mean += x[i * cols + j];
			mean /= (double)cols;
			for (size_t j = 0; j < cols; j++)
				var += (x[i * cols + j] - mean) * (x[i * cols + j] - mean);
			var /= (double)cols;
			double sd = sqrt(var + (double)1e-05f);
			for (size_t j = 0; j < cols; j++) {
				double want = (x[i * cols + j] - mean) / sd * g[j] + b[j];
				double got = ((const float *)y1->data)[i * cols + j];
				/* normalised values are <= sqrt(cols) in size; the
				 * float32 mean and variance cost a few 2^-24 relative. */
				cr_assert(fabs(got - want) <= 1e-5 * (1 + fabs(want)) +
					  2e-6 * sqrt((double)cols),
					  "layernorm[%zu][%zu] = %g, want %g", i, j, got, want);
			}
		}
		kern_tensors_release(&o1);
		kern_tensors_release(&o2);
		kern_tensors_release(&in);
		free(x);
		free(g);
		free(b);
	}
}

/* ------------------------------------------------------------------ */
/* conv2d                                                               */

static void naive_conv(float *y, const float *x, const float *w, const float *bias,
		       const struct kern_conv_shape *s)
{
	for (size_t n = 0; n < s->n; n++)
	for (size_t o = 0; o < s->o; o++)
	for (size_t oh = 0; oh < s->oh; oh++)
	for (size_t ow = 0; ow < s->ow; ow++) {
		float acc = 0.0f;
		for (size_t c = 0; c < s->c; c++)
		for (size_t kh = 0; kh < s->kh; kh++)
		for (size_t kw = 0; kw < s->kw; kw++) {
			long ih = (long)(oh * s->sh + kh) - (long)s->ph;
			long iw = (long)(ow * s->sw + kw) - (long)s->pw;
			if (ih < 0 || iw < 0 || ih >= (long)s->h || iw >= (long)s->w)
				continue;
			acc = fmaf(x[((n * s->c + c) * s->h + (size_t)ih) * s->w + (size_t)iw],
				   w[((o * s->c + c) * s->kh + kh) * s->kw + kw], acc);
		}
		if (bias)
			acc += bias[o];
		y[((n * s->o + o) * s->oh + oh) * s->ow + ow] = isnan(acc) ? f_of(0x7fc00000) : acc;
	}
}

Test(kernels, conv2d_bitwise_and_float64)
{
	/* n c h w o kh kw ph pw sh sw */
	static const size_t cases[][11] = {
		{ 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1 },
		{ 2, 3, 17, 33, 4, 3, 3, 1, 1, 1, 1 },
		{ 1, 2, 16, 16, 3, 5, 3, 2, 0, 2, 3 },
		{ 3, 1, 9, 7, 2, 1, 7, 3, 5, 4, 1 },
		{ 1, 4, 8, 8, 2, 8, 8, 0, 0, 1, 1 },
		{ 1, 1, 5, 5, 1, 3, 3, 6, 6, 2, 2 },
	};
	struct rng r;

	rng_init(&r, "conv2d");
	for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
		const size_t *c = cases[t];
		struct kern_conv_shape s = { c[0], c[1], c[2], c[3], c[4], c[5], c[6],
			c[7], c[8], c[9], c[10], 0, 0 };
		size_t xn, wn, yn;
		char params[128];

		s.oh = (s.h + 2 * s.ph - s.kh) / s.sh + 1;
		s.ow = (s.w + 2 * s.pw - s.kw) / s.sw + 1;
		xn = s.n * s.c * s.h * s.w;
		wn = s.o * s.c * s.kh * s.kw;
		yn = s.n * s.o * s.oh * s.ow;
		for (int v = 0; v < 2; v++) {
			float *x = malloc(xn * 4), *w = malloc(wn * 4), *bias = malloc(s.o * 4);
			float *want = malloc(yn * 4);
			struct kern_tensors in, o1, o2;
			uint64_t sx[4] = { s.n, s.c, s.h, s.w }, sw[4] = { s.o, s.c, s.kh, s.kw };
			uint64_t sb[1] = { s.o };
			const struct kern_tensor *y1, *y2;

			fill_unit(&r, x, xn);
			fill_unit(&r, w, wn);
			fill_unit(&r, bias, s.o);
			if (v)
				sprinkle_edges(&r, x, xn, 9);
			kern_tensors_init(&in);
			add_f32(&in, "x", 4, sx, x);
			add_f32(&in, "w", 4, sw, w);
			if (t % 2 == 0)
				add_f32(&in, "bias", 1, sb, bias);
			(void)snprintf(params, sizeof params,
				       "{\"padding\":[%zu,%zu],\"stride\":[%zu,%zu]}",
				       s.ph, s.pw, s.sh, s.sw);
			naive_conv(want, x, w, t % 2 == 0 ? bias : NULL, &s);
			y1 = run_ok(&o1, "conv2d_f32@1", &in, params, 1, "y");
			y2 = run_ok(&o2, "conv2d_f32@1", &in, params, 2, "y");
			cr_assert_eq(y1->shape[2], s.oh);
			cr_assert_eq(y1->shape[3], s.ow);
			cr_assert(memcmp(y1->data, want, yn * 4) == 0, "conv case %zu", t);
			cr_assert(memcmp(y1->data, y2->data, yn * 4) == 0);
			if (!v) {
				/* float64 bound as for matmul, taps = C*KH*KW */
				for (size_t i = 0; i < yn; i++) {
					double got = ((const float *)y1->data)[i];
					double tol = (double)(s.c * s.kh * s.kw + 1) * 0x1p-24 *
						(double)(s.c * s.kh * s.kw + 1);
					cr_assert(fabs(got - want[i]) <= tol);
				}
			}
			kern_tensors_release(&o1);
			kern_tensors_release(&o2);
			kern_tensors_release(&in);
			free(x);
			free(w);
			free(bias);
			free(want);
		}
	}
}

/* ------------------------------------------------------------------ */
/* mlp                                                                  */

Test(kernels, mlp_is_its_composition)
{
	static const size_t dims[] = { 33, 64, 17, 10 };
	struct rng r;
	struct kern_tensors in, out, step_in, step_out;
	size_t batch = 9;
	uint64_t sx[2] = { batch, dims[0] };
	float *x = malloc(batch * dims[0] * 4);
	float *h;
	const struct kern_tensor *y, *y2;

	rng_init(&r, "mlp");
	fill_unit(&r, x, batch * dims[0]);
	kern_tensors_init(&in);
	add_f32(&in, "x", 2, sx, x);
	for (size_t l = 0; l < 3; l++) {
		char nm[8];
		uint64_t sw[2] = { dims[l], dims[l + 1] }, sb[1] = { dims[l + 1] };
		float *w = malloc(dims[l] * dims[l + 1] * 4), *b = malloc(dims[l + 1] * 4);
		fill_unit(&r, w, dims[l] * dims[l + 1]);
		fill_unit(&r, b, dims[l + 1]);
		(void)snprintf(nm, sizeof nm, "w%zu", l);
		add_f32(&in, nm, 2, sw, w);
		(void)snprintf(nm, sizeof nm, "b%zu", l);
		add_f32(&in, nm, 1, sb, b);
		free(w);
		free(b);
	}
	y = run_ok(&out, "mlp_f32@1", &in, "{}", 1, "y");
	cr_assert_eq(y->shape[0], batch);
	cr_assert_eq(y->shape[1], dims[3]);
	/* The same through matmul_f32 and softmax_f32, layer by layer. */
	h = malloc(batch * dims[0] * 4);
	memcpy(h, x, batch * dims[0] * 4);
	for (size_t l = 0; l < 3; l++) {
		char nm[8];
		uint64_t sh[2] = { batch, dims[l] };
		const struct kern_tensor *w, *b, *c;
		kern_tensors_init(&step_in);
		add_f32(&step_in, "a", 2, sh, h);
		(void)snprintf(nm, sizeof nm, "w%zu", l);
		w = kern_tensors_find(&in, nm);
		add_f32(&step_in, "b", 2, w->shape, w->data);
		(void)snprintf(nm, sizeof nm, "b%zu", l);
		b = kern_tensors_find(&in, nm);
		add_f32(&step_in, "bias", 1, b->shape, b->data);
		c = run_ok(&step_out, "matmul_f32@1", &step_in,
			   l < 2 ? "{\"relu\":true}" : "{\"relu\":false}", 2, "c");
		free(h);
		h = malloc(c->size_bytes);
		memcpy(h, c->data, c->size_bytes);
		kern_tensors_release(&step_out);
		kern_tensors_release(&step_in);
	}
	{
		uint64_t sh[2] = { batch, dims[3] };
		kern_tensors_init(&step_in);
		add_f32(&step_in, "x", 2, sh, h);
		y2 = run_ok(&step_out, "softmax_f32@1", &step_in, "{}", 2, "y");
		cr_assert(memcmp(y->data, y2->data, y->size_bytes) == 0);
		/* rows of a softmax sum to 1 within a few ulp */
		for (size_t i = 0; i < batch; i++) {
			double s = 0;
			for (size_t j = 0; j < dims[3]; j++)
				s += ((const float *)y->data)[i * dims[3] + j];
			cr_assert(fabs(s - 1.0) < 1e-5);
		}
		kern_tensors_release(&step_out);
		kern_tensors_release(&step_in);
	}
	kern_tensors_release(&out);
	kern_tensors_release(&in);
	free(h);
	free(x);
}

/* ------------------------------------------------------------------ */
/* Determinism across runs, all kernels                                 */

Test(kernels, run_to_run)
{
	struct rng r;
	struct kern_tensors in, o1, o2;
	uint64_t s2[2] = { 31, 47 }, s1[1] = { 47 };
	float x[31 * 47], g[47], b[47];

	rng_init(&r, "run_to_run");
	fill_unit(&r, x, 31 * 47);
	fill_unit(&r, g, 47);
	fill_unit(&r, b, 47);
	sprinkle_edges(&r, x, 31 * 47, 40);
	kern_tensors_init(&in);
	add_f32(&in, "x", 2, s2, x);
	add_f32(&in, "gamma", 1, s1, g);
	add_f32(&in, "beta", 1, s1, b);
	for (int i = 0; i < 3; i++) {
		const struct kern_tensor *y1 = run_ok(&o1, "layernorm_f32@1", &in,
						      "{\"eps\":0.001}", 2, "y");
		const struct kern_tensor *y2 = run_ok(&o2, "layernorm_f32@1", &in,
						      "{\"eps\":0.001}", 1, "y");
		cr_assert(memcmp(y1->data, y2->data, y1->size_bytes) == 0);
		assert_canonical(y1);
		kern_tensors_release(&o1);
		kern_tensors_release(&o2);
	}
	kern_tensors_release(&in);
}

/* ------------------------------------------------------------------ */
/* Params, validation, limits                                           */

static void matmul_inputs(struct kern_tensors *in)
{
	uint64_t s[2] = { 2, 2 };
	float v[4] = { 1, 2, 3, 4 };
	kern_tensors_init(in);
	add_f32(in, "a", 2, s, v);
	add_f32(in, "b", 2, s, v);
}

Test(kernels, params_strict)
{
	static const char *const bad_relu[] = { "", "{}", "{\"relu\":1}", "{ \"relu\":true}",
		"{\"relu\":true} ", "{\"relu\":true,\"relu\":true}", "{\"relu\":TRUE}",
		"{\"relu\":true,\"x\":1}", "null", "{\"relu\":\"true\"}" };
	static const char *const bad_eps[] = { "{}", "{\"eps\":}", "{\"eps\":-1e-5}",
		"{\"eps\":0}", "{\"eps\":1e-50}", "{\"eps\":1e39}", "{\"eps\":.5}",
		"{\"eps\":01}", "{\"eps\":1.}", "{\"eps\":+1}", "{\"eps\":1e}",
		"{\"eps\":\"1e-5\"}", "{\"eps\":1e-5 }", "{\"eps\":NaN}", "{\"eps\":0x1p-3}" };
	static const char *const bad_conv[] = { "{}", "{\"padding\":[0,0]}",
		"{\"stride\":[1,1],\"padding\":[0,0]}", "{\"padding\":[0,0],\"stride\":[0,1]}",
		"{\"padding\":[00,0],\"stride\":[1,1]}", "{\"padding\":[0,0],\"stride\":[1,1,1]}",
		"{\"padding\":[-1,0],\"stride\":[1,1]}", "{\"padding\":[0, 0],\"stride\":[1,1]}",
		"{\"padding\":[0,0],\"stride\":[1,1]}x", "{\"padding\":[1.0,0],\"stride\":[1,1]}" };
	struct kern_tensors in;

	matmul_inputs(&in);
	for (size_t i = 0; i < sizeof bad_relu / sizeof bad_relu[0]; i++)
		cr_assert_eq(run_err("matmul_f32@1", &in, bad_relu[i]), KERN_ERR_PARAMS,
			     "%s", bad_relu[i]);
	kern_tensors_release(&in);

	{
		uint64_t s2[2] = { 1, 2 }, s1[1] = { 2 };
		float v[2] = { 1, 2 };
		struct kern_tensors out;
		kern_tensors_init(&in);
		add_f32(&in, "x", 2, s2, v);
		add_f32(&in, "gamma", 1, s1, v);
		add_f32(&in, "beta", 1, s1, v);
		for (size_t i = 0; i < sizeof bad_eps / sizeof bad_eps[0]; i++)
			cr_assert_eq(run_err("layernorm_f32@1", &in, bad_eps[i]),
				     KERN_ERR_PARAMS, "%s", bad_eps[i]);
		/* 1e-05 and 0.00001 are the same binary32 value. */
		const struct kern_tensor *a = run_ok(&out, "layernorm_f32@1", &in,
						     "{\"eps\":1e-05}", 1, "y");
		float first[2];
		memcpy(first, a->data, 8);
		kern_tensors_release(&out);
		a = run_ok(&out, "layernorm_f32@1", &in, "{\"eps\":0.00001}", 1, "y");
		cr_assert(memcmp(first, a->data, 8) == 0);
		kern_tensors_release(&out);
		kern_tensors_release(&in);
	}
	{
		uint64_t sx[4] = { 1, 1, 3, 3 }, sw[4] = { 1, 1, 2, 2 };
		float v[9] = { 0 };
		kern_tensors_init(&in);
		add_f32(&in, "x", 4, sx, v);
		add_f32(&in, "w", 4, sw, v);
		for (size_t i = 0; i < sizeof bad_conv / sizeof bad_conv[0]; i++)
			cr_assert_eq(run_err("conv2d_f32@1", &in, bad_conv[i]),
				     KERN_ERR_PARAMS, "%s", bad_conv[i]);
		cr_assert_eq(run_err("conv2d_f32@1", &in,
				     "{\"padding\":[0,0],\"stride\":[65,1]}"),
			     KERN_ERR_CONV_STRIDE);
		cr_assert_eq(run_err("conv2d_f32@1", &in,
				     "{\"padding\":[65,0],\"stride\":[1,1]}"),
			     KERN_ERR_CONV_PADDING);
		kern_tensors_release(&in);
	}
	{
		uint64_t s1[1] = { 2 };
		float v[2] = { 1, 2 };
		kern_tensors_init(&in);
		add_f32(&in, "x", 1, s1, v);
		cr_assert_eq(run_err("reduce_sum_f32@1", &in, "{ }"), KERN_ERR_PARAMS);
		cr_assert_eq(run_err("reduce_sum_f32@1", &in, "{\"a\":1}"), KERN_ERR_PARAMS);
		kern_tensors_release(&in);
	}
}

/* kern_params_check, without tensors, against PROTOCOL.md section 6's
 * table: each kernel's own form passes, the others and every
 * non-canonical spelling are refused with the error kern_run gives. */
Test(kernels, params_check_without_running)
{
	static const struct { const char *kernel, *params; enum kern_err want; } t[] = {
		{ "matmul_f32@1", "{\"relu\":false}", KERN_OK },
		{ "matmul_f32@1", "{\"relu\":true}", KERN_OK },
		{ "matmul_f32@1", "{}", KERN_ERR_PARAMS },
		{ "matmul_f32@1", "{\"relu\": true}", KERN_ERR_PARAMS },
		{ "gemm_i8@1", "{}", KERN_OK },
		{ "gemm_i8@1", "{ }", KERN_ERR_PARAMS },
		{ "reduce_sum_f32@1", "{}", KERN_OK },
		{ "reduce_sum_f32@1", "not json", KERN_ERR_PARAMS },
		{ "softmax_f32@1", "{}", KERN_OK },
		{ "softmax_f32@1", "{\"relu\":false}", KERN_ERR_PARAMS },
		{ "layernorm_f32@1", "{\"eps\":1e-05}", KERN_OK },
		{ "layernorm_f32@1", "{\"eps\":0}", KERN_ERR_PARAMS },
		{ "conv2d_f32@1", "{\"padding\":[1,1],\"stride\":[2,2]}", KERN_OK },
		{ "conv2d_f32@1", "{\"stride\":[2,2],\"padding\":[1,1]}", KERN_ERR_PARAMS },
		{ "conv2d_f32@1", "{\"padding\":[0,0],\"stride\":[65,1]}", KERN_ERR_CONV_STRIDE },
		{ "mlp_f32@1", "{}", KERN_OK },
		{ "mlp_f32@1", "", KERN_ERR_PARAMS },
		{ "nosuch@1", "{}", KERN_ERR_UNKNOWN_KERNEL },
	};
	struct kern_diag d;
	char big[KERN_PARAMS_BYTES_MAX + 2];

	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		enum kern_err got = kern_params_check(&d, t[i].kernel, t[i].params,
						      strlen(t[i].params));
		cr_assert_eq(got, t[i].want, "%s %s: %s", t[i].kernel, t[i].params, d.msg);
		if (got != KERN_OK)
			cr_assert(d.msg[0], "no reason given for %s", t[i].params);
	}
	memset(big, ' ', sizeof big);
	cr_assert_eq(kern_params_check(&d, "gemm_i8@1", big, sizeof big), KERN_ERR_PARAMS_SIZE);
	cr_assert_eq(kern_params_check(&d, "gemm_i8@1", NULL, 0), KERN_ERR_ARG);
}

Test(kernels, tensor_validation)
{
	struct kern_tensors in;
	struct kern_diag d;
	uint64_t s2[2] = { 2, 2 }, s3[2] = { 3, 2 }, s0[2] = { 0, 2 };
	float v[6] = { 0 };

	matmul_inputs(&in);
	cr_assert_eq(run_err("matmul_f32@2", &in, "{\"relu\":false}"), KERN_ERR_UNKNOWN_KERNEL);
	add_f32(&in, "c", 2, s2, v);
	cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_UNKNOWN_TENSOR);
	kern_tensors_release(&in);

	kern_tensors_init(&in);
	add_f32(&in, "a", 2, s2, v);
	cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_MISSING_TENSOR);
	add_f32(&in, "b", 2, s3, v);
	cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_SHAPE);
	kern_tensors_release(&in);

	kern_tensors_init(&in);
	add_f32(&in, "a", 2, s0, v);
	add_f32(&in, "b", 2, s2, v);
	cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_SHAPE);
	kern_tensors_release(&in);

	kern_tensors_init(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "a", KERN_DT_I32, 2, s2, NULL), KERN_OK);
	add_f32(&in, "b", 2, s2, v);
	cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_DTYPE);
	kern_tensors_release(&in);

	kern_tensors_init(&in);
	add_f32(&in, "a", 1, s2, v);
	add_f32(&in, "b", 2, s2, v);
	cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_SHAPE);
	kern_tensors_release(&in);

	/* a duplicate name cannot even be added */
	kern_tensors_init(&in);
	add_f32(&in, "a", 2, s2, v);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "a", KERN_DT_F32, 2, s2, v),
		     KERN_ERR_DUP_TENSOR);
	kern_tensors_release(&in);

	/* mlp: names must be x, w<i>, b<i> with every layer complete */
	{
		uint64_t sx[2] = { 1, 2 }, sw[2] = { 2, 2 }, sb[1] = { 2 };
		kern_tensors_init(&in);
		add_f32(&in, "x", 2, sx, v);
		cr_assert_eq(run_err("mlp_f32@1", &in, "{}"), KERN_ERR_MISSING_TENSOR);
		add_f32(&in, "w0", 2, sw, v);
		cr_assert_eq(run_err("mlp_f32@1", &in, "{}"), KERN_ERR_MISSING_TENSOR);
		add_f32(&in, "b0", 1, sb, v);
		add_f32(&in, "w2", 2, sw, v);
		add_f32(&in, "b2", 1, sb, v);
		cr_assert_eq(run_err("mlp_f32@1", &in, "{}"), KERN_ERR_MISSING_TENSOR);
		kern_tensors_release(&in);
		kern_tensors_init(&in);
		add_f32(&in, "x", 2, sx, v);
		add_f32(&in, "w0", 2, sw, v);
		add_f32(&in, "b0", 1, sb, v);
		add_f32(&in, "b1", 1, sb, v);
		cr_assert_eq(run_err("mlp_f32@1", &in, "{}"), KERN_ERR_UNKNOWN_TENSOR);
		kern_tensors_release(&in);
		kern_tensors_init(&in);
		add_f32(&in, "x", 2, sx, v);
		add_f32(&in, "w00", 2, sw, v);
		cr_assert_eq(run_err("mlp_f32@1", &in, "{}"), KERN_ERR_UNKNOWN_TENSOR);
		kern_tensors_release(&in);
		kern_tensors_init(&in);
		add_f32(&in, "x", 2, sx, v);
		add_f32(&in, "w64", 2, sw, v);
		cr_assert_eq(run_err("mlp_f32@1", &in, "{}"), KERN_ERR_MLP_LAYERS);
		kern_tensors_release(&in);
	}
}

Test(kernels, limits)
{
	struct kern_tensors in, out;
	struct kern_diag d;
	uint64_t s5[5] = { 1, 1, 1, 1, 1 }, big[1] = { KERN_DIM_MAX + 1 };
	uint64_t many[3] = { 1u << 12, 1u << 12, 1u << 5 };
	char name[KERN_NAME_BYTES_MAX + 2];
	float v[4] = { 0 };

	kern_tensors_init(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "x", KERN_DT_F32, 5, s5, NULL), KERN_ERR_RANK);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "x", KERN_DT_F32, 1, big, NULL), KERN_ERR_DIM);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "x", KERN_DT_F32, 3, many, NULL), KERN_ERR_ELEMS);
	{
		uint64_t big64[2] = { 16384, 16384 };   /* 2^28 elements, 2 GiB as F64 */
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "x", KERN_DT_F64, 2, big64, NULL),
			     KERN_ERR_TENSOR_BYTES);
	}
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "", KERN_DT_F32, 0, NULL, NULL), KERN_ERR_NAME);
	memset(name, 'n', sizeof name - 1);
	name[sizeof name - 1] = '\0';
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, name, KERN_DT_F32, 0, NULL, NULL), KERN_ERR_NAME);
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "x", (enum kern_dtype)99, 0, NULL, NULL),
		     KERN_ERR_DTYPE);
	for (int i = 0; i < KERN_TENSORS_MAX; i++) {
		char nm[16];
		(void)snprintf(nm, sizeof nm, "t%d", i);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, nm, KERN_DT_I8, 0, NULL, NULL), KERN_OK);
	}
	cr_assert_eq(kern_tensors_add(&in, NULL, &d, "one-more", KERN_DT_I8, 0, NULL, NULL),
		     KERN_ERR_TENSOR_COUNT);
	kern_tensors_release(&in);

	/* params size, threads */
	{
		char *p = malloc(KERN_PARAMS_BYTES_MAX + 2);
		char dev[KERN_DEVICE_BYTES];
		struct kern_run_opts o = { KERN_DEVICE_CPU, KERN_THREADS_MAX + 1, NULL };
		memset(p, ' ', KERN_PARAMS_BYTES_MAX + 1);
		p[KERN_PARAMS_BYTES_MAX + 1] = '\0';
		matmul_inputs(&in);
		cr_assert_eq(run_err("matmul_f32@1", &in, p), KERN_ERR_PARAMS_SIZE);
		kern_tensors_init(&out);
		cr_assert_eq(kern_run(&out, dev, &d, "matmul_f32@1", &in, "{\"relu\":false}", 14, &o),
			     KERN_ERR_THREADS);
		kern_tensors_release(&in);
		free(p);
	}
	/* work: a [2^21, 1] x b [1, 2^20] is 2^41 multiply-adds */
	{
		uint64_t sa[2] = { 1u << 21, 1 }, sb[2] = { 1, 1u << 20 };
		kern_tensors_init(&in);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "a", KERN_DT_F32, 2, sa, NULL), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "b", KERN_DT_F32, 2, sb, NULL), KERN_OK);
		cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_WORK);
		kern_tensors_release(&in);
	}
	/* output elements: [2^15, 1] x [1, 2^14] = 2^29 outputs */
	{
		uint64_t sa[2] = { 1u << 15, 1 }, sb[2] = { 1, 1u << 14 };
		kern_tensors_init(&in);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "a", KERN_DT_F32, 2, sa, NULL), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "b", KERN_DT_F32, 2, sb, NULL), KERN_OK);
		cr_assert_eq(run_err("matmul_f32@1", &in, "{\"relu\":false}"), KERN_ERR_ELEMS);
		kern_tensors_release(&in);
	}
	/* job bytes: an mlp whose two hidden buffers need 2^14 * 2^14 * 8 bytes */
	{
		uint64_t sx[2] = { 1u << 14, 1 }, sw0[2] = { 1, 1u << 14 }, sb0[1] = { 1u << 14 };
		uint64_t sw1[2] = { 1u << 14, 1 }, sb1[1] = { 1 };
		kern_tensors_init(&in);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "x", KERN_DT_F32, 2, sx, NULL), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "w0", KERN_DT_F32, 2, sw0, NULL), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "b0", KERN_DT_F32, 1, sb0, NULL), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "w1", KERN_DT_F32, 2, sw1, NULL), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "b1", KERN_DT_F32, 1, sb1, NULL), KERN_OK);
		cr_assert_eq(run_err("mlp_f32@1", &in, "{}"), KERN_ERR_JOB_BYTES);
		kern_tensors_release(&in);
	}
	/* conv kernel size */
	{
		uint64_t sx[4] = { 1, 1, 65, 65 }, sw[4] = { 1, 1, 65, 1 };
		kern_tensors_init(&in);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "x", KERN_DT_F32, 4, sx, NULL), KERN_OK);
		cr_assert_eq(kern_tensors_add(&in, NULL, &d, "w", KERN_DT_F32, 4, sw, NULL), KERN_OK);
		cr_assert_eq(run_err("conv2d_f32@1", &in, "{\"padding\":[0,0],\"stride\":[1,1]}"),
			     KERN_ERR_CONV_KERNEL);
		kern_tensors_release(&in);
	}
	(void)v;
}

Test(kernels, devices)
{
	struct kern_tensors in, out;
	struct kern_diag d;
	char dev[KERN_DEVICE_BYTES];
	struct kern_run_opts o = { KERN_DEVICE_AUTO, 1, NULL };
	enum kern_device kd;

	cr_assert_eq(kern_device_parse(&kd, "cuda"), KERN_OK);
	cr_assert_eq(kd, KERN_DEVICE_CUDA);
	cr_assert_eq(kern_device_parse(&kd, "gpu"), KERN_ERR_ARG);
	matmul_inputs(&in);
	kern_tensors_init(&out);
	cr_assert_eq(kern_run(&out, dev, &d, "matmul_f32@1", &in, "{\"relu\":false}", 14, &o),
		     KERN_OK);
	if (kern_cuda_available(NULL)) {
		cr_assert(strncmp(dev, "cuda:sm_", 8) == 0);
	} else {
		cr_assert_str_eq(dev, "cpu");
		kern_tensors_release(&out);
		o.device = KERN_DEVICE_CUDA;
		cr_assert_eq(kern_run(&out, dev, &d, "matmul_f32@1", &in, "{\"relu\":false}",
				      14, &o), KERN_ERR_DEVICE);
	}
	kern_tensors_release(&out);
	o.device = KERN_DEVICE_CPU;
	cr_assert_eq(kern_run(&out, dev, &d, "matmul_f32@1", &in, "{\"relu\":false}", 14, &o),
		     KERN_OK);
	cr_assert_str_eq(dev, "cpu");
	cr_assert_eq(((float *)out.t[0].data)[0], 7.0f);
	kern_tensors_release(&out);
	kern_tensors_release(&in);
}
