/*
 * api_providers.c: POST /v1/providers (a staked provider registers its URL) and
 * GET /v1/providers/{address} (its URL and its entry in the approved
 * registry, api_registry.c).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "api_internal.h"
#include "kernels.h"
#include "assay_assert.h"
#include "banned.h"

/* ---------------------------------------------------------------- providers */

/* A provider's base URL (contracts): http:// or https://, a host, at
 * most ESCROW_PROVIDER_URL_BYTES_MAX bytes of visible ASCII, no
 * userinfo, query or fragment, no trailing '/'.  NULL or a reason. */
static const char *url_refusal(const char *u, size_t len)
{
	size_t i, skip;

	if (len > ESCROW_PROVIDER_URL_BYTES_MAX)
		return "longer than 256 bytes";
	if (strlen(u) != len)
		return "holds a NUL byte";
	for (i = 0; i < len; i++)
		if (u[i] <= 0x20 || u[i] >= 0x7f || u[i] == '\\')
			return "holds a space, a control, a backslash or a non-ASCII byte";
	if (strncmp(u, "http://", 7) == 0)
		skip = 7;
	else if (strncmp(u, "https://", 8) == 0)
		skip = 8;
	else
		return "scheme is not http:// or https://";
	if (strchr(u, '@'))
		return "holds userinfo ('@')";
	if (strchr(u, '?'))
		return "holds a query ('?')";
	if (strchr(u, '#'))
		return "holds a fragment ('#')";
	if (u[skip] == '\0' || u[skip] == '/' || u[skip] == ':')
		return "has no host";
	if (u[len - 1] == '/')
		return "ends with '/'";
	return NULL;
}

static json_t *provider_view(const uint8_t who[RCPT_ADDR_BYTES], const char *url, uint64_t at)
{
	char a[RCPT_ADDR_HEX_BYTES];

	rcpt_address_format(a, who);
	return json_pack("{s:s, s:s, s:I}", "address", a, "url", url,
			 "registeredAt", (json_int_t)at);
}

ESC_BODY(esc_body_provider_register,
	 { "url", HTTPD_KEY_STRING, ESC_REQUIRED,
	   ESC_REFUSE(ESC_P_INVALID_URL, "url is not a string") });


struct provider_put {
	const uint8_t *who;
	const char *url;
	uint64_t now;
};

static enum escrow_db_err provider_put(struct escrow_db *db, void *arg)
{
	const struct provider_put *x = arg;

	return escrow_db_provider_put(db, x->who, x->url, x->now);
}
void esc_handle_provider_register(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	json_t *o = httpd_req_json(r);
	const uint8_t *who = httpd_req_signer(r);
	json_t *ju = json_object_get(o, "url");
	const char *url, *why;
	char sub[80];
	enum escrow_db_err rc;
	uint64_t now = esc_now_s();

	ASSAY_ASSERT(who);   /* HTTPD_F_AUTH route */
	url = json_string_value(ju);
	why = url ? url_refusal(url, json_string_length(ju)) : "is not a string";
	if (why) {
		esc_problem(r, ESC_P_INVALID_URL, "url %s", why);
		return;
	}
	if (esc_require_stake(r, e, who, ESC_P_STAKE_TOO_LOW) || esc_db_ready(r, e))
		return;
	escrow_subject_account(sub, who);
	{
		struct provider_put x = { who, url, now };
		rc = escrow_db_write_audit(escrow_http_db(e), provider_put, &x, sub,
					   "provider-registered", json_pack("{s:s}", "url", url), now);
	}
	if (rc) {
		esc_reply_db(r, rc);
		return;
	}
	httpd_reply_json(r, 200, provider_view(who, url, now));
}

/* {"address"}, with "url" and "registeredAt" when it registered one
 * and "registry" when an operator decided about it. */
static json_t *provider_full_view(const uint8_t who[RCPT_ADDR_BYTES], const char *url,
				  uint64_t at, const struct escrow_registry_entry *en)
{
	char a[RCPT_ADDR_HEX_BYTES];
	json_t *v;

	ASSAY_ASSERT(url || en);
	if (url)
		v = provider_view(who, url, at);
	else {
		rcpt_address_format(a, who);
		v = json_pack("{s:s}", "address", a);
	}
	if (v && en && json_object_set_new(v, "registry", esc_registry_view(en, esc_now_s()))) {
		json_decref(v);
		v = NULL;
	}
	return v;
}

void esc_handle_provider_get(struct httpd_req *r, void *cls)
{
	struct escrow *e = cls;
	uint8_t who[RCPT_ADDR_BYTES];
	char url[ESCROW_PROVIDER_URL_BYTES_MAX + 1];
	struct escrow_registry_entry en;
	uint64_t at = 0;
	enum escrow_db_err rc, rr = ESCROW_DB_NOT_FOUND;

	if (esc_parse_address(r, who, httpd_req_param(r, 0)))
		return;
	if (esc_db_ready(r, e))
		return;
	rc = escrow_db_provider_get(escrow_http_db(e), url, &at, who);
	if (rc == ESCROW_DB_OK || rc == ESCROW_DB_NOT_FOUND)
		rr = escrow_db_registry_get(escrow_http_db(e), &en, who);
	if (rc == ESCROW_DB_NOT_FOUND && rr == ESCROW_DB_NOT_FOUND)
		esc_problem(r, ESC_P_PROVIDER_NOT_FOUND,
			    "this address has registered no URL and has no registry entry");
	else if (rc && rc != ESCROW_DB_NOT_FOUND)
		esc_reply_db(r, rc);
	else if (rr && rr != ESCROW_DB_NOT_FOUND)
		esc_reply_db(r, rr);
	else
		httpd_reply_json(r, 200, provider_full_view(who, rc ? NULL : url, at,
							    rr ? NULL : &en));
}
