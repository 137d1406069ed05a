/*
 * auth.c: the provider's sign-in sessions and API keys, and the files
 * that keep them across a restart (docs/provider.md, "Sessions and API
 * keys"; docs/api-auth.md, "API keys").
 *
 * Invariants: no secret is held past the request that carries it, and
 * none is written: DATA/auth/sessions holds each live session's SHA-256
 * token hash, address, role and expiry; DATA/auth/apikeys each key's id,
 * owner, label, scopes, Argon2id hash (PHC string with its salt and
 * parameters), times and the Idempotency-Key it was made under.  What
 * is in memory is what is on disk: a change that cannot be written is
 * undone and answered 503 (a revocation stays in force in memory).
 * A key acts only as its owner and only on routes whose declared scopes
 * it holds; a revoked or expired key authenticates nothing.  Everything
 * here runs on the polling thread (the httpd store contract; the
 * provider runs no handler threads), so the tables take no lock.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "apikey_guard.h"
#include "assay_assert.h"
#include "problems.h"
#include "provider.h"

#include "banned.h"

#define SESSIONS_FILE "sessions"
#define APIKEYS_FILE "apikeys"
#define LIST_MAX 100u

static const struct {
	const char *name;
	unsigned bit;
} prov_scope_names[] = {
	{ "jobs:write", PROV_SCOPE_JOBS_WRITE },
	{ "jobs:read", PROV_SCOPE_JOBS_READ },
	{ "validate", PROV_SCOPE_VALIDATE },
	{ "keys", PROV_SCOPE_KEYS },
};
#define SCOPES_N (sizeof(prov_scope_names) / sizeof(prov_scope_names[0]))
#define SCOPES_ALL (PROV_SCOPE_JOBS_WRITE | PROV_SCOPE_JOBS_READ | PROV_SCOPE_VALIDATE | \
		    PROV_SCOPE_KEYS)
/* A session's bits: its scopes and, with a read scope, READ_ANY_. */
#define SCOPES_ALL_SESSION (SCOPES_ALL | PROV_SCOPE_READ_ANY_)

static uint64_t now_s(void)
{
	return (uint64_t)time(NULL);
}

/* The bits of a JSON array of distinct scope names (1..max); -1 with
 * *bad the index of the first wrong entry (or the length). */
static int scopes_parse(unsigned *out, size_t *bad, json_t *a)
{
	size_t n = json_array_size(a);

	*out = 0;
	*bad = n;
	if (!json_is_array(a) || n == 0 || n > PROV_APIKEY_SCOPES_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(a, i));
		unsigned bit = 0;
		for (size_t k = 0; s && k < SCOPES_N; k++) {
			if (strcmp(prov_scope_names[k].name, s) == 0)
				bit = prov_scope_names[k].bit;
		}
		if (!bit || (*out & bit)) {
			*bad = i;
			*out = 0;
			return -1;
		}
		*out |= bit;
	}
	ASSAY_ASSERT(*out && !(*out & ~SCOPES_ALL));
	return 0;
}

static json_t *scopes_json(unsigned scopes)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < SCOPES_N; i++) {
		if ((scopes & prov_scope_names[i].bit) &&
		    json_array_append_new(a, json_string(prov_scope_names[i].name))) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* A label: at most PROV_APIKEY_LABEL_BYTES_MAX bytes of printable ASCII. */
static int label_ok(const char *s, size_t n)
{
	if (!s || n > PROV_APIKEY_LABEL_BYTES_MAX || strlen(s) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return 0;
	}
	return 1;
}

/* An Idempotency-Key: 1..HTTPD_IDEM_KEY_BYTES_MAX of [A-Za-z0-9._:-]. */
static int idem_ok(const char *k)
{
	size_t n = k ? strlen(k) : 0;

	if (n == 0 || n > HTTPD_IDEM_KEY_BYTES_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- the files */

/* o is an object with exactly these n members (jansson has refused
 * duplicates). */
static int members_exactly(json_t *o, const char *const names[], size_t n)
{
	if (!json_is_object(o) || json_object_size(o) != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (!json_object_get(o, names[i]))
			return 0;
	}
	return 1;
}

/* A JSON integer in [0, 2^53). */
static int u64_of(uint64_t *out, json_t *v)
{
	json_int_t x = json_integer_value(v);

	if (!json_is_integer(v) || x < 0 || (uint64_t)x > RCPT_JSON_UINT_MAX)
		return -1;
	*out = (uint64_t)x;
	return 0;
}

/* {"v":1,"<key>":a} written to file (a is consumed); 0 or -1. */
static int save_list(struct prov *p, const char *file, const char *key, json_t *a)
{
	json_t *o = a ? json_pack("{s:i, s:o}", "v", 1, key, a) : NULL;
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	int rc = text ? prov_auth_file_write(p, file, text) : -1;

	json_decref(o);
	free(text);
	return rc;
}

static int sessions_save(struct prov *p)
{
	json_t *a = json_array(), *o;
	char h[RCPT_HASH_HEX_BYTES], addr[RCPT_ADDR_HEX_BYTES];
	uint64_t now = now_s();
	int rc = -1;

	ASSAY_ASSERT(p && p->auth_dir[0]);

	for (size_t i = 0; a && i < PROV_SESSIONS_MAX; i++) {
		const struct prov_session *s = &p->sessions[i];
		if (!s->live || s->expires_s <= now)
			continue;
		ASSAY_ASSERT(rcpt_hex_encode(h, sizeof(h), s->token_hash, RCPT_HASH_BYTES) == RCPT_OK);
		rcpt_address_format(addr, s->address);
		o = json_pack("{s:s, s:s, s:s, s:I, s:I}", "tokenHash", h, "address", addr,
			      "role", httpd_role_name(s->role), "scopes", (json_int_t)s->scopes,
			      "expiresAt", (json_int_t)s->expires_s);
		if (!o || json_array_append_new(a, o))
			goto out;
	}
	rc = save_list(p, SESSIONS_FILE, "sessions", a);
	a = NULL;
out:
	json_decref(a);
	return rc;
}

/* One entry of the sessions file into s; 0 or -1. */
static int session_parse(struct prov_session *s, json_t *o)
{
	static const char *const names[] = { "tokenHash", "address", "role", "scopes",
					     "expiresAt" };
	const char *role = json_string_value(json_object_get(o, "role"));
	uint64_t sc = 0;

	memset(s, 0, sizeof(*s));
	if (!members_exactly(o, names, 5) || !role ||
	    u64_of(&sc, json_object_get(o, "scopes")) || (sc & ~(uint64_t)SCOPES_ALL_SESSION) ||
	    rcpt_hex_decode(s->token_hash, RCPT_HASH_BYTES,
			    json_string_value(json_object_get(o, "tokenHash"))) != RCPT_OK ||
	    rcpt_address_parse(s->address, json_string_value(json_object_get(o, "address"))) !=
		    RCPT_OK ||
	    httpd_role_parse(&s->role, role) ||
	    (s->role != HTTPD_ROLE_CUSTOMER && s->role != HTTPD_ROLE_VALIDATOR) ||
	    u64_of(&s->expires_s, json_object_get(o, "expiresAt")))
		return -1;
	s->scopes = (unsigned)sc;
	s->live = 1;
	return 0;
}

static json_t *apikey_stored(const struct prov_apikey *k)
{
	char phc[HTTPD_ARGON2_PHC_BYTES_MAX], addr[RCPT_ADDR_HEX_BYTES];

	if (httpd_argon2_phc_format(phc, sizeof(phc), k->salt, k->hash, &k->prm))
		return NULL;
	rcpt_address_format(addr, k->address);
	return json_pack("{s:s, s:s, s:s, s:o, s:s, s:I, s:I, s:I, s:I, s:s}", "id", k->id,
			 "owner", addr, "label", k->label, "scopes", scopes_json(k->scopes),
			 "hash", phc, "createdAt", (json_int_t)k->created_at_s,
			 "expiresAt", (json_int_t)k->expires_s,
			 "lastUsedAt", (json_int_t)k->last_used_at_s,
			 "revokedAt", (json_int_t)k->revoked_at_s, "idem", k->idem);
}

static int apikeys_save(struct prov *p)
{
	json_t *a = json_array(), *o;
	int rc = -1;

	ASSAY_ASSERT(p && p->auth_dir[0]);
	for (size_t i = 0; a && i < PROV_APIKEYS_MAX; i++) {
		if (!p->apikeys[i].id[0])
			continue;
		ASSAY_ASSERT(p->apikeys[i].scopes && !(p->apikeys[i].scopes & ~SCOPES_ALL));
		o = apikey_stored(&p->apikeys[i]);
		if (!o || json_array_append_new(a, o))
			goto out;
	}
	rc = save_list(p, APIKEYS_FILE, "keys", a);
	a = NULL;
out:
	json_decref(a);
	return rc;
}

/* One entry of the keys file into k; 0 or -1. */
static int apikey_parse(struct prov_apikey *k, json_t *o)
{
	static const char *const names[] = { "id", "owner", "label", "scopes", "hash", "createdAt",
					     "expiresAt", "lastUsedAt", "revokedAt", "idem" };
	const char *id = json_string_value(json_object_get(o, "id"));
	const char *label = json_string_value(json_object_get(o, "label"));
	const char *idem = json_string_value(json_object_get(o, "idem"));
	char probe[HTTPD_APIKEY_TOKEN_BYTES + 1], got[HTTPD_APIKEY_ID_BYTES + 1];
	size_t bad;

	memset(k, 0, sizeof(*k));
	if (!members_exactly(o, names, 10) || !id || strlen(id) != HTTPD_APIKEY_ID_BYTES ||
	    !label || !label_ok(label, json_string_length(json_object_get(o, "label"))) ||
	    !idem_ok(idem))
		return -1;
	snprintf(probe, sizeof(probe), "%s.%043d", id, 0);
	if (httpd_apikey_id(got, probe) ||
	    rcpt_address_parse(k->address, json_string_value(json_object_get(o, "owner"))) !=
		    RCPT_OK ||
	    scopes_parse(&k->scopes, &bad, json_object_get(o, "scopes")) ||
	    httpd_argon2_phc_parse(k->salt, k->hash, &k->prm,
				   json_string_value(json_object_get(o, "hash"))) ||
	    u64_of(&k->created_at_s, json_object_get(o, "createdAt")) ||
	    u64_of(&k->expires_s, json_object_get(o, "expiresAt")) ||
	    u64_of(&k->last_used_at_s, json_object_get(o, "lastUsedAt")) ||
	    u64_of(&k->revoked_at_s, json_object_get(o, "revokedAt")) ||
	    k->expires_s <= k->created_at_s) {
		OPENSSL_cleanse(k, sizeof(*k));
		return -1;
	}
	memcpy(k->id, id, HTTPD_APIKEY_ID_BYTES + 1);
	snprintf(k->label, sizeof(k->label), "%s", label);
	snprintf(k->idem, sizeof(k->idem), "%s", idem);
	return 0;
}

/* The array `member` of the file's {"v":1, member:[...]} with at most
 * max entries, or NULL.  *root owns it. */
static json_t *file_entries(json_t **root, const char *text, const char *member, size_t max)
{
	const char *names[] = { "v", member };
	json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, NULL), *a;

	*root = o;
	if (!members_exactly(o, names, 2) ||
	    json_integer_value(json_object_get(o, "v")) != 1 ||
	    !json_is_integer(json_object_get(o, "v")))
		return NULL;
	a = json_object_get(o, member);
	return json_is_array(a) && json_array_size(a) <= max ? a : NULL;
}

static int sessions_load(struct prov *p, char *why, size_t why_len)
{
	char *text = NULL;
	json_t *root = NULL, *a;
	int rc = -1;

	if (prov_auth_file_read(p, &text, SESSIONS_FILE, PROV_AUTH_SESSIONS_BYTES_MAX, why, why_len))
		return -1;
	if (!text)
		return 0;
	a = file_entries(&root, text, "sessions", PROV_SESSIONS_MAX);
	for (size_t i = 0; a && i < json_array_size(a); i++) {
		if (session_parse(&p->sessions[i], json_array_get(a, i))) {
			a = NULL;
			break;
		}
	}
	if (!a) {
		memset(p->sessions, 0, sizeof(p->sessions));
		snprintf(why, why_len, "auth store '%s/" SESSIONS_FILE "' is malformed",
			 p->auth_dir);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	free(text);
	return rc;
}

static int apikeys_load(struct prov *p, char *why, size_t why_len)
{
	char *text = NULL;
	json_t *root = NULL, *a;
	int rc = -1;

	if (prov_auth_file_read(p, &text, APIKEYS_FILE, PROV_AUTH_APIKEYS_BYTES_MAX, why, why_len))
		return -1;
	if (!text)
		return 0;
	a = file_entries(&root, text, "keys", PROV_APIKEYS_MAX);
	for (size_t i = 0; a && i < json_array_size(a); i++) {
		if (apikey_parse(&p->apikeys[i], json_array_get(a, i)))
			a = NULL;
		/* ids are unique: a file repeating one is not ours */
		for (size_t k = 0; a && k < i; k++) {
			if (strcmp(p->apikeys[k].id, p->apikeys[i].id) == 0)
				a = NULL;
		}
	}
	if (!a) {
		OPENSSL_cleanse(p->apikeys, sizeof(p->apikeys));
		snprintf(why, why_len, "auth store '%s/" APIKEYS_FILE "' is malformed", p->auth_dir);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	free(text);
	return rc;
}

int prov_auth_load(struct prov *p, char *why, size_t why_len)
{
	size_t ns = 0, nk = 0;

	ASSAY_ASSERT(p && p->auth_dir[0]);
	if (sessions_load(p, why, why_len) || apikeys_load(p, why, why_len))
		return -1;
	for (size_t i = 0; i < PROV_SESSIONS_MAX; i++)
		ns += p->sessions[i].live != 0;
	for (size_t i = 0; i < PROV_APIKEYS_MAX; i++)
		nk += p->apikeys[i].id[0] != '\0';
	prov_log("auth-loaded", "sessions=%zu apikeys=%zu", ns, nk);
	return 0;
}

/* ---------------------------------------------------------------- the session store */

static enum httpd_store_rc st_nonce_put(void *cls, const char *nonce, uint64_t now,
					uint64_t expires_s)
{
	struct prov *p = cls;
	struct prov_nonce *free_slot = NULL;

	for (size_t i = 0; i < HTTPD_SIWE_NONCES_MAX; i++) {
		struct prov_nonce *n = &p->nonces[i];
		if (n->live && n->expires_s <= now)
			n->live = 0;
		if (!n->live && !free_slot)
			free_slot = n;
	}
	if (!free_slot || strlen(nonce) >= sizeof(free_slot->nonce))
		return HTTPD_STORE_FULL;
	snprintf(free_slot->nonce, sizeof(free_slot->nonce), "%s", nonce);
	free_slot->expires_s = expires_s;
	free_slot->live = 1;
	return HTTPD_STORE_OK;
}

static enum httpd_store_rc st_nonce_take(void *cls, const char *nonce, uint64_t now)
{
	struct prov *p = cls;

	for (size_t i = 0; i < HTTPD_SIWE_NONCES_MAX; i++) {
		struct prov_nonce *n = &p->nonces[i];
		if (n->live && strcmp(n->nonce, nonce) == 0) {
			n->live = 0;
			return n->expires_s > now ? HTTPD_STORE_OK : HTTPD_STORE_NOT_FOUND;
		}
	}
	return HTTPD_STORE_NOT_FOUND;
}

/* httpd_siwe_config.scope_of: a sign-in may limit its session to a
 * key's scopes; a read scope also opens the read routes (READ_ANY_),
 * where the session's role then says whose jobs it reads. */
unsigned prov_scope_of(void *cls, const char *name)
{
	(void)cls;
	for (size_t k = 0; k < SCOPES_N; k++) {
		unsigned bit = prov_scope_names[k].bit;
		if (strcmp(prov_scope_names[k].name, name) == 0)
			return (bit & (PROV_SCOPE_JOBS_READ | PROV_SCOPE_VALIDATE))
				       ? bit | PROV_SCOPE_READ_ANY_ : bit;
	}
	return 0;
}

/* A new session, written to DATA/auth before it is answered: a session
 * that could not be kept is not handed out (503). */
static enum httpd_store_rc st_session_put(void *cls, const uint8_t token_hash[RCPT_HASH_BYTES],
					  const uint8_t address[RCPT_ADDR_BYTES],
					  enum httpd_role role, unsigned scopes, uint64_t now,
					  uint64_t expires_s)
{
	struct prov *p = cls;

	ASSAY_ASSERT(!(scopes & ~SCOPES_ALL_SESSION));
	for (size_t i = 0; i < PROV_SESSIONS_MAX; i++) {
		struct prov_session *s = &p->sessions[i];
		if (s->live && s->expires_s <= now)
			s->live = 0;
		if (!s->live) {
			memcpy(s->token_hash, token_hash, RCPT_HASH_BYTES);
			memcpy(s->address, address, RCPT_ADDR_BYTES);
			s->role = role;
			s->scopes = scopes;
			s->expires_s = expires_s;
			s->live = 1;
			if (sessions_save(p)) {
				memset(s, 0, sizeof(*s));
				prov_log("store-failed", "what=sessions");
				return HTTPD_STORE_DOWN;
			}
			return HTTPD_STORE_OK;
		}
	}
	return HTTPD_STORE_FULL;
}

static enum httpd_store_rc st_session_get(void *cls, uint8_t stored_hash[RCPT_HASH_BYTES],
					  uint8_t address[RCPT_ADDR_BYTES], enum httpd_role *role,
					  unsigned *scopes, uint64_t *expires_s,
					  const uint8_t token_hash[RCPT_HASH_BYTES], uint64_t now)
{
	struct prov *p = cls;

	for (size_t i = 0; i < PROV_SESSIONS_MAX; i++) {
		struct prov_session *s = &p->sessions[i];
		if (s->live && memcmp(s->token_hash, token_hash, RCPT_HASH_BYTES) == 0) {
			if (s->expires_s <= now)
				return HTTPD_STORE_NOT_FOUND;
			memcpy(stored_hash, s->token_hash, RCPT_HASH_BYTES);
			memcpy(address, s->address, RCPT_ADDR_BYTES);
			*role = s->role;
			*scopes = s->scopes;
			*expires_s = s->expires_s;
			return HTTPD_STORE_OK;
		}
	}
	return HTTPD_STORE_NOT_FOUND;
}

/* Revokes in memory at once, then writes; a failed write answers 503
 * (the session stays revoked here, but would come back at a restart). */
static enum httpd_store_rc st_session_revoke(void *cls, const uint8_t *token_hash,
					     const uint8_t *address, uint64_t now)
{
	struct prov *p = cls;
	int any = 0;

	for (size_t i = 0; i < PROV_SESSIONS_MAX; i++) {
		struct prov_session *s = &p->sessions[i];
		if (!s->live || s->expires_s <= now)
			continue;
		if ((token_hash && memcmp(s->token_hash, token_hash, RCPT_HASH_BYTES) == 0) ||
		    (!token_hash && address && memcmp(s->address, address, RCPT_ADDR_BYTES) == 0)) {
			s->live = 0;
			any = 1;
		}
	}
	if (any && sessions_save(p)) {
		prov_log("store-failed", "what=sessions");
		return HTTPD_STORE_DOWN;
	}
	return any ? HTTPD_STORE_OK : HTTPD_STORE_NOT_FOUND;
}

const struct httpd_session_store prov_session_store = {
	.nonce_put = st_nonce_put,
	.nonce_take = st_nonce_take,
	.session_put = st_session_put,
	.session_get = st_session_get,
	.session_revoke = st_session_revoke,
};

/* ---------------------------------------------------------------- API keys */

static struct prov_apikey *apikey_find(struct prov *p, const char *id)
{
	for (size_t i = 0; id && i < PROV_APIKEYS_MAX; i++) {
		if (p->apikeys[i].id[0] && strcmp(p->apikeys[i].id, id) == 0)
			return &p->apikeys[i];
	}
	return NULL;
}

unsigned prov_req_key_scopes(const struct prov *p, struct httpd_req *r)
{
	const struct prov_apikey *k = apikey_find((struct prov *)p, httpd_req_apikey(r));

	return k ? k->scopes : 0;
}

/* A key as the routes show it: never the hash, salt or secret. */
static json_t *apikey_view(const struct prov_apikey *k, uint64_t now)
{
	char ca[21], ea[21], la[21];

	httpd_rfc3339_format(ca, (int64_t)k->created_at_s);
	httpd_rfc3339_format(ea, (int64_t)k->expires_s);
	httpd_rfc3339_format(la, (int64_t)k->last_used_at_s);
	return json_pack("{s:s, s:s, s:o, s:s, s:s, s:I, s:o, s:b, s:b}",
			 "id", k->id, "label", k->label, "scopes", scopes_json(k->scopes),
			 "createdAt", ca, "expiresAt", ea, "expiresAtS", (json_int_t)k->expires_s,
			 "lastUsedAt", k->last_used_at_s ? json_string(la) : json_null(),
			 "revoked", k->revoked_at_s != 0, "expired", k->expires_s <= now);
}

static const struct httpd_body_key apikey_create_keys[] = {
	{ "scopes", HTTPD_KEY_ARRAY, 1, &prov_problems[PROV_P_INVALID_SCOPE],
	  "scopes is a list of scope names" },
	{ "expiresInS", HTTPD_KEY_INTEGER, 1, &prov_problems[PROV_P_INVALID_EXPIRY],
	  "expiresInS is an integer number of seconds" },
	{ "label", HTTPD_KEY_STRING, 0, &prov_problems[PROV_P_INVALID_LABEL],
	  "label is a string" },
};
const struct httpd_body_decl prov_body_apikey_create = {
	apikey_create_keys, sizeof(apikey_create_keys) / sizeof(apikey_create_keys[0])
};

/* The declared body into k (owner, label, scopes, times); 0, or -1
 * having answered 400. */
static int create_parse(struct httpd_req *r, struct prov_apikey *k, uint64_t now)
{
	json_t *o = httpd_req_json(r), *lv = json_object_get(o, "label");
	json_int_t ttl = json_integer_value(json_object_get(o, "expiresInS"));
	const char *label = lv ? json_string_value(lv) : "";
	size_t bad;

	if (scopes_parse(&k->scopes, &bad, json_object_get(o, "scopes"))) {
		prov_problem(r, PROV_P_INVALID_SCOPE, "scopes[%zu] is not a known scope, or repeats "
			     "one; 1 to %u of jobs:write, jobs:read, validate, keys", bad,
			     PROV_APIKEY_SCOPES_MAX);
		return -1;
	}
	if (ttl < PROV_APIKEY_TTL_S_MIN || ttl > PROV_APIKEY_TTL_S_MAX) {
		prov_problem(r, PROV_P_INVALID_EXPIRY, "expiresInS is %u to %u seconds",
			     PROV_APIKEY_TTL_S_MIN, PROV_APIKEY_TTL_S_MAX);
		return -1;
	}
	if (!label_ok(label, lv ? json_string_length(lv) : 0)) {
		prov_problem(r, PROV_P_INVALID_LABEL, "label is at most %u bytes of printable ASCII",
			     PROV_APIKEY_LABEL_BYTES_MAX);
		return -1;
	}
	snprintf(k->label, sizeof(k->label), "%s", label);
	memcpy(k->address, httpd_req_signer(r), RCPT_ADDR_BYTES);
	k->created_at_s = now;
	k->expires_s = now + (uint64_t)ttl;
	return 0;
}

/* Frees the slots of keys revoked or expired PROV_APIKEY_KEEP_S ago. */
static void apikeys_prune(struct prov *p, uint64_t now)
{
	for (size_t i = 0; i < PROV_APIKEYS_MAX; i++) {
		struct prov_apikey *k = &p->apikeys[i];
		uint64_t end = k->revoked_at_s ? k->revoked_at_s : k->expires_s;
		if (k->id[0] && (k->revoked_at_s || k->expires_s <= now) &&
		    end + PROV_APIKEY_KEEP_S <= now)
			OPENSSL_cleanse(k, sizeof(*k));
	}
}

/* The slot for the owner's new key made under idem, or NULL having
 * answered (a replay, too many live keys, a full table). */
static struct prov_apikey *create_slot(struct httpd_req *r, struct prov *p, const char *idem,
				       uint64_t now)
{
	const uint8_t *owner = httpd_req_signer(r);
	struct prov_apikey *slot = NULL;
	unsigned live = 0;

	ASSAY_ASSERT(owner && idem_ok(idem));
	apikeys_prune(p, now);
	for (size_t i = 0; i < PROV_APIKEYS_MAX; i++) {
		struct prov_apikey *k = &p->apikeys[i];
		if (!k->id[0]) {
			slot = slot ? slot : k;
			continue;
		}
		if (memcmp(k->address, owner, RCPT_ADDR_BYTES) != 0)
			continue;
		if (strcmp(k->idem, idem) == 0) {
			prov_problem(r, PROV_P_APIKEY_REPLAYED, "this Idempotency-Key already created "
				     "a key; its secret was shown once: revoke it and create another");
			return NULL;
		}
		live += !k->revoked_at_s && k->expires_s > now;
	}
	if (live >= PROV_APIKEYS_PER_ADDRESS_MAX) {
		prov_problem(r, PROV_P_TOO_MANY_APIKEYS, "an address holds at most %u live keys; "
			     "revoke one first", PROV_APIKEYS_PER_ADDRESS_MAX);
		return NULL;
	}
	if (!slot)
		prov_problem(r, PROV_P_UNAVAILABLE, "the provider holds %u keys; retry later",
			     PROV_APIKEYS_MAX);
	return slot;
}

/* POST /v1/apikeys: signed by the wallet, or its session (never a key:
 * the route declares no scope).  201 with the secret, shown this once;
 * the key is on disk before the answer. */
void prov_handle_apikey_create(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	struct prov_apikey k, *slot;
	char token[HTTPD_APIKEY_TOKEN_BYTES + 1] = "";
	const char *idem = httpd_req_header(r, "Idempotency-Key");
	uint64_t now = now_s();
	json_t *v;

	ASSAY_ASSERT(httpd_req_apikey(r) == NULL && httpd_req_signer(r));
	memset(&k, 0, sizeof(k));
	if (!idem_ok(idem)) {
		httpd_reply_builtin(r, HTTPD_P_IDEMPOTENCY_KEY, "send an Idempotency-Key header of "
				    "1 to %d characters [A-Za-z0-9._:-]", HTTPD_IDEM_KEY_BYTES_MAX);
		goto out;
	}
	if (create_parse(r, &k, now) || !(slot = create_slot(r, p, idem, now)))
		goto out;
	snprintf(k.idem, sizeof(k.idem), "%s", idem);
	k.prm = httpd_argon2_default;
	if (httpd_apikey_new(k.id, token, k.salt, k.hash, &k.prm) || apikey_find(p, k.id)) {
		prov_problem(r, PROV_P_UNAVAILABLE, "could not make an api key");
		goto out;
	}
	*slot = k;
	if (apikeys_save(p)) {
		OPENSSL_cleanse(slot, sizeof(*slot));
		prov_log("store-failed", "what=apikeys");
		prov_problem(r, PROV_P_STORE_FAILED, "the key could not be stored; retry");
		goto out;
	}
	v = apikey_view(&k, now);
	if (!v || json_object_set_new(v, "secret", json_string(token))) {
		json_decref(v);
		prov_problem(r, PROV_P_UNAVAILABLE, "out of memory");
		goto out;
	}
	httpd_reply_json(r, 201, v);
	prov_log("apikey-created", "id=%s", k.id);
out:
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(&k, sizeof(k));
}

static int newest_first(const void *a, const void *b)
{
	const struct prov_apikey *x = *(const struct prov_apikey *const *)a;
	const struct prov_apikey *y = *(const struct prov_apikey *const *)b;

	if (x->created_at_s != y->created_at_s)
		return x->created_at_s < y->created_at_s ? 1 : -1;
	return strcmp(y->id, x->id);
}

/* GET /v1/apikeys: the caller's keys, newest first, at most LIST_MAX. */
void prov_handle_apikeys_list(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	const struct prov_apikey *mine[PROV_APIKEYS_MAX];
	const uint8_t *owner = httpd_req_signer(r);
	uint64_t now = now_s();
	size_t n = 0;
	json_t *a = json_array(), *v;

	ASSAY_ASSERT(owner);
	for (size_t i = 0; i < PROV_APIKEYS_MAX; i++) {
		if (p->apikeys[i].id[0] &&
		    memcmp(p->apikeys[i].address, owner, RCPT_ADDR_BYTES) == 0)
			mine[n++] = &p->apikeys[i];
	}
	ASSAY_ASSERT(n <= PROV_APIKEYS_MAX);
	qsort(mine, n, sizeof(mine[0]), newest_first);
	for (size_t i = 0; a && i < n && i < LIST_MAX; i++) {
		v = apikey_view(mine[i], now);
		if (!v || json_array_append_new(a, v)) {
			json_decref(a);
			a = NULL;
		}
	}
	if (!a || !(v = json_pack("{s:o}", "keys", a))) {
		prov_problem(r, PROV_P_UNAVAILABLE, "out of memory");
		return;
	}
	httpd_reply_json(r, 200, v);
}

/* DELETE /v1/apikeys/{id}: revokes at once (again: 200).  Another
 * address's key is 404, like an unknown one. */
void prov_handle_apikey_revoke(struct httpd_req *r, void *cls)
{
	struct prov *p = cls;
	const char *id = httpd_req_param(r, 0);
	char probe[HTTPD_APIKEY_TOKEN_BYTES + 1], got[HTTPD_APIKEY_ID_BYTES + 1];
	struct prov_apikey *k;

	ASSAY_ASSERT(httpd_req_signer(r));
	snprintf(probe, sizeof(probe), "%.*s.%043d", HTTPD_APIKEY_ID_BYTES, id ? id : "", 0);
	if (!id || strlen(id) != HTTPD_APIKEY_ID_BYTES || httpd_apikey_id(got, probe)) {
		prov_problem(r, PROV_P_INVALID_APIKEY_ID, "an api key id is ak_ + 16 lowercase hex digits");
		return;
	}
	k = apikey_find(p, id);
	if (!k || memcmp(k->address, httpd_req_signer(r), RCPT_ADDR_BYTES) != 0) {
		prov_problem(r, PROV_P_APIKEY_NOT_FOUND, "you hold no api key '%s'", id);
		return;
	}
	if (!k->revoked_at_s) {
		k->revoked_at_s = now_s();
		if (apikeys_save(p)) {
			/* Revoked here at once; a restart would bring it back. */
			prov_log("store-failed", "what=apikeys");
			prov_problem(r, PROV_P_STORE_FAILED, "revoked until a restart: the store could "
				     "not be written; retry");
			return;
		}
		prov_log("apikey-revoked", "id=%s", id);
	}
	httpd_reply_json(r, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}

/* The guard's counts on /metrics. */
static void guard_metrics(struct prov *p)
{
	uint64_t hashes, locked;

	if (!p->http)
		return;
	httpd_apikey_guard_stats(&hashes, &locked);
	(void)httpd_counter_set(p->http, "assay_provider_apikey_hashes_total", NULL,
				"Argon2id verifications of API key secrets.", (double)hashes);
	(void)httpd_counter_set(p->http, "assay_provider_apikey_locked_total", NULL,
				"API key secrets refused without a verification: too many wrong "
				"secrets for that key lately.", (double)locked);
}

enum httpd_store_rc prov_apikey_check(void *cls, struct httpd_apikey *out, const char *token,
				      uint64_t now)
{
	struct prov *p = cls;
	struct prov_apikey *k;
	int ok = 0;

	ASSAY_ASSERT(out && token && strlen(token) == HTTPD_APIKEY_TOKEN_BYTES);
	ASSAY_ASSERT(strncmp(token, out->id, HTTPD_APIKEY_ID_BYTES) == 0);
	k = apikey_find(p, out->id);
	if (!k || k->revoked_at_s || k->expires_s <= now)
		return HTTPD_STORE_NOT_FOUND;
	if (httpd_apikey_verify(&ok, token, k->salt, k->hash, &k->prm, now))
		return HTTPD_STORE_DOWN;
	guard_metrics(p);
	if (!ok)
		return HTTPD_STORE_NOT_FOUND;
	ASSAY_ASSERT(k->scopes && !(k->scopes & ~SCOPES_ALL));
	memcpy(out->address, k->address, RCPT_ADDR_BYTES);
	out->scopes = k->scopes;
	if (k->scopes & (PROV_SCOPE_JOBS_READ | PROV_SCOPE_VALIDATE))
		out->scopes |= PROV_SCOPE_READ_ANY_;
	if (!k->last_used_at_s || k->last_used_at_s + PROV_APIKEY_TOUCH_INTERVAL_S <= now) {
		k->last_used_at_s = now;
		if (apikeys_save(p))   /* only lastUsedAt is lost */
			prov_log("store-failed", "what=apikeys");
	}
	return HTTPD_STORE_OK;
}
