/*
 * check.c: what the validator accepts from a provider, the evidence it
 * names on a mismatch, and the attestation it signs.
 *
 * Invariant: no byte fetched from a provider is used (re-executed,
 * quoted as evidence, sent to the escrow) unless it matches a
 * commitment signed by the customer (input) or the provider (output).
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "validator.h"

#include "banned.h"

static enum valid_err commit_eq(int *eq, const void *data, size_t len,
				const uint8_t root[RCPT_HASH_BYTES], uint64_t size)
{
	struct rcpt_commitment c;

	*eq = 0;
	if ((uint64_t)len != size)
		return VALID_OK;        /* no need to hash: the size differs */
	if (rcpt_commit_buf(&c, data, len) != RCPT_OK)
		return VALID_ERR_CRYPTO;
	*eq = memcmp(c.root, root, RCPT_HASH_BYTES) == 0;
	return VALID_OK;
}

enum valid_err valid_check_input(const struct rcpt_job *job, const void *data, size_t len)
{
	enum valid_err rc;
	int eq;

	if (!job || (!data && len))
		return VALID_ERR_ARG;
	rc = commit_eq(&eq, data, len, job->input_root, job->input_size);
	if (rc)
		return rc;
	return eq ? VALID_OK : VALID_ERR_INPUT_MISMATCH;
}

enum valid_err valid_check_output(const struct rcpt_receipt *r, const void *data, size_t len)
{
	enum valid_err rc;
	int eq;

	if (!r || (!data && len))
		return VALID_ERR_ARG;
	rc = commit_eq(&eq, data, len, r->output_root, r->output_size);
	if (rc)
		return rc;
	return eq ? VALID_OK : VALID_ERR_OUTPUT_MISMATCH;
}

enum valid_err valid_evidence_find(struct valid_evidence *out,
				   const uint8_t *theirs, size_t theirs_len,
				   const uint8_t *mine, size_t mine_len)
{
	uint64_t chunks, i;

	if (!out || (!theirs && theirs_len) || (!mine && mine_len))
		return VALID_ERR_ARG;
	memset(out, 0, sizeof(*out));
	chunks = ((uint64_t)theirs_len + RCPT_CHUNK_BYTES - 1) / RCPT_CHUNK_BYTES;
	for (i = 0; i < chunks; i++) {
		size_t off = (size_t)(i * RCPT_CHUNK_BYTES);
		size_t tl = theirs_len - off < RCPT_CHUNK_BYTES ? theirs_len - off : RCPT_CHUNK_BYTES;
		size_t ml = off >= mine_len ? 0
			: (mine_len - off < RCPT_CHUNK_BYTES ? mine_len - off : RCPT_CHUNK_BYTES);
		if (tl == ml && memcmp(theirs + off, mine + off, tl) == 0)
			continue;
		out->chunk = i;
		out->data = theirs + off;
		out->data_len = tl;
		if (rcpt_proof_buf(out->proof, &out->proof_len, theirs, theirs_len, i) != RCPT_OK)
			return VALID_ERR_CRYPTO;
		assert(out->proof_len <= RCPT_PROOF_HASHES_MAX);
		assert(out->data_len > 0 && out->data_len <= RCPT_CHUNK_BYTES);
		return VALID_OK;
	}
	return VALID_ERR_NO_EVIDENCE;
}

enum valid_err valid_attest_sign(uint8_t sig[RCPT_SIG_BYTES], const struct rcpt_key *key,
				 const struct rcpt_domain *domain,
				 const struct rcpt_attestation *a)
{
	uint8_t dg[RCPT_HASH_BYTES], back[RCPT_ADDR_BYTES];

	if (!sig || !key || !domain || !a)
		return VALID_ERR_ARG;
	if (a->verdict != RCPT_VERDICT_MATCH && a->verdict != RCPT_VERDICT_DIFFERS)
		return VALID_ERR_ARG;
	if (memcmp(a->validator, key->address, RCPT_ADDR_BYTES) != 0)
		return VALID_ERR_ARG;
	if (rcpt_attestation_digest(dg, NULL, domain, a) != RCPT_OK)
		return VALID_ERR_CRYPTO;
	if (rcpt_sign_digest(sig, key, dg) != RCPT_OK)
		return VALID_ERR_CRYPTO;
	/* Pair the signature with its check before it can leave. */
	if (rcpt_recover_digest(back, sig, dg) != RCPT_OK ||
	    memcmp(back, key->address, RCPT_ADDR_BYTES) != 0)
		return VALID_ERR_CRYPTO;
	return VALID_OK;
}

static char *b64(const uint8_t *data, size_t len)
{
	size_t n = 4 * ((len + 2) / 3) + 1;
	char *s;

	if (len > (size_t)INT32_MAX / 2)
		return NULL;
	s = malloc(n);
	if (!s)
		return NULL;
	EVP_EncodeBlock((unsigned char *)s, data, (int)len);
	return s;
}

enum valid_err valid_attest_body(char **out, const struct rcpt_attestation *a,
				 const uint8_t sig[RCPT_SIG_BYTES],
				 const uint8_t *input, size_t input_len,
				 const struct valid_evidence *ev)
{
	char *at = NULL, sh[RCPT_SIG_HEX_BYTES], *s = NULL;
	json_t *o = NULL, *aj;
	enum valid_err rc = VALID_ERR_NOMEM;

	if (!out || !a || !sig || (!input && input_len))
		return VALID_ERR_ARG;
	*out = NULL;
	if (rcpt_attestation_to_json(&at, a) != RCPT_OK ||
	    rcpt_hex_encode(sh, sizeof(sh), sig, RCPT_SIG_BYTES) != RCPT_OK)
		goto out;
	o = json_object();
	aj = o ? json_loads(at, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!aj || json_object_set_new(o, "attestation", aj) ||
	    json_object_set_new(o, "signature", json_string(sh)))
		goto out;
	if (input) {
		s = b64(input, input_len);
		if (!s || json_object_set_new(o, "input", json_string(s)))
			goto out;
		free(s);
		s = NULL;
	}
	if (ev) {
		json_t *e = json_object(), *proof = json_array();
		size_t i;
		int bad = !e || !proof;
		s = b64(ev->data, ev->data_len);
		bad = bad || !s;
		for (i = 0; !bad && i < ev->proof_len; i++) {
			char h[RCPT_HASH_HEX_BYTES];
			bad = rcpt_hex_encode(h, sizeof(h), ev->proof[i], RCPT_HASH_BYTES) != RCPT_OK ||
			      json_array_append_new(proof, json_string(h)) != 0;
		}
		if (!bad)
			bad = json_object_set_new(e, "chunk", json_integer((json_int_t)ev->chunk)) ||
			      json_object_set_new(e, "data", json_string(s));
		if (!bad) {
			bad = json_object_set_new(e, "proof", proof);
			proof = NULL;
		}
		if (!bad) {
			bad = json_object_set_new(o, "evidence", e);
			e = NULL;
		}
		json_decref(proof);
		json_decref(e);
		if (bad)
			goto out;
	}
	*out = json_dumps(o, JSON_COMPACT);
	if (*out)
		rc = VALID_OK;
out:
	json_decref(o);
	free(at);
	free(s);
	return rc;
}
