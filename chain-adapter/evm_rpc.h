/*
 * evm_rpc.h: a JSON-RPC 2.0 client for an Ethereum node, and the
 * sending of signed EIP-1559 transactions through it (private to
 * chain-adapter/ and its users: the EVM backend, `assay chain deploy`).
 *
 * The wire formats (RLP, transactions, ABI) are receipts/evm.h; this
 * file moves their bytes over HTTP with libcurl and parses the node's
 * answers with jansson.  Everything is bounded: the URL's length, every
 * answer's size, every request's time, every value parsed out of an
 * answer, every wait and every retry (the limits below).
 *
 * Threads: a `struct evm_rpc` belongs to one thread at a time (it holds
 * one libcurl handle and the last error).  A `struct evm_sender` may be
 * shared: its nonce counter is behind a mutex, so that transactions
 * sent at once from one key get distinct nonces.
 *
 * Secrets: a key signs and is never copied out of its struct evm_sender;
 * error messages name the node by scheme, host and port only (an RPC
 * URL's path or user part often carries an API key) and never quote a
 * request body.
 */
#ifndef ASSAY_EVM_RPC_H
#define ASSAY_EVM_RPC_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "evm.h"
#include "receipts.h"

#if defined(__GNUC__)
#define EVM_RPC_WUR __attribute__((warn_unused_result))
#else
#define EVM_RPC_WUR
#endif

/* ------------------------------------------------------------------ */
/* Limits (each with its reason)                                        */

/* An RPC URL: scheme, host, port, and a provider's path with its key. */
#define EVM_RPC_URL_BYTES_MAX 512u
/* One answer: the largest we ask for is eth_getLogs over a bounded block
 * range or eth_getCode (EIP-170 caps code at 24 KiB); 8 MiB is ample
 * and caps the parser's work. */
#define EVM_RPC_RESPONSE_BYTES_MAX (8u * 1024u * 1024u)
/* A node on loopback answers in milliseconds, a hosted one in well
 * under a second; ten seconds allows for a busy node. */
#define EVM_RPC_TIMEOUT_MS_DEFAULT 10000L
#define EVM_RPC_TIMEOUT_MS_MAX 300000L
#define EVM_RPC_CONNECT_TIMEOUT_MS 5000L
/* The last error: method, node, and the node's own message. */
#define EVM_RPC_WHY_BYTES 512
/* How much of a node's error message is quoted (it is the node's text). */
#define EVM_RPC_NODE_MESSAGE_BYTES 200
/* Revert data kept from an error: Error(string) with a long message,
 * or a custom error with a few arguments. */
#define EVM_RPC_REVERT_BYTES_MAX 4096u
/* eth_call return data and eth_getCode answers. */
#define EVM_RPC_RETURN_BYTES_MAX (256u * 1024u)
/* Logs of one eth_getLogs answer or one receipt, and one log's data. */
#define EVM_RPC_LOGS_MAX 10000u
#define EVM_RPC_LOG_DATA_BYTES_MAX (64u * 1024u)
/* topic0 alternatives in one eth_getLogs filter: every event of a
 * contract (AssayEscrow declares 12) with room to spare. */
#define EVM_RPC_FILTER_TOPICS_MAX 32u
/* Waiting for a receipt and its confirmations: two minutes covers
 * several blocks of any chain Assay targets; an hour at most. */
#define EVM_SEND_WAIT_MS_DEFAULT 120000L
#define EVM_SEND_WAIT_MS_MAX 3600000L
#define EVM_SEND_POLL_MS_DEFAULT 200L
#define EVM_SEND_POLL_MS_MIN 10L
#define EVM_SEND_POLL_MS_MAX 60000L
#define EVM_SEND_CONFIRMATIONS_MAX 64u
/* "nonce too low": resynchronise from the node and sign again, this
 * many times at most (another process sending from the same key). */
#define EVM_SEND_NONCE_RETRIES 3
/* Gas: the estimate plus 20 % by default (a state change between the
 * estimate and the block must not run the transaction out of gas);
 * never above the latest block's gas limit. */
#define EVM_SEND_GAS_MARGIN_BPS_DEFAULT 12000u
#define EVM_SEND_GAS_MARGIN_BPS_MAX 30000u
/* Fee bumps.  A replacement raises both fees by an eighth (12.5 %):
 * geth's pool refuses a replacement that raises either fee by less than
 * 10 %, anvil's one that does not raise them; an eighth clears both and
 * is exact in integers.  Eight bumps at most take the fees to 2.6 times
 * the first: a transaction still stuck then has a cap that is wrong,
 * which is the operator's to decide; the bound also bounds the hashes
 * polled for a receipt (one a bump, plus the first). */
#define EVM_SEND_BUMP_SHIFT 3
#define EVM_SEND_BUMPS_DEFAULT 3u
#define EVM_SEND_BUMPS_MAX 8u

/* ------------------------------------------------------------------ */
/* Errors                                                               */

enum evm_rpc_err {
	EVM_RPC_OK = 0,
	EVM_RPC_ERR_ARG,          /* misuse: NULL, a bad URL, an option out of range */
	EVM_RPC_ERR_NOMEM,
	EVM_RPC_ERR_UNREACHABLE,  /* no answer: refused, timed out, name not resolved */
	EVM_RPC_ERR_HTTP,         /* an HTTP status other than 200 without a JSON-RPC error */
	EVM_RPC_ERR_TOO_LARGE,    /* an answer or a value in it over its limit */
	EVM_RPC_ERR_PROTOCOL,     /* not a JSON-RPC 2.0 answer to our request, or a malformed result */
	EVM_RPC_ERR_NODE,         /* the node answered with a JSON-RPC error */
	EVM_RPC_ERR_REVERTED,     /* execution reverted: estimate, call, or a mined transaction */
	EVM_RPC_ERR_NONCE,        /* the node refused the nonce (too low: the account moved on) */
	EVM_RPC_ERR_CHAIN,        /* the node's chain id is not the one asked for */
	EVM_RPC_ERR_TIMEOUT,      /* a bounded wait ended before the receipt or its confirmations */
	EVM_RPC_ERR_SIGN,         /* the transaction could not be encoded or signed */
	EVM_RPC_ERR_FEE_CAP,      /* the fee (first or bumped) would be above the caller's cap */
	EVM_RPC_ERR_COUNT_
};

/* Never NULL. */
const char *evm_rpc_strerror(enum evm_rpc_err err);
/* Stable identifier ("unreachable", "reverted", ...). */
const char *evm_rpc_errname(enum evm_rpc_err err);

/* ------------------------------------------------------------------ */
/* The client                                                           */

struct evm_rpc;

/* curl_global_init, once per process before any thread opens a client;
 * 0 or -1.  (httpd_client_global_init does the same; either will do.) */
EVM_RPC_WUR int evm_rpc_global_init(void);

/* A client for the node at `url` (http:// or https://, at most
 * EVM_RPC_URL_BYTES_MAX bytes, no spaces or control characters).
 * timeout_ms bounds each request (0: EVM_RPC_TIMEOUT_MS_DEFAULT).
 * Connects to nothing yet.  *out is freed with evm_rpc_free.
 * EVM_RPC_ERR_ARG (with why, may be NULL, saying what is wrong with the
 * URL) or EVM_RPC_ERR_NOMEM. */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_open(struct evm_rpc **out, char *why, size_t why_len,
					  const char *url, long timeout_ms);
void evm_rpc_free(struct evm_rpc *rpc);

/* The CA bundle every https node of this process is verified against
 * instead of the system's (the client's ASSAY_CA_FILE, a daemon's
 * --ca-file); NULL goes back to the system's.  Call before any thread
 * opens a client.  0, or -1 with why filled when `path` is not a
 * readable regular file of at most 1 MiB.  Whatever the CA, the node's
 * name is checked against the URL's host and TLS below 1.2 is refused. */
EVM_RPC_WUR int evm_rpc_set_ca_file(const char *path, char *why, size_t why_len);

/* The last failure of a call on rpc, one line naming the method and the
 * node ("eth_sendRawTransaction at http://127.0.0.1:8545: node error
 * -32000: nonce too low"); "" after a success.  Never NULL. */
const char *evm_rpc_why(const struct evm_rpc *rpc);
/* The node as messages name it: scheme://host[:port]. */
const char *evm_rpc_where(const struct evm_rpc *rpc);
/* The revert data of the last EVM_RPC_ERR_REVERTED (len 0 when the node
 * gave none).  Points into rpc; valid until its next call. */
void evm_rpc_revert_data(const struct evm_rpc *rpc, const uint8_t **data, size_t *len);

/* Block tag for the calls that take one. */
#define EVM_BLOCK_LATEST UINT64_MAX

struct evm_block {
	uint64_t number;
	uint8_t hash[RCPT_HASH_BYTES];
	uint64_t timestamp_s;
	uint64_t gas_limit;
	int has_base_fee;                 /* 0 on a chain without EIP-1559 */
	struct rcpt_u256 base_fee_per_gas;
};

struct evm_log {
	uint8_t address[RCPT_ADDR_BYTES];
	uint8_t topics[4][RCPT_HASH_BYTES];
	size_t ntopics;
	uint8_t *data;                    /* malloc'd (at least 1 byte), data_len bytes */
	size_t data_len;
	uint64_t block_number;
	uint8_t block_hash[RCPT_HASH_BYTES];
	uint8_t tx_hash[RCPT_HASH_BYTES];
	uint64_t log_index;
	int removed;                      /* 1: dropped by a reorganisation */
};

struct evm_receipt {
	uint8_t tx_hash[RCPT_HASH_BYTES];
	int status;                       /* 1 success, 0 reverted */
	uint64_t block_number;
	uint8_t block_hash[RCPT_HASH_BYTES];
	uint64_t gas_used;
	int has_contract;                 /* a creation: contract holds its address */
	uint8_t contract[RCPT_ADDR_BYTES];
	struct evm_log *logs;             /* nlogs of them; free with evm_receipt_release */
	size_t nlogs;
};

struct evm_log_filter {
	int has_address;
	uint8_t address[RCPT_ADDR_BYTES];
	int has_topic0;
	uint8_t topic0[RCPT_HASH_BYTES];
	/* Or topic0 any of these (has_topic0 0; at most
	 * EVM_RPC_FILTER_TOPICS_MAX); NULL with 0: no condition. */
	const uint8_t (*topic0_any)[RCPT_HASH_BYTES];
	size_t ntopic0_any;
	uint64_t from_block;
	uint64_t to_block;                /* EVM_BLOCK_LATEST for "latest" */
};

void evm_receipt_release(struct evm_receipt *r);
void evm_logs_free(struct evm_log *logs, size_t n);

/* The calls.  Each returns EVM_RPC_OK or one of the errors above with
 * evm_rpc_why saying why; outputs are untouched on failure (allocated
 * ones are NULL). */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_chain_id(struct evm_rpc *rpc, uint64_t *out);
EVM_RPC_WUR enum evm_rpc_err evm_rpc_block_number(struct evm_rpc *rpc, uint64_t *out);
/* eth_getBlockByNumber(tag, false); a block the node does not have is
 * EVM_RPC_ERR_NODE ("no such block"). */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_block(struct evm_rpc *rpc, struct evm_block *out,
					   uint64_t number);
/* The same, with *found 0 (and out untouched) for a block the node does
 * not have (past the head, or gone with a reorganisation). */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_block_found(struct evm_rpc *rpc, struct evm_block *out,
						 int *found, uint64_t number);
/* eth_getTransactionCount(addr, "pending") */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_nonce(struct evm_rpc *rpc, uint64_t *out,
					   const uint8_t addr[RCPT_ADDR_BYTES]);
EVM_RPC_WUR enum evm_rpc_err evm_rpc_gas_price(struct evm_rpc *rpc, struct rcpt_u256 *out);
EVM_RPC_WUR enum evm_rpc_err evm_rpc_max_priority_fee(struct evm_rpc *rpc, struct rcpt_u256 *out);
/* eth_estimateGas for tx's to, value and data, sent from `from`.
 * EVM_RPC_ERR_REVERTED when it would revert (revert data kept). */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_estimate_gas(struct evm_rpc *rpc, uint64_t *out,
						  const uint8_t from[RCPT_ADDR_BYTES],
						  const struct evm_tx *tx);
/* eth_sendRawTransaction; *hash is the node's answer, which must equal
 * keccak256(raw) (else EVM_RPC_ERR_PROTOCOL).  EVM_RPC_ERR_NONCE when
 * the node says the nonce is too low. */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_send_raw(struct evm_rpc *rpc, uint8_t hash[RCPT_HASH_BYTES],
					      const uint8_t *raw, size_t len);
/* eth_getTransactionReceipt: *found 0 (and out untouched) while the
 * transaction is not in a block. */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_receipt(struct evm_rpc *rpc, struct evm_receipt *out,
					     int *found, const uint8_t hash[RCPT_HASH_BYTES]);
/* eth_call at `block`: *out (malloc'd, at least 1 byte; the caller
 * frees) receives the return data.  `from` may be NULL; `to` may be
 * NULL to run data as initcode (a creation's revert, replayed).
 * EVM_RPC_ERR_REVERTED when it reverts (revert data kept). */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_call(struct evm_rpc *rpc, uint8_t **out, size_t *out_len,
					  const uint8_t *from, const uint8_t *to,
					  const uint8_t *data, size_t len, uint64_t block);
/* eth_getCode at `block`; *out as for evm_rpc_call. */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_get_code(struct evm_rpc *rpc, uint8_t **out, size_t *out_len,
					      const uint8_t addr[RCPT_ADDR_BYTES], uint64_t block);
/* eth_getLogs; *out (free with evm_logs_free) holds *n logs, at most
 * EVM_RPC_LOGS_MAX (else EVM_RPC_ERR_TOO_LARGE: ask for fewer blocks).
 * EVM_RPC_ERR_ARG for a range that ends before it starts, or topic0 both
 * fixed and a set, or a set over EVM_RPC_FILTER_TOPICS_MAX. */
EVM_RPC_WUR enum evm_rpc_err evm_rpc_get_logs(struct evm_rpc *rpc, struct evm_log **out, size_t *n,
					      const struct evm_log_filter *f);

/* ------------------------------------------------------------------ */
/* Sending transactions                                                 */

/* One key and its next nonce, shared by the threads that send from it. */
struct evm_sender {
	struct rcpt_key key;
	pthread_mutex_t mu;
	int synced;                       /* next_nonce is the node's pending count plus what we sent */
	uint64_t next_nonce;
};

/* Copies the key (the caller wipes its own copy).  0, or -1 when the
 * mutex could not be made. */
EVM_RPC_WUR int evm_sender_init(struct evm_sender *s, const struct rcpt_key *key);
/* Wipes the key and destroys the mutex. */
void evm_sender_release(struct evm_sender *s);

struct evm_send_opts {
	/* Fees: when fees_given is 0, the tip is eth_maxPriorityFeePerGas
	 * (or eth_gasPrice less the base fee, where the node lacks it) and
	 * the cap twice the latest base fee plus the tip. */
	int fees_given;
	struct rcpt_u256 max_fee_per_gas;
	struct rcpt_u256 max_priority_fee_per_gas;
	/* Fee bumps (evm_send_bump_fees): when bump_after_ms is not 0 and
	 * no transaction of the nonce has a receipt bump_after_ms after the
	 * last was sent, the transaction is signed again at the same nonce
	 * with raised fees and sent, at most bumps_max times (0:
	 * EVM_SEND_BUMPS_DEFAULT; at most EVM_SEND_BUMPS_MAX).  fee_cap
	 * bounds maxFeePerGas (required with bumps; without them, 0 is no
	 * cap): a first transaction above it is not sent, and a bump above
	 * it is not sent but ends the wait with EVM_RPC_ERR_FEE_CAP. */
	long bump_after_ms;
	unsigned bumps_max;
	struct rcpt_u256 fee_cap;
	unsigned gas_margin_bps;          /* 0: EVM_SEND_GAS_MARGIN_BPS_DEFAULT */
	unsigned confirmations;           /* 0: 1 (the receipt's own block) */
	long wait_ms;                     /* 0: EVM_SEND_WAIT_MS_DEFAULT */
	long poll_ms;                     /* 0: EVM_SEND_POLL_MS_DEFAULT */
	/* Contract ABIs (JSON arrays, or artifact objects holding one as
	 * "abi") whose custom errors name a revert in evm_rpc_why; may be
	 * NULL with nabis 0. */
	const char *const *abis;
	size_t nabis;
};

struct evm_sent {
	/* The transaction mined (the first or a replacement), or the last
	 * one sent when none was: its hash and fees. */
	uint8_t tx_hash[RCPT_HASH_BYTES];
	struct rcpt_u256 max_fee_per_gas;
	struct rcpt_u256 max_priority_fee_per_gas;
	unsigned bumps;                   /* replacements sent at the nonce */
	uint64_t nonce;
	uint64_t gas_limit;
	struct evm_receipt receipt;       /* release with evm_receipt_release */
};

/*
 * Sends one transaction from s's key: tmpl gives to (or creation),
 * value, data and the gas limit (0: estimate it, plus the margin); its
 * chain_id must be 0 or the node's (else EVM_RPC_ERR_CHAIN); its nonce
 * and fees are ignored and filled here.  Signs, sends, and waits (at
 * most wait_ms, polling every poll_ms) for the receipt and for
 * `confirmations` blocks, re-reading the receipt afterwards so that a
 * reorganisation that moved it is waited out too.  With bumps (opts
 * above) it waits for whichever transaction of the nonce is mined, the
 * first or a replacement, and out names that one.
 *
 * EVM_RPC_ERR_FEE_CAP: the first transaction's maxFeePerGas is above
 * opts->fee_cap (nothing sent), or a bump would take it there (out
 * names the last transaction sent, still pending).
 *
 * EVM_RPC_OK with *out filled when the transaction succeeded.
 * EVM_RPC_ERR_REVERTED when the estimate reverted (nothing was sent) or
 * the mined transaction has status 0 (*out filled: release it): the
 * why names the custom error from opts->abis when it can.  Otherwise an
 * error of the calls above, EVM_RPC_ERR_TIMEOUT, or EVM_RPC_ERR_SIGN.
 * A nonce the node calls too low is resynchronised from
 * eth_getTransactionCount and the transaction signed again, at most
 * EVM_SEND_NONCE_RETRIES times; any other failure to send makes the
 * next send resynchronise.
 */
EVM_RPC_WUR enum evm_rpc_err evm_send(struct evm_rpc *rpc, struct evm_sender *s,
				      const struct evm_tx *tmpl,
				      const struct evm_send_opts *opts, struct evm_sent *out);

/*
 * One fee bump (EVM_SEND_BUMP_SHIFT): each fee plus an eighth of it,
 * rounded up and at least 1 wei; then maxFeePerGas raised to at least
 * twice `base_fee` plus the new tip (so that the replacement still pays
 * after six blocks of rising base fee) and never below the tip.
 * base_fee may be NULL (a chain without EIP-1559).  0, or -1 when a fee
 * would pass 2^256 - 1 (the fees are then unspecified).
 */
EVM_RPC_WUR int evm_send_bump_fees(struct rcpt_u256 *max_fee_per_gas,
				   struct rcpt_u256 *max_priority_fee_per_gas,
				   const struct rcpt_u256 *base_fee);

/*
 * Describes revert data in one line: "Error(\"message\")",
 * "Panic(0x11)", "BadParameter()" or "ERC20InsufficientBalance(0x..., 0,
 * 5)" (the custom error named from the first of `abis` that declares
 * its selector; static arguments printed, others as hex), else "custom
 * error 0x12345678", or "no revert data".  Always writes a terminated
 * string into out (out_len >= 1).
 */
void evm_revert_describe(char *out, size_t out_len, const uint8_t *data, size_t len,
			 const char *const *abis, size_t nabis);

#endif /* ASSAY_EVM_RPC_H */
