/*
 * safetensors.c: a strict, bounded safetensors reader and a deterministic
 * writer (docs/kernels.md, "safetensors form"), plus kern_run_file.
 *
 * File layout: u64 little-endian N; N bytes of JSON header; the data
 * area.  The reader refuses, before reading any tensor data: N outside
 * [2, KERN_ST_HEADER_BYTES_MAX] or past the end of the file, a header
 * that is not one JSON object (duplicate keys included), an entry that is
 * not exactly {"dtype","shape","data_offsets"} with a known dtype, integer
 * dimensions and two integer offsets, tensors over any limit, offsets
 * that do not tile the data area in order (sorted by begin offset: the
 * first begins at 0, each begins where the previous ended, the last ends
 * at the end of the file, and end - begin equals the tensor's size), and
 * a "__metadata__" that is not a map of strings.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "kernels.h"
#include "kern_internal.h"

#include "banned.h"


struct entry {
	const char *name;         /* points into the JSON document */
	enum kern_dtype dtype;
	uint32_t rank;
	uint64_t shape[KERN_RANK_MAX];
	uint64_t begin, end;
};

static int cmp_begin(const void *x, const void *y)
{
	const struct entry *a = x, *b = y;

	if (a->begin != b->begin)
		return a->begin < b->begin ? -1 : 1;
	/* Zero-length tensors may share an offset: order them by end, then
	 * by name, so the check below is deterministic. */
	if (a->end != b->end)
		return a->end < b->end ? -1 : 1;
	return strcmp(a->name, b->name);
}

static enum kern_err parse_metadata(struct kern_diag *diag, json_t *meta)
{
	const char *k;
	json_t *v;

	if (!json_is_object(meta)) {
		kern_diagf(diag, "safetensors: __metadata__ is not an object");
		return KERN_ERR_ST_METADATA;
	}
	if (json_object_size(meta) > KERN_ST_METADATA_MAX) {
		kern_diagf(diag, "safetensors: __metadata__ has more than %d entries",
		      KERN_ST_METADATA_MAX);
		return KERN_ERR_ST_METADATA;
	}
	json_object_foreach(meta, k, v) {
		if (!json_is_string(v)) {
			kern_diagf(diag, "safetensors: __metadata__ \"%.64s\" is not a string", k);
			return KERN_ERR_ST_METADATA;
		}
	}
	return KERN_OK;
}

static enum kern_err parse_entry(struct entry *e, struct kern_diag *diag,
				 const char *name, json_t *v)
{
	json_t *dt, *shape, *offs, *x;
	const char *k;
	size_t nlen = strlen(name), i;
	uint64_t elems = 1, bytes;
	enum kern_err rc;

	if (nlen == 0 || nlen > KERN_NAME_BYTES_MAX) {
		kern_diagf(diag, "safetensors: tensor name \"%.64s\" empty or over %d bytes",
		      name, KERN_NAME_BYTES_MAX);
		return KERN_ERR_NAME;
	}
	if (!json_is_object(v)) {
		kern_diagf(diag, "safetensors: tensor \"%s\": entry is not an object", name);
		return KERN_ERR_ST_ENTRY;
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 &&
		    strcmp(k, "data_offsets") != 0) {
			kern_diagf(diag, "safetensors: tensor \"%s\": unknown key \"%.32s\"", name, k);
			return KERN_ERR_ST_ENTRY;
		}
	}
	dt = json_object_get(v, "dtype");
	shape = json_object_get(v, "shape");
	offs = json_object_get(v, "data_offsets");
	if (!json_is_string(dt) || !json_is_array(shape) || !json_is_array(offs)) {
		kern_diagf(diag, "safetensors: tensor \"%s\": needs string dtype, array shape "
		      "and array data_offsets", name);
		return KERN_ERR_ST_ENTRY;
	}
	rc = kern_dtype_parse(&e->dtype, json_string_value(dt));
	if (rc) {
		kern_diagf(diag, "safetensors: tensor \"%s\": unknown dtype \"%.16s\"", name,
		      json_string_value(dt));
		return KERN_ERR_DTYPE;
	}
	if (json_array_size(shape) > KERN_RANK_MAX) {
		kern_diagf(diag, "safetensors: tensor \"%s\": rank %zu over %d", name,
		      json_array_size(shape), KERN_RANK_MAX);
		return KERN_ERR_RANK;
	}
	e->rank = (uint32_t)json_array_size(shape);
	json_array_foreach(shape, i, x) {
		json_int_t d;
		if (!json_is_integer(x) || (d = json_integer_value(x)) < 0) {
			kern_diagf(diag, "safetensors: tensor \"%s\": shape[%zu] is not a "
			      "non-negative integer", name, i);
			return KERN_ERR_ST_ENTRY;
		}
		if ((uint64_t)d > KERN_DIM_MAX) {
			kern_diagf(diag, "safetensors: tensor \"%s\": shape[%zu] = %lld over %llu",
			      name, i, (long long)d, KERN_DIM_MAX);
			return KERN_ERR_DIM;
		}
		e->shape[i] = (uint64_t)d;
		elems *= (uint64_t)d;     /* <= 2^24 * 2^28: no overflow */
		if (elems > KERN_ELEMS_MAX) {
			kern_diagf(diag, "safetensors: tensor \"%s\": more than %llu elements",
			      name, KERN_ELEMS_MAX);
			return KERN_ERR_ELEMS;
		}
	}
	bytes = elems * kern_dtype_size(e->dtype);
	if (bytes > KERN_TENSOR_BYTES_MAX) {
		kern_diagf(diag, "safetensors: tensor \"%s\": more than %llu bytes", name,
		      KERN_TENSOR_BYTES_MAX);
		return KERN_ERR_TENSOR_BYTES;
	}
	if (json_array_size(offs) != 2 || !json_is_integer(json_array_get(offs, 0)) ||
	    !json_is_integer(json_array_get(offs, 1)) ||
	    json_integer_value(json_array_get(offs, 0)) < 0 ||
	    json_integer_value(json_array_get(offs, 1)) < 0) {
		kern_diagf(diag, "safetensors: tensor \"%s\": data_offsets is not "
		      "[begin,end] of non-negative integers", name);
		return KERN_ERR_ST_ENTRY;
	}
	e->begin = (uint64_t)json_integer_value(json_array_get(offs, 0));
	e->end = (uint64_t)json_integer_value(json_array_get(offs, 1));
	if (e->end < e->begin || e->end - e->begin != bytes) {
		kern_diagf(diag, "safetensors: tensor \"%s\": data_offsets [%llu,%llu] do not "
		      "hold its %llu bytes", name, (unsigned long long)e->begin,
		      (unsigned long long)e->end, (unsigned long long)bytes);
		return KERN_ERR_ST_OFFSETS;
	}
	e->name = name;
	return KERN_OK;
}

/* A parsed header: the entries sorted by offset, checked to tile the
 * data area.  Names point into root. */
struct hdr {
	json_t *root;
	struct entry *ents;
	size_t n;
	uint64_t hlen;
};

static void hdr_free(struct hdr *h)
{
	free(h->ents);
	json_decref(h->root);
	memset(h, 0, sizeof *h);
}

static enum kern_err header_json(struct hdr *h, struct kern_diag *diag,
				 const uint8_t *p, size_t len)
{
	json_error_t jerr;

	if (len < 8) {
		kern_diagf(diag, "safetensors: file of %zu bytes has no 8-byte header length", len);
		return KERN_ERR_ST_HEADER_SIZE;
	}
	for (int i = 7; i >= 0; i--)
		h->hlen = h->hlen << 8 | p[i];
	if (h->hlen < 2 || h->hlen > KERN_ST_HEADER_BYTES_MAX || h->hlen > len - 8) {
		kern_diagf(diag, "safetensors: header length %llu not in [2, %llu] or past the "
		      "end of the %zu-byte file", (unsigned long long)h->hlen,
		      KERN_ST_HEADER_BYTES_MAX, len);
		return KERN_ERR_ST_HEADER_SIZE;
	}
	h->root = json_loadb((const char *)p + 8, (size_t)h->hlen, JSON_REJECT_DUPLICATES, &jerr);
	if (h->root == NULL || !json_is_object(h->root)) {
		kern_diagf(diag, "safetensors: header is not a JSON object: %.120s",
		      h->root ? "another JSON value" : jerr.text);
		return KERN_ERR_ST_JSON;
	}
	return KERN_OK;
}

static enum kern_err header_tiles(struct hdr *h, struct kern_diag *diag, uint64_t data_len)
{
	uint64_t pos = 0;

	qsort(h->ents, h->n, sizeof *h->ents, cmp_begin);
	for (size_t i = 0; i < h->n; i++) {
		if (h->ents[i].begin != pos) {
			kern_diagf(diag, "safetensors: tensor \"%s\": data begins at %llu, expected "
			      "%llu (gap or overlap)", h->ents[i].name,
			      (unsigned long long)h->ents[i].begin, (unsigned long long)pos);
			return KERN_ERR_ST_OFFSETS;
		}
		pos = h->ents[i].end;
	}
	if (pos != data_len) {
		kern_diagf(diag, "safetensors: tensors cover %llu bytes of a %llu-byte data area",
		      (unsigned long long)pos, (unsigned long long)data_len);
		return KERN_ERR_ST_OFFSETS;
	}
	return KERN_OK;
}

/* Parses and checks the header of the file image p[0..len) holding at
 * most max_tensors tensors (count_err when over). */
static enum kern_err parse_header(struct hdr *h, struct kern_diag *diag, const uint8_t *p,
				  size_t len, size_t max_tensors, enum kern_err count_err)
{
	json_t *v;
	const char *k;
	enum kern_err rc;

	memset(h, 0, sizeof *h);
	if ((rc = header_json(h, diag, p, len)))
		return rc;
	if (json_object_size(h->root) > max_tensors + 1) {
		kern_diagf(diag, "safetensors: more than %zu tensors", max_tensors);
		return count_err;
	}
	h->ents = calloc(json_object_size(h->root) + 1, sizeof *h->ents);
	if (h->ents == NULL)
		return KERN_ERR_NOMEM;
	json_object_foreach(h->root, k, v) {
		if (strcmp(k, "__metadata__") == 0) {
			if ((rc = parse_metadata(diag, v)))
				return rc;
			continue;
		}
		if (h->n >= max_tensors) {
			kern_diagf(diag, "safetensors: more than %zu tensors", max_tensors);
			return count_err;
		}
		if ((rc = parse_entry(&h->ents[h->n], diag, k, v)))
			return rc;
		h->n++;
	}
	return header_tiles(h, diag, len - 8 - h->hlen);
}

enum kern_err kern_st_parse(struct kern_tensors *out, struct kern_diag *diag,
			    const void *buf, size_t len)
{
	const uint8_t *p = buf;
	struct hdr h;
	enum kern_err rc;

	if (diag)
		diag->msg[0] = '\0';
	if (out == NULL || (buf == NULL && len) || out->count != 0)
		return KERN_ERR_ARG;
	if (len > KERN_JOB_BYTES_MAX) {
		kern_diagf(diag, "safetensors: file of %zu bytes, over %llu", len, KERN_JOB_BYTES_MAX);
		return KERN_ERR_JOB_BYTES;
	}
	rc = parse_header(&h, diag, p, len, KERN_TENSORS_MAX, KERN_ERR_TENSOR_COUNT);
	for (size_t i = 0; rc == KERN_OK && i < h.n; i++)
		rc = kern_tensors_add(out, NULL, diag, h.ents[i].name, h.ents[i].dtype,
				      h.ents[i].rank, h.ents[i].shape,
				      p + 8 + h.hlen + h.ents[i].begin);
	if (rc)
		kern_tensors_release(out);
	hdr_free(&h);
	return rc;
}

enum kern_err kern_st_read_file(struct kern_tensors *out, struct kern_diag *diag,
				const char *path)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	enum kern_err rc = KERN_OK;
	int fd;

	if (out == NULL || path == NULL)
		return KERN_ERR_ARG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kern_diagf(diag, "could not open '%.128s': %s", path, strerror(errno));
		return KERN_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		kern_diagf(diag, "could not read '%.128s': not a regular file", path);
		rc = KERN_ERR_IO;
		goto out;
	}
	if ((uint64_t)st.st_size > KERN_JOB_BYTES_MAX) {
		kern_diagf(diag, "could not read '%.128s': %lld bytes, over %llu", path,
		      (long long)st.st_size, KERN_JOB_BYTES_MAX);
		rc = KERN_ERR_JOB_BYTES;
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (buf == NULL) {
		rc = KERN_ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			kern_diagf(diag, "could not read '%.128s': %s", path,
			      r < 0 ? strerror(errno) : "file shrank while reading");
			rc = KERN_ERR_IO;
			goto out;
		}
		got += (size_t)r;
	}
	rc = kern_st_parse(out, diag, buf, got);
	if (rc && diag) {
		char tmp[KERN_DIAG_BYTES];
		memcpy(tmp, diag->msg, sizeof tmp);
		kern_diagf(diag, "'%.64s': %s", path, tmp);
	}
out:
	free(buf);
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Writer                                                               */

struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

__attribute__((format(printf, 2, 3)))
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t ncap = b->cap * 2 + (size_t)n + 64;
		char *np = realloc(b->p, ncap);
		if (np == NULL) {
			b->oom = 1;
			return;
		}
		b->p = np;
		b->cap = ncap;
	}
}

static int cmp_tensor_ptr(const void *x, const void *y)
{
	const struct kern_tensor *const *a = x, *const *b = y;
	return strcmp((*a)->name, (*b)->name);
}

/* A name goes into the header as a JSON string: only printable ASCII
 * without '"' and '\\' is written, so no escaping is ever needed. */
static int name_plain(const char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e || *s == '"' || *s == '\\')
			return 0;
	return 1;
}

enum kern_err kern_st_serialize(uint8_t **out, size_t *out_len,
				struct kern_diag *diag,
				const struct kern_tensors *s)
{
	const struct kern_tensor **order = NULL;
	struct sbuf h = { NULL, 0, 0, 0 };
	uint64_t off = 0, total;
	size_t hlen;
	uint8_t *buf = NULL;
	enum kern_err rc = KERN_OK;

	if (out == NULL || out_len == NULL || s == NULL)
		return KERN_ERR_ARG;
	*out = NULL;
	*out_len = 0;
	order = malloc((s->count ? s->count : 1) * sizeof *order);
	h.cap = 256;
	h.p = malloc(h.cap);
	if (order == NULL || h.p == NULL) {
		rc = KERN_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < s->count; i++) {
		order[i] = &s->t[i];
		if (!name_plain(s->t[i].name)) {
			kern_diagf(diag, "safetensors: tensor name is not plain printable ASCII");
			rc = KERN_ERR_NAME;
			goto out;
		}
		if (kern_dtype_name(s->t[i].dtype) == NULL) {
			kern_diagf(diag, "safetensors: tensor \"%s\": unknown dtype", s->t[i].name);
			rc = KERN_ERR_DTYPE;
			goto out;
		}
	}
	qsort(order, s->count, sizeof *order, cmp_tensor_ptr);
	sb_printf(&h, "{");
	for (size_t i = 0; i < s->count; i++) {
		const struct kern_tensor *t = order[i];
		if (i > 0 && strcmp(order[i - 1]->name, t->name) == 0) {
			kern_diagf(diag, "safetensors: duplicate tensor \"%s\"", t->name);
			rc = KERN_ERR_DUP_TENSOR;
			goto out;
		}
		sb_printf(&h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[", i ? "," : "",
			  t->name, kern_dtype_name(t->dtype));
		for (uint32_t d = 0; d < t->rank; d++)
			sb_printf(&h, "%s%llu", d ? "," : "", (unsigned long long)t->shape[d]);
		sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
			  (unsigned long long)(off + t->size_bytes));
		off += t->size_bytes;
	}
	sb_printf(&h, "}");
	/* Spaces until 8 + header is a multiple of 8. */
	while (!h.oom && (h.len % 8) != 0)
		sb_printf(&h, " ");
	if (h.oom) {
		rc = KERN_ERR_NOMEM;
		goto out;
	}
	hlen = h.len;
	total = 8 + (uint64_t)hlen + off;
	if (total > KERN_JOB_BYTES_MAX) {
		kern_diagf(diag, "safetensors: output of %llu bytes, over %llu",
		      (unsigned long long)total, KERN_JOB_BYTES_MAX);
		rc = KERN_ERR_JOB_BYTES;
		goto out;
	}
	buf = malloc((size_t)total);
	if (buf == NULL) {
		rc = KERN_ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
	memcpy(buf + 8, h.p, hlen);
	off = 8 + hlen;
	for (size_t i = 0; i < s->count; i++) {
		if (order[i]->size_bytes)
			memcpy(buf + off, order[i]->data, order[i]->size_bytes);
		off += order[i]->size_bytes;
	}
	assert(off == total);
	*out = buf;
	*out_len = (size_t)total;
	buf = NULL;
out:
	free(buf);
	free(h.p);
	free(order);
	return rc;
}

/* Written to a temporary file beside `path` (mode 0600: outputs are
 * customer data), fsynced, then renamed over `path`, so a reader never
 * sees a half-written file and a failure leaves no partial output. */
enum kern_err kern_st_write_file(struct kern_diag *diag, const char *path,
				 const struct kern_tensors *s)
{
	uint8_t *buf = NULL;
	size_t len = 0, done = 0;
	char tmp[4096];
	enum kern_err rc;
	int fd, n;

	if (path == NULL || s == NULL)
		return KERN_ERR_ARG;
	n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof tmp) {
		kern_diagf(diag, "could not create '%.128s': path too long", path);
		return KERN_ERR_IO;
	}
	rc = kern_st_serialize(&buf, &len, diag, s);
	if (rc)
		return rc;
	fd = mkstemp(tmp);
	if (fd < 0) {
		kern_diagf(diag, "could not create '%.128s': %s", path, strerror(errno));
		free(buf);
		return KERN_ERR_IO;
	}
	while (done < len) {
		ssize_t w = write(fd, buf + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			kern_diagf(diag, "could not write '%.128s': %s", path,
			      w < 0 ? strerror(errno) : "short write");
			rc = KERN_ERR_IO;
			break;
		}
		done += (size_t)w;
	}
	if (rc == KERN_OK && fsync(fd) != 0) {
		kern_diagf(diag, "could not sync '%.128s': %s", path, strerror(errno));
		rc = KERN_ERR_IO;
	}
	if (close(fd) != 0 && rc == KERN_OK) {
		kern_diagf(diag, "could not close '%.128s': %s", path, strerror(errno));
		rc = KERN_ERR_IO;
	}
	if (rc == KERN_OK && rename(tmp, path) != 0) {
		kern_diagf(diag, "could not write '%.128s': %s", path, strerror(errno));
		rc = KERN_ERR_IO;
	}
	if (rc != KERN_OK)
		(void)unlink(tmp);
	free(buf);
	return rc;
}

enum kern_err kern_run_file(char device_used[KERN_DEVICE_BYTES],
			    struct kern_diag *diag, const char *kernel,
			    const char *in_path, const char *params,
			    size_t params_len, const char *out_path,
			    const struct kern_run_opts *opts)
{
	struct kern_tensors in, out;
	enum kern_err rc;

	if (device_used == NULL || kernel == NULL || in_path == NULL ||
	    params == NULL || out_path == NULL)
		return KERN_ERR_ARG;
	kern_tensors_init(&in);
	kern_tensors_init(&out);
	rc = kern_st_read_file(&in, diag, in_path);
	if (rc == KERN_OK)
		rc = kern_run(&out, device_used, diag, kernel, &in, params, params_len, opts);
	kern_tensors_release(&in);
	if (rc == KERN_OK)
		rc = kern_st_write_file(diag, out_path, &out);
	kern_tensors_release(&out);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Models: memory-mapped, tensors borrowed from the mapping             */

static enum kern_err model_map(struct kern_model *m, struct kern_diag *diag, const char *path)
{
	struct stat st;
	enum kern_err rc = KERN_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		kern_diagf(diag, "could not open model '%.128s': %s", path, strerror(errno));
		return KERN_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		kern_diagf(diag, "could not read model '%.128s': not a regular file", path);
		rc = KERN_ERR_IO;
	} else if ((uint64_t)st.st_size > KERN_MODEL_BYTES_MAX) {
		kern_diagf(diag, "model '%.128s': %lld bytes, over %llu", path,
			   (long long)st.st_size, KERN_MODEL_BYTES_MAX);
		rc = KERN_ERR_MODEL_BYTES;
	} else if (st.st_size < 8) {
		kern_diagf(diag, "model '%.128s': %lld bytes hold no safetensors header", path,
			   (long long)st.st_size);
		rc = KERN_ERR_ST_HEADER_SIZE;
	} else {
		m->map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m->map == MAP_FAILED) {
			m->map = NULL;
			kern_diagf(diag, "could not map model '%.128s': %s", path, strerror(errno));
			rc = KERN_ERR_IO;
		} else {
			m->map_len = (size_t)st.st_size;
		}
	}
	close(fd);
	return rc;
}

/* Points every tensor into the data area at `data` (4-byte aligned). */
static enum kern_err model_tensors(struct kern_model *m, const struct hdr *h,
				   const uint8_t *data)
{
	m->tensors.t = calloc(h->n ? h->n : 1, sizeof *m->tensors.t);
	if (m->tensors.t == NULL)
		return KERN_ERR_NOMEM;
	m->tensors.borrowed = 1;
	for (size_t i = 0; i < h->n; i++) {
		struct kern_tensor *t = &m->tensors.t[i];
		const struct entry *e = &h->ents[i];
		memcpy(t->name, e->name, strlen(e->name) + 1);  /* <= KERN_NAME_BYTES_MAX */
		t->dtype = e->dtype;
		t->rank = e->rank;
		t->elems = 1;
		for (uint32_t d = 0; d < e->rank; d++) {
			t->shape[d] = e->shape[d];
			t->elems *= e->shape[d];
		}
		t->size_bytes = (size_t)(e->end - e->begin);
		t->data = (void *)(uintptr_t)(data + e->begin);
	}
	m->tensors.count = h->n;
	return KERN_OK;
}

/* Parses the model file image base[0..len) into m->tensors (borrowed;
 * one aligned copy of the data area when it is not 8-byte aligned). */
static enum kern_err model_parse(struct kern_model *m, struct kern_diag *diag,
				 const uint8_t *base, size_t len)
{
	struct hdr h;
	const uint8_t *data;
	enum kern_err rc;

	rc = parse_header(&h, diag, base, len, KERN_MODEL_TENSORS_MAX, KERN_ERR_MODEL_TENSORS);
	if (rc == KERN_OK) {
		data = base + 8 + h.hlen;
		if ((uintptr_t)data % 8 != 0) {
			/* A header length not a multiple of 8: one aligned copy,
			 * so that every F32 is aligned. */
			size_t dl = len - 8 - (size_t)h.hlen;
			m->copy = malloc(dl ? dl : 1);
			if (m->copy == NULL)
				rc = KERN_ERR_NOMEM;
			else
				data = memcpy(m->copy, data, dl);
		}
		if (rc == KERN_OK)
			rc = model_tensors(m, &h, data);
	}
	hdr_free(&h);
	return rc;
}

enum kern_err kern_model_open(struct kern_model *m, struct kern_diag *diag, const char *path)
{
	enum kern_err rc;

	if (diag)
		diag->msg[0] = '\0';
	if (m == NULL || path == NULL)
		return KERN_ERR_ARG;
	memset(m, 0, sizeof *m);
	kern_tensors_init(&m->tensors);
	if ((rc = model_map(m, diag, path)))
		return rc;
	rc = model_parse(m, diag, m->map, m->map_len);
	if (rc) {
		char tmp[KERN_DIAG_BYTES];
		if (diag) {
			memcpy(tmp, diag->msg, sizeof tmp);
			kern_diagf(diag, "model '%.64s': %s", path, tmp);
		}
		kern_model_close(m);
	}
	return rc;
}

enum kern_err kern_model_from_map(struct kern_model *m, struct kern_diag *diag,
				  const void *map, size_t len)
{
	enum kern_err rc;

	if (diag)
		diag->msg[0] = '\0';
	if (m == NULL || map == NULL)
		return KERN_ERR_ARG;
	memset(m, 0, sizeof *m);
	kern_tensors_init(&m->tensors);
	if ((uint64_t)len > KERN_MODEL_BYTES_MAX) {
		kern_diagf(diag, "model of %zu bytes, over %llu", len, KERN_MODEL_BYTES_MAX);
		return KERN_ERR_MODEL_BYTES;
	}
	rc = model_parse(m, diag, map, len);
	if (rc)
		kern_model_close(m);
	return rc;
}

void kern_model_close(struct kern_model *m)
{
	if (m == NULL)
		return;
	kern_tensors_release(&m->tensors);
	if (m->map)
		(void)munmap(m->map, m->map_len);
	free(m->copy);
	m->map = NULL;
	m->map_len = 0;
	m->copy = NULL;
}
