/*
 * framing.c: the request checks that need no socket, kept apart from the
 * libmicrohttpd glue so that tests and the fuzzer call them directly:
 * header framing (RFC 9112 section 6.3), the JSON Content-Type, route
 * pattern matching and the bounded body accumulator.
 *
 * Why framing is checked here and not left to libmicrohttpd: 0.9.75
 * frames some ambiguous requests differently from an RFC-conforming
 * proxy (two Content-Length fields, Content-Length with chunked, a
 * transfer coding list), so bytes a proxy counts as body would run as a
 * second request.  Every such request is refused before its body is read,
 * and the connection is closed after the answer (httpd.c).
 */
#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>

#include "httpd_internal.h"
#include "banned.h"

/* RFC 9110 section 5.6.2: tchar. */
static int is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_token(const char *s, size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

/* field-value (RFC 9110 section 5.5): VCHAR, obs-text, SP and HTAB; no
 * CR, LF or other control (a folded line kept with its CRLF fails here). */
static int is_field_value(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int name_is(const struct httpd_field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* libmicrohttpd 0.9.75 joins an obs-folded continuation line onto the
 * field's name ("Content-Length: 0" CRLF " 85" arrives as the field
 * "Content-Length85" with value "0"), and a proxy would read that field
 * as the Content-Length.  So a name that begins with a framing field's
 * name but is longer is refused: no real field is named so. */
static int framing_name_extended(const struct httpd_field *f)
{
	static const char *const names[] = { "Content-Length", "Transfer-Encoding" };
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		size_t n = strlen(names[i]);
		if (f->name_len > n && strncasecmp(f->name, names[i], n) == 0)
			return 1;
	}
	return 0;
}

/* Content-Length = 1*DIGIT, bounded so that it always fits. */
static int content_length_ok(const char *v, size_t n)
{
	size_t i;

	if (n == 0 || n > HTTPD_CONTENT_LENGTH_DIGITS_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return 1;
}

enum httpd_frame_rc httpd_frame_check(char *why, size_t why_len,
				      const struct httpd_field *f, size_t n)
{
	size_t i, n_cl = 0, n_te = 0;
	const struct httpd_field *cl = NULL, *te = NULL;

	assert(why && why_len > 0 && (f || n == 0));
	why[0] = '\0';
	if (n > HTTPD_HEADER_FIELDS_MAX) {
		snprintf(why, why_len, "more than %d header fields", HTTPD_HEADER_FIELDS_MAX);
		return HTTPD_FRAME_TOO_MANY;
	}
	for (i = 0; i < n; i++) {
		if (!f[i].name || !is_token(f[i].name, f[i].name_len)) {
			snprintf(why, why_len, "header field %zu: the name is not a token "
				 "(no space before the colon)", i + 1);
			return HTTPD_FRAME_BAD;
		}
		if (!f[i].value || !is_field_value(f[i].value, f[i].value_len)) {
			snprintf(why, why_len, "header field %zu: the value holds a control "
				 "character or a folded line", i + 1);
			return HTTPD_FRAME_BAD;
		}
		if (framing_name_extended(&f[i])) {
			snprintf(why, why_len, "header field %zu: a framing field's name with "
				 "more after it (an obs-folded line?)", i + 1);
			return HTTPD_FRAME_BAD;
		}
		if (name_is(&f[i], "Content-Length")) {
			n_cl++;
			cl = &f[i];
		} else if (name_is(&f[i], "Transfer-Encoding")) {
			n_te++;
			te = &f[i];
		}
	}
	if (n_cl > 1) {
		snprintf(why, why_len, "more than one Content-Length field");
		return HTTPD_FRAME_BAD;
	}
	if (cl && !content_length_ok(cl->value, cl->value_len)) {
		snprintf(why, why_len, "Content-Length is not 1 to %d digits",
			 HTTPD_CONTENT_LENGTH_DIGITS_MAX);
		return HTTPD_FRAME_BAD;
	}
	if (te && cl) {
		snprintf(why, why_len, "Transfer-Encoding together with Content-Length");
		return HTTPD_FRAME_BAD;
	}
	if (n_te > 1 || (te && !(te->value_len == 7 &&
				 strncasecmp(te->value, "chunked", 7) == 0))) {
		snprintf(why, why_len, "the only transfer coding served is exactly 'chunked'");
		return HTTPD_FRAME_CODING;
	}
	return HTTPD_FRAME_OK;
}

int httpd_ctype_is_json(const char *v)
{
	size_t n;
	const char *p;

	if (!v)
		return 0;
	while (*v == ' ' || *v == '\t')
		v++;
	n = strcspn(v, ";");
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n != 16 || strncasecmp(v, "application/json", 16) != 0)
		return 0;
	p = v + strcspn(v, ";");
	if (!*p)
		return 1;
	/* One parameter only, charset=utf-8 (RFC 8259 section 8.1). */
	p++;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return 0;
	p += 8;
	if (*p == '"')
		return strcasecmp(p, "\"utf-8\"") == 0;
	n = strcspn(p, " \t");
	return n == 5 && strncasecmp(p, "utf-8", 5) == 0 && p[strspn(p + 5, " \t") + 5] == '\0';
}

int httpd_route_match(char params[HTTPD_PARAMS_MAX][HTTPD_PARAM_BYTES_MAX + 1],
		      size_t *params_len, const char *pattern, const char *path)
{
	const char *p = pattern, *u = path;
	size_t np = 0;

	assert(params && params_len && pattern && path);
	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return 0;
		p++;
		u++;
		const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t ul = ue ? (size_t)(ue - u) : strlen(u);
		if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (ul == 0 || ul > HTTPD_PARAM_BYTES_MAX || np >= HTTPD_PARAMS_MAX)
				return 0;
			memcpy(params[np], u, ul);
			params[np][ul] = '\0';
			np++;
		} else if (pl != ul || memcmp(p, u, pl) != 0) {
			return 0;
		}
		p += pl;
		u += ul;
	}
	if (*p || *u)
		return 0;
	*params_len = np;
	assert(np <= HTTPD_PARAMS_MAX);
	return 1;
}

int httpd_body_append(struct httpd_body *b, const char *data, size_t len)
{
	assert(b && b->len <= b->max && b->max <= HTTPD_BODY_BYTES_MAX);
	if (b->too_large || len > b->max - b->len) {
		b->too_large = 1;
		return 0;
	}
	if (len == 0)
		return 0;
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		char *nb = realloc(b->buf, cap);
		if (!nb)
			return -1;
		b->buf = nb;
		b->cap = cap;
	}
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->buf[b->len] = '\0';
	assert(b->len <= b->max && b->len < b->cap);
	return 0;
}

void httpd_body_release(struct httpd_body *b)
{
	if (!b)
		return;
	free(b->buf);
	memset(b, 0, sizeof(*b));
}
