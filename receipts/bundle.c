/*
 * bundle.c: verification of a receipt bundle (PROTOCOL.md section 4).
 *
 * The checks run in a fixed order and the first that fails is reported,
 * so that every implementation gives the same reason for the same bad
 * bundle: domain, job signature, job signer, receipt signature, receipt
 * signer, provider, job link, kernel, input, price, time.  Signers are
 * compared as addresses, never as signature bytes.
 */
#include <string.h>

#include "internal.h"
#include "banned.h"

static int same_domain(const struct rcpt_domain *a, const struct rcpt_domain *b)
{
	return strcmp(a->name, b->name) == 0 &&
	       strcmp(a->version, b->version) == 0 &&
	       a->chain_id == b->chain_id &&
	       memcmp(a->verifying_contract, b->verifying_contract,
		      RCPT_ADDR_BYTES) == 0;
}

static enum rcpt_err check_signer(struct rcpt_diag *diag, const char *what,
				  const uint8_t sig[RCPT_SIG_BYTES],
				  const uint8_t digest[RCPT_HASH_BYTES],
				  const uint8_t expected[RCPT_ADDR_BYTES],
				  const char *role, enum rcpt_err sig_err,
				  enum rcpt_err signer_err)
{
	uint8_t got[RCPT_ADDR_BYTES];
	char got_s[RCPT_ADDR_HEX_BYTES], want_s[RCPT_ADDR_HEX_BYTES];
	enum rcpt_err rc;

	rc = rcpt_recover_digest(got, sig, digest);
	if (rc) {
		rcpt_diagf(diag, "%s: %s", what, rcpt_strerror(rc));
		return sig_err;
	}
	if (memcmp(got, expected, RCPT_ADDR_BYTES) != 0) {
		rcpt_address_format(got_s, got);
		rcpt_address_format(want_s, expected);
		rcpt_diagf(diag, "%s: signed by %s, not by the %s %s", what, got_s,
			   role, want_s);
		return signer_err;
	}
	return RCPT_OK;
}

enum rcpt_err rcpt_bundle_verify(struct rcpt_bundle_ids *ids,
				 struct rcpt_diag *diag,
				 const struct rcpt_bundle *b,
				 const struct rcpt_domain *expect)
{
	const struct rcpt_job *j;
	const struct rcpt_receipt *r;
	uint8_t job_id[RCPT_HASH_BYTES], receipt_id[RCPT_HASH_BYTES];
	uint8_t ds[RCPT_HASH_BYTES], hs[RCPT_HASH_BYTES];
	char a[RCPT_U256_DEC_BYTES], m[RCPT_U256_DEC_BYTES];
	enum rcpt_err rc;

	if (!b)
		return RCPT_ERR_ARG;
	j = &b->job;
	r = &b->receipt;

	if (strcmp(b->domain.name, "Assay") != 0 || strcmp(b->domain.version, "1") != 0) {
		rcpt_diagf(diag, "domain: name and version must be \"Assay\" and \"1\"");
		return RCPT_ERR_DOMAIN;
	}
	if (expect && !same_domain(&b->domain, expect)) {
		rcpt_diagf(diag, "domain: not the expected chain id and escrow address");
		return RCPT_ERR_DOMAIN;
	}
	/* One domain separator serves both digests. */
	rc = rcpt_domain_separator(ds, &b->domain);
	if (!rc)
		rc = rcpt_job_hash_struct(hs, diag, j);
	if (rc)
		return rc;
	rcpt_eip712_digest(job_id, ds, hs);
	rc = check_signer(diag, "jobSignature", b->job_sig, job_id, j->customer,
			  "customer", RCPT_ERR_JOB_SIG, RCPT_ERR_JOB_SIGNER);
	if (rc)
		return rc;
	rc = rcpt_receipt_hash_struct(hs, diag, r);
	if (rc)
		return rc;
	rcpt_eip712_digest(receipt_id, ds, hs);
	rc = check_signer(diag, "receiptSignature", b->receipt_sig, receipt_id,
			  r->provider, "provider", RCPT_ERR_RECEIPT_SIG,
			  RCPT_ERR_RECEIPT_SIGNER);
	if (rc)
		return rc;
	if (memcmp(r->provider, j->provider, RCPT_ADDR_BYTES) != 0) {
		rcpt_diagf(diag, "receipt.provider: not the job's provider");
		return RCPT_ERR_PROVIDER_MISMATCH;
	}
	if (memcmp(r->job, job_id, RCPT_HASH_BYTES) != 0) {
		rcpt_diagf(diag, "receipt.job: not the id of this bundle's job");
		return RCPT_ERR_JOB_LINK;
	}
	if (memcmp(r->kernel_hash, j->kernel_hash, RCPT_HASH_BYTES) != 0) {
		rcpt_diagf(diag, "receipt.kernelHash: differs from job.kernelHash");
		return RCPT_ERR_KERNEL_MISMATCH;
	}
	if (memcmp(r->input_root, j->input_root, RCPT_HASH_BYTES) != 0) {
		rcpt_diagf(diag, "receipt.inputRoot: differs from job.inputRoot");
		return RCPT_ERR_INPUT_MISMATCH;
	}
	if (r->input_size != j->input_size) {
		rcpt_diagf(diag, "receipt.inputSize: differs from job.inputSize");
		return RCPT_ERR_INPUT_MISMATCH;
	}
	if (rcpt_u256_cmp(&r->price, &j->max_price) > 0) {
		rcpt_u256_format(a, &r->price);
		rcpt_u256_format(m, &j->max_price);
		rcpt_diagf(diag, "receipt.price: %s is above job.maxPrice %s", a, m);
		return RCPT_ERR_PRICE;
	}
	if (r->finished_at_ms < r->started_at_ms) {
		rcpt_diagf(diag, "receipt.finishedAt: before receipt.startedAt");
		return RCPT_ERR_TIME;
	}
	if (ids) {
		memcpy(ids->job_id, job_id, RCPT_HASH_BYTES);
		memcpy(ids->receipt_id, receipt_id, RCPT_HASH_BYTES);
		memcpy(ids->customer, j->customer, RCPT_ADDR_BYTES);
		memcpy(ids->provider, r->provider, RCPT_ADDR_BYTES);
	}
	return RCPT_OK;
}

enum rcpt_err rcpt_bundle_check_json(struct rcpt_bundle_ids *ids,
				     struct rcpt_diag *diag, const char *json,
				     size_t len, const struct rcpt_domain *expect)
{
	struct rcpt_bundle b;
	enum rcpt_err rc;

	rc = rcpt_bundle_parse(&b, diag, json, len);
	if (rc)
		return rc;
	return rcpt_bundle_verify(ids, diag, &b, expect);
}
