/*
 * hex.c: the textual forms of PROTOCOL.md section 4: 0x-hex, EIP-55
 * addresses and canonical uint256 decimals.
 */
#include <string.h>

#include "internal.h"
#include "banned.h"

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

enum rcpt_err rcpt_hex_encode(char *out, size_t out_len,
			      const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	if (!out || (!data && len) || len > (SIZE_MAX - 3) / 2 ||
	    out_len < 2 * len + 3)
		return RCPT_ERR_ARG;
	out[0] = '0';
	out[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		out[2 + 2 * i] = digits[data[i] >> 4];
		out[3 + 2 * i] = digits[data[i] & 15];
	}
	out[2 + 2 * len] = '\0';
	return RCPT_OK;
}

enum rcpt_err rcpt_hex_digits_decode(uint8_t *out, size_t len,
				     const char *digits, size_t ndigits)
{
	if (!out || (!digits && ndigits))
		return RCPT_ERR_ARG;
	if (len > SIZE_MAX / 2 || ndigits != 2 * len)
		return RCPT_ERR_HEX;
	for (size_t i = 0; i < len; i++) {
		int hi = hex_val(digits[2 * i]), lo = hex_val(digits[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return RCPT_ERR_HEX;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return RCPT_OK;
}

enum rcpt_err rcpt_hex_decode(uint8_t *out, size_t len, const char *hex)
{
	if (!out || !hex)
		return RCPT_ERR_ARG;
	if (hex[0] != '0' || hex[1] != 'x')
		return RCPT_ERR_HEX;
	hex += 2;
	/* strnlen bounds the scan of a possibly huge string. */
	return rcpt_hex_digits_decode(out, len, hex, strnlen(hex, 2 * len + 1));
}

void rcpt_address_format(char out[RCPT_ADDR_HEX_BYTES],
			 const uint8_t addr[RCPT_ADDR_BYTES])
{
	uint8_t h[RCPT_HASH_BYTES];
	enum rcpt_err rc;

	rc = rcpt_hex_encode(out, RCPT_ADDR_HEX_BYTES, addr, RCPT_ADDR_BYTES);
	RCPT_ASSERT(rc == RCPT_OK);
	/* EIP-55: hash the 40 lowercase hex digits (without 0x); a letter
	 * is upper case when the matching nibble of the hash is >= 8. */
	rcpt_keccak256(h, out + 2, 40);
	for (unsigned i = 0; i < 40; i++) {
		char *c = &out[2 + i];
		unsigned nib = (h[i / 2] >> (i % 2 ? 0 : 4)) & 15;
		if (*c >= 'a' && *c <= 'f' && nib >= 8)
			*c = (char)(*c - 'a' + 'A');
	}
}

enum rcpt_err rcpt_address_parse(uint8_t out[RCPT_ADDR_BYTES], const char *text)
{
	uint8_t addr[RCPT_ADDR_BYTES];
	char canon[RCPT_ADDR_HEX_BYTES];
	int lower = 0, upper = 0;
	enum rcpt_err rc;

	if (!out || !text)
		return RCPT_ERR_ARG;
	rc = rcpt_hex_decode(addr, sizeof(addr), text);
	if (rc)
		return rc;
	for (unsigned i = 2; i < 42; i++) {
		lower |= text[i] >= 'a' && text[i] <= 'f';
		upper |= text[i] >= 'A' && text[i] <= 'F';
	}
	if (lower && upper) {
		rcpt_address_format(canon, addr);
		if (memcmp(canon, text, 42) != 0)
			return RCPT_ERR_CHECKSUM;
	}
	memcpy(out, addr, sizeof(addr));
	return RCPT_OK;
}

enum rcpt_err rcpt_u256_parse(struct rcpt_u256 *out, const char *text)
{
	struct rcpt_u256 v;
	size_t n;

	if (!out || !text)
		return RCPT_ERR_ARG;
	n = strnlen(text, RCPT_U256_DEC_BYTES);
	if (n == 0 || n >= RCPT_U256_DEC_BYTES)
		return RCPT_ERR_DECIMAL;
	if (text[0] == '0' && n > 1)
		return RCPT_ERR_DECIMAL;
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < n; i++) {
		unsigned carry;
		if (text[i] < '0' || text[i] > '9')
			return RCPT_ERR_DECIMAL;
		/* v = v * 10 + digit, refusing overflow past 2^256 - 1. */
		carry = (unsigned)(text[i] - '0');
		for (int b = 31; b >= 0; b--) {
			unsigned x = v.be[b] * 10u + carry;
			v.be[b] = (uint8_t)x;
			carry = x >> 8;
		}
		if (carry)
			return RCPT_ERR_DECIMAL;
	}
	*out = v;
	return RCPT_OK;
}

void rcpt_u256_format(char out[RCPT_U256_DEC_BYTES], const struct rcpt_u256 *v)
{
	uint8_t t[32];
	char rev[RCPT_U256_DEC_BYTES];
	size_t n = 0;
	int nonzero;

	memcpy(t, v->be, sizeof(t));
	do {
		unsigned rem = 0;
		nonzero = 0;
		/* t = t / 10, rem = t % 10 */
		for (int b = 0; b < 32; b++) {
			unsigned x = rem << 8 | t[b];
			t[b] = (uint8_t)(x / 10);
			rem = x % 10;
			nonzero |= t[b];
		}
		RCPT_ASSERT(n < RCPT_U256_DEC_BYTES - 1);
		rev[n++] = (char)('0' + rem);
	} while (nonzero);
	for (size_t i = 0; i < n; i++)
		out[i] = rev[n - 1 - i];
	out[n] = '\0';
}

int rcpt_u256_cmp(const struct rcpt_u256 *a, const struct rcpt_u256 *b)
{
	int c = memcmp(a->be, b->be, sizeof(a->be));
	return (c > 0) - (c < 0);
}

void rcpt_u256_from_u64(struct rcpt_u256 *out, uint64_t v)
{
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < 8; i++)
		out->be[31 - i] = (uint8_t)(v >> (8 * i));
}

void rcpt_word_u64(uint8_t out[32], uint64_t v)
{
	struct rcpt_u256 u;

	rcpt_u256_from_u64(&u, v);
	memcpy(out, u.be, 32);
}

void rcpt_word_address(uint8_t out[32], const uint8_t addr[RCPT_ADDR_BYTES])
{
	memset(out, 0, 12);
	memcpy(out + 12, addr, RCPT_ADDR_BYTES);
}
