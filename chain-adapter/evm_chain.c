/*
 * evm_chain.c: the EVM backend behind struct chain: AssayEscrow
 * (chain-adapter/evm/src/AssayEscrow.sol, docs/contract.md) keeps the
 * rules and the money; this file relays signed statements to it as
 * transactions (evm_send, from the relayer's key) and reads its views.
 *
 * Invariants of a `struct evm_chain`:
 * - `escrow` held code and answered token() when the handle was opened,
 *   and `chain_id` is the node's: chain_domain is (Assay, 1, chain_id,
 *   escrow), the domain the contract hashes statements under;
 * - a statement is checked for form here first (receipts.h computes its
 *   digest: what it refuses to hash is CHAIN_ERR_ARG, as on PostgreSQL),
 *   then sent; evm_send estimates the gas first, so a refusal costs no
 *   transaction and the revert's custom error is mapped to its chain_err
 *   (chain_evm_revert_err); a transaction mined with status 0 is mapped
 *   the same way from its replay;
 * - every value read from the node is checked (ABI shape, ranges), never
 *   asserted;
 * - now_s is ignored: the contract reads block.timestamp.
 * The ledger calls the contract has no counterpart for answer
 * CHAIN_ERR_UNSUPPORTED (chain.h, chain_evm_open).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assay_assert.h"
#include "chain.h"
#include "evm.h"
#include "evm_chain_internal.h"
#include "evm_rpc.h"
#include "banned.h"

_Static_assert(RCPT_KERNEL_BYTES_MAX + RCPT_PARAMS_BYTES_MAX + 1024 <= EVM_CHAIN_CALLDATA_BYTES,
	       "openJob's calldata fits the buffer");

struct evm_chain {
	struct chain base;            /* first: the vtable */
	struct evm_rpc *rpc;
	struct evm_sender sender;     /* the relayer's key and nonce */
	int sender_ok;
	uint8_t escrow[RCPT_ADDR_BYTES];
	uint64_t chain_id;
	struct evm_send_opts opts;
};

/* ------------------------------------------------------------------ */
/* Reverts and errors                                                   */

/* Every custom error of AssayEscrow and its chain_err (chain.h's enum
 * comments; tests/test_chain_conformance.c holds this table against the
 * contract's ABI). */
static const struct {
	const char *sig;
	enum chain_err err;
} evm_chain_reverts[] = {
	{ "ZeroAddress()", CHAIN_ERR_ARG },
	{ "ZeroAmount()", CHAIN_ERR_ARG },
	{ "AmountTooLarge()", CHAIN_ERR_OVERFLOW },
	{ "Insufficient()", CHAIN_ERR_INSUFFICIENT },
	{ "BadSignature()", CHAIN_ERR_SIGNATURE },
	{ "WrongSigner()", CHAIN_ERR_SIGNATURE },
	{ "SameParty()", CHAIN_ERR_SAME_PARTY },
	{ "JobExists()", CHAIN_ERR_EXISTS },
	{ "BadDeadline()", CHAIN_ERR_DEADLINE },
	{ "StakeTooLow()", CHAIN_ERR_STAKE_LOW },
	{ "StakeTooLowForPrice()", CHAIN_ERR_STAKE_FOR_PRICE },
	{ "WrongState()", CHAIN_ERR_STATE },
	{ "DeadlinePassed()", CHAIN_ERR_DEADLINE },
	{ "JobLink()", CHAIN_ERR_MISMATCH },
	{ "CommitmentMismatch()", CHAIN_ERR_MISMATCH },
	{ "ProviderMismatch()", CHAIN_ERR_MISMATCH },
	{ "PriceAboveMax()", CHAIN_ERR_PRICE },
	{ "BadTimes()", CHAIN_ERR_TIMES },
	{ "NotSettleable()", CHAIN_ERR_STATE },
	{ "WindowClosed()", CHAIN_ERR_WINDOW },
	{ "ReceiptMismatch()", CHAIN_ERR_MISMATCH },
	{ "BadVerdict()", CHAIN_ERR_VERDICT },
	{ "VerdictOutput()", CHAIN_ERR_VERDICT },
	{ "DisputeExists()", CHAIN_ERR_EXISTS },
	{ "TooManyDisputes()", CHAIN_ERR_DISPUTES_MAX },
	{ "NotReferee()", CHAIN_ERR_NOT_REFEREE },
	{ "DisputeNotOpen()", CHAIN_ERR_DISPUTE_NOT_OPEN },
	{ "DisputeExpiredAlready()", CHAIN_ERR_DISPUTE_EXPIRED },
	{ "DisputeNotExpired()", CHAIN_ERR_DISPUTE_NOT_EXPIRED },
	{ "NotReleasable()", CHAIN_OK },
	{ "StakeBacksOpenJobs()", CHAIN_ERR_STAKE_BACKS_JOBS },
	{ "StakeBacksOpenDisputes()", CHAIN_ERR_STAKE_BACKS_DISPUTES },
	/* deposit's and the constructor's: no call here sends them */
	{ "TransferShort()", CHAIN_ERR_BACKEND },
	{ "BadParameter()", CHAIN_ERR_BACKEND },
};
#define EVM_CHAIN_REVERTS (sizeof(evm_chain_reverts) / sizeof(evm_chain_reverts[0]))

enum chain_err chain_evm_revert_err(const uint8_t *data, size_t len)
{
	struct evm_revert r;
	uint8_t sel[EVM_SELECTOR_BYTES];

	if (evm_revert_parse(&r, data, len) != RCPT_OK || r.kind != EVM_REVERT_CUSTOM)
		return CHAIN_ERR_BACKEND;
	for (size_t i = 0; i < EVM_CHAIN_REVERTS; i++) {
		evm_abi_selector(sel, evm_chain_reverts[i].sig);
		/* AssayEscrow's errors carry no arguments */
		if (memcmp(sel, r.selector, sizeof(sel)) == 0 && r.args_len == 0)
			return evm_chain_reverts[i].err;
	}
	return CHAIN_ERR_BACKEND;
}

/* A failure of the node or of sending, as chain.h names it. */
static enum chain_err evm_chain_map(struct evm_chain *e, enum evm_rpc_err rc)
{
	const uint8_t *data = NULL;
	size_t len = 0;

	switch (rc) {
	case EVM_RPC_OK:
		return CHAIN_OK;
	case EVM_RPC_ERR_REVERTED:
		evm_rpc_revert_data(e->rpc, &data, &len);
		return chain_evm_revert_err(data, len);
	case EVM_RPC_ERR_NOMEM:
		return CHAIN_ERR_NOMEM;
	case EVM_RPC_ERR_UNREACHABLE:
	case EVM_RPC_ERR_HTTP:
	case EVM_RPC_ERR_TIMEOUT:   /* sent, not seen mined: it may still be */
	case EVM_RPC_ERR_FEE_CAP:   /* stuck below the fee cap: it may still be mined */
		return CHAIN_ERR_UNAVAILABLE;
	case EVM_RPC_ERR_NONCE:
		return CHAIN_ERR_CONFLICT;
	case EVM_RPC_ERR_ARG:
	case EVM_RPC_ERR_TOO_LARGE:
	case EVM_RPC_ERR_PROTOCOL:
	case EVM_RPC_ERR_NODE:
	case EVM_RPC_ERR_CHAIN:
	case EVM_RPC_ERR_SIGN:
	case EVM_RPC_ERR_COUNT_:
		break;
	}
	return CHAIN_ERR_BACKEND;
}

/* ------------------------------------------------------------------ */
/* Transactions and views                                               */

/* Sends data to the escrow from the relayer and waits for it.  On
 * CHAIN_OK *sent holds the receipt (evm_receipt_release it): empty when
 * the call reverted with an error that means success (NotReleasable);
 * on failure nothing is left to release. */
static enum chain_err evm_chain_send(struct evm_chain *e, const struct evm_buf *b,
				     struct evm_sent *sent)
{
	struct evm_tx tx;
	enum evm_rpc_err erc;
	enum chain_err rc;

	ASSAY_ASSERT(!b->overflow && b->len > 0);
	memset(&tx, 0, sizeof(tx));
	memset(sent, 0, sizeof(*sent));
	tx.chain_id = e->chain_id;
	tx.has_to = 1;
	memcpy(tx.to, e->escrow, RCPT_ADDR_BYTES);
	tx.data = b->data;
	tx.data_len = b->len;
	erc = evm_send(e->rpc, &e->sender, &tx, &e->opts, sent);
	if (erc == EVM_RPC_OK && sent->receipt.status == 1)
		return CHAIN_OK;
	/* evm_send answers OK for status 1 only: anything else is a bug of
	 * the node's or ours, not a refusal */
	rc = erc == EVM_RPC_OK ? CHAIN_ERR_BACKEND : evm_chain_map(e, erc);
	evm_receipt_release(&sent->receipt);
	return rc;
}

/* Sends and forgets the receipt. */
static enum chain_err evm_chain_send_only(struct evm_chain *e, const struct evm_buf *b)
{
	struct evm_sent sent;
	enum chain_err rc = evm_chain_send(e, b, &sent);

	if (rc == CHAIN_OK)
		evm_receipt_release(&sent.receipt);
	return rc;
}

/* A view of the escrow returning exactly n static words. */
static enum chain_err evm_chain_view(struct evm_chain *e, struct rcpt_u256 *words, size_t n,
				     const struct evm_buf *b)
{
	uint8_t *ret = NULL;
	size_t len = 0;
	enum chain_err rc;

	ASSAY_ASSERT(!b->overflow && n > 0);
	rc = evm_chain_map(e, evm_rpc_call(e->rpc, &ret, &len, NULL, e->escrow, b->data,
					   b->len, EVM_BLOCK_LATEST));
	if (!rc && evm_abi_words_exact(ret, len, n) != RCPT_OK)
		rc = CHAIN_ERR_BACKEND;
	for (size_t i = 0; !rc && i < n; i++)
		if (evm_abi_word(&words[i], ret, len, i) != RCPT_OK)
			rc = CHAIN_ERR_BACKEND;
	free(ret);
	return rc;
}

/* A view f() returning one word that must be a uint64 below `max`. */
static enum chain_err evm_chain_view_u64(struct evm_chain *e, uint64_t *out, const char *sig,
					 uint64_t max)
{
	uint8_t data[EVM_SELECTOR_BYTES];
	struct rcpt_u256 w;
	struct evm_buf b;
	enum chain_err rc;

	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_none(&b, sig);
	rc = evm_chain_view(e, &w, 1, &b);
	if (!rc && (evm_abi_word_u64(out, &w) != RCPT_OK || *out > max))
		rc = CHAIN_ERR_BACKEND;
	return rc;
}

/* The log of `topic_sig` that the escrow emitted in a receipt with
 * topic 1 equal to `job`; NULL when there is none. */
static const struct evm_log *evm_chain_log(const struct evm_chain *e,
					   const struct evm_receipt *r, const char *topic_sig,
					   const uint8_t job[RCPT_HASH_BYTES])
{
	uint8_t topic[RCPT_HASH_BYTES];

	evm_abi_event_topic(topic, topic_sig);
	for (size_t i = 0; i < r->nlogs; i++) {
		const struct evm_log *l = &r->logs[i];
		if (memcmp(l->address, e->escrow, RCPT_ADDR_BYTES) == 0 && l->ntopics >= 2 &&
		    memcmp(l->topics[0], topic, RCPT_HASH_BYTES) == 0 &&
		    memcmp(l->topics[1], job, RCPT_HASH_BYTES) == 0)
			return l;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* What the contract has no counterpart for                             */

static enum chain_err evm_unsupported_move(struct chain *c, const uint8_t who[RCPT_ADDR_BYTES],
					   const struct rcpt_u256 *amount, uint64_t now_s,
					   const uint8_t *op)
{
	(void)c, (void)who, (void)amount, (void)now_s, (void)op;
	return CHAIN_ERR_UNSUPPORTED;
}

static enum chain_err evm_unsupported_lock(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
					   const uint8_t customer[RCPT_ADDR_BYTES],
					   const uint8_t provider[RCPT_ADDR_BYTES],
					   const struct rcpt_u256 *max_price, uint64_t now_s)
{
	(void)c, (void)job, (void)customer, (void)provider, (void)max_price, (void)now_s;
	return CHAIN_ERR_UNSUPPORTED;
}

static enum chain_err evm_unsupported_release(struct chain *c,
					      const uint8_t job[RCPT_HASH_BYTES],
					      const struct rcpt_u256 *price, uint64_t now_s)
{
	(void)c, (void)job, (void)price, (void)now_s;
	return CHAIN_ERR_UNSUPPORTED;
}

static enum chain_err evm_unsupported_refund(struct chain *c,
					     const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s)
{
	(void)c, (void)job, (void)now_s;
	return CHAIN_ERR_UNSUPPORTED;
}

static enum chain_err evm_unsupported_slash(struct chain *c,
					    const uint8_t offender[RCPT_ADDR_BYTES],
					    const struct rcpt_u256 *amount,
					    const uint8_t bounty_to[RCPT_ADDR_BYTES],
					    const struct rcpt_u256 *bounty,
					    const uint8_t job[RCPT_HASH_BYTES], uint64_t now_s)
{
	(void)c, (void)offender, (void)amount, (void)bounty_to, (void)bounty, (void)job,
		(void)now_s;
	return CHAIN_ERR_UNSUPPORTED;
}

static enum chain_err evm_unsupported_events(struct chain *c, struct chain_event *out,
					     size_t *count, size_t max, uint64_t after_seq)
{
	(void)c, (void)out, (void)max, (void)after_seq;
	if (count)
		*count = 0;
	return CHAIN_ERR_UNSUPPORTED;
}

static enum chain_err evm_unsupported_check(struct chain *c, char *why, size_t why_len)
{
	(void)c;
	if (why && why_len > 0)
		snprintf(why, why_len, "%s", "the contract keeps its own invariants");
	return CHAIN_ERR_UNSUPPORTED;
}

/* ------------------------------------------------------------------ */
/* Accounts                                                             */

static void evm_chain_free(struct chain *c)
{
	struct evm_chain *e = (struct evm_chain *)c;

	if (!e)
		return;
	if (e->sender_ok)
		evm_sender_release(&e->sender);
	evm_rpc_free(e->rpc);
	free(e);
}

static void evm_chain_domain(struct chain *c, struct rcpt_domain *out)
{
	struct evm_chain *e = (struct evm_chain *)c;

	ASSAY_ASSERT(e && out);
	rcpt_domain_assay(out, e->chain_id, e->escrow);
}

/* available(who), bonded(who), unbonding(who) -> (amount, releaseAt). */
static enum chain_err evm_chain_balance(struct chain *c, struct chain_balance *out,
					const uint8_t who[RCPT_ADDR_BYTES])
{
	struct evm_chain *e = (struct evm_chain *)c;
	uint8_t data[EVM_SELECTOR_BYTES + EVM_WORD_BYTES];
	struct rcpt_u256 w[2];
	struct chain_balance bal;
	struct evm_buf b;
	enum chain_err rc = CHAIN_ERR_ARG;

	if (!c || !out || !who)
		return rc;
	memset(&bal, 0, sizeof(bal));
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr(&b, "available(address)", who);
	rc = evm_chain_view(e, &bal.available, 1, &b);
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr(&b, "bonded(address)", who);
	if (!rc)
		rc = evm_chain_view(e, &bal.stake, 1, &b);
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr(&b, "unbonding(address)", who);
	if (!rc)
		rc = evm_chain_view(e, w, 2, &b);
	if (!rc && evm_abi_word_u64(&bal.next_release_s, &w[1]) != RCPT_OK)
		rc = CHAIN_ERR_BACKEND;
	if (rc)
		return rc;
	bal.unbonding = w[0];
	if (rcpt_u256_cmp(&bal.unbonding, &(struct rcpt_u256){ { 0 } }) == 0)
		bal.next_release_s = 0;   /* the contract keeps a stale time */
	*out = bal;
	return CHAIN_OK;
}

/* releaseUnbonded(who): anyone may send it for anyone. */
static enum chain_err evm_chain_release_unbonded(struct chain *c,
						 const uint8_t who[RCPT_ADDR_BYTES],
						 uint64_t now_s, const uint8_t *op)
{
	struct evm_chain *e = (struct evm_chain *)c;
	uint8_t data[EVM_SELECTOR_BYTES + EVM_WORD_BYTES];
	static const uint8_t zero[RCPT_ADDR_BYTES];
	struct evm_buf b;

	(void)now_s;
	if (!c || !who || memcmp(who, zero, RCPT_ADDR_BYTES) == 0)
		return CHAIN_ERR_ARG;
	if (op)
		return CHAIN_ERR_UNSUPPORTED;   /* the contract keeps no operation ids */
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr(&b, "releaseUnbonded(address)", who);
	/* NotReleasable (nothing due) maps to CHAIN_OK: chain.h's contract. */
	return evm_chain_send_only(e, &b);
}

/* ------------------------------------------------------------------ */
/* The statement calls                                                  */

static enum chain_err evm_chain_open_job(struct chain *c, uint8_t job_out[RCPT_HASH_BYTES],
					 const struct rcpt_job *spec,
					 const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s)
{
	struct evm_chain *e = (struct evm_chain *)c;
	uint8_t data[EVM_CHAIN_CALLDATA_BYTES], job[RCPT_HASH_BYTES];
	struct rcpt_domain d;
	struct evm_sent sent;
	struct evm_buf b;
	enum chain_err rc;

	(void)now_s;
	if (!c || !job_out || !spec || !sig)
		return CHAIN_ERR_ARG;
	evm_chain_domain(c, &d);
	evm_buf_init(&b, data, sizeof(data));
	if (rcpt_job_id(job, NULL, &d, spec) != RCPT_OK ||
	    evm_abi_call_open_job(&b, spec, sig) != RCPT_OK)
		return CHAIN_ERR_ARG;
	rc = evm_chain_send(e, &b, &sent);
	if (rc)
		return rc;
	/* JobOpened(job, ...) names the id the contract computed: ours. */
	if (!evm_chain_log(e, &sent.receipt,
			   "JobOpened(bytes32,address,address,uint256)", job))
		rc = CHAIN_ERR_BACKEND;
	else
		memcpy(job_out, job, RCPT_HASH_BYTES);
	evm_receipt_release(&sent.receipt);
	return rc;
}

static enum chain_err evm_chain_submit_receipt(struct chain *c,
					       uint8_t receipt_out[RCPT_HASH_BYTES],
					       const struct rcpt_receipt *r,
					       const uint8_t sig[RCPT_SIG_BYTES], uint64_t now_s)
{
	struct evm_chain *e = (struct evm_chain *)c;
	uint8_t data[EVM_CHAIN_CALLDATA_BYTES], rid[RCPT_HASH_BYTES];
	const struct evm_log *l;
	struct rcpt_u256 w;
	struct rcpt_domain d;
	struct evm_sent sent;
	struct evm_buf b;
	enum chain_err rc;

	(void)now_s;
	if (!c || !receipt_out || !r || !sig)
		return CHAIN_ERR_ARG;
	evm_chain_domain(c, &d);
	evm_buf_init(&b, data, sizeof(data));
	if (rcpt_receipt_id(rid, NULL, &d, r) != RCPT_OK ||
	    evm_abi_call_submit_receipt(&b, r, sig) != RCPT_OK)
		return CHAIN_ERR_ARG;
	rc = evm_chain_send(e, &b, &sent);
	if (rc)
		return rc;
	/* ReceiptSubmitted(job, receipt): the receipt id the contract computed. */
	l = evm_chain_log(e, &sent.receipt, "ReceiptSubmitted(bytes32,bytes32)", r->job);
	if (!l || evm_abi_words_exact(l->data, l->data_len, 1) != RCPT_OK ||
	    evm_abi_word(&w, l->data, l->data_len, 0) != RCPT_OK ||
	    memcmp(w.be, rid, RCPT_HASH_BYTES) != 0)
		rc = CHAIN_ERR_BACKEND;
	else
		memcpy(receipt_out, rid, RCPT_HASH_BYTES);
	evm_receipt_release(&sent.receipt);
	return rc;
}

static enum chain_err evm_chain_settle(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				       uint64_t now_s)
{
	uint8_t data[EVM_SELECTOR_BYTES + EVM_WORD_BYTES];
	struct evm_buf b;

	(void)now_s;
	if (!c || !job)
		return CHAIN_ERR_ARG;
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_b32(&b, "settle(bytes32)", job);
	return evm_chain_send_only((struct evm_chain *)c, &b);
}

static enum chain_err evm_chain_attest(struct chain *c, const struct rcpt_attestation *a,
				       const uint8_t sig[RCPT_SIG_BYTES],
				       const struct rcpt_receipt *r, uint64_t now_s)
{
	uint8_t data[EVM_CHAIN_CALLDATA_BYTES], h[RCPT_HASH_BYTES];
	struct rcpt_domain d;
	struct evm_buf b;

	(void)now_s;
	if (!c || !a || !sig || !r)
		return CHAIN_ERR_ARG;
	evm_chain_domain(c, &d);
	evm_buf_init(&b, data, sizeof(data));
	/* The same forms as the PostgreSQL backend refuses (a verdict
	 * other than 1 or 2 among them). */
	if (rcpt_receipt_id(h, NULL, &d, r) != RCPT_OK ||
	    rcpt_attestation_digest(h, NULL, &d, a) != RCPT_OK ||
	    evm_abi_call_attest(&b, a, sig, r) != RCPT_OK)
		return CHAIN_ERR_ARG;
	return evm_chain_send_only((struct evm_chain *)c, &b);
}

/* f(bytes32 job, address validator[, bool]) */
static enum chain_err evm_chain_dispute_call(struct chain *c, const char *sig,
					     const uint8_t job[RCPT_HASH_BYTES],
					     const uint8_t validator[RCPT_ADDR_BYTES], int flag)
{
	uint8_t data[EVM_SELECTOR_BYTES + 3 * EVM_WORD_BYTES];
	struct evm_buf b;

	if (!c || !job || !validator)
		return CHAIN_ERR_ARG;
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_put_selector(&b, sig);
	evm_abi_put_word(&b, job);
	evm_abi_put_addr(&b, validator);
	if (flag >= 0)
		evm_abi_put_u64(&b, (uint64_t)flag);
	return evm_chain_send_only((struct evm_chain *)c, &b);
}

static enum chain_err evm_chain_decide(struct chain *c, const uint8_t job[RCPT_HASH_BYTES],
				       const uint8_t validator[RCPT_ADDR_BYTES],
				       int provider_wrong, uint64_t now_s)
{
	(void)now_s;
	/* The contract checks the sender: the relayer's key must be its referee. */
	return evm_chain_dispute_call(c, "decide(bytes32,address,bool)", job, validator,
				      provider_wrong != 0);
}

static enum chain_err evm_chain_expire_dispute(struct chain *c,
					       const uint8_t job[RCPT_HASH_BYTES],
					       const uint8_t validator[RCPT_ADDR_BYTES],
					       uint64_t now_s)
{
	(void)now_s;
	return evm_chain_dispute_call(c, "expireDispute(bytes32,address)", job, validator, -1);
}

/* ------------------------------------------------------------------ */
/* Reads                                                                */

static enum chain_err evm_chain_job_state(struct chain *c, enum chain_job_state *out,
					  const uint8_t job[RCPT_HASH_BYTES])
{
	uint8_t data[EVM_SELECTOR_BYTES + EVM_WORD_BYTES], v = 0;
	struct rcpt_u256 w;
	struct evm_buf b;
	enum chain_err rc;

	if (!c || !out || !job)
		return CHAIN_ERR_ARG;
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_b32(&b, "jobState(bytes32)", job);
	rc = evm_chain_view((struct evm_chain *)c, &w, 1, &b);
	if (!rc && (evm_abi_word_u8(&v, &w) != RCPT_OK || v > CHAIN_JOB_REFUNDED))
		rc = CHAIN_ERR_BACKEND;
	if (!rc)
		*out = (enum chain_job_state)v;
	return rc;
}

static enum chain_err evm_chain_dispute_state(struct chain *c, enum chain_dispute_state *out,
					      uint64_t *deadline_s,
					      const uint8_t job[RCPT_HASH_BYTES],
					      const uint8_t validator[RCPT_ADDR_BYTES])
{
	uint8_t data[EVM_SELECTOR_BYTES + 2 * EVM_WORD_BYTES], v = 0;
	struct rcpt_u256 w[2];
	struct evm_buf b;
	uint64_t deadline = 0;
	enum chain_err rc;

	if (!c || !out || !job || !validator)
		return CHAIN_ERR_ARG;
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_put_selector(&b, "dispute(bytes32,address)");
	evm_abi_put_word(&b, job);
	evm_abi_put_addr(&b, validator);
	rc = evm_chain_view((struct evm_chain *)c, w, 2, &b);
	if (!rc && (evm_abi_word_u8(&v, &w[0]) != RCPT_OK || v > CHAIN_DISPUTE_EXPIRED ||
		    evm_abi_word_u64(&deadline, &w[1]) != RCPT_OK))
		rc = CHAIN_ERR_BACKEND;
	if (rc)
		return rc;
	*out = (enum chain_dispute_state)v;
	if (deadline_s)
		*deadline_s = deadline;
	return CHAIN_OK;
}

static enum chain_err evm_chain_rules(struct chain *c, struct chain_rules *out)
{
	struct evm_chain *e = (struct evm_chain *)c;
	uint8_t data[EVM_SELECTOR_BYTES];
	struct chain_rules r;
	uint64_t bps[3] = { 0 }, n = 0;
	struct evm_buf b;
	enum chain_err rc;

	if (!c || !out)
		return CHAIN_ERR_ARG;
	memset(&r, 0, sizeof(r));
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_none(&b, "minStake()");
	rc = evm_chain_view(e, &r.min_stake, 1, &b);
	if (!rc)
		rc = evm_chain_view_u64(e, &bps[0], "sampleBps()", CHAIN_BPS);
	if (!rc)
		rc = evm_chain_view_u64(e, &bps[1], "slashBps()", CHAIN_BPS);
	if (!rc)
		rc = evm_chain_view_u64(e, &bps[2], "bountyBps()", CHAIN_BPS);
	if (!rc)
		rc = evm_chain_view_u64(e, &r.challenge_window_s, "challengeWindow()", UINT64_MAX);
	if (!rc)
		rc = evm_chain_view_u64(e, &r.referee_deadline_s, "refereeDeadline()", UINT64_MAX);
	if (!rc)
		rc = evm_chain_view_u64(e, &r.unbonding_s, "unbondingPeriod()", UINT64_MAX);
	if (!rc)
		rc = evm_chain_view_u64(e, &r.deadline_max_s, "DEADLINE_MAX()", UINT64_MAX);
	if (!rc)
		rc = evm_chain_view_u64(e, &r.clock_skew_ms, "CLOCK_SKEW_MS()", UINT64_MAX);
	if (!rc)
		rc = evm_chain_view_u64(e, &n, "DISPUTES_PER_JOB_MAX()", UINT32_MAX);
	if (rc)
		return rc;
	r.sample_bps = (uint32_t)bps[0];
	r.slash_bps = (uint32_t)bps[1];
	r.bounty_bps = (uint32_t)bps[2];
	r.disputes_per_job_max = (uint32_t)n;
	*out = r;
	return CHAIN_OK;
}

static const struct chain_class evm_chain_class = {
	.name = "evm",
	.free = evm_chain_free,
	.domain = evm_chain_domain,
	.balance = evm_chain_balance,
	.faucet = evm_unsupported_move,
	.withdraw = evm_unsupported_move,
	.stake = evm_unsupported_move,
	.unstake = evm_unsupported_move,
	.release_unbonded = evm_chain_release_unbonded,
	.lock = evm_unsupported_lock,
	.release = evm_unsupported_release,
	.refund = evm_unsupported_refund,
	.slash = evm_unsupported_slash,
	.events = evm_unsupported_events,
	.check_invariants = evm_unsupported_check,
	.open_job = evm_chain_open_job,
	.submit_receipt = evm_chain_submit_receipt,
	.settle = evm_chain_settle,
	.attest = evm_chain_attest,
	.decide = evm_chain_decide,
	.expire_dispute = evm_chain_expire_dispute,
	.job_state = evm_chain_job_state,
	.dispute_state = evm_chain_dispute_state,
	.rules = evm_chain_rules,
};

/* ------------------------------------------------------------------ */
/* Opening                                                              */

static void evm_chain_diag(struct rcpt_diag *diag, const char *what, const char *why)
{
	if (diag)
		snprintf(diag->msg, sizeof(diag->msg), "%s: %.200s", what, why ? why : "");
}

/* The node's chain id, and an AssayEscrow at e->escrow: code there, and
 * token() answering an address. */
static enum chain_err evm_chain_probe(struct evm_chain *e, struct rcpt_diag *diag)
{
	uint8_t data[EVM_SELECTOR_BYTES], token[RCPT_ADDR_BYTES], *code = NULL;
	struct rcpt_u256 w;
	struct evm_buf b;
	size_t len = 0;
	enum chain_err rc;

	rc = evm_chain_map(e, evm_rpc_chain_id(e->rpc, &e->chain_id));
	if (!rc)
		rc = evm_chain_map(e, evm_rpc_get_code(e->rpc, &code, &len, e->escrow,
						       EVM_BLOCK_LATEST));
	free(code);
	if (rc) {
		evm_chain_diag(diag, "chain_evm_open", evm_rpc_why(e->rpc));
		return rc;
	}
	if (len == 0) {
		evm_chain_diag(diag, "chain_evm_open", "no contract at the escrow's address");
		return CHAIN_ERR_BACKEND;
	}
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_none(&b, "token()");
	rc = evm_chain_view(e, &w, 1, &b);
	if (rc || evm_abi_word_addr(token, &w) != RCPT_OK) {
		evm_chain_diag(diag, "chain_evm_open", "the escrow's address answers no token()");
		return rc == CHAIN_ERR_UNAVAILABLE ? rc : CHAIN_ERR_BACKEND;
	}
	return CHAIN_OK;
}

enum chain_err chain_evm_open(struct chain **out, struct rcpt_diag *diag, const char *rpc_url,
			      const uint8_t escrow[RCPT_ADDR_BYTES],
			      const struct rcpt_key *relayer, unsigned confirmations)
{
	struct evm_chain *e = NULL;
	char why[EVM_RPC_WHY_BYTES] = "";
	enum chain_err rc = CHAIN_ERR_ARG;

	if (diag)
		diag->msg[0] = '\0';
	if (!out || !rpc_url || !escrow || !relayer || confirmations > EVM_SEND_CONFIRMATIONS_MAX) {
		evm_chain_diag(diag, "chain_evm_open", "missing or out-of-range argument");
		return rc;
	}
	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return CHAIN_ERR_NOMEM;
	e->base.vt = &evm_chain_class;
	memcpy(e->escrow, escrow, RCPT_ADDR_BYTES);
	e->opts.confirmations = confirmations;
	switch (evm_rpc_open(&e->rpc, why, sizeof(why), rpc_url, 0)) {
	case EVM_RPC_OK:
		rc = CHAIN_OK;
		break;
	case EVM_RPC_ERR_NOMEM:
		rc = CHAIN_ERR_NOMEM;
		break;
	default:
		evm_chain_diag(diag, "chain_evm_open", why);
		break;
	}
	if (!rc && evm_sender_init(&e->sender, relayer) != 0)
		rc = CHAIN_ERR_BACKEND;
	e->sender_ok = rc == CHAIN_OK;
	if (!rc)
		rc = evm_chain_probe(e, diag);
	if (rc) {
		evm_chain_free(&e->base);
		return rc;
	}
	*out = &e->base;
	return CHAIN_OK;
}
