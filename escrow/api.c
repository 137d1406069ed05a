/*
 * api.c: the route table of assay-escrow, its readiness hook and
 * GET /v1/params.  The handlers live one file per resource:
 * api_jobs.c (open, list, get), api_job_steps.c (receipt, fail, events,
 * accept), api_disputes.c (attestations, input, withheld),
 * api_providers.c, api_registry.c (operator decisions), api_operator.c
 * (operator revocation of credentials), api_validators.c,
 * api_accounts.c (faucet, balances,
 * stake, unstake, withdraw, unbond), api_audit.c; what they share is in
 * api_util.c and api_idem.c (api_internal.h), sign-in in api_session.c.
 *
 * Each route declares the JSON body it takes (struct httpd_body_decl,
 * defined beside its handler with ESC_BODY): httpd refuses a missing or
 * unknown key and a value of another type before the handler runs, and
 * {id} routes start with esc_job_prelude (the id, the database, the job).
 * Each handler then checks what the values mean (statements through the
 * receipts parsers, signatures), then one escrow transaction and at most
 * one idempotent ledger call in the order "record intent, call, record
 * result" (docs/escrow.md).  Every refusal is a problem+json naming what
 * failed; nothing is changed by a refused request.  SQL lives in db.c.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api_internal.h"
#include "kernels.h"
#include "assay_assert.h"
#include "banned.h"

/* ---------------------------------------------------------------- built-in hooks */

int escrow_api_ready(void *cls, char *why, size_t why_len)
{
	struct escrow *e = cls;

	static const uint8_t zero[RCPT_ADDR_BYTES];
	struct chain_balance b;
	struct rcpt_diag diag;

	if (escrow_db_ping(escrow_http_db(e)) != ESCROW_DB_OK) {
		snprintf(why, why_len, "postgresql unreachable");
		return 1;
	}
	/* The ledger too: a broken ledger connection is found (and reset by
	 * the backend) here rather than by the next customer. */
	if (escrow_chain_ensure(e, esc_chain_slot(e), &diag) != CHAIN_OK ||
	    esc_chain_seen(e, chain_balance(*esc_chain_slot(e), &b, zero)) != CHAIN_OK) {
		snprintf(why, why_len, "ledger unreachable");
		return 1;
	}
	return 0;
}

void esc_handle_params(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	char vc[RCPT_ADDR_HEX_BYTES], ms[RCPT_U256_DEC_BYTES];

	rcpt_address_format(vc, e->domain.verifying_contract);
	rcpt_u256_format(ms, &e->cfg.min_stake);
	httpd_reply_json(r, 200, json_pack("{s:I, s:s, s:b, s:s, s:i, s:i, s:i, s:I, s:I, s:I, s:s}",
		"chainId", (json_int_t)e->domain.chain_id, "verifyingContract", vc,
		"devnet", e->cfg.devnet, "minStake", ms,
		"slashBps", (int)e->cfg.slash_bps, "bountyBps", (int)e->cfg.bounty_bps,
		"sampleBps", (int)e->cfg.sample_bps,
		"challengeWindowS", (json_int_t)e->cfg.challenge_window_s,
		"unbondingS", (json_int_t)e->cfg.unbonding_s,
		"refereeDeadlineS", (json_int_t)e->cfg.referee_deadline_s,
		"registry", e->cfg.registry_approved ? "approved" : "open"));
}

/* ---------------------------------------------------------------- routes */

#define J HTTPD_F_JSON
#define A HTTPD_F_AUTH
#define I HTTPD_F_IDEM
/* The API-key scopes a route needs (api_internal.h); a signed route
 * without one takes no API key. */
#define S(bits) HTTPD_F_SCOPES(bits)
#define S_JOBS S(ESC_SCOPE_JOBS_WRITE)
#define S_ATTEST S(ESC_SCOPE_ATTEST)
#define S_FUNDS S(ESC_SCOPE_FUNDS)
#define S_AUDIT S(ESC_SCOPE_AUDIT_READ)
#define S_KEYS S(ESC_SCOPE_KEYS)

const struct httpd_route escrow_routes[] = {
	{ "GET", "/v1/params", esc_handle_params, 0, 0, NULL },
	{ "POST", "/v1/jobs", esc_handle_job_open, J | I, ESCROW_STATEMENT_BODY_BYTES_MAX, &esc_body_job_open },
	{ "GET", "/v1/jobs", esc_handle_jobs_list, 0, 0, NULL },
	{ "GET", "/v1/jobs/{id}", esc_handle_job_get, 0, 0, NULL },
	{ "POST", "/v1/jobs/{id}/receipt", esc_handle_job_receipt, J | I, ESCROW_STATEMENT_BODY_BYTES_MAX, &esc_body_job_receipt },
	{ "POST", "/v1/jobs/{id}/attestations", esc_handle_attestation, J | I, ESCROW_CLAIM_BODY_BYTES_MAX, &esc_body_attestation },
	{ "POST", "/v1/jobs/{id}/input", esc_handle_input, I, ESCROW_INPUT_BYTES_MAX, NULL },
	{ "POST", "/v1/jobs/{id}/fail", esc_handle_job_fail, J | A | I | S_JOBS, ESCROW_REGISTER_BODY_BYTES_MAX, &esc_body_reason },
	{ "POST", "/v1/jobs/{id}/accept", esc_handle_job_accept, J | A | I | S_JOBS, ESCROW_REGISTER_BODY_BYTES_MAX, &esc_body_empty },
	{ "POST", "/v1/jobs/{id}/withheld", esc_handle_job_withheld, J | A | I | S_ATTEST, ESCROW_REGISTER_BODY_BYTES_MAX, &esc_body_reason },
	{ "POST", "/v1/jobs/{id}/events", esc_handle_job_event, J | A | I | S_JOBS, ESCROW_REGISTER_BODY_BYTES_MAX, &esc_body_job_event },
	{ "POST", "/v1/providers", esc_handle_provider_register, J | A | I | S_JOBS, ESCROW_REGISTER_BODY_BYTES_MAX, &esc_body_provider_register },
	{ "GET", "/v1/providers/{address}", esc_handle_provider_get, 0, 0, NULL },
	/* An operator's decision carries its own EIP-712 signature (like a
	 * job or an attestation), checked against --operator. */
	{ "POST", "/v1/providers/{address}/decisions", esc_handle_decision, J | I, ESCROW_DECISION_BODY_BYTES_MAX, &esc_body_decision },
	{ "POST", "/v1/validators", esc_handle_validator_commit, J | A | I | S_ATTEST, ESCROW_REGISTER_BODY_BYTES_MAX, &esc_body_validator_commit },
	{ "POST", "/v1/validators/reveal", esc_handle_validator_reveal, J | A | I | S_ATTEST, ESCROW_REGISTER_BODY_BYTES_MAX, &esc_body_validator_reveal },
	{ "GET", "/v1/validators/{address}", esc_handle_validator_get, 0, 0, NULL },
	{ "GET", "/v1/validators/{address}/epochs/{seq}", esc_handle_validator_epoch, 0, 0, NULL },
	{ "POST", "/v1/faucet", esc_handle_faucet, J | I, ESCROW_ACCOUNT_BODY_BYTES_MAX, &esc_body_faucet },
	{ "GET", "/v1/accounts/{address}", esc_handle_account_get, 0, 0, NULL },
	{ "POST", "/v1/stake", esc_handle_stake, J | A | I | S_FUNDS, ESCROW_ACCOUNT_BODY_BYTES_MAX, &esc_body_amount },
	{ "POST", "/v1/unstake", esc_handle_unstake, J | A | I | S_FUNDS, ESCROW_ACCOUNT_BODY_BYTES_MAX, &esc_body_amount },
	{ "POST", "/v1/withdraw", esc_handle_withdraw, J | A | I | S_FUNDS, ESCROW_ACCOUNT_BODY_BYTES_MAX, &esc_body_amount },
	{ "POST", "/v1/unbond", esc_handle_unbond, J | A | I | S_FUNDS, ESCROW_ACCOUNT_BODY_BYTES_MAX, &esc_body_empty },
	{ "GET", "/v1/audit", esc_handle_audit, A | S_AUDIT, 0, NULL },
	{ "GET", "/v1/operator/anomalies", esc_handle_anomalies, A | S_AUDIT, 0, NULL },
	/* Creating a key takes the wallet itself (a signed request or a
	 * session), never another key; not HTTPD_F_IDEM (the answer holds
	 * the secret, which the idempotency store would keep). */
	{ "POST", "/v1/apikeys", esc_handle_apikey_create, J | A, ESCROW_ACCOUNT_BODY_BYTES_MAX, &esc_body_apikey_create },
	{ "GET", "/v1/apikeys", esc_handle_apikeys_list, A | S_KEYS, 0, NULL },
	{ "DELETE", "/v1/apikeys/{id}", esc_handle_apikey_revoke, A | S_KEYS, 0, NULL },
	/* The operator's own signed request (kept in the audit entry); no
	 * scope: no API key. */
	{ "POST", "/v1/operator/revocations", esc_handle_operator_revoke, J | A | I, ESCROW_ACCOUNT_BODY_BYTES_MAX, &esc_body_operator_revoke },
	{ "GET", "/v1/auth/nonce", httpd_siwe_handle_nonce, 0, 0, NULL },
	{ "POST", "/v1/auth/signin", httpd_siwe_handle_signin, J, HTTPD_SIWE_BODY_BYTES_MAX, NULL },
	{ "POST", "/v1/auth/logout", httpd_siwe_handle_logout, 0, 0, NULL },
};
const size_t escrow_routes_len = sizeof(escrow_routes) / sizeof(escrow_routes[0]);
