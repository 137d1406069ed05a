/*
 * problemdoc.c: problem types against API documents (problemdoc.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "problemdoc.h"
#include "testutil.h"
#include "banned.h"

/* Longest description value read from one response line. */
#define PD_DESCRIPTION_BYTES_MAX 1024

static int slug_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static void add(struct pd_doc *d, unsigned status, const char *slug, size_t n, unsigned line)
{
	struct pd_entry *e;

	cr_assert(d->len < PD_DOC_ENTRIES_MAX, "%s: more than %d problem entries", d->name,
		  PD_DOC_ENTRIES_MAX);
	cr_assert(n > 0 && n <= HTTPD_PROBLEM_SLUG_BYTES_MAX, "%s:%u: slug of %zu bytes", d->name,
		  line, n);
	e = &d->v[d->len++];
	e->status = status;
	e->line = line;
	memcpy(e->slug, slug, n);
	e->slug[n] = '\0';
}

/* The value after "description:" on a line, unquoted ('' is one '), in
 * out; 0 when the line has none. */
static int description(char out[PD_DESCRIPTION_BYTES_MAX], const char *s, size_t len)
{
	const char *end = s + len, *k = NULL;
	size_t n = 0;

	for (const char *p = s; p + 12 <= end; p++) {
		if (memcmp(p, "description:", 12) == 0) {
			k = p + 12;
			break;
		}
	}
	if (!k)
		return 0;
	while (k < end && *k == ' ')
		k++;
	if (k < end && *k == '\'') {
		for (k++; k < end; k++) {
			if (*k == '\'' && !(k + 1 < end && k[1] == '\''))
				break;
			if (*k == '\'')
				k++;
			cr_assert(n + 1 < PD_DESCRIPTION_BYTES_MAX, "description too long");
			out[n++] = *k;
		}
	} else {
		while (k < end && *k != '}' && n + 1 < PD_DESCRIPTION_BYTES_MAX)
			out[n++] = *k++;
		while (n > 0 && out[n - 1] == ' ')
			n--;
	}
	out[n] = '\0';
	return 1;
}

/* A response line: "'NNN': { ..., description: LIST }" with NNN 400..599. */
static void response_line(struct pd_doc *d, const char *s, size_t len, unsigned line)
{
	char v[PD_DESCRIPTION_BYTES_MAX];
	unsigned status = 0;
	const char *q;

	for (size_t i = 0; i + 6 <= len; i++) {
		if (s[i] == '\'' && is_digit(s[i + 1]) && is_digit(s[i + 2]) && is_digit(s[i + 3]) &&
		    s[i + 4] == '\'' && s[i + 5] == ':') {
			status = (unsigned)(s[i + 1] - '0') * 100 + (unsigned)(s[i + 2] - '0') * 10 +
				 (unsigned)(s[i + 3] - '0');
			break;
		}
	}
	if (status < 400 || status > 599 || !description(v, s, len))
		return;
	q = v;
	for (;;) {
		size_t n = 0;
		while (slug_char(q[n]))
			n++;
		cr_assert(n > 0, "%s:%u: the description of '%u' is not a list of slugs: '%s'",
			  d->name, line, status, v);
		add(d, status, q, n, line);
		q += n;
		if (q[0] == ' ' && q[1] == '(') {
			int depth = 0;
			for (q++; *q; q++) {
				depth += *q == '(';
				depth -= *q == ')';
				if (depth == 0)
					break;
			}
			cr_assert(*q == ')', "%s:%u: unbalanced '(' in '%s'", d->name, line, v);
			q++;
		}
		if (*q == '\0' || (q[0] == ':' && q[1] == ' '))
			break;
		cr_assert(q[0] == ',' && q[1] == ' ',
			  "%s:%u: the description of '%u' is not a list of slugs: '%s'", d->name, line,
			  status, v);
		q += 2;
	}
}

/* Prose: "NNN `slug`", white space (line breaks too) between the two. */
static void prose(struct pd_doc *d, const char *doc)
{
	unsigned line = 1;

	for (const char *p = doc; *p; p++) {
		const char *q;
		unsigned status;
		size_t n = 0;

		if (*p == '\n')
			line++;
		if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]) || is_digit(p[3]) ||
		    (p > doc && slug_char(p[-1])))
			continue;
		status = (unsigned)(p[0] - '0') * 100 + (unsigned)(p[1] - '0') * 10 +
			 (unsigned)(p[2] - '0');
		for (q = p + 3; *q == ' ' || *q == '\n'; q++)
			;
		if (q == p + 3 || *q != '`' || status < 400 || status > 599)
			continue;
		q++;
		while (slug_char(q[n]))
			n++;
		if (n > 0 && q[n] == '`')
			add(d, status, q, n, line);
	}
}

void pd_doc_load(struct pd_doc *d, const char *rel)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *doc, *line;
	unsigned no = 1;

	memset(d, 0, sizeof(*d));
	d->name = rel;
	d->v = calloc(PD_DOC_ENTRIES_MAX, sizeof(*d->v));
	cr_assert(d->v);
	tu_read_file(tu_src(path, sizeof(path), rel), &buf, &len);
	buf = realloc(buf, len + 1);
	cr_assert(buf);
	buf[len] = '\0';
	doc = (const char *)buf;
	for (line = doc; *line; no++) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		response_line(d, line, n, no);
		line += n + (end != NULL);
	}
	prose(d, doc);
	free(buf);
	cr_assert(d->len > 0, "%s lists no problem type", rel);
}

void pd_doc_free(struct pd_doc *d)
{
	free(d->v);
	memset(d, 0, sizeof(*d));
}

int pd_documented(const struct pd_doc *d, unsigned status, const char *slug)
{
	for (size_t i = 0; i < d->len; i++) {
		if (d->v[i].status == status && strcmp(d->v[i].slug, slug) == 0)
			return 1;
	}
	return 0;
}

void pd_service_add(struct pd_service *s, const struct httpd_problem *t, size_t n)
{
	cr_assert(s->len + n <= PD_SERVICE_PROBLEMS_MAX, "%s: more than %d problem types",
		  s->name, PD_SERVICE_PROBLEMS_MAX);
	for (size_t i = 0; i < n; i++)
		s->p[s->len++] = &t[i];
}

void pd_service_add_httpd(struct pd_service *s, const struct httpd_route *routes, size_t n)
{
	int json = 0, idem = 0, auth = 0, body = 0, siwe = 0, scoped = 0;

	for (size_t i = 0; i < n; i++) {
		json |= (routes[i].flags & HTTPD_F_JSON) != 0;
		idem |= (routes[i].flags & HTTPD_F_IDEM) != 0;
		auth |= (routes[i].flags & HTTPD_F_AUTH) != 0;
		body |= routes[i].body != NULL;
		scoped |= HTTPD_F_SCOPES_OF(routes[i].flags) != 0;
		siwe |= routes[i].fn == httpd_siwe_handle_nonce ||
			routes[i].fn == httpd_siwe_handle_signin ||
			routes[i].fn == httpd_siwe_handle_logout;
	}
	for (int p = 0; p < HTTPD_P_COUNT; p++) {
		int on;
		switch ((enum httpd_problem_id)p) {
		case HTTPD_P_UNSUPPORTED_MEDIA_TYPE:
		case HTTPD_P_MALFORMED_JSON:
			on = json;
			break;
		case HTTPD_P_IDEMPOTENCY_KEY:
			on = idem;
			break;
		case HTTPD_P_INVALID_REQUEST:
			on = body || siwe;
			break;
		case HTTPD_P_UNAUTHENTICATED:
			on = auth || siwe;
			break;
		case HTTPD_P_INSUFFICIENT_SCOPE:
			on = scoped;
			break;
		case HTTPD_P_SIWE_MALFORMED:
		case HTTPD_P_SIWE_DOMAIN:
		case HTTPD_P_SIWE_URI:
		case HTTPD_P_SIWE_CHAIN:
		case HTTPD_P_SIWE_ISSUED_AT:
		case HTTPD_P_SIWE_EXPIRED:
		case HTTPD_P_SIWE_NOT_BEFORE:
		case HTTPD_P_SIWE_SIGNATURE:
		case HTTPD_P_SIWE_SIGNER:
		case HTTPD_P_SIWE_NONCE:
		case HTTPD_P_SIWE_ROLE:
		case HTTPD_P_UNAVAILABLE:
			on = siwe;
			break;
		default:
			on = 1;
			break;
		}
		if (on)
			pd_service_add(s, &httpd_problems[p], 1);
	}
}

unsigned pd_service_status(const struct pd_service *s, const char *slug)
{
	for (size_t i = 0; i < s->len; i++) {
		if (strcmp(s->p[i]->slug, slug) == 0)
			return s->p[i]->status;
	}
	return 0;
}

size_t pd_clashes(const struct pd_service *s)
{
	size_t bad = 0;

	for (size_t i = 0; i < s->len; i++) {
		for (size_t j = 0; j < i; j++) {
			const struct httpd_problem *a = s->p[j], *b = s->p[i];
			if (strcmp(a->slug, b->slug) != 0)
				continue;
			if (a->status != b->status || strcmp(a->title, b->title) != 0) {
				cr_log_error("%s: %s is %u '%s' and %u '%s'", s->name, a->slug,
					     a->status, a->title, b->status, b->title);
				bad++;
			}
		}
	}
	return bad;
}

size_t pd_status_differs(const struct pd_service *a, const struct pd_service *b)
{
	size_t bad = 0;

	for (size_t i = 0; i < a->len; i++) {
		unsigned st = pd_service_status(b, a->p[i]->slug);
		if (st && st != a->p[i]->status) {
			cr_log_error("%s answers %s with %u, %s with %u", a->name, a->p[i]->slug,
				     a->p[i]->status, b->name, st);
			bad++;
		}
	}
	return bad;
}

size_t pd_undocumented(const struct pd_doc *d, const struct pd_service *s)
{
	size_t bad = 0;

	for (size_t i = 0; i < s->len; i++) {
		if (!pd_documented(d, s->p[i]->status, s->p[i]->slug)) {
			cr_log_error("%s answers %u %s, which %s does not list under '%u'", s->name,
				     s->p[i]->status, s->p[i]->slug, d->name, s->p[i]->status);
			bad++;
		}
	}
	return bad;
}

size_t pd_unanswered(const struct pd_doc *d, const struct pd_service *s)
{
	size_t bad = 0;

	for (size_t i = 0; i < d->len; i++) {
		const struct pd_entry *e = &d->v[i];
		size_t j;
		for (j = 0; j < s->len; j++) {
			if (s->p[j]->status == e->status && strcmp(s->p[j]->slug, e->slug) == 0)
				break;
		}
		if (j == s->len) {
			unsigned st = pd_service_status(s, e->slug);
			if (st)
				cr_log_error("%s:%u lists %s under '%u'; %s answers it with %u",
					     d->name, e->line, e->slug, e->status, s->name, st);
			else
				cr_log_error("%s:%u lists %u %s, which %s never answers", d->name,
					     e->line, e->status, e->slug, s->name);
			bad++;
		}
	}
	return bad;
}
