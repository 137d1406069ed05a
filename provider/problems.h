/*
 * problems.h: every problem type assay-provider's handlers answer, one
 * enum entry each, and the one table (problems.c) that gives each its
 * slug, status and title, so that a slug never has two.  The problems
 * httpd answers before a handler runs (bad-framing, malformed-json,
 * not-ready, ...) are httpd's; a slug shared with them (unavailable,
 * internal) has httpd's status and title.  docs/provider-openapi.yaml
 * lists every slug under its status for each route, which
 * tests/test_provider_problems.c provider/problem_registry checks.
 */
#ifndef ASSAY_PROVIDER_PROBLEMS_H
#define ASSAY_PROVIDER_PROBLEMS_H

#include "httpd.h"

enum prov_problem_id {
	PROV_P_INVALID_ID,
	PROV_P_INVALID_BODY,
	PROV_P_INVALID_JOB,
	PROV_P_INVALID_SIGNATURE,
	PROV_P_FORBIDDEN,
	PROV_P_NOT_YOUR_JOB,
	PROV_P_JOB_NOT_FOUND,
	PROV_P_NOT_FUNDED,
	PROV_P_NOT_RECEIPTED,
	PROV_P_NOT_SETTLED,
	PROV_P_JOB_CLOSED,
	PROV_P_DATA_NOT_READY,
	PROV_P_DELETED,
	PROV_P_WRONG_SIGNER,
	PROV_P_WRONG_PROVIDER,
	PROV_P_MODEL_NOT_FOUND,
	PROV_P_UNKNOWN_KERNEL,
	PROV_P_UNKNOWN_MODEL,
	PROV_P_WRONG_KERNEL_HASH,
	PROV_P_DEADLINE_PASSED,
	PROV_P_INPUT_TOO_LARGE,
	PROV_P_PRICE_TOO_LOW,
	PROV_P_INPUT_MISMATCH,
	PROV_P_INTERNAL,
	PROV_P_STORE_READ_FAILED,
	PROV_P_ESCROW_UNAVAILABLE,
	PROV_P_BUSY,
	PROV_P_QUEUE_FULL,
	PROV_P_STORE_FAILED,
	PROV_P_UNAVAILABLE,
	/* API keys (auth.c); the slugs, statuses and titles of the escrow's. */
	PROV_P_INVALID_SCOPE,
	PROV_P_INVALID_LABEL,
	PROV_P_INVALID_EXPIRY,
	PROV_P_INVALID_APIKEY_ID,
	PROV_P_APIKEY_NOT_FOUND,
	PROV_P_TOO_MANY_APIKEYS,
	PROV_P_APIKEY_REPLAYED,
	PROV_P_COUNT
};

/* Indexed by enum prov_problem_id; every entry set. */
extern const struct httpd_problem prov_problems[PROV_P_COUNT];

/* Answers problem p with a detail (detail_fmt may be NULL). */
void prov_problem(struct httpd_req *r, enum prov_problem_id p, const char *detail_fmt, ...)
	HTTPD_PRINTF(3, 4);

#endif
