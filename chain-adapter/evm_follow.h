/*
 * evm_follow.h: follows one contract's logs on an EVM chain, with
 * confirmations and reorganisations (private to chain-adapter/ and its
 * users: the escrow as indexer).
 *
 * A struct evm_follower has no thread: its caller polls it
 * (evm_follow_poll) with a client of its own (evm_rpc.h).  Each poll
 *
 *  1. checks that the block of its cursor (the last block read, or the
 *     block of the last log delivered) is still the node's block at that
 *     height (eth_getBlockByNumber).  When it is not, the chain was
 *     reorganised below the cursor: the follower finds the newest block
 *     it read that is still canonical (a block's hash commits to its
 *     parent's, so every block below a canonical one is canonical too),
 *     calls `undo` for every log it delivered from a later block, newest
 *     first, and reads again from there;
 *  2. reads the logs of the address whose topic0 is in the set, in
 *     ranges of at most range_blocks blocks (eth_getLogs), up to the
 *     head less `confirmations` blocks, and calls `deliver` for each, in
 *     block and log-index order.
 *
 * Each log is delivered once; once more only after an `undo` of it.
 * `confirmations` counts the blocks mined on top of a log's block: 0
 * delivers a log as soon as it is in a block, 2 when two blocks follow
 * it.  (evm_send's confirmations count the receipt's own block: its N
 * is this N + 1.)  A reorganisation no deeper than `confirmations`
 * changes nothing delivered; a deeper one is undone as above.
 *
 * The window.  To undo, the follower keeps what it delivered from the
 * last window_blocks blocks below its cursor (the logs and their block
 * hashes, and the hash of the last block of each range read).  Below
 * the window it keeps one block, the base.  A reorganisation that
 * changed the base is deeper than the window: the follower cannot say
 * what it delivered from the changed blocks, so the poll fails with
 * EVM_FOLLOW_ERR_DEEP_REORG and so does every later one.  It is never
 * followed silently: an operator decides (a new follower from a cursor
 * they choose).  A follower resumed from a saved cursor starts with an
 * empty window whose base is the cursor's block.  The window also
 * shrinks when the logs it keeps pass EVM_FOLLOW_KEPT_LOGS_MAX or
 * EVM_FOLLOW_KEPT_BYTES_MAX: the oldest blocks leave it first.
 *
 * Callbacks: `deliver` and `undo` return 0, or nonzero to stop the poll
 * (EVM_FOLLOW_ERR_CALLBACK): the log they refused counts as not
 * delivered (not undone), and the next poll starts with it.  The
 * cursor (evm_follow_cursor) after each delivered log names that log,
 * so a caller that stores it with what the log did resumes exactly
 * after it.
 */
#ifndef ASSAY_EVM_FOLLOW_H
#define ASSAY_EVM_FOLLOW_H

#include <stddef.h>
#include <stdint.h>

#include "evm_rpc.h"

/* ------------------------------------------------------------------ */
/* Limits (each with its reason)                                        */

/* Events followed at once: every event of AssayEscrow (12). */
#define EVM_FOLLOW_TOPICS_MAX EVM_RPC_FILTER_TOPICS_MAX
/* Confirmations: Ethereum's finality is about 64 blocks; more is a
 * mistake, not caution. */
#define EVM_FOLLOW_CONFIRMATIONS_MAX 64u
/* The window, in blocks below the cursor: 128 is two epochs on
 * Ethereum, past finality; deeper reorganisations on the chains Assay
 * targets call for an operator anyway.  At most 4096 (a day of 20 s
 * blocks), which bounds the blocks remembered. */
#define EVM_FOLLOW_WINDOW_BLOCKS_DEFAULT 128u
#define EVM_FOLLOW_WINDOW_BLOCKS_MAX 4096u
/* One eth_getLogs: hosted nodes refuse ranges above 1,000 to 10,000
 * blocks; a range whose answer is over EVM_RPC_LOGS_MAX is halved. */
#define EVM_FOLLOW_RANGE_BLOCKS_DEFAULT 1000u
#define EVM_FOLLOW_RANGE_BLOCKS_MAX 10000u
/* Ranges read by one poll, so that a poll returns in bounded time; a
 * follower far behind catches up over several polls. */
#define EVM_FOLLOW_RANGES_PER_POLL 8u
/* What the window keeps for undoing: the escrow's events are a few
 * words each; 10,000 of at most 64 KiB would be 640 MiB, hence the
 * byte bound too. */
#define EVM_FOLLOW_KEPT_LOGS_MAX 10000u
#define EVM_FOLLOW_KEPT_BYTES_MAX (16u * 1024u * 1024u)
/* The last error, as evm_rpc's. */
#define EVM_FOLLOW_WHY_BYTES EVM_RPC_WHY_BYTES

/* ------------------------------------------------------------------ */
/* Errors                                                               */

enum evm_follow_err {
	EVM_FOLLOW_OK = 0,
	EVM_FOLLOW_ERR_ARG,          /* misuse: NULL, a limit passed, a zero address */
	EVM_FOLLOW_ERR_NOMEM,
	EVM_FOLLOW_ERR_RPC,          /* a call to the node failed (why quotes evm_rpc_why) */
	EVM_FOLLOW_ERR_ANSWER,       /* the node's logs contradict the request (range, address, topic, order, removed) */
	EVM_FOLLOW_ERR_CALLBACK,     /* deliver or undo returned nonzero */
	EVM_FOLLOW_ERR_DEEP_REORG,   /* a reorganisation below the window: needs an operator */
	EVM_FOLLOW_ERR_TOO_MANY,     /* one block holds more logs than the window may keep */
	EVM_FOLLOW_ERR_COUNT_
};

/* Never NULL. */
const char *evm_follow_strerror(enum evm_follow_err err);
/* Stable identifier ("deep-reorg", ...). */
const char *evm_follow_errname(enum evm_follow_err err);

/* ------------------------------------------------------------------ */
/* The follower                                                         */

struct evm_follow_config {
	uint8_t address[RCPT_ADDR_BYTES];
	/* topic0 any of these (copied); NULL with 0: every log of address. */
	const uint8_t (*topics)[RCPT_HASH_BYTES];
	size_t ntopics;
	uint64_t start_block;          /* the first block read (without a cursor) */
	unsigned confirmations;        /* blocks on top of a log's block; at most the max */
	unsigned window_blocks;        /* 0: EVM_FOLLOW_WINDOW_BLOCKS_DEFAULT */
	unsigned range_blocks;         /* 0: EVM_FOLLOW_RANGE_BLOCKS_DEFAULT */
};

/* Where a follower is: every log of blocks below `block` is delivered,
 * and of `block` itself every log when `partial` is 0, else those up to
 * and including log_index.  `hash` is block's hash as read. */
struct evm_follow_cursor {
	uint64_t block;
	uint8_t hash[RCPT_HASH_BYTES];
	int partial;
	uint64_t log_index;
};

struct evm_follow_cbs {
	/* A log whose block has the confirmations; the pointer is valid
	 * during the call only. */
	int (*deliver)(void *arg, const struct evm_log *log);
	/* A log delivered earlier whose block is no longer canonical, with
	 * removed set; valid during the call only. */
	int (*undo)(void *arg, const struct evm_log *log);
	void *arg;
};

struct evm_follow_stats {
	size_t delivered;
	size_t undone;
	int caught_up;                 /* 1: read up to the head less the confirmations */
};

struct evm_follower;

/* A follower of cfg (copied), from cfg->start_block, or from `resume`
 * (may be NULL) as a cursor saved from an earlier follower of the same
 * config.  Reads nothing yet.  *out is freed with evm_follow_free.
 * EVM_FOLLOW_ERR_ARG or EVM_FOLLOW_ERR_NOMEM. */
EVM_RPC_WUR enum evm_follow_err evm_follow_open(struct evm_follower **out,
						const struct evm_follow_config *cfg,
						const struct evm_follow_cursor *resume);
/* Frees f and every log it keeps; NULL is a no-op. */
void evm_follow_free(struct evm_follower *f);

/*
 * One poll (above), on rpc (the caller's; one thread at a time on f and
 * rpc); cbs->deliver and cbs->undo are both required.  stats (may be
 * NULL) counts this poll's calls.
 * EVM_FOLLOW_OK, or EVM_FOLLOW_ERR_RPC, _ANSWER, _CALLBACK, _NOMEM,
 * _TOO_MANY (nothing past the refusing log delivered; the next poll
 * tries again), or EVM_FOLLOW_ERR_DEEP_REORG (now and at every later
 * poll).  evm_follow_why says why.
 */
EVM_RPC_WUR enum evm_follow_err evm_follow_poll(struct evm_follower *f, struct evm_rpc *rpc,
						const struct evm_follow_cbs *cbs,
						struct evm_follow_stats *stats);

/* The cursor, to be saved and given to evm_follow_open: 0, or -1 while
 * nothing has been read (then out is untouched). */
EVM_RPC_WUR int evm_follow_cursor(const struct evm_follower *f, struct evm_follow_cursor *out);

/* The last failure of a poll, one line; "" after a success.  Never NULL. */
const char *evm_follow_why(const struct evm_follower *f);

#endif /* ASSAY_EVM_FOLLOW_H */
