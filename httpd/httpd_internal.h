/*
 * httpd_internal.h: private to httpd/: the rate limiter and the metrics
 * registry.  Both are bounded tables guarded by their own mutex.
 */
#ifndef ASSAY_HTTPD_INTERNAL_H
#define ASSAY_HTTPD_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "httpd_limits.h"

/* Token buckets keyed by a short string ("ip:1.2.3.4", "addr:0x..."). */
struct httpd_rate_slot {
	uint64_t key_hash;        /* 0: empty */
	double tokens;
	double last_s;            /* monotonic seconds of the last refill */
};

struct httpd_rate {
	pthread_mutex_t mu;
	double per_s;
	double burst;
	struct httpd_rate_slot slots[HTTPD_RATE_TABLE_SLOTS];
};

void httpd_rate_init(struct httpd_rate *r, double per_s, double burst);
void httpd_rate_release(struct httpd_rate *r);
/* 1 when the request may proceed (a token was taken), 0 when limited. */
int httpd_rate_take(struct httpd_rate *r, const char *key, double now_s);

/* Latency buckets in seconds (Prometheus histogram). */
#define HTTPD_LAT_BUCKETS 11

/* Metric labels of requests outside the route table. */
#define HTTPD_ROUTE_NONE (-1)
#define HTTPD_ROUTE_LIVEZ (-2)
#define HTTPD_ROUTE_READYZ (-3)
#define HTTPD_ROUTE_METRICS (-4)

struct httpd_series {
	int route;                /* index in the route table, or HTTPD_ROUTE_* */
	unsigned status;
	uint64_t count;
};

/* One series a service sets: family{labels} VALUE, of a family with one
 * type and one help text. */
struct httpd_gauge {
	char family[HTTPD_METRIC_NAME_BYTES_MAX + 1];
	char labels[HTTPD_METRIC_LABELS_BYTES_MAX + 1];
	char help[HTTPD_METRIC_HELP_BYTES_MAX + 1];
	int counter;              /* 1 counter, 0 gauge */
	double value;
};

struct httpd_metrics {
	pthread_mutex_t mu;
	struct httpd_series series[HTTPD_METRIC_SERIES_MAX];
	size_t series_len;
	uint64_t other;           /* requests past the series table */
	uint64_t lat_bucket[HTTPD_LAT_BUCKETS];
	uint64_t lat_count;
	double lat_sum_s;
	struct httpd_gauge gauges[HTTPD_GAUGES_MAX];
	size_t gauges_len;
	int full_said;            /* the log said once that the gauge table is full */
};

void httpd_metrics_init(struct httpd_metrics *m);
void httpd_metrics_release(struct httpd_metrics *m);
void httpd_metrics_count(struct httpd_metrics *m, int route, unsigned status,
			 double latency_s);
/* 0, or -1 (nothing stored) for a name, labels or help text that would
 * not pass `promtool check metrics`, a family seen before with another
 * type or help, or a full table.  See httpd_gauge_set. */
int httpd_metrics_set(struct httpd_metrics *m, int counter, const char *family,
		      const char *labels, const char *help, double v);
/* Prometheus text into a malloc'd buffer; route names from the table. */
char *httpd_metrics_render(struct httpd_metrics *m, const char *service,
			   const char *const *route_names, size_t routes_len,
			   size_t *len);

/* ---- framing.c: the request checks that need no socket ---- */

/* One header field as received (not NUL-terminated: lengths rule). */
struct httpd_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

enum httpd_frame_rc {
	HTTPD_FRAME_OK = 0,
	HTTPD_FRAME_BAD,          /* 400: ambiguous or malformed framing */
	HTTPD_FRAME_CODING,       /* 501: a transfer coding other than chunked */
	HTTPD_FRAME_TOO_MANY,     /* 431: more than HTTPD_HEADER_FIELDS_MAX */
};

/* The header fields of one request, in order, checked for framing that
 * two HTTP implementations could read differently (RFC 9112 section
 * 6.3): every name a token, no control character in a value, at most
 * one Content-Length of 1*DIGIT, never together with Transfer-Encoding,
 * whose only accepted value is exactly "chunked".  why (non-NULL) gets a
 * short reason, "" on success. */
enum httpd_frame_rc httpd_frame_check(char *why, size_t why_len,
				      const struct httpd_field *f, size_t n);

/* 1 when a Content-Type value is application/json, optionally with
 * charset=utf-8 (case-insensitive); 0 otherwise or for NULL. */
int httpd_ctype_is_json(const char *value);

/* 1 when path matches pattern segment by segment ({x} matches one
 * non-empty segment of at most HTTPD_PARAM_BYTES_MAX bytes), with the
 * captured segments in params[0 .. *params_len); 0 otherwise (params
 * and *params_len then undefined). */
int httpd_route_match(char params[HTTPD_PARAMS_MAX][HTTPD_PARAM_BYTES_MAX + 1],
		      size_t *params_len, const char *pattern, const char *path);

/* A request body accumulated up to max bytes (max <= HTTPD_BODY_BYTES_MAX);
 * buf is NUL-terminated when non-NULL.  Zero-initialise, set max. */
struct httpd_body {
	char *buf;
	size_t len, cap, max;
	int too_large;            /* a chunk would have passed max: sticky */
};
/* Appends len bytes: 0 (also when it set too_large and kept nothing
 * more), -1 on allocation failure. */
int httpd_body_append(struct httpd_body *b, const char *data, size_t len);
void httpd_body_release(struct httpd_body *b);

/* For siwe.c's route handlers (defined in httpd.c). */
struct httpd_req;
struct httpd_siwe_config;
/* The server's sign-in configuration (NULL when none) and service cls. */
const struct httpd_siwe_config *httpd_req_siwe(const struct httpd_req *r);
void *httpd_req_cls(const struct httpd_req *r);
/* 1 when the request's IP may make another anonymous sign-in request
 * (the smaller bucket), 0 when limited. */
int httpd_req_signin_rate(struct httpd_req *r);

#endif
