/*
 * metrics.c: request counters by (route, status), one latency histogram
 * and the service's gauges, rendered in the Prometheus text format.
 * Bounded: HTTPD_METRIC_SERIES_MAX series, HTTPD_GAUGES_MAX gauges.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_internal.h"
#include "banned.h"

static const double lat_le_s[HTTPD_LAT_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
};

void httpd_metrics_init(struct httpd_metrics *m)
{
	assert(m);
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->mu, NULL);
}

void httpd_metrics_release(struct httpd_metrics *m)
{
	if (m)
		pthread_mutex_destroy(&m->mu);
}

void httpd_metrics_count(struct httpd_metrics *m, int route, unsigned status,
			 double latency_s)
{
	size_t i;

	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->series_len; i++)
		if (m->series[i].route == route && m->series[i].status == status)
			break;
	if (i == m->series_len && i < HTTPD_METRIC_SERIES_MAX) {
		m->series[i].route = route;
		m->series[i].status = status;
		m->series[i].count = 0;
		m->series_len++;
	}
	if (i < m->series_len)
		m->series[i].count++;
	else
		m->other++;
	for (i = 0; i < HTTPD_LAT_BUCKETS; i++)
		if (latency_s <= lat_le_s[i])
			m->lat_bucket[i]++;
	m->lat_count++;
	m->lat_sum_s += latency_s;
	pthread_mutex_unlock(&m->mu);
}

void httpd_metrics_gauge(struct httpd_metrics *m, const char *name, double v)
{
	size_t i;

	if (!name || strlen(name) >= sizeof(m->gauges[0].name))
		return;
	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->gauges_len; i++)
		if (strcmp(m->gauges[i].name, name) == 0)
			break;
	if (i == m->gauges_len && i < HTTPD_GAUGES_MAX) {
		snprintf(m->gauges[i].name, sizeof(m->gauges[i].name), "%s", name);
		m->gauges_len++;
	}
	if (i < m->gauges_len)
		m->gauges[i].value = v;
	pthread_mutex_unlock(&m->mu);
}

struct text {
	char *buf;
	size_t len, cap;
	int failed;
};

static void text_printf(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->failed)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		char *nb = realloc(t->buf, t->cap * 2 + (size_t)n);
		if (!nb) {
			t->failed = 1;
			return;
		}
		t->buf = nb;
		t->cap = t->cap * 2 + (size_t)n;
	}
}

char *httpd_metrics_render(struct httpd_metrics *m, const char *service,
			   const char *const *route_names, size_t routes_len,
			   size_t *len)
{
	struct text t = { malloc(4096), 0, 4096, 0 };
	size_t i;

	if (!t.buf)
		return NULL;
	t.buf[0] = '\0';
	pthread_mutex_lock(&m->mu);
	text_printf(&t, "# HELP assay_http_requests_total HTTP requests by route and status.\n"
		    "# TYPE assay_http_requests_total counter\n");
	for (i = 0; i < m->series_len; i++) {
		const struct httpd_series *s = &m->series[i];
		const char *rn = (s->route >= 0 && (size_t)s->route < routes_len)
					 ? route_names[s->route]
				 : s->route == HTTPD_ROUTE_LIVEZ ? "/livez"
				 : s->route == HTTPD_ROUTE_READYZ ? "/readyz"
				 : s->route == HTTPD_ROUTE_METRICS ? "/metrics" : "none";
		text_printf(&t, "assay_http_requests_total{service=\"%s\",route=\"%s\",status=\"%u\"} %llu\n",
			    service, rn, s->status, (unsigned long long)s->count);
	}
	if (m->other)
		text_printf(&t, "assay_http_requests_total{service=\"%s\",route=\"other\",status=\"other\"} %llu\n",
			    service, (unsigned long long)m->other);
	text_printf(&t, "# HELP assay_http_request_duration_seconds Request latency.\n"
		    "# TYPE assay_http_request_duration_seconds histogram\n");
	for (i = 0; i < HTTPD_LAT_BUCKETS; i++)
		text_printf(&t, "assay_http_request_duration_seconds_bucket{service=\"%s\",le=\"%g\"} %llu\n",
			    service, lat_le_s[i], (unsigned long long)m->lat_bucket[i]);
	text_printf(&t, "assay_http_request_duration_seconds_bucket{service=\"%s\",le=\"+Inf\"} %llu\n"
		    "assay_http_request_duration_seconds_sum{service=\"%s\"} %.6f\n"
		    "assay_http_request_duration_seconds_count{service=\"%s\"} %llu\n",
		    service, (unsigned long long)m->lat_count, service, m->lat_sum_s,
		    service, (unsigned long long)m->lat_count);
	for (i = 0; i < m->gauges_len; i++)
		text_printf(&t, "%s %.17g\n", m->gauges[i].name, m->gauges[i].value);
	pthread_mutex_unlock(&m->mu);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
