/*
 * problems.c: a service's table of problem types (struct httpd_problem)
 * and answers by table entry, so that one slug always carries one status
 * and one title.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "assay_assert.h"
#include "httpd.h"
#include "banned.h"

void httpd_reply_problem_as(struct httpd_req *r, const struct httpd_problem *p,
			    const char *detail_fmt, ...)
{
	va_list ap;

	ASSAY_ASSERT(r && p && p->slug && p->title);
	ASSAY_ASSERT(p->status >= 400 && p->status <= 599);
	va_start(ap, detail_fmt);
	httpd_reply_problem_v(r, p->status, p->slug, p->title, detail_fmt, ap);
	va_end(ap);
}

const struct httpd_problem httpd_problems[HTTPD_P_COUNT] = {
	[HTTPD_P_BAD_FRAMING] = { "bad-framing", 400, "request framing refused",
		"two Content-Length headers, Content-Length with Transfer-Encoding, a control character or folded line" },
	[HTTPD_P_TRANSFER_CODING] = { "transfer-coding", 501, "transfer coding not implemented",
		"a Transfer-Encoding other than chunked" },
	[HTTPD_P_TOO_MANY_HEADERS] = { "too-many-headers", 431, "too many header fields",
		"more than HTTPD_HEADER_FIELDS_MAX header fields" },
	[HTTPD_P_URI_TOO_LONG] = { "uri-too-long", 414, "request target too long",
		"a request target past the server's bound" },
	[HTTPD_P_NOT_FOUND] = { "not-found", 404, "not found",
		"no route has this path (or sign-in is not configured)" },
	[HTTPD_P_METHOD_NOT_ALLOWED] = { "method-not-allowed", 405, "method not allowed",
		"the path exists for another method" },
	[HTTPD_P_RATE_LIMITED] = { "rate-limited", 429, "too many requests",
		"the client IP, the signer or sign-in went past its rate; retry after Retry-After" },
	[HTTPD_P_UNSUPPORTED_MEDIA_TYPE] = { "unsupported-media-type", 415, "unsupported media type",
		"a JSON route without Content-Type: application/json" },
	[HTTPD_P_BODY_TOO_LARGE] = { "body-too-large", 413, "request body too large",
		"a body past the route's cap (or the unauthenticated cap)" },
	[HTTPD_P_MALFORMED_JSON] = { "malformed-json", 400, "malformed json body",
		"not one JSON object, a duplicate key, too deep, or bytes after it" },
	[HTTPD_P_IDEMPOTENCY_KEY] = { "idempotency-key", 400, "idempotency key required",
		"an Idempotency-Key missing or malformed on a route that takes one" },
	[HTTPD_P_INVALID_REQUEST] = { "invalid-request", 400, "invalid request",
		"a declared body's key missing, unknown or of another type; a malformed sign-in request" },
	[HTTPD_P_UNAUTHENTICATED] = { "unauthenticated", 401, "authentication refused",
		"signed-request headers that do not verify, no live session or API key, or two at once" },
	[HTTPD_P_INSUFFICIENT_SCOPE] = { "insufficient-scope", 403, "api key scope insufficient",
		"an API key without every scope the route declares, or on a route that takes none" },
	[HTTPD_P_SIWE_MALFORMED] = { "siwe-malformed", 400, "sign-in refused",
		"the EIP-4361 message does not parse" },
	[HTTPD_P_SIWE_DOMAIN] = { "siwe-domain", 401, "sign-in refused",
		"the message names another domain" },
	[HTTPD_P_SIWE_URI] = { "siwe-uri", 401, "sign-in refused", "the message names another URI" },
	[HTTPD_P_SIWE_CHAIN] = { "siwe-chain", 401, "sign-in refused",
		"the message names another chain id" },
	[HTTPD_P_SIWE_ISSUED_AT] = { "siwe-issued-at", 401, "sign-in refused",
		"the message's Issued At is too far from the server's clock" },
	[HTTPD_P_SIWE_EXPIRED] = { "siwe-expired", 401, "sign-in refused", "the message has expired" },
	[HTTPD_P_SIWE_NOT_BEFORE] = { "siwe-not-before", 401, "sign-in refused",
		"the message is not valid yet" },
	[HTTPD_P_SIWE_SIGNATURE] = { "siwe-signature", 401, "sign-in refused",
		"the signature is malformed" },
	[HTTPD_P_SIWE_SIGNER] = { "siwe-signer", 401, "sign-in refused",
		"the signature recovers to another address than the message's" },
	[HTTPD_P_SIWE_NONCE] = { "siwe-nonce", 401, "sign-in refused",
		"the nonce was not issued, was used or has expired" },
	[HTTPD_P_SIWE_ROLE] = { "siwe-role", 403, "sign-in refused",
		"the address may not hold the requested role" },
	[HTTPD_P_NOT_READY] = { "not-ready", 503, "service not ready",
		"/readyz: the service's own check failed" },
	[HTTPD_P_UNAVAILABLE] = { "unavailable", 503, "temporarily unavailable",
		"the session store is down, the server is shutting down, or a dependency is unreachable" },
	[HTTPD_P_INTERNAL] = { "internal", 500, "internal error",
		"a handler gave no answer, or an answer could not be built" },
};

void httpd_reply_builtin(struct httpd_req *r, enum httpd_problem_id p,
			 const char *detail_fmt, ...)
{
	va_list ap;

	ASSAY_ASSERT((unsigned)p < HTTPD_P_COUNT && httpd_problems[p].slug);
	va_start(ap, detail_fmt);
	httpd_reply_problem_v(r, httpd_problems[p].status, httpd_problems[p].slug,
			      httpd_problems[p].title, detail_fmt, ap);
	va_end(ap);
}

/* [a-z0-9] words joined by single '-', at most HTTPD_PROBLEM_SLUG_BYTES_MAX. */
static int slug_ok(const char *s)
{
	size_t i, n = s ? strlen(s) : 0;

	if (n == 0 || n > HTTPD_PROBLEM_SLUG_BYTES_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		int word = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9');
		if (!word && !(s[i] == '-' && s[i + 1] != '-'))
			return 0;
	}
	return 1;
}

int httpd_problems_check(const struct httpd_problem *t, size_t n, char *why, size_t why_len)
{
	char scratch[1];
	size_t i, j;

	if (!why) {
		why = scratch;
		why_len = sizeof(scratch);
	}
	ASSAY_ASSERT(t || n == 0);
	for (i = 0; i < n; i++) {
		const struct httpd_problem *p = &t[i];
		if (!slug_ok(p->slug)) {
			snprintf(why, why_len, "entry %zu: slug \"%s\" is not [a-z0-9] words joined by '-'",
				 i, p->slug ? p->slug : "(null)");
			return -1;
		}
		if (p->status < 400 || p->status > 599) {
			snprintf(why, why_len, "%s: status %u is not in 400..599", p->slug, p->status);
			return -1;
		}
		if (!p->title || !p->title[0] || !p->meaning || !p->meaning[0]) {
			snprintf(why, why_len, "%s: empty title or meaning", p->slug);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(t[j].slug, p->slug) == 0) {
				snprintf(why, why_len, "%s: listed twice (entries %zu and %zu)",
					 p->slug, j, i);
				return -1;
			}
		}
	}
	return 0;
}
