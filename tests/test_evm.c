/*
 * test_evm.c: receipts/evm.h (RLP, EIP-1559 transactions, CREATE
 * addresses, the contract ABI) against known answers computed by
 * ethers.js v6 (tests/vectors/evm_*.json, made by
 * tests/vectors/gen/evm.mjs), and every refusal: a buffer too small at
 * every length, truncated and non-canonical ABI data, misuse.
 *
 * Expected values come from the vector files; the test reads integers
 * and hex itself (vecutil.c), never through the library under test.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evm.h"
#include "receipts.h"
#include "vecutil.h"
#include "banned.h"

#define HEX(p, n) (vec_hexs((const uint8_t *)(p), (n)).s)
#define BIG (EVM_TX_RAW_BYTES_MAX + 4096)

/* ------------------------------------------------------------------ */
/* Reading vector fields                                                */

static uint64_t ev_u64(const json_t *o, const char *key)
{
	const char *s = vec_str(o, key);
	char *end;
	unsigned long long v;

	cr_assert(s[0] >= '0' && s[0] <= '9', "vector \"%s\" is not a decimal", key);
	errno = 0;
	v = strtoull(s, &end, 10);
	cr_assert(errno == 0 && *end == '\0', "vector \"%s\" = '%s' is not a uint64", key, s);
	return (uint64_t)v;
}

static void ev_u256(struct rcpt_u256 *out, const json_t *o, const char *key)
{
	vec_unhex(out->be, sizeof(out->be), vec_str(o, key));
}

static void ev_addr(uint8_t out[RCPT_ADDR_BYTES], const json_t *o, const char *key)
{
	vec_unhex(out, RCPT_ADDR_BYTES, vec_str(o, key));
}

static void ev_b32(uint8_t out[32], const json_t *o, const char *key)
{
	vec_unhex(out, 32, vec_str(o, key));
}

static void ev_text(char *dst, size_t cap, const json_t *o, const char *key)
{
	size_t n = vec_strlen(o, key);

	cr_assert(n < cap, "vector \"%s\" is %zu bytes, over %zu", key, n, cap - 1);
	memcpy(dst, vec_str(o, key), n);
	dst[n] = '\0';
}

static void ev_job(struct rcpt_job *j, const json_t *o)
{
	memset(j, 0, sizeof(*j));
	ev_addr(j->customer, o, "customer");
	ev_addr(j->provider, o, "provider");
	ev_text(j->kernel, sizeof(j->kernel), o, "kernel");
	ev_b32(j->kernel_hash, o, "kernelHash");
	ev_text(j->params, sizeof(j->params), o, "params");
	ev_b32(j->input_root, o, "inputRoot");
	j->input_size = ev_u64(o, "inputSize");
	ev_u256(&j->max_price, o, "maxPrice");
	j->deadline = ev_u64(o, "deadline");
	j->nonce = ev_u64(o, "nonce");
}

static void ev_receipt(struct rcpt_receipt *r, const json_t *o)
{
	memset(r, 0, sizeof(*r));
	ev_b32(r->job, o, "job");
	ev_b32(r->kernel_hash, o, "kernelHash");
	ev_b32(r->input_root, o, "inputRoot");
	r->input_size = ev_u64(o, "inputSize");
	ev_b32(r->output_root, o, "outputRoot");
	r->output_size = ev_u64(o, "outputSize");
	ev_u256(&r->price, o, "price");
	ev_text(r->device, sizeof(r->device), o, "device");
	r->started_at_ms = ev_u64(o, "startedAt");
	r->finished_at_ms = ev_u64(o, "finishedAt");
	ev_addr(r->provider, o, "provider");
}

/* A transaction from its vector; *data is the caller's to free. */
static void ev_tx(struct evm_tx *tx, uint8_t **data, const json_t *o)
{
	const char *to = vec_str_or_null(o, "to");

	memset(tx, 0, sizeof(*tx));
	tx->chain_id = ev_u64(o, "chainId");
	tx->nonce = ev_u64(o, "nonce");
	ev_u256(&tx->max_priority_fee_per_gas, o, "maxPriorityFeePerGas");
	ev_u256(&tx->max_fee_per_gas, o, "maxFeePerGas");
	tx->gas_limit = ev_u64(o, "gasLimit");
	tx->has_to = to != NULL;
	if (to)
		vec_unhex(tx->to, RCPT_ADDR_BYTES, to);
	ev_u256(&tx->value, o, "value");
	*data = vec_unhex_alloc(&tx->data_len, vec_str(o, "data"));
	tx->data = *data;
}

static void ev_key(struct rcpt_key *key, const json_t *o)
{
	uint8_t secret[RCPT_SECKEY_BYTES], addr[RCPT_ADDR_BYTES];

	vec_unhex(secret, sizeof(secret), vec_str(o, "key"));
	cr_assert_eq(rcpt_key_from_secret(key, secret), RCPT_OK);
	ev_addr(addr, o, "address");
	cr_assert(vec_same(addr, key->address, RCPT_ADDR_BYTES), "vector key and address differ");
}

/* Compares b's content with the hex `want`. */
static void expect_buf(const struct evm_buf *b, const char *want, const char *what)
{
	size_t n;
	uint8_t *w = vec_unhex_alloc(&n, want);

	cr_expect(!b->overflow, "%s: overflow", what);
	cr_expect(b->len == n && vec_same(b->data, w, n), "%s: got %zu bytes %s, want %zu bytes %s",
		  what, b->len, HEX(b->data, b->len), n, HEX(w, n));
	free(w);
}

static uint8_t *pattern(size_t n, unsigned mul, unsigned add)
{
	uint8_t *p = malloc(n + 1);

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * mul + add) & 0xff);
	return p;
}

/* ------------------------------------------------------------------ */
/* RLP                                                                  */

Test(evm, rlp_bytes)
{
	json_t *root = vec_load("evm_rlp.json"), *v;
	uint8_t *out = malloc(BIG);
	size_t i;

	cr_assert_not_null(out);
	cr_assert(json_array_size(vec_get(root, "bytes")) >= 15);
	json_array_foreach(vec_get(root, "bytes"), i, v) {
		size_t n;
		uint8_t *in = vec_unhex_alloc(&n, vec_str(v, "input"));
		struct evm_buf b;

		evm_buf_init(&b, out, BIG);
		evm_rlp_bytes(&b, in, n);
		expect_buf(&b, vec_str(v, "rlp"), vec_str(v, "name"));
		free(in);
	}
	json_array_foreach(vec_get(root, "long"), i, v) {
		size_t n = (size_t)vec_int(v, "len");
		uint8_t *in = pattern(n, (unsigned)vec_int(v, "mul"), (unsigned)vec_int(v, "add"));
		uint8_t head[8], h[32], want[32];
		struct evm_buf b;

		evm_buf_init(&b, out, BIG);
		evm_rlp_bytes(&b, in, n);
		vec_unhex(head, sizeof(head), vec_str(v, "rlp_head"));
		vec_unhex(want, sizeof(want), vec_str(v, "rlp_keccak"));
		cr_expect(!b.overflow && b.len == (size_t)vec_int(v, "rlp_len"), "%s: length %zu",
			  vec_str(v, "name"), b.len);
		cr_expect(vec_same(b.data, head, sizeof(head)), "%s: head %s", vec_str(v, "name"),
			  HEX(b.data, 8));
		rcpt_keccak256(h, b.data, b.len);
		cr_expect(vec_same(h, want, 32), "%s: keccak of the encoding differs", vec_str(v, "name"));
		free(in);
	}
	free(out);
	json_decref(root);
}

Test(evm, rlp_uints)
{
	json_t *root = vec_load("evm_rlp.json"), *v;
	uint8_t out[64];
	size_t i;

	json_array_foreach(vec_get(root, "uints"), i, v) {
		struct rcpt_u256 u;
		struct evm_buf b;

		ev_u256(&u, v, "word");
		evm_buf_init(&b, out, sizeof(out));
		evm_rlp_u256(&b, &u);
		expect_buf(&b, vec_str(v, "rlp"), vec_str(v, "value"));
		if (json_is_true(vec_get(v, "fits_u64"))) {
			evm_buf_init(&b, out, sizeof(out));
			evm_rlp_u64(&b, ev_u64(v, "value"));
			expect_buf(&b, vec_str(v, "rlp"), vec_str(v, "value"));
		}
	}
	json_decref(root);
}

/* Encodes a vector's tree: {"bytes": hex} or {"list": [...]}; depth bounded. */
static void rlp_tree(struct evm_buf *b, const json_t *item, int depth)
{
	json_t *list = json_object_get(item, "list"), *v;
	size_t i, mark;

	cr_assert(depth < 16, "vector tree too deep");
	if (!list) {
		size_t n;
		uint8_t *p = vec_unhex_alloc(&n, vec_str(item, "bytes"));
		evm_rlp_bytes(b, p, n);
		free(p);
		return;
	}
	mark = evm_rlp_list_begin(b);
	json_array_foreach(list, i, v)
		rlp_tree(b, v, depth + 1);
	evm_rlp_list_end(b, mark);
}

Test(evm, rlp_lists)
{
	json_t *root = vec_load("evm_rlp.json"), *v;
	uint8_t out[4096];
	size_t i;

	cr_assert(json_array_size(vec_get(root, "lists")) >= 8);
	json_array_foreach(vec_get(root, "lists"), i, v) {
		struct evm_buf b;

		evm_buf_init(&b, out, sizeof(out));
		/* Something before the list: the mark is not always 0. */
		evm_buf_put(&b, (const uint8_t *)"\xaa", 1);
		rlp_tree(&b, vec_get(v, "tree"), 0);
		cr_expect(b.data[0] == 0xaa, "%s: the byte before the list moved", vec_str(v, "name"));
		b.data++;
		b.len--;
		expect_buf(&b, vec_str(v, "rlp"), vec_str(v, "name"));
	}
	json_decref(root);
}

/* Every capacity below the encoding's length overflows, writes nothing
 * past it, and keeps overflowing; the exact capacity does not. */
Test(evm, rlp_overflow_every_capacity)
{
	json_t *root = vec_load("evm_rlp.json"), *v;
	size_t i;

	json_array_foreach(vec_get(root, "lists"), i, v) {
		uint8_t full[4096], small[4096 + 8];
		struct evm_buf b;
		size_t want;

		evm_buf_init(&b, full, sizeof(full));
		rlp_tree(&b, vec_get(v, "tree"), 0);
		cr_assert(!b.overflow);
		want = b.len;
		for (size_t cap = 0; cap <= want; cap++) {
			memset(small, 0x5a, sizeof(small));
			evm_buf_init(&b, small, cap);
			rlp_tree(&b, vec_get(v, "tree"), 0);
			cr_expect(b.overflow == (cap < want), "%s: cap %zu overflow %d",
				  vec_str(v, "name"), cap, b.overflow);
			cr_expect(b.len <= cap, "%s: len %zu past cap %zu", vec_str(v, "name"), b.len, cap);
			for (size_t k = cap; k < sizeof(small); k++)
				cr_assert(small[k] == 0x5a, "%s: wrote byte %zu past cap %zu",
					  vec_str(v, "name"), k, cap);
			if (cap == want)
				cr_expect(vec_same(small, full, want));
		}
	}
	json_decref(root);
}

Test(evm, buf_overflow_is_sticky)
{
	uint8_t out[4];
	struct evm_buf b;

	evm_buf_init(&b, out, sizeof(out));
	evm_buf_put(&b, (const uint8_t *)"abc", 3);
	evm_buf_put(&b, (const uint8_t *)"de", 2);
	cr_assert(b.overflow);
	cr_assert_eq(b.len, 3);
	/* A write that would fit is a no-op once overflowed. */
	evm_buf_put(&b, (const uint8_t *)"f", 1);
	evm_rlp_u64(&b, 0);
	cr_assert_eq(b.len, 3);
	evm_buf_init(&b, NULL, 0);
	evm_buf_put(&b, NULL, 0);
	cr_assert(!b.overflow);
	evm_rlp_u64(&b, 1);
	cr_assert(b.overflow);
	cr_assert_eq(b.len, 0);
}

/* ------------------------------------------------------------------ */
/* Transactions                                                         */

Test(evm, tx_vectors)
{
	json_t *root = vec_load("evm_tx.json"), *v;
	uint8_t *raw = malloc(EVM_TX_RAW_BYTES_MAX);
	size_t i;

	cr_assert_not_null(raw);
	cr_assert(json_array_size(root) >= 25);
	json_array_foreach(root, i, v) {
		const char *name = vec_str(v, "name");
		struct evm_tx tx;
		struct rcpt_key key;
		struct evm_buf b;
		uint8_t *data, h[32], want[32], txh[32];
		size_t raw_len, n;
		uint8_t *want_raw;

		ev_key(&key, v);
		ev_tx(&tx, &data, vec_get(v, "tx"));
		evm_buf_init(&b, raw, EVM_TX_RAW_BYTES_MAX);
		cr_expect_eq(evm_tx_encode_unsigned(&b, &tx), RCPT_OK, "%s", name);
		expect_buf(&b, vec_str(v, "unsigned"), name);

		vec_unhex(want, 32, vec_str(v, "signingHash"));
		cr_expect_eq(evm_tx_signing_hash(h, &tx), RCPT_OK, "%s", name);
		cr_expect(vec_same(h, want, 32), "%s: signing hash %s", name, HEX(h, 32));

		cr_expect_eq(evm_tx_sign(raw, EVM_TX_RAW_BYTES_MAX, &raw_len, txh, &tx, &key), RCPT_OK,
			     "%s", name);
		want_raw = vec_unhex_alloc(&n, vec_str(v, "raw"));
		cr_expect(raw_len == n && vec_same(raw, want_raw, n), "%s: raw %s, want %s", name,
			  HEX(raw, raw_len), HEX(want_raw, n));
		vec_unhex(want, 32, vec_str(v, "hash"));
		cr_expect(vec_same(txh, want, 32), "%s: tx hash %s", name, HEX(txh, 32));
		/* Exactly enough room works; one byte less does not. */
		cr_expect_eq(evm_tx_sign(raw, n, &raw_len, txh, &tx, &key), RCPT_OK, "%s", name);
		cr_expect_eq(evm_tx_sign(raw, n - 1, &raw_len, txh, &tx, &key), RCPT_ERR_TOO_LARGE,
			     "%s", name);
		cr_expect_eq(raw_len, 0);
		rcpt_key_wipe(&key);
		free(want_raw);
		free(data);
	}
	free(raw);
	json_decref(root);
}

Test(evm, tx_refusals)
{
	static const uint8_t one = 1;
	uint8_t *big = calloc(1, EVM_TX_DATA_BYTES_MAX + 1);
	uint8_t *raw = malloc(EVM_TX_RAW_BYTES_MAX), h[32], secret[32] = { [31] = 1 };
	struct rcpt_key key;
	struct evm_tx tx;
	struct evm_buf b;
	size_t n = 99;

	cr_assert(big && raw);
	cr_assert_eq(rcpt_key_from_secret(&key, secret), RCPT_OK);
	memset(&tx, 0, sizeof(tx));
	tx.data = big;
	tx.data_len = EVM_TX_DATA_BYTES_MAX;
	/* The largest data fits EVM_TX_RAW_BYTES_MAX, as evm.h promises,
	 * with every field at its longest. */
	tx.gas_limit = tx.nonce = tx.chain_id = UINT64_MAX;
	memset(tx.max_fee_per_gas.be, 0xff, 32);
	memset(tx.max_priority_fee_per_gas.be, 0xff, 32);
	memset(tx.value.be, 0xff, 32);
	tx.has_to = 1;
	cr_assert_eq(evm_tx_sign(raw, EVM_TX_RAW_BYTES_MAX, &n, h, &tx, &key), RCPT_OK);
	cr_assert(n <= EVM_TX_RAW_BYTES_MAX);
	tx.data_len = EVM_TX_DATA_BYTES_MAX + 1;
	cr_assert_eq(evm_tx_signing_hash(h, &tx), RCPT_ERR_TOO_LARGE);
	cr_assert_eq(evm_tx_sign(raw, EVM_TX_RAW_BYTES_MAX, &n, h, &tx, &key), RCPT_ERR_TOO_LARGE);
	evm_buf_init(&b, raw, EVM_TX_RAW_BYTES_MAX);
	cr_assert_eq(evm_tx_encode_unsigned(&b, &tx), RCPT_ERR_TOO_LARGE);
	tx.data = NULL;
	tx.data_len = 1;
	cr_assert_eq(evm_tx_signing_hash(h, &tx), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_encode_unsigned(&b, &tx), RCPT_ERR_ARG);
	tx.data = &one;
	cr_assert_eq(evm_tx_signing_hash(NULL, &tx), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_signing_hash(h, NULL), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_encode_unsigned(NULL, &tx), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_sign(NULL, 10, &n, h, &tx, &key), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_sign(raw, 10, NULL, h, &tx, &key), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_sign(raw, 10, &n, NULL, &tx, &key), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_sign(raw, 10, &n, h, &tx, NULL), RCPT_ERR_ARG);
	cr_assert_eq(evm_tx_sign(raw, 10, &n, h, NULL, &key), RCPT_ERR_ARG);
	/* An encoding into a buffer that overflowed before is refused. */
	evm_buf_init(&b, raw, 1);
	evm_buf_put(&b, raw, 2);
	cr_assert_eq(evm_tx_encode_unsigned(&b, &tx), RCPT_ERR_TOO_LARGE);
	rcpt_key_wipe(&key);
	free(big);
	free(raw);
}

Test(evm, create_address)
{
	json_t *root = vec_load("evm_create.json"), *v;
	size_t i;

	cr_assert(json_array_size(root) >= 40);
	json_array_foreach(root, i, v) {
		uint8_t sender[20], want[20], got[20];

		ev_addr(sender, v, "sender");
		ev_addr(want, v, "address");
		evm_create_address(got, sender, ev_u64(v, "nonce"));
		cr_expect(vec_same(got, want, 20), "CREATE %s nonce %s: got %s", vec_str(v, "sender"),
			  vec_str(v, "nonce"), HEX(got, 20));
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* ABI encoding                                                         */

static void expect_selectors(const json_t *list, const char *key, size_t min)
{
	json_t *v;
	size_t i;

	cr_assert(json_array_size(list) >= min);
	json_array_foreach(list, i, v) {
		const char *sig = vec_str(v, "signature");
		uint8_t got[32], want[32];
		size_t n = strcmp(key, "topic") == 0 ? 32 : 4;

		vec_unhex(want, n, vec_str(v, key));
		if (n == 32)
			evm_abi_event_topic(got, sig);
		else
			evm_abi_selector(got, sig);
		cr_expect(vec_same(got, want, n), "%s: got %s", sig, HEX(got, n));
	}
}

Test(evm, abi_selectors_and_topics)
{
	json_t *root = vec_load("evm_abi.json");

	expect_selectors(vec_get(root, "selectors"), "selector", 50);
	expect_selectors(vec_get(root, "errors"), "selector", 40);
	expect_selectors(vec_get(root, "events"), "topic", 12);
	json_decref(root);
}

/* The signatures evm.h hard-codes are those of the contract's ABI. */
Test(evm, abi_signatures_match_the_artifact)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	int seen = 0;
	size_t i;

	json_array_foreach(vec_get(root, "selectors"), i, v) {
		const char *s = vec_str(v, "signature");
		seen += strcmp(s, EVM_SIG_OPEN_JOB) == 0;
		seen += strcmp(s, EVM_SIG_SUBMIT_RECEIPT) == 0;
		seen += strcmp(s, EVM_SIG_ATTEST) == 0;
	}
	cr_assert_eq(seen, 3, "EVM_SIG_* not all found in AssayEscrow's ABI");
	json_decref(root);
}

/* Runs a call builder at every capacity below its length: each must
 * refuse with RCPT_ERR_TOO_LARGE and write nothing past the capacity. */
typedef enum rcpt_err (*call_fn)(struct evm_buf *b, const json_t *v);

static void expect_call(call_fn fn, const json_t *v, const char *name)
{
	size_t n;
	uint8_t *want = vec_unhex_alloc(&n, vec_str(v, "data"));
	uint8_t *out = malloc(n + 64);
	struct evm_buf b;

	cr_assert_not_null(out);
	evm_buf_init(&b, out, n + 64);
	cr_expect_eq(fn(&b, v), RCPT_OK, "%s", name);
	cr_expect(b.len == n && vec_same(out, want, n), "%s: got %zu bytes %s, want %zu bytes %s",
		  name, b.len, HEX(out, b.len), n, HEX(want, n));
	for (size_t cap = 0; cap < n; cap += (cap < 200 ? 1 : 97)) {
		memset(out, 0x5a, n + 64);
		evm_buf_init(&b, out, cap);
		cr_expect_eq(fn(&b, v), RCPT_ERR_TOO_LARGE, "%s: cap %zu", name, cap);
		for (size_t k = cap; k < n + 64; k++)
			cr_assert(out[k] == 0x5a, "%s: byte %zu written past cap %zu", name, k, cap);
	}
	evm_buf_init(&b, out, n - 1);
	cr_expect_eq(fn(&b, v), RCPT_ERR_TOO_LARGE, "%s: one byte short", name);
	free(out);
	free(want);
}

static enum rcpt_err call_open_job(struct evm_buf *b, const json_t *v)
{
	struct rcpt_job job;
	uint8_t sig[65];

	ev_job(&job, vec_get(v, "job"));
	vec_unhex(sig, 65, vec_str(v, "signature"));
	return evm_abi_call_open_job(b, &job, sig);
}

static enum rcpt_err call_submit_receipt(struct evm_buf *b, const json_t *v)
{
	struct rcpt_receipt r;
	uint8_t sig[65];

	ev_receipt(&r, vec_get(v, "receipt"));
	vec_unhex(sig, 65, vec_str(v, "signature"));
	return evm_abi_call_submit_receipt(b, &r, sig);
}

static enum rcpt_err call_attest(struct evm_buf *b, const json_t *v)
{
	const json_t *ao = vec_get(v, "attestation");
	struct rcpt_attestation a;
	struct rcpt_receipt r;
	uint8_t sig[65];

	memset(&a, 0, sizeof(a));
	ev_b32(a.receipt, ao, "receipt");
	ev_b32(a.output_root, ao, "outputRoot");
	a.verdict = (uint8_t)vec_int(ao, "verdict");
	ev_addr(a.validator, ao, "validator");
	ev_receipt(&r, vec_get(v, "receipt"));
	vec_unhex(sig, 65, vec_str(v, "signature"));
	return evm_abi_call_attest(b, &a, sig, &r);
}

Test(evm, abi_open_job)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	size_t i;

	cr_assert(json_array_size(vec_get(root, "openJob")) >= 6);
	json_array_foreach(vec_get(root, "openJob"), i, v)
		expect_call(call_open_job, v, vec_str(v, "name"));
	json_decref(root);
}

Test(evm, abi_submit_receipt)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	size_t i;

	cr_assert(json_array_size(vec_get(root, "submitReceipt")) >= 5);
	json_array_foreach(vec_get(root, "submitReceipt"), i, v)
		expect_call(call_submit_receipt, v, vec_str(v, "name"));
	json_decref(root);
}

Test(evm, abi_attest)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	size_t i;

	cr_assert(json_array_size(vec_get(root, "attest")) >= 10);
	json_array_foreach(vec_get(root, "attest"), i, v)
		expect_call(call_attest, v, vec_str(v, "name"));
	json_decref(root);
}

Test(evm, abi_calls_refuse_misuse)
{
	struct rcpt_job job;
	struct rcpt_receipt r;
	struct rcpt_attestation a;
	uint8_t sig[65] = { 0 }, out[8192];
	struct evm_buf b;

	memset(&job, 'a', sizeof(job));     /* strings without their NUL */
	memset(&r, 'a', sizeof(r));
	memset(&a, 0, sizeof(a));
	evm_buf_init(&b, out, sizeof(out));
	cr_assert_eq(evm_abi_call_open_job(&b, &job, sig), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_call_submit_receipt(&b, &r, sig), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_call_attest(&b, &a, sig, &r), RCPT_ERR_ARG);
	cr_assert_eq(b.len, 0, "nothing written on a refusal");
	job.kernel[0] = job.params[0] = '\0';
	r.device[0] = '\0';
	cr_assert_eq(evm_abi_call_open_job(NULL, &job, sig), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_call_open_job(&b, NULL, sig), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_call_open_job(&b, &job, NULL), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_call_submit_receipt(&b, &r, NULL), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_call_attest(&b, &a, sig, NULL), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_call_open_job(&b, &job, sig), RCPT_OK);
	cr_assert_eq(evm_abi_call_submit_receipt(&b, &r, sig), RCPT_OK);
	cr_assert_eq(evm_abi_call_attest(&b, &a, sig, &r), RCPT_OK);
}

Test(evm, abi_simple_calls)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	uint8_t out[256];
	size_t i;

	cr_assert(json_array_size(vec_get(root, "simple")) >= 40);
	json_array_foreach(vec_get(root, "simple"), i, v) {
		const char *sig = vec_str(v, "signature"), *kind = vec_str(v, "kind");
		json_t *args = vec_get(v, "args");
		struct rcpt_u256 u;
		uint8_t a[20], w[32];
		struct evm_buf b;

		evm_buf_init(&b, out, sizeof(out));
		if (strcmp(kind, "none") == 0) {
			evm_abi_call_none(&b, sig);
		} else if (strcmp(kind, "u256") == 0) {
			vec_unhex(u.be, 32, json_string_value(json_array_get(args, 0)));
			evm_abi_call_u256(&b, sig, &u);
		} else if (strcmp(kind, "b32") == 0) {
			vec_unhex(w, 32, json_string_value(json_array_get(args, 0)));
			evm_abi_call_b32(&b, sig, w);
		} else if (strcmp(kind, "addr") == 0) {
			vec_unhex(a, 20, json_string_value(json_array_get(args, 0)));
			evm_abi_call_addr(&b, sig, a);
		} else {
			cr_assert_str_eq(kind, "addr_u256");
			vec_unhex(a, 20, json_string_value(json_array_get(args, 0)));
			vec_unhex(u.be, 32, json_string_value(json_array_get(args, 1)));
			evm_abi_call_addr_u256(&b, sig, a, &u);
		}
		expect_buf(&b, vec_str(v, "data"), sig);
	}
	json_decref(root);
}

Test(evm, abi_constructor_words)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	size_t i;

	json_array_foreach(vec_get(root, "constructor"), i, v) {
		json_t *args = vec_get(v, "args");
		struct rcpt_u256 words[10];
		uint8_t out[400];
		struct evm_buf b;

		cr_assert_eq(json_array_size(args), 10);
		for (size_t k = 0; k < 10; k++) {
			const char *s = json_string_value(json_array_get(args, k));
			cr_assert_not_null(s);
			if (strlen(s) == 42) {
				uint8_t a[20];
				vec_unhex(a, 20, s);
				evm_abi_word_from_addr(&words[k], a);
			} else {
				vec_unhex(words[k].be, 32, s);
			}
		}
		evm_buf_init(&b, out, sizeof(out));
		evm_abi_words(&b, words, 10);
		expect_buf(&b, vec_str(v, "encoded"), vec_str(v, "name"));
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* ABI decoding                                                         */

/* Decodes return vector v by its types and compares with its values. */
static void check_return(const json_t *v, const uint8_t *d, size_t n)
{
	json_t *types = vec_get(v, "types"), *values = vec_get(v, "values");
	const char *name = vec_str(v, "name");

	for (size_t k = 0; k < json_array_size(types); k++) {
		const char *t = json_string_value(json_array_get(types, k));
		const char *want = json_string_value(json_array_get(values, k));
		struct rcpt_u256 w;
		char got[80];

		cr_assert_eq(evm_abi_word(&w, d, n, k), RCPT_OK, "%s: word %zu", name, k);
		if (strcmp(t, "address") == 0) {
			uint8_t a[20], e[20];
			cr_expect_eq(evm_abi_word_addr(a, &w), RCPT_OK, "%s", name);
			vec_unhex(e, 20, want);
			cr_expect(vec_same(a, e, 20), "%s: address", name);
		} else if (strcmp(t, "uint64") == 0 || strcmp(t, "uint8") == 0) {
			uint64_t x;
			cr_expect_eq(evm_abi_word_u64(&x, &w), RCPT_OK, "%s", name);
			snprintf(got, sizeof(got), "%llu", (unsigned long long)x);
			cr_expect_str_eq(got, want, "%s", name);
			if (t[4] == '8') {
				uint8_t y;
				cr_expect_eq(evm_abi_word_u8(&y, &w), RCPT_OK, "%s", name);
				cr_expect_eq(y, x);
			}
		} else if (strcmp(t, "bool") == 0) {
			int x;
			cr_expect_eq(evm_abi_word_bool(&x, &w), RCPT_OK, "%s", name);
			cr_expect_eq(x, json_is_true(json_array_get(values, k)), "%s", name);
		} else if (strcmp(t, "string") == 0 || strcmp(t, "bytes") == 0) {
			const uint8_t *p;
			size_t len, wl;
			uint8_t *e = NULL;
			cr_expect_eq(evm_abi_dyn_bytes(&p, &len, d, n, k), RCPT_OK, "%s", name);
			if (t[0] == 'b') {
				e = vec_unhex_alloc(&wl, want);
				want = (const char *)e;
			} else {
				wl = json_string_length(json_array_get(values, k));
			}
			cr_expect(len == wl && vec_same(p, want, wl), "%s: content", name);
			free(e);
		}
	}
}

Test(evm, abi_return_data)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	size_t i;

	cr_assert(json_array_size(vec_get(root, "returns")) >= 15);
	json_array_foreach(vec_get(root, "returns"), i, v) {
		size_t n;
		uint8_t *d = vec_unhex_alloc(&n, vec_str(v, "data"));
		json_t *types = vec_get(v, "types");
		int all_static = 1;

		for (size_t k = 0; k < json_array_size(types); k++) {
			const char *t = json_string_value(json_array_get(types, k));
			all_static &= strcmp(t, "string") != 0 && strcmp(t, "bytes") != 0 &&
				      strstr(t, "[]") == NULL;
		}
		if (all_static)
			cr_expect_eq(evm_abi_words_exact(d, n, json_array_size(types)), RCPT_OK,
				     "%s", vec_str(v, "name"));
		check_return(v, d, n);
		/* Every truncation of a string or bytes before the end of its
		 * padded content is refused. */
		for (size_t k = 0; k < json_array_size(types); k++) {
			const char *t = json_string_value(json_array_get(types, k));
			const uint8_t *p;
			size_t len, end;

			if (strcmp(t, "string") != 0 && strcmp(t, "bytes") != 0)
				continue;
			cr_assert_eq(evm_abi_dyn_bytes(&p, &len, d, n, k), RCPT_OK);
			end = (size_t)(p - d) + (len + 31) / 32 * 32;
			for (size_t cut = 0; cut < end; cut++)
				cr_expect_eq(evm_abi_dyn_bytes(&p, &len, d, cut, k), RCPT_ERR_ABI,
					     "%s cut at %zu", vec_str(v, "name"), cut);
		}
		if (all_static && n)
			cr_expect_eq(evm_abi_words_exact(d, n - 1, json_array_size(types)),
				     RCPT_ERR_ABI);
		free(d);
	}
	json_decref(root);
}

Test(evm, abi_words_refuse_non_canonical)
{
	struct rcpt_u256 w;
	uint8_t a[20], b8;
	uint64_t u;
	int t;
	uint8_t data[64] = { 0 };

	memset(&w, 0, sizeof(w));
	w.be[11] = 1;
	cr_assert_eq(evm_abi_word_addr(a, &w), RCPT_ERR_ABI);
	w.be[11] = 0;
	w.be[12] = 1;
	cr_assert_eq(evm_abi_word_addr(a, &w), RCPT_OK);
	memset(&w, 0, sizeof(w));
	w.be[23] = 1;    /* 2^64 */
	cr_assert_eq(evm_abi_word_u64(&u, &w), RCPT_ERR_ABI);
	memset(&w, 0, sizeof(w));
	memset(w.be + 24, 0xff, 8);
	cr_assert_eq(evm_abi_word_u64(&u, &w), RCPT_OK);
	cr_assert_eq(u, UINT64_MAX);
	memset(&w, 0, sizeof(w));
	w.be[30] = 1;    /* 256 */
	cr_assert_eq(evm_abi_word_u8(&b8, &w), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_word_bool(&t, &w), RCPT_ERR_ABI);
	memset(&w, 0, sizeof(w));
	w.be[31] = 2;
	cr_assert_eq(evm_abi_word_bool(&t, &w), RCPT_ERR_ABI);
	w.be[0] = 1;
	w.be[31] = 1;
	cr_assert_eq(evm_abi_word_bool(&t, &w), RCPT_ERR_ABI);
	/* Word i needs 32 (i + 1) bytes. */
	cr_assert_eq(evm_abi_word(&w, data, 63, 1), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_word(&w, data, 64, 1), RCPT_OK);
	cr_assert_eq(evm_abi_word(&w, data, 64, SIZE_MAX), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_word(&w, NULL, 0, 0), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_word(&w, NULL, 1, 0), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_words_exact(data, 64, SIZE_MAX), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_word_addr(NULL, &w), RCPT_ERR_ARG);
	cr_assert_eq(evm_abi_word_u64(&u, NULL), RCPT_ERR_ARG);
}

/* A string return "Assay": offset 32, length 5, padded. */
static void assay_string(uint8_t d[96])
{
	memset(d, 0, 96);
	d[31] = 32;
	d[63] = 5;
	memcpy(d + 64, "Assay", 5);
}

Test(evm, abi_dyn_bytes_refuse_non_canonical)
{
	uint8_t d[160];
	const uint8_t *p;
	size_t n;

	assay_string(d);
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_OK);
	cr_assert(n == 5 && memcmp(p, "Assay", 5) == 0);
	d[31] = 33;     /* offset not a multiple of 32 */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_ERR_ABI);
	d[31] = 0;      /* offset inside the head */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_ERR_ABI);
	d[31] = 96;     /* offset at the end */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_ERR_ABI);
	assay_string(d);
	d[0] = 1;       /* offset over 2^64 */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_ERR_ABI);
	assay_string(d);
	d[63] = 33;     /* length past the end */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_ERR_ABI);
	d[63] = 32;     /* exactly the padded room: fine */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_OK);
	assay_string(d);
	d[40] = 1;      /* length over 2^64 */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_ERR_ABI);
	assay_string(d);
	d[95] = 1;      /* padding not zero */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 0), RCPT_ERR_ABI);
	assay_string(d);
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 69, 0), RCPT_ERR_ABI);  /* padding missing */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 64, 0), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 31, 0), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 1), RCPT_ERR_ABI);  /* head word 1 is the length */
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 96, 3), RCPT_ERR_ABI);
	cr_assert_eq(evm_abi_dyn_bytes(NULL, &n, d, 96, 0), RCPT_ERR_ARG);
	/* The empty string: offset and a zero length, nothing after. */
	memset(d, 0, 64);
	d[31] = 32;
	cr_assert_eq(evm_abi_dyn_bytes(&p, &n, d, 64, 0), RCPT_OK);
	cr_assert_eq(n, 0);
}

Test(evm, revert_data)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	size_t i;

	cr_assert(json_array_size(vec_get(root, "reverts")) >= 10);
	json_array_foreach(vec_get(root, "reverts"), i, v) {
		const char *name = vec_str(v, "name"), *kind = vec_str(v, "kind");
		size_t n;
		uint8_t *d = vec_unhex_alloc(&n, vec_str(v, "data"));
		struct evm_revert r;

		cr_expect_eq(evm_revert_parse(&r, d, n), RCPT_OK, "%s", name);
		if (strcmp(kind, "empty") == 0) {
			cr_expect_eq(r.kind, EVM_REVERT_EMPTY, "%s", name);
		} else if (strcmp(kind, "error") == 0) {
			cr_expect_eq(r.kind, EVM_REVERT_ERROR, "%s", name);
			cr_expect(r.message_len == vec_strlen(v, "message") &&
				  vec_same(r.message, vec_str(v, "message"), r.message_len), "%s", name);
			/* Anything more or less is not Error(string). */
			cr_expect_eq(evm_revert_parse(&r, d, n - 1), RCPT_ERR_ABI, "%s", name);
		} else if (strcmp(kind, "panic") == 0) {
			struct rcpt_u256 c;
			ev_u256(&c, v, "code");
			cr_expect_eq(r.kind, EVM_REVERT_PANIC, "%s", name);
			cr_expect(vec_same(r.panic_code.be, c.be, 32), "%s", name);
			cr_expect_eq(evm_revert_parse(&r, d, n - 1), RCPT_ERR_ABI, "%s", name);
		} else {
			uint8_t sel[4];
			size_t an;
			uint8_t *args = vec_unhex_alloc(&an, vec_str(v, "args"));
			vec_unhex(sel, 4, vec_str(v, "selector"));
			cr_expect_eq(r.kind, EVM_REVERT_CUSTOM, "%s", name);
			cr_expect(vec_same(r.selector, sel, 4), "%s", name);
			cr_expect(r.args_len == an && vec_same(r.args, args, an), "%s", name);
			free(args);
		}
		free(d);
	}
	json_decref(root);
}

Test(evm, revert_refusals)
{
	uint8_t d[4 + 96 + 32];
	struct evm_revert r;

	memcpy(d, "\x08\xc3\x79\xa0", 4);
	assay_string(d + 4);
	cr_assert_eq(evm_revert_parse(&r, d, 100), RCPT_OK);
	cr_assert_eq(r.kind, EVM_REVERT_ERROR);
	memset(d + 100, 0, 32);
	cr_assert_eq(evm_revert_parse(&r, d, 132), RCPT_ERR_ABI, "trailing word");
	for (size_t n = 1; n < 4; n++)
		cr_assert_eq(evm_revert_parse(&r, d, n), RCPT_ERR_ABI, "%zu bytes", n);
	cr_assert_eq(evm_revert_parse(&r, d, 4), RCPT_ERR_ABI, "Error without its string");
	memcpy(d, "\x4e\x48\x7b\x71", 4);
	cr_assert_eq(evm_revert_parse(&r, d, 36), RCPT_OK);
	cr_assert_eq(r.kind, EVM_REVERT_PANIC);
	cr_assert_eq(evm_revert_parse(&r, d, 68), RCPT_ERR_ABI, "Panic with two words");
	memcpy(d, "\x12\x34\x56\x78", 4);
	cr_assert_eq(evm_revert_parse(&r, d, 4), RCPT_OK);
	cr_assert(r.kind == EVM_REVERT_CUSTOM && r.args_len == 0);
	cr_assert_eq(evm_revert_parse(NULL, d, 4), RCPT_ERR_ARG);
	cr_assert_eq(evm_revert_parse(&r, NULL, 4), RCPT_ERR_ARG);
	cr_assert_eq(evm_revert_parse(&r, NULL, 0), RCPT_OK);
	cr_assert_eq(r.kind, EVM_REVERT_EMPTY);
}

Test(evm, event_logs)
{
	json_t *root = vec_load("evm_abi.json"), *v;
	size_t i;

	json_array_foreach(vec_get(root, "logs"), i, v) {
		const char *sig = vec_str(v, "signature");
		json_t *topics = vec_get(v, "topics");
		uint8_t t[4][32], want[32];
		size_t n, nt = json_array_size(topics);
		uint8_t *d = vec_unhex_alloc(&n, vec_str(v, "data"));
		struct rcpt_u256 w;

		cr_assert(nt >= 1 && nt <= 4);
		for (size_t k = 0; k < nt; k++)
			vec_unhex(t[k], 32, json_string_value(json_array_get(topics, k)));
		evm_abi_event_topic(want, sig);
		cr_expect(vec_same(t[0], want, 32), "%s: topic 0", sig);
		ev_b32(want, v, "job");
		cr_expect(vec_same(t[1], want, 32), "%s: job", sig);
		if (strncmp(sig, "JobOpened", 9) == 0) {
			uint8_t a[20], e[20];
			struct rcpt_u256 m;
			memcpy(w.be, t[2], 32);
			cr_expect_eq(evm_abi_word_addr(a, &w), RCPT_OK);
			ev_addr(e, v, "customer");
			cr_expect(vec_same(a, e, 20));
			memcpy(w.be, t[3], 32);
			cr_expect_eq(evm_abi_word_addr(a, &w), RCPT_OK);
			ev_addr(e, v, "provider");
			cr_expect(vec_same(a, e, 20));
			cr_expect_eq(evm_abi_words_exact(d, n, 1), RCPT_OK);
			cr_expect_eq(evm_abi_word(&w, d, n, 0), RCPT_OK);
			ev_u256(&m, v, "maxPrice");
			cr_expect(vec_same(w.be, m.be, 32));
		} else if (strncmp(sig, "JobSettled", 10) == 0) {
			uint8_t s;
			cr_expect_eq(evm_abi_word(&w, d, n, 0), RCPT_OK);
			cr_expect_eq(evm_abi_word_u8(&s, &w), RCPT_OK);
			cr_expect_eq(s, vec_int(v, "state"));
		} else {
			ev_b32(want, v, "receipt");
			cr_expect_eq(evm_abi_word(&w, d, n, 0), RCPT_OK);
			cr_expect(vec_same(w.be, want, 32), "%s: receipt", sig);
		}
		free(d);
	}
	json_decref(root);
}

Test(evm, err_abi_has_a_name)
{
	cr_assert_str_eq(rcpt_errname(RCPT_ERR_ABI), "abi");
	cr_assert_str_neq(rcpt_strerror(RCPT_ERR_ABI), "unknown error");
}
