/*
 * cmd_tensor.c: `assay tensor`, small tools around safetensors files for
 * demos, tests and customers preparing inputs:
 *
 *   assay tensor random --out FILE [--seed N] NAME:DTYPE:D0xD1x... ...
 *   assay tensor show FILE [--values N]
 *
 * `random` fills tensors from a seeded xorshift64* stream (the same seed
 * gives the same bytes on every machine): F32 values uniform in [-1, 1)
 * with 24 random bits (exactly representable), I8 uniform in [-128, 127].
 * The file is written by the kernels library's deterministic writer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "cli.h"
#include "banned.h"

/* At most this many tensors on one command line. */
#define TENSOR_SPECS_MAX CLI_POS_MAX

static const char TENSOR_USAGE[] =
	"usage: assay tensor random --out FILE [--seed N] NAME:DTYPE:SHAPE ...\n"
	"       assay tensor show FILE [--values N]\n"
	"\n"
	"random  write a safetensors file of seeded pseudo-random tensors;\n"
	"        DTYPE is F32 (uniform in [-1, 1)) or I8; SHAPE is dimensions\n"
	"        joined by 'x', e.g. a:F32:64x32 (at most 32 tensors)\n"
	"show    print each tensor's name, dtype and shape and its first N\n"
	"        values (default 4)\n";

static uint64_t xs_next(uint64_t *s)
{
	/* xorshift64* (Vigna): fine for test data, not for secrets. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static int parse_spec(const char *spec, char *name, size_t name_len,
		      enum kern_dtype *dt, uint32_t *rank, uint64_t *shape)
{
	const char *c1 = strchr(spec, ':'), *c2, *p;
	char dtype[8];

	if (!c1 || (size_t)(c1 - spec) == 0 || (size_t)(c1 - spec) >= name_len)
		return -1;
	c2 = strchr(c1 + 1, ':');
	if (!c2 || (size_t)(c2 - c1 - 1) == 0 || (size_t)(c2 - c1 - 1) >= sizeof(dtype))
		return -1;
	snprintf(name, name_len, "%.*s", (int)(c1 - spec), spec);
	snprintf(dtype, sizeof(dtype), "%.*s", (int)(c2 - c1 - 1), c1 + 1);
	if (kern_dtype_parse(dt, dtype) != KERN_OK ||
	    (*dt != KERN_DT_F32 && *dt != KERN_DT_I8))
		return -1;
	*rank = 0;
	p = c2 + 1;
	while (*p) {
		char *end;
		unsigned long long d;
		if (*rank >= KERN_RANK_MAX || *p < '0' || *p > '9')
			return -1;
		errno = 0;
		d = strtoull(p, &end, 10);
		if (errno || end == p || d == 0)
			return -1;
		shape[(*rank)++] = d;
		p = end;
		if (*p == 'x')
			p++;
		else if (*p)
			return -1;
	}
	return *rank > 0 ? 0 : -1;
}

static int tensor_random(int argc, char **argv)
{
	static const struct cli_opt opts[] = { { "out", 0, 1 }, { "seed", 0, 0 } };
	struct cli_args a;
	struct kern_tensors set;
	struct kern_diag d = { "" };
	unsigned long long seed = 1;
	int ret = 1;

	if (cli_parse(&a, argc, argv, opts, 2, 0, TENSOR_SPECS_MAX))
		return 2;
	if (a.help) {
		fputs(TENSOR_USAGE, stdout);
		return 0;
	}
	if (a.npos == 0) {
		cli_err("tensor random: give at least one NAME:DTYPE:SHAPE");
		return 2;
	}
	if (a.val[1]) {
		char *end;
		errno = 0;
		seed = strtoull(a.val[1], &end, 10);
		if (errno || *end || a.val[1][0] == '-' || !a.val[1][0]) {
			cli_err("tensor random: --seed must be a non-negative integer");
			return 2;
		}
	}
	kern_tensors_init(&set);
	for (size_t i = 0; i < a.npos; i++) {
		char name[KERN_NAME_BYTES_MAX + 1];
		enum kern_dtype dt;
		uint32_t rank;
		uint64_t shape[KERN_RANK_MAX];
		struct kern_tensor *t;
		uint64_t s;
		enum kern_err rc;

		if (parse_spec(a.pos[i], name, sizeof(name), &dt, &rank, shape)) {
			cli_err("tensor random: bad spec '%.64s' (NAME:F32|I8:D0xD1x...)",
				a.pos[i]);
			ret = 2;
			goto out;
		}
		rc = kern_tensors_add(&set, &t, &d, name, dt, rank, shape, NULL);
		if (rc) {
			cli_err("tensor random: '%s': %s", name, d.msg[0] ? d.msg : kern_strerror(rc));
			goto out;
		}
		/* Each tensor's stream depends on the seed and its position. */
		s = (seed + 1) * 0x9E3779B97F4A7C15ull + (i + 1) * 0xD1B54A32D192ED03ull;
		if (dt == KERN_DT_F32) {
			float *f = t->data;
			for (uint64_t e = 0; e < t->elems; e++) {
				int32_t r = (int32_t)(xs_next(&s) >> 40); /* 24 bits */
				f[e] = (float)(r - (1 << 23)) / (float)(1 << 23);
			}
		} else {
			int8_t *b = t->data;
			for (uint64_t e = 0; e < t->elems; e++)
				b[e] = (int8_t)(xs_next(&s) >> 56);
		}
	}
	{
		enum kern_err rc = kern_st_write_file(&d, a.val[0], &set);
		if (rc) {
			cli_err("tensor random: %s", d.msg[0] ? d.msg : kern_strerror(rc));
			goto out;
		}
	}
	ret = 0;
out:
	kern_tensors_release(&set);
	return ret;
}

static int tensor_show(int argc, char **argv)
{
	static const struct cli_opt opts[] = { { "values", 0, 0 } };
	struct cli_args a;
	struct kern_tensors set;
	struct kern_diag d = { "" };
	unsigned long nvals = 4;
	enum kern_err rc;

	if (cli_parse(&a, argc, argv, opts, 1, 1, 1))
		return 2;
	if (a.help) {
		fputs(TENSOR_USAGE, stdout);
		return 0;
	}
	if (a.val[0]) {
		char *end;
		errno = 0;
		nvals = strtoul(a.val[0], &end, 10);
		if (errno || *end || nvals > 1000) {
			cli_err("tensor show: --values must be 0 to 1000");
			return 2;
		}
	}
	kern_tensors_init(&set);
	rc = kern_st_read_file(&set, &d, a.pos[0]);
	if (rc) {
		cli_err("tensor show: '%s': %s", a.pos[0], d.msg[0] ? d.msg : kern_strerror(rc));
		return 1;
	}
	for (size_t i = 0; i < set.count; i++) {
		const struct kern_tensor *t = &set.t[i];
		printf("%s %s [", t->name, kern_dtype_name(t->dtype));
		for (uint32_t r = 0; r < t->rank; r++)
			printf("%s%llu", r ? "," : "", (unsigned long long)t->shape[r]);
		printf("]");
		for (uint64_t e = 0; e < t->elems && e < nvals; e++) {
			if (t->dtype == KERN_DT_F32)
				printf(" %.9g", (double)((const float *)t->data)[e]);
			else if (t->dtype == KERN_DT_I8)
				printf(" %d", ((const int8_t *)t->data)[e]);
			else if (t->dtype == KERN_DT_I32)
				printf(" %d", ((const int32_t *)t->data)[e]);
		}
		printf("%s\n", t->elems > nvals ? " ..." : "");
	}
	kern_tensors_release(&set);
	return 0;
}

int cmd_tensor(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(TENSOR_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "random") == 0)
		return tensor_random(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return tensor_show(argc - 1, argv + 1);
	cli_err("tensor: unknown subcommand '%.32s' (random, show)", argv[1]);
	return 2;
}
