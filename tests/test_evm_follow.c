/*
 * test_evm_follow.c: fee bumps of evm_send (chain-adapter/evm_rpc.h)
 * and the log follower (chain-adapter/evm_follow.h), on a real anvil
 * started per test (tests/anvilfx.h), driven with anvil's own methods:
 * evm_mine and anvil_mine make blocks on demand, evm_snapshot and
 * evm_revert make reorganisations, txpool_content shows the pool.
 *
 *   evm_bump:   the bump rule on known values and at 2^256; a stuck
 *               transaction (anvil --no-mining) replaced at its nonce
 *               until the bumps run out, then mined: the mined one is
 *               the last replacement with the raised fees, and only one
 *               transaction of the nonce is in the chain; the fee cap:
 *               a bump above it is not sent (an error that says so, the
 *               last replacement still pending), a first fee above it
 *               sends nothing.
 *   evm_follow: DevToken's Transfer logs delivered once each, in order,
 *               with 0 and 2 confirmations (not before the second block
 *               on top), read in ranges of a bounded number of blocks
 *               over several polls; a reorganisation shallower than the
 *               confirmations undoes nothing; a deeper one undoes the
 *               logs of the changed blocks, newest first, and delivers
 *               the new chain's; resuming from a saved cursor, also in
 *               the middle of a block after a callback refused a log; a
 *               reorganisation below the window is an error, and stays
 *               one.
 *
 * No test asserts on wall-clock time: a test waits for an event (a
 * replacement in anvil's pool, a thread's result) in a bounded loop.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>

#include "anvilfx.h"
#include "evm.h"
#include "evm_follow.h"
#include "evm_rpc.h"
#include "receipts.h"
#include "testutil.h"
#include "banned.h"

static struct anvilfx A;

static void anvil_stop(void)
{
	anvilfx_stop(&A);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

/* How long a test waits for something another thread or anvil does:
 * polls of DEV_POLL_US, at most DEV_POLLS (a minute). */
#define DEV_POLL_US 10000
#define DEV_POLLS 6000

static void dev_key(struct rcpt_key *k, int i)
{
	uint8_t s[32];

	cr_assert_eq(rcpt_hex_decode(s, 32, ANVILFX_KEYS[i]), RCPT_OK);
	cr_assert_eq(rcpt_key_from_secret(k, s), RCPT_OK);
}

static struct evm_rpc *rpc_open(const char *url)
{
	struct evm_rpc *rpc = NULL;
	char why[256];

	cr_assert_eq(evm_rpc_open(&rpc, why, sizeof(why), url, 0), EVM_RPC_OK, "%s", why);
	return rpc;
}

/* anvil's method(params): its result, which the caller decrefs. */
static json_t *dev(const char *method, const char *params)
{
	return anvilfx_call(&A, method, params);
}

static void dev_void(const char *method, const char *params)
{
	json_decref(dev(method, params));
}

/* A quantity ("0x..." below 2^64) in a JSON answer. */
static uint64_t qty(const json_t *v)
{
	const char *s = json_string_value(v);

	cr_assert(s && strncmp(s, "0x", 2) == 0, "a quantity: %s", s ? s : "(not a string)");
	return strtoull(s + 2, NULL, 16);
}

static uint64_t dev_qty(const char *method, const char *params)
{
	json_t *r = dev(method, params);
	uint64_t v = qty(r);

	json_decref(r);
	return v;
}

static struct rcpt_u256 u256(uint64_t v)
{
	struct rcpt_u256 u;

	rcpt_u256_from_u64(&u, v);
	return u;
}

static uint64_t u64_of(const struct rcpt_u256 *u)
{
	uint64_t v;

	cr_assert_eq(evm_abi_word_u64(&v, u), RCPT_OK);
	return v;
}

/* ------------------------------------------------------------------ */
/* evm_bump: the rule                                                   */

static void bump_is(uint64_t max, uint64_t tip, const uint64_t *base, uint64_t want_max,
		    uint64_t want_tip)
{
	struct rcpt_u256 m = u256(max), t = u256(tip), b = base ? u256(*base) : u256(0);

	cr_assert_eq(evm_send_bump_fees(&m, &t, base ? &b : NULL), 0);
	cr_assert_eq(u64_of(&m), want_max, "max %" PRIu64 " -> %" PRIu64 ", not %" PRIu64, max,
		     u64_of(&m), want_max);
	cr_assert_eq(u64_of(&t), want_tip, "tip %" PRIu64 " -> %" PRIu64 ", not %" PRIu64, tip,
		     u64_of(&t), want_tip);
}

Test(evm_bump, the_rule)
{
	const uint64_t gwei = 1000000000, zero = 0;
	struct rcpt_u256 m, t;

	/* An eighth more each, exact. */
	bump_is(3 * gwei, gwei, &gwei, 3375000000u, 1125000000u);
	bump_is(3375000000u, 1125000000u, &gwei, 3796875000u, 1265625000u);
	/* Never below twice the base fee plus the new tip. */
	bump_is(1100000000u, 100000000u, &gwei, 2112500000u, 112500000u);
	bump_is(2112500000u, 112500000u, &gwei, 2376562500u, 126562500u);
	/* Rounded up, and at least one wei: 0 -> 1, 7 -> 8, 8 -> 9, 9 -> 11. */
	bump_is(7, 0, NULL, 8, 1);
	bump_is(8, 8, &zero, 9, 9);
	bump_is(9, 9, NULL, 11, 11);
	/* A tip above the cap pulls the cap up to it. */
	bump_is(1, 10, NULL, 12, 12);
	/* Past 2^256 - 1: refused. */
	memset(m.be, 0xff, 32);
	t = u256(1);
	cr_assert_eq(evm_send_bump_fees(&m, &t, NULL), -1);
	m = u256(1);
	memset(t.be, 0xf0, 32);       /* 15/16 of 2^256, plus an eighth */
	cr_assert_eq(evm_send_bump_fees(&m, &t, NULL), -1);
	cr_assert_eq(evm_send_bump_fees(NULL, &t, NULL), -1);
}

/* ------------------------------------------------------------------ */
/* evm_bump on anvil                                                    */

static const char *const NO_MINING[] = { "--no-mining", NULL };

/* The fees of the test transactions: just above anvil's base fee of 1
 * gwei, so that the floor of the bump rule shows. */
static void low_fees(struct evm_send_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->fees_given = 1;
	o->max_fee_per_gas = u256(1100000000u);
	o->max_priority_fee_per_gas = u256(100000000u);
	o->bump_after_ms = 50;
	o->poll_ms = 20;
	o->wait_ms = 60000;
}

static void transfer_tx(struct evm_tx *tx)
{
	memset(tx, 0, sizeof(*tx));
	tx->has_to = 1;
	memset(tx->to, 0x42, 20);
	tx->gas_limit = 21000;
}

/* The maxFeePerGas of the sender's pending transaction at nonce 0 in
 * anvil's pool, or 0 when there is none. */
static uint64_t pool_max_fee(void)
{
	json_t *c = dev("txpool_content", "[]"), *mine = NULL, *tx;
	const char *addr;
	json_t *v;
	uint64_t fee = 0;

	json_object_foreach(json_object_get(c, "pending"), addr, v)
		if (strcasecmp(addr, ANVILFX_ADDRS[0]) == 0)
			mine = v;
	tx = json_object_get(mine, "0");
	if (tx)
		fee = qty(json_object_get(tx, "maxFeePerGas"));
	json_decref(c);
	return fee;
}

static void base_fee_is_one_gwei(void)
{
	json_t *b = dev("eth_getBlockByNumber", "[\"latest\", false]");

	cr_assert_eq(qty(json_object_get(b, "baseFeePerGas")), 1000000000u,
		     "the expected fees below assume anvil's base fee of 1 gwei");
	json_decref(b);
}

struct bumper {
	struct evm_sender *s;
	struct evm_send_opts o;
	struct evm_sent sent;
	enum evm_rpc_err rc;
	char why[EVM_RPC_WHY_BYTES];
};

static void *bump_thread(void *p)
{
	struct bumper *b = p;
	struct evm_rpc *rpc = NULL;
	struct evm_tx tx;

	b->rc = evm_rpc_open(&rpc, NULL, 0, A.url, 0);
	transfer_tx(&tx);
	if (!b->rc)
		b->rc = evm_send(rpc, b->s, &tx, &b->o, &b->sent);
	snprintf(b->why, sizeof(b->why), "%s", evm_rpc_why(rpc));
	evm_rpc_free(rpc);
	return NULL;
}

Test(evm_bump, stuck_transaction_replaced_and_mined, .fini = anvil_stop, .timeout = 120)
{
	struct evm_sender s;
	struct rcpt_key k;
	struct bumper b;
	pthread_t th;
	json_t *tx;
	char hash[RCPT_HASH_HEX_BYTES], params[128];
	int polls = 0;

	anvilfx_start(&A, NO_MINING);
	cr_assert_eq(evm_rpc_global_init(), 0);
	base_fee_is_one_gwei();
	dev_key(&k, 0);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	rcpt_key_wipe(&k);
	memset(&b, 0, sizeof(b));
	b.s = &s;
	low_fees(&b.o);
	b.o.bumps_max = 2;
	b.o.fee_cap = u256(10000000000u);
	cr_assert_eq(pthread_create(&th, NULL, bump_thread, &b), 0);
	/* Nothing is mined until the second replacement is in the pool:
	 * 1.1 gwei -> 2.1125 (twice the base fee plus the tip) -> 2.3765625. */
	while (pool_max_fee() != 2376562500u && polls++ < DEV_POLLS)
		usleep(DEV_POLL_US);
	cr_assert(polls < DEV_POLLS, "the second replacement never reached the pool");
	dev_void("evm_mine", "[]");
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_eq(b.rc, EVM_RPC_OK, "%s", b.why);
	cr_assert_eq(b.sent.bumps, 2);
	cr_assert_eq(b.sent.nonce, 0);
	cr_assert_eq(u64_of(&b.sent.max_fee_per_gas), 2376562500u);
	cr_assert_eq(u64_of(&b.sent.max_priority_fee_per_gas), 126562500u);
	cr_assert_eq(b.sent.receipt.status, 1);
	cr_assert(memcmp(b.sent.receipt.tx_hash, b.sent.tx_hash, 32) == 0);
	/* The node's record of the mined transaction: the raised fees. */
	cr_assert_eq(rcpt_hex_encode(hash, sizeof(hash), b.sent.tx_hash, 32), RCPT_OK);
	snprintf(params, sizeof(params), "[\"%s\"]", hash);
	tx = dev("eth_getTransactionByHash", params);
	cr_assert_eq(qty(json_object_get(tx, "maxFeePerGas")), 2376562500u);
	cr_assert_eq(qty(json_object_get(tx, "maxPriorityFeePerGas")), 126562500u);
	cr_assert_eq(qty(json_object_get(tx, "nonce")), 0);
	cr_assert_eq(qty(json_object_get(tx, "blockNumber")), 1);
	json_decref(tx);
	/* One transaction of the nonce in the chain: the nonce moved by one,
	 * and the only block holds one transaction. */
	snprintf(params, sizeof(params), "[\"%s\", \"latest\"]", ANVILFX_ADDRS[0]);
	cr_assert_eq(dev_qty("eth_getTransactionCount", params), 1);
	cr_assert_eq(dev_qty("eth_getBlockTransactionCountByNumber", "[\"0x1\"]"), 1);
	cr_assert_eq(pool_max_fee(), 0, "nothing of the nonce left in the pool");
	evm_receipt_release(&b.sent.receipt);
	evm_sender_release(&s);
}

Test(evm_bump, fee_cap_refused, .fini = anvil_stop, .timeout = 120)
{
	struct evm_send_opts o;
	struct evm_sender s;
	struct evm_sent sent;
	struct evm_rpc *rpc;
	struct evm_tx tx;
	struct rcpt_key k;
	char params[128];

	anvilfx_start(&A, NO_MINING);
	base_fee_is_one_gwei();
	rpc = rpc_open(A.url);
	dev_key(&k, 0);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	rcpt_key_wipe(&k);
	transfer_tx(&tx);
	low_fees(&o);
	o.bumps_max = 3;
	/* The first bump (2.1125 gwei) fits under 2.2 gwei; the second
	 * (2.3765625 gwei) would not. */
	o.fee_cap = u256(2200000000u);
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_FEE_CAP, "%s", evm_rpc_why(rpc));
	cr_assert(strstr(evm_rpc_why(rpc), "after 1 bump(s)") &&
		  strstr(evm_rpc_why(rpc), "to 2376562500 wei, above the cap of 2200000000 wei") &&
		  strstr(evm_rpc_why(rpc), "still pending"), "%s", evm_rpc_why(rpc));
	cr_assert_eq(sent.bumps, 1);
	cr_assert_eq(u64_of(&sent.max_fee_per_gas), 2112500000u);
	cr_assert_eq(pool_max_fee(), 2112500000u, "the last replacement is pending");
	/* A first fee above the cap: nothing sent. */
	o.max_fee_per_gas = u256(2200000001u);
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_FEE_CAP);
	cr_assert(strstr(evm_rpc_why(rpc), "maxFeePerGas 2200000001 wei is above the cap of "
				  "2200000000 wei; nothing sent"), "%s", evm_rpc_why(rpc));
	snprintf(params, sizeof(params), "[\"%s\", \"pending\"]", ANVILFX_ADDRS[0]);
	cr_assert_eq(dev_qty("eth_getTransactionCount", params), 1, "one transaction, pending");
	/* Misuse: bumps without a cap, too many bumps, a delay below the
	 * poll minimum. */
	o.max_fee_per_gas = u256(1100000000u);
	o.fee_cap = u256(0);
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_ARG);
	o.fee_cap = u256(2200000000u);
	o.bumps_max = EVM_SEND_BUMPS_MAX + 1;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_ARG);
	o.bumps_max = 1;
	o.bump_after_ms = 1;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_ARG);
	/* The pending replacement is what a block takes. */
	dev_void("evm_mine", "[]");
	cr_assert_eq(dev_qty("eth_getBlockTransactionCountByNumber", "[\"0x1\"]"), 1);
	cr_assert_eq(pool_max_fee(), 0);
	evm_sender_release(&s);
	evm_rpc_free(rpc);
}

/* ------------------------------------------------------------------ */
/* evm_follow: DevToken and its logs                                    */

static uint8_t TRANSFER[32], APPROVAL[32];

static void topics_init(void)
{
	evm_abi_event_topic(TRANSFER, "Transfer(address,address,uint256)");
	evm_abi_event_topic(APPROVAL, "Approval(address,address,uint256)");
}

/* A chain with DevToken deployed by development key 0 (block 1). */
struct chain {
	struct evm_rpc *rpc;
	struct evm_sender s;
	uint8_t token[20];
};

static void chain_start(struct chain *c, const char *const extra[])
{
	struct rcpt_key k;
	struct evm_sent sent;
	struct evm_tx tx;
	size_t len;
	uint8_t *code;

	topics_init();
	anvilfx_start(&A, extra);
	c->rpc = rpc_open(A.url);
	dev_key(&k, 0);
	cr_assert_eq(evm_sender_init(&c->s, &k), 0);
	rcpt_key_wipe(&k);
	code = anvilfx_initcode(&len, "DevToken", 0);
	memset(&tx, 0, sizeof(tx));
	tx.data = code;
	tx.data_len = len;
	cr_assert_eq(evm_send(c->rpc, &c->s, &tx, NULL, &sent), EVM_RPC_OK, "%s", evm_rpc_why(c->rpc));
	cr_assert(sent.receipt.has_contract);
	memcpy(c->token, sent.receipt.contract, 20);
	evm_receipt_release(&sent.receipt);
	free(code);
}

static void chain_stop(struct chain *c)
{
	evm_sender_release(&c->s);
	evm_rpc_free(c->rpc);
}

/* The calldata of DevToken's mint(to, amount) or approve(to, amount). */
static size_t token_call(uint8_t *buf, size_t cap, const char *sig, uint8_t to_byte, uint64_t amount)
{
	struct rcpt_u256 a = u256(amount);
	struct evm_buf b;
	uint8_t to[20];

	memset(to, to_byte, 20);
	evm_buf_init(&b, buf, cap);
	evm_abi_call_addr_u256(&b, sig, to, &a);
	cr_assert(!b.overflow);
	return b.len;
}

/* mint(0x77.., amount) (or approve), mined; its block number. */
static uint64_t token_send(struct chain *c, const char *sig, uint64_t amount)
{
	uint8_t data[128];
	struct evm_sent sent;
	struct evm_tx tx;
	uint64_t block;

	memset(&tx, 0, sizeof(tx));
	tx.has_to = 1;
	memcpy(tx.to, c->token, 20);
	tx.data = data;
	tx.data_len = token_call(data, sizeof(data), sig, 0x77, amount);
	cr_assert_eq(evm_send(c->rpc, &c->s, &tx, NULL, &sent), EVM_RPC_OK, "%s", evm_rpc_why(c->rpc));
	cr_assert_eq(sent.receipt.status, 1);
	block = sent.receipt.block_number;
	evm_receipt_release(&sent.receipt);
	return block;
}

static uint64_t mint(struct chain *c, uint64_t amount)
{
	return token_send(c, "mint(address,uint256)", amount);
}

/* mint(0x77.., amount) signed and handed over without waiting (automine
 * off: it waits for evm_mine). */
static void mint_unmined(struct chain *c, uint64_t nonce, uint64_t amount)
{
	uint8_t data[128], raw[1024], hash[32], got[32];
	struct evm_tx tx;
	size_t n;

	memset(&tx, 0, sizeof(tx));
	tx.chain_id = ANVILFX_CHAIN_ID;
	tx.nonce = nonce;
	tx.max_fee_per_gas = u256(10000000000u);
	tx.max_priority_fee_per_gas = u256(1000000000u);
	tx.gas_limit = 200000;
	tx.has_to = 1;
	memcpy(tx.to, c->token, 20);
	tx.data = data;
	tx.data_len = token_call(data, sizeof(data), "mint(address,uint256)", 0x77, amount);
	cr_assert_eq(evm_tx_sign(raw, sizeof(raw), &n, hash, &tx, &c->s.key), RCPT_OK);
	cr_assert_eq(evm_rpc_send_raw(c->rpc, got, raw, n), EVM_RPC_OK, "%s", evm_rpc_why(c->rpc));
}

/* evm_revert takes the account's nonce back: the sender asks the node
 * again at its next send. */
static void revert_to(struct chain *c, const char *snapshot)
{
	char params[64];
	json_t *ok;

	snprintf(params, sizeof(params), "[\"%s\"]", snapshot);
	ok = dev("evm_revert", params);
	cr_assert(json_is_true(ok), "evm_revert %s", snapshot);
	json_decref(ok);
	c->s.synced = 0;
}

static char *snapshot(void)
{
	json_t *id = dev("evm_snapshot", "[]");
	char *s = strdup(json_string_value(id));

	cr_assert_not_null(s);
	json_decref(id);
	return s;
}

/* ------------------------------------------------------------------ */
/* evm_follow: what the callbacks saw                                   */

#define REC_MAX 64

struct event {
	char kind;                /* 'd' delivered, 'u' undone */
	uint64_t block;
	uint64_t log_index;
	uint64_t amount;          /* the log's data word: Transfer's or Approval's value */
	int approval;
};

struct rec {
	struct event ev[REC_MAX];
	size_t n;
	uint64_t refuse_amount;   /* deliver refuses a log of this amount once (0: never) */
	int refuse_undo;          /* undo refuses this many calls */
};

static int rec_add(struct rec *r, char kind, const struct evm_log *l)
{
	struct rcpt_u256 w;
	struct event *e;

	cr_assert(r->n < REC_MAX);
	cr_assert_eq(l->ntopics, 3);
	cr_assert_eq(evm_abi_word(&w, l->data, l->data_len, 0), RCPT_OK);
	e = &r->ev[r->n++];
	e->kind = kind;
	e->block = l->block_number;
	e->log_index = l->log_index;
	e->amount = u64_of(&w);
	e->approval = memcmp(l->topics[0], APPROVAL, 32) == 0;
	return 0;
}

static int on_deliver(void *arg, const struct evm_log *l)
{
	struct rec *r = arg;
	struct rcpt_u256 w;

	cr_assert(!l->removed);
	cr_assert_eq(evm_abi_word(&w, l->data, l->data_len, 0), RCPT_OK);
	if (r->refuse_amount && u64_of(&w) == r->refuse_amount) {
		r->refuse_amount = 0;
		return -1;
	}
	return rec_add(r, 'd', l);
}

static int on_undo(void *arg, const struct evm_log *l)
{
	struct rec *r = arg;

	cr_assert(l->removed, "an undone log is marked removed");
	if (r->refuse_undo) {
		r->refuse_undo--;
		return -1;
	}
	return rec_add(r, 'u', l);
}

static struct evm_follow_cbs cbs_of(struct rec *r)
{
	struct evm_follow_cbs c = { on_deliver, on_undo, r };

	return c;
}

static void event_is(const struct rec *r, size_t i, char kind, uint64_t amount, uint64_t block)
{
	cr_assert(i < r->n, "event %zu of %zu", i, r->n);
	cr_assert_eq(r->ev[i].kind, kind, "event %zu is '%c', not '%c'", i, r->ev[i].kind, kind);
	cr_assert_eq(r->ev[i].amount, amount, "event %zu: amount %" PRIu64 ", not %" PRIu64, i,
		     r->ev[i].amount, amount);
	cr_assert_eq(r->ev[i].block, block, "event %zu: block %" PRIu64 ", not %" PRIu64, i,
		     r->ev[i].block, block);
}

static struct evm_follower *follower(const struct chain *c, unsigned confirmations,
				     unsigned window, const struct evm_follow_cursor *resume,
				     size_t ntopics)
{
	const uint8_t (*topics)[32] = NULL;
	static uint8_t set[2][32];
	struct evm_follow_config cfg;
	struct evm_follower *f = NULL;

	memcpy(set[0], TRANSFER, 32);
	memcpy(set[1], APPROVAL, 32);
	topics = (const uint8_t(*)[32])set;
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.address, c->token, 20);
	cfg.topics = ntopics ? topics : NULL;
	cfg.ntopics = ntopics;
	cfg.confirmations = confirmations;
	cfg.window_blocks = window;
	cr_assert_eq(evm_follow_open(&f, &cfg, resume), EVM_FOLLOW_OK);
	return f;
}

/* One poll that must succeed; its stats. */
static struct evm_follow_stats poll_ok(struct evm_follower *f, struct chain *c, struct rec *r)
{
	struct evm_follow_cbs cbs = cbs_of(r);
	struct evm_follow_stats st;

	cr_assert_eq(evm_follow_poll(f, c->rpc, &cbs, &st), EVM_FOLLOW_OK, "%s", evm_follow_why(f));
	cr_assert_str_empty(evm_follow_why(f));
	return st;
}

static uint64_t head(struct chain *c)
{
	uint64_t h;

	cr_assert_eq(evm_rpc_block_number(c->rpc, &h), EVM_RPC_OK);
	return h;
}

/* ------------------------------------------------------------------ */
/* evm_follow on anvil                                                  */

Test(evm_follow, delivers_each_log_once_in_order, .fini = anvil_stop, .timeout = 120)
{
	struct chain c;
	struct rec r = { .n = 0 };
	struct evm_follower *f;
	struct evm_follow_stats st;
	struct evm_follow_cursor cur;
	struct evm_block b;
	uint64_t b1, b2;

	chain_start(&c, NULL);
	f = follower(&c, 0, 0, NULL, 1);        /* Transfer only */
	cr_assert_eq(evm_follow_cursor(f, &cur), -1, "nothing read yet");
	st = poll_ok(f, &c, &r);
	cr_assert(st.caught_up && st.delivered == 0 && st.undone == 0);
	b1 = mint(&c, 1);
	token_send(&c, "approve(address,uint256)", 99);   /* another event */
	b2 = mint(&c, 2);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 2);
	cr_assert(st.caught_up);
	cr_assert_eq(r.n, 2);
	event_is(&r, 0, 'd', 1, b1);
	event_is(&r, 1, 'd', 2, b2);
	/* Nothing new: nothing again. */
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 0);
	cr_assert_eq(r.n, 2);
	/* The cursor: the head, read in full. */
	cr_assert_eq(evm_follow_cursor(f, &cur), 0);
	cr_assert_eq(evm_rpc_block(c.rpc, &b, EVM_BLOCK_LATEST), EVM_RPC_OK);
	cr_assert_eq(cur.block, b.number);
	cr_assert(memcmp(cur.hash, b.hash, 32) == 0);
	cr_assert_eq(cur.partial, 0);
	evm_follow_free(f);
	/* Every event of the address: the approval too. */
	memset(&r, 0, sizeof(r));
	f = follower(&c, 0, 0, NULL, 0);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 3);
	cr_assert(r.ev[1].approval && r.ev[1].amount == 99);
	evm_follow_free(f);
	chain_stop(&c);
}

Test(evm_follow, confirmations_and_a_shallow_reorganisation, .fini = anvil_stop, .timeout = 120)
{
	struct chain c;
	struct rec r = { .n = 0 };
	struct evm_follower *f;
	struct evm_follow_stats st;
	uint64_t b1, b2;
	char *snap;

	chain_start(&c, NULL);
	f = follower(&c, 2, 0, NULL, 2);        /* Transfer and Approval */
	poll_ok(f, &c, &r);
	b1 = mint(&c, 1);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 0, "no block on top yet");
	dev_void("evm_mine", "[]");
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 0, "one block on top");
	dev_void("evm_mine", "[]");
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 1, "two blocks on top");
	event_is(&r, 0, 'd', 1, b1);
	b2 = token_send(&c, "approve(address,uint256)", 7);
	dev_void("anvil_mine", "[\"0x2\"]");
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 1);
	event_is(&r, 1, 'd', 7, b2);
	cr_assert(r.ev[1].approval);

	/* A reorganisation of two blocks, no deeper than the confirmations:
	 * the log of the dropped chain was never delivered, nothing is
	 * undone, and the new chain's log comes in its turn. */
	snap = snapshot();
	mint(&c, 100);
	dev_void("evm_mine", "[]");
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 0);
	revert_to(&c, snap);
	b2 = mint(&c, 200);
	dev_void("anvil_mine", "[\"0x2\"]");
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.undone, 0);
	cr_assert_eq(st.delivered, 1);
	cr_assert_eq(r.n, 3);
	event_is(&r, 2, 'd', 200, b2);
	free(snap);
	evm_follow_free(f);
	chain_stop(&c);
}

Test(evm_follow, a_deeper_reorganisation_is_undone, .fini = anvil_stop, .timeout = 120)
{
	struct chain c;
	struct rec r = { .n = 0 };
	struct evm_follower *f;
	struct evm_follow_stats st;
	struct evm_follow_cbs cbs = cbs_of(&r);
	struct evm_follow_cursor cur;
	uint64_t a1, a2, b1, b2;
	char *snap;

	chain_start(&c, NULL);
	f = follower(&c, 0, 0, NULL, 1);
	mint(&c, 1);
	poll_ok(f, &c, &r);
	snap = snapshot();
	a1 = mint(&c, 10);
	a2 = mint(&c, 11);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 2);
	/* The two blocks are replaced by others: a reorganisation deeper
	 * than 0 confirmations. */
	revert_to(&c, snap);
	b1 = mint(&c, 20);
	b2 = mint(&c, 21);
	cr_assert(a1 == b1 && a2 == b2, "the same heights, other blocks");
	/* The caller refuses the first undo: the poll stops there, and the
	 * cursor still names the refused log (delivered). */
	r.refuse_undo = 1;
	cr_assert_eq(evm_follow_poll(f, c.rpc, &cbs, &st), EVM_FOLLOW_ERR_CALLBACK);
	cr_assert(strstr(evm_follow_why(f), "undoing log 0 of block") &&
		  strstr(evm_follow_why(f), "the caller refused"), "%s", evm_follow_why(f));
	cr_assert_eq(st.undone, 0);
	cr_assert_eq(evm_follow_cursor(f, &cur), 0);
	cr_assert_eq(cur.block, a2);
	cr_assert_eq(cur.partial, 1);
	/* Then it takes it: the dropped logs undone, newest first, and the
	 * new chain's delivered. */
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.undone, 2);
	cr_assert_eq(st.delivered, 2);
	cr_assert_eq(r.n, 7);
	event_is(&r, 1, 'd', 10, a1);
	event_is(&r, 2, 'd', 11, a2);
	event_is(&r, 3, 'u', 11, a2);
	event_is(&r, 4, 'u', 10, a1);
	event_is(&r, 5, 'd', 20, b1);
	event_is(&r, 6, 'd', 21, b2);
	free(snap);
	evm_follow_free(f);
	chain_stop(&c);
}

Test(evm_follow, resumes_from_a_saved_cursor, .fini = anvil_stop, .timeout = 120)
{
	struct chain c;
	struct rec r = { .n = 0 };
	struct evm_follower *f, *g;
	struct evm_follow_stats st;
	struct evm_follow_cbs cbs = cbs_of(&r);
	struct evm_follow_cursor saved, mid;
	uint64_t b3, b45, nonce;

	chain_start(&c, NULL);
	f = follower(&c, 0, 0, NULL, 1);
	mint(&c, 1);
	mint(&c, 2);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 2);
	cr_assert_eq(evm_follow_cursor(f, &saved), 0);
	evm_follow_free(f);
	/* A new follower from the saved cursor: only what came after. */
	b3 = mint(&c, 3);
	memset(&r, 0, sizeof(r));
	f = follower(&c, 0, 0, &saved, 1);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 1);
	event_is(&r, 0, 'd', 3, b3);

	/* Two logs in one block; the caller refuses the second: the cursor
	 * stops inside the block, after the first. */
	dev_void("evm_setAutomine", "[false]");
	cr_assert_eq(evm_rpc_nonce(c.rpc, &nonce, c.s.key.address), EVM_RPC_OK);
	mint_unmined(&c, nonce, 4);
	mint_unmined(&c, nonce + 1, 5);
	dev_void("evm_mine", "[]");
	b45 = head(&c);
	r.refuse_amount = 5;
	cr_assert_eq(evm_follow_poll(f, c.rpc, &cbs, &st), EVM_FOLLOW_ERR_CALLBACK);
	cr_assert(strstr(evm_follow_why(f), "delivering log 1 of block"), "%s", evm_follow_why(f));
	cr_assert_eq(st.delivered, 1);
	event_is(&r, 1, 'd', 4, b45);
	cr_assert_eq(evm_follow_cursor(f, &mid), 0);
	cr_assert(mid.block == b45 && mid.partial == 1 && mid.log_index == 0);
	/* The same follower, and one resumed from that cursor, deliver the
	 * second log only. */
	g = follower(&c, 0, 0, &mid, 1);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.delivered, 1);
	event_is(&r, 2, 'd', 5, b45);
	cr_assert_eq(r.ev[2].log_index, 1);
	st = poll_ok(g, &c, &r);
	cr_assert_eq(st.delivered, 1);
	event_is(&r, 3, 'd', 5, b45);
	st = poll_ok(g, &c, &r);
	cr_assert_eq(st.delivered, 0);
	cr_assert_eq(evm_follow_cursor(g, &mid), 0);
	cr_assert(mid.block == b45 && mid.partial == 0);
	evm_follow_free(g);
	evm_follow_free(f);
	chain_stop(&c);
}

Test(evm_follow, a_reorganisation_below_the_window_is_an_error, .fini = anvil_stop, .timeout = 120)
{
	struct chain c;
	struct rec r = { .n = 0 };
	struct evm_follower *f;
	struct evm_follow_stats st;
	struct evm_follow_cbs cbs = cbs_of(&r);
	char *snap;

	chain_start(&c, NULL);
	f = follower(&c, 0, 4, NULL, 1);        /* a window of 4 blocks */
	poll_ok(f, &c, &r);
	snap = snapshot();
	mint(&c, 1);
	poll_ok(f, &c, &r);
	cr_assert_eq(r.n, 1);
	/* Ten blocks later the mint's block has left the window. */
	dev_void("anvil_mine", "[\"0xa\"]");
	poll_ok(f, &c, &r);
	revert_to(&c, snap);
	mint(&c, 2);
	cr_assert_eq(evm_follow_poll(f, c.rpc, &cbs, &st), EVM_FOLLOW_ERR_DEEP_REORG);
	cr_assert(strstr(evm_follow_why(f), "below the window of 4 blocks, is no longer canonical") &&
		  strstr(evm_follow_why(f), "needs an operator"), "%s", evm_follow_why(f));
	cr_assert_eq(st.undone, 0);
	cr_assert_eq(st.delivered, 0);
	/* And stays one: nothing is followed silently. */
	dev_void("evm_mine", "[]");
	cr_assert_eq(evm_follow_poll(f, c.rpc, &cbs, &st), EVM_FOLLOW_ERR_DEEP_REORG);
	cr_assert(strstr(evm_follow_why(f), "needs an operator"));
	cr_assert_eq(r.n, 1);
	free(snap);
	evm_follow_free(f);
	chain_stop(&c);
}

Test(evm_follow, reads_in_bounded_ranges, .fini = anvil_stop, .timeout = 120)
{
	struct chain c;
	struct rec r = { .n = 0 };
	struct evm_follow_config cfg;
	struct evm_follower *f = NULL;
	struct evm_follow_stats st;
	struct evm_follow_cursor cur;
	uint64_t b1, b2;

	chain_start(&c, NULL);
	b1 = mint(&c, 1);
	dev_void("anvil_mine", "[\"0x14\"]");
	b2 = mint(&c, 2);
	cr_assert_eq(b2, b1 + 21);
	memset(&cfg, 0, sizeof(cfg));
	memcpy(cfg.address, c.token, 20);
	cfg.range_blocks = 2;
	cr_assert_eq(evm_follow_open(&f, &cfg, NULL), EVM_FOLLOW_OK);
	/* A poll reads EVM_FOLLOW_RANGES_PER_POLL ranges of two blocks. */
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.caught_up, 0);
	cr_assert_eq(st.delivered, 1);
	event_is(&r, 0, 'd', 1, b1);
	cr_assert_eq(evm_follow_cursor(f, &cur), 0);
	cr_assert_eq(cur.block, 2 * EVM_FOLLOW_RANGES_PER_POLL - 1);
	st = poll_ok(f, &c, &r);
	cr_assert_eq(st.caught_up, 1);
	cr_assert_eq(st.delivered, 1);
	event_is(&r, 1, 'd', 2, b2);
	evm_follow_free(f);
	chain_stop(&c);
}

Test(evm_follow, misuse_and_names)
{
	struct evm_follow_config cfg;
	struct evm_follower *f = NULL;
	struct evm_follow_cbs cbs = { on_deliver, NULL, NULL };
	uint8_t topics[EVM_FOLLOW_TOPICS_MAX + 1][32];

	memset(&cfg, 0, sizeof(cfg));
	memset(topics, 1, sizeof(topics));
	cr_assert_eq(evm_follow_open(&f, &cfg, NULL), EVM_FOLLOW_ERR_ARG, "a zero address");
	cfg.address[19] = 1;
	cfg.confirmations = EVM_FOLLOW_CONFIRMATIONS_MAX + 1;
	cr_assert_eq(evm_follow_open(&f, &cfg, NULL), EVM_FOLLOW_ERR_ARG);
	cfg.confirmations = 0;
	cfg.window_blocks = EVM_FOLLOW_WINDOW_BLOCKS_MAX + 1;
	cr_assert_eq(evm_follow_open(&f, &cfg, NULL), EVM_FOLLOW_ERR_ARG);
	cfg.window_blocks = 0;
	cfg.range_blocks = EVM_FOLLOW_RANGE_BLOCKS_MAX + 1;
	cr_assert_eq(evm_follow_open(&f, &cfg, NULL), EVM_FOLLOW_ERR_ARG);
	cfg.range_blocks = 0;
	cfg.topics = (const uint8_t(*)[32])topics;
	cfg.ntopics = EVM_FOLLOW_TOPICS_MAX + 1;
	cr_assert_eq(evm_follow_open(&f, &cfg, NULL), EVM_FOLLOW_ERR_ARG);
	cfg.ntopics = EVM_FOLLOW_TOPICS_MAX;
	cr_assert_eq(evm_follow_open(&f, &cfg, NULL), EVM_FOLLOW_OK);
	/* Polling needs both callbacks and a client. */
	cr_assert_eq(evm_follow_poll(f, NULL, &cbs, NULL), EVM_FOLLOW_ERR_ARG);
	evm_follow_free(f);
	evm_follow_free(NULL);
	for (int i = 0; i <= EVM_FOLLOW_ERR_COUNT_; i++) {
		cr_assert_not_null(evm_follow_strerror((enum evm_follow_err)i));
		cr_assert_not_null(evm_follow_errname((enum evm_follow_err)i));
	}
	cr_assert_str_eq(evm_follow_errname(EVM_FOLLOW_ERR_DEEP_REORG), "deep-reorg");
	cr_assert_str_eq(evm_rpc_errname(EVM_RPC_ERR_FEE_CAP), "fee-cap");
}
