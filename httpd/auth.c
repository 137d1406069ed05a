/*
 * auth.c: signed-request authentication (docs/api-auth.md).
 *
 * The signed text binds the method, the target (path and query), the
 * time, the Idempotency-Key and the body's SHA-256, so a captured request
 * can neither be pointed elsewhere nor altered, and it expires after
 * HTTPD_AUTH_SKEW_S; a replay inside that window of a mutating request
 * carries the same Idempotency-Key and gets the first answer back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "httpd.h"
#include "banned.h"

#define AUTH_PREFIX "assay-request/1\n"

static const char *const httpd_err_str[HTTPD_ERR_COUNT_] = {
	[HTTPD_OK] = "ok",
	[HTTPD_ERR_ARG] = "invalid argument",
	[HTTPD_ERR_NOMEM] = "out of memory",
	[HTTPD_ERR_TLS] = "tls unavailable or unreadable certificate/key",
	[HTTPD_ERR_LISTEN] = "could not listen",
	[HTTPD_ERR_AUTH_MISSING] = "missing Assay-Address, Assay-Timestamp or Assay-Signature header",
	[HTTPD_ERR_AUTH_ADDRESS] = "Assay-Address is not a valid address",
	[HTTPD_ERR_AUTH_TIMESTAMP] = "Assay-Timestamp is not decimal seconds within the allowed skew",
	[HTTPD_ERR_AUTH_SIGNATURE] = "Assay-Signature is malformed, high-S or unrecoverable",
	[HTTPD_ERR_AUTH_SIGNER] = "signature does not recover to Assay-Address",
	[HTTPD_ERR_SIWE_FORMAT] = "malformed EIP-4361 sign-in message",
	[HTTPD_ERR_SIWE_DOMAIN] = "sign-in message for another domain",
	[HTTPD_ERR_SIWE_URI] = "sign-in message for another URI",
	[HTTPD_ERR_SIWE_CHAIN] = "sign-in message for another chain",
	[HTTPD_ERR_SIWE_ISSUED_AT] = "sign-in message issued in the future",
	[HTTPD_ERR_SIWE_EXPIRED] = "sign-in message expired",
	[HTTPD_ERR_SIWE_NOT_BEFORE] = "sign-in message not yet valid",
	[HTTPD_ERR_SIWE_SIGNATURE] = "sign-in signature malformed, high-S or unrecoverable",
	[HTTPD_ERR_SIWE_SIGNER] = "sign-in signature does not recover to the message's address",
	[HTTPD_ERR_SIWE_NONCE] = "sign-in nonce unknown, used or expired",
	[HTTPD_ERR_SIWE_ROLE] = "role unknown or not granted",
	[HTTPD_ERR_SESSION] = "bearer token malformed, unknown, expired or revoked",
	[HTTPD_ERR_STORE] = "session store unavailable",
};

const char *httpd_strerror(enum httpd_err err)
{
	if ((unsigned)err >= HTTPD_ERR_COUNT_)
		return "unknown error";
	return httpd_err_str[err];
}

enum httpd_err httpd_auth_message(char **out, size_t *out_len,
				  const char *method, const char *target,
				  uint64_t ts_s, const char *idem_key,
				  const void *body, size_t body_len)
{
	uint8_t h[RCPT_HASH_BYTES];
	char hex[RCPT_HASH_HEX_BYTES];
	char *msg = NULL;
	size_t cap;
	int n;
	enum httpd_err rc = HTTPD_ERR_ARG;

	if (!out || !out_len || !method || !target || (!body && body_len))
		goto out;
	*out = NULL;
	if (!idem_key)
		idem_key = "";
	if (rcpt_sha256(h, body_len ? body : "", body_len) != RCPT_OK ||
	    rcpt_hex_encode(hex, sizeof(hex), h, sizeof(h)) != RCPT_OK)
		goto out;
	cap = sizeof(AUTH_PREFIX) + strlen(method) + strlen(target) + 24 +
	      strlen(idem_key) + sizeof(hex) + 8;
	rc = HTTPD_ERR_NOMEM;
	msg = malloc(cap);
	if (!msg)
		goto out;
	/* hex + 2 skips the "0x": the text carries bare lowercase hex. */
	n = snprintf(msg, cap, AUTH_PREFIX "%s\n%s\n%llu\n%s\n%s", method, target,
		     (unsigned long long)ts_s, idem_key, hex + 2);
	if (n < 0 || (size_t)n >= cap) {
		rc = HTTPD_ERR_ARG;
		goto out;
	}
	*out = msg;
	*out_len = (size_t)n;
	msg = NULL;
	rc = HTTPD_OK;
out:
	free(msg);
	return rc;
}

enum httpd_err httpd_auth_sign(struct httpd_auth_headers *out,
			       const struct rcpt_key *key,
			       const char *method, const char *target,
			       uint64_t ts_s, const char *idem_key,
			       const void *body, size_t body_len)
{
	uint8_t sig[RCPT_SIG_BYTES];
	char *msg = NULL;
	size_t len = 0;
	enum httpd_err rc = HTTPD_ERR_ARG;

	if (!out || !key)
		goto out;
	rc = httpd_auth_message(&msg, &len, method, target, ts_s, idem_key,
				body, body_len);
	if (rc)
		goto out;
	rc = HTTPD_ERR_ARG;
	if (rcpt_message_sign(sig, key, msg, len) != RCPT_OK ||
	    rcpt_hex_encode(out->signature, sizeof(out->signature), sig,
			    sizeof(sig)) != RCPT_OK)
		goto out;
	rcpt_address_format(out->address, key->address);
	snprintf(out->timestamp, sizeof(out->timestamp), "%llu",
		 (unsigned long long)ts_s);
	rc = HTTPD_OK;
out:
	free(msg);
	return rc;
}

/* Decimal seconds, 1..20 digits, no sign, no leading zero. */
static int auth_parse_ts(uint64_t *out, const char *s)
{
	uint64_t v = 0;
	size_t i, n = strlen(s);

	if (n == 0 || n > 19 || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

enum httpd_err httpd_auth_verify(uint8_t signer[RCPT_ADDR_BYTES],
				 const char *address, const char *timestamp,
				 const char *signature,
				 const char *method, const char *target,
				 const char *idem_key,
				 const void *body, size_t body_len,
				 uint64_t now_s)
{
	uint8_t claimed[RCPT_ADDR_BYTES], got[RCPT_ADDR_BYTES];
	uint8_t sig[RCPT_SIG_BYTES];
	uint64_t ts = 0;
	char *msg = NULL;
	size_t len = 0;
	enum httpd_err rc = HTTPD_ERR_ARG;

	if (!signer || !method || !target)
		goto out;
	rc = HTTPD_ERR_AUTH_MISSING;
	if (!address || !timestamp || !signature)
		goto out;
	rc = HTTPD_ERR_AUTH_ADDRESS;
	if (rcpt_address_parse(claimed, address) != RCPT_OK)
		goto out;
	rc = HTTPD_ERR_AUTH_TIMESTAMP;
	if (auth_parse_ts(&ts, timestamp) ||
	    (ts > now_s && ts - now_s > HTTPD_AUTH_SKEW_S) ||
	    (ts < now_s && now_s - ts > HTTPD_AUTH_SKEW_S))
		goto out;
	rc = HTTPD_ERR_AUTH_SIGNATURE;
	if (rcpt_sig_parse(sig, signature) != RCPT_OK)
		goto out;
	rc = httpd_auth_message(&msg, &len, method, target, ts, idem_key,
				body, body_len);
	if (rc)
		goto out;
	rc = HTTPD_ERR_AUTH_SIGNATURE;
	if (rcpt_message_recover(got, sig, msg, len) != RCPT_OK)
		goto out;
	rc = HTTPD_ERR_AUTH_SIGNER;
	if (CRYPTO_memcmp(got, claimed, RCPT_ADDR_BYTES) != 0)
		goto out;
	memcpy(signer, got, RCPT_ADDR_BYTES);
	rc = HTTPD_OK;
out:
	free(msg);
	return rc;
}
