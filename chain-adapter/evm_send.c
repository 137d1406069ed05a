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
 *
 * Fee bumps: the transactions sent at one nonce (the first and its
 * replacements, at most EVM_SEND_BUMPS_MAX + 1) form a set; each poll
 * looks for a receipt of any of them, newest first, since the node may
 * mine any one that it saw.  Once one is in a block, or the node says
 * the nonce is used, no further bump is sent.  A bump is never signed
 * with a maxFeePerGas above the caller's cap.
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

static int u256_is_zero(const struct rcpt_u256 *v)
{
	uint8_t any = 0;

	for (size_t i = 0; i < sizeof(v->be); i++)
		any |= v->be[i];
	return !any;
}

/* Bumps need a delay in range and a cap. */
static int bump_opts_bad(const struct evm_send_opts *o)
{
	if (!o->bump_after_ms)
		return 0;
	return o->bump_after_ms < EVM_SEND_POLL_MS_MIN || o->bump_after_ms > EVM_SEND_WAIT_MS_MAX ||
	       o->bumps_max > EVM_SEND_BUMPS_MAX || u256_is_zero(&o->fee_cap);
}

static enum evm_rpc_err normalise(struct evm_send_opts *o, const struct evm_send_opts *in)
{
	memset(o, 0, sizeof(*o));
	if (in)
		*o = *in;
	if (o->bump_after_ms && !o->bumps_max)
		o->bumps_max = EVM_SEND_BUMPS_DEFAULT;
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
	    (o->nabis && !o->abis) || bump_opts_bad(o))
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

/* v + max(1, ceil(v / 2^EVM_SEND_BUMP_SHIFT)); 1 on overflow. */
static int u256_bump(struct rcpt_u256 *v)
{
	const unsigned low = (1u << EVM_SEND_BUMP_SHIFT) - 1;
	struct rcpt_u256 part, one;
	unsigned carry = 0;

	for (int i = 0; i < 32; i++) {
		part.be[i] = (uint8_t)((v->be[i] >> EVM_SEND_BUMP_SHIFT) | carry);
		carry = (v->be[i] << (8 - EVM_SEND_BUMP_SHIFT)) & 0xffu;
	}
	rcpt_u256_from_u64(&one, 1);
	/* part < 2^253: adding one cannot overflow. */
	if ((v->be[31] & low) || u256_is_zero(&part))
		ASSAY_ASSERT(u256_add(&part, &part, &one) == 0);
	return u256_add(v, v, &part);
}

int evm_send_bump_fees(struct rcpt_u256 *max_fee_per_gas, struct rcpt_u256 *max_priority_fee_per_gas,
		       const struct rcpt_u256 *base_fee)
{
	struct rcpt_u256 floor, old_tip;

	if (!max_fee_per_gas || !max_priority_fee_per_gas)
		return -1;
	old_tip = *max_priority_fee_per_gas;
	if (u256_bump(max_fee_per_gas) || u256_bump(max_priority_fee_per_gas))
		return -1;
	floor = *max_priority_fee_per_gas;
	if (base_fee && (u256_add(&floor, base_fee, base_fee) ||
			 u256_add(&floor, &floor, max_priority_fee_per_gas)))
		return -1;
	if (rcpt_u256_cmp(max_fee_per_gas, &floor) < 0)
		*max_fee_per_gas = floor;
	ASSAY_ASSERT(rcpt_u256_cmp(max_priority_fee_per_gas, &old_tip) > 0);
	ASSAY_ASSERT(rcpt_u256_cmp(max_fee_per_gas, max_priority_fee_per_gas) >= 0);
	return 0;
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

/* Signs tx with s's key and hands it to the node; *hash is its hash. */
static enum evm_rpc_err sign_send(struct evm_rpc *rpc, const struct evm_sender *s,
				  const struct evm_tx *tx, uint8_t hash[RCPT_HASH_BYTES])
{
	uint8_t *raw = malloc(EVM_TX_RAW_BYTES_MAX), want[RCPT_HASH_BYTES];
	enum evm_rpc_err rc;
	enum rcpt_err erc;
	size_t n;

	if (!raw) {
		evm_rpc_whyf(rpc, "sending: out of memory");
		return EVM_RPC_ERR_NOMEM;
	}
	erc = evm_tx_sign(raw, EVM_TX_RAW_BYTES_MAX, &n, want, tx, &s->key);
	if (erc) {
		evm_rpc_whyf(rpc, "sending: could not sign the transaction: %s", rcpt_strerror(erc));
		rc = EVM_RPC_ERR_SIGN;
	} else {
		rc = evm_rpc_send_raw(rpc, hash, raw, n);
		ASSAY_ASSERT(rc != EVM_RPC_OK || memcmp(hash, want, RCPT_HASH_BYTES) == 0);
	}
	free(raw);
	return rc;
}

/* Takes a nonce, signs and sends, again with a fresh nonce when the node
 * calls it too low. */
static enum evm_rpc_err sign_and_send(struct evm_rpc *rpc, struct evm_sender *s,
				      struct evm_tx *tx, struct evm_sent *out)
{
	enum evm_rpc_err rc = EVM_RPC_OK;

	for (int attempt = 0; attempt <= EVM_SEND_NONCE_RETRIES; attempt++) {
		rc = take_nonce(rpc, s, &tx->nonce);
		if (rc)
			break;
		rc = sign_send(rpc, s, tx, out->tx_hash);
		if (rc == EVM_RPC_OK)
			break;
		desync(s);
		if (rc != EVM_RPC_ERR_NONCE)
			break;
	}
	out->nonce = tx->nonce;
	out->gas_limit = tx->gas_limit;
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

/* The transactions sent at one nonce: the first and its replacements. */
struct sent_set {
	struct evm_tx tx;                       /* the newest, as signed */
	uint8_t hash[EVM_SEND_BUMPS_MAX + 1][RCPT_HASH_BYTES];
	struct rcpt_u256 max_fee[EVM_SEND_BUMPS_MAX + 1];
	struct rcpt_u256 tip[EVM_SEND_BUMPS_MAX + 1];
	unsigned n;                             /* the first and n - 1 bumps */
	int64_t last_ms;                        /* when the newest was sent */
	int bumping;                            /* 0: no further bump */
};

static void set_add(struct sent_set *set, const struct evm_tx *tx,
		    const uint8_t hash[RCPT_HASH_BYTES])
{
	ASSAY_ASSERT(set->n <= EVM_SEND_BUMPS_MAX);
	ASSAY_ASSERT(set->n == 0 || set->tx.nonce == tx->nonce);
	set->tx = *tx;
	memcpy(set->hash[set->n], hash, RCPT_HASH_BYTES);
	set->max_fee[set->n] = tx->max_fee_per_gas;
	set->tip[set->n] = tx->max_priority_fee_per_gas;
	set->n++;
	set->last_ms = now_ms();
}

/* Names transaction i of the set in out. */
static void set_report(const struct sent_set *set, unsigned i, struct evm_sent *out)
{
	ASSAY_ASSERT(i < set->n);
	memcpy(out->tx_hash, set->hash[i], RCPT_HASH_BYTES);
	out->max_fee_per_gas = set->max_fee[i];
	out->max_priority_fee_per_gas = set->tip[i];
	out->bumps = set->n - 1;
}

/* One look at one transaction: *found when it is in a block, *done when
 * its receipt has the confirmations (and, past one, is still where it
 * was: then out->receipt holds it). */
static enum evm_rpc_err look(struct evm_rpc *rpc, const struct evm_send_opts *o,
			     const uint8_t hash[RCPT_HASH_BYTES], struct evm_sent *out,
			     int *found, int *done, uint64_t *have)
{
	struct evm_receipt r, again;
	enum evm_rpc_err rc;
	uint64_t head;
	int again_found;

	*done = 0;
	rc = evm_rpc_receipt(rpc, &r, found, hash);
	if (rc || !*found)
		return rc;
	rc = evm_rpc_block_number(rpc, &head);
	*have = !rc && head >= r.block_number ? head - r.block_number + 1 : 0;
	if (!rc && *have >= o->confirmations && o->confirmations > 1) {
		/* Still in the same block after the wait: not reorganised away. */
		rc = evm_rpc_receipt(rpc, &again, &again_found, hash);
		if (!rc && (!again_found ||
			    memcmp(again.block_hash, r.block_hash, RCPT_HASH_BYTES) != 0))
			*have = 0;
		if (!rc && again_found)
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

/* One look at every transaction of the set, newest first; the one in a
 * block, if any, is named in out and ends the bumps. */
static enum evm_rpc_err look_set(struct evm_rpc *rpc, const struct evm_send_opts *o,
				 struct sent_set *set, struct evm_sent *out, int *done,
				 uint64_t *have)
{
	enum evm_rpc_err rc = EVM_RPC_OK;
	int found = 0;

	*done = 0;
	for (unsigned i = set->n; i-- > 0 && !rc && !found;) {
		rc = look(rpc, o, set->hash[i], out, &found, done, have);
		if (!rc && found) {
			set_report(set, i, out);
			set->bumping = 0;
		}
	}
	return rc;
}

static int bump_due(const struct evm_send_opts *o, const struct sent_set *set)
{
	return set->bumping && set->n <= o->bumps_max &&
	       now_ms() - set->last_ms >= o->bump_after_ms;
}

static void cap_refused(struct evm_rpc *rpc, const struct evm_send_opts *o,
			const struct sent_set *set, const struct rcpt_u256 *fee, int overflow)
{
	char txh[RCPT_HASH_HEX_BYTES], want[RCPT_U256_DEC_BYTES], cap[RCPT_U256_DEC_BYTES];

	if (rcpt_hex_encode(txh, sizeof(txh), set->hash[set->n - 1], RCPT_HASH_BYTES) != RCPT_OK)
		txh[0] = '\0';
	rcpt_u256_format(cap, &o->fee_cap);
	if (overflow)
		snprintf(want, sizeof(want), "more than 2^256 - 1");
	else
		rcpt_u256_format(want, fee);
	evm_rpc_whyf(rpc, "transaction %s (nonce %llu) is not in a block after %u bump(s): "
		     "another would raise maxFeePerGas to %s wei, above the cap of %s wei; "
		     "it is still pending", txh, (unsigned long long)set->tx.nonce, set->n - 1,
		     want, cap);
}

/* Signs the newest transaction again at its nonce with raised fees and
 * sends it.  A nonce the node calls used means one of the set was mined
 * since the last look: no bump, the waiting goes on. */
static enum evm_rpc_err bump(struct evm_rpc *rpc, const struct evm_sender *s,
			     const struct evm_send_opts *o, struct sent_set *set,
			     struct evm_sent *out)
{
	char txh[RCPT_HASH_HEX_BYTES], node[EVM_RPC_WHY_BYTES];
	uint8_t hash[RCPT_HASH_BYTES];
	struct evm_block latest;
	struct evm_tx tx = set->tx;
	enum evm_rpc_err rc;
	int over;

	rc = evm_rpc_block(rpc, &latest, EVM_BLOCK_LATEST);
	if (rc)
		return rc;
	over = evm_send_bump_fees(&tx.max_fee_per_gas, &tx.max_priority_fee_per_gas,
				  latest.has_base_fee ? &latest.base_fee_per_gas : NULL);
	if (over || rcpt_u256_cmp(&tx.max_fee_per_gas, &o->fee_cap) > 0) {
		cap_refused(rpc, o, set, &tx.max_fee_per_gas, over);
		return EVM_RPC_ERR_FEE_CAP;
	}
	rc = sign_send(rpc, s, &tx, hash);
	if (rc == EVM_RPC_ERR_NONCE) {
		set->bumping = 0;
		return EVM_RPC_OK;
	}
	if (rc) {
		snprintf(node, sizeof(node), "%s", evm_rpc_why(rpc));
		if (rcpt_hex_encode(txh, sizeof(txh), set->hash[set->n - 1], RCPT_HASH_BYTES) != RCPT_OK)
			txh[0] = '\0';
		evm_rpc_whyf(rpc, "bumping the fees of transaction %s (still pending): %s", txh, node);
		return rc;
	}
	set_add(set, &tx, hash);
	set_report(set, set->n - 1, out);
	return EVM_RPC_OK;
}

/* A node that drops a connection while we wait is waited out. */
static int transient(enum evm_rpc_err rc)
{
	return rc == EVM_RPC_ERR_UNREACHABLE || rc == EVM_RPC_ERR_HTTP;
}

static enum evm_rpc_err wait_mined(struct evm_rpc *rpc, const struct evm_sender *s,
				   const struct evm_send_opts *o, struct sent_set *set,
				   struct evm_sent *out)
{
	const int64_t deadline = now_ms() + o->wait_ms;
	const long polls_max = o->wait_ms / o->poll_ms + 2;
	char tx[RCPT_HASH_HEX_BYTES];
	enum evm_rpc_err rc = EVM_RPC_OK;
	uint64_t have = 0;
	int done = 0;

	for (long poll = 0; poll < polls_max; poll++) {
		rc = look_set(rpc, o, set, out, &done, &have);
		if (!rc && !done && bump_due(o, set))
			rc = bump(rpc, s, o, set, out);
		if (done || (rc && !transient(rc)))
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

/* A first transaction whose maxFeePerGas is above the cap: not sent. */
static enum evm_rpc_err cap_first(struct evm_rpc *rpc, const struct evm_send_opts *o,
				  const struct evm_tx *tx)
{
	char fee[RCPT_U256_DEC_BYTES], cap[RCPT_U256_DEC_BYTES];

	rcpt_u256_format(fee, &tx->max_fee_per_gas);
	rcpt_u256_format(cap, &o->fee_cap);
	evm_rpc_whyf(rpc, "sending at %s: maxFeePerGas %s wei is above the cap of %s wei; "
		     "nothing sent", evm_rpc_where(rpc), fee, cap);
	return EVM_RPC_ERR_FEE_CAP;
}

enum evm_rpc_err evm_send(struct evm_rpc *rpc, struct evm_sender *s, const struct evm_tx *tmpl,
			  const struct evm_send_opts *opts, struct evm_sent *out)
{
	struct evm_send_opts o;
	struct evm_block latest;
	struct sent_set set;
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
	if (!rc && !u256_is_zero(&o.fee_cap) && rcpt_u256_cmp(&tx.max_fee_per_gas, &o.fee_cap) > 0)
		rc = cap_first(rpc, &o, &tx);
	if (!rc)
		rc = fill_gas(rpc, s, &tx, &o, &latest);
	if (rc == EVM_RPC_ERR_REVERTED)
		explain_revert(rpc, &o, "estimating gas: the transaction");
	if (!rc)
		rc = sign_and_send(rpc, s, &tx, out);
	if (!rc) {
		memset(&set, 0, sizeof(set));
		set_add(&set, &tx, out->tx_hash);
		set_report(&set, 0, out);
		set.bumping = o.bump_after_ms != 0;
		rc = wait_mined(rpc, s, &o, &set, out);
	}
	if (!rc && out->receipt.status != 1) {
		explain_failed(rpc, &o, s, &tx, out);
		rc = EVM_RPC_ERR_REVERTED;
	}
	return rc;
}
