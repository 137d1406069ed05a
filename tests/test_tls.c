/*
 * test_tls.c: HTTPS on the escrow and the validator, and CA-verified
 * clients, against a private CA the test makes with the openssl command
 * (an implementation apart from the daemons' GnuTLS and the clients'
 * libcurl and OpenSSL).
 *
 * - the escrow serves HTTPS: `assay escrow params` through it succeeds
 *   with ASSAY_CA_FILE naming the private CA and fails without it (the
 *   system's CAs do not know ours); plain HTTP on the TLS port gets no
 *   answer;
 * - a certificate for another host, and an expired one, both signed by
 *   the trusted CA, are refused by the client;
 * - TLS 1.2 is refused by default and accepted with --tls-allow-1.2, and
 *   then only with an AEAD suite (a CBC suite is refused); TLS 1.3
 *   always works;
 * - a TLS key or certificate file that others may read stops the escrow
 *   at start;
 * - the validator serves HTTPS and reaches the HTTPS escrow through its
 *   --ca-file, and the provider joins it the same way; without the
 *   flag neither can start.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chain.h"
#include "escrowfx.h"
#include "receipts.h"
#include "testutil.h"

#include "banned.h"

#define OPENSSL "/usr/bin/openssl"

/* The private CA and what it signed. */
static char pki[4096];

static void pki_path(char *out, size_t len, const char *name, const char *ext)
{
	int n = snprintf(out, len, "%s/%s%s", pki, name, ext);

	cr_assert(n > 0 && (size_t)n < len);
}

static void run_openssl(const char *const *argv)
{
	struct tu_run r;

	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "openssl %s: %s", argv[1], r.err);
	tu_run_free(&r);
}

/* ca.key and ca.pem, and what `openssl ca` needs to sign with dates. */
static void make_ca(void)
{
	char key[4200], crt[4200], cnf[4200], text[13000];
	const char *argv[] = { OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", crt,
		"-days", "2", "-subj", "/CN=Assay test CA",
		"-addext", "basicConstraints=critical,CA:TRUE",
		"-addext", "keyUsage=critical,keyCertSign,cRLSign", NULL };

	pki_path(key, sizeof(key), "ca", ".key");
	pki_path(crt, sizeof(crt), "ca", ".pem");
	run_openssl(argv);
	pki_path(cnf, sizeof(cnf), "ca", ".cnf");
	snprintf(text, sizeof(text),
		 "[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\nnew_certs_dir = %s\n"
		 "serial = %s/serial\ndefault_md = sha256\npolicy = p\ncopy_extensions = copy\n"
		 "unique_subject = no\n[p]\ncommonName = supplied\n", pki, pki, pki);
	tu_write_file(cnf, text, strlen(text), 0600);
	pki_path(key, sizeof(key), "index", ".txt");
	tu_write_file(key, "", 0, 0600);
	pki_path(key, sizeof(key), "serial", "");
	tu_write_file(key, "01\n", 3, 0600);
}

/* name.key (0600) and name.pem for subjectAltName `san`, signed by the
 * CA: valid from now for two days, or only on 2020-01-01 when expired. */
static void issue(const char *name, const char *san, int expired)
{
	char key[4200], csr[4200], crt[4200], ca[4200], cakey[4200], cnf[4200], ext[256];
	const char *req[] = { OPENSSL, "req", "-new", "-newkey", "ec", "-pkeyopt",
		"ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
		"-subj", "/CN=assay test server", "-addext", ext, NULL };
	const char *sign[] = { OPENSSL, "ca", "-batch", "-notext", "-config", cnf, "-cert", ca,
		"-keyfile", cakey, "-in", csr, "-out", crt,
		expired ? "-startdate" : "-days", expired ? "20200101000000Z" : "2",
		expired ? "-enddate" : NULL, "20200102000000Z", NULL };

	snprintf(ext, sizeof(ext), "subjectAltName=%s", san);
	pki_path(key, sizeof(key), name, ".key");
	pki_path(csr, sizeof(csr), name, ".csr");
	pki_path(crt, sizeof(crt), name, ".pem");
	pki_path(ca, sizeof(ca), "ca", ".pem");
	pki_path(cakey, sizeof(cakey), "ca", ".key");
	pki_path(cnf, sizeof(cnf), "ca", ".cnf");
	run_openssl(req);
	run_openssl(sign);
	cr_assert_eq(chmod(key, 0600), 0);
	cr_assert_eq(chmod(crt, 0600), 0);
}

static void pki_setup(void)
{
	cr_assert_eq(access(OPENSSL, X_OK), 0, "no %s (scripts/deps.sh installs openssl)", OPENSSL);
	tu_tmpdir(pki, sizeof(pki));
	make_ca();
	issue("server", "IP:127.0.0.1", 0);
	issue("wrong", "DNS:wrong-host.invalid", 0);
	issue("expired", "IP:127.0.0.1", 1);
}

static void teardown(void)
{
	efx_teardown();
	tu_rmtree(pki);
}

TestSuite(tls, .fini = teardown, .timeout = 120);

/* The escrow's flags past the fixture's: the TLS pair, then room for
 * one more that a test sets before efx_spawn restarts it. */
static char tls_crt[4200], tls_key[4200];
static const char *tls_args[] = { "--tls-cert", tls_crt, "--tls-key", tls_key, NULL, NULL };

/* The escrow serving HTTPS with certificate `name`. */
static void escrow_tls(const char *name)
{
	struct efx_config cfg = { .quiet = 1 };

	pki_path(tls_crt, sizeof(tls_crt), name, ".pem");
	pki_path(tls_key, sizeof(tls_key), name, ".key");
	cfg.extra_args = tls_args;
	efx_setup(&cfg);
}

static void https_url(char *out, size_t len, uint16_t port)
{
	snprintf(out, len, "https://127.0.0.1:%u", (unsigned)port);
}

/* `assay escrow params --url URL`, with ASSAY_CA_FILE = ca (NULL: unset). */
static void assay_params(struct tu_run *r, const char *url, const char *ca)
{
	const char *argv[] = { tu_assay(), "escrow", "params", "--url", url, NULL };

	if (ca)
		cr_assert_eq(setenv("ASSAY_CA_FILE", ca, 1), 0);
	else
		cr_assert_eq(unsetenv("ASSAY_CA_FILE"), 0);
	tu_run(r, argv);
}

static size_t discard(char *p, size_t size, size_t n, void *cls)
{
	(void)p;
	(void)cls;
	return size * n;
}

/* GET url/v1/params with libcurl, trusting `ca`, TLS versions from
 * `ver` and, when non-NULL, only the TLS 1.2 `ciphers`: the HTTP status,
 * or -1 (the handshake or the connection failed). */
static long curl_get(const char *base, const char *ca, long ver, const char *ciphers)
{
	char url[256];
	long status = -1;
	CURL *c = curl_easy_init();

	cr_assert_not_null(c);
	snprintf(url, sizeof(url), "%s/v1/params", base);
	cr_assert_eq(curl_easy_setopt(c, CURLOPT_URL, url), CURLE_OK);
	cr_assert_eq(curl_easy_setopt(c, CURLOPT_CAINFO, ca), CURLE_OK);
	cr_assert_eq(curl_easy_setopt(c, CURLOPT_SSLVERSION, ver), CURLE_OK);
	cr_assert_eq(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard), CURLE_OK);
	cr_assert_eq(curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L), CURLE_OK);
	if (ciphers)
		cr_assert_eq(curl_easy_setopt(c, CURLOPT_SSL_CIPHER_LIST, ciphers), CURLE_OK);
	if (curl_easy_perform(c) == CURLE_OK)
		cr_assert_eq(curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
	curl_easy_cleanup(c);
	return status;
}

#define TLS12_ONLY (CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2)
#define TLS13_ONLY (CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3)

Test(tls, escrow_https_verified_against_a_private_ca)
{
	char url[64], plain[64], ca[4200];
	struct tu_run r;

	pki_setup();
	escrow_tls("server");
	pki_path(ca, sizeof(ca), "ca", ".pem");
	https_url(url, sizeof(url), EFX.port);
	assay_params(&r, url, ca);
	cr_assert_eq(r.status, 0, "assay escrow params over https: %s", r.err);
	cr_assert(strstr(r.out, "31337") != NULL, "%s", r.out);
	tu_run_free(&r);
	/* The system's CAs do not know ours. */
	assay_params(&r, url, NULL);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "certificate") != NULL, "%s", r.err);
	tu_run_free(&r);
	/* Plain HTTP on the TLS port. */
	snprintf(plain, sizeof(plain), "http://127.0.0.1:%u", (unsigned)EFX.port);
	assay_params(&r, plain, ca);
	cr_assert_neq(r.status, 0, "plain HTTP answered on the TLS port: %s", r.out);
	tu_run_free(&r);
	/* A CA file that is not one. */
	assay_params(&r, url, "/nonexistent/ca.pem");
	cr_assert_eq(r.status, 2);
	cr_assert(strstr(r.err, "ASSAY_CA_FILE") != NULL, "%s", r.err);
	tu_run_free(&r);
}

/* The escrow serving certificate `name`, signed by the trusted CA: the
 * client refuses it, saying `why`; so does libcurl on its own. */
static void client_refuses(const char *name, const char *why)
{
	char url[64], ca[4200];
	struct tu_run r;

	pki_setup();
	escrow_tls(name);
	pki_path(ca, sizeof(ca), "ca", ".pem");
	https_url(url, sizeof(url), EFX.port);
	assay_params(&r, url, ca);
	cr_assert_neq(r.status, 0, "the %s certificate was accepted", name);
	cr_assert(strstr(r.err, why) != NULL, "%s", r.err);
	tu_run_free(&r);
	cr_assert_eq(curl_get(url, ca, TLS13_ONLY, NULL), -1);
}

Test(tls, certificate_for_another_host_refused)
{
	client_refuses("wrong", "127.0.0.1");
}

Test(tls, expired_certificate_refused)
{
	client_refuses("expired", "expired");
}

Test(tls, tls_1_2_only_when_allowed_and_only_with_aead)
{
	char url[64], ca[4200];

	pki_setup();
	escrow_tls("server");
	pki_path(ca, sizeof(ca), "ca", ".pem");
	https_url(url, sizeof(url), EFX.port);
	cr_assert_eq(curl_get(url, ca, TLS13_ONLY, NULL), 200);
	cr_assert_eq(curl_get(url, ca, TLS12_ONLY, NULL), -1, "TLS 1.2 accepted by default");
	efx_stop(&EFX, SIGTERM);
	tls_args[4] = "--tls-allow-1.2";
	efx_spawn(&EFX);
	https_url(url, sizeof(url), EFX.port);
	cr_assert_eq(curl_get(url, ca, TLS13_ONLY, NULL), 200);
	cr_assert_eq(curl_get(url, ca, TLS12_ONLY, "ECDHE-ECDSA-AES128-GCM-SHA256"), 200);
	cr_assert_eq(curl_get(url, ca, TLS12_ONLY, "ECDHE-ECDSA-AES128-SHA"), -1,
		     "a CBC suite was accepted");
}

Test(tls, key_or_certificate_readable_by_others_stops_the_start)
{
	char log[8192];
	int st;

	pki_setup();
	escrow_tls("server");
	efx_stop(&EFX, SIGTERM);
	cr_assert_eq(chmod(tls_key, 0644), 0);
	st = efx_try_spawn(&EFX);
	cr_assert(st > 0, "the escrow started with a key others can read (%d)", st);
	tu_file_tail(log, sizeof(log), EFX.log_path, 5);
	cr_assert(strstr(log, "tls key") && strstr(log, "by group or others"), "%s", log);
	/* A certificate others may read (or write) is refused too. */
	cr_assert_eq(chmod(tls_key, 0600), 0);
	cr_assert_eq(chmod(tls_crt, 0644), 0);
	st = efx_try_spawn(&EFX);
	cr_assert(st > 0, "the escrow started with a certificate others can read (%d)", st);
	tu_file_tail(log, sizeof(log), EFX.log_path, 5);
	cr_assert(strstr(log, "tls certificate") && strstr(log, "by group or others"), "%s", log);
	cr_assert_eq(chmod(tls_crt, 0600), 0);
	cr_assert_eq(efx_try_spawn(&EFX), -1, "the escrow did not start with the files mended");
}

/* Funded and staked past the escrow's minimum, straight in its ledger
 * (the fixture's HTTP helpers speak plain HTTP). */
static void stake_in_ledger(const struct rcpt_key *k)
{
	struct rcpt_u256 a;
	uint64_t now = (uint64_t)time(NULL);

	rcpt_u256_from_u64(&a, 5u * EFX_MIN_STAKE);
	cr_assert_eq(chain_faucet(efx_ledger(), k->address, &a, now, NULL), CHAIN_OK);
	rcpt_u256_from_u64(&a, 2u * EFX_MIN_STAKE);
	cr_assert_eq(chain_stake(efx_ledger(), k->address, &a, now, NULL), CHAIN_OK);
}

/* dir/NAME.key, made and staked on first use, into key. */
static void staked_key(char *key, size_t len, const char *dir, const char *name)
{
	struct rcpt_key k;

	snprintf(key, len, "%s/%s.key", dir, name);
	if (access(key, F_OK) == 0)
		return;
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&k, NULL, key), RCPT_OK);
	stake_in_ledger(&k);
	rcpt_key_wipe(&k);
}

/* assay-validator against the HTTPS escrow, itself serving HTTPS with
 * the server certificate; `with_ca`: --ca-file names the private CA. */
static int validator_try(struct tu_daemon *d, const char *dir, int with_ca)
{
	char bin[4200], esc[64], key[4300], state[4300], log[4300], crt[4200], tkey[4200],
		ca[4200];
	const char *argv[] = { bin, "--escrow", esc, "--key", key, "--state-dir", state,
		"--listen", "127.0.0.1:0", "--tls-cert", crt, "--tls-key", tkey, "--quiet",
		with_ca ? "--ca-file" : NULL, ca, NULL };

	snprintf(bin, sizeof(bin), "%s/bin/assay-validator", getenv("ASSAY_BUILD"));
	https_url(esc, sizeof(esc), EFX.port);
	staked_key(key, sizeof(key), dir, "validator");
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(log, sizeof(log), "%s/validator.log", dir);
	pki_path(crt, sizeof(crt), "server", ".pem");
	pki_path(tkey, sizeof(tkey), "server", ".key");
	pki_path(ca, sizeof(ca), "ca", ".pem");
	return tu_daemon_try_start(d, argv, log);
}

Test(tls, validator_serves_https_and_verifies_the_escrow)
{
	char dir[4096], url[64], ca[4200];
	struct tu_daemon d;

	pki_setup();
	escrow_tls("server");
	tu_tmpdir(dir, sizeof(dir));
	/* Without the CA it cannot reach the escrow, so it cannot start. */
	cr_assert(validator_try(&d, dir, 0) > 0, "the validator trusted an unknown CA");
	cr_assert_eq(validator_try(&d, dir, 1), -1, "the validator did not start over https");
	pki_path(ca, sizeof(ca), "ca", ".pem");
	https_url(url, sizeof(url), (uint16_t)d.port);
	{
		char target[128];
		long status;
		CURL *c = curl_easy_init();

		snprintf(target, sizeof(target), "%s/v1/status", url);
		cr_assert_not_null(c);
		cr_assert_eq(curl_easy_setopt(c, CURLOPT_URL, target), CURLE_OK);
		cr_assert_eq(curl_easy_setopt(c, CURLOPT_CAINFO, ca), CURLE_OK);
		cr_assert_eq(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard), CURLE_OK);
		cr_assert_eq(curl_easy_perform(c), CURLE_OK, "https to the validator failed");
		cr_assert_eq(curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), CURLE_OK);
		cr_assert_eq(status, 200);
		curl_easy_cleanup(c);
	}
	cr_assert_eq(tu_daemon_stop(&d), 0);
	tu_rmtree(dir);
}

/* assay-provider against the HTTPS escrow; `with_ca`: --ca-file names
 * the private CA.  Returns like tu_daemon_try_start. */
static int provider_try(struct tu_daemon *d, const char *dir, int with_ca)
{
	char bin[4200], esc[64], key[4300], data[4300], log[4300], ca[4200];
	const char *argv[] = { bin, "--escrow", esc, "--key", key, "--data", data,
		"--listen", "127.0.0.1:0", "--price", "10", "--quiet",
		with_ca ? "--ca-file" : NULL, ca, NULL };

	snprintf(bin, sizeof(bin), "%s/bin/assay-provider", getenv("ASSAY_BUILD"));
	https_url(esc, sizeof(esc), EFX.port);
	staked_key(key, sizeof(key), dir, "provider");
	snprintf(data, sizeof(data), "%s/data", dir);
	snprintf(log, sizeof(log), "%s/provider.log", dir);
	pki_path(ca, sizeof(ca), "ca", ".pem");
	return tu_daemon_try_start(d, argv, log);
}

Test(tls, provider_reaches_the_https_escrow_through_its_ca_file)
{
	char dir[4096];
	struct tu_daemon d;

	pki_setup();
	escrow_tls("server");
	tu_tmpdir(dir, sizeof(dir));
	/* Joining the escrow is part of the start: no CA, no start. */
	cr_assert(provider_try(&d, dir, 0) > 0, "the provider trusted an unknown CA");
	cr_assert_eq(provider_try(&d, dir, 1), -1, "the provider did not join over https");
	cr_assert_eq(tu_daemon_stop(&d), 0);
	tu_rmtree(dir);
}

/* `assay balance --rpc URL`: the EVM client verifies its node against
 * ASSAY_CA_FILE too.  The node here is the HTTPS escrow, which is no
 * JSON-RPC node: with the CA the TLS handshake succeeds and the answer
 * is refused for what it is; without, the certificate is. */
Test(tls, rpc_client_verifies_the_node_against_the_ca_file)
{
	char url[64], ca[4200];
	const char *argv[] = { tu_assay(), "balance", "0x00000000000000000000000000000000000000aa",
			       "--rpc", url, "--escrow-address",
			       "0x00000000000000000000000000000000000000bb", NULL };
	struct tu_run r;

	pki_setup();
	escrow_tls("server");
	pki_path(ca, sizeof(ca), "ca", ".pem");
	https_url(url, sizeof(url), EFX.port);
	cr_assert_eq(unsetenv("ASSAY_CA_FILE"), 0);
	tu_run(&r, argv);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "certificate") != NULL, "%s", r.err);
	tu_run_free(&r);
	cr_assert_eq(setenv("ASSAY_CA_FILE", ca, 1), 0);
	tu_run(&r, argv);
	cr_assert_neq(r.status, 0);
	cr_assert(strstr(r.err, "not a JSON-RPC 2.0 response") != NULL, "the CA file was not used: %s",
		  r.err);
	tu_run_free(&r);
}
