/*
 * api_registry.c: the approved registry (docs/escrow.md, "Approved
 * registry"): POST /v1/providers/{address}/decisions, an operator's
 * signed ProviderDecision (approve, suspend or revoke); the registry
 * part of GET /v1/providers/{address} (esc_registry_view); and the check
 * POST /v1/jobs makes under --registry approved (esc_registry_require).
 *
 * Invariants: a decision is checked whole before the database is
 * touched (strict parse, signed under this escrow's domain by its own
 * `operator`, that operator this escrow's --operator, issued within the
 * last hour, its fields fitting its action); then, under the provider's
 * lock, its nonce must rise above the last recorded decision's and
 * registry_state.c must have the step; the row and one audit entry on
 * the provider's account chain are written in one transaction or not at
 * all.  Nothing here calls the ledger: an operator moves no money, and
 * jobs already open settle whatever the registry says later.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api_internal.h"
#include "watch.h"
#include "assay_assert.h"
#include "banned.h"

/* ---------------------------------------------------------------- views */

json_t *esc_registry_view(const struct escrow_registry_entry *en, uint64_t now_s)
{
	enum escrow_registry_state st = escrow_registry_effective(en->status, en->expires_s, now_s);
	char op[RCPT_ADDR_HEX_BYTES], sig[RCPT_SIG_HEX_BYTES];
	json_t *dec = json_loads(en->decision, JSON_REJECT_DUPLICATES, NULL);

	ASSAY_ASSERT(st != REG_NONE);
	rcpt_address_format(op, en->operator_addr);
	escrow_hex(sig, sizeof(sig), en->signature, RCPT_SIG_BYTES);
	if (!dec)
		return NULL;
	return json_pack("{s:s, s:b, s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:s}",
			 "status", escrow_registry_state_name(st),
			 "takesJobs", escrow_registry_takes_jobs(st),
			 "organisation", en->organisation, "contact", en->contact,
			 "expiresAt", (json_int_t)en->expires_s, "nonce", (json_int_t)en->nonce,
			 "updatedAt", (json_int_t)en->updated_at_s, "operator", op,
			 "decision", dec, "signature", sig);
}

/* ---------------------------------------------------------------- POST /v1/jobs */

/* A provider the watch has held (watch.h) takes no new job, whatever the
 * registry's mode; 0 when not held, -1 having answered. */
static int hold_require(struct httpd_req *r, struct escrow *e,
			const uint8_t provider[RCPT_ADDR_BYTES])
{
	uint64_t frauds = 0, at = 0;
	int held = 0;
	char a[RCPT_ADDR_HEX_BYTES];
	enum escrow_db_err rc = escrow_db_hold_get(escrow_http_db(e), provider, &held, &frauds, &at);

	if (rc) {
		esc_reply_db(r, rc);
		return -1;
	}
	if (!held)
		return 0;
	rcpt_address_format(a, provider);
	esc_problem(r, ESC_P_PROVIDER_HELD,
		    "job.provider %s is held since %" PRIu64 " after %" PRIu64 " proven frauds: "
		    "it takes no new job until the operator approves it again", a, at, frauds);
	return -1;
}

int esc_registry_require(struct httpd_req *r, struct escrow *e,
			 const uint8_t provider[RCPT_ADDR_BYTES], uint64_t now_s)
{
	struct escrow_registry_entry en;
	enum escrow_registry_state st = REG_NONE;
	enum escrow_db_err rc;
	char a[RCPT_ADDR_HEX_BYTES];

	if (esc_db_ready(r, e) || hold_require(r, e, provider))
		return -1;
	if (!e->cfg.registry_approved)
		return 0;
	rc = escrow_db_registry_get(escrow_http_db(e), &en, provider);
	if (rc == ESCROW_DB_OK)
		st = escrow_registry_effective(en.status, en.expires_s, now_s);
	else if (rc != ESCROW_DB_NOT_FOUND) {
		esc_reply_db(r, rc);
		return -1;
	}
	if (escrow_registry_takes_jobs(st))
		return 0;
	rcpt_address_format(a, provider);
	esc_problem(r, ESC_P_PROVIDER_NOT_APPROVED,
		    "job.provider %s is %s in this escrow's registry (--registry approved): "
		    "it takes no new job", a, st == REG_NONE ? "not approved" :
		    escrow_registry_state_name(st));
	return -1;
}

/* ---------------------------------------------------------------- decisions */

ESC_BODY(esc_body_decision,
	 { "decision", HTTPD_KEY_OBJECT, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_DECISION, "decision is not an object") },
	 { "signature", HTTPD_KEY_ANY, ESC_REQUIRED, NULL, NULL });

/* The body's decision into *d, signed by d->operator_addr, who is this
 * escrow's --operator; its canonical JSON into *canon (the caller
 * frees it).  0, or -1 having answered. */
static int decision_signed(struct httpd_req *r, struct escrow *e, struct rcpt_decision *d,
			   uint8_t sig[RCPT_SIG_BYTES], char **canon)
{
	json_t *o = httpd_req_json(r);
	struct rcpt_diag diag;
	uint8_t digest[RCPT_HASH_BYTES], signer[RCPT_ADDR_BYTES];
	char *t = esc_dump(json_object_get(o, "decision"));
	enum rcpt_err re = t ? rcpt_decision_parse(d, &diag, t, strlen(t)) : RCPT_ERR_JSON;
	int rc = -1;

	if (re || rcpt_decision_digest(digest, &diag, &e->domain, d) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_DECISION, "%s", t ? diag.msg : "decision is not an object");
		goto out;
	}
	re = esc_get_sig(sig, o, "signature");
	if (!re)
		re = rcpt_recover_digest(signer, sig, digest);
	if (re) {
		esc_sig_problem(r, "signature", re);
		goto out;
	}
	if (memcmp(signer, d->operator_addr, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_WRONG_SIGNER,
			    "the signature recovers to another address than decision.operator (signed for another chain id or escrow?)");
		goto out;
	}
	if (!e->has_operator || CRYPTO_memcmp(signer, e->operator_addr, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_NOT_OPERATOR, "%s",
			    e->has_operator ? "decision.operator is not this escrow's --operator"
					    : "this escrow has no --operator: nobody decides");
		goto out;
	}
	if (rcpt_decision_to_json(canon, d) != RCPT_OK ||
	    strlen(*canon) > ESCROW_DECISION_JSON_BYTES_MAX) {
		esc_problem(r, ESC_P_INVALID_DECISION, "decision does not serialise");
		goto out;
	}
	rc = 0;
out:
	free(t);
	return rc;
}

/* What an approval must carry, and what a suspension or a revocation
 * must not (so that a statement means one thing).  NULL or a reason. */
static const char *decision_fields_refusal(const struct rcpt_decision *d, uint64_t now)
{
	if (strcmp(d->action, RCPT_DECISION_APPROVE) != 0) {
		if (d->organisation[0] || d->contact[0] || d->expires)
			return "a suspension or revocation carries an empty organisation and contact and expires 0";
		return NULL;
	}
	if (!d->organisation[0] || !d->contact[0])
		return "an approval names the organisation and a contact";
	if (d->expires <= now)
		return "an approval's expires is not in the future";
	if (d->expires - now > ESCROW_APPROVAL_S_MAX)
		return "an approval's expires is more than two years ahead";
	return NULL;
}

/* The decision is about the path's provider, fresh, numbered and fits
 * its action.  0, or -1 having answered. */
static int decision_terms(struct httpd_req *r, const struct rcpt_decision *d,
			  const uint8_t path[RCPT_ADDR_BYTES], uint64_t now)
{
	const char *why;

	if (memcmp(d->provider, path, RCPT_ADDR_BYTES) != 0) {
		esc_problem(r, ESC_P_INVALID_DECISION, "decision.provider is not the path's address");
		return -1;
	}
	if (d->issued_at > now + ESCROW_DECISION_SKEW_S ||
	    d->issued_at + ESCROW_DECISION_AGE_S_MAX < now) {
		esc_problem(r, ESC_P_DECISION_STALE,
			    "decision.issuedAt %" PRIu64 " is more than %u s old or %u s ahead of %" PRIu64,
			    d->issued_at, ESCROW_DECISION_AGE_S_MAX, ESCROW_DECISION_SKEW_S, now);
		return -1;
	}
	if (d->nonce == 0) {
		esc_problem(r, ESC_P_INVALID_DECISION, "decision.nonce is 0 (nonces start at 1)");
		return -1;
	}
	why = decision_fields_refusal(d, now);
	if (why) {
		esc_problem(r, ESC_P_INVALID_DECISION, "%s", why);
		return -1;
	}
	return 0;
}

/* One decision's transaction (decide_body); the refusal, the states
 * and the row it wrote come back in it. */
struct decide {
	const struct rcpt_decision *d;
	enum escrow_registry_op op;
	const uint8_t *sig;
	const char *canon;
	uint64_t now;
	enum esc_problem_id refusal;          /* when the body answers CONFLICT */
	int refused;
	enum escrow_registry_state from, to;
	uint64_t last_nonce;
	struct escrow_registry_entry row;
};

/* The row a step leaves: an approval's organisation, contact and expiry,
 * which a suspension or revocation keeps; the decision itself. */
static void decide_row(struct decide *x, const struct escrow_registry_entry *old)
{
	const struct rcpt_decision *d = x->d;
	struct escrow_registry_entry *n = &x->row;

	memset(n, 0, sizeof(*n));
	if (old)
		*n = *old;
	memcpy(n->provider, d->provider, RCPT_ADDR_BYTES);
	if (x->op == REG_OP_APPROVE) {
		memcpy(n->organisation, d->organisation, sizeof(n->organisation));
		memcpy(n->contact, d->contact, sizeof(n->contact));
		n->expires_s = d->expires;
	}
	n->status = x->to;
	n->nonce = d->nonce;
	n->updated_at_s = x->now;
	memcpy(n->operator_addr, d->operator_addr, RCPT_ADDR_BYTES);
	ASSAY_ASSERT(strlen(x->canon) < sizeof(n->decision));
	memcpy(n->decision, x->canon, strlen(x->canon) + 1);
	memcpy(n->signature, x->sig, RCPT_SIG_BYTES);
}

/* The audit entry of a decision: the statement and its signature, so
 * that the chain alone proves who decided what. */
static json_t *decide_audit_data(const struct decide *x)
{
	char sig[RCPT_SIG_HEX_BYTES];
	json_t *dec = json_loads(x->canon, JSON_REJECT_DUPLICATES, NULL);

	escrow_hex(sig, sizeof(sig), x->sig, RCPT_SIG_BYTES);
	if (!dec)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:o, s:s}", "action", escrow_registry_op_name(x->op),
			 "from", escrow_registry_state_name(x->from),
			 "to", escrow_registry_state_name(x->to), "decision", dec, "signature", sig);
}

static enum escrow_db_err decide_body(struct escrow_db *db, void *arg)
{
	static const char *const events[REG_OP_N] = {
		[REG_OP_APPROVE] = "provider-approved",
		[REG_OP_SUSPEND] = "provider-suspended",
		[REG_OP_REVOKE] = "provider-revoked",
	};
	struct decide *x = arg;
	struct escrow_registry_entry old;
	char sub[80];
	json_t *data;
	enum escrow_db_err rc;
	int lifted = 0;

	x->refused = 0;
	x->from = REG_NONE;
	x->last_nonce = 0;
	rc = escrow_db_registry_lock(db, x->d->provider);
	if (!rc)
		rc = escrow_db_registry_get(db, &old, x->d->provider);
	if (rc && rc != ESCROW_DB_NOT_FOUND)
		return rc;
	if (rc == ESCROW_DB_OK) {
		x->from = escrow_registry_effective(old.status, old.expires_s, x->now);
		x->last_nonce = old.nonce;
		/* The very statement recorded last (a retry whose first answer
		 * was lost, under whatever key): its answer is derived from
		 * the effect, which is not taken twice. */
		if (x->d->nonce == old.nonce && CRYPTO_memcmp(x->sig, old.signature,
							      RCPT_SIG_BYTES) == 0) {
			x->row = old;
			return ESCROW_DB_OK;
		}
	}
	if (x->d->nonce <= x->last_nonce || !escrow_registry_next(x->op, x->from, &x->to)) {
		x->refused = 1;
		x->refusal = x->d->nonce <= x->last_nonce ? ESC_P_DECISION_REPLAYED
							  : ESC_P_DECISION_NOT_ALLOWED;
		return ESCROW_DB_CONFLICT;
	}
	decide_row(x, rc == ESCROW_DB_OK ? &old : NULL);
	rc = escrow_db_registry_put(db, &x->row);
	/* An approval also lifts a hold the watch made (watch.h). */
	if (!rc && x->op == REG_OP_APPROVE)
		rc = escrow_db_hold_lift(db, x->d->provider, x->now, &lifted);
	if (rc)
		return rc;
	data = decide_audit_data(x);
	if (!data)
		return ESCROW_DB_FAIL;
	if (lifted)
		json_object_set_new(data, "holdLifted", json_true());
	escrow_subject_account(sub, x->d->provider);
	return escrow_db_audit(db, sub, events[x->op], data, x->now);
}

static void reply_refused(struct httpd_req *r, const struct decide *x)
{
	if (x->refusal == ESC_P_DECISION_REPLAYED)
		esc_problem(r, ESC_P_DECISION_REPLAYED,
			    "decision.nonce %" PRIu64 " is not above %" PRIu64
			    ", the provider's last recorded decision's", x->d->nonce, x->last_nonce);
	else
		esc_problem(r, ESC_P_DECISION_NOT_ALLOWED, "cannot %s a provider that is %s%s",
			    escrow_registry_op_name(x->op), escrow_registry_state_name(x->from),
			    x->from == REG_REVOKED ? " (revocation is final)" : "");
}

void esc_handle_decision(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct rcpt_decision d;
	uint8_t path[RCPT_ADDR_BYTES], sig[RCPT_SIG_BYTES];
	char *canon = NULL;
	struct decide x;
	enum escrow_db_err rc;
	uint64_t now = esc_now_s();
	int bad;

	ASSAY_ASSERT(e && httpd_req_idem_key(r));
	if (esc_parse_address(r, path, httpd_req_param(r, 0)) ||
	    decision_signed(r, e, &d, sig, &canon) || decision_terms(r, &d, path, now) ||
	    esc_db_ready(r, e))
		goto out;
	memset(&x, 0, sizeof(x));
	x.d = &d;
	x.sig = sig;
	x.canon = canon;
	x.now = now;
	bad = escrow_registry_op_parse(d.action, &x.op);
	ASSAY_ASSERT(bad == 0);   /* rcpt_decision_digest took only the three */
	rc = escrow_db_txn(escrow_http_db(e), decide_body, &x);
	if (rc == ESCROW_DB_CONFLICT && x.refused)
		reply_refused(r, &x);
	else if (rc)
		esc_reply_db(r, rc);
	else
		httpd_reply_json(r, 200, esc_registry_view(&x.row, now));
out:
	free(canon);
}
