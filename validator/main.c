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

int main(int argc, char **argv)
{
	static char host[64] = "127.0.0.1";
	struct valid_config cfg;
	struct valid_node *node = NULL;
	char why[512] = "";
	sigset_t set;
	unsigned port = 0;
	const char *ca_file = NULL;
	int i, sig = 0, reveal = 1;
	enum valid_err rc;

	if (rcpt_harden_process() != RCPT_OK) {
		fprintf(stderr, "assay-validator: could not disable core dumps\n");
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0, used = 1;
		if (strcmp(a, "--escrow") == 0 && v)
			cfg.escrow_url = v;
		else if (strcmp(a, "--key") == 0 && v)
			cfg.key_path = v;
		else if (strcmp(a, "--state-dir") == 0 && v)
			cfg.state_dir = v;
		else if (strcmp(a, "--listen") == 0 && v) {
			const char *colon = strrchr(v, ':');
			if (!colon || (size_t)(colon - v) >= sizeof(host) ||
			    parse_uint(&port, colon + 1, 65535))
				bad = 1;
			else
				snprintf(host, sizeof(host), "%.*s", (int)(colon - v), v);
		} else if (strcmp(a, "--queue-max") == 0)
			bad = parse_uint(&cfg.queue_max, v, VALID_QUEUE_MAX);
		else if (strcmp(a, "--workers") == 0)
			bad = parse_uint(&cfg.workers, v, VALID_WORKERS_MAX);
		else if (strcmp(a, "--cpu-s-per-min") == 0)
			bad = parse_uint(&cfg.cpu_s_per_min, v, VALID_CPU_S_PER_MIN_MAX);
		else if (strcmp(a, "--job-cpu-s") == 0)
			bad = parse_uint(&cfg.job_cpu_s, v, 3600u);
		else if (strcmp(a, "--job-threads") == 0)
			bad = parse_uint(&cfg.job_threads, v, SBX_THREADS_MAX) || !cfg.job_threads;
		else if (strcmp(a, "--sandbox") == 0 && v &&
			 (strcmp(v, "strict") == 0 || strcmp(v, "best-effort") == 0))
			cfg.sandbox_strict = strcmp(v, "strict") == 0;
		else if (strcmp(a, "--device") == 0 && v)
			cfg.device = v;
		else if (strcmp(a, "--tls-cert") == 0 && v)
			cfg.tls_cert = v;
		else if (strcmp(a, "--tls-key") == 0 && v)
			cfg.tls_key = v;
		else if (strcmp(a, "--ca-file") == 0 && v)
			ca_file = v;
		else if (strcmp(a, "--poll-ms") == 0)
			bad = parse_uint(&cfg.poll_ms, v, VALID_POLL_MS_MAX);
		else if (strcmp(a, "--fetch-tries") == 0)
			bad = parse_uint(&cfg.fetch_tries, v, VALID_FETCH_TRIES_MAX);
		else if (strcmp(a, "--fetch-timeout-ms") == 0)
			bad = parse_uint(&cfg.fetch_timeout_ms, v, 3600u * 1000u);
		else if (strcmp(a, "--fetch-backoff-ms") == 0)
			bad = parse_uint(&cfg.fetch_backoff_ms, v, VALID_FETCH_BACKOFF_MS_MAX);
		else {
			used = 0;
			if (strcmp(a, "--lie") == 0)
				cfg.lie = 1;
			else if (strcmp(a, "--no-reveal") == 0)
				reveal = 0;
			else if (strcmp(a, "--quiet") == 0)
				cfg.quiet = 1;
			else if (strcmp(a, "--tls-allow-1.2") == 0)
				cfg.tls_allow_12 = 1;
			else if (strcmp(a, "--print-routes") == 0)
				return print_routes();
			else
				bad = 1;
		}
		if (bad) {
			fprintf(stderr, "assay-validator: bad argument '%s'\n%s", a, usage);
			return 2;
		}
		i += used;
	}
	if (!cfg.escrow_url || !cfg.key_path || !cfg.state_dir) {
		fputs(usage, stderr);
		return 2;
	}
	if ((!cfg.tls_cert) != (!cfg.tls_key)) {
		fprintf(stderr, "assay-validator: --tls-cert and --tls-key go together\n");
		return 2;
	}
	cfg.listen_host = host;
	cfg.listen_port = (uint16_t)port;
	/* A multithreaded daemon execs its workers (sandbox.h). */
	if (sbx_use_worker_beside_self(why, sizeof(why))) {
		fprintf(stderr, "assay-validator: %s\n", why);
		return 1;
	}
	/* The escrow and the providers it fetches from, verified against it. */
	if (ca_file && httpd_client_set_ca_file(ca_file, why, sizeof(why))) {
		fprintf(stderr, "assay-validator: --ca-file: %s\n", why);
		return 1;
	}
	/* Every thread inherits the blocked set; the main thread waits. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = valid_node_start(&node, why, sizeof(why), &cfg);
	if (rc) {
		fprintf(stderr, "assay-validator: could not start: %s: %s\n", valid_errname(rc), why);
		return 1;
	}
	printf("listening on %s:%u\n", host, (unsigned)valid_node_port(node));
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "assay-validator: event=stopping signal=%d\n", sig);
	rc = valid_node_stop(node, reveal);
	return rc == VALID_OK ? 0 : 1;
}
