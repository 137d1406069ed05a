/*
 * test_safetensors.c: the strict safetensors reader and deterministic
 * writer (kernels/safetensors.c), and kern_run_file end to end.
 * Every refusal case is a hand-built file with the error it must get.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels.h"
#include "receipts.h"
#include "testutil.h"

#include "banned.h"

/* 8-byte LE length + header + data. */
static size_t build(uint8_t *out, size_t cap, const char *header,
		    const void *data, size_t data_len)
{
	size_t hl = strlen(header);
	cr_assert(8 + hl + data_len <= cap);
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)((uint64_t)hl >> (8 * i));
	memcpy(out + 8, header, hl);
	if (data_len)
		memcpy(out + 8 + hl, data, data_len);
	return 8 + hl + data_len;
}

static enum kern_err parse_hdr(const char *header, size_t data_len)
{
	static uint8_t buf[8192];
	uint8_t data[512] = { 0 };
	struct kern_tensors s;
	struct kern_diag d = { "" };
	enum kern_err rc;
	size_t len;

	cr_assert(data_len <= sizeof data);
	len = build(buf, sizeof buf, header, data, data_len);
	kern_tensors_init(&s);
	rc = kern_st_parse(&s, &d, buf, len);
	if (rc != KERN_OK) {
		cr_assert(d.msg[0] != '\0');
		cr_assert_eq(s.count, 0);
	}
	kern_tensors_release(&s);
	return rc;
}

Test(safetensors, roundtrip_and_exact_form)
{
	struct kern_tensors s, back;
	struct kern_diag d;
	uint64_t sb[2] = { 2, 3 }, sa[1] = { 2 };
	float fb[6] = { 1, 2, 3, 4, 5, 6 };
	int8_t ia[2] = { -1, 7 };
	uint8_t *buf;
	size_t len;
	static const char want_hdr[] =
		"{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]},"
		"\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[2,26]}}";

	kern_tensors_init(&s);
	/* added out of order: the writer sorts by name */
	cr_assert_eq(kern_tensors_add(&s, NULL, &d, "b", KERN_DT_F32, 2, sb, fb), KERN_OK);
	cr_assert_eq(kern_tensors_add(&s, NULL, &d, "a", KERN_DT_I8, 1, sa, ia), KERN_OK);
	cr_assert_eq(kern_st_serialize(&buf, &len, &d, &s), KERN_OK);
	{
		uint64_t hl = 0;
		for (int i = 7; i >= 0; i--)
			hl = hl << 8 | buf[i];
		cr_assert_eq((8 + hl) % 8, 0);
		cr_assert(hl >= sizeof want_hdr - 1);
		cr_assert(memcmp(buf + 8, want_hdr, sizeof want_hdr - 1) == 0);
		for (size_t i = sizeof want_hdr - 1; i < hl; i++)
			cr_assert_eq(buf[8 + i], ' ');
		cr_assert_eq(len, 8 + hl + 26);
		cr_assert(memcmp(buf + 8 + hl, ia, 2) == 0);
		cr_assert(memcmp(buf + 8 + hl + 2, fb, 24) == 0);
	}
	kern_tensors_init(&back);
	cr_assert_eq(kern_st_parse(&back, &d, buf, len), KERN_OK, "%s", d.msg);
	cr_assert_eq(back.count, 2);
	{
		const struct kern_tensor *b = kern_tensors_find(&back, "b");
		cr_assert_not_null(b);
		cr_assert_eq(b->dtype, KERN_DT_F32);
		cr_assert_eq(b->rank, 2);
		cr_assert_eq(b->shape[1], 3);
		cr_assert(memcmp(b->data, fb, 24) == 0);
	}
	/* serialising what was read gives the same bytes */
	{
		uint8_t *buf2;
		size_t len2;
		cr_assert_eq(kern_st_serialize(&buf2, &len2, &d, &back), KERN_OK);
		cr_assert_eq(len2, len);
		cr_assert(memcmp(buf, buf2, len) == 0);
		free(buf2);
	}
	free(buf);
	kern_tensors_release(&back);
	kern_tensors_release(&s);
}

Test(safetensors, accepts)
{
	cr_assert_eq(parse_hdr("{}", 0), KERN_OK);
	cr_assert_eq(parse_hdr("{}      ", 0), KERN_OK);
	cr_assert_eq(parse_hdr("{\"__metadata__\":{\"format\":\"pt\"}}", 0), KERN_OK);
	cr_assert_eq(parse_hdr("{\"x\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4),
		     KERN_OK);
	/* order in the header is free; the offsets must tile */
	cr_assert_eq(parse_hdr("{\"b\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[4,6]},"
			       "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 6),
		     KERN_OK);
	/* an empty tensor */
	cr_assert_eq(parse_hdr("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]}}", 0),
		     KERN_OK);
}

Test(safetensors, refusals)
{
	static const struct {
		const char *hdr;
		size_t data;
		enum kern_err want;
	} cases[] = {
		{ "[]", 0, KERN_ERR_ST_JSON },
		{ "{ ", 0, KERN_ERR_ST_JSON },
		{ "{}x", 0, KERN_ERR_ST_JSON },
		{ "nul", 0, KERN_ERR_ST_JSON },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, KERN_ERR_ST_JSON },
		{ "{\"a\":1}", 0, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4,
		  KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, KERN_ERR_DTYPE },
		{ "{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, KERN_ERR_DTYPE },
		{ "{\"a\":{\"dtype\":1,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":1,\"data_offsets\":[0,4]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, KERN_ERR_RANK },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[16777217],\"data_offsets\":[0,4]}}", 4, KERN_ERR_DIM },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[16777216,16777216],\"data_offsets\":[0,4]}}", 4,
		  KERN_ERR_ELEMS },
		{ "{\"a\":{\"dtype\":\"F64\",\"shape\":[16384,16384],\"data_offsets\":[0,4]}}", 4,
		  KERN_ERR_TENSOR_BYTES },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", 4,
		  KERN_ERR_ST_JSON },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4.0]}}", 4, KERN_ERR_ST_ENTRY },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, KERN_ERR_ST_OFFSETS },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, KERN_ERR_ST_OFFSETS },
		/* gap before */
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, KERN_ERR_ST_OFFSETS },
		/* trailing data */
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 5, KERN_ERR_ST_OFFSETS },
		/* data missing */
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 3, KERN_ERR_ST_OFFSETS },
		/* overlap */
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 6, KERN_ERR_ST_OFFSETS },
		/* gap between */
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[5,9]}}", 9, KERN_ERR_ST_OFFSETS },
		{ "{\"__metadata__\":{\"k\":1}}", 0, KERN_ERR_ST_METADATA },
		{ "{\"__metadata__\":[]}", 0, KERN_ERR_ST_METADATA },
		{ "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, KERN_ERR_NAME },
		{ "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":"
		  "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, KERN_ERR_NAME },
	};

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum kern_err rc = parse_hdr(cases[i].hdr, cases[i].data);
		cr_assert_eq(rc, cases[i].want, "case %zu (%s): got %s, want %s", i,
			     cases[i].hdr, kern_errname(rc), kern_errname(cases[i].want));
	}
}

Test(safetensors, header_length_and_count)
{
	uint8_t buf[64];
	struct kern_tensors s;
	struct kern_diag d;

	kern_tensors_init(&s);
	cr_assert_eq(kern_st_parse(&s, &d, buf, 7), KERN_ERR_ST_HEADER_SIZE);
	memset(buf, 0, sizeof buf);
	cr_assert_eq(kern_st_parse(&s, &d, buf, 8), KERN_ERR_ST_HEADER_SIZE);   /* length 0 */
	buf[0] = 1;
	buf[8] = '{';
	cr_assert_eq(kern_st_parse(&s, &d, buf, 9), KERN_ERR_ST_HEADER_SIZE);   /* length 1 */
	buf[0] = 40;
	cr_assert_eq(kern_st_parse(&s, &d, buf, 20), KERN_ERR_ST_HEADER_SIZE);  /* past EOF */
	memset(buf, 0, 8);
	buf[2] = 0x10;   /* 1 MiB + ... */
	buf[0] = 1;
	cr_assert_eq(kern_st_parse(&s, &d, buf, sizeof buf), KERN_ERR_ST_HEADER_SIZE);
	memset(buf, 0xff, 8);
	cr_assert_eq(kern_st_parse(&s, &d, buf, sizeof buf), KERN_ERR_ST_HEADER_SIZE);
	/* a NUL inside the header */
	memset(buf, 0, sizeof buf);
	buf[0] = 4;
	memcpy(buf + 8, "{}\0 ", 4);
	cr_assert_eq(kern_st_parse(&s, &d, buf, 12), KERN_ERR_ST_JSON);

	/* more tensors than KERN_TENSORS_MAX */
	{
		size_t cap = 64 * (KERN_TENSORS_MAX + 2) + 16, n = 0;
		char *h = malloc(cap);
		uint8_t *f = malloc(cap + 8 + 256);
		n += (size_t)snprintf(h + n, cap - n, "{");
		for (int i = 0; i <= KERN_TENSORS_MAX; i++)
			n += (size_t)snprintf(h + n, cap - n,
					      "%s\"t%d\":{\"dtype\":\"I8\",\"shape\":[],"
					      "\"data_offsets\":[%d,%d]}", i ? "," : "", i, i, i + 1);
		n += (size_t)snprintf(h + n, cap - n, "}");
		size_t len = build(f, cap + 8 + KERN_TENSORS_MAX + 1, h, NULL, 0);
		memset(f + len, 0, KERN_TENSORS_MAX + 1);
		cr_assert_eq(kern_st_parse(&s, &d, f, len + KERN_TENSORS_MAX + 1),
			     KERN_ERR_TENSOR_COUNT);
		free(h);
		free(f);
	}
	/* more __metadata__ entries than KERN_ST_METADATA_MAX */
	{
		size_t cap = 32 * (KERN_ST_METADATA_MAX + 2) + 64, n = 0;
		char *h = malloc(cap);
		uint8_t *f = malloc(cap + 8);
		n += (size_t)snprintf(h + n, cap - n, "{\"__metadata__\":{");
		for (int i = 0; i <= KERN_ST_METADATA_MAX; i++)
			n += (size_t)snprintf(h + n, cap - n, "%s\"k%d\":\"v\"", i ? "," : "", i);
		n += (size_t)snprintf(h + n, cap - n, "}}");
		size_t len = build(f, cap + 8, h, NULL, 0);
		cr_assert_eq(kern_st_parse(&s, &d, f, len), KERN_ERR_ST_METADATA);
		free(h);
		free(f);
	}
	cr_assert_eq(s.count, 0);
}

Test(safetensors, files_and_run_file)
{
	char dir[] = "/tmp/assay-st-XXXXXX", in_path[128], out_path[128];
	struct kern_tensors s, out;
	struct kern_diag d = { "" };
	uint64_t sh[2] = { 2, 2 };
	float a[4] = { 1, 2, 3, 4 }, b[4] = { 1, 0, 0, 1 };
	char dev[KERN_DEVICE_BYTES];
	struct kern_run_opts o = { KERN_DEVICE_CPU, 2, NULL };

	cr_assert_not_null(mkdtemp(dir));
	(void)snprintf(in_path, sizeof in_path, "%s/in.safetensors", dir);
	(void)snprintf(out_path, sizeof out_path, "%s/out.safetensors", dir);
	kern_tensors_init(&s);
	cr_assert_eq(kern_tensors_add(&s, NULL, &d, "a", KERN_DT_F32, 2, sh, a), KERN_OK);
	cr_assert_eq(kern_tensors_add(&s, NULL, &d, "b", KERN_DT_F32, 2, sh, b), KERN_OK);
	cr_assert_eq(kern_st_write_file(&d, in_path, &s), KERN_OK, "%s", d.msg);
	cr_assert_eq(kern_run_file(dev, &d, "matmul_f32@1", in_path, "{\"relu\":false}", 14,
				   out_path, &o), KERN_OK, "%s", d.msg);
	cr_assert_str_eq(dev, "cpu");
	kern_tensors_init(&out);
	cr_assert_eq(kern_st_read_file(&out, &d, out_path), KERN_OK, "%s", d.msg);
	cr_assert_eq(out.count, 1);
	cr_assert_str_eq(out.t[0].name, "c");
	cr_assert(memcmp(out.t[0].data, a, 16) == 0);
	kern_tensors_release(&out);
	/* refusals name what failed */
	cr_assert_eq(kern_run_file(dev, &d, "matmul_f32@1", in_path, "{}", 2, out_path, &o),
		     KERN_ERR_PARAMS);
	cr_assert(strstr(d.msg, "matmul_f32@1") != NULL);
	cr_assert_eq(kern_st_read_file(&out, &d, "/nonexistent/x.safetensors"), KERN_ERR_IO);
	cr_assert(strstr(d.msg, "/nonexistent/x.safetensors") != NULL);
	cr_assert_eq(kern_st_read_file(&out, &d, dir), KERN_ERR_IO);
	kern_tensors_release(&s);
	(void)unlink(in_path);
	(void)unlink(out_path);
	(void)rmdir(dir);
}

/* `assay kernel list` and `assay kernel run` (PROTOCOL.md section 5). */
Test(safetensors, cli_kernel)
{
	char dir[256], in_path[300], out_path[300], want[200], hex[RCPT_HASH_HEX_BYTES];
	struct kern_tensors s;
	struct kern_diag d = { "" };
	struct rcpt_commitment c;
	struct rcpt_diag rd;
	struct tu_run r;
	uint64_t sh[2] = { 2, 2 };
	float a[4] = { 1, 2, 3, 4 }, b[4] = { 0, 1, 1, 0 };

	{
		const char *argv[] = { tu_assay(), "kernel", "list", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(tu_lines(r.out), kern_count());
		cr_assert(strncmp(r.out, "matmul_f32@1 0x", 15) == 0, "%s", r.out);
		tu_run_free(&r);
	}
	tu_tmpdir(dir, sizeof dir);
	(void)snprintf(in_path, sizeof in_path, "%s/in.safetensors", dir);
	(void)snprintf(out_path, sizeof out_path, "%s/out.safetensors", dir);
	kern_tensors_init(&s);
	cr_assert_eq(kern_tensors_add(&s, NULL, &d, "a", KERN_DT_F32, 2, sh, a), KERN_OK);
	cr_assert_eq(kern_tensors_add(&s, NULL, &d, "b", KERN_DT_F32, 2, sh, b), KERN_OK);
	cr_assert_eq(kern_st_write_file(&d, in_path, &s), KERN_OK, "%s", d.msg);
	kern_tensors_release(&s);
	{
		const char *argv[] = { tu_assay(), "kernel", "run", "matmul_f32@1", "--input",
			in_path, "--params", "{\"relu\":false}", "--output", out_path,
			"--device", "cpu", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(rcpt_commit_file(&c, &rd, out_path, 1), RCPT_OK);
		cr_assert_eq(rcpt_hex_encode(hex, sizeof hex, c.root, sizeof c.root), RCPT_OK);
		(void)snprintf(want, sizeof want,
			       "{\"outputRoot\":\"%s\",\"outputSize\":%llu,\"device\":\"cpu\"}\n",
			       hex, (unsigned long long)c.size);
		cr_assert_str_eq(r.out, want);
		tu_run_free(&r);
	}
	{
		/* the kernel refuses its input: exit 1, one line naming it */
		const char *argv[] = { tu_assay(), "kernel", "run", "matmul_f32@1", "--input",
			in_path, "--params", "{}", "--output", out_path, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 1);
		cr_assert_eq(tu_lines(r.err), 1);
		cr_assert(strstr(r.err, "matmul_f32@1") != NULL, "%s", r.err);
		tu_run_free(&r);
	}
	{
		/* unusable arguments: exit 2 */
		const char *bad1[] = { tu_assay(), "kernel", "run", "nope@1", "--input", in_path,
			"--params", "{}", "--output", out_path, NULL };
		const char *bad2[] = { tu_assay(), "kernel", "run", "matmul_f32@1", "--input",
			in_path, "--output", out_path, NULL };
		const char *bad3[] = { tu_assay(), "kernel", "run", "matmul_f32@1", "--input",
			in_path, "--params", "{}", "--output", out_path, "--device", "gpu", NULL };
		tu_run(&r, bad1);
		cr_assert_eq(r.status, 2);
		tu_run_free(&r);
		tu_run(&r, bad2);
		cr_assert_eq(r.status, 2);
		tu_run_free(&r);
		tu_run(&r, bad3);
		cr_assert_eq(r.status, 2);
		tu_run_free(&r);
	}
	tu_rmtree(dir);
}
