/*
 * test_client_escrow.c: `assay escrow`, the client of assay-escrow, as a
 * separate process: its argument checks (exit 2, nothing sent, one line
 * on stderr), an escrow that cannot be reached (exit 1), and round trips
 * against the real assay-escrow on loopback with a private PostgreSQL
 * database: faucet, balance, signed stake, a problem+json refusal, an
 * idempotent retry, a job opened with a signature made by
 * `assay statement sign`, the job's view and its audit chain checked by
 * `assay audit verify`.  The whole marketplace flow (receipts, fraud
 * claims, slashing) is covered by the demo test in test_cli.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "escrowfx.h"
#include "kernels.h"
#include "pgutil.h"
#include "receipts.h"
#include "testutil.h"
#include "banned.h"

extern char **environ;

#define CE_WAIT_MS 20000


static void assert_one_line_error(const struct tu_run *r, int status, const char *needle)
{
	cr_assert_eq(r->status, status, "exit %d, want %d: %s", r->status, status, r->err);
	cr_assert_str_empty(r->out, "stdout on error: %s", r->out);
	cr_assert_eq(tu_lines(r->err), 1, "stderr is not one line: %s", r->err);
	cr_assert(strncmp(r->err, "assay: ", 7) == 0, "%s", r->err);
	if (needle)
		cr_assert(strstr(r->err, needle), "'%s' not in: %s", needle, r->err);
}

#define ESC(r, ...)                                                            \
	do {                                                                   \
		const char *const argv_[] = { tu_assay(), "escrow", __VA_ARGS__, NULL }; \
		tu_run((r), argv_);                                            \
	} while (0)

#define BAD(status, needle, ...)                                               \
	do {                                                                   \
		struct tu_run r_;                                              \
		ESC(&r_, __VA_ARGS__);                                         \
		assert_one_line_error(&r_, (status), (needle));                \
		tu_run_free(&r_);                                              \
	} while (0)

/* Port 1 on loopback: nothing listens there, and the argument checks
 * must refuse before anything is sent anyway. */
#define NOWHERE "--url", "http://127.0.0.1:1"

static const char ADDR[] = "0x00000000000000000000000000000000000000aa";
static const char ID[] = "0x1111111111111111111111111111111111111111111111111111111111111111";

Test(client_escrow, argument_errors_exit_2_before_sending)
{
	char dir[256], key[300], job[300], att[300], rec[300];
	struct tu_run r;

	ESC(&r, "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: assay escrow"), "%s", r.out);
	tu_run_free(&r);

	BAD(2, "unknown subcommand", "frobnicate", NOWHERE);
	BAD(2, "not an address", "faucet", "0x12", "5", NOWHERE);
	BAD(2, "not a decimal uint256", "faucet", ADDR, "05", NOWHERE);
	BAD(2, "unknown option '-5'", "faucet", ADDR, "-5", NOWHERE);
	BAD(2, "not a decimal uint256", "faucet", ADDR, NOWHERE, "--", "-5");
	BAD(2, "not a decimal uint256", "faucet", ADDR, "1e18", NOWHERE);
	BAD(2, "not a decimal uint256", "faucet", ADDR,
	    "115792089237316195423570985008687907853269984665640564039457584007913129639936",
	    NOWHERE);
	BAD(2, "must not be zero", "faucet", ADDR, "0", NOWHERE);
	BAD(2, "missing arguments", "faucet", ADDR, NOWHERE);
	BAD(2, "too many arguments", "job", ID, ID, NOWHERE);
	BAD(2, "needs --key", "stake", "5", NOWHERE);
	BAD(2, "does not apply", "balance", ADDR, "--sig", "0x00", NOWHERE);
	BAD(2, "either ADDRESS or --key", "balance", NOWHERE);
	BAD(2, "not 0x + 64 hex digits", "job", "0x1234", NOWHERE);
	BAD(2, "neither a job id nor an address", "audit", "nope", "--key", "k", NOWHERE);
	BAD(2, "not an http:// or https:// URL", "params", "--url", "ftp://127.0.0.1/");
	BAD(2, "credentials", "params", "--url", "http://user:pw@127.0.0.1:1");
	BAD(2, "[A-Za-z0-9._:-]", "faucet", ADDR, "5", "--idempotency-key", "a b", NOWHERE);
	BAD(2, "unknown option", "params", "--bogus", NOWHERE);

	tu_tmpdir(dir, sizeof(dir));
	snprintf(key, sizeof(key), "%s/k.key", dir);
	snprintf(job, sizeof(job), "%s/job.json", dir);
	snprintf(att, sizeof(att), "%s/att.json", dir);
	snprintf(rec, sizeof(rec), "%s/rec.json", dir);
	/* A key file others may read is refused, and its content never shown. */
	tu_write_file(key, "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n",
		      67, 0644);
	{
		struct tu_run k;
		ESC(&k, "stake", "5", "--key", key, NOWHERE);
		assert_one_line_error(&k, 2, "could not load key");
		cr_assert_null(strstr(k.err, "4c0883a6"), "key material in: %s", k.err);
		tu_run_free(&k);
	}
	tu_write_file(job, "{\"customer\":1}", 14, 0644);
	BAD(2, "either --sig SIG or --key FILE", "open", job, NOWHERE);
	BAD(2, "job '", "open", job, "--sig", "0x00", NOWHERE);
	BAD(2, "could not open", "open", "/nonexistent/job.json", "--sig", "0x00", NOWHERE);
	{
		static const char a1[] =
			"{\"receipt\":\"0x2222222222222222222222222222222222222222222222222222222222222222\","
			"\"outputRoot\":\"0x3333333333333333333333333333333333333333333333333333333333333333\","
			"\"verdict\":1,\"validator\":\"0x00000000000000000000000000000000000000aa\"}";
		tu_write_file(att, a1, strlen(a1), 0644);
	}
	BAD(2, "only with a fraud claim", "attest", ID, att, "--sig", "0x00", "--input", job,
	    NOWHERE);
	{
		static const char r1[] =
			"{\"job\":\"0x2222222222222222222222222222222222222222222222222222222222222222\","
			"\"kernelHash\":\"0x3333333333333333333333333333333333333333333333333333333333333333\","
			"\"inputRoot\":\"0x3333333333333333333333333333333333333333333333333333333333333333\","
			"\"inputSize\":1,"
			"\"outputRoot\":\"0x3333333333333333333333333333333333333333333333333333333333333333\","
			"\"outputSize\":1,\"price\":\"1\",\"device\":\"cpu\",\"startedAt\":1,"
			"\"finishedAt\":2,\"provider\":\"0x00000000000000000000000000000000000000aa\"}";
		tu_write_file(rec, r1, strlen(r1), 0644);
	}
	BAD(2, "for another job", "receipt", ID, rec, "--sig", "0x00", NOWHERE);
	tu_rmtree(dir);
}

Test(client_escrow, unreachable_escrow_exits_1)
{
	BAD(1, "no answer from 'http://127.0.0.1:1'", "params", NOWHERE);
	/* ASSAY_ESCROW_URL is the default for --url. */
	{
		const char *const argv[] = { "/usr/bin/env", "ASSAY_ESCROW_URL=http://127.0.0.1:1/",
			tu_assay(), "escrow", "balance", ADDR, NULL };
		struct tu_run r;
		tu_run(&r, argv);
		assert_one_line_error(&r, 1, "127.0.0.1:1'");
		tu_run_free(&r);
	}
}

/* ---------------------------------------------------------------- a real escrow */

/* The escrow with its own defaults for the challenge window, the
 * referee deadline, unbonding, sampling and rate limits: what a client
 * meets. */
static void ce_start(void)
{
	struct efx_config c = { .escrow_rates = 1, .quiet = 1 };

	efx_setup(&c);
}

/* Runs `assay escrow ARGS... --url URL`; asserts exit 0 and one line. */
#define OK(e, r, ...)                                                          \
	do {                                                                   \
		const char *const argv_[] = { tu_assay(), "escrow", __VA_ARGS__,      \
			"--url", (e)->url, NULL };                             \
		tu_run((r), argv_);                                            \
		cr_assert_eq((r)->status, 0, "exit %d: %s", (r)->status, (r)->err);    \
		cr_assert_eq(tu_lines((r)->out), 1, "not one line: %s", (r)->out);     \
	} while (0)

#define FAIL(e, r, ...)                                                        \
	do {                                                                   \
		const char *const argv_[] = { tu_assay(), "escrow", __VA_ARGS__,      \
			"--url", (e)->url, NULL };                             \
		tu_run((r), argv_);                                            \
	} while (0)

/* Reads a one-line command's stdout ("0x...\n") into buf. */
static void run_line(char *buf, size_t len, const char *const argv[])
{
	struct tu_run r;
	size_t n;

	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "%s: %s", argv[1], r.err);
	n = strcspn(r.out, "\n");
	cr_assert(n < len);
	memcpy(buf, r.out, n);
	buf[n] = '\0';
	tu_run_free(&r);
}

Test(client_escrow, round_trip_against_a_real_escrow, .fini = efx_teardown, .timeout = 120)
{
	struct tu_run r, r2;
	char kc[300], kp[300], dom[300], job[300], audit[320], addr_c[64], addr_p[64];
	char sig[160], text[1024], khash[80], root[80], want[256];
	const char *aq;
	const struct kern_info *ki;

	ce_start();
	snprintf(kc, sizeof(kc), "%s/customer.key", EFX.dir);
	snprintf(kp, sizeof(kp), "%s/provider.key", EFX.dir);
	{
		const char *const a1[] = { tu_assay(), "key", "new", "--out", kc, NULL };
		const char *const a2[] = { tu_assay(), "key", "new", "--out", kp, NULL };
		run_line(addr_c, sizeof(addr_c), a1);
		run_line(addr_p, sizeof(addr_p), a2);
	}

	/* params: the escrow's domain, as one compact line. */
	OK(&EFX, &r, "params");
	cr_assert(strstr(r.out, "\"chainId\":31337"), "%s", r.out);
	cr_assert(strstr(r.out, "\"minStake\":\"1000\""), "%s", r.out);
	aq = strstr(r.out, "\"verifyingContract\":\"");
	cr_assert(aq);
	snprintf(dom, sizeof(dom), "%s/domain.json", EFX.dir);
	snprintf(text, sizeof(text),
		 "{\"name\":\"Assay\",\"version\":\"1\",\"chainId\":31337,\"verifyingContract\":\"%.42s\"}",
		 aq + 21);
	tu_write_file(dom, text, strlen(text), 0600);
	tu_run_free(&r);

	/* faucet and balance. */
	OK(&EFX, &r, "faucet", addr_c, "5000");
	cr_assert(strstr(r.out, "\"available\":\"5000\""), "%s", r.out);
	tu_run_free(&r);
	OK(&EFX, &r, "faucet", addr_p, "3000");
	tu_run_free(&r);

	/* The same Idempotency-Key twice: the first answer, byte for byte, and
	 * the money moved once. */
	OK(&EFX, &r, "faucet", addr_c, "7", "--idempotency-key", "client-test-1");
	OK(&EFX, &r2, "faucet", addr_c, "7", "--idempotency-key", "client-test-1");
	cr_assert_str_eq(r.out, r2.out);
	cr_assert(strstr(r.out, "\"available\":\"5007\""), "%s", r.out);
	tu_run_free(&r);
	tu_run_free(&r2);
	/* ... and reused for another request: refused with the problem type. */
	FAIL(&EFX, &r, "faucet", addr_c, "8", "--idempotency-key", "client-test-1");
	assert_one_line_error(&r, 1, "urn:assay:problem:idempotency-key-reused");
	tu_run_free(&r);

	/* Signed requests: stake from the key's own account. */
	OK(&EFX, &r, "stake", "2000", "--key", kp);
	cr_assert(strstr(r.out, "\"available\":\"1000\""), "%s", r.out);
	cr_assert(strstr(r.out, "\"stake\":\"2000\""), "%s", r.out);
	tu_run_free(&r);
	OK(&EFX, &r, "balance", "--key", kp);
	cr_assert(strstr(r.out, "\"stake\":\"2000\""), "%s", r.out);
	tu_run_free(&r);
	/* A refusal is problem+json turned into one line, exit 1. */
	FAIL(&EFX, &r, "withdraw", "1001", "--key", kp);
	assert_one_line_error(&r, 1, "urn:assay:problem:insufficient-funds");
	cr_assert(strstr(r.err, "HTTP 409"), "%s", r.err);
	tu_run_free(&r);
	OK(&EFX, &r, "withdraw", "1000", "--key", kp);
	cr_assert(strstr(r.out, "\"available\":\"0\""), "%s", r.out);
	tu_run_free(&r);

	/* A job signed with `assay statement sign`, opened with --sig. */
	ki = kern_find("reduce_sum_f32@1");
	cr_assert(ki);
	{
		char hex[RCPT_HASH_HEX_BYTES], in[320];
		static const char in_bytes[] = "not a tensor, but committed all the same";
		struct rcpt_commitment c;
		cr_assert_eq(rcpt_hex_encode(hex, sizeof(hex), ki->hash, 32), RCPT_OK);
		snprintf(khash, sizeof(khash), "%s", hex);
		snprintf(in, sizeof(in), "%s/input.bin", EFX.dir);
		tu_write_file(in, in_bytes, sizeof(in_bytes) - 1, 0600);
		cr_assert_eq(rcpt_commit_file(&c, NULL, in, 1), RCPT_OK);
		cr_assert_eq(rcpt_hex_encode(hex, sizeof(hex), c.root, 32), RCPT_OK);
		snprintf(root, sizeof(root), "%s", hex);
	}
	snprintf(job, sizeof(job), "%s/job.json", EFX.dir);
	snprintf(text, sizeof(text),
		 "{\"customer\":\"%s\",\"provider\":\"%s\",\"kernel\":\"reduce_sum_f32@1\","
		 "\"kernelHash\":\"%s\",\"params\":\"{}\",\"inputRoot\":\"%s\",\"inputSize\":%zu,"
		 "\"maxPrice\":\"40\",\"deadline\":%lld,\"nonce\":1}",
		 addr_c, addr_p, khash, root, sizeof("not a tensor, but committed all the same") - 1,
		 (long long)time(NULL) + 600);
	tu_write_file(job, text, strlen(text), 0600);
	{
		const char *const a[] = { tu_assay(), "statement", "sign", "--type", "JobSpec",
			"--domain", dom, "--key", kc, job, NULL };
		run_line(sig, sizeof(sig), a);
	}
	/* The provider's key cannot sign the customer's job. */
	FAIL(&EFX, &r, "open", job, "--key", kp);
	assert_one_line_error(&r, 2, "not the JobSpec signer");
	tu_run_free(&r);
	OK(&EFX, &r, "open", job, "--sig", sig, "--domain", dom);
	cr_assert(strstr(r.out, "\"state\":\"open\""), "%s", r.out);
	{
		const char *j = strstr(r.out, "\"job\":\"");
		char id[RCPT_HASH_HEX_BYTES];
		cr_assert(j);
		memcpy(id, j + 7, 66);
		id[66] = '\0';
		tu_run_free(&r);
		OK(&EFX, &r, "balance", addr_c);
		cr_assert(strstr(r.out, "\"available\":\"4967\""), "%s", r.out);
		tu_run_free(&r);
		OK(&EFX, &r, "job", id);
		cr_assert(strstr(r.out, "\"state\":\"open\""), "%s", r.out);
		snprintf(want, sizeof(want), "\"customer\":\"%s\"", addr_c);
		cr_assert(strstr(r.out, want), "%s", r.out);
		tu_run_free(&r);
		OK(&EFX, &r, "jobs", "--state", "open");
		cr_assert(strstr(r.out, id), "%s", r.out);
		tu_run_free(&r);
		/* The audit chain, fetched with the customer's signed request,
		 * is what `assay audit verify` checks. */
		OK(&EFX, &r, "audit", id, "--key", kc);
		snprintf(audit, sizeof(audit), "%s/audit.json", EFX.dir);
		tu_write_file(audit, r.out, strlen(r.out), 0600);
		tu_run_free(&r);
		{
			const char *const a[] = { tu_assay(), "audit", "verify", audit, NULL };
			tu_run(&r, a);
			cr_assert_eq(r.status, 0, "%s", r.err);
			cr_assert(strstr(r.out, "\"valid\":true"), "%s", r.out);
			cr_assert(strstr(r.out, "\"entries\":1"), "%s", r.out);
			tu_run_free(&r);
		}
		/* Nobody else may read it. */
		{
			char ks[300];
			snprintf(ks, sizeof(ks), "%s/stranger.key", EFX.dir);
			const char *const a[] = { tu_assay(), "key", "new", "--out", ks, NULL };
			char as[64];
			run_line(as, sizeof(as), a);
			FAIL(&EFX, &r, "audit", id, "--key", ks);
			assert_one_line_error(&r, 1, "urn:assay:problem:forbidden");
			tu_run_free(&r);
		}
		/* The same job again: refused (a job id is accepted once). */
		FAIL(&EFX, &r, "open", job, "--sig", sig);
		assert_one_line_error(&r, 1, "urn:assay:problem:job-exists");
		tu_run_free(&r);
	}
}
