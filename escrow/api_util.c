/*
 * api_util.c: what every escrow handler shares: problem answers for
 * database and ledger errors, strict keys, the request parsers for ids,
 * addresses, amounts and signatures, and each handler thread's own
 * database session and ledger handle (api_internal.h).
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

/* ---------------------------------------------------------------- answers */

void esc_reply_db(struct httpd_req *r, enum escrow_db_err rc)
{
	if (rc == ESCROW_DB_DOWN) {
		esc_problem(r, ESC_P_UNAVAILABLE,
			    "database unavailable; retry later with the same Idempotency-Key");
	} else if (rc == ESCROW_DB_BUSY) {
		esc_problem(r, ESC_P_UNAVAILABLE,
			    "database busy: a lock or resource was not available in time; "
			    "retry later with the same Idempotency-Key");
		httpd_reply_retry_after(r, 2);
	} else
		esc_problem(r, ESC_P_INTERNAL, "the escrow database refused the operation");
}

void esc_reply_chain(struct httpd_req *r, enum chain_err ce)
{
	switch (ce) {
	case CHAIN_ERR_UNAVAILABLE:
	case CHAIN_ERR_CONFLICT:
		esc_problem(r, ESC_P_UNAVAILABLE,
			    "ledger unavailable; retry later with the same Idempotency-Key");
		break;
	case CHAIN_ERR_INSUFFICIENT:
		esc_problem(r, ESC_P_INSUFFICIENT_FUNDS, "%s", chain_strerror(ce));
		break;
	case CHAIN_ERR_OVERFLOW:
		esc_problem(r, ESC_P_AMOUNT_OUT_OF_RANGE, "a balance would pass 2^256 - 1");
		break;
	case CHAIN_ERR_STAKE_LOW:
		esc_problem(r, ESC_P_PROVIDER_STAKE_LOW,
			    "the provider holds less than the minimum stake");
		break;
	case CHAIN_ERR_NOT_DEVNET:
		esc_problem(r, ESC_P_NOT_DEVNET, "the faucet exists only on a devnet");
		break;
	case CHAIN_ERR_OP_REUSED:
		esc_problem(r, ESC_P_IDEMPOTENCY_KEY_REUSED,
			    "this Idempotency-Key was used with another request");
		break;
	case CHAIN_ERR_ARG:
		esc_problem(r, ESC_P_INVALID_AMOUNT,
			    "the ledger refused the amount: %s", chain_strerror(ce));
		break;
	default:
		esc_problem(r, ESC_P_INTERNAL, "ledger error %s", chain_errname(ce));
		break;
	}
}

const char *esc_get_str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Compact text of a sub-object, for the receipts parsers. */
char *esc_dump(json_t *o)
{
	return json_is_object(o) ? json_dumps(o, JSON_COMPACT) : NULL;
}

int esc_parse_id(struct httpd_req *r, uint8_t id[RCPT_HASH_BYTES])
{
	const char *p = httpd_req_param(r, 0);

	if (!p || rcpt_hex_decode(id, RCPT_HASH_BYTES, p) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_JOB_ID, "a job id is 0x + 64 hex digits");
		return -1;
	}
	return 0;
}

/* Canonical amount: decimal uint256, non-zero. */
/* An account address: 0x + 40 hex digits (EIP-55 when mixed case), and
 * not the zero address, which nobody holds a key for.  Answers 400
 * invalid-address and returns -1 otherwise. */
int esc_parse_address(struct httpd_req *r, uint8_t out[RCPT_ADDR_BYTES], const char *text)
{
	static const uint8_t zero[RCPT_ADDR_BYTES];

	if (!text || rcpt_address_parse(out, text) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_ADDRESS,
			    "an address is 0x + 40 hex digits (EIP-55 when mixed case)");
		return -1;
	}
	if (memcmp(out, zero, RCPT_ADDR_BYTES) == 0) {
		esc_problem(r, ESC_P_INVALID_ADDRESS,
			    "the zero address holds no key and no account");
		return -1;
	}
	return 0;
}

int esc_parse_amount(struct httpd_req *r, struct rcpt_u256 *out, json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || rcpt_u256_parse(out, s) != RCPT_OK) {
		esc_problem(r, ESC_P_INVALID_AMOUNT,
			    "an amount is a decimal string without sign, leading zeros or exponent, below 2^256");
		return -1;
	}
	if (escrow_u256_is_zero(out)) {
		esc_problem(r, ESC_P_INVALID_AMOUNT, "the amount must not be zero");
		return -1;
	}
	return 0;
}

enum rcpt_err esc_get_sig(uint8_t sig[RCPT_SIG_BYTES], json_t *o, const char *key)
{
	const char *s = esc_get_str(o, key);

	return s ? rcpt_sig_parse(sig, s) : RCPT_ERR_SIG_FORMAT;
}

void esc_sig_problem(struct httpd_req *r, const char *what, enum rcpt_err re)
{
	esc_problem(r, ESC_P_INVALID_SIGNATURE, "%s: %s%s", what, rcpt_strerror(re),
		    re == RCPT_ERR_SIG_HIGH_S ? " (EIP-2 low-S required)" : "");
}

/* ---------------------------------------------------------------- handler threads */

/* Each handler thread (httpd_config.workers) has its own database session
 * and ledger handle, so the connections form a pool bounded by the
 * threads; without handler threads the serving thread uses the escrow's
 * own (struct escrow's db and chain). */
struct http_ctx {
	struct escrow_db db;
	struct chain *chain;
};

static __thread struct http_ctx *tl_http;

struct escrow_db *escrow_http_db(struct escrow *e)
{
	return tl_http ? &tl_http->db : &e->db;
}

struct chain **esc_chain_slot(struct escrow *e)
{
	return tl_http ? &tl_http->chain : &e->chain;
}

void escrow_api_worker_start(void *cls, unsigned index)
{
	struct escrow *e = cls;
	struct http_ctx *c = calloc(1, sizeof(*c));

	(void)index;
	/* Sharing the escrow's session between threads is never an option. */
	ASSAY_ASSERT(c);
	/* Opened now; should the database be down, esc_db_ready reopens it. */
	(void)escrow_db_open(&c->db, e->cfg.conninfo, "http-worker");
	tl_http = c;
}

void escrow_api_worker_stop(void *cls)
{
	struct http_ctx *c = tl_http;

	(void)cls;
	if (!c)
		return;
	chain_free(c->chain);
	escrow_db_close(&c->db);
	free(c);
	tl_http = NULL;
}

/* Fresh chain handle for the calling handler thread; answers 503 when none. */
struct chain *esc_chain(struct httpd_req *r, struct escrow *e)
{
	struct rcpt_diag diag;
	enum escrow_db_err rc = escrow_db_idem_intact(escrow_http_db(e));
	enum chain_err ce;

	/* No ledger movement for a request that lost its idempotency lock. */
	if (rc) {
		esc_reply_db(r, rc);
		return NULL;
	}
	ce = escrow_chain_ensure(e, esc_chain_slot(e), &diag);
	if (ce) {
		esc_reply_chain(r, ce);
		return NULL;
	}
	return *esc_chain_slot(e);
}

/* After a ledger call: an unreachable backend is reopened next time. */
enum chain_err esc_chain_seen(struct escrow *e, enum chain_err ce)
{
	if (ce == CHAIN_ERR_UNAVAILABLE) {
		chain_free(*esc_chain_slot(e));
		*esc_chain_slot(e) = NULL;
	}
	return ce;
}

int esc_db_ready(struct httpd_req *r, struct escrow *e)
{
	enum escrow_db_err rc = escrow_db_ensure(escrow_http_db(e));

	if (rc) {
		esc_reply_db(r, rc);
		return -1;
	}
	return 0;
}

/* Loads job `id`: 0, or -1 having answered (404 or a database error). */
int esc_load_job(struct httpd_req *r, struct escrow *e, struct escrow_job *j,
		    const uint8_t id[RCPT_HASH_BYTES])
{
	enum escrow_db_err rc = escrow_db_job_get(escrow_http_db(e), j, id);

	if (rc == ESCROW_DB_NOT_FOUND) {
		esc_problem(r, ESC_P_JOB_NOT_FOUND, NULL);
		return -1;
	}
	if (rc) {
		esc_reply_db(r, rc);
		return -1;
	}
	return 0;
}

const struct httpd_body_decl esc_body_empty = { NULL, 0 };

/* {"reason": string}: POST /v1/jobs/{id}/fail and /withheld.  The detail
 * is esc_parse_reason's, whose bound it names. */
_Static_assert(ESCROW_REASON_BYTES_MAX == 200u, "the refusal below names 200 bytes");
ESC_BODY(esc_body_reason,
	 { "reason", HTTPD_KEY_STRING, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_REASON,
		      "reason is a string of at most 200 printable ASCII bytes") });

/* Parse, then database, then the job: an {id} route's first answers. */
int esc_job_prelude(struct httpd_req *r, struct escrow *e, uint8_t id[RCPT_HASH_BYTES],
		    struct escrow_job *j)
{
	ASSAY_ASSERT(r && e && id);
	if (esc_parse_id(r, id) || esc_db_ready(r, e))
		return -1;
	return j ? esc_load_job(r, e, j, id) : 0;
}

/* A short free text: at most ESCROW_REASON_BYTES_MAX printable ASCII
 * bytes.  NULL having answered 400 otherwise. */
const char *esc_parse_reason(struct httpd_req *r, json_t *o)
{
	json_t *v = json_object_get(o, "reason");
	const char *s = json_string_value(v);
	size_t i, n = s ? json_string_length(v) : 0;

	for (i = 0; s && i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			s = NULL;
	if (!s || n > ESCROW_REASON_BYTES_MAX) {
		esc_problem(r, ESC_P_INVALID_REASON,
			    "reason is a string of at most %u printable ASCII bytes",
			    ESCROW_REASON_BYTES_MAX);
		return NULL;
	}
	return s;
}

/* Whether `who` stakes at least --min-stake, into *enough. */
int esc_stake_check(struct httpd_req *r, struct escrow *e, int *enough,
		    const uint8_t who[RCPT_ADDR_BYTES])
{
	struct chain_balance b;
	struct chain *ch = esc_chain(r, e);
	enum chain_err ce;

	*enough = 0;
	if (!ch)
		return -1;
	ce = esc_chain_seen(e, chain_balance(ch, &b, who));
	if (ce) {
		esc_reply_chain(r, ce);
		return -1;
	}
	*enough = !(rcpt_u256_cmp(&b.stake, &e->cfg.min_stake) < 0 ||
		    escrow_u256_is_zero(&b.stake));
	return 0;
}

/* Stake of `who` at least --min-stake; else answers 403 `slug`. */
int esc_require_stake(struct httpd_req *r, struct escrow *e,
			 const uint8_t who[RCPT_ADDR_BYTES], enum esc_problem_id p)
{
	char ms[RCPT_U256_DEC_BYTES];
	int enough = 0;

	if (esc_stake_check(r, e, &enough, who))
		return -1;
	if (!enough) {
		rcpt_u256_format(ms, &e->cfg.min_stake);
		esc_problem(r, p, "the signer must hold at least the minimum stake (%s)", ms);
		return -1;
	}
	return 0;
}

/* ?after=T[&afterId=ID]: a page cursor of Unix seconds and a job id. */
int esc_parse_cursor(struct httpd_req *r, uint64_t *after_s, uint8_t after_id[RCPT_HASH_BYTES])
{
	const char *after = httpd_req_query(r, "after"), *id = httpd_req_query(r, "afterId");
	size_t k, len;
	int ok;

	*after_s = 0;
	memset(after_id, 0, RCPT_HASH_BYTES);
	if (after) {
		len = strlen(after);
		ok = len > 0 && len <= 16 && (after[0] != '0' || len == 1);
		for (k = 0; ok && k < len; k++)
			ok = after[k] >= '0' && after[k] <= '9';
		if (ok)
			*after_s = strtoull(after, NULL, 10);
		if (!ok || *after_s > RCPT_JSON_UINT_MAX) {
			esc_problem(r, ESC_P_INVALID_CURSOR, "after is Unix seconds (a decimal uint64)");
			return -1;
		}
	}
	if (id && (!after || rcpt_hex_decode(after_id, RCPT_HASH_BYTES, id) != RCPT_OK)) {
		esc_problem(r, ESC_P_INVALID_CURSOR, "afterId is a job id and comes with after");
		return -1;
	}
	return 0;
}
