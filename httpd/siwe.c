/*
 * siwe.c: Sign-In with Ethereum (EIP-4361) and bearer sessions, shared
 * by every Assay daemon (docs/api-auth.md).
 *
 * Invariants:
 * - a message is parsed exactly by the EIP's grammar, or refused with
 *   the line that broke it; nothing is guessed or normalised;
 * - a sign-in stores or consumes nothing until every stateless check
 *   (domain, URI, chain, times, signature, role) has passed; then the
 *   nonce is consumed (once, through the store) before a session exists;
 * - a token is 32 bytes from getrandom, leaves this file once (in the
 *   sign-in answer), is stored only as SHA-256 and is compared in
 *   constant time; neither a token nor a signature is ever logged or put
 *   in a problem's detail.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>

#include "assay_assert.h"
#include "httpd.h"
#include "httpd_internal.h"
#include "banned.h"

#define SIWE_HEADER_SUFFIX " wants you to sign in with your Ethereum account:"
#define SIWE_ROLE_URN "urn:assay:role:"
#define SIWE_SCOPE_URN "urn:assay:scope:"

static const char *const role_names[HTTPD_ROLE_COUNT_] = {
	[HTTPD_ROLE_NONE] = "none",
	[HTTPD_ROLE_CUSTOMER] = "customer",
	[HTTPD_ROLE_PROVIDER] = "provider",
	[HTTPD_ROLE_VALIDATOR] = "validator",
	[HTTPD_ROLE_OPERATOR] = "operator",
};

const char *httpd_role_name(enum httpd_role role)
{
	if ((unsigned)role >= HTTPD_ROLE_COUNT_)
		return "unknown";
	return role_names[role];
}

int httpd_role_parse(enum httpd_role *out, const char *s)
{
	unsigned i;

	if (!out || !s)
		return -1;
	for (i = HTTPD_ROLE_CUSTOMER; i < HTTPD_ROLE_COUNT_; i++) {
		if (strcmp(s, role_names[i]) == 0) {
			*out = (enum httpd_role)i;
			return 0;
		}
	}
	return -1;
}

/* ---------------------------------------------------------------- lexing */

static void set_why(char *why, size_t why_len, const char *fmt, ...)
	HTTPD_PRINTF(3, 4);

static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alnum(char c) { return is_alpha(c) || is_digit(c); }

static int is_unreserved(char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_sub_delim(char c)
{
	return c != '\0' && strchr("!$&'()*+,;=", c) != NULL;
}

static int is_reserved(char c)
{
	return is_sub_delim(c) || (c != '\0' && strchr(":/?#[]@", c) != NULL);
}

static int is_hexdig(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 URI: scheme ":" then unreserved, reserved or %XX only. */
static int uri_ok(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || n > HTTPD_SIWE_URI_BYTES_MAX || !is_alpha(s[0]))
		return 0;
	while (i < n && (is_alnum(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (i >= n || s[i] != ':')
		return 0;
	for (i++; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || !is_hexdig(s[i + 1]) || !is_hexdig(s[i + 2]))
				return 0;
			i += 2;
		} else if (!is_unreserved(s[i]) && !is_reserved(s[i])) {
			return 0;
		}
	}
	return 1;
}

/* An authority without userinfo: host name, IPv4, [IPv6], optional :port. */
static int domain_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > HTTPD_SIWE_DOMAIN_BYTES_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr(".-:[]", s[i]))
			return 0;
	return 1;
}

/* statement = *( reserved / unreserved / " " ), non-empty here. */
static int statement_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > HTTPD_SIWE_STATEMENT_BYTES_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!is_reserved(s[i]) && !is_unreserved(s[i]) && s[i] != ' ')
			return 0;
	return 1;
}

/* Request ID = *pchar. */
static int request_id_ok(const char *s, size_t n)
{
	size_t i;

	if (n > HTTPD_SIWE_REQUEST_ID_BYTES_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || !is_hexdig(s[i + 1]) || !is_hexdig(s[i + 2]))
				return 0;
			i += 2;
		} else if (!is_unreserved(s[i]) && !is_sub_delim(s[i]) &&
			   s[i] != ':' && s[i] != '@') {
			return 0;
		}
	}
	return 1;
}

static int digits(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int httpd_rfc3339_parse(int64_t *out_s, const char *s, size_t len)
{
	static const unsigned mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
	size_t i = 19, f = 0;
	int sign = 0;
	struct tm tm;
	time_t t;

	if (!out_s || !s || len < 20 || len > 35)
		return -1;
	if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
	    digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    digits(s + 11, 2, &h) || s[13] != ':' || digits(s + 14, 2, &mi) ||
	    s[16] != ':' || digits(s + 17, 2, &sec))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 || sec > 59)
		return -1;
	if (s[i] == '.') {
		for (i++; i < len && is_digit(s[i]); i++)
			f++;
		if (f < 1 || f > 9)
			return -1;
	}
	if (i >= len)
		return -1;
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '+' ? 1 : -1;
		if (len - i != 6 || digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
		    digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
			return -1;
		i += 6;
	} else {
		return -1;
	}
	if (i != len)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)y - 1900;
	tm.tm_mon = (int)mo - 1;
	tm.tm_mday = (int)d;
	tm.tm_hour = (int)h;
	tm.tm_min = (int)mi;
	tm.tm_sec = (int)sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return -1;
	/* Local time = UTC + offset, so UTC = local - offset. */
	*out_s = (int64_t)t - sign * (int64_t)(oh * 3600 + om * 60);
	return 0;
}

void httpd_rfc3339_format(char out[21], int64_t t_s)
{
	struct tm tm;
	time_t t = (time_t)(t_s < 0 ? 0 : t_s);

	memset(&tm, 0, sizeof(tm));
	if (!gmtime_r(&t, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		snprintf(out, 21, "1970-01-01T00:00:00Z");
}

/* ---------------------------------------------------------------- parser */

struct cursor {
	const char *p, *end;
	int done;                 /* the last line was taken */
	unsigned line;
};

/* The next line (without its LF); -1 when there is none left. */
static int take(struct cursor *c, const char **l, size_t *n)
{
	const char *nl;

	if (c->done)
		return -1;
	nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	*l = c->p;
	if (nl) {
		*n = (size_t)(nl - c->p);
		c->p = nl + 1;
	} else {
		*n = (size_t)(c->end - c->p);
		c->p = c->end;
		c->done = 1;
	}
	c->line++;
	return 0;
}

/* Line must be PREFIX VALUE; *v and *vn receive VALUE. */
static int field(const char *l, size_t n, const char *prefix, const char **v, size_t *vn)
{
	size_t pn = strlen(prefix);

	if (n < pn || memcmp(l, prefix, pn) != 0)
		return -1;
	*v = l + pn;
	*vn = n - pn;
	return 0;
}

static void copy_str(char *dst, const char *src, size_t n)
{
	assert(dst && src);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

enum httpd_err httpd_siwe_parse(struct httpd_siwe_msg *out, char *why, size_t why_len,
				const char *text, size_t len)
{
	static const char *const opt_prefix[4] = {
		"Expiration Time: ", "Not Before: ", "Request ID: ", "Resources:",
	};
	struct cursor c = { NULL, NULL, 0, 0 };
	const char *l, *v;
	size_t n, vn, sn = strlen(SIWE_HEADER_SUFFIX);
	char addr_text[RCPT_ADDR_HEX_BYTES];
	unsigned stage = 0;
	enum httpd_err rc = HTTPD_ERR_ARG;
	const char *what = "header";

	if (!out || !text)
		goto out;
	memset(out, 0, sizeof(*out));
	rc = HTTPD_ERR_SIWE_FORMAT;
	if (len > HTTPD_SIWE_MESSAGE_BYTES_MAX) {
		what = "whole message (too long)";
		goto out;
	}
	if (memchr(text, '\0', len) || memchr(text, '\r', len)) {
		what = "whole message (NUL or CR)";
		goto out;
	}
	c.p = text;
	c.end = text + len;
	c.done = 0;
	c.line = 0;

	/* {domain} wants you to sign in with your Ethereum account: */
	if (take(&c, &l, &n) || n <= sn || memcmp(l + n - sn, SIWE_HEADER_SUFFIX, sn) != 0 ||
	    !domain_ok(l, n - sn))
		goto out;
	copy_str(out->domain, l, n - sn);

	/* The address, exactly in its EIP-55 form. */
	what = "address";
	if (take(&c, &l, &n) || n != RCPT_ADDR_HEX_BYTES - 1)
		goto out;
	copy_str(addr_text, l, n);
	if (rcpt_address_parse(out->address, addr_text) != RCPT_OK)
		goto out;
	{
		char canon[RCPT_ADDR_HEX_BYTES];
		rcpt_address_format(canon, out->address);
		if (memcmp(canon, addr_text, RCPT_ADDR_HEX_BYTES) != 0) {
			what = "address (not EIP-55 checksummed)";
			goto out;
		}
	}

	/* LF [statement LF] LF */
	what = "blank line after the address";
	if (take(&c, &l, &n) || n != 0)
		goto out;
	what = "statement";
	if (take(&c, &l, &n))
		goto out;
	if (n != 0) {
		if (!statement_ok(l, n))
			goto out;
		copy_str(out->statement, l, n);
		out->has_statement = 1;
		what = "blank line after the statement";
		if (take(&c, &l, &n) || n != 0)
			goto out;
	}

	what = "URI";
	if (take(&c, &l, &n) || field(l, n, "URI: ", &v, &vn) || !uri_ok(v, vn))
		goto out;
	copy_str(out->uri, v, vn);

	what = "Version";
	if (take(&c, &l, &n) || n != 10 || memcmp(l, "Version: 1", 10) != 0)
		goto out;

	what = "Chain ID";
	if (take(&c, &l, &n) || field(l, n, "Chain ID: ", &v, &vn) || vn == 0 || vn > 16 ||
	    (vn > 1 && v[0] == '0'))
		goto out;
	{
		uint64_t id = 0;
		size_t i;
		for (i = 0; i < vn; i++) {
			if (!is_digit(v[i]))
				goto out;
			id = id * 10 + (uint64_t)(v[i] - '0');
		}
		if (id == 0 || id > RCPT_JSON_UINT_MAX)
			goto out;
		out->chain_id = id;
	}

	what = "Nonce";
	if (take(&c, &l, &n) || field(l, n, "Nonce: ", &v, &vn) ||
	    vn < HTTPD_SIWE_NONCE_BYTES_MIN || vn > HTTPD_SIWE_NONCE_BYTES_MAX)
		goto out;
	{
		size_t i;
		for (i = 0; i < vn; i++)
			if (!is_alnum(v[i]))
				goto out;
	}
	copy_str(out->nonce, v, vn);

	what = "Issued At";
	if (take(&c, &l, &n) || field(l, n, "Issued At: ", &v, &vn) ||
	    httpd_rfc3339_parse(&out->issued_at_s, v, vn))
		goto out;

	/* Optional fields, each at most once and in the grammar's order. */
	while (!c.done && stage < 4) {
		unsigned k;
		what = "optional field";
		if (take(&c, &l, &n))
			goto out;
		for (k = stage; k < 4; k++)
			if (!field(l, n, opt_prefix[k], &v, &vn))
				break;
		if (k == 4)
			goto out;
		stage = k + 1;
		switch (k) {
		case 0:
			what = "Expiration Time";
			if (httpd_rfc3339_parse(&out->expiration_s, v, vn))
				goto out;
			out->has_expiration = 1;
			break;
		case 1:
			what = "Not Before";
			if (httpd_rfc3339_parse(&out->not_before_s, v, vn))
				goto out;
			out->has_not_before = 1;
			break;
		case 2:
			what = "Request ID";
			if (!request_id_ok(v, vn))
				goto out;
			copy_str(out->request_id, v, vn);
			out->has_request_id = 1;
			break;
		default:
			what = "Resources";
			if (vn != 0)
				goto out;
			while (!c.done) {
				what = "resource";
				if (take(&c, &l, &n) || field(l, n, "- ", &v, &vn) ||
				    !uri_ok(v, vn) || out->resources_len >= HTTPD_SIWE_RESOURCES_MAX)
					goto out;
				copy_str(out->resources[out->resources_len++], v, vn);
			}
			break;
		}
	}
	what = "end of message";
	if (!c.done)
		goto out;
	assert(out->chain_id > 0 && strlen(out->nonce) >= HTTPD_SIWE_NONCE_BYTES_MIN);
	assert(out->resources_len <= HTTPD_SIWE_RESOURCES_MAX);
	rc = HTTPD_OK;
out:
	if (rc == HTTPD_ERR_SIWE_FORMAT) {
		set_why(why, why_len, "malformed sign-in message at line %u (%s)",
			c.line ? c.line : 1, what);
	}
	return rc;
}

/* ---------------------------------------------------------------- checks */

static uint64_t now_real_s(void)
{
	return (uint64_t)time(NULL);
}

/* The role asked for in Resources (urn:assay:role:NAME), customer when
 * none; -1 when unknown or asked twice. */
static int role_of(enum httpd_role *role, const struct httpd_siwe_msg *m)
{
	size_t i, pn = strlen(SIWE_ROLE_URN);
	int seen = 0;

	*role = HTTPD_ROLE_CUSTOMER;
	for (i = 0; i < m->resources_len; i++) {
		if (strncmp(m->resources[i], SIWE_ROLE_URN, pn) != 0)
			continue;
		if (seen++ || httpd_role_parse(role, m->resources[i] + pn))
			return -1;
	}
	return 0;
}

/* The scopes asked for in Resources (urn:assay:scope:NAME, each at most
 * once) into out: their bits and names.  -1 with why for a name the
 * service does not grant (cfg->scope_of), or any when it grants none. */
static int scopes_of(struct httpd_session *out, char *why, size_t why_len,
		     const struct httpd_siwe_config *cfg, void *cls,
		     const struct httpd_siwe_msg *m)
{
	size_t i, k, pn = strlen(SIWE_SCOPE_URN);

	for (i = 0; i < m->resources_len; i++) {
		const char *name = m->resources[i] + pn;
		unsigned bit;
		if (strncmp(m->resources[i], SIWE_SCOPE_URN, pn) != 0)
			continue;
		bit = cfg->scope_of && strlen(name) <= HTTPD_SCOPE_NAME_BYTES_MAX
			      ? cfg->scope_of(cls, name) : 0;
		for (k = 0; bit && k < out->n_scopes; k++)
			if (strcmp(out->scope_names[k], name) == 0)
				bit = 0;   /* asked twice */
		if (!bit) {
			set_why(why, why_len, "Resources asks for scope '%.32s', which this service "
				"does not grant (or asks for it twice)", name);
			return -1;
		}
		ASSAY_ASSERT(out->n_scopes < HTTPD_SIWE_RESOURCES_MAX);
		snprintf(out->scope_names[out->n_scopes++], HTTPD_SCOPE_NAME_BYTES_MAX + 1, "%s",
			 name);
		out->scopes |= bit;
	}
	return 0;
}

enum httpd_err httpd_siwe_check(struct httpd_siwe_msg *msg, enum httpd_role *role,
				char *why, size_t why_len,
				const struct httpd_siwe_config *cfg,
				const char *message, size_t len,
				const char *signature, uint64_t now_s)
{
	uint8_t sig[RCPT_SIG_BYTES], got[RCPT_ADDR_BYTES];
	int64_t now = (int64_t)now_s;
	enum httpd_err rc = HTTPD_ERR_ARG;
	enum rcpt_err re;

	if (!msg || !role || !cfg || !cfg->domain || !cfg->uri || !message || !signature ||
	    now_s > (uint64_t)INT64_MAX / 2)
		goto out;
	rc = httpd_siwe_parse(msg, why, why_len, message, len);
	if (rc)
		goto out;
	rc = HTTPD_ERR_SIWE_DOMAIN;
	if (strcmp(msg->domain, cfg->domain) != 0) {
		set_why(why, why_len, "the message's domain is not '%s'", cfg->domain);
		goto out;
	}
	rc = HTTPD_ERR_SIWE_URI;
	if (strcmp(msg->uri, cfg->uri) != 0) {
		set_why(why, why_len, "the message's URI is not '%s'", cfg->uri);
		goto out;
	}
	rc = HTTPD_ERR_SIWE_CHAIN;
	if (msg->chain_id != cfg->chain_id) {
		char id[24];
		snprintf(id, sizeof(id), "%llu", (unsigned long long)cfg->chain_id);
		set_why(why, why_len, "the message's Chain ID is not %s", id);
		goto out;
	}
	rc = HTTPD_ERR_SIWE_ISSUED_AT;
	if (msg->issued_at_s > now + HTTPD_SIWE_SKEW_S) {
		set_why(why, why_len, "%s", "Issued At is in the future");
		goto out;
	}
	rc = HTTPD_ERR_SIWE_EXPIRED;
	if (msg->has_expiration && msg->expiration_s <= now) {
		set_why(why, why_len, "%s", "Expiration Time has passed");
		goto out;
	}
	rc = HTTPD_ERR_SIWE_NOT_BEFORE;
	if (msg->has_not_before && msg->not_before_s > now) {
		set_why(why, why_len, "%s", "Not Before is still in the future");
		goto out;
	}
	rc = HTTPD_ERR_SIWE_SIGNATURE;
	if (strlen(signature) != RCPT_SIG_HEX_BYTES - 1 ||
	    rcpt_sig_parse(sig, signature) != RCPT_OK) {
		set_why(why, why_len, "%s", "the signature is not 0x + 130 hex digits");
		goto out;
	}
	re = rcpt_message_recover(got, sig, message, len);
	if (re != RCPT_OK) {
		set_why(why, why_len, "the signature is unusable: %s%s", rcpt_strerror(re),
			re == RCPT_ERR_SIG_HIGH_S ? " (EIP-2 low-S required)" : "");
		goto out;
	}
	rc = HTTPD_ERR_SIWE_SIGNER;
	if (CRYPTO_memcmp(got, msg->address, RCPT_ADDR_BYTES) != 0) {
		set_why(why, why_len, "%s", "the signature does not recover to the message's address");
		goto out;
	}
	rc = HTTPD_ERR_SIWE_ROLE;
	if (role_of(role, msg)) {
		set_why(why, why_len, "%s", "ask for at most one role as urn:assay:role:customer, provider, validator or operator");
		goto out;
	}
	rc = HTTPD_OK;
out:
	return rc;
}

enum httpd_err httpd_siwe_nonce_new(char out[2 * HTTPD_SIWE_NONCE_RANDOM_BYTES + 1])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[HTTPD_SIWE_NONCE_RANDOM_BYTES];
	size_t got = 0, i;

	if (!out)
		return HTTPD_ERR_ARG;
	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
		if (n <= 0)
			return HTTPD_ERR_STORE;
		got += (size_t)n;
	}
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * sizeof(b)] = '\0';
	return HTTPD_OK;
}

static enum httpd_err store_err(enum httpd_store_rc s, enum httpd_err not_found)
{
	return s == HTTPD_STORE_OK ? HTTPD_OK :
	       s == HTTPD_STORE_NOT_FOUND ? not_found : HTTPD_ERR_STORE;
}

static uint64_t ttl_of(const struct httpd_siwe_config *cfg)
{
	if (cfg->session_ttl_s == 0)
		return HTTPD_SESSION_TTL_S_DEFAULT;
	return cfg->session_ttl_s > HTTPD_SESSION_TTL_S_MAX ? HTTPD_SESSION_TTL_S_MAX
							   : cfg->session_ttl_s;
}

enum httpd_err httpd_siwe_signin(struct httpd_session *out, char *why, size_t why_len,
				 const struct httpd_siwe_config *cfg, void *cls,
				 const char *message, size_t len,
				 const char *signature, uint64_t now_s)
{
	struct httpd_siwe_msg msg;
	uint8_t raw[HTTPD_SESSION_TOKEN_BYTES], h[RCPT_HASH_BYTES];
	enum httpd_role role = HTTPD_ROLE_NONE;
	enum httpd_err rc = HTTPD_ERR_ARG;
	size_t got = 0, i;

	if (!out || !cfg || !cfg->store)
		goto out;
	memset(out, 0, sizeof(*out));
	rc = httpd_siwe_check(&msg, &role, why, why_len, cfg, message, len, signature, now_s);
	if (rc)
		goto out;
	rc = HTTPD_ERR_SIWE_ROLE;
	if (cfg->role_allowed ? !cfg->role_allowed(cls, msg.address, role)
			      : role != HTTPD_ROLE_CUSTOMER) {
		set_why(why, why_len, "this address may not sign in as %s", httpd_role_name(role));
		goto out;
	}
	rc = HTTPD_ERR_SIWE_FORMAT;
	if (scopes_of(out, why, why_len, cfg, cls, &msg))
		goto out;
	rc = store_err(cfg->store->nonce_take(cls, msg.nonce, now_s), HTTPD_ERR_SIWE_NONCE);
	if (rc) {
		set_why(why, why_len, "%s", rc == HTTPD_ERR_SIWE_NONCE ?
			"the nonce was not issued here, was already used or has expired" :
			"the session store is unavailable");
		goto out;
	}
	rc = HTTPD_ERR_STORE;
	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n <= 0) {
			set_why(why, why_len, "%s", "the OS random generator failed");
			goto out;
		}
		got += (size_t)n;
	}
	if (rcpt_sha256(h, raw, sizeof(raw)) != RCPT_OK)
		goto out;
	/* Never past the message's own Expiration Time (EIP-4361: the
	 * signer authorised nothing after it); httpd_siwe_check refused a
	 * message already expired, so the session still lasts a second. */
	out->expires_s = now_s + ttl_of(cfg);
	if (msg.has_expiration && (uint64_t)msg.expiration_s < out->expires_s)
		out->expires_s = (uint64_t)msg.expiration_s;
	rc = store_err(cfg->store->session_put(cls, h, msg.address, role, out->scopes, now_s,
					       out->expires_s), HTTPD_ERR_STORE);
	if (rc) {
		set_why(why, why_len, "%s", "the session store is unavailable");
		goto out;
	}
	for (i = 0; i < sizeof(raw); i++) {
		out->token[2 * i] = "0123456789abcdef"[raw[i] >> 4];
		out->token[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
	}
	out->token[2 * sizeof(raw)] = '\0';
	memcpy(out->address, msg.address, RCPT_ADDR_BYTES);
	out->role = role;
	assert(strlen(out->token) == 2 * HTTPD_SESSION_TOKEN_BYTES);
	assert(role > HTTPD_ROLE_NONE && role < HTTPD_ROLE_COUNT_ && out->expires_s > now_s);
	rc = HTTPD_OK;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(h, sizeof(h));
	if (rc && out)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

/* The token's hash from "Bearer HEX"; -1 when malformed. */
static int bearer_hash(uint8_t h[RCPT_HASH_BYTES], const char *authz)
{
	uint8_t raw[HTTPD_SESSION_TOKEN_BYTES];
	const char *t;
	int rc = -1;

	if (strncasecmp(authz, "Bearer ", 7) != 0)
		goto out;
	t = authz + 7;
	if (rcpt_hex_digits_decode(raw, sizeof(raw), t,
				   strnlen(t, 2 * HTTPD_SESSION_TOKEN_BYTES + 1)) != RCPT_OK)
		goto out;
	if (rcpt_sha256(h, raw, sizeof(raw)) != RCPT_OK)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

/* Looks up a live session; fills its hash for revocation. */
static enum httpd_err session_find(uint8_t h[RCPT_HASH_BYTES], uint8_t *address,
				   enum httpd_role *role, unsigned *scopes,
				   const struct httpd_siwe_config *cfg, void *cls,
				   const char *authorization, uint64_t now_s)
{
	uint8_t stored[RCPT_HASH_BYTES], a[RCPT_ADDR_BYTES];
	enum httpd_role ro = HTTPD_ROLE_NONE;
	unsigned sc = 0;
	uint64_t exp = 0;
	enum httpd_err rc = HTTPD_ERR_ARG;

	if (!cfg || !cfg->store || !authorization)
		goto out;
	rc = HTTPD_ERR_SESSION;
	if (bearer_hash(h, authorization))
		goto out;
	rc = store_err(cfg->store->session_get(cls, stored, a, &ro, &sc, &exp, h, now_s),
		       HTTPD_ERR_SESSION);
	if (rc)
		goto out;
	rc = HTTPD_ERR_SESSION;
	if (CRYPTO_memcmp(stored, h, RCPT_HASH_BYTES) != 0 || exp <= now_s ||
	    ro <= HTTPD_ROLE_NONE || ro >= HTTPD_ROLE_COUNT_)
		goto out;
	if (address)
		memcpy(address, a, RCPT_ADDR_BYTES);
	if (role)
		*role = ro;
	if (scopes)
		*scopes = sc;
	assert(exp > now_s);
	rc = HTTPD_OK;
out:
	OPENSSL_cleanse(stored, sizeof(stored));
	return rc;
}

enum httpd_err httpd_session_check(uint8_t *address, enum httpd_role *role, unsigned *scopes,
				   const struct httpd_siwe_config *cfg, void *cls,
				   const char *authorization, uint64_t now_s)
{
	uint8_t h[RCPT_HASH_BYTES];
	enum httpd_err rc = session_find(h, address, role, scopes, cfg, cls, authorization,
					 now_s);

	OPENSSL_cleanse(h, sizeof(h));
	return rc;
}

/* ---------------------------------------------------------------- routes */

/* The problem of a refused sign-in (status and title in problems.c). */
static enum httpd_problem_id siwe_problem(enum httpd_err rc)
{
	switch (rc) {
	case HTTPD_ERR_SIWE_FORMAT: return HTTPD_P_SIWE_MALFORMED;
	case HTTPD_ERR_SIWE_DOMAIN: return HTTPD_P_SIWE_DOMAIN;
	case HTTPD_ERR_SIWE_URI: return HTTPD_P_SIWE_URI;
	case HTTPD_ERR_SIWE_CHAIN: return HTTPD_P_SIWE_CHAIN;
	case HTTPD_ERR_SIWE_ISSUED_AT: return HTTPD_P_SIWE_ISSUED_AT;
	case HTTPD_ERR_SIWE_EXPIRED: return HTTPD_P_SIWE_EXPIRED;
	case HTTPD_ERR_SIWE_NOT_BEFORE: return HTTPD_P_SIWE_NOT_BEFORE;
	case HTTPD_ERR_SIWE_SIGNATURE: return HTTPD_P_SIWE_SIGNATURE;
	case HTTPD_ERR_SIWE_SIGNER: return HTTPD_P_SIWE_SIGNER;
	case HTTPD_ERR_SIWE_NONCE: return HTTPD_P_SIWE_NONCE;
	case HTTPD_ERR_SIWE_ROLE: return HTTPD_P_SIWE_ROLE;
	default: return HTTPD_P_UNAUTHENTICATED;
	}
}

static int siwe_ready(struct httpd_req *r, const struct httpd_siwe_config **cfg)
{
	*cfg = httpd_req_siwe(r);
	if (!*cfg || !(*cfg)->store) {
		httpd_reply_builtin(r, HTTPD_P_NOT_FOUND, "sign-in is not configured");
		return -1;
	}
	if (!httpd_req_signin_rate(r)) {
		httpd_reply_builtin(r, HTTPD_P_RATE_LIMITED,
				    "sign-in requests are limited per IP address; slow down and retry");
		return -1;
	}
	return 0;
}

void httpd_siwe_handle_nonce(struct httpd_req *r, void *cls)
{
	const struct httpd_siwe_config *cfg;
	char nonce[2 * HTTPD_SIWE_NONCE_RANDOM_BYTES + 1], iat[21], exp[21];
	uint64_t now = now_real_s();
	enum httpd_store_rc s;

	if (siwe_ready(r, &cfg))
		return;
	if (httpd_siwe_nonce_new(nonce)) {
		httpd_reply_builtin(r, HTTPD_P_UNAVAILABLE, "nonce unavailable; retry later");
		return;
	}
	s = cfg->store->nonce_put(cls, nonce, now, now + HTTPD_SIWE_NONCE_TTL_S);
	if (s != HTTPD_STORE_OK) {
		httpd_reply_builtin(r, HTTPD_P_UNAVAILABLE, "nonce unavailable: %s",
				    s == HTTPD_STORE_FULL ? "too many outstanding nonces; retry later"
							  : "the session store is unavailable; retry later");
		return;
	}
	httpd_rfc3339_format(iat, (int64_t)now);
	httpd_rfc3339_format(exp, (int64_t)(now + HTTPD_SIWE_NONCE_TTL_S));
	httpd_reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}",
					   "nonce", nonce, "issuedAt", iat, "expiresAt", exp,
					   "domain", cfg->domain, "uri", cfg->uri,
					   "chainId", (json_int_t)cfg->chain_id));
}

void httpd_siwe_handle_signin(struct httpd_req *r, void *cls)
{
	const struct httpd_siwe_config *cfg;
	struct httpd_session ses;
	json_t *body = httpd_req_json(r), *m, *sg;
	char why[HTTPD_DETAIL_BYTES_MAX], addr[RCPT_ADDR_HEX_BYTES], exp[21];
	enum httpd_err rc;
	const char *k;
	json_t *v;

	if (siwe_ready(r, &cfg))
		return;
	m = json_object_get(body, "message");
	sg = json_object_get(body, "signature");
	json_object_foreach(body, k, v) {
		if (strcmp(k, "message") && strcmp(k, "signature")) {
			httpd_reply_builtin(r, HTTPD_P_INVALID_REQUEST, "unknown key \"%.64s\"", k);
			return;
		}
	}
	if (!json_is_string(m) || !json_is_string(sg)) {
		httpd_reply_builtin(r, HTTPD_P_INVALID_REQUEST,
				    "the body is {\"message\": string, \"signature\": string}");
		return;
	}
	why[0] = '\0';
	rc = httpd_siwe_signin(&ses, why, sizeof(why), cfg, cls, json_string_value(m),
			       json_string_length(m), json_string_value(sg), now_real_s());
	if (rc == HTTPD_ERR_STORE || rc == HTTPD_ERR_ARG) {
		httpd_reply_builtin(r, HTTPD_P_UNAVAILABLE, "sign-in unavailable: %s",
				    why[0] ? why : "retry later");
		return;
	}
	if (rc) {
		httpd_reply_builtin(r, siwe_problem(rc), "%s", why[0] ? why : httpd_strerror(rc));
		return;
	}
	rcpt_address_format(addr, ses.address);
	httpd_rfc3339_format(exp, (int64_t)ses.expires_s);
	v = json_pack("{s:s, s:s, s:I, s:s, s:s}", "token", ses.token, "expiresAt", exp,
		      "expiresAtS", (json_int_t)ses.expires_s, "address", addr,
		      "role", httpd_role_name(ses.role));
	if (v && ses.n_scopes) {
		json_t *names = json_array();
		for (size_t i = 0; names && i < ses.n_scopes; i++)
			json_array_append_new(names, json_string(ses.scope_names[i]));
		json_object_set_new(v, "scopes", names);
	}
	httpd_reply_json(r, 200, v);
	OPENSSL_cleanse(&ses, sizeof(ses));
}

void httpd_siwe_handle_logout(struct httpd_req *r, void *cls)
{
	const struct httpd_siwe_config *cfg = httpd_req_siwe(r);
	const char *all = httpd_req_query(r, "all");
	uint8_t h[RCPT_HASH_BYTES], a[RCPT_ADDR_BYTES];
	enum httpd_role role = HTTPD_ROLE_NONE;
	enum httpd_err rc;
	enum httpd_store_rc s;
	const char *authz = httpd_req_header(r, "Authorization");

	if (!cfg || !cfg->store) {
		httpd_reply_builtin(r, HTTPD_P_NOT_FOUND, "sign-in is not configured");
		return;
	}
	if (all && strcmp(all, "true") != 0) {
		httpd_reply_builtin(r, HTTPD_P_INVALID_REQUEST,
				    "all takes the value true or is absent");
		return;
	}
	if (!authz) {
		httpd_reply_builtin(r, HTTPD_P_UNAUTHENTICATED, "send Authorization: Bearer TOKEN");
		return;
	}
	rc = session_find(h, a, &role, NULL, cfg, cls, authz, now_real_s());
	if (rc) {
		OPENSSL_cleanse(h, sizeof(h));
		httpd_reply_builtin(r, rc == HTTPD_ERR_STORE ? HTTPD_P_UNAVAILABLE : HTTPD_P_UNAUTHENTICATED,
				    "session: %s", httpd_strerror(rc));
		return;
	}
	s = all ? cfg->store->session_revoke(cls, NULL, a, now_real_s())
		: cfg->store->session_revoke(cls, h, NULL, now_real_s());
	OPENSSL_cleanse(h, sizeof(h));
	if (s == HTTPD_STORE_DOWN || s == HTTPD_STORE_FULL) {
		httpd_reply_builtin(r, HTTPD_P_UNAVAILABLE,
				    "the session store is unavailable; retry later");
		return;
	}
	httpd_reply_json(r, 200, json_pack("{s:b, s:b}", "revoked", 1, "all", all ? 1 : 0));
}
