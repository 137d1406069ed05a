/*
 * fuzz_http.c: libFuzzer harness for the request path the daemons own
 * (httpd/framing.c and the strict JSON parse): header framing checks,
 * the JSON Content-Type test, route matching, the bounded body
 * accumulator and httpd_json_parse, on one input shaped like a request:
 *
 *   PATH "\n" header lines "Name:value" ... "\n\n" BODY
 *
 * Besides "no crash, no UB, no leak", each result is checked against an
 * oracle written here, independently of the code under test:
 *   - framing: accepted fields have at most one Content-Length, all
 *     digits, never with Transfer-Encoding, which is exactly "chunked";
 *     the reason is one printable NUL-terminated line;
 *   - a matched route rebuilds the path from the pattern and captures;
 *   - the body holds exactly the bytes appended before the cap, never
 *     more than the cap;
 *   - a parsed JSON body is an object that survives a dump and reparse.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpd.h"
#include "httpd_internal.h"
#include "banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const patterns[] = {
	"/v1/jobs", "/v1/jobs/{id}", "/v1/jobs/{id}/receipt", "/v1/accounts/{addr}/balance",
	"/v1/jobs/{id}/events/{seq}", "/livez",
};

static void printable_line(const char *s, size_t cap)
{
	size_t i, n = strnlen(s, cap);

	if (n >= cap)
		abort();
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			abort();
}

static int digits(const char *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return n > 0;
}

static void check_framing(const struct httpd_field *f, size_t n)
{
	char why[160];
	enum httpd_frame_rc rc = httpd_frame_check(why, sizeof(why), f, n);
	size_t i, n_cl = 0, n_te = 0;

	printable_line(why, sizeof(why));
	if (rc != HTTPD_FRAME_OK && rc != HTTPD_FRAME_BAD && rc != HTTPD_FRAME_CODING &&
	    rc != HTTPD_FRAME_TOO_MANY)
		abort();
	if (rc != HTTPD_FRAME_OK) {
		if (!why[0])
			abort();
		return;
	}
	if (n > HTTPD_HEADER_FIELDS_MAX)
		abort();
	for (i = 0; i < n; i++) {
		if (f[i].name_len == 14 && strncasecmp(f[i].name, "Content-Length", 14) == 0) {
			n_cl++;
			if (!digits(f[i].value, f[i].value_len))
				abort();
		}
		if (f[i].name_len == 17 && strncasecmp(f[i].name, "Transfer-Encoding", 17) == 0) {
			n_te++;
			if (f[i].value_len != 7 || strncasecmp(f[i].value, "chunked", 7) != 0)
				abort();
		}
		if (memchr(f[i].value, '\r', f[i].value_len) || memchr(f[i].value, '\n', f[i].value_len))
			abort();
	}
	if (n_cl > 1 || n_te > 1 || (n_cl && n_te))
		abort();
}

/* The pattern with each {x} replaced by its capture must give the path. */
static void check_route(const char *path)
{
	char params[HTTPD_PARAMS_MAX][HTTPD_PARAM_BYTES_MAX + 1];
	char rebuilt[2048];
	size_t i, np, k, out;

	for (i = 0; i < sizeof(patterns) / sizeof(patterns[0]); i++) {
		const char *p = patterns[i];
		if (!httpd_route_match(params, &np, p, path))
			continue;
		if (np > HTTPD_PARAMS_MAX)
			abort();
		out = 0;
		k = 0;
		while (*p) {
			if (*p == '{') {
				size_t pl = strlen(params[k]);
				if (k >= np || pl == 0 || pl > HTTPD_PARAM_BYTES_MAX ||
				    strchr(params[k], '/') || out + pl >= sizeof(rebuilt))
					abort();
				memcpy(rebuilt + out, params[k], pl);
				out += pl;
				k++;
				p = strchr(p, '}') + 1;
			} else {
				if (out + 1 >= sizeof(rebuilt))
					abort();
				rebuilt[out++] = *p++;
			}
		}
		rebuilt[out] = '\0';
		if (k != np || strcmp(rebuilt, path) != 0)
			abort();
	}
}

/* Appends body in chunks whose sizes come from the body itself. */
static void check_body(const uint8_t *b, size_t n, size_t max)
{
	struct httpd_body acc;
	size_t off = 0, kept = 0;
	int over = 0;

	memset(&acc, 0, sizeof(acc));
	acc.max = max;
	while (off < n) {
		size_t chunk = 1 + (b[off] % 97);
		if (chunk > n - off)
			chunk = n - off;
		if (httpd_body_append(&acc, (const char *)b + off, chunk) != 0)
			abort();
		if (!over && kept + chunk <= max)
			kept += chunk;
		else
			over = 1;
		off += chunk;
	}
	if (acc.len != kept || acc.len > max || (over != acc.too_large))
		abort();
	if (kept && memcmp(acc.buf, b, kept) != 0)
		abort();
	if (acc.buf && acc.buf[acc.len] != '\0')
		abort();
	httpd_body_release(&acc);
}

static void check_json(const char *body, size_t n)
{
	char why[256] = "";
	json_t *j = httpd_json_parse(body, n, why, sizeof(why));
	char *s;

	if (!j) {
		if (!why[0] || strnlen(why, sizeof(why)) >= sizeof(why))
			abort();
		return;
	}
	if (!json_is_object(j))
		abort();
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s) {
		json_t *again = httpd_json_parse(s, strlen(s), why, sizeof(why));
		if (!again || !json_equal(j, again))
			abort();
		json_decref(again);
		free(s);
	}
	json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpd_field f[HTTPD_HEADER_FIELDS_MAX + 2];
	char *buf = malloc(size + 1), *line, *end, *body;
	size_t n = 0, body_len;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	end = buf + size;
	/* The path: the first line, NUL-terminated. */
	line = memchr(buf, '\n', size);
	if (!line) {
		free(buf);
		return 0;
	}
	*line = '\0';
	if (strlen(buf) < 1024)
		check_route(buf);
	line++;
	/* Header lines up to an empty one. */
	while (line < end && *line != '\n' && n < sizeof(f) / sizeof(f[0])) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		char *colon;
		if (!nl)
			nl = end;
		colon = memchr(line, ':', (size_t)(nl - line));
		f[n].name = line;
		f[n].name_len = colon ? (size_t)(colon - line) : (size_t)(nl - line);
		f[n].value = colon ? colon + 1 : nl;
		f[n].value_len = colon ? (size_t)(nl - colon - 1) : 0;
		if (n == 0) {
			char ct[128];
			size_t cl = f[n].value_len < sizeof(ct) - 1 ? f[n].value_len : sizeof(ct) - 1;
			memcpy(ct, f[n].value, cl);
			ct[cl] = '\0';
			if (httpd_ctype_is_json(ct) && !strcasestr(ct, "application/json"))
				abort();
		}
		n++;
		line = nl + 1;
	}
	check_framing(f, n);
	body = line < end ? line + 1 : end;
	body_len = body < end ? (size_t)(end - body) : 0;
	check_body((const uint8_t *)body, body_len, body_len ? (size_t)(body[0] & 0x3f) * 16 : 0);
	check_json(body, body_len);
	free(buf);
	return 0;
}
