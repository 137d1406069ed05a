/*
 * cmd_reconcile.c: `assay reconcile`, a party's own records against the
 * escrow's (issue 17).
 *
 *   assay reconcile --escrow URL (--key FILE | --address ADDR)
 *                   [--provider-data DIR] [--bundles DIR] [--audit-dir DIR]
 *                   [--since UNIX]
 *
 * The records: a provider's data directory (DIR/jobs/ID/meta.json, what
 * assay-provider keeps per job: the JobSpec, and the Receipt it signed
 * once it has one) and a customer's saved bundles (every *.json of DIR,
 * as `assay job submit|fetch --bundle` saves them); and saved audit
 * chains (every *.json of --audit-dir, as `assay escrow audit` prints
 * what GET /v1/audit answered).  Every record must name the party (--key's
 * address, or --address) as the job's customer or provider.
 *
 * The escrow's views: GET /v1/jobs/{id} for each record, GET
 * /v1/jobs?state=paid (every page, from --since) for the paid jobs the
 * party has no record of, GET /v1/audit for each saved chain (signed
 * with --key, or with the environment's API key, as `assay escrow`).
 *
 * Every difference is one line on stdout, `KIND SUBJECT key=value...`,
 * sorted by job id within each pass (records, paid jobs, audit chains):
 *   unknown-to-escrow 0xJOB                   the escrow has no such job
 *   amount-differs 0xJOB field=F local=A escrow=B   F maxPrice or price
 *   receipt-differs 0xJOB                     same price, another receipt
 *   receipt-not-settled 0xJOB state=S         a receipt, and the escrow
 *                                             holds none or refunded it
 *   paid-without-receipt 0xJOB price=P        paid, and no receipt here
 *   audit-not-extending SUBJECT entry=K       entry K differs
 *   audit-not-extending SUBJECT entries=N escrow-entries=M   the escrow's
 *                                             chain is shorter (or refused)
 * A job still in its challenge window (receipted, disputed, releasing)
 * is no difference: it is not settled yet.
 *
 * Exit 0 without differences, 1 with, 2 for unusable arguments, a record
 * that cannot be read or parsed, or an escrow that does not answer as
 * its API promises.  Errors are one line on stderr; nothing secret (the
 * key signs the audit requests and is wiped) reaches either stream.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "assay_assert.h"
#include "cli.h"
#include "httpd.h"
#include "httpd_client.h"
#include "receipts.h"

#include "banned.h"

/* ------------------------------------------------------------------ */
/* Limits, each with its reason                                         */

/* Records of one run (jobs in a data directory or bundles): a provider
 * keeps a job's record a day after settlement, and 10,000 jobs a day is
 * past what one provider runs; more is refused, not cut. */
#define RECON_RECORDS_MAX 10000u
/* Directory entries looked at in one directory (records and others). */
#define RECON_DIR_ENTRIES_MAX 20000u
/* A meta.json (the provider's own bound is 64 KiB) or a bundle (two
 * statements of at most RCPT_JSON_BYTES_MAX each and two signatures). */
#define RECON_RECORD_BYTES_MAX (1024u * 1024u)
/* Saved audit chains of one run, and one chain's file: 1000 entries
 * (the escrow's ESCROW_AUDIT_ENTRIES_MAX) are well under 16 MiB. */
#define RECON_AUDIT_FILES_MAX 1000u
#define RECON_AUDIT_BYTES_MAX (16u * 1024u * 1024u)
/* Pages of GET /v1/jobs?state=paid (100 jobs each): 100,000 paid jobs
 * after --since; past that, a later --since. */
#define RECON_PAGES_MAX 1000u
/* An answer (an audit chain of 1000 entries, a page of 100 jobs) and a
 * whole exchange. */
#define RECON_RESPONSE_BYTES_MAX (4u * 1024u * 1024u)
#define RECON_TIMEOUT_MS 60000L
/* Base URL and paths. */
#define RECON_URL_BYTES_MAX 512u
#define RECON_PATH_BYTES 4096u
/* The escrow's page size (ESCROW_LIST_MAX): a shorter page is the last. */
#define RECON_PAGE_JOBS 100u

static const char RECON_USAGE[] =
	"usage: assay reconcile --escrow URL (--key FILE | --address ADDR)\n"
	"                       [--provider-data DIR] [--bundles DIR] [--audit-dir DIR]\n"
	"                       [--since UNIX]\n"
	"\n"
	"Compares your own records with the escrow's jobs, payments and audit log\n"
	"and prints every difference, one a line: KIND SUBJECT key=value...\n"
	"  --provider-data DIR  a provider's data directory (DIR/jobs/ID/meta.json)\n"
	"  --bundles DIR        a customer's saved bundles (DIR/*.json)\n"
	"  --audit-dir DIR      saved audit chains (DIR/*.json, from assay escrow audit)\n"
	"  --since UNIX         look at paid jobs receipted after this time only\n"
	"  --key FILE           your wallet key: whose records, and signs the audit reads\n"
	"  --address ADDR       whose records, without the wallet key: the audit reads\n"
	"                       then carry ASSAY_API_KEY_FILE's or ASSAY_API_KEY's key\n"
	"                       (scope audit:read)\n"
	"kinds: unknown-to-escrow, amount-differs, receipt-differs, receipt-not-settled,\n"
	"       paid-without-receipt, audit-not-extending\n"
	"exit: 0 no difference, 1 differences, 2 unusable arguments, records or answers.\n";

enum { R_ESCROW, R_KEY, R_ADDRESS, R_PDATA, R_BUNDLES, R_AUDIT, R_SINCE, R_COUNT_ };

static const struct cli_opt recon_opts[R_COUNT_] = {
	[R_ESCROW] = { "escrow", 0, 1 },
	[R_KEY] = { "key", 0, 0 },
	[R_ADDRESS] = { "address", 0, 0 },
	[R_PDATA] = { "provider-data", 0, 0 },
	[R_BUNDLES] = { "bundles", 0, 0 },
	[R_AUDIT] = { "audit-dir", 0, 0 },
	[R_SINCE] = { "since", 0, 0 },
};

/* One job as the party recorded it. */
struct recon_rec {
	uint8_t id[RCPT_HASH_BYTES];
	char idh[RCPT_HASH_HEX_BYTES];
	char max_price[RCPT_U256_DEC_BYTES];
	int has_receipt;
	char price[RCPT_U256_DEC_BYTES];
	char receipt_sig[RCPT_SIG_HEX_BYTES];
};

struct recon {
	char base[RECON_URL_BYTES_MAX + 1];
	uint8_t addr[RCPT_ADDR_BYTES];      /* the party: --key's or --address */
	int has_key;
	struct rcpt_key key;                /* --key; wiped at the end */
	char bearer[HTTPD_APIKEY_TOKEN_BYTES + 1];   /* else an API key; wiped */
	struct recon_rec *recs;
	size_t n;
	unsigned long differences;
};

/* One difference on stdout. */
static void diff_line(struct recon *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void diff_line(struct recon *r, const char *fmt, ...)
{
	va_list ap;

	ASSAY_ASSERT(r && fmt && strchr(fmt, '\n') == NULL);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	r->differences++;
}

static int check_url(struct recon *r, const char *url)
{
	size_t n = strlen(url);
	const char *host = strncmp(url, "http://", 7) == 0    ? url + 7
			   : strncmp(url, "https://", 8) == 0 ? url + 8
							      : NULL;

	if (!host || n > RECON_URL_BYTES_MAX || !host[0] || host[0] == '/') {
		cli_err("reconcile: --escrow '%.64s' is not an http:// or https:// URL of at most %u bytes",
			url, RECON_URL_BYTES_MAX);
		return -1;
	}
	for (const char *p = host; *p; p++) {
		if (*p == '@' || *p == '?' || *p == '#' || (unsigned char)*p <= ' ' ||
		    (unsigned char)*p >= 0x7f) {
			cli_err("reconcile: --escrow '%.64s' may not hold credentials, a query, a "
				"fragment or spaces", url);
			return -1;
		}
	}
	memcpy(r->base, url, n + 1);
	while (n > 0 && r->base[n - 1] == '/')
		r->base[--n] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* The escrow                                                           */

/* GET target (signed by the key when `sign`): 0 with *status and, for a
 * 2xx JSON object, *doc (the caller decrefs; NULL otherwise); -1 after
 * saying why no usable answer came. */
static int recon_get(struct recon *r, long *status, json_t **doc, const char *target, int sign)
{
	struct httpd_client_req req = { 0 };
	struct httpd_client_resp resp;
	json_error_t je;
	char why[300];

	ASSAY_ASSERT(r && status && doc && target && target[0] == '/');
	*doc = NULL;
	req.method = "GET";
	req.base_url = r->base;
	req.target = target;
	req.key = sign && r->has_key ? &r->key : NULL;
	req.bearer = sign && !r->has_key && r->bearer[0] ? r->bearer : NULL;
	req.response_bytes_max = RECON_RESPONSE_BYTES_MAX;
	req.timeout_ms = RECON_TIMEOUT_MS;
	if (httpd_client_request(&resp, why, sizeof(why), &req) != HTTPD_OK) {
		cli_err("reconcile: %s", why);
		return -1;
	}
	ASSAY_ASSERT(resp.len <= RECON_RESPONSE_BYTES_MAX);
	*status = resp.status;
	if (resp.status >= 200 && resp.status < 300) {
		*doc = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(*doc)) {
			json_decref(*doc);
			*doc = NULL;
			cli_err("reconcile: '%s' answered HTTP %ld without a JSON object", r->base,
				resp.status);
			httpd_client_resp_free(&resp);
			return -1;
		}
	}
	httpd_client_resp_free(&resp);
	return 0;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* A value from the escrow as it may appear in a difference line: a
 * token of [0-9A-Za-z_x-] of at most 80 bytes (states, decimal amounts,
 * hex ids), else "invalid", so that no answer can break the one-line
 * format or inject a line of its own. */
static const char *token(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 80 ||
	    strspn(s, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-") != n)
		return "invalid";
	return s;
}

/* ------------------------------------------------------------------ */
/* The party's records                                                  */

static int rec_cmp(const void *a, const void *b)
{
	return memcmp(((const struct recon_rec *)a)->id, ((const struct recon_rec *)b)->id,
		      RCPT_HASH_BYTES);
}

/* A record's job and receipt into the next slot; the record must be the
 * party's.  0, or 2 after saying why. */
static int rec_add(struct recon *r, const char *path, const uint8_t id[RCPT_HASH_BYTES],
		   const struct rcpt_job *job, const struct rcpt_receipt *rc,
		   const uint8_t *receipt_sig)
{
	struct recon_rec *x;

	ASSAY_ASSERT(r && r->recs && path && id && job && (!rc || receipt_sig));
	if (memcmp(job->customer, r->addr, RCPT_ADDR_BYTES) != 0 &&
	    memcmp(job->provider, r->addr, RCPT_ADDR_BYTES) != 0) {
		cli_err("reconcile: record '%.200s' is not this key's: it names another customer and provider",
			path);
		return 2;
	}
	if (r->n >= RECON_RECORDS_MAX) {
		cli_err("reconcile: more than %u records", RECON_RECORDS_MAX);
		return 2;
	}
	x = &r->recs[r->n++];
	ASSAY_ASSERT(r->n <= RECON_RECORDS_MAX);
	memset(x, 0, sizeof(*x));
	memcpy(x->id, id, RCPT_HASH_BYTES);
	if (rcpt_hex_encode(x->idh, sizeof(x->idh), id, RCPT_HASH_BYTES) != RCPT_OK)
		return 2;
	rcpt_u256_format(x->max_price, &job->max_price);
	if (rc) {
		x->has_receipt = 1;
		rcpt_u256_format(x->price, &rc->price);
		if (rcpt_hex_encode(x->receipt_sig, sizeof(x->receipt_sig), receipt_sig,
				    RCPT_SIG_BYTES) != RCPT_OK)
			return 2;
	}
	return 0;
}

/* A customer's saved bundle (strict: PROTOCOL.md section 4). */
static int load_bundle(struct recon *r, const char *path)
{
	struct rcpt_bundle b;
	struct rcpt_diag d = { "" };
	char *data = NULL;
	size_t len = 0;
	int rc = 2, rd;

	rd = cli_read_file(&data, &len, path, RECON_RECORD_BYTES_MAX);
	if (rd == CLI_READ_TOO_LARGE)
		cli_err("reconcile: bundle '%.200s' is over %u bytes", path, RECON_RECORD_BYTES_MAX);
	if (rd)
		goto out;
	if (rcpt_bundle_parse(&b, &d, data, len) != RCPT_OK) {
		cli_err("reconcile: could not parse bundle '%.200s': %s", path, d.msg);
		goto out;
	}
	rc = rec_add(r, path, b.receipt.job, &b.job, &b.receipt, b.receipt_sig);
out:
	free(data);
	return rc;
}

/* The statement at key `k` of a provider's meta.json, parsed strictly. */
static int meta_statement(json_t *m, const char *k, void *out, int is_receipt)
{
	struct rcpt_diag d = { "" };
	char *t = json_dumps(json_object_get(m, k), JSON_COMPACT);
	enum rcpt_err e;

	if (!t)
		return -1;
	e = is_receipt ? rcpt_receipt_parse(out, &d, t, strlen(t))
		       : rcpt_job_parse(out, &d, t, strlen(t));
	free(t);
	return e == RCPT_OK ? 0 : -1;
}

/* A provider's JOBS/NAME/meta.json: the job (its id is NAME) and, once
 * it has one, the receipt it signed. */
static int load_meta(struct recon *r, const char *jobs, const char *name)
{
	char path[RECON_PATH_BYTES], idh[RCPT_HASH_HEX_BYTES];
	uint8_t id[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
	struct rcpt_job job;
	struct rcpt_receipt rc;
	json_t *m = NULL;
	char *data = NULL;
	size_t len = 0;
	int ret = 2, has_r, rd;

	snprintf(idh, sizeof(idh), "0x%.64s", name);
	if (strlen(name) != 2 * RCPT_HASH_BYTES || rcpt_hex_decode(id, sizeof(id), idh) != RCPT_OK)
		return 0;   /* not a job's directory */
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/meta.json", jobs, name) >= sizeof(path))
		return 2;
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 0;   /* a directory the provider is removing: no record */
	rd = cli_read_file(&data, &len, path, RECON_RECORD_BYTES_MAX);
	if (rd == CLI_READ_TOO_LARGE)
		cli_err("reconcile: '%.200s' is over %u bytes", path, RECON_RECORD_BYTES_MAX);
	if (rd)
		goto out;
	m = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	has_r = json_object_get(m, "receipt") != NULL;
	if (!json_is_object(m) || json_integer_value(json_object_get(m, "v")) != 1 ||
	    meta_statement(m, "job", &job, 0) ||
	    (has_r && (meta_statement(m, "receipt", &rc, 1) ||
		       rcpt_hex_decode(sig, sizeof(sig), jstr(m, "receiptSignature")) != RCPT_OK))) {
		cli_err("reconcile: could not parse '%.200s' as a provider's job record", path);
		goto out;
	}
	ret = rec_add(r, path, id, &job, has_r ? &rc : NULL, sig);
out:
	json_decref(m);
	free(data);
	return ret;
}

/* Calls each(r, dir, name) for each entry of dir whose name ends in
 * `suffix` ("" any but dot files), at most RECON_DIR_ENTRIES_MAX.  0, or
 * the first nonzero of each, or 2 after saying why. */
static int each_entry(struct recon *r, const char *dir, const char *suffix, unsigned max,
		      int (*each)(struct recon *, const char *, const char *))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned seen = 0, taken = 0;
	int rc = 0;

	if (!d) {
		cli_err("reconcile: could not open directory '%.200s'", dir);
		return 2;
	}
	while (!rc && (e = readdir(d))) {
		size_t nl = strlen(e->d_name), sl = strlen(suffix);
		if (++seen > RECON_DIR_ENTRIES_MAX) {
			cli_err("reconcile: '%.200s' holds more than %u entries", dir,
				RECON_DIR_ENTRIES_MAX);
			rc = 2;
			break;
		}
		if (e->d_name[0] == '.' || nl < sl || strcmp(e->d_name + nl - sl, suffix) != 0)
			continue;
		if (++taken > max) {
			cli_err("reconcile: '%.200s' holds more than %u records", dir, max);
			rc = 2;
			break;
		}
		rc = each(r, dir, e->d_name);
	}
	closedir(d);
	return rc;
}

static int each_bundle(struct recon *r, const char *dir, const char *name)
{
	char path[RECON_PATH_BYTES];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return 2;
	return load_bundle(r, path);
}

static int load_provider_data(struct recon *r, const char *dir)
{
	char jobs[RECON_PATH_BYTES];

	if ((size_t)snprintf(jobs, sizeof(jobs), "%s/jobs", dir) >= sizeof(jobs))
		return 2;
	return each_entry(r, jobs, "", RECON_RECORDS_MAX, load_meta);
}

/* ------------------------------------------------------------------ */
/* The comparisons                                                      */

/* A recorded job that has a receipt, against the escrow's view v. */
static void check_receipted(struct recon *r, const struct recon_rec *x, json_t *v)
{
	const char *state = jstr(v, "state"), *price = jstr(v, "price");

	if (!json_object_get(v, "receiptId") || strcmp(state, "refunded") == 0 ||
	    strcmp(state, "refunding") == 0) {
		diff_line(r, "receipt-not-settled %s state=%s", x->idh, token(state));
		return;
	}
	if (strcmp(price, x->price) != 0) {
		diff_line(r, "amount-differs %s field=price local=%s escrow=%s", x->idh, x->price,
			  token(price));
		return;
	}
	if (strcasecmp(jstr(v, "receiptSignature"), x->receipt_sig) != 0)
		diff_line(r, "receipt-differs %s", x->idh);
}

/* One record against GET /v1/jobs/{id}.  0, or 2 after saying why. */
static int check_record(struct recon *r, const struct recon_rec *x)
{
	char target[128];
	json_t *v = NULL;
	long status = 0;
	const char *mp;

	ASSAY_ASSERT(x && strlen(x->idh) == 2 + 2 * RCPT_HASH_BYTES);
	snprintf(target, sizeof(target), "/v1/jobs/%s", x->idh);
	if (recon_get(r, &status, &v, target, 0))
		return 2;
	if (status == 404) {
		diff_line(r, "unknown-to-escrow %s", x->idh);
		return 0;
	}
	if (!v) {
		cli_err("reconcile: '%s' answered GET /v1/jobs/%s with HTTP %ld", r->base, x->idh,
			status);
		return 2;
	}
	mp = jstr(v, "maxPrice");
	if (strcmp(mp, x->max_price) != 0)
		diff_line(r, "amount-differs %s field=maxPrice local=%s escrow=%s", x->idh,
			  x->max_price, token(mp));
	else if (x->has_receipt)
		check_receipted(r, x, v);
	else if (strcmp(jstr(v, "state"), "paid") == 0)
		diff_line(r, "paid-without-receipt %s price=%s", x->idh, token(jstr(v, "price")));
	json_decref(v);
	return 0;
}

static int has_record(const struct recon *r, const uint8_t id[RCPT_HASH_BYTES])
{
	struct recon_rec key;

	memcpy(key.id, id, RCPT_HASH_BYTES);
	return r->n && bsearch(&key, r->recs, r->n, sizeof(*r->recs), rec_cmp) != NULL;
}

/* One job of a page of paid jobs: this party's, and no record of it? */
static void check_paid(struct recon *r, json_t *job)
{
	uint8_t id[RCPT_HASH_BYTES], c[RCPT_ADDR_BYTES], p[RCPT_ADDR_BYTES];

	if (rcpt_hex_decode(id, sizeof(id), jstr(job, "id")) != RCPT_OK ||
	    rcpt_address_parse(c, jstr(job, "customer")) != RCPT_OK ||
	    rcpt_address_parse(p, jstr(job, "provider")) != RCPT_OK)
		return;
	if (memcmp(c, r->addr, RCPT_ADDR_BYTES) != 0 &&
	    memcmp(p, r->addr, RCPT_ADDR_BYTES) != 0)
		return;
	if (!has_record(r, id))
		diff_line(r, "paid-without-receipt %s price=%s", token(jstr(job, "id")),
			  token(jstr(job, "price")));
}

/* Every page of GET /v1/jobs?state=paid after `since`.  0, or 2. */
static int scan_paid(struct recon *r, const char *since)
{
	char target[256], after[32], after_id[RCPT_HASH_HEX_BYTES] = "";
	unsigned page;
	size_t i, n = RECON_PAGE_JOBS;
	json_t *doc = NULL, *jobs, *job;
	long status = 0;

	snprintf(after, sizeof(after), "%s", since ? since : "");
	for (page = 0; n == RECON_PAGE_JOBS; page++) {
		if (page == RECON_PAGES_MAX) {
			cli_err("reconcile: more than %u pages of paid jobs: give a later --since",
				RECON_PAGES_MAX);
			return 2;
		}
		snprintf(target, sizeof(target), "/v1/jobs?state=paid%s%s%s%s", after[0] ? "&after=" : "",
			 after, after_id[0] ? "&afterId=" : "", after_id);
		if (recon_get(r, &status, &doc, target, 0))
			return 2;
		jobs = json_object_get(doc, "jobs");
		if (!json_is_array(jobs) || json_array_size(jobs) > RECON_PAGE_JOBS) {
			cli_err("reconcile: '%s' answered GET /v1/jobs with HTTP %ld and no page of jobs",
				r->base, status);
			json_decref(doc);
			return 2;
		}
		n = json_array_size(jobs);
		ASSAY_ASSERT(n <= RECON_PAGE_JOBS);
		json_array_foreach(jobs, i, job)
			check_paid(r, job);
		if (n) {   /* the cursor: the last job's receiptedAt and id */
			job = json_array_get(jobs, n - 1);
			snprintf(after, sizeof(after), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(json_object_get(job, "receiptedAt")));
			snprintf(after_id, sizeof(after_id), "%.66s", jstr(job, "id"));
		}
		json_decref(doc);
	}
	return 0;
}

/* The saved chain's entries against the escrow's: each saved entry (its
 * text and its hash) at the same place in the escrow's chain. */
static void audit_compare(struct recon *r, const char *subject, json_t *mine, json_t *theirs)
{
	size_t k, n = json_array_size(mine), m = json_array_size(theirs);
	json_t *a, *b;

	json_array_foreach(mine, k, a) {
		if (k >= m)
			break;
		b = json_array_get(theirs, k);
		if (!json_equal(json_object_get(a, "entry"), json_object_get(b, "entry")) ||
		    strcasecmp(jstr(a, "hash"), jstr(b, "hash")) != 0 ||
		    strcasecmp(jstr(a, "prevHash"), jstr(b, "prevHash")) != 0) {
			diff_line(r, "audit-not-extending %s entry=%zu", subject, k + 1);
			return;
		}
	}
	if (n > m)
		diff_line(r, "audit-not-extending %s entries=%zu escrow-entries=%zu", subject, n, m);
}

/* The audit route of a saved chain's subject ("job:0x.." or
 * "account:0x..", as the escrow names them); -1 for anything else. */
static int audit_target(char *out, size_t len, const char *subject)
{
	uint8_t id[RCPT_HASH_BYTES], a[RCPT_ADDR_BYTES];

	if (strncmp(subject, "job:", 4) == 0 && strlen(subject) == 4 + 66 &&
	    rcpt_hex_decode(id, sizeof(id), subject + 4) == RCPT_OK)
		return snprintf(out, len, "/v1/audit?job=%s", subject + 4) < (int)len ? 0 : -1;
	if (strncmp(subject, "account:", 8) == 0 && strlen(subject) == 8 + 42 &&
	    rcpt_address_parse(a, subject + 8) == RCPT_OK)
		return snprintf(out, len, "/v1/audit?account=%s", subject + 8) < (int)len ? 0 : -1;
	return -1;
}

/* One saved chain (what GET /v1/audit answered, as saved) against what
 * the escrow answers now.  0, or 2 after saying why. */
static int check_audit(struct recon *r, const char *dir, const char *name)
{
	char path[RECON_PATH_BYTES], target[160], *data = NULL;
	json_t *doc = NULL, *now = NULL, *mine;
	const char *subject;
	size_t len = 0;
	long status = 0;
	int rc = 2, rd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path))
		return 2;
	rd = cli_read_file(&data, &len, path, RECON_AUDIT_BYTES_MAX);
	if (rd == CLI_READ_TOO_LARGE)
		cli_err("reconcile: audit chain '%.200s' is over %u bytes", path, RECON_AUDIT_BYTES_MAX);
	if (rd)
		goto out;
	doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
	subject = jstr(doc, "subject");
	mine = json_object_get(doc, "entries");
	if (!json_is_array(mine) || audit_target(target, sizeof(target), subject)) {
		cli_err("reconcile: '%.200s' is not a saved audit chain ({\"subject\":\"job:0x..\", "
			"\"entries\":[...]})", path);
		goto out;
	}
	if (recon_get(r, &status, &now, target, 1))
		goto out;
	if (status == 403 || status == 404)   /* unknown, or not ours: no chain */
		diff_line(r, "audit-not-extending %s entries=%zu escrow-entries=none", subject,
			  json_array_size(mine));
	else if (!now || strcmp(jstr(now, "subject"), subject) != 0 ||
		 !json_is_array(json_object_get(now, "entries"))) {
		cli_err("reconcile: '%s' answered GET %s with HTTP %ld and no audit chain", r->base,
			target, status);
		goto out;
	} else {
		audit_compare(r, subject, mine, json_object_get(now, "entries"));
	}
	rc = 0;
out:
	json_decref(now);
	json_decref(doc);
	free(data);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The command                                                          */

static int check_since(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!s)
		return 0;
	if (n == 0 || n > 16 || (s[0] == '0' && n > 1) || strspn(s, "0123456789") != n) {
		cli_err("reconcile: --since '%.32s' is not Unix seconds (a decimal)", s);
		return -1;
	}
	return 0;
}

/* Who the party is: --key (which also signs the audit reads) or
 * --address (the audit reads then carry the API key of the environment,
 * scope audit:read).  0, or -1 after saying why. */
static int recon_party(struct recon *r, const struct cli_args *a)
{
	struct rcpt_diag d = { "" };

	if (!a->val[R_KEY] == !a->val[R_ADDRESS]) {
		cli_err("reconcile: give exactly one of --key FILE and --address ADDR");
		return -1;
	}
	if (a->val[R_ADDRESS]) {
		if (rcpt_address_parse(r->addr, a->val[R_ADDRESS]) != RCPT_OK) {
			cli_err("reconcile: --address '%.64s' is not an address", a->val[R_ADDRESS]);
			return -1;
		}
		if (cli_api_key_from_env(r->bearer, sizeof(r->bearer), "reconcile"))
			return -1;
		if (a->val[R_AUDIT] && !r->bearer[0]) {
			cli_err("reconcile: --audit-dir with --address needs an API key (scope "
				"audit:read) in ASSAY_API_KEY_FILE or ASSAY_API_KEY, or --key");
			return -1;
		}
		return 0;
	}
	if (rcpt_key_load(&r->key, &d, a->val[R_KEY]) != RCPT_OK) {
		cli_err("reconcile: could not load key '%.200s': %s", a->val[R_KEY], d.msg);
		return -1;
	}
	r->has_key = 1;
	memcpy(r->addr, r->key.address, RCPT_ADDR_BYTES);
	return 0;
}

static int recon_args(struct recon *r, const struct cli_args *a)
{
	if (!a->val[R_PDATA] && !a->val[R_BUNDLES] && !a->val[R_AUDIT]) {
		cli_err("reconcile: give --provider-data, --bundles or --audit-dir (what to compare)");
		return -1;
	}
	if (check_url(r, a->val[R_ESCROW]) || check_since(a->val[R_SINCE]))
		return -1;
	return recon_party(r, a);
}

/* Loads the records, then the three passes.  Returns the exit status. */
static int recon_run(struct recon *r, const struct cli_args *a)
{
	int rc = 0;
	size_t i;

	r->recs = calloc(RECON_RECORDS_MAX, sizeof(*r->recs));
	if (!r->recs) {
		cli_err("reconcile: out of memory");
		return 2;
	}
	if (a->val[R_PDATA])
		rc = load_provider_data(r, a->val[R_PDATA]);
	if (!rc && a->val[R_BUNDLES])
		rc = each_entry(r, a->val[R_BUNDLES], ".json", RECON_RECORDS_MAX, each_bundle);
	if (rc)
		return rc;
	ASSAY_ASSERT(r->n <= RECON_RECORDS_MAX);
	qsort(r->recs, r->n, sizeof(*r->recs), rec_cmp);
	for (i = 0; !rc && i < r->n; i++)
		if (i == 0 || memcmp(r->recs[i].id, r->recs[i - 1].id, RCPT_HASH_BYTES) != 0)
			rc = check_record(r, &r->recs[i]);
	if (!rc && (a->val[R_PDATA] || a->val[R_BUNDLES]))
		rc = scan_paid(r, a->val[R_SINCE]);
	if (!rc && a->val[R_AUDIT])
		rc = each_entry(r, a->val[R_AUDIT], ".json", RECON_AUDIT_FILES_MAX, check_audit);
	if (rc)
		return rc;
	return r->differences ? 1 : 0;
}

int cmd_reconcile(int argc, char **argv)
{
	struct cli_args a;
	struct recon *r;
	int rc;

	if (cli_parse(&a, argc, argv, recon_opts, R_COUNT_, 0, 0))
		return 2;
	if (a.help) {
		fputs(RECON_USAGE, stdout);
		return 0;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		cli_err("reconcile: out of memory");
		return 2;
	}
	rc = recon_args(r, &a) ? 2 : recon_run(r, &a);
	rcpt_key_wipe(&r->key);
	OPENSSL_cleanse(r->bearer, sizeof(r->bearer));
	free(r->recs);
	free(r);
	return rc;
}
