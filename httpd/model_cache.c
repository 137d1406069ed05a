/*
 * model_cache.c: models fetched by commitment (model_cache.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd_client.h"
#include "model_cache.h"

#include "banned.h"

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The checked bytes into `path` through a temporary file beside it. */
static enum model_cache_err store(const char *path, const uint8_t *data, size_t len,
				  char *why, size_t why_len)
{
	char tmp[4200];
	int fd;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp)) {
		snprintf(why, why_len, "model cache path too long");
		return MODEL_CACHE_ERR_ARG;
	}
	fd = mkstemp(tmp);   /* mode 0600 */
	if (fd < 0) {
		snprintf(why, why_len, "model cache: %s", strerror(errno));
		return MODEL_CACHE_ERR_IO;
	}
	if (write_all(fd, data, len) || fsync(fd) || close(fd)) {
		snprintf(why, why_len, "model cache: could not write the model: %s",
			 strerror(errno));
		(void)unlink(tmp);
		return MODEL_CACHE_ERR_IO;
	}
	if (rename(tmp, path)) {
		snprintf(why, why_len, "model cache: %s", strerror(errno));
		(void)unlink(tmp);
		return MODEL_CACHE_ERR_IO;
	}
	return MODEL_CACHE_OK;
}

/* GET the model, check it, store it. */
static enum model_cache_err fetch(const char *path, char *why, size_t why_len,
				  const char *base_url, const char *hex,
				  const uint8_t root[RCPT_HASH_BYTES], uint64_t size, long timeout_ms)
{
	struct httpd_client_req q;
	struct httpd_client_resp resp;
	struct rcpt_commitment c;
	char target[96];
	enum model_cache_err rc;

	memset(&q, 0, sizeof(q));
	snprintf(target, sizeof(target), "/v1/models/%s", hex);
	q.method = "GET";
	q.base_url = base_url;
	q.target = target;
	q.response_bytes_max = size ? size : 1;
	q.timeout_ms = timeout_ms;
	if (httpd_client_request(&resp, why, why_len, &q) != HTTPD_OK)
		return MODEL_CACHE_ERR_PEER;
	if (resp.status != 200) {
		snprintf(why, why_len, "the provider answered %ld for model %s", resp.status, hex);
		rc = MODEL_CACHE_ERR_PEER;
	} else if (rcpt_commit_buf(&c, resp.body, resp.len) != RCPT_OK || c.size != size ||
		   memcmp(c.root, root, RCPT_HASH_BYTES) != 0) {
		snprintf(why, why_len, "the provider sent %zu bytes that are not model %s", resp.len,
			 hex);
		rc = MODEL_CACHE_ERR_PEER;
	} else {
		rc = store(path, (const uint8_t *)resp.body, resp.len, why, why_len);
	}
	httpd_client_resp_free(&resp);
	return rc;
}

enum model_cache_err model_cache_get(char *path, size_t path_len, char *why, size_t why_len,
				     const char *dir, const char *base_url,
				     const uint8_t root[RCPT_HASH_BYTES], uint64_t size,
				     long timeout_ms)
{
	char hex[RCPT_HASH_HEX_BYTES];
	struct stat st;

	if (!path || !why || why_len == 0 || !dir || !base_url || !root)
		return MODEL_CACHE_ERR_ARG;
	why[0] = '\0';
	if (size > MODEL_CACHE_BYTES_MAX || size < 8) {
		snprintf(why, why_len, "a model of %llu bytes is not in [8, %llu]",
			 (unsigned long long)size, MODEL_CACHE_BYTES_MAX);
		return MODEL_CACHE_ERR_ARG;
	}
	if (rcpt_hex_encode(hex, sizeof(hex), root, RCPT_HASH_BYTES) != RCPT_OK ||
	    (size_t)snprintf(path, path_len, "%s/%s.safetensors", dir, hex) >= path_len) {
		snprintf(why, why_len, "model cache path too long");
		return MODEL_CACHE_ERR_ARG;
	}
	if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size)
		return MODEL_CACHE_OK;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, why_len, "model cache '%.200s': %s", dir, strerror(errno));
		return MODEL_CACHE_ERR_IO;
	}
	return fetch(path, why, why_len, base_url, hex, root, size, timeout_ms);
}
