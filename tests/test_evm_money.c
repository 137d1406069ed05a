/*
 * test_evm_money.c: the client's money commands on the EVM backend
 * (client/money_evm.c), each test on its own anvil (tests/anvilfx.h)
 * with AssayEscrow and DevToken deployed by `assay chain deploy`, and
 * anvil's development account 1, funded with ETH by anvil, as the
 * customer.
 *
 *   evm_money: `assay deposit --mint`, `assay balance`, `assay escrow
 *              balance|stake|unstake|withdraw|unbond`, each checked with
 *              an independent implementation,
 *              chain-adapter/evm/test-ethers/account.mjs (ethers.js),
 *              reading the contract's available, bonded and unbonding
 *              and the token's balanceOf and allowance at the block the
 *              command printed; an approve sent only when the allowance
 *              is short; and the refusals: a withdrawal (and a stake, an
 *              unbond) the contract refuses, its custom error named and
 *              nothing moved (ethers reads the same account and nonce
 *              before and after); a key file others may read; the HTTP
 *              and EVM flags mixed; an unreachable node (its URL's
 *              secret not printed); a chain file for another chain or
 *              token; unusable arguments.
 *
 *   evm_statements: `assay escrow open|receipt|attest|settle|job` on the
 *              contract (client/statement_evm.c): a job's whole life from
 *              the command line (open with the customer's key, receipt
 *              with the provider's, job, settle after the window), a
 *              relayed open (signed by ethers, sent by another account),
 *              a receipt relayed with `assay statement sign`'s signature,
 *              an attestation with verdict 1 sent by another account;
 *              a job refunded by settle past its deadline (its late
 *              receipt DeadlinePassed()) and a fraud claim (verdict 2)
 *              that disputes a job;
 *              each job printed compared, value by value at the printed
 *              block, with chain-adapter/evm/test-ethers/job.mjs
 *              (ethers.js: the ids by TypedDataEncoder, jobState,
 *              jobInfo, the Attested events) and the balances with
 *              account.mjs against amounts computed here; refusals: the
 *              same job twice (JobExists()), a signature or key of
 *              another signer, a key file others may read, an unknown
 *              job, with nothing moved; unusable arguments.
 *
 * No test asserts on wall-clock time; the one wait (an unbonding period
 * of three seconds) is bounded.  The challenge window is passed with
 * anvil's evm_increaseTime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
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

#define CUSTOMER ANVILFX_ADDRS[1]

/* One deployment and the customer's key file. */
struct world {
	char chain[512];                  /* the chain file: chain deploy's output */
	char escrow[RCPT_ADDR_HEX_BYTES];
	char token[RCPT_ADDR_HEX_BYTES];
	char key[512];                    /* the customer's, 0600 */
};

/* Runs assay with args (NULL-terminated, at most 30). */
static void assay(struct tu_run *r, const char *const args[])
{
	const char *argv[32];
	size_t n = 0;

	argv[n++] = tu_assay();
	for (size_t i = 0; args[i]; i++) {
		cr_assert(n < 31);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	tu_run(r, argv);
}

/* anvil, then `assay chain deploy` from account 0 with extra deploy
 * options (may be NULL), its output saved as the chain file. */
static void world_start(struct world *w, const char *const extra[])
{
	const char *args[24] = { "chain", "deploy", "--rpc", NULL, "--key", NULL };
	char deployer[512];
	struct tu_run r;
	json_t *j;
	size_t n = 6;

	memset(w, 0, sizeof(*w));
	anvilfx_start(&A, NULL);
	args[3] = A.url;
	args[5] = anvilfx_key_file(&A, deployer, sizeof(deployer), 0, 0600);
	for (size_t i = 0; extra && extra[i]; i++) {
		cr_assert(n < 23);
		args[n++] = extra[i];
	}
	args[n] = NULL;
	assay(&r, args);
	cr_assert_eq(r.status, 0, "chain deploy: %s", r.err);
	j = json_loads(r.out, JSON_REJECT_DUPLICATES, NULL);
	cr_assert_not_null(j, "%s", r.out);
	snprintf(w->escrow, sizeof(w->escrow), "%s", json_string_value(json_object_get(j, "escrow")));
	snprintf(w->token, sizeof(w->token), "%s", json_string_value(json_object_get(j, "token")));
	cr_assert_eq(strlen(w->escrow), 42);
	json_decref(j);
	snprintf(w->chain, sizeof(w->chain), "%s/chain.json", A.dir);
	tu_write_file(w->chain, r.out, strlen(r.out), 0644);
	tu_run_free(&r);
	anvilfx_key_file(&A, w->key, sizeof(w->key), 1, 0600);
}

/* account.mjs at `block` (NULL: the latest); the caller frees the JSON. */
static json_t *ethers_account(const struct world *w, const char *who, const char *block)
{
	char dir[512], script[512];
	const char *argv[] = { "/bin/sh", "-c",
		"command -v node >/dev/null 2>&1 || exit 77; cd \"$1\" && exec node \"$2\" \"$3\" \"$4\" \"$5\" $6",
		"sh", dir, script, A.url, w->escrow, who, block ? block : "", NULL };
	struct tu_run r;
	json_t *j;

	tu_src(dir, sizeof(dir), "chain-adapter/evm");
	tu_src(script, sizeof(script), "chain-adapter/evm/test-ethers/account.mjs");
	tu_run(&r, argv);
	if (r.status == 77) {
		tu_run_free(&r);
		cr_skip_test("node not found: the ethers.js check was skipped");
	}
	cr_assert_eq(r.status, 0, "account.mjs: %s%s", r.out, r.err);
	j = json_loads(r.out, JSON_REJECT_DUPLICATES, NULL);
	cr_assert_not_null(j, "account.mjs: %s", r.out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "token")), w->token);
	tu_run_free(&r);
	return j;
}

static const char *str(const json_t *j, const char *k)
{
	const char *v = json_string_value(json_object_get(j, k));

	cr_assert_not_null(v, "no string \"%s\"", k);
	return v;
}

/*
 * The account a command printed: exactly the documented keys, the HTTP
 * form's first and in its order; every value equal to what ethers reads
 * at the printed block; and the expected amounts (NULL: not checked).
 * Returns the printed block.
 */
static long long check_account(const struct world *w, const char *out, const char *who,
			       const char *available, const char *stake, const char *unbonding,
			       const char *wallet)
{
	static const char *const keys[] = { "address", "available", "stake", "unbonding",
		"nextRelease", "wallet", "chainId", "escrow", "token", "block" };
	json_t *c = json_loads(out, JSON_REJECT_DUPLICATES, NULL), *e;
	char blk[32];
	void *it;
	size_t i = 0;
	long long block;

	cr_assert_not_null(c, "not JSON: %s", out);
	cr_assert_eq(tu_lines(out), 1, "one line: %s", out);
	cr_assert_eq(json_object_size(c), sizeof(keys) / sizeof(keys[0]), "%s", out);
	for (it = json_object_iter(c); it; it = json_object_iter_next(c, it))
		cr_assert_str_eq(json_object_iter_key(it), keys[i++], "key order: %s", out);
	cr_assert_str_eq(str(c, "address"), who);
	cr_assert_str_eq(str(c, "escrow"), w->escrow);
	cr_assert_str_eq(str(c, "token"), w->token);
	cr_assert_eq(json_integer_value(json_object_get(c, "chainId")), ANVILFX_CHAIN_ID);
	block = json_integer_value(json_object_get(c, "block"));
	cr_assert(block > 0, "%s", out);
	snprintf(blk, sizeof(blk), "%lld", block);
	e = ethers_account(w, who, blk);
	cr_assert_eq(json_integer_value(json_object_get(e, "block")), block);
	cr_assert_str_eq(str(c, "available"), str(e, "available"), "available");
	cr_assert_str_eq(str(c, "stake"), str(e, "bonded"), "stake is bonded");
	cr_assert_str_eq(str(c, "unbonding"), str(e, "unbonding"), "unbonding");
	cr_assert_str_eq(str(c, "wallet"), str(e, "wallet"), "wallet");
	cr_assert_eq(json_integer_value(json_object_get(c, "nextRelease")),
		     strcmp(str(e, "unbonding"), "0") == 0 ? 0 : atoll(str(e, "releaseAt")),
		     "nextRelease: %s", out);
	if (available)
		cr_assert_str_eq(str(c, "available"), available, "%s", out);
	if (stake)
		cr_assert_str_eq(str(c, "stake"), stake, "%s", out);
	if (unbonding)
		cr_assert_str_eq(str(c, "unbonding"), unbonding, "%s", out);
	if (wallet)
		cr_assert_str_eq(str(c, "wallet"), wallet, "%s", out);
	json_decref(e);
	json_decref(c);
	return block;
}

/* The stderr lines of sent transactions: "NAME(...: transaction 0x<64>,
 * gas used N, block B"; returns their count and checks each. */
static size_t tx_lines(const char *err)
{
	size_t n = 0;

	for (const char *p = strstr(err, ": transaction 0x"); p; p = strstr(p + 1, ": transaction 0x")) {
		const char *h = p + strlen(": transaction 0x");
		for (int i = 0; i < 64; i++)
			cr_assert(strchr("0123456789abcdef", h[i]) && h[i], "tx hash: %s", err);
		cr_assert(strncmp(h + 64, ", gas used ", 11) == 0 && h[75] >= '1' && h[75] <= '9',
			  "gas used: %s", err);
		n++;
	}
	return n;
}

/* The customer's account and nonce, as ethers reads them now. */
static char *snapshot(const struct world *w)
{
	json_t *e = ethers_account(w, CUSTOMER, NULL);
	char *s;

	json_object_del(e, "block");
	s = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(e);
	cr_assert_not_null(s);
	return s;
}

/* A command that must be refused with exit 2, nothing on stdout and one
 * line on stderr that contains why. */
struct refusal {
	const char *argv[16];
	const char *why;
};

static void expect_refusals(const struct refusal *cases, size_t n)
{
	struct tu_run r;

	for (size_t i = 0; i < n; i++) {
		assay(&r, cases[i].argv);
		cr_expect_eq(r.status, 2, "case %zu: %s", i, r.err);
		cr_expect_eq(tu_lines(r.err), 1, "case %zu: %s", i, r.err);
		cr_expect(strstr(r.err, cases[i].why), "case %zu: %s", i, r.err);
		cr_expect_str_empty(r.out);
		tu_run_free(&r);
	}
}

/* ------------------------------------------------------------------ */

Test(evm_money, deposit_balance_stake_unstake_withdraw_checked_by_ethers, .fini = anvil_stop,
     .timeout = 300)
{
	struct world w;
	struct tu_run r;
	json_t *e;

	world_start(&w, NULL);
	{
		const char *const a[] = { "deposit", "1000", "--mint", "--rpc", A.url, "--chain", w.chain,
			"--key", w.key, NULL };
		assay(&r, a);
	}
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(tx_lines(r.err), 3, "mint, approve, deposit: %s", r.err);
	cr_assert(strstr(r.err, "mint(") && strstr(r.err, "approve(") && strstr(r.err, "deposit(1000)"),
		  "%s", r.err);
	cr_assert_eq(tu_lines(r.err), 3, "%s", r.err);
	check_account(&w, r.out, CUSTOMER, "1000", "0", "0", "0");
	tu_run_free(&r);
	e = ethers_account(&w, CUSTOMER, NULL);
	cr_assert_str_eq(str(e, "allowance"), "0", "the approve was exactly the deposit");
	cr_assert_str_eq(str(e, "escrowHolds"), "1000");
	cr_assert_eq(json_integer_value(json_object_get(e, "nonce")), 3);
	json_decref(e);

	/* balance: by key, by address, and through assay escrow balance. */
	{
		const char *const a[] = { "balance", "--rpc", A.url, "--escrow-address", w.escrow,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_str_empty(r.err);
		check_account(&w, r.out, CUSTOMER, "1000", "0", "0", "0");
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "balance", ANVILFX_ADDRS[2], "--rpc", A.url, "--chain", w.chain,
			NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		check_account(&w, r.out, ANVILFX_ADDRS[2], "0", "0", "0", "0");
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "escrow", "balance", CUSTOMER, "--rpc", A.url,
			"--escrow-address", w.escrow, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		check_account(&w, r.out, CUSTOMER, "1000", "0", "0", "0");
		tu_run_free(&r);
	}

	/* stake, unstake, withdraw: one transaction each. */
	{
		const char *const a[] = { "escrow", "stake", "400", "--rpc", A.url, "--escrow-address",
			w.escrow, "--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(tx_lines(r.err), 1, "%s", r.err);
		cr_assert(strstr(r.err, "stake(400)"), "%s", r.err);
		check_account(&w, r.out, CUSTOMER, "600", "400", "0", "0");
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "escrow", "unstake", "100", "--rpc", A.url, "--chain", w.chain,
			"--key", w.key, "--confirmations", "1", "--timeout-s", "60", NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(tx_lines(r.err), 1, "%s", r.err);
		check_account(&w, r.out, CUSTOMER, "600", "300", "100", "0");
		cr_assert_null(strstr(r.out, "\"nextRelease\":0,"), "releases later: %s", r.out);
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "escrow", "withdraw", "250", "--rpc", A.url, "--escrow-address",
			w.escrow, "--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(tx_lines(r.err), 1, "%s", r.err);
		check_account(&w, r.out, CUSTOMER, "350", "300", "100", "250");
		tu_run_free(&r);
	}
	e = ethers_account(&w, CUSTOMER, NULL);
	cr_assert_str_eq(str(e, "escrowHolds"), "750");
	json_decref(e);

	/* A second deposit from the wallet, without --mint: approve, deposit. */
	{
		const char *const a[] = { "deposit", "50", "--rpc", A.url, "--escrow-address", w.escrow,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(tx_lines(r.err), 2, "approve, deposit: %s", r.err);
		cr_assert_null(strstr(r.err, "mint("), "%s", r.err);
		check_account(&w, r.out, CUSTOMER, "400", "300", "100", "200");
		tu_run_free(&r);
	}
}

Test(evm_money, approve_only_when_the_allowance_is_short, .fini = anvil_stop, .timeout = 240)
{
	uint8_t buf[EVM_SELECTOR_BYTES + 64], escrow[20], token[20], secret[32];
	struct evm_rpc *rpc = NULL;
	struct evm_sender s;
	struct evm_sent sent;
	struct evm_send_opts o;
	struct evm_tx tx;
	struct evm_buf b;
	struct rcpt_key k;
	struct rcpt_u256 big;
	struct world w;
	struct tu_run r;
	char why[256];
	json_t *e;

	world_start(&w, NULL);
	{
		const char *const a[] = { "deposit", "100", "--mint", "--rpc", A.url, "--chain", w.chain,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tu_run_free(&r);
	}
	/* The customer approves 1000 itself (here, with the C sender). */
	cr_assert_eq(rcpt_address_parse(escrow, w.escrow), RCPT_OK);
	cr_assert_eq(rcpt_address_parse(token, w.token), RCPT_OK);
	cr_assert_eq(rcpt_hex_decode(secret, 32, ANVILFX_KEYS[1]), RCPT_OK);
	cr_assert_eq(rcpt_key_from_secret(&k, secret), RCPT_OK);
	cr_assert_eq(evm_sender_init(&s, &k), 0);
	rcpt_key_wipe(&k);
	cr_assert_eq(evm_rpc_open(&rpc, why, sizeof(why), A.url, 0), EVM_RPC_OK, "%s", why);
	rcpt_u256_from_u64(&big, 1000);
	evm_buf_init(&b, buf, sizeof(buf));
	evm_abi_call_addr_u256(&b, "approve(address,uint256)", escrow, &big);
	memset(&tx, 0, sizeof(tx));
	memset(&o, 0, sizeof(o));
	tx.has_to = 1;
	memcpy(tx.to, token, 20);
	tx.data = b.data;
	tx.data_len = b.len;
	cr_assert_eq(evm_send(rpc, &s, &tx, &o, &sent), EVM_RPC_OK, "%s", evm_rpc_why(rpc));
	evm_receipt_release(&sent.receipt);
	evm_sender_release(&s);
	evm_rpc_free(rpc);
	{
		const char *const a[] = { "deposit", "30", "--mint", "--rpc", A.url, "--escrow-address",
			w.escrow, "--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_eq(tx_lines(r.err), 2, "mint and deposit, no approve: %s", r.err);
		cr_assert_null(strstr(r.err, "approve("), "%s", r.err);
		cr_assert(strstr(r.err, "allowance 1000 covers 30: no approve sent"), "%s", r.err);
		check_account(&w, r.out, CUSTOMER, "130", "0", "0", "0");
		tu_run_free(&r);
	}
	e = ethers_account(&w, CUSTOMER, NULL);
	cr_assert_str_eq(str(e, "allowance"), "970");
	json_decref(e);
}

Test(evm_money, refusals_named_nothing_moved, .fini = anvil_stop, .timeout = 240)
{
	static const struct {
		const char *sub, *amount, *error;
	} cases[] = {
		{ "withdraw", "101", "Insufficient()" },
		{ "stake", "101", "Insufficient()" },
		{ "unstake", "1", "Insufficient()" },
		{ "unbond", NULL, "NotReleasable()" },
	};
	struct world w;
	struct tu_run r;
	char *before, *after;

	world_start(&w, NULL);
	{
		const char *const a[] = { "deposit", "100", "--mint", "--rpc", A.url, "--chain", w.chain,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tu_run_free(&r);
	}
	before = snapshot(&w);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *a[] = { "escrow", cases[i].sub, "--rpc", A.url, "--escrow-address", w.escrow,
			"--key", w.key, cases[i].amount, NULL };
		assay(&r, a);
		cr_expect_eq(r.status, 1, "%s: %s", cases[i].sub, r.err);
		cr_expect_str_empty(r.out);
		cr_expect_eq(tu_lines(r.err), 1, "one line: %s", r.err);
		cr_expect(strstr(r.err, cases[i].error) && strstr(r.err, "reverted") &&
			  strstr(r.err, "nothing was sent"), "%s: %s", cases[i].sub, r.err);
		tu_run_free(&r);
	}
	/* A deposit beyond the wallet: refused before anything is sent. */
	{
		const char *const a[] = { "deposit", "1", "--rpc", A.url, "--escrow-address", w.escrow,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "holds 0 of the token") && strstr(r.err, "nothing was sent"),
			  "%s", r.err);
		tu_run_free(&r);
	}
	after = snapshot(&w);
	cr_assert_str_eq(after, before, "nothing moved, no transaction sent");
	free(before);
	free(after);
}

Test(evm_money, unbond_after_the_period, .fini = anvil_stop, .timeout = 240)
{
	static const char *const short_period[] = { "--min-stake", "1", "--challenge-window-s", "1",
		"--referee-deadline-s", "1", "--unbonding-s", "3", NULL };
	struct world w;
	struct tu_run r;
	json_t *e;
	int released = 0;

	world_start(&w, short_period);
	{
		const char *const a[] = { "deposit", "100", "--mint", "--rpc", A.url, "--chain", w.chain,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "escrow", "stake", "100", "--rpc", A.url, "--chain", w.chain,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "escrow", "unstake", "40", "--rpc", A.url, "--chain", w.chain,
			"--key", w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		check_account(&w, r.out, CUSTOMER, "0", "60", "40", "0");
		tu_run_free(&r);
	}
	/* The period is 3 s of block time: a bounded wait for it. */
	for (int i = 0; i < 20 && !released; i++) {
		const char *const a[] = { "escrow", "unbond", "--rpc", A.url, "--chain", w.chain, "--key",
			w.key, NULL };
		assay(&r, a);
		if (r.status == 0) {
			released = 1;
			cr_assert_eq(tx_lines(r.err), 1, "%s", r.err);
			cr_assert(strstr(r.err, "releaseUnbonded(") && strstr(r.err, CUSTOMER), "%s", r.err);
			check_account(&w, r.out, CUSTOMER, "40", "60", "0", "0");
			cr_assert(strstr(r.out, "\"nextRelease\":0,"), "%s", r.out);
		} else {
			cr_assert_eq(r.status, 1, "%s", r.err);
			cr_assert(strstr(r.err, "NotReleasable()"), "%s", r.err);
			sleep(1);
		}
		tu_run_free(&r);
	}
	cr_assert(released, "unbonding not released after 20 s");
	e = ethers_account(&w, CUSTOMER, NULL);
	cr_assert_str_eq(str(e, "unbonding"), "0");
	cr_assert_str_eq(str(e, "releaseAt"), "0");
	json_decref(e);
}

Test(evm_money, key_file_readable_by_others_refused, .fini = anvil_stop, .timeout = 120)
{
	struct world w;
	struct tu_run r;
	char open_key[512], *before, *after;

	world_start(&w, NULL);
	anvilfx_key_file(&A, open_key, sizeof(open_key), 1, 0644);
	before = snapshot(&w);
	{
		const char *const cmds[][3] = { { "deposit", "5", "--mint" }, { "escrow", "stake", "5" },
			{ "balance", "--key", open_key } };
		for (size_t i = 0; i < 3; i++) {
			const char *const a[] = { cmds[i][0], cmds[i][1], cmds[i][2], "--rpc", A.url,
				"--escrow-address", w.escrow, "--key", open_key, NULL };
			const char *const b[] = { cmds[i][0], "--rpc", A.url, "--escrow-address", w.escrow,
				"--key", open_key, NULL };
			assay(&r, i == 2 ? b : a);
			cr_expect_eq(r.status, 2, "%s: %s", cmds[i][0], r.err);
			cr_expect_eq(tu_lines(r.err), 1, "%s", r.err);
			cr_expect(strstr(r.err, "could not load key") && strstr(r.err, "group or others"),
				  "%s", r.err);
			cr_expect_null(strstr(r.err, ANVILFX_KEYS[1] + 2), "the secret is never printed");
			cr_expect_null(strstr(r.out, ANVILFX_KEYS[1] + 2));
			tu_run_free(&r);
		}
	}
	after = snapshot(&w);
	cr_assert_str_eq(after, before, "nothing sent");
	free(before);
	free(after);
}

Test(evm_money, mixing_backends_refused)
{
	/* Nothing listens on port 1: every refusal comes before any I/O. */
	static const char *const E = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
	static const char *const NODE = "http://127.0.0.1:1";
	static const struct refusal cases[] = {
		{ { "deposit", "5", "--escrow", NODE, "--rpc", NODE, "--escrow-address", E, "--key", "k" },
		  "--escrow (assay-escrow over HTTP) and --rpc (the EVM contract) choose different backends" },
		{ { "balance", "--escrow", NODE, "--escrow-address", E, "--key", "k" },
		  "--escrow (assay-escrow over HTTP) and --escrow-address" },
		{ { "deposit", "5", "--escrow", NODE, "--mint", "--key", "k" }, "and --mint (the EVM" },
		{ { "escrow", "stake", "5", "--url", NODE, "--rpc", NODE, "--escrow-address", E, "--key", "k" },
		  "--url (assay-escrow over HTTP) and --rpc" },
		{ { "escrow", "balance", "--url", NODE, "--chain", "c.json", "--key", "k" },
		  "--url (assay-escrow over HTTP) and --chain" },
		{ { "deposit", "5", "--escrow-address", E, "--key", "k" }, "give --rpc URL too" },
		{ { "escrow", "withdraw", "5", "--chain", "c.json", "--key", "k" }, "give --rpc URL too" },
		{ { "balance", "--rpc", NODE, "--key", "k" }, "exactly one of --escrow-address ADDRESS and --chain" },
		{ { "escrow", "unstake", "5", "--rpc", NODE, "--escrow-address", E, "--chain", "c.json",
		    "--key", "k" }, "exactly one of --escrow-address ADDRESS and --chain" },
		{ { "deposit", "5", "--key", "k" }, "give --escrow URL (assay-escrow) or --rpc URL" },
		{ { "escrow", "params", "--rpc", NODE, "--escrow-address", E }, "not on the EVM backend" },
		{ { "escrow", "faucet", E, "5", "--rpc", NODE, "--escrow-address", E }, "not on the EVM backend" },
		{ { "escrow", "stake", "5", "--rpc", NODE, "--escrow-address", E, "--key", "k",
		    "--idempotency-key", "abc" }, "--idempotency-key does not apply on the EVM backend" },
		{ { "balance", E, "--rpc", NODE, "--escrow-address", E, "--mint" }, "--mint does not apply" },
		{ { "balance", E, "--rpc", NODE, "--escrow-address", E, "--timeout-s", "5" },
		  "--timeout-s does not apply" },
		{ { "escrow", "balance", E, "--rpc", NODE, "--escrow-address", E, "--key", "k" },
		  "either ADDRESS or --key" },
	};
	expect_refusals(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(evm_money, unreachable_rpc, .fini = anvil_stop, .timeout = 60)
{
	static const char *const SECRET_URL = "http://user:s3cret@127.0.0.1:1/v3/K3Y";
	static const char *const E = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
	char key[512];
	struct tu_run r;

	tu_tmpdir(A.dir, sizeof(A.dir));
	anvilfx_key_file(&A, key, sizeof(key), 1, 0600);
	{
		const char *const cases[][12] = {
			{ "deposit", "5", "--mint", "--rpc", SECRET_URL, "--escrow-address", E, "--key", key },
			{ "balance", "--rpc", SECRET_URL, "--escrow-address", E, "--key", key },
			{ "escrow", "withdraw", "5", "--rpc", SECRET_URL, "--escrow-address", E, "--key", key },
		};
		for (size_t i = 0; i < 3; i++) {
			assay(&r, cases[i]);
			cr_expect_eq(r.status, 1, "%s: %s", cases[i][0], r.err);
			cr_expect_str_empty(r.out);
			cr_expect_eq(tu_lines(r.err), 1, "one line: %s", r.err);
			cr_expect(strstr(r.err, "eth_chainId at http://127.0.0.1:1") &&
				  strstr(r.err, "no answer") && strstr(r.err, "(unreachable)"), "%s", r.err);
			cr_expect_null(strstr(r.err, "s3cret"));
			cr_expect_null(strstr(r.err, "K3Y"));
			tu_run_free(&r);
		}
	}
}

Test(evm_money, chain_file_and_escrow_checked, .fini = anvil_stop, .timeout = 120)
{
	struct world w;
	struct tu_run r;
	char path[600], text[300];

	world_start(&w, NULL);
	snprintf(path, sizeof(path), "%s/other.json", A.dir);
	/* Another chain's file. */
	snprintf(text, sizeof(text), "{\"chainId\":1,\"escrow\":\"%s\",\"token\":\"%s\"}\n", w.escrow,
		 w.token);
	tu_write_file(path, text, strlen(text), 0644);
	{
		const char *const a[] = { "balance", CUSTOMER, "--rpc", A.url, "--chain", path, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "is chain 31337, the --chain file's escrow is on chain 1"), "%s",
			  r.err);
		tu_run_free(&r);
	}
	/* The right chain, another token. */
	snprintf(text, sizeof(text), "{\"chainId\":31337,\"escrow\":\"%s\",\"token\":\"%s\"}", w.escrow,
		 w.escrow);
	tu_write_file(path, text, strlen(text), 0644);
	{
		const char *const a[] = { "escrow", "stake", "1", "--rpc", A.url, "--chain", path, "--key",
			w.key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "not the --chain file's token"), "%s", r.err);
		tu_run_free(&r);
	}
	/* Not the deploy's output: exit 2. */
	{
		static const char *const bad[] = {
			"{\"chainId\":31337}",
			"{\"chainId\":31337,\"escrow\":\"0x12\",\"token\":\"0x12\"}",
			"{\"chainId\":\"31337\",\"escrow\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\",\"token\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\"}",
			"{\"chainId\":1,\"chainId\":2,\"escrow\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\",\"token\":\"0x5FbDB2315678afecb367f032d93F642f64180aa3\"}",
			"not json",
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			const char *const a[] = { "balance", CUSTOMER, "--rpc", A.url, "--chain", path, NULL };
			tu_write_file(path, bad[i], strlen(bad[i]), 0644);
			assay(&r, a);
			cr_expect_eq(r.status, 2, "'%s': %s", bad[i], r.err);
			cr_expect(strstr(r.err, "is not what assay chain deploy prints"), "%s", r.err);
			tu_run_free(&r);
		}
	}
	/* An address without code, and an EOA's: not an escrow. */
	{
		const char *const a[] = { "balance", CUSTOMER, "--rpc", A.url, "--escrow-address",
			ANVILFX_ADDRS[2], NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "holds no contract on chain 31337"), "%s", r.err);
		tu_run_free(&r);
	}
}

Test(evm_money, unusable_arguments, .fini = anvil_stop, .timeout = 60)
{
	static const char *const E = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
	static const char *const amounts[] = { "05", "0", "1e3", "0x10", "",
		"115792089237316195423570985008687907853269984665640564039457584007913129639936" };
	char key[512];
	struct tu_run r;

	tu_tmpdir(A.dir, sizeof(A.dir));
	anvilfx_key_file(&A, key, sizeof(key), 1, 0600);
	for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
		const char *const a[] = { "deposit", amounts[i], "--rpc", "http://127.0.0.1:1",
			"--escrow-address", E, "--key", key, NULL };
		const char *const b[] = { "escrow", "stake", "--rpc", "http://127.0.0.1:1",
			"--escrow-address", E, "--key", key, "--", amounts[i], NULL };
		assay(&r, a);
		cr_expect_eq(r.status, 2, "'%s': %s", amounts[i], r.err);
		cr_expect_eq(tu_lines(r.err), 1, "%s", r.err);
		tu_run_free(&r);
		assay(&r, b);
		cr_expect_eq(r.status, 2, "'%s': %s", amounts[i], r.err);
		tu_run_free(&r);
	}
	{
		static const char *const cases[][2] = {
			{ "--confirmations", "0" }, { "--confirmations", "65" }, { "--timeout-s", "0" },
			{ "--timeout-s", "3601" }, { "--escrow-address", "0x1234" },
		};
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *a[] = { "escrow", "withdraw", "5", "--rpc", "http://127.0.0.1:1",
				"--key", key, cases[i][0], cases[i][1],
				strcmp(cases[i][0], "--escrow-address") ? "--escrow-address" : NULL, E, NULL };
			assay(&r, a);
			cr_expect_eq(r.status, 2, "%s %s: %s", cases[i][0], cases[i][1], r.err);
			cr_expect_eq(tu_lines(r.err), 1, "%s", r.err);
			tu_run_free(&r);
		}
	}
	{
		const char *const a[] = { "escrow", "stake", "5", "--rpc", "ftp://127.0.0.1:1",
			"--escrow-address", E, "--key", key, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 2, "%s", r.err);
		cr_assert(strstr(r.err, "--rpc: RPC URL is not an http:// or https:// URL"), "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "escrow", "stake", "5", "--rpc", "http://127.0.0.1:1",
			"--escrow-address", E, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 2, "%s", r.err);
		cr_assert(strstr(r.err, "needs --key FILE"), "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "deposit", "--help", NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert(strstr(r.out, "--escrow-address") && strstr(r.out, "--mint"), "%s", r.out);
		tu_run_free(&r);
	}
}

/* ------------------------------------------------------------------ */
/* evm_statements: assay escrow open|receipt|attest|settle|job on the   */
/* contract, checked with chain-adapter/evm/test-ethers/job.mjs         */

#define PROVIDER ANVILFX_ADDRS[2]
#define VALIDATOR ANVILFX_ADDRS[0]

/* Small stake rules (the exposure bound is the whole bond), a window of
 * 60 s that the tests pass with evm_increaseTime, not by waiting. */
static const char *const JOB_RULES[] = { "--min-stake", "1", "--sample-bps", "10000",
	"--slash-bps", "10000", "--challenge-window-s", "60", "--referee-deadline-s", "10",
	"--unbonding-s", "100", NULL };

/* The parties' key files and the statements of one job. */
struct job_world {
	struct world w;
	char prov_key[512], val_key[512];     /* accounts 2 and 0, 0600 */
	char job[600], rec[600], att[600];    /* statement files */
	char id[RCPT_HASH_HEX_BYTES];         /* the job id, as ethers computes it */
	char rid[RCPT_HASH_HEX_BYTES];        /* the receipt id, as ethers computes it */
};

/* job.mjs with args (NULL-terminated, at most 6): its stdout, one line,
 * without the newline (the caller frees). */
static char *ethers_job(const char *const args[])
{
	char dir[512], script[512];
	const char *argv[16] = { "/bin/sh", "-c",
		"command -v node >/dev/null 2>&1 || exit 77; cd \"$1\" && s=\"$2\" && shift 2 && "
		"exec node \"$s\" \"$@\"", "sh", dir, script };
	struct tu_run r;
	size_t n = 6;
	char *out;

	tu_src(dir, sizeof(dir), "chain-adapter/evm");
	tu_src(script, sizeof(script), "chain-adapter/evm/test-ethers/job.mjs");
	for (size_t i = 0; args[i]; i++) {
		cr_assert(n < 15);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	tu_run(&r, argv);
	if (r.status == 77) {
		tu_run_free(&r);
		cr_skip_test("node not found: the ethers.js check was skipped");
	}
	cr_assert_eq(r.status, 0, "job.mjs: %s%s", r.out, r.err);
	cr_assert_eq(tu_lines(r.out), 1, "%s", r.out);
	out = strdup(r.out);
	cr_assert_not_null(out);
	out[strcspn(out, "\n")] = '\0';
	tu_run_free(&r);
	return out;
}

static void ethers_digest(char out[RCPT_HASH_HEX_BYTES], const struct world *w,
			  const char *type, const char *file)
{
	const char *const a[] = { "digest", type, A.url, w->escrow, file, NULL };
	char *d = ethers_job(a);

	cr_assert_eq(strlen(d), RCPT_HASH_HEX_BYTES - 1, "%s", d);
	memcpy(out, d, RCPT_HASH_HEX_BYTES);
	free(d);
}

/* The job as ethers reads it at `block` (NULL: the latest). */
static json_t *ethers_job_state(const struct world *w, const char *id, const char *block)
{
	const char *const a[] = { "state", A.url, w->escrow, id, block, NULL };
	char *s = ethers_job(a);
	json_t *j = json_loads(s, JSON_REJECT_DUPLICATES, NULL);

	cr_assert_not_null(j, "job.mjs: %s", s);
	free(s);
	return j;
}

static long long num(const json_t *j, const char *k)
{
	json_t *v = json_object_get(j, k);

	cr_assert(json_is_integer(v), "no integer \"%s\"", k);
	return json_integer_value(v);
}

/*
 * The job a command printed: exactly the documented keys in order, every
 * value equal to what ethers reads at the printed block, the id ethers
 * computed and the expected state.  Returns the printed block.
 */
static long long check_job(const struct job_world *jw, const char *out, const char *state)
{
	static const char *const keys[] = { "job", "state", "customer", "provider", "maxPrice",
		"price", "deadline", "openedAt", "windowEnd", "openDisputes", "receipt", "chainId",
		"escrow", "block" };
	static const char *const names[] = { "unknown", "open", "receipted", "disputed", "paid",
		"refunded" };
	json_t *c = json_loads(out, JSON_REJECT_DUPLICATES, NULL), *e, *rc;
	char blk[32];
	size_t i = 0;
	long long block, st;

	cr_assert_not_null(c, "not JSON: %s", out);
	cr_assert_eq(tu_lines(out), 1, "one line: %s", out);
	cr_assert_eq(json_object_size(c), sizeof(keys) / sizeof(keys[0]), "%s", out);
	for (void *it = json_object_iter(c); it; it = json_object_iter_next(c, it))
		cr_assert_str_eq(json_object_iter_key(it), keys[i++], "key order: %s", out);
	cr_assert_str_eq(str(c, "job"), jw->id);
	cr_assert_str_eq(str(c, "state"), state, "%s", out);
	cr_assert_str_eq(str(c, "escrow"), jw->w.escrow);
	cr_assert_eq(num(c, "chainId"), ANVILFX_CHAIN_ID);
	block = num(c, "block");
	snprintf(blk, sizeof(blk), "%lld", block);
	e = ethers_job_state(&jw->w, jw->id, blk);
	st = num(e, "state");
	cr_assert(st >= 1 && st <= 5, "%s", out);
	cr_assert_str_eq(state, names[st], "ethers reads state %lld", st);
	cr_assert_str_eq(str(c, "customer"), str(e, "customer"));
	cr_assert_str_eq(str(c, "provider"), str(e, "provider"));
	cr_assert_str_eq(str(c, "maxPrice"), str(e, "maxPrice"));
	cr_assert_str_eq(str(c, "price"), str(e, "price"));
	cr_assert_eq(num(c, "deadline"), num(e, "deadline"));
	cr_assert_eq(num(c, "openedAt"), num(e, "openedAt"));
	cr_assert_eq(num(c, "windowEnd"), num(e, "windowEnd"));
	cr_assert_eq(num(c, "openDisputes"), num(e, "openDisputes"));
	rc = json_object_get(c, "receipt");
	if (st >= 2 && st <= 4) {
		cr_assert_str_eq(json_string_value(rc), str(e, "commitment"));
		cr_assert_str_eq(json_string_value(rc), jw->rid, "the receipt id ethers computed");
	} else {
		cr_assert(json_is_null(rc), "%s", out);
	}
	json_decref(e);
	json_decref(c);
	return block;
}

/* assay with args; expects exit 0 and n transaction lines; returns stdout
 * (the caller frees). */
static char *assay_ok(const char *const args[], size_t n)
{
	struct tu_run r;
	char *out;

	assay(&r, args);
	cr_assert_eq(r.status, 0, "%s: %s", args[1] ? args[1] : args[0], r.err);
	cr_assert_eq(tx_lines(r.err), n, "%s", r.err);
	out = strdup(r.out);
	cr_assert_not_null(out);
	tu_run_free(&r);
	return out;
}

/* One transaction that must succeed: the job it printed checked with
 * check_job in `state`. */
static void step_ok(const struct job_world *jw, const char *const args[], const char *state)
{
	char *out = assay_ok(args, 1);

	check_job(jw, out, state);
	free(out);
}

/* The world of a job: the contract deployed with JOB_RULES, the customer
 * holding 1000 in the escrow, the provider 500 bonded, the validator 10
 * bonded; the JobSpec (maxPrice 100, nonce `nonce`), the Receipt (price
 * 60) and an Attestation (verdict 1) written, their ids from ethers. */
static void job_world_start(struct job_world *jw, unsigned nonce)
{
	const char *const dep[][2] = { { "1000", NULL }, { "500", NULL }, { "10", NULL } };
	char text[1400];
	long long now_ms = (long long)time(NULL) * 1000;

	memset(jw, 0, sizeof(*jw));
	world_start(&jw->w, JOB_RULES);
	anvilfx_key_file(&A, jw->prov_key, sizeof(jw->prov_key), 2, 0600);
	anvilfx_key_file(&A, jw->val_key, sizeof(jw->val_key), 0, 0600);
	for (int i = 0; i < 3; i++) {
		const char *key = i == 0 ? jw->w.key : i == 1 ? jw->prov_key : jw->val_key;
		const char *const a[] = { "deposit", dep[i][0], "--mint", "--rpc", A.url, "--chain",
			jw->w.chain, "--key", key, NULL };
		const char *const s[] = { "escrow", "stake", dep[i][0], "--rpc", A.url, "--chain",
			jw->w.chain, "--key", key, NULL };
		free(assay_ok(a, 3));
		if (i > 0)
			free(assay_ok(s, 1));
	}
	snprintf(jw->job, sizeof(jw->job), "%s/job.json", A.dir);
	snprintf(text, sizeof(text),
		 "{\"customer\":\"%s\",\"provider\":\"%s\",\"kernel\":\"matmul_f32@1\",\"kernelHash\":"
		 "\"0x%064d\",\"params\":\"{}\",\"inputRoot\":\"0x%064d\",\"inputSize\":64,\"maxPrice\":"
		 "\"100\",\"deadline\":%lld,\"nonce\":%u}", CUSTOMER, PROVIDER, 1, 2,
		 (long long)time(NULL) + 3600, nonce);
	tu_write_file(jw->job, text, strlen(text), 0644);
	ethers_digest(jw->id, &jw->w, "JobSpec", jw->job);
	snprintf(jw->rec, sizeof(jw->rec), "%s/receipt.json", A.dir);
	snprintf(text, sizeof(text),
		 "{\"job\":\"%s\",\"kernelHash\":\"0x%064d\",\"inputRoot\":\"0x%064d\",\"inputSize\":64,"
		 "\"outputRoot\":\"0x%064d\",\"outputSize\":32,\"price\":\"60\",\"device\":\"cpu\","
		 "\"startedAt\":%lld,\"finishedAt\":%lld,\"provider\":\"%s\"}", jw->id, 1, 2, 3,
		 now_ms, now_ms, PROVIDER);
	tu_write_file(jw->rec, text, strlen(text), 0644);
	ethers_digest(jw->rid, &jw->w, "Receipt", jw->rec);
	snprintf(jw->att, sizeof(jw->att), "%s/attestation.json", A.dir);
	snprintf(text, sizeof(text), "{\"receipt\":\"%s\",\"outputRoot\":\"0x%064d\",\"verdict\":1,"
		 "\"validator\":\"%s\"}", jw->rid, 3, VALIDATOR);
	tu_write_file(jw->att, text, strlen(text), 0644);
}

static void expect_account(const struct world *w, const char *who, const char *available,
			   const char *bonded)
{
	json_t *e = ethers_account(w, who, NULL);

	cr_assert_str_eq(str(e, "available"), available, "%s's available", who);
	cr_assert_str_eq(str(e, "bonded"), bonded, "%s's bonded", who);
	json_decref(e);
}

static long long nonce_of(const struct world *w, const char *who)
{
	json_t *e = ethers_account(w, who, NULL);
	long long n = num(e, "nonce");

	json_decref(e);
	return n;
}

Test(evm_statements, job_life_open_receipt_settle_checked_by_ethers, .fini = anvil_stop,
     .timeout = 400)
{
	struct job_world jw;
	struct tu_run r;
	json_t *e;

	job_world_start(&jw, 1);
	{
		const char *const a[] = { "escrow", "open", jw.job, "--key", jw.w.key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		step_ok(&jw, a, "open");
	}
	/* maxPrice locked from the customer's available. */
	expect_account(&jw.w, CUSTOMER, "900", "0");
	{
		const char *const a[] = { "escrow", "receipt", jw.id, jw.rec, "--key", jw.prov_key,
			"--rpc", A.url, "--escrow-address", jw.w.escrow, NULL };
		step_ok(&jw, a, "receipted");
	}
	{
		const char *const a[] = { "escrow", "job", jw.id, "--rpc", A.url, "--chain", jw.w.chain,
			NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_str_empty(r.err, "job sends nothing");
		check_job(&jw, r.out, "receipted");
		tu_run_free(&r);
	}
	/* Inside the window: NotSettleable, nothing sent. */
	{
		const char *const a[] = { "escrow", "settle", jw.id, "--key", jw.w.key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "NotSettleable()") && strstr(r.err, "nothing was sent"), "%s",
			  r.err);
		cr_assert_str_empty(r.out);
		tu_run_free(&r);
	}
	/* Past the window (block time, not wall-clock), any account settles. */
	json_decref(anvilfx_call(&A, "evm_increaseTime", "[120]"));
	json_decref(anvilfx_call(&A, "evm_mine", "[]"));
	{
		const char *const a[] = { "escrow", "settle", jw.id, "--key", jw.val_key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		step_ok(&jw, a, "paid");
	}
	/* price to the provider, maxPrice - price back to the customer. */
	expect_account(&jw.w, CUSTOMER, "940", "0");
	expect_account(&jw.w, PROVIDER, "60", "500");
	expect_account(&jw.w, VALIDATOR, "0", "10");
	e = ethers_account(&jw.w, CUSTOMER, NULL);
	cr_assert_str_eq(str(e, "escrowHolds"), "1510", "nothing left the escrow");
	json_decref(e);
}

Test(evm_statements, relayed_open_receipt_and_attestation, .fini = anvil_stop, .timeout = 400)
{
	struct job_world jw;
	char dom[600], text[300], *sig;
	long long cust_nonce, val_nonce;
	json_t *e;

	job_world_start(&jw, 2);
	cust_nonce = nonce_of(&jw.w, CUSTOMER);
	val_nonce = nonce_of(&jw.w, VALIDATOR);
	/* The customer signs with ethers; the validator's account relays. */
	{
		const char *const a[] = { "sign", "JobSpec", A.url, jw.w.escrow, jw.job, ANVILFX_KEYS[1],
			NULL };
		sig = ethers_job(a);
	}
	{
		const char *const a[] = { "escrow", "open", jw.job, "--sig", sig, "--relayer", jw.val_key,
			"--rpc", A.url, "--chain", jw.w.chain, NULL };
		step_ok(&jw, a, "open");
	}
	free(sig);
	cr_assert_eq(nonce_of(&jw.w, CUSTOMER), cust_nonce, "the customer sent nothing");
	cr_assert_eq(nonce_of(&jw.w, VALIDATOR), val_nonce + 1, "the relayer sent openJob");
	expect_account(&jw.w, CUSTOMER, "900", "0");
	/* The provider signs with assay statement sign; the customer relays. */
	snprintf(dom, sizeof(dom), "%s/domain.json", A.dir);
	snprintf(text, sizeof(text), "{\"name\":\"Assay\",\"version\":\"1\",\"chainId\":31337,"
		 "\"verifyingContract\":\"%s\"}", jw.w.escrow);
	tu_write_file(dom, text, strlen(text), 0644);
	{
		const char *const a[] = { "statement", "sign", "--type", "Receipt", "--domain", dom,
			"--key", jw.prov_key, jw.rec, NULL };
		sig = assay_ok(a, 0);
		sig[strcspn(sig, "\n")] = '\0';
	}
	{
		const char *const a[] = { "escrow", "receipt", jw.id, jw.rec, "--sig", sig, "--key",
			jw.w.key, "--rpc", A.url, "--chain", jw.w.chain, NULL };
		step_ok(&jw, a, "receipted");
	}
	free(sig);
	cr_assert_eq(nonce_of(&jw.w, CUSTOMER), cust_nonce + 1, "the customer relayed the receipt");
	/* The validator signs here, the customer's account sends. */
	{
		const char *const a[] = { "escrow", "attest", jw.id, jw.att, "--key", jw.val_key,
			"--relayer", jw.w.key, "--receipt", jw.rec, "--rpc", A.url, "--chain", jw.w.chain,
			NULL };
		step_ok(&jw, a, "receipted");
	}
	cr_assert_eq(nonce_of(&jw.w, VALIDATOR), val_nonce + 1, "the validator sent nothing more");
	e = ethers_job_state(&jw.w, jw.id, NULL);
	cr_assert_eq(json_array_size(json_object_get(e, "attested")), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(e, "attested"), 0)), 1,
		     "one Attested event, verdict 1");
	cr_assert_eq(num(e, "openDisputes"), 0);
	json_decref(e);
}

Test(evm_statements, refusals_named_nothing_moved, .fini = anvil_stop, .timeout = 400)
{
	struct job_world jw;
	struct tu_run r;
	char open_key[512], *before, *after, *sig;

	job_world_start(&jw, 3);
	{
		const char *const a[] = { "escrow", "open", jw.job, "--key", jw.w.key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		free(assay_ok(a, 1));
	}
	before = snapshot(&jw.w);
	/* The same job again: the contract's JobExists, nothing sent. */
	{
		const char *const a[] = { "escrow", "open", jw.job, "--key", jw.w.key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert_eq(tu_lines(r.err), 1, "%s", r.err);
		cr_assert(strstr(r.err, "JobExists()") && strstr(r.err, "nothing was sent"), "%s",
			  r.err);
		cr_assert_str_empty(r.out);
		tu_run_free(&r);
	}
	/* A signature by another than the customer: exit 2 before sending. */
	{
		const char *const s[] = { "sign", "JobSpec", A.url, jw.w.escrow, jw.job, ANVILFX_KEYS[2],
			NULL };
		sig = ethers_job(s);
	}
	{
		const char *const a[] = { "escrow", "open", jw.job, "--sig", sig, "--relayer", jw.w.key,
			"--rpc", A.url, "--chain", jw.w.chain, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 2, "%s", r.err);
		cr_assert(strstr(r.err, "--sig is not the JobSpec signer") && strstr(r.err, CUSTOMER),
			  "%s", r.err);
		tu_run_free(&r);
	}
	free(sig);
	/* The customer's key signing the provider's receipt. */
	{
		const char *const a[] = { "escrow", "receipt", jw.id, jw.rec, "--key", jw.w.key, "--rpc",
			A.url, "--chain", jw.w.chain, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 2, "%s", r.err);
		cr_assert(strstr(r.err, "the key is not the Receipt signer"), "%s", r.err);
		tu_run_free(&r);
	}
	/* A key file others may read: refused, the secret never printed. */
	anvilfx_key_file(&A, open_key, sizeof(open_key), 1, 0644);
	{
		const char *const a[] = { "escrow", "settle", jw.id, "--key", open_key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 2, "%s", r.err);
		cr_assert(strstr(r.err, "could not load key"), "%s", r.err);
		cr_assert_null(strstr(r.err, ANVILFX_KEYS[1] + 2));
		tu_run_free(&r);
	}
	/* An id the escrow does not know. */
	{
		const char *const a[] = { "escrow", "job", jw.rid, "--rpc", A.url, "--chain", jw.w.chain,
			NULL };
		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "is unknown to the escrow"), "%s", r.err);
		tu_run_free(&r);
	}
	after = snapshot(&jw.w);
	cr_assert_str_eq(after, before, "nothing moved, no transaction sent");
	free(before);
	free(after);
}

Test(evm_statements, fraud_claim_disputes_and_deadline_refunds, .fini = anvil_stop,
     .timeout = 400)
{
	struct job_world jw;
	char text[300];
	json_t *e;

	job_world_start(&jw, 4);
	{
		const char *const a[] = { "escrow", "open", jw.job, "--key", jw.w.key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		free(assay_ok(a, 1));
	}
	/* No receipt by the deadline (block time moved past it): refunded. */
	json_decref(anvilfx_call(&A, "evm_increaseTime", "[3700]"));
	json_decref(anvilfx_call(&A, "evm_mine", "[]"));
	{
		const char *const a[] = { "escrow", "receipt", jw.id, jw.rec, "--key", jw.prov_key,
			"--rpc", A.url, "--chain", jw.w.chain, NULL };
		struct tu_run r;

		assay(&r, a);
		cr_assert_eq(r.status, 1, "%s", r.err);
		cr_assert(strstr(r.err, "DeadlinePassed()"), "%s", r.err);
		tu_run_free(&r);
	}
	{
		const char *const a[] = { "escrow", "settle", jw.id, "--key", jw.prov_key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		step_ok(&jw, a, "refunded");
	}
	expect_account(&jw.w, CUSTOMER, "1000", "0");
	expect_account(&jw.w, PROVIDER, "0", "500");

	/* A second job (nonce 5, deadline an hour past the block time),
	 * receipted, then a fraud claim: disputed. */
	anvil_stop();
	job_world_start(&jw, 5);
	{
		const char *const a[] = { "escrow", "open", jw.job, "--key", jw.w.key, "--rpc", A.url,
			"--chain", jw.w.chain, NULL };
		const char *const b[] = { "escrow", "receipt", jw.id, jw.rec, "--key", jw.prov_key,
			"--rpc", A.url, "--chain", jw.w.chain, NULL };
		free(assay_ok(a, 1));
		free(assay_ok(b, 1));
	}
	snprintf(text, sizeof(text), "{\"receipt\":\"%s\",\"outputRoot\":\"0x%064d\",\"verdict\":2,"
		 "\"validator\":\"%s\"}", jw.rid, 4, VALIDATOR);
	tu_write_file(jw.att, text, strlen(text), 0644);
	{
		const char *const a[] = { "escrow", "attest", jw.id, jw.att, "--key", jw.val_key,
			"--receipt", jw.rec, "--rpc", A.url, "--chain", jw.w.chain, NULL };
		step_ok(&jw, a, "disputed");
	}
	e = ethers_job_state(&jw.w, jw.id, NULL);
	cr_assert_eq(num(e, "openDisputes"), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(e, "attested"), 0)), 2);
	json_decref(e);
	expect_account(&jw.w, CUSTOMER, "900", "0");
}

Test(evm_statements, unusable_arguments)
{
	/* Nothing listens on port 1: every refusal comes before any I/O. */
	static const char *const E = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
	static const char *const NODE = "http://127.0.0.1:1";
	static const char *const ID = "0x1111111111111111111111111111111111111111111111111111111111111111";
	static const char *const SIG = "0x11";
	static const struct refusal cases[] = {
		{ { "escrow", "open", "j.json", "--rpc", NODE, "--escrow-address", E },
		  "give --sig SIG (the statement signed elsewhere) or --key FILE" },
		{ { "escrow", "open", "j.json", "--sig", SIG, "--rpc", NODE, "--escrow-address", E },
		  "--sig needs --relayer FILE (or --key FILE)" },
		{ { "escrow", "open", "j.json", "--sig", SIG, "--key", "k", "--relayer", "r", "--rpc",
		    NODE, "--escrow-address", E }, "give one account to send it" },
		{ { "escrow", "attest", ID, "a.json", "--key", "k", "--rpc", NODE, "--escrow-address",
		    E }, "needs --receipt RECEIPT.json" },
		{ { "escrow", "receipt", ID, "r.json", "--key", "k", "--receipt", "r.json", "--rpc",
		    NODE, "--escrow-address", E }, "option --receipt does not apply on the EVM backend" },
		{ { "escrow", "open", "j.json", "--key", "k", "--domain", "d.json", "--rpc", NODE,
		    "--escrow-address", E }, "option --domain does not apply on the EVM backend" },
		{ { "escrow", "settle", ID, "--rpc", NODE, "--escrow-address", E },
		  "needs --key FILE (the account that sends settle(job)" },
		{ { "escrow", "settle", ID, "--key", "k", "--relayer", "r", "--rpc", NODE,
		    "--escrow-address", E }, "option --relayer does not apply on the EVM backend" },
		{ { "escrow", "settle", ID, "--url", NODE, "--key", "k" }, "only on the EVM backend" },
		{ { "escrow", "open", "j.json", "--key", "k", "--relayer", "r" },
		  "--relayer is for the EVM backend: give --rpc URL too" },
		{ { "escrow", "attest", ID, "a.json", "--key", "k", "--receipt", "r.json", "--url",
		    NODE }, "--url (assay-escrow over HTTP) and --receipt" },
		{ { "escrow", "job", "0x12", "--rpc", NODE, "--escrow-address", E },
		  "job id '0x12' is not 0x + 64 hex digits" },
		{ { "escrow", "job", ID, "--key", "k", "--rpc", NODE, "--escrow-address", E },
		  "option --key does not apply on the EVM backend" },
		{ { "escrow", "job", ID, "--timeout-s", "5", "--rpc", NODE, "--escrow-address", E },
		  "option --timeout-s does not apply on the EVM backend" },
		{ { "escrow", "jobs", "--rpc", NODE, "--escrow-address", E }, "not on the EVM backend" },
		{ { "escrow", "open", "/nonexistent/j.json", "--key", "k", "--rpc", NODE,
		    "--escrow-address", E }, "/nonexistent/j.json" },
	};
	expect_refusals(cases, sizeof(cases) / sizeof(cases[0]));
}
