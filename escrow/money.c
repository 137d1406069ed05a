/*
 * money.c: the little uint256 arithmetic the escrow needs (basis points
 * of a stake) and hex/subject formatting.  Big-endian bytes as in
 * struct rcpt_u256; no operation here can overflow silently.
 */
#include <stdio.h>
#include <string.h>

#include "assay_assert.h"
#include "escrow.h"
#include "banned.h"

/* v / d in place, returns v % d (d > 0, d < 2^24). */
static uint32_t u256_div_small(struct rcpt_u256 *v, uint32_t d)
{
	uint64_t rem = 0;
	size_t i;

	ASSAY_ASSERT(d > 0 && d < (1u << 24));
	for (i = 0; i < 32; i++) {
		uint64_t cur = (rem << 8) | v->be[i];
		v->be[i] = (uint8_t)(cur / d);
		rem = cur % d;
	}
	return (uint32_t)rem;
}

/* v * m in place; -1 when the product passes 2^256 - 1 (v unchanged then
 * is not promised). */
static int u256_mul_small(struct rcpt_u256 *v, uint32_t m)
{
	uint64_t carry = 0;
	size_t i;

	for (i = 32; i-- > 0;) {
		uint64_t cur = (uint64_t)v->be[i] * m + carry;
		v->be[i] = (uint8_t)(cur & 0xff);
		carry = cur >> 8;
	}
	return carry ? -1 : 0;
}

int escrow_u256_add(struct rcpt_u256 *out, const struct rcpt_u256 *a,
		    const struct rcpt_u256 *b)
{
	unsigned carry = 0;
	size_t i;
	struct rcpt_u256 r;

	for (i = 32; i-- > 0;) {
		unsigned s = (unsigned)a->be[i] + b->be[i] + carry;
		r.be[i] = (uint8_t)(s & 0xff);
		carry = s >> 8;
	}
	if (carry)
		return -1;
	*out = r;
	return 0;
}

int escrow_u256_is_zero(const struct rcpt_u256 *v)
{
	static const struct rcpt_u256 zero;

	return memcmp(v->be, zero.be, 32) == 0;
}

void escrow_u256_bps(struct rcpt_u256 *out, const struct rcpt_u256 *v, uint32_t bps)
{
	struct rcpt_u256 q = *v, r;
	uint32_t rem;
	int bad;

	ASSAY_ASSERT(bps <= ESCROW_BPS_ONE);
	/* v*bps/10000 = q*bps + rem*bps/10000 with q = v/10000: each part at
	 * most v, so nothing overflows. */
	rem = u256_div_small(&q, ESCROW_BPS_ONE);
	bad = u256_mul_small(&q, bps);
	ASSAY_ASSERT(!bad);
	rcpt_u256_from_u64(&r, (uint64_t)rem * bps / ESCROW_BPS_ONE);
	bad = escrow_u256_add(out, &q, &r);
	ASSAY_ASSERT(!bad);
	ASSAY_ASSERT(rcpt_u256_cmp(out, v) <= 0);
	(void)bad;
}

void escrow_hex(char *out, size_t out_len, const uint8_t *b, size_t n)
{
	enum rcpt_err e = rcpt_hex_encode(out, out_len, b, n);

	ASSAY_ASSERT(e == RCPT_OK);
	(void)e;
}

void escrow_subject_job(char out[80], const uint8_t id[RCPT_HASH_BYTES])
{
	char h[RCPT_HASH_HEX_BYTES];

	escrow_hex(h, sizeof(h), id, RCPT_HASH_BYTES);
	snprintf(out, 80, "job:%s", h);
}

void escrow_subject_account(char out[80], const uint8_t addr[RCPT_ADDR_BYTES])
{
	char h[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(h, addr);
	snprintf(out, 80, "account:%s", h);
}

int escrow_input_matches(const struct rcpt_job *job, const uint8_t *in, size_t len)
{
	struct rcpt_commitment c;

	ASSAY_ASSERT(job && (in || len == 0));
	return rcpt_commit_buf(&c, in, len) == RCPT_OK && c.size == job->input_size &&
	       memcmp(c.root, job->input_root, RCPT_HASH_BYTES) == 0;
}
