/*
 * err.c: the validator's error strings (validator.h).
 */
#include <stddef.h>

#include "validator.h"

#include "banned.h"

static const struct {
	const char *name;
	const char *text;
} valid_errs[VALID_ERR_COUNT_] = {
	[VALID_OK] = { "ok", "success" },
	[VALID_ERR_ARG] = { "arg", "invalid argument" },
	[VALID_ERR_NOMEM] = { "nomem", "out of memory" },
	[VALID_ERR_IO] = { "io", "state directory i/o failed" },
	[VALID_ERR_RANDOM] = { "random", "the os random generator failed" },
	[VALID_ERR_CRYPTO] = { "crypto", "signing or hashing failed" },
	[VALID_ERR_STATE] = { "state", "state file malformed or not private" },
	[VALID_ERR_NOT_FOUND] = { "not-found", "no such record" },
	[VALID_ERR_RECORD_CONFLICT] = { "record-conflict",
		"another attestation is recorded for this receipt" },
	[VALID_ERR_INPUT_MISMATCH] = { "input-mismatch", "bytes do not match the job's input commitment" },
	[VALID_ERR_OUTPUT_MISMATCH] = { "output-mismatch",
		"bytes do not match the receipt's output commitment" },
	[VALID_ERR_COMMITMENT] = { "commitment", "seed does not match its commitment" },
	[VALID_ERR_NO_EVIDENCE] = { "no-evidence", "no differing chunk in the provider's output" },
	[VALID_ERR_UNREACHABLE] = { "unreachable", "service did not answer" },
	[VALID_ERR_PEER] = { "peer", "service answered something unusable" },
	[VALID_ERR_STAKE] = { "stake", "validator holds less than the minimum stake" },
	[VALID_ERR_REFUSED] = { "refused", "refused on this escrow" },
	[VALID_ERR_LISTEN] = { "listen", "status server could not start" },
};

const char *valid_strerror(enum valid_err err)
{
	if ((unsigned)err >= VALID_ERR_COUNT_ || !valid_errs[err].text)
		return "unknown error";
	return valid_errs[err].text;
}

const char *valid_errname(enum valid_err err)
{
	if ((unsigned)err >= VALID_ERR_COUNT_ || !valid_errs[err].name)
		return "unknown";
	return valid_errs[err].name;
}
