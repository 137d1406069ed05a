/*
 * httpd.c: the server: route table, bounded body accumulator, one strict
 * JSON parse, problem+json answers, the completion callback (log line and
 * metrics), built-in /livez, /readyz and /metrics.
 *
 * Invariants of a request (struct httpd_req): body_len <= body_max <=
 * HTTPD_BODY_BYTES_MAX; at most one answer is set (status != 0 once set);
 * the request is freed exactly once, by the completion callback.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "httpd.h"
#include "httpd_internal.h"
#include "banned.h"

#define PROBLEM_TYPE_PREFIX "urn:assay:problem:"
#define CERT_FILE_BYTES_MAX (256u * 1024u)

struct httpd {
	struct httpd_config cfg;
	struct MHD_Daemon *mhd;
	uint16_t port;
	char *tls_cert, *tls_key;
	const char *route_names[HTTPD_ROUTES_MAX];
	struct httpd_rate rate;
	struct httpd_rate signin_rate;   /* anonymous sign-in routes, per IP */
	struct httpd_metrics metrics;
};

struct httpd_req {
	struct httpd *h;
	struct MHD_Connection *conn;
	struct timespec t0;
	char target[HTTPD_TARGET_BYTES_MAX + 1];
	int target_too_long;
	const char *method;
	int route;                    /* -1: builtin or unmatched */
	char params[HTTPD_PARAMS_MAX][HTTPD_PARAM_BYTES_MAX + 1];
	size_t params_len;
	int started;
	int too_large;
	char *body;
	size_t body_len, body_cap, body_max;
	json_t *json;
	uint8_t signer[RCPT_ADDR_BYTES];
	int has_signer;
	enum httpd_role role;         /* HTTPD_ROLE_NONE for a signed request */
	const char *idem;
	unsigned status;
	unsigned retry_after_s;   /* httpd_reply_retry_after; 0: none (429 and 503 say 1) */
	char ctype[HTTPD_CTYPE_BYTES_MAX + 1];
	char *resp;
	size_t resp_len;
	char ip[INET6_ADDRSTRLEN];
};

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------- answers */

void httpd_reply_bytes(struct httpd_req *r, unsigned status, const char *ctype,
		       const void *data, size_t len)
{
	assert(r && status >= 100 && status < 600 && ctype);
	assert(r->status == 0);   /* one answer per request */
	r->resp = malloc(len + 1);
	if (!r->resp || strlen(ctype) > HTTPD_CTYPE_BYTES_MAX) {
		free(r->resp);
		r->resp = NULL;
		r->status = 500;
		snprintf(r->ctype, sizeof(r->ctype), "text/plain");
		r->resp_len = 0;
		return;
	}
	if (len)
		memcpy(r->resp, data, len);
	r->resp[len] = '\0';
	r->resp_len = len;
	r->status = status;
	snprintf(r->ctype, sizeof(r->ctype), "%s", ctype);
}

void httpd_reply_json(struct httpd_req *r, unsigned status, json_t *body)
{
	char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (!s) {
		httpd_reply_bytes(r, 500, "application/problem+json",
				  "{\"type\":\"" PROBLEM_TYPE_PREFIX "internal\",\"title\":\"internal error\",\"status\":500}",
				  strlen("{\"type\":\"" PROBLEM_TYPE_PREFIX "internal\",\"title\":\"internal error\",\"status\":500}"));
	} else {
		httpd_reply_bytes(r, status, "application/json", s, strlen(s));
	}
	free(s);
	json_decref(body);
}

void httpd_reply_problem(struct httpd_req *r, unsigned status, const char *slug,
			 const char *title, const char *detail_fmt, ...)
{
	char detail[HTTPD_DETAIL_BYTES_MAX];
	char type[128];
	json_t *o;
	char *s;
	va_list ap;

	assert(r && slug && title && status >= 400);
	detail[0] = '\0';
	if (detail_fmt) {
		va_start(ap, detail_fmt);
		vsnprintf(detail, sizeof(detail), detail_fmt, ap);
		va_end(ap);
	}
	snprintf(type, sizeof(type), PROBLEM_TYPE_PREFIX "%s", slug);
	o = json_pack("{s:s, s:s, s:i}", "type", type, "title", title,
		      "status", (json_int_t)status);
	if (o && detail[0])
		json_object_set_new(o, "detail", json_string(detail));
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		httpd_reply_bytes(r, status, "application/problem+json", s, strlen(s));
	else
		httpd_reply_bytes(r, 500, "text/plain", "", 0);
	free(s);
	json_decref(o);
}

unsigned httpd_req_response(const struct httpd_req *r, const char **ctype,
			    const char **body, size_t *len)
{
	if (ctype)
		*ctype = r->ctype;
	if (body)
		*body = r->resp;
	if (len)
		*len = r->resp_len;
	return r->status;
}

/* ---------------------------------------------------------------- accessors */

const char *httpd_req_method(const struct httpd_req *r) { return r->method; }

void httpd_reply_retry_after(struct httpd_req *r, unsigned seconds)
{
	r->retry_after_s = seconds > 86400 ? 86400 : seconds;
}
const char *httpd_req_target(const struct httpd_req *r) { return r->target; }

const char *httpd_req_param(const struct httpd_req *r, size_t i)
{
	return i < r->params_len ? r->params[i] : NULL;
}

const char *httpd_req_query(const struct httpd_req *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *httpd_req_header(const struct httpd_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *httpd_req_body(const struct httpd_req *r, size_t *len)
{
	if (len)
		*len = r->body_len;
	return r->body ? r->body : "";
}

json_t *httpd_req_json(const struct httpd_req *r) { return r->json; }

const uint8_t *httpd_req_signer(const struct httpd_req *r)
{
	return r->has_signer ? r->signer : NULL;
}

const char *httpd_req_idem_key(const struct httpd_req *r) { return r->idem; }

enum httpd_role httpd_req_role(const struct httpd_req *r)
{
	return r->has_signer ? r->role : HTTPD_ROLE_NONE;
}

const struct httpd_siwe_config *httpd_req_siwe(const struct httpd_req *r)
{
	return r->h->cfg.siwe;
}

void *httpd_req_cls(const struct httpd_req *r) { return r->h->cfg.cls; }

int httpd_req_signin_rate(struct httpd_req *r)
{
	char key[8 + INET6_ADDRSTRLEN];

	snprintf(key, sizeof(key), "ip:%s", r->ip);
	return httpd_rate_take(&r->h->signin_rate, key, mono_s());
}

const char *httpd_req_route(const struct httpd_req *r)
{
	return r->route >= 0 ? r->h->cfg.routes[r->route].pattern : "";
}

void httpd_gauge_set(struct httpd *h, const char *name, double value)
{
	if (h)
		httpd_metrics_gauge(&h->metrics, name, value);
}

uint16_t httpd_port(const struct httpd *h) { return h->port; }

/* ---------------------------------------------------------------- JSON */

json_t *httpd_json_parse(const char *buf, size_t len, char *why, size_t why_len)
{
	json_error_t e;
	json_t *j;
	size_t depth = 0, max_depth = 0, i;
	int in_str = 0;

	/* Depth bound before jansson recurses (it has its own, larger one). */
	for (i = 0; i < len; i++) {
		char c = buf[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = 0;
		} else if (c == '"') {
			in_str = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > max_depth)
				max_depth = depth;
		} else if (c == '}' || c == ']') {
			if (depth)
				depth--;
		}
	}
	if (max_depth > HTTPD_JSON_DEPTH_MAX) {
		snprintf(why, why_len, "json nested deeper than %d", HTTPD_JSON_DEPTH_MAX);
		return NULL;
	}
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &e);
	if (!j) {
		snprintf(why, why_len, "invalid json at byte %d: %s", e.position, e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(why, why_len, "body is not a json object");
		json_decref(j);
		return NULL;
	}
	return j;
}

/* ---------------------------------------------------------------- routing */

/* Matches path against pattern segment by segment, capturing {x}. */
static int route_match(struct httpd_req *r, const char *pattern, const char *path)
{
	const char *p = pattern, *u = path;
	size_t np = 0;

	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return 0;
		p++;
		u++;
		const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t ul = ue ? (size_t)(ue - u) : strlen(u);
		if (pl >= 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (ul == 0 || ul > HTTPD_PARAM_BYTES_MAX || np >= HTTPD_PARAMS_MAX)
				return 0;
			memcpy(r->params[np], u, ul);
			r->params[np][ul] = '\0';
			np++;
		} else if (pl != ul || memcmp(p, u, pl) != 0) {
			return 0;
		}
		p += pl;
		u += ul;
	}
	if (*p || *u)
		return 0;
	r->params_len = np;
	return 1;
}

/* Route index, -1 when no path matches, -2 when only another method does. */
static int route_find(struct httpd_req *r, const char *path)
{
	const struct httpd_config *c = &r->h->cfg;
	int other_method = 0;
	size_t i;

	for (i = 0; i < c->routes_len; i++) {
		if (!route_match(r, c->routes[i].pattern, path))
			continue;
		if (strcmp(c->routes[i].method, r->method) == 0)
			return (int)i;
		other_method = 1;
	}
	r->params_len = 0;
	return other_method ? -2 : -1;
}

/* ---------------------------------------------------------------- MHD glue */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct httpd *h = cls;
	struct httpd_req *r = calloc(1, sizeof(*r));
	const union MHD_ConnectionInfo *ci;
	size_t n;

	if (!r)
		return NULL;
	r->h = h;
	r->conn = conn;
	r->route = -1;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	n = uri ? strlen(uri) : 0;
	if (n > HTTPD_TARGET_BYTES_MAX) {
		r->target_too_long = 1;
		n = HTTPD_TARGET_BYTES_MAX;
	}
	if (n)
		memcpy(r->target, uri, n);
	r->target[n] = '\0';
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		if (ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr,
				  r->ip, sizeof(r->ip));
		else if (ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr,
				  r->ip, sizeof(r->ip));
	}
	if (!r->ip[0])
		snprintf(r->ip, sizeof(r->ip), "unknown");
	return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct httpd *h = cls;
	struct httpd_req *r = *con_cls;
	struct timespec t1;
	double lat;
	char path[HTTPD_TARGET_BYTES_MAX + 1];
	size_t pl;

	(void)conn;
	if (!r)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	lat = (double)(t1.tv_sec - r->t0.tv_sec) +
	      (double)(t1.tv_nsec - r->t0.tv_nsec) / 1e9;
	/* The path only: a query may name things a log should not keep. */
	pl = strcspn(r->target, "?");
	memcpy(path, r->target, pl);
	path[pl] = '\0';
	httpd_metrics_count(&h->metrics, r->route, r->status, lat);
	if (!h->cfg.quiet)
		fprintf(stderr, "%s: method=%s path=%s route=%s status=%u latency_ms=%.3f ip=%s%s\n",
			h->cfg.service, r->method ? r->method : "-", path,
			r->route >= 0 ? h->cfg.routes[r->route].pattern : "-",
			r->status, lat * 1e3, r->ip,
			code == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=1");
	json_decref(r->json);
	free(r->body);
	free(r->resp);
	free(r);
	*con_cls = NULL;
}

static enum MHD_Result send_answer(struct httpd_req *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->status == 0) {
		/* A handler that did not answer is a bug; answer 500 still. */
		fprintf(stderr, "%s: route %s gave no answer\n", r->h->cfg.service,
			httpd_req_route(r));
		httpd_reply_problem(r, 500, "internal", "internal error", NULL);
	}
	resp = MHD_create_response_from_buffer(r->resp_len, r->resp,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (r->retry_after_s) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%u", r->retry_after_s);
		MHD_add_response_header(resp, "Retry-After", ra);
	} else if (r->status == 429 || r->status == 503) {
		MHD_add_response_header(resp, "Retry-After", "1");
	}
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void builtin(struct httpd_req *r, const char *path)
{
	struct httpd *h = r->h;
	char why[256] = "";

	if (strcmp(path, "/livez") == 0) {
		httpd_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
	} else if (strcmp(path, "/readyz") == 0) {
		if (h->cfg.ready && h->cfg.ready(h->cfg.cls, why, sizeof(why)))
			httpd_reply_problem(r, 503, "not-ready", "service not ready",
					    "%s", why[0] ? why : "not ready");
		else
			httpd_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
	} else {
		size_t len = 0;
		char *txt = httpd_metrics_render(&h->metrics, h->cfg.service,
						 h->route_names, h->cfg.routes_len, &len);
		if (txt)
			httpd_reply_bytes(r, 200, "text/plain; version=0.0.4", txt, len);
		else
			httpd_reply_problem(r, 500, "internal", "internal error", NULL);
		free(txt);
	}
}

static int is_builtin(const char *method, const char *path)
{
	return strcmp(method, "GET") == 0 &&
	       (strcmp(path, "/livez") == 0 || strcmp(path, "/readyz") == 0 ||
		strcmp(path, "/metrics") == 0);
}

static int idem_key_ok(const char *k)
{
	size_t i, n = strlen(k);

	if (n == 0 || n > HTTPD_IDEM_KEY_BYTES_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':'))
			return 0;
	}
	return 1;
}

/* First call: headers only.  Decides the route and the body cap, and may
 * answer at once (404, 405, 413 by Content-Length, 429). */
static void request_start(struct httpd_req *r, const char *url)
{
	struct httpd *h = r->h;
	const struct httpd_route *rt;
	const char *cl;
	char key[64 + INET6_ADDRSTRLEN];

	if (r->target_too_long) {
		httpd_reply_problem(r, 414, "uri-too-long", "request target too long", NULL);
		return;
	}
	if (is_builtin(r->method, url)) {
		r->route = strcmp(url, "/livez") == 0 ? HTTPD_ROUTE_LIVEZ :
			   strcmp(url, "/readyz") == 0 ? HTTPD_ROUTE_READYZ : HTTPD_ROUTE_METRICS;
		builtin(r, url);
		return;
	}
	r->route = route_find(r, url);
	if (r->route == -2) {
		r->route = -1;
		httpd_reply_problem(r, 405, "method-not-allowed", "method not allowed",
				    "%s is not allowed on this path", r->method);
		return;
	}
	if (r->route < 0) {
		httpd_reply_problem(r, 404, "not-found", "not found", NULL);
		return;
	}
	snprintf(key, sizeof(key), "ip:%s", r->ip);
	if (!httpd_rate_take(&h->rate, key, mono_s())) {
		httpd_reply_problem(r, 429, "rate-limited", "too many requests",
				    "slow down and retry");
		return;
	}
	rt = &h->cfg.routes[r->route];
	r->body_max = rt->body_bytes_max ? rt->body_bytes_max : HTTPD_BODY_BYTES_ANON_MAX;
	/* A signed route's body comes before its signer is known. */
	if ((rt->flags & HTTPD_F_AUTH) && r->body_max > HTTPD_BODY_BYTES_ANON_MAX)
		r->body_max = HTTPD_BODY_BYTES_ANON_MAX;
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && (strlen(cl) > 12 || strtoull(cl, NULL, 10) > r->body_max)) {
		httpd_reply_problem(r, 413, "body-too-large", "request body too large",
				    "this route takes at most %zu bytes", r->body_max);
		return;
	}
}

static int body_append(struct httpd_req *r, const char *data, size_t len)
{
	if (r->too_large || len > r->body_max - r->body_len) {
		r->too_large = 1;
		return 0;
	}
	if (r->body_len + len + 1 > r->body_cap) {
		size_t cap = r->body_cap ? r->body_cap : 4096;
		while (cap < r->body_len + len + 1)
			cap *= 2;
		if (cap > r->body_max + 1)
			cap = r->body_max + 1;
		char *nb = realloc(r->body, cap);
		if (!nb)
			return -1;
		r->body = nb;
		r->body_cap = cap;
	}
	memcpy(r->body + r->body_len, data, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	assert(r->body_len <= r->body_max);
	return 0;
}

/* Body complete: checks in the order of httpd.h, then the handler. */
static void request_run(struct httpd_req *r)
{
	struct httpd *h = r->h;
	const struct httpd_route *rt = &h->cfg.routes[r->route];
	char why[256];
	enum httpd_err ae;

	if (r->too_large) {
		httpd_reply_problem(r, 413, "body-too-large", "request body too large",
				    "this route takes at most %zu bytes", r->body_max);
		return;
	}
	if (rt->flags & HTTPD_F_JSON) {
		r->json = httpd_json_parse(r->body ? r->body : "", r->body_len, why, sizeof(why));
		if (!r->json) {
			httpd_reply_problem(r, 400, "malformed-json", "malformed json body", "%s", why);
			return;
		}
	}
	if (rt->flags & HTTPD_F_IDEM) {
		r->idem = httpd_req_header(r, "Idempotency-Key");
		if (!r->idem || !idem_key_ok(r->idem)) {
			r->idem = NULL;
			httpd_reply_problem(r, 400, "idempotency-key", "idempotency key required",
					    "send an Idempotency-Key header of 1 to %d characters [A-Za-z0-9._:-]",
					    HTTPD_IDEM_KEY_BYTES_MAX);
			return;
		}
	}
	if (rt->flags & HTTPD_F_AUTH) {
		char key[64];
		char addr[RCPT_ADDR_HEX_BYTES];
		const char *authz = httpd_req_header(r, "Authorization");

		if (authz && h->cfg.siwe) {
			/* A session: never together with signed-request headers,
			 * so that no request is authenticated two ways at once. */
			if (httpd_req_header(r, "Assay-Signature") ||
			    httpd_req_header(r, "Assay-Address")) {
				httpd_reply_problem(r, 401, "unauthenticated", "request refused",
						    "send either Authorization: Bearer or the Assay-* signature headers, not both");
				return;
			}
			ae = httpd_session_check(r->signer, &r->role, h->cfg.siwe, h->cfg.cls,
						 authz, (uint64_t)time(NULL));
			if (ae) {
				httpd_reply_problem(r, ae == HTTPD_ERR_STORE ? 503 : 401,
						    ae == HTTPD_ERR_STORE ? "unavailable" : "unauthenticated",
						    "session refused", "%s", httpd_strerror(ae));
				return;
			}
		} else {
			ae = httpd_auth_verify(r->signer, httpd_req_header(r, "Assay-Address"),
					       httpd_req_header(r, "Assay-Timestamp"),
					       httpd_req_header(r, "Assay-Signature"),
					       r->method, r->target,
					       /* What the client signed: the header
						* it sent, on any route. */
					       r->idem ? r->idem
						       : httpd_req_header(r, "Idempotency-Key"),
					       r->body, r->body_len, (uint64_t)time(NULL));
			if (ae) {
				httpd_reply_problem(r, 401, "unauthenticated", "signed request refused",
						    "%s", httpd_strerror(ae));
				return;
			}
			r->role = HTTPD_ROLE_NONE;
		}
		r->has_signer = 1;
		rcpt_address_format(addr, r->signer);
		snprintf(key, sizeof(key), "addr:%s", addr);
		if (!httpd_rate_take(&h->rate, key, mono_s())) {
			httpd_reply_problem(r, 429, "rate-limited", "too many requests",
					    "slow down and retry");
			return;
		}
	}
	if ((rt->flags & HTTPD_F_IDEM) && h->cfg.idem_begin &&
	    h->cfg.idem_begin(r, h->cfg.cls))
		return;
	rt->fn(r, h->cfg.cls);
	if ((rt->flags & HTTPD_F_IDEM) && h->cfg.idem_end && r->status)
		h->cfg.idem_end(r, h->cfg.cls);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn,
				 const char *url, const char *method,
				 const char *version, const char *upload_data,
				 size_t *upload_data_size, void **con_cls)
{
	struct httpd_req *r = *con_cls;

	(void)cls;
	(void)conn;
	(void)version;
	if (!r)
		return MHD_NO;
	if (!r->started) {
		r->started = 1;
		r->method = method;
		request_start(r, url);
		if (r->status)
			return send_answer(r);
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (body_append(r, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!r->status)
		request_run(r);
	return send_answer(r);
}

/* ---------------------------------------------------------------- life */

static char *read_small_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (!f)
		return NULL;
	buf = malloc(CERT_FILE_BYTES_MAX + 1);
	if (buf) {
		n = fread(buf, 1, CERT_FILE_BYTES_MAX + 1, f);
		if (n == 0 || n > CERT_FILE_BYTES_MAX) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

enum httpd_err httpd_start(struct httpd **out, char *why, size_t why_len,
			   const struct httpd_config *cfg)
{
	struct httpd *h = NULL;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
	enum httpd_err rc = HTTPD_ERR_ARG;
	size_t i;
	char dummy[8];

	if (!why) {
		why = dummy;
		why_len = sizeof(dummy);
	}
	why[0] = '\0';
	if (!out || !cfg || !cfg->service || !cfg->host || !cfg->routes ||
	    cfg->routes_len > HTTPD_ROUTES_MAX ||
	    (!cfg->idem_begin) != (!cfg->idem_end) ||
	    (!cfg->tls_cert_path) != (!cfg->tls_key_path)) {
		snprintf(why, why_len, "invalid httpd configuration");
		goto out;
	}
	for (i = 0; i < cfg->routes_len; i++) {
		if (!cfg->routes[i].method || !cfg->routes[i].pattern ||
		    !cfg->routes[i].fn || cfg->routes[i].pattern[0] != '/' ||
		    cfg->routes[i].body_bytes_max > HTTPD_BODY_BYTES_MAX) {
			snprintf(why, why_len, "invalid route %zu", i);
			goto out;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(cfg->port);
	if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
		snprintf(why, why_len, "could not parse listen address '%s'", cfg->host);
		goto out;
	}
	rc = HTTPD_ERR_NOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto out;
	h->cfg = *cfg;
	for (i = 0; i < cfg->routes_len; i++)
		h->route_names[i] = cfg->routes[i].pattern;
	httpd_rate_init(&h->rate, cfg->rate_per_s > 0 ? cfg->rate_per_s : HTTPD_RATE_PER_S_DEFAULT,
			cfg->rate_burst >= 1 ? cfg->rate_burst : HTTPD_RATE_BURST_DEFAULT);
	httpd_rate_init(&h->signin_rate,
			cfg->signin_rate_per_s > 0 ? cfg->signin_rate_per_s : HTTPD_SIWE_RATE_PER_S,
			cfg->signin_rate_burst >= 1 ? cfg->signin_rate_burst : HTTPD_SIWE_RATE_BURST);
	httpd_metrics_init(&h->metrics);
	if (cfg->tls_cert_path) {
		rc = HTTPD_ERR_TLS;
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(why, why_len, "this libmicrohttpd has no tls support");
			goto out;
		}
		h->tls_cert = read_small_file(cfg->tls_cert_path);
		h->tls_key = read_small_file(cfg->tls_key_path);
		if (!h->tls_cert || !h->tls_key) {
			snprintf(why, why_len, "could not read tls certificate '%s' or its key",
				 cfg->tls_cert_path);
			goto out;
		}
		flags |= MHD_USE_TLS;
	}
	rc = HTTPD_ERR_LISTEN;
	if (h->tls_cert)
		h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, h,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->connections_max ? cfg->connections_max : HTTPD_CONNECTIONS_MAX),
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(cfg->connections_per_ip_max ? cfg->connections_per_ip_max : HTTPD_CONNECTIONS_PER_IP_MAX),
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->connection_timeout_s ? cfg->connection_timeout_s : HTTPD_CONNECTION_TIMEOUT_S),
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_CONNECTION_MEMORY_BYTES,
			MHD_OPTION_HTTPS_MEM_CERT, h->tls_cert,
			MHD_OPTION_HTTPS_MEM_KEY, h->tls_key,
			MHD_OPTION_END);
	else
		h->mhd = MHD_start_daemon(flags, 0, NULL, NULL, on_access, h,
			MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
			MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
			MHD_OPTION_CONNECTION_LIMIT, (unsigned)(cfg->connections_max ? cfg->connections_max : HTTPD_CONNECTIONS_MAX),
			MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)(cfg->connections_per_ip_max ? cfg->connections_per_ip_max : HTTPD_CONNECTIONS_PER_IP_MAX),
			MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(cfg->connection_timeout_s ? cfg->connection_timeout_s : HTTPD_CONNECTION_TIMEOUT_S),
			MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_CONNECTION_MEMORY_BYTES,
			MHD_OPTION_END);
	if (!h->mhd) {
		snprintf(why, why_len, "could not listen on %s:%u", cfg->host, (unsigned)cfg->port);
		goto out;
	}
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : cfg->port;
	*out = h;
	h = NULL;
	rc = HTTPD_OK;
out:
	httpd_free(h);
	return rc;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	httpd_rate_release(&h->rate);
	httpd_rate_release(&h->signin_rate);
	httpd_metrics_release(&h->metrics);
	if (h->tls_key) {
		memset(h->tls_key, 0, strlen(h->tls_key));
		free(h->tls_key);
	}
	free(h->tls_cert);
	free(h);
}
