/*
 * money_evm.h: the client's money commands on the EVM backend (prefix
 * money_): `assay deposit`, `assay balance` and `assay escrow
 * balance|stake|unstake|withdraw|unbond` against an AssayEscrow contract
 * (PROTOCOL.md section 7) through a JSON-RPC node, each transaction
 * signed by the caller's own key (chain-adapter/evm_rpc.h: evm_send).
 * The same commands' HTTP form, against assay-escrow, stays in
 * cmd_job.c and cmd_escrow.c; the flags choose (money_backend).
 *
 * Contract of every money_evm_* function, as for every assay command:
 *   - success: one JSON line on stdout, the account in the shape of the
 *     HTTP form's Balance ({"address","available","stake","unbonding",
 *     "nextRelease"}) plus what only the chain has ("wallet", "chainId",
 *     "escrow", "token", "block"); each transaction sent is one line on
 *     stderr with its hash and the gas it used;
 *   - a revert: one line on stderr naming the contract's custom error
 *     (`Insufficient()`), exit 1; an unreachable node, a node on another
 *     chain or an address that is not an escrow: one line, exit 1;
 *   - unusable arguments (an amount, address, chain file, key, URL or
 *     number of bad form, a key file others may read): one line, exit 2,
 *     nothing sent.
 *
 * Secrets: the key is read by rcpt_key_load (mode 0600 or refused) into
 * a struct evm_sender that is released (wiped) on every path; no message
 * quotes a key, and the node is named by scheme, host and port only.
 */
#ifndef ASSAY_MONEY_EVM_H
#define ASSAY_MONEY_EVM_H

/* The options that concern the EVM backend, as given (NULL when absent;
 * the caller's parser owns the strings). */
struct money_evm_flags {
	const char *rpc;              /* --rpc URL: the JSON-RPC node */
	const char *escrow_address;   /* --escrow-address ADDRESS: the AssayEscrow */
	const char *chain;            /* --chain FILE: what `assay chain deploy` printed */
	const char *key;              /* --key FILE */
	const char *confirmations;    /* --confirmations N (transactions only) */
	const char *timeout_s;        /* --timeout-s N (transactions only) */
	int mint;                     /* --mint (deposit only): DevToken's open mint first */
	/* The statement commands (money_evm_statement) only: */
	const char *sig;              /* --sig SIG: the statement signed elsewhere */
	const char *relayer;          /* --relayer FILE: sends the transaction instead of --key */
	const char *receipt;          /* --receipt FILE (attest): the receipt attested */
};

enum money_backend_kind {
	MONEY_BACKEND_BAD = -1,       /* refused; the reason is printed (exit 2) */
	MONEY_BACKEND_HTTP = 0,       /* assay-escrow at http_flag's URL */
	MONEY_BACKEND_EVM = 1,        /* the contract, through --rpc */
};

/*
 * Which backend the flags select.  http_flag names the HTTP form's URL
 * option ("--escrow" for deposit and balance, "--url" for assay escrow)
 * and http_given says whether it was given.  Any of --rpc,
 * --escrow-address, --chain, --confirmations, --timeout-s, --mint,
 * --relayer and --receipt selects the EVM (--sig is both backends'); given with http_flag they are refused, and so is an
 * EVM selection without --rpc or without exactly one of
 * --escrow-address and --chain.  Neither backend named is HTTP (the
 * caller's own default or error applies).  cmd names the command in the
 * messages.  Never NULL arguments.
 */
enum money_backend_kind money_backend(const char *cmd, const char *http_flag, int http_given,
				      const struct money_evm_flags *f);

/* What a transaction command does. */
enum money_op {
	MONEY_DEPOSIT,     /* [mint,] approve if the allowance is short, deposit(amount) */
	MONEY_STAKE,       /* stake(amount): available -> bonded */
	MONEY_UNSTAKE,     /* unstake(amount): bonded -> unbonding */
	MONEY_WITHDRAW,    /* withdraw(amount): available -> the wallet */
	MONEY_UNBOND,      /* releaseUnbonded(key's address): matured unbonding -> available */
};

/*
 * Sends op's transactions from f->key's account (required), then prints
 * the account as money_evm_balance does, read at the block of the last
 * transaction.  amount is a non-zero canonical uint256 decimal (NULL for
 * MONEY_UNBOND, required otherwise); f->mint only with MONEY_DEPOSIT.
 * Returns the exit status: 0, 1 or 2 (see above).
 */
int money_evm_send(const char *cmd, const struct money_evm_flags *f, enum money_op op,
		   const char *amount);

/*
 * Prints the account of address (an address argument, or NULL for
 * f->key's address: one of them is required), every value read at one
 * block.  Sends nothing.  Returns the exit status: 0, 1 or 2.
 */
int money_evm_balance(const char *cmd, const struct money_evm_flags *f, const char *address);

/* What a statement command does (`assay escrow SUB` on the EVM). */
enum money_stmt_op {
	MONEY_OPEN,        /* openJob(spec, sig): locks maxPrice */
	MONEY_RECEIPT,     /* submitReceipt(r, sig): the challenge window starts */
	MONEY_ATTEST,      /* attest(a, sig, r): r from f->receipt */
	MONEY_SETTLE,      /* settle(job): paid after the window, refunded after the deadline */
	MONEY_JOB,         /* nothing sent: jobState(job) and jobInfo(job) */
};

/*
 * The statement commands on the contract (client/statement_evm.c).
 * id is the job id argument (NULL for MONEY_OPEN, required otherwise);
 * file is the statement file (JOB.json, RECEIPT.json, ATTESTATION.json;
 * NULL for MONEY_SETTLE and MONEY_JOB).
 *
 * Who signs and who sends (the contract lets any account relay a signed
 * statement): the statement's signature is f->sig, which must recover
 * the statement's signer (customer, provider, validator), or else is
 * made with f->key, which must be that signer.  The transaction is sent
 * by f->relayer's account when given, else by f->key's; so --key alone
 * signs and sends, --key with --relayer signs and has another account
 * send, --sig with --key or --relayer relays a signature made
 * elsewhere.  settle is sent by f->key's account.  Every key file goes
 * through rcpt_key_load and is wiped.
 *
 * Prints the job on stdout, one JSON line read at one block (the
 * transaction's, or the latest for MONEY_JOB):
 * {"job","state","customer","provider","maxPrice","price","deadline",
 *  "openedAt","windowEnd","openDisputes","receipt","chainId","escrow","block"}
 * with state one of open, receipted, disputed, paid, refunded.  Returns
 * the exit status: 0, 1 (a revert by its custom error, the node, an
 * unknown job) or 2 (unusable arguments, a signature of another signer;
 * nothing sent).
 */
int money_evm_statement(const char *cmd, const struct money_evm_flags *f,
			enum money_stmt_op op, const char *id, const char *file);

/* The usage lines of the EVM flags, for the commands' --help. */
extern const char MONEY_EVM_USAGE[];

#endif /* ASSAY_MONEY_EVM_H */
