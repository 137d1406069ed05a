/*
 * merkle.c: commitments of PROTOCOL.md section 1.
 *
 * A commitment is (root, size): root is the RFC 6962 Merkle Tree Hash of
 * the string cut into 64 KiB chunks, with leaf = SHA-256(0x00 || chunk),
 * node = SHA-256(0x01 || left || right), and SHA-256("") for the empty
 * string.
 *
 * The root is built with a stack of perfect subtrees (struct mth_acc):
 * leaves are pushed left to right, equal-sized neighbours merged at
 * once, and the leftover subtrees folded right to left at the end.  That
 * yields exactly RFC 6962's split at the largest power of two smaller
 * than the number of leaves, in O(log n) memory.  Files are hashed in
 * batches whose leaves are spread over worker threads (leaves are
 * independent); only the accumulation is sequential, so the root does
 * not depend on the number of threads.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "internal.h"
#include "banned.h"

/* A stack of perfect subtrees: entry i covers 2^(bit) leaves for each
 * set bit of count, largest first. */
struct mth_acc {
	uint8_t stack[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
	unsigned depth;
	uint64_t count;
};

enum rcpt_err rcpt_sha256(uint8_t out[RCPT_HASH_BYTES], const void *data,
			  size_t len)
{
	unsigned int n = 0;

	if (!out || (!data && len))
		return RCPT_ERR_ARG;
	if (!EVP_Digest(len ? data : "", len, out, &n, EVP_sha256(), NULL) ||
	    n != RCPT_HASH_BYTES)
		return RCPT_ERR_CRYPTO;
	return RCPT_OK;
}

/* SHA-256(prefix || a || b) with a reusable context. */
static enum rcpt_err hash3(EVP_MD_CTX *ctx, uint8_t out[RCPT_HASH_BYTES],
			   uint8_t prefix, const void *a, size_t a_len,
			   const void *b, size_t b_len)
{
	unsigned int n = 0;

	if (!EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(ctx, &prefix, 1) ||
	    (a_len && !EVP_DigestUpdate(ctx, a, a_len)) ||
	    (b_len && !EVP_DigestUpdate(ctx, b, b_len)) ||
	    !EVP_DigestFinal_ex(ctx, out, &n) || n != RCPT_HASH_BYTES)
		return RCPT_ERR_CRYPTO;
	return RCPT_OK;
}

static enum rcpt_err leaf_hash(EVP_MD_CTX *ctx, uint8_t out[RCPT_HASH_BYTES],
			       const void *chunk, size_t len)
{
	RCPT_ASSERT(len > 0 && len <= RCPT_CHUNK_BYTES);
	return hash3(ctx, out, 0x00, chunk, len, NULL, 0);
}

static enum rcpt_err node_hash(EVP_MD_CTX *ctx, uint8_t out[RCPT_HASH_BYTES],
			       const uint8_t l[RCPT_HASH_BYTES],
			       const uint8_t r[RCPT_HASH_BYTES])
{
	return hash3(ctx, out, 0x01, l, RCPT_HASH_BYTES, r, RCPT_HASH_BYTES);
}

static void mth_init(struct mth_acc *acc)
{
	acc->depth = 0;
	acc->count = 0;
}

static enum rcpt_err mth_push(struct mth_acc *acc, EVP_MD_CTX *ctx,
			      const uint8_t leaf[RCPT_HASH_BYTES])
{
	uint8_t cur[RCPT_HASH_BYTES];
	uint64_t c = acc->count;
	enum rcpt_err rc;

	memcpy(cur, leaf, sizeof(cur));
	/* Each trailing 1 bit of count is a perfect subtree of the same size
	 * as the one being carried: merge it. */
	while (c & 1) {
		RCPT_ASSERT(acc->depth > 0);
		rc = node_hash(ctx, cur, acc->stack[--acc->depth], cur);
		if (rc)
			return rc;
		c >>= 1;
	}
	RCPT_ASSERT(acc->depth < RCPT_PROOF_HASHES_MAX);
	memcpy(acc->stack[acc->depth++], cur, sizeof(cur));
	acc->count++;
	RCPT_ASSERT(acc->depth == (unsigned)__builtin_popcountll(acc->count));
	return RCPT_OK;
}

static enum rcpt_err mth_root(struct mth_acc *acc, EVP_MD_CTX *ctx,
			      uint8_t out[RCPT_HASH_BYTES])
{
	uint8_t r[RCPT_HASH_BYTES];
	enum rcpt_err rc;

	if (acc->count == 0)
		return rcpt_sha256(out, NULL, 0);
	memcpy(r, acc->stack[acc->depth - 1], sizeof(r));
	for (unsigned i = acc->depth - 1; i-- > 0;) {
		rc = node_hash(ctx, r, acc->stack[i], r);
		if (rc)
			return rc;
	}
	memcpy(out, r, sizeof(r));
	return RCPT_OK;
}

static uint64_t leaves_for(uint64_t size)
{
	return size / RCPT_CHUNK_BYTES + (size % RCPT_CHUNK_BYTES != 0);
}

static size_t chunk_len(uint64_t size, uint64_t index)
{
	uint64_t off = index * RCPT_CHUNK_BYTES;
	RCPT_ASSERT(off < size);
	return (size_t)(size - off < RCPT_CHUNK_BYTES ? size - off : RCPT_CHUNK_BYTES);
}

/* ------------------------------------------------------------------ */
/* Leaf sources: a buffer or a file descriptor.                         */

struct leaf_src {
	const uint8_t *buf;   /* or NULL for fd */
	int fd;
	uint64_t size;
	uint8_t *scratch;     /* RCPT_CHUNK_BYTES, fd only */
	struct rcpt_diag *diag;
};

static enum rcpt_err read_full(int fd, uint8_t *buf, size_t len, uint64_t off,
			       struct rcpt_diag *diag)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rcpt_diagf(diag, "read failed at offset %llu: %s",
				   (unsigned long long)(off + got), strerror(errno));
			return RCPT_ERR_IO;
		}
		if (n == 0) {
			rcpt_diagf(diag, "file shrank while hashing (offset %llu)",
				   (unsigned long long)(off + got));
			return RCPT_ERR_IO;
		}
		got += (size_t)n;
	}
	return RCPT_OK;
}

static enum rcpt_err src_leaf(struct leaf_src *s, EVP_MD_CTX *ctx,
			      uint64_t index, uint8_t out[RCPT_HASH_BYTES])
{
	size_t len = chunk_len(s->size, index);
	enum rcpt_err rc;

	if (s->buf)
		return leaf_hash(ctx, out, s->buf + index * RCPT_CHUNK_BYTES, len);
	rc = read_full(s->fd, s->scratch, len, index * RCPT_CHUNK_BYTES, s->diag);
	if (rc)
		return rc;
	return leaf_hash(ctx, out, s->scratch, len);
}

/* MTH of leaves [lo, hi), hi > lo. */
static enum rcpt_err src_range_root(struct leaf_src *s, EVP_MD_CTX *ctx,
				    uint64_t lo, uint64_t hi,
				    uint8_t out[RCPT_HASH_BYTES])
{
	struct mth_acc acc;
	uint8_t h[RCPT_HASH_BYTES];
	enum rcpt_err rc;

	RCPT_ASSERT(lo < hi);
	mth_init(&acc);
	for (uint64_t i = lo; i < hi; i++) {
		rc = src_leaf(s, ctx, i, h);
		if (rc)
			return rc;
		rc = mth_push(&acc, ctx, h);
		if (rc)
			return rc;
	}
	return mth_root(&acc, ctx, out);
}

static uint64_t split_point(uint64_t n)
{
	/* Largest power of two strictly smaller than n (n >= 2). */
	RCPT_ASSERT(n >= 2);
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

static enum rcpt_err src_proof(struct leaf_src *s,
			       uint8_t path[][RCPT_HASH_BYTES], size_t *path_len,
			       uint64_t index)
{
	uint8_t sib[RCPT_PROOF_HASHES_MAX][RCPT_HASH_BYTES];
	uint64_t lo = 0, hi = leaves_for(s->size);
	size_t n = 0;
	EVP_MD_CTX *ctx;
	enum rcpt_err rc = RCPT_OK;

	if (index >= hi)
		return RCPT_ERR_ARG;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return RCPT_ERR_NOMEM;
	/* Descend from the root; the audit path lists the siblings bottom
	 * up, so collect them top down and reverse. */
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);
		RCPT_ASSERT(n < RCPT_PROOF_HASHES_MAX);
		if (index < lo + k) {
			rc = src_range_root(s, ctx, lo + k, hi, sib[n]);
			hi = lo + k;
		} else {
			rc = src_range_root(s, ctx, lo, lo + k, sib[n]);
			lo = lo + k;
		}
		if (rc)
			goto out;
		n++;
	}
	RCPT_ASSERT(lo == index);
	for (size_t i = 0; i < n; i++)
		memcpy(path[i], sib[n - 1 - i], RCPT_HASH_BYTES);
	*path_len = n;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Public: buffers                                                      */

enum rcpt_err rcpt_commit_buf(struct rcpt_commitment *out, const void *data,
			      size_t len)
{
	struct leaf_src s = { .buf = data, .fd = -1, .size = len };
	enum rcpt_err rc;
	EVP_MD_CTX *ctx;

	if (!out || (!data && len))
		return RCPT_ERR_ARG;
	if ((uint64_t)len > RCPT_COMMIT_FILE_BYTES_MAX)
		return RCPT_ERR_TOO_LARGE;
	out->size = len;
	if (len == 0)
		return rcpt_sha256(out->root, NULL, 0);
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return RCPT_ERR_NOMEM;
	rc = src_range_root(&s, ctx, 0, leaves_for(len), out->root);
	EVP_MD_CTX_free(ctx);
	return rc;
}

enum rcpt_err rcpt_proof_buf(uint8_t path[][RCPT_HASH_BYTES], size_t *path_len,
			     const void *data, size_t len, uint64_t index)
{
	struct leaf_src s = { .buf = data, .fd = -1, .size = len };

	if (!path || !path_len || (!data && len))
		return RCPT_ERR_ARG;
	return src_proof(&s, path, path_len, index);
}

/* ------------------------------------------------------------------ */
/* Public: files                                                        */

struct commit_job {
	int fd;
	uint64_t size;
	uint64_t first;        /* first leaf of the batch */
	uint64_t count;        /* leaves in the batch */
	unsigned stride;       /* number of workers */
	unsigned worker;       /* this worker's index */
	uint8_t (*hashes)[RCPT_HASH_BYTES];
	enum rcpt_err rc;
	struct rcpt_diag diag;
	uint8_t *buf;          /* RCPT_CHUNK_BYTES, owned by the worker slot */
	EVP_MD_CTX *ctx;
};

static void *commit_worker(void *arg)
{
	struct commit_job *j = arg;
	struct leaf_src s = { .buf = NULL, .fd = j->fd, .size = j->size,
			      .scratch = j->buf, .diag = &j->diag };

	/* Worker w hashes leaves w, w + stride, ...: equal work per leaf. */
	for (uint64_t i = j->worker; i < j->count && j->rc == RCPT_OK; i += j->stride)
		j->rc = src_leaf(&s, j->ctx, j->first + i, j->hashes[i]);
	return NULL;
}

static unsigned pick_threads(unsigned threads)
{
	if (threads == 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		threads = n > 0 ? (unsigned)n : 1;
	}
	if (threads > RCPT_COMMIT_THREADS_MAX)
		threads = RCPT_COMMIT_THREADS_MAX;
	return threads;
}

/* Streams a non-seekable descriptor (a pipe) chunk by chunk. */
static enum rcpt_err commit_stream(struct rcpt_commitment *out,
				   struct rcpt_diag *diag, int fd)
{
	struct mth_acc acc;
	uint8_t *buf = NULL, h[RCPT_HASH_BYTES];
	EVP_MD_CTX *ctx = NULL;
	uint64_t size = 0;
	enum rcpt_err rc = RCPT_OK;

	mth_init(&acc);
	buf = malloc(RCPT_CHUNK_BYTES);
	ctx = EVP_MD_CTX_new();
	if (!buf || !ctx) {
		rc = RCPT_ERR_NOMEM;
		goto out;
	}
	for (;;) {
		size_t got = 0;
		while (got < RCPT_CHUNK_BYTES) {
			ssize_t n = read(fd, buf + got, RCPT_CHUNK_BYTES - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rcpt_diagf(diag, "read failed: %s", strerror(errno));
				rc = RCPT_ERR_IO;
				goto out;
			}
			if (n == 0)
				break;
			got += (size_t)n;
		}
		if (got == 0)
			break;
		if (size + got > RCPT_COMMIT_FILE_BYTES_MAX) {
			rcpt_diagf(diag, "input larger than %llu bytes",
				   (unsigned long long)RCPT_COMMIT_FILE_BYTES_MAX);
			rc = RCPT_ERR_TOO_LARGE;
			goto out;
		}
		size += got;
		rc = leaf_hash(ctx, h, buf, got);
		if (!rc)
			rc = mth_push(&acc, ctx, h);
		if (rc)
			goto out;
		if (got < RCPT_CHUNK_BYTES)
			break;
	}
	rc = mth_root(&acc, ctx, out->root);
	out->size = size;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

enum rcpt_err rcpt_commit_fd(struct rcpt_commitment *out,
			     struct rcpt_diag *diag, int fd, unsigned threads)
{
	struct commit_job jobs[RCPT_COMMIT_THREADS_MAX];
	pthread_t tids[RCPT_COMMIT_THREADS_MAX];
	uint8_t (*hashes)[RCPT_HASH_BYTES] = NULL;
	struct mth_acc acc;
	struct stat st;
	uint64_t size, leaves;
	unsigned nthreads, started = 0;
	EVP_MD_CTX *ctx = NULL;
	enum rcpt_err rc = RCPT_OK;

	if (!out || fd < 0)
		return RCPT_ERR_ARG;
	if (fstat(fd, &st) != 0) {
		rcpt_diagf(diag, "stat failed: %s", strerror(errno));
		return RCPT_ERR_IO;
	}
	if (!S_ISREG(st.st_mode))
		return commit_stream(out, diag, fd);
	size = (uint64_t)st.st_size;
	if (size > RCPT_COMMIT_FILE_BYTES_MAX) {
		rcpt_diagf(diag, "file larger than %llu bytes",
			   (unsigned long long)RCPT_COMMIT_FILE_BYTES_MAX);
		return RCPT_ERR_TOO_LARGE;
	}
	leaves = leaves_for(size);
	nthreads = pick_threads(threads);
	if (leaves < nthreads)
		nthreads = leaves ? (unsigned)leaves : 1;

	memset(jobs, 0, sizeof(jobs));
	mth_init(&acc);
	hashes = calloc(RCPT_COMMIT_BATCH_LEAVES, RCPT_HASH_BYTES);
	ctx = EVP_MD_CTX_new();
	if (!hashes || !ctx) {
		rc = RCPT_ERR_NOMEM;
		goto out;
	}
	for (unsigned w = 0; w < nthreads; w++) {
		jobs[w].buf = malloc(RCPT_CHUNK_BYTES);
		jobs[w].ctx = EVP_MD_CTX_new();
		if (!jobs[w].buf || !jobs[w].ctx) {
			rc = RCPT_ERR_NOMEM;
			goto out;
		}
	}

	for (uint64_t first = 0; first < leaves; first += RCPT_COMMIT_BATCH_LEAVES) {
		uint64_t count = leaves - first;
		if (count > RCPT_COMMIT_BATCH_LEAVES)
			count = RCPT_COMMIT_BATCH_LEAVES;
		for (unsigned w = 0; w < nthreads; w++) {
			jobs[w].fd = fd;
			jobs[w].size = size;
			jobs[w].first = first;
			jobs[w].count = count;
			jobs[w].stride = nthreads;
			jobs[w].worker = w;
			jobs[w].hashes = hashes;
			jobs[w].rc = RCPT_OK;
		}
		/* Worker 0 runs on this thread; the others on their own. */
		started = 0;
		for (unsigned w = 1; w < nthreads; w++) {
			if (pthread_create(&tids[w], NULL, commit_worker, &jobs[w]) != 0) {
				jobs[w].rc = RCPT_ERR_NOMEM;
				break;
			}
			started = w;
		}
		commit_worker(&jobs[0]);
		for (unsigned w = 1; w <= started; w++)
			pthread_join(tids[w], NULL);
		for (unsigned w = 0; w < nthreads; w++) {
			if (jobs[w].rc) {
				rc = jobs[w].rc;
				if (diag)
					*diag = jobs[w].diag;
				goto out;
			}
		}
		for (uint64_t i = 0; i < count; i++) {
			rc = mth_push(&acc, ctx, hashes[i]);
			if (rc)
				goto out;
		}
	}
	/* A file that grew while being hashed has no single commitment. */
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != size) {
		rcpt_diagf(diag, "file changed size while hashing");
		rc = RCPT_ERR_IO;
		goto out;
	}
	RCPT_ASSERT(acc.count == leaves);
	rc = mth_root(&acc, ctx, out->root);
	out->size = size;
out:
	for (unsigned w = 0; w < RCPT_COMMIT_THREADS_MAX; w++) {
		free(jobs[w].buf);
		EVP_MD_CTX_free(jobs[w].ctx);
	}
	free(hashes);
	EVP_MD_CTX_free(ctx);
	return rc;
}

enum rcpt_err rcpt_commit_file(struct rcpt_commitment *out,
			       struct rcpt_diag *diag, const char *path,
			       unsigned threads)
{
	enum rcpt_err rc;
	int fd;

	if (!out || !path)
		return RCPT_ERR_ARG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rcpt_diagf(diag, "could not open '%s': %s", path, strerror(errno));
		return RCPT_ERR_IO;
	}
	rc = rcpt_commit_fd(out, diag, fd, threads);
	if (rc && diag) {
		struct rcpt_diag inner = *diag;
		rcpt_diagf(diag, "could not hash '%s': %s", path,
			   inner.msg[0] ? inner.msg : rcpt_strerror(rc));
	}
	close(fd);
	return rc;
}

enum rcpt_err rcpt_proof_fd(uint8_t path[][RCPT_HASH_BYTES], size_t *path_len,
			    struct rcpt_diag *diag, int fd, uint64_t index)
{
	struct leaf_src s = { .buf = NULL, .fd = fd, .diag = diag };
	struct stat st;
	enum rcpt_err rc;

	if (!path || !path_len || fd < 0)
		return RCPT_ERR_ARG;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rcpt_diagf(diag, "proofs need a regular file");
		return RCPT_ERR_IO;
	}
	s.size = (uint64_t)st.st_size;
	s.scratch = malloc(RCPT_CHUNK_BYTES);
	if (!s.scratch)
		return RCPT_ERR_NOMEM;
	rc = src_proof(&s, path, path_len, index);
	free(s.scratch);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Proof verification (RFC 9162 section 2.1.3.2)                       */

enum rcpt_err rcpt_proof_verify(const struct rcpt_commitment *c, uint64_t index,
				const void *chunk, size_t chunk_length,
				const uint8_t path[][RCPT_HASH_BYTES],
				size_t path_len)
{
	uint8_t r[RCPT_HASH_BYTES];
	uint64_t fn, sn, leaves;
	EVP_MD_CTX *ctx;
	enum rcpt_err rc = RCPT_OK;

	if (!c || !chunk || (!path && path_len))
		return RCPT_ERR_ARG;
	if (c->size > RCPT_COMMIT_FILE_BYTES_MAX)
		return RCPT_ERR_PROOF;
	leaves = leaves_for(c->size);
	if (index >= leaves || path_len > RCPT_PROOF_HASHES_MAX ||
	    chunk_length != chunk_len(c->size, index))
		return RCPT_ERR_PROOF;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return RCPT_ERR_NOMEM;
	rc = leaf_hash(ctx, r, chunk, chunk_length);
	if (rc)
		goto out;
	fn = index;
	sn = leaves - 1;
	for (size_t i = 0; i < path_len; i++) {
		if (sn == 0) {
			rc = RCPT_ERR_PROOF;
			goto out;
		}
		if ((fn & 1) || fn == sn) {
			rc = node_hash(ctx, r, path[i], r);
			if ((fn & 1) == 0)
				while ((fn & 1) == 0 && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			rc = node_hash(ctx, r, r, path[i]);
		}
		if (rc)
			goto out;
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || CRYPTO_memcmp(r, c->root, RCPT_HASH_BYTES) != 0)
		rc = RCPT_ERR_PROOF;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}
