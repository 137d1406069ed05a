/*
 * evm_follow.c: the log follower of evm_follow.h.
 *
 * State and its invariants (checked by check_state after every poll):
 *
 *  - cur: where the follower is (evm_follow_cursor); `started` is 0
 *    until the first log or range end, and again after a
 *    reorganisation undid everything back to start_block.
 *  - win[0..nwin): the blocks the follower can check and rewind to:
 *    the block of every log it delivered and the last block of every
 *    range it read, with their hashes as read, ascending and distinct,
 *    none more than window_blocks below cur.block, and the last one is
 *    cur's block with cur's hash (or, empty, the window's base is cur's
 *    block, or nothing was read).  So nwin <= window_blocks + 1.
 *  - base: the newest block that left the window, or a resumed
 *    cursor's block (has_base); at and below it nothing can be undone
 *    and no log is kept.  It is below win[0].
 *  - kept[0..nkept): copies of the logs delivered from the window's
 *    blocks, ascending by (block, log index), kept_bytes their data;
 *    every one is in a block of win.
 *
 * Why one check per poll suffices: a block's hash commits to its
 * parent's, so while cur's block is canonical every block below it is,
 * and once it is not, the window's canonical blocks are a prefix of it
 * (found by bisection).  Reading a range takes the last block's header
 * before the logs, and checks cur's block again after them: a chain
 * that moved meanwhile is either caught there (the range is dropped and
 * read again) or leaves a hash in the window that the next poll's check
 * catches.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assay_assert.h"
#include "evm_follow.h"
#include "banned.h"

/* A range whose eth_getLogs answer is too large is halved; 14 halvings
 * take EVM_FOLLOW_RANGE_BLOCKS_MAX blocks down to one. */
#define FOLLOW_HALVINGS_MAX 14
/* Bisection over the window: log2(EVM_FOLLOW_WINDOW_BLOCKS_MAX + 1),
 * rounded up, with room. */
#define FOLLOW_BISECT_STEPS_MAX 16

struct fblock {
	uint64_t number;
	uint8_t hash[RCPT_HASH_BYTES];
};

struct evm_follower {
	uint8_t address[RCPT_ADDR_BYTES];
	uint8_t topics[EVM_FOLLOW_TOPICS_MAX][RCPT_HASH_BYTES];
	size_t ntopics;
	uint64_t start_block;
	unsigned confirmations, window_blocks, range_blocks;

	int started;
	struct evm_follow_cursor cur;
	int has_base;
	struct fblock base;
	struct fblock *win;
	size_t nwin;
	struct evm_log *kept;
	size_t nkept, kept_cap, kept_bytes;
	int deep;                         /* a reorganisation below the window was found */
	char why[EVM_FOLLOW_WHY_BYTES];
};

static const struct {
	const char *name;
	const char *text;
} follow_errs[] = {
	[EVM_FOLLOW_OK] = { "ok", "success" },
	[EVM_FOLLOW_ERR_ARG] = { "arg", "invalid argument" },
	[EVM_FOLLOW_ERR_NOMEM] = { "nomem", "out of memory" },
	[EVM_FOLLOW_ERR_RPC] = { "rpc", "a call to the node failed" },
	[EVM_FOLLOW_ERR_ANSWER] = { "answer", "the node's logs contradict the request" },
	[EVM_FOLLOW_ERR_CALLBACK] = { "callback", "the caller refused a log" },
	[EVM_FOLLOW_ERR_DEEP_REORG] = { "deep-reorg",
					"a reorganisation below the window needs an operator" },
	[EVM_FOLLOW_ERR_TOO_MANY] = { "too-many", "more logs than the window may keep" },
};

_Static_assert(sizeof(follow_errs) / sizeof(follow_errs[0]) == EVM_FOLLOW_ERR_COUNT_,
	       "one string per enum evm_follow_err");
_Static_assert((1u << FOLLOW_HALVINGS_MAX) >= EVM_FOLLOW_RANGE_BLOCKS_MAX,
	       "enough halvings to reach one block");
_Static_assert((1u << FOLLOW_BISECT_STEPS_MAX) > EVM_FOLLOW_WINDOW_BLOCKS_MAX + 1,
	       "enough bisection steps for the largest window");

const char *evm_follow_strerror(enum evm_follow_err err)
{
	if ((unsigned)err >= EVM_FOLLOW_ERR_COUNT_)
		return "unknown error";
	return follow_errs[err].text;
}

const char *evm_follow_errname(enum evm_follow_err err)
{
	if ((unsigned)err >= EVM_FOLLOW_ERR_COUNT_)
		return "unknown";
	return follow_errs[err].name;
}

/* ------------------------------------------------------------------ */
/* Messages                                                             */

static void whyf(struct evm_follower *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void whyf(struct evm_follower *f, const char *fmt, ...)
{
	char addr[RCPT_ADDR_HEX_BYTES];
	va_list ap;
	int n;

	rcpt_address_format(addr, f->address);
	n = snprintf(f->why, sizeof(f->why), "following %s: ", addr);
	ASSAY_ASSERT(n > 0 && (size_t)n < sizeof(f->why));
	va_start(ap, fmt);
	vsnprintf(f->why + n, sizeof(f->why) - (size_t)n, fmt, ap);
	va_end(ap);
	for (char *p = f->why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* evm_rpc_why names the method and the node, never a URL's secret. */
static enum evm_follow_err rpc_failed(struct evm_follower *f, struct evm_rpc *rpc,
				      enum evm_rpc_err rc)
{
	whyf(f, "%s", evm_rpc_why(rpc));
	return rc == EVM_RPC_ERR_NOMEM ? EVM_FOLLOW_ERR_NOMEM : EVM_FOLLOW_ERR_RPC;
}

static void hash_hex(char out[RCPT_HASH_HEX_BYTES], const uint8_t hash[RCPT_HASH_BYTES])
{
	if (rcpt_hex_encode(out, RCPT_HASH_HEX_BYTES, hash, RCPT_HASH_BYTES) != RCPT_OK)
		out[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */

static int config_bad(const struct evm_follow_config *c)
{
	static const uint8_t zero[RCPT_ADDR_BYTES];

	return memcmp(c->address, zero, sizeof(zero)) == 0 ||
	       (c->ntopics && !c->topics) || c->ntopics > EVM_FOLLOW_TOPICS_MAX ||
	       c->confirmations > EVM_FOLLOW_CONFIRMATIONS_MAX ||
	       c->window_blocks > EVM_FOLLOW_WINDOW_BLOCKS_MAX ||
	       c->range_blocks > EVM_FOLLOW_RANGE_BLOCKS_MAX;
}

enum evm_follow_err evm_follow_open(struct evm_follower **out, const struct evm_follow_config *cfg,
				    const struct evm_follow_cursor *resume)
{
	struct evm_follower *f;

	if (!out || !cfg || config_bad(cfg) || (resume && resume->partial != 0 && resume->partial != 1))
		return EVM_FOLLOW_ERR_ARG;
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return EVM_FOLLOW_ERR_NOMEM;
	memcpy(f->address, cfg->address, RCPT_ADDR_BYTES);
	if (cfg->ntopics)
		memcpy(f->topics, cfg->topics, cfg->ntopics * RCPT_HASH_BYTES);
	f->ntopics = cfg->ntopics;
	f->start_block = cfg->start_block;
	f->confirmations = cfg->confirmations;
	f->window_blocks = cfg->window_blocks ? cfg->window_blocks : EVM_FOLLOW_WINDOW_BLOCKS_DEFAULT;
	f->range_blocks = cfg->range_blocks ? cfg->range_blocks : EVM_FOLLOW_RANGE_BLOCKS_DEFAULT;
	f->win = calloc((size_t)f->window_blocks + 1, sizeof(*f->win));
	if (!f->win) {
		free(f);
		return EVM_FOLLOW_ERR_NOMEM;
	}
	if (resume) {
		/* An empty window whose base is the cursor's block. */
		f->started = 1;
		f->cur = *resume;
		f->has_base = 1;
		f->base.number = resume->block;
		memcpy(f->base.hash, resume->hash, RCPT_HASH_BYTES);
	}
	*out = f;
	return EVM_FOLLOW_OK;
}

void evm_follow_free(struct evm_follower *f)
{
	if (!f)
		return;
	evm_logs_free(f->kept, f->nkept);
	free(f->win);
	free(f);
}

int evm_follow_cursor(const struct evm_follower *f, struct evm_follow_cursor *out)
{
	if (!f || !out || !f->started)
		return -1;
	*out = f->cur;
	return 0;
}

const char *evm_follow_why(const struct evm_follower *f)
{
	return f ? f->why : "no follower";
}

/* ------------------------------------------------------------------ */
/* The window                                                           */

static void check_state(const struct evm_follower *f)
{
	ASSAY_ASSERT(f->nwin <= (size_t)f->window_blocks + 1);
	ASSAY_ASSERT(f->nkept <= EVM_FOLLOW_KEPT_LOGS_MAX && f->kept_bytes <= EVM_FOLLOW_KEPT_BYTES_MAX);
	ASSAY_ASSERT(f->nwin == 0 || (f->started && f->win[f->nwin - 1].number == f->cur.block &&
				      memcmp(f->win[f->nwin - 1].hash, f->cur.hash, RCPT_HASH_BYTES) == 0));
	ASSAY_ASSERT(!f->has_base || f->nwin == 0 || f->base.number < f->win[0].number);
	for (size_t i = 1; i < f->nwin; i++)
		ASSAY_ASSERT(f->win[i - 1].number < f->win[i].number);
	ASSAY_ASSERT(f->nkept == 0 || (f->nwin > 0 && f->kept[0].block_number >= f->win[0].number &&
				       f->kept[f->nkept - 1].block_number <= f->cur.block));
}

/* Frees the kept logs of blocks up to `number`. */
static void kept_drop_through(struct evm_follower *f, uint64_t number)
{
	size_t n = 0;

	while (n < f->nkept && f->kept[n].block_number <= number) {
		f->kept_bytes -= f->kept[n].data_len;
		free(f->kept[n].data);
		n++;
	}
	if (n && n < f->nkept)
		memmove(f->kept, f->kept + n, (f->nkept - n) * sizeof(*f->kept));
	f->nkept -= n;
}

/* The oldest block of the window becomes the base. */
static void evict_oldest(struct evm_follower *f)
{
	ASSAY_ASSERT(f->nwin > 0);
	f->base = f->win[0];
	f->has_base = 1;
	memmove(f->win, f->win + 1, (f->nwin - 1) * sizeof(*f->win));
	f->nwin--;
	kept_drop_through(f, f->base.number);
}

/* Moves the cursor forward to (number, hash): blocks more than
 * window_blocks below it leave the window, and the block joins it. */
static void advance(struct evm_follower *f, uint64_t number, const uint8_t hash[RCPT_HASH_BYTES],
		    int partial, uint64_t log_index)
{
	ASSAY_ASSERT(!f->started || number > f->cur.block ||
		     (number == f->cur.block && (!f->cur.partial || partial == 0 ||
						 log_index > f->cur.log_index)));
	f->started = 1;
	f->cur.block = number;
	memcpy(f->cur.hash, hash, RCPT_HASH_BYTES);
	f->cur.partial = partial;
	f->cur.log_index = log_index;
	while (f->nwin > 0 && number - f->win[0].number > f->window_blocks)
		evict_oldest(f);
	if (f->has_base && number == f->base.number)
		return;   /* a resumed cursor's block: the base, not in the window */
	if (f->nwin > 0 && f->win[f->nwin - 1].number == number) {
		/* The same block as read before (checked by the caller). */
		ASSAY_ASSERT(memcmp(f->win[f->nwin - 1].hash, hash, RCPT_HASH_BYTES) == 0);
		return;
	}
	ASSAY_ASSERT(f->nwin <= f->window_blocks);
	f->win[f->nwin].number = number;
	memcpy(f->win[f->nwin].hash, hash, RCPT_HASH_BYTES);
	f->nwin++;
}

/* Room in kept for one more log of `data_len` bytes: older blocks leave
 * the window while it is over its bounds. */
static enum evm_follow_err make_room(struct evm_follower *f, const struct evm_log *l)
{
	struct evm_log *k;
	size_t cap;

	while (f->nkept + 1 > EVM_FOLLOW_KEPT_LOGS_MAX ||
	       f->kept_bytes + l->data_len > EVM_FOLLOW_KEPT_BYTES_MAX) {
		if (f->nwin == 0 || f->win[0].number >= f->cur.block) {
			whyf(f, "block %llu: more logs than the window keeps (%u, or %u bytes)",
			     (unsigned long long)l->block_number, EVM_FOLLOW_KEPT_LOGS_MAX,
			     EVM_FOLLOW_KEPT_BYTES_MAX);
			return EVM_FOLLOW_ERR_TOO_MANY;
		}
		evict_oldest(f);
	}
	if (f->nkept < f->kept_cap)
		return EVM_FOLLOW_OK;
	cap = f->kept_cap ? f->kept_cap * 2 : 64;
	if (cap > EVM_FOLLOW_KEPT_LOGS_MAX)
		cap = EVM_FOLLOW_KEPT_LOGS_MAX;
	k = realloc(f->kept, cap * sizeof(*k));
	if (!k) {
		whyf(f, "out of memory");
		return EVM_FOLLOW_ERR_NOMEM;
	}
	f->kept = k;
	f->kept_cap = cap;
	return EVM_FOLLOW_OK;
}

/* ------------------------------------------------------------------ */
/* Reorganisations                                                      */

/* *yes: the node's block at b's height is b. */
static enum evm_follow_err canonical(struct evm_follower *f, struct evm_rpc *rpc,
				     const struct fblock *b, int *yes)
{
	struct evm_block blk;
	enum evm_rpc_err rc;
	int found;

	rc = evm_rpc_block_found(rpc, &blk, &found, b->number);
	if (rc)
		return rpc_failed(f, rpc, rc);
	*yes = found && memcmp(blk.hash, b->hash, RCPT_HASH_BYTES) == 0;
	return EVM_FOLLOW_OK;
}

/* *k: the first block of the window that is not canonical, knowing the
 * last one (cur's) is not; the ones below it are. */
static enum evm_follow_err first_changed(struct evm_follower *f, struct evm_rpc *rpc, size_t *k)
{
	size_t lo = 0, hi = f->nwin ? f->nwin - 1 : 0;
	enum evm_follow_err rc = EVM_FOLLOW_OK;
	int yes, steps = 0;

	while (lo < hi && !rc) {
		size_t mid = lo + (hi - lo) / 2;
		ASSAY_ASSERT(++steps <= FOLLOW_BISECT_STEPS_MAX);
		rc = canonical(f, rpc, &f->win[mid], &yes);
		if (!rc && yes)
			lo = mid + 1;
		else if (!rc)
			hi = mid;
	}
	*k = lo;
	return rc;
}

/* Undoes the kept logs of blocks above `keep` (every one when keep is
 * NULL), newest first.  A refused undo leaves cur at the refused log,
 * still delivered, for the next poll to take up. */
static enum evm_follow_err undo_above(struct evm_follower *f, const struct evm_follow_cbs *cbs,
				      const struct fblock *keep, struct evm_follow_stats *st)
{
	while (f->nkept > 0 && (!keep || f->kept[f->nkept - 1].block_number > keep->number)) {
		struct evm_log *l = &f->kept[f->nkept - 1];
		l->removed = 1;
		if (cbs->undo(cbs->arg, l) != 0) {
			char tx[RCPT_HASH_HEX_BYTES];
			l->removed = 0;
			while (f->nwin > 0 && f->win[f->nwin - 1].number > l->block_number)
				f->nwin--;
			f->cur.block = l->block_number;
			memcpy(f->cur.hash, l->block_hash, RCPT_HASH_BYTES);
			f->cur.partial = 1;
			f->cur.log_index = l->log_index;
			hash_hex(tx, l->tx_hash);
			whyf(f, "undoing log %llu of block %llu (transaction %s): the caller refused",
			     (unsigned long long)l->log_index, (unsigned long long)l->block_number, tx);
			return EVM_FOLLOW_ERR_CALLBACK;
		}
		f->kept_bytes -= l->data_len;
		free(l->data);
		f->nkept--;
		st->undone++;
	}
	return EVM_FOLLOW_OK;
}

static enum evm_follow_err deep(struct evm_follower *f)
{
	char h[RCPT_HASH_HEX_BYTES];

	hash_hex(h, f->base.hash);
	f->deep = 1;
	whyf(f, "block %llu (%s), below the window of %u blocks, is no longer canonical: "
	     "a reorganisation deeper than the window needs an operator",
	     (unsigned long long)f->base.number, h, f->window_blocks);
	return EVM_FOLLOW_ERR_DEEP_REORG;
}

/* cur's block is not canonical: back to the newest block that is. */
static enum evm_follow_err rewind_to_canonical(struct evm_follower *f, struct evm_rpc *rpc,
				  const struct evm_follow_cbs *cbs, struct evm_follow_stats *st)
{
	struct fblock keep;
	enum evm_follow_err rc;
	size_t k;
	int yes = 0, have = 1;

	rc = first_changed(f, rpc, &k);
	if (rc)
		return rc;
	if (k > 0)
		keep = f->win[k - 1];
	else if (f->has_base && (rc = canonical(f, rpc, &f->base, &yes)) != EVM_FOLLOW_OK)
		return rc;
	else if (f->has_base && !yes)
		return deep(f);
	else if (f->has_base)
		keep = f->base;
	else
		have = 0;             /* nothing left below: back to start_block */
	rc = undo_above(f, cbs, have ? &keep : NULL, st);
	if (rc)
		return rc;
	f->nwin = k;
	f->started = have;
	if (have) {
		f->cur.block = keep.number;
		memcpy(f->cur.hash, keep.hash, RCPT_HASH_BYTES);
		f->cur.partial = 0;
		f->cur.log_index = 0;
	}
	return EVM_FOLLOW_OK;
}

/* ------------------------------------------------------------------ */
/* Reading                                                              */

static int log_order(const void *a, const void *b)
{
	const struct evm_log *x = a, *y = b;

	if (x->block_number != y->block_number)
		return x->block_number < y->block_number ? -1 : 1;
	if (x->log_index != y->log_index)
		return x->log_index < y->log_index ? -1 : 1;
	return 0;
}

static int topic_wanted(const struct evm_follower *f, const struct evm_log *l)
{
	if (!f->ntopics)
		return 1;
	for (size_t i = 0; l->ntopics && i < f->ntopics; i++)
		if (memcmp(l->topics[0], f->topics[i], RCPT_HASH_BYTES) == 0)
			return 1;
	return 0;
}

/* Checks sorted logs against the request [from, to]; *moved when a hash
 * shows the chain moved while it was read (top is `to`'s header). */
static enum evm_follow_err check_logs(struct evm_follower *f, const struct evm_log *logs, size_t n,
				      uint64_t from, const struct evm_block *top, int *moved)
{
	for (size_t i = 0; i < n; i++) {
		const struct evm_log *l = &logs[i], *p = i ? &logs[i - 1] : NULL;
		const char *bad = NULL;
		if (l->block_number < from || l->block_number > top->number)
			bad = "a log outside the blocks asked for";
		else if (l->removed)
			bad = "a removed log";
		else if (memcmp(l->address, f->address, RCPT_ADDR_BYTES) != 0 || !topic_wanted(f, l))
			bad = "a log of another address or event";
		else if (p && log_order(p, l) == 0)
			bad = "the same log twice";
		else if (p && p->block_number == l->block_number &&
			 memcmp(p->block_hash, l->block_hash, RCPT_HASH_BYTES) != 0)
			bad = "two hashes for one block";
		if (bad) {
			whyf(f, "eth_getLogs of blocks %llu to %llu: %s (block %llu)",
			     (unsigned long long)from, (unsigned long long)top->number, bad,
			     (unsigned long long)l->block_number);
			return EVM_FOLLOW_ERR_ANSWER;
		}
		if ((l->block_number == top->number &&
		     memcmp(l->block_hash, top->hash, RCPT_HASH_BYTES) != 0) ||
		    (f->started && f->cur.partial && l->block_number == f->cur.block &&
		     memcmp(l->block_hash, f->cur.hash, RCPT_HASH_BYTES) != 0))
			*moved = 1;
	}
	return EVM_FOLLOW_OK;
}

/* The header of `to`, then the logs of [from, to] (to halved while the
 * answer is too large). */
static enum evm_follow_err fetch(struct evm_follower *f, struct evm_rpc *rpc, uint64_t from,
				 uint64_t to, struct evm_block *top, int *found,
				 struct evm_log **logs, size_t *n)
{
	struct evm_log_filter flt;
	enum evm_rpc_err rc = EVM_RPC_OK;

	memset(&flt, 0, sizeof(flt));
	flt.has_address = 1;
	memcpy(flt.address, f->address, RCPT_ADDR_BYTES);
	flt.topic0_any = f->ntopics ? (const uint8_t(*)[RCPT_HASH_BYTES])f->topics : NULL;
	flt.ntopic0_any = f->ntopics;
	flt.from_block = from;
	for (int h = 0; h <= FOLLOW_HALVINGS_MAX; h++) {
		rc = evm_rpc_block_found(rpc, top, found, to);
		if (rc || !*found)
			break;
		flt.to_block = to;
		rc = evm_rpc_get_logs(rpc, logs, n, &flt);
		if (rc != EVM_RPC_ERR_TOO_LARGE || to == from)
			break;
		to = from + (to - from) / 2;
	}
	return rc ? rpc_failed(f, rpc, rc) : EVM_FOLLOW_OK;
}

/* Delivers sorted, checked logs; each is kept (its data taken) once the
 * caller took it. */
static enum evm_follow_err deliver_all(struct evm_follower *f, const struct evm_follow_cbs *cbs,
				       struct evm_log *logs, size_t n, struct evm_follow_stats *st)
{
	enum evm_follow_err rc;

	for (size_t i = 0; i < n; i++) {
		struct evm_log *l = &logs[i];
		if (f->started && f->cur.partial && l->block_number == f->cur.block &&
		    l->log_index <= f->cur.log_index)
			continue;         /* delivered before */
		rc = make_room(f, l);
		if (rc)
			return rc;
		if (cbs->deliver(cbs->arg, l) != 0) {
			char tx[RCPT_HASH_HEX_BYTES];
			hash_hex(tx, l->tx_hash);
			whyf(f, "delivering log %llu of block %llu (transaction %s): the caller refused",
			     (unsigned long long)l->log_index, (unsigned long long)l->block_number, tx);
			return EVM_FOLLOW_ERR_CALLBACK;
		}
		advance(f, l->block_number, l->block_hash, 1, l->log_index);
		st->delivered++;
		if (f->has_base && l->block_number <= f->base.number)
			continue;         /* the base's: never undone, not kept */
		f->kept[f->nkept++] = *l;
		f->kept_bytes += l->data_len;
		l->data = NULL;
	}
	return EVM_FOLLOW_OK;
}

/* One range: *moved when the chain moved while it was read (nothing
 * delivered; the next poll reads it again). */
static enum evm_follow_err read_range(struct evm_follower *f, struct evm_rpc *rpc,
				      const struct evm_follow_cbs *cbs, uint64_t from, uint64_t to,
				      struct evm_follow_stats *st, int *moved)
{
	struct evm_log *logs = NULL;
	struct evm_block top;
	struct fblock cur;
	enum evm_follow_err rc;
	size_t n = 0;
	int found = 0, yes = 1;

	*moved = 0;
	rc = fetch(f, rpc, from, to, &top, &found, &logs, &n);
	if (!rc && f->started) {
		cur.number = f->cur.block;
		memcpy(cur.hash, f->cur.hash, RCPT_HASH_BYTES);
		rc = canonical(f, rpc, &cur, &yes);
	}
	*moved = !rc && (!found || !yes);
	if (!rc && !*moved) {
		if (n > 1)
			qsort(logs, n, sizeof(*logs), log_order);
		rc = check_logs(f, logs, n, from, &top, moved);
	}
	if (!rc && !*moved)
		rc = deliver_all(f, cbs, logs, n, st);
	if (!rc && !*moved)
		advance(f, top.number, top.hash, 0, 0);
	evm_logs_free(logs, n);
	return rc;
}

static enum evm_follow_err read_ranges(struct evm_follower *f, struct evm_rpc *rpc,
				       const struct evm_follow_cbs *cbs, struct evm_follow_stats *st)
{
	enum evm_follow_err rc = EVM_FOLLOW_OK;
	enum evm_rpc_err rrc;
	uint64_t head, safe, from, to;
	int moved = 0;

	rrc = evm_rpc_block_number(rpc, &head);
	if (rrc)
		return rpc_failed(f, rpc, rrc);
	if (head < f->confirmations) {
		st->caught_up = 1;
		return EVM_FOLLOW_OK;
	}
	safe = head - f->confirmations;
	for (unsigned r = 0; r < EVM_FOLLOW_RANGES_PER_POLL && !rc && !moved; r++) {
		if (!f->started)
			from = f->start_block;
		else if (f->cur.partial)
			from = f->cur.block;
		else if (f->cur.block < UINT64_MAX)
			from = f->cur.block + 1;
		else
			from = UINT64_MAX;  /* nothing past the last block there is */
		if (from > safe || (f->started && !f->cur.partial && f->cur.block == UINT64_MAX)) {
			st->caught_up = 1;
			break;
		}
		to = safe - from < f->range_blocks - 1 ? safe : from + f->range_blocks - 1;
		rc = read_range(f, rpc, cbs, from, to, st, &moved);
	}
	return rc;
}

enum evm_follow_err evm_follow_poll(struct evm_follower *f, struct evm_rpc *rpc,
				    const struct evm_follow_cbs *cbs, struct evm_follow_stats *stats)
{
	struct evm_follow_stats st = { 0, 0, 0 };
	enum evm_follow_err rc = EVM_FOLLOW_OK;
	struct fblock cur;
	int yes = 1;

	if (!f || !rpc || !cbs || !cbs->deliver || !cbs->undo)
		return EVM_FOLLOW_ERR_ARG;
	if (f->deep)
		return EVM_FOLLOW_ERR_DEEP_REORG;       /* why still says why */
	f->why[0] = '\0';
	if (f->started) {
		cur.number = f->cur.block;
		memcpy(cur.hash, f->cur.hash, RCPT_HASH_BYTES);
		rc = canonical(f, rpc, &cur, &yes);
	}
	if (!rc && !yes)
		rc = rewind_to_canonical(f, rpc, cbs, &st);
	if (!rc)
		rc = read_ranges(f, rpc, cbs, &st);
	check_state(f);
	if (stats)
		*stats = st;
	return rc;
}
