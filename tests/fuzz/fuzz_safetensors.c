/*
 * fuzz_safetensors.c: libFuzzer harness for the strict safetensors reader
 * (kernels/safetensors.c), `make fuzz FUZZ_SECONDS=N`.  Built with ASan
 * and UBSan.
 *
 * Beyond "no crash, no leak, no undefined behaviour", on every input:
 * - the diagnostic is one NUL-terminated line, and a refusal leaves the
 *   set empty;
 * - a file that parses serialises, and the serialised form parses back to
 *   the same tensors and serialises to the same bytes (the writer's form
 *   is canonical);
 * - when the file holds an F32 tensor "x" of rank 1, reduce_sum_f32@1 runs
 *   on it and its output is the same on 1 and 2 threads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_diag(const struct kern_diag *d)
{
	size_t n = strnlen(d->msg, sizeof(d->msg));
	if (n == sizeof(d->msg) || memchr(d->msg, '\n', n))
		abort();
}

static void run_sum(const struct kern_tensors *in)
{
	struct kern_tensors o1, o2;
	struct kern_run_opts r1 = { KERN_DEVICE_CPU, 1 }, r2 = { KERN_DEVICE_CPU, 2 };
	struct kern_diag d;
	char dev[KERN_DEVICE_BYTES];
	enum kern_err e1, e2;

	kern_tensors_init(&o1);
	kern_tensors_init(&o2);
	e1 = kern_run(&o1, dev, &d, "reduce_sum_f32@1", in, "{}", 2, &r1);
	check_diag(&d);
	e2 = kern_run(&o2, dev, &d, "reduce_sum_f32@1", in, "{}", 2, &r2);
	if (e1 != e2)
		abort();
	if (e1 == KERN_OK && memcmp(o1.t[0].data, o2.t[0].data, 4) != 0)
		abort();
	kern_tensors_release(&o1);
	kern_tensors_release(&o2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kern_tensors s, s2;
	struct kern_diag d = { "" };
	uint8_t *buf = NULL, *buf2 = NULL;
	size_t len = 0, len2 = 0;

	kern_tensors_init(&s);
	kern_tensors_init(&s2);
	if (kern_st_parse(&s, &d, data, size) != KERN_OK) {
		check_diag(&d);
		if (s.count != 0)
			abort();
		return 0;
	}
	if (kern_st_serialize(&buf, &len, &d, &s) == KERN_OK) {
		if (kern_st_parse(&s2, &d, buf, len) != KERN_OK || s2.count != s.count)
			abort();
		for (size_t i = 0; i < s.count; i++) {
			const struct kern_tensor *a = &s.t[i];
			const struct kern_tensor *b = kern_tensors_find(&s2, a->name);
			if (!b || b->dtype != a->dtype || b->rank != a->rank ||
			    b->size_bytes != a->size_bytes ||
			    memcmp(b->shape, a->shape, sizeof a->shape) != 0 ||
			    memcmp(b->data, a->data, a->size_bytes) != 0)
				abort();
		}
		if (kern_st_serialize(&buf2, &len2, &d, &s2) != KERN_OK || len2 != len ||
		    memcmp(buf, buf2, len) != 0)
			abort();
	}
	{
		const struct kern_tensor *x = kern_tensors_find(&s, "x");
		if (x && s.count == 1 && x->dtype == KERN_DT_F32 && x->rank == 1 &&
		    x->elems <= 4096)
			run_sum(&s);
	}
	free(buf);
	free(buf2);
	kern_tensors_release(&s);
	kern_tensors_release(&s2);
	return 0;
}
