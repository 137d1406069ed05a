/*
 * client.c: one HTTP request over libcurl for the daemons
 * (httpd_client.h).  Bounded in time and in the answer's size; signs the
 * request with httpd_auth_sign when given a key.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "httpd.h"
#include "httpd_client.h"

#include "ca_file.h"
#include "banned.h"

/* Headers we add: idempotency, three auth ones, bearer, type, Expect. */
#define CLIENT_HEADERS_MAX 8

struct sink {
	char *buf;
	size_t len, cap;
	uint64_t max;
	int too_large;
};

int httpd_client_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}


static size_t on_body(char *data, size_t size, size_t nmemb, void *cls)
{
	struct sink *s = cls;
	size_t n = size * nmemb;

	assert(size == 1);  /* libcurl's documented contract */
	if ((uint64_t)n > s->max - s->len) {
		s->too_large = 1;
		return 0;   /* curl stops with CURLE_WRITE_ERROR */
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

static int on_progress(void *cls, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const struct httpd_client_req *req = cls;

	req->progress(req->progress_cls, (uint64_t)ulnow, (uint64_t)ultotal, (uint64_t)dlnow,
		      (uint64_t)dltotal);
	return 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *cls)
{
	struct httpd_client_resp *r = cls;
	size_t n = size * nmemb;
	static const char name[] = "retry-after:";

	if (n > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
		unsigned long v = 0;
		size_t i = sizeof(name) - 1;
		while (i < n && data[i] == ' ')
			i++;
		for (; i < n && data[i] >= '0' && data[i] <= '9' && v < 86400; i++)
			v = v * 10 + (unsigned long)(data[i] - '0');
		r->retry_after_s = (unsigned)(v > 86400 ? 86400 : v);
	}
	return n;
}

static int ctype_is(const char *ct, const char *want)
{
	size_t n = strlen(want);

	return strncasecmp(ct, want, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

__attribute__((format(printf, 3, 4)))
static void set_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
}

static void parse_answer(struct httpd_client_resp *r)
{
	const char *s;

	if (!r->len)
		return;
	if (!ctype_is(r->content_type, "application/json") &&
	    !ctype_is(r->content_type, "application/problem+json"))
		return;
	r->json = json_loadb(r->body, r->len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, NULL);
	if (!ctype_is(r->content_type, "application/problem+json") || !json_is_object(r->json))
		return;
	s = json_string_value(json_object_get(r->json, "type"));
	snprintf(r->problem_type, sizeof(r->problem_type), "%s", s ? s : "");
	s = json_string_value(json_object_get(r->json, "title"));
	snprintf(r->problem_title, sizeof(r->problem_title), "%s", s ? s : "");
}

/* httpd_client_set_ca_file's bundle; empty: the system's. */
static char process_ca_file[4096];

int httpd_client_set_ca_file(const char *path, char *why, size_t why_len)
{
	return ca_file_take(process_ca_file, sizeof(process_ca_file), path, why, why_len);
}

enum httpd_err httpd_client_request(struct httpd_client_resp *out, char *why, size_t why_len,
				    const struct httpd_client_req *req)
{
	char url[HTTPD_CLIENT_URL_BYTES_MAX + HTTPD_TARGET_BYTES_MAX];
	char errbuf[CURL_ERROR_SIZE] = "";
	char h_idem[96], h_addr[64], h_ts[64], h_sig[160], h_ct[160], h_auth[200];
	const char *lines[CLIENT_HEADERS_MAX];
	struct curl_slist *hdrs = NULL, *tmp;
	struct sink sink = { 0 };
	size_t nlines = 0;
	CURL *curl = NULL;
	CURLcode cc;
	char *ct = NULL;
	const char *ca;
	enum httpd_err rc = HTTPD_ERR_LISTEN;
	long timeout;

	if (why && why_len)
		why[0] = '\0';
	if (!out)
		return HTTPD_ERR_ARG;
	memset(out, 0, sizeof(*out));
	if (!req || !req->method || !req->base_url || !req->target || req->target[0] != '/' ||
	    (req->body_len && !req->body) ||
	    strlen(req->base_url) > HTTPD_CLIENT_URL_BYTES_MAX ||
	    strlen(req->target) >= HTTPD_TARGET_BYTES_MAX ||
	    (strncmp(req->base_url, "http://", 7) != 0 && strncmp(req->base_url, "https://", 8) != 0) ||
	    (req->idem_key && strlen(req->idem_key) > HTTPD_IDEM_KEY_BYTES_MAX) ||
	    (req->bearer && strlen(req->bearer) > 128) ||
	    (req->content_type && strlen(req->content_type) > 100) ||
	    req->response_bytes_max > HTTPD_CLIENT_RESPONSE_BYTES_MAX ||
	    req->timeout_ms < 0 || req->timeout_ms > HTTPD_CLIENT_TIMEOUT_MS_MAX) {
		set_why(why, why_len, "bad request arguments");
		return HTTPD_ERR_ARG;
	}
	snprintf(url, sizeof(url), "%s%s", req->base_url, req->target);
	sink.max = req->response_bytes_max ? req->response_bytes_max
					   : HTTPD_CLIENT_RESPONSE_BYTES_DEFAULT;
	timeout = req->timeout_ms ? req->timeout_ms : HTTPD_CLIENT_TIMEOUT_MS_DEFAULT;

	if (req->idem_key) {
		snprintf(h_idem, sizeof(h_idem), "Idempotency-Key: %s", req->idem_key);
		lines[nlines++] = h_idem;
	}
	if (req->key) {
		/* The signed target is the path and query as the server sees
		 * them: after any path prefix of the base URL. */
		const char *path = strchr(url + (url[4] == 's' ? 8 : 7), '/');
		struct httpd_auth_headers ah;
		if (!path || httpd_auth_sign(&ah, req->key, req->method, path,
					     (uint64_t)time(NULL), req->idem_key,
					     req->body, req->body ? req->body_len : 0) != HTTPD_OK) {
			set_why(why, why_len, "could not sign the request to '%s'", req->base_url);
			return HTTPD_ERR_ARG;
		}
		snprintf(h_addr, sizeof(h_addr), "Assay-Address: %s", ah.address);
		snprintf(h_ts, sizeof(h_ts), "Assay-Timestamp: %s", ah.timestamp);
		snprintf(h_sig, sizeof(h_sig), "Assay-Signature: %s", ah.signature);
		lines[nlines++] = h_addr;
		lines[nlines++] = h_ts;
		lines[nlines++] = h_sig;
	}
	if (req->bearer) {
		snprintf(h_auth, sizeof(h_auth), "Authorization: Bearer %s", req->bearer);
		lines[nlines++] = h_auth;
	}
	if (req->body) {
		snprintf(h_ct, sizeof(h_ct), "Content-Type: %s",
			 req->content_type ? req->content_type : "application/json");
		lines[nlines++] = h_ct;
	}
	lines[nlines++] = "Expect:";  /* no 100-continue round trip */
	assert(nlines <= CLIENT_HEADERS_MAX);
	for (size_t i = 0; i < nlines; i++) {
		tmp = curl_slist_append(hdrs, lines[i]);
		if (!tmp) {
			rc = HTTPD_ERR_NOMEM;
			goto out;
		}
		hdrs = tmp;
	}
	curl = curl_easy_init();
	if (!curl) {
		rc = HTTPD_ERR_NOMEM;
		goto out;
	}
	if (curl_easy_setopt(curl, CURLOPT_URL, url) ||
	    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) ||
	    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, HTTPD_CLIENT_CONNECT_TIMEOUT_MS) ||
	    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout) ||
	    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)sink.max) ||
	    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) ||
	    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs) ||
	    curl_easy_setopt(curl, CURLOPT_USERAGENT, "assay/1") ||
	    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body) ||
	    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink) ||
	    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header) ||
	    curl_easy_setopt(curl, CURLOPT_HEADERDATA, out) ||
	    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method)) {
		rc = HTTPD_ERR_NOMEM;
		goto out;
	}
	if (req->progress && (curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress) ||
			      curl_easy_setopt(curl, CURLOPT_XFERINFODATA, (void *)req) ||
			      curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L))) {
		rc = HTTPD_ERR_NOMEM;
		goto out;
	}
	ca = req->ca_file ? req->ca_file : (process_ca_file[0] ? process_ca_file : NULL);
	if ((ca && curl_easy_setopt(curl, CURLOPT_CAINFO, ca)) ||
	    curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2)) {
		rc = HTTPD_ERR_NOMEM;
		goto out;
	}
	if (req->body && (curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body) ||
			  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
					   (curl_off_t)req->body_len))) {
		rc = HTTPD_ERR_NOMEM;
		goto out;
	}
	if (!req->body && strcmp(req->method, "GET") == 0 &&
	    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L)) {
		rc = HTTPD_ERR_NOMEM;
		goto out;
	}
	cc = curl_easy_perform(curl);
	if (sink.too_large || cc == CURLE_FILESIZE_EXCEEDED) {
		set_why(why, why_len, "the answer from '%s' is too large", req->base_url);
		goto out;
	}
	if (cc != CURLE_OK) {
		set_why(why, why_len, "no answer from '%s': %s", req->base_url,
			errbuf[0] ? errbuf : curl_easy_strerror(cc));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out->status);
	if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
		snprintf(out->content_type, sizeof(out->content_type), "%s", ct);
	if (!sink.buf && !(sink.buf = calloc(1, 1))) {
		rc = HTTPD_ERR_NOMEM;
		goto out;
	}
	out->body = sink.buf;
	out->len = sink.len;
	sink.buf = NULL;
	parse_answer(out);
	rc = HTTPD_OK;
out:
	if (rc != HTTPD_OK) {
		if (rc == HTTPD_ERR_NOMEM)
			set_why(why, why_len, "out of memory talking to '%s'", req->base_url);
		memset(out, 0, sizeof(*out));
	}
	free(sink.buf);
	curl_easy_cleanup(curl);
	/* The bearer token was in the header lines and their copies. */
	OPENSSL_cleanse(h_auth, sizeof(h_auth));
	for (tmp = hdrs; tmp; tmp = tmp->next)
		OPENSSL_cleanse(tmp->data, strlen(tmp->data));
	curl_slist_free_all(hdrs);
	return rc;
}

void httpd_client_resp_free(struct httpd_client_resp *resp)
{
	if (!resp)
		return;
	free(resp->body);
	json_decref(resp->json);
	memset(resp, 0, sizeof(*resp));
}

const char *httpd_client_str(const struct httpd_client_resp *resp, const char *key)
{
	if (!resp || !key || !json_is_object(resp->json))
		return NULL;
	return json_string_value(json_object_get(resp->json, key));
}
