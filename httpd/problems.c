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
