/*
 * test_gpt2.c: gpt2_f32@1 (docs/kernels.md) against an independent
 * float64 implementation in numpy (tests/gpt2_ref.py), and its exactness
 * claims: the same bytes with 1 and 2 threads, with the scalar and the
 * AVX2 paths, for a prompt alone and batched with seven others, and from
 * the key/value cache and a recomputation from the tokens.  Then every
 * refusal, with nothing output.
 *
 * The model is a tiny GPT-2 (random weights from a fixed seed, 2 layers,
 * width 64, 4 heads) written as a safetensors file with the Hugging Face
 * tensor names and opened as a real model (memory-mapped).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "kern_internal.h"
#include "gpt2fx.h"
#include "testutil.h"

#include "banned.h"

#define V GPT2FX_V
#define L GPT2FX_L
#define P GPT2FX_P
#define HEADS_S GPT2FX_HEADS_S
#define ROOT_S GPT2FX_ROOT_S

/* What docs/kernels.md promises against float64: |logit - ref| <=
 * TOL * max(1, max |ref logit|). */
#define TOL 1e-5

static enum kern_err run(struct kern_tensors *out, struct kern_diag *d,
			 const struct kern_tensors *model, const struct kern_tensors *in,
			 size_t n, unsigned threads)
{
	char params[256], dev[KERN_DEVICE_BYTES];
	struct kern_run_opts o = { KERN_DEVICE_CPU, threads, model };

	(void)snprintf(params, sizeof params,
		       "{\"heads\":" HEADS_S ",\"max_new_tokens\":%zu,\"model\":\"" ROOT_S
		       "\",\"modelSize\":1}", n);
	kern_tensors_init(out);
	return kern_run(out, dev, d, "gpt2_f32@1", in, params, strlen(params), &o);
}

static void run_ok(struct kern_tensors *out, const struct kern_tensors *model,
		   const struct kern_tensors *in, size_t n, unsigned threads)
{
	struct kern_diag d;
	enum kern_err rc = run(out, &d, model, in, n, threads);

	cr_assert_eq(rc, KERN_OK, "%s: %s", kern_errname(rc), d.msg);
	cr_assert_eq(out->count, 2);
}

static void same_bytes(const struct kern_tensors *a, const struct kern_tensors *b,
		       const char *what)
{
	for (int i = 0; i < 2; i++) {
		const char *n = i ? "logits" : "ids";
		const struct kern_tensor *x = kern_tensors_find(a, n), *y = kern_tensors_find(b, n);
		cr_assert(x && y && x->size_bytes == y->size_bytes, "%s: %s", what, n);
		cr_assert(memcmp(x->data, y->data, x->size_bytes) == 0, "%s: %s differ", what, n);
	}
}

/* Runs tests/gpt2_ref.py on the job; returns its parsed answer. */
static json_t *reference(const struct gpt2fx *f, const struct kern_tensors *in,
			 const struct kern_tensors *out, size_t n)
{
	const struct kern_tensor *tok = kern_tensors_find(in, "tokens");
	const int32_t *ids = kern_tensors_find(out, "ids")->data, *t = tok->data;
	json_t *job = json_object(), *pr = json_array(), *pa = json_array(), *res;
	char jpath[700], script[512];
	struct tu_run r;
	json_error_t je;
	char *text;

	for (uint64_t b = 0; b < tok->shape[0]; b++) {
		json_t *p = json_array(), *g = json_array();
		for (uint64_t i = 0; i < tok->shape[1]; i++)
			json_array_append_new(p, json_integer(t[b * tok->shape[1] + i]));
		for (size_t i = 0; i < n; i++)
			json_array_append_new(g, json_integer(ids[b * n + i]));
		json_array_append_new(pr, p);
		json_array_append_new(pa, g);
	}
	json_object_set_new(job, "prompts", pr);
	json_object_set_new(job, "path", pa);
	text = json_dumps(job, JSON_COMPACT);
	(void)snprintf(jpath, sizeof jpath, "%s/job.json", f->dir);
	tu_write_file(jpath, text, strlen(text), 0600);
	free(text);
	json_decref(job);
	const char *argv[] = { "/usr/bin/python3", tu_src(script, sizeof script,
				"tests/gpt2_ref.py"), f->path, HEADS_S, jpath, NULL };
	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "gpt2_ref.py (needs Debian's python3-numpy): %s", r.err);
	res = json_loads(r.out, 0, &je);
	cr_assert(res != NULL, "gpt2_ref.py printed no JSON: %s", je.text);
	tu_run_free(&r);
	return res;
}

Test(gpt2, matches_float64_numpy)
{
	struct gpt2fx f;
	struct kern_tensors in, out;
	const size_t n = 8, b = 3, t = 6;
	json_t *ref;
	double worst = 0;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, b, t, 1234);
	run_ok(&out, &f.model.tensors, &in, n, 2);
	ref = reference(&f, &in, &out, n);
	for (size_t s = 0; s < b; s++) {
		json_t *seq = json_array_get(ref, s), *steps = json_object_get(seq, "steps");
		json_t *last = json_object_get(seq, "last");
		const float *lg = (const float *)kern_tensors_find(&out, "logits")->data + s * V;
		const int32_t *ids = (const int32_t *)kern_tensors_find(&out, "ids")->data + s * n;
		double scale = json_real_value(json_object_get(json_array_get(steps, n - 1),
							       "scale"));
		for (size_t v = 0; v < V; v++) {
			double e = fabs((double)lg[v] - json_real_value(json_array_get(last, v)));
			worst = e > worst ? e : worst;
			cr_assert(e <= TOL * fmax(1.0, scale), "seq %zu logit %zu off by %g", s, v, e);
		}
		for (size_t i = 0; i < n; i++) {
			json_t *st = json_array_get(steps, i);
			double gap = json_real_value(json_object_get(st, "gap"));
			double sc = json_real_value(json_object_get(st, "scale"));
			if (gap > 2 * TOL * fmax(1.0, sc))
				cr_assert_eq(ids[i], json_integer_value(json_object_get(st, "argmax")),
					     "seq %zu step %zu: token differs from float64's", s, i);
		}
	}
	cr_log_info("gpt2 vs float64: largest logit error %.3g (largest |logit| %.3g)", worst,
		    json_real_value(json_object_get(json_array_get(json_object_get(
			json_array_get(ref, 0), "steps"), n - 1), "scale")));
	json_decref(ref);
	kern_tensors_release(&in);
	kern_tensors_release(&out);
	gpt2fx_close(&f);
}

Test(gpt2, same_bytes_with_1_and_2_threads_and_scalar_or_avx2)
{
	struct gpt2fx f;
	struct kern_tensors in, a, b, c;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, 2, 20, 77);   /* 40 prefill rows: the matmul path */
	run_ok(&a, &f.model.tensors, &in, 5, 1);
	run_ok(&b, &f.model.tensors, &in, 5, 2);
	same_bytes(&a, &b, "1 vs 2 threads");
	kern_cpu_gpt2_set_isa(KERN_ISA_SCALAR);
	run_ok(&c, &f.model.tensors, &in, 5, 2);
	kern_cpu_gpt2_set_isa(-1);
	same_bytes(&a, &c, "best ISA vs scalar");
	kern_tensors_release(&in);
	kern_tensors_release(&a);
	kern_tensors_release(&b);
	kern_tensors_release(&c);
	gpt2fx_close(&f);
}

Test(gpt2, a_prompt_alone_and_batched_with_seven_give_the_same_bytes)
{
	struct gpt2fx f;
	struct kern_tensors alone, batch, oa, ob;
	const size_t t = 5, n = 6;
	const struct kern_tensor *ta, *tb;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&batch, 8, t, 4321);
	gpt2fx_prompts(&alone, 1, t, 999);
	ta = kern_tensors_find(&alone, "tokens");
	tb = kern_tensors_find(&batch, "tokens");
	/* the lone prompt sits at row 5 of the batch */
	memcpy((int32_t *)tb->data + 5 * t, ta->data, t * sizeof(int32_t));
	run_ok(&oa, &f.model.tensors, &alone, n, 2);   /* 5 rows: the streaming path */
	run_ok(&ob, &f.model.tensors, &batch, n, 2);   /* 40 rows: the matmul path */
	cr_assert(memcmp(kern_tensors_find(&oa, "ids")->data,
			 (int32_t *)kern_tensors_find(&ob, "ids")->data + 5 * n,
			 n * sizeof(int32_t)) == 0, "ids differ in a batch");
	cr_assert(memcmp(kern_tensors_find(&oa, "logits")->data,
			 (float *)kern_tensors_find(&ob, "logits")->data + 5 * V,
			 V * sizeof(float)) == 0, "logits differ in a batch");
	kern_tensors_release(&alone);
	kern_tensors_release(&batch);
	kern_tensors_release(&oa);
	kern_tensors_release(&ob);
	gpt2fx_close(&f);
}

Test(gpt2, the_cache_gives_the_bytes_of_a_recomputation)
{
	struct gpt2fx f;
	struct kern_tensors in, longer, o3, o1;
	uint64_t shape[2] = { 1, 7 };
	struct kern_tensor *t;
	const int32_t *ids;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, 1, 5, 31337);
	run_ok(&o3, &f.model.tensors, &in, 3, 2);
	ids = kern_tensors_find(&o3, "ids")->data;
	kern_tensors_init(&longer);
	cr_assert_eq(kern_tensors_add(&longer, &t, NULL, "tokens", KERN_DT_I32, 2, shape, NULL),
		     KERN_OK);
	memcpy(t->data, kern_tensors_find(&in, "tokens")->data, 5 * sizeof(int32_t));
	((int32_t *)t->data)[5] = ids[0];
	((int32_t *)t->data)[6] = ids[1];
	run_ok(&o1, &f.model.tensors, &longer, 1, 2);
	cr_assert_eq(((int32_t *)kern_tensors_find(&o1, "ids")->data)[0], ids[2]);
	cr_assert(memcmp(kern_tensors_find(&o1, "logits")->data,
			 kern_tensors_find(&o3, "logits")->data, V * sizeof(float)) == 0,
		  "cached and recomputed logits differ");
	kern_tensors_release(&in);
	kern_tensors_release(&longer);
	kern_tensors_release(&o3);
	kern_tensors_release(&o1);
	gpt2fx_close(&f);
}

Test(gpt2, mask_buffers_are_accepted_and_ignored)
{
	struct gpt2fx f, g;
	struct kern_tensors in, a, b;

	gpt2fx_open(&f, 0);
	gpt2fx_open(&g, 1);
	cr_assert_eq(g.model.tensors.count, f.model.tensors.count + 2 * L);
	gpt2fx_prompts(&in, 2, 4, 5);
	run_ok(&a, &f.model.tensors, &in, 4, 2);
	run_ok(&b, &g.model.tensors, &in, 4, 2);
	same_bytes(&a, &b, "with mask buffers");
	kern_tensors_release(&in);
	kern_tensors_release(&a);
	kern_tensors_release(&b);
	gpt2fx_close(&f);
	gpt2fx_close(&g);
}

/* A file whose data area starts at an odd offset (one more header space):
 * the model is copied to aligned memory and gives the same bytes. */
Test(gpt2, an_unaligned_model_file_gives_the_same_bytes)
{
	struct gpt2fx f;
	struct kern_model m;
	struct kern_tensors in, a, b;
	struct kern_diag d;
	uint8_t *buf, *odd;
	size_t len;
	uint64_t hlen = 0;
	char path[700];

	gpt2fx_open(&f, 0);
	tu_read_file(f.path, &buf, &len);
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | buf[i];
	odd = malloc(len + 1);
	cr_assert(odd != NULL);
	for (int i = 0; i < 8; i++)
		odd[i] = (uint8_t)((hlen + 1) >> (8 * i));
	memcpy(odd + 8, buf + 8, hlen);
	odd[8 + hlen] = ' ';
	memcpy(odd + 9 + hlen, buf + 8 + hlen, len - 8 - hlen);
	(void)snprintf(path, sizeof path, "%s/odd.safetensors", f.dir);
	tu_write_file(path, odd, len + 1, 0600);
	cr_assert_eq(kern_model_open(&m, &d, path), KERN_OK, "%s", d.msg);
	cr_assert(m.copy != NULL, "the unaligned file was not copied");
	gpt2fx_prompts(&in, 1, 3, 8);
	run_ok(&a, &f.model.tensors, &in, 3, 1);
	run_ok(&b, &m.tensors, &in, 3, 1);
	same_bytes(&a, &b, "unaligned file");
	kern_model_close(&m);
	kern_model_close(&m);   /* a second close does nothing */
	free(buf);
	free(odd);
	kern_tensors_release(&in);
	kern_tensors_release(&a);
	kern_tensors_release(&b);
	gpt2fx_close(&f);
}

/* ------------------------------------------------------------------ */
/* Refusals: each with its code, a message, and nothing output          */

static void refused(const struct kern_tensors *model, const struct kern_tensors *in,
		    const char *params, enum kern_err want, const char *what)
{
	struct kern_run_opts o = { KERN_DEVICE_CPU, 1, model };
	struct kern_tensors out;
	struct kern_diag d;
	char dev[KERN_DEVICE_BYTES];
	enum kern_err rc;

	kern_tensors_init(&out);
	rc = kern_run(&out, dev, &d, "gpt2_f32@1", in, params, strlen(params), &o);
	cr_assert_eq(rc, want, "%s: got %s (%s), want %s", what, kern_errname(rc), d.msg,
		     kern_errname(want));
	cr_assert(d.msg[0] != '\0', "%s: no message", what);
	cr_assert_eq(out.count, 0, "%s: output left behind", what);
}

#define GOOD "{\"heads\":4,\"max_new_tokens\":3,\"model\":\"" ROOT_S "\",\"modelSize\":1}"

Test(gpt2, bad_params_are_refused)
{
	struct gpt2fx f;
	struct kern_tensors in;
	static const struct { const char *p; enum kern_err e; } cases[] = {
		{ "{}", KERN_ERR_PARAMS },
		{ "{\"max_new_tokens\":3,\"heads\":4,\"model\":\"" ROOT_S "\",\"modelSize\":1}",
		  KERN_ERR_PARAMS },
		{ "{\"heads\":4,\"max_new_tokens\":3,\"model\":\"0x00\",\"modelSize\":1}",
		  KERN_ERR_PARAMS },
		{ "{\"heads\":4,\"max_new_tokens\":3,\"model\":\"0x00112233445566778899AABBCCDDEEFF"
		  "00112233445566778899aabbccddeeff\",\"modelSize\":1}", KERN_ERR_PARAMS },
		{ "{\"heads\":04,\"max_new_tokens\":3,\"model\":\"" ROOT_S "\",\"modelSize\":1}",
		  KERN_ERR_PARAMS },
		{ "{\"heads\":4,\"max_new_tokens\":3,\"model\":\"" ROOT_S "\",\"modelSize\":1} ",
		  KERN_ERR_PARAMS },
		{ "{\"heads\":4,\"max_new_tokens\":3,\"model\":\"" ROOT_S
		  "\",\"modelSize\":12345678901234567890}", KERN_ERR_PARAMS },
		{ "{\"heads\":0,\"max_new_tokens\":3,\"model\":\"" ROOT_S "\",\"modelSize\":1}",
		  KERN_ERR_HEADS },
		{ "{\"heads\":129,\"max_new_tokens\":3,\"model\":\"" ROOT_S "\",\"modelSize\":1}",
		  KERN_ERR_HEADS },
		{ "{\"heads\":3,\"max_new_tokens\":3,\"model\":\"" ROOT_S "\",\"modelSize\":1}",
		  KERN_ERR_HEADS },
		{ "{\"heads\":4,\"max_new_tokens\":0,\"model\":\"" ROOT_S "\",\"modelSize\":1}",
		  KERN_ERR_NEW_TOKENS },
		{ "{\"heads\":4,\"max_new_tokens\":1025,\"model\":\"" ROOT_S "\",\"modelSize\":1}",
		  KERN_ERR_NEW_TOKENS },
		{ "{\"heads\":4,\"max_new_tokens\":3,\"model\":\"" ROOT_S
		  "\",\"modelSize\":8589934593}", KERN_ERR_MODEL_BYTES },
	};
	struct kern_diag d;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, 1, 3, 1);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		refused(&f.model.tensors, &in, cases[i].p, cases[i].e, cases[i].p);
		if (cases[i].e != KERN_ERR_HEADS || strstr(cases[i].p, "\"heads\":3,") == NULL)
			cr_assert_eq(kern_params_check(&d, "gpt2_f32@1", cases[i].p,
						       strlen(cases[i].p)), cases[i].e, "%s",
				     cases[i].p);
	}
	cr_assert_eq(kern_params_check(&d, "gpt2_f32@1", GOOD, strlen(GOOD)), KERN_OK, "%s",
		     d.msg);
	refused(NULL, &in, GOOD, KERN_ERR_MODEL, "no model");
	kern_tensors_release(&in);
	gpt2fx_close(&f);
}

Test(gpt2, bad_prompts_are_refused)
{
	struct gpt2fx f;
	struct kern_tensors in, two;
	uint64_t s1[1] = { 3 }, s2[2] = { 1, 3 };
	struct kern_tensor *t;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, 1, 3, 1);
	((int32_t *)kern_tensors_find(&in, "tokens")->data)[1] = V;
	refused(&f.model.tensors, &in, GOOD, KERN_ERR_TOKEN, "id == V");
	((int32_t *)kern_tensors_find(&in, "tokens")->data)[1] = -1;
	refused(&f.model.tensors, &in, GOOD, KERN_ERR_TOKEN, "id -1");
	kern_tensors_release(&in);
	gpt2fx_prompts(&in, 1, P - 1, 1);   /* P-1 + 3 - 1 > P positions */
	refused(&f.model.tensors, &in, GOOD, KERN_ERR_CONTEXT, "over the positions");
	kern_tensors_release(&in);
	gpt2fx_prompts(&in, KERN_GPT2_BATCH_MAX + 1, 1, 1);
	refused(&f.model.tensors, &in, GOOD, KERN_ERR_BATCH, "65 prompts");
	kern_tensors_release(&in);
	kern_tensors_init(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, NULL, "tokens", KERN_DT_I32, 1, s1, NULL), 0);
	refused(&f.model.tensors, &in, GOOD, KERN_ERR_SHAPE, "rank 1");
	kern_tensors_release(&in);
	cr_assert_eq(kern_tensors_add(&in, NULL, NULL, "tokens", KERN_DT_F32, 2, s2, NULL), 0);
	refused(&f.model.tensors, &in, GOOD, KERN_ERR_DTYPE, "F32 tokens");
	kern_tensors_release(&in);
	refused(&f.model.tensors, &in, GOOD, KERN_ERR_MISSING_TENSOR, "no tokens");
	gpt2fx_prompts(&two, 1, 3, 1);
	cr_assert_eq(kern_tensors_add(&two, &t, NULL, "x", KERN_DT_I32, 2, s2, NULL), 0);
	refused(&f.model.tensors, &two, GOOD, KERN_ERR_UNKNOWN_TENSOR, "extra tensor");
	kern_tensors_release(&two);
	gpt2fx_close(&f);
}

/* A copy of the model's tensor list (data borrowed) with one change. */
static void variant(struct kern_tensors *v, const struct kern_tensors *m, const char *drop,
		    const char *rename_to, int reshape)
{
	size_t n = 0;

	v->t = calloc(m->count + 1, sizeof *v->t);
	cr_assert(v->t != NULL);
	v->borrowed = 1;
	for (size_t i = 0; i < m->count; i++) {
		if (drop && strcmp(m->t[i].name, drop) == 0) {
			if (rename_to == NULL && !reshape)
				continue;
			v->t[n] = m->t[i];
			if (rename_to)
				(void)snprintf(v->t[n].name, sizeof v->t[n].name, "%s", rename_to);
			if (reshape)
				v->t[n].shape[0] -= 1;
			n++;
			continue;
		}
		v->t[n++] = m->t[i];
	}
	v->count = n;
}

Test(gpt2, bad_models_are_refused)
{
	struct gpt2fx f;
	struct kern_tensors in, v;
	static const struct { const char *drop, *to; int reshape; enum kern_err e; } cases[] = {
		{ "h.1.mlp.c_fc.bias", NULL, 0, KERN_ERR_MODEL },
		{ "wte.weight", NULL, 0, KERN_ERR_MODEL },
		{ "ln_f.bias", NULL, 0, KERN_ERR_MODEL },
		{ "h.1.ln_2.weight", "h.1.ln_3.weight", 0, KERN_ERR_MODEL },
		{ "h.1.ln_2.weight", "transformer.h.1.ln_2.weight", 0, KERN_ERR_MODEL },
		{ "h.0.ln_1.bias", "h.2.ln_1.bias", 0, KERN_ERR_MODEL },
		{ "h.0.ln_1.bias", "h.01.ln_1.bias", 0, KERN_ERR_MODEL },
		{ "h.0.ln_1.bias", "h.96.ln_1.bias", 0, KERN_ERR_GPT2_LAYERS },
		{ "h.1.attn.c_attn.weight", NULL, 1, KERN_ERR_MODEL },
		{ "wpe.weight", NULL, 1, KERN_ERR_MODEL + 0 },
	};

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, 1, 3, 1);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		enum kern_err want = cases[i].e;
		variant(&v, &f.model.tensors, cases[i].drop, cases[i].to, cases[i].reshape);
		if (strcmp(cases[i].drop, "wpe.weight") == 0)
			want = KERN_OK;   /* fewer positions is a smaller model, not a bad one */
		if (want == KERN_OK) {
			struct kern_tensors out;
			run_ok(&out, &v, &in, 3, 1);
			kern_tensors_release(&out);
		} else {
			refused(&v, &in, GOOD, want, cases[i].drop);
		}
		kern_tensors_release(&v);
	}
	kern_tensors_release(&in);
	gpt2fx_close(&f);
}

Test(gpt2, model_files_over_their_limits_are_refused)
{
	char dir[512], path[600];
	struct kern_model m;
	struct kern_diag d;
	char hdr[64];
	uint8_t file[72];
	size_t hl;

	tu_tmpdir(dir, sizeof dir);
	(void)snprintf(path, sizeof path, "%s/none", dir);
	cr_assert_eq(kern_model_open(&m, &d, path), KERN_ERR_IO);
	cr_assert_eq(kern_model_open(&m, &d, dir), KERN_ERR_IO, "a directory");
	hl = (size_t)snprintf(hdr, sizeof hdr, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
			      "\"data_offsets\":[0,4]}}");
	for (int i = 0; i < 8; i++)
		file[i] = (uint8_t)(hl >> (8 * i));
	memcpy(file + 8, hdr, hl);
	memset(file + 8 + hl, 0, 4);
	(void)snprintf(path, sizeof path, "%s/short.safetensors", dir);
	tu_write_file(path, file, 8 + hl + 4, 0600);
	cr_assert_eq(kern_model_open(&m, &d, path), KERN_ERR_ST_OFFSETS, "%s", d.msg);
	cr_assert(strstr(d.msg, "short.safetensors") != NULL, "%s", d.msg);
	kern_model_close(&m);
	tu_rmtree(dir);
}

/* ------------------------------------------------------------------ */
/* The command line: `assay kernel run gpt2_f32@1 --model FILE`         */

static void model_commitment(const char *path, char *root, size_t cap, char *size, size_t scap)
{
	const char *argv[] = { tu_assay(), "commit", path, NULL };
	struct tu_run r;
	json_t *j;

	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "assay commit: %s", r.err);
	j = json_loads(r.out, 0, NULL);
	cr_assert(j != NULL);
	(void)snprintf(root, cap, "%s", json_string_value(json_object_get(j, "root")));
	(void)snprintf(size, scap, "%lld", (long long)json_integer_value(json_object_get(j, "size")));
	json_decref(j);
	tu_run_free(&r);
}

Test(gpt2, cli_runs_a_committed_model_and_refuses_another)
{
	struct gpt2fx f;
	struct kern_tensors in, want, got;
	char inp[700], outp[700], root[80], size[32], params[300], bad[300];
	struct kern_diag d;
	struct tu_run r;

	gpt2fx_open(&f, 0);
	gpt2fx_prompts(&in, 2, 4, 42);
	(void)snprintf(inp, sizeof inp, "%s/in.safetensors", f.dir);
	(void)snprintf(outp, sizeof outp, "%s/out.safetensors", f.dir);
	cr_assert_eq(kern_st_write_file(&d, inp, &in), KERN_OK);
	model_commitment(f.path, root, sizeof root, size, sizeof size);
	(void)snprintf(params, sizeof params, "{\"heads\":4,\"max_new_tokens\":5,\"model\":\"%s\","
		       "\"modelSize\":%s}", root, size);
	const char *ok[] = { tu_assay(), "kernel", "run", "gpt2_f32@1", "--input", inp,
			     "--params", params, "--output", outp, "--model", f.path,
			     "--device", "cpu", NULL };
	tu_run(&r, ok);
	cr_assert_eq(r.status, 0, "%s", r.err);
	tu_run_free(&r);
	run_ok(&want, &f.model.tensors, &in, 5, 1);
	kern_tensors_init(&got);
	cr_assert_eq(kern_st_read_file(&got, &d, outp), KERN_OK, "%s", d.msg);
	same_bytes(&want, &got, "assay kernel run");

	memcpy(bad, params, sizeof bad);
	bad[strlen("{\"heads\":4,\"max_new_tokens\":5,\"model\":\"0x") + 3] ^= 1;
	ok[7] = bad;
	tu_run(&r, ok);
	cr_assert_eq(r.status, 1, "another model's root accepted");
	cr_assert(strstr(r.err, "not the model named") != NULL, "%s", r.err);
	cr_assert_eq(r.out[0], '\0');
	tu_run_free(&r);
	ok[7] = params;
	ok[10] = NULL;   /* no --model */
	tu_run(&r, ok);
	cr_assert_eq(r.status, 1);
	cr_assert(strstr(r.err, "no model given") != NULL, "%s", r.err);
	tu_run_free(&r);
	kern_tensors_release(&in);
	kern_tensors_release(&want);
	kern_tensors_release(&got);
	gpt2fx_close(&f);
}
