/*
 * apikey.c: the shape of an API key token, "ak_" + 16 lowercase hex
 * digits (the public id) + "." + 43 base64url characters (the secret).
 * httpd checks only the shape and takes the id; the service stores and
 * verifies the secret (httpd_config.apikey_check).
 */
#include <string.h>

#include "assay_assert.h"
#include "httpd.h"
#include "banned.h"

static int is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int is_b64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int httpd_apikey_id(char id[HTTPD_APIKEY_ID_BYTES + 1], const char *token)
{
	size_t i;

	ASSAY_ASSERT(id);
	id[0] = '\0';
	if (!token || strnlen(token, HTTPD_APIKEY_TOKEN_BYTES + 1) != HTTPD_APIKEY_TOKEN_BYTES ||
	    strncmp(token, "ak_", 3) != 0 || token[HTTPD_APIKEY_ID_BYTES] != '.')
		return -1;
	for (i = 3; i < HTTPD_APIKEY_ID_BYTES; i++) {
		if (!is_lower_hex(token[i]))
			return -1;
	}
	for (i = HTTPD_APIKEY_ID_BYTES + 1; i < HTTPD_APIKEY_TOKEN_BYTES; i++) {
		if (!is_b64url(token[i]))
			return -1;
	}
	memcpy(id, token, HTTPD_APIKEY_ID_BYTES);
	id[HTTPD_APIKEY_ID_BYTES] = '\0';
	ASSAY_ASSERT(strlen(id) == HTTPD_APIKEY_ID_BYTES);
	return 0;
}
