/*
 * evm.h: the Ethereum wire formats Assay's EVM backend speaks, as pure
 * functions over buffers (no I/O, no clock, no allocation): RLP,
 * EIP-1559 (type 2) transactions, CREATE addresses, the contract ABI of
 * AssayEscrow and DevToken calls, return data, event logs and revert
 * data.
 *
 * Part of libassay-receipts: these are formats like the EIP-712
 * statements beside them, checked against ethers.js vectors
 * (tests/vectors/evm_*.json).  The JSON-RPC client that moves these
 * bytes is chain-adapter/evm_rpc.h.
 *
 * Writers append to a caller's `struct evm_buf` and never past its
 * capacity: a write that does not fit sets the buffer's overflow flag
 * and every later write is a no-op, so a caller checks once at the end
 * (the functions that return an enum rcpt_err report it as
 * RCPT_ERR_TOO_LARGE).  Decoders read bytes from the chain or a node:
 * they never assert on them and refuse truncated or non-canonical input
 * with RCPT_ERR_ABI.  Thread-safe: no state between calls.
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
#define EVM_SELECTOR_BYTES      4
#define EVM_WORD_BYTES          32

/* ------------------------------------------------------------------ */
/* Output buffers                                                      */

/* A caller-owned output buffer: data[0..len) written, cap bytes. */
struct evm_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int overflow;   /* set once a write did not fit; every later write is a no-op */
};

/* data may be NULL only with cap 0 (every write then overflows). */
void evm_buf_init(struct evm_buf *b, uint8_t *data, size_t cap);
/* Appends len raw bytes (data may be NULL when len is 0). */
void evm_buf_put(struct evm_buf *b, const uint8_t *data, size_t len);

/* ------------------------------------------------------------------ */
/* RLP (Ethereum Yellow Paper, appendix B)                             */

/* RLP of a byte string (single byte < 0x80 as itself, else length prefix). */
void evm_rlp_bytes(struct evm_buf *b, const uint8_t *data, size_t len);
/* RLP of an unsigned integer: big-endian without leading zeros (0 -> 0x80). */
void evm_rlp_u64(struct evm_buf *b, uint64_t v);
void evm_rlp_u256(struct evm_buf *b, const struct rcpt_u256 *v);
/* A list: evm_rlp_list_begin returns a mark; evm_rlp_list_end writes the
 * list header for everything written since (moving it into place).
 * Lists nest: end them in the reverse order of their begins. */
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

/* The unsigned serialisation 0x02 || rlp([chainId, nonce,
 * maxPriorityFeePerGas, maxFeePerGas, gasLimit, to, value, data,
 * accessList]) appended to b.  RCPT_ERR_ARG (NULL, data NULL with a
 * length), RCPT_ERR_TOO_LARGE (data over EVM_TX_DATA_BYTES_MAX, or b
 * overflowed). */
RCPT_WUR enum rcpt_err evm_tx_encode_unsigned(struct evm_buf *b,
					      const struct evm_tx *tx);
/* keccak256 of the unsigned serialisation, streamed (no buffer).
 * Errors as evm_tx_encode_unsigned but overflow. */
RCPT_WUR enum rcpt_err evm_tx_signing_hash(uint8_t out[RCPT_HASH_BYTES],
					   const struct evm_tx *tx);
/* Signs and serialises: raw = 0x02 || rlp([... 9 fields, yParity, r, s])
 * with r and s as minimal integers; hash = keccak256(raw), the
 * transaction hash.  The signature is RFC 6979, low-S (rcpt_sign_digest)
 * and is checked to recover to key->address before it is used.
 * raw_cap at least EVM_TX_RAW_BYTES_MAX is always enough.  Errors as
 * evm_tx_encode_unsigned, plus those of rcpt_sign_digest. */
RCPT_WUR enum rcpt_err evm_tx_sign(uint8_t *raw, size_t raw_cap, size_t *raw_len,
				   uint8_t hash[RCPT_HASH_BYTES],
				   const struct evm_tx *tx, const struct rcpt_key *key);
/* The address a creation from `sender` at `nonce` deploys to:
 * keccak256(rlp([sender, nonce]))[12..32]. */
void evm_create_address(uint8_t out[RCPT_ADDR_BYTES],
			const uint8_t sender[RCPT_ADDR_BYTES], uint64_t nonce);

/* ------------------------------------------------------------------ */
/* Contract ABI (Solidity ABI spec v2): encoding                        */

/* The 4-byte selector: keccak256(signature)[0..4], signature as
 * "openJob((address,address,string,bytes32,string,bytes32,uint64,uint256,uint64,uint64),bytes)". */
void evm_abi_selector(uint8_t out[EVM_SELECTOR_BYTES], const char *signature);
/* keccak256 of an event signature: topic 0 of its logs. */
void evm_abi_event_topic(uint8_t out[RCPT_HASH_BYTES], const char *signature);

/* The canonical signatures of the calls below (AssayEscrow's ABI). */
#define EVM_SIG_OPEN_JOB \
	"openJob((address,address,string,bytes32,string,bytes32,uint64,uint256,uint64,uint64),bytes)"
#define EVM_SIG_SUBMIT_RECEIPT \
	"submitReceipt((bytes32,bytes32,bytes32,uint64,bytes32,uint64,uint256,string,uint64,uint64,address),bytes)"
#define EVM_SIG_ATTEST \
	"attest((bytes32,bytes32,uint8,address),bytes," \
	"(bytes32,bytes32,bytes32,uint64,bytes32,uint64,uint256,string,uint64,uint64,address))"

/* Building blocks, for calls without a helper below: the selector of
 * `signature`, and static words. */
void evm_abi_put_selector(struct evm_buf *b, const char *signature);
void evm_abi_put_word(struct evm_buf *b, const uint8_t word[EVM_WORD_BYTES]);
void evm_abi_put_u256(struct evm_buf *b, const struct rcpt_u256 *v);
void evm_abi_put_u64(struct evm_buf *b, uint64_t v);
void evm_abi_put_addr(struct evm_buf *b, const uint8_t addr[RCPT_ADDR_BYTES]);

/* Calldata of Assay's contract calls: selector || abi.encode(args),
 * appended to b.  The statement's strings must be NUL-terminated inside
 * their arrays (as rcpt_*_parse leaves them); their content is not
 * checked here (the contract hashes what it is given).  RCPT_ERR_ARG on
 * NULL or an unterminated string, RCPT_ERR_TOO_LARGE when b overflowed
 * (now or before). */
RCPT_WUR enum rcpt_err evm_abi_call_open_job(struct evm_buf *b,
					     const struct rcpt_job *job,
					     const uint8_t sig[RCPT_SIG_BYTES]);
RCPT_WUR enum rcpt_err evm_abi_call_submit_receipt(struct evm_buf *b,
						   const struct rcpt_receipt *r,
						   const uint8_t sig[RCPT_SIG_BYTES]);
/* attest(Attestation a, bytes sig, Receipt r) */
RCPT_WUR enum rcpt_err evm_abi_call_attest(struct evm_buf *b,
					   const struct rcpt_attestation *a,
					   const uint8_t sig[RCPT_SIG_BYTES],
					   const struct rcpt_receipt *r);
/* f(): token, eip712Domain, minStake, ... */
void evm_abi_call_none(struct evm_buf *b, const char *signature);
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

/* ------------------------------------------------------------------ */
/* Contract ABI: decoding return data, log data and revert data         */

/* RCPT_OK when data is exactly n static words (len == 32 n): the
 * canonical return of a function returning n static values.  Else
 * RCPT_ERR_ABI. */
RCPT_WUR enum rcpt_err evm_abi_words_exact(const uint8_t *data, size_t len, size_t n);
/* Word i of data (RCPT_ERR_ABI when data is shorter than 32 * (i + 1)). */
RCPT_WUR enum rcpt_err evm_abi_word(struct rcpt_u256 *out, const uint8_t *data,
				    size_t len, size_t i);
/* A word that must hold an address (12 leading zero bytes), a uint64, a
 * uint8 or a bool (0 or 1): RCPT_ERR_ABI otherwise. */
RCPT_WUR enum rcpt_err evm_abi_word_addr(uint8_t out[RCPT_ADDR_BYTES],
					 const struct rcpt_u256 *w);
RCPT_WUR enum rcpt_err evm_abi_word_u64(uint64_t *out, const struct rcpt_u256 *w);
RCPT_WUR enum rcpt_err evm_abi_word_u8(uint8_t *out, const struct rcpt_u256 *w);
RCPT_WUR enum rcpt_err evm_abi_word_bool(int *out, const struct rcpt_u256 *w);
/* A dynamic `bytes` or `string` whose offset is head word i of data
 * (offsets count from data[0]).  Refused (RCPT_ERR_ABI): an offset that
 * is not a multiple of 32, points inside the head (below 32 * (i + 1))
 * or past the end; a length that runs past the end; padding after the
 * content that is not zero.  On success *out points into data (no
 * copy) and *out_len is the length. */
RCPT_WUR enum rcpt_err evm_abi_dyn_bytes(const uint8_t **out, size_t *out_len,
					 const uint8_t *data, size_t len, size_t i);

/* What a reverted call returned, classified (the data stays the
 * caller's: the pointers point into it). */
enum evm_revert_kind {
	EVM_REVERT_EMPTY = 0,   /* no data: require(false), out of gas, ... */
	EVM_REVERT_ERROR,       /* Error(string): message */
	EVM_REVERT_PANIC,       /* Panic(uint256): code (0x11 overflow, 0x12 division, ...) */
	EVM_REVERT_CUSTOM,      /* a custom error: selector and its argument words */
};
struct evm_revert {
	enum evm_revert_kind kind;
	uint8_t selector[EVM_SELECTOR_BYTES];   /* all but EMPTY */
	const uint8_t *message;                 /* ERROR: the string, not NUL-terminated */
	size_t message_len;
	struct rcpt_u256 panic_code;            /* PANIC */
	const uint8_t *args;                    /* CUSTOM: the data after the selector */
	size_t args_len;
};
/* Classifies revert data.  RCPT_ERR_ABI for 1 to 3 bytes, and for
 * Error(string) or Panic(uint256) data that is not exactly their
 * canonical encoding. */
RCPT_WUR enum rcpt_err evm_revert_parse(struct evm_revert *out,
					const uint8_t *data, size_t len);

#endif /* ASSAY_EVM_H */
