/*
 * cmd_audit.c: `assay audit verify FILE`.
 *
 *   assay audit verify FILE
 *       FILE is what GET /v1/audit?job=ID (or ?account=ADDR) answered:
 *       {"subject":S,"entries":[{"entry":E,"prevHash":P,"hash":H},...]}.
 *       Checks every link: entry k (from 1) has index k and subject S,
 *       P is the previous entry's H (32 zero bytes for the first), and
 *       H = SHA-256(P || canonical(E)), canonical(E) being E as compact
 *       JSON with sorted keys and ASCII-only escapes (docs/escrow.md).
 *       Prints {"valid":true,"subject":S,"entries":N,"head":H}.
 *
 * Exit 0 when the chain holds; 1 with the first broken link named on
 * stderr; 2 for unusable arguments or a file that is not an audit log.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "receipts.h"

#include "banned.h"

/* An audit log of ESCROW_AUDIT_ENTRIES_MAX entries is well under this. */
#define AUDIT_FILE_BYTES_MAX (16u * 1024u * 1024u)

static const char AUDIT_USAGE[] =
	"usage: assay audit verify FILE\n"
	"       assay audit validator ADDRESS --escrow URL [--epoch N]\n"
	"\n"
	"Checks a hash-chained audit log as GET /v1/audit returns it and names\n"
	"the first broken link; or redoes the escrow's audit of a validator's\n"
	"sampling (assay audit validator --help).\n"
	"exit: 0 the chain holds, 1 a link is broken, 2 unusable arguments.\n";


/* Checks one entry against the chain so far; 0, or -1 after saying why. */
static int audit_link(const char *path, size_t k, json_t *item, const char *subject,
		      uint8_t prev[RCPT_HASH_BYTES])
{
	json_t *entry = json_object_get(item, "entry");
	const char *ph = json_string_value(json_object_get(item, "prevHash"));
	const char *hh = json_string_value(json_object_get(item, "hash"));
	const char *es = json_string_value(json_object_get(entry, "subject"));
	json_t *idx = json_object_get(entry, "index");
	uint8_t p[RCPT_HASH_BYTES], h[RCPT_HASH_BYTES], want[RCPT_HASH_BYTES];
	char *text = NULL;
	uint8_t *buf = NULL;
	size_t tl;
	int rc = -1;

	if (!json_is_object(entry) || !ph || !hh ||
	    rcpt_hex_decode(p, sizeof(p), ph) != RCPT_OK ||
	    rcpt_hex_decode(h, sizeof(h), hh) != RCPT_OK) {
		cli_err("audit chain '%s' broken at entry %zu: not an {entry, prevHash, hash} object",
			path, k);
		goto out;
	}
	if (memcmp(p, prev, RCPT_HASH_BYTES) != 0) {
		cli_err("audit chain '%s' broken at entry %zu: prevHash is not the hash of entry %zu",
			path, k, k - 1);
		goto out;
	}
	if (!json_is_integer(idx) || json_integer_value(idx) != (json_int_t)k) {
		cli_err("audit chain '%s' broken at entry %zu: index is not %zu (an entry is missing or reordered)",
			path, k, k);
		goto out;
	}
	if (!es || strcmp(es, subject) != 0) {
		cli_err("audit chain '%s' broken at entry %zu: subject differs from \"%s\"",
			path, k, subject);
		goto out;
	}
	text = json_dumps(entry, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
	tl = text ? strlen(text) : 0;
	buf = text ? malloc(RCPT_HASH_BYTES + tl) : NULL;
	if (!buf) {
		cli_err("audit chain '%s': out of memory", path);
		goto out;
	}
	memcpy(buf, p, RCPT_HASH_BYTES);
	memcpy(buf + RCPT_HASH_BYTES, text, tl);
	if (rcpt_sha256(want, buf, RCPT_HASH_BYTES + tl) != RCPT_OK) {
		cli_err("audit chain '%s': sha-256 failed", path);
		goto out;
	}
	if (memcmp(want, h, RCPT_HASH_BYTES) != 0) {
		cli_err("audit chain '%s' broken at entry %zu: hash does not cover the entry (altered)",
			path, k);
		goto out;
	}
	memcpy(prev, h, RCPT_HASH_BYTES);
	rc = 0;
out:
	free(buf);
	free(text);
	return rc;
}

static int audit_verify(const char *path)
{
	char *data = NULL, *text = NULL, head[RCPT_HASH_HEX_BYTES];
	size_t len = 0, k;
	json_t *doc = NULL, *out_obj = NULL, *entries, *item;
	json_error_t je;
	const char *subject;
	uint8_t prev[RCPT_HASH_BYTES] = { 0 };
	int rc = 2, r;

	r = cli_read_file(&data, &len, path, AUDIT_FILE_BYTES_MAX);
	if (r == CLI_READ_TOO_LARGE)
		cli_err("could not read audit log '%s': over %u bytes", path, AUDIT_FILE_BYTES_MAX);
	if (r)
		goto out;
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		cli_err("could not parse audit log '%s': %s at byte %d", path, je.text, je.position);
		goto out;
	}
	subject = json_string_value(json_object_get(doc, "subject"));
	entries = json_object_get(doc, "entries");
	if (!subject || !json_is_array(entries)) {
		cli_err("could not use audit log '%s': want {\"subject\":..., \"entries\":[...]}", path);
		goto out;
	}
	rc = 1;
	json_array_foreach(entries, k, item) {
		if (audit_link(path, k + 1, item, subject, prev))
			goto out;
	}
	if (rcpt_hex_encode(head, sizeof(head), prev, sizeof(prev)) != RCPT_OK)
		goto out;
	/* Through jansson: the subject comes from the file and is escaped. */
	out_obj = json_pack("{s:b, s:s, s:I, s:s}", "valid", 1, "subject", subject,
			    "entries", (json_int_t)json_array_size(entries), "head", head);
	text = out_obj ? json_dumps(out_obj, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	if (!text) {
		cli_err("audit chain '%s': out of memory", path);
		goto out;
	}
	printf("%s\n", text);
	rc = 0;
out:
	free(text);
	json_decref(out_obj);
	json_decref(doc);
	free(data);
	return rc;
}

int cmd_audit(int argc, char **argv)
{
	struct cli_args a;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(AUDIT_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "validator") == 0)
		return audit_validator(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") != 0) {
		cli_err("unknown audit command '%s'", argv[1]);
		fputs(AUDIT_USAGE, stderr);
		return 2;
	}
	if (cli_parse(&a, argc - 1, argv + 1, NULL, 0, 1, 1))
		return 2;
	if (a.help) {
		fputs(AUDIT_USAGE, stdout);
		return 0;
	}
	return audit_verify(a.pos[0]);
}
