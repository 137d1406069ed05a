/*
 * test_apikeys.c: the escrow's API keys (escrow/api_apikeys.c,
 * httpd/apikey_hash.c, httpd's `Bearer ak_` path; docs/api-auth.md,
 * "API keys").
 *
 * - apikeys/argon2id_rfc9106: the Argon2id test vector of RFC 9106
 *   section 5.3 (with secret and associated data) through the escrow's
 *   own wrapper, and the wrapper's refusals;
 * - apikeys/escrow_*: a real assay-escrow (tests/escrowfx.h): a key in
 *   scope (200) and out of it (403), a wrong secret (401), an expired
 *   key (401), a revoked key (401 at once), the list without secret or
 *   hash, the per-address limit, bad bodies refused with nothing stored,
 *   a replayed creation refused, and neither the log nor the database
 *   holding the secret.
 */
#include <inttypes.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "escrowfx.h"
#include "httpd.h"
#include "testutil.h"
#include "apikey_guard.h"
#include "apikey_hash.h"
#include "banned.h"

/* ---------------------------------------------------------------- Argon2id */

static void hex_of(char *out, const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* RFC 9106 section 5.3: Argon2id, version 0x13, t = 3, m = 32 KiB,
 * p = 4, password 32 x 0x01, salt 16 x 0x02, secret 8 x 0x03,
 * associated data 12 x 0x04, tag of 32 bytes. */
Test(apikeys, argon2id_rfc9106)
{
	static const struct httpd_argon2_params prm = { 3, 32, 4 };
	uint8_t pwd[32], salt[16], secret[8], ad[12], tag[32];
	char hex[65];

	memset(pwd, 0x01, sizeof(pwd));
	memset(salt, 0x02, sizeof(salt));
	memset(secret, 0x03, sizeof(secret));
	memset(ad, 0x04, sizeof(ad));
	cr_assert_eq(httpd_argon2id(tag, sizeof(tag), pwd, sizeof(pwd), salt, sizeof(salt),
				     secret, sizeof(secret), ad, sizeof(ad), &prm), 0);
	hex_of(hex, tag, sizeof(tag));
	cr_assert_str_eq(hex, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
	/* Without the secret and the data, another tag. */
	cr_assert_eq(httpd_argon2id(tag, sizeof(tag), pwd, sizeof(pwd), salt, sizeof(salt),
				     NULL, 0, NULL, 0, &prm), 0);
	hex_of(hex, tag, sizeof(tag));
	cr_assert_str_neq(hex, "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659");
}

Test(apikeys, argon2id_refusals)
{
	static const struct httpd_argon2_params zero_t = { 0, 32, 1 };
	static const struct httpd_argon2_params huge_m = { 2, HTTPD_ARGON2_M_COST_KIB_MAX + 1, 1 };
	static const struct httpd_argon2_params few_m = { 2, 7, 1 };
	uint8_t out[32], salt[16] = { 0 };

	cr_assert_eq(httpd_argon2id(out, sizeof(out), "pw", 2, salt, 16, NULL, 0, NULL, 0, &zero_t), -1);
	cr_assert_eq(httpd_argon2id(out, sizeof(out), "pw", 2, salt, 16, NULL, 0, NULL, 0, &huge_m), -1);
	cr_assert_eq(httpd_argon2id(out, sizeof(out), "pw", 2, salt, 16, NULL, 0, NULL, 0, &few_m), -1);
	cr_assert_eq(httpd_argon2id(out, sizeof(out), "pw", 2, salt, 7, NULL, 0, NULL, 0,
				     &httpd_argon2_default), -1, "a salt under 8 bytes");
	cr_assert_eq(httpd_argon2id(out, 3, "pw", 2, salt, 16, NULL, 0, NULL, 0,
				     &httpd_argon2_default), -1, "a tag under 4 bytes");
	cr_assert_eq(httpd_argon2_default.t_cost, 2);
	cr_assert_eq(httpd_argon2_default.m_cost_kib, 19456);
	cr_assert_eq(httpd_argon2_default.parallelism, 1);
}

/* The PHC string a provider stores (httpd_argon2_phc_format): its exact
 * text for a known salt and hash (base64 by hand: 16 x 0x00 is 22 'A',
 * 32 x 0xff is 42 '/' and a '8'), read back, and every other text
 * refused: another version or order, a leading zero, parameters out of
 * range, padding, a character outside base64, a short salt. */
Test(apikeys, phc_string_exact_and_strict)
{
	static const struct httpd_argon2_params prm = { 2, 19456, 1 };
	static const char *const bad[] = {
		"$argon2id$v=16$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2i$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2id$v=19$t=2,m=19456,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2id$v=19$m=019456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2id$v=19$m=19456,t=9,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2id$v=19$m=4,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2id$v=19$m=300000,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA==$//////////////////////////////////////////8",
		"$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8",
		"$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$_/////////////////////////////////////////8",
		"$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////9",
		"$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$//////////////////////////////////////////8x",
		"",
	};
	uint8_t salt[16] = { 0 }, hash[32], s2[16], h2[32];
	struct httpd_argon2_params got;
	char text[HTTPD_ARGON2_PHC_BYTES_MAX];

	memset(hash, 0xff, sizeof(hash));
	cr_assert_eq(httpd_argon2_phc_format(text, sizeof(text), salt, hash, &prm), 0);
	cr_assert_str_eq(text, "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$"
			       "//////////////////////////////////////////8");
	cr_assert_eq(httpd_argon2_phc_parse(s2, h2, &got, text), 0);
	cr_assert(memcmp(s2, salt, 16) == 0 && memcmp(h2, hash, 32) == 0);
	cr_assert(got.t_cost == 2 && got.m_cost_kib == 19456 && got.parallelism == 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(httpd_argon2_phc_parse(s2, h2, &got, bad[i]), -1, "took '%s'", bad[i]);
	cr_assert_eq(httpd_argon2_phc_parse(s2, h2, &got, NULL), -1);
	cr_assert_eq(got.t_cost, 0, "outputs zeroed on refusal");
}

/* ---------------------------------------------------------------- the escrow */

static void k_setup(void)
{
	struct efx_config c = { .quiet = 0 };

	efx_setup(&c);
}

/* A fresh key's creation by k: the answer's id and secret ("ak_ID.SECRET")
 * into token (NULL: not kept); it must answer 201. */
struct made {
	char id[HTTPD_APIKEY_ID_BYTES + 1];
	char token[HTTPD_APIKEY_TOKEN_BYTES + 1];
};

static void create(struct hc_resp *r, const struct rcpt_key *k, const char *body)
{
	char idem[48];

	efx_signed_req(r, k, "POST", "/v1/apikeys", efx_fresh_idem(idem), body, NULL, 0);
}

static void create_ok(struct made *m, const struct rcpt_key *k, const char *body)
{
	struct hc_resp r;
	json_t *j;
	const char *id, *secret;

	create(&r, k, body);
	cr_assert_eq(r.status, 201, "%s", r.body);
	j = efx_jparse(&r);
	id = json_string_value(json_object_get(j, "id"));
	secret = json_string_value(json_object_get(j, "secret"));
	cr_assert(id && secret, "%s", r.body);
	cr_assert_eq(strlen(id), HTTPD_APIKEY_ID_BYTES);
	cr_assert_eq(strlen(secret), HTTPD_APIKEY_TOKEN_BYTES, "%s", secret);
	cr_assert_eq(strncmp(secret, id, HTTPD_APIKEY_ID_BYTES), 0);
	cr_assert_eq(httpd_apikey_id(m->id, secret), 0);
	cr_assert_str_eq(m->id, id);
	snprintf(m->token, sizeof(m->token), "%s", secret);
	json_decref(j);
	hc_resp_free(&r);
}

/* METHOD target with `Authorization: Bearer token` (and a fresh
 * Idempotency-Key unless GET). */
static void keyed(struct hc_resp *r, const char *token, const char *method,
		  const char *target, const char *body)
{
	char h1[160], h2[96], idem[48];
	const char *hdrs[3] = { h1, NULL, NULL };

	snprintf(h1, sizeof(h1), "Authorization: Bearer %s", token);
	if (strcmp(method, "GET") != 0) {
		snprintf(h2, sizeof(h2), "Idempotency-Key: %s", efx_fresh_idem(idem));
		hdrs[1] = h2;
	}
	cr_assert_eq(hc_request(r, EFX.port, method, target, hdrs, body,
				body ? strlen(body) : 0), 0);
}

static long db_count(const char *sql)
{
	char *v = efx_db_value(sql);
	long n = strtol(v, NULL, 10);

	free(v);
	return n;
}

static void audit_target(char out[128], const uint8_t who[RCPT_ADDR_BYTES])
{
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, who);
	snprintf(out, 128, "/v1/audit?account=%s", a);
}

/* A key acts as its owner within its scopes: "funds" stakes from the
 * owner's account (200) but reads no audit log, lists no keys and
 * makes no key (403); a wrong secret for a right id, an unknown id and
 * a malformed token are 401; lastUsedAt is recorded. */
Test(apikeys, escrow_scopes, .init = k_setup, .fini = efx_teardown, .timeout = 60)
{
	struct rcpt_key k;
	struct made funds, reader;
	struct hc_resp r;
	char audit[128], bad[HTTPD_APIKEY_TOKEN_BYTES + 1];
	struct efx_bal b;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	efx_faucet(&k, 10000);
	create_ok(&funds, &k, "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"label\":\"ci\"}");
	keyed(&r, funds.token, "POST", "/v1/stake", "{\"amount\":\"5\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	b = efx_balance_of(k.address);
	cr_assert_eq(b.stake, 5);
	cr_assert_eq(b.available, 9995);

	audit_target(audit, k.address);
	keyed(&r, funds.token, "GET", audit, NULL);
	efx_refused(&r, 403, "insufficient-scope");
	keyed(&r, funds.token, "GET", "/v1/apikeys", NULL);
	efx_refused(&r, 403, "insufficient-scope");
	keyed(&r, funds.token, "POST", "/v1/apikeys", "{\"scopes\":[\"funds\"],\"expiresInS\":3600}");
	efx_refused(&r, 403, "insufficient-scope");

	snprintf(bad, sizeof(bad), "%s", funds.token);
	bad[HTTPD_APIKEY_TOKEN_BYTES - 1] = bad[HTTPD_APIKEY_TOKEN_BYTES - 1] == 'A' ? 'B' : 'A';
	keyed(&r, bad, "POST", "/v1/stake", "{\"amount\":\"5\"}");
	efx_refused(&r, 401, "unauthenticated");
	memcpy(bad, "ak_0000000000000000", HTTPD_APIKEY_ID_BYTES);
	keyed(&r, bad, "POST", "/v1/stake", "{\"amount\":\"5\"}");
	efx_refused(&r, 401, "unauthenticated");
	keyed(&r, "ak_nothex.x", "POST", "/v1/stake", "{\"amount\":\"5\"}");
	efx_refused(&r, 401, "unauthenticated");
	cr_assert_eq(efx_balance_of(k.address).stake, 5, "a refused key moved money");
	cr_assert_eq(db_count("SELECT count(*) FROM escrow_apikeys WHERE last_used_at_s IS NOT NULL"), 1);

	create_ok(&reader, &k, "{\"scopes\":[\"audit:read\",\"keys\"],\"expiresInS\":60}");
	keyed(&r, reader.token, "GET", audit, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	keyed(&r, reader.token, "POST", "/v1/stake", "{\"amount\":\"5\"}");
	efx_refused(&r, 403, "insufficient-scope");
	rcpt_key_wipe(&k);
}

/* DELETE revokes at once and again is 200; another address's key is
 * 404; a key with "keys" may revoke its owner's keys. */
Test(apikeys, escrow_revoke, .init = k_setup, .fini = efx_teardown, .timeout = 60)
{
	struct rcpt_key k, other;
	struct made a, admin;
	struct hc_resp r;
	char target[64];

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&other), RCPT_OK);
	efx_faucet(&k, 1000);
	create_ok(&a, &k, "{\"scopes\":[\"funds\",\"keys\"],\"expiresInS\":3600}");
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	snprintf(target, sizeof(target), "/v1/apikeys/%s", a.id);
	efx_signed_req(&r, &other, "DELETE", target, NULL, NULL, NULL, 0);
	efx_refused(&r, 404, "apikey-not-found");
	efx_signed_req(&r, &k, "DELETE", target, NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	efx_refused(&r, 401, "unauthenticated");
	efx_signed_req(&r, &k, "DELETE", target, NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "a second revocation: %s", r.body);
	hc_resp_free(&r);
	efx_signed_req(&r, &k, "DELETE", "/v1/apikeys/ak_XYZ", NULL, NULL, NULL, 0);
	efx_refused(&r, 400, "invalid-apikey-id");

	create_ok(&a, &k, "{\"scopes\":[\"funds\"],\"expiresInS\":3600}");
	create_ok(&admin, &k, "{\"scopes\":[\"keys\"],\"expiresInS\":3600}");
	snprintf(target, sizeof(target), "/v1/apikeys/%s", a.id);
	keyed(&r, admin.token, "DELETE", target, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	efx_refused(&r, 401, "unauthenticated");
	cr_assert_eq(efx_balance_of(k.address).stake, 1);
	rcpt_key_wipe(&k);
	rcpt_key_wipe(&other);
}

/* A key past its expiry is 401 (its row moved into the past in the
 * database: the shortest life is a minute) and listed as expired. */
Test(apikeys, escrow_expired, .init = k_setup, .fini = efx_teardown, .timeout = 60)
{
	struct rcpt_key k;
	struct made a;
	struct hc_resp r;
	PGconn *c;
	json_t *j;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	efx_faucet(&k, 1000);
	create_ok(&a, &k, "{\"scopes\":[\"funds\"],\"expiresInS\":60}");
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	c = efx_db_conn();
	pgt_exec(c, "UPDATE escrow_apikeys SET created_at_s = created_at_s - 1000,"
		    " expires_s = created_at_s - 900");
	PQfinish(c);
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	efx_refused(&r, 401, "unauthenticated");
	efx_signed_req(&r, &k, "GET", "/v1/apikeys", NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = efx_jparse(&r);
	cr_assert(json_is_true(json_object_get(json_array_get(json_object_get(j, "keys"), 0),
					       "expired")), "%s", r.body);
	json_decref(j);
	hc_resp_free(&r);
	cr_assert_eq(efx_balance_of(k.address).stake, 1);
	rcpt_key_wipe(&k);
}

/* The hex of the stored hash of key `id` (malloc'd). */
static char *stored_hash_hex(const char *id)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SELECT encode(hash, 'hex') FROM escrow_apikeys WHERE id = '%s'", id);
	return efx_db_value(sql);
}

/* GET /v1/apikeys shows every field but never the secret, the salt or
 * the hash, signed by the wallet or by a key with "keys". */
Test(apikeys, escrow_list_hides_secret, .init = k_setup, .fini = efx_teardown, .timeout = 60)
{
	static const char *const fields[] = { "id", "label", "scopes", "createdAt", "expiresAt",
		"expiresAtS", "lastUsedAt", "revoked", "expired" };
	struct rcpt_key k;
	struct made a, b;
	struct hc_resp r;
	json_t *j, *keys, *e;
	char *hash;
	size_t i;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	create_ok(&a, &k, "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"label\":\"first\"}");
	create_ok(&b, &k, "{\"scopes\":[\"keys\",\"audit:read\"],\"expiresInS\":7200}");
	hash = stored_hash_hex(a.id);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 0)
			efx_signed_req(&r, &k, "GET", "/v1/apikeys", NULL, NULL, NULL, 0);
		else
			keyed(&r, b.token, "GET", "/v1/apikeys", NULL);
		cr_assert_eq(r.status, 200, "%s", r.body);
		cr_assert_null(strstr(r.body, a.token + HTTPD_APIKEY_ID_BYTES + 1), "a secret listed");
		cr_assert_null(strstr(r.body, b.token + HTTPD_APIKEY_ID_BYTES + 1), "a secret listed");
		cr_assert_null(strstr(r.body, hash), "a hash listed");
		j = efx_jparse(&r);
		keys = json_object_get(j, "keys");
		cr_assert_eq(json_array_size(keys), 2, "%s", r.body);
		json_array_foreach(keys, i, e) {
			cr_assert_eq(json_object_size(e), sizeof(fields) / sizeof(fields[0]), "%s", r.body);
			for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++)
				cr_assert(json_object_get(e, fields[f]), "no %s: %s", fields[f], r.body);
			cr_assert_null(json_object_get(e, "secret"));
			cr_assert_null(json_object_get(e, "hash"));
			cr_assert_null(json_object_get(e, "salt"));
		}
		json_array_foreach(keys, i, e) {
			if (strcmp(json_string_value(json_object_get(e, "id")), a.id) == 0)
				cr_assert_str_eq(json_string_value(json_object_get(e, "label")), "first");
			else
				cr_assert_str_eq(json_string_value(json_object_get(e, "id")), b.id);
		}
		json_decref(j);
		hc_resp_free(&r);
	}
	free(hash);
	rcpt_key_wipe(&k);
}

/* An address holds at most 32 live keys; the 33rd is 409 and stores
 * nothing; a revocation makes room. */
Test(apikeys, escrow_key_limit, .init = k_setup, .fini = efx_teardown, .timeout = 120)
{
	struct rcpt_key k;
	struct made m[32], extra;
	struct hc_resp r;
	char target[64];

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	for (int i = 0; i < 32; i++)
		create_ok(&m[i], &k, "{\"scopes\":[\"funds\"],\"expiresInS\":3600}");
	create(&r, &k, "{\"scopes\":[\"funds\"],\"expiresInS\":3600}");
	efx_refused(&r, 409, "too-many-apikeys");
	cr_assert_eq(db_count("SELECT count(*) FROM escrow_apikeys"), 32);
	snprintf(target, sizeof(target), "/v1/apikeys/%s", m[7].id);
	efx_signed_req(&r, &k, "DELETE", target, NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	create_ok(&extra, &k, "{\"scopes\":[\"funds\"],\"expiresInS\":3600}");
	cr_assert_eq(db_count("SELECT count(*) FROM escrow_apikeys"), 33);
	rcpt_key_wipe(&k);
}

/* Every bad body is refused with its problem and stores nothing; so is
 * a creation without Idempotency-Key, and a replay of one that worked. */
Test(apikeys, escrow_bad_bodies, .init = k_setup, .fini = efx_teardown, .timeout = 60)
{
	static const struct {
		const char *body;
		int status;
		const char *slug;
	} bad[] = {
		{ "{\"scopes\":[\"root\"],\"expiresInS\":3600}", 400, "invalid-scope" },
		{ "{\"scopes\":[],\"expiresInS\":3600}", 400, "invalid-scope" },
		{ "{\"scopes\":[\"funds\",\"funds\"],\"expiresInS\":3600}", 400, "invalid-scope" },
		{ "{\"scopes\":[\"funds\",7],\"expiresInS\":3600}", 400, "invalid-scope" },
		{ "{\"scopes\":\"funds\",\"expiresInS\":3600}", 400, "invalid-scope" },
		{ "{\"scopes\":[\"funds\",\"keys\",\"attest\",\"audit:read\",\"jobs:write\",\"funds\","
		  "\"keys\",\"attest\",\"funds\"],\"expiresInS\":3600}", 400, "invalid-scope" },
		{ "{\"scopes\":[\"funds\"],\"expiresInS\":59}", 400, "invalid-expiry" },
		{ "{\"scopes\":[\"funds\"],\"expiresInS\":31536001}", 400, "invalid-expiry" },
		{ "{\"scopes\":[\"funds\"],\"expiresInS\":\"3600\"}", 400, "invalid-expiry" },
		{ "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"label\":"
		  "\"01234567890123456789012345678901234567890123456789012345678901234\"}",
		  400, "invalid-label" },
		{ "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"label\":\"a\\nb\"}", 400, "invalid-label" },
		{ "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"label\":3}", 400, "invalid-label" },
		{ "{\"scopes\":[\"funds\"]}", 400, "invalid-request" },
		{ "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"owner\":\"0x00\"}", 400, "invalid-request" },
	};
	static const char ok[] = "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"label\":"
		"\"0123456789012345678901234567890123456789012345678901234567890123\"}";
	struct rcpt_key k;
	struct hc_resp r;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		create(&r, &k, bad[i].body);
		cr_assert_eq(r.status, bad[i].status, "case %zu: %s", i, r.body);
		efx_refused(&r, bad[i].status, bad[i].slug);
	}
	efx_signed_req(&r, &k, "POST", "/v1/apikeys", NULL, ok, NULL, 0);
	efx_refused(&r, 400, "idempotency-key");
	cr_assert_eq(db_count("SELECT count(*) FROM escrow_apikeys"), 0, "a refused body stored a key");

	/* The longest label works; the same signed request again does not
	 * hand out a second secret. */
	efx_signed_req(&r, &k, "POST", "/v1/apikeys", "replay-1", ok, NULL, 0);
	cr_assert_eq(r.status, 201, "%s", r.body);
	hc_resp_free(&r);
	efx_signed_req(&r, &k, "POST", "/v1/apikeys", "replay-1", ok, NULL, 0);
	efx_refused(&r, 409, "apikey-replayed");
	cr_assert_eq(db_count("SELECT count(*) FROM escrow_apikeys"), 1);
	rcpt_key_wipe(&k);
}

/* After a key was made and used (and tried with a wrong secret), its
 * secret is in neither the escrow's log nor its database, which holds
 * Argon2id(secret, salt) with the default parameters. */
Test(apikeys, escrow_secret_not_logged_or_stored, .init = k_setup, .fini = efx_teardown,
     .timeout = 60)
{
	struct rcpt_key k;
	struct made a;
	struct hc_resp r;
	char bad[HTTPD_APIKEY_TOKEN_BYTES + 1], sql[256], want[65];
	const char *secret;
	uint8_t *log = NULL, salt[16], h[32];
	size_t log_len = 0;
	char *row, *hash, *salt_hex;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	efx_faucet(&k, 1000);
	create_ok(&a, &k, "{\"scopes\":[\"funds\"],\"expiresInS\":3600,\"label\":\"svc\"}");
	secret = a.token + HTTPD_APIKEY_ID_BYTES + 1;
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	snprintf(bad, sizeof(bad), "%s", a.token);
	bad[HTTPD_APIKEY_ID_BYTES + 1] = bad[HTTPD_APIKEY_ID_BYTES + 1] == 'x' ? 'y' : 'x';
	keyed(&r, bad, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	cr_assert_eq(r.status, 401);
	cr_assert_null(strstr(r.body, bad + HTTPD_APIKEY_ID_BYTES + 1), "a secret in a problem");
	hc_resp_free(&r);

	tu_read_file(EFX.log_path, &log, &log_len);
	/* tu_read_file's bytes end with no NUL: memmem, not strstr. */
	cr_assert(log_len > 0 && memmem(log, log_len, "/v1/stake", 9), "the escrow logged no request");
	cr_assert_null(memmem(log, log_len, secret, strlen(secret)), "the secret is in the escrow's log");
	cr_assert_null(memmem(log, log_len, bad + HTTPD_APIKEY_ID_BYTES + 1,
			      strlen(bad + HTTPD_APIKEY_ID_BYTES + 1)), "a wrong secret is logged");
	free(log);

	snprintf(sql, sizeof(sql), "SELECT row_to_json(k)::text FROM escrow_apikeys k WHERE id = '%s'", a.id);
	row = efx_db_value(sql);
	cr_assert_null(strstr(row, secret), "the secret is in the database");
	free(row);
	cr_assert_eq(db_count("SELECT count(*) FROM escrow_apikeys WHERE t_cost = 2"
			      " AND m_cost_kib = 19456 AND parallelism = 1"), 1);
	snprintf(sql, sizeof(sql), "SELECT encode(salt, 'hex') FROM escrow_apikeys WHERE id = '%s'", a.id);
	salt_hex = efx_db_value(sql);
	for (int i = 0; i < 16; i++)
		salt[i] = (uint8_t)strtoul((char[3]){ salt_hex[2 * i], salt_hex[2 * i + 1], 0 }, NULL, 16);
	cr_assert_eq(httpd_argon2id(h, 32, secret, strlen(secret), salt, 16, NULL, 0, NULL, 0,
				     &httpd_argon2_default), 0);
	hex_of(want, h, 32);
	hash = stored_hash_hex(a.id);
	cr_assert_str_eq(hash, want, "the stored hash is not Argon2id(secret, salt)");
	free(hash);
	free(salt_hex);
	rcpt_key_wipe(&k);
}

/* The client: `assay apikey create` prints the key once with its
 * secret, which then works as a bearer token; `list` shows it without
 * the secret; `revoke` ends it. */
Test(apikeys, escrow_client, .init = k_setup, .fini = efx_teardown, .timeout = 60)
{
	struct rcpt_key k;
	struct tu_run run;
	struct hc_resp r;
	char key_path[400];
	char token[HTTPD_APIKEY_TOKEN_BYTES + 1], id[HTTPD_APIKEY_ID_BYTES + 1];
	json_t *j;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	efx_faucet(&k, 1000);
	snprintf(key_path, sizeof(key_path), "%s/wallet.key", EFX.dir);
	cr_assert_eq(rcpt_key_save(&k, NULL, key_path), RCPT_OK);
	{
		const char *argv[] = { tu_assay(), "apikey", "create", "--url", EFX.url, "--key",
			key_path, "--scope", "funds,keys", "--expires-in-s", "600", "--label", "cli",
			NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 0, "%s", run.err);
	j = json_loads(run.out, 0, NULL);
	cr_assert(j, "%s", run.out);
	snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(j, "secret")));
	cr_assert_eq(httpd_apikey_id(id, token), 0, "%s", run.out);
	json_decref(j);
	tu_run_free(&run);
	keyed(&r, token, "POST", "/v1/stake", "{\"amount\":\"3\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	{
		const char *argv[] = { tu_assay(), "apikey", "list", "--url", EFX.url, "--key",
			key_path, NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 0, "%s", run.err);
	cr_assert(strstr(run.out, id), "%s", run.out);
	cr_assert_null(strstr(run.out, token + HTTPD_APIKEY_ID_BYTES + 1));
	tu_run_free(&run);
	{
		const char *argv[] = { tu_assay(), "apikey", "revoke", id, "--url", EFX.url, "--key",
			key_path, NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 0, "%s", run.err);
	tu_run_free(&run);
	keyed(&r, token, "POST", "/v1/stake", "{\"amount\":\"3\"}");
	efx_refused(&r, 401, "unauthenticated");
	{
		const char *argv[] = { tu_assay(), "apikey", "create", "--url", EFX.url, "--key",
			key_path, "--scope", "root", NULL };
		tu_run(&run, argv);
	}
	cr_assert_eq(run.status, 1, "%s", run.err);
	cr_assert(strstr(run.err, "invalid-scope"), "%s", run.err);
	tu_run_free(&run);
	rcpt_key_wipe(&k);
}

/* `assay apikey create` as the wallet of key_path, scopes `scopes`: the
 * token into token. */
static void cli_create(char token[HTTPD_APIKEY_TOKEN_BYTES + 1], const char *key_path,
		       const char *scopes)
{
	const char *argv[] = { tu_assay(), "apikey", "create", "--url", EFX.url, "--key",
			       key_path, "--scope", scopes, NULL };
	char id[HTTPD_APIKEY_ID_BYTES + 1];
	struct tu_run run;
	json_t *j;

	tu_run(&run, argv);
	cr_assert_eq(run.status, 0, "%s", run.err);
	j = json_loads(run.out, 0, NULL);
	cr_assert(j, "%s", run.out);
	snprintf(token, HTTPD_APIKEY_TOKEN_BYTES + 1, "%s",
		 json_string_value(json_object_get(j, "secret")));
	cr_assert_eq(httpd_apikey_id(id, token), 0, "%s", run.out);
	json_decref(j);
	tu_run_free(&run);
}

/* `assay escrow` without --key, with the API key from the environment:
 * a file only its owner may read, or the variable itself.  The key's
 * scopes hold; a file others can read, a malformed key and no key at
 * all are refused, and the key never appears in what is printed. */
Test(apikeys, escrow_client_with_a_key_from_the_environment, .init = k_setup,
     .fini = efx_teardown, .timeout = 60)
{
	char key_path[400], file[400], token[HTTPD_APIKEY_TOKEN_BYTES + 1], addr[RCPT_ADDR_HEX_BYTES];
	const char *stake[] = { tu_assay(), "escrow", "stake", "5", "--url", EFX.url, NULL };
	const char *audit[] = { tu_assay(), "escrow", "audit", addr, "--url", EFX.url, NULL };
	const char *secret;
	struct rcpt_key k;
	struct tu_run run;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	efx_faucet(&k, 1000);
	rcpt_address_format(addr, k.address);
	snprintf(key_path, sizeof(key_path), "%s/wallet.key", EFX.dir);
	cr_assert_eq(rcpt_key_save(&k, NULL, key_path), RCPT_OK);
	cli_create(token, key_path, "funds");
	secret = token + HTTPD_APIKEY_ID_BYTES + 1;
	snprintf(file, sizeof(file), "%s/apikey", EFX.dir);
	tu_write_file(file, token, strlen(token), 0600);
	cr_assert_eq(unsetenv("ASSAY_API_KEY"), 0);
	cr_assert_eq(setenv("ASSAY_API_KEY_FILE", file, 1), 0);
	tu_run(&run, stake);
	cr_assert_eq(run.status, 0, "%s", run.err);
	tu_run_free(&run);
	cr_assert_eq(efx_balance_of(k.address).stake, 5);
	/* Out of the key's scope (audit:read): refused by the escrow. */
	tu_run(&run, audit);
	cr_assert_eq(run.status, 1, "%s", run.err);
	cr_assert(strstr(run.err, "insufficient-scope") || strstr(run.out, "insufficient-scope"),
		  "%s%s", run.out, run.err);
	tu_run_free(&run);
	/* A file others can read. */
	cr_assert_eq(chmod(file, 0644), 0);
	tu_run(&run, stake);
	cr_assert_eq(run.status, 2);
	cr_assert(strstr(run.err, "chmod 600"), "%s", run.err);
	cr_assert_null(strstr(run.err, secret));
	tu_run_free(&run);
	/* The variable, well formed and not. */
	cr_assert_eq(unsetenv("ASSAY_API_KEY_FILE"), 0);
	cr_assert_eq(setenv("ASSAY_API_KEY", token, 1), 0);
	tu_run(&run, stake);
	cr_assert_eq(run.status, 0, "%s", run.err);
	cr_assert_null(strstr(run.out, secret));
	tu_run_free(&run);
	cr_assert_eq(efx_balance_of(k.address).stake, 10);
	cr_assert_eq(setenv("ASSAY_API_KEY", "ak_0123.not-a-key", 1), 0);
	tu_run(&run, stake);
	cr_assert_eq(run.status, 2);
	cr_assert(strstr(run.err, "not of the form"), "%s", run.err);
	cr_assert_null(strstr(run.err, "not-a-key"));
	tu_run_free(&run);
	cr_assert_eq(unsetenv("ASSAY_API_KEY"), 0);
	tu_run(&run, stake);
	cr_assert_eq(run.status, 2);
	cr_assert(strstr(run.err, "needs --key FILE"), "%s", run.err);
	tu_run_free(&run);
	cr_assert_eq(efx_balance_of(k.address).stake, 10, "a refused request moved money");
	rcpt_key_wipe(&k);
}

/* A counter of the escrow's /metrics, 0 before it was first set. */
static double counter(const char *family)
{
	double v = efx_metric(family);

	return v < 0 ? 0 : v;
}

/* token with one character of its secret changed. */
static void wrong_secret(char out[HTTPD_APIKEY_TOKEN_BYTES + 1], const char *token)
{
	snprintf(out, HTTPD_APIKEY_TOKEN_BYTES + 1, "%s", token);
	out[HTTPD_APIKEY_TOKEN_BYTES - 1] = out[HTTPD_APIKEY_TOKEN_BYTES - 1] == 'A' ? 'B' : 'A';
}

/* The guard in front of Argon2id (httpd/apikey_guard.h): a verified
 * secret is not hashed again; wrong secrets for one id lock it after
 * HTTPD_APIKEY_GUARD_FAILS, without a hash each, while the verified
 * holder goes on; an id that never verified stays locked even for the
 * right secret; revocation still acts at once. */
Test(apikeys, guard_spares_argon2_and_locks_guessing, .init = k_setup, .fini = efx_teardown,
     .timeout = 60)
{
	const char *body = "{\"scopes\":[\"funds\"],\"expiresInS\":600}";
	char bad[HTTPD_APIKEY_TOKEN_BYTES + 1], target[64];
	struct made a, b;
	struct hc_resp r;
	struct rcpt_key k;
	double h0, h1;
	int i;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	efx_faucet(&k, 1000);
	create_ok(&a, &k, body);
	create_ok(&b, &k, body);
	h0 = counter("assay_escrow_apikey_hashes_total");
	for (i = 0; i < 3; i++) {
		keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
	}
	cr_assert_eq(counter("assay_escrow_apikey_hashes_total"), h0 + 1,
		     "a verified secret was hashed again");
	wrong_secret(bad, a.token);
	for (i = 0; i < 8; i++) {
		keyed(&r, bad, "POST", "/v1/stake", "{\"amount\":\"1\"}");
		efx_refused(&r, 401, "unauthenticated");
	}
	h1 = counter("assay_escrow_apikey_hashes_total");
	cr_assert_eq(h1, h0 + 1 + HTTPD_APIKEY_GUARD_FAILS, "wrong secrets hashed past the lock");
	cr_assert_eq(counter("assay_escrow_apikey_locked_total"), 8 - HTTPD_APIKEY_GUARD_FAILS);
	/* The verified holder is not locked out by the guessing. */
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* An id that never verified: locked for the right secret too. */
	wrong_secret(bad, b.token);
	for (i = 0; i < (int)HTTPD_APIKEY_GUARD_FAILS; i++) {
		keyed(&r, bad, "POST", "/v1/stake", "{\"amount\":\"1\"}");
		efx_refused(&r, 401, "unauthenticated");
	}
	keyed(&r, b.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	efx_refused(&r, 401, "unauthenticated");
	cr_assert_eq(counter("assay_escrow_apikey_hashes_total"), h1 + HTTPD_APIKEY_GUARD_FAILS);
	cr_assert_eq(efx_balance_of(k.address).stake, 4, "refused requests moved money");
	/* Revoked: refused at once, though the guard knows its secret. */
	snprintf(target, sizeof(target), "/v1/apikeys/%s", a.id);
	efx_signed_req(&r, &k, "DELETE", target, NULL, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	keyed(&r, a.token, "POST", "/v1/stake", "{\"amount\":\"1\"}");
	efx_refused(&r, 401, "unauthenticated");
	rcpt_key_wipe(&k);
}
