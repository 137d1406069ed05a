/*
 * test_escrow_problems.c: the problem types the escrow answers (its own,
 * escrow/problems.c, and httpd's, httpd/problems.c) against their rules,
 * against each other, and against docs/escrow-openapi.yaml, which is
 * written by hand for clients and so an independent source: every slug
 * must be listed there under its one status (problemdoc.h).
 */
#include <criterion/criterion.h>

#include "httpd.h"
#include "problemdoc.h"
#include "../escrow/problems.h"
#include "banned.h"

/* The escrow's problem table (escrow/problems.c) and httpd's own
 * (httpd/problems.c), which the escrow answers too (all of them: its
 * route table is not linked into the tests, so this takes them all),
 * against their rules, against each other (a slug both answer has one
 * status and one title) and against docs/escrow-openapi.yaml, the
 * document clients read: every slug the escrow can answer is listed
 * there under its one status, and every slug listed there is one it
 * answers with that status. */
Test(escrow, problem_registry)
{
	struct pd_service esc = { .name = "assay-escrow" };
	struct pd_doc doc;
	char why[256];
	size_t bad;

	cr_assert_eq(httpd_problems_check(esc_problems, ESC_P_COUNT, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(httpd_problems_check(httpd_problems, HTTPD_P_COUNT, why, sizeof(why)), 0, "%s", why);
	pd_service_add(&esc, esc_problems, ESC_P_COUNT);
	pd_service_add(&esc, httpd_problems, HTTPD_P_COUNT);
	cr_assert_eq(pd_clashes(&esc), 0, "a slug with two statuses or titles");
	pd_doc_load(&doc, "docs/escrow-openapi.yaml");
	bad = pd_undocumented(&doc, &esc) + pd_unanswered(&doc, &esc);
	pd_doc_free(&doc);
	cr_assert_eq(bad, 0, "%zu disagreements with docs/escrow-openapi.yaml", bad);
}
