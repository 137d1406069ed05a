/*
 * money_evm_internal.h: what the client's EVM commands share (prefix
 * money_), private to client/: money_evm.c (the money commands) and
 * statement_evm.c (the statement commands: escrow open, receipt,
 * attest, settle, job).  money_evm.c defines every function here.
 *
 * Invariants of a struct money once money_args and money_connect have
 * returned 0: rpc is a client for a node whose chain id is chain_id;
 * escrow holds code and its token() is token (and, with --chain, both
 * the chain id and the token are the file's); the sender, when
 * have_sender, holds the key and nothing else does (money_release wipes
 * it).  Every function that can fail prints one line naming m->cmd and
 * returns the exit status (1 or 2, see each); 0 on success.
 */
#ifndef ASSAY_MONEY_EVM_INTERNAL_H
#define ASSAY_MONEY_EVM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "evm.h"
#include "evm_rpc.h"
#include "money_evm.h"
#include "receipts.h"

/* A transaction's description in messages: a call and a uint256 or an id. */
#define MONEY_WHAT_BYTES 192
/* Calldata of the one- and two-word calls: a selector and two words. */
#define MONEY_CALL_BYTES (EVM_SELECTOR_BYTES + 2 * EVM_WORD_BYTES)
/* The most static words one view returns here (jobInfo's ten). */
#define MONEY_WORDS_MAX 10u

/* The state of one command on the EVM (memset to 0, then cmd set). */
struct money {
	const char *cmd;                 /* for messages: "deposit", "escrow open" */
	struct evm_rpc *rpc;
	uint64_t chain_id;
	uint8_t escrow[RCPT_ADDR_BYTES];
	uint8_t token[RCPT_ADDR_BYTES];
	int have_file;                   /* --chain: its chain id and token must hold */
	uint64_t file_chain_id;
	uint8_t file_token[RCPT_ADDR_BYTES];
	struct evm_sender sender;
	int have_sender;
	struct evm_send_opts opts;
	const char *abis[2];
	uint64_t last_block;             /* the block of the last transaction sent */
};

/* Everything in f but the key, checked for form; the client opened (no
 * I/O yet).  0, or 2.  f->rpc and exactly one of f->escrow_address and
 * f->chain are given (money_backend). */
int money_args(struct money *m, const struct money_evm_flags *f);
/* The key file through rcpt_key_load (mode 0600 or refused).  0 or 2;
 * the caller wipes *key (rcpt_key_wipe) after a 0. */
int money_load_key(const struct money *m, struct rcpt_key *key, const char *path);
/* The key file at path as the sender of every transaction (the key is
 * wiped here; the sender by money_release).  0, 1 or 2. */
int money_sender(struct money *m, const char *path);
/* The node's chain, the escrow's code and token(), against --chain.
 * 0 or 1. */
int money_connect(struct money *m);
/* Frees the client and wipes the sender; idempotent. */
void money_release(struct money *m);
/* One line for a failed call: what, then the client's why.  Returns 1. */
int money_rpc_fail(const struct money *m, const char *what, enum evm_rpc_err rc);
/* eth_call of call at `to` at `block`: exactly n (1 to MONEY_WORDS_MAX)
 * static words into out.  0 or 1. */
int money_call_words(struct money *m, struct rcpt_u256 *out, size_t n,
		     const uint8_t to[RCPT_ADDR_BYTES], const struct evm_buf *call,
		     uint64_t block, const char *what);
/* sig(who) at `to` at `block`: exactly n words.  0 or 1. */
int money_call_addr(struct money *m, struct rcpt_u256 *out, size_t n,
		    const uint8_t to[RCPT_ADDR_BYTES], const char *sig,
		    const uint8_t who[RCPT_ADDR_BYTES], uint64_t block);
/* Prints o (may be NULL: out of memory) as one compact JSON line on
 * stdout and releases it.  0 or 1. */
int money_print(const struct money *m, json_t *o);
/* One transaction from the sender's account to `to`, estimated first
 * (a revert there sends nothing) and waited for; its hash, gas and
 * block on stderr, the block in m->last_block.  0, or 1 (a revert
 * named by its custom error). */
int money_send_tx(struct money *m, const char *what, const uint8_t to[RCPT_ADDR_BYTES],
		  const struct evm_buf *call);

#endif /* ASSAY_MONEY_EVM_INTERNAL_H */
