/*
 * bench_provider.c: many concurrent customers against a real assay-escrow
 * and assay-provider on loopback (issue 5's load evidence).
 *
 * The services are started as the tests start them (tests/test_provider.c):
 * the escrow on a private database of the PostgreSQL that `make bench`
 * runs under scripts/with-postgres.sh, with sign-in enabled; the provider
 * with --workers 2; every rate limit raised far above what the bench
 * sends (--rate-per-s, --rate-burst, the escrow's --signin-rate-*), so
 * that any refusal is a failure, not a limit.  Both run --quiet.
 *
 * BENCH_PROVIDER_CLIENTS threads, each a customer with its own key, each
 * with its own libcurl handle per request (httpd_client, one TCP
 * connection per request, as a wallet or a script would):
 *   sign-in  GET /v1/auth/nonce, an EIP-4361 message signed with
 *            personal_sign in the thread, POST /v1/auth/signin: one
 *            sign-in is both requests.  On the escrow: the provider's
 *            sign-in routes take a fixed per-IP bucket (2/s, burst 20;
 *            it has no flag to raise it) and every client here is
 *            127.0.0.1, so it cannot be loaded this way.
 *            Reference: GET /livez on the same escrow by the same
 *            threads, the HTTP floor (no database, no JSON body).
 *   job      a small job end to end (matmul_f32@1, 32x32x32, 8.3 KB in):
 *            POST /v1/jobs at the escrow, POST /v1/jobs at the provider
 *            (a signed request), PUT the input, poll GET /v1/jobs/{id}
 *            (signed) every BENCH_PROVIDER_POLL_MS until `receipted`.
 *            The JobSpecs are signed before the clock starts.
 *            Reference: the same job through kern_run in this process on
 *            2 threads (the provider's --workers 2): parse, run, serialize
 *            and commit the output, the work no service can avoid.
 * Each round counts every answer that is not the expected one (or no
 * answer) as a failed request and every job not `receipted` at the end as
 * lost; both are printed and should be 0.  Rounds alternate ours and the
 * reference, best of BENCH_PROVIDER_ROUNDS each.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "httpd_client.h"
#include "kernels.h"
#include "receipts.h"
#include "bench.h"
#include "banned.h"

extern char **environ;

#define BENCH_PROVIDER_CLIENTS 16
#define BENCH_PROVIDER_SIGNINS 25          /* per client and round */
#define BENCH_PROVIDER_JOBS 6              /* per client and round */
#define BENCH_PROVIDER_ROUNDS 3
#define BENCH_PROVIDER_POLL_MS 10
#define BENCH_PROVIDER_JOB_WAIT_MS 120000  /* a job not receipted by then is lost */
#define BENCH_PROVIDER_REF_JOBS 400        /* per reference round, over 2 threads */
#define BENCH_PROVIDER_DIM 32
#define BENCH_PROVIDER_MAX_PRICE 40
#define BP_DOMAIN "escrow.bench.test"
#define BP_URI "https://escrow.bench.test/signin"

struct bp {
	char dbname[64];
	char conninfo[600];
	char dir[128];
	char esc_key[192], prov_key[192], pdata[192], esc_log[192], prov_log[192];
	pid_t esc_pid, prov_pid;
	char esc_url[64], prov_url[64];
	struct rcpt_domain dom;
	struct rcpt_key prov;
	struct rcpt_key cust[BENCH_PROVIDER_CLIENTS];
	uint8_t *input;
	size_t input_len;
	atomic_uint_fast64_t failed, lost, done;
	atomic_uint_fast64_t requests;          /* answered, in the job rounds */
	atomic_uint_fast64_t phase_us[4];       /* open, submit, upload, wait */
	unsigned round;
};

static void die(const char *what)
{
	fprintf(stderr, "bench provider: %s\n", what);
	exit(1);
}

/* ---------------------------------------------------------------- services */

/* Starts argv (stderr to log) and waits for "listening on 127.0.0.1:PORT". */
static pid_t spawn(char url[64], const char *const argv[], const char *log)
{
	char line[256];
	unsigned port = 0;
	size_t n = 0;
	int out[2];
	pid_t pid;

	if (pipe(out) != 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(out[1], 1);
		if (fd >= 0)
			dup2(fd, 2);
		close(out[0]);
		execve(argv[0], (char *const *)argv, environ);
		_exit(127);
	}
	close(out[1]);
	while (n < sizeof(line) - 1) {
		struct pollfd p = { out[0], POLLIN, 0 };
		if (poll(&p, 1, 30000) != 1 || read(out[0], line + n, 1) != 1) {
			fprintf(stderr, "bench provider: %s did not start (see %s)\n", argv[0], log);
			exit(1);
		}
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	close(out[0]);
	if (sscanf(line, "listening on 127.0.0.1:%u", &port) != 1 || port == 0 || port > 65535)
		die("a service printed no port");
	snprintf(url, 64, "http://127.0.0.1:%u", port);
	return pid;
}

static void stop(pid_t *pid)
{
	int st;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	while (waitpid(*pid, &st, 0) < 0 && errno == EINTR)
		;
	*pid = 0;
}

/* ---------------------------------------------------------------- HTTP */

static void idem(char out[40])
{
	uint8_t r[12];
	char h[2 * sizeof(r) + 3];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r) ||
	    rcpt_hex_encode(h, sizeof(h), r, sizeof(r)) != RCPT_OK)
		die("getrandom");
	snprintf(out, 40, "b.%s", h + 2);
}

/* One request; the status, or 0 when no answer came.  *resp is freed
 * unless keep is set. */
static long req(struct httpd_client_resp *resp, const char *method, const char *base,
		const char *target, const void *body, size_t len, const char *ctype,
		const struct rcpt_key *key, int with_idem)
{
	struct httpd_client_req q = { 0 };
	char ik[40];

	q.method = method;
	q.base_url = base;
	q.target = target;
	q.body = body;
	q.body_len = len;
	q.content_type = ctype;
	q.key = key;
	if (with_idem) {
		idem(ik);
		q.idem_key = ik;
	}
	if (httpd_client_request(resp, NULL, 0, &q) != HTTPD_OK) {
		memset(resp, 0, sizeof(*resp));
		return 0;
	}
	return resp->status;
}

static long post_json(const char *base, const char *target, json_t *o, const struct rcpt_key *key)
{
	struct httpd_client_resp r;
	char *t = json_dumps(o, JSON_COMPACT);
	long st;

	json_decref(o);
	if (!t)
		die("json");
	st = req(&r, "POST", base, target, t, strlen(t), NULL, key, 1);
	free(t);
	httpd_client_resp_free(&r);
	return st;
}

static void key_file(char *path, size_t len, struct rcpt_key *k, const char *dir, const char *name)
{
	snprintf(path, len, "%s/%s.key", dir, name);
	if (rcpt_key_generate(k) != RCPT_OK || rcpt_key_save(k, NULL, path) != RCPT_OK)
		die("key");
}

static void fund(struct bp *b, const struct rcpt_key *k)
{
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, k->address);
	if (post_json(b->esc_url, "/v1/faucet",
		      json_pack("{s:s, s:s}", "address", a, "amount", "1000000000000"), NULL) != 200)
		die("faucet");
}

static void setup(struct bp *b)
{
	const char *admin_ci = getenv("ASSAY_PG_CONNINFO"), *build = getenv("ASSAY_BUILD");
	char sql[160], esc_bin[512], prov_bin[512];
	struct rcpt_key ek;
	PGconn *admin;
	PGresult *res;

	if (!admin_ci || !build)
		die("ASSAY_PG_CONNINFO or ASSAY_BUILD is not set: run through make bench");
	admin = PQconnectdb(admin_ci);
	if (PQstatus(admin) != CONNECTION_OK)
		die("could not connect to postgresql");
	snprintf(b->dbname, sizeof(b->dbname), "assay_bench_prov_%ld", (long)getpid());
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", b->dbname);
	res = PQexec(admin, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		die(PQresultErrorMessage(res));
	PQclear(res);
	PQfinish(admin);
	snprintf(b->conninfo, sizeof(b->conninfo), "%s dbname=%s", admin_ci, b->dbname);
	snprintf(b->dir, sizeof(b->dir), "/tmp/assay-bench-provider.XXXXXX");
	if (!mkdtemp(b->dir))
		die("mkdtemp");
	snprintf(b->esc_log, sizeof(b->esc_log), "%s/escrow.log", b->dir);
	snprintf(b->prov_log, sizeof(b->prov_log), "%s/provider.log", b->dir);
	snprintf(b->pdata, sizeof(b->pdata), "%s/pdata", b->dir);
	key_file(b->esc_key, sizeof(b->esc_key), &ek, b->dir, "escrow");
	rcpt_key_wipe(&ek);
	key_file(b->prov_key, sizeof(b->prov_key), &b->prov, b->dir, "provider");
	snprintf(esc_bin, sizeof(esc_bin), "%s/bin/assay-escrow", build);
	snprintf(prov_bin, sizeof(prov_bin), "%s/bin/assay-provider", build);
	{
		const char *argv[] = { esc_bin, "--listen", "127.0.0.1:0", "--db", b->conninfo,
			"--key", b->esc_key, "--devnet", "--min-stake", "1000",
			"--challenge-window-s", "3600", "--referee-deadline-s", "60",
			"--unbonding-s", "7200", "--rate-per-s", "1000000", "--rate-burst", "1000000",
			"--signin-rate-per-s", "1000000", "--signin-rate-burst", "1000000",
			"--siwe-domain", BP_DOMAIN, "--siwe-uri", BP_URI, "--quiet", NULL };
		b->esc_pid = spawn(b->esc_url, argv, b->esc_log);
	}
	{
		struct httpd_client_resp r;
		uint8_t vc[RCPT_ADDR_BYTES];
		const char *s;
		if (req(&r, "GET", b->esc_url, "/v1/params", NULL, 0, NULL, NULL, 0) != 200 ||
		    !(s = httpd_client_str(&r, "verifyingContract")) ||
		    rcpt_address_parse(vc, s) != RCPT_OK)
			die("the escrow's /v1/params");
		rcpt_domain_assay(&b->dom,
				  (uint64_t)json_integer_value(json_object_get(r.json, "chainId")), vc);
		httpd_client_resp_free(&r);
	}
	/* Stake far above the escrow's exposure cap for every job of every
	 * round (sampling x slash share x stake must exceed open maxPrices). */
	fund(b, &b->prov);
	if (post_json(b->esc_url, "/v1/stake", json_pack("{s:s}", "amount", "1000000000000"),
		      &b->prov) != 200)
		die("stake");
	for (int i = 0; i < BENCH_PROVIDER_CLIENTS; i++) {
		if (rcpt_key_generate(&b->cust[i]) != RCPT_OK)
			die("key");
		fund(b, &b->cust[i]);
	}
	{
		const char *argv[] = { prov_bin, "--listen", "127.0.0.1:0", "--key", b->prov_key,
			"--escrow", b->esc_url, "--data", b->pdata, "--price", "10",
			"--workers", "2", "--queue-max", "256", "--janitor-period-s", "60",
			"--rate-per-s", "1000000", "--rate-burst", "1000000", "--quiet", NULL };
		b->prov_pid = spawn(b->prov_url, argv, b->prov_log);
	}
}

/* Stops the services and drops the database; keeps the directory (the
 * services' logs) when keep is set. */
static void teardown(struct bp *b, int keep)
{
	const char *argv[] = { "/bin/rm", "-rf", b->dir, NULL };
	char sql[160];
	PGconn *admin;
	PGresult *res;
	pid_t pid;
	int st;

	stop(&b->prov_pid);
	stop(&b->esc_pid);
	admin = PQconnectdb(getenv("ASSAY_PG_CONNINFO"));
	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", b->dbname);
	res = PQexec(admin, sql);
	PQclear(res);
	PQfinish(admin);
	rcpt_key_wipe(&b->prov);
	for (int i = 0; i < BENCH_PROVIDER_CLIENTS; i++)
		rcpt_key_wipe(&b->cust[i]);
	if (keep) {
		fprintf(stderr, "bench provider: the services' logs are kept in %s\n", b->dir);
		return;
	}
	pid = fork();
	if (pid == 0) {
		execve(argv[0], (char *const *)argv, environ);
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
}

/* ---------------------------------------------------------------- clients */

struct client {
	struct bp *b;
	int i;
	void *(*fn)(struct client *);
	/* job round: the bodies signed beforehand */
	char *bodies[BENCH_PROVIDER_JOBS];
	char ids[BENCH_PROVIDER_JOBS][RCPT_HASH_HEX_BYTES];
};

static void *client_main(void *arg)
{
	struct client *c = arg;

	return c->fn(c);
}

/* Runs fn on every client at once; the wall time in seconds. */
static double run_clients(struct client *cs, void *(*fn)(struct client *))
{
	pthread_t th[BENCH_PROVIDER_CLIENTS];
	double t0 = bench_now_s();

	for (int i = 0; i < BENCH_PROVIDER_CLIENTS; i++) {
		cs[i].fn = fn;
		if (pthread_create(&th[i], NULL, client_main, &cs[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < BENCH_PROVIDER_CLIENTS; i++)
		pthread_join(th[i], NULL);
	return bench_now_s() - t0;
}

static void iso_time(char out[32], time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
}

static void *signin_client(struct client *c)
{
	struct bp *b = c->b;
	const struct rcpt_key *k = &b->cust[c->i];
	char addr[RCPT_ADDR_HEX_BYTES], msg[1024], now_s[32], exp_s[32], sig_hex[RCPT_SIG_HEX_BYTES];
	uint8_t sig[RCPT_SIG_BYTES];

	rcpt_address_format(addr, k->address);
	for (int n = 0; n < BENCH_PROVIDER_SIGNINS; n++) {
		struct httpd_client_resp r;
		const char *nonce;
		time_t now = time(NULL);
		int len;

		if (req(&r, "GET", b->esc_url, "/v1/auth/nonce", NULL, 0, NULL, NULL, 0) != 200 ||
		    !(nonce = httpd_client_str(&r, "nonce"))) {
			atomic_fetch_add(&b->failed, 1);
			httpd_client_resp_free(&r);
			continue;
		}
		iso_time(now_s, now);
		iso_time(exp_s, now + 600);
		len = snprintf(msg, sizeof(msg),
			       "%s wants you to sign in with your Ethereum account:\n%s\n\n"
			       "Sign in to Assay.\n\nURI: %s\nVersion: 1\nChain ID: 31337\n"
			       "Nonce: %s\nIssued At: %s\nExpiration Time: %s",
			       BP_DOMAIN, addr, BP_URI, nonce, now_s, exp_s);
		httpd_client_resp_free(&r);
		if (len <= 0 || (size_t)len >= sizeof(msg) ||
		    rcpt_message_sign(sig, k, msg, (size_t)len) != RCPT_OK ||
		    rcpt_hex_encode(sig_hex, sizeof(sig_hex), sig, RCPT_SIG_BYTES) != RCPT_OK)
			die("sign-in message");
		{
			json_t *o = json_pack("{s:s, s:s}", "message", msg, "signature", sig_hex);
			char *t = o ? json_dumps(o, JSON_COMPACT) : NULL;
			json_decref(o);
			if (!t)
				die("json");
			if (req(&r, "POST", b->esc_url, "/v1/auth/signin", t, strlen(t), NULL, NULL,
				0) != 200 || !httpd_client_str(&r, "token"))
				atomic_fetch_add(&b->failed, 1);
			else
				atomic_fetch_add(&b->done, 1);
			free(t);
			httpd_client_resp_free(&r);
		}
	}
	return NULL;
}

static void *livez_client(struct client *c)
{
	struct bp *b = c->b;

	for (int n = 0; n < 2 * BENCH_PROVIDER_SIGNINS; n++) {
		struct httpd_client_resp r;
		if (req(&r, "GET", b->esc_url, "/livez", NULL, 0, NULL, NULL, 0) != 200)
			atomic_fetch_add(&b->failed, 1);
		else
			atomic_fetch_add(&b->done, 1);
		httpd_client_resp_free(&r);
	}
	return NULL;
}

/* Signs this client's jobs for the next round (not timed). */
static void jobs_prepare(struct client *c)
{
	struct bp *b = c->b;
	const struct kern_info *ki = kern_find("matmul_f32@1");
	struct rcpt_commitment cm;
	struct rcpt_diag d;

	if (!ki || rcpt_commit_buf(&cm, b->input, b->input_len) != RCPT_OK)
		die("job");
	for (int n = 0; n < BENCH_PROVIDER_JOBS; n++) {
		struct rcpt_job j;
		uint8_t id[RCPT_HASH_BYTES], sig[RCPT_SIG_BYTES];
		char *jt = NULL, sh[RCPT_SIG_HEX_BYTES];
		size_t len;

		memset(&j, 0, sizeof(j));
		memcpy(j.customer, b->cust[c->i].address, RCPT_ADDR_BYTES);
		memcpy(j.provider, b->prov.address, RCPT_ADDR_BYTES);
		snprintf(j.kernel, sizeof(j.kernel), "matmul_f32@1");
		memcpy(j.kernel_hash, ki->hash, RCPT_HASH_BYTES);
		snprintf(j.params, sizeof(j.params), "{\"relu\":false}");
		memcpy(j.input_root, cm.root, RCPT_HASH_BYTES);
		j.input_size = cm.size;
		rcpt_u256_from_u64(&j.max_price, BENCH_PROVIDER_MAX_PRICE);
		j.deadline = (uint64_t)time(NULL) + 3600;
		j.nonce = ((uint64_t)b->round << 32) | ((uint64_t)c->i << 16) | (uint64_t)n;
		if (rcpt_job_id(id, &d, &b->dom, &j) != RCPT_OK ||
		    rcpt_sign_digest(sig, &b->cust[c->i], id) != RCPT_OK ||
		    rcpt_job_to_json(&jt, &j) != RCPT_OK ||
		    rcpt_hex_encode(sh, sizeof(sh), sig, RCPT_SIG_BYTES) != RCPT_OK ||
		    rcpt_hex_encode(c->ids[n], RCPT_HASH_HEX_BYTES, id, RCPT_HASH_BYTES) != RCPT_OK)
			die("job signing");
		len = strlen(jt) + 200;
		c->bodies[n] = malloc(len);
		if (!c->bodies[n])
			die("malloc");
		snprintf(c->bodies[n], len, "{\"job\":%s,\"jobSignature\":\"%s\"}", jt, sh);
		free(jt);
	}
}

/* One request that must answer want (or want2); counts a failure else. */
static int expect(struct bp *b, long st, long want, long want2)
{
	if (st == want || (want2 && st == want2))
		return 0;
	atomic_fetch_add(&b->failed, 1);
	return -1;
}

static void *job_client(struct client *c)
{
	struct bp *b = c->b;
	const struct rcpt_key *k = &b->cust[c->i];
	struct timespec poll_ts = { 0, BENCH_PROVIDER_POLL_MS * 1000000L };

	for (int n = 0; n < BENCH_PROVIDER_JOBS; n++) {
		struct httpd_client_resp r;
		char target[128];
		const char *body = c->bodies[n];
		double until, t[5];
		int ok = 0;

		t[0] = bench_now_s();
		if (expect(b, req(&r, "POST", b->esc_url, "/v1/jobs", body, strlen(body), NULL,
				  NULL, 1), 201, 0))
			goto next_free;
		httpd_client_resp_free(&r);
		t[1] = bench_now_s();
		if (expect(b, req(&r, "POST", b->prov_url, "/v1/jobs", body, strlen(body), NULL,
				  k, 0), 201, 0))
			goto next_free;
		httpd_client_resp_free(&r);
		t[2] = bench_now_s();
		snprintf(target, sizeof(target), "/v1/jobs/%s/input", c->ids[n]);
		if (expect(b, req(&r, "PUT", b->prov_url, target, b->input, b->input_len,
				  "application/octet-stream", NULL, 0), 202, 0))
			goto next_free;
		httpd_client_resp_free(&r);
		t[3] = bench_now_s();
		atomic_fetch_add(&b->requests, 3);
		snprintf(target, sizeof(target), "/v1/jobs/%s", c->ids[n]);
		until = t[3] + BENCH_PROVIDER_JOB_WAIT_MS / 1000.0;
		while (bench_now_s() < until) {
			const char *s;
			if (expect(b, req(&r, "GET", b->prov_url, target, NULL, 0, NULL, k, 0), 200, 0))
				break;
			atomic_fetch_add(&b->requests, 1);
			s = httpd_client_str(&r, "status");
			if (s && strcmp(s, "receipted") == 0) {
				ok = 1;
				t[4] = bench_now_s();
				for (int p = 0; p < 4; p++)
					atomic_fetch_add(&b->phase_us[p],
							 (uint64_t)((t[p + 1] - t[p]) * 1e6));
				break;
			}
			if (!s || strcmp(s, "failed") == 0)
				break;
			httpd_client_resp_free(&r);
			nanosleep(&poll_ts, NULL);
		}
next_free:
		httpd_client_resp_free(&r);
		atomic_fetch_add(ok ? &b->done : &b->lost, 1);
	}
	for (int n = 0; n < BENCH_PROVIDER_JOBS; n++) {
		free(c->bodies[n]);
		c->bodies[n] = NULL;
	}
	return NULL;
}

/* ---------------------------------------------------------------- reference */

struct ref_arg {
	const uint8_t *in;
	size_t in_len;
	int jobs;
	int failed;
};

/* What a worker must do at the least: parse, run, serialize, commit. */
static void *ref_thread(void *arg)
{
	struct ref_arg *a = arg;
	struct kern_run_opts o = { KERN_DEVICE_CPU, 1, NULL };
	static const char params[] = "{\"relu\":false}";

	for (int n = 0; n < a->jobs; n++) {
		struct kern_tensors ti, to;
		struct rcpt_commitment cm;
		char dev[KERN_DEVICE_BYTES];
		uint8_t *out = NULL;
		size_t out_len = 0;

		kern_tensors_init(&ti);
		kern_tensors_init(&to);
		if (kern_st_parse(&ti, NULL, a->in, a->in_len) != KERN_OK ||
		    kern_run(&to, dev, NULL, "matmul_f32@1", &ti, params, sizeof(params) - 1, &o) !=
			    KERN_OK ||
		    kern_st_serialize(&out, &out_len, NULL, &to) != KERN_OK ||
		    rcpt_commit_buf(&cm, out, out_len) != RCPT_OK)
			a->failed++;
		free(out);
		kern_tensors_release(&ti);
		kern_tensors_release(&to);
	}
	return NULL;
}

static double ref_round(const struct bp *b)
{
	pthread_t th[2];
	struct ref_arg a[2];
	double t0 = bench_now_s();

	for (int i = 0; i < 2; i++) {
		a[i] = (struct ref_arg){ b->input, b->input_len, BENCH_PROVIDER_REF_JOBS / 2, 0 };
		if (pthread_create(&th[i], NULL, ref_thread, &a[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	if (a[0].failed || a[1].failed)
		die("the reference job failed");
	return BENCH_PROVIDER_REF_JOBS / (bench_now_s() - t0);
}

/* ---------------------------------------------------------------- input */

static void make_input(struct bp *b)
{
	struct kern_tensors s;
	struct kern_tensor *x;
	uint64_t sh[2] = { BENCH_PROVIDER_DIM, BENCH_PROVIDER_DIM };
	uint32_t seed = 9;
	const char *names[2] = { "a", "b" };

	kern_tensors_init(&s);
	for (int t = 0; t < 2; t++) {
		if (kern_tensors_add(&s, &x, NULL, names[t], KERN_DT_F32, 2, sh, NULL) != KERN_OK)
			die("tensor");
	}
	for (int t = 0; t < 2; t++) {
		x = (struct kern_tensor *)kern_tensors_find(&s, names[t]);
		for (uint64_t i = 0; i < sh[0] * sh[1]; i++) {
			seed = seed * 1664525u + 1013904223u;
			((float *)x->data)[i] = (float)((int32_t)(seed >> 8) % 2000) / 997.0f;
		}
	}
	if (kern_st_serialize(&b->input, &b->input_len, NULL, &s) != KERN_OK)
		die("serialize");
	kern_tensors_release(&s);
}

/* ---------------------------------------------------------------- section */

void bench_provider(void)
{
	static struct bp b;   /* keys and client state: not on the stack */
	static struct client cs[BENCH_PROVIDER_CLIENTS];
	double signin = 0, livez = 0, jobs = 0, ref = 0, job_rps = 0;
	uint64_t signin_n = 0, job_n = 0, failed = 0, lost = 0;

	if (httpd_client_global_init())
		die("libcurl");
	signal(SIGPIPE, SIG_IGN);
	memset(&b, 0, sizeof(b));
	make_input(&b);
	setup(&b);
	for (int i = 0; i < BENCH_PROVIDER_CLIENTS; i++) {
		cs[i].b = &b;
		cs[i].i = i;
	}
	for (unsigned round = 0; round < BENCH_PROVIDER_ROUNDS; round++) {
		double dt, rate;

		/* sign-in, then the HTTP floor */
		atomic_store(&b.done, 0);
		dt = run_clients(cs, signin_client);
		rate = (double)atomic_load(&b.done) / dt;
		signin_n += atomic_load(&b.done);
		signin = rate > signin ? rate : signin;
		atomic_store(&b.done, 0);
		dt = run_clients(cs, livez_client);
		rate = (double)atomic_load(&b.done) / dt;
		livez = rate > livez ? rate : livez;

		/* a small job end to end, then the same job in-process */
		b.round = round;
		for (int i = 0; i < BENCH_PROVIDER_CLIENTS; i++)
			jobs_prepare(&cs[i]);
		atomic_store(&b.done, 0);
		atomic_store(&b.requests, 0);
		dt = run_clients(cs, job_client);
		rate = (double)atomic_load(&b.done) / dt;
		job_n += atomic_load(&b.done);
		if (rate > jobs) {
			jobs = rate;
			job_rps = (double)atomic_load(&b.requests) / dt;
		}
		rate = ref_round(&b);
		ref = rate > ref ? rate : ref;
	}
	failed = atomic_load(&b.failed);
	lost = atomic_load(&b.lost);
	bench_row("provider: sign-in, 16 clients (/s)", signin, livez, "signin/s",
		  "escrow GET /livez, 16 clients", 0);
	bench_row("provider: small job end to end (/s)", jobs, ref, "jobs/s",
		  "same job, kern_run 2 threads", 0);
	bench_row("provider: job rounds' requests (/s)", job_rps, livez, "req/s",
		  "escrow GET /livez, 16 clients", 0);
	printf("provider: %llu sign-ins and %llu jobs (matmul_f32 %dx%dx%d, --workers 2) over %d rounds; "
	       "%llu failed requests, %llu lost jobs\n",
	       (unsigned long long)signin_n, (unsigned long long)job_n, BENCH_PROVIDER_DIM,
	       BENCH_PROVIDER_DIM, BENCH_PROVIDER_DIM, BENCH_PROVIDER_ROUNDS,
	       (unsigned long long)failed, (unsigned long long)lost);
	if (job_n)
		printf("provider: a job's mean time in each step: escrow open %.1f ms, submit %.1f ms, "
		       "upload %.1f ms, upload to receipted %.1f ms (polled every %d ms)\n",
		       (double)atomic_load(&b.phase_us[0]) / 1e3 / (double)job_n,
		       (double)atomic_load(&b.phase_us[1]) / 1e3 / (double)job_n,
		       (double)atomic_load(&b.phase_us[2]) / 1e3 / (double)job_n,
		       (double)atomic_load(&b.phase_us[3]) / 1e3 / (double)job_n,
		       BENCH_PROVIDER_POLL_MS);
	fflush(stdout);
	free(b.input);
	teardown(&b, failed || lost);
	if (failed || lost)
		die("requests failed or jobs were lost");
}
