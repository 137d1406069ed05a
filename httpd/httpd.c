/*
 * httpd.c: the server: its own serving thread around libmicrohttpd, the
 * connection table (request deadlines, the unauthenticated-connection
 * bound per address), the route table, one strict JSON parse,
 * problem+json answers, the completion callback (log line and metrics),
 * built-in /livez, /readyz and /metrics.  The checks that need no socket
 * are in framing.c.
 *
 * Invariants of a request (struct httpd_req): body.len <= body.max <=
 * HTTPD_BODY_BYTES_MAX; at most one answer is set (status != 0 once set);
 * the request is freed exactly once, by the completion callback.
 *
 * Invariants of the connection table: every connection libmicrohttpd
 * holds has exactly one used slot (its socket context), from
 * MHD_CONNECTION_NOTIFY_STARTED to _CLOSED; the table is touched only on
 * the serving thread, which is also the only thread libmicrohttpd runs
 * callbacks on, so a slot's fd is always the connection's own.
 *
 * Handler threads (httpd_config.workers): a request whose body is
 * complete is queued and its connection suspended; a handler thread runs
 * the checks and the handler, which only fill in the request's answer,
 * and resumes the connection; libmicrohttpd then calls on_access again on
 * the serving thread, which sends the answer.  So a handler thread never
 * touches the connection table or a libmicrohttpd response, a suspended
 * connection is not read, timed out or closed (its request stays valid),
 * and a request is on at most one thread at a time: the serving thread
 * until it is queued, one handler thread until `done`, the serving
 * thread again after.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "assay_assert.h"
#include "httpd.h"
#include "httpd_internal.h"
#include "banned.h"

#define PROBLEM_TYPE_PREFIX "urn:assay:problem:"
#define CERT_FILE_BYTES_MAX (256u * 1024u)

/* GnuTLS priorities of the HTTPS server (docs/operations.md, "TLS"): TLS
 * 1.3 only by default, whose suites are all AEAD with ephemeral keys;
 * with --tls-allow-1.2 also TLS 1.2, but only ECDHE key exchange and AEAD
 * ciphers (no CBC, no RSA key transport, no SHA-1 MACs). */
#define HTTPD_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3"
#define HTTPD_TLS_PRIORITIES_12                                                  \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:"   \
	"+AES-128-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:"   \
	"+ECDHE-RSA"

/* Where a connection is in its current request. */
enum conn_phase {
	CONN_IDLE = 0,        /* between requests: libmicrohttpd's idle timeout */
	CONN_RECEIVING,       /* first byte seen: the request deadline runs */
	CONN_ANSWERING,       /* request complete: handler and answer */
};

struct httpd_conn {
	int used;
	int fd;
	enum conn_phase phase;
	int authed;               /* a request on it passed HTTPD_F_AUTH */
	int evicted;              /* shut down by us; closing */
	double t0_s;              /* first byte of the request being received */
	double idle_since_s;      /* accept, or the end of the previous answer */
	char ip[INET6_ADDRSTRLEN];
};

struct httpd_worker;

struct httpd {
	struct httpd_config cfg;
	struct MHD_Daemon *mhd;
	pthread_t thread;
	int thread_started;
	atomic_int stop;
	unsigned deadline_s;
	unsigned preauth_per_ip;
	unsigned conns_max;           /* our bound; the table has headroom more */
	struct httpd_conn *conns;
	size_t conns_len;             /* conns_max + HTTPD_CONNECTIONS_HEADROOM */
	double last_sweep_s;
	/* Counters of the connection guards, logged as they change. */
	uint64_t n_deadline_cut, n_preauth_refused, n_evicted;
	uint64_t n_logged;
	double last_guard_log_s;
	double mhd_log_window_s;
	unsigned mhd_log_lines;
	uint64_t mhd_log_dropped;
	uint16_t port;
	char *tls_cert, *tls_key;
	const char *route_names[HTTPD_ROUTES_MAX];
	struct httpd_rate rate;
	struct httpd_rate signin_rate;   /* anonymous sign-in routes, per IP */
	struct httpd_metrics metrics;
	/* Handler threads and their queue (q_mu guards q_*). */
	struct httpd_worker *workers;
	unsigned workers_started;
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	struct httpd_req *q_head, *q_tail;
	int q_stop;                   /* handler threads finish the queue and end */
	atomic_int draining;          /* httpd_free began: no more queueing */
	int wake_fd;                  /* eventfd: a handler thread resumed one */
};

struct httpd_req {
	struct httpd *h;
	struct MHD_Connection *conn;
	struct httpd_conn *slot;      /* NULL only when the table lost it (bug) */
	struct timespec t0;
	char target[HTTPD_TARGET_BYTES_MAX + 1];
	int target_too_long;
	const char *method;
	int route;                    /* -1: builtin or unmatched */
	char params[HTTPD_PARAMS_MAX][HTTPD_PARAM_BYTES_MAX + 1];
	size_t params_len;
	int started;
	int close_conn;               /* answer with Connection: close */
	struct httpd_body body;
	json_t *json;
	uint8_t signer[RCPT_ADDR_BYTES];
	int has_signer;
	char apikey[HTTPD_APIKEY_ID_BYTES + 1];   /* the key's id when has_apikey */
	int has_apikey;
	enum httpd_role role;         /* HTTPD_ROLE_NONE for a signed request */
	const char *idem;
	unsigned status;
	unsigned retry_after_s;   /* httpd_reply_retry_after; 0: none (429 and 503 say 1) */
	char ctype[HTTPD_CTYPE_BYTES_MAX + 1];
	char *resp;
	size_t resp_len;
	int resp_fd;              /* httpd_reply_fd's file when has_fd */
	int has_fd;
	uint64_t resp_fd_size;
	char ip[INET6_ADDRSTRLEN];
	/* Handler threads: queued once, done when its answer is set. */
	struct httpd_req *q_next;
	int queued;
	atomic_int done;
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

void httpd_reply_fd(struct httpd_req *r, unsigned status, const char *ctype, int fd,
		    uint64_t size)
{
	assert(r && status >= 100 && status < 600 && ctype && fd >= 0);
	assert(r->status == 0);   /* one answer per request */
	if (strlen(ctype) > HTTPD_CTYPE_BYTES_MAX) {
		(void)close(fd);
		httpd_reply_bytes(r, 500, "text/plain", "", 0);
		return;
	}
	r->resp_fd = fd;
	r->has_fd = 1;
	r->resp_fd_size = size;
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

void httpd_reply_problem_v(struct httpd_req *r, unsigned status, const char *slug,
			   const char *title, const char *detail_fmt, va_list ap)
{
	char detail[HTTPD_DETAIL_BYTES_MAX];
	char type[128];
	json_t *o;
	char *s;

	assert(r && slug && title && status >= 400);
	detail[0] = '\0';
	if (detail_fmt)
		vsnprintf(detail, sizeof(detail), detail_fmt, ap);
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

void httpd_reply_problem(struct httpd_req *r, unsigned status, const char *slug,
			 const char *title, const char *detail_fmt, ...)
{
	va_list ap;

	va_start(ap, detail_fmt);
	httpd_reply_problem_v(r, status, slug, title, detail_fmt, ap);
	va_end(ap);
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
		*len = r->body.len;
	return r->body.buf ? r->body.buf : "";
}

json_t *httpd_req_json(const struct httpd_req *r) { return r->json; }

const uint8_t *httpd_req_signer(const struct httpd_req *r)
{
	return r->has_signer ? r->signer : NULL;
}

const char *httpd_req_idem_key(const struct httpd_req *r) { return r->idem; }

const char *httpd_req_apikey(const struct httpd_req *r)
{
	return r->has_apikey ? r->apikey : NULL;
}

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

int httpd_gauge_set(struct httpd *h, const char *family, const char *labels,
		    const char *help, double value)
{
	return h ? httpd_metrics_set(&h->metrics, 0, family, labels, help, value) : -1;
}

int httpd_counter_set(struct httpd *h, const char *family, const char *labels,
		      const char *help, double value)
{
	return h ? httpd_metrics_set(&h->metrics, 1, family, labels, help, value) : -1;
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

/* Route index, -1 when no path matches, -2 when only another method does. */
static int route_find(struct httpd_req *r, const char *path)
{
	const struct httpd_config *c = &r->h->cfg;
	int other_method = 0;
	size_t i;

	for (i = 0; i < c->routes_len; i++) {
		if (!httpd_route_match(r->params, &r->params_len, c->routes[i].pattern, path))
			continue;
		if (strcmp(c->routes[i].method, r->method) == 0)
			return (int)i;
		other_method = 1;
	}
	r->params_len = 0;
	return other_method ? -2 : -1;
}

/* ---------------------------------------------------------------- connections */

static struct httpd_conn *conn_slot(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void sockaddr_ip(char out[INET6_ADDRSTRLEN], const struct sockaddr *sa)
{
	out[0] = '\0';
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  out, INET6_ADDRSTRLEN);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  out, INET6_ADDRSTRLEN);
	if (!out[0])
		snprintf(out, INET6_ADDRSTRLEN, "unknown");
}

/* Closes a connection from our side: libmicrohttpd sees the socket fail
 * on its next poll and cleans up (NOTIFY_CLOSED frees the slot). */
static void conn_cut(struct httpd_conn *c)
{
	assert(c->used);
	if (!c->evicted)
		(void)shutdown(c->fd, SHUT_RDWR);
	c->evicted = 1;
}

struct preauth_count {
	size_t used;              /* slots in use and not being closed */
	size_t of_ip;             /* unauthenticated ones of the new address */
	struct httpd_conn *victim;/* oldest unauthenticated of the top address */
	size_t victim_ip_count;
};

static size_t preauth_of(const struct httpd *h, const char *ip)
{
	size_t i, n = 0;

	for (i = 0; i < h->conns_len; i++)
		if (h->conns[i].used && !h->conns[i].evicted && !h->conns[i].authed &&
		    strcmp(h->conns[i].ip, ip) == 0)
			n++;
	return n;
}

static void preauth_count(struct preauth_count *pc, const struct httpd *h, const char *ip)
{
	size_t i;

	memset(pc, 0, sizeof(*pc));
	for (i = 0; i < h->conns_len; i++) {
		struct httpd_conn *c = &h->conns[i];
		size_t n;
		if (!c->used || c->evicted)
			continue;
		pc->used++;
		if (c->authed)
			continue;
		if (strcmp(c->ip, ip) == 0) {
			pc->of_ip++;
			continue;
		}
		n = preauth_of(h, c->ip);
		if (n > pc->victim_ip_count ||
		    (n == pc->victim_ip_count && pc->victim && c->idle_since_s < pc->victim->idle_since_s)) {
			pc->victim = c;
			pc->victim_ip_count = n;
		}
	}
}

/* Accept policy: at most preauth_per_ip unauthenticated connections per
 * address; when our table is full, a newcomer holding fewer than the top
 * address evicts that address's oldest unauthenticated connection. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
	struct httpd *h = cls;
	struct preauth_count pc;
	char ip[INET6_ADDRSTRLEN];

	(void)addrlen;
	sockaddr_ip(ip, addr);
	preauth_count(&pc, h, ip);
	if (pc.of_ip >= h->preauth_per_ip) {
		h->n_preauth_refused++;
		return MHD_NO;
	}
	if (pc.used < h->conns_max)
		return MHD_YES;
	if (pc.victim && pc.victim_ip_count > pc.of_ip + 1) {
		conn_cut(pc.victim);
		h->n_evicted++;
		return MHD_YES;
	}
	h->n_preauth_refused++;
	return MHD_NO;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct httpd *h = cls;
	struct httpd_conn *c = *socket_context;
	const union MHD_ConnectionInfo *fd_ci, *addr_ci;
	size_t i;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		if (c)
			memset(c, 0, sizeof(*c));
		*socket_context = NULL;
		return;
	}
	fd_ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	addr_ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	for (i = 0; i < h->conns_len && h->conns[i].used; i++)
		;
	if (i == h->conns_len || !fd_ci) {
		/* Cannot happen: libmicrohttpd's limit is the table's size. */
		fprintf(stderr, "%s: connection table full; closing a connection\n", h->cfg.service);
		if (fd_ci)
			(void)shutdown(fd_ci->connect_fd, SHUT_RDWR);
		return;
	}
	c = &h->conns[i];
	memset(c, 0, sizeof(*c));
	c->used = 1;
	c->fd = fd_ci->connect_fd;
	c->phase = CONN_IDLE;
	c->idle_since_s = mono_s();
	sockaddr_ip(c->ip, addr_ci ? addr_ci->client_addr : NULL);
	*socket_context = c;
}

/* An idle connection whose socket received a byte after its last answer
 * has begun a request: its deadline starts no later than the sweep
 * before the one that saw it. */
static void conn_sweep_one(struct httpd *h, struct httpd_conn *c, double now)
{
	if (c->phase == CONN_IDLE) {
		struct tcp_info ti;
		socklen_t tl = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0) {
			double last_recv_s = now - (double)ti.tcpi_last_data_recv / 1e3;
			/* jiffies against CLOCK_MONOTONIC: 50 ms of slack. */
			if (last_recv_s > c->idle_since_s + 0.05) {
				c->phase = CONN_RECEIVING;
				c->t0_s = h->last_sweep_s > c->idle_since_s ? h->last_sweep_s
									    : c->idle_since_s;
			}
		}
	}
	if (c->phase == CONN_RECEIVING && now - c->t0_s > (double)h->deadline_s) {
		conn_cut(c);
		h->n_deadline_cut++;
	}
}

static void conn_sweep(struct httpd *h)
{
	double now = mono_s();
	size_t i;
	uint64_t total;

	if (now - h->last_sweep_s < (double)HTTPD_LOOP_WAIT_MS / 1e3)
		return;
	for (i = 0; i < h->conns_len; i++)
		if (h->conns[i].used && !h->conns[i].evicted)
			conn_sweep_one(h, &h->conns[i], now);
	h->last_sweep_s = now;
	/* One line at most every 10 s while the guards act, not one per cut. */
	total = h->n_deadline_cut + h->n_preauth_refused + h->n_evicted;
	if (total != h->n_logged && now - h->last_guard_log_s >= 10.0) {
		if (!h->cfg.quiet)
			fprintf(stderr, "%s: connection guards: deadline_cut=%llu preauth_refused=%llu evicted=%llu\n",
				h->cfg.service, (unsigned long long)h->n_deadline_cut,
				(unsigned long long)h->n_preauth_refused,
				(unsigned long long)h->n_evicted);
		h->n_logged = total;
		h->last_guard_log_s = now;
	}
}

/* Without handler threads: libmicrohttpd's own wait. */
static void serve_plain(struct httpd *h)
{
	while (!atomic_load(&h->stop)) {
		if (MHD_run_wait(h->mhd, HTTPD_LOOP_WAIT_MS) != MHD_YES) {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);   /* a failed poll must not spin */
		}
		conn_sweep(h);
	}
}

/* With handler threads: libmicrohttpd's epoll descriptor and our own
 * eventfd, which a handler thread writes after it resumes a connection.
 * (libmicrohttpd 0.9.75's MHD_run_wait is not woken by a resume from
 * another thread: the answer would wait for the next HTTPD_LOOP_WAIT_MS.) */
static void serve_pooled(struct httpd *h)
{
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	struct pollfd p[2];
	MHD_UNSIGNED_LONG_LONG to;
	uint64_t n;
	int ms;

	ASSAY_ASSERT(di && di->epoll_fd >= 0);
	p[0].fd = di->epoll_fd;
	p[1].fd = h->wake_fd;
	while (!atomic_load(&h->stop)) {
		ms = HTTPD_LOOP_WAIT_MS;
		if (MHD_get_timeout(h->mhd, &to) == MHD_YES && to < (MHD_UNSIGNED_LONG_LONG)ms)
			ms = (int)to;
		p[0].events = p[1].events = POLLIN;
		p[0].revents = p[1].revents = 0;
		if (poll(p, 2, ms) > 0 && (p[1].revents & POLLIN))
			(void)!read(h->wake_fd, &n, sizeof(n));
		(void)MHD_run(h->mhd);
		conn_sweep(h);
	}
}

static void *serve(void *arg)
{
	struct httpd *h = arg;

	if (h->cfg.workers)
		serve_pooled(h);
	else
		serve_plain(h);
	return NULL;
}

/* ---------------------------------------------------------------- MHD glue */

/* libmicrohttpd's own messages (a peer that hung up mid-request, a
 * malformed request it refused): at most HTTPD_MHD_LOG_LINES per
 * HTTPD_MHD_LOG_WINDOW_S, so that an attacker cannot fill the disk. */
#define HTTPD_MHD_LOG_LINES 10
#define HTTPD_MHD_LOG_WINDOW_S 10.0

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	double now = mono_s();
	char line[512];

	if (h->cfg.quiet)
		return;
	if (now - h->mhd_log_window_s >= HTTPD_MHD_LOG_WINDOW_S) {
		if (h->mhd_log_dropped && !h->cfg.quiet)
			fprintf(stderr, "%s: libmicrohttpd: %llu more messages dropped\n",
				h->cfg.service, (unsigned long long)h->mhd_log_dropped);
		h->mhd_log_window_s = now;
		h->mhd_log_lines = 0;
		h->mhd_log_dropped = 0;
	}
	if (h->mhd_log_lines >= HTTPD_MHD_LOG_LINES) {
		h->mhd_log_dropped++;
		return;
	}
	h->mhd_log_lines++;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	fprintf(stderr, "%s: libmicrohttpd: %s\n", h->cfg.service, line);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct httpd *h = cls;
	struct httpd_req *r = calloc(1, sizeof(*r));
	size_t n;

	if (!r)
		return NULL;
	r->h = h;
	r->conn = conn;
	r->route = -1;
	clock_gettime(CLOCK_MONOTONIC, &r->t0);
	r->slot = conn_slot(conn);
	if (r->slot && r->slot->phase == CONN_IDLE) {
		/* A pipelined request the sweep has not seen begin. */
		r->slot->phase = CONN_RECEIVING;
		r->slot->t0_s = mono_s();
	}
	n = uri ? strlen(uri) : 0;
	if (n > HTTPD_TARGET_BYTES_MAX) {
		r->target_too_long = 1;
		n = HTTPD_TARGET_BYTES_MAX;
	}
	if (n)
		memcpy(r->target, uri, n);
	r->target[n] = '\0';
	snprintf(r->ip, sizeof(r->ip), "%s", r->slot ? r->slot->ip : "unknown");
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
	if (r->slot && r->slot->used) {
		r->slot->phase = CONN_IDLE;
		r->slot->idle_since_s = mono_s();
	}
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
	httpd_body_release(&r->body);
	free(r->resp);
	if (r->has_fd)
		(void)close(r->resp_fd);
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
		httpd_reply_builtin(r, HTTPD_P_INTERNAL, NULL);
	}
	if (r->slot) {
		r->slot->phase = CONN_ANSWERING;
		if (r->has_signer)
			r->slot->authed = 1;   /* off the unauthenticated bound */
	}
	if (r->has_fd) {
		/* MHD owns the descriptor from here, and closes it. */
		resp = MHD_create_response_from_fd64(r->resp_fd_size, r->resp_fd);
		if (resp)
			r->has_fd = 0;
	} else {
		resp = MHD_create_response_from_buffer(r->resp_len, r->resp,
						       MHD_RESPMEM_MUST_COPY);
	}
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (r->close_conn)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
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
			httpd_reply_builtin(r, HTTPD_P_NOT_READY, "%s", why[0] ? why : "not ready");
		else
			httpd_reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
	} else {
		size_t len = 0;
		char *txt = httpd_metrics_render(&h->metrics, h->cfg.service,
						 h->route_names, h->cfg.routes_len, &len);
		if (txt)
			httpd_reply_bytes(r, 200, "text/plain; version=0.0.4", txt, len);
		else
			httpd_reply_builtin(r, HTTPD_P_INTERNAL, NULL);
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
struct fields {
	struct httpd_field f[HTTPD_HEADER_FIELDS_MAX + 1];
	size_t n;
};

static enum MHD_Result collect_field(void *cls, enum MHD_ValueKind kind,
				     const char *key, size_t key_size,
				     const char *value, size_t value_size)
{
	struct fields *fs = cls;

	(void)kind;
	if (fs->n > HTTPD_HEADER_FIELDS_MAX)
		return MHD_NO;    /* one past the bound is enough to refuse */
	fs->f[fs->n].name = key;
	fs->f[fs->n].name_len = key ? key_size : 0;
	fs->f[fs->n].value = value;
	fs->f[fs->n].value_len = value ? value_size : 0;
	fs->n++;
	return MHD_YES;
}

/* RFC 9112 section 6.3 framing, before anything else reads the request:
 * a refusal closes the connection, so no byte after these headers is
 * ever read as another request. */
static int framing_refused(struct httpd_req *r)
{
	static const enum httpd_problem_id problem[] = {
		[HTTPD_FRAME_BAD] = HTTPD_P_BAD_FRAMING, [HTTPD_FRAME_CODING] = HTTPD_P_TRANSFER_CODING,
		[HTTPD_FRAME_TOO_MANY] = HTTPD_P_TOO_MANY_HEADERS,
	};
	struct fields fs;
	char why[160];
	enum httpd_frame_rc fr;

	fs.n = 0;
	(void)MHD_get_connection_values_n(r->conn, MHD_HEADER_KIND, collect_field, &fs);
	fr = httpd_frame_check(why, sizeof(why), fs.f, fs.n);
	if (fr == HTTPD_FRAME_OK)
		return 0;
	r->close_conn = 1;
	httpd_reply_builtin(r, problem[fr], "%s", why);
	return 1;
}

/* First call: headers only.  Decides the route and the body cap, and may
 * answer at once (400/501 framing, 404, 405, 413 by Content-Length, 415,
 * 429). */
static void request_start(struct httpd_req *r, const char *url)
{
	struct httpd *h = r->h;
	const struct httpd_route *rt;
	const char *cl;
	char key[64 + INET6_ADDRSTRLEN];

	if (framing_refused(r))
		return;
	if (r->target_too_long) {
		httpd_reply_builtin(r, HTTPD_P_URI_TOO_LONG, NULL);
		return;
	}
	if (is_builtin(r->method, url)) {
		r->route = strcmp(url, "/livez") == 0 ? HTTPD_ROUTE_LIVEZ :
			   strcmp(url, "/readyz") == 0 ? HTTPD_ROUTE_READYZ : HTTPD_ROUTE_METRICS;
		/* With handler threads /readyz (which may ask the database)
		 * waits for the body's end and goes to them. */
		if (!(h->cfg.workers && r->route == HTTPD_ROUTE_READYZ))
			builtin(r, url);
		return;
	}
	r->route = route_find(r, url);
	if (r->route == -2) {
		r->route = -1;
		httpd_reply_builtin(r, HTTPD_P_METHOD_NOT_ALLOWED,
				    "%s is not allowed on this path", r->method);
		return;
	}
	if (r->route < 0) {
		httpd_reply_builtin(r, HTTPD_P_NOT_FOUND, NULL);
		return;
	}
	snprintf(key, sizeof(key), "ip:%s", r->ip);
	if (!httpd_rate_take(&h->rate, key, mono_s())) {
		httpd_reply_builtin(r, HTTPD_P_RATE_LIMITED, "slow down and retry");
		return;
	}
	rt = &h->cfg.routes[r->route];
	r->body.max = rt->body_bytes_max ? rt->body_bytes_max : HTTPD_BODY_BYTES_ANON_MAX;
	/* A signed route's body comes before its signer is known. */
	if ((rt->flags & HTTPD_F_AUTH) && r->body.max > HTTPD_BODY_BYTES_ANON_MAX)
		r->body.max = HTTPD_BODY_BYTES_ANON_MAX;
	/* A JSON route takes only application/json: a browser cannot send
	 * that cross-origin without a CORS preflight, which we never grant. */
	if ((rt->flags & HTTPD_F_JSON) &&
	    !httpd_ctype_is_json(httpd_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		r->close_conn = 1;
		httpd_reply_builtin(r, HTTPD_P_UNSUPPORTED_MEDIA_TYPE,
				    "this route takes Content-Type: application/json");
		return;
	}
	cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	/* framing_refused made cl 1 to 12 digits. */
	if (cl && strtoull(cl, NULL, 10) > r->body.max) {
		r->close_conn = 1;
		httpd_reply_builtin(r, HTTPD_P_BODY_TOO_LARGE,
				    "this route takes at most %zu bytes", r->body.max);
		return;
	}
}

/* `Authorization: Bearer ak_...` (cfg.apikey_check): the key id's
 * bucket first, so that guessing a key's secret costs the guesser a
 * token per try and the service at most rate_per_s verifications a
 * second per key; then the store's verification; then the route's
 * scopes.  0, or -1 having answered. */
static int auth_apikey(struct httpd_req *r, const struct httpd_route *rt, const char *token)
{
	struct httpd *h = r->h;
	struct httpd_apikey k;
	char key[8 + HTTPD_APIKEY_ID_BYTES + 1];
	unsigned need = HTTPD_F_SCOPES_OF(rt->flags);
	enum httpd_store_rc rc;

	ASSAY_ASSERT(h->cfg.apikey_check && token);
	memset(&k, 0, sizeof(k));
	if (httpd_apikey_id(k.id, token)) {
		httpd_reply_builtin(r, HTTPD_P_UNAUTHENTICATED, "api key: malformed");
		return -1;
	}
	snprintf(key, sizeof(key), "apikey:%s", k.id);
	if (!httpd_rate_take(&h->rate, key, mono_s())) {
		httpd_reply_builtin(r, HTTPD_P_RATE_LIMITED, "slow down and retry");
		return -1;
	}
	rc = h->cfg.apikey_check(h->cfg.cls, &k, token, (uint64_t)time(NULL));
	if (rc != HTTPD_STORE_OK) {
		httpd_reply_builtin(r, rc == HTTPD_STORE_NOT_FOUND ? HTTPD_P_UNAUTHENTICATED
								  : HTTPD_P_UNAVAILABLE,
				    "api key: %s", rc == HTTPD_STORE_NOT_FOUND ?
				    "unknown, expired, revoked or wrong secret" : "store unavailable");
		return -1;
	}
	ASSAY_ASSERT(httpd_apikey_id(key, token) == 0 && strcmp(key, k.id) == 0);
	memcpy(r->signer, k.address, RCPT_ADDR_BYTES);
	memcpy(r->apikey, k.id, sizeof(r->apikey));
	r->has_apikey = 1;
	r->role = HTTPD_ROLE_NONE;
	r->has_signer = 1;
	if (need == 0 || (k.scopes & need) != need) {
		httpd_reply_builtin(r, HTTPD_P_INSUFFICIENT_SCOPE, need == 0 ?
				    "this route takes no api key: sign the request" :
				    "the api key lacks a scope this route needs");
		return -1;
	}
	return 0;
}

/* A session or an API key from `Authorization: Bearer`.  0, or -1
 * having answered. */
static int auth_bearer(struct httpd_req *r, const struct httpd_route *rt, const char *authz)
{
	struct httpd *h = r->h;
	unsigned need = HTTPD_F_SCOPES_OF(rt->flags), scopes = 0;
	enum httpd_err ae;

	/* Never together with signed-request headers, so that no request
	 * is authenticated two ways at once. */
	if (httpd_req_header(r, "Assay-Signature") || httpd_req_header(r, "Assay-Address")) {
		httpd_reply_builtin(r, HTTPD_P_UNAUTHENTICATED,
				    "send either Authorization: Bearer or the Assay-* signature headers, not both");
		return -1;
	}
	if (h->cfg.apikey_check && strncmp(authz, "Bearer ak_", 10) == 0)
		return auth_apikey(r, rt, authz + 7);
	if (!h->cfg.siwe) {
		httpd_reply_builtin(r, HTTPD_P_UNAUTHENTICATED, "session: %s",
				    httpd_strerror(HTTPD_ERR_SESSION));
		return -1;
	}
	ae = httpd_session_check(r->signer, &r->role, &scopes, h->cfg.siwe, h->cfg.cls,
				 authz, (uint64_t)time(NULL));
	if (ae) {
		httpd_reply_builtin(r, ae == HTTPD_ERR_STORE ? HTTPD_P_UNAVAILABLE
							     : HTTPD_P_UNAUTHENTICATED,
				    "session: %s", httpd_strerror(ae));
		return -1;
	}
	r->has_signer = 1;
	/* A session limited to scopes at sign-in is held to them as a key. */
	if (scopes && (need == 0 || (scopes & need) != need)) {
		httpd_reply_builtin(r, HTTPD_P_INSUFFICIENT_SCOPE, need == 0 ?
				    "this route takes no scoped session: sign the request" :
				    "the session lacks a scope this route needs");
		return -1;
	}
	return 0;
}

/* The bucket of the authenticated signer; an API key took its own
 * (auth_apikey) and takes none of its owner's.  0, or -1 having
 * answered 429. */
static int auth_rate(struct httpd_req *r)
{
	char key[64];
	char addr[RCPT_ADDR_HEX_BYTES];

	ASSAY_ASSERT(r->has_signer);
	if (r->has_apikey)
		return 0;
	rcpt_address_format(addr, r->signer);
	snprintf(key, sizeof(key), "addr:%s", addr);
	if (!httpd_rate_take(&r->h->rate, key, mono_s())) {
		httpd_reply_builtin(r, HTTPD_P_RATE_LIMITED, "slow down and retry");
		return -1;
	}
	return 0;
}

/* Step 7 of httpd.h: who sent an HTTPD_F_AUTH request, then the rate
 * limit by signer (an API key took its own bucket already).  0, or -1
 * having answered. */
static int request_auth(struct httpd_req *r, const struct httpd_route *rt)
{
	struct httpd *h = r->h;
	const char *authz = httpd_req_header(r, "Authorization");
	enum httpd_err ae;

	ASSAY_ASSERT(rt->flags & HTTPD_F_AUTH);
	if (authz && (h->cfg.siwe || h->cfg.apikey_check))
		return auth_bearer(r, rt, authz) ? -1 : auth_rate(r);
	ae = httpd_auth_verify(r->signer, httpd_req_header(r, "Assay-Address"),
			       httpd_req_header(r, "Assay-Timestamp"),
			       httpd_req_header(r, "Assay-Signature"),
			       r->method, r->target,
			       /* What the client signed: the header it sent,
				* on any route. */
			       r->idem ? r->idem : httpd_req_header(r, "Idempotency-Key"),
			       r->body.buf, r->body.len, (uint64_t)time(NULL));
	if (ae) {
		httpd_reply_builtin(r, HTTPD_P_UNAUTHENTICATED, "signed request: %s",
				    httpd_strerror(ae));
		return -1;
	}
	r->role = HTTPD_ROLE_NONE;
	r->has_signer = 1;   /* send_answer takes the connection off the
			      * unauthenticated bound */
	return auth_rate(r);
}

/* Body complete: checks in the order of httpd.h, then the handler. */
static void request_run(struct httpd_req *r)
{
	struct httpd *h = r->h;
	const struct httpd_route *rt = &h->cfg.routes[r->route];
	char why[256];

	if (r->body.too_large) {
		httpd_reply_builtin(r, HTTPD_P_BODY_TOO_LARGE,
				    "this route takes at most %zu bytes", r->body.max);
		return;
	}
	if (rt->flags & HTTPD_F_JSON) {
		r->json = httpd_json_parse(r->body.buf ? r->body.buf : "", r->body.len, why, sizeof(why));
		if (!r->json) {
			httpd_reply_builtin(r, HTTPD_P_MALFORMED_JSON, "%s", why);
			return;
		}
	}
	if (rt->flags & HTTPD_F_IDEM) {
		r->idem = httpd_req_header(r, "Idempotency-Key");
		if (!r->idem || !idem_key_ok(r->idem)) {
			r->idem = NULL;
			httpd_reply_builtin(r, HTTPD_P_IDEMPOTENCY_KEY,
					    "send an Idempotency-Key header of 1 to %d characters [A-Za-z0-9._:-]",
					    HTTPD_IDEM_KEY_BYTES_MAX);
			return;
		}
	}
	if ((rt->flags & HTTPD_F_AUTH) && request_auth(r, rt))
		return;
	if ((rt->flags & HTTPD_F_IDEM) && h->cfg.idem_begin &&
	    h->cfg.idem_begin(r, h->cfg.cls))
		return;
	if (!rt->body || httpd_body_check(r, r->json, rt->body) == 0)
		rt->fn(r, h->cfg.cls);
	if (r->status == 0) {
		/* A handler that did not answer is a bug; answer 500 still, and
		 * before idem_end, which must always follow idem_begin. */
		fprintf(stderr, "%s: route %s gave no answer\n", h->cfg.service, rt->pattern);
		httpd_reply_builtin(r, HTTPD_P_INTERNAL, NULL);
	}
	if ((rt->flags & HTTPD_F_IDEM) && h->cfg.idem_end)
		h->cfg.idem_end(r, h->cfg.cls);
}

/* What a handler thread (or the serving thread, without them) runs once
 * the body is complete. */
static void request_finish(struct httpd_req *r)
{
	if (r->route == HTTPD_ROUTE_READYZ)
		builtin(r, "/readyz");
	else
		request_run(r);
}

/* Hands a complete request to the handler threads; 0 when queued (its
 * connection is suspended until a handler thread resumes it). */
static int request_queue(struct httpd_req *r)
{
	struct httpd *h = r->h;

	if (atomic_load(&h->draining)) {
		r->close_conn = 1;
		httpd_reply_builtin(r, HTTPD_P_UNAVAILABLE, "shutting down");
		return -1;
	}
	if (r->slot)
		r->slot->phase = CONN_ANSWERING;   /* received: no deadline now */
	r->queued = 1;
	MHD_suspend_connection(r->conn);
	pthread_mutex_lock(&h->q_mu);
	if (h->q_tail)
		h->q_tail->q_next = r;
	else
		h->q_head = r;
	h->q_tail = r;
	pthread_cond_signal(&h->q_cv);
	pthread_mutex_unlock(&h->q_mu);
	return 0;
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
	if (r->queued) {
		/* Resumed by its handler thread: the answer is set. */
		ASSAY_ASSERT(atomic_load_explicit(&r->done, memory_order_acquire));
		return send_answer(r);
	}
	if (!r->started) {
		r->started = 1;
		r->method = method;
		request_start(r, url);
		if (r->status)
			return send_answer(r);
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (httpd_body_append(&r->body, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!r->status) {
		if (r->h->cfg.workers == 0)
			request_finish(r);
		else if (request_queue(r) == 0)
			return MHD_YES;
	}
	return send_answer(r);
}

struct httpd_worker {
	struct httpd *h;
	pthread_t thread;
	unsigned index;
};

static void *worker_main(void *arg)
{
	struct httpd_worker *w = arg;
	struct httpd *h = w->h;
	struct httpd_req *r;

	if (h->cfg.worker_start)
		h->cfg.worker_start(h->cfg.cls, w->index);
	for (;;) {
		pthread_mutex_lock(&h->q_mu);
		while (!h->q_head && !h->q_stop)
			pthread_cond_wait(&h->q_cv, &h->q_mu);
		r = h->q_head;
		if (r) {
			h->q_head = r->q_next;
			if (!h->q_head)
				h->q_tail = NULL;
			r->q_next = NULL;
		}
		pthread_mutex_unlock(&h->q_mu);
		if (!r)
			break;   /* stopping, and the queue is empty */
		request_finish(r);
		atomic_store_explicit(&r->done, 1, memory_order_release);
		MHD_resume_connection(r->conn);
		{
			uint64_t one = 1;
			(void)!write(h->wake_fd, &one, sizeof(one));
		}
	}
	if (h->cfg.worker_stop)
		h->cfg.worker_stop(h->cfg.cls);
	return NULL;
}

static enum httpd_err workers_start(struct httpd *h, char *why, size_t why_len)
{
	unsigned i;

	if (h->cfg.workers == 0)
		return HTTPD_OK;
	h->workers = calloc(h->cfg.workers, sizeof(*h->workers));
	if (!h->workers)
		return HTTPD_ERR_NOMEM;
	for (i = 0; i < h->cfg.workers; i++) {
		h->workers[i].h = h;
		h->workers[i].index = i;
		if (pthread_create(&h->workers[i].thread, NULL, worker_main, &h->workers[i])) {
			snprintf(why, why_len, "could not start handler thread %u", i);
			return HTTPD_ERR_NOMEM;
		}
		h->workers_started = i + 1;
	}
	return HTTPD_OK;
}

/* Lets the handler threads finish what is queued (the serving thread
 * still sends their answers), then ends them. */
static void workers_stop(struct httpd *h)
{
	unsigned i, n;

	atomic_store(&h->draining, 1);
	pthread_mutex_lock(&h->q_mu);
	h->q_stop = 1;
	n = h->workers_started;
	pthread_cond_broadcast(&h->q_cv);
	pthread_mutex_unlock(&h->q_mu);
	for (i = 0; i < n; i++)
		pthread_join(h->workers[i].thread, NULL);
	free(h->workers);
	h->workers = NULL;
	h->workers_started = 0;
}

/* ---------------------------------------------------------------- life */

/* A certificate or key file: a regular file (O_NONBLOCK, so that a FIFO
 * given by mistake cannot hang the start) of 1..CERT_FILE_BYTES_MAX
 * bytes that neither group nor others may read or write.  For a key
 * that is its secrecy; a certificate is public, but a PEM file given as
 * one may also hold the key, and one others may write is not the
 * operator's: both are refused alike. */
static char *read_small_file(const char *path, const char **refusal)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	*refusal = "could not be opened";
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*refusal = "is not a regular file";
	} else if (st.st_mode & 077) {
		*refusal = "can be read or written by group or others (chmod 600)";
	} else if (st.st_size <= 0 || (uint64_t)st.st_size > CERT_FILE_BYTES_MAX) {
		*refusal = "is empty or too large";
	} else if ((buf = malloc((size_t)st.st_size + 1))) {
		while (n < (size_t)st.st_size) {
			ssize_t got = read(fd, buf + n, (size_t)st.st_size - n);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				break;
			n += (size_t)got;
		}
		if (n != (size_t)st.st_size) {
			memset(buf, 0, (size_t)st.st_size + 1);
			free(buf);
			buf = NULL;
			*refusal = "could not be read";
		} else {
			buf[n] = '\0';
		}
	}
	close(fd);
	return buf;
}

/* A declared body only on a JSON route, with named keys, each once. */
static int body_decl_refused(const struct httpd_route *rt)
{
	const struct httpd_body_decl *b = rt->body;
	size_t i, j;

	if (!b)
		return 0;
	if (!(rt->flags & HTTPD_F_JSON) || b->keys_len > HTTPD_BODY_KEYS_MAX ||
	    (!b->keys && b->keys_len))
		return 1;
	for (i = 0; i < b->keys_len; i++) {
		if (!b->keys[i].name || b->keys[i].type > HTTPD_KEY_U256)
			return 1;
		for (j = 0; j < i; j++)
			if (strcmp(b->keys[i].name, b->keys[j].name) == 0)
				return 1;
	}
	return 0;
}

static enum httpd_err config_check(char *why, size_t why_len, const struct httpd_config *cfg)
{
	size_t i;

	if (!cfg || !cfg->service || !cfg->host || !cfg->routes ||
	    cfg->routes_len > HTTPD_ROUTES_MAX ||
	    (!cfg->idem_begin) != (!cfg->idem_end) ||
	    (!cfg->tls_cert_path) != (!cfg->tls_key_path) ||
	    cfg->connections_max > HTTPD_CONNECTIONS_MAX * 16 ||
	    cfg->workers > HTTPD_WORKERS_MAX ||
	    cfg->request_deadline_s > HTTPD_REQUEST_DEADLINE_S_MAX) {
		snprintf(why, why_len, "invalid httpd configuration");
		return HTTPD_ERR_ARG;
	}
	for (i = 0; i < cfg->routes_len; i++) {
		if (!cfg->routes[i].method || !cfg->routes[i].pattern ||
		    !cfg->routes[i].fn || cfg->routes[i].pattern[0] != '/' ||
		    cfg->routes[i].body_bytes_max > HTTPD_BODY_BYTES_MAX ||
		    body_decl_refused(&cfg->routes[i]) ||
		    /* scopes only where a key could authenticate */
		    (HTTPD_F_SCOPES_OF(cfg->routes[i].flags) &&
		     !(cfg->routes[i].flags & HTTPD_F_AUTH))) {
			snprintf(why, why_len, "invalid route %zu", i);
			return HTTPD_ERR_ARG;
		}
	}
	return HTTPD_OK;
}

static enum httpd_err tls_load(struct httpd *h, unsigned *flags, char *why, size_t why_len)
{
	const struct httpd_config *cfg = &h->cfg;
	const char *refusal = NULL;

	if (!cfg->tls_cert_path)
		return HTTPD_OK;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		snprintf(why, why_len, "this libmicrohttpd has no tls support");
		return HTTPD_ERR_TLS;
	}
	h->tls_cert = read_small_file(cfg->tls_cert_path, &refusal);
	if (!h->tls_cert) {
		snprintf(why, why_len, "tls certificate '%s' %s", cfg->tls_cert_path, refusal);
		return HTTPD_ERR_TLS;
	}
	h->tls_key = read_small_file(cfg->tls_key_path, &refusal);
	if (!h->tls_key) {
		snprintf(why, why_len, "tls key '%s' %s", cfg->tls_key_path, refusal);
		return HTTPD_ERR_TLS;
	}
	*flags |= MHD_USE_TLS;
	return HTTPD_OK;
}

/* libmicrohttpd runs without a thread of its own: serve() drives it
 * with MHD_run_wait and sweeps the connection table in between, so
 * every callback and the sweep share one thread. */
static struct MHD_Daemon *mhd_start(struct httpd *h, unsigned flags, struct sockaddr_in *sa)
{
	const struct httpd_config *cfg = &h->cfg;
	unsigned per_ip = cfg->connections_per_ip_max ? cfg->connections_per_ip_max
						      : HTTPD_CONNECTIONS_PER_IP_MAX;
	unsigned idle_s = cfg->connection_timeout_s ? cfg->connection_timeout_s
						    : HTTPD_CONNECTION_TIMEOUT_S;
	struct MHD_OptionItem tls[] = {
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key },
		{ MHD_OPTION_HTTPS_PRIORITIES, 0,
		  (void *)(cfg->tls_allow_12 ? HTTPD_TLS_PRIORITIES_12 : HTTPD_TLS_PRIORITIES) },
		{ MHD_OPTION_END, 0, NULL },
	};

	return MHD_start_daemon(flags, 0, on_accept, h, on_access, h,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,   /* first, as MHD asks */
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)sa,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, h,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, h,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)h->conns_len,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, idle_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTPD_CONNECTION_MEMORY_BYTES,
		/* RFC 9112 section 3.2: an HTTP/1.1 request without Host is 400. */
		MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
		MHD_OPTION_ARRAY, h->tls_cert ? tls : tls + 3,
		MHD_OPTION_END);
}

static enum httpd_err conns_init(struct httpd *h)
{
	const struct httpd_config *cfg = &h->cfg;

	h->conns_max = cfg->connections_max ? cfg->connections_max : HTTPD_CONNECTIONS_MAX;
	h->conns_len = h->conns_max + HTTPD_CONNECTIONS_HEADROOM;
	h->preauth_per_ip = cfg->connections_preauth_per_ip_max
				    ? cfg->connections_preauth_per_ip_max
				    : HTTPD_CONNECTIONS_PREAUTH_PER_IP_MAX;
	h->deadline_s = cfg->request_deadline_s ? cfg->request_deadline_s
						: HTTPD_REQUEST_DEADLINE_S;
	h->conns = calloc(h->conns_len, sizeof(*h->conns));
	return h->conns ? HTTPD_OK : HTTPD_ERR_NOMEM;
}

enum httpd_err httpd_start(struct httpd **out, char *why, size_t why_len,
			   const struct httpd_config *cfg)
{
	struct httpd *h = NULL;
	struct sockaddr_in sa;
	const union MHD_DaemonInfo *di;
	unsigned flags = MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	enum httpd_err rc;
	char dummy[8];

	if (!why) {
		why = dummy;
		why_len = sizeof(dummy);
	}
	why[0] = '\0';
	rc = out ? config_check(why, why_len, cfg) : HTTPD_ERR_ARG;
	if (rc)
		goto out;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(cfg->port);
	if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
		snprintf(why, why_len, "could not parse listen address '%s'", cfg->host);
		rc = HTTPD_ERR_ARG;
		goto out;
	}
	rc = HTTPD_ERR_NOMEM;
	h = calloc(1, sizeof(*h));
	if (!h)
		goto out;
	h->cfg = *cfg;
	atomic_init(&h->stop, 0);
	atomic_init(&h->draining, 0);
	h->wake_fd = -1;
	pthread_mutex_init(&h->q_mu, NULL);
	pthread_cond_init(&h->q_cv, NULL);
	if (cfg->workers) {
		flags = (flags & ~(unsigned)MHD_USE_AUTO) | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
		h->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (h->wake_fd < 0)
			goto out;
	}
	for (size_t i = 0; i < cfg->routes_len; i++)
		h->route_names[i] = cfg->routes[i].pattern;
	httpd_rate_init(&h->rate, cfg->rate_per_s > 0 ? cfg->rate_per_s : HTTPD_RATE_PER_S_DEFAULT,
			cfg->rate_burst >= 1 ? cfg->rate_burst : HTTPD_RATE_BURST_DEFAULT);
	httpd_rate_init(&h->signin_rate,
			cfg->signin_rate_per_s > 0 ? cfg->signin_rate_per_s : HTTPD_SIWE_RATE_PER_S,
			cfg->signin_rate_burst >= 1 ? cfg->signin_rate_burst : HTTPD_SIWE_RATE_BURST);
	httpd_metrics_init(&h->metrics);
	if ((rc = conns_init(h)) != HTTPD_OK || (rc = tls_load(h, &flags, why, why_len)) != HTTPD_OK)
		goto out;
	rc = HTTPD_ERR_LISTEN;
	h->mhd = mhd_start(h, flags, &sa);
	if (!h->mhd) {
		snprintf(why, why_len, "could not listen on %s:%u", cfg->host, (unsigned)cfg->port);
		goto out;
	}
	di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : cfg->port;
	h->last_sweep_s = mono_s();
	if ((rc = workers_start(h, why, why_len)) != HTTPD_OK)
		goto out;
	rc = HTTPD_ERR_LISTEN;
	if (pthread_create(&h->thread, NULL, serve, h) != 0) {
		snprintf(why, why_len, "could not start the serving thread");
		goto out;
	}
	h->thread_started = 1;
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
	/* Handler threads first: the serving thread sends what they finish. */
	workers_stop(h);
	if (h->thread_started) {
		atomic_store(&h->stop, 1);
		pthread_join(h->thread, NULL);
	}
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	free(h->conns);
	httpd_rate_release(&h->rate);
	httpd_rate_release(&h->signin_rate);
	httpd_metrics_release(&h->metrics);
	if (h->tls_key) {
		memset(h->tls_key, 0, strlen(h->tls_key));
		free(h->tls_key);
	}
	free(h->tls_cert);
	if (h->wake_fd >= 0)
		close(h->wake_fd);
	pthread_cond_destroy(&h->q_cv);
	pthread_mutex_destroy(&h->q_mu);
	free(h);
}
