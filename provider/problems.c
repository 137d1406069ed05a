/*
 * problems.c: assay-provider's problem types (problems.h).  Ordered by
 * status; a new problem goes here, under its status in
 * docs/provider-openapi.yaml for each route that answers it, and
 * nowhere else.
 */
#include <stdarg.h>

#include "problems.h"
#include "assay_assert.h"
#include "banned.h"

const struct httpd_problem prov_problems[PROV_P_COUNT] = {
	[PROV_P_INVALID_ID] = { "invalid-id", 400, "invalid job id",
		"the {id} of the path is not 0x + 64 hex digits" },
	[PROV_P_INVALID_BODY] = { "invalid-body", 400, "invalid body",
		"a submission with a key other than job and jobSignature" },
	[PROV_P_INVALID_JOB] = { "invalid-job", 400, "invalid JobSpec",
		"the JobSpec does not parse, or its id cannot be computed" },
	[PROV_P_INVALID_SIGNATURE] = { "invalid-signature", 400, "invalid signature",
		"jobSignature is malformed or recovers to no key" },
	[PROV_P_FORBIDDEN] = { "forbidden", 403, "not allowed",
		"only the job's customer, the escrow or a staked validator reads a job; only a customer submits or deletes one" },
	[PROV_P_NOT_YOUR_JOB] = { "not-your-job", 403, "not your job",
		"a submission signed by someone other than job.customer" },
	[PROV_P_JOB_NOT_FOUND] = { "job-not-found", 404, "no such job",
		"this provider holds no job with this id" },
	[PROV_P_NOT_FUNDED] = { "not-funded", 409, "job not funded",
		"a submission of a job the escrow does not show open" },
	[PROV_P_NOT_RECEIPTED] = { "not-receipted", 409, "not receipted",
		"a bundle before the receipt, or a validator reading a job without one" },
	[PROV_P_NOT_SETTLED] = { "not-settled", 409, "not settled",
		"a deletion while the job runs, or before the escrow has settled it" },
	[PROV_P_JOB_CLOSED] = { "job-closed", 409, "job closed",
		"an input for a job that failed, was settled or was deleted" },
	[PROV_P_DATA_NOT_READY] = { "data-not-ready", 409, "not ready",
		"a read of the job's input or output before it is there" },
	[PROV_P_MODEL_NOT_FOUND] = { "model-not-found", 404, "no such model",
		"this provider holds no model with this root (GET /v1/info lists them)" },
	[PROV_P_DELETED] = { "deleted", 410, "deleted",
		"a read of the job's data after it was deleted (settled, failed or by its customer)" },
	[PROV_P_WRONG_SIGNER] = { "wrong-signer", 422, "JobSpec not signed by its customer",
		"jobSignature recovers to another address than job.customer" },
	[PROV_P_WRONG_PROVIDER] = { "wrong-provider", 422, "wrong provider",
		"job.provider is not this provider" },
	[PROV_P_UNKNOWN_KERNEL] = { "unknown-kernel", 422, "unknown kernel",
		"this provider does not serve job.kernel" },
	[PROV_P_UNKNOWN_MODEL] = { "unknown-model", 422, "unknown model",
		"job.params names a model (root and size) this provider does not hold" },
	[PROV_P_WRONG_KERNEL_HASH] = { "wrong-kernel-hash", 422, "wrong kernelHash",
		"job.kernelHash is not this provider's build of the kernel" },
	[PROV_P_DEADLINE_PASSED] = { "deadline-passed", 422, "deadline too close",
		"job.deadline is less than PROV_DEADLINE_SLACK_S away" },
	[PROV_P_INPUT_TOO_LARGE] = { "input-too-large", 422, "input too large",
		"job.inputSize is above PROV_INPUT_BYTES_MAX" },
	[PROV_P_PRICE_TOO_LOW] = { "price-too-low", 422, "maxPrice too low",
		"job.maxPrice is below this provider's price" },
	[PROV_P_INPUT_MISMATCH] = { "input-mismatch", 422, "input does not match the job",
		"input bytes whose size or commitment differs from job.inputSize/inputRoot" },
	[PROV_P_INTERNAL] = { "internal", 500, "internal error",
		"the provider could not build its answer (the bundle)" },
	[PROV_P_STORE_READ_FAILED] = { "store-read-failed", 500, "could not read the stored data",
		"the job's stored input or output could not be read or decrypted" },
	[PROV_P_ESCROW_UNAVAILABLE] = { "escrow-unavailable", 503, "escrow unavailable",
		"the escrow did not answer a question the request depends on; retry" },
	[PROV_P_BUSY] = { "busy", 503, "too many jobs",
		"the job table holds PROV_JOBS_MAX jobs; retry after Retry-After" },
	[PROV_P_QUEUE_FULL] = { "queue-full", 503, "queue full",
		"the queue holds queue_max jobs; retry after Retry-After" },
	[PROV_P_STORE_FAILED] = { "store-failed", 503, "could not store",
		"the job, its input or its place in the queue could not be written; retry" },
	[PROV_P_UNAVAILABLE] = { "unavailable", 503, "temporarily unavailable",
		"the provider ran out of memory or randomness; retry" },
	[PROV_P_INVALID_SCOPE] = { "invalid-scope", 400, "invalid scope",
		"scopes is not a non-empty list of distinct known API-key scopes" },
	[PROV_P_INVALID_LABEL] = { "invalid-label", 400, "invalid label",
		"an API key's label is longer than 64 bytes or not printable ASCII" },
	[PROV_P_INVALID_EXPIRY] = { "invalid-expiry", 400, "invalid expiry",
		"expiresInS is below 60 or above one year" },
	[PROV_P_INVALID_APIKEY_ID] = { "invalid-apikey-id", 400, "invalid api key id",
		"an API key id is not ak_ + 16 lowercase hex digits" },
	[PROV_P_APIKEY_NOT_FOUND] = { "apikey-not-found", 404, "no such api key",
		"the caller holds no API key with this id" },
	[PROV_P_TOO_MANY_APIKEYS] = { "too-many-apikeys", 409, "too many api keys",
		"the address already holds the most live API keys allowed (32)" },
	[PROV_P_APIKEY_REPLAYED] = { "apikey-replayed", 409, "api key already created",
		"a key creation replayed under an Idempotency-Key that already made one (its secret is shown once)" },
};

void prov_problem(struct httpd_req *r, enum prov_problem_id p, const char *detail_fmt, ...)
{
	va_list ap;

	ASSAY_ASSERT((unsigned)p < PROV_P_COUNT && prov_problems[p].slug);
	va_start(ap, detail_fmt);
	httpd_reply_problem_v(r, prov_problems[p].status, prov_problems[p].slug,
			      prov_problems[p].title, detail_fmt, ap);
	va_end(ap);
}
