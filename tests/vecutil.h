/*
 * vecutil.h: helpers for the known-answer tests that read the vectors
 * in tests/vectors/ (made by ethers.js and node:crypto, never by our
 * code).  Every helper that can fail aborts the current Criterion test
 * with a message naming what was wrong with the vector file, so a
 * broken file is a failing test, not a crash.
 *
 * Hex decoding and encoding are written here, apart from the library's
 * own rcpt_hex_*, so that expected values never pass through the code
 * under test.
 */
#ifndef ASSAY_TESTS_VECUTIL_H
#define ASSAY_TESTS_VECUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* The largest byte string vec_hexs prints: a signature is 65 bytes. */
#define VEC_HEXS_BYTES_MAX 96

/* Loads "$ASSAY_SRCDIR/tests/vectors/NAME" (ASSAY_SRCDIR defaults to
 * "."), refusing duplicate keys.  The caller json_decref()s it. */
json_t *vec_load(const char *name);

/* Member `key` of object `obj`, which must be a string (or, for
 * vec_str_or_null, a string or null: NULL then). */
const char *vec_str(const json_t *obj, const char *key);
const char *vec_str_or_null(const json_t *obj, const char *key);
/* Its length in bytes (a JSON string may hold any UTF-8). */
size_t vec_strlen(const json_t *obj, const char *key);
/* Member `key` of `obj`, which must be a JSON integer. */
json_int_t vec_int(const json_t *obj, const char *key);
/* Member `key` of `obj`, which must exist. */
json_t *vec_get(const json_t *obj, const char *key);

/* Decodes "0x" + 2*len hex digits (either case) into out; aborts the
 * test on anything else. */
void vec_unhex(uint8_t *out, size_t len, const char *hex);
/* Decodes "0x" + an even number of hex digits into a new buffer of
 * *len bytes (at least 1 byte allocated); the caller frees it. */
uint8_t *vec_unhex_alloc(size_t *len, const char *hex);

/* Lower-case "0x..." of up to VEC_HEXS_BYTES_MAX bytes (longer input is
 * cut and ends in "..."), for messages: vec_hexs(p, n).s */
struct vec_hexstr {
	char s[2 * VEC_HEXS_BYTES_MAX + 8];
};
struct vec_hexstr vec_hexs(const uint8_t *data, size_t len);

/* 1 when the n bytes at a and b are equal. */
int vec_same(const void *a, const void *b, size_t n);

/* The Merkle test string: byte i = (i * 131 + (i >> 16)) & 0xff
 * (tests/vectors/gen/merkle_ref.mjs computes the same bytes).  At least
 * 1 byte is allocated; the caller frees it. */
uint8_t *vec_merkle_content(size_t n);

/* 1 when text is "0x" followed by exactly 40 hex digits of any case:
 * such an invalid address can only be wrong in its checksum. */
int vec_is_hex40(const char *text, size_t len);

#endif
