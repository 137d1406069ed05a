/*
 * test_registry.c: the escrow's approved registry (escrow/registry_state.c,
 * escrow/api_registry.c, migration 010; docs/escrow.md "Approved
 * registry") and the operator's ProviderDecision (receipts/eip712.c).
 *
 * - registry/decision_vectors: ethers.js vectors (tests/vectors/
 *   eip712_decision.json): hashStruct, digest, signature, JSON round
 *   trip, and the two statements the library must refuse;
 * - registry/transition_table: every (state, action) pair against a
 *   table written here, expiry, which states take jobs, names;
 * - registry/lifecycle_*: a real assay-escrow with --registry approved
 *   (tests/escrowfx.h): approve, suspend, approve, revoke; a job for a
 *   provider not approved, suspended or revoked refused before anything
 *   moves (the whole ledger compared), a job opened before a suspension
 *   settled and paid after it; each decision in the provider's audit
 *   chain, its signature checked from there; no balance moved by any
 *   decision;
 * - registry/expiry: an approval lapses at its expiry and is renewed;
 * - registry/refusals: wrong signer, not the operator, replay (a new
 *   Idempotency-Key) and a retry (the same one), stale, malformed and
 *   over-limit decisions, a step the table lacks; nothing stored;
 * - registry/open_registry_*: without --registry approved, jobs open
 *   whatever the registry says, and without --operator nobody decides;
 * - registry/start_flags: --registry approved without --operator, and
 *   an unknown mode, stop the start;
 * - registry/client: `assay escrow approve|suspend|revoke|provider`.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "escrowfx.h"
#include "httpd.h"
#include "testutil.h"
#include "vecutil.h"
#include "../escrow/registry_state.h"
#include "banned.h"

/* ---------------------------------------------------------------- vectors */

/* The message of a vector as the library parses it (compact JSON). */
static char *message_text(const json_t *v)
{
	char *t = json_dumps(vec_get(v, "message"), JSON_COMPACT);

	cr_assert(t);
	return t;
}

static void vector_valid(const json_t *v, const struct rcpt_decision *d)
{
	struct rcpt_domain dom;
	struct rcpt_key k;
	uint8_t hs[32], dg[32], want[32], sig[65], wsig[65], who[20], sk[32];
	char *dj = json_dumps(vec_get(v, "domain"), JSON_COMPACT), *back = NULL;
	json_t *bj;

	cr_assert_eq(rcpt_domain_parse(&dom, NULL, dj, strlen(dj)), RCPT_OK);
	free(dj);
	cr_assert_eq(rcpt_decision_hash_struct(hs, NULL, d), RCPT_OK);
	vec_unhex(want, 32, vec_str(v, "hashStruct"));
	cr_assert(vec_same(hs, want, 32), "%s: hashStruct", vec_str(v, "name"));
	cr_assert_eq(rcpt_decision_digest(dg, NULL, &dom, d), RCPT_OK);
	vec_unhex(want, 32, vec_str(v, "digest"));
	cr_assert(vec_same(dg, want, 32), "%s: digest", vec_str(v, "name"));
	vec_unhex(sk, 32, vec_str(v, "key"));
	cr_assert_eq(rcpt_key_from_secret(&k, sk), RCPT_OK);
	cr_assert_eq(rcpt_sign_digest(sig, &k, dg), RCPT_OK);
	rcpt_key_wipe(&k);
	vec_unhex(wsig, 65, vec_str(v, "signature"));
	cr_assert(vec_same(sig, wsig, 65), "%s: signature", vec_str(v, "name"));
	cr_assert_eq(rcpt_recover_digest(who, wsig, dg), RCPT_OK);
	cr_assert(vec_same(who, d->operator_addr, 20), "%s: signer", vec_str(v, "name"));
	/* Serialised again: the same object (keys in the type's order). */
	cr_assert_eq(rcpt_decision_to_json(&back, d), RCPT_OK);
	bj = json_loads(back, 0, NULL);
	cr_assert(json_equal(bj, vec_get(v, "message")), "%s: %s", vec_str(v, "name"), back);
	json_decref(bj);
	free(back);
}

Test(registry, decision_vectors)
{
	json_t *all = vec_load("eip712_decision.json"), *v;
	size_t i, refused = 0;

	cr_assert(json_array_size(all) >= 5);
	json_array_foreach(all, i, v) {
		struct rcpt_decision d;
		struct rcpt_diag diag = { "" };
		uint8_t hs[32];
		char *t = message_text(v);
		enum rcpt_err re = rcpt_decision_parse(&d, &diag, t, strlen(t));
		json_t *ref = vec_get(v, "refused");

		free(t);
		if (json_is_null(ref)) {
			cr_assert_eq(re, RCPT_OK, "%s: %s", vec_str(v, "name"), diag.msg);
			vector_valid(v, &d);
			continue;
		}
		/* Refused by the parser or, for an action the parser cannot
		 * judge, by the hash: either way, naming the field. */
		if (re == RCPT_OK)
			re = rcpt_decision_hash_struct(hs, &diag, &d);
		cr_assert_eq(re, RCPT_ERR_FIELD, "%s", vec_str(v, "name"));
		cr_assert(strstr(diag.msg, vec_str(ref, "field")), "%s: %s", vec_str(v, "name"),
			  diag.msg);
		refused++;
	}
	cr_assert_eq(refused, 2);
	json_decref(all);
}

/* ---------------------------------------------------------------- the table */

/* Written here, apart from registry_state.c: the lifecycle. */
static int expect_to(enum escrow_registry_op op, enum escrow_registry_state from,
		     enum escrow_registry_state *to)
{
	switch (op) {
	case REG_OP_APPROVE:
		*to = REG_APPROVED;
		return from != REG_REVOKED;
	case REG_OP_SUSPEND:
		*to = REG_SUSPENDED;
		return from == REG_APPROVED;
	case REG_OP_REVOKE:
		*to = REG_REVOKED;
		return from != REG_REVOKED;
	case REG_OP_N:
		break;
	}
	cr_assert_fail("no such op");
	return 0;
}

Test(registry, transition_table)
{
	const struct escrow_registry_step *steps;
	size_t n = escrow_registry_steps(&steps), allowed = 0;

	for (int s = REG_NONE; s < REG_STATE_N; s++) {
		for (int op = 0; op < REG_OP_N; op++) {
			enum escrow_registry_state want, got = REG_NONE;
			int ok = expect_to((enum escrow_registry_op)op,
					   (enum escrow_registry_state)s, &want);
			int has = escrow_registry_next((enum escrow_registry_op)op,
						       (enum escrow_registry_state)s, &got);
			cr_assert_eq(has, ok, "%s from %s", escrow_registry_op_name(op),
				     escrow_registry_state_name(s));
			if (ok)
				cr_assert_eq(got, want, "%s from %s", escrow_registry_op_name(op),
					     escrow_registry_state_name(s));
			allowed += (size_t)ok;
		}
		cr_assert_eq(escrow_registry_final((enum escrow_registry_state)s), s == REG_REVOKED);
		cr_assert_eq(escrow_registry_takes_jobs((enum escrow_registry_state)s),
			     s == REG_APPROVED);
	}
	cr_assert_eq(n, allowed, "the table has steps the walk did not expect");
	/* Expiry: an approval at its expiry second is expired; nothing else expires. */
	cr_assert_eq(escrow_registry_effective(REG_APPROVED, 100, 99), REG_APPROVED);
	cr_assert_eq(escrow_registry_effective(REG_APPROVED, 100, 100), REG_EXPIRED);
	cr_assert_eq(escrow_registry_effective(REG_SUSPENDED, 100, 200), REG_SUSPENDED);
	cr_assert_eq(escrow_registry_effective(REG_REVOKED, 0, 200), REG_REVOKED);
	/* Names: stored states and actions parse back; none and expired are never stored. */
	for (int s = REG_NONE; s < REG_STATE_N; s++) {
		enum escrow_registry_state back;
		int stored = s == REG_APPROVED || s == REG_SUSPENDED || s == REG_REVOKED;
		cr_assert_eq(escrow_registry_state_parse(escrow_registry_state_name(s), &back) == 0,
			     stored);
		if (stored)
			cr_assert_eq(back, s);
	}
	for (int op = 0; op < REG_OP_N; op++) {
		enum escrow_registry_op back;
		cr_assert_eq(escrow_registry_op_parse(escrow_registry_op_name(op), &back), 0);
		cr_assert_eq(back, op);
	}
	{
		enum escrow_registry_op back;
		cr_assert_eq(escrow_registry_op_parse("delete", &back), -1);
	}
}

/* ---------------------------------------------------------------- the escrow */

/* The operator's key and the flags naming it (static: EFX keeps the
 * pointers). */
static struct rcpt_key OP;
static char op_hex[RCPT_ADDR_HEX_BYTES];
static const char *args[8];

/* An escrow with a 2 s challenge window, the operator OP, and
 * --registry approved when `approved`. */
static void reg_start(int approved, int with_operator)
{
	struct efx_config c = { .window_s = 2, .referee_s = 2, .unbonding_s = 40,
				.sample_bps = 1000, .extra_args = args };
	size_t n = 0;

	cr_assert_eq(rcpt_key_generate(&OP), RCPT_OK);
	rcpt_address_format(op_hex, OP.address);
	if (with_operator) {
		args[n++] = "--operator";
		args[n++] = op_hex;
	}
	if (approved) {
		args[n++] = "--registry";
		args[n++] = "approved";
	}
	args[n] = NULL;
	efx_setup(&c);
}

static void approved_setup(void) { reg_start(1, 1); }
static void open_setup(void) { reg_start(0, 1); }
static void bare_setup(void) { reg_start(0, 0); }

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* A decision of OP about provider: an approval names an organisation,
 * a contact and `expires`; the others carry none. */
static void decision_make(struct rcpt_decision *d, const char *action,
			  const uint8_t provider[RCPT_ADDR_BYTES], uint64_t nonce, uint64_t expires)
{
	memset(d, 0, sizeof(*d));
	memcpy(d->operator_addr, OP.address, RCPT_ADDR_BYTES);
	memcpy(d->provider, provider, RCPT_ADDR_BYTES);
	snprintf(d->action, sizeof(d->action), "%s", action);
	if (strcmp(action, "approve") == 0) {
		snprintf(d->organisation, sizeof(d->organisation), "Example Compute GmbH");
		snprintf(d->contact, sizeof(d->contact), "ops@example.com");
		d->expires = expires;
	}
	d->nonce = nonce;
	d->issued_at = now_s();
}

/* {"decision":...,"signature":...} signed by k under dom (malloc'd).
 * A decision the library will not hash (an unknown action) goes with
 * a signature over something else. */
static char *decision_body_under(const struct rcpt_decision *d, const struct rcpt_key *k,
				 const struct rcpt_domain *dom)
{
	uint8_t dg[32], sig[65];
	char hex[RCPT_SIG_HEX_BYTES], *dj = NULL, *out;
	json_t *o;

	if (rcpt_decision_digest(dg, NULL, dom, d) != RCPT_OK)
		memset(dg, 0x5a, sizeof(dg));        /* unsignable: any signature */
	cr_assert_eq(rcpt_sign_digest(sig, k, dg), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(hex, sizeof(hex), sig, sizeof(sig)), RCPT_OK);
	cr_assert_eq(rcpt_decision_to_json(&dj, d), RCPT_OK);
	o = json_pack("{s:o, s:s}", "decision", json_loads(dj, 0, NULL), "signature", hex);
	out = json_dumps(o, JSON_COMPACT);
	cr_assert(out);
	json_decref(o);
	free(dj);
	return out;
}

static char *decision_body(const struct rcpt_decision *d, const struct rcpt_key *k)
{
	return decision_body_under(d, k, &EFX.dom);
}

static void decisions_target(char out[128], const uint8_t provider[RCPT_ADDR_BYTES])
{
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, provider);
	snprintf(out, 128, "/v1/providers/%s/decisions", a);
}

/* POSTs body as a decision about `about` with Idempotency-Key idem
 * (NULL: a fresh one). */
static void decide_raw(struct hc_resp *r, const uint8_t about[RCPT_ADDR_BYTES],
		       const char *body, const char *idem)
{
	char t[128], fresh[48];

	decisions_target(t, about);
	efx_post_idem(r, t, idem ? idem : efx_fresh_idem(fresh), body);
}

/* d signed by OP, posted; the answer in *r. */
static void decide(struct hc_resp *r, const struct rcpt_decision *d, const char *idem)
{
	char *body = decision_body(d, &OP);

	decide_raw(r, d->provider, body, idem);
	free(body);
}

/* d must be recorded, leaving the provider in `status`. */
static void decide_ok(const struct rcpt_decision *d, const char *status)
{
	struct hc_resp r;
	json_t *j;

	decide(&r, d, NULL);
	cr_assert_eq(r.status, 200, "%s: %s", d->action, r.body);
	j = efx_jparse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")), status, "%s", r.body);
	json_decref(j);
	hc_resp_free(&r);
}

/* GET /v1/providers/{address}: its "registry" member (decref'd by the
 * caller), NULL when it has none; the answer must be 200. */
static json_t *registry_of(const uint8_t who[RCPT_ADDR_BYTES])
{
	char t[96], a[RCPT_ADDR_HEX_BYTES];
	struct hc_resp r;
	json_t *j, *reg;

	rcpt_address_format(a, who);
	snprintf(t, sizeof(t), "/v1/providers/%s", a);
	efx_get(&r, t);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = efx_jparse(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "address")), a);
	reg = json_incref(json_object_get(j, "registry"));
	json_decref(j);
	hc_resp_free(&r);
	return reg;
}

static void expect_status(const uint8_t who[RCPT_ADDR_BYTES], const char *status)
{
	json_t *reg = registry_of(who);

	cr_assert(reg, "no registry entry");
	cr_assert_str_eq(json_string_value(json_object_get(reg, "status")), status);
	json_decref(reg);
}

/* The whole ledger and the escrow's jobs as one string: every account
 * row, and how many transfers, locks, operations and jobs there are. */
static char *ledger_print(void)
{
	return efx_db_value("SELECT (SELECT coalesce(md5(string_agg(a::text, ',' ORDER BY a::text)), '')"
			" FROM accounts a) || '/' || (SELECT count(*) FROM transfers) || '/' ||"
			" (SELECT count(*) FROM jobs) || '/' || (SELECT count(*) FROM ledger_ops)"
			" || '/' || (SELECT count(*) FROM escrow_jobs)");
}

/* Opening f must be refused with `slug` and leave the ledger as it was. */
static void open_refused(const struct efx_job *f, int status, const char *slug)
{
	struct hc_resp r;
	char idem[48], *before = ledger_print(), *after;
	char *body = efx_job_body(&f->job, f->sig, NULL);
	char state[32];

	efx_post_idem(&r, "/v1/jobs", efx_fresh_idem(idem), body);
	free(body);
	efx_refused(&r, status, slug);
	after = ledger_print();
	cr_assert_str_eq(before, after, "a refused job moved the ledger");
	efx_job_state_or_none(state, f);
	cr_assert_str_eq(state, "none");
	free(before);
	free(after);
}

/* Every party's balance, and the operator's: what a decision must not move. */
struct money {
	struct efx_snap s;
	struct efx_bal op;
	char *ledger;
};

static void money_take(struct money *m, const struct efx_parties *p, const struct efx_job *f)
{
	efx_snap_take(&m->s, p, f);
	m->op = efx_balance_of(OP.address);
	m->ledger = ledger_print();
}

static void money_same(struct money *a, struct money *b, const char *what)
{
	efx_snap_same(&a->s, &b->s, what);
	cr_assert(efx_bal_eq(a->op, b->op), "%s: the operator's balance moved", what);
	cr_assert_str_eq(a->ledger, b->ledger, "%s: the ledger moved", what);
	free(a->ledger);
	free(b->ledger);
}

/* d recorded, and nothing moved by it. */
static void decide_no_money(const struct rcpt_decision *d, const char *status,
			    const struct efx_parties *p, const struct efx_job *f)
{
	struct money a, b;

	money_take(&a, p, f);
	decide_ok(d, status);
	money_take(&b, p, f);
	money_same(&a, &b, d->action);
}

/* The provider's account audit chain, read by the provider itself. */
static json_t *audit_entries(const struct rcpt_key *who)
{
	char t[128], a[RCPT_ADDR_HEX_BYTES];
	struct hc_resp r;
	json_t *j, *entries;

	rcpt_address_format(a, who->address);
	snprintf(t, sizeof(t), "/v1/audit?account=%s", a);
	efx_signed_req(&r, who, "GET", t, NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = efx_jparse(&r);
	entries = json_incref(json_object_get(j, "entries"));
	json_decref(j);
	hc_resp_free(&r);
	cr_assert(json_is_array(entries));
	return entries;
}

/* The registry events of the chain, in order, and each one's statement
 * checked from the chain alone: it parses, and its signature under the
 * escrow's domain recovers the operator. */
static void audit_expect(const struct rcpt_key *provider, const char *const *events, size_t n)
{
	json_t *entries = audit_entries(provider), *e;
	size_t i, k = 0;

	json_array_foreach(entries, i, e) {
		json_t *entry = json_object_get(e, "entry"), *data = json_object_get(entry, "data");
		const char *ev = json_string_value(json_object_get(entry, "event"));
		struct rcpt_decision d;
		uint8_t dg[32], sig[65], who[20];
		char *dj;

		if (strncmp(ev, "provider-", 9) != 0 || strcmp(ev, "provider-registered") == 0)
			continue;
		cr_assert_lt(k, n, "more registry entries than decisions: %s", ev);
		cr_assert_str_eq(ev, events[k], "entry %zu", k);
		dj = json_dumps(json_object_get(data, "decision"), JSON_COMPACT);
		cr_assert_eq(rcpt_decision_parse(&d, NULL, dj, strlen(dj)), RCPT_OK, "%s", dj);
		free(dj);
		cr_assert_eq(rcpt_decision_digest(dg, NULL, &EFX.dom, &d), RCPT_OK);
		vec_unhex(sig, 65, json_string_value(json_object_get(data, "signature")));
		cr_assert_eq(rcpt_recover_digest(who, sig, dg), RCPT_OK);
		cr_assert(vec_same(who, OP.address, 20), "entry %zu not signed by the operator", k);
		cr_assert(vec_same(d.provider, provider->address, 20));
		k++;
	}
	cr_assert_eq(k, n, "%zu registry entries, want %zu", k, n);
	json_decref(entries);
}

static uint64_t NONCE = 1;

/* Approve, suspend, approve again, revoke: each decision recorded and
 * shown, jobs refused whenever the provider is not approved (ledger
 * unchanged), a job opened before the suspension paid after it, every
 * decision in the audit chain, no balance moved by any. */
Test(registry, lifecycle_approve_suspend_approve_revoke, .init = approved_setup,
     .fini = efx_teardown, .timeout = 120)
{
	static const char *const events[] = { "provider-approved", "provider-suspended",
					      "provider-approved", "provider-revoked" };
	struct efx_parties p;
	struct efx_job f1, f2, f3;
	struct rcpt_decision d;
	struct hc_resp r;
	uint64_t dl = now_s() + 600;
	struct efx_bal pv0;
	json_t *reg;

	efx_parties_setup(&p, 0);
	efx_get(&r, "/v1/params");
	cr_assert(strstr(r.body, "\"registry\":\"approved\""), "%s", r.body);
	hc_resp_free(&r);
	efx_job_make(&f1, &p, 1000, dl, 1);
	open_refused(&f1, 403, "provider-not-approved");

	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	decide_no_money(&d, "approved", &p, &f1);
	reg = registry_of(p.provider.address);
	cr_assert_str_eq(json_string_value(json_object_get(reg, "organisation")), "Example Compute GmbH");
	cr_assert_str_eq(json_string_value(json_object_get(reg, "contact")), "ops@example.com");
	cr_assert_eq(json_integer_value(json_object_get(reg, "expiresAt")), (json_int_t)d.expires);
	cr_assert_str_eq(json_string_value(json_object_get(reg, "operator")), op_hex);
	cr_assert(json_is_true(json_object_get(reg, "takesJobs")));
	json_decref(reg);
	efx_job_open(&f1, NULL);

	decision_make(&d, "suspend", p.provider.address, NONCE++, 0);
	decide_no_money(&d, "suspended", &p, &f1);
	reg = registry_of(p.provider.address);
	/* A suspension keeps who the provider is. */
	cr_assert_str_eq(json_string_value(json_object_get(reg, "organisation")), "Example Compute GmbH");
	cr_assert(json_is_false(json_object_get(reg, "takesJobs")));
	json_decref(reg);
	efx_job_make(&f2, &p, 1000, dl, 2);
	open_refused(&f2, 403, "provider-not-approved");
	/* The job opened before the suspension runs its course and pays. */
	pv0 = efx_balance_of(p.provider.address);
	efx_receipt_make(&f1, &p, 600, 0);
	efx_receipt_post_ok(&f1);
	efx_wait_state(&f1, "paid");
	cr_assert_eq(efx_balance_of(p.provider.address).available, pv0.available + 600);

	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	decide_no_money(&d, "approved", &p, &f2);
	efx_job_open(&f2, NULL);

	decision_make(&d, "revoke", p.provider.address, NONCE++, 0);
	decide_no_money(&d, "revoked", &p, &f2);
	efx_job_make(&f3, &p, 1000, dl, 3);
	open_refused(&f3, 403, "provider-not-approved");
	/* Revocation is final. */
	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	decide(&r, &d, NULL);
	efx_refused(&r, 409, "decision-not-allowed");
	decision_make(&d, "suspend", p.provider.address, NONCE++, 0);
	decide(&r, &d, NULL);
	efx_refused(&r, 409, "decision-not-allowed");
	expect_status(p.provider.address, "revoked");
	audit_expect(&p.provider, events, 4);
	efx_job_free(&f1);
	efx_job_free(&f2);
	efx_job_free(&f3);
}

/* An approval that reached its expiry takes no job, shows "expired",
 * and is renewed by a new approval. */
Test(registry, expiry, .init = approved_setup, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f1, f2;
	struct rcpt_decision d;
	uint64_t exp = now_s() + 3;

	efx_parties_setup(&p, 0);
	decision_make(&d, "approve", p.provider.address, NONCE++, exp);
	decide_ok(&d, "approved");
	efx_job_make(&f1, &p, 1000, now_s() + 600, 1);
	efx_job_open(&f1, NULL);
	while (now_s() <= exp)
		usleep(200 * 1000);
	expect_status(p.provider.address, "expired");
	efx_job_make(&f2, &p, 1000, now_s() + 600, 2);
	open_refused(&f2, 403, "provider-not-approved");
	/* Suspending what expired is no step; approving it again is. */
	decision_make(&d, "suspend", p.provider.address, NONCE++, 0);
	{
		struct hc_resp r;
		decide(&r, &d, NULL);
		efx_refused(&r, 409, "decision-not-allowed");
	}
	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	decide_ok(&d, "approved");
	efx_job_open(&f2, NULL);
	/* The job opened before the expiry is still open. */
	{
		char st[32];
		efx_job_state(st, &f1);
		cr_assert_str_eq(st, "open");
	}
	efx_job_free(&f1);
	efx_job_free(&f2);
}

static long registry_rows(void)
{
	char *v = efx_db_value("SELECT count(*) FROM escrow_registry");
	long n = strtol(v, NULL, 10);

	free(v);
	return n;
}

static long registry_audits(void)
{
	char *v = efx_db_value("SELECT count(*) FROM escrow_audit WHERE entry::jsonb->>'event'"
			   " IN ('provider-approved', 'provider-suspended', 'provider-revoked')");
	long n = strtol(v, NULL, 10);

	free(v);
	return n;
}

/* Each malformed, misdirected or mis-signed decision is refused with
 * its problem, and nothing is stored. */
static void refusals_of_form(const struct efx_parties *p)
{
	struct rcpt_decision d;
	struct rcpt_key stranger = p->stranger;
	struct rcpt_domain other;
	struct hc_resp r;
	char *body;

	/* Signed by someone else than decision.operator. */
	decision_make(&d, "approve", p->provider.address, NONCE, now_s() + 86400);
	body = decision_body(&d, &stranger);
	decide_raw(&r, d.provider, body, NULL);
	free(body);
	efx_refused(&r, 422, "wrong-signer");
	/* Signed by its operator, who is not this escrow's. */
	memcpy(d.operator_addr, stranger.address, 20);
	body = decision_body(&d, &stranger);
	decide_raw(&r, d.provider, body, NULL);
	free(body);
	efx_refused(&r, 403, "not-operator");
	/* Signed for another chain: recovers someone else. */
	decision_make(&d, "approve", p->provider.address, NONCE, now_s() + 86400);
	rcpt_domain_assay(&other, EFX.dom.chain_id + 1, EFX.addr);
	body = decision_body_under(&d, &OP, &other);
	decide_raw(&r, d.provider, body, NULL);
	free(body);
	efx_refused(&r, 422, "wrong-signer");
	/* Posted under another provider's path. */
	body = decision_body(&d, &OP);
	decide_raw(&r, p->customer.address, body, NULL);
	free(body);
	efx_refused(&r, 400, "invalid-decision");
	/* A signature that is not one. */
	decide_raw(&r, d.provider, "{\"decision\":{},\"signature\":\"0x12\"}", NULL);
	efx_refused(&r, 400, "invalid-decision");
	body = decision_body(&d, &OP);
	memcpy(strstr(body, "\"signature\":\"0x") + 15, "zz", 2);
	decide_raw(&r, d.provider, body, NULL);
	free(body);
	efx_refused(&r, 400, "invalid-signature");
	/* Keys the body does not take. */
	decide_raw(&r, d.provider, "{\"decision\":{},\"signature\":\"0x\",\"x\":1}", NULL);
	efx_refused(&r, 400, "invalid-request");
	decide_raw(&r, d.provider, "{\"decision\":[],\"signature\":\"0x\"}", NULL);
	efx_refused(&r, 400, "invalid-decision");
}

/* Decisions whose fields do not fit: each one refused. */
static void refusals_of_terms(const struct efx_parties *p)
{
	struct rcpt_decision d;
	struct hc_resp r;

	decision_make(&d, "approve", p->provider.address, NONCE, now_s() + 86400);
	d.issued_at = now_s() - 7200;
	decide(&r, &d, NULL);
	efx_refused(&r, 422, "decision-stale");
	d.issued_at = now_s() + 1000;
	decide(&r, &d, NULL);
	efx_refused(&r, 422, "decision-stale");
	decision_make(&d, "approve", p->provider.address, 0, now_s() + 86400);
	decide(&r, &d, NULL);
	efx_refused(&r, 400, "invalid-decision");
	decision_make(&d, "approve", p->provider.address, NONCE, now_s() - 1);
	decide(&r, &d, NULL);
	efx_refused(&r, 400, "invalid-decision");
	decision_make(&d, "approve", p->provider.address, NONCE, now_s() + 3u * 365u * 86400u);
	decide(&r, &d, NULL);
	efx_refused(&r, 400, "invalid-decision");
	decision_make(&d, "approve", p->provider.address, NONCE, now_s() + 86400);
	d.contact[0] = '\0';
	decide(&r, &d, NULL);
	efx_refused(&r, 400, "invalid-decision");
	decision_make(&d, "approve", p->provider.address, NONCE, now_s() + 86400);
	{
		/* 129 bytes: one over the limit, which the struct cannot hold. */
		char org[RCPT_ORGANISATION_BYTES_MAX + 2], *body = decision_body(&d, &OP);
		json_t *o = json_loads(body, 0, NULL);
		memset(org, 'O', sizeof(org) - 1);
		org[sizeof(org) - 1] = '\0';
		json_object_set_new(json_object_get(o, "decision"), "organisation", json_string(org));
		free(body);
		body = json_dumps(o, JSON_COMPACT);
		json_decref(o);
		decide_raw(&r, d.provider, body, NULL);
		free(body);
		efx_refused(&r, 400, "invalid-decision");
	}
	decision_make(&d, "suspend", p->provider.address, NONCE, 0);
	snprintf(d.organisation, sizeof(d.organisation), "a note");
	decide(&r, &d, NULL);
	efx_refused(&r, 400, "invalid-decision");
	decision_make(&d, "delete", p->provider.address, NONCE, 0);
	decide(&r, &d, NULL);
	efx_refused(&r, 400, "invalid-decision");
	/* A step the table lacks: nothing to suspend. */
	decision_make(&d, "suspend", p->provider.address, NONCE, 0);
	decide(&r, &d, NULL);
	efx_refused(&r, 409, "decision-not-allowed");
}

Test(registry, refusals, .init = approved_setup, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct rcpt_decision d;
	struct hc_resp r, again;
	char idem[48];

	efx_parties_setup(&p, 1000);
	refusals_of_form(&p);
	refusals_of_terms(&p);
	cr_assert_eq(registry_rows(), 0, "a refused decision was stored");
	cr_assert_eq(registry_audits(), 0, "a refused decision was audited");
	/* A recorded decision, retried under its Idempotency-Key: the first
	 * answer again, nothing done twice.  The same statement under
	 * another key (the first answer lost with its idempotency record):
	 * the answer derived from the recorded effect, still once. */
	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	efx_fresh_idem(idem);
	decide(&r, &d, idem);
	cr_assert_eq(r.status, 200, "%s", r.body);
	decide(&again, &d, idem);
	cr_assert_eq(again.status, 200, "%s", again.body);
	cr_assert_eq(r.body_len, again.body_len);
	cr_assert_eq(memcmp(r.body, again.body, r.body_len), 0, "a retry answered differently");
	hc_resp_free(&again);
	decide(&again, &d, NULL);
	cr_assert_eq(again.status, 200, "%s", again.body);
	cr_assert_eq(r.body_len, again.body_len);
	cr_assert_eq(memcmp(r.body, again.body, r.body_len), 0,
		     "the statement's second delivery answered differently");
	hc_resp_free(&r);
	hc_resp_free(&again);
	/* Another statement under a nonce already used, though signed now. */
	decision_make(&d, "suspend", p.provider.address, NONCE - 1, 0);
	decide(&r, &d, NULL);
	efx_refused(&r, 409, "decision-replayed");
	cr_assert_eq(registry_rows(), 1);
	cr_assert_eq(registry_audits(), 1, "a replay was audited");
	expect_status(p.provider.address, "approved");
}

/* ---------------------------------------------------------------- open registry */

/* Without --registry approved the registry decides nothing about jobs:
 * an undecided provider and a suspended one both take jobs. */
Test(registry, open_registry_unaffected, .init = open_setup, .fini = efx_teardown, .timeout = 60)
{
	struct efx_parties p;
	struct efx_job f1, f2;
	struct rcpt_decision d;
	struct hc_resp r;
	char t[96], a[RCPT_ADDR_HEX_BYTES];

	efx_parties_setup(&p, 0);
	efx_get(&r, "/v1/params");
	cr_assert(strstr(r.body, "\"registry\":\"open\""), "%s", r.body);
	hc_resp_free(&r);
	rcpt_address_format(a, p.provider.address);
	snprintf(t, sizeof(t), "/v1/providers/%s", a);
	efx_get(&r, t);
	efx_refused(&r, 404, "provider-not-found");
	efx_job_make(&f1, &p, 1000, now_s() + 600, 1);
	efx_job_open(&f1, NULL);
	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	decide_ok(&d, "approved");
	decision_make(&d, "suspend", p.provider.address, NONCE++, 0);
	decide_ok(&d, "suspended");
	efx_job_make(&f2, &p, 1000, now_s() + 600, 2);
	efx_job_open(&f2, NULL);
	efx_job_free(&f1);
	efx_job_free(&f2);
}

/* ---------------------------------------------------------------- holds (watch.h) */

/* An open registry with the operator OP and --hold-after-frauds 2. */
static void hold_setup(void)
{
	struct efx_config c = { .window_s = 2, .referee_s = 2, .unbonding_s = 40,
				.sample_bps = 1000, .extra_args = args };

	cr_assert_eq(rcpt_key_generate(&OP), RCPT_OK);
	rcpt_address_format(op_hex, OP.address);
	args[0] = "--operator";
	args[1] = op_hex;
	args[2] = "--hold-after-frauds";
	args[3] = "2";
	args[4] = NULL;
	efx_setup(&c);
}

/* A job whose provider signs a wrong output, proven by the validator's
 * claim with the input; waits until the referee has refunded it. */
static void fraud_proven(struct efx_job *f, const struct efx_parties *p, uint64_t nonce)
{
	struct hc_resp r;
	char *in;

	efx_job_make(f, p, 1000, now_s() + 600, nonce);
	efx_job_open(f, NULL);
	efx_receipt_make(f, p, 600, 1);
	efx_receipt_post_ok(f);
	in = efx_input_member(f);
	efx_claim_post(&r, f, &p->validator, f->out.root, 2, in);
	free(in);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	efx_wait_state(f, "refunded");
}

/* Two proven frauds hold the provider (--hold-after-frauds 2) in an open
 * registry: its next job is refused before anything moves, the flags
 * show it, its account chain records the hold; the operator's approval
 * lifts it and the job opens. */
Test(registry, hold_after_frauds_lifted_by_approval, .init = hold_setup, .fini = efx_teardown,
     .timeout = 120)
{
	static const char *const events[] = { "provider-approved" };
	struct efx_parties p;
	struct efx_job f1, f2, f3;
	struct rcpt_decision d;
	json_t *fl, *entries, *e;
	size_t i, held = 0;

	efx_parties_setup(&p, 0);
	fraud_proven(&f1, &p, 1);
	fraud_proven(&f2, &p, 2);
	fl = efx_flag_wait(&OP, "held", p.provider.address, 1);
	cr_assert_eq(json_integer_value(json_object_get(fl, "value")), 2);
	cr_assert_eq(json_integer_value(json_object_get(fl, "bound")), 2);
	json_decref(fl);
	fl = efx_flag_wait(&OP, "proven-frauds", p.provider.address, 1);
	cr_assert_eq(json_integer_value(json_object_get(fl, "value")), 2);
	json_decref(fl);
	/* Only the operator reads the flags. */
	{
		struct hc_resp r;
		efx_signed_req(&r, &p.customer, "GET", "/v1/operator/anomalies", NULL, NULL, NULL, 0);
		efx_refused(&r, 403, "operator-only");
	}
	efx_job_make(&f3, &p, 1000, now_s() + 600, 3);
	open_refused(&f3, 403, "provider-held");
	entries = audit_entries(&p.provider);
	json_array_foreach(entries, i, e) {
		json_t *en = json_object_get(e, "entry");
		if (strcmp(json_string_value(json_object_get(en, "event")), "hold-placed") == 0) {
			cr_assert_eq(json_integer_value(json_object_get(json_object_get(en, "data"),
									 "frauds")), 2);
			held++;
		}
	}
	json_decref(entries);
	cr_assert_eq(held, 1, "hold-placed entries on the provider's chain");
	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	decide_no_money(&d, "approved", &p, &f3);
	audit_expect(&p.provider, events, 1);
	fl = efx_flags(&OP, "held", p.provider.address);
	cr_assert_eq(json_array_size(fl), 0, "the hold outlived the approval");
	json_decref(fl);
	efx_job_open(&f3, NULL);
	efx_job_free(&f1);
	efx_job_free(&f2);
	efx_job_free(&f3);
}

/* An escrow without --operator takes no decision from anyone. */
Test(registry, open_registry_without_operator, .init = bare_setup, .fini = efx_teardown,
     .timeout = 60)
{
	struct efx_parties p;
	struct rcpt_decision d;
	struct hc_resp r;

	efx_parties_setup(&p, 0);
	decision_make(&d, "approve", p.provider.address, NONCE++, now_s() + 86400);
	decide(&r, &d, NULL);
	efx_refused(&r, 403, "not-operator");
	cr_assert_eq(registry_rows(), 0);
}

/* The escrow's log holds `what` (searched by length: the buffer is not
 * a C string). */
static void log_says(const char *what)
{
	uint8_t *log = NULL;
	size_t len = 0;

	tu_read_file(EFX.log_path, &log, &len);
	cr_assert(memmem(log, len, what, strlen(what)), "the log lacks '%s'", what);
	free(log);
}

/* --registry approved without --operator, or a mode that is neither,
 * stops the start (nobody could ever approve a provider). */
Test(registry, start_flags, .init = bare_setup, .fini = efx_teardown, .timeout = 60)
{
	static const char *const no_op[] = { "--registry", "approved", NULL };
	static const char *const bogus[] = { "--operator", "0x00000000000000000000000000000000000000aa",
					     "--registry", "closed", NULL };

	efx_stop(&EFX, SIGTERM);
	EFX.cfg.extra_args = no_op;
	cr_assert_geq(efx_try_spawn(&EFX), 1, "started without --operator");
	log_says("--registry approved needs --operator");
	EFX.cfg.extra_args = bogus;
	cr_assert_geq(efx_try_spawn(&EFX), 1, "started with --registry closed");
	log_says("could not parse --registry 'closed': want open or approved");
	EFX.cfg.extra_args = args;
	efx_spawn(&EFX);
}

/* ---------------------------------------------------------------- the client */

#define ASSAY(r, ...)                                                          \
	do {                                                                   \
		const char *const argv_[] = { tu_assay(), "escrow", __VA_ARGS__,     \
					      "--url", EFX.url, NULL };              \
		tu_run((r), argv_);                                            \
	} while (0)

static void client_ok(struct tu_run *r, const char *status)
{
	char want[64];

	cr_assert_eq(r->status, 0, "%s", r->err);
	snprintf(want, sizeof(want), "\"status\":\"%s\"", status);
	cr_assert(strstr(r->out, want), "%s", r->out);
	tu_run_free(r);
}

Test(registry, client, .init = approved_setup, .fini = efx_teardown, .timeout = 90)
{
	struct efx_parties p;
	struct efx_job f;
	struct tu_run r;
	char key[400], a[RCPT_ADDR_HEX_BYTES], exp[32];

	efx_parties_setup(&p, 0);
	snprintf(key, sizeof(key), "%s/operator.key", EFX.dir);
	cr_assert_eq(rcpt_key_save(&OP, NULL, key), RCPT_OK);
	rcpt_address_format(a, p.provider.address);
	httpd_rfc3339_format(exp, (int64_t)now_s() + 86400);
	/* Unusable arguments: exit 2, nothing sent. */
	ASSAY(&r, "approve", a, "--key", key, "--org", "X");
	cr_assert_eq(r.status, 2, "%s", r.err);
	cr_assert(strstr(r.err, "needs --org NAME, --contact C and --expires"), "%s", r.err);
	tu_run_free(&r);
	ASSAY(&r, "approve", a, "--key", key, "--org", "X", "--contact", "c", "--expires", "soon");
	cr_assert_eq(r.status, 2, "%s", r.err);
	tu_run_free(&r);
	ASSAY(&r, "suspend", a, "--key", key, "--org", "X");
	cr_assert_eq(r.status, 2, "%s", r.err);
	tu_run_free(&r);
	cr_assert_eq(registry_rows(), 0);

	ASSAY(&r, "approve", a, "--key", key, "--org", "Example Compute GmbH", "--contact",
	      "ops@example.com", "--expires", exp);
	client_ok(&r, "approved");
	efx_job_make(&f, &p, 1000, now_s() + 600, 1);
	efx_job_open(&f, NULL);
	ASSAY(&r, "suspend", a, "--key", key);
	client_ok(&r, "suspended");
	ASSAY(&r, "provider", a);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert(strstr(r.out, "\"status\":\"suspended\"") &&
		  strstr(r.out, "\"organisation\":\"Example Compute GmbH\""), "%s", r.out);
	tu_run_free(&r);
	ASSAY(&r, "revoke", a, "--key", key);
	client_ok(&r, "revoked");
	/* The escrow's refusal: exit 1, its problem on stderr. */
	ASSAY(&r, "approve", a, "--key", key, "--org", "Example Compute GmbH", "--contact",
	      "ops@example.com", "--expires", exp);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "decision-not-allowed"), "%s", r.err);
	tu_run_free(&r);
	/* Another key than the operator's. */
	snprintf(key, sizeof(key), "%s/other.key", EFX.dir);
	cr_assert_eq(rcpt_key_save(&p.stranger, NULL, key), RCPT_OK);
	ASSAY(&r, "suspend", a, "--key", key);
	cr_assert_eq(r.status, 1, "%s", r.err);
	cr_assert(strstr(r.err, "not-operator"), "%s", r.err);
	tu_run_free(&r);
	efx_job_free(&f);
}
