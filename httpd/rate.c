/*
 * rate.c: token-bucket rate limiter over a fixed open-addressed table.
 * Invariant: 0 <= tokens <= burst in every used slot; the table never
 * grows: a new key takes an empty slot in its probe window or recycles
 * the least recently refilled one there.
 */
#include <assert.h>
#include <string.h>

#include "httpd_internal.h"
#include "banned.h"

/* FNV-1a: enough to spread keys; collisions only share a bucket. */
static uint64_t rate_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s) {
		h ^= (uint8_t)*s++;
		h *= 1099511628211ull;
	}
	return h ? h : 1;
}

void httpd_rate_init(struct httpd_rate *r, double per_s, double burst)
{
	assert(r && per_s > 0 && burst >= 1);
	memset(r->slots, 0, sizeof(r->slots));
	r->per_s = per_s;
	r->burst = burst;
	pthread_mutex_init(&r->mu, NULL);
}

void httpd_rate_release(struct httpd_rate *r)
{
	if (r)
		pthread_mutex_destroy(&r->mu);
}

int httpd_rate_take(struct httpd_rate *r, const char *key, double now_s)
{
	uint64_t h = rate_hash(key);
	size_t base = (size_t)(h % HTTPD_RATE_TABLE_SLOTS), i, pick = base;
	struct httpd_rate_slot *s = NULL;
	int ok;

	pthread_mutex_lock(&r->mu);
	for (i = 0; i < HTTPD_RATE_PROBE; i++) {
		struct httpd_rate_slot *c =
			&r->slots[(base + i) % HTTPD_RATE_TABLE_SLOTS];
		if (c->key_hash == h) {
			s = c;
			break;
		}
		if (c->key_hash == 0 ||
		    c->last_s < r->slots[pick].last_s)
			pick = (base + i) % HTTPD_RATE_TABLE_SLOTS;
		if (c->key_hash == 0)
			break;
	}
	if (!s) {
		s = &r->slots[pick];
		s->key_hash = h;
		s->tokens = r->burst;
		s->last_s = now_s;
	}
	if (now_s > s->last_s) {
		s->tokens += (now_s - s->last_s) * r->per_s;
		if (s->tokens > r->burst)
			s->tokens = r->burst;
		s->last_s = now_s;
	}
	ok = s->tokens >= 1.0;
	if (ok)
		s->tokens -= 1.0;
	assert(s->tokens >= 0 && s->tokens <= r->burst);
	pthread_mutex_unlock(&r->mu);
	return ok;
}
