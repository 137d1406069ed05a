/*
 * httpd.h: the one public header of Assay's shared HTTP module
 * (libassay-httpd.a), linked by the escrow, the provider and the
 * validator.  The shape is GNU Taler's exchange: one route table, one
 * bounded body accumulator with one strict JSON parse, one completion
 * callback that logs a line and counts the request.
 *
 * Before a request: a connection is refused when its address already
 * holds connections_preauth_per_ip_max connections that never carried an
 * authenticated request; when the table is full, the newcomer evicts the
 * oldest such connection of the address holding the most.  A connection
 * still receiving a request request_deadline_s after its first byte is
 * closed, whatever its pace.
 *
 * What a request goes through, in order (each step answers with an
 * RFC 9457 problem+json and stops the request when it fails):
 *   0. framing (RFC 9112 section 6.3): names are tokens, no control
 *      character or folded line in a value, at most one Content-Length
 *      of digits and never with Transfer-Encoding, which must be exactly
 *      "chunked" (400, 501; 431 past HTTPD_HEADER_FIELDS_MAX fields);
 *      the connection is closed after this answer, so no byte after the
 *      headers is read as another request;
 *   1. built-ins: GET /livez, /readyz (the service's check), /metrics;
 *   2. route lookup (404, or 405 when the path exists for another method);
 *   3. rate limit by client IP (429);
 *   4. HTTPD_F_JSON: Content-Type must be application/json (415); the
 *      body accumulated up to the route's cap, or HTTPD_BODY_BYTES_ANON_MAX
 *      for a signed route until its signer is known (413);
 *   5. HTTPD_F_JSON: the body must be one JSON object, no duplicate keys,
 *      nothing after it (400);
 *   6. HTTPD_F_IDEM: an Idempotency-Key header is required (400);
 *   7. HTTPD_F_AUTH: the signed-request headers must verify, or (when
 *      cfg.siwe is set) `Authorization: Bearer TOKEN` must name a live
 *      session, or (when cfg.apikey_check is set) `Authorization: Bearer
 *      ak_ID.SECRET` must name a live API key, never two at once (401);
 *      then the rate limit by signer address, or by key id for an API
 *      key, taken before the key is verified (429); an API key must
 *      hold every scope the route declares (HTTPD_F_SCOPES), and a route
 *      that declares none takes no key (403 insufficient-scope);
 *   8. HTTPD_F_IDEM: the service's idem_begin hook may answer (a replay);
 *   9. a route that declares its body (httpd_route.body): every required
 *      key present, no other key, each value of its declared type (400,
 *      httpd_body_check);
 *  10. the handler, which answers with exactly one httpd_reply_* call;
 *  11. HTTPD_F_IDEM: the service's idem_end hook sees the answer.
 *
 * Threads: handlers and hooks all run on the server's one serving thread
 * (which drives libmicrohttpd and sweeps deadlines), one request at a
 * time, so a service may give them one database connection.
 * httpd_gauge_set may be called from any thread.
 *
 * Logging: one line per request on stderr: method, path (no query),
 * route, status, latency, client IP.  Never a body, a header value or a
 * token (session tokens included: they are hashed on arrival).
 */
#ifndef ASSAY_HTTPD_H
#define ASSAY_HTTPD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "receipts.h"
#include "httpd_limits.h"

#if defined(__GNUC__)
#define HTTPD_WUR __attribute__((warn_unused_result))
#define HTTPD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define HTTPD_WUR
#define HTTPD_PRINTF(a, b)
#endif

enum httpd_err {
	HTTPD_OK = 0,
	HTTPD_ERR_ARG,          /* misuse: NULL, bad route table, bad address */
	HTTPD_ERR_NOMEM,
	HTTPD_ERR_TLS,          /* TLS asked for but unsupported, or unreadable cert/key */
	HTTPD_ERR_LISTEN,       /* libmicrohttpd could not start (port taken, ...) */
	/* Signed-request authentication (httpd_auth_verify). */
	HTTPD_ERR_AUTH_MISSING,   /* a header is absent */
	HTTPD_ERR_AUTH_ADDRESS,   /* Assay-Address is not an address */
	HTTPD_ERR_AUTH_TIMESTAMP, /* not decimal seconds, or off by more than the skew */
	HTTPD_ERR_AUTH_SIGNATURE, /* malformed, bad v, high-S or unrecoverable */
	HTTPD_ERR_AUTH_SIGNER,    /* recovers to another address */
	/* Sign-In with Ethereum and sessions (siwe.c). */
	HTTPD_ERR_SIWE_FORMAT,    /* not an EIP-4361 message (why names the line) */
	HTTPD_ERR_SIWE_DOMAIN,    /* domain is not this server's */
	HTTPD_ERR_SIWE_URI,       /* URI is not this server's */
	HTTPD_ERR_SIWE_CHAIN,     /* Chain ID is not this service's */
	HTTPD_ERR_SIWE_ISSUED_AT, /* Issued At is in the future (beyond the skew) */
	HTTPD_ERR_SIWE_EXPIRED,   /* Expiration Time has passed */
	HTTPD_ERR_SIWE_NOT_BEFORE,/* Not Before is still in the future */
	HTTPD_ERR_SIWE_SIGNATURE, /* malformed, bad v, high-S or unrecoverable */
	HTTPD_ERR_SIWE_SIGNER,    /* recovers to another address than the message's */
	HTTPD_ERR_SIWE_NONCE,     /* not issued here, already used, or expired */
	HTTPD_ERR_SIWE_ROLE,      /* the role asked for is unknown or not granted */
	HTTPD_ERR_SESSION,        /* bearer token malformed, unknown, expired or revoked */
	HTTPD_ERR_STORE,          /* the session store is unavailable or full */
	HTTPD_ERR_COUNT_
};
const char *httpd_strerror(enum httpd_err err);

/* The role a session carries (docs/api-auth.md says what each may do). */
enum httpd_role {
	HTTPD_ROLE_NONE = 0,      /* a signed request, not a session */
	HTTPD_ROLE_CUSTOMER,
	HTTPD_ROLE_PROVIDER,
	HTTPD_ROLE_VALIDATOR,
	HTTPD_ROLE_OPERATOR,
	HTTPD_ROLE_COUNT_
};
/* "customer", ...; "none" for HTTPD_ROLE_NONE; never NULL. */
const char *httpd_role_name(enum httpd_role role);
/* The role named exactly s (not "none"); -1 when there is none. */
HTTPD_WUR int httpd_role_parse(enum httpd_role *out, const char *s);

struct httpd;
struct httpd_req;
struct httpd_apikey;
struct httpd_session_store;
struct httpd_siwe_config;
struct httpd_problem;

enum httpd_route_flags {
	HTTPD_F_JSON = 1u << 0,  /* body must be one strict JSON object */
	HTTPD_F_AUTH = 1u << 1,  /* signed request required */
	HTTPD_F_IDEM = 1u << 2,  /* Idempotency-Key required; hooks run */
};
/* The API-key scopes an HTTPD_F_AUTH route requires, in the bits of its
 * flags above HTTPD_F_SCOPES_SHIFT: `J | A | HTTPD_F_SCOPES(S_FUNDS)`.
 * What each bit means is the service's (the escrow's: escrow/apikey.c);
 * httpd only checks that a key holds them all.  0: no API key is taken
 * on the route (signed requests and sessions only). */
#define HTTPD_F_SCOPES_SHIFT 8u
#define HTTPD_F_SCOPES(bits) ((unsigned)(bits) << HTTPD_F_SCOPES_SHIFT)
#define HTTPD_F_SCOPES_OF(flags) ((unsigned)(flags) >> HTTPD_F_SCOPES_SHIFT)

/* Answers with exactly one httpd_reply_* call. */
typedef void (*httpd_handler)(struct httpd_req *r, void *cls);

/* What the value of a declared body key must be. */
enum httpd_key_type {
	HTTPD_KEY_ANY = 0,         /* any JSON value: the handler checks it */
	HTTPD_KEY_STRING,
	HTTPD_KEY_INTEGER,         /* a JSON integer, 0..RCPT_JSON_UINT_MAX */
	HTTPD_KEY_OBJECT,
	HTTPD_KEY_ARRAY,
	HTTPD_KEY_HEX32,           /* "0x" + 64 hex digits */
	HTTPD_KEY_ADDRESS,         /* "0x" + 40 hex digits, EIP-55 when mixed case */
	HTTPD_KEY_U256,            /* a canonical decimal uint256 string */
};

/* One top-level key of a declared JSON body. */
struct httpd_body_key {
	const char *name;
	enum httpd_key_type type;
	unsigned required;         /* 1: must be present */
	/* The answer to a value of another type, with its detail (no format);
	 * NULL: 400 invalid-request naming the key and the type. */
	const struct httpd_problem *refusal;
	const char *refusal_detail;
};

/* A declared body: these keys and no other (at most HTTPD_BODY_KEYS_MAX;
 * keys may be NULL when keys_len is 0: the body must be {}). */
struct httpd_body_decl {
	const struct httpd_body_key *keys;
	size_t keys_len;
};

struct httpd_route {
	const char *method;        /* "GET", "POST" */
	const char *pattern;       /* "/v1/jobs/{id}/receipt": {x} matches one segment */
	httpd_handler fn;
	unsigned flags;            /* enum httpd_route_flags | HTTPD_F_SCOPES(...) */
	size_t body_bytes_max;     /* 0: HTTPD_BODY_BYTES_ANON_MAX; at most HTTPD_BODY_BYTES_MAX */
	/* NULL: no declaration (the handler checks the body).  Otherwise,
	 * on an HTTPD_F_JSON route, httpd_body_check runs before the
	 * handler, after idem_begin (so a refusal is kept as the key's
	 * answer like any other). */
	const struct httpd_body_decl *body;
};

/* What a service stores: nonces and sessions (the escrow keeps them in
 * PostgreSQL).  Every op gets the httpd_config's cls and runs on the
 * polling thread.  Return values: */
enum httpd_store_rc {
	HTTPD_STORE_OK = 0,
	HTTPD_STORE_NOT_FOUND,    /* unknown, used, expired or revoked */
	HTTPD_STORE_FULL,         /* HTTPD_SIWE_NONCES_MAX outstanding */
	HTTPD_STORE_DOWN,         /* the store failed; retry later */
};

struct httpd_config {
	const char *service;       /* "assay-escrow": log prefix and metric label */
	const char *host;          /* IPv4 literal to bind, "127.0.0.1" */
	uint16_t port;             /* 0: the kernel picks; see httpd_port */
	const struct httpd_route *routes;
	size_t routes_len;         /* at most HTTPD_ROUTES_MAX */
	void *cls;                 /* passed to handlers and hooks */
	/* /readyz: returns 0 when ready, else writes a short reason (no
	 * secret).  May be NULL (always ready). */
	int (*ready)(void *cls, char *why, size_t why_len);
	/* Idempotency hooks (both NULL or both set).  idem_begin returns 1
	 * when it answered (a replay or a refusal), 0 to run the handler;
	 * idem_end sees the handler's answer through httpd_req_response. */
	int (*idem_begin)(struct httpd_req *r, void *cls);
	void (*idem_end)(struct httpd_req *r, void *cls);
	/* Optional HTTPS: both paths set, or both NULL.  TLS 1.3 only,
	 * unless tls_allow_12 (then also TLS 1.2 with ECDHE and AEAD
	 * ciphers only). */
	const char *tls_cert_path;
	const char *tls_key_path;
	int tls_allow_12;
	/* 0 means the default from httpd_limits.h. */
	unsigned connections_max;
	unsigned connections_per_ip_max;
	unsigned connection_timeout_s;      /* idle: no byte either way */
	/* Unauthenticated connections one address may hold (see
	 * HTTPD_CONNECTIONS_PREAUTH_PER_IP_MAX), and the deadline for
	 * receiving a whole request from its first byte (at most
	 * HTTPD_REQUEST_DEADLINE_S_MAX). */
	unsigned connections_preauth_per_ip_max;
	unsigned request_deadline_s;
	double rate_per_s;         /* tokens per second per IP and per address */
	double rate_burst;         /* bucket size */
	int quiet;                 /* no per-request log line */
	/* Sign-In with Ethereum and bearer sessions (see below).  NULL: no
	 * sign-in, and HTTPD_F_AUTH routes take signed requests only.  When
	 * set, HTTPD_F_AUTH routes also take `Authorization: Bearer TOKEN`,
	 * and the service may route httpd_siwe_handle_* in its table.
	 * Borrowed: must outlive the server. */
	const struct httpd_siwe_config *siwe;
	/* Bucket per IP for the anonymous sign-in routes, on top of the
	 * general one; 0: HTTPD_SIWE_RATE_PER_S / _BURST. */
	double signin_rate_per_s;
	double signin_rate_burst;
	/* API keys (docs/api-auth.md, "API keys").  NULL: a bearer token
	 * starting "ak_" is refused like any unknown token.  Otherwise it
	 * is called for `Authorization: Bearer ak_ID.SECRET` on an
	 * HTTPD_F_AUTH route, with `token` the text after "Bearer " (a
	 * secret: never log it), once httpd has checked its shape
	 * (httpd_apikey_id) and taken a token from the key id's bucket.
	 * HTTPD_STORE_OK with *out filled for a live key whose secret
	 * verifies; HTTPD_STORE_NOT_FOUND for any other key (401);
	 * HTTPD_STORE_DOWN when the store failed (503). */
	enum httpd_store_rc (*apikey_check)(void *cls, struct httpd_apikey *out,
					    const char *token, uint64_t now_s);
	/* Handler threads (at most HTTPD_WORKERS_MAX).  0: every handler runs
	 * on the serving thread, one at a time.  N: a request whose body is
	 * complete is handed to one of N threads, its connection suspended
	 * meanwhile, so that a slow handler (a database wait) holds up
	 * neither the other requests nor /livez and /metrics, which always
	 * answer on the serving thread; /readyz goes to the pool (it may ask
	 * the database).  Handlers, the idempotency hooks, the ready hook and
	 * the sign-in store then run on several threads at once.
	 * worker_start / worker_stop (may be NULL) run on each handler thread
	 * as it starts and ends: the place for per-thread resources (a
	 * database connection each makes a bounded pool). */
	unsigned workers;
	void (*worker_start)(void *cls, unsigned index);
	void (*worker_stop)(void *cls);
};

/* Starts the daemon (its own polling thread).  *out receives the server;
 * free it with httpd_free.  Errors: HTTPD_ERR_ARG, HTTPD_ERR_NOMEM,
 * HTTPD_ERR_TLS, HTTPD_ERR_LISTEN; `why` (may be NULL) says more. */
HTTPD_WUR enum httpd_err httpd_start(struct httpd **out, char *why, size_t why_len,
				     const struct httpd_config *cfg);
/* The bound port (the kernel's choice when cfg->port was 0). */
uint16_t httpd_port(const struct httpd *h);
/* Stops accepting, waits for the polling thread, frees.  NULL is fine. */
void httpd_free(struct httpd *h);

/* A service metric on /metrics as `FAMILY{LABELS} VALUE`, under one
 * `# HELP FAMILY HELP` and `# TYPE FAMILY gauge|counter` per family, so
 * that `promtool check metrics` passes it.  FAMILY is a Prometheus name
 * ([a-zA-Z_:][a-zA-Z0-9_:]*); a counter's ends in `_total`, a gauge's
 * does not.  LABELS is NULL or `name="value"[,name="value"...]` (values
 * without `"`, `\` or newlines).  HELP is one line of printable text.
 * A family keeps the type and help it was first set with.  At most
 * HTTPD_GAUGES_MAX series; returns -1 and stores nothing for anything
 * refused. */
int httpd_gauge_set(struct httpd *h, const char *family, const char *labels,
		    const char *help, double value);
int httpd_counter_set(struct httpd *h, const char *family, const char *labels,
		      const char *help, double value);

/* ---------------------------------------------------------------- */
/* Inside a handler.  Strings returned stay valid until the request ends. */

const char *httpd_req_method(const struct httpd_req *r);
/* Path and query exactly as the client sent them (what was signed). */
const char *httpd_req_target(const struct httpd_req *r);
/* The i-th {param} of the route pattern, or NULL. */
const char *httpd_req_param(const struct httpd_req *r, size_t i);
/* A query argument or header value, or NULL. */
const char *httpd_req_query(const struct httpd_req *r, const char *key);
const char *httpd_req_header(const struct httpd_req *r, const char *name);
/* The raw body (NUL-terminated for convenience; len excludes it). */
const char *httpd_req_body(const struct httpd_req *r, size_t *len);
/* The parsed body (HTTPD_F_JSON routes), borrowed; else NULL. */
json_t *httpd_req_json(const struct httpd_req *r);
/* The authenticated signer (HTTPD_F_AUTH routes), or NULL. */
const uint8_t *httpd_req_signer(const struct httpd_req *r);
/* How the signer was authenticated (HTTPD_F_AUTH routes): a session's
 * role, or HTTPD_ROLE_NONE for a signed request (which proves the key
 * itself and so may do whatever that address may do). */
enum httpd_role httpd_req_role(const struct httpd_req *r);
/* The API key's id ("ak_" + 16 hex) when the request was authenticated
 * by one, else NULL.  Such a request acts as httpd_req_signer within
 * the route's scopes; its role is HTTPD_ROLE_NONE. */
const char *httpd_req_apikey(const struct httpd_req *r);
/* The Idempotency-Key (HTTPD_F_IDEM routes), or NULL. */
const char *httpd_req_idem_key(const struct httpd_req *r);
/* The route pattern matched ("/v1/jobs/{id}"), for fingerprints. */
const char *httpd_req_route(const struct httpd_req *r);

/* Answers.  Each copies what it is given; a second answer is a bug. */
/* Takes ownership of `body` (decref'd). */
void httpd_reply_json(struct httpd_req *r, unsigned status, json_t *body);
void httpd_reply_bytes(struct httpd_req *r, unsigned status, const char *ctype,
		       const void *data, size_t len);
/* The `size` bytes of the open file `fd` from offset 0, streamed (a model
 * of gigabytes is never copied into memory).  Takes ownership of fd,
 * which is closed after the answer (or at once when it cannot be sent). */
void httpd_reply_fd(struct httpd_req *r, unsigned status, const char *ctype, int fd,
		    uint64_t size);
/* RFC 9457: {"type":"urn:assay:problem:SLUG","title":TITLE,"status":N,
 * "detail":...}.  The detail must not carry secrets or payloads. */
void httpd_reply_problem(struct httpd_req *r, unsigned status, const char *slug,
			 const char *title, const char *detail_fmt, ...)
	HTTPD_PRINTF(5, 6);
/* The same with the detail's arguments as a va_list. */
void httpd_reply_problem_v(struct httpd_req *r, unsigned status, const char *slug,
			   const char *title, const char *detail_fmt, va_list ap)
	HTTPD_PRINTF(5, 0);

/* One problem type of a service.  A service keeps all of its own in one
 * table (escrow/problems.c), so that a slug has exactly one status and
 * one title; its API document lists each slug under that status. */
struct httpd_problem {
	const char *slug;          /* urn:assay:problem:<slug>, [a-z0-9-], at most HTTPD_PROBLEM_SLUG_BYTES_MAX */
	unsigned status;           /* 400..599 */
	const char *title;         /* short, lower case, not empty */
	const char *meaning;       /* one line: when it is answered */
};
/* The problems httpd itself answers (before a handler, and in the
 * sign-in handlers); a service's own table must give a slug it shares
 * with these the same status and title. */
enum httpd_problem_id {
	HTTPD_P_BAD_FRAMING,
	HTTPD_P_TRANSFER_CODING,
	HTTPD_P_TOO_MANY_HEADERS,
	HTTPD_P_URI_TOO_LONG,
	HTTPD_P_NOT_FOUND,
	HTTPD_P_METHOD_NOT_ALLOWED,
	HTTPD_P_RATE_LIMITED,
	HTTPD_P_UNSUPPORTED_MEDIA_TYPE,
	HTTPD_P_BODY_TOO_LARGE,
	HTTPD_P_MALFORMED_JSON,
	HTTPD_P_IDEMPOTENCY_KEY,
	HTTPD_P_INVALID_REQUEST,
	HTTPD_P_UNAUTHENTICATED,
	HTTPD_P_INSUFFICIENT_SCOPE,
	HTTPD_P_SIWE_MALFORMED,
	HTTPD_P_SIWE_DOMAIN,
	HTTPD_P_SIWE_URI,
	HTTPD_P_SIWE_CHAIN,
	HTTPD_P_SIWE_ISSUED_AT,
	HTTPD_P_SIWE_EXPIRED,
	HTTPD_P_SIWE_NOT_BEFORE,
	HTTPD_P_SIWE_SIGNATURE,
	HTTPD_P_SIWE_SIGNER,
	HTTPD_P_SIWE_NONCE,
	HTTPD_P_SIWE_ROLE,
	HTTPD_P_NOT_READY,
	HTTPD_P_UNAVAILABLE,
	HTTPD_P_INTERNAL,
	HTTPD_P_COUNT
};
/* Indexed by enum httpd_problem_id; every entry set (problems.c). */
extern const struct httpd_problem httpd_problems[HTTPD_P_COUNT];
/* Answers httpd's own problem p with a detail (detail_fmt may be NULL). */
void httpd_reply_builtin(struct httpd_req *r, enum httpd_problem_id p,
			 const char *detail_fmt, ...) HTTPD_PRINTF(3, 4);
/* Answers problem p (not NULL) with a detail (detail_fmt may be NULL). */
void httpd_reply_problem_as(struct httpd_req *r, const struct httpd_problem *p,
			    const char *detail_fmt, ...) HTTPD_PRINTF(3, 4);
/* Checks o against body b: first that every required key is present
 * (400 invalid-request 'missing key "K"'), then that no other key is
 * (400 invalid-request 'unknown key "K"'), then each value's type (the
 * key's refusal, or 400 invalid-request).  0, or -1 having answered. */
int httpd_body_check(struct httpd_req *r, json_t *o, const struct httpd_body_decl *b)
	__attribute__((warn_unused_result));
/* Checks a table of n problem types: every slug well formed and unique,
 * every status in 400..599, every title and meaning non-empty.  0, or -1
 * with the first fault written to why (may be NULL). */
int httpd_problems_check(const struct httpd_problem *t, size_t n, char *why, size_t why_len)
	__attribute__((warn_unused_result));
/* A Retry-After header (seconds, at most a day) on the answer, called
 * before or after the httpd_reply_* call (429 and 503 say 1 without it). */
void httpd_reply_retry_after(struct httpd_req *r, unsigned seconds);
/* The answer given so far (for idem_end).  0 when none yet. */
unsigned httpd_req_response(const struct httpd_req *r, const char **ctype,
			    const char **body, size_t *len);

/* ---------------------------------------------------------------- */
/* Strict JSON parse shared by every service: one object, no duplicate
 * keys, depth bounded, nothing after it.  NULL on failure with a short
 * reason in why. */
json_t *httpd_json_parse(const char *buf, size_t len, char *why, size_t why_len);

/* ---------------------------------------------------------------- */
/* Signed requests (docs/api-auth.md).  The signed text is
 *   "assay-request/1\n" METHOD "\n" TARGET "\n" TIMESTAMP "\n"
 *   IDEMPOTENCY-KEY-or-empty "\n" hex(sha256(body))
 * with TARGET the path and query as sent, TIMESTAMP decimal Unix
 * seconds, the hash as 64 lowercase hex digits; the signature is
 * EIP-191 personal_sign over it. */

#define HTTPD_AUTH_TS_BYTES 21

struct httpd_auth_headers {
	char address[RCPT_ADDR_HEX_BYTES];      /* Assay-Address */
	char timestamp[HTTPD_AUTH_TS_BYTES];    /* Assay-Timestamp */
	char signature[RCPT_SIG_HEX_BYTES];     /* Assay-Signature */
};

/* Builds the signed text into out (malloc'd, caller frees) and its
 * length.  idem_key may be NULL (empty).  HTTPD_ERR_NOMEM, HTTPD_ERR_ARG. */
HTTPD_WUR enum httpd_err httpd_auth_message(char **out, size_t *out_len,
					    const char *method, const char *target,
					    uint64_t ts_s, const char *idem_key,
					    const void *body, size_t body_len);
/* Produces the three headers for a request (clients and tests). */
HTTPD_WUR enum httpd_err httpd_auth_sign(struct httpd_auth_headers *out,
					 const struct rcpt_key *key,
					 const char *method, const char *target,
					 uint64_t ts_s, const char *idem_key,
					 const void *body, size_t body_len);
/* Checks the three header values (any may be NULL: HTTPD_ERR_AUTH_MISSING)
 * against the request at time now_s; on success *signer is the address.
 * Errors: HTTPD_ERR_AUTH_*. */
HTTPD_WUR enum httpd_err httpd_auth_verify(uint8_t signer[RCPT_ADDR_BYTES],
					   const char *address, const char *timestamp,
					   const char *signature,
					   const char *method, const char *target,
					   const char *idem_key,
					   const void *body, size_t body_len,
					   uint64_t now_s);

/* ---------------------------------------------------------------- */
/* Sign-In with Ethereum (EIP-4361) and session tokens (siwe.c,
 * docs/api-auth.md).
 *
 * Flow: GET nonce -> the wallet signs an EIP-4361 message carrying it
 * with personal_sign -> POST signin {"message","signature"} -> a bearer
 * token, returned once, stored by the service only as its SHA-256,
 * scoped to (address, role), expiring after the configured TTL,
 * revocable (logout).  The role is asked for in the message's Resources
 * as `urn:assay:role:NAME` (at most one; none means customer) and
 * granted by the service's role_allowed. */

struct httpd_siwe_msg {
	char domain[HTTPD_SIWE_DOMAIN_BYTES_MAX + 1];
	uint8_t address[RCPT_ADDR_BYTES];
	int has_statement;
	char statement[HTTPD_SIWE_STATEMENT_BYTES_MAX + 1];
	char uri[HTTPD_SIWE_URI_BYTES_MAX + 1];
	uint64_t chain_id;
	char nonce[HTTPD_SIWE_NONCE_BYTES_MAX + 1];
	int64_t issued_at_s;          /* Unix seconds (fractions dropped) */
	int has_expiration;
	int64_t expiration_s;
	int has_not_before;
	int64_t not_before_s;
	int has_request_id;
	char request_id[HTTPD_SIWE_REQUEST_ID_BYTES_MAX + 1];
	size_t resources_len;
	char resources[HTTPD_SIWE_RESOURCES_MAX][HTTPD_SIWE_URI_BYTES_MAX + 1];
};

/* Parses exactly the EIP-4361 grammar: the header line without a
 * scheme, an EIP-55 address, the optional statement between blank
 * lines, then URI, Version (1), Chain ID, Nonce, Issued At and the
 * optional Expiration Time, Not Before, Request ID and Resources in that
 * order, lines separated by one LF, no trailing LF, at most
 * HTTPD_SIWE_MESSAGE_BYTES_MAX bytes, no NUL.  HTTPD_ERR_SIWE_FORMAT
 * with `why` (may be NULL) naming the line, or HTTPD_ERR_ARG. */
HTTPD_WUR enum httpd_err httpd_siwe_parse(struct httpd_siwe_msg *out,
					  char *why, size_t why_len,
					  const char *text, size_t len);
/* RFC 3339 date-time ("2026-11-23T18:00:00.000Z", "...+02:00") to Unix
 * seconds, fractions dropped; leap second 60 refused.  0 or -1. */
HTTPD_WUR int httpd_rfc3339_parse(int64_t *out_s, const char *s, size_t len);
/* "YYYY-MM-DDTHH:MM:SSZ" of t_s (>= 0) into out. */
void httpd_rfc3339_format(char out[21], int64_t t_s);

struct httpd_session_store {
	/* Records a fresh nonce valid until expires_s (may drop expired ones). */
	enum httpd_store_rc (*nonce_put)(void *cls, const char *nonce,
					 uint64_t now_s, uint64_t expires_s);
	/* Consumes the nonce: OK exactly once for a nonce put and not yet
	 * expired at now_s, NOT_FOUND for every other call. */
	enum httpd_store_rc (*nonce_take)(void *cls, const char *nonce, uint64_t now_s);
	/* scopes: the service's scope bits the session was limited to at
	 * sign-in (httpd_siwe_config.scope_of); 0: not limited, the
	 * address's own power. */
	enum httpd_store_rc (*session_put)(void *cls,
					   const uint8_t token_hash[RCPT_HASH_BYTES],
					   const uint8_t address[RCPT_ADDR_BYTES],
					   enum httpd_role role, unsigned scopes,
					   uint64_t now_s, uint64_t expires_s);
	/* The live (not expired at now_s, not revoked) session whose hash is
	 * token_hash: fills stored_hash (compared again in constant time),
	 * address, role, scopes and expires_s. */
	enum httpd_store_rc (*session_get)(void *cls,
					   uint8_t stored_hash[RCPT_HASH_BYTES],
					   uint8_t address[RCPT_ADDR_BYTES],
					   enum httpd_role *role, unsigned *scopes,
					   uint64_t *expires_s,
					   const uint8_t token_hash[RCPT_HASH_BYTES],
					   uint64_t now_s);
	/* Revokes one live session, or (address non-NULL, token_hash NULL)
	 * every live session of that address; NOT_FOUND when none was. */
	enum httpd_store_rc (*session_revoke)(void *cls,
					      const uint8_t *token_hash,
					      const uint8_t *address, uint64_t now_s);
};

struct httpd_siwe_config {
	const char *domain;       /* the message's domain must equal it exactly */
	const char *uri;          /* the message's URI must equal it exactly */
	uint64_t chain_id;        /* the message's Chain ID must equal it */
	uint64_t session_ttl_s;   /* 1..HTTPD_SESSION_TTL_S_MAX; 0: the default */
	const struct httpd_session_store *store;
	/* 1 when address may hold role.  NULL: customer only. */
	int (*role_allowed)(void *cls, const uint8_t address[RCPT_ADDR_BYTES],
			    enum httpd_role role);
	/* The scope bits (those of HTTPD_F_SCOPES, as an API key's) of a
	 * scope name a message may ask for as urn:assay:scope:NAME; 0 for
	 * a name the service does not have.  NULL: no scope may be asked
	 * for.  A session that asked for scopes is limited to them exactly
	 * as an API key is (a route that declares none refuses it). */
	unsigned (*scope_of)(void *cls, const char *name);
};

/* A fresh nonce: HTTPD_SIWE_NONCE_RANDOM_BYTES from getrandom as
 * lowercase hex.  HTTPD_ERR_STORE when the OS CSPRNG fails. */
HTTPD_WUR enum httpd_err httpd_siwe_nonce_new(char out[2 * HTTPD_SIWE_NONCE_RANDOM_BYTES + 1]);

/* The stateless checks of a sign-in at now_s: parse, domain, URI, chain,
 * Issued At (not after now + HTTPD_SIWE_SKEW_S), Expiration Time (after
 * now), Not Before (reached), the signature (EIP-191, low-S, v rules)
 * recovering the message's address, and the role asked for (*role).
 * The nonce is not consumed.  Errors: HTTPD_ERR_SIWE_* but NONCE. */
HTTPD_WUR enum httpd_err httpd_siwe_check(struct httpd_siwe_msg *msg, enum httpd_role *role,
					  char *why, size_t why_len,
					  const struct httpd_siwe_config *cfg,
					  const char *message, size_t len,
					  const char *signature, uint64_t now_s);

struct httpd_session {
	char token[2 * HTTPD_SESSION_TOKEN_BYTES + 1];  /* hex; a secret: never log */
	uint8_t address[RCPT_ADDR_BYTES];
	enum httpd_role role;
	unsigned scopes;                                /* 0: not limited */
	size_t n_scopes;                                /* the names asked for */
	char scope_names[HTTPD_SIWE_RESOURCES_MAX][HTTPD_SCOPE_NAME_BYTES_MAX + 1];
	uint64_t expires_s;
};

/* httpd_siwe_check, then role_allowed, then the nonce consumed through
 * the store, then a new session stored (its hash only).  On success out
 * holds the token; the caller wipes it (OPENSSL_cleanse) when sent.
 * Nothing is stored or consumed unless every check passed.  Errors:
 * those of httpd_siwe_check, HTTPD_ERR_SIWE_ROLE, HTTPD_ERR_SIWE_NONCE,
 * HTTPD_ERR_STORE, HTTPD_ERR_ARG. */
HTTPD_WUR enum httpd_err httpd_siwe_signin(struct httpd_session *out,
					   char *why, size_t why_len,
					   const struct httpd_siwe_config *cfg, void *cls,
					   const char *message, size_t len,
					   const char *signature, uint64_t now_s);

/* The session of an `Authorization` header value ("Bearer " + 64 hex
 * digits): fills address, role and scopes (each may be NULL) at now_s.
 * HTTPD_ERR_SESSION, HTTPD_ERR_STORE, HTTPD_ERR_ARG. */
HTTPD_WUR enum httpd_err httpd_session_check(uint8_t *address, enum httpd_role *role,
					     unsigned *scopes,
					     const struct httpd_siwe_config *cfg, void *cls,
					     const char *authorization, uint64_t now_s);

/* ---------------------------------------------------------------- */
/* API keys: `ak_` + 16 lowercase hex digits (the public id), ".", then
 * the secret: 43 base64url characters (32 bytes from getrandom, no
 * padding).  The service stores and checks them (cfg.apikey_check). */

#define HTTPD_APIKEY_ID_BYTES 19          /* "ak_" + 16 hex */
#define HTTPD_APIKEY_SECRET_BYTES 43      /* base64url of 32 bytes */
#define HTTPD_APIKEY_TOKEN_BYTES (HTTPD_APIKEY_ID_BYTES + 1 + HTTPD_APIKEY_SECRET_BYTES)

/* What a live key authenticates as. */
struct httpd_apikey {
	char id[HTTPD_APIKEY_ID_BYTES + 1];
	uint8_t address[RCPT_ADDR_BYTES];  /* its owner: the request acts as it */
	unsigned scopes;                   /* the service's scope bits */
};

/* The id of a token "ak_ID.SECRET" of exactly the shape above (no other
 * character, no other length) into id; 0, or -1 for any other text. */
HTTPD_WUR int httpd_apikey_id(char id[HTTPD_APIKEY_ID_BYTES + 1], const char *token);

/* Route handlers a service puts in its table when cfg->siwe is set
 * (docs/api-auth.md):
 *   GET  /v1/auth/nonce    flags 0
 *   POST /v1/auth/signin   HTTPD_F_JSON, body HTTPD_SIWE_BODY_BYTES_MAX
 *   POST /v1/auth/logout   flags 0 (Bearer; ?all=true: every session of
 *                          the address) */
void httpd_siwe_handle_nonce(struct httpd_req *r, void *cls);
void httpd_siwe_handle_signin(struct httpd_req *r, void *cls);
void httpd_siwe_handle_logout(struct httpd_req *r, void *cls);

#endif
