/*
 * httpd_client.h: the HTTP client side the three daemons share (the
 * provider calls the escrow, the escrow's referee calls providers, the
 * validator calls both).  One request per call over libcurl, blocking,
 * bounded in time and in the size of the answer, optionally signed with
 * the signed-request scheme of docs/api-auth.md.
 *
 * Thread safety: call httpd_client_global_init once before any thread
 * uses the client; after that any thread may call httpd_client_request
 * (each call has its own libcurl handle).
 *
 * Secrets: the key signs the request and is never copied; a bearer
 * token is sent in one header and never logged; `why` names the URL's
 * base, never a body, a header value or a token.
 */
#ifndef ASSAY_HTTPD_CLIENT_H
#define ASSAY_HTTPD_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "httpd.h"

/* An answer is at most this big unless the request says otherwise: the
 * largest JSON any service answers (an audit chain, a job list) is well
 * under it. */
#define HTTPD_CLIENT_RESPONSE_BYTES_DEFAULT (4u * 1024u * 1024u)
/* And never bigger than this (a job's input or output file). */
#define HTTPD_CLIENT_RESPONSE_BYTES_MAX ((1ull << 30) + (4ull << 20))
/* Connecting to a service on a LAN or loopback takes milliseconds; ten
 * seconds allows for a busy peer without hanging a caller for long. */
#define HTTPD_CLIENT_CONNECT_TIMEOUT_MS 10000L
/* A whole exchange, by default and at most. */
#define HTTPD_CLIENT_TIMEOUT_MS_DEFAULT 30000L
#define HTTPD_CLIENT_TIMEOUT_MS_MAX (3600L * 1000L)
/* A base URL: scheme, host, port and an optional path prefix. */
#define HTTPD_CLIENT_URL_BYTES_MAX 512u

struct httpd_client_req {
	const char *method;          /* "GET", "POST", "PUT", "DELETE" */
	const char *base_url;        /* "http://127.0.0.1:8700", no trailing '/' */
	const char *target;          /* "/v1/jobs/0x...?a=b": path and query */
	const void *body;            /* may be NULL (no body) */
	size_t body_len;
	const char *content_type;    /* NULL: "application/json" when a body is given */
	const struct rcpt_key *key;  /* non-NULL: send the signed-request headers */
	const char *idem_key;        /* Idempotency-Key, or NULL */
	const char *bearer;          /* Authorization: Bearer TOKEN, or NULL */
	uint64_t response_bytes_max; /* 0: HTTPD_CLIENT_RESPONSE_BYTES_DEFAULT */
	long timeout_ms;             /* 0: HTTPD_CLIENT_TIMEOUT_MS_DEFAULT */
	const char *ca_file;         /* PEM CA bundle for https (a private CA); NULL: the
				      * process's (httpd_client_set_ca_file), else the system's */
	/* Called now and then during the exchange with bytes sent and
	 * received so far and their totals (0 when unknown); may be NULL. */
	void (*progress)(void *cls, uint64_t sent, uint64_t send_total,
			 uint64_t got, uint64_t got_total);
	void *progress_cls;
};

/*
 * The CA bundle every https request of this process verifies its peer
 * against when the request names none (a daemon's --ca-file, the
 * client's ASSAY_CA_FILE): a private CA instead of the system's.  Call
 * before any thread uses the client.  `path` must name a readable
 * regular file of at most 1 MiB; 0, or -1 with why filled (nothing
 * changed).  NULL goes back to the system's bundle.  Whatever the CA,
 * the peer's name is checked against the URL's host, and TLS below 1.2
 * is refused.
 */
int httpd_client_set_ca_file(const char *path, char *why, size_t why_len);

struct httpd_client_resp {
	long status;                 /* the HTTP status */
	char *body;                  /* malloc'd, NUL-terminated (len excludes it) */
	size_t len;
	char content_type[128];      /* "" when none */
	unsigned retry_after_s;      /* Retry-After in seconds, 0 when absent */
	/* The body parsed (strictly, no duplicate keys) when the content type
	 * is application/json or application/problem+json and it is one JSON
	 * value; else NULL.  Owned: freed by httpd_client_resp_free. */
	json_t *json;
	/* For an application/problem+json answer: its "type" and "title"
	 * (truncated), else "". */
	char problem_type[96];
	char problem_title[96];
};

/* curl_global_init, once per process; 0 or -1. */
HTTPD_WUR int httpd_client_global_init(void);

/*
 * Sends one request and waits for its answer.  Returns HTTPD_OK when an
 * answer came back, whatever its status (the caller reads out->status);
 * otherwise HTTPD_ERR_ARG (misuse, a URL too long), HTTPD_ERR_NOMEM, or
 * HTTPD_ERR_LISTEN standing for "no answer" (connection refused, timed
 * out, answer larger than allowed), with `why` (may be NULL) saying
 * which.  On error *out holds nothing to free.
 */
HTTPD_WUR enum httpd_err httpd_client_request(struct httpd_client_resp *out,
					      char *why, size_t why_len,
					      const struct httpd_client_req *req);
/* Frees what a response holds and zeroes it; NULL is fine. */
void httpd_client_resp_free(struct httpd_client_resp *resp);

/* The answer's JSON object member `key` as a string, or NULL. */
const char *httpd_client_str(const struct httpd_client_resp *resp, const char *key);

#endif
