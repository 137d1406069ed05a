/*
 * api_idem.c: idempotency hooks of the escrow (httpd_config.idem_begin/end):
 * a key is held while its request runs, and the answer is kept for the
 * same key and the same request; and the ledger operation id of an
 * account movement, derived from the key.
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

/* ---------------------------------------------------------------- idempotency hooks */

/* SHA-256 over method, target, signer and body: the same key must come
 * back with the same request. */
static int fingerprint(uint8_t out[RCPT_HASH_BYTES], const struct httpd_req *r)
{
	const uint8_t *signer = httpd_req_signer(r);
	const char *m = httpd_req_method(r), *t = httpd_req_target(r);
	size_t bl = 0;
	const char *b = httpd_req_body(r, &bl);
	size_t n = strlen(m) + 1 + strlen(t) + 1 + RCPT_ADDR_BYTES + 1 + bl;
	uint8_t *buf = calloc(1, n), *w = buf;
	int rc = -1;

	if (!buf)
		return -1;
	memcpy(w, m, strlen(m));
	w += strlen(m) + 1;
	memcpy(w, t, strlen(t));
	w += strlen(t) + 1;
	if (signer)
		memcpy(w, signer, RCPT_ADDR_BYTES);
	w += RCPT_ADDR_BYTES + 1;
	if (bl)
		memcpy(w, b, bl);
	if (rcpt_sha256(out, buf, n) == RCPT_OK)
		rc = 0;
	free(buf);
	return rc;
}

/* Keys of signed requests live in the signer's own namespace, so that one
 * caller can never collide with (or probe) another's keys. */
static void idem_scoped_key(char out[RCPT_ADDR_HEX_BYTES + HTTPD_IDEM_KEY_BYTES_MAX + 2],
			    const struct httpd_req *r)
{
	const uint8_t *signer = httpd_req_signer(r);
	char a[RCPT_ADDR_HEX_BYTES];

	if (!signer) {
		snprintf(out, RCPT_ADDR_HEX_BYTES + HTTPD_IDEM_KEY_BYTES_MAX + 2, "%s",
			 httpd_req_idem_key(r));
		return;
	}
	rcpt_address_format(a, signer);
	snprintf(out, RCPT_ADDR_HEX_BYTES + HTTPD_IDEM_KEY_BYTES_MAX + 2, "%s/%s", a,
		 httpd_req_idem_key(r));
}

int escrow_api_idem_begin(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct escrow_db *db;
	struct escrow_idem_record rec;
	uint8_t fp[RCPT_HASH_BYTES];
	char key[RCPT_ADDR_HEX_BYTES + HTTPD_IDEM_KEY_BYTES_MAX + 2];
	int answered = 1;
	enum escrow_db_err rc;

	ASSAY_ASSERT(httpd_req_idem_key(r));
	idem_scoped_key(key, r);
	if (esc_db_ready(r, e))
		return 1;
	if (fingerprint(fp, r)) {
		esc_problem(r, ESC_P_INTERNAL, NULL);
		return 1;
	}
	db = escrow_http_db(e);
	/* The lock is held until escrow_api_idem_end: the same key in
	 * flight elsewhere is waited for, then replayed. */
	rc = escrow_db_idem_begin(db, &rec, key, fp, esc_now_s());
	if (rc) {
		esc_reply_db(r, rc);
		return 1;
	}
	if (CRYPTO_memcmp(rec.fingerprint, fp, sizeof(fp)) != 0)
		esc_problem(r, ESC_P_IDEMPOTENCY_KEY_REUSED,
			    "this Idempotency-Key was used with another request");
	else if (rec.status)
		httpd_reply_bytes(r, (unsigned)rec.status, rec.ctype, rec.body, rec.body_len);
	else
		answered = 0;   /* new, or cut off (its lock was free): run */
	if (answered)
		escrow_db_idem_unlock(db, key);
	escrow_idem_record_free(&rec);
	return answered;
}

void escrow_api_idem_end(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct escrow_db *db = escrow_http_db(e);
	const char *ctype = NULL, *body = NULL;
	size_t len = 0;
	unsigned status = httpd_req_response(r, &ctype, &body, &len);
	char key[RCPT_ADDR_HEX_BYTES + HTTPD_IDEM_KEY_BYTES_MAX + 2];

	ASSAY_ASSERT(status && httpd_req_idem_key(r));
	idem_scoped_key(key, r);
	/* A 5xx is transient: the key is freed so that a retry runs again. */
	if (escrow_db_idem_finish(db, key, (int)status, ctype, body, len) && status < 500)
		fprintf(stderr, "assay-escrow: could not store an idempotent answer\n");
}

/* An account operation whose first attempt was cut off may or may not
 * have moved money: it is not repeated blindly. */
/* The ledger's operation id for this request's account movement:
 * SHA-256 of a label and the scoped Idempotency-Key, so that a retry
 * under the same key (after a lost answer, an interrupted request or a
 * 5xx) names the same operation and the ledger moves the money once. */
void esc_op_id(uint8_t out[CHAIN_OP_BYTES], const struct httpd_req *r)
{
	static const char label[] = "assay-escrow/account-op/v1\n";
	char key[RCPT_ADDR_HEX_BYTES + HTTPD_IDEM_KEY_BYTES_MAX + 2];
	char buf[sizeof(label) + sizeof(key)];
	int n;

	idem_scoped_key(key, r);
	n = snprintf(buf, sizeof(buf), "%s%s", label, key);
	ASSAY_ASSERT(n > 0 && (size_t)n < sizeof(buf));
	ASSAY_ASSERT(rcpt_sha256(out, (const uint8_t *)buf, (size_t)n) == RCPT_OK);
}
