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
 *               on top); a reorganisation shallower than the
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

struct dev_buf {
	char *p;
	size_t len;
};

static size_t dev_sink(char *p, size_t size, size_t n, void *cls)
{
	struct dev_buf *b = cls;
	char *q = realloc(b->p, b->len + size * n + 1);

	cr_assert_not_null(q);
	memcpy(q + b->len, p, size * n);
	b->p = q;
	b->len += size * n;
	b->p[b->len] = '\0';
	return size * n;
}

/* anvil's method(params) (params a JSON array as text); its result,
 * which the caller decrefs.  Fails the test on an error answer. */
static json_t *dev(const char *method, const char *params)
{
	char body[1024];
	struct dev_buf buf = { NULL, 0 };
	struct curl_slist *h;
	json_t *ans, *res;
	CURL *c = curl_easy_init();

	cr_assert_not_null(c);
	snprintf(body, sizeof(body), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\",\"params\":%s}",
		 method, params);
	h = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(c, CURLOPT_URL, A.url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, dev_sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
	cr_assert_eq(curl_easy_perform(c), CURLE_OK, "%s at %s", method, A.url);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	ans = json_loads(buf.p ? buf.p : "", 0, NULL);
	res = json_object_get(ans, "result");
	cr_assert(res != NULL, "%s: %s", method, buf.p ? buf.p : "(no answer)");
	json_incref(res);
	json_decref(ans);
	free(buf.p);
	return res;
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
