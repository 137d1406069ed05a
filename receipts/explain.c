/*
 * explain.c: step-by-step accounts of how a bundle's ids and a
 * commitment's root are computed, every intermediate hash printed.  They
 * exist for third-party implementers (docs/receipts.md is made with
 * them) and for auditors puzzling over a bundle that does not verify.
 * They print only public data: statements, hashes, addresses.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "banned.h"

static void hex32(char out[RCPT_HASH_HEX_BYTES], const uint8_t h[32])
{
	enum rcpt_err rc = rcpt_hex_encode(out, RCPT_HASH_HEX_BYTES, h, 32);
	RCPT_ASSERT(rc == RCPT_OK);
}

/* Prints one encodeData word and feeds it to the struct hash. */
static void word(FILE *out, struct rcpt_keccak *k, const char *name,
		 const uint8_t w[32], const char *how)
{
	char h[RCPT_HASH_HEX_BYTES];

	hex32(h, w);
	fprintf(out, "    %-18s %s  (%s)\n", name, h, how);
	rcpt_keccak_update(k, w, 32);
}

static void w_addr(FILE *out, struct rcpt_keccak *k, const char *name,
		   const uint8_t a[20])
{
	uint8_t w[32];
	rcpt_word_address(w, a);
	word(out, k, name, w, "address, left-padded");
}

static void w_u64(FILE *out, struct rcpt_keccak *k, const char *name, uint64_t v)
{
	uint8_t w[32];
	char how[48];
	rcpt_word_u64(w, v);
	snprintf(how, sizeof(how), "uint %llu", (unsigned long long)v);
	word(out, k, name, w, how);
}

static void w_str(FILE *out, struct rcpt_keccak *k, const char *name, const char *s)
{
	uint8_t w[32];
	rcpt_keccak256(w, s, strlen(s));
	word(out, k, name, w, "keccak256 of the UTF-8 string");
}

static void w_raw(FILE *out, struct rcpt_keccak *k, const char *name,
		  const uint8_t v[32], const char *how)
{
	word(out, k, name, v, how);
}

static void begin(FILE *out, struct rcpt_keccak *k, const char *title,
		  const char *type)
{
	uint8_t th[32];
	char h[RCPT_HASH_HEX_BYTES];

	rcpt_keccak256(th, type, strlen(type));
	hex32(h, th);
	fprintf(out, "%s\n  type string: %s\n  typeHash = keccak256(type string) = %s\n"
		"  encodeData words:\n", title, type, h);
	rcpt_keccak_init(k);
	rcpt_keccak_update(k, th, 32);
}

static void end(FILE *out, struct rcpt_keccak *k, uint8_t hs[32], const char *what)
{
	char h[RCPT_HASH_HEX_BYTES];

	rcpt_keccak_final(k, hs);
	hex32(h, hs);
	fprintf(out, "  %s = keccak256(typeHash || words) = %s\n", what, h);
}

enum rcpt_err rcpt_bundle_explain(FILE *out, const struct rcpt_bundle *b)
{
	struct rcpt_keccak k;
	uint8_t ds[32], hs[32], id[32], rid[32], check[32], who[20];
	char h[RCPT_HASH_HEX_BYTES], a[RCPT_ADDR_HEX_BYTES];
	enum rcpt_err rc;

	if (!out || !b)
		return RCPT_ERR_ARG;

	begin(out, &k, "1. EIP-712 domain", RCPT_DOMAIN_TYPE);
	w_str(out, &k, "name", b->domain.name);
	w_str(out, &k, "version", b->domain.version);
	w_u64(out, &k, "chainId", b->domain.chain_id);
	w_addr(out, &k, "verifyingContract", b->domain.verifying_contract);
	end(out, &k, ds, "domainSeparator");
	rc = rcpt_domain_separator(check, &b->domain);
	if (rc)
		return rc;
	RCPT_ASSERT(memcmp(check, ds, 32) == 0);

	fprintf(out, "\n");
	begin(out, &k, "2. JobSpec", RCPT_JOB_TYPE);
	w_addr(out, &k, "customer", b->job.customer);
	w_addr(out, &k, "provider", b->job.provider);
	w_str(out, &k, "kernel", b->job.kernel);
	w_raw(out, &k, "kernelHash", b->job.kernel_hash, "bytes32");
	w_str(out, &k, "params", b->job.params);
	w_raw(out, &k, "inputRoot", b->job.input_root, "bytes32");
	w_u64(out, &k, "inputSize", b->job.input_size);
	w_raw(out, &k, "maxPrice", b->job.max_price.be, "uint256");
	w_u64(out, &k, "deadline", b->job.deadline);
	w_u64(out, &k, "nonce", b->job.nonce);
	end(out, &k, hs, "hashStruct(job)");
	rcpt_eip712_digest(id, ds, hs);
	hex32(h, id);
	fprintf(out, "  job id = keccak256(0x1901 || domainSeparator || hashStruct(job)) = %s\n", h);
	rc = rcpt_job_id(check, NULL, &b->domain, &b->job);
	if (rc)
		return rc;
	RCPT_ASSERT(memcmp(check, id, 32) == 0);
	rc = rcpt_recover_digest(who, b->job_sig, id);
	if (rc) {
		fprintf(out, "  jobSignature: %s\n", rcpt_strerror(rc));
	} else {
		rcpt_address_format(a, who);
		fprintf(out, "  jobSignature recovers %s (job.customer: %s)\n", a,
			memcmp(who, b->job.customer, 20) == 0 ? "matches" : "DIFFERS");
	}

	fprintf(out, "\n");
	begin(out, &k, "3. Receipt", RCPT_RECEIPT_TYPE);
	w_raw(out, &k, "job", b->receipt.job, "bytes32");
	w_raw(out, &k, "kernelHash", b->receipt.kernel_hash, "bytes32");
	w_raw(out, &k, "inputRoot", b->receipt.input_root, "bytes32");
	w_u64(out, &k, "inputSize", b->receipt.input_size);
	w_raw(out, &k, "outputRoot", b->receipt.output_root, "bytes32");
	w_u64(out, &k, "outputSize", b->receipt.output_size);
	w_raw(out, &k, "price", b->receipt.price.be, "uint256");
	w_str(out, &k, "device", b->receipt.device);
	w_u64(out, &k, "startedAt", b->receipt.started_at_ms);
	w_u64(out, &k, "finishedAt", b->receipt.finished_at_ms);
	w_addr(out, &k, "provider", b->receipt.provider);
	end(out, &k, hs, "hashStruct(receipt)");
	rcpt_eip712_digest(rid, ds, hs);
	hex32(h, rid);
	fprintf(out, "  receipt id = keccak256(0x1901 || domainSeparator || hashStruct(receipt)) = %s\n", h);
	rc = rcpt_receipt_id(check, NULL, &b->domain, &b->receipt);
	if (rc)
		return rc;
	RCPT_ASSERT(memcmp(check, rid, 32) == 0);
	rc = rcpt_recover_digest(who, b->receipt_sig, rid);
	if (rc) {
		fprintf(out, "  receiptSignature: %s\n", rcpt_strerror(rc));
	} else {
		rcpt_address_format(a, who);
		fprintf(out, "  receiptSignature recovers %s (receipt.provider: %s)\n", a,
			memcmp(who, b->receipt.provider, 20) == 0 ? "matches" : "DIFFERS");
	}

	{
		struct rcpt_diag d = { "" };
		rc = rcpt_bundle_verify(NULL, &d, b, NULL);
		fprintf(out, "\n4. Checks (PROTOCOL.md section 4): %s%s\n",
			rc ? "FAIL: " : "all pass", rc ? d.msg : "");
	}
	return RCPT_OK;
}

/* Prints and returns MTH of leaves [lo, hi) of the data. */
static enum rcpt_err explain_mth(FILE *out, const uint8_t *data, size_t len,
				 uint64_t lo, uint64_t hi, int depth,
				 uint8_t res[32])
{
	uint8_t buf[1 + 64], l[32], r[32];
	char h[RCPT_HASH_HEX_BYTES];
	enum rcpt_err rc;

	if (hi - lo == 1) {
		size_t off = (size_t)lo * RCPT_CHUNK_BYTES;
		size_t n = len - off < RCPT_CHUNK_BYTES ? len - off : RCPT_CHUNK_BYTES;
		static uint8_t leaf[1 + RCPT_CHUNK_BYTES];
		leaf[0] = 0x00;
		memcpy(leaf + 1, data + off, n);
		rc = rcpt_sha256(res, leaf, n + 1);
		if (rc)
			return rc;
		hex32(h, res);
		fprintf(out, "%*sleaf %llu (bytes %zu..%zu) = SHA-256(0x00 || chunk) = %s\n",
			2 * depth + 2, "", (unsigned long long)lo, off, off + n, h);
		return RCPT_OK;
	}
	uint64_t k = 1;
	while (k * 2 < hi - lo)
		k *= 2;
	fprintf(out, "%*snode leaves [%llu, %llu): split at %llu\n", 2 * depth + 2, "",
		(unsigned long long)lo, (unsigned long long)hi,
		(unsigned long long)(lo + k));
	rc = explain_mth(out, data, len, lo, lo + k, depth + 1, l);
	if (!rc)
		rc = explain_mth(out, data, len, lo + k, hi, depth + 1, r);
	if (rc)
		return rc;
	buf[0] = 0x01;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	rc = rcpt_sha256(res, buf, sizeof(buf));
	if (rc)
		return rc;
	hex32(h, res);
	fprintf(out, "%*snode [%llu, %llu) = SHA-256(0x01 || left || right) = %s\n",
		2 * depth + 2, "", (unsigned long long)lo, (unsigned long long)hi, h);
	return RCPT_OK;
}

enum rcpt_err rcpt_commit_explain(FILE *out, const void *data, size_t len)
{
	uint8_t root[32];
	char h[RCPT_HASH_HEX_BYTES];
	struct rcpt_commitment c;
	uint64_t leaves = len / RCPT_CHUNK_BYTES + (len % RCPT_CHUNK_BYTES != 0);
	enum rcpt_err rc;

	if (!out || (!data && len))
		return RCPT_ERR_ARG;
	if (leaves > 16)
		return RCPT_ERR_TOO_LARGE;
	fprintf(out, "%zu bytes, %llu chunk(s) of at most %u bytes\n", len,
		(unsigned long long)leaves, RCPT_CHUNK_BYTES);
	if (leaves == 0) {
		rc = rcpt_sha256(root, NULL, 0);
		if (rc)
			return rc;
		hex32(h, root);
		fprintf(out, "  no chunks: root = SHA-256(\"\") = %s\n", h);
		return RCPT_OK;
	}
	rc = explain_mth(out, data, len, 0, leaves, 0, root);
	if (rc)
		return rc;
	rc = rcpt_commit_buf(&c, data, len);
	if (rc)
		return rc;
	RCPT_ASSERT(memcmp(c.root, root, 32) == 0);
	hex32(h, root);
	fprintf(out, "root = %s, size = %zu\n", h, len);
	return RCPT_OK;
}
