/*
 * apikey_hash.h: Argon2id (RFC 9106) over libargon2 for the API keys of
 * the escrow and the provider (prefix httpd_argon2id).  One function, so that the parameters
 * live in one place and the known-answer test of RFC 9106 section 5.3
 * runs through the very code that hashes keys (tests/test_apikeys.c).
 *
 * Parameters (docs/api-auth.md, "API keys"): t = 2 passes over m = 19 MiB
 * with p = 1 lane, OWASP's minimum for Argon2id.  Every request made
 * with a key costs one such hash (about 20 to 40 ms of one core and
 * 19 MiB while it runs); the key id's own rate bucket, taken before the
 * hash, bounds what one key (or a guesser of its secret) can make the
 * daemon spend.  The secret is 32 random bytes, so the hash guards a
 * stolen database rather than a weak password: it makes each guess
 * against a stolen row cost that much, on top of the 2^256 guesses.
 */
#ifndef ASSAY_HTTPD_APIKEY_HASH_H
#define ASSAY_HTTPD_APIKEY_HASH_H

#include <stddef.h>
#include <stdint.h>

#include "httpd.h"

#define HTTPD_ARGON2_T_COST 2u
#define HTTPD_ARGON2_M_COST_KIB 19456u    /* 19 MiB */
#define HTTPD_ARGON2_PARALLELISM 1u
/* What a stored row may ask for at most (a corrupt row must not make
 * a daemon allocate gigabytes): 8 passes, 256 MiB, 8 lanes. */
#define HTTPD_ARGON2_T_COST_MAX 8u
#define HTTPD_ARGON2_M_COST_KIB_MAX (256u * 1024u)
#define HTTPD_ARGON2_PARALLELISM_MAX 8u

struct httpd_argon2_params {
	uint32_t t_cost;        /* passes, 1..HTTPD_ARGON2_T_COST_MAX */
	uint32_t m_cost_kib;    /* memory in KiB, 8 * parallelism..HTTPD_ARGON2_M_COST_KIB_MAX */
	uint32_t parallelism;   /* lanes, 1..HTTPD_ARGON2_PARALLELISM_MAX */
};

/* The parameters new keys are hashed with. */
extern const struct httpd_argon2_params httpd_argon2_default;

/* Argon2id version 0x13 of pwd with salt (at least 8 bytes), and the
 * optional secret key and associated data (NULL with length 0 for
 * none), under *prm, into out[0..out_len) (4..64 bytes).  Single-threaded
 * whatever the lanes.  0, or -1 when an argument is out of range or
 * libargon2 fails (out of memory); out is zeroed then. */
int httpd_argon2id(uint8_t *out, size_t out_len, const void *pwd, size_t pwd_len,
		    const uint8_t *salt, size_t salt_len, const uint8_t *secret,
		    size_t secret_len, const uint8_t *ad, size_t ad_len,
		    const struct httpd_argon2_params *prm)
	__attribute__((warn_unused_result));

/* ---------------------------------------------------------------- API keys
 * What the escrow and the provider both do with a key (docs/api-auth.md,
 * "API keys"): make one, verify one, and write its stored hash in the
 * PHC string form `$argon2id$v=19$m=M,t=T,p=P$SALT$HASH` (SALT and HASH
 * base64 without padding), which carries its own parameters. */
#define HTTPD_APIKEY_SALT_BYTES 16
#define HTTPD_APIKEY_HASH_BYTES 32
/* The PHC string of a key's hash: 96 characters with the default
 * parameters, at most 106 with the largest. */
#define HTTPD_ARGON2_PHC_BYTES_MAX 128

/* A fresh key: id "ak_" + 16 hex (8 random bytes), token "ak_ID.SECRET"
 * (32 random bytes, base64url), a random salt and hash = Argon2id of the
 * secret under *prm.  The secret exists only in token: the caller wipes
 * it (OPENSSL_cleanse) once answered.  0, or -1 (no randomness, no
 * memory), token and hash wiped. */
int httpd_apikey_new(char id[HTTPD_APIKEY_ID_BYTES + 1],
		     char token[HTTPD_APIKEY_TOKEN_BYTES + 1],
		     uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
		     uint8_t hash[HTTPD_APIKEY_HASH_BYTES],
		     const struct httpd_argon2_params *prm)
	__attribute__((warn_unused_result));

/* Whether the secret of `token` (a shape checked by httpd_apikey_id,
 * with that id) matches `stored` = Argon2id(secret, salt) under *prm,
 * through the guard of apikey_guard.h (a secret verified lately is not
 * hashed again; an id with too many wrong secrets lately is refused
 * without a hash), compared in constant time.  *ok 1 or 0; returns 0,
 * or -1 when the hash could not be computed (parameters out of range,
 * out of memory). */
int httpd_apikey_verify(int *ok, const char *token, const uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
			const uint8_t stored[HTTPD_APIKEY_HASH_BYTES],
			const struct httpd_argon2_params *prm, uint64_t now_s)
	__attribute__((warn_unused_result));

/* The PHC string of (salt, hash, *prm) into out (at least
 * HTTPD_ARGON2_PHC_BYTES_MAX).  0, or -1 when *prm is out of range. */
int httpd_argon2_phc_format(char *out, size_t out_len,
			    const uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
			    const uint8_t hash[HTTPD_APIKEY_HASH_BYTES],
			    const struct httpd_argon2_params *prm)
	__attribute__((warn_unused_result));
/* The inverse, strictly: exactly the form above (version 19, the
 * parameters in that order as canonical decimals within the bounds of
 * HTTPD_ARGON2_*_MAX, a 16-byte salt and a 32-byte hash).  0, or -1
 * with the outputs zeroed. */
int httpd_argon2_phc_parse(uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
			   uint8_t hash[HTTPD_APIKEY_HASH_BYTES],
			   struct httpd_argon2_params *prm, const char *s)
	__attribute__((warn_unused_result));

#endif
