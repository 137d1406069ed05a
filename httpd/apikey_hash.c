/*
 * apikey_hash.c: Argon2id for the API keys of the escrow and the provider (apikey_hash.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <argon2.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "apikey_guard.h"
#include "apikey_hash.h"
#include "assay_assert.h"
#include "banned.h"

const struct httpd_argon2_params httpd_argon2_default = {
	.t_cost = HTTPD_ARGON2_T_COST,
	.m_cost_kib = HTTPD_ARGON2_M_COST_KIB,
	.parallelism = HTTPD_ARGON2_PARALLELISM,
};

static int params_ok(const struct httpd_argon2_params *p)
{
	return p->t_cost >= 1 && p->t_cost <= HTTPD_ARGON2_T_COST_MAX &&
	       p->parallelism >= 1 && p->parallelism <= HTTPD_ARGON2_PARALLELISM_MAX &&
	       p->m_cost_kib >= 8u * p->parallelism &&
	       p->m_cost_kib <= HTTPD_ARGON2_M_COST_KIB_MAX;
}

int httpd_argon2id(uint8_t *out, size_t out_len, const void *pwd, size_t pwd_len,
		    const uint8_t *salt, size_t salt_len, const uint8_t *secret,
		    size_t secret_len, const uint8_t *ad, size_t ad_len,
		    const struct httpd_argon2_params *prm)
{
	argon2_context ctx;
	int rc;

	ASSAY_ASSERT(out && prm);
	memset(out, 0, out_len);
	if (out_len < 4 || out_len > 64 || !pwd || pwd_len > 4096 || !salt || salt_len < 8 ||
	    salt_len > 64 || (secret_len && !secret) || secret_len > 64 ||
	    (ad_len && !ad) || ad_len > 1024 || !params_ok(prm))
		return -1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.out = out;
	ctx.outlen = (uint32_t)out_len;
	/* libargon2 reads these through non-const pointers but writes them
	 * only when the ARGON2_FLAG_CLEAR_* flags ask, which we never set. */
	ctx.pwd = (uint8_t *)(uintptr_t)pwd;
	ctx.pwdlen = (uint32_t)pwd_len;
	ctx.salt = (uint8_t *)(uintptr_t)salt;
	ctx.saltlen = (uint32_t)salt_len;
	ctx.secret = (uint8_t *)(uintptr_t)secret;
	ctx.secretlen = (uint32_t)secret_len;
	ctx.ad = (uint8_t *)(uintptr_t)ad;
	ctx.adlen = (uint32_t)ad_len;
	ctx.t_cost = prm->t_cost;
	ctx.m_cost = prm->m_cost_kib;
	ctx.lanes = prm->parallelism;
	ctx.threads = 1;
	ctx.version = ARGON2_VERSION_13;
	ctx.flags = ARGON2_DEFAULT_FLAGS;
	rc = argon2_ctx(&ctx, Argon2_id);
	if (rc != ARGON2_OK) {
		memset(out, 0, out_len);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- API keys */

static int fill_random(void *p, size_t n)
{
	return getrandom(p, n, 0) == (ssize_t)n ? 0 : -1;
}

/* 32 bytes as base64url without padding (43 characters). */
static void b64url32(char out[HTTPD_APIKEY_SECRET_BYTES + 1], const uint8_t in[32])
{
	unsigned char buf[48];
	int n = EVP_EncodeBlock(buf, in, 32);

	ASSAY_ASSERT(n == 44 && buf[43] == '=');
	for (int i = 0; i < HTTPD_APIKEY_SECRET_BYTES; i++)
		out[i] = buf[i] == '+' ? '-' : buf[i] == '/' ? '_' : (char)buf[i];
	out[HTTPD_APIKEY_SECRET_BYTES] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
}

int httpd_apikey_new(char id[HTTPD_APIKEY_ID_BYTES + 1],
		     char token[HTTPD_APIKEY_TOKEN_BYTES + 1],
		     uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
		     uint8_t hash[HTTPD_APIKEY_HASH_BYTES],
		     const struct httpd_argon2_params *prm)
{
	uint8_t idb[8], sec[32];
	char secret[HTTPD_APIKEY_SECRET_BYTES + 1];
	int rc = -1;

	ASSAY_ASSERT(id && token && salt && hash && prm);
	token[0] = '\0';
	if (fill_random(idb, sizeof(idb)) || fill_random(sec, sizeof(sec)) ||
	    fill_random(salt, HTTPD_APIKEY_SALT_BYTES))
		goto out;
	snprintf(id, HTTPD_APIKEY_ID_BYTES + 1, "ak_");
	for (size_t i = 0; i < sizeof(idb); i++)
		snprintf(id + 3 + 2 * i, 3, "%02x", idb[i]);
	b64url32(secret, sec);
	if (httpd_argon2id(hash, HTTPD_APIKEY_HASH_BYTES, secret, HTTPD_APIKEY_SECRET_BYTES,
			   salt, HTTPD_APIKEY_SALT_BYTES, NULL, 0, NULL, 0, prm))
		goto out;
	snprintf(token, HTTPD_APIKEY_TOKEN_BYTES + 1, "%s.%s", id, secret);
	ASSAY_ASSERT(strlen(token) == HTTPD_APIKEY_TOKEN_BYTES);
	rc = 0;
out:
	if (rc) {
		OPENSSL_cleanse(token, HTTPD_APIKEY_TOKEN_BYTES + 1);
		OPENSSL_cleanse(hash, HTTPD_APIKEY_HASH_BYTES);
	}
	OPENSSL_cleanse(sec, sizeof(sec));
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

int httpd_apikey_verify(int *ok, const char *token, const uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
			const uint8_t stored[HTTPD_APIKEY_HASH_BYTES],
			const struct httpd_argon2_params *prm, uint64_t now_s)
{
	char id[HTTPD_APIKEY_ID_BYTES + 1];
	const char *secret = token + HTTPD_APIKEY_ID_BYTES + 1;
	uint8_t h[HTTPD_APIKEY_HASH_BYTES];
	enum httpd_apikey_guard_verdict v;
	int rc = 0;

	ASSAY_ASSERT(ok && token && salt && stored && prm);
	ASSAY_ASSERT(httpd_apikey_id(id, token) == 0);
	*ok = 0;
	v = httpd_apikey_guard_check(id, stored, secret, HTTPD_APIKEY_SECRET_BYTES, now_s);
	if (v == HTTPD_APIKEY_GUARD_KNOWN) {
		*ok = 1;
	} else if (v == HTTPD_APIKEY_GUARD_HASH) {
		if (httpd_argon2id(h, sizeof(h), secret, HTTPD_APIKEY_SECRET_BYTES, salt,
				   HTTPD_APIKEY_SALT_BYTES, NULL, 0, NULL, 0, prm)) {
			rc = -1;
		} else {
			*ok = CRYPTO_memcmp(h, stored, sizeof(h)) == 0;
			httpd_apikey_guard_result(id, stored, secret, HTTPD_APIKEY_SECRET_BYTES,
						  *ok, now_s);
		}
	}
	OPENSSL_cleanse(h, sizeof(h));
	ASSAY_ASSERT(*ok == 0 || *ok == 1);
	return rc;
}

/* Standard base64 of n bytes without its padding into out. */
static int b64_nopad(char *out, size_t out_len, const uint8_t *in, size_t n)
{
	unsigned char buf[64];
	int len;

	ASSAY_ASSERT(n <= 45);
	len = EVP_EncodeBlock(buf, in, (int)n);
	while (len > 0 && buf[len - 1] == '=')
		len--;
	if ((size_t)len >= out_len)
		return -1;
	memcpy(out, buf, (size_t)len);
	out[len] = '\0';
	return 0;
}

/* The inverse for exactly n bytes from exactly the characters [s, e). */
static int b64_nopad_parse(uint8_t *out, size_t n, const char *s, const char *e)
{
	unsigned char in[64], buf[64];
	size_t len = (size_t)(e - s), padded = (len + 3) / 4 * 4;
	int got;

	if (len != (4 * n + 2) / 3 || padded >= sizeof(in))
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return -1;
		in[i] = (unsigned char)c;
	}
	memset(in + len, '=', padded - len);
	got = EVP_DecodeBlock(buf, in, (int)padded);
	if (got < 0 || (size_t)got < n)
		return -1;
	memcpy(out, buf, n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int httpd_argon2_phc_format(char *out, size_t out_len,
			    const uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
			    const uint8_t hash[HTTPD_APIKEY_HASH_BYTES],
			    const struct httpd_argon2_params *prm)
{
	char s[32], h[48];

	ASSAY_ASSERT(out && out_len >= HTTPD_ARGON2_PHC_BYTES_MAX && salt && hash && prm);
	out[0] = '\0';
	if (!params_ok(prm) || b64_nopad(s, sizeof(s), salt, HTTPD_APIKEY_SALT_BYTES) ||
	    b64_nopad(h, sizeof(h), hash, HTTPD_APIKEY_HASH_BYTES))
		return -1;
	if ((size_t)snprintf(out, out_len, "$argon2id$v=19$m=%u,t=%u,p=%u$%s$%s",
			     (unsigned)prm->m_cost_kib, (unsigned)prm->t_cost,
			     (unsigned)prm->parallelism, s, h) >= out_len) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

/* A canonical decimal of 1 to 7 digits at *s, up to `end`; advances *s. */
static int phc_num(uint32_t *out, const char **s, char end)
{
	const char *p = *s;
	uint32_t v = 0;
	size_t n = 0;

	while (p[n] >= '0' && p[n] <= '9' && n < 8)
		v = v * 10 + (uint32_t)(p[n++] - '0');
	if (n == 0 || n > 7 || (n > 1 && p[0] == '0') || p[n] != end)
		return -1;
	*out = v;
	*s = p + n + 1;
	return 0;
}

int httpd_argon2_phc_parse(uint8_t salt[HTTPD_APIKEY_SALT_BYTES],
			   uint8_t hash[HTTPD_APIKEY_HASH_BYTES],
			   struct httpd_argon2_params *prm, const char *s)
{
	static const char head[] = "$argon2id$v=19$m=";
	const char *p = s, *dollar;
	char again[HTTPD_ARGON2_PHC_BYTES_MAX];

	ASSAY_ASSERT(salt && hash && prm);
	memset(prm, 0, sizeof(*prm));
	if (!s || strnlen(s, HTTPD_ARGON2_PHC_BYTES_MAX) >= HTTPD_ARGON2_PHC_BYTES_MAX ||
	    strncmp(s, head, sizeof(head) - 1) != 0)
		goto bad;
	p += sizeof(head) - 1;
	if (phc_num(&prm->m_cost_kib, &p, ',') || strncmp(p, "t=", 2) != 0)
		goto bad;
	p += 2;
	if (phc_num(&prm->t_cost, &p, ',') || strncmp(p, "p=", 2) != 0)
		goto bad;
	p += 2;
	if (phc_num(&prm->parallelism, &p, '$') || !params_ok(prm) ||
	    !(dollar = strchr(p, '$')) ||
	    b64_nopad_parse(salt, HTTPD_APIKEY_SALT_BYTES, p, dollar) ||
	    b64_nopad_parse(hash, HTTPD_APIKEY_HASH_BYTES, dollar + 1,
			    dollar + 1 + strlen(dollar + 1)))
		goto bad;
	/* One string per value: what formats back is what was read. */
	if (httpd_argon2_phc_format(again, sizeof(again), salt, hash, prm) || strcmp(again, s))
		goto bad;
	return 0;
bad:
	memset(prm, 0, sizeof(*prm));
	memset(salt, 0, HTTPD_APIKEY_SALT_BYTES);
	memset(hash, 0, HTTPD_APIKEY_HASH_BYTES);
	return -1;
}
