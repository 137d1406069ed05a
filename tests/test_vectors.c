/*
 * test_vectors.c: the receipts library against known answers computed by
 * independent implementations: ethers.js v6 (Keccak, EIP-55, EIP-191,
 * EIP-712, secp256k1 signing and recovery, receipt bundles) and a
 * node:crypto RFC 6962 reference (commitments and audit paths).  The
 * vectors live in tests/vectors/ as JSON and are regenerated with
 * `make vectors` (tests/vectors/gen/).
 *
 * Every expected value comes from a vector file; nothing here compares
 * the library with itself, except the round trips that say so.  Each
 * loop reports every failing vector by name (cr_expect), not just the
 * first.
 */
#include "receipts.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vecutil.h"
#include "banned.h"

#define VEC_HEX(p, n) (vec_hexs((const uint8_t *)(p), (n)).s)
/* Whether rc is the error called `name` (rcpt_errname). */
#define VEC_IS(rc, name) (strcmp(rcpt_errname(rc), (name)) == 0)

/* ------------------------------------------------------------------ */
/* Struct comparisons for the round trips.                              */

static int vec_domain_equal(const struct rcpt_domain *a, const struct rcpt_domain *b)
{
	return strcmp(a->name, b->name) == 0 &&
	       strcmp(a->version, b->version) == 0 &&
	       a->chain_id == b->chain_id &&
	       vec_same(a->verifying_contract, b->verifying_contract, RCPT_ADDR_BYTES);
}

static int vec_job_equal(const struct rcpt_job *a, const struct rcpt_job *b)
{
	return vec_same(a->customer, b->customer, RCPT_ADDR_BYTES) &&
	       vec_same(a->provider, b->provider, RCPT_ADDR_BYTES) &&
	       strcmp(a->kernel, b->kernel) == 0 &&
	       vec_same(a->kernel_hash, b->kernel_hash, RCPT_HASH_BYTES) &&
	       strcmp(a->params, b->params) == 0 &&
	       vec_same(a->input_root, b->input_root, RCPT_HASH_BYTES) &&
	       a->input_size == b->input_size &&
	       vec_same(a->max_price.be, b->max_price.be, 32) &&
	       a->deadline == b->deadline && a->nonce == b->nonce;
}

static int vec_receipt_equal(const struct rcpt_receipt *a, const struct rcpt_receipt *b)
{
	return vec_same(a->job, b->job, RCPT_HASH_BYTES) &&
	       vec_same(a->kernel_hash, b->kernel_hash, RCPT_HASH_BYTES) &&
	       vec_same(a->input_root, b->input_root, RCPT_HASH_BYTES) &&
	       a->input_size == b->input_size &&
	       vec_same(a->output_root, b->output_root, RCPT_HASH_BYTES) &&
	       a->output_size == b->output_size &&
	       vec_same(a->price.be, b->price.be, 32) &&
	       strcmp(a->device, b->device) == 0 &&
	       a->started_at_ms == b->started_at_ms &&
	       a->finished_at_ms == b->finished_at_ms &&
	       vec_same(a->provider, b->provider, RCPT_ADDR_BYTES);
}

static int vec_attestation_equal(const struct rcpt_attestation *a,
				 const struct rcpt_attestation *b)
{
	return vec_same(a->receipt, b->receipt, RCPT_HASH_BYTES) &&
	       vec_same(a->output_root, b->output_root, RCPT_HASH_BYTES) &&
	       a->verdict == b->verdict &&
	       vec_same(a->validator, b->validator, RCPT_ADDR_BYTES);
}

/* r || s equal and v the same recovery id: a bundle read with v = 0/1
 * may be written back with v = 27/28 (PROTOCOL.md section 2). */
static int vec_sig_equal(const uint8_t a[RCPT_SIG_BYTES], const uint8_t b[RCPT_SIG_BYTES])
{
	unsigned va = a[64] >= 27 ? a[64] - 27u : a[64];
	unsigned vb = b[64] >= 27 ? b[64] - 27u : b[64];

	return vec_same(a, b, 64) && va == vb;
}

static int vec_bundle_equal(const struct rcpt_bundle *a, const struct rcpt_bundle *b)
{
	return vec_domain_equal(&a->domain, &b->domain) &&
	       vec_job_equal(&a->job, &b->job) &&
	       vec_sig_equal(a->job_sig, b->job_sig) &&
	       vec_receipt_equal(&a->receipt, &b->receipt) &&
	       vec_sig_equal(a->receipt_sig, b->receipt_sig);
}

/* A serialiser's output must be the JSON form of the vector (PROTOCOL.md
 * section 4: same values, lower-case bytes32, EIP-55 addresses, decimal
 * strings) with the keys in the vector's (the EIP-712 type's) order. */
static void vec_expect_json_form(const char *what, const char *got_text,
				 const json_t *want)
{
	json_error_t err;
	json_t *got = json_loads(got_text, JSON_REJECT_DUPLICATES, &err);
	void *gi, *wi;

	cr_expect_not_null(got, "%s: serialised JSON does not parse: %s", what, err.text);
	if (got == NULL)
		return;
	cr_expect(json_equal(got, want), "%s: serialised as %s", what, got_text);
	gi = json_object_iter(got);
	wi = json_object_iter((json_t *)want);
	while (gi != NULL && wi != NULL) {
		cr_expect_str_eq(json_object_iter_key(gi), json_object_iter_key(wi),
				 "%s: key order", what);
		gi = json_object_iter_next(got, gi);
		wi = json_object_iter_next((json_t *)want, wi);
	}
	cr_expect(gi == NULL && wi == NULL, "%s: key count differs", what);
	json_decref(got);
}

static char *vec_dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	cr_assert_not_null(s);
	return s;
}

static void vec_key(struct rcpt_key *key, const json_t *v, const char *member)
{
	uint8_t secret[RCPT_SECKEY_BYTES];
	enum rcpt_err rc;

	vec_unhex(secret, sizeof secret, vec_str(v, member));
	rc = rcpt_key_from_secret(key, secret);
	cr_assert(rc == RCPT_OK, "key from secret: %s", rcpt_errname(rc));
}

/* ------------------------------------------------------------------ */
/* Keccak-256                                                           */

Test(vectors, keccak)
{
	static const size_t steps[] = { 1, 7, 64, 135, 136, 137, 200 };
	json_t *root = vec_load("keccak.json");
	json_t *v;
	size_t i;

	cr_assert(json_array_size(root) >= 15);
	json_array_foreach(root, i, v) {
		size_t n, off, s = 0;
		uint8_t *in = vec_unhex_alloc(&n, vec_str(v, "input"));
		uint8_t want[RCPT_HASH_BYTES], got[RCPT_HASH_BYTES];
		struct rcpt_keccak k;

		vec_unhex(want, sizeof want, vec_str(v, "hash"));
		rcpt_keccak256(got, in, n);
		cr_expect(vec_same(got, want, 32), "keccak256 of %zu bytes: got %s, want %s",
			  n, VEC_HEX(got, 32), VEC_HEX(want, 32));

		/* Streaming, a byte at a time. */
		rcpt_keccak_init(&k);
		for (off = 0; off < n; off++)
			rcpt_keccak_update(&k, in + off, 1);
		rcpt_keccak_final(&k, got);
		cr_expect(vec_same(got, want, 32), "keccak256 bytewise of %zu bytes", n);

		/* Streaming, in pieces around the 136-byte rate. */
		rcpt_keccak_init(&k);
		for (off = 0; off < n; s++) {
			size_t step = steps[s % (sizeof steps / sizeof steps[0])];

			if (step > n - off)
				step = n - off;
			rcpt_keccak_update(&k, in + off, step);
			off += step;
		}
		rcpt_keccak_update(&k, in, 0);
		rcpt_keccak_final(&k, got);
		cr_expect(vec_same(got, want, 32), "keccak256 in pieces of %zu bytes", n);
		free(in);
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* EIP-55                                                               */

Test(vectors, eip55_valid)
{
	json_t *root = vec_load("eip55.json");
	json_t *valid = vec_get(root, "valid");
	json_t *v;
	size_t i;

	cr_assert(json_array_size(valid) >= 20);
	json_array_foreach(valid, i, v) {
		const char *lower = vec_str(v, "lower");
		const char *sum = vec_str(v, "checksum");
		uint8_t want[RCPT_ADDR_BYTES], got[RCPT_ADDR_BYTES];
		char text[RCPT_ADDR_HEX_BYTES], upper[RCPT_ADDR_HEX_BYTES];
		enum rcpt_err rc;
		size_t j;

		vec_unhex(want, sizeof want, lower);
		rcpt_address_format(text, want);
		cr_expect_str_eq(text, sum, "format %s", lower);

		rc = rcpt_address_parse(got, sum);
		cr_expect(rc == RCPT_OK && vec_same(got, want, 20), "parse %s: %s", sum,
			  rcpt_errname(rc));
		rc = rcpt_address_parse(got, lower);
		cr_expect(rc == RCPT_OK && vec_same(got, want, 20), "parse %s: %s", lower,
			  rcpt_errname(rc));
		for (j = 0; j < 42; j++)
			upper[j] = j < 2 ? lower[j] : (char)toupper((unsigned char)lower[j]);
		upper[42] = '\0';
		rc = rcpt_address_parse(got, upper);
		cr_expect(rc == RCPT_OK && vec_same(got, want, 20), "parse %s: %s", upper,
			  rcpt_errname(rc));
	}
	json_decref(root);
}

Test(vectors, eip55_invalid)
{
	json_t *root = vec_load("eip55.json");
	json_t *invalid = vec_get(root, "invalid");
	json_t *v;
	size_t i, checksums = 0;

	cr_assert(json_array_size(invalid) >= 10);
	json_array_foreach(invalid, i, v) {
		const char *text = json_string_value(v);
		size_t len = json_string_length(v);
		uint8_t got[RCPT_ADDR_BYTES];
		enum rcpt_err want, rc;

		cr_assert_not_null(text);
		/* "0x" + 40 hex digits can only be a bad checksum; anything
		 * else is not an address at all. */
		want = vec_is_hex40(text, len) ? RCPT_ERR_CHECKSUM : RCPT_ERR_HEX;
		checksums += want == RCPT_ERR_CHECKSUM;
		rc = rcpt_address_parse(got, text);
		cr_expect(rc == want, "parse '%s': got %s, want %s", text,
			  rcpt_errname(rc), rcpt_errname(want));
	}
	cr_expect(checksums >= 8);
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* EIP-191                                                              */

Test(vectors, eip191_sign)
{
	json_t *root = vec_load("eip191.json");
	json_t *v;
	size_t i;

	cr_assert(json_array_size(root) >= 5);
	json_array_foreach(root, i, v) {
		const char *name = vec_str(v, "name");
		size_t n;
		uint8_t *msg = vec_unhex_alloc(&n, vec_str(v, "message_hex"));
		uint8_t addr[RCPT_ADDR_BYTES], digest[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
		uint8_t got[RCPT_SIG_BYTES], got_addr[RCPT_ADDR_BYTES];
		uint8_t got_digest[RCPT_HASH_BYTES];
		struct rcpt_key key;
		enum rcpt_err rc;

		vec_unhex(addr, sizeof addr, vec_str(v, "address"));
		vec_unhex(digest, sizeof digest, vec_str(v, "digest"));
		vec_unhex(sig, sizeof sig, vec_str(v, "signature"));
		vec_key(&key, v, "key");
		cr_expect(vec_same(key.address, addr, 20), "%s: key address %s, want %s", name,
			  VEC_HEX(key.address, 20), VEC_HEX(addr, 20));

		rc = rcpt_eip191_digest(got_digest, msg, n);
		cr_expect(rc == RCPT_OK && vec_same(got_digest, digest, 32),
			  "%s: digest %s (%s), want %s", name, VEC_HEX(got_digest, 32),
			  rcpt_errname(rc), VEC_HEX(digest, 32));

		rc = rcpt_message_sign(got, &key, msg, n);
		cr_expect(rc == RCPT_OK && vec_same(got, sig, 65),
			  "%s: message signature %s (%s), want %s", name, VEC_HEX(got, 65),
			  rcpt_errname(rc), VEC_HEX(sig, 65));
		rc = rcpt_sign_digest(got, &key, digest);
		cr_expect(rc == RCPT_OK && vec_same(got, sig, 65),
			  "%s: digest signature %s (%s), want %s", name, VEC_HEX(got, 65),
			  rcpt_errname(rc), VEC_HEX(sig, 65));

		rc = rcpt_message_recover(got_addr, sig, msg, n);
		cr_expect(rc == RCPT_OK && vec_same(got_addr, addr, 20),
			  "%s: message recover %s (%s)", name, VEC_HEX(got_addr, 20),
			  rcpt_errname(rc));
		rc = rcpt_recover_digest(got_addr, sig, digest);
		cr_expect(rc == RCPT_OK && vec_same(got_addr, addr, 20),
			  "%s: digest recover %s (%s)", name, VEC_HEX(got_addr, 20),
			  rcpt_errname(rc));
		rcpt_key_wipe(&key);
		free(msg);
	}
	json_decref(root);
}

Test(vectors, eip191_recover)
{
	json_t *root = vec_load("eip191_recover.json");
	json_t *v;
	size_t i;

	cr_assert(json_array_size(root) >= 10);
	json_array_foreach(root, i, v) {
		const char *name = vec_str(v, "name");
		const char *error = vec_str_or_null(v, "error");
		const char *want_addr = vec_str_or_null(v, "address");
		size_t n;
		uint8_t *msg = vec_unhex_alloc(&n, vec_str(v, "message_hex"));
		uint8_t sig[RCPT_SIG_BYTES], addr[RCPT_ADDR_BYTES], got[RCPT_ADDR_BYTES];
		uint8_t digest[RCPT_HASH_BYTES];
		enum rcpt_err rc;

		vec_unhex(sig, sizeof sig, vec_str(v, "signature"));
		if (error == NULL) {
			error = "ok";
			cr_assert_not_null(want_addr);
			vec_unhex(addr, sizeof addr, want_addr);
		}
		rc = rcpt_message_recover(got, sig, msg, n);
		cr_expect(VEC_IS(rc, error), "%s: message recover gives %s, want %s", name,
			  rcpt_errname(rc), error);
		if (rc == RCPT_OK && want_addr != NULL)
			cr_expect(vec_same(got, addr, 20), "%s: recovered %s, want %s", name,
				  VEC_HEX(got, 20), want_addr);

		rc = rcpt_eip191_digest(digest, msg, n);
		cr_assert(rc == RCPT_OK);
		rc = rcpt_recover_digest(got, sig, digest);
		cr_expect(VEC_IS(rc, error), "%s: digest recover gives %s, want %s", name,
			  rcpt_errname(rc), error);
		if (rc == RCPT_OK && want_addr != NULL)
			cr_expect(vec_same(got, addr, 20), "%s: recovered %s, want %s", name,
				  VEC_HEX(got, 20), want_addr);
		free(msg);
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* EIP-712: the specification's own example                             */

/* hashStruct(Person) = keccak256(typeHash || keccak256(name) || wallet) */
static void vec_person_hash(uint8_t out[RCPT_HASH_BYTES],
			    const uint8_t type_hash[RCPT_HASH_BYTES],
			    const json_t *person)
{
	const char *name = vec_str(person, "name");
	uint8_t enc[96];

	memcpy(enc, type_hash, 32);
	rcpt_keccak256(enc + 32, name, strlen(name));
	memset(enc + 64, 0, 12);
	vec_unhex(enc + 76, 20, vec_str(person, "wallet"));
	rcpt_keccak256(out, enc, sizeof enc);
}

Test(vectors, eip712_mail)
{
	json_t *root = vec_load("eip712_mail.json");
	json_t *dom = vec_get(root, "domain");
	json_t *msg = vec_get(root, "message");
	const char *mail_type = vec_str(root, "mailTypeString");
	const char *person_type = vec_str(root, "personTypeString");
	const char *contents = vec_str(msg, "contents");
	uint8_t want[RCPT_HASH_BYTES], got[RCPT_HASH_BYTES];
	uint8_t person_th[32], mail_th[32], ds[32], from[32], to[32], mail[32];
	uint8_t enc[128], sig[RCPT_SIG_BYTES], want_sig[RCPT_SIG_BYTES];
	uint8_t signer[RCPT_ADDR_BYTES], rec[RCPT_ADDR_BYTES];
	struct rcpt_domain d;
	struct rcpt_key key;
	enum rcpt_err rc;

	rcpt_keccak256(person_th, person_type, strlen(person_type));
	vec_unhex(want, 32, vec_str(root, "personTypeHash"));
	cr_expect(vec_same(person_th, want, 32), "Person type hash %s", VEC_HEX(person_th, 32));
	rcpt_keccak256(mail_th, mail_type, strlen(mail_type));
	vec_unhex(want, 32, vec_str(root, "mailTypeHash"));
	cr_expect(vec_same(mail_th, want, 32), "Mail type hash %s", VEC_HEX(mail_th, 32));

	memset(&d, 0, sizeof d);
	cr_assert(snprintf(d.name, sizeof d.name, "%s", vec_str(dom, "name")) > 0);
	cr_assert(snprintf(d.version, sizeof d.version, "%s", vec_str(dom, "version")) > 0);
	d.chain_id = (uint64_t)vec_int(dom, "chainId");
	vec_unhex(d.verifying_contract, 20, vec_str(dom, "verifyingContract"));
	rc = rcpt_domain_separator(ds, &d);
	vec_unhex(want, 32, vec_str(root, "domainSeparator"));
	cr_expect(rc == RCPT_OK && vec_same(ds, want, 32), "domain separator %s (%s), want %s",
		  VEC_HEX(ds, 32), rcpt_errname(rc), VEC_HEX(want, 32));

	vec_person_hash(from, person_th, vec_get(msg, "from"));
	vec_unhex(want, 32, vec_str(root, "hashStructFrom"));
	cr_expect(vec_same(from, want, 32), "hashStruct(from) %s", VEC_HEX(from, 32));
	vec_person_hash(to, person_th, vec_get(msg, "to"));
	vec_unhex(want, 32, vec_str(root, "hashStructTo"));
	cr_expect(vec_same(to, want, 32), "hashStruct(to) %s", VEC_HEX(to, 32));

	memcpy(enc, mail_th, 32);
	memcpy(enc + 32, from, 32);
	memcpy(enc + 64, to, 32);
	rcpt_keccak256(enc + 96, contents, strlen(contents));
	rcpt_keccak256(mail, enc, sizeof enc);
	vec_unhex(want, 32, vec_str(root, "hashStructMail"));
	cr_expect(vec_same(mail, want, 32), "hashStruct(mail) %s", VEC_HEX(mail, 32));

	rcpt_eip712_digest(got, ds, mail);
	vec_unhex(want, 32, vec_str(root, "digest"));
	cr_expect(vec_same(got, want, 32), "digest %s, want %s", VEC_HEX(got, 32),
		  VEC_HEX(want, 32));

	vec_key(&key, root, "key");
	vec_unhex(signer, 20, vec_str(root, "signer"));
	cr_expect(vec_same(key.address, signer, 20), "address of keccak256(\"cow\") %s",
		  VEC_HEX(key.address, 20));
	vec_unhex(want_sig, sizeof want_sig, vec_str(root, "signature"));
	rc = rcpt_sign_digest(sig, &key, want);
	cr_expect(rc == RCPT_OK && vec_same(sig, want_sig, 65), "signature %s (%s), want %s",
		  VEC_HEX(sig, 65), rcpt_errname(rc), VEC_HEX(want_sig, 65));
	rc = rcpt_recover_digest(rec, want_sig, want);
	cr_expect(rc == RCPT_OK && vec_same(rec, signer, 20), "recover %s (%s)",
		  VEC_HEX(rec, 20), rcpt_errname(rc));
	rcpt_key_wipe(&key);
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* EIP-712: Assay's three types                                         */

/* Parses `message` as `type`, checks its hashStruct and digest and the
 * serialiser's round trip; leaves the digest in *digest. */
static void vec_typed_case(uint8_t digest[RCPT_HASH_BYTES], const char *name,
			   const char *type, const struct rcpt_domain *d,
			   const json_t *message, const uint8_t want_hs[32])
{
	char *text = vec_dump(message);
	char *again = NULL;
	size_t len = strlen(text);
	uint8_t hs[RCPT_HASH_BYTES], ds[RCPT_HASH_BYTES], mine[RCPT_HASH_BYTES];
	struct rcpt_diag diag;
	enum rcpt_err rc = RCPT_ERR_ARG, rc2 = RCPT_ERR_ARG;

	memset(&diag, 0, sizeof diag);
	memset(hs, 0, sizeof hs);
	memset(digest, 0, RCPT_HASH_BYTES);
	if (strcmp(type, "JobSpec") == 0) {
		struct rcpt_job a, b;

		rc = rcpt_job_parse(&a, &diag, text, len);
		cr_expect(rc == RCPT_OK, "%s: parse: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK)
			goto out;
		rc = rcpt_job_hash_struct(hs, &diag, &a);
		cr_expect(rc == RCPT_OK, "%s: hash_struct: %s: %s", name, rcpt_errname(rc), diag.msg);
		rc2 = rcpt_job_id(digest, &diag, d, &a);
		cr_expect(rc2 == RCPT_OK, "%s: job id: %s: %s", name, rcpt_errname(rc2), diag.msg);
		rc = rcpt_job_to_json(&again, &a);
		cr_expect(rc == RCPT_OK, "%s: to_json: %s", name, rcpt_errname(rc));
		if (rc != RCPT_OK)
			goto out;
		vec_expect_json_form(name, again, message);
		rc = rcpt_job_parse(&b, &diag, again, strlen(again));
		cr_expect(rc == RCPT_OK && vec_job_equal(&a, &b), "%s: round trip: %s: %s",
			  name, rcpt_errname(rc), diag.msg);
	} else if (strcmp(type, "Receipt") == 0) {
		struct rcpt_receipt a, b;

		rc = rcpt_receipt_parse(&a, &diag, text, len);
		cr_expect(rc == RCPT_OK, "%s: parse: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK)
			goto out;
		rc = rcpt_receipt_hash_struct(hs, &diag, &a);
		cr_expect(rc == RCPT_OK, "%s: hash_struct: %s: %s", name, rcpt_errname(rc), diag.msg);
		rc2 = rcpt_receipt_id(digest, &diag, d, &a);
		cr_expect(rc2 == RCPT_OK, "%s: receipt id: %s: %s", name, rcpt_errname(rc2), diag.msg);
		rc = rcpt_receipt_to_json(&again, &a);
		cr_expect(rc == RCPT_OK, "%s: to_json: %s", name, rcpt_errname(rc));
		if (rc != RCPT_OK)
			goto out;
		vec_expect_json_form(name, again, message);
		rc = rcpt_receipt_parse(&b, &diag, again, strlen(again));
		cr_expect(rc == RCPT_OK && vec_receipt_equal(&a, &b), "%s: round trip: %s: %s",
			  name, rcpt_errname(rc), diag.msg);
	} else {
		struct rcpt_attestation a, b;

		cr_assert_str_eq(type, "Attestation");
		rc = rcpt_attestation_parse(&a, &diag, text, len);
		cr_expect(rc == RCPT_OK, "%s: parse: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK)
			goto out;
		rc = rcpt_attestation_hash_struct(hs, &diag, &a);
		cr_expect(rc == RCPT_OK, "%s: hash_struct: %s: %s", name, rcpt_errname(rc), diag.msg);
		rc2 = rcpt_attestation_digest(digest, &diag, d, &a);
		cr_expect(rc2 == RCPT_OK, "%s: digest: %s: %s", name, rcpt_errname(rc2), diag.msg);
		rc = rcpt_attestation_to_json(&again, &a);
		cr_expect(rc == RCPT_OK, "%s: to_json: %s", name, rcpt_errname(rc));
		if (rc != RCPT_OK)
			goto out;
		vec_expect_json_form(name, again, message);
		rc = rcpt_attestation_parse(&b, &diag, again, strlen(again));
		cr_expect(rc == RCPT_OK && vec_attestation_equal(&a, &b),
			  "%s: round trip: %s: %s", name, rcpt_errname(rc), diag.msg);
	}
	cr_expect(vec_same(hs, want_hs, 32), "%s: hashStruct %s, want %s", name,
		  VEC_HEX(hs, 32), VEC_HEX(want_hs, 32));
	/* The digest by parts must be the one-call digest. */
	if (rcpt_domain_separator(ds, d) == RCPT_OK) {
		rcpt_eip712_digest(mine, ds, want_hs);
		cr_expect(vec_same(mine, digest, 32), "%s: digest by parts %s, one call %s",
			  name, VEC_HEX(mine, 32), VEC_HEX(digest, 32));
	}
out:
	free(again);
	free(text);
}

/* A message that EIP-712 can hash but that is no Assay statement (an
 * empty kernel, say): the parser must refuse it, naming the member. */
static void vec_typed_refused(const char *name, const char *type,
			      const json_t *message, const json_t *refused)
{
	const char *error = vec_str(refused, "error");
	const char *field = vec_str(refused, "field");
	char *text = vec_dump(message);
	size_t len = strlen(text);
	struct rcpt_diag diag;
	enum rcpt_err rc;

	memset(&diag, 0, sizeof diag);
	if (strcmp(type, "JobSpec") == 0) {
		struct rcpt_job a;

		rc = rcpt_job_parse(&a, &diag, text, len);
	} else if (strcmp(type, "Receipt") == 0) {
		struct rcpt_receipt a;

		rc = rcpt_receipt_parse(&a, &diag, text, len);
	} else {
		struct rcpt_attestation a;

		rc = rcpt_attestation_parse(&a, &diag, text, len);
	}
	cr_expect(VEC_IS(rc, error), "%s: parse gives %s (%s), want %s", name,
		  rcpt_errname(rc), diag.msg, error);
	cr_expect(strstr(diag.msg, field) != NULL, "%s: diagnostic '%s' does not name \"%s\"",
		  name, diag.msg, field);
	free(text);
}

Test(vectors, eip712_assay)
{
	json_t *root = vec_load("eip712_assay.json");
	json_t *v;
	size_t i;
	unsigned seen[3] = { 0, 0, 0 };

	cr_assert(json_array_size(root) >= 9);
	json_array_foreach(root, i, v) {
		const char *name = vec_str(v, "name");
		const char *type = vec_str(v, "type");
		const char *type_string = vec_str(v, "typeString");
		char *dom_text = vec_dump(vec_get(v, "domain"));
		char *dom_again = NULL;
		uint8_t want[32], got[32], digest[32], hs[32];
		uint8_t sig[RCPT_SIG_BYTES], want_sig[RCPT_SIG_BYTES];
		uint8_t signer[RCPT_ADDR_BYTES], rec[RCPT_ADDR_BYTES];
		struct rcpt_domain d, d2;
		struct rcpt_diag diag;
		struct rcpt_key key;
		json_t *refused;
		enum rcpt_err rc;

		seen[0] += strcmp(type, "JobSpec") == 0;
		seen[1] += strcmp(type, "Receipt") == 0;
		seen[2] += strcmp(type, "Attestation") == 0;
		memset(&diag, 0, sizeof diag);

		rcpt_keccak256(got, type_string, strlen(type_string));
		vec_unhex(want, 32, vec_str(v, "typeHash"));
		cr_expect(vec_same(got, want, 32), "%s: type hash", name);

		rc = rcpt_domain_parse(&d, &diag, dom_text, strlen(dom_text));
		cr_expect(rc == RCPT_OK, "%s: domain %s: %s: %s", name, dom_text,
			  rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK) {
			free(dom_text);
			continue;
		}
		rc = rcpt_domain_separator(got, &d);
		vec_unhex(want, 32, vec_str(v, "domainSeparator"));
		cr_expect(rc == RCPT_OK && vec_same(got, want, 32),
			  "%s: domain separator %s (%s), want %s", name, VEC_HEX(got, 32),
			  rcpt_errname(rc), VEC_HEX(want, 32));
		rc = rcpt_domain_to_json(&dom_again, &d);
		cr_expect(rc == RCPT_OK, "%s: domain to_json: %s", name, rcpt_errname(rc));
		if (rc == RCPT_OK) {
			vec_expect_json_form(name, dom_again, vec_get(v, "domain"));
			rc = rcpt_domain_parse(&d2, &diag, dom_again, strlen(dom_again));
			cr_expect(rc == RCPT_OK && vec_domain_equal(&d, &d2),
				  "%s: domain round trip: %s", name, rcpt_errname(rc));
		}

		refused = vec_get(v, "refused");
		if (!json_is_null(refused)) {
			vec_typed_refused(name, type, vec_get(v, "message"), refused);
			free(dom_again);
			free(dom_text);
			continue;
		}
		vec_unhex(hs, 32, vec_str(v, "hashStruct"));
		vec_typed_case(digest, name, type, &d, vec_get(v, "message"), hs);
		vec_unhex(want, 32, vec_str(v, "digest"));
		cr_expect(vec_same(digest, want, 32), "%s: digest %s, want %s", name,
			  VEC_HEX(digest, 32), VEC_HEX(want, 32));

		vec_key(&key, v, "key");
		vec_unhex(signer, 20, vec_str(v, "signer"));
		cr_expect(vec_same(key.address, signer, 20), "%s: signer", name);
		vec_unhex(want_sig, sizeof want_sig, vec_str(v, "signature"));
		rc = rcpt_sign_digest(sig, &key, want);
		cr_expect(rc == RCPT_OK && vec_same(sig, want_sig, 65),
			  "%s: signature %s (%s), want %s", name, VEC_HEX(sig, 65),
			  rcpt_errname(rc), VEC_HEX(want_sig, 65));
		rc = rcpt_recover_digest(rec, want_sig, want);
		cr_expect(rc == RCPT_OK && vec_same(rec, signer, 20), "%s: recover %s (%s)",
			  name, VEC_HEX(rec, 20), rcpt_errname(rc));
		rcpt_key_wipe(&key);
		free(dom_again);
		free(dom_text);
	}
	cr_expect(seen[0] >= 3 && seen[1] >= 3 && seen[2] >= 2, "cases of each type");
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* Receipt bundles                                                      */

Test(vectors, bundles_valid)
{
	json_t *root = vec_load("bundles.json");
	json_t *valid = vec_get(root, "valid");
	json_t *v;
	size_t i;

	cr_assert(json_array_size(valid) >= 5);
	json_array_foreach(valid, i, v) {
		const char *name = vec_str(v, "name");
		const char *text = vec_str(v, "bundle_text");
		size_t len = vec_strlen(v, "bundle_text");
		struct rcpt_bundle_ids ids, ids2;
		struct rcpt_bundle b;
		struct rcpt_domain other;
		struct rcpt_diag diag;
		uint8_t job_id[32], receipt_id[32], customer[20], provider[20];
		enum rcpt_err rc;

		vec_unhex(job_id, 32, vec_str(v, "job_id"));
		vec_unhex(receipt_id, 32, vec_str(v, "receipt_id"));
		vec_unhex(customer, 20, vec_str(v, "customer"));
		vec_unhex(provider, 20, vec_str(v, "provider"));
		memset(&diag, 0, sizeof diag);
		memset(&ids, 0, sizeof ids);

		rc = rcpt_bundle_check_json(&ids, &diag, text, len, NULL);
		cr_expect(rc == RCPT_OK, "%s: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK)
			continue;
		cr_expect(vec_same(ids.job_id, job_id, 32), "%s: job id %s, want %s", name,
			  VEC_HEX(ids.job_id, 32), VEC_HEX(job_id, 32));
		cr_expect(vec_same(ids.receipt_id, receipt_id, 32), "%s: receipt id %s, want %s",
			  name, VEC_HEX(ids.receipt_id, 32), VEC_HEX(receipt_id, 32));
		cr_expect(vec_same(ids.customer, customer, 20), "%s: customer %s", name,
			  VEC_HEX(ids.customer, 20));
		cr_expect(vec_same(ids.provider, provider, 20), "%s: provider %s", name,
			  VEC_HEX(ids.provider, 20));

		/* The same through parse + verify, pinned to its own domain. */
		rc = rcpt_bundle_parse(&b, &diag, text, len);
		cr_expect(rc == RCPT_OK, "%s: parse: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK)
			continue;
		rc = rcpt_bundle_verify(&ids2, &diag, &b, &b.domain);
		cr_expect(rc == RCPT_OK && vec_same(ids2.job_id, job_id, 32) &&
			  vec_same(ids2.receipt_id, receipt_id, 32),
			  "%s: verify with expect: %s: %s", name, rcpt_errname(rc), diag.msg);
		rc = rcpt_bundle_check_json(NULL, &diag, text, len, &b.domain);
		cr_expect(rc == RCPT_OK, "%s: check_json with expect: %s", name, rcpt_errname(rc));

		/* Pinned to another chain or another escrow: refused. */
		other = b.domain;
		other.chain_id++;
		rc = rcpt_bundle_check_json(NULL, &diag, text, len, &other);
		cr_expect(rc == RCPT_ERR_DOMAIN, "%s: other chain id: %s", name, rcpt_errname(rc));
		other = b.domain;
		other.verifying_contract[19] ^= 1;
		rc = rcpt_bundle_verify(NULL, &diag, &b, &other);
		cr_expect(rc == RCPT_ERR_DOMAIN, "%s: other escrow: %s", name, rcpt_errname(rc));
	}
	json_decref(root);
}

Test(vectors, bundles_roundtrip)
{
	json_t *root = vec_load("bundles.json");
	json_t *valid = vec_get(root, "valid");
	json_t *v;
	size_t i;

	json_array_foreach(valid, i, v) {
		const char *name = vec_str(v, "name");
		const char *text = vec_str(v, "bundle_text");
		size_t len = vec_strlen(v, "bundle_text");
		struct rcpt_bundle a, b;
		struct rcpt_bundle_ids ids;
		struct rcpt_diag diag;
		uint8_t job_id[32], receipt_id[32];
		char *again = NULL;
		enum rcpt_err rc;

		vec_unhex(job_id, 32, vec_str(v, "job_id"));
		vec_unhex(receipt_id, 32, vec_str(v, "receipt_id"));
		memset(&diag, 0, sizeof diag);
		rc = rcpt_bundle_parse(&a, &diag, text, len);
		cr_expect(rc == RCPT_OK, "%s: parse: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK)
			continue;
		rc = rcpt_bundle_to_json(&again, &a);
		cr_expect(rc == RCPT_OK, "%s: to_json: %s", name, rcpt_errname(rc));
		if (rc != RCPT_OK)
			continue;
		rc = rcpt_bundle_parse(&b, &diag, again, strlen(again));
		cr_expect(rc == RCPT_OK, "%s: reparse: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc == RCPT_OK)
			cr_expect(vec_bundle_equal(&a, &b), "%s: round trip changed the bundle: %s",
				  name, again);
		rc = rcpt_bundle_check_json(&ids, &diag, again, strlen(again), NULL);
		cr_expect(rc == RCPT_OK && vec_same(ids.job_id, job_id, 32) &&
			  vec_same(ids.receipt_id, receipt_id, 32),
			  "%s: re-serialised bundle: %s: %s", name, rcpt_errname(rc), diag.msg);
		free(again);
	}
	json_decref(root);
}

Test(vectors, bundles_invalid)
{
	json_t *root = vec_load("bundles.json");
	json_t *invalid = vec_get(root, "invalid");
	json_t *v;
	size_t i;

	cr_assert(json_array_size(invalid) >= 20);
	json_array_foreach(invalid, i, v) {
		const char *name = vec_str(v, "name");
		const char *text = vec_str(v, "bundle_text");
		size_t len = vec_strlen(v, "bundle_text");
		const char *error = vec_str(v, "error");
		const char *field = vec_str_or_null(v, "field");
		const char *sig_error = vec_str_or_null(v, "sig_error");
		int parse_error = strcmp(error, "json") == 0 || strcmp(error, "field") == 0 ||
				  strcmp(error, "too-large") == 0;
		struct rcpt_bundle_ids ids;
		struct rcpt_bundle b;
		struct rcpt_diag diag;
		enum rcpt_err rc;

		memset(&diag, 0, sizeof diag);
		rc = rcpt_bundle_check_json(&ids, &diag, text, len, NULL);
		cr_expect(VEC_IS(rc, error), "%s: got %s (%s), want %s", name, rcpt_errname(rc),
			  diag.msg, error);
		if (field != NULL)
			cr_expect(strstr(diag.msg, field) != NULL,
				  "%s: diagnostic '%s' does not name \"%s\"", name, diag.msg, field);
		cr_expect(rc == RCPT_OK || diag.msg[0] != '\0', "%s: no diagnostic", name);

		/* Parsing alone fails the same way, or succeeds and the
		 * verification fails the same way. */
		memset(&diag, 0, sizeof diag);
		rc = rcpt_bundle_parse(&b, &diag, text, len);
		if (parse_error) {
			cr_expect(VEC_IS(rc, error), "%s: parse gives %s, want %s", name,
				  rcpt_errname(rc), error);
			continue;
		}
		cr_expect(rc == RCPT_OK, "%s: parse: %s: %s", name, rcpt_errname(rc), diag.msg);
		if (rc != RCPT_OK)
			continue;
		rc = rcpt_bundle_verify(NULL, &diag, &b, NULL);
		cr_expect(VEC_IS(rc, error), "%s: verify gives %s (%s), want %s", name,
			  rcpt_errname(rc), diag.msg, error);

		if (sig_error != NULL) {
			const uint8_t *sig = strcmp(error, "job-signature") == 0 ? b.job_sig :
					     b.receipt_sig;
			uint8_t digest[32], addr[20];

			vec_unhex(digest, 32, vec_str(v, "sig_digest"));
			rc = rcpt_recover_digest(addr, sig, digest);
			cr_expect(VEC_IS(rc, sig_error), "%s: signature gives %s, want %s", name,
				  rcpt_errname(rc), sig_error);
		}
	}
	json_decref(root);
}

/* ------------------------------------------------------------------ */
/* Commitments and inclusion proofs                                     */

static size_t vec_chunk_len(uint64_t size, uint64_t index)
{
	uint64_t off = index * RCPT_CHUNK_BYTES;

	cr_assert(off < size);
	return size - off < RCPT_CHUNK_BYTES ? (size_t)(size - off) : RCPT_CHUNK_BYTES;
}

static size_t vec_path(uint8_t path[][RCPT_HASH_BYTES], const json_t *proof)
{
	json_t *arr = vec_get(proof, "path"), *h;
	size_t j;

	cr_assert(json_is_array(arr) && json_array_size(arr) <= RCPT_PROOF_HASHES_MAX);
	json_array_foreach(arr, j, h) {
		cr_assert(json_is_string(h));
		vec_unhex(path[j], RCPT_HASH_BYTES, json_string_value(h));
	}
	return json_array_size(arr);
}

static enum rcpt_err vec_verify(const uint8_t root[RCPT_HASH_BYTES], uint64_t size,
				uint64_t index, const uint8_t *chunk, size_t len,
				uint8_t path[][RCPT_HASH_BYTES], size_t n)
{
	struct rcpt_commitment c;

	memcpy(c.root, root, RCPT_HASH_BYTES);
	c.size = size;
	return rcpt_proof_verify(&c, index, chunk, len,
				 (const uint8_t (*)[RCPT_HASH_BYTES])path, n);
}

Test(vectors, merkle_commit_and_proofs)
{
	json_t *root = vec_load("merkle.json");
	json_t *v;
	size_t i;

	cr_assert(json_array_size(root) >= 8);
	json_array_foreach(root, i, v) {
		uint64_t size = (uint64_t)vec_int(v, "size");
		uint64_t chunks = (uint64_t)vec_int(v, "chunks");
		uint8_t *data = vec_merkle_content((size_t)size);
		uint8_t want[32], got[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
		uint8_t want_path[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
		struct rcpt_commitment c;
		json_t *proof;
		size_t j, n, got_n;
		enum rcpt_err rc;

		vec_unhex(want, 32, vec_str(v, "root"));
		rc = rcpt_commit_buf(&c, data, (size_t)size);
		cr_expect(rc == RCPT_OK && vec_same(c.root, want, 32) && c.size == size,
			  "commit of %llu bytes: %s (%s), want %s", (unsigned long long)size,
			  VEC_HEX(c.root, 32), rcpt_errname(rc), VEC_HEX(want, 32));

		json_array_foreach(vec_get(v, "proofs"), j, proof) {
			uint64_t index = (uint64_t)vec_int(proof, "index");
			size_t len = vec_chunk_len(size, index);

			n = vec_path(want_path, proof);
			got_n = 99;
			rc = rcpt_proof_buf(got, &got_n, data, (size_t)size, index);
			cr_expect(rc == RCPT_OK && got_n == n &&
				  vec_same(got, want_path, n * RCPT_HASH_BYTES),
				  "proof of chunk %llu of %llu bytes: %s, %zu hashes, want %zu",
				  (unsigned long long)index, (unsigned long long)size,
				  rcpt_errname(rc), got_n, n);
			rc = vec_verify(want, size, index, data + index * RCPT_CHUNK_BYTES, len,
					want_path, n);
			cr_expect(rc == RCPT_OK, "verify chunk %llu of %llu bytes: %s",
				  (unsigned long long)index, (unsigned long long)size,
				  rcpt_errname(rc));
		}
		/* No chunk past the last. */
		rc = rcpt_proof_buf(got, &got_n, data, (size_t)size, chunks);
		cr_expect(rc == RCPT_ERR_ARG, "proof of chunk %llu of %llu bytes: %s",
			  (unsigned long long)chunks, (unsigned long long)size, rcpt_errname(rc));
		free(data);
	}
	json_decref(root);
}

static void vec_expect_refused(enum rcpt_err rc, const char *what, uint64_t size,
			       uint64_t index, unsigned which)
{
	cr_expect(rc == RCPT_ERR_PROOF, "%s %u, chunk %llu of %llu bytes: %s, want proof",
		  what, which, (unsigned long long)index, (unsigned long long)size,
		  rcpt_errname(rc));
}

static void vec_flip_chunk(const uint8_t root[RCPT_HASH_BYTES], uint64_t size,
			   uint64_t index, uint8_t *chunk, size_t len,
			   uint8_t path[][RCPT_HASH_BYTES], size_t n, size_t pos, unsigned bit)
{
	enum rcpt_err rc;

	chunk[pos] ^= (uint8_t)(1u << bit);
	rc = vec_verify(root, size, index, chunk, len, path, n);
	chunk[pos] ^= (uint8_t)(1u << bit);
	vec_expect_refused(rc, "chunk bit", size, index, (unsigned)(pos * 8 + bit));
}

Test(vectors, merkle_verify_refuses_changes)
{
	json_t *root = vec_load("merkle.json");
	json_t *v;
	size_t i;

	json_array_foreach(root, i, v) {
		uint64_t size = (uint64_t)vec_int(v, "size");
		uint8_t *data = vec_merkle_content((size_t)size);
		uint8_t want[32], path[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
		json_t *proof;
		size_t j;

		vec_unhex(want, 32, vec_str(v, "root"));
		json_array_foreach(vec_get(v, "proofs"), j, proof) {
			uint64_t index = (uint64_t)vec_int(proof, "index");
			size_t len = vec_chunk_len(size, index);
			size_t n = vec_path(path, proof);
			json_t *accept = vec_get(proof, "size_flip_verifies");
			uint8_t *chunk = malloc(len + 1);
			uint8_t root2[32];
			size_t h, pos;
			unsigned b;
			enum rcpt_err rc;

			cr_assert_not_null(chunk);
			memcpy(chunk, data + index * RCPT_CHUNK_BYTES, len);
			chunk[len] = 0x5a;
			cr_expect(vec_verify(want, size, index, chunk, len, path, n) == RCPT_OK);

			/* Every bit of every path hash, and of the root. */
			for (h = 0; h < n; h++)
				for (b = 0; b < 256; b++) {
					path[h][b / 8] ^= (uint8_t)(1u << (b % 8));
					rc = vec_verify(want, size, index, chunk, len, path, n);
					path[h][b / 8] ^= (uint8_t)(1u << (b % 8));
					vec_expect_refused(rc, "path hash bit", size, index,
							   (unsigned)(h * 256 + b));
				}
			for (b = 0; b < 256; b++) {
				memcpy(root2, want, 32);
				root2[b / 8] ^= (uint8_t)(1u << (b % 8));
				rc = vec_verify(root2, size, index, chunk, len, path, n);
				vec_expect_refused(rc, "root bit", size, index, b);
			}
			/* Every bit of the index. */
			for (b = 0; b < 64; b++) {
				rc = vec_verify(want, size, index ^ (1ull << b), chunk, len, path, n);
				vec_expect_refused(rc, "index bit", size, index, b);
			}
			/* Every bit of the size, except those that the reference
			 * found leave a valid proof (the RFC 6962 root does not
			 * bind the size alone: a longer last chunk elsewhere in
			 * the tree, or a tree of the same shape along the path). */
			for (b = 0; b < 64; b++) {
				int ok = 0;
				size_t k;
				json_t *bit;

				json_array_foreach(accept, k, bit)
					ok |= json_integer_value(bit) == (json_int_t)b;
				rc = vec_verify(want, size ^ (1ull << b), index, chunk, len, path, n);
				if (ok)
					cr_expect(rc == RCPT_OK, "size bit %u, chunk %llu of %llu: "
						  "the reference accepts, got %s", b,
						  (unsigned long long)index, (unsigned long long)size,
						  rcpt_errname(rc));
				else
					vec_expect_refused(rc, "size bit", size, index, b);
			}
			/* Bits of the chunk: one bit of every 1021st byte, and all
			 * of the first and the last byte. */
			for (pos = 0; pos < len; pos += 1021)
				vec_flip_chunk(want, size, index, chunk, len, path, n, pos, pos % 8);
			for (b = 0; b < 8; b++) {
				vec_flip_chunk(want, size, index, chunk, len, path, n, 0, b);
				vec_flip_chunk(want, size, index, chunk, len, path, n, len - 1, b);
			}
			/* The chunk one byte short or long; the path one hash
			 * short or long. */
			vec_expect_refused(vec_verify(want, size, index, chunk, len - 1, path, n),
					   "chunk length -", size, index, 1);
			vec_expect_refused(vec_verify(want, size, index, chunk, len + 1, path, n),
					   "chunk length +", size, index, 1);
			if (n > 0)
				vec_expect_refused(vec_verify(want, size, index, chunk, len, path,
							      n - 1), "path length -", size, index, 1);
			memset(path[n], 0, RCPT_HASH_BYTES);
			vec_expect_refused(vec_verify(want, size, index, chunk, len, path, n + 1),
					   "path length +", size, index, 1);
			free(chunk);
		}
		free(data);
	}
	json_decref(root);
}

static void vec_write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		cr_assert(w > 0, "write temp file: %s", strerror(errno));
		data += w;
		len -= (size_t)w;
	}
}

Test(vectors, merkle_files)
{
	json_t *root = vec_load("merkle.json");
	const char *tmp = getenv("TMPDIR");
	json_t *v;
	size_t i;

	if (tmp == NULL || tmp[0] == '\0')
		tmp = "/tmp";
	json_array_foreach(root, i, v) {
		uint64_t size = (uint64_t)vec_int(v, "size");
		uint8_t *data = vec_merkle_content((size_t)size);
		uint8_t want[32], got[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
		uint8_t want_path[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
		char path[4096];
		struct rcpt_commitment c;
		struct rcpt_diag diag;
		static const unsigned threads[] = { 1, 2, 0 };
		json_t *proof;
		size_t j, n, got_n;
		enum rcpt_err rc;
		int fd;

		cr_assert(snprintf(path, sizeof path, "%s/assay-vectors-XXXXXX", tmp) <
			  (int)sizeof path);
		fd = mkstemp(path);
		cr_assert(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
		vec_write_all(fd, data, (size_t)size);
		vec_unhex(want, 32, vec_str(v, "root"));
		memset(&diag, 0, sizeof diag);

		for (j = 0; j < sizeof threads / sizeof threads[0]; j++) {
			rc = rcpt_commit_file(&c, &diag, path, threads[j]);
			cr_expect(rc == RCPT_OK && vec_same(c.root, want, 32) && c.size == size,
				  "commit_file of %llu bytes, %u threads: %s (%s: %s)",
				  (unsigned long long)size, threads[j], VEC_HEX(c.root, 32),
				  rcpt_errname(rc), diag.msg);
		}
		rc = rcpt_commit_fd(&c, &diag, fd, 2);
		cr_expect(rc == RCPT_OK && vec_same(c.root, want, 32) && c.size == size,
			  "commit_fd of %llu bytes: %s (%s: %s)", (unsigned long long)size,
			  VEC_HEX(c.root, 32), rcpt_errname(rc), diag.msg);

		json_array_foreach(vec_get(v, "proofs"), j, proof) {
			uint64_t index = (uint64_t)vec_int(proof, "index");

			n = vec_path(want_path, proof);
			got_n = 99;
			rc = rcpt_proof_fd(got, &got_n, &diag, fd, index);
			cr_expect(rc == RCPT_OK && got_n == n &&
				  vec_same(got, want_path, n * RCPT_HASH_BYTES),
				  "proof_fd of chunk %llu of %llu bytes: %s (%s), %zu hashes, want %zu",
				  (unsigned long long)index, (unsigned long long)size,
				  rcpt_errname(rc), diag.msg, got_n, n);
		}
		rc = rcpt_proof_fd(got, &got_n, &diag, fd, (uint64_t)vec_int(v, "chunks"));
		cr_expect(rc != RCPT_OK, "proof_fd past the last chunk of %llu bytes",
			  (unsigned long long)size);
		close(fd);
		unlink(path);
		free(data);
	}
	json_decref(root);
}
