/*
 * httpd.h: the one public header of Assay's shared HTTP module
 * (libassay-httpd.a), linked by the escrow, the provider and the
 * validator.  The shape is GNU Taler's exchange: one route table, one
 * bounded body accumulator with one strict JSON parse, one completion
 * callback that logs a line and counts the request.
 *
 * What a request goes through, in order (each step answers with an
 * RFC 9457 problem+json and stops the request when it fails):
 *   1. built-ins: GET /livez, /readyz (the service's check), /metrics;
 *   2. route lookup (404, or 405 when the path exists for another method);
 *   3. rate limit by client IP (429);
 *   4. body accumulated up to the route's cap, or HTTPD_BODY_BYTES_ANON_MAX
 *      for a signed route until its signer is known (413);
 *   5. HTTPD_F_JSON: the body must be one JSON object, no duplicate keys,
 *      nothing after it (400);
 *   6. HTTPD_F_IDEM: an Idempotency-Key header is required (400);
 *   7. HTTPD_F_AUTH: the signed-request headers must verify (401), then the
 *      rate limit by signer address (429);
 *   8. HTTPD_F_IDEM: the service's idem_begin hook may answer (a replay);
 *   9. the handler, which answers with exactly one httpd_reply_* call;
 *  10. HTTPD_F_IDEM: the service's idem_end hook sees the answer.
 *
 * Threads: handlers and hooks all run on the one MHD polling thread, one
 * request at a time, so a service may give them one database
 * connection.  httpd_gauge_set may be called from any thread.
 *
 * Logging: one line per request on stderr: method, path (no query),
 * route, status, latency, client IP.  Never a body, a header value or a
 * token.
 */
#ifndef ASSAY_HTTPD_H
#define ASSAY_HTTPD_H

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
	HTTPD_ERR_COUNT_
};
const char *httpd_strerror(enum httpd_err err);

struct httpd;
struct httpd_req;

enum httpd_route_flags {
	HTTPD_F_JSON = 1u << 0,  /* body must be one strict JSON object */
	HTTPD_F_AUTH = 1u << 1,  /* signed request required */
	HTTPD_F_IDEM = 1u << 2,  /* Idempotency-Key required; hooks run */
};

/* Answers with exactly one httpd_reply_* call. */
typedef void (*httpd_handler)(struct httpd_req *r, void *cls);

struct httpd_route {
	const char *method;        /* "GET", "POST" */
	const char *pattern;       /* "/v1/jobs/{id}/receipt": {x} matches one segment */
	httpd_handler fn;
	unsigned flags;            /* enum httpd_route_flags */
	size_t body_bytes_max;     /* 0: HTTPD_BODY_BYTES_ANON_MAX; at most HTTPD_BODY_BYTES_MAX */
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
	/* Optional HTTPS: both paths set, or both NULL. */
	const char *tls_cert_path;
	const char *tls_key_path;
	/* 0 means the default from httpd_limits.h. */
	unsigned connections_max;
	unsigned connections_per_ip_max;
	unsigned connection_timeout_s;
	double rate_per_s;         /* tokens per second per IP and per address */
	double rate_burst;         /* bucket size */
	int quiet;                 /* no per-request log line */
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

/* A service gauge shown on /metrics as `NAME VALUE`.  NAME is a
 * Prometheus metric name with optional {labels}; at most
 * HTTPD_GAUGES_MAX distinct names (later ones are dropped). */
void httpd_gauge_set(struct httpd *h, const char *name, double value);

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
/* The Idempotency-Key (HTTPD_F_IDEM routes), or NULL. */
const char *httpd_req_idem_key(const struct httpd_req *r);
/* The route pattern matched ("/v1/jobs/{id}"), for fingerprints. */
const char *httpd_req_route(const struct httpd_req *r);

/* Answers.  Each copies what it is given; a second answer is a bug. */
/* Takes ownership of `body` (decref'd). */
void httpd_reply_json(struct httpd_req *r, unsigned status, json_t *body);
void httpd_reply_bytes(struct httpd_req *r, unsigned status, const char *ctype,
		       const void *data, size_t len);
/* RFC 9457: {"type":"urn:assay:problem:SLUG","title":TITLE,"status":N,
 * "detail":...}.  The detail must not carry secrets or payloads. */
void httpd_reply_problem(struct httpd_req *r, unsigned status, const char *slug,
			 const char *title, const char *detail_fmt, ...)
	HTTPD_PRINTF(5, 6);
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

#endif
