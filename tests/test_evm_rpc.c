/*
 * test_evm_rpc.c: the JSON-RPC client (chain-adapter/evm_rpc.h) and
 * `assay chain deploy`, against a real anvil (Foundry's, from
 * chain-adapter/evm/node_modules: `make contract-deps`, which `make test`
 * runs first) started per test on a free loopback port and killed at
 * teardown, and against a fake node in this process for the answers no
 * real node gives.
 *
 *   evm_rpc:    every call on anvil; raw transactions our C signs are
 *               accepted and mined; a contract deployed, minted, read and
 *               its logs found; two threads sending from one key get
 *               distinct nonces, and a nonce moved behind a sender's back
 *               is resynchronised; reverts named from the ABI (estimate,
 *               mined with status 0, eth_call); bounded waits (no block,
 *               confirmations); malformed, oversized, foreign and slow
 *               answers refused with an error naming the method; a URL's
 *               secret never in a message.
 *   evm_deploy: `assay chain deploy` checked by an independent program,
 *               chain-adapter/evm/test-ethers/deployed.mjs (ethers.js):
 *               the code is the artifact's, every parameter and
 *               eip712Domain() are what was asked; and its errors: an
 *               unreachable node, a key readable by others, bad and empty
 *               --token addresses, a constructor that refuses (its custom
 *               error printed, nothing sent), unusable arguments.
 *
 * No test asserts on wall-clock time; every wait here is bounded.
 * anvil's first three accounts are its well-known development keys.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "evm.h"
#include "anvilfx.h"
#include "evm_rpc.h"
#include "receipts.h"
#include "testutil.h"
#include "banned.h"

#define ANVIL_CHAIN_ID ANVILFX_CHAIN_ID
#define DEV_KEYS ANVILFX_KEYS

/* ------------------------------------------------------------------ */
/* anvil (tests/anvilfx.h)                                              */

static struct anvilfx A;

static void anvil_start(struct anvilfx *a, const char *const extra[])
{
	anvilfx_start(a, extra);
}

static void anvil_stop(void)
{
	anvilfx_stop(&A);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */

static void dev_key(struct rcpt_key *k, int i)
{
	uint8_t s[32];

	cr_assert_eq(rcpt_hex_decode(s, 32, DEV_KEYS[i]), RCPT_OK);
	cr_assert_eq(rcpt_key_from_secret(k, s), RCPT_OK);
}

static struct evm_rpc *rpc_open(const char *url, long timeout_ms)
{
	struct evm_rpc *rpc = NULL;
	char why[256];

	cr_assert_eq(evm_rpc_open(&rpc, why, sizeof(why), url, timeout_ms), EVM_RPC_OK, "%s", why);
	return rpc;
}

/* The artifact's JSON text (for ABIs); the caller frees it. */
static char *artifact_json(const char *name)
{
	char path[512], rel[128];
	uint8_t *p, *t;
	size_t n;

	snprintf(rel, sizeof(rel), "chain-adapter/evm/artifacts/%s.json", name);
	tu_read_file(tu_src(path, sizeof(path), rel), &p, &n);
	t = realloc(p, n + 1);
	cr_assert_not_null(t);
	t[n] = '\0';
	return (char *)t;
}

/* AssayEscrow's initcode with the given 10 constructor words. */
static uint8_t *escrow_initcode(size_t *len, const uint8_t token[20], const uint8_t who[20],
				const char *const params[7])
{
	struct rcpt_u256 w[10];
	struct evm_buf b;
	uint8_t *code = anvilfx_initcode(len, "AssayEscrow", 10 * 32);

	evm_abi_word_from_addr(&w[0], token);
	evm_abi_word_from_addr(&w[1], who);
	evm_abi_word_from_addr(&w[2], who);
	for (int i = 0; i < 7; i++)
		cr_assert_eq(rcpt_u256_parse(&w[3 + i], params[i]), RCPT_OK);
	evm_buf_init(&b, code + *len, 10 * 32);
	evm_abi_words(&b, w, 10);
	cr_assert(!b.overflow);
	*len += b.len;
	return code;
}

static const char *const GOOD_PARAMS[7] = {
	"100000000000000000000", "1000", "5000", "2000", "3600", "600", "604800",
};

/* Deploys DevToken from s; its address into token. */
static void deploy_token(struct evm_rpc *rpc, struct evm_sender *s, uint8_t token[20])
{
	struct evm_tx tx;
	struct evm_sent sent;
	size_t len;
	uint8_t *code = anvilfx_initcode(&len, "DevToken", 0), want[20];
	enum evm_rpc_err rc;

	memset(&tx, 0, sizeof(tx));
	tx.data = code;
	tx.data_len = len;
	rc = evm_send(rpc, s, &tx, NULL, &sent);
	cr_assert_eq(rc, EVM_RPC_OK, "deploying DevToken: %s", evm_rpc_why(rpc));
	cr_assert_eq(sent.receipt.status, 1);
	cr_assert(sent.receipt.has_contract);
	evm_create_address(want, s->key.address, sent.nonce);
	cr_assert(memcmp(sent.receipt.contract, want, 20) == 0, "contract address is CREATE's");
	memcpy(token, want, 20);
	evm_receipt_release(&sent.receipt);
	free(code);
}

/* A call of a token or escrow function, from `s`, waited for. */
static enum evm_rpc_err send_call(struct evm_rpc *rpc, struct evm_sender *s, const uint8_t to[20],
				  const uint8_t *data, size_t len, const struct evm_send_opts *o,
				  struct evm_sent *sent)
{
	struct evm_tx tx;

	memset(&tx, 0, sizeof(tx));
	tx.has_to = 1;
	memcpy(tx.to, to, 20);
	tx.data = data;
	tx.data_len = len;
	return evm_send(rpc, s, &tx, o, sent);
}

/* ------------------------------------------------------------------ */
/* evm_rpc on anvil                                                     */

Test(evm_rpc, calls_on_anvil, .fini = anvil_stop, .timeout = 120)
{
	struct evm_rpc *rpc;
	struct evm_block b;
	struct rcpt_u256 tip, price, zero;
	struct rcpt_key k;
	struct evm_tx tx;
	uint64_t v, gas;
	uint8_t *code = NULL;
	size_t len = 99;

	anvil_start(&A, NULL);
	rpc = rpc_open(A.url, 0);
	dev_key(&k, 0);
	cr_assert_eq(evm_rpc_chain_id(rpc, &v), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	cr_assert_eq(v, ANVIL_CHAIN_ID);
	cr_assert_str_empty(evm_rpc_why(rpc));
	cr_assert_eq(evm_rpc_block_number(rpc, &v), EVM_RPC_OK);
	cr_assert_eq(v, 0);
	cr_assert_eq(evm_rpc_block(rpc, &b, EVM_BLOCK_LATEST), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	cr_assert(b.has_base_fee && b.gas_limit >= 21000);
	cr_assert_eq(evm_rpc_block(rpc, &b, 0), EVM_RPC_OK);
	cr_assert_eq(evm_rpc_block(rpc, &b, 1000), EVM_RPC_ERR_NODE);
	cr_assert(strstr(evm_rpc_why(rpc), "eth_getBlockByNumber") && strstr(evm_rpc_why(rpc), "no such block"));
	cr_assert_eq(evm_rpc_nonce(rpc, &v, k.address), EVM_RPC_OK);
	cr_assert_eq(v, 0);
	cr_assert_eq(evm_rpc_gas_price(rpc, &price), EVM_RPC_OK);
	cr_assert_eq(evm_rpc_max_priority_fee(rpc, &tip), EVM_RPC_OK);
	memset(&zero, 0, sizeof(zero));
	cr_assert(rcpt_u256_cmp(&price, &zero) > 0);
	cr_assert_eq(evm_rpc_get_code(rpc, &code, &len, k.address, EVM_BLOCK_LATEST), EVM_RPC_OK);
	cr_assert_eq(len, 0, "an account holds no code");
	free(code);
	memset(&tx, 0, sizeof(tx));
	tx.has_to = 1;
	memset(tx.to, 0x42, 20);
	cr_assert_eq(evm_rpc_estimate_gas(rpc, &gas, k.address, &tx), EVM_RPC_OK);
	cr_assert_eq(gas, 21000, "a plain transfer costs the intrinsic gas");
	rcpt_key_wipe(&k);
	evm_rpc_free(rpc);
}

Test(evm_rpc, signed_transactions_accepted, .fini = anvil_stop, .timeout = 120)
{
	struct evm_rpc *rpc;
	struct evm_sender s;
	struct rcpt_key k;
	struct evm_tx tx;
	struct evm_sent sent;
	uint64_t head;

	anvil_start(&A, NULL);
	rpc = rpc_open(A.url, 0);
	dev_key(&k, 1);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	rcpt_key_wipe(&k);
	for (int i = 0; i < 3; i++) {
		memset(&tx, 0, sizeof(tx));
		tx.has_to = 1;
		memset(tx.to, 0x11 * (i + 1), 20);
		tx.value.be[31] = (uint8_t)(i + 1);        /* wei */
		tx.chain_id = i ? ANVIL_CHAIN_ID : 0;      /* 0: the node's */
		cr_assert_eq(evm_send(rpc, &s, &tx, NULL, &sent), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
		cr_assert_eq(sent.nonce, (uint64_t)i);
		cr_assert_eq(sent.receipt.status, 1);
		cr_assert_eq(sent.receipt.gas_used, 21000);
		cr_assert(!sent.receipt.has_contract);
		cr_assert(memcmp(sent.receipt.tx_hash, sent.tx_hash, 32) == 0);
		cr_assert_eq(sent.receipt.block_number, (uint64_t)i + 1);
		evm_receipt_release(&sent.receipt);
	}
	cr_assert_eq(evm_rpc_block_number(rpc, &head), EVM_RPC_OK);
	cr_assert_eq(head, 3);
	/* A template for another chain is refused before anything is sent. */
	tx.chain_id = 1;
	cr_assert_eq(evm_send(rpc, &s, &tx, NULL, &sent), EVM_RPC_ERR_CHAIN);
	cr_assert(strstr(evm_rpc_why(rpc), "chain 31337, not 1"), "%s", evm_rpc_why(rpc));
	evm_sender_release(&s);
	evm_rpc_free(rpc);
}

Test(evm_rpc, contract_mint_call_and_logs, .fini = anvil_stop, .timeout = 120)
{
	uint8_t token[20], data[128], to[20], topic[32], *ret = NULL, *code = NULL;
	struct rcpt_u256 amount, w;
	struct evm_rpc *rpc;
	struct evm_sender s;
	struct evm_sent sent;
	struct evm_log *logs = NULL;
	struct evm_log_filter f;
	struct evm_buf b;
	struct rcpt_key k;
	size_t len, n;

	anvil_start(&A, NULL);
	rpc = rpc_open(A.url, 0);
	dev_key(&k, 0);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	rcpt_key_wipe(&k);
	deploy_token(rpc, &s, token);
	cr_assert_eq(evm_rpc_get_code(rpc, &code, &len, token, EVM_BLOCK_LATEST), EVM_RPC_OK);
	cr_assert(len > 1000, "DevToken's code is on chain");
	free(code);
	memset(to, 0x77, 20);
	cr_assert_eq(rcpt_u256_parse(&amount, "123456789000000000000"), RCPT_OK);
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr_u256(&b, "mint(address,uint256)", to, &amount);
	cr_assert_eq(send_call(rpc, &s, token, data, b.len, NULL, &sent), EVM_RPC_OK, "%s",
		     evm_rpc_why(rpc));
	evm_abi_event_topic(topic, "Transfer(address,address,uint256)");
	cr_assert_eq(sent.receipt.nlogs, 1);
	cr_assert(memcmp(sent.receipt.logs[0].address, token, 20) == 0);
	cr_assert(memcmp(sent.receipt.logs[0].topics[0], topic, 32) == 0);
	evm_receipt_release(&sent.receipt);

	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr(&b, "balanceOf(address)", to);
	cr_assert_eq(evm_rpc_call(rpc, &ret, &len, NULL, token, data, b.len, EVM_BLOCK_LATEST),
		     EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	cr_assert_eq(evm_abi_words_exact(ret, len, 1), RCPT_OK);
	cr_assert_eq(evm_abi_word(&w, ret, len, 0), RCPT_OK);
	cr_assert_eq(rcpt_u256_cmp(&w, &amount), 0, "balanceOf is what was minted");
	free(ret);

	memset(&f, 0, sizeof(f));
	f.has_address = f.has_topic0 = 1;
	memcpy(f.address, token, 20);
	memcpy(f.topic0, topic, 32);
	f.to_block = EVM_BLOCK_LATEST;
	cr_assert_eq(evm_rpc_get_logs(rpc, &logs, &n, &f), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	cr_assert_eq(n, 1);
	cr_assert_eq(logs[0].ntopics, 3);
	memcpy(w.be, logs[0].topics[2], 32);
	cr_assert_eq(evm_abi_word_addr(data, &w), RCPT_OK);
	cr_assert(memcmp(data, to, 20) == 0, "Transfer's `to`");
	cr_assert_eq(evm_abi_word(&w, logs[0].data, logs[0].data_len, 0), RCPT_OK);
	cr_assert_eq(rcpt_u256_cmp(&w, &amount), 0);
	cr_assert(!logs[0].removed);
	evm_logs_free(logs, n);
	f.from_block = 5;
	f.to_block = 4;
	cr_assert_eq(evm_rpc_get_logs(rpc, &logs, &n, &f), EVM_RPC_ERR_ARG);
	evm_sender_release(&s);
	evm_rpc_free(rpc);
}

struct racer {
	const char *url;
	struct evm_sender *s;
	uint64_t nonces[3];
	enum evm_rpc_err rc;
	char why[EVM_RPC_WHY_BYTES];
};

static void *race(void *p)
{
	struct racer *r = p;
	struct evm_rpc *rpc = NULL;
	struct evm_tx tx;
	struct evm_sent sent;

	r->rc = evm_rpc_open(&rpc, NULL, 0, r->url, 0);
	for (int i = 0; i < 3 && !r->rc; i++) {
		memset(&tx, 0, sizeof(tx));
		tx.has_to = 1;
		memset(tx.to, 0x5a, 20);
		tx.gas_limit = 21000;
		r->rc = evm_send(rpc, r->s, &tx, NULL, &sent);
		if (!r->rc && sent.receipt.status != 1)
			r->rc = EVM_RPC_ERR_REVERTED;
		r->nonces[i] = sent.nonce;
		evm_receipt_release(&sent.receipt);
	}
	if (r->rc && rpc)
		snprintf(r->why, sizeof(r->why), "%s", evm_rpc_why(rpc));
	evm_rpc_free(rpc);
	return NULL;
}

Test(evm_rpc, nonces_concurrent_and_resynchronised, .fini = anvil_stop, .timeout = 120)
{
	struct racer r[2];
	pthread_t th[2];
	struct evm_sender s, other;
	struct evm_rpc *rpc;
	struct rcpt_key k;
	struct evm_tx tx;
	struct evm_sent sent;
	int seen[6] = { 0 };

	anvil_start(&A, NULL);
	/* Before any thread makes a libcurl handle. */
	cr_assert_eq(evm_rpc_global_init(), 0);
	dev_key(&k, 2);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	cr_assert_eq(evm_sender_init(&other, &k), 0);
	rcpt_key_wipe(&k);
	for (int i = 0; i < 2; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].url = A.url;
		r[i].s = &s;
		cr_assert_eq(pthread_create(&th[i], NULL, race, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pthread_join(th[i], NULL), 0);
		cr_assert_eq(r[i].rc, EVM_RPC_OK, "thread %d: %s", i, r[i].why);
		for (int j = 0; j < 3; j++) {
			cr_assert(r[i].nonces[j] < 6);
			seen[r[i].nonces[j]]++;
		}
	}
	for (int i = 0; i < 6; i++)
		cr_assert_eq(seen[i], 1, "nonce %d used %d times", i, seen[i]);
	/* Another sender (another process, say) moves the account on:
	 * s's next nonce is now too low, and s resynchronises. */
	rpc = rpc_open(A.url, 0);
	memset(&tx, 0, sizeof(tx));
	tx.has_to = 1;
	tx.gas_limit = 21000;
	cr_assert_eq(evm_send(rpc, &other, &tx, NULL, &sent), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	cr_assert_eq(sent.nonce, 6);
	evm_receipt_release(&sent.receipt);
	cr_assert_eq(evm_send(rpc, &s, &tx, NULL, &sent), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	cr_assert_eq(sent.nonce, 7, "resynchronised after 'nonce too low'");
	evm_receipt_release(&sent.receipt);
	evm_sender_release(&s);
	evm_sender_release(&other);
	evm_rpc_free(rpc);
}

Test(evm_rpc, reverts_named_from_the_abi, .fini = anvil_stop, .timeout = 120)
{
	static const char *const bad[7] = { "100", "0", "5000", "2000", "3600", "600", "604800" };
	char *abis[2] = { artifact_json("AssayEscrow"), artifact_json("DevToken") };
	struct evm_send_opts o;
	struct evm_rpc *rpc;
	struct evm_sender s;
	struct evm_sent sent;
	struct evm_tx tx;
	struct rcpt_key k;
	struct rcpt_u256 five;
	uint8_t token[20], data[128], *ret = NULL, *code;
	const uint8_t *rd;
	char desc[256], want[160], addr[RCPT_ADDR_HEX_BYTES];
	struct evm_buf b;
	size_t len;
	uint64_t nonce;

	anvil_start(&A, NULL);
	rpc = rpc_open(A.url, 0);
	dev_key(&k, 0);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	deploy_token(rpc, &s, token);
	memset(&o, 0, sizeof(o));
	o.abis = (const char *const *)abis;
	o.nabis = 2;

	/* The estimate reverts: named, and nothing is sent. */
	code = escrow_initcode(&len, token, k.address, bad);
	memset(&tx, 0, sizeof(tx));
	tx.data = code;
	tx.data_len = len;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_REVERTED);
	cr_assert(strstr(evm_rpc_why(rpc), "estimating gas") &&
		  strstr(evm_rpc_why(rpc), "reverted: BadParameter()"), "%s", evm_rpc_why(rpc));
	cr_assert_eq(evm_rpc_nonce(rpc, &nonce, k.address), EVM_RPC_OK);
	cr_assert_eq(nonce, 1, "nothing sent after a reverted estimate");

	/* With a gas limit given, the transaction is mined and fails:
	 * status 0, named by a replay. */
	tx.gas_limit = 3000000;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_REVERTED);
	cr_assert_eq(sent.receipt.status, 0);
	cr_assert_eq(sent.nonce, 1);
	cr_assert(strstr(evm_rpc_why(rpc), "transaction 0x") &&
		  strstr(evm_rpc_why(rpc), "reverted: BadParameter()"), "%s", evm_rpc_why(rpc));
	evm_receipt_release(&sent.receipt);
	free(code);

	/* eth_call of transfer() without a balance: a custom error with arguments. */
	five.be[31] = 5;
	memset(five.be, 0, 31);
	evm_buf_init(&b, data, sizeof(data));
	evm_abi_call_addr_u256(&b, "transfer(address,uint256)", token, &five);
	cr_assert_eq(evm_rpc_call(rpc, &ret, &len, token, token, data, b.len, EVM_BLOCK_LATEST),
		     EVM_RPC_ERR_REVERTED);
	cr_assert_null(ret);
	evm_rpc_revert_data(rpc, &rd, &len);
	evm_revert_describe(desc, sizeof(desc), rd, len, (const char *const *)abis, 2);
	rcpt_address_format(addr, token);
	snprintf(want, sizeof(want), "ERC20InsufficientBalance(%s, 0, 5)", addr);
	cr_assert_str_eq(desc, want);
	evm_revert_describe(desc, sizeof(desc), rd, len, NULL, 0);
	cr_assert_str_eq(desc, "custom error 0xe450d38c");
	rcpt_key_wipe(&k);
	evm_sender_release(&s);
	evm_rpc_free(rpc);
	free(abis[0]);
	free(abis[1]);
}

Test(evm_rpc, revert_describe)
{
	static const uint8_t err[] = {
		0x08, 0xc3, 0x79, 0xa0, [35] = 32, [67] = 7,
		'b', 'a', 'd', '\n', '"', 0xff, 'x',
		[99] = 0,
	};
	uint8_t panic[36] = { 0x4e, 0x48, 0x7b, 0x71, [35] = 0x11 };
	char out[64], small[8];

	evm_revert_describe(out, sizeof(out), err, sizeof(err), NULL, 0);
	cr_assert_str_eq(out, "Error(\"bad?'?x\")");
	evm_revert_describe(out, sizeof(out), panic, sizeof(panic), NULL, 0);
	cr_assert_str_eq(out, "Panic(0x11)");
	evm_revert_describe(out, sizeof(out), NULL, 0, NULL, 0);
	cr_assert_str_eq(out, "no revert data");
	evm_revert_describe(out, sizeof(out), panic, 3, NULL, 0);
	cr_assert_str_eq(out, "malformed revert data (3 bytes)");
	evm_revert_describe(small, sizeof(small), panic, sizeof(panic), NULL, 0);
	cr_assert_str_eq(small, "Panic(0");
}

Test(evm_rpc, waits_are_bounded, .fini = anvil_stop, .timeout = 120)
{
	static const char *const no_mining[] = { "--no-mining", NULL };
	struct evm_send_opts o;
	struct evm_rpc *rpc;
	struct evm_sender s;
	struct evm_sent sent;
	struct evm_tx tx;
	struct rcpt_key k;

	anvil_start(&A, no_mining);
	rpc = rpc_open(A.url, 0);
	dev_key(&k, 0);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	rcpt_key_wipe(&k);
	memset(&o, 0, sizeof(o));
	o.wait_ms = 300;
	o.poll_ms = 50;
	memset(&tx, 0, sizeof(tx));
	tx.has_to = 1;
	tx.gas_limit = 21000;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_TIMEOUT);
	cr_assert(strstr(evm_rpc_why(rpc), "is not in a block after 300 ms"), "%s", evm_rpc_why(rpc));
	/* Options out of range are misuse. */
	o.poll_ms = 1;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_ARG);
	o.poll_ms = 50;
	o.confirmations = EVM_SEND_CONFIRMATIONS_MAX + 1;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_ARG);
	o.confirmations = 0;
	o.gas_margin_bps = 9999;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_ERR_ARG);
	evm_sender_release(&s);
	evm_rpc_free(rpc);
}

Test(evm_rpc, confirmations, .fini = anvil_stop, .timeout = 120)
{
	static const char *const one_s_blocks[] = { "--block-time", "1", NULL };
	struct evm_send_opts o;
	struct evm_rpc *rpc;
	struct evm_sender s;
	struct evm_sent sent;
	struct evm_tx tx;
	struct rcpt_key k;
	uint64_t head;

	anvil_start(&A, one_s_blocks);
	rpc = rpc_open(A.url, 0);
	dev_key(&k, 0);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	rcpt_key_wipe(&k);
	memset(&o, 0, sizeof(o));
	o.confirmations = 2;
	o.poll_ms = 100;
	o.wait_ms = 30000;
	memset(&tx, 0, sizeof(tx));
	tx.has_to = 1;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	cr_assert_eq(evm_rpc_block_number(rpc, &head), EVM_RPC_OK);
	cr_assert(head >= sent.receipt.block_number + 1, "head %llu, block %llu",
		  (unsigned long long)head, (unsigned long long)sent.receipt.block_number);
	evm_receipt_release(&sent.receipt);
	evm_sender_release(&s);
	evm_rpc_free(rpc);
}

/* ------------------------------------------------------------------ */
/* evm_rpc against a fake node                                          */

#define FAKE_ANSWERS_MAX 4

struct fake {
	int fd;
	unsigned port;
	char url[64];
	const char *answers[FAKE_ANSWERS_MAX];   /* whole HTTP responses; NULL: never answer */
	size_t n;
	pthread_t th;
	int stop[2];
};

static struct fake F;

/* Reads one request (headers and Content-Length bytes of body). */
static void fake_read_request(int c)
{
	char buf[65536];
	size_t n = 0, want = SIZE_MAX;

	while (n < sizeof(buf) - 1 && n < want) {
		ssize_t r = read(c, buf + n, sizeof(buf) - 1 - n);
		char *end, *cl;
		if (r <= 0)
			return;
		n += (size_t)r;
		buf[n] = '\0';
		end = strstr(buf, "\r\n\r\n");
		cl = strcasestr(buf, "content-length:");
		if (end && cl)
			want = (size_t)(end - buf) + 4 + strtoul(cl + 15, NULL, 10);
	}
}

static void *fake_run(void *p)
{
	struct fake *f = p;

	for (size_t i = 0; i < f->n; i++) {
		struct pollfd pf[2] = { { f->fd, POLLIN, 0 }, { f->stop[0], POLLIN, 0 } };
		int c;
		if (poll(pf, 2, 30000) <= 0 || pf[1].revents)
			return NULL;
		c = accept(f->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		fake_read_request(c);
		if (f->answers[i]) {
			size_t len = strlen(f->answers[i]), done = 0;
			while (done < len) {
				ssize_t w = write(c, f->answers[i] + done, len - done);
				if (w <= 0)
					break;
				done += (size_t)w;
			}
		} else {
			struct pollfd ps = { f->stop[0], POLLIN, 0 };
			poll(&ps, 1, 30000);    /* a node that never answers */
		}
		close(c);
	}
	return NULL;
}

static void fake_start(const char *const answers[], size_t n)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	cr_assert(n <= FAKE_ANSWERS_MAX);
	memset(&F, 0, sizeof(F));
	F.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(F.fd >= 0);
	cr_assert_eq(bind(F.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(F.fd, 4), 0);
	cr_assert_eq(getsockname(F.fd, (struct sockaddr *)&sa, &sl), 0);
	F.port = ntohs(sa.sin_port);
	snprintf(F.url, sizeof(F.url), "http://127.0.0.1:%u", F.port);
	for (size_t i = 0; i < n; i++)
		F.answers[i] = answers[i];
	F.n = n;
	cr_assert_eq(pipe(F.stop), 0);
	cr_assert_eq(pthread_create(&F.th, NULL, fake_run, &F), 0);
}

static void fake_stop(void)
{
	if (!F.fd)
		return;
	if (write(F.stop[1], "x", 1) != 1)
		abort();
	pthread_join(F.th, NULL);
	close(F.fd);
	close(F.stop[0]);
	close(F.stop[1]);
	F.fd = 0;
}

/* An HTTP response with status and body, connection closed after it. */
static char *http(int status, const char *body)
{
	size_t n = strlen(body) + 200;
	char *s = malloc(n);

	cr_assert_not_null(s);
	snprintf(s, n, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n%s", status, strlen(body), body);
	return s;
}

/* One eth_chainId against an answer; returns the error and keeps why. */
static enum evm_rpc_err chain_id_against(char *answer, char *why, size_t why_len, long timeout_ms)
{
	const char *answers[1] = { answer };
	struct evm_rpc *rpc;
	enum evm_rpc_err rc;
	uint64_t v = 0;

	fake_start(answers, 1);
	rpc = rpc_open(F.url, timeout_ms);
	rc = evm_rpc_chain_id(rpc, &v);
	snprintf(why, why_len, "%s", evm_rpc_why(rpc));
	cr_assert(rc != EVM_RPC_OK || v == 31337);
	evm_rpc_free(rpc);
	fake_stop();
	free(answer);
	return rc;
}

Test(evm_rpc, malformed_answers_refused, .fini = fake_stop, .timeout = 60)
{
	static const struct {
		int status;
		const char *body;
		enum evm_rpc_err want;
		const char *says;
	} cases[] = {
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x7a69\"}", EVM_RPC_OK, "" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x00007a69\"}", EVM_RPC_OK, "" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":\"0x7a69\"}", EVM_RPC_ERR_PROTOCOL, "another request" },
		{ 200, "{\"id\":1,\"result\":\"0x7a69\"}", EVM_RPC_ERR_PROTOCOL, "not a JSON-RPC 2.0" },
		{ 200, "{\"jsonrpc\":\"1.0\",\"id\":1,\"result\":\"0x7a69\"}", EVM_RPC_ERR_PROTOCOL, "not a JSON-RPC 2.0" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1}", EVM_RPC_ERR_PROTOCOL, "not a JSON-RPC 2.0" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1\",\"error\":{\"code\":1,\"message\":\"x\"}}",
		  EVM_RPC_ERR_PROTOCOL, "not a JSON-RPC 2.0" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x7a69\",\"id\":1}", EVM_RPC_ERR_PROTOCOL, "not a JSON-RPC" },
		{ 200, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x7a69\"}]", EVM_RPC_ERR_PROTOCOL, "not a JSON-RPC" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x7a69\"} x", EVM_RPC_ERR_PROTOCOL, "not a JSON-RPC" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x\"}", EVM_RPC_ERR_PROTOCOL, "malformed 'result'" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"7a69\"}", EVM_RPC_ERR_PROTOCOL, "malformed 'result'" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x7g69\"}", EVM_RPC_ERR_PROTOCOL, "malformed 'result'" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":31337}", EVM_RPC_ERR_PROTOCOL, "malformed 'result'" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x10000000000000000\"}", EVM_RPC_ERR_PROTOCOL, "over 2^64" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x1000000000000000000000000000000000000000000000000000000000000000"
		  "0\"}", EVM_RPC_ERR_PROTOCOL, "malformed 'result'" },
		{ 502, "<html>bad gateway</html>", EVM_RPC_ERR_HTTP, "HTTP status 502" },
		{ 429, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32005,\"message\":\"rate\\nlimited \\\"now\\\"\"}}",
		  EVM_RPC_ERR_NODE, "node error -32005: rate?limited 'now'" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":\"parse error\"}}",
		  EVM_RPC_ERR_NODE, "eth_chainId at http://127.0.0.1:" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":\"x\",\"message\":\"m\"}}", EVM_RPC_ERR_PROTOCOL, "malformed error" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32000,\"message\":\"nonce too low: next 5\"}}",
		  EVM_RPC_ERR_NONCE, "nonce too low" },
		{ 200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":3,\"message\":\"execution reverted\","
		  "\"data\":\"0x8ec48e16\"}}", EVM_RPC_ERR_REVERTED, "node error 3" },
	};
	char why[EVM_RPC_WHY_BYTES];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum evm_rpc_err rc = chain_id_against(http(cases[i].status, cases[i].body), why,
						       sizeof(why), 0);
		cr_expect_eq(rc, cases[i].want, "case %zu: %s, want %s (%s)", i, evm_rpc_errname(rc),
			     evm_rpc_errname(cases[i].want), why);
		cr_expect(strstr(why, cases[i].says) != NULL, "case %zu: why '%s' lacks '%s'", i, why,
			  cases[i].says);
		cr_expect(rc == EVM_RPC_OK || strstr(why, "eth_chainId"), "case %zu names the method", i);
		cr_expect(!strchr(why, '\n'), "case %zu: one line", i);
	}
}

Test(evm_rpc, oversized_slow_and_foreign_answers, .fini = fake_stop, .timeout = 60)
{
	const size_t big = EVM_RPC_RESPONSE_BYTES_MAX + 1024;
	char why[EVM_RPC_WHY_BYTES], *body = malloc(big + 64), *answer;
	enum evm_rpc_err rc;
	uint8_t raw[4] = { 2, 0xc0, 1, 2 }, hash[32];
	const char *answers[1];
	struct evm_rpc *rpc;

	cr_assert_not_null(body);
	snprintf(body, 64, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"0x");
	memset(body + strlen(body), '0', big - strlen(body));
	snprintf(body + big, 64, "1\"}");
	rc = chain_id_against(http(200, body), why, sizeof(why), 0);
	free(body);
	cr_assert_eq(rc, EVM_RPC_ERR_TOO_LARGE, "%s", why);
	cr_assert(strstr(why, "larger than"), "%s", why);

	/* A node that never answers: the request's own timeout ends it. */
	answers[0] = NULL;
	fake_start(answers, 1);
	rpc = rpc_open(F.url, 300);
	cr_assert_eq(evm_rpc_chain_id(rpc, &(uint64_t){ 0 }), EVM_RPC_ERR_UNREACHABLE);
	cr_assert(strstr(evm_rpc_why(rpc), "no answer"), "%s", evm_rpc_why(rpc));
	evm_rpc_free(rpc);
	fake_stop();

	/* eth_sendRawTransaction naming another transaction. */
	answer = http(200, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":"
		      "\"0x1111111111111111111111111111111111111111111111111111111111111111\"}");
	answers[0] = answer;
	fake_start(answers, 1);
	rpc = rpc_open(F.url, 0);
	cr_assert_eq(evm_rpc_send_raw(rpc, hash, raw, sizeof(raw)), EVM_RPC_ERR_PROTOCOL);
	cr_assert(strstr(evm_rpc_why(rpc), "another transaction hash"), "%s", evm_rpc_why(rpc));
	evm_rpc_free(rpc);
	fake_stop();
	free(answer);
}

Test(evm_rpc, urls_and_secrets)
{
	static const char *const bad[] = {
		"ftp://127.0.0.1:1", "127.0.0.1:8545", "http://", "http:///path",
		"http://127.0.0.1:1/a b", "http://127.0.0.1:1/\n", "",
	};
	char why[256], longurl[EVM_RPC_URL_BYTES_MAX + 16];
	struct evm_rpc *rpc = NULL;
	uint64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(evm_rpc_open(&rpc, why, sizeof(why), bad[i], 0), EVM_RPC_ERR_ARG, "'%s'", bad[i]);
		cr_expect(strstr(why, "RPC URL"), "'%s': %s", bad[i], why);
	}
	memset(longurl, 'a', sizeof(longurl) - 1);
	memcpy(longurl, "http://", 7);
	longurl[sizeof(longurl) - 1] = '\0';
	cr_assert_eq(evm_rpc_open(&rpc, why, sizeof(why), longurl, 0), EVM_RPC_ERR_ARG);
	cr_assert_eq(evm_rpc_open(&rpc, why, sizeof(why), "http://127.0.0.1:1", -1), EVM_RPC_ERR_ARG);
	/* Port 1 on loopback refuses: the error names the host, never the
	 * user part or the path, which often carry an API key. */
	cr_assert_eq(evm_rpc_open(&rpc, why, sizeof(why),
				  "http://user:s3cret@127.0.0.1:1/v3/K3YK3Y?key=K3Y", 2000), EVM_RPC_OK);
	cr_assert_str_eq(evm_rpc_where(rpc), "http://127.0.0.1:1");
	cr_assert_eq(evm_rpc_chain_id(rpc, &v), EVM_RPC_ERR_UNREACHABLE);
	cr_assert(strstr(evm_rpc_why(rpc), "eth_chainId at http://127.0.0.1:1: no answer"), "%s",
		  evm_rpc_why(rpc));
	cr_assert_null(strstr(evm_rpc_why(rpc), "s3cret"));
	cr_assert_null(strstr(evm_rpc_why(rpc), "K3Y"));
	cr_assert_str_eq(evm_rpc_errname(EVM_RPC_ERR_UNREACHABLE), "unreachable");
	cr_assert_str_eq(evm_rpc_strerror(EVM_RPC_ERR_COUNT_), "unknown error");
	evm_rpc_free(rpc);
}

/* ------------------------------------------------------------------ */
/* evm_deploy: `assay chain deploy`                                     */

/* A key file for dev key i with the given mode, in A.dir. */
static const char *key_file(char *path, size_t len, int i, int mode)
{
	return anvilfx_key_file(&A, path, len, i, mode);
}

/* Runs assay chain deploy with extra arguments (NULL-terminated). */
static void deploy(struct tu_run *r, const char *rpc, const char *key, const char *const extra[])
{
	const char *argv[40];
	size_t n = 0;

	argv[n++] = tu_assay();
	argv[n++] = "chain";
	argv[n++] = "deploy";
	argv[n++] = "--rpc";
	argv[n++] = rpc;
	argv[n++] = "--key";
	argv[n++] = key;
	for (size_t i = 0; extra && extra[i]; i++) {
		cr_assert(n < 39);
		argv[n++] = extra[i];
	}
	argv[n] = NULL;
	tu_run(r, argv);
}

/* The printed line, checked for its exact form; addresses out. */
static void parse_deployed(const char *out, uint8_t escrow[20], uint8_t token[20])
{
	json_error_t e;
	json_t *j = json_loads(out, JSON_REJECT_DUPLICATES, &e);
	char line[256], ea[RCPT_ADDR_HEX_BYTES], ta[RCPT_ADDR_HEX_BYTES];

	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert_eq(json_object_size(j), 3, "%s", out);
	cr_assert_eq(json_integer_value(json_object_get(j, "chainId")), ANVIL_CHAIN_ID);
	cr_assert_eq(rcpt_address_parse(escrow, json_string_value(json_object_get(j, "escrow"))), RCPT_OK);
	cr_assert_eq(rcpt_address_parse(token, json_string_value(json_object_get(j, "token"))), RCPT_OK);
	rcpt_address_format(ea, escrow);
	rcpt_address_format(ta, token);
	snprintf(line, sizeof(line), "{\"chainId\":31337,\"escrow\":\"%s\",\"token\":\"%s\"}\n", ea, ta);
	cr_assert_str_eq(out, line, "the exact form of PROTOCOL.md section 7, EIP-55 addresses");
	json_decref(j);
}

/* Runs test-ethers/deployed.mjs on the deployment. */
static void check_with_ethers(const uint8_t escrow[20], const uint8_t token[20], int dev_token,
			      const char *referee, const char *treasury, const char *const p[7])
{
	char dir[512], script[512], expect[1024], ea[RCPT_ADDR_HEX_BYTES], ta[RCPT_ADDR_HEX_BYTES];
	const char *argv[] = { "/bin/sh", "-c",
		"command -v node >/dev/null 2>&1 || exit 77; cd \"$1\" && exec node \"$2\" \"$3\" \"$4\"",
		"sh", dir, script, A.url, expect, NULL };
	struct tu_run r;

	tu_src(dir, sizeof(dir), "chain-adapter/evm");
	tu_src(script, sizeof(script), "chain-adapter/evm/test-ethers/deployed.mjs");
	rcpt_address_format(ea, escrow);
	rcpt_address_format(ta, token);
	snprintf(expect, sizeof(expect),
		 "{\"chainId\":31337,\"escrow\":\"%s\",\"token\":\"%s\",\"devToken\":%s,"
		 "\"referee\":\"%s\",\"treasury\":\"%s\",\"minStake\":\"%s\",\"sampleBps\":\"%s\","
		 "\"slashBps\":\"%s\",\"bountyBps\":\"%s\",\"challengeWindow\":\"%s\","
		 "\"refereeDeadline\":\"%s\",\"unbondingPeriod\":\"%s\"}", ea, ta,
		 dev_token ? "true" : "false", referee, treasury, p[0], p[1], p[2], p[3], p[4], p[5], p[6]);
	tu_run(&r, argv);
	if (r.status == 77) {
		tu_run_free(&r);
		cr_skip_test("node not found: the ethers.js check was skipped");
	}
	cr_assert_eq(r.status, 0, "deployed.mjs: %s%s", r.out, r.err);
	cr_assert(strstr(r.out, "checks against ethers.js"), "%s", r.out);
	tu_run_free(&r);
}

#define ANVIL0 ANVILFX_ADDRS[0]
#define ANVIL1 ANVILFX_ADDRS[1]
#define ANVIL2 ANVILFX_ADDRS[2]

Test(evm_deploy, devnet_checked_by_ethers, .fini = anvil_stop, .timeout = 180)
{
	uint8_t escrow[20], token[20];
	char key[512];
	struct tu_run r;

	anvil_start(&A, NULL);
	deploy(&r, A.url, key_file(key, sizeof(key), 0, 0600), NULL);
	cr_assert_eq(r.status, 0, "deploy failed: %s", r.err);
	cr_assert_str_empty(r.err);
	parse_deployed(r.out, escrow, token);
	tu_run_free(&r);
	check_with_ethers(escrow, token, 1, ANVIL0, ANVIL0, GOOD_PARAMS);
}

Test(evm_deploy, existing_token_and_every_parameter, .fini = anvil_stop, .timeout = 180)
{
	static const char *const p[7] = { "5", "10000", "1", "0", "60", "30", "91" };
	uint8_t escrow[20], token[20], escrow2[20], token2[20];
	char key[512], ta[RCPT_ADDR_HEX_BYTES];
	struct tu_run r;

	anvil_start(&A, NULL);
	deploy(&r, A.url, key_file(key, sizeof(key), 1, 0600), NULL);
	cr_assert_eq(r.status, 0, "%s", r.err);
	parse_deployed(r.out, escrow, token);
	tu_run_free(&r);
	rcpt_address_format(ta, token);
	{
		const char *const extra[] = { "--token", ta, "--referee", ANVIL0, "--treasury=" "0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc",
			"--min-stake", p[0], "--sample-bps", p[1], "--slash-bps", p[2], "--bounty-bps", p[3],
			"--challenge-window-s", p[4], "--referee-deadline-s", p[5], "--unbonding-s", p[6],
			"--confirmations", "1", "--timeout-s", "60", NULL };
		deploy(&r, A.url, key, extra);
	}
	cr_assert_eq(r.status, 0, "%s", r.err);
	parse_deployed(r.out, escrow2, token2);
	tu_run_free(&r);
	cr_assert(memcmp(token2, token, 20) == 0, "the given token is used");
	cr_assert(memcmp(escrow2, escrow, 20) != 0);
	check_with_ethers(escrow2, token, 1, ANVIL0, ANVIL2, p);
}

Test(evm_deploy, unreachable_node, .fini = anvil_stop, .timeout = 60)
{
	char key[512];
	struct tu_run r;

	tu_tmpdir(A.dir, sizeof(A.dir));
	deploy(&r, "http://user:s3cret@127.0.0.1:1/v3/K3Y", key_file(key, sizeof(key), 0, 0600), NULL);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert_str_empty(r.out);
	cr_assert_eq(tu_lines(r.err), 1, "one line: %s", r.err);
	cr_assert(strstr(r.err, "assay: chain deploy:") && strstr(r.err, "eth_chainId at http://127.0.0.1:1") &&
		  strstr(r.err, "no answer") && strstr(r.err, "(unreachable)"), "%s", r.err);
	cr_assert_null(strstr(r.err, "s3cret"));
	cr_assert_null(strstr(r.err, "K3Y"));
	tu_run_free(&r);
}

Test(evm_deploy, key_file_rules, .fini = anvil_stop, .timeout = 60)
{
	char key[512], missing[512];
	struct tu_run r;

	anvil_start(&A, NULL);
	deploy(&r, A.url, key_file(key, sizeof(key), 0, 0644), NULL);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "could not load key") && strstr(r.err, "group or others"), "%s", r.err);
	cr_assert_null(strstr(r.err, DEV_KEYS[0] + 2), "the secret is never printed");
	tu_run_free(&r);
	snprintf(missing, sizeof(missing), "%s/none", A.dir);
	deploy(&r, A.url, missing, NULL);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "could not open key file"), "%s", r.err);
	tu_run_free(&r);
}

Test(evm_deploy, bad_token_addresses, .fini = anvil_stop, .timeout = 60)
{
	/* ANVIL0 with one letter's case flipped: a bad checksum. */
	static const char *const malformed[] = {
		"0x12", "f39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
		"0xf39fd6e51aad88F6F4ce6aB8827279cffFb92266", "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb9226g",
	};
	char key[512];
	struct tu_run r;

	anvil_start(&A, NULL);
	key_file(key, sizeof(key), 0, 0600);
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		const char *const extra[] = { "--token", malformed[i], NULL };
		deploy(&r, A.url, key, extra);
		cr_expect_eq(r.status, 2, "'%s': %s", malformed[i], r.err);
		cr_expect(strstr(r.err, "--token") && strstr(r.err, "is not an address"), "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *const extra[] = { "--token", ANVIL1, NULL };
		deploy(&r, A.url, key, extra);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "holds no contract on chain 31337"), "%s", r.err);
		tu_run_free(&r);
	}
}

Test(evm_deploy, constructor_refusal_printed_nothing_sent, .fini = anvil_stop, .timeout = 90)
{
	static const struct {
		const char *opt, *val, *error;
	} cases[] = {
		{ "--sample-bps", "0", "BadParameter()" },
		{ "--bounty-bps", "10001", "BadParameter()" },
		{ "--unbonding-s", "4200", "BadParameter()" },
		{ "--min-stake", "0", "BadParameter()" },
		{ "--referee", "0x0000000000000000000000000000000000000000", "ZeroAddress()" },
	};
	struct evm_rpc *rpc;
	struct rcpt_key k;
	char key[512];
	struct tu_run r;
	uint64_t nonce;

	anvil_start(&A, NULL);
	key_file(key, sizeof(key), 0, 0600);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const extra[] = { cases[i].opt, cases[i].val, NULL };
		deploy(&r, A.url, key, extra);
		cr_expect_eq(r.status, 1, "%s %s: %s", cases[i].opt, cases[i].val, r.err);
		cr_expect(strstr(r.err, "constructor refuses") && strstr(r.err, cases[i].error) &&
			  strstr(r.err, "nothing was sent"), "%s %s: %s", cases[i].opt, cases[i].val, r.err);
		cr_expect_eq(tu_lines(r.err), 1);
		tu_run_free(&r);
	}
	rpc = rpc_open(A.url, 0);
	dev_key(&k, 0);
	cr_assert_eq(evm_rpc_nonce(rpc, &nonce, k.address), EVM_RPC_OK);
	cr_assert_eq(nonce, 0, "no transaction was sent, not even the token's");
	rcpt_key_wipe(&k);
	evm_rpc_free(rpc);
}

Test(evm_deploy, unusable_arguments, .fini = anvil_stop, .timeout = 60)
{
	static const char *const cases[][2] = {
		{ "--min-stake", "-1" }, { "--min-stake", "1e20" }, { "--sample-bps", "01" },
		{ "--slash-bps", "" }, { "--challenge-window-s", "0x10" },
		{ "--unbonding-s", "115792089237316195423570985008687907853269984665640564039457584007913129639936" },
		{ "--confirmations", "0" }, { "--confirmations", "65" }, { "--timeout-s", "3601" },
		{ "--treasury", "0x1234" }, { "--no-such-option", "1" },
	};
	char key[512];
	struct tu_run r;

	anvil_start(&A, NULL);
	key_file(key, sizeof(key), 0, 0600);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const extra[] = { cases[i][0], cases[i][1], NULL };
		deploy(&r, A.url, key, extra);
		cr_expect_eq(r.status, 2, "%s '%s': %s", cases[i][0], cases[i][1], r.err);
		cr_expect_eq(tu_lines(r.err), 1, "%s", r.err);
		tu_run_free(&r);
	}
	deploy(&r, "ftp://127.0.0.1:1", key, NULL);
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "--rpc: RPC URL is not an http:// or https:// URL"), "%s", r.err);
	tu_run_free(&r);
	{
		const char *argv[] = { tu_assay(), "chain", "deploy", "--key", key, NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 2);
		cr_assert(strstr(r.err, "--rpc is required"), "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *argv[] = { tu_assay(), "chain", "undeploy", NULL };
		tu_run(&r, argv);
		cr_assert_eq(r.status, 2);
		tu_run_free(&r);
	}
}
