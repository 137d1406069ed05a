/*
 * test_httpd_workers.c: httpd's handler threads (httpd_config.workers) on
 * loopback.  A handler that blocks (as one waiting on a database lock
 * does) holds up neither /livez nor /metrics nor a request that another
 * handler thread can take; when every handler thread is busy, requests
 * wait in the queue and are answered once one frees; each thread gets
 * its own start and stop hook; shutting down lets a running handler
 * finish and its client get the answer.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "httpd.h"
#include "httpc.h"
#include "banned.h"

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static atomic_int entered, started_mask, stopped;
static __thread int thread_index = -1;

static void h_block(struct httpd_req *r, void *cls)
{
	(void)cls;
	atomic_fetch_add(&entered, 1);
	pthread_mutex_lock(&gate_mu);
	while (!gate_open)
		pthread_cond_wait(&gate_cv, &gate_mu);
	pthread_mutex_unlock(&gate_mu);
	httpd_reply_json(r, 200, json_pack("{s:i}", "thread", thread_index));
}

static void h_fast(struct httpd_req *r, void *cls)
{
	(void)cls;
	httpd_reply_json(r, 200, json_pack("{s:i}", "thread", thread_index));
}

static void w_start(void *cls, unsigned index)
{
	(void)cls;
	thread_index = (int)index;
	atomic_fetch_or(&started_mask, 1 << index);
}

static void w_stop(void *cls)
{
	(void)cls;
	cr_assert_geq(thread_index, 0, "stop hook on a thread that never started");
	atomic_fetch_add(&stopped, 1);
}

static int w_ready(void *cls, char *why, size_t why_len)
{
	(void)cls;
	(void)why;
	(void)why_len;
	/* /readyz runs on a handler thread when there are some. */
	return thread_index < 0;
}

static const struct httpd_route w_routes[] = {
	{ "GET", "/block", h_block, 0, 0, NULL },
	{ "GET", "/fast", h_fast, 0, 0, NULL },
};

static struct httpd *w_server(unsigned workers)
{
	struct httpd_config c;
	struct httpd *h = NULL;
	char why[256];

	memset(&c, 0, sizeof(c));
	c.service = "test-httpd-workers";
	c.host = "127.0.0.1";
	c.routes = w_routes;
	c.routes_len = sizeof(w_routes) / sizeof(w_routes[0]);
	c.quiet = 1;
	c.workers = workers;
	c.worker_start = w_start;
	c.worker_stop = w_stop;
	c.ready = w_ready;
	c.rate_per_s = 10000;
	c.rate_burst = 10000;
	gate_open = 0;
	atomic_store(&entered, 0);
	atomic_store(&started_mask, 0);
	atomic_store(&stopped, 0);
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_OK, "%s", why);
	return h;
}

static void gate_release(void)
{
	pthread_mutex_lock(&gate_mu);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

struct client {
	pthread_t t;
	uint16_t port;
	const char *target;
	struct hc_resp r;
	int rc;
	atomic_int done;
};

static void *client_main(void *arg)
{
	struct client *c = arg;

	c->rc = hc_request(&c->r, c->port, "GET", c->target, NULL, NULL, 0);
	atomic_store(&c->done, 1);
	return NULL;
}

static void client_go(struct client *c, uint16_t port, const char *target)
{
	memset(c, 0, sizeof(*c));
	c->port = port;
	c->target = target;
	cr_assert_eq(pthread_create(&c->t, NULL, client_main, c), 0);
}

static int thread_of(const struct hc_resp *r)
{
	json_t *j = json_loads(r->body, 0, NULL);
	int t;

	cr_assert(j, "%s", r->body);
	t = (int)json_integer_value(json_object_get(j, "thread"));
	json_decref(j);
	return t;
}

static void wait_entered(int n)
{
	for (int i = 0; i < 500 && atomic_load(&entered) < n; i++)
		usleep(10000);
	cr_assert_eq(atomic_load(&entered), n);
}

static void get_ok(struct hc_resp *r, uint16_t port, const char *target)
{
	cr_assert_eq(hc_request(r, port, "GET", target, NULL, NULL, 0), 0, "%s", target);
	cr_assert_eq(r->status, 200, "%s: %d %s", target, r->status, r->body);
}

Test(httpd_workers, a_blocked_handler_holds_up_neither_probes_nor_other_requests, .timeout = 30)
{
	struct httpd *h = w_server(2);
	uint16_t port = httpd_port(h);
	struct client a, b, c;
	struct hc_resp r;
	int ta, tb;

	client_go(&a, port, "/block");
	wait_entered(1);
	/* One handler thread waits; the other takes this, the serving
	 * thread answers the probes. */
	get_ok(&r, port, "/fast");
	cr_assert(thread_of(&r) == 0 || thread_of(&r) == 1);
	hc_resp_free(&r);
	get_ok(&r, port, "/readyz");
	hc_resp_free(&r);
	client_go(&b, port, "/block");
	wait_entered(2);
	/* Both handler threads wait now: the probes still answer. */
	get_ok(&r, port, "/livez");
	hc_resp_free(&r);
	get_ok(&r, port, "/metrics");
	cr_assert(strstr(r.body, "test-httpd-workers") || strstr(r.body, "# TYPE"), "%s", r.body);
	hc_resp_free(&r);
	/* A request with no free thread waits in the queue... */
	client_go(&c, port, "/fast");
	usleep(300 * 1000);
	cr_assert_eq(atomic_load(&c.done), 0, "answered with every handler thread busy");
	cr_assert_eq(atomic_load(&a.done) + atomic_load(&b.done), 0);
	/* ...and is answered once they free. */
	gate_release();
	pthread_join(a.t, NULL);
	pthread_join(b.t, NULL);
	pthread_join(c.t, NULL);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(b.rc, 0);
	cr_assert_eq(c.rc, 0);
	cr_assert_eq(a.r.status, 200);
	cr_assert_eq(b.r.status, 200);
	cr_assert_eq(c.r.status, 200);
	ta = thread_of(&a.r);
	tb = thread_of(&b.r);
	cr_assert(ta != tb && ta >= 0 && tb >= 0 && ta < 2 && tb < 2, "threads %d and %d", ta, tb);
	hc_resp_free(&a.r);
	hc_resp_free(&b.r);
	hc_resp_free(&c.r);
	cr_assert_eq(atomic_load(&started_mask), 3);
	httpd_free(h);
	cr_assert_eq(atomic_load(&stopped), 2);
}

/* Without handler threads every handler runs on the serving thread: the
 * hooks never run and /readyz is answered there (w_ready says so). */
Test(httpd_workers, none_means_the_serving_thread, .timeout = 30)
{
	struct httpd *h = w_server(0);
	uint16_t port = httpd_port(h);
	struct hc_resp r;

	get_ok(&r, port, "/fast");
	cr_assert_eq(thread_of(&r), -1);
	hc_resp_free(&r);
	cr_assert_eq(hc_request(&r, port, "GET", "/readyz", NULL, NULL, 0), 0);
	cr_assert_eq(r.status, 503, "%s", r.body);
	hc_resp_free(&r);
	httpd_free(h);
	cr_assert_eq(atomic_load(&started_mask), 0);
	cr_assert_eq(atomic_load(&stopped), 0);
}

struct stopper {
	pthread_t t;
	struct httpd *h;
	atomic_int done;
};

static void *stopper_main(void *arg)
{
	struct stopper *s = arg;

	httpd_free(s->h);
	atomic_store(&s->done, 1);
	return NULL;
}

/* httpd_free waits for a running handler and sends its answer. */
Test(httpd_workers, stopping_lets_a_running_handler_answer, .timeout = 30)
{
	struct httpd *h = w_server(1);
	struct client a;
	struct stopper s;

	client_go(&a, httpd_port(h), "/block");
	wait_entered(1);
	memset(&s, 0, sizeof(s));
	s.h = h;
	cr_assert_eq(pthread_create(&s.t, NULL, stopper_main, &s), 0);
	usleep(300 * 1000);
	cr_assert_eq(atomic_load(&s.done), 0, "httpd_free did not wait for the handler");
	gate_release();
	pthread_join(a.t, NULL);
	pthread_join(s.t, NULL);
	cr_assert_eq(a.rc, 0);
	cr_assert_eq(a.r.status, 200, "%s", a.r.body);
	cr_assert_eq(thread_of(&a.r), 0);
	hc_resp_free(&a.r);
	cr_assert_eq(atomic_load(&stopped), 1);
}

Test(httpd_workers, too_many_threads_refused)
{
	struct httpd_config c;
	struct httpd *h = NULL;
	char why[256];

	memset(&c, 0, sizeof(c));
	c.service = "test-httpd-workers";
	c.host = "127.0.0.1";
	c.routes = w_routes;
	c.routes_len = 2;
	c.workers = HTTPD_WORKERS_MAX + 1;
	cr_assert_eq(httpd_start(&h, why, sizeof(why), &c), HTTPD_ERR_ARG);
	cr_assert_null(h);
}
