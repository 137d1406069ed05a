/*
 * apikey_hash.c: Argon2id for the escrow's API keys (apikey_hash.h).
 */
#include <string.h>

#include <argon2.h>

#include "apikey_hash.h"
#include "assay_assert.h"
#include "banned.h"

const struct escrow_argon2_params escrow_argon2_default = {
	.t_cost = ESCROW_ARGON2_T_COST,
	.m_cost_kib = ESCROW_ARGON2_M_COST_KIB,
	.parallelism = ESCROW_ARGON2_PARALLELISM,
};

static int params_ok(const struct escrow_argon2_params *p)
{
	return p->t_cost >= 1 && p->t_cost <= ESCROW_ARGON2_T_COST_MAX &&
	       p->parallelism >= 1 && p->parallelism <= ESCROW_ARGON2_PARALLELISM_MAX &&
	       p->m_cost_kib >= 8u * p->parallelism &&
	       p->m_cost_kib <= ESCROW_ARGON2_M_COST_KIB_MAX;
}

int escrow_argon2id(uint8_t *out, size_t out_len, const void *pwd, size_t pwd_len,
		    const uint8_t *salt, size_t salt_len, const uint8_t *secret,
		    size_t secret_len, const uint8_t *ad, size_t ad_len,
		    const struct escrow_argon2_params *prm)
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
