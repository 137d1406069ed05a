/*
 * key.c: secp256k1 keys, key files, recoverable signatures and EIP-191.
 *
 * Invariants: a struct rcpt_key always holds a valid secret (0 < k < n)
 * and the address derived from it; every buffer that held a secret is
 * wiped with OPENSSL_cleanse before it goes out of scope.  Signatures are
 * produced low-S (libsecp256k1 always normalises) with v in {27, 28}, and
 * accepted only low-S with v in {0, 1, 27, 28} (PROTOCOL.md section 2).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <secp256k1.h>
#include <secp256k1_recovery.h>

#include "internal.h"
#include "banned.h"

/* n / 2 for secp256k1 (EIP-2's bound on s), big-endian. */
static const uint8_t half_order[32] = {
	0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d,
	0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
};

static enum rcpt_err pubkey_address(uint8_t addr[RCPT_ADDR_BYTES],
				    const secp256k1_pubkey *pk)
{
	uint8_t ser[65], h[RCPT_HASH_BYTES];
	size_t len = sizeof(ser);

	if (!secp256k1_ec_pubkey_serialize(secp256k1_context_static, ser, &len,
					   pk, SECP256K1_EC_UNCOMPRESSED) ||
	    len != 65 || ser[0] != 0x04)
		return RCPT_ERR_CRYPTO;
	/* Address: last 20 bytes of keccak256 of X || Y. */
	rcpt_keccak256(h, ser + 1, 64);
	memcpy(addr, h + 12, RCPT_ADDR_BYTES);
	return RCPT_OK;
}

static enum rcpt_err fill_random(uint8_t *buf, size_t len);

/* A context for operations on secrets, randomised against side channels
 * (blinding).  Contexts are cheap since libsecp256k1 0.2: the tables are
 * static.  The caller destroys it. */
static enum rcpt_err secret_ctx(secp256k1_context **out)
{
	uint8_t seed[32];
	enum rcpt_err rc;

	*out = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
	if (!*out)
		return RCPT_ERR_NOMEM;
	rc = fill_random(seed, sizeof(seed));
	if (!rc && !secp256k1_context_randomize(*out, seed))
		rc = RCPT_ERR_CRYPTO;
	OPENSSL_cleanse(seed, sizeof(seed));
	if (rc) {
		secp256k1_context_destroy(*out);
		*out = NULL;
	}
	return rc;
}

enum rcpt_err rcpt_key_from_secret(struct rcpt_key *out,
				   const uint8_t secret[RCPT_SECKEY_BYTES])
{
	secp256k1_context *ctx;
	secp256k1_pubkey pk;
	enum rcpt_err rc;

	if (!out || !secret)
		return RCPT_ERR_ARG;
	if (!secp256k1_ec_seckey_verify(secp256k1_context_static, secret))
		return RCPT_ERR_KEY_INVALID;
	rc = secret_ctx(&ctx);
	if (rc)
		return rc;
	if (!secp256k1_ec_pubkey_create(ctx, &pk, secret))
		rc = RCPT_ERR_KEY_INVALID;
	secp256k1_context_destroy(ctx);
	if (!rc)
		rc = pubkey_address(out->address, &pk);
	if (rc)
		return rc;
	memcpy(out->secret, secret, RCPT_SECKEY_BYTES);
	return RCPT_OK;
}

static enum rcpt_err fill_random(uint8_t *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(buf + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return RCPT_ERR_RANDOM;
		got += (size_t)n;
	}
	return RCPT_OK;
}

enum rcpt_err rcpt_key_generate(struct rcpt_key *out)
{
	uint8_t secret[RCPT_SECKEY_BYTES];
	enum rcpt_err rc = RCPT_ERR_RANDOM;

	if (!out)
		return RCPT_ERR_ARG;
	/* A uniform 256-bit string is out of range with probability about
	 * 2^-128; retry a bounded number of times all the same. */
	for (int tries = 0; tries < 16; tries++) {
		rc = fill_random(secret, sizeof(secret));
		if (rc)
			break;
		rc = rcpt_key_from_secret(out, secret);
		if (rc != RCPT_ERR_KEY_INVALID)
			break;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

void rcpt_key_wipe(struct rcpt_key *key)
{
	if (key)
		OPENSSL_cleanse(key, sizeof(*key));
}

enum rcpt_err rcpt_key_save(const struct rcpt_key *key, struct rcpt_diag *diag,
			    const char *path)
{
	char text[RCPT_HASH_HEX_BYTES + 1];
	enum rcpt_err rc;
	size_t len, done = 0;
	int fd;

	if (!key || !path)
		return RCPT_ERR_ARG;
	/* O_EXCL: never overwrite (a key lost is money lost); O_NOFOLLOW:
	 * never write through a planted symlink.  fchmod because the mode
	 * given to open is filtered by the umask, which could widen nothing
	 * but could leave the file 0400 or odd; 0600 is the contract. */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		if (errno == EEXIST) {
			rcpt_diagf(diag, "refusing to overwrite '%s'", path);
			return RCPT_ERR_KEY_EXISTS;
		}
		rcpt_diagf(diag, "could not create '%s': %s", path, strerror(errno));
		return RCPT_ERR_IO;
	}
	rc = rcpt_hex_encode(text, sizeof(text), key->secret, RCPT_SECKEY_BYTES);
	RCPT_ASSERT(rc == RCPT_OK);
	len = strlen(text);
	text[len++] = '\n';
	if (fchmod(fd, 0600) != 0) {
		rcpt_diagf(diag, "could not chmod '%s': %s", path, strerror(errno));
		rc = RCPT_ERR_IO;
		goto out;
	}
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rcpt_diagf(diag, "could not write '%s': %s", path, strerror(errno));
			rc = RCPT_ERR_IO;
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		rcpt_diagf(diag, "could not sync '%s': %s", path, strerror(errno));
		rc = RCPT_ERR_IO;
	}
out:
	OPENSSL_cleanse(text, sizeof(text));
	if (close(fd) != 0 && !rc) {
		rcpt_diagf(diag, "could not close '%s': %s", path, strerror(errno));
		rc = RCPT_ERR_IO;
	}
	if (rc)
		unlink(path);
	return rc;
}

enum rcpt_err rcpt_key_load(struct rcpt_key *out, struct rcpt_diag *diag,
			    const char *path)
{
	char text[RCPT_KEY_FILE_BYTES_MAX + 1];
	uint8_t secret[RCPT_SECKEY_BYTES];
	struct stat st;
	size_t len = 0;
	enum rcpt_err rc = RCPT_OK;
	int fd;

	if (!out || !path)
		return RCPT_ERR_ARG;
	/* O_NONBLOCK: a FIFO or a device given as the key must not hang the
	 * open; fstat below refuses anything but a regular file. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		rcpt_diagf(diag, "could not open key file '%s': %s", path,
			   strerror(errno));
		return RCPT_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rcpt_diagf(diag, "key file '%s' is not a regular file", path);
		rc = RCPT_ERR_KEY_FORMAT;
		goto out;
	}
	if (st.st_mode & 077) {
		rcpt_diagf(diag, "key file '%s' has mode %04o: group or others "
			   "can access it; run chmod 600", path,
			   (unsigned)(st.st_mode & 07777));
		rc = RCPT_ERR_KEY_PERMS;
		goto out;
	}
	while (len < RCPT_KEY_FILE_BYTES_MAX) {
		ssize_t n = read(fd, text + len, RCPT_KEY_FILE_BYTES_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rcpt_diagf(diag, "could not read key file '%s': %s", path,
				   strerror(errno));
			rc = RCPT_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	/* Exactly "0x" + 64 hex digits, and an optional final newline. */
	if (len == 67 && text[66] == '\n')
		len = 66;
	text[len] = '\0';
	if (len != 66 || strlen(text) != 66 ||
	    rcpt_hex_decode(secret, sizeof(secret), text) != RCPT_OK) {
		rcpt_diagf(diag, "key file '%s' is not 0x and 64 hex digits", path);
		rc = RCPT_ERR_KEY_FORMAT;
		goto out;
	}
	rc = rcpt_key_from_secret(out, secret);
	if (rc)
		rcpt_diagf(diag, "key in '%s' is not a valid secp256k1 key", path);
out:
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(secret, sizeof(secret));
	close(fd);
	return rc;
}

enum rcpt_err rcpt_sign_digest(uint8_t sig[RCPT_SIG_BYTES],
			       const struct rcpt_key *key,
			       const uint8_t digest[RCPT_HASH_BYTES])
{
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_context *ctx;
	uint8_t check[RCPT_ADDR_BYTES];
	enum rcpt_err rc = RCPT_OK;
	int recid = -1;

	if (!sig || !key || !digest)
		return RCPT_ERR_ARG;
	rc = secret_ctx(&ctx);
	if (rc)
		return rc;
	if (!secp256k1_ecdsa_sign_recoverable(ctx, &rs, digest, key->secret,
					      NULL, NULL) ||
	    !secp256k1_ecdsa_recoverable_signature_serialize_compact(ctx, sig,
								     &recid, &rs)) {
		rc = RCPT_ERR_CRYPTO;
		goto out;
	}
	RCPT_ASSERT(recid == 0 || recid == 1);
	sig[64] = (uint8_t)(27 + recid);
	/* Pair the signature with its check: what we emit must recover to
	 * our own address under the rules we apply to others. */
	rc = rcpt_recover_digest(check, sig, digest);
	RCPT_ASSERT(rc == RCPT_OK);
	RCPT_ASSERT(memcmp(check, key->address, RCPT_ADDR_BYTES) == 0);
out:
	secp256k1_context_destroy(ctx);
	return rc;
}

enum rcpt_err rcpt_recover_digest(uint8_t addr[RCPT_ADDR_BYTES],
				  const uint8_t sig[RCPT_SIG_BYTES],
				  const uint8_t digest[RCPT_HASH_BYTES])
{
	secp256k1_ecdsa_recoverable_signature rs;
	secp256k1_pubkey pk;
	static const uint8_t zero[32];
	int recid;

	if (!addr || !sig || !digest)
		return RCPT_ERR_ARG;
	switch (sig[64]) {
	case 0: case 1: recid = sig[64]; break;
	case 27: case 28: recid = sig[64] - 27; break;
	default: return RCPT_ERR_SIG_V;
	}
	if (memcmp(sig, zero, 32) == 0 || memcmp(sig + 32, zero, 32) == 0)
		return RCPT_ERR_SIG_FORMAT;
	/* parse_compact refuses r >= n and s >= n: not a signature at all. */
	if (!secp256k1_ecdsa_recoverable_signature_parse_compact(
		    secp256k1_context_static, &rs, sig, recid))
		return RCPT_ERR_SIG_FORMAT;
	/* EIP-2: (r, n - s) is as valid as (r, s); only the low one counts,
	 * so that a signature cannot be altered and still accepted. */
	if (memcmp(sig + 32, half_order, 32) > 0)
		return RCPT_ERR_SIG_HIGH_S;
	if (!secp256k1_ecdsa_recover(secp256k1_context_static, &pk, &rs, digest))
		return RCPT_ERR_SIG_RECOVER;
	return pubkey_address(addr, &pk);
}

enum rcpt_err rcpt_eip191_digest(uint8_t out[RCPT_HASH_BYTES], const void *msg,
				 size_t len)
{
	static const char prefix[] = "\x19" "Ethereum Signed Message:\n";
	struct rcpt_keccak k;
	char dec[24];
	int n;

	if (!out || (!msg && len))
		return RCPT_ERR_ARG;
	if (len > RCPT_MESSAGE_BYTES_MAX)
		return RCPT_ERR_TOO_LARGE;
	n = snprintf(dec, sizeof(dec), "%zu", len);
	RCPT_ASSERT(n > 0 && (size_t)n < sizeof(dec));
	rcpt_keccak_init(&k);
	rcpt_keccak_update(&k, prefix, sizeof(prefix) - 1);
	rcpt_keccak_update(&k, dec, (size_t)n);
	rcpt_keccak_update(&k, msg, len);
	rcpt_keccak_final(&k, out);
	return RCPT_OK;
}

enum rcpt_err rcpt_message_sign(uint8_t sig[RCPT_SIG_BYTES],
				const struct rcpt_key *key, const void *msg,
				size_t len)
{
	uint8_t d[RCPT_HASH_BYTES];
	enum rcpt_err rc;

	if (!sig || !key)
		return RCPT_ERR_ARG;
	rc = rcpt_eip191_digest(d, msg, len);
	if (rc)
		return rc;
	return rcpt_sign_digest(sig, key, d);
}

enum rcpt_err rcpt_message_recover(uint8_t addr[RCPT_ADDR_BYTES],
				   const uint8_t sig[RCPT_SIG_BYTES],
				   const void *msg, size_t len)
{
	uint8_t d[RCPT_HASH_BYTES];
	enum rcpt_err rc;

	if (!addr || !sig)
		return RCPT_ERR_ARG;
	rc = rcpt_eip191_digest(d, msg, len);
	if (rc)
		return rc;
	return rcpt_recover_digest(addr, sig, d);
}

enum rcpt_err rcpt_harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) != 0)
		return RCPT_ERR_IO;
#if !defined(__SANITIZE_ADDRESS__)
	/* Not under ASan: LeakSanitizer needs to ptrace its own threads,
	 * which a non-dumpable process forbids.  RLIMIT_CORE still holds. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		return RCPT_ERR_IO;
#endif
	return RCPT_OK;
}
