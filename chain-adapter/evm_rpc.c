/*
 * evm_rpc.c: the JSON-RPC 2.0 client of evm_rpc.h: one libcurl handle
 * per struct evm_rpc, one POST per call, the answer parsed strictly.
 *
 * An answer is accepted only when it is one JSON object (no duplicate
 * keys) with "jsonrpc":"2.0", our request's id, and exactly one of
 * "result" and "error", in at most EVM_RPC_RESPONSE_BYTES_MAX bytes.
 * Quantities are "0x" and 1 to 64 hex digits (leading zeros, which the
 * spec does not emit, are tolerated); data is "0x" and an even number of
 * hex digits, bounded per field; hashes and addresses have their exact
 * length.  Nothing a node sends is asserted on: a malformed answer is
 * EVM_RPC_ERR_PROTOCOL naming the method and the field.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>

#include "assay_assert.h"
#include "evm_internal.h"
#include "ca_file.h"
#include "banned.h"

struct evm_rpc {
	CURL *curl;
	char url[EVM_RPC_URL_BYTES_MAX + 1];
	char where[EVM_RPC_URL_BYTES_MAX + 1];   /* scheme://host[:port] */
	long timeout_ms;
	json_int_t next_id;
	char why[EVM_RPC_WHY_BYTES];
	uint8_t revert[EVM_RPC_REVERT_BYTES_MAX];
	size_t revert_len;
};

static const struct {
	const char *name;
	const char *text;
} evm_rpc_errs[] = {
	[EVM_RPC_OK] = { "ok", "success" },
	[EVM_RPC_ERR_ARG] = { "arg", "invalid argument" },
	[EVM_RPC_ERR_NOMEM] = { "nomem", "out of memory" },
	[EVM_RPC_ERR_UNREACHABLE] = { "unreachable", "no answer from the node" },
	[EVM_RPC_ERR_HTTP] = { "http", "the node answered with an HTTP error" },
	[EVM_RPC_ERR_TOO_LARGE] = { "too-large", "the node's answer is over its limit" },
	[EVM_RPC_ERR_PROTOCOL] = { "protocol", "malformed JSON-RPC answer" },
	[EVM_RPC_ERR_NODE] = { "node", "the node refused the request" },
	[EVM_RPC_ERR_REVERTED] = { "reverted", "execution reverted" },
	[EVM_RPC_ERR_NONCE] = { "nonce", "nonce too low" },
	[EVM_RPC_ERR_CHAIN] = { "chain", "the node is on another chain" },
	[EVM_RPC_ERR_TIMEOUT] = { "timeout", "gave up waiting for the transaction" },
	[EVM_RPC_ERR_SIGN] = { "sign", "could not sign the transaction" },
	[EVM_RPC_ERR_FEE_CAP] = { "fee-cap", "the fee would be above the cap" },
};

_Static_assert(sizeof(evm_rpc_errs) / sizeof(evm_rpc_errs[0]) == EVM_RPC_ERR_COUNT_,
	       "one string per enum evm_rpc_err");

const char *evm_rpc_strerror(enum evm_rpc_err err)
{
	if ((unsigned)err >= EVM_RPC_ERR_COUNT_)
		return "unknown error";
	return evm_rpc_errs[err].text;
}

const char *evm_rpc_errname(enum evm_rpc_err err)
{
	if ((unsigned)err >= EVM_RPC_ERR_COUNT_)
		return "unknown";
	return evm_rpc_errs[err].name;
}

/* ------------------------------------------------------------------ */
/* Messages                                                             */

void evm_printable(char *out, size_t out_len, const char *s, size_t len)
{
	size_t o = 0;

	ASSAY_ASSERT(out != NULL && out_len >= 1);
	for (size_t i = 0; i < len && o + 1 < out_len; i++) {
		unsigned char c = (unsigned char)s[i];
		out[o++] = c == '"' || c == '\\' ? '\'' : (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[o] = '\0';
}

void evm_rpc_whyf(struct evm_rpc *rpc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rpc->why, sizeof(rpc->why), fmt, ap);
	va_end(ap);
	for (char *p = rpc->why; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

const char *evm_rpc_why(const struct evm_rpc *rpc)
{
	return rpc ? rpc->why : "no client";
}

const char *evm_rpc_where(const struct evm_rpc *rpc)
{
	return rpc ? rpc->where : "";
}

void evm_rpc_revert_data(const struct evm_rpc *rpc, const uint8_t **data, size_t *len)
{
	ASSAY_ASSERT(rpc != NULL && data != NULL && len != NULL);
	*data = rpc->revert;
	*len = rpc->revert_len;
}

/* ------------------------------------------------------------------ */
/* Opening                                                              */

int evm_rpc_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

/* scheme://host[:port] of url, without a user part, path or query: the
 * only part of a URL that messages show.  -1 when it has no host. */
static int url_where(char *out, size_t out_len, const char *url)
{
	const char *host = strstr(url, "://"), *end, *at;
	size_t scheme_len;

	if (!host)
		return -1;
	scheme_len = (size_t)(host - url);
	host += 3;
	end = host + strcspn(host, "/?#");
	/* A user part ends at the last '@' before the path. */
	for (at = host; at < end; at++)
		if (*at == '@')
			host = at + 1;
	if (end == host)
		return -1;
	snprintf(out, out_len, "%.*s://%.*s", (int)scheme_len, url, (int)(end - host), host);
	return 0;
}

static const char *check_url(const char *url)
{
	size_t n = strnlen(url, EVM_RPC_URL_BYTES_MAX + 1);

	if (n > EVM_RPC_URL_BYTES_MAX)
		return "is longer than 512 bytes";
	if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
		return "is not an http:// or https:// URL";
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
			return "has a space, a control or a non-ASCII character";
	return NULL;
}

/* evm_rpc_set_ca_file's bundle; empty: the system's. */
static char process_ca_file[4096];

int evm_rpc_set_ca_file(const char *path, char *why, size_t why_len)
{
	return ca_file_take(process_ca_file, sizeof(process_ca_file), path, why, why_len);
}

enum evm_rpc_err evm_rpc_open(struct evm_rpc **out, char *why, size_t why_len,
			      const char *url, long timeout_ms)
{
	struct evm_rpc *rpc;
	const char *bad;

	if (why && why_len)
		why[0] = '\0';
	if (!out || !url)
		return EVM_RPC_ERR_ARG;
	*out = NULL;
	bad = check_url(url);
	if (!bad && (timeout_ms < 0 || timeout_ms > EVM_RPC_TIMEOUT_MS_MAX))
		bad = "timeout is out of range";
	rpc = bad ? NULL : calloc(1, sizeof(*rpc));
	if (!bad && rpc && url_where(rpc->where, sizeof(rpc->where), url) != 0)
		bad = "has no host";
	if (bad) {
		if (why && why_len)
			snprintf(why, why_len, "%s %s", strncmp(bad, "timeout", 7) ? "RPC URL" : "RPC",
				 bad);
		free(rpc);
		return EVM_RPC_ERR_ARG;
	}
	if (!rpc || !(rpc->curl = curl_easy_init())) {
		free(rpc);
		return EVM_RPC_ERR_NOMEM;
	}
	snprintf(rpc->url, sizeof(rpc->url), "%s", url);
	rpc->timeout_ms = timeout_ms ? timeout_ms : EVM_RPC_TIMEOUT_MS_DEFAULT;
	*out = rpc;
	return EVM_RPC_OK;
}

void evm_rpc_free(struct evm_rpc *rpc)
{
	if (!rpc)
		return;
	curl_easy_cleanup(rpc->curl);
	/* The URL may carry an API key. */
	memset(rpc->url, 0, sizeof(rpc->url));
	free(rpc);
}

/* ------------------------------------------------------------------ */
/* One exchange                                                         */

struct sink {
	char *buf;
	size_t len, cap;
	int too_large;
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *cls)
{
	struct sink *s = cls;
	size_t n = size * nmemb;

	if (n > EVM_RPC_RESPONSE_BYTES_MAX - s->len) {
		s->too_large = 1;
		return 0;
	}
	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *nb;
		while (cap < s->len + n + 1)
			cap *= 2;
		nb = realloc(s->buf, cap);
		if (!nb)
			return 0;
		s->buf = nb;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static enum evm_rpc_err rpc_post(struct evm_rpc *rpc, const char *method, const char *body,
				 struct sink *sink, long *status)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL, *h2;
	enum evm_rpc_err rc = EVM_RPC_ERR_NOMEM;
	CURL *c = rpc->curl;
	CURLcode cc;

	hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	h2 = hdrs ? curl_slist_append(hdrs, "Expect:") : NULL;
	if (!h2)
		goto out;
	hdrs = h2;
	curl_easy_reset(c);
	if (curl_easy_setopt(c, CURLOPT_URL, rpc->url) ||
	    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, EVM_RPC_CONNECT_TIMEOUT_MS) ||
	    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, rpc->timeout_ms) ||
	    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)EVM_RPC_RESPONSE_BYTES_MAX) ||
	    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs) ||
	    curl_easy_setopt(c, CURLOPT_USERAGENT, "assay/1") ||
	    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(c, CURLOPT_WRITEDATA, sink) ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body) ||
	    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body)) ||
	    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) ||
	    (process_ca_file[0] && curl_easy_setopt(c, CURLOPT_CAINFO, process_ca_file)))
		goto out;
	cc = curl_easy_perform(c);
	if (sink->too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		evm_rpc_whyf(rpc, "%s at %s: the answer is larger than %u bytes", method,
			     rpc->where, EVM_RPC_RESPONSE_BYTES_MAX);
		rc = EVM_RPC_ERR_TOO_LARGE;
		goto out;
	}
	if (cc != CURLE_OK) {
		/* libcurl's message names the host, never the path. */
		evm_rpc_whyf(rpc, "%s at %s: no answer: %s", method, rpc->where,
			     errbuf[0] ? errbuf : curl_easy_strerror(cc));
		rc = cc == CURLE_OUT_OF_MEMORY ? EVM_RPC_ERR_NOMEM : EVM_RPC_ERR_UNREACHABLE;
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	rc = EVM_RPC_OK;
out:
	if (rc == EVM_RPC_ERR_NOMEM && !rpc->why[0])
		evm_rpc_whyf(rpc, "%s at %s: out of memory", method, rpc->where);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(hdrs);
	return rc;
}

/* Keeps the revert data of a node's error, when it gives some as hex. */
static void keep_revert(struct evm_rpc *rpc, const json_t *data)
{
	const char *s = json_string_value(data);
	size_t n = s ? strnlen(s, 2 * EVM_RPC_REVERT_BYTES_MAX + 3) : 0;

	rpc->revert_len = 0;
	if (!s || n < 2 || s[0] != '0' || s[1] != 'x' || n % 2 ||
	    (n - 2) / 2 > EVM_RPC_REVERT_BYTES_MAX ||
	    rcpt_hex_digits_decode(rpc->revert, (n - 2) / 2, s + 2, n - 2) != RCPT_OK)
		return;
	rpc->revert_len = (n - 2) / 2;
}

static enum evm_rpc_err node_error(struct evm_rpc *rpc, const char *method, const json_t *err)
{
	const json_t *code = json_object_get(err, "code");
	const char *msg = json_string_value(json_object_get(err, "message"));
	char text[EVM_RPC_NODE_MESSAGE_BYTES + 1];

	if (!json_is_object(err) || !json_is_integer(code)) {
		evm_rpc_whyf(rpc, "%s at %s: malformed error in the answer", method, rpc->where);
		return EVM_RPC_ERR_PROTOCOL;
	}
	evm_printable(text, sizeof(text), msg ? msg : "", msg ? strlen(msg) : 0);
	evm_rpc_whyf(rpc, "%s at %s: node error %lld: %s", method, rpc->where,
		     (long long)json_integer_value(code), text);
	/* Code 3 is geth's and anvil's "execution reverted" with data. */
	if (json_integer_value(code) == 3 || (msg && strncasecmp(msg, "execution reverted", 18) == 0)) {
		keep_revert(rpc, json_object_get(err, "data"));
		return EVM_RPC_ERR_REVERTED;
	}
	if (msg && strcasestr(msg, "nonce too low"))
		return EVM_RPC_ERR_NONCE;
	return EVM_RPC_ERR_NODE;
}

/* Checks the envelope of an answer and hands out its "result". */
static enum evm_rpc_err parse_answer(struct evm_rpc *rpc, const char *method, json_int_t id,
				     const struct sink *sink, long status, json_t **result)
{
	json_t *resp = json_loadb(sink->buf ? sink->buf : "", sink->len, JSON_REJECT_DUPLICATES, NULL);
	const json_t *res = json_object_get(resp, "result"), *err = json_object_get(resp, "error");
	const json_t *jid = json_object_get(resp, "id");
	const char *ver = json_string_value(json_object_get(resp, "jsonrpc"));
	enum evm_rpc_err rc = EVM_RPC_ERR_PROTOCOL;

	if (!json_is_object(resp) && status != 200) {
		evm_rpc_whyf(rpc, "%s at %s: HTTP status %ld", method, rpc->where, status);
		rc = EVM_RPC_ERR_HTTP;
	} else if (!json_is_object(resp) || !ver || strcmp(ver, "2.0") != 0 || !res == !err) {
		evm_rpc_whyf(rpc, "%s at %s: the answer is not a JSON-RPC 2.0 response", method,
			     rpc->where);
	} else if (err && (json_is_null(jid) || (json_is_integer(jid) && json_integer_value(jid) == id))) {
		rc = node_error(rpc, method, err);
	} else if (!json_is_integer(jid) || json_integer_value(jid) != id) {
		evm_rpc_whyf(rpc, "%s at %s: the answer is to another request", method, rpc->where);
	} else if (status != 200) {
		evm_rpc_whyf(rpc, "%s at %s: HTTP status %ld", method, rpc->where, status);
		rc = EVM_RPC_ERR_HTTP;
	} else {
		*result = json_incref((json_t *)res);
		rc = EVM_RPC_OK;
	}
	json_decref(resp);
	return rc;
}

/* Sends method(params) and returns its result (the caller decrefs it).
 * Takes params' reference, even on failure. */
static enum evm_rpc_err rpc_call(struct evm_rpc *rpc, const char *method, json_t *params,
				 json_t **result)
{
	struct sink sink = { 0 };
	json_t *req = NULL;
	char *body = NULL;
	long status = 0;
	enum evm_rpc_err rc = EVM_RPC_ERR_NOMEM;
	json_int_t id;

	ASSAY_ASSERT(rpc != NULL && method != NULL && result != NULL);
	*result = NULL;
	rpc->why[0] = '\0';
	rpc->revert_len = 0;
	id = ++rpc->next_id;
	if (params)
		req = json_pack("{s:s, s:I, s:s, s:O}", "jsonrpc", "2.0", "id", id,
				"method", method, "params", params);
	if (req)
		body = json_dumps(req, JSON_COMPACT);
	if (!body) {
		evm_rpc_whyf(rpc, "%s at %s: out of memory", method, rpc->where);
		goto out;
	}
	rc = rpc_post(rpc, method, body, &sink, &status);
	if (!rc)
		rc = parse_answer(rpc, method, id, &sink, status, result);
	ASSAY_ASSERT(rc != EVM_RPC_OK || *result != NULL);
out:
	json_decref(params);
	json_decref(req);
	free(body);
	free(sink.buf);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Values in answers                                                    */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A QUANTITY: "0x" and 1 to 64 hex digits. */
static int parse_qty(struct rcpt_u256 *out, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? json_string_length(v) : 0;

	if (!s || n < 3 || n > 66 || s[0] != '0' || s[1] != 'x')
		return -1;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n - 2; i++) {
		int d = hexval(s[n - 1 - i]);
		if (d < 0)
			return -1;
		out->be[31 - i / 2] |= (uint8_t)(i % 2 ? d << 4 : d);
	}
	return 0;
}

static int parse_u64(uint64_t *out, const json_t *v)
{
	struct rcpt_u256 u;

	return parse_qty(&u, v) || evm_abi_word_u64(out, &u) != RCPT_OK ? -1 : 0;
}

/* Exactly n bytes as "0x" + 2n hex digits (a hash, an address). */
static int parse_fixed(uint8_t *out, size_t n, const json_t *v)
{
	const char *s = json_string_value(v);

	if (!s || json_string_length(v) != 2 + 2 * n)
		return -1;
	return rcpt_hex_decode(out, n, s) == RCPT_OK ? 0 : -1;
}

/* DATA of at most max bytes into a new buffer (at least 1 byte): 0, -1
 * malformed, -2 over max, -3 out of memory. */
static int parse_data(uint8_t **out, size_t *len, size_t max, const json_t *v)
{
	const char *s = json_string_value(v);
	size_t n = s ? json_string_length(v) : 0;
	uint8_t *p;

	*out = NULL;
	if (!s || n < 2 || s[0] != '0' || s[1] != 'x' || n % 2)
		return -1;
	if ((n - 2) / 2 > max)
		return -2;
	p = malloc((n - 2) / 2 + 1);
	if (!p)
		return -3;
	if (rcpt_hex_digits_decode(p, (n - 2) / 2, s + 2, n - 2) != RCPT_OK) {
		free(p);
		return -1;
	}
	*out = p;
	*len = (n - 2) / 2;
	return 0;
}

static enum evm_rpc_err bad_field(struct evm_rpc *rpc, const char *method, const char *field)
{
	evm_rpc_whyf(rpc, "%s at %s: malformed '%s' in the answer", method, rpc->where, field);
	return EVM_RPC_ERR_PROTOCOL;
}

static enum evm_rpc_err data_error(struct evm_rpc *rpc, const char *method, const char *field,
				   int why, size_t max)
{
	if (why == -3) {
		evm_rpc_whyf(rpc, "%s at %s: out of memory", method, rpc->where);
		return EVM_RPC_ERR_NOMEM;
	}
	if (why == -2) {
		evm_rpc_whyf(rpc, "%s at %s: '%s' is over %zu bytes", method, rpc->where, field, max);
		return EVM_RPC_ERR_TOO_LARGE;
	}
	return bad_field(rpc, method, field);
}

/* "0x..." of n bytes as a JSON string, or NULL. */
static json_t *hex_json(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 3);
	json_t *j = NULL;

	if (s && rcpt_hex_encode(s, 2 * n + 3, p, n) == RCPT_OK)
		j = json_stringn(s, 2 * n + 2);
	free(s);
	return j;
}

static json_t *tag_json(uint64_t block)
{
	char s[24];

	if (block == EVM_BLOCK_LATEST)
		return json_string("latest");
	snprintf(s, sizeof(s), "0x%llx", (unsigned long long)block);
	return json_string(s);
}

/* ------------------------------------------------------------------ */
/* Calls with a quantity for an answer                                  */

static enum evm_rpc_err call_qty(struct evm_rpc *rpc, struct rcpt_u256 *out, const char *method,
				 json_t *params)
{
	json_t *res;
	enum evm_rpc_err rc;

	rc = rpc_call(rpc, method, params, &res);
	if (rc)
		return rc;
	if (parse_qty(out, res))
		rc = bad_field(rpc, method, "result");
	json_decref(res);
	return rc;
}

static enum evm_rpc_err call_u64(struct evm_rpc *rpc, uint64_t *out, const char *method,
				 json_t *params)
{
	struct rcpt_u256 u;
	enum evm_rpc_err rc = call_qty(rpc, &u, method, params);

	if (!rc && evm_abi_word_u64(out, &u) != RCPT_OK) {
		evm_rpc_whyf(rpc, "%s at %s: the answer is over 2^64 - 1", method, rpc->where);
		rc = EVM_RPC_ERR_PROTOCOL;
	}
	return rc;
}

enum evm_rpc_err evm_rpc_chain_id(struct evm_rpc *rpc, uint64_t *out)
{
	if (!rpc || !out)
		return EVM_RPC_ERR_ARG;
	return call_u64(rpc, out, "eth_chainId", json_array());
}

enum evm_rpc_err evm_rpc_block_number(struct evm_rpc *rpc, uint64_t *out)
{
	if (!rpc || !out)
		return EVM_RPC_ERR_ARG;
	return call_u64(rpc, out, "eth_blockNumber", json_array());
}

enum evm_rpc_err evm_rpc_nonce(struct evm_rpc *rpc, uint64_t *out,
			       const uint8_t addr[RCPT_ADDR_BYTES])
{
	if (!rpc || !out || !addr)
		return EVM_RPC_ERR_ARG;
	return call_u64(rpc, out, "eth_getTransactionCount",
			json_pack("[o,s]", hex_json(addr, RCPT_ADDR_BYTES), "pending"));
}

enum evm_rpc_err evm_rpc_gas_price(struct evm_rpc *rpc, struct rcpt_u256 *out)
{
	if (!rpc || !out)
		return EVM_RPC_ERR_ARG;
	return call_qty(rpc, out, "eth_gasPrice", json_array());
}

enum evm_rpc_err evm_rpc_max_priority_fee(struct evm_rpc *rpc, struct rcpt_u256 *out)
{
	if (!rpc || !out)
		return EVM_RPC_ERR_ARG;
	return call_qty(rpc, out, "eth_maxPriorityFeePerGas", json_array());
}

/* ------------------------------------------------------------------ */
/* Blocks, gas, transactions                                            */

enum evm_rpc_err evm_rpc_block(struct evm_rpc *rpc, struct evm_block *out, uint64_t number)
{
	enum evm_rpc_err rc;
	int found;

	rc = evm_rpc_block_found(rpc, out, &found, number);
	if (!rc && !found) {
		evm_rpc_whyf(rpc, "eth_getBlockByNumber at %s: no such block", rpc->where);
		rc = EVM_RPC_ERR_NODE;
	}
	return rc;
}

enum evm_rpc_err evm_rpc_block_found(struct evm_rpc *rpc, struct evm_block *out, int *found,
				     uint64_t number)
{
	static const char m[] = "eth_getBlockByNumber";
	struct evm_block b;
	const json_t *fee;
	json_t *res;
	enum evm_rpc_err rc;

	if (!rpc || !out || !found)
		return EVM_RPC_ERR_ARG;
	*found = 0;
	rc = rpc_call(rpc, m, json_pack("[o,b]", tag_json(number), 0), &res);
	if (rc)
		return rc;
	memset(&b, 0, sizeof(b));
	fee = json_object_get(res, "baseFeePerGas");
	b.has_base_fee = fee && !json_is_null(fee);
	if (json_is_null(res)) {
		/* not found: *found stays 0 */
	} else if (parse_u64(&b.number, json_object_get(res, "number"))) {
		rc = bad_field(rpc, m, "number");
	} else if (parse_fixed(b.hash, sizeof(b.hash), json_object_get(res, "hash"))) {
		rc = bad_field(rpc, m, "hash");
	} else if (parse_u64(&b.timestamp_s, json_object_get(res, "timestamp"))) {
		rc = bad_field(rpc, m, "timestamp");
	} else if (parse_u64(&b.gas_limit, json_object_get(res, "gasLimit"))) {
		rc = bad_field(rpc, m, "gasLimit");
	} else if (b.has_base_fee && parse_qty(&b.base_fee_per_gas, fee)) {
		rc = bad_field(rpc, m, "baseFeePerGas");
	} else if (number != EVM_BLOCK_LATEST && b.number != number) {
		rc = bad_field(rpc, m, "number");
	} else {
		*out = b;
		*found = 1;
	}
	json_decref(res);
	return rc;
}

/* A QUANTITY: "0x" and the hex digits without leading zeros ("0x0"). */
static json_t *qty_json(const struct rcpt_u256 *v)
{
	static const char digits[] = "0123456789abcdef";
	char s[67] = "0x";
	size_t o = 2;

	for (size_t i = 0; i < 64; i++) {
		unsigned d = (v->be[i / 2] >> (i % 2 ? 0 : 4)) & 15;
		if (d || o > 2 || i == 63)
			s[o++] = digits[d];
	}
	s[o] = '\0';
	return json_string(s);
}

/* The call object of eth_estimateGas and eth_call (to NULL: a creation). */
static json_t *call_object(const uint8_t *from, const uint8_t *to, const uint8_t *data,
			   size_t len, const struct rcpt_u256 *value)
{
	json_t *o = json_object();
	int bad = !o;

	if (from)
		bad |= json_object_set_new(o, "from", hex_json(from, RCPT_ADDR_BYTES));
	if (to)
		bad |= json_object_set_new(o, "to", hex_json(to, RCPT_ADDR_BYTES));
	bad |= json_object_set_new(o, "data", hex_json(data, len));
	if (value)
		bad |= json_object_set_new(o, "value", qty_json(value));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

enum evm_rpc_err evm_rpc_estimate_gas(struct evm_rpc *rpc, uint64_t *out,
				      const uint8_t from[RCPT_ADDR_BYTES], const struct evm_tx *tx)
{
	if (!rpc || !out || !from || !tx || (!tx->data && tx->data_len) ||
	    tx->data_len > EVM_TX_DATA_BYTES_MAX)
		return EVM_RPC_ERR_ARG;
	return call_u64(rpc, out, "eth_estimateGas",
			json_pack("[o]", call_object(from, tx->has_to ? tx->to : NULL, tx->data,
						     tx->data_len, &tx->value)));
}

enum evm_rpc_err evm_rpc_send_raw(struct evm_rpc *rpc, uint8_t hash[RCPT_HASH_BYTES],
				  const uint8_t *raw, size_t len)
{
	static const char m[] = "eth_sendRawTransaction";
	uint8_t want[RCPT_HASH_BYTES];
	json_t *res;
	enum evm_rpc_err rc;

	if (!rpc || !hash || !raw || !len || len > EVM_TX_RAW_BYTES_MAX)
		return EVM_RPC_ERR_ARG;
	rc = rpc_call(rpc, m, json_pack("[o]", hex_json(raw, len)), &res);
	if (rc)
		return rc;
	rcpt_keccak256(want, raw, len);
	if (parse_fixed(hash, RCPT_HASH_BYTES, res)) {
		rc = bad_field(rpc, m, "result");
	} else if (memcmp(hash, want, RCPT_HASH_BYTES) != 0) {
		evm_rpc_whyf(rpc, "%s at %s: the node names another transaction hash", m, rpc->where);
		rc = EVM_RPC_ERR_PROTOCOL;
	}
	json_decref(res);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Logs and receipts                                                    */

void evm_logs_free(struct evm_log *logs, size_t n)
{
	if (!logs)
		return;
	for (size_t i = 0; i < n; i++)
		free(logs[i].data);
	free(logs);
}

void evm_receipt_release(struct evm_receipt *r)
{
	if (!r)
		return;
	evm_logs_free(r->logs, r->nlogs);
	memset(r, 0, sizeof(*r));
}

/* One log object; the name of the bad field or NULL.  *nomem on ENOMEM. */
static const char *parse_log(struct evm_log *l, const json_t *o, int *nomem)
{
	const json_t *topics = json_object_get(o, "topics"), *t, *removed;
	size_t i;
	int drc;

	memset(l, 0, sizeof(*l));
	if (!json_is_object(o))
		return "logs";
	if (parse_fixed(l->address, RCPT_ADDR_BYTES, json_object_get(o, "address")))
		return "address";
	if (!json_is_array(topics) || json_array_size(topics) > 4)
		return "topics";
	json_array_foreach(topics, i, t)
		if (parse_fixed(l->topics[i], RCPT_HASH_BYTES, t))
			return "topics";
	l->ntopics = json_array_size(topics);
	if (parse_u64(&l->block_number, json_object_get(o, "blockNumber")))
		return "blockNumber";
	if (parse_fixed(l->block_hash, RCPT_HASH_BYTES, json_object_get(o, "blockHash")))
		return "blockHash";
	if (parse_fixed(l->tx_hash, RCPT_HASH_BYTES, json_object_get(o, "transactionHash")))
		return "transactionHash";
	if (parse_u64(&l->log_index, json_object_get(o, "logIndex")))
		return "logIndex";
	removed = json_object_get(o, "removed");
	if (removed && !json_is_boolean(removed))
		return "removed";
	l->removed = json_is_true(removed);
	drc = parse_data(&l->data, &l->data_len, EVM_RPC_LOG_DATA_BYTES_MAX, json_object_get(o, "data"));
	*nomem = drc == -3;
	return drc ? "data" : NULL;
}

static enum evm_rpc_err parse_logs(struct evm_rpc *rpc, const char *method, const json_t *arr,
				   struct evm_log **out, size_t *n)
{
	struct evm_log *logs;
	const json_t *o;
	const char *bad = NULL;
	size_t i, got = 0;
	int nomem = 0;

	if (!json_is_array(arr))
		return bad_field(rpc, method, "logs");
	if (json_array_size(arr) > EVM_RPC_LOGS_MAX) {
		evm_rpc_whyf(rpc, "%s at %s: more than %u logs", method, rpc->where, EVM_RPC_LOGS_MAX);
		return EVM_RPC_ERR_TOO_LARGE;
	}
	logs = calloc(json_array_size(arr) + 1, sizeof(*logs));
	if (!logs)
		return data_error(rpc, method, "logs", -3, 0);
	json_array_foreach(arr, i, o) {
		bad = parse_log(&logs[i], o, &nomem);
		if (bad)
			break;
		got++;
	}
	if (bad) {
		evm_logs_free(logs, got);
		return nomem ? data_error(rpc, method, bad, -3, 0) : bad_field(rpc, method, bad);
	}
	*out = logs;
	*n = got;
	return EVM_RPC_OK;
}

static const char *parse_receipt_fields(struct evm_receipt *r, const json_t *res)
{
	const json_t *ca = json_object_get(res, "contractAddress");
	uint64_t status;

	if (parse_fixed(r->tx_hash, RCPT_HASH_BYTES, json_object_get(res, "transactionHash")))
		return "transactionHash";
	if (parse_u64(&status, json_object_get(res, "status")) || status > 1)
		return "status";
	r->status = (int)status;
	if (parse_u64(&r->block_number, json_object_get(res, "blockNumber")))
		return "blockNumber";
	if (parse_fixed(r->block_hash, RCPT_HASH_BYTES, json_object_get(res, "blockHash")))
		return "blockHash";
	if (parse_u64(&r->gas_used, json_object_get(res, "gasUsed")))
		return "gasUsed";
	r->has_contract = ca && !json_is_null(ca);
	if (r->has_contract && parse_fixed(r->contract, RCPT_ADDR_BYTES, ca))
		return "contractAddress";
	return NULL;
}

enum evm_rpc_err evm_rpc_receipt(struct evm_rpc *rpc, struct evm_receipt *out, int *found,
				 const uint8_t hash[RCPT_HASH_BYTES])
{
	static const char m[] = "eth_getTransactionReceipt";
	struct evm_receipt r;
	const char *bad;
	json_t *res;
	enum evm_rpc_err rc;

	if (!rpc || !out || !found || !hash)
		return EVM_RPC_ERR_ARG;
	*found = 0;
	rc = rpc_call(rpc, m, json_pack("[o]", hex_json(hash, RCPT_HASH_BYTES)), &res);
	if (rc)
		return rc;
	memset(&r, 0, sizeof(r));
	if (json_is_null(res))
		goto out;
	bad = json_is_object(res) ? parse_receipt_fields(&r, res) : "result";
	if (!bad && memcmp(r.tx_hash, hash, RCPT_HASH_BYTES) != 0)
		bad = "transactionHash";
	rc = bad ? bad_field(rpc, m, bad) : parse_logs(rpc, m, json_object_get(res, "logs"),
						       &r.logs, &r.nlogs);
	if (!rc) {
		*out = r;
		*found = 1;
	}
out:
	json_decref(res);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Reading contracts                                                    */

static enum evm_rpc_err call_data(struct evm_rpc *rpc, uint8_t **out, size_t *out_len,
				  const char *method, json_t *params)
{
	json_t *res;
	enum evm_rpc_err rc;
	int drc;

	rc = rpc_call(rpc, method, params, &res);
	if (rc)
		return rc;
	drc = parse_data(out, out_len, EVM_RPC_RETURN_BYTES_MAX, res);
	if (drc)
		rc = data_error(rpc, method, "result", drc, EVM_RPC_RETURN_BYTES_MAX);
	json_decref(res);
	return rc;
}

enum evm_rpc_err evm_rpc_call(struct evm_rpc *rpc, uint8_t **out, size_t *out_len,
			      const uint8_t *from, const uint8_t *to,
			      const uint8_t *data, size_t len, uint64_t block)
{
	if (!rpc || !out || !out_len || (!data && len) || len > EVM_TX_DATA_BYTES_MAX)
		return EVM_RPC_ERR_ARG;
	*out = NULL;
	return call_data(rpc, out, out_len, "eth_call",
			 json_pack("[o,o]", call_object(from, to, data, len, NULL), tag_json(block)));
}

enum evm_rpc_err evm_rpc_get_code(struct evm_rpc *rpc, uint8_t **out, size_t *out_len,
				  const uint8_t addr[RCPT_ADDR_BYTES], uint64_t block)
{
	if (!rpc || !out || !out_len || !addr)
		return EVM_RPC_ERR_ARG;
	*out = NULL;
	return call_data(rpc, out, out_len, "eth_getCode",
			 json_pack("[o,o]", hex_json(addr, RCPT_ADDR_BYTES), tag_json(block)));
}

/* [t1, t2, ...]: topic0 any of these, or NULL. */
static json_t *topic_set_json(const struct evm_log_filter *f)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < f->ntopic0_any; i++) {
		if (json_array_append_new(a, hex_json(f->topic0_any[i], RCPT_HASH_BYTES))) {
			json_decref(a);
			a = NULL;
		}
	}
	return a;
}

enum evm_rpc_err evm_rpc_get_logs(struct evm_rpc *rpc, struct evm_log **out, size_t *n,
				  const struct evm_log_filter *f)
{
	static const char m[] = "eth_getLogs";
	json_t *filter, *res;
	enum evm_rpc_err rc;
	int bad;

	if (!rpc || !out || !n || !f || (f->to_block != EVM_BLOCK_LATEST && f->to_block < f->from_block) ||
	    (f->has_topic0 && f->ntopic0_any) || (f->ntopic0_any && !f->topic0_any) ||
	    f->ntopic0_any > EVM_RPC_FILTER_TOPICS_MAX)
		return EVM_RPC_ERR_ARG;
	*out = NULL;
	*n = 0;
	filter = json_object();
	bad = !filter;
	bad = bad || json_object_set_new(filter, "fromBlock", tag_json(f->from_block));
	bad = bad || json_object_set_new(filter, "toBlock", tag_json(f->to_block));
	if (f->has_address)
		bad = bad || json_object_set_new(filter, "address", hex_json(f->address, RCPT_ADDR_BYTES));
	if (f->has_topic0)
		bad = bad || json_object_set_new(filter, "topics",
						 json_pack("[o]", hex_json(f->topic0, RCPT_HASH_BYTES)));
	if (f->ntopic0_any)
		bad = bad || json_object_set_new(filter, "topics",
						 json_pack("[o]", topic_set_json(f)));
	if (bad) {
		json_decref(filter);
		filter = NULL;
	}
	rc = rpc_call(rpc, m, filter ? json_pack("[o]", filter) : NULL, &res);
	if (rc)
		return rc;
	rc = parse_logs(rpc, m, res, out, n);
	json_decref(res);
	return rc;
}
