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

static int name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > HTTPD_METRIC_NAME_BYTES_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];
		int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
		if (!alpha && !(i > 0 && c >= '0' && c <= '9') && c != ':')
			return 0;
	}
	return 1;
}

static int ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);
	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* name="value"[,name="value"...]: label names as metric names without
 * ':', values without '"', '\\' or control characters. */
static int labels_ok(const char *s)
{
	const char *p = s;

	if (strlen(s) > HTTPD_METRIC_LABELS_BYTES_MAX)
		return 0;
	while (*p) {
		const char *eq = strchr(p, '=');
		char name[HTTPD_METRIC_LABELS_BYTES_MAX + 1];

		if (!eq || eq == p || (size_t)(eq - p) >= sizeof(name) || eq[1] != '"')
			return 0;
		memcpy(name, p, (size_t)(eq - p));
		name[eq - p] = '\0';
		if (!name_ok(name) || strchr(name, ':') || strncmp(name, "__", 2) == 0)
			return 0;
		for (p = eq + 2; *p && *p != '"'; p++)
			if (*p == '\\' || (unsigned char)*p < 0x20 || *p == 0x7f)
				return 0;
		if (*p != '"')
			return 0;
		p++;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return 0;
	}
	return 1;
}

static int help_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > HTTPD_METRIC_HELP_BYTES_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
			return 0;
	return 1;
}

static int metric_ok(int counter, const char *family, const char *labels, const char *help)
{
	if (!family || !help || !name_ok(family) || !help_ok(help) ||
	    (labels && !labels_ok(labels)))
		return 0;
	/* promtool: counters end in _total, nothing else does; the
	 * histogram's reserved suffixes are not for gauges either. */
	if (counter != ends_with(family, "_total"))
		return 0;
	return !ends_with(family, "_bucket") && !ends_with(family, "_count") &&
	       !ends_with(family, "_sum");
}

int httpd_metrics_set(struct httpd_metrics *m, int counter, const char *family,
		      const char *labels, const char *help, double v)
{
	size_t i;
	int rc = 0;

	if (!m || !metric_ok(counter, family, labels, help))
		return -1;
	if (!labels)
		labels = "";
	pthread_mutex_lock(&m->mu);
	for (i = 0; i < m->gauges_len; i++) {
		struct httpd_gauge *g = &m->gauges[i];
		if (strcmp(g->family, family) != 0)
			continue;
		if (g->counter != counter || strcmp(g->help, help) != 0) {
			rc = -1;   /* one family, one type, one help */
			goto out;
		}
		if (strcmp(g->labels, labels) == 0)
			break;
	}
	if (i == m->gauges_len) {
		if (i == HTTPD_GAUGES_MAX) {
			/* A series lost from /metrics is a bug to see, once. */
			if (!m->full_said)
				fprintf(stderr, "httpd: event=metrics-full family=%s: more than %d "
					"gauge and counter series; this and later new ones are not "
					"exported (raise HTTPD_GAUGES_MAX)\n", family, HTTPD_GAUGES_MAX);
			m->full_said = 1;
			rc = -1;
			goto out;
		}
		snprintf(m->gauges[i].family, sizeof(m->gauges[i].family), "%s", family);
		snprintf(m->gauges[i].labels, sizeof(m->gauges[i].labels), "%s", labels);
		snprintf(m->gauges[i].help, sizeof(m->gauges[i].help), "%s", help);
		m->gauges[i].counter = counter;
		m->gauges_len++;
	}
	m->gauges[i].value = v;
out:
	pthread_mutex_unlock(&m->mu);
	return rc;
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

/* The service's series grouped by family, each family under its HELP and
 * TYPE lines, families in the order they were first set. */
static void render_service(struct text *t, const struct httpd_metrics *m)
{
	size_t i, j;

	for (i = 0; i < m->gauges_len; i++) {
		const struct httpd_gauge *g = &m->gauges[i];
		for (j = 0; j < i; j++)
			if (strcmp(m->gauges[j].family, g->family) == 0)
				break;
		if (j < i)
			continue;   /* family printed already */
		text_printf(t, "# HELP %s %s\n# TYPE %s %s\n", g->family, g->help, g->family,
			    g->counter ? "counter" : "gauge");
		for (j = i; j < m->gauges_len; j++) {
			const struct httpd_gauge *s = &m->gauges[j];
			if (strcmp(s->family, g->family) != 0)
				continue;
			text_printf(t, "%s%s%s%s %.17g\n", s->family, s->labels[0] ? "{" : "",
				    s->labels, s->labels[0] ? "}" : "", s->value);
		}
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
	render_service(&t, m);
	pthread_mutex_unlock(&m->mu);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
