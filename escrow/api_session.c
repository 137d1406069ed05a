/*
 * api_session.c: the httpd_session_store of the escrow (sign-in nonces and
 * sessions in its database) and who may hold which role.
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

/* ---------------------------------------------------------------- sign-in */

/* The httpd_session_store over the escrow's database (db.c); runs on
 * the HTTP thread like every handler. */
static enum httpd_store_rc store_rc(enum escrow_db_err rc)
{
	switch (rc) {
	case ESCROW_DB_OK: return HTTPD_STORE_OK;
	case ESCROW_DB_NOT_FOUND: return HTTPD_STORE_NOT_FOUND;
	case ESCROW_DB_CONFLICT: return HTTPD_STORE_FULL;
	default: return HTTPD_STORE_DOWN;
	}
}

static enum httpd_store_rc st_nonce_put(void *cls, const char *nonce, uint64_t now,
					uint64_t expires_s)
{
	struct escrow *e = cls;

	if (escrow_db_ensure(escrow_http_db(e)))
		return HTTPD_STORE_DOWN;
	return store_rc(escrow_db_nonce_put(escrow_http_db(e), nonce, now, expires_s,
					    HTTPD_SIWE_NONCES_MAX));
}

static enum httpd_store_rc st_nonce_take(void *cls, const char *nonce, uint64_t now)
{
	struct escrow *e = cls;

	if (escrow_db_ensure(escrow_http_db(e)))
		return HTTPD_STORE_DOWN;
	return store_rc(escrow_db_nonce_take(escrow_http_db(e), nonce, now));
}

static enum httpd_store_rc st_session_put(void *cls, const uint8_t hash[RCPT_HASH_BYTES],
					  const uint8_t addr[RCPT_ADDR_BYTES],
					  enum httpd_role role, unsigned scopes, uint64_t now,
					  uint64_t expires_s)
{
	struct escrow *e = cls;
	enum escrow_db_err rc;

	if (escrow_db_ensure(escrow_http_db(e)))
		return HTTPD_STORE_DOWN;
	rc = escrow_db_session_put(escrow_http_db(e), hash, addr, httpd_role_name(role), scopes,
				   now, expires_s);
	/* A duplicate 256-bit hash is not a full table: report a failure. */
	return rc == ESCROW_DB_OK ? HTTPD_STORE_OK : HTTPD_STORE_DOWN;
}

static enum httpd_store_rc st_session_get(void *cls, uint8_t stored[RCPT_HASH_BYTES],
					  uint8_t addr[RCPT_ADDR_BYTES],
					  enum httpd_role *role, unsigned *scopes, uint64_t *expires_s,
					  const uint8_t hash[RCPT_HASH_BYTES], uint64_t now)
{
	struct escrow *e = cls;
	char name[16];
	enum escrow_db_err rc;

	if (escrow_db_ensure(escrow_http_db(e)))
		return HTTPD_STORE_DOWN;
	rc = escrow_db_session_get(escrow_http_db(e), stored, addr, name, scopes, expires_s, hash,
				   now);
	if (rc)
		return rc == ESCROW_DB_NOT_FOUND ? HTTPD_STORE_NOT_FOUND : HTTPD_STORE_DOWN;
	if (httpd_role_parse(role, name))
		return HTTPD_STORE_DOWN;
	return HTTPD_STORE_OK;
}

static enum httpd_store_rc st_session_revoke(void *cls, const uint8_t *hash,
					     const uint8_t *addr, uint64_t now)
{
	struct escrow *e = cls;
	enum escrow_db_err rc;
	int n = 0;

	if (escrow_db_ensure(escrow_http_db(e)))
		return HTTPD_STORE_DOWN;
	rc = escrow_db_session_revoke(escrow_http_db(e), hash, addr, now, &n);
	if (rc)
		return HTTPD_STORE_DOWN;
	return n > 0 ? HTTPD_STORE_OK : HTTPD_STORE_NOT_FOUND;
}

const struct httpd_session_store escrow_session_store = {
	.nonce_put = st_nonce_put,
	.nonce_take = st_nonce_take,
	.session_put = st_session_put,
	.session_get = st_session_get,
	.session_revoke = st_session_revoke,
};

/* Customer, provider and validator: any address (on the escrow a session
 * acts exactly as the address's own signed requests would, and every
 * statement still carries its own signature).  Operator: only the
 * address given by --operator. */
int escrow_api_role_allowed(void *cls, const uint8_t address[RCPT_ADDR_BYTES],
			    enum httpd_role role)
{
	struct escrow *e = cls;

	switch (role) {
	case HTTPD_ROLE_CUSTOMER:
	case HTTPD_ROLE_PROVIDER:
	case HTTPD_ROLE_VALIDATOR:
		return 1;
	case HTTPD_ROLE_OPERATOR:
		return e->has_operator &&
		       CRYPTO_memcmp(address, e->operator_addr, RCPT_ADDR_BYTES) == 0;
	default:
		return 0;
	}
}
