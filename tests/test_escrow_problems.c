/*
 * test_escrow_problems.c: the problem types the escrow answers (its own,
 * escrow/problems.c, and httpd's, httpd/problems.c) against their rules,
 * against each other, and against docs/escrow-openapi.yaml, which is
 * written by hand for clients and so an independent source: every slug
 * must be listed there under its one status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "httpd.h"
#include "problems.h"
#include "testutil.h"
#include "banned.h"

/* Whether slug occurs in line as a whole slug (not inside a longer one). */
static int has_slug(const char *line, size_t len, const char *slug)
{
	size_t n = strlen(slug), i;

	for (i = 0; i + n <= len; i++) {
		int before = i > 0 && (line[i - 1] == '-' || (line[i - 1] >= 'a' && line[i - 1] <= 'z') ||
				       (line[i - 1] >= '0' && line[i - 1] <= '9'));
		char c = i + n < len ? line[i + n] : ' ';
		int after = c == '-' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!before && !after && memcmp(line + i, slug, n) == 0)
			return 1;
	}
	return 0;
}

/* Whether the API document lists slug under status: on a response line
 * "'409': {... description: 'a, slug' }", or in prose as "409 `slug`". */
static int documented(const char *doc, unsigned status, const char *slug)
{
	char key[16], prose[96];
	const char *line = doc;

	snprintf(key, sizeof(key), "'%u':", status);
	snprintf(prose, sizeof(prose), "%u `%s`", status, slug);
	if (strstr(doc, prose))
		return 1;
	while (*line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *k = strstr(line, key);
		if (k && k < line + len && has_slug(line, len, slug))
			return 1;
		line += len + (end != NULL);
	}
	return 0;
}

/* Problems of table t not listed under their status in doc. */
static size_t undocumented(const char *doc, const struct httpd_problem *t, size_t n)
{
	size_t i, missing = 0;

	for (i = 0; i < n; i++) {
		if (!documented(doc, t[i].status, t[i].slug)) {
			cr_log_error("%u %s is not listed under '%u' in docs/escrow-openapi.yaml",
				     t[i].status, t[i].slug, t[i].status);
			missing++;
		}
	}
	return missing;
}

/* The escrow's problem table (escrow/problems.c) and httpd's own
 * (httpd/problems.c), which the escrow answers too, against their rules,
 * against each other (a slug both answer has one status and one title)
 * and against docs/escrow-openapi.yaml, the document clients read: every
 * slug the escrow can answer is listed there under its one status. */
Test(escrow, problem_registry)
{
	char path[4096], why[256];
	uint8_t *doc = NULL;
	size_t len = 0, i, j, missing;

	cr_assert_eq(httpd_problems_check(esc_problems, ESC_P_COUNT, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(httpd_problems_check(httpd_problems, HTTPD_P_COUNT, why, sizeof(why)), 0, "%s", why);
	for (i = 0; i < ESC_P_COUNT; i++) {
		for (j = 0; j < HTTPD_P_COUNT; j++) {
			if (strcmp(esc_problems[i].slug, httpd_problems[j].slug) != 0)
				continue;
			cr_assert_eq(esc_problems[i].status, httpd_problems[j].status, "%s",
				     esc_problems[i].slug);
			cr_assert_str_eq(esc_problems[i].title, httpd_problems[j].title, "%s",
					 esc_problems[i].slug);
		}
	}
	tu_read_file(tu_src(path, sizeof(path), "docs/escrow-openapi.yaml"), &doc, &len);
	doc = realloc(doc, len + 1);
	cr_assert(doc);
	doc[len] = '\0';
	missing = undocumented((const char *)doc, esc_problems, ESC_P_COUNT) +
		  undocumented((const char *)doc, httpd_problems, HTTPD_P_COUNT);
	free(doc);
	cr_assert_eq(missing, 0, "%zu problem types undocumented", missing);
}
