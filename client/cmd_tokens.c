/*
 * cmd_tokens.c: `assay tokens`, GPT-2's byte-level BPE (client/bpe.h,
 * docs/tokens.md).
 *
 *   assay tokens encode --vocab encoder.json --merges vocab.bpe (TEXT | --file F)
 *       prints the ids of TEXT as one compact JSON array and a newline.
 *   assay tokens decode --vocab encoder.json [--merges vocab.bpe] (IDS | --file F)
 *       prints the bytes the ids stand for, exactly, with nothing added.
 *
 * Exit 0 done; 1 refused input: a vocabulary, merges, text or ids that
 * are malformed or over a limit, or an id not in the vocabulary; 2
 * unusable arguments or a file that cannot be read.  Nothing is printed
 * on stdout unless the whole answer is.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpe.h"
#include "cli.h"
#include "banned.h"

static const char TOKENS_USAGE[] =
	"usage: assay tokens encode --vocab FILE --merges FILE (TEXT | --file PATH)\n"
	"       assay tokens decode --vocab FILE [--merges FILE] (IDS | --file PATH)\n"
	"\n"
	"GPT-2's byte-level BPE: --vocab is GPT-2's encoder.json, --merges its\n"
	"vocab.bpe (docs/tokens.md).\n"
	"encode  print the token ids of TEXT, which must be UTF-8, as a JSON\n"
	"        array: \"Hello world\" gives [15496,995]\n"
	"decode  print the bytes of IDS, a JSON array of ids, exactly (no newline\n"
	"        is added); exit 1 for an id that is not in the vocabulary\n"
	"--file reads TEXT or IDS from PATH (- for standard input); give -- before\n"
	"a TEXT that starts with '-'.  At most 1 MiB of text, 1 MiB of decoded\n"
	"text and 1048576 ids.\n"
	"exit: 0 done, 1 refused input, 2 unusable arguments.\n";

struct tok_args {
	const char *vocab, *merges;
	const char *file;    /* --file, or NULL */
	const char *inline_; /* TEXT or IDS on the command line, or NULL */
};

/* Parses the arguments of `tokens SUB`.  Returns 0; 1 when --help was
 * printed; 2 after saying why they are unusable. */
static int tok_parse(struct tok_args *t, int argc, char **argv, const char *sub, int encode)
{
	static const struct cli_opt opts[] = {
		{ "vocab", 0, 1 }, { "merges", 0, 0 }, { "file", 0, 0 },
	};
	struct cli_args a;

	if (cli_parse(&a, argc, argv, opts, 3, 0, 1))
		return 2;
	if (a.help) {
		fputs(TOKENS_USAGE, stdout);
		return 1;
	}
	if (encode && !a.val[1]) {
		cli_err("tokens %s: --merges FILE is required", sub);
		return 2;
	}
	if ((a.val[2] != NULL) == (a.npos == 1)) {
		cli_err("tokens %s: give either %s or --file PATH", sub, encode ? "TEXT" : "IDS");
		return 2;
	}
	t->vocab = a.val[0];
	t->merges = a.val[1];
	t->file = a.val[2];
	t->inline_ = a.npos == 1 ? a.pos[0] : NULL;
	return 0;
}

/* cli_read_file for `what` at path: 0; 1 when over max (refused input);
 * 2 when it cannot be read. */
static int tok_read(char **out, size_t *len, const char *sub, const char *what,
		    const char *path, size_t max)
{
	int rc = cli_read_file(out, len, path, max);

	if (rc == CLI_READ_TOO_LARGE) {
		cli_err("%s: %s '%s' is larger than %zu bytes", sub, what, path, max);
		return 1;
	}
	return rc ? 2 : 0;
}

/* Loads the vocabulary (and the merges when given): 0, 1 or 2 as tok_read. */
static int tok_load(struct bpe **b, const char *sub, const struct tok_args *t)
{
	struct bpe_diag d = { "" };
	char *vtext = NULL, *mtext = NULL;
	size_t vlen = 0, mlen = 0;
	enum bpe_err rc;
	int ret;

	*b = NULL;
	ret = tok_read(&vtext, &vlen, sub, "vocabulary", t->vocab, BPE_VOCAB_BYTES_MAX);
	if (!ret && t->merges)
		ret = tok_read(&mtext, &mlen, sub, "merges", t->merges, BPE_MERGES_BYTES_MAX);
	if (ret)
		goto out;
	rc = bpe_load(b, &d, vtext, vlen, mtext, mlen);
	if (rc) {
		if (t->merges)
			cli_err("%s: could not load '%s' and '%s': %s", sub, t->vocab,
				t->merges, d.msg[0] ? d.msg : bpe_strerror(rc));
		else
			cli_err("%s: could not load '%s': %s", sub, t->vocab,
				d.msg[0] ? d.msg : bpe_strerror(rc));
		ret = 1;
	}
out:
	free(mtext);
	free(vtext);
	return ret;
}

int tokens_load(struct bpe **b, const char *cmd, const char *vocab, const char *merges)
{
	struct tok_args t = { vocab, merges, NULL, NULL };

	return tok_load(b, cmd, &t);
}

static int tokens_encode(int argc, char **argv)
{
	struct tok_args t;
	struct bpe *b = NULL;
	struct bpe_diag d = { "" };
	char *ftext = NULL, *json = NULL;
	const char *text;
	size_t len = 0, jlen, n = 0;
	uint32_t *ids = NULL;
	enum bpe_err rc;
	int ret = tok_parse(&t, argc, argv, "encode", 1);

	if (ret)
		return ret == 1 ? 0 : ret;
	if (t.file) {
		ret = tok_read(&ftext, &len, "tokens encode", "text", t.file, BPE_TEXT_BYTES_MAX);
		if (ret)
			goto out;
		text = ftext;
	} else {
		text = t.inline_;
		len = strlen(text);
	}
	ret = tok_load(&b, "tokens encode", &t);
	if (ret)
		goto out;
	ret = 1;
	rc = bpe_encode(&ids, &n, &d, b, text, len);
	if (rc) {
		cli_err("tokens encode: %s%s%s", t.file ? t.file : "", t.file ? ": " : "",
			d.msg[0] ? d.msg : bpe_strerror(rc));
		goto out;
	}
	rc = bpe_ids_format(&json, &jlen, ids, n);
	if (rc) {
		cli_err("tokens encode: %s", bpe_strerror(rc));
		goto out;
	}
	printf("%s\n", json);
	ret = 0;
out:
	free(json);
	free(ids);
	bpe_free(b);
	free(ftext);
	return ret;
}

static int tokens_decode(int argc, char **argv)
{
	struct tok_args t;
	struct bpe *b = NULL;
	struct bpe_diag d = { "" };
	char *fjson = NULL, *text = NULL;
	const char *json;
	size_t len = 0, tlen = 0, n = 0;
	uint32_t *ids = NULL;
	enum bpe_err rc;
	int ret = tok_parse(&t, argc, argv, "decode", 0);

	if (ret)
		return ret == 1 ? 0 : ret;
	if (t.file) {
		ret = tok_read(&fjson, &len, "tokens decode", "ids", t.file, BPE_IDS_JSON_BYTES_MAX);
		if (ret)
			goto out;
		json = fjson;
	} else {
		json = t.inline_;
		len = strlen(json);
	}
	ret = 1;
	rc = bpe_ids_parse(&ids, &n, &d, json, len);
	if (rc) {
		cli_err("tokens decode: %s", d.msg[0] ? d.msg : bpe_strerror(rc));
		goto out;
	}
	ret = tok_load(&b, "tokens decode", &t);
	if (ret)
		goto out;
	ret = 1;
	rc = bpe_decode(&text, &tlen, &d, b, ids, n);
	if (rc) {
		cli_err("tokens decode: %s", d.msg[0] ? d.msg : bpe_strerror(rc));
		goto out;
	}
	if (fwrite(text, 1, tlen, stdout) != tlen) {
		cli_err("tokens decode: could not write the text to standard output");
		goto out;
	}
	ret = 0;
out:
	free(text);
	free(ids);
	bpe_free(b);
	free(fjson);
	return ret;
}

int cmd_tokens(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(TOKENS_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "encode") == 0)
		return tokens_encode(argc - 1, argv + 1);
	if (strcmp(argv[1], "decode") == 0)
		return tokens_decode(argc - 1, argv + 1);
	cli_err("tokens: unknown subcommand '%.32s' (encode, decode)", argv[1]);
	return 2;
}
