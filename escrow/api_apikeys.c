/*
 * api_apikeys.c: API keys of the escrow (docs/api-auth.md, "API keys"):
 * POST /v1/apikeys (create; a signed request or a session), GET
 * /v1/apikeys (list) and DELETE /v1/apikeys/{id} (revoke), and the
 * httpd_config.apikey_check hook that verifies `Bearer ak_ID.SECRET`.
 *
 * Invariants: the secret exists only in the create answer and in the
 * requests that use it; the database holds Argon2id(secret, salt) with
 * the key's own 16-byte salt, never the secret; a key acts only as its
 * owner's address and only on routes whose declared scopes
 * (HTTPD_F_SCOPES in api.c) it holds all of; a revoked or expired key
 * authenticates nothing.  No secret reaches a log or a problem detail.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api_internal.h"
#include "apikey_guard.h"
#include "apikey_hash.h"
#include "assay_assert.h"
#include "banned.h"

/* The scopes, each a bit of ESC_SCOPE_*; their names are what clients
 * send and see. */
static const struct {
	const char *name;
	unsigned bit;
} esc_scopes[] = {
	{ "jobs:write", ESC_SCOPE_JOBS_WRITE },
	{ "attest", ESC_SCOPE_ATTEST },
	{ "funds", ESC_SCOPE_FUNDS },
	{ "audit:read", ESC_SCOPE_AUDIT_READ },
	{ "keys", ESC_SCOPE_KEYS },
};
#define ESC_SCOPES_N (sizeof(esc_scopes) / sizeof(esc_scopes[0]))

static unsigned scope_bit(const char *name)
{
	for (size_t i = 0; i < ESC_SCOPES_N; i++) {
		if (strcmp(esc_scopes[i].name, name) == 0)
			return esc_scopes[i].bit;
	}
	return 0;
}

/* httpd_siwe_config.scope_of: a sign-in may limit its session to the
 * same scopes as a key. */
unsigned escrow_api_scope_of(void *cls, const char *name)
{
	(void)cls;
	return scope_bit(name);
}

/* The names of the bits in `scopes`, in table order (NULL: no memory). */
static json_t *scope_names(unsigned scopes)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < ESC_SCOPES_N; i++) {
		if ((scopes & esc_scopes[i].bit) &&
		    json_array_append_new(a, json_string(esc_scopes[i].name))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* ---------------------------------------------------------------- parsing */

/* "scopes": 1..ESCROW_APIKEY_SCOPES_MAX distinct known names (httpd
 * checked it is an array).  0, or -1 having answered 400. */
static int parse_scopes(struct httpd_req *r, unsigned *out, json_t *a)
{
	size_t i, n = json_array_size(a);

	*out = 0;
	if (n == 0 || n > ESCROW_APIKEY_SCOPES_MAX) {
		esc_problem(r, ESC_P_INVALID_SCOPE, "scopes lists 1 to %u scopes",
			    ESCROW_APIKEY_SCOPES_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		unsigned bit = s ? scope_bit(s) : 0;

		if (!bit || (*out & bit)) {
			esc_problem(r, ESC_P_INVALID_SCOPE, "scopes[%zu] is not a known scope, or "
				    "repeats one (jobs:write, attest, funds, audit:read, keys)", i);
			return -1;
		}
		*out |= bit;
	}
	ASSAY_ASSERT(*out != 0 && *out < (1u << ESC_SCOPES_N));
	return 0;
}

/* "label" (may be absent: ""): printable ASCII, at most
 * ESCROW_APIKEY_LABEL_BYTES_MAX bytes.  0, or -1 having answered 400. */
static int parse_label(struct httpd_req *r, char out[ESCROW_APIKEY_LABEL_BYTES_MAX + 1],
		       json_t *v)
{
	const char *s = v ? json_string_value(v) : "";
	size_t n = v ? json_string_length(v) : 0;

	out[0] = '\0';
	/* strlen differs from the length when the label holds a NUL. */
	if (!s || n > ESCROW_APIKEY_LABEL_BYTES_MAX || strlen(s) != n) {
		esc_problem(r, ESC_P_INVALID_LABEL, "label is at most %u bytes of printable ASCII",
			    ESCROW_APIKEY_LABEL_BYTES_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e) {
			esc_problem(r, ESC_P_INVALID_LABEL,
				    "label is at most %u bytes of printable ASCII",
				    ESCROW_APIKEY_LABEL_BYTES_MAX);
			return -1;
		}
	}
	memcpy(out, s, n + 1);
	return 0;
}

/* "expiresInS": ESCROW_APIKEY_TTL_S_MIN..ESCROW_APIKEY_TTL_S_MAX (httpd
 * checked it is a non-negative integer).  0, or -1 having answered 400. */
static int parse_ttl(struct httpd_req *r, uint64_t *out, json_t *v)
{
	json_int_t t = json_integer_value(v);

	*out = 0;
	if (!json_is_integer(v) || t < ESCROW_APIKEY_TTL_S_MIN || t > ESCROW_APIKEY_TTL_S_MAX) {
		esc_problem(r, ESC_P_INVALID_EXPIRY, "expiresInS is %u to %u seconds",
			    ESCROW_APIKEY_TTL_S_MIN, ESCROW_APIKEY_TTL_S_MAX);
		return -1;
	}
	*out = (uint64_t)t;
	return 0;
}

/* The Idempotency-Key the create request must carry (it is signed, and
 * a replay of it is refused rather than given a second secret).  The
 * route is not HTTPD_F_IDEM: the idempotency store keeps answers, and
 * this answer holds a secret.  NULL having answered 400. */
static const char *create_idem(struct httpd_req *r)
{
	const char *k = httpd_req_header(r, "Idempotency-Key");
	size_t n = k ? strlen(k) : 0;

	for (size_t i = 0; k && i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			k = NULL;
	}
	if (!k || n == 0 || n > HTTPD_IDEM_KEY_BYTES_MAX) {
		httpd_reply_builtin(r, HTTPD_P_IDEMPOTENCY_KEY,
				    "send an Idempotency-Key header of 1 to %d characters [A-Za-z0-9._:-]",
				    HTTPD_IDEM_KEY_BYTES_MAX);
		return NULL;
	}
	return k;
}

/* ---------------------------------------------------------------- making a key */

/* A fresh id, secret and salt into k and token ("ak_ID.SECRET"), and
 * the hash of the secret (httpd_apikey_new).  0, or -1. */
static int apikey_make(struct escrow_apikey *k, char token[HTTPD_APIKEY_TOKEN_BYTES + 1])
{
	k->t_cost = httpd_argon2_default.t_cost;
	k->m_cost_kib = httpd_argon2_default.m_cost_kib;
	k->parallelism = httpd_argon2_default.parallelism;
	return httpd_apikey_new(k->id, token, k->salt, k->hash, &httpd_argon2_default);
}

/* A key as GET /v1/apikeys shows it: never the secret, salt or hash. */
static json_t *apikey_view(const struct escrow_apikey *k, uint64_t now_s)
{
	char ca[21], ea[21], la[21];

	httpd_rfc3339_format(ca, (int64_t)k->created_at_s);
	httpd_rfc3339_format(ea, (int64_t)k->expires_s);
	httpd_rfc3339_format(la, (int64_t)k->last_used_at_s);
	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:I, s:o, s:b, s:b}",
			 "id", k->id, "label", k->label, "scopes", scope_names(k->scopes),
			 "createdAt", ca, "expiresAt", ea, "expiresAtS", (json_int_t)k->expires_s,
			 "lastUsedAt", k->last_used_at_s ? json_string(la) : json_null(),
			 "revoked", k->revoked_at_s != 0, "expired", k->expires_s <= now_s);
}

ESC_BODY(esc_body_apikey_create,
	 { "scopes", HTTPD_KEY_ARRAY, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_SCOPE, "scopes is a list of scope names") },
	 { "expiresInS", HTTPD_KEY_INTEGER, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_EXPIRY, "expiresInS is an integer number of seconds") },
	 { "label", HTTPD_KEY_STRING, ESC_OPTIONAL,
	   ESC_REFUSE(ESC_P_INVALID_LABEL, "label is a string") });

/* Checks the body into k; 0, or -1 having answered. */
static int create_parse(struct httpd_req *r, struct escrow_apikey *k)
{
	json_t *o = httpd_req_json(r);
	uint64_t ttl;

	ASSAY_ASSERT(o && httpd_req_signer(r));
	memset(k, 0, sizeof(*k));
	if (parse_scopes(r, &k->scopes, json_object_get(o, "scopes")) ||
	    parse_ttl(r, &ttl, json_object_get(o, "expiresInS")) ||
	    parse_label(r, k->label, json_object_get(o, "label")))
		return -1;
	memcpy(k->address, httpd_req_signer(r), RCPT_ADDR_BYTES);
	k->created_at_s = esc_now_s();
	k->expires_s = k->created_at_s + ttl;
	return 0;
}

/* POST /v1/apikeys: signed by the wallet (or its session; never a key:
 * the route declares no scope).  201 with the secret, shown this once. */
void esc_handle_apikey_create(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct escrow_apikey k;
	char token[HTTPD_APIKEY_TOKEN_BYTES + 1] = "";
	const char *idem;
	json_t *view;
	enum escrow_db_err rc;
	int stored = 0;

	ASSAY_ASSERT(httpd_req_apikey(r) == NULL);
	if (!(idem = create_idem(r)) || create_parse(r, &k) || esc_db_ready(r, e))
		goto out;
	if (apikey_make(&k, token)) {
		esc_problem(r, ESC_P_INTERNAL, "could not make an api key");
		goto out;
	}
	rc = escrow_db_apikey_put(escrow_http_db(e), &stored, &k, idem, ESCROW_APIKEYS_PER_ADDRESS_MAX);
	if (rc == ESCROW_DB_CONFLICT) {
		esc_problem(r, ESC_P_APIKEY_REPLAYED, "this Idempotency-Key already created a key; "
			    "its secret was shown once: revoke it and create another");
		goto out;
	}
	if (rc) {
		esc_reply_db(r, rc);
		goto out;
	}
	if (!stored) {
		esc_problem(r, ESC_P_TOO_MANY_APIKEYS, "an address holds at most %u live keys; "
			    "revoke one first", ESCROW_APIKEYS_PER_ADDRESS_MAX);
		goto out;
	}
	view = apikey_view(&k, k.created_at_s);
	if (!view || json_object_set_new(view, "secret", json_string(token))) {
		json_decref(view);
		esc_problem(r, ESC_P_INTERNAL, "out of memory");
		goto out;
	}
	httpd_reply_json(r, 201, view);
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(&k, sizeof(k));
}

/* GET /v1/apikeys: the caller's keys, newest first. */
void esc_handle_apikeys_list(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct escrow_apikey keys[ESCROW_APIKEYS_LIST_MAX];   /* ~17 KiB */
	uint64_t now = esc_now_s();
	json_t *a, *v;
	size_t n = 0;
	enum escrow_db_err rc;

	ASSAY_ASSERT(httpd_req_signer(r));
	if (esc_db_ready(r, e))
		return;
	rc = escrow_db_apikey_list(escrow_http_db(e), keys, ESCROW_APIKEYS_LIST_MAX, &n,
				   httpd_req_signer(r));
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	ASSAY_ASSERT(n <= ESCROW_APIKEYS_LIST_MAX);
	a = json_array();
	for (size_t i = 0; a && i < n; i++) {
		v = apikey_view(&keys[i], now);
		if (!v || json_array_append_new(a, v)) {
			json_decref(a);
			a = NULL;
		}
	}
	OPENSSL_cleanse(keys, sizeof(keys));
	if (!a || !(v = json_pack("{s:o}", "keys", a))) {
		esc_problem(r, ESC_P_INTERNAL, "out of memory");
		return;
	}
	httpd_reply_json(r, 200, v);
}

/* DELETE /v1/apikeys/{id}: revokes at once; again is 200 too.  Another
 * address's key is 404, like an unknown one. */
void esc_handle_apikey_revoke(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	const char *id = httpd_req_param(r, 0);
	char probe[HTTPD_APIKEY_TOKEN_BYTES + 1], got[HTTPD_APIKEY_ID_BYTES + 1];
	enum escrow_db_err rc;
	int n = 0;

	ASSAY_ASSERT(httpd_req_signer(r));
	/* The id's shape through httpd's own check, with a dummy secret. */
	snprintf(probe, sizeof(probe), "%.*s.%043d", HTTPD_APIKEY_ID_BYTES, id ? id : "", 0);
	if (!id || strlen(id) != HTTPD_APIKEY_ID_BYTES || httpd_apikey_id(got, probe)) {
		esc_problem(r, ESC_P_INVALID_APIKEY_ID, "an api key id is ak_ + 16 lowercase hex digits");
		return;
	}
	if (esc_db_ready(r, e))
		return;
	rc = escrow_db_apikey_revoke(escrow_http_db(e), &n, id, httpd_req_signer(r), esc_now_s());
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	if (n == 0) {
		esc_problem(r, ESC_P_APIKEY_NOT_FOUND, "you hold no api key '%s'", id);
		return;
	}
	httpd_reply_json(r, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

/* ---------------------------------------------------------------- verifying a key */

/* The guard's counts on /metrics. */
static void guard_metrics(struct escrow *e)
{
	uint64_t hashes, locked;

	if (!e->httpd)
		return;
	httpd_apikey_guard_stats(&hashes, &locked);
	(void)httpd_counter_set(e->httpd, "assay_escrow_apikey_hashes_total", NULL,
				"Argon2id verifications of API key secrets.", (double)hashes);
	(void)httpd_counter_set(e->httpd, "assay_escrow_apikey_locked_total", NULL,
				"API key secrets refused without a verification: too many wrong "
				"secrets for that key lately.", (double)locked);
}

/* httpd_config.apikey_check: the key of token's id, live at now_s, whose
 * stored hash equals Argon2id(secret, its salt) compared in constant
 * time, unless the guard knows the secret or has locked the id
 * (apikey_guard.h).  Writes last_used_at_s at most once per
 * ESCROW_APIKEY_TOUCH_INTERVAL_S (a failed write only loses that). */
enum httpd_store_rc escrow_api_apikey_check(void *cls, struct httpd_apikey *out,
					    const char *token, uint64_t now_s)
{
	struct escrow *e = cls;
	struct escrow_apikey k;
	struct httpd_argon2_params prm;
	enum httpd_store_rc src = HTTPD_STORE_NOT_FOUND;
	enum escrow_db_err rc;
	int ok = 0;

	ASSAY_ASSERT(out && token && strlen(token) == HTTPD_APIKEY_TOKEN_BYTES);
	ASSAY_ASSERT(strncmp(token, out->id, HTTPD_APIKEY_ID_BYTES) == 0);
	if (escrow_db_ensure(escrow_http_db(e)))
		return HTTPD_STORE_DOWN;
	rc = escrow_db_apikey_get(escrow_http_db(e), &k, out->id);
	if (rc)
		return rc == ESCROW_DB_NOT_FOUND ? HTTPD_STORE_NOT_FOUND : HTTPD_STORE_DOWN;
	if (k.revoked_at_s || k.expires_s <= now_s)
		goto out;
	prm.t_cost = k.t_cost;
	prm.m_cost_kib = k.m_cost_kib;
	prm.parallelism = k.parallelism;
	if (httpd_apikey_verify(&ok, token, k.salt, k.hash, &prm, now_s)) {
		src = HTTPD_STORE_DOWN;
		goto out;
	}
	guard_metrics(e);
	if (!ok)
		goto out;
	memcpy(out->address, k.address, RCPT_ADDR_BYTES);
	out->scopes = k.scopes;
	src = HTTPD_STORE_OK;
	if (now_s >= ESCROW_APIKEY_TOUCH_INTERVAL_S &&
	    (!k.last_used_at_s || k.last_used_at_s + ESCROW_APIKEY_TOUCH_INTERVAL_S <= now_s))
		(void)escrow_db_apikey_touch(escrow_http_db(e), k.id, now_s,
					     ESCROW_APIKEY_TOUCH_INTERVAL_S);
out:
	OPENSSL_cleanse(&k, sizeof(k));
	return src;
}
