/*
 * api_validators.c: POST /v1/validators (commit to a sampling seed), POST
 * /v1/validators/reveal and GET /v1/validators/{address}.
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

/* ---------------------------------------------------------------- validators */

static json_t *seed_view(const uint8_t who[RCPT_ADDR_BYTES], const struct escrow_seed *sd)
{
	char a[RCPT_ADDR_HEX_BYTES], c[RCPT_HASH_HEX_BYTES], sh[RCPT_HASH_HEX_BYTES];
	json_t *v;

	rcpt_address_format(a, who);
	escrow_hex(c, sizeof(c), sd->commitment, RCPT_HASH_BYTES);
	v = json_pack("{s:s, s:s, s:I}", "address", a, "seedCommitment", c,
		      "committedAt", (json_int_t)sd->committed_at_s);
	if (v && sd->revealed) {
		escrow_hex(sh, sizeof(sh), sd->seed, RCPT_HASH_BYTES);
		json_object_set_new(v, "seed", json_string(sh));
		json_object_set_new(v, "revealedAt", json_integer((json_int_t)sd->revealed_at_s));
	}
	return v;
}

/* The current seed; with `epochs` (GET), also the newest epochs and
 * their audits (api_watch.c). */
static void reply_seed(struct httpd_req *r, struct escrow *e, const uint8_t who[RCPT_ADDR_BYTES],
		       int epochs)
{
	struct escrow_seed sd;
	enum escrow_db_err rc = escrow_db_seed_get(escrow_http_db(e), &sd, who);
	json_t *v, *ep = NULL;

	if (rc == ESCROW_DB_NOT_FOUND) {
		esc_problem(r, ESC_P_VALIDATOR_NOT_FOUND,
			    "this address has never committed to a seed");
		return;
	}
	if (!rc && epochs && !(ep = esc_epochs_view(e, who)))
		rc = ESCROW_DB_FAIL;
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	v = seed_view(who, &sd);
	if (v && ep)
		json_object_set_new(v, "epochs", ep);
	else
		json_decref(ep);
	httpd_reply_json(r, 200, v);
}

/* A bytes32 member `key` of o; answers problem p otherwise. */
static int parse_b32(struct httpd_req *r, uint8_t out[RCPT_HASH_BYTES], json_t *o,
		     const char *key, enum esc_problem_id p)
{
	const char *s = esc_get_str(o, key);

	if (!s || rcpt_hex_decode(out, RCPT_HASH_BYTES, s) != RCPT_OK) {
		esc_problem(r, p, "%s is 0x + 64 hex digits", key);
		return -1;
	}
	return 0;
}

ESC_BODY(esc_body_validator_commit,
	 { "seedCommitment", HTTPD_KEY_HEX32, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_COMMITMENT, "seedCommitment is 0x + 64 hex digits") });


/* A seed commitment or reveal, the write before its audit entry. */
struct seed_step {
	const uint8_t *who, *commitment, *seed;   /* seed NULL: a commitment */
	uint64_t now;
};

static enum escrow_db_err seed_commit(struct escrow_db *db, void *arg)
{
	const struct seed_step *x = arg;

	return escrow_db_seed_commit(db, x->who, x->commitment, x->now);
}

static enum escrow_db_err seed_reveal(struct escrow_db *db, void *arg)
{
	const struct seed_step *x = arg;

	return escrow_db_seed_reveal(db, x->who, x->commitment, x->seed, x->now);
}
void esc_handle_validator_commit(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r);
	const uint8_t *who = httpd_req_signer(r);
	uint8_t cm[RCPT_HASH_BYTES];
	char sub[80], ch[RCPT_HASH_HEX_BYTES];
	enum escrow_db_err rc;
	uint64_t now = esc_now_s();

	ASSAY_ASSERT(who);   /* HTTPD_F_AUTH route */
	if (parse_b32(r, cm, o, "seedCommitment", ESC_P_INVALID_COMMITMENT))
		return;
	if (esc_require_stake(r, e, who, ESC_P_STAKE_TOO_LOW) || esc_db_ready(r, e))
		return;
	escrow_subject_account(sub, who);
	escrow_hex(ch, sizeof(ch), cm, RCPT_HASH_BYTES);
	{
		struct seed_step x = { who, cm, NULL, now };
		rc = escrow_db_write_audit(escrow_http_db(e), seed_commit, &x, sub,
					   "validator-committed",
					   json_pack("{s:s}", "seedCommitment", ch), now);
	}
	if (rc) {
		if (rc == ESCROW_DB_CONFLICT)
			esc_problem(r, ESC_P_COMMITMENT_UNREVEALED,
				    "reveal the seed of the open commitment before committing again");
		else
			esc_reply_db(r, rc);
		return;
	}
	reply_seed(r, e, who, 0);
}

void esc_handle_validator_get(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	uint8_t who[RCPT_ADDR_BYTES];

	if (esc_parse_address(r, who, httpd_req_param(r, 0)))
		return;
	if (esc_db_ready(r, e) == 0)
		reply_seed(r, e, who, 1);
}

ESC_BODY(esc_body_validator_reveal,
	 { "seed", HTTPD_KEY_HEX32, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_SEED, "seed is 0x + 64 hex digits") });

void esc_handle_validator_reveal(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r);
	const uint8_t *who = httpd_req_signer(r);
	struct escrow_seed sd;
	uint8_t seed[RCPT_HASH_BYTES], h[RCPT_HASH_BYTES];
	char sub[80], sh[RCPT_HASH_HEX_BYTES], ch[RCPT_HASH_HEX_BYTES];
	enum escrow_db_err rc;
	uint64_t now = esc_now_s();

	ASSAY_ASSERT(who);   /* HTTPD_F_AUTH route */
	if (parse_b32(r, seed, o, "seed", ESC_P_INVALID_SEED) || esc_db_ready(r, e))
		return;
	rc = escrow_db_seed_get(escrow_http_db(e), &sd, who);
	if (rc == ESCROW_DB_NOT_FOUND || (!rc && sd.revealed)) {
		esc_problem(r, ESC_P_NO_OPEN_COMMITMENT,
			    "commit to a seed first (POST /v1/validators)");
		return;
	}
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	rcpt_keccak256(h, seed, sizeof(seed));
	if (memcmp(h, sd.commitment, RCPT_HASH_BYTES) != 0) {
		esc_problem(r, ESC_P_SEED_MISMATCH,
			    "keccak256(seed) is not the open seedCommitment");
		return;
	}
	escrow_subject_account(sub, who);
	escrow_hex(sh, sizeof(sh), seed, RCPT_HASH_BYTES);
	escrow_hex(ch, sizeof(ch), sd.commitment, RCPT_HASH_BYTES);
	{
		struct seed_step x = { who, sd.commitment, seed, now };
		rc = escrow_db_write_audit(escrow_http_db(e), seed_reveal, &x, sub,
					   "validator-revealed",
					   json_pack("{s:s, s:s}", "seedCommitment", ch, "seed", sh),
					   now);
	}
	if (rc) {
		if (rc == ESCROW_DB_CONFLICT)
			esc_problem(r, ESC_P_NO_OPEN_COMMITMENT,
				    "the commitment was revealed meanwhile");
		else
			esc_reply_db(r, rc);
		return;
	}
	reply_seed(r, e, who, 0);
}
