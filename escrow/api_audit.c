/*
 * api_audit.c: GET /v1/audit: a job's or an account's audit log, for its
 * parties, the account itself or the operator.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api_internal.h"
#include "kernels.h"
#include "assay_assert.h"
#include "banned.h"

/* GET /v1/audit?job=ID (its customer or provider) or ?account=ADDR (itself). */
void esc_handle_audit(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	const uint8_t *who = httpd_req_signer(r);
	const char *jq = httpd_req_query(r, "job"), *aq = httpd_req_query(r, "account");
	int operator;
	char sub[80];
	json_t *entries = NULL;
	enum escrow_db_err rc;

	ASSAY_ASSERT(who);
	/* The operator (a session with that role) reads every log. */
	operator = httpd_req_role(r) == HTTPD_ROLE_OPERATOR;
	if ((!jq) == (!aq)) {
		esc_problem(r, ESC_P_INVALID_REQUEST, "give exactly one of ?job= or ?account=");
		return;
	}
	if (esc_db_ready(r, e))
		return;
	if (jq) {
		uint8_t id[RCPT_HASH_BYTES];
		struct escrow_job j;
		if (rcpt_hex_decode(id, sizeof(id), jq) != RCPT_OK) {
			esc_problem(r, ESC_P_INVALID_JOB_ID, NULL);
			return;
		}
		rc = escrow_db_job_get(escrow_http_db(e), &j, id);
		/* Unknown and not-yours look alike: no job existence leak. */
		if (rc == ESCROW_DB_NOT_FOUND ||
		    (!rc && !operator && memcmp(who, j.job.customer, 20) &&
		     memcmp(who, j.job.provider, 20))) {
			esc_problem(r, ESC_P_FORBIDDEN,
				    "only the job's customer or provider may read its audit log");
			return;
		}
		if (rc) {
			esc_reply_db(r, rc);
			return;
		}
		escrow_subject_job(sub, id);
	} else {
		uint8_t a[RCPT_ADDR_BYTES];
		if (rcpt_address_parse(a, aq) != RCPT_OK || (!operator && memcmp(a, who, 20) != 0)) {
			esc_problem(r, ESC_P_FORBIDDEN,
				    "only the account itself may read its audit log");
			return;
		}
		escrow_subject_account(sub, a);
	}
	rc = escrow_db_audit_list(escrow_http_db(e), &entries, sub);
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	httpd_reply_json(r, 200, json_pack("{s:s, s:o}", "subject", sub, "entries", entries));
}
