/*
 * db_flags.c: the anomaly rules (docs/operations.md, "Anomalies"), one
 * statement each.  Every statement answers rows of (address, value,
 * count, detail) for the addresses that break its rule, at most $1 of
 * them; $2 is the start of the look-back period; $3.. are the rule's
 * bounds.  The bounds live in escrow_limits.h and are sent as
 * parameters, so that the number a flag shows is the number the rule
 * compared.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assay_assert.h"
#include "db_internal.h"
#include "watch.h"
#include "banned.h"

struct flag_rule {
	const char *rule, *party, *what, *sql;
	int n_params;            /* $1 max and $2 since, then the bounds */
	uint64_t bounds[3];      /* $3..: the rule's bounds; bounds[0] is the one shown */
};

/* A proven fraud (a fraud dispute decided against the provider) is
 * always a flag; `held` shows the holds that --hold-after-frauds made. */
static const char sql_frauds[] =
	"SELECT j.provider, count(DISTINCT d.job), count(DISTINCT d.job), ''"
	" FROM escrow_disputes d JOIN escrow_jobs j ON j.id = d.job"
	" WHERE d.kind = 'fraud' AND d.state = 'provider_wrong' AND $2::bigint >= 0"
	" GROUP BY j.provider ORDER BY 2 DESC, 1 LIMIT $1::bigint";
static const char sql_held[] =
	"SELECT provider, frauds, frauds, '' FROM escrow_provider_holds"
	" WHERE lifted_at_s IS NULL AND $2::bigint >= 0 ORDER BY held_at_s, provider"
	" LIMIT $1::bigint";
/* Finished jobs opened in the period; failed: refunded without a receipt
 * (the provider failed it or let its deadline pass). */
static const char sql_failures[] =
	"SELECT provider, (100 * count(*) FILTER (WHERE receipt_id IS NULL)) / count(*),"
	" count(*), '' FROM escrow_jobs WHERE opened_at_s >= $2::bigint"
	" AND state NOT IN ('opening', 'open')"
	" GROUP BY provider HAVING count(*) >= $4::bigint"
	" AND 100 * count(*) FILTER (WHERE receipt_id IS NULL) >= $3::bigint * count(*)"
	" ORDER BY 2 DESC, 1 LIMIT $1::bigint";
/* The receipt's own run time (finishedAt - startedAt, ms) per byte of
 * input and output, the provider's median per kernel against the
 * kernel's median over every provider: a provider that answers far
 * faster than the work allows is skipping it.  Value: how many times
 * faster (capped at 10^6, when its median is zero). */
static const char sql_fast[] =
	"WITH r AS (SELECT provider, kernel,"
	"  ((receipt_json::jsonb->>'finishedAt')::numeric"
	"   - (receipt_json::jsonb->>'startedAt')::numeric)"
	"  / ((receipt_json::jsonb->>'inputSize')::numeric"
	"     + (receipt_json::jsonb->>'outputSize')::numeric) AS t"
	"  FROM escrow_jobs WHERE receipt_id IS NOT NULL AND receipted_at_s >= $2::bigint"
	"  AND (receipt_json::jsonb->>'inputSize')::numeric"
	"      + (receipt_json::jsonb->>'outputSize')::numeric >= $4::numeric),"
	" p AS (SELECT provider, kernel, count(*) AS n,"
	"  percentile_cont(0.5) WITHIN GROUP (ORDER BY t) AS med FROM r GROUP BY provider, kernel),"
	" k AS (SELECT kernel, count(DISTINCT provider) AS np,"
	"  percentile_cont(0.5) WITHIN GROUP (ORDER BY t) AS med FROM r GROUP BY kernel)"
	" SELECT p.provider, COALESCE(LEAST(floor(k.med / NULLIF(p.med, 0)), 1000000),"
	"  1000000)::bigint, p.n, p.kernel FROM p JOIN k USING (kernel)"
	" WHERE k.np >= 2 AND p.n >= $5::bigint AND p.med * $3::bigint < k.med"
	" ORDER BY 1, 4 LIMIT $1::bigint";
/* Fraud claims the referee found wrong (the validator was slashed). */
static const char sql_claims_lost[] =
	"SELECT validator, count(*), count(*), '' FROM escrow_disputes"
	" WHERE kind = 'fraud' AND state = 'validator_wrong' AND $2::bigint >= 0"
	" GROUP BY validator ORDER BY 2 DESC, 1 LIMIT $1::bigint";
/* Epoch audits whose validator skipped more than the share it may
 * (escrow_audit_lazy's rule, the same numbers). */
static const char sql_lazy[] =
	"SELECT validator, (100 * (selected - kept)) / selected, selected, 'epoch ' || seq"
	" FROM escrow_seed_audits WHERE selected > kept AND audited_at_s >= 0 * $2::bigint"
	" AND 100 * (selected - kept) > $3::bigint * selected"
	" ORDER BY seq DESC LIMIT $1::bigint";

static const struct flag_rule rules[] = {
	{ "proven-frauds", "provider", "frauds", sql_frauds, 2, { 1 } },
	{ "held", "provider", "frauds", sql_held, 2, { ESCROW_HOLD_AFTER_FRAUDS_DEFAULT } },
	{ "failures", "provider", "percent", sql_failures, 4, { ESCROW_FAIL_PCT, ESCROW_FAIL_MIN_JOBS } },
	{ "fast-runs", "provider", "times", sql_fast, 5,
	  { ESCROW_FAST_FACTOR, ESCROW_FAST_MIN_BYTES, ESCROW_FAST_MIN_JOBS } },
	{ "claims-lost", "validator", "claims", sql_claims_lost, 2, { 1 } },
	{ "lazy", "validator", "percent", sql_lazy, 3, { ESCROW_LAZY_SKIP_PCT } },
};
#define N_RULES (sizeof(rules) / sizeof(rules[0]))

static enum escrow_db_err rule_rows(struct escrow_db *db, const struct flag_rule *fr,
				    struct escrow_flag *out, size_t *n, uint64_t since_s,
				    uint64_t hold_bound)
{
	char v[5][24];
	const char *p[5] = { v[0], v[1], v[2], v[3], v[4] };
	PGresult *res = NULL;
	enum escrow_db_err rc;
	int i, k;

	snprintf(v[0], sizeof(v[0]), "%u", ESCROW_FLAGS_MAX);
	snprintf(v[1], sizeof(v[1]), "%" PRIu64, since_s);
	for (k = 2; k < fr->n_params; k++)
		snprintf(v[k], sizeof(v[k]), "%" PRIu64, fr->bounds[k - 2]);
	rc = escrow_dbi_run(db, &res, fr->rule, fr->sql, fr->n_params, p);
	if (rc)
		return rc;
	for (i = 0; i < PQntuples(res) && i < (int)ESCROW_FLAGS_MAX; i++) {
		struct escrow_flag *f = &out[*n];
		memset(f, 0, sizeof(*f));
		if (escrow_dbi_bytes(f->address, RCPT_ADDR_BYTES, res, i, 0)) {
			rc = ESCROW_DB_FAIL;
			break;
		}
		f->rule = fr->rule;
		f->party = fr->party;
		f->unit = fr->what;
		f->value = escrow_dbi_u64(res, i, 1);
		f->count = escrow_dbi_u64(res, i, 2);
		f->bound = fr->sql == sql_held ? hold_bound : fr->bounds[0];
		snprintf(f->detail, sizeof(f->detail), "%s", PQgetvalue(res, i, 3));
		(*n)++;
	}
	PQclear(res);
	return rc;
}

enum escrow_db_err escrow_db_flags(struct escrow_db *db, struct escrow_flag **out, size_t *n,
				   uint64_t now_s, uint64_t hold_bound)
{
	uint64_t since = now_s > ESCROW_WATCH_LOOKBACK_S ? now_s - ESCROW_WATCH_LOOKBACK_S : 0;
	enum escrow_db_err rc = ESCROW_DB_OK;
	size_t r;

	*n = 0;
	*out = calloc(N_RULES * ESCROW_FLAGS_MAX, sizeof(**out));
	if (!*out)
		return ESCROW_DB_FAIL;
	for (r = 0; r < N_RULES && !rc; r++)
		rc = rule_rows(db, &rules[r], *out, n, since, hold_bound);
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

size_t escrow_flag_rules(const char *const **names)
{
	static const char *const list[N_RULES] = {
		"proven-frauds", "held", "failures", "fast-runs", "claims-lost", "lazy",
	};

	ASSAY_ASSERT(names);
	for (size_t i = 0; i < N_RULES; i++)
		ASSAY_ASSERT(strcmp(list[i], rules[i].rule) == 0);
	*names = list;
	return N_RULES;
}
