/*
 * apikey_guard.c: the verified-secret memory and the wrong-secret lock
 * in front of Argon2id (apikey_guard.h).
 *
 * Invariants: a slot names one key id; its `known` digest is SHA-256 of
 * a secret that verified against `stored`, never the secret; a secret
 * is accepted from memory only when both its digest and the stored hash
 * it is checked against are the same as when it verified (constant-time
 * compare).
 */
#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "apikey_guard.h"
#include "assay_assert.h"
#include "banned.h"

#define GUARD_ID_BYTES 24

struct slot {
	char id[GUARD_ID_BYTES];     /* "" when free */
	uint8_t stored[32];          /* the stored hash `known` verified against */
	uint8_t known[32];           /* SHA-256 of the verified secret */
	uint64_t known_until_s;      /* 0: nothing known */
	uint64_t window_start_s;     /* the wrong-secret window */
	unsigned fails;
	uint64_t used_s;             /* for the choice of the slot to reuse */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[HTTPD_APIKEY_GUARD_SLOTS];
static uint64_t n_hashes, n_locked;

static void digest(uint8_t out[32], const char *secret, size_t len)
{
	ASSAY_ASSERT(SHA256((const unsigned char *)secret, len, out) != NULL);
}

/* id's slot, or (make) one: a free one, else the least recently used. */
static struct slot *slot_of(const char *id, int make, uint64_t now_s)
{
	struct slot *victim = NULL;
	size_t i;

	ASSAY_ASSERT(strlen(id) < GUARD_ID_BYTES);
	for (i = 0; i < HTTPD_APIKEY_GUARD_SLOTS; i++) {
		struct slot *s = &slots[i];

		if (s->id[0] && strcmp(s->id, id) == 0)
			return s;
		if (!victim || (!s->id[0] && victim->id[0]) ||
		    (s->id[0] && victim->id[0] && s->used_s < victim->used_s))
			victim = s;
	}
	if (!make)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	(void)snprintf(victim->id, sizeof(victim->id), "%s", id);
	victim->used_s = now_s;
	return victim;
}

enum httpd_apikey_guard_verdict httpd_apikey_guard_check(const char *id, const uint8_t stored[32],
					     const char *secret, size_t len, uint64_t now_s)
{
	enum httpd_apikey_guard_verdict v = HTTPD_APIKEY_GUARD_HASH;
	uint8_t d[32];
	struct slot *s;

	digest(d, secret, len);
	pthread_mutex_lock(&mu);
	s = slot_of(id, 0, now_s);
	if (s) {
		s->used_s = now_s;
		if (s->known_until_s > now_s && CRYPTO_memcmp(s->stored, stored, 32) == 0 &&
		    CRYPTO_memcmp(s->known, d, 32) == 0)
			v = HTTPD_APIKEY_GUARD_KNOWN;
		else if (s->fails >= HTTPD_APIKEY_GUARD_FAILS &&
			 now_s < s->window_start_s + HTTPD_APIKEY_GUARD_WINDOW_S)
			v = HTTPD_APIKEY_GUARD_LOCKED;
	}
	if (v == HTTPD_APIKEY_GUARD_HASH)
		n_hashes++;
	else if (v == HTTPD_APIKEY_GUARD_LOCKED)
		n_locked++;
	pthread_mutex_unlock(&mu);
	OPENSSL_cleanse(d, sizeof(d));
	return v;
}

void httpd_apikey_guard_result(const char *id, const uint8_t stored[32], const char *secret,
			 size_t len, int ok, uint64_t now_s)
{
	uint8_t d[32];
	struct slot *s;

	digest(d, secret, len);
	pthread_mutex_lock(&mu);
	s = slot_of(id, 1, now_s);
	if (ok) {
		memcpy(s->stored, stored, 32);
		memcpy(s->known, d, 32);
		s->known_until_s = now_s + HTTPD_APIKEY_GUARD_TTL_S;
	} else {
		if (now_s >= s->window_start_s + HTTPD_APIKEY_GUARD_WINDOW_S) {
			s->window_start_s = now_s;
			s->fails = 0;
		}
		s->fails++;
	}
	pthread_mutex_unlock(&mu);
	OPENSSL_cleanse(d, sizeof(d));
}

void httpd_apikey_guard_stats(uint64_t *hashes, uint64_t *locked)
{
	pthread_mutex_lock(&mu);
	*hashes = n_hashes;
	*locked = n_locked;
	pthread_mutex_unlock(&mu);
}
