/*
 * money_evm.c: the money commands on the EVM backend (money_evm.h).
 *
 *   assay deposit AMOUNT --rpc URL (--escrow-address A | --chain FILE) --key FILE [--mint]
 *   assay balance [ADDRESS] --rpc URL (--escrow-address A | --chain FILE) [--key FILE]
 *   assay escrow balance|stake|unstake|withdraw|unbond ... --rpc URL (...) --key FILE
 *
 * Invariants of a struct money once money_open has returned 0: rpc is a
 * client for a node whose chain id is chain_id; escrow holds code and
 * its token() is token (and, with --chain, both the chain id and the
 * token are the file's); the sender, when there is one, holds the key
 * and nothing else does.  Every value printed was read from the chain
 * at one block: the latest for `balance`, the last transaction's after
 * a transaction.  Nothing here trusts a value the node returns beyond
 * its form: the contract is the authority on every rule (a refusal is
 * its custom error, named from the embedded ABIs), and the client only
 * checks beforehand what turns a revert into a clearer message (the
 * wallet holds the amount before anything of a deposit is sent).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "assay_assert.h"
#include "cli.h"
#include "embed.h"
#include "evm.h"
#include "evm_rpc.h"
#include "money_evm.h"
#include "money_evm_internal.h"
#include "receipts.h"

#include "banned.h"

/* ------------------------------------------------------------------ */
/* Limits, each with its reason                                         */

/* A chain file is one line of about 140 bytes (`assay chain deploy`'s
 * output); 4 KiB leaves room for whitespace and refuses anything else. */
#define MONEY_CHAIN_FILE_BYTES_MAX 4096u
/* Waiting for each transaction: as `assay chain deploy` (two minutes by
 * default, an hour at most: EVM_SEND_WAIT_MS_MAX). */
#define MONEY_TIMEOUT_S_DEFAULT 120ul
#define MONEY_TIMEOUT_S_MAX 3600ul

const char MONEY_EVM_USAGE[] =
	"EVM backend (the AssayEscrow contract, PROTOCOL.md section 7):\n"
	"--rpc URL             the chain's JSON-RPC node (http:// or https://)\n"
	"--escrow-address A    the escrow contract's address, or instead\n"
	"--chain FILE          the JSON `assay chain deploy` printed ({\"chainId\",\"escrow\",\n"
	"                      \"token\"}); the node's chain id and the escrow's token()\n"
	"                      must be the file's\n"
	"--key FILE            the account; it signs and pays the gas of every transaction\n"
	"--confirmations N     blocks each transaction waits for (1 to 64, default 1)\n"
	"--timeout-s N         the longest wait for each (1 to 3600, default 120)\n"
	"Each transaction is one line on stderr (its hash and gas used); the account is\n"
	"printed on stdout as {\"address\",\"available\",\"stake\",\"unbonding\",\"nextRelease\",\n"
	"\"wallet\",\"chainId\",\"escrow\",\"token\",\"block\"} (wallet: the address's own\n"
	"token balance outside the escrow; block: where every value was read).  A refusal\n"
	"prints the contract's custom error (Insufficient(), ...).  --rpc cannot be mixed\n"
	"with the HTTP backend's URL option.\n";


/* ------------------------------------------------------------------ */
/* Choosing the backend                                                 */

enum money_backend_kind money_backend(const char *cmd, const char *http_flag, int http_given,
				      const struct money_evm_flags *f)
{
	const char *evm = f->rpc ? "--rpc" : f->escrow_address ? "--escrow-address"
		: f->chain ? "--chain" : f->confirmations ? "--confirmations"
		: f->timeout_s ? "--timeout-s" : f->mint ? "--mint"
		: f->relayer ? "--relayer" : f->receipt ? "--receipt" : NULL;

	ASSAY_ASSERT(cmd && http_flag && f);
	if (!evm)
		return MONEY_BACKEND_HTTP;
	if (http_given) {
		cli_err("%s: %s (assay-escrow over HTTP) and %s (the EVM contract) choose "
			"different backends: give one", cmd, http_flag, evm);
		return MONEY_BACKEND_BAD;
	}
	if (!f->rpc) {
		cli_err("%s: %s is for the EVM backend: give --rpc URL too", cmd, evm);
		return MONEY_BACKEND_BAD;
	}
	if (!f->escrow_address == !f->chain) {
		cli_err("%s: --rpc needs exactly one of --escrow-address ADDRESS and --chain FILE",
			cmd);
		return MONEY_BACKEND_BAD;
	}
	return MONEY_BACKEND_EVM;
}

/* ------------------------------------------------------------------ */
/* Arguments (each prints why and returns -1)                           */

/* A non-zero canonical uint256 decimal, as the HTTP forms take it. */
static int parse_amount(const struct money *m, struct rcpt_u256 *out, const char *s)
{
	struct rcpt_u256 zero;

	rcpt_u256_from_u64(&zero, 0);
	if (!s || rcpt_u256_parse(out, s) != RCPT_OK) {
		cli_err("%s: amount '%.80s' is not a decimal uint256 (base units: digits only, "
			"no sign, no leading zero)", m->cmd, s ? s : "");
		return -1;
	}
	if (rcpt_u256_cmp(out, &zero) == 0) {
		cli_err("%s: amount must not be zero", m->cmd);
		return -1;
	}
	return 0;
}

static int parse_small(const struct money *m, unsigned long *out, const char *s,
		       const char *opt, unsigned long max)
{
	struct rcpt_u256 u;
	uint64_t v;

	if (rcpt_u256_parse(&u, s) != RCPT_OK || evm_abi_word_u64(&v, &u) != RCPT_OK ||
	    v < 1 || v > max) {
		cli_err("%s: --%s '%.32s' is not an integer from 1 to %lu", m->cmd, opt, s, max);
		return -1;
	}
	*out = (unsigned long)v;
	return 0;
}

/* --chain FILE: exactly {"chainId":N,"escrow":"0x...","token":"0x..."}. */
static int read_chain_file(struct money *m, const char *path)
{
	json_error_t je;
	json_t *j = NULL, *chain;
	const char *esc, *tok;
	char *text = NULL;
	size_t len;
	int rc;

	rc = cli_read_file(&text, &len, path, MONEY_CHAIN_FILE_BYTES_MAX);
	if (rc == CLI_READ_TOO_LARGE)
		cli_err("%s: --chain '%s' is larger than %u bytes", m->cmd, path,
			MONEY_CHAIN_FILE_BYTES_MAX);
	if (rc)
		return -1;
	rc = -1;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	chain = json_object_get(j, "chainId");
	esc = json_string_value(json_object_get(j, "escrow"));
	tok = json_string_value(json_object_get(j, "token"));
	if (json_is_object(j) && json_object_size(j) == 3 && json_is_integer(chain) &&
	    json_integer_value(chain) > 0 &&
	    (uint64_t)json_integer_value(chain) <= RCPT_JSON_UINT_MAX && esc && tok &&
	    rcpt_address_parse(m->escrow, esc) == RCPT_OK &&
	    rcpt_address_parse(m->file_token, tok) == RCPT_OK) {
		m->have_file = 1;
		m->file_chain_id = (uint64_t)json_integer_value(chain);
		rc = 0;
	} else {
		cli_err("%s: --chain '%s' is not what assay chain deploy prints "
			"({\"chainId\":N,\"escrow\":\"0x...\",\"token\":\"0x...\"})", m->cmd, path);
	}
	json_decref(j);
	free(text);
	return rc;
}

/* Everything in f but the key, checked for form; the client opened.
 * 0, or 2 (unusable arguments). */
int money_args(struct money *m, const struct money_evm_flags *f)
{
	char why[EVM_RPC_WHY_BYTES] = "";
	unsigned long conf = 1, timeout_s = MONEY_TIMEOUT_S_DEFAULT;

	ASSAY_ASSERT(f->rpc && (!f->escrow_address != !f->chain));
	if (f->escrow_address && rcpt_address_parse(m->escrow, f->escrow_address) != RCPT_OK) {
		cli_err("%s: --escrow-address '%.64s' is not an address (0x and 40 hex digits, "
			"EIP-55 when mixed case)", m->cmd, f->escrow_address);
		return 2;
	}
	if (f->chain && read_chain_file(m, f->chain))
		return 2;
	if ((f->confirmations && parse_small(m, &conf, f->confirmations, "confirmations",
					     EVM_SEND_CONFIRMATIONS_MAX)) ||
	    (f->timeout_s && parse_small(m, &timeout_s, f->timeout_s, "timeout-s",
					 MONEY_TIMEOUT_S_MAX)))
		return 2;
	m->opts.confirmations = (unsigned)conf;
	m->opts.wait_ms = (long)timeout_s * 1000L;
	m->abis[0] = (const char *)embed_evm_artifact("AssayEscrow.json")->data;
	m->abis[1] = (const char *)embed_evm_artifact("DevToken.json")->data;
	m->opts.abis = m->abis;
	m->opts.nabis = 2;
	if (evm_rpc_open(&m->rpc, why, sizeof(why), f->rpc, 0) != EVM_RPC_OK) {
		cli_err("%s: --rpc: %s", m->cmd, why[0] ? why : "could not open a client");
		return 2;
	}
	return 0;
}

/* The key file, through the client's loader (0600 or refused).  0 or 2. */
int money_load_key(const struct money *m, struct rcpt_key *key, const char *path)
{
	struct rcpt_diag d = { "" };
	enum rcpt_err rc = rcpt_key_load(key, &d, path);

	if (rc) {
		cli_err("%s: could not load key: %s", m->cmd, d.msg[0] ? d.msg : rcpt_strerror(rc));
		return 2;
	}
	return 0;
}

int money_sender(struct money *m, const char *path)
{
	struct rcpt_key key;
	int rc;

	ASSAY_ASSERT(!m->have_sender && path);
	rc = money_load_key(m, &key, path);
	if (rc)
		return rc;
	if (evm_sender_init(&m->sender, &key) != 0) {
		rcpt_key_wipe(&key);
		cli_err("%s: could not set up the sender", m->cmd);
		return 1;
	}
	rcpt_key_wipe(&key);
	m->have_sender = 1;
	return 0;
}

void money_release(struct money *m)
{
	if (m->have_sender)
		evm_sender_release(&m->sender);
	m->have_sender = 0;
	evm_rpc_free(m->rpc);
	m->rpc = NULL;
}

/* ------------------------------------------------------------------ */
/* Reading the chain                                                    */

int money_rpc_fail(const struct money *m, const char *what, enum evm_rpc_err rc)
{
	cli_err("%s: %s: %s (%s)", m->cmd, what, evm_rpc_why(m->rpc), evm_rpc_errname(rc));
	return 1;
}

/* eth_call of data at `to` at `block`: exactly n static words into out.
 * 0, or 1 after saying why. */
int money_call_words(struct money *m, struct rcpt_u256 *out, size_t n, const uint8_t to[RCPT_ADDR_BYTES],
		      const struct evm_buf *call, uint64_t block, const char *what)
{
	uint8_t *ret = NULL;
	size_t len = 0;
	enum evm_rpc_err rc;
	int bad = 0;

	ASSAY_ASSERT(n >= 1 && n <= MONEY_WORDS_MAX && !call->overflow);
	rc = evm_rpc_call(m->rpc, &ret, &len, NULL, to, call->data, call->len, block);
	if (rc) {
		free(ret);
		return money_rpc_fail(m, what, rc);
	}
	bad = evm_abi_words_exact(ret, len, n) != RCPT_OK;
	for (size_t i = 0; i < n && !bad; i++)
		bad = evm_abi_word(&out[i], ret, len, i) != RCPT_OK;
	free(ret);
	if (bad) {
		cli_err("%s: %s: the answer is not %zu word%s (%zu bytes)", m->cmd, what, n,
			n == 1 ? "" : "s", len);
		return 1;
	}
	return 0;
}

/* f(address) on `to` at `block`. */
int money_call_addr(struct money *m, struct rcpt_u256 *out, size_t n, const uint8_t to[RCPT_ADDR_BYTES],
		     const char *sig, const uint8_t who[RCPT_ADDR_BYTES], uint64_t block)
{
	uint8_t buf[MONEY_CALL_BYTES];
	struct evm_buf b;

	evm_buf_init(&b, buf, sizeof(buf));
	evm_abi_call_addr(&b, sig, who);
	return money_call_words(m, out, n, to, &b, block, sig);
}

/* The node's chain, the escrow's code and token(), against --chain.
 * 0, or 1 after saying why. */
int money_connect(struct money *m)
{
	uint8_t buf[MONEY_CALL_BYTES], *code = NULL;
	char esc[RCPT_ADDR_HEX_BYTES], a[RCPT_ADDR_HEX_BYTES];
	struct rcpt_u256 w;
	struct evm_buf b;
	size_t len = 0;
	enum evm_rpc_err rc;

	rc = evm_rpc_chain_id(m->rpc, &m->chain_id);
	if (rc)
		return money_rpc_fail(m, "asking the node's chain id", rc);
	if (m->chain_id > RCPT_JSON_UINT_MAX) {
		cli_err("%s: the node's chain id %llu is above 2^53 (PROTOCOL.md section 2)", m->cmd,
			(unsigned long long)m->chain_id);
		return 1;
	}
	if (m->have_file && m->file_chain_id != m->chain_id) {
		cli_err("%s: the node at %s is chain %llu, the --chain file's escrow is on chain %llu",
			m->cmd, evm_rpc_where(m->rpc), (unsigned long long)m->chain_id,
			(unsigned long long)m->file_chain_id);
		return 1;
	}
	rcpt_address_format(esc, m->escrow);
	rc = evm_rpc_get_code(m->rpc, &code, &len, m->escrow, EVM_BLOCK_LATEST);
	free(code);
	if (rc)
		return money_rpc_fail(m, "reading the escrow's code", rc);
	if (len == 0) {
		cli_err("%s: the escrow address %s holds no contract on chain %llu", m->cmd, esc,
			(unsigned long long)m->chain_id);
		return 1;
	}
	evm_buf_init(&b, buf, sizeof(buf));
	evm_abi_call_none(&b, "token()");
	if (money_call_words(m, &w, 1, m->escrow, &b, EVM_BLOCK_LATEST, "reading the escrow's token()"))
		return 1;
	if (evm_abi_word_addr(m->token, &w) != RCPT_OK) {
		cli_err("%s: %s answers token() with no address: not an AssayEscrow", m->cmd, esc);
		return 1;
	}
	if (m->have_file && memcmp(m->token, m->file_token, RCPT_ADDR_BYTES) != 0) {
		rcpt_address_format(a, m->token);
		cli_err("%s: the escrow %s's token() is %s, not the --chain file's token", m->cmd,
			esc, a);
		return 1;
	}
	return 0;
}

/* Prints who's account, every value read at `block` (EVM_BLOCK_LATEST:
 * the current block number, read first).  0, or 1 after saying why. */
static int print_account(struct money *m, const uint8_t who[RCPT_ADDR_BYTES], uint64_t block)
{
	struct rcpt_u256 avail, bonded, unb[2], wallet, zero;
	char addr[RCPT_ADDR_HEX_BYTES], esc[RCPT_ADDR_HEX_BYTES], tok[RCPT_ADDR_HEX_BYTES];
	char av[RCPT_U256_DEC_BYTES], st[RCPT_U256_DEC_BYTES], ub[RCPT_U256_DEC_BYTES],
		wl[RCPT_U256_DEC_BYTES];
	uint64_t release = 0;
	enum evm_rpc_err rc;
	json_t *o;

	if (block == EVM_BLOCK_LATEST) {
		rc = evm_rpc_block_number(m->rpc, &block);
		if (rc)
			return money_rpc_fail(m, "reading the block number", rc);
	}
	if (block > RCPT_JSON_UINT_MAX) {
		cli_err("%s: the node's block number is above 2^53", m->cmd);
		return 1;
	}
	if (money_call_addr(m, &avail, 1, m->escrow, "available(address)", who, block) ||
	    money_call_addr(m, &bonded, 1, m->escrow, "bonded(address)", who, block) ||
	    money_call_addr(m, unb, 2, m->escrow, "unbonding(address)", who, block) ||
	    money_call_addr(m, &wallet, 1, m->token, "balanceOf(address)", who, block))
		return 1;
	if (evm_abi_word_u64(&release, &unb[1]) != RCPT_OK || release > RCPT_JSON_UINT_MAX) {
		cli_err("%s: unbonding(address) answers a release time that is not a uint64 "
			"below 2^53", m->cmd);
		return 1;
	}
	/* The HTTP form's nextRelease: 0 when nothing unbonds (a bucket
	 * slashed to nothing may keep its time). */
	rcpt_u256_from_u64(&zero, 0);
	if (rcpt_u256_cmp(&unb[0], &zero) == 0)
		release = 0;
	rcpt_address_format(addr, who);
	rcpt_address_format(esc, m->escrow);
	rcpt_address_format(tok, m->token);
	rcpt_u256_format(av, &avail);
	rcpt_u256_format(st, &bonded);
	rcpt_u256_format(ub, &unb[0]);
	rcpt_u256_format(wl, &wallet);
	o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:I}", "address", addr,
		      "available", av, "stake", st, "unbonding", ub, "nextRelease",
		      (json_int_t)release, "wallet", wl, "chainId", (json_int_t)m->chain_id,
		      "escrow", esc, "token", tok, "block", (json_int_t)block);
	return money_print(m, o);
}

int money_print(const struct money *m, json_t *o)
{
	char *line = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(o);
	if (!line) {
		cli_err("%s: out of memory", m->cmd);
		return 1;
	}
	printf("%s\n", line);
	free(line);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */

/* One transaction from the key's account to `to`, waited for; its hash
 * and gas on stderr.  0, or 1 after saying why (a revert by name). */
int money_send_tx(struct money *m, const char *what, const uint8_t to[RCPT_ADDR_BYTES],
		   const struct evm_buf *call)
{
	static const uint8_t none[RCPT_HASH_BYTES];
	char hash[RCPT_HASH_HEX_BYTES];
	struct evm_sent sent;
	struct evm_tx tx;
	enum evm_rpc_err rc;
	int unsent;

	ASSAY_ASSERT(m->have_sender && !call->overflow && call->len >= EVM_SELECTOR_BYTES);
	memset(&tx, 0, sizeof(tx));
	memset(&sent, 0, sizeof(sent));
	tx.chain_id = m->chain_id;
	tx.has_to = 1;
	memcpy(tx.to, to, RCPT_ADDR_BYTES);
	tx.data = call->data;
	tx.data_len = call->len;
	rc = evm_send(m->rpc, &m->sender, &tx, &m->opts, &sent);
	if (rc) {
		/* A revert at the estimate leaves no hash: nothing went out. */
		unsent = rc == EVM_RPC_ERR_REVERTED &&
			 memcmp(sent.tx_hash, none, RCPT_HASH_BYTES) == 0;
		cli_err("%s: %s: %s (%s)%s", m->cmd, what, evm_rpc_why(m->rpc),
			evm_rpc_errname(rc), unsent ? "; nothing was sent" : "");
		evm_receipt_release(&sent.receipt);
		return 1;
	}
	/* evm_send's promise (status 1 or an error), not the node's word. */
	ASSAY_ASSERT(sent.receipt.status == 1);
	if (rcpt_hex_encode(hash, sizeof(hash), sent.tx_hash, RCPT_HASH_BYTES) != RCPT_OK)
		hash[0] = '\0';
	fprintf(stderr, "assay: %s: %s: transaction %s, gas used %llu, block %llu\n", m->cmd,
		what, hash, (unsigned long long)sent.receipt.gas_used,
		(unsigned long long)sent.receipt.block_number);
	m->last_block = sent.receipt.block_number;
	evm_receipt_release(&sent.receipt);
	return 0;
}

/* [mint,] approve when the allowance is short, deposit.  0 or 1. */
static int do_deposit(struct money *m, const struct rcpt_u256 *amount, const char *amount_s,
		      int mint)
{
	uint8_t buf[MONEY_CALL_BYTES];
	const uint8_t *me = m->sender.key.address;
	char what[MONEY_WHAT_BYTES], a[RCPT_ADDR_HEX_BYTES], t[RCPT_ADDR_HEX_BYTES],
		have[RCPT_U256_DEC_BYTES];
	struct rcpt_u256 wallet, allowance;
	struct evm_buf b;

	rcpt_address_format(a, me);
	rcpt_address_format(t, m->token);
	if (mint) {
		evm_buf_init(&b, buf, sizeof(buf));
		evm_abi_call_addr_u256(&b, "mint(address,uint256)", me, amount);
		snprintf(what, sizeof(what), "mint(%s, %s) on the token", a, amount_s);
		if (money_send_tx(m, what, m->token, &b))
			return 1;
	}
	if (money_call_addr(m, &wallet, 1, m->token, "balanceOf(address)", me, EVM_BLOCK_LATEST))
		return 1;
	if (rcpt_u256_cmp(&wallet, amount) < 0) {
		rcpt_u256_format(have, &wallet);
		cli_err("%s: the wallet %s holds %s of the token %s, less than %s (%s)", m->cmd, a,
			have, t, amount_s, mint ? "after the mint" :
			"nothing was sent; on a devnet, --mint mints it first");
		return 1;
	}
	evm_buf_init(&b, buf, sizeof(buf));
	evm_abi_put_selector(&b, "allowance(address,address)");
	evm_abi_put_addr(&b, me);
	evm_abi_put_addr(&b, m->escrow);
	if (money_call_words(m, &allowance, 1, m->token, &b, EVM_BLOCK_LATEST,
		       "allowance(address,address)"))
		return 1;
	if (rcpt_u256_cmp(&allowance, amount) < 0) {
		evm_buf_init(&b, buf, sizeof(buf));
		evm_abi_call_addr_u256(&b, "approve(address,uint256)", m->escrow, amount);
		rcpt_address_format(a, m->escrow);
		snprintf(what, sizeof(what), "approve(%s, %s) on the token", a, amount_s);
		if (money_send_tx(m, what, m->token, &b))
			return 1;
	} else {
		rcpt_u256_format(have, &allowance);
		fprintf(stderr, "assay: %s: the escrow's allowance %s covers %s: no approve sent\n",
			m->cmd, have, amount_s);
	}
	evm_buf_init(&b, buf, sizeof(buf));
	evm_abi_call_u256(&b, "deposit(uint256)", amount);
	snprintf(what, sizeof(what), "deposit(%s)", amount_s);
	return money_send_tx(m, what, m->escrow, &b);
}

int money_evm_send(const char *cmd, const struct money_evm_flags *f, enum money_op op,
		   const char *amount_s)
{
	static const char *const sigs[] = {
		[MONEY_DEPOSIT] = "deposit(uint256)", [MONEY_STAKE] = "stake(uint256)",
		[MONEY_UNSTAKE] = "unstake(uint256)", [MONEY_WITHDRAW] = "withdraw(uint256)",
		[MONEY_UNBOND] = "releaseUnbonded(address)",
	};
	uint8_t buf[MONEY_CALL_BYTES];
	char what[MONEY_WHAT_BYTES], a[RCPT_ADDR_HEX_BYTES];
	struct money m;
	struct rcpt_u256 amount;
	struct evm_buf b;
	int rc;

	ASSAY_ASSERT(cmd && f && op >= MONEY_DEPOSIT && op <= MONEY_UNBOND);
	ASSAY_ASSERT((op == MONEY_UNBOND) == (amount_s == NULL));
	ASSAY_ASSERT(!f->mint || op == MONEY_DEPOSIT);
	memset(&m, 0, sizeof(m));
	m.cmd = cmd;
	if (amount_s && parse_amount(&m, &amount, amount_s))
		return 2;
	if (!f->key) {
		cli_err("%s: needs --key FILE (the account that signs and pays the gas)", cmd);
		return 2;
	}
	rc = money_args(&m, f);
	if (rc)
		goto out;
	rc = money_sender(&m, f->key);
	if (rc)
		goto out;
	rc = money_connect(&m);
	if (rc)
		goto out;
	if (op == MONEY_DEPOSIT) {
		rc = do_deposit(&m, &amount, amount_s, f->mint);
	} else {
		evm_buf_init(&b, buf, sizeof(buf));
		rcpt_address_format(a, m.sender.key.address);
		if (op == MONEY_UNBOND)
			evm_abi_call_addr(&b, sigs[op], m.sender.key.address);
		else
			evm_abi_call_u256(&b, sigs[op], &amount);
		snprintf(what, sizeof(what), "%.*s(%s)", (int)(strchr(sigs[op], '(') - sigs[op]),
			 sigs[op], op == MONEY_UNBOND ? a : amount_s);
		rc = money_send_tx(&m, what, m.escrow, &b);
	}
	if (!rc)
		rc = print_account(&m, m.sender.key.address, m.last_block);
out:
	money_release(&m);
	ASSAY_ASSERT(rc >= 0 && rc <= 2);
	return rc;
}

int money_evm_balance(const char *cmd, const struct money_evm_flags *f, const char *address)
{
	uint8_t who[RCPT_ADDR_BYTES];
	struct rcpt_key key;
	struct money m;
	int rc;

	ASSAY_ASSERT(cmd && f && !f->mint);
	memset(&m, 0, sizeof(m));
	m.cmd = cmd;
	if (f->confirmations || f->timeout_s) {
		cli_err("%s: --%s does not apply (balance sends no transaction)", cmd,
			f->confirmations ? "confirmations" : "timeout-s");
		return 2;
	}
	if (address) {
		if (rcpt_address_parse(who, address) != RCPT_OK) {
			cli_err("%s: '%.80s' is not an address (0x and 40 hex digits, EIP-55 when "
				"mixed case)", cmd, address);
			return 2;
		}
	} else if (!f->key) {
		cli_err("%s: give an ADDRESS or --key FILE", cmd);
		return 2;
	}
	rc = money_args(&m, f);
	if (!rc && !address) {
		rc = money_load_key(&m, &key, f->key);
		if (!rc) {
			memcpy(who, key.address, RCPT_ADDR_BYTES);
			rcpt_key_wipe(&key);
		}
	}
	if (!rc)
		rc = money_connect(&m);
	if (!rc)
		rc = print_account(&m, who, EVM_BLOCK_LATEST);
	money_release(&m);
	ASSAY_ASSERT(rc >= 0 && rc <= 2);
	return rc;
}
