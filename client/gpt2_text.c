/*
 * gpt2_text.c: text in and out of a gpt2_f32@1 job for `assay job
 * submit --prompt` (cli.h): the prompt encoded with GPT-2's BPE
 * (client/bpe.h) into the job's `tokens` input, and the generated ids of
 * the checked output decoded back to text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bpe.h"
#include "cli.h"
#include "kernels.h"

#include "banned.h"

int gpt2_prompt_input(char **in, size_t *in_len, const char *cmd, const char *text,
		      const char *vocab, const char *merges)
{
	struct bpe *b = NULL;
	struct bpe_diag d = { "" };
	struct kern_tensors t;
	struct kern_tensor *x;
	struct kern_diag kd = { "" };
	uint32_t *ids = NULL;
	uint64_t shape[2] = { 1, 0 };
	size_t n = 0;
	int ret;

	*in = NULL;
	*in_len = 0;
	kern_tensors_init(&t);
	ret = tokens_load(&b, cmd, vocab, merges);
	if (ret)
		return ret;
	ret = 1;
	if (bpe_encode(&ids, &n, &d, b, text, strlen(text)) != BPE_OK) {
		cli_err("%s: --prompt: %s", cmd, d.msg);
		goto out;
	}
	if (n == 0) {
		cli_err("%s: --prompt encodes to no token", cmd);
		goto out;
	}
	shape[1] = n;
	if (kern_tensors_add(&t, &x, &kd, "tokens", KERN_DT_I32, 2, shape, NULL) != KERN_OK) {
		cli_err("%s: --prompt: %s", cmd, kd.msg);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		((int32_t *)x->data)[i] = (int32_t)ids[i];
	if (kern_st_serialize((uint8_t **)in, in_len, &kd, &t) != KERN_OK) {
		cli_err("%s: --prompt: %s", cmd, kd.msg);
		goto out;
	}
	ret = 0;
out:
	kern_tensors_release(&t);
	free(ids);
	bpe_free(b);
	return ret;
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
		 : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
	uint32_t cp;

	if (n == 0 || n > left)
		return 0;
	cp = n == 1 ? s[0] : s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string of the bytes, each byte of an invalid sequence (a token
 * may end inside a character) as U+FFFD. */
static json_t *lossy_string(const char *s, size_t len)
{
	char *buf = malloc(len * 3 + 1);
	size_t o = 0;
	json_t *j;

	if (buf == NULL)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_len((const unsigned char *)s + i, len - i);
		if (n == 0) {
			memcpy(buf + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			memcpy(buf + o, s + i, n);
			o += n;
			i += n;
		}
	}
	j = json_stringn(buf, o);
	free(buf);
	return j;
}

/* "ids" and "text" of every row of the `ids` tensor into summary. */
static int add_rows(json_t *summary, const char *cmd, const struct kern_tensor *t,
		    const struct bpe *b)
{
	json_t *ids = json_array(), *texts = json_array();
	struct bpe_diag d = { "" };
	uint64_t rows = t->shape[0], cols = t->shape[1];
	int ret = 1;

	for (uint64_t r = 0; ids && texts && r < rows; r++) {
		const int32_t *row = (const int32_t *)t->data + r * cols;
		uint32_t *u = malloc(cols * sizeof(*u));
		json_t *one = json_array();
		char *text = NULL;
		size_t tlen = 0;
		for (uint64_t c = 0; u && one && c < cols; c++) {
			u[c] = (uint32_t)row[c];
			json_array_append_new(one, json_integer(row[c]));
		}
		if (!u || !one || bpe_decode(&text, &tlen, &d, b, u, cols) != BPE_OK) {
			cli_err("%s: the generated ids do not decode: %s", cmd, d.msg);
			free(u);
			json_decref(one);
			goto out;
		}
		json_array_append_new(ids, one);
		json_array_append_new(texts, lossy_string(text, tlen));
		free(text);
		free(u);
	}
	json_object_set(summary, "ids", ids);
	json_object_set(summary, "text", texts);
	ret = 0;
out:
	json_decref(ids);
	json_decref(texts);
	return ret;
}

int gpt2_text_of_output(json_t *summary, const char *cmd, const char *output_path,
			const char *vocab)
{
	struct kern_tensors out;
	struct kern_diag kd = { "" };
	const struct kern_tensor *t;
	struct bpe *b = NULL;
	int ret;

	kern_tensors_init(&out);
	if (kern_st_read_file(&out, &kd, output_path) != KERN_OK) {
		cli_err("%s: %s", cmd, kd.msg);
		return 1;
	}
	t = kern_tensors_find(&out, "ids");
	if (t == NULL || t->dtype != KERN_DT_I32 || t->rank != 2) {
		cli_err("%s: the output holds no I32 [B,N] \"ids\" tensor", cmd);
		kern_tensors_release(&out);
		return 1;
	}
	ret = tokens_load(&b, cmd, vocab, NULL);
	if (ret == 0)
		ret = add_rows(summary, cmd, t, b);
	bpe_free(b);
	kern_tensors_release(&out);
	return ret;
}
