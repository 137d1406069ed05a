/*
 * test_receipts.c: the receipts library's own rules, beyond the ethers.js
 * vectors of test_vectors.c: key files and their permissions, the
 * signature acceptance rules of PROTOCOL.md section 2, integers, hex,
 * thread- and stream-independence of commitments, strict statements.
 *
 * Expected values come from outside the code under test: well-known
 * constants (the address of private key 1, SHA-256 of ""), ethers.js
 * output noted where used, or arithmetic done here independently.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "receipts.h"
#include "internal.h"
#include "testutil.h"
#include "vecutil.h"
#include "banned.h"

/* secp256k1 group order n, big-endian. */
static const uint8_t ORDER[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b,
	0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41,
};

/* out = a - b over 256-bit big-endian numbers (a >= b). */
static void sub256(uint8_t out[32], const uint8_t a[32], const uint8_t b[32])
{
	int borrow = 0;
	for (int i = 31; i >= 0; i--) {
		int d = a[i] - b[i] - borrow;
		borrow = d < 0;
		out[i] = (uint8_t)(d + (borrow ? 256 : 0));
	}
}

static void key_of(struct rcpt_key *k, uint8_t last_byte)
{
	uint8_t s[32] = { 0 };
	s[31] = last_byte;
	cr_assert_eq(rcpt_key_from_secret(k, s), RCPT_OK);
}

Test(receipts, typehash_constants_match_their_type_strings)
{
	cr_assert_eq(rcpt_eip712_selfcheck(), 0);
}

Test(receipts, keccak_streaming_equals_one_shot_at_every_split)
{
	uint8_t *p = vec_merkle_content(600);
	uint8_t want[32], got[32];

	rcpt_keccak256(want, p, 600);
	for (size_t cut = 0; cut <= 600; cut += 7) {
		struct rcpt_keccak k;
		rcpt_keccak_init(&k);
		rcpt_keccak_update(&k, p, cut);
		rcpt_keccak_update(&k, p + cut, 600 - cut);
		rcpt_keccak_final(&k, got);
		cr_assert_arr_eq(got, want, 32, "split at %zu", cut);
	}
	free(p);
}

Test(receipts, address_of_private_key_one_is_the_well_known_one)
{
	struct rcpt_key k;
	char a[RCPT_ADDR_HEX_BYTES];

	key_of(&k, 1);
	rcpt_address_format(a, k.address);
	cr_assert_str_eq(a, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf");
	rcpt_key_wipe(&k);
}

Test(receipts, out_of_range_secrets_are_refused)
{
	struct rcpt_key k;
	uint8_t zero[32] = { 0 }, nm1[32], one[32] = { 0 };

	cr_assert_eq(rcpt_key_from_secret(&k, zero), RCPT_ERR_KEY_INVALID);
	cr_assert_eq(rcpt_key_from_secret(&k, ORDER), RCPT_ERR_KEY_INVALID);
	one[31] = 1;
	sub256(nm1, ORDER, one);
	cr_assert_eq(rcpt_key_from_secret(&k, nm1), RCPT_OK);
}

Test(receipts, generated_keys_differ_and_sign)
{
	struct rcpt_key a, b;
	uint8_t d[32] = { 1 }, sig[65], who[20];

	cr_assert_eq(rcpt_key_generate(&a), RCPT_OK);
	cr_assert_eq(rcpt_key_generate(&b), RCPT_OK);
	cr_assert_arr_neq(a.secret, b.secret, 32);
	cr_assert_eq(rcpt_sign_digest(sig, &a, d), RCPT_OK);
	cr_assert_eq(rcpt_recover_digest(who, sig, d), RCPT_OK);
	cr_assert_arr_eq(who, a.address, 20);
	rcpt_key_wipe(&a);
	rcpt_key_wipe(&b);
	for (size_t i = 0; i < sizeof(a); i++)
		cr_assert_eq(((uint8_t *)&a)[i], 0, "wipe left a byte at %zu", i);
}

Test(receipts, signatures_follow_the_v_and_low_s_rules)
{
	struct rcpt_key k;
	uint8_t d[32], sig[65], t[65], who[20], one[32] = { 0 };

	key_of(&k, 7);
	rcpt_keccak256(d, "digest", 6);
	cr_assert_eq(rcpt_sign_digest(sig, &k, d), RCPT_OK);
	cr_assert(sig[64] == 27 || sig[64] == 28, "emitted v is 27 or 28");
	/* s is emitted low: 2s < n, i.e. s < n - s. */
	uint8_t ns[32];
	sub256(ns, ORDER, sig + 32);
	cr_assert(memcmp(sig + 32, ns, 32) < 0, "s emitted high");
	(void)one;
	/* v 0/1 are the same signature. */
	memcpy(t, sig, 65);
	t[64] = (uint8_t)(sig[64] - 27);
	cr_assert_eq(rcpt_recover_digest(who, t, d), RCPT_OK);
	cr_assert_arr_eq(who, k.address, 20);
	/* Any other v is refused. */
	for (int v = 0; v < 256; v++) {
		if (v == 0 || v == 1 || v == 27 || v == 28)
			continue;
		t[64] = (uint8_t)v;
		cr_assert_eq(rcpt_recover_digest(who, t, d), RCPT_ERR_SIG_V, "v=%d", v);
	}
	/* High-S twin (r, n - s) with the other parity: valid ECDSA, refused. */
	memcpy(t, sig, 65);
	sub256(t + 32, ORDER, sig + 32);
	t[64] = sig[64] == 27 ? 28 : 27;
	cr_assert_eq(rcpt_recover_digest(who, t, d), RCPT_ERR_SIG_HIGH_S);
	/* r = 0, s = 0, r = n, s = n: not signatures. */
	memcpy(t, sig, 65);
	memset(t, 0, 32);
	cr_assert_eq(rcpt_recover_digest(who, t, d), RCPT_ERR_SIG_FORMAT);
	memcpy(t, sig, 65);
	memset(t + 32, 0, 32);
	cr_assert_eq(rcpt_recover_digest(who, t, d), RCPT_ERR_SIG_FORMAT);
	memcpy(t, sig, 65);
	memcpy(t, ORDER, 32);
	cr_assert_eq(rcpt_recover_digest(who, t, d), RCPT_ERR_SIG_FORMAT);
	memcpy(t, sig, 65);
	memcpy(t + 32, ORDER, 32);
	cr_assert_eq(rcpt_recover_digest(who, t, d), RCPT_ERR_SIG_FORMAT);
	/* A different digest recovers someone else, never an error that
	 * would let a caller confuse the two. */
	d[0] ^= 1;
	if (rcpt_recover_digest(who, sig, d) == RCPT_OK)
		cr_assert_arr_neq(who, k.address, 20);
	rcpt_key_wipe(&k);
}

Test(receipts, u256_canonical_decimals)
{
	static const struct { const char *dec; uint8_t idx; uint8_t val; } ok[] = {
		{ "0", 31, 0 }, { "1", 31, 1 }, { "255", 31, 255 }, { "256", 30, 1 },
		{ "18446744073709551616", 23, 1 },   /* 2^64 */
	};
	struct rcpt_u256 v, w;
	char buf[RCPT_U256_DEC_BYTES];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(rcpt_u256_parse(&v, ok[i].dec), RCPT_OK, "%s", ok[i].dec);
		cr_assert_eq(v.be[ok[i].idx], ok[i].val, "%s", ok[i].dec);
		rcpt_u256_format(buf, &v);
		cr_assert_str_eq(buf, ok[i].dec);
	}
	cr_assert_eq(rcpt_u256_parse(&v, "115792089237316195423570985008687907853269984665640564039457584007913129639935"), RCPT_OK);
	for (int i = 0; i < 32; i++)
		cr_assert_eq(v.be[i], 0xff);
	rcpt_u256_format(buf, &v);
	cr_assert_str_eq(buf, "115792089237316195423570985008687907853269984665640564039457584007913129639935");
	static const char *const bad[] = {
		"", "00", "01", "-1", "+1", "1e3", "0x10", " 1", "1 ", "1.0",
		"115792089237316195423570985008687907853269984665640564039457584007913129639936",
		"1157920892373161954235709850086879078532699846656405640394575840079131296399350",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(rcpt_u256_parse(&v, bad[i]), RCPT_ERR_DECIMAL, "'%s'", bad[i]);
	rcpt_u256_from_u64(&v, 5);
	rcpt_u256_from_u64(&w, 6);
	cr_assert_eq(rcpt_u256_cmp(&v, &w), -1);
	cr_assert_eq(rcpt_u256_cmp(&w, &v), 1);
	cr_assert_eq(rcpt_u256_cmp(&v, &v), 0);
}

Test(receipts, hex_and_addresses_are_strict)
{
	uint8_t b[20];

	cr_assert_eq(rcpt_hex_decode(b, 2, "0xABcd"), RCPT_OK);
	cr_assert_eq(b[0], 0xab);
	cr_assert_eq(rcpt_hex_decode(b, 2, "ABcd"), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_decode(b, 2, "0Xabcd"), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_decode(b, 2, "0xabc"), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_decode(b, 2, "0xabcde"), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_decode(b, 2, "0xabcg"), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_decode(b, 0, "0x"), RCPT_OK);
	/* Bare digits (PostgreSQL bytea after its "\\x", tokens). */
	cr_assert_eq(rcpt_hex_digits_decode(b, 2, "fF01", 4), RCPT_OK);
	cr_assert(b[0] == 0xff && b[1] == 0x01);
	cr_assert_eq(rcpt_hex_digits_decode(b, 2, "fF01", 3), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_digits_decode(b, 2, "fF012", 5), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_digits_decode(b, 2, "fFx1", 4), RCPT_ERR_HEX);
	cr_assert_eq(rcpt_hex_digits_decode(b, 2, "0xff", 4), RCPT_ERR_HEX);
	/* all lower, all upper, or a correct checksum */
	cr_assert_eq(rcpt_address_parse(b, "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"), RCPT_OK);
	cr_assert_eq(rcpt_address_parse(b, "0x7E5F4552091A69125D5DFCB7B8C2659029395BDF"), RCPT_OK);
	cr_assert_eq(rcpt_address_parse(b, "0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf"), RCPT_OK);
	cr_assert_eq(rcpt_address_parse(b, "0x7E5F4552091A69125d5DfCb7b8C2659029395BdF"), RCPT_ERR_CHECKSUM);
}

Test(receipts, empty_commitment_is_sha256_of_nothing)
{
	struct rcpt_commitment c;
	char h[RCPT_HASH_HEX_BYTES];

	cr_assert_eq(rcpt_commit_buf(&c, NULL, 0), RCPT_OK);
	cr_assert_eq(rcpt_hex_encode(h, sizeof(h), c.root, 32), RCPT_OK);
	cr_assert_str_eq(h, "0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cr_assert_eq(c.size, 0);
}

Test(receipts, file_commitment_ignores_thread_count_and_streaming)
{
	static const size_t sizes[] = { 1, 65536, 65537, 7 * 65536 + 3, 70 * 65536 + 1 };
	char dir[256], path[300];

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/f", dir);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		uint8_t *p = vec_merkle_content(sizes[s]);
		struct rcpt_commitment want, got;
		int fds[2];

		tu_write_file(path, p, sizes[s], 0600);
		cr_assert_eq(rcpt_commit_buf(&want, p, sizes[s]), RCPT_OK);
		for (unsigned t = 1; t <= 5; t++) {
			cr_assert_eq(rcpt_commit_file(&got, NULL, path, t), RCPT_OK);
			cr_assert_arr_eq(got.root, want.root, 32, "size %zu threads %u",
					 sizes[s], t);
			cr_assert_eq(got.size, sizes[s]);
		}
		/* A pipe takes the streaming path. */
		if (sizes[s] <= 65536 && pipe(fds) == 0) {
			cr_assert_eq(write(fds[1], p, sizes[s]), (ssize_t)sizes[s]);
			close(fds[1]);
			cr_assert_eq(rcpt_commit_fd(&got, NULL, fds[0], 0), RCPT_OK);
			close(fds[0]);
			cr_assert_arr_eq(got.root, want.root, 32);
		}
		free(p);
	}
	tu_rmtree(dir);
}

Test(receipts, missing_file_is_an_io_error_naming_it)
{
	struct rcpt_commitment c;
	struct rcpt_diag d = { "" };

	cr_assert_eq(rcpt_commit_file(&c, &d, "/nonexistent/x.bin", 0), RCPT_ERR_IO);
	cr_assert(strstr(d.msg, "/nonexistent/x.bin"), "%s", d.msg);
}

Test(receipts, proofs_refuse_wrong_lengths_and_indices)
{
	uint8_t *p = vec_merkle_content(3 * 65536 + 5);
	uint8_t path[RCPT_PROOF_HASHES_MAX][32];
	size_t n;
	struct rcpt_commitment c;

	cr_assert_eq(rcpt_commit_buf(&c, p, 3 * 65536 + 5), RCPT_OK);
	cr_assert_eq(rcpt_proof_buf(path, &n, p, 3 * 65536 + 5, 3), RCPT_OK);
	cr_assert_eq(rcpt_proof_verify(&c, 3, p + 3 * 65536, 5, (const uint8_t(*)[32])path, n), RCPT_OK);
	cr_assert_eq(rcpt_proof_verify(&c, 3, p + 3 * 65536, 4, (const uint8_t(*)[32])path, n), RCPT_ERR_PROOF);
	cr_assert_eq(rcpt_proof_verify(&c, 4, p + 3 * 65536, 5, (const uint8_t(*)[32])path, n), RCPT_ERR_PROOF);
	cr_assert_eq(rcpt_proof_verify(&c, 3, p + 3 * 65536, 5, (const uint8_t(*)[32])path, n - 1), RCPT_ERR_PROOF);
	cr_assert_eq(rcpt_proof_buf(path, &n, p, 3 * 65536 + 5, 4), RCPT_ERR_ARG);
	free(p);
}

/* ---- key files ---- */

static void write_key_text(const char *path, const char *text, int mode)
{
	unlink(path);
	tu_write_file(path, text, strlen(text), mode);
}

Test(receipts, key_files_are_created_0600_and_never_overwritten)
{
	char dir[256], path[300];
	struct rcpt_key k, l;
	struct stat st;
	mode_t old = umask(0);

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	cr_assert_eq(rcpt_key_generate(&k), RCPT_OK);
	cr_assert_eq(rcpt_key_save(&k, NULL, path), RCPT_OK);
	umask(old);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_assert_eq(st.st_size, 67);
	cr_assert_eq(rcpt_key_save(&k, NULL, path), RCPT_ERR_KEY_EXISTS);
	cr_assert_eq(rcpt_key_load(&l, NULL, path), RCPT_OK);
	cr_assert_arr_eq(l.secret, k.secret, 32);
	cr_assert_arr_eq(l.address, k.address, 20);
	rcpt_key_wipe(&k);
	rcpt_key_wipe(&l);
	tu_rmtree(dir);
}

Test(receipts, key_files_others_can_read_are_refused_without_leaking)
{
	static const char secret[] =
		"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n";
	static const int bad_modes[] = { 0640, 0604, 0644, 0660, 0606, 0620, 0602, 0610, 0601 };
	char dir[256], path[300];
	struct rcpt_key k;
	struct rcpt_diag d;

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	for (size_t i = 0; i < sizeof(bad_modes) / sizeof(bad_modes[0]); i++) {
		write_key_text(path, secret, bad_modes[i]);
		memset(&d, 0, sizeof(d));
		cr_assert_eq(rcpt_key_load(&k, &d, path), RCPT_ERR_KEY_PERMS, "mode %o", bad_modes[i]);
		cr_assert(strstr(d.msg, "chmod 600"), "%s", d.msg);
		cr_assert_null(strstr(d.msg, "4c0883a6"), "the secret leaked into: %s", d.msg);
	}
	write_key_text(path, secret, 0400);
	cr_assert_eq(rcpt_key_load(&k, NULL, path), RCPT_OK);
	char a[RCPT_ADDR_HEX_BYTES];
	rcpt_address_format(a, k.address);
	/* ethers.js: new Wallet(secret).address */
	cr_assert_str_eq(a, "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23");
	rcpt_key_wipe(&k);
	tu_rmtree(dir);
}

Test(receipts, malformed_key_files_are_refused)
{
	static const char *const bad[] = {
		"4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n",
		"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231\n",
		"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f3623188\n",
		"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\r\n",
		"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n\n",
		" 0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318\n",
		"0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f36231g\n",
		"",
	};
	char dir[256], path[300], lnk[300];
	struct rcpt_key k;

	tu_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_key_text(path, bad[i], 0600);
		cr_assert_eq(rcpt_key_load(&k, NULL, path), RCPT_ERR_KEY_FORMAT, "case %zu", i);
	}
	/* The zero key and the group order are well-formed but invalid. */
	write_key_text(path, "0x0000000000000000000000000000000000000000000000000000000000000000\n", 0600);
	cr_assert_eq(rcpt_key_load(&k, NULL, path), RCPT_ERR_KEY_INVALID);
	/* Without the final newline and in upper case it is fine. */
	write_key_text(path, "0x4C0883A69102937D6231471B5DBB6204FE5129617082792AE468D01A3F362318", 0600);
	cr_assert_eq(rcpt_key_load(&k, NULL, path), RCPT_OK);
	/* A symlink is not followed; a directory is not a key. */
	snprintf(lnk, sizeof(lnk), "%s/l", dir);
	cr_assert_eq(symlink(path, lnk), 0);
	cr_assert_eq(rcpt_key_load(&k, NULL, lnk), RCPT_ERR_IO);
	cr_assert_eq(rcpt_key_load(&k, NULL, dir), RCPT_ERR_KEY_FORMAT);
	/* Saving through a planted symlink is refused, dangling or not. */
	cr_assert_eq(rcpt_key_save(&k, NULL, lnk), RCPT_ERR_KEY_EXISTS);
	snprintf(lnk, sizeof(lnk), "%s/dangling", dir);
	cr_assert_eq(symlink("/nonexistent-assay-target", lnk), 0);
	cr_assert_eq(rcpt_key_save(&k, NULL, lnk), RCPT_ERR_KEY_EXISTS);
	cr_assert_eq(access("/nonexistent-assay-target", F_OK), -1);
	rcpt_key_wipe(&k);
	tu_rmtree(dir);
}

/* ---- statements ---- */

static void sample_job(struct rcpt_job *j)
{
	memset(j, 0, sizeof(*j));
	memset(j->customer, 0x11, 20);
	memset(j->provider, 0x22, 20);
	memcpy(j->kernel, "matmul_f32@1", 13);
	memset(j->kernel_hash, 0x33, 32);
	memcpy(j->params, "{\"relu\":true}", 14);
	memset(j->input_root, 0x44, 32);
	j->input_size = 123;
	rcpt_u256_from_u64(&j->max_price, 1000);
	j->deadline = 2000000000;
	j->nonce = 9;
}

Test(receipts, statements_round_trip_through_json)
{
	struct rcpt_job j, j2;
	struct rcpt_attestation a, a2;
	char *s = NULL;

	sample_job(&j);
	cr_assert_eq(rcpt_job_to_json(&s, &j), RCPT_OK);
	cr_assert_eq(rcpt_job_parse(&j2, NULL, s, strlen(s)), RCPT_OK, "%s", s);
	cr_assert_arr_eq(&j, &j2, sizeof(j));
	cr_assert(strstr(s, "\"maxPrice\":\"1000\""), "%s", s);
	cr_assert(strstr(s, "\"inputSize\":123"), "%s", s);
	free(s);
	memset(&a, 0, sizeof(a));
	a.verdict = 2;
	memset(a.receipt, 0xab, 32);
	cr_assert_eq(rcpt_attestation_to_json(&s, &a), RCPT_OK);
	cr_assert_eq(rcpt_attestation_parse(&a2, NULL, s, strlen(s)), RCPT_OK, "%s", s);
	cr_assert_arr_eq(&a, &a2, sizeof(a));
	free(s);
}

Test(receipts, statement_fields_are_validated_before_hashing)
{
	struct rcpt_job j;
	struct rcpt_attestation a;
	struct rcpt_diag d;
	uint8_t h[32];
	static const char *const bad_kernels[] = {
		"", "matmul", "@1", "matmul@", "a@b@c", "mat mul@1", "m\xc3\xa4tmul@1",
	};

	for (size_t i = 0; i < sizeof(bad_kernels) / sizeof(bad_kernels[0]); i++) {
		sample_job(&j);
		snprintf(j.kernel, sizeof(j.kernel), "%s", bad_kernels[i]);
		cr_assert_eq(rcpt_job_hash_struct(h, &d, &j), RCPT_ERR_FIELD, "'%s'", bad_kernels[i]);
		cr_assert(strstr(d.msg, "kernel"), "%s", d.msg);
	}
	sample_job(&j);
	j.params[0] = '\0';
	cr_assert_eq(rcpt_job_hash_struct(h, &d, &j), RCPT_ERR_FIELD);
	snprintf(j.params, sizeof(j.params), "{\"a\":\"\x01\"}");
	cr_assert_eq(rcpt_job_hash_struct(h, &d, &j), RCPT_ERR_FIELD);
	snprintf(j.params, sizeof(j.params), "{\"a\":\"\xc0\xaf\"}");
	cr_assert_eq(rcpt_job_hash_struct(h, &d, &j), RCPT_ERR_FIELD, "overlong UTF-8");
	sample_job(&j);
	j.nonce = RCPT_JSON_UINT_MAX + 1;
	cr_assert_eq(rcpt_job_hash_struct(h, &d, &j), RCPT_ERR_FIELD);
	memset(&a, 0, sizeof(a));
	for (int v = 0; v < 256; v++) {
		a.verdict = (uint8_t)v;
		cr_assert_eq(rcpt_attestation_hash_struct(h, NULL, &a) == RCPT_OK,
			     v == 1 || v == 2, "verdict %d", v);
	}
}

Test(receipts, strict_parsing_names_the_field)
{
	static const struct { const char *json; enum rcpt_err rc; const char *field; } cases[] = {
		{ "{\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"outputRoot\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"verdict\":1,\"validator\":\"0x0000000000000000000000000000000000000000\"}", RCPT_OK, NULL },
		{ "{\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"outputRoot\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"verdict\":256,\"validator\":\"0x0000000000000000000000000000000000000000\"}", RCPT_ERR_FIELD, "verdict" },
		{ "{\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"outputRoot\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"verdict\":1.0,\"validator\":\"0x0000000000000000000000000000000000000000\"}", RCPT_ERR_FIELD, "verdict" },
		{ "{\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"outputRoot\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"verdict\":1,\"validator\":\"0x0000000000000000000000000000000000000000\",\"x\":1}", RCPT_ERR_FIELD, "x: unknown key" },
		{ "{\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"outputRoot\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"validator\":\"0x0000000000000000000000000000000000000000\"}", RCPT_ERR_FIELD, "verdict: missing" },
		{ "{\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"outputRoot\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"verdict\":1,\"validator\":\"0x0000000000000000000000000000000000000000\"}", RCPT_ERR_JSON, "duplicate" },
		{ "{\"receipt\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"outputRoot\":\"0x0000000000000000000000000000000000000000000000000000000000000000\",\"verdict\":1,\"validator\":\"0x0000000000000000000000000000000000000000\"} {}", RCPT_ERR_JSON, NULL },
		{ "[1]", RCPT_ERR_FIELD, "expected an object" },
		{ "", RCPT_ERR_JSON, NULL },
	};
	struct rcpt_attestation a;
	struct rcpt_diag d;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&d, 0, sizeof(d));
		cr_assert_eq(rcpt_attestation_parse(&a, &d, cases[i].json, strlen(cases[i].json)),
			     cases[i].rc, "case %zu: %s", i, d.msg);
		if (cases[i].field)
			cr_assert(strstr(d.msg, cases[i].field), "case %zu: %s", i, d.msg);
	}
}

Test(receipts, oversized_documents_are_refused_before_parsing)
{
	size_t n = RCPT_JSON_BYTES_MAX + 1;
	char *big = malloc(n);
	struct rcpt_bundle b;

	cr_assert(big);
	memset(big, ' ', n);
	cr_assert_eq(rcpt_bundle_parse(&b, NULL, big, n), RCPT_ERR_TOO_LARGE);
	free(big);
}

Test(receipts, hardening_turns_core_dumps_off)
{
	struct rlimit rl;

	cr_assert_eq(rcpt_harden_process(), RCPT_OK);
	cr_assert_eq(getrlimit(RLIMIT_CORE, &rl), 0);
	cr_assert_eq(rl.rlim_cur, 0);
}

Test(receipts, every_error_has_a_name_and_a_text)
{
	for (int e = 0; e < RCPT_ERR_COUNT_; e++) {
		cr_assert_str_neq(rcpt_errname((enum rcpt_err)e), "unknown", "code %d", e);
		cr_assert_str_neq(rcpt_strerror((enum rcpt_err)e), "unknown error", "code %d", e);
	}
	cr_assert_str_eq(rcpt_errname(RCPT_ERR_COUNT_), "unknown");
}

/* Inputs the fuzzers once broke on, replayed on every run. */
Test(receipts, fuzz_regressions_give_one_line_diagnostics)
{
	static const char *const files[] = {
		"tests/fuzz/regressions/bundle-escape-in-unknown-key-1.json",
		"tests/fuzz/regressions/bundle-escape-in-unknown-key-2.json",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[512];
		struct rcpt_diag d = { "" };
		FILE *f = fopen(tu_src(path, sizeof(path), files[i]), "rb");
		static char buf[RCPT_JSON_BYTES_MAX];
		size_t n;
		cr_assert(f, "%s", path);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		cr_assert_neq(rcpt_bundle_check_json(NULL, &d, buf, n, NULL), RCPT_OK);
		cr_assert_null(strchr(d.msg, '\n'), "%s", d.msg);
		for (const char *p = d.msg; *p; p++)
			cr_assert((unsigned char)*p >= 0x20, "control byte in: %s", d.msg);
	}
}
