/*
 * fuzz_bundle.c: libFuzzer harness for the bundle parser and verifier
 * (`make fuzz FUZZ_SECONDS=N`).  Built with ASan and UBSan.
 *
 * Beyond "no crash, no leak, no undefined behaviour", it checks
 * invariants on every input:
 * - the diagnostic is one NUL-terminated line;
 * - a bundle that verifies serialises, parses back to the same struct and
 *   verifies again with the same ids (parse and print agree);
 * - verification is deterministic.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receipts.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_diag(const struct rcpt_diag *d)
{
	size_t n = strnlen(d->msg, sizeof(d->msg));
	if (n == sizeof(d->msg) || memchr(d->msg, '\n', n))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rcpt_bundle b, b2;
	struct rcpt_bundle_ids ids, ids2;
	struct rcpt_diag d = { "" };
	enum rcpt_err rc, rc2;
	char *json = NULL;

	rc = rcpt_bundle_parse(&b, &d, (const char *)data, size);
	check_diag(&d);
	if (rc)
		return 0;
	rc = rcpt_bundle_verify(&ids, &d, &b, NULL);
	check_diag(&d);
	rc2 = rcpt_bundle_verify(&ids2, &d, &b, NULL);
	if (rc != rc2)
		abort();
	if (rcpt_bundle_to_json(&json, &b) != RCPT_OK)
		abort();
	if (rcpt_bundle_parse(&b2, &d, json, strlen(json)) != RCPT_OK ||
	    memcmp(&b, &b2, sizeof(b)) != 0)
		abort();
	if (rc == RCPT_OK) {
		if (rcpt_bundle_verify(&ids2, &d, &b2, NULL) != RCPT_OK ||
		    memcmp(&ids, &ids2, sizeof(ids)) != 0)
			abort();
	}
	free(json);
	return 0;
}
