/*
 * cmd_chain.c: `assay chain deploy` (PROTOCOL.md section 7).
 *
 *   assay chain deploy --rpc URL --key FILE [--token ADDRESS] [parameters]
 *       {"chainId":N,"escrow":"0x...","token":"0x..."}
 *
 * Deploys AssayEscrow (and, without --token, the devnet DevToken first)
 * from the key's account with signed EIP-1559 transactions.  The creation
 * code is the committed build, chain-adapter/evm/artifacts/{AssayEscrow,DevToken}.bin, built
 * into the binary (client/embed.h): never read from the source tree at
 * run time.  The contract is the authority on its parameters: they are
 * checked here for form only, and the escrow's creation is estimated
 * before anything is sent, so that a refusal (its custom error printed)
 * costs nothing and leaves no token behind.
 *
 * Exit 0 deployed; 1 the node, the key or the contract refused (one line
 * on stderr); 2 unusable arguments.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assay_assert.h"
#include "cli.h"
#include "embed.h"
#include "evm.h"
#include "evm_rpc.h"
#include "receipts.h"

#include "banned.h"

static const char CHAIN_USAGE[] =
	"usage: assay chain deploy --rpc URL --key FILE [--token ADDRESS]\n"
	"                          [--referee ADDRESS] [--treasury ADDRESS]\n"
	"                          [--min-stake WEI] [--sample-bps N] [--slash-bps N]\n"
	"                          [--bounty-bps N] [--challenge-window-s N]\n"
	"                          [--referee-deadline-s N] [--unbonding-s N]\n"
	"                          [--confirmations N] [--timeout-s N]\n"
	"\n"
	"deploy  deploy the settlement contract AssayEscrow from KEY's account\n"
	"        through the JSON-RPC node at URL and print\n"
	"        {\"chainId\":N,\"escrow\":\"0x...\",\"token\":\"0x...\"}.  Without --token\n"
	"        it first deploys DevToken, the devnet token anyone may mint;\n"
	"        with it, ADDRESS must hold a contract (an ERC-20).  The bytecode\n"
	"        is the committed build (chain-adapter/evm/artifacts/), built in.\n"
	"        Parameters (decimal; docs/contract.md): --referee and --treasury\n"
	"        default to KEY's address; --min-stake 100000000000000000000,\n"
	"        --sample-bps 1000, --slash-bps 5000, --bounty-bps 2000,\n"
	"        --challenge-window-s 3600, --referee-deadline-s 600,\n"
	"        --unbonding-s 604800.  The contract refuses a zero address\n"
	"        (ZeroAddress), and (BadParameter) a min-stake, sample-bps or\n"
	"        slash-bps of 0, a bps above 10000, a zero window or deadline,\n"
	"        unbonding-s <= challenge-window-s + referee-deadline-s, unbonding-s\n"
	"        above a year, a window or deadline above 30 days: the refusal is\n"
	"        found before anything is sent and printed with its error.\n"
	"        --confirmations N (1 to 64, default 1): blocks each transaction\n"
	"        waits for; --timeout-s N (1 to 3600, default 120): each wait.\n"
	"exit: 0 deployed, 1 failed (node, key, contract), 2 unusable arguments.\n";

/* The constructor's parameters, in its order after token. */
enum { P_REFEREE, P_TREASURY, P_MIN_STAKE, P_SAMPLE, P_SLASH, P_BOUNTY, P_WINDOW,
       P_DEADLINE, P_UNBONDING, P_COUNT };

static const char *const PARAM_OPTS[P_COUNT] = {
	"referee", "treasury", "min-stake", "sample-bps", "slash-bps", "bounty-bps",
	"challenge-window-s", "referee-deadline-s", "unbonding-s",
};
static const char *const PARAM_DEFAULTS[P_COUNT] = {
	NULL, NULL, "100000000000000000000", "1000", "5000", "2000", "3600", "600", "604800",
};

enum { O_RPC = P_COUNT, O_KEY, O_TOKEN, O_CONFIRMATIONS, O_TIMEOUT, O_COUNT };

struct deploy {
	struct evm_rpc *rpc;
	struct evm_sender sender;
	int have_sender;
	uint64_t chain_id;
	int have_token;
	uint8_t token[RCPT_ADDR_BYTES];
	struct rcpt_u256 args[1 + P_COUNT];      /* token, then PARAM_OPTS */
	struct evm_send_opts opts;
	const char *abis[2];
};

/* The embedded artifact `name` (embed.h): the build embeds every one
 * named here and in client/money_evm.c. */
const struct embed_file *embed_evm_artifact(const char *name)
{
	const struct embed_file *f = NULL;

	for (size_t i = 0; i < evm_artifacts_count && !f; i++)
		if (strcmp(evm_artifacts[i].name, name) == 0)
			f = &evm_artifacts[i];
	ASSAY_ASSERT(f != NULL && f->data[f->len] == '\0');
	return f;
}

/* The creation code of `name` (its .bin: one line of hex) into b. */
static int put_initcode(struct evm_buf *b, const char *name)
{
	const struct embed_file *f = embed_evm_artifact(name);
	size_t n, digits;

	n = f->len;
	while (n && (f->data[n - 1] == '\n' || f->data[n - 1] == '\r'))
		n--;
	digits = n >= 2 && f->data[0] == '0' && f->data[1] == 'x' ? n - 2 : n;
	if (digits % 2 || digits / 2 > b->cap - b->len ||
	    rcpt_hex_digits_decode(b->data + b->len, digits / 2,
				   (const char *)f->data + (n - digits), digits) != RCPT_OK) {
		cli_err("chain deploy: the built-in %s is not hex of at most %zu bytes", name,
			b->cap - b->len);
		return -1;
	}
	b->len += digits / 2;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Arguments                                                            */

static int parse_small(unsigned long *out, const char *s, const char *opt, unsigned long max)
{
	struct rcpt_u256 u;
	uint64_t v;

	if (rcpt_u256_parse(&u, s) != RCPT_OK || evm_abi_word_u64(&v, &u) != RCPT_OK ||
	    v < 1 || v > max) {
		cli_err("chain deploy: --%s '%.32s' is not an integer from 1 to %lu", opt, s, max);
		return -1;
	}
	*out = (unsigned long)v;
	return 0;
}

/* Form only: addresses are addresses, numbers canonical uint256.  An
 * absent --referee or --treasury is left zero for use_key_default. */
static int parse_params(struct deploy *d, const struct cli_args *a)
{
	unsigned long conf = 1, timeout_s = 120;

	for (int p = 0; p < P_COUNT; p++) {
		const char *v = a->val[p] ? a->val[p] : PARAM_DEFAULTS[p];
		uint8_t addr[RCPT_ADDR_BYTES];
		if (p == P_REFEREE || p == P_TREASURY) {
			if (v && rcpt_address_parse(addr, v) != RCPT_OK) {
				cli_err("chain deploy: --%s '%.64s' is not an address (0x and 40 hex "
					"digits, EIP-55 when mixed case)", PARAM_OPTS[p], v);
				return -1;
			}
			if (v)
				evm_abi_word_from_addr(&d->args[1 + p], addr);
		} else if (rcpt_u256_parse(&d->args[1 + p], v) != RCPT_OK) {
			cli_err("chain deploy: --%s '%.80s' is not a decimal integer (digits only, "
				"no sign, no leading zero, below 2^256)", PARAM_OPTS[p], v);
			return -1;
		}
	}
	if (a->val[O_TOKEN] && rcpt_address_parse(d->token, a->val[O_TOKEN]) != RCPT_OK) {
		cli_err("chain deploy: --token '%.64s' is not an address (0x and 40 hex digits, "
			"EIP-55 when mixed case)", a->val[O_TOKEN]);
		return -1;
	}
	d->have_token = a->val[O_TOKEN] != NULL;
	if ((a->val[O_CONFIRMATIONS] &&
	     parse_small(&conf, a->val[O_CONFIRMATIONS], "confirmations", EVM_SEND_CONFIRMATIONS_MAX)) ||
	    (a->val[O_TIMEOUT] && parse_small(&timeout_s, a->val[O_TIMEOUT], "timeout-s", 3600)))
		return -1;
	d->opts.confirmations = (unsigned)conf;
	d->opts.wait_ms = (long)timeout_s * 1000L;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Deploying                                                            */

/* --referee and --treasury default to the key's address. */
static void use_key_default(struct deploy *d, const struct cli_args *a,
			    const struct rcpt_key *key)
{
	if (!a->val[P_REFEREE])
		evm_abi_word_from_addr(&d->args[1 + P_REFEREE], key->address);
	if (!a->val[P_TREASURY])
		evm_abi_word_from_addr(&d->args[1 + P_TREASURY], key->address);
}

static int rpc_fail(struct deploy *d, const char *what, enum evm_rpc_err rc)
{
	cli_err("chain deploy: %s: %s (%s)", what, evm_rpc_why(d->rpc), evm_rpc_errname(rc));
	return 1;
}

/* Sends a creation and checks the node's contract address against the
 * one the sender and nonce give. */
static int create(struct deploy *d, const char *what, const uint8_t *code, size_t len,
		  uint8_t addr[RCPT_ADDR_BYTES])
{
	struct evm_tx tx;
	struct evm_sent sent;
	enum evm_rpc_err rc;
	uint8_t want[RCPT_ADDR_BYTES];

	memset(&tx, 0, sizeof(tx));
	memset(&sent, 0, sizeof(sent));
	tx.chain_id = d->chain_id;
	tx.data = code;
	tx.data_len = len;
	rc = evm_send(d->rpc, &d->sender, &tx, &d->opts, &sent);
	if (rc) {
		evm_receipt_release(&sent.receipt);
		return rpc_fail(d, what, rc);
	}
	evm_create_address(want, d->sender.key.address, sent.nonce);
	if (!sent.receipt.has_contract || memcmp(sent.receipt.contract, want, RCPT_ADDR_BYTES) != 0) {
		evm_receipt_release(&sent.receipt);
		cli_err("chain deploy: %s: the node reports another contract address than "
			"the sender's nonce %llu gives", what, (unsigned long long)sent.nonce);
		return 1;
	}
	memcpy(addr, want, RCPT_ADDR_BYTES);
	evm_receipt_release(&sent.receipt);
	return 0;
}

/* AssayEscrow's creation code and constructor arguments into b. */
static int escrow_initcode(struct deploy *d, struct evm_buf *b)
{
	b->len = 0;
	if (put_initcode(b, "AssayEscrow.bin"))
		return -1;
	evm_abi_word_from_addr(&d->args[0], d->token);
	evm_abi_words(b, d->args, 1 + P_COUNT);
	if (b->overflow) {
		cli_err("chain deploy: AssayEscrow's creation code is over %u bytes",
			EVM_TX_DATA_BYTES_MAX);
		return -1;
	}
	return 0;
}

/* Estimates the escrow's creation: a constructor refusal shows here,
 * before anything is sent. */
static int precheck(struct deploy *d, struct evm_buf *b)
{
	struct evm_tx tx;
	char desc[EVM_RPC_WHY_BYTES];
	const uint8_t *data;
	size_t len;
	uint64_t gas, nonce;
	enum evm_rpc_err rc;

	rc = evm_rpc_nonce(d->rpc, &nonce, d->sender.key.address);
	if (rc)
		return rpc_fail(d, "reading the account's nonce", rc);
	/* Without --token, the token goes where the next creation goes. */
	if (!d->have_token)
		evm_create_address(d->token, d->sender.key.address, nonce);
	if (escrow_initcode(d, b))
		return 1;
	memset(&tx, 0, sizeof(tx));
	tx.data = b->data;
	tx.data_len = b->len;
	rc = evm_rpc_estimate_gas(d->rpc, &gas, d->sender.key.address, &tx);
	if (rc == EVM_RPC_ERR_REVERTED) {
		evm_rpc_revert_data(d->rpc, &data, &len);
		evm_revert_describe(desc, sizeof(desc), data, len, d->abis, 2);
		cli_err("chain deploy: the AssayEscrow constructor refuses these parameters: %s "
			"(nothing was sent; see assay chain deploy --help)", desc);
		return 1;
	}
	return rc ? rpc_fail(d, "estimating AssayEscrow's creation", rc) : 0;
}

/* The code at addr is not empty; for the escrow, token() is d->token. */
static int postcheck(struct deploy *d, const uint8_t escrow[RCPT_ADDR_BYTES])
{
	uint8_t call[EVM_SELECTOR_BYTES], *ret = NULL, got[RCPT_ADDR_BYTES];
	struct evm_buf b;
	struct rcpt_u256 w;
	size_t len;
	enum evm_rpc_err rc;
	int bad;

	evm_buf_init(&b, call, sizeof(call));
	evm_abi_call_none(&b, "token()");
	rc = evm_rpc_call(d->rpc, &ret, &len, NULL, escrow, call, b.len, EVM_BLOCK_LATEST);
	if (rc)
		return rpc_fail(d, "reading the new escrow's token()", rc);
	bad = evm_abi_words_exact(ret, len, 1) != RCPT_OK || evm_abi_word(&w, ret, len, 0) ||
	      evm_abi_word_addr(got, &w) || memcmp(got, d->token, RCPT_ADDR_BYTES) != 0;
	free(ret);
	if (bad) {
		cli_err("chain deploy: the new escrow's token() is not the token it was given");
		return 1;
	}
	return 0;
}

static int token_has_code(struct deploy *d)
{
	uint8_t *code = NULL;
	size_t len = 0;
	char addr[RCPT_ADDR_HEX_BYTES];
	enum evm_rpc_err rc;

	rc = evm_rpc_get_code(d->rpc, &code, &len, d->token, EVM_BLOCK_LATEST);
	free(code);
	if (rc)
		return rpc_fail(d, "reading the code at --token", rc);
	if (len == 0) {
		rcpt_address_format(addr, d->token);
		cli_err("chain deploy: --token %s holds no contract on chain %llu", addr,
			(unsigned long long)d->chain_id);
		return 1;
	}
	return 0;
}

static int deploy_all(struct deploy *d)
{
	static uint8_t code[EVM_TX_DATA_BYTES_MAX];
	char tok[RCPT_ADDR_HEX_BYTES], esc[RCPT_ADDR_HEX_BYTES];
	uint8_t escrow[RCPT_ADDR_BYTES], predicted[RCPT_ADDR_BYTES];
	struct evm_buf b;
	enum evm_rpc_err rc;

	evm_buf_init(&b, code, sizeof(code));
	rc = evm_rpc_chain_id(d->rpc, &d->chain_id);
	if (rc)
		return rpc_fail(d, "asking the node's chain id", rc);
	if (d->have_token && token_has_code(d))
		return 1;
	if (precheck(d, &b))
		return 1;
	if (!d->have_token) {
		memcpy(predicted, d->token, RCPT_ADDR_BYTES);
		b.len = 0;
		if (put_initcode(&b, "DevToken.bin") ||
		    create(d, "deploying DevToken", b.data, b.len, d->token))
			return 1;
		/* The token is where the estimate assumed, unless another
		 * sender from this key moved the nonce meanwhile: the escrow
		 * takes the token's real address either way. */
		if (memcmp(predicted, d->token, RCPT_ADDR_BYTES) != 0)
			cli_err("chain deploy: note: DevToken went to another address than "
				"estimated (the account sent meanwhile)");
		if (escrow_initcode(d, &b))
			return 1;
	}
	if (create(d, "deploying AssayEscrow", b.data, b.len, escrow) || postcheck(d, escrow))
		return 1;
	rcpt_address_format(tok, d->token);
	rcpt_address_format(esc, escrow);
	printf("{\"chainId\":%llu,\"escrow\":\"%s\",\"token\":\"%s\"}\n",
	       (unsigned long long)d->chain_id, esc, tok);
	return 0;
}

static int chain_deploy(int argc, char **argv)
{
	struct cli_opt opts[O_COUNT];
	struct cli_args a;
	struct deploy d;
	struct rcpt_key key;
	struct rcpt_diag diag = { "" };
	char why[EVM_RPC_WHY_BYTES];
	enum rcpt_err krc;
	int ret = 1;

	for (int p = 0; p < P_COUNT; p++)
		opts[p] = (struct cli_opt){ PARAM_OPTS[p], 0, 0 };
	opts[O_RPC] = (struct cli_opt){ "rpc", 0, 1 };
	opts[O_KEY] = (struct cli_opt){ "key", 0, 1 };
	opts[O_TOKEN] = (struct cli_opt){ "token", 0, 0 };
	opts[O_CONFIRMATIONS] = (struct cli_opt){ "confirmations", 0, 0 };
	opts[O_TIMEOUT] = (struct cli_opt){ "timeout-s", 0, 0 };
	if (cli_parse(&a, argc, argv, opts, O_COUNT, 0, 0))
		return 2;
	if (a.help) {
		fputs(CHAIN_USAGE, stdout);
		return 0;
	}
	memset(&d, 0, sizeof(d));
	d.abis[0] = (const char *)embed_evm_artifact("AssayEscrow.json")->data;
	d.abis[1] = (const char *)embed_evm_artifact("DevToken.json")->data;
	d.opts.abis = d.abis;
	d.opts.nabis = 2;
	if (parse_params(&d, &a))
		return 2;
	if (evm_rpc_open(&d.rpc, why, sizeof(why), a.val[O_RPC], 0)) {
		cli_err("chain deploy: --rpc: %s", why[0] ? why : "could not open a client");
		return 2;
	}
	krc = rcpt_key_load(&key, &diag, a.val[O_KEY]);
	if (krc) {
		cli_err("chain deploy: could not load key: %s",
			diag.msg[0] ? diag.msg : rcpt_strerror(krc));
		goto out;
	}
	use_key_default(&d, &a, &key);
	if (evm_sender_init(&d.sender, &key) != 0) {
		cli_err("chain deploy: could not set up the sender");
	} else {
		d.have_sender = 1;
		ret = deploy_all(&d);
	}
	rcpt_key_wipe(&key);
out:
	if (d.have_sender)
		evm_sender_release(&d.sender);
	evm_rpc_free(d.rpc);
	return ret;
}

int cmd_chain(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(CHAIN_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "deploy") == 0)
		return chain_deploy(argc - 1, argv + 1);
	cli_err("chain: unknown subcommand '%.32s' (deploy)", argv[1]);
	return 2;
}
