/*
 * main.c: assay-provider's flags, start-up checks, registration with the
 * escrow, and signals (docs/provider.md).
 *
 * Start-up refuses, with one line on stderr and exit 1: a key file that
 * others can read (rcpt_key_load), an escrow that does not answer, a
 * stake below the escrow's minimum, fault injection on a chain that is
 * not a devnet (chain id 31337), a data key others can read.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "httpd_client.h"
#include "provider.h"

#include "monotonic.h"
#include "banned.h"

#define DEVNET_CHAIN_ID 31337u
#define DEFAULT_LISTEN "127.0.0.1:8701"
#define DEFAULT_PRICE "1000000000000000000"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: assay-provider --key FILE --escrow URL --data DIR [options]\n"
		"  --listen HOST:PORT        where to serve (default " DEFAULT_LISTEN ")\n"
		"  --public-url URL          the URL registered with the escrow (default http://LISTEN)\n"
		"  --price WEI               asked per job (default " DEFAULT_PRICE ")\n"
		"  --workers N               concurrent jobs (default 1, at most 64)\n"
		"  --queue-max N             queued jobs before 503 (default 16, at most 1024)\n"
		"  --worker-mem-mb N         a worker's address space (default 8192)\n"
		"  --worker-cpu-s N          a worker's CPU seconds (default 600)\n"
		"  --worker-wall-ms N        a worker's wall-clock limit (default 900000)\n"
		"  --job-threads N           kernel threads of one job (default 1, at most 64)\n"
		"  --device auto|cpu|cuda    where jobs run (default auto: the cpu until there\n"
		"                            is a GPU worker; cuda is refused without one)\n"
		"  --sandbox MODE            best-effort (default): run without a sandbox layer\n"
		"                            this kernel refuses, and say so; strict: refuse to\n"
		"                            start (docs/sandbox.md)\n"
		"  --fault corrupt-output=P  devnet only: flip a bit in share P of outputs\n"
		"  --fault-seed N            make fault injection reproducible\n"
		"  --janitor-period-s N      how often to ask the escrow about settlement (default 5)\n"
		"  --model-dir DIR           the models this provider serves (gpt2_f32@1): every\n"
		"                            *.safetensors in DIR, committed to at start\n"
		"  --siwe-domain HOST --siwe-uri URI  enable Sign-In with Ethereum (both 'auto':\n"
		"                            the listen address and port, http(s)://HOST:PORT)\n"
		"  --session-ttl-s N         sign-in session lifetime (default 900)\n"
		"  --tls-cert FILE --tls-key FILE     serve HTTPS (TLS 1.3; the key mode 0600)\n"
		"  --tls-allow-1.2           also TLS 1.2 (ECDHE and AEAD ciphers only)\n"
		"  --ca-file FILE            verify the escrow against this CA bundle instead\n"
		"                            of the system's\n"
		"  --rate-per-s N --rate-burst N      token bucket per IP and per signer\n"
		"  --signin-rate-per-s N --signin-rate-burst N  a smaller bucket per IP for the\n"
		"                            anonymous sign-in routes (default 2, 20; raise it\n"
		"                            behind a proxy, where every client has its IP)\n"
		"  --quiet                   no per-request log line\n"
		"  --print-routes            print the route table, METHOD PATH a line, and exit\n"
		"Every flag may come from ASSAY_PROVIDER_<FLAG> (upper case, '-' and '.' as '_').\n");
}

/* --print-routes: every route of the table (the sign-in ones too, served
 * only with --siwe-domain), one "METHOD PATH" a line, for
 * tests/openapi/check.mjs to compare with docs/provider-openapi.yaml. */
static int print_routes(void)
{
	for (size_t i = 0; i < prov_routes_len; i++)
		printf("%s %s\n", prov_routes[i].method, prov_routes[i].pattern);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

struct opt {
	const char *name;
	const char *text;
	int is_flag;
};

enum {
	O_LISTEN, O_KEY, O_ESCROW, O_DATA, O_PUBLIC_URL, O_PRICE, O_WORKERS, O_QUEUE_MAX,
	O_MEM, O_CPU, O_WALL, O_FAULT, O_FAULT_SEED, O_JANITOR, O_SIWE_DOMAIN, O_SIWE_URI,
	O_TTL, O_CERT, O_TKEY, O_RATE, O_BURST, O_SRATE, O_SBURST, O_QUIET, O_THREADS,
	O_SANDBOX, O_DEVICE, O_TLS12, O_CA, O_MODELS, O_COUNT
};

static struct opt opts[O_COUNT] = {
	[O_LISTEN] = { "listen", NULL, 0 }, [O_KEY] = { "key", NULL, 0 },
	[O_ESCROW] = { "escrow", NULL, 0 }, [O_DATA] = { "data", NULL, 0 },
	[O_PUBLIC_URL] = { "public-url", NULL, 0 }, [O_PRICE] = { "price", NULL, 0 },
	[O_WORKERS] = { "workers", NULL, 0 }, [O_QUEUE_MAX] = { "queue-max", NULL, 0 },
	[O_MEM] = { "worker-mem-mb", NULL, 0 }, [O_CPU] = { "worker-cpu-s", NULL, 0 },
	[O_WALL] = { "worker-wall-ms", NULL, 0 }, [O_FAULT] = { "fault", NULL, 0 },
	[O_FAULT_SEED] = { "fault-seed", NULL, 0 }, [O_JANITOR] = { "janitor-period-s", NULL, 0 },
	[O_SIWE_DOMAIN] = { "siwe-domain", NULL, 0 }, [O_SIWE_URI] = { "siwe-uri", NULL, 0 },
	[O_TTL] = { "session-ttl-s", NULL, 0 }, [O_CERT] = { "tls-cert", NULL, 0 },
	[O_TKEY] = { "tls-key", NULL, 0 }, [O_RATE] = { "rate-per-s", NULL, 0 },
	[O_BURST] = { "rate-burst", NULL, 0 }, [O_SRATE] = { "signin-rate-per-s", NULL, 0 },
	[O_SBURST] = { "signin-rate-burst", NULL, 0 }, [O_QUIET] = { "quiet", NULL, 1 },
	[O_THREADS] = { "job-threads", NULL, 0 }, [O_SANDBOX] = { "sandbox", NULL, 0 },
	[O_DEVICE] = { "device", NULL, 0 }, [O_TLS12] = { "tls-allow-1.2", NULL, 1 },
	[O_CA] = { "ca-file", NULL, 0 }, [O_MODELS] = { "model-dir", NULL, 0 },
};

static void from_env(void)
{
	char name[64];

	for (size_t i = 0; i < O_COUNT; i++) {
		size_t n = (size_t)snprintf(name, sizeof(name), "ASSAY_PROVIDER_%s", opts[i].name);
		for (size_t k = 15; k < n && k < sizeof(name); k++)
			name[k] = (name[k] == '-' || name[k] == '.')
					  ? '_' : (char)(name[k] >= 'a' && name[k] <= 'z'
							 ? name[k] - 32 : name[k]);
		opts[i].text = getenv(name);
	}
}

static int parse_args(int argc, char **argv)
{
	struct option longs[O_COUNT + 3];
	int c;

	for (size_t i = 0; i < O_COUNT; i++) {
		longs[i].name = opts[i].name;
		longs[i].has_arg = opts[i].is_flag ? no_argument : required_argument;
		longs[i].flag = NULL;
		longs[i].val = 256 + (int)i;
	}
	longs[O_COUNT] = (struct option){ "help", no_argument, NULL, 'h' };
	longs[O_COUNT + 1] = (struct option){ "print-routes", no_argument, NULL, 'P' };
	longs[O_COUNT + 2] = (struct option){ NULL, 0, NULL, 0 };
	while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == 'P')
			exit(print_routes());
		if (c < 256 || c >= 256 + O_COUNT)
			return -1;
		opts[c - 256].text = opts[c - 256].is_flag ? "1" : optarg;
	}
	return optind == argc ? 0 : -1;
}

static int num(uint64_t *out, int o, uint64_t def, uint64_t lo, uint64_t hi)
{
	const char *s = opts[o].text;
	char *end = NULL;
	unsigned long long v;

	if (!s) {
		*out = def;
		return 0;
	}
	errno = 0;
	v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
	if (!end || *end || errno || v < lo || v > hi) {
		fprintf(stderr, "assay-provider: could not parse --%s '%.40s': want %llu..%llu\n",
			opts[o].name, s, (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int url_ok(const char *u)
{
	size_t n = u ? strlen(u) : 0;

	if (!n || n > 256 || u[n - 1] == '/' ||
	    (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (u[i] <= ' ' || u[i] > '~' || u[i] == '?' || u[i] == '#' || u[i] == '@')
			return 0;
	return 1;
}

static int build_config(struct prov_config *cfg, char *host, size_t host_len, char *pub,
			size_t pub_len)
{
	const char *l = opts[O_LISTEN].text ? opts[O_LISTEN].text : DEFAULT_LISTEN;
	const char *colon = strrchr(l, ':');
	uint64_t v;

	memset(cfg, 0, sizeof(*cfg));
	if (!opts[O_KEY].text || !opts[O_ESCROW].text || !opts[O_DATA].text) {
		fprintf(stderr, "assay-provider: --key, --escrow and --data are required\n");
		return -1;
	}
	if (!colon || (size_t)(colon - l) >= host_len || colon == l) {
		fprintf(stderr, "assay-provider: could not parse --listen '%.80s': want HOST:PORT\n", l);
		return -1;
	}
	memcpy(host, l, (size_t)(colon - l));
	host[colon - l] = '\0';
	opts[O_LISTEN].text = colon + 1;
	if (num(&v, O_LISTEN, 0, 0, 65535))
		return -1;
	cfg->listen_host = host;
	cfg->listen_port = (uint16_t)v;
	cfg->escrow_url = opts[O_ESCROW].text;
	if (!url_ok(cfg->escrow_url)) {
		fprintf(stderr, "assay-provider: --escrow '%.80s' is not an http(s) URL without a trailing '/'\n",
			cfg->escrow_url);
		return -1;
	}
	cfg->data_dir = opts[O_DATA].text;
	cfg->public_url = opts[O_PUBLIC_URL].text;
	(void)pub;
	(void)pub_len;
	if (cfg->public_url && !url_ok(cfg->public_url)) {
		fprintf(stderr, "assay-provider: --public-url '%.80s' is not an http(s) URL without a trailing '/'\n",
			cfg->public_url);
		return -1;
	}
	if (rcpt_u256_parse(&cfg->price, opts[O_PRICE].text ? opts[O_PRICE].text : DEFAULT_PRICE)) {
		fprintf(stderr, "assay-provider: could not parse --price: want a decimal uint256\n");
		return -1;
	}
	if (num(&v, O_WORKERS, PROV_WORKERS_DEFAULT, 1, PROV_WORKERS_MAX))
		return -1;
	cfg->workers = (unsigned)v;
	if (num(&v, O_QUEUE_MAX, PROV_QUEUE_DEFAULT, 1, PROV_QUEUE_MAX))
		return -1;
	cfg->queue_max = (unsigned)v;
	if (num(&v, O_MEM, SBX_MEM_BYTES_DEFAULT >> 20, SBX_MEM_BYTES_MIN >> 20,
		SBX_MEM_BYTES_MAX >> 20))
		return -1;
	cfg->limits.mem_bytes = v << 20;
	if (num(&v, O_CPU, SBX_CPU_S_DEFAULT, 1, SBX_CPU_S_MAX))
		return -1;
	cfg->limits.cpu_s = (unsigned)v;
	if (num(&v, O_WALL, SBX_WALL_MS_DEFAULT, 1, SBX_WALL_MS_MAX))
		return -1;
	cfg->limits.wall_ms = (unsigned)v;
	if (num(&v, O_THREADS, SBX_THREADS_DEFAULT, 1, SBX_THREADS_MAX))
		return -1;
	cfg->limits.threads = (unsigned)v;
	if (sbx_mode_parse(&cfg->sandbox_mode, opts[O_SANDBOX].text)) {
		fprintf(stderr, "assay-provider: could not parse --sandbox '%.40s': want best-effort or strict\n",
			opts[O_SANDBOX].text);
		return -1;
	}
	if (num(&v, O_JANITOR, PROV_JANITOR_PERIOD_S_DEFAULT, 1, 3600))
		return -1;
	cfg->janitor_period_s = (unsigned)v;
	if (num(&cfg->fault_seed, O_FAULT_SEED, 0, 0, UINT64_MAX))
		return -1;
	if (opts[O_FAULT].text) {
		const char *f = opts[O_FAULT].text;
		char *end = NULL;
		if (strncmp(f, "corrupt-output=", 15) != 0 ||
		    !((cfg->fault_corrupt_p = strtod(f + 15, &end)) >= 0.0) || !end || *end ||
		    end == f + 15 || cfg->fault_corrupt_p > 1.0) {
			fprintf(stderr, "assay-provider: could not parse --fault '%.60s': want corrupt-output=P with P in [0, 1]\n",
				f);
			return -1;
		}
	}
	cfg->siwe_domain = opts[O_SIWE_DOMAIN].text;
	cfg->siwe_uri = opts[O_SIWE_URI].text;
	if ((!cfg->siwe_domain) != (!cfg->siwe_uri) ||
	    (cfg->siwe_domain && (!*cfg->siwe_domain || strlen(cfg->siwe_domain) > HTTPD_SIWE_DOMAIN_BYTES_MAX ||
				  !*cfg->siwe_uri || strlen(cfg->siwe_uri) > HTTPD_SIWE_URI_BYTES_MAX))) {
		fprintf(stderr, "assay-provider: --siwe-domain and --siwe-uri go together, non-empty and short\n");
		return -1;
	}
	if (cfg->siwe_domain && (strcmp(cfg->siwe_domain, "auto") == 0) !=
				(strcmp(cfg->siwe_uri, "auto") == 0)) {
		fprintf(stderr, "assay-provider: --siwe-domain auto goes with --siwe-uri auto\n");
		return -1;
	}
	if (num(&cfg->session_ttl_s, O_TTL, HTTPD_SESSION_TTL_S_DEFAULT, 1, HTTPD_SESSION_TTL_S_MAX))
		return -1;
	cfg->tls_cert = opts[O_CERT].text;
	cfg->tls_key = opts[O_TKEY].text;
	cfg->tls_allow_12 = opts[O_TLS12].text != NULL;
	if ((!cfg->tls_cert) != (!cfg->tls_key)) {
		fprintf(stderr, "assay-provider: --tls-cert and --tls-key go together\n");
		return -1;
	}
	if (num(&v, O_RATE, (uint64_t)HTTPD_RATE_PER_S_DEFAULT, 1, 1000000))
		return -1;
	cfg->rate_per_s = (double)v;
	if (num(&v, O_BURST, (uint64_t)HTTPD_RATE_BURST_DEFAULT, 1, 1000000))
		return -1;
	cfg->rate_burst = (double)v;
	if (num(&v, O_SRATE, (uint64_t)HTTPD_SIWE_RATE_PER_S, 1, 1000000))
		return -1;
	cfg->signin_rate_per_s = (double)v;
	if (num(&v, O_SBURST, (uint64_t)HTTPD_SIWE_RATE_BURST, 1, 1000000))
		return -1;
	cfg->signin_rate_burst = (double)v;
	cfg->quiet = opts[O_QUIET].text != NULL;
	cfg->model_dir = opts[O_MODELS].text;
	cfg->register_with_escrow = 1;
	return 0;
}

/* GET on the escrow; the parsed object in *out (caller decrefs). */
static int escrow_get(struct prov *p, const char *target, json_t **out)
{
	struct httpd_client_resp resp;
	struct httpd_client_req req = { 0 };
	char why[256];

	*out = NULL;
	req.method = "GET";
	req.base_url = p->cfg.escrow_url;
	req.target = target;
	req.timeout_ms = PROV_ESCROW_TIMEOUT_MS;
	if (httpd_client_request(&resp, why, sizeof(why), &req) != HTTPD_OK) {
		fprintf(stderr, "assay-provider: %s\n", why);
		return -1;
	}
	if (resp.status != 200 || !json_is_object(resp.json)) {
		fprintf(stderr, "assay-provider: escrow answered HTTP %ld to GET %s%s%s\n",
			resp.status, target, resp.problem_title[0] ? ": " : "", resp.problem_title);
		httpd_client_resp_free(&resp);
		return -1;
	}
	*out = json_incref(resp.json);
	httpd_client_resp_free(&resp);
	return 0;
}

/* A random Idempotency-Key: 16 bytes from the OS as hex. */
static int getrandom_idem(char *out, size_t len)
{
	uint8_t b[16];
	char h[2 * sizeof(b) + 3];

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    rcpt_hex_encode(h, sizeof(h), b, sizeof(b)) != RCPT_OK)
		return -1;
	snprintf(out, len, "reg.%s", h + 2);
	return 0;
}

/* The escrow's domain and parameters, and our stake. */
static int join_escrow(struct prov *p)
{
	struct rcpt_u256 stake;
	char target[96], a[RCPT_ADDR_HEX_BYTES];
	uint8_t vc[RCPT_ADDR_BYTES];
	json_t *par = NULL, *acct = NULL;
	const char *s;
	json_int_t chain;
	int rc = -1;

	if (escrow_get(p, "/v1/params", &par))
		return -1;
	chain = json_integer_value(json_object_get(par, "chainId"));
	s = json_string_value(json_object_get(par, "verifyingContract"));
	if (chain <= 0 || !s || rcpt_address_parse(vc, s) != RCPT_OK ||
	    !(s = json_string_value(json_object_get(par, "minStake"))) ||
	    rcpt_u256_parse(&p->min_stake, s) != RCPT_OK) {
		fprintf(stderr, "assay-provider: the escrow's /v1/params is not what Assay's escrow answers\n");
		goto out;
	}
	rcpt_domain_assay(&p->domain, (uint64_t)chain, vc);
	p->devnet = chain == DEVNET_CHAIN_ID;
	if (p->cfg.fault_corrupt_p > 0.0 && !p->devnet) {
		fprintf(stderr, "assay-provider: --fault is refused: the escrow's chain id %lld is not a devnet (%u)\n",
			(long long)chain, DEVNET_CHAIN_ID);
		goto out;
	}
	rcpt_address_format(a, p->key.address);
	snprintf(target, sizeof(target), "/v1/accounts/%s", a);
	if (escrow_get(p, target, &acct))
		goto out;
	s = json_string_value(json_object_get(acct, "stake"));
	if (!s || rcpt_u256_parse(&stake, s) != RCPT_OK ||
	    rcpt_u256_cmp(&stake, &p->min_stake) < 0) {
		char ms[RCPT_U256_DEC_BYTES];
		rcpt_u256_format(ms, &p->min_stake);
		fprintf(stderr, "assay-provider: %s has stake %s at the escrow, below its minimum %s: stake first (assay escrow stake)\n",
			a, s ? s : "?", ms);
		goto out;
	}
	rc = 0;
out:
	json_decref(par);
	json_decref(acct);
	return rc;
}

/* Registers our address and public URL with the escrow (which checks
 * the stake again). */
static int register_with_escrow(struct prov *p)
{
	struct httpd_client_resp resp;
	struct httpd_client_req req = { 0 };
	char a[RCPT_ADDR_HEX_BYTES], why[256], idem[64], *body;
	int rc = -1;

	rcpt_address_format(a, p->key.address);
	body = NULL;
	{
		json_t *b = json_pack("{s:s}", "url", p->cfg.public_url);
		body = b ? json_dumps(b, JSON_COMPACT) : NULL;
		json_decref(b);
	}
	if (!body)
		goto out;
	if (getrandom_idem(idem, sizeof(idem))) {
		free(body);
		goto out;
	}
	req.method = "POST";
	req.base_url = p->cfg.escrow_url;
	req.target = "/v1/providers";
	req.body = body;
	req.body_len = strlen(body);
	req.key = &p->key;
	req.idem_key = idem;
	req.timeout_ms = PROV_ESCROW_TIMEOUT_MS;
	if (httpd_client_request(&resp, why, sizeof(why), &req) != HTTPD_OK) {
		fprintf(stderr, "assay-provider: registration: %s\n", why);
		free(body);
		goto out;
	}
	free(body);
	if (resp.status != 200 && resp.status != 201) {
		fprintf(stderr, "assay-provider: the escrow refused the registration: HTTP %ld %s (%s)\n",
			resp.status, resp.problem_title, resp.problem_type);
		httpd_client_resp_free(&resp);
		goto out;
	}
	httpd_client_resp_free(&resp);
	prov_log("registered", "address=%s url=%s", a, p->cfg.public_url);
	rc = 0;
out:
	return rc;
}

/* What the process needs before its first thread: libcurl, the worker
 * binary, the CA file, the locks.  0, or -1 having said why. */
static int process_init(struct prov *p)
{
	char why[512];

	if (httpd_client_global_init()) {
		fprintf(stderr, "assay-provider: could not start libcurl\n");
		return -1;
	}
	/* A multithreaded daemon execs its workers (sandbox.h). */
	if (sbx_use_worker_beside_self(why, sizeof(why))) {
		fprintf(stderr, "assay-provider: %s\n", why);
		return -1;
	}
	if (opts[O_CA].text && httpd_client_set_ca_file(opts[O_CA].text, why, sizeof(why))) {
		fprintf(stderr, "assay-provider: --ca-file: %s\n", why);
		return -1;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (mono_cond_init(&p->janitor_cv)) {
		fprintf(stderr, "assay-provider: could not make a monotonic condition variable\n");
		return -1;
	}
	return 0;
}

/* The escrow joined, the stored jobs loaded, the device chosen and the
 * sandbox checked.  0, or -1 having said why. */
static int state_open(struct prov *p)
{
	char why[512] = "";

	if (join_escrow(p))
		return -1;
	if (prov_store_open(p, why, sizeof(why)) || prov_auth_load(p, why, sizeof(why)) ||
	    prov_store_load_all(p, why, sizeof(why)) ||
	    prov_models_load(p, why, sizeof(why))) {
		fprintf(stderr, "assay-provider: %s\n", why);
		return -1;
	}
	if (sbx_device_select(p->device, why, sizeof(why), opts[O_DEVICE].text)) {
		fprintf(stderr, "assay-provider: %s\n", why);
		return -1;
	}
	prov_log("device", "device=%s%s%s", p->device, why[0] ? " note=" : "", why);
	return prov_sandbox_check(p) ? -1 : 0;
}

/* `--siwe-domain auto` and a --public-url left out name the port, known
 * once it is bound (--listen HOST:0). */
static void bound_names(struct prov *p, const char *host, char *pub, size_t pub_len)
{
	/* Set before the port is announced; a sign-in that races it is
	 * refused (empty domain) and retried. */
	if (p->cfg.siwe_domain && strcmp(p->cfg.siwe_domain, "auto") == 0) {
		static char sdom[96], suri[128];
		snprintf(sdom, sizeof(sdom), "%s:%u", host, (unsigned)httpd_port(p->http));
		snprintf(suri, sizeof(suri), "http%s://%s", p->cfg.tls_cert ? "s" : "", sdom);
		__atomic_store_n(&p->siwe.uri, suri, __ATOMIC_RELEASE);
		__atomic_store_n(&p->siwe.domain, sdom, __ATOMIC_RELEASE);
	}
	if (!p->cfg.public_url) {
		snprintf(pub, pub_len, "http%s://%s:%u", p->cfg.tls_cert ? "s" : "", host,
			 (unsigned)httpd_port(p->http));
		p->cfg.public_url = pub;
	}
}

/* The workers, the server and the registration at the escrow.  0, or -1
 * having said why, with nothing left running. */
static int services_start(struct prov *p, const char *host, char *pub, size_t pub_len)
{
	char why[512];

	if (prov_jobs_start(p)) {
		fprintf(stderr, "assay-provider: could not start the worker threads\n");
		return -1;
	}
	if (prov_api_start(p, why, sizeof(why))) {
		fprintf(stderr, "assay-provider: could not serve on %s:%u: %s\n", host,
			(unsigned)p->cfg.listen_port, why);
		prov_jobs_stop(p);
		return -1;
	}
	bound_names(p, host, pub, pub_len);
	if (register_with_escrow(p)) {
		httpd_free(p->http);
		p->http = NULL;
		prov_jobs_stop(p);
		return -1;
	}
	return 0;
}

/* Serves until SIGINT or SIGTERM, then stops the server and workers. */
static void serve(struct prov *p, const char *host)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	printf("listening on %s:%u\n", host, (unsigned)httpd_port(p->http));
	fflush(stdout);
	prov_log("started", "address=0x%02x%02x.. workers=%u queue_max=%u jobs=%zu%s",
		 p->key.address[0], p->key.address[1], p->cfg.workers, p->cfg.queue_max,
		 p->jobs_len, p->cfg.fault_corrupt_p > 0.0 ? " fault=corrupt-output" : "");
	while (!stop_flag)
		pause();
	prov_log("stopping", "signal=1");
	httpd_free(p->http);
	p->http = NULL;
	prov_jobs_stop(p);
}

/* The keys this process held: jobs' data keys, the data key, the key. */
static void wipe_keys(struct prov *p)
{
	for (size_t i = 0; i < p->jobs_len; i++) {
		OPENSSL_cleanse(p->jobs[i]->key, sizeof(p->jobs[i]->key));
		free(p->jobs[i]);
	}
	OPENSSL_cleanse(p->data_key, sizeof(p->data_key));
	OPENSSL_cleanse(p->auth_mac_key, sizeof(p->auth_mac_key));
	rcpt_key_wipe(&p->key);
}

int main(int argc, char **argv)
{
	static struct prov p;   /* large (session and nonce tables): not on the stack */
	char host[64], pub[300];
	struct rcpt_diag d;
	int rc = 1;

	if (rcpt_harden_process() != RCPT_OK) {
		fprintf(stderr, "assay-provider: could not turn core dumps off\n");
		return 1;
	}
	from_env();
	if (parse_args(argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (build_config(&p.cfg, host, sizeof(host), pub, sizeof(pub)))
		return 2;
	if (rcpt_key_load(&p.key, &d, opts[O_KEY].text)) {
		fprintf(stderr, "assay-provider: key: %s\n", d.msg);
		return 1;
	}
	if (!process_init(&p) && !state_open(&p) &&
	    !services_start(&p, host, pub, sizeof(pub))) {
		serve(&p, host);
		rc = 0;
	}
	wipe_keys(&p);
	return rc;
}
