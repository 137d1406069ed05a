/*
 * test_provider_problems.c: the problem types assay-provider answers (its
 * own, provider/problems.c, and those of httpd's, httpd/problems.c, that
 * its routes reach) against their rules, against each other, against
 * the escrow's, and against docs/provider-openapi.yaml (problemdoc.h).
 */
#include <criterion/criterion.h>

#include "httpd.h"
#include "problemdoc.h"
#include "provider.h"
#include "../escrow/problems.h"
#include "../provider/problems.h"
#include "banned.h"

/* The provider's table and httpd's, which the provider answers too,
 * against their rules and each other (a slug both answer has one status
 * and one title); against the escrow's (a client that talks to both reads
 * a slug one way: one status); and against docs/provider-openapi.yaml,
 * the document clients read: every slug the provider can answer is
 * listed there under its one status, and every slug listed there is one
 * the provider answers with that status. */
Test(provider, problem_registry)
{
	struct pd_service prov = { .name = "assay-provider" }, esc = { .name = "assay-escrow" };
	struct pd_doc doc;
	char why[256];
	size_t bad;

	cr_assert_eq(httpd_problems_check(prov_problems, PROV_P_COUNT, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(httpd_problems_check(httpd_problems, HTTPD_P_COUNT, why, sizeof(why)), 0, "%s", why);
	pd_service_add(&prov, prov_problems, PROV_P_COUNT);
	pd_service_add_httpd(&prov, prov_routes, prov_routes_len);
	/* POST /v1/apikeys is not an HTTPD_F_IDEM route (its answer holds a
	 * secret, so no idempotency store keeps it) but requires the header
	 * itself, with httpd's problem (provider/auth.c). */
	pd_service_add(&prov, &httpd_problems[HTTPD_P_IDEMPOTENCY_KEY], 1);
	cr_assert_eq(pd_clashes(&prov), 0, "a slug with two statuses or titles");
	pd_service_add(&esc, esc_problems, ESC_P_COUNT);
	pd_service_add(&esc, httpd_problems, HTTPD_P_COUNT);
	cr_assert_eq(pd_status_differs(&prov, &esc), 0, "a slug the escrow answers with another status");
	pd_doc_load(&doc, "docs/provider-openapi.yaml");
	bad = pd_undocumented(&doc, &prov) + pd_unanswered(&doc, &prov);
	pd_doc_free(&doc);
	cr_assert_eq(bad, 0, "%zu disagreements with docs/provider-openapi.yaml", bad);
}
