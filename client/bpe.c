/*
 * bpe.c: GPT-2's byte-level BPE (bpe.h).
 *
 * Invariants of a loaded struct bpe:
 * - tok_len[id] > 0 exactly for the ids of the vocabulary, all below
 *   id_end; the token's bytes are arena[tok_off[id] ..+ tok_len[id]);
 * - vocab_slots finds each token's id by its bytes (open addressing, at
 *   most half full); no two ids have the same bytes;
 * - byte_id[c] is the id of the one-byte token c, for every byte c;
 * - merge_slots maps (left id, right id) to the pair's rank and the id
 *   of the joined token (open addressing, at most half full); the ranks
 *   are distinct and below merge_count, so a rank names one pair;
 * - nothing is written after bpe_load returns.
 *
 * The pre-tokenizer is GPT-2's pattern with \s spelled out as the
 * ECMAScript set that gpt-3-encoder's /u regex uses: PCRE2's \s under
 * PCRE2_UCP also takes U+0085 and U+180E and leaves out U+FEFF
 * (docs/tokens.md).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <jansson.h>

#include "bpe.h"
#include "assay_assert.h"
#include "banned.h"

#define BPE_NONE UINT32_MAX          /* no rank: the pair does not merge */
#define BPE_DIRTY (UINT32_MAX - 1)   /* a pair's rank not looked up yet */
/* GPT-2's byte alphabet: code points U+0000..U+0143. */
#define BPE_MAP_CPS 324
/* How much of a token a message quotes. */
#define BPE_QUOTE_BYTES 40

#define BPE_WS "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}" \
	"\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}"
static const char BPE_PATTERN[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" BPE_WS "\\p{L}\\p{N}]+"
	"|[" BPE_WS "]+(?![^" BPE_WS "])|[" BPE_WS "]+";

struct bpe_merge {
	uint64_t pair;      /* left id << 32 | right id */
	uint32_t rank;      /* BPE_NONE: an empty slot */
	uint32_t joined;    /* the id of left's bytes then right's */
};

struct bpe {
	uint32_t id_end;
	uint32_t *tok_off;              /* [BPE_VOCAB_TOKENS_MAX] */
	uint16_t *tok_len;              /* [BPE_VOCAB_TOKENS_MAX] */
	uint8_t *arena;
	size_t arena_len, arena_cap;
	uint32_t *vocab_slots;          /* id + 1; 0 is an empty slot */
	size_t vocab_mask;
	uint32_t byte_id[256];
	int16_t byte_of_cp[BPE_MAP_CPS];
	struct bpe_merge *merge_slots;
	size_t merge_mask, merge_count;
	pcre2_code *re;                 /* NULL: loaded without merges */
};

/* Per encode call: one piece's tokens and the ranks of its pairs. */
struct bpe_scratch {
	uint32_t *word;
	uint32_t *rank;
};

static const struct {
	const char *name, *text;
} errtab[BPE_ERR_COUNT_] = {
	[BPE_OK] = { "ok", "success" },
	[BPE_ERR_ARG] = { "arg", "invalid argument" },
	[BPE_ERR_NOMEM] = { "nomem", "out of memory" },
	[BPE_ERR_VOCAB] = { "vocab", "the vocabulary is not GPT-2's encoder.json form" },
	[BPE_ERR_MERGES] = { "merges", "the merges are not GPT-2's vocab.bpe form" },
	[BPE_ERR_UTF8] = { "utf8", "the text is not UTF-8" },
	[BPE_ERR_UNKNOWN_ID] = { "unknown-id", "an id is not in the vocabulary" },
	[BPE_ERR_IDS] = { "ids", "not a JSON array of non-negative integers" },
	[BPE_ERR_REGEX] = { "regex", "the pre-tokenizer failed" },
	[BPE_ERR_VOCAB_BYTES] = { "vocab-bytes", "the vocabulary file is too large" },
	[BPE_ERR_VOCAB_TOKENS] = { "vocab-tokens", "too many tokens or an id too large" },
	[BPE_ERR_TOKEN_BYTES] = { "token-bytes", "a vocabulary token is too long" },
	[BPE_ERR_MERGES_BYTES] = { "merges-bytes", "the merges file is too large" },
	[BPE_ERR_MERGES_COUNT] = { "merges-count", "too many merges" },
	[BPE_ERR_TEXT_BYTES] = { "text-bytes", "the text is too long" },
	[BPE_ERR_PIECE_BYTES] = { "piece-bytes", "a word or run of the text is too long" },
	[BPE_ERR_IDS_COUNT] = { "ids-count", "too many ids" },
	[BPE_ERR_IDS_BYTES] = { "ids-bytes", "the ids' JSON is too large" },
};

const char *bpe_strerror(enum bpe_err err)
{
	if ((unsigned)err >= BPE_ERR_COUNT_ || errtab[err].text == NULL)
		return "unknown error";
	return errtab[err].text;
}

const char *bpe_errname(enum bpe_err err)
{
	if ((unsigned)err >= BPE_ERR_COUNT_ || errtab[err].name == NULL)
		return "unknown";
	return errtab[err].name;
}

__attribute__((format(printf, 2, 3)))
static void bpe_diagf(struct bpe_diag *d, const char *fmt, ...)
{
	va_list ap;

	if (d == NULL)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(d->msg, sizeof d->msg, fmt, ap);
	va_end(ap);
	/* One line whatever a token held: control bytes become '?'. */
	for (char *c = d->msg; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

/* The first BPE_QUOTE_BYTES bytes of s (n bytes, UTF-8), cut at a
 * character boundary, "..." after them when cut: for messages. */
static const char *quote(char out[BPE_QUOTE_BYTES + 4], const char *s, size_t n)
{
	size_t k = n;

	if (k > BPE_QUOTE_BYTES) {
		k = BPE_QUOTE_BYTES;
		while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
			k--;
	}
	memcpy(out, s, k);
	memcpy(out + k, k < n ? "..." : "", k < n ? 4 : 1);
	return out;
}

/* ------------------------------------------------------------------ */
/* UTF-8 and GPT-2's byte alphabet                                      */

/* The code point at s (len > 0 bytes) into *cp; returns its length, or 0
 * when s does not start with well-formed UTF-8 (RFC 3629: shortest form,
 * no surrogates, nothing past U+10FFFF). */
static size_t utf8_next(uint32_t *cp, const uint8_t *s, size_t len)
{
	uint32_t c = s[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2, c &= 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3, c &= 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3Fu);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

/* The offset of the first byte of s that is not well-formed UTF-8, or
 * len when all are. */
static size_t utf8_valid_prefix(const uint8_t *s, size_t len)
{
	size_t off = 0;
	uint32_t cp;

	while (off < len) {
		size_t n = utf8_next(&cp, s + off, len - off);
		if (n == 0)
			return off;
		off += n;
	}
	return off;
}

/* GPT-2's bytes_to_unicode(), inverted: the printable bytes stand for
 * themselves, the other 68, in order, for U+0100 and up. */
static void bytemap_init(struct bpe *b)
{
	unsigned n = 0;

	for (size_t i = 0; i < BPE_MAP_CPS; i++)
		b->byte_of_cp[i] = -1;
	for (unsigned c = 0; c < 256; c++) {
		int self = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174;
		unsigned cp = self ? c : 256 + n++;

		ASSAY_ASSERT(cp < BPE_MAP_CPS && b->byte_of_cp[cp] == -1);
		b->byte_of_cp[cp] = (int16_t)c;
	}
	ASSAY_ASSERT(n == BPE_MAP_CPS - 256);
}

/* The bytes of a token written in the byte alphabet (s, n bytes) into
 * out (BPE_TOKEN_BYTES_MAX).  BPE_ERR_VOCAB: a character outside the
 * alphabet (or not UTF-8); BPE_ERR_TOKEN_BYTES: too long. */
static enum bpe_err token_bytes(uint8_t *out, size_t *out_len, const struct bpe *b,
				const char *s, size_t n)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t off = 0, k = 0;
	uint32_t cp;

	while (off < n) {
		size_t step = utf8_next(&cp, p + off, n - off);

		if (step == 0 || cp >= BPE_MAP_CPS || b->byte_of_cp[cp] < 0)
			return BPE_ERR_VOCAB;
		if (k == BPE_TOKEN_BYTES_MAX)
			return BPE_ERR_TOKEN_BYTES;
		out[k++] = (uint8_t)b->byte_of_cp[cp];
		off += step;
	}
	*out_len = k;
	return BPE_OK;
}

/* ------------------------------------------------------------------ */
/* The two tables                                                       */

/* FNV-1a, 64 bits: the vocabulary comes from a local file, not a peer. */
static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* splitmix64's finaliser. */
static uint64_t mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The slot for these bytes: the token's, or the empty one to fill. */
static uint32_t *vocab_slot(const struct bpe *b, const uint8_t *p, size_t n)
{
	size_t i = (size_t)hash_bytes(p, n) & b->vocab_mask;

	for (;;) {
		uint32_t *s = &b->vocab_slots[i];

		if (*s == 0)
			return s;
		if (b->tok_len[*s - 1] == n && memcmp(b->arena + b->tok_off[*s - 1], p, n) == 0)
			return s;
		i = (i + 1) & b->vocab_mask;
	}
}

/* The id of the token with these bytes, or BPE_NONE. */
static uint32_t vocab_find(const struct bpe *b, const uint8_t *p, size_t n)
{
	uint32_t s = *vocab_slot(b, p, n);

	return s ? s - 1 : BPE_NONE;
}

static struct bpe_merge *merge_slot(const struct bpe *b, uint64_t pair)
{
	size_t i = (size_t)mix64(pair) & b->merge_mask;

	for (;;) {
		struct bpe_merge *m = &b->merge_slots[i];

		if (m->rank == BPE_NONE || m->pair == pair)
			return m;
		i = (i + 1) & b->merge_mask;
	}
}

/* The power of two at least twice n (and at least 16): a table that
 * stays at most half full. */
static size_t table_size(size_t n)
{
	size_t s = 16;

	while (s < 2 * n)
		s *= 2;
	return s;
}

/* ------------------------------------------------------------------ */
/* encoder.json                                                         */

static enum bpe_err vocab_alloc(struct bpe *b, size_t tokens, size_t text_len)
{
	b->tok_off = calloc(BPE_VOCAB_TOKENS_MAX, sizeof *b->tok_off);
	b->tok_len = calloc(BPE_VOCAB_TOKENS_MAX, sizeof *b->tok_len);
	/* A token's bytes are never more than its key's bytes in the text:
	 * each takes one character of it at least. */
	b->arena_cap = text_len;
	b->arena = malloc(text_len ? text_len : 1);
	b->vocab_mask = table_size(tokens) - 1;
	b->vocab_slots = calloc(b->vocab_mask + 1, sizeof *b->vocab_slots);
	if (!b->tok_off || !b->tok_len || !b->arena || !b->vocab_slots)
		return BPE_ERR_NOMEM;
	return BPE_OK;
}

/* Adds one "token": id entry of encoder.json. */
static enum bpe_err vocab_add(struct bpe *b, struct bpe_diag *d, const char *key, const json_t *val)
{
	uint8_t bytes[BPE_TOKEN_BYTES_MAX];
	char q[BPE_QUOTE_BYTES + 4];
	size_t n = 0, klen = strlen(key);
	json_int_t id = json_is_integer(val) ? json_integer_value(val) : -1;
	uint32_t *slot;
	enum bpe_err rc;

	if (id < 0) {
		bpe_diagf(d, "vocabulary: token \"%s\": the id is not a non-negative integer",
			  quote(q, key, klen));
		return BPE_ERR_VOCAB;
	}
	if (id >= (json_int_t)BPE_VOCAB_TOKENS_MAX) {
		bpe_diagf(d, "vocabulary: token \"%s\": id %lld is over the limit of %u",
			  quote(q, key, klen), (long long)id, BPE_VOCAB_TOKENS_MAX - 1);
		return BPE_ERR_VOCAB_TOKENS;
	}
	rc = token_bytes(bytes, &n, b, key, klen);
	if (rc == BPE_ERR_TOKEN_BYTES)
		bpe_diagf(d, "vocabulary: token \"%s\" is longer than %u bytes",
			  quote(q, key, klen), BPE_TOKEN_BYTES_MAX);
	else if (rc)
		bpe_diagf(d, "vocabulary: token \"%s\" has a character outside GPT-2's byte alphabet",
			  quote(q, key, klen));
	if (rc)
		return rc;
	if (n == 0) {
		bpe_diagf(d, "vocabulary: the empty token (id %lld)", (long long)id);
		return BPE_ERR_VOCAB;
	}
	if (b->tok_len[id]) {
		bpe_diagf(d, "vocabulary: token \"%s\" has the id %lld of another token",
			  quote(q, key, klen), (long long)id);
		return BPE_ERR_VOCAB;
	}
	slot = vocab_slot(b, bytes, n);
	if (*slot != 0) {
		bpe_diagf(d, "vocabulary: token \"%s\" is there twice", quote(q, key, klen));
		return BPE_ERR_VOCAB;
	}
	ASSAY_ASSERT(b->arena_len + n <= b->arena_cap);
	memcpy(b->arena + b->arena_len, bytes, n);
	b->tok_off[id] = (uint32_t)b->arena_len;
	b->tok_len[id] = (uint16_t)n;
	b->arena_len += n;
	*slot = (uint32_t)id + 1;
	if ((uint32_t)id >= b->id_end)
		b->id_end = (uint32_t)id + 1;
	return BPE_OK;
}

/* Every byte must be a token of its own: a piece starts as its bytes. */
static enum bpe_err vocab_check_bytes(struct bpe *b, struct bpe_diag *d)
{
	for (unsigned c = 0; c < 256; c++) {
		uint8_t byte = (uint8_t)c;

		b->byte_id[c] = vocab_find(b, &byte, 1);
		if (b->byte_id[c] == BPE_NONE) {
			bpe_diagf(d, "vocabulary: no token for the single byte 0x%02x", c);
			return BPE_ERR_VOCAB;
		}
	}
	return BPE_OK;
}

static enum bpe_err vocab_load(struct bpe *b, struct bpe_diag *d, const char *text, size_t len)
{
	json_error_t je;
	json_t *root, *val;
	const char *key;
	enum bpe_err rc;

	if (len > BPE_VOCAB_BYTES_MAX) {
		bpe_diagf(d, "vocabulary: %zu bytes, over the limit of %u", len, BPE_VOCAB_BYTES_MAX);
		return BPE_ERR_VOCAB_BYTES;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		bpe_diagf(d, "vocabulary: not JSON: %s at line %d column %d", je.text, je.line,
			  je.column);
		return BPE_ERR_VOCAB;
	}
	if (!json_is_object(root)) {
		bpe_diagf(d, "vocabulary: not a JSON object of token -> id");
		rc = BPE_ERR_VOCAB;
		goto out;
	}
	if (json_object_size(root) > BPE_VOCAB_TOKENS_MAX) {
		bpe_diagf(d, "vocabulary: %zu tokens, over the limit of %u",
			  json_object_size(root), BPE_VOCAB_TOKENS_MAX);
		rc = BPE_ERR_VOCAB_TOKENS;
		goto out;
	}
	rc = vocab_alloc(b, json_object_size(root), len);
	if (rc)
		goto out;
	json_object_foreach(root, key, val) {
		rc = vocab_add(b, d, key, val);
		if (rc)
			goto out;
	}
	rc = vocab_check_bytes(b, d);
out:
	json_decref(root);
	return rc;
}

/* ------------------------------------------------------------------ */
/* vocab.bpe                                                            */

/* The id of one half of merge line `line` (s, n bytes), or BPE_NONE
 * after saying why. */
static uint32_t merge_half(struct bpe_diag *d, enum bpe_err *rc, const struct bpe *b,
			   uint8_t *bytes, size_t *blen, size_t line, const char *s, size_t n)
{
	char q[BPE_QUOTE_BYTES + 4];
	uint32_t id;

	*rc = token_bytes(bytes, blen, b, s, n);
	if (*rc == BPE_ERR_TOKEN_BYTES) {
		bpe_diagf(d, "merges line %zu: \"%s\" is longer than %u bytes", line,
			  quote(q, s, n), BPE_TOKEN_BYTES_MAX);
		return BPE_NONE;
	}
	if (*rc) {
		*rc = BPE_ERR_MERGES;
		bpe_diagf(d, "merges line %zu: \"%s\" has a character outside GPT-2's byte alphabet",
			  line, quote(q, s, n));
		return BPE_NONE;
	}
	id = vocab_find(b, bytes, *blen);
	if (id == BPE_NONE) {
		*rc = BPE_ERR_MERGES;
		bpe_diagf(d, "merges line %zu: \"%s\" is not in the vocabulary", line, quote(q, s, n));
	}
	return id;
}

/* Adds merge line `line` (s, n bytes without its newline) at the next rank. */
static enum bpe_err merge_add(struct bpe *b, struct bpe_diag *d, size_t line, const char *s, size_t n)
{
	const char *sp = memchr(s, ' ', n);
	uint8_t bytes[2 * BPE_TOKEN_BYTES_MAX];
	char q[BPE_QUOTE_BYTES + 4];
	size_t ll = 0, rl = 0, ln;
	uint32_t left, right, joined;
	struct bpe_merge *m;
	enum bpe_err rc;

	ln = sp ? (size_t)(sp - s) : 0;
	if (!sp || ln == 0 || ln + 1 == n || memchr(sp + 1, ' ', n - ln - 1)) {
		bpe_diagf(d, "merges line %zu: not two tokens separated by one space", line);
		return BPE_ERR_MERGES;
	}
	left = merge_half(d, &rc, b, bytes, &ll, line, s, ln);
	if (left == BPE_NONE)
		return rc;
	right = merge_half(d, &rc, b, bytes + ll, &rl, line, sp + 1, n - ln - 1);
	if (right == BPE_NONE)
		return rc;
	joined = ll + rl <= BPE_TOKEN_BYTES_MAX ? vocab_find(b, bytes, ll + rl) : BPE_NONE;
	if (joined == BPE_NONE) {
		bpe_diagf(d, "merges line %zu: the join of \"%s\" is not in the vocabulary", line,
			  quote(q, s, n));
		return BPE_ERR_MERGES;
	}
	m = merge_slot(b, (uint64_t)left << 32 | right);
	if (m->rank != BPE_NONE) {
		bpe_diagf(d, "merges line %zu repeats line %zu", line, (size_t)m->rank + 2);
		return BPE_ERR_MERGES;
	}
	ASSAY_ASSERT(b->merge_count < BPE_MERGES_MAX);
	m->pair = (uint64_t)left << 32 | right;
	m->rank = (uint32_t)b->merge_count++;
	m->joined = joined;
	return BPE_OK;
}

/* The form of the whole file, and room for its merges. */
static enum bpe_err merges_begin(struct bpe *b, struct bpe_diag *d, const char *text, size_t len)
{
	size_t bad, lines = 0;

	if (len > BPE_MERGES_BYTES_MAX) {
		bpe_diagf(d, "merges: %zu bytes, over the limit of %u", len, BPE_MERGES_BYTES_MAX);
		return BPE_ERR_MERGES_BYTES;
	}
	bad = utf8_valid_prefix((const uint8_t *)text, len);
	if (bad < len) {
		bpe_diagf(d, "merges: not UTF-8 at byte %zu", bad);
		return BPE_ERR_MERGES;
	}
	if (len < 8 || memcmp(text, "#version", 8) != 0) {
		bpe_diagf(d, "merges: the first line is not a \"#version\" comment");
		return BPE_ERR_MERGES;
	}
	/* The references drop the last line, meant to be the empty one
	 * after the last newline: a file cut short would lose a merge. */
	if (text[len - 1] != '\n') {
		bpe_diagf(d, "merges: the last line does not end with a newline");
		return BPE_ERR_MERGES;
	}
	for (const char *p = text; (p = memchr(p, '\n', len - (size_t)(p - text))) != NULL; p++)
		lines++;
	if (lines - 1 > BPE_MERGES_MAX) {
		bpe_diagf(d, "merges: %zu lines, over the limit of %u merges", lines - 1,
			  BPE_MERGES_MAX);
		return BPE_ERR_MERGES_COUNT;
	}
	b->merge_mask = table_size(lines - 1) - 1;
	b->merge_slots = malloc((b->merge_mask + 1) * sizeof *b->merge_slots);
	if (!b->merge_slots)
		return BPE_ERR_NOMEM;
	for (size_t i = 0; i <= b->merge_mask; i++)
		b->merge_slots[i].rank = BPE_NONE;
	return BPE_OK;
}

static enum bpe_err merges_load(struct bpe *b, struct bpe_diag *d, const char *text, size_t len)
{
	const char *p, *end = text + len, *eol;
	size_t line = 2;
	enum bpe_err rc = merges_begin(b, d, text, len);

	if (rc)
		return rc;
	p = (const char *)memchr(text, '\n', len) + 1;
	/* Each line ends with a newline (merges_begin): the loop ends. */
	for (; p < end; p = eol + 1, line++) {
		eol = memchr(p, '\n', (size_t)(end - p));
		ASSAY_ASSERT(eol != NULL);
		rc = merge_add(b, d, line, p, (size_t)(eol - p));
		if (rc)
			return rc;
	}
	return BPE_OK;
}

static enum bpe_err regex_compile(struct bpe *b, struct bpe_diag *d)
{
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE off;
	int err;

	/* Anchored: each match must start where the previous one ended. */
	b->re = pcre2_compile((PCRE2_SPTR)BPE_PATTERN, PCRE2_ZERO_TERMINATED,
			      PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &off, NULL);
	if (!b->re) {
		if (pcre2_get_error_message(err, msg, sizeof msg) < 0)
			msg[0] = '\0';
		bpe_diagf(d, "pre-tokenizer regex: %s at offset %zu", (const char *)msg, (size_t)off);
		return BPE_ERR_REGEX;
	}
	/* JIT only makes it faster: without it (no JIT for this CPU, or no
	 * executable memory) the interpreter gives the same matches. */
	(void)pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE);
	return BPE_OK;
}

enum bpe_err bpe_load(struct bpe **out, struct bpe_diag *diag,
		      const char *vocab, size_t vocab_len,
		      const char *merges, size_t merges_len)
{
	struct bpe *b;
	enum bpe_err rc;

	if (diag)
		diag->msg[0] = '\0';
	if (!out || !vocab || (!merges && merges_len))
		return BPE_ERR_ARG;
	*out = NULL;
	b = calloc(1, sizeof *b);
	if (!b)
		return BPE_ERR_NOMEM;
	bytemap_init(b);
	rc = vocab_load(b, diag, vocab, vocab_len);
	if (!rc && merges)
		rc = merges_load(b, diag, merges, merges_len);
	if (!rc && merges)
		rc = regex_compile(b, diag);
	if (rc) {
		if (rc == BPE_ERR_NOMEM)
			bpe_diagf(diag, "out of memory loading the vocabulary");
		bpe_free(b);
		return rc;
	}
	ASSAY_ASSERT(b->id_end > 0 && b->id_end <= BPE_VOCAB_TOKENS_MAX);
	*out = b;
	return BPE_OK;
}

void bpe_free(struct bpe *b)
{
	if (!b)
		return;
	pcre2_code_free(b->re);
	free(b->merge_slots);
	free(b->vocab_slots);
	free(b->arena);
	free(b->tok_len);
	free(b->tok_off);
	free(b);
}

size_t bpe_merge_count(const struct bpe *b)
{
	return b ? b->merge_count : 0;
}

/* ------------------------------------------------------------------ */
/* Encoding                                                             */

/* Looks up the rank of every pair not looked up yet; returns the index
 * of the pair with the lowest rank, or n when no pair merges. */
static size_t pick_lowest(uint32_t *rank, const uint32_t *w, size_t n, const struct bpe *b)
{
	uint32_t min = BPE_NONE;
	size_t best = n;

	for (size_t i = 0; i + 1 < n; i++) {
		if (rank[i] == BPE_DIRTY) {
			const struct bpe_merge *m = merge_slot(b, (uint64_t)w[i] << 32 | w[i + 1]);
			rank[i] = m->rank;
		}
		if (rank[i] < min) {
			min = rank[i];
			best = i;
		}
	}
	return best;
}

/* Joins every occurrence of the pair of rank `r` into `joined`, left to
 * right (in "a a a" only the first two join), as encoder.py does; the
 * pairs around a join are looked up again.  Returns the new length. */
static size_t join_all(uint32_t *w, uint32_t *rank, size_t n, uint32_t r, uint32_t joined)
{
	size_t i = 0, j = 0;

	while (i < n) {
		if (i + 1 < n && rank[i] == r) {
			w[j] = joined;
			rank[j] = BPE_DIRTY;
			if (j > 0)
				rank[j - 1] = BPE_DIRTY;
			i += 2;
		} else {
			w[j] = w[i];
			rank[j] = rank[i];
			i++;
		}
		j++;
	}
	ASSAY_ASSERT(j < n);
	return j;
}

/* The merge loop on one piece (n bytes, 1 <= n <= BPE_PIECE_BYTES_MAX):
 * appends its ids to out and returns how many.  At most n - 1 rounds,
 * as each joins at least one pair. */
static size_t merge_piece(uint32_t *out, struct bpe_scratch *s, const struct bpe *b,
			  const uint8_t *p, size_t n)
{
	uint32_t *w = s->word, *rank = s->rank;

	ASSAY_ASSERT(n >= 1 && n <= BPE_PIECE_BYTES_MAX);
	for (size_t i = 0; i < n; i++) {
		w[i] = b->byte_id[p[i]];
		rank[i] = BPE_DIRTY;
	}
	while (n > 1) {
		size_t best = pick_lowest(rank, w, n, b);
		const struct bpe_merge *m;

		if (best == n)
			break;
		m = merge_slot(b, (uint64_t)w[best] << 32 | w[best + 1]);
		ASSAY_ASSERT(m->rank == rank[best]);
		n = join_all(w, rank, n, m->rank, m->joined);
	}
	memcpy(out, w, n * sizeof *w);
	return n;
}

/* The end of the pre-tokenizer's piece that starts at `off`. */
static enum bpe_err next_piece(size_t *end, struct bpe_diag *d, const struct bpe *b,
			       pcre2_match_data *md, const char *text, size_t len, size_t off)
{
	PCRE2_UCHAR msg[120];
	PCRE2_SIZE *ov;
	int r;

	/* The text was checked once: no UTF-8 check per piece. */
	r = pcre2_match(b->re, (PCRE2_SPTR)text, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
	if (r < 0) {
		if (pcre2_get_error_message(r, msg, sizeof msg) < 0)
			msg[0] = '\0';
		bpe_diagf(d, "pre-tokenizer at byte %zu: %s", off, (const char *)msg);
		return BPE_ERR_REGEX;
	}
	ov = pcre2_get_ovector_pointer(md);
	/* Every character is a letter, a digit, a space or none of these,
	 * so a piece always starts here and is never empty. */
	if (ov[0] != off || ov[1] <= off || ov[1] > len) {
		bpe_diagf(d, "pre-tokenizer: no piece at byte %zu", off);
		return BPE_ERR_REGEX;
	}
	*end = ov[1];
	return BPE_OK;
}

/* The argument checks of bpe_encode. */
static enum bpe_err encode_check(struct bpe_diag *d, const struct bpe *b,
				 const char *text, size_t text_len)
{
	size_t bad;

	if (!b->re) {
		bpe_diagf(d, "no merges were loaded: this vocabulary only decodes");
		return BPE_ERR_ARG;
	}
	if (text_len > BPE_TEXT_BYTES_MAX) {
		bpe_diagf(d, "text: %zu bytes, over the limit of %u", text_len, BPE_TEXT_BYTES_MAX);
		return BPE_ERR_TEXT_BYTES;
	}
	bad = utf8_valid_prefix((const uint8_t *)text, text_len);
	if (bad < text_len) {
		bpe_diagf(d, "text: not UTF-8 at byte %zu (0x%02x)", bad, (unsigned char)text[bad]);
		return BPE_ERR_UTF8;
	}
	return BPE_OK;
}

enum bpe_err bpe_encode(uint32_t **ids, size_t *n_ids, struct bpe_diag *diag,
			const struct bpe *b, const char *text, size_t text_len)
{
	struct bpe_scratch s = { NULL, NULL };
	pcre2_match_data *md = NULL;
	uint32_t *out = NULL;
	size_t off = 0, n = 0, end;
	enum bpe_err rc;

	if (diag)
		diag->msg[0] = '\0';
	if (!ids || !n_ids || !b || (!text && text_len))
		return BPE_ERR_ARG;
	*ids = NULL;
	*n_ids = 0;
	rc = encode_check(diag, b, text, text_len);
	if (rc)
		return rc;
	/* A piece never makes more ids than it has bytes. */
	out = malloc((text_len ? text_len : 1) * sizeof *out);
	s.word = malloc(BPE_PIECE_BYTES_MAX * sizeof *s.word);
	s.rank = malloc(BPE_PIECE_BYTES_MAX * sizeof *s.rank);
	md = pcre2_match_data_create_from_pattern(b->re, NULL);
	rc = BPE_ERR_NOMEM;
	if (!out || !s.word || !s.rank || !md)
		goto out;
	/* Each round moves off forward by one piece: at most text_len rounds. */
	while (off < text_len) {
		rc = next_piece(&end, diag, b, md, text, text_len, off);
		if (rc)
			goto out;
		if (end - off > BPE_PIECE_BYTES_MAX) {
			bpe_diagf(diag, "text: the run of %zu bytes at byte %zu is over the limit of %u",
				  end - off, off, BPE_PIECE_BYTES_MAX);
			rc = BPE_ERR_PIECE_BYTES;
			goto out;
		}
		n += merge_piece(out + n, &s, b, (const uint8_t *)text + off, end - off);
		off = end;
	}
	ASSAY_ASSERT(n <= text_len);
	*ids = out;
	*n_ids = n;
	out = NULL;
	rc = BPE_OK;
out:
	if (rc == BPE_ERR_NOMEM)
		bpe_diagf(diag, "out of memory encoding %zu bytes", text_len);
	pcre2_match_data_free(md);
	free(s.rank);
	free(s.word);
	free(out);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Decoding and the ids' JSON                                           */

enum bpe_err bpe_decode(char **text, size_t *text_len, struct bpe_diag *diag,
			const struct bpe *b, const uint32_t *ids, size_t n_ids)
{
	size_t total = 0, k;
	char *buf;

	if (diag)
		diag->msg[0] = '\0';
	if (!text || !text_len || !b || (!ids && n_ids))
		return BPE_ERR_ARG;
	*text = NULL;
	*text_len = 0;
	if (n_ids > BPE_IDS_MAX) {
		bpe_diagf(diag, "ids: %zu, over the limit of %u", n_ids, BPE_IDS_MAX);
		return BPE_ERR_IDS_COUNT;
	}
	for (k = 0; k < n_ids; k++) {
		if (ids[k] >= b->id_end || b->tok_len[ids[k]] == 0) {
			bpe_diagf(diag, "id %u (at index %zu) is not in the vocabulary", ids[k], k);
			return BPE_ERR_UNKNOWN_ID;
		}
		total += b->tok_len[ids[k]];
		if (total > BPE_TEXT_BYTES_MAX) {
			bpe_diagf(diag, "the decoded text is over the limit of %u bytes",
				  BPE_TEXT_BYTES_MAX);
			return BPE_ERR_TEXT_BYTES;
		}
	}
	buf = malloc(total + 1);
	if (!buf) {
		bpe_diagf(diag, "out of memory decoding %zu ids", n_ids);
		return BPE_ERR_NOMEM;
	}
	total = 0;
	for (k = 0; k < n_ids; k++) {
		memcpy(buf + total, b->arena + b->tok_off[ids[k]], b->tok_len[ids[k]]);
		total += b->tok_len[ids[k]];
	}
	buf[total] = '\0';
	*text = buf;
	*text_len = total;
	return BPE_OK;
}

/* Bounds the ids' JSON before jansson builds a value for each element:
 * an array of n numbers has n - 1 commas. */
static enum bpe_err ids_precheck(struct bpe_diag *d, const char *json, size_t len)
{
	size_t commas = 0;

	if (len > BPE_IDS_JSON_BYTES_MAX) {
		bpe_diagf(d, "ids: %zu bytes of JSON, over the limit of %u", len,
			  BPE_IDS_JSON_BYTES_MAX);
		return BPE_ERR_IDS_BYTES;
	}
	for (const char *p = json; (p = memchr(p, ',', len - (size_t)(p - json))) != NULL; p++)
		commas++;
	if (commas >= BPE_IDS_MAX) {
		bpe_diagf(d, "ids: more than the limit of %u", BPE_IDS_MAX);
		return BPE_ERR_IDS_COUNT;
	}
	return BPE_OK;
}

enum bpe_err bpe_ids_parse(uint32_t **ids, size_t *n_ids, struct bpe_diag *diag,
			   const char *json, size_t json_len)
{
	json_error_t je;
	json_t *root = NULL, *v;
	uint32_t *out = NULL;
	size_t k;
	enum bpe_err rc;

	if (diag)
		diag->msg[0] = '\0';
	if (!ids || !n_ids || !json)
		return BPE_ERR_ARG;
	*ids = NULL;
	*n_ids = 0;
	rc = ids_precheck(diag, json, json_len);
	if (rc)
		return rc;
	rc = BPE_ERR_IDS;
	root = json_loadb(json, json_len, 0, &je);
	if (!root) {
		bpe_diagf(diag, "ids: not JSON: %s at byte %d", je.text, je.position);
		goto out;
	}
	if (!json_is_array(root)) {
		bpe_diagf(diag, "ids: not a JSON array");
		goto out;
	}
	out = malloc((json_array_size(root) ? json_array_size(root) : 1) * sizeof *out);
	if (!out) {
		bpe_diagf(diag, "out of memory reading the ids");
		rc = BPE_ERR_NOMEM;
		goto out;
	}
	json_array_foreach(root, k, v) {
		json_int_t id = json_is_integer(v) ? json_integer_value(v) : -1;

		if (id < 0 || (uint64_t)id > UINT32_MAX) {
			bpe_diagf(diag, "ids: element %zu is not an integer from 0 to %u", k,
				  UINT32_MAX);
			goto out;
		}
		out[k] = (uint32_t)id;
	}
	*n_ids = json_array_size(root);
	*ids = out;
	out = NULL;
	rc = BPE_OK;
out:
	free(out);
	json_decref(root);
	return rc;
}

enum bpe_err bpe_ids_format(char **json, size_t *json_len, const uint32_t *ids, size_t n_ids)
{
	/* "[", then at most 10 digits and a comma per id, "]" and a NUL. */
	size_t cap, len = 1;
	char *buf;

	if (!json || !json_len || (!ids && n_ids))
		return BPE_ERR_ARG;
	*json = NULL;
	*json_len = 0;
	if (n_ids > BPE_IDS_MAX)
		return BPE_ERR_IDS_COUNT;
	cap = 3 + 11 * n_ids;
	buf = malloc(cap);
	if (!buf)
		return BPE_ERR_NOMEM;
	buf[0] = '[';
	for (size_t k = 0; k < n_ids; k++) {
		int w = snprintf(buf + len, cap - len, "%s%u", k ? "," : "", ids[k]);

		ASSAY_ASSERT(w > 0 && (size_t)w < cap - len);
		len += (size_t)w;
	}
	ASSAY_ASSERT(len + 2 <= cap);
	buf[len++] = ']';
	buf[len] = '\0';
	*json = buf;
	*json_len = len;
	return BPE_OK;
}
