/*
 * test_httpd.c: the shared HTTP module: signed-request authentication
 * (the exact signed text, every tampering refused), and a live server
 * on loopback: routing, body caps, strict JSON, problem+json, built-ins,
 * rate limiting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "httpd.h"
#include "httpc.h"
#include "testutil.h"
#include "banned.h"

/* ---------------------------------------------------------------- auth */

static void make_key(struct rcpt_key *k)
{
	cr_assert_eq(rcpt_key_generate(k), RCPT_OK);
}

Test(httpd, auth_message_exact_text)
{
	char *m = NULL;
	size_t n = 0;
	const char *want = "assay-request/1\nPOST\n/v1/stake?x=1\n1700000000\nkey-1\n"
			   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

	cr_assert_eq(httpd_auth_message(&m, &n, "POST", "/v1/stake?x=1", 1700000000u,
					"key-1", NULL, 0), HTTPD_OK);
	cr_assert_eq(n, strlen(want));
	cr_assert_str_eq(m, want);
	free(m);
	cr_assert_eq(httpd_auth_message(&m, &n, "GET", "/v1/audit", 5, NULL, "abc", 3), HTTPD_OK);
	cr_assert_str_eq(m, "assay-request/1\nGET\n/v1/audit\n5\n\n"
			    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	free(m);
}

Test(httpd, auth_roundtrip_and_tampering)
{
	struct rcpt_key k, other;
	struct httpd_auth_headers h;
	uint8_t signer[RCPT_ADDR_BYTES];
	uint64_t now = 1700000000u;
	const char *body = "{\"amount\":\"5\"}";
	char addr_other[RCPT_ADDR_HEX_BYTES];

	make_key(&k);
	make_key(&other);
	rcpt_address_format(addr_other, other.address);
	cr_assert_eq(httpd_auth_sign(&h, &k, "POST", "/v1/withdraw", now, "k1", body,
				     strlen(body)), HTTPD_OK);
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body), now), HTTPD_OK);
	cr_assert_eq(memcmp(signer, k.address, 20), 0);
	/* Each bound element changed: the signature recovers to someone else. */
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "PUT",
				       "/v1/withdraw", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_SIGNER);
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "POST",
				       "/v1/stake", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_SIGNER);
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k2", body, strlen(body), now),
		     HTTPD_ERR_AUTH_SIGNER);
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k1", "{\"amount\":\"6\"}", strlen(body), now),
		     HTTPD_ERR_AUTH_SIGNER);
	/* Claiming another address. */
	cr_assert_eq(httpd_auth_verify(signer, addr_other, h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_SIGNER);
	/* Clock skew both ways, and junk timestamps. */
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body),
				       now + HTTPD_AUTH_SKEW_S + 1), HTTPD_ERR_AUTH_TIMESTAMP);
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body),
				       now - HTTPD_AUTH_SKEW_S - 1), HTTPD_ERR_AUTH_TIMESTAMP);
	cr_assert_eq(httpd_auth_verify(signer, h.address, "01700000000", h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_TIMESTAMP);
	cr_assert_eq(httpd_auth_verify(signer, h.address, "-5", h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_TIMESTAMP);
	cr_assert_eq(httpd_auth_verify(signer, NULL, h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_MISSING);
	cr_assert_eq(httpd_auth_verify(signer, "0x1234", h.timestamp, h.signature, "POST",
				       "/v1/withdraw", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_ADDRESS);
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, "0xzz", "POST",
				       "/v1/withdraw", "k1", body, strlen(body), now),
		     HTTPD_ERR_AUTH_SIGNATURE);
	rcpt_key_wipe(&k);
	rcpt_key_wipe(&other);
}

/* s -> n - s and v flipped: the same signer, but high-S. */
static void to_high_s(char sig_hex[RCPT_SIG_HEX_BYTES])
{
	static const uint8_t n[32] = {
		0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0xFF, 0xFF, 0xFF, 0xFE, 0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B,
		0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41 };
	uint8_t sig[65];
	int borrow = 0, i;

	cr_assert_eq(rcpt_sig_parse(sig, sig_hex), RCPT_OK);
	for (i = 31; i >= 0; i--) {
		int d = (int)n[i] - sig[32 + i] - borrow;
		borrow = d < 0;
		sig[32 + i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
	sig[64] = sig[64] == 27 ? 28 : 27;
	cr_assert_eq(rcpt_hex_encode(sig_hex, RCPT_SIG_HEX_BYTES, sig, 65), RCPT_OK);
}

Test(httpd, auth_refuses_high_s)
{
	struct rcpt_key k;
	struct httpd_auth_headers h;
	uint8_t signer[RCPT_ADDR_BYTES];

	make_key(&k);
	cr_assert_eq(httpd_auth_sign(&h, &k, "GET", "/x", 100, NULL, NULL, 0), HTTPD_OK);
	to_high_s(h.signature);
	cr_assert_eq(httpd_auth_verify(signer, h.address, h.timestamp, h.signature, "GET",
				       "/x", NULL, NULL, 0, 100), HTTPD_ERR_AUTH_SIGNATURE);
	rcpt_key_wipe(&k);
}

/* ---------------------------------------------------------------- live server */

static int ready_flag = 0;

static int t_ready(void *cls, char *why, size_t why_len)
{
	(void)cls;
	if (ready_flag)
		return 0;
	snprintf(why, why_len, "test says no");
	return 1;
}

static void h_echo(struct httpd_req *r, void *cls)
{
	(void)cls;
	httpd_reply_json(r, 200, json_incref(httpd_req_json(r)));
}

static void h_item(struct httpd_req *r, void *cls)
{
	(void)cls;
	httpd_reply_json(r, 200, json_pack("{s:s, s:s}", "id", httpd_req_param(r, 0),
					   "sub", httpd_req_param(r, 1)));
}

static void h_whoami(struct httpd_req *r, void *cls)
{
	char a[RCPT_ADDR_HEX_BYTES];

	(void)cls;
	rcpt_address_format(a, httpd_req_signer(r));
	httpd_reply_json(r, 200, json_pack("{s:s, s:s}", "signer", a, "key",
					   httpd_req_idem_key(r)));
}

/* A declared body: every key type, one with a refusal of its own. */
static const struct httpd_problem t_bad_amount = { "bad-amount", 422, "bad amount", "test" };
static const struct httpd_body_key t_decl_keys[] = {
	{ "s", HTTPD_KEY_STRING, 1, NULL, NULL },
	{ "n", HTTPD_KEY_INTEGER, 0, NULL, NULL },
	{ "o", HTTPD_KEY_OBJECT, 0, NULL, NULL },
	{ "a", HTTPD_KEY_ARRAY, 0, NULL, NULL },
	{ "h", HTTPD_KEY_HEX32, 0, NULL, NULL },
	{ "addr", HTTPD_KEY_ADDRESS, 0, NULL, NULL },
	{ "amount", HTTPD_KEY_U256, 0, &t_bad_amount, "amount is a decimal string" },
	{ "any", HTTPD_KEY_ANY, 0, NULL, NULL },
};
static const struct httpd_body_decl t_decl = { t_decl_keys, sizeof(t_decl_keys) / sizeof(t_decl_keys[0]) };
static const struct httpd_body_decl t_decl_empty = { NULL, 0 };

static const struct httpd_route t_routes[] = {
	{ "POST", "/declared", h_echo, HTTPD_F_JSON, 0, &t_decl },
	{ "POST", "/declared-empty", h_echo, HTTPD_F_JSON, 0, &t_decl_empty },
	{ "POST", "/echo", h_echo, HTTPD_F_JSON, 0, NULL },
	{ "POST", "/small", h_echo, HTTPD_F_JSON, 32, NULL },
	{ "GET", "/items/{id}/parts/{sub}", h_item, 0, 0, NULL },
	{ "POST", "/whoami", h_whoami, HTTPD_F_JSON | HTTPD_F_AUTH | HTTPD_F_IDEM, 0, NULL },
};

static void t_config(struct httpd_config *c)
{
	memset(c, 0, sizeof(*c));
	c->service = "test-httpd";
	c->host = "127.0.0.1";
	c->routes = t_routes;
	c->routes_len = sizeof(t_routes) / sizeof(t_routes[0]);
	c->ready = t_ready;
	c->quiet = 1;
}

static struct httpd *t_server(double rate, double burst)
{
	struct httpd_config c;
	struct httpd *h = NULL;
	char why[256];

	t_config(&c);
	c.rate_per_s = rate;
	c.rate_burst = burst;
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_OK, "%s", why);
	cr_assert_neq(httpd_port(h), 0);
	return h;
}

static void expect_problem(struct hc_resp *r, int status, const char *slug)
{
	json_t *j;
	char type[128];

	cr_assert_eq(r->status, status, "status %d, want %d: %s", r->status, status, r->body);
	cr_assert_str_eq(r->ctype, "application/problem+json");
	j = json_loads(r->body, 0, NULL);
	cr_assert(j, "problem is not json: %s", r->body);
	snprintf(type, sizeof(type), "urn:assay:problem:%s", slug);
	cr_assert_str_eq(json_string_value(json_object_get(j, "type")), type);
	cr_assert_eq(json_integer_value(json_object_get(j, "status")), status);
	cr_assert(json_is_string(json_object_get(j, "title")));
	json_decref(j);
}

static void post(struct hc_resp *r, uint16_t port, const char *target, const char *body)
{
	cr_assert_eq(hc_request(r, port, "POST", target, NULL, body, strlen(body)), 0);
}

Test(httpd, routes_bodies_and_problems)
{
	struct httpd *h = t_server(1000, 1000);
	uint16_t port = httpd_port(h);
	struct hc_resp r;
	char deep[200];
	size_t i;

	post(&r, port, "/echo", "{\"a\":[1,2,{\"b\":null}]}");
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.ctype, "application/json");
	cr_assert_str_eq(r.body, "{\"a\":[1,2,{\"b\":null}]}");
	hc_resp_free(&r);

	post(&r, port, "/echo", "{\"a\":1,\"a\":2}");
	expect_problem(&r, 400, "malformed-json");
	hc_resp_free(&r);
	post(&r, port, "/echo", "{\"a\":1} x");
	expect_problem(&r, 400, "malformed-json");
	hc_resp_free(&r);
	post(&r, port, "/echo", "[1]");
	expect_problem(&r, 400, "malformed-json");
	hc_resp_free(&r);
	post(&r, port, "/echo", "");
	expect_problem(&r, 400, "malformed-json");
	hc_resp_free(&r);
	for (i = 0; i < 40; i++)
		deep[i] = '[';
	deep[0] = '{';
	snprintf(deep + 1, sizeof(deep) - 1, "\"a\":");
	memset(deep + 5, '[', 40);
	memset(deep + 45, ']', 40);
	deep[85] = '}';
	deep[86] = '\0';
	post(&r, port, "/echo", deep);
	expect_problem(&r, 400, "malformed-json");
	hc_resp_free(&r);

	post(&r, port, "/small", "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}");
	expect_problem(&r, 413, "body-too-large");
	hc_resp_free(&r);
	{
		/* Over the anonymous cap: refused by Content-Length, unread. */
		size_t big = HTTPD_BODY_BYTES_ANON_MAX + 1;
		char *b = malloc(big);
		cr_assert(b);
		memset(b, ' ', big);
		cr_assert_eq(hc_request(&r, port, "POST", "/echo", NULL, b, big), 0);
		expect_problem(&r, 413, "body-too-large");
		hc_resp_free(&r);
		free(b);
	}

	cr_assert_eq(hc_request(&r, port, "GET", "/items/abc/parts/7?x=1", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "{\"id\":\"abc\",\"sub\":\"7\"}");
	hc_resp_free(&r);
	cr_assert_eq(hc_request(&r, port, "GET", "/items/abc", NULL, NULL, 0), 0);
	expect_problem(&r, 404, "not-found");
	hc_resp_free(&r);
	cr_assert_eq(hc_request(&r, port, "GET", "/echo", NULL, NULL, 0), 0);
	expect_problem(&r, 405, "method-not-allowed");
	hc_resp_free(&r);

	cr_assert_eq(hc_request(&r, port, "GET", "/livez", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200);
	hc_resp_free(&r);
	ready_flag = 0;
	cr_assert_eq(hc_request(&r, port, "GET", "/readyz", NULL, NULL, 0), 0);
	expect_problem(&r, 503, "not-ready");
	hc_resp_free(&r);
	ready_flag = 1;
	cr_assert_eq(hc_request(&r, port, "GET", "/readyz", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200);
	hc_resp_free(&r);

	cr_assert_eq(httpd_gauge_set(h, "test_gauge", "kind=\"x\"", "A test gauge.", 42), 0);
	cr_assert_eq(hc_request(&r, port, "GET", "/metrics", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "assay_http_requests_total{service=\"test-httpd\",route=\"/echo\",status=\"200\"} 1"),
		  "%s", r.body);
	cr_assert(strstr(r.body, "route=\"/small\",status=\"413\"} 1"), "%s", r.body);
	cr_assert(strstr(r.body, "assay_http_request_duration_seconds_count"));
	cr_assert(strstr(r.body, "# HELP test_gauge A test gauge.\n# TYPE test_gauge gauge\n"
			  "test_gauge{kind=\"x\"} 42\n"), "%s", r.body);
	hc_resp_free(&r);
	httpd_free(h);
}

/* The service-metric API takes only what `promtool check metrics`
 * passes, and what it renders (with the request counters and the
 * latency histogram) passes promtool without a lint. */
Test(httpd, service_metrics_pass_promtool)
{
	static const struct { int counter; const char *family, *labels, *help; } refused[] = {
		{ 1, "t_requests", NULL, "no _total" },
		{ 0, "t_things_total", NULL, "a gauge named like a counter" },
		{ 0, "1abc", NULL, "leading digit" },
		{ 0, "t-dash", NULL, "dash" },
		{ 0, "", NULL, "empty name" },
		{ 0, "t_g", "kind=x", "unquoted value" },
		{ 0, "t_g", "kind=\"a\"b\"", "quote inside" },
		{ 0, "t_g", "kind=\"a\\\\\"", "backslash" },
		{ 0, "t_g", "__kind=\"a\"", "reserved label name" },
		{ 0, "t_g", "kind=\"a\",", "trailing comma" },
		{ 0, "t_g", "=\"a\"", "no label name" },
		{ 0, "t_g", NULL, "two\nlines" },
		{ 0, "t_g", NULL, "" },
		{ 0, "t_g", NULL, NULL },
		{ 0, "t_g_bucket", NULL, "histogram suffix" },
		{ 0, "t_ok", NULL, "another help for a known family" },
		{ 1, "t_ok_total", NULL, "a known family" },
	};
	struct httpd *h = t_server(1000, 1000);
	uint16_t port = httpd_port(h);
	struct hc_resp r;
	char fam[32];
	size_t i;

	cr_assert_eq(httpd_gauge_set(h, "t_ok", "kind=\"a\"", "A known family.", 1), 0);
	cr_assert_eq(httpd_gauge_set(h, "t_ok", "kind=\"b\",side=\"x y\"", "A known family.", 2.5),
		     0);
	cr_assert_eq(httpd_counter_set(h, "t_ok_total", NULL, "A counter.", 7), 0);
	cr_assert_eq(httpd_counter_set(h, "t_ok_total", NULL, "A counter.", 8), 0);  /* update */
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int rc = refused[i].counter
			 ? httpd_counter_set(h, refused[i].family, refused[i].labels, refused[i].help, 1)
			 : httpd_gauge_set(h, refused[i].family, refused[i].labels, refused[i].help, 1);
		cr_assert_eq(rc, -1, "taken: %s {%s} '%s'", refused[i].family,
			     refused[i].labels ? refused[i].labels : "",
			     refused[i].help ? refused[i].help : "(null)");
	}
	/* The table is bounded: 3 series so far, HTTPD_GAUGES_MAX in all. */
	for (i = 3; i < HTTPD_GAUGES_MAX; i++) {
		snprintf(fam, sizeof(fam), "t_fill_%zu", i);
		cr_assert_eq(httpd_gauge_set(h, fam, NULL, "Fills the table.", (double)i), 0);
	}
	cr_assert_eq(httpd_gauge_set(h, "t_one_more", NULL, "Past the bound.", 1), -1);
	cr_assert_eq(hc_request(&r, port, "GET", "/livez", NULL, NULL, 0), 0);
	hc_resp_free(&r);
	cr_assert_eq(hc_request(&r, port, "GET", "/metrics", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, "# HELP t_ok A known family.\n# TYPE t_ok gauge\n"
			  "t_ok{kind=\"a\"} 1\nt_ok{kind=\"b\",side=\"x y\"} 2.5\n"), "%s", r.body);
	cr_assert(strstr(r.body, "# TYPE t_ok_total counter\nt_ok_total 8\n"), "%s", r.body);
	cr_assert_null(strstr(r.body, "t_requests"));
	cr_assert_null(strstr(r.body, "t_one_more"));
	tu_promtool_check("test-httpd", r.body);
	hc_resp_free(&r);
	httpd_free(h);
}

/* The TLS certificate and key must be regular files, and the key
 * private: a FIFO (which hung the start) or a key others can read is
 * refused at start with the path and the reason. */
Test(httpd, tls_files_regular_and_private, .timeout = 30)
{
	char dir[256], cert[300], key[300], fifo[300], why[512];
	struct httpd_config c;
	struct httpd *h = NULL;
	struct tu_run run;

	if (access("/usr/bin/openssl", X_OK) != 0)
		cr_skip("no openssl command to make a certificate");
	tu_tmpdir(dir, sizeof(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	{
		const char *argv[] = { "/usr/bin/openssl", "req", "-x509", "-newkey", "ec",
			"-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
			"-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", NULL };
		tu_run(&run, argv);
		cr_assert_eq(run.status, 0, "%s", run.err);
		tu_run_free(&run);
	}
	cr_assert_eq(chmod(key, 0600), 0);
	cr_assert_eq(chmod(cert, 0600), 0);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	t_config(&c);
	c.tls_cert_path = cert;
	c.tls_key_path = fifo;
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_ERR_TLS);
	cr_assert(strstr(why, "not a regular file") && strstr(why, fifo), "%s", why);
	c.tls_cert_path = fifo;
	c.tls_key_path = key;
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_ERR_TLS);
	cr_assert(strstr(why, "not a regular file"), "%s", why);
	c.tls_cert_path = cert;
	c.tls_key_path = dir;
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_ERR_TLS);
	cr_assert(strstr(why, "not a regular file"), "%s", why);
	c.tls_key_path = key;
	cr_assert_eq(chmod(key, 0640), 0);
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_ERR_TLS);
	cr_assert(strstr(why, "chmod 600"), "%s", why);
	cr_assert_eq(chmod(key, 0600), 0);
	/* The certificate too: others may neither read nor write it. */
	cr_assert_eq(chmod(cert, 0644), 0);
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_ERR_TLS);
	cr_assert(strstr(why, "chmod 600") && strstr(why, cert), "%s", why);
	cr_assert_eq(chmod(cert, 0600), 0);
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_OK, "%s", why);
	httpd_free(h);
	tu_rmtree(dir);
}

Test(httpd, signed_requests_on_the_wire)
{
	struct httpd *h = t_server(1000, 1000);
	uint16_t port = httpd_port(h);
	struct rcpt_key k;
	struct httpd_auth_headers a;
	struct hc_resp r;
	const char *body = "{\"x\":1}";
	char h1[128], h2[64], h3[200];
	const char *hdrs[5] = { h1, h2, h3, "Idempotency-Key: idem-1", NULL };
	char want[128];

	make_key(&k);
	cr_assert_eq(httpd_auth_sign(&a, &k, "POST", "/whoami?q=2", (uint64_t)time(NULL),
				     "idem-1", body, strlen(body)), HTTPD_OK);
	snprintf(h1, sizeof(h1), "Assay-Address: %s", a.address);
	snprintf(h2, sizeof(h2), "Assay-Timestamp: %s", a.timestamp);
	snprintf(h3, sizeof(h3), "Assay-Signature: %s", a.signature);
	cr_assert_eq(hc_request(&r, port, "POST", "/whoami?q=2", hdrs, body, strlen(body)), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	snprintf(want, sizeof(want), "{\"signer\":\"%s\",\"key\":\"idem-1\"}", a.address);
	cr_assert_str_eq(r.body, want);
	hc_resp_free(&r);
	/* The query is signed too. */
	cr_assert_eq(hc_request(&r, port, "POST", "/whoami?q=3", hdrs, body, strlen(body)), 0);
	expect_problem(&r, 401, "unauthenticated");
	hc_resp_free(&r);
	/* No Idempotency-Key on an idempotent route. */
	hdrs[3] = NULL;
	cr_assert_eq(hc_request(&r, port, "POST", "/whoami?q=2", hdrs, body, strlen(body)), 0);
	expect_problem(&r, 400, "idempotency-key");
	hc_resp_free(&r);
	hdrs[3] = "Idempotency-Key: bad key with spaces";
	cr_assert_eq(hc_request(&r, port, "POST", "/whoami?q=2", hdrs, body, strlen(body)), 0);
	expect_problem(&r, 400, "idempotency-key");
	hc_resp_free(&r);
	/* A stale timestamp. */
	hdrs[3] = "Idempotency-Key: idem-1";
	cr_assert_eq(httpd_auth_sign(&a, &k, "POST", "/whoami", (uint64_t)time(NULL) - 1000,
				     "idem-1", body, strlen(body)), HTTPD_OK);
	snprintf(h2, sizeof(h2), "Assay-Timestamp: %s", a.timestamp);
	snprintf(h3, sizeof(h3), "Assay-Signature: %s", a.signature);
	cr_assert_eq(hc_request(&r, port, "POST", "/whoami", hdrs, body, strlen(body)), 0);
	expect_problem(&r, 401, "unauthenticated");
	cr_assert(strstr(r.body, "Assay-Timestamp"), "%s", r.body);
	hc_resp_free(&r);
	rcpt_key_wipe(&k);
	httpd_free(h);
}

Test(httpd, rate_limit_per_ip)
{
	struct httpd *h = t_server(0.5, 3);
	uint16_t port = httpd_port(h);
	struct hc_resp r;
	int i, limited = 0;

	for (i = 0; i < 6; i++) {
		cr_assert_eq(hc_request(&r, port, "GET", "/items/a/parts/b", NULL, NULL, 0), 0);
		if (r.status == 429) {
			expect_problem(&r, 429, "rate-limited");
			limited++;
		}
		hc_resp_free(&r);
	}
	cr_assert_geq(limited, 2);
	/* Built-ins are not limited: probes keep working. */
	cr_assert_eq(hc_request(&r, port, "GET", "/livez", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 200);
	hc_resp_free(&r);
	httpd_free(h);
}

/* httpd_problems_check refuses each kind of broken table, and names the
 * fault; a good table passes. */
Test(httpd, problems_check_refuses_broken_tables)
{
	static const struct httpd_problem good[] = {
		{ "invalid-request", 400, "invalid request", "a key is missing" },
		{ "unavailable", 503, "unavailable", "retry later" },
		{ "x2", 599, "t", "m" },
	};
	static const struct {
		struct httpd_problem p[2];
		const char *why;
	} bad[] = {
		{ { { "dup", 400, "t", "m" }, { "dup", 409, "t", "m" } }, "listed twice" },
		{ { { "low", 399, "t", "m" }, { "ok", 400, "t", "m" } }, "not in 400..599" },
		{ { { "ok", 400, "t", "m" }, { "high", 600, "t", "m" } }, "not in 400..599" },
		{ { { "ok", 400, "", "m" }, { "ok2", 400, "t", "m" } }, "empty title" },
		{ { { "ok", 400, "t", NULL }, { "ok2", 400, "t", "m" } }, "empty title or meaning" },
		{ { { "Bad", 400, "t", "m" }, { "ok", 400, "t", "m" } }, "not [a-z0-9] words" },
		{ { { "a--b", 400, "t", "m" }, { "ok", 400, "t", "m" } }, "not [a-z0-9] words" },
		{ { { "-a", 400, "t", "m" }, { "ok", 400, "t", "m" } }, "not [a-z0-9] words" },
		{ { { "a_b", 400, "t", "m" }, { "ok", 400, "t", "m" } }, "not [a-z0-9] words" },
		{ { { NULL, 400, "t", "m" }, { "ok", 400, "t", "m" } }, "not [a-z0-9] words" },
	};
	char why[256];
	size_t i;

	cr_assert_eq(httpd_problems_check(good, 3, why, sizeof(why)), 0, "%s", why);
	cr_assert_eq(httpd_problems_check(good, 0, NULL, 0), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why[0] = '\0';
		cr_assert_eq(httpd_problems_check(bad[i].p, 2, why, sizeof(why)), -1, "case %zu", i);
		cr_assert(strstr(why, bad[i].why), "case %zu: %s", i, why);
		cr_assert_eq(httpd_problems_check(bad[i].p, 2, NULL, 0), -1, "case %zu", i);
	}
}

/* A route that declares its body: the handler runs only for a body of
 * the declared keys and types; each refusal is the exact problem. */
Test(httpd, declared_body_checked_before_the_handler)
{
	static const struct {
		const char *target, *body, *answer;
		int status;
	} cases[] = {
		{ "/declared", "{}", "{\"type\":\"urn:assay:problem:invalid-request\",\"title\":"
		  "\"invalid request\",\"status\":400,\"detail\":\"missing key \\\"s\\\"\"}", 400 },
		{ "/declared", "{\"s\":\"x\",\"zz\":1}", "{\"type\":\"urn:assay:problem:invalid-request\","
		  "\"title\":\"invalid request\",\"status\":400,\"detail\":\"unknown key \\\"zz\\\"\"}", 400 },
		{ "/declared", "{\"s\":1}", "{\"type\":\"urn:assay:problem:invalid-request\",\"title\":"
		  "\"invalid request\",\"status\":400,\"detail\":\"key \\\"s\\\" is not a string\"}", 400 },
		{ "/declared", "{\"s\":\"x\",\"amount\":\"01\"}", "{\"type\":\"urn:assay:problem:bad-amount\","
		  "\"title\":\"bad amount\",\"status\":422,\"detail\":\"amount is a decimal string\"}", 422 },
		{ "/declared-empty", "{\"s\":\"x\"}", "{\"type\":\"urn:assay:problem:invalid-request\","
		  "\"title\":\"invalid request\",\"status\":400,\"detail\":\"unknown key \\\"s\\\"\"}", 400 },
		{ "/declared-empty", "{}", "{}", 200 },
		{ "/declared", "{\"s\":\"x\"}", "{\"s\":\"x\"}", 200 },
	};
	/* One wrong value for each type: the key named, nothing run. */
	static const char *const wrong[] = {
		"\"n\":-1", "\"n\":9007199254740992", "\"n\":\"1\"", "\"o\":[]", "\"a\":{}",
		"\"h\":\"0x00\"", "\"h\":1", "\"addr\":\"0x12\"",
		"\"addr\":\"0x7e5F4552091A69125d5DfCb7b8C2659029395Bdf\"",   /* bad EIP-55 */
	};
	struct httpd *h = t_server(1000, 1000);
	uint16_t port = httpd_port(h);
	struct hc_resp r;
	char body[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		post(&r, port, cases[i].target, cases[i].body);
		cr_assert_eq(r.status, cases[i].status, "case %zu: %s", i, r.body);
		cr_assert_str_eq(r.body, cases[i].answer, "case %zu", i);
		hc_resp_free(&r);
	}
	for (i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
		snprintf(body, sizeof(body), "{\"s\":\"x\",%s}", wrong[i]);
		post(&r, port, "/declared", body);
		expect_problem(&r, 400, "invalid-request");
		hc_resp_free(&r);
	}
	/* Every type with a right value reaches the handler. */
	post(&r, port, "/declared",
	     "{\"s\":\"x\",\"n\":9007199254740991,\"o\":{},\"a\":[],\"h\":\"0x"
	     "0000000000000000000000000000000000000000000000000000000000000001\","
	     "\"addr\":\"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf\",\"amount\":\"0\",\"any\":null}");
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	httpd_free(h);
}

/* A declared body on a route that does not take JSON, or one key
 * declared twice, is a configuration the server refuses to start. */
Test(httpd, declared_body_refused_off_json_routes)
{
	static const struct httpd_body_key twice[] = {
		{ "k", HTTPD_KEY_ANY, 0, NULL, NULL }, { "k", HTTPD_KEY_STRING, 0, NULL, NULL },
	};
	static const struct httpd_body_decl d_twice = { twice, 2 };
	static const struct httpd_route off_json[] = {
		{ "POST", "/x", h_echo, 0, 0, &t_decl },
	};
	static const struct httpd_route dup[] = {
		{ "POST", "/x", h_echo, HTTPD_F_JSON, 0, &d_twice },
	};
	struct httpd_config c;
	struct httpd *h = NULL;
	char why[256];

	t_config(&c);
	c.routes = off_json;
	c.routes_len = 1;
	cr_assert_neq(httpd_start(&h, why, sizeof(why), &c), HTTPD_OK);
	cr_assert_null(h);
	c.routes = dup;
	cr_assert_neq(httpd_start(&h, why, sizeof(why), &c), HTTPD_OK);
	cr_assert_null(h);
}
