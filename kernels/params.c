/*
 * params.c: the strict parsers of each kernel's params string
 * (PROTOCOL.md section 6).  A params string is compact JSON with sorted
 * keys, and each kernel accepts exactly one shape of it:
 *   {}                                      gemm_i8, reduce_sum, softmax, mlp
 *   {"relu":false} | {"relu":true}          matmul_f32
 *   {"eps":NUMBER}                          layernorm_f32
 *   {"padding":[U,U],"stride":[U,U]}        conv2d_f32
 *   {"heads":U,"max_new_tokens":U,"model":"0x<64 hex>","modelSize":U}
 *                                           gpt2_f32
 * No whitespace, no other key, no duplicate, nothing after the closing
 * brace.  NUMBER is a JSON number (RFC 8259 grammar) converted to the
 * nearest binary32 (round-to-nearest-even, as strtof); U is a JSON
 * non-negative integer without leading zeros.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern_params.h"

#include "banned.h"

static void diag_set(struct kern_diag *d, const char *kernel, const char *why)
{
	if (d)
		(void)snprintf(d->msg, sizeof d->msg, "params of %s: %s", kernel, why);
}

static int is_exact(const char *p, size_t len, const char *lit)
{
	size_t l = strlen(lit);
	return len == l && memcmp(p, lit, l) == 0;
}

enum kern_err kern_params_empty(struct kern_diag *diag, const char *kernel,
				const char *p, size_t len)
{
	if (is_exact(p, len, "{}"))
		return KERN_OK;
	diag_set(diag, kernel, "expected exactly {}");
	return KERN_ERR_PARAMS;
}

enum kern_err kern_params_relu(int *relu, struct kern_diag *diag,
			       const char *kernel, const char *p, size_t len)
{
	if (is_exact(p, len, "{\"relu\":false}")) {
		*relu = 0;
		return KERN_OK;
	}
	if (is_exact(p, len, "{\"relu\":true}")) {
		*relu = 1;
		return KERN_OK;
	}
	diag_set(diag, kernel, "expected exactly {\"relu\":false} or {\"relu\":true}");
	return KERN_ERR_PARAMS;
}

/* Length of the JSON number at p[0..len), or 0 when there is none. */
static size_t json_number_len(const char *p, size_t len)
{
	size_t i = 0;

	if (i < len && p[i] == '-')
		i++;
	if (i < len && p[i] == '0') {
		i++;
	} else if (i < len && p[i] >= '1' && p[i] <= '9') {
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
	} else {
		return 0;
	}
	if (i < len && p[i] == '.') {
		size_t d = ++i;
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i < len && (p[i] == 'e' || p[i] == 'E')) {
		size_t d;
		i++;
		if (i < len && (p[i] == '+' || p[i] == '-'))
			i++;
		d = i;
		while (i < len && p[i] >= '0' && p[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i;
}

enum kern_err kern_params_eps(float *eps, struct kern_diag *diag,
			      const char *kernel, const char *p, size_t len)
{
	static const char head[] = "{\"eps\":";
	size_t hl = sizeof head - 1, nl;
	char num[KERN_NUMBER_BYTES_MAX + 1];
	float v;

	if (len < hl + 2 || memcmp(p, head, hl) != 0 || p[len - 1] != '}') {
		diag_set(diag, kernel, "expected exactly {\"eps\":NUMBER}");
		return KERN_ERR_PARAMS;
	}
	nl = json_number_len(p + hl, len - hl - 1);
	if (nl == 0 || nl != len - hl - 1) {
		diag_set(diag, kernel, "eps is not a JSON number");
		return KERN_ERR_PARAMS;
	}
	if (nl > KERN_NUMBER_BYTES_MAX) {
		diag_set(diag, kernel, "eps has too many characters");
		return KERN_ERR_PARAMS;
	}
	memcpy(num, p + hl, nl);
	num[nl] = '\0';
	/* strtof: correctly rounded to nearest-even in glibc; the client
	 * never calls setlocale, so the decimal point is '.'. */
	v = strtof(num, NULL);
	if (!(v > 0.0f) || isinf(v)) {
		diag_set(diag, kernel, "eps must be a positive finite binary32 value");
		return KERN_ERR_PARAMS;
	}
	*eps = v;
	return KERN_OK;
}

/* Parses a JSON non-negative integer of at most 6 digits at *pp. */
static int parse_uint(const char **pp, const char *end, size_t *out)
{
	const char *p = *pp;
	size_t v = 0, digits = 0;

	if (p < end && *p == '0') {
		*out = 0;
		*pp = p + 1;
		return p + 1 < end && p[1] >= '0' && p[1] <= '9' ? -1 : 0;
	}
	while (p < end && *p >= '0' && *p <= '9') {
		if (++digits > 6)
			return -1;
		v = v * 10 + (size_t)(*p - '0');
		p++;
	}
	if (digits == 0)
		return -1;
	*out = v;
	*pp = p;
	return 0;
}

static int expect(const char **pp, const char *end, const char *lit)
{
	size_t l = strlen(lit);

	if ((size_t)(end - *pp) < l || memcmp(*pp, lit, l) != 0)
		return -1;
	*pp += l;
	return 0;
}

enum kern_err kern_params_conv(size_t pad[2], size_t stride[2],
			       struct kern_diag *diag, const char *kernel,
			       const char *p, size_t len)
{
	const char *q = p, *end = p + len;

	if (expect(&q, end, "{\"padding\":[") || parse_uint(&q, end, &pad[0]) ||
	    expect(&q, end, ",") || parse_uint(&q, end, &pad[1]) ||
	    expect(&q, end, "],\"stride\":[") || parse_uint(&q, end, &stride[0]) ||
	    expect(&q, end, ",") || parse_uint(&q, end, &stride[1]) ||
	    expect(&q, end, "]}") || q != end) {
		diag_set(diag, kernel,
			 "expected exactly {\"padding\":[ph,pw],\"stride\":[sh,sw]} "
			 "with non-negative integers");
		return KERN_ERR_PARAMS;
	}
	if (stride[0] == 0 || stride[1] == 0) {
		diag_set(diag, kernel, "stride must be at least 1");
		return KERN_ERR_PARAMS;
	}
	if (stride[0] > KERN_CONV_STRIDE_MAX || stride[1] > KERN_CONV_STRIDE_MAX) {
		diag_set(diag, kernel, "stride over KERN_CONV_STRIDE_MAX (64)");
		return KERN_ERR_CONV_STRIDE;
	}
	if (pad[0] > KERN_CONV_PADDING_MAX || pad[1] > KERN_CONV_PADDING_MAX) {
		diag_set(diag, kernel, "padding over KERN_CONV_PADDING_MAX (64)");
		return KERN_ERR_CONV_PADDING;
	}
	return KERN_OK;
}

/* A JSON non-negative integer without leading zeros, below 2^63. */
static int parse_u64(const char **pp, const char *end, uint64_t *out)
{
	const char *p = *pp;
	uint64_t v = 0;
	size_t digits = 0;

	if (p < end && *p == '0') {
		*out = 0;
		*pp = p + 1;
		return p + 1 < end && p[1] >= '0' && p[1] <= '9' ? -1 : 0;
	}
	while (p < end && *p >= '0' && *p <= '9') {
		if (++digits > 18)    /* 10^18 < 2^63: no overflow below */
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
		p++;
	}
	if (digits == 0)
		return -1;
	*out = v;
	*pp = p;
	return 0;
}

/* "0x" and 64 lower-case hex digits in quotes, into 32 bytes. */
static int parse_root(const char **pp, const char *end, uint8_t root[32])
{
	const char *p = *pp;

	if (end - p < 68 || p[0] != '"' || p[1] != '0' || p[2] != 'x' || p[67] != '"')
		return -1;
	for (size_t i = 0; i < 64; i++) {
		char c = p[3 + i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return -1;
		if (i % 2 == 0)
			root[i / 2] = (uint8_t)(v << 4);
		else
			root[i / 2] |= (uint8_t)v;
	}
	*pp = p + 68;
	return 0;
}

enum kern_err kern_params_gpt2(struct kern_gpt2_params *out,
			       struct kern_diag *diag, const char *kernel,
			       const char *p, size_t len)
{
	const char *q = p, *end = p + len;

	if (expect(&q, end, "{\"heads\":") || parse_uint(&q, end, &out->heads) ||
	    expect(&q, end, ",\"max_new_tokens\":") ||
	    parse_uint(&q, end, &out->new_tokens) ||
	    expect(&q, end, ",\"model\":") || parse_root(&q, end, out->model_root) ||
	    expect(&q, end, ",\"modelSize\":") || parse_u64(&q, end, &out->model_size) ||
	    expect(&q, end, "}") || q != end) {
		diag_set(diag, kernel,
			 "expected exactly {\"heads\":H,\"max_new_tokens\":N,"
			 "\"model\":\"0x<64 lower-case hex>\",\"modelSize\":S}");
		return KERN_ERR_PARAMS;
	}
	if (out->heads == 0 || out->heads > KERN_GPT2_HEADS_MAX) {
		diag_set(diag, kernel, "heads must be in [1, KERN_GPT2_HEADS_MAX (128)]");
		return KERN_ERR_HEADS;
	}
	if (out->new_tokens == 0 || out->new_tokens > KERN_GPT2_NEW_TOKENS_MAX) {
		diag_set(diag, kernel,
			 "max_new_tokens must be in [1, KERN_GPT2_NEW_TOKENS_MAX (1024)]");
		return KERN_ERR_NEW_TOKENS;
	}
	if (out->model_size > KERN_MODEL_BYTES_MAX) {
		diag_set(diag, kernel, "modelSize over KERN_MODEL_BYTES_MAX (8 GiB)");
		return KERN_ERR_MODEL_BYTES;
	}
	return KERN_OK;
}
