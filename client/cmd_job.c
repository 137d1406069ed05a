/*
 * cmd_job.c: what a customer runs (docs/client.md):
 *
 *   assay signin  --url URL --key FILE --out SESSION [--role ROLE] [--scopes A,B]
 *   assay deposit AMOUNT --escrow URL --key FILE          (devnet faucet)
 *   assay balance [ADDRESS] --escrow URL [--key FILE]
 *   (deposit and balance with --rpc URL (--escrow-address A | --chain
 *   FILE) instead of --escrow: the EVM contract, client/money_evm.c)
 *   assay job submit --escrow URL --provider URL --key FILE --kernel NAME
 *                    (--input FILE | --prompt TEXT --vocab FILE --merges FILE)
 *                    --output FILE --bundle FILE
 *                    [--params JSON] [--max-price WEI] [--deadline-s N]
 *                    [--session FILE] [--timeout-s N]
 *   assay job status ID --provider URL (--key FILE | --session FILE)
 *   assay job fetch ID --provider URL (--key FILE | --session FILE)
 *                    --output FILE --bundle FILE
 *
 * Authentication: --key signs each request (docs/api-auth.md); --session
 * uses the bearer token `assay signin` saved (mode 0600, refused when
 * others can read it).  `job submit` always needs the key: it signs the
 * JobSpec (EIP-712), the wallet's job.
 *
 * Nothing is trusted that can be checked: `job submit` and `job fetch`
 * verify the bundle offline (both signatures, the provider, the escrow's
 * domain from GET /v1/params) and the output's commitment against the
 * receipt before writing anything; a mismatch is an error (exit 1) and
 * the files are not written.
 *
 * Output: one JSON line on stdout; progress on stderr (one line per
 * status change); errors one line on stderr.  Exit 0, 1 (refused,
 * failed, unreachable), 2 (bad arguments).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cli.h"
#include "httpd.h"
#include "httpd_client.h"
#include "kernels.h"
#include "money_evm.h"
#include "receipts.h"

#include "banned.h"

/* A job input the escrow's referee can take (ESCROW_INPUT_BYTES_MAX). */
#define JOB_INPUT_BYTES_MAX (8u * 1024u * 1024u)
/* An output: one tensor of at most 1 GiB and its header. */
#define JOB_OUTPUT_BYTES_MAX ((1ull << 30) + (4ull << 20))
/* Default and largest time to wait for a receipt. */
#define JOB_WAIT_S_DEFAULT 600u
#define JOB_WAIT_S_MAX 86400u
/* Default deadline: an hour from now; at most 30 days (the escrow's). */
#define JOB_DEADLINE_S_DEFAULT 3600u
#define JOB_DEADLINE_S_MAX (30u * 86400u)
/* Poll interval while waiting. */
#define JOB_POLL_MS 200
/* A session file: a JSON object with a 64-hex token. */
#define SESSION_BYTES_MAX 4096u
/* Transfers at least this big report progress on stderr. */
#define PROGRESS_BYTES_MIN (1u << 20)
/* How often a rate-limited (429) request is sent again. */
#define HTTP_RETRIES_429 5
/* A sign-in message's lifetime. */
#define SIGNIN_TTL_S 300

struct auth {
	struct rcpt_key key;
	int has_key;
	char token[2 * HTTPD_SESSION_TOKEN_BYTES + 1];
	int has_token;
};

static void auth_wipe(struct auth *a)
{
	rcpt_key_wipe(&a->key);
	OPENSSL_cleanse(a->token, sizeof(a->token));
	a->has_key = a->has_token = 0;
}

static int load_key(struct auth *a, const char *path)
{
	struct rcpt_diag d;

	if (rcpt_key_load(&a->key, &d, path) != RCPT_OK) {
		cli_err("%s", d.msg);
		return -1;
	}
	a->has_key = 1;
	return 0;
}

/* A session file written by `assay signin`. */
static int load_session(struct auth *a, const char *path)
{
	struct stat st;
	char *text = NULL;
	size_t len;
	json_t *o;
	const char *t;
	int rc = -1;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		cli_err("session file '%s' must exist with mode 0600", path);
		return -1;
	}
	if (cli_read_file(&text, &len, path, SESSION_BYTES_MAX))
		return -1;
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	t = json_string_value(json_object_get(o, "token"));
	if (t && strlen(t) == 2 * HTTPD_SESSION_TOKEN_BYTES) {
		snprintf(a->token, sizeof(a->token), "%s", t);
		a->has_token = 1;
		rc = 0;
	} else {
		cli_err("session file '%s' holds no token", path);
	}
	json_decref(o);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}

static int check_url(const char *what, const char *u)
{
	size_t n = u ? strlen(u) : 0;

	if (!n || n > HTTPD_CLIENT_URL_BYTES_MAX || u[n - 1] == '/' ||
	    (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)) {
		cli_err("--%s '%.80s' is not an http(s) URL without a trailing '/'", what,
			u ? u : "");
		return -1;
	}
	return 0;
}

static void idem_new(char out[40])
{
	uint8_t b[12];
	char h[2 * sizeof(b) + 3];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    rcpt_hex_encode(h, sizeof(h), b, sizeof(b)) != RCPT_OK)
		snprintf(h, sizeof(h), "0x%lx", (unsigned long)time(NULL));
	snprintf(out, 40, "c.%s", h + 2);
}

/* Progress of a long transfer on stderr: a line at each quarter. */
struct xfer {
	const char *what;
	unsigned last_quarter;
};

static void on_progress(void *cls, uint64_t sent, uint64_t send_total, uint64_t got,
			uint64_t got_total)
{
	struct xfer *x = cls;
	uint64_t now = send_total ? sent : got, total = send_total ? send_total : got_total;
	unsigned q;

	if (!x || total < PROGRESS_BYTES_MIN)
		return;
	q = (unsigned)(now * 4 / total);
	if (q > x->last_quarter && q <= 4) {
		fprintf(stderr, "assay: %s %u%% (%llu of %llu bytes)\n", x->what, q * 25,
			(unsigned long long)now, (unsigned long long)total);
		x->last_quarter = q;
	}
}

static struct xfer *g_xfer;   /* the transfer http() reports, or NULL */

/*
 * One request.  Returns the HTTP status (the answer in *resp, freed by
 * the caller), or -1 after saying why no answer came.  With idem, an
 * Idempotency-Key is sent.
 */
static long http(struct httpd_client_resp *resp, const char *cmd, const char *method,
		 const char *base, const char *target, const void *body, size_t len,
		 const char *ctype, const struct auth *a, int idem, uint64_t resp_max)
{
	struct httpd_client_req req = { 0 };
	char why[300], ik[40];

	req.method = method;
	req.base_url = base;
	req.target = target;
	req.body = body;
	req.body_len = len;
	req.content_type = ctype;
	if (a && a->has_token)
		req.bearer = a->token;
	else if (a && a->has_key)
		req.key = &a->key;
	if (idem) {
		idem_new(ik);
		req.idem_key = ik;
	}
	req.response_bytes_max = resp_max;
	req.timeout_ms = 120000;
	if (g_xfer) {
		req.progress = on_progress;
		req.progress_cls = g_xfer;
	}
	/* A rate limit (429) is waited out and the same request (with the
	 * same Idempotency-Key) sent again, a few times. */
	for (int attempt = 0;; attempt++) {
		if (httpd_client_request(resp, why, sizeof(why), &req) != HTTPD_OK) {
			cli_err("%s: %s", cmd, why);
			return -1;
		}
		if (resp->status != 429 || attempt >= HTTP_RETRIES_429)
			return resp->status;
		sleep(resp->retry_after_s ? (resp->retry_after_s > 5 ? 5 : resp->retry_after_s) : 1);
		httpd_client_resp_free(resp);
	}
}

/* One line on stderr for a refusal. */
static void refused(const char *cmd, const char *what, const struct httpd_client_resp *r)
{
	const char *detail = json_string_value(json_object_get(r->json, "detail"));

	cli_err("%s: %s: %.100s (%s, HTTP %ld)%s%.300s", cmd, what,
		r->problem_title[0] ? r->problem_title : "refused",
		r->problem_type[0] ? r->problem_type : "no problem type", r->status,
		detail ? ": " : "", detail ? detail : "");
}

static long post_json(struct httpd_client_resp *r, const char *cmd, const char *base,
		      const char *target, json_t *o, const struct auth *a)
{
	char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
	long st;

	json_decref(o);
	if (!t) {
		cli_err("%s: out of memory", cmd);
		return -1;
	}
	st = http(r, cmd, "POST", base, target, t, strlen(t), NULL, a, 1, 0);
	free(t);
	return st;
}

static void print_json(json_t *o)
{
	char *t = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	if (t)
		printf("%s\n", t);
	free(t);
	json_decref(o);
}

/* Writes a file 0600 through a temporary and rename. */
static int write_out(const char *cmd, const char *path, const void *data, size_t len)
{
	char tmp[4200];
	const uint8_t *b = data;
	size_t off = 0;
	int fd, ok = 1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		cli_err("%s: path too long: '%.80s'", cmd, path);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		cli_err("%s: cannot write '%.200s': %s", cmd, path, strerror(errno));
		return -1;
	}
	while (ok && off < len) {
		ssize_t n = write(fd, b + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		if (ok)
			off += (size_t)n;
	}
	ok = ok && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		cli_err("%s: cannot write '%.200s'", cmd, path);
		return -1;
	}
	return 0;
}

/* The escrow's EIP-712 domain from GET /v1/params. */
static int escrow_domain(const char *cmd, const char *escrow, struct rcpt_domain *dom)
{
	struct httpd_client_resp r;
	uint8_t vc[RCPT_ADDR_BYTES];
	const char *s;
	json_int_t chain;
	long st = http(&r, cmd, "GET", escrow, "/v1/params", NULL, 0, NULL, NULL, 0, 0);

	if (st < 0)
		return -1;
	chain = json_integer_value(json_object_get(r.json, "chainId"));
	s = httpd_client_str(&r, "verifyingContract");
	if (st != 200 || chain <= 0 || !s || rcpt_address_parse(vc, s) != RCPT_OK) {
		cli_err("%s: '%s' did not answer GET /v1/params as an Assay escrow (HTTP %ld)", cmd,
			escrow, st);
		httpd_client_resp_free(&r);
		return -1;
	}
	rcpt_domain_assay(dom, (uint64_t)chain, vc);
	httpd_client_resp_free(&r);
	return 0;
}

/* ---------------------------------------------------------------- signin */

static const struct cli_opt signin_opts[] = {
	{ "url", 0, 1 }, { "key", 0, 1 }, { "out", 0, 1 }, { "role", 0, 0 },
	{ "siwe-domain", 0, 0 }, { "scopes", 0, 0 },
};

/* --scopes a,b: one Resources line "- urn:assay:scope:NAME" per name
 * (1 to 7 names of [a-z:] of at most 32 bytes) into out; the service
 * says which it grants.  0, or -1 having said why. */
static int scope_lines(char *out, size_t out_len, const char *list)
{
	size_t n = 0, at = 0, len;
	const char *p = list;

	out[0] = '\0';
	while (list && *p) {
		len = strcspn(p, ",");
		if (len == 0 || len > 32 || strspn(p, "abcdefghijklmnopqrstuvwxyz:") < len ||
		    ++n > 7 || at + len + 20 >= out_len) {
			cli_err("signin: --scopes is 1 to 7 names of [a-z:] separated by commas");
			return -1;
		}
		at += (size_t)snprintf(out + at, out_len - at, "\n- urn:assay:scope:%.*s", (int)len, p);
		p += len + (p[len] == ',');
	}
	if (list && !n) {
		cli_err("signin: --scopes is 1 to 7 names of [a-z:] separated by commas");
		return -1;
	}
	return 0;
}

static int do_signin(int argc, char **argv)
{
	struct cli_args a;
	struct auth au = { 0 };
	struct httpd_client_resp r = { 0 };
	char msg[2048], addr[RCPT_ADDR_HEX_BYTES], iat[21], exp[21], sig[RCPT_SIG_HEX_BYTES];
	char scopes[400];
	uint8_t sg[RCPT_SIG_BYTES];
	const char *url, *role, *nonce, *dom, *uri, *want;
	json_int_t chain;
	char *session = NULL;
	int fd, ret = 1;
	time_t now = time(NULL);

	if (cli_parse(&a, argc, argv, signin_opts, 6, 0, 0))
		return 2;
	if (scope_lines(scopes, sizeof(scopes), a.val[5]))
		return 2;
	url = a.val[0];
	role = a.val[3] ? a.val[3] : "customer";
	if (check_url("url", url))
		return 2;
	if (strcmp(role, "customer") && strcmp(role, "validator") && strcmp(role, "provider") &&
	    strcmp(role, "operator")) {
		cli_err("signin: --role is customer, validator, provider or operator");
		return 2;
	}
	if (load_key(&au, a.val[1]))
		return 2;
	if (http(&r, "signin", "GET", url, "/v1/auth/nonce", NULL, 0, NULL, NULL, 0, 0) != 200) {
		if (r.status)
			refused("signin", "nonce", &r);
		goto out;
	}
	nonce = httpd_client_str(&r, "nonce");
	dom = httpd_client_str(&r, "domain");
	uri = httpd_client_str(&r, "uri");
	chain = json_integer_value(json_object_get(r.json, "chainId"));
	/* The domain the user signs for must be the one they meant: the
	 * URL's authority unless they name another (behind a proxy). */
	want = a.val[4] ? a.val[4] : strstr(url, "://") + 3;
	if (!nonce || !dom || !uri || chain <= 0 || strcmp(dom, want) != 0) {
		cli_err("signin: '%s' asks to sign in for domain '%.80s', not '%.80s' (pass --siwe-domain to accept another)",
			url, dom ? dom : "?", want);
		goto out;
	}
	rcpt_address_format(addr, au.key.address);
	httpd_rfc3339_format(iat, (int64_t)now);
	httpd_rfc3339_format(exp, (int64_t)now + SIGNIN_TTL_S);
	if ((size_t)snprintf(msg, sizeof(msg),
			     "%s wants you to sign in with your Ethereum account:\n%s\n\n"
			     "Sign in to Assay.\n\nURI: %s\nVersion: 1\nChain ID: %lld\n"
			     "Nonce: %s\nIssued At: %s\nExpiration Time: %s\nResources:\n"
			     "- urn:assay:role:%s%s",
			     dom, addr, uri, (long long)chain, nonce, iat, exp, role,
			     scopes) >= sizeof(msg) ||
	    rcpt_message_sign(sg, &au.key, msg, strlen(msg)) != RCPT_OK ||
	    rcpt_hex_encode(sig, sizeof(sig), sg, sizeof(sg)) != RCPT_OK) {
		cli_err("signin: could not build or sign the message");
		goto out;
	}
	httpd_client_resp_free(&r);
	if (post_json(&r, "signin", url, "/v1/auth/signin",
		      json_pack("{s:s, s:s}", "message", msg, "signature", sig), NULL) != 200) {
		if (r.status)
			refused("signin", "sign-in", &r);
		goto out;
	}
	if (!httpd_client_str(&r, "token")) {
		cli_err("signin: the answer holds no token");
		goto out;
	}
	{
		json_t *s = json_pack("{s:s, s:s, s:s, s:s, s:O}", "url", url, "address", addr,
				      "role", role, "token", httpd_client_str(&r, "token"),
				      "expiresAt", json_object_get(r.json, "expiresAt"));
		session = s ? json_dumps(s, JSON_COMPACT) : NULL;
		json_decref(s);
	}
	fd = session ? open(a.val[2], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600)
		     : -1;
	if (fd < 0 || fchmod(fd, 0600) != 0 ||
	    write(fd, session, strlen(session)) != (ssize_t)strlen(session) || close(fd) != 0) {
		cli_err("signin: cannot write the session file '%.200s'", a.val[2]);
		goto out;
	}
	{
		json_t *o = json_pack("{s:s, s:s, s:O}", "address", addr, "role", role, "expiresAt",
				      json_object_get(r.json, "expiresAt"));
		if (o && json_is_array(json_object_get(r.json, "scopes")))
			json_object_set(o, "scopes", json_object_get(r.json, "scopes"));
		print_json(o);
	}
	ret = 0;
out:
	if (session) {
		OPENSSL_cleanse(session, strlen(session));
		free(session);
	}
	if (r.body)
		OPENSSL_cleanse(r.body, r.len);
	httpd_client_resp_free(&r);
	auth_wipe(&au);
	return ret;
}

int cmd_signin(int argc, char **argv)
{
	return do_signin(argc, argv);
}

/* ---------------------------------------------------------------- deposit, balance */

/* --escrow chooses assay-escrow over HTTP; the options after --key
 * choose the EVM contract (client/money_evm.h). */
enum { MO_ESCROW, MO_KEY, MO_RPC, MO_ESCROW_ADDRESS, MO_CHAIN, MO_CONFIRMATIONS,
       MO_TIMEOUT, MO_MINT, MO_COUNT };

static const struct cli_opt money_opts[MO_COUNT] = {
	[MO_ESCROW] = { "escrow", 0, 0 }, [MO_KEY] = { "key", 0, 0 },
	[MO_RPC] = { "rpc", 0, 0 }, [MO_ESCROW_ADDRESS] = { "escrow-address", 0, 0 },
	[MO_CHAIN] = { "chain", 0, 0 }, [MO_CONFIRMATIONS] = { "confirmations", 0, 0 },
	[MO_TIMEOUT] = { "timeout-s", 0, 0 }, [MO_MINT] = { "mint", 1, 0 },
};

static const char DEPOSIT_USAGE[] =
	"usage: assay deposit AMOUNT --escrow URL --key FILE\n"
	"       assay deposit AMOUNT --rpc URL (--escrow-address ADDRESS | --chain FILE)\n"
	"                     --key FILE [--mint] [--confirmations N] [--timeout-s N]\n"
	"\n"
	"Credits AMOUNT (a decimal uint256 in base units) to the key's account and\n"
	"prints the account.  With --escrow, assay-escrow's devnet faucet credits it\n"
	"(an escrow without --devnet has none).  With --rpc, the key's own wallet\n"
	"pays it into the AssayEscrow contract: the token's approve(escrow, AMOUNT)\n"
	"when the allowance is short, then deposit(AMOUNT), both signed by the key;\n"
	"--mint first mints AMOUNT to the key's address with the devnet token's open\n"
	"mint (the DevToken of assay chain deploy; any other token refuses it).\n"
	"\n";

static const char BALANCE_USAGE[] =
	"usage: assay balance [ADDRESS] --escrow URL [--key FILE]\n"
	"       assay balance [ADDRESS] --rpc URL (--escrow-address ADDRESS | --chain FILE)\n"
	"                     [--key FILE]\n"
	"\n"
	"Prints the account of ADDRESS (else of the key's address): available, stake,\n"
	"unbonding and nextRelease (Unix seconds, 0 when nothing unbonds).\n"
	"\n";

/* The EVM options of a parsed money command. */
static void money_flags(struct money_evm_flags *f, const struct cli_args *a)
{
	memset(f, 0, sizeof(*f));
	f->rpc = a->val[MO_RPC];
	f->escrow_address = a->val[MO_ESCROW_ADDRESS];
	f->chain = a->val[MO_CHAIN];
	f->key = a->val[MO_KEY];
	f->confirmations = a->val[MO_CONFIRMATIONS];
	f->timeout_s = a->val[MO_TIMEOUT];
	f->mint = a->val[MO_MINT] != NULL;
}

/* Parses a money command's arguments and picks its backend: HTTP or EVM,
 * else -1 (exit 2, or 0 after --help: *help set). */
static int money_parse(struct cli_args *a, struct money_evm_flags *f, int *help,
		       const char *cmd, const char *usage, int argc, char **argv,
		       size_t pos_min)
{
	enum money_backend_kind k;

	*help = 0;
	if (cli_parse(a, argc, argv, money_opts, MO_COUNT, 0, 1))
		return -1;
	if (a->help) {
		fputs(usage, stdout);
		fputs(MONEY_EVM_USAGE, stdout);
		*help = 1;
		return -1;
	}
	if (a->npos < pos_min) {
		cli_err("%s: missing argument (see assay %s --help)", cmd, cmd);
		return -1;
	}
	money_flags(f, a);
	k = money_backend(cmd, "--escrow", a->val[MO_ESCROW] != NULL, f);
	if (k == MONEY_BACKEND_HTTP && !a->val[MO_ESCROW]) {
		cli_err("%s: give --escrow URL (assay-escrow) or --rpc URL with --escrow-address "
			"ADDRESS or --chain FILE (the EVM contract)", cmd);
		return -1;
	}
	return k == MONEY_BACKEND_BAD ? -1 : (int)k;
}

int cmd_deposit(int argc, char **argv)
{
	struct cli_args a;
	struct auth au = { 0 };
	struct httpd_client_resp r = { 0 };
	struct rcpt_u256 amount;
	struct money_evm_flags f;
	char addr[RCPT_ADDR_HEX_BYTES];
	int ret = 1, help, k;

	k = money_parse(&a, &f, &help, "deposit", DEPOSIT_USAGE, argc, argv, 1);
	if (k < 0)
		return help ? 0 : 2;
	if (k == MONEY_BACKEND_EVM)
		return money_evm_send("deposit", &f, MONEY_DEPOSIT, a.pos[0]);
	if (check_url("escrow", a.val[0]))
		return 2;
	if (rcpt_u256_parse(&amount, a.pos[0]) != RCPT_OK || strcmp(a.pos[0], "0") == 0) {
		cli_err("deposit: amount '%.80s' is not a non-zero decimal uint256 (base units)",
			a.pos[0]);
		return 2;
	}
	if (!a.val[1]) {
		cli_err("deposit: --key is required (the account to credit)");
		return 2;
	}
	if (load_key(&au, a.val[1]))
		return 2;
	rcpt_address_format(addr, au.key.address);
	/* On a devnet, deposits come from the faucet; on an EVM chain the
	 * escrow contract observes them (not built yet). */
	if (post_json(&r, "deposit", a.val[0], "/v1/faucet",
		      json_pack("{s:s, s:s}", "address", addr, "amount", a.pos[0]), NULL) != 200) {
		if (r.status == 404)
			cli_err("deposit: the escrow has no faucet: it is not a devnet (deposit on its chain instead)");
		else if (r.status)
			refused("deposit", "faucet", &r);
		goto out;
	}
	print_json(json_incref(r.json));
	ret = 0;
out:
	httpd_client_resp_free(&r);
	auth_wipe(&au);
	return ret;
}

int cmd_balance(int argc, char **argv)
{
	struct cli_args a;
	struct auth au = { 0 };
	struct httpd_client_resp r = { 0 };
	uint8_t who[RCPT_ADDR_BYTES];
	struct money_evm_flags f;
	char addr[RCPT_ADDR_HEX_BYTES], target[96];
	int ret = 1, help, k;

	k = money_parse(&a, &f, &help, "balance", BALANCE_USAGE, argc, argv, 0);
	if (k < 0)
		return help ? 0 : 2;
	if (k == MONEY_BACKEND_EVM) {
		if (f.mint) {
			cli_err("balance: --mint does not apply (see assay deposit --help)");
			return 2;
		}
		return money_evm_balance("balance", &f, a.npos == 1 ? a.pos[0] : NULL);
	}
	if (check_url("escrow", a.val[0]))
		return 2;
	if (a.npos == 1) {
		if (rcpt_address_parse(who, a.pos[0]) != RCPT_OK) {
			cli_err("balance: '%.80s' is not an address", a.pos[0]);
			return 2;
		}
	} else if (a.val[1]) {
		if (load_key(&au, a.val[1]))
			return 2;
		memcpy(who, au.key.address, RCPT_ADDR_BYTES);
		auth_wipe(&au);
	} else {
		cli_err("balance: give an ADDRESS or --key");
		return 2;
	}
	rcpt_address_format(addr, who);
	snprintf(target, sizeof(target), "/v1/accounts/%s", addr);
	if (http(&r, "balance", "GET", a.val[0], target, NULL, 0, NULL, NULL, 0, 0) != 200) {
		if (r.status)
			refused("balance", "account", &r);
		goto out;
	}
	print_json(json_incref(r.json));
	ret = 0;
out:
	httpd_client_resp_free(&r);
	return ret;
}

/* ---------------------------------------------------------------- job */

/* Fetches and checks the bundle and output of job idh; writes both
 * files only when everything verifies.  0 or -1. */
static int fetch_checked(const char *cmd, const char *provider, const char *idh,
			 const struct auth *au, const struct rcpt_domain *expect,
			 const char *out_path, const char *bundle_path, json_t **summary)
{
	struct httpd_client_resp rb = { 0 }, ro = { 0 };
	struct rcpt_bundle b;
	struct rcpt_bundle_ids ids;
	struct rcpt_commitment c;
	struct rcpt_diag d;
	char target[160], rid[RCPT_HASH_HEX_BYTES], jid[RCPT_HASH_HEX_BYTES];
	int rc = -1;

	snprintf(target, sizeof(target), "/v1/jobs/%s/bundle", idh);
	if (http(&rb, cmd, "GET", provider, target, NULL, 0, NULL, au, 0, 0) != 200) {
		if (rb.status)
			refused(cmd, "bundle", &rb);
		goto out;
	}
	if (rcpt_bundle_parse(&b, &d, rb.body, rb.len) != RCPT_OK ||
	    rcpt_bundle_verify(&ids, &d, &b, expect) != RCPT_OK) {
		cli_err("%s: the provider's bundle does not verify: %s", cmd, d.msg);
		goto out;
	}
	if (rcpt_hex_encode(jid, sizeof(jid), ids.job_id, RCPT_HASH_BYTES) != RCPT_OK ||
	    strcasecmp(jid, idh) != 0) {
		cli_err("%s: the provider answered with the bundle of another job", cmd);
		goto out;
	}
	snprintf(target, sizeof(target), "/v1/jobs/%s/output", idh);
	{
		struct xfer down = { "downloading the output:", 0 };
		long st;
		g_xfer = &down;
		st = http(&ro, cmd, "GET", provider, target, NULL, 0, NULL, au, 0,
			  JOB_OUTPUT_BYTES_MAX);
		g_xfer = NULL;
		if (st != 200) {
			if (st > 0)
				refused(cmd, "output", &ro);
			goto out;
		}
	}
	if (rcpt_commit_buf(&c, ro.body, ro.len) != RCPT_OK ||
	    memcmp(c.root, b.receipt.output_root, RCPT_HASH_BYTES) != 0 ||
	    c.size != b.receipt.output_size) {
		cli_err("%s: the output does not match the receipt's outputRoot/outputSize", cmd);
		goto out;
	}
	if (write_out(cmd, out_path, ro.body, ro.len) ||
	    write_out(cmd, bundle_path, rb.body, rb.len))
		goto out;
	if (rcpt_hex_encode(rid, sizeof(rid), ids.receipt_id, RCPT_HASH_BYTES) != RCPT_OK)
		goto out;
	*summary = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "job", jid, "receipt", rid,
			     "device", b.receipt.device,
			     "ms", (json_int_t)(b.receipt.finished_at_ms - b.receipt.started_at_ms),
			     "output", out_path, "bundle", bundle_path);
	rc = 0;
out:
	httpd_client_resp_free(&rb);
	httpd_client_resp_free(&ro);
	return rc;
}

/* Polls the provider until the job is receipted (0), failed (1) or the
 * time is up (-1); prints each status change on stderr. */
static int wait_receipted(const char *cmd, const char *provider, const char *idh,
			  const struct auth *au, unsigned timeout_s, char *err, size_t err_len)
{
	char target[160], last[48] = "";
	time_t until = time(NULL) + (time_t)timeout_s;
	struct timespec ts = { 0, JOB_POLL_MS * 1000000L };

	snprintf(target, sizeof(target), "/v1/jobs/%s", idh);
	while (time(NULL) <= until) {
		struct httpd_client_resp r = { 0 };
		const char *s;
		long st = http(&r, cmd, "GET", provider, target, NULL, 0, NULL, au, 0, 0);
		if (st < 0)
			return -1;
		if (st != 200 || !(s = httpd_client_str(&r, "status"))) {
			refused(cmd, "status", &r);
			httpd_client_resp_free(&r);
			return -1;
		}
		if (strcmp(s, last) != 0) {
			json_t *pos = json_object_get(r.json, "position");
			fprintf(stderr, "assay: job %.18s... %s", idh, s);
			if (json_is_integer(pos))
				fprintf(stderr, " (position %lld)", (long long)json_integer_value(pos));
			fprintf(stderr, "\n");
			snprintf(last, sizeof(last), "%s", s);
		}
		if (strcmp(s, "receipted") == 0 || strcmp(s, "settled") == 0) {
			httpd_client_resp_free(&r);
			return 0;
		}
		if (strcmp(s, "failed") == 0 || strcmp(s, "deleted") == 0) {
			snprintf(err, err_len, "%s", httpd_client_str(&r, "error")
					     ? httpd_client_str(&r, "error") : s);
			httpd_client_resp_free(&r);
			return 1;
		}
		httpd_client_resp_free(&r);
		nanosleep(&ts, NULL);
	}
	cli_err("%s: no receipt after %u s (the job is %s)", cmd, timeout_s, last);
	return -1;
}

static const struct cli_opt submit_opts[] = {
	{ "escrow", 0, 1 }, { "provider", 0, 1 }, { "key", 0, 1 }, { "kernel", 0, 1 },
	{ "input", 0, 0 }, { "output", 0, 1 }, { "bundle", 0, 1 }, { "params", 0, 0 },
	{ "max-price", 0, 0 }, { "deadline-s", 0, 0 }, { "session", 0, 0 },
	{ "timeout-s", 0, 0 }, { "prompt", 0, 0 }, { "vocab", 0, 0 }, { "merges", 0, 0 },
};

/* The job's input: the file of --input, or (gpt2_f32) the tokens of
 * --prompt.  0, or 2 after saying why. */
static int submit_input(char **in, size_t *in_len, const struct cli_args *a)
{
	int w;

	if (!a->val[4] == !a->val[12]) {
		cli_err("job submit: give either --input FILE or --prompt TEXT");
		return 2;
	}
	if (a->val[12]) {
		if (!a->val[13] || !a->val[14]) {
			cli_err("job submit: --prompt needs --vocab and --merges (GPT-2's encoder.json "
				"and vocab.bpe)");
			return 2;
		}
		return gpt2_prompt_input(in, in_len, "job submit", a->val[12], a->val[13],
					 a->val[14]) ? 2 : 0;
	}
	w = cli_read_file(in, in_len, a->val[4], JOB_INPUT_BYTES_MAX);
	if (w == CLI_READ_TOO_LARGE)
		cli_err("job submit: input '%.200s' is larger than %u bytes", a->val[4],
			JOB_INPUT_BYTES_MAX);
	return w ? 2 : 0;
}

static int parse_uint(uint64_t *out, const char *s, uint64_t lo, uint64_t hi)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int job_submit(int argc, char **argv)
{
	struct cli_args a;
	struct auth au = { 0 }, pau = { 0 };
	struct httpd_client_resp r = { 0 };
	struct rcpt_domain dom;
	struct rcpt_job job;
	struct rcpt_commitment c;
	struct rcpt_diag d;
	const struct kern_info *ki;
	uint8_t id[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
	char idh[RCPT_HASH_HEX_BYTES], sigh[RCPT_SIG_HEX_BYTES], target[160], err[200];
	char *in = NULL, *jt = NULL;
	size_t in_len = 0;
	uint64_t deadline_s, timeout_s;
	const char *params, *maxp;
	json_t *body, *summary = NULL;
	int ret = 1, w;

	if (cli_parse(&a, argc, argv, submit_opts, sizeof(submit_opts) / sizeof(submit_opts[0]),
		      0, 0))
		return 2;
	if (check_url("escrow", a.val[0]) || check_url("provider", a.val[1]))
		return 2;
	params = a.val[7] ? a.val[7] : "{}";
	maxp = a.val[8] ? a.val[8] : "1000000000000000000";
	ki = kern_find(a.val[3]);
	if (!ki) {
		cli_err("job submit: unknown kernel '%.60s' (assay kernel list)", a.val[3]);
		return 2;
	}
	if (parse_uint(&deadline_s, a.val[9] ? a.val[9] : "3600", 10, JOB_DEADLINE_S_MAX) ||
	    parse_uint(&timeout_s, a.val[11] ? a.val[11] : "600", 1, JOB_WAIT_S_MAX)) {
		cli_err("job submit: --deadline-s is 10..%u, --timeout-s 1..%u", JOB_DEADLINE_S_MAX,
			JOB_WAIT_S_MAX);
		return 2;
	}
	memset(&job, 0, sizeof(job));
	if (rcpt_u256_parse(&job.max_price, maxp) != RCPT_OK) {
		cli_err("job submit: --max-price '%.80s' is not a decimal uint256", maxp);
		return 2;
	}
	if (submit_input(&in, &in_len, &a))
		return 2;
	if (load_key(&au, a.val[2]))
		goto out_args;
	if (a.val[10]) {
		pau.has_key = 0;
		if (load_session(&pau, a.val[10]))
			goto out_args;
	} else {
		pau = au;
	}
	if (escrow_domain("job submit", a.val[0], &dom))
		goto out;
	/* The provider's address, from the provider itself. */
	if (http(&r, "job submit", "GET", a.val[1], "/v1/info", NULL, 0, NULL, NULL, 0, 0) != 200 ||
	    !httpd_client_str(&r, "address") ||
	    rcpt_address_parse(job.provider, httpd_client_str(&r, "address")) != RCPT_OK) {
		cli_err("job submit: '%s' did not answer GET /v1/info as an Assay provider", a.val[1]);
		goto out;
	}
	httpd_client_resp_free(&r);
	memcpy(job.customer, au.key.address, RCPT_ADDR_BYTES);
	snprintf(job.kernel, sizeof(job.kernel), "%s", ki->name);
	memcpy(job.kernel_hash, ki->hash, RCPT_HASH_BYTES);
	if (strlen(params) >= sizeof(job.params)) {
		cli_err("job submit: --params is too long");
		goto out;
	}
	snprintf(job.params, sizeof(job.params), "%s", params);
	if (rcpt_commit_buf(&c, in, in_len) != RCPT_OK) {
		cli_err("job submit: could not commit to the input");
		goto out;
	}
	memcpy(job.input_root, c.root, RCPT_HASH_BYTES);
	job.input_size = c.size;
	job.deadline = (uint64_t)time(NULL) + deadline_s;
	if (getrandom(&job.nonce, sizeof(job.nonce), 0) != (ssize_t)sizeof(job.nonce)) {
		cli_err("job submit: no randomness for the nonce");
		goto out;
	}
	job.nonce &= (1ull << 53) - 1;
	if (rcpt_job_id(id, &d, &dom, &job) != RCPT_OK) {
		cli_err("job submit: invalid JobSpec: %s", d.msg);
		goto out;
	}
	if (rcpt_sign_digest(sig, &au.key, id) != RCPT_OK ||
	    rcpt_hex_encode(sigh, sizeof(sigh), sig, sizeof(sig)) != RCPT_OK ||
	    rcpt_hex_encode(idh, sizeof(idh), id, sizeof(id)) != RCPT_OK ||
	    rcpt_job_to_json(&jt, &job) != RCPT_OK) {
		cli_err("job submit: could not sign the JobSpec");
		goto out;
	}
	fprintf(stderr, "assay: job %.18s... signed: %s on %llu bytes, maxPrice %s\n", idh,
		job.kernel, (unsigned long long)in_len, maxp);
	/* 1. The escrow locks maxPrice. */
	body = json_pack("{s:o, s:s}", "job", json_loads(jt, 0, NULL), "jobSignature", sigh);
	if (post_json(&r, "job submit", a.val[0], "/v1/jobs", json_incref(body), &au) != 201) {
		if (r.status)
			refused("job submit", "escrow open", &r);
		json_decref(body);
		goto out;
	}
	httpd_client_resp_free(&r);
	fprintf(stderr, "assay: job %.18s... funded at the escrow\n", idh);
	/* 2. The provider takes the JobSpec, 3. then the input. */
	w = (int)post_json(&r, "job submit", a.val[1], "/v1/jobs", body, &pau);
	if (w != 201 && w != 200) {
		if (r.status)
			refused("job submit", "provider", &r);
		goto out;
	}
	httpd_client_resp_free(&r);
	snprintf(target, sizeof(target), "/v1/jobs/%s/input", idh);
	for (int tries = 0;; tries++) {
		struct xfer up = { "uploading the input:", 0 };
		long st;
		g_xfer = &up;
		st = http(&r, "job submit", "PUT", a.val[1], target, in, in_len,
			  "application/octet-stream", NULL, 0, 0);
		g_xfer = NULL;
		if (st == 202 || st == 200)
			break;
		if (st == 503 && tries < 60) {
			unsigned ra = r.retry_after_s ? r.retry_after_s : 1;
			fprintf(stderr, "assay: provider busy, retrying in %u s\n", ra);
			httpd_client_resp_free(&r);
			sleep(ra > 30 ? 30 : ra);
			continue;
		}
		if (st > 0)
			refused("job submit", "upload", &r);
		goto out;
	}
	httpd_client_resp_free(&r);
	fprintf(stderr, "assay: job %.18s... input uploaded (%zu bytes)\n", idh, in_len);
	/* 4. Wait, then fetch and check. */
	w = wait_receipted("job submit", a.val[1], idh, &pau, (unsigned)timeout_s, err, sizeof(err));
	if (w) {
		if (w > 0)
			cli_err("job submit: the job failed: %.180s (the escrow refunds maxPrice)", err);
		goto out;
	}
	if (fetch_checked("job submit", a.val[1], idh, &pau, &dom, a.val[5], a.val[6], &summary))
		goto out;
	if (a.val[13] && gpt2_text_of_output(summary, "job submit", a.val[5], a.val[13])) {
		json_decref(summary);
		goto out;
	}
	print_json(summary);
	ret = 0;
out:
	if (a.val[10])
		auth_wipe(&pau);
	auth_wipe(&au);
out_args:
	httpd_client_resp_free(&r);
	free(jt);
	free(in);
	return ret;
}

static const struct cli_opt read_opts[] = {
	{ "provider", 0, 1 }, { "key", 0, 0 }, { "session", 0, 0 }, { "output", 0, 0 },
	{ "bundle", 0, 0 }, { "escrow", 0, 0 },
};

static int job_read(int argc, char **argv, int fetch)
{
	struct cli_args a;
	struct auth au = { 0 };
	struct httpd_client_resp r = { 0 };
	struct rcpt_domain dom, *expect = NULL;
	uint8_t id[RCPT_HASH_BYTES];
	char idh[RCPT_HASH_HEX_BYTES], target[160];
	json_t *summary = NULL;
	int ret = 1;

	if (cli_parse(&a, argc, argv, read_opts, 6, 1, 1))
		return 2;
	if (check_url("provider", a.val[0]) || (a.val[5] && check_url("escrow", a.val[5])))
		return 2;
	if (rcpt_hex_decode(id, RCPT_HASH_BYTES, a.pos[0]) != RCPT_OK ||
	    rcpt_hex_encode(idh, sizeof(idh), id, sizeof(id)) != RCPT_OK) {
		cli_err("job: '%.80s' is not a job id (0x + 64 hex digits)", a.pos[0]);
		return 2;
	}
	if (!a.val[1] == !a.val[2]) {
		cli_err("job: give exactly one of --key and --session");
		return 2;
	}
	if (fetch && (!a.val[3] || !a.val[4])) {
		cli_err("job fetch: --output and --bundle are required");
		return 2;
	}
	if ((a.val[1] && load_key(&au, a.val[1])) || (a.val[2] && load_session(&au, a.val[2])))
		return 2;
	if (fetch) {
		if (a.val[5]) {
			if (escrow_domain("job fetch", a.val[5], &dom))
				goto out;
			expect = &dom;
		}
		if (fetch_checked("job fetch", a.val[0], idh, &au, expect, a.val[3], a.val[4],
				  &summary))
			goto out;
		print_json(summary);
		ret = 0;
		goto out;
	}
	snprintf(target, sizeof(target), "/v1/jobs/%s", idh);
	if (http(&r, "job status", "GET", a.val[0], target, NULL, 0, NULL, &au, 0, 0) != 200) {
		if (r.status)
			refused("job status", "status", &r);
		goto out;
	}
	print_json(json_incref(r.json));
	ret = 0;
out:
	httpd_client_resp_free(&r);
	auth_wipe(&au);
	return ret;
}

static const char JOB_USAGE[] =
	"usage: assay job submit --escrow URL --provider URL --key FILE --kernel NAME\n"
	"                        (--input FILE | --prompt TEXT --vocab FILE --merges FILE)\n"
	"                        --output FILE --bundle FILE [--params JSON]\n"
	"                        [--max-price WEI] [--deadline-s N] [--session FILE]\n"
	"                        [--timeout-s N]\n"
	"       --prompt (gpt2_f32@1): the job's input is TEXT's GPT-2 tokens (--vocab\n"
	"       encoder.json, --merges vocab.bpe); the answer adds the generated \"ids\"\n"
	"       and their \"text\"\n"
	"       assay job status ID --provider URL (--key FILE | --session FILE)\n"
	"       assay job fetch ID --provider URL (--key FILE | --session FILE)\n"
	"                       --output FILE --bundle FILE [--escrow URL]\n";

int cmd_job(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(JOB_USAGE, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "submit") == 0)
		return job_submit(argc - 1, argv + 1);
	if (strcmp(argv[1], "status") == 0)
		return job_read(argc - 1, argv + 1, 0);
	if (strcmp(argv[1], "fetch") == 0)
		return job_read(argc - 1, argv + 1, 1);
	cli_err("job: unknown subcommand '%.32s'", argv[1]);
	fputs(JOB_USAGE, stderr);
	return 2;
}
