/*
 * bench_validator.c: a validator's re-execution of a sampled job on the
 * CPU, as a ratio to the provider's CPU run of the same job (issue 6).
 *
 * The provider's run: the sandboxed worker (sbx_run, one thread)
 * and the output commitment.  The validator's: the input checked against
 * the job's commitment, the same sandboxed worker, the output checked
 * against the receipt (valid_check_input / valid_check_output).  Network
 * fetches are left out (bench_provider measures HTTP).  Rates alternate
 * in slices of about a second, best of three, so that a busy second core
 * hurts both alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "kernels.h"
#include "receipts.h"
#include "validator.h"
#include "sandbox.h"

#include "banned.h"

#define SLICE_S 1.0
#define ROUNDS 3

struct vjob {
	const char *kernel, *params, *label;
	char path[256];
	uint8_t *in;
	size_t in_len;
	struct rcpt_job job;
	struct rcpt_receipt receipt;
};

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static int add_random(struct kern_tensors *s, const char *name, uint32_t rank,
		      const uint64_t *shape, uint32_t *seed)
{
	struct kern_tensor *t;

	if (kern_tensors_add(s, &t, NULL, name, KERN_DT_F32, rank, shape, NULL) != KERN_OK)
		return -1;
	for (uint64_t i = 0; i < t->elems; i++)
		((float *)t->data)[i] = (float)((int)(lcg(seed) % 2001) - 1000) / 1000.0f;
	return 0;
}

static int run_worker(const struct vjob *v, uint8_t **out, size_t *out_len)
{
	struct sbx_job wj = { 0 };
	struct sbx_report rep;

	wj.kernel = v->kernel;
	wj.params = v->params;
	wj.params_len = strlen(v->params);
	wj.in = v->in;
	wj.in_len = v->in_len;
	wj.scratch_base = "/tmp";
	return sbx_run(out, out_len, &rep, &wj) == SBX_OK ? 0 : -1;
}

/* One provider run: worker + commitment.  0 or -1. */
static int provider_once(struct vjob *v, int record)
{
	struct rcpt_commitment c;
	uint8_t *out;
	size_t len;

	if (run_worker(v, &out, &len) || rcpt_commit_buf(&c, out, len) != RCPT_OK) {
		free(out);
		return -1;
	}
	if (record) {
		memcpy(v->receipt.output_root, c.root, RCPT_HASH_BYTES);
		v->receipt.output_size = c.size;
	}
	free(out);
	return 0;
}

/* One validator re-execution: input check, worker, output check. */
static int validator_once(const struct vjob *v)
{
	uint8_t *out;
	size_t len;
	int rc;

	if (valid_check_input(&v->job, v->in, v->in_len) != VALID_OK || run_worker(v, &out, &len))
		return -1;
	rc = valid_check_output(&v->receipt, out, len) == VALID_OK ? 0 : -1;
	free(out);
	return rc;
}

static double rate(struct vjob *v, int validator)
{
	double t0 = bench_now_s(), t;
	unsigned n = 0;

	do {
		if (validator ? validator_once(v) : provider_once(v, 0))
			return -1;
		n++;
		t = bench_now_s();
	} while (t - t0 < SLICE_S);
	return n / (t - t0);
}

static int setup(struct vjob *v, struct kern_tensors *s)
{
	struct rcpt_commitment c;
	FILE *f;

	if (kern_st_serialize(&v->in, &v->in_len, NULL, s) != KERN_OK)
		return -1;
	snprintf(v->path, sizeof(v->path), "/tmp/assay-bench-valid-%ld-%s.safetensors",
		 (long)getpid(), v->label);
	f = fopen(v->path, "wb");
	if (!f || fwrite(v->in, 1, v->in_len, f) != v->in_len || fclose(f) != 0)
		return -1;
	if (rcpt_commit_buf(&c, v->in, v->in_len) != RCPT_OK)
		return -1;
	memcpy(v->job.input_root, c.root, RCPT_HASH_BYTES);
	v->job.input_size = c.size;
	return provider_once(v, 1);
}

void bench_validator(void)
{
	struct vjob jobs[2];
	uint32_t seed = 42;

	memset(jobs, 0, sizeof(jobs));
	jobs[0].kernel = "matmul_f32@1";
	jobs[0].params = "{\"relu\":false}";
	jobs[0].label = "matmul";
	jobs[1].kernel = "mlp_f32@1";
	jobs[1].params = "{}";
	jobs[1].label = "mlp";
	{
		struct kern_tensors s;
		uint64_t a[2] = { 256, 256 }, b[2] = { 256, 256 };
		kern_tensors_init(&s);
		if (add_random(&s, "a", 2, a, &seed) || add_random(&s, "b", 2, b, &seed) ||
		    setup(&jobs[0], &s)) {
			printf("validator: could not set up the matmul job\n");
			kern_tensors_release(&s);
			return;
		}
		kern_tensors_release(&s);
	}
	{
		struct kern_tensors s;
		uint64_t x[2] = { 64, 512 }, w0[2] = { 512, 512 }, b0[1] = { 512 },
			 w1[2] = { 512, 10 }, b1[1] = { 10 };
		kern_tensors_init(&s);
		if (add_random(&s, "x", 2, x, &seed) || add_random(&s, "w0", 2, w0, &seed) ||
		    add_random(&s, "b0", 1, b0, &seed) || add_random(&s, "w1", 2, w1, &seed) ||
		    add_random(&s, "b1", 1, b1, &seed) || setup(&jobs[1], &s)) {
			printf("validator: could not set up the mlp job\n");
			kern_tensors_release(&s);
			return;
		}
		kern_tensors_release(&s);
	}
	for (size_t i = 0; i < 2; i++) {
		double best_p = 0, best_v = 0, r;
		char what[64];
		for (int k = 0; k < ROUNDS; k++) {
			r = rate(&jobs[i], 0);
			if (r > best_p)
				best_p = r;
			r = rate(&jobs[i], 1);
			if (r > best_v)
				best_v = r;
		}
		snprintf(what, sizeof(what), "validator re-exec %s", jobs[i].label);
		bench_row(what, best_v, best_p, "jobs/s", "provider's CPU run (sandbox)", 0);
		unlink(jobs[i].path);
		free(jobs[i].in);
	}
}
