/*
 * api_internal.h: what the escrow's HTTP files share (api.c, the route
 * table; api_util.c, the helpers; api_<resource>.c, the handlers).
 *
 * Every esc_ function that takes a struct httpd_req and can refuse has
 * answered the request (a problem+json) when it returns non-zero or
 * NULL; the caller then returns without answering again.  The database
 * session and ledger handle are the calling handler thread's own
 * (escrow_http_db, esc_chain).
 */
#ifndef ASSAY_ESCROW_API_INTERNAL_H
#define ASSAY_ESCROW_API_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include "escrow.h"
#include "problems.h"

static inline uint64_t esc_now_s(void)
{
	return (uint64_t)time(NULL);
}

/* ---------------------------------------------------------------- api_util.c */

/* 503 unavailable (down, busy with Retry-After) or 500 internal. */
void esc_reply_db(struct httpd_req *r, enum escrow_db_err rc);
/* The problem for a ledger error (503, 409, 422, 403, 400 or 500). */
void esc_reply_chain(struct httpd_req *r, enum chain_err ce);
/* The string member key of o, or NULL (absent or not a string). */
const char *esc_get_str(json_t *o, const char *key);
/* Compact text of a sub-object for the receipts parsers (the caller
 * frees it), or NULL when o is not an object. */
char *esc_dump(json_t *o);
/* The {id} path parameter: a job id, 0x + 64 hex digits; else 400. */
int esc_parse_id(struct httpd_req *r, uint8_t id[RCPT_HASH_BYTES]);
/* An account address (0x + 40 hex, EIP-55 when mixed case), not the zero
 * address; text may be NULL.  Else 400 invalid-address. */
int esc_parse_address(struct httpd_req *r, uint8_t out[RCPT_ADDR_BYTES], const char *text);
/* ?after=T[&afterId=ID] into *after_s (0 when absent) and after_id (zero
 * when absent); -1 having answered invalid-cursor. */
int esc_parse_cursor(struct httpd_req *r, uint64_t *after_s, uint8_t after_id[RCPT_HASH_BYTES]);
/* A canonical non-zero decimal uint256 string; v may be NULL.  Else 400
 * invalid-amount. */
int esc_parse_amount(struct httpd_req *r, struct rcpt_u256 *out, json_t *v);
/* Member `key` of o parsed as a signature (rcpt_sig_parse), or
 * RCPT_ERR_SIG_FORMAT when it is absent or not a string; answers nothing. */
enum rcpt_err esc_get_sig(uint8_t sig[RCPT_SIG_BYTES], json_t *o, const char *key);
/* Answers 400 invalid-signature for member `what`. */
void esc_sig_problem(struct httpd_req *r, const char *what, enum rcpt_err re);
/* The calling thread's ledger handle slot (never NULL; *slot may be). */
struct chain **esc_chain_slot(struct escrow *e);
/* A usable ledger handle for the calling thread, or NULL having answered. */
struct chain *esc_chain(struct httpd_req *r, struct escrow *e);
/* After a ledger call: drops an unreachable handle; returns ce. */
enum chain_err esc_chain_seen(struct escrow *e, enum chain_err ce);
/* The calling thread's database session is open; else -1, answered 503. */
int esc_db_ready(struct httpd_req *r, struct escrow *e);
/* Loads job `id`: 0, or -1 having answered (404 or a database error). */
int esc_load_job(struct httpd_req *r, struct escrow *e, struct escrow_job *j,
		 const uint8_t id[RCPT_HASH_BYTES]);
/* The shared start of an {id} route: the job id from the path (400),
 * the database session (503), and the job itself into *j unless j is
 * NULL (404).  0, or -1 having answered. */
int esc_job_prelude(struct httpd_req *r, struct escrow *e, uint8_t id[RCPT_HASH_BYTES],
		    struct escrow_job *j);
/* Member "reason" of o: at most ESCROW_REASON_BYTES_MAX printable ASCII
 * bytes (owned by o); NULL having answered 400 invalid-reason. */
const char *esc_parse_reason(struct httpd_req *r, json_t *o);
/* Whether the stake of `who` is at least --min-stake (and not zero),
 * into *enough: 0, or -1 having answered (a ledger error). */
int esc_stake_check(struct httpd_req *r, struct escrow *e, int *enough,
		    const uint8_t who[RCPT_ADDR_BYTES]);
/* Stake of `who` at least --min-stake; else -1 having answered (p, a
 * 403, or a ledger error). */
int esc_require_stake(struct httpd_req *r, struct escrow *e,
		      const uint8_t who[RCPT_ADDR_BYTES], enum esc_problem_id p);

/* ---------------------------------------------------------------- api_apikeys.c */

/* API-key scopes (their names are in api_apikeys.c): a route declares
 * the ones a key must hold with HTTPD_F_SCOPES in api.c. */
enum esc_scope {
	ESC_SCOPE_JOBS_WRITE = 1u << 0,   /* "jobs:write": fail, accept, events, provider URL */
	ESC_SCOPE_ATTEST = 1u << 1,       /* "attest": withheld, seed commit and reveal */
	ESC_SCOPE_FUNDS = 1u << 2,        /* "funds": stake, unstake, withdraw, unbond */
	ESC_SCOPE_AUDIT_READ = 1u << 3,   /* "audit:read": GET /v1/audit */
	ESC_SCOPE_KEYS = 1u << 4,         /* "keys": list and revoke the owner's keys */
};

void esc_handle_apikey_create(struct httpd_req *r, void *cls);
void esc_handle_apikeys_list(struct httpd_req *r, void *cls);
void esc_handle_apikey_revoke(struct httpd_req *r, void *cls);
extern const struct httpd_body_decl esc_body_apikey_create;

/* ---------------------------------------------------------------- api_idem.c */

/* The ledger operation id of this request's account movement, from its
 * scoped Idempotency-Key (the request must carry one). */
void esc_op_id(uint8_t out[CHAIN_OP_BYTES], const struct httpd_req *r);

/* ---------------------------------------------------------------- api_jobs.c */

/* A job as GET /v1/jobs/{id} shows it (with its disputes when detail);
 * NULL when out of memory.  The caller owns the reference. */
json_t *esc_job_view(struct escrow *e, const struct escrow_job *j, int detail);

/* ---------------------------------------------------------------- api_registry.c */

/* The registry part of GET /v1/providers/{address}: the entry's state
 * at now_s (expired shown as such), organisation, contact, expiry and
 * the last decision with its signature.  NULL when out of memory. */
json_t *esc_registry_view(const struct escrow_registry_entry *en, uint64_t now_s);
/* Whether `provider` may take a new job at now_s (POST /v1/jobs asks
 * before anything is written or locked): not held by the watch (403
 * provider-held, either registry mode), and under --registry approved
 * approved (403 provider-not-approved).  0, or -1 having answered (those,
 * or a database error). */
int esc_registry_require(struct httpd_req *r, struct escrow *e,
			 const uint8_t provider[RCPT_ADDR_BYTES], uint64_t now_s);

/* ---------------------------------------------------------------- declared bodies */

/* The body a route accepts (httpd_route.body): httpd checks the keys and
 * their types before the handler runs.  ESC_BODY(esc_body_x, keys...)
 * defines esc_body_x beside its handler; ESC_REFUSE(P, "detail") is the
 * answer to a key's value of another type, the one the handler's own
 * parser gives, so that a refusal reads the same either way. */
#define ESC_BODY(name, ...)                                                            \
	static const struct httpd_body_key name##_keys[] = { __VA_ARGS__ };            \
	const struct httpd_body_decl name = { name##_keys,                             \
					      sizeof(name##_keys) / sizeof(name##_keys[0]) }
#define ESC_REFUSE(p, detail) &esc_problems[p], detail
#define ESC_REQUIRED 1u
#define ESC_OPTIONAL 0u

/* The body {} (api_util.c). */
extern const struct httpd_body_decl esc_body_empty;
/* {"reason": string} (api_util.c): fail and withheld. */
extern const struct httpd_body_decl esc_body_reason;
/* api_jobs.c */
extern const struct httpd_body_decl esc_body_job_open;
/* api_job_steps.c */
extern const struct httpd_body_decl esc_body_job_receipt;
extern const struct httpd_body_decl esc_body_job_event;
/* api_disputes.c */
extern const struct httpd_body_decl esc_body_attestation;
/* api_providers.c */
extern const struct httpd_body_decl esc_body_provider_register;
/* api_registry.c */
extern const struct httpd_body_decl esc_body_decision;
/* api_validators.c */
extern const struct httpd_body_decl esc_body_validator_commit;
extern const struct httpd_body_decl esc_body_validator_reveal;
/* api_accounts.c */
extern const struct httpd_body_decl esc_body_faucet;
extern const struct httpd_body_decl esc_body_amount;

/* ---------------------------------------------------------------- handlers (httpd_handler_fn) */

/* api.c */
void esc_handle_params(struct httpd_req *r, void *cls);
/* api_jobs.c */
void esc_handle_job_open(struct httpd_req *r, void *cls);
void esc_handle_jobs_list(struct httpd_req *r, void *cls);
void esc_handle_job_get(struct httpd_req *r, void *cls);
/* api_job_steps.c */
void esc_handle_job_receipt(struct httpd_req *r, void *cls);
void esc_handle_job_fail(struct httpd_req *r, void *cls);
void esc_handle_job_event(struct httpd_req *r, void *cls);
void esc_handle_job_accept(struct httpd_req *r, void *cls);
/* api_disputes.c */
void esc_handle_attestation(struct httpd_req *r, void *cls);
void esc_handle_input(struct httpd_req *r, void *cls);
void esc_handle_job_withheld(struct httpd_req *r, void *cls);
/* api_providers.c */
void esc_handle_provider_register(struct httpd_req *r, void *cls);
void esc_handle_provider_get(struct httpd_req *r, void *cls);
/* api_registry.c */
void esc_handle_decision(struct httpd_req *r, void *cls);
/* api_operator.c */
void esc_handle_operator_revoke(struct httpd_req *r, void *cls);
extern const struct httpd_body_decl esc_body_operator_revoke;
/* api_validators.c */
void esc_handle_validator_commit(struct httpd_req *r, void *cls);
void esc_handle_validator_get(struct httpd_req *r, void *cls);
/* api_watch.c */
void esc_handle_validator_epoch(struct httpd_req *r, void *cls);
void esc_handle_anomalies(struct httpd_req *r, void *cls);
/* The validator's newest epochs with their audits (NULL: the database failed). */
json_t *esc_epochs_view(struct escrow *e, const uint8_t who[RCPT_ADDR_BYTES]);
void esc_handle_validator_reveal(struct httpd_req *r, void *cls);
/* api_accounts.c */
void esc_handle_faucet(struct httpd_req *r, void *cls);
void esc_handle_account_get(struct httpd_req *r, void *cls);
void esc_handle_stake(struct httpd_req *r, void *cls);
void esc_handle_unstake(struct httpd_req *r, void *cls);
void esc_handle_withdraw(struct httpd_req *r, void *cls);
void esc_handle_unbond(struct httpd_req *r, void *cls);
/* api_audit.c */
void esc_handle_audit(struct httpd_req *r, void *cls);

#endif
