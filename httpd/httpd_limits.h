/*
 * httpd_limits.h: every bound the shared HTTP module enforces, in one
 * place, each with its reason.  Services may pass smaller values in
 * struct httpd_config; these are the defaults and the ceilings.
 */
#ifndef ASSAY_HTTPD_LIMITS_H
#define ASSAY_HTTPD_LIMITS_H

/* Request body before the route is known or before the signer is
 * authenticated: a JSON statement is about 2 KiB, so 64 KiB is ample
 * and keeps an anonymous peer from making us buffer much. */
#define HTTPD_BODY_BYTES_ANON_MAX (64u * 1024u)

/* Largest body any route may declare (a dispute may carry a job input):
 * beyond this nothing is buffered. */
#define HTTPD_BODY_BYTES_MAX (16u * 1024u * 1024u)

/* Nesting depth of a JSON body: statements are two levels deep. */
#define HTTPD_JSON_DEPTH_MAX 16

/* Routes a service may register. */
#define HTTPD_ROUTES_MAX 64
/* Keys of a declared JSON body (httpd_route.body): a route's body is a
 * short flat object; more is a mistake in the route table. */
#define HTTPD_BODY_KEYS_MAX 16

/* {param} segments captured from one path. */
#define HTTPD_PARAMS_MAX 4

/* A path segment captured as a parameter (an address is 42 bytes, a
 * job id 66). */
#define HTTPD_PARAM_BYTES_MAX 128

/* The request target (path and query) we keep for logs and signatures. */
#define HTTPD_TARGET_BYTES_MAX 1024

/* Idempotency-Key: a client-made token, at most this long, [A-Za-z0-9._:-]. */
#define HTTPD_IDEM_KEY_BYTES_MAX 64

/* Signed-request clock skew: a captured request is useless after this. */
#define HTTPD_AUTH_SKEW_S 300

/* Header fields in one request (431 beyond): our clients send about 10. */
#define HTTPD_HEADER_FIELDS_MAX 64

/* Digits of a Content-Length: 12 covers every body we could accept and
 * keeps the number far from overflow. */
#define HTTPD_CONTENT_LENGTH_DIGITS_MAX 12

/* Concurrent connections in total, and from one IP address. */
#define HTTPD_CONNECTIONS_MAX 256
#define HTTPD_CONNECTIONS_PER_IP_MAX 32

/* Connections one IP address may hold that have not yet carried an
 * authenticated request (signed or bearer): an anonymous peer cannot
 * take more than this many of the HTTPD_CONNECTIONS_MAX.  When the table
 * is full anyway (many addresses), a new connection from an address
 * holding fewer evicts the oldest unauthenticated connection of the
 * address holding the most, so a fresh client is still served.  24
 * leaves room for a load test of 16 clients on one loopback address. */
#define HTTPD_CONNECTIONS_PREAUTH_PER_IP_MAX 24

/* Extra slots libmicrohttpd may hold beyond HTTPD_CONNECTIONS_MAX while
 * evicted connections are being closed. */
#define HTTPD_CONNECTIONS_HEADROOM 16

/* Idle timeout (libmicrohttpd's): a connection with no byte in either
 * direction for this long is closed.  It alone does not stop a client
 * that sends one byte a second: HTTPD_REQUEST_DEADLINE_S does. */
#define HTTPD_CONNECTION_TIMEOUT_S 15

/* Deadline for a whole request, request line, headers and body, counted
 * from its first byte (seen through TCP_INFO, to the sweep's
 * granularity): a connection still receiving a request after this is
 * closed.  The handler's own time and the answer are not counted.  An
 * 8 MiB job input needs about 280 KiB/s to make it. */
#define HTTPD_REQUEST_DEADLINE_S 30
#define HTTPD_REQUEST_DEADLINE_S_MAX 3600

/* The serving loop wakes at least this often to sweep deadlines and to
 * notice a stop. */
#define HTTPD_LOOP_WAIT_MS 200

/* httpd_config.workers: handler threads at most. */
#define HTTPD_WORKERS_MAX 64

/* Memory MHD may use per connection for headers and its buffers. */
#define HTTPD_CONNECTION_MEMORY_BYTES (64u * 1024u)

/* Rate limiter: token buckets in a fixed table (IPs and addresses
 * together); when full, the least recently seen bucket in the probe
 * window is recycled, so the table never grows. */
#define HTTPD_RATE_TABLE_SLOTS 4096
#define HTTPD_RATE_PROBE 8
#define HTTPD_RATE_PER_S_DEFAULT 50.0
#define HTTPD_RATE_BURST_DEFAULT 100.0

/* Metrics: distinct (route, status) counters kept; more are folded into
 * an "other" line. */
#define HTTPD_METRIC_SERIES_MAX 512

/* Service metric series (gauges and counters, one per label set) a
 * service may register.  The escrow alone has about 40 (jobs by state,
 * the referee, API keys, the watch's anomaly rules, the scheduled
 * invariant check by rule); past the bound a series is silently not
 * stored, so keep well clear of it.  Each is well under 1 KiB. */
#define HTTPD_GAUGES_MAX 64
/* A service metric's family name, its {labels} text (without braces) and
 * its HELP line: ours are far shorter. */
#define HTTPD_METRIC_NAME_BYTES_MAX 63
#define HTTPD_METRIC_LABELS_BYTES_MAX 63
#define HTTPD_METRIC_HELP_BYTES_MAX 127

/* A Content-Type value we answer with (copied into the request). */
#define HTTPD_CTYPE_BYTES_MAX 95

/* A problem+json detail string. */
#define HTTPD_DETAIL_BYTES_MAX 512
/* A problem slug, the part after urn:assay:problem: (the type URI is
 * built in a 128-byte buffer). */
#define HTTPD_PROBLEM_SLUG_BYTES_MAX 64

/* ---- Sign-In with Ethereum (EIP-4361) and sessions (siwe.c) ---- */

/* A whole sign-in message: the grammar's fields below fit in 4 KiB with
 * room; anything longer is refused before it is parsed. */
#define HTTPD_SIWE_MESSAGE_BYTES_MAX 4096
/* The sign-in body: {"message": ..., "signature": ...} with JSON escapes. */
#define HTTPD_SIWE_BODY_BYTES_MAX (3u * HTTPD_SIWE_MESSAGE_BYTES_MAX)
/* domain (an RFC 3986 authority: a host name is at most 253 bytes, a
 * port 6 more), statement, URIs (URI, Resources) and Request ID. */
#define HTTPD_SIWE_DOMAIN_BYTES_MAX 262
#define HTTPD_SIWE_STATEMENT_BYTES_MAX 512
#define HTTPD_SIWE_URI_BYTES_MAX 512
#define HTTPD_SIWE_REQUEST_ID_BYTES_MAX 128
/* Resources lines: the role takes one, each scope asked for one
 * (urn:assay:scope:NAME); a few more are tolerated. */
#define HTTPD_SIWE_RESOURCES_MAX 8
/* A scope's name in a Resources URN ("jobs:write"). */
#define HTTPD_SCOPE_NAME_BYTES_MAX 32
/* Nonce: EIP-4361 asks for at least 8 alphanumerics; ours are 32 hex
 * digits (128 bits from getrandom), other servers' up to 64. */
#define HTTPD_SIWE_NONCE_BYTES_MIN 8
#define HTTPD_SIWE_NONCE_BYTES_MAX 64
#define HTTPD_SIWE_NONCE_RANDOM_BYTES 16
/* A nonce not used within this long is dead: it bounds how long a
 * signed-but-unsent message stays usable and how many we store. */
#define HTTPD_SIWE_NONCE_TTL_S 300
/* Outstanding nonces a store keeps at most (a rate-limited peer cannot
 * fill the table: beyond this, GET /v1/auth/nonce answers 503). */
#define HTTPD_SIWE_NONCES_MAX 100000
/* Clock skew tolerated on Issued At (a wallet's clock may run ahead). */
#define HTTPD_SIWE_SKEW_S 60
/* Session lifetime: default and ceiling (services may choose less). */
#define HTTPD_SESSION_TTL_S_DEFAULT 900
#define HTTPD_SESSION_TTL_S_MAX 86400
/* Random bytes of a session token (sent as 64 hex digits). */
#define HTTPD_SESSION_TOKEN_BYTES 32
/* Before sign-in, nonce and sign-in requests take tokens from a second,
 * smaller bucket per IP (on top of the general one). */
#define HTTPD_SIWE_RATE_PER_S 2.0
#define HTTPD_SIWE_RATE_BURST 20.0

#endif
