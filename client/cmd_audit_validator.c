/*
 * cmd_audit_validator.c: `assay audit validator ADDRESS --escrow URL
 * [--epoch N]`, the lazy-validator audit redone from public data.
 *
 * For every revealed epoch of the validator (the newest ones GET
 * /v1/validators/{address} lists, or epoch N): checks keccak256(seed)
 * against the commitment published before the epoch's receipts existed,
 * reads the epoch's candidate receipts page by page
 * (GET /v1/validators/{address}/epochs/{seq}), decides each with the
 * sampling rule of docs/validator.md, and counts the receipts the seed
 * selected, those the validator checked (attested, or reported
 * withheld), those it skipped, and its checks of receipts the rule did
 * not select.  Prints one JSON line per epoch with these counts and
 * whether the escrow's own audit says the same.
 *
 * Exit 0 when every epoch's selected receipts were all checked and the
 * escrow's audit agrees; 1 when a receipt was skipped, a seed does not
 * match its commitment, or the escrow's audit differs from the recount;
 * 2 for unusable arguments or an escrow that cannot be read.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "httpd_client.h"
#include "receipts.h"
#include "validator.h"

#include "banned.h"

#define AV_RESPONSE_BYTES_MAX (4u * 1024u * 1024u)
#define AV_TIMEOUT_MS 30000L
/* Pages of one epoch read at most: the escrow's audit reads at most
 * 200,000 receipts, 500 a page. */
#define AV_PAGES_MAX 402u

struct av_ctx {
	const char *base, *addr;
	char addr_text[RCPT_ADDR_HEX_BYTES];
};

struct av_tally {
	uint64_t candidates, selected, kept, unsampled;
};

/* GET target as JSON into *out; 0, 1 for an answer other than 200 (said
 * why), 2 for an escrow that cannot be reached or read. */
static int av_get(const struct av_ctx *c, const char *target, json_t **out)
{
	struct httpd_client_req req = { 0 };
	struct httpd_client_resp r;
	json_error_t je;
	char why[300];

	*out = NULL;
	req.method = "GET";
	req.base_url = c->base;
	req.target = target;
	req.response_bytes_max = AV_RESPONSE_BYTES_MAX;
	req.timeout_ms = AV_TIMEOUT_MS;
	if (httpd_client_request(&r, why, sizeof(why), &req) != HTTPD_OK) {
		cli_err("audit validator: %s", why);
		return 2;
	}
	if (r.status != 200) {
		long st = (long)r.status;
		cli_err("audit validator: GET %s answered %ld: %.200s", target, st,
			r.body ? r.body : "");
		httpd_client_resp_free(&r);
		return 2;
	}
	*out = json_loadb(r.body, r.len, JSON_REJECT_DUPLICATES, &je);
	httpd_client_resp_free(&r);
	if (!*out || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		cli_err("audit validator: GET %s: not a JSON object", target);
		return 2;
	}
	return 0;
}

static int hex32(uint8_t out[RCPT_HASH_BYTES], json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && rcpt_hex_decode(out, RCPT_HASH_BYTES, s) == RCPT_OK ? 0 : -1;
}

/* One page's receipts into the tally; the page's last (receiptedAt, job)
 * in *next when it has a "next" cursor.  0, or 2 for a malformed page. */
static int av_page(struct av_tally *t, json_t *page, const uint8_t seed[RCPT_HASH_BYTES],
		   unsigned bps, char next[160])
{
	json_t *arr = json_object_get(page, "receipts"), *it, *nx = json_object_get(page, "next");
	uint8_t rid[RCPT_HASH_BYTES];
	size_t i;

	next[0] = '\0';
	if (!json_is_array(arr))
		return 2;
	json_array_foreach(arr, i, it) {
		const char *ck = json_string_value(json_object_get(it, "checked"));
		int checked, picked;
		if (hex32(rid, it, "receiptId") || !ck)
			return 2;
		checked = strcmp(ck, "none") != 0;
		picked = valid_sample_decide(seed, rid, bps);
		t->candidates++;
		t->selected += (uint64_t)picked;
		t->kept += (uint64_t)(picked && checked);
		t->unsampled += (uint64_t)(!picked && checked);
	}
	if (json_is_object(nx)) {
		const char *id = json_string_value(json_object_get(nx, "afterId"));
		json_t *at = json_object_get(nx, "after");
		if (!id || !json_is_integer(at) || strlen(id) != 66)
			return 2;
		snprintf(next, 160, "?after=%" JSON_INTEGER_FORMAT "&afterId=%s",
			 json_integer_value(at), id);
	}
	return 0;
}

/* Every page of epoch seq into the tally; 0, 1 or 2 as av_get. */
static int av_count(const struct av_ctx *c, int64_t seq, const uint8_t seed[RCPT_HASH_BYTES],
		    unsigned bps, struct av_tally *t)
{
	char target[400], next[160] = "";
	unsigned pages;
	int rc = 0;

	memset(t, 0, sizeof(*t));
	for (pages = 0; pages < AV_PAGES_MAX; pages++) {
		json_t *page = NULL;
		snprintf(target, sizeof(target), "/v1/validators/%s/epochs/%" PRId64 "%s", c->addr_text,
			 seq, next);
		rc = av_get(c, target, &page);
		if (!rc && av_page(t, page, seed, bps, next)) {
			cli_err("audit validator: epoch %" PRId64 ": a malformed page", seq);
			rc = 2;
		}
		json_decref(page);
		if (rc || !next[0])
			return rc;
	}
	cli_err("audit validator: epoch %" PRId64 ": over %u pages", seq, AV_PAGES_MAX);
	return 2;
}

static int num_is(json_t *o, const char *key, uint64_t v)
{
	json_t *x = json_object_get(o, key);

	return json_is_integer(x) && (uint64_t)json_integer_value(x) == v;
}

/* The escrow's audit (NULL: none yet) against the recount. */
static int audit_agrees(json_t *audit, const struct av_tally *t, unsigned bps)
{
	return audit && num_is(audit, "sampleBps", bps) && num_is(audit, "candidates", t->candidates) &&
	       num_is(audit, "selected", t->selected) && num_is(audit, "kept", t->kept) &&
	       num_is(audit, "unsampled", t->unsampled);
}

/* One epoch as a JSON line; 0 clean, 1 flagged or disagreeing, 2 unreadable. */
static int av_epoch(const struct av_ctx *c, json_t *ep, unsigned bps)
{
	uint8_t seed[RCPT_HASH_BYTES], com[RCPT_HASH_BYTES], h[RCPT_HASH_BYTES];
	json_t *seqj = json_object_get(ep, "epoch"), *audit = json_object_get(ep, "audit");
	struct av_tally t;
	int64_t seq;
	int rc, seed_ok, agrees;

	if (!json_is_integer(seqj) || hex32(com, ep, "seedCommitment") || hex32(seed, ep, "seed")) {
		cli_err("audit validator: an epoch without its number, commitment or seed");
		return 2;
	}
	seq = (int64_t)json_integer_value(seqj);
	valid_seed_commitment(h, seed);
	seed_ok = CRYPTO_memcmp(h, com, RCPT_HASH_BYTES) == 0;
	rc = av_count(c, seq, seed, bps, &t);
	if (rc)
		return rc;
	agrees = audit_agrees(json_is_object(audit) ? audit : NULL, &t, bps);
	printf("{\"epoch\":%" PRId64 ",\"seedMatchesCommitment\":%s,\"sampleBps\":%u,"
	       "\"candidates\":%" PRIu64 ",\"selected\":%" PRIu64 ",\"kept\":%" PRIu64
	       ",\"skipped\":%" PRIu64 ",\"unsampled\":%" PRIu64 ",\"escrowAudit\":\"%s\"}\n",
	       seq, seed_ok ? "true" : "false", bps, t.candidates, t.selected, t.kept,
	       t.selected - t.kept, t.unsampled,
	       !json_is_object(audit) ? "pending" : agrees ? "agrees" : "differs");
	return !seed_ok || t.selected > t.kept || (json_is_object(audit) && !agrees);
}

/* The announced sampling rate (GET /v1/params). */
static int av_bps(const struct av_ctx *c, unsigned *bps)
{
	json_t *p = NULL, *b;
	int rc = av_get(c, "/v1/params", &p);

	if (rc)
		return 2;
	b = json_object_get(p, "sampleBps");
	rc = json_is_integer(b) && json_integer_value(b) >= 0 && json_integer_value(b) <= 10000
		     ? 0 : 2;
	if (!rc)
		*bps = (unsigned)json_integer_value(b);
	else
		cli_err("audit validator: /v1/params has no sampleBps");
	json_decref(p);
	return rc;
}

/* The epochs to audit: the one asked for, or the revealed ones listed. */
static int av_epochs(const struct av_ctx *c, const char *only, json_t **out)
{
	char target[160];
	json_t *v = NULL, *one = NULL;
	int rc;

	if (only) {
		snprintf(target, sizeof(target), "/v1/validators/%s/epochs/%s", c->addr_text, only);
		rc = av_get(c, target, &v);
		if (!rc && json_is_object((one = json_object_get(v, "epoch"))))
			*out = json_pack("[O]", one);
	} else {
		snprintf(target, sizeof(target), "/v1/validators/%s", c->addr_text);
		rc = av_get(c, target, &v);
		if (!rc)
			*out = json_incref(json_object_get(v, "epochs"));
	}
	json_decref(v);
	if (!rc && !json_is_array(*out)) {
		cli_err("audit validator: the escrow lists no epochs");
		json_decref(*out);
		*out = NULL;
		rc = 2;
	}
	return rc;
}

static const char AUDIT_VALIDATOR_USAGE[] =
	"usage: assay audit validator ADDRESS --escrow URL [--epoch N]\n"
	"\n"
	"Redoes the escrow's audit of a validator's revealed sampling seeds from\n"
	"public data: for each epoch, checks the seed against its commitment,\n"
	"decides every candidate receipt with the sampling rule and counts the\n"
	"selected receipts the validator checked and skipped.  One JSON line per\n"
	"epoch.\n"
	"exit: 0 nothing skipped and the escrow agrees, 1 a selected receipt was\n"
	"skipped, a seed does not match or the escrow's audit differs, 2 unusable\n"
	"arguments or an escrow that cannot be read.\n";

static const struct cli_opt av_opts[] = {
	{ "escrow", 0, 1 },
	{ "epoch", 0, 0 },
};

int audit_validator(int argc, char **argv)
{
	struct cli_args a;
	struct av_ctx c;
	uint8_t who[RCPT_ADDR_BYTES];
	unsigned bps = 0;
	json_t *epochs = NULL, *ep;
	size_t i, done = 0;
	int rc, worst = 0;

	if (cli_parse(&a, argc, argv, av_opts, 2, 1, 1))
		return 2;
	if (a.help) {
		fputs(AUDIT_VALIDATOR_USAGE, stdout);
		return 0;
	}
	c.base = a.val[0];
	c.addr = a.pos[0];
	if (rcpt_address_parse(who, c.addr) != RCPT_OK) {
		cli_err("audit validator: '%.64s' is not an address (0x + 40 hex digits)", c.addr);
		return 2;
	}
	if (a.val[1] && strspn(a.val[1], "0123456789") != strlen(a.val[1])) {
		cli_err("audit validator: --epoch is a positive decimal number");
		return 2;
	}
	rcpt_address_format(c.addr_text, who);
	if ((rc = av_bps(&c, &bps)) || (rc = av_epochs(&c, a.val[1], &epochs)))
		return rc;
	json_array_foreach(epochs, i, ep) {
		if (!json_object_get(ep, "seed"))
			continue;   /* not revealed: nothing to audit yet */
		rc = av_epoch(&c, ep, bps);
		worst = rc > worst ? rc : worst;
		done++;
	}
	json_decref(epochs);
	if (!done)
		fprintf(stderr, "assay: audit validator: no revealed epoch to audit\n");
	return worst;
}
