/*
 * keccak.c: legacy Keccak-256 (Ethereum's), a sponge over nettle's
 * Keccak-f[1600] permutation.
 *
 * Rate 136 bytes, capacity 512 bits, output 32 bytes.  It differs from
 * FIPS 202 SHA3-256 only in the padding's domain byte: 0x01, not 0x06.
 * Bytes enter the state as little-endian 64-bit lanes, as FIPS 202
 * specifies.  nettle's struct sha3_state is exactly those 25 lanes.
 */
#include <string.h>

#include <nettle/sha3.h>

#include "internal.h"
#include "banned.h"

#define KECCAK_RATE 136

_Static_assert(sizeof(((struct sha3_state *)0)->a) == 25 * sizeof(uint64_t),
	       "nettle's sha3_state is the 25 Keccak lanes");

static void keccak_absorb_block(struct rcpt_keccak *k, const uint8_t *block)
{
	for (size_t i = 0; i < KECCAK_RATE / 8; i++) {
		uint64_t lane;
		memcpy(&lane, block + 8 * i, 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
		lane = __builtin_bswap64(lane);
#endif
		k->lanes[i] ^= lane;
	}
	/* struct sha3_state is exactly the 25 lanes (asserted above); an
	 * aggregate whose member has the lanes' type may alias them. */
	sha3_permute((struct sha3_state *)(void *)k->lanes);
}

void rcpt_keccak_init(struct rcpt_keccak *k)
{
	memset(k, 0, sizeof(*k));
}

void rcpt_keccak_update(struct rcpt_keccak *k, const void *data, size_t len)
{
	const uint8_t *p = data;

	RCPT_ASSERT(k->buf_len < KECCAK_RATE);
	if (k->buf_len > 0) {
		size_t take = KECCAK_RATE - k->buf_len;
		if (take > len)
			take = len;
		memcpy(k->buf + k->buf_len, p, take);
		k->buf_len += take;
		p += take;
		len -= take;
		if (k->buf_len < KECCAK_RATE)
			return;
		keccak_absorb_block(k, k->buf);
		k->buf_len = 0;
	}
	while (len >= KECCAK_RATE) {
		keccak_absorb_block(k, p);
		p += KECCAK_RATE;
		len -= KECCAK_RATE;
	}
	if (len > 0) {
		memcpy(k->buf, p, len);
		k->buf_len = len;
	}
}

void rcpt_keccak_final(struct rcpt_keccak *k, uint8_t out[RCPT_HASH_BYTES])
{
	RCPT_ASSERT(k->buf_len < KECCAK_RATE);
	memset(k->buf + k->buf_len, 0, KECCAK_RATE - k->buf_len);
	k->buf[k->buf_len] ^= 0x01;          /* legacy Keccak domain/pad */
	k->buf[KECCAK_RATE - 1] ^= 0x80;     /* final bit of pad10*1 */
	keccak_absorb_block(k, k->buf);
	for (unsigned i = 0; i < RCPT_HASH_BYTES; i++)
		out[i] = (uint8_t)(k->lanes[i / 8] >> (8 * (i % 8)));
	memset(k, 0, sizeof(*k));
}

void rcpt_keccak256(uint8_t out[RCPT_HASH_BYTES], const void *data, size_t len)
{
	struct rcpt_keccak k;

	rcpt_keccak_init(&k);
	rcpt_keccak_update(&k, data, len);
	rcpt_keccak_final(&k, out);
}
