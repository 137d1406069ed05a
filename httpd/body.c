/*
 * body.c: the check of a declared JSON body (httpd_route.body), run
 * before the handler: required keys, no unknown key, each value's type.
 * The handler then reads values that have the declared shape; what a
 * value means (a zero amount, a receipt that does not verify) stays its
 * own to refuse.
 */
#include <stdio.h>
#include <string.h>

#include "assay_assert.h"
#include "httpd.h"
#include "receipts.h"
#include "banned.h"

static const char *type_name(enum httpd_key_type t)
{
	switch (t) {
	case HTTPD_KEY_STRING: return "string";
	case HTTPD_KEY_INTEGER: return "integer";
	case HTTPD_KEY_OBJECT: return "object";
	case HTTPD_KEY_ARRAY: return "array";
	case HTTPD_KEY_HEX32: return "0x + 64 hex digits";
	case HTTPD_KEY_ADDRESS: return "address";
	case HTTPD_KEY_U256: return "decimal uint256 string";
	default: return "value";
	}
}

/* Whether v has type t. */
static int type_ok(json_t *v, enum httpd_key_type t)
{
	uint8_t h[RCPT_HASH_BYTES], a[RCPT_ADDR_BYTES];
	struct rcpt_u256 u;
	const char *s = json_string_value(v);

	switch (t) {
	case HTTPD_KEY_ANY: return 1;
	case HTTPD_KEY_STRING: return s != NULL;
	case HTTPD_KEY_INTEGER:
		return json_is_integer(v) && json_integer_value(v) >= 0 &&
		       (uint64_t)json_integer_value(v) <= RCPT_JSON_UINT_MAX;
	case HTTPD_KEY_OBJECT: return json_is_object(v);
	case HTTPD_KEY_ARRAY: return json_is_array(v);
	case HTTPD_KEY_HEX32: return s && rcpt_hex_decode(h, sizeof(h), s) == RCPT_OK;
	case HTTPD_KEY_ADDRESS: return s && rcpt_address_parse(a, s) == RCPT_OK;
	case HTTPD_KEY_U256: return s && rcpt_u256_parse(&u, s) == RCPT_OK;
	}
	return 0;
}

static const struct httpd_body_key *find_key(const struct httpd_body_decl *b, const char *name)
{
	size_t i;

	for (i = 0; i < b->keys_len; i++)
		if (strcmp(b->keys[i].name, name) == 0)
			return &b->keys[i];
	return NULL;
}

int httpd_body_check(struct httpd_req *r, json_t *o, const struct httpd_body_decl *b)
{
	const struct httpd_body_key *k;
	const char *name;
	json_t *v;
	size_t i;

	ASSAY_ASSERT(r && b && b->keys_len <= HTTPD_BODY_KEYS_MAX && (b->keys || !b->keys_len));
	ASSAY_ASSERT(json_is_object(o));   /* HTTPD_F_JSON parsed it */
	for (i = 0; i < b->keys_len; i++) {
		if (b->keys[i].required && !json_object_get(o, b->keys[i].name)) {
			httpd_reply_builtin(r, HTTPD_P_INVALID_REQUEST,
					    "missing key \"%s\"", b->keys[i].name);
			return -1;
		}
	}
	json_object_foreach(o, name, v) {
		if (!find_key(b, name)) {
			httpd_reply_builtin(r, HTTPD_P_INVALID_REQUEST,
					    "unknown key \"%.64s\"", name);
			return -1;
		}
	}
	for (i = 0; i < b->keys_len; i++) {
		k = &b->keys[i];
		v = json_object_get(o, k->name);
		if (!v || type_ok(v, k->type))
			continue;
		if (k->refusal && k->refusal_detail)
			httpd_reply_problem_as(r, k->refusal, "%s", k->refusal_detail);
		else if (k->refusal)
			httpd_reply_problem_as(r, k->refusal, NULL);
		else
			httpd_reply_builtin(r, HTTPD_P_INVALID_REQUEST,
					    "key \"%s\" is not a %s", k->name, type_name(k->type));
		return -1;
	}
	return 0;
}
