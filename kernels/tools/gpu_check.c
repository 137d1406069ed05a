/*
 * gpu_check.c: `make -C kernels gpu-check`.  Runs every kernel on the GPU
 * and on the CPU over random and edge inputs through the public API
 * (kern_run with device cuda, then cpu), compares the output bytes, then
 * times the GPU kernels and, when cuBLAS is present, compares matmul_f32
 * at 4096^3 against cublasSgemm in plain FP32 (CUBLAS_DEFAULT_MATH: no
 * TF32) and gemm_i8 against cublasGemmEx int8 -> int32.
 *
 * Exit status: 0 all bytes equal; 1 some output differed; 2 no device.
 * ASSAY_SEED=N fixes the random inputs (the seed is printed).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime.h>
#ifdef HAVE_CUBLAS
#include <cublas_v2.h>
#endif

#include "kernels.h"
#include "kern_internal.h"

#include "banned.h"

static uint64_t rng_state;

static uint64_t rng_u64(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static float f_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static const uint32_t edge_bits[] = {
	0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff,
	0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000, 0x7fa00001, 0x7f7fffff,
	0xff7fffff, 0x00800000, 0x3f800000, 0xbf800000,
};

/* mode 0: uniform [-1,1); 1: 1 in 8 an edge value; 2: random exponents. */
static float gen(int mode)
{
	float u = (float)((double)(rng_u64() >> 11) * 0x1p-53 * 2.0 - 1.0);
	if (mode == 1 && rng_u64() % 8 == 0)
		return f_of(edge_bits[rng_u64() % (sizeof edge_bits / sizeof edge_bits[0])]);
	if (mode == 2)
		return ldexpf(u, (int)(rng_u64() % 200) - 140);
	return u;
}

static void add(struct kern_tensors *s, const char *name, enum kern_dtype dt,
		uint32_t rank, const uint64_t *shape, int mode)
{
	struct kern_tensor *t;
	struct kern_diag d;

	if (kern_tensors_add(s, &t, &d, name, dt, rank, shape, NULL) != KERN_OK) {
		fprintf(stderr, "gpu_check: %s\n", d.msg);
		exit(2);
	}
	if (dt == KERN_DT_F32) {
		float *v = t->data;
		for (uint64_t i = 0; i < t->elems; i++)
			v[i] = gen(mode);
	} else {
		int8_t *v = t->data;
		for (uint64_t i = 0; i < t->elems; i++)
			v[i] = (int8_t)rng_u64();
	}
}

static int cases, failures;
/* The model of a model kernel's comparison (check_gpt2), else NULL. */
static const struct kern_tensors *cur_model;

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs on both devices and compares; returns GPU and CPU wall times. */
static void compare(const char *kernel, const struct kern_tensors *in,
		    const char *params, const char *what, double *gpu_ms, double *cpu_ms)
{
	struct kern_tensors og, oc;
	struct kern_run_opts cuda = { KERN_DEVICE_CUDA, 0, cur_model };
	struct kern_run_opts cpu = { KERN_DEVICE_CPU, 0, cur_model };
	struct kern_diag d = { "" };
	char dev[KERN_DEVICE_BYTES];
	enum kern_err rc;
	double t0, t1, t2;

	kern_tensors_init(&og);
	kern_tensors_init(&oc);
	cases++;
	t0 = now_ms();
	rc = kern_run(&og, dev, &d, kernel, in, params, strlen(params), &cuda);
	t1 = now_ms();
	if (rc == KERN_OK)
		rc = kern_run(&oc, dev, &d, kernel, in, params, strlen(params), &cpu);
	t2 = now_ms();
	if (gpu_ms)
		*gpu_ms = t1 - t0;
	if (cpu_ms)
		*cpu_ms = t2 - t1;
	if (rc != KERN_OK) {
		printf("FAIL %-18s %-28s run: %s\n", kernel, what, d.msg);
		failures++;
		goto out;
	}
	for (size_t i = 0; i < og.count; i++) {
		const struct kern_tensor *g = &og.t[i], *c = kern_tensors_find(&oc, g->name);
		if (c == NULL || c->size_bytes != g->size_bytes) {
			printf("FAIL %-18s %-28s output %s shape differs\n", kernel, what, g->name);
			failures++;
			goto out;
		}
		if (memcmp(g->data, c->data, g->size_bytes) != 0) {
			const uint32_t *gu = g->data, *cu = c->data;
			size_t n = g->size_bytes / 4, bad = 0, first = 0;
			for (size_t e = 0; e < n; e++)
				if (gu[e] != cu[e] && bad++ == 0)
					first = e;
			printf("FAIL %-18s %-28s %zu of %zu words differ; first [%zu] gpu %08x cpu %08x\n",
			       kernel, what, bad, n, first, gu[first], cu[first]);
			failures++;
			goto out;
		}
	}
out:
	kern_tensors_release(&og);
	kern_tensors_release(&oc);
}

static void check_matmul(void)
{
	static const uint64_t shapes[][3] = { { 1, 1, 1 }, { 17, 33, 65 }, { 128, 128, 128 },
		{ 129, 257, 131 }, { 1000, 37, 3 }, { 3, 2000, 5 }, { 512, 512, 512 },
		{ 1, 4099, 1 }, { 300, 7, 1100 } };
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (int v = 0; v < 12; v++) {
			struct kern_tensors in;
			uint64_t sa[2] = { shapes[s][0], shapes[s][1] };
			uint64_t sb[2] = { shapes[s][1], shapes[s][2] }, sc[1] = { shapes[s][2] };
			char what[64];
			int mode = v % 3, bias = (v / 3) & 1, relu = v / 6;
			kern_tensors_init(&in);
			add(&in, "a", KERN_DT_F32, 2, sa, mode);
			add(&in, "b", KERN_DT_F32, 2, sb, mode);
			if (bias)
				add(&in, "bias", KERN_DT_F32, 1, sc, mode);
			snprintf(what, sizeof what, "%llux%llux%llu m%d b%d r%d",
				 (unsigned long long)sa[0], (unsigned long long)sa[1],
				 (unsigned long long)sb[1], mode, bias, relu);
			compare("matmul_f32@1", &in, relu ? "{\"relu\":true}" : "{\"relu\":false}",
				what, NULL, NULL);
			kern_tensors_release(&in);
		}
}

static void check_gemm_i8(void)
{
	static const uint64_t shapes[][3] = { { 1, 1, 1 }, { 17, 33, 65 }, { 256, 1024, 256 },
		{ 100, 5000, 7 }, { 64, 131071, 2 } };
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
		struct kern_tensors in;
		uint64_t sa[2] = { shapes[s][0], shapes[s][1] }, sb[2] = { shapes[s][1], shapes[s][2] };
		char what[64];
		kern_tensors_init(&in);
		add(&in, "a", KERN_DT_I8, 2, sa, 0);
		add(&in, "b", KERN_DT_I8, 2, sb, 0);
		snprintf(what, sizeof what, "%llux%llux%llu", (unsigned long long)sa[0],
			 (unsigned long long)sa[1], (unsigned long long)sb[1]);
		compare("gemm_i8@1", &in, "{}", what, NULL, NULL);
		kern_tensors_release(&in);
	}
}

static void check_reduce(void)
{
	static const uint64_t sizes[] = { 1, 2, 3, 7, 1000, 1023, 1024, 1025, 4097,
		1u << 20, (1u << 22) + 17, 3000000 };
	for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
		for (int mode = 0; mode < 3; mode++) {
			struct kern_tensors in;
			uint64_t sh[1] = { sizes[s] };
			char what[64];
			kern_tensors_init(&in);
			add(&in, "x", KERN_DT_F32, 1, sh, mode);
			snprintf(what, sizeof what, "n=%llu m%d", (unsigned long long)sizes[s], mode);
			compare("reduce_sum_f32@1", &in, "{}", what, NULL, NULL);
			kern_tensors_release(&in);
		}
}

static void check_rowwise(void)
{
	static const uint64_t shapes[][2] = { { 1, 1 }, { 17, 65 }, { 64, 1000 }, { 3, 5000 },
		{ 1000, 33 }, { 2, 65536 }, { 5, 1024 }, { 7, 2049 } };
	for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
		for (int mode = 0; mode < 3; mode++) {
			struct kern_tensors in;
			uint64_t sh[2] = { shapes[s][0], shapes[s][1] }, sc[1] = { shapes[s][1] };
			char what[64];
			kern_tensors_init(&in);
			add(&in, "x", KERN_DT_F32, 2, sh, mode);
			snprintf(what, sizeof what, "%llux%llu m%d", (unsigned long long)sh[0],
				 (unsigned long long)sh[1], mode);
			compare("softmax_f32@1", &in, "{}", what, NULL, NULL);
			add(&in, "gamma", KERN_DT_F32, 1, sc, 0);
			add(&in, "beta", KERN_DT_F32, 1, sc, 0);
			compare("layernorm_f32@1", &in, "{\"eps\":1e-05}", what, NULL, NULL);
			kern_tensors_release(&in);
		}
}

static void check_conv(void)
{
	/* n c h w o kh kw ph pw sh sw */
	static const uint64_t cs[][11] = {
		{ 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1 }, { 2, 3, 17, 33, 4, 3, 3, 1, 1, 1, 1 },
		{ 1, 2, 16, 16, 3, 5, 3, 2, 0, 2, 3 }, { 3, 1, 9, 7, 2, 1, 7, 3, 5, 4, 1 },
		{ 2, 16, 32, 32, 8, 3, 3, 1, 1, 1, 1 }, { 1, 1, 5, 5, 1, 3, 3, 6, 6, 2, 2 },
	};
	for (size_t s = 0; s < sizeof cs / sizeof cs[0]; s++)
		for (int v = 0; v < 6; v++) {
			const uint64_t *c = cs[s];
			struct kern_tensors in;
			uint64_t sx[4] = { c[0], c[1], c[2], c[3] }, sw[4] = { c[4], c[1], c[5], c[6] };
			uint64_t sb[1] = { c[4] };
			char what[64], params[96];
			kern_tensors_init(&in);
			add(&in, "x", KERN_DT_F32, 4, sx, v % 3);
			add(&in, "w", KERN_DT_F32, 4, sw, v % 3);
			if (v >= 3)
				add(&in, "bias", KERN_DT_F32, 1, sb, v % 3);
			snprintf(params, sizeof params, "{\"padding\":[%llu,%llu],\"stride\":[%llu,%llu]}",
				 (unsigned long long)c[7], (unsigned long long)c[8],
				 (unsigned long long)c[9], (unsigned long long)c[10]);
			snprintf(what, sizeof what, "case %zu v%d", s, v);
			compare("conv2d_f32@1", &in, params, what, NULL, NULL);
			kern_tensors_release(&in);
		}
}

static void check_mlp(void)
{
	static const uint64_t dims[][5] = { { 1, 1, 1, 0, 0 }, { 33, 64, 17, 10, 0 },
		{ 784, 512, 256, 10, 0 } };
	for (size_t s = 0; s < sizeof dims / sizeof dims[0]; s++)
		for (int mode = 0; mode < 2; mode++) {
			struct kern_tensors in;
			uint64_t sx[2] = { 37, dims[s][0] };
			char what[64];
			kern_tensors_init(&in);
			add(&in, "x", KERN_DT_F32, 2, sx, mode);
			for (int l = 0; l < 4 && dims[s][l + 1]; l++) {
				char nm[8];
				uint64_t sw[2] = { dims[s][l], dims[s][l + 1] }, sb[1] = { dims[s][l + 1] };
				snprintf(nm, sizeof nm, "w%d", l);
				add(&in, nm, KERN_DT_F32, 2, sw, mode);
				snprintf(nm, sizeof nm, "b%d", l);
				add(&in, nm, KERN_DT_F32, 1, sb, mode);
			}
			snprintf(what, sizeof what, "model %zu m%d", s, mode);
			compare("mlp_f32@1", &in, "{}", what, NULL, NULL);
			kern_tensors_release(&in);
		}
}

/* ------------------------------------------------------------------ */
/* Timing                                                               */

#define CKR(x)                                                                  \
	do {                                                                    \
		cudaError_t e_ = (x);                                           \
		if (e_ != cudaSuccess) {                                        \
			printf("gpu_check: %s: %s\n", #x, cudaGetErrorString(e_)); \
			return;                                                 \
		}                                                               \
	} while (0)

static void time_gemms(void)
{
	const size_t n = 4096;
	float *ha = malloc(n * n * 4), *hb = malloc(n * n * 4), *hc = malloc(n * n * 4);
	float *hr = malloc(n * n * 4);
	int8_t *ia = malloc(n * n), *ib = malloc(n * n);
	int32_t *ic = malloc(n * n * 4), *ir = malloc(n * n * 4);
	float *da, *db, *dc;
	int8_t *dia, *dib;
	int32_t *dic;
	cudaEvent_t e0, e1;
	float ms;
	char err[256];
	const int reps = 5;
	double ours_f = 0, ours_i = 0, ref_f = 0, ref_i = 0;

	for (size_t i = 0; i < n * n; i++) {
		ha[i] = gen(0);
		hb[i] = gen(0);
		ia[i] = (int8_t)rng_u64();
		ib[i] = (int8_t)rng_u64();
	}
	CKR(cudaMalloc((void **)&da, n * n * 4));
	CKR(cudaMalloc((void **)&db, n * n * 4));
	CKR(cudaMalloc((void **)&dc, n * n * 4));
	CKR(cudaMalloc((void **)&dia, n * n));
	CKR(cudaMalloc((void **)&dib, n * n));
	CKR(cudaMalloc((void **)&dic, n * n * 4));
	CKR(cudaMemcpy(da, ha, n * n * 4, cudaMemcpyHostToDevice));
	CKR(cudaMemcpy(db, hb, n * n * 4, cudaMemcpyHostToDevice));
	CKR(cudaMemcpy(dia, ia, n * n, cudaMemcpyHostToDevice));
	CKR(cudaMemcpy(dib, ib, n * n, cudaMemcpyHostToDevice));
	CKR(cudaEventCreate(&e0));
	CKR(cudaEventCreate(&e1));

	(void)kern_cuda_matmul_dev(err, dc, da, db, n, n, n);
	CKR(cudaDeviceSynchronize());
	CKR(cudaEventRecord(e0, 0));
	for (int r = 0; r < reps; r++)
		(void)kern_cuda_matmul_dev(err, dc, da, db, n, n, n);
	CKR(cudaEventRecord(e1, 0));
	CKR(cudaEventSynchronize(e1));
	CKR(cudaEventElapsedTime(&ms, e0, e1));
	ours_f = 2.0 * n * n * n * reps / (ms * 1e-3) / 1e9;
	CKR(cudaMemcpy(hc, dc, n * n * 4, cudaMemcpyDeviceToHost));

	(void)kern_cuda_gemm_i8_dev(err, dic, dia, dib, n, n, n);
	CKR(cudaDeviceSynchronize());
	CKR(cudaEventRecord(e0, 0));
	for (int r = 0; r < reps; r++)
		(void)kern_cuda_gemm_i8_dev(err, dic, dia, dib, n, n, n);
	CKR(cudaEventRecord(e1, 0));
	CKR(cudaEventSynchronize(e1));
	CKR(cudaEventElapsedTime(&ms, e0, e1));
	ours_i = 2.0 * n * n * n * reps / (ms * 1e-3) / 1e9;
	CKR(cudaMemcpy(ic, dic, n * n * 4, cudaMemcpyDeviceToHost));

#ifdef HAVE_CUBLAS
	{
		cublasHandle_t h;
		const float one = 1.0f, zero = 0.0f;
		const int32_t ione = 1, izero = 0;
		double maxrel = 0;
		size_t idiff = 0;
		if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS ||
		    cublasSetMathMode(h, CUBLAS_DEFAULT_MATH) != CUBLAS_STATUS_SUCCESS) {
			printf("gpu_check: cuBLAS unusable\n");
			goto table;
		}
		/* Row-major C = A B is column-major C^T = B^T A^T. */
		(void)cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)n, (int)n, &one,
				  db, (int)n, da, (int)n, &zero, dc, (int)n);
		CKR(cudaDeviceSynchronize());
		CKR(cudaEventRecord(e0, 0));
		for (int r = 0; r < reps; r++)
			(void)cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)n, (int)n, &one,
					  db, (int)n, da, (int)n, &zero, dc, (int)n);
		CKR(cudaEventRecord(e1, 0));
		CKR(cudaEventSynchronize(e1));
		CKR(cudaEventElapsedTime(&ms, e0, e1));
		ref_f = 2.0 * n * n * n * reps / (ms * 1e-3) / 1e9;
		CKR(cudaMemcpy(hr, dc, n * n * 4, cudaMemcpyDeviceToHost));
		for (size_t i = 0; i < n * n; i++) {
			double rel = fabs((double)hr[i] - hc[i]) / (fabs((double)hr[i]) + 1e-3);
			if (rel > maxrel)
				maxrel = rel;
		}
		cublasStatus_t st = cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)n,
						 (int)n, &ione, dib, CUDA_R_8I, (int)n, dia,
						 CUDA_R_8I, (int)n, &izero, dic, CUDA_R_32I,
						 (int)n, CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT);
		if (st == CUBLAS_STATUS_SUCCESS) {
			CKR(cudaDeviceSynchronize());
			CKR(cudaEventRecord(e0, 0));
			for (int r = 0; r < reps; r++)
				(void)cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)n, (int)n,
						   (int)n, &ione, dib, CUDA_R_8I, (int)n, dia,
						   CUDA_R_8I, (int)n, &izero, dic, CUDA_R_32I,
						   (int)n, CUBLAS_COMPUTE_32I, CUBLAS_GEMM_DEFAULT);
			CKR(cudaEventRecord(e1, 0));
			CKR(cudaEventSynchronize(e1));
			CKR(cudaEventElapsedTime(&ms, e0, e1));
			ref_i = 2.0 * n * n * n * reps / (ms * 1e-3) / 1e9;
			CKR(cudaMemcpy(ir, dic, n * n * 4, cudaMemcpyDeviceToHost));
			for (size_t i = 0; i < n * n; i++)
				idiff += ir[i] != ic[i];
		} else {
			printf("gpu_check: cublasGemmEx int8 refused (status %d)\n", (int)st);
		}
		printf("cuBLAS cross-check: sgemm max relative difference %.3g (different "
		       "order, not expected bitwise); int8 gemm %zu differing values "
		       "(exact: expect 0)\n", maxrel, idiff);
		if (idiff)
			failures++;
		cublasDestroy(h);
	}
table:
#endif
	printf("\n%-28s %12s %12s %8s\n", "4096^3 on device", "ours GF/s", "cuBLAS GF/s", "ratio");
	printf("%-28s %12.0f %12.0f %7.0f%%\n", "matmul_f32 vs Sgemm FP32", ours_f, ref_f,
	       ref_f > 0 ? 100.0 * ours_f / ref_f : 0.0);
	printf("%-28s %12.0f %12.0f %7.0f%%\n", "gemm_i8 vs GemmEx int8", ours_i, ref_i,
	       ref_i > 0 ? 100.0 * ours_i / ref_i : 0.0);
	cudaFree(da);
	cudaFree(db);
	cudaFree(dc);
	cudaFree(dia);
	cudaFree(dib);
	cudaFree(dic);
	free(ha);
	free(hb);
	free(hc);
	free(hr);
	free(ia);
	free(ib);
	free(ic);
	free(ir);
}

/* A GPT-2-shaped model of L layers, width D, F = 4D, V tokens, P
 * positions (uniform [-1,1) weights scaled by `scale`, LayerNorm gains
 * near 1), with the Hugging Face names. */
static void gpt2_model(struct kern_tensors *m, uint64_t L, uint64_t D, uint64_t V, uint64_t P,
		       float scale)
{
	static const char *const n[12] = { "ln_1.weight", "ln_1.bias", "attn.c_attn.weight",
		"attn.c_attn.bias", "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight",
		"ln_2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight",
		"mlp.c_proj.bias" };
	const uint64_t d0[12] = { D, D, D, 3 * D, D, D, D, D, D, 4 * D, 4 * D, D };
	const uint64_t d1[12] = { 0, 0, 3 * D, 0, D, 0, 0, 0, 4 * D, 0, D, 0 };
	char name[64];

	kern_tensors_init(m);
	for (uint64_t l = 0; l <= L; l++) {
		for (int q = 0; q < (l < L ? 12 : 4); q++) {
			const char *top[4] = { "wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias" };
			uint64_t sh[2] = { l < L ? d0[q] : (q == 0 ? V : q == 1 ? P : D),
					   l < L ? d1[q] : (q < 2 ? D : 0) };
			struct kern_tensor *t;
			if (l < L)
				snprintf(name, sizeof name, "h.%llu.%s", (unsigned long long)l, n[q]);
			else
				snprintf(name, sizeof name, "%s", top[q]);
			add(m, name, KERN_DT_F32, sh[1] ? 2 : 1, sh, 0);
			t = &m->t[m->count - 1];
			for (uint64_t e = 0; e < t->elems; e++)
				((float *)t->data)[e] = strstr(name, "ln_") && strstr(name, "weight")
					? 1.0f + 0.1f * ((float *)t->data)[e]
					: scale * ((float *)t->data)[e];
		}
	}
}

static void gpt2_prompts(struct kern_tensors *in, uint64_t b, uint64_t t, uint64_t V)
{
	uint64_t sh[2] = { b, t };
	struct kern_tensor *x;

	kern_tensors_init(in);
	if (kern_tensors_add(in, &x, NULL, "tokens", KERN_DT_I32, 2, sh, NULL) != KERN_OK)
		exit(2);
	for (uint64_t i = 0; i < b * t; i++)
		((int32_t *)x->data)[i] = (int32_t)(rng_u64() % V);
}

/* Small models, batches of 1 and 3, prompts of 5 and 40 tokens. */
static void check_gpt2(void)
{
	static const char params[] = "{\"heads\":4,\"max_new_tokens\":6,\"model\":\"0x"
		"0000000000000000000000000000000000000000000000000000000000000000\",\"modelSize\":1}";
	struct kern_tensors m, in;
	char what[64];

	gpt2_model(&m, 2, 64, 300, 64, 0.2f);
	cur_model = &m;
	for (uint64_t b = 1; b <= 3; b += 2) {
		for (uint64_t t = 5; t <= 40; t += 35) {
			gpt2_prompts(&in, b, t, 300);
			snprintf(what, sizeof what, "B=%llu T=%llu N=6", (unsigned long long)b,
				 (unsigned long long)t);
			compare("gpt2_f32@1", &in, params, what, NULL, NULL);
			kern_tensors_release(&in);
		}
	}
	cur_model = NULL;
	kern_tensors_release(&m);
}

static void time_others(void)
{
	struct kern_tensors in;
	double g, c;

	printf("\n%-40s %12s %12s\n", "kernel (wall, incl. host<->device copies)", "GPU ms", "CPU ms");
	{
		uint64_t sh[1] = { 1u << 26 };
		kern_tensors_init(&in);
		add(&in, "x", KERN_DT_F32, 1, sh, 0);
		compare("reduce_sum_f32@1", &in, "{}", "n=2^26", &g, &c);
		printf("%-40s %12.1f %12.1f\n", "reduce_sum_f32 n=2^26", g, c);
		kern_tensors_release(&in);
	}
	{
		uint64_t sh[2] = { 4096, 4096 }, sc[1] = { 4096 };
		kern_tensors_init(&in);
		add(&in, "x", KERN_DT_F32, 2, sh, 0);
		compare("softmax_f32@1", &in, "{}", "4096x4096", &g, &c);
		printf("%-40s %12.1f %12.1f\n", "softmax_f32 4096x4096", g, c);
		add(&in, "gamma", KERN_DT_F32, 1, sc, 0);
		add(&in, "beta", KERN_DT_F32, 1, sc, 0);
		compare("layernorm_f32@1", &in, "{\"eps\":1e-05}", "4096x4096", &g, &c);
		printf("%-40s %12.1f %12.1f\n", "layernorm_f32 4096x4096", g, c);
		kern_tensors_release(&in);
	}
	{
		uint64_t sx[4] = { 8, 64, 64, 64 }, sw[4] = { 64, 64, 3, 3 };
		kern_tensors_init(&in);
		add(&in, "x", KERN_DT_F32, 4, sx, 0);
		add(&in, "w", KERN_DT_F32, 4, sw, 0);
		compare("conv2d_f32@1", &in, "{\"padding\":[1,1],\"stride\":[1,1]}", "8x64x64x64 k3",
			&g, &c);
		printf("%-40s %12.1f %12.1f\n", "conv2d_f32 8x64x64x64, 64x3x3", g, c);
		kern_tensors_release(&in);
	}
	{
		uint64_t sa[2] = { 2048, 2048 };
		kern_tensors_init(&in);
		add(&in, "a", KERN_DT_F32, 2, sa, 0);
		add(&in, "b", KERN_DT_F32, 2, sa, 0);
		compare("matmul_f32@1", &in, "{\"relu\":false}", "2048^3", &g, &c);
		printf("%-40s %12.1f %12.1f\n", "matmul_f32 2048^3", g, c);
		kern_tensors_release(&in);
	}
	{
		/* GPT-2 small's shape: the weights' copy to the device counts. */
		static const char params[] = "{\"heads\":12,\"max_new_tokens\":16,\"model\":\"0x"
			"0000000000000000000000000000000000000000000000000000000000000000\","
			"\"modelSize\":1}";
		struct kern_tensors m;
		gpt2_model(&m, 12, 768, 50257, 1024, 0.02f);
		cur_model = &m;
		gpt2_prompts(&in, 1, 8, 50257);
		compare("gpt2_f32@1", &in, params, "124M B=1 T=8 N=16", &g, &c);
		printf("%-40s %12.1f %12.1f\n", "gpt2_f32 124M, 8 + 16 tokens", g, c);
		cur_model = NULL;
		kern_tensors_release(&in);
		kern_tensors_release(&m);
	}
}

int main(void)
{
	char dev[KERN_DEVICE_BYTES];
	const char *env = getenv("ASSAY_SEED");
	uint64_t seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);

	if (!kern_cuda_available(dev)) {
		fprintf(stderr, "gpu_check: no usable CUDA device\n");
		return 2;
	}
	rng_state = seed;
	printf("gpu_check: device %s, ASSAY_SEED=%llu\n", dev, (unsigned long long)seed);
	check_matmul();
	check_gemm_i8();
	check_reduce();
	check_rowwise();
	check_conv();
	check_mlp();
	check_gpt2();
	printf("bit-equality: %d cases, %d differ\n", cases, failures);
	time_gemms();
	time_others();
	printf("\ngpu_check: %s (%d cases, %d failures)\n", failures ? "FAILED" : "ok",
	       cases, failures);
	return failures ? 1 : 0;
}
