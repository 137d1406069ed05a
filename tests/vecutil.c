/*
 * vecutil.c: loading and decoding the known-answer vectors (see
 * vecutil.h).  Nothing here calls the receipts library.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecutil.h"
#include "banned.h"

json_t *vec_load(const char *name)
{
	const char *src = getenv("ASSAY_SRCDIR");
	char path[4096];
	json_error_t err;
	json_t *root;
	int n;

	cr_assert_not_null(name);
	if (src == NULL || src[0] == '\0')
		src = ".";
	n = snprintf(path, sizeof path, "%s/tests/vectors/%s", src, name);
	cr_assert(n > 0 && (size_t)n < sizeof path, "vector path too long");
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(root, "could not load vectors '%s': %s (line %d)",
			   path, err.text, err.line);
	return root;
}

json_t *vec_get(const json_t *obj, const char *key)
{
	json_t *v;

	cr_assert(json_is_object(obj), "vector is not an object (looking for \"%s\")", key);
	v = json_object_get(obj, key);
	cr_assert_not_null(v, "vector has no \"%s\"", key);
	return v;
}

const char *vec_str(const json_t *obj, const char *key)
{
	json_t *v = vec_get(obj, key);

	cr_assert(json_is_string(v), "vector \"%s\" is not a string", key);
	return json_string_value(v);
}

const char *vec_str_or_null(const json_t *obj, const char *key)
{
	json_t *v = vec_get(obj, key);

	if (json_is_null(v))
		return NULL;
	cr_assert(json_is_string(v), "vector \"%s\" is neither a string nor null", key);
	return json_string_value(v);
}

size_t vec_strlen(const json_t *obj, const char *key)
{
	json_t *v = vec_get(obj, key);

	cr_assert(json_is_string(v), "vector \"%s\" is not a string", key);
	return json_string_length(v);
}

json_int_t vec_int(const json_t *obj, const char *key)
{
	json_t *v = vec_get(obj, key);

	cr_assert(json_is_integer(v), "vector \"%s\" is not an integer", key);
	return json_integer_value(v);
}

static int vec_nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void vec_unhex_into(uint8_t *out, size_t len, const char *digits)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int hi = vec_nibble(digits[2 * i]);
		int lo = vec_nibble(digits[2 * i + 1]);

		cr_assert(hi >= 0 && lo >= 0, "bad hex digit in vector near byte %zu", i);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
}

void vec_unhex(uint8_t *out, size_t len, const char *hex)
{
	cr_assert_not_null(hex);
	cr_assert(hex[0] == '0' && hex[1] == 'x', "vector hex lacks 0x: '%.20s'", hex);
	cr_assert(strlen(hex + 2) == 2 * len,
		  "vector hex has %zu digits, want %zu: '%.20s...'",
		  strlen(hex + 2), 2 * len, hex);
	vec_unhex_into(out, len, hex + 2);
}

uint8_t *vec_unhex_alloc(size_t *len, const char *hex)
{
	size_t digits;
	uint8_t *out;

	cr_assert_not_null(hex);
	cr_assert(hex[0] == '0' && hex[1] == 'x', "vector hex lacks 0x: '%.20s'", hex);
	digits = strlen(hex + 2);
	cr_assert(digits % 2 == 0, "vector hex has an odd number of digits");
	*len = digits / 2;
	out = malloc(*len + 1);
	cr_assert_not_null(out);
	vec_unhex_into(out, *len, hex + 2);
	return out;
}

struct vec_hexstr vec_hexs(const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	struct vec_hexstr h;
	size_t n = len > VEC_HEXS_BYTES_MAX ? VEC_HEXS_BYTES_MAX : len;
	size_t i, o = 0;

	h.s[o++] = '0';
	h.s[o++] = 'x';
	for (i = 0; i < n; i++) {
		h.s[o++] = digits[data[i] >> 4];
		h.s[o++] = digits[data[i] & 15];
	}
	if (n < len) {
		h.s[o++] = '.';
		h.s[o++] = '.';
		h.s[o++] = '.';
	}
	h.s[o] = '\0';
	return h;
}

int vec_same(const void *a, const void *b, size_t n)
{
	return memcmp(a, b, n) == 0;
}

uint8_t *vec_merkle_content(size_t n)
{
	uint8_t *b = malloc(n + 1);
	uint64_t i;

	cr_assert_not_null(b);
	for (i = 0; i < n; i++)
		b[i] = (uint8_t)((i * 131u + (i >> 16)) & 0xff);
	return b;
}

int vec_is_hex40(const char *text, size_t len)
{
	size_t i;

	if (len != 42 || text[0] != '0' || text[1] != 'x')
		return 0;
	for (i = 2; i < 42; i++)
		if (vec_nibble(text[i]) < 0)
			return 0;
	return 1;
}
