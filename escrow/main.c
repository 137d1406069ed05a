/*
 * main.c: assay-escrow's flags and start-up (docs/escrow.md).
 *
 * Flags override ASSAY_ESCROW_* environment variables, which override
 * the defaults.  The escrow's key gives its address (the EIP-712
 * verifyingContract on the PostgreSQL backend) and signs the referee's
 * requests to providers; it is wiped on every exit path.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "escrow.h"
#include "httpd_client.h"
#include "evm_rpc.h"
#include "monotonic.h"
#include "referee.h"
#include "sandbox.h"
#include "sbx_limits.h"
#include "banned.h"

#define DEFAULT_MIN_STAKE "100000000000000000000"   /* 100 units of 10^18 */
#define DEFAULT_SLASH_BPS 5000u
#define DEFAULT_BOUNTY_BPS 2000u
#define DEFAULT_SAMPLE_BPS 1000u
#define DEFAULT_WINDOW_S 3600u
#define DEFAULT_UNBONDING_S 604800u
#define DEFAULT_REFEREE_S 600u
#define DEFAULT_CHAIN_ID 31337u

static void usage(FILE *f)
{
	fprintf(f,
		"usage: assay-escrow --db CONNINFO --key FILE [options]\n"
		"  --listen HOST:PORT        127.0.0.1:8700 (port 0: any, printed)\n"
		"  --db CONNINFO             libpq connection string\n"
		"  --key FILE                the escrow's key (mode 0600)\n"
		"  --chain-id N              %u\n"
		"  --devnet                  allow the faucet\n"
		"  --min-stake WEI           %s\n"
		"  --slash-bps N             %u (share of the offender's bond)\n"
		"  --bounty-bps N            %u (share of the slash to the validator)\n"
		"  --sample-bps N            %u (sampling probability announced)\n"
		"  --challenge-window-s N    %u\n"
		"  --unbonding-s N           %u (>= window + referee deadline)\n"
		"  --referee-deadline-s N    %u\n"
		"  --referee-cpu-s N --referee-mem-mb N --referee-wall-ms N  the referee's\n"
		"                            sandbox limits (600, 4096, 900000)\n"
		"  --referee-threads N       kernel threads of one referee run (1)\n"
		"  --sandbox MODE            best-effort (default) or strict: refuse to start\n"
		"                            when the kernel refuses a sandbox layer\n"
		"  --referee-delay-ms N      devnet tests only: wait N ms before each referee run\n"
		"  --tls-cert FILE --tls-key FILE   serve HTTPS (TLS 1.3; the key mode 0600)\n"
		"  --tls-allow-1.2           also TLS 1.2 (ECDHE and AEAD ciphers only)\n"
		"  --ca-file FILE            verify the providers the referee calls (and an\n"
		"                            https EVM node) against this CA bundle\n"
		"                            instead of the system's\n"
		"  --rate-per-s N --rate-burst N    requests per IP and per signer (50, 100)\n"
		"  --quiet                   no per-request log lines\n"
		"  --http-workers N          %u handler threads, each with its own database\n"
		"                            session (0: one request at a time; at most %u)\n"
		"  --siwe-domain HOST --siwe-uri URI  enable Sign-In with Ethereum (EIP-4361):\n"
		"                            a message must name exactly this domain and URI\n"
		"  --session-ttl-s N         %u (sign-in session lifetime, at most %u)\n"
		"  --operator ADDR           the operator: may sign in as operator, and signs\n"
		"                            the registry's decisions (approve, suspend, revoke)\n"
		"  --registry MODE           open (default): any staked provider takes jobs;\n"
		"                            approved: only providers --operator approved\n"
		"  --hold-after-frauds N     %u proven frauds hold a provider from new jobs\n"
		"                            until --operator approves it again (0: never)\n"
		"  --signin-rate-per-s N --signin-rate-burst N  anonymous sign-in requests per IP (2, 20)\n"
		"  --invariant-interval-s N  %u (seconds between checks of the ledger's invariants,\n"
		"                            exported on /metrics; %u..%u)\n"
		"  --print-routes            print the route table, METHOD PATH a line, and exit\n"
		"every flag also reads ASSAY_ESCROW_<FLAG> (upper case, '-' as '_')\n",
		DEFAULT_CHAIN_ID, DEFAULT_MIN_STAKE, DEFAULT_SLASH_BPS, DEFAULT_BOUNTY_BPS,
		DEFAULT_SAMPLE_BPS, DEFAULT_WINDOW_S, DEFAULT_UNBONDING_S, DEFAULT_REFEREE_S,
		(unsigned)ESCROW_HTTP_WORKERS_DEFAULT, (unsigned)HTTPD_WORKERS_MAX,
		(unsigned)HTTPD_SESSION_TTL_S_DEFAULT, (unsigned)HTTPD_SESSION_TTL_S_MAX,
		(unsigned)ESCROW_HOLD_AFTER_FRAUDS_DEFAULT,
		(unsigned)ESCROW_INVARIANT_INTERVAL_S_DEFAULT, (unsigned)ESCROW_INVARIANT_INTERVAL_S_MIN,
		(unsigned)ESCROW_INVARIANT_INTERVAL_S_MAX);
}

/* --print-routes: the route table, one "METHOD PATH" a line, for
 * tests/openapi/check.mjs to compare with docs/escrow-openapi.yaml. */
static int print_routes(void)
{
	for (size_t i = 0; i < escrow_routes_len; i++)
		printf("%s %s\n", escrow_routes[i].method, escrow_routes[i].pattern);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}

static int parse_u64(uint64_t *out, const char *s, uint64_t max)
{
	char *end = NULL;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -1;
	*out = v;
	return 0;
}

struct opt_text {
	const char *listen, *db, *key, *chain_id, *min_stake, *slash, *bounty, *sample,
		*window, *unbonding, *referee, *cert, *tkey, *rate, *burst,
		*siwe_domain, *siwe_uri, *session_ttl, *operator_addr, *srate, *sburst,
		*workers, *ref_cpu, *ref_mem, *ref_wall, *ref_threads, *ref_delay, *sandbox,
		*ca_file, *registry, *hold, *inv_interval;
	int devnet, quiet, tls12;
};

static void from_env(struct opt_text *o)
{
	const char *d;

	o->listen = getenv("ASSAY_ESCROW_LISTEN");
	o->db = getenv("ASSAY_ESCROW_DB");
	o->key = getenv("ASSAY_ESCROW_KEY");
	o->chain_id = getenv("ASSAY_ESCROW_CHAIN_ID");
	o->min_stake = getenv("ASSAY_ESCROW_MIN_STAKE");
	o->slash = getenv("ASSAY_ESCROW_SLASH_BPS");
	o->bounty = getenv("ASSAY_ESCROW_BOUNTY_BPS");
	o->sample = getenv("ASSAY_ESCROW_SAMPLE_BPS");
	o->window = getenv("ASSAY_ESCROW_CHALLENGE_WINDOW_S");
	o->unbonding = getenv("ASSAY_ESCROW_UNBONDING_S");
	o->referee = getenv("ASSAY_ESCROW_REFEREE_DEADLINE_S");
	o->cert = getenv("ASSAY_ESCROW_TLS_CERT");
	o->tkey = getenv("ASSAY_ESCROW_TLS_KEY");
	o->rate = getenv("ASSAY_ESCROW_RATE_PER_S");
	o->burst = getenv("ASSAY_ESCROW_RATE_BURST");
	o->siwe_domain = getenv("ASSAY_ESCROW_SIWE_DOMAIN");
	o->siwe_uri = getenv("ASSAY_ESCROW_SIWE_URI");
	o->session_ttl = getenv("ASSAY_ESCROW_SESSION_TTL_S");
	o->operator_addr = getenv("ASSAY_ESCROW_OPERATOR");
	o->srate = getenv("ASSAY_ESCROW_SIGNIN_RATE_PER_S");
	o->sburst = getenv("ASSAY_ESCROW_SIGNIN_RATE_BURST");
	o->workers = getenv("ASSAY_ESCROW_HTTP_WORKERS");
	o->ref_cpu = getenv("ASSAY_ESCROW_REFEREE_CPU_S");
	o->ref_mem = getenv("ASSAY_ESCROW_REFEREE_MEM_MB");
	o->ref_wall = getenv("ASSAY_ESCROW_REFEREE_WALL_MS");
	o->ref_threads = getenv("ASSAY_ESCROW_REFEREE_THREADS");
	o->ref_delay = getenv("ASSAY_ESCROW_REFEREE_DELAY_MS");
	o->sandbox = getenv("ASSAY_ESCROW_SANDBOX");
	o->ca_file = getenv("ASSAY_ESCROW_CA_FILE");
	o->registry = getenv("ASSAY_ESCROW_REGISTRY");
	o->hold = getenv("ASSAY_ESCROW_HOLD_AFTER_FRAUDS");
	o->inv_interval = getenv("ASSAY_ESCROW_INVARIANT_INTERVAL_S");
	d = getenv("ASSAY_ESCROW_DEVNET");
	o->devnet = d && strcmp(d, "1") == 0;
	d = getenv("ASSAY_ESCROW_TLS_ALLOW_1_2");
	o->tls12 = d && strcmp(d, "1") == 0;
}

/* Each flag's short code is opt_set's case. */
static const struct option opt_longs[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "db", required_argument, NULL, 'd' },
	{ "key", required_argument, NULL, 'k' },
	{ "chain-id", required_argument, NULL, 'c' },
	{ "devnet", no_argument, NULL, 'D' },
	{ "min-stake", required_argument, NULL, 'm' },
	{ "slash-bps", required_argument, NULL, 's' },
	{ "bounty-bps", required_argument, NULL, 'b' },
	{ "sample-bps", required_argument, NULL, 'p' },
	{ "challenge-window-s", required_argument, NULL, 'w' },
	{ "unbonding-s", required_argument, NULL, 'u' },
	{ "referee-deadline-s", required_argument, NULL, 'r' },
	{ "tls-cert", required_argument, NULL, 'C' },
	{ "tls-key", required_argument, NULL, 'K' },
	{ "tls-allow-1.2", no_argument, NULL, 'V' },
	{ "ca-file", required_argument, NULL, 'A' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "rate-per-s", required_argument, NULL, 'R' },
	{ "rate-burst", required_argument, NULL, 'B' },
	{ "siwe-domain", required_argument, NULL, 'S' },
	{ "siwe-uri", required_argument, NULL, 'U' },
	{ "session-ttl-s", required_argument, NULL, 'T' },
	{ "operator", required_argument, NULL, 'O' },
	{ "registry", required_argument, NULL, 'G' },
	{ "hold-after-frauds", required_argument, NULL, 'H' },
	{ "signin-rate-per-s", required_argument, NULL, 'x' },
	{ "signin-rate-burst", required_argument, NULL, 'y' },
	{ "http-workers", required_argument, NULL, 'W' },
	{ "referee-cpu-s", required_argument, NULL, '1' },
	{ "referee-mem-mb", required_argument, NULL, '2' },
	{ "referee-wall-ms", required_argument, NULL, '3' },
	{ "referee-threads", required_argument, NULL, '4' },
	{ "referee-delay-ms", required_argument, NULL, '5' },
	{ "sandbox", required_argument, NULL, '6' },
	{ "invariant-interval-s", required_argument, NULL, '7' },
	{ "help", no_argument, NULL, 'h' },
	{ "print-routes", no_argument, NULL, 'P' },
	{ NULL, 0, NULL, 0 },
};

/* Flag c (getopt_long's code) with its argument into o; --help and
 * --print-routes exit here.  -1 for a code not in opt_longs. */
static int opt_set(struct opt_text *o, int c, const char *arg)
{
	switch (c) {
	case 'l': o->listen = arg; break;
	case 'd': o->db = arg; break;
	case 'k': o->key = arg; break;
	case 'c': o->chain_id = arg; break;
	case 'D': o->devnet = 1; break;
	case 'm': o->min_stake = arg; break;
	case 's': o->slash = arg; break;
	case 'b': o->bounty = arg; break;
	case 'p': o->sample = arg; break;
	case 'w': o->window = arg; break;
	case 'u': o->unbonding = arg; break;
	case 'r': o->referee = arg; break;
	case 'C': o->cert = arg; break;
	case 'K': o->tkey = arg; break;
	case 'V': o->tls12 = 1; break;
	case 'A': o->ca_file = arg; break;
	case 'q': o->quiet = 1; break;
	case 'R': o->rate = arg; break;
	case 'B': o->burst = arg; break;
	case 'S': o->siwe_domain = arg; break;
	case 'U': o->siwe_uri = arg; break;
	case 'T': o->session_ttl = arg; break;
	case 'O': o->operator_addr = arg; break;
	case 'G': o->registry = arg; break;
	case 'H': o->hold = arg; break;
	case 'x': o->srate = arg; break;
	case 'y': o->sburst = arg; break;
	case 'W': o->workers = arg; break;
	case '1': o->ref_cpu = arg; break;
	case '2': o->ref_mem = arg; break;
	case '3': o->ref_wall = arg; break;
	case '4': o->ref_threads = arg; break;
	case '5': o->ref_delay = arg; break;
	case '6': o->sandbox = arg; break;
	case '7': o->inv_interval = arg; break;
	case 'h': usage(stdout); exit(0);
	case 'P': exit(print_routes());
	default: return -1;
	}
	return 0;
}

static int parse_args(struct opt_text *o, int argc, char **argv)
{
	int c;

	while ((c = getopt_long(argc, argv, "", opt_longs, NULL)) != -1)
		if (opt_set(o, c, optarg))
			return -1;
	return optind == argc ? 0 : -1;
}

/* --listen HOST:PORT (127.0.0.1:8700 when text is NULL); HOST is copied
 * into host, which cfg->listen_host then names. */
static int listen_parse(struct escrow_config *cfg, const char *text, char *host, size_t host_len)
{
	const char *l = text ? text : "127.0.0.1:8700", *colon = strrchr(l, ':');
	uint64_t v;

	if (!colon || (size_t)(colon - l) >= host_len || parse_u64(&v, colon + 1, 65535)) {
		fprintf(stderr, "assay-escrow: could not parse --listen '%s': want HOST:PORT\n",
			text);
		return -1;
	}
	memcpy(host, l, (size_t)(colon - l));
	host[colon - l] = '\0';
	cfg->listen_host = host;
	cfg->listen_port = (uint16_t)v;
	return 0;
}

/* The numeric flags, each its default or a decimal within its bounds. */
static int numbers_parse(struct escrow_config *cfg, const struct opt_text *o)
{
	uint64_t v;

	/* v + 1 < lo + 1 is v < lo without -Wtype-limits where lo is 0. */
#define NUM(field, text, def, lo, hi, name) do { \
		if (!(text)) { cfg->field = (def); break; } \
		if (parse_u64(&v, (text), (hi)) || v + 1 < (uint64_t)(lo) + 1) { \
			fprintf(stderr, "assay-escrow: could not parse --%s '%s': want %llu..%llu\n", \
				name, (text), (unsigned long long)(lo), (unsigned long long)(hi)); \
			return -1; } \
		cfg->field = v; } while (0)
	NUM(chain_id, o->chain_id, DEFAULT_CHAIN_ID, 1, RCPT_JSON_UINT_MAX, "chain-id");
	NUM(slash_bps, o->slash, DEFAULT_SLASH_BPS, 1, ESCROW_BPS_ONE, "slash-bps");
	NUM(bounty_bps, o->bounty, DEFAULT_BOUNTY_BPS, 0, ESCROW_BPS_ONE, "bounty-bps");
	NUM(sample_bps, o->sample, DEFAULT_SAMPLE_BPS, 1, ESCROW_BPS_ONE, "sample-bps");
	NUM(challenge_window_s, o->window, DEFAULT_WINDOW_S, 1, ESCROW_WINDOW_S_MAX, "challenge-window-s");
	NUM(referee_deadline_s, o->referee, DEFAULT_REFEREE_S, 1, ESCROW_WINDOW_S_MAX, "referee-deadline-s");
	NUM(unbonding_s, o->unbonding, DEFAULT_UNBONDING_S, 1, ESCROW_UNBONDING_S_MAX, "unbonding-s");
	NUM(rate_per_s, o->rate, (uint64_t)HTTPD_RATE_PER_S_DEFAULT, 1, 1000000, "rate-per-s");
	NUM(rate_burst, o->burst, (uint64_t)HTTPD_RATE_BURST_DEFAULT, 1, 1000000, "rate-burst");
	NUM(session_ttl_s, o->session_ttl, HTTPD_SESSION_TTL_S_DEFAULT, 1, HTTPD_SESSION_TTL_S_MAX, "session-ttl-s");
	NUM(signin_rate_per_s, o->srate, (uint64_t)HTTPD_SIWE_RATE_PER_S, 1, 1000000, "signin-rate-per-s");
	NUM(signin_rate_burst, o->sburst, (uint64_t)HTTPD_SIWE_RATE_BURST, 1, 1000000, "signin-rate-burst");
	NUM(http_workers, o->workers, ESCROW_HTTP_WORKERS_DEFAULT, 0, HTTPD_WORKERS_MAX, "http-workers");
	NUM(hold_after_frauds, o->hold, ESCROW_HOLD_AFTER_FRAUDS_DEFAULT, 0,
	    ESCROW_HOLD_AFTER_FRAUDS_MAX, "hold-after-frauds");
	NUM(referee_cpu_s, o->ref_cpu, ESCROW_REFEREE_CPU_S_DEFAULT, 1, SBX_CPU_S_MAX, "referee-cpu-s");
	NUM(referee_mem_mb, o->ref_mem, ESCROW_REFEREE_MEM_MB_DEFAULT, SBX_MEM_BYTES_MIN >> 20,
	    SBX_MEM_BYTES_MAX >> 20, "referee-mem-mb");
	NUM(referee_wall_ms, o->ref_wall, ESCROW_REFEREE_WALL_MS_DEFAULT, 1, SBX_WALL_MS_MAX,
	    "referee-wall-ms");
	NUM(referee_threads, o->ref_threads, SBX_THREADS_DEFAULT, 1, SBX_THREADS_MAX, "referee-threads");
	NUM(referee_delay_ms, o->ref_delay, 0, 0, ESCROW_REFEREE_DELAY_MS_MAX, "referee-delay-ms");
	NUM(invariant_interval_s, o->inv_interval, ESCROW_INVARIANT_INTERVAL_S_DEFAULT,
	    ESCROW_INVARIANT_INTERVAL_S_MIN, ESCROW_INVARIANT_INTERVAL_S_MAX, "invariant-interval-s");
#undef NUM
	return 0;
}

/* --referee-delay-ms only on a devnet; --sandbox best-effort or strict. */
static int referee_flags_check(struct escrow_config *cfg, const struct opt_text *o)
{
	if (cfg->referee_delay_ms && !cfg->devnet) {
		fprintf(stderr, "assay-escrow: --referee-delay-ms is for tests: refused without --devnet\n");
		return -1;
	}
	if (o->sandbox && strcmp(o->sandbox, "strict") && strcmp(o->sandbox, "best-effort")) {
		fprintf(stderr, "assay-escrow: could not parse --sandbox '%s': want best-effort or strict\n",
			o->sandbox);
		return -1;
	}
	cfg->sandbox_strict = o->sandbox && strcmp(o->sandbox, "strict") == 0;
	return 0;
}

/* --min-stake, and an unbonding period that outlasts a dispute. */
static int stake_flags_check(struct escrow_config *cfg, const struct opt_text *o)
{
	if (rcpt_u256_parse(&cfg->min_stake, o->min_stake ? o->min_stake : DEFAULT_MIN_STAKE) ||
	    escrow_u256_is_zero(&cfg->min_stake)) {
		fprintf(stderr, "assay-escrow: could not parse --min-stake '%s': want a non-zero decimal uint256\n",
			o->min_stake);
		return -1;
	}
	/* A cheat must not get its stake out before it can be slashed: the
	 * window and the referee's deadline both run before unbonding ends. */
	if (cfg->unbonding_s < cfg->challenge_window_s + cfg->referee_deadline_s) {
		fprintf(stderr, "assay-escrow: --unbonding-s %" PRIu64 " is shorter than the challenge window plus the referee deadline (%" PRIu64 " s)\n",
			cfg->unbonding_s, cfg->challenge_window_s + cfg->referee_deadline_s);
		return -1;
	}
	return 0;
}

/* Sign-in: --siwe-domain and --siwe-uri together and within their
 * bounds.  --operator names who may sign in as operator (with them) and
 * who signs the registry's decisions (with or without them). */
static int siwe_flags_check(struct escrow_config *cfg, const struct opt_text *o)
{
	cfg->siwe_domain = o->siwe_domain;
	cfg->siwe_uri = o->siwe_uri;
	cfg->operator_addr = o->operator_addr;
	if ((!cfg->siwe_domain) != (!cfg->siwe_uri)) {
		fprintf(stderr, "assay-escrow: --siwe-domain and --siwe-uri go together\n");
		return -1;
	}
	if (cfg->siwe_domain && (!*cfg->siwe_domain || strlen(cfg->siwe_domain) > HTTPD_SIWE_DOMAIN_BYTES_MAX ||
				 !*cfg->siwe_uri || strlen(cfg->siwe_uri) > HTTPD_SIWE_URI_BYTES_MAX)) {
		fprintf(stderr, "assay-escrow: could not use --siwe-domain '%s' or --siwe-uri '%s': empty or too long\n",
			cfg->siwe_domain, cfg->siwe_uri);
		return -1;
	}
	return 0;
}

/* --registry open or approved; approved needs --operator, whose
 * signatures alone approve a provider (without one no provider could
 * ever take a job). */
static int registry_flags_check(struct escrow_config *cfg, const struct opt_text *o)
{
	if (o->registry && strcmp(o->registry, "open") && strcmp(o->registry, "approved")) {
		fprintf(stderr, "assay-escrow: could not parse --registry '%s': want open or approved\n",
			o->registry);
		return -1;
	}
	cfg->registry_approved = o->registry && strcmp(o->registry, "approved") == 0;
	if (cfg->registry_approved && !cfg->operator_addr) {
		fprintf(stderr, "assay-escrow: --registry approved needs --operator ADDR: "
			"only its signatures approve a provider\n");
		return -1;
	}
	return 0;
}

/* Fills cfg from the texts; names the first bad one. */
static int build_config(struct escrow_config *cfg, const struct opt_text *o, char *host,
			size_t host_len)
{
	memset(cfg, 0, sizeof(*cfg));
	if (!o->db || !o->key) {
		fprintf(stderr, "assay-escrow: --db and --key are required\n");
		return -1;
	}
	cfg->conninfo = o->db;
	cfg->key_path = o->key;
	cfg->devnet = o->devnet;
	cfg->quiet = o->quiet;
	cfg->tls_cert = o->cert;
	cfg->tls_key = o->tkey;
	cfg->tls_allow_12 = o->tls12;
	cfg->ca_file = o->ca_file;
	if (listen_parse(cfg, o->listen, host, host_len) || numbers_parse(cfg, o) ||
	    referee_flags_check(cfg, o) || stake_flags_check(cfg, o) || siwe_flags_check(cfg, o) ||
	    registry_flags_check(cfg, o))
		return -1;
	if ((!cfg->tls_cert) != (!cfg->tls_key)) {
		fprintf(stderr, "assay-escrow: --tls-cert and --tls-key go together\n");
		return -1;
	}
	return 0;
}

/* The referee's thread, with the limits of the flags (referee.h). */
static int referee_start(struct escrow *e, char *why, size_t why_len)
{
	struct escrow_referee_config rc;

	memset(&rc, 0, sizeof(rc));
	rc.cpu_s = (unsigned)e->cfg.referee_cpu_s;
	rc.mem_bytes = e->cfg.referee_mem_mb << 20;
	rc.wall_ms = (unsigned)e->cfg.referee_wall_ms;
	rc.threads = (unsigned)e->cfg.referee_threads;
	rc.delay_ms = (unsigned)e->cfg.referee_delay_ms;
	rc.strict = e->cfg.sandbox_strict;
	rc.httpd = e->httpd;
	rc.secret = &e->key;
	rc.secret_len = sizeof(e->key);
	return escrow_referee_start(&e->referee, why, why_len, &rc);
}

enum chain_err escrow_chain_ensure(struct escrow *e, struct chain **c,
				   struct rcpt_diag *diag)
{
	if (*c)
		return CHAIN_OK;
	return chain_pg_open(c, diag, e->cfg.conninfo, &e->chain_params, e->address);
}

/* The start-up session (it migrates, and names this process in
 * pg_stat_activity as "assay-escrow-http"); says so when other escrows
 * serve the same database (docs/operations.md, "Replicas"). */
static int db_open_main(struct escrow *e)
{
	int64_t n = 0;

	if (escrow_db_open(&e->db, e->cfg.conninfo, "http") != ESCROW_DB_OK)
		return -1;
	if (escrow_db_instances(&e->db, &n) == ESCROW_DB_OK && n > 1)
		fprintf(stderr, "assay-escrow: event=replica instances=%" PRId64
			": other assay-escrow processes serve this database; one settles at a time\n",
			n);
	return 0;
}

/* The escrow's key and what follows from it: its address, its EIP-712
 * domain, and the --operator address.  0, or main's exit status with
 * the key wiped. */
static int identity_load(struct escrow *e)
{
	struct rcpt_diag diag;

	if (rcpt_key_load(&e->key, &diag, e->cfg.key_path) != RCPT_OK) {
		fprintf(stderr, "assay-escrow: could not load key: %s\n", diag.msg);
		rcpt_key_wipe(&e->key);
		return 1;
	}
	memcpy(e->address, e->key.address, RCPT_ADDR_BYTES);
	rcpt_domain_assay(&e->domain, e->cfg.chain_id, e->address);
	if (e->cfg.operator_addr &&
	    rcpt_address_parse(e->operator_addr, e->cfg.operator_addr) != RCPT_OK) {
		fprintf(stderr, "assay-escrow: could not parse --operator '%s': want an address\n",
			e->cfg.operator_addr);
		rcpt_key_wipe(&e->key);
		return 2;
	}
	e->has_operator = e->cfg.operator_addr != NULL;
	return 0;
}

/* Sign-in's and the ledger's parameters, from the flags. */
static void params_fill(struct escrow *e)
{
	e->siwe.domain = e->cfg.siwe_domain;
	e->siwe.uri = e->cfg.siwe_uri;
	e->siwe.chain_id = e->cfg.chain_id;
	e->siwe.session_ttl_s = e->cfg.session_ttl_s;
	e->siwe.store = &escrow_session_store;
	e->siwe.role_allowed = escrow_api_role_allowed;
	e->siwe.scope_of = escrow_api_scope_of;
	e->chain_params.chain_id = e->cfg.chain_id;
	e->chain_params.devnet = e->cfg.devnet;
	e->chain_params.min_stake = e->cfg.min_stake;
	e->chain_params.unbonding_s = e->cfg.unbonding_s;
}

/* The stop lock and condition variable, and the HTTP client's global
 * state.  -1 having said what failed. */
static int process_init(struct escrow *e)
{
	char why[256];

	pthread_mutex_init(&e->stop_mu, NULL);
	if (mono_cond_init(&e->stop_cv)) {
		fprintf(stderr, "assay-escrow: could not make a monotonic condition variable\n");
		return -1;
	}
	/* Before any thread: the referee's fetches use libcurl. */
	if (httpd_client_global_init()) {
		fprintf(stderr, "assay-escrow: could not initialise the HTTP client\n");
		return -1;
	}
	/* A multithreaded daemon execs its workers (sandbox.h). */
	if (sbx_use_worker_beside_self(why, sizeof(why))) {
		fprintf(stderr, "assay-escrow: referee: %s\n", why);
		return -1;
	}
	/* The referee's fetches from providers, and an https EVM node,
	 * verify them against it. */
	if (e->cfg.ca_file && (httpd_client_set_ca_file(e->cfg.ca_file, why, sizeof(why)) ||
			       evm_rpc_set_ca_file(e->cfg.ca_file, why, sizeof(why)))) {
		fprintf(stderr, "assay-escrow: --ca-file: %s\n", why);
		return -1;
	}
	return 0;
}

/* The ledger, which must be this escrow's, and the escrow's database:
 * the ledger's migrations first, then the escrow's.  -1 having said
 * what failed. */
static int stores_open(struct escrow *e)
{
	struct rcpt_diag diag;
	struct rcpt_domain cd;
	enum chain_err ce = escrow_chain_ensure(e, &e->chain, &diag);

	if (ce) {
		fprintf(stderr, "assay-escrow: could not open the ledger: %s: %s\n",
			chain_errname(ce), diag.msg);
		return -1;
	}
	chain_domain(e->chain, &cd);
	if (cd.chain_id != e->domain.chain_id ||
	    memcmp(cd.verifying_contract, e->address, RCPT_ADDR_BYTES) != 0) {
		fprintf(stderr, "assay-escrow: the ledger's domain is not this escrow's\n");
		return -1;
	}
	if (db_open_main(e) || escrow_db_migrate(&e->db) != ESCROW_DB_OK) {
		fprintf(stderr, "assay-escrow: could not open or migrate the escrow database\n");
		return -1;
	}
	return 0;
}

/* SIGINT and SIGTERM blocked before any thread starts (threads inherit
 * the mask), for main's sigwait; SIGPIPE ignored. */
static void signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* The HTTP server with the escrow's routes, idempotency hooks and
 * handler threads, as the flags say. */
static int http_start(struct escrow *e, char *why, size_t why_len)
{
	struct httpd_config hc;

	memset(&hc, 0, sizeof(hc));
	hc.service = "assay-escrow";
	hc.host = e->cfg.listen_host;
	hc.port = e->cfg.listen_port;
	hc.routes = escrow_routes;
	hc.routes_len = escrow_routes_len;
	hc.cls = e;
	hc.ready = escrow_api_ready;
	hc.idem_begin = escrow_api_idem_begin;
	hc.idem_end = escrow_api_idem_end;
	hc.tls_cert_path = e->cfg.tls_cert;
	hc.tls_key_path = e->cfg.tls_key;
	hc.tls_allow_12 = e->cfg.tls_allow_12;
	hc.quiet = e->cfg.quiet;
	hc.siwe = e->cfg.siwe_domain ? &e->siwe : NULL;
	hc.apikey_check = escrow_api_apikey_check;
	hc.signin_rate_per_s = (double)e->cfg.signin_rate_per_s;
	hc.signin_rate_burst = (double)e->cfg.signin_rate_burst;
	hc.rate_per_s = (double)e->cfg.rate_per_s;
	hc.rate_burst = (double)e->cfg.rate_burst;
	hc.workers = e->cfg.http_workers;
	hc.worker_start = escrow_api_worker_start;
	hc.worker_stop = escrow_api_worker_stop;
	return httpd_start(&e->httpd, why, why_len, &hc) == HTTPD_OK ? 0 : -1;
}

/* The server, the referee and the settlement thread, in that order.
 * -1 having said what failed. */
static int services_start(struct escrow *e)
{
	char why[256];

	if (http_start(e, why, sizeof(why))) {
		fprintf(stderr, "assay-escrow: %s\n", why);
		return -1;
	}
	if (referee_start(e, why, sizeof(why))) {
		fprintf(stderr, "assay-escrow: referee: %s\n", why);
		return -1;
	}
	if (escrow_settle_start(e)) {
		fprintf(stderr, "assay-escrow: could not start the settlement thread\n");
		return -1;
	}
	return 0;
}

/* The escrow's address and chain on stderr; the bound address on
 * stdout, which those who started us with port 0 read. */
static void announce(struct escrow *e)
{
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, e->address);
	fprintf(stderr, "assay-escrow: escrow %s chain %" PRIu64 "%s\n", a,
		e->cfg.chain_id, e->cfg.devnet ? " (devnet)" : "");
	printf("listening on %s:%u\n", e->cfg.listen_host, (unsigned)httpd_port(e->httpd));
	fflush(stdout);
}

/* Undoes process_init, stores_open and services_start, whichever got
 * how far.  The settlement thread sets gauges on the server and asks the
 * referee: it stops first, then the referee. */
static void teardown(struct escrow *e)
{
	escrow_settle_stop(e);
	escrow_referee_stop(e->referee);
	e->referee = NULL;
	httpd_free(e->httpd);
	chain_free(e->chain);
	escrow_db_close(&e->db);
	pthread_cond_destroy(&e->stop_cv);
	pthread_mutex_destroy(&e->stop_mu);
	rcpt_key_wipe(&e->key);
}

int main(int argc, char **argv)
{
	struct escrow e;
	struct opt_text o;
	char host[64];
	sigset_t set;
	int sig = 0, rc;

	memset(&e, 0, sizeof(e));
	memset(&o, 0, sizeof(o));
	if (rcpt_harden_process() != RCPT_OK) {
		fprintf(stderr, "assay-escrow: could not disable core dumps; refusing to hold a key\n");
		return 1;
	}
	from_env(&o);
	if (parse_args(&o, argc, argv) || build_config(&e.cfg, &o, host, sizeof(host))) {
		usage(stderr);
		return 2;
	}
	rc = identity_load(&e);
	if (rc)
		return rc;
	params_fill(&e);
	rc = 1;
	if (process_init(&e) || stores_open(&e))
		goto out;
	signals_block(&set);
	if (services_start(&e))
		goto out;
	announce(&e);
	sigwait(&set, &sig);
	fprintf(stderr, "assay-escrow: stopping on signal %d\n", sig);
	rc = 0;
out:
	teardown(&e);
	return rc;
}
