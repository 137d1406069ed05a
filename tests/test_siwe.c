/*
 * test_siwe.c: Sign-In with Ethereum (httpd/siwe.c) and bearer sessions.
 *
 * - siwe/parse_*: the EIP-4361 parser, every field and every refusal;
 *   RFC 3339 timestamps.
 * - siwe/check_* and siwe/mem_*: the stateless checks and the sign-in
 *   flow over an in-memory store (nonce once, token hashed, revocation).
 * - siwe/escrow_*: the real assay-escrow on loopback against a private
 *   PostgreSQL: sign-in with our signer and with an ethers.js wallet (when
 *   node is present), Bearer tokens on signed routes, and the attacks,
 *   each refused with its problem and nothing changed in the database.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "httpc.h"
#include "httpd.h"
#include "pgutil.h"
#include "testutil.h"
#include "banned.h"

extern char **environ;

#define S_DOMAIN "assay.test:8700"
#define S_URI "https://assay.test:8700/login"
#define S_CHAIN 31337u
#define S_WAIT_MS 20000

/* ---------------------------------------------------------------- messages */

static void iso(char out[21], int64_t t)
{
	httpd_rfc3339_format(out, t);
}

/* A message with the given parts; `tail` is appended as is (optional
 * fields, each starting with "\n"). */
static void msg_make(char *out, size_t cap, const char *domain, const char *addr,
		     const char *uri, uint64_t chain, const char *nonce, int64_t iat,
		     const char *tail)
{
	char t[21];
	int n;

	iso(t, iat);
	n = snprintf(out, cap,
		     "%s wants you to sign in with your Ethereum account:\n%s\n\n"
		     "Sign in to Assay.\n\nURI: %s\nVersion: 1\nChain ID: %" PRIu64 "\n"
		     "Nonce: %s\nIssued At: %s%s",
		     domain, addr, uri, chain, nonce, t, tail ? tail : "");
	cr_assert(n > 0 && (size_t)n < cap);
}

static void sign_hex(char out[RCPT_SIG_HEX_BYTES], const struct rcpt_key *k, const char *msg)
{
	uint8_t sig[RCPT_SIG_BYTES];

	cr_assert_eq(rcpt_message_sign(sig, k, msg, strlen(msg)), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(out, RCPT_SIG_HEX_BYTES, sig, sizeof(sig)), RCPT_OK);
}

/* The same signature with s -> n - s and v flipped: recovers the same
 * key under plain ECDSA, refused by EIP-2. */
static void high_s(char out[RCPT_SIG_HEX_BYTES], const char *hex)
{
	static const uint8_t n[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
		0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
	};
	uint8_t sig[RCPT_SIG_BYTES];
	int i, borrow = 0;

	cr_assert_eq(rcpt_hex_decode(sig, sizeof(sig), hex), RCPT_OK);
	for (i = 31; i >= 0; i--) {
		int d = (int)n[i] - (int)sig[32 + i] - borrow;
		borrow = d < 0;
		sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
	sig[64] = sig[64] == 27 ? 28 : 27;
	cr_assert_eq(rcpt_hex_encode(out, RCPT_SIG_HEX_BYTES, sig, sizeof(sig)), RCPT_OK);
}

static const char *const GOOD =
	"service.invalid wants you to sign in with your Ethereum account:\n"
	"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
	"\n"
	"I accept the ServiceOrg Terms of Service: https://service.invalid/tos\n"
	"\n"
	"URI: https://service.invalid/login\n"
	"Version: 1\n"
	"Chain ID: 1\n"
	"Nonce: 32891756\n"
	"Issued At: 2021-09-30T16:25:24Z\n"
	"Expiration Time: 2021-10-01T16:25:24.500+02:00\n"
	"Not Before: 2021-09-30T16:00:00Z\n"
	"Request ID: req-42@x\n"
	"Resources:\n"
	"- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
	"- https://example.com/my-web2-claim.json";

/* ---------------------------------------------------------------- parser */

Test(siwe, parse_every_field)
{
	struct httpd_siwe_msg m;
	char why[256] = "";
	uint8_t a[RCPT_ADDR_BYTES];

	cr_assert_eq(httpd_siwe_parse(&m, why, sizeof(why), GOOD, strlen(GOOD)), HTTPD_OK, "%s", why);
	cr_assert_str_eq(m.domain, "service.invalid");
	cr_assert_eq(rcpt_address_parse(a, "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"), RCPT_OK);
	cr_assert_eq(memcmp(a, m.address, 20), 0);
	cr_assert(m.has_statement);
	cr_assert_str_eq(m.statement, "I accept the ServiceOrg Terms of Service: https://service.invalid/tos");
	cr_assert_str_eq(m.uri, "https://service.invalid/login");
	cr_assert_eq(m.chain_id, 1);
	cr_assert_str_eq(m.nonce, "32891756");
	cr_assert_eq(m.issued_at_s, 1633019124);
	cr_assert(m.has_expiration);
	cr_assert_eq(m.expiration_s, 1633098324);
	cr_assert(m.has_not_before);
	cr_assert_eq(m.not_before_s, 1633017600);
	cr_assert(m.has_request_id);
	cr_assert_str_eq(m.request_id, "req-42@x");
	cr_assert_eq(m.resources_len, 2);
	cr_assert_str_eq(m.resources[1], "https://example.com/my-web2-claim.json");
}

Test(siwe, parse_minimal_without_statement)
{
	static const char *const msg =
		"localhost:8080 wants you to sign in with your Ethereum account:\n"
		"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n\n\n"
		"URI: http://localhost:8080\nVersion: 1\nChain ID: 31337\n"
		"Nonce: abcdEFGH1234\nIssued At: 2026-11-23t18:00:00.123456789z";
	struct httpd_siwe_msg m;
	char why[256] = "";

	cr_assert_eq(httpd_siwe_parse(&m, why, sizeof(why), msg, strlen(msg)), HTTPD_OK, "%s", why);
	cr_assert(!m.has_statement && !m.has_expiration && !m.has_not_before &&
		  !m.has_request_id && m.resources_len == 0);
	cr_assert_eq(m.chain_id, 31337);
	cr_assert_eq(m.issued_at_s, 1795456800);
}

/* Replaces the first `from` in GOOD by `to` and expects a refusal. */
static void refuse_edit(const char *from, const char *to, const char *why_has)
{
	char buf[4096], why[256] = "";
	const char *p = strstr(GOOD, from);
	struct httpd_siwe_msg m;
	size_t pre;
	int n;

	cr_assert(p, "'%s' not in the sample", from);
	pre = (size_t)(p - GOOD);
	n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)pre, GOOD, to, p + strlen(from));
	cr_assert(n > 0 && (size_t)n < sizeof(buf));
	cr_assert_eq(httpd_siwe_parse(&m, why, sizeof(why), buf, strlen(buf)),
		     HTTPD_ERR_SIWE_FORMAT, "accepted with '%s' -> '%s'", from, to);
	if (why_has)
		cr_assert(strstr(why, why_has), "why '%s' lacks '%s'", why, why_has);
}

Test(siwe, parse_refusals)
{
	char big[HTTPD_SIWE_MESSAGE_BYTES_MAX + 64];
	struct httpd_siwe_msg m;
	size_t i;

	/* header */
	refuse_edit(" wants you to sign in", " wants you to sign on", "header");
	refuse_edit("service.invalid wants", "https://service.invalid wants", "header");
	refuse_edit("service.invalid wants", "user@service.invalid wants", "header");
	refuse_edit("service.invalid wants", " wants", "header");
	/* address: lower case, bad checksum, short, missing */
	refuse_edit("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", "EIP-55");
	refuse_edit("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756CC2", "address");
	refuse_edit("0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756C", "address");
	/* blank lines and statement */
	refuse_edit("Cc2\n\nI accept", "Cc2\nI accept", "blank");
	refuse_edit("tos\n\nURI", "tos\nURI", "blank");
	refuse_edit("I accept the", "I \"accept\" the", "statement");
	refuse_edit("I accept the", "I accept\tthe", "statement");
	refuse_edit("I accept the", "I accept 100% the", "statement");
	/* URI */
	refuse_edit("URI: https://service.invalid/login", "URI: service.invalid/login", "URI");
	refuse_edit("URI: https://service.invalid/login", "URI: https://service.invalid/lo gin", "URI");
	refuse_edit("URI: https://service.invalid/login", "URI: https://service.invalid/%zz", "URI");
	refuse_edit("URI: ", "Uri: ", "URI");
	/* Version */
	refuse_edit("Version: 1", "Version: 2", "Version");
	refuse_edit("Version: 1", "Version: 1 ", "Version");
	/* Chain ID */
	refuse_edit("Chain ID: 1\n", "Chain ID: 01\n", "Chain ID");
	refuse_edit("Chain ID: 1\n", "Chain ID: 0\n", "Chain ID");
	refuse_edit("Chain ID: 1\n", "Chain ID: 0x1\n", "Chain ID");
	refuse_edit("Chain ID: 1\n", "Chain ID: 9007199254740992\n", "Chain ID");
	refuse_edit("Chain ID: 1\n", "Chain ID: \n", "Chain ID");
	/* Nonce */
	refuse_edit("Nonce: 32891756", "Nonce: 3289175", "Nonce");
	refuse_edit("Nonce: 32891756", "Nonce: 3289-1756", "Nonce");
	refuse_edit("Nonce: 32891756",
		    "Nonce: 12345678901234567890123456789012345678901234567890123456789012345", "Nonce");
	/* Issued At */
	refuse_edit("2021-09-30T16:25:24Z", "2021-09-30 16:25:24Z", "Issued At");
	refuse_edit("2021-09-30T16:25:24Z", "2021-02-29T16:25:24Z", "Issued At");
	refuse_edit("2021-09-30T16:25:24Z", "2021-09-30T16:25:24", "Issued At");
	refuse_edit("Issued At: ", "Issued at: ", "Issued At");
	/* optional fields: bad values, wrong order, repeats, unknown */
	refuse_edit("2021-10-01T16:25:24.500+02:00", "tomorrow", "Expiration");
	refuse_edit("2021-10-01T16:25:24.500+02:00", "2021-10-01T16:25:24.500+24:00", "Expiration");
	refuse_edit("Not Before: 2021-09-30T16:00:00Z", "Not Before: 2021-09-30T16:00:60Z", "Not Before");
	refuse_edit("Request ID: req-42@x", "Request ID: req 42", "Request ID");
	refuse_edit("Expiration Time: 2021-10-01T16:25:24.500+02:00\nNot Before: 2021-09-30T16:00:00Z",
		    "Not Before: 2021-09-30T16:00:00Z\nExpiration Time: 2021-10-01T16:25:24.500+02:00",
		    "optional");
	refuse_edit("Request ID: req-42@x", "Request ID: req-42@x\nRequest ID: again", "optional");
	refuse_edit("Request ID: req-42@x", "Request ID: req-42@x\nNotes: hi", "optional");
	refuse_edit("Resources:\n", "Resources: \n", "Resources");
	refuse_edit("- https://example.com", "* https://example.com", "resource");
	refuse_edit("- https://example.com", "- not a uri", "resource");
	/* Two resources and seven more: past HTTPD_SIWE_RESOURCES_MAX (8). */
	refuse_edit("my-web2-claim.json", "x\n- https://a.example\n- https://b.example\n- https://c.example"
		    "\n- https://d.example\n- https://e.example\n- https://f.example\n- https://g.example",
		    "resource");
	/* trailing LF, CRLF, NUL, length */
	refuse_edit("claim.json", "claim.json\n", NULL);
	refuse_edit("Version: 1\n", "Version: 1\r\n", "CR");
	cr_assert_eq(httpd_siwe_parse(&m, NULL, 0, GOOD, strlen(GOOD) + 1), HTTPD_ERR_SIWE_FORMAT);
	for (i = 0; i < sizeof(big) - 1; i++)
		big[i] = 'a';
	big[sizeof(big) - 1] = '\0';
	cr_assert_eq(httpd_siwe_parse(&m, NULL, 0, big, strlen(big)), HTTPD_ERR_SIWE_FORMAT);
	/* cut anywhere before the optional fields is refused (a cut at a
	 * line end among them leaves a valid message) */
	for (i = 0; i < (size_t)(strstr(GOOD, "\nExpiration") - GOOD); i++) {
		cr_assert_neq(httpd_siwe_parse(&m, NULL, 0, GOOD, i), HTTPD_OK,
			      "a prefix of %zu bytes was accepted", i);
	}
	cr_assert_eq(httpd_siwe_parse(NULL, NULL, 0, GOOD, strlen(GOOD)), HTTPD_ERR_ARG);
}

Test(siwe, rfc3339)
{
	static const struct { const char *s; int64_t t; } ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2000-02-29T12:00:00Z", 951825600 },
		{ "2026-11-23T18:00:00.000Z", 1795456800 },
		{ "2026-11-23T20:00:00+02:00", 1795456800 },
		{ "2026-11-23T17:30:00-00:30", 1795456800 },
		{ "2026-11-23t18:00:00.1z", 1795456800 },
	};
	static const char *const bad[] = {
		"2023-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-11-31T00:00:00Z",
		"2026-11-23T24:00:00Z", "2026-11-23T18:60:00Z", "2026-11-23T18:00:60Z",
		"2026-11-23T18:00:00.Z", "2026-11-23T18:00:00.1234567890Z",
		"2026-11-23T18:00:00+0200", "2026-11-23T18:00:00", "1969-12-31T23:59:59Z",
		"2026-11-23T18:00:00Zjunk", "+2026-11-23T18:00:00Z", "2026-1-23T18:00:00Z",
	};
	char out[21];
	int64_t t;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(httpd_rfc3339_parse(&t, ok[i].s, strlen(ok[i].s)), 0, "%s", ok[i].s);
		cr_assert_eq(t, ok[i].t, "%s: %" PRId64, ok[i].s, t);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_neq(httpd_rfc3339_parse(&t, bad[i], strlen(bad[i])), 0, "%s", bad[i]);
	httpd_rfc3339_format(out, 1795456800);
	cr_assert_str_eq(out, "2026-11-23T18:00:00Z");
}

/* ---------------------------------------------------------------- in-memory store */

struct mem_session {
	uint8_t hash[RCPT_HASH_BYTES];
	uint8_t addr[RCPT_ADDR_BYTES];
	enum httpd_role role;
	unsigned scopes;
	uint64_t expires_s;
	int revoked;
};

struct mem {
	char nonces[8][40];
	uint64_t nonce_exp[8];
	size_t n_nonces;
	struct mem_session s[8];
	size_t n_s;
	int down;
};

static enum httpd_store_rc m_nonce_put(void *cls, const char *nonce, uint64_t now, uint64_t exp)
{
	struct mem *m = cls;

	(void)now;
	if (m->n_nonces >= 8)
		return HTTPD_STORE_FULL;
	snprintf(m->nonces[m->n_nonces], sizeof(m->nonces[0]), "%s", nonce);
	m->nonce_exp[m->n_nonces++] = exp;
	return HTTPD_STORE_OK;
}

static enum httpd_store_rc m_nonce_take(void *cls, const char *nonce, uint64_t now)
{
	struct mem *m = cls;
	size_t i;

	if (m->down)
		return HTTPD_STORE_DOWN;
	for (i = 0; i < m->n_nonces; i++) {
		if (m->nonces[i][0] && strcmp(m->nonces[i], nonce) == 0 && m->nonce_exp[i] > now) {
			m->nonces[i][0] = '\0';
			return HTTPD_STORE_OK;
		}
	}
	return HTTPD_STORE_NOT_FOUND;
}

static enum httpd_store_rc m_session_put(void *cls, const uint8_t h[RCPT_HASH_BYTES],
					 const uint8_t a[RCPT_ADDR_BYTES], enum httpd_role role,
					 unsigned scopes, uint64_t now, uint64_t exp)
{
	struct mem *m = cls;

	(void)now;
	cr_assert(m->n_s < 8);
	memcpy(m->s[m->n_s].hash, h, 32);
	memcpy(m->s[m->n_s].addr, a, 20);
	m->s[m->n_s].role = role;
	m->s[m->n_s].scopes = scopes;
	m->s[m->n_s].expires_s = exp;
	m->s[m->n_s++].revoked = 0;
	return HTTPD_STORE_OK;
}

static enum httpd_store_rc m_session_get(void *cls, uint8_t stored[RCPT_HASH_BYTES],
					 uint8_t a[RCPT_ADDR_BYTES], enum httpd_role *role,
					 unsigned *scopes, uint64_t *exp, const uint8_t h[RCPT_HASH_BYTES],
					 uint64_t now)
{
	struct mem *m = cls;
	size_t i;

	for (i = 0; i < m->n_s; i++) {
		if (memcmp(m->s[i].hash, h, 32) == 0 && !m->s[i].revoked && m->s[i].expires_s > now) {
			memcpy(stored, m->s[i].hash, 32);
			memcpy(a, m->s[i].addr, 20);
			*role = m->s[i].role;
			*scopes = m->s[i].scopes;
			*exp = m->s[i].expires_s;
			return HTTPD_STORE_OK;
		}
	}
	return HTTPD_STORE_NOT_FOUND;
}

static enum httpd_store_rc m_session_revoke(void *cls, const uint8_t *h, const uint8_t *a,
					    uint64_t now)
{
	struct mem *m = cls;
	size_t i;
	int n = 0;

	(void)now;
	for (i = 0; i < m->n_s; i++) {
		if ((h && memcmp(m->s[i].hash, h, 32) == 0) || (a && memcmp(m->s[i].addr, a, 20) == 0)) {
			n += !m->s[i].revoked;
			m->s[i].revoked = 1;
		}
	}
	return n ? HTTPD_STORE_OK : HTTPD_STORE_NOT_FOUND;
}

static const struct httpd_session_store mem_store = {
	m_nonce_put, m_nonce_take, m_session_put, m_session_get, m_session_revoke,
};

static int mem_roles(void *cls, const uint8_t a[RCPT_ADDR_BYTES], enum httpd_role role)
{
	(void)cls;
	(void)a;
	return role != HTTPD_ROLE_OPERATOR;
}

/* Two scopes, "read" and "write", as a service might name them. */
static unsigned mem_scope_of(void *cls, const char *name)
{
	(void)cls;
	return strcmp(name, "read") == 0 ? 1u : strcmp(name, "write") == 0 ? 2u : 0u;
}

static const struct httpd_siwe_config mem_cfg = {
	S_DOMAIN, S_URI, S_CHAIN, 60, &mem_store, mem_roles, mem_scope_of,
};

/* ---------------------------------------------------------------- checks */

struct check_case {
	const char *name;
	enum httpd_err want;
};

Test(siwe, check_each_refusal)
{
	struct rcpt_key k, other;
	struct httpd_siwe_msg m;
	enum httpd_role role;
	char a[RCPT_ADDR_HEX_BYTES], msg[2048], sig[RCPT_SIG_HEX_BYTES], hs[RCPT_SIG_HEX_BYTES];
	char tail[256], t1[21], why[256];
	int64_t now = 1795456800;

	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&other), RCPT_OK);
	rcpt_address_format(a, k.address);
#define CHECK(want, text, sg) do { \
		why[0] = '\0'; \
		cr_assert_eq(httpd_siwe_check(&m, &role, why, sizeof(why), &mem_cfg, (text), \
					      strlen(text), (sg), (uint64_t)now), (want), \
			     "want %s got why='%s'", httpd_strerror(want), why); } while (0)

	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now, NULL);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_OK, msg, sig);
	cr_assert_eq(role, HTTPD_ROLE_CUSTOMER);
	cr_assert_eq(memcmp(m.address, k.address, 20), 0);
	/* v in {0, 1} is accepted too */
	{
		char v01[RCPT_SIG_HEX_BYTES];
		memcpy(v01, sig, sizeof(v01));
		/* v is the last byte: hex digits 130 and 131 */
		v01[131] = sig[131] == 'b' ? '0' : '1';
		v01[130] = '0';
		CHECK(HTTPD_OK, msg, v01);
		v01[131] = '2';   /* v = 2 */
		CHECK(HTTPD_ERR_SIWE_SIGNATURE, msg, v01);
	}
	high_s(hs, sig);
	CHECK(HTTPD_ERR_SIWE_SIGNATURE, msg, hs);
	cr_assert(strstr(why, "low-S"), "%s", why);
	CHECK(HTTPD_ERR_SIWE_SIGNATURE, msg, "0x1234");

	sign_hex(sig, &other, msg);
	CHECK(HTTPD_ERR_SIWE_SIGNER, msg, sig);

	msg_make(msg, sizeof(msg), "evil.test", a, S_URI, S_CHAIN, "nonce12345", now, NULL);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_DOMAIN, msg, sig);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, "https://evil.test/login", S_CHAIN, "nonce12345", now, NULL);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_URI, msg, sig);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, 1, "nonce12345", now, NULL);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_CHAIN, msg, sig);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now + HTTPD_SIWE_SKEW_S + 5, NULL);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_ISSUED_AT, msg, sig);
	/* within the skew is fine */
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now + HTTPD_SIWE_SKEW_S, NULL);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_OK, msg, sig);

	iso(t1, now);
	snprintf(tail, sizeof(tail), "\nExpiration Time: %s", t1);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now - 100, tail);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_EXPIRED, msg, sig);
	iso(t1, now + 1);
	snprintf(tail, sizeof(tail), "\nExpiration Time: %s", t1);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now - 100, tail);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_OK, msg, sig);

	iso(t1, now + 1);
	snprintf(tail, sizeof(tail), "\nNot Before: %s", t1);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now, tail);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_NOT_BEFORE, msg, sig);
	iso(t1, now);
	snprintf(tail, sizeof(tail), "\nNot Before: %s", t1);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now, tail);
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_OK, msg, sig);

	/* roles: one asked for, none, two, unknown */
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now,
		 "\nResources:\n- urn:assay:role:validator\n- https://assay.test/x");
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_OK, msg, sig);
	cr_assert_eq(role, HTTPD_ROLE_VALIDATOR);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now,
		 "\nResources:\n- urn:assay:role:validator\n- urn:assay:role:operator");
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_ROLE, msg, sig);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "nonce12345", now,
		 "\nResources:\n- urn:assay:role:root");
	sign_hex(sig, &k, msg);
	CHECK(HTTPD_ERR_SIWE_ROLE, msg, sig);
	CHECK(HTTPD_ERR_SIWE_FORMAT, "hello", sig);
#undef CHECK
	rcpt_key_wipe(&k);
	rcpt_key_wipe(&other);
}

/* A sign-in may limit its session to scopes (urn:assay:scope:NAME): the
 * bits of the names the service grants are stored with it and come back
 * with it; a name it does not grant, or one asked twice, is refused
 * before the nonce is consumed. */
Test(siwe, mem_scoped_session)
{
	struct mem st;
	struct rcpt_key k;
	struct httpd_session s1;
	char a[RCPT_ADDR_HEX_BYTES], msg[2048], sig[RCPT_SIG_HEX_BYTES], bearer[80];
	char why[256] = "";
	enum httpd_role role;
	unsigned scopes = 99;
	uint64_t now = (uint64_t)time(NULL);
	static const char *const bad[] = {
		"\nResources:\n- urn:assay:scope:delete",
		"\nResources:\n- urn:assay:scope:read\n- urn:assay:scope:read",
		"\nResources:\n- urn:assay:scope:",
	};

	memset(&st, 0, sizeof(st));
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	cr_assert_eq(m_nonce_put(&st, "scopenonce1", now, now + 300), HTTPD_STORE_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "scopenonce1", (int64_t)now,
			 bad[i]);
		sign_hex(sig, &k, msg);
		cr_assert_eq(httpd_siwe_signin(&s1, why, sizeof(why), &mem_cfg, &st, msg, strlen(msg),
					       sig, now), HTTPD_ERR_SIWE_FORMAT, "%s", bad[i]);
		cr_assert(strstr(why, "scope"), "%s", why);
		cr_assert_eq(st.n_s, 0);
	}
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "scopenonce1", (int64_t)now,
		 "\nResources:\n- urn:assay:scope:write\n- urn:assay:role:validator");
	sign_hex(sig, &k, msg);
	cr_assert_eq(httpd_siwe_signin(&s1, why, sizeof(why), &mem_cfg, &st, msg, strlen(msg), sig,
				       now), HTTPD_OK, "%s", why);
	cr_assert_eq(s1.scopes, 2u);
	cr_assert_eq(s1.n_scopes, 1);
	cr_assert_str_eq(s1.scope_names[0], "write");
	cr_assert_eq(st.s[0].scopes, 2u);
	snprintf(bearer, sizeof(bearer), "Bearer %s", s1.token);
	cr_assert_eq(httpd_session_check(NULL, &role, &scopes, &mem_cfg, &st, bearer, now), HTTPD_OK);
	cr_assert_eq(scopes, 2u);
	cr_assert_eq(role, HTTPD_ROLE_VALIDATOR);
	rcpt_key_wipe(&k);
}

Test(siwe, mem_signin_once_and_sessions)
{
	struct mem st;
	struct rcpt_key k;
	struct httpd_session s1, s2;
	char a[RCPT_ADDR_HEX_BYTES], msg[2048], sig[RCPT_SIG_HEX_BYTES], nonce[40], bearer[80];
	char why[256] = "";
	uint8_t who[RCPT_ADDR_BYTES];
	enum httpd_role role;
	uint64_t now = (uint64_t)time(NULL);
	size_t i;

	memset(&st, 0, sizeof(st));
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	cr_assert_eq(httpd_siwe_nonce_new(nonce), HTTPD_OK);
	cr_assert_eq(strlen(nonce), 32);
	/* Unknown nonce: refused, nothing stored. */
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, (int64_t)now, NULL);
	sign_hex(sig, &k, msg);
	cr_assert_eq(httpd_siwe_signin(&s1, why, sizeof(why), &mem_cfg, &st, msg, strlen(msg), sig, now),
		     HTTPD_ERR_SIWE_NONCE);
	cr_assert_eq(st.n_s, 0);
	cr_assert_eq(m_nonce_put(&st, nonce, now, now + 300), HTTPD_STORE_OK);
	/* The operator role is refused without consuming the nonce. */
	{
		char m2[2048], s2x[RCPT_SIG_HEX_BYTES];
		msg_make(m2, sizeof(m2), S_DOMAIN, a, S_URI, S_CHAIN, nonce, (int64_t)now,
			 "\nResources:\n- urn:assay:role:operator");
		sign_hex(s2x, &k, m2);
		cr_assert_eq(httpd_siwe_signin(&s1, why, sizeof(why), &mem_cfg, &st, m2, strlen(m2),
					       s2x, now), HTTPD_ERR_SIWE_ROLE);
		cr_assert_eq(st.n_s, 0);
	}
	cr_assert_eq(httpd_siwe_signin(&s1, why, sizeof(why), &mem_cfg, &st, msg, strlen(msg), sig, now),
		     HTTPD_OK, "%s", why);
	cr_assert_eq(strlen(s1.token), 64);
	cr_assert_eq(s1.expires_s, now + 60);
	cr_assert_eq(s1.role, HTTPD_ROLE_CUSTOMER);
	/* Stored only as its hash. */
	{
		uint8_t raw[32], h[32];
		for (i = 0; i < 32; i++) {
			unsigned v;
			cr_assert_eq(sscanf(s1.token + 2 * i, "%2x", &v), 1);
			raw[i] = (uint8_t)v;
		}
		cr_assert_eq(rcpt_sha256(h, raw, 32), RCPT_OK);
		cr_assert_eq(memcmp(st.s[0].hash, h, 32), 0);
		cr_assert_neq(memcmp(st.s[0].hash, raw, 32), 0);
	}
	/* Replay: the nonce is gone. */
	cr_assert_eq(httpd_siwe_signin(&s2, why, sizeof(why), &mem_cfg, &st, msg, strlen(msg), sig, now),
		     HTTPD_ERR_SIWE_NONCE);
	cr_assert_eq(st.n_s, 1);
	/* The token works, in either case of hex and "bearer". */
	snprintf(bearer, sizeof(bearer), "Bearer %s", s1.token);
	cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, bearer, now), HTTPD_OK);
	cr_assert_eq(memcmp(who, k.address, 20), 0);
	cr_assert_eq(role, HTTPD_ROLE_CUSTOMER);
	/* Malformed, altered, expired. */
	cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, s1.token, now), HTTPD_ERR_SESSION);
	cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, "Basic abc", now), HTTPD_ERR_SESSION);
	bearer[7] = bearer[7] == '0' ? '1' : '0';
	cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, bearer, now), HTTPD_ERR_SESSION);
	bearer[7] = s1.token[0];
	bearer[strlen(bearer) - 1] = '\0';
	cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, bearer, now), HTTPD_ERR_SESSION);
	snprintf(bearer, sizeof(bearer), "Bearer %s", s1.token);
	cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, bearer, now + 60), HTTPD_ERR_SESSION);
	/* Revoked. */
	cr_assert_eq(m_session_revoke(&st, NULL, k.address, now), HTTPD_STORE_OK);
	cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, bearer, now), HTTPD_ERR_SESSION);
	/* A store that is down is not a refusal of the caller. */
	st.down = 1;
	cr_assert_eq(m_nonce_put(&st, "abcdefgh12", now, now + 300), HTTPD_STORE_OK);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "abcdefgh12", (int64_t)now, NULL);
	sign_hex(sig, &k, msg);
	cr_assert_eq(httpd_siwe_signin(&s2, why, sizeof(why), &mem_cfg, &st, msg, strlen(msg), sig, now),
		     HTTPD_ERR_STORE);
	OPENSSL_cleanse(&s1, sizeof(s1));
	rcpt_key_wipe(&k);
}

/* A session never outlives the message's Expiration Time (EIP-4361: the
 * signer authorised nothing after it): a message that expires in 5 s
 * gets a 5 s session, not the configured 60 s; one that expires after
 * the TTL gets the TTL. */
Test(siwe, session_never_outlives_expiration_time)
{
	static const struct { uint64_t exp_in, want; } cases[] = {
		{ 5, 5 }, { 1, 1 }, { 59, 59 }, { 60, 60 }, { 61, 60 }, { 3600, 60 },
	};
	struct mem st;
	struct rcpt_key k;
	struct httpd_session s;
	char a[RCPT_ADDR_HEX_BYTES], msg[2048], sig[RCPT_SIG_HEX_BYTES], nonce[40], bearer[80];
	char tail[64], t1[21], why[256] = "";
	uint8_t who[RCPT_ADDR_BYTES];
	enum httpd_role role;
	uint64_t now = (uint64_t)time(NULL);
	size_t i;

	memset(&st, 0, sizeof(st));
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(httpd_siwe_nonce_new(nonce), HTTPD_OK);
		cr_assert_eq(m_nonce_put(&st, nonce, now, now + 300), HTTPD_STORE_OK);
		iso(t1, (int64_t)(now + cases[i].exp_in));
		snprintf(tail, sizeof(tail), "\nExpiration Time: %s", t1);
		msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, (int64_t)now, tail);
		sign_hex(sig, &k, msg);
		cr_assert_eq(httpd_siwe_signin(&s, why, sizeof(why), &mem_cfg, &st, msg, strlen(msg),
					       sig, now), HTTPD_OK, "%s", why);
		cr_assert_eq(s.expires_s, now + cases[i].want, "expires in %" PRIu64 ": session %" PRIu64,
			     cases[i].exp_in, s.expires_s - now);
		cr_assert_eq(st.s[st.n_s - 1].expires_s, now + cases[i].want, "the store holds another expiry");
		snprintf(bearer, sizeof(bearer), "Bearer %s", s.token);
		cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, bearer,
						 now + cases[i].want - 1), HTTPD_OK);
		cr_assert_eq(httpd_session_check(who, &role, NULL, &mem_cfg, &st, bearer,
						 now + cases[i].want), HTTPD_ERR_SESSION);
		st.n_s = 0;
	}
	OPENSSL_cleanse(&s, sizeof(s));
	rcpt_key_wipe(&k);
}

/* ---------------------------------------------------------------- the escrow */

struct svc {
	struct pgt_db db;
	int have_db;
	char dir[256], key_path[320], log_path[320];
	pid_t pid;
	uint16_t port;
	struct rcpt_key op;
};

static struct svc S;

static void svc_start(unsigned ttl_s, const char *signin_rate)
{
	char bin[512], conn[600], ttl[16], opa[RCPT_ADDR_HEX_BYTES];
	const char *build = getenv("ASSAY_BUILD");
	struct rcpt_key k;
	struct tu_daemon d;

	memset(&S, 0, sizeof(S));
	cr_assert(build, "ASSAY_BUILD is not set");
	pgt_db_create(&S.db);
	S.have_db = 1;
	tu_tmpdir(S.dir, sizeof(S.dir));
	snprintf(S.key_path, sizeof(S.key_path), "%s/escrow.key", S.dir);
	snprintf(S.log_path, sizeof(S.log_path), "%s/escrow.log", S.dir);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&k, NULL, S.key_path), RCPT_OK);
	rcpt_key_wipe(&k);
	cr_assert_eq(rcpt_key_generate(&S.op), RCPT_OK);
	rcpt_address_format(opa, S.op.address);
	snprintf(bin, sizeof(bin), "%s/bin/assay-escrow", build);
	snprintf(conn, sizeof(conn), "%s", S.db.conninfo);
	snprintf(ttl, sizeof(ttl), "%u", ttl_s);
	{
		const char *argv[] = { bin, "--listen", "127.0.0.1:0", "--db", conn,
			"--key", S.key_path, "--devnet", "--min-stake", "1000",
			"--siwe-domain", S_DOMAIN, "--siwe-uri", S_URI,
			"--session-ttl-s", ttl, "--operator", opa,
			"--signin-rate-per-s", signin_rate, "--signin-rate-burst", signin_rate,
			"--rate-per-s", "100000", "--rate-burst", "100000", NULL };
		tu_daemon_start(&d, argv, S.log_path);
	}
	S.pid = d.pid;
	S.port = (uint16_t)d.port;
}

static void svc_stop(void)
{
	int st;

	if (S.pid > 0) {
		kill(S.pid, SIGTERM);
		while (waitpid(S.pid, &st, 0) < 0 && errno == EINTR)
			;
		S.pid = 0;
	}
	if (S.have_db) {
		pgt_db_drop(&S.db);
		S.have_db = 0;
	}
	rcpt_key_wipe(&S.op);
	if (!getenv("ASSAY_TEST_KEEP"))
		tu_rmtree(S.dir);
	else
		fprintf(stderr, "test_siwe: kept %s\n", S.log_path);
}

static json_t *jbody(const struct hc_resp *r)
{
	json_t *j = json_loads(r->body, JSON_REJECT_DUPLICATES, NULL);

	cr_assert(j, "answer is not json (%d): %s", r->status, r->body);
	return j;
}

static void want_problem(struct hc_resp *r, int status, const char *slug)
{
	char type[128];
	json_t *j;

	cr_assert_eq(r->status, status, "status %d, want %d (%s): %s", r->status, status, slug, r->body);
	cr_assert_str_eq(r->ctype, "application/problem+json");
	j = jbody(r);
	snprintf(type, sizeof(type), "urn:assay:problem:%s", slug);
	cr_assert_str_eq(json_string_value(json_object_get(j, "type")), type, "%s", r->body);
	json_decref(j);
}

/* GET /v1/auth/nonce into out. */
static void get_nonce(char out[HTTPD_SIWE_NONCE_BYTES_MAX + 1])
{
	struct hc_resp r;
	json_t *j;

	cr_assert_eq(hc_request(&r, S.port, "GET", "/v1/auth/nonce", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jbody(&r);
	snprintf(out, HTTPD_SIWE_NONCE_BYTES_MAX + 1, "%s",
		 json_string_value(json_object_get(j, "nonce")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "domain")), S_DOMAIN);
	cr_assert_str_eq(json_string_value(json_object_get(j, "uri")), S_URI);
	cr_assert_eq(json_integer_value(json_object_get(j, "chainId")), S_CHAIN);
	json_decref(j);
	hc_resp_free(&r);
}

static void post_signin(struct hc_resp *r, const char *msg, const char *sig)
{
	json_t *o = json_pack("{s:s, s:s}", "message", msg, "signature", sig);
	char *b = json_dumps(o, JSON_COMPACT);

	cr_assert(b);
	cr_assert_eq(hc_request(r, S.port, "POST", "/v1/auth/signin", NULL, b, strlen(b)), 0);
	free(b);
	json_decref(o);
}

/* Signs in k (role in `tail`, may be NULL) and returns the token. */
static void signin(char token[65], const struct rcpt_key *k, const char *tail,
		   const char *want_role)
{
	char a[RCPT_ADDR_HEX_BYTES], nonce[80], msg[2048], sig[RCPT_SIG_HEX_BYTES];
	struct hc_resp r;
	json_t *j;

	rcpt_address_format(a, k->address);
	get_nonce(nonce);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, (int64_t)time(NULL), tail);
	sign_hex(sig, k, msg);
	post_signin(&r, msg, sig);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jbody(&r);
	cr_assert_str_eq(json_string_value(json_object_get(j, "address")), a);
	cr_assert_str_eq(json_string_value(json_object_get(j, "role")), want_role);
	cr_assert(json_string_value(json_object_get(j, "expiresAt")));
	snprintf(token, 65, "%s", json_string_value(json_object_get(j, "token")));
	cr_assert_eq(strlen(token), 64);
	json_decref(j);
	hc_resp_free(&r);
}

static void bearer_req(struct hc_resp *r, const char *token, const char *method,
		       const char *target, const char *idem, const char *body)
{
	char h1[128], h2[96];
	const char *hdrs[3] = { h1, idem ? h2 : NULL, NULL };

	snprintf(h1, sizeof(h1), "Authorization: Bearer %s", token);
	if (idem)
		snprintf(h2, sizeof(h2), "Idempotency-Key: %s", idem);
	cr_assert_eq(hc_request(r, S.port, method, target, hdrs, body, body ? strlen(body) : 0), 0);
}

static void audit_of(char out[128], const uint8_t who[RCPT_ADDR_BYTES])
{
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, who);
	snprintf(out, 128, "/v1/audit?account=%s", a);
}

static long long sql_count(const char *sql)
{
	PGconn *c = PQconnectdb(S.db.conninfo);
	PGresult *res;
	long long n;

	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	res = PQexec(c, sql);
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	n = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(c);
	return n;
}

Test(siwe, escrow_signin_bearer_and_logout, .fini = svc_stop, .timeout = 60)
{
	struct rcpt_key k;
	struct hc_resp r;
	char token[65], t2[65], target[128], body[96];

	svc_start(900, "1000");
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	signin(token, &k, NULL, "customer");
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_sessions"), 1);
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_siwe_nonces"), 0);
	/* The token is not stored, only its hash. */
	{
		char q[256];
		snprintf(q, sizeof(q), "SELECT count(*) FROM escrow_sessions WHERE token_hash = '\\x%s'::bytea", token);
		cr_assert_eq(sql_count(q), 0);
	}
	/* A signed route, GET and POST, with the token. */
	audit_of(target, k.address);
	bearer_req(&r, token, "GET", target, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	{
		char a[RCPT_ADDR_HEX_BYTES], fb[160];
		const char *h[2] = { "Idempotency-Key: f1", NULL };
		rcpt_address_format(a, k.address);
		snprintf(fb, sizeof(fb), "{\"address\":\"%s\",\"amount\":\"5000\"}", a);
		cr_assert_eq(hc_request(&r, S.port, "POST", "/v1/faucet", h, fb, strlen(fb)), 0);
		cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
	}
	snprintf(body, sizeof(body), "{\"amount\":\"2000\"}");
	bearer_req(&r, token, "POST", "/v1/stake", "s1", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* Both schemes at once are refused. */
	{
		char h1[128];
		const char *h[4] = { h1, "Assay-Address: 0x0000000000000000000000000000000000000000",
				     NULL, NULL };
		snprintf(h1, sizeof(h1), "Authorization: Bearer %s", token);
		cr_assert_eq(hc_request(&r, S.port, "GET", target, h, NULL, 0), 0);
		want_problem(&r, 401, "unauthenticated");
		hc_resp_free(&r);
	}
	/* A second session; logout ends only the first. */
	signin(t2, &k, NULL, "customer");
	cr_assert_eq(hc_request(&r, S.port, "POST", "/v1/auth/logout", NULL, NULL, 0), 0);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	bearer_req(&r, token, "POST", "/v1/auth/logout", NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	bearer_req(&r, token, "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	bearer_req(&r, token, "POST", "/v1/auth/logout", NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	bearer_req(&r, t2, "GET", target, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* Logout everywhere. */
	signin(token, &k, NULL, "customer");
	bearer_req(&r, t2, "POST", "/v1/auth/logout?all=true", NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	bearer_req(&r, token, "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	bearer_req(&r, t2, "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	/* Garbage tokens. */
	bearer_req(&r, "00", "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	rcpt_key_wipe(&k);
}

Test(siwe, escrow_attacks_refused_nothing_changed, .fini = svc_stop, .timeout = 60)
{
	struct rcpt_key k, other;
	struct hc_resp r;
	char a[RCPT_ADDR_HEX_BYTES], nonce[80], msg[2048], sig[RCPT_SIG_HEX_BYTES];
	char hs[RCPT_SIG_HEX_BYTES], tail[160], t1[21], good_msg[1536], good_sig[RCPT_SIG_HEX_BYTES];
	int64_t now = (int64_t)time(NULL);

	svc_start(900, "1000");
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&other), RCPT_OK);
	rcpt_address_format(a, k.address);
	get_nonce(nonce);
	msg_make(good_msg, sizeof(good_msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, now, NULL);
	sign_hex(good_sig, &k, good_msg);

#define ATTACK(status, slug) do { \
		post_signin(&r, msg, sig); \
		want_problem(&r, status, slug); \
		hc_resp_free(&r); \
		cr_assert_eq(sql_count("SELECT count(*) FROM escrow_sessions"), 0); \
		cr_assert_eq(sql_count("SELECT count(*) FROM escrow_siwe_nonces"), 1, \
			     "a refused %s consumed the nonce", slug); } while (0)

	/* unknown nonce */
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, "0123456789abcdef0123456789abcdef", now, NULL);
	sign_hex(sig, &k, msg);
	ATTACK(401, "siwe-nonce");
	/* expired */
	iso(t1, now - 1);
	snprintf(tail, sizeof(tail), "\nExpiration Time: %s", t1);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, now - 60, tail);
	sign_hex(sig, &k, msg);
	ATTACK(401, "siwe-expired");
	/* not before in the future */
	iso(t1, now + 3600);
	snprintf(tail, sizeof(tail), "\nNot Before: %s", t1);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, now, tail);
	sign_hex(sig, &k, msg);
	ATTACK(401, "siwe-not-before");
	/* issued in the future */
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, now + 3600, NULL);
	sign_hex(sig, &k, msg);
	ATTACK(401, "siwe-issued-at");
	/* wrong domain, URI, chain */
	msg_make(msg, sizeof(msg), "evil.test", a, S_URI, S_CHAIN, nonce, now, NULL);
	sign_hex(sig, &k, msg);
	ATTACK(401, "siwe-domain");
	msg_make(msg, sizeof(msg), S_DOMAIN, a, "https://evil.test/login", S_CHAIN, nonce, now, NULL);
	sign_hex(sig, &k, msg);
	ATTACK(401, "siwe-uri");
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, 1, nonce, now, NULL);
	sign_hex(sig, &k, msg);
	ATTACK(401, "siwe-chain");
	/* signature by another key over the victim's message */
	snprintf(msg, sizeof(msg), "%s", good_msg);
	sign_hex(sig, &other, msg);
	ATTACK(401, "siwe-signer");
	/* high-S twin of the good signature */
	high_s(hs, good_sig);
	snprintf(sig, sizeof(sig), "%s", hs);
	ATTACK(401, "siwe-signature");
	/* operator role for a non-operator */
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, now,
		 "\nResources:\n- urn:assay:role:operator");
	sign_hex(sig, &k, msg);
	ATTACK(403, "siwe-role");
	/* malformed */
	snprintf(msg, sizeof(msg), "%s\n", good_msg);
	sign_hex(sig, &k, msg);
	ATTACK(400, "siwe-malformed");
#undef ATTACK
	/* The nonce survived every refusal: the genuine message signs in once. */
	post_signin(&r, good_msg, good_sig);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* Replay of the very same message and signature. */
	post_signin(&r, good_msg, good_sig);
	want_problem(&r, 401, "siwe-nonce");
	hc_resp_free(&r);
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_sessions"), 1);
	/* Unknown keys in the body. */
	{
		const char *b = "{\"message\":\"x\",\"signature\":\"y\",\"role\":\"operator\"}";
		cr_assert_eq(hc_request(&r, S.port, "POST", "/v1/auth/signin", NULL, b, strlen(b)), 0);
		want_problem(&r, 400, "invalid-request");
		hc_resp_free(&r);
	}
	rcpt_key_wipe(&k);
	rcpt_key_wipe(&other);
}

Test(siwe, escrow_ownership_and_operator, .fini = svc_stop, .timeout = 60)
{
	struct rcpt_key a, b;
	struct hc_resp r;
	char ta[65], tb[65], top[65], target[128];

	svc_start(900, "1000");
	cr_assert_eq(rcpt_key_generate(&a), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&b), RCPT_OK);
	signin(ta, &a, NULL, "customer");
	signin(tb, &b, "\nResources:\n- urn:assay:role:provider", "provider");
	/* a customer's token cannot read another customer's audit */
	audit_of(target, b.address);
	bearer_req(&r, ta, "GET", target, NULL, NULL);
	want_problem(&r, 403, "forbidden");
	hc_resp_free(&r);
	audit_of(target, a.address);
	bearer_req(&r, tb, "GET", target, NULL, NULL);
	want_problem(&r, 403, "forbidden");
	hc_resp_free(&r);
	/* the configured operator reads both */
	signin(top, &S.op, "\nResources:\n- urn:assay:role:operator", "operator");
	bearer_req(&r, top, "GET", target, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	rcpt_key_wipe(&a);
	rcpt_key_wipe(&b);
}

/* A session limited to "funds" at sign-in stakes (a funds route) but
 * cannot read the audit log (audit:read) nor make an API key (a route
 * that declares no scope): 403 insufficient-scope, as a key would get.
 * The signin answer names the scopes.  An unlimited session of the same
 * address still does all three.  Unknown scope: 400, nothing stored. */
Test(siwe, escrow_scoped_session, .fini = svc_stop, .timeout = 60)
{
	struct rcpt_key k;
	struct hc_resp r;
	char token[65], full[65], target[128], a[RCPT_ADDR_HEX_BYTES], fb[160];
	char nonce[80], msg[2048], sig[RCPT_SIG_HEX_BYTES];
	const char *h[2] = { "Idempotency-Key: sf1", NULL };
	json_t *j;

	svc_start(900, "1000");
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	rcpt_address_format(a, k.address);
	snprintf(fb, sizeof(fb), "{\"address\":\"%s\",\"amount\":\"5000\"}", a);
	cr_assert_eq(hc_request(&r, S.port, "POST", "/v1/faucet", h, fb, strlen(fb)), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	get_nonce(nonce);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, (int64_t)time(NULL),
		 "\nResources:\n- urn:assay:scope:funds");
	sign_hex(sig, &k, msg);
	post_signin(&r, msg, sig);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jbody(&r);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(j, "scopes"), 0)), "funds");
	cr_assert_eq(json_array_size(json_object_get(j, "scopes")), 1);
	snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(j, "token")));
	json_decref(j);
	hc_resp_free(&r);
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_sessions WHERE scopes = 4"), 1);
	bearer_req(&r, token, "POST", "/v1/stake", "ss1", "{\"amount\":\"2000\"}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	audit_of(target, k.address);
	bearer_req(&r, token, "GET", target, NULL, NULL);
	want_problem(&r, 403, "insufficient-scope");
	hc_resp_free(&r);
	bearer_req(&r, token, "POST", "/v1/apikeys", "sk1", "{\"scopes\":[\"funds\"]}");
	want_problem(&r, 403, "insufficient-scope");
	hc_resp_free(&r);
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_apikeys"), 0);
	signin(full, &k, NULL, "customer");
	bearer_req(&r, full, "GET", target, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* A scope the escrow does not have. */
	get_nonce(nonce);
	msg_make(msg, sizeof(msg), S_DOMAIN, a, S_URI, S_CHAIN, nonce, (int64_t)time(NULL),
		 "\nResources:\n- urn:assay:scope:everything");
	sign_hex(sig, &k, msg);
	post_signin(&r, msg, sig);
	want_problem(&r, 400, "siwe-malformed");
	hc_resp_free(&r);
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_sessions"), 2);
	/* The client asks for scopes with --scopes (funds 4 + audit:read 8). */
	{
		char kp[300], sp[300], url[64];
		const char *ok[] = { tu_assay(), "signin", "--url", url, "--key", kp, "--out", sp,
			"--scopes", "funds,audit:read", "--siwe-domain", S_DOMAIN, NULL };
		const char *bad[] = { tu_assay(), "signin", "--url", url, "--key", kp, "--out", sp,
			"--scopes", "funds,,keys", "--siwe-domain", S_DOMAIN, NULL };
		struct tu_run run;
		snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)S.port);
		snprintf(kp, sizeof(kp), "%s/scoped.key", S.dir);
		snprintf(sp, sizeof(sp), "%s/scoped.session", S.dir);
		cr_assert_eq(rcpt_key_save(&k, NULL, kp), RCPT_OK);
		tu_run(&run, ok);
		cr_assert_eq(run.status, 0, "%s", run.err);
		cr_assert(strstr(run.out, "\"scopes\":[\"funds\",\"audit:read\"]"), "%s", run.out);
		tu_run_free(&run);
		cr_assert_eq(sql_count("SELECT count(*) FROM escrow_sessions WHERE scopes = 12"), 1);
		tu_run(&run, bad);
		cr_assert_eq(run.status, 2, "%s", run.err);
		tu_run_free(&run);
	}
	rcpt_key_wipe(&k);
}

Test(siwe, escrow_token_expires, .fini = svc_stop, .timeout = 60)
{
	struct rcpt_key k;
	struct hc_resp r;
	char token[65], target[128];

	svc_start(1, "1000");
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	signin(token, &k, NULL, "customer");
	audit_of(target, k.address);
	usleep(2100 * 1000);
	bearer_req(&r, token, "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	rcpt_key_wipe(&k);
}

Test(siwe, escrow_nonce_rate_limited_before_signin, .fini = svc_stop, .timeout = 60)
{
	struct hc_resp r;
	int i, limited = 0;

	svc_start(900, "3");
	for (i = 0; i < 10 && !limited; i++) {
		cr_assert_eq(hc_request(&r, S.port, "GET", "/v1/auth/nonce", NULL, NULL, 0), 0);
		if (r.status == 429)
			limited = 1;
		else
			cr_assert_eq(r.status, 200, "%s", r.body);
		hc_resp_free(&r);
	}
	cr_assert(limited, "no 429 after 10 nonces at 3 per second");
	/* the general routes are not affected */
	cr_assert_eq(hc_request(&r, S.port, "GET", "/v1/params", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200);
	hc_resp_free(&r);
}

/* ---------------------------------------------------------------- ethers.js */

static const char ETHERS_JS[] =
	"const [gen, nonce, domain, uri, chain] = process.argv.slice(2);\n"
	"const { Wallet } = require(gen + '/node_modules/ethers');\n"
	"(async () => {\n"
	"  const w = Wallet.createRandom();\n"
	"  const msg = `${domain} wants you to sign in with your Ethereum account:\\n` +\n"
	"    `${w.address}\\n\\nSign in to Assay with ethers.js.\\n\\n` +\n"
	"    `URI: ${uri}\\nVersion: 1\\nChain ID: ${chain}\\nNonce: ${nonce}\\n` +\n"
	"    `Issued At: ${new Date().toISOString()}\\n` +\n"
	"    `Expiration Time: ${new Date(Date.now() + 600000).toISOString()}`;\n"
	"  const sig = await w.signMessage(msg);\n"
	"  process.stdout.write(JSON.stringify({ message: msg, signature: sig, address: w.address }));\n"
	"})().catch((e) => { console.error(e); process.exit(1); });\n";

Test(siwe, escrow_ethers_wallet_signs_in, .fini = svc_stop, .timeout = 180)
{
	char gen[512], script[400], nonce[80], chain[24], cmd[2048];
	struct tu_run run;
	struct hc_resp r;
	json_t *j, *ans;
	char token[65], target[160];

	svc_start(900, "1000");
	tu_src(gen, sizeof(gen), "tests/vectors/gen");
	snprintf(script, sizeof(script), "%s/siwe_ethers.cjs", S.dir);
	tu_write_file(script, ETHERS_JS, strlen(ETHERS_JS), 0600);
	get_nonce(nonce);
	snprintf(chain, sizeof(chain), "%u", S_CHAIN);
	/* 77: no node; 78: no ethers and no way to install it. */
	snprintf(cmd, sizeof(cmd),
		 "command -v node >/dev/null 2>&1 || exit 77; cd \"$1\" || exit 78; "
		 "if [ ! -d node_modules/ethers ]; then command -v npm >/dev/null 2>&1 || exit 78; "
		 "npm ci --no-audit --no-fund >/dev/null 2>&1 || exit 78; fi; "
		 "exec node \"$2\" \"$1\" \"$3\" \"$4\" \"$5\" \"$6\"");
	{
		const char *argv[] = { "/bin/sh", "-c", cmd, "sh", gen, script, nonce, S_DOMAIN,
				       S_URI, chain, NULL };
		tu_run(&run, argv);
	}
	if (run.status == 77 || run.status == 78) {
		fprintf(stderr, "test_siwe: %s: the ethers.js client part was skipped; "
			"the C-side sign-in checks ran with our own signer\n",
			run.status == 77 ? "node not found" : "ethers not installable");
		tu_run_free(&run);
		cr_skip_test("ethers.js client skipped (%s)", run.status == 77 ? "no node" : "no ethers");
	}
	cr_assert_eq(run.status, 0, "node failed: %s", run.err);
	j = json_loads(run.out, 0, NULL);
	cr_assert(j, "node printed: %s", run.out);
	post_signin(&r, json_string_value(json_object_get(j, "message")),
		    json_string_value(json_object_get(j, "signature")));
	cr_assert_eq(r.status, 200, "%s\nmessage:\n%s", r.body,
		     json_string_value(json_object_get(j, "message")));
	ans = jbody(&r);
	cr_assert_str_eq(json_string_value(json_object_get(ans, "address")),
			 json_string_value(json_object_get(j, "address")));
	cr_assert_str_eq(json_string_value(json_object_get(ans, "role")), "customer");
	snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(ans, "token")));
	hc_resp_free(&r);
	snprintf(target, sizeof(target), "/v1/audit?account=%s",
		 json_string_value(json_object_get(j, "address")));
	bearer_req(&r, token, "GET", target, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	/* and its signature replayed is refused */
	post_signin(&r, json_string_value(json_object_get(j, "message")),
		    json_string_value(json_object_get(j, "signature")));
	want_problem(&r, 401, "siwe-nonce");
	hc_resp_free(&r);
	fprintf(stderr, "test_siwe: ethers.js %s wallet signed in as %s\n", "6",
		json_string_value(json_object_get(j, "address")));
	json_decref(ans);
	json_decref(j);
	tu_run_free(&run);
}

/* ---------------------------------------------------------------- operator revocation */

/* A request signed by k (httpd_auth_sign), with Idempotency-Key idem. */
static void signed_req(struct hc_resp *r, const struct rcpt_key *k, const char *method,
		       const char *target, const char *idem, const char *body)
{
	struct httpd_auth_headers h;
	char h1[96], h2[64], h3[192], h4[96];
	const char *hdrs[5] = { h1, h2, h3, h4, NULL };
	uint64_t now = (uint64_t)time(NULL);

	cr_assert_eq(httpd_auth_sign(&h, k, method, target, now, idem, body,
				     body ? strlen(body) : 0), HTTPD_OK);
	snprintf(h1, sizeof(h1), "Assay-Address: %s", h.address);
	snprintf(h2, sizeof(h2), "Assay-Timestamp: %s", h.timestamp);
	snprintf(h3, sizeof(h3), "Assay-Signature: %s", h.signature);
	snprintf(h4, sizeof(h4), "Idempotency-Key: %s", idem);
	cr_assert_eq(hc_request(r, S.port, method, target, hdrs, body, body ? strlen(body) : 0), 0);
}

static void revocation_body(char out[96], const struct rcpt_key *who)
{
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, who->address);
	snprintf(out, 96, "{\"address\":\"%s\"}", a);
}

/* The audit entry of the revocation: its request's signature recovers
 * the operator over the signed text built here (docs/api-auth.md). */
static void check_revocation_entry(const struct rcpt_key *op, const char *body)
{
	PGconn *c = PQconnectdb(S.db.conninfo);
	PGresult *res;
	json_t *d, *q;
	char text[512], hex[65];
	uint8_t h[32], sig[RCPT_SIG_BYTES], who[RCPT_ADDR_BYTES];

	cr_assert_eq(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, "SELECT (entry::jsonb)->'data' FROM escrow_audit"
			" WHERE (entry::jsonb)->>'event' = 'credentials-revoked'");
	cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	cr_assert_eq(PQntuples(res), 1);
	d = json_loads(PQgetvalue(res, 0, 0), 0, NULL);
	PQclear(res);
	PQfinish(c);
	cr_assert(d);
	cr_assert_eq(json_integer_value(json_object_get(d, "sessions")), 2);
	cr_assert_eq(json_integer_value(json_object_get(d, "apikeys")), 1);
	q = json_object_get(d, "request");
	SHA256((const unsigned char *)body, strlen(body), h);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	cr_assert_str_eq(json_string_value(json_object_get(q, "bodySha256")), hex);
	snprintf(text, sizeof(text), "assay-request/1\nPOST\n/v1/operator/revocations\n%s\n%s\n%s",
		 json_string_value(json_object_get(q, "timestamp")),
		 json_string_value(json_object_get(q, "idempotencyKey")), hex);
	cr_assert_eq(rcpt_sig_parse(sig, json_string_value(json_object_get(q, "signature"))), RCPT_OK);
	cr_assert_eq(rcpt_message_recover(who, sig, text, strlen(text)), RCPT_OK);
	cr_assert_eq(memcmp(who, op->address, RCPT_ADDR_BYTES), 0, "signed by the operator");
	json_decref(d);
}

/* The operator revokes every session and API key of one address at
 * once: the next request with any of them is 401, another address's
 * session lives on; a customer, or the operator's own session, cannot. */
Test(siwe, escrow_operator_revokes_sessions_and_keys, .fini = svc_stop, .timeout = 60)
{
	struct rcpt_key k, other;
	struct hc_resp r;
	char t1[65], t2[65], to[65], top[65], key[80], target[128], tother[128], body[96];
	json_t *j;

	svc_start(900, "1000");
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&other), RCPT_OK);
	signin(t1, &k, NULL, "customer");
	signin(t2, &k, NULL, "customer");
	signin(to, &other, NULL, "customer");
	signin(top, &S.op, "\nResources:\n- urn:assay:role:operator", "operator");
	signed_req(&r, &k, "POST", "/v1/apikeys", "mk1", "{\"scopes\":[\"audit:read\"],\"expiresInS\":3600}");
	cr_assert_eq(r.status, 201, "%s", r.body);
	j = jbody(&r);
	snprintf(key, sizeof(key), "%s", json_string_value(json_object_get(j, "secret")));
	json_decref(j);
	hc_resp_free(&r);
	audit_of(target, k.address);
	audit_of(tother, other.address);
	bearer_req(&r, key, "GET", target, NULL, NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);

	revocation_body(body, &k);
	/* Not the operator; the operator's session (not a signed request). */
	signed_req(&r, &other, "POST", "/v1/operator/revocations", "rv1", body);
	want_problem(&r, 403, "not-operator");
	hc_resp_free(&r);
	bearer_req(&r, top, "POST", "/v1/operator/revocations", "rv2", body);
	want_problem(&r, 403, "not-operator");
	hc_resp_free(&r);
	bearer_req(&r, t1, "GET", target, NULL, NULL);
	cr_assert_eq(r.status, 200, "the refusals revoked nothing: %s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_audit"
			       " WHERE (entry::jsonb)->>'event' = 'credentials-revoked'"), 0);

	signed_req(&r, &S.op, "POST", "/v1/operator/revocations", "rv3", body);
	cr_assert_eq(r.status, 200, "%s", r.body);
	j = jbody(&r);
	cr_assert_eq(json_integer_value(json_object_get(j, "sessions")), 2);
	cr_assert_eq(json_integer_value(json_object_get(j, "apikeys")), 1);
	json_decref(j);
	hc_resp_free(&r);
	bearer_req(&r, t1, "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	bearer_req(&r, t2, "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	bearer_req(&r, key, "GET", target, NULL, NULL);
	want_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	bearer_req(&r, to, "GET", tother, NULL, NULL);
	cr_assert_eq(r.status, 200, "another address's session lives on: %s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(sql_count("SELECT count(*) FROM escrow_sessions WHERE revoked_at_s IS NULL"
			       " AND address = (SELECT address FROM escrow_apikeys LIMIT 1)"), 0);
	check_revocation_entry(&S.op, body);
	/* The client's command, as the operator: a fresh session of the
	 * address dies too (and a non-operator's is refused, exit 1). */
	{
		char op_path[400], url[64], a[RCPT_ADDR_HEX_BYTES];
		struct tu_run run;
		snprintf(op_path, sizeof(op_path), "%s/operator.key", S.dir);
		cr_assert_eq(rcpt_key_save(&S.op, NULL, op_path), RCPT_OK);
		snprintf(url, sizeof(url), "http://127.0.0.1:%u", (unsigned)S.port);
		rcpt_address_format(a, k.address);
		signin(t1, &k, NULL, "customer");
		{
			const char *argv[] = { tu_assay(), "escrow", "revoke-sessions", a, "--key",
				op_path, "--url", url, NULL };
			tu_run(&run, argv);
		}
		cr_assert_eq(run.status, 0, "%s", run.err);
		tu_run_free(&run);
		bearer_req(&r, t1, "GET", target, NULL, NULL);
		want_problem(&r, 401, "unauthenticated");
		hc_resp_free(&r);
	}
	/* The wallet itself still signs, and may sign in again. */
	signed_req(&r, &k, "GET", target, "g1", NULL);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	rcpt_key_wipe(&k);
	rcpt_key_wipe(&other);
}
