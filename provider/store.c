/*
 * store.c: a job's files, encrypted at rest (provider.h).
 *
 * DATA/data.key   32 random bytes as hex, mode 0600: wraps every job key.
 * DATA/jobs/ID/   meta.json (no secret but the wrapped job key),
 *                 input.enc, output.enc: nonce(12) || AES-256-GCM
 *                 ciphertext || tag(16), with the job id and the file's
 *                 name as associated data, so a file moved to another job
 *                 or renamed does not decrypt.
 * DATA/auth/      sessions, apikeys (provider/auth.c): one line of JSON
 *                 and a line "hmac-sha256:" + 64 hex, HMAC-SHA256 under a
 *                 key derived from the data key over the file's name and
 *                 the JSON, so that an edited file is refused at start;
 *                 0600 in a 0700 directory, written atomically (temp,
 *                 fsync, rename, fsync of the directory).
 * A job key is random (getrandom), used for two files, and forgotten at
 * deletion: the meta is rewritten without it, so what remains on disk
 * (or in a backup) of the .enc files cannot be read even with the data
 * key.  What this does not protect: a host whose data key is read while
 * the job is live (docs/provider.md says where to keep the data key).
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "assay_assert.h"
#include "provider.h"

#include "banned.h"

#define DATA_KEY_FILE "data.key"
#define META_FILE "meta.json"
#define AAD_PREFIX "assay-provider/1 "
#define AUTH_DIR "auth"
#define AUTH_MAC_LABEL "assay-provider/1 auth-store"
#define AUTH_MAC_PREFIX "hmac-sha256:"

static void why_set(char *why, size_t why_len, const char *msg, const char *arg)
{
	if (why && why_len)
		snprintf(why, why_len, "%s%s%s", msg, arg ? ": " : "", arg ? arg : "");
}

static int fill_random(uint8_t *out, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = getrandom(out + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

/* AES-256-GCM: out = nonce || ct || tag (len + 28 bytes). */
static int gcm_seal(uint8_t *out, const uint8_t key[PROV_JOB_KEY_BYTES],
		    const char *aad, const uint8_t *pt, size_t len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok = 0;

	if (!c || len > (size_t)INT32_MAX || fill_random(out, PROV_GCM_NONCE_BYTES))
		goto out;
	ok = EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, PROV_GCM_NONCE_BYTES, NULL) == 1 &&
	     EVP_EncryptInit_ex(c, NULL, NULL, key, out) == 1 &&
	     EVP_EncryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
	     EVP_EncryptUpdate(c, out + PROV_GCM_NONCE_BYTES, &n, pt, (int)len) == 1 &&
	     (size_t)n == len &&
	     EVP_EncryptFinal_ex(c, out + PROV_GCM_NONCE_BYTES + len, &n) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, PROV_GCM_TAG_BYTES,
				 out + PROV_GCM_NONCE_BYTES + len) == 1;
out:
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

/* The inverse; pt receives in_len - 28 bytes.  -1 when tampered. */
static int gcm_open(uint8_t *pt, const uint8_t key[PROV_JOB_KEY_BYTES], const char *aad,
		    const uint8_t *in, size_t in_len)
{
	EVP_CIPHER_CTX *c;
	size_t len;
	int n, ok = 0;

	if (in_len < PROV_GCM_NONCE_BYTES + PROV_GCM_TAG_BYTES ||
	    in_len - PROV_GCM_NONCE_BYTES - PROV_GCM_TAG_BYTES > (size_t)INT32_MAX)
		return -1;
	len = in_len - PROV_GCM_NONCE_BYTES - PROV_GCM_TAG_BYTES;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return -1;
	ok = EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, PROV_GCM_NONCE_BYTES, NULL) == 1 &&
	     EVP_DecryptInit_ex(c, NULL, NULL, key, in) == 1 &&
	     EVP_DecryptUpdate(c, NULL, &n, (const uint8_t *)aad, (int)strlen(aad)) == 1 &&
	     EVP_DecryptUpdate(c, pt, &n, in + PROV_GCM_NONCE_BYTES, (int)len) == 1 &&
	     (size_t)n == len &&
	     EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, PROV_GCM_TAG_BYTES,
				 (void *)(in + PROV_GCM_NONCE_BYTES + len)) == 1 &&
	     EVP_DecryptFinal_ex(c, pt + len, &n) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		OPENSSL_cleanse(pt, len);
	return ok ? 0 : -1;
}

static void id_hex(char out[2 * RCPT_HASH_BYTES + 1], const uint8_t id[RCPT_HASH_BYTES])
{
	char tmp[RCPT_HASH_HEX_BYTES];

	if (rcpt_hex_encode(tmp, sizeof(tmp), id, RCPT_HASH_BYTES) != RCPT_OK)
		tmp[2] = '\0';
	snprintf(out, 2 * RCPT_HASH_BYTES + 1, "%s", tmp + 2);
}

static int job_path(char *out, size_t len, const struct prov *p, const uint8_t id[RCPT_HASH_BYTES],
		    const char *file)
{
	char h[2 * RCPT_HASH_BYTES + 1];

	id_hex(h, id);
	return (size_t)snprintf(out, len, "%s/%s%s%s", p->jobs_dir, h, file ? "/" : "",
				file ? file : "") < len ? 0 : -1;
}

static void aad_for(char out[160], const uint8_t id[RCPT_HASH_BYTES], const char *what)
{
	char h[2 * RCPT_HASH_BYTES + 1];

	id_hex(h, id);
	snprintf(out, 160, AAD_PREFIX "%s %s", h, what);
}

/* Writes len bytes to path through path.tmp, fsync and rename. */
static int write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PROV_PATH_BYTES + 8];
	const uint8_t *b = data;
	size_t off = 0;
	int fd, rc = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, b + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		off += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	rc = 0;
out:
	if (close(fd) != 0)
		rc = -1;
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -1;
	if (rc)
		unlink(tmp);
	return rc;
}

/* Reads a whole regular file of at most max bytes. */
static int read_all(const char *path, uint8_t **out, size_t *out_len, size_t max)
{
	struct stat st;
	uint8_t *buf;
	size_t off = 0;
	int fd;

	*out = NULL;
	*out_len = 0;
	/* O_NONBLOCK: a FIFO planted here must not hang the open. */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	if (off != (size_t)st.st_size) {
		free(buf);
		return -1;
	}
	buf[off] = '\0';
	*out = buf;
	*out_len = off;
	return 0;
}

static int mkdir_private(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -1;
	return (st.st_mode & 077) ? chmod(path, 0700) : 0;
}

/* The auth store's MAC key: HMAC-SHA256(data key, AUTH_MAC_LABEL). */
static int auth_mac_key(struct prov *p)
{
	unsigned int n = 0;

	return HMAC(EVP_sha256(), p->data_key, PROV_JOB_KEY_BYTES,
		    (const unsigned char *)AUTH_MAC_LABEL, sizeof(AUTH_MAC_LABEL) - 1,
		    p->auth_mac_key, &n) && n == sizeof(p->auth_mac_key) ? 0 : -1;
}

/* HMAC-SHA256 of payload under HMAC-SHA256(auth key, NAME), as hex:
 * the file's name is bound in, so one file cannot stand for another. */
static int auth_mac(char out[65], const struct prov *p, const char *name,
		    const char *payload, size_t len)
{
	uint8_t k[32], m[32];
	unsigned int kn = 0, mn = 0;
	int ok;

	ok = HMAC(EVP_sha256(), p->auth_mac_key, sizeof(p->auth_mac_key),
		  (const unsigned char *)name, strlen(name), k, &kn) && kn == sizeof(k) &&
	     HMAC(EVP_sha256(), k, sizeof(k), (const unsigned char *)payload, len, m, &mn) &&
	     mn == sizeof(m);
	for (size_t i = 0; ok && i < sizeof(m); i++)
		snprintf(out + 2 * i, 3, "%02x", m[i]);
	OPENSSL_cleanse(k, sizeof(k));
	return ok ? 0 : -1;
}

int prov_auth_file_write(struct prov *p, const char *name, const char *payload)
{
	char path[PROV_PATH_BYTES], mac[65];
	size_t len = strlen(payload);
	char *text;
	int dfd, rc = -1;

	ASSAY_ASSERT(p && name && payload && !strchr(payload, '\n'));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", p->auth_dir, name) >= sizeof(path) ||
	    auth_mac(mac, p, name, payload, len))
		return -1;
	text = malloc(len + sizeof(AUTH_MAC_PREFIX) + 66);
	if (!text)
		return -1;
	memcpy(text, payload, len);
	snprintf(text + len, sizeof(AUTH_MAC_PREFIX) + 66, "\n" AUTH_MAC_PREFIX "%s\n", mac);
	if (write_atomic(path, text, strlen(text)) == 0) {
		/* The rename is durable once the directory is. */
		dfd = open(p->auth_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
		if (dfd >= 0)
			close(dfd);
	}
	free(text);
	return rc;
}

int prov_auth_file_read(struct prov *p, char **payload, const char *name, size_t max,
			char *why, size_t why_len)
{
	char path[PROV_PATH_BYTES], mac[65];
	uint8_t *text = NULL;
	size_t len = 0, body;
	struct stat st;
	const char *tail;
	int rc = -1;

	*payload = NULL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", p->auth_dir, name) >= sizeof(path)) {
		why_set(why, why_len, "auth store path too long", NULL);
		return -1;
	}
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;   /* first start */
		why_set(why, why_len, "cannot read the auth store", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid()) {
		why_set(why, why_len, "auth store must be a regular file of ours that group and "
			"others cannot read (mode 0600)", path);
		return -1;
	}
	if (read_all(path, &text, &len, max)) {
		why_set(why, why_len, "auth store unreadable or too large", path);
		return -1;
	}
	tail = memchr(text, '\n', len);
	body = tail ? (size_t)(tail - (const char *)text) : 0;
	if (!tail || len != body + 1 + strlen(AUTH_MAC_PREFIX) + 64 + 1 ||
	    memcmp(tail + 1, AUTH_MAC_PREFIX, strlen(AUTH_MAC_PREFIX)) != 0 ||
	    text[len - 1] != '\n' || memchr(text, '\0', len) ||
	    auth_mac(mac, p, name, (const char *)text, body) ||
	    CRYPTO_memcmp(mac, tail + 1 + strlen(AUTH_MAC_PREFIX), 64) != 0) {
		why_set(why, why_len, "auth store fails its integrity check (edited, truncated, or "
			"written under another data key)", path);
		goto out;
	}
	text[body] = '\0';
	*payload = (char *)text;
	text = NULL;
	rc = 0;
out:
	free(text);
	return rc;
}

int prov_store_open(struct prov *p, char *why, size_t why_len)
{
	char path[PROV_PATH_BYTES], hex[2 * PROV_JOB_KEY_BYTES + 4];
	uint8_t *text = NULL;
	size_t len;
	struct stat st;
	int fd;

	if (mkdir_private(p->cfg.data_dir)) {
		why_set(why, why_len, "cannot use the data directory (must be ours, 0700)",
			p->cfg.data_dir);
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/" DATA_KEY_FILE, p->cfg.data_dir) >= sizeof(path) ||
	    (size_t)snprintf(p->jobs_dir, sizeof(p->jobs_dir), "%s/jobs", p->cfg.data_dir) >= sizeof(p->jobs_dir) ||
	    (size_t)snprintf(p->scratch_dir, sizeof(p->scratch_dir), "%s/scratch", p->cfg.data_dir) >= sizeof(p->scratch_dir)) {
		why_set(why, why_len, "data directory path too long", NULL);
		return -1;
	}
	if ((size_t)snprintf(p->auth_dir, sizeof(p->auth_dir), "%s/" AUTH_DIR, p->cfg.data_dir) >=
	    sizeof(p->auth_dir)) {
		why_set(why, why_len, "data directory path too long", NULL);
		return -1;
	}
	if (mkdir_private(p->jobs_dir) || mkdir_private(p->scratch_dir) ||
	    mkdir_private(p->auth_dir)) {
		why_set(why, why_len, "cannot create jobs/, scratch/ and auth/ in the data directory "
			"(each must be ours, 0700)", NULL);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		/* First start: a fresh data key. */
		uint8_t k[PROV_JOB_KEY_BYTES];
		int bad = fill_random(k, sizeof(k)) ||
			  rcpt_hex_encode(hex, sizeof(hex), k, sizeof(k)) != RCPT_OK;
		OPENSSL_cleanse(k, sizeof(k));
		if (!bad) {
			size_t n = strlen(hex);
			hex[n] = '\n';
			bad = write(fd, hex, n + 1) != (ssize_t)(n + 1) || fsync(fd) != 0;
		}
		OPENSSL_cleanse(hex, sizeof(hex));
		if (close(fd) != 0 || bad) {
			unlink(path);
			why_set(why, why_len, "could not create the data key", path);
			return -1;
		}
	} else if (errno != EEXIST) {
		why_set(why, why_len, "could not create the data key", path);
		return -1;
	}
	if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) ||
	    st.st_uid != geteuid()) {
		why_set(why, why_len, "data key must be a regular file of ours, mode 0600", path);
		return -1;
	}
	if (read_all(path, &text, &len, 2 + 2 * PROV_JOB_KEY_BYTES + 1) ||
	    len < 2 + 2 * PROV_JOB_KEY_BYTES ||
	    (len == 2 + 2 * PROV_JOB_KEY_BYTES + 1 && text[len - 1] != '\n') ||
	    text[0] != '0' || text[1] != 'x' ||
	    rcpt_hex_digits_decode(p->data_key, PROV_JOB_KEY_BYTES, (const char *)text + 2,
				   2 * PROV_JOB_KEY_BYTES) != RCPT_OK) {
		if (text)
			OPENSSL_cleanse(text, len);
		free(text);
		why_set(why, why_len, "data key is not 0x + 64 hex digits", path);
		return -1;
	}
	OPENSSL_cleanse(text, len);
	free(text);
	if (auth_mac_key(p)) {
		why_set(why, why_len, "could not derive the auth store key", NULL);
		return -1;
	}
	return 0;
}

static json_t *meta_json(const struct prov *p, const struct prov_job *j)
{
	char *jt = NULL, *rt = NULL, sig[RCPT_SIG_HEX_BYTES];
	json_t *m = NULL, *v;

	if (rcpt_job_to_json(&jt, &j->spec) != RCPT_OK ||
	    rcpt_hex_encode(sig, sizeof(sig), j->job_sig, RCPT_SIG_BYTES) != RCPT_OK)
		goto out;
	m = json_pack("{s:i, s:o, s:s, s:s, s:I, s:b, s:b, s:I, s:I}",
		      "v", 1, "job", json_loads(jt, 0, NULL), "jobSignature", sig,
		      "status", prov_status_name(j->status), "createdAt", (json_int_t)j->created_s,
		      "escrowSynced", j->escrow_synced, "corrupted", j->corrupted,
		      "doneAt", (json_int_t)j->done_s, "queuedMs", (json_int_t)j->queued_ms);
	if (!m)
		goto out;
	if (j->error[0])
		json_object_set_new(m, "error", json_string(j->error));
	json_object_set_new(m, "eventsDue", json_integer(j->events_due));
	json_object_set_new(m, "eventsSent", json_integer(j->events_sent));
	if (j->has_key) {
		uint8_t w[PROV_GCM_NONCE_BYTES + PROV_JOB_KEY_BYTES + PROV_GCM_TAG_BYTES];
		char wh[2 * sizeof(w) + 3], aad[160];
		aad_for(aad, j->id, "key");
		if (gcm_seal(w, p->data_key, aad, j->key, PROV_JOB_KEY_BYTES) ||
		    rcpt_hex_encode(wh, sizeof(wh), w, sizeof(w)) != RCPT_OK) {
			json_decref(m);
			m = NULL;
			goto out;
		}
		json_object_set_new(m, "wrappedKey", json_string(wh));
	}
	if (j->has_receipt) {
		if (rcpt_receipt_to_json(&rt, &j->receipt) != RCPT_OK ||
		    rcpt_hex_encode(sig, sizeof(sig), j->receipt_sig, RCPT_SIG_BYTES) != RCPT_OK ||
		    !(v = json_loads(rt, 0, NULL))) {
			json_decref(m);
			m = NULL;
			goto out;
		}
		json_object_set_new(m, "receipt", v);
		json_object_set_new(m, "receiptSignature", json_string(sig));
	}
out:
	free(jt);
	free(rt);
	return m;
}

int prov_store_save(struct prov *p, const struct prov_job *j)
{
	char dir[PROV_PATH_BYTES], path[PROV_PATH_BYTES];
	json_t *m;
	char *text;
	int rc;

	if (job_path(dir, sizeof(dir), p, j->id, NULL) ||
	    job_path(path, sizeof(path), p, j->id, META_FILE) || mkdir_private(dir))
		return -1;
	m = meta_json(p, j);
	text = m ? json_dumps(m, JSON_COMPACT) : NULL;
	json_decref(m);
	if (!text)
		return -1;
	rc = strlen(text) <= PROV_META_BYTES_MAX ? write_atomic(path, text, strlen(text)) : -1;
	free(text);
	return rc;
}

int prov_store_put(struct prov *p, const struct prov_job *j, const char *name,
		   const void *data, size_t len)
{
	char path[PROV_PATH_BYTES], file[32], aad[160];
	uint8_t *buf;
	size_t n = len + PROV_GCM_NONCE_BYTES + PROV_GCM_TAG_BYTES;
	int rc;

	if (!j->has_key || len > SBX_OUT_BYTES_MAX ||
	    (size_t)snprintf(file, sizeof(file), "%s.enc", name) >= sizeof(file) ||
	    job_path(path, sizeof(path), p, j->id, file))
		return -1;
	buf = malloc(n);
	if (!buf)
		return -1;
	aad_for(aad, j->id, name);
	rc = gcm_seal(buf, j->key, aad, data, len);
	if (!rc)
		rc = write_atomic(path, buf, n);
	free(buf);
	return rc;
}

int prov_store_get(struct prov *p, const struct prov_job *j, const char *name,
		   uint8_t **out, size_t *out_len, size_t max)
{
	char path[PROV_PATH_BYTES], file[32], aad[160];
	uint8_t *enc, *pt;
	size_t len;

	*out = NULL;
	*out_len = 0;
	if (!j->has_key || (size_t)snprintf(file, sizeof(file), "%s.enc", name) >= sizeof(file) ||
	    job_path(path, sizeof(path), p, j->id, file) ||
	    read_all(path, &enc, &len, max + PROV_GCM_NONCE_BYTES + PROV_GCM_TAG_BYTES))
		return -1;
	if (len < PROV_GCM_NONCE_BYTES + PROV_GCM_TAG_BYTES ||
	    !(pt = malloc(len - PROV_GCM_NONCE_BYTES - PROV_GCM_TAG_BYTES + 1))) {
		free(enc);
		return -1;
	}
	aad_for(aad, j->id, name);
	if (gcm_open(pt, j->key, aad, enc, len)) {
		free(enc);
		free(pt);
		return -1;
	}
	free(enc);
	*out = pt;
	*out_len = len - PROV_GCM_NONCE_BYTES - PROV_GCM_TAG_BYTES;
	return 0;
}

void prov_store_shred(struct prov *p, struct prov_job *j)
{
	char path[PROV_PATH_BYTES];

	OPENSSL_cleanse(j->key, sizeof(j->key));
	j->has_key = 0;
	if (!job_path(path, sizeof(path), p, j->id, "input.enc"))
		unlink(path);
	if (!job_path(path, sizeof(path), p, j->id, "output.enc"))
		unlink(path);
}

void prov_store_remove(struct prov *p, const struct prov_job *j)
{
	static const char *const files[] = { "input.enc", "output.enc", META_FILE,
					     META_FILE ".tmp", "input.enc.tmp",
					     "output.enc.tmp" };
	char path[PROV_PATH_BYTES];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!job_path(path, sizeof(path), p, j->id, files[i]))
			unlink(path);
	if (!job_path(path, sizeof(path), p, j->id, NULL))
		rmdir(path);
}

static int hex_field(uint8_t *out, size_t n, json_t *m, const char *key)
{
	const char *s = json_string_value(json_object_get(m, key));

	return s && strlen(s) == 2 + 2 * n && rcpt_hex_decode(out, n, s) == RCPT_OK ? 0 : -1;
}

/* One job from its meta.json; -1 when unreadable (left on disk, logged). */
static int load_one(struct prov *p, struct prov_job *j, const char *name)
{
	char path[PROV_PATH_BYTES], *t = NULL;
	uint8_t *text = NULL, id[RCPT_HASH_BYTES];
	struct rcpt_diag d;
	size_t len;
	json_t *m = NULL, *v;
	const char *s;
	int rc = -1;

	memset(j, 0, sizeof(*j));
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/" META_FILE, p->jobs_dir, name) >= sizeof(path) ||
	    read_all(path, &text, &len, PROV_META_BYTES_MAX))
		goto out;
	m = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(m) || json_integer_value(json_object_get(m, "v")) != 1)
		goto out;
	t = json_dumps(json_object_get(m, "job"), JSON_COMPACT);
	if (!t || rcpt_job_parse(&j->spec, &d, t, strlen(t)) != RCPT_OK ||
	    rcpt_job_id(id, &d, &p->domain, &j->spec) != RCPT_OK ||
	    hex_field(j->job_sig, RCPT_SIG_BYTES, m, "jobSignature"))
		goto out;
	memcpy(j->id, id, sizeof(id));
	{
		char h[2 * RCPT_HASH_BYTES + 1];
		id_hex(h, id);
		if (strcmp(h, name) != 0)
			goto out;   /* a directory that is not its job's */
	}
	s = json_string_value(json_object_get(m, "status"));
	if (!s || prov_status_parse(&j->status, s))
		goto out;
	j->created_s = (uint64_t)json_integer_value(json_object_get(m, "createdAt"));
	j->done_s = (uint64_t)json_integer_value(json_object_get(m, "doneAt"));
	j->queued_ms = (uint64_t)json_integer_value(json_object_get(m, "queuedMs"));
	j->escrow_synced = json_is_true(json_object_get(m, "escrowSynced"));
	j->corrupted = json_is_true(json_object_get(m, "corrupted"));
	s = json_string_value(json_object_get(m, "error"));
	if (s)
		snprintf(j->error, sizeof(j->error), "%s", s);
	/* Steps not yet in the escrow's log are sent again (with the time of
	 * the restart: the original time was not kept). */
	j->events_due = (unsigned)json_integer_value(json_object_get(m, "eventsDue")) &
			((1u << PROV_EV_COUNT_) - 1);
	j->events_sent = (unsigned)json_integer_value(json_object_get(m, "eventsSent")) &
			 ((1u << PROV_EV_COUNT_) - 1);
	for (unsigned ev = 0; ev < PROV_EV_COUNT_; ev++)
		j->event_ms[ev] = prov_now_ms();
	if (json_object_get(m, "wrappedKey")) {
		uint8_t w[PROV_GCM_NONCE_BYTES + PROV_JOB_KEY_BYTES + PROV_GCM_TAG_BYTES];
		char aad[160];
		aad_for(aad, j->id, "key");
		if (hex_field(w, sizeof(w), m, "wrappedKey") ||
		    gcm_open(j->key, p->data_key, aad, w, sizeof(w)))
			goto out;
		j->has_key = 1;
	}
	if ((v = json_object_get(m, "receipt"))) {
		free(t);
		t = json_dumps(v, JSON_COMPACT);
		if (!t || rcpt_receipt_parse(&j->receipt, &d, t, strlen(t)) != RCPT_OK ||
		    hex_field(j->receipt_sig, RCPT_SIG_BYTES, m, "receiptSignature") ||
		    rcpt_receipt_id(j->receipt_id, &d, &p->domain, &j->receipt) != RCPT_OK)
			goto out;
		j->has_receipt = 1;
	}
	rc = 0;
out:
	if (rc)
		OPENSSL_cleanse(j->key, sizeof(j->key));
	json_decref(m);
	free(text);
	free(t);
	return rc;
}

int prov_store_load_all(struct prov *p, char *why, size_t why_len)
{
	DIR *d = opendir(p->jobs_dir);
	struct dirent *e;
	int rc = 0;

	if (!d) {
		why_set(why, why_len, "cannot read the jobs directory", p->jobs_dir);
		return -1;
	}
	while ((e = readdir(d))) {
		struct prov_job *j;
		if (strlen(e->d_name) != 2 * RCPT_HASH_BYTES)
			continue;
		if (p->jobs_len >= PROV_JOBS_MAX) {
			why_set(why, why_len, "more jobs on disk than the table holds", NULL);
			rc = -1;
			break;
		}
		j = calloc(1, sizeof(*j));
		if (!j) {
			rc = -1;
			break;
		}
		if (load_one(p, j, e->d_name)) {
			prov_log("job-unreadable", "dir=%.64s", e->d_name);
			free(j);
			continue;
		}
		p->jobs[p->jobs_len++] = j;
	}
	closedir(d);
	return rc;
}
