/*
 * problems.h: every problem type the escrow's handlers answer, one enum
 * entry each, and the one table (problems.c) that gives each its slug,
 * status and title, so that a slug never has two.  The problems httpd
 * answers before a handler runs (bad-framing, malformed-json, ...) are
 * httpd's.  docs/escrow-openapi.yaml lists every slug under its status
 * for each route, which tests/test_escrow_problems.c
 * escrow/problem_registry checks.
 */
#ifndef ASSAY_ESCROW_PROBLEMS_H
#define ASSAY_ESCROW_PROBLEMS_H

#include "httpd.h"

enum esc_problem_id {
	ESC_P_INVALID_REQUEST,
	ESC_P_INVALID_JOB_ID,
	ESC_P_INVALID_ADDRESS,
	ESC_P_INVALID_AMOUNT,
	ESC_P_INVALID_SIGNATURE,
	ESC_P_INVALID_DOMAIN,
	ESC_P_INVALID_JOB,
	ESC_P_INVALID_RECEIPT,
	ESC_P_INVALID_ATTESTATION,
	ESC_P_INVALID_EVIDENCE,
	ESC_P_INVALID_INPUT,
	ESC_P_INVALID_STATE,
	ESC_P_INVALID_CURSOR,
	ESC_P_INVALID_REASON,
	ESC_P_INVALID_EVENT,
	ESC_P_INVALID_URL,
	ESC_P_INVALID_COMMITMENT,
	ESC_P_INVALID_SEED,
	ESC_P_NOT_DEVNET,
	ESC_P_NOT_PROVIDER,
	ESC_P_NOT_CUSTOMER,
	ESC_P_CONFLICT_OF_INTEREST,
	ESC_P_VALIDATOR_NOT_STAKED,
	ESC_P_STAKE_TOO_LOW,
	ESC_P_FORBIDDEN,
	ESC_P_JOB_NOT_FOUND,
	ESC_P_PROVIDER_NOT_FOUND,
	ESC_P_VALIDATOR_NOT_FOUND,
	ESC_P_JOB_EXISTS,
	ESC_P_STAKE_TOO_LOW_FOR_PRICE,
	ESC_P_PROVIDER_STAKE_LOW,
	ESC_P_INSUFFICIENT_FUNDS,
	ESC_P_JOB_NOT_OPEN,
	ESC_P_RECEIPT_AFTER_DEADLINE,
	ESC_P_NOT_OPEN,
	ESC_P_NOT_RECEIPTED,
	ESC_P_DISPUTE_OPEN,
	ESC_P_WINDOW_CLOSED,
	ESC_P_ALREADY_ATTESTED,
	ESC_P_ALREADY_REPORTED,
	ESC_P_EVENT_RECORDED,
	ESC_P_NO_OPEN_DISPUTE,
	ESC_P_COMMITMENT_UNREVEALED,
	ESC_P_NO_OPEN_COMMITMENT,
	ESC_P_STAKE_BACKS_OPEN_JOBS,
	ESC_P_WRONG_CHAIN,
	ESC_P_WRONG_DOMAIN,
	ESC_P_WRONG_SIGNER,
	ESC_P_DEADLINE_PASSED,
	ESC_P_DEADLINE_TOO_FAR,
	ESC_P_UNKNOWN_KERNEL,
	ESC_P_INPUT_TOO_LARGE,
	ESC_P_INVALID_PARAMS,
	ESC_P_RECEIPT_REFUSED,
	ESC_P_RECEIPT_TIME,
	ESC_P_WRONG_RECEIPT,
	ESC_P_INCONSISTENT_VERDICT,
	ESC_P_INPUT_MISMATCH,
	ESC_P_EVIDENCE_MISMATCH,
	ESC_P_SEED_MISMATCH,
	ESC_P_AMOUNT_OUT_OF_RANGE,
	ESC_P_IDEMPOTENCY_KEY_REUSED,
	ESC_P_INTERNAL,
	ESC_P_UNAVAILABLE,
	ESC_P_COUNT
};

/* Indexed by enum esc_problem_id; every entry set. */
extern const struct httpd_problem esc_problems[ESC_P_COUNT];

/* Answers problem p with a detail (detail_fmt may be NULL). */
void esc_problem(struct httpd_req *r, enum esc_problem_id p, const char *detail_fmt, ...)
	HTTPD_PRINTF(3, 4);

#endif
