/*
 * bench_escrow.c: jobs through assay-escrow against the same ledger and
 * state work done as bare transactions.
 *
 * Ours: the real assay-escrow (challenge window 8 s, rate limits out of
 * the way, --quiet) on loopback against a private database.  A round
 * opens BENCH_ESCROW_JOBS jobs and posts their receipts over HTTP from
 * BENCH_ESCROW_CLIENTS client threads at once (one connection per
 * request, statements signed beforehand so that only the service is
 * timed; every request's latency is kept for p50 and p99), then stops
 * the service, lets the windows close and starts it again: from the fork
 * to the last job `paid` is the settlement loop's time (the start of the
 * process counted in).  Two more rounds, HTTP only: the same clients
 * against --http-workers 0 (one handler at a time, as before handler
 * threads), and against two escrows on the one database (each job
 * opened on one and receipted on the other).
 * Reference: on one libpq connection, per job, chain_lock and a state
 * row (open), one UPDATE (receipted), then
 * UPDATE (releasing), chain_release, UPDATE (paid): the ledger movements
 * and state changes the service makes, without HTTP, JSON, signatures,
 * idempotency records or the audit log.  The ratio is the service's
 * overhead.  Rounds alternate ours/reference; the best of each counts.
 * The combined row is one job's whole life: 1 / (1/open+receipt +
 * 1/settle).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "chain.h"
#include "kernels.h"
#include "receipts.h"
#include "bench.h"
#include "banned.h"

extern char **environ;

#define BENCH_ESCROW_JOBS 250
#define BENCH_ESCROW_ROUNDS 3
#define BENCH_ESCROW_CLIENTS 16
#define BENCH_ESCROW_WORKERS "4"
/* Longer than a round's HTTP phase (about 2 s), so that no job is paid
 * while jobs are still being opened. */
#define BENCH_ESCROW_WINDOW_S "8"
#define BENCH_ESCROW_PRICE 600
#define BENCH_ESCROW_MAX_PRICE 1000
/* An answer longer than this is not one of ours. */
#define BENCH_HTTP_ANSWER_MAX 65536

struct besc {
	char dbname[64];
	char conninfo[600];
	char dir[128];
	char key_path[192];
	uint8_t escrow_addr[RCPT_ADDR_BYTES];
	struct rcpt_domain dom;
	pid_t pid;
	uint16_t port;
	const char *workers;          /* --http-workers of the next spawn */
	pid_t pid2;                   /* a second escrow on the database, or 0 */
	uint16_t port2;
	PGconn *pg;
	struct chain *chain;
	struct rcpt_key customer, provider;
	uint64_t nonce;
	uint64_t paid_total;          /* jobs the service has paid so far */
};

static void die(const char *what)
{
	fprintf(stderr, "bench escrow: %s\n", what);
	exit(1);
}

/* ---------------------------------------------------------------- HTTP */

/* One request on its own connection; returns the status (0: none). */
static int http_post(uint16_t port, const char *target, const char *idem, char *body)
{
	struct sockaddr_in sa;
	struct timeval tv = { 10, 0 };
	char head[512], ans[BENCH_HTTP_ANSWER_MAX];
	size_t blen = strlen(body), got = 0;
	struct iovec iov[2];
	int fd, status = 0, hl;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	hl = snprintf(head, sizeof(head),
		      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
		      "Content-Type: application/json\r\nIdempotency-Key: %s\r\n"
		      "Content-Length: %zu\r\n\r\n", target, idem, blen);
	/* One write: head and body in two segments would wait on Nagle and
	 * the server's delayed ACK. */
	iov[0].iov_base = head;
	iov[0].iov_len = hl > 0 ? (size_t)hl : 0;
	iov[1].iov_base = body;
	iov[1].iov_len = blen;
	if (hl <= 0 || (size_t)hl >= sizeof(head) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    writev(fd, iov, 2) != (ssize_t)((size_t)hl + blen))
		goto out;
	for (;;) {
		ssize_t n = read(fd, ans + got, sizeof(ans) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(ans) - 1)
			break;
	}
	ans[got] = '\0';
	if (sscanf(ans, "HTTP/1.%*d %d", &status) != 1)
		status = 0;
out:
	close(fd);
	return status;
}

/* ---------------------------------------------------------------- the service */

static void esc_spawn_into(struct besc *b, pid_t *pidp, uint16_t *portp)
{
	char bin[512], line[256];
	const char *build = getenv("ASSAY_BUILD");
	unsigned port = 0;
	size_t n = 0;
	int out[2];

	if (!build)
		die("ASSAY_BUILD is not set");
	snprintf(bin, sizeof(bin), "%s/bin/assay-escrow", build);
	{
		const char *argv[] = { bin, "--listen", "127.0.0.1:0", "--db", b->conninfo,
			"--key", b->key_path, "--devnet", "--min-stake", "1000",
			"--challenge-window-s", BENCH_ESCROW_WINDOW_S, "--referee-deadline-s", "1",
			"--unbonding-s", "60", "--rate-per-s", "1000000", "--rate-burst", "1000000",
			"--http-workers", b->workers ? b->workers : BENCH_ESCROW_WORKERS,
			"--quiet", NULL };
		if (pipe(out) != 0)
			die("pipe");
		*pidp = fork();
		if (*pidp < 0)
			die("fork");
		if (*pidp == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int quiet = open("/dev/null", O_WRONLY);
			dup2(out[1], 1);
			if (quiet >= 0)
				dup2(quiet, 2);   /* its start and stop lines */
			close(out[0]);
			execve(bin, (char *const *)argv, environ);
			_exit(127);
		}
	}
	close(out[1]);
	while (n < sizeof(line) - 1) {
		struct pollfd p = { out[0], POLLIN, 0 };
		if (poll(&p, 1, 20000) != 1 || read(out[0], line + n, 1) != 1)
			die("assay-escrow did not start");
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	if (sscanf(line, "listening on 127.0.0.1:%u", &port) != 1 || port == 0 || port > 65535)
		die("assay-escrow printed no port");
	*portp = (uint16_t)port;
}

static void esc_spawn(struct besc *b)
{
	esc_spawn_into(b, &b->pid, &b->port);
}

static void pid_stop(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	while (waitpid(*pid, &st, 0) < 0 && errno == EINTR)
		;
	*pid = 0;
}

static void esc_stop(struct besc *b)
{
	pid_stop(&b->pid);
	pid_stop(&b->pid2);
}

static int64_t sql_count(struct besc *b, const char *sql)
{
	PGresult *res = PQexec(b->pg, sql);
	int64_t n;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die(PQresultErrorMessage(res));
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return n;
}

static void sql_exec(struct besc *b, const char *sql)
{
	PGresult *res = PQexec(b->pg, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		die(PQresultErrorMessage(res));
	PQclear(res);
}

static void setup(struct besc *b)
{
	const char *admin_ci = getenv("ASSAY_PG_CONNINFO");
	struct chain_params cp;
	struct rcpt_diag diag;
	struct rcpt_key k;
	struct rcpt_u256 amt;
	char sql[160];
	PGconn *admin;
	PGresult *res;

	memset(b, 0, sizeof(*b));
	if (!admin_ci)
		die("ASSAY_PG_CONNINFO is not set: run under scripts/with-postgres.sh");
	admin = PQconnectdb(admin_ci);
	if (PQstatus(admin) != CONNECTION_OK)
		die("could not connect to postgresql");
	snprintf(b->dbname, sizeof(b->dbname), "assay_bench_%ld", (long)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->dbname);
	res = PQexec(admin, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die(PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(admin);
	snprintf(b->conninfo, sizeof(b->conninfo), "%s dbname=%s", admin_ci, b->dbname);

	snprintf(b->dir, sizeof(b->dir), "/tmp/assay-bench-escrow.XXXXXX");
	if (!mkdtemp(b->dir))
		die("mkdtemp");
	snprintf(b->key_path, sizeof(b->key_path), "%s/escrow.key", b->dir);
	if (rcpt_key_generate(&k) || rcpt_key_save(&k, NULL, b->key_path))
		die("escrow key");
	memcpy(b->escrow_addr, k.address, RCPT_ADDR_BYTES);
	rcpt_key_wipe(&k);
	rcpt_domain_assay(&b->dom, 31337, b->escrow_addr);

	/* The service migrates the database; then both sides share it. */
	esc_spawn(b);
	b->pg = PQconnectdb(b->conninfo);
	if (PQstatus(b->pg) != CONNECTION_OK)
		die("could not connect to the bench database");
	sql_exec(b, "CREATE TABLE bench_jobs (id bytea PRIMARY KEY, state text NOT NULL)");
	memset(&cp, 0, sizeof(cp));
	cp.chain_id = 31337;
	cp.devnet = 1;
	rcpt_u256_from_u64(&cp.min_stake, 1000);
	cp.unbonding_s = 60;
	if (chain_pg_open(&b->chain, &diag, b->conninfo, &cp, b->escrow_addr) != CHAIN_OK)
		die("chain_pg_open");
	if (rcpt_key_generate(&b->customer) || rcpt_key_generate(&b->provider))
		die("keys");
	/* Funds for every round of both sides; stake far above the exposure
	 * cap (p x slash of the stake must exceed the open maxPrices). */
	rcpt_u256_from_u64(&amt, UINT64_C(1000000000000));
	if (chain_faucet(b->chain, b->customer.address, &amt, (uint64_t)time(NULL), NULL) ||
	    chain_faucet(b->chain, b->provider.address, &amt, (uint64_t)time(NULL), NULL) ||
	    chain_stake(b->chain, b->provider.address, &amt, (uint64_t)time(NULL), NULL))
		die("funding");
}

static void teardown(struct besc *b)
{
	char why[256] = "", sql[160], rm[256];
	PGconn *admin;
	PGresult *res;

	esc_stop(b);
	if (chain_check_invariants(b->chain, why, sizeof(why)) != CHAIN_OK)
		fprintf(stderr, "bench escrow: ledger invariants: %s\n", why);
	chain_free(b->chain);
	PQfinish(b->pg);
	admin = PQconnectdb(getenv("ASSAY_PG_CONNINFO"));
	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", b->dbname);
	res = PQexec(admin, sql);
	PQclear(res);
	PQfinish(admin);
	rcpt_key_wipe(&b->customer);
	rcpt_key_wipe(&b->provider);
	snprintf(rm, sizeof(rm), "%s/escrow.key", b->dir);
	unlink(rm);
	rmdir(b->dir);
}

/* ---------------------------------------------------------------- statements */

struct bjob {
	char id_hex[RCPT_HASH_HEX_BYTES];
	char *open_body, *receipt_body;
};

/* {"<name>":obj,"<sig_name>":"0x..."} */
static char *with_sig(const char *name, const char *obj, const char *sig_name,
		      const uint8_t sig[RCPT_SIG_BYTES])
{
	char sh[RCPT_SIG_HEX_BYTES], *out;
	size_t n = strlen(obj) + 256;

	if (rcpt_hex_encode(sh, sizeof(sh), sig, RCPT_SIG_BYTES) || !(out = malloc(n)))
		die("encode");
	snprintf(out, n, "{\"%s\":%s,\"%s\":\"%s\"}", name, obj, sig_name, sh);
	return out;
}

/* A job and its receipt, signed by customer and provider. */
static void bjob_make(struct bjob *j, struct besc *b)
{
	const struct kern_info *ki = kern_find("reduce_sum_f32@1");
	struct rcpt_job job;
	struct rcpt_receipt r;
	uint8_t id[RCPT_HASH_BYTES], rid[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
	char *t = NULL;

	if (!ki)
		die("kernel reduce_sum_f32@1");
	memset(&job, 0, sizeof(job));
	memcpy(job.customer, b->customer.address, RCPT_ADDR_BYTES);
	memcpy(job.provider, b->provider.address, RCPT_ADDR_BYTES);
	snprintf(job.kernel, sizeof(job.kernel), "reduce_sum_f32@1");
	memcpy(job.kernel_hash, ki->hash, RCPT_HASH_BYTES);
	snprintf(job.params, sizeof(job.params), "{}");
	memset(job.input_root, 0x42, RCPT_HASH_BYTES);
	job.input_size = 96;
	rcpt_u256_from_u64(&job.max_price, BENCH_ESCROW_MAX_PRICE);
	job.deadline = (uint64_t)time(NULL) + 3600;
	job.nonce = ++b->nonce;
	if (rcpt_job_id(id, NULL, &b->dom, &job) || rcpt_sign_digest(sig, &b->customer, id) ||
	    rcpt_hex_encode(j->id_hex, sizeof(j->id_hex), id, RCPT_HASH_BYTES) ||
	    rcpt_job_to_json(&t, &job))
		die("job");
	j->open_body = with_sig("job", t, "jobSignature", sig);
	free(t);
	t = NULL;

	memset(&r, 0, sizeof(r));
	memcpy(r.job, id, RCPT_HASH_BYTES);
	memcpy(r.kernel_hash, job.kernel_hash, RCPT_HASH_BYTES);
	memcpy(r.input_root, job.input_root, RCPT_HASH_BYTES);
	r.input_size = job.input_size;
	memset(r.output_root, 0x43, RCPT_HASH_BYTES);
	r.output_size = 80;
	rcpt_u256_from_u64(&r.price, BENCH_ESCROW_PRICE);
	snprintf(r.device, sizeof(r.device), "cpu");
	r.started_at_ms = (uint64_t)time(NULL) * 1000;
	r.finished_at_ms = r.started_at_ms + 1;
	memcpy(r.provider, b->provider.address, RCPT_ADDR_BYTES);
	if (rcpt_receipt_id(rid, NULL, &b->dom, &r) || rcpt_sign_digest(sig, &b->provider, rid) ||
	    rcpt_receipt_to_json(&t, &r))
		die("receipt");
	j->receipt_body = with_sig("receipt", t, "receiptSignature", sig);
	free(t);
}

/* ---------------------------------------------------------------- rounds */

struct rates {
	double open_receipt, settle;
};

struct latency {
	double p50_ms, p99_ms;
};

static int cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* The HTTP phase: every job opened then receipted, by BENCH_ESCROW_CLIENTS
 * threads at once (client t takes jobs t, t + C, ...); job i is opened on
 * ports[i % n] and receipted on ports[(i + 1) % n]. */
struct hround {
	struct besc *b;
	struct bjob *jobs;
	const uint16_t *ports;
	size_t nports;
	double *lat;                  /* 2 per job, seconds */
	atomic_int failed;
};

struct hclient {
	pthread_t t;
	struct hround *h;
	size_t first;
};

static void *hclient_main(void *arg)
{
	struct hclient *c = arg;
	struct hround *h = c->h;
	char target[128], idem[48];
	size_t i;

	for (i = c->first; i < BENCH_ESCROW_JOBS; i += BENCH_ESCROW_CLIENTS) {
		double t0 = bench_now_s();
		snprintf(idem, sizeof(idem), "o-%" PRIu64 "-%zu", h->b->nonce, i);
		if (http_post(h->ports[i % h->nports], "/v1/jobs", idem, h->jobs[i].open_body) != 201)
			atomic_store(&h->failed, 1);
		h->lat[2 * i] = bench_now_s() - t0;
		t0 = bench_now_s();
		snprintf(idem, sizeof(idem), "r-%" PRIu64 "-%zu", h->b->nonce, i);
		snprintf(target, sizeof(target), "/v1/jobs/%s/receipt", h->jobs[i].id_hex);
		if (http_post(h->ports[(i + 1) % h->nports], target, idem,
			      h->jobs[i].receipt_body) != 200)
			atomic_store(&h->failed, 1);
		h->lat[2 * i + 1] = bench_now_s() - t0;
	}
	return NULL;
}

/* Returns jobs per second; *lat gets the requests' p50 and p99. */
static double round_http(struct besc *b, struct bjob *jobs, const uint16_t *ports, size_t n,
			 struct latency *lat)
{
	struct hclient c[BENCH_ESCROW_CLIENTS];
	struct hround h = { b, jobs, ports, n, NULL, 0 };
	double t0, rate;
	size_t i;

	h.lat = calloc(2 * BENCH_ESCROW_JOBS, sizeof(double));
	if (!h.lat)
		die("memory");
	t0 = bench_now_s();
	for (i = 0; i < BENCH_ESCROW_CLIENTS; i++) {
		c[i].h = &h;
		c[i].first = i;
		if (pthread_create(&c[i].t, NULL, hclient_main, &c[i]))
			die("client thread");
	}
	for (i = 0; i < BENCH_ESCROW_CLIENTS; i++)
		pthread_join(c[i].t, NULL);
	rate = BENCH_ESCROW_JOBS / (bench_now_s() - t0);
	if (atomic_load(&h.failed))
		die("a request was refused");
	qsort(h.lat, 2 * BENCH_ESCROW_JOBS, sizeof(double), cmp_double);
	lat->p50_ms = h.lat[BENCH_ESCROW_JOBS] * 1e3;
	lat->p99_ms = h.lat[(2 * BENCH_ESCROW_JOBS * 99) / 100] * 1e3;
	free(h.lat);
	return rate;
}

static struct bjob *jobs_make(struct besc *b)
{
	struct bjob *jobs = calloc(BENCH_ESCROW_JOBS, sizeof(*jobs));
	size_t i;

	if (!jobs)
		die("memory");
	for (i = 0; i < BENCH_ESCROW_JOBS; i++)
		bjob_make(&jobs[i], b);
	return jobs;
}

static void jobs_free(struct bjob *jobs)
{
	for (size_t i = 0; i < BENCH_ESCROW_JOBS; i++) {
		free(jobs[i].open_body);
		free(jobs[i].receipt_body);
	}
	free(jobs);
}

/* Untimed: waits until the service has paid every job so far. */
static void wait_all_paid(struct besc *b)
{
	double t0 = bench_now_s();

	while (sql_count(b, "SELECT count(*) FROM escrow_jobs WHERE state = 'paid'") <
	       (int64_t)b->paid_total) {
		if (bench_now_s() - t0 > 60)
			die("settlement did not finish in 60 s");
		usleep(20000);
	}
}

static struct rates round_service(struct besc *b, struct latency *lat)
{
	struct bjob *jobs = jobs_make(b);
	struct rates out;
	double t0, t1;
	int64_t due, left;

	out.open_receipt = round_http(b, jobs, &b->port, 1, lat);
	/* Every window closed while the service is down, then from its start
	 * to the last payment. */
	esc_stop(b);
	/* On a slow run a window may have closed already: only the jobs
	 * left to pay count. */
	left = (int64_t)b->paid_total + BENCH_ESCROW_JOBS -
	       sql_count(b, "SELECT count(*) FROM escrow_jobs WHERE state = 'paid'");
	if (left < BENCH_ESCROW_JOBS / 2)
		die("most windows closed during the HTTP phase: raise BENCH_ESCROW_WINDOW_S");
	due = sql_count(b, "SELECT coalesce(max(window_end_s), 0) FROM escrow_jobs");
	while ((int64_t)time(NULL) <= due)
		usleep(20000);
	b->paid_total += BENCH_ESCROW_JOBS;
	/* From before the start: the loop begins before the port is printed. */
	t0 = bench_now_s();
	esc_spawn(b);
	while (sql_count(b, "SELECT count(*) FROM escrow_jobs WHERE state = 'paid'") <
	       (int64_t)b->paid_total) {
		if (bench_now_s() - t0 > 30)
			die("settlement did not finish in 30 s");
		usleep(2000);
	}
	t1 = bench_now_s();
	out.settle = (double)left / (t1 - t0);
	jobs_free(jobs);
	return out;
}

/* The HTTP phase only, against the escrow restarted with `workers`
 * handler threads, or against it and a second escrow (replicas); then
 * waits, untimed, until those jobs are paid. */
static double round_variant(struct besc *b, const char *workers, int replicas,
			    struct latency *lat)
{
	struct bjob *jobs = jobs_make(b);
	uint16_t ports[2];
	double rate;

	esc_stop(b);
	b->workers = workers;
	esc_spawn(b);
	ports[0] = b->port;
	if (replicas)
		esc_spawn_into(b, &b->pid2, &b->port2);
	ports[1] = b->port2;
	rate = round_http(b, jobs, ports, replicas ? 2 : 1, lat);
	b->paid_total += BENCH_ESCROW_JOBS;
	wait_all_paid(b);
	esc_stop(b);
	b->workers = NULL;
	esc_spawn(b);
	jobs_free(jobs);
	return rate;
}

static void ref_state(struct besc *b, const uint8_t id[RCPT_HASH_BYTES], const char *sql,
		      const char *state)
{
	const char *p[2] = { (const char *)id, state };
	const int len[2] = { RCPT_HASH_BYTES, 0 }, fmt[2] = { 1, 0 };
	PGresult *res = PQexecParams(b->pg, sql, 2, NULL, p, len, fmt, 0);

	if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0)
		die(PQresultErrorMessage(res));
	PQclear(res);
}

static struct rates round_reference(struct besc *b)
{
	static const char ins[] = "INSERT INTO bench_jobs (id, state) VALUES ($1, $2)";
	static const char upd[] = "UPDATE bench_jobs SET state = $2 WHERE id = $1";
	uint8_t (*ids)[RCPT_HASH_BYTES] = calloc(BENCH_ESCROW_JOBS, RCPT_HASH_BYTES);
	struct rcpt_u256 mp, price;
	struct rates out;
	double t0;
	size_t i;

	if (!ids)
		die("memory");
	rcpt_u256_from_u64(&mp, BENCH_ESCROW_MAX_PRICE);
	rcpt_u256_from_u64(&price, BENCH_ESCROW_PRICE);
	for (i = 0; i < BENCH_ESCROW_JOBS; i++) {
		uint64_t n = ++b->nonce;
		memset(ids[i], 0xbe, RCPT_HASH_BYTES);
		memcpy(ids[i], &n, sizeof(n));
	}
	t0 = bench_now_s();
	for (i = 0; i < BENCH_ESCROW_JOBS; i++) {
		uint64_t now = (uint64_t)time(NULL);
		if (chain_lock(b->chain, ids[i], b->customer.address, b->provider.address, &mp, now))
			die("reference lock");
		ref_state(b, ids[i], ins, "open");
		ref_state(b, ids[i], upd, "receipted");
	}
	out.open_receipt = BENCH_ESCROW_JOBS / (bench_now_s() - t0);
	t0 = bench_now_s();
	for (i = 0; i < BENCH_ESCROW_JOBS; i++) {
		uint64_t now = (uint64_t)time(NULL);
		ref_state(b, ids[i], upd, "releasing");
		if (chain_release(b->chain, ids[i], &price, now))
			die("reference release");
		ref_state(b, ids[i], upd, "paid");
	}
	out.settle = BENCH_ESCROW_JOBS / (bench_now_s() - t0);
	free(ids);
	return out;
}

static double best(double a, double b)
{
	return a > b ? a : b;
}

static double whole(struct rates r)
{
	return 1.0 / (1.0 / r.open_receipt + 1.0 / r.settle);
}

void bench_escrow(void)
{
	struct besc b;
	struct rates ours = { 0, 0 }, ref = { 0, 0 };
	struct latency lat = { 0, 0 }, best_lat = { 1e9, 1e9 }, l0, l2;
	double ours_whole = 0, ref_whole = 0, one_at_a_time, two;
	int i;

	setup(&b);
	for (i = 0; i < BENCH_ESCROW_ROUNDS; i++) {
		struct rates o = round_service(&b, &lat), r = round_reference(&b);
		ours.open_receipt = best(ours.open_receipt, o.open_receipt);
		ours.settle = best(ours.settle, o.settle);
		ref.open_receipt = best(ref.open_receipt, r.open_receipt);
		ref.settle = best(ref.settle, r.settle);
		ours_whole = best(ours_whole, whole(o));
		ref_whole = best(ref_whole, whole(r));
		if (lat.p99_ms < best_lat.p99_ms)
			best_lat = lat;
	}
	one_at_a_time = round_variant(&b, "0", 0, &l0);
	two = round_variant(&b, NULL, 1, &l2);
	bench_row("escrow open+receipt, HTTP (/s)", ours.open_receipt, ref.open_receipt,
		  "jobs/s", "lock, INSERT, UPDATE", 0.5);
	bench_row("escrow settle, loop (/s)", ours.settle, ref.settle, "jobs/s",
		  "UPDATE, release, UPDATE", 0);
	bench_row("escrow open+receipt+settle (/s)", ours_whole, ref_whole, "jobs/s",
		  "the same, bare libpq", 0.5);
	bench_row("escrow request p50 (ms)", best_lat.p50_ms, 1e3 / ref.open_receipt, "ms",
		  "bare libpq, one job", 0);
	bench_row("escrow request p99 (ms)", best_lat.p99_ms, 1e3 / ref.open_receipt, "ms",
		  "bare libpq, one job", 0);
	bench_row("escrow open+receipt, workers 0", one_at_a_time, ours.open_receipt, "jobs/s",
		  "--http-workers " BENCH_ESCROW_WORKERS, 0);
	bench_row("escrow open+receipt, 2 replicas", two, ours.open_receipt, "jobs/s",
		  "one escrow", 0);
	printf("  (%d clients; workers 0: p50 %.1f ms, p99 %.1f ms; 2 replicas: p50 %.1f ms, "
	       "p99 %.1f ms)\n", BENCH_ESCROW_CLIENTS, l0.p50_ms, l0.p99_ms, l2.p50_ms, l2.p99_ms);
	teardown(&b);
}
