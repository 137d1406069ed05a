/*
 * fuzz_statement.c: libFuzzer harness for the statement parsers (the
 * operator's ProviderDecision among them) and the Merkle proof checker.  The first byte picks the target; the rest is
 * its input.  Every statement that parses must serialise and parse back
 * to the same struct; a proof check must never crash or accept a chunk
 * of the wrong length.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receipts.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROUND_TRIP(type, parse, dump)                                       \
	do {                                                                \
		struct type a, b;                                           \
		char *s = NULL;                                             \
		if (parse(&a, &d, text, len) != RCPT_OK)                    \
			break;                                              \
		if (dump(&s, &a) != RCPT_OK)                                \
			abort();                                            \
		if (parse(&b, &d, s, strlen(s)) != RCPT_OK ||               \
		    memcmp(&a, &b, sizeof(a)) != 0)                         \
			abort();                                            \
		free(s);                                                    \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rcpt_diag d = { "" };
	const char *text;
	size_t len;

	if (size < 1)
		return 0;
	text = (const char *)data + 1;
	len = size - 1;
	switch (data[0] % 6) {
	case 0:
		ROUND_TRIP(rcpt_domain, rcpt_domain_parse, rcpt_domain_to_json);
		break;
	case 1:
		ROUND_TRIP(rcpt_job, rcpt_job_parse, rcpt_job_to_json);
		break;
	case 2:
		ROUND_TRIP(rcpt_receipt, rcpt_receipt_parse, rcpt_receipt_to_json);
		break;
	case 3:
		ROUND_TRIP(rcpt_attestation, rcpt_attestation_parse,
			   rcpt_attestation_to_json);
		break;
	case 4: {
		/* [8-byte size][8-byte index][1-byte path length][paths][chunk] */
		struct rcpt_commitment c;
		uint64_t index;
		size_t npath;
		if (len < 17 + 32)
			return 0;
		memcpy(&c.size, text, 8);
		memcpy(&index, text + 8, 8);
		npath = (uint8_t)text[16] % (RCPT_PROOF_HASHES_MAX + 2);
		if (len < 17 + 32 + 32 * npath)
			return 0;
		memcpy(c.root, text + 17, 32);
		const uint8_t (*path)[32] = (const uint8_t (*)[32])(const void *)(text + 49);
		const char *chunk = text + 49 + 32 * npath;
		size_t clen = len - 49 - 32 * npath;
		enum rcpt_err rc = rcpt_proof_verify(&c, index, chunk, clen, path, npath);
		if (rc == RCPT_OK && (clen == 0 || clen > RCPT_CHUNK_BYTES))
			abort();
		break;
	}
	case 5:
		ROUND_TRIP(rcpt_decision, rcpt_decision_parse, rcpt_decision_to_json);
		break;
	}
	if (strnlen(d.msg, sizeof(d.msg)) == sizeof(d.msg))
		abort();
	return 0;
}
