/*
 * sample.c: the sampling rule and the seed it depends on.
 *
 * A validator with seed s samples receipt R iff
 *   be64(keccak256(s || R)[0..8]) < floor(sampleBps * 2^64 / 10^4).
 * Invariants: the decision is a pure function of (s, R, sampleBps); the
 * seed never leaves this process before its reveal; the seed file is
 * private (0600) and never overwritten.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "validator.h"

#include "banned.h"

void valid_sample_threshold(struct valid_threshold *out, unsigned sample_bps)
{
	unsigned __int128 t;

	assert(out);
	assert(sample_bps <= 10000u);
	if (sample_bps > 10000u)
		sample_bps = 10000u;
	/* floor(bps * 2^64 / 10^4), exact in 128 bits (bps < 2^14). */
	t = ((unsigned __int128)sample_bps << 64) / 10000u;
	out->hi = (uint64_t)(t >> 64);
	out->lo = (uint64_t)t;
	assert(out->hi <= 1 && (out->hi == 0 || out->lo == 0));
}

uint64_t valid_sample_draw(const uint8_t seed[VALID_SEED_BYTES],
			   const uint8_t receipt_id[RCPT_HASH_BYTES])
{
	struct rcpt_keccak k;
	uint8_t h[RCPT_HASH_BYTES];
	uint64_t v = 0;
	int i;

	assert(seed && receipt_id);
	rcpt_keccak_init(&k);
	rcpt_keccak_update(&k, seed, VALID_SEED_BYTES);
	rcpt_keccak_update(&k, receipt_id, RCPT_HASH_BYTES);
	rcpt_keccak_final(&k, h);
	OPENSSL_cleanse(&k, sizeof(k));
	for (i = 0; i < 8; i++)
		v = (v << 8) | h[i];
	return v;
}

int valid_sample_decide(const uint8_t seed[VALID_SEED_BYTES],
			const uint8_t receipt_id[RCPT_HASH_BYTES],
			unsigned sample_bps)
{
	struct valid_threshold t;
	uint64_t d;

	assert(seed && receipt_id);
	valid_sample_threshold(&t, sample_bps);
	if (t.hi)
		return 1;               /* 2^64: every draw is below it */
	d = valid_sample_draw(seed, receipt_id);
	return d < t.lo;
}

void valid_seed_commitment(uint8_t out[RCPT_HASH_BYTES],
			   const uint8_t seed[VALID_SEED_BYTES])
{
	assert(out && seed);
	rcpt_keccak256(out, seed, VALID_SEED_BYTES);
}

enum valid_err valid_sample_audit(int *sampled,
				  const uint8_t seed[VALID_SEED_BYTES],
				  const uint8_t commitment[RCPT_HASH_BYTES],
				  const uint8_t receipt_id[RCPT_HASH_BYTES],
				  unsigned sample_bps)
{
	uint8_t c[RCPT_HASH_BYTES];

	if (!sampled || !seed || !commitment || !receipt_id || sample_bps > 10000u)
		return VALID_ERR_ARG;
	*sampled = 0;
	valid_seed_commitment(c, seed);
	if (CRYPTO_memcmp(c, commitment, RCPT_HASH_BYTES) != 0)
		return VALID_ERR_COMMITMENT;
	*sampled = valid_sample_decide(seed, receipt_id, sample_bps);
	return VALID_OK;
}

/* ---------------------------------------------------------------- the seed file */

#define SEED_FILE_BYTES (2 + 2 * VALID_SEED_BYTES + 1)

static void diag_set(struct rcpt_diag *d, const char *what, const char *path)
{
	if (d)
		snprintf(d->msg, sizeof(d->msg), "%s '%.180s'", what, path);
}

static enum valid_err seed_read(uint8_t seed[VALID_SEED_BYTES], struct rcpt_diag *diag,
				const char *path)
{
	char buf[SEED_FILE_BYTES + 1];
	struct stat st;
	ssize_t got;
	enum valid_err rc = VALID_OK;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	if (fd < 0) {
		diag_set(diag, "could not open seed", path);
		return VALID_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		diag_set(diag, "seed file is not a private regular file", path);
		rc = VALID_ERR_STATE;
		goto out;
	}
	got = read(fd, buf, sizeof(buf));
	if (got != SEED_FILE_BYTES || buf[SEED_FILE_BYTES - 1] != '\n') {
		diag_set(diag, "malformed seed file", path);
		rc = VALID_ERR_STATE;
		goto out;
	}
	buf[SEED_FILE_BYTES - 1] = '\0';
	if (rcpt_hex_decode(seed, VALID_SEED_BYTES, buf) != RCPT_OK) {
		diag_set(diag, "malformed seed file", path);
		rc = VALID_ERR_STATE;
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

static enum valid_err fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ok;

	if (fd < 0)
		return VALID_ERR_IO;
	ok = fsync(fd) == 0;
	close(fd);
	return ok ? VALID_OK : VALID_ERR_IO;
}

static enum valid_err seed_create(uint8_t seed[VALID_SEED_BYTES], struct rcpt_diag *diag,
				  const char *dir, const char *path)
{
	char buf[SEED_FILE_BYTES + 1];
	enum valid_err rc = VALID_OK;
	int fd;

	if (getrandom(seed, VALID_SEED_BYTES, 0) != VALID_SEED_BYTES)
		return VALID_ERR_RANDOM;
	if (rcpt_hex_encode(buf, sizeof(buf), seed, VALID_SEED_BYTES) != RCPT_OK)
		return VALID_ERR_CRYPTO;
	buf[SEED_FILE_BYTES - 1] = '\n';
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		diag_set(diag, "could not create seed", path);
		rc = VALID_ERR_IO;
		goto out;
	}
	if (write(fd, buf, SEED_FILE_BYTES) != SEED_FILE_BYTES || fsync(fd) != 0) {
		diag_set(diag, "could not write seed", path);
		rc = VALID_ERR_IO;
		unlink(path);
	}
	close(fd);
	if (!rc && fsync_dir(dir) != VALID_OK) {
		diag_set(diag, "could not sync", dir);
		rc = VALID_ERR_IO;
	}
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

enum valid_err valid_seed_load_or_create(uint8_t seed[VALID_SEED_BYTES], int *created,
					 struct rcpt_diag *diag, const char *dir)
{
	char path[VALID_PATH_BYTES];
	enum valid_err rc;
	int n;

	if (!seed || !created || !dir)
		return VALID_ERR_ARG;
	*created = 0;
	n = snprintf(path, sizeof(path), "%s/seed", dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return VALID_ERR_ARG;
	if (access(path, F_OK) == 0)
		return seed_read(seed, diag, path);
	if (errno != ENOENT) {
		diag_set(diag, "could not look for seed", path);
		return VALID_ERR_IO;
	}
	rc = seed_create(seed, diag, dir, path);
	if (rc == VALID_OK)
		*created = 1;
	else
		OPENSSL_cleanse(seed, VALID_SEED_BYTES);
	return rc;
}

enum valid_err valid_seed_retire(const char *dir)
{
	char from[VALID_PATH_BYTES], to[VALID_PATH_BYTES];
	unsigned i;
	int n;

	if (!dir)
		return VALID_ERR_ARG;
	n = snprintf(from, sizeof(from), "%s/seed", dir);
	if (n < 0 || (size_t)n >= sizeof(from))
		return VALID_ERR_ARG;
	/* Bounded: a state directory with a million retired seeds is a
	 * broken one. */
	for (i = 1; i < 1000000u; i++) {
		n = snprintf(to, sizeof(to), "%s/seed.revealed.%u", dir, i);
		if (n < 0 || (size_t)n >= sizeof(to))
			return VALID_ERR_ARG;
		/* link + unlink: never over an older retired seed. */
		if (link(from, to) == 0) {
			if (unlink(from) != 0)
				return VALID_ERR_IO;
			return fsync_dir(dir);
		}
		if (errno != EEXIST)
			return VALID_ERR_IO;
	}
	return VALID_ERR_IO;
}
