/*
 * err.c: the library's error strings and diagnostics.
 *
 * Names (rcpt_errname) are stable identifiers: scripts, tests and the
 * services' JSON errors match on them, so they never change once shipped.
 */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"
#include "banned.h"

static const struct {
	const char *name;
	const char *text;
} rcpt_errs[RCPT_ERR_COUNT_] = {
	[RCPT_OK] = { "ok", "success" },
	[RCPT_ERR_ARG] = { "arg", "invalid argument" },
	[RCPT_ERR_NOMEM] = { "nomem", "out of memory" },
	[RCPT_ERR_IO] = { "io", "input/output error" },
	[RCPT_ERR_RANDOM] = { "random", "the system random number generator failed" },
	[RCPT_ERR_CRYPTO] = { "crypto", "cryptographic library failure" },
	[RCPT_ERR_TOO_LARGE] = { "too-large", "input over its size limit" },
	[RCPT_ERR_HEX] = { "hex", "not 0x-prefixed hex of the right length" },
	[RCPT_ERR_CHECKSUM] = { "checksum", "bad EIP-55 address checksum" },
	[RCPT_ERR_DECIMAL] = { "decimal", "not a canonical uint256 decimal string" },
	[RCPT_ERR_KEY_FORMAT] = { "key-format", "key file is not 0x and 64 hex digits" },
	[RCPT_ERR_KEY_INVALID] = { "key-invalid", "private key out of range" },
	[RCPT_ERR_KEY_PERMS] = { "key-perms", "key file is accessible by group or others" },
	[RCPT_ERR_KEY_EXISTS] = { "key-exists", "refusing to overwrite an existing file" },
	[RCPT_ERR_SIG_FORMAT] = { "sig-format", "malformed signature" },
	[RCPT_ERR_SIG_V] = { "sig-v", "signature v is not 0, 1, 27 or 28" },
	[RCPT_ERR_SIG_HIGH_S] = { "sig-high-s", "signature s is above n/2 (EIP-2)" },
	[RCPT_ERR_SIG_RECOVER] = { "sig-recover", "no public key recovers from the signature" },
	[RCPT_ERR_JSON] = { "json", "malformed JSON" },
	[RCPT_ERR_FIELD] = { "field", "bad field" },
	[RCPT_ERR_PROOF] = { "proof", "inclusion proof does not verify" },
	[RCPT_ERR_DOMAIN] = { "domain", "wrong EIP-712 domain" },
	[RCPT_ERR_JOB_SIG] = { "job-signature", "unusable job signature" },
	[RCPT_ERR_JOB_SIGNER] = { "job-signer", "job not signed by its customer" },
	[RCPT_ERR_RECEIPT_SIG] = { "receipt-signature", "unusable receipt signature" },
	[RCPT_ERR_RECEIPT_SIGNER] = { "receipt-signer", "receipt not signed by its provider" },
	[RCPT_ERR_PROVIDER_MISMATCH] = { "provider-mismatch", "receipt provider is not the job's provider" },
	[RCPT_ERR_JOB_LINK] = { "job-link", "receipt does not name this job" },
	[RCPT_ERR_KERNEL_MISMATCH] = { "kernel-mismatch", "kernel hash differs between job and receipt" },
	[RCPT_ERR_INPUT_MISMATCH] = { "input-mismatch", "input commitment differs between job and receipt" },
	[RCPT_ERR_PRICE] = { "price", "price above the job's maxPrice" },
	[RCPT_ERR_TIME] = { "time", "finishedAt before startedAt" },
	[RCPT_ERR_INPUT_FILE] = { "input-file", "input file does not match the job's commitment" },
	[RCPT_ERR_OUTPUT_FILE] = { "output-file", "output file does not match the receipt's commitment" },
	[RCPT_ERR_ABI] = { "abi", "truncated or non-canonical ABI data" },
};

const char *rcpt_strerror(enum rcpt_err err)
{
	if ((unsigned)err >= RCPT_ERR_COUNT_ || !rcpt_errs[err].text)
		return "unknown error";
	return rcpt_errs[err].text;
}

const char *rcpt_errname(enum rcpt_err err)
{
	if ((unsigned)err >= RCPT_ERR_COUNT_ || !rcpt_errs[err].name)
		return "unknown";
	return rcpt_errs[err].name;
}

void rcpt_diagf(struct rcpt_diag *diag, const char *fmt, ...)
{
	va_list ap;

	if (!diag)
		return;
	va_start(ap, fmt);
	vsnprintf(diag->msg, sizeof(diag->msg), fmt, ap);
	va_end(ap);
	/* A diagnostic is one printable line whatever it quotes: a key from
	 * the wire may hold "\n" or escape sequences (found by fuzzing). */
	for (char *p = diag->msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

void rcpt_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "assay: internal invariant failed: %s (%s:%d)\n",
		what, file, line);
	abort();
}
