/*
 * test_validator_problems.c: the problem types assay-validator answers
 * against docs/validator-openapi.yaml (problemdoc.h).  The validator's
 * status server has no problem type of its own: every one it answers is
 * httpd's (httpd/problems.c), reached through its routes.
 */
#include <criterion/criterion.h>

#include "httpd.h"
#include "problemdoc.h"
#include "validator.h"
#include "banned.h"

/* Every problem the validator can answer (httpd's, as its routes reach
 * them) is listed in docs/validator-openapi.yaml under its one status,
 * and every one listed there is one it answers with that status. */
Test(valid, problems_documented)
{
	struct pd_service val = { .name = "assay-validator" };
	struct pd_doc doc;
	size_t bad;

	pd_service_add_httpd(&val, valid_routes, valid_routes_len);
	cr_assert_eq(pd_clashes(&val), 0);
	pd_doc_load(&doc, "docs/validator-openapi.yaml");
	bad = pd_undocumented(&doc, &val) + pd_unanswered(&doc, &val);
	pd_doc_free(&doc);
	cr_assert_eq(bad, 0, "%zu disagreements with docs/validator-openapi.yaml", bad);
}
