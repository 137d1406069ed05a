/*
 * evm.c: RLP, EIP-1559 transactions, CREATE addresses and the contract
 * ABI (evm.h).
 *
 * Invariants of a struct evm_buf: len <= cap; once overflow is set the
 * buffer never changes again.  RLP integers are minimal big-endian
 * strings (0 is the empty string); a one-byte string below 0x80 is its
 * own encoding.  ABI encodings follow the Solidity ABI spec: static
 * values in place, dynamic ones (string, bytes, a tuple holding either)
 * behind an offset counted from the start of the enclosing tuple, their
 * content zero-padded to 32 bytes.  Every length here is bounded by
 * EVM_TX_DATA_BYTES_MAX or by a statement's string limits, so no size
 * computation below can overflow a size_t.
 */
#include <string.h>

#include "evm.h"
#include "internal.h"
#include "banned.h"

/* chainId, nonce, 2 fees, gasLimit, to, value: 9 + 9 + 33 + 33 + 9 + 21 + 33. */
#define TX_HEAD_BYTES_MAX 160
/* yParity, r, s: 1 + 33 + 33. */
#define TX_SIG_BYTES_MAX 80
/* A string or list header: one byte and at most 8 of length. */
#define RLP_HEADER_BYTES_MAX 9

/* ------------------------------------------------------------------ */
/* Buffers                                                              */

void evm_buf_init(struct evm_buf *b, uint8_t *data, size_t cap)
{
	RCPT_ASSERT(b != NULL);
	RCPT_ASSERT(data != NULL || cap == 0);
	b->data = data;
	b->len = 0;
	b->cap = cap;
	b->overflow = 0;
}

/* 1 when n more bytes fit; else sets the overflow flag and returns 0. */
static int buf_room(struct evm_buf *b, size_t n)
{
	RCPT_ASSERT(b->len <= b->cap);
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = 1;
		return 0;
	}
	return 1;
}

void evm_buf_put(struct evm_buf *b, const uint8_t *data, size_t len)
{
	RCPT_ASSERT(b != NULL);
	RCPT_ASSERT(data != NULL || len == 0);
	if (!buf_room(b, len))
		return;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

/* ------------------------------------------------------------------ */
/* RLP                                                                  */

/* v as minimal big-endian bytes into out; returns their number (0 for 0). */
static size_t be_min_u64(uint8_t out[8], uint64_t v)
{
	size_t n = 0;

	for (int shift = 56; shift >= 0; shift -= 8) {
		uint8_t byte = (uint8_t)(v >> shift);
		if (n || byte)
			out[n++] = byte;
	}
	RCPT_ASSERT(n <= 8);
	return n;
}

/* The header of an RLP string (base 0x80) or list (base 0xc0) of n
 * payload bytes; returns its length. */
static size_t rlp_header(uint8_t out[RLP_HEADER_BYTES_MAX], uint8_t base, size_t n)
{
	uint8_t be[8];
	size_t k;

	RCPT_ASSERT(base == 0x80 || base == 0xc0);
	if (n <= 55) {
		out[0] = (uint8_t)(base + n);
		return 1;
	}
	k = be_min_u64(be, (uint64_t)n);
	out[0] = (uint8_t)(base + 55 + k);
	memcpy(out + 1, be, k);
	return 1 + k;
}

void evm_rlp_bytes(struct evm_buf *b, const uint8_t *data, size_t len)
{
	uint8_t h[RLP_HEADER_BYTES_MAX];

	RCPT_ASSERT(b != NULL);
	RCPT_ASSERT(data != NULL || len == 0);
	if (len == 1 && data[0] < 0x80) {
		evm_buf_put(b, data, 1);
		return;
	}
	evm_buf_put(b, h, rlp_header(h, 0x80, len));
	evm_buf_put(b, data, len);
}

void evm_rlp_u64(struct evm_buf *b, uint64_t v)
{
	uint8_t be[8];

	evm_rlp_bytes(b, be, be_min_u64(be, v));
}

/* An integer given as n big-endian bytes, leading zeros dropped. */
static void rlp_be_int(struct evm_buf *b, const uint8_t *be, size_t n)
{
	size_t skip = 0;

	while (skip < n && be[skip] == 0)
		skip++;
	evm_rlp_bytes(b, be + skip, n - skip);
}

void evm_rlp_u256(struct evm_buf *b, const struct rcpt_u256 *v)
{
	RCPT_ASSERT(v != NULL);
	rlp_be_int(b, v->be, sizeof(v->be));
}

size_t evm_rlp_list_begin(struct evm_buf *b)
{
	RCPT_ASSERT(b != NULL);
	RCPT_ASSERT(b->len <= b->cap);
	return b->len;
}

void evm_rlp_list_end(struct evm_buf *b, size_t mark)
{
	uint8_t h[RLP_HEADER_BYTES_MAX];
	size_t n, hl;

	RCPT_ASSERT(b != NULL);
	if (b->overflow)
		return;
	RCPT_ASSERT(mark <= b->len);
	n = b->len - mark;
	hl = rlp_header(h, 0xc0, n);
	if (!buf_room(b, hl))
		return;
	memmove(b->data + mark + hl, b->data + mark, n);
	memcpy(b->data + mark, h, hl);
	b->len += hl;
}

/* ------------------------------------------------------------------ */
/* EIP-1559 transactions                                                */

/* Where a serialisation goes: a buffer, a running hash, or both. */
struct sink {
	struct evm_buf *b;
	struct rcpt_keccak *k;
};

static void sink_put(struct sink *s, const uint8_t *p, size_t n)
{
	if (s->b)
		evm_buf_put(s->b, p, n);
	if (s->k && n)
		rcpt_keccak_update(s->k, p, n);
}

static enum rcpt_err tx_check(const struct evm_tx *tx)
{
	if (!tx || (!tx->data && tx->data_len))
		return RCPT_ERR_ARG;
	if (tx->data_len > EVM_TX_DATA_BYTES_MAX)
		return RCPT_ERR_TOO_LARGE;
	return RCPT_OK;
}

/* The fields before `data`, each small and bounded. */
static void tx_head(struct evm_buf *h, const struct evm_tx *tx)
{
	evm_rlp_u64(h, tx->chain_id);
	evm_rlp_u64(h, tx->nonce);
	evm_rlp_u256(h, &tx->max_priority_fee_per_gas);
	evm_rlp_u256(h, &tx->max_fee_per_gas);
	evm_rlp_u64(h, tx->gas_limit);
	evm_rlp_bytes(h, tx->has_to ? tx->to : NULL, tx->has_to ? RCPT_ADDR_BYTES : 0);
	evm_rlp_u256(h, &tx->value);
	RCPT_ASSERT(!h->overflow);
}

/* 0x02 || rlp([head..., data, [], tail...]) into s.  The data (up to
 * EVM_TX_DATA_BYTES_MAX) is never copied into a scratch buffer: the
 * list's length is computed first from the parts. */
static void tx_emit(struct sink *s, const struct evm_tx *tx, const struct evm_buf *tail)
{
	static const uint8_t type = 0x02, empty_list = 0xc0;
	uint8_t hb[TX_HEAD_BYTES_MAX], dh[RLP_HEADER_BYTES_MAX], lh[RLP_HEADER_BYTES_MAX];
	struct evm_buf head;
	size_t dhl = 0, ll, payload;

	evm_buf_init(&head, hb, sizeof(hb));
	tx_head(&head, tx);
	if (!(tx->data_len == 1 && tx->data[0] < 0x80))
		dhl = rlp_header(dh, 0x80, tx->data_len);
	payload = head.len + dhl + tx->data_len + 1 + (tail ? tail->len : 0);
	ll = rlp_header(lh, 0xc0, payload);
	sink_put(s, &type, 1);
	sink_put(s, lh, ll);
	sink_put(s, hb, head.len);
	sink_put(s, dh, dhl);
	sink_put(s, tx->data, tx->data_len);
	sink_put(s, &empty_list, 1);
	if (tail)
		sink_put(s, tail->data, tail->len);
}

enum rcpt_err evm_tx_encode_unsigned(struct evm_buf *b, const struct evm_tx *tx)
{
	struct sink s = { b, NULL };
	enum rcpt_err rc;

	if (!b)
		return RCPT_ERR_ARG;
	rc = tx_check(tx);
	if (rc)
		return rc;
	tx_emit(&s, tx, NULL);
	return b->overflow ? RCPT_ERR_TOO_LARGE : RCPT_OK;
}

enum rcpt_err evm_tx_signing_hash(uint8_t out[RCPT_HASH_BYTES], const struct evm_tx *tx)
{
	struct rcpt_keccak k;
	struct sink s = { NULL, &k };
	enum rcpt_err rc;

	if (!out)
		return RCPT_ERR_ARG;
	rc = tx_check(tx);
	if (rc)
		return rc;
	rcpt_keccak_init(&k);
	tx_emit(&s, tx, NULL);
	rcpt_keccak_final(&k, out);
	return RCPT_OK;
}

enum rcpt_err evm_tx_sign(uint8_t *raw, size_t raw_cap, size_t *raw_len,
			  uint8_t hash[RCPT_HASH_BYTES],
			  const struct evm_tx *tx, const struct rcpt_key *key)
{
	uint8_t digest[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES], tb[TX_SIG_BYTES_MAX];
	struct evm_buf out, tail;
	struct sink s = { &out, NULL };
	enum rcpt_err rc;

	if (!raw || !raw_len || !hash || !key)
		return RCPT_ERR_ARG;
	*raw_len = 0;
	rc = evm_tx_signing_hash(digest, tx);
	if (rc)
		return rc;
	/* rcpt_sign_digest checks that the signature recovers to key's
	 * address under PROTOCOL.md's rules before returning it. */
	rc = rcpt_sign_digest(sig, key, digest);
	if (rc)
		return rc;
	RCPT_ASSERT(sig[64] == 27 || sig[64] == 28);
	evm_buf_init(&tail, tb, sizeof(tb));
	evm_rlp_u64(&tail, (uint64_t)(sig[64] - 27));   /* yParity */
	rlp_be_int(&tail, sig, 32);                     /* r */
	rlp_be_int(&tail, sig + 32, 32);                /* s */
	RCPT_ASSERT(!tail.overflow);
	evm_buf_init(&out, raw, raw_cap);
	tx_emit(&s, tx, &tail);
	if (out.overflow)
		return RCPT_ERR_TOO_LARGE;
	rcpt_keccak256(hash, raw, out.len);
	*raw_len = out.len;
	return RCPT_OK;
}

void evm_create_address(uint8_t out[RCPT_ADDR_BYTES],
			const uint8_t sender[RCPT_ADDR_BYTES], uint64_t nonce)
{
	uint8_t buf[40], h[RCPT_HASH_BYTES];
	struct evm_buf b;
	size_t mark;

	RCPT_ASSERT(out != NULL && sender != NULL);
	evm_buf_init(&b, buf, sizeof(buf));
	mark = evm_rlp_list_begin(&b);
	evm_rlp_bytes(&b, sender, RCPT_ADDR_BYTES);
	evm_rlp_u64(&b, nonce);
	evm_rlp_list_end(&b, mark);
	RCPT_ASSERT(!b.overflow);
	rcpt_keccak256(h, buf, b.len);
	memcpy(out, h + 12, RCPT_ADDR_BYTES);
}

/* ------------------------------------------------------------------ */
/* ABI encoding                                                         */

void evm_abi_selector(uint8_t out[EVM_SELECTOR_BYTES], const char *signature)
{
	uint8_t h[RCPT_HASH_BYTES];

	RCPT_ASSERT(out != NULL && signature != NULL);
	rcpt_keccak256(h, signature, strlen(signature));
	memcpy(out, h, EVM_SELECTOR_BYTES);
}

void evm_abi_event_topic(uint8_t out[RCPT_HASH_BYTES], const char *signature)
{
	RCPT_ASSERT(out != NULL && signature != NULL);
	rcpt_keccak256(out, signature, strlen(signature));
}

void evm_abi_put_selector(struct evm_buf *b, const char *signature)
{
	uint8_t sel[EVM_SELECTOR_BYTES];

	evm_abi_selector(sel, signature);
	evm_buf_put(b, sel, sizeof(sel));
}

void evm_abi_put_word(struct evm_buf *b, const uint8_t word[EVM_WORD_BYTES])
{
	RCPT_ASSERT(word != NULL);
	evm_buf_put(b, word, EVM_WORD_BYTES);
}

void evm_abi_put_u256(struct evm_buf *b, const struct rcpt_u256 *v)
{
	RCPT_ASSERT(v != NULL);
	evm_buf_put(b, v->be, sizeof(v->be));
}

void evm_abi_put_u64(struct evm_buf *b, uint64_t v)
{
	uint8_t w[EVM_WORD_BYTES];

	rcpt_word_u64(w, v);
	evm_buf_put(b, w, sizeof(w));
}

void evm_abi_put_addr(struct evm_buf *b, const uint8_t addr[RCPT_ADDR_BYTES])
{
	uint8_t w[EVM_WORD_BYTES];

	RCPT_ASSERT(addr != NULL);
	rcpt_word_address(w, addr);
	evm_buf_put(b, w, sizeof(w));
}

static size_t pad32(size_t n)
{
	return (n + 31) / 32 * 32;
}

/* The encoded size of a `bytes` or `string` of n bytes: length word and
 * the padded content. */
static size_t dyn_size(size_t n)
{
	return EVM_WORD_BYTES + pad32(n);
}

static void put_dyn(struct evm_buf *b, const void *p, size_t n)
{
	static const uint8_t zero[EVM_WORD_BYTES];

	evm_abi_put_u64(b, (uint64_t)n);
	evm_buf_put(b, p, n);
	evm_buf_put(b, zero, pad32(n) - n);
}

/* The length of a string inside its array of `cap` bytes; cap when it
 * has no terminating NUL there (misuse). */
static size_t text_len(const char *s, size_t cap)
{
	return strnlen(s, cap);
}

/* The JobSpec tuple; returns its encoded size. */
static size_t put_job_tuple(struct evm_buf *b, const struct rcpt_job *j,
			    size_t kl, size_t pl)
{
	const size_t head = 10 * EVM_WORD_BYTES;

	evm_abi_put_addr(b, j->customer);
	evm_abi_put_addr(b, j->provider);
	evm_abi_put_u64(b, head);                       /* kernel */
	evm_abi_put_word(b, j->kernel_hash);
	evm_abi_put_u64(b, head + dyn_size(kl));        /* params */
	evm_abi_put_word(b, j->input_root);
	evm_abi_put_u64(b, j->input_size);
	evm_abi_put_u256(b, &j->max_price);
	evm_abi_put_u64(b, j->deadline);
	evm_abi_put_u64(b, j->nonce);
	put_dyn(b, j->kernel, kl);
	put_dyn(b, j->params, pl);
	return head + dyn_size(kl) + dyn_size(pl);
}

/* The Receipt tuple; returns its encoded size. */
static size_t put_receipt_tuple(struct evm_buf *b, const struct rcpt_receipt *r, size_t dl)
{
	const size_t head = 11 * EVM_WORD_BYTES;

	evm_abi_put_word(b, r->job);
	evm_abi_put_word(b, r->kernel_hash);
	evm_abi_put_word(b, r->input_root);
	evm_abi_put_u64(b, r->input_size);
	evm_abi_put_word(b, r->output_root);
	evm_abi_put_u64(b, r->output_size);
	evm_abi_put_u256(b, &r->price);
	evm_abi_put_u64(b, head);                       /* device */
	evm_abi_put_u64(b, r->started_at_ms);
	evm_abi_put_u64(b, r->finished_at_ms);
	evm_abi_put_addr(b, r->provider);
	put_dyn(b, r->device, dl);
	return head + dyn_size(dl);
}

/* The status of a call builder: the buffer's, with the pair check that
 * exactly `want` bytes were written when nothing overflowed. */
static enum rcpt_err call_done(const struct evm_buf *b, size_t start, size_t want)
{
	if (b->overflow)
		return RCPT_ERR_TOO_LARGE;
	RCPT_ASSERT(b->len - start == want);
	return RCPT_OK;
}

enum rcpt_err evm_abi_call_open_job(struct evm_buf *b, const struct rcpt_job *job,
				    const uint8_t sig[RCPT_SIG_BYTES])
{
	size_t kl, pl, start, tuple, wrote;

	if (!b || !job || !sig)
		return RCPT_ERR_ARG;
	kl = text_len(job->kernel, sizeof(job->kernel));
	pl = text_len(job->params, sizeof(job->params));
	if (kl == sizeof(job->kernel) || pl == sizeof(job->params))
		return RCPT_ERR_ARG;
	start = b->len;
	tuple = 10 * EVM_WORD_BYTES + dyn_size(kl) + dyn_size(pl);
	evm_abi_put_selector(b, EVM_SIG_OPEN_JOB);
	evm_abi_put_u64(b, 2 * EVM_WORD_BYTES);         /* the JobSpec */
	evm_abi_put_u64(b, 2 * EVM_WORD_BYTES + tuple); /* the signature */
	wrote = put_job_tuple(b, job, kl, pl);
	RCPT_ASSERT(wrote == tuple);
	put_dyn(b, sig, RCPT_SIG_BYTES);
	return call_done(b, start, EVM_SELECTOR_BYTES + 2 * EVM_WORD_BYTES + tuple +
			 dyn_size(RCPT_SIG_BYTES));
}

enum rcpt_err evm_abi_call_submit_receipt(struct evm_buf *b, const struct rcpt_receipt *r,
					  const uint8_t sig[RCPT_SIG_BYTES])
{
	size_t dl, start, tuple, wrote;

	if (!b || !r || !sig)
		return RCPT_ERR_ARG;
	dl = text_len(r->device, sizeof(r->device));
	if (dl == sizeof(r->device))
		return RCPT_ERR_ARG;
	start = b->len;
	tuple = 11 * EVM_WORD_BYTES + dyn_size(dl);
	evm_abi_put_selector(b, EVM_SIG_SUBMIT_RECEIPT);
	evm_abi_put_u64(b, 2 * EVM_WORD_BYTES);
	evm_abi_put_u64(b, 2 * EVM_WORD_BYTES + tuple);
	wrote = put_receipt_tuple(b, r, dl);
	RCPT_ASSERT(wrote == tuple);
	put_dyn(b, sig, RCPT_SIG_BYTES);
	return call_done(b, start, EVM_SELECTOR_BYTES + 2 * EVM_WORD_BYTES + tuple +
			 dyn_size(RCPT_SIG_BYTES));
}

enum rcpt_err evm_abi_call_attest(struct evm_buf *b, const struct rcpt_attestation *a,
				  const uint8_t sig[RCPT_SIG_BYTES],
				  const struct rcpt_receipt *r)
{
	/* The Attestation is a static tuple: its 4 words sit in the head. */
	const size_t head = 6 * EVM_WORD_BYTES;
	size_t dl, start, tuple;

	if (!b || !a || !sig || !r)
		return RCPT_ERR_ARG;
	dl = text_len(r->device, sizeof(r->device));
	if (dl == sizeof(r->device))
		return RCPT_ERR_ARG;
	start = b->len;
	evm_abi_put_selector(b, EVM_SIG_ATTEST);
	evm_abi_put_word(b, a->receipt);
	evm_abi_put_word(b, a->output_root);
	evm_abi_put_u64(b, a->verdict);
	evm_abi_put_addr(b, a->validator);
	evm_abi_put_u64(b, head);                                /* the signature */
	evm_abi_put_u64(b, head + dyn_size(RCPT_SIG_BYTES));     /* the Receipt */
	put_dyn(b, sig, RCPT_SIG_BYTES);
	tuple = put_receipt_tuple(b, r, dl);
	return call_done(b, start, EVM_SELECTOR_BYTES + head + dyn_size(RCPT_SIG_BYTES) + tuple);
}

void evm_abi_call_none(struct evm_buf *b, const char *signature)
{
	evm_abi_put_selector(b, signature);
}

void evm_abi_call_b32(struct evm_buf *b, const char *signature,
		      const uint8_t arg[RCPT_HASH_BYTES])
{
	evm_abi_put_selector(b, signature);
	evm_abi_put_word(b, arg);
}

void evm_abi_call_u256(struct evm_buf *b, const char *signature,
		       const struct rcpt_u256 *arg)
{
	evm_abi_put_selector(b, signature);
	evm_abi_put_u256(b, arg);
}

void evm_abi_call_addr(struct evm_buf *b, const char *signature,
		       const uint8_t arg[RCPT_ADDR_BYTES])
{
	evm_abi_put_selector(b, signature);
	evm_abi_put_addr(b, arg);
}

void evm_abi_call_addr_u256(struct evm_buf *b, const char *signature,
			    const uint8_t addr[RCPT_ADDR_BYTES],
			    const struct rcpt_u256 *amount)
{
	evm_abi_put_selector(b, signature);
	evm_abi_put_addr(b, addr);
	evm_abi_put_u256(b, amount);
}

void evm_abi_words(struct evm_buf *b, const struct rcpt_u256 *words, size_t n)
{
	RCPT_ASSERT(words != NULL || n == 0);
	for (size_t i = 0; i < n; i++)
		evm_abi_put_u256(b, &words[i]);
}

void evm_abi_word_from_addr(struct rcpt_u256 *out, const uint8_t addr[RCPT_ADDR_BYTES])
{
	RCPT_ASSERT(out != NULL && addr != NULL);
	rcpt_word_address(out->be, addr);
}

/* ------------------------------------------------------------------ */
/* ABI decoding: every byte here came from a node or a contract         */

enum rcpt_err evm_abi_words_exact(const uint8_t *data, size_t len, size_t n)
{
	if (!data && len)
		return RCPT_ERR_ARG;
	if (n > SIZE_MAX / EVM_WORD_BYTES || len != n * EVM_WORD_BYTES)
		return RCPT_ERR_ABI;
	return RCPT_OK;
}

enum rcpt_err evm_abi_word(struct rcpt_u256 *out, const uint8_t *data,
			   size_t len, size_t i)
{
	if (!out || (!data && len))
		return RCPT_ERR_ARG;
	if (i >= len / EVM_WORD_BYTES)
		return RCPT_ERR_ABI;
	memcpy(out->be, data + i * EVM_WORD_BYTES, EVM_WORD_BYTES);
	return RCPT_OK;
}

/* 1 when the first n bytes of w are zero. */
static int leading_zero(const struct rcpt_u256 *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w->be[i])
			return 0;
	return 1;
}

enum rcpt_err evm_abi_word_addr(uint8_t out[RCPT_ADDR_BYTES], const struct rcpt_u256 *w)
{
	if (!out || !w)
		return RCPT_ERR_ARG;
	if (!leading_zero(w, 32 - RCPT_ADDR_BYTES))
		return RCPT_ERR_ABI;
	memcpy(out, w->be + 32 - RCPT_ADDR_BYTES, RCPT_ADDR_BYTES);
	return RCPT_OK;
}

enum rcpt_err evm_abi_word_u64(uint64_t *out, const struct rcpt_u256 *w)
{
	uint64_t v = 0;

	if (!out || !w)
		return RCPT_ERR_ARG;
	if (!leading_zero(w, 24))
		return RCPT_ERR_ABI;
	for (size_t i = 24; i < 32; i++)
		v = v << 8 | w->be[i];
	*out = v;
	return RCPT_OK;
}

enum rcpt_err evm_abi_word_u8(uint8_t *out, const struct rcpt_u256 *w)
{
	if (!out || !w)
		return RCPT_ERR_ARG;
	if (!leading_zero(w, 31))
		return RCPT_ERR_ABI;
	*out = w->be[31];
	return RCPT_OK;
}

enum rcpt_err evm_abi_word_bool(int *out, const struct rcpt_u256 *w)
{
	if (!out || !w)
		return RCPT_ERR_ARG;
	if (!leading_zero(w, 31) || w->be[31] > 1)
		return RCPT_ERR_ABI;
	*out = w->be[31];
	return RCPT_OK;
}

enum rcpt_err evm_abi_dyn_bytes(const uint8_t **out, size_t *out_len,
				const uint8_t *data, size_t len, size_t i)
{
	struct rcpt_u256 w;
	uint64_t off, n;
	size_t room;
	enum rcpt_err rc;

	if (!out || !out_len)
		return RCPT_ERR_ARG;
	rc = evm_abi_word(&w, data, len, i);
	if (rc)
		return rc;
	/* Word i was read, so 32 * (i + 1) <= len: no overflow below. */
	if (evm_abi_word_u64(&off, &w) || off % EVM_WORD_BYTES ||
	    off < (uint64_t)(i + 1) * EVM_WORD_BYTES || off >= len)
		return RCPT_ERR_ABI;
	rc = evm_abi_word(&w, data + off, len - (size_t)off, 0);
	if (rc || evm_abi_word_u64(&n, &w))
		return RCPT_ERR_ABI;
	room = len - (size_t)off - EVM_WORD_BYTES;
	if (n > room || pad32((size_t)n) > room)
		return RCPT_ERR_ABI;
	for (size_t k = (size_t)n; k < pad32((size_t)n); k++)
		if (data[off + EVM_WORD_BYTES + k])
			return RCPT_ERR_ABI;
	*out = data + off + EVM_WORD_BYTES;
	*out_len = (size_t)n;
	return RCPT_OK;
}

enum rcpt_err evm_revert_parse(struct evm_revert *out, const uint8_t *data, size_t len)
{
	uint8_t error_sel[EVM_SELECTOR_BYTES], panic_sel[EVM_SELECTOR_BYTES];
	const uint8_t *body;
	size_t blen;
	enum rcpt_err rc;

	if (!out || (!data && len))
		return RCPT_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (len == 0)
		return RCPT_OK;   /* EVM_REVERT_EMPTY */
	if (len < EVM_SELECTOR_BYTES)
		return RCPT_ERR_ABI;
	memcpy(out->selector, data, EVM_SELECTOR_BYTES);
	body = data + EVM_SELECTOR_BYTES;
	blen = len - EVM_SELECTOR_BYTES;
	evm_abi_selector(error_sel, "Error(string)");
	evm_abi_selector(panic_sel, "Panic(uint256)");
	if (memcmp(out->selector, error_sel, EVM_SELECTOR_BYTES) == 0) {
		rc = evm_abi_dyn_bytes(&out->message, &out->message_len, body, blen, 0);
		/* Exactly offset 32, the length and the padded string. */
		if (rc || blen != 2 * EVM_WORD_BYTES + pad32(out->message_len))
			return RCPT_ERR_ABI;
		out->kind = EVM_REVERT_ERROR;
	} else if (memcmp(out->selector, panic_sel, EVM_SELECTOR_BYTES) == 0) {
		if (evm_abi_words_exact(body, blen, 1))
			return RCPT_ERR_ABI;
		memcpy(out->panic_code.be, body, EVM_WORD_BYTES);
		out->kind = EVM_REVERT_PANIC;
	} else {
		out->kind = EVM_REVERT_CUSTOM;
		out->args = body;
		out->args_len = blen;
	}
	return RCPT_OK;
}
