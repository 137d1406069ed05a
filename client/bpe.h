/*
 * bpe.h: GPT-2's byte-level BPE tokenizer (`assay tokens`, docs/tokens.md).
 *
 * Text is turned into token ids in three steps, as OpenAI's encoder.py
 * and the npm package gpt-3-encoder do:
 *  1. the pre-tokenizer regex splits the text into pieces (words with
 *     their leading space, digit runs, punctuation runs, whitespace);
 *  2. each piece's bytes start as one token each (the 256 single-byte
 *     tokens of the vocabulary);
 *  3. the adjacent pair with the lowest merge rank is joined everywhere
 *     in the piece, left to right, until no adjacent pair has a rank.
 * Decoding concatenates the ids' bytes.
 *
 * The vocabulary is GPT-2's encoder.json (a JSON object token -> id)
 * and vocab.bpe (a "#version" line, then one "left right" merge per
 * line, ranked by order).  Tokens are written in GPT-2's byte alphabet:
 * bytes 33..126, 161..172 and 174..255 stand for themselves, the other
 * 68 bytes, in order, for U+0100..U+0143.
 *
 * Text must be UTF-8 (RFC 3629): other bytes are refused (BPE_ERR_UTF8)
 * rather than guessed at, as the reference works on JavaScript strings.
 * Decoding returns bytes, which need not be UTF-8 when ids split a
 * character.  Special tokens such as <|endoftext|> are not recognised in
 * text: they are encoded as the characters they are written with.
 *
 * Conventions (as kernels.h): outputs before inputs, a length after its
 * pointer; every function that can fail returns an enum bpe_err (BPE_OK
 * is 0) and is warn_unused_result; a `struct bpe_diag *` may be NULL and
 * otherwise receives one lower-case line naming what failed and why; no
 * other pointer may be NULL unless its comment says so (BPE_ERR_ARG).
 * No function does I/O: files are read by the caller.
 *
 * Thread safety: a loaded `struct bpe` is never written again; any
 * number of threads may encode and decode with it at once.
 */
#ifndef ASSAY_BPE_H
#define ASSAY_BPE_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define BPE_WUR __attribute__((warn_unused_result))
#else
#define BPE_WUR
#endif

/* ------------------------------------------------------------------ */
/* Limits: every bound this module enforces, each with its own error.   */

/* encoder.json: 8 MiB.  GPT-2's is 1,042,301 bytes.  (BPE_ERR_VOCAB_BYTES) */
#define BPE_VOCAB_BYTES_MAX (8u * 1024u * 1024u)
/* Tokens in the vocabulary, and every id is below it: 2^18.  GPT-2 has
 * 50,257; ids index a table of this many entries.  (BPE_ERR_VOCAB_TOKENS) */
#define BPE_VOCAB_TOKENS_MAX 262144u
/* Bytes of one vocabulary token: 1024.  GPT-2's longest is 128 bytes.
 * (BPE_ERR_TOKEN_BYTES) */
#define BPE_TOKEN_BYTES_MAX 1024u
/* vocab.bpe: 8 MiB.  GPT-2's is 456,318 bytes.  (BPE_ERR_MERGES_BYTES) */
#define BPE_MERGES_BYTES_MAX (8u * 1024u * 1024u)
/* Merge lines: 2^18.  GPT-2 has 50,000.  (BPE_ERR_MERGES_COUNT) */
#define BPE_MERGES_MAX 262144u
/* Text to encode, and text a decode may produce: 1 MiB, about 250,000
 * GPT-2 tokens, 250 times its context.  One bound both ways: whatever
 * decode returns can be encoded again.  (BPE_ERR_TEXT_BYTES) */
#define BPE_TEXT_BYTES_MAX (1024u * 1024u)
/* One pre-tokenizer piece (a run of letters, digits, punctuation or
 * whitespace): 16 KiB.  The merge loop's steps can grow with the square
 * of its length (16 KiB of random letters take a few hundredths of a
 * second).  (BPE_ERR_PIECE_BYTES) */
#define BPE_PIECE_BYTES_MAX 16384u
/* Ids to decode: as many as encode can make, one per text byte.
 * (BPE_ERR_IDS_COUNT) */
#define BPE_IDS_MAX BPE_TEXT_BYTES_MAX
/* A JSON array of ids: 16 MiB, BPE_IDS_MAX ids of 6 digits, a comma and
 * a space each, with room to spare.  (BPE_ERR_IDS_BYTES) */
#define BPE_IDS_JSON_BYTES_MAX (16u * 1024u * 1024u)

#define BPE_DIAG_BYTES 256

enum bpe_err {
	BPE_OK = 0,
	BPE_ERR_ARG,            /* misuse by the caller */
	BPE_ERR_NOMEM,          /* allocation failed */
	BPE_ERR_VOCAB,          /* encoder.json is not GPT-2's form (see diag) */
	BPE_ERR_MERGES,         /* vocab.bpe is not GPT-2's form (see diag) */
	BPE_ERR_UTF8,           /* the text is not UTF-8 */
	BPE_ERR_UNKNOWN_ID,     /* an id that is not in the vocabulary */
	BPE_ERR_IDS,            /* not a JSON array of non-negative integers */
	BPE_ERR_REGEX,          /* PCRE2 failed: a bug or an exhausted limit */
	/* Limits (above), one code each. */
	BPE_ERR_VOCAB_BYTES,
	BPE_ERR_VOCAB_TOKENS,
	BPE_ERR_TOKEN_BYTES,
	BPE_ERR_MERGES_BYTES,
	BPE_ERR_MERGES_COUNT,
	BPE_ERR_TEXT_BYTES,
	BPE_ERR_PIECE_BYTES,
	BPE_ERR_IDS_COUNT,
	BPE_ERR_IDS_BYTES,
	BPE_ERR_COUNT_          /* not an error: the number of codes */
};

/* Never NULL; "unknown error" for a value out of range. */
const char *bpe_strerror(enum bpe_err err);
/* Stable short identifier such as "utf8"; never NULL. */
const char *bpe_errname(enum bpe_err err);

struct bpe_diag {
	char msg[BPE_DIAG_BYTES];
};

/* A loaded vocabulary: token bytes by id, ids by token bytes, the merge
 * ranks and the compiled pre-tokenizer.  Opaque; made by bpe_load. */
struct bpe;

/*
 * Loads encoder.json (`vocab`, vocab_len bytes, not NUL-terminated) and
 * vocab.bpe (`merges`, merges_len bytes).  `merges` may be NULL (and
 * merges_len 0): the result can only decode.  The vocabulary must hold
 * every single byte as a token, ids must be distinct integers below
 * BPE_VOCAB_TOKENS_MAX, and both halves and the join of every merge must
 * be tokens.  On success *out is the caller's, to free with bpe_free; on
 * failure *out is NULL.
 * Errors: BPE_ERR_ARG, BPE_ERR_NOMEM, BPE_ERR_VOCAB, BPE_ERR_MERGES,
 * BPE_ERR_REGEX, BPE_ERR_VOCAB_BYTES, BPE_ERR_VOCAB_TOKENS,
 * BPE_ERR_TOKEN_BYTES, BPE_ERR_MERGES_BYTES, BPE_ERR_MERGES_COUNT.
 */
BPE_WUR enum bpe_err bpe_load(struct bpe **out, struct bpe_diag *diag,
			      const char *vocab, size_t vocab_len,
			      const char *merges, size_t merges_len);
/* Frees everything bpe_load made; NULL is fine. */
void bpe_free(struct bpe *b);
/* Number of merges loaded (0 for a decode-only vocabulary). */
size_t bpe_merge_count(const struct bpe *b);

/*
 * Encodes text_len bytes of UTF-8 (NUL bytes included) into *ids, a
 * malloc'd array of *n_ids ids the caller frees (never NULL on success,
 * even for no ids).  On failure *ids is NULL and *n_ids 0.
 * Errors: BPE_ERR_ARG (also: loaded without merges), BPE_ERR_NOMEM,
 * BPE_ERR_UTF8, BPE_ERR_TEXT_BYTES, BPE_ERR_PIECE_BYTES, BPE_ERR_REGEX.
 */
BPE_WUR enum bpe_err bpe_encode(uint32_t **ids, size_t *n_ids, struct bpe_diag *diag,
				const struct bpe *b, const char *text, size_t text_len);

/*
 * Decodes n_ids ids into *text, a malloc'd buffer of *text_len bytes
 * plus a NUL the caller frees.  `ids` may be NULL when n_ids is 0.  On
 * failure *text is NULL and *text_len 0.
 * Errors: BPE_ERR_ARG, BPE_ERR_NOMEM, BPE_ERR_UNKNOWN_ID,
 * BPE_ERR_IDS_COUNT, BPE_ERR_TEXT_BYTES.
 */
BPE_WUR enum bpe_err bpe_decode(char **text, size_t *text_len, struct bpe_diag *diag,
				const struct bpe *b, const uint32_t *ids, size_t n_ids);

/*
 * Parses a JSON array of non-negative integers below 2^32 (json_len
 * bytes, not NUL-terminated) into *ids as bpe_encode makes it.  Whether
 * each id is in a vocabulary is bpe_decode's to check.
 * Errors: BPE_ERR_ARG, BPE_ERR_NOMEM, BPE_ERR_IDS, BPE_ERR_IDS_BYTES,
 * BPE_ERR_IDS_COUNT.
 */
BPE_WUR enum bpe_err bpe_ids_parse(uint32_t **ids, size_t *n_ids, struct bpe_diag *diag,
				   const char *json, size_t json_len);

/*
 * Formats ids as a compact JSON array ("[15496,995]") into *json, a
 * malloc'd NUL-terminated string of *json_len bytes the caller frees.
 * Errors: BPE_ERR_ARG, BPE_ERR_NOMEM, BPE_ERR_IDS_COUNT.
 */
BPE_WUR enum bpe_err bpe_ids_format(char **json, size_t *json_len,
				    const uint32_t *ids, size_t n_ids);

#endif
