/*
 * apikey_hash.h: Argon2id (RFC 9106) over libargon2 for the escrow's API
 * keys (prefix escrow_argon2id).  One function, so that the parameters
 * live in one place and the known-answer test of RFC 9106 section 5.3
 * runs through the very code that hashes keys (tests/test_apikeys.c).
 *
 * Parameters (docs/api-auth.md, "API keys"): t = 2 passes over m = 19 MiB
 * with p = 1 lane, OWASP's minimum for Argon2id.  Every request made
 * with a key costs one such hash (about 20 to 40 ms of one core and
 * 19 MiB while it runs); the key id's own rate bucket, taken before the
 * hash, bounds what one key (or a guesser of its secret) can make the
 * escrow spend.  The secret is 32 random bytes, so the hash guards a
 * stolen database rather than a weak password: it makes each guess
 * against a stolen row cost that much, on top of the 2^256 guesses.
 */
#ifndef ASSAY_ESCROW_APIKEY_HASH_H
#define ASSAY_ESCROW_APIKEY_HASH_H

#include <stddef.h>
#include <stdint.h>

#define ESCROW_ARGON2_T_COST 2u
#define ESCROW_ARGON2_M_COST_KIB 19456u    /* 19 MiB */
#define ESCROW_ARGON2_PARALLELISM 1u
/* What a stored row may ask for at most (a corrupt row must not make
 * the escrow allocate gigabytes): 8 passes, 256 MiB, 8 lanes. */
#define ESCROW_ARGON2_T_COST_MAX 8u
#define ESCROW_ARGON2_M_COST_KIB_MAX (256u * 1024u)
#define ESCROW_ARGON2_PARALLELISM_MAX 8u

struct escrow_argon2_params {
	uint32_t t_cost;        /* passes, 1..ESCROW_ARGON2_T_COST_MAX */
	uint32_t m_cost_kib;    /* memory in KiB, 8 * parallelism..ESCROW_ARGON2_M_COST_KIB_MAX */
	uint32_t parallelism;   /* lanes, 1..ESCROW_ARGON2_PARALLELISM_MAX */
};

/* The parameters new keys are hashed with. */
extern const struct escrow_argon2_params escrow_argon2_default;

/* Argon2id version 0x13 of pwd with salt (at least 8 bytes), and the
 * optional secret key and associated data (NULL with length 0 for
 * none), under *prm, into out[0..out_len) (4..64 bytes).  Single-threaded
 * whatever the lanes.  0, or -1 when an argument is out of range or
 * libargon2 fails (out of memory); out is zeroed then. */
int escrow_argon2id(uint8_t *out, size_t out_len, const void *pwd, size_t pwd_len,
		    const uint8_t *salt, size_t salt_len, const uint8_t *secret,
		    size_t secret_len, const uint8_t *ad, size_t ad_len,
		    const struct escrow_argon2_params *prm)
	__attribute__((warn_unused_result));

#endif
