/*
 * db_watch.c: the SQL of the watch (watch.h): sampling epochs and their
 * audits, provider holds, anomaly flags.  Conventions as db.c's.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assay_assert.h"
#include "db_internal.h"
#include "watch.h"
#include "banned.h"

#define HEXP ESCROW_DBI_HEXP
#define run escrow_dbi_run
#define hexp escrow_dbi_hexp
#define get_bytes escrow_dbi_bytes
#define get_u64 escrow_dbi_u64

/* ---------------------------------------------------------------- epochs */

#define EPOCH_COLS "s.seq, s.validator, s.commitment, s.committed_at_s, s.seed, s.revealed_at_s"
#define AUDIT_COLS "a.sample_bps, a.candidates, a.selected, a.kept, a.unsampled, a.truncated," \
		   " a.audited_at_s"

/* Columns c..c+5 of EPOCH_COLS into ep; -1 when a value is malformed. */
static int epoch_row(struct escrow_epoch *ep, const PGresult *res, int i, int c)
{
	memset(ep, 0, sizeof(*ep));
	ep->seq = (int64_t)get_u64(res, i, c);
	if (get_bytes(ep->validator, RCPT_ADDR_BYTES, res, i, c + 1) ||
	    get_bytes(ep->commitment, RCPT_HASH_BYTES, res, i, c + 2))
		return -1;
	ep->committed_at_s = get_u64(res, i, c + 3);
	if (PQgetisnull(res, i, c + 4))
		return 0;
	if (get_bytes(ep->seed, RCPT_HASH_BYTES, res, i, c + 4))
		return -1;
	ep->revealed = 1;
	ep->revealed_at_s = get_u64(res, i, c + 5);
	return 0;
}

/* Columns c..c+6 of AUDIT_COLS (NULL when the epoch has no audit). */
static void audit_row(struct escrow_epoch_row *r, const PGresult *res, int i, int c)
{
	struct escrow_seed_audit *a = &r->audit;

	r->audited = !PQgetisnull(res, i, c);
	if (!r->audited)
		return;
	a->seq = r->ep.seq;
	memcpy(a->validator, r->ep.validator, RCPT_ADDR_BYTES);
	a->sample_bps = (unsigned)get_u64(res, i, c);
	a->candidates = get_u64(res, i, c + 1);
	a->selected = get_u64(res, i, c + 2);
	a->kept = get_u64(res, i, c + 3);
	a->unsampled = get_u64(res, i, c + 4);
	a->truncated = strcmp(PQgetvalue(res, i, c + 5), "t") == 0;
	a->audited_at_s = get_u64(res, i, c + 6);
}

enum escrow_db_err escrow_db_epoch_unaudited(struct escrow_db *db, struct escrow_epoch *out)
{
	PGresult *res = NULL;
	enum escrow_db_err rc = run(db, &res, "epoch unaudited",
		"SELECT " EPOCH_COLS " FROM escrow_seed_commitments s WHERE s.seed IS NOT NULL"
		" AND NOT EXISTS (SELECT 1 FROM escrow_seed_audits a WHERE a.seq = s.seq)"
		" ORDER BY s.seq LIMIT 1", 0, NULL);

	if (rc)
		return rc;
	rc = PQntuples(res) != 1 ? ESCROW_DB_NOT_FOUND
	     : epoch_row(out, res, 0, 0) ? ESCROW_DB_FAIL : ESCROW_DB_OK;
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_epoch_get(struct escrow_db *db, struct escrow_epoch_row *out,
				       const uint8_t validator[RCPT_ADDR_BYTES], int64_t seq)
{
	char vp[HEXP(RCPT_ADDR_BYTES)], sq[24];
	const char *p[2] = { vp, sq };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	memset(out, 0, sizeof(*out));
	hexp(vp, sizeof(vp), validator, RCPT_ADDR_BYTES);
	snprintf(sq, sizeof(sq), "%" PRId64, seq);
	rc = run(db, &res, "epoch get",
		 "SELECT " EPOCH_COLS ", " AUDIT_COLS " FROM escrow_seed_commitments s"
		 " LEFT JOIN escrow_seed_audits a ON a.seq = s.seq"
		 " WHERE s.validator = $1 AND s.seq = $2::bigint", 2, p);
	if (rc)
		return rc;
	rc = ESCROW_DB_NOT_FOUND;
	if (PQntuples(res) == 1) {
		rc = epoch_row(&out->ep, res, 0, 0) ? ESCROW_DB_FAIL : ESCROW_DB_OK;
		audit_row(out, res, 0, 6);
	}
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_epochs_list(struct escrow_db *db, struct escrow_epoch_row *out,
					 size_t max, size_t *n,
					 const uint8_t validator[RCPT_ADDR_BYTES])
{
	char vp[HEXP(RCPT_ADDR_BYTES)], mx[24];
	const char *p[2] = { vp, mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i;

	*n = 0;
	hexp(vp, sizeof(vp), validator, RCPT_ADDR_BYTES);
	snprintf(mx, sizeof(mx), "%zu", max);
	rc = run(db, &res, "epochs list",
		 "SELECT " EPOCH_COLS ", " AUDIT_COLS " FROM escrow_seed_commitments s"
		 " LEFT JOIN escrow_seed_audits a ON a.seq = s.seq"
		 " WHERE s.validator = $1 ORDER BY s.seq DESC LIMIT $2::bigint", 2, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++) {
		memset(&out[i], 0, sizeof(out[i]));
		if (epoch_row(&out[i].ep, res, i, 0)) {
			rc = ESCROW_DB_FAIL;
			break;
		}
		audit_row(&out[i], res, i, 6);
		(*n)++;
	}
	PQclear(res);
	return rc;
}

/* The epoch's candidates (watch.h): receipted at or after the
 * commitment, the window closed by the reveal and not cut short by an
 * early settlement; with what the validator did about each. */
enum escrow_db_err escrow_db_epoch_page(struct escrow_db *db, struct escrow_epoch_receipt *out,
					size_t max, size_t *n, const struct escrow_epoch *ep,
					const struct escrow_epoch_cursor *after)
{
	char vp[HEXP(RCPT_ADDR_BYTES)], from[24], to[24], at[24], id[HEXP(RCPT_HASH_BYTES)], mx[24];
	const char *p[6] = { vp, from, to, at, id, mx };
	static const uint8_t zero[RCPT_HASH_BYTES];
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i;

	ASSAY_ASSERT(ep->revealed && max > 0);
	*n = 0;
	hexp(vp, sizeof(vp), ep->validator, RCPT_ADDR_BYTES);
	snprintf(from, sizeof(from), "%" PRIu64, ep->committed_at_s);
	snprintf(to, sizeof(to), "%" PRIu64, ep->revealed_at_s);
	/* From the start: before (committed_at, 0x00..). */
	snprintf(at, sizeof(at), "%" PRIu64, after ? after->at_s : ep->committed_at_s);
	hexp(id, sizeof(id), after ? after->id : zero, RCPT_HASH_BYTES);
	snprintf(mx, sizeof(mx), "%zu", max);
	rc = run(db, &res, "epoch page",
		 "SELECT j.id, j.receipt_id, j.receipted_at_s,"
		 " EXISTS (SELECT 1 FROM escrow_attestations a WHERE a.job = j.id"
		 "   AND a.validator = $1),"
		 " EXISTS (SELECT 1 FROM escrow_disputes d WHERE d.job = j.id"
		 "   AND d.validator = $1 AND d.kind = 'withheld')"
		 " FROM escrow_jobs j WHERE j.receipt_id IS NOT NULL"
		 " AND j.receipted_at_s >= $2::bigint AND j.receipted_at_s <= $3::bigint"
		 " AND j.window_end_s <= $3::bigint"
		 " AND (j.settled_at_s IS NULL OR j.settled_at_s >= j.window_end_s)"
		 " AND (j.receipted_at_s, j.id) > ($4::bigint, $5::bytea)"
		 " ORDER BY j.receipted_at_s, j.id LIMIT $6::bigint", 6, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++) {
		struct escrow_epoch_receipt *r = &out[i];
		if (get_bytes(r->job, RCPT_HASH_BYTES, res, i, 0) ||
		    get_bytes(r->receipt_id, RCPT_HASH_BYTES, res, i, 1)) {
			rc = ESCROW_DB_FAIL;
			break;
		}
		r->receipted_at_s = get_u64(res, i, 2);
		r->checked = strcmp(PQgetvalue(res, i, 3), "t") == 0 ? ESCROW_CHECKED_ATTESTED
			     : strcmp(PQgetvalue(res, i, 4), "t") == 0 ? ESCROW_CHECKED_WITHHELD
			     : ESCROW_CHECKED_NONE;
		(*n)++;
	}
	PQclear(res);
	return rc;
}

/* An INSERT ... ON CONFLICT DO NOTHING of one row: ESCROW_DB_CONFLICT
 * when the row was there already. */
static enum escrow_db_err insert_once(struct escrow_db *db, const char *what, const char *sql,
				      int n, const char *const *p)
{
	PGresult *res = NULL;
	enum escrow_db_err rc = run(db, &res, what, sql, n, p);

	if (rc)
		return rc;
	rc = escrow_dbi_affected(res) == 1 ? ESCROW_DB_OK : ESCROW_DB_CONFLICT;
	PQclear(res);
	return rc;
}

struct audit_put {
	const struct escrow_seed_audit *a;
	int lazy;
};

static enum escrow_db_err audit_put_body(struct escrow_db *db, void *arg)
{
	const struct audit_put *x = arg;
	const struct escrow_seed_audit *a = x->a;
	char sq[24], vp[HEXP(RCPT_ADDR_BYTES)], bps[16], c[24], s[24], k[24], u[24], t[24];
	const char *p[9] = { sq, vp, bps, c, s, k, u, a->truncated ? "true" : "false", t };
	char sub[80];
	enum escrow_db_err rc;
	json_t *data;

	snprintf(sq, sizeof(sq), "%" PRId64, a->seq);
	hexp(vp, sizeof(vp), a->validator, RCPT_ADDR_BYTES);
	snprintf(bps, sizeof(bps), "%u", a->sample_bps);
	snprintf(c, sizeof(c), "%" PRIu64, a->candidates);
	snprintf(s, sizeof(s), "%" PRIu64, a->selected);
	snprintf(k, sizeof(k), "%" PRIu64, a->kept);
	snprintf(u, sizeof(u), "%" PRIu64, a->unsampled);
	snprintf(t, sizeof(t), "%" PRIu64, a->audited_at_s);
	rc = insert_once(db, "seed audit put",
			 "INSERT INTO escrow_seed_audits (seq, validator, sample_bps, candidates,"
			 " selected, kept, unsampled, truncated, audited_at_s) VALUES ($1, $2, $3, $4,"
			 " $5, $6, $7, $8, $9) ON CONFLICT (seq) DO NOTHING", 9, p);
	if (rc)
		return rc;
	data = json_pack("{s:I, s:i, s:I, s:I, s:I, s:I, s:I, s:b, s:b}", "epoch",
			 (json_int_t)a->seq, "sampleBps", (int)a->sample_bps,
			 "candidates", (json_int_t)a->candidates, "selected", (json_int_t)a->selected,
			 "kept", (json_int_t)a->kept, "skipped", (json_int_t)(a->selected - a->kept),
			 "unsampled", (json_int_t)a->unsampled, "truncated", a->truncated,
			 "lazy", x->lazy);
	escrow_subject_account(sub, a->validator);
	return data ? escrow_db_audit(db, sub, "seed-audited", data, a->audited_at_s)
		    : ESCROW_DB_FAIL;
}

enum escrow_db_err escrow_db_seed_audit_put(struct escrow_db *db,
					    const struct escrow_seed_audit *a, int lazy)
{
	struct audit_put x = { a, lazy };

	ASSAY_ASSERT(a->kept <= a->selected && a->selected <= a->candidates);
	return escrow_db_txn(db, audit_put_body, &x);
}

/* ---------------------------------------------------------------- holds */

enum escrow_db_err escrow_db_holds_due(struct escrow_db *db, uint8_t (*providers)[RCPT_ADDR_BYTES],
				       uint64_t *frauds, size_t max, size_t *n, uint64_t min_frauds)
{
	char mf[24], mx[24];
	const char *p[2] = { mf, mx };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i;

	*n = 0;
	snprintf(mf, sizeof(mf), "%" PRIu64, min_frauds);
	snprintf(mx, sizeof(mx), "%zu", max);
	rc = run(db, &res, "holds due",
		 "SELECT j.provider, count(DISTINCT d.job) FROM escrow_disputes d"
		 " JOIN escrow_jobs j ON j.id = d.job"
		 " WHERE d.kind = 'fraud' AND d.state = 'provider_wrong'"
		 " AND d.resolved_at_s > COALESCE((SELECT max(h.lifted_at_s)"
		 "   FROM escrow_provider_holds h WHERE h.provider = j.provider), -1)"
		 " AND NOT EXISTS (SELECT 1 FROM escrow_provider_holds h"
		 "   WHERE h.provider = j.provider AND h.lifted_at_s IS NULL)"
		 " GROUP BY j.provider HAVING count(DISTINCT d.job) >= $1::bigint"
		 " ORDER BY j.provider LIMIT $2::bigint", 2, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && (size_t)i < max; i++) {
		if (get_bytes(providers[i], RCPT_ADDR_BYTES, res, i, 0)) {
			rc = ESCROW_DB_FAIL;
			break;
		}
		frauds[i] = get_u64(res, i, 1);
		(*n)++;
	}
	PQclear(res);
	return rc;
}

struct hold_put {
	const uint8_t *provider;
	uint64_t frauds, now;
};

static enum escrow_db_err hold_put_body(struct escrow_db *db, void *arg)
{
	const struct hold_put *x = arg;
	char vp[HEXP(RCPT_ADDR_BYTES)], f[24], t[24], sub[80];
	const char *p[3] = { vp, f, t };
	enum escrow_db_err rc;
	json_t *data;

	hexp(vp, sizeof(vp), x->provider, RCPT_ADDR_BYTES);
	snprintf(f, sizeof(f), "%" PRIu64, x->frauds);
	snprintf(t, sizeof(t), "%" PRIu64, x->now);
	rc = insert_once(db, "hold put",
			 "INSERT INTO escrow_provider_holds (provider, reason, frauds, held_at_s)"
			 " VALUES ($1, 'proven-frauds', $2, $3) ON CONFLICT DO NOTHING", 3, p);
	if (rc)
		return rc;
	data = json_pack("{s:s, s:I}", "reason", "proven-frauds", "frauds", (json_int_t)x->frauds);
	escrow_subject_account(sub, x->provider);
	return data ? escrow_db_audit(db, sub, "hold-placed", data, x->now) : ESCROW_DB_FAIL;
}

enum escrow_db_err escrow_db_hold_put(struct escrow_db *db, const uint8_t provider[RCPT_ADDR_BYTES],
				      uint64_t frauds, uint64_t now_s)
{
	struct hold_put x = { provider, frauds, now_s };

	return escrow_db_txn(db, hold_put_body, &x);
}

enum escrow_db_err escrow_db_hold_get(struct escrow_db *db, const uint8_t provider[RCPT_ADDR_BYTES],
				      int *held, uint64_t *frauds, uint64_t *held_at_s)
{
	char vp[HEXP(RCPT_ADDR_BYTES)];
	const char *p[1] = { vp };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*held = 0;
	*frauds = *held_at_s = 0;
	hexp(vp, sizeof(vp), provider, RCPT_ADDR_BYTES);
	rc = run(db, &res, "hold get",
		 "SELECT frauds, held_at_s FROM escrow_provider_holds"
		 " WHERE provider = $1 AND lifted_at_s IS NULL", 1, p);
	if (rc)
		return rc;
	if (PQntuples(res) == 1) {
		*held = 1;
		*frauds = get_u64(res, 0, 0);
		*held_at_s = get_u64(res, 0, 1);
	}
	PQclear(res);
	return ESCROW_DB_OK;
}

enum escrow_db_err escrow_db_hold_lift(struct escrow_db *db, const uint8_t provider[RCPT_ADDR_BYTES],
				       uint64_t now_s, int *lifted)
{
	char vp[HEXP(RCPT_ADDR_BYTES)], t[24];
	const char *p[2] = { vp, t };
	PGresult *res = NULL;
	enum escrow_db_err rc;

	*lifted = 0;
	hexp(vp, sizeof(vp), provider, RCPT_ADDR_BYTES);
	snprintf(t, sizeof(t), "%" PRIu64, now_s);
	rc = run(db, &res, "hold lift",
		 "UPDATE escrow_provider_holds SET lifted_at_s = GREATEST($2::bigint, held_at_s)"
		 " WHERE provider = $1 AND lifted_at_s IS NULL", 2, p);
	if (rc)
		return rc;
	*lifted = escrow_dbi_affected(res) > 0;
	PQclear(res);
	return ESCROW_DB_OK;
}
