/*
 * main.c: assay-validator, the daemon around valid_node (validator.h).
 * docs/validator.md describes the flags and what the node does.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd_client.h"
#include "sandbox.h"
#include "sbx_limits.h"
#include "validator.h"

#include "banned.h"

static const char usage[] =
	"usage: assay-validator --escrow URL --key FILE --state-dir DIR\n"
	"       [--listen HOST:PORT] [--queue-max N] [--workers N] [--cpu-s-per-min N]\n"
	"       [--job-cpu-s N] [--job-threads N] [--sandbox best-effort|strict]\n"
	"       [--device auto|cpu|cuda] [--poll-ms N] [--fetch-tries N] [--fetch-timeout-ms N]\n"
	"       [--fetch-backoff-ms N] [--no-reveal] [--quiet] [--lie (tests, chain 31337 only)]\n"
	"       [--lazy-bps N (tests, chain 31337 only: check what the seed selects at N bps)]\n"
	"       [--tls-cert FILE --tls-key FILE] [--tls-allow-1.2] [--ca-file FILE]\n"
	"       assay-validator --print-routes   (the route table, METHOD PATH a line)\n"
	"--tls-cert/--tls-key serve HTTPS (TLS 1.3; the key mode 0600), --tls-allow-1.2\n"
	"also TLS 1.2 (ECDHE and AEAD only); --ca-file: verify the escrow and the\n"
	"providers against this CA bundle instead of the system's\n";

/* --print-routes: the route table, one "METHOD PATH" a line, for
 * tests/openapi/check.mjs to compare with docs/validator-openapi.yaml. */
static int print_routes(void)
{
	for (size_t i = 0; i < valid_routes_len; i++)
		printf("%s %s\n", valid_routes[i].method, valid_routes[i].pattern);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static int parse_uint(unsigned *out, const char *s, unsigned max)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

struct args {
	struct valid_config cfg;
	char host[64];
	unsigned port;
	const char *ca_file;
	int reveal;
};

/* --listen HOST:PORT into a; 0, or 1 when it does not parse. */
static int listen_arg(struct args *a, const char *v)
{
	const char *colon = strrchr(v, ':');

	if (!colon || (size_t)(colon - v) >= sizeof(a->host) ||
	    parse_uint(&a->port, colon + 1, 65535))
		return 1;
	snprintf(a->host, sizeof(a->host), "%.*s", (int)(colon - v), v);
	return 0;
}

/* A flag that takes a value: 0 taken, 1 bad value, -1 not such a flag. */
static int value_arg(struct args *a, const char *f, const char *v)
{
	struct valid_config *c = &a->cfg;

	if (!v)
		return -1;
	if (strcmp(f, "--escrow") == 0)
		c->escrow_url = v;
	else if (strcmp(f, "--key") == 0)
		c->key_path = v;
	else if (strcmp(f, "--state-dir") == 0)
		c->state_dir = v;
	else if (strcmp(f, "--listen") == 0)
		return listen_arg(a, v);
	else if (strcmp(f, "--queue-max") == 0)
		return parse_uint(&c->queue_max, v, VALID_QUEUE_MAX);
	else if (strcmp(f, "--workers") == 0)
		return parse_uint(&c->workers, v, VALID_WORKERS_MAX);
	else if (strcmp(f, "--cpu-s-per-min") == 0)
		return parse_uint(&c->cpu_s_per_min, v, VALID_CPU_S_PER_MIN_MAX);
	else if (strcmp(f, "--job-cpu-s") == 0)
		return parse_uint(&c->job_cpu_s, v, 3600u);
	else if (strcmp(f, "--job-threads") == 0)
		return parse_uint(&c->job_threads, v, SBX_THREADS_MAX) || !c->job_threads;
	else if (strcmp(f, "--sandbox") == 0) {
		if (strcmp(v, "strict") != 0 && strcmp(v, "best-effort") != 0)
			return 1;
		c->sandbox_strict = strcmp(v, "strict") == 0;
	} else if (strcmp(f, "--device") == 0)
		c->device = v;
	else if (strcmp(f, "--tls-cert") == 0)
		c->tls_cert = v;
	else if (strcmp(f, "--tls-key") == 0)
		c->tls_key = v;
	else if (strcmp(f, "--ca-file") == 0)
		a->ca_file = v;
	else if (strcmp(f, "--poll-ms") == 0)
		return parse_uint(&c->poll_ms, v, VALID_POLL_MS_MAX);
	else if (strcmp(f, "--fetch-tries") == 0)
		return parse_uint(&c->fetch_tries, v, VALID_FETCH_TRIES_MAX);
	else if (strcmp(f, "--fetch-timeout-ms") == 0)
		return parse_uint(&c->fetch_timeout_ms, v, 3600u * 1000u);
	else if (strcmp(f, "--fetch-backoff-ms") == 0)
		return parse_uint(&c->fetch_backoff_ms, v, VALID_FETCH_BACKOFF_MS_MAX);
	else if (strcmp(f, "--lazy-bps") == 0) {
		c->lazy_set = 1;
		return parse_uint(&c->lazy_bps, v, 10000u);
	}
	else
		return -1;
	return 0;
}

/* A flag without a value: 0 taken, 1 not such a flag. */
static int switch_arg(struct args *a, const char *f)
{
	if (strcmp(f, "--lie") == 0)
		a->cfg.lie = 1;
	else if (strcmp(f, "--no-reveal") == 0)
		a->reveal = 0;
	else if (strcmp(f, "--quiet") == 0)
		a->cfg.quiet = 1;
	else if (strcmp(f, "--tls-allow-1.2") == 0)
		a->cfg.tls_allow_12 = 1;
	else if (strcmp(f, "--print-routes") == 0)
		exit(print_routes());
	else if (strcmp(f, "--help") == 0 || strcmp(f, "-h") == 0) {
		fputs(usage, stdout);
		exit(0);
	}
	else
		return 1;
	return 0;
}

/* argv into *a: 0, or the exit status (2) having said why. */
static int parse_args(struct args *a, int argc, char **argv)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "127.0.0.1");
	a->reveal = 1;
	for (int i = 1; i < argc; i++) {
		const char *f = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r = value_arg(a, f, v);

		if (r < 0)
			r = switch_arg(a, f);
		else
			i++;
		if (r) {
			fprintf(stderr, "assay-validator: bad argument '%s'\n%s", f, usage);
			return 2;
		}
	}
	if (!a->cfg.escrow_url || !a->cfg.key_path || !a->cfg.state_dir) {
		fputs(usage, stderr);
		return 2;
	}
	if ((!a->cfg.tls_cert) != (!a->cfg.tls_key)) {
		fprintf(stderr, "assay-validator: --tls-cert and --tls-key go together\n");
		return 2;
	}
	a->cfg.listen_host = a->host;
	a->cfg.listen_port = (uint16_t)a->port;
	return 0;
}

/* What the process needs before its first thread: 0, or 1 having said
 * why. */
static int process_setup(const struct args *a, sigset_t *set)
{
	char why[512] = "";

	/* A multithreaded daemon execs its workers (sandbox.h). */
	if (sbx_use_worker_beside_self(why, sizeof(why))) {
		fprintf(stderr, "assay-validator: %s\n", why);
		return 1;
	}
	/* The escrow and the providers it fetches from, verified against it. */
	if (a->ca_file && httpd_client_set_ca_file(a->ca_file, why, sizeof(why))) {
		fprintf(stderr, "assay-validator: --ca-file: %s\n", why);
		return 1;
	}
	/* Every thread inherits the blocked set; the main thread waits. */
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

int main(int argc, char **argv)
{
	static struct args a;
	struct valid_node *node = NULL;
	char why[512] = "";
	sigset_t set;
	int sig = 0, st;
	enum valid_err rc;

	if (rcpt_harden_process() != RCPT_OK) {
		fprintf(stderr, "assay-validator: could not disable core dumps\n");
		return 1;
	}
	st = parse_args(&a, argc, argv);
	if (st)
		return st;
	if (process_setup(&a, &set))
		return 1;
	rc = valid_node_start(&node, why, sizeof(why), &a.cfg);
	if (rc) {
		fprintf(stderr, "assay-validator: could not start: %s: %s\n", valid_errname(rc), why);
		return 1;
	}
	printf("listening on %s:%u\n", a.host, (unsigned)valid_node_port(node));
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "assay-validator: event=stopping signal=%d\n", sig);
	rc = valid_node_stop(node, a.reveal);
	return rc == VALID_OK ? 0 : 1;
}
