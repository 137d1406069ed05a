/*
 * json.c: strict JSON forms of PROTOCOL.md section 4, through jansson.
 *
 * Strictness: one document (jansson refuses trailing bytes unless told
 * otherwise), no duplicate key (JSON_REJECT_DUPLICATES), every expected
 * key present with its exact type, no other key.  Each statement is
 * described by a table of fields; one parser walks the table, so the
 * rules are written once.  Messages name the field by its JSON path
 * ("job.maxPrice") and never quote a value longer than a few bytes.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "internal.h"
#include "banned.h"

enum ftype {
	F_ADDR,    /* EIP-55 address string */
	F_B32,     /* 0x + 64 hex */
	F_U64,     /* JSON integer in [0, 2^53 - 1] */
	F_U256,    /* canonical decimal string */
	F_STR,     /* string of at most `cap` bytes */
	F_U8,      /* JSON integer in [0, 255] */
	F_KERNEL,  /* name@version string */
};

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	size_t cap;        /* F_STR: buffer size including NUL */
	int allow_empty;   /* F_STR */
};

#define FLD(s, k, t, m) { k, t, offsetof(struct s, m), 0, 0 }
#define STR(s, k, m, e) { k, F_STR, offsetof(struct s, m), sizeof(((struct s *)0)->m), e }

static const struct field domain_fields[] = {
	STR(rcpt_domain, "name", name, 1),
	STR(rcpt_domain, "version", version, 1),
	FLD(rcpt_domain, "chainId", F_U64, chain_id),
	FLD(rcpt_domain, "verifyingContract", F_ADDR, verifying_contract),
};

static const struct field job_fields[] = {
	FLD(rcpt_job, "customer", F_ADDR, customer),
	FLD(rcpt_job, "provider", F_ADDR, provider),
	{ "kernel", F_KERNEL, offsetof(struct rcpt_job, kernel),
	  sizeof(((struct rcpt_job *)0)->kernel), 0 },
	FLD(rcpt_job, "kernelHash", F_B32, kernel_hash),
	STR(rcpt_job, "params", params, 0),
	FLD(rcpt_job, "inputRoot", F_B32, input_root),
	FLD(rcpt_job, "inputSize", F_U64, input_size),
	FLD(rcpt_job, "maxPrice", F_U256, max_price),
	FLD(rcpt_job, "deadline", F_U64, deadline),
	FLD(rcpt_job, "nonce", F_U64, nonce),
};

static const struct field receipt_fields[] = {
	FLD(rcpt_receipt, "job", F_B32, job),
	FLD(rcpt_receipt, "kernelHash", F_B32, kernel_hash),
	FLD(rcpt_receipt, "inputRoot", F_B32, input_root),
	FLD(rcpt_receipt, "inputSize", F_U64, input_size),
	FLD(rcpt_receipt, "outputRoot", F_B32, output_root),
	FLD(rcpt_receipt, "outputSize", F_U64, output_size),
	FLD(rcpt_receipt, "price", F_U256, price),
	STR(rcpt_receipt, "device", device, 0),
	FLD(rcpt_receipt, "startedAt", F_U64, started_at_ms),
	FLD(rcpt_receipt, "finishedAt", F_U64, finished_at_ms),
	FLD(rcpt_receipt, "provider", F_ADDR, provider),
};

static const struct field attestation_fields[] = {
	FLD(rcpt_attestation, "receipt", F_B32, receipt),
	FLD(rcpt_attestation, "outputRoot", F_B32, output_root),
	FLD(rcpt_attestation, "verdict", F_U8, verdict),
	FLD(rcpt_attestation, "validator", F_ADDR, validator),
};

static const struct field decision_fields[] = {
	FLD(rcpt_decision, "operator", F_ADDR, operator_addr),
	FLD(rcpt_decision, "provider", F_ADDR, provider),
	STR(rcpt_decision, "action", action, 0),
	STR(rcpt_decision, "organisation", organisation, 1),
	STR(rcpt_decision, "contact", contact, 1),
	FLD(rcpt_decision, "expires", F_U64, expires),
	FLD(rcpt_decision, "nonce", F_U64, nonce),
	FLD(rcpt_decision, "issuedAt", F_U64, issued_at),
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* "job.maxPrice" or "maxPrice" when there is no prefix. */
static void path_of(char *out, size_t len, const char *prefix, const char *key)
{
	if (prefix && prefix[0])
		snprintf(out, len, "%s.%s", prefix, key);
	else
		snprintf(out, len, "%s", key);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "an object";
	case JSON_ARRAY: return "an array";
	case JSON_STRING: return "a string";
	case JSON_INTEGER: return "an integer";
	case JSON_REAL: return "a real number";
	case JSON_TRUE: case JSON_FALSE: return "a boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static enum rcpt_err parse_field(void *base, struct rcpt_diag *diag,
				 const char *path, const struct field *f,
				 const json_t *v)
{
	uint8_t *dst = (uint8_t *)base + f->off;
	const char *s;
	size_t slen;
	json_int_t n;

	if (f->type == F_U64 || f->type == F_U8) {
		if (!json_is_integer(v)) {
			rcpt_diagf(diag, "%s: expected an integer, got %s", path,
				   type_name(v));
			return RCPT_ERR_FIELD;
		}
		n = json_integer_value(v);
		if (n < 0 || (uint64_t)n > (f->type == F_U8 ? 255u : RCPT_JSON_UINT_MAX)) {
			rcpt_diagf(diag, "%s: integer out of range [0, %s]", path,
				   f->type == F_U8 ? "255" : "2^53 - 1");
			return RCPT_ERR_FIELD;
		}
		if (f->type == F_U8)
			*dst = (uint8_t)n;
		else
			memcpy(dst, &(uint64_t){ (uint64_t)n }, sizeof(uint64_t));
		return RCPT_OK;
	}
	if (!json_is_string(v)) {
		rcpt_diagf(diag, "%s: expected a string, got %s", path, type_name(v));
		return RCPT_ERR_FIELD;
	}
	s = json_string_value(v);
	slen = json_string_length(v);
	/* A NUL inside the string would make two readings of one field. */
	if (strlen(s) != slen) {
		rcpt_diagf(diag, "%s: contains a NUL character", path);
		return RCPT_ERR_FIELD;
	}
	switch (f->type) {
	case F_ADDR:
		switch (rcpt_address_parse(dst, s)) {
		case RCPT_OK: return RCPT_OK;
		case RCPT_ERR_CHECKSUM:
			rcpt_diagf(diag, "%s: bad EIP-55 checksum", path);
			return RCPT_ERR_FIELD;
		default:
			rcpt_diagf(diag, "%s: not an address (0x and 40 hex digits)", path);
			return RCPT_ERR_FIELD;
		}
	case F_B32:
		if (rcpt_hex_decode(dst, 32, s) != RCPT_OK) {
			rcpt_diagf(diag, "%s: not bytes32 (0x and 64 hex digits)", path);
			return RCPT_ERR_FIELD;
		}
		return RCPT_OK;
	case F_U256:
		if (rcpt_u256_parse((struct rcpt_u256 *)dst, s) != RCPT_OK) {
			rcpt_diagf(diag, "%s: not a canonical uint256 decimal string", path);
			return RCPT_ERR_FIELD;
		}
		return RCPT_OK;
	case F_KERNEL:
		if (rcpt_check_kernel(diag, path, s))
			return RCPT_ERR_FIELD;
		RCPT_ASSERT(slen < f->cap);
		memcpy(dst, s, slen + 1);
		return RCPT_OK;
	case F_STR:
		RCPT_ASSERT(f->cap > 0);
		if (slen >= f->cap) {
			rcpt_diagf(diag, "%s: longer than %zu bytes", path, f->cap - 1);
			return RCPT_ERR_FIELD;
		}
		if (rcpt_check_text(diag, path, s, f->cap - 1, f->allow_empty))
			return RCPT_ERR_FIELD;
		memcpy(dst, s, slen + 1);
		return RCPT_OK;
	case F_U64:
	case F_U8:
		break;
	}
	RCPT_ASSERT(0);
}

/* Fills base from obj per the table; refuses missing and unknown keys. */
static enum rcpt_err parse_object(void *base, struct rcpt_diag *diag,
				  const char *prefix, const json_t *obj,
				  const struct field *fields, size_t nfields)
{
	char path[96];
	const char *key;
	json_t *v;
	enum rcpt_err rc;

	if (!json_is_object(obj)) {
		rcpt_diagf(diag, "%s: expected an object, got %s",
			   prefix && prefix[0] ? prefix : "document", type_name(obj));
		return RCPT_ERR_FIELD;
	}
	json_object_foreach((json_t *)obj, key, v) {
		size_t i;
		(void)v;
		for (i = 0; i < nfields; i++)
			if (strcmp(key, fields[i].key) == 0)
				break;
		if (i == nfields) {
			char shown[40];
			/* Quote at most 32 bytes of an unknown key. */
			snprintf(shown, sizeof(shown), "%.32s", key);
			path_of(path, sizeof(path), prefix, shown);
			rcpt_diagf(diag, "%s: unknown key", path);
			return RCPT_ERR_FIELD;
		}
	}
	for (size_t i = 0; i < nfields; i++) {
		path_of(path, sizeof(path), prefix, fields[i].key);
		v = json_object_get(obj, fields[i].key);
		if (!v) {
			rcpt_diagf(diag, "%s: missing", path);
			return RCPT_ERR_FIELD;
		}
		rc = parse_field(base, diag, path, &fields[i], v);
		if (rc)
			return rc;
	}
	return RCPT_OK;
}

static enum rcpt_err load(json_t **out, struct rcpt_diag *diag,
			  const char *text, size_t len)
{
	json_error_t err;

	*out = NULL;
	if (!text)
		return RCPT_ERR_ARG;
	if (len > RCPT_JSON_BYTES_MAX) {
		rcpt_diagf(diag, "document larger than %d bytes", RCPT_JSON_BYTES_MAX);
		return RCPT_ERR_TOO_LARGE;
	}
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!*out) {
		rcpt_diagf(diag, "malformed JSON at line %d column %d: %s",
			   err.line, err.column, err.text);
		return RCPT_ERR_JSON;
	}
	return RCPT_OK;
}

#define DEFINE_PARSER(fn, type, table, prefix)                               \
	enum rcpt_err fn(struct type *out, struct rcpt_diag *diag,          \
			 const char *json, size_t len)                       \
	{                                                                    \
		struct type tmp;                                             \
		json_t *doc;                                                 \
		enum rcpt_err rc;                                            \
		if (!out)                                                    \
			return RCPT_ERR_ARG;                                 \
		rc = load(&doc, diag, json, len);                            \
		if (rc)                                                      \
			return rc;                                           \
		memset(&tmp, 0, sizeof(tmp));                                \
		rc = parse_object(&tmp, diag, prefix, doc, table,            \
				  NFIELDS(table));                           \
		json_decref(doc);                                            \
		if (!rc)                                                     \
			*out = tmp;                                          \
		return rc;                                                   \
	}

DEFINE_PARSER(rcpt_domain_parse, rcpt_domain, domain_fields, "")
DEFINE_PARSER(rcpt_job_parse, rcpt_job, job_fields, "")
DEFINE_PARSER(rcpt_receipt_parse, rcpt_receipt, receipt_fields, "")
DEFINE_PARSER(rcpt_attestation_parse, rcpt_attestation, attestation_fields, "")
DEFINE_PARSER(rcpt_decision_parse, rcpt_decision, decision_fields, "")

enum rcpt_err rcpt_sig_parse(uint8_t out[RCPT_SIG_BYTES], const char *text)
{
	if (!out || !text)
		return RCPT_ERR_ARG;
	return rcpt_hex_decode(out, RCPT_SIG_BYTES, text);
}

/* ------------------------------------------------------------------ */
/* Serialisation                                                        */

static json_t *field_value(const void *base, const struct field *f)
{
	const uint8_t *src = (const uint8_t *)base + f->off;
	char buf[RCPT_U256_DEC_BYTES > RCPT_HASH_HEX_BYTES ? RCPT_U256_DEC_BYTES
							 : RCPT_HASH_HEX_BYTES];
	uint64_t u;

	switch (f->type) {
	case F_ADDR:
		rcpt_address_format(buf, src);
		return json_string(buf);
	case F_B32:
		if (rcpt_hex_encode(buf, sizeof(buf), src, 32))
			return NULL;
		return json_string(buf);
	case F_U64:
		memcpy(&u, src, sizeof(u));
		if (u > RCPT_JSON_UINT_MAX)
			return NULL;
		return json_integer((json_int_t)u);
	case F_U8:
		return json_integer(*src);
	case F_U256:
		rcpt_u256_format(buf, (const struct rcpt_u256 *)src);
		return json_string(buf);
	case F_STR:
	case F_KERNEL:
		if (strnlen((const char *)src, f->cap) >= f->cap)
			return NULL;
		return json_string((const char *)src);
	}
	return NULL;
}

static json_t *build_object(const void *base, const struct field *fields,
			    size_t nfields)
{
	json_t *obj = json_object();

	if (!obj)
		return NULL;
	for (size_t i = 0; i < nfields; i++) {
		json_t *v = field_value(base, &fields[i]);
		/* json_object_set_new takes v even on failure. */
		if (!v || json_object_set_new(obj, fields[i].key, v) != 0) {
			json_decref(obj);
			return NULL;
		}
	}
	return obj;
}

static enum rcpt_err dump(char **out, json_t *doc)
{
	/* jansson keeps insertion order: keys come out in the order of the
	 * EIP-712 type, which makes the output stable. */
	*out = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	return *out ? RCPT_OK : RCPT_ERR_FIELD;
}

enum rcpt_err rcpt_domain_to_json(char **out, const struct rcpt_domain *d)
{
	if (!out || !d)
		return RCPT_ERR_ARG;
	return dump(out, build_object(d, domain_fields, NFIELDS(domain_fields)));
}

enum rcpt_err rcpt_job_to_json(char **out, const struct rcpt_job *job)
{
	if (!out || !job)
		return RCPT_ERR_ARG;
	return dump(out, build_object(job, job_fields, NFIELDS(job_fields)));
}

enum rcpt_err rcpt_receipt_to_json(char **out, const struct rcpt_receipt *r)
{
	if (!out || !r)
		return RCPT_ERR_ARG;
	return dump(out, build_object(r, receipt_fields, NFIELDS(receipt_fields)));
}

enum rcpt_err rcpt_attestation_to_json(char **out, const struct rcpt_attestation *a)
{
	if (!out || !a)
		return RCPT_ERR_ARG;
	return dump(out, build_object(a, attestation_fields,
				      NFIELDS(attestation_fields)));
}

enum rcpt_err rcpt_decision_to_json(char **out, const struct rcpt_decision *d)
{
	if (!out || !d)
		return RCPT_ERR_ARG;
	return dump(out, build_object(d, decision_fields, NFIELDS(decision_fields)));
}

/* ------------------------------------------------------------------ */
/* Bundles                                                              */

static enum rcpt_err parse_sig_field(uint8_t out[RCPT_SIG_BYTES],
				     struct rcpt_diag *diag, const char *key,
				     const json_t *v)
{
	if (!json_is_string(v)) {
		rcpt_diagf(diag, "%s: expected a string, got %s", key, type_name(v));
		return RCPT_ERR_FIELD;
	}
	if (strlen(json_string_value(v)) != json_string_length(v) ||
	    rcpt_sig_parse(out, json_string_value(v)) != RCPT_OK) {
		rcpt_diagf(diag, "%s: not a signature (0x and 130 hex digits)", key);
		return RCPT_ERR_FIELD;
	}
	return RCPT_OK;
}

enum rcpt_err rcpt_bundle_parse(struct rcpt_bundle *out, struct rcpt_diag *diag,
				const char *json, size_t len)
{
	static const char *const keys[] = { "domain", "job", "jobSignature",
					    "receipt", "receiptSignature" };
	struct rcpt_bundle tmp;
	const char *key;
	json_t *doc, *v;
	enum rcpt_err rc;

	if (!out)
		return RCPT_ERR_ARG;
	rc = load(&doc, diag, json, len);
	if (rc)
		return rc;
	memset(&tmp, 0, sizeof(tmp));
	if (!json_is_object(doc)) {
		rcpt_diagf(diag, "bundle: expected an object, got %s", type_name(doc));
		rc = RCPT_ERR_FIELD;
		goto out;
	}
	json_object_foreach(doc, key, v) {
		size_t i;
		for (i = 0; i < 5; i++)
			if (strcmp(key, keys[i]) == 0)
				break;
		if (i == 5) {
			rcpt_diagf(diag, "%.32s: unknown key", key);
			rc = RCPT_ERR_FIELD;
			goto out;
		}
	}
	for (size_t i = 0; i < 5; i++) {
		if (!json_object_get(doc, keys[i])) {
			rcpt_diagf(diag, "%s: missing", keys[i]);
			rc = RCPT_ERR_FIELD;
			goto out;
		}
	}
	rc = parse_object(&tmp.domain, diag, "domain", json_object_get(doc, "domain"),
			  domain_fields, NFIELDS(domain_fields));
	if (!rc)
		rc = parse_object(&tmp.job, diag, "job", json_object_get(doc, "job"),
				  job_fields, NFIELDS(job_fields));
	if (!rc)
		rc = parse_sig_field(tmp.job_sig, diag, "jobSignature",
				     json_object_get(doc, "jobSignature"));
	if (!rc)
		rc = parse_object(&tmp.receipt, diag, "receipt",
				  json_object_get(doc, "receipt"), receipt_fields,
				  NFIELDS(receipt_fields));
	if (!rc)
		rc = parse_sig_field(tmp.receipt_sig, diag, "receiptSignature",
				     json_object_get(doc, "receiptSignature"));
	if (!rc)
		*out = tmp;
out:
	json_decref(doc);
	return rc;
}

static json_t *sig_value(const uint8_t sig[RCPT_SIG_BYTES])
{
	char buf[RCPT_SIG_HEX_BYTES];

	if (rcpt_hex_encode(buf, sizeof(buf), sig, RCPT_SIG_BYTES))
		return NULL;
	return json_string(buf);
}

enum rcpt_err rcpt_bundle_to_json(char **out, const struct rcpt_bundle *b)
{
	json_t *doc;

	if (!out || !b)
		return RCPT_ERR_ARG;
	doc = json_object();
	if (!doc ||
	    json_object_set_new(doc, "domain", build_object(&b->domain, domain_fields,
							    NFIELDS(domain_fields))) ||
	    json_object_set_new(doc, "job", build_object(&b->job, job_fields,
							 NFIELDS(job_fields))) ||
	    json_object_set_new(doc, "jobSignature", sig_value(b->job_sig)) ||
	    json_object_set_new(doc, "receipt",
				build_object(&b->receipt, receipt_fields,
					     NFIELDS(receipt_fields))) ||
	    json_object_set_new(doc, "receiptSignature", sig_value(b->receipt_sig))) {
		json_decref(doc);
		*out = NULL;
		return RCPT_ERR_NOMEM;
	}
	return dump(out, doc);
}
