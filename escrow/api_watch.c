/*
 * api_watch.c: what the watch (watch.h) shows.
 *   - a validator's epochs and their audits, in GET /v1/validators/{address};
 *   - GET /v1/validators/{address}/epochs/{seq}: one revealed epoch with a
 *     page of its candidate receipts and what the validator did about
 *     each, so that anyone can redo the audit (`assay audit validator`);
 *   - GET /v1/operator/anomalies: every flag of every rule (the operator's).
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

/* The rate the validator kept, in the unit the escrow announces
 * (sampleBps): its checks per 10^4 candidates. */
static json_int_t checked_bps(const struct escrow_seed_audit *a)
{
	return a->candidates ? (json_int_t)((a->kept + a->unsampled) * 10000u / a->candidates) : 0;
}

static json_t *audit_view(const struct escrow_seed_audit *a)
{
	return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b, s:I}",
			 "sampleBps", (int)a->sample_bps, "checkedBps", checked_bps(a),
			 "candidates", (json_int_t)a->candidates,
			 "selected", (json_int_t)a->selected, "kept", (json_int_t)a->kept,
			 "skipped", (json_int_t)(a->selected - a->kept),
			 "unsampled", (json_int_t)a->unsampled, "truncated", a->truncated,
			 "lazy", escrow_audit_lazy(a), "auditedAt", (json_int_t)a->audited_at_s);
}

static json_t *epoch_view(const struct escrow_epoch_row *row)
{
	const struct escrow_epoch *ep = &row->ep;
	char c[RCPT_HASH_HEX_BYTES], sd[RCPT_HASH_HEX_BYTES];
	json_t *v;

	escrow_hex(c, sizeof(c), ep->commitment, RCPT_HASH_BYTES);
	v = json_pack("{s:I, s:s, s:I}", "epoch", (json_int_t)ep->seq, "seedCommitment", c,
		      "committedAt", (json_int_t)ep->committed_at_s);
	if (v && ep->revealed) {
		escrow_hex(sd, sizeof(sd), ep->seed, RCPT_HASH_BYTES);
		json_object_set_new(v, "seed", json_string(sd));
		json_object_set_new(v, "revealedAt", json_integer((json_int_t)ep->revealed_at_s));
	}
	if (v && row->audited)
		json_object_set_new(v, "audit", audit_view(&row->audit));
	return v;
}

json_t *esc_epochs_view(struct escrow *e, const uint8_t who[RCPT_ADDR_BYTES])
{
	struct escrow_epoch_row rows[ESCROW_EPOCHS_SHOWN];
	size_t n = 0, i;
	json_t *arr;

	if (escrow_db_epochs_list(escrow_http_db(e), rows, ESCROW_EPOCHS_SHOWN, &n, who))
		return NULL;
	arr = json_array();
	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, epoch_view(&rows[i]));
	return arr;
}

/* ---------------------------------------------------------------- one epoch */

static const char *checked_name(enum escrow_checked c)
{
	return c == ESCROW_CHECKED_ATTESTED ? "attested"
	       : c == ESCROW_CHECKED_WITHHELD ? "withheld" : "none";
}

static json_t *receipts_view(const struct escrow_epoch_receipt *p, size_t n)
{
	char j[RCPT_HASH_HEX_BYTES], rid[RCPT_HASH_HEX_BYTES];
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		escrow_hex(j, sizeof(j), p[i].job, RCPT_HASH_BYTES);
		escrow_hex(rid, sizeof(rid), p[i].receipt_id, RCPT_HASH_BYTES);
		json_array_append_new(arr, json_pack("{s:s, s:s, s:I, s:s}", "job", j,
						     "receiptId", rid, "receiptedAt",
						     (json_int_t)p[i].receipted_at_s,
						     "checked", checked_name(p[i].checked)));
	}
	return arr;
}

/* {seq} as a positive decimal; -1 having answered. */
static int parse_seq(struct httpd_req *r, int64_t *seq)
{
	const char *s = httpd_req_param(r, 1);
	size_t len = s ? strlen(s) : 0, k;
	int ok = len > 0 && len <= 18 && s[0] != '0';

	for (k = 0; ok && k < len; k++)
		ok = s[k] >= '0' && s[k] <= '9';
	if (!ok) {
		esc_problem(r, ESC_P_INVALID_REQUEST, "an epoch is a positive decimal number");
		return -1;
	}
	*seq = (int64_t)strtoll(s, NULL, 10);
	return 0;
}

/* The page of row's candidates after the cursor, with the next cursor
 * when the page is full. */
static void reply_epoch_page(struct httpd_req *r, struct escrow *e,
			     const struct escrow_epoch_row *row,
			     const struct escrow_epoch_cursor *after)
{
	struct escrow_epoch_receipt *p = calloc(ESCROW_EPOCH_PAGE_MAX, sizeof(*p));
	char id[RCPT_HASH_HEX_BYTES];
	size_t n = 0;
	enum escrow_db_err rc;
	json_t *v;

	if (!p) {
		esc_problem(r, ESC_P_INTERNAL, NULL);
		return;
	}
	rc = escrow_db_epoch_page(escrow_http_db(e), p, ESCROW_EPOCH_PAGE_MAX, &n, &row->ep,
				  after);
	if (rc) {
		free(p);
		esc_reply_db(r, rc);
		return;
	}
	v = json_pack("{s:o, s:o}", "epoch", epoch_view(row), "receipts", receipts_view(p, n));
	if (v && n == ESCROW_EPOCH_PAGE_MAX) {
		escrow_hex(id, sizeof(id), p[n - 1].job, RCPT_HASH_BYTES);
		json_object_set_new(v, "next", json_pack("{s:I, s:s}", "after",
							 (json_int_t)p[n - 1].receipted_at_s,
							 "afterId", id));
	}
	free(p);
	httpd_reply_json(r, 200, v);
}

/* GET /v1/validators/{address}/epochs/{seq}[?after=T&afterId=JOB] */
void esc_handle_validator_epoch(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	uint8_t who[RCPT_ADDR_BYTES];
	struct escrow_epoch_row row;
	struct escrow_epoch_cursor cur;
	int64_t seq = 0;
	enum escrow_db_err rc;

	if (esc_parse_address(r, who, httpd_req_param(r, 0)) || parse_seq(r, &seq) ||
	    esc_parse_cursor(r, &cur.at_s, cur.id) || esc_db_ready(r, e))
		return;
	rc = escrow_db_epoch_get(escrow_http_db(e), &row, who, seq);
	if (rc == ESCROW_DB_NOT_FOUND) {
		esc_problem(r, ESC_P_VALIDATOR_NOT_FOUND, "this validator has no such epoch");
		return;
	}
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	if (!row.ep.revealed) {
		esc_problem(r, ESC_P_COMMITMENT_UNREVEALED,
			    "the epoch's seed is not revealed: its receipts are not listed yet");
		return;
	}
	reply_epoch_page(r, e, &row, httpd_req_query(r, "after") ? &cur : NULL);
}

/* ---------------------------------------------------------------- anomalies */

static json_t *flag_view(const struct escrow_flag *f)
{
	char a[RCPT_ADDR_HEX_BYTES];
	json_t *v;

	rcpt_address_format(a, f->address);
	v = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I}", "rule", f->rule, "party", f->party,
		      "address", a, "value", (json_int_t)f->value, "unit", f->unit,
		      "bound", (json_int_t)f->bound, "count", (json_int_t)f->count);
	if (v && f->detail[0])
		json_object_set_new(v, "detail", json_string(f->detail));
	return v;
}

/* The operator: a session in the operator role, or a request signed by
 * the --operator key. */
static int is_operator(struct httpd_req *r, struct escrow *e)
{
	const uint8_t *who = httpd_req_signer(r);

	if (httpd_req_role(r) == HTTPD_ROLE_OPERATOR)
		return 1;
	return e->has_operator && who && httpd_req_role(r) == HTTPD_ROLE_NONE &&
	       CRYPTO_memcmp(who, e->operator_addr, RCPT_ADDR_BYTES) == 0;
}

/* GET /v1/operator/anomalies */
void esc_handle_anomalies(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	struct escrow_flag *f = NULL;
	size_t n = 0, i;
	uint64_t now = esc_now_s();
	enum escrow_db_err rc;
	json_t *arr;

	if (!is_operator(r, e)) {
		esc_problem(r, ESC_P_NOT_OPERATOR_READ, NULL);
		return;
	}
	if (esc_db_ready(r, e))
		return;
	rc = escrow_db_flags(escrow_http_db(e), &f, &n, now, e->cfg.hold_after_frauds);
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	arr = json_array();
	for (i = 0; arr && i < n; i++)
		json_array_append_new(arr, flag_view(&f[i]));
	free(f);
	httpd_reply_json(r, 200, json_pack("{s:I, s:I, s:o}", "generatedAt", (json_int_t)now,
					   "lookbackS", (json_int_t)ESCROW_WATCH_LOOKBACK_S,
					   "flags", arr));
}
