/*
 * model_cache.h: a model kernel's model (gpt2_f32@1), fetched once by its
 * commitment from the provider that ran the job and kept in a private
 * directory, for the services that re-run such jobs: the validator and
 * the escrow's referee.  The provider serves GET /v1/models/{root}; the
 * bytes are accepted only when their commitment (PROTOCOL.md section 1)
 * is the one the signed params name.
 */
#ifndef ASSAY_MODEL_CACHE_H
#define ASSAY_MODEL_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"
#include "receipts.h"

/* The largest model accepted: kernels/kern_limits.h's KERN_MODEL_BYTES_MAX
 * (the services that include both check that they agree). */
#define MODEL_CACHE_BYTES_MAX 8589934592ull

enum model_cache_err {
	MODEL_CACHE_OK = 0,
	MODEL_CACHE_ERR_ARG,        /* misuse, or a size over MODEL_CACHE_BYTES_MAX */
	MODEL_CACHE_ERR_IO,         /* the cache directory could not be written */
	MODEL_CACHE_ERR_PEER,       /* unreachable, refused, or wrong bytes */
};

/*
 * Makes DIR/0x<root>.safetensors hold the model committed to by (root,
 * size), and puts that path in `path`: when the file is there with the
 * right size it is used (the cache holds only checked files: DIR must be
 * private to the service); else the model is fetched from
 * BASE_URL/v1/models/0x<root> (at most `size` bytes accepted), checked
 * against the commitment, written through a temporary file (mode 0600,
 * fsynced) and renamed into place.  Several threads may fetch the same
 * model at once: each writes its own temporary file, the last rename
 * wins, and every copy is the same checked bytes.  `why` says what
 * failed, never with model bytes.
 */
HTTPD_WUR enum model_cache_err model_cache_get(char *path, size_t path_len, char *why,
					       size_t why_len, const char *dir,
					       const char *base_url,
					       const uint8_t root[RCPT_HASH_BYTES],
					       uint64_t size, long timeout_ms);

#endif
