/*
 * apikey_guard.h: what stands between a request bearing an API key and
 * an Argon2id computation (apikey_guard.c).  Argon2id costs about 20-40
 * ms and 19 MiB a verification by design; without a guard anyone who
 * knows a key's public id could make a daemon compute one per request
 * within that key's rate limit.  So:
 *
 * - a secret that verified is remembered, per key id, as SHA-256 of the
 *   secret beside the stored hash it matched: the same secret against
 *   the same stored hash is accepted again without Argon2id (for
 *   HTTPD_APIKEY_GUARD_TTL_S).  Revocation and expiry are still read
 *   from the database on every request, so both act at once;
 * - HTTPD_APIKEY_GUARD_FAILS wrong secrets for one id within
 *   HTTPD_APIKEY_GUARD_WINDOW_S lock that id: further secrets not
 *   remembered as verified are refused without Argon2id until the
 *   window ends.  The holder of the right secret, once verified, is not
 *   locked out by someone else's guessing.
 *
 * One table per process, HTTPD_APIKEY_GUARD_SLOTS entries (the oldest
 * goes); thread-safe.
 */
#ifndef ASSAY_HTTPD_APIKEY_GUARD_H
#define ASSAY_HTTPD_APIKEY_GUARD_H

#include <stddef.h>
#include <stdint.h>

#define HTTPD_APIKEY_GUARD_SLOTS 1024u
#define HTTPD_APIKEY_GUARD_TTL_S 600u
#define HTTPD_APIKEY_GUARD_FAILS 5u
#define HTTPD_APIKEY_GUARD_WINDOW_S 60u

enum httpd_apikey_guard_verdict {
	HTTPD_APIKEY_GUARD_HASH = 0,   /* not known: compute Argon2id */
	HTTPD_APIKEY_GUARD_KNOWN,      /* verified before against this stored hash */
	HTTPD_APIKEY_GUARD_LOCKED,     /* too many wrong secrets lately: refuse */
};

/* What to do with `secret` (len bytes) for key `id` whose stored hash
 * is `stored` (32 bytes), at now_s. */
enum httpd_apikey_guard_verdict httpd_apikey_guard_check(const char *id, const uint8_t stored[32],
					     const char *secret, size_t len, uint64_t now_s);
/* The Argon2id outcome for it: remembered when `ok`, counted when not. */
void httpd_apikey_guard_result(const char *id, const uint8_t stored[32], const char *secret,
			 size_t len, int ok, uint64_t now_s);
/* Argon2id computations and refusals without one, since start. */
void httpd_apikey_guard_stats(uint64_t *hashes, uint64_t *locked);

#endif
