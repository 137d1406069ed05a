/*
 * test_http_framing.c: the shared HTTP module against an attacker on
 * loopback: request smuggling by ambiguous framing (RFC 9112 section
 * 6.3), slow clients (the whole-request deadline), the bound on
 * unauthenticated connections per address with eviction when full, the
 * JSON Content-Type, and the pure checks of httpd/framing.c against
 * known answers.
 *
 * The smuggling tests send a visible request with a hidden second one
 * where a conforming proxy would see body bytes; the hidden one calls a
 * route with an effect (a counter).  Each asserts exactly one answer,
 * the connection closed after it, and the counter unchanged.  A control
 * test sends two honest pipelined requests and sees two answers and the
 * effect, so the counting can fail.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "httpd.h"
#include "httpd_internal.h"
#include "httpc.h"
#include "pgutil.h"
#include "svcutil.h"
#include "testutil.h"
#include "banned.h"

static atomic_int effects;

static void h_plain(struct httpd_req *r, void *cls)
{
	(void)cls;
	httpd_reply_json(r, 200, json_pack("{s:s}", "ok", "plain"));
}

static void h_effect(struct httpd_req *r, void *cls)
{
	(void)cls;
	atomic_fetch_add(&effects, 1);
	httpd_reply_json(r, 200, json_pack("{s:s}", "ok", "effect"));
}

static const struct httpd_route f_routes[] = {
	{ "GET", "/plain", h_plain, 0, 0, NULL },
	{ "POST", "/plain", h_plain, 0, 0, NULL },
	{ "POST", "/effect", h_effect, HTTPD_F_JSON, 0, NULL },
};

struct limits {
	unsigned conns_max, preauth_per_ip, deadline_s;
};

static struct httpd *f_server(const struct limits *l)
{
	struct httpd_config c;
	struct httpd *h = NULL;
	char why[256];

	memset(&c, 0, sizeof(c));
	c.service = "test-framing";
	c.host = "127.0.0.1";
	c.routes = f_routes;
	c.routes_len = sizeof(f_routes) / sizeof(f_routes[0]);
	c.rate_per_s = 100000;
	c.rate_burst = 100000;
	c.quiet = 1;
	if (l) {
		c.connections_max = l->conns_max;
		c.connections_preauth_per_ip_max = l->preauth_per_ip;
		c.request_deadline_s = l->deadline_s;
	}
	atomic_store(&effects, 0);
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_OK, "%s", why);
	return h;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A TCP connection from 127.0.0.SRC (1..254) to the server. */
static int dial(uint16_t port, unsigned src)
{
	struct sockaddr_in sa, me;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0);
	memset(&me, 0, sizeof(me));
	me.sin_family = AF_INET;
	me.sin_addr.s_addr = htonl(0x7f000000u | src);
	cr_assert_eq(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0, "bind 127.0.0.%u", src);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
	return fd;
}

struct exchange {
	char buf[65536];
	size_t len;
	int eof;          /* the server closed the connection */
};

/* Sends req, then reads until the server closes or wait_s passes. */
static void exchange(struct exchange *x, uint16_t port, const char *req, double wait_s)
{
	int fd = dial(port, 1);
	size_t off = 0, n = strlen(req);
	double end;

	memset(x, 0, sizeof(*x));
	while (off < n) {
		ssize_t w = send(fd, req + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;   /* the server may close before reading it all */
		off += (size_t)w;
	}
	end = now_s() + wait_s;
	while (now_s() < end && x->len < sizeof(x->buf) - 1) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t got;
		if (poll(&p, 1, 100) <= 0)
			continue;
		got = recv(fd, x->buf + x->len, sizeof(x->buf) - 1 - x->len, 0);
		if (got <= 0) {
			x->eof = 1;
			break;
		}
		x->len += (size_t)got;
	}
	x->buf[x->len] = '\0';
	close(fd);
}

static size_t answers(const struct exchange *x, int *first_status)
{
	size_t n = 0;
	const char *p = x->buf;

	*first_status = 0;
	if (sscanf(x->buf, "HTTP/1.%*d %d", first_status) != 1)
		return 0;
	while ((p = strstr(p, "HTTP/1.1 ")) != NULL) {
		n++;
		p++;
	}
	return n;
}

#define HIDDEN "POST /effect HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n" \
	       "Content-Length: 2\r\n\r\n{}"

static void expect_one_refusal(const char *req, int status, const char *slug)
{
	struct httpd *h = f_server(NULL);
	struct exchange x;
	int st;
	char type[96];

	exchange(&x, httpd_port(h), req, 5.0);
	cr_assert_eq(answers(&x, &st), 1, "want one answer, got: %s", x.buf);
	cr_assert_eq(st, status, "status %d, want %d: %s", st, status, x.buf);
	snprintf(type, sizeof(type), "urn:assay:problem:%s", slug);
	cr_assert(strstr(x.buf, type), "no %s in: %s", type, x.buf);
	cr_assert(x.eof, "the connection stayed open after a framing refusal");
	/* The hidden request never ran, now or later. */
	usleep(200 * 1000);
	cr_assert_eq(atomic_load(&effects), 0, "the hidden request ran");
	httpd_free(h);
}

Test(http_framing, control_two_honest_pipelined_requests_both_answered, .timeout = 30)
{
	struct httpd *h = f_server(NULL);
	struct exchange x;
	int st;

	exchange(&x, httpd_port(h),
		 "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n" HIDDEN, 2.0);
	cr_assert_eq(answers(&x, &st), 2, "%s", x.buf);
	cr_assert_eq(st, 200);
	cr_assert_eq(atomic_load(&effects), 1);
	httpd_free(h);
}

Test(http_framing, two_content_lengths_refused, .timeout = 30)
{
	expect_one_refusal("GET /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n"
			   "Content-Length: 85\r\n\r\n" HIDDEN, 400, "bad-framing");
	/* The same value twice is refused as well: one field, one meaning. */
	expect_one_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
			   "Content-Length: 2\r\n\r\nab" HIDDEN, 400, "bad-framing");
}

Test(http_framing, content_length_with_chunked_refused, .timeout = 30)
{
	expect_one_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 90\r\n"
			   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" HIDDEN, 400, "bad-framing");
}

Test(http_framing, space_before_colon_refused, .timeout = 30)
{
	expect_one_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length : 85\r\n\r\n"
			   HIDDEN, 400, "bad-framing");
}

Test(http_framing, folded_content_length_refused, .timeout = 30)
{
	expect_one_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n 85\r\n\r\n"
			   HIDDEN, 400, "bad-framing");
}

Test(http_framing, other_transfer_codings_501, .timeout = 30)
{
	expect_one_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n"
			   "\r\n0\r\n\r\n" HIDDEN, 501, "transfer-coding");
	expect_one_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
			   "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n" HIDDEN, 501,
			   "transfer-coding");
}

/* libmicrohttpd refuses these itself, before our code sees the request:
 * its answer repeats its own header block (a 0.9.75 bug), so the check
 * is on the status, the close and the effect, not the answer count. */
static void expect_library_refusal(const char *req)
{
	struct httpd *h = f_server(NULL);
	struct exchange x;
	int st;

	exchange(&x, httpd_port(h), req, 5.0);
	cr_assert_geq(answers(&x, &st), 1, "%s", x.buf);
	cr_assert_eq(st, 400, "%s", x.buf);
	cr_assert_null(strstr(x.buf, "HTTP/1.1 2"), "something was served: %s", x.buf);
	cr_assert(x.eof);
	usleep(200 * 1000);
	cr_assert_eq(atomic_load(&effects), 0, "the hidden request ran");
	httpd_free(h);
}

Test(http_framing, malformed_content_length_refused, .timeout = 30)
{
	expect_library_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab"
			       HIDDEN);
	expect_library_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n"
			       HIDDEN);
	/* Digits, but more of them than any body we take: ours. */
	expect_one_refusal("POST /plain HTTP/1.1\r\nHost: a\r\nContent-Length: 1234567890123\r\n"
			   "\r\n" HIDDEN, 400, "bad-framing");
}

Test(http_framing, missing_host_refused, .timeout = 30)
{
	expect_library_refusal("POST /plain HTTP/1.1\r\nContent-Length: 0\r\n\r\n" HIDDEN);
}

Test(http_framing, chunked_alone_still_served, .timeout = 30)
{
	struct httpd *h = f_server(NULL);
	struct exchange x;
	int st;

	exchange(&x, httpd_port(h),
		 "POST /effect HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
		 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 5.0);
	cr_assert_eq(answers(&x, &st), 1, "%s", x.buf);
	cr_assert_eq(st, 200, "%s", x.buf);
	cr_assert_eq(atomic_load(&effects), 1);
	httpd_free(h);
}

Test(http_framing, json_routes_take_only_application_json, .timeout = 30)
{
	struct httpd *h = f_server(NULL);
	uint16_t port = httpd_port(h);
	struct hc_resp r;
	static const char *const refused[] = {
		"Content-Type: text/plain", "Content-Type: application/x-www-form-urlencoded",
		"Content-Type: multipart/form-data; boundary=x", "Content-Type: application/jsonx",
		"Content-Type: application/json; charset=latin1",
	};
	const char *ok_hdr[] = { "Content-Type: Application/JSON; charset=UTF-8", NULL };
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		const char *hdr[] = { refused[i], NULL };
		cr_assert_eq(hc_request(&r, port, "POST", "/effect", hdr, "{}", 2), 0);
		cr_assert_eq(r.status, 415, "%s: %d", refused[i], r.status);
		cr_assert(strstr(r.body, "urn:assay:problem:unsupported-media-type"));
		hc_resp_free(&r);
	}
	/* No Content-Type at all (hc_raw adds none). */
	{
		static const char bare[] = "POST /effect HTTP/1.1\r\nHost: a\r\nConnection: close\r\n"
					   "Content-Length: 2\r\n\r\n{}";
		cr_assert_eq(hc_raw(&r, port, bare, sizeof(bare) - 1), 0);
	}
	cr_assert_eq(r.status, 415);
	hc_resp_free(&r);
	cr_assert_eq(atomic_load(&effects), 0);
	cr_assert_eq(hc_request(&r, port, "POST", "/effect", ok_hdr, "{}", 2), 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	hc_resp_free(&r);
	cr_assert_eq(atomic_load(&effects), 1);
	httpd_free(h);
}

/* ---------------------------------------------------------------- slow clients */

/* Drips req one byte every step_s; returns the bytes sent before the
 * server closed the connection (n when it never did), and in *alive_s
 * how long after the first byte the close was seen. */
static size_t drip(int fd, const char *req, size_t n, double step_s, double *alive_s)
{
	size_t i;
	struct timespec ts = { 0, (long)(step_s * 1e9) };
	double t0 = now_s();

	for (i = 0; i < n; i++) {
		struct pollfd p = { fd, POLLIN, 0 };
		char c;
		*alive_s = now_s() - t0;
		if (poll(&p, 1, 0) > 0 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0)
			return i;   /* closed (or an answer we did not ask for) */
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1)
			return i;
		nanosleep(&ts, NULL);
	}
	*alive_s = now_s() - t0;
	return n;
}

Test(http_framing, trickling_client_cut_at_the_request_deadline, .timeout = 60)
{
	struct limits l = { 0, 0, 2 };
	struct httpd *h = f_server(&l);
	char req[128];
	size_t sent;
	double alive;
	int fd;

	/* 60 bytes at 4 a second is 15 s: a byte every 250 ms keeps the 15 s
	 * idle timeout from ever firing, so only the 2 s deadline can. */
	snprintf(req, sizeof(req), "GET /plain HTTP/1.1\r\nHost: a\r\nX-Slow: %040d", 0);
	fd = dial(httpd_port(h), 1);
	sent = drip(fd, req, strlen(req), 0.25, &alive);
	close(fd);
	cr_assert_lt(sent, strlen(req), "a client dripping a byte every 250 ms was never cut");
	/* Not before the deadline (less the sweep's granularity). */
	cr_assert_geq(alive, 1.5, "cut %.2f s after the first byte, before the deadline", alive);

	/* The same bytes sent in a few pieces within the deadline are served. */
	{
		struct exchange x;
		int st;
		exchange(&x, httpd_port(h), "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 3.0);
		cr_assert_eq(answers(&x, &st), 1);
		cr_assert_eq(st, 200);
	}
	httpd_free(h);
}

Test(http_framing, second_request_on_a_kept_connection_has_its_own_deadline, .timeout = 60)
{
	struct limits l = { 0, 0, 2 };
	struct httpd *h = f_server(&l);
	const char *first = "GET /plain HTTP/1.1\r\nHost: a\r\n\r\n";
	char req[128], buf[4096];
	size_t sent;
	double alive;
	ssize_t got;
	int fd;

	fd = dial(httpd_port(h), 1);
	cr_assert_eq(send(fd, first, strlen(first), MSG_NOSIGNAL), (ssize_t)strlen(first));
	got = recv(fd, buf, sizeof(buf) - 1, 0);
	cr_assert_gt(got, 0);
	buf[got] = '\0';
	cr_assert(strstr(buf, "HTTP/1.1 200"), "%s", buf);
	/* Idle 3 s (longer than the deadline, shorter than the idle
	 * timeout): idle time between requests is not counted... */
	sleep(3);
	snprintf(req, sizeof(req), "GET /plain HTTP/1.1\r\nHost: a\r\nX-Slow: %040d", 0);
	sent = drip(fd, req, strlen(req), 0.25, &alive);
	close(fd);
	/* ...so the connection is cut a deadline after the second request's
	 * first byte, not at once, and before all of it was sent. */
	cr_assert_geq(alive, 1.5, "cut %.2f s into the second request: idle time was counted",
		      alive);
	cr_assert_lt(sent, strlen(req));
	httpd_free(h);
}

/* Opens n connections from 127.0.0.(first_src + i % addrs), each with an
 * unfinished request, then checks a fresh client from 127.0.0.1 is
 * served; returns how many of the n the server closed. */
static size_t lockout_attempt(struct httpd *h, size_t n, unsigned addrs, unsigned first_src)
{
	uint16_t port = httpd_port(h);
	int *fds = calloc(n, sizeof(int));
	const char *part = "GET /plain HTTP/1.1\r\nHost: a\r\nX-Slow: ";
	struct exchange x;
	size_t i, closed = 0;
	int st;

	cr_assert(fds);
	for (i = 0; i < n; i++) {
		fds[i] = dial(port, first_src + (unsigned)(i % addrs));
		(void)send(fds[i], part, strlen(part), MSG_NOSIGNAL);
	}
	usleep(1000 * 1000);   /* the server accepts (or refuses) them all */
	exchange(&x, port, "GET /plain HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 10.0);
	cr_assert_eq(answers(&x, &st), 1, "a fresh client was locked out: '%s'", x.buf);
	cr_assert_eq(st, 200, "%s", x.buf);
	for (i = 0; i < n; i++) {
		char c;
		ssize_t got = recv(fds[i], &c, 1, MSG_DONTWAIT);
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			closed++;
		close(fds[i]);
	}
	free(fds);
	return closed;
}

Test(http_framing, three_hundred_tricklers_from_ten_addresses_lock_nobody_out, .timeout = 90)
{
	struct httpd *h = f_server(NULL);   /* the defaults the daemons use */
	size_t closed = lockout_attempt(h, 300, 10, 2);

	/* At most HTTPD_CONNECTIONS_PREAUTH_PER_IP_MAX kept per address. */
	cr_assert_geq(closed, 300 - 10 * HTTPD_CONNECTIONS_PREAUTH_PER_IP_MAX,
		      "only %zu of 300 refused", closed);
	httpd_free(h);
}

Test(http_framing, full_table_evicts_from_the_biggest_holder, .timeout = 90)
{
	/* 40 slots, 8 unauthenticated per address, 6 addresses: 48 > 40, so
	 * the table is full of tricklers before the fresh client comes. */
	struct limits l = { 40, 8, 0 };
	struct httpd *h = f_server(&l);
	size_t closed = lockout_attempt(h, 48, 6, 20);

	cr_assert_geq(closed, 8, "only %zu of 48 closed", closed);
	httpd_free(h);
}

/* ---------------------------------------------------------------- pure checks */

static enum httpd_frame_rc check_lines(const char *const *lines, size_t n)
{
	struct httpd_field f[8];
	char why[160];
	size_t i;

	cr_assert_leq(n, 8);
	for (i = 0; i < n; i++) {
		const char *colon = strchr(lines[i], ':');
		cr_assert(colon);
		f[i].name = lines[i];
		f[i].name_len = (size_t)(colon - lines[i]);
		f[i].value = colon + 1;
		while (*f[i].value == ' ')
			f[i].value++;
		f[i].value_len = strlen(f[i].value);
	}
	return httpd_frame_check(why, sizeof(why), f, n);
}

Test(http_framing, frame_check_known_answers)
{
	static const struct {
		const char *lines[3];
		size_t n;
		enum httpd_frame_rc want;
	} cases[] = {
		{ { "Host: a" }, 1, HTTPD_FRAME_OK },
		{ { "Content-Length: 0" }, 1, HTTPD_FRAME_OK },
		{ { "content-length: 123456789012" }, 1, HTTPD_FRAME_OK },
		{ { "Transfer-Encoding: chunked" }, 1, HTTPD_FRAME_OK },
		{ { "Transfer-Encoding: CHUNKED" }, 1, HTTPD_FRAME_OK },
		{ { "Content-Length: 1", "content-length: 1" }, 2, HTTPD_FRAME_BAD },
		{ { "Content-Length: 1", "Transfer-Encoding: chunked" }, 2, HTTPD_FRAME_BAD },
		{ { "Content-Length: " }, 1, HTTPD_FRAME_BAD },
		{ { "Content-Length: 1 2" }, 1, HTTPD_FRAME_BAD },
		{ { "Content-Length: 0x10" }, 1, HTTPD_FRAME_BAD },
		{ { "Content-Length: -1" }, 1, HTTPD_FRAME_BAD },
		{ { "Content-Length: 1234567890123" }, 1, HTTPD_FRAME_BAD },
		{ { "Content-Length : 1" }, 1, HTTPD_FRAME_BAD },
		{ { "Bad Name: x" }, 1, HTTPD_FRAME_BAD },
		{ { ": x" }, 1, HTTPD_FRAME_BAD },
		{ { "X-A: a\r\n b" }, 1, HTTPD_FRAME_BAD },
		{ { "X-A: a\x01" }, 1, HTTPD_FRAME_BAD },
		{ { "Transfer-Encoding: gzip, chunked" }, 1, HTTPD_FRAME_CODING },
		{ { "Transfer-Encoding: chunked " }, 1, HTTPD_FRAME_CODING },
		{ { "Transfer-Encoding: identity" }, 1, HTTPD_FRAME_CODING },
		{ { "Transfer-Encoding: chunked", "Transfer-Encoding: chunked" }, 2, HTTPD_FRAME_CODING },
		{ { "Content-Length85: 0" }, 1, HTTPD_FRAME_BAD },
		{ { "transfer-encodingchunked: " }, 1, HTTPD_FRAME_BAD },
		{ { "Content-Lengths: 1" }, 1, HTTPD_FRAME_BAD },
		{ { "Content-Type: a/b", "Content-Language: en" }, 2, HTTPD_FRAME_OK },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(check_lines(cases[i].lines, cases[i].n), cases[i].want,
			     "case %zu (%s)", i, cases[i].lines[0]);
}

Test(http_framing, frame_check_bounds_the_field_count)
{
	struct httpd_field f[HTTPD_HEADER_FIELDS_MAX + 1];
	char why[160];
	size_t i;

	for (i = 0; i <= HTTPD_HEADER_FIELDS_MAX; i++) {
		f[i].name = "X-A";
		f[i].name_len = 3;
		f[i].value = "b";
		f[i].value_len = 1;
	}
	cr_assert_eq(httpd_frame_check(why, sizeof(why), f, HTTPD_HEADER_FIELDS_MAX), HTTPD_FRAME_OK);
	cr_assert_eq(httpd_frame_check(why, sizeof(why), f, HTTPD_HEADER_FIELDS_MAX + 1),
		     HTTPD_FRAME_TOO_MANY);
}

Test(http_framing, json_content_type_known_answers)
{
	static const struct {
		const char *v;
		int want;
	} cases[] = {
		{ "application/json", 1 }, { "Application/JSON", 1 },
		{ "application/json; charset=utf-8", 1 }, { "application/json;charset=UTF-8", 1 },
		{ "application/json; charset=\"utf-8\"", 1 }, { " application/json ", 1 },
		{ NULL, 0 }, { "", 0 }, { "text/plain", 0 }, { "application/jsonp", 0 },
		{ "application/json; charset=utf-16", 0 }, { "application/json; boundary=x", 0 },
		{ "application/json, text/plain", 0 }, { "application/json; charset=utf-8x", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(httpd_ctype_is_json(cases[i].v), cases[i].want, "'%s'",
			     cases[i].v ? cases[i].v : "(null)");
}

Test(http_framing, route_match_and_body_bound)
{
	char params[HTTPD_PARAMS_MAX][HTTPD_PARAM_BYTES_MAX + 1];
	char big[HTTPD_PARAM_BYTES_MAX + 16];
	struct httpd_body b;
	size_t np = 99;

	cr_assert(httpd_route_match(params, &np, "/v1/jobs/{id}/receipt", "/v1/jobs/0xab/receipt"));
	cr_assert_eq(np, 1);
	cr_assert_str_eq(params[0], "0xab");
	cr_assert_not(httpd_route_match(params, &np, "/v1/jobs/{id}", "/v1/jobs/"));
	cr_assert_not(httpd_route_match(params, &np, "/v1/jobs/{id}", "/v1/jobs/a/b"));
	cr_assert_not(httpd_route_match(params, &np, "/v1/jobs", "/v1/jobs/"));
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[HTTPD_PARAM_BYTES_MAX + 2] = '\0';   /* a segment one byte too long */
	cr_assert_not(httpd_route_match(params, &np, "/{x}", big));
	big[HTTPD_PARAM_BYTES_MAX + 1] = '\0';
	cr_assert(httpd_route_match(params, &np, "/{x}", big));

	memset(&b, 0, sizeof(b));
	b.max = 10;
	cr_assert_eq(httpd_body_append(&b, "01234", 5), 0);
	cr_assert_eq(httpd_body_append(&b, "56789", 5), 0);
	cr_assert_eq(b.len, 10);
	cr_assert_not(b.too_large);
	cr_assert_str_eq(b.buf, "0123456789");
	cr_assert_eq(httpd_body_append(&b, "x", 1), 0);
	cr_assert(b.too_large);
	cr_assert_eq(b.len, 10);
	httpd_body_release(&b);
}

/* ---------------------------------------------------------------- the real escrow */

static uint64_t available_of(const char *escrow_url, const char *addr)
{
	struct httpd_client_resp r;
	char t[96];
	uint64_t v;

	snprintf(t, sizeof(t), "/v1/accounts/%s", addr);
	su_call(&r, "GET", escrow_url, t, NULL, 0, NULL, NULL, 0);
	cr_assert_eq(r.status, 200, "%s", r.body);
	v = strtoull(httpd_client_str(&r, "available"), NULL, 10);
	httpd_client_resp_free(&r);
	return v;
}

/* The visible request's framing lines, each ambiguous in its own way, and
 * the status it must get. */
static const struct {
	const char *before, *after;   /* the hidden request's length between */
	int status;
} smuggles[] = {
	{ "Content-Length: 0\r\nContent-Length: ", "\r\n", 400 },
	{ "Content-Length: ", "\r\nTransfer-Encoding: chunked\r\n", 400 },
	{ "Content-Length : ", "\r\n", 400 },
	{ "Content-Length: 0\r\n ", "\r\n", 400 },
	{ "Transfer-Encoding: gzip, chunked\r\nX-Len: ", "\r\n", 501 },
};

static void hidden_faucet(char *out, size_t len, const char *addr, const char *idem)
{
	char body[160];

	snprintf(body, sizeof(body), "{\"address\":\"%s\",\"amount\":\"1000\"}", addr);
	snprintf(out, len, "POST /v1/faucet HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
		 "Idempotency-Key: %s\r\nContent-Length: %zu\r\n\r\n%s", idem, strlen(body), body);
}

Test(http_framing, escrow_hidden_faucet_behind_params_never_runs, .timeout = 90)
{
	struct pgt_db db;
	struct tu_daemon esc;
	struct rcpt_key attacker, control;
	char dir[256], log[320], path[320], a_att[RCPT_ADDR_HEX_BYTES], a_ctl[RCPT_ADDR_HEX_BYTES];
	char hidden[512], framing[128], req[1024], idem[32];
	struct exchange x;
	size_t i;
	int st;

	pgt_db_create(&db);
	tu_tmpdir(dir, sizeof(dir));
	snprintf(log, sizeof(log), "%s/escrow.log", dir);
	su_escrow_start(&esc, dir, db.conninfo, "31337", log);
	su_key_file(path, sizeof(path), &attacker, dir, "attacker");
	su_key_file(path, sizeof(path), &control, dir, "control");
	rcpt_address_format(a_att, attacker.address);
	rcpt_address_format(a_ctl, control.address);

	/* Control: the same faucet call, honestly pipelined, does credit. */
	hidden_faucet(hidden, sizeof(hidden), a_ctl, "control-1");
	snprintf(req, sizeof(req), "GET /v1/params HTTP/1.1\r\nHost: a\r\n\r\n%s", hidden);
	exchange(&x, (uint16_t)esc.port, req, 3.0);
	cr_assert_eq(answers(&x, &st), 2, "%s", x.buf);
	cr_assert_eq(available_of(esc.url, a_ctl), 1000);

	for (i = 0; i < sizeof(smuggles) / sizeof(smuggles[0]); i++) {
		snprintf(idem, sizeof(idem), "smuggle-%zu", i);
		hidden_faucet(hidden, sizeof(hidden), a_att, idem);
		snprintf(framing, sizeof(framing), "%s%zu%s", smuggles[i].before, strlen(hidden),
			 smuggles[i].after);
		snprintf(req, sizeof(req), "GET /v1/params HTTP/1.1\r\nHost: a\r\n%s\r\n%s",
			 framing, hidden);
		exchange(&x, (uint16_t)esc.port, req, 5.0);
		cr_assert_eq(answers(&x, &st), 1, "case %zu: %s", i, x.buf);
		cr_assert_eq(st, smuggles[i].status, "case %zu: %s", i, x.buf);
		cr_assert(x.eof, "case %zu: connection left open", i);
	}
	usleep(300 * 1000);
	cr_assert_eq(available_of(esc.url, a_att), 0, "a hidden faucet call credited the attacker");
	tu_daemon_stop(&esc);
	rcpt_key_wipe(&attacker);
	rcpt_key_wipe(&control);
	pgt_db_drop(&db);
	tu_rmtree(dir);
}
