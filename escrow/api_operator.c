/*
 * api_operator.c: POST /v1/operator/revocations, the operator revoking
 * every sign-in session and every API key of one address at once
 * (docs/api-auth.md, "Operator revocation").
 *
 * Invariants: only a signed request by the --operator key itself is
 * taken (not a session, not an API key: the audit entry keeps the
 * request's EIP-191 signature, so that the chain alone proves who
 * asked); the sessions, the keys and one audit entry on the address's
 * account chain are written in one transaction or not at all.  It moves
 * no money and touches no statement: a revoked address signs in again,
 * or makes new keys, with its wallet.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "api_internal.h"
#include "assay_assert.h"
#include "banned.h"

ESC_BODY(esc_body_operator_revoke,
	 { "address", HTTPD_KEY_ADDRESS, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_ADDRESS, "address is 0x + 40 hex digits") });

struct revoke {
	uint8_t address[RCPT_ADDR_BYTES];
	uint64_t now;
	json_t *request;    /* the signed request, for the audit entry (borrowed) */
	int sessions, apikeys;
};

static enum escrow_db_err revoke_body(struct escrow_db *db, void *arg)
{
	struct revoke *x = arg;
	char sub[80];
	enum escrow_db_err rc;
	json_t *data;

	rc = escrow_db_session_revoke(db, NULL, x->address, x->now, &x->sessions);
	if (!rc)
		rc = escrow_db_apikeys_revoke_all(db, &x->apikeys, x->address, x->now);
	if (rc)
		return rc;
	data = json_pack("{s:i, s:i, s:O}", "sessions", x->sessions, "apikeys", x->apikeys,
			 "request", x->request);
	if (!data)
		return ESCROW_DB_FAIL;
	escrow_subject_account(sub, x->address);
	return escrow_db_audit(db, sub, "credentials-revoked", data, x->now);
}

/* What the operator signed (docs/api-auth.md, "The signed text"), so
 * that anyone can check the entry: NULL when out of memory. */
static json_t *signed_request(struct httpd_req *r)
{
	size_t len = 0;
	const char *body = httpd_req_body(r, &len);
	uint8_t h[SHA256_DIGEST_LENGTH];
	char hex[2 * SHA256_DIGEST_LENGTH + 1];

	ASSAY_ASSERT(body && len <= ESCROW_ACCOUNT_BODY_BYTES_MAX);
	ASSAY_ASSERT(SHA256((const unsigned char *)body, len, h) != NULL);
	for (size_t i = 0; i < sizeof(h); i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "method", "POST",
			 "target", "/v1/operator/revocations",
			 "address", httpd_req_header(r, "Assay-Address"),
			 "timestamp", httpd_req_header(r, "Assay-Timestamp"),
			 "idempotencyKey", httpd_req_idem_key(r), "bodySha256", hex,
			 "signature", httpd_req_header(r, "Assay-Signature"));
}

/* POST /v1/operator/revocations {"address"}: 200 {"address", "sessions",
 * "apikeys"} (how many live ones it revoked; again: 0 and 0). */
void esc_handle_operator_revoke(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct revoke x;
	char a[RCPT_ADDR_HEX_BYTES];
	enum escrow_db_err rc;

	ASSAY_ASSERT(httpd_req_signer(r) && httpd_req_idem_key(r));
	memset(&x, 0, sizeof(x));
	if (!e->has_operator || httpd_req_role(r) != HTTPD_ROLE_NONE || httpd_req_apikey(r) ||
	    CRYPTO_memcmp(httpd_req_signer(r), e->operator_addr, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_NOT_OPERATOR, "only a request signed by the operator's own key "
			    "(--operator; not a session or an API key) revokes credentials");
		return;
	}
	if (esc_parse_address(r, x.address,
			      json_string_value(json_object_get(httpd_req_json(r), "address"))) ||
	    esc_db_ready(r, e))
		return;
	x.now = esc_now_s();
	x.request = signed_request(r);
	if (!x.request) {
		esc_problem(r, ESC_P_INTERNAL, "out of memory");
		return;
	}
	rc = escrow_db_txn(escrow_http_db(e), revoke_body, &x);
	json_decref(x.request);
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	rcpt_address_format(a, x.address);
	httpd_reply_json(r, 200, json_pack("{s:s, s:i, s:i}", "address", a,
					   "sessions", x.sessions, "apikeys", x.apikeys));
}
