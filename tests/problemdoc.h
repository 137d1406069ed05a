/*
 * problemdoc.h: what the problem-registry tests share
 * (test_escrow_problems.c, test_provider_problems.c,
 * test_validator_problems.c): the problem types a service answers (its
 * own table and the httpd ones its routes can reach) against each other
 * and against its API document (docs/escrow-openapi.yaml, ...), written
 * by hand for clients and so an independent source.
 *
 * A document lists a problem type in one of two ways, and only these:
 *   - on a response line, "'409': { ..., description: 'a, b (why), c: prose' }":
 *     the description is a list of slugs, each optionally followed by a
 *     parenthesis, separated by ", ", optionally ended by ": " and prose;
 *   - in prose, "409 `slug`" (the number and the quoted slug may be split
 *     by white space, line breaks included).
 */
#ifndef ASSAY_PROBLEMDOC_H
#define ASSAY_PROBLEMDOC_H

#include <stddef.h>

#include "httpd.h"
#include "httpd_limits.h"

/* Bounds what one document or one service may list; a test that passes
 * them fails loudly rather than reading past them. */
#define PD_DOC_ENTRIES_MAX 2048
#define PD_SERVICE_PROBLEMS_MAX 256

/* One (status, slug) a document lists, and the line it is on (from 1). */
struct pd_entry {
	unsigned status;
	unsigned line;
	char slug[HTTPD_PROBLEM_SLUG_BYTES_MAX + 1];
};

struct pd_doc {
	const char *name;          /* "docs/provider-openapi.yaml", not owned */
	struct pd_entry *v;        /* owned; pd_doc_free */
	size_t len;
};

/* The problem types one service answers; the pointers are into static
 * tables (not owned). */
struct pd_service {
	const char *name;          /* "assay-provider", not owned */
	const struct httpd_problem *p[PD_SERVICE_PROBLEMS_MAX];
	size_t len;
};

/* Reads rel (relative to the source tree, kept as d->name) and lists
 * every (status, slug) it documents.  Fails the test when the file cannot
 * be read or a response line's description is not a list of slugs. */
void pd_doc_load(struct pd_doc *d, const char *rel);
void pd_doc_free(struct pd_doc *d);
/* Whether d lists slug under status. */
int pd_documented(const struct pd_doc *d, unsigned status, const char *slug);

/* Adds the n problems of table t to s. */
void pd_service_add(struct pd_service *s, const struct httpd_problem *t, size_t n);
/* Adds httpd's problems that a service with these routes can answer
 * (httpd/httpd.h, the order of checks): framing, 414, 404, 405, 429,
 * 413, /readyz's not-ready and 500 always; 415 and malformed-json with an
 * HTTPD_F_JSON route; idempotency-key with an HTTPD_F_IDEM route;
 * unauthenticated with an HTTPD_F_AUTH route; invalid-request with a
 * declared body; every siwe-* problem, invalid-request, unauthenticated
 * and unavailable with httpd's sign-in handlers in the table. */
void pd_service_add_httpd(struct pd_service *s, const struct httpd_route *routes, size_t n);
/* Whether s answers slug, and with which status (0: it does not). */
unsigned pd_service_status(const struct pd_service *s, const char *slug);

/* Slugs that s lists twice with another status or title (one from its
 * own table, one from httpd's); each is logged.  0 when none. */
size_t pd_clashes(const struct pd_service *s);
/* Slugs that a and b both answer with different statuses; each is
 * logged.  0 when none. */
size_t pd_status_differs(const struct pd_service *a, const struct pd_service *b);
/* Problems of s that d does not list under their status; each is
 * logged.  0 when none. */
size_t pd_undocumented(const struct pd_doc *d, const struct pd_service *s);
/* Entries of d that s does not answer with that status; each is logged
 * with its line.  0 when none. */
size_t pd_unanswered(const struct pd_doc *d, const struct pd_service *s);

#endif
