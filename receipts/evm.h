/*
 * evm.h: the Ethereum wire formats Assay's EVM backend speaks, as pure
 * functions over buffers (no I/O, no clock, no allocation unless named):
 * RLP, EIP-1559 (type 2) transactions, the contract ABI, event logs.
 *
 * Part of libassay-receipts: these are formats like the EIP-712
 * statements beside them, checked against ethers.js vectors
 * (tests/vectors/evm_*.json).  The JSON-RPC client that moves these bytes
 * lives in chain-adapter/evm/.
 *
 * Every function that writes into a caller's buffer takes its capacity
 * and fails with RCPT_ERR_TOO_LARGE rather than write past it; every
 * decoder refuses non-canonical or truncated input (RCPT_ERR_ABI, a new
 * code appended to enum rcpt_err after RCPT_ERR_OUTPUT_FILE).
 */
#ifndef ASSAY_EVM_H
#define ASSAY_EVM_H

#include <stddef.h>
#include <stdint.h>

#include "receipts.h"

/* Upper bounds that every caller can size buffers with. */
#define EVM_TX_DATA_BYTES_MAX   (128u * 1024u)   /* calldata / initcode of one tx */
#define EVM_TX_RAW_BYTES_MAX    (EVM_TX_DATA_BYTES_MAX + 512u)
#define EVM_ABI_WORDS_MAX       4096u            /* one encoded call, in 32-byte words */

/* ------------------------------------------------------------------ */
/* RLP (Ethereum Yellow Paper, appendix B)                             */

/* A growable-by-caller output buffer: data[0..len) written, cap bytes. */
struct evm_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int overflow;   /* set once a write did not fit; every later write is a no-op */
};

void evm_buf_init(struct evm_buf *b, uint8_t *data, size_t cap);
/* RLP of a byte string (single byte < 0x80 as itself, else length prefix). */
void evm_rlp_bytes(struct evm_buf *b, const uint8_t *data, size_t len);
/* RLP of an unsigned integer: big-endian without leading zeros (0 -> 0x80). */
void evm_rlp_u64(struct evm_buf *b, uint64_t v);
void evm_rlp_u256(struct evm_buf *b, const struct rcpt_u256 *v);
/* A list: evm_rlp_list_begin returns a mark; evm_rlp_list_end writes the
 * list header for everything written since (moving it into place). */
size_t evm_rlp_list_begin(struct evm_buf *b);
void evm_rlp_list_end(struct evm_buf *b, size_t mark);

/* ------------------------------------------------------------------ */
/* EIP-1559 transactions                                                */

struct evm_tx {
	uint64_t chain_id;
	uint64_t nonce;
	struct rcpt_u256 max_priority_fee_per_gas;
	struct rcpt_u256 max_fee_per_gas;
	uint64_t gas_limit;
	int has_to;                          /* 0: contract creation */
	uint8_t to[RCPT_ADDR_BYTES];
	struct rcpt_u256 value;              /* Assay sends 0 always; kept for the format */
	const uint8_t *data;                 /* calldata or initcode, may be NULL when data_len 0 */
	size_t data_len;                     /* at most EVM_TX_DATA_BYTES_MAX */
	/* access list: always empty */
};

/* keccak256(0x02 || rlp([chainId, nonce, maxPriorityFeePerGas,
 * maxFeePerGas, gasLimit, to, value, data, accessList])). */
RCPT_WUR enum rcpt_err evm_tx_signing_hash(uint8_t out[RCPT_HASH_BYTES],
					   const struct evm_tx *tx);
/* Signs and serialises: raw = 0x02 || rlp([... 9 fields, yParity, r, s]);
 * hash = keccak256(raw), the transaction hash.  raw_cap at least
 * EVM_TX_RAW_BYTES_MAX is always enough. */
RCPT_WUR enum rcpt_err evm_tx_sign(uint8_t *raw, size_t raw_cap, size_t *raw_len,
				   uint8_t hash[RCPT_HASH_BYTES],
				   const struct evm_tx *tx, const struct rcpt_key *key);
/* The address a creation from `sender` at `nonce` deploys to:
 * keccak256(rlp([sender, nonce]))[12..32]. */
void evm_create_address(uint8_t out[RCPT_ADDR_BYTES],
			const uint8_t sender[RCPT_ADDR_BYTES], uint64_t nonce);

/* ------------------------------------------------------------------ */
/* Contract ABI (Solidity ABI spec v2)                                  */

/* The 4-byte selector: keccak256(signature)[0..4], signature as
 * "openJob((address,address,string,bytes32,string,bytes32,uint64,uint256,uint64,uint64),bytes)". */
void evm_abi_selector(uint8_t out[4], const char *signature);
/* keccak256 of an event signature: topic 0 of its logs. */
void evm_abi_event_topic(uint8_t out[RCPT_HASH_BYTES], const char *signature);

/* Calldata of Assay's contract calls: selector || abi.encode(args).
 * Each writes into b (overflow flagged in b). */
void evm_abi_call_open_job(struct evm_buf *b, const struct rcpt_job *job,
			   const uint8_t sig[RCPT_SIG_BYTES]);
void evm_abi_call_submit_receipt(struct evm_buf *b, const struct rcpt_receipt *r,
				 const uint8_t sig[RCPT_SIG_BYTES]);
/* f(bytes32): settle, jobState, ... */
void evm_abi_call_b32(struct evm_buf *b, const char *signature,
		      const uint8_t arg[RCPT_HASH_BYTES]);
/* f(uint256): deposit, withdraw, stake, unstake */
void evm_abi_call_u256(struct evm_buf *b, const char *signature,
		       const struct rcpt_u256 *arg);
/* f(address): available, bonded, balanceOf, ... */
void evm_abi_call_addr(struct evm_buf *b, const char *signature,
		       const uint8_t arg[RCPT_ADDR_BYTES]);
/* f(address,uint256): approve, transfer, mint */
void evm_abi_call_addr_u256(struct evm_buf *b, const char *signature,
			    const uint8_t addr[RCPT_ADDR_BYTES],
			    const struct rcpt_u256 *amount);
/* Constructor arguments appended after initcode: n static 32-byte words. */
void evm_abi_words(struct evm_buf *b, const struct rcpt_u256 *words, size_t n);
void evm_abi_word_from_addr(struct rcpt_u256 *out, const uint8_t addr[RCPT_ADDR_BYTES]);

/* Decoding return data and log data: word i of data (RCPT_ERR_ABI
 * when data is shorter than 32 * (i + 1)). */
RCPT_WUR enum rcpt_err evm_abi_word(struct rcpt_u256 *out, const uint8_t *data,
				    size_t len, size_t i);
/* A word that must hold an address (12 leading zero bytes), a uint64 or
 * a bool (0 or 1): RCPT_ERR_ABI otherwise. */
RCPT_WUR enum rcpt_err evm_abi_word_addr(uint8_t out[RCPT_ADDR_BYTES],
					 const struct rcpt_u256 *w);
RCPT_WUR enum rcpt_err evm_abi_word_u64(uint64_t *out, const struct rcpt_u256 *w);

#endif /* ASSAY_EVM_H */
