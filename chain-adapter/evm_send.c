/*
 * evm_send.c: sending a signed EIP-1559 transaction and waiting for it
 * (evm_send in evm_rpc.h), with the nonce manager of struct evm_sender.
 *
 * Nonces: a sender holds the next nonce to use once it has asked the
 * node (eth_getTransactionCount, "pending"); each send takes one under
 * the mutex, so concurrent sends from one key never share a nonce.  A
 * "nonce too low" answer means the account moved on without us
 * (another process, a restart): resynchronise and sign again, a bounded
 * number of times.  Any other failure to hand the transaction to the
 * node leaves a gap at the nonce taken, so the next send resynchronises
 * too (the node's pending count then reuses the gap).
 *
 * Waits: every wait has a deadline on the monotonic clock and a poll
 * interval; the number of polls is bounded by both.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "assay_assert.h"
#include "evm_internal.h"
#include "banned.h"

int evm_sender_init(struct evm_sender *s, const struct rcpt_key *key)
{
	if (!s || !key)
		return -1;
	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->mu, NULL) != 0)
		return -1;
	s->key = *key;
	return 0;
}

void evm_sender_release(struct evm_sender *s)
{
	if (!s)
		return;
	rcpt_key_wipe(&s->key);
	pthread_mutex_destroy(&s->mu);
}

static enum evm_rpc_err take_nonce(struct evm_rpc *rpc, struct evm_sender *s, uint64_t *nonce)
{
	enum evm_rpc_err rc = EVM_RPC_OK;
	uint64_t n;

	ASSAY_ASSERT(pthread_mutex_lock(&s->mu) == 0);
	if (!s->synced) {
		rc = evm_rpc_nonce(rpc, &n, s->key.address);
		if (!rc) {
			s->next_nonce = n;
			s->synced = 1;
		}
	}
	if (!rc && s->next_nonce == UINT64_MAX) {
		evm_rpc_whyf(rpc, "sending: the account's nonce is exhausted");
		rc = EVM_RPC_ERR_NODE;
	}
	if (!rc)
		*nonce = s->next_nonce++;
	ASSAY_ASSERT(pthread_mutex_unlock(&s->mu) == 0);
	return rc;
}

static void desync(struct evm_sender *s)
{
	ASSAY_ASSERT(pthread_mutex_lock(&s->mu) == 0);
	s->synced = 0;
	ASSAY_ASSERT(pthread_mutex_unlock(&s->mu) == 0);
}

/* ------------------------------------------------------------------ */
/* Options, fees, gas                                                   */

static enum evm_rpc_err normalise(struct evm_send_opts *o, const struct evm_send_opts *in)
{
	memset(o, 0, sizeof(*o));
	if (in)
		*o = *in;
	if (!o->gas_margin_bps)
		o->gas_margin_bps = EVM_SEND_GAS_MARGIN_BPS_DEFAULT;
	if (!o->confirmations)
		o->confirmations = 1;
	if (!o->wait_ms)
		o->wait_ms = EVM_SEND_WAIT_MS_DEFAULT;
	if (!o->poll_ms)
		o->poll_ms = EVM_SEND_POLL_MS_DEFAULT;
	if (o->gas_margin_bps < 10000 || o->gas_margin_bps > EVM_SEND_GAS_MARGIN_BPS_MAX ||
	    o->confirmations > EVM_SEND_CONFIRMATIONS_MAX ||
	    o->wait_ms < 0 || o->wait_ms > EVM_SEND_WAIT_MS_MAX ||
	    o->poll_ms < EVM_SEND_POLL_MS_MIN || o->poll_ms > EVM_SEND_POLL_MS_MAX ||
	    (o->nabis && !o->abis))
		return EVM_RPC_ERR_ARG;
	return EVM_RPC_OK;
}

/* a + b into out; 1 on overflow. */
static int u256_add(struct rcpt_u256 *out, const struct rcpt_u256 *a, const struct rcpt_u256 *b)
{
	unsigned carry = 0;

	for (int i = 31; i >= 0; i--) {
		unsigned s = (unsigned)a->be[i] + b->be[i] + carry;
		out->be[i] = (uint8_t)s;
		carry = s >> 8;
	}
	return (int)carry;
}

/* a - b into out, or 0 when b > a. */
static void u256_sub_floor(struct rcpt_u256 *out, const struct rcpt_u256 *a,
			   const struct rcpt_u256 *b)
{
	int borrow = 0;

	if (rcpt_u256_cmp(a, b) <= 0) {
		memset(out, 0, sizeof(*out));
		return;
	}
	for (int i = 31; i >= 0; i--) {
		int d = (int)a->be[i] - b->be[i] - borrow;
		borrow = d < 0;
		out->be[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
	ASSAY_ASSERT(!borrow);
}

/* Tip from eth_maxPriorityFeePerGas (else the gas price less the base
 * fee), cap twice the base fee plus the tip. */
static enum evm_rpc_err fill_fees(struct evm_rpc *rpc, struct evm_tx *tx,
				  const struct evm_send_opts *o, const struct evm_block *latest)
{
	struct rcpt_u256 tip, price, twice;
	enum evm_rpc_err rc;

	if (o->fees_given) {
		tx->max_fee_per_gas = o->max_fee_per_gas;
		tx->max_priority_fee_per_gas = o->max_priority_fee_per_gas;
		return EVM_RPC_OK;
	}
	if (!latest->has_base_fee) {
		evm_rpc_whyf(rpc, "sending at %s: the chain has no base fee (EIP-1559); give the fees",
			     evm_rpc_where(rpc));
		return EVM_RPC_ERR_NODE;
	}
	rc = evm_rpc_max_priority_fee(rpc, &tip);
	if (rc == EVM_RPC_ERR_NODE) {
		rc = evm_rpc_gas_price(rpc, &price);
		if (!rc)
			u256_sub_floor(&tip, &price, &latest->base_fee_per_gas);
	}
	if (rc)
		return rc;
	if (u256_add(&twice, &latest->base_fee_per_gas, &latest->base_fee_per_gas) ||
	    u256_add(&tx->max_fee_per_gas, &twice, &tip)) {
		evm_rpc_whyf(rpc, "sending at %s: the node's fees overflow uint256", evm_rpc_where(rpc));
		return EVM_RPC_ERR_PROTOCOL;
	}
	tx->max_priority_fee_per_gas = tip;
	return EVM_RPC_OK;
}

static enum evm_rpc_err fill_gas(struct evm_rpc *rpc, const struct evm_sender *s,
				 struct evm_tx *tx, const struct evm_send_opts *o,
				 const struct evm_block *latest)
{
	enum evm_rpc_err rc;
	uint64_t est, g;

	if (tx->gas_limit)
		return EVM_RPC_OK;
	rc = evm_rpc_estimate_gas(rpc, &est, s->key.address, tx);
	if (rc)
		return rc;
	g = est > UINT64_MAX / EVM_SEND_GAS_MARGIN_BPS_MAX ? UINT64_MAX
							    : est * o->gas_margin_bps / 10000;
	/* The margin never takes the limit past the block's. */
	if (latest->gas_limit && g > latest->gas_limit)
		g = est > latest->gas_limit ? est : latest->gas_limit;
	ASSAY_ASSERT(g >= est);
	tx->gas_limit = g;
	return EVM_RPC_OK;
}

/* ------------------------------------------------------------------ */
/* Signing and handing over                                             */

static enum evm_rpc_err sign_and_send(struct evm_rpc *rpc, struct evm_sender *s,
				      struct evm_tx *tx, struct evm_sent *out)
{
	uint8_t *raw = malloc(EVM_TX_RAW_BYTES_MAX), hash[RCPT_HASH_BYTES];
	enum evm_rpc_err rc = EVM_RPC_ERR_NOMEM;
	enum rcpt_err erc;
	size_t n;

	for (int attempt = 0; raw && attempt <= EVM_SEND_NONCE_RETRIES; attempt++) {
		rc = take_nonce(rpc, s, &tx->nonce);
		if (rc)
			break;
		erc = evm_tx_sign(raw, EVM_TX_RAW_BYTES_MAX, &n, hash, tx, &s->key);
		if (erc) {
			evm_rpc_whyf(rpc, "sending: could not sign the transaction: %s",
				     rcpt_strerror(erc));
			rc = EVM_RPC_ERR_SIGN;
			desync(s);
			break;
		}
		rc = evm_rpc_send_raw(rpc, out->tx_hash, raw, n);
		if (rc == EVM_RPC_OK)
			break;
		desync(s);
		if (rc != EVM_RPC_ERR_NONCE)
			break;
	}
	if (!raw)
		evm_rpc_whyf(rpc, "sending: out of memory");
	ASSAY_ASSERT(rc != EVM_RPC_OK || memcmp(hash, out->tx_hash, RCPT_HASH_BYTES) == 0);
	out->nonce = tx->nonce;
	out->gas_limit = tx->gas_limit;
	free(raw);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Waiting                                                              */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec t = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* One look: EVM_RPC_OK with *done set when the receipt has its
 * confirmations (and, past one, is still where it was). */
static enum evm_rpc_err look(struct evm_rpc *rpc, const struct evm_send_opts *o,
			     struct evm_sent *out, int *done, uint64_t *have)
{
	struct evm_receipt r, again;
	enum evm_rpc_err rc;
	uint64_t head;
	int found;

	*done = 0;
	rc = evm_rpc_receipt(rpc, &r, &found, out->tx_hash);
	if (rc || !found)
		return rc;
	rc = evm_rpc_block_number(rpc, &head);
	*have = !rc && head >= r.block_number ? head - r.block_number + 1 : 0;
	if (!rc && *have >= o->confirmations && o->confirmations > 1) {
		/* Still in the same block after the wait: not reorganised away. */
		rc = evm_rpc_receipt(rpc, &again, &found, out->tx_hash);
		if (!rc && (!found || memcmp(again.block_hash, r.block_hash, RCPT_HASH_BYTES) != 0))
			*have = 0;
		if (!rc && found)
			evm_receipt_release(&again);
	}
	if (!rc && *have >= o->confirmations) {
		out->receipt = r;
		*done = 1;
		return EVM_RPC_OK;
	}
	evm_receipt_release(&r);
	return rc;
}

static enum evm_rpc_err wait_mined(struct evm_rpc *rpc, const struct evm_send_opts *o,
				   struct evm_sent *out)
{
	const int64_t deadline = now_ms() + o->wait_ms;
	const long polls_max = o->wait_ms / o->poll_ms + 2;
	char tx[RCPT_HASH_HEX_BYTES];
	enum evm_rpc_err rc = EVM_RPC_OK;
	uint64_t have = 0;
	int done = 0;

	for (long poll = 0; poll < polls_max; poll++) {
		rc = look(rpc, o, out, &done, &have);
		/* A node that drops a connection while we wait is waited out. */
		if (done || (rc && rc != EVM_RPC_ERR_UNREACHABLE && rc != EVM_RPC_ERR_HTTP))
			return rc;
		if (now_ms() >= deadline)
			break;
		sleep_ms(deadline - now_ms() < o->poll_ms ? deadline - now_ms() : o->poll_ms);
	}
	if (rcpt_hex_encode(tx, sizeof(tx), out->tx_hash, RCPT_HASH_BYTES) != RCPT_OK)
		tx[0] = '\0';
	if (rc)
		return rc;
	if (have)
		evm_rpc_whyf(rpc, "transaction %s has %llu of %u confirmations after %ld ms", tx,
			     (unsigned long long)have, o->confirmations, o->wait_ms);
	else
		evm_rpc_whyf(rpc, "transaction %s is not in a block after %ld ms", tx, o->wait_ms);
	return EVM_RPC_ERR_TIMEOUT;
}

/* ------------------------------------------------------------------ */
/* Reverts                                                              */

/* Rewrites why as "<what> reverted: <decoded revert data>". */
static void explain_revert(struct evm_rpc *rpc, const struct evm_send_opts *o, const char *what)
{
	char desc[EVM_RPC_WHY_BYTES];
	const uint8_t *data;
	size_t len;

	evm_rpc_revert_data(rpc, &data, &len);
	evm_revert_describe(desc, sizeof(desc), data, len, o->abis, o->nabis);
	evm_rpc_whyf(rpc, "%s reverted: %s", what, desc);
}

/* A mined transaction with status 0: replay it with eth_call on the
 * state before its block to learn why (the state may differ from the
 * one it met: the message says "replayed"). */
static void explain_failed(struct evm_rpc *rpc, const struct evm_send_opts *o,
			   const struct evm_sender *s, const struct evm_tx *tx,
			   const struct evm_sent *out)
{
	char txh[RCPT_HASH_HEX_BYTES], what[160];
	uint8_t *ret = NULL;
	size_t len;
	uint64_t block = out->receipt.block_number;
	enum evm_rpc_err rc;

	if (rcpt_hex_encode(txh, sizeof(txh), out->tx_hash, RCPT_HASH_BYTES) != RCPT_OK)
		txh[0] = '\0';
	snprintf(what, sizeof(what), "transaction %s (block %llu, gas used %llu of %llu)", txh,
		 (unsigned long long)block, (unsigned long long)out->receipt.gas_used,
		 (unsigned long long)out->gas_limit);
	rc = evm_rpc_call(rpc, &ret, &len, s->key.address, tx->has_to ? tx->to : NULL,
			  tx->data, tx->data_len, block ? block - 1 : 0);
	free(ret);
	if (rc == EVM_RPC_ERR_REVERTED)
		explain_revert(rpc, o, what);
	else
		evm_rpc_whyf(rpc, "%s reverted (a replay did not revert: out of gas?)", what);
}

enum evm_rpc_err evm_send(struct evm_rpc *rpc, struct evm_sender *s, const struct evm_tx *tmpl,
			  const struct evm_send_opts *opts, struct evm_sent *out)
{
	struct evm_send_opts o;
	struct evm_block latest;
	struct evm_tx tx;
	uint64_t chain;
	enum evm_rpc_err rc;

	if (!rpc || !s || !tmpl || !out || normalise(&o, opts) != EVM_RPC_OK ||
	    (!tmpl->data && tmpl->data_len) || tmpl->data_len > EVM_TX_DATA_BYTES_MAX)
		return EVM_RPC_ERR_ARG;
	memset(out, 0, sizeof(*out));
	tx = *tmpl;
	rc = evm_rpc_chain_id(rpc, &chain);
	if (!rc && tx.chain_id && tx.chain_id != chain) {
		evm_rpc_whyf(rpc, "sending at %s: the node is on chain %llu, not %llu",
			     evm_rpc_where(rpc), (unsigned long long)chain,
			     (unsigned long long)tx.chain_id);
		rc = EVM_RPC_ERR_CHAIN;
	}
	tx.chain_id = chain;
	if (!rc)
		rc = evm_rpc_block(rpc, &latest, EVM_BLOCK_LATEST);
	if (!rc)
		rc = fill_fees(rpc, &tx, &o, &latest);
	if (!rc)
		rc = fill_gas(rpc, s, &tx, &o, &latest);
	if (rc == EVM_RPC_ERR_REVERTED)
		explain_revert(rpc, &o, "estimating gas: the transaction");
	if (!rc)
		rc = sign_and_send(rpc, s, &tx, out);
	if (!rc)
		rc = wait_mined(rpc, &o, out);
	if (!rc && out->receipt.status != 1) {
		explain_failed(rpc, &o, s, &tx, out);
		rc = EVM_RPC_ERR_REVERTED;
	}
	return rc;
}
