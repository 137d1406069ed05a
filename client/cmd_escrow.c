/*
 * cmd_escrow.c: `assay escrow ...`, the client side of assay-escrow's
 * HTTP API (docs/escrow-openapi.yaml) through the daemons' HTTP client
 * (httpd/client.c, libcurl).
 *
 * Contract, as for every assay command (PROTOCOL.md section 5):
 *   - success: the escrow's JSON answer on stdout, compact, one line;
 *   - an RFC 9457 problem: one line on stderr naming the subcommand, the
 *     problem's title, its type and HTTP status and its detail; exit 1;
 *   - no answer, or an answer that is not what the API promises: one
 *     line on stderr, exit 1;
 *   - unusable arguments (a malformed amount, address, id, statement,
 *     key or signature, an unreadable file): exit 2, nothing sent.
 *
 * What is checked before anything is sent: amounts are canonical uint256
 * decimals (rcpt_u256_parse) and not zero; statements parse strictly
 * (rcpt_*_parse) and are re-serialised from the parsed struct; a given
 * signature must recover the statement's signer under the domain, and a
 * key must be that signer before it signs.  The escrow checks all of it
 * again: these checks only turn a round trip into a clearer message.
 *
 * Secrets: a key file is read into a struct rcpt_key that is wiped on
 * every path; it signs a statement or a request (docs/api-auth.md) and is
 * never printed.  Errors quote the URL, ids and addresses, never a body,
 * a signature or a key.
 *
 * Every mutating request carries an Idempotency-Key: 128 random bits
 * unless --idempotency-key gives one (to retry a request whose answer was
 * lost: the escrow answers a repeat with its first answer).
 */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "cli.h"
#include "httpd.h"
#include "httpd_client.h"
#include "money_evm.h"
#include "receipts.h"

#include "banned.h"

/* Declared in cli.h beside the other commands; repeated here so that this
 * file compiles (-Wmissing-prototypes) on its own as well. */

/* ------------------------------------------------------------------ */
/* Limits, each with its reason                                         */

/* An answer: the largest is an audit chain of 1000 entries or a list of
 * 100 jobs, each well under 1 MiB; anything bigger is not the escrow. */
#define ESC_RESPONSE_BYTES_MAX (4u * 1024u * 1024u)
/* A whole exchange; the largest request is a claim with an 8 MiB input. */
#define ESC_TIMEOUT_MS 60000L
/* The escrow refuses larger job inputs (ESCROW_INPUT_BYTES_MAX). */
#define ESC_INPUT_BYTES_MAX (8u * 1024u * 1024u)
/* Base URLs: scheme, host, port and an optional path prefix. */
#define ESC_URL_BYTES_MAX 512u
/* A statement file (JobSpec, Receipt, Attestation, domain). */
#define ESC_STATEMENT_BYTES_MAX RCPT_JSON_BYTES_MAX
/* How much of a problem's detail reaches the one-line error. */
#define ESC_DETAIL_CHARS_MAX 300
/* Idempotency-Key: 1 to 64 characters of [A-Za-z0-9._:-] (api-auth.md). */
#define ESC_IDEM_BYTES_MAX 64u
/* Random idempotency keys: 16 bytes from the OS, hex. */
#define ESC_IDEM_RANDOM_BYTES 16u

#define ESC_DEFAULT_URL "http://127.0.0.1:8700"

static const char ESCROW_USAGE[] =
	"usage: assay escrow SUBCOMMAND [ARGS] [--url URL]\n"
	"\n"
	"  params                               the escrow's domain and economic parameters\n"
	"  faucet ADDRESS AMOUNT                credit ADDRESS (devnet escrows only)\n"
	"  balance (ADDRESS | --key FILE)       available, stake and unbonding of an address\n"
	"  stake AMOUNT --key FILE              available -> stake (signed request)\n"
	"  unstake AMOUNT --key FILE            stake -> unbonding (signed request)\n"
	"  withdraw AMOUNT --key FILE           available -> out of the escrow (signed request)\n"
	"  unbond --key FILE                    release unbonding entries that are due\n"
	"  open JOB.json (--sig SIG | --key FILE) [--domain DOMAIN.json]\n"
	"                                       open a job; locks maxPrice from the customer\n"
	"  receipt ID RECEIPT.json (--sig SIG | --key FILE) [--domain DOMAIN.json]\n"
	"                                       the provider's receipt; opens the challenge window\n"
	"  attest ID ATTESTATION.json (--sig SIG | --key FILE) [--domain DOMAIN.json]\n"
	"         [--input FILE]                a validator's verdict; verdict 2 is a fraud\n"
	"                                       claim and may carry the job's input\n"
	"  input ID FILE                        upload a disputed job's input for the referee\n"
	"  job ID                               one job: state, receipt, disputes\n"
	"  settle ID --key FILE                 (EVM only) settle(ID): pays a receipted job\n"
	"                                       after its window, refunds an open one after\n"
	"                                       its deadline; any account may send it\n"
	"  jobs [--state STATE]                 up to 100 jobs, e.g. --state receipted\n"
	"  audit (ID | ADDRESS) --key FILE      a job's (customer or provider) or an account's\n"
	"                                       audit chain, for `assay audit verify`\n"
	"  provider ADDRESS                     a provider's URL and registry entry\n"
	"  approve ADDRESS --key FILE --org NAME --contact C --expires RFC3339\n"
	"                                       the operator approves a provider (or renews)\n"
	"  suspend ADDRESS --key FILE           the operator suspends it: no new jobs\n"
	"  revoke ADDRESS --key FILE            the operator revokes it, for good\n"
	"  anomalies --key FILE                 the operator reads every anomaly flag\n"
	"                                       (docs/operations.md, Anomalies)\n"
	"  revoke-sessions ADDRESS --key FILE   the operator revokes every sign-in session and\n"
	"                                       API key of ADDRESS at once (a signed request,\n"
	"                                       recorded on ADDRESS's audit chain)\n"
	"\n"
	"--url URL           the escrow (default $ASSAY_ESCROW_URL, else " ESC_DEFAULT_URL ")\n"
	"--key FILE          signs the request (stake, unstake, withdraw, unbond, audit) or\n"
	"                    the statement (open, receipt, attest) with the key in FILE\n"
	"                    (stake, unstake, withdraw, unbond and audit also take an API\n"
	"                    key instead: $ASSAY_API_KEY_FILE, a file only you may read,\n"
	"                    or $ASSAY_API_KEY; assay apikey --help)\n"
	"                    (approve, suspend and revoke: the operator's key, which\n"
	"                    signs a ProviderDecision; it moves no money)\n"
	"--sig SIG           the statement's EIP-712 signature, made elsewhere\n"
	"--domain FILE       the EIP-712 domain; default: the escrow's (GET /v1/params)\n"
	"--idempotency-key K reuse K to retry a mutating request (default: random)\n"
	"AMOUNT is a decimal uint256 in base units (no sign, no leading zero).\n"
	"\n"
	"Prints the escrow's JSON answer on one line.  Exit 0 success; 1 the\n"
	"escrow refused (its problem on stderr) or could not be reached; 2\n"
	"unusable arguments.\n"
	"\n"
	"On an EVM chain, balance, stake, unstake, withdraw, unbond, open, receipt,\n"
	"attest, settle and job take --rpc URL (--escrow-address ADDRESS | --chain FILE)\n"
	"instead of --url and call the contract: stake(AMOUNT), unstake(AMOUNT),\n"
	"withdraw(AMOUNT), releaseUnbonded(the key's address), openJob(JOB, SIG),\n"
	"submitReceipt(RECEIPT, SIG), attest(ATTESTATION, SIG, RECEIPT), settle(ID),\n"
	"each a transaction; job ID reads jobState and jobInfo and sends nothing.\n"
	"The statement's signature is --sig, or is made with --key (its signer's key);\n"
	"the transaction is sent by --relayer FILE's account when given, else by\n"
	"--key's (any account may relay a signed statement: --sig SIG --relayer FILE,\n"
	"or --key FILE --relayer FILE to sign here and have another account pay).\n"
	"--relayer FILE        the account that sends open, receipt or attest\n"
	"--receipt FILE        attest: the receipt attested (the contract needs it)\n"
	"open, receipt, attest and settle print the job after the transaction, job\n"
	"prints it now: {\"job\",\"state\",\"customer\",\"provider\",\"maxPrice\",\"price\",\n"
	"\"deadline\",\"openedAt\",\"windowEnd\",\"openDisputes\",\"receipt\",\"chainId\",\n"
	"\"escrow\",\"block\"}; state is open, receipted, disputed, paid or refunded.\n";

/* ------------------------------------------------------------------ */
/* Options                                                              */

/* O_URL chooses assay-escrow over HTTP; O_RPC and the options after it
 * choose the EVM contract (client/money_evm.h) for the account and
 * statement subcommands. */
enum esc_opt {
	O_URL, O_KEY, O_SIG, O_DOMAIN, O_INPUT, O_IDEM, O_STATE, O_ORG, O_CONTACT, O_EXPIRES,
	O_RPC, O_ESCROW_ADDRESS, O_CHAIN, O_CONFIRMATIONS, O_TIMEOUT, O_RELAYER, O_RECEIPT,
	O_COUNT_
};

#define M(o) (1u << (o))

static const struct cli_opt esc_opts[O_COUNT_] = {
	[O_URL] = { "url", 0, 0 },
	[O_KEY] = { "key", 0, 0 },
	[O_SIG] = { "sig", 0, 0 },
	[O_DOMAIN] = { "domain", 0, 0 },
	[O_INPUT] = { "input", 0, 0 },
	[O_IDEM] = { "idempotency-key", 0, 0 },
	[O_STATE] = { "state", 0, 0 },
	[O_ORG] = { "org", 0, 0 },
	[O_CONTACT] = { "contact", 0, 0 },
	[O_EXPIRES] = { "expires", 0, 0 },
	[O_RPC] = { "rpc", 0, 0 },
	[O_ESCROW_ADDRESS] = { "escrow-address", 0, 0 },
	[O_CHAIN] = { "chain", 0, 0 },
	[O_CONFIRMATIONS] = { "confirmations", 0, 0 },
	[O_TIMEOUT] = { "timeout-s", 0, 0 },
	[O_RELAYER] = { "relayer", 0, 0 },
	[O_RECEIPT] = { "receipt", 0, 0 },
};

/* One request being built and its answer. */
struct esc_ctx {
	const char *sub;               /* subcommand name, for messages */
	char base[ESC_URL_BYTES_MAX + 1];
	char idem[ESC_IDEM_BYTES_MAX + 1];
	struct cli_args a;
	/* An API key from the environment (api_key_from_env), sent as the
	 * bearer of a request made without --key; "" when none.  A secret. */
	char bearer[HTTPD_APIKEY_TOKEN_BYTES + 1];
};

struct esc_resp {
	long status;
	char *body;                    /* NUL-terminated; caller frees */
	size_t len;
	char ctype[128];
};

/* ------------------------------------------------------------------ */
/* Argument checks (each prints why and returns -1)                     */

static int check_url(struct esc_ctx *c, const char *url)
{
	size_t n = strlen(url);
	const char *host;

	if (strncmp(url, "http://", 7) == 0)
		host = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		host = url + 8;
	else {
		cli_err("escrow %s: --url '%.64s' is not an http:// or https:// URL", c->sub, url);
		return -1;
	}
	if (n > ESC_URL_BYTES_MAX) {
		cli_err("escrow %s: --url is longer than %u bytes", c->sub, ESC_URL_BYTES_MAX);
		return -1;
	}
	/* No credentials in URLs (they would end up in error messages), no
	 * query or fragment (routes append their own). */
	for (const char *p = host; *p; p++) {
		if (*p == '@' || *p == '?' || *p == '#' || (unsigned char)*p <= ' ' ||
		    (unsigned char)*p >= 0x7f) {
			cli_err("escrow %s: --url '%.64s' may not hold credentials, a query, a "
				"fragment or spaces", c->sub, url);
			return -1;
		}
	}
	if (!host[0] || host[0] == '/') {
		cli_err("escrow %s: --url '%.64s' names no host", c->sub, url);
		return -1;
	}
	assert(n < sizeof(c->base));
	memcpy(c->base, url, n + 1);
	while (n > 0 && c->base[n - 1] == '/')
		c->base[--n] = '\0';
	return 0;
}

static int check_idem(struct esc_ctx *c, const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > ESC_IDEM_BYTES_MAX) {
		cli_err("escrow %s: --idempotency-key must be 1 to %u characters", c->sub,
			ESC_IDEM_BYTES_MAX);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char ch = k[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == ':' ||
		      ch == '-')) {
			cli_err("escrow %s: --idempotency-key may hold only [A-Za-z0-9._:-]", c->sub);
			return -1;
		}
	}
	assert(n < sizeof(c->idem));
	memcpy(c->idem, k, n + 1);
	return 0;
}

static int make_idem(struct esc_ctx *c)
{
	uint8_t rnd[ESC_IDEM_RANDOM_BYTES];
	char hex[2 * ESC_IDEM_RANDOM_BYTES + 3];
	ssize_t got;

	do
		got = getrandom(rnd, sizeof(rnd), 0);
	while (got < 0 && errno == EINTR);
	if (got != (ssize_t)sizeof(rnd)) {
		cli_err("escrow %s: could not draw a random idempotency key", c->sub);
		return -1;
	}
	if (rcpt_hex_encode(hex, sizeof(hex), rnd, sizeof(rnd)) != RCPT_OK)
		return -1;
	/* "assay-" + 32 hex digits: 38 characters of the allowed set. */
	snprintf(c->idem, sizeof(c->idem), "assay-%s", hex + 2);
	assert(strlen(c->idem) == 6 + 2 * ESC_IDEM_RANDOM_BYTES);
	return 0;
}

/* A non-zero canonical uint256 decimal. */
static int check_amount(const struct esc_ctx *c, const char *s)
{
	struct rcpt_u256 v, zero;

	rcpt_u256_from_u64(&zero, 0);
	if (rcpt_u256_parse(&v, s) != RCPT_OK) {
		cli_err("escrow %s: amount '%.80s' is not a decimal uint256 (digits only, no "
			"sign, no leading zero)", c->sub, s);
		return -1;
	}
	if (rcpt_u256_cmp(&v, &zero) == 0) {
		cli_err("escrow %s: amount must not be zero", c->sub);
		return -1;
	}
	return 0;
}

static int check_address(const struct esc_ctx *c, const char *s, uint8_t out[RCPT_ADDR_BYTES])
{
	if (rcpt_address_parse(out, s) != RCPT_OK) {
		cli_err("escrow %s: '%.64s' is not an address (0x + 40 hex digits, EIP-55 "
			"when mixed case)", c->sub, s);
		return -1;
	}
	return 0;
}

static int check_id(const struct esc_ctx *c, const char *s, uint8_t out[RCPT_HASH_BYTES])
{
	if (rcpt_hex_decode(out, RCPT_HASH_BYTES, s) != RCPT_OK) {
		cli_err("escrow %s: job id '%.80s' is not 0x + 64 hex digits", c->sub, s);
		return -1;
	}
	return 0;
}

static int load_key(const struct esc_ctx *c, struct rcpt_key *key, const char *path)
{
	struct rcpt_diag d = { "" };
	enum rcpt_err rc = rcpt_key_load(key, &d, path);

	if (rc) {
		cli_err("escrow %s: could not load key: %s", c->sub,
			d.msg[0] ? d.msg : rcpt_strerror(rc));
		return -1;
	}
	return 0;
}

/* The API key token of ASSAY_API_KEY_FILE (a file nobody but its owner
 * may read) or else of ASSAY_API_KEY, into bearer; none leaves it
 * empty.  0, or -1 having said why (never the key itself), each message
 * opened by `what`.  Shared with `assay reconcile` (cli.h). */
int cli_api_key_from_env(char *bearer, size_t bearer_len, const char *what)
{
	const char *file = getenv("ASSAY_API_KEY_FILE"), *env = getenv("ASSAY_API_KEY");
	char id[HTTPD_APIKEY_ID_BYTES + 1], buf[HTTPD_APIKEY_TOKEN_BYTES + 2] = "";
	struct stat st;
	size_t n;
	FILE *f;

	assert(bearer && bearer_len >= HTTPD_APIKEY_TOKEN_BYTES + 1 && what);
	bearer[0] = '\0';
	if (file && file[0]) {
		f = fopen(file, "re");
		if (!f || fstat(fileno(f), &st) || (st.st_mode & 077)) {
			cli_err("%s: ASSAY_API_KEY_FILE '%.200s' %s", what, file,
				f ? "can be read by group or others (chmod 600)" : "cannot be read");
			if (f)
				fclose(f);
			return -1;
		}
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\n")] = '\0';
	} else if (env && env[0]) {
		snprintf(buf, sizeof(buf), "%.*s", (int)sizeof(buf) - 1, env);
	}
	if (buf[0] && httpd_apikey_id(id, buf) != 0) {
		cli_err("%s: the API key is not of the form ak_<16 hex>.<43 base64url>", what);
		OPENSSL_cleanse(buf, sizeof(buf));
		return -1;
	}
	/* "" or, checked above, exactly HTTPD_APIKEY_TOKEN_BYTES. */
	n = strlen(buf);
	assert(n == 0 || n == HTTPD_APIKEY_TOKEN_BYTES);
	memcpy(bearer, buf, n + 1);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static int api_key_from_env(struct esc_ctx *c)
{
	char what[64];

	snprintf(what, sizeof(what), "escrow %s", c->sub);
	return cli_api_key_from_env(c->bearer, sizeof(c->bearer), what);
}

/* Who a signed route's request speaks for: the wallet of --key (*use =
 * key, loaded), or else the API key of the environment (*use = NULL, sent
 * as the bearer).  0, or -1 having said why. */
static int signer(struct esc_ctx *c, struct rcpt_key *key, const struct rcpt_key **use,
		  const char *who)
{
	*use = NULL;
	if (c->a.val[O_KEY]) {
		if (load_key(c, key, c->a.val[O_KEY]))
			return -1;
		*use = key;
		return 0;
	}
	if (api_key_from_env(c))
		return -1;
	if (c->bearer[0])
		return 0;
	cli_err("escrow %s: needs --key FILE (%s), or an API key in ASSAY_API_KEY_FILE or "
		"ASSAY_API_KEY", c->sub, who);
	return -1;
}

static int read_file(const struct esc_ctx *c, char **out, size_t *len, const char *path,
		     size_t max)
{
	int rc = cli_read_file(out, len, path, max);

	if (rc == CLI_READ_TOO_LARGE)
		cli_err("escrow %s: '%s' is larger than %zu bytes", c->sub, path, max);
	return rc ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                  */

/*
 * Sends METHOD to base + target with the body (may be NULL), the
 * Idempotency-Key when c->idem is set, and the signed-request headers
 * when key is non-NULL, through the daemons' HTTP client
 * (httpd/httpd_client.h).  Fills *resp (its body is the caller's to
 * free).  Returns 0 when an answer came back, -1 after saying why none
 * did.
 */
static int esc_http(struct esc_ctx *c, struct esc_resp *resp, const char *method,
		    const char *target, const char *ctype, const void *body, size_t body_len,
		    const struct rcpt_key *key)
{
	struct httpd_client_req req = { 0 };
	struct httpd_client_resp r;
	char why[300];

	assert(c && resp && method && target && target[0] == '/');
	assert(!body || ctype);
	memset(resp, 0, sizeof(*resp));
	req.method = method;
	req.base_url = c->base;
	req.target = target;
	req.body = body;
	req.body_len = body ? body_len : 0;
	req.content_type = ctype;
	req.key = key;
	req.bearer = !key && c->bearer[0] ? c->bearer : NULL;
	req.idem_key = c->idem[0] ? c->idem : NULL;
	req.response_bytes_max = ESC_RESPONSE_BYTES_MAX;
	req.timeout_ms = ESC_TIMEOUT_MS;
	if (httpd_client_request(&r, why, sizeof(why), &req) != HTTPD_OK) {
		cli_err("escrow %s: %s", c->sub, why);
		return -1;
	}
	resp->status = r.status;
	resp->body = r.body;     /* ours now */
	resp->len = r.len;
	snprintf(resp->ctype, sizeof(resp->ctype), "%s", r.content_type);
	r.body = NULL;
	httpd_client_resp_free(&r);
	assert(resp->len <= ESC_RESPONSE_BYTES_MAX && resp->body[resp->len] == '\0');
	return 0;
}

static int ctype_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return strncmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/*
 * Turns an answer into the command's result: 2xx JSON is printed as one
 * compact line (0); a problem or any other status is one line on stderr
 * (1).  Frees the answer's body.
 */
static int esc_finish(struct esc_ctx *c, struct esc_resp *resp)
{
	json_error_t je;
	json_t *doc = NULL;
	char *line = NULL;
	int rc = 1;

	assert(resp->body);
	assert(resp->len <= ESC_RESPONSE_BYTES_MAX);
	if (resp->len)
		doc = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES, &je);
	if (resp->status >= 200 && resp->status < 300) {
		if (!json_is_object(doc) || !ctype_is(resp->ctype, "application/json")) {
			cli_err("escrow %s: '%s' answered HTTP %ld without a JSON object", c->sub,
				c->base, resp->status);
			goto out;
		}
		line = json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII);
		if (!line) {
			cli_err("escrow %s: out of memory", c->sub);
			goto out;
		}
		printf("%s\n", line);
		rc = 0;
		goto out;
	}
	if (json_is_object(doc) && ctype_is(resp->ctype, "application/problem+json")) {
		const char *type = json_string_value(json_object_get(doc, "type"));
		const char *title = json_string_value(json_object_get(doc, "title"));
		const char *detail = json_string_value(json_object_get(doc, "detail"));
		cli_err("escrow %s: %.100s (%.100s, HTTP %ld)%s%.*s", c->sub,
			title ? title : "refused", type ? type : "no problem type", resp->status,
			detail ? ": " : "", ESC_DETAIL_CHARS_MAX, detail ? detail : "");
		goto out;
	}
	cli_err("escrow %s: '%s' answered HTTP %ld (%.60s)", c->sub, c->base, resp->status,
		resp->ctype[0] ? resp->ctype : "no content type");
out:
	free(line);
	json_decref(doc);
	free(resp->body);
	resp->body = NULL;
	return rc;
}

/* One request, answered on stdout/stderr.  Returns the exit status. */
static int esc_call(struct esc_ctx *c, const char *method, const char *target,
		    const char *ctype, const void *body, size_t body_len,
		    const struct rcpt_key *key)
{
	struct esc_resp resp;

	if (esc_http(c, &resp, method, target, ctype, body, body_len, key))
		return 1;
	return esc_finish(c, &resp);
}

/* POSTs a jansson object (dumped compact) and answers. */
static int esc_post_json(struct esc_ctx *c, const char *target, json_t *obj,
			 const struct rcpt_key *key)
{
	char *text;
	int rc;

	if (!obj) {
		cli_err("escrow %s: out of memory", c->sub);
		return 1;
	}
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text) {
		cli_err("escrow %s: out of memory", c->sub);
		return 1;
	}
	rc = esc_call(c, "POST", target, "application/json", text, strlen(text), key);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Statements                                                           */

/* The escrow's own domain from GET /v1/params.  0, 1 (no answer or
 * refused: said why). */
static int fetch_domain(struct esc_ctx *c, struct rcpt_domain *dom)
{
	struct esc_resp resp;
	json_t *doc = NULL;
	json_int_t chain;
	const char *vc;
	uint8_t addr[RCPT_ADDR_BYTES];
	int rc = 1;

	if (esc_http(c, &resp, "GET", "/v1/params", NULL, NULL, 0, NULL))
		return 1;
	if (resp.status < 200 || resp.status >= 300)
		return esc_finish(c, &resp);
	doc = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	vc = json_string_value(json_object_get(doc, "verifyingContract"));
	chain = json_integer_value(json_object_get(doc, "chainId"));
	if (!vc || rcpt_address_parse(addr, vc) != RCPT_OK || chain <= 0) {
		cli_err("escrow %s: '%s' answered /v1/params without a domain", c->sub, c->base);
		goto out;
	}
	rcpt_domain_assay(dom, (uint64_t)chain, addr);
	rc = 0;
out:
	json_decref(doc);
	free(resp.body);
	return rc;
}

/* The domain: --domain FILE, else the escrow's.  0, 1 or 2 (exit codes). */
static int get_domain(struct esc_ctx *c, struct rcpt_domain *dom, json_t **as_json)
{
	struct rcpt_diag d = { "" };
	char *text = NULL, *canon = NULL;
	size_t len;
	int rc = 2;

	*as_json = NULL;
	if (!c->a.val[O_DOMAIN])
		return fetch_domain(c, dom);
	if (read_file(c, &text, &len, c->a.val[O_DOMAIN], ESC_STATEMENT_BYTES_MAX))
		return 2;
	if (rcpt_domain_parse(dom, &d, text, len) != RCPT_OK) {
		cli_err("escrow %s: domain '%s': %s", c->sub, c->a.val[O_DOMAIN], d.msg);
		goto out;
	}
	if (rcpt_domain_to_json(&canon, dom) != RCPT_OK ||
	    !(*as_json = json_loads(canon, 0, NULL))) {
		cli_err("escrow %s: domain '%s' does not serialise", c->sub, c->a.val[O_DOMAIN]);
		goto out;
	}
	rc = 0;
out:
	free(canon);
	free(text);
	return rc;
}

/*
 * The statement's signature: --sig, checked to recover `signer` from
 * `digest`, or made with --key, which must be `signer`.  Writes the hex
 * form into out.  0, 1 or 2 (exit codes).
 */
static int statement_sig(struct esc_ctx *c, char out[RCPT_SIG_HEX_BYTES], const char *what,
			 const uint8_t digest[RCPT_HASH_BYTES],
			 const uint8_t signer[RCPT_ADDR_BYTES])
{
	uint8_t sig[RCPT_SIG_BYTES], got[RCPT_ADDR_BYTES];
	char want[RCPT_ADDR_HEX_BYTES];
	struct rcpt_key key;
	enum rcpt_err re;

	/* need_sig_or_key() ran: exactly one of the two. */
	assert((c->a.val[O_SIG] != NULL) != (c->a.val[O_KEY] != NULL));
	rcpt_address_format(want, signer);
	if (c->a.val[O_SIG]) {
		if (rcpt_sig_parse(sig, c->a.val[O_SIG]) != RCPT_OK) {
			cli_err("escrow %s: --sig is not 0x and 130 hex digits", c->sub);
			return 2;
		}
		re = rcpt_recover_digest(got, sig, digest);
		if (re != RCPT_OK || memcmp(got, signer, RCPT_ADDR_BYTES) != 0) {
			cli_err("escrow %s: --sig is not the %s signer %s's signature under this "
				"domain%s%s", c->sub, what, want, re ? ": " : "",
				re ? rcpt_strerror(re) : "");
			return 2;
		}
	} else {
		if (load_key(c, &key, c->a.val[O_KEY]))
			return 2;
		if (memcmp(key.address, signer, RCPT_ADDR_BYTES) != 0) {
			rcpt_key_wipe(&key);
			cli_err("escrow %s: the key is not the %s signer %s", c->sub, what, want);
			return 2;
		}
		re = rcpt_sign_digest(sig, &key, digest);
		rcpt_key_wipe(&key);
		if (re != RCPT_OK) {
			cli_err("escrow %s: could not sign: %s", c->sub, rcpt_strerror(re));
			return 1;
		}
	}
	if (rcpt_hex_encode(out, RCPT_SIG_HEX_BYTES, sig, sizeof(sig)) != RCPT_OK)
		return 1;
	return 0;
}

/* Reads and parses a statement file into `parsed` (via `parse`), and
 * its canonical JSON object into *as_json.  0 or 2. */
typedef enum rcpt_err (*esc_parse_fn)(void *out, struct rcpt_diag *d, const char *json,
				      size_t len);
typedef enum rcpt_err (*esc_dump_fn)(char **out, const void *in);

static enum rcpt_err parse_job(void *o, struct rcpt_diag *d, const char *j, size_t n)
{
	return rcpt_job_parse(o, d, j, n);
}
static enum rcpt_err dump_job(char **o, const void *in) { return rcpt_job_to_json(o, in); }
static enum rcpt_err parse_receipt(void *o, struct rcpt_diag *d, const char *j, size_t n)
{
	return rcpt_receipt_parse(o, d, j, n);
}
static enum rcpt_err dump_receipt(char **o, const void *in)
{
	return rcpt_receipt_to_json(o, in);
}
static enum rcpt_err parse_att(void *o, struct rcpt_diag *d, const char *j, size_t n)
{
	return rcpt_attestation_parse(o, d, j, n);
}
static enum rcpt_err dump_att(char **o, const void *in)
{
	return rcpt_attestation_to_json(o, in);
}

static int read_statement(struct esc_ctx *c, void *parsed, json_t **as_json,
			  const char *path, const char *what, esc_parse_fn parse,
			  esc_dump_fn dump)
{
	struct rcpt_diag d = { "" };
	char *text = NULL, *canon = NULL;
	size_t len;
	enum rcpt_err re;
	int rc = 2;

	*as_json = NULL;
	if (read_file(c, &text, &len, path, ESC_STATEMENT_BYTES_MAX))
		return 2;
	re = parse(parsed, &d, text, len);
	if (re != RCPT_OK) {
		cli_err("escrow %s: %s '%s': %s", c->sub, what, path,
			d.msg[0] ? d.msg : rcpt_strerror(re));
		goto out;
	}
	if (dump(&canon, parsed) != RCPT_OK || !(*as_json = json_loads(canon, 0, NULL))) {
		cli_err("escrow %s: %s '%s' does not serialise", c->sub, what, path);
		goto out;
	}
	rc = 0;
out:
	free(canon);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Subcommands                                                          */

static int sub_faucet(struct esc_ctx *c)
{
	uint8_t who[RCPT_ADDR_BYTES];

	if (check_address(c, c->a.pos[0], who) || check_amount(c, c->a.pos[1]))
		return 2;
	return esc_post_json(c, "/v1/faucet",
			     json_pack("{s:s, s:s}", "address", c->a.pos[0],
				       "amount", c->a.pos[1]), NULL);
}

static int sub_balance(struct esc_ctx *c)
{
	uint8_t who[RCPT_ADDR_BYTES];
	char addr[RCPT_ADDR_HEX_BYTES], target[96];
	struct rcpt_key key;

	if ((c->a.npos == 1) == (c->a.val[O_KEY] != NULL)) {
		cli_err("escrow balance: give either ADDRESS or --key FILE");
		return 2;
	}
	if (c->a.npos == 1) {
		if (check_address(c, c->a.pos[0], who))
			return 2;
	} else {
		if (load_key(c, &key, c->a.val[O_KEY]))
			return 2;
		memcpy(who, key.address, RCPT_ADDR_BYTES);
		rcpt_key_wipe(&key);
	}
	rcpt_address_format(addr, who);
	snprintf(target, sizeof(target), "/v1/accounts/%s", addr);
	return esc_call(c, "GET", target, NULL, NULL, 0, NULL);
}

/* stake, unstake, withdraw (with an amount) and unbond (without). */
static int sub_account(struct esc_ctx *c, const char *route, int has_amount)
{
	struct rcpt_key key;
	const struct rcpt_key *use;
	json_t *body;
	int rc;

	if (has_amount && check_amount(c, c->a.pos[0]))
		return 2;
	if (signer(c, &key, &use, "a signed request"))
		return 2;
	body = has_amount ? json_pack("{s:s}", "amount", c->a.pos[0]) : json_object();
	rc = esc_post_json(c, route, body, use);
	if (use)
		rcpt_key_wipe(&key);
	OPENSSL_cleanse(c->bearer, sizeof(c->bearer));
	return rc;
}

static int need_sig_or_key(const struct esc_ctx *c)
{
	if ((c->a.val[O_SIG] != NULL) == (c->a.val[O_KEY] != NULL)) {
		cli_err("escrow %s: give either --sig SIG or --key FILE", c->sub);
		return -1;
	}
	return 0;
}

static int sub_open(struct esc_ctx *c)
{
	struct rcpt_domain dom;
	struct rcpt_job job;
	struct rcpt_diag d = { "" };
	uint8_t id[RCPT_HASH_BYTES];
	char sig[RCPT_SIG_HEX_BYTES];
	json_t *jjob = NULL, *jdom = NULL, *body;
	int rc;

	if (need_sig_or_key(c))
		return 2;
	rc = read_statement(c, &job, &jjob, c->a.pos[0], "job", parse_job, dump_job);
	if (!rc)
		rc = get_domain(c, &dom, &jdom);
	if (rc)
		goto out;
	if (rcpt_job_id(id, &d, &dom, &job) != RCPT_OK) {
		cli_err("escrow open: job '%s': %s", c->a.pos[0], d.msg);
		rc = 2;
		goto out;
	}
	rc = statement_sig(c, sig, "JobSpec", id, job.customer);
	if (rc)
		goto out;
	body = json_pack("{s:O, s:s}", "job", jjob, "jobSignature", sig);
	/* With the domain, a chain mismatch is named as such (wrong-chain). */
	if (body && jdom && json_object_set(body, "domain", jdom)) {
		json_decref(body);
		body = NULL;
	}
	rc = esc_post_json(c, "/v1/jobs", body, NULL);
out:
	json_decref(jjob);
	json_decref(jdom);
	return rc;
}

static int sub_receipt(struct esc_ctx *c)
{
	struct rcpt_domain dom;
	struct rcpt_receipt rec;
	struct rcpt_diag d = { "" };
	uint8_t id[RCPT_HASH_BYTES], rid[RCPT_HASH_BYTES];
	char sig[RCPT_SIG_HEX_BYTES], target[128], idhex[RCPT_HASH_HEX_BYTES];
	json_t *jrec = NULL, *jdom = NULL;
	int rc;

	if (check_id(c, c->a.pos[0], id) || need_sig_or_key(c))
		return 2;
	rc = read_statement(c, &rec, &jrec, c->a.pos[1], "receipt", parse_receipt,
			    dump_receipt);
	if (rc)
		goto out;
	if (memcmp(rec.job, id, RCPT_HASH_BYTES) != 0) {
		cli_err("escrow receipt: receipt '%s' is for another job than %.80s",
			c->a.pos[1], c->a.pos[0]);
		rc = 2;
		goto out;
	}
	rc = get_domain(c, &dom, &jdom);
	if (rc)
		goto out;
	if (rcpt_receipt_id(rid, &d, &dom, &rec) != RCPT_OK) {
		cli_err("escrow receipt: receipt '%s': %s", c->a.pos[1], d.msg);
		rc = 2;
		goto out;
	}
	rc = statement_sig(c, sig, "Receipt", rid, rec.provider);
	if (rc)
		goto out;
	if (rcpt_hex_encode(idhex, sizeof(idhex), id, sizeof(id)) != RCPT_OK) {
		rc = 1;
		goto out;
	}
	snprintf(target, sizeof(target), "/v1/jobs/%s/receipt", idhex);
	rc = esc_post_json(c, target, json_pack("{s:O, s:s}", "receipt", jrec,
						"receiptSignature", sig), NULL);
out:
	json_decref(jrec);
	json_decref(jdom);
	return rc;
}

/* The input file as base64 (NUL-terminated, caller frees).  0 or 2. */
static int input_base64(struct esc_ctx *c, char **out, const char *path)
{
	char *data = NULL;
	size_t len;
	unsigned char *b64;

	*out = NULL;
	if (read_file(c, &data, &len, path, ESC_INPUT_BYTES_MAX))
		return 2;
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64) {
		free(data);
		cli_err("escrow %s: out of memory", c->sub);
		return 2;
	}
	assert(len <= ESC_INPUT_BYTES_MAX);
	if (EVP_EncodeBlock(b64, (const unsigned char *)data, (int)len) !=
	    (int)(4 * ((len + 2) / 3))) {
		free(data);
		free(b64);
		cli_err("escrow %s: could not encode the input", c->sub);
		return 2;
	}
	free(data);
	*out = (char *)b64;
	return 0;
}

static int sub_attest(struct esc_ctx *c)
{
	struct rcpt_domain dom;
	struct rcpt_attestation att;
	struct rcpt_diag d = { "" };
	uint8_t id[RCPT_HASH_BYTES], digest[RCPT_HASH_BYTES];
	char sig[RCPT_SIG_HEX_BYTES], target[128], idhex[RCPT_HASH_HEX_BYTES];
	char *b64 = NULL;
	json_t *jatt = NULL, *jdom = NULL, *body = NULL;
	int rc;

	if (check_id(c, c->a.pos[0], id) || need_sig_or_key(c))
		return 2;
	rc = read_statement(c, &att, &jatt, c->a.pos[1], "attestation", parse_att, dump_att);
	if (rc)
		goto out;
	if (c->a.val[O_INPUT] && att.verdict != RCPT_VERDICT_DIFFERS) {
		cli_err("escrow attest: --input goes only with a fraud claim (verdict 2)");
		rc = 2;
		goto out;
	}
	rc = get_domain(c, &dom, &jdom);
	if (rc)
		goto out;
	if (rcpt_attestation_digest(digest, &d, &dom, &att) != RCPT_OK) {
		cli_err("escrow attest: attestation '%s': %s", c->a.pos[1], d.msg);
		rc = 2;
		goto out;
	}
	rc = statement_sig(c, sig, "Attestation", digest, att.validator);
	if (!rc && c->a.val[O_INPUT])
		rc = input_base64(c, &b64, c->a.val[O_INPUT]);
	if (rc)
		goto out;
	if (rcpt_hex_encode(idhex, sizeof(idhex), id, sizeof(id)) != RCPT_OK) {
		rc = 1;
		goto out;
	}
	snprintf(target, sizeof(target), "/v1/jobs/%s/attestations", idhex);
	body = json_pack("{s:O, s:s}", "attestation", jatt, "signature", sig);
	if (body && b64 && json_object_set_new(body, "input", json_string(b64))) {
		json_decref(body);
		body = NULL;
	}
	rc = esc_post_json(c, target, body, NULL);
out:
	free(b64);
	json_decref(jatt);
	json_decref(jdom);
	return rc;
}

static int sub_input(struct esc_ctx *c)
{
	uint8_t id[RCPT_HASH_BYTES];
	char target[128], idhex[RCPT_HASH_HEX_BYTES], *data = NULL;
	size_t len;
	int rc;

	if (check_id(c, c->a.pos[0], id))
		return 2;
	if (read_file(c, &data, &len, c->a.pos[1], ESC_INPUT_BYTES_MAX))
		return 2;
	if (rcpt_hex_encode(idhex, sizeof(idhex), id, sizeof(id)) != RCPT_OK) {
		free(data);
		return 1;
	}
	snprintf(target, sizeof(target), "/v1/jobs/%s/input", idhex);
	rc = esc_call(c, "POST", target, "application/octet-stream", data, len, NULL);
	free(data);
	return rc;
}

static int sub_job(struct esc_ctx *c)
{
	uint8_t id[RCPT_HASH_BYTES];
	char target[128], idhex[RCPT_HASH_HEX_BYTES];

	if (check_id(c, c->a.pos[0], id) ||
	    rcpt_hex_encode(idhex, sizeof(idhex), id, sizeof(id)) != RCPT_OK)
		return 2;
	snprintf(target, sizeof(target), "/v1/jobs/%s", idhex);
	return esc_call(c, "GET", target, NULL, NULL, 0, NULL);
}

static int sub_jobs(struct esc_ctx *c)
{
	static const char *const states[] = { "opening", "open", "receipted", "disputed",
		"releasing", "refunding", "paid", "refunded" };
	const char *s = c->a.val[O_STATE];
	char target[64];
	size_t i;

	if (!s)
		return esc_call(c, "GET", "/v1/jobs", NULL, NULL, 0, NULL);
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (strcmp(s, states[i]) == 0)
			break;
	if (i == sizeof(states) / sizeof(states[0])) {
		cli_err("escrow jobs: --state '%.32s' is not a job state (open, receipted, "
			"disputed, paid, refunded, ...)", s);
		return 2;
	}
	snprintf(target, sizeof(target), "/v1/jobs?state=%s", states[i]);
	return esc_call(c, "GET", target, NULL, NULL, 0, NULL);
}

static int sub_audit(struct esc_ctx *c)
{
	uint8_t id[RCPT_HASH_BYTES], who[RCPT_ADDR_BYTES];
	char target[160], hex[RCPT_HASH_HEX_BYTES];
	struct rcpt_key key;
	const struct rcpt_key *use;
	int rc;

	if (rcpt_hex_decode(id, sizeof(id), c->a.pos[0]) == RCPT_OK) {
		if (rcpt_hex_encode(hex, sizeof(hex), id, sizeof(id)) != RCPT_OK)
			return 1;
		snprintf(target, sizeof(target), "/v1/audit?job=%s", hex);
	} else if (rcpt_address_parse(who, c->a.pos[0]) == RCPT_OK) {
		rcpt_address_format(hex, who);
		snprintf(target, sizeof(target), "/v1/audit?account=%s", hex);
	} else {
		cli_err("escrow audit: '%.80s' is neither a job id nor an address", c->a.pos[0]);
		return 2;
	}
	if (signer(c, &key, &use, "the job's customer or provider, or the account itself"))
		return 2;
	rc = esc_call(c, "GET", target, NULL, NULL, 0, use);
	if (use)
		rcpt_key_wipe(&key);
	OPENSSL_cleanse(c->bearer, sizeof(c->bearer));
	return rc;
}

/* GET /v1/operator/anomalies, signed by the operator's key (or an
 * audit:read API key of the operator). */
static int sub_anomalies(struct esc_ctx *c)
{
	struct rcpt_key key;
	const struct rcpt_key *use;
	int rc;

	if (signer(c, &key, &use, "the operator"))
		return 2;
	rc = esc_call(c, "GET", "/v1/operator/anomalies", NULL, NULL, 0, use);
	if (use)
		rcpt_key_wipe(&key);
	OPENSSL_cleanse(c->bearer, sizeof(c->bearer));
	return rc;
}

/* ------------------------------------------------------------------ */
/* The approved registry: the operator's decisions (docs/escrow.md)     */

static int sub_provider(struct esc_ctx *c)
{
	uint8_t who[RCPT_ADDR_BYTES];
	char addr[RCPT_ADDR_HEX_BYTES], target[96];

	if (check_address(c, c->a.pos[0], who))
		return 2;
	rcpt_address_format(addr, who);
	snprintf(target, sizeof(target), "/v1/providers/%s", addr);
	return esc_call(c, "GET", target, NULL, NULL, 0, NULL);
}

/* The nonce of the provider's last recorded decision (0: none) from GET
 * /v1/providers/ADDR.  0, or 1 having said why. */
static int last_decision_nonce(struct esc_ctx *c, uint64_t *out, const char *addr)
{
	struct esc_resp resp;
	char target[96];
	json_t *doc, *n;
	int rc = 1;

	*out = 0;
	snprintf(target, sizeof(target), "/v1/providers/%s", addr);
	if (esc_http(c, &resp, "GET", target, NULL, NULL, 0, NULL))
		return 1;
	if (resp.status != 200 && resp.status != 404)
		return esc_finish(c, &resp);
	doc = json_loadb(resp.body, resp.len, JSON_REJECT_DUPLICATES, NULL);
	n = json_object_get(json_object_get(doc, "registry"), "nonce");
	if (resp.status == 200 && json_object_get(doc, "registry") &&
	    (!json_is_integer(n) || json_integer_value(n) < 1)) {
		cli_err("escrow %s: '%s' answered %s without a registry nonce", c->sub, c->base,
			target);
		goto out;
	}
	if (resp.status == 200 && n)
		*out = (uint64_t)json_integer_value(n);
	rc = 0;
out:
	json_decref(doc);
	free(resp.body);
	return rc;
}

/* The decision's own fields from the subcommand and its options: an
 * approval names the organisation, a contact and an RFC 3339 expiry;
 * a suspension or revocation nothing.  0, or 2 having said why. */
static int decision_fields(struct esc_ctx *c, struct rcpt_decision *d)
{
	const char *org = c->a.val[O_ORG], *con = c->a.val[O_CONTACT], *ex = c->a.val[O_EXPIRES];
	int64_t t = 0;

	snprintf(d->action, sizeof(d->action), "%s", c->sub);
	if (strcmp(c->sub, "approve") != 0)
		return 0;
	if (!org || !con || !ex) {
		cli_err("escrow approve: needs --org NAME, --contact C and --expires RFC3339");
		return 2;
	}
	if (strlen(org) > RCPT_ORGANISATION_BYTES_MAX || strlen(con) > RCPT_CONTACT_BYTES_MAX) {
		cli_err("escrow approve: --org is at most %d bytes and --contact at most %d",
			RCPT_ORGANISATION_BYTES_MAX, RCPT_CONTACT_BYTES_MAX);
		return 2;
	}
	if (httpd_rfc3339_parse(&t, ex, strlen(ex)) != 0 || t <= 0) {
		cli_err("escrow approve: --expires '%.40s' is not an RFC 3339 date-time "
			"(2027-01-31T00:00:00Z)", ex);
		return 2;
	}
	memcpy(d->organisation, org, strlen(org) + 1);
	memcpy(d->contact, con, strlen(con) + 1);
	d->expires = (uint64_t)t;
	return 0;
}

/* {"decision": D, "signature": SIG} for d signed by key under dom;
 * NULL having said why. */
static json_t *decision_body(struct esc_ctx *c, const struct rcpt_decision *d,
			     const struct rcpt_domain *dom, const struct rcpt_key *key)
{
	struct rcpt_diag diag = { "" };
	uint8_t digest[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
	char hex[RCPT_SIG_HEX_BYTES], *text = NULL;
	json_t *o = NULL;

	if (rcpt_decision_digest(digest, &diag, dom, d) != RCPT_OK) {
		cli_err("escrow %s: decision: %s", c->sub, diag.msg);
		return NULL;
	}
	if (rcpt_sign_digest(sig, key, digest) != RCPT_OK ||
	    rcpt_hex_encode(hex, sizeof(hex), sig, sizeof(sig)) != RCPT_OK ||
	    rcpt_decision_to_json(&text, d) != RCPT_OK) {
		cli_err("escrow %s: could not sign the decision", c->sub);
		return NULL;
	}
	o = json_pack("{s:o, s:s}", "decision", json_loads(text, 0, NULL), "signature", hex);
	free(text);
	if (!o)
		cli_err("escrow %s: out of memory", c->sub);
	return o;
}

/* approve, suspend, revoke: a ProviderDecision signed with --key (the
 * operator's), numbered above the provider's last decision (and at
 * least the time in milliseconds, so that two operators' consoles do
 * not reuse one), posted to /v1/providers/ADDRESS/decisions. */
static int sub_decide(struct esc_ctx *c)
{
	struct rcpt_decision d;
	struct rcpt_domain dom;
	struct rcpt_key key;
	char addr[RCPT_ADDR_HEX_BYTES], target[128];
	uint64_t last = 0, now_ms = (uint64_t)time(NULL) * 1000u;
	json_t *body;
	int rc;

	memset(&d, 0, sizeof(d));
	if (check_address(c, c->a.pos[0], d.provider))
		return 2;
	if (!c->a.val[O_KEY]) {
		cli_err("escrow %s: needs --key FILE (the operator's key)", c->sub);
		return 2;
	}
	rc = decision_fields(c, &d);
	if (rc || load_key(c, &key, c->a.val[O_KEY]))
		return 2;
	rcpt_address_format(addr, d.provider);
	rc = fetch_domain(c, &dom);
	if (!rc)
		rc = last_decision_nonce(c, &last, addr);
	if (!rc) {
		memcpy(d.operator_addr, key.address, RCPT_ADDR_BYTES);
		d.nonce = last + 1 > now_ms ? last + 1 : now_ms;
		d.issued_at = now_ms / 1000u;
		body = decision_body(c, &d, &dom, &key);
		snprintf(target, sizeof(target), "/v1/providers/%s/decisions", addr);
		rc = body ? esc_post_json(c, target, body, NULL) : 2;
	}
	rcpt_key_wipe(&key);
	return rc;
}

/* revoke-sessions: the operator's signed request (never a session or an
 * API key: the escrow keeps its signature in the audit entry). */
static int sub_revoke_sessions(struct esc_ctx *c)
{
	struct rcpt_key key;
	uint8_t a[RCPT_ADDR_BYTES];
	char addr[RCPT_ADDR_HEX_BYTES];
	int rc;

	if (check_address(c, c->a.pos[0], a))
		return 2;
	if (!c->a.val[O_KEY]) {
		cli_err("escrow revoke-sessions: needs --key FILE (the operator's key)");
		return 2;
	}
	if (load_key(c, &key, c->a.val[O_KEY]))
		return 2;
	rcpt_address_format(addr, a);
	rc = esc_post_json(c, "/v1/operator/revocations", json_pack("{s:s}", "address", addr), &key);
	rcpt_key_wipe(&key);
	return rc;
}

/* ------------------------------------------------------------------ */

struct esc_sub {
	const char *name;
	size_t pos_min, pos_max;
	unsigned opts;                 /* M(O_...) allowed beyond --url */
	int mutating;                  /* sends an Idempotency-Key */
};

static const struct esc_sub esc_subs[] = {
	{ "params", 0, 0, 0, 0 },
	{ "faucet", 2, 2, M(O_IDEM), 1 },
	{ "balance", 0, 1, M(O_KEY), 0 },
	{ "stake", 1, 1, M(O_KEY) | M(O_IDEM), 1 },
	{ "unstake", 1, 1, M(O_KEY) | M(O_IDEM), 1 },
	{ "withdraw", 1, 1, M(O_KEY) | M(O_IDEM), 1 },
	{ "unbond", 0, 0, M(O_KEY) | M(O_IDEM), 1 },
	{ "open", 1, 1, M(O_KEY) | M(O_SIG) | M(O_DOMAIN) | M(O_IDEM), 1 },
	{ "receipt", 2, 2, M(O_KEY) | M(O_SIG) | M(O_DOMAIN) | M(O_IDEM), 1 },
	{ "attest", 2, 2, M(O_KEY) | M(O_SIG) | M(O_DOMAIN) | M(O_INPUT) | M(O_IDEM), 1 },
	{ "input", 2, 2, M(O_IDEM), 1 },
	{ "job", 1, 1, 0, 0 },
	{ "settle", 1, 1, M(O_KEY), 1 },
	{ "jobs", 0, 0, M(O_STATE), 0 },
	{ "audit", 1, 1, M(O_KEY), 0 },
	{ "provider", 1, 1, 0, 0 },
	{ "approve", 1, 1, M(O_KEY) | M(O_ORG) | M(O_CONTACT) | M(O_EXPIRES) | M(O_IDEM), 1 },
	{ "suspend", 1, 1, M(O_KEY) | M(O_IDEM), 1 },
	{ "revoke", 1, 1, M(O_KEY) | M(O_IDEM), 1 },
	{ "anomalies", 0, 0, M(O_KEY), 0 },
	{ "revoke-sessions", 1, 1, M(O_KEY) | M(O_IDEM), 1 },
};

/* ------------------------------------------------------------------ */
/* The EVM backend of the account subcommands                           */

static void esc_evm_flags(struct money_evm_flags *f, const struct esc_ctx *c)
{
	memset(f, 0, sizeof(*f));
	f->rpc = c->a.val[O_RPC];
	f->escrow_address = c->a.val[O_ESCROW_ADDRESS];
	f->chain = c->a.val[O_CHAIN];
	f->key = c->a.val[O_KEY];
	f->confirmations = c->a.val[O_CONFIRMATIONS];
	f->timeout_s = c->a.val[O_TIMEOUT];
	f->sig = c->a.val[O_SIG];
	f->relayer = c->a.val[O_RELAYER];
	f->receipt = c->a.val[O_RECEIPT];
}

/* 1 when the options choose the EVM for this subcommand, 0 for HTTP, -1
 * after saying why neither (exit 2).  $ASSAY_ESCROW_URL is only --url's
 * default: it chooses nothing. */
static int esc_backend(struct esc_ctx *c, const struct esc_sub *sub)
{
#define TX_OPTS (M(O_KEY) | M(O_CONFIRMATIONS) | M(O_TIMEOUT))
	static const struct {
		const char *name;
		unsigned opts;         /* M(O_...) it takes beyond the connection's */
	} evm_subs[] = {
		{ "balance", TX_OPTS }, { "stake", TX_OPTS }, { "unstake", TX_OPTS },
		{ "withdraw", TX_OPTS }, { "unbond", TX_OPTS },
		{ "open", TX_OPTS | M(O_SIG) | M(O_RELAYER) },
		{ "receipt", TX_OPTS | M(O_SIG) | M(O_RELAYER) },
		{ "attest", TX_OPTS | M(O_SIG) | M(O_RELAYER) | M(O_RECEIPT) },
		{ "settle", TX_OPTS }, { "job", 0 },
	};
#undef TX_OPTS
	struct money_evm_flags f;
	enum money_backend_kind k;
	char cmd[48];
	size_t i, n = sizeof(evm_subs) / sizeof(evm_subs[0]);

	esc_evm_flags(&f, c);
	snprintf(cmd, sizeof(cmd), "escrow %s", sub->name);
	k = money_backend(cmd, "--url", c->a.val[O_URL] != NULL, &f);
	if (k != MONEY_BACKEND_EVM)
		return k == MONEY_BACKEND_HTTP ? 0 : -1;
	for (i = 0; i < n && strcmp(sub->name, evm_subs[i].name) != 0; i++)
		;
	if (i == n) {
		cli_err("escrow %s: not on the EVM backend (--rpc): only balance, stake, unstake, "
			"withdraw, unbond, open, receipt, attest, settle and job are", sub->name);
		return -1;
	}
	for (int o = O_KEY; o < O_COUNT_; o++) {
		if (o == O_RPC || o == O_ESCROW_ADDRESS || o == O_CHAIN)
			continue;
		if (c->a.val[o] && !(evm_subs[i].opts & M(o))) {
			cli_err("escrow %s: option --%s does not apply on the EVM backend", sub->name,
				esc_opts[o].name);
			return -1;
		}
	}
	return 1;
}

static int esc_evm(struct esc_ctx *c)
{
	struct money_evm_flags f;
	char cmd[48];
	const char *s = c->sub;

	esc_evm_flags(&f, c);
	snprintf(cmd, sizeof(cmd), "escrow %s", s);
	if (strcmp(s, "balance") == 0) {
		if ((c->a.npos == 1) == (c->a.val[O_KEY] != NULL)) {
			cli_err("escrow balance: give either ADDRESS or --key FILE");
			return 2;
		}
		return money_evm_balance(cmd, &f, c->a.npos == 1 ? c->a.pos[0] : NULL);
	}
	if (strcmp(s, "stake") == 0)
		return money_evm_send(cmd, &f, MONEY_STAKE, c->a.pos[0]);
	if (strcmp(s, "unstake") == 0)
		return money_evm_send(cmd, &f, MONEY_UNSTAKE, c->a.pos[0]);
	if (strcmp(s, "withdraw") == 0)
		return money_evm_send(cmd, &f, MONEY_WITHDRAW, c->a.pos[0]);
	if (strcmp(s, "unbond") == 0)
		return money_evm_send(cmd, &f, MONEY_UNBOND, NULL);
	if (strcmp(s, "open") == 0)
		return money_evm_statement(cmd, &f, MONEY_OPEN, NULL, c->a.pos[0]);
	if (strcmp(s, "receipt") == 0)
		return money_evm_statement(cmd, &f, MONEY_RECEIPT, c->a.pos[0], c->a.pos[1]);
	if (strcmp(s, "attest") == 0)
		return money_evm_statement(cmd, &f, MONEY_ATTEST, c->a.pos[0], c->a.pos[1]);
	if (strcmp(s, "settle") == 0)
		return money_evm_statement(cmd, &f, MONEY_SETTLE, c->a.pos[0], NULL);
	assert(strcmp(s, "job") == 0 && c->a.npos == 1);
	return money_evm_statement(cmd, &f, MONEY_JOB, c->a.pos[0], NULL);
}

static int esc_dispatch(struct esc_ctx *c)
{
	const char *s = c->sub;

	if (strcmp(s, "params") == 0)
		return esc_call(c, "GET", "/v1/params", NULL, NULL, 0, NULL);
	if (strcmp(s, "faucet") == 0)
		return sub_faucet(c);
	if (strcmp(s, "balance") == 0)
		return sub_balance(c);
	if (strcmp(s, "stake") == 0)
		return sub_account(c, "/v1/stake", 1);
	if (strcmp(s, "unstake") == 0)
		return sub_account(c, "/v1/unstake", 1);
	if (strcmp(s, "withdraw") == 0)
		return sub_account(c, "/v1/withdraw", 1);
	if (strcmp(s, "unbond") == 0)
		return sub_account(c, "/v1/unbond", 0);
	if (strcmp(s, "open") == 0)
		return sub_open(c);
	if (strcmp(s, "receipt") == 0)
		return sub_receipt(c);
	if (strcmp(s, "attest") == 0)
		return sub_attest(c);
	if (strcmp(s, "input") == 0)
		return sub_input(c);
	if (strcmp(s, "job") == 0)
		return sub_job(c);
	if (strcmp(s, "jobs") == 0)
		return sub_jobs(c);
	if (strcmp(s, "provider") == 0)
		return sub_provider(c);
	if (strcmp(s, "approve") == 0 || strcmp(s, "suspend") == 0 || strcmp(s, "revoke") == 0)
		return sub_decide(c);
	if (strcmp(s, "anomalies") == 0)
		return sub_anomalies(c);
	if (strcmp(s, "revoke-sessions") == 0)
		return sub_revoke_sessions(c);
	return sub_audit(c);
}

int cmd_escrow(int argc, char **argv)
{
	struct esc_ctx c;
	const struct esc_sub *sub = NULL;
	const char *url;
	int rc, evm;

	assert(argc >= 1 && argv && strcmp(argv[0], "escrow") == 0);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(ESCROW_USAGE, argc < 2 ? stderr : stdout);
		if (argc >= 2) {
			fputc('\n', stdout);
			fputs(MONEY_EVM_USAGE, stdout);
		}
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(esc_subs) / sizeof(esc_subs[0]); i++)
		if (strcmp(argv[1], esc_subs[i].name) == 0)
			sub = &esc_subs[i];
	if (!sub) {
		cli_err("escrow: unknown subcommand '%.32s' (see assay escrow --help)", argv[1]);
		return 2;
	}
	memset(&c, 0, sizeof(c));
	c.sub = sub->name;
	if (cli_parse(&c.a, argc - 1, argv + 1, esc_opts, O_COUNT_, 0, CLI_POS_MAX))
		return 2;
	if (c.a.help) {
		fputs(ESCROW_USAGE, stdout);
		fputc('\n', stdout);
		fputs(MONEY_EVM_USAGE, stdout);
		return 0;
	}
	if (c.a.npos < sub->pos_min || c.a.npos > sub->pos_max) {
		cli_err("escrow %s: %s arguments (see assay escrow --help)", c.sub,
			c.a.npos < sub->pos_min ? "missing" : "too many");
		return 2;
	}
	evm = esc_backend(&c, sub);
	if (evm < 0)
		return 2;
	if (evm)
		return esc_evm(&c);
	if (strcmp(c.sub, "settle") == 0) {
		cli_err("escrow settle: only on the EVM backend (--rpc URL ...): assay-escrow "
			"settles its jobs itself");
		return 2;
	}
	for (int o = O_KEY; o < O_RPC; o++) {
		if (c.a.val[o] && !(sub->opts & M(o))) {
			cli_err("escrow %s: option --%s does not apply", c.sub, esc_opts[o].name);
			return 2;
		}
	}
	url = c.a.val[O_URL] ? c.a.val[O_URL] : getenv("ASSAY_ESCROW_URL");
	if (check_url(&c, url && url[0] ? url : ESC_DEFAULT_URL))
		return 2;
	if (sub->mutating) {
		if (c.a.val[O_IDEM] ? check_idem(&c, c.a.val[O_IDEM]) : make_idem(&c))
			return 2;
	}
	rc = esc_dispatch(&c);
	assert(rc >= 0 && rc <= 2);
	return rc;
}

/* ------------------------------------------------------------------ */
/* `assay apikey ...`: the API keys of the escrow or of a provider        */
/* (docs/api-auth.md)                                                   */

static const char APIKEY_USAGE[] =
	"usage: assay apikey create --key FILE [--scope S[,S...]] [--expires-in-s N] [--label L]\n"
	"       assay apikey list --key FILE\n"
	"       assay apikey revoke ID --key FILE\n"
	"\n"
	"create prints the new key once, with its secret (\"secret\": the whole\n"
	"bearer token); the daemon keeps only an Argon2id hash of it.  The key\n"
	"expires after --expires-in-s seconds (60 to 31536000; default 2592000).\n"
	"At the escrow (--url URL; default $ASSAY_ESCROW_URL, else " ESC_DEFAULT_URL "),\n"
	"scopes: jobs:write, attest, funds, audit:read, keys (default: funds).\n"
	"At a provider (--provider URL instead), scopes: jobs:write, jobs:read,\n"
	"validate, keys (default: jobs:write,jobs:read); a key made at one daemon\n"
	"is unknown to the other.  --key FILE signs each request with the\n"
	"wallet's key.\n";

enum ak_opt { AK_URL, AK_PROVIDER, AK_KEY, AK_SCOPE, AK_EXPIRES, AK_LABEL, AK_IDEM, AK_COUNT_ };

static const struct cli_opt ak_opts[AK_COUNT_] = {
	[AK_URL] = { "url", 0, 0 },
	[AK_PROVIDER] = { "provider", 0, 0 },
	[AK_KEY] = { "key", 0, 1 },
	[AK_SCOPE] = { "scope", 0, 0 },
	[AK_EXPIRES] = { "expires-in-s", 0, 0 },
	[AK_LABEL] = { "label", 0, 0 },
	[AK_IDEM] = { "idempotency-key", 0, 0 },
};

/* The create body from the options; NULL after saying why (exit 2). */
static json_t *ak_create_body(const struct esc_ctx *c)
{
	const char *sc = c->a.val[AK_SCOPE] ? c->a.val[AK_SCOPE] :
			 c->a.val[AK_PROVIDER] ? "jobs:write,jobs:read" : "funds";
	const char *ex = c->a.val[AK_EXPIRES] ? c->a.val[AK_EXPIRES] : "2592000";
	json_t *scopes = json_array(), *o;
	char *end = NULL;
	unsigned long long ttl;

	errno = 0;
	ttl = strtoull(ex, &end, 10);
	if (!scopes || errno || !*ex || *end || ex[0] == '-' || ttl > 31536000ull) {
		cli_err("apikey create: --expires-in-s '%.24s' is not a number of seconds up to 31536000", ex);
		json_decref(scopes);
		return NULL;
	}
	for (const char *p = sc; *p;) {
		size_t n = strcspn(p, ",");
		if (n == 0 || json_array_size(scopes) >= 8 ||
		    json_array_append_new(scopes, json_stringn(p, n))) {
			cli_err("apikey create: --scope '%.80s' is not 1 to 8 comma-separated names", sc);
			json_decref(scopes);
			return NULL;
		}
		p += n + (p[n] == ',');
	}
	o = json_pack("{s:o, s:I}", "scopes", scopes, "expiresInS", (json_int_t)ttl);
	if (o && c->a.val[AK_LABEL])
		json_object_set_new(o, "label", json_string(c->a.val[AK_LABEL]));
	return o;
}

static int ak_dispatch(struct esc_ctx *c, const struct rcpt_key *key)
{
	char target[64];
	json_t *body;

	if (strcmp(c->sub, "list") == 0)
		return esc_call(c, "GET", "/v1/apikeys", NULL, NULL, 0, key);
	if (strcmp(c->sub, "revoke") == 0) {
		if (strlen(c->a.pos[0]) != HTTPD_APIKEY_ID_BYTES || strncmp(c->a.pos[0], "ak_", 3)) {
			cli_err("apikey revoke: '%.40s' is not a key id (ak_ + 16 hex digits)", c->a.pos[0]);
			return 2;
		}
		snprintf(target, sizeof(target), "/v1/apikeys/%s", c->a.pos[0]);
		return esc_call(c, "DELETE", target, NULL, NULL, 0, key);
	}
	if (!(body = ak_create_body(c)))
		return 2;
	return esc_post_json(c, "/v1/apikeys", body, key);
}

int cmd_apikey(int argc, char **argv)
{
	struct esc_ctx c;
	struct rcpt_key key;
	const char *url;
	size_t npos;
	int rc;

	assert(argc >= 1 && argv && strcmp(argv[0], "apikey") == 0);
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(APIKEY_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	memset(&c, 0, sizeof(c));
	if (strcmp(argv[1], "create") && strcmp(argv[1], "list") && strcmp(argv[1], "revoke")) {
		cli_err("apikey: unknown subcommand '%.32s' (create, list or revoke)", argv[1]);
		return 2;
	}
	c.sub = argv[1];
	npos = strcmp(c.sub, "revoke") == 0;
	if (cli_parse(&c.a, argc - 1, argv + 1, ak_opts, AK_COUNT_, npos, npos))
		return 2;
	if (c.a.help) {
		fputs(APIKEY_USAGE, stdout);
		return 0;
	}
	for (int o = AK_SCOPE; o < AK_COUNT_; o++) {
		if (c.a.val[o] && strcmp(c.sub, "create") != 0) {
			cli_err("apikey %s: option --%s does not apply", c.sub, ak_opts[o].name);
			return 2;
		}
	}
	if (c.a.val[AK_URL] && c.a.val[AK_PROVIDER]) {
		cli_err("apikey %s: give --url (the escrow) or --provider (a provider), not both",
			c.sub);
		return 2;
	}
	url = c.a.val[AK_PROVIDER] ? c.a.val[AK_PROVIDER] :
	      c.a.val[AK_URL] ? c.a.val[AK_URL] : getenv("ASSAY_ESCROW_URL");
	if (check_url(&c, url && url[0] ? url : ESC_DEFAULT_URL))
		return 2;
	if (strcmp(c.sub, "create") == 0 &&
	    (c.a.val[AK_IDEM] ? check_idem(&c, c.a.val[AK_IDEM]) : make_idem(&c)))
		return 2;
	if (load_key(&c, &key, c.a.val[AK_KEY]))
		return 2;
	rc = ak_dispatch(&c, &key);
	rcpt_key_wipe(&key);
	assert(rc >= 0 && rc <= 2);
	return rc;
}
