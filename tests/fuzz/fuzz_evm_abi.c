/*
 * fuzz_evm_abi.c: libFuzzer harness for receipts/evm.h's decoders (bytes
 * from a node or a contract) and the transaction writer.  The first
 * byte picks the target; the rest is its input.
 *
 * - dynamic bytes: what evm_abi_dyn_bytes accepts lies inside the data,
 *   after the head, followed by zero padding that is inside the data too;
 * - revert data: Error(string) is accepted only in its one canonical
 *   encoding (re-encoded here and compared), Panic only as 36 bytes;
 * - words: an accepted address, uint64, uint8 or bool re-encodes to the
 *   same word;
 * - transactions: from fields taken from the input, the streamed signing
 *   hash equals keccak256 of the buffered encoding, and a buffer of any
 *   smaller capacity overflows without writing past it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evm.h"
#include "receipts.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void dyn_bytes(const uint8_t *d, size_t n)
{
	const uint8_t *p;
	size_t len, off, pad;

	if (n < 1)
		return;
	if (evm_abi_dyn_bytes(&p, &len, d + 1, n - 1, d[0] % 8) != RCPT_OK)
		return;
	off = (size_t)(p - (d + 1));
	pad = (len + 31) / 32 * 32;
	if (p < d + 1 || off < 32 * ((size_t)(d[0] % 8) + 2) || off % 32 != 0 ||
	    pad > n - 1 - off)
		abort();
	for (size_t k = len; k < pad; k++)
		if (p[k] != 0)
			abort();
}

static void revert(const uint8_t *d, size_t n)
{
	struct evm_revert r;
	uint8_t *enc;
	struct evm_buf b;
	size_t cap;

	if (evm_revert_parse(&r, d, n) != RCPT_OK)
		return;
	if (r.kind == EVM_REVERT_PANIC && n != 36)
		abort();
	if (r.kind != EVM_REVERT_ERROR)
		return;
	cap = 4 + 64 + r.message_len + 32;
	enc = calloc(1, cap);
	if (!enc)
		abort();
	evm_buf_init(&b, enc, cap);
	evm_abi_put_selector(&b, "Error(string)");
	evm_abi_put_u64(&b, 32);
	evm_abi_put_u64(&b, r.message_len);
	evm_buf_put(&b, r.message, r.message_len);
	evm_buf_put(&b, enc + cap - 32, (32 - r.message_len % 32) % 32);   /* zeros */
	if (b.overflow || b.len != n || memcmp(enc, d, n) != 0)
		abort();
	free(enc);
}

static void words(const uint8_t *d, size_t n)
{
	struct rcpt_u256 w, back;
	uint8_t addr[RCPT_ADDR_BYTES], u8;
	uint64_t u;
	int t;

	for (size_t i = 0; evm_abi_word(&w, d, n, i) == RCPT_OK; i++) {
		if (evm_abi_word_addr(addr, &w) == RCPT_OK) {
			evm_abi_word_from_addr(&back, addr);
			if (memcmp(&back, &w, 32))
				abort();
		}
		if (evm_abi_word_u64(&u, &w) == RCPT_OK) {
			rcpt_u256_from_u64(&back, u);
			if (memcmp(&back, &w, 32))
				abort();
		}
		if (evm_abi_word_u8(&u8, &w) == RCPT_OK &&
		    (evm_abi_word_u64(&u, &w) != RCPT_OK || u != u8))
			abort();
		if (evm_abi_word_bool(&t, &w) == RCPT_OK && (t != w.be[31] || t > 1))
			abort();
	}
	if (evm_abi_words_exact(d, n, n / 32) != (n % 32 ? RCPT_ERR_ABI : RCPT_OK))
		abort();
}

static void transaction(const uint8_t *d, size_t n)
{
	static uint8_t out[EVM_TX_RAW_BYTES_MAX + 16];
	uint8_t h1[32], h2[32];
	struct evm_tx tx;
	struct evm_buf b;
	uint64_t cap;

	if (n < 64 + 8 || n - 72 > EVM_TX_DATA_BYTES_MAX)
		return;
	memset(&tx, 0, sizeof(tx));
	memcpy(&tx.chain_id, d, 8);
	memcpy(&tx.nonce, d + 8, 8);
	memcpy(&tx.gas_limit, d + 16, 8);
	memcpy(tx.max_fee_per_gas.be + 16, d + 24, 16);
	memcpy(tx.max_priority_fee_per_gas.be + 24, d + 40, 8);
	tx.has_to = d[48] & 1;
	memcpy(tx.to, d + 49, RCPT_ADDR_BYTES);
	memcpy(&cap, d + 64, 8);
	tx.data = d + 72;
	tx.data_len = n - 72;
	evm_buf_init(&b, out, EVM_TX_RAW_BYTES_MAX);
	if (evm_tx_encode_unsigned(&b, &tx) != RCPT_OK || evm_tx_signing_hash(h1, &tx) != RCPT_OK)
		abort();
	rcpt_keccak256(h2, out, b.len);
	if (memcmp(h1, h2, 32) != 0)
		abort();
	cap %= b.len;
	memset(out + cap, 0xa5, sizeof(out) - cap);
	evm_buf_init(&b, out, cap);
	if (evm_tx_encode_unsigned(&b, &tx) != RCPT_ERR_TOO_LARGE)
		abort();
	for (size_t k = cap; k < sizeof(out); k++)
		if (out[k] != 0xa5)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0: dyn_bytes(data + 1, size - 1); break;
	case 1: revert(data + 1, size - 1); break;
	case 2: words(data + 1, size - 1); break;
	default: transaction(data + 1, size - 1); break;
	}
	return 0;
}
