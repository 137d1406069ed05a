/*
 * evm_revert.c: naming revert data (evm_revert_describe in evm_rpc.h).
 *
 * The classification (empty, Error(string), Panic(uint256), custom) is
 * receipts/evm.h's evm_revert_parse; a custom error's selector is looked
 * up in the contracts' ABIs (the artifacts' JSON), whose "error" entries
 * give names and argument types.  Every byte described came from a node:
 * nothing is asserted on it, strings are printed as printable ASCII and
 * the line is cut at the caller's buffer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "assay_assert.h"
#include "evm_internal.h"
#include "banned.h"

/* ABI types nest tuples; Assay's errors have none, deeper ones are refused. */
#define ABI_TYPE_DEPTH_MAX 4
#define ABI_SIGNATURE_BYTES 512

struct text {
	char *p;
	size_t len, cap;
	int cut;
};

__attribute__((format(printf, 2, 3)))
static void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->cut)
		return;
	va_start(ap, fmt);
	n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= t->cap - t->len) {
		t->cut = 1;
		t->len = t->cap - 1;
		return;
	}
	t->len += (size_t)n;
}

/* The canonical type of an ABI parameter: "uint256", "(address,bytes)[]". */
static int canonical_type(struct text *t, const json_t *param, int depth)
{
	const char *type = json_string_value(json_object_get(param, "type"));
	const json_t *comps = json_object_get(param, "components"), *c;
	size_t i;

	if (!type || depth > ABI_TYPE_DEPTH_MAX)
		return -1;
	if (strncmp(type, "tuple", 5) != 0) {
		text_add(t, "%s", type);
		return 0;
	}
	if (!json_is_array(comps))
		return -1;
	text_add(t, "(");
	json_array_foreach(comps, i, c) {
		if (i)
			text_add(t, ",");
		if (canonical_type(t, c, depth + 1))
			return -1;
	}
	text_add(t, ")%s", type + 5);
	return 0;
}

/* The "error" entry of abi (a JSON text) whose selector is sel, or NULL;
 * *root holds the parsed ABI for the caller to decref. */
static const json_t *find_error(json_t **root, const char *abi, const uint8_t sel[4])
{
	char sig[ABI_SIGNATURE_BYTES];
	const json_t *e, *in;
	size_t i, k;
	uint8_t got[EVM_SELECTOR_BYTES];

	const json_t *list;

	*root = json_loads(abi, JSON_REJECT_DUPLICATES, NULL);
	/* An ABI array, or an artifact object holding one as "abi". */
	list = json_is_object(*root) ? json_object_get(*root, "abi") : *root;
	json_array_foreach(list, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		struct text t = { sig, 0, sizeof(sig), 0 };
		int bad = 0;

		const char *type = json_string_value(json_object_get(e, "type"));

		if (!name || !type || strcmp(type, "error") != 0)
			continue;
		text_add(&t, "%s(", name);
		json_array_foreach(json_object_get(e, "inputs"), k, in) {
			if (k)
				text_add(&t, ",");
			bad |= canonical_type(&t, in, 0);
		}
		text_add(&t, ")");
		if (bad || t.cut)
			continue;
		evm_abi_selector(got, sig);
		if (memcmp(got, sel, EVM_SELECTOR_BYTES) == 0)
			return e;
	}
	return NULL;
}

/* Argument k of a custom error: static types decoded, strings quoted,
 * anything else as its head word. */
static void describe_arg(struct text *t, const char *type, const struct evm_revert *r, size_t k)
{
	struct rcpt_u256 w;
	uint8_t addr[RCPT_ADDR_BYTES];
	char buf[RCPT_U256_DEC_BYTES + RCPT_HASH_HEX_BYTES];
	const uint8_t *s;
	size_t n;
	int b;

	if (evm_abi_word(&w, r->args, r->args_len, k) != RCPT_OK) {
		text_add(t, "?");
	} else if (strcmp(type, "address") == 0 && evm_abi_word_addr(addr, &w) == RCPT_OK) {
		rcpt_address_format(buf, addr);
		text_add(t, "%s", buf);
	} else if (strncmp(type, "uint", 4) == 0 && !strchr(type, '[')) {
		rcpt_u256_format(buf, &w);
		text_add(t, "%s", buf);
	} else if (strcmp(type, "bool") == 0 && evm_abi_word_bool(&b, &w) == RCPT_OK) {
		text_add(t, "%s", b ? "true" : "false");
	} else if (strcmp(type, "string") == 0 &&
		   evm_abi_dyn_bytes(&s, &n, r->args, r->args_len, k) == RCPT_OK) {
		char q[EVM_RPC_NODE_MESSAGE_BYTES + 1];
		evm_printable(q, sizeof(q), (const char *)s, n);
		text_add(t, "\"%s\"", q);
	} else if (rcpt_hex_encode(buf, sizeof(buf), w.be, 32) == RCPT_OK) {
		text_add(t, "%s", buf);
	}
}

static void describe_custom(struct text *t, const struct evm_revert *r,
			    const char *const *abis, size_t nabis)
{
	const json_t *e = NULL, *in;
	json_t *root = NULL;
	size_t i, k;

	for (i = 0; i < nabis && !e; i++) {
		json_decref(root);
		e = abis[i] ? find_error(&root, abis[i], r->selector) : NULL;
	}
	if (!e) {
		text_add(t, "custom error 0x%02x%02x%02x%02x", r->selector[0], r->selector[1],
			 r->selector[2], r->selector[3]);
		json_decref(root);
		return;
	}
	text_add(t, "%s(", json_string_value(json_object_get(e, "name")));
	json_array_foreach(json_object_get(e, "inputs"), k, in) {
		const char *type = json_string_value(json_object_get(in, "type"));
		if (k)
			text_add(t, ", ");
		describe_arg(t, type ? type : "", r, k);
	}
	text_add(t, ")");
	json_decref(root);
}

void evm_revert_describe(char *out, size_t out_len, const uint8_t *data, size_t len,
			 const char *const *abis, size_t nabis)
{
	struct text t = { out, 0, out_len, 0 };
	struct evm_revert r;
	char msg[EVM_RPC_NODE_MESSAGE_BYTES + 1];
	uint64_t code;

	ASSAY_ASSERT(out != NULL && out_len >= 1);
	ASSAY_ASSERT(abis != NULL || nabis == 0);
	out[0] = '\0';
	if (evm_revert_parse(&r, data, len) != RCPT_OK) {
		text_add(&t, "malformed revert data (%zu bytes)", len);
		return;
	}
	switch (r.kind) {
	case EVM_REVERT_EMPTY:
		text_add(&t, "no revert data");
		break;
	case EVM_REVERT_ERROR:
		evm_printable(msg, sizeof(msg), (const char *)r.message, r.message_len);
		text_add(&t, "Error(\"%s\")", msg);
		break;
	case EVM_REVERT_PANIC:
		if (evm_abi_word_u64(&code, &r.panic_code) == RCPT_OK)
			text_add(&t, "Panic(0x%llx)", (unsigned long long)code);
		else
			text_add(&t, "Panic(out of range)");
		break;
	case EVM_REVERT_CUSTOM:
		describe_custom(&t, &r, abis, nabis);
		break;
	}
}
