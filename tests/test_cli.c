/*
 * test_cli.c: the `assay` client as scripts and auditors use it
 * (PROTOCOL.md section 5): the real binary, run as a separate process,
 * its stdout, its one-line stderr and its exit status.  Expected values
 * come from the ethers.js / node:crypto vectors in tests/vectors/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "testutil.h"
#include "vecutil.h"
#include "banned.h"

#define RUN(r, ...)                                                    \
	do {                                                           \
		const char *const argv_[] = { tu_assay(), __VA_ARGS__, NULL }; \
		tu_run((r), argv_);                                    \
	} while (0)

/* An error is exactly one line on stderr, prefixed "assay: ". */
static void assert_one_line_error(const struct tu_run *r)
{
	cr_assert_str_empty(r->out, "stdout on error: %s", r->out);
	cr_assert_eq(tu_lines(r->err), 1, "stderr is not one line: %s", r->err);
	cr_assert(strncmp(r->err, "assay: ", 7) == 0, "%s", r->err);
}

Test(cli, help_and_unknown_commands)
{
	struct tu_run r;

	RUN(&r, "--help");
	cr_assert_eq(r.status, 0);
	cr_assert(strstr(r.out, "usage: assay"));
	tu_run_free(&r);
	static const char *const cmds[] = { "key", "message", "commit", "receipt", "statement", "kernel" };
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		RUN(&r, cmds[i], "--help");
		cr_assert_eq(r.status, 0, "%s --help", cmds[i]);
		cr_assert(strstr(r.out, "usage: assay"), "%s --help: %s", cmds[i], r.out);
		tu_run_free(&r);
	}
	RUN(&r, "frobnicate");
	cr_assert_eq(r.status, 2);
	assert_one_line_error(&r);
	tu_run_free(&r);
	RUN(&r, "commit", "--bogus", "x");
	cr_assert_eq(r.status, 2);
	assert_one_line_error(&r);
	tu_run_free(&r);
}

Test(cli, key_new_and_address)
{
	char dir[256], path[300], addr[64];
	struct tu_run r;
	struct stat st;

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	RUN(&r, "key", "new", "--out", path);
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_eq(strlen(r.out), 43, "%s", r.out);
	cr_assert(strncmp(r.out, "0x", 2) == 0);
	snprintf(addr, sizeof(addr), "%s", r.out);
	tu_run_free(&r);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600);
	RUN(&r, "key", "address", path);
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, addr);
	tu_run_free(&r);
	/* never overwrite */
	RUN(&r, "key", "new", "--out", path);
	cr_assert_eq(r.status, 1);
	assert_one_line_error(&r);
	tu_run_free(&r);
	/* refuse a key others can read, without printing it */
	cr_assert_eq(chmod(path, 0644), 0);
	RUN(&r, "key", "address", path);
	cr_assert_eq(r.status, 1);
	assert_one_line_error(&r);
	cr_assert(strstr(r.err, "chmod 600"), "%s", r.err);
	tu_run_free(&r);
	tu_rmtree(dir);
}

/* A FIFO (mode 0600, so the mode check alone would pass it) or a
 * directory given as the key is refused at once: open(2) of a FIFO with
 * no writer blocked forever before keys were opened O_NONBLOCK. */
Test(cli, key_refuses_fifo_and_directory, .timeout = 20)
{
	char dir[256], path[300];
	struct tu_run r;

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/fifo", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	RUN(&r, "key", "address", path);
	cr_assert_eq(r.status, 1, "%s", r.err);
	assert_one_line_error(&r);
	cr_assert(strstr(r.err, "not a regular file"), "%s", r.err);
	tu_run_free(&r);
	snprintf(path, sizeof(path), "%s/d", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	RUN(&r, "key", "address", path);
	cr_assert_eq(r.status, 1, "%s", r.err);
	assert_one_line_error(&r);
	cr_assert(strstr(r.err, "not a regular file"), "%s", r.err);
	tu_run_free(&r);
	tu_rmtree(dir);
}

Test(cli, message_sign_and_recover_match_ethers)
{
	json_t *v = vec_load("eip191.json");
	char dir[256], path[300], text[200];
	size_t i;
	json_t *c;

	tu_tmpdir(dir, sizeof(dir));
	json_array_foreach(v, i, c) {
		size_t mlen;
		uint8_t *msg = vec_unhex_alloc(&mlen, vec_str(c, "message_hex"));
		struct tu_run r;
		/* argv cannot carry NUL bytes or be empty: those go by --file */
		char mpath[320];
		snprintf(mpath, sizeof(mpath), "%s/m%zu", dir, i);
		tu_write_file(mpath, msg, mlen, 0600);
		snprintf(path, sizeof(path), "%s/k%zu", dir, i);
		snprintf(text, sizeof(text), "%s\n", vec_str(c, "key"));
		tu_write_file(path, text, strlen(text), 0600);
		RUN(&r, "message", "sign", "--key", path, "--file", mpath);
		cr_assert_eq(r.status, 0, "%s", r.err);
		snprintf(text, sizeof(text), "%s\n", vec_str(c, "signature"));
		cr_assert_str_eq(r.out, text, "case %zu", i);
		tu_run_free(&r);
		RUN(&r, "message", "recover", "--sig", vec_str(c, "signature"), "--file", mpath);
		cr_assert_eq(r.status, 0, "%s", r.err);
		snprintf(text, sizeof(text), "%s\n", vec_str(c, "address"));
		cr_assert_str_eq(r.out, text);
		tu_run_free(&r);
		free(msg);
	}
	json_decref(v);
	tu_rmtree(dir);
}

Test(cli, message_recover_exit_codes)
{
	json_t *v = vec_load("eip191_recover.json");
	size_t i;
	json_t *c;
	int seen_bad = 0;

	json_array_foreach(v, i, c) {
		size_t mlen;
		uint8_t *msg = vec_unhex_alloc(&mlen, vec_str(c, "message_hex"));
		const char *want = vec_str_or_null(c, "address");
		struct tu_run r;
		char dir[256], mpath[300];
		tu_tmpdir(dir, sizeof(dir));
		snprintf(mpath, sizeof(mpath), "%s/m", dir);
		tu_write_file(mpath, msg, mlen, 0600);
		RUN(&r, "message", "recover", "--sig", vec_str(c, "signature"), "--file", mpath);
		if (want) {
			cr_assert_eq(r.status, 0, "case %zu: %s", i, r.err);
			cr_assert(strncmp(r.out, want, 42) == 0, "case %zu", i);
		} else {
			cr_assert_eq(r.status, 1, "case %zu", i);
			assert_one_line_error(&r);
			seen_bad++;
		}
		tu_run_free(&r);
		tu_rmtree(dir);
		free(msg);
	}
	cr_assert_gt(seen_bad, 3);
	json_decref(v);
}

Test(cli, commit_prints_the_reference_root)
{
	json_t *v = vec_load("merkle.json");
	size_t i;
	json_t *c;
	char dir[256], path[300], want[200];

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	json_array_foreach(v, i, c) {
		size_t n = (size_t)vec_int(c, "size");
		uint8_t *p = vec_merkle_content(n);
		struct tu_run r;
		tu_write_file(path, p, n, 0600);
		RUN(&r, "commit", path);
		cr_assert_eq(r.status, 0, "%s", r.err);
		snprintf(want, sizeof(want), "{\"root\":\"%s\",\"size\":%zu}\n",
			 vec_str(c, "root"), n);
		cr_assert_str_eq(r.out, want);
		tu_run_free(&r);
		/* and from standard input */
		const char *const argv[] = { tu_assay(), "commit", "-", NULL };
		tu_run_input(&r, argv, p, n);
		cr_assert_eq(r.status, 0, "%s", r.err);
		cr_assert_str_eq(r.out, want);
		tu_run_free(&r);
		free(p);
	}
	json_decref(v);
	tu_rmtree(dir);
}

Test(cli, commit_of_a_missing_file_fails_cleanly)
{
	struct tu_run r;

	RUN(&r, "commit", "/nonexistent/file");
	cr_assert_eq(r.status, 1);
	assert_one_line_error(&r);
	cr_assert(strstr(r.err, "/nonexistent/file"), "%s", r.err);
	tu_run_free(&r);
}

Test(cli, receipt_verify_valid_and_invalid_bundles)
{
	json_t *v = vec_load("bundles.json");
	char dir[256], path[300], want[512];
	size_t i;
	json_t *c;

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/b.json", dir);
	json_array_foreach(vec_get(v, "valid"), i, c) {
		struct tu_run r;
		tu_write_file(path, vec_str(c, "bundle_text"), vec_strlen(c, "bundle_text"), 0600);
		RUN(&r, "receipt", "verify", path);
		cr_assert_eq(r.status, 0, "%s: %s", vec_str(c, "name"), r.err);
		snprintf(want, sizeof(want),
			 "{\"valid\":true,\"job\":\"%s\",\"receipt\":\"%s\",\"customer\":\"%s\",\"provider\":\"%s\"}\n",
			 vec_str(c, "job_id"), vec_str(c, "receipt_id"),
			 vec_str(c, "customer"), vec_str(c, "provider"));
		cr_assert_str_eq(r.out, want, "%s", vec_str(c, "name"));
		tu_run_free(&r);
	}
	json_array_foreach(vec_get(v, "invalid"), i, c) {
		struct tu_run r;
		char tag[64];
		tu_write_file(path, vec_str(c, "bundle_text"), vec_strlen(c, "bundle_text"), 0600);
		RUN(&r, "receipt", "verify", path);
		cr_assert_eq(r.status, 1, "%s", vec_str(c, "name"));
		assert_one_line_error(&r);
		snprintf(tag, sizeof(tag), "(%s)", vec_str(c, "error"));
		cr_assert(strstr(r.err, tag), "%s: %s", vec_str(c, "name"), r.err);
		tu_run_free(&r);
	}
	json_decref(v);
	tu_rmtree(dir);
}

Test(cli, receipt_verify_unusable_arguments_exit_2)
{
	struct tu_run r;

	RUN(&r, "receipt", "verify", "/nonexistent/bundle.json");
	cr_assert_eq(r.status, 2);
	assert_one_line_error(&r);
	tu_run_free(&r);
	RUN(&r, "receipt", "verify");
	cr_assert_eq(r.status, 2);
	tu_run_free(&r);
	RUN(&r, "receipt", "verify", "a", "b");
	cr_assert_eq(r.status, 2);
	tu_run_free(&r);
	RUN(&r, "receipt", "verify", "a", "--chain-id", "31337");
	cr_assert_eq(r.status, 2);
	tu_run_free(&r);
}

/* Writes text to dir/name and returns the path in buf. */
static const char *put(char *buf, size_t len, const char *dir, const char *name,
		       const char *text)
{
	snprintf(buf, len, "%s/%s", dir, name);
	tu_write_file(buf, text, strlen(text), 0600);
	return buf;
}

/* Runs and returns stdout without its newline in out; asserts exit 0. */
static void run_ok(char *out, size_t len, const char *const argv[])
{
	struct tu_run r;
	size_t n;

	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "%s %s: %s", argv[1], argv[2], r.err);
	n = strlen(r.out);
	cr_assert(n > 0 && r.out[n - 1] == '\n' && n < len);
	snprintf(out, len, "%.*s", (int)(n - 1), r.out);
	tu_run_free(&r);
}

Test(cli, round_trip_sign_bundle_verify_with_files)
{
	/* Keys from the ethers vectors' convention: any valid secrets. */
	static const char ckey[] = "0x0000000000000000000000000000000000000000000000000000000000000001\n";
	static const char pkey[] = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n";
	json_t *m = vec_load("merkle.json"), *c = NULL;
	char dir[256], kc[300], kp[300], dom[300], job[300], rec[300], in[300], out[300];
	char text[2048], jobsig[200], jobid[100], recsig[200], bundle[300];
	size_t i;
	struct tu_run r;

	json_array_foreach(m, i, c)
		if (vec_int(c, "size") == 65537)
			break;
	cr_assert(c, "merkle.json has no 65537-byte case");
	tu_tmpdir(dir, sizeof(dir));
	put(kc, sizeof(kc), dir, "customer.key", ckey);
	put(kp, sizeof(kp), dir, "provider.key", pkey);
	uint8_t *data = vec_merkle_content(65537);
	snprintf(in, sizeof(in), "%s/input.bin", dir);
	tu_write_file(in, data, 65537, 0600);
	snprintf(out, sizeof(out), "%s/output.bin", dir);
	tu_write_file(out, data, 65536, 0600);   /* its root: the 65536 case */
	free(data);
	put(dom, sizeof(dom), dir, "domain.json",
	    "{\"name\":\"Assay\",\"version\":\"1\",\"chainId\":31337,"
	    "\"verifyingContract\":\"0x00000000000000000000000000000000000000aa\"}");
	snprintf(text, sizeof(text),
		 "{\"customer\":\"0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf\","
		 "\"provider\":\"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\","
		 "\"kernel\":\"matmul_f32@1\",\"kernelHash\":\"0x%064d\",\"params\":\"{}\","
		 "\"inputRoot\":\"%s\",\"inputSize\":65537,\"maxPrice\":\"1000\","
		 "\"deadline\":2000000000,\"nonce\":1}", 7, vec_str(c, "root"));
	put(job, sizeof(job), dir, "job.json", text);
	{
		const char *const a[] = { tu_assay(), "statement", "sign", "--type", "JobSpec",
					  "--domain", dom, "--key", kc, job, NULL };
		run_ok(jobsig, sizeof(jobsig), a);
		const char *const h[] = { tu_assay(), "statement", "hash", "--type", "JobSpec",
					  "--domain", dom, job, NULL };
		run_ok(jobid, sizeof(jobid), h);
		/* the provider may not sign the customer's statement */
		const char *const w[] = { tu_assay(), "statement", "sign", "--type", "JobSpec",
					  "--domain", dom, "--key", kp, job, NULL };
		tu_run(&r, w);
		cr_assert_eq(r.status, 1);
		tu_run_free(&r);
	}
	json_t *m2 = NULL;
	const char *outroot = NULL;
	json_array_foreach(m, i, m2)
		if (vec_int(m2, "size") == 65536)
			outroot = vec_str(m2, "root");
	cr_assert(outroot);
	snprintf(text, sizeof(text),
		 "{\"job\":\"%s\",\"kernelHash\":\"0x%064d\",\"inputRoot\":\"%s\","
		 "\"inputSize\":65537,\"outputRoot\":\"%s\",\"outputSize\":65536,"
		 "\"price\":\"900\",\"device\":\"cpu\",\"startedAt\":1,\"finishedAt\":2,"
		 "\"provider\":\"0x2c7536E3605D9C16a7a3D7b1898e529396a65c23\"}",
		 jobid, 7, vec_str(c, "root"), outroot);
	put(rec, sizeof(rec), dir, "receipt.json", text);
	{
		const char *const a[] = { tu_assay(), "statement", "sign", "--type", "Receipt",
					  "--domain", dom, "--key", kp, rec, NULL };
		run_ok(recsig, sizeof(recsig), a);
		const char *const b[] = { tu_assay(), "receipt", "bundle", "--domain", dom,
					  "--job", job, "--job-sig", jobsig, "--receipt", rec,
					  "--receipt-sig", recsig, NULL };
		run_ok(text, sizeof(text), b);
		put(bundle, sizeof(bundle), dir, "bundle.json", text);
	}
	{
		const char *const ok[] = { tu_assay(), "receipt", "verify", bundle, "--input", in,
					   "--output", out, "--chain-id", "31337", "--escrow",
					   "0x00000000000000000000000000000000000000AA", NULL };
		run_ok(text, sizeof(text), ok);
		cr_assert(strstr(text, jobid), "%s", text);
		/* the wrong file for either side is an invalid bundle */
		const char *const bad_in[] = { tu_assay(), "receipt", "verify", bundle, "--input", out, NULL };
		tu_run(&r, bad_in);
		cr_assert_eq(r.status, 1);
		assert_one_line_error(&r);
		tu_run_free(&r);
		const char *const bad_out[] = { tu_assay(), "receipt", "verify", bundle, "--output", in, NULL };
		tu_run(&r, bad_out);
		cr_assert_eq(r.status, 1);
		tu_run_free(&r);
		/* pinned to another chain: wrong domain */
		const char *const chain[] = { tu_assay(), "receipt", "verify", bundle, "--chain-id", "1",
					      "--escrow", "0x00000000000000000000000000000000000000aa", NULL };
		tu_run(&r, chain);
		cr_assert_eq(r.status, 1);
		cr_assert(strstr(r.err, "(domain)"), "%s", r.err);
		tu_run_free(&r);
		/* from standard input */
		const char *const stdin_[] = { tu_assay(), "receipt", "verify", "-", NULL };
		char *btext = NULL;
		FILE *f = fopen(bundle, "r");
		cr_assert(f);
		size_t cap = 0;
		ssize_t n = getdelim(&btext, &cap, '\0', f);
		fclose(f);
		tu_run_input(&r, stdin_, btext, (size_t)n);
		cr_assert_eq(r.status, 0, "%s", r.err);
		tu_run_free(&r);
		free(btext);
	}
	json_decref(m);
	tu_rmtree(dir);
}

/* `make demo` as a test.  Act 1 (offline): it must verify the honest
 * bundle, match the CPU re-execution and catch both frauds.  Act 2 (a
 * private PostgreSQL, a real assay-escrow, two assay-provider daemons, one
 * of them corrupting its outputs, and an assay-validator): the numbers,
 * not just the exit status: with the documented parameters (slash 50 %,
 * bounty 20 % of it), four jobs of maxPrice 2 ASY at a price of 1.5 ASY
 * and 200 ASY stakes, the cheater is slashed twice (100 then 50 ASY), the
 * customer gets the cheater's two jobs back and pays the honest two, the
 * honest provider earns 3 ASY, the validator 30 ASY, the treasury keeps
 * 120 ASY, the ledger's invariants hold and an audit chain verifies. */
Test(cli, demo_round_trip_runs_and_catches_both_frauds, .timeout = 400)
{
	char script[512];
	struct tu_run r;
	const char *const argv[] = { "/bin/bash", tu_src(script, sizeof(script), "scripts/demo.sh"), NULL };
	static const char *const act2[] = {
		/* The referee's verdict, from the escrow's job view. */
		"\"state\":\"provider_wrong\",\"reason\":\"output-differs-from-receipt\"",
		"\"executed\":true",
		"job 1 (honest-matmul): \"state\":\"paid\"",
		"job 2 (honest-mlp): \"state\":\"paid\"",
		"job 3 (honest-gpt2): \"state\":\"paid\"",
		"job 4 (cheat-matmul): \"state\":\"refunded\"",
		"job 5 (cheat-mlp): \"state\":\"refunded\"",
		"job 6 (cheat-gpt2): \"state\":\"refunded\"",
		/* Balances after, in ASY: available, stake, unbonding, total
		 * (worked out by hand: 20 and 3 x 500 funded, 400 staked each,
		 * 3 jobs paid at 1.5, slashes of 200, 100 and 50 with 20 %
		 * bounties). */
		"  customer                 15.50         0.00         0.00        15.50\n",
		"  honest provider         104.50       400.00         0.00       504.50\n",
		"  cheating provider       100.00        50.00         0.00       150.00\n",
		"  validator               170.00       400.00         0.00       570.00\n",
		/* The story's numbers, in base units. */
		"cheater slashed: 350000000000000000000 base units",
		"customer refunded: 6000000000000000000 base units",
		"honest provider paid: 4500000000000000000 base units",
		"validator bounty: 70000000000000000000 base units",
		"treasury kept: 280000000000000000000 base units",
		/* The ledger's own tables: I1, I2, I3/I4, I5. */
		"sum of all accounts, world included: 0 (I1 conservation)",
		"accounts below zero besides world:   0 (I2)",
		"money still locked in jobs:          0 (I3/I4",
		"accounts that differ from their transfers: 0 (I5)",
		"wallets 1240.00 + treasury 280.00 = funded 1520.00 ASY: ledger invariants hold",
		"{\"valid\":true,\"subject\":\"job:0x",
		/* The escrow's watch: three proven frauds flag the cheater and
		 * hold it (--hold-after-frauds 3, the default); the validator's
		 * revealed seed selected the three honest receipts (the
		 * cheater's were settled before their windows closed) and it
		 * checked all three. */
		"  proven-frauds: cheating provider (3 frauds, bound 1)\n",
		"  held: cheating provider (3 frauds, bound 3)\n",
		"\"candidates\":3,\"selected\":3,\"kept\":3,\"skipped\":0,\"unsampled\":0,"
		"\"escrowAudit\":\"agrees\"}",
		"3 frauds caught and slashed",
	};

	tu_run(&r, argv);
	cr_assert_eq(r.status, 0, "demo failed: %s", r.err);
	cr_assert(strstr(r.out, "re-execution root equals the receipt's outputRoot"), "%s", r.out);
	cr_assert(strstr(r.out, "\"valid\":true"), "%s", r.out);
	cr_assert(strstr(r.err, "root differs"), "%s", r.err);
	cr_assert(strstr(r.err, "(receipt-signer)"), "%s", r.err);
	cr_assert(strstr(r.out, "2 frauds caught"), "%s", r.out);
	for (size_t i = 0; i < sizeof(act2) / sizeof(act2[0]); i++)
		cr_assert(strstr(r.out, act2[i]), "act 2: '%s' not in:\n%s", act2[i], r.out);
	tu_run_free(&r);
}
